#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

struct pool_thread {
	struct pool *p;
	pthread_t tid;
	unsigned who;
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t go;   /* a new generation of work, or stop */
	pthread_cond_t done; /* a part finished */
	unsigned nthreads;
	struct pool_thread *threads;
	unsigned long gen;
	unsigned pending;
	int stop;
	/* the current job */
	pool_fn fn;
	void *arg;
	size_t n;
};

static void pool_part(const struct pool *p, unsigned who, size_t *ret_begin, size_t *ret_end)
{
	size_t parts = p->nthreads + 1;

	*ret_begin = p->n * who / parts;
	*ret_end = p->n * (who + 1) / parts;
}

static void *pool_main(void *data)
{
	struct pool_thread *t = data;
	struct pool *p = t->p;
	unsigned long seen = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		size_t b, e;

		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		pool_part(p, t->who, &b, &e);
		pthread_mutex_unlock(&p->mu);
		if (b < e)
			p->fn(p->arg, t->who, b, e);
		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Workers never take signals: the agent reads them through its signalfd on the main thread. */
static int pool_spawn(struct pool_thread *t)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t->tid, NULL, pool_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

int pool_new(unsigned nthreads, struct pool **ret)
{
	struct pool *p = calloc(1, sizeof(*p));
	int r = 0;

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = calloc(nthreads ? nthreads : 1, sizeof(*p->threads));
	if (!p->threads) {
		pool_free(p);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < nthreads && r == 0; i++) {
		p->threads[i] = (struct pool_thread){.p = p, .who = i + 1};
		if ((r = pool_spawn(&p->threads[i])) == 0)
			p->nthreads++;
	}
	if (r < 0) {
		pool_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i].tid, NULL);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}

unsigned pool_size(const struct pool *p) { return p->nthreads + 1; }

void pool_run(struct pool *p, size_t n, pool_fn fn, void *arg)
{
	size_t b, e;

	if (p->nthreads == 0 || n < 2 * (size_t)(p->nthreads + 1)) {
		if (n)
			fn(arg, 0, 0, n); /* not worth waking anyone */
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->n = n;
	p->pending = p->nthreads;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	pool_part(p, 0, &b, &e);
	fn(arg, 0, b, e);
	pthread_mutex_lock(&p->mu);
	while (p->pending)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
