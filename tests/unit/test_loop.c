/* The event loop: fd readiness, timer order/re-arm/stop, removal during dispatch, the before-sleep
 * hook and loop_stop. Every run ends on a condition reached by callbacks; a guard timer stops a run
 * that would otherwise hang and the test then fails on its assertions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

#define GUARD_MS 5000

static int64_t guard_cb(struct loop *l, void *data)
{
	*(int *)data = 1;
	loop_stop(l);
	return LOOP_TIMER_STOP;
}

struct rec {
	int fired;
	int fd;
	int events;
	char byte;
};

static void read_cb(struct loop *l, int fd, int events, void *data)
{
	struct rec *r = data;

	r->fired++;
	r->fd = fd;
	r->events = events;
	if (read(fd, &r->byte, 1) != 1)
		r->byte = 0;
	loop_stop(l);
}

static void test_fd_readiness(void **state)
{
	struct loop *l = loop_new();
	struct rec r = {0};
	int p[2], timed_out = 0;

	assert_non_null(l);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(loop_add_fd(l, p[0], LOOP_READ, read_cb, &r), 0);
	loop_add_timer(l, GUARD_MS, guard_cb, &timed_out);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(timed_out, 0);
	assert_int_equal(r.fired, 1);
	assert_int_equal(r.fd, p[0]);
	assert_true(r.events & LOOP_READ);
	assert_int_equal(r.byte, 'x');

	/* a second run sees the next write, so one run's stop does not leak into the next */
	assert_int_equal(write(p[1], "y", 1), 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(r.fired, 2);
	assert_int_equal(r.byte, 'y');

	assert_int_equal(loop_del_fd(l, p[0]), 0);
	assert_int_equal(loop_del_fd(l, p[0]), -ENOENT);
	assert_int_equal(loop_mod_fd(l, p[0], LOOP_READ), -ENOENT);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

static void write_cb(struct loop *l, int fd, int events, void *data)
{
	struct rec *r = data;

	r->fired++;
	r->events = events;
	loop_stop(l);
}

static void test_fd_write_and_mod(void **state)
{
	struct loop *l = loop_new();
	struct rec r = {0};
	int p[2], timed_out = 0;

	assert_int_equal(pipe(p), 0);
	/* an empty pipe's write end is writable at once */
	assert_int_equal(loop_add_fd(l, p[1], LOOP_WRITE, write_cb, &r), 0);
	loop_add_timer(l, GUARD_MS, guard_cb, &timed_out);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(r.fired, 1);
	assert_int_equal(r.events, LOOP_WRITE);

	/* mask 0 pauses the fd: only the guard (short now) ends the run */
	assert_int_equal(loop_mod_fd(l, p[1], 0), 0);
	loop_add_timer(l, 50, guard_cb, &timed_out);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(timed_out, 1);
	assert_int_equal(r.fired, 1);

	assert_int_equal(loop_mod_fd(l, p[1], LOOP_WRITE), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(r.fired, 2);
	loop_del_fd(l, p[1]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

static void test_fd_closed_and_reused_without_delete(void **state)
{
	struct loop *l = loop_new();
	struct rec r = {0};
	int a[2], b[2], timed_out = 0;

	assert_int_equal(pipe(a), 0);
	assert_int_equal(loop_add_fd(l, a[0], LOOP_READ, read_cb, &r), 0);
	/* closed behind the loop's back: the kernel drops it from the epoll set */
	close(a[0]);
	assert_int_equal(pipe(b), 0);
	assert_int_equal(b[0], a[0]);
	assert_int_equal(loop_add_fd(l, b[0], LOOP_READ, read_cb, &r), 0);
	loop_add_timer(l, GUARD_MS, guard_cb, &timed_out);
	assert_int_equal(write(b[1], "z", 1), 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(timed_out, 0);
	assert_int_equal(r.byte, 'z');
	loop_del_fd(l, b[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	loop_free(l);
}

struct order {
	int seq[16];
	int n;
	int stop_after;
};

struct tagged {
	struct order *o;
	int tag;
};

static int64_t order_cb(struct loop *l, void *data)
{
	struct tagged *t = data;

	t->o->seq[t->o->n++] = t->tag;
	if (t->o->n == t->o->stop_after)
		loop_stop(l);
	return LOOP_TIMER_STOP;
}

static void test_timers_fire_in_deadline_order(void **state)
{
	struct loop *l = loop_new();
	struct order o = {.stop_after = 5};
	const int64_t ms[5] = {40, 10, 30, 0, 20};
	struct tagged t[5];
	int timed_out = 0;

	for (int i = 0; i < 5; i++) {
		t[i] = (struct tagged){&o, (int)ms[i]};
		assert_true(loop_add_timer(l, ms[i], order_cb, &t[i]) > 0);
	}
	loop_add_timer(l, GUARD_MS, guard_cb, &timed_out);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(timed_out, 0);
	assert_int_equal(o.n, 5);
	assert_int_equal(o.seq[0], 0);
	assert_int_equal(o.seq[1], 10);
	assert_int_equal(o.seq[2], 20);
	assert_int_equal(o.seq[3], 30);
	assert_int_equal(o.seq[4], 40);
	loop_free(l);
}

struct rearm {
	uint64_t at[8];
	int n;
};

static int64_t rearm_cb(struct loop *l, void *data)
{
	struct rearm *r = data;

	r->at[r->n++] = loop_now_ms();
	return r->n < 4 ? 15 : LOOP_TIMER_STOP;
}

static void test_timer_rearm_and_stop(void **state)
{
	struct loop *l = loop_new();
	struct rearm r = {0};
	uint64_t id;
	int done = 0;

	id = loop_add_timer(l, 5, rearm_cb, &r);
	assert_true(id > 0);
	/* long enough for a stopped timer to have fired again several times */
	loop_add_timer(l, 150, guard_cb, &done);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(done, 1);
	assert_int_equal(r.n, 4);
	for (int i = 1; i < 4; i++)
		assert_true(r.at[i] - r.at[i - 1] >= 15);
	/* gone after returning LOOP_TIMER_STOP */
	assert_int_equal(loop_reset_timer(l, id, 10), -ENOENT);
	assert_int_equal(loop_del_timer(l, id), -ENOENT);
	loop_free(l);
}

static void test_timer_reset_and_delete(void **state)
{
	struct loop *l = loop_new();
	struct order o = {.stop_after = 2};
	struct tagged a = {&o, 1}, b = {&o, 2}, c = {&o, 3};
	uint64_t ida, idc;
	int timed_out = 0;

	ida = loop_add_timer(l, 10, order_cb, &a);
	loop_add_timer(l, 30, order_cb, &b);
	idc = loop_add_timer(l, 20, order_cb, &c);
	/* a moves after b; c never fires */
	assert_int_equal(loop_reset_timer(l, ida, 60), 0);
	assert_int_equal(loop_del_timer(l, idc), 0);
	loop_add_timer(l, GUARD_MS, guard_cb, &timed_out);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(timed_out, 0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.seq[0], 2);
	assert_int_equal(o.seq[1], 1);
	loop_free(l);
}

/* Deletion during dispatch: whichever of two ready fds is dispatched first removes the other,
 * closes it and registers a fresh (empty) pipe that reuses its fd number. The stale event fetched
 * for the old fd must reach neither the old nor the new callback. */
struct pair {
	int rd[2];
	int wr[2];
	int fired[2];
	int fresh_fired;
	int fresh[2];
};

static void fresh_cb(struct loop *l, int fd, int events, void *data)
{
	((struct pair *)data)->fresh_fired++;
}

static void pair_cb(struct loop *l, int fd, int events, void *data)
{
	struct pair *p = data;
	int me = fd == p->rd[0] ? 0 : 1, other = 1 - me;

	p->fired[me]++;
	if (p->fired[other] || p->fresh[0])
		return;
	assert_int_equal(loop_del_fd(l, p->rd[other]), 0);
	close(p->rd[other]);
	assert_int_equal(pipe(p->fresh), 0);
	assert_int_equal(p->fresh[0], p->rd[other]); /* the lowest free number is reused */
	assert_int_equal(loop_add_fd(l, p->fresh[0], LOOP_READ, fresh_cb, p), 0);
	p->rd[other] = -1;
	loop_stop(l);
}

static void test_fd_delete_during_dispatch(void **state)
{
	struct loop *l = loop_new();
	struct pair p = {0};
	int a[2], b[2];

	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	p.rd[0] = a[0];
	p.rd[1] = b[0];
	p.wr[0] = a[1];
	p.wr[1] = b[1];
	assert_int_equal(loop_add_fd(l, a[0], LOOP_READ, pair_cb, &p), 0);
	assert_int_equal(loop_add_fd(l, b[0], LOOP_READ, pair_cb, &p), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(p.fired[0] + p.fired[1], 1);
	assert_int_equal(p.fresh_fired, 0);

	loop_del_fd(l, p.fresh[0]);
	for (int i = 0; i < 2; i++)
		if (p.rd[i] >= 0) {
			loop_del_fd(l, p.rd[i]);
			close(p.rd[i]);
		}
	close(a[1]);
	close(b[1]);
	close(p.fresh[0]);
	close(p.fresh[1]);
	loop_free(l);
}

struct killer {
	uint64_t victim;
	uint64_t self;
	int fired_self;
	int fired_victim;
};

static int64_t victim_cb(struct loop *l, void *data)
{
	((struct killer *)data)->fired_victim++;
	return LOOP_TIMER_STOP;
}

static int64_t killer_cb(struct loop *l, void *data)
{
	struct killer *k = data;

	k->fired_self++;
	assert_int_equal(loop_del_timer(l, k->victim), 0);
	/* deleting itself wins over the interval it returns */
	assert_int_equal(loop_del_timer(l, k->self), 0);
	return 5;
}

static void test_timer_delete_during_dispatch(void **state)
{
	struct loop *l = loop_new();
	struct killer k = {0};
	int done = 0;

	/* same deadline: the lower id (the killer) is dispatched first */
	k.self = loop_add_timer(l, 0, killer_cb, &k);
	k.victim = loop_add_timer(l, 0, victim_cb, &k);
	loop_add_timer(l, 60, guard_cb, &done);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(done, 1);
	assert_int_equal(k.fired_self, 1);
	assert_int_equal(k.fired_victim, 0);
	loop_free(l);
}

struct hook {
	int calls;
	int fires;
	int stop_in_hook;
};

static void hook_cb(struct loop *l, void *data)
{
	struct hook *h = data;

	h->calls++;
	if (h->stop_in_hook)
		loop_stop(l);
}

static int64_t tick_cb(struct loop *l, void *data)
{
	struct hook *h = data;

	if (++h->fires == 3) {
		loop_stop(l);
		return LOOP_TIMER_STOP;
	}
	return 20;
}

static void test_before_sleep_hook(void **state)
{
	struct loop *l = loop_new();
	struct hook h = {0};

	loop_set_before_sleep(l, hook_cb, &h);
	loop_add_timer(l, 20, tick_cb, &h);
	assert_int_equal(loop_run(l), 0);
	/* one sleep per firing and no other wake-up: the hook runs exactly before each of them */
	assert_int_equal(h.fires, 3);
	assert_int_equal(h.calls, 3);

	/* stopping from the hook returns without sleeping, although nothing is registered */
	h.stop_in_hook = 1;
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(h.calls, 4);
	loop_free(l);
}

static int64_t stop_twice_cb(struct loop *l, void *data)
{
	int *n = data;

	(*n)++;
	loop_stop(l);
	return 0; /* due again at once, but only in a later run */
}

static void test_loop_stop(void **state)
{
	struct loop *l = loop_new();
	int n = 0;

	loop_add_timer(l, 0, stop_twice_cb, &n);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(n, 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(n, 2);
	loop_free(l);
}

static void test_idle_blocks(void **state)
{
	struct loop *l = loop_new();
	struct hook h = {0};
	int done = 0;
	uint64_t t0 = loop_now_ms();

	loop_set_before_sleep(l, hook_cb, &h);
	loop_add_timer(l, 200, guard_cb, &done);
	assert_int_equal(loop_run(l), 0);
	/* a single sleep covers the whole wait: no polling */
	assert_int_equal(h.calls, 1);
	assert_true(loop_now_ms() - t0 >= 200);
	loop_free(l);
}

/* Asks for no wait three times, then stops: a blocking wait in between would trip the guard. */
static void busy_hook_cb(struct loop *l, void *data)
{
	struct hook *h = data;

	if (++h->calls == 4) {
		loop_stop(l);
		return;
	}
	loop_dont_wait(l);
}

static void test_dont_wait_polls_once(void **state)
{
	struct loop *l = loop_new();
	struct hook h = {0};
	int fired = 0;
	uint64_t guard, t0 = loop_now_ms();

	loop_set_before_sleep(l, busy_hook_cb, &h);
	guard = loop_add_timer(l, 1000, guard_cb, &fired);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(h.calls, 4);
	assert_int_equal(fired, 0);
	assert_true(loop_now_ms() - t0 < 1000);
	/* the request lasts one iteration: without it the loop sleeps until the guard fires */
	loop_set_before_sleep(l, hook_cb, &h);
	h.calls = 0;
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(h.calls, 1);
	assert_int_equal(fired, 1);
	(void)guard;
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_readiness),
		cmocka_unit_test(test_fd_write_and_mod),
		cmocka_unit_test(test_fd_closed_and_reused_without_delete),
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_timer_rearm_and_stop),
		cmocka_unit_test(test_timer_reset_and_delete),
		cmocka_unit_test(test_fd_delete_during_dispatch),
		cmocka_unit_test(test_timer_delete_during_dispatch),
		cmocka_unit_test(test_before_sleep_hook),
		cmocka_unit_test(test_loop_stop),
		cmocka_unit_test(test_idle_blocks),
		cmocka_unit_test(test_dont_wait_polls_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
