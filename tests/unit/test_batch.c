/* Batches: the exact body bytes, the limits at their exact boundaries (the body as sent, "]}"
 * included, against max_bytes), split halves, raw lines, reuse. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"

static int add(struct batch *b, const char *json, const char *line, uint64_t offset, void *src)
{
	struct batch_line l = {line, strlen(line), offset, offset + strlen(line) + 1, src};

	return batch_add_event(b, json, strlen(json), &l);
}

/* The body as written so far (as sent, once closed). */
static void assert_body(const struct batch *b, const char *want)
{
	size_t len;
	const char *body = batch_body(b, &len);

	assert_int_equal(len, strlen(want));
	assert_memory_equal(body, want, len);
	assert_int_equal(body[len], '\0');
}

/* The size the body has once closed: what max_bytes is compared with. */
static size_t closed_size(const struct batch *b)
{
	size_t len;

	(void)batch_body(b, &len);
	return len + (batch_closed(b) ? 0 : strlen("]}"));
}

static void assert_line(const struct batch *b, size_t i, const char *want, uint64_t offset, void *src)
{
	struct batch_line l = batch_event_line(b, i);

	assert_int_equal(l.len, strlen(want));
	assert_memory_equal(l.line, want, l.len);
	assert_int_equal(l.offset, offset);
	assert_int_equal(l.end, offset + strlen(want) + 1);
	assert_ptr_equal(l.src, src);
}

static void assert_parses_with(const struct batch *b, size_t nevents)
{
	size_t len;
	struct json_object *o = json_tokener_parse(batch_body(b, &len)), *arr;

	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "events", &arr));
	assert_int_equal(json_object_array_length(arr), nevents);
	json_object_put(o);
}

static void test_empty_body(void **state)
{
	struct batch *b = batch_new(10, 1000);

	assert_non_null(b);
	assert_false(batch_closed(b));
	assert_null(batch_owner(b));
	assert_body(b, "{\"events\":[");
	batch_close(b);
	batch_close(b); /* idempotent */
	assert_true(batch_closed(b));
	assert_body(b, "{\"events\":[]}");
	assert_int_equal(batch_count(b), 0);
	batch_free(b);
	batch_free(NULL);
}

static void test_one_event(void **state)
{
	struct batch *b = batch_new(10, 1000);
	int src;

	assert_int_equal(add(b, "{\"a\":1}", "line one", 42, &src), 0);
	assert_int_equal(batch_count(b), 1);
	assert_body(b, "{\"events\":[{\"a\":1}");
	batch_close(b);
	assert_body(b, "{\"events\":[{\"a\":1}]}");
	assert_line(b, 0, "line one", 42, &src);
	assert_parses_with(b, 1);
	batch_free(b);
}

static void test_three_events(void **state)
{
	struct batch *b = batch_new(10, 1000);
	int s1, s2;

	assert_int_equal(add(b, "{\"a\":1}", "L1", 0, &s1), 0);
	assert_int_equal(add(b, "{\"b\":22}", "L22", 3, &s2), 0);
	assert_int_equal(add(b, "{\"c\":333}", "", 7, NULL), 0);
	batch_close(b);
	assert_body(b, "{\"events\":[{\"a\":1},{\"b\":22},{\"c\":333}]}");
	assert_int_equal(batch_count(b), 3);
	assert_line(b, 0, "L1", 0, &s1);
	assert_line(b, 1, "L22", 3, &s2);
	assert_line(b, 2, "", 7, NULL);
	assert_parses_with(b, 3);
	batch_free(b);
}

static void test_max_events_boundary(void **state)
{
	struct batch *b = batch_new(2, 1000);

	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), 0);
	assert_int_equal(add(b, "{\"a\":2}", "y", 2, NULL), 0);
	assert_int_equal(add(b, "{\"a\":3}", "z", 4, NULL), -E2BIG);
	assert_int_equal(batch_count(b), 2);
	batch_close(b);
	/* the refused event left no trace, not even its separator */
	assert_body(b, "{\"events\":[{\"a\":1},{\"a\":2}]}");
	assert_line(b, 1, "y", 2, NULL);
	batch_free(b);
}

