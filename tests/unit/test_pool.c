/* The pool: every index of a task is run exactly once, the threads take part, and pool_run returns
 * only when the whole task is done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

#define N 100003

struct job {
	unsigned char hits[N];
	unsigned who[N];
	unsigned participants; /* > 0: each participant's first chunk waits until this many have one */
	unsigned arrived;
	unsigned char met[8];
};

/* The first chunk of each participant waits (up to 10 s) until every participant holds one, so that a
 * thread the scheduler is slow to wake still gets work however loaded the machine is: with a pool
 * whose threads do not take part, the wait times out and the check after it fails. */
static void rendezvous(struct job *j, unsigned who)
{
	if (!j->participants || who >= 8 || __atomic_exchange_n(&j->met[who], 1, __ATOMIC_ACQ_REL))
		return;
	__atomic_add_fetch(&j->arrived, 1, __ATOMIC_ACQ_REL);
	for (int i = 0; i < 100000 && __atomic_load_n(&j->arrived, __ATOMIC_ACQUIRE) < j->participants; i++)
		usleep(100);
}

static void run_part(void *arg, unsigned who, size_t begin, size_t end)
{
	struct job *j = arg;

	rendezvous(j, who);
	if (who == 0 && begin == 0)
		usleep(2000); /* a slow caller: the threads must have taken some of the work meanwhile */
	for (size_t i = begin; i < end; i++) {
		j->hits[i]++;
		j->who[i] = who;
	}
}

static void check_pool(unsigned threads)
{
	static struct job j;
	struct pool *p = NULL;
	unsigned seen[8] = {0};

	assert_int_equal(pool_new(threads, &p), 0);
	assert_int_equal(pool_size(p), threads + 1);
	for (int round = 0; round < 50; round++) {
		memset(&j, 0, sizeof(j));
		if (round == 0)
			j.participants = threads + 1;
		pool_run(p, N, run_part, &j);
		for (size_t i = 0; i < N; i++) {
			assert_int_equal(j.hits[i], 1);
			seen[j.who[i]]++;
		}
	}
	/* every thread took part (the caller may find all chunks taken: with more threads than cores it
	 * often does, and that costs nothing; with no threads it runs everything) */
	for (unsigned k = threads ? 1 : 0; k <= threads; k++)
		assert_true(seen[k] > 0);
	/* a tiny job runs on the caller alone */
	memset(&j, 0, sizeof(j));
	pool_run(p, 3, run_part, &j);
	assert_int_equal(j.hits[0] + j.hits[1] + j.hits[2], 3);
	assert_int_equal(j.who[2], 0);
	pool_run(p, 0, run_part, &j);
	pool_free(p);
}

static void test_no_threads(void **state)
{
	(void)state;
	check_pool(0);
}

static void test_one_thread(void **state)
{
	(void)state;
	check_pool(1);
}

static void test_three_threads(void **state)
{
	(void)state;
	check_pool(3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_threads),
		cmocka_unit_test(test_one_thread),
		cmocka_unit_test(test_three_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
