#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "deadletter.h"

struct fixture {
	char dir[64];
	char path[128];
	char rotated[128];
};

static int setup(void **state)
{
	static const char mkdtemp_suffix[] = { 'X', 'X', 'X', 'X', 'X', 'X', '\0' };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_deadletter.%s", mkdtemp_suffix);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, DEADLETTER_FILE);
	snprintf(f->rotated, sizeof(f->rotated), "%s/%s.1", f->dir, DEADLETTER_FILE);
	umask(022);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	unlink(f->rotated);
	rmdir(f->dir);
	free(f);
	return 0;
}

static char *read_text(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *s;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, fp), (size_t)n);
	s[n] = '\0';
	fclose(fp);
	if (len)
		*len = (size_t)n;
	return s;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Checks that text is {"time":"<RFC 3339 UTC between t0 and t1>" followed exactly by rest. */
static void assert_line(const char *text, time_t t0, time_t t1, const char *rest)
{
	static const char head[] = "{\"time\":\"";
	struct tm tm;
	const char *end;
	time_t t;

	assert_memory_equal(text, head, strlen(head));
	memset(&tm, 0, sizeof(tm));
	end = strptime(text + strlen(head), "%Y-%m-%dT%H:%M:%SZ", &tm);
	assert_non_null(end);
	assert_int_equal(end - text, strlen(head) + 20);
	t = timegm(&tm);
	assert_true(t >= t0 && t <= t1);
	assert_string_equal(end, rest);
}

static void test_exact_line_plain(void **state)
{
	struct fixture *f = *state;
	struct deadletter *d = NULL;
	struct deadletter_entry e = {
		.input = "purchases",
		.path = "/var/log/shop/purchases.log",
		.offset = 1234,
		.reason = "no event_datetime",
		.line = "{\"event\":\"purchase\"}",
		.line_len = 20,
	};
	struct stat st;
	time_t t0, t1;
	char *text;

	assert_int_equal(deadletter_open(f->dir, 1 << 20, &d), 0);
	t0 = time(NULL);
	assert_int_equal(deadletter_write(d, &e), 0);
	t1 = time(NULL);
	assert_int_equal(deadletter_sync(d), 0);
	assert_int_equal(deadletter_count(d), 1);
	deadletter_close(d);
	text = read_text(f->path, NULL);
	assert_line(text, t0, t1,
		    "\",\"input\":\"purchases\",\"path\":\"/var/log/shop/purchases.log\",\"offset\":1234,"
		    "\"reason\":\"no event_datetime\",\"line\":\"{\\\"event\\\":\\\"purchase\\\"}\"}\n");
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	free(text);
}

static void test_exact_line_with_length_status_response(void **state)
{
	static const char resp[] = "{\"error\":\"bad \xff\"}\n";
	struct fixture *f = *state;
	struct deadletter *d = NULL;
	struct deadletter_entry e = {
		.input = "purchases",
		.path = "/var/log/a.log",
		.offset = 0,
		.reason = "rejected by the server",
		.line = "abcdef",
		.line_len = 3, /* truncated to max_line_bytes */
		.length = 70000,
		.status = 422,
		.response = resp,
		.response_len = sizeof(resp) - 1,
	};
	time_t t0, t1;
	char *text;

	assert_int_equal(deadletter_open(f->dir, 0, &d), 0);
	t0 = time(NULL);
	assert_int_equal(deadletter_write(d, &e), 0);
	t1 = time(NULL);
	deadletter_close(d);
	text = read_text(f->path, NULL);
	assert_line(text, t0, t1,
		    "\",\"input\":\"purchases\",\"path\":\"/var/log/a.log\",\"offset\":0,"
		    "\"reason\":\"rejected by the server\",\"line\":\"abc\",\"length\":70000,\"status\":422,"
		    "\"response\":\"{\\\"error\\\":\\\"bad \\udcff\\\"}\\n\"}\n");
	free(text);
}

static void test_status_without_length(void **state)
{
	struct fixture *f = *state;
	struct deadletter *d = NULL;
	struct deadletter_entry e = {
		.input = "in", .path = "/p", .offset = 9, .reason = "r", .line = "x", .line_len = 1,
		.status = 400, .response = NULL, .response_len = 0,
	};
	char *text;

	assert_int_equal(deadletter_open(f->dir, 0, &d), 0);
	assert_int_equal(deadletter_write(d, &e), 0);
	deadletter_close(d);
	text = read_text(f->path, NULL);
	assert_non_null(strstr(text, "\"line\":\"x\",\"status\":400,\"response\":\"\"}\n"));
	assert_null(strstr(text, "length"));
	free(text);
}

/* Test-side decoder for the surrogateescape convention: each \udcXX becomes \u0000\u00XX for json-c
 * (which would turn a lone surrogate into U+FFFD), then NUL + U+00XX folds back into the byte XX.
 * The test line's own NUL is followed by 'b', so the marker is unambiguous here. */
static char *decode_line(const char *json_line, size_t *ret_len)
{
	char *pre = malloc(strlen(json_line) * 2 + 1), *out;
	const unsigned char *s;
	struct json_object *o, *line;
	size_t i, k = 0, n;

	assert_non_null(pre);
	for (i = 0; json_line[i]; i++) {
		if (json_line[i] == '\\' && json_line[i + 1] == '\\') {
			pre[k++] = json_line[i++];
			pre[k++] = json_line[i];
		} else if (!strncmp(json_line + i, "\\udc", 4)) {
			k += (size_t)sprintf(pre + k, "\\u0000\\u00%.2s", json_line + i + 4);
			i += 5;
		} else {
			pre[k++] = json_line[i];
		}
	}
	pre[k] = '\0';
	o = json_tokener_parse(pre);
	free(pre);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "line", &line));
	s = (const unsigned char *)json_object_get_string(line);
	n = (size_t)json_object_get_string_len(line);
	out = malloc(n + 1);
	assert_non_null(out);
	for (i = k = 0; i < n; i++) {
		if (s[i] == 0 && i + 2 < n && (s[i + 1] == 0xc2 || s[i + 1] == 0xc3)) {
			out[k++] = (char)(((s[i + 1] & 0x1f) << 6) | (s[i + 2] & 0x3f));
			i += 2;
		} else {
			out[k++] = (char)s[i];
		}
	}
	json_object_put(o);
	*ret_len = k;
	return out;
}

