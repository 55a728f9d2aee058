/* Identity: a file's first-line fingerprint, device and inode, the check hash that validates a saved
 * offset, matching saved entries to files at start (also under a new name in the same directory), the
 * entries written, pruning entries of files long gone, and noticing that a followed file no longer
 * holds what was read (truncation, rewrite), with copytruncate's copy found to read on from. */
#include "tail_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gzrecover.h"
#include "log.h"
#include "xalloc.h"

/* The first line's fingerprint: its bytes before the first LF (CR included), at most 4096. A file
 * whose only line has no LF yet (read at the end by run --once) is fingerprinted as it is. */
void tail_fingerprint(int fd, char ret[65])
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
int tail_check_hash(int fd, uint64_t offset, char ret[65])
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
	if (e->offset > 0 && strcmp(fp, e->fingerprint) != 0)
		return false;
	if (e->check[0] == '\0')
		return e->offset == 0;
	return tail_check_hash(fd, e->offset, check) == 0 && strcmp(check, e->check) == 0;
}

/* The saved entry of a file, by device and inode (tail_resume_offset falls back to the path). */
const struct checkpoint_entry *tail_find_entry(struct tail *t, const struct stat *st, size_t *ret_i)
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

static const struct checkpoint_entry *tail_find_by_path(struct tail *t, const char *path, size_t *ret_i)
{
	for (size_t i = 0; t->kept && i < t->kept->n; i++) {
		if (t->kept->e[i].path && strcmp(t->kept->e[i].path, path) == 0) {
			*ret_i = i;
			return &t->kept->e[i];
		}
	}
	return NULL;
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

/* The saved entry's file may be this one: the same first line, or one of the two not known (an entry
 * saved before the first line was complete, an empty file). */
static bool tail_same_first_line(const char *fp, const struct checkpoint_entry *e)
{
	return !e->fingerprint[0] || !fp[0] || strcmp(fp, e->fingerprint) == 0;
}

/* Where to start reading a file just opened, and its ledger stream, from its saved entry (which is
 * used up). A file found at start with no entry of its own, at a path the checkpoint knows, replaced
 * that path's file while the agent was stopped: everything in it is new, whatever start_at says. An
 * entry found by device and inode whose first line differs belongs to another file that had the same
 * inode (deleted, rotated, compressed): it stays for tail_find_moved. */
struct ledger_stream *tail_resume(struct tail *t, int fd, const struct stat *st, const char *path, bool initial,
				  size_t input, uint64_t *ret_offset)
{
	const char *name = t->cfg->inputs[input].name;
	const struct checkpoint_entry *e;
	struct ledger_stream *led;
	bool known_path = false, resumed = false;
	uint64_t offset = 0;
	char fp[65];
	size_t ei;

	tail_fingerprint(fd, fp);
	e = tail_find_entry(t, st, &ei);
	if (e && !tail_same_first_line(fp, e))
		e = NULL, known_path = true;
	if (!e && (e = tail_find_by_path(t, path, &ei)) &&
	    (!e->fingerprint[0] || strcmp(fp, e->fingerprint) != 0 || !tail_entry_valid(fd, st, e)))
		e = NULL, known_path = true;
	if (known_path && !e)
		log_info("tail", "%s: content changed since the checkpoint (another first line: rewritten, or a "
			 "new file); reading it from the start", path);
	else if (e && (resumed = tail_entry_valid(fd, st, e)))
		offset = e->offset;
	else if (e && e->size > e->offset)
		log_warnx("tail", "%s: changed since the checkpoint (truncated or rewritten while the agent was "
			  "stopped): %llu bytes after offset %llu were not delivered and are gone; reading it "
			  "from the start", path, (unsigned long long)(e->size - e->offset),
			  (unsigned long long)e->offset);
	else if (e)
		log_info("tail", "%s: changed since the checkpoint; reading it from the start", path);
	else if (initial && t->cfg->inputs[input].start_at == START_AT_END)
		offset = tail_end_offset(fd, (uint64_t)st->st_size);
	if (offset)
		log_debug("tail", "%s: resuming at offset %llu", path, (unsigned long long)offset);
	led = ledger_open(t->ledger, offset, resumed ? e->dead : NULL, resumed ? e->ndead : 0, name, path);
	if (resumed)
		ledger_set_last_delivery(led, e->last_delivery);
	if (e)
		checkpoint_remove(t->kept, ei);
	*ret_offset = offset;
	return led;
}

/* Opens the regular file dev/ino in the directory of path, under any name. Returns the descriptor
 * (and its path) or a negative errno. */
int tail_find_in_dir(const char *path, dev_t dev, ino_t ino, char **ret_path)
{
	char dir[PATH_MAX], full[PATH_MAX];
	struct dirent *de;
	char *slash;
	int fd = -ENOENT;
	DIR *d;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) || !(slash = strrchr(dir, '/')))
		return -ENAMETOOLONG;
	*slash = '\0';
	d = opendir(dir[0] ? dir : "/");
	while (d && fd < 0 && (de = readdir(d))) {
		struct stat st;
		int x;
		if (de->d_ino != ino || snprintf(full, sizeof(full), "%s/%s", dir, de->d_name) >= (int)sizeof(full))
			continue;
		x = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (x < 0)
			continue;
		if (fstat(x, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == dev && st.st_ino == ino &&
		    (*ret_path = strdup(full)))
			fd = x;
		else
			close(x);
	}
	if (d)
		closedir(d);
	return fd;
}

