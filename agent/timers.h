/* The loop's timers without a clock of their own: a list sorted by (deadline, id) that the caller
 * hands the time. loop.c runs it on CLOCK_MONOTONIC behind a timerfd; the fuzzers' fake loop
 * (tests/fuzz/fake_loop.c) runs the same list on a virtual clock, so both fire timers alike.
 * Dispatch rules: each due timer fires at most once per pass, in (deadline, id) order; a callback
 * returns the next interval in ms (>= 0) to fire again or a negative value (LOOP_TIMER_STOP) to end
 * the timer; between timers_hold and timers_release a deleted timer is only marked dead (it never
 * fires again, and no index moves under a running callback). */
#ifndef ONSIDE_TIMERS_H
#define ONSIDE_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct timer;
/* The type of loop_timer_cb (loop.h), spelled out so that this module does not depend on the loop. */
typedef int64_t (*timers_cb)(struct loop *l, void *data);
/* Reads the current time in ms; timers_dispatch asks it once per pass and after each callback. */
typedef uint64_t (*timers_clock)(void);

/* Zero-initialised is empty; ids start at 1. */
struct timers {
	struct timer *v; /* sorted by (when, id), dead ones included until timers_release */
	size_t n;
	size_t cap;
	uint64_t last_id;
	uint64_t pass; /* the current (or last) dispatch pass */
	bool held;     /* between timers_hold and timers_release */
};

void timers_free(struct timers *ts);
/* A timer firing at now_ms + ms (ms < 0 counts as 0). Returns its id > 0, or 0 on allocation failure
 * or a NULL cb. */
uint64_t timers_add(struct timers *ts, uint64_t now_ms, int64_t ms, timers_cb cb, void *data);
/* Moves a live timer to fire at now_ms + ms; -ENOENT if it is gone. */
int timers_reset(struct timers *ts, uint64_t now_ms, uint64_t id, int64_t ms);
int timers_del(struct timers *ts, uint64_t id);
/* The deadline of the earliest live timer, 0 when none is set. */
uint64_t timers_next_deadline(const struct timers *ts);

/* From here to timers_release, timers_del only marks timers dead. */
void timers_hold(struct timers *ts);
/* One pass between hold and release: fires every live timer whose deadline is at most now_ms() at the
 * start, each at most once, with l as the callback's argument; re-arms from now_ms() after each. */
void timers_dispatch(struct timers *ts, timers_clock now_ms, struct loop *l);
/* Ends the hold and drops the dead timers. */
void timers_release(struct timers *ts);

#endif
