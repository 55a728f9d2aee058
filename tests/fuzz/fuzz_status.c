/* The `status` checkpoint reader: the input is checkpoint.json's text, read by checkpoint_parse_each
 * (the loader's checks, entry by entry) and every entry rendered as a status row, as cmd_status does,
 * with each way the file can look now (gone, rotated, the same file smaller or larger) and clocks
 * from the epoch to the end of time_t. A row must be one line of valid UTF-8 without a control
 * character (nothing from the checkpoint may reach a terminal raw), a damaged entry must be reported
 * as unhealthy, and only a rotated file delivered to its end may be left out. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "checkpoint.h"
#include "fuzz.h"
#include "jsonw.h"
#include "status_table.h"

struct run {
	size_t entries;
	size_t damaged;
};

/* One line: printable ASCII or valid UTF-8 outside C0, DEL and C1, then the final LF. */
static void check_row(const struct buf *b)
{
	const unsigned char *p = (const unsigned char *)b->data;
	size_t i;

	if (!b->len || p[b->len - 1] != '\n' || !utf8_valid(b->data, b->len - 1))
		abort();
	for (i = 0; i + 1 < b->len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f || (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] < 0xa0))
			abort();
	}
}

static int row(void *data, size_t idx, const struct checkpoint_entry *e, const char *damage)
{
	/* the last: the largest time_t, whatever its width */
	static const time_t nows[] = { 0, 1780000000, (time_t)INT32_MAX,
				       (time_t)(((uint64_t)1 << (8 * sizeof(time_t) - 1)) - 1) };
	struct run *run = data;
	struct stat live[4];
	struct buf b;
	size_t i, k;
	int r;

	run->entries++;
	run->damaged += damage != NULL;
	memset(live, 0, sizeof(live));
	for (k = 1; k < 4; k++) {
		live[k].st_dev = (dev_t)e->dev;
		live[k].st_ino = (ino_t)(k == 1 ? e->ino + 1 : e->ino); /* 1: another file at the path */
		live[k].st_size = (off_t)(k == 2 ? 0 : e->size + (e->size < INT64_MAX));
	}
	buf_init(&b, 0);
	for (k = 0; k < 4; k++) {
		for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
			buf_reset(&b);
			r = status_table_row(&b, e, damage, k ? &live[k] : NULL, nows[i]);
			if (r < 0 || r > 1 || (damage && r != 1) || (!damage && !e->path))
				abort();
			/* only a rotated file (none or another at its path, or finished) delivered to its end
			 * is left out */
			if (b.len == 0 && (damage || r != 0 || (k > 1 && !e->finished) ||
					   (k > 1 ? (uint64_t)live[k].st_size : e->size) > e->offset))
				abort();
			if (b.len)
				check_row(&b);
		}
	}
	buf_free(&b);
	(void)idx;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run run = { 0 };
	char why[256] = "";
	int r;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	r = checkpoint_parse_each((const char *)data, size, row, &run, why, sizeof(why));
	/* a file damaged as a whole has no rows, and says why */
	if (r == -EBADMSG && (run.entries || !why[0]))
		abort();
	if (r != 0 && r != -EBADMSG && r != -ENOMEM)
		abort();
	return 0;
}
