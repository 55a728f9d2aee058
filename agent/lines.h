/* Splitting a byte stream into LF-terminated lines with a length limit, as the tailer and `parse`
 * need it. Lines are handed out as pointers into the fed chunk when they lie inside it; only a line
 * that spans chunks is copied (into `carry`). A line longer than max_line is handed out once, at its
 * LF, with its first max_line bytes and its full length; the bytes past max_line are not kept. */
#ifndef ONSIDE_LINES_H
#define ONSIDE_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct lines {
	struct buf carry;   /* the start of an unfinished line (at most max_line bytes) */
	uint64_t offset;    /* file offset of the next byte to be fed */
	uint64_t start;     /* file offset where the unfinished line starts */
	uint64_t carry_len; /* full length of the unfinished line so far (may exceed carry.len) */
	size_t max_line;
	char last; /* the last byte fed of the unfinished line */
};

/* A complete line: bytes [line, line+len) without the LF and without one CR before it; full_len is
 * the line's length without LF (and CR) when it was longer than max_line (then len == max_line),
 * else equal to len. offset is its first byte's offset; end the offset just past its LF.
 * Returns 0: taken, go on; LINES_STOP: taken, stop after it (lines_feed returns LINES_STOP and the
 * chunk's rest is not consumed); a negative errno: NOT taken (lines_feed rewinds to the line's start,
 * so that the next feed begins with it, and returns the error). */
#define LINES_STOP 1
typedef int (*lines_cb)(void *data, const char *line, size_t len, uint64_t full_len, uint64_t offset,
			uint64_t end);

void lines_init(struct lines *s, uint64_t offset, size_t max_line);
void lines_free(struct lines *s);
/* Resets to an empty state at offset (after a truncation, or a seek). */
void lines_reset(struct lines *s, uint64_t offset);
int lines_feed(struct lines *s, const char *data, size_t n, lines_cb cb, void *cbdata);
/* Hands out the unfinished line, if any, as a line that ends at the current offset (no LF). On a
 * negative return the line stays unfinished. */
int lines_flush(struct lines *s, lines_cb cb, void *cbdata);
static inline bool lines_pending(const struct lines *s) { return s->carry_len > 0; }

#endif
