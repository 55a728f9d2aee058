/* The event loop: epoll for file descriptors, one timerfd for all timers.
 *
 * Invariants:
 * - fds[] is indexed by fd. Each registration carries a generation number that is also stored in the
 *   epoll event, so an event fetched for an fd that a callback closed and then reused in the same
 *   iteration is recognised as stale and dropped instead of reaching the new owner.
 * - Timers are a timers.h list on loop_now_ms(), held from the first event dispatched to the end of
 *   the timer pass: a timer deleted by any callback meanwhile is only marked dead, and reaped after.
 * - The timerfd is armed (absolute CLOCK_MONOTONIC) for the earliest live timer right before
 *   epoll_wait, which otherwise blocks with no timeout: an idle loop makes no wake-ups. Only a
 *   before-sleep hook with more work at hand (loop_dont_wait) makes one wait a poll. */
#include "loop.h"

#include "timers.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 64
#define TIMERFD_TAG UINT64_MAX

struct loop_fd {
	loop_fd_cb cb;
	void *data;
	int mask;
	uint32_t gen;
	bool used;
	bool in_epoll; /* false when mask is 0: nothing to wait for, so HUP must not spin */
};

struct loop {
	int epfd;
	int tfd;
	struct loop_fd *fds;
	size_t nfds;
	struct timers timers;
	uint64_t armed_when; /* deadline the timerfd is armed for, 0 = disarmed */
	bool stop;
	bool dont_wait; /* the next epoll_wait polls (timeout 0); reset at every iteration */
	loop_hook_cb before_sleep;
	void *before_sleep_data;
};

uint64_t loop_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TIMERFD_TAG};
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->epfd < 0 || l->tfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->tfd, &ev) < 0) {
		loop_free(l);
		return NULL;
	}
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->tfd >= 0)
		close(l->tfd);
	free(l->fds);
	timers_free(&l->timers);
	free(l);
}

static uint32_t epoll_mask(int mask)
{
	return ((mask & LOOP_READ) ? EPOLLIN : 0) | ((mask & LOOP_WRITE) ? EPOLLOUT : 0);
}

static int fds_grow(struct loop *l, int fd)
{
	size_t n = l->nfds ? l->nfds : 64;
	struct loop_fd *p;

	while (n <= (size_t)fd)
		n *= 2;
	p = realloc(l->fds, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + l->nfds, 0, (n - l->nfds) * sizeof(*p));
	l->fds = p;
	l->nfds = n;
	return 0;
}

/* Brings the epoll registration of fd in line with its mask. */
static int fd_sync(struct loop *l, int fd, int mask)
{
	struct loop_fd *f = &l->fds[fd];
	struct epoll_event ev = {.events = epoll_mask(mask),
				 .data.u64 = ((uint64_t)f->gen << 32) | (uint32_t)fd};
	int op;

	if (!mask) {
		if (f->in_epoll && epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF &&
		    errno != ENOENT)
			return -errno;
		f->in_epoll = false;
		return 0;
	}
	op = f->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	/* ENOENT on MOD: the fd was closed (which drops it from the epoll set) and its number
	 * reused before the owner told us; register the new file */
	if (epoll_ctl(l->epfd, op, fd, &ev) < 0 &&
	    (op != EPOLL_CTL_MOD || errno != ENOENT || epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0))
		return -errno;
	f->in_epoll = true;
	return 0;
}

int loop_add_fd(struct loop *l, int fd, int mask, loop_fd_cb cb, void *data)
{
	struct loop_fd *f;
	int r;

	if (fd < 0 || !cb)
		return -EINVAL;
	if ((size_t)fd >= l->nfds && (r = fds_grow(l, fd)) < 0)
		return r;
	f = &l->fds[fd];
	if (!f->used) {
		f->gen++;
		f->in_epoll = false;
	}
	r = fd_sync(l, fd, mask);
	if (r < 0)
		return r;
	f->used = true;
	f->mask = mask;
	f->cb = cb;
	f->data = data;
	return 0;
}

int loop_mod_fd(struct loop *l, int fd, int mask)
{
	int r;

	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used)
		return -ENOENT;
	r = fd_sync(l, fd, mask);
	if (r < 0)
		return r;
	l->fds[fd].mask = mask;
	return 0;
}

int loop_del_fd(struct loop *l, int fd)
{
	struct loop_fd *f;

	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used)
		return -ENOENT;
	f = &l->fds[fd];
	/* The fd may already be closed (the kernel then dropped it from the epoll set): not an error. */
	(void)fd_sync(l, fd, 0);
	f->used = false;
	f->mask = 0;
	f->cb = NULL;
	f->data = NULL;
	return 0;
}

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

void loop_dont_wait(struct loop *l) { l->dont_wait = true; }

/* Arms the timerfd for the earliest live timer, or disarms it; skips the syscall when unchanged. */
static int arm_timerfd(struct loop *l)
{
	struct itimerspec its = {{0, 0}, {0, 0}};
	uint64_t when = timers_next_deadline(&l->timers);

	if (when == l->armed_when)
		return 0;
	if (when) {
		its.it_value.tv_sec = (time_t)(when / 1000);
		its.it_value.tv_nsec = (long)(when % 1000) * 1000000;
		/* an all-zero it_value would disarm instead of firing at once */
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	l->armed_when = when;
	return 0;
}

static void fd_dispatch(struct loop *l, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	struct loop_fd *f;
	int events = 0;

	if ((size_t)fd >= l->nfds)
		return;
	f = &l->fds[fd];
	if (!f->used || f->gen != gen || !f->mask)
		return; /* deleted (or replaced) earlier in this iteration */
	/* errors and hang-ups are reported as readiness so the owner's read/write sees them */
	if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
		events |= LOOP_READ;
	if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		events |= LOOP_WRITE;
	events &= f->mask;
	if (!events)
		events = f->mask;
	f->cb(l, fd, events, f->data);
}

static int loop_once(struct loop *l)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, r;

	l->dont_wait = false;
	if (l->before_sleep)
		l->before_sleep(l, l->before_sleep_data);
	if (l->stop)
		return 0;
	r = arm_timerfd(l);
	if (r < 0)
		return r;
	n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, l->dont_wait ? 0 : -1);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	timers_hold(&l->timers);
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u64 == TIMERFD_TAG) {
			uint64_t ticks;
			/* drain it; EAGAIN just means a re-arm already cleared it */
			if (read(l->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				r = -errno;
			l->armed_when = 0;
			continue;
		}
		fd_dispatch(l, &evs[i]);
	}
	timers_dispatch(&l->timers, loop_now_ms, l);
	timers_release(&l->timers);
	return r;
}

int loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop) {
		int r = loop_once(l);
		if (r < 0)
			return r;
	}
	return 0;
}
