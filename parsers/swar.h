/* Eight bytes at a time ("SIMD within a register") for the string scans of the hot path: the JSON
 * reader looks for the end of a plain string, the JSON writer for the bytes it cannot copy as they are.
 * Header-only: the helpers are a few instructions each and must inline into their loops. */
#ifndef ONSIDE_SWAR_H
#define ONSIDE_SWAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SWAR_ONES UINT64_C(0x0101010101010101)
#define SWAR_HIGH UINT64_C(0x8080808080808080)

/* Eight bytes with the first one in the low byte, on any host (the subtractions below borrow from
 * low to high bytes, i.e. from earlier to later ones). */
static inline uint64_t swar_load(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

/* High bit set in each byte of w that is zero. A borrow can also mark a byte after a zero byte, never
 * one before it: so the first marked byte is always exact. */
static inline uint64_t swar_zero(uint64_t w)
{
	return (w - SWAR_ONES) & ~w & SWAR_HIGH;
}

/* High bit set in each byte of w that is '"', '\\' or below 0x20 (first marked byte exact, as above).
 * Bytes >= 0x80 are not marked. */
static inline uint64_t swar_json_special(uint64_t w)
{
	return swar_zero(w ^ (SWAR_ONES * '"')) | swar_zero(w ^ (SWAR_ONES * '\\')) |
	       ((w - SWAR_ONES * 0x20) & ~w & SWAR_HIGH);
}

/* Index (0..7, in memory order) of the first byte marked in a nonzero mask of a swar_load word. */
static inline size_t swar_first(uint64_t mask)
{
	return (size_t)__builtin_ctzll(mask) / 8;
}

#ifdef __SSE2__
#include <emmintrin.h>
#define SWAR_HAVE_SSE2 1

/* The same test on sixteen bytes with SSE2 (every x86-64 has it): bit i of the result is set when
 * p[i] is '"', '\\' or below 0x20; bit i of *ret_quote when it is '"', of *ret_high when >= 0x80. */
static inline unsigned swar_json_special16(const unsigned char *p, unsigned *ret_quote,
					   unsigned *ret_high)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i q = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
	__m128i bs = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
	__m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v); /* v <= 0x1f */

	*ret_quote = (unsigned)_mm_movemask_epi8(q);
	*ret_high = (unsigned)_mm_movemask_epi8(v);
	return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(q, bs), ctl));
}
#endif

/* a[0..n) == b[0..n): short names (field names are) in two overlapping loads per side, no call. */
static inline bool swar_equal(const char *a, const char *b, size_t n)
{
	uint64_t x, y, u, v;
	uint32_t x4, y4, u4, v4;

	if (n >= 8 && n <= 16) {
		memcpy(&x, a, 8), memcpy(&y, b, 8);
		memcpy(&u, a + n - 8, 8), memcpy(&v, b + n - 8, 8);
		return ((x ^ y) | (u ^ v)) == 0;
	}
	if (n >= 4 && n < 8) {
		memcpy(&x4, a, 4), memcpy(&y4, b, 4);
		memcpy(&u4, a + n - 4, 4), memcpy(&v4, b + n - 4, 4);
		return ((x4 ^ y4) | (u4 ^ v4)) == 0;
	}
	if (n < 4) /* 0 to 3 bytes: the first, middle and last cover them all */
		return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
	return memcmp(a, b, n) == 0;
}

#endif
