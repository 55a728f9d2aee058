/* The tailer's public face (see tail.h) and the top of its files (tail_int.h): starting, the turn's
 * tail_process (acting on what the watches recorded) and tail_read (reading ready files into lines),
 * run --once's end of files, reloads, and what the agent, the metrics and the checkpoint see of the
 * files. */
#include "tail_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "firstline.h"
#include "log.h"
#include "xalloc.h"

#define TAIL_CHUNK (256u << 10) /* one read; large enough that syscalls cost nothing per line */

/* ---- life cycle ---- */

static size_t tail_fd_bound(void)
{
	struct rlimit rl;

	/* half the descriptors for followed files, the rest for sockets and state files */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 16384)
		return 8192;
	return rl.rlim_cur / 2 < 16 ? 16 : (size_t)(rl.rlim_cur / 2);
}

struct tail *tail_new(struct loop *l, const struct config *cfg, const struct tail_cbs *cbs, struct ledger *led,
		      const struct tail_opts *opts)
{
	struct tail *t = xcalloc(1, sizeof(*t));

	t->ledger = led;
	t->loop = l;
	t->cfg = cfg;
	t->cbs = *cbs;
	t->ifd = -1;
	t->max_open = tail_fd_bound();
	t->idle_ms = opts && opts->idle_close_ms ? opts->idle_close_ms : TAIL_IDLE_CLOSE_MS;
	t->no_inotify = opts && opts->no_inotify;
	t->queue_max = opts ? opts->inotify_queue : 0;
	t->max_rotated = opts && opts->max_rotated ? opts->max_rotated : TAIL_MAX_ROTATED;
	t->chunk = xmalloc(TAIL_CHUNK);
	return t;
}

void tail_free(struct tail *t)
{
	if (!t)
		return;
	while (t->n)
		tail_drop(t, t->files[t->n - 1]);
	tail_watch_free(t);
	tail_kept_free(t);
	free(t->files);
	free(t->by_ino);
	free(t->chunk);
	free(t);
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
	if ((r = tail_kept_init(t, cp)) < 0)
		return r;
	if (!once && (r = tail_watch_start(t)) < 0)
		return r;
	for (size_t i = 0; i < t->cfg->ninputs; i++)
		tail_open_input(t, i);
	tail_find_moved(t);
	t->changed = false;
	return 0;
}

/* ---- the turn: acting on what the watches saw ---- */

static void tail_consider_match(struct tail *t, size_t i, const char *path)
{
	(void)i; /* tail_consider finds the input (and the exclusions) itself */
	tail_consider(t, path);
}

/* Files deleted or renamed; with everything, after lost events. */
static void tail_apply_flags(struct tail *t, bool all)
{
	/* by index: setting one rotated may open its successor (appended) or close another */
	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		bool gone = f->gone, check = f->check_path || all;

		f->gone = f->check_path = false;
		if (all)
			f->ready = f->verify = true;
		if (gone)
			tail_set_rotated(t, f, "deleted");
		if (check && i < t->n && t->files[i] == f)
			tail_check_path(t, f);
	}
	t->flagged = false;
}

static void tail_apply_pending(struct tail *t)
{
	for (size_t i = 0; i < t->npending; i++) {
		const char *path = t->pending[i].path;
		struct tail_file *f;
		struct stat st;

		/* a followed file under a new name: rotated away, or followed on if the name matches */
		if (t->pending[i].moved_to && lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    (f = tail_by_ino(t, st.st_dev, st.st_ino)))
			tail_renamed(t, f, path);
		else
			tail_consider(t, path);
		free(t->pending[i].path);
	}
	t->npending = 0;
}

/* Files of removed inputs leave once nothing of theirs is in flight (their place stays in the
 * checkpoint). */
static void tail_sweep(struct tail *t)
{
	bool left = false;

	for (size_t i = 0; i < t->n;) {
		struct tail_file *f = t->files[i];

		if (f->state == TAIL_RETIRED && !ledger_busy(f->led)) {
			tail_keep(t, f, false);
			tail_drop(t, f);
			continue;
		}
		left |= f->state == TAIL_RETIRED;
		i++;
	}
	t->retiring = left;
}

bool tail_process(struct tail *t)
{
	bool changed;

	if (t->relink && tail_watch_relink(t))
		t->rewatch = t->rescan = true;
	t->relink = false;
	if (t->rewatch || t->rescan)
		tail_watch_patterns(t);
	t->rewatch = false;
	if (t->flagged || t->rescan)
		tail_apply_flags(t, t->rescan);
	if (t->rescan || t->rescan_globs)
		for (size_t i = 0; i < t->cfg->ninputs; i++)
			tail_each_match(t, i, tail_consider_match);
	t->rescan = t->rescan_globs = false;
	tail_apply_pending(t);
	if (t->rotate_due)
		tail_close_finished(t);
	if (t->retiring)
		tail_sweep(t);
	changed = t->changed;
	t->changed = false;
	return changed;
}

/* ---- reading ---- */

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

/* What lines_feed hands each line to: which file it is from. */
struct tail_feed {
	struct tail *t;
	struct tail_file *f;
};

static int tail_line_cb(void *data, const char *line, size_t len, uint64_t full, uint64_t offset,
			uint64_t end)
{
	struct tail_feed *feed = data;
	struct tail *t = feed->t;
	struct tail_file *f = feed->f;
	struct tail_line l;

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
	l = (struct tail_line){f->led, f->idf, f->first_line, f->first_len, f->input, line, len, full, offset, end};
	return t->cbs.line(t->cbs.data, &l);
}

