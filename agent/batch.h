/* A batch: one request body being built or sent, plus what is needed to dead-letter any of its events
 * (the raw line, its offset, its source file) and to split it (event boundaries in the body).
 *
 * Body layout: {"events":[E0,E1,...]}  -- counted exactly as sent; batch_close() appends "]}".
 * Ownership: the agent owns a batch while building it; sender_submit() hands it to the sender, which
 * owns it until the `delivered` callback, which frees it. */
#ifndef ONSIDE_BATCH_H
#define ONSIDE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define BATCH_HEAD "{\"events\":["
#define BATCH_HEAD_LEN 11
#define BATCH_TAIL "]}"
#define BATCH_TAIL_LEN 2

struct batch_event {
	uint32_t body_off; /* the event's JSON object in body */
	uint32_t body_len;
	uint32_t line_off; /* its raw line in lines */
	uint32_t line_len;
	uint64_t offset; /* byte offset of the line in its file */
	uint64_t end;    /* just past its LF */
	void *src;       /* where the line came from (opaque here) */
};

/* The line an event was made from: what dead-lettering the event alone needs. */
struct batch_line {
	const char *line;
	size_t len;
	uint64_t offset, end;
	void *src;
};

struct batch {
	struct buf body;
	struct buf lines;
	struct batch_event *ev;
	size_t n;
	size_t cap;
	size_t max_events;
	size_t max_bytes;
	bool closed;
	void *owner; /* opaque for the agent (completion tracking); copied into split halves */
};

struct batch *batch_new(size_t max_events, size_t max_bytes);
void batch_free(struct batch *b);
/* Empties a batch (delivered, no longer referenced) for reuse as a new one, keeping its buffers. */
void batch_reuse(struct batch *b, size_t max_events, size_t max_bytes);

/* Starts an event: writes the separator and returns the mark to pass to commit/abort. The caller
 * then appends the event's JSON object to b->body. */
size_t batch_event_begin(struct batch *b);
/* Finishes the event started at mark. Returns 0, or -E2BIG when it does not fit (max_events, or the
 * body with "]}" would exceed max_bytes); the event is then rolled back and the batch unchanged. */
int batch_event_commit(struct batch *b, size_t mark, const struct batch_line *l);
void batch_event_abort(struct batch *b, size_t mark);
/* Appends an already serialized event object (used when moving an event that did not fit). */
int batch_add_event(struct batch *b, const char *json, size_t json_len, const struct batch_line *l);
/* The body bytes with "]}" counted: what would be sent if closed now. */
static inline size_t batch_size(const struct batch *b) { return b->body.len + (b->closed ? 0 : BATCH_TAIL_LEN); }
void batch_close(struct batch *b);

/* Splits a closed batch of n >= 2 events into two closed halves (first n/2, the rest), same owner. */
int batch_split(const struct batch *b, struct batch **ret_first, struct batch **ret_second);
/* A closed batch of events [from, to) of b. */
struct batch *batch_slice(const struct batch *b, size_t from, size_t to);

static inline const char *batch_line(const struct batch *b, size_t i, size_t *ret_len)
{
	*ret_len = b->ev[i].line_len;
	return b->lines.data + b->ev[i].line_off;
}

#endif
