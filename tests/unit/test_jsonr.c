/* Reading back JSON that jsonw (or a person, or another JSON writer) wrote: the \uXXXX escapes
 * standing for bytes that are not UTF-8 come back as those bytes whatever the case of their hex digits
 * (JSON allows both), and an escape whose digits are not hex is left for json-c to refuse, never read
 * as some other character. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "jsonr.h"

/* The protected text of s (the caller frees it). */
static char *protect(const char *s)
{
	struct buf b;
	char *r;

	buf_init(&b, 0);
	assert_int_equal(jsonr_protect(s, strlen(s), &b), 0);
	r = strdup(b.data ? b.data : "");
	buf_free(&b);
	assert_non_null(r);
	return r;
}

/* The bytes of the JSON string text s as the checkpoint and dead-letter readers get them: protected,
 * parsed by json-c, unmarked. Returns NULL when json-c refuses it. */
static char *read_string(const char *s, size_t *len)
{
	char *p = protect(s), *out = NULL;
	struct json_object *o = json_tokener_parse(p);

	free(p);
	if (!o)
		return NULL;
	assert_true(json_object_is_type(o, json_type_string));
	assert_int_equal(jsonr_unmark_bytes(json_object_get_string(o), (size_t)json_object_get_string_len(o), &out,
					    len),
			 0);
	json_object_put(o);
	return out;
}

static void test_byte_escapes_in_upper_case_are_the_same_bytes(void **unused)
{
	size_t n;
	char *lower, *upper;

	(void)unused;
	/* the escape jsonw writes for the byte 0xff, and the same escape as another writer may spell it */
	lower = read_string("\"/var/log/caf\\udcff.log\"", &n);
	assert_non_null(lower);
	assert_int_equal(n, 17);
	assert_memory_equal(lower, "/var/log/caf\xff.log", 17);
	upper = read_string("\"/var/log/caf\\uDCFF.log\"", &n);
	assert_non_null(upper);
	assert_int_equal(n, 17);
	assert_memory_equal(upper, "/var/log/caf\xff.log", 17);
	free(lower);
	free(upper);
	upper = read_string("\"\\uDc80\\udCa9\"", &n);
	assert_non_null(upper);
	assert_int_equal(n, 2);
	assert_memory_equal(upper, "\x80\xa9", 2);
	free(upper);
	/* a NUL in any case stays one NUL */
	upper = read_string("\"a\\u0000b\"", &n);
	assert_non_null(upper);
	assert_int_equal(n, 3);
	assert_memory_equal(upper, "a\0b", 3);
	free(upper);
}

static void test_characters_in_upper_case_are_the_same_characters(void **unused)
{
	size_t n;
	char *s;

	(void)unused;
	s = read_string("\"caf\\u00E9 caf\\u00e9 \\uD83D\\uDE00\"", &n);
	assert_non_null(s);
	assert_string_equal(s, "caf\xc3\xa9 caf\xc3\xa9 \xf0\x9f\x98\x80");
	free(s);
	/* a high surrogate in upper case pairs with its low one: the low one is not taken for a byte */
	s = protect("\"\\uD83D\\uDCFF\"");
	assert_string_equal(s, "\"\\uD83D\\uDCFF\"");
	free(s);
}

static void test_an_escape_with_a_digit_that_is_not_hex_is_not_read_as_a_character(void **unused)
{
	size_t n;
	char *s;

	(void)unused;
	/* left as written (not made a byte or a NUL), and json-c refuses the text */
	static const char *const bad[] = { "\"\\uDCFG\"", "\"\\u00G9\"", "\"\\u000g\"", "\"\\u 000\"", "\"\\uDC:0\"" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = protect(bad[i]);
		assert_string_equal(s, bad[i]);
		free(s);
		assert_null(read_string(bad[i], &n));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_byte_escapes_in_upper_case_are_the_same_bytes),
		cmocka_unit_test(test_characters_in_upper_case_are_the_same_characters),
		cmocka_unit_test(test_an_escape_with_a_digit_that_is_not_hex_is_not_read_as_a_character),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