/* Opens f again if its descriptor was closed (following it to a new name). */
static int tail_ensure_open(struct tail *t, struct tail_file *f)
{
	char *moved = NULL;
	int r;

	if (f->fd >= 0)
		return 0;
	if ((r = tail_reopen(t, f, &moved)) < 0)
		return r; /* gone while closed; the poll or an event says what became of it */
	if (moved) {
		log_info("tail", "%s: found again as %s", f->path, moved);
		tail_renamed(t, f, moved);
		free(moved);
	}
	return 0;
}

/* Reads one chunk of f. Returns bytes read (0 at its end), -EAGAIN when the agent took no more, or
 * another negative errno. */
static ssize_t tail_read_file(struct tail *t, struct tail_file *f)
{
	struct tail_feed feed = {t, f};
	uint64_t want, before;
	ssize_t n;
	int r;

	if (f->ls.offset >= f->stop_at || tail_ensure_open(t, f) < 0)
		return 0;
	tail_touch(t, f);
	/* a truncated or rewritten file is read again from offset 0 (its old content goes on apart) */
	if (f->verify && (r = tail_verify(t, f)) < 0)
		return r;
	want = f->stop_at - f->ls.offset;
	if (want > TAIL_CHUNK)
		want = TAIL_CHUNK;
	do
		n = pread(f->fd, t->chunk, (size_t)want, (off_t)f->ls.offset);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0) {
		f->verify = true; /* at its end: the next read after a change checks first */
		return 0;
	}
	if (f->ls.offset + (uint64_t)n > f->size)
		f->size = f->ls.offset + (uint64_t)n;
	before = f->ls.offset;
	r = lines_feed(&f->ls, t->chunk, (size_t)n, tail_line_cb, &feed);
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
		return -EAGAIN;
	return r < 0 ? r : n;
}

/* The writer of a rotated file has moved on: a final line without LF will never get one, so it is
 * handed out as it is rather than dropped, once the file has been quiet for rotate_wait. */
static void tail_flush_rotated(struct tail *t, uint64_t now)
{
	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		struct tail_feed feed = {t, f};

		if (f->state != TAIL_ROTATED || f->fd < 0 || f->ready || !lines_pending(&f->ls) ||
		    now - f->last_change_ms < f->in->rotate_wait_ms)
			continue;
		if (lines_flush(&f->ls, tail_line_cb, &feed) == LINES_STOP)
			break;
	}
}

int tail_read(struct tail *t, size_t budget, bool *ret_more)
{
	size_t spent = 0;
	bool more = false;

	if (t->rotate_due) {
		tail_flush_rotated(t, loop_now_ms());
		t->rotate_due = false;
	}
	for (size_t k = 0; k < t->n && spent < budget; k++) {
		size_t i = (t->rr + k) % t->n;
		struct tail_file *f = t->files[i];
		ssize_t n;

		if (!f->ready || f->state == TAIL_RETIRED)
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
		more = t->files[i]->ready && t->files[i]->state != TAIL_RETIRED;
	*ret_more = more;
	tail_arm_idle(t);
	return 0;
}

/* ---- run --once ---- */

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
	struct tail_feed feed = {t, f};
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
	lines_flush(&f->ls, tail_line_cb, &feed);
	return 0;
}

uint64_t tail_once_flush_partials(struct tail *t, uint64_t quiet_ms)
{
	uint64_t wait = 0, now = loop_now_ms();

	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *f = t->files[i];
		uint64_t left;

		if (f->ls.offset < f->stop_at || !lines_pending(&f->ls) || tail_ensure_open(t, f) < 0)
			continue;
		left = tail_once_partial(t, f, quiet_ms, now);
		if (left)
			wait = !wait || left < wait ? left : wait;
	}
	return wait;
}

/* ---- reloads ---- */

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
		ssize_t k = f->state == TAIL_RETIRED ? -1 : tail_input_index(cfg, f->in->name);

		if (k >= 0 && (f->state == TAIL_ROTATED || tail_match(t, f->path) == k)) {
			f->input = (size_t)k;
			f->in = &cfg->inputs[k];
			continue;
		}
		if (f->state != TAIL_RETIRED)
			log_info("tail", "%s: no longer an input's file; stopping after what is in flight", f->path);
		f->state = TAIL_RETIRED;
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
		n += t->files[i]->state == TAIL_RETIRED;
	return n;
}

/* ---- what others see ---- */

bool tail_new_files(struct tail *t)
{
	bool added = t->added;

	t->added = false;
	return added;
}

int tail_checkpoint(struct tail *t, struct checkpoint **ret) { return tail_snapshot(t, ret); }

int tail_recheck(struct tail *t, const char *path, bool initial)
{
	ssize_t in = tail_match(t, path);

	if (in < 0)
		return -ENOENT;
	return tail_open_path(t, path, (size_t)in, initial ? TAIL_OPEN_INITIAL : 0);
}

size_t tail_nfiles(const struct tail *t) { return t->n; }

/* The file's size now: through its descriptor, or at its path while that is still the same file; else
 * as last seen (the metrics and `status` must not freeze while reading waits for room). */
static uint64_t tail_size_now(const struct tail_file *f)
{
	struct stat st;

	if (f->fd >= 0 && fstat(f->fd, &st) == 0)
		return (uint64_t)st.st_size;
	if (f->fd < 0 && stat(f->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino)
		return (uint64_t)st.st_size;
	return f->size;
}

void tail_file_info(const struct tail *t, size_t i, struct tail_file_info *ret)
{
	const struct tail_file *f = t->files[i];

	*ret = (struct tail_file_info){
		.path = f->path,
		.input = f->in->name,
		.led = f->led,
		.size = tail_size_now(f),
		.read = f->ls.offset,
		.committed = ledger_committed(f->led),
		.rotated = f->state == TAIL_ROTATED,
		.open = f->fd >= 0,
	};
}

void tail_progress(const struct tail *t, uint64_t *ret_done, uint64_t *ret_total)
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
