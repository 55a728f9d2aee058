/* The json parser's fast path against json-c itself: whatever the fast path accepts must give the
 * fields json-c gives (same names, order, types and text); everything else must be left to json-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"

static struct record rec;

/* Compares rec (from the fast path) with json-c's strict parse of the same line, made as the json
 * parser's fallback makes it: json-c 0.17 and 0.18 refuse every byte >= 0x80 inside a string in
 * strict mode, so such a line is parsed again without it (parsers/json.c tokenize()). */
static void same_as_jsonc(const char *line)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;
	size_t i = 0;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, line, (int)strlen(line));
#if JSON_C_VERSION_NUM >= 0x001100
	if (!obj && json_tokener_get_error(tok) == json_tokener_error_parse_string) {
		bool high = false;

		for (const char *p = line; *p; p++)
			high |= (unsigned char)*p >= 0x80;
		if (high) {
			json_tokener_reset(tok);
			json_tokener_set_flags(tok, 0);
			obj = json_tokener_parse_ex(tok, line, (int)strlen(line));
		}
	}
#endif
	assert_non_null(obj);
	assert_int_equal(json_object_object_length(obj), rec.n);
	json_object_object_foreach(obj, key, val) {
		const struct field *f = &rec.f[i++];
		const char *text = json_object_get_string(val);

		assert_int_equal(f->name_len, strlen(key));
		assert_memory_equal(f->name, key, f->name_len);
		switch (json_object_get_type(val)) {
		case json_type_string:
			assert_int_equal(f->type, ONSIDE_T_STRING);
			break;
		case json_type_int:
			assert_int_equal(f->type, ONSIDE_T_NUMBER);
			break;
		case json_type_boolean:
			assert_int_equal(f->type, ONSIDE_T_BOOL);
			break;
		case json_type_null:
			assert_int_equal(f->type, ONSIDE_T_NULL);
			text = "null";
			break;
		default:
			fail_msg("type %d from the fast path", json_object_get_type(val));
		}
		assert_int_equal(f->value_len, strlen(text));
		assert_memory_equal(f->value, text, f->value_len);
	}
	json_object_put(obj);
	json_tokener_free(tok);
}

static void fast_ok(const char *line)
{
	record_reset(&rec);
	assert_int_equal(parser_json_fast(line, strlen(line), record_emit, &rec), 0);
	same_as_jsonc(line);
}

static void fast_declines(const char *line)
{
	record_reset(&rec);
	assert_int_equal(parser_json_fast(line, strlen(line), record_emit, &rec), -EINVAL);
	assert_int_equal(rec.n, 0);
}

static void test_accepted_lines_match_jsonc(void **state)
{
	(void)state;
	fast_ok("{}");
	fast_ok(" { } ");
	fast_ok("{\"ts\":\"2026-05-05T12:00:00Z\",\"event\":\"purchase_completed\",\"n\":42,\"neg\":-7,"
		"\"zero\":0,\"ok\":true,\"no\":false,\"nothing\":null,\"\":\"\"}");
	fast_ok("{ \"a\" : \"caf\xc3\xa9\" ,\t\"b\":123456789012345678 }\r");
	fast_ok("{\"bytes\":\"\xff\xfe not UTF-8\",\"del\":\"\x7f\"}");
}

