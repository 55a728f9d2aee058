/* The line splitter (agent/lines.c) against a reference splitter written here the plain way (the
 * whole stream at once). The input's header chooses max_line, the starting file offset, a cycle of
 * chunk sizes the stream is fed in (as reads of a file would cut it) and a line at which the callback,
 * once, either takes the line and asks to stop (LINES_STOP, as the tailer does when the agent has no
 * room) or refuses it (a negative errno: the splitter must go back to the line's first byte); the rest
 * is then fed again from the splitter's offset, as the tailer reads again from there. Every line
 * handed out and taken, with its bytes, full length, offset and end, must be the reference's, in
 * order, exactly once. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lines.h"

#define CHUNKS_MAX 8
/* max_line, two bytes of starting offset, the number of chunk sizes, the line to stop at (bit 7: refuse
 * it instead; 0x7f: never), the sizes */
#define HEADER (5 + CHUNKS_MAX)

struct line {
	const char *p;
	size_t len;
	uint64_t full, offset, end;
};

struct got {
	const struct line *want;
	size_t nwant, n;
	size_t stop_at; /* the callback stops at, or refuses, this line once (SIZE_MAX: never) */
	bool refuse;
};

/* Lines as the contract in lines.h states them: without the LF and one CR before it, the first
 * max_line bytes; a last line without LF as it is (a CR there is its own byte). */
static size_t reference(const char *s, size_t n, size_t max, uint64_t base, struct line *out)
{
	size_t count = 0, start = 0;

	while (start < n) {
		const char *lf = memchr(s + start, '\n', n - start);
		size_t stop = lf ? (size_t)(lf - s) : n, full = stop - start;

		if (lf && full && s[stop - 1] == '\r')
			full--;
		out[count++] = (struct line){ s + start, full < max ? full : max, full, base + start,
					     base + stop + (lf ? 1 : 0) };
		start = stop + (lf ? 1 : 0);
	}
	return count;
}

static int take(void *data, const char *line, size_t len, uint64_t full_len, uint64_t offset, uint64_t end)
{
	struct got *g = data;
	const struct line *w;

	if (g->n >= g->nwant)
		abort(); /* a line the reference does not have */
	w = &g->want[g->n];
	if (len != w->len || full_len != w->full || offset != w->offset || end != w->end ||
	    (len && memcmp(line, w->p, len) != 0))
		abort();
	if (g->n == g->stop_at) {
		g->stop_at = SIZE_MAX;
		if (g->refuse)
			return -1; /* not taken: it must come again */
		g->n++;
		return LINES_STOP;
	}
	g->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct line want[FUZZ_MAX_INPUT + 1];
	size_t chunk[CHUNKS_MAX], nchunks, max, pos = 0, k = 0, n, i, sum = 0;
	const char *s = (const char *)data + HEADER;
	struct lines ls;
	struct got g;
	uint64_t base;

	if (size < HEADER || size > FUZZ_MAX_INPUT)
		return 0;
	n = size - HEADER;
	/* short limits mostly (lines cross them), sometimes ones no line here reaches */
	max = data[0] < 200 ? 1 + data[0] % 20u : data[0] < 240 ? 64u + data[0] : 65536u;
	base = (uint64_t)data[1] << 40 | (uint64_t)data[2] << 8;
	nchunks = 1 + data[3] % CHUNKS_MAX;
	for (i = 0; i < nchunks; i++)
		sum += chunk[i] = data[5 + i];
	if (!sum)
		chunk[0] = 1;
	g = (struct got){ want, reference(s, n, max, base, want), 0, data[4] & 0x7f, (data[4] & 0x80) != 0 };
	if (g.stop_at == 0x7f)
		g.stop_at = SIZE_MAX;
	lines_init(&ls, base, max);
	while (pos < n) {
		size_t c = chunk[k++ % nchunks];
		int r;

		if (c > n - pos)
			c = n - pos;
		r = lines_feed(&ls, s + pos, c, take, &g);
		if (r != 0) {
			/* stopped after the line taken last, or back at the start of the line refused: what
			 * was not consumed comes again, from where the splitter stands */
			if (r == LINES_STOP ? ls.offset != want[g.n - 1].end : r >= 0 || ls.offset != want[g.n].offset)
				abort();
			if (lines_pending(&ls))
				abort();
			pos = (size_t)(ls.offset - base);
			continue;
		}
		pos += c;
		if (ls.offset != base + pos)
			abort();
	}
	/* a refused last line without LF stays pending: flushed again, it is taken */
	if (lines_flush(&ls, take, &g) < 0 && (!lines_pending(&ls) || lines_flush(&ls, take, &g) != 0))
		abort();
	if (g.n != g.nwant || lines_pending(&ls))
		abort();
	lines_free(&ls);
	return 0;
}
