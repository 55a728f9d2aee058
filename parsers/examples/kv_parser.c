/* An example onside-agent parser plugin: lines of `key:value` items separated by '|', e.g.
 *
 *     ts:2024-05-01T10:00:00Z|event:purchase_completed|iid:6f1c...|amount:9.90
 *
 * Read this file as a template for your own parser. Build it as a shared object against the one
 * header the agent installs (include/onside-agent/onside_parser.h), nothing else:
 *
 *     cc -shared -fPIC -O2 -Wall -I/usr/include/onside-agent -o libmyformat.so my_parser.c
 *
 * and configure it with
 *
 *     parser:
 *       type: plugin
 *       path: /usr/lib/onside-agent/parsers/libmyformat.so
 *       options: {separator: ";"}
 *
 * The agent refuses a plugin file that group or others may write, or that is owned by anyone but root
 * or the agent's user: install it with mode 0755 (or 0644) as root.
 *
 * Rules of the ABI (see onside_parser.h; this is version 2, and plugins built for version 1 still
 * load unchanged):
 *  - Export exactly one symbol, `const struct onside_parser_ops onside_parser_v1` (the name stays
 *    the same in every ABI version), with abi = ONSIDE_PARSER_ABI. Keep everything else static.
 *  - A parser whose fields depend on the file (a header naming the columns) sets parse_source
 *    instead of parse: it gets each line's struct onside_source, with the file's first line and
 *    the line's offset (0: the first line itself). Never remember "the first line I saw": the
 *    agent maps on several threads, each with its own state, and resumes files in the middle.
 *  - parse() is called once per line, never concurrently for the same state. It must accept any bytes:
 *    NUL bytes, invalid UTF-8, empty lines, very long lines. Return ONSIDE_PARSE_NOMATCH with a short
 *    reason for a line that is not in your format; the agent puts it in its dead-letter file.
 *  - Names and values given to emit() are pointers plus lengths, not C strings. They must stay valid
 *    until the next parse() or destroy() on the same state: point into the line (as here) or into a
 *    buffer the state owns and reuses. Avoid allocating per line; the agent may see millions.
 *  - When emit() returns nonzero, stop and return ONSIDE_PARSE_NOMATCH.
 *  - Never print, never exit: report problems through err (create) and reason (parse).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onside_parser.h"

/* The agent's tests build this file a second time with -DKV_PARSER_ABI=99 to check that a plugin
 * built for another ABI is refused. A real plugin just writes ONSIDE_PARSER_ABI. */
#ifndef KV_PARSER_ABI
#define KV_PARSER_ABI ONSIDE_PARSER_ABI
#endif

struct kv_state {
	char sep; /* between items */
};

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* Reads the options: "{}" or {"separator": "X"} with X one plain character.
 *
 * The agent hands options over as JSON text. A real plugin would use a JSON library (json-c, jansson,
 * ...); this example reads its one option by hand so that it builds with no dependency at all. */
static int read_options(const char *json, char *ret_sep, char *err, size_t errlen)
{
	const char *p = skip_ws(json);
	static const char key[] = "\"separator\"";

	if (*p++ != '{')
		goto bad;
	p = skip_ws(p);
	if (*p == '}') {
		if (*skip_ws(p + 1))
			goto bad;
		return 0;
	}
	if (strncmp(p, key, sizeof(key) - 1) != 0)
		goto bad;
	p = skip_ws(p + sizeof(key) - 1);
	if (*p++ != ':')
		goto bad;
	p = skip_ws(p);
	/* exactly one character between quotes, and not one that JSON would escape */
	if (p[0] != '"' || p[1] == '\0' || p[1] == '"' || p[1] == '\\' || p[2] != '"')
		goto bad;
	*ret_sep = p[1];
	p = skip_ws(p + 3);
	if (*p != '}' || *skip_ws(p + 1))
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "kv: options must be {} or {\"separator\": \"C\"} with one character C");
	return -1;
}

static int kv_create(const char *options_json, void **ret_state, char *err, size_t errlen)
{
	struct kv_state *st;
	char sep = '|';

	if (read_options(options_json, &sep, err, errlen) < 0)
		return -1;
	if (sep == ':') {
		snprintf(err, errlen, "kv: the separator cannot be ':'");
		return -1;
	}
	st = malloc(sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "kv: out of memory");
		return -1;
	}
	st->sep = sep;
	*ret_state = st;
	return 0;
}

/* Emits one `key:value` item of n bytes at item; off is its position in the line, for messages. */
static int kv_item(const char *item, size_t n, size_t off, onside_emit_fn emit, void *sink,
		   char *reason, size_t reasonlen)
{
	const char *colon = memchr(item, ':', n);

	if (!colon) {
		snprintf(reason, reasonlen, "item at byte %zu has no ':'", off);
		return ONSIDE_PARSE_NOMATCH;
	}
	if (colon == item) {
		snprintf(reason, reasonlen, "item at byte %zu has an empty key", off);
		return ONSIDE_PARSE_NOMATCH;
	}
	/* Values point into the line: valid until the next parse, as the ABI requires. */
	if (emit(sink, item, (size_t)(colon - item), colon + 1, n - (size_t)(colon - item) - 1,
		 ONSIDE_T_STRING)) {
		snprintf(reason, reasonlen, "too many fields");
		return ONSIDE_PARSE_NOMATCH;
	}
	return ONSIDE_PARSE_OK;
}

static int kv_parse(void *state, const char *line, size_t len, onside_emit_fn emit, void *sink,
		    char *reason, size_t reasonlen)
{
	const struct kv_state *st = state;
	size_t pos = 0, n;
	const char *end;
	int rc;

	if (len == 0) {
		snprintf(reason, reasonlen, "empty line");
		return ONSIDE_PARSE_NOMATCH;
	}
	/* Walk by length, with memchr: the line is not NUL-terminated and may contain NUL bytes. */
	while (pos <= len) {
		end = memchr(line + pos, st->sep, len - pos);
		n = end ? (size_t)(end - (line + pos)) : len - pos;
		if (n > 0) { /* empty items ("a:1||b:2", a trailing '|') are ignored */
			rc = kv_item(line + pos, n, pos, emit, sink, reason, reasonlen);
			if (rc != ONSIDE_PARSE_OK)
				return rc;
		}
		pos += n + 1;
	}
	return ONSIDE_PARSE_OK;
}

static void kv_destroy(void *state)
{
	free(state);
}

/* The one exported symbol. `const` keeps it in read-only memory: the agent never writes to it.
 * This parser does not need to know where a line comes from, so parse_source stays NULL. */
const struct onside_parser_ops onside_parser_v1 = {
	.abi = KV_PARSER_ABI,
	.name = "kv",
	.create = kv_create,
	.parse = kv_parse,
	.destroy = kv_destroy,
	.parse_source = NULL,
};
