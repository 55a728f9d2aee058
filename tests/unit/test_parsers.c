/* The built-in parsers (json, regex, logfmt, csv, ltsv), their configuration, and the parser registry and
 * record. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json_c_version.h>

#include "parser.h"

#define MIB ((size_t)1 << 20)

static struct record rec;
static char reason[256];

static struct parser *open_ok(const char *type, const char *opts)
{
	struct parser *p = NULL;
	char err[256] = "";

	if (parser_open(type, NULL, opts, &p, err, sizeof(err)) != 0)
		fail_msg("parser_open(%s, %s): %s", type, opts, err);
	return p;
}

static void open_fails(const char *type, const char *opts, const char *msg)
{
	struct parser *p = NULL;
	char err[256] = "";

	assert_int_equal(parser_open(type, NULL, opts, &p, err, sizeof(err)), -EINVAL);
	assert_null(p);
	assert_string_equal(err, msg);
}

static int parse_n(struct parser *p, const char *line, size_t len)
{
	reason[0] = '\0';
	return parser_parse(p, NULL, line, len, &rec, reason, sizeof(reason));
}

/* The file the lines of parse_at come from. */
static struct onside_source src;

static void in_file(const char *first_line)
{
	src = (struct onside_source){ .size = sizeof(src), .first_line = first_line,
				      .first_line_len = first_line ? strlen(first_line) : 0 };
}

/* Parses a line at offset of the file set by in_file. */
static int parse_at(struct parser *p, uint64_t offset, const char *line)
{
	reason[0] = '\0';
	src.offset = offset;
	return parser_parse(p, &src, line, strlen(line), &rec, reason, sizeof(reason));
}

static int parse(struct parser *p, const char *line)
{
	return parse_n(p, line, strlen(line));
}

static void nomatch(struct parser *p, const char *line, size_t len, const char *why)
{
	assert_int_equal(parse_n(p, line, len), ONSIDE_PARSE_NOMATCH);
	assert_string_equal(reason, why);
	assert_int_equal(rec.n, 0);
}

static void nomatch_s(struct parser *p, const char *line, const char *why)
{
	nomatch(p, line, strlen(line), why);
}

/* The i-th field is exactly name = value (value_len bytes) of the given type. */
static void field_n(size_t i, const char *name, const char *value, size_t value_len, int type)
{
	const struct field *f;

	assert_true(i < rec.n);
	f = &rec.f[i];
	assert_int_equal(f->name_len, strlen(name));
	assert_memory_equal(f->name, name, f->name_len);
	assert_int_equal(f->value_len, value_len);
	if (value_len)
		assert_memory_equal(f->value, value, value_len);
	assert_int_equal(f->type, type);
	assert_ptr_equal(record_get(&rec, name, strlen(name)), f);
}

static void field(size_t i, const char *name, const char *value, int type)
{
	field_n(i, name, value, strlen(value), type);
}

/* A line of `n` bytes: prefix, then `fill` up to n - strlen(suffix), then suffix. */
static char *make_line(const char *prefix, char fill, size_t n, const char *suffix)
{
	char *s = malloc(n + 1);
	size_t pl = strlen(prefix), sl = strlen(suffix);

	assert_non_null(s);
	memcpy(s, prefix, pl);
	memset(s + pl, fill, n - pl - sl);
	memcpy(s + n - sl, suffix, sl);
	s[n] = '\0';
	return s;
}

/* registry and record */

static void test_lookup_builtins(void **unused)
{
	assert_string_equal(parser_lookup("json")->name, "json");
	assert_string_equal(parser_lookup("regex")->name, "regex");
	assert_string_equal(parser_lookup("logfmt")->name, "logfmt");
	assert_string_equal(parser_lookup("csv")->name, "csv");
	assert_int_equal(parser_lookup("json")->abi, ONSIDE_PARSER_ABI);
	assert_null(parser_lookup("xml"));
	assert_null(parser_lookup("plugin"));
	assert_null(parser_lookup(NULL));
	open_fails("xml", "{}", "unknown parser type \"xml\"");
}

/* ---- built-ins' configuration (parser.h) ---- */

/* What configure() reported: "KEY: msg", or ": msg" for the mapping, one per line. */
static char reported[1024];

static void collect(void *ctx, const char *key, const char *msg)
{
	size_t n = strlen(reported);

	(void)ctx;
	snprintf(reported + n, sizeof(reported) - n, "%s: %s\n", key ? key : "", msg);
}

static const struct parser_report report = { collect, NULL };

/* parser_configure on values given as text (options of b in order: strings, "true"/"false", lists
 * as "a,b"); returns its result, with the options JSON in *ret (freed by the caller) on success. */
static int configure(const char *type, const char *const *text, char **ret, struct parser_needs *needs)
{
	const struct parser_builtin *b = parser_builtin(type);
	union parser_optval v[PARSER_OPTS_MAX];
	char *items[PARSER_OPTS_MAX][8], copy[PARSER_OPTS_MAX][64];

	assert_non_null(b);
	memset(v, 0, sizeof(v));
	reported[0] = '\0';
	for (size_t i = 0; b->opts && b->opts[i].key; i++) {
		if (!text[i])
			continue;
		if (b->opts[i].type == PARSER_OPT_STRING) {
			v[i].s = text[i];
		} else if (b->opts[i].type == PARSER_OPT_BOOL) {
			v[i].b = !strcmp(text[i], "true");
		} else {
			snprintf(copy[i], sizeof(copy[i]), "%s", text[i]);
			v[i].list.v = items[i];
			for (char *tok = strtok(copy[i], ","); tok && v[i].list.n < 8; tok = strtok(NULL, ","))
				items[i][v[i].list.n++] = tok;
		}
	}
	*ret = NULL;
	return parser_configure(b, v, &report, ret, needs);
}

static void test_builtins_declare_their_keys(void **unused)
{
	static const char *const common[] = { "type", "on_mismatch", "path", "options" };
	const struct parser_builtin *b;
	char names[256] = "";
	size_t i, j;

	for (i = 0; (b = parser_builtin_at(i)); i++) {
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s ", b->ops->name);
		assert_ptr_equal(parser_builtin(b->ops->name), b);
		assert_int_equal(b->ops->abi, ONSIDE_PARSER_ABI);
		assert_string_not_equal(b->ops->name, "plugin");
		for (j = 0; b->opts && b->opts[j].key; j++) {
			/* a key of its own, not one config/ reads for every type */
			for (size_t k = 0; k < sizeof(common) / sizeof(common[0]); k++)
				assert_string_not_equal(b->opts[j].key, common[k]);
			assert_non_null(b->opts[j].help);
		}
		assert_true(j <= PARSER_OPTS_MAX);
	}
	/* the order `check` lists them in */
	assert_string_equal(names, "json regex logfmt csv ltsv ");
	assert_null(parser_builtin("plugin"));
	assert_null(parser_builtin(NULL));
}

