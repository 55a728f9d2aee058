#include "tail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define TAIL_CHUNK (1u << 20)
#define FILE_WATCH_MASK (IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)
#define DIR_WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_ATTRIB)

struct dirwatch {
	int wd;
	char *dir;
};

struct tail {
	struct loop *loop;
	const struct config *cfg;
	struct tail_cbs cbs;
	int ifd; /* inotify */
	bool once;
	struct tail_file **files;
	size_t n, cap;
	size_t rr; /* round-robin start for tail_read */
	struct dirwatch *dirs;
	size_t ndirs;
	struct checkpoint *kept; /* checkpoint entries not matched to an open file */
	char *chunk;
	uint64_t rotate_timer;
	struct tail_file *cur; /* the file whose lines are being handed out */
};

static void tail_file_free(struct tail_file *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	lines_free(&f->ls);
	eventid_file_free(f->idf);
	free(f->marks);
	free(f->path);
	free(f);
}

/* ---- identity: fingerprint and check hash ---- */

/* The first line's fingerprint: its bytes before the first LF (CR included), at most 4096. A file
 * whose only line has no LF yet (read at the end by run --once) is fingerprinted as it is. */
static void tail_fingerprint(int fd, char ret[65])
{
	char b[EVENTID_FINGERPRINT_MAX];
	ssize_t n = pread(fd, b, sizeof(b), 0);
	char *lf;

	ret[0] = '\0';
	if (n <= 0)
		return;
	lf = memchr(b, '\n', (size_t)n);
	eventid_fingerprint(b, lf ? (size_t)(lf - b) : (size_t)n, ret);
}

/* SHA-256 of the bytes just before offset: proves a saved offset still points into the same bytes. */
static int tail_check_hash(int fd, uint64_t offset, char ret[65])
{
	char b[CHECKPOINT_CHECK_BYTES];
	size_t want = offset < sizeof(b) ? (size_t)offset : sizeof(b);
	ssize_t n = pread(fd, b, want, (off_t)(offset - want));

	if (n != (ssize_t)want)
		return -EIO;
	eventid_fingerprint(b, want, ret);
	return 0;
}

static bool tail_entry_valid(int fd, const struct stat *st, const struct checkpoint_entry *e)
{
	char fp[65], check[65];

	if ((uint64_t)st->st_size < e->offset)
		return false;
	tail_fingerprint(fd, fp);
	if (strcmp(fp, e->fingerprint) != 0)
		return false;
	if (e->check[0] == '\0')
		return e->offset == 0;
	return tail_check_hash(fd, e->offset, check) == 0 && strcmp(check, e->check) == 0;
}

static const struct checkpoint_entry *tail_find_entry(struct tail *t, const struct stat *st, size_t *ret_i)
{
	for (size_t i = 0; t->kept && i < t->kept->n; i++) {
		const struct checkpoint_entry *e = &t->kept->e[i];
		if (e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino) {
			*ret_i = i;
			return e;
		}
	}
	return NULL;
}

static void tail_drop_entry(struct tail *t, size_t i)
{
	struct checkpoint_entry *e = &t->kept->e[i];

	free(e->path);
	free(e->input);
	free(e->last_error);
	memmove(e, e + 1, (t->kept->n - i - 1) * sizeof(*e));
	t->kept->n--;
}

/* start_at end: after the last complete line, so a line being written is read whole. */
static uint64_t tail_end_offset(int fd, uint64_t size)
{
	char b[4096];
	uint64_t pos = size;

	while (pos > 0) {
		size_t want = pos < sizeof(b) ? (size_t)pos : sizeof(b);
		ssize_t n = pread(fd, b, want, (off_t)(pos - want));
		char *lf;
		if (n != (ssize_t)want)
			return size;
		lf = memrchr(b, '\n', want);
		if (lf)
			return pos - want + (uint64_t)(lf - b) + 1;
		pos -= want;
	}
	return 0;
}

/* ---- the set of files ---- */

