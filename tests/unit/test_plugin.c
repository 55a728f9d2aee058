/* Parser plugins: the example plugin loads and parses; every unsafe or incompatible file is refused
 * with a message naming it. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "parser.h"

static char kv_path[1024], badabi_path[1024], v1_path[1024], source_path[1024];
#define TMP_PREFIX "/tmp/onside-test-plugin-"

static char tmpdir[64];
static struct record rec;

static int setup(void **unused)
{
	const char *dir = getenv("ONSIDE_PLUGIN_DIR");

	if (!dir || dir[0] != '/') {
		fprintf(stderr, "ONSIDE_PLUGIN_DIR must name the build directory\n");
		return -1;
	}
	snprintf(kv_path, sizeof(kv_path), "%s/libonside-kv.so", dir);
	snprintf(badabi_path, sizeof(badabi_path), "%s/libonside-badabi.so", dir);
	snprintf(v1_path, sizeof(v1_path), "%s/libonside-v1.so", dir);
	snprintf(source_path, sizeof(source_path), "%s/libonside-source.so", dir);
	/* mkdtemp's template: a prefix, then six 'X' that it replaces */
	memcpy(tmpdir, TMP_PREFIX, strlen(TMP_PREFIX));
	memset(tmpdir + strlen(TMP_PREFIX), 'X', 6);
	tmpdir[strlen(TMP_PREFIX) + 6] = '\0';
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int teardown(void **unused)
{
	char path[128];

	/* only files this test made, in the directory it made */
	snprintf(path, sizeof(path), "%s/libonside-kv.so", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/not-a-library.so", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

/* Copies the example plugin into the temp dir with the given mode; returns the copy's path. */
static const char *copy_kv(mode_t mode)
{
	static char dst[128];
	char block[65536];
	ssize_t n;
	int in, out;

	snprintf(dst, sizeof(dst), "%s/libonside-kv.so", tmpdir);
	unlink(dst);
	in = open(kv_path, O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(out >= 0);
	while ((n = read(in, block, sizeof(block))) > 0)
		assert_int_equal(write(out, block, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
	/* chmod, not the open mode: the umask must not weaken the test */
	assert_int_equal(chmod(dst, mode), 0);
	return dst;
}

static void refused(const char *path, int code, const char *want)
{
	const struct onside_parser_ops *ops = NULL;
	void *handle = NULL;
	char err[512] = "";

	assert_int_equal(plugin_load(path, &ops, &handle, err, sizeof(err)), code);
	assert_null(ops);
	assert_null(handle);
	assert_string_equal(err, want);
}

static void test_kv_plugin_parses(void **unused)
{
	struct parser *p = NULL;
	char err[256] = "", reason[256] = "";

	assert_int_equal(parser_open("plugin", kv_path, "{}", &p, err, sizeof(err)), 0);
	assert_int_equal(parser_parse(p, NULL, "event:purchase|amount:9.90|url:http://x/", 40, &rec, reason,
				      sizeof(reason)),
			 ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 3);
	assert_int_equal(rec.f[0].name_len, 5);
	assert_memory_equal(rec.f[0].name, "event", 5);
	assert_int_equal(rec.f[0].value_len, 8);
	assert_memory_equal(rec.f[0].value, "purchase", 8);
	assert_int_equal(record_get(&rec, "amount", 6)->value_len, 4);
	assert_memory_equal(record_get(&rec, "amount", 6)->value, "9.90", 4);
	assert_memory_equal(record_get(&rec, "url", 3)->value, "http://x/", 9);
	assert_int_equal(record_get(&rec, "url", 3)->type, ONSIDE_T_STRING);
	assert_int_equal(parser_parse(p, NULL, "event purchase", 14, &rec, reason, sizeof(reason)),
			 ONSIDE_PARSE_NOMATCH);
	assert_string_equal(reason, "item at byte 0 has no ':'");
	assert_int_equal(rec.n, 0);
	parser_free(p);
}

static void test_kv_plugin_options(void **unused)
{
	struct parser *p = NULL;
	char err[1400] = "", reason[256] = "", want[1400];

	assert_int_equal(parser_open("plugin", kv_path, "{\"separator\": \";\"}", &p, err, sizeof(err)),
			 0);
	assert_int_equal(parser_parse(p, NULL, "a:1;b:x|y", 9, &rec, reason, sizeof(reason)), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 2);
	assert_memory_equal(record_get(&rec, "b", 1)->value, "x|y", 3);
	/* empty items are ignored; NUL bytes are data */
	assert_int_equal(parser_parse(p, NULL, ";a:\0;;b:;", 9, &rec, reason, sizeof(reason)), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 2);
	assert_int_equal(record_get(&rec, "a", 1)->value_len, 1);
	assert_int_equal(record_get(&rec, "a", 1)->value[0], '\0');
	assert_int_equal(record_get(&rec, "b", 1)->value_len, 0);
	assert_int_equal(parser_parse(p, NULL, "a:1;:2", 6, &rec, reason, sizeof(reason)), ONSIDE_PARSE_NOMATCH);
	assert_string_equal(reason, "item at byte 4 has an empty key");
	parser_free(p);

	p = NULL;
	assert_int_equal(parser_open("plugin", kv_path, "{\"sep\": \";\"}", &p, err, sizeof(err)),
			 -EINVAL);
	assert_null(p);
	snprintf(want, sizeof(want),
		 "plugin %s: kv: options must be {} or {\"separator\": \"C\"} with one character C",
		 kv_path);
	assert_string_equal(err, want);
}

static void test_bad_abi_refused(void **unused)
{
	char want[4200];
	struct parser *p = NULL;
	char err[4200] = "";

	snprintf(want, sizeof(want), "plugin %s: has parser ABI 99, this agent needs 1 to 2", badabi_path);
	refused(badabi_path, -ENOEXEC, want);
	/* and through parser_open, as the agent meets it */
	assert_int_equal(parser_open("plugin", badabi_path, "{}", &p, err, sizeof(err)), -ENOEXEC);
	assert_null(p);
	assert_string_equal(err, want);
}

/* A plugin built against the version 1 header loads and parses; its struct ends before the members
 * of version 2, which the agent never reads. */
static void test_abi_1_plugin_still_loads(void **unused)
{
	struct onside_source src = { .size = sizeof(src), .first_line = "h", .first_line_len = 1 };
	struct parser *p = NULL;
	char err[256] = "", reason[256] = "";

	assert_int_equal(parser_open("plugin", v1_path, "{}", &p, err, sizeof(err)), 0);
	assert_int_equal(parser_parse(p, &src, "amount=9.90", 11, &rec, reason, sizeof(reason)),
			 ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 1);
	assert_memory_equal(rec.f[0].value, "9.90", 4);
	assert_int_equal(parser_parse(p, NULL, "amount", 6, &rec, reason, sizeof(reason)),
			 ONSIDE_PARSE_NOMATCH);
	assert_string_equal(reason, "no '='");
	parser_free(p);
}

/* A version 2 plugin with parse_source gets each line's own source. */
static void test_abi_2_plugin_gets_the_source(void **unused)
{
	struct onside_source a = { .size = sizeof(a), .first_line = "head a", .first_line_len = 6,
				   .offset = 7 };
	struct parser *p = NULL;
	char err[256] = "", reason[256] = "";

	assert_int_equal(parser_open("plugin", source_path, "{}", &p, err, sizeof(err)), 0);
	assert_int_equal(parser_parse(p, &a, "x", 1, &rec, reason, sizeof(reason)), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 3);
	assert_memory_equal(rec.f[1].value, "7", 1);
	assert_int_equal(rec.f[1].type, ONSIDE_T_NUMBER);
	assert_int_equal(rec.f[2].value_len, 6);
	assert_memory_equal(rec.f[2].value, "head a", 6);
	/* no file: no first line, and an offset that is not the first line's */
	assert_int_equal(parser_parse(p, NULL, "y", 1, &rec, reason, sizeof(reason)), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 2);
	assert_int_not_equal(rec.f[1].value[0], '0');
	parser_free(p);
}

static void test_writable_by_others_refused(void **unused)
{
	const struct onside_parser_ops *ops = NULL;
	const char *path;
	void *handle = NULL;
	char want[256], err[256];

	path = copy_kv(0666);
	snprintf(want, sizeof(want), "plugin %s: writable by group or others (mode 0666)", path);
	refused(path, -EPERM, want);
	path = copy_kv(0620);
	snprintf(want, sizeof(want), "plugin %s: writable by group or others (mode 0620)", path);
	refused(path, -EPERM, want);
	/* the same bytes with a safe mode load */
	path = copy_kv(0755);
	assert_int_equal(plugin_load(path, &ops, &handle, err, sizeof(err)), 0);
	assert_int_equal(ops->abi, ONSIDE_PARSER_ABI);
	assert_string_equal(ops->name, "kv");
	plugin_unload(handle);
}

static void test_foreign_owner_refused(void **unused)
{
	const char *path;
	char want[256];

	if (geteuid() != 0) { /* only root can give a file away */
		print_message("SKIP test_foreign_owner_refused: not running as root\n");
		skip();
	}
	path = copy_kv(0755);
	assert_int_equal(chown(path, 65534, 65534), 0);
	snprintf(want, sizeof(want), "plugin %s: owned by uid 65534, neither root nor the agent's uid 0",
		 path);
	refused(path, -EPERM, want);
}

static void test_relative_path_refused(void **unused)
{
	refused("libonside-kv.so", -EINVAL, "plugin libonside-kv.so: path is not absolute");
	refused("./libonside-kv.so", -EINVAL, "plugin ./libonside-kv.so: path is not absolute");
	refused("", -EINVAL, "plugin : path is not absolute");
}

static void test_missing_file_refused(void **unused)
{
	refused("/nonexistent/libonside-none.so", -ENOENT,
		"plugin /nonexistent/libonside-none.so: cannot stat: No such file or directory");
}

static void test_not_regular_refused(void **unused)
{
	char want[256];

	snprintf(want, sizeof(want), "plugin %s: not a regular file", tmpdir);
	refused(tmpdir, -EINVAL, want);
}

static void test_not_a_library_refused(void **unused)
{
	const struct onside_parser_ops *ops = NULL;
	void *handle = NULL;
	char path[128], prefix[256], err[512] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/not-a-library.so", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\necho hi\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(plugin_load(path, &ops, &handle, err, sizeof(err)), -ENOEXEC);
	assert_null(handle);
	snprintf(prefix, sizeof(prefix), "plugin %s: cannot load: ", path);
	/* the rest is dlerror()'s text, which differs between libc versions */
	assert_memory_equal(err, prefix, strlen(prefix));
	assert_true(strlen(err) > strlen(prefix));
}

static void test_missing_symbol_refused(void **unused)
{
	Dl_info info;
	char want[4200];

	/* cmocka's own shared library: a real, root-owned library without our symbol */
	assert_int_not_equal(dladdr((void *)_cmocka_run_group_tests, &info), 0);
	assert_non_null(info.dli_fname);
	if (info.dli_fname[0] != '/') {
		print_message("SKIP test_missing_symbol_refused: cmocka is statically linked\n");
		skip();
	}
	snprintf(want, sizeof(want), "plugin %s: does not export onside_parser_v1", info.dli_fname);
	refused(info.dli_fname, -ENOEXEC, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_plugin_parses),
		cmocka_unit_test(test_kv_plugin_options),
		cmocka_unit_test(test_bad_abi_refused),
		cmocka_unit_test(test_abi_1_plugin_still_loads),
		cmocka_unit_test(test_abi_2_plugin_gets_the_source),
		cmocka_unit_test(test_writable_by_others_refused),
		cmocka_unit_test(test_foreign_owner_refused),
		cmocka_unit_test(test_relative_path_refused),
		cmocka_unit_test(test_missing_file_refused),
		cmocka_unit_test(test_not_regular_refused),
		cmocka_unit_test(test_not_a_library_refused),
		cmocka_unit_test(test_missing_symbol_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
