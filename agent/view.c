/* Taking the view: every followed file's delivered offset, size now and oldest line waiting, the
 * delivery state (failing since, next retry) turned from the loop's monotonic clock into unix times,
 * and the files that cannot be opened. */
#include "view.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ledger.h"

static void view_file(struct view_file *v, const struct tail_file_info *f, int64_t now)
{
	int64_t read = ledger_oldest_read(f->led);

	v->path = f->path;
	v->input = f->input;
	v->offset = f->committed;
	v->size = f->size;
	if (v->size < v->offset)
		v->size = v->offset; /* truncated just now: the tail sees it at its next read */
	/* lines read wait in batches: the first of them is the oldest; otherwise what waits is not
	 * read yet, and is as old as it has been seen waiting */
	v->oldest = ledger_unread_since(f->led, v->size > f->read, now);
	if (read)
		v->oldest = read;
	if (v->size == v->offset)
		v->oldest = 0;
	v->last_delivery = ledger_last_delivery(f->led);
	v->rotated = f->rotated;
}

/* A monotonic ms time as unix seconds. */
static int64_t view_unix(uint64_t ms, uint64_t now_ms, int64_t now)
{
	if (!ms)
		return 0;
	return ms >= now_ms ? now + (int64_t)((ms - now_ms + 999) / 1000) : now - (int64_t)((now_ms - ms) / 1000);
}

int view_build(struct view *v, struct tail *t, const struct sender_stats *ss, const struct agent_stats *st,
	       const struct trouble *tr, int64_t started)
{
	size_t n = tail_nfiles(t);
	uint64_t now_ms = loop_now_ms();

	*v = (struct view){ .now = (int64_t)time(NULL), .started = started, .pid = (long)getpid(), .ss = ss,
			    .st = st, .last_delivery = ss->last_success_unix };
	v->files = calloc(n ? n : 1, sizeof(*v->files));
	if (!v->files)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct view_file *f = &v->files[v->nfiles++];
		struct tail_file_info info;

		tail_file_info(t, i, &info);
		view_file(f, &info, v->now);
		v->behind += view_lag(f);
		if (f->last_delivery > v->last_delivery)
			v->last_delivery = f->last_delivery;
	}
	v->bad = tr ? trouble_unreadable(tr, &v->nbad) : NULL;
	v->failing_since = view_unix(ss->failing_since_ms, now_ms, v->now);
	v->next_retry = view_unix(ss->next_retry_ms, now_ms, v->now);
	return 0;
}

void view_free(struct view *v)
{
	free(v->files);
	v->files = NULL;
	v->nfiles = 0;
}
