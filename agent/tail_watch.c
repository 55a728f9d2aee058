/* Knowing when to read: inotify watches on followed files and on the directories their globs can
 * match in (new subdirectories included), the slow stat poll for paths without inotify events
 * (network filesystems, no watches left, the test knob), the overflow rescan, and closing idle
 * descriptors. Idle means idle: the poll timer runs only while some path needs it, the idle timer
 * only while some descriptor is open. */
#include "tail_int.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "log.h"

#ifndef GLOB_ONLYDIR /* a GNU hint (matches are stat()ed below anyway); musl has none */
#define GLOB_ONLYDIR 0
#endif

#define FILE_WATCH_MASK (IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)
#define DIR_WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR)

/* ---- watch descriptor -> file or directory (open addressing, linear probing) ---- */

static size_t wd_home(int wd, size_t cap) { return ((size_t)(unsigned)wd * 2654435761u) & (cap - 1); }

static void wd_insert(struct tail *t, struct wdslot s)
{
	size_t i = wd_home(s.wd, t->wdcap);

	while (t->wds[i].wd && t->wds[i].wd != s.wd)
		i = (i + 1) & (t->wdcap - 1);
	if (!t->wds[i].wd)
		t->wdn++;
	t->wds[i] = s; /* inotify hands out one wd per inode: the newest owner wins */
}

static int wd_put(struct tail *t, int wd, struct tail_file *f, size_t dir)
{
	if ((t->wdn + 1) * 2 > t->wdcap) {
		size_t cap = t->wdcap ? t->wdcap * 2 : 64, oldcap = t->wdcap;
		struct wdslot *old = t->wds, *n = calloc(cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->wds = n;
		t->wdcap = cap;
		t->wdn = 0;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].wd)
				wd_insert(t, old[i]);
		free(old);
	}
	wd_insert(t, (struct wdslot){wd, f, dir});
	return 0;
}

static ssize_t wd_find(const struct tail *t, int wd)
{
	size_t i;

	if (!t->wdcap || wd <= 0)
		return -1;
	for (i = wd_home(wd, t->wdcap); t->wds[i].wd; i = (i + 1) & (t->wdcap - 1))
		if (t->wds[i].wd == wd)
			return (ssize_t)i;
	return -1;
}

/* Deletion with backward shift, so lookups never need tombstones. */
static void wd_del(struct tail *t, int wd)
{
	ssize_t at = wd_find(t, wd);
	size_t i, j, mask = t->wdcap - 1;

	if (at < 0)
		return;
	i = j = (size_t)at;
	t->wds[i].wd = 0;
	t->wdn--;
	for (;;) {
		size_t k;
		j = (j + 1) & mask;
		if (!t->wds[j].wd)
			return;
		k = wd_home(t->wds[j].wd, t->wdcap);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			t->wds[i] = t->wds[j];
			t->wds[j].wd = 0;
			i = j;
		}
	}
}

/* ---- poll fallback ---- */

/* Filesystems whose changes made elsewhere never reach local inotify. */
static bool tail_remote_magic(long type)
{
	static const unsigned long magic[] = {
		0x6969,     /* NFS */
		0x517B,     /* SMB */
		0xFF534D42, /* CIFS */
		0xFE534D42, /* SMB2 */
		0x01021997, /* 9P */
		0x5346414F, /* AFS */
		0x00C36400, /* Ceph */
		0x65735546, /* FUSE (sshfs, glusterfs, ...) */
		0x73757245, /* Coda */
		0x01161970, /* GFS2 */
		0x7461636F, /* OCFS2 */
	};

	for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++)
		if ((unsigned long)(unsigned int)type == magic[i])
			return true;
	return false;
}

static int64_t tail_poll_cb(struct loop *l, void *data);

/* The first path polled for each reason is logged; the rest would only repeat it. */
static void tail_poll_path(struct tail *t, const char *path, unsigned reason, const char *why)
{
	if (!(t->poll_logged & (1u << reason)))
		log_warnx("tail", "%s: %s; polling it (and any other path for the same reason) every %d s",
			  path, why, TAIL_POLL_MS / 1000);
	t->poll_logged |= 1u << reason;
	if (!t->poll_timer)
		t->poll_timer = loop_add_timer(t->loop, TAIL_POLL_MS, tail_poll_cb, t);
}

