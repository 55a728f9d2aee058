#include "timefmt.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define TZFILE_MAX (1 << 20)
#define STRPTIME_INPUT_MAX 255
#define REASON_INPUT_MAX 80
#define YEAR_MIN_SECS INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define YEAR_MAX_SECS INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

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

struct timefmt {
	int kind;
	bool utc;
	char *fmt_a, *fmt_b; /* strptime format split around a "%f" (fmt_b NULL when there is none) */
	bool fmt_has_z;
	const char *kind_name;
	char *format; /* for messages */
	struct zone zone;
};

/* A time as read from the input, before conversion. */
struct tparts {
	int64_t year;
	int mon, day, hour, min, sec;
	const char *frac;
	size_t fraclen;
	bool has_off;
	int32_t off;
};

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d)
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

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- POSIX TZ strings (the TZif footer) ---- */

static const char *tz_parse_name(const char *s)
{
	if (*s == '<') {
		const char *e = strchr(s, '>');
		return e ? e + 1 : NULL;
	}
	while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
		s++;
	return s;
}

/* [+-]hh[:mm[:ss]] -> seconds; hours up to 167 as TZif version 3 allows. */
static const char *tz_parse_time(const char *s, int32_t *ret)
{
	int sign = 1, part[3] = { 0, 0, 0 }, i;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	for (i = 0; i < 3; i++) {
		if (*s < '0' || *s > '9')
			return NULL;
		while (*s >= '0' && *s <= '9' && part[i] < 1000)
			part[i] = part[i] * 10 + (*s++ - '0');
		if (*s != ':' || i == 2)
			break;
		s++;
	}
	if (part[0] > 167 || part[1] > 59 || part[2] > 59)
		return NULL;
	*ret = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
	return s;
}

static const char *tz_parse_num(const char *s, int *ret)
{
	int v = 0;

	if (*s < '0' || *s > '9')
		return NULL;
	while (*s >= '0' && *s <= '9' && v < 1000)
		v = v * 10 + (*s++ - '0');
	*ret = v;
	return s;
}

static const char *tz_parse_date(const char *s, struct tzrule_date *d)
{
	d->secs = 7200; /* POSIX default: 02:00 local time */
	if (*s == 'M') {
		d->kind = 'M';
		if (!(s = tz_parse_num(s + 1, &d->m)) || *s++ != '.' || !(s = tz_parse_num(s, &d->w)) ||
		    *s++ != '.' || !(s = tz_parse_num(s, &d->d)))
			return NULL;
		if (d->m < 1 || d->m > 12 || d->w < 1 || d->w > 5 || d->d > 6)
			return NULL;
	} else if (*s == 'J') {
		d->kind = 'J';
		if (!(s = tz_parse_num(s + 1, &d->n)) || d->n < 1 || d->n > 365)
			return NULL;
	} else {
		d->kind = 'D';
		if (!(s = tz_parse_num(s, &d->n)) || d->n > 365)
			return NULL;
	}
	if (*s == '/')
		s = tz_parse_time(s + 1, &d->secs);
	return s;
}

/* Parses e.g. "CET-1CEST,M3.5.0,M10.5.0/3". Returns 0 or -EINVAL. */
static int tz_parse_rule(const char *s, struct tzrule *r)
{
	int32_t v;

	memset(r, 0, sizeof(*r));
	if (!*s)
		return 0; /* no footer: the last transition's type stays in effect */
	if (!(s = tz_parse_name(s)) || !(s = tz_parse_time(s, &v)))
		return -EINVAL;
	r->present = true;
	r->std_off = -v; /* POSIX offsets are west-positive */
	if (!*s)
		return 0;
	if (!(s = tz_parse_name(s)))
		return -EINVAL;
	r->has_dst = true;
	r->dst_off = r->std_off + 3600;
	if (*s && *s != ',') {
		if (!(s = tz_parse_time(s, &v)))
			return -EINVAL;
		r->dst_off = -v;
	}
	if (!*s) {
		/* No rule: the US rules, as glibc assumes. */
		tz_parse_date("M3.2.0", &r->start);
		tz_parse_date("M11.1.0", &r->end);
		return 0;
	}
	if (*s++ != ',' || !(s = tz_parse_date(s, &r->start)) || *s++ != ',' ||
	    !(s = tz_parse_date(s, &r->end)) || *s)
		return -EINVAL;
	return 0;
}

