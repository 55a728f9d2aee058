/* checkpoint.json in the state directory: per tracked file, its identity and the offset below which
 * every line is delivered, dead-lettered or skipped. Written atomically (temp, fsync, rename, fsync of
 * the directory). Human-readable JSON:
 * {"version":1,"files":[{"path":...,"input":...,"fingerprint":"<hex>","dev":N,"ino":N,
 *   "offset":N,"check":"<hex sha256 of up to 256 bytes before offset>","size":N,
 *   "last_delivery":UNIX,"last_error":"...","updated":UNIX[,"dead":[[START,END],...]][,"finished":true]}]}
 * "dead": lines past offset that are already in the dead-letter file (a restart must not write them
 * again), sorted, as [start, end) byte ranges. */
#ifndef ONSIDE_CHECKPOINT_H
#define ONSIDE_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

#define CHECKPOINT_VERSION 1
#define CHECKPOINT_FILE "checkpoint.json"
#define CHECKPOINT_CHECK_BYTES 256
/* 9999-12-31T23:59:59Z: a later last_delivery or updated marks a damaged entry (gmtime_r and a
 * four-digit year cover every time up to it). */
#define CHECKPOINT_TIME_MAX INT64_C(253402300799)

struct checkpoint_entry {
	char *path;
	char *input;
	char fingerprint[65]; /* hex; "" when the first line was not complete yet */
	uint64_t dev;
	uint64_t ino;
	uint64_t offset;
	char check[65]; /* hex SHA-256 of the CHECKPOINT_CHECK_BYTES (or fewer) bytes before offset */
	uint64_t size;  /* file size when last seen */
	int64_t last_delivery;
	char *last_error; /* may be NULL */
	int64_t updated;
	struct ledger_range *dead; /* sorted, past offset; may be NULL */
	size_t ndead;
	bool finished; /* a rotated file read to its end and closed: nothing more will come of it */
};

struct checkpoint {
	struct checkpoint_entry *e;
	size_t n;
	size_t cap;
};

/* Loads state_dir/checkpoint.json. A missing file gives an empty checkpoint and 0. A damaged one
 * (unparsable, wrong version, wrong types) is renamed to checkpoint.json.damaged-<unix time>, an empty
 * checkpoint is returned with -EBADMSG and a message saying where it went. */
int checkpoint_load(const char *state_dir, struct checkpoint **ret, char *err, size_t errlen);
/* Writes atomically. On failure (e.g. ENOSPC) the old file is intact; returns a negative errno. */
int checkpoint_save(const char *state_dir, const struct checkpoint *cp, char *err, size_t errlen);
struct checkpoint *checkpoint_new(void);
/* Appends a copy of e (strings duplicated). */
int checkpoint_add(struct checkpoint *cp, const struct checkpoint_entry *e);
/* Removes entry i, keeping the order of the others. */
void checkpoint_remove(struct checkpoint *cp, size_t i);
void checkpoint_free(struct checkpoint *cp);

/* One entry as the loader checked it: damage is NULL for a sound entry; otherwise it says what is
 * wrong ("offset is negative in files[3]") and e holds what could be read before that (e->path may
 * be NULL). Returns 0 to go on, or a negative errno to stop. */
typedef int (*checkpoint_each_fn)(void *data, size_t idx, const struct checkpoint_entry *e, const char *damage);
/* checkpoint_load's validation of checkpoint text, entry by entry, for readers that show rather than
 * use it (`status`): a damaged entry is handed to fn and the reading goes on. Returns 0; -EBADMSG with
 * why filled when the text as a whole is damaged (not JSON, another version, no files array; fn was
 * then not called); or what fn returned. */
int checkpoint_parse_each(const char *text, size_t len, checkpoint_each_fn fn, void *data, char *why,
			  size_t whylen);
/* checkpoint_parse_each on state_dir/checkpoint.json, read-only: a damaged file stays where it is.
 * Returns 0, -ENOENT when there is none, -EBADMSG for a damaged file, or another negative errno;
 * err says what happened. */
int checkpoint_read_each(const char *state_dir, checkpoint_each_fn fn, void *data, char *err, size_t errlen);


#endif