/* What configure() makes of the values is what create() takes, and a problem names its key. */
static void test_configure_options_json(void **unused)
{
	struct parser_needs needs = { true };
	struct parser *p = NULL;
	char *json = NULL, err[256];

	assert_int_equal(configure("json", (const char *const[]){ NULL }, &json, &needs), 0);
	assert_string_equal(json, "{}");
	assert_false(needs.first_line);
	free(json);

	assert_int_equal(configure("regex", (const char *const[]){ "^(?<a>\\S+)/x$" }, &json, &needs), 0);
	assert_string_equal(json, "{\"pattern\":\"^(?<a>\\\\S+)/x$\"}");
	assert_int_equal(parser_open("regex", NULL, json, &p, err, sizeof(err)), 0);
	parser_free(p);
	free(json);

	assert_int_equal(configure("csv", (const char *const[]){ "a,b", ";", "true" }, &json, &needs), 0);
	assert_string_equal(json, "{\"columns\":[\"a\",\"b\"],\"delimiter\":\";\",\"header\":true}");
	assert_true(needs.first_line);
	assert_int_equal(parser_open("csv", NULL, json, &p, err, sizeof(err)), 0);
	parser_free(p);
	free(json);

	assert_int_equal(configure("csv", (const char *const[]){ NULL, ",", "true" }, &json, &needs), 0);
	assert_string_equal(json, "{\"columns\":[],\"delimiter\":\",\",\"header\":true}");
	free(json);

	needs.first_line = true;
	assert_int_equal(configure("csv", (const char *const[]){ NULL, ",", "false" }, &json, &needs), -EINVAL);
	assert_null(json);
	assert_true(needs.first_line); /* untouched on failure */
	assert_string_equal(reported, ": missing required key \"columns\" (or set header: true)\n");
}

