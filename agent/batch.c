/* Batches: a request body built in place, with the event boundaries and raw lines kept beside it so
 * that the sender can split it and the agent can dead-letter any single event.
 *
 * Size accounting is exact: the limit applies to the body as it will be sent, "]}" included. Room
 * for "]}" is reserved after every commit so that batch_close() cannot fail. */
#include "batch.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>


struct batch *batch_new(size_t max_events, size_t max_bytes)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	buf_init(&b->body, 0);
	buf_init(&b->lines, 0);
	b->max_events = max_events;
	b->max_bytes = max_bytes;
	if (buf_puts(&b->body, BATCH_HEAD) < 0 || buf_reserve(&b->body, BATCH_TAIL_LEN) < 0) {
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

size_t batch_event_begin(struct batch *b)
{
	size_t mark = b->body.len;

	/* a failed separator is caught by batch_event_commit (it checks the byte at mark) */
	if (b->n > 0)
		(void)buf_putc(&b->body, ',');
	return mark;
}

void batch_event_abort(struct batch *b, size_t mark) { buf_truncate(&b->body, mark); }

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

int batch_event_commit(struct batch *b, size_t mark, const struct batch_line *l)
{
	size_t start = mark + (b->n > 0 ? 1 : 0);
	struct batch_event *e;
	int r = -E2BIG;

	if (b->closed || mark > b->body.len || start > b->body.len) {
		r = -EINVAL;
		goto fail;
	}
	if (b->n > 0 && b->body.data[mark] != ',') {
		r = -ENOMEM; /* batch_event_begin could not write the separator */
		goto fail;
	}
	if (b->n >= b->max_events || b->body.len + BATCH_TAIL_LEN > b->max_bytes)
		goto fail;
	if (b->body.len > UINT32_MAX || l->len > UINT32_MAX || b->lines.len > UINT32_MAX - l->len)
		goto fail;
	if ((r = ev_reserve(b)) < 0 || (r = buf_reserve(&b->body, BATCH_TAIL_LEN)) < 0)
		goto fail;
	e = &b->ev[b->n];
	e->line_off = (uint32_t)b->lines.len;
	if ((r = buf_append(&b->lines, l->line, l->len)) < 0)
		goto fail;
	e->body_off = (uint32_t)start;
	e->body_len = (uint32_t)(b->body.len - start);
	e->line_len = (uint32_t)l->len;
	e->offset = l->offset;
	e->end = l->end;
	e->src = l->src;
	b->n++;
	return 0;
fail:
	buf_truncate(&b->body, mark);
	return r;
}

int batch_add_event(struct batch *b, const char *json, size_t json_len, const struct batch_line *l)
{
	size_t mark = batch_event_begin(b);
	int r = buf_append(&b->body, json, json_len);

	if (r < 0) {
		batch_event_abort(b, mark);
		return r;
	}
	return batch_event_commit(b, mark, l);
}

void batch_close(struct batch *b)
{
	if (b->closed)
		return;
	/* cannot fail: every commit (and batch_new) reserved room for the tail */
	(void)buf_append(&b->body, BATCH_TAIL, BATCH_TAIL_LEN);
	b->closed = true;
}

struct batch *batch_slice(const struct batch *b, size_t from, size_t to)
{
	struct batch *p;

	if (from >= to || to > b->n)
		return NULL;
	p = batch_new(b->max_events, b->max_bytes);
	if (!p)
		return NULL;
	for (size_t i = from; i < to; i++) {
		const struct batch_event *e = &b->ev[i];
		struct batch_line l = {b->lines.data + e->line_off, e->line_len, e->offset, e->end, e->src};

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