static struct tail_file *tail_by_ino(struct tail *t, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->files[i]->dev == dev && t->files[i]->ino == ino && t->files[i]->fd >= 0)
			return t->files[i];
	return NULL;
}

static struct tail_file *tail_by_wd(struct tail *t, int wd)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->files[i]->wd == wd)
			return t->files[i];
	return NULL;
}

static int tail_push(struct tail *t, struct tail_file *f)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct tail_file **p = realloc(t->files, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->files = p;
		t->cap = cap;
	}
	t->files[t->n++] = f;
	return 0;
}

static void tail_remove(struct tail *t, size_t i)
{
	struct tail_file *f = t->files[i];

	if (f->wd >= 0 && t->ifd >= 0)
		inotify_rm_watch(t->ifd, f->wd);
	tail_file_free(f);
	memmove(&t->files[i], &t->files[i + 1], (t->n - i - 1) * sizeof(t->files[0]));
	t->n--;
}

static void tail_set_rotated(struct tail *t, struct tail_file *f, const char *why);

/* Opens path as a new followed file. initial: found at start (start_at and checkpoint apply). */
static int tail_open(struct tail *t, const char *path, size_t input, bool initial, bool rotated)
{
	const struct config_input *in = &t->cfg->inputs[input];
	struct tail_file *f;
	struct stat st;
	uint64_t offset = 0;
	size_t ei;
	const struct checkpoint_entry *e;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		log_warn("tail", "cannot open %s", path);
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || tail_by_ino(t, st.st_dev, st.st_ino)) {
		close(fd);
		return 0;
	}
	e = tail_find_entry(t, &st, &ei);
	if (e && tail_entry_valid(fd, &st, e)) {
		offset = e->offset;
		log_debug("tail", "%s: resuming at offset %llu", path, (unsigned long long)offset);
	} else if (e) {
		log_info("tail", "%s: content changed since the checkpoint; reading it from the start", path);
	} else if (initial && in->start_at == START_AT_END) {
		offset = tail_end_offset(fd, (uint64_t)st.st_size);
	}
	if (e)
		tail_drop_entry(t, ei);

	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		free(f);
		close(fd);
		return -ENOMEM;
	}
	f->fd = fd;
	f->wd = -1;
	f->input = input;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = (uint64_t)st.st_size;
	f->committed = offset;
	f->stop_at = t->once ? (uint64_t)st.st_size : UINT64_MAX;
	f->ready = true;
	f->last_change_ms = loop_now_ms();
	f->check_offset = UINT64_MAX;
	lines_init(&f->ls, offset, in->max_line_bytes);
	if (!t->once) {
		f->wd = inotify_add_watch(t->ifd, path, FILE_WATCH_MASK);
		if (f->wd < 0)
			log_warn("tail", "%s: cannot watch for appends", path);
	}
	if ((r = tail_push(t, f)) < 0) {
		tail_file_free(f);
		return r;
	}
	if (rotated)
		tail_set_rotated(t, f, "found under a rotated name");
	log_info("tail", "following %s (input %s) from offset %llu", path, in->name,
		 (unsigned long long)offset);
	return 0;
}

static bool tail_excluded(const struct config_input *in, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < in->nexclude; i++)
		if (fnmatch(in->exclude[i], path, FNM_PATHNAME) == 0 || fnmatch(in->exclude[i], base, 0) == 0)
			return true;
	return false;
}

/* Which input a path belongs to, or -1. */
static ssize_t tail_match(struct tail *t, const char *path)
{
	for (size_t i = 0; i < t->cfg->ninputs; i++) {
		const struct config_input *in = &t->cfg->inputs[i];
		for (size_t k = 0; k < in->npaths; k++)
			if (fnmatch(in->paths[k], path, FNM_PATHNAME) == 0 && !tail_excluded(in, path))
				return (ssize_t)i;
	}
	return -1;
}

/* ---- rotation ---- */

static int64_t tail_rotate_timer(struct loop *l, void *data);

