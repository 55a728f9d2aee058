/* The set of followed files (the bottom of the tailer, see tail_int.h): file records, their index by
 * (dev, ino), their descriptors under a bound with the least recently used closed first, reopening,
 * and the identity primitives (first-line fingerprint, check hash) the files above build on. Nothing
 * here calls up into the other tail files. */
#include "tail_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

/* ---- identity primitives ---- */

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

/* ---- which input a path belongs to ---- */

bool tail_excluded(const struct config_input *in, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < in->nexclude; i++)
		if (fnmatch(in->exclude[i], path, FNM_PATHNAME) == 0 || fnmatch(in->exclude[i], base, 0) == 0)
			return true;
	return false;
}

ssize_t tail_match(const struct tail *t, const char *path)
{
	for (size_t i = 0; i < t->cfg->ninputs; i++) {
		const struct config_input *in = &t->cfg->inputs[i];
		for (size_t k = 0; k < in->npaths; k++)
			if (fnmatch(in->paths[k], path, FNM_PATHNAME) == 0 && !tail_excluded(in, path))
				return (ssize_t)i;
	}
	return -1;
}

ssize_t tail_input_index(const struct config *cfg, const char *name)
{
	for (size_t k = 0; name && k < cfg->ninputs; k++)
		if (strcmp(cfg->inputs[k].name, name) == 0)
			return (ssize_t)k;
	return -1;
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

/* ---- the (dev, ino) index: open addressing, linear probing, backward-shift deletion ---- */

static size_t ino_home(dev_t dev, ino_t ino, size_t cap)
{
	uint64_t h = ((uint64_t)ino * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)dev * 0xC2B2AE3D27D4EB4FULL);

	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static void ino_insert(struct tail *t, struct tail_file *f)
{
	size_t i = ino_home(f->dev, f->ino, t->ino_cap);

	while (t->by_ino[i])
		i = (i + 1) & (t->ino_cap - 1);
	t->by_ino[i] = f;
	t->ino_n++;
}

static void ino_put(struct tail *t, struct tail_file *f)
{
	if ((t->ino_n + 1) * 2 > t->ino_cap) {
		struct tail_file **old = t->by_ino;
		size_t oldcap = t->ino_cap;

		t->ino_cap = t->ino_cap ? t->ino_cap * 2 : 64;
		t->by_ino = xcalloc(t->ino_cap, sizeof(*t->by_ino));
		t->ino_n = 0;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i])
				ino_insert(t, old[i]);
		free(old);
	}
	ino_insert(t, f);
}

static void ino_del(struct tail *t, struct tail_file *f)
{
	size_t mask = t->ino_cap - 1, i, j;

	if (!t->ino_cap)
		return;
	for (i = ino_home(f->dev, f->ino, t->ino_cap); t->by_ino[i] != f; i = (i + 1) & mask)
		if (!t->by_ino[i])
			return;
	t->by_ino[i] = NULL;
	t->ino_n--;
	for (j = i;;) {
		size_t k;
		j = (j + 1) & mask;
		if (!t->by_ino[j])
			return;
		k = ino_home(t->by_ino[j]->dev, t->by_ino[j]->ino, t->ino_cap);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			t->by_ino[i] = t->by_ino[j];
			t->by_ino[j] = NULL;
			i = j;
		}
	}
}

struct tail_file *tail_by_ino(const struct tail *t, dev_t dev, ino_t ino)
{
	if (!t->ino_cap)
		return NULL;
	for (size_t i = ino_home(dev, ino, t->ino_cap); t->by_ino[i]; i = (i + 1) & (t->ino_cap - 1))
		if (t->by_ino[i]->dev == dev && t->by_ino[i]->ino == ino)
			return t->by_ino[i];
	return NULL;
}

void tail_set_identity(struct tail *t, struct tail_file *f, dev_t dev, ino_t ino)
{
	ino_del(t, f);
	f->dev = dev;
	f->ino = ino;
	ino_put(t, f);
}