void tail_watch_file(struct tail *t, struct tail_file *f)
{
	char self[64];
	struct statfs sf;
	int wd;

	if (t->once)
		return;
	if (t->ifd < 0) {
		f->poll = true;
		tail_poll_path(t, f->path, 0, t->no_inotify ? "inotify disabled (ONSIDE_TEST_NO_INOTIFY)" :
			       "inotify is not available");
		return;
	}
	if (fstatfs(f->fd, &sf) == 0 && tail_remote_magic((long)sf.f_type)) {
		f->poll = true;
		tail_poll_path(t, f->path, 1, "its filesystem does not deliver inotify events");
		return;
	}
	/* through the descriptor: the watch is on the inode we opened, even if the path moved on */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", f->fd);
	wd = inotify_add_watch(t->ifd, self, FILE_WATCH_MASK);
	if (wd < 0 && errno != ENOSPC)
		wd = inotify_add_watch(t->ifd, f->path, FILE_WATCH_MASK);
	if (wd >= 0 && wd_put(t, wd, f, 0) == 0) {
		f->wd = wd;
		return;
	}
	f->poll = true;
	tail_poll_path(t, f->path, 2, errno == ENOSPC ? "out of inotify watches (fs.inotify.max_user_watches)" :
		       "cannot add an inotify watch");
}

void tail_unwatch_file(struct tail *t, struct tail_file *f)
{
	if (f->wd >= 0) {
		wd_del(t, f->wd);
		if (t->ifd >= 0)
			inotify_rm_watch(t->ifd, f->wd);
	}
	f->wd = -1;
	f->poll = false;
}

/* ---- directories ---- */

static bool tail_magic(const char *s) { return strpbrk(s, "*?[") != NULL; }

/* Watches dir for new matches. Returns -ENOENT (or -ENOTDIR) if it does not exist. */
static int tail_watch_dir(struct tail *t, const char *dir)
{
	size_t slot = t->ndirs;
	struct statfs sf;
	int wd = -1;
	bool poll;

	for (size_t i = 0; i < t->ndirs; i++) {
		if (strcmp(t->dirs[i].dir, dir) != 0)
			continue;
		if (t->dirs[i].wd >= 0 || t->dirs[i].poll)
			return 0;
		slot = i; /* it was removed and is back */
	}
	if (statfs(dir, &sf) < 0)
		return -errno;
	poll = t->ifd < 0 || tail_remote_magic((long)sf.f_type);
	if (!poll && (wd = inotify_add_watch(t->ifd, dir, DIR_WATCH_MASK)) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return -errno;
		poll = true;
	}
	if (slot == t->ndirs) {
		struct dirwatch *d = realloc(t->dirs, (t->ndirs + 1) * sizeof(*d));
		char *copy = strdup(dir);
		if (d)
			t->dirs = d;
		if (!d || !copy) {
			free(copy);
			return -ENOMEM;
		}
		t->dirs[t->ndirs++].dir = copy;
	}
	t->dirs[slot].wd = wd;
	t->dirs[slot].poll = poll;
	if (wd >= 0 && wd_put(t, wd, NULL, slot) < 0)
		t->dirs[slot].poll = poll = true;
	if (poll) {
		t->poll_dirs = true;
		tail_poll_path(t, dir, 3, t->ifd < 0 ? "no inotify" : "no inotify events for this directory");
	}
	return 0;
}

/* A directory that does not exist yet: its nearest existing ancestor is watched, and the creation of
 * a subdirectory sets the watches up again. */
static void tail_watch_upward(struct tail *t, char *dir)
{
	int r;

	while ((r = tail_watch_dir(t, dir[0] ? dir : "/")) == -ENOENT || r == -ENOTDIR) {
		char *slash = strrchr(dir, '/');
		if (!slash || !dir[0])
			return;
		*slash = '\0';
	}
}

