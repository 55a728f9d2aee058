/* The delivery ledger: the one place that decides how far the checkpoint may go.
 *
 * Invariant. For every stream s: every line of s that ends at or before s->committed is finished:
 * delivered (the server answered 204 for a request holding it), skipped (no delivery needed), or in
 * the dead-letter file. The checkpoint records committed and nothing else about progress, so a restart
 * resumes at a line boundary with nothing unfinished behind it. (Durability of the dead-letter file is
 * the agent's half of the bargain: it fdatasyncs the file before writing a checkpoint, and never writes
 * one again once a sync failed.)
 *
 * Why it holds. Lines reach the ledger in stream order, each exactly once, as a mark (it is an event of
 * batch b) or a skip. Marks form a FIFO of (b, end); a mark (b, end) stands for every line after the
 * previous mark's end (or after committed) up to end, and each of those lines is an event of b or a
 * skipped line. committed moves in two ways only:
 *   - ledger_skip with no mark pending: the line right after committed is finished, so committed may
 *     move to its end;
 *   - ledger_advance pops the head mark only while the head's batch is complete: every line up to the
 *     head's end is then an event of a complete batch, or skipped, and all lines before the head were
 *     covered by marks already popped. So committed = head.end keeps the invariant.
 * A skip while marks are pending extends the last mark instead: the line becomes committable exactly
 * when everything before it is, never earlier. Batches complete in any order (out-of-order requests);
 * the FIFO turns that back into file order. A batch that never completes (shutdown, a failed
 * dead-letter write) holds its stream's committed offset before its first line for ever, which is the
 * point.
 *
 * Dead ranges. A line dead-lettered past committed (its batch, or an earlier one, still pending) would be
 * written to the dead-letter file again if the agent stopped and read it again. The ledger keeps those
 * lines as sorted ranges past committed; they go into the checkpoint with it, and a re-read asks
 * ledger_rejected before writing a record again. Ranges at or before committed are dropped as it moves.
 *
 * Cost: nothing per line beyond extending the last mark; ledger_advance looks only at streams with
 * marks pending (the active list), not at every followed file. */
#include "ledger.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "xalloc.h"

struct ledger_batch {
	struct ledger *l;
	unsigned refs; /* marks pointing at it, plus one until it is complete */
	bool done;
	struct ledger_batch *prev, *next; /* every live batch, for ledger_free */
};

struct ledger_mark {
	struct ledger_batch *b;
	uint64_t end;
	int64_t read; /* unix time its first line was marked: the age of the oldest unfinished line */
};

struct ledger_stream {
	struct ledger *l;
	uint64_t committed;
	struct ledger_mark *marks; /* a ring: head, len, cap */
	size_t head, len, cap;
	struct ledger_range *dead;
	size_t ndead, dcap;
	bool open;                          /* the reader still holds it */
	struct ledger_stream *prev, *next;  /* every stream, for ledger_free */
	struct ledger_stream *aprev, *anext; /* the active list: streams with marks */
	int64_t last_delivery;
	int64_t unread_since; /* ledger_unread_since */
	char *input, *path;
	char fp[65];
};

struct ledger {
	struct ledger_stream *streams, *active;
	struct ledger_batch *batches;
	bool moved;
};

struct ledger *ledger_new(void) { return xcalloc(1, sizeof(struct ledger)); }

static void stream_free(struct ledger_stream *s)
{
	struct ledger *l = s->l;

	if (s->prev)
		s->prev->next = s->next;
	else
		l->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s->marks);
	free(s->dead);
	free(s->input);
	free(s->path);
	free(s);
}

static void batch_free(struct ledger_batch *b)
{
	struct ledger *l = b->l;

	if (b->prev)
		b->prev->next = b->next;
	else
		l->batches = b->next;
	if (b->next)
		b->next->prev = b->prev;
	free(b);
}

