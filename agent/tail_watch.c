/* Knowing when to read (see tail_int.h for where this sits): inotify watches on followed files and on
 * the directories their globs can match in (new subdirectories, directories through symlinks, and the
 * nearest existing ancestor of one that does not exist yet), the slow stat poll for paths without
 * inotify events (network filesystems, no watches left, the test knob), the overflow rescan, idle
 * descriptors, and the rotate timer. It records what it sees (flags on files, paths waiting in
 * t->pending, rescans asked for) and wakes the agent; tail_process acts on it in the agent's turn.
 * Idle means idle: the poll timer runs only while some path needs it, the idle timer only while some
 * descriptor is open. */
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
#include "xalloc.h"

#ifndef GLOB_ONLYDIR /* a GNU hint (matches are stat()ed below anyway); musl has none */
#define GLOB_ONLYDIR 0
#endif

#define FILE_WATCH_MASK (IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)
#define DIR_WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_MOVE_SELF | IN_ONLYDIR)

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

static int tail_watch_dir(struct tail *t, const char *dir);

/* A symlink on the way to dir (/var/log/app/current -> v2) can be switched to another directory:
 * the directory holding each such link is watched too, so that the switch is seen (tail_relink). */
static void tail_watch_links(struct tail *t, const char *dir)
{
	char p[PATH_MAX];
	struct stat st;

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return;
	for (char *slash = strrchr(p, '/'); slash && slash > p; slash = strrchr(p, '/')) {
		if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode)) {
			*slash = '\0';
			tail_watch_dir(t, p);
			continue;
		}
		*slash = '\0';
	}
}

/* Watches dir for new matches. Returns -ENOENT (or -ENOTDIR) if it does not exist. */
static int tail_watch_dir(struct tail *t, const char *dir)
{
	size_t slot = t->ndirs;
	struct statfs sf;
	struct stat st;
	int wd = -1;
	bool poll;

	for (size_t i = 0; i < t->ndirs; i++) {
		if (strcmp(t->dirs[i].dir, dir) != 0)
			continue;
		if (t->dirs[i].wd >= 0 || t->dirs[i].poll)
			return 0;
		slot = i; /* it was removed and is back */
	}
	if (statfs(dir, &sf) < 0 || stat(dir, &st) < 0)
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
	t->dirs[slot].dev = st.st_dev;
	t->dirs[slot].ino = st.st_ino;
	if (wd >= 0 && wd_put(t, wd, NULL, slot) < 0)
		t->dirs[slot].poll = poll = true;
	tail_watch_links(t, dir);
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

/* ---- events ---- */

/* A path for tail_process to look at; too many waiting: one rescan instead. */
static void tail_pend(struct tail *t, const char *path, bool moved_to)
{
	if (t->rescan)
		return;
	if (t->npending == TAIL_PENDING_MAX) {
		for (size_t i = 0; i < t->npending; i++)
			free(t->pending[i].path);
		t->npending = 0;
		t->rescan = true;
		return;
	}
	if (!t->pending)
		t->pending = xcalloc(TAIL_PENDING_MAX, sizeof(*t->pending));
	t->pending[t->npending++] = (struct tail_pending){xstrdup(path), moved_to};
}

static void tail_file_event(struct tail *t, struct tail_file *f, uint32_t mask)
{
	struct stat st;

	if (mask & IN_IGNORED) {
		wd_del(t, f->wd);
		f->wd = -1;
		return;
	}
	f->ready = f->verify = true;
	f->last_change_ms = loop_now_ms();
	tail_touch(t, f);
	if (mask & IN_MOVE_SELF)
		f->check_path = t->flagged = true; /* renamed: away, or is something else at its path now? */
	if (mask & (IN_ATTRIB | IN_DELETE_SELF)) {
		bool gone = f->fd >= 0 ? fstat(f->fd, &st) == 0 && st.st_nlink == 0 : (mask & IN_DELETE_SELF) != 0;
		if (gone)
			f->gone = t->flagged = true;
	}
}

/* Drops the watch of directory slot di (without removing an inotify watch another slot shares). */
static void tail_drop_dirwatch(struct tail *t, size_t di, bool rm)
{
	int wd = t->dirs[di].wd;
	bool shared = false;

	if (wd < 0)
		return;
	t->dirs[di].wd = -1;
	for (size_t i = 0; i < t->ndirs; i++)
		shared |= t->dirs[i].wd == wd;
	if (shared)
		return;
	wd_del(t, wd);
	if (rm)
		inotify_rm_watch(t->ifd, wd);
}

bool tail_watch_relink(struct tail *t)
{
	bool moved = false;

	for (size_t i = 0; i < t->ndirs; i++) {
		struct stat st;
		if (t->dirs[i].wd < 0 || stat(t->dirs[i].dir, &st) < 0 ||
		    (st.st_dev == t->dirs[i].dev && st.st_ino == t->dirs[i].ino))
			continue;
		log_info("tail", "%s: now names another directory; following it there", t->dirs[i].dir);
		tail_drop_dirwatch(t, i, true);
		moved = true;
	}
	return moved;
}

static void tail_dir_event(struct tail *t, size_t di, const struct inotify_event *ev)
{
	char full[PATH_MAX];
	struct stat st;

	if (ev->mask & (IN_IGNORED | IN_MOVE_SELF)) {
		/* a directory on the way to the matches went away (deleted, renamed): its path is watched
		 * again, or its nearest existing ancestor until it is back, and everything is looked at again
		 * (a recreated directory may already hold files) */
		log_info("tail", "%s: directory %s; watching for it to come back", t->dirs[di].dir,
			 (ev->mask & IN_MOVE_SELF) ? "moved" : "removed");
		tail_drop_dirwatch(t, di, (ev->mask & IN_MOVE_SELF) != 0);
		t->rewatch = t->rescan = true;
		return;
	}
	if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
		t->rewatch = t->rescan_globs = true; /* a new subdirectory may hold (or come to hold) matches */
		return;
	}
	if (!ev->len || snprintf(full, sizeof(full), "%s/%s", t->dirs[di].dir, ev->name) >= (int)sizeof(full))
		return;
	/* a symlink created or replaced: a watched path through it may now name another directory */
	if (lstat(full, &st) == 0 && S_ISLNK(st.st_mode) && stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
		t->relink = true;
		return;
	}
	tail_pend(t, full, (ev->mask & IN_MOVED_TO) != 0);
}

