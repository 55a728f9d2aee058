/* Time zones as the time parser needs them: the UTC offset of a zone at any instant, read from its
 * TZif file (RFC 8536) with the POSIX TZ rule of its footer for times past the last transition, and
 * the proleptic Gregorian date arithmetic both use. */
#ifndef ONSIDE_TZONE_H
#define ONSIDE_TZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One rule date of a POSIX TZ string: Jn, n or Mm.w.d, and the local time of day it takes effect. */
struct tzrule_date {
	char kind; /* 'J', 'D' (zero-based day of year) or 'M' */
	int n, m, w, d;
	int32_t secs;
};

/* The POSIX TZ string of a TZif footer: it governs every time after the last listed transition. */
struct tzrule {
	bool present;
	bool has_dst;
	int32_t std_off, dst_off; /* seconds east of UTC */
	struct tzrule_date start, end;
};

struct zone {
	int64_t *trans; /* UTC transition times, ascending */
	uint8_t *trans_type;
	size_t ntrans;
	int32_t *type_off; /* UTC offset of each local time type */
	size_t ntypes;
	struct tzrule rule;
	/* The UTC interval [lo, hi) in which the offset last looked up holds: consecutive log lines are
	 * almost always in the same interval, so most lookups are two comparisons. */
	int64_t cache_lo, cache_hi;
	int32_t cache_off;
};

/* Loads zone `name` (an IANA name) from $TZDIR or /usr/share/zoneinfo into z (zeroed by the caller).
 * Returns 0, -ENOMEM, or -EINVAL with a message. */
int tzone_load(const char *name, struct zone *z, char *err, size_t errlen);
void tzone_clear(struct zone *z);
/* Local wall-clock seconds (as if UTC) -> UTC seconds; see tzone.c for gaps and overlaps. */
int64_t tzone_local_to_utc(struct zone *z, int64_t local);

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static inline int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static inline void civil_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d)
{
	int64_t era, doe, yoe, doy, mp, y;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*ret_d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*ret_m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*ret_y = y + (*ret_m <= 2);
}

static inline bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static inline int days_in_month(int64_t y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

#endif