static void tail_set_rotated(struct tail *t, struct tail_file *f, const char *why)
{
	if (f->rotated)
		return;
	f->rotated = true;
	f->ready = true; /* its unread tail is still readable through the open descriptor */
	log_info("tail", "%s: %s; reading it to its end", f->path, why);
	if (!t->rotate_timer && !t->once)
		t->rotate_timer = loop_add_timer(t->loop, (int64_t)t->cfg->inputs[f->input].rotate_wait_ms,
						 tail_rotate_timer, t);
}

/* A rotated file is closed once read to its end, delivered, and quiet for rotate_wait. */
static bool tail_finished(const struct tail *t, const struct tail_file *f, uint64_t now)
{
	uint64_t wait = t->cfg->inputs[f->input].rotate_wait_ms;

	return f->rotated && !f->ready && f->mlen == 0 && f->committed >= f->ls.offset &&
	       now - f->last_change_ms >= wait;
}

static int64_t tail_rotate_timer(struct loop *l, void *data)
{
	struct tail *t = data;
	uint64_t now = loop_now_ms(), next = 0;
	bool any = false;

	(void)l;
	for (size_t i = 0; i < t->n;) {
		struct tail_file *f = t->files[i];
		if (tail_finished(t, f, now)) {
			log_info("tail", "%s: rotated file done, closing it", f->path);
			tail_remove(t, i);
			continue;
		}
		if (f->rotated) {
			uint64_t wait = t->cfg->inputs[f->input].rotate_wait_ms;
			uint64_t due = now - f->last_change_ms >= wait ? 1000 : wait - (now - f->last_change_ms);
			next = !any || due < next ? due : next;
			any = true;
		}
		i++;
	}
	if (!any) {
		t->rotate_timer = 0;
		return LOOP_TIMER_STOP;
	}
	return (int64_t)(next < 100 ? 100 : next);
}

/* A path we follow may now name another file (rename-and-create, symlink switch), or the file at a
 * path may have been truncated (copytruncate). */
