/* Batches: a request body built in place, with the event boundaries and raw lines kept beside it so
 * that the sender can split it and the agent can dead-letter any single event.
 *
 * Size accounting is exact: the limit applies to the body as it will be sent, "]}" included. Room
 * for "]}" is reserved with every event so that batch_close() cannot fail. */
#include "batch.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"

#define BATCH_HEAD "{\"events\":["
#define BATCH_HEAD_LEN (sizeof(BATCH_HEAD) - 1)
#define BATCH_TAIL "]}"
#define BATCH_TAIL_LEN (sizeof(BATCH_TAIL) - 1)

struct batch_event {
	uint32_t body_off; /* the event's JSON object in body (after its separator) */
	uint32_t body_len;
	uint32_t line_off; /* its raw line in lines */
	uint32_t line_len;
	uint64_t offset;
	uint64_t end;
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
	void *owner;
};

struct batch *batch_new(size_t max_events, size_t max_bytes)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	buf_init(&b->body, 0);
	buf_init(&b->lines, 0);
	b->max_events = max_events;
	b->max_bytes = max_bytes;
	if (buf_append(&b->body, BATCH_HEAD, BATCH_HEAD_LEN) < 0 || buf_reserve(&b->body, BATCH_TAIL_LEN) < 0) {
		batch_free(b);
		return NULL;
	}
	return b;
}

void batch_reuse(struct batch *b, size_t max_events, size_t max_bytes)
{
	/* the buffers keep their capacity: the next batch of the same shape grows nothing */
	buf_reset(&b->body);
	buf_reset(&b->lines);
	(void)buf_append(&b->body, BATCH_HEAD, BATCH_HEAD_LEN); /* fits: the buffer held a batch */
	b->n = 0;
	b->max_events = max_events;
	b->max_bytes = max_bytes;
	b->closed = false;
	b->owner = NULL;
}

void batch_free(struct batch *b)
{
	if (!b)
		return;
	buf_free(&b->body);
	buf_free(&b->lines);
	free(b->ev);
	free(b);
}

static int ev_reserve(struct batch *b)
{
	struct batch_event *p;
	size_t cap;

	if (b->n < b->cap)
		return 0;
	cap = b->cap ? b->cap * 2 : 16;
	if (b->max_events && cap > b->max_events)
		cap = b->max_events;
	if (cap <= b->n)
		cap = b->n + 1;
	p = realloc(b->ev, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	b->ev = p;
	b->cap = cap;
	return 0;
}

/* Whether one more event of json_len bytes fits the limits (and the 32-bit offsets kept per event). */
static int event_fits(const struct batch *b, size_t json_len, size_t line_len)
{
	size_t sep = b->n > 0, room;

	if (b->closed)
		return -EINVAL;
	if (b->n >= b->max_events || b->max_bytes < BATCH_TAIL_LEN || b->body.len > b->max_bytes - BATCH_TAIL_LEN)
		return -E2BIG;
	room = b->max_bytes - BATCH_TAIL_LEN - b->body.len;
	if (json_len > room || sep > room - json_len)
		return -E2BIG;
	if (b->body.len + sep + json_len > UINT32_MAX || line_len > UINT32_MAX || b->lines.len > UINT32_MAX - line_len)
		return -E2BIG;
	return 0;
}

int batch_add_event(struct batch *b, const char *json, size_t json_len, const struct batch_line *l)
{
	size_t sep = b->n > 0, mark = b->body.len;
	struct batch_event *e;
	int r;

	if ((r = event_fits(b, json_len, l->len)) < 0)
		return r;
	if ((r = ev_reserve(b)) < 0)
		return r;
	if (!buf_fits(&b->body, sep + json_len + BATCH_TAIL_LEN) &&
	    (r = buf_reserve(&b->body, sep + json_len + BATCH_TAIL_LEN)) < 0)
		return r;
	if ((r = buf_append(&b->lines, l->line, l->len)) < 0)
		return r;
	/* cannot fail now: the room was reserved above */
	if (sep)
		(void)buf_putc(&b->body, ',');
	(void)buf_append(&b->body, json, json_len);
	e = &b->ev[b->n++];
	e->body_off = (uint32_t)(mark + sep);
	e->body_len = (uint32_t)json_len;
	e->line_off = (uint32_t)(b->lines.len - l->len);
	e->line_len = (uint32_t)l->len;
	e->offset = l->offset;
	e->end = l->end;
	e->src = l->src;
	return 0;
}

void batch_close(struct batch *b)
{
	if (b->closed)
		return;
	/* cannot fail: every event (and batch_new) reserved room for the tail */
	(void)buf_append(&b->body, BATCH_TAIL, BATCH_TAIL_LEN);
	b->closed = true;
}

bool batch_closed(const struct batch *b) { return b->closed; }

size_t batch_count(const struct batch *b) { return b->n; }

const char *batch_body(const struct batch *b, size_t *ret_len)
{
	*ret_len = b->body.len;
	return b->body.data;
}

struct batch_line batch_event_line(const struct batch *b, size_t i)
{
	const struct batch_event *e = &b->ev[i];

	return (struct batch_line){b->lines.data + e->line_off, e->line_len, e->offset, e->end, e->src};
}

void *batch_owner(const struct batch *b) { return b->owner; }

void batch_set_owner(struct batch *b, void *owner) { b->owner = owner; }

/* A closed batch of events [from, to) of b, from < to <= b->n. */
static struct batch *batch_slice(const struct batch *b, size_t from, size_t to)
{
	struct batch *p = batch_new(b->max_events, b->max_bytes);

	if (!p)
		return NULL;
	for (size_t i = from; i < to; i++) {
		const struct batch_event *e = &b->ev[i];
		struct batch_line l = batch_event_line(b, i);

		/* a subset of a batch that fit its limits fits the same limits */
		if (batch_add_event(p, b->body.data + e->body_off, e->body_len, &l) < 0) {
			batch_free(p);
			return NULL;
		}
	}
	p->owner = b->owner;
	batch_close(p);
	return p;
}

int batch_split(const struct batch *b, struct batch **ret_first, struct batch **ret_second)
{
	struct batch *first, *second;

	if (!b->closed || b->n < 2)
		return -EINVAL;
	first = batch_slice(b, 0, b->n / 2);
	second = batch_slice(b, b->n / 2, b->n);
	if (!first || !second) {
		batch_free(first);
		batch_free(second);
		return -ENOMEM;
	}
	*ret_first = first;
	*ret_second = second;
	return 0;
}
