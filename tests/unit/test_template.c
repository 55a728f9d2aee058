/* Templates: ${field} references, literal text, escapes, errors with their column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "template.h"

static void rec_add(struct record *r, const char *name, const char *value, int type)
{
	record_emit(r, name, strlen(name), value, strlen(value), type);
}

/* template_view gives the same text as template_render, whether it copies or not. */
static void view_ok(const struct template *t, const struct record *r, const char *want)
{
	struct buf scratch;
	const char *p = NULL;
	size_t len = 99;
	char err[128] = "";

	buf_init(&scratch, 0);
	assert_int_equal(buf_puts(&scratch, "old"), 0);
	assert_int_equal(template_view(t, r, &scratch, &p, &len, err, sizeof(err)), 0);
	assert_non_null(p);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(p, want, len);
	buf_free(&scratch);
}

static void render_ok(const char *src, const struct record *r, const char *want)
{
	struct template *t = NULL;
	struct buf out;
	char err[128] = "";

	buf_init(&out, 0);
	assert_int_equal(template_compile(src, &t, err, sizeof(err), NULL), 0);
	assert_int_equal(template_render(t, r, &out, err, sizeof(err)), 0);
	assert_string_equal(out.data ? out.data : "", want);
	buf_free(&out);
	view_ok(t, r, want);
	template_free(t);
}

static void test_render(void **state)
{
	static struct record r;

	(void)state;
	record_reset(&r);
	rec_add(&r, "event", "purchase_completed", ONSIDE_T_STRING);
	rec_add(&r, "amount", "9.90", ONSIDE_T_NUMBER);
	rec_add(&r, "a.b.c", "deep", ONSIDE_T_STRING);
	render_ok("${event}", &r, "purchase_completed");
	render_ok("shop:${event}/${amount}", &r, "shop:purchase_completed/9.90");
	render_ok("${a.b.c}", &r, "deep");
	render_ok("costs $5", &r, "costs $5");
	render_ok("$${event} is ${event}", &r, "${event} is purchase_completed");
	render_ok("", &r, "");
}

static void test_missing_field(void **state)
{
	static struct record r;
	struct template *t = NULL;
	struct buf out;
	const char *p = NULL;
	size_t len = 7;
	char err[128] = "";

	(void)state;
	record_reset(&r);
	buf_init(&out, 0);
	assert_int_equal(template_compile("x-${order_id}", &t, err, sizeof(err), NULL), 0);
	assert_int_equal(template_render(t, &r, &out, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "missing field order_id");
	template_free(t);
	assert_int_equal(template_compile("${order_id}", &t, err, sizeof(err), NULL), 0);
	assert_int_equal(template_view(t, &r, &out, &p, &len, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "missing field order_id");
	assert_ptr_equal(p, NULL);
	assert_int_equal(len, 7);
	buf_free(&out);
	template_free(t);
}

/* A template that is exactly one ${field} gives the field's own bytes: no copy into scratch. */
static void test_view_no_copy(void **state)
{
	static struct record r;
	struct template *t = NULL;
	struct buf scratch;
	const char *p = NULL;
	char err[128] = "";
	size_t len = 0;

	(void)state;
	record_reset(&r);
	rec_add(&r, "event", "purchase_completed", ONSIDE_T_STRING);
	buf_init(&scratch, 0);
	assert_int_equal(template_compile("${event}", &t, err, sizeof(err), NULL), 0);
	assert_int_equal(template_view(t, &r, &scratch, &p, &len, err, sizeof(err)), 0);
	assert_ptr_equal(p, r.f[0].value);
	assert_int_equal(len, 18);
	assert_int_equal(scratch.len, 0);
	template_free(t);
	assert_int_equal(template_compile("x${event}", &t, err, sizeof(err), NULL), 0);
	assert_int_equal(template_view(t, &r, &scratch, &p, &len, err, sizeof(err)), 0);
	assert_ptr_equal(p, scratch.data);
	assert_string_equal(p, "xpurchase_completed");
	assert_int_equal(len, 19);
	buf_free(&scratch);
	template_free(t);
}

static void test_errors(void **state)
{
	struct template *t = NULL;
	char err[128] = "";
	size_t col = 99;

	(void)state;
	assert_int_equal(template_compile("ab${event", &t, err, sizeof(err), &col), -EINVAL);
	assert_string_equal(err, "unterminated \"${\"");
	assert_int_equal(col, 2);
	assert_int_equal(template_compile("${}", &t, err, sizeof(err), &col), -EINVAL);
	assert_string_equal(err, "empty field name in \"${}\"");
	assert_int_equal(col, 0);
	assert_null(t);
}

static void test_single_and_fields(void **state)
{
	static struct record r;
	struct template *t = NULL;
	char err[128];
	bool single;
	size_t len;
	const char *name;

	(void)state;
	record_reset(&r);
	rec_add(&r, "amount", "9.90", ONSIDE_T_NUMBER);
	assert_int_equal(template_compile("${amount}", &t, err, sizeof(err), NULL), 0);
	assert_non_null(template_single(t, &r, &single));
	assert_true(single);
	assert_int_equal(template_single(t, &r, &single)->type, ONSIDE_T_NUMBER);
	template_free(t);
	assert_int_equal(template_compile("a${x}b${y}", &t, err, sizeof(err), NULL), 0);
	assert_null(template_single(t, &r, &single));
	assert_false(single);
	assert_int_equal(template_nfields(t), 2);
	name = template_field(t, 1, &len);
	assert_int_equal(len, 1);
	assert_memory_equal(name, "y", 1);
	assert_false(template_is_constant(t));
	template_free(t);
	assert_int_equal(template_compile("constant", &t, err, sizeof(err), NULL), 0);
	assert_true(template_is_constant(t));
	template_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_missing_field),
		cmocka_unit_test(test_view_no_copy),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_single_and_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
