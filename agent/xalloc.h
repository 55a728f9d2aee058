/* The out-of-memory policy of the running agent: a small allocation that fails aborts the process.
 *
 * Why: a line is consumed only once its outcome (batched, skipped, dead-lettered) is recorded, and an
 * error path half-way through that bookkeeping is where lines get lost. An abort loses nothing: the
 * checkpoint on disk never passes an undelivered line, so the restarted agent (systemd restarts it)
 * reads again from there, with the same event ids. Error returns stay only where a user controls the
 * size (line length, batch bytes, configuration): those have caps and say which cap was hit. */
#ifndef ONSIDE_XALLOC_H
#define ONSIDE_XALLOC_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Writes "out of memory (N bytes)" to stderr and aborts. */
__attribute__((noreturn, cold)) void xalloc_die(size_t size);

static inline void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		xalloc_die(size);
	return p;
}

static inline void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		xalloc_die(n * size);
	return p;
}

static inline void *xreallocarray(void *old, size_t n, size_t size)
{
	void *p = reallocarray(old, n ? n : 1, size ? size : 1);

	if (!p)
		xalloc_die(n * size);
	return p;
}

static inline char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		xalloc_die(strlen(s) + 1);
	return p;
}

/* Checks what a constructor returned that can only fail for lack of memory. */
static inline void *xnonnull(void *p)
{
	if (!p)
		xalloc_die(0);
	return p;
}

#endif
