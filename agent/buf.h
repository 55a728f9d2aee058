/* A growable byte buffer with a hard cap (the curl dynbuf idea). Used on the hot path: callers reset
 * and reuse a buf instead of allocating per line. */
#ifndef ONSIDE_BUF_H
#define ONSIDE_BUF_H

#include <stddef.h>
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
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline int buf_putc(struct buf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		int r = buf_reserve(b, 1);
		if (r < 0)
			return r;
	}
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
	return 0;
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
