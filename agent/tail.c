/* The set of followed files: opening, closing and reopening descriptors under a bound, rotation and
 * truncation, reading into lines. Watches live in tail_watch.c, identity and checkpoint entries in
 * tail_ckpt.c; how far each file's lines are delivered is the ledger's (ledger.c). */
#include "tail_int.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "firstline.h"
#include "log.h"
#include "xalloc.h"

#define TAIL_CHUNK (256u << 10) /* one read; large enough that syscalls cost nothing per line */

void tail_file_free(struct tail_file *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	lines_free(&f->ls);
	eventid_file_free(f->idf);
	free(f->first_line);
	ledger_close(f->led); /* it lives on while batches hold its lines */
	free(f->path);
	free(f);
}

/* ---- descriptors ---- */

struct tail_file *tail_by_ino(struct tail *t, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->files[i]->dev == dev && t->files[i]->ino == ino)
			return t->files[i];
	return NULL;
}

/* Closes f's descriptor; f keeps its place and its watch. The check hash of its committed offset is
 * taken first, while the bytes are at hand. */
void tail_close_fd(struct tail *t, struct tail_file *f)
{
	uint64_t committed = ledger_committed(f->led);

	if (f->fd < 0)
		return;
	if (committed > 0 && f->check_offset != committed && tail_check_hash(f->fd, committed, f->check) == 0)
		f->check_offset = committed;
	close(f->fd);
	f->fd = -1;
	t->nopen--;
}

/* Keeps the open descriptors under max_open by closing the least recently used followed file (not
 * a rotated one: it may have no name left to reopen it by). Files read to their end go first. */
static void tail_make_room(struct tail *t)
{
	struct tail_file *victim = NULL;

	if (t->nopen < t->max_open)
		return;
	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		if (f->fd < 0 || f->rotated)
			continue;
		if (!victim || (victim->ready && !f->ready) ||
		    (victim->ready == f->ready && f->last_use_ms < victim->last_use_ms))
			victim = f;
	}
	if (victim) {
		log_debug("tail", "%s: closing its descriptor (%zu open, the bound)", victim->path, t->nopen);
		tail_close_fd(t, victim);
	}
}

/* The bytes just before ls.offset, as read: tail_verify compares them with the file. */
static void tail_remember(struct tail_file *f, const char *p, size_t n)
{
	size_t keep = sizeof(f->tailb), old;

	if (n >= keep) {
		memcpy(f->tailb, p + n - keep, keep);
		f->tailn = (unsigned)keep;
		return;
	}
	old = f->tailn + n > keep ? keep - n : f->tailn;
	memmove(f->tailb, f->tailb + f->tailn - old, old);
	memcpy(f->tailb + old, p, n);
	f->tailn = (unsigned)(old + n);
}

static void tail_load_tail(struct tail_file *f)
{
	size_t want = f->ls.offset < sizeof(f->tailb) ? (size_t)f->ls.offset : sizeof(f->tailb);
	ssize_t n = pread(f->fd, f->tailb, want, (off_t)(f->ls.offset - want));

	f->tailn = n == (ssize_t)want ? (unsigned)want : 0;
}

/* Reopens a file whose descriptor was closed: at its path if the same inode is still there, else
 * under a new name in the same directory. The caller reads it with verify set, which catches a
 * truncation or a rewrite in the meantime. */
int tail_reopen(struct tail *t, struct tail_file *f)
{
	struct stat st;
	char *path = NULL;
	int fd;

	tail_make_room(t);
	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_dev != f->dev || st.st_ino != f->ino)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0 && (fd = tail_find_in_dir(f->path, f->dev, f->ino, &path)) < 0)
		return fd;
	f->fd = fd;
	f->verify = true;
	t->nopen++;
	if (path) {
		log_info("tail", "%s: found again as %s", f->path, path);
		tail_renamed(t, f, path);
		free(path);
	}
	return 0;
}

/* ---- the set of files ---- */

void tail_push(struct tail *t, struct tail_file *f)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->files = xreallocarray(t->files, t->cap, sizeof(*t->files));
	}
	t->files[t->n++] = f;
}

