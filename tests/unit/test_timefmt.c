/* Time normalization: exact RFC 3339 UTC output and exact rejection reasons. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "timefmt.h"

static struct timefmt *make_list(const char *const *formats, size_t n, const char *tz)
{
	struct timefmt *t = NULL;
	char err[256] = "";

	if (timefmt_create(formats, n, tz, &t, err, sizeof(err)) != 0)
		fail_msg("timefmt_create(%s, ..., %s): %s", formats[0], tz, err);
	return t;
}

static struct timefmt *make(const char *format, const char *tz)
{
	return make_list(&format, 1, tz);
}

/* A timefmt whose now is `now` (ONSIDE_TEST_NOW, read at create). */
static struct timefmt *make_at(const char *format, const char *tz, const char *now)
{
	struct timefmt *t;

	setenv("ONSIDE_TEST_NOW", now, 1);
	t = make(format, tz);
	unsetenv("ONSIDE_TEST_NOW");
	return t;
}

static int create_fails(const char *format, const char *tz, char *err, size_t errlen)
{
	struct timefmt *t = (struct timefmt *)0x1;
	int r = timefmt_create(&format, 1, tz, &t, err, errlen);

	assert_ptr_equal(t, (struct timefmt *)0x1);
	return r;
}

static void ok(struct timefmt *t, const char *in, const char *want)
{
	char out[TIMEFMT_MAX], reason[256] = "";
	size_t n = 0;

	if (timefmt_convert(t, in, strlen(in), out, &n, reason, sizeof(reason)) != 0)
		fail_msg("\"%s\": %s", in, reason);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void bad(struct timefmt *t, const char *in, const char *want_reason)
{
	char out[TIMEFMT_MAX], reason[256] = "";
	size_t n = 12345;

	assert_int_equal(timefmt_convert(t, in, strlen(in), out, &n, reason, sizeof(reason)), -EINVAL);
	assert_string_equal(reason, want_reason);
	assert_int_equal(n, 12345);
}

static void test_iso8601_utc(void **state)
{
	struct timefmt *t = make("iso8601", "UTC");

	ok(t, "2026-05-05T12:00:00Z", "2026-05-05T12:00:00Z");
	ok(t, "2026-05-05t12:00:00z", "2026-05-05T12:00:00Z");
	ok(t, "2026-05-05 12:00:00Z", "2026-05-05T12:00:00Z");
	ok(t, "2026-05-05T12:00:00", "2026-05-05T12:00:00Z");
	ok(t, "2026-05-05T12:00Z", "2026-05-05T12:00:00Z");
	ok(t, "2026-05-05T12:00:00+02:00", "2026-05-05T10:00:00Z");
	ok(t, "2026-05-05T12:00:00-0530", "2026-05-05T17:30:00Z");
	ok(t, "2026-05-05T12:00:00+02", "2026-05-05T10:00:00Z");
	ok(t, "2026-05-05T00:30:00+01:00", "2026-05-04T23:30:00Z");
	ok(t, "2026-12-31T23:30:00-01:00", "2027-01-01T00:30:00Z");
	ok(t, "2024-02-29T12:00:00Z", "2024-02-29T12:00:00Z");
	ok(t, "2026-06-30T23:59:60Z", "2026-07-01T00:00:00Z");
	ok(t, "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z");
	ok(t, "9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z");
	timefmt_free(t);
}

/* A time already in UTC is written from its own fields; one with an offset goes through seconds since
 * the epoch and back. Both must agree on every day (leap years, month ends, the year's ends). */
static void test_iso8601_utc_same_as_converted(void **state)
{
	static const int years[] = { 1, 1970, 2000, 2023, 2024, 2100, 9999 };
	static const int dim[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct timefmt *t = make("iso8601", "Europe/Berlin");
	char z[64], off[64], a[TIMEFMT_MAX], b[TIMEFMT_MAX], reason[256];
	size_t na, nb;
	int rz, ro;

	for (size_t y = 0; y < sizeof(years) / sizeof(years[0]); y++) {
		for (int m = 1; m <= 12; m++) {
			for (int d = 1; d <= dim[m - 1]; d++) {
				snprintf(z, sizeof(z), "%04d-%02d-%02dT%02d:%02d:59.5Z", years[y], m, d,
					 (d * 7) % 23, (d * 13) % 60);
				snprintf(off, sizeof(off), "%04d-%02d-%02dT%02d:%02d:59.5+01:00", years[y], m,
					 d, (d * 7) % 23 + 1, (d * 13) % 60);
				rz = timefmt_convert(t, z, strlen(z), a, &na, reason, sizeof(reason));
				ro = timefmt_convert(t, off, strlen(off), b, &nb, reason, sizeof(reason));
				assert_int_equal(rz, ro);
				if (rz == 0) {
					assert_string_equal(a, z);
					assert_string_equal(a, b);
					assert_int_equal(na, nb);
				}
			}
		}
	}
	ok(t, "2026-05-05T12:00:00+00:00", "2026-05-05T12:00:00Z");
	ok(t, "2026-05-05T12:00:00-00:00", "2026-05-05T12:00:00Z");
	ok(t, "2026-05-05t12:00:00,5z", "2026-05-05T12:00:00.5Z");
	ok(t, "2026-05-05 12:00:00", "2026-05-05T10:00:00Z"); /* no offset: the zone's */
	ok(t, "2026-06-30T23:59:60Z", "2026-07-01T00:00:00Z");
	bad(t, "2026-02-29T12:00:00Z", "invalid time \"2026-02-29T12:00:00Z\" (iso8601)");
	timefmt_free(t);
}

static void test_iso8601_fractions_kept(void **state)
{
	struct timefmt *t = make("iso8601", "UTC");

	ok(t, "2026-05-05T12:00:00.5Z", "2026-05-05T12:00:00.5Z");
	ok(t, "2026-05-05T12:00:00.250Z", "2026-05-05T12:00:00.250Z");
	ok(t, "2026-05-05T12:00:00.000Z", "2026-05-05T12:00:00.000Z");
	ok(t, "2026-05-05T12:00:00.123456789+01:00", "2026-05-05T11:00:00.123456789Z");
	ok(t, "2026-05-05T12:00:00,75Z", "2026-05-05T12:00:00.75Z");
	ok(t, "2026-05-05 12:00:00.123456", "2026-05-05T12:00:00.123456Z");
	timefmt_free(t);
}

static void test_iso8601_invalid(void **state)
{
	struct timefmt *t = make("iso8601", "UTC");

	bad(t, "2026-13-01T00:00:00Z", "invalid time \"2026-13-01T00:00:00Z\" (iso8601)");
	bad(t, "2026-00-01T00:00:00Z", "invalid time \"2026-00-01T00:00:00Z\" (iso8601)");
	bad(t, "2026-02-29T00:00:00Z", "invalid time \"2026-02-29T00:00:00Z\" (iso8601)");
	bad(t, "2026-04-31T00:00:00Z", "invalid time \"2026-04-31T00:00:00Z\" (iso8601)");
	bad(t, "2026-05-00T00:00:00Z", "invalid time \"2026-05-00T00:00:00Z\" (iso8601)");
	bad(t, "2026-05-05T24:00:00Z", "invalid time \"2026-05-05T24:00:00Z\" (iso8601)");
	bad(t, "2026-05-05T12:60:00Z", "invalid time \"2026-05-05T12:60:00Z\" (iso8601)");
	bad(t, "2026-05-05T12:00:61Z", "invalid time \"2026-05-05T12:00:61Z\" (iso8601)");
	bad(t, "2026-05-05T12:00:00.Z", "invalid time \"2026-05-05T12:00:00.Z\" (iso8601)");
	bad(t, "2026-05-05T12:00:00.1234567890Z",
	    "invalid time \"2026-05-05T12:00:00.1234567890Z\" (iso8601)");
	bad(t, "2026-05-05T12:00:00+24:00", "invalid time \"2026-05-05T12:00:00+24:00\" (iso8601)");
	bad(t, "2026-05-05T12:00:00+02:0", "invalid time \"2026-05-05T12:00:00+02:0\" (iso8601)");
	bad(t, "2026-05-05T12:00:00Zjunk", "invalid time \"2026-05-05T12:00:00Zjunk\" (iso8601)");
	bad(t, "2026-05-05", "invalid time \"2026-05-05\" (iso8601)");
	bad(t, "0000-12-31T23:59:59Z", "invalid time \"0000-12-31T23:59:59Z\" (iso8601)");
	bad(t, "0001-01-01T00:30:00+01:00", "invalid time \"0001-01-01T00:30:00+01:00\" (iso8601)");
	bad(t, "yesterday", "invalid time \"yesterday\" (iso8601)");
	bad(t, "", "invalid time \"\" (iso8601)");
	bad(t, "2026-05-05X12:00:00Z", "invalid time \"2026-05-05X12:00:00Z\" (iso8601)");
	timefmt_free(t);
}

static void test_long_garbage_reason_is_clipped(void **state)
{
	struct timefmt *t = make("iso8601", "UTC");
	char in[201], want[256];

	memset(in, 'x', 200);
	in[200] = '\0';
	snprintf(want, sizeof(want), "invalid time \"%.80s...\" (iso8601)", in);
	bad(t, in, want);
	timefmt_free(t);
}

static void test_unix(void **state)
{
	struct timefmt *t = make("unix", "Europe/Berlin");

	/* Epoch seconds are UTC whatever the configured zone. */
	ok(t, "1777982400", "2026-05-05T12:00:00Z");
	ok(t, "1777982400.25", "2026-05-05T12:00:00.25Z");
	ok(t, "1777982400.000001", "2026-05-05T12:00:00.000001Z");
	ok(t, "0", "1970-01-01T00:00:00Z");
	bad(t, "-1", "invalid time \"-1\" (unix)");
	bad(t, "1777982400.", "invalid time \"1777982400.\" (unix)");
	bad(t, "1777982400,5", "invalid time \"1777982400,5\" (unix)");
	bad(t, "1.7e9", "invalid time \"1.7e9\" (unix)");
	bad(t, "17779824000000000000000", "invalid time \"17779824000000000000000\" (unix)");
	bad(t, "253402300800", "invalid time \"253402300800\" (unix)");
	bad(t, "", "invalid time \"\" (unix)");
	timefmt_free(t);
}

static void test_unix_ms(void **state)
{
	struct timefmt *t = make("unix_ms", "UTC");

	ok(t, "1777982400000", "2026-05-05T12:00:00.000Z");
	ok(t, "1777982400250", "2026-05-05T12:00:00.250Z");
	ok(t, "1777982400007", "2026-05-05T12:00:00.007Z");
	ok(t, "5", "1970-01-01T00:00:00.005Z");
	bad(t, "1777982400250.5", "invalid time \"1777982400250.5\" (unix_ms)");
	bad(t, "abc", "invalid time \"abc\" (unix_ms)");
	timefmt_free(t);
}

static void test_berlin(void **state)
{
	struct timefmt *t = make("iso8601", "Europe/Berlin");

	ok(t, "2026-07-01T12:00:00", "2026-07-01T10:00:00Z");
	ok(t, "2026-01-01T12:00:00", "2026-01-01T11:00:00Z");
	ok(t, "2026-01-01T12:00:00.5", "2026-01-01T11:00:00.5Z");
	/* An explicit offset wins over the zone. */
	ok(t, "2026-07-01T12:00:00Z", "2026-07-01T12:00:00Z");
	/* Spring forward: 02:00 local becomes 03:00; 01:59:59 is still CET, 03:00 already CEST. */
	ok(t, "2026-03-29T01:59:59", "2026-03-29T00:59:59Z");
	ok(t, "2026-03-29T03:00:00", "2026-03-29T01:00:00Z");
	/* 02:30 does not exist: read with the offset before the gap (+01:00), as mktime does. */
	ok(t, "2026-03-29T02:30:00", "2026-03-29T01:30:00Z");
	/* Fall back: 02:30 exists twice; the earlier one (still +02:00) is taken. */
	ok(t, "2026-10-25T02:30:00", "2026-10-25T00:30:00Z");
	ok(t, "2026-10-25T01:59:59", "2026-10-24T23:59:59Z");
	ok(t, "2026-10-25T03:00:00", "2026-10-25T02:00:00Z");
	/* Far past and far future (the TZif footer rule beyond the listed transitions). */
	ok(t, "1985-07-01T12:00:00", "1985-07-01T10:00:00Z");
	ok(t, "1975-07-01T12:00:00", "1975-07-01T11:00:00Z");
	ok(t, "2100-07-01T12:00:00", "2100-07-01T10:00:00Z");
	ok(t, "2100-12-01T12:00:00", "2100-12-01T11:00:00Z");
	ok(t, "2026-07-01T12:00:00", "2026-07-01T10:00:00Z");
	timefmt_free(t);
}

static void test_new_york(void **state)
{
	struct timefmt *t = make("iso8601", "America/New_York");

	ok(t, "2026-01-15T09:00:00", "2026-01-15T14:00:00Z");
	ok(t, "2026-07-15T09:00:00", "2026-07-15T13:00:00Z");
	/* 2026-03-08 02:00 -> 03:00 and 2026-11-01 02:00 -> 01:00. */
	ok(t, "2026-03-08T01:59:59", "2026-03-08T06:59:59Z");
	ok(t, "2026-03-08T02:30:00", "2026-03-08T07:30:00Z");
	ok(t, "2026-03-08T03:00:00", "2026-03-08T07:00:00Z");
	ok(t, "2026-11-01T01:30:00", "2026-11-01T05:30:00Z");
	ok(t, "2026-11-01T02:00:00", "2026-11-01T07:00:00Z");
	ok(t, "2026-12-31T22:00:00", "2027-01-01T03:00:00Z");
	timefmt_free(t);
}

static void test_southern_and_fractional_zones(void **state)
{
	struct timefmt *t = make("iso8601", "Australia/Sydney");

	ok(t, "2026-01-15T12:00:00", "2026-01-15T01:00:00Z"); /* AEDT +11 */
	ok(t, "2026-07-15T12:00:00", "2026-07-15T02:00:00Z"); /* AEST +10 */
	timefmt_free(t);
	t = make("iso8601", "Asia/Kolkata");
	ok(t, "2026-05-05T12:00:00", "2026-05-05T06:30:00Z");
	timefmt_free(t);
}

static void test_strptime_formats(void **state)
{
	struct timefmt *t = make("%d/%b/%Y:%H:%M:%S %z", "UTC");

	ok(t, "05/May/2026:12:00:00 +0200", "2026-05-05T10:00:00Z");
	ok(t, "05/May/2026:12:00:00 -0000", "2026-05-05T12:00:00Z");
	bad(t, "05/May/2026:12:00:00", "invalid time \"05/May/2026:12:00:00\" (format \"%d/%b/%Y:%H:%M:%S %z\")");
	bad(t, "05/May/2026:12:00:00 +0200 extra",
	    "invalid time \"05/May/2026:12:00:00 +0200 extra\" (format \"%d/%b/%Y:%H:%M:%S %z\")");
	timefmt_free(t);

	t = make("%Y-%m-%d %H:%M:%S", "Europe/Berlin");
	ok(t, "2026-07-01 12:00:00", "2026-07-01T10:00:00Z");
	ok(t, "2026-01-01 12:00:00", "2026-01-01T11:00:00Z");
	bad(t, "2026-02-30 12:00:00", "invalid time \"2026-02-30 12:00:00\" (format \"%Y-%m-%d %H:%M:%S\")");
	bad(t, "2026-07-01 12:00:00Z", "invalid time \"2026-07-01 12:00:00Z\" (format \"%Y-%m-%d %H:%M:%S\")");
	bad(t, "garbage", "invalid time \"garbage\" (format \"%Y-%m-%d %H:%M:%S\")");
	timefmt_free(t);

	/* "%f" reads the fraction digits (log4j style), kept as they were. */
	t = make("%Y-%m-%d %H:%M:%S,%f", "UTC");
	ok(t, "2026-05-05 12:00:00,123", "2026-05-05T12:00:00.123Z");
	bad(t, "2026-05-05 12:00:00,", "invalid time \"2026-05-05 12:00:00,\" (format \"%Y-%m-%d %H:%M:%S,%f\")");
	timefmt_free(t);
}

static void test_create_errors(void **state)
{
	char err[256];

	assert_int_equal(create_fails("iso8601", "Mars/Olympus_Mons", err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "unknown timezone \"Mars/Olympus_Mons\" (", 38) == 0);
	assert_int_equal(create_fails("iso8601", "../etc/passwd", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid timezone name \"../etc/passwd\"");
	assert_int_equal(create_fails("", "UTC", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "empty time_format");
	assert_int_equal(create_fails("%s", "UTC", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "time_format: %s depends on the process timezone; use time_format: unix");
	/* without a year, the date must be complete for the year to be inferred */
	assert_int_equal(create_fails("%H:%M:%S", "UTC", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "time_format \"%H:%M:%S\": without a year, it needs a month and a day");
	assert_int_equal(create_fails("%b %H:%M", "UTC", err, sizeof(err)), -EINVAL);
	setenv("ONSIDE_TEST_NOW", "tomorrow", 1);
	assert_int_equal(create_fails("iso8601", "UTC", err, sizeof(err)), -EINVAL);
	unsetenv("ONSIDE_TEST_NOW");
	assert_string_equal(err, "ONSIDE_TEST_NOW: expected unix seconds or YYYY-MM-DDTHH:MM:SSZ, got \"tomorrow\"");
	timefmt_free(NULL);
}

/* Syslog's "%b %d %H:%M:%S" has no year: the year that puts the time nearest to now, at most a day
 * ahead. Around New Year with a fixed clock. */
static void test_year_inferred_around_new_year(void **state)
{
	/* read just after midnight, New Year 2027 */
	struct timefmt *t = make_at("%b %d %H:%M:%S", "UTC", "2027-01-01T00:30:00Z");

	ok(t, "Dec 31 23:59:58", "2026-12-31T23:59:58Z");
	ok(t, "Jan  1 00:10:00", "2027-01-01T00:10:00Z");
	ok(t, "Jan  1 23:00:00", "2027-01-01T23:00:00Z");  /* ahead, within a day: this year */
	ok(t, "Jan  2 00:30:00", "2027-01-02T00:30:00Z");  /* exactly a day ahead */
	ok(t, "Jan  2 00:30:01", "2026-01-02T00:30:01Z");  /* more than a day ahead: last year */
	ok(t, "Jun 15 12:00:00", "2026-06-15T12:00:00Z");
	bad(t, "Feb 30 12:00:00", "invalid time \"Feb 30 12:00:00\" (format \"%b %d %H:%M:%S\")");
	timefmt_free(t);

	/* read late on New Year's Eve: a line of January 1 is (barely) ahead, still this year's end */
	t = make_at("%b %d %H:%M:%S", "UTC", "2026-12-31T23:30:00Z");
	ok(t, "Jan  1 00:15:00", "2027-01-01T00:15:00Z");
	ok(t, "Dec 31 23:29:00", "2026-12-31T23:29:00Z");
	ok(t, "Jan  1 23:31:00", "2026-01-01T23:31:00Z");
	timefmt_free(t);

	/* Feb 29 is taken from the last leap year that is not ahead */
	t = make_at("%b %d %H:%M:%S", "UTC", "1790000000");
	ok(t, "Feb 29 08:00:00", "2024-02-29T08:00:00Z");
	timefmt_free(t);

	/* the zone decides where New Year is: 00:30 in Berlin on Jan 1 is 23:30 UTC on Dec 31 */
	t = make_at("%b %d %H:%M:%S", "Europe/Berlin", "2027-01-01T00:00:00Z");
	ok(t, "Jan  1 00:30:00", "2026-12-31T23:30:00Z");
	ok(t, "Dec 31 12:00:00", "2026-12-31T11:00:00Z");
	timefmt_free(t);

	/* fractions and an offset still work without a year */
	t = make_at("%b %d %H:%M:%S.%f %z", "UTC", "2027-01-01T00:30:00Z");
	ok(t, "Dec 31 23:59:59.250 -0100", "2027-01-01T00:59:59.250Z");
	timefmt_free(t);
}

static void test_year_inferred_from_the_clock(void **state)
{
	/* without ONSIDE_TEST_NOW the clock decides: a line of a minute ago is this year or, just after
	 * New Year, last year; either way at most a day ahead and less than a year behind */
	struct timefmt *t = make("%b %d %H:%M:%S", "UTC");
	time_t now = time(NULL) - 60;
	char in[32], out[TIMEFMT_MAX], reason[256];
	struct tm tm;
	size_t n;

	gmtime_r(&now, &tm);
	strftime(in, sizeof(in), "%b %d %H:%M:%S", &tm);
	assert_int_equal(timefmt_convert(t, in, strlen(in), out, &n, reason, sizeof(reason)), 0);
	assert_int_equal(strtol(out, NULL, 10), tm.tm_year + 1900);
	timefmt_free(t);
}

static void test_format_list_tried_in_order(void **state)
{
	static const char *const two[] = { "iso8601", "%d/%m/%Y %H:%M" };
	static const char *const nums[] = { "unix_ms", "unix" };
	struct timefmt *t = make_list(two, 2, "UTC");

	ok(t, "2026-05-05T12:00:00Z", "2026-05-05T12:00:00Z");
	ok(t, "05/06/2026 13:45", "2026-06-05T13:45:00Z");
	bad(t, "2026/05/05", "invalid time \"2026/05/05\" (formats iso8601, \"%d/%m/%Y %H:%M\")");
	timefmt_free(t);

	/* the first that reads it wins: an integer is unix_ms, one with a fraction only unix can read */
	t = make_list(nums, 2, "UTC");
	ok(t, "1777982400123", "2026-05-05T12:00:00.123Z");
	ok(t, "1777982400.5", "2026-05-05T12:00:00.5Z");
	bad(t, "x", "invalid time \"x\" (formats unix_ms, unix)");
	timefmt_free(t);
}

static void test_zone_names_with_strptime(void **state)
{
	/* %Z reads a zone name and ignores it (glibc): the configured zone applies; %z is the offset */
	struct timefmt *t = make("%Y-%m-%d %H:%M:%S %Z", "Europe/Berlin");

	ok(t, "2026-07-01 12:00:00 CEST", "2026-07-01T10:00:00Z");
	timefmt_free(t);
	t = make("%Y-%m-%dT%H:%M:%S%z", "Europe/Berlin");
	ok(t, "2026-07-01T12:00:00+0000", "2026-07-01T12:00:00Z");
	timefmt_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iso8601_utc),
		cmocka_unit_test(test_iso8601_utc_same_as_converted),
		cmocka_unit_test(test_iso8601_fractions_kept),
		cmocka_unit_test(test_iso8601_invalid),
		cmocka_unit_test(test_long_garbage_reason_is_clipped),
		cmocka_unit_test(test_unix),
		cmocka_unit_test(test_unix_ms),
		cmocka_unit_test(test_berlin),
		cmocka_unit_test(test_new_york),
		cmocka_unit_test(test_southern_and_fractional_zones),
		cmocka_unit_test(test_strptime_formats),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_year_inferred_around_new_year),
		cmocka_unit_test(test_year_inferred_from_the_clock),
		cmocka_unit_test(test_format_list_tried_in_order),
		cmocka_unit_test(test_zone_names_with_strptime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
