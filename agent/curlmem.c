/* libcurl's memory callbacks (curl_global_init_mem). libcurl allocates a 64 KiB upload buffer for
 * every request and frees it when the request is done. glibc keeps such a block in its heap; musl
 * (the portable build) unmaps it and maps a fresh one for the next request: two system calls and 17
 * page faults per request, measured as a third of the portable binary's extra CPU in a backfill
 * (packaging/README.md, "Speed"). So blocks of exactly that size are kept, a few of them, and handed
 * out again; every other allocation goes straight to the C library. libcurl's resolver threads
 * allocate too: the table is under a mutex, taken only for blocks of that size. */
#include "curlmem.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CURLMEM_SIZE 65536 /* libcurl's UPLOADBUFFER_DEFAULT (the agent leaves it as is) */
#define CURLMEM_SLOTS 16   /* blocks of that size tracked: more than requests ever in flight */
#define CURLMEM_KEEP 4     /* of which at most this many are kept while unused */

static struct {
	void *p;
	bool kept; /* free for reuse */
} slots[CURLMEM_SLOTS];
static unsigned nkept;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *cm_malloc(size_t n)
{
	void *p = NULL;
	int empty = -1;

	if (n != CURLMEM_SIZE)
		return malloc(n);
	pthread_mutex_lock(&lock);
	for (int i = 0; i < CURLMEM_SLOTS && !p; i++) {
		if (slots[i].p && slots[i].kept) {
			slots[i].kept = false;
			nkept--;
			p = slots[i].p;
		} else if (!slots[i].p && empty < 0) {
			empty = i;
		}
	}
	if (!p && (p = malloc(n)) && empty >= 0)
		slots[empty].p = p;
	pthread_mutex_unlock(&lock);
	return p;
}

/* Whether p is a tracked block (then it is forgotten, or kept when keep and there is room). */
static bool cm_take(void *p, bool keep)
{
	bool kept = false, found = false;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < CURLMEM_SLOTS && !found; i++) {
		if (slots[i].p != p)
			continue;
		found = true;
		if (keep && nkept < CURLMEM_KEEP) {
			slots[i].kept = true;
			nkept++;
			kept = true;
		} else {
			slots[i].p = NULL;
		}
	}
	pthread_mutex_unlock(&lock);
	return kept;
}

static void cm_free(void *p)
{
	if (p && cm_take(p, true))
		return;
	free(p);
}

static void *cm_realloc(void *p, size_t n)
{
	if (p)
		(void)cm_take(p, false);
	return realloc(p, n);
}

static char *cm_strdup(const char *s)
{
	return strdup(s);
}

static void *cm_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

int curlmem_global_init(long flags)
{
	return (int)curl_global_init_mem(flags, cm_malloc, cm_free, cm_realloc, cm_strdup, cm_calloc);
}