/* The day (days since the epoch) a rule date falls on in year y. */
static int64_t tz_rule_day(const struct tzrule_date *d, int64_t y)
{
	int64_t jan1 = days_from_civil(y, 1, 1), first;
	int wd, day;

	if (d->kind == 'J')
		return jan1 + d->n - 1 + (is_leap(y) && d->n >= 60);
	if (d->kind == 'D')
		return jan1 + d->n;
	first = days_from_civil(y, d->m, 1);
	wd = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
	day = 1 + (d->d - wd + 7) % 7 + (d->w - 1) * 7;
	while (day > days_in_month(y, d->m))
		day -= 7;
	return first + day - 1;
}

/* Offset at UTC instant u under the rule; sets the interval of the same offset around u. */
static int32_t tz_rule_offset(const struct tzrule *r, int64_t u, int64_t *lo, int64_t *hi)
{
	int64_t y, s, e, p1, p2, ystart, ynext;
	int m, d;
	bool dst;

	if (!r->has_dst) {
		*lo = INT64_MIN;
		*hi = INT64_MAX;
		return r->std_off;
	}
	civil_from_days(floor_div(u + r->std_off, 86400), &y, &m, &d);
	/* The start is given in standard local time, the end in daylight local time. */
	s = tz_rule_day(&r->start, y) * 86400 + r->start.secs - r->std_off;
	e = tz_rule_day(&r->end, y) * 86400 + r->end.secs - r->dst_off;
	dst = s < e ? (u >= s && u < e) : !(u >= e && u < s);
	p1 = s < e ? s : e;
	p2 = s < e ? e : s;
	ystart = days_from_civil(y, 1, 1) * 86400 - r->std_off;
	ynext = days_from_civil(y + 1, 1, 1) * 86400 - r->std_off;
	if (u < p1) {
		*lo = ystart;
		*hi = p1;
	} else if (u < p2) {
		*lo = p1;
		*hi = p2;
	} else {
		*lo = p2;
		*hi = ynext;
	}
	if (*lo > u || *hi <= u) { /* rule times past the year's edges: do not cache */
		*lo = u;
		*hi = u + 1;
	}
	return dst ? r->dst_off : r->std_off;
}

/* The zone's UTC offset at UTC instant u. */
static int32_t zone_offset(struct zone *z, int64_t u)
{
	size_t lo = 0, hi = z->ntrans, mid;
	int64_t rlo, rhi;
	int32_t off;

	if (u >= z->cache_lo && u < z->cache_hi)
		return z->cache_off;
	/* Find the number of transitions at or before u. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (z->trans[mid] <= u)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == z->ntrans && z->rule.present) {
		off = tz_rule_offset(&z->rule, u, &rlo, &rhi);
		z->cache_lo = lo && z->trans[lo - 1] > rlo ? z->trans[lo - 1] : rlo;
		z->cache_hi = rhi;
	} else {
		/* Before the first transition, RFC 8536 says local time type 0 applies. */
		off = z->type_off[lo ? z->trans_type[lo - 1] : 0];
		z->cache_lo = lo ? z->trans[lo - 1] : INT64_MIN;
		z->cache_hi = lo < z->ntrans ? z->trans[lo] : INT64_MAX;
	}
	z->cache_off = off;
	return off;
}

/* Local wall-clock seconds -> UTC. The offsets in effect a day before and a day after are the two
 * candidates (zones never change twice within days). A time that exists twice (clocks set back) takes
 * the earlier offset, i.e. the earlier instant, like mktime with tm_isdst = -1; a time in a gap
 * (clocks set forward) is read with the offset before the gap, so 02:30 in a 02:00->03:00 gap
 * becomes 03:30 in the new offset, again as mktime does. */
static int64_t zone_local_to_utc(struct zone *z, int64_t local)
{
	int32_t before = zone_offset(z, local - 86400), after = zone_offset(z, local + 86400);

	if (zone_offset(z, local - before) == before)
		return local - before;
	if (zone_offset(z, local - after) == after)
		return local - after;
	return local - before;
}

/* ---- TZif files (RFC 8536) ---- */

