/* The adaptive concurrency controller (agent/concurrency.c), pure: driven with made-up clocks, in
 * microseconds, as the sender would tell it about requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "concurrency.h"

#define MS 1000ULL
#define T0 (1000 * 1000 * MS) /* a monotonic clock some time after boot */

/* One window of round trips rtt_ms long at limit requests, starting at *now: requests waited for a
 * slot all along when blocked. Returns the limit after it. */
static unsigned window(struct concurrency *c, uint64_t *now, uint64_t rtt_ms, bool blocked)
{
	struct concurrency_change ch;

	concurrency_waiting(c, blocked, *now);
	*now += rtt_ms * MS;
	concurrency_waiting(c, blocked, *now);
	for (unsigned i = 0; i < concurrency_limit(c); i++)
		concurrency_result(c, *now - rtt_ms * MS, *now, CONCURRENCY_OK, &ch);
	return concurrency_limit(c);
}

static void test_concurrency_grows_to_the_ceiling_while_round_trips_hold(void **state)
{
	struct concurrency *c = concurrency_new(0, 24);
	struct concurrency_change ch;
	uint64_t now = T0;
	unsigned prev = 1, seen_max = 0;

	assert_int_equal(concurrency_limit(c), 1);
	/* a slow start: it doubles a window, up to the ceiling */
	/* the first round trip makes the baseline, and is the first window: a backfill waiting behind it
	 * doubles the limit at once */
	assert_int_equal(window(c, &now, 50, true), 2);
	for (unsigned want = 4; want <= 24; want = want * 2 < 24 ? want * 2 : 24) {
		assert_int_equal(window(c, &now, 50, true), want);
		if (want == 24)
			break;
	}
	assert_int_equal(window(c, &now, 50, true), 24); /* never above the ceiling */
	/* after a decrease, one more a window */
	now += 60 * MS;
	concurrency_result(c, now - 50 * MS, now, CONCURRENCY_RATE, &ch);
	prev = concurrency_limit(c);
	assert_int_equal(prev, 21);
	for (int i = 0; i < 40; i++) {
		unsigned l = window(c, &now, 50, true);

		assert_true(l == prev || l == prev + 1);
		prev = l;
		seen_max = l > seen_max ? l : seen_max;
	}
	assert_int_equal(seen_max, 24);
	assert_int_equal(concurrency_limit(c), 24);
	assert_int_equal(concurrency_rtt_us(c), 50 * MS);
	concurrency_free(c);
}

/* A backfill over HTTP/1.1, a millisecond at a time: one connection per request in flight, kept (or,
 * without keep_alive, one opened for every request). The server is single-threaded: each connection
 * opened costs it a millisecond (its TLS handshake), which delays every answer it still owes. Answers
 * take 50 ms, and from slow_from_ms on 80 ms (a server that starts queueing). Returns when the limit
 * first reached the ceiling (ms, 0: never) and counts the decreases in *shrinks. */
static int climb(struct concurrency *c, bool keep_alive, int slow_from_ms, unsigned *shrinks)
{
	struct concurrency_change ch;
	uint64_t now = T0, starts[64], ends[64];
	bool conn[64];
	unsigned n = 0, conns = 0;
	int reached = 0;

	*shrinks = 0;
	for (int ms = 0; ms < 4000; ms++, now += MS) {
		for (unsigned i = 0; i < n;) {
			if (ends[i] > now) {
				i++;
				continue;
			}
			if (concurrency_result(c, starts[i], now, conn[i] ? CONCURRENCY_OK_CONNECTED : CONCURRENCY_OK,
					       &ch) && ch.to < ch.from)
				(*shrinks)++;
			n--;
			starts[i] = starts[n], ends[i] = ends[n], conn[i] = conn[n];
		}
		while (n < concurrency_limit(c)) { /* always more to send */
			conn[n] = !keep_alive || n >= conns;
			if (conn[n]) {
				conns += n >= conns;
				for (unsigned i = 0; i < n; i++)
					ends[i] += MS;
			}
			starts[n] = now;
			ends[n] = now + (ms >= slow_from_ms ? 80 : 50) * MS + (conn[n] ? MS : 0);
			n++;
		}
		concurrency_waiting(c, n >= concurrency_limit(c), now);
		if (!reached && concurrency_limit(c) == 32)
			reached = ms;
	}
	return reached;
}

/* A climb over TLS with one connection per slot: each step opens as many connections as it adds
 * slots, and their handshakes delay the answers of that window (by 16 ms at the step to 32). Those
 * windows neither
 * shrink the limit nor end the slow start: it doubles on up to the ceiling, in well under a second. */
