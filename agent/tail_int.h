/* The tailer's internals, shared by its five files. Each file calls only the files below it:
 *
 *   tail.c         the public API: start, the turn's tail_process and tail_read, reload, snapshots
 *   tail_rotate.c  files coming and going: opening paths, rotation, truncation and copytruncate,
 *                  files rotated (or compressed) while the agent was stopped, closing finished files
 *   tail_watch.c   inotify, directory watches, the stat poll, idle descriptors: it records what it
 *                  sees (flags on files, paths to look at, rescans) and acts on none of it
 *   tail_ckpt.c    checkpoint entries: resuming a file from its entry, keeping entries of files that
 *                  left, the snapshot, pruning
 *   tail_files.c   the set of file records: lookups by (dev, ino), descriptors under a bound (least
 *                  recently used closed first), identity primitives (first-line fingerprint, check hash)
 */
#ifndef ONSIDE_TAIL_INT_H
#define ONSIDE_TAIL_INT_H

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "lines.h"
#include "tail.h"

/* Rotated-away files kept open to be read to their end; past this the oldest is closed with a
 * warning (its checkpoint entry stays, so a restart still finds it in its directory; its lines in
 * flight stay in the ledger until they are resolved). */
#define TAIL_MAX_ROTATED 128
/* A file with no change for this long has its descriptor closed; it keeps its place. */
#define TAIL_IDLE_CLOSE_MS (5 * 60 * 1000)
/* The stat poll for paths without inotify events. */
#define TAIL_POLL_MS 2000
/* Checkpoint entries of files no longer followed are pruned this long after their last update
 * (plus the input's rotate_wait). */
#define TAIL_PRUNE_AGE_S (24 * 3600)
/* Paths waiting for tail_process; past this, one rescan replaces them. */
#define TAIL_PENDING_MAX 4096

/* What a followed file is to the tailer. */
enum tail_state {
	TAIL_LIVE,    /* at a path its input's globs match: read as it grows */
	TAIL_ROTATED, /* renamed away, deleted, or a copy of truncated content: read to its end through
		       * its descriptor, closed once delivered and quiet for rotate_wait */
	TAIL_RETIRED, /* its input went away in a reload: not read; leaves once its lines in flight are
		       * resolved */
};

/* A followed file. fd is -1 for a file whose descriptor was closed while idle or to stay under the
 * open-file bound: it keeps its place (ls, its ledger stream, identity) and is reopened, its identity
 * checked, on the next change. */
struct tail_file {
	enum tail_state state;
	/* what the watches saw (tail_watch.c sets them, tail_process acts on them) */
	bool ready;      /* there may be bytes to read */
	bool verify;     /* check for truncation or a rewrite before the next read */
	bool poll;       /* no inotify events for it: the stat poll looks at it */
	bool gone;       /* its last link was removed */
	bool check_path; /* it was renamed: is it still at its path, and what is there now? */
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
	uint64_t last_change_ms;
	uint64_t last_use_ms; /* last event or read */
	uint64_t quiet_since_ms;     /* run --once: when a final line without LF was first seen unchanged */
	struct timespec quiet_mtime; /* ... and the file's mtime then */
	uint64_t lines_read;
	char check[65];          /* cached checkpoint check hash ... */
	uint64_t check_offset;   /* ... for this offset */
	unsigned char tailb[64]; /* the bytes just before ls.offset as they were read ... */
	unsigned tailn;          /* ... (how many): a rewrite or truncation shows there */
	struct tail_file *lru_prev, *lru_next; /* open descriptors, least recently used first */
};

struct dirwatch {
	int wd; /* -1: polled, or gone */
	bool poll;
	dev_t dev; /* the directory the watch is on (a path through a symlink may come to name another) */
	ino_t ino;
	char *dir;
};

struct wdslot {
	int wd; /* 0: empty (inotify never hands out 0) */
	struct tail_file *f; /* NULL for a directory */
	size_t dir;
};

/* A path a directory event named, for tail_process. */
struct tail_pending {
	char *path;
	bool moved_to; /* renamed into the directory: maybe a followed file under a new name */
};

