/* Writing files safely (see fileio.h): the write loops every writer of the agent shares, and whole-file
 * replacement for the state files. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define FILEIO_TMP_NAME_MAX 4096

int fileio_write_all(int fd, const void *data, size_t len, size_t *ret_done)
{
	const char *p = data;
	size_t done = 0;
	int r = 0;

	while (done < len) {
		ssize_t w = write(fd, p + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = w < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)w;
	}
	if (ret_done)
		*ret_done = done;
	return r;
}

int fileio_pwrite_all(int fd, const void *data, size_t len, uint64_t at)
{
	const char *p = data;

	while (len) {
		ssize_t w = pwrite(fd, p, len, (off_t)at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
		at += (uint64_t)w;
	}
	return 0;
}

/* Fills the temp file and closes it; a close error counts (NFS reports write-back failures there). */
static int fileio_fill(int fd, const void *data, size_t len)
{
	int r;

	r = fileio_write_all(fd, data, len, NULL);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Creates dir/tmp for writing. O_EXCL|O_NOFOLLOW: whatever already has the name (a symlink planted
 * to make us write elsewhere, or the leftover of a killed process that had our id) is never opened.
 * Such an entry is unlinked (the name only, never what a symlink points to) and the create tried once
 * more. (O_TMPFILE + linkat would spare the name, but linkat cannot replace an existing file, so a
 * temporary name and rename are needed anyway, and kernel 3.10 lacks O_TMPFILE on most filesystems.) */
static int fileio_create(int dfd, const char *tmp)
{
	int fd, r, tries;

	for (tries = 0;; tries++) {
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0640);
		if (fd >= 0)
			return fd;
		r = -errno;
		/* a directory of that name stays: unlinkat without AT_REMOVEDIR fails on it */
		if (r != -EEXIST || tries || unlinkat(dfd, tmp, 0) < 0)
			return r;
	}
}

int fileio_replace(const char *dir, const char *name, const void *data, size_t len)
{
	char tmp[FILEIO_TMP_NAME_MAX];
	int dfd, fd, r, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", name, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = fileio_create(dfd, tmp);
	if (fd < 0) {
		/* Nothing was created (it may be somebody else's directory of that name): remove nothing. */
		r = fd;
		goto out;
	}
	r = fileio_fill(fd, data, len);
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	/* The rename is only durable once the directory itself is on disk. */
	if (fsync(dfd) < 0)
		r = -errno;
out:
	close(dfd);
	return r;
}

int fileio_read_all(int fd, struct buf *b)
{
	char probe;
	int r0 = buf_reserve(b, 0); /* sets the default max of a buf initialised with 0 */

	if (r0 < 0)
		return r0;
	b->data[b->len] = '\0'; /* an empty file too */
	for (;;) {
		size_t room = b->max - b->len;
		ssize_t n;
		int r;

		if (room == 0) /* full: anything left does not fit */
			break;
		if (room > 65536)
			room = 65536;
		if ((r = buf_reserve(b, room)) < 0)
			return r;
		n = read(fd, b->data + b->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
	for (;;) {
		ssize_t n = read(fd, &probe, 1);

		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -errno : n > 0 ? -E2BIG : 0;
	}
}
