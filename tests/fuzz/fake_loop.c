/* The loop of loop.h with a virtual clock (see fake_loop.h). Timers follow loop.c: kept sorted by
 * (deadline, id) in milliseconds, each fires at most once per dispatch pass, one deleted while timers
 * are dispatched is only marked dead (and never fires), and a callback's result re-arms or ends it. */
#include "fake_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct fake_timer {
	uint64_t id, when, pass;
	loop_timer_cb cb;
	void *data;
	bool dead;
};

struct loop {
	struct fake_timer *timers;
	size_t n, cap;
	uint64_t next_id, pass, slept_us;
	bool dispatching, stop;
	loop_hook_cb before_sleep;
	void *before_sleep_data;
};

static uint64_t clock_us = FAKE_LOOP_EPOCH_US;

void fake_loop_set_clock(uint64_t us) { clock_us = us; }

uint64_t loop_now_us(void) { return clock_us; }

uint64_t loop_now_ms(void) { return clock_us / 1000; }

uint64_t loop_slept_us(const struct loop *l) { return l->slept_us; }

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l)
		l->next_id = 1;
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	free(l->timers);
	free(l);
}

int loop_add_fd(struct loop *l, int fd, int mask, loop_fd_cb cb, void *data) { return fd < 0 ? -EBADF : 0; }

int loop_mod_fd(struct loop *l, int fd, int mask) { return fd < 0 ? -EBADF : 0; }

int loop_del_fd(struct loop *l, int fd) { return fd < 0 ? -EBADF : 0; }

static struct fake_timer *timer_find(struct loop *l, uint64_t id, size_t *ret_i)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->timers[i].id == id && !l->timers[i].dead) {
			*ret_i = i;
			return &l->timers[i];
		}
	}
	return NULL;
}

static void timer_insert(struct loop *l, const struct fake_timer *t)
{
	size_t i = l->n;

	while (i > 0 && (l->timers[i - 1].when > t->when || (l->timers[i - 1].when == t->when && l->timers[i - 1].id > t->id)))
		i--;
	memmove(&l->timers[i + 1], &l->timers[i], (l->n - i) * sizeof(*t));
	l->timers[i] = *t;
	l->n++;
}

static void timer_remove_at(struct loop *l, size_t i)
{
	memmove(&l->timers[i], &l->timers[i + 1], (l->n - i - 1) * sizeof(l->timers[0]));
	l->n--;
}

static uint64_t deadline(int64_t ms) { return loop_now_ms() + (uint64_t)(ms > 0 ? ms : 0); }

uint64_t loop_add_timer(struct loop *l, int64_t ms, loop_timer_cb cb, void *data)
{
	struct fake_timer t = {.id = l->next_id, .when = deadline(ms), .cb = cb, .data = data};

	if (!cb)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct fake_timer *p = realloc(l->timers, cap * sizeof(*p));

		if (!p)
			return 0;
		l->timers = p;
		l->cap = cap;
	}
	l->next_id++;
	timer_insert(l, &t);
	return t.id;
}

static void timer_move(struct loop *l, size_t i, uint64_t when)
{
	struct fake_timer t = l->timers[i];

	timer_remove_at(l, i);
	t.when = when;
	timer_insert(l, &t);
}

int loop_reset_timer(struct loop *l, uint64_t id, int64_t ms)
{
	size_t i;

	if (!timer_find(l, id, &i))
		return -ENOENT;
	timer_move(l, i, deadline(ms));
	return 0;
}

int loop_del_timer(struct loop *l, uint64_t id)
{
	size_t i;

	if (!timer_find(l, id, &i))
		return -ENOENT;
	if (l->dispatching)
		l->timers[i].dead = true;
	else
		timer_remove_at(l, i);
	return 0;
}

void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *data)
{
	l->before_sleep = cb;
	l->before_sleep_data = data;
}

void loop_stop(struct loop *l) { l->stop = true; }

void loop_dont_wait(struct loop *l) {}

static void reap(struct loop *l)
{
	size_t j = 0;

	for (size_t i = 0; i < l->n; i++)
		if (!l->timers[i].dead)
			l->timers[j++] = l->timers[i];
	l->n = j;
}

static void timers_dispatch(struct loop *l)
{
	uint64_t now = loop_now_ms();

	l->dispatching = true;
	l->pass++;
	for (;;) {
		struct fake_timer *t = NULL;
		uint64_t id;
		int64_t next;
		size_t i;

		for (i = 0; i < l->n && l->timers[i].when <= now; i++) {
			if (!l->timers[i].dead && l->timers[i].pass != l->pass) {
				t = &l->timers[i];
				break;
			}
		}
		if (!t)
			break;
		t->pass = l->pass;
		id = t->id;
		next = t->cb(l, t->data); /* may add timers: t is invalid after this */
		if (!timer_find(l, id, &i))
			continue;
		if (next < 0)
			l->timers[i].dead = true;
		else
			timer_move(l, i, deadline(next));
	}
	l->dispatching = false;
	reap(l);
}

void fake_loop_advance(struct loop *l, uint64_t us)
{
	if (us > clock_us) {
		l->slept_us += us - clock_us;
		clock_us = us;
	}
	timers_dispatch(l);
}

uint64_t fake_loop_next_timer(const struct loop *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (!l->timers[i].dead)
			return l->timers[i].when;
	return 0;
}

/* Sleeps to each next timer until loop_stop or no timer is left. */
int loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop) {
		uint64_t when;

		if (l->before_sleep)
			l->before_sleep(l, l->before_sleep_data);
		if (l->stop || !(when = fake_loop_next_timer(l)))
			break;
		fake_loop_advance(l, when * 1000);
	}
	return 0;
}