/* Checkpoint entries not matched to a followed file, indexed by (dev, ino) and by path; an entry used
 * up is only marked (indexes stay valid) and the array is compacted when a snapshot is taken. */
struct tail_kept {
	struct checkpoint *cp;
	bool *used;
	size_t nused;
	size_t *by_ino, *by_path; /* open addressing: entry index + 1, 0 = empty */
	size_t cap;
};

struct tail {
	struct loop *loop;
	const struct config *cfg;
	struct tail_cbs cbs;
	struct ledger *ledger;
	struct tail_file **files;
	size_t n, cap;
	size_t rr; /* round-robin start for tail_read */
	struct tail_file **by_ino; /* open addressing on (dev, ino) */
	size_t ino_cap, ino_n;
	struct tail_file *lru_head, *lru_tail;
	size_t nopen, max_open;
	struct tail_kept kept;
	char *chunk;
	bool once;
	bool added;    /* a file was added since tail_new_files */
	bool changed;  /* the set of files changed since the last tail_process */
	bool retiring; /* some file is retired */
	/* work for tail_process, recorded by tail_watch.c */
	struct tail_pending *pending;
	size_t npending;
	bool rescan;       /* events were lost: look at every file and every glob again */
	bool rescan_globs; /* a polled directory, or a new subdirectory: expand the globs again */
	bool rewatch;      /* a watched directory went away: watch the patterns' directories again */
	bool relink;       /* a symlink changed: watches on paths through it may name another directory */
	bool flagged;      /* some file has gone or check_path set */
	bool rotate_due;   /* the rotate timer fired: flush and close rotated files that are quiet */
	/* watches (tail_watch.c) */
	int ifd; /* inotify; -1 in --once mode or when inotify is unavailable */
	bool no_inotify;    /* the test knob: take the poll path everywhere */
	unsigned queue_max; /* the test knob: inotify events per read before an overflow; 0: the kernel's */
	size_t max_rotated; /* rotated files kept open at most */
	bool poll_dirs;     /* some directory is polled: re-expand the globs on every poll */
	unsigned poll_logged; /* reasons already logged (bits) */
	struct dirwatch *dirs;
	size_t ndirs;
	struct wdslot *wds; /* open-addressing table: watch descriptor -> file or directory */
	size_t wdcap, wdn;
	uint64_t rotate_timer, poll_timer, idle_timer;
	uint64_t idle_ms;
};

/* ---- tail_files.c ---- */
/* Reads the bytes just before f's read offset into f->tailb (after an open, or a rewind). */
void tail_load_tail(struct tail_file *f);
/* A file record for fd (read from offset); takes led. Not yet in the set. */
struct tail_file *tail_file_new(struct tail *t, const char *path, size_t input, int fd, const struct stat *st,
				uint64_t offset, struct ledger_stream *led);
void tail_file_free(struct tail_file *f);
/* Adds f to the set (indexed, its descriptor counted). */
void tail_add(struct tail *t, struct tail_file *f);
/* Takes f out of the set and frees it (its watch must be gone: tail_drop in tail_rotate.c). */
void tail_remove(struct tail *t, struct tail_file *f);
struct tail_file *tail_by_ino(const struct tail *t, dev_t dev, ino_t ino);
/* f's identity changes (a copy's descriptor replaces its own). */
void tail_set_identity(struct tail *t, struct tail_file *f, dev_t dev, ino_t ino);
/* Closes the least recently used descriptors (not of rotated files) until one more fits the bound. */
void tail_make_room(struct tail *t);
/* Records a use of f's descriptor (or that it was just opened). */
void tail_touch(struct tail *t, struct tail_file *f);
/* Closes f's descriptor; f keeps its place. */
void tail_close_fd(struct tail *t, struct tail_file *f);
/* Reopens a closed file: at its path if the same inode is still there, else under another name in the
 * same directory (*ret_moved then gets that path, to free). Returns 0 or a negative errno. */
int tail_reopen(struct tail *t, struct tail_file *f, char **ret_moved);
/* Opens the regular file dev/ino in the directory of path, under any name: its descriptor (and path),
 * or a negative errno. */