static int64_t be_read(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	if (n == 4)
		return (int32_t)(uint32_t)v;
	return (int64_t)v;
}

/* Parses one TZif data block (4- or 8-byte times). Returns 0, -EINVAL, or -ENOMEM. */
static int tzif_block(const unsigned char *p, size_t n, size_t tsize, struct zone *z, size_t *ret_used)
{
	size_t cnt[6], need, i;

	if (n < 44 || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		cnt[i] = (size_t)(uint32_t)be_read(p + 20 + 4 * i, 4);
	/* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
	if (cnt[3] > 100000 || cnt[4] == 0 || cnt[4] > 256 || cnt[5] > 100000 || cnt[2] > 100000)
		return -EINVAL;
	if (cnt[2] != 0)
		return -ENOTSUP; /* "right/" zones count leap seconds: not POSIX time */
	need = 44 + cnt[3] * tsize + cnt[3] + cnt[4] * 6 + cnt[5] + cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
	if (n < need)
		return -EINVAL;
	z->trans = calloc(cnt[3] ? cnt[3] : 1, sizeof(*z->trans));
	z->trans_type = calloc(cnt[3] ? cnt[3] : 1, 1);
	z->type_off = calloc(cnt[4], sizeof(*z->type_off));
	if (!z->trans || !z->trans_type || !z->type_off)
		return -ENOMEM;
	p += 44;
	z->ntrans = cnt[3];
	z->ntypes = cnt[4];
	for (i = 0; i < z->ntrans; i++) {
		z->trans[i] = be_read(p + i * tsize, tsize);
		if (i && z->trans[i] <= z->trans[i - 1])
			return -EINVAL;
	}
	p += z->ntrans * tsize;
	for (i = 0; i < z->ntrans; i++)
		if ((z->trans_type[i] = p[i]) >= z->ntypes)
			return -EINVAL;
	p += z->ntrans;
	for (i = 0; i < z->ntypes; i++)
		z->type_off[i] = (int32_t)be_read(p + 6 * i, 4);
	*ret_used = need;
	return 0;
}

static void zone_clear(struct zone *z)
{
	free(z->trans);
	free(z->trans_type);
	free(z->type_off);
	memset(z, 0, sizeof(*z));
}

static int tzif_parse(const unsigned char *p, size_t n, struct zone *z)
{
	char footer[256];
	size_t used = 0, flen;
	const unsigned char *nl;
	int r;

	if ((r = tzif_block(p, n, 4, z, &used)) < 0)
		return r;
	if (p[4] < '2')
		return 0; /* version 1: 32-bit data only, no footer */
	zone_clear(z);
	p += used;
	n -= used;
	if ((r = tzif_block(p, n, 8, z, &used)) < 0)
		return r;
	p += used;
	n -= used;
	if (n < 2 || p[0] != '\n' || !(nl = memchr(p + 1, '\n', n - 1)))
		return -EINVAL;
	flen = (size_t)(nl - p - 1);
	if (flen >= sizeof(footer))
		return -EINVAL;
	memcpy(footer, p + 1, flen);
	footer[flen] = '\0';
	return tz_parse_rule(footer, &z->rule);
}

static bool zone_name_ok(const char *name)
{
	const char *s;

	if (!*name || *name == '/' || strstr(name, ".."))
		return false;
	for (s = name; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '/' || *s == '_' || *s == '-' || *s == '+' || *s == '.'))
			return false;
	return true;
}

static int zone_load(const char *name, struct zone *z, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	unsigned char *data = NULL;
	char path[4096];
	size_t n = 0;
	FILE *f;
	int r;

	if (!zone_name_ok(name)) {
		snprintf(err, errlen, "invalid timezone name \"%s\"", name);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : ZONEINFO_DIR, name);
	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "unknown timezone \"%s\" (%s: %s)", name, path, strerror(errno));
		return -EINVAL;
	}
	data = malloc(TZFILE_MAX);
	if (data)
		n = fread(data, 1, TZFILE_MAX, f);
	fclose(f);
	if (!data)
		return -ENOMEM;
	r = tzif_parse(data, n, z);
	free(data);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		zone_clear(z);
		snprintf(err, errlen, r == -ENOTSUP ?
			 "timezone \"%s\" counts leap seconds (%s); use a zone without \"right/\"" :
			 "timezone \"%s\": %s is not a valid TZif file", name, path);
		return -EINVAL;
	}
	z->cache_lo = z->cache_hi = 0;
	return 0;
}

