/* Delivery to the Onside API over libcurl's multi interface driven by the loop (transport_curl.c),
 * or any other transport (transport.h). It applies docs/reference.md ("Answers of the API"): 204 delivers, and nothing else
 * does; 400 splits the batch until each rejected event stands alone and reports it; 413 splits (a
 * lone event that is too large is reported); 429 waits for Retry-After or backs off; anything else
 * (other 2xx, 401/403/404/5xx, timeouts, connection errors) backs off exponentially with jitter and
 * retries forever. No wait is shorter than initial_backoff, whatever Retry-After says. How many
 * requests are on the wire at once is fixed, or adapts to round trips and back pressure (concurrency.h). */
#ifndef ONSIDE_SENDER_H
#define ONSIDE_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "httpresp.h"
#include "loop.h"

#define CONCURRENCY_DEFAULT 32 /* the adaptive ceiling when none is configured */

struct sender_opts {
	const char *url;
	const char *username;
	const char *password; /* never logged */
	const char *ca_file;  /* NULL: the system's CA store */
	const char *proxy;    /* NULL: the environment's (https_proxy, ...); "": none. Never logged */
	uint64_t timeout_ms;
	unsigned max_in_flight;         /* a fixed concurrency, or 0: adaptive (concurrency.h) */
	unsigned max_in_flight_ceiling; /* the adaptive concurrency's ceiling (0: CONCURRENCY_DEFAULT) */
	uint64_t initial_backoff_ms;
	uint64_t max_backoff_ms;
	uint64_t jitter_seed; /* 0: from the clock and the process id (agents started together spread);
			       * tests give one to replay the same waits */
};

struct sender_cbs {
	/* The submitted batch b is resolved: every event is accepted (204) or was reported through
	 * `rejected`. Ownership of b passes to the callback. */
	void (*delivered)(struct batch *b, void *data);
	/* Event i of b (a piece of a submitted batch, with its owner) was rejected alone by the
	 * server with this status and response body: dead-letter it. b is only valid during the call.
	 * Returns 0, or a negative errno when the event could not be dead-lettered: its batch then never
	 * resolves (it is not `delivered`), so that nothing records it as done. */
	int (*rejected)(const struct batch *b, size_t i, long status, const char *body, size_t body_len,
			void *data);
	void *data;
	/* A request failed and its events wait to be sent again (status 0: a transport error). The
	 * stats already count it (consecutive_failures, next_retry_ms). May be NULL. 401, 403, 404 and
	 * 405 are not logged by the sender: whoever sets this tells them, with their fix. */
	void (*failed)(long status, void *data);
};

/* Counters for metrics and SIGUSR1. */
struct sender_stats {
	uint64_t requests_total;
	uint64_t requests_by_class[HTTPRESP_ST_COUNT]; /* index: HTTPRESP_ST_* */
	uint64_t retries;
	uint64_t events_delivered;
	uint64_t events_rejected;
	uint64_t in_flight;
	uint64_t concurrency_limit; /* requests allowed on the wire now */
	uint64_t rtt_us;            /* the baseline round trip of accepted requests, 0 = none yet */
	double rate_cap;            /* requests per second allowed after 429s, 0 = no cap */
	int64_t last_success_unix; /* 0 = never */
	long last_status;          /* last HTTP status, 0 = transport error */
	char last_error[256];      /* last failure, "" after a success */
	unsigned consecutive_failures; /* failed requests since the server last answered otherwise */
	uint64_t failing_since_ms;     /* loop_now_ms() of the first of them; 0 = not failing */
	uint64_t next_retry_ms;        /* loop_now_ms() when the wait before the next attempt ends; 0 = none */
};

struct transport_ops;

/* The strings in opts are copied. Returns NULL on allocation failure (or curl init failure). */
struct sender *sender_new(struct loop *l, const struct sender_opts *opts, const struct sender_cbs *cbs);
/* The same over another transport than libcurl's (transport.h): a test's or the fuzzer's. */
struct sender *sender_new_with(struct loop *l, const struct sender_opts *opts, const struct sender_cbs *cbs,
			       const struct transport_ops *transport);
void sender_free(struct sender *s); /* aborts anything in flight (batches are freed, not delivered) */
/* Takes ownership of a closed batch. It is sent when the concurrency limit allows. */
int sender_submit(struct sender *s, struct batch *b);
/* Submitted batches not yet delivered (queued, in flight, waiting to retry, or split pieces). */
size_t sender_pending(const struct sender *s);
/* Nothing in flight and waiting out a backoff: a stopping agent need not wait for it. */
bool sender_backing_off(const struct sender *s);
/* Requests on the wire now. */
size_t sender_in_flight(const struct sender *s);
/* Requests allowed on the wire now: the fixed max_in_flight, or where the adaptive limit stands. */
size_t sender_limit(const struct sender *s);
/* New credentials/url/timeouts for the next request (reload). */
int sender_set_opts(struct sender *s, const struct sender_opts *opts);
const struct sender_stats *sender_stats(const struct sender *s);

#endif
