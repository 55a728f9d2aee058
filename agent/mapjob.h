/* Mapping lines to events in parallel. The tailer's lines are collected into a job (their bytes
 * copied, since the read buffer is reused), mapped on every core at once (each participant with its
 * own mappers: parsers and templates keep per-line state), then handed back in file order, so the
 * batches, the dead-letter file and the checkpoint ledger see exactly the sequence a single thread
 * would produce. */
#ifndef ONSIDE_MAPJOB_H
#define ONSIDE_MAPJOB_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "tail.h"

#define MAPJOB_LONG 100 /* longer than max_line_bytes: not mapped */

struct mapjob_item {
	struct ledger_stream *led; /* its file's delivery state */
	const char *line; /* the line (at most max_line_bytes of it) */
	size_t len;
	uint64_t full;   /* its full length */
	uint64_t offset; /* of its first byte */
	uint64_t end;    /* just past its LF */
	int code;        /* MAP_EVENT, MAP_SKIP, MAP_REJECT, or MAPJOB_LONG */
	int skip;        /* MAP_SKIP: why (enum map_skip) */
	const char *out; /* MAP_EVENT: the event's JSON; MAP_SKIP/MAP_REJECT: the reason */
	size_t out_len;
};

struct mapjob;

/* threads: extra worker threads (0: map on the caller only). cfg must outlive the job. Returns 0 or a
 * negative errno with a message. */
int mapjob_new(const struct config *cfg, unsigned threads, struct mapjob **ret, char *err, size_t errlen);
void mapjob_free(struct mapjob *j);
/* Adds a copy of one line, with its file's id state and first line as they are now (they must stay
 * alive until the job is reset). Out of memory aborts (see xalloc.h). */
void mapjob_add(struct mapjob *j, const struct tail_line *l);
size_t mapjob_count(const struct mapjob *j);
/* Maps every line added since the last reset. */
void mapjob_run(struct mapjob *j);
void mapjob_get(const struct mapjob *j, size_t i, struct mapjob_item *ret);
void mapjob_reset(struct mapjob *j);
unsigned mapjob_threads(const struct mapjob *j);

#endif
