/* Internals shared by the tailer's three files: tail.c (the set of files, rotation, reading, the
 * ledger), tail_watch.c (inotify, directory watches, the stat-poll fallback, idle closing) and
 * tail_ckpt.c (identity, checkpoint entries, finding files rotated while the agent was stopped). */
#ifndef ONSIDE_TAIL_INT_H
#define ONSIDE_TAIL_INT_H

#include <sys/stat.h>

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

enum { TAIL_OPEN_INITIAL = 1, TAIL_OPEN_ROTATED = 2 };

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

struct tail {
	struct loop *loop;
	const struct config *cfg;
	struct tail_cbs cbs;
	struct ledger *ledger;
	int ifd; /* inotify; -1 in --once mode or when inotify is unavailable */
	bool once;
	bool no_inotify;    /* ONSIDE_TEST_NO_INOTIFY=1: take the poll path everywhere */
	bool poll_dirs;     /* some directory is polled: re-expand the globs on every poll */
	unsigned poll_logged; /* reasons already logged (bits) */
	bool added;         /* a file was added since tail_new_files */
	bool retiring;      /* some file is retired (tail_sweep has work) */
	struct tail_file **files;
	size_t n, cap;
	size_t rr; /* round-robin start for tail_read */
	struct dirwatch *dirs;
	size_t ndirs;
	struct wdslot *wds; /* open-addressing table: watch descriptor -> file or directory */
	size_t wdcap, wdn;
	struct checkpoint *kept; /* checkpoint entries not matched to a followed file */
	char *chunk;
	uint64_t rotate_timer, poll_timer, idle_timer;
	size_t nopen, max_open;
	uint64_t idle_ms;
	struct tail_file *cur; /* the file whose lines are being handed out */
};

/* tail.c */
int tail_open_path(struct tail *t, const char *path, size_t input, unsigned flags);
void tail_consider(struct tail *t, const char *path);
/* Calls fn for every path that input i's globs match now (exclusions not applied). */
void tail_each_match(struct tail *t, size_t i, void (*fn)(struct tail *t, size_t i, const char *path));
void tail_set_rotated(struct tail *t, struct tail_file *f, const char *why);
struct tail_file *tail_by_ino(struct tail *t, dev_t dev, ino_t ino);
ssize_t tail_match(struct tail *t, const char *path);
bool tail_excluded(const struct config_input *in, const char *path);
int tail_reopen(struct tail *t, struct tail_file *f);
void tail_close_fd(struct tail *t, struct tail_file *f);
void tail_remove(struct tail *t, size_t i);
void tail_push(struct tail *t, struct tail_file *f);
/* A file record for fd (read from offset); takes led. */
struct tail_file *tail_file_new(struct tail *t, const char *path, size_t input, int fd, const struct stat *st,
				uint64_t offset, struct ledger_stream *led);
/* The index of the input named name in cfg, or -1. */
ssize_t tail_input_index(const struct config *cfg, const char *name);
void tail_file_free(struct tail_file *f);
void tail_renamed(struct tail *t, struct tail_file *f, const char *path);
void tail_check_path(struct tail *t, struct tail_file *f);

/* tail_watch.c */
int tail_watch_start(struct tail *t);
void tail_watch_free(struct tail *t);
void tail_watch_file(struct tail *t, struct tail_file *f);
void tail_unwatch_file(struct tail *t, struct tail_file *f);
void tail_watch_patterns(struct tail *t);
void tail_rescan(struct tail *t);
void tail_arm_idle(struct tail *t);

/* tail_ckpt.c */
void tail_fingerprint(int fd, char ret[65]);
int tail_check_hash(int fd, uint64_t offset, char ret[65]);
const struct checkpoint_entry *tail_find_entry(struct tail *t, const struct stat *st, size_t *ret_i);
/* Where to resume a file just opened, and its ledger stream (from its saved entry, which is used up). */
struct ledger_stream *tail_resume(struct tail *t, int fd, const struct stat *st, const char *path, bool initial,
				  size_t input, uint64_t *ret_offset);
int tail_find_in_dir(const char *path, dev_t dev, ino_t ino, char **ret_path);
void tail_find_moved(struct tail *t);
/* f leaves: its entry stays in the checkpoint. finished: a rotated file read to its end, delivered and
 * quiet for rotate_wait (a restart does not look for the rest of it). */
int tail_keep(struct tail *t, struct tail_file *f, bool finished);
int tail_copy_checkpoint(struct tail *t, const struct checkpoint *cp);
/* Before reading after a change: returns 1 if f was truncated or rewritten (its old content then
 * goes on in a record of its own, or only in the ledger), 0, or a negative errno. */
int tail_verify(struct tail *t, struct tail_file *f);

#endif