/* ---- Input parsing ---- */

static bool digits(const char *s, size_t n, int *ret)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

/* A fraction of 1 to 9 digits after '.' (or ',', which ISO 8601 also allows) at s[*i]. */
static bool parse_frac(const char *s, size_t n, size_t *i, struct tparts *t)
{
	size_t start;

	if (*i >= n || (s[*i] != '.' && s[*i] != ','))
		return true;
	start = ++*i;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9')
		++*i;
	t->frac = s + start;
	t->fraclen = *i - start;
	return t->fraclen >= 1 && t->fraclen <= 9;
}

/* "Z", "+hh:mm", "+hhmm" or "+hh" at s[i..n), the whole rest of the input. */
static bool parse_offset(const char *s, size_t n, size_t i, struct tparts *t)
{
	int h, m = 0, sign;

	if (i == n)
		return true;
	if (n - i == 1 && (s[i] == 'Z' || s[i] == 'z')) {
		t->has_off = true;
		t->off = 0;
		return true;
	}
	if (s[i] != '+' && s[i] != '-')
		return false;
	sign = s[i++] == '-' ? -1 : 1;
	if (n - i < 2 || !digits(s + i, 2, &h))
		return false;
	i += 2;
	if (i < n && s[i] == ':' && n - i == 3)
		i++;
	if (n - i == 2) {
		if (!digits(s + i, 2, &m))
			return false;
	} else if (n != i) {
		return false;
	}
	if (h > 23 || m > 59)
		return false;
	t->has_off = true;
	t->off = sign * (h * 3600 + m * 60);
	return true;
}

/* YYYY-MM-DD[Tt ]HH:MM[:SS[.frac]][offset] */
static bool parse_iso8601(const char *s, size_t n, struct tparts *t)
{
	int y;
	size_t i = 16;

	if (n < 16 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &t->mon) || s[7] != '-' ||
	    !digits(s + 8, 2, &t->day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &t->hour) || s[13] != ':' || !digits(s + 14, 2, &t->min))
		return false;
	t->year = y;
	if (n >= 19 && s[16] == ':') {
		if (!digits(s + 17, 2, &t->sec))
			return false;
		i = 19;
		if (!parse_frac(s, n, &i, t))
			return false;
	}
	return parse_offset(s, n, i, t);
}

/* Seconds since the epoch with an optional fraction (unix), or integer milliseconds (unix_ms, whose
 * last three digits become the fraction, written to msbuf). */
static bool parse_unix(const char *s, size_t n, bool ms, char msbuf[3], struct tparts *t,
		       int64_t *ret_secs)
{
	int64_t v = 0;
	size_t i = 0;

	while (i < n && s[i] >= '0' && s[i] <= '9') {
		if (v > YEAR_MAX_SECS * 1000)
			return false;
		v = v * 10 + (s[i++] - '0');
	}
	if (i == 0)
		return false;
	if (ms) {
		msbuf[0] = (char)('0' + v % 1000 / 100);
		msbuf[1] = (char)('0' + v % 100 / 10);
		msbuf[2] = (char)('0' + v % 10);
		t->frac = msbuf;
		t->fraclen = 3;
		*ret_secs = v / 1000;
		return i == n;
	}
	if (i < n && s[i] == ',')
		return false;
	*ret_secs = v;
	return parse_frac(s, n, &i, t) && i == n;
}

static bool has_directive(const char *fmt, char d)
{
	const char *p;

	for (p = fmt; *p; p++) {
		if (*p != '%' || !p[1])
			continue;
		if (p[1] == d)
			return true;
		p++; /* skip the directive char, so "%%z" is not %z */
	}
	return false;
}

/* strptime(3) into a struct tm. Needs a NUL-terminated copy of the input (bounded, on the stack). A
 * "%f" in the format (our extension) reads 1 to 9 fraction digits. */
static bool parse_strptime(const struct timefmt *tf, const char *s, size_t n, char *copy,
			   struct tparts *t)
{
	struct tm tm;
	const char *p;

