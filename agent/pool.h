/* A fixed pool of worker threads that run index ranges in chunks: the caller and the threads take
 * chunks of a task as they become free (so no core idles at the end of one), and pool_run returns when
 * all are done. With 0 threads everything runs on the caller. */
#ifndef ONSIDE_POOL_H
#define ONSIDE_POOL_H

#include <stddef.h>

/* Runs items [begin, end) as participant `who` (0 is the caller, 1..n the threads). A participant
 * runs one chunk at a time, so per-participant state needs no lock. */
typedef void (*pool_fn)(void *arg, unsigned who, size_t begin, size_t end);

struct pool;

/* Returns 0 or a negative errno. */
int pool_new(unsigned nthreads, struct pool **ret);
void pool_free(struct pool *p);
/* Participants: threads + the caller. */
unsigned pool_size(const struct pool *p);
/* Runs [0, n) in chunks on the threads and the caller; returns when every index is done. */
void pool_run(struct pool *p, size_t n, pool_fn fn, void *arg);

#endif
