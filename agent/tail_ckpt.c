/* The files' checkpoint entries (see tail_int.h for where this sits): resuming a file just opened from
 * its saved entry, keeping the entries of files that left (rotated and finished, closed early, of
 * removed inputs) and of files not found at start, the snapshot the agent saves, and pruning entries
 * of files long gone. The entries not matched to a followed file live in t->kept, indexed by (dev,
 * ino) and by path, so that opening N files against M entries costs N lookups, not N x M compares. */
#include "tail_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

/* ---- the kept entries and their indexes ---- */

static size_t hash_ino(uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino * 0x9E3779B97F4A7C15ULL) ^ (dev * 0xC2B2AE3D27D4EB4FULL);

	return (size_t)(h ^ (h >> 29));
}

static size_t hash_path(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)h;
}

static void kept_index_one(struct tail_kept *k, size_t i)
{
	const struct checkpoint_entry *e = &k->cp->e[i];
	size_t mask = k->cap - 1, j;

	for (j = hash_ino(e->dev, e->ino) & mask; k->by_ino[j]; j = (j + 1) & mask)
		;
	k->by_ino[j] = i + 1;
	for (j = hash_path(e->path) & mask; k->by_path[j]; j = (j + 1) & mask)
		;
	k->by_path[j] = i + 1;
}

/* (Re)builds both indexes for every entry, with room to add as many again. */
static void kept_reindex(struct tail_kept *k)
{
	size_t cap = 64;

	while (cap < k->cp->n * 4)
		cap *= 2;
	free(k->by_ino);
	free(k->by_path);
	k->by_ino = xcalloc(cap, sizeof(*k->by_ino));
	k->by_path = xcalloc(cap, sizeof(*k->by_path));
	k->cap = cap;
	for (size_t i = 0; i < k->cp->n; i++)
		kept_index_one(k, i);
}

/* Drops the used entries (in one pass: a copy of the others), and builds the indexes again. */
static void kept_compact(struct tail_kept *k)
{
	struct checkpoint *cp;

	if (!k->nused)
		return;
	cp = xnonnull(checkpoint_new());
	for (size_t i = 0; i < k->cp->n; i++)
		if (!k->used[i] && checkpoint_add(cp, &k->cp->e[i]) < 0)
			xalloc_die(sizeof(k->cp->e[i]));
	checkpoint_free(k->cp);
	k->cp = cp;
	memset(k->used, 0, cp->n * sizeof(*k->used));
	k->nused = 0;
	kept_reindex(k);
}

static void kept_add(struct tail_kept *k, const struct checkpoint_entry *e)
{
	if (checkpoint_add(k->cp, e) < 0)
		xalloc_die(sizeof(*e));
	k->used = xreallocarray(k->used, k->cp->cap ? k->cp->cap : 1, sizeof(*k->used));
	k->used[k->cp->n - 1] = false;
	if (k->cp->n * 2 > k->cap)
		kept_reindex(k);
	else
		kept_index_one(k, k->cp->n - 1);
}

int tail_kept_init(struct tail *t, const struct checkpoint *cp)
{
	struct tail_kept *k = &t->kept;

	k->cp = xnonnull(checkpoint_new());
	for (size_t i = 0; cp && i < cp->n; i++)
		if (checkpoint_add(k->cp, &cp->e[i]) < 0)
			xalloc_die(sizeof(cp->e[i]));
	k->used = xcalloc(k->cp->n ? k->cp->n : 1, sizeof(*k->used));
	kept_reindex(k);
	return 0;
}

void tail_kept_free(struct tail *t)
{
	checkpoint_free(t->kept.cp);
	free(t->kept.used);
	free(t->kept.by_ino);
	free(t->kept.by_path);
	memset(&t->kept, 0, sizeof(t->kept));
}

static const struct checkpoint_entry *kept_by_ino(const struct tail_kept *k, dev_t dev, ino_t ino)
{
	size_t mask = k->cap - 1;

	for (size_t j = hash_ino((uint64_t)dev, (uint64_t)ino) & mask; k->by_ino[j]; j = (j + 1) & mask) {
		size_t i = k->by_ino[j] - 1;
		if (!k->used[i] && k->cp->e[i].dev == (uint64_t)dev && k->cp->e[i].ino == (uint64_t)ino)
			return &k->cp->e[i];
	}
	return NULL;
}

static const struct checkpoint_entry *kept_by_path(const struct tail_kept *k, const char *path)
{
	size_t mask = k->cap - 1;

	for (size_t j = hash_path(path) & mask; k->by_path[j]; j = (j + 1) & mask) {
		size_t i = k->by_path[j] - 1;
		if (!k->used[i] && strcmp(k->cp->e[i].path, path) == 0)
			return &k->cp->e[i];
	}
	return NULL;
}

void tail_kept_take(struct tail *t, const struct checkpoint_entry *e)
{
	size_t i = (size_t)(e - t->kept.cp->e);

	if (!t->kept.used[i]) {
		t->kept.used[i] = true;
		t->kept.nused++;
	}
}

void tail_kept_each(struct tail *t, bool (*fn)(struct tail *t, const struct checkpoint_entry *e))
{
	/* fn may add entries (a file opened as rotated keeps nothing yet, but be safe): index, not pointer */
	for (size_t i = 0; i < t->kept.cp->n; i++)
		if (!t->kept.used[i])
			fn(t, &t->kept.cp->e[i]);
}

