/* Time parsing and normalization to RFC 3339 UTC, e.g. "2026-05-05T12:00:00Z", with fractional
 * seconds only when the source had them ("2026-05-05T12:00:00.250Z"). */
#ifndef ONSIDE_TIMEFMT_H
#define ONSIDE_TIMEFMT_H

#include <stddef.h>

#define TIMEFMT_MAX 64

struct timefmt;

/* kind: enum config_time_kind (iso8601, unix, unix_ms, strptime). format: the strptime(3) format for
 * TIME_STRPTIME, else ignored. tz: "UTC" or an IANA name (from /usr/share/zoneinfo), used for inputs
 * without an offset. Returns 0 or -EINVAL with a message in err. */
int timefmt_create(int kind, const char *format, const char *tz, struct timefmt **ret, char *err,
		   size_t errlen);
void timefmt_free(struct timefmt *t);

/* Converts in[0..len) into out (at least TIMEFMT_MAX bytes, NUL-terminated), *ret_len its length.
 * Returns 0 or -EINVAL with a reason like "invalid time \"...\": expected iso8601". */
int timefmt_convert(struct timefmt *t, const char *in, size_t len, char *out, size_t *ret_len,
		    char *reason, size_t reasonlen);

#endif
