/* Eight bytes at a time ("SIMD within a register"), and sixteen with SSE2, for the string scan of the
 * json parser's fast path, which is the one place a profile shows it pays (the parser is about a fifth
 * of the CPU of a JSON backfill; tests/bench/README.md has the profile).
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

#endif
