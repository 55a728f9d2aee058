/* A growable byte buffer with a hard cap (the curl dynbuf idea). Used on the hot path: callers reset
 * and reuse a buf instead of allocating per line. */
#ifndef ONSIDE_BUF_H
#define ONSIDE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	char *data; /* always NUL-terminated when data != NULL (the NUL is not counted in len) */
	size_t len;
	size_t cap;
	size_t max; /* hard cap on len; 0 means the default of 256 MiB */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Makes room for `more` bytes past len. Returns 0 or -ENOMEM / -E2BIG (cap reached). */
int buf_reserve(struct buf *b, size_t more);
/* buf_append when the bytes do not fit yet: grows (or refuses), then appends. */
int buf_append_slow(struct buf *b, const void *p, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when n more bytes and the NUL fit without growing, within max (which a caller may lower after
 * the buffer grew). cap is 0 while data is NULL. Whatever is false here goes to buf_reserve. */
static inline bool buf_fits(const struct buf *b, size_t n)
{
	return n < b->cap - b->len && b->len + n <= b->max;
}

/* memcpy without a call for up to 64 bytes (most pieces of an event are that short): overlapping
 * loads, then the stores, cover any length in a power-of-two range. */
static inline void buf_copy(char *d, const void *src, size_t n)
{
	const char *s = src;
	uint64_t a, b;
	uint32_t x, y;
	char h[32], t[32];

	if (n > 64) {
		memcpy(d, s, n);
	} else if (n > 32) {
		memcpy(h, s, 32), memcpy(t, s + n - 32, 32);
		memcpy(d, h, 32), memcpy(d + n - 32, t, 32);
	} else if (n > 16) {
		memcpy(h, s, 16), memcpy(t, s + n - 16, 16);
		memcpy(d, h, 16), memcpy(d + n - 16, t, 16);
	} else if (n >= 8) {
		memcpy(&a, s, 8), memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8), memcpy(d + n - 8, &b, 8);
	} else if (n >= 4) {
		memcpy(&x, s, 4), memcpy(&y, s + n - 4, 4);
		memcpy(d, &x, 4), memcpy(d + n - 4, &y, 4);
	} else if (n) { /* 1 to 3 bytes: the first, middle and last cover them all */
		char c0 = s[0], c1 = s[n / 2], c2 = s[n - 1];
		d[0] = c0, d[n / 2] = c1, d[n - 1] = c2;
	}
}

/* Inline because the hot path appends many short pieces per line; growth stays out of line. */
static inline int buf_append(struct buf *b, const void *p, size_t n)
{
	if (!buf_fits(b, n))
		return buf_append_slow(b, p, n);
	buf_copy(b->data + b->len, p, n); /* (p may be NULL when n is 0: an empty buf's data) */
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* Inline so that the length of a string literal is known at compile time. */
static inline int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

static inline int buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

static inline void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Drops everything past len (used to roll back a partially written item). */
static inline void buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

#endif