static void test_max_bytes_boundary(void **state)
{
	/* {"events":[ + {"a":1} + ]} = 11 + 7 + 2 = 20 bytes */
	struct batch *b = batch_new(10, 20);

	assert_int_equal(closed_size(b), 13);
	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), 0);
	assert_int_equal(closed_size(b), 20);
	batch_close(b);
	assert_body(b, "{\"events\":[{\"a\":1}]}");
	batch_free(b);

	b = batch_new(10, 19);
	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), -E2BIG);
	assert_int_equal(batch_count(b), 0);
	assert_body(b, "{\"events\":[");
	assert_int_equal(closed_size(b), 13);
	batch_free(b);

	/* second event: 20 + "," + 7 = 28 */
	b = batch_new(10, 28);
	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), 0);
	assert_int_equal(add(b, "{\"a\":2}", "y", 2, NULL), 0);
	assert_int_equal(closed_size(b), 28);
	batch_close(b);
	assert_body(b, "{\"events\":[{\"a\":1},{\"a\":2}]}");
	batch_free(b);

	b = batch_new(10, 27);
	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), 0);
	assert_int_equal(add(b, "{\"a\":2}", "y", 2, NULL), -E2BIG);
	assert_int_equal(batch_count(b), 1);
	/* the batch goes on accepting after a refusal: what fits still fits */
	assert_int_equal(add(b, "{}", "z", 4, NULL), 0);
	assert_int_equal(closed_size(b), 23);
	batch_close(b);
	assert_body(b, "{\"events\":[{\"a\":1},{}]}");
	assert_line(b, 1, "z", 4, NULL);
	batch_free(b);

	/* limits too small for even an empty body take nothing, without wrapping around */
	b = batch_new(10, 1);
	assert_int_equal(add(b, "{}", "z", 0, NULL), -E2BIG);
	batch_free(b);
}

static void test_closed_takes_nothing(void **state)
{
	struct batch *b = batch_new(10, 1000);

	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), 0);
	batch_close(b);
	assert_int_equal(add(b, "{}", "z", 4, NULL), -EINVAL);
	assert_body(b, "{\"events\":[{\"a\":1}]}");
	assert_int_equal(batch_count(b), 1);
	batch_free(b);
}

static struct batch *five(void *owner, int *srcs)
{
	static const char *ev[] = {"{\"i\":0}", "{\"i\":1}", "{\"i\":2,\"x\":\"long\"}", "{\"i\":3}",
				   "{\"i\":4}"};
	static const char *lines[] = {"zero", "one", "two", "three", "four"};
	struct batch *b = batch_new(5, 1000);

	for (int i = 0; i < 5; i++)
		assert_int_equal(add(b, ev[i], lines[i], (uint64_t)i * 100, &srcs[i]), 0);
	batch_set_owner(b, owner);
	batch_close(b);
	return b;
}

static void test_split(void **state)
{
	int owner, srcs[5];
	struct batch *b = five(&owner, srcs), *x, *y;

	assert_int_equal(batch_split(b, &x, &y), 0);
	assert_true(batch_closed(x) && batch_closed(y));
	assert_int_equal(batch_count(x), 2);
	assert_int_equal(batch_count(y), 3);
	assert_body(x, "{\"events\":[{\"i\":0},{\"i\":1}]}");
	assert_body(y, "{\"events\":[{\"i\":2,\"x\":\"long\"},{\"i\":3},{\"i\":4}]}");
	assert_parses_with(x, 2);
	assert_parses_with(y, 3);
	assert_ptr_equal(batch_owner(x), &owner);
	assert_ptr_equal(batch_owner(y), &owner);
	assert_line(x, 0, "zero", 0, &srcs[0]);
	assert_line(x, 1, "one", 100, &srcs[1]);
	assert_line(y, 0, "two", 200, &srcs[2]);
	assert_line(y, 1, "three", 300, &srcs[3]);
	assert_line(y, 2, "four", 400, &srcs[4]);
	/* the original is left as it was */
	assert_body(b, "{\"events\":[{\"i\":0},{\"i\":1},{\"i\":2,\"x\":\"long\"},{\"i\":3},{\"i\":4}]}");

	/* splitting split pieces down to single events */
	{
		struct batch *p, *q, *r, *t;

		assert_int_equal(batch_split(x, &p, &q), 0);
		assert_body(p, "{\"events\":[{\"i\":0}]}");
		assert_body(q, "{\"events\":[{\"i\":1}]}");
		assert_line(q, 0, "one", 100, &srcs[1]);
		assert_int_equal(batch_split(p, &r, &t), -EINVAL); /* a lone event cannot be split */
		batch_free(p);
		batch_free(q);
		assert_int_equal(batch_split(y, &p, &q), 0);
		assert_body(p, "{\"events\":[{\"i\":2,\"x\":\"long\"}]}");
		assert_body(q, "{\"events\":[{\"i\":3},{\"i\":4}]}");
		assert_ptr_equal(batch_owner(q), &owner);
		assert_line(q, 1, "four", 400, &srcs[4]);
		batch_free(p);
		batch_free(q);
	}
	batch_free(x);
	batch_free(y);
	batch_free(b);
}

