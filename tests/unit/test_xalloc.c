/* xalloc (agent/xalloc.h, xalloc.c): where an allocation fails, the agent says so on stderr, with the
 * size it asked for, and aborts (SIGABRT: systemd restarts it, and the checkpoint holds). Each case runs
 * in a child process, whose stderr and end are looked at. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

/* In the coverage build (scripts/coverage.sh defines ONSIDE_COVERAGE): the child's counts are
 * written before it aborts, which skips the exit handlers that write them. */
#ifdef ONSIDE_COVERAGE
extern void __gcov_dump(void);
#endif

static void dump_and_abort(int sig)
{
#ifdef ONSIDE_COVERAGE
	__gcov_dump();
#endif
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Runs fn in a child with stderr into a pipe: returns what it wrote, and its wait status. */
static char *in_child(void (*fn)(void), int *status)
{
	static char out[512];
	size_t n = 0;
	ssize_t k;
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGABRT, dump_and_abort);
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		close(p[1]);
		fn();
		_exit(0); /* not reached when fn aborts */
	}
	close(p[1]);
	while (n < sizeof(out) - 1 && (k = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return out;
}

static void expect_abort(void (*fn)(void), const char *message)
{
	int status;
	char *err = in_child(fn, &status);

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_string_equal(err, message);
}

static void die_with_size(void)
{
	xalloc_die(123456789);
}

static void nonnull_of_null(void)
{
	(void)xnonnull(NULL);
}

static void test_die_says_the_size_and_aborts(void **state)
{
	(void)state;
	expect_abort(die_with_size, "error agent: out of memory (123456789 bytes); aborting\n");
	/* a constructor that could only fail for lack of memory returned NULL */
	expect_abort(nonnull_of_null, "error agent: out of memory (0 bytes); aborting\n");
}

static void test_no_abort_when_memory_is_there(void **state)
{
	char *p = xmalloc(0), *s = xstrdup("kept");
	int *a = xcalloc(4, sizeof(int));

	(void)state;
	assert_non_null(p);
	assert_string_equal(s, "kept");
	assert_int_equal(a[0] + a[1] + a[2] + a[3], 0);
	a = xreallocarray(a, 1000, sizeof(int));
	a[999] = 7;
	assert_int_equal(a[999], 7);
	free(p);
	free(s);
	free(a);
}

#ifndef SANITIZED
/* out of the compiler's sight, which would refuse a constant this size */
static volatile size_t huge = SIZE_MAX;

static void malloc_too_much(void)
{
	(void)xmalloc(huge);
}

static void calloc_too_much(void)
{
	(void)xcalloc(huge / 2, 1);
}

static void reallocarray_too_much(void)
{
	(void)xreallocarray(NULL, huge / 4, 2);
}
#endif

static void test_a_failed_allocation_aborts_with_its_size(void **state)
{
	char want[128];

	(void)state;
#ifdef SANITIZED
	/* ASan reports an impossible allocation itself (and aborts) before malloc could return NULL */
	print_message("LOST CHECK unit.test_xalloc test_a_failed_allocation_aborts_with_its_size: under ASan the "
		      "sanitizer, not the agent, reports an allocation that cannot succeed\n");
#else
	snprintf(want, sizeof(want), "error agent: out of memory (%zu bytes); aborting\n", (size_t)SIZE_MAX);
	expect_abort(malloc_too_much, want);
	snprintf(want, sizeof(want), "error agent: out of memory (%zu bytes); aborting\n", SIZE_MAX / 2);
	expect_abort(calloc_too_much, want);
	snprintf(want, sizeof(want), "error agent: out of memory (%zu bytes); aborting\n", SIZE_MAX / 4 * 2);
	expect_abort(reallocarray_too_much, want);
#endif
	(void)want;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_die_says_the_size_and_aborts),
		cmocka_unit_test(test_no_abort_when_memory_is_there),
		cmocka_unit_test(test_a_failed_allocation_aborts_with_its_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