/* Entry i's file is gone, but its content is in a gzip file beside it (compressed while the agent was
 * stopped): its unread part is followed from a decompressed copy, as a rotated file. */
static void tail_open_recovered(struct tail *t, size_t i, size_t input, int fd, const char *gz)
{
	const struct checkpoint_entry *e = &t->kept->e[i];
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
	tail_push(t, f);
	t->nopen++;
	t->added = true;
	log_warnx("tail", "%s: rotated and compressed while the agent was stopped; reading its %llu bytes "
		  "after offset %llu from %s", e->path, (unsigned long long)(st.st_size - (off_t)e->offset),
		  (unsigned long long)e->offset, gz);
	checkpoint_remove(t->kept, i);
	tail_set_rotated(t, f, "recovered from its compressed copy");
}

/* Entry i's file is not in its directory: a gzip file may hold it; otherwise what was not delivered
 * is lost, and said so. */
static bool tail_find_lost(struct tail *t, size_t i, size_t input)
{
	const struct checkpoint_entry *e = &t->kept->e[i];
	struct gzrecover_want want = {e->path, e->fingerprint, e->offset, e->check};
	char *gz = NULL;
	int fd, r;

	if (e->finished)
		return false;
	r = gzrecover_find(&want, t->cfg->agent.state_dir, &fd, &gz);
	if (r == 0) {
		tail_open_recovered(t, i, input, fd, gz);
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

/* Rotations while the agent was stopped: a checkpoint entry whose file is no longer at its path but
 * still in the same directory under another name (matching `paths` or not), with bytes past the
 * saved offset, is followed as rotated: read to its end, then closed. A file with that inode but
 * another first line is not it (inodes are reused). Returns true if entry i was used up. */
static bool tail_find_one(struct tail *t, size_t i)
{
	const struct checkpoint_entry *e = &t->kept->e[i];
	size_t before = t->kept->n;
	ssize_t k = tail_input_index(t->cfg, e->input);
	bool same = false;
	struct stat st;
	char *path = NULL, fp[65];
	int fd;

	if (k < 0 || !e->path)
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
	if (!same)
		return tail_find_lost(t, i, (size_t)k);
	return t->kept->n != before;
}

void tail_find_moved(struct tail *t)
{
	size_t i = 0;

	while (t->kept && i < t->kept->n)
		if (!tail_find_one(t, i))
			i++;
}

int tail_copy_checkpoint(struct tail *t, const struct checkpoint *cp)
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

/* The check hash for f's committed offset. A closed descriptor is reopened for it only if the file
 * is still where it was; otherwise the last offset with a known hash is saved (lines past it are
 * resent after a restart, with the same ids). */
static uint64_t tail_entry_check(struct tail_file *f)
{
	uint64_t committed = ledger_committed(f->led);
	struct stat st;
	int fd = f->fd;

	if (f->check_offset == committed)
		return committed;
	if (committed == 0) {
		f->check[0] = '\0';
		f->check_offset = 0;
		return 0;
	}
	if (fd < 0) {
		fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_dev != f->dev || st.st_ino != f->ino)) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0 && tail_check_hash(fd, committed, f->check) == 0)
		f->check_offset = committed;
	if (fd >= 0 && fd != f->fd)
		close(fd);
	return f->check_offset == UINT64_MAX ? 0 : f->check_offset;
}

static int tail_entry(struct tail *t, struct tail_file *f, int64_t now, bool finished, struct checkpoint *cp)
{
	struct checkpoint_entry e = {0};
	const struct ledger_range *dead;
	int64_t delivered = ledger_last_delivery(f->led);
	size_t n, k = 0;

	e.offset = tail_entry_check(f);
	/* lines past the saved offset that are in the dead-letter file already */
	dead = ledger_dead(f->led, &n);
	while (k < n && dead[k].start < e.offset)
		k++;
	e.dead = (struct ledger_range *)(dead + k);
	e.ndead = n - k;
	if (f->fp[0] == '\0' && e.offset > 0 && f->fd >= 0)
		tail_fingerprint(f->fd, f->fp);
	e.path = f->path;
	e.input = (char *)f->in->name;
	memcpy(e.fingerprint, f->fp, sizeof(e.fingerprint));
	e.dev = (uint64_t)f->dev;
	e.ino = (uint64_t)f->ino;
	memcpy(e.check, e.offset ? f->check : "", e.offset ? sizeof(e.check) : 1);
	e.size = f->size;
	e.last_delivery = delivered;
	e.updated = now;
	e.finished = finished;
	return checkpoint_add(cp, &e);
}

