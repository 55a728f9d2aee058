/* The pool: every index of a task is run exactly once, the threads take part, pool_finish returns
 * only when the whole task is done, and two started tasks run side by side. */
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
};

static void run_part(void *arg, unsigned who, size_t begin, size_t end)
{
	struct job *j = arg;

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
		pool_run(p, N, run_part, &j);
		for (size_t i = 0; i < N; i++) {
			assert_int_equal(j.hits[i], 1);
			seen[j.who[i]]++;
		}
	}
	for (unsigned k = 0; k <= threads; k++)
		assert_true(seen[k] > 0); /* every participant took part */
	/* a tiny job runs on the caller alone */
	memset(&j, 0, sizeof(j));
	pool_run(p, 3, run_part, &j);
	assert_int_equal(j.hits[0] + j.hits[1] + j.hits[2], 3);
	assert_int_equal(j.who[2], 0);
	pool_run(p, 0, run_part, &j);
	pool_free(p);
}

/* Two tasks started one after the other are both done after their pool_finish, in either order. */
static void check_two_tasks(unsigned threads, int finish_second_first)
{
	static struct job j1, j2;
	struct pool *p = NULL;
	struct pool_task t1, t2;

	assert_int_equal(pool_new(threads, &p), 0);
	for (int round = 0; round < 20; round++) {
		memset(&j1, 0, sizeof(j1));
		memset(&j2, 0, sizeof(j2));
		pool_start(p, &t1, N, run_part, &j1);
		pool_start(p, &t2, N - round, run_part, &j2);
		if (finish_second_first) {
			pool_finish(p, &t2);
			pool_finish(p, &t1);
		} else {
			pool_finish(p, &t1);
			pool_finish(p, &t2);
		}
		for (size_t i = 0; i < N; i++) {
			assert_int_equal(j1.hits[i], 1);
			assert_int_equal(j2.hits[i], i < N - (size_t)round ? 1 : 0);
		}
	}
	pool_free(p);
}

static void test_two_tasks(void **state)
{
	(void)state;
	check_two_tasks(0, 0);
	check_two_tasks(1, 0);
	check_two_tasks(1, 1);
	check_two_tasks(3, 1);
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
		cmocka_unit_test(test_two_tasks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
