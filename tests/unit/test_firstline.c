/* firstline_read (agent/firstline.c): a file's first line as the tailer hands out lines (bytes before
 * the LF, less one CR right before it, cut at max_line_bytes). It goes into every event id of the file
 * (the fingerprint) and into `check`'s report, so a first line that differs from lines.c's reading
 * would give the file's events other ids than the SPEC says. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firstline.h"

/* An unlinked temporary file holding len bytes of s; its offset is left at end, as the tailer's is. */
static int file_with(const char *s, size_t len)
{
	char path[] = "/tmp/test_firstline.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, s, len), (ssize_t)len);
	return fd;
}

static void expect_first(const char *content, size_t len, size_t max, const char *want, size_t want_len)
{
	int fd = file_with(content, len);
	off_t before = lseek(fd, 0, SEEK_CUR);
	char *line = NULL;
	size_t n = 99;

	assert_int_equal(firstline_read(fd, max, &line, &n), 0);
	assert_int_equal(n, want_len);
	assert_memory_equal(line, want, want_len);
	assert_int_equal(line[n], '\0');
	/* positioned reads: the descriptor's offset is where it was */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), before);
	free(line);
	close(fd);
}

static void test_short_line(void **state)
{
	(void)state;
	expect_first("first\nsecond\n", 13, 1000, "first", 5);
}

static void test_crlf_loses_the_cr_only(void **state)
{
	(void)state;
	expect_first("first\r\nsecond\r\n", 15, 1000, "first", 5);
	/* a CR elsewhere, or two before the LF: only the last one goes */
	expect_first("a\rb\r\r\nx\n", 8, 1000, "a\rb\r", 4);
}

static void test_no_lf_is_the_whole_file(void **state)
{
	(void)state;
	expect_first("only a partial line", 19, 1000, "only a partial line", 19);
	/* a lone CR at the end without LF is kept: the line is not finished */
	expect_first("partial\r", 8, 1000, "partial\r", 8);
}

static void test_empty_file_and_empty_first_line(void **state)
{
	(void)state;
	expect_first("", 0, 1000, "", 0);
	expect_first("\nsecond\n", 8, 1000, "", 0);
	expect_first("\r\nsecond\n", 9, 1000, "", 0);
}

static void test_long_line_across_reads(void **state)
{
	/* longer than one 4 KiB read: the buffer grows, the LF is found in a later read */
	size_t len = 10000;
	char *s = malloc(len + 8);

	(void)state;
	assert_non_null(s);
	for (size_t i = 0; i < len; i++)
		s[i] = (char)('a' + i % 26);
	memcpy(s + len, "\r\nnext\n", 7);
	expect_first(s, len + 7, 65536, s, len);
	/* and without LF */
	expect_first(s, len, 65536, s, len);
	free(s);
}

static void test_cut_at_max(void **state)
{
	(void)state;
	expect_first("0123456789\n", 11, 4, "0123", 4);
	/* a CR at max + 1 before the LF: the line is max bytes, as lines.c cuts it */
	expect_first("0123\r\n", 6, 4, "0123", 4);
	/* a CR at max, LF after it: "0123" without its CR is under max */
	expect_first("012\r\nxx\n", 8, 3, "012", 3);
	/* longer than a read and than max: cut at max */
	{
		size_t len = 9000;
		char *s = malloc(len + 1);

		assert_non_null(s);
		memset(s, 'x', len);
		s[len] = '\n';
		expect_first(s, len + 1, 5000, s, 5000);
		free(s);
	}
}

static void test_unreadable(void **state)
{
	char *line = NULL;
	size_t n = 0;
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(firstline_read(fd, 100, &line, &n), -EISDIR);
	assert_null(line);
	close(fd);
	assert_int_equal(firstline_read(-1, 100, &line, &n), -EBADF);
	assert_null(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_line),
		cmocka_unit_test(test_crlf_loses_the_cr_only),
		cmocka_unit_test(test_no_lf_is_the_whole_file),
		cmocka_unit_test(test_empty_file_and_empty_first_line),
		cmocka_unit_test(test_long_line_across_reads),
		cmocka_unit_test(test_cut_at_max),
		cmocka_unit_test(test_unreadable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
