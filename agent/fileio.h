/* Writing files so that a full disk, a signal or a crash never leaves a half-done job behind: write(2)
 * and pwrite(2) until everything is out, and whole-file replacement that leaves either the old or the
 * new file (checkpoint.json, metrics.prom, the status file). */
#ifndef ONSIDE_FILEIO_H
#define ONSIDE_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Writes all of p, retrying after EINTR and short writes (a regular file on a full disk may take a
 * partial write first and fail only on the next call). Returns 0 or a negative errno (-EIO for a write
 * that wrote nothing); *ret_done (may be NULL) gets how many bytes went out either way. */
int fileio_write_all(int fd, const void *p, size_t len, size_t *ret_done);
/* The same at offset at, with pwrite(2). */
int fileio_pwrite_all(int fd, const void *p, size_t len, uint64_t at);

/* Reads fd to its end, appending to b (NUL-terminated) in pieces of at most 64 KiB, retrying after
 * EINTR. Returns 0; -E2BIG when the file holds more than fits within b's max (b then holds what fit); or
 * a negative errno from read(2) or an allocation. fd stays open. */
int fileio_read_all(int fd, struct buf *b);

/* Atomically replaces dir/name with data: a temporary dir/name.tmp.PID (created O_EXCL|O_NOFOLLOW),
 * write, fsync, close, rename, fsync of the directory. Returns 0 or a negative errno; on failure the
 * old file is untouched and the temporary removed. */
int fileio_replace(const char *dir, const char *name, const void *data, size_t len);

#endif