/* ---- resuming a file ---- */

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

bool tail_same_first_line(const char *fp, const struct checkpoint_entry *e)
{
	return !e->fingerprint[0] || !fp[0] || strcmp(fp, e->fingerprint) == 0;
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

/* A file found at start with no entry of its own, at a path the checkpoint knows, replaced that path's
 * file while the agent was stopped: everything in it is new, whatever start_at says. An entry found by
 * device and inode whose first line differs belongs to another file that had the same inode (deleted,
 * rotated, compressed): it stays for tail_find_moved. */
struct ledger_stream *tail_resume(struct tail *t, int fd, const struct stat *st, const char *path, bool initial,
				  size_t input, uint64_t *ret_offset)
{
	const char *name = t->cfg->inputs[input].name;
	const struct checkpoint_entry *e;
	struct ledger_stream *led;
	bool known_path = false, resumed = false;
	uint64_t offset = 0;
	char fp[65];

	tail_fingerprint(fd, fp);
	e = kept_by_ino(&t->kept, st->st_dev, st->st_ino);
	if (e && !tail_same_first_line(fp, e))
		e = NULL, known_path = true;
	if (!e && (e = kept_by_path(&t->kept, path)) &&
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
		tail_kept_take(t, e);
	*ret_offset = offset;
	return led;
}

/* ---- entries of followed files ---- */

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

/* f's entry as it is now. The pointers in *e are f's: valid until f changes. */
static void tail_entry(struct tail_file *f, int64_t now, bool finished, struct checkpoint_entry *e)
{
	const struct ledger_range *dead;
	size_t n, k = 0;

	memset(e, 0, sizeof(*e));
	e->offset = tail_entry_check(f);
	/* lines past the saved offset that are in the dead-letter file already */
	dead = ledger_dead(f->led, &n);
	while (k < n && dead[k].start < e->offset)
		k++;
	e->dead = (struct ledger_range *)(dead + k);
	e->ndead = n - k;
	if (f->fp[0] == '\0' && e->offset > 0 && f->fd >= 0)
		tail_fingerprint(f->fd, f->fp);
	e->path = f->path;
	e->input = (char *)f->in->name;
	memcpy(e->fingerprint, f->fp, sizeof(e->fingerprint));
	e->dev = (uint64_t)f->dev;
	e->ino = (uint64_t)f->ino;
	memcpy(e->check, e->offset ? f->check : "", e->offset ? sizeof(e->check) : 1);
	e->size = f->size;
	e->last_delivery = ledger_last_delivery(f->led);
	e->updated = now;
	e->finished = finished;
}

/* A file leaves: its entry stays in the checkpoint, so that a restart neither reads it again (if its
 * new name matches `paths`) nor misses its tail (if it was closed early). */
void tail_keep(struct tail *t, struct tail_file *f, bool finished)
{
	struct checkpoint_entry e;
	const struct checkpoint_entry *old;

	while ((old = kept_by_ino(&t->kept, f->dev, f->ino)))
		tail_kept_take(t, old);
	tail_entry(f, (int64_t)time(NULL), finished, &e);
	kept_add(&t->kept, &e);
	t->added = true; /* the set changed: worth saving soon */
}

/* Housekeeping: an entry of a file not followed now, not updated for a day past its rotate_wait and
 * not sitting at its path any more, is dropped (a server rotating hourly keeps about a day of them). */
static bool tail_prunable(struct tail *t, const struct checkpoint_entry *e, int64_t now)
{
	ssize_t k = tail_input_index(t->cfg, e->input);
	uint64_t wait_ms = k >= 0 ? t->cfg->inputs[k].rotate_wait_ms : 0;
	struct stat st;

	if (now - e->updated < (int64_t)(wait_ms / 1000) + TAIL_PRUNE_AGE_S)
		return false;
	if (stat(e->path, &st) == 0 && (uint64_t)st.st_dev == e->dev && (uint64_t)st.st_ino == e->ino)
		return false;
	if (e->offset < e->size)
		log_warnx("tail", "%s: forgetting its checkpoint entry: the file is gone with %llu bytes not "
			  "delivered", e->path, (unsigned long long)(e->size - e->offset));
	else
		log_debug("tail", "%s: gone and delivered; pruning its checkpoint entry", e->path);
	return true;
}

int tail_snapshot(struct tail *t, struct checkpoint **ret)
{
	struct checkpoint *cp = xnonnull(checkpoint_new());
	struct checkpoint_entry e;
	int64_t now = (int64_t)time(NULL);
	int r = 0;

	for (size_t i = 0; i < t->n && r == 0; i++) {
		tail_entry(t->files[i], now, false, &e);
		r = checkpoint_add(cp, &e);
	}
	for (size_t i = 0; i < t->kept.cp->n; i++)
		if (!t->kept.used[i] && tail_prunable(t, &t->kept.cp->e[i], now))
			tail_kept_take(t, &t->kept.cp->e[i]);
	kept_compact(&t->kept);
	for (size_t i = 0; i < t->kept.cp->n && r == 0; i++)
		r = checkpoint_add(cp, &t->kept.cp->e[i]);
	if (r < 0) {
		checkpoint_free(cp);
		return r;
	}
	*ret = cp;
	return 0;
}