static void tail_watch_glob(struct tail *t, const char *pattern)
{
	struct stat st;
	glob_t g;

	if (glob(pattern, GLOB_ONLYDIR, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode))
			tail_watch_dir(t, g.gl_pathv[i]);
	globfree(&g);
}

/* The directories a pattern can match in: its fixed leading part, and (for wildcards in directory
 * names, e.g. /var/log/<any>/purchases.log) every directory that matches each wildcard level. */
static void tail_watch_pattern(struct tail *t, const char *pattern)
{
	char d[PATH_MAX], *slash, *m, *cut;

	if (snprintf(d, sizeof(d), "%s", pattern) >= (int)sizeof(d) || !(slash = strrchr(d, '/')))
		return;
	*slash = '\0';
	if (!(m = strpbrk(d, "*?["))) {
		tail_watch_upward(t, d);
		return;
	}
	for (cut = m; cut > d && *cut != '/'; cut--)
		;
	*cut = '\0';
	tail_watch_upward(t, d);
	*cut = '/';
	for (char *p = m;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (tail_magic(d))
				tail_watch_glob(t, d);
			*p = c;
			if (!c)
				break;
		}
	}
}

void tail_watch_patterns(struct tail *t)
{
	for (size_t i = 0; i < t->cfg->ninputs; i++)
		for (size_t k = 0; k < t->cfg->inputs[i].npaths; k++)
			tail_watch_pattern(t, t->cfg->inputs[i].paths[k]);
}

static void tail_consider_match(struct tail *t, size_t i, const char *path)
{
	(void)i; /* tail_consider finds the input (and the exclusions) itself */
	tail_consider(t, path);
}

static void tail_rescan_globs(struct tail *t)
{
	for (size_t i = 0; i < t->cfg->ninputs; i++)
		tail_each_match(t, i, tail_consider_match);
}

/* Events were lost (IN_Q_OVERFLOW): look at everything again. */
void tail_rescan(struct tail *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		if (f->detached)
			continue;
		f->ready = f->verify = true;
		tail_check_path(t, f);
	}
	tail_watch_patterns(t);
	tail_rescan_globs(t);
}

/* ---- events ---- */

static void tail_file_event(struct tail *t, struct tail_file *f, uint32_t mask)
{
	struct stat st;

	if (mask & IN_IGNORED) {
		wd_del(t, f->wd);
		f->wd = -1;
		return;
	}
	f->ready = f->verify = true;
	f->last_change_ms = f->last_use_ms = loop_now_ms();
	if (mask & IN_MOVE_SELF)
		tail_check_path(t, f); /* renamed: away, or is something else at its path now? */
	if (mask & (IN_ATTRIB | IN_DELETE_SELF)) {
		bool gone = f->fd >= 0 ? fstat(f->fd, &st) == 0 && st.st_nlink == 0 : (mask & IN_DELETE_SELF) != 0;
		if (gone)
			tail_set_rotated(t, f, "deleted");
	}
}

static void tail_dir_event(struct tail *t, size_t di, const struct inotify_event *ev)
{
	char full[PATH_MAX];
	struct tail_file *f;
	struct stat st;

	if (ev->mask & IN_IGNORED) {
		wd_del(t, ev->wd);
		t->dirs[di].wd = -1;
		return;
	}
	if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
		tail_watch_patterns(t); /* a new subdirectory may hold (or come to hold) matches */
		tail_rescan_globs(t);
		return;
	}
	if (!ev->len || snprintf(full, sizeof(full), "%s/%s", t->dirs[di].dir, ev->name) >= (int)sizeof(full))
		return;
	/* a followed file under a new name: rotated away, or followed on if the name matches */
	if ((ev->mask & IN_MOVED_TO) && lstat(full, &st) == 0 && S_ISREG(st.st_mode) &&
	    (f = tail_by_ino(t, st.st_dev, st.st_ino))) {
		tail_renamed(t, f, full);
		return;
	}
	tail_consider(t, full);
}