static void test_concurrency_new_connections_handshakes_do_not_end_the_climb(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	unsigned shrinks;
	int reached = climb(c, true, 100000, &shrinks);

	assert_int_equal(shrinks, 0);
	assert_true(reached > 0 && reached < 1000);
	concurrency_free(c);
}

/* A server without keep-alive: every request opens its connection, every round trip is alike, so
 * they count: round trips that grow still bring the limit down. */
static void test_concurrency_shrinks_when_every_request_connects(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	unsigned shrinks;

	climb(c, false, 2000, &shrinks);
	assert_true(shrinks >= 1);
	assert_true(concurrency_limit(c) < 32);
	concurrency_free(c);
}

static void test_concurrency_does_not_grow_without_load(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	uint64_t now = T0;

	/* every request finds a free slot: an hour of light traffic leaves the limit at one */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(window(c, &now, 50, false), 1);
	concurrency_free(c);
}

/* A backfill on a fast link whose agent is busy mapping: requests wait for a slot all the time, but the
 * agent reads one answer a millisecond whatever the limit, so each request more in flight only adds a
 * millisecond to every round trip. The limit tries one or two more, sees the round trips grow with it,
 * and stays low (each request more holds a batch in memory for nothing) rather than climbing to the
 * ceiling. */
static void test_concurrency_stays_low_when_more_requests_only_lengthen_round_trips(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	uint64_t now = T0;
	unsigned seen_max = 0, at_one = 0;

	for (int i = 0; i < 20000; i++) {
		unsigned l = window(c, &now, concurrency_limit(c), true);

		seen_max = l > seen_max ? l : seen_max;
		at_one += l == 1;
	}
	assert_true(seen_max >= 2); /* it did try */
	assert_true(seen_max <= 3);
	assert_true(concurrency_limit(c) <= 3);
	assert_true(at_one < 20000);
	concurrency_free(c);
}

static unsigned grow_to(struct concurrency *c, uint64_t *now, unsigned limit)
{
	for (int i = 0; i < 200 && concurrency_limit(c) < limit; i++)
		window(c, now, 50, true);
	assert_int_equal(concurrency_limit(c), limit);
	return limit;
}

static void test_concurrency_shrinks_on_429_once_per_round_trip(void **state)
{
	struct concurrency *c = concurrency_new(0, 20);
	struct concurrency_change ch;
	uint64_t now = T0;

	grow_to(c, &now, 20);
	assert_true(concurrency_result(c, now - 50 * MS, now, CONCURRENCY_RATE, &ch));
	assert_int_equal(concurrency_limit(c), 18); /* 9/10 */
	assert_int_equal(ch.from, 20);
	assert_int_equal(ch.to, 18);
	assert_string_equal(ch.why, "HTTP 429");
	/* the other requests of the same round trip are answered 429 too: one cut for all of them */
	for (int i = 1; i < 10; i++)
		concurrency_result(c, now - 50 * MS, now + (uint64_t)i * MS, CONCURRENCY_RATE, &ch);
	assert_int_equal(concurrency_limit(c), 18);
	now += 60 * MS;
	concurrency_result(c, now - 50 * MS, now, CONCURRENCY_RATE, &ch);
	assert_int_equal(concurrency_limit(c), 16);
	concurrency_free(c);
}

static void test_concurrency_halves_on_server_errors_and_timeouts_never_below_one(void **state)
{
	struct concurrency *c = concurrency_new(0, 16);
	struct concurrency_change ch;
	uint64_t now = T0;
	unsigned want[] = {8, 4, 2, 1, 1, 1};

	grow_to(c, &now, 16);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		now += 60 * MS;
		concurrency_result(c, now - 5000 * MS, now, CONCURRENCY_OVERLOAD, &ch);
		assert_int_equal(concurrency_limit(c), want[i]);
	}
	/* neutral answers (400, 413, 401) say nothing about load */
	grow_to(c, &now, 6);
	for (int i = 0; i < 10; i++) {
		now += 60 * MS;
		concurrency_result(c, now - 50 * MS, now, CONCURRENCY_NEUTRAL, &ch);
	}
	assert_int_equal(concurrency_limit(c), 6);
	concurrency_free(c);
}

