/* The state directory's own safety. Whoever can write the state directory can make the agent skip
 * lines (a forged checkpoint) or, through a planted symlink, make it write where it should not; two
 * agents on one directory overwrite each other's checkpoint and lose lines. So `run` refuses a
 * directory that anybody but its owner (this user, or root) can write, holds an exclusive lock on it
 * for its whole life, and removes the NAME.tmp.PID files (fileio_replace) of agents killed before
 * their rename. */
#include "statedir.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* The lock lives as long as the process: the descriptor is never closed (close-on-exec, so a plugin
 * that runs a program does not pass it on). */
static int statedir_lockfd = -1;

/* How long `run` waits for readers of the lock (statedir_query) to let go: they hold it for an
 * instant. */
#define LOCK_READER_TRIES 50
#define LOCK_READER_WAIT_US 2000

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The rule on an open directory: owned by us or root, no group or other write permission. ACLs are
 * not looked at. Group write is refused too, even for a group of one: the agent creates its directory
 * 0750 itself, and `chmod g-w` is the whole fix for one made by hand. */
static int check_fd(const char *dir, int dfd, bool owner, char *err, size_t errlen)
{
	struct stat st;
	uid_t me = geteuid();

	if (fstat(dfd, &st) < 0) {
		seterr(err, errlen, "cannot inspect the state directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (owner && st.st_uid != me && st.st_uid != 0) {
		seterr(err, errlen,
		       "state directory %s belongs to uid %lu, not to this user (uid %lu) or root; run the "
		       "agent as its owner or chown the directory",
		       dir, (unsigned long)st.st_uid, (unsigned long)me);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		seterr(err, errlen,
		       "state directory %s is writable by other users (mode %04o); run chmod go-w %s", dir,
		       (unsigned)(st.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

int statedir_check(const char *dir, char *err, size_t errlen)
{
	int dfd, r;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		seterr(err, errlen, "cannot open the state directory %s: %s", dir, strerror(-r));
		return r;
	}
	/* root's `check` cannot know which user the service runs as: `run` checks the owner itself */
	r = check_fd(dir, dfd, geteuid() != 0, err, errlen);
	close(dfd);
	return r;
}

/* The holder's process id as it wrote it, or 0 when the file holds none yet (it may be between its
 * flock and its write). */
static long lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && (*end == '\n' || *end == '\0') && pid > 0 ? pid : 0;
}

/* flock(LOCK_EX), without waiting for another agent. `status` takes a shared lock for an instant to
 * see whether an agent runs: a shared holder is such a reader, worth a few short waits; an exclusive
 * one is an agent. Returns 0, or -1 with errno set (EWOULDBLOCK: another agent). */
static int lock_exclusive(int fd)
{
	for (int tries = 0;; tries++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -1;
		if (tries == LOCK_READER_TRIES || flock(fd, LOCK_SH | LOCK_NB) < 0) {
			errno = EWOULDBLOCK;
			return -1;
		}
		/* shared now, with the readers: upgraded by the next try once they let go */
		usleep(LOCK_READER_WAIT_US);
	}
}

int statedir_query(const char *dir, long *ret_pid)
{
	char path[4096];
	struct stat st;
	long pid;
	int fd, r;

	if (snprintf(path, sizeof(path), "%s/%s", dir, STATEDIR_LOCK_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd); /* lets go of it */
		return 0;
	}
	r = errno == EWOULDBLOCK ? 1 : -errno;
	pid = r == 1 ? lock_holder(fd) : 0;
	close(fd);
	if (r == 1)
		*ret_pid = pid;
	return r;
}

static int lock_take(const char *dir, int dfd)
{
	char pid[32];
	struct stat st;
	long holder;
	int fd, n;

	fd = openat(dfd, STATEDIR_LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
		    0640);
	if (fd < 0) {
		int r = -errno;

		log_errorx("agent", "cannot open the lock file %s/%s: %s", dir, STATEDIR_LOCK_FILE, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_errorx("agent", "the lock file %s/%s is not a regular file", dir, STATEDIR_LOCK_FILE);
		close(fd);
		return -EINVAL;
	}
	if (lock_exclusive(fd) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

		holder = r == -EBUSY ? lock_holder(fd) : 0;
		if (holder)
			log_errorx("agent", "state directory %s is in use by process %ld", dir, holder);
		else if (r == -EBUSY)
			log_errorx("agent", "state directory %s is in use by another process", dir);
		else
			log_errorx("agent", "cannot lock the state directory %s: %s", dir, strerror(-r));
		close(fd);
		return r;
	}
	/* Only for the message a second agent prints: the lock itself is the flock. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("agent", "cannot write the process id into %s/%s", dir, STATEDIR_LOCK_FILE);
	statedir_lockfd = fd;
	return 0;
}

/* The PID of a NAME.tmp.PID file name, or 0 when name is not one. */
static long tmp_pid(const char *name)
{
	const char *p = NULL, *next;
	char *end;
	long pid;

	for (next = strstr(name, ".tmp."); next; next = strstr(next + 1, ".tmp."))
		p = next;
	if (!p || p == name || !isdigit((unsigned char)p[5]))
		return 0;
	p += 5;
	errno = 0;
	pid = strtol(p, &end, 10);
	return *end || errno || pid <= 0 ? 0 : pid;
}

/* A temporary belongs to a process that is gone when that process does not exist. Our own id
 * counts as gone: this agent has written nothing yet, so such a file is from an earlier process
 * that had the same id. A live process we may not signal (EPERM) keeps its file. */
static bool tmp_stale(long pid)
{
	if (pid == (long)getpid())
		return true;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static void remove_stale(const char *dir, int dfd)
{
	struct dirent *de;
	struct stat st;
	size_t removed = 0;
	char first[256] = "";
	DIR *d;
	int fd;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		log_warn("agent", "cannot list the state directory %s for stale temporary files", dir);
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		long pid = tmp_pid(de->d_name);

		/* never a directory; a symlink goes as itself (unlinkat does not follow it) */
		if (!pid || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode) ||
		    !tmp_stale(pid))
			continue;
		if (unlinkat(dfd, de->d_name, 0) < 0) {
			log_warn("agent", "cannot remove the stale temporary file %s/%s", dir, de->d_name);
			continue;
		}
		if (!removed++)
			snprintf(first, sizeof(first), "%s", de->d_name);
	}
	closedir(d);
	if (removed)
		log_info("agent", "removed %zu temporary file%s of agents that are gone from %s (%s%s)", removed,
			 removed == 1 ? "" : "s", dir, first, removed > 1 ? ", ..." : "");
}

int statedir_claim(const char *dir)
{
	char err[1024];
	int dfd, r;

	if (statedir_lockfd >= 0)
		return 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		log_errorx("agent", "cannot open the state directory %s: %s", dir, strerror(-r));
		return r;
	}
	r = check_fd(dir, dfd, true, err, sizeof(err));
	if (r < 0)
		log_errorx("agent", "%s", err);
	if (r == 0)
		r = lock_take(dir, dfd);
	if (r == 0)
		remove_stale(dir, dfd);
	close(dfd);
	return r;
}
