/* A parser plugin for the tests that breaks the ABI on purpose: it types its values as the line says,
 * without checking that they are what the type promises. Items are separated by '|', each one
 * `T:name=value` with T one of s (STRING), n (NUMBER), b (BOOL), z (NULL), j (JSON):
 *
 *     s:event=buy|n:amount=1,"injected":true
 *
 * emits event = "buy" as a string and amount = `1,"injected":true` typed NUMBER, which the agent must
 * refuse rather than copy into the request. Values point into the line, as the ABI allows. */
#include <stdio.h>
#include <string.h>

#include "onside_parser.h"

static int typed_create(const char *options_json, void **ret_state, char *err, size_t errlen)
{
	static int state;

	(void)options_json;
	(void)err;
	(void)errlen;
	*ret_state = &state;
	return 0;
}

static int type_of(char c)
{
	switch (c) {
	case 'n':
		return ONSIDE_T_NUMBER;
	case 'b':
		return ONSIDE_T_BOOL;
	case 'z':
		return ONSIDE_T_NULL;
	case 'j':
		return ONSIDE_T_JSON;
	case 's':
		return ONSIDE_T_STRING;
	default:
		return -1;
	}
}

static int typed_item(const char *item, size_t n, onside_emit_fn emit, void *sink, char *reason,
		      size_t reasonlen)
{
	const char *eq = n > 2 ? memchr(item + 2, '=', n - 2) : NULL;
	int type = n > 2 && item[1] == ':' ? type_of(item[0]) : -1;

	if (type < 0 || !eq) {
		snprintf(reason, reasonlen, "item \"%.*s\" is not T:name=value", (int)n, item);
		return ONSIDE_PARSE_NOMATCH;
	}
	if (emit(sink, item + 2, (size_t)(eq - item - 2), eq + 1, (size_t)(item + n - eq - 1), type)) {
		snprintf(reason, reasonlen, "the agent took no more fields");
		return ONSIDE_PARSE_NOMATCH;
	}
	return ONSIDE_PARSE_OK;
}

static int typed_parse(void *state, const char *line, size_t len, onside_emit_fn emit, void *sink,
		       char *reason, size_t reasonlen)
{
	size_t pos = 0;

	(void)state;
	while (pos < len) {
		const char *bar = memchr(line + pos, '|', len - pos);
		size_t n = bar ? (size_t)(bar - line - pos) : len - pos;
		int rc = typed_item(line + pos, n, emit, sink, reason, reasonlen);

		if (rc != ONSIDE_PARSE_OK)
			return rc;
		pos += n + 1;
	}
	return ONSIDE_PARSE_OK;
}

static void typed_destroy(void *state)
{
	(void)state;
}

const struct onside_parser_ops onside_parser_v1 = {
	.abi = ONSIDE_PARSER_ABI,
	.name = "typed",
	.create = typed_create,
	.parse = typed_parse,
	.destroy = typed_destroy,
};
