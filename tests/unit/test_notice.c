/* Rate-limited notices: a first occurrence is told at once, the rest of its period only counted by
 * class and handed out as one summary when the period ends; a kind quiet for a period is told at once
 * again; never two lines of a kind within a period. And the text helpers: reason classes without
 * per-line values, counts with separators, durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "notice.h"

#define PERIOD 60000

static void test_first_at_once_then_one_summary_per_period(void **state)
{
	struct notice n;
	struct notice_summary s;

	(void)state;
	notice_init(&n, PERIOD);
	assert_int_equal(notice_deadline(&n), 0);
	assert_true(notice_add(&n, "parse error", 1000));
	for (int i = 0; i < 4999; i++)
		assert_false(notice_add(&n, i % 3 ? "parse error" : "missing field uid", 1000 + (uint64_t)i));
	assert_int_equal(notice_deadline(&n), 1000 + PERIOD);
	notice_take(&n, 1000 + PERIOD, &s);
	assert_int_equal(s.n, 4999);
	assert_int_equal(s.secs, 60);
	assert_string_equal(s.classes, "missing field uid: 1,667, parse error: 3,332");
	assert_int_equal(notice_deadline(&n), 0);
	/* within the next period: counted, not told */
	assert_false(notice_add(&n, "parse error", 1000 + PERIOD + 10));
	assert_int_equal(notice_deadline(&n), 1000 + 2 * PERIOD);
	notice_take(&n, 1000 + 2 * PERIOD, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.classes, "parse error: 1");
	/* less than a period since that summary: still counted */
	assert_false(notice_add(&n, "x", 1000 + 3 * PERIOD - 1));
}

static void test_quiet_for_a_period_tells_at_once_again(void **state)
{
	struct notice n;
	struct notice_summary s;

	(void)state;
	notice_init(&n, PERIOD);
	assert_true(notice_add(&n, "a", 0));
	assert_false(notice_add(&n, "a", PERIOD - 1)); /* within the period of the first */
	notice_take(&n, PERIOD, &s);
	assert_int_equal(s.n, 1);
	assert_false(notice_add(&n, "a", 2 * PERIOD - 1)); /* the summary was a line: a period since it */
	notice_take(&n, 2 * PERIOD, &s);
	assert_true(notice_add(&n, "a", 3 * PERIOD)); /* nothing in a whole period */
	assert_int_equal(notice_deadline(&n), 0);
}

static void test_classes_beyond_the_limit_count_as_other(void **state)
{
	struct notice n;
	struct notice_summary s;
	char cls[8];

	(void)state;
	notice_init(&n, PERIOD);
	assert_true(notice_add(&n, "first", 0));
	for (int i = 0; i < NOTICE_CLASSES + 3; i++) {
		snprintf(cls, sizeof(cls), "c%d", i);
		notice_add(&n, cls, 1);
	}
	notice_take(&n, PERIOD, &s);
	assert_int_equal(s.n, NOTICE_CLASSES + 3);
	assert_non_null(strstr(s.classes, "c0: 1, c1: 1"));
	assert_non_null(strstr(s.classes, ", other: 3"));
	assert_null(strstr(s.classes, "c8"));
}

static void test_classes_leave_out_what_varies_from_line_to_line(void **state)
{
	static const char *cases[][2] = {
		{"parse error: invalid JSON at byte 1: null expected", "parse error: invalid JSON: null expected"},
		{"parse error: invalid JSON at byte 28: unexpected end of line",
		 "parse error: invalid JSON: unexpected end of line"},
		{"parse error: missing field currency (the line ends at byte 48)", "parse error: missing field currency"},
		{"installation_id (field install_id) is not a UUID: \"x\"", "installation_id (field install_id) is not a UUID"},
		{"line longer than max_line_bytes (70000 bytes)", "line longer than max_line_bytes"},
		{"parse error: unterminated quoted field at byte 12", "parse error: unterminated quoted field"},
		{"missing field ts", "missing field ts"},
		{"matches at noon", "matches at noon"},
	};
	char out[NOTICE_CLASS_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		notice_class_of(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
}

static void test_counts_and_durations_for_people(void **state)
{
	char b[32];

	(void)state;
	notice_count(b, sizeof(b), 0);
	assert_string_equal(b, "0");
	notice_count(b, sizeof(b), 999);
	assert_string_equal(b, "999");
	notice_count(b, sizeof(b), 13679);
	assert_string_equal(b, "13,679");
	notice_count(b, sizeof(b), 1234567);
	assert_string_equal(b, "1,234,567");
	notice_count(b, sizeof(b), UINT64_MAX);
	assert_string_equal(b, "18,446,744,073,709,551,615");
	notice_duration(b, sizeof(b), 0);
	assert_string_equal(b, "0s");
	notice_duration(b, sizeof(b), 40);
	assert_string_equal(b, "40s");
	notice_duration(b, sizeof(b), 300);
	assert_string_equal(b, "5m");
	notice_duration(b, sizeof(b), 303);
	assert_string_equal(b, "5m 3s");
	notice_duration(b, sizeof(b), 2 * 3600 + 10 * 60 + 5);
	assert_string_equal(b, "2h 10m");
	notice_duration(b, sizeof(b), 3 * 86400 + 4 * 3600);
	assert_string_equal(b, "3d 4h");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_at_once_then_one_summary_per_period),
		cmocka_unit_test(test_quiet_for_a_period_tells_at_once_again),
		cmocka_unit_test(test_classes_beyond_the_limit_count_as_other),
		cmocka_unit_test(test_classes_leave_out_what_varies_from_line_to_line),
		cmocka_unit_test(test_counts_and_durations_for_people),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