void tail_remove(struct tail *t, size_t i)
{
	struct tail_file *f = t->files[i];

	tail_unwatch_file(t, f);
	if (f->fd >= 0)
		t->nopen--;
	if (t->cur == f)
		t->cur = NULL;
	tail_file_free(f);
	memmove(&t->files[i], &t->files[i + 1], (t->n - i - 1) * sizeof(t->files[0]));
	t->n--;
}

struct tail_file *tail_file_new(struct tail *t, const char *path, size_t input, int fd,
				       const struct stat *st, uint64_t offset, struct ledger_stream *led)
{
	struct tail_file *f = xcalloc(1, sizeof(*f));

	f->path = xstrdup(path);
	f->led = led;
	f->fd = fd;
	f->wd = -1;
	f->input = input;
	f->in = &t->cfg->inputs[input];
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = (uint64_t)st->st_size;
	f->stop_at = t->once ? (uint64_t)st->st_size : UINT64_MAX;
	f->ready = true;
	f->verify = true;
	f->last_change_ms = f->last_use_ms = loop_now_ms();
	f->check_offset = UINT64_MAX;
	lines_init(&f->ls, offset, t->cfg->inputs[input].max_line_bytes);
	tail_load_tail(f);
	return f;
}

/* A file of an input that a reload removed is matched by another input (a renamed input, or globs
 * moved to another one): it is followed on, under that input, from where it is. Its lines from now on
 * get ids with the new input's name, as they would after a restart. */
static void tail_adopt(struct tail *t, struct tail_file *f, size_t input)
{
	f->retired = false;
	f->input = input;
	f->in = &t->cfg->inputs[input];
	f->ready = true;
	eventid_file_free(f->idf);
	f->idf = NULL; /* made again, with the new input's name, at the next line */
	ledger_rename(f->led, f->in->name, f->path);
	log_info("tail", "%s: followed on by input %s from offset %llu", f->path, f->in->name,
		 (unsigned long long)f->ls.offset);
}

/* Opens path as a new followed file. TAIL_OPEN_INITIAL: found at start (start_at applies);
 * TAIL_OPEN_ROTATED: found under a rotated name, to be read to its end and closed. */
int tail_open_path(struct tail *t, const char *path, size_t input, unsigned flags)
{
	struct ledger_stream *led;
	struct tail_file *f = NULL;
	struct stat st;
	uint64_t offset;
	int fd, r;

	tail_make_room(t);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r != -ENOENT && t->cbs.open_failed)
			t->cbs.open_failed(t->cbs.data, path, t->cfg->inputs[input].name,
					   flags & TAIL_OPEN_INITIAL, r);
		else if (r != -ENOENT)
			log_warn("tail", "cannot open %s", path);
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (f = tail_by_ino(t, st.st_dev, st.st_ino))) {
		close(fd);
		if (f && f->retired)
			tail_adopt(t, f, input);
		return 0;
	}
	led = tail_resume(t, fd, &st, path, flags & TAIL_OPEN_INITIAL, input, &offset);
	f = tail_file_new(t, path, input, fd, &st, offset, led);
	tail_push(t, f);
	t->nopen++;
	t->added = true;
	if (!t->once)
		tail_watch_file(t, f);
	if (flags & TAIL_OPEN_ROTATED)
		tail_set_rotated(t, f, "found under a rotated name");
	log_info("tail", "following %s (input %s) from offset %llu", path, t->cfg->inputs[input].name,
		 (unsigned long long)offset);
	return 0;
}

bool tail_excluded(const struct config_input *in, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < in->nexclude; i++)
		if (fnmatch(in->exclude[i], path, FNM_PATHNAME) == 0 || fnmatch(in->exclude[i], base, 0) == 0)
			return true;
	return false;
}

/* Which input a path belongs to, or -1. */
ssize_t tail_match(struct tail *t, const char *path)
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

/* Past TAIL_MAX_ROTATED open rotated files, the one quiet for longest is closed early: its entry goes
 * to the checkpoint (a restart finds it in its directory); its lines in flight stay in the ledger
 * until their batches are resolved. */
