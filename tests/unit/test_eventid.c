/* Event ids: every vector of tests/data/event-id-vectors.json, and UUID validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "eventid.h"

static struct json_object *vectors;

static int load_vectors(void **state)
{
	const char *dir = getenv("ONSIDE_TEST_DATA");
	char path[4096];

	snprintf(path, sizeof(path), "%s/event-id-vectors.json", dir ? dir : "tests/data");
	vectors = json_object_from_file(path);
	if (!vectors) {
		fprintf(stderr, "cannot read %s\n", path);
		return -1;
	}
	return 0;
}

static int free_vectors(void **state)
{
	json_object_put(vectors);
	return 0;
}

struct bytes {
	char *p;
	size_t len;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	fail_msg("bad hex digit %c", c);
	return 0;
}

/* Decodes a hex string; the caller frees .p. */
static struct bytes decode_hex(const char *s)
{
	struct bytes b;
	size_t i, n;

	n = strlen(s);
	assert_int_equal(n % 2, 0);
	b.len = n / 2;
	b.p = malloc(b.len + 1);
	assert_non_null(b.p);
	for (i = 0; i < b.len; i++)
		b.p[i] = (char)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
	return b;
}

static struct bytes get_hex(struct json_object *obj, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(obj, key, &v));
	return decode_hex(json_object_get_string(v));
}

static const char *get_str(struct json_object *obj, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(obj, key, &v));
	return json_object_get_string(v);
}

static struct json_object *get_array(const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(vectors, key, &v));
	assert_true(json_object_is_type(v, json_type_array));
	assert_true(json_object_array_length(v) > 0);
	return v;
}

static void test_prefix_matches_vectors(void **state)
{
	assert_string_equal(get_str(vectors, "prefix"), EVENTID_PREFIX);
}

static void test_fingerprint_vectors(void **state)
{
	struct json_object *arr = get_array("fingerprint_examples");
	size_t i;

	for (i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		struct bytes line = get_hex(v, "first_line_hex");
		char fp[65];

		eventid_fingerprint(line.p, line.len, fp);
		assert_string_equal(fp, get_str(v, "fingerprint"));
		free(line.p);
	}
}

static void test_pos_vectors(void **state)
{
	struct json_object *arr = get_array("pos");
	size_t i;

	for (i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i), *off;
		struct bytes ns = get_hex(v, "namespace_hex"), in = get_hex(v, "input_hex");
		struct bytes first = get_hex(v, "first_line_hex"), line = get_hex(v, "line_hex");
		struct eventid_file *f;
		char fp[65], id[37];

		assert_true(json_object_object_get_ex(v, "offset", &off));
		eventid_fingerprint(first.p, first.len, fp);
		f = eventid_file_new(ns.p, ns.len, in.p, in.len, fp);
		assert_non_null(f);
		eventid_pos(f, (uint64_t)json_object_get_int64(off), line.p, line.len, id);
		if (strcmp(id, get_str(v, "event_id")) != 0)
			fail_msg("pos vector %zu (%s): got %s, want %s", i, get_str(v, "why"), id,
				 get_str(v, "event_id"));
		/* The per-file state is reused line after line: a second call gives the same id. */
		eventid_pos(f, (uint64_t)json_object_get_int64(off), line.p, line.len, id);
		assert_string_equal(id, get_str(v, "event_id"));
		eventid_file_free(f);
		free(ns.p);
		free(in.p);
		free(first.p);
		free(line.p);
	}
}

static void test_pos_offset_past_2_53(void **state)
{
	/* json-c reads the offset as int64; make sure the vector's offset did not lose precision. */
	struct json_object *arr = get_array("pos"), *off;
	size_t i;
	int seen = 0;

	for (i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		assert_true(json_object_object_get_ex(v, "offset", &off));
		if (json_object_get_int64(off) == INT64_C(9007199254740993))
			seen++;
	}
	assert_true(seen > 0);
}

static void test_key_vectors(void **state)
{
	struct json_object *arr = get_array("key");
	size_t i, j;

	for (i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i), *vals;
		struct bytes ns = get_hex(v, "namespace_hex"), name = get_hex(v, "event_name_hex");
		struct eventid_value values[8];
		struct bytes raw[8];
		size_t nvalues;
		char id[37];

		assert_true(json_object_object_get_ex(v, "values_hex", &vals));
		nvalues = json_object_array_length(vals);
		assert_true(nvalues <= 8);
		for (j = 0; j < nvalues; j++) {
			raw[j] = decode_hex(json_object_get_string(json_object_array_get_idx(vals, j)));
			values[j].p = raw[j].p;
			values[j].len = raw[j].len;
		}
		eventid_key(ns.p, ns.len, name.p, name.len, values, nvalues, id);
		if (strcmp(id, get_str(v, "event_id")) != 0)
			fail_msg("key vector %zu (%s): got %s, want %s", i, get_str(v, "why"), id,
				 get_str(v, "event_id"));
		for (j = 0; j < nvalues; j++)
			free(raw[j].p);
		free(ns.p);
		free(name.p);
	}
}

