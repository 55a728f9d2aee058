/* Files coming and going (see tail_int.h for where this sits): opening a path as a followed file,
 * rotation (rename-and-create, delete-and-recreate, a symlink switched), truncation and copytruncate
 * (the old content read on from the copy), a file that moved to an input of another name after a
 * reload, files rotated or compressed while the agent was stopped, and closing rotated files that are
 * finished. Every way a file leaves ends in tail_drop; every way one comes in goes through
 * tail_open_path, tail_truncated's copy or tail_open_recovered. */
#include "tail_int.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gzrecover.h"
#include "log.h"
#include "xalloc.h"

void tail_drop(struct tail *t, struct tail_file *f)
{
	tail_unwatch_file(t, f);
	tail_remove(t, f);
}

/* ---- coming in ---- */

/* A file of an input that a reload removed is matched by another input (a renamed input, or globs
 * moved to another one): it is followed on, under that input, from where it is. Its lines from now on
 * get ids with the new input's name, as they would after a restart. */
static void tail_adopt(struct tail *t, struct tail_file *f, size_t input)
{
	f->state = TAIL_LIVE;
	f->input = input;
	f->in = &t->cfg->inputs[input];
	f->ready = true;
	eventid_file_free(f->idf);
	f->idf = NULL; /* made again, with the new input's name, at the next line */
	ledger_rename(f->led, f->in->name, f->path);
	log_info("tail", "%s: followed on by input %s from offset %llu", f->path, f->in->name,
		 (unsigned long long)f->ls.offset);
}

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
			t->cbs.open_failed(t->cbs.data, path, t->cfg->inputs[input].name, flags & TAIL_OPEN_INITIAL, r);
		else if (r != -ENOENT)
			log_warn("tail", "cannot open %s", path);
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (f = tail_by_ino(t, st.st_dev, st.st_ino))) {
		close(fd);
		if (f && f->state == TAIL_RETIRED)
			tail_adopt(t, f, input);
		return 0;
	}
	led = tail_resume(t, fd, &st, path, flags & TAIL_OPEN_INITIAL, input, &offset);
	f = tail_file_new(t, path, input, fd, &st, offset, led);
	tail_add(t, f);
	t->added = true;
	if (!t->once)
		tail_watch_file(t, f);
	if (flags & TAIL_OPEN_ROTATED)
		tail_set_rotated(t, f, "found under a rotated name");
	log_info("tail", "following %s (input %s) from offset %llu", path, t->cfg->inputs[input].name,
		 (unsigned long long)offset);
	return 0;
}

void tail_consider(struct tail *t, const char *path)
{
	ssize_t in = tail_match(t, path);
	struct tail_file *same;
	struct stat st;

	if (in < 0 || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	same = tail_by_ino(t, st.st_dev, st.st_ino);
	if (same) {
		if (strcmp(same->path, path) != 0 && same->state == TAIL_ROTATED)
			tail_renamed(t, same, path);
		same->ready = true;
		return;
	}
	for (size_t i = 0; i < t->n; i++)
		if (t->files[i]->state == TAIL_LIVE && strcmp(t->files[i]->path, path) == 0)
			tail_set_rotated(t, t->files[i], "replaced by a new file");
	tail_open_path(t, path, (size_t)in, 0);
}

/* ---- rotation ---- */

/* Past max_rotated (TAIL_MAX_ROTATED) open rotated files, the one quiet for longest is closed early: its entry goes
 * to the checkpoint (a restart finds it in its directory); its lines in flight stay in the ledger
 * until their batches are resolved. */
static void tail_rotated_bound(struct tail *t, struct tail_file *f)
{
	struct tail_file *victim = NULL;
	size_t open = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct tail_file *g = t->files[i];
		if (g->state != TAIL_ROTATED)
			continue;
		open++;
		if (g != f && (!victim || g->last_change_ms < victim->last_change_ms))
			victim = g;
	}
	if (open <= t->max_rotated || !victim)
		return;
	log_warnx("tail", "more than %zu rotated files open: closing %s at offset %llu of %llu before "
		  "rotate_wait has passed (the rest is read after a restart if it is still in its directory)",
		  t->max_rotated, victim->path, (unsigned long long)victim->ls.offset,
		  (unsigned long long)victim->size);
	tail_keep(t, victim, false);
	tail_drop(t, victim);
}