static void test_invalid_utf8_and_nul_are_kept(void **state)
{
	static const char raw[] = "a\0b\xff\xfe\xc3(\"\\\r\t\x01 caf\xc3\xa9 "
				  "\xed\xa0\x80 \xf0\x9f\x92\x80 \\udcff";
	struct fixture *f = *state;
	struct deadletter *d = NULL;
	struct deadletter_entry e = {
		.input = "purchases", .path = "/var/log/\xff.log", .offset = 77, .reason = "not JSON",
		.line = raw, .line_len = sizeof(raw) - 1,
	};
	struct json_object *o, *x;
	char *text, *decoded;
	size_t n;

	assert_int_equal(deadletter_open(f->dir, 0, &d), 0);
	assert_int_equal(deadletter_write(d, &e), 0);
	deadletter_close(d);
	text = read_text(f->path, NULL);
	assert_non_null(strstr(text, "\"line\":\"a\\u0000b\\udcff\\udcfe\\udcc3(\\\"\\\\\\r\\t"
				     "\\u0001 caf\xc3\xa9 \\udced\\udca0\\udc80 \xf0\x9f\x92\x80 \\\\udcff\"}\n"));
	assert_non_null(strstr(text, "\"path\":\"/var/log/\\udcff.log\""));
	/* Plain json-c reads the line as a valid object with the right types. */
	o = json_tokener_parse(text);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "offset", &x));
	assert_true(json_object_is_type(x, json_type_int));
	assert_int_equal(json_object_get_int64(x), 77);
	json_object_put(o);
	decoded = decode_line(text, &n);
	assert_int_equal(n, sizeof(raw) - 1);
	assert_memory_equal(decoded, raw, n);
	free(decoded);
	free(text);
}

