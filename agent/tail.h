/* Following files: expanding the inputs' globs, watching for new matches and appends (inotify, or a
 * slow stat poll), reading in large chunks and splitting lines, following rotation, truncation and
 * copytruncate, finding files rotated while the agent was stopped, and the checkpoint entries of the
 * files. How far each file's lines are delivered is not the tailer's business: each file's content is
 * a stream of the ledger (ledger.c), which the tailer opens and the agent records lines in.
 *
 * The tailer is driven by the agent's loop turn: tail_process applies what the watches saw, then
 * tail_read hands out lines through the `line` callback. Nothing is handed out from a watch or timer
 * callback, so that every line reaches the agent inside the turn that maps and batches it. */
#ifndef ONSIDE_TAIL_H
#define ONSIDE_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "config.h"
#include "eventid.h"
#include "ledger.h"
#include "lines.h"
#include "loop.h"

/* One complete line, and what mapping it needs to know of its file. Valid during the callback; led,
 * idf and first_line stay valid until the next tail_process (the agent maps its lines before that). */
struct tail_line {
	struct ledger_stream *led;   /* the delivery state of its file's content */
	struct eventid_file *idf;    /* its file's id state (namespace, input, first-line fingerprint) */
	const char *first_line;      /* its file's first line, for parsers that read a header (else NULL) */
	size_t first_len;
	size_t input;                /* index of its input in the configuration */
	const char *line;            /* without LF and one CR before it; at most max_line_bytes of it */
	size_t len;
	uint64_t full;               /* its full length */
	uint64_t offset;             /* of its first byte */
	uint64_t end;                /* just past its LF */
};

struct tail_cbs {
	/* One line: returns 0 to go on, LINES_STOP to stop after it (the agent has no room for more),
	 * or a negative errno when it did not take the line (it is handed out again later). */
	int (*line)(void *data, const struct tail_line *l);
	/* Files became readable, or the set of files changed: the agent should run a turn soon. */
	void (*wake)(void *data);
	void *data;
	/* path matches input (its name) but cannot be opened (err: a negative errno); initial: found at
	 * start. May be NULL (then it is logged). Nothing retries it but tail_recheck and new events. */
	void (*open_failed)(void *data, const char *path, const char *input, bool initial, int err);
};

/* What `status` and the metrics show of one followed file. */
struct tail_file_info {
	const char *path;
	const char *input;
	struct ledger_stream *led; /* its delivery state */
	uint64_t size;      /* now (fstat), or as last seen when that is not possible */
	uint64_t read;      /* bytes read */
	uint64_t committed; /* delivered (or otherwise finished) up to here */
	bool rotated;       /* renamed away or deleted, being read to its end */
	bool open;          /* its descriptor is open */
};

/* Settings that are not the configuration's (tests set them; 0 / false: the defaults). */
struct tail_opts {
	uint64_t idle_close_ms; /* close a file's descriptor after this long without change (5 min) */
	bool no_inotify;        /* poll every path, as where inotify is not available */
	unsigned inotify_queue; /* a read of more inotify events than this is handled as the kernel's queue
				 * overflow (fs.inotify.max_queued_events): the rest is lost, IN_Q_OVERFLOW */
	unsigned max_rotated;   /* rotated files kept open at most (TAIL_MAX_ROTATED) */
};

struct tail;

/* Lines are recorded in ledger led (which must outlive the tail). opts may be NULL. */
struct tail *tail_new(struct loop *l, const struct config *cfg, const struct tail_cbs *cbs, struct ledger *led,
		      const struct tail_opts *opts);
void tail_free(struct tail *t);
/* Expands globs, opens files, restores offsets from cp (entries it does not use are kept and saved
 * again), adds watches. once: read each file only up to its size now, and discover no new files. */
int tail_start(struct tail *t, const struct checkpoint *cp, bool once);

/* Applies what the watches and timers saw since the last call: new matches, renames, deletions,
 * directories gone or switched, rescans; closes rotated files that are finished and files of removed
 * inputs that are drained (their places stay in the checkpoint). Returns true if the set of files
 * changed. Call it every turn, before tail_read. */
bool tail_process(struct tail *t);
/* Reads ready files, at most about budget bytes in all. *ret_more: some file has more to read. */
int tail_read(struct tail *t, size_t budget, bool *ret_more);

/* --once: true when every file has been read up to its stop offset. */
bool tail_once_read(struct tail *t);
/* --once: hands out final lines without LF of files unchanged for quiet_ms; returns the ms to wait
 * before asking again, or 0 when nothing is pending. */
uint64_t tail_once_flush_partials(struct tail *t, uint64_t quiet_ms);

/* True once after files were added since the last call: the checkpoint should record their identities
 * before their lines are sent, so that a crash followed by a rotation still finds them. */
bool tail_new_files(struct tail *t);

/* Reload: files of inputs that stay (by name) follow the new input; files of inputs that went, or
 * no longer matched by their input's globs, are read no more and leave once their lines in flight are
 * resolved (their place stays in the checkpoint); new globs are expanded and watched. The previous
 * configuration must stay alive while tail_nretired() > 0 (retired files still point into it). */
int tail_reconfigure(struct tail *t, const struct config *cfg);
size_t tail_nretired(const struct tail *t);

/* Checkpoint of every file (plus the kept entries of files not followed now). */
int tail_checkpoint(struct tail *t, struct checkpoint **ret);

/* Tries again to follow path, which could not be opened (initial: as if found at start). Returns 0
 * (followed now, or already), -ENOENT when no input matches it any more or it is gone, or the error
 * that keeps it from being opened. */
int tail_recheck(struct tail *t, const char *path, bool initial);

size_t tail_nfiles(const struct tail *t);
void tail_file_info(const struct tail *t, size_t i, struct tail_file_info *ret);
/* Bytes of all files read, and total bytes to read in --once mode (for progress). */
void tail_progress(const struct tail *t, uint64_t *ret_done, uint64_t *ret_total);

/* Whether path is left out by one of in's `exclude` globs (matched against the whole path and the base
 * name). */
bool tail_excluded(const struct config_input *in, const char *path);

#endif