static void tail_consider(struct tail *t, const char *path)
{
	ssize_t in = tail_match(t, path);
	struct tail_file *same;
	struct stat st;

	if (in < 0 || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	same = tail_by_ino(t, st.st_dev, st.st_ino);
	if (same) {
		/* renamed to another matching name: same file, keep following it */
		if (strcmp(same->path, path) != 0 && same->rotated) {
			char *p = strdup(path);
			if (p) {
				free(same->path);
				same->path = p;
				same->rotated = false;
			}
		}
		same->ready = true;
		return;
	}
	for (size_t i = 0; i < t->n; i++)
		if (!t->files[i]->rotated && strcmp(t->files[i]->path, path) == 0)
			tail_set_rotated(t, t->files[i], "replaced by a new file");
	tail_open(t, path, (size_t)in, false, false);
}

static void tail_watch_dir(struct tail *t, const char *pattern)
{
	char *copy = strdup(pattern), *dir;
	struct dirwatch *d;
	int wd;

	if (!copy)
		return;
	dir = dirname(copy);
	for (size_t i = 0; i < t->ndirs; i++) {
		if (strcmp(t->dirs[i].dir, dir) == 0) {
			free(copy);
			return;
		}
	}
	wd = inotify_add_watch(t->ifd, dir, DIR_WATCH_MASK | IN_ONLYDIR);
	if (wd < 0) {
		log_warn("tail", "cannot watch directory %s for new files", dir);
		free(copy);
		return;
	}
	d = realloc(t->dirs, (t->ndirs + 1) * sizeof(*d));
	if (!d || !(dir = strdup(dir))) {
		free(copy);
		return;
	}
	t->dirs = d;
	t->dirs[t->ndirs++] = (struct dirwatch){wd, dir};
	free(copy);
}

/* Looks for the file of checkpoint entry e in the directory of its old path, under any name. */
static void tail_find_one(struct tail *t, const struct checkpoint_entry *e)
{
	char dir[PATH_MAX], full[PATH_MAX];
	uint64_t dev = e->dev, ino = e->ino;
	ssize_t in = -1;
	struct dirent *de;
	char *slash;
	DIR *d;

	for (size_t k = 0; k < t->cfg->ninputs; k++)
		if (e->input && strcmp(e->input, t->cfg->inputs[k].name) == 0)
			in = (ssize_t)k;
	if (in < 0 || snprintf(dir, sizeof(dir), "%s", e->path) >= (int)sizeof(dir))
		return;
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = '\0';
	d = opendir(dir[0] ? dir : "/");
	while (d && (de = readdir(d))) {
		struct stat st;
		if (snprintf(full, sizeof(full), "%s/%s", dir, de->d_name) >= (int)sizeof(full))
			continue;
		if (stat(full, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino) {
			/* e is dropped from t->kept by tail_open when it is used */
			tail_open(t, full, (size_t)in, true, true);
			break;
		}
	}
	if (d)
		closedir(d);
}

/* Files that were rotated while the agent was stopped: a checkpoint entry whose file no longer sits
 * at its path but is still in the same directory under another name (matching `paths` or not). */
static void tail_find_moved(struct tail *t)
{
	size_t i = 0;

	while (t->kept && i < t->kept->n) {
		size_t before = t->kept->n;
		tail_find_one(t, &t->kept->e[i]);
		if (t->kept->n == before)
			i++;
	}
}

static void tail_inotify_cb(struct loop *l, int fd, int events, void *data);

struct tail *tail_new(struct loop *l, const struct config *cfg, const struct tail_cbs *cbs)
{
	struct tail *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->loop = l;
	t->cfg = cfg;
	t->cbs = *cbs;
	t->ifd = -1;
	t->chunk = malloc(TAIL_CHUNK);
	if (!t->chunk) {
		free(t);
		return NULL;
	}
	return t;
}

void tail_free(struct tail *t)
{
	if (!t)
		return;
	while (t->n)
		tail_remove(t, t->n - 1);
	for (size_t i = 0; i < t->ndirs; i++)
		free(t->dirs[i].dir);
	if (t->ifd >= 0) {
		loop_del_fd(t->loop, t->ifd);
		close(t->ifd);
	}
	if (t->rotate_timer)
		loop_del_timer(t->loop, t->rotate_timer);
	checkpoint_free(t->kept);
	free(t->dirs);
	free(t->files);
	free(t->chunk);
	free(t);
}

static int tail_copy_checkpoint(struct tail *t, const struct checkpoint *cp)
{
	t->kept = checkpoint_new();
	if (!t->kept)
		return -ENOMEM;
	for (size_t i = 0; cp && i < cp->n; i++) {
		int r = checkpoint_add(t->kept, &cp->e[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int tail_start(struct tail *t, const struct checkpoint *cp, bool once)
{
	int r;

	t->once = once;
	if ((r = tail_copy_checkpoint(t, cp)) < 0)
		return r;
	if (!once) {
		t->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (t->ifd < 0)
			return -errno;
		if ((r = loop_add_fd(t->loop, t->ifd, LOOP_READ, tail_inotify_cb, t)) < 0)
			return r;
	}
	for (size_t i = 0; i < t->cfg->ninputs; i++) {
		const struct config_input *in = &t->cfg->inputs[i];
		for (size_t k = 0; k < in->npaths; k++) {
			glob_t g;
			if (!once)
				tail_watch_dir(t, in->paths[k]);
			if (glob(in->paths[k], 0, NULL, &g) != 0)
				continue;
			for (size_t j = 0; j < g.gl_pathc; j++)
				if (!tail_excluded(in, g.gl_pathv[j]))
					tail_open(t, g.gl_pathv[j], i, true, false);
			globfree(&g);
		}
	}
	tail_find_moved(t);
	return 0;
}

/* ---- inotify ---- */

static void tail_rescan(struct tail *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->files[i]->ready = true;
	for (size_t i = 0; i < t->cfg->ninputs; i++) {
		const struct config_input *in = &t->cfg->inputs[i];
		for (size_t k = 0; k < in->npaths; k++) {
			glob_t g;
			if (glob(in->paths[k], 0, NULL, &g) != 0)
				continue;
			for (size_t j = 0; j < g.gl_pathc; j++)
				tail_consider(t, g.gl_pathv[j]);
			globfree(&g);
		}
	}
}

static void tail_file_event(struct tail *t, struct tail_file *f, uint32_t mask)
{
	struct stat st;

	if (mask & IN_IGNORED) {
		f->wd = -1;
		return;
	}
	f->ready = true;
	f->last_change_ms = loop_now_ms();
	if (mask & IN_MOVE_SELF)
		tail_consider(t, f->path); /* renamed: is something else at its path now? */
	if ((mask & (IN_ATTRIB | IN_DELETE_SELF)) && fstat(f->fd, &st) == 0 && st.st_nlink == 0)
		tail_set_rotated(t, f, "deleted");
	if ((mask & IN_MOVE_SELF) && !f->rotated) {
		if (stat(f->path, &st) < 0 || st.st_ino != f->ino || st.st_dev != f->dev)
			tail_set_rotated(t, f, "renamed away");
	}
}

static void tail_dir_event(struct tail *t, const struct dirwatch *d, const struct inotify_event *ev)
{
	char full[PATH_MAX];

	if (!ev->len || !(ev->mask & (IN_CREATE | IN_MOVED_TO | IN_ATTRIB)))
		return;
	if (snprintf(full, sizeof(full), "%s/%s", d->dir, ev->name) >= (int)sizeof(full))
		return;
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
			struct tail_file *f;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warnx("tail", "inotify queue overflow; rescanning every file");
				tail_rescan(t);
				continue;
			}
			for (size_t i = 0; i < t->ndirs; i++)
				if (t->dirs[i].wd == ev->wd)
					tail_dir_event(t, &t->dirs[i], ev);
			if ((f = tail_by_wd(t, ev->wd)))
				tail_file_event(t, f, ev->mask);
		}
	}
	t->cbs.wake(t->cbs.data);
}

/* ---- reading ---- */

static int tail_line_cb(void *data, const char *line, size_t len, uint64_t full, uint64_t offset,
			uint64_t end)
{
	struct tail *t = data;
	struct tail_file *f = t->cur;

	if (!f->idf) {
		const char *ns = t->cfg->agent.id_namespace;
		const char *name = t->cfg->inputs[f->input].name;
		tail_fingerprint(f->fd, f->fp);
		f->idf = eventid_file_new(ns, strlen(ns), name, strlen(name), f->fp);
		if (!f->idf)
			return -ENOMEM;
	}
	f->lines_read++;
	return t->cbs.line(t->cbs.data, f, line, len, full, offset, end);
}

/* copytruncate or a rewrite: the file is shorter than what we read. The old content's pending
 * marks stay with a detached record (no descriptor) so the checkpoint order holds; the file itself
 * is read again from the start with a new fingerprint. */
static int tail_truncated(struct tail *t, struct tail_file *f)
{
	struct tail_file *old = calloc(1, sizeof(*old));

	if (!old || !(old->path = strdup(f->path))) {
		free(old);
		return -ENOMEM;
	}
	log_info("tail", "%s: truncated; reading it from the start", f->path);
	old->fd = -1;
	old->wd = -1;
	old->input = f->input;
	old->rotated = true;
	old->committed = f->committed;
	old->marks = f->marks;
	old->mhead = f->mhead;
	old->mlen = f->mlen;
	old->mcap = f->mcap;
	lines_init(&old->ls, f->ls.offset, 1);
	old->check_offset = UINT64_MAX;
	f->marks = NULL;
	f->mhead = f->mlen = f->mcap = 0;
	f->committed = 0;
	f->fp[0] = '\0';
	eventid_file_free(f->idf);
	f->idf = NULL;
	lines_reset(&f->ls, 0);
	f->check_offset = UINT64_MAX;
	if (tail_push(t, old) < 0) {
		tail_file_free(old);
		return -ENOMEM;
	}
	return 0;
}

/* Reads one chunk of f. Returns bytes read (0 at its end) or a negative errno. */
static ssize_t tail_read_file(struct tail *t, struct tail_file *f)
{
	uint64_t want = f->stop_at - f->ls.offset;
	struct stat st;
	ssize_t n;
	int r;

	if (f->ls.offset >= f->stop_at || f->fd < 0)
		return 0;
	if (want > TAIL_CHUNK)
		want = TAIL_CHUNK;
	n = pread(f->fd, t->chunk, (size_t)want, (off_t)f->ls.offset);
	if (n < 0)
		return errno == EINTR ? 1 : -errno;
	if (n == 0) {
		if (fstat(f->fd, &st) == 0) {
			f->size = (uint64_t)st.st_size;
			if ((uint64_t)st.st_size < f->ls.offset && !f->rotated && !t->once) {
				if ((r = tail_truncated(t, f)) < 0)
					return r;
				return 1;
			}
		}
		return 0;
	}
	if (f->ls.offset + (uint64_t)n > f->size)
		f->size = f->ls.offset + (uint64_t)n;
	t->cur = f;
	r = lines_feed(&f->ls, t->chunk, (size_t)n, tail_line_cb, t);
	t->cur = NULL;
	return r < 0 ? r : n;
}

int tail_read(struct tail *t, size_t budget, bool *ret_more)
{
	size_t spent = 0;
	bool more = false;

	for (size_t k = 0; k < t->n && spent < budget; k++) {
		size_t i = (t->rr + k) % t->n;
		struct tail_file *f = t->files[i];
		ssize_t n;

		if (!f->ready)
			continue;
		n = tail_read_file(t, f);
		if (n == -EAGAIN) { /* the agent has no room for more batches */
			more = true;
			break;
		}
		if (n < 0) {
			log_errorx("tail", "%s: read failed: %s", f->path, strerror((int)-n));
			f->ready = false;
			continue;
		}
		if (n == 0)
			f->ready = false;
		spent += (size_t)n;
	}
	t->rr = t->n ? (t->rr + 1) % t->n : 0;
	for (size_t i = 0; i < t->n && !more; i++)
		more = t->files[i]->ready;
	*ret_more = more;
	return 0;
}

bool tail_once_read(struct tail *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct tail_file *f = t->files[i];
		if (f->fd >= 0 && (f->ls.offset < f->stop_at || lines_pending(&f->ls)))
			return false;
	}
	return true;
}

uint64_t tail_once_flush_partials(struct tail *t, uint64_t quiet_ms)
{
	uint64_t wait = 0;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		struct stat st;
		int64_t age_ms;

		if (f->fd < 0 || f->ls.offset < f->stop_at || !lines_pending(&f->ls))
			continue;
		if (fstat(f->fd, &st) < 0)
			continue;
		age_ms = (int64_t)(now.tv_sec - st.st_mtim.tv_sec) * 1000 +
			 (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
		if ((uint64_t)st.st_size == f->stop_at && age_ms >= (int64_t)quiet_ms) {
			t->cur = f;
			lines_flush(&f->ls, tail_line_cb, t);
			t->cur = NULL;
		} else if ((uint64_t)st.st_size != f->stop_at) {
			/* it grew: the final line got its LF or more; the bytes up to the size at start
			 * were read, so the partial line is left for the next run */
			lines_reset(&f->ls, f->ls.start);
			f->stop_at = f->ls.offset;
		} else {
			uint64_t left = quiet_ms - (uint64_t)age_ms;
			wait = !wait || left < wait ? left : wait;
		}
	}
	return wait;
}

/* ---- the ledger ---- */

void tail_mark(struct tail_file *f, struct ack *ack, uint64_t end)
{
	struct mark *last;

	if (f->mlen) {
		last = &f->marks[(f->mhead + f->mlen - 1) % f->mcap];
		if (last->ack == ack) {
			last->end = end;
			return;
		}
	}
	if (f->mlen == f->mcap) {
		/* grow the ring, unrolling it so that the head is at 0 */
		size_t cap = f->mcap ? f->mcap * 2 : 8;
		struct mark *m = malloc(cap * sizeof(*m));
		if (!m)
			abort(); /* the ledger cannot lose a mark; a few bytes are never unavailable */
		for (size_t i = 0; i < f->mlen; i++)
			m[i] = f->marks[(f->mhead + i) % f->mcap];
		free(f->marks);
		f->marks = m;
		f->mhead = 0;
		f->mcap = cap;
	}
	f->marks[(f->mhead + f->mlen) % f->mcap] = (struct mark){ack, end};
	f->mlen++;
	ack->refs++;
}

void tail_mark_done(struct tail_file *f, uint64_t end)
{
	if (f->mlen)
		f->marks[(f->mhead + f->mlen - 1) % f->mcap].end = end; /* done with the batch before it */
	else
		f->committed = end;
}

bool tail_advance(struct tail *t)
{
	bool moved = false;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	for (size_t i = 0; i < t->n;) {
		struct tail_file *f = t->files[i];

		while (f->mlen && f->marks[f->mhead].ack->done) {
			struct mark *m = &f->marks[f->mhead];
			f->committed = m->end;
			f->last_delivery = ts.tv_sec;
			ack_put(m->ack);
			f->mhead = (f->mhead + 1) % f->mcap;
			f->mlen--;
			moved = true;
		}
		/* a detached record of truncated content has nothing left to say once its marks are done */
		if (f->fd < 0 && f->mlen == 0) {
			tail_remove(t, i);
			continue;
		}
		i++;
	}
	return moved;
}

/* ---- checkpoint ---- */

static int tail_entry(struct tail *t, struct tail_file *f, int64_t now, struct checkpoint *cp)
{
	struct checkpoint_entry e = {0};

	if (f->check_offset != f->committed) {
		if (f->committed == 0)
			f->check[0] = '\0';
		else if (tail_check_hash(f->fd, f->committed, f->check) < 0)
			return 0; /* unreadable now (truncated under us): the next save will tell */
		f->check_offset = f->committed;
	}
	if (f->fp[0] == '\0' && f->committed > 0)
		tail_fingerprint(f->fd, f->fp);
	e.path = f->path;
	e.input = (char *)t->cfg->inputs[f->input].name;
	memcpy(e.fingerprint, f->fp, sizeof(e.fingerprint));
	e.dev = (uint64_t)f->dev;
	e.ino = (uint64_t)f->ino;
	e.offset = f->committed;
	memcpy(e.check, f->check, sizeof(e.check));
	e.size = f->size;
	e.last_delivery = f->last_delivery;
	e.updated = now;
	return checkpoint_add(cp, &e);
}

int tail_checkpoint(struct tail *t, struct checkpoint **ret)
{
	struct checkpoint *cp = checkpoint_new();
	struct timespec ts;
	int r = 0;

	if (!cp)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &ts);
	for (size_t i = 0; i < t->n && r == 0; i++)
		if (t->files[i]->fd >= 0)
			r = tail_entry(t, t->files[i], ts.tv_sec, cp);
	for (size_t i = 0; t->kept && i < t->kept->n && r == 0; i++)
		r = checkpoint_add(cp, &t->kept->e[i]);
	if (r < 0) {
		checkpoint_free(cp);
		return r;
	}
	*ret = cp;
	return 0;
}

size_t tail_nfiles(const struct tail *t) { return t->n; }
struct tail_file *tail_file_at(struct tail *t, size_t i) { return t->files[i]; }

void tail_progress(struct tail *t, uint64_t *ret_done, uint64_t *ret_total)
{
	uint64_t done = 0, total = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct tail_file *f = t->files[i];
		if (f->fd < 0)
			continue;
		done += f->ls.offset;
		total += f->stop_at == UINT64_MAX ? f->size : f->stop_at;
	}
	*ret_done = done;
	*ret_total = total;
}
