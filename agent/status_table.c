/* Rows of `onside-agent status`, kept apart from the command so that the fuzzer (fuzz_status) can
 * drive them with any checkpoint. Every figure comes from an entry checkpoint_parse_each accepted, or
 * from a status file statusfile_read checked, so offsets and sizes fit in int64 and times have a
 * four-digit year; the arithmetic below stays in uint64 anyway, and a time gmtime_r cannot convert is
 * shown as such, never as garbage. */
#include "status_table.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "notice.h"

#define STATUS_COLUMNS "%-40s %12s %12s %10s %8s  %-20s  %s"

int status_table_header(struct buf *out)
{
	return buf_printf(out, STATUS_COLUMNS "\n", "PATH", "OFFSET", "SIZE", "LAG", "OLDEST", "LAST DELIVERY",
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

/* The text of s to show, or "-" for none: escaped unless it is already. A separate buf, since the
 * columns are padded by printf. */
static int status_text(struct buf *tmp, const char *s, bool shown)
{
	buf_reset(tmp);
	if (!s || !s[0])
		return buf_putc(tmp, '-');
	return shown ? buf_puts(tmp, s) : escape_text(tmp, s, strlen(s));
}

/* No delivery for STATUS_STALE_SECS (or none ever); a last delivery in the future is not stale. */
static bool status_stale(int64_t last, time_t now)
{
	if (last <= 0)
		return true;
	return (int64_t)now > last && (uint64_t)((int64_t)now - last) > STATUS_STALE_SECS;
}

/* How long the oldest line has waited; "-" when nothing waits. */
static void status_age(char *out, size_t n, int64_t oldest, bool lagging, time_t now)
{
	if (!lagging || oldest <= 0) {
		snprintf(out, n, "-");
		return;
	}
	notice_duration(out, n, (int64_t)now > oldest ? (uint64_t)((int64_t)now - oldest) : 0);
}

int status_table_print(struct buf *out, const struct status_row *r, time_t now)
{
	char off[24] = "-", size[24] = "-", lag[24] = "-", age[32] = "-", when[48] = "-";
	bool lagging = r->figures && r->size > r->offset;
	struct buf path, err;
	int rc;

	if (r->figures) {
		snprintf(off, sizeof(off), "%" PRIu64, r->offset);
		snprintf(size, sizeof(size), "%" PRIu64, r->size);
		snprintf(lag, sizeof(lag), "%" PRIu64, lagging ? r->size - r->offset : 0);
		status_age(age, sizeof(age), r->oldest, lagging, now);
		status_when(when, sizeof(when), r->last_delivery);
	}
	buf_init(&path, 0);
	buf_init(&err, 0);
	rc = status_text(&path, r->path, r->shown) ?: (r->rotated ? buf_puts(&path, " (rotated)") : 0) ?:
	     status_text(&err, r->error, r->shown) ?:
	     buf_printf(out, STATUS_COLUMNS "\n", path.data, off, size, lag, age, when, err.data);
	buf_free(&path);
	buf_free(&err);
	if (rc < 0)
		return rc;
	if (lagging && r->live)
		lagging = r->oldest > 0 && status_stale(r->oldest, now);
	else if (lagging)
		lagging = status_stale(r->last_delivery, now);
	return lagging || (r->error && r->error[0]);
}

bool status_table_from_entry(const struct checkpoint_entry *e, const struct stat *live, struct status_row *ret)
{
	bool same = live && (uint64_t)live->st_ino == e->ino && (uint64_t)live->st_dev == e->dev;

	*ret = (struct status_row){
		.path = e->path,
		.figures = true,
		.rotated = !same || e->finished,
		.offset = e->offset,
		.size = same ? (uint64_t)live->st_size : e->size,
		.last_delivery = e->last_delivery,
		.error = e->last_error,
	};
	return !(ret->rotated && ret->size <= e->offset);
}

static int status_damaged(struct buf *out, const struct checkpoint_entry *e, const char *damage, time_t now)
{
	struct status_row r = { .path = e->path };
	char why[512];
	int rc;

	snprintf(why, sizeof(why), "damaged checkpoint entry: %s", damage);
	r.error = why;
	rc = status_table_print(out, &r, now);
	return rc < 0 ? rc : 1;
}

int status_table_row(struct buf *out, const struct checkpoint_entry *e, const char *damage,
		     const struct stat *live, time_t now)
{
	struct status_row r;

	if (damage)
		return status_damaged(out, e, damage, now);
	if (!status_table_from_entry(e, live, &r))
		return 0;
	return status_table_print(out, &r, now);
}