/* The halves of a batch that filled max_bytes exactly keep its limits, and fit them. */
static void test_split_of_a_full_batch(void **state)
{
	/* 11 + 7 + 1 + 7 + 1 + 7 + 2 = 36 */
	struct batch *b = batch_new(3, 36), *x, *y;

	assert_int_equal(add(b, "{\"a\":1}", "1", 0, NULL), 0);
	assert_int_equal(add(b, "{\"a\":2}", "2", 2, NULL), 0);
	assert_int_equal(add(b, "{\"a\":3}", "3", 4, NULL), 0);
	assert_int_equal(closed_size(b), 36);
	batch_close(b);
	assert_int_equal(batch_split(b, &x, &y), 0);
	assert_body(x, "{\"events\":[{\"a\":1}]}");
	assert_body(y, "{\"events\":[{\"a\":2},{\"a\":3}]}");
	assert_line(y, 1, "3", 4, NULL);
	batch_free(x);
	batch_free(y);
	batch_free(b);
}

static void test_split_needs_closed(void **state)
{
	struct batch *b = batch_new(5, 1000), *x = NULL, *y = NULL;

	assert_int_equal(add(b, "{}", "a", 0, NULL), 0);
	assert_int_equal(add(b, "{}", "b", 1, NULL), 0);
	assert_int_equal(batch_split(b, &x, &y), -EINVAL);
	assert_null(x);
	assert_null(y);
	batch_free(b);
}

/* A delivered batch reused as a new one: an empty body, no events, the new limits, none of its old
 * lines; and the reused one builds exactly what a new one would. */
static void test_reuse(void **state)
{
	struct batch *b = batch_new(3, 1000);
	int owner;

	(void)state;
	assert_non_null(b);
	assert_int_equal(add(b, "{\"a\":1}", "line-1", 0, NULL), 0);
	assert_int_equal(add(b, "{\"a\":2}", "line-2", 7, NULL), 0);
	batch_set_owner(b, &owner);
	batch_close(b);
	batch_reuse(b, 2, 40);
	assert_false(batch_closed(b));
	assert_null(batch_owner(b));
	assert_int_equal(batch_count(b), 0);
	assert_body(b, "{\"events\":[");
	assert_int_equal(closed_size(b), strlen("{\"events\":[]}"));
	assert_int_equal(add(b, "{\"b\":1}", "other", 3, NULL), 0);
	assert_int_equal(add(b, "{\"b\":2}", "more", 9, NULL), 0);
	/* the new max_events (2) applies */
	assert_int_equal(add(b, "{\"b\":3}", "x", 12, NULL), -E2BIG);
	batch_close(b);
	assert_body(b, "{\"events\":[{\"b\":1},{\"b\":2}]}");
	assert_line(b, 0, "other", 3, NULL);
	assert_line(b, 1, "more", 9, NULL);
	assert_parses_with(b, 2);
	/* and the new max_bytes (40): three events make 36 bytes, a fourth (a comma and 7 more) does not fit */
	batch_reuse(b, 10, 40);
	assert_int_equal(add(b, "{\"c\":1}", "l", 0, NULL), 0);
	assert_int_equal(add(b, "{\"c\":2}", "l", 1, NULL), 0);
	assert_int_equal(add(b, "{\"c\":3}", "l", 2, NULL), 0);
	assert_int_equal(closed_size(b), 36);
	assert_int_equal(add(b, "{\"c\":4}", "l", 3, NULL), -E2BIG);
	assert_int_equal(batch_count(b), 3);
	batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_one_event),
		cmocka_unit_test(test_three_events),
		cmocka_unit_test(test_max_events_boundary),
		cmocka_unit_test(test_max_bytes_boundary),
		cmocka_unit_test(test_closed_takes_nothing),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_of_a_full_batch),
		cmocka_unit_test(test_split_needs_closed),
		cmocka_unit_test(test_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
