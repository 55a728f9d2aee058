/* The logfmt parser: `key=value key="quoted value" flag` pairs separated by spaces or tabs.
 *
 *   key=value        value runs to the next space or tab ('=' inside it is kept: URLs carry them)
 *   key="a \"b\""    backslash escapes \" \\ \n \t \r \uHHHH (UTF-8 out, surrogate pairs joined)
 *   key=             the empty string
 *   key              a flag: the value true, as a boolean
 *
 * A '"' anywhere but at the start of a value, an unterminated quote, an '=' with no key before it and
 * an unknown escape make the line malformed; the reason gives the 0-based byte position.
 *
 * Ownership: plain values point into the line; values with escapes are decoded into the state's
 * buffer. That buffer is sized for the whole line before the first field is emitted (decoding never
 * makes text longer), so it cannot move while this line's fields still point into it. */
#include "parser.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hex.h"

struct logfmt_state {
	struct buf dec; /* decoded values of the current line */
};

struct cursor {
	const char *line;
	size_t len, i;
	char *reason;
	size_t reasonlen;
};

static int logfmt_create(const char *options_json, void **ret_state, char *err, size_t errlen)
{
	struct logfmt_state *st;

	if (parser_no_options(options_json, "logfmt", err, errlen) < 0)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	buf_init(&st->dec, 0);
	*ret_state = st;
	return 0;
}

