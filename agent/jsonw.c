/* JSON text written straight into a buf (see jsonw.h): strings escaped in one pass with UTF-8 checked,
 * invalid bytes kept as \udcXX escapes where a raw line must survive; the request body's hot path. */
#include "jsonw.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "swar.h"

/* Byte classes for the string writer: 0 = copied as is (printable ASCII other than '"' and '\\'),
 * 1 = needs an escape, 2 = starts (or continues) a multibyte sequence that must be validated. */
static const uint8_t byte_class[256] = {
	/* 0x00..0x1f: control characters */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	/* 0x20..0x7f: '"' (0x22) and '\\' (0x5c) are escaped */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 0x80..0xff */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

static const char hexdigits[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence starting at p (p[0] >= 0x80), or 0 when it is not one. The
 * second-byte ranges follow RFC 3629's table: they exclude overlongs (E0 80..9F, F0 80..8F),
 * surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..BF, F5..FF). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0; /* a continuation byte, C0/C1 (always overlong) or F5..FF */
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* Number of leading ASCII bytes, eight at a time while possible (the common case is all ASCII). */
static size_t ascii_prefix(const unsigned char *p, size_t n)
{
	size_t i = 0;
	uint64_t w;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		if (w & UINT64_C(0x8080808080808080))
			break;
	}
	while (i < n && p[i] < 0x80)
		i++;
	return i;
}

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		i += ascii_prefix(p + i, n - i);
		if (i == n)
			break;
		k = utf8_seq(p + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

/* The escape of one byte that byte_class marks 1, or the surrogateescape form of an invalid byte,
 * into e (6 bytes); returns its length. */
static size_t escape_byte(unsigned char c, bool invalid, char e[6])
{
	static const char short_esc[] = "\"\"\\\\\nn\rr\tt\bb\ff";

	if (!invalid) {
		for (size_t k = 0; k < sizeof(short_esc) - 1; k += 2) {
			if ((unsigned char)short_esc[k] == c) {
				e[0] = '\\';
				e[1] = short_esc[k + 1];
				return 2;
			}
		}
	}
	e[0] = '\\';
	e[1] = 'u';
	e[2] = invalid ? 'd' : '0';
	e[3] = invalid ? 'c' : '0';
	e[4] = hexdigits[c >> 4];
	e[5] = hexdigits[c & 0xf];
	return 6;
}

/* Number of leading bytes of p[0..n) that byte_class marks 0, eight at a time while possible. */
static size_t plain_prefix(const unsigned char *p, size_t n)
{
	size_t i = 0;
	uint64_t w, m;

#ifdef SWAR_HAVE_SSE2
	unsigned m16, q16, h16;

	for (; i + 16 <= n; i += 16) {
		m16 = swar_json_special16(p + i, &q16, &h16) | h16;
		if (m16)
			return i + (size_t)__builtin_ctz(m16);
	}
#endif
	for (; i + 8 <= n; i += 8) {
		w = swar_load(p + i);
		m = swar_json_special(w) | (w & SWAR_HIGH);
		if (m)
			return i + swar_first(m);
	}
	while (i < n && byte_class[p[i]] == 0)
		i++;
	return i;
}

/* True when s[0..n) (n <= 32) is all plain, and then copied to d. Most values are that short: two
 * overlapping loads from each end check them in one step, where the scan of write_runs would go
 * through its loops once per string. */
static inline bool copy_short(char *d, const unsigned char *p, size_t n)
{
	uint64_t a, b;
	uint32_t x, y;

#ifdef SWAR_HAVE_SSE2
	if (n >= 16) {
		unsigned q, h1, h2;

		if (swar_json_special16(p, &q, &h1) | swar_json_special16(p + n - 16, &q, &h2) | h1 | h2)
			return false;
		buf_copy(d, p, n);
		return true;
	}
#else
	if (n >= 16)
		return false;
#endif
	if (n >= 8) {
		a = swar_load(p);
		b = swar_load(p + n - 8);
	} else if (n >= 4) {
		memcpy(&x, p, 4), memcpy(&y, p + n - 4, 4);
		a = b = (uint64_t)x << 32 | y;
	} else {
		/* 0 to 3 bytes: the first, middle and last cover them all */
		if (n && (byte_class[p[0]] | byte_class[p[n / 2]] | byte_class[p[n - 1]]))
			return false;
		buf_copy(d, p, n);
		return true;
	}
	if ((swar_json_special(a) | swar_json_special(b) | ((a | b) & SWAR_HIGH)) != 0)
		return false;
	buf_copy(d, p, n);
	return true;
}

/* The general case of write_string from byte i on (the opening quote written, room for the plain
 * rest and the closing quote made): plain runs are copied whole, multibyte sequences validated as
 * they come. */
static int write_runs(struct buf *b, const unsigned char *p, size_t i, size_t n, size_t start,
		      bool strict)
{
	size_t run, k;
	char e[6];
	int r;

	while (i < n) {
		run = plain_prefix(p + i, n - i);
		buf_copy(b->data + b->len, p + i, run);
		b->len += run;
		i += run;
		if (i == n)
			break;
		if (p[i] >= 0x80 && (k = utf8_seq(p + i, n - i)) != 0) {
			memcpy(b->data + b->len, p + i, k);
			b->len += k;
			i += k;
			continue;
		}
		if (strict && p[i] >= 0x80) {
			buf_truncate(b, start);
			return -EILSEQ;
		}
		/* Each escape makes room again for itself and the plain size of the rest. */
		k = escape_byte(p[i], p[i] >= 0x80, e);
		i++;
		if ((r = buf_reserve(b, k + (n - i) + 1)) < 0) {
			b->data[b->len] = '\0';
			return r;
		}
		memcpy(b->data + b->len, e, k);
		b->len += k;
	}
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
	return 0;
}

/* jsonw_string and jsonw_string_utf8 in one pass. strict: invalid UTF-8 rolls b back and gives
 * -EILSEQ instead of being escaped. */
static int write_string(struct buf *b, const char *s, size_t n, bool strict)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = b->len;
	int r;

	/* Room for the plain size: within it, every write below needs no check. */
	if (n > SIZE_MAX - 2)
		return -E2BIG;
	if (!buf_fits(b, n + 2) && (r = buf_reserve(b, n + 2)) < 0)
		return r;
	b->data[b->len++] = '"';
	if (n <= 32 && copy_short(b->data + b->len, p, n)) { /* (s may be NULL when n is 0) */
		b->len += n;
		b->data[b->len++] = '"';
		b->data[b->len] = '\0';
		return 0;
	}
	return write_runs(b, p, 0, n, start, strict);
}

int jsonw_string(struct buf *b, const char *s, size_t n)
{
	return write_string(b, s, n, false);
}

int jsonw_string_utf8(struct buf *b, const char *s, size_t n)
{
	return write_string(b, s, n, true);
}
