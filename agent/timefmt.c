/* Reading event times: iso8601, unix, unix_ms or strptime(3) formats, a list of them tried in order,
 * local times in an IANA zone (tzone.c), and the year of a format that has none (syslog's "%b %d
 * %H:%M:%S"): the year that puts the time nearest to now, at most a day ahead, as syslog readers
 * do. Now is the clock, or ONSIDE_TEST_NOW when set (for tests: read once, at create). */
#include "timefmt.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tzone.h"

#define STRPTIME_INPUT_MAX 255
#define REASON_INPUT_MAX 80
#define EXPECT_MAX 200
#define YEAR_MIN_SECS INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define YEAR_MAX_SECS INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define YEAR_AHEAD_SECS 86400 /* an inferred year never puts a time more than this past now */
#define YEARS_BACK 8          /* Feb 29 of a year-less format is found within this many years */

enum tkind { TIME_ISO8601 = 0, TIME_UNIX = 1, TIME_UNIX_MS = 2, TIME_STRPTIME = 3 };

/* One format of the list. */
struct tfalt {
	enum tkind kind;
	char *fmt_a, *fmt_b; /* strptime format split around a "%f" (fmt_b NULL when there is none) */
	bool fmt_has_z;
	bool no_year; /* strptime without a year: inferred from now */
};

