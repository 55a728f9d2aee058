/* A fixed pool of worker threads for fork-join over an index range: the caller takes part too, so a
 * pool of n threads runs a job on n + 1 cores and pool_run returns when every part is done. With 0
 * threads it is a plain loop on the caller. */
#ifndef ONSIDE_POOL_H
#define ONSIDE_POOL_H

#include <stddef.h>

/* Runs items [begin, end) as participant `who` (0 is the caller). */
typedef void (*pool_fn)(void *arg, unsigned who, size_t begin, size_t end);

struct pool;

/* Returns 0 or a negative errno. */
int pool_new(unsigned nthreads, struct pool **ret);
void pool_free(struct pool *p);
/* Participants: threads + the caller. */
unsigned pool_size(const struct pool *p);
/* Splits [0, n) into pool_size() contiguous parts and runs them at once; returns when all are done. */
void pool_run(struct pool *p, size_t n, pool_fn fn, void *arg);

#endif
