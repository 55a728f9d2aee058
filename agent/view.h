/* One moment of the running agent as metrics.prom and `status` (through the status file) show it:
 * both are rendered from the same view and written together, so they cannot disagree. Sizes are
 * looked at when the view is taken, not as last read: while the API is down the agent reads nothing,
 * and the lag must still grow with the files. */
#ifndef ONSIDE_VIEW_H
#define ONSIDE_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "sender.h"
#include "tail.h"
#include "trouble.h"

struct view_file {
	const char *path;  /* borrowed from the tail: valid until the loop runs again */
	const char *input;
	uint64_t offset;   /* delivered (or dead-lettered, or skipped) up to here */
	uint64_t size;     /* now */
	int64_t oldest;    /* unix time the oldest line not delivered was read (or, not read yet, first
			    * seen waiting); 0: none */
	int64_t last_delivery;
	bool rotated;      /* renamed away, deleted or truncated: read to its end, then dropped */
};

struct view {
	int64_t now;       /* unix */
	int64_t started;
	long pid;
	struct view_file *files;
	size_t nfiles;
	const struct trouble_file *bad; /* files that cannot be opened */
	size_t nbad;
	uint64_t behind;   /* the lags added up */
	int64_t last_delivery; /* the latest, also from before a restart (the checkpoint's) */
	int64_t failing_since; /* unix time of the first of the failures in a row; 0: not failing */
	int64_t next_retry;    /* unix time the next attempt is due; 0: none waiting */
	const struct sender_stats *ss;
	const struct agent_stats *st;
};

/* Takes the view. Returns 0 or -ENOMEM. */
int view_build(struct view *v, struct tail *t, const struct sender_stats *ss, const struct agent_stats *st,
	       const struct trouble *tr, int64_t started);
void view_free(struct view *v);

static inline uint64_t view_lag(const struct view_file *f)
{
	return f->size > f->offset ? f->size - f->offset : 0;
}

#endif