static void test_concurrency_shrinks_when_round_trips_grow(void **state)
{
	struct concurrency *c = concurrency_new(0, 10);
	uint64_t now = T0;
	unsigned l;

	grow_to(c, &now, 10);
	/* a server that starts queueing: 50 ms becomes 80 ms; the limit comes down although requests
	 * still wait for slots */
	window(c, &now, 80, true); /* (ends the window of the 50 ms round trips) */
	l = window(c, &now, 80, true);
	assert_int_equal(l, 9);
	/* round trips a little slower than the baseline (within 10%) neither grow nor shrink it */
	concurrency_free(c);
	c = concurrency_new(0, 10);
	now = T0;
	grow_to(c, &now, 10);
	window(c, &now, 54, true);
	assert_int_equal(window(c, &now, 54, true), 10);
	concurrency_free(c);
}

static void test_concurrency_fixed_never_moves(void **state)
{
	struct concurrency *c = concurrency_new(4, 32);
	struct concurrency_change ch;
	uint64_t now = T0;

	for (int i = 0; i < 50; i++)
		assert_int_equal(window(c, &now, 50, true), 4);
	now += 100 * MS;
	assert_false(concurrency_result(c, now - 50 * MS, now, CONCURRENCY_RATE, &ch));
	assert_false(concurrency_result(c, now - 50 * MS, now, CONCURRENCY_OVERLOAD, &ch));
	assert_int_equal(concurrency_limit(c), 4);
	assert_true(concurrency_rate_cap(c, now) == 0);
	assert_true(concurrency_next_start(c) == 0);
	/* a reload to auto starts from where it is, within the new ceiling */
	concurrency_configure(c, 0, 3);
	assert_int_equal(concurrency_limit(c), 3);
	concurrency_configure(c, 0, 100);
	assert_int_equal(concurrency_limit(c), 3);
	concurrency_free(c);
}

/* 60 requests a second accepted, then a 429: once sending resumes, the next requests are spaced for 57
 * a second. */
static void test_concurrency_429_caps_the_rate_below_what_was_accepted(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	struct concurrency_change ch;
	uint64_t now = T0, gap = 1000 * MS / 60, first, cut;
	double cap;

	/* refused after a handful of requests: too little to tell a rate (and at one request, no cut) */
	for (int i = 0; i < 4; i++) {
		concurrency_result(c, now, now + 50 * MS, CONCURRENCY_OK, &ch);
		now += 200 * MS;
	}
	assert_false(concurrency_result(c, now, now + 50 * MS, CONCURRENCY_RATE, &ch));
	now += 1050 * MS;
	assert_false(concurrency_started(c, now, &ch));
	assert_true(concurrency_rate_cap(c, now) == 0);
	for (int i = 0; i < 120; i++) {
		now += gap;
		assert_false(concurrency_started(c, now, &ch));
		assert_true(concurrency_next_start(c) == 0); /* no cap: nothing spaced */
		concurrency_result(c, now, now + 50 * MS, CONCURRENCY_OK, &ch);
	}
	/* refused: measured when sending resumes, after the Retry-After second */
	now += gap / 2;
	concurrency_result(c, now, now + 50 * MS, CONCURRENCY_RATE, &ch);
	cut = now + 50 * MS;
	assert_true(concurrency_rate_cap(c, cut) == 0);
	/* another answer of the same excess: nothing more */
	concurrency_result(c, now - gap, cut + 1 * MS, CONCURRENCY_RATE, &ch);
	now = cut + 1000 * MS;
	first = now;
	assert_true(concurrency_started(c, now, &ch));
	assert_true(ch.rate_cap > 56.9 && ch.rate_cap < 57.1);
	/* one request every 1/57 s (after a pause the first two may go together) */
	for (int i = 1; i < 57; i++) {
		now = concurrency_next_start(c);
		assert_false(concurrency_started(c, now, &ch));
	}
	now = concurrency_next_start(c);
	assert_true(now - first >= 975 * MS && now - first <= 1000 * MS);
	/* a request sent before the last 429 and refused after it does not cut again */
	cap = concurrency_rate_cap(c, now);
	concurrency_result(c, cut - 10 * MS, now, CONCURRENCY_RATE, &ch);
	assert_false(concurrency_started(c, now, &ch));
	assert_true(concurrency_rate_cap(c, now) == cap);
	/* the cap creeps up (0.2% of the measured rate a second) and is dropped at 125% of it */
	assert_true(concurrency_rate_cap(c, first + 25 * 1000 * MS) > 59.9);
	assert_true(concurrency_rate_cap(c, first + 25 * 1000 * MS) < 60.1);
	assert_true(concurrency_rate_cap(c, first + 151 * 1000 * MS) == 0);
	concurrency_free(c);
}

