/* The delivery ledger: the committed offset never passes a line whose batch is not complete, whatever
 * the order batches complete in; skips ride with the batch before them; dead-lettered ranges merge,
 * survive until committed passes them, and answer re-reads; streams live while batches hold them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "ledger.h"

static void test_committed_waits_for_the_earliest_batch(void **state)
{
	struct ledger *l = ledger_new();
	struct ledger_stream *s = ledger_open(l, 0, NULL, 0, "in", "/p");
	struct ledger_batch *b1 = ledger_batch_new(l), *b2 = ledger_batch_new(l);

	(void)state;
	ledger_mark(s, b1, 10);
	ledger_mark(s, b1, 20);
	ledger_mark(s, b2, 30);
	assert_true(ledger_busy(s));
	/* the later batch completes first: nothing moves */
	ledger_complete(b2);
	assert_false(ledger_advance(l));
	assert_int_equal(ledger_committed(s), 0);
	ledger_complete(b1);
	assert_true(ledger_advance(l));
	assert_int_equal(ledger_committed(s), 30);
	assert_false(ledger_busy(s));
	assert_true(ledger_last_delivery(s) > 0);
	assert_false(ledger_advance(l)); /* reported once */
	ledger_free(l);
}

static void test_skips_ride_with_the_batch_before_them(void **state)
{
	struct ledger *l = ledger_new();
	struct ledger_stream *s = ledger_open(l, 100, NULL, 0, "in", "/p");
	struct ledger_batch *b = ledger_batch_new(l);

	(void)state;
	/* nothing pending: a skipped line is committed at once (and reported as a move) */
	ledger_skip(s, 110);
	assert_int_equal(ledger_committed(s), 110);
	assert_true(ledger_advance(l));
	ledger_mark(s, b, 120);
	ledger_skip(s, 130);
	ledger_skip(s, 140);
	assert_int_equal(ledger_committed(s), 110);
	ledger_complete(b);
	assert_true(ledger_advance(l));
	assert_int_equal(ledger_committed(s), 140);
	ledger_free(l);
}

/* Two streams share batches; each moves over its own lines only. */
static void test_streams_are_independent(void **state)
{
	struct ledger *l = ledger_new();
	struct ledger_stream *a = ledger_open(l, 0, NULL, 0, "in", "/a"), *c = ledger_open(l, 0, NULL, 0, "in", "/c");
	struct ledger_batch *b1 = ledger_batch_new(l), *b2 = ledger_batch_new(l);

	(void)state;
	ledger_mark(a, b1, 5);
	ledger_mark(c, b1, 7);
	ledger_mark(c, b2, 9);
	ledger_mark(a, b2, 11);
	ledger_complete(b1);
	assert_true(ledger_advance(l));
	assert_int_equal(ledger_committed(a), 5);
	assert_int_equal(ledger_committed(c), 7);
	ledger_complete(b2);
	assert_true(ledger_advance(l));
	assert_int_equal(ledger_committed(a), 11);
	assert_int_equal(ledger_committed(c), 9);
	ledger_free(l);
}

/* Random completion order over many batches: committed is always the end of the longest prefix of
 * complete batches, never more. */