static void test_everything_else_is_left_to_jsonc(void **state)
{
	static const char *const lines[] = {
		"", "   ", "[1,2]", "\"s\"", "42", "{", "{\"a\":1", "{\"a\":1,}", "{\"a\":1} x", "{\"a\":1}{}",
		"{\"a\":\"esc\\\"aped\"}", "{\"a\\u0041\":1}", "{\"a\":\"tab\there\"}", "{\"a\":1.5}",
		"{\"a\":1e3}", "{\"a\":-0}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1234567890123456789}",
		"{\"a\":{\"b\":1}}", "{\"a\":[1]}", "{\"a\":1,\"a\":2}", "{\"a\":tru}", "{\"a\":nul}",
		"{\"a\":TRUE}", "{a:1}", "{'a':1}", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "{\"a\":\"x\"\"b\"}",
		"{\"a\":NaN}", "{\"a\":\"x\",}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		fast_declines(lines[i]);
	/* a NUL byte: never accepted */
	record_reset(&rec);
	assert_int_equal(parser_json_fast("{\"a\":\"x\0y\"}", 11, record_emit, &rec), -EINVAL);
}

static void test_more_than_64_fields_go_to_jsonc(void **state)
{
	char line[4096];
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(line + n, sizeof(line) - n, "{");
	for (int i = 0; i < 65; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s\"k%d\":%d", i ? "," : "", i, i);
	snprintf(line + n, sizeof(line) - n, "}");
	fast_declines(line);
}

/* Seeded random flat objects with random spacing: every one accepted, every one as json-c reads it. */
static void test_random_flat_objects(void **state)
{
	static const char *const ws[] = {"", " ", "\t", "  ", "\r"};
	char line[8192];
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		size_t n = 0;
		int fields = rand_r(&seed) % 12;

		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s{", ws[rand_r(&seed) % 5]);
		for (int i = 0; i < fields; i++) {
			int kind = rand_r(&seed) % 5;
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s\"f%d_%d\"%s:%s", i ? "," : "",
					      ws[rand_r(&seed) % 5], i, rand_r(&seed) % 100, ws[rand_r(&seed) % 5],
					      ws[rand_r(&seed) % 5]);
			if (kind == 0)
				n += (size_t)snprintf(line + n, sizeof(line) - n, "\"v %d \xc3\xa9/%x\"", rand_r(&seed),
						      rand_r(&seed));
			else if (kind == 1)
				n += (size_t)snprintf(line + n, sizeof(line) - n, "%d", rand_r(&seed) - RAND_MAX / 2);
			else if (kind == 2)
				n += (size_t)snprintf(line + n, sizeof(line) - n, "%lld",
						      (long long)(rand_r(&seed) % 100000000) * 1000000000LL +
							      rand_r(&seed) % 1000000000);
			else
				n += (size_t)snprintf(line + n, sizeof(line) - n, "%s",
						      kind == 3 ? (rand_r(&seed) % 2 ? "true" : "false") : "null");
		}
		snprintf(line + n, sizeof(line) - n, "%s}%s", ws[rand_r(&seed) % 5], ws[rand_r(&seed) % 5]);
		fast_ok(line);
	}
}

/* Duplicate keys of every length up to 20 (and keys that differ in one byte only, which are not
 * duplicates) at every distance: the fast path compares keys through a 64-bit filter first. */
static void test_duplicate_keys(void **state)
{
	char line[1024], key[24], other[24];
	size_t n;

	(void)state;
	for (size_t kl = 0; kl <= 20; kl++) {
		for (size_t k = 0; k < kl; k++)
			key[k] = (char)('a' + (k * 7) % 26);
		key[kl] = '\0';
		memcpy(other, key, kl + 1);
		for (int gap = 0; gap < 4; gap++) {
			/* the same key twice, gap other members between */
			n = (size_t)snprintf(line, sizeof(line), "{\"%s\":1", key);
			for (int g = 0; g < gap; g++)
				n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"g%d\":%d", g, g);
			snprintf(line + n, sizeof(line) - n, ",\"%s\":2}", key);
			fast_declines(line);
			if (kl == 0)
				continue;
			/* the same length, one byte different, at each position: no duplicate */
			for (size_t pos = 0; pos < kl; pos++) {
				other[pos] = 'Z';
				n = (size_t)snprintf(line, sizeof(line), "{\"%s\":1", key);
				for (int g = 0; g < gap; g++)
					n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"g%d\":%d", g, g);
				snprintf(line + n, sizeof(line) - n, ",\"%s\":2}", other);
				fast_ok(line);
				other[pos] = key[pos];
			}
		}
	}
}

/* Seeded random strings of 0 to 40 bytes, so that their ends and their special bytes fall at every
 * offset of the sixteen- and eight-byte scans: plain ones are accepted as json-c reads them, one with
 * an escape or a control byte is left to json-c. */
static void test_random_string_lengths(void **state)
{
	static const char plain[] = "abcXYZ 019/:{},[]'\x7f\xc3\xa9\xff";
	char line[512], s1[48], s2[48];
	unsigned seed = 777;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t l1 = (size_t)rand_r(&seed) % 41, l2 = (size_t)rand_r(&seed) % 41;
		int bad = rand_r(&seed) % 4 == 0;

		for (size_t i = 0; i < l1; i++)
			s1[i] = plain[rand_r(&seed) % (sizeof(plain) - 1)];
		for (size_t i = 0; i < l2; i++)
			s2[i] = plain[rand_r(&seed) % (sizeof(plain) - 1)];
		s1[l1] = s2[l2] = '\0';
		if (bad && l2) {
			static const char odd[] = {'\\', '\x01', '\x1f', '\t', '\n'};
			s2[(size_t)rand_r(&seed) % l2] = odd[rand_r(&seed) % 5];
		}
		snprintf(line, sizeof(line), "{\"%s\":\"%s\",\"k\":\"%s\"}", s1, s2, s1);
		if (bad && l2)
			fast_declines(line);
		else
			fast_ok(line);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_lines_match_jsonc),
		cmocka_unit_test(test_everything_else_is_left_to_jsonc),
		cmocka_unit_test(test_more_than_64_fields_go_to_jsonc),
		cmocka_unit_test(test_random_flat_objects),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_random_string_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
