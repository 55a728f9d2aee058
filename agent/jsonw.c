#include "jsonw.h"

#include <stdint.h>
#include <string.h>

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

/* Writes the escape for one byte that byte_class marks 1, or the surrogateescape form of an invalid
 * byte. */
static int escape_byte(struct buf *b, unsigned char c, bool invalid)
{
	char e[6] = { '\\', 'u', '0', '0', 0, 0 };

	if (invalid) {
		e[2] = 'd';
		e[3] = 'c';
	} else {
		switch (c) {
		case '"':
			return buf_append(b, "\\\"", 2);
		case '\\':
			return buf_append(b, "\\\\", 2);
		case '\n':
			return buf_append(b, "\\n", 2);
		case '\r':
			return buf_append(b, "\\r", 2);
		case '\t':
			return buf_append(b, "\\t", 2);
		case '\b':
			return buf_append(b, "\\b", 2);
		case '\f':
			return buf_append(b, "\\f", 2);
		}
	}
	e[4] = hexdigits[c >> 4];
	e[5] = hexdigits[c & 0xf];
	return buf_append(b, e, sizeof(e));
}

int jsonw_string(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run, k;
	int r;

	/* Most strings need no escape: reserve their plain size once. */
	r = buf_reserve(b, n + 2);
	if (r < 0)
		return r;
	buf_putc(b, '"'); /* cannot fail: reserved above */
	while (i < n) {
		/* A run of bytes copied verbatim: safe ASCII and valid multibyte sequences. */
		run = i;
		while (run < n) {
			uint8_t cls = byte_class[p[run]];
			if (cls == 0) {
				run++;
			} else if (cls == 2 && (k = utf8_seq(p + run, n - run)) != 0) {
				run += k;
			} else {
				break;
			}
		}
		if (run > i) {
			r = buf_append(b, p + i, run - i);
			if (r < 0)
				return r;
			i = run;
			if (i == n)
				break;
		}
		r = escape_byte(b, p[i], byte_class[p[i]] == 2);
		if (r < 0)
			return r;
		i++;
	}
	return buf_putc(b, '"');
}