static void tail_rotated_bound(struct tail *t, struct tail_file *f)
{
	struct tail_file *victim = NULL;
	size_t open = 0, vi = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *g = t->files[i];
		if (!g->rotated)
			continue;
		open++;
		if (g != f && (!victim || g->last_change_ms < victim->last_change_ms)) {
			victim = g;
			vi = i;
		}
	}
	if (open <= TAIL_MAX_ROTATED || !victim)
		return;
	log_warnx("tail", "more than %d rotated files open: closing %s at offset %llu of %llu before "
		  "rotate_wait has passed (the rest is read after a restart if it is still in its directory)",
		  TAIL_MAX_ROTATED, victim->path, (unsigned long long)victim->ls.offset,
		  (unsigned long long)victim->size);
	tail_keep(t, victim, false);
	tail_remove(t, vi);
}

void tail_set_rotated(struct tail *t, struct tail_file *f, const char *why)
{
	if (f->rotated)
		return;
	f->rotated = true;
	f->ready = true; /* its unread tail is still readable through the open descriptor */
	f->last_change_ms = loop_now_ms();
	if (f->fd < 0)
		tail_reopen(t, f);
	log_info("tail", "%s: %s; reading it to its end", f->path, why);
	tail_rotated_bound(t, f);
	if (!t->rotate_timer && !t->once)
		t->rotate_timer = loop_add_timer(t->loop, (int64_t)f->in->rotate_wait_ms,
						 tail_rotate_timer, t);
}

/* f was found under another name: a name that no input matches means it was rotated away; a
 * matching one means it is followed on under that name. */
void tail_renamed(struct tail *t, struct tail_file *f, const char *path)
{
	bool matches = tail_match(t, path) >= 0;
	char *p;

	f->ready = true;
	if (strcmp(f->path, path) == 0 || !(p = strdup(path)))
		return;
	free(f->path);
	f->path = p;
	ledger_rename(f->led, f->in->name, p);
	if (!matches)
		tail_set_rotated(t, f, "renamed away");
	else if (f->rotated)
		f->rotated = false;
}

/* A rotated file is closed once read to its end, delivered, and quiet for rotate_wait. */
static bool tail_finished(const struct tail *t, const struct tail_file *f, uint64_t now)
{
	uint64_t wait = f->in->rotate_wait_ms;

	return f->rotated && !f->ready && !ledger_busy(f->led) && ledger_committed(f->led) >= f->ls.offset &&
	       now - f->last_change_ms >= wait;
}

static int tail_line_cb(void *data, const char *line, size_t len, uint64_t full, uint64_t offset,
			uint64_t end);

/* The writer of a rotated file has moved on: a final line without LF will never get one, so it is
 * handed out as it is rather than dropped. */
static void tail_flush_rotated(struct tail *t, struct tail_file *f, uint64_t now)
{
	if (f->fd < 0 || f->ready || !lines_pending(&f->ls) ||
	    now - f->last_change_ms < f->in->rotate_wait_ms)
		return;
	t->cur = f;
	lines_flush(&f->ls, tail_line_cb, t);
	t->cur = NULL;
}

static int64_t tail_rotate_timer(struct loop *l, void *data)
{
	struct tail *t = data;
	uint64_t now = loop_now_ms(), next = 0;
	bool any = false;

	(void)l;
	for (size_t i = 0; i < t->n;) {
		struct tail_file *f = t->files[i];
		uint64_t wait = f->in->rotate_wait_ms, due;
		if (!f->rotated) {
			i++;
			continue;
		}
		tail_flush_rotated(t, f, now);
		if (tail_finished(t, f, now)) {
			log_info("tail", "%s: rotated file done, closing it", f->path);
			tail_keep(t, f, true);
			tail_remove(t, i);
			continue;
		}
		due = now - f->last_change_ms >= wait ? 1000 : wait - (now - f->last_change_ms);
		next = !any || due < next ? due : next;
		any = true;
		i++;
	}
	if (!any) {
		t->rotate_timer = 0;
		return LOOP_TIMER_STOP;
	}
	return (int64_t)(next < 100 ? 100 : next);
}