/* ---- descriptors: the least recently used list of open ones ---- */

static void lru_unlink(struct tail *t, struct tail_file *f)
{
	if (f->lru_prev)
		f->lru_prev->lru_next = f->lru_next;
	else if (t->lru_head == f)
		t->lru_head = f->lru_next;
	if (f->lru_next)
		f->lru_next->lru_prev = f->lru_prev;
	else if (t->lru_tail == f)
		t->lru_tail = f->lru_prev;
	f->lru_prev = f->lru_next = NULL;
}

void tail_touch(struct tail *t, struct tail_file *f)
{
	f->last_use_ms = loop_now_ms();
	if (f->fd < 0 || t->lru_tail == f)
		return;
	lru_unlink(t, f);
	f->lru_prev = t->lru_tail;
	if (t->lru_tail)
		t->lru_tail->lru_next = f;
	else
		t->lru_head = f;
	t->lru_tail = f;
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
	lru_unlink(t, f);
	close(f->fd);
	f->fd = -1;
	t->nopen--;
}

/* Keeps the open descriptors under max_open by closing the least recently used followed file (not a
 * rotated one: it may have no name left to reopen it by). Among the few least recently used, a file
 * read to its end goes first. */
void tail_make_room(struct tail *t)
{
	struct tail_file *victim = NULL;
	int looked = 0;

	if (t->nopen < t->max_open)
		return;
	for (struct tail_file *f = t->lru_head; f && looked < 16; f = f->lru_next) {
		if (f->state == TAIL_ROTATED)
			continue;
		looked++;
		if (!victim || (victim->ready && !f->ready))
			victim = f;
	}
	if (victim) {
		log_debug("tail", "%s: closing its descriptor (%zu open, the bound)", victim->path, t->nopen);
		tail_close_fd(t, victim);
	}
}

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
		if (fstat(x, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == dev && st.st_ino == ino) {
			*ret_path = xstrdup(full);
			fd = x;
		} else {
			close(x);
		}
	}
	if (d)
		closedir(d);
	return fd;
}

/* The caller reads the file with verify set, which catches a truncation or a rewrite meanwhile. */
int tail_reopen(struct tail *t, struct tail_file *f, char **ret_moved)
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
	tail_touch(t, f);
	*ret_moved = path;
	return 0;
}

/* ---- records ---- */

void tail_load_tail(struct tail_file *f)
{
	size_t want = f->ls.offset < sizeof(f->tailb) ? (size_t)f->ls.offset : sizeof(f->tailb);
	ssize_t n = pread(f->fd, f->tailb, want, (off_t)(f->ls.offset - want));

	f->tailn = n == (ssize_t)want ? (unsigned)want : 0;
}

struct tail_file *tail_file_new(struct tail *t, const char *path, size_t input, int fd, const struct stat *st,
				uint64_t offset, struct ledger_stream *led)
{
	struct tail_file *f = xcalloc(1, sizeof(*f));

	f->state = TAIL_LIVE;
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

void tail_add(struct tail *t, struct tail_file *f)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->files = xreallocarray(t->files, t->cap, sizeof(*t->files));
	}
	t->files[t->n++] = f;
	ino_put(t, f);
	if (f->fd >= 0) {
		t->nopen++;
		tail_touch(t, f);
	}
	t->changed = true;
}

void tail_remove(struct tail *t, struct tail_file *f)
{
	size_t i;

	for (i = 0; i < t->n && t->files[i] != f; i++)
		;
	if (i == t->n)
		return;
	memmove(&t->files[i], &t->files[i + 1], (t->n - i - 1) * sizeof(t->files[0]));
	t->n--;
	ino_del(t, f);
	if (f->fd >= 0) {
		lru_unlink(t, f);
		t->nopen--;
	}
	t->changed = true;
	tail_file_free(f);
}
