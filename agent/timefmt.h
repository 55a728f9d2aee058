/* Time parsing and normalization to RFC 3339 UTC, e.g. "2026-05-05T12:00:00Z", with fractional
 * seconds only when the source had them ("2026-05-05T12:00:00.250Z"). */
#ifndef ONSIDE_TIMEFMT_H
#define ONSIDE_TIMEFMT_H

#include <stddef.h>

#define TIMEFMT_MAX 64

struct timefmt;

/* formats: n >= 1 formats tried in order, each "iso8601", "unix", "unix_ms" or a strptime(3)
 * format ("%f" reads 1 to 9 fraction digits; %z an offset). A strptime format without a year takes
 * the year that puts the time nearest to now and at most a day ahead of it (now: the clock, or the
 * environment's ONSIDE_TEST_NOW, unix seconds or YYYY-MM-DDTHH:MM:SSZ, read here). tz: "UTC" or an
 * IANA name (from /usr/share/zoneinfo), for times without an offset. Returns 0, or -EINVAL with a
 * message in err, or -ENOMEM. */
int timefmt_create(const char *const *formats, size_t n, const char *tz, struct timefmt **ret, char *err,
		   size_t errlen);
void timefmt_free(struct timefmt *t);

/* Converts in[0..len) into out (at least TIMEFMT_MAX bytes, NUL-terminated), *ret_len its length,
 * with the first format that reads it. Returns 0 or -EINVAL with a reason like
 * "invalid time \"...\" (iso8601)" or "... (formats iso8601, \"%d/%m/%Y %H:%M\")". */
int timefmt_convert(struct timefmt *t, const char *in, size_t len, char *out, size_t *ret_len,
		    char *reason, size_t reasonlen);

#endif
