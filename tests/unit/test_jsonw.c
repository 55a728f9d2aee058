/* JSON string writing and UTF-8 validation: exact output bytes for each kind of input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jsonw.h"

/* Writes in[0..n) with jsonw_string after some existing content and checks the exact bytes. */
static void check(const char *in, size_t n, const char *want)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, "x:"), 0);
	assert_int_equal(jsonw_string(&b, in, n), 0);
	assert_int_equal(b.len, strlen(want) + 2);
	assert_string_equal(b.data + 2, want);
	assert_memory_equal(b.data, "x:", 2);
	buf_free(&b);
}

#define CHECK(lit, want) check((lit), sizeof(lit) - 1, (want))

static void test_plain_ascii(void **state)
{
	CHECK("", "\"\"");
	CHECK("purchase_completed", "\"purchase_completed\"");
	CHECK("a b/c~{}[]'", "\"a b/c~{}[]'\"");
	CHECK("\x7f", "\"\x7f\"");
}

static void test_escapes(void **state)
{
	CHECK("say \"hi\"", "\"say \\\"hi\\\"\"");
	CHECK("C:\\dir", "\"C:\\\\dir\"");
	CHECK("a\nb\rc\td\be\ff", "\"a\\nb\\rc\\td\\be\\ff\"");
	CHECK("\x01\x1f\x1b", "\"\\u0001\\u001f\\u001b\"");
	CHECK("nul\0byte", "\"nul\\u0000byte\"");
	CHECK("\"\\\n", "\"\\\"\\\\\\n\"");
}

static void test_valid_utf8_passes_through(void **state)
{
	CHECK("caf\xc3\xa9", "\"caf\xc3\xa9\"");                  /* U+00E9 */
	CHECK("\xe2\x98\x95 \xe2\x82\xac", "\"\xe2\x98\x95 \xe2\x82\xac\""); /* U+2615, U+20AC */
	CHECK("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");        /* U+1F600 */
	CHECK("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");        /* U+10FFFF */
	CHECK("\xc2\x80\xdf\xbf", "\"\xc2\x80\xdf\xbf\"");        /* U+0080, U+07FF */
	CHECK("\xe0\xa0\x80\xef\xbf\xbf", "\"\xe0\xa0\x80\xef\xbf\xbf\""); /* U+0800, U+FFFF */
	CHECK("\xed\x9f\xbf\xee\x80\x80", "\"\xed\x9f\xbf\xee\x80\x80\""); /* around the surrogates */
	CHECK("\xc3\xa9\n\xc3\xa9", "\"\xc3\xa9\\n\xc3\xa9\"");
}

static void test_invalid_bytes_escaped(void **state)
{
	CHECK("\xff", "\"\\udcff\"");
	CHECK("\xfe\xff raw", "\"\\udcfe\\udcff raw\"");
	CHECK("a\x80z", "\"a\\udc80z\"");                      /* lone continuation byte */
	CHECK("\xc0\xaf", "\"\\udcc0\\udcaf\"");                /* overlong '/' */
	CHECK("\xc1\xbf", "\"\\udcc1\\udcbf\"");                /* overlong */
	CHECK("\xe0\x80\xaf", "\"\\udce0\\udc80\\udcaf\"");     /* overlong 3 bytes */
	CHECK("\xf0\x80\x80\xaf", "\"\\udcf0\\udc80\\udc80\\udcaf\""); /* overlong 4 bytes */
	CHECK("\xed\xa0\x80", "\"\\udced\\udca0\\udc80\"");     /* U+D800, a surrogate */
	CHECK("\xed\xbf\xbf", "\"\\udced\\udcbf\\udcbf\"");     /* U+DFFF */
	CHECK("\xf4\x90\x80\x80", "\"\\udcf4\\udc90\\udc80\\udc80\""); /* U+110000 */
	CHECK("\xf5\x80\x80\x80", "\"\\udcf5\\udc80\\udc80\\udc80\"");
	CHECK("\xe2\x82", "\"\\udce2\\udc82\"");                /* truncated at the end */
	CHECK("\xe2\x82z", "\"\\udce2\\udc82z\"");              /* truncated before ASCII */
	/* A truncated sequence followed by a valid one: only the broken bytes are escaped. */
	CHECK("\xe2\x82\xe2\x82\xac", "\"\\udce2\\udc82\xe2\x82\xac\"");
	CHECK("\xc3", "\"\\udcc3\"");
	CHECK("\xfe\xff raw bytes \0 with NUL",
	      "\"\\udcfe\\udcff raw bytes \\u0000 with NUL\"");
}

static void test_long_string(void **state)
{
	/* Longer than the buf's first allocation, mixing runs and escapes. */
	char in[3000], want[3000 * 2 + 3];
	size_t i, w = 0;

	want[w++] = '"';
	for (i = 0; i < sizeof(in); i++) {
		in[i] = (i % 100 == 99) ? '"' : (char)('a' + i % 26);
		if (in[i] == '"')
			want[w++] = '\\';
		want[w++] = in[i];
	}
	want[w++] = '"';
	want[w] = '\0';
	check(in, sizeof(in), want);
}

static void check_utf8(const char *in, size_t n, int want_r);

/* Every special byte at every position of strings up to 40 bytes long, so that each one is met in
 * every path of the writer: the short strings' overlapping loads (0-3, 4-7, 8-15, 16-32 bytes), the
 * sixteen- and eight-at-a-time scans, at a word boundary and in the byte-wise tail. jsonw_string_utf8
 * must give the same bytes, or -EILSEQ for the invalid ones. */
