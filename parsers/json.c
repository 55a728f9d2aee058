/* The json parser: one JSON object per line. Every member becomes a field; members of nested objects
 * also become fields named by their path ("a.b.c"), so templates can reach them.
 *
 * Ownership: field values point into json-c objects (strings, and the JSON text json-c caches on each
 * object), nested names into the state's arena. Both live until the next parse, which releases the
 * previous line's object and resets the arena: exactly the lifetime the plugin ABI asks for. */
#include "parser.h"
#include "swar.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper lines are refused by the tokener before they can cost stack or memory; the recursion in
 * emit_members() is bounded by the same limit. */
#define JSON_MAX_DEPTH 64
#define ARENA_CHUNK ((size_t)64 << 10)
/* Bytes of nested names one line may need: far beyond any real log line, low enough that a hostile
 * one (a long key repeated in many nested paths) costs little. */
#define ARENA_MAX ((size_t)16 << 20)

/* A chunked arena: names handed out stay put because a full chunk is never moved or grown; the next
 * chunk is used instead. Chunks are kept across lines so a steady stream allocates nothing. */
struct chunk {
	struct chunk *next;
	size_t cap, used;
	char data[];
};

struct arena {
	struct chunk *first, *cur;
	size_t total;
};

struct json_state {
	struct json_tokener *tok;
	struct json_object *obj; /* the previous line's object, released at the next parse */
	struct arena names;
};

struct walk {
	struct json_state *st;
	onside_emit_fn emit;
	void *sink;
	char *reason;
	size_t reasonlen;
};

static void arena_free(struct arena *a)
{
	struct chunk *c, *next;

	for (c = a->first; c; c = next) {
		next = c->next;
		free(c);
	}
	a->first = a->cur = NULL;
	a->total = 0;
}

static void arena_reset(struct arena *a)
{
	/* After an unusual line, give back what a typical one does not need. */
	if (a->total > ARENA_CHUNK)
		arena_free(a);
	a->cur = a->first;
	if (a->cur)
		a->cur->used = 0;
}

static char *arena_alloc(struct arena *a, size_t n)
{
	struct chunk *c = a->cur;
	size_t cap;

	while (c && c->cap - c->used < n) {
		c = c->next;
		if (c)
			c->used = 0; /* chunks past cur hold nothing of this line */
	}
	if (!c) {
		cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		if (cap > ARENA_MAX - a->total)
			return NULL;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		if (a->cur) {
			c->next = a->cur->next;
			a->cur->next = c;
		} else {
			c->next = a->first;
			a->first = c;
		}
		a->total += cap;
	}
	a->cur = c;
	c->used += n;
	return c->data + c->used - n;
}

static int json_create(const char *options_json, void **ret_state, char *err, size_t errlen)
{
	struct json_state *st;

	if (parser_no_options(options_json, "json", err, errlen) < 0)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	st->tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!st->tok) {
		free(st);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Strict: no trailing commas, no leading zeros, nothing after the object; what we accept we
	 * must be able to send on as valid JSON (json-c 0.17+: see tokenize()). */
	json_tokener_set_flags(st->tok, JSON_TOKENER_STRICT);
	*ret_state = st;
	return 0;
}

static void json_destroy(void *state)
{
	struct json_state *st = state;

	if (!st)
		return;
	json_object_put(st->obj);
	json_tokener_free(st->tok);
	arena_free(&st->names);
	free(st);
}

/* json-c (0.15, 0.16) saturates integers that do not fit 64 bits instead of failing; sending the
 * clamped value would silently change the data, so the saturated values are refused (an honest one is
 * vanishingly rare and still ends in the dead-letter file, not lost). NaN and Infinity, which json-c
 * accepts, are not JSON at all. */
static bool number_suspect(struct json_object *v)
{
	if (json_object_is_type(v, json_type_double))
		return !isfinite(json_object_get_double(v));
	return json_object_get_int64(v) == INT64_MIN || json_object_get_uint64(v) == UINT64_MAX;
}

/* The same check inside an array, which is sent as one JSON text. Recursion is bounded by the
 * tokener's depth limit. */
static bool array_suspect(struct json_object *v)
{
	size_t i, n;

	switch (json_object_get_type(v)) {
	case json_type_int:
	case json_type_double:
		return number_suspect(v);
	case json_type_array:
		n = json_object_array_length(v);
		for (i = 0; i < n; i++)
			if (array_suspect(json_object_array_get_idx(v, i)))
				return true;
		return false;
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			(void)key;
			if (array_suspect(val))
				return true;
		}
		return false;
	}
	default:
		return false;
	}
}

