/* The fuzz targets' own strict JSON reader, for their checks: RFC 8259 grammar, valid UTF-8, no key
 * twice in any object (keys compared decoded, as the API's parser compares them). It shares no code
 * with the agent's JSON writer, the json parser or the plugin boundary's check, so that a bug in one
 * cannot hide the same bug in the other. Also: the check every mapped event must pass. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventid.h"
#include "fuzz.h"
#include "timefmt.h"

/* Far deeper than anything the agent writes (the json parser reads 64 levels); a bound only so that
 * the recursion cannot overflow the stack. */
#define READER_MAX_DEPTH 512

struct key {
	size_t off, len; /* in the reader's key bytes */
};

struct reader {
	const unsigned char *p, *e;
	bool lone_ok;
	bool any_bytes; /* bytes >= 0x80 in strings need not be UTF-8 */
	bool nul_key; /* a key decoded to text with a NUL */
	const char *why;
	/* decoded keys of the objects being read, innermost last (a stack: an object's keys are
	 * dropped when it ends, before its parent's next key) */
	char *kb;
	size_t kb_len, kb_cap;
	struct key *keys;
	size_t nkeys, keys_cap;
};

static bool fail(struct reader *r, const char *why)
{
	if (!r->why)
		r->why = why;
	return false;
}