static void test_fingerprint_is_the_last_key_when_known(void **state)
{
	static const char fp[] = "f8c88e4728ca908f36ec9fae5a1c0c4ce1202313395c91f687b07e8861d646e4";
	struct fixture *f = *state;
	struct deadletter *d = NULL;
	struct deadletter_entry e = { .input = "p", .path = "/l", .offset = 3, .reason = "r", .line = "x",
				      .line_len = 1, .status = 400, .response = "no", .response_len = 2,
				      .fingerprint = fp };
	time_t t0 = time(NULL), t1;
	char *text, want[256];

	assert_int_equal(deadletter_open(f->dir, 0, &d), 0);
	assert_int_equal(deadletter_write(d, &e), 0);
	e.fingerprint = ""; /* not known yet: no key */
	assert_int_equal(deadletter_write(d, &e), 0);
	deadletter_close(d);
	t1 = time(NULL);
	text = read_text(f->path, NULL);
	snprintf(want, sizeof(want), "\",\"input\":\"p\",\"path\":\"/l\",\"offset\":3,\"reason\":\"r\",\"line\":\"x\","
		 "\"status\":400,\"response\":\"no\",\"fingerprint\":\"%s\"}\n", fp);
	*strchr(text, '\n') = '\0';
	strcat(text, "\n");
	assert_line(text, t0, t1, want);
	free(text);
}

/* What deadletter_read gives back is what was written, byte for byte: a NUL, bytes that are not UTF-8,
 * escapes that look like markers, the optional keys; a line that is not a record keeps its text. */
