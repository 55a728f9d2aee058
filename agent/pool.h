/* A fixed pool of worker threads that run index ranges in chunks. A task is started (the workers
 * take its chunks at once) and later finished by its caller, who takes the chunks still left and
 * then waits for the rest: so the caller can do other work while a task runs, and no core idles at
 * the end of one. Tasks are taken in the order they were started. With 0 threads everything runs
 * on the caller when the task is finished. */
#ifndef ONSIDE_POOL_H
#define ONSIDE_POOL_H

#include <stddef.h>

/* Runs items [begin, end) as participant `who` (0 is the caller, 1..n the threads). A participant
 * runs one chunk at a time, so per-participant state needs no lock. */
typedef void (*pool_fn)(void *arg, unsigned who, size_t begin, size_t end);

/* Owned by the caller, opaque to it; lives from pool_start to the end of pool_finish. */
struct pool_task {
	pool_fn fn;
	void *arg;
	size_t n;
	size_t chunk;
	size_t next; /* first index not yet taken */
	size_t left; /* indices not yet done */
	int queued;  /* 0: too small to share, run by the caller alone */
	struct pool_task *qnext;
};

struct pool;

/* Returns 0 or a negative errno. */
int pool_new(unsigned nthreads, struct pool **ret);
void pool_free(struct pool *p);
/* Participants: threads + the caller. */
unsigned pool_size(const struct pool *p);
/* Starts running [0, n) on the threads; returns at once. */
void pool_start(struct pool *p, struct pool_task *t, size_t n, pool_fn fn, void *arg);
/* Takes part in t until every chunk is taken, then waits until all are done. */
void pool_finish(struct pool *p, struct pool_task *t);
/* pool_start + pool_finish. */
void pool_run(struct pool *p, size_t n, pool_fn fn, void *arg);

#endif
