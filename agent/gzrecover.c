/* Finding a lost log file's content in a gzip file beside it, and making it readable at its original
 * offsets (see gzrecover.h). zlib comes with libcurl anyway; gzread handles multi-member files, which is
 * what `gzip` and logrotate write. Library-like: no logging, errors are returned. */
#include "gzrecover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "eventid.h"
#include "fileio.h"

#define GZ_CHUNK (128u << 10)

/* Reads up to n bytes (fewer only at the end). A gzip file cut short (still being written by
 * logrotate, or truncated) is an error, not an end: gzread reports its end as a clean one. */
static ssize_t gz_read_full(gzFile g, char *p, size_t n)
{
	size_t got = 0;
	int err;

	while (got < n) {
		int k = gzread(g, p + got, (unsigned)(n - got));
		if (k < 0)
			return -EIO;
		if (k == 0) {
			(void)gzerror(g, &err);
			if (err != Z_OK)
				return -EIO;
			break;
		}
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* An unlinked file in dir: O_TMPFILE where the kernel has it (3.11), else a named one removed at once. */
static int tmp_open(const char *dir)
{
	char path[PATH_MAX];
	int fd;

#ifdef O_TMPFILE
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL))
		return fd >= 0 ? fd : -errno;
#endif
	if (snprintf(path, sizeof(path), "%s/.gzrecover.XXXXXX", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

/* The fingerprint of the decompressed content's first line, from its first bytes. */
static void first_line_fp(const char *p, size_t n, char ret[65])
{
	const char *lf = memchr(p, '\n', n);

	eventid_fingerprint(p, lf ? (size_t)(lf - p) : n, ret);
}

/* Copies what is needed of the rest of g into fd: bytes from `from` on, at their offsets. Returns the
 * total decompressed size or a negative errno. */
static int64_t gz_copy_tail(gzFile g, int fd, uint64_t pos, uint64_t from, char *buf)
{
	for (;;) {
		ssize_t n = gz_read_full(g, buf, GZ_CHUNK);
		uint64_t end;
		int r;

		if (n < 0)
			return n;
		if (n == 0)
			return (int64_t)pos;
		end = pos + (uint64_t)n;
		if (end > from) {
			uint64_t skip = from > pos ? from - pos : 0;
			if ((r = fileio_pwrite_all(fd, buf + skip, (size_t)n - skip, pos + skip)) < 0)
				return r;
		}
		pos = end;
	}
}

/* One candidate: 0 with *ret_fd if it is the lost file's content, -ENOENT if not. */
static int gz_try(const char *gzpath, const struct gzrecover_want *want, const char *tmpdir, char *buf,
		  int *ret_fd)
{
	uint64_t from = want->offset > CHECKPOINT_CHECK_BYTES ? want->offset - CHECKPOINT_CHECK_BYTES : 0;
	char fp[65], check[65], b[CHECKPOINT_CHECK_BYTES];
	int in, fd = -1, r = -ENOENT;
	struct stat st;
	int64_t size;
	ssize_t n;
	gzFile g;

	in = open(gzpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (in < 0)
		return -ENOENT;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || !(g = gzdopen(in, "rb"))) {
		close(in);
		return -ENOENT;
	}
	gzbuffer(g, GZ_CHUNK);
	n = gz_read_full(g, buf, EVENTID_FINGERPRINT_MAX + 1);
	if (n <= 0)
		goto out;
	first_line_fp(buf, (size_t)n, fp);
	if (strcmp(fp, want->fingerprint) != 0)
		goto out;
	if ((fd = tmp_open(tmpdir)) < 0) {
		r = fd;
		goto out;
	}
	/* the first line (for the fingerprint), then the rest from just before the offset */
	if ((r = fileio_pwrite_all(fd, buf, (size_t)n, 0)) < 0 ||
	    (size = gz_copy_tail(g, fd, (uint64_t)n, from, buf)) < 0) {
		r = r < 0 ? r : (int)size;
		goto out;
	}
	r = -ENOENT;
	if ((uint64_t)size < want->offset)
		goto out;
	if (want->offset > 0) {
		size_t k = (size_t)(want->offset - from);
		if (pread(fd, b, k, (off_t)from) != (ssize_t)k)
			goto out;
		eventid_fingerprint(b, k, check);
		if (strcmp(check, want->check) != 0)
			goto out;
	}
	*ret_fd = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	gzclose(g);
	return r;
}

int gzrecover_find(const struct gzrecover_want *want, const char *tmpdir, int *ret_fd, char **ret_gz)
{
	char dir[PATH_MAX], full[PATH_MAX];
	const char *base, *slash = strrchr(want->path, '/');
	size_t blen;
	struct dirent *de;
	char *buf;
	int r = -ENOENT;
	DIR *d;

	/* without a known first line the content's identity cannot be checked: never guess */
	if (!want->fingerprint[0] || !slash || (size_t)(slash - want->path) >= sizeof(dir))
		return -ENOENT;
	memcpy(dir, want->path, (size_t)(slash - want->path));
	dir[slash - want->path] = '\0';
	base = slash + 1;
	blen = strlen(base);
	if (!(d = opendir(dir[0] ? dir : "/")))
		return -ENOENT;
	if (!(buf = malloc(GZ_CHUNK))) {
		closedir(d);
		return -ENOMEM;
	}
	while (r == -ENOENT && (de = readdir(d))) {
		size_t nlen = strlen(de->d_name);
		if (nlen <= blen + 3 || strncmp(de->d_name, base, blen) != 0 ||
		    strcmp(de->d_name + nlen - 3, ".gz") != 0 ||
		    snprintf(full, sizeof(full), "%s/%s", dir, de->d_name) >= (int)sizeof(full))
			continue;
		r = gz_try(full, want, tmpdir, buf, ret_fd);
		if (r == 0 && !(*ret_gz = strdup(full))) {
			close(*ret_fd);
			r = -ENOMEM;
		}
	}
	free(buf);
	closedir(d);
	return r;
}
