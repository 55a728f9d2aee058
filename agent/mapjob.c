/* Mapping lines to events on every core (see mapjob.h). */
#include "mapjob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "map.h"
#include "pool.h"
#include "xalloc.h"

struct jline {
	struct ledger_stream *led;
	size_t input;
	/* the file's identity as it was when the line was read: a truncation gives the file new ones,
	 * while the old ones go on with its old content */
	struct eventid_file *idf;
	const char *first_line;
	size_t first_len;
	uint64_t full, offset, end;
	size_t line_off;
	size_t line_len;
	/* results */
	int code;
	int skip; /* MAP_SKIP: enum map_skip */
	unsigned who; /* whose out buffer holds the result */
	size_t out_off;
	size_t out_len;
};

/* One participant's private state. */
struct worker {
	struct mapper **mappers; /* one per input */
	struct buf out;          /* events and reasons of the lines it mapped */
	char reason[512];
};

struct mapjob {
	const struct config *cfg;
	struct pool *pool;
	struct worker *w;
	unsigned nw;
	struct buf data; /* the lines' bytes */
	struct jline *lines;
	size_t n, cap;
};

static int mapjob_workers(struct mapjob *j, char *err, size_t errlen)
{
	j->w = calloc(j->nw, sizeof(*j->w));
	if (!j->w)
		return -ENOMEM;
	for (unsigned k = 0; k < j->nw; k++) {
		struct worker *w = &j->w[k];

		buf_init(&w->out, 0);
		w->mappers = calloc(j->cfg->ninputs, sizeof(*w->mappers));
		if (!w->mappers)
			return -ENOMEM;
		for (size_t i = 0; i < j->cfg->ninputs; i++) {
			const struct config_input *in = &j->cfg->inputs[i];
			char e[400];
			int r = mapper_create(in, j->cfg->agent.id_namespace, &w->mappers[i], e, sizeof(e));

			if (r < 0) {
				snprintf(err, errlen, "input %s: %s", in->name, e);
				return r;
			}
		}
	}
	return 0;
}

int mapjob_new(const struct config *cfg, unsigned threads, struct mapjob **ret, char *err, size_t errlen)
{
	struct mapjob *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	j->cfg = cfg;
	buf_init(&j->data, 0);
	r = pool_new(threads, &j->pool);
	if (r == 0) {
		j->nw = pool_size(j->pool);
		r = mapjob_workers(j, err, errlen);
	} else {
		snprintf(err, errlen, "cannot start worker threads: %s", strerror(-r));
	}
	if (r < 0) {
		mapjob_free(j);
		return r;
	}
	*ret = j;
	return 0;
}

void mapjob_free(struct mapjob *j)
{
	if (!j)
		return;
	pool_free(j->pool); /* joins the threads before their state goes */
	for (unsigned k = 0; j->w && k < j->nw; k++) {
		for (size_t i = 0; j->w[k].mappers && i < j->cfg->ninputs; i++)
			mapper_free(j->w[k].mappers[i]);
		free(j->w[k].mappers);
		buf_free(&j->w[k].out);
	}
	free(j->w);
	buf_free(&j->data);
	free(j->lines);
	free(j);
}

void mapjob_add(struct mapjob *j, const struct tail_line *l)
{
	size_t at = j->data.len;

	if (j->n == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 4096;
		j->lines = xreallocarray(j->lines, j->cap, sizeof(*j->lines));
	}
	/* the job's buffer has no cap: only memory can refuse (lines are at most max_line_bytes) */
	if (buf_append(&j->data, l->line, l->len) < 0)
		xalloc_die(l->len);
	j->lines[j->n++] = (struct jline){.led = l->led, .input = l->input, .idf = l->idf,
					  .first_line = l->first_line, .first_len = l->first_len,
					  .full = l->full, .offset = l->offset, .end = l->end, .line_off = at,
					  .line_len = l->len};
}

size_t mapjob_count(const struct mapjob *j) { return j->n; }
unsigned mapjob_threads(const struct mapjob *j) { return j->nw - 1; }

static void mapjob_one(struct mapjob *j, struct worker *w, unsigned who, struct jline *l)
{
	const char *line = j->data.data + l->line_off;
	struct line_src src = {line, l->line_len, l->offset, l->idf, l->first_line, l->first_len};
	struct mapper *m = w->mappers[l->input];
	size_t at = w->out.len;
	int r;

	l->who = who;
	if (l->full != l->line_len) {
		l->code = MAPJOB_LONG;
		l->out_off = l->out_len = 0;
		return;
	}
	r = mapper_process(m, &src, &w->out, w->reason, sizeof(w->reason));
	l->skip = r == MAP_SKIP ? mapper_skip_kind(m) : 0;
	if (r < 0) {
		/* the event could not be built (its size passed the buffer cap): a rejection */
		snprintf(w->reason, sizeof(w->reason), "event too large to build");
		r = MAP_REJECT;
	}
	if (r != MAP_EVENT && buf_puts(&w->out, w->reason) < 0)
		buf_truncate(&w->out, at);
	l->code = r;
	l->out_off = at;
	l->out_len = w->out.len - at;
}

static void mapjob_part(void *arg, unsigned who, size_t begin, size_t end)
{
	struct mapjob *j = arg;
	struct worker *w = &j->w[who];

	for (size_t i = begin; i < end; i++)
		mapjob_one(j, w, who, &j->lines[i]);
}

void mapjob_run(struct mapjob *j)
{
	for (unsigned k = 0; k < j->nw; k++)
		buf_reset(&j->w[k].out);
	pool_run(j->pool, j->n, mapjob_part, j);
}

void mapjob_get(const struct mapjob *j, size_t i, struct mapjob_item *ret)
{
	const struct jline *l = &j->lines[i];
	const struct buf *out = &j->w[l->who].out;

	/* a buffer nothing was written to has no data yet (and NULL + 0 is not a pointer) */
	*ret = (struct mapjob_item){
		.led = l->led,
		.line = j->data.data ? j->data.data + l->line_off : "",
		.len = l->line_len,
		.full = l->full,
		.offset = l->offset,
		.end = l->end,
		.code = l->code,
		.skip = l->skip,
		.out = out->data ? out->data + l->out_off : "",
		.out_len = l->out_len,
	};
}

void mapjob_reset(struct mapjob *j)
{
	j->n = 0;
	buf_reset(&j->data);
}