static void test_random_completion_order(void **state)
{
	enum { N = 200 };
	struct ledger *l = ledger_new();
	struct ledger_stream *s = ledger_open(l, 0, NULL, 0, "in", "/p");
	struct ledger_batch *b[N];
	int order[N], done[N] = {0};
	unsigned seed = 12345;

	(void)state;
	for (int i = 0; i < N; i++) {
		b[i] = ledger_batch_new(l);
		ledger_mark(s, b[i], (uint64_t)(i + 1) * 10);
		if (i % 3 == 0)
			ledger_skip(s, (uint64_t)(i + 1) * 10 + 5);
		order[i] = i;
	}
	for (int i = N - 1; i > 0; i--) {
		int j = (int)(rand_r(&seed) % (unsigned)(i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int k = 0; k < N; k++) {
		int prefix = 0;
		uint64_t want;

		ledger_complete(b[order[k]]);
		done[order[k]] = 1;
		ledger_advance(l);
		while (prefix < N && done[prefix])
			prefix++;
		want = prefix == 0 ? 0 : (uint64_t)prefix * 10 + ((prefix - 1) % 3 == 0 ? 5 : 0);
		assert_int_equal(ledger_committed(s), want);
	}
	assert_false(ledger_busy(s));
	ledger_free(l);
}

static void test_dead_ranges_merge_and_answer_re_reads(void **state)
{
	struct ledger *l = ledger_new();
	struct ledger_stream *s = ledger_open(l, 0, NULL, 0, "in", "/p");
	struct ledger_batch *b = ledger_batch_new(l);
	const struct ledger_range *d;
	size_t n;

	(void)state;
	ledger_mark(s, b, 10);
	/* rejected in any order (a bisect), and dead-lettered lines after the batch */
	ledger_reject(s, 40, 50);
	ledger_reject(s, 20, 30);
	ledger_reject(s, 30, 40); /* joins its neighbours */
	ledger_reject(s, 60, 70);
	d = ledger_dead(s, &n);
	assert_int_equal(n, 2);
	assert_int_equal(d[0].start, 20);
	assert_int_equal(d[0].end, 50);
	assert_int_equal(d[1].start, 60);
	assert_int_equal(d[1].end, 70);
	assert_true(ledger_rejected(s, 20));
	assert_true(ledger_rejected(s, 30));
	assert_true(ledger_rejected(s, 49));
	assert_false(ledger_rejected(s, 50));
	assert_false(ledger_rejected(s, 10));
	assert_true(ledger_rejected(s, 60));
	/* committed passes the first range: it is dropped, the second stays */
	ledger_skip(s, 55);
	ledger_complete(b);
	ledger_advance(l);
	assert_int_equal(ledger_committed(s), 55);
	d = ledger_dead(s, &n);
	assert_int_equal(n, 1);
	assert_int_equal(d[0].start, 60);
	assert_false(ledger_rejected(s, 20));
	/* ranges at or before committed are not recorded at all */
	ledger_reject(s, 0, 5);
	ledger_dead(s, &n);
	assert_int_equal(n, 1);
	ledger_free(l);
}

static void test_dead_ranges_from_the_checkpoint(void **state)
{
	const struct ledger_range saved[] = {{100, 150}, {200, 210}};
	struct ledger *l = ledger_new();
	struct ledger_stream *s = ledger_open(l, 100, saved, 2, "in", "/p");
	size_t n;

	(void)state;
	assert_true(ledger_rejected(s, 100));
	assert_true(ledger_rejected(s, 205));
	assert_false(ledger_rejected(s, 150));
	ledger_skip(s, 150); /* the re-read line, finished again without a new record */
	ledger_dead(s, &n);
	assert_int_equal(n, 1);
	ledger_free(l);
}

/* A stream closed by its reader lives on while a batch holds its lines (ASan checks the rest). */
static void test_closed_stream_lives_until_its_batches_finish(void **state)
{
	struct ledger *l = ledger_new();
	struct ledger_stream *s = ledger_open(l, 0, NULL, 0, "in", "/old");
	struct ledger_batch *b = ledger_batch_new(l);

	(void)state;
	ledger_mark(s, b, 10);
	ledger_close(s);
	ledger_rename(s, "in2", "/new"); /* still valid: a rejection may still name it */
	assert_string_equal(ledger_path(s), "/new");
	assert_string_equal(ledger_input(s), "in2");
	ledger_complete(b);
	ledger_advance(l); /* frees it */
	s = ledger_open(l, 0, NULL, 0, "in", "/other");
	ledger_close(s); /* nothing pending: freed at once */
	ledger_free(l);
}

/* The age of the oldest line not delivered: the read time of the first line still in a batch; for
 * bytes not read yet, since when they were first seen waiting, forgotten when the offset moves. */
static void test_oldest_line_waiting(void **state)
{
	struct ledger *l = ledger_new();
	struct ledger_stream *s = ledger_open(l, 0, NULL, 0, "in", "/p");
	struct ledger_batch *b1 = ledger_batch_new(l), *b2 = ledger_batch_new(l);
	int64_t before = (int64_t)time(NULL), at;

	(void)state;
	assert_int_equal(ledger_oldest_read(s), 0);
	ledger_mark(s, b1, 10);
	ledger_mark(s, b2, 20);
	at = ledger_oldest_read(s);
	assert_true(at >= before && at <= (int64_t)time(NULL));
	ledger_complete(b2);
	ledger_advance(l);
	assert_int_equal(ledger_oldest_read(s), at); /* the first batch's line still waits */
	ledger_complete(b1);
	ledger_advance(l);
	assert_int_equal(ledger_oldest_read(s), 0);

	assert_int_equal(ledger_unread_since(s, true, 100), 100);
	assert_int_equal(ledger_unread_since(s, true, 200), 100);
	ledger_skip(s, 30); /* the offset moves: what waits now is later */
	assert_int_equal(ledger_unread_since(s, true, 300), 300);
	assert_int_equal(ledger_unread_since(s, false, 400), 0);
	assert_int_equal(ledger_unread_since(s, true, 500), 500);
	ledger_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_committed_waits_for_the_earliest_batch),
		cmocka_unit_test(test_skips_ride_with_the_batch_before_them),
		cmocka_unit_test(test_streams_are_independent),
		cmocka_unit_test(test_random_completion_order),
		cmocka_unit_test(test_dead_ranges_merge_and_answer_re_reads),
		cmocka_unit_test(test_dead_ranges_from_the_checkpoint),
		cmocka_unit_test(test_closed_stream_lives_until_its_batches_finish),
		cmocka_unit_test(test_oldest_line_waiting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