/* Events were lost: every file and every glob is looked at again. */
static void tail_overflow(struct tail *t)
{
	log_warnx("tail", "inotify queue overflow; rescanning every file");
	t->rescan = true;
}

static void tail_inotify_cb(struct loop *l, int fd, int events, void *data)
{
	struct tail *t = data;
	char b[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	unsigned seen = 0;
	ssize_t n;

	(void)l;
	(void)events;
	while ((n = read(fd, b, sizeof(b))) > 0) {
		for (char *p = b; p < b + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			ssize_t at;
			struct wdslot s;

			p += sizeof(*ev) + ev->len;
			/* the test knob: a queue of queue_max events overflowed, as the kernel's does (the
			 * first events, then IN_Q_OVERFLOW; the rest is lost) */
			if (t->queue_max && ++seen > t->queue_max) {
				tail_overflow(t);
				break;
			}
			if (ev->mask & IN_Q_OVERFLOW) {
				tail_overflow(t);
				continue;
			}
			if ((at = wd_find(t, ev->wd)) < 0)
				continue;
			s = t->wds[at];
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
		f->last_change_ms = loop_now_ms();
		tail_touch(t, f);
	}
	if (r == 0 && f->fd >= 0 && st.st_nlink == 0)
		f->gone = true;
	f->check_path = t->flagged = true; /* no events: renames are seen by looking */
}

static int64_t tail_poll_cb(struct loop *l, void *data)
{
	struct tail *t = data;
	bool any = t->poll_dirs;

	(void)l;
	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		if (!f->poll)
			continue;
		any = true;
		tail_poll_file(t, f);
	}
	if (t->poll_dirs)
		t->rescan_globs = true;
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
		if (f->fd < 0 || f->state == TAIL_ROTATED || f->ready)
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

static int64_t tail_rotate_cb(struct loop *l, void *data)
{
	struct tail *t = data;

	(void)l;
	t->rotate_timer = 0;
	t->rotate_due = true;
	t->cbs.wake(t->cbs.data);
	return LOOP_TIMER_STOP;
}

void tail_arm_rotate(struct tail *t, uint64_t ms)
{
	if (t->once)
		return;
	if (t->rotate_timer && loop_reset_timer(t->loop, t->rotate_timer, (int64_t)ms) == 0)
		return;
	t->rotate_timer = loop_add_timer(t->loop, (int64_t)ms, tail_rotate_cb, t);
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
	if (t->rotate_timer)
		loop_del_timer(t->loop, t->rotate_timer);
	for (size_t i = 0; i < t->npending; i++)
		free(t->pending[i].path);
	free(t->pending);
	free(t->dirs);
	free(t->wds);
}
