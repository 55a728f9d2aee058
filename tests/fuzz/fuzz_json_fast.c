/* The json parser's fast path against json-c, byte for byte. The fast path takes flat objects of
 * plain strings, small integers, booleans and null without building a json-c tree; for any line it
 * accepts, json-c (strict, as the parser's fallback runs it) must accept the same line and give the
 * same members in the same order: names, types and value text. Anything else aborts: an event built
 * from a line must not depend on which of the two read it. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "parser.h"

#define LINE_MAX_BYTES 8192

static struct record rec;

static __attribute__((noreturn)) void mismatch(const char *why, size_t i)
{
	fprintf(stderr, "fast path and json-c differ at member %zu: %s\n", i, why);
	abort();
}

static int only_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return 0;
	return 1;
}

#if JSON_C_VERSION_NUM >= 0x001100
static int has_high_bytes(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}
#endif

/* json-c's object for the line, parsed as parsers/json.c does, or NULL. */
static struct json_object *jsonc_parse(struct json_tokener *tok, const char *line, size_t len)
{
	struct json_object *obj;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, line, (int)len);
#if JSON_C_VERSION_NUM >= 0x001100
	/* json-c 0.17 and 0.18 refuse bytes >= 0x80 in strict strings: the parser retries those lines */
	if (!obj && json_tokener_get_error(tok) == json_tokener_error_parse_string && has_high_bytes(line, len)) {
		json_tokener_reset(tok);
		json_tokener_set_flags(tok, 0);
		obj = json_tokener_parse_ex(tok, line, (int)len);
	}
#endif
	if (obj && !only_space(line + json_tokener_get_parse_end(tok), len - json_tokener_get_parse_end(tok))) {
		json_object_put(obj);
		obj = NULL;
	}
	return obj;
}

static void compare(struct json_object *obj)
{
	size_t i = 0;

	if (!json_object_is_type(obj, json_type_object))
		mismatch("json-c's value is not an object", 0);
	if ((size_t)json_object_object_length(obj) != rec.n)
		mismatch("member count (a duplicate key the fast path kept?)", rec.n);
	json_object_object_foreach(obj, key, val) {
		const struct field *f = &rec.f[i];
		const char *text;
		int type;

		switch (json_object_get_type(val)) {
		case json_type_string:
			type = ONSIDE_T_STRING;
			text = json_object_get_string(val);
			if ((size_t)json_object_get_string_len(val) != strlen(text))
				mismatch("a string with a NUL byte", i);
			break;
		case json_type_int:
			type = ONSIDE_T_NUMBER;
			text = json_object_get_string(val);
			break;
		case json_type_boolean:
			type = ONSIDE_T_BOOL;
			text = json_object_get_string(val);
			break;
		case json_type_null:
			type = ONSIDE_T_NULL;
			text = "null";
			break;
		default:
			mismatch("json-c reads a type the fast path does not take", i);
		}
		if (f->type != type)
			mismatch("type", i);
		if (f->name_len != strlen(key) || memcmp(f->name, key, f->name_len) != 0)
			mismatch("name", i);
		if (f->value_len != strlen(text) || memcmp(f->value, text, f->value_len) != 0)
			mismatch("value text", i);
		i++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct json_tokener *tok;
	const char *line = (const char *)data;
	struct json_object *obj;

	if (size > LINE_MAX_BYTES || memchr(data, '\0', size))
		return 0; /* the parser refuses a NUL before either path runs */
	if (!tok && !(tok = json_tokener_new()))
		abort();
	record_reset(&rec);
	if (parser_json_fast(line, size, record_emit, &rec) != 0)
		return 0; /* declined: json-c reads it, as fuzz_json checks */
	json_tokener_reset(tok);
	obj = jsonc_parse(tok, line, size);
	if (!obj)
		mismatch("json-c refuses a line the fast path accepted", 0);
	compare(obj);
	json_object_put(obj);
	return 0;
}