static int emit_members(struct walk *w, struct json_object *obj, const char *prefix, size_t plen,
			int depth);

static int out_of_range(struct walk *w, const char *name, size_t nlen)
{
	snprintf(w->reason, w->reasonlen, "number out of range in \"%.*s\"",
		 (int)(nlen > 200 ? 200 : nlen), name);
	return -ERANGE;
}

/* Emits one member; for an object, also its members under "name.". Returns 0, 1 when the sink wants
 * no more fields, or a negative errno with the reason filled in. */
static int emit_value(struct walk *w, const char *name, size_t nlen, struct json_object *v, int depth)
{
	const char *text;
	size_t tlen;
	int type;

	switch (json_object_get_type(v)) {
	case json_type_null:
		text = "null", type = ONSIDE_T_NULL;
		break;
	case json_type_boolean:
		text = json_object_get_boolean(v) ? "true" : "false", type = ONSIDE_T_BOOL;
		break;
	case json_type_string:
		text = json_object_get_string(v), type = ONSIDE_T_STRING;
		break;
	case json_type_int:
	case json_type_double:
		/* Doubles keep their source text ("9.90" stays "9.90"): json-c stores it. */
		if (number_suspect(v))
			return out_of_range(w, name, nlen);
		text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		type = ONSIDE_T_NUMBER;
		break;
	case json_type_array:
		if (array_suspect(v))
			return out_of_range(w, name, nlen);
		/* fall through */
	default: /* object, array */
		text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
		type = ONSIDE_T_JSON;
		break;
	}
	if (!text) {
		snprintf(w->reason, w->reasonlen, "out of memory");
		return -ENOMEM;
	}
	/* Decoded strings may hold NUL bytes (\u0000): take their length from json-c. */
	tlen = type == ONSIDE_T_STRING ? (size_t)json_object_get_string_len(v) : strlen(text);
	if (w->emit(w->sink, name, nlen, text, tlen, type))
		return 1;
	if (type == ONSIDE_T_JSON && json_object_is_type(v, json_type_object))
		return emit_members(w, v, name, nlen, depth + 1);
	return 0;
}

static int emit_members(struct walk *w, struct json_object *obj, const char *prefix, size_t plen,
			int depth)
{
	int r;

	if (depth > JSON_MAX_DEPTH)
		return 0; /* unreachable: the tokener refuses deeper lines */
	json_object_object_foreach(obj, key, val) {
		size_t klen = strlen(key), nlen = klen;
		const char *name = key;

		if (prefix) {
			char *p = arena_alloc(&w->st->names, plen + 1 + klen);

			if (!p) {
				snprintf(w->reason, w->reasonlen, "nested field names too long");
				return -E2BIG;
			}
			memcpy(p, prefix, plen);
			p[plen] = '.';
			memcpy(p + plen + 1, key, klen);
			name = p;
			nlen = plen + 1 + klen;
		}
		r = emit_value(w, name, nlen, val, depth);
		if (r)
			return r;
	}
	return 0;
}