static void logfmt_destroy(void *state)
{
	struct logfmt_state *st = state;

	if (!st)
		return;
	buf_free(&st->dec);
	free(st);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static int fail(struct cursor *c, size_t pos, const char *what)
{
	snprintf(c->reason, c->reasonlen, "malformed logfmt at byte %zu: %s", pos, what);
	return -EINVAL;
}

static int hex4_at(const char *p, uint32_t *ret)
{
	long v = hex4(p);

	if (v < 0)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decodes \uHHHH (and its low surrogate, if it is a high one) at c->i, which points at the 'u'.
 * Returns the bytes written to o (at most 4, never more than the input consumed). */
static int unicode_escape(struct cursor *c, char *o, size_t *ret_n)
{
	size_t bs = c->i - 1;
	uint32_t cp, lo;

	if (c->len - c->i < 5 || hex4_at(c->line + c->i + 1, &cp) < 0)
		return fail(c, bs, "invalid \\u escape");
	c->i += 5;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return fail(c, bs, "unpaired surrogate in \\u escape");
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (c->len - c->i < 6 || c->line[c->i] != '\\' || c->line[c->i + 1] != 'u' ||
		    hex4_at(c->line + c->i + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
			return fail(c, bs, "unpaired surrogate in \\u escape");
		c->i += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	*ret_n = put_utf8(o, cp);
	return 0;
}

/* Decodes a quoted value whose opening quote is at c->i - 1 and whose first backslash is at c->i,
 * into o. Leaves c->i just past the closing quote. */
static int decode_quoted(struct cursor *c, size_t open, char *o, size_t *ret_n)
{
	size_t n = 0, k = 0;

	while (c->i < c->len) {
		char ch = c->line[c->i++];

		if (ch == '"') {
			*ret_n = n;
			return 0;
		}
		if (ch != '\\') {
			o[n++] = ch;
			continue;
		}
		if (c->i == c->len)
			break;
		switch (c->line[c->i++]) {
		case '"': o[n++] = '"'; break;
		case '\\': o[n++] = '\\'; break;
		case 'n': o[n++] = '\n'; break;
		case 't': o[n++] = '\t'; break;
		case 'r': o[n++] = '\r'; break;
		case 'u':
			c->i--;
			if (unicode_escape(c, o + n, &k) < 0)
				return -EINVAL;
			n += k;
			break;
		default:
			return fail(c, c->i - 2, "invalid escape");
		}
	}
	return fail(c, open, "unterminated quoted value");
}

/* Reads a quoted value; c->i is at the opening quote. */
static int quoted(struct cursor *c, struct buf *dec, const char **ret_v, size_t *ret_n)
{
	size_t open = c->i, start = ++c->i, n;
	const char *q;

	/* The common case has no escapes: point into the line. */
	for (q = c->line + start; q < c->line + c->len && *q != '"' && *q != '\\'; q++)
		;
	if (q == c->line + c->len)
		return fail(c, open, "unterminated quoted value");
	if (*q == '"') {
		c->i = (size_t)(q - c->line) + 1;
		*ret_v = c->line + start;
		*ret_n = (size_t)(q - c->line) - start;
		return 0;
	}
	memcpy(dec->data + dec->len, c->line + start, (size_t)(q - c->line) - start);
	n = (size_t)(q - c->line) - start;
	c->i = (size_t)(q - c->line);
	if (decode_quoted(c, open, dec->data + dec->len + n, ret_n) < 0)
		return -EINVAL;
	*ret_v = dec->data + dec->len;
	*ret_n += n;
	dec->len += *ret_n;
	return 0;
}

/* Reads a bare key or value: up to a space, a tab or (for keys) an '='. */
static int bare(struct cursor *c, bool key, size_t *ret_start)
{
	size_t start = c->i;

	for (; c->i < c->len && !is_space(c->line[c->i]); c->i++) {
		if (key && c->line[c->i] == '=')
			break;
		if (c->line[c->i] == '"')
			return fail(c, c->i, key ? "unexpected '\"' in key" : "unexpected '\"' in value");
	}
	*ret_start = start;
	return 0;
}

/* Reads one pair at c->i (not a space) and emits it. Returns 0, 1 when the sink is full, or
 * -EINVAL with the reason filled. */
static int pair(struct cursor *c, struct buf *dec, onside_emit_fn emit, void *sink)
{
	size_t ks, kn, vs, vn = 0;
	const char *v = NULL;

	if (bare(c, true, &ks) < 0)
		return -EINVAL;
	kn = c->i - ks;
	if (c->i == c->len || c->line[c->i] != '=')
		return emit(sink, c->line + ks, kn, "true", 4, ONSIDE_T_BOOL) ? 1 : 0;
	if (kn == 0)
		return fail(c, c->i, "'=' with no key");
	c->i++;
	if (c->i < c->len && c->line[c->i] == '"') {
		if (quoted(c, dec, &v, &vn) < 0)
			return -EINVAL;
		if (c->i < c->len && !is_space(c->line[c->i]))
			return fail(c, c->i, "no space after quoted value");
	} else {
		if (bare(c, false, &vs) < 0)
			return -EINVAL;
		v = c->line + vs;
		vn = c->i - vs;
	}
	return emit(sink, c->line + ks, kn, v, vn, ONSIDE_T_STRING) ? 1 : 0;
}

static int logfmt_parse(void *state, const char *line, size_t len, onside_emit_fn emit, void *sink,
			char *reason, size_t reasonlen)
{
	struct logfmt_state *st = state;
	struct cursor c = { line, len, 0, reason, reasonlen };
	bool any = false;
	int r;

	buf_reset(&st->dec);
	if (buf_reserve(&st->dec, len) < 0) {
		snprintf(reason, reasonlen, "line too long for the logfmt parser");
		return ONSIDE_PARSE_NOMATCH;
	}
	for (;;) {
		while (c.i < len && is_space(line[c.i]))
			c.i++;
		if (c.i == len)
			break;
		r = pair(&c, &st->dec, emit, sink);
		if (r > 0)
			snprintf(reason, reasonlen, "too many fields");
		if (r)
			return ONSIDE_PARSE_NOMATCH;
		any = true;
	}
	if (!any) {
		snprintf(reason, reasonlen, "empty line");
		return ONSIDE_PARSE_NOMATCH;
	}
	return ONSIDE_PARSE_OK;
}

static const struct onside_parser_ops logfmt_ops = {
	.abi = ONSIDE_PARSER_ABI,
	.name = "logfmt",
	.create = logfmt_create,
	.parse = logfmt_parse,
	.destroy = logfmt_destroy,
};

/* No keys but the common ones. */
const struct parser_builtin parser_logfmt = { .ops = &logfmt_ops };