static void test_special_at_each_position(void **state)
{
	static const struct {
		const char *in, *esc;
	} sp[] = {
		{ "\"", "\\\"" },   { "\\", "\\\\" },       { "\n", "\\n" },
		{ "\x01", "\\u0001" }, { "\x1f", "\\u001f" },   { "\x7f", "\x7f" },
		{ " ", " " },       { "\x80", "\\udc80" },   { "\xff", "\\udcff" },
		{ "\xc3\xa9", "\xc3\xa9" }, { "\xe2\x82\xac", "\xe2\x82\xac" },
	};
	char in[48], want[96];
	size_t n, pos, k, w, splen;

	for (k = 0; k < sizeof(sp) / sizeof(sp[0]); k++) {
		splen = strlen(sp[k].in);
		for (n = splen; n <= 40; n++) {
			for (pos = 0; pos + splen <= n; pos++) {
				memset(in, 'a', n);
				memcpy(in + pos, sp[k].in, splen);
				w = 0;
				want[w++] = '"';
				memset(want + w, 'a', pos);
				w += pos;
				memcpy(want + w, sp[k].esc, strlen(sp[k].esc));
				w += strlen(sp[k].esc);
				memset(want + w, 'a', n - pos - splen);
				w += n - pos - splen;
				want[w++] = '"';
				want[w] = '\0';
				check(in, n, want);
				check_utf8(in, n, strstr(sp[k].esc, "udc") ? -EILSEQ : 0);
			}
		}
	}
}

/* jsonw_string_utf8: the same bytes as jsonw_string for valid UTF-8; for anything else -EILSEQ and
 * the buf exactly as it was. */
static void check_utf8(const char *in, size_t n, int want_r)
{
	struct buf a, b;

	buf_init(&a, 0);
	buf_init(&b, 0);
	assert_int_equal(buf_puts(&a, "x:"), 0);
	assert_int_equal(buf_puts(&b, "x:"), 0);
	assert_int_equal(jsonw_string(&a, in, n), 0);
	assert_int_equal(jsonw_string_utf8(&b, in, n), want_r);
	if (want_r == 0) {
		assert_int_equal(b.len, a.len);
		assert_memory_equal(b.data, a.data, a.len + 1);
	} else {
		assert_int_equal(b.len, 2);
		assert_string_equal(b.data, "x:");
	}
	buf_free(&a);
	buf_free(&b);
}

#define CHECK_UTF8(lit, r) check_utf8((lit), sizeof(lit) - 1, (r))

static void test_string_utf8(void **state)
{
	CHECK_UTF8("", 0);
	CHECK_UTF8("purchase_completed", 0);
	CHECK_UTF8("say \"hi\"\n\x01 C:\\dir", 0);
	CHECK_UTF8("caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", 0);
	CHECK_UTF8("nul\0byte", 0);
	CHECK_UTF8("\xff", -EILSEQ);
	CHECK_UTF8("bad \xff byte", -EILSEQ);
	CHECK_UTF8("escaped \" first, then bad: \xc0\xaf", -EILSEQ);
	CHECK_UTF8("\xed\xa0\x80", -EILSEQ);
	CHECK_UTF8("\xf4\x90\x80\x80", -EILSEQ);
	CHECK_UTF8("a long valid run of ascii first \xe2\x82", -EILSEQ);
	CHECK_UTF8("\xc3\xa9\xc3", -EILSEQ);
}

static void test_cap_reached(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(jsonw_string(&b, "0123456789", 10), -E2BIG);
	buf_free(&b);
	buf_init(&b, 12);
	assert_int_equal(jsonw_string(&b, "0123456789", 10), 0);
	assert_string_equal(b.data, "\"0123456789\"");
	buf_free(&b);
}

static void test_utf8_valid(void **state)
{
#define V(lit) utf8_valid((lit), sizeof(lit) - 1)
	assert_true(V(""));
	assert_true(V("plain ascii, long enough for the word-at-a-time path"));
	assert_true(V("caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"));
	assert_true(V("\0\x01\x7f"));
	assert_true(V("12345678\xc3\xa9"));
	assert_false(V("\x80"));
	assert_false(V("\xbf"));
	assert_false(V("\xc0\x80"));
	assert_false(V("\xc1\xbf"));
	assert_false(V("\xe0\x9f\xbf"));
	assert_false(V("\xf0\x8f\xbf\xbf"));
	assert_false(V("\xed\xa0\x80"));
	assert_false(V("\xed\xbf\xbf"));
	assert_false(V("\xf4\x90\x80\x80"));
	assert_false(V("\xf5\x80\x80\x80"));
	assert_false(V("\xff"));
	assert_false(V("\xe2\x82"));
	assert_false(V("\xc3\x28"));
	assert_false(V("abcdefgh12345678\xe2\x82"));
	assert_false(V("\xf0\x9f\x98"));
#undef V
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_ascii),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_valid_utf8_passes_through),
		cmocka_unit_test(test_invalid_bytes_escaped),
		cmocka_unit_test(test_long_string),
		cmocka_unit_test(test_special_at_each_position),
		cmocka_unit_test(test_string_utf8),
		cmocka_unit_test(test_cap_reached),
		cmocka_unit_test(test_utf8_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
