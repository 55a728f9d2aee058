/* Line splitting: chunk boundaries, CR before LF, lines over the limit, the final partial line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lines.h"

struct got {
	char text[4096]; /* "offset:len:full:end:line|" per line */
	size_t n;
	int stop_after; /* return LINES_STOP after this many lines (0: never) */
	int fail_at;    /* refuse (-ENOMEM) the line with this number, 1-based (0: never) */
};

static int collect(void *data, const char *line, size_t len, uint64_t full, uint64_t offset, uint64_t end)
{
	struct got *g = data;
	size_t at = strlen(g->text);

	if (g->fail_at && (int)g->n + 1 == g->fail_at) {
		g->fail_at = 0; /* once */
		return -ENOMEM;
	}
	snprintf(g->text + at, sizeof(g->text) - at, "%llu:%zu:%llu:%llu:%.*s|", (unsigned long long)offset, len,
		 (unsigned long long)full, (unsigned long long)end, (int)len, line);
	g->n++;
	return g->stop_after && (int)g->n >= g->stop_after ? LINES_STOP : 0;
}

/* Feeds s in chunks of `step` bytes. */
static void feed(struct lines *ls, const char *s, size_t step, struct got *g)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i += step)
		assert_int_equal(lines_feed(ls, s + i, n - i < step ? n - i : step, collect, g), 0);
}

static void test_every_chunking_gives_the_same_lines(void **state)
{
	const char *in = "alpha\nbe\r\n\ngamma delta\nx";
	const char *want = "0:5:5:6:alpha|6:2:2:10:be|10:0:0:11:|11:11:11:23:gamma delta|";

	(void)state;
	for (size_t step = 1; step <= strlen(in); step++) {
		struct lines ls;
		struct got g = {0};

		lines_init(&ls, 0, 64);
		feed(&ls, in, step, &g);
		assert_string_equal(g.text, want);
		assert_true(lines_pending(&ls));
		assert_int_equal(ls.offset, 24);
		assert_int_equal(lines_flush(&ls, collect, &g), 0);
		assert_string_equal(g.text, "0:5:5:6:alpha|6:2:2:10:be|10:0:0:11:|11:11:11:23:gamma delta|23:1:1:24:x|");
		lines_free(&ls);
	}
}

static void test_long_lines_keep_their_head_and_length(void **state)
{
	char in[64];
	(void)state;

	snprintf(in, sizeof(in), "%s\nok\n%s\r\n", "0123456789ABCDEF", "abcdefghij");
	for (size_t step = 1; step <= 7; step += 3) {
		struct lines ls;
		struct got g = {0};

		lines_init(&ls, 100, 8);
		feed(&ls, in, step, &g);
		/* a 16-byte line: its first 8 bytes and full length 16; the CR of the last one is dropped
		 * before the limit applies: 10 bytes -> 8 kept */
		assert_string_equal(g.text, "100:8:16:117:01234567|117:2:2:120:ok|120:8:10:132:abcdefgh|");
		lines_free(&ls);
	}
}

static void test_exactly_at_the_limit(void **state)
{
	struct lines ls;
	struct got g = {0};

	(void)state;
	lines_init(&ls, 0, 4);
	feed(&ls, "abcd\nabcd\r\nabcde\n", 2, &g);
	assert_string_equal(g.text, "0:4:4:5:abcd|5:4:4:11:abcd|11:4:5:17:abcd|");
	lines_free(&ls);
}

static void test_stop_leaves_the_rest_unread(void **state)
{
	struct lines ls;
	struct got g = {.stop_after = 2};

	(void)state;
	lines_init(&ls, 0, 64);
	assert_int_equal(lines_feed(&ls, "a\nbb\nccc\n", 9, collect, &g), LINES_STOP);
	assert_string_equal(g.text, "0:1:1:2:a|2:2:2:5:bb|");
	/* the next read starts where the stop left off */
	assert_int_equal(ls.offset, 5);
	assert_false(lines_pending(&ls));
	lines_free(&ls);
}

/* A line the callback refuses is not consumed: the reading place goes back to its first byte, also
 * when the line began in an earlier chunk, so that reading again from ls.offset hands it out again. */
static void test_refused_line_is_read_again(void **state)
{
	const char *in = "one\ntwo-long\nthree\n";

	(void)state;
	for (size_t split = 1; split < strlen(in); split++) {
		struct lines ls;
		struct got g = {.fail_at = 2};
		int r;

		lines_init(&ls, 0, 64);
		r = lines_feed(&ls, in, split, collect, &g);
		if (r == 0)
			r = lines_feed(&ls, in + split, strlen(in) - split, collect, &g);
		assert_int_equal(r, -ENOMEM);
		assert_int_equal(ls.offset, 4); /* the start of "two-long" */
		assert_false(lines_pending(&ls));
		/* read again from there, as the tailer does with pread(ls.offset) */
		assert_int_equal(lines_feed(&ls, in + ls.offset, strlen(in) - 4, collect, &g), 0);
		assert_string_equal(g.text, "0:3:3:4:one|4:8:8:13:two-long|13:5:5:19:three|");
		lines_free(&ls);
	}
}

static void test_reset(void **state)
{
	struct lines ls;
	struct got g = {0};

	(void)state;
	lines_init(&ls, 0, 64);
	feed(&ls, "partial", 3, &g);
	lines_reset(&ls, 0);
	assert_false(lines_pending(&ls));
	feed(&ls, "new\n", 4, &g);
	assert_string_equal(g.text, "0:3:3:4:new|");
	lines_free(&ls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_chunking_gives_the_same_lines),
		cmocka_unit_test(test_long_lines_keep_their_head_and_length),
		cmocka_unit_test(test_exactly_at_the_limit),
		cmocka_unit_test(test_stop_leaves_the_rest_unread),
		cmocka_unit_test(test_refused_line_is_read_again),
		cmocka_unit_test(test_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