static void tail_inotify_cb(struct loop *l, int fd, int events, void *data)
{
	struct tail *t = data;
	char b[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)l;
	(void)events;
	while ((n = read(fd, b, sizeof(b))) > 0) {
		for (char *p = b; p < b + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			ssize_t at;
			struct wdslot s;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warnx("tail", "inotify queue overflow; rescanning every file");
				tail_rescan(t);
				continue;
			}
			if ((at = wd_find(t, ev->wd)) < 0)
				continue;
			s = t->wds[at]; /* a copy: handlers may grow the table */
			if (s.f)
				tail_file_event(t, s.f, ev->mask);
			else
				tail_dir_event(t, s.dir, ev);
		}
	}
	t->cbs.wake(t->cbs.data);
}

/* ---- timers ---- */

static void tail_poll_file(struct tail *t, struct tail_file *f)
{
	struct stat st;
	int r = f->fd >= 0 ? fstat(f->fd, &st) : stat(f->path, &st);

	if (r == 0 && f->fd < 0 && (st.st_dev != f->dev || st.st_ino != f->ino))
		r = -1;
	if (r == 0 && (uint64_t)st.st_size != f->size) {
		f->ready = f->verify = true;
		f->last_change_ms = f->last_use_ms = loop_now_ms();
	}
	if (r == 0 && f->fd >= 0 && st.st_nlink == 0)
		tail_set_rotated(t, f, "deleted");
	tail_check_path(t, f);
}

static int64_t tail_poll_cb(struct loop *l, void *data)
{
	struct tail *t = data;
	bool any = t->poll_dirs;

	(void)l;
	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		if (!f->poll || f->detached)
			continue;
		any = true;
		tail_poll_file(t, f);
	}
	if (t->poll_dirs)
		tail_rescan_globs(t);
	t->cbs.wake(t->cbs.data);
	if (!any) {
		t->poll_timer = 0;
		return LOOP_TIMER_STOP;
	}
	return TAIL_POLL_MS;
}

static int64_t tail_idle_cb(struct loop *l, void *data)
{
	struct tail *t = data;
	uint64_t now = loop_now_ms(), next = 0;
	bool any = false;

	(void)l;
	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		uint64_t due;
		if (f->fd < 0 || f->rotated || f->detached || f->ready)
			continue;
		if (now - f->last_use_ms >= t->idle_ms) {
			log_debug("tail", "%s: idle, closing its descriptor", f->path);
			tail_close_fd(t, f);
			continue;
		}
		due = t->idle_ms - (now - f->last_use_ms);
		next = !any || due < next ? due : next;
		any = true;
	}
	if (!any) {
		t->idle_timer = 0;
		return LOOP_TIMER_STOP;
	}
	return (int64_t)(next < 100 ? 100 : next);
}

void tail_arm_idle(struct tail *t)
{
	if (!t->once && !t->idle_timer && t->idle_ms && t->nopen)
		t->idle_timer = loop_add_timer(t->loop, (int64_t)t->idle_ms, tail_idle_cb, t);
}

/* ---- life cycle ---- */

int tail_watch_start(struct tail *t)
{
	int r;

	if (!t->no_inotify) {
		t->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (t->ifd < 0)
			log_warn("tail", "cannot use inotify; every path is polled");
	}
	if (t->ifd >= 0 && (r = loop_add_fd(t->loop, t->ifd, LOOP_READ, tail_inotify_cb, t)) < 0)
		return r;
	tail_watch_patterns(t);
	return 0;
}

void tail_watch_free(struct tail *t)
{
	for (size_t i = 0; i < t->ndirs; i++)
		free(t->dirs[i].dir);
	if (t->ifd >= 0) {
		loop_del_fd(t->loop, t->ifd);
		close(t->ifd);
	}
	if (t->poll_timer)
		loop_del_timer(t->loop, t->poll_timer);
	if (t->idle_timer)
		loop_del_timer(t->loop, t->idle_timer);
	free(t->dirs);
	free(t->wds);
}