/* A rotated file is closed: its entry stays in the checkpoint, so that a restart neither reads it
 * again (if its new name matches `paths`) nor misses its tail (if it was closed early). */
int tail_keep(struct tail *t, struct tail_file *f, bool finished)
{
	for (size_t i = 0; i < t->kept->n;) {
		if (t->kept->e[i].dev == (uint64_t)f->dev && t->kept->e[i].ino == (uint64_t)f->ino)
			checkpoint_remove(t->kept, i);
		else
			i++;
	}
	t->added = true; /* the set changed: worth saving soon */
	return tail_entry(t, f, (int64_t)time(NULL), finished, t->kept);
}

/* Housekeeping: an entry of a file not followed now, not updated for a day past its rotate_wait and
 * not sitting at its path any more, is dropped (a server rotating hourly keeps about a day of them). */
static bool tail_prunable(struct tail *t, const struct checkpoint_entry *e, int64_t now)
{
	uint64_t wait_ms = 0;
	struct stat st;

	for (size_t k = 0; k < t->cfg->ninputs; k++)
		if (e->input && strcmp(e->input, t->cfg->inputs[k].name) == 0)
			wait_ms = t->cfg->inputs[k].rotate_wait_ms;
	if (now - e->updated < (int64_t)(wait_ms / 1000) + TAIL_PRUNE_AGE_S)
		return false;
	if (e->path && stat(e->path, &st) == 0 && (uint64_t)st.st_dev == e->dev && (uint64_t)st.st_ino == e->ino)
		return false;
	if (e->offset < e->size)
		log_warnx("tail", "%s: forgetting its checkpoint entry: the file is gone with %llu bytes not "
			  "delivered", e->path ? e->path : "?", (unsigned long long)(e->size - e->offset));
	else
		log_debug("tail", "%s: gone and delivered; pruning its checkpoint entry", e->path ? e->path : "?");
	return true;
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
		r = tail_entry(t, t->files[i], ts.tv_sec, false, cp);
	for (size_t i = 0; t->kept && i < t->kept->n && r == 0;) {
		if (tail_prunable(t, &t->kept->e[i], ts.tv_sec)) {
			checkpoint_remove(t->kept, i);
			continue;
		}
		r = checkpoint_add(cp, &t->kept->e[i++]);
	}
	if (r < 0) {
		checkpoint_free(cp);
		return r;
	}
	*ret = cp;
	return 0;
}

/* ---- truncation and rewrites ---- */

/* copytruncate's copy of f's old content: a regular file in f's directory with f's fingerprint whose
 * bytes before our read offset are the ones we read. Returns its descriptor or a negative errno. */
static int tail_find_copy(struct tail *t, struct tail_file *f, struct stat *ret_st, char **ret_path)
{
	char *dir = strdup(f->path), *slash, pat[4096];
	glob_t g;
	int fd = -ENOENT;

	if (!dir || !(slash = strrchr(dir, '/')) || f->fp[0] == '\0') {
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
		    memcmp(b, f->tailb, f->tailn) == 0 && (*ret_path = strdup(g.gl_pathv[i]))) {
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
 * stream from offset 0. */
static struct tail_file *tail_split(struct tail *t, struct tail_file *f)
{
	struct tail_file *old = xmalloc(sizeof(*old));

	*old = *f;
	old->fd = -1;
	old->wd = -1;
	old->poll = false;
	old->verify = false;
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
	tail_push(t, old);
	old->fd = fd;
	old->ready = true;
	log_info("tail", "%s: truncated; reading its copy %s on from offset %llu, then the file from the start",
		 f->path, copy, (unsigned long long)old->ls.offset);
	free(old->path);
	old->path = copy;
	old->dev = st.st_dev;
	old->ino = st.st_ino;
	old->size = (uint64_t)st.st_size;
	t->nopen++; /* f keeps its descriptor: old has the copy's */
	tail_watch_file(t, old);
	tail_set_rotated(t, old, "copy of truncated content");
}

/* Before reading after an event or a reopen: a size below the read offset, other bytes just before
 * it, or another first line mean the file was truncated or rewritten under us. */
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
	if (!bad || f->rotated || t->once)
		return 0;
	tail_truncated(t, f, old_size);
	return 1;
}
