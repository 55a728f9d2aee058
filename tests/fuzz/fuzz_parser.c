/* The parser driver shared by fuzz_json, fuzz_regex, fuzz_logfmt, fuzz_csv and fuzz_ltsv (see fuzz.h). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "parser.h"

#define OPTIONS_MAX 4096

/* every byte of every field is read into this, so that ASan checks the pointers a parser hands out */
static volatile unsigned sink;

/* Says which field broke the contract (for triage), then aborts. */
static __attribute__((noreturn)) void bad_field(const struct field *f, const char *why)
{
	fprintf(stderr, "field \"%.*s\" type %d value \"%.*s\": %s\n", (int)f->name_len, f->name, f->type,
		(int)(f->value_len > 512 ? 512 : f->value_len), f->value, why);
	abort();
}

/* Aborts unless the value of a field typed NUMBER, BOOL, NULL or JSON is what the type says. */
static void check_field(const struct field *f)
{
	struct json_tokener *tok;
	struct json_object *o;
	unsigned sum = 0;
	enum json_type want;
	size_t i;

	for (i = 0; i < f->name_len; i++)
		sum += (unsigned char)f->name[i];
	for (i = 0; i < f->value_len; i++)
		sum += (unsigned char)f->value[i];
	sink += sum;
	switch (f->type) {
	case ONSIDE_T_STRING:
		return;
	case ONSIDE_T_BOOL:
		if ((f->value_len == 4 && !memcmp(f->value, "true", 4)) ||
		    (f->value_len == 5 && !memcmp(f->value, "false", 5)))
			return;
		bad_field(f, "not a boolean");
	case ONSIDE_T_NULL:
		if (f->value_len == 4 && !memcmp(f->value, "null", 4))
			return;
		bad_field(f, "not null");
	case ONSIDE_T_NUMBER:
	case ONSIDE_T_JSON:
		break;
	default:
		bad_field(f, "unknown type");
	}
	if (f->value_len == 0 || f->value_len > INT32_MAX)
		bad_field(f, "empty or huge JSON value");
	tok = json_tokener_new_ex(128); /* deeper than any parser allows */
	if (!tok)
		return;
	o = json_tokener_parse_ex(tok, f->value, (int)f->value_len);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, "", 1); /* a number ends only at the end of the text */
	else if (o && json_tokener_get_parse_end(tok) != f->value_len)
		bad_field(f, "JSON text followed by more");
	if (!o)
		bad_field(f, "not JSON text");
	want = json_object_get_type(o);
	if (f->type == ONSIDE_T_NUMBER ? want != json_type_int && want != json_type_double
				       : want != json_type_object && want != json_type_array)
		bad_field(f, "JSON text of the wrong type");
	json_object_put(o);
	json_tokener_free(tok);
}

/* The lines are one file: each gets its offset and the file's first line, as the agent hands them
 * out. A line that is a single form feed starts another file (whose first line comes next), so the
 * parsers that keep a file's header see headers change. */
static void parse_lines(struct parser *p, const char *s, size_t n, struct record *rec)
{
	struct onside_source src = { .size = sizeof(src) };
	const char *file = s;
	char reason[256];

	while (n) {
		const char *lf = memchr(s, '\n', n);
		size_t len = lf ? (size_t)(lf - s) : n;
		size_t line_len = len && s[len - 1] == '\r' ? len - 1 : len;
		int rc;

		if (line_len == 1 && s[0] == '\f') {
			file = s + len + (lf ? 1 : 0);
			src.first_line = NULL;
		} else {
			if (!src.first_line) {
				src.first_line = s;
				src.first_line_len = line_len;
			}
			src.offset = (uint64_t)(s - file);
			rc = parser_parse(p, &src, s, line_len, rec, reason, sizeof(reason));
			if (rc != ONSIDE_PARSE_OK && rc != ONSIDE_PARSE_SKIP && rc != ONSIDE_PARSE_NOMATCH)
				abort();
			if (strnlen(reason, sizeof(reason)) == sizeof(reason))
				abort();
			for (size_t i = 0; i < rec->n; i++)
				check_field(&rec->f[i]);
			/* the cold path a rejection takes */
			if (rc == ONSIDE_PARSE_NOMATCH &&
			    parser_explain(p, s, line_len, NULL, 0, reason, sizeof(reason)) == 0 &&
			    strnlen(reason, sizeof(reason)) == sizeof(reason))
				abort();
		}
		n -= lf ? len + 1 : len;
		s += lf ? len + 1 : len;
	}
}

int fuzz_parser(const char *type, const char *const *opts, size_t nopts, const uint8_t *data,
		size_t size)
{
	static struct record rec; /* large: keep it off the stack */
	char options[OPTIONS_MAX + 1], err[512];
	const char *s = (const char *)data + 1, *options_json;
	size_t n = size - 1, pick;
	struct parser *p = NULL;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	pick = data[0] % (nopts + 1);
	if (pick < nopts) {
		options_json = opts[pick];
	} else {
		const char *lf = memchr(s, '\n', n);
		size_t len = lf ? (size_t)(lf - s) : n;

		if (len > OPTIONS_MAX)
			return 0;
		memcpy(options, s, len);
		options[len] = '\0';
		options_json = options;
		s += lf ? len + 1 : len;
		n -= lf ? len + 1 : len;
	}
	if (parser_open(type, NULL, options_json, &p, err, sizeof(err)) != 0) {
		if (strnlen(err, sizeof(err)) == sizeof(err))
			abort();
		return 0;
	}
	parse_lines(p, s, n, &rec);
	parser_free(p);
	return 0;
}
