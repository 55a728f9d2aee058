/* The ltsv parser: Labeled Tab-Separated Values (http://ltsv.org), which old web servers' access logs
 * are often written in (an nginx or Apache log format of `label:$variable` fields):
 *
 *   time:2026-05-05T12:00:00+09:00<TAB>host:10.0.0.1<TAB>uri:/buy?sku=A-1<TAB>ua:Mozilla/5.0 (X11)
 *
 * Each field is a label, the label delimiter (':') and a value; fields are separated by the
 * delimiter (a tab). A label is [0-9A-Za-z_.-]+, as the format says; the value is every byte up to
 * the next delimiter, label delimiters included (times and URLs carry colons), with no escapes and
 * no quotes. An empty field (two tabs in a row, a tab at the end) is no field. A field without a
 * label delimiter, an empty label or a label byte outside the set make the line malformed; the
 * reason gives the 0-based byte position. A label given twice is one field, its last value (as for
 * every parser, parser.h).
 *
 * Options (keys under `parser:`, declared at the end of this file): delimiter (one byte, default a
 * tab) and label_delimiter (one byte, default ':'), as fluentd's ltsv parser has them; they differ.
 *
 * Ownership: labels and values point into the line; nothing is copied. */
#include "parser.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DELIMITER "\t"
#define DEFAULT_LABEL_DELIMITER ":"

struct ltsv_state {
	char delim;
	char label_delim;
};

/* [0-9A-Za-z_.-] */
static bool label_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	       c == '.' || c == '-';
}

/* Reads {"delimiter": "\t", "label_delimiter": ":"}, both optional: one byte each, not the same. */
static int read_options(struct ltsv_state *st, struct json_object *opts, char *err, size_t errlen)
{
	json_object_object_foreach(opts, key, val) {
		char *dst;

		if (strcmp(key, "delimiter") == 0) {
			dst = &st->delim;
		} else if (strcmp(key, "label_delimiter") == 0) {
			dst = &st->label_delim;
		} else {
			snprintf(err, errlen, "ltsv parser: unknown option \"%s\"", key);
			return -EINVAL;
		}
		if (!json_object_is_type(val, json_type_string) || json_object_get_string_len(val) != 1) {
			snprintf(err, errlen, "ltsv parser: \"%s\" must be a single byte", key);
			return -EINVAL;
		}
		*dst = json_object_get_string(val)[0];
	}
	if (st->delim == st->label_delim) {
		snprintf(err, errlen, "ltsv parser: \"delimiter\" and \"label_delimiter\" must differ");
		return -EINVAL;
	}
	return 0;
}

static int ltsv_create(const char *options_json, void **ret_state, char *err, size_t errlen)
{
	struct json_object *opts = json_tokener_parse(options_json);
	struct ltsv_state st = { DEFAULT_DELIMITER[0], DEFAULT_LABEL_DELIMITER[0] }, *p;
	int r;

	if (!opts || !json_object_is_type(opts, json_type_object)) {
		snprintf(err, errlen, "ltsv parser: options are not a JSON object");
		json_object_put(opts);
		return -EINVAL;
	}
	r = read_options(&st, opts, err, errlen);
	json_object_put(opts);
	if (r < 0)
		return r;
	p = malloc(sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*p = st;
	*ret_state = p;
	return 0;
}

static void ltsv_destroy(void *state)
{
	free(state);
}

/* One non-empty field of n bytes at line + at: emits it, or returns ONSIDE_PARSE_NOMATCH with the
 * reason. */
static int field(const struct ltsv_state *st, const char *line, size_t at, size_t n, onside_emit_fn emit,
		 void *sink, char *reason, size_t reasonlen)
{
	const char *f = line + at, *sep = memchr(f, st->label_delim, n);
	size_t i, label;

	if (!sep) {
		snprintf(reason, reasonlen, "malformed ltsv at byte %zu: field without a label", at);
		return ONSIDE_PARSE_NOMATCH;
	}
	label = (size_t)(sep - f);
	if (label == 0) {
		snprintf(reason, reasonlen, "malformed ltsv at byte %zu: empty label", at);
		return ONSIDE_PARSE_NOMATCH;
	}
	for (i = 0; i < label; i++) {
		if (!label_byte((unsigned char)f[i])) {
			snprintf(reason, reasonlen, "malformed ltsv at byte %zu: invalid byte 0x%02x in label", at + i,
				 (unsigned char)f[i]);
			return ONSIDE_PARSE_NOMATCH;
		}
	}
	if (emit(sink, f, label, sep + 1, n - label - 1, ONSIDE_T_STRING)) {
		snprintf(reason, reasonlen, "too many fields");
		return ONSIDE_PARSE_NOMATCH;
	}
	return ONSIDE_PARSE_OK;
}

static int ltsv_parse(void *state, const char *line, size_t len, onside_emit_fn emit, void *sink, char *reason,
		      size_t reasonlen)
{
	const struct ltsv_state *st = state;
	size_t at = 0, n;
	bool any = false;

	for (;;) {
		const char *d = memchr(line + at, st->delim, len - at);

		n = d ? (size_t)(d - (line + at)) : len - at;
		if (n) {
			if (field(st, line, at, n, emit, sink, reason, reasonlen) != ONSIDE_PARSE_OK)
				return ONSIDE_PARSE_NOMATCH;
			any = true;
		}
		if (!d)
			break;
		at += n + 1;
	}
	if (!any) {
		snprintf(reason, reasonlen, "empty line");
		return ONSIDE_PARSE_NOMATCH;
	}
	return ONSIDE_PARSE_OK;
}

/* ---- configuration ---- */

enum { OPT_DELIMITER, OPT_LABEL_DELIMITER };

static const struct parser_opt ltsv_opts[] = {
	[OPT_DELIMITER] = { .key = "delimiter", .type = PARSER_OPT_STRING, .def = DEFAULT_DELIMITER,
			    .check = parser_check_byte, .help = "one byte between fields (a tab)" },
	[OPT_LABEL_DELIMITER] = { .key = "label_delimiter", .type = PARSER_OPT_STRING, .def = DEFAULT_LABEL_DELIMITER,
				  .check = parser_check_byte, .help = "one byte between a label and its value (':')" },
	{ .key = NULL },
};

/* The two delimiters differ. The problem is put at the one that was changed: a label_delimiter left
 * at its default means the delimiter was set to it. */
static int ltsv_configure(const union parser_optval *v, const struct parser_report *rep, struct parser_needs *ret)
{
	const char *d = v[OPT_DELIMITER].s, *ld = v[OPT_LABEL_DELIMITER].s;

	if (!d || !ld || d[0] != ld[0])
		return 0; /* NULL: out of memory, which the caller knows */
	if (strcmp(ld, DEFAULT_LABEL_DELIMITER) == 0)
		parser_report(rep, "delimiter", "must differ from label_delimiter");
	else
		parser_report(rep, "label_delimiter", "must differ from delimiter");
	return -EINVAL;
}

static const struct onside_parser_ops ltsv_ops = {
	.abi = ONSIDE_PARSER_ABI,
	.name = "ltsv",
	.create = ltsv_create,
	.parse = ltsv_parse,
	.destroy = ltsv_destroy,
};

const struct parser_builtin parser_ltsv = { .ops = &ltsv_ops, .opts = ltsv_opts, .configure = ltsv_configure };