void ledger_free(struct ledger *l)
{
	if (!l)
		return;
	while (l->streams)
		stream_free(l->streams);
	while (l->batches)
		batch_free(l->batches);
	free(l);
}

struct ledger_stream *ledger_open(struct ledger *l, uint64_t committed, const struct ledger_range *dead,
				  size_t ndead, const char *input, const char *path)
{
	struct ledger_stream *s = xcalloc(1, sizeof(*s));

	s->l = l;
	s->committed = committed;
	s->open = true;
	s->input = xstrdup(input);
	s->path = xstrdup(path);
	for (size_t i = 0; i < ndead; i++)
		ledger_reject(s, dead[i].start, dead[i].end);
	s->next = l->streams;
	if (l->streams)
		l->streams->prev = s;
	l->streams = s;
	return s;
}

void ledger_close(struct ledger_stream *s)
{
	if (!s)
		return;
	s->open = false;
	if (s->len == 0)
		stream_free(s);
}

void ledger_rename(struct ledger_stream *s, const char *input, const char *path)
{
	char *i = xstrdup(input), *p = xstrdup(path);

	free(s->input);
	free(s->path);
	s->input = i;
	s->path = p;
}

void ledger_set_fingerprint(struct ledger_stream *s, const char *fp)
{
	snprintf(s->fp, sizeof(s->fp), "%s", fp);
}

struct ledger_batch *ledger_batch_new(struct ledger *l)
{
	struct ledger_batch *b = xcalloc(1, sizeof(*b));

	b->l = l;
	b->refs = 1;
	b->next = l->batches;
	if (l->batches)
		l->batches->prev = b;
	l->batches = b;
	return b;
}

static void batch_put(struct ledger_batch *b)
{
	if (--b->refs == 0)
		batch_free(b);
}

void ledger_complete(struct ledger_batch *b)
{
	b->done = true;
	batch_put(b);
}

static void active_add(struct ledger_stream *s)
{
	struct ledger *l = s->l;

	s->aprev = NULL;
	s->anext = l->active;
	if (l->active)
		l->active->aprev = s;
	l->active = s;
}

static void active_del(struct ledger_stream *s)
{
	if (s->aprev)
		s->aprev->anext = s->anext;
	else
		s->l->active = s->anext;
	if (s->anext)
		s->anext->aprev = s->aprev;
	s->aprev = s->anext = NULL;
}

static struct ledger_mark *last_mark(struct ledger_stream *s)
{
	return &s->marks[(s->head + s->len - 1) % s->cap];
}

void ledger_mark(struct ledger_stream *s, struct ledger_batch *b, uint64_t end)
{
	if (s->len && last_mark(s)->b == b) {
		last_mark(s)->end = end;
		return;
	}
	if (s->len == s->cap) {
		/* grow the ring, unrolling it so that the head is at 0 */
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct ledger_mark *m = xreallocarray(NULL, cap, sizeof(*m));

		for (size_t i = 0; i < s->len; i++)
			m[i] = s->marks[(s->head + i) % s->cap];
		free(s->marks);
		s->marks = m;
		s->head = 0;
		s->cap = cap;
	}
	if (s->len == 0)
		active_add(s);
	s->marks[(s->head + s->len) % s->cap] = (struct ledger_mark){b, end, (int64_t)time(NULL)};
	s->len++;
	b->refs++;
}

/* Dead ranges at or before committed are history. */
static void dead_prune(struct ledger_stream *s)
{
	size_t k = 0;

	while (k < s->ndead && s->dead[k].end <= s->committed)
		k++;
	if (k) {
		memmove(s->dead, s->dead + k, (s->ndead - k) * sizeof(*s->dead));
		s->ndead -= k;
	}
}

static void commit_to(struct ledger_stream *s, uint64_t end)
{
	if (end <= s->committed)
		return;
	s->committed = end;
	s->unread_since = 0; /* progress: the oldest line waiting is a later one */
	s->l->moved = true;
	if (s->ndead)
		dead_prune(s);
}

