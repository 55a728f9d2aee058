/* The table `onside-agent status` prints: a header and one row per checkpoint entry. */
#ifndef ONSIDE_STATUS_TABLE_H
#define ONSIDE_STATUS_TABLE_H

#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "checkpoint.h"

/* A file without a delivery for this long while it lags behind is unhealthy. */
#define STATUS_STALE_SECS 300

int status_table_header(struct buf *out);
/* Appends the row of entry e. damage: why the entry is damaged (checkpoint_each_fn), or NULL. live:
 * what stat(2) says of e->path now, or NULL when it could not be looked at. A file at the path that is
 * not the entry's (another device or inode) is shown as "(rotated)" with the size last seen. Paths and
 * messages are escaped (escape_text): nothing from the checkpoint reaches the terminal raw. Returns 1
 * for an unhealthy row (damaged, an error, or a lag without a delivery in STATUS_STALE_SECS), 0 for a
 * healthy one, or a negative errno. */
int status_table_row(struct buf *out, const struct checkpoint_entry *e, const char *damage,
		     const struct stat *live, time_t now);

#endif
