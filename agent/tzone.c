/* Time zones from TZif files (RFC 8536): transitions, local time types, and the POSIX TZ string of the
 * footer that governs every time after the last transition (tzone.h). */
#include "tzone.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define TZFILE_MAX (1 << 20)

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
int64_t tzone_local_to_utc(struct zone *z, int64_t local)
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

void tzone_clear(struct zone *z)
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
	tzone_clear(z);
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

int tzone_load(const char *name, struct zone *z, char *err, size_t errlen)
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
		tzone_clear(z);
		snprintf(err, errlen, r == -ENOTSUP ?
			 "timezone \"%s\" counts leap seconds (%s); use a zone without \"right/\"" :
			 "timezone \"%s\": %s is not a valid TZif file", name, path);
		return -EINVAL;
	}
	z->cache_lo = z->cache_hi = 0;
	return 0;
}
