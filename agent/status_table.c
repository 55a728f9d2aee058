/* Rows of `onside-agent status`, kept apart from the command so that the fuzzer (fuzz_status) can
 * drive them with any checkpoint. Every figure comes from an entry checkpoint_parse_each accepted, so
 * offsets and sizes fit in int64 and times have a four-digit year; the arithmetic below stays in
 * uint64 anyway, and a time gmtime_r cannot convert is shown as such, never as garbage. */
#include "status_table.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"

#define STATUS_COLUMNS "%-40s %12s %12s %10s  %-20s  %s"

int status_table_header(struct buf *out)
{
	return buf_printf(out, STATUS_COLUMNS "\n", "PATH", "OFFSET", "SIZE", "LAG", "LAST DELIVERY",
			  "LAST ERROR");
}

static void status_when(char *out, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0)
		snprintf(out, n, "never");
	else if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, n, "invalid (%" PRId64 ")", t);
}

/* The escaped text of s, or "-" for none: a separate buf, since the columns are padded by printf. */
static int status_escaped(struct buf *tmp, const char *s)
{
	buf_reset(tmp);
	if (!s || !s[0])
		return buf_putc(tmp, '-');
	return escape_text(tmp, s, strlen(s));
}

static int status_damaged(struct buf *out, const struct checkpoint_entry *e, const char *damage)
{
	struct buf path, why;
	int r;

	buf_init(&path, 0);
	buf_init(&why, 0);
	r = status_escaped(&path, e->path) ?: status_escaped(&why, damage) ?:
	    buf_printf(out, STATUS_COLUMNS "%s\n", path.data, "-", "-", "-", "-", "damaged checkpoint entry: ",
		       why.data);
	buf_free(&path);
	buf_free(&why);
	return r < 0 ? r : 1;
}

/* No delivery for STATUS_STALE_SECS (or none ever); a last delivery in the future is not stale. */
static bool status_stale(int64_t last, time_t now)
{
	if (last <= 0)
		return true;
	return (int64_t)now > last && (uint64_t)((int64_t)now - last) > STATUS_STALE_SECS;
}

int status_table_row(struct buf *out, const struct checkpoint_entry *e, const char *damage,
		     const struct stat *live, time_t now)
{
	char off[24], size[24], lag[24], when[48];
	uint64_t cur = e->size;
	const char *note = "";
	struct buf path, err;
	bool lagging, stale;
	int r;

	if (damage)
		return status_damaged(out, e, damage);
	if (live && (uint64_t)live->st_ino == e->ino && (uint64_t)live->st_dev == e->dev)
		cur = (uint64_t)live->st_size;
	else
		note = " (rotated)";
	lagging = cur > e->offset;
	stale = status_stale(e->last_delivery, now);
	snprintf(off, sizeof(off), "%" PRIu64, e->offset);
	snprintf(size, sizeof(size), "%" PRIu64, cur);
	snprintf(lag, sizeof(lag), "%" PRIu64, lagging ? cur - e->offset : 0);
	status_when(when, sizeof(when), e->last_delivery);
	buf_init(&path, 0);
	buf_init(&err, 0);
	r = status_escaped(&path, e->path) ?: status_escaped(&err, e->last_error) ?:
	    buf_printf(out, STATUS_COLUMNS "%s\n", path.data, off, size, lag, when, err.data, note);
	buf_free(&path);
	buf_free(&err);
	if (r < 0)
		return r;
	return (lagging && stale) || (e->last_error && e->last_error[0]);
}
