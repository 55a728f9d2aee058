/* Trouble on the data path, told where an operator looks: in the log, each kind at most once per
 * period (notice.h: the first at once, then a summary with counts by class), and in `status` (files
 * that cannot be opened). The kinds: lines dead-lettered, events the server rejected, answers that
 * waiting will not change (401, 403, 404, 405: errors, with their fix), matching files that cannot be
 * opened (repeated while it lasts), globs that match nothing (at start) and a long outage. */
#ifndef ONSIDE_TROUBLE_H
#define ONSIDE_TROUBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"
#include "sender.h"

/* The period: a minute (ONSIDE_TEST_NOTICE_MS=N sets it for tests). A long outage is told after
 * TROUBLE_OUTAGE_PERIODS periods of failures, and again every TROUBLE_OUTAGE_PERIODS periods. */
#define TROUBLE_PERIOD_MS 60000
#define TROUBLE_OUTAGE_PERIODS 5
/* Answers that waiting will not change, in a row, after which run --once gives up. */
#define TROUBLE_ONCE_REFUSALS 3

/* A matching file that cannot be opened. */
struct trouble_file {
	char *path;
	char *input;
	bool initial; /* found at start: start_at applies when it can be opened */
	int err;      /* a negative errno */
	int64_t since; /* unix time it was first seen so */
};

/* Opens path again (tail_recheck): 0 when it is followed now, a negative errno otherwise. */
typedef int (*trouble_recheck_fn)(void *data, const char *path, bool initial);

struct trouble;

/* The strings are copied. */
struct trouble *trouble_new(struct loop *l, const char *state_dir, const char *url, const char *username,
			    trouble_recheck_fn recheck, void *data);
void trouble_free(struct trouble *t);
/* A reload: the endpoint the refusal messages name. */
void trouble_set_endpoint(struct trouble *t, const char *url, const char *username);

/* A line of path at offset went to the dead-letter file, for reason. */
void trouble_deadletter(struct trouble *t, const char *reason, const char *path, uint64_t offset);
/* The server rejected an event alone (status, with its answer body) and it went to the dead-letter
 * file. */
void trouble_rejected(struct trouble *t, long status, const char *body, size_t len, const char *path,
		      uint64_t offset);
/* A request failed with status (0: transport) and is retried; s as the sender counts it. Returns how
 * many answers in a row waiting will not change (401, 403, 404, 405), 0 for any other failure. */
unsigned trouble_refused(struct trouble *t, long status, const struct sender_stats *s);
/* run --once gives up after TROUBLE_ONCE_REFUSALS of them: the error that says why and what to fix. */
void trouble_give_up(struct trouble *t, long status);

/* A file that matches input but cannot be opened (err: a negative errno). */
void trouble_open_failed(struct trouble *t, const char *path, const char *input, bool initial, int err);
const struct trouble_file *trouble_unreadable(const struct trouble *t, size_t *ret_n);
/* Changes whenever the set of unreadable files does (the status file is then rewritten). */
uint64_t trouble_generation(const struct trouble *t);

/* Called every few seconds while requests are pending: a delivery failing for TROUBLE_OUTAGE_PERIODS
 * periods is told, and again every as many, with how far behind the files are (behind, in bytes). */
void trouble_outage(struct trouble *t, const struct sender_stats *s, uint64_t behind);

/* The regular files that pattern matches now for input in (less its exclude). */
size_t trouble_glob_count(const struct config_input *in, const char *pattern);
/* At start: a warning for every glob that matches no file (once: nothing will be read there). */
void trouble_empty_globs(const struct config *cfg, bool once);

/* At exit: the summaries of what was counted and not told yet. */
void trouble_flush(struct trouble *t);

#endif
