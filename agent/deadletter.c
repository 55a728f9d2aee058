/* dead-letter.jsonl (see deadletter.h): building a record, appending it with one write that is cut
 * back on a partial write, rotation by size, and the fdatasync the agent needs before a checkpoint may
 * move past a dead-lettered line. */
#include "deadletter.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "jsonw.h"

struct deadletter {
	int dirfd; /* the state directory: rotation renames within it even if its path changes */
	int fd;
	uint64_t size;         /* current size of the open file, kept by us (we are its only writer) */
	uint64_t rotate_bytes; /* 0: never rotate */
	uint64_t count;
	struct buf line; /* reused for every entry */
};

static int open_file(int dirfd, int *ret_fd, uint64_t *ret_size)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, DEADLETTER_FILE, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	/* A newly created file only survives a crash once its directory entry is on disk. */
	if (st.st_size == 0 && fsync(dirfd) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

int deadletter_open(const char *state_dir, uint64_t rotate_bytes, struct deadletter **ret)
{
	struct deadletter *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = -1;
	d->rotate_bytes = rotate_bytes;
	buf_init(&d->line, 0);
	d->dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	r = open_file(d->dirfd, &d->fd, &d->size);
	if (r < 0)
		goto fail;
	*ret = d;
	return 0;
fail:
	deadletter_close(d);
	return r;
}

/* Moves the full file to .1 and starts a fresh one. The old file's data is synced first: a later
 * deadletter_sync only reaches the new file, and the checkpoint may then move past lines in the old. */
static int rotate(struct deadletter *d)
{
	uint64_t size;
	int fd, r;

	if (fdatasync(d->fd) < 0)
		return -errno;
	/* ENOENT: somebody removed the file; starting a new one is all that is left to do. */
	if (renameat(d->dirfd, DEADLETTER_FILE, d->dirfd, DEADLETTER_ROTATED) < 0 && errno != ENOENT)
		return -errno;
	r = open_file(d->dirfd, &fd, &size);
	if (r < 0)
		return r;
	close(d->fd);
	d->fd = fd;
	d->size = size;
	if (fsync(d->dirfd) < 0)
		return -errno;
	return 0;
}

/* Writes the whole line. With O_APPEND each write(2) lands at the end; a partial write (full disk)
 * is cut back off so the file never keeps half a line that the next entry would be glued to. */
static int append_line(struct deadletter *d, const char *p, size_t len)
{
	size_t done;
	int r = fileio_write_all(d->fd, p, len, &done);

	if (r < 0) {
		if (done && ftruncate(d->fd, (off_t)d->size) < 0)
			d->size += done; /* the partial line stays: keep the size true */
		return r;
	}
	d->size += len;
	return 0;
}

static int put_str(struct buf *b, const char *key, const char *s, size_t n)
{
	int r = buf_puts(b, key);

	if (r < 0)
		return r;
	if (!s)
		return buf_puts(b, "null");
	return jsonw_string(b, s, n);
}

static int build_line(struct buf *b, const struct deadletter_entry *e)
{
	char ts[32];
	struct tm tm;
	time_t now = time(NULL);
	int r;

	if (!gmtime_r(&now, &tm) || !strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -EOVERFLOW;
	buf_reset(b);
	r = buf_printf(b, "{\"time\":\"%s\"", ts);
	if (!r)
		r = put_str(b, ",\"input\":", e->input, e->input ? strlen(e->input) : 0);
	if (!r)
		r = put_str(b, ",\"path\":", e->path, e->path ? strlen(e->path) : 0);
	if (!r)
		r = buf_printf(b, ",\"offset\":%" PRIu64, e->offset);
	if (!r)
		r = put_str(b, ",\"reason\":", e->reason, e->reason ? strlen(e->reason) : 0);
	/* The line and the response body are raw bytes: a NULL with no length is an empty string. */
	if (!r)
		r = put_str(b, ",\"line\":", e->line ? e->line : "", e->line ? e->line_len : 0);
	if (!r && e->length)
		r = buf_printf(b, ",\"length\":%" PRIu64, e->length);
	if (!r && e->status) {
		r = buf_printf(b, ",\"status\":%ld", e->status);
		if (!r)
			r = put_str(b, ",\"response\":", e->response ? e->response : "",
				    e->response ? e->response_len : 0);
	}
	if (!r && e->fingerprint && e->fingerprint[0])
		r = put_str(b, ",\"fingerprint\":", e->fingerprint, strlen(e->fingerprint));
	if (!r)
		r = buf_puts(b, "}\n");
	return r;
}

int deadletter_write(struct deadletter *d, const struct deadletter_entry *e)
{
	int r;

	r = build_line(&d->line, e);
	if (r < 0)
		return r;
	/* A failed rotation must not lose the line: it goes into the current file, which then grows past
	 * the bound until a later rotation succeeds. */
	if (d->rotate_bytes && d->size > 0 && d->size + d->line.len > d->rotate_bytes)
		(void)rotate(d);
	r = append_line(d, d->line.data, d->line.len);
	if (r < 0)
		return r;
	d->count++;
	return 0;
}

int deadletter_sync(struct deadletter *d)
{
	if (fdatasync(d->fd) < 0)
		return -errno;
	return 0;
}

uint64_t deadletter_count(const struct deadletter *d)
{
	return d->count;
}

void deadletter_close(struct deadletter *d)
{
	if (!d)
		return;
	if (d->fd >= 0)
		close(d->fd);
	if (d->dirfd >= 0)
		close(d->dirfd);
	buf_free(&d->line);
	free(d);
}
