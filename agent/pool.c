/* The worker pool (see pool.h): threads that take chunks of the running task from a shared cursor
 * under one mutex, and the caller taking part until the task is done. */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

/* Chunks per participant a task is cut into: small enough that nobody waits long for the last one,
 * large enough that the lock is taken rarely. */
#define POOL_CHUNKS_PER_PARTICIPANT 8
#define POOL_CHUNK_MAX 256

struct pool_thread {
	struct pool *p;
	pthread_t tid;
	unsigned who;
};

/* One pool_run: on the caller's stack, queued for the threads while it runs. */
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

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t go;   /* a task was started, or stop */
	pthread_cond_t done; /* a task's last chunk finished */
	unsigned nthreads;
	struct pool_thread *threads;
	struct pool_task *head, *tail; /* started tasks with chunks not yet taken, oldest first */
	int stop;
};

/* Takes the next chunk of t; t leaves the queue with its last chunk. Called with the lock held. */
static void pool_take(struct pool *p, struct pool_task *t, size_t *ret_begin, size_t *ret_end)
{
	size_t e = t->next + t->chunk < t->n ? t->next + t->chunk : t->n;

	*ret_begin = t->next;
	*ret_end = t->next = e;
	if (e < t->n)
		return;
	/* fully taken: unlink it (it is not necessarily the head when its caller finished it early) */
	for (struct pool_task **pp = &p->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->qnext) {
		if (*pp == t) {
			*pp = t->qnext;
			if (p->tail == t)
				p->tail = prev;
			break;
		}
	}
	t->qnext = NULL;
}

/* Runs [b, e) of t outside the lock and accounts for it. Called with the lock held. */
static void pool_do(struct pool *p, struct pool_task *t, unsigned who, size_t b, size_t e)
{
	pthread_mutex_unlock(&p->mu);
	t->fn(t->arg, who, b, e);
	pthread_mutex_lock(&p->mu);
	t->left -= e - b;
	if (t->left == 0)
		pthread_cond_broadcast(&p->done);
}

static void *pool_main(void *data)
{
	struct pool_thread *th = data;
	struct pool *p = th->p;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct pool_task *t;
		size_t b, e;

		while (!p->stop && !p->head)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->stop)
			break;
		t = p->head;
		pool_take(p, t, &b, &e);
		pool_do(p, t, th->who, b, e);
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

static void pool_start(struct pool *p, struct pool_task *t, size_t n, pool_fn fn, void *arg)
{
	size_t parts = (size_t)p->nthreads + 1, chunk = n / (parts * POOL_CHUNKS_PER_PARTICIPANT);

	*t = (struct pool_task){.fn = fn, .arg = arg, .n = n, .left = n};
	t->chunk = chunk < 1 ? 1 : chunk > POOL_CHUNK_MAX ? POOL_CHUNK_MAX : chunk;
	if (p->nthreads == 0 || n < 2 * parts) {
		t->chunk = n ? n : 1; /* not worth waking anyone: the caller runs it all in pool_finish */
		return;
	}
	t->queued = 1;
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->qnext = t;
	else
		p->head = t;
	p->tail = t;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
}

static void pool_finish(struct pool *p, struct pool_task *t)
{
	size_t b, e;

	if (!t->queued) {
		if (t->n)
			t->fn(t->arg, 0, 0, t->n);
		t->next = t->n;
		t->left = 0;
		return;
	}
	pthread_mutex_lock(&p->mu);
	while (t->next < t->n) {
		pool_take(p, t, &b, &e);
		pool_do(p, t, 0, b, e);
	}
	while (t->left)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void pool_run(struct pool *p, size_t n, pool_fn fn, void *arg)
{
	struct pool_task t;

	pool_start(p, &t, n, fn, arg);
	pool_finish(p, &t);
}
