/* The loop of loop.h with a virtual clock (see fake_loop.h). Its timers are the real loop's own list
 * (agent/timers.c) on this clock: kept sorted by (deadline, id) in milliseconds, each fires at most
 * once per dispatch pass, one deleted while timers are dispatched is only marked dead (and never
 * fires), and a callback's result re-arms or ends it. */
#include "fake_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "timers.h"

struct loop {
	struct timers timers;
	bool stop;
	loop_hook_cb before_sleep;
	void *before_sleep_data;
};

static uint64_t clock_us = FAKE_LOOP_EPOCH_US;

void fake_loop_set_clock(uint64_t us) { clock_us = us; }

uint64_t loop_now_us(void) { return clock_us; }

uint64_t loop_now_ms(void) { return clock_us / 1000; }

struct loop *loop_new(void) { return calloc(1, sizeof(struct loop)); }

void loop_free(struct loop *l)
{
	if (!l)
		return;
	timers_free(&l->timers);
	free(l);
}

int loop_add_fd(struct loop *l, int fd, int mask, loop_fd_cb cb, void *data) { return fd < 0 ? -EBADF : 0; }

int loop_mod_fd(struct loop *l, int fd, int mask) { return fd < 0 ? -EBADF : 0; }

int loop_del_fd(struct loop *l, int fd) { return fd < 0 ? -EBADF : 0; }

uint64_t loop_add_timer(struct loop *l, int64_t ms, loop_timer_cb cb, void *data)
{
	return timers_add(&l->timers, loop_now_ms(), ms, cb, data);
}

int loop_reset_timer(struct loop *l, uint64_t id, int64_t ms)
{
	return timers_reset(&l->timers, loop_now_ms(), id, ms);
}

int loop_del_timer(struct loop *l, uint64_t id) { return timers_del(&l->timers, id); }

void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *data)
{
	l->before_sleep = cb;
	l->before_sleep_data = data;
}

void loop_stop(struct loop *l) { l->stop = true; }

void loop_dont_wait(struct loop *l) {}

void fake_loop_advance(struct loop *l, uint64_t us)
{
	if (us > clock_us)
		clock_us = us;
	timers_hold(&l->timers);
	timers_dispatch(&l->timers, loop_now_ms, l);
	timers_release(&l->timers);
}

uint64_t fake_loop_next_timer(const struct loop *l) { return timers_next_deadline(&l->timers); }

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