int tail_find_in_dir(const char *path, dev_t dev, ino_t ino, char **ret_path);
/* The first-line fingerprint of fd's file ("" for an empty file). */
void tail_fingerprint(int fd, char ret[65]);
/* SHA-256 of the bytes just before offset: proves a saved offset still points into the same bytes. */
int tail_check_hash(int fd, uint64_t offset, char ret[65]);
/* Which input's globs match path (exclusions applied), or -1. */
ssize_t tail_match(const struct tail *t, const char *path);
/* The index of the input named name in cfg, or -1. */
ssize_t tail_input_index(const struct config *cfg, const char *name);
/* Calls fn for every path that input i's globs match now (exclusions not applied). */
void tail_each_match(struct tail *t, size_t i, void (*fn)(struct tail *t, size_t i, const char *path));

/* ---- tail_ckpt.c ---- */
int tail_kept_init(struct tail *t, const struct checkpoint *cp);
void tail_kept_free(struct tail *t);
/* Where to resume a file just opened, and its ledger stream (from its saved entry, which is used up). */
struct ledger_stream *tail_resume(struct tail *t, int fd, const struct stat *st, const char *path, bool initial,
				  size_t input, uint64_t *ret_offset);
/* The kept entries not used up, for tail_find_moved: fn returns true if it used entry e up. */
void tail_kept_each(struct tail *t, bool (*fn)(struct tail *t, const struct checkpoint_entry *e));
/* Entry e (of tail_kept_each) is used up. */
void tail_kept_take(struct tail *t, const struct checkpoint_entry *e);
/* f leaves: its entry stays in the checkpoint. finished: a rotated file read to its end, delivered and
 * quiet for rotate_wait (a restart does not look for the rest of it). */
void tail_keep(struct tail *t, struct tail_file *f, bool finished);
int tail_snapshot(struct tail *t, struct checkpoint **ret);
/* A saved entry may be this file's: the same first line, or one of the two not known. */
bool tail_same_first_line(const char *fp, const struct checkpoint_entry *e);

/* ---- tail_watch.c ---- */
int tail_watch_start(struct tail *t);
void tail_watch_free(struct tail *t);
void tail_watch_file(struct tail *t, struct tail_file *f);
void tail_unwatch_file(struct tail *t, struct tail_file *f);
/* Watches the directories the inputs' globs can match in (or their nearest existing ancestors). */
void tail_watch_patterns(struct tail *t);
/* Moves watches whose path now names another directory (a switched symlink); true if any moved. */
bool tail_watch_relink(struct tail *t);
void tail_arm_idle(struct tail *t);
void tail_arm_rotate(struct tail *t, uint64_t ms);

/* ---- tail_rotate.c ---- */
enum { TAIL_OPEN_INITIAL = 1, TAIL_OPEN_ROTATED = 2 };
/* Opens path as a new followed file. TAIL_OPEN_INITIAL: found at start (start_at applies);
 * TAIL_OPEN_ROTATED: found under a rotated name, to be read to its end and closed. */
int tail_open_path(struct tail *t, const char *path, size_t input, unsigned flags);
/* A path that may now name another file (rename-and-create, symlink switch, delete and recreate), or
 * newly match an input. */
void tail_consider(struct tail *t, const char *path);
/* f was found under another name: rotated away (the name matches no input) or followed on under it. */
void tail_renamed(struct tail *t, struct tail_file *f, const char *path);
void tail_set_rotated(struct tail *t, struct tail_file *f, const char *why);
/* Is f still at its path? If not it is rotated, and the path is considered. */
void tail_check_path(struct tail *t, struct tail_file *f);
/* Before reading after a change: returns 1 if f was truncated or rewritten (its old content then goes
 * on in a record of its own, or only in the ledger, and f is read from offset 0), 0, or a negative
 * errno. */
int tail_verify(struct tail *t, struct tail_file *f);
/* Files rotated (or compressed) while the agent was stopped, from the kept entries. */
void tail_find_moved(struct tail *t);
/* Rotated files quiet for rotate_wait, read to their end and delivered, are closed (their entries
 * kept). Returns true if any was. */
bool tail_close_finished(struct tail *t);
/* Unwatches and removes f. */
void tail_drop(struct tail *t, struct tail_file *f);

#endif
