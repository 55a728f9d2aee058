/* The growable buffer: exact contents after appends of every short length, growth, and the hard cap
 * (also when a caller lowers it after the buffer grew). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

/* Appends of 0 to 40 bytes (each length of the inline copy and past it), after every offset 0..15,
 * give exactly the bytes appended, NUL-terminated. */
static void test_append_lengths(void **state)
{
	char src[41], want[64];
	struct buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)('A' + i);
	for (size_t off = 0; off < 16; off++) {
		for (size_t n = 0; n <= 40; n++) {
			buf_init(&b, 0);
			memset(want, 'x', off);
			memcpy(want + off, src, n);
			want[off + n] = '\0';
			for (size_t k = 0; k < off; k++)
				assert_int_equal(buf_putc(&b, 'x'), 0);
			assert_int_equal(buf_append(&b, src, n), 0);
			assert_int_equal(b.len, off + n);
			if (off + n)
				assert_string_equal(b.data, want);
			buf_free(&b);
		}
	}
}

static void test_grows_and_puts(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, NULL, 0), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_puts(&b, "0123456789"), 0);
	assert_int_equal(b.len, 10000);
	assert_memory_equal(b.data + 9990, "0123456789", 11);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void test_cap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, "0123456789", 10), 0);
	assert_int_equal(buf_putc(&b, 'x'), -E2BIG);
	assert_int_equal(b.len, 10);
	buf_free(&b);

	/* lowered after growing: the room already allocated does not let an append past it */
	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, "abc"), 0);
	b.max = 5;
	assert_int_equal(buf_append(&b, "de", 2), 0);
	assert_int_equal(buf_putc(&b, 'f'), -E2BIG);
	assert_int_equal(buf_append(&b, "fgh", 3), -E2BIG);
	assert_string_equal(b.data, "abcde");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_lengths),
		cmocka_unit_test(test_grows_and_puts),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