void ledger_skip(struct ledger_stream *s, uint64_t end)
{
	if (s->len)
		last_mark(s)->end = end; /* finished with the batch before it */
	else
		commit_to(s, end);
}

void ledger_reject(struct ledger_stream *s, uint64_t offset, uint64_t end)
{
	size_t lo = 0, hi = s->ndead;

	if (end <= s->committed || end <= offset)
		return;
	/* the first range that starts after offset */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->dead[mid].start <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lines arrive mostly in order: most of the time this extends the last range */
	if (lo > 0 && s->dead[lo - 1].end >= offset) {
		struct ledger_range *p = &s->dead[lo - 1];
		if (end > p->end)
			p->end = end;
		while (lo < s->ndead && s->dead[lo].start <= p->end) {
			if (s->dead[lo].end > p->end)
				p->end = s->dead[lo].end;
			memmove(&s->dead[lo], &s->dead[lo + 1], (s->ndead - lo - 1) * sizeof(*s->dead));
			s->ndead--;
		}
		return;
	}
	if (lo < s->ndead && s->dead[lo].start <= end) {
		s->dead[lo].start = offset;
		if (end > s->dead[lo].end)
			s->dead[lo].end = end;
		return;
	}
	if (s->ndead == s->dcap) {
		s->dcap = s->dcap ? s->dcap * 2 : 4;
		s->dead = xreallocarray(s->dead, s->dcap, sizeof(*s->dead));
	}
	memmove(&s->dead[lo + 1], &s->dead[lo], (s->ndead - lo) * sizeof(*s->dead));
	s->dead[lo] = (struct ledger_range){offset, end};
	s->ndead++;
}

bool ledger_rejected(const struct ledger_stream *s, uint64_t offset)
{
	size_t lo = 0, hi = s->ndead;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->dead[mid].end <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* ranges are whole dead-lettered lines merged: a line that starts inside one is one of them */
	return lo < s->ndead && s->dead[lo].start <= offset;
}

/* Pops the finished head marks of s. Returns true when s has no marks left. */
static bool stream_advance(struct ledger_stream *s, int64_t now)
{
	while (s->len && s->marks[s->head].b->done) {
		struct ledger_mark *m = &s->marks[s->head];
		commit_to(s, m->end);
		s->last_delivery = now;
		batch_put(m->b);
		s->head = (s->head + 1) % s->cap;
		s->len--;
	}
	return s->len == 0;
}

bool ledger_advance(struct ledger *l)
{
	int64_t now = (int64_t)time(NULL);
	bool moved;

	for (struct ledger_stream *s = l->active, *next; s; s = next) {
		next = s->anext;
		if (!stream_advance(s, now))
			continue;
		active_del(s);
		if (!s->open)
			stream_free(s);
	}
	moved = l->moved;
	l->moved = false;
	return moved;
}

uint64_t ledger_committed(const struct ledger_stream *s) { return s->committed; }
bool ledger_busy(const struct ledger_stream *s) { return s->len > 0; }
int64_t ledger_last_delivery(const struct ledger_stream *s) { return s->last_delivery; }
void ledger_set_last_delivery(struct ledger_stream *s, int64_t t) { s->last_delivery = t; }
int64_t ledger_oldest_read(const struct ledger_stream *s) { return s->len ? s->marks[s->head].read : 0; }

int64_t ledger_unread_since(struct ledger_stream *s, bool unread, int64_t now)
{
	if (!unread)
		s->unread_since = 0;
	else if (!s->unread_since)
		s->unread_since = now;
	return s->unread_since;
}

const char *ledger_input(const struct ledger_stream *s) { return s->input; }
const char *ledger_path(const struct ledger_stream *s) { return s->path; }
const char *ledger_fingerprint(const struct ledger_stream *s) { return s->fp; }

const struct ledger_range *ledger_dead(const struct ledger_stream *s, size_t *ret_n)
{
	*ret_n = s->ndead;
	return s->dead;
}
