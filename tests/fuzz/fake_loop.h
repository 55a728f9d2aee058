/* A stand-in for agent/loop.c with a virtual clock, for targets that drive code built on the loop's
 * timers (the sender) thousands of times a second: time moves only when the target says so, and
 * timers due then fire at once, in the real loop's order. It implements every function of loop.h, so
 * that a target linking fake_loop.c never pulls loop.o out of the core library (a link seam: the code
 * under test is unchanged). File descriptors are accepted and never become ready. */
#ifndef ONSIDE_FAKE_LOOP_H
#define ONSIDE_FAKE_LOOP_H

#include <stdint.h>

#include "loop.h"

/* Where the clock starts: far from 0, which the sender's statistics use for "none". */
#define FAKE_LOOP_EPOCH_US (1000ULL * 1000 * 1000 * 1000)

/* Sets the clock (loop_now_us) for a new run. */
void fake_loop_set_clock(uint64_t us);
/* Moves the clock forward to us (never back) with the loop asleep, then fires the timers due, as the
 * real loop would on waking. */
void fake_loop_advance(struct loop *l, uint64_t us);
/* The deadline (loop_now_ms) of the earliest timer, 0 when none is set. */
uint64_t fake_loop_next_timer(const struct loop *l);

#endif