	if (n > STRPTIME_INPUT_MAX || memchr(s, '\0', n))
		return false;
	memcpy(copy, s, n);
	copy[n] = '\0';
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = 1;
	p = strptime(copy, tf->fmt_a, &tm);
	if (p && tf->fmt_b) {
		size_t i = 0, rest = n - (size_t)(p - copy);
		while (i < rest && i < 10 && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i < 1 || i > 9)
			return false;
		t->frac = s + (p - copy);
		t->fraclen = i;
		p = strptime(p + i, tf->fmt_b, &tm);
	}
	if (!p || *p)
		return false;
	t->year = (int64_t)tm.tm_year + 1900;
	t->mon = tm.tm_mon + 1;
	t->day = tm.tm_mday;
	t->hour = tm.tm_hour;
	t->min = tm.tm_min;
	t->sec = tm.tm_sec;
	if (tf->fmt_has_z) {
		t->has_off = true;
		t->off = (int32_t)tm.tm_gmtoff;
	}
	return true;
}

/* ---- Output ---- */

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* YYYY-MM-DDTHH:MM:SS[.frac]Z from its fields (all in range). */
static void format_fields(int64_t y, int m, int d, int64_t secs_of_day, const char *frac,
			  size_t fraclen, char *out, size_t *ret_len)
{
	size_t n = 19;

	put2(out, (int)(y / 100));
	put2(out + 2, (int)(y % 100));
	out[4] = '-';
	put2(out + 5, m);
	out[7] = '-';
	put2(out + 8, d);
	out[10] = 'T';
	put2(out + 11, (int)(secs_of_day / 3600));
	out[13] = ':';
	put2(out + 14, (int)(secs_of_day / 60 % 60));
	out[16] = ':';
	put2(out + 17, (int)(secs_of_day % 60));
	if (fraclen) {
		out[n++] = '.';
		memcpy(out + n, frac, fraclen);
		n += fraclen;
	}
	out[n++] = 'Z';
	out[n] = '\0';
	*ret_len = n;
}

/* A valid time in UTC without a leap second as it is written: its digits are the fields' digits,
 * "YYYY-MM-DD?HH:MM:SS" copied as they are when the seconds are there. */
static void format_same(const char *in, size_t len, const struct tparts *t, char *out, size_t *ret_len)
{
	size_t n = 19;

	if (len < 19 || in[16] != ':') {
		format_fields(t->year, t->mon, t->day, t->hour * 3600 + t->min * 60 + t->sec, t->frac,
			      t->fraclen, out, ret_len);
		return;
	}
	memcpy(out, in, 19);
	out[10] = 'T';
	if (t->fraclen) {
		out[n++] = '.';
		memcpy(out + n, t->frac, t->fraclen);
		n += t->fraclen;
	}
	out[n++] = 'Z';
	out[n] = '\0';
	*ret_len = n;
}

/* false when the year is outside 0001..9999. */
static bool format_utc(int64_t secs, const char *frac, size_t fraclen, char *out, size_t *ret_len)
{
	int64_t days, y;
	int m, d;

	if (secs < YEAR_MIN_SECS || secs > YEAR_MAX_SECS)
		return false;
	days = floor_div(secs, 86400);
	civil_from_days(days, &y, &m, &d);
	format_fields(y, m, d, secs - days * 86400, frac, fraclen, out, ret_len);
	return true;
}

/* Validates the fields and converts them to UTC seconds. Second 60 (a leap second) is accepted and,
 * as POSIX time has none, counts as the first second of the next minute. */
static bool tparts_valid(const struct tparts *t)
{
	return t->year >= 1 && t->year <= 9999 && t->mon >= 1 && t->mon <= 12 && t->day >= 1 &&
	       t->day <= days_in_month(t->year, t->mon) && t->hour >= 0 && t->hour <= 23 && t->min >= 0 &&
	       t->min <= 59 && t->sec >= 0 && t->sec <= 60;
}

static bool tparts_to_utc(struct timefmt *tf, const struct tparts *t, int64_t *ret)
{
	int64_t local;

	if (!tparts_valid(t))
		return false;
	local = days_from_civil(t->year, t->mon, t->day) * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
	if (t->has_off)
		*ret = local - t->off;
	else if (tf->utc)
		*ret = local;
	else
		*ret = zone_local_to_utc(&tf->zone, local);
	return true;
}

