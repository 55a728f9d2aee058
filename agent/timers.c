/* The timer list of timers.h, shared by the real loop (loop.c) and the fuzzers' virtual-clock loop
 * (tests/fuzz/fake_loop.c), so that the two cannot drift apart in the order timers fire.
 *
 * Invariants:
 * - v[] is sorted by (when, id). While held, deleting a timer only marks it dead; dead timers are
 *   reaped by timers_release, so indices never shift under a running callback's feet.
 * - A timer's pass is the dispatch pass it last fired in: it fires at most once per pass, even when
 *   its callback re-arms it for a deadline that is already due.
 * - The clock is only ever read through the caller's now_ms (or the time it hands in). */
#include "timers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct timer {
	uint64_t id;
	uint64_t when; /* deadline in the caller's clock, ms */
	uint64_t pass;
	timers_cb cb;
	void *data;
	bool dead;
};

void timers_free(struct timers *ts)
{
	free(ts->v);
	*ts = (struct timers){0};
}

static uint64_t deadline(uint64_t now_ms, int64_t ms) { return now_ms + (uint64_t)(ms > 0 ? ms : 0); }

static struct timer *timer_find(struct timers *ts, uint64_t id, size_t *ret_idx)
{
	for (size_t i = 0; i < ts->n; i++) {
		if (ts->v[i].id == id && !ts->v[i].dead) {
			*ret_idx = i;
			return &ts->v[i];
		}
	}
	return NULL;
}

/* Inserts t keeping v[] sorted by (when, id); room must exist. */
static void timer_insert(struct timers *ts, const struct timer *t)
{
	size_t i = ts->n;

	while (i > 0 && (ts->v[i - 1].when > t->when || (ts->v[i - 1].when == t->when && ts->v[i - 1].id > t->id)))
		i--;
	memmove(&ts->v[i + 1], &ts->v[i], (ts->n - i) * sizeof(*t));
	ts->v[i] = *t;
	ts->n++;
}

static void timer_remove_at(struct timers *ts, size_t i)
{
	memmove(&ts->v[i], &ts->v[i + 1], (ts->n - i - 1) * sizeof(ts->v[0]));
	ts->n--;
}

/* Moves the live timer at index i to fire at `when`. Moving an entry keeps every index before the
 * smaller of the two positions intact, which is all dispatch relies on (it rescans from 0). */
static void timer_move(struct timers *ts, size_t i, uint64_t when)
{
	struct timer t = ts->v[i];

	timer_remove_at(ts, i);
	t.when = when;
	timer_insert(ts, &t);
}

uint64_t timers_add(struct timers *ts, uint64_t now_ms, int64_t ms, timers_cb cb, void *data)
{
	struct timer t = {.id = ts->last_id + 1, .when = deadline(now_ms, ms), .cb = cb, .data = data};

	if (!cb)
		return 0;
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 8;
		struct timer *p = realloc(ts->v, cap * sizeof(*p));

		if (!p)
			return 0;
		ts->v = p;
		ts->cap = cap;
	}
	ts->last_id = t.id;
	timer_insert(ts, &t);
	return t.id;
}

int timers_reset(struct timers *ts, uint64_t now_ms, uint64_t id, int64_t ms)
{
	size_t i;

	if (!timer_find(ts, id, &i))
		return -ENOENT;
	timer_move(ts, i, deadline(now_ms, ms));
	return 0;
}

int timers_del(struct timers *ts, uint64_t id)
{
	size_t i;

	if (!timer_find(ts, id, &i))
		return -ENOENT;
	if (ts->held)
		ts->v[i].dead = true;
	else
		timer_remove_at(ts, i);
	return 0;
}

uint64_t timers_next_deadline(const struct timers *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		if (!ts->v[i].dead)
			return ts->v[i].when;
	return 0;
}

void timers_hold(struct timers *ts) { ts->held = true; }

/* The first live timer due by now that has not fired in this pass, or NULL. */
static struct timer *next_due(struct timers *ts, uint64_t now)
{
	for (size_t i = 0; i < ts->n && ts->v[i].when <= now; i++)
		if (!ts->v[i].dead && ts->v[i].pass != ts->pass)
			return &ts->v[i];
	return NULL;
}

void timers_dispatch(struct timers *ts, timers_clock now_ms, struct loop *l)
{
	uint64_t now = now_ms();
	struct timer *t;

	ts->pass++;
	while ((t = next_due(ts, now))) {
		uint64_t id = t->id;
		int64_t next;
		size_t i;

		t->pass = ts->pass;
		/* the callback may add timers, which can move the array: t is invalid after this */
		next = t->cb(l, t->data);
		if (!timer_find(ts, id, &i))
			continue; /* deleted by its own callback */
		if (next < 0)
			ts->v[i].dead = true;
		else
			timer_move(ts, i, deadline(now_ms(), next));
	}
}

void timers_release(struct timers *ts)
{
	size_t j = 0;

	for (size_t i = 0; i < ts->n; i++)
		if (!ts->v[i].dead)
			ts->v[j++] = ts->v[i];
	ts->n = j;
	ts->held = false;
}