/* A path we follow may now name another file (rename-and-create, symlink switch, delete and
 * recreate); a new path may match an input. */
void tail_consider(struct tail *t, const char *path)
{
	ssize_t in = tail_match(t, path);
	struct tail_file *same;
	struct stat st;

	if (in < 0 || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	same = tail_by_ino(t, st.st_dev, st.st_ino);
	if (same) {
		if (strcmp(same->path, path) != 0 && same->rotated)
			tail_renamed(t, same, path);
		same->ready = true;
		return;
	}
	for (size_t i = 0; i < t->n; i++)
		if (!t->files[i]->rotated && strcmp(t->files[i]->path, path) == 0)
			tail_set_rotated(t, t->files[i], "replaced by a new file");
	tail_open_path(t, path, (size_t)in, 0);
}

/* The file at f's path is no longer f (an event was missed, or there are none: poll, overflow). */
void tail_check_path(struct tail *t, struct tail_file *f)
{
	struct stat st;

	if (f->rotated)
		return;
	if (stat(f->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino)
		return;
	tail_set_rotated(t, f, "no longer at its path");
	tail_consider(t, f->path);
}

/* ---- life cycle ---- */

static size_t tail_fd_bound(void)
{
	struct rlimit rl;

	/* half the descriptors for followed files, the rest for sockets and state files */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 16384)
		return 8192;
	return rl.rlim_cur / 2 < 16 ? 16 : (size_t)(rl.rlim_cur / 2);
}

struct tail *tail_new(struct loop *l, const struct config *cfg, const struct tail_cbs *cbs, struct ledger *led)
{
	struct tail *t = xcalloc(1, sizeof(*t));
	const char *idle = getenv("ONSIDE_TEST_IDLE_CLOSE_MS");

	t->ledger = led;
	t->loop = l;
	t->cfg = cfg;
	t->cbs = *cbs;
	t->ifd = -1;
	t->max_open = tail_fd_bound();
	/* Test knobs (tests/integration/test_many_files.py): a shorter idle timeout, and no inotify so
	 * that the stat-poll path runs on a filesystem that has inotify. Both unset in production. */
	t->idle_ms = idle && *idle ? strtoull(idle, NULL, 10) : TAIL_IDLE_CLOSE_MS;
	t->no_inotify = getenv("ONSIDE_TEST_NO_INOTIFY") && strcmp(getenv("ONSIDE_TEST_NO_INOTIFY"), "1") == 0;
	t->chunk = xmalloc(TAIL_CHUNK);
	return t;
}

void tail_free(struct tail *t)
{
	if (!t)
		return;
	while (t->n)
		tail_remove(t, t->n - 1);
	tail_watch_free(t);
	if (t->rotate_timer)
		loop_del_timer(t->loop, t->rotate_timer);
	checkpoint_free(t->kept);
	free(t->files);
	free(t->chunk);
	free(t);
}

void tail_each_match(struct tail *t, size_t i, void (*fn)(struct tail *t, size_t i, const char *path))
{
	const struct config_input *in = &t->cfg->inputs[i];

	for (size_t k = 0; k < in->npaths; k++) {
		glob_t g;
		if (glob(in->paths[k], 0, NULL, &g) != 0)
			continue;
		for (size_t j = 0; j < g.gl_pathc; j++)
			fn(t, i, g.gl_pathv[j]);
		globfree(&g);
	}
}

static void tail_open_initial(struct tail *t, size_t i, const char *path)
{
	if (!tail_excluded(&t->cfg->inputs[i], path))
		tail_open_path(t, path, i, TAIL_OPEN_INITIAL);
}

/* Opens every current match of input i's globs as seen for the first time (start_at applies). */
static void tail_open_input(struct tail *t, size_t i)
{
	tail_each_match(t, i, tail_open_initial);
}

int tail_start(struct tail *t, const struct checkpoint *cp, bool once)
{
	int r;

	t->once = once;
	if ((r = tail_copy_checkpoint(t, cp)) < 0)
		return r;
	if (!once && (r = tail_watch_start(t)) < 0)
		return r;
	for (size_t i = 0; i < t->cfg->ninputs; i++)
		tail_open_input(t, i);
	tail_find_moved(t);
	return 0;
}

/* ---- reading ---- */

static int tail_line_cb(void *data, const char *line, size_t len, uint64_t full, uint64_t offset,
			uint64_t end)
{
	struct tail *t = data;
	struct tail_file *f = t->cur;

	if (!f->idf) {
		const char *ns = t->cfg->agent.id_namespace;
		const char *name = f->in->name;
		tail_fingerprint(f->fd, f->fp);
		f->idf = xnonnull(eventid_file_new(ns, strlen(ns), name, strlen(name), f->fp));
		ledger_set_fingerprint(f->led, f->fp);
	}
	/* the file's header for the parser, from the file itself (also when resuming mid-file); an
	 * unreadable one stays unknown and the parser says so per line */
	if (!f->first_line && f->in->parser.first_line &&
	    firstline_read(f->fd, f->in->max_line_bytes, &f->first_line, &f->first_len) == -ENOMEM)
		xalloc_die(f->in->max_line_bytes);
	f->lines_read++;
	return t->cbs.line(t->cbs.data, f, line, len, full, offset, end);
}

/* Reads one chunk of f. Returns bytes read (0 at its end) or a negative errno. */
static ssize_t tail_read_file(struct tail *t, struct tail_file *f)
{
	uint64_t want = f->stop_at - f->ls.offset, before;
	ssize_t n;
	int r;

	if (f->ls.offset >= f->stop_at)
		return 0;
	if (f->fd < 0 && tail_reopen(t, f) < 0)
		return 0; /* gone while closed; the poll or an event says what became of it */
	f->last_use_ms = loop_now_ms();
	if (f->verify && (r = tail_verify(t, f)) != 0)
		return r;
	if (want > TAIL_CHUNK)
		want = TAIL_CHUNK;
	n = pread(f->fd, t->chunk, (size_t)want, (off_t)f->ls.offset);
	if (n < 0)
		return errno == EINTR ? 1 : -errno;
	if (n == 0) {
		f->verify = true; /* at its end: the next read after a change checks first */
		return 0;
	}
	if (f->ls.offset + (uint64_t)n > f->size)
		f->size = f->ls.offset + (uint64_t)n;
	before = f->ls.offset;
	t->cur = f;
	r = lines_feed(&f->ls, t->chunk, (size_t)n, tail_line_cb, t);
	t->cur = NULL;
	if (f->ls.offset >= before)
		tail_remember(f, t->chunk, (size_t)(f->ls.offset - before));
	else
		tail_load_tail(f); /* a line was not taken: the reading place went back to its start */
	if (r == 0 && (uint64_t)n < want) {
		/* a short read of a regular file: at its end for now; an event says when it grows */
		f->ready = false;
		f->verify = true;
	}
	if (r == LINES_STOP)
		return -EAGAIN; /* the agent has no room for more lines now */
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

		if (!f->ready || f->retired)
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
	tail_arm_idle(t);
	return 0;
}

bool tail_once_read(struct tail *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct tail_file *f = t->files[i];
		/* a final line without LF does not count: tail_once_flush_partials decides on it */
		if (f->ls.offset < f->stop_at)
			return false;
	}
	return true;
}

