/* The running agent: ties the tailer, the line-to-event path, batching, the sender, the dead-letter
 * file, the checkpoint and the metrics to one event loop. */
#ifndef ONSIDE_AGENT_H
#define ONSIDE_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "tail.h"
#include "map.h"

struct agent_stats {
	uint64_t lines_read;
	uint64_t bytes_read;
	uint64_t events_built;
	uint64_t skipped_match;  /* not an event: every skipped line (by why in skipped[]) */
	uint64_t skipped[MAP_SKIP_KINDS]; /* by enum map_skip */
	uint64_t skipped_seen;   /* read again after a restart, already in the dead-letter file */
	uint64_t rejected_parse; /* parse or mapping failures, dead-lettered */
	uint64_t rejected_long;  /* longer than max_line_bytes, dead-lettered */
	uint64_t rejected_large; /* an event alone larger than batch.max_bytes, dead-lettered */
	uint64_t rejected_server;
	uint64_t batches;
};

/* How to run, besides the configuration. */
struct agent_opts {
	bool once;            /* run --once */
	int map_threads;      /* mapping threads besides the loop's: -1 = by the number of cores */
	struct tail_opts tail;
};

struct agent;

/* Takes ownership of cfg. Returns 0 or a negative errno (logged). */
int agent_new(struct config *cfg, const char *config_path, const struct agent_opts *opts, struct agent **ret);
/* Runs until stopped (signal) or, with once, until everything read is delivered. Returns the exit
 * code. */
int agent_run(struct agent *a);
void agent_free(struct agent *a);

#endif