/* Refused again while paced: the cap itself was too high, it comes down by 5% each time. */
static void test_concurrency_429_while_paced_lowers_the_cap(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	struct concurrency_change ch;
	uint64_t now = T0, gap = 1000 * MS / 100;
	double cap;

	for (int i = 0; i < 200; i++) {
		concurrency_result(c, now, now + 20 * MS, CONCURRENCY_OK, &ch);
		now += gap;
	}
	concurrency_result(c, now, now + 20 * MS, CONCURRENCY_RATE, &ch);
	now += 1020 * MS;
	assert_true(concurrency_started(c, now, &ch));
	cap = concurrency_rate_cap(c, now);
	assert_true(cap > 94.9 && cap < 95.1);
	/* refused at once: nothing accepted since, the cap itself is the estimate */
	concurrency_result(c, now, now + 20 * MS, CONCURRENCY_RATE, &ch);
	now += 1020 * MS;
	cap = concurrency_rate_cap(c, now);
	assert_true(concurrency_started(c, now, &ch));
	assert_true(concurrency_rate_cap(c, now) < cap * 0.951);
	assert_true(concurrency_rate_cap(c, now) > cap * 0.949);
	concurrency_free(c);
}

/* A backfill against a server that accepts 50 requests in any second and answers the others 429 with
 * Retry-After: 1 (the benchmark's workload g), simulated a millisecond at a time with 50 ms round
 * trips and an agent that always has more to send: after its first 10 s it gets at least 90% of the
 * allowed rate with at most 2% of its requests refused. */
static void test_concurrency_settles_under_a_sliding_window_rate_limit(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	struct concurrency_change ch;
	uint64_t now = T0, pause_until = 0, window[50] = {0}, starts[64], ends[64];
	unsigned wnext = 0, n = 0, accepted = 0, refused = 0, total = 0;
	bool ok[64];

	for (int ms = 0; ms < 40000; ms++, now += MS) {
		for (unsigned i = 0; i < n;) {
			if (ends[i] > now) {
				i++;
				continue;
			}
			concurrency_result(c, starts[i], now, ok[i] ? CONCURRENCY_OK : CONCURRENCY_RATE, &ch);
			if (!ok[i] && now + 1000 * MS > pause_until)
				pause_until = now + 1000 * MS;
			if (ms >= 10000) {
				accepted += ok[i];
				refused += !ok[i];
			}
			n--;
			starts[i] = starts[n], ends[i] = ends[n], ok[i] = ok[n];
		}
		while (now >= pause_until && n < concurrency_limit(c) && concurrency_next_start(c) <= now) {
			/* the server: room in its window of the last second? */
			ok[n] = window[wnext] == 0 || now - window[wnext] >= 1000 * MS;
			if (ok[n]) {
				window[wnext] = now;
				wnext = (wnext + 1) % 50;
			}
			starts[n] = now;
			ends[n++] = now + 50 * MS;
			concurrency_started(c, now, &ch);
			total += ms >= 10000;
		}
		concurrency_waiting(c, now >= pause_until && n >= concurrency_limit(c), now);
	}
	/* 30 s after the first 10: at least 90% of 1,500 accepted, at most 2% refused */
	assert_true(accepted >= 1350);
	assert_true(refused * 50 <= accepted + refused);
	assert_true(total >= accepted);
	concurrency_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrency_grows_to_the_ceiling_while_round_trips_hold),
		cmocka_unit_test(test_concurrency_does_not_grow_without_load),
		cmocka_unit_test(test_concurrency_new_connections_handshakes_do_not_end_the_climb),
		cmocka_unit_test(test_concurrency_shrinks_when_every_request_connects),
		cmocka_unit_test(test_concurrency_stays_low_when_more_requests_only_lengthen_round_trips),
		cmocka_unit_test(test_concurrency_shrinks_on_429_once_per_round_trip),
		cmocka_unit_test(test_concurrency_halves_on_server_errors_and_timeouts_never_below_one),
		cmocka_unit_test(test_concurrency_shrinks_when_round_trips_grow),
		cmocka_unit_test(test_concurrency_fixed_never_moves),
		cmocka_unit_test(test_concurrency_429_caps_the_rate_below_what_was_accepted),
		cmocka_unit_test(test_concurrency_429_while_paced_lowers_the_cap),
		cmocka_unit_test(test_concurrency_settles_under_a_sliding_window_rate_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