/* A final line without LF of a file read to its stop offset: handed out once the file has not changed
 * (size and mtime as first seen) for quiet_ms by the agent's own monotonic clock; left for the next run
 * if the file grew. The file's mtime is never compared with the wall clock: a clock stepped back, or a
 * file dated in the future, would make the wait endless. Returns the ms still to wait. */
static uint64_t tail_once_partial(struct tail *t, struct tail_file *f, uint64_t quiet_ms, uint64_t now)
{
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		return 0;
	if ((uint64_t)st.st_size != f->stop_at) {
		/* it grew: the final line got its LF or more; the bytes up to the size at start were
		 * read, so the partial line is left for the next run */
		lines_reset(&f->ls, f->ls.start);
		f->stop_at = f->ls.offset;
		return 0;
	}
	if (!f->quiet_since_ms || st.st_mtim.tv_sec != f->quiet_mtime.tv_sec ||
	    st.st_mtim.tv_nsec != f->quiet_mtime.tv_nsec) {
		f->quiet_since_ms = now; /* (re)start the wait: it changed, or this is the first look */
		f->quiet_mtime = st.st_mtim;
	}
	if (now - f->quiet_since_ms < quiet_ms)
		return quiet_ms - (now - f->quiet_since_ms);
	t->cur = f;
	lines_flush(&f->ls, tail_line_cb, t);
	t->cur = NULL;
	return 0;
}

