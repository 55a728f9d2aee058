/* Eight bytes at a time ("SIMD within a register") for the string scans of the hot path: the JSON
 * reader looks for the end of a plain string, the JSON writer for the bytes it cannot copy as they are.
 * Header-only: the helpers are a few instructions each and must inline into their loops. */
#ifndef ONSIDE_SWAR_H
#define ONSIDE_SWAR_H

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

#endif