static bool only_space(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

/* Tokenizes the line into st->obj, or says why not. */
#if JSON_C_VERSION_NUM >= 0x001100
static bool has_high_bytes(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}
#endif

static int tokenize(struct json_state *st, const char *line, size_t len, char *reason,
		    size_t reasonlen)
{
	enum json_tokener_error e;
	const char *nul;
	size_t end;

	/* json-c would stop at a NUL and report the rest as missing; name the real problem. */
	nul = memchr(line, '\0', len);
	if (nul) {
		snprintf(reason, reasonlen, "invalid JSON at byte %zu: NUL byte", (size_t)(nul - line));
		return ONSIDE_PARSE_NOMATCH;
	}
	if (only_space(line, len)) {
		snprintf(reason, reasonlen, "empty line");
		return ONSIDE_PARSE_NOMATCH;
	}
	if (len > (size_t)0x7fffffff) {
		snprintf(reason, reasonlen, "line too long for the JSON parser");
		return ONSIDE_PARSE_NOMATCH;
	}
	json_tokener_reset(st->tok);
	st->obj = json_tokener_parse_ex(st->tok, line, (int)len);
	e = json_tokener_get_error(st->tok);
#if JSON_C_VERSION_NUM >= 0x001100
	/* json-c 0.17 and 0.18 refuse every byte >= 0x80 inside a string in strict mode (so all UTF-8
	 * text); only such a line is parsed again without it, the rest stays strict */
	if (!st->obj && e == json_tokener_error_parse_string && has_high_bytes(line, len)) {
		json_tokener_reset(st->tok);
		json_tokener_set_flags(st->tok, 0);
		st->obj = json_tokener_parse_ex(st->tok, line, (int)len);
		e = json_tokener_get_error(st->tok);
		json_tokener_set_flags(st->tok, JSON_TOKENER_STRICT);
	}
#endif
	end = json_tokener_get_parse_end(st->tok);
	if (!st->obj && e == json_tokener_continue) {
		/* A bare number ("42") only ends at a byte that cannot continue it; json-c's own
		 * string API feeds the terminating NUL for that, so do the same. An unfinished
		 * object stays unfinished. */
		st->obj = json_tokener_parse_ex(st->tok, "", 1);
		if (!st->obj || json_object_is_type(st->obj, json_type_object)) {
			json_object_put(st->obj);
			st->obj = NULL;
		}
	}
	if (!st->obj) {
		snprintf(reason, reasonlen, "invalid JSON at byte %zu: %s", end,
			 e == json_tokener_continue ? "unexpected end of line" : json_tokener_error_desc(e));
		return ONSIDE_PARSE_NOMATCH;
	}
	if (!only_space(line + end, len - end)) {
		snprintf(reason, reasonlen, "invalid JSON at byte %zu: trailing characters", end);
		return ONSIDE_PARSE_NOMATCH;
	}
	if (!json_object_is_type(st->obj, json_type_object)) {
		snprintf(reason, reasonlen, "not a JSON object");
		return ONSIDE_PARSE_NOMATCH;
	}
	return ONSIDE_PARSE_OK;
}

/* ---- the flat-object fast path ----
 * Purchase logs are mostly flat objects of plain strings and integers. Such a line is scanned here
 * without building and freeing a json-c tree (most of the cost of a line). Anything else (escapes,
 * control bytes, nesting, arrays, doubles, large or negative-zero integers, duplicate keys, more than
 * JSON_FAST_MAX fields, any syntax error) is left to json-c, so every value and every message is
 * exactly what the json-c path gives: the fast path only accepts what json-c accepts unchanged. */

#define JSON_FAST_MAX 64

struct span {
	const char *k, *v;
	size_t kl, vl;
	int type;
};

static inline const char *fast_ws(const char *p, const char *e)
{
	/* Four times per member, and mostly there is no space at all: one comparison says so. */
	if (p < e && (unsigned char)*p > ' ')
		return p;
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* p is past the opening quote; returns the closing quote of a string without escapes or control
 * bytes, or NULL. */
static inline __attribute__((always_inline)) const char *fast_string(const char *p, const char *e)
{
	uint64_t w, q, m;

	/* Sixteen or eight bytes at a time to the first '"', '\\' or control byte; the rest one at a
	 * time. The quote is found from the masks alone, without reading the byte again: the next
	 * member's parse waits for this result. */
#ifdef SWAR_HAVE_SSE2
	unsigned m16, q16, h16;

	for (; e - p >= 16; p += 16) {
		m16 = swar_json_special16((const unsigned char *)p, &q16, &h16);
		if (m16)
			return (q16 & m16 & -m16) ? p + __builtin_ctz(m16) : NULL;
	}
#endif
	for (; e - p >= 8; p += 8) {
		w = swar_load((const unsigned char *)p);
		q = swar_zero(w ^ (SWAR_ONES * '"'));
		m = q | swar_json_special(w);
		if (m)
			return (q & m & -m) ? p + swar_first(m) : NULL;
	}
	for (; p < e; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			return p;
		if (c == '\\' || c < 0x20)
			return NULL;
	}
	return NULL;
}

/* An integer json-c prints back exactly as written: at most 18 digits, no leading zero, not "-0". */
static const char *fast_int(const char *p, const char *e)
{
	const char *s = p;

	if (p < e && *p == '-')
		p++;
	if (p >= e || *p < '0' || *p > '9')
		return NULL;
	if (*p == '0') {
		if (*s == '-')
			return NULL;
		p++;
	} else {
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if ((p < e && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9'))) || p - s > 18)
		return NULL;
	return p;
}

static const char *fast_literal(const char *p, const char *e, int *ret_type)
{
	static const struct {
		const char *text;
		size_t len;
		int type;
	} lit[] = {{"true", 4, ONSIDE_T_BOOL}, {"false", 5, ONSIDE_T_BOOL}, {"null", 4, ONSIDE_T_NULL}};

	for (size_t i = 0; i < 3; i++) {
		if ((size_t)(e - p) >= lit[i].len && memcmp(p, lit[i].text, lit[i].len) == 0) {
			*ret_type = lit[i].type;
			return p + lit[i].len;
		}
	}
	return NULL;
}

/* One member "key": value at p; fills sp and returns the position after the value, or NULL. */
static inline __attribute__((always_inline)) const char *fast_member(const char *p, const char *e,
								  struct span *sp)
{
	const char *ke, *ve;

	if (p >= e || *p != '"' || !(ke = fast_string(p + 1, e)))
		return NULL;
	sp->k = p + 1;
	sp->kl = (size_t)(ke - sp->k);
	p = fast_ws(ke + 1, e);
	if (p >= e || *p != ':')
		return NULL;
	p = fast_ws(p + 1, e);
	if (p < e && *p == '"') {
		if (!(ve = fast_string(p + 1, e)))
			return NULL;
		sp->v = p + 1;
		sp->type = ONSIDE_T_STRING;
		sp->vl = (size_t)(ve - sp->v);
		return ve + 1;
	}
	sp->v = p;
	if (p < e && (*p == '-' || (*p >= '0' && *p <= '9'))) {
		ve = fast_int(p, e);
		sp->type = ONSIDE_T_NUMBER;
	} else {
		ve = fast_literal(p, e, &sp->type);
	}
	if (ve)
		sp->vl = (size_t)(ve - p);
	return ve;
}

/* Returns the number of members (>= 0) when the whole line is such a flat object, else -1. */
static int fast_scan(const char *line, size_t len, struct span *sp)
{
	const char *p = fast_ws(line, line + len), *e = line + len;
	uint64_t seen = 0, bit;
	int n = 0;

	if (p >= e || *p != '{')
		return -1;
	p = fast_ws(p + 1, e);
	if (p < e && *p == '}')
		return fast_ws(p + 1, e) == e ? 0 : -1;
	for (;;) {
		if (n == JSON_FAST_MAX || !(p = fast_member(p, e, &sp[n])))
			return -1;
		/* json-c keeps the last of duplicates: its business. A key's length and last byte
		 * pick one of 64 bits; only a key whose bit is taken is compared with the others. */
		bit = UINT64_C(1) << ((sp[n].kl * 7 + (sp[n].kl ? (unsigned char)sp[n].k[sp[n].kl - 1] : 0)) & 63);
		if (seen & bit) {
			for (int i = 0; i < n; i++)
				if (sp[i].kl == sp[n].kl && swar_equal(sp[i].k, sp[n].k, sp[n].kl))
					return -1;
		}
		seen |= bit;
		n++;
		p = fast_ws(p, e);
		if (p < e && *p == ',') {
			p = fast_ws(p + 1, e);
			continue;
		}
		if (p < e && *p == '}')
			return fast_ws(p + 1, e) == e ? n : -1;
		return -1;
	}
}

int parser_json_fast(const char *line, size_t len, onside_emit_fn emit, void *sink)
{
	struct span sp[JSON_FAST_MAX];
	int n = fast_scan(line, len, sp);

	for (int i = 0; i < n; i++)
		if (emit(sink, sp[i].k, sp[i].kl, sp[i].v, sp[i].vl, sp[i].type))
			return -E2BIG;
	return n < 0 ? -EINVAL : 0;
}

static int json_parse(void *state, const char *line, size_t len, onside_emit_fn emit, void *sink,
		      char *reason, size_t reasonlen)
{
	struct json_state *st = state;
	struct walk w = { st, emit, sink, reason, reasonlen };
	int rc;

	json_object_put(st->obj);
	st->obj = NULL;
	arena_reset(&st->names);
	rc = parser_json_fast(line, len, emit, sink);
	if (rc == -E2BIG) {
		snprintf(reason, reasonlen, "too many fields");
		return ONSIDE_PARSE_NOMATCH;
	}
	if (rc == 0)
		return ONSIDE_PARSE_OK;
	rc = tokenize(st, line, len, reason, reasonlen);
	if (rc != ONSIDE_PARSE_OK)
		return rc;
	rc = emit_members(&w, st->obj, NULL, 0, 1);
	if (rc > 0)
		snprintf(reason, reasonlen, "too many fields");
	return rc ? ONSIDE_PARSE_NOMATCH : ONSIDE_PARSE_OK;
}

static const struct onside_parser_ops json_ops = {
	.abi = ONSIDE_PARSER_ABI,
	.name = "json",
	.create = json_create,
	.parse = json_parse,
	.destroy = json_destroy,
};

/* No keys but the common ones. */
const struct parser_builtin parser_json = { .ops = &json_ops };