static void ws(struct reader *r)
{
	while (r->p < r->e && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool digits(struct reader *r)
{
	if (r->p >= r->e || !digit(*r->p))
		return fail(r, "digit expected");
	while (r->p < r->e && digit(*r->p))
		r->p++;
	return true;
}

static bool number(struct reader *r)
{
	if (*r->p == '-')
		r->p++;
	if (r->p < r->e && *r->p == '0') {
		r->p++;
	} else if (!digits(r)) {
		return false;
	}
	if (r->p < r->e && *r->p == '.') {
		r->p++;
		if (!digits(r))
			return false;
	}
	if (r->p < r->e && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->e && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (!digits(r))
			return false;
	}
	return true;
}

/* One UTF-8 sequence at r->p (its lead byte >= 0x80): Unicode scalar values only, shortest form. */
static bool utf8_char(struct reader *r, uint32_t *ret)
{
	unsigned char c = *r->p;
	size_t n, i;
	uint32_t cp, min;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07, min = 0x10000;
	else
		return fail(r, "invalid UTF-8");
	if ((size_t)(r->e - r->p) < n)
		return fail(r, "invalid UTF-8");
	for (i = 1; i < n; i++) {
		if ((r->p[i] & 0xc0) != 0x80)
			return fail(r, "invalid UTF-8");
		cp = cp << 6 | (r->p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return fail(r, "invalid UTF-8");
	r->p += n;
	*ret = cp;
	return true;
}

static int hex(unsigned char c)
{
	return digit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool hex4(struct reader *r, uint32_t *ret)
{
	uint32_t v = 0;
	int i, d;

	if (r->e - r->p < 4)
		return fail(r, "short \\u escape");
	for (i = 0; i < 4; i++) {
		if ((d = hex(*r->p++)) < 0)
			return fail(r, "bad \\u escape");
		v = v * 16 + (uint32_t)d;
	}
	*ret = v;
	return true;
}

/* \uXXXX (past the backslash and 'u'), joined with a following low surrogate when it is a high one.
 * *ret_lone: the result is a surrogate without its pair. */
static bool unicode_escape(struct reader *r, uint32_t *ret, bool *ret_lone)
{
	uint32_t hi, lo;

	*ret_lone = false;
	if (!hex4(r, &hi))
		return false;
	*ret = hi;
	if (hi >= 0xd800 && hi <= 0xdbff && r->e - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u' &&
	    hex(r->p[2]) >= 0 && hex(r->p[3]) >= 0 && hex(r->p[4]) >= 0 && hex(r->p[5]) >= 0) {
		const unsigned char *save = r->p;

		r->p += 2;
		if (!hex4(r, &lo))
			return false;
		if (lo >= 0xdc00 && lo <= 0xdfff) {
			*ret = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
			return true;
		}
		r->p = save;
	}
	*ret_lone = hi >= 0xd800 && hi <= 0xdfff;
	return true;
}

/* Appends cp as UTF-8 (a lone surrogate as its 3-byte form, which no valid text has) to out. */
static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at r->p (its opening quote). When out is not NULL the decoded bytes are written there
 * (at most as many as the string's text has) and their number stored in *ret_len; lone surrogates
 * \udc80..\udcff become the byte they stand for when bytes_escape (the dead-letter convention). */
static bool string(struct reader *r, char *out, size_t *ret_len, bool bytes_escape)
{
	static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
	size_t n = 0;
	uint32_t cp;
	bool lone;

	r->p++;
	for (;;) {
		unsigned char c;

		if (r->p >= r->e)
			return fail(r, "unterminated string");
		c = *r->p;
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(r, "control byte in a string");
		if (c >= 0x80 && !r->any_bytes) {
			const unsigned char *s = r->p;

			if (!utf8_char(r, &cp))
				return false;
			if (out)
				memcpy(out + n, s, (size_t)(r->p - s));
			n += (size_t)(r->p - s);
			continue;
		}
		r->p++;
		if (c != '\\') {
			if (out)
				out[n] = (char)c;
			n++;
			continue;
		}
		if (r->p >= r->e)
			return fail(r, "unterminated escape");
		c = *r->p++;
		if (c == 'u') {
			if (!unicode_escape(r, &cp, &lone))
				return false;
			if (lone && !r->lone_ok)
				return fail(r, "lone surrogate escape");
			if (lone && bytes_escape && cp >= 0xdc80 && cp <= 0xdcff) {
				if (out)
					out[n] = (char)(cp - 0xdc00);
				n++;
			} else {
				char u[4];
				size_t k = put_utf8(u, cp);

				if (out)
					memcpy(out + n, u, k);
				n += k;
			}
			continue;
		}
		if (!c || !strchr(esc_in, c))
			return fail(r, "bad escape");
		if (out)
			out[n] = esc_out[strchr(esc_in, c) - esc_in];
		n++;
	}
	r->p++;
	if (ret_len)
		*ret_len = n;
	return true;
}

static bool literal(struct reader *r, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(r->e - r->p) < n || memcmp(r->p, lit, n) != 0)
		return fail(r, "bad literal");
	r->p += n;
	return true;
}

static bool value(struct reader *r, int depth);

static void grow(void **p, size_t *cap, size_t need, size_t size)
{
	void *q;
	size_t c = *cap ? *cap : 64;

	if (need <= *cap)
		return;
	while (c < need)
		c *= 2;
	if (!(q = realloc(*p, c * size)))
		abort();
	*p = q;
	*cap = c;
}

/* Decodes the key at r->p onto the key stack. */
static bool push_key(struct reader *r)
{
	const unsigned char *s = r->p;
	size_t len;

	if (!string(r, NULL, NULL, false))
		return false;
	grow((void **)&r->kb, &r->kb_cap, r->kb_len + (size_t)(r->p - s), 1);
	grow((void **)&r->keys, &r->keys_cap, r->nkeys + 1, sizeof(*r->keys));
	r->p = s;
	string(r, r->kb + r->kb_len, &len, false);
	r->keys[r->nkeys++] = (struct key){ r->kb_len, len };
	if (memchr(r->kb + r->kb_len, '\0', len))
		r->nul_key = true;
	r->kb_len += len;
	return true;
}

static const char *sort_kb;

static int cmp_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = memcmp(sort_kb + x->off, sort_kb + y->off, x->len < y->len ? x->len : y->len);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Whether two of the keys from index first on are equal; drops them from the stack. */
static bool keys_unique(struct reader *r, size_t first, size_t kb_first)
{
	size_t n = r->nkeys - first, i;
	bool ok = true;

	sort_kb = r->kb;
	qsort(r->keys + first, n, sizeof(*r->keys), cmp_key);
	for (i = first + 1; i < r->nkeys && ok; i++)
		ok = cmp_key(&r->keys[i - 1], &r->keys[i]) != 0;
	r->nkeys = first;
	r->kb_len = kb_first;
	return ok || fail(r, "a key twice in one object");
}

static bool object(struct reader *r, int depth)
{
	size_t first = r->nkeys, kb_first = r->kb_len;

	r->p++;
	ws(r);
	if (r->p < r->e && *r->p == '}') {
		r->p++;
		return true;
	}
	for (;;) {
		if (r->p >= r->e || *r->p != '"')
			return fail(r, "key expected");
		if (!push_key(r))
			return false;
		ws(r);
		if (r->p >= r->e || *r->p++ != ':')
			return fail(r, "':' expected");
		ws(r);
		if (!value(r, depth + 1))
			return false;
		ws(r);
		if (r->p < r->e && *r->p == ',') {
			r->p++;
			ws(r);
			continue;
		}
		if (r->p < r->e && *r->p == '}') {
			r->p++;
			return keys_unique(r, first, kb_first);
		}
		return fail(r, "',' or '}' expected");
	}
}

static bool array(struct reader *r, int depth)
{
	r->p++;
	ws(r);
	if (r->p < r->e && *r->p == ']') {
		r->p++;
		return true;
	}
	for (;;) {
		if (!value(r, depth + 1))
			return false;
		ws(r);
		if (r->p < r->e && *r->p == ',') {
			r->p++;
			ws(r);
			continue;
		}
		if (r->p < r->e && *r->p == ']') {
			r->p++;
			return true;
		}
		return fail(r, "',' or ']' expected");
	}
}

static bool value(struct reader *r, int depth)
{
	if (depth > READER_MAX_DEPTH)
		return fail(r, "nested too deeply for the checker");
	if (r->p >= r->e)
		return fail(r, "value expected");
	switch (*r->p) {
	case '{':
		return object(r, depth);
	case '[':
		return array(r, depth);
	case '"':
		return string(r, NULL, NULL, false);
	case 't':
		return literal(r, "true");
	case 'f':
		return literal(r, "false");
	case 'n':
		return literal(r, "null");
	default:
		if (*r->p == '-' || digit(*r->p))
			return number(r);
		return fail(r, "value expected");
	}
}

static struct reader reader_at(const char *s, size_t n, int flags)
{
	struct reader r;

	memset(&r, 0, sizeof(r));
	r.p = (const unsigned char *)s;
	r.e = r.p + n;
	r.lone_ok = flags & FUZZ_JSON_LONE_SURROGATES;
	r.any_bytes = flags & FUZZ_JSON_ANY_BYTES;
	return r;
}

static void reader_free(struct reader *r)
{
	free(r->kb);
	free(r->keys);
}

static const char *read_value(const char *s, size_t n, int flags, bool *ret_nul_key)
{
	struct reader r = reader_at(s, n, flags);
	const char *why;

	ws(&r);
	if (value(&r, 0)) {
		ws(&r);
		if (r.p != r.e)
			fail(&r, "text after the value");
	}
	why = r.why;
	if (ret_nul_key)
		*ret_nul_key = r.nul_key;
	reader_free(&r);
	return why;
}

const char *fuzz_json_problem(const char *s, size_t n, int flags)
{
	return read_value(s, n, flags, NULL);
}

bool fuzz_json_nul_in_key(const char *s, size_t n)
{
	bool nul = false;

	return !read_value(s, n, FUZZ_JSON_LONE_SURROGATES | FUZZ_JSON_ANY_BYTES, &nul) && nul;
}

int fuzz_json_depth(const char *s, size_t n)
{
	int depth = 0, max = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '"') {
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		} else if (s[i] == '{' || s[i] == '[') {
			if (++depth > max)
				max = depth;
		} else if (s[i] == '}' || s[i] == ']') {
			depth--;
		}
	}
	return max;
}

void fuzz_json_members(const char *s, size_t n, fuzz_member_fn fn, void *ctx)
{
	struct reader r = reader_at(s, n, FUZZ_JSON_LONE_SURROGATES | FUZZ_JSON_ANY_BYTES);

	ws(&r);
	if (r.p >= r.e || *r.p != '{')
		abort();
	r.p++;
	ws(&r);
	while (r.p < r.e && *r.p == '"') {
		const unsigned char *v;
		char *key = malloc((size_t)(r.e - r.p) + 1);
		size_t klen;

		if (!key || !string(&r, key, &klen, false))
			abort();
		ws(&r);
		r.p++; /* ':' */
		ws(&r);
		v = r.p;
		if (!value(&r, 1))
			abort();
		fn(ctx, key, klen, (const char *)v, (size_t)(r.p - v));
		free(key);
		ws(&r);
		if (r.p < r.e && *r.p == ',') {
			r.p++;
			ws(&r);
		}
	}
	reader_free(&r);
}

size_t fuzz_json_decode(const char *s, size_t n, char *out, bool bytes_escape)
{
	struct reader r = reader_at(s, n, FUZZ_JSON_LONE_SURROGATES | FUZZ_JSON_ANY_BYTES);
	size_t len = 0;

	if (!n || *s != '"' || !string(&r, out, &len, bytes_escape) || r.p != r.e)
		abort();
	reader_free(&r);
	return len;
}

static bool is_utc_time(const char *s, size_t n)
{
	return n >= 20 && n < TIMEFMT_MAX && s[4] == '-' && s[10] == 'T' && s[n - 1] == 'Z';
}

static bool string_where(struct json_object *o, const char *key, bool (*ok)(const char *, size_t))
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) &&
	       ok(json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

void fuzz_check_event(const char *s, size_t n)
{
	static const char *const keys[] = { "event_name", "payload", "event_datetime", "event_id",
					    "installation_id" };
	struct json_tokener *tok;
	struct json_object *o, *v;
	const char *why;
	size_t i;

	if ((why = fuzz_json_problem(s, n, 0))) {
		fprintf(stderr, "event is not strict JSON (%s): %.*s\n", why, (int)(n > 4096 ? 4096 : n), s);
		abort();
	}
	/* deeper than json-c's default of 32: a payload may hold JSON 64 levels deep */
	if (!(tok = json_tokener_new_ex(READER_MAX_DEPTH)))
		return;
	o = json_tokener_parse_ex(tok, s, (int)n);
	if (!o || !json_object_is_type(o, json_type_object) || json_object_object_length(o) != 5)
		abort();
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!json_object_object_get_ex(o, keys[i], &v) ||
		    !json_object_is_type(v, i == 1 ? json_type_object : json_type_string))
			abort();
	if (!string_where(o, "event_id", uuid_is_valid) || !string_where(o, "installation_id", uuid_is_valid) ||
	    !string_where(o, "event_datetime", is_utc_time))
		abort();
	json_object_put(o);
	json_tokener_free(tok);
}
