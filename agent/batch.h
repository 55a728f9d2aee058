/* A batch: one request body being built or sent, plus what is needed to dead-letter any of its events
 * (the raw line, its offset, its source file) and to split it (event boundaries in the body).
 *
 * Body layout: {"events":[E0,E1,...]}  -- counted exactly as sent; batch_close() appends "]}".
 * Ownership: the agent owns a batch while building it; sender_submit() hands it to the sender, which
 * owns it until the `delivered` callback, which frees it (or keeps it for batch_reuse). */
#ifndef ONSIDE_BATCH_H
#define ONSIDE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The line an event was made from: what dead-lettering the event alone needs. */
struct batch_line {
	const char *line;
	size_t len;
	uint64_t offset, end; /* the line's byte offset in its file, and just past its LF */
	void *src;            /* where the line came from (opaque here) */
};

struct batch;

struct batch *batch_new(size_t max_events, size_t max_bytes);
void batch_free(struct batch *b);
/* Empties a batch (delivered, no longer referenced) for reuse as a new one, keeping its buffers. */
void batch_reuse(struct batch *b, size_t max_events, size_t max_bytes);

/* Appends a serialized event object and the line it was made from. Returns 0; -E2BIG when it does not
 * fit (max_events, or the body with "]}" would exceed max_bytes), -EINVAL when b is closed, -ENOMEM;
 * on failure b is unchanged. */
int batch_add_event(struct batch *b, const char *json, size_t json_len, const struct batch_line *l);
/* Ends the body with "]}" (cannot fail: room for it is kept); nothing can be added after. */
void batch_close(struct batch *b);
bool batch_closed(const struct batch *b);

/* Events in the batch. */
size_t batch_count(const struct batch *b);
/* The body written so far (all of it, as sent, once closed); NUL-terminated. */
const char *batch_body(const struct batch *b, size_t *ret_len);
/* The line event i (< batch_count) was made from; valid while b is unchanged. */
struct batch_line batch_event_line(const struct batch *b, size_t i);

/* Opaque for the agent (its completion token); copied into split halves, NULL in a new batch. */
void *batch_owner(const struct batch *b);
void batch_set_owner(struct batch *b, void *owner);

/* Splits a closed batch of n >= 2 events into two closed halves (the first n/2 events, the rest), with
 * its owner and limits. Returns 0, -EINVAL (open, or fewer than 2 events) or -ENOMEM. */
int batch_split(const struct batch *b, struct batch **ret_first, struct batch **ret_second);

#endif
