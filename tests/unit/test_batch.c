/* Batches: the exact body bytes, the limits at their exact boundaries, split/slice, raw lines. */
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
	size_t mark = batch_event_begin(b);

	struct batch_line l = {line, strlen(line), offset, offset + strlen(line) + 1, src};

	assert_int_equal(buf_puts(&b->body, json), 0);
	return batch_event_commit(b, mark, &l);
}

/* The body as written so far; for a closed batch also what batch_size() reports. */
static void assert_body(const struct batch *b, const char *want)
{
	assert_int_equal(b->body.len, strlen(want));
	assert_memory_equal(b->body.data, want, strlen(want));
	if (b->closed)
		assert_int_equal(batch_size(b), strlen(want));
}

static void assert_line(const struct batch *b, size_t i, const char *want)
{
	size_t len;
	const char *p = batch_line(b, i, &len);

	assert_int_equal(len, strlen(want));
	assert_memory_equal(p, want, len);
}

static void assert_parses_with(const struct batch *b, size_t nevents)
{
	struct json_object *o = json_tokener_parse(b->body.data), *arr;

	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "events", &arr));
	assert_int_equal(json_object_array_length(arr), nevents);
	json_object_put(o);
}

static void test_empty_body(void **state)
{
	struct batch *b = batch_new(10, 1000);

	assert_non_null(b);
	assert_int_equal(batch_size(b), strlen("{\"events\":[]}"));
	batch_close(b);
	batch_close(b); /* idempotent */
	assert_true(b->closed);
	assert_body(b, "{\"events\":[]}");
	assert_int_equal(b->n, 0);
	batch_free(b);
	batch_free(NULL);
}

static void test_one_event(void **state)
{
	struct batch *b = batch_new(10, 1000);
	int src;

	assert_int_equal(add(b, "{\"a\":1}", "line one", 42, &src), 0);
	assert_int_equal(b->n, 1);
	assert_int_equal(batch_size(b), strlen("{\"events\":[{\"a\":1}]}"));
	batch_close(b);
	assert_body(b, "{\"events\":[{\"a\":1}]}");
	assert_int_equal(b->ev[0].body_off, 11);
	assert_int_equal(b->ev[0].body_len, 7);
	assert_int_equal(b->ev[0].offset, 42);
	assert_ptr_equal(b->ev[0].src, &src);
	assert_int_equal(b->ev[0].end, 42 + strlen("line one") + 1);
	assert_line(b, 0, "line one");
	assert_parses_with(b, 1);
	batch_free(b);
}

static void test_three_events(void **state)
{
	struct batch *b = batch_new(10, 1000);

	assert_int_equal(add(b, "{\"a\":1}", "L1", 0, NULL), 0);
	assert_int_equal(add(b, "{\"b\":22}", "L22", 3, NULL), 0);
	assert_int_equal(add(b, "{\"c\":333}", "", 7, NULL), 0);
	batch_close(b);
	assert_body(b, "{\"events\":[{\"a\":1},{\"b\":22},{\"c\":333}]}");
	assert_int_equal(b->n, 3);
	/* body_off/len exclude the separator */
	assert_memory_equal(b->body.data + b->ev[1].body_off, "{\"b\":22}", b->ev[1].body_len);
	assert_int_equal(b->ev[1].body_len, 8);
	assert_memory_equal(b->body.data + b->ev[2].body_off, "{\"c\":333}", b->ev[2].body_len);
	assert_line(b, 0, "L1");
	assert_line(b, 1, "L22");
	assert_line(b, 2, "");
	assert_parses_with(b, 3);
	batch_free(b);
}

static void test_max_events_boundary(void **state)
{
	struct batch *b = batch_new(2, 1000);

	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), 0);
	assert_int_equal(add(b, "{\"a\":2}", "y", 2, NULL), 0);
	assert_int_equal(add(b, "{\"a\":3}", "z", 4, NULL), -E2BIG);
	assert_int_equal(b->n, 2);
	batch_close(b);
	/* the refused event left no trace, not even its separator */
	assert_body(b, "{\"events\":[{\"a\":1},{\"a\":2}]}");
	assert_int_equal(b->lines.len, 2);
	batch_free(b);
}

static void test_max_bytes_boundary(void **state)
{
	/* {"events":[ + {"a":1} + ]} = 11 + 7 + 2 = 20 bytes */
	struct batch *b = batch_new(10, 20);

	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), 0);
	assert_int_equal(batch_size(b), 20);
	batch_free(b);

	b = batch_new(10, 19);
	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), -E2BIG);
	assert_int_equal(b->n, 0);
	assert_body(b, "{\"events\":[");
	assert_int_equal(batch_size(b), 13);
	batch_free(b);

	/* second event: 20 + "," + 7 = 28 */
	b = batch_new(10, 28);
	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), 0);
	assert_int_equal(add(b, "{\"a\":2}", "y", 2, NULL), 0);
	assert_int_equal(batch_size(b), 28);
	batch_free(b);

	b = batch_new(10, 27);
	assert_int_equal(add(b, "{\"a\":1}", "x", 0, NULL), 0);
	assert_int_equal(add(b, "{\"a\":2}", "y", 2, NULL), -E2BIG);
	assert_int_equal(b->n, 1);
	/* the batch goes on accepting after a refusal: what fits still fits */
	assert_int_equal(add(b, "{}", "z", 4, NULL), 0);
	batch_close(b);
	assert_body(b, "{\"events\":[{\"a\":1},{}]}");
	assert_line(b, 1, "z");
	assert_int_equal(b->ev[1].offset, 4);
	batch_free(b);
}

