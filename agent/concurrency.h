/* Adaptive request concurrency for the sender: how many requests may be on the wire at once, and, once
 * the server has answered 429, how many may start per second. Pure: it is told what happened and when
 * (times in microseconds of CLOCK_MONOTONIC), so that the tests can drive it with made-up clocks.
 *
 * The concurrency limit follows AIMD in the manner of Vector's adaptive request concurrency:
 * - Round trips of accepted requests (204) are averaged over windows of about one round trip, and the
 *   window averages feed an exponentially weighted mean and deviation (the baseline).
 * - At the end of a window (a round trip, at least 25 ms) the limit grows by one (doubles, until the
 *   first decrease: a slow start, as TCP's) when requests waited for a slot during most of it (the
 *   demand exceeded the limit: no growth without load) and its average round trip was at most the
 *   baseline (in the slow start: not clearly above it, as below); the first round trip is the first
 *   window; it shrinks to 9/10 (at least by one) when the average of at least 4 round trips rose
 *   clearly above the baseline (by 2.5 deviations, and by at least 10%). A window in which some
 *   requests opened connections neither shrinks the limit nor moves the baseline: their handshakes
 *   (TLS: the server's signature) load the server for the others, and each step of a climb opens as
 *   many connections as it adds slots. When every request opens one (a server without keep-alive),
 *   the round trips are all alike and count. When the agent's own work is
 *   what holds a backfill back (a fast link, the agent mapping its next lines while the answers wait
 *   to be read), a higher limit only lengthens the round trips, and that stops the growth: on loopback
 *   the limit settles at 2 or 3, which keeps the server busy while the agent maps.
 * - Back pressure shrinks it at once, at most once per round trip: 429 to 9/10 (the rate cap below does
 *   the real work), 5xx, timeouts and connection errors to one half.
 * - It never leaves [1, ceiling]. A fixed limit (a number in the configuration) never moves.
 * A server that limits the rate rather than the concurrency answers 429 whatever the concurrency is, and
 * pausing for each Retry-After wastes a second every time, so a 429 also sets a rate cap: 95% of the
 * requests accepted that started in the second up to the refused one (when there were at least 5),
 * measured when sending resumes; a 429 under a cap lowers it the same way. The cap then creeps up by 0.2% of that rate a second (probing for a
 * higher limit, 25 s back to it) and is dropped at 125%. Under a cap, slower round trips do not take
 * the limit below twice what the capped rate needs at the baseline round trip (the cap holds the rate
 * then), and requests waiting for slots grow it up to that. */
#ifndef ONSIDE_CONCURRENCY_H
#define ONSIDE_CONCURRENCY_H

#include <stdbool.h>
#include <stdint.h>

#define CONCURRENCY_MAX 64 /* the largest ceiling or fixed limit the configuration takes */

/* What an answer says about the load on the server. */
enum concurrency_signal {
	CONCURRENCY_OK,       /* 204: its round trip is a latency sample */
	CONCURRENCY_OK_CONNECTED, /* 204 on a connection opened for it: a sample too, but see below */
	CONCURRENCY_NEUTRAL,  /* says nothing about load: 400, 413, 401, 403, another 2xx or 4xx */
	CONCURRENCY_RATE,     /* 429 */
	CONCURRENCY_OVERLOAD, /* 5xx, a timeout, a connection error */
};

/* A change of the limit or of the rate cap, for the debug log. */
struct concurrency_change {
	unsigned from, to;    /* the limit before and after (equal when only the cap changed) */
	const char *why;      /* "round trips near the baseline", "round trips grew", "HTTP 429", ... */
	double rtt_ms;        /* the window's average round trip (0: none) */
	double base_ms;       /* the baseline before the change */
	double rate_cap;      /* requests per second after the change, 0 = none */
};

struct concurrency;

/* fixed > 0: a fixed limit; 0: adaptive between 1 and ceiling, starting at 1. NULL on ENOMEM. */
struct concurrency *concurrency_new(unsigned fixed, unsigned ceiling);
void concurrency_free(struct concurrency *c);
/* A reload: a fixed limit applies at once; an adaptive one keeps its state within the new ceiling. */
void concurrency_configure(struct concurrency *c, unsigned fixed, unsigned ceiling);

unsigned concurrency_limit(const struct concurrency *c);
/* Whether a request is waiting for a slot now (the limit is reached and more is queued), told whenever
 * that may have changed, with the time (loop_now_us). */
void concurrency_waiting(struct concurrency *c, bool waiting, uint64_t now_us);
/* When the next request may start (now or earlier: at once); later only under a rate cap. */
uint64_t concurrency_next_start(const struct concurrency *c);
/* A request started now (the rate cap spaces the next one). The first start after a 429 sets or lowers
 * the rate cap (by then every request sent with the refused one has been answered): returns true and
 * fills *ret when it did. */
bool concurrency_started(struct concurrency *c, uint64_t now_us, struct concurrency_change *ret);
/* A request started at start_us was answered (or failed) at now_us. Returns true and fills *ret when
 * the limit or the rate cap changed. */
bool concurrency_result(struct concurrency *c, uint64_t start_us, uint64_t now_us, enum concurrency_signal sig,
			struct concurrency_change *ret);

/* The baseline round trip (0 until the first accepted request). */
uint64_t concurrency_rtt_us(const struct concurrency *c);
/* The rate cap in requests per second at now_us, 0 when there is none. */
double concurrency_rate_cap(const struct concurrency *c, uint64_t now_us);

#endif
