/* Recovering the unread tail of a log file that was rotated and compressed while the agent was stopped
 * (logrotate's `compress` without `delaycompress`): the file itself is gone, its content lives on in a
 * gzip file beside it. */
#ifndef ONSIDE_GZRECOVER_H
#define ONSIDE_GZRECOVER_H

#include <stdint.h>

/* What is known of the lost file: its path, first-line fingerprint, the delivered offset and the
 * check hash of the bytes before it (as in checkpoint.json). */
struct gzrecover_want {
	const char *path;
	const char *fingerprint;
	uint64_t offset;
	const char *check;
};

/* Looks in the directory of want->path for a gzip file whose name starts with the file's name and ends
 * in ".gz", whose decompressed content starts with the same first line and holds the same bytes before
 * want->offset. Its content is decompressed into an unlinked file in tmpdir, sparse: only the first
 * line, the bytes just before the offset and everything after it are written, each at its own offset,
 * so that reading it gives the lost file's bytes (and ids) at their places.
 * Returns 0 with the descriptor (read-only use) and the gzip file's path (to free), -ENOENT when no
 * gzip file matches, or another negative errno. */
int gzrecover_find(const struct gzrecover_want *want, const char *tmpdir, int *ret_fd, char **ret_gz);

#endif