int timefmt_convert(struct timefmt *tf, const char *in, size_t len, char *out, size_t *ret_len,
		    char *reason, size_t reasonlen)
{
	char copy[STRPTIME_INPUT_MAX + 1], msfrac[3];
	struct tparts t;
	int64_t secs = 0;
	bool ok;

	memset(&t, 0, sizeof(t));
	switch (tf->kind) {
	case TIME_UNIX:
	case TIME_UNIX_MS:
		ok = parse_unix(in, len, tf->kind == TIME_UNIX_MS, msfrac, &t, &secs);
		break;
	case TIME_STRPTIME:
		ok = parse_strptime(tf, in, len, copy, &t) && tparts_to_utc(tf, &t, &secs);
		break;
	default:
		ok = parse_iso8601(in, len, &t) && tparts_valid(&t);
		/* The common case, a time already in UTC: converting to seconds and back would give
		 * the same fields (except for a leap second, which moves to the next minute). */
		if (ok && ((t.has_off && t.off == 0) || (!t.has_off && tf->utc)) && t.sec < 60) {
			format_same(in, len, &t, out, ret_len);
			return 0;
		}
		ok = ok && tparts_to_utc(tf, &t, &secs);
		break;
	}
	if (ok)
		ok = format_utc(secs, t.frac, t.fraclen, out, ret_len);
	if (!ok) {
		int shown = len > REASON_INPUT_MAX ? REASON_INPUT_MAX : (int)len;
		if (tf->kind == TIME_STRPTIME)
			snprintf(reason, reasonlen, "invalid time \"%.*s%s\" (format \"%s\")", shown, in,
				 len > REASON_INPUT_MAX ? "..." : "", tf->format);
		else
			snprintf(reason, reasonlen, "invalid time \"%.*s%s\" (%s)", shown, in,
				 len > REASON_INPUT_MAX ? "..." : "", tf->kind_name);
		return -EINVAL;
	}
	return 0;
}

/* ---- Create / free ---- */

static int split_format(struct timefmt *tf, const char *format)
{
	const char *p;

	tf->format = strdup(format);
	tf->fmt_a = strdup(format);
	if (!tf->format || !tf->fmt_a)
		return -ENOMEM;
	for (p = format; *p; p++) {
		if (*p != '%' || !p[1])
			continue;
		if (p[1] == 'f') {
			tf->fmt_a[p - format] = '\0';
			tf->fmt_b = strdup(p + 2);
			return tf->fmt_b ? 0 : -ENOMEM;
		}
		p++;
	}
	return 0;
}

int timefmt_create(int kind, const char *format, const char *tz, struct timefmt **ret, char *err,
		   size_t errlen)
{
	static const char *const names[] = { "iso8601", "unix", "unix_ms", "strptime" };
	struct timefmt *tf;
	int r = 0;

	if (kind < TIME_ISO8601 || kind > TIME_STRPTIME) {
		snprintf(err, errlen, "unknown time format kind %d", kind);
		return -EINVAL;
	}
	if (kind == TIME_STRPTIME && (!format || !*format || has_directive(format, 's'))) {
		snprintf(err, errlen, !format || !*format ? "empty time_format" :
			 "time_format: %%s depends on the process timezone; use time_format: unix");
		return -EINVAL;
	}
	tf = calloc(1, sizeof(*tf));
	if (!tf)
		return -ENOMEM;
	tf->kind = kind;
	tf->kind_name = names[kind];
	if (kind == TIME_STRPTIME) {
		r = split_format(tf, format);
		tf->fmt_has_z = has_directive(format, 'z');
	}
	if (r == 0) {
		tf->utc = !tz || !*tz || strcmp(tz, "UTC") == 0;
		if (!tf->utc)
			r = zone_load(tz, &tf->zone, err, errlen);
	}
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		timefmt_free(tf);
		return r;
	}
	*ret = tf;
	return 0;
}

void timefmt_free(struct timefmt *tf)
{
	if (!tf)
		return;
	zone_clear(&tf->zone);
	free(tf->format);
	free(tf->fmt_a);
	free(tf->fmt_b);
	free(tf);
}
