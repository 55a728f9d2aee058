/* The table `onside-agent status` prints: a header and one row per file, from the checkpoint (the
 * agent is not running) or from the status file of the running agent. */
#ifndef ONSIDE_STATUS_TABLE_H
#define ONSIDE_STATUS_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "checkpoint.h"

/* A file without a delivery for this long while it lags behind is unhealthy. */
#define STATUS_STALE_SECS 300

/* One row. */
struct status_row {
	const char *path;
	bool shown;       /* path and error are shown as they are (escaped already: the status file) */
	bool figures;     /* offset and size are known (not for a file that cannot be opened) */
	bool rotated;     /* renamed away, deleted or replaced: "(rotated)" after the path */
	uint64_t offset, size;
	int64_t oldest;   /* unix time of the oldest line not delivered; 0: none or not known */
	bool live;        /* from the running agent: oldest is known, and judges staleness */
	int64_t last_delivery;
	const char *error; /* NULL or "": none */
};

int status_table_header(struct buf *out);
/* Appends r's line. Paths and messages are escaped (escape_text) unless r->shown: nothing reaches the
 * terminal raw. Returns 1 for an unhealthy row (an error, or a lag for STATUS_STALE_SECS: its oldest
 * line waiting that long, or, not live, no delivery in that time), 0 for a healthy one, or a negative
 * errno. */
int status_table_print(struct buf *out, const struct status_row *r, time_t now);
/* The row of checkpoint entry e (its strings point into e). live: what stat(2) says of e->path now,
 * or NULL when it could not be looked at; a file at the path that is not the entry's (another device
 * or inode), or none, makes the entry rotated, with the size last seen, and so does a rotated file the
 * agent finished with. Returns false when the row is not worth showing: a rotated file delivered to
 * its end. */
bool status_table_from_entry(const struct checkpoint_entry *e, const struct stat *live, struct status_row *ret);
/* Appends the row of entry e as `status` does: damage (checkpoint_each_fn) shows the entry as
 * damaged; a row not worth showing appends nothing. Returns as status_table_print (1 for a damaged
 * entry, 0 for a row not shown). */
int status_table_row(struct buf *out, const struct checkpoint_entry *e, const char *damage,
		     const struct stat *live, time_t now);

#endif