void tail_set_rotated(struct tail *t, struct tail_file *f, const char *why)
{
	char *moved = NULL;

	if (f->state == TAIL_ROTATED)
		return;
	if (f->state == TAIL_LIVE)
		f->state = TAIL_ROTATED;
	f->ready = true; /* its unread tail is still readable through the open descriptor */
	f->last_change_ms = loop_now_ms();
	if (f->fd < 0 && tail_reopen(t, f, &moved) == 0 && moved) {
		tail_renamed(t, f, moved);
		free(moved);
	}
	log_info("tail", "%s: %s; reading it to its end", f->path, why);
	tail_rotated_bound(t, f);
	tail_arm_rotate(t, f->in->rotate_wait_ms);
}

void tail_renamed(struct tail *t, struct tail_file *f, const char *path)
{
	bool matches = tail_match(t, path) >= 0;

	f->ready = true;
	if (strcmp(f->path, path) == 0)
		return;
	free(f->path);
	f->path = xstrdup(path);
	ledger_rename(f->led, f->in->name, f->path);
	if (!matches)
		tail_set_rotated(t, f, "renamed away");
	else if (f->state == TAIL_ROTATED)
		f->state = TAIL_LIVE;
}

void tail_check_path(struct tail *t, struct tail_file *f)
{
	struct stat st;

	if (f->state != TAIL_LIVE)
		return;
	if (stat(f->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino)
		return;
	tail_set_rotated(t, f, "no longer at its path");
	tail_consider(t, f->path);
}

/* A rotated file is closed once read to its end, delivered, and quiet for rotate_wait. */
static bool tail_finished(const struct tail_file *f, uint64_t now)
{
	return f->state == TAIL_ROTATED && !f->ready && !lines_pending(&f->ls) && !ledger_busy(f->led) &&
	       ledger_committed(f->led) >= f->ls.offset && now - f->last_change_ms >= f->in->rotate_wait_ms;
}

bool tail_close_finished(struct tail *t)
{
	uint64_t now = loop_now_ms(), next = 0;
	bool closed = false;

	for (size_t i = 0; i < t->n;) {
		struct tail_file *f = t->files[i];
		uint64_t wait = f->in->rotate_wait_ms, due;

		if (f->state != TAIL_ROTATED) {
			i++;
			continue;
		}
		if (tail_finished(f, now)) {
			log_info("tail", "%s: rotated file done, closing it", f->path);
			tail_keep(t, f, true);
			tail_drop(t, f);
			closed = true;
			continue;
		}
		/* quiet already (waiting for deliveries or a final line): look again in a second */
		due = now - f->last_change_ms >= wait ? 1000 : wait - (now - f->last_change_ms);
		next = !next || due < next ? due : next;
		i++;
	}
	if (next)
		tail_arm_rotate(t, next < 100 ? 100 : next);
	return closed;
}

/* ---- truncation and rewrites ---- */

/* copytruncate's copy of f's old content: a regular file in f's directory with f's fingerprint whose
 * bytes before our read offset are the ones we read. Returns its descriptor or a negative errno. */
static int tail_find_copy(struct tail *t, struct tail_file *f, struct stat *ret_st, char **ret_path)
{
	char *dir = xstrdup(f->path), *slash, pat[4096];
	glob_t g;
	int fd = -ENOENT;

	if (!(slash = strrchr(dir, '/')) || f->fp[0] == '\0') {
		free(dir);
		return -ENOENT;
	}
	*slash = '\0';
	if (snprintf(pat, sizeof(pat), "%s/*", dir) >= (int)sizeof(pat) || glob(pat, GLOB_NOSORT, NULL, &g) != 0) {
		free(dir);
		return -ENOENT;
	}
	for (size_t i = 0; i < g.gl_pathc && fd < 0; i++) {
		unsigned char b[sizeof(f->tailb)];
		char fp[65];
		int x = open(g.gl_pathv[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (x < 0)
			continue;
		tail_fingerprint(x, fp);
		if (fstat(x, ret_st) == 0 && S_ISREG(ret_st->st_mode) && ret_st->st_ino != f->ino &&
		    (uint64_t)ret_st->st_size >= f->ls.offset && !tail_by_ino(t, ret_st->st_dev, ret_st->st_ino) &&
		    strcmp(fp, f->fp) == 0 &&
		    pread(x, b, f->tailn, (off_t)(f->ls.offset - f->tailn)) == (ssize_t)f->tailn &&
		    memcmp(b, f->tailb, f->tailn) == 0) {
			*ret_path = xstrdup(g.gl_pathv[i]);
			fd = x;
			break;
		}
		close(x);
	}
	globfree(&g);
	free(dir);
	return fd;
}

/* Moves f's old content (identity, place, ledger stream) into a new record, leaving f empty: a new
 * stream from offset 0. The new record is not in the set. */
static struct tail_file *tail_split(struct tail *t, struct tail_file *f)
{
	struct tail_file *old = xmalloc(sizeof(*old));

	*old = *f;
	old->fd = -1;
	old->wd = -1;
	old->poll = false;
	old->verify = false;
	old->lru_prev = old->lru_next = NULL;
	old->path = xstrdup(f->path);
	f->led = ledger_open(t->ledger, 0, NULL, 0, f->in->name, f->path);
	f->fp[0] = '\0';
	f->idf = NULL;
	f->first_line = NULL; /* old keeps it, with the idf */
	f->first_len = 0;
	f->check_offset = UINT64_MAX;
	f->tailn = 0;
	f->lines_read = 0;
	lines_init(&f->ls, 0, f->in->max_line_bytes);
	return old;
}

/* copytruncate or a rewrite: the file no longer holds what we read. Its old content goes on in a
 * record of its own: read on from copytruncate's copy when there is one (nothing in it is lost even
 * when reading was behind); otherwise only its lines in flight are left, in the ledger. The file
 * itself is read again from the start with a new fingerprint. */
static void tail_truncated(struct tail *t, struct tail_file *f, uint64_t old_size)
{
	struct tail_file *old;
	struct stat st;
	char *copy = NULL;
	int fd = tail_find_copy(t, f, &st, &copy);

	old = tail_split(t, f);
	if (fd < 0) {
		if (old_size > old->ls.offset)
			log_warnx("tail", "%s: truncated with %llu bytes not read yet and no copy of them found: "
				  "they are lost; reading it from the start", f->path,
				  (unsigned long long)(old_size - old->ls.offset));
		else
			log_info("tail", "%s: truncated; reading it from the start", f->path);
		tail_file_free(old); /* its stream stays in the ledger until its batches are resolved */
		return;
	}
	log_info("tail", "%s: truncated; reading its copy %s on from offset %llu, then the file from the start",
		 f->path, copy, (unsigned long long)old->ls.offset);
	free(old->path);
	old->path = copy;
	old->fd = fd;
	old->ready = true;
	old->dev = st.st_dev;
	old->ino = st.st_ino;
	old->size = (uint64_t)st.st_size;
	tail_add(t, old); /* f keeps its descriptor: old has the copy's */
	tail_watch_file(t, old);
	tail_set_rotated(t, old, "copy of truncated content");
}

int tail_verify(struct tail *t, struct tail_file *f)
{
	unsigned char b[sizeof(f->tailb)];
	uint64_t old_size = f->size;
	struct stat st;
	char fp[65];
	bool bad;

	f->verify = false;
	if (fstat(f->fd, &st) < 0)
		return -errno;
	f->size = (uint64_t)st.st_size;
	bad = f->size < f->ls.offset;
	if (!bad && f->tailn)
		bad = pread(f->fd, b, f->tailn, (off_t)(f->ls.offset - f->tailn)) != (ssize_t)f->tailn ||
		      memcmp(b, f->tailb, f->tailn) != 0;
	if (!bad && f->fp[0]) {
		tail_fingerprint(f->fd, fp);
		bad = strcmp(fp, f->fp) != 0;
	}
	if (!bad || f->state == TAIL_ROTATED || t->once)
		return 0;
	tail_truncated(t, f, old_size);
	return 1;
}

/* ---- rotated while the agent was stopped ---- */

/* Entry e's file is gone, but its content is in a gzip file beside it (compressed while the agent was
 * stopped): its unread part is followed from a decompressed copy, as a rotated file. */
static void tail_open_recovered(struct tail *t, const struct checkpoint_entry *e, size_t input, int fd,
				const char *gz)
{
	struct ledger_stream *led;
	struct tail_file *f;
	struct stat st;

	if (fstat(fd, &st) < 0) {
		close(fd);
		return;
	}
	led = ledger_open(t->ledger, e->offset, e->dead, e->ndead, t->cfg->inputs[input].name, e->path);
	ledger_set_last_delivery(led, e->last_delivery);
	/* its identity is the copy's: the lost file's inode may belong to another file by now */
	f = tail_file_new(t, e->path, input, fd, &st, e->offset, led);
	tail_add(t, f);
	t->added = true;
	log_warnx("tail", "%s: rotated and compressed while the agent was stopped; reading its %llu bytes "
		  "after offset %llu from %s", e->path, (unsigned long long)(st.st_size - (off_t)e->offset),
		  (unsigned long long)e->offset, gz);
	tail_kept_take(t, e);
	tail_set_rotated(t, f, "recovered from its compressed copy");
}

/* Entry e's file is not in its directory: a gzip file may hold it; otherwise what was not delivered
 * is lost, and said so. */
static bool tail_find_lost(struct tail *t, const struct checkpoint_entry *e, size_t input)
{
	struct gzrecover_want want = {e->path, e->fingerprint, e->offset, e->check};
	char *gz = NULL;
	int fd, r;

	if (e->finished)
		return false;
	r = gzrecover_find(&want, t->cfg->agent.state_dir, &fd, &gz);
	if (r == 0) {
		tail_open_recovered(t, e, input, fd, gz);
		free(gz);
		return true;
	}
	if (r != -ENOENT)
		log_warnx("tail", "%s: cannot read a compressed copy: %s", e->path, strerror(-r));
	if (e->size > e->offset)
		log_warnx("tail", "%s: gone since the checkpoint (not in its directory under any name, nor "
			  "compressed beside it): %llu bytes after offset %llu were not delivered", e->path,
			  (unsigned long long)(e->size - e->offset), (unsigned long long)e->offset);
	return false;
}

/* A checkpoint entry whose file is no longer at its path but still in the same directory under
 * another name (matching `paths` or not), with bytes past the saved offset, is followed as rotated:
 * read to its end, then closed. A file with that inode but another first line is not it (inodes are
 * reused). Returns true if e was used up. */
static bool tail_find_one(struct tail *t, const struct checkpoint_entry *e)
{
	ssize_t k = tail_input_index(t->cfg, e->input);
	bool same = false;
	struct stat st;
	char *path = NULL, fp[65];
	int fd;

	if (k < 0)
		return false;
	fd = tail_find_in_dir(e->path, (dev_t)e->dev, (ino_t)e->ino, &path);
	if (fd >= 0) {
		tail_fingerprint(fd, fp);
		same = tail_same_first_line(fp, e);
		if (same && fstat(fd, &st) == 0 && (uint64_t)st.st_size != e->offset &&
		    !tail_by_ino(t, st.st_dev, st.st_ino))
			tail_open_path(t, path, (size_t)k, TAIL_OPEN_INITIAL | TAIL_OPEN_ROTATED);
		close(fd);
		free(path);
	}
	return same ? false : tail_find_lost(t, e, (size_t)k);
}

void tail_find_moved(struct tail *t)
{
	tail_kept_each(t, tail_find_one);
}
