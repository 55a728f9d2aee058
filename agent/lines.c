/* Splitting a byte stream into lines (see lines.h). */
#include "lines.h"

#include <errno.h>
#include <string.h>

void lines_init(struct lines *s, uint64_t offset, size_t max_line)
{
	buf_init(&s->carry, max_line + 1);
	s->max_line = max_line;
	lines_reset(s, offset);
}

void lines_free(struct lines *s) { buf_free(&s->carry); }

void lines_reset(struct lines *s, uint64_t offset)
{
	buf_reset(&s->carry);
	s->offset = offset;
	s->start = offset;
	s->carry_len = 0;
	s->last = 0;
}

/* lastc: the line's last byte (before its LF), whether or not it was kept. */
static int lines_emit(const char *p, size_t len, uint64_t full, char lastc, uint64_t start, uint64_t end,
		      size_t max, lines_cb cb, void *cbdata)
{
	/* the id contract drops one CR directly before the LF; a line's length never counts it */
	if (full > 0 && lastc == '\r') {
		full--;
		if (len > full)
			len = (size_t)full;
	}
	if (len > max)
		len = max;
	return cb(cbdata, p, len, full, start, end);
}

/* Adds bytes of an unfinished line to the carry, keeping at most max_line (+1 for a CR that may turn
 * out to precede the LF) of them. */
static int lines_carry(struct lines *s, const char *p, size_t n)
{
	size_t keep = s->max_line + 1;

	if (s->carry_len == 0)
		s->start = s->offset;
	if (s->carry.len < keep) {
		size_t take = keep - s->carry.len < n ? keep - s->carry.len : n;
		int r = buf_append(&s->carry, p, take);
		if (r < 0)
			return r;
	}
	s->carry_len += n;
	if (n)
		s->last = p[n - 1];
	return 0;
}

/* A line was not taken: back to its start, as if it had not been fed. */
static int lines_undo(struct lines *s, uint64_t start, int r)
{
	lines_reset(s, start);
	return r;
}

int lines_feed(struct lines *s, const char *data, size_t n, lines_cb cb, void *cbdata)
{
	const char *p = data, *end = data + n;
	int r;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		size_t seg;

		if (!lf)
			break;
		seg = (size_t)(lf - p);
		if (s->carry_len) {
			uint64_t start = s->start;
			if ((r = lines_carry(s, p, seg)) < 0)
				return lines_undo(s, start, r);
			s->offset += seg + 1;
			r = lines_emit(s->carry.data, s->carry.len, s->carry_len, s->last, s->start,
				       s->offset, s->max_line, cb, cbdata);
			if (r < 0)
				return lines_undo(s, start, r);
			buf_reset(&s->carry);
			s->carry_len = 0;
		} else {
			uint64_t start = s->offset;
			s->offset += seg + 1;
			r = lines_emit(p, seg, seg, seg ? p[seg - 1] : 0, start, s->offset, s->max_line,
				       cb, cbdata);
			if (r < 0)
				return lines_undo(s, start, r);
		}
		p = lf + 1;
		if (r)
			return r;
	}
	if (p < end) {
		if ((r = lines_carry(s, p, (size_t)(end - p))) < 0)
			return r;
		s->offset += (uint64_t)(end - p);
	}
	return 0;
}

int lines_flush(struct lines *s, lines_cb cb, void *cbdata)
{
	int r;

	if (!s->carry_len)
		return 0;
	/* no LF: the line ends at the end of the data, a CR there is its own byte */
	r = lines_emit(s->carry.data, s->carry.len, s->carry_len, 0, s->start, s->offset, s->max_line, cb,
		       cbdata);
	if (r < 0)
		return r;
	buf_reset(&s->carry);
	s->carry_len = 0;
	return r;
}