static void test_records_read_back_exactly(void **state)
{
	static const char raw[] = "a\0b\xff\xfe \\udcff \xc3\xa9\0\xc3\xa9 end";
	static const char fp[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct fixture *f = *state;
	struct deadletter *d = NULL;
	struct deadletter_entry e = { .input = "in", .path = "/var/log/\xff.log", .offset = 77, .reason = "bad",
				      .line = raw, .line_len = sizeof(raw) - 1, .length = 5000, .fingerprint = fp };
	struct deadletter_record *v = NULL;
	size_t n = 0;
	FILE *fp_out;

	assert_int_equal(deadletter_open(f->dir, 0, &d), 0);
	assert_int_equal(deadletter_write(d, &e), 0);
	e.fingerprint = NULL;
	e.length = 0;
	e.status = 400;
	assert_int_equal(deadletter_write(d, &e), 0);
	deadletter_close(d);
	fp_out = fopen(f->path, "a");
	assert_non_null(fp_out);
	fputs("{\"half a rec\n", fp_out);
	fclose(fp_out);

	assert_int_equal(deadletter_read(f->dir, DEADLETTER_FILE, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_true(v[0].ok);
	assert_string_equal(v[0].input, "in");
	assert_string_equal(v[0].path, "/var/log/\xff.log");
	assert_string_equal(v[0].reason, "bad");
	assert_int_equal(v[0].offset, 77);
	assert_int_equal(v[0].line_len, sizeof(raw) - 1);
	assert_memory_equal(v[0].line, raw, sizeof(raw) - 1);
	assert_int_equal(v[0].length, 5000);
	assert_int_equal(v[0].status, 0);
	assert_string_equal(v[0].fingerprint, fp);
	assert_true(v[1].ok);
	assert_null(v[1].fingerprint);
	assert_int_equal(v[1].status, 400);
	assert_int_equal(v[1].length, 0);
	assert_false(v[2].ok);
	assert_string_equal(v[2].text, "{\"half a rec");
	deadletter_records_free(v, n);
	/* no file: no records */
	unlink(f->path);
	assert_int_equal(deadletter_read(f->dir, DEADLETTER_FILE, &v, &n), 0);
	assert_int_equal(n, 0);
	deadletter_records_free(v, n);
}

static void test_rotation_at_size_bound(void **state)
{
	struct fixture *f = *state;
	struct deadletter *d = NULL;
	struct deadletter_entry e = {
		.input = "i", .path = "/p", .offset = 0, .reason = "r", .line = "0123456789", .line_len = 10,
	};
	char *text;
	size_t len, one;
	FILE *fp;

	fp = fopen(f->rotated, "w");
	assert_non_null(fp);
	fputs("an older rotation\n", fp);
	fclose(fp);
	/* Learn the length of one line, then bound the file at exactly two. */
	assert_int_equal(deadletter_open(f->dir, 0, &d), 0);
	assert_int_equal(deadletter_write(d, &e), 0);
	deadletter_close(d);
	text = read_text(f->path, &one);
	free(text);
	assert_int_equal(unlink(f->path), 0);

	assert_int_equal(deadletter_open(f->dir, 2 * one, &d), 0);
	e.offset = 1;
	assert_int_equal(deadletter_write(d, &e), 0);
	e.offset = 2;
	assert_int_equal(deadletter_write(d, &e), 0); /* exactly at the bound: no rotation yet */
	assert_int_equal(access(f->rotated, F_OK), 0);
	text = read_text(f->path, &len);
	assert_int_equal(len, 2 * one);
	free(text);
	e.offset = 3;
	assert_int_equal(deadletter_write(d, &e), 0); /* would pass the bound: rotate first */
	assert_int_equal(deadletter_count(d), 3);
	deadletter_close(d);

	text = read_text(f->rotated, &len);
	assert_int_equal(len, 2 * one);
	assert_int_equal(count_lines(text), 2);
	assert_non_null(strstr(text, "\"offset\":1,"));
	assert_non_null(strstr(text, "\"offset\":2,"));
	assert_null(strstr(text, "older"));
	free(text);
	text = read_text(f->path, &len);
	assert_int_equal(len, one);
	assert_non_null(strstr(text, "\"offset\":3,"));
	free(text);
}

/* An existing file is appended to, and its size counts toward the bound from the first write. */
static void test_reopen_appends_and_counts_existing_size(void **state)
{
	struct fixture *f = *state;
	struct deadletter *d = NULL;
	struct deadletter_entry e = {
		.input = "i", .path = "/p", .offset = 5, .reason = "r", .line = "L", .line_len = 1,
	};
	char *text;
	size_t len;

	assert_int_equal(deadletter_open(f->dir, 0, &d), 0);
	assert_int_equal(deadletter_write(d, &e), 0);
	deadletter_close(d);
	assert_int_equal(deadletter_open(f->dir, 0, &d), 0);
	assert_int_equal(deadletter_write(d, &e), 0);
	assert_int_equal(deadletter_count(d), 1);
	deadletter_close(d);
	text = read_text(f->path, &len);
	assert_int_equal(count_lines(text), 2);
	free(text);

	/* The file already holds 2 lines; a bound of 2.5 lines rotates on the next write. */
	assert_int_equal(deadletter_open(f->dir, len + len / 4, &d), 0);
	assert_int_equal(deadletter_write(d, &e), 0);
	deadletter_close(d);
	text = read_text(f->rotated, NULL);
	assert_int_equal(count_lines(text), 2);
	free(text);
	text = read_text(f->path, NULL);
	assert_int_equal(count_lines(text), 1);
	free(text);
}

/* A single line larger than the bound still gets written (into a fresh file, never lost). */
static void test_oversized_line_is_written(void **state)
{
	struct fixture *f = *state;
	struct deadletter *d = NULL;
	struct deadletter_entry e = {
		.input = "i", .path = "/p", .offset = 0, .reason = "r", .line = "0123456789", .line_len = 10,
	};
	char *text;

	assert_int_equal(deadletter_open(f->dir, 16, &d), 0);
	assert_int_equal(deadletter_write(d, &e), 0);
	assert_int_equal(access(f->rotated, F_OK), -1);
	assert_int_equal(deadletter_write(d, &e), 0);
	deadletter_close(d);
	text = read_text(f->path, NULL);
	assert_int_equal(count_lines(text), 1);
	free(text);
	text = read_text(f->rotated, NULL);
	assert_int_equal(count_lines(text), 1);
	free(text);
}

static void test_open_missing_dir(void **state)
{
	struct fixture *f = *state;
	struct deadletter *d = (struct deadletter *)f; /* any non-NULL: must stay untouched */
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/nonexistent", f->dir);
	assert_int_equal(deadletter_open(dir, 0, &d), -ENOENT);
	assert_ptr_equal(d, f);
	deadletter_close(NULL);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_exact_line_plain),
		T(test_exact_line_with_length_status_response),
		T(test_status_without_length),
		T(test_invalid_utf8_and_nul_are_kept),
		T(test_fingerprint_is_the_last_key_when_known),
		T(test_records_read_back_exactly),
		T(test_rotation_at_size_bound),
		T(test_reopen_appends_and_counts_existing_size),
		T(test_oversized_line_is_written),
		T(test_open_missing_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