struct timefmt {
	struct tfalt *alt;
	size_t nalt;
	bool utc;
	bool fixed_now; /* ONSIDE_TEST_NOW was set: now is `now`, not the clock */
	int64_t now;
	char expect[EXPECT_MAX]; /* for reasons: "iso8601", "format \"%F\"", ... */
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
static bool parse_strptime(const struct tfalt *tf, const char *s, size_t n, char *copy,
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
		*ret = tzone_local_to_utc(&tf->zone, local);
	return true;
}

/* The year of a format without one: the latest year (of the few around now's) whose date exists
 * and that puts the time at most YEAR_AHEAD_SECS past now; a December line read in January is last
 * year's. */
static bool infer_year(struct timefmt *tf, struct tparts *t, int64_t *ret_secs)
{
	int64_t now = tf->fixed_now ? tf->now : (int64_t)time(NULL), y, secs;
	int m, d;

	civil_from_days(floor_div(now, 86400), &y, &m, &d);
	for (int64_t cand = y + 1; cand >= y - YEARS_BACK; cand--) {
		t->year = cand;
		if (tparts_to_utc(tf, t, &secs) && secs <= now + YEAR_AHEAD_SECS) {
			*ret_secs = secs;
			return true;
		}
	}
	return false;
}

/* One format: the time in UTC seconds in *ret_secs, or written to out directly (*ret_done) when it
 * is already in UTC as written. */
static bool convert_one(struct timefmt *tf, const struct tfalt *a, const char *in, size_t len,
			struct tparts *t, char msfrac[3], char *out, size_t *ret_len, int64_t *ret_secs,
			bool *ret_done)
{
	char copy[STRPTIME_INPUT_MAX + 1];

	memset(t, 0, sizeof(*t));
	*ret_done = false;
	switch (a->kind) {
	case TIME_UNIX:
	case TIME_UNIX_MS:
		return parse_unix(in, len, a->kind == TIME_UNIX_MS, msfrac, t, ret_secs);
	case TIME_STRPTIME:
		if (!parse_strptime(a, in, len, copy, t))
			return false;
		return a->no_year ? infer_year(tf, t, ret_secs) : tparts_to_utc(tf, t, ret_secs);
	default:
		if (!parse_iso8601(in, len, t) || !tparts_valid(t))
			return false;
		/* The common case, a time already in UTC: converting to seconds and back would give
		 * the same fields (except for a leap second, which moves to the next minute). */
		if (((t->has_off && t->off == 0) || (!t->has_off && tf->utc)) && t->sec < 60) {
			format_same(in, len, t, out, ret_len);
			*ret_done = true;
			return true;
		}
		return tparts_to_utc(tf, t, ret_secs);
	}
}

int timefmt_convert(struct timefmt *tf, const char *in, size_t len, char *out, size_t *ret_len,
		    char *reason, size_t reasonlen)
{
	char msfrac[3];
	struct tparts t;
	int64_t secs = 0;
	bool done;
	int shown;

	for (size_t i = 0; i < tf->nalt; i++) {
		if (!convert_one(tf, &tf->alt[i], in, len, &t, msfrac, out, ret_len, &secs, &done))
			continue;
		if (done || format_utc(secs, t.frac, t.fraclen, out, ret_len))
			return 0;
	}
	shown = len > REASON_INPUT_MAX ? REASON_INPUT_MAX : (int)len;
	snprintf(reason, reasonlen, "invalid time \"%.*s%s\" (%s)", shown, in, len > REASON_INPUT_MAX ? "..." : "",
		 tf->expect);
	return -EINVAL;
}

/* ---- Create / free ---- */

static bool has_any(const char *fmt, const char *ds)
{
	for (; *ds; ds++)
		if (has_directive(fmt, *ds))
			return true;
	return false;
}

static int split_format(struct tfalt *a, const char *format)
{
	const char *p;

	a->fmt_a = strdup(format);
	if (!a->fmt_a)
		return -ENOMEM;
	for (p = format; *p; p++) {
		if (*p != '%' || !p[1])
			continue;
		if (p[1] == 'f') {
			a->fmt_a[p - format] = '\0';
			a->fmt_b = strdup(p + 2);
			return a->fmt_b ? 0 : -ENOMEM;
		}
		p++;
	}
	return 0;
}

static int alt_init(struct tfalt *a, const char *format, char *err, size_t errlen)
{
	static const char *const names[] = { "iso8601", "unix", "unix_ms" };

	for (int k = TIME_ISO8601; k <= TIME_UNIX_MS; k++)
		if (strcmp(format, names[k]) == 0) {
			a->kind = (enum tkind)k;
			return 0;
		}
	a->kind = TIME_STRPTIME;
	if (!*format || has_directive(format, 's')) {
		snprintf(err, errlen, !*format ? "empty time_format" :
			 "time_format: %%s depends on the process timezone; use time_format: unix");
		return -EINVAL;
	}
	/* %D, %F, %c and %x hold a year; %C and %G/%g are taken as one too */
	a->no_year = !has_any(format, "YyCDFcxGg");
	if (a->no_year && !(has_any(format, "bBhm") && has_any(format, "de"))) {
		snprintf(err, errlen, "time_format \"%s\": without a year, it needs a month and a day", format);
		return -EINVAL;
	}
	a->fmt_has_z = has_directive(format, 'z');
	return split_format(a, format);
}

/* What the formats expect, for reasons: iso8601, or format "%F", or formats iso8601, "%F". */
static void describe(struct timefmt *tf, const char *const *formats, size_t n)
{
	size_t at = 0;

	at += (size_t)snprintf(tf->expect, sizeof(tf->expect), "%s", n == 1 && tf->alt[0].kind != TIME_STRPTIME ?
			       "" : n == 1 ? "format " : "formats ");
	for (size_t i = 0; i < n && at < sizeof(tf->expect); i++)
		at += (size_t)snprintf(tf->expect + at, sizeof(tf->expect) - at,
				       tf->alt[i].kind == TIME_STRPTIME ? "%s\"%s\"" : "%s%s", i ? ", " : "",
				       formats[i]);
}

/* ONSIDE_TEST_NOW: unix seconds, or YYYY-MM-DDTHH:MM:SSZ. */
static int read_test_now(struct timefmt *tf, char *err, size_t errlen)
{
	const char *s = getenv("ONSIDE_TEST_NOW");
	struct tparts t;
	char ms[3];

	if (!s || !*s)
		return 0;
	memset(&t, 0, sizeof(t));
	if (parse_unix(s, strlen(s), false, ms, &t, &tf->now) ||
	    (parse_iso8601(s, strlen(s), &t) && t.has_off && tparts_to_utc(tf, &t, &tf->now))) {
		tf->fixed_now = true;
		return 0;
	}
	snprintf(err, errlen, "ONSIDE_TEST_NOW: expected unix seconds or YYYY-MM-DDTHH:MM:SSZ, got \"%.40s\"", s);
	return -EINVAL;
}

int timefmt_create(const char *const *formats, size_t n, const char *tz, struct timefmt **ret, char *err,
		   size_t errlen)
{
	struct timefmt *tf;
	int r = 0;

	if (n == 0) {
		snprintf(err, errlen, "no time_format");
		return -EINVAL;
	}
	tf = calloc(1, sizeof(*tf));
	if (!tf || !(tf->alt = calloc(n, sizeof(*tf->alt)))) {
		free(tf);
		return -ENOMEM;
	}
	tf->nalt = n;
	for (size_t i = 0; i < n && r == 0; i++)
		r = alt_init(&tf->alt[i], formats[i] ? formats[i] : "", err, errlen);
	if (r == 0) {
		describe(tf, formats, n);
		tf->utc = !tz || !*tz || strcmp(tz, "UTC") == 0;
		r = read_test_now(tf, err, errlen);
	}
	if (r == 0 && !tf->utc)
		r = tzone_load(tz, &tf->zone, err, errlen);
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
	tzone_clear(&tf->zone);
	for (size_t i = 0; tf->alt && i < tf->nalt; i++) {
		free(tf->alt[i].fmt_a);
		free(tf->alt[i].fmt_b);
	}
	free(tf->alt);
	free(tf);
}