static void test_abort_and_add_event(void **state)
{
	struct batch *b = batch_new(10, 1000);
	size_t mark;

	struct batch_line x = {"x", 1, 0, 2, NULL}, y = {"y", 1, 2, 4, NULL}, z = {"z", 1, 4, 6, NULL};

	assert_int_equal(batch_add_event(b, "{\"a\":1}", 7, &x), 0);
	mark = batch_event_begin(b);
	assert_int_equal(buf_puts(&b->body, "{\"half"), 0);
	batch_event_abort(b, mark);
	assert_int_equal(batch_add_event(b, "{\"b\":2}", 7, &y), 0);
	/* a closed batch takes nothing more */
	batch_close(b);
	assert_int_equal(batch_add_event(b, "{}", 2, &z), -EINVAL);
	assert_body(b, "{\"events\":[{\"a\":1},{\"b\":2}]}");
	assert_int_equal(b->n, 2);
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
	b->owner = owner;
	batch_close(b);
	return b;
}

static void test_split(void **state)
{
	int owner, srcs[5];
	struct batch *b = five(&owner, srcs), *x, *y;

	assert_int_equal(batch_split(b, &x, &y), 0);
	assert_true(x->closed && y->closed);
	assert_body(x, "{\"events\":[{\"i\":0},{\"i\":1}]}");
	assert_body(y, "{\"events\":[{\"i\":2,\"x\":\"long\"},{\"i\":3},{\"i\":4}]}");
	assert_parses_with(x, 2);
	assert_parses_with(y, 3);
	assert_ptr_equal(x->owner, &owner);
	assert_ptr_equal(y->owner, &owner);
	assert_line(x, 1, "one");
	assert_line(y, 0, "two");
	assert_line(y, 2, "four");
	assert_int_equal(y->ev[0].offset, 200);
	assert_ptr_equal(y->ev[2].src, &srcs[4]);
	assert_memory_equal(y->body.data + y->ev[1].body_off, "{\"i\":3}", y->ev[1].body_len);

	/* splitting a split piece down to single events */
	{
		struct batch *p, *q;
		assert_int_equal(batch_split(x, &p, &q), 0);
		assert_body(p, "{\"events\":[{\"i\":0}]}");
		assert_body(q, "{\"events\":[{\"i\":1}]}");
		assert_int_equal(batch_split(p, &x, &y), -EINVAL); /* a lone event cannot be split */
		batch_free(p);
		batch_free(q);
	}
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

static void test_slice(void **state)
{
	int owner, srcs[5];
	struct batch *b = five(&owner, srcs), *s;

	s = batch_slice(b, 1, 4);
	assert_non_null(s);
	assert_body(s, "{\"events\":[{\"i\":1},{\"i\":2,\"x\":\"long\"},{\"i\":3}]}");
	assert_parses_with(s, 3);
	assert_ptr_equal(s->owner, &owner);
	assert_int_equal(s->n, 3);
	assert_line(s, 0, "one");
	assert_line(s, 2, "three");
	assert_int_equal(s->ev[2].offset, 300);
	batch_free(s);

	s = batch_slice(b, 4, 5);
	assert_body(s, "{\"events\":[{\"i\":4}]}");
	batch_free(s);

	assert_null(batch_slice(b, 2, 2));
	assert_null(batch_slice(b, 3, 6));
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
	b->owner = &owner;
	batch_close(b);
	batch_reuse(b, 2, 40);
	assert_false(b->closed);
	assert_null(b->owner);
	assert_int_equal(b->n, 0);
	assert_int_equal(b->lines.len, 0);
	assert_int_equal(batch_size(b), strlen("{\"events\":[]}"));
	assert_int_equal(add(b, "{\"b\":1}", "other", 3, NULL), 0);
	assert_int_equal(add(b, "{\"b\":2}", "more", 9, NULL), 0);
	/* the new max_events (2) applies */
	assert_int_equal(add(b, "{\"b\":3}", "x", 12, NULL), -E2BIG);
	batch_close(b);
	assert_body(b, "{\"events\":[{\"b\":1},{\"b\":2}]}");
	assert_line(b, 0, "other");
	assert_line(b, 1, "more");
	assert_int_equal(b->ev[1].offset, 9);
	assert_parses_with(b, 2);
	/* and the new max_bytes (40): 33 bytes fit, one more event of 8 (+1 comma) does not */
	batch_reuse(b, 10, 40);
	assert_int_equal(add(b, "{\"c\":1}", "l", 0, NULL), 0);
	assert_int_equal(add(b, "{\"c\":2}", "l", 1, NULL), 0);
	assert_int_equal(add(b, "{\"c\":3}", "l", 2, NULL), 0);
	assert_int_equal(add(b, "{\"c\":4}", "l", 3, NULL), -E2BIG);
	assert_int_equal(b->n, 3);
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
		cmocka_unit_test(test_abort_and_add_event),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_needs_closed),
		cmocka_unit_test(test_slice),
		cmocka_unit_test(test_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
