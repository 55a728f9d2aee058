/* Following files: expanding the inputs' globs, inotify watches (directories for new matches, files
 * for appends), reading in large chunks, splitting lines, and the per-file delivery ledger that keeps
 * the checkpoint honest (the offset only moves past a line when it and every line before it are
 * delivered, skipped or dead-lettered). */
#ifndef ONSIDE_TAIL_H
#define ONSIDE_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>

#include "checkpoint.h"
#include "config.h"
#include "eventid.h"
#include "ledger.h"
#include "lines.h"
#include "loop.h"

/* A followed file. fd is -1 for a file whose descriptor was closed while idle or to stay under the
 * open-file bound: such a file keeps its place (ls, its ledger stream, identity) and is reopened, its
 * identity checked, on the next change. How far its lines are delivered is the ledger's (led). */
struct tail_file {
	char *path;
	size_t input; /* index into config inputs */
	const struct config_input *in; /* that input (of the configuration it was last matched with) */
	int fd;
	int wd;
	dev_t dev;
	ino_t ino;
	struct lines ls;     /* ls.offset: the next byte to read */
	char fp[65];         /* first-line fingerprint; "" until known */
	struct eventid_file *idf;
	struct ledger_stream *led; /* delivery state of the content being read */
	char *first_line;    /* the first line as parsers see it (firstline.h), read with idf when the
			      * input's parser wants it; NULL until then */
	size_t first_len;
	uint64_t size;       /* size at the last fstat */
	uint64_t stop_at;    /* run --once: the size at start; UINT64_MAX when following */
	bool ready;          /* there may be bytes to read */
	bool rotated;        /* renamed away, deleted or truncated: read to its end, then close */
	bool poll;           /* no inotify events for it: the slow stat poll looks at it */
	bool verify;         /* check for truncation or a rewrite before the next read */
	bool retired;        /* its input went away in a reload: no more reads; leaves once delivered */
	uint64_t last_change_ms;
	uint64_t last_use_ms; /* last event or read: the least recently used descriptor is closed first */
	uint64_t quiet_since_ms;     /* run --once: when a final line without LF was first seen unchanged */
	struct timespec quiet_mtime; /* ... and the file's mtime then */
	uint64_t lines_read;
	char check[65];          /* cached checkpoint check hash ... */
	uint64_t check_offset;   /* ... for this offset */
	unsigned char tailb[64]; /* the bytes just before ls.offset as they were read ... */
	unsigned tailn;          /* ... (how many): a rewrite or truncation shows there */
};

struct tail_cbs {
	/* One complete line of f (see lines_cb). Returns 0 or a negative errno to stop reading. */
	int (*line)(void *data, struct tail_file *f, const char *line, size_t len, uint64_t full,
		    uint64_t offset, uint64_t end);
	/* Files became readable: the agent should call tail_read soon. */
	void (*wake)(void *data);
	void *data;
	/* path matches input (its name) but cannot be opened (err: a negative errno); initial: found at
	 * start. May be NULL (then it is logged). Nothing retries it but tail_recheck and new events. */
	void (*open_failed)(void *data, const char *path, const char *input, bool initial, int err);
};

struct tail;

/* Lines are recorded in ledger l (which must outlive the tail). */
struct tail *tail_new(struct loop *l, const struct config *cfg, const struct tail_cbs *cbs, struct ledger *led);
void tail_free(struct tail *t);
/* Expands globs, opens files, restores offsets from cp (entries it does not use are kept and saved
 * again), adds watches. once: read each file only up to its size now, and discover no new files. */
int tail_start(struct tail *t, const struct checkpoint *cp, bool once);
/* Reads ready files, at most about budget bytes in all. *ret_more: some file has more to read. */
int tail_read(struct tail *t, size_t budget, bool *ret_more);
/* --once: true when every file has been read up to its stop offset. */
bool tail_once_read(struct tail *t);
/* --once: hands out final lines without LF of files unchanged for quiet_ms; returns the ms to wait
 * before asking again, or 0 when nothing is pending. */
uint64_t tail_once_flush_partials(struct tail *t, uint64_t quiet_ms);

/* After deliveries: files of inputs removed by a reload leave once nothing of theirs is in flight (their
 * place stays in the checkpoint). Returns true if the set of files changed. */
bool tail_sweep(struct tail *t);

/* True once after files were added since the last call: the checkpoint should record their identities
 * before their lines are sent, so that a crash followed by a rotation still finds them. */
bool tail_new_files(struct tail *t);

/* Reload: files of inputs that stay (by name) follow the new input; files of inputs that went, or
 * no longer matched by their input's globs, are read no more and leave once their lines in flight are
 * resolved (their place stays in the checkpoint); new globs are expanded and watched. The previous
 * configuration must stay alive while tail_nretired() > 0 (retired files still point into it). */
int tail_reconfigure(struct tail *t, const struct config *cfg);
size_t tail_nretired(const struct tail *t);

/* Checkpoint of every file (plus the kept entries from start). */
int tail_checkpoint(struct tail *t, struct checkpoint **ret);

/* Tries again to follow path, which could not be opened (initial: as if found at start). Returns 0
 * (followed now, or already), -ENOENT when no input matches it any more or it is gone, or the error
 * that keeps it from being opened. */
int tail_recheck(struct tail *t, const char *path, bool initial);

size_t tail_nfiles(const struct tail *t);
struct tail_file *tail_file_at(struct tail *t, size_t i);
/* Bytes of all files not yet read, and total bytes to read in --once mode (for progress). */
void tail_progress(struct tail *t, uint64_t *ret_done, uint64_t *ret_total);

#endif
