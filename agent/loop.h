/* The single-threaded event loop (epoll), in the shape of Redis ae: file descriptors with read/write
 * callbacks, timers whose callback returns the next interval or LOOP_TIMER_STOP, a before-sleep hook.
 * Timers share one timerfd armed for the earliest deadline. Removal is safe during dispatch. */
#ifndef ONSIDE_LOOP_H
#define ONSIDE_LOOP_H

#include <stdint.h>

#define LOOP_READ 0x1
#define LOOP_WRITE 0x2
#define LOOP_TIMER_STOP (-1)

struct loop;
typedef void (*loop_fd_cb)(struct loop *l, int fd, int events, void *data);
/* Returns the next interval in ms (>= 0) to fire again, or LOOP_TIMER_STOP to remove the timer. */
typedef int64_t (*loop_timer_cb)(struct loop *l, void *data);
typedef void (*loop_hook_cb)(struct loop *l, void *data);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* mask: LOOP_READ | LOOP_WRITE. Adding an fd twice replaces its mask and callback. */
int loop_add_fd(struct loop *l, int fd, int mask, loop_fd_cb cb, void *data);
int loop_mod_fd(struct loop *l, int fd, int mask);
int loop_del_fd(struct loop *l, int fd);

/* Returns a timer id > 0, or 0 on allocation failure. */
uint64_t loop_add_timer(struct loop *l, int64_t ms, loop_timer_cb cb, void *data);
/* Re-arms an existing timer to fire in ms; returns -ENOENT if it is gone. */
int loop_reset_timer(struct loop *l, uint64_t id, int64_t ms);
int loop_del_timer(struct loop *l, uint64_t id);

void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *data);
/* The next wait for events does not block (Redis' aeSetDontWait, for one iteration): called from the
 * before-sleep hook when there is more work to do right away. Timers due and ready descriptors are
 * still dispatched first. */
void loop_dont_wait(struct loop *l);
/* Runs until loop_stop(); returns 0, or a negative errno if epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* CLOCK_MONOTONIC in ms, and in us. */
uint64_t loop_now_ms(void);
uint64_t loop_now_us(void);

#endif