uint64_t tail_once_flush_partials(struct tail *t, uint64_t quiet_ms)
{
	uint64_t wait = 0, now = loop_now_ms();

	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		uint64_t left;

		if (f->ls.offset < f->stop_at || !lines_pending(&f->ls))
			continue;
		if (f->fd < 0 && tail_reopen(t, f) < 0)
			continue;
		left = tail_once_partial(t, f, quiet_ms, now);
		if (left)
			wait = !wait || left < wait ? left : wait;
	}
	return wait;
}

/* ---- files of removed inputs ---- */

bool tail_sweep(struct tail *t)
{
	bool changed = false, left = false;

	if (!t->retiring)
		return false;
	for (size_t i = 0; i < t->n;) {
		struct tail_file *f = t->files[i];

		if (f->retired && !ledger_busy(f->led)) {
			tail_keep(t, f, false);
			tail_remove(t, i);
			changed = true;
			continue;
		}
		left |= f->retired;
		i++;
	}
	t->retiring = left;
	return changed;
}

ssize_t tail_input_index(const struct config *cfg, const char *name)
{
	for (size_t k = 0; name && k < cfg->ninputs; k++)
		if (strcmp(cfg->inputs[k].name, name) == 0)
			return (ssize_t)k;
	return -1;
}

static bool tail_globs_changed(const struct config *old, const struct config_input *in)
{
	const struct config_input *o = &old->inputs[tail_input_index(old, in->name)];

	if (o->npaths != in->npaths)
		return true;
	for (size_t k = 0; k < in->npaths; k++)
		if (strcmp(o->paths[k], in->paths[k]) != 0)
			return true;
	return false;
}

int tail_reconfigure(struct tail *t, const struct config *cfg)
{
	const struct config *old = t->cfg;

	t->cfg = cfg;
	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		ssize_t k = f->retired ? -1 : tail_input_index(cfg, f->in->name);

		if (k >= 0 && (f->rotated || tail_match(t, f->path) == k)) {
			f->input = (size_t)k;
			f->in = &cfg->inputs[k];
			continue;
		}
		if (!f->retired)
			log_info("tail", "%s: no longer an input's file; stopping after what is in flight", f->path);
		f->retired = true;
		f->ready = false;
		t->retiring = true;
	}
	/* files of new inputs (or new globs) are seen for the first time: start_at applies to them */
	for (size_t i = 0; i < cfg->ninputs; i++)
		if (tail_input_index(old, cfg->inputs[i].name) < 0 || tail_globs_changed(old, &cfg->inputs[i]))
			tail_open_input(t, i);
	if (!t->once)
		tail_watch_patterns(t);
	return 0;
}

size_t tail_nretired(const struct tail *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++)
		n += t->files[i]->retired;
	return n;
}

bool tail_new_files(struct tail *t)
{
	bool added = t->added;

	t->added = false;
	return added;
}

int tail_recheck(struct tail *t, const char *path, bool initial)
{
	ssize_t in = tail_match(t, path);

	if (in < 0)
		return -ENOENT;
	return tail_open_path(t, path, (size_t)in, initial ? TAIL_OPEN_INITIAL : 0);
}

size_t tail_nfiles(const struct tail *t) { return t->n; }
struct tail_file *tail_file_at(struct tail *t, size_t i) { return t->files[i]; }

void tail_progress(struct tail *t, uint64_t *ret_done, uint64_t *ret_total)
{
	uint64_t done = 0, total = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct tail_file *f = t->files[i];
		done += f->ls.offset;
		total += f->stop_at == UINT64_MAX ? f->size : f->stop_at;
	}
	*ret_done = done;
	*ret_total = total;
}