/* The checks config/ runs on each value: the message that follows "inputs[0].parser.KEY: ". */
static void test_option_checks(void **unused)
{
	const struct parser_opt *pattern = &parser_builtin("regex")->opts[0];
	const struct parser_opt *columns = &parser_builtin("csv")->opts[0];
	const struct parser_opt *delimiter = &parser_builtin("csv")->opts[1];
	char err[256];

	assert_string_equal(pattern->key, "pattern");
	assert_true(pattern->required);
	assert_int_equal(pattern->check("(?<ts>\\S+)", err, sizeof(err)), 0);
	assert_int_equal(pattern->check("(?<ts>\\S+", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "invalid regex at offset 9: missing closing parenthesis");
	assert_int_equal(pattern->check("\\S+", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "the pattern has no named group; name each field with (?<name>...)");

	assert_string_equal(columns->key, "columns");
	assert_int_equal(columns->check("ts", err, sizeof(err)), 0);
	assert_int_equal(columns->check("", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "must not be empty");

	assert_string_equal(delimiter->key, "delimiter");
	assert_string_equal(delimiter->def, ",");
	assert_int_equal(delimiter->check("\t", err, sizeof(err)), 0);
	assert_int_equal(delimiter->check("::", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "must be a single byte, got \"::\"");
}

static void test_record_emit_overflow(void **unused)
{
	static struct record r;
	size_t i;

	record_reset(&r);
	for (i = 0; i < RECORD_MAX_FIELDS; i++)
		assert_int_equal(record_emit(&r, "k", 1, "v", 1, ONSIDE_T_STRING), 0);
	assert_false(r.overflow);
	assert_int_not_equal(record_emit(&r, "k", 1, "v", 1, ONSIDE_T_STRING), 0);
	assert_true(r.overflow);
	assert_int_equal(r.n, RECORD_MAX_FIELDS);
	record_reset(&r);
	assert_int_equal(r.n, 0);
	assert_false(r.overflow);
}

static void test_record_get_exact_name(void **unused)
{
	static struct record r;

	record_reset(&r);
	record_emit(&r, "ab", 2, "1", 1, ONSIDE_T_NUMBER);
	record_emit(&r, "a", 1, "2", 1, ONSIDE_T_NUMBER);
	record_emit(&r, "", 0, "3", 1, ONSIDE_T_NUMBER);
	assert_string_equal(record_get(&r, "a", 1)->value, "2");
	assert_string_equal(record_get(&r, "ab", 2)->value, "1");
	assert_string_equal(record_get(&r, "", 0)->value, "3");
	assert_null(record_get(&r, "abc", 3));
	assert_null(record_get(&r, "b", 1));
}

static void test_too_many_fields(void **unused)
{
	struct parser *p = open_ok("json", "{}");
	char *line = malloc(16 * 1000);
	size_t n = 0, i;

	assert_non_null(line);
	line[n++] = '{';
	for (i = 0; i < 600; i++)
		n += (size_t)sprintf(line + n, "%s\"k%zu\":%zu", i ? "," : "", i, i);
	line[n++] = '}';
	nomatch(p, line, n, "too many fields");
	free(line);
	parser_free(p);
}

/* json */

static void test_json_types_and_paths(void **unused)
{
	struct parser *p = open_ok("json", "{}");
	const char *line = "{\"event\":\"purchase\",\"amount\":9.90,\"qty\":2,\"neg\":-3,\"exp\":1.5E+3,"
			   "\"ok\":true,\"no\":false,\"x\":null,\"tags\":[\"a\",1],"
			   "\"user\":{\"id\":7,\"geo\":{\"cc\":\"DE\",\"url\":\"a/b\"}}}";

	assert_int_equal(parse(p, line), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 14);
	field(0, "event", "purchase", ONSIDE_T_STRING);
	field(1, "amount", "9.90", ONSIDE_T_NUMBER);
	field(2, "qty", "2", ONSIDE_T_NUMBER);
	field(3, "neg", "-3", ONSIDE_T_NUMBER);
	field(4, "exp", "1.5E+3", ONSIDE_T_NUMBER);
	field(5, "ok", "true", ONSIDE_T_BOOL);
	field(6, "no", "false", ONSIDE_T_BOOL);
	field(7, "x", "null", ONSIDE_T_NULL);
	field(8, "tags", "[\"a\",1]", ONSIDE_T_JSON);
	field(9, "user", "{\"id\":7,\"geo\":{\"cc\":\"DE\",\"url\":\"a/b\"}}", ONSIDE_T_JSON);
	field(10, "user.id", "7", ONSIDE_T_NUMBER);
	field(11, "user.geo", "{\"cc\":\"DE\",\"url\":\"a/b\"}", ONSIDE_T_JSON);
	field(12, "user.geo.cc", "DE", ONSIDE_T_STRING);
	field(13, "user.geo.url", "a/b", ONSIDE_T_STRING);
	/* whitespace around the object is not garbage */
	assert_int_equal(parse(p, "  {\"a\" : {\"b\" : 1}}\t "), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 2);
	field(0, "a", "{\"b\":1}", ONSIDE_T_JSON);
	field(1, "a.b", "1", ONSIDE_T_NUMBER);
	parser_free(p);
}

static void test_json_unicode_escapes(void **unused)
{
	struct parser *p = open_ok("json", "{}");

	assert_int_equal(parse(p, "{\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\n\","
				  "\"z\":\"a\\u0000b\",\"raw\":\"\xc3\xa9\"}"),
			 ONSIDE_PARSE_OK);
	field(0, "s", "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\ \n", ONSIDE_T_STRING);
	field_n(1, "z", "a\0b", 3, ONSIDE_T_STRING);
	field(2, "raw", "\xc3\xa9", ONSIDE_T_STRING);
	parser_free(p);
}

static void test_json_invalid_utf8_passes_through(void **unused)
{
	struct parser *p = open_ok("json", "{}");

	assert_int_equal(parse(p, "{\"s\":\"\xff\xfe\x80\"}"), ONSIDE_PARSE_OK);
	field(0, "s", "\xff\xfe\x80", ONSIDE_T_STRING);
	parser_free(p);
}

static void test_json_malformed(void **unused)
{
	struct parser *p = open_ok("json", "{}");

	nomatch_s(p, "{\"a\":1", "invalid JSON at byte 6: unexpected end of line");
	nomatch_s(p, "{\"a\":tru}", "invalid JSON at byte 8: boolean expected");
	nomatch_s(p, "{\"a\":1} x", "invalid JSON at byte 8: unexpected character");
	nomatch_s(p, "{\"a\":1,}", "invalid JSON at byte 7: unexpected character");
	nomatch_s(p, "{\"a\":1}{}", "invalid JSON at byte 7: unexpected character");
	nomatch_s(p, "[1,2]", "not a JSON object");
	nomatch_s(p, "\"purchase\"", "not a JSON object");
	nomatch_s(p, "42", "not a JSON object");
	nomatch_s(p, "", "empty line");
	nomatch_s(p, " \t ", "empty line");
	/* the parser is still usable after errors */
	assert_int_equal(parse(p, "{\"a\":1}"), ONSIDE_PARSE_OK);
	field(0, "a", "1", ONSIDE_T_NUMBER);
	parser_free(p);
}

static void test_json_nul_byte(void **unused)
{
	struct parser *p = open_ok("json", "{}");

	nomatch(p, "{\"a\":\"x\0y\"}", 11, "invalid JSON at byte 7: NUL byte");
	/* a valid object followed by a NUL must not pass as the object alone */
	nomatch(p, "{\"a\":1}\0{\"b\":2}", 15, "invalid JSON at byte 7: NUL byte");
	parser_free(p);
}

/* A number json-c cannot hold is refused: json-c up to 0.16 clamps it and the parser catches that
 * ("number out of range in"), json-c 0.17+ refuses it itself ("...: number expected"). */
static void nomatch_number(struct parser *p, const char *line, const char *why)
{
	if (JSON_C_VERSION_NUM < 0x001100) {
		nomatch_s(p, line, why);
		return;
	}
	assert_int_equal(parse(p, line), ONSIDE_PARSE_NOMATCH);
	if (strcmp(reason, why) != 0)
		assert_non_null(strstr(reason, ": number expected"));
	assert_int_equal(rec.n, 0);
}

static void test_json_numbers_out_of_range(void **unused)
{
	struct parser *p = open_ok("json", "{}");

	nomatch_number(p, "{\"n\":123456789012345678901234567890}", "number out of range in \"n\"");
	nomatch_number(p, "{\"o\":{\"n\":-99999999999999999999}}", "number out of range in \"o.n\"");
	nomatch_number(p, "{\"n\":NaN}", "number out of range in \"n\"");
	nomatch_number(p, "{\"a\":[1,{\"b\":[18446744073709551616]}]}", "number out of range in \"a\"");
	nomatch_number(p, "{\"n\":-Infinity}", "number out of range in \"n\"");
	assert_int_equal(parse(p, "{\"n\":9223372036854775807,\"m\":-9223372036854775807}"),
			 ONSIDE_PARSE_OK);
	field(0, "n", "9223372036854775807", ONSIDE_T_NUMBER);
	field(1, "m", "-9223372036854775807", ONSIDE_T_NUMBER);
	assert_int_equal(parse(p, "{\"a\":[18446744073709551614,-9223372036854775807]}"), ONSIDE_PARSE_OK);
	field(0, "a", "[18446744073709551614,-9223372036854775807]", ONSIDE_T_JSON);
	parser_free(p);
}

static void test_json_deep_nesting(void **unused)
{
	struct parser *p = open_ok("json", "{}");
	size_t depth = 100000, n = 0, i;
	char *line = malloc(depth * 5 + 16);

	assert_non_null(line);
	for (i = 0; i < depth; i++, n += 5)
		memcpy(line + n, "{\"a\":", 5);
	nomatch(p, line, n, "invalid JSON at byte 320: nesting too deep");
	n = 0;
	memcpy(line, "{\"a\":", 5);
	n = 5;
	memset(line + n, '[', depth);
	n += depth;
	nomatch(p, line, n, "invalid JSON at byte 68: nesting too deep");
	free(line);
	parser_free(p);
}

static void test_json_one_mib_line(void **unused)
{
	struct parser *p = open_ok("json", "{}");
	char *line = make_line("{\"big\":\"", 'x', MIB, "\",\"n\":1}");

	assert_int_equal(parse_n(p, line, MIB), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 2);
	assert_int_equal(rec.f[0].value_len, MIB - strlen("{\"big\":\"") - strlen("\",\"n\":1}"));
	assert_int_equal(rec.f[0].value[0], 'x');
	field(1, "n", "1", ONSIDE_T_NUMBER);
	free(line);
	parser_free(p);
}

/* Nested names longer than one arena chunk, many of them: every name handed out must still be
 * intact after the whole line is emitted (a moved buffer would show here, and under ASan). */
static void test_json_long_nested_names(void **unused)
{
	struct parser *p = open_ok("json", "{}");
	size_t klen = 40000, i, n = 0;
	char *line = malloc(klen + 64 * 40);
	char *name = malloc(klen + 16);

	assert_non_null(line);
	assert_non_null(name);
	line[n++] = '{';
	line[n++] = '"';
	memset(line + n, 'k', klen);
	n += klen;
	memcpy(line + n, "\":{", 3);
	n += 3;
	for (i = 0; i < 40; i++)
		n += (size_t)sprintf(line + n, "%s\"m%zu\":%zu", i ? "," : "", i, i);
	memcpy(line + n, "}}", 2);
	n += 2;
	for (int round = 0; round < 2; round++) {
		assert_int_equal(parse_n(p, line, n), ONSIDE_PARSE_OK);
		assert_int_equal(rec.n, 41);
		for (i = 0; i < 40; i++) {
			char num[16];

			memset(name, 'k', klen);
			sprintf(name + klen, ".m%zu", i);
			sprintf(num, "%zu", i);
			field(i + 1, name, num, ONSIDE_T_NUMBER);
		}
		/* a small line in between releases the big one */
		assert_int_equal(parse(p, "{\"a\":{\"b\":true}}"), ONSIDE_PARSE_OK);
		field(1, "a.b", "true", ONSIDE_T_BOOL);
	}
	free(name);
	free(line);
	parser_free(p);
}

static void test_json_options(void **unused)
{
	open_fails("json", "{\"strict\":true}", "json parser: takes no options");
	open_fails("json", "[]", "json parser: takes no options");
}

/* regex */

#define PAT_OPTS(p) "{\"pattern\":\"" p "\"}"

static void test_regex_named_groups(void **unused)
{
	struct parser *p = open_ok(
		"regex", PAT_OPTS("^(?<ts>\\\\S+) (?<event>\\\\S+) install=(?<iid>\\\\S+)(?: (?<rest>.*))?$"));

	assert_int_equal(parse(p, "2024-05-01T10:00:00Z purchase install=abc-1 amount=9.90 cur=EUR"),
			 ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 4);
	/* fields come in name-table order, which PCRE2 sorts by name */
	field(0, "event", "purchase", ONSIDE_T_STRING);
	field(1, "iid", "abc-1", ONSIDE_T_STRING);
	field(2, "rest", "amount=9.90 cur=EUR", ONSIDE_T_STRING);
	field(3, "ts", "2024-05-01T10:00:00Z", ONSIDE_T_STRING);
	/* a group that took no part in the match is absent, not empty */
	assert_int_equal(parse(p, "2024 purchase install=abc"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 3);
	assert_null(record_get(&rec, "rest", 4));
	nomatch_s(p, "garbage", "line does not match the pattern");
	nomatch_s(p, "", "line does not match the pattern");
	parser_free(p);
}

static void test_regex_bytes_not_utf8(void **unused)
{
	struct parser *p = open_ok("regex", PAT_OPTS("^(?<a>.)(?<rest>.*)$"));

	/* one byte of a two-byte character: no UTF mode */
	assert_int_equal(parse(p, "\xc3\xa9\xff\0z"), ONSIDE_PARSE_OK);
	assert_int_equal(parse_n(p, "\xc3\xa9\xff\0z", 5), ONSIDE_PARSE_OK);
	field_n(0, "a", "\xc3", 1, ONSIDE_T_STRING);
	field_n(1, "rest", "\xa9\xff\0z", 4, ONSIDE_T_STRING);
	/* an empty group that matched is present and empty */
	assert_int_equal(parse(p, "x"), ONSIDE_PARSE_OK);
	field(1, "rest", "", ONSIDE_T_STRING);
	parser_free(p);
}

/* Patterns that change how a line is matched: (*UTF) makes a line that is not UTF-8 an error (not a
 * crash), (*NO_JIT) leaves the pattern to the interpreter, with the same results. */
static void test_regex_pattern_verbs(void **unused)
{
	struct parser *p = open_ok("regex", PAT_OPTS("(*UTF)^(?<a>.)(?<rest>.*)$"));

	assert_int_equal(parse(p, "\xc3\xa9z"), ONSIDE_PARSE_OK);
	field(0, "a", "\xc3\xa9", ONSIDE_T_STRING);
	field(1, "rest", "z", ONSIDE_T_STRING);
	nomatch_s(p, "\xc3z", "regex error: UTF-8 error: byte 2 top bits not 0x80");
	nomatch_s(p, "ok\xff", "regex error: UTF-8 error: illegal byte (0xfe or 0xff)");
	parser_free(p);

	p = open_ok("regex", PAT_OPTS("(*NO_JIT)^(?<a>.)(?<rest>.*)$"));
	assert_int_equal(parse_n(p, "\xc3\xa9\xff\0z", 5), ONSIDE_PARSE_OK);
	field_n(0, "a", "\xc3", 1, ONSIDE_T_STRING);
	field_n(1, "rest", "\xa9\xff\0z", 4, ONSIDE_T_STRING);
	nomatch_s(p, "", "line does not match the pattern");
	parser_free(p);
}

static void test_regex_catastrophic_backtracking(void **unused)
{
	struct parser *p = open_ok("regex", PAT_OPTS("^(?<x>(a+)+)$"));
	char *line = make_line("", 'a', 40, "!");

	nomatch(p, line, 40, "regex match limit exceeded");
	free(line);
	/* and it still matches what it should */
	assert_int_equal(parse(p, "aaaa"), ONSIDE_PARSE_OK);
	field(0, "x", "aaaa", ONSIDE_T_STRING);
	parser_free(p);
}

static void test_regex_one_mib_line(void **unused)
{
	struct parser *p = open_ok("regex", PAT_OPTS("^k=(?<v>x+) (?<end>\\\\w+)$"));
	char *line = make_line("k=", 'x', MIB, " done");

	assert_int_equal(parse_n(p, line, MIB), ONSIDE_PARSE_OK);
	assert_int_equal(rec.f[1].value_len, MIB - 7);
	field(0, "end", "done", ONSIDE_T_STRING);
	free(line);
	parser_free(p);
}

static void test_regex_create_errors(void **unused)
{
	open_fails("regex", PAT_OPTS("^(\\\\S+) (\\\\S+)$"),
		   "regex parser: the pattern has no named groups, e.g. (?<event>\\S+)");
	open_fails("regex", PAT_OPTS("^(?<a>x"),
		   "regex parser: invalid pattern at offset 7: missing closing parenthesis");
	open_fails("regex", "{}", "regex parser: option \"pattern\" (a string) is required");
	open_fails("regex", "{\"pattern\":1}", "regex parser: option \"pattern\" (a string) is required");
	open_fails("regex", "{\"pattern\":\"(?<a>x)\",\"flags\":\"i\"}",
		   "regex parser: unknown option \"flags\"");
	open_fails("regex", "nope", "regex parser: options are not a JSON object");
}

/* logfmt */

static void test_logfmt_pairs(void **unused)
{
	struct parser *p = open_ok("logfmt", "{}");

	assert_int_equal(parse(p, "ts=2024-05-01T10:00:00Z event=purchase msg=\"hello world\" "
				  "empty= debug\turl=http://x/?a=b&c=d q=\"\""),
			 ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 7);
	field(0, "ts", "2024-05-01T10:00:00Z", ONSIDE_T_STRING);
	field(1, "event", "purchase", ONSIDE_T_STRING);
	field(2, "msg", "hello world", ONSIDE_T_STRING);
	field(3, "empty", "", ONSIDE_T_STRING);
	field(4, "debug", "true", ONSIDE_T_BOOL);
	field(5, "url", "http://x/?a=b&c=d", ONSIDE_T_STRING);
	field(6, "q", "", ONSIDE_T_STRING);
	/* a flag at the very end, and surrounding blanks */
	assert_int_equal(parse(p, "  a=1   verbose  "), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 2);
	field(1, "verbose", "true", ONSIDE_T_BOOL);
	parser_free(p);
}

static void test_logfmt_escapes(void **unused)
{
	struct parser *p = open_ok("logfmt", "{}");

	assert_int_equal(parse(p, "a=\"say \\\"hi\\\"\" b=\"x\\\\y\\n\\t\\r\" "
				  "u=\"caf\\u00e9 \\ud83d\\ude00 \\u0041\" plain=\"no escapes\" "
				  "n=\"\\u0000\""),
			 ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 5);
	field(0, "a", "say \"hi\"", ONSIDE_T_STRING);
	field(1, "b", "x\\y\n\t\r", ONSIDE_T_STRING);
	field(2, "u", "caf\xc3\xa9 \xf0\x9f\x98\x80 A", ONSIDE_T_STRING);
	field_n(4, "n", "\0", 1, ONSIDE_T_STRING);
	field(3, "plain", "no escapes", ONSIDE_T_STRING);
	parser_free(p);
}

static void test_logfmt_malformed(void **unused)
{
	struct parser *p = open_ok("logfmt", "{}");

	nomatch_s(p, "a=1 b=\"open", "malformed logfmt at byte 6: unterminated quoted value");
	nomatch_s(p, "a=\"x\\\"", "malformed logfmt at byte 2: unterminated quoted value");
	nomatch_s(p, "a=1 =v", "malformed logfmt at byte 4: '=' with no key");
	nomatch_s(p, "a=\"\\q\"", "malformed logfmt at byte 3: invalid escape");
	nomatch_s(p, "a=\"\\u12\"", "malformed logfmt at byte 3: invalid \\u escape");
	nomatch_s(p, "a=\"\\ud800\"", "malformed logfmt at byte 3: unpaired surrogate in \\u escape");
	nomatch_s(p, "a=\"\\udc00\"", "malformed logfmt at byte 3: unpaired surrogate in \\u escape");
	nomatch_s(p, "a=\"x\"y", "malformed logfmt at byte 5: no space after quoted value");
	nomatch_s(p, "a=b\"c", "malformed logfmt at byte 3: unexpected '\"' in value");
	nomatch_s(p, "k\"ey=1", "malformed logfmt at byte 1: unexpected '\"' in key");
	nomatch_s(p, "", "empty line");
	nomatch_s(p, " \t ", "empty line");
	parser_free(p);
}

static void test_logfmt_bytes(void **unused)
{
	struct parser *p = open_ok("logfmt", "{}");

	assert_int_equal(parse_n(p, "a=x\0y b=\"\xff\xfe\" c=\xc3\xa9", 17), ONSIDE_PARSE_OK);
	field_n(0, "a", "x\0y", 3, ONSIDE_T_STRING);
	field(1, "b", "\xff\xfe", ONSIDE_T_STRING);
	field(2, "c", "\xc3\xa9", ONSIDE_T_STRING);
	parser_free(p);
}

/* Escaped values are decoded into one buffer: all of them must survive to the end of the line,
 * including on a line much longer than the buffer held before. */
static void test_logfmt_many_escaped_values(void **unused)
{
	struct parser *p = open_ok("logfmt", "{}");
	char *line = malloc(MIB + 64), want[32];
	size_t n = 0, i, nf = 300;

	assert_non_null(line);
	assert_int_equal(parse(p, "a=\"\\n\""), ONSIDE_PARSE_OK);
	for (i = 0; i < nf; i++)
		n += (size_t)sprintf(line + n, "k%zu=\"v\\\"%zu\" ", i, i);
	n += (size_t)sprintf(line + n, "big=\"\\t");
	memset(line + n, 'y', MIB - n - 1);
	line[MIB - 1] = '"';
	assert_int_equal(parse_n(p, line, MIB), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, nf + 1);
	for (i = 0; i < nf; i++) {
		char key[16];

		sprintf(key, "k%zu", i);
		sprintf(want, "v\"%zu", i);
		field(i, key, want, ONSIDE_T_STRING);
	}
	assert_int_equal(rec.f[nf].value_len, MIB - n - 1 + 1);
	assert_int_equal(rec.f[nf].value[0], '\t');
	assert_int_equal(rec.f[nf].value[1], 'y');
	free(line);
	parser_free(p);
}

/* csv */

static void test_csv_columns(void **unused)
{
	struct parser *p = open_ok("csv", "{\"columns\":[\"ts\",\"event\",\"amount\"]}");

	assert_int_equal(parse(p, "2024-05-01,purchase,9.90"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 3);
	field(0, "ts", "2024-05-01", ONSIDE_T_STRING);
	field(1, "event", "purchase", ONSIDE_T_STRING);
	field(2, "amount", "9.90", ONSIDE_T_STRING);
	assert_int_equal(parse(p, "\"2024\",\"pur,chase\",\"say \"\"hi\"\"\""), ONSIDE_PARSE_OK);
	field(0, "ts", "2024", ONSIDE_T_STRING);
	field(1, "event", "pur,chase", ONSIDE_T_STRING);
	field(2, "amount", "say \"hi\"", ONSIDE_T_STRING);
	/* fewer fields: a truncated line, which says what it lacks */
	nomatch_s(p, "2024,purchase", "missing field amount (2 fields, 3 columns)");
	nomatch_s(p, "2024", "missing field event (1 field, 3 columns)");
	/* empty fields are present and empty; a trailing delimiter opens one more */
	assert_int_equal(parse(p, ",,"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 3);
	field(2, "amount", "", ONSIDE_T_STRING);
	assert_int_equal(parse(p, "\"\",x,"), ONSIDE_PARSE_OK);
	field(0, "ts", "", ONSIDE_T_STRING);
	/* a quote inside an unquoted field is text */
	assert_int_equal(parse(p, "a\"b,c,d"), ONSIDE_PARSE_OK);
	field(0, "ts", "a\"b", ONSIDE_T_STRING);
	nomatch_s(p, "1,2,3,4", "4 fields, 3 columns");
	nomatch_s(p, "1,2,3,", "4 fields, 3 columns");
	nomatch_s(p, "", "empty line");
	parser_free(p);
}

static void test_csv_malformed(void **unused)
{
	struct parser *p = open_ok("csv", "{\"columns\":[\"a\",\"b\"]}");

	nomatch_s(p, "1,\"abc", "unterminated quoted field at byte 2");
	nomatch_s(p, "\"a\"\"", "unterminated quoted field at byte 0");
	nomatch_s(p, "\"a\"b,c", "unexpected character after quoted field at byte 3");
	parser_free(p);
}

static void test_csv_bytes_and_big_line(void **unused)
{
	struct parser *p = open_ok("csv", "{\"columns\":[\"a\",\"b\"]}");
	char *line = make_line("x,\"", 'q', MIB, "\"\"\"");

	assert_int_equal(parse_n(p, "\xff\0,\"\xc3\xa9\0\"", 8), ONSIDE_PARSE_OK);
	field_n(0, "a", "\xff\0", 2, ONSIDE_T_STRING);
	field_n(1, "b", "\xc3\xa9\0", 3, ONSIDE_T_STRING);
	assert_int_equal(parse_n(p, line, MIB), ONSIDE_PARSE_OK);
	field(0, "a", "x", ONSIDE_T_STRING);
	assert_int_equal(rec.f[1].value_len, MIB - 3 - 3 + 1);
	assert_int_equal(rec.f[1].value[rec.f[1].value_len - 1], '"');
	free(line);
	parser_free(p);
}

static void test_csv_header_with_columns(void **unused)
{
	struct parser *p = open_ok("csv", "{\"columns\":[\"ts\",\"event\"],\"header\":true}");

	/* the file's first line is its header, whatever it says; the columns name the fields */
	in_file("time,what");
	assert_int_equal(parse_at(p, 0, "time,what"), ONSIDE_PARSE_SKIP);
	assert_string_equal(reason, "csv header line");
	assert_int_equal(rec.n, 0);
	assert_int_equal(parse_at(p, 10, "2024,purchase"), ONSIDE_PARSE_OK);
	field(0, "ts", "2024", ONSIDE_T_STRING);
	field(1, "event", "purchase", ONSIDE_T_STRING);
	/* the header repeated (files concatenated) is a header too */
	assert_int_equal(parse_at(p, 24, "time,what"), ONSIDE_PARSE_SKIP);
	assert_int_equal(parse_at(p, 34, "ts,events"), ONSIDE_PARSE_OK);
	field(1, "event", "events", ONSIDE_T_STRING);
	parser_free(p);
	/* without header: true, the same line is a record */
	p = open_ok("csv", "{\"columns\":[\"ts\",\"event\"]}");
	assert_int_equal(parse_at(p, 0, "time,what"), ONSIDE_PARSE_OK);
	parser_free(p);
}

/* Each line's columns come from its own file's header: lines of files with reordered and added
 * columns, in any order (mapping threads, a restart in the middle of a file), map alike. */
static void test_csv_header_per_file(void **unused)
{
	struct parser *p = open_ok("csv", "{\"header\":true,\"delimiter\":\";\"}");
	const char *a = "ts;\"ev;ent\";amount", *b = "amount;ts;ev;ent;currency";

	in_file(a);
	assert_int_equal(parse_at(p, 0, a), ONSIDE_PARSE_SKIP);
	assert_int_equal(parse_at(p, 19, "2024;purchase;9.90"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 3);
	field(0, "ts", "2024", ONSIDE_T_STRING);
	field(1, "ev;ent", "purchase", ONSIDE_T_STRING);
	field(2, "amount", "9.90", ONSIDE_T_STRING);
	/* a line of the next night's file, columns reordered and one added */
	in_file(b);
	assert_int_equal(parse_at(p, 40, "1.00;2025;x;y;EUR"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 5);
	field(0, "amount", "1.00", ONSIDE_T_STRING);
	field(1, "ts", "2025", ONSIDE_T_STRING);
	field(4, "currency", "EUR", ONSIDE_T_STRING);
	/* and back: a resumed read of the first file starts mid-file, with its own header */
	in_file(a);
	assert_int_equal(parse_at(p, 38, "2026;refund;1"), ONSIDE_PARSE_OK);
	field(1, "ev;ent", "refund", ONSIDE_T_STRING);
	assert_int_equal(parse_at(p, 52, "2026;x"), ONSIDE_PARSE_NOMATCH);
	assert_string_equal(reason, "missing field amount (2 fields, 3 columns)");
	assert_int_equal(parse_at(p, 59, "1;2;3;4"), ONSIDE_PARSE_NOMATCH);
	assert_string_equal(reason, "4 fields, 3 columns");
	parser_free(p);
}

static void test_csv_bad_headers(void **unused)
{
	struct parser *p = open_ok("csv", "{\"header\":true}");

	/* a header naming two columns alike is read as it is: the record's last "a" is the field (the
	 * one rule for repeated names, parser.h) */
	in_file("a,b,a");
	assert_int_equal(parse_at(p, 0, "a,b,a"), ONSIDE_PARSE_SKIP); /* still its header: skipped */
	assert_int_equal(parse_at(p, 6, "1,2,3"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 3);
	field(1, "b", "2", ONSIDE_T_STRING);
	field(2, "a", "3", ONSIDE_T_STRING); /* record_get finds this one, not field 0 */
	in_file("a,\"b");
	assert_int_equal(parse_at(p, 6, "1,2"), ONSIDE_PARSE_NOMATCH);
	assert_string_equal(reason, "the file's header: unterminated quoted field at byte 2");
	in_file("");
	assert_int_equal(parse_at(p, 1, "1,2"), ONSIDE_PARSE_NOMATCH);
	assert_string_equal(reason, "the file's header (its first line) is empty");
	in_file(NULL);
	assert_int_equal(parse_at(p, 1, "1,2"), ONSIDE_PARSE_NOMATCH);
	assert_string_equal(reason, "the file's header (its first line) is not known");
	/* a column without a name is read and left out */
	in_file("a,,c");
	assert_int_equal(parse_at(p, 5, "1,2,3"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 2);
	field(0, "a", "1", ONSIDE_T_STRING);
	field(1, "c", "3", ONSIDE_T_STRING);
	parser_free(p);
	/* an empty list of columns with a header is no list (and leaks nothing: ASan build) */
	p = open_ok("csv", "{\"columns\":[],\"header\":true}");
	in_file("x,y");
	assert_int_equal(parse_at(p, 4, "1,2"), ONSIDE_PARSE_OK);
	field(1, "y", "2", ONSIDE_T_STRING);
	parser_free(p);
	open_fails("csv", "{\"columns\":[]}",
		   "csv parser: needs \"columns\", or \"header\": true to take them from the first line");
}

static void test_csv_delimiters(void **unused)
{
	struct parser *p = open_ok("csv", "{\"columns\":[\"a\",\"b\"],\"delimiter\":\"\\t\"}");

	assert_int_equal(parse(p, "x,y\t\"z\tw\""), ONSIDE_PARSE_OK);
	field(0, "a", "x,y", ONSIDE_T_STRING);
	field(1, "b", "z\tw", ONSIDE_T_STRING);
	parser_free(p);
	open_fails("csv", "{\"columns\":[\"a\"],\"delimiter\":\"\xc2\xa7\"}",
		   "csv parser: \"delimiter\" must be a single byte");
	open_fails("csv", "{\"columns\":[\"a\"],\"delimiter\":\"\"}",
		   "csv parser: \"delimiter\" must be a single byte");
	open_fails("csv", "{\"columns\":[\"a\"],\"delimiter\":\",,\"}",
		   "csv parser: \"delimiter\" must be a single byte");
	open_fails("csv", "{\"columns\":[\"a\"],\"delimiter\":\"\\\"\"}",
		   "csv parser: \"delimiter\" cannot be a quote or a line break");
}

static void test_csv_create_errors(void **unused)
{
	open_fails("csv", "{}",
		   "csv parser: needs \"columns\", or \"header\": true to take them from the first line");
	open_fails("csv", "{\"header\":false}",
		   "csv parser: needs \"columns\", or \"header\": true to take them from the first line");
	open_fails("csv", "{\"columns\":\"a,b\"}", "csv parser: \"columns\" must be a list of names");
	open_fails("csv", "{\"columns\":[\"a\",2]}", "csv parser: column 2 must be a non-empty name");
	open_fails("csv", "{\"columns\":[\"a\",\"b\",\"a\"]}", "csv parser: duplicate column \"a\"");
	open_fails("csv", "{\"columns\":[\"a\"],\"header\":\"yes\"}",
		   "csv parser: \"header\" must be true or false");
	open_fails("csv", "{\"columns\":[\"a\"],\"quote\":\"'\"}", "csv parser: unknown option \"quote\"");
}

/* ltsv */

/* An access line as nginx writes it with an ltsv log_format: colons in the time and the URL, a
 * value with spaces, an empty value, "-" for nothing. */
static void test_ltsv_access_line(void **unused)
{
	struct parser *p = open_ok("ltsv", "{}");

	assert_int_equal(parse(p, "time:2026-05-05T12:00:00+09:00\thost:10.0.0.1\treq:GET /buy?sku=A-1 HTTP/1.1\t"
				  "status:200\treferer:http://shop.example/cart\tua:Mozilla/5.0 (X11; Linux)\t"
				  "forwardedfor:-\tempty:\tuser_id.v2:42"),
			 ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 9);
	field(0, "time", "2026-05-05T12:00:00+09:00", ONSIDE_T_STRING);
	field(1, "host", "10.0.0.1", ONSIDE_T_STRING);
	field(2, "req", "GET /buy?sku=A-1 HTTP/1.1", ONSIDE_T_STRING);
	field(3, "status", "200", ONSIDE_T_STRING);
	field(4, "referer", "http://shop.example/cart", ONSIDE_T_STRING);
	field(5, "ua", "Mozilla/5.0 (X11; Linux)", ONSIDE_T_STRING);
	field(6, "forwardedfor", "-", ONSIDE_T_STRING);
	field(7, "empty", "", ONSIDE_T_STRING);
	field(8, "user_id.v2", "42", ONSIDE_T_STRING);
	parser_free(p);
}

/* Two tabs in a row, or a tab at either end, add no field; a label given twice is one field, its
 * last value. */
static void test_ltsv_empty_fields_and_repeated_labels(void **unused)
{
	struct parser *p = open_ok("ltsv", "{}");

	assert_int_equal(parse(p, "\ta:1\t\tb:2\t"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 2);
	field(0, "a", "1", ONSIDE_T_STRING);
	field(1, "b", "2", ONSIDE_T_STRING);
	assert_int_equal(parse(p, "amount:1\tcurrency:EUR\tamount:2"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 3);
	assert_ptr_equal(record_get(&rec, "amount", 6), &rec.f[2]);
	field(2, "amount", "2", ONSIDE_T_STRING);
	parser_free(p);
}

static void test_ltsv_malformed(void **unused)
{
	struct parser *p = open_ok("ltsv", "{}");

	nomatch_s(p, "hello world", "malformed ltsv at byte 0: field without a label");
	nomatch_s(p, "a:1\tb=2", "malformed ltsv at byte 4: field without a label");
	nomatch_s(p, "a:1\t:2", "malformed ltsv at byte 4: empty label");
	nomatch_s(p, "a:1\tus er:x", "malformed ltsv at byte 6: invalid byte 0x20 in label");
	nomatch_s(p, "caf\xc3\xa9:1", "malformed ltsv at byte 3: invalid byte 0xc3 in label");
	nomatch_s(p, "a b:1", "malformed ltsv at byte 1: invalid byte 0x20 in label");
	nomatch_s(p, "", "empty line");
	nomatch_s(p, "\t\t", "empty line");
	/* fields are cut at tabs only: a line of space-separated pairs is one field */
	assert_int_equal(parse(p, "a:1 b:2 c"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 1);
	field(0, "a", "1 b:2 c", ONSIDE_T_STRING);
	parser_free(p);
}

/* Values are bytes: NUL, invalid UTF-8 and control bytes pass through as they are. */
static void test_ltsv_bytes(void **unused)
{
	struct parser *p = open_ok("ltsv", "{}");

	assert_int_equal(parse_n(p, "a:x\0y\tb:\xff\xfe\tc:\r\x01", 15), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 3);
	field_n(0, "a", "x\0y", 3, ONSIDE_T_STRING);
	field(1, "b", "\xff\xfe", ONSIDE_T_STRING);
	field(2, "c", "\r\x01", ONSIDE_T_STRING);
	parser_free(p);
}

static void test_ltsv_limits(void **unused)
{
	struct parser *p = open_ok("ltsv", "{}");
	char *line = malloc(16 * 1000), *big = make_line("big:", 'x', MIB, "\tn:1");
	size_t n = 0;

	assert_non_null(line);
	for (size_t i = 0; i < 600; i++)
		n += (size_t)sprintf(line + n, "%sk%zu:%zu", i ? "\t" : "", i, i);
	nomatch(p, line, n, "too many fields");
	assert_int_equal(parse_n(p, big, MIB), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 2);
	assert_int_equal(rec.f[0].value_len, MIB - strlen("big:") - strlen("\tn:1"));
	field(1, "n", "1", ONSIDE_T_STRING);
	free(big);
	free(line);
	parser_free(p);
}

static void test_ltsv_delimiters(void **unused)
{
	struct parser *p = open_ok("ltsv", "{\"delimiter\":\",\",\"label_delimiter\":\"=\"}");

	assert_int_equal(parse(p, "a=1,url=http://x/?q=1,t=12:00"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 3);
	field(0, "a", "1", ONSIDE_T_STRING);
	field(1, "url", "http://x/?q=1", ONSIDE_T_STRING);
	field(2, "t", "12:00", ONSIDE_T_STRING);
	nomatch_s(p, "a:1\tb:2", "malformed ltsv at byte 0: field without a label");
	parser_free(p);
	/* what config/ makes of the defaults */
	p = open_ok("ltsv", "{\"delimiter\":\"\\t\",\"label_delimiter\":\":\"}");
	assert_int_equal(parse(p, "a:1\tb:2"), ONSIDE_PARSE_OK);
	assert_int_equal(rec.n, 2);
	parser_free(p);
}

static void test_ltsv_create_errors(void **unused)
{
	open_fails("ltsv", "[]", "ltsv parser: options are not a JSON object");
	open_fails("ltsv", "{\"pattern\":\"x\"}", "ltsv parser: unknown option \"pattern\"");
	open_fails("ltsv", "{\"delimiter\":\"\"}", "ltsv parser: \"delimiter\" must be a single byte");
	open_fails("ltsv", "{\"label_delimiter\":\"::\"}", "ltsv parser: \"label_delimiter\" must be a single byte");
	open_fails("ltsv", "{\"delimiter\":1}", "ltsv parser: \"delimiter\" must be a single byte");
	open_fails("ltsv", "{\"delimiter\":\":\"}", "ltsv parser: \"delimiter\" and \"label_delimiter\" must differ");
	open_fails("ltsv", "{\"label_delimiter\":\"\\t\"}",
		   "ltsv parser: \"delimiter\" and \"label_delimiter\" must differ");
}

/* Its keys under `parser:`: their defaults, the checks config/ runs on each, and the conflict named
 * at the key that was changed. */
static void test_ltsv_configuration(void **unused)
{
	const struct parser_builtin *b = parser_builtin("ltsv");
	struct parser_needs needs;
	char *json = NULL, err[256];

	assert_string_equal(b->opts[0].key, "delimiter");
	assert_string_equal(b->opts[0].def, "\t");
	assert_string_equal(b->opts[1].key, "label_delimiter");
	assert_string_equal(b->opts[1].def, ":");
	assert_null(b->opts[2].key);
	assert_int_equal(b->opts[1].check("=", err, sizeof(err)), 0);
	assert_int_equal(b->opts[1].check("==", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "must be a single byte, got \"==\"");

	assert_int_equal(configure("ltsv", (const char *const[]){ "\t", ":" }, &json, &needs), 0);
	assert_string_equal(json, "{\"delimiter\":\"\\t\",\"label_delimiter\":\":\"}");
	assert_false(needs.first_line);
	free(json);
	assert_int_equal(configure("ltsv", (const char *const[]){ ":", ":" }, &json, &needs), -EINVAL);
	assert_string_equal(reported, "delimiter: must differ from label_delimiter\n");
	assert_int_equal(configure("ltsv", (const char *const[]){ "=", "=" }, &json, &needs), -EINVAL);
	assert_string_equal(reported, "label_delimiter: must differ from delimiter\n");
	assert_null(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_builtins),
		cmocka_unit_test(test_builtins_declare_their_keys),
		cmocka_unit_test(test_configure_options_json),
		cmocka_unit_test(test_option_checks),
		cmocka_unit_test(test_record_emit_overflow),
		cmocka_unit_test(test_record_get_exact_name),
		cmocka_unit_test(test_too_many_fields),
		cmocka_unit_test(test_json_types_and_paths),
		cmocka_unit_test(test_json_unicode_escapes),
		cmocka_unit_test(test_json_invalid_utf8_passes_through),
		cmocka_unit_test(test_json_malformed),
		cmocka_unit_test(test_json_nul_byte),
		cmocka_unit_test(test_json_numbers_out_of_range),
		cmocka_unit_test(test_json_deep_nesting),
		cmocka_unit_test(test_json_one_mib_line),
		cmocka_unit_test(test_json_long_nested_names),
		cmocka_unit_test(test_json_options),
		cmocka_unit_test(test_regex_named_groups),
		cmocka_unit_test(test_regex_bytes_not_utf8),
		cmocka_unit_test(test_regex_pattern_verbs),
		cmocka_unit_test(test_regex_catastrophic_backtracking),
		cmocka_unit_test(test_regex_one_mib_line),
		cmocka_unit_test(test_regex_create_errors),
		cmocka_unit_test(test_logfmt_pairs),
		cmocka_unit_test(test_logfmt_escapes),
		cmocka_unit_test(test_logfmt_malformed),
		cmocka_unit_test(test_logfmt_bytes),
		cmocka_unit_test(test_logfmt_many_escaped_values),
		cmocka_unit_test(test_csv_columns),
		cmocka_unit_test(test_csv_malformed),
		cmocka_unit_test(test_csv_bytes_and_big_line),
		cmocka_unit_test(test_csv_header_with_columns),
		cmocka_unit_test(test_csv_header_per_file),
		cmocka_unit_test(test_csv_bad_headers),
		cmocka_unit_test(test_csv_delimiters),
		cmocka_unit_test(test_csv_create_errors),
		cmocka_unit_test(test_ltsv_access_line),
		cmocka_unit_test(test_ltsv_empty_fields_and_repeated_labels),
		cmocka_unit_test(test_ltsv_malformed),
		cmocka_unit_test(test_ltsv_bytes),
		cmocka_unit_test(test_ltsv_limits),
		cmocka_unit_test(test_ltsv_delimiters),
		cmocka_unit_test(test_ltsv_create_errors),
		cmocka_unit_test(test_ltsv_configuration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