static void test_key_two_values_differ_from_concatenation(void **state)
{
	static const char ns[] = "3d1219c7c4c5404aaa1f6d2a48adfda4";
	struct eventid_value two[] = { { "A-1", 3 }, { "USD", 3 } };
	struct eventid_value one[] = { { "A-1USD", 6 } };
	char a[37], b[37];

	eventid_key(ns, strlen(ns), "purchase_completed", 18, two, 2, a);
	eventid_key(ns, strlen(ns), "purchase_completed", 18, one, 1, b);
	assert_string_equal(a, "9b4fcbff-60dd-4361-a986-2b9d45ca8719");
	assert_string_equal(b, "b1be7e2f-1b1d-4703-881a-fc3a5d89f92a");
}

static void test_key_long_event_name_lowercased(void **state)
{
	/* Names longer than the internal lowercase chunk hash the same as their lowercase form. */
	char upper[200], lower[200], a[37], b[37];
	struct eventid_value v = { "x", 1 };
	size_t i;

	for (i = 0; i < sizeof(upper); i++) {
		upper[i] = (char)('A' + i % 26);
		lower[i] = (char)('a' + i % 26);
	}
	eventid_key("ns", 2, upper, sizeof(upper), &v, 1, a);
	eventid_key("ns", 2, lower, sizeof(lower), &v, 1, b);
	assert_string_equal(a, b);
	assert_true(uuid_is_v4(a, strlen(a)));
}

/* Every byte value at every position of a valid UUID: valid exactly when it keeps the layout. */
static void test_uuid_every_byte(void **state)
{
	const char *good = "0123abcd-EF45-6789-aBcD-eF0123456789";
	char u[EVENTID_LEN];

	for (size_t pos = 0; pos < EVENTID_LEN; pos++) {
		bool dash = pos == 8 || pos == 13 || pos == 18 || pos == 23;

		for (int c = 0; c < 256; c++) {
			bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

			memcpy(u, good, EVENTID_LEN);
			u[pos] = (char)c;
			if (uuid_is_valid(u, EVENTID_LEN) != (dash ? c == '-' : hex))
				fail_msg("position %zu byte 0x%02x", pos, c);
		}
	}
}

static void test_uuid_validation(void **state)
{
#define U(s) (s), strlen(s)
	assert_true(uuid_is_valid(U("550e8400-e29b-41d4-a716-446655440000")));
	assert_true(uuid_is_valid(U("550E8400-E29B-41D4-A716-446655440000")));
	assert_true(uuid_is_valid(U("00000000-0000-0000-0000-000000000000")));
	assert_true(uuid_is_valid(U("6ba7b810-9dad-11d1-80b4-00c04fd430c8"))); /* v1 */
	assert_false(uuid_is_valid(U("550e8400e29b41d4a716446655440000")));
	assert_false(uuid_is_valid(U("550e8400-e29b-41d4-a716-44665544000")));
	assert_false(uuid_is_valid(U("550e8400-e29b-41d4-a716-4466554400000")));
	assert_false(uuid_is_valid(U("550e8400-e29b-41d4-a716-44665544000g")));
	assert_false(uuid_is_valid(U("550e8400-e29b-41d4+a716-446655440000")));
	assert_false(uuid_is_valid(U("{50e8400-e29b-41d4-a716-446655440000")));
	assert_false(uuid_is_valid(U("")));
	/* A NUL inside the 36 bytes is not a hex digit. */
	assert_false(uuid_is_valid("550e8400-e29b-41d4-a716-44665544000\0", 36));

	assert_true(uuid_is_v4(U("550e8400-e29b-41d4-a716-446655440000")));
	assert_true(uuid_is_v4(U("550e8400-e29b-41d4-8716-446655440000")));
	assert_true(uuid_is_v4(U("550e8400-e29b-41d4-9716-446655440000")));
	assert_true(uuid_is_v4(U("550e8400-e29b-41d4-b716-446655440000")));
	assert_true(uuid_is_v4(U("550E8400-E29B-41D4-B716-446655440000")));
	assert_false(uuid_is_v4(U("550e8400-e29b-11d4-a716-446655440000"))); /* version 1 */
	assert_false(uuid_is_v4(U("550e8400-e29b-51d4-a716-446655440000"))); /* version 5 */
	assert_false(uuid_is_v4(U("550e8400-e29b-41d4-c716-446655440000"))); /* Microsoft variant */
	assert_false(uuid_is_v4(U("550e8400-e29b-41d4-7716-446655440000"))); /* NCS variant */
	assert_false(uuid_is_v4(U("550e8400-e29b-41d4-a716-44665544000")));
#undef U
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_matches_vectors),
		cmocka_unit_test(test_fingerprint_vectors),
		cmocka_unit_test(test_pos_vectors),
		cmocka_unit_test(test_pos_offset_past_2_53),
		cmocka_unit_test(test_key_vectors),
		cmocka_unit_test(test_key_two_values_differ_from_concatenation),
		cmocka_unit_test(test_key_long_event_name_lowercased),
		cmocka_unit_test(test_uuid_every_byte),
		cmocka_unit_test(test_uuid_validation),
	};

	return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
