/* How the sender's requests go out: an ops table, so that the sender's rules (splits, retries,
 * backoff, concurrency) run the same over libcurl (transport_curl.c, the agent's) and over a fake
 * whose answers a test or the fuzzer chooses (tests/fuzz/fuzz_sender.c).
 *
 * A transport has numbered request slots. The sender starts at most one request per slot; the
 * transport reports the end of each exactly once, from the loop, never from inside start(). */
#ifndef ONSIDE_TRANSPORT_H
#define ONSIDE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "sender.h"

/* How one request ended; valid during the `done` call only. */
struct transport_result {
	long status;            /* the HTTP status; 0 when error is set */
	const char *error;      /* NULL, or why no answer came (a timeout, a refused connection, ...) */
	const char *body;       /* the start of the response body (at most HTTPRESP_BODY_MAX bytes) */
	size_t body_len;
	int64_t retry_after_ms; /* the answer's Retry-After as a wait; -1: none */
	uint64_t setup_us;      /* how long after start() the request itself went out (connection setup) */
	bool connected;         /* the request opened a connection (TCP, and TLS: a full handshake) */
};

/* What the transport tells the sender. */
struct transport_events {
	void (*done)(void *data, unsigned slot, const struct transport_result *r);
	/* after the `done` calls of one wake-up (possibly none): the moment to start more */
	void (*idle)(void *data);
	void *data;
};

struct transport_ops {
	/* NULL when out of memory (or the HTTP library cannot start). */
	void *(*create)(struct loop *l, const struct transport_events *ev);
	/* Requests still in flight are dropped without a `done`. */
	void (*destroy)(void *t);
	/* At least nslots slots from now on (slots are never taken away). Returns 0 or a negative errno. */
	int (*grow)(void *t, unsigned nslots);
	/* The endpoint, credentials and timeout for requests started from now on. o stays valid and
	 * unchanged until the next configure() or destroy(). */
	void (*configure)(void *t, const struct sender_opts *o);
	/* Sends body (which stays valid until the request's `done`) from a free slot. Returns 0, or a
	 * negative errno when the request could not start (then no `done` follows). */
	int (*start)(void *t, unsigned slot, const char *body, size_t len);
};

/* libcurl's multi_socket interface driven by the loop. */
extern const struct transport_ops transport_curl;

#endif
