/* checkpoint.json: writing it atomically (with fileio_replace), loading it
 * with every entry checked (checkpoint_load for `run`, which moves a damaged file aside), and the same
 * checks entry by entry for readers that only show it (checkpoint_read_each for `status`). */
#include "checkpoint.h"
#include "parser.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buf.h"
#include "fileio.h"
#include "jsonr.h"
#include "jsonw.h"

/* A checkpoint this large was not written by us (it would track some 200,000 files). */
#define CHECKPOINT_MAX_BYTES ((size_t)64 << 20)

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* "dir/name" without doubling a trailing slash of dir. */
static int join_path(const char *dir, const char *name, char *out, size_t outlen)
{
	size_t dl = strlen(dir);
	int n;

	n = snprintf(out, outlen, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

struct checkpoint *checkpoint_new(void)
{
	return calloc(1, sizeof(struct checkpoint));
}

static void entry_clear(struct checkpoint_entry *e)
{
	free(e->path);
	free(e->input);
	free(e->last_error);
	free(e->dead);
}

void checkpoint_free(struct checkpoint *cp)
{
	size_t i;

	if (!cp)
		return;
	for (i = 0; i < cp->n; i++)
		entry_clear(&cp->e[i]);
	free(cp->e);
	free(cp);
}

static int dup_or_null(const char *s, char **ret)
{
	*ret = NULL;
	if (s && !(*ret = strdup(s)))
		return -ENOMEM;
	return 0;
}

int checkpoint_add(struct checkpoint *cp, const struct checkpoint_entry *e)
{
	struct checkpoint_entry c;

	if (!cp || !e || !e->path)
		return -EINVAL;
	if (cp->n == cp->cap) {
		size_t cap = cp->cap ? cp->cap * 2 : 16;
		struct checkpoint_entry *p = reallocarray(cp->e, cap, sizeof(*p));
		if (!p)
			return -ENOMEM;
		cp->e = p;
		cp->cap = cap;
	}
	c = *e;
	c.fingerprint[sizeof(c.fingerprint) - 1] = '\0';
	c.check[sizeof(c.check) - 1] = '\0';
	c.path = c.input = c.last_error = NULL;
	c.dead = e->ndead ? reallocarray(NULL, e->ndead, sizeof(*c.dead)) : NULL;
	if ((e->ndead && !c.dead) || dup_or_null(e->path, &c.path) < 0 || dup_or_null(e->input, &c.input) < 0 ||
	    dup_or_null(e->last_error, &c.last_error) < 0) {
		entry_clear(&c);
		return -ENOMEM;
	}
	if (e->ndead)
		memcpy(c.dead, e->dead, e->ndead * sizeof(*c.dead));
	cp->e[cp->n++] = c;
	return 0;
}

void checkpoint_remove(struct checkpoint *cp, size_t i)
{
	entry_clear(&cp->e[i]);
	memmove(&cp->e[i], &cp->e[i + 1], (cp->n - i - 1) * sizeof(cp->e[0]));
	cp->n--;
}

/* Empty (not known yet) or exactly 64 hex digits. */
static bool hex_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return true;
	if (n != 64)
		return false;
	for (i = 0; i < n; i++)
		if (!s[i] || !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return true;
}

/* One entry on one line, keys in a fixed order so that the file diffs well. */
static int put_entry(struct buf *b, const struct checkpoint_entry *e)
{
	int r;

	r = buf_puts(b, "  {\"path\":");
	if (!r)
		r = jsonw_string(b, e->path, strlen(e->path));
	if (!r && e->input) {
		r = buf_puts(b, ",\"input\":");
		if (!r)
			r = jsonw_string(b, e->input, strlen(e->input));
	}
	if (!r)
		r = buf_printf(b,
			       ",\"fingerprint\":\"%s\",\"dev\":%" PRIu64 ",\"ino\":%" PRIu64
			       ",\"offset\":%" PRIu64 ",\"check\":\"%s\",\"size\":%" PRIu64
			       ",\"last_delivery\":%" PRId64,
			       e->fingerprint, e->dev, e->ino, e->offset, e->check, e->size,
			       e->last_delivery);
	if (!r && e->last_error) {
		r = buf_puts(b, ",\"last_error\":");
		if (!r)
			r = jsonw_string(b, e->last_error, strlen(e->last_error));
	}
	if (!r)
		r = buf_printf(b, ",\"updated\":%" PRId64, e->updated);
	for (size_t i = 0; !r && i < e->ndead; i++)
		r = buf_printf(b, "%s[%" PRIu64 ",%" PRIu64 "]", i ? "," : ",\"dead\":[", e->dead[i].start,
			       e->dead[i].end);
	if (!r && e->ndead)
		r = buf_putc(b, ']');
	if (!r)
		r = buf_puts(b, e->finished ? ",\"finished\":true}" : "}");
	return r;
}

static int serialize(const struct checkpoint *cp, struct buf *b, char *err, size_t errlen)
{
	size_t i;
	int r;

	r = buf_printf(b, "{\"version\":%d,\"files\":[", CHECKPOINT_VERSION);
	for (i = 0; !r && i < cp->n; i++) {
		const struct checkpoint_entry *e = &cp->e[i];

		/* Refuse to write what checkpoint_load would call damaged. */
		if (!e->path || !e->path[0] || !hex_ok(e->fingerprint, strnlen(e->fingerprint, 65)) ||
		    !hex_ok(e->check, strnlen(e->check, 65))) {
			seterr(err, errlen,
			       "checkpoint entry %zu has no path or a malformed fingerprint/check", i);
			return -EINVAL;
		}
		r = buf_puts(b, i ? ",\n" : "\n");
		if (!r)
			r = put_entry(b, e);
	}
	if (!r)
		r = buf_puts(b, cp->n ? "\n]}\n" : "]}\n");
	if (r < 0)
		seterr(err, errlen, "cannot serialize the checkpoint: %s", strerror(-r));
	return r;
}

int checkpoint_save(const char *state_dir, const struct checkpoint *cp, char *err, size_t errlen)
{
	struct buf b;
	int r;

	buf_init(&b, CHECKPOINT_MAX_BYTES);
	r = serialize(cp, &b, err, errlen);
	if (r < 0)
		goto out;
	r = fileio_replace(state_dir, CHECKPOINT_FILE, b.data, b.len);
	if (r < 0)
		seterr(err, errlen, "cannot write checkpoint %s/%s: %s", state_dir, CHECKPOINT_FILE,
		       strerror(-r));
out:
	buf_free(&b);
	return r;
}

/* ---- loading ---- */

/* Reads at most b->max bytes; a file that fills them all is larger than the caller accepts. */
static int read_file(const char *path, struct buf *b)
{
	int fd, r = 0;

	/* O_NONBLOCK: a FIFO in the checkpoint's place reads as empty instead of hanging */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	r = fileio_read_all(fd, b);
	close(fd);
	return r;
}

/* Context for validating one entry: where to say what is wrong. */
struct vctx {
	size_t idx;
	char *why;
	size_t whylen;
};

static int bad(struct vctx *v, const char *key, const char *what)
{
	seterr(v->why, v->whylen, "%s %s in files[%zu]", key, what, v->idx);
	return -EBADMSG;
}

/* An integer in [0, max]. A missing optional key leaves *ret alone. */
static int get_u64(struct vctx *v, struct json_object *o, const char *key, bool required, uint64_t max,
		   uint64_t *ret)
{
	struct json_object *x;
	uint64_t u;

	if (!json_object_object_get_ex(o, key, &x))
		return required ? bad(v, key, "is missing") : 0;
	if (!json_object_is_type(x, json_type_int))
		return bad(v, key, "is not an integer");
	/* json-c keeps values above INT64_MAX as unsigned; get_int64 then saturates, never goes negative. */
	if (json_object_get_int64(x) < 0)
		return bad(v, key, "is negative");
	u = json_object_get_uint64(x);
	if (u > max)
		return bad(v, key, "is out of range");
	*ret = u;
	return 0;
}

/* A Unix time in [0, CHECKPOINT_TIME_MAX] (0: never); a missing key leaves *ret alone. */
static int get_time(struct vctx *v, struct json_object *o, const char *key, int64_t *ret)
{
	struct json_object *x;
	int64_t t;

	if (!json_object_object_get_ex(o, key, &x))
		return 0;
	if (!json_object_is_type(x, json_type_int))
		return bad(v, key, "is not an integer");
	t = json_object_get_int64(x);
	if (t < 0 || t > CHECKPOINT_TIME_MAX)
		return bad(v, key, "is not a time between 1970 and 9999");
	*ret = t;
	return 0;
}

/* A string; optional ones may also be null (both leave *ret NULL). */
static int get_str(struct vctx *v, struct json_object *o, const char *key, bool required, char **ret)
{
	struct json_object *x;
	int r;

	if (!json_object_object_get_ex(o, key, &x) || (!required && !x))
		return required ? bad(v, key, "is missing") : 0;
	if (!json_object_is_type(x, json_type_string))
		return bad(v, key, "is not a string");
	r = jsonr_unmark(json_object_get_string(x), (size_t)json_object_get_string_len(x), ret);
	if (r == -EBADMSG)
		return bad(v, key, "contains a NUL byte");
	return r;
}

static int get_hex(struct vctx *v, struct json_object *o, const char *key, char out[65])
{
	struct json_object *x;
	const char *s;
	size_t n, i;

	if (!json_object_object_get_ex(o, key, &x))
		return bad(v, key, "is missing");
	if (!json_object_is_type(x, json_type_string))
		return bad(v, key, "is not a string");
	s = json_object_get_string(x);
	n = (size_t)json_object_get_string_len(x);
	if (!hex_ok(s, n))
		return bad(v, key, "is not 64 hex digits or empty");
	/* Fingerprints are compared as text with freshly computed lowercase hex. */
	for (i = 0; i < n; i++)
		out[i] = (char)((s[i] >= 'A' && s[i] <= 'F') ? s[i] - 'A' + 'a' : s[i]);
	out[n] = '\0';
	return 0;
}

static int get_bool(struct vctx *v, struct json_object *o, const char *key, bool *ret)
{
	struct json_object *x;

	if (!json_object_object_get_ex(o, key, &x))
		return 0;
	if (!json_object_is_type(x, json_type_boolean))
		return bad(v, key, "is not true or false");
	*ret = json_object_get_boolean(x);
	return 0;
}

/* "dead": sorted, disjoint [start, end) pairs past the entry's offset. */
static int get_dead(struct vctx *v, struct json_object *o, struct checkpoint_entry *e)
{
	struct json_object *x;
	size_t n;

	if (!json_object_object_get_ex(o, "dead", &x))
		return 0;
	if (!json_object_is_type(x, json_type_array))
		return bad(v, "dead", "is not an array");
	n = json_object_array_length(x);
	if (n == 0)
		return 0;
	if (!(e->dead = reallocarray(NULL, n, sizeof(*e->dead))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(x, i), *a, *z;
		int64_t s, t;

		if (!json_object_is_type(p, json_type_array) || json_object_array_length(p) != 2 ||
		    !json_object_is_type(a = json_object_array_get_idx(p, 0), json_type_int) ||
		    !json_object_is_type(z = json_object_array_get_idx(p, 1), json_type_int))
			return bad(v, "dead", "is not a list of [start, end] pairs");
		s = json_object_get_int64(a);
		t = json_object_get_int64(z);
		if (s < (int64_t)e->offset || t <= s || (i && (uint64_t)s < e->dead[i - 1].end))
			return bad(v, "dead", "has a range that is not after the offset, empty or out of order");
		e->dead[i] = (struct ledger_range){(uint64_t)s, (uint64_t)t};
		e->ndead = i + 1;
	}
	return 0;
}

/* Unknown keys are ignored: an older agent can still read a newer checkpoint of the same version.
 * Fills *e as far as it gets (the caller clears it either way). A file offset or size beyond what
 * off_t holds, or a time outside 1970..9999, was not written by an agent. */
static int read_entry(struct vctx *v, struct json_object *o, struct checkpoint_entry *e)
{
	int r;

	if (!json_object_is_type(o, json_type_object)) {
		seterr(v->why, v->whylen, "files[%zu] is not an object", v->idx);
		return -EBADMSG;
	}
	r = get_str(v, o, "path", true, &e->path);
	if (!r && !e->path[0])
		r = bad(v, "path", "is empty");
	if (!r)
		r = get_str(v, o, "input", false, &e->input);
	if (!r)
		r = get_hex(v, o, "fingerprint", e->fingerprint);
	if (!r)
		r = get_u64(v, o, "dev", true, UINT64_MAX, &e->dev);
	if (!r)
		r = get_u64(v, o, "ino", true, UINT64_MAX, &e->ino);
	if (!r)
		r = get_u64(v, o, "offset", true, INT64_MAX, &e->offset);
	if (!r)
		r = get_hex(v, o, "check", e->check);
	if (!r)
		r = get_u64(v, o, "size", false, INT64_MAX, &e->size);
	if (!r)
		r = get_time(v, o, "last_delivery", &e->last_delivery);
	if (!r)
		r = get_str(v, o, "last_error", false, &e->last_error);
	if (!r)
		r = get_time(v, o, "updated", &e->updated);
	if (!r)
		r = get_dead(v, o, e);
	if (!r)
		r = get_bool(v, o, "finished", &e->finished);
	return r;
}

static int parse_json(const char *text, size_t len, struct json_object **ret, char *why, size_t whylen)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, ONSIDE_JSON_TOKENER_FLAGS);
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue) {
		seterr(why, whylen, "truncated JSON");
		return -EBADMSG;
	}
	if (jerr != json_tokener_success) {
		/* A line number, not a byte offset: jsonr_protect() shifted the bytes, not the lines. */
		size_t i, line = 1;

		for (i = 0; i < end && i < len; i++)
			line += text[i] == '\n';
		seterr(why, whylen, "invalid JSON on line %zu: %s", line, json_tokener_error_desc(jerr));
		json_object_put(root);
		return -EBADMSG;
	}
	while (end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (end < len) {
		seterr(why, whylen, "unexpected data after the JSON object");
		json_object_put(root);
		return -EBADMSG;
	}
	*ret = root;
	return 0;
}

int checkpoint_parse_each(const char *text, size_t len, checkpoint_each_fn fn, void *data, char *why,
			  size_t whylen)
{
	struct json_object *root = NULL, *ver, *files;
	struct checkpoint_entry e;
	char entry_why[256];
	struct vctx v = { 0, entry_why, sizeof(entry_why) };
	struct buf prot;
	size_t i, n;
	int r;

	buf_init(&prot, 0);
	r = jsonr_protect(text, len, &prot);
	if (r < 0)
		goto out;
	r = parse_json(prot.data ? prot.data : "", prot.len, &root, why, whylen);
	if (r < 0)
		goto out;
	r = -EBADMSG;
	if (!root || !json_object_is_type(root, json_type_object)) {
		seterr(why, whylen, "the top level is not an object");
	} else if (!json_object_object_get_ex(root, "version", &ver) ||
		   !json_object_is_type(ver, json_type_int) ||
		   json_object_get_int64(ver) != CHECKPOINT_VERSION) {
		seterr(why, whylen, "version is not %d", CHECKPOINT_VERSION);
	} else if (!json_object_object_get_ex(root, "files", &files) ||
		   !json_object_is_type(files, json_type_array)) {
		seterr(why, whylen, "files is not an array");
	} else {
		r = 0;
		n = json_object_array_length(files);
		for (i = 0; !r && i < n; i++) {
			memset(&e, 0, sizeof(e));
			v.idx = i;
			r = read_entry(&v, json_object_array_get_idx(files, i), &e);
			if (r == 0 || r == -EBADMSG)
				r = fn(data, i, &e, r == 0 ? NULL : entry_why);
			entry_clear(&e);
		}
	}
out:
	json_object_put(root);
	buf_free(&prot);
	return r;
}

struct collect {
	struct checkpoint *cp;
	char *why;
	size_t whylen;
};

/* checkpoint_load's view: one damaged entry makes the whole file damaged. */
static int collect_entry(void *data, size_t idx, const struct checkpoint_entry *e, const char *damage)
{
	struct collect *c = data;

	if (damage) {
		seterr(c->why, c->whylen, "%s", damage);
		return -EBADMSG;
	}
	return checkpoint_add(c->cp, e);
}

static int parse_checkpoint(const char *text, size_t len, struct checkpoint *cp, char *why, size_t whylen)
{
	struct collect c = { cp, why, whylen };

	return checkpoint_parse_each(text, len, collect_entry, &c, why, whylen);
}

/* Renames the damaged file to path.damaged-<time>, adding .N if that name is taken: never overwrite
 * an earlier damaged copy, never delete. */
static int move_aside(const char *path, char *to, size_t tolen)
{
	long long now = (long long)time(NULL);
	struct stat st;
	int i, n;

	for (i = 0; i < 1000; i++) {
		if (i == 0)
			n = snprintf(to, tolen, "%s.damaged-%lld", path, now);
		else
			n = snprintf(to, tolen, "%s.damaged-%lld.%d", path, now, i);
		if (n < 0 || (size_t)n >= tolen)
			return -ENAMETOOLONG;
		if (lstat(to, &st) < 0 && errno == ENOENT)
			return rename(path, to) < 0 ? -errno : 0;
	}
	return -EEXIST;
}

static int sync_dir(const char *dir)
{
	int fd, r = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* The file is damaged: move it aside and hand back an empty checkpoint with -EBADMSG. */
static int damaged(const char *state_dir, const char *path, const char *why, struct checkpoint **ret,
		   char *err, size_t errlen)
{
	char to[PATH_MAX + 64];
	struct checkpoint *empty;
	int r;

	empty = checkpoint_new();
	if (!empty)
		return -ENOMEM;
	r = move_aside(path, to, sizeof(to));
	if (r < 0) {
		seterr(err, errlen, "checkpoint %s is damaged (%s) and cannot be moved aside: %s", path, why,
		       strerror(-r));
		checkpoint_free(empty);
		return r;
	}
	sync_dir(state_dir); /* best effort: the worst case is finding the damaged file again */
	seterr(err, errlen, "checkpoint %s is damaged (%s); moved aside to %s", path, why, to);
	*ret = empty;
	return -EBADMSG;
}

/* Reads state_dir/checkpoint.json into text; path receives its name. Returns 0, -ENOENT, -EBADMSG
 * with why filled (too large, empty), or another negative errno with err filled. */
static int load_text(const char *state_dir, char *path, size_t pathlen, struct buf *text, char *why,
		     size_t whylen, char *err, size_t errlen)
{
	int r;

	r = join_path(state_dir, CHECKPOINT_FILE, path, pathlen);
	if (r < 0) {
		seterr(err, errlen, "checkpoint path in %s is too long", state_dir);
		return r;
	}
	r = read_file(path, text);
	if (r == -E2BIG) {
		seterr(why, whylen, "larger than %zu MiB", CHECKPOINT_MAX_BYTES >> 20);
		return -EBADMSG;
	}
	if (r < 0) {
		if (r != -ENOENT)
			seterr(err, errlen, "cannot read checkpoint %s: %s", path, strerror(-r));
		return r;
	}
	if (text->len > CHECKPOINT_MAX_BYTES) {
		seterr(why, whylen, "larger than %zu MiB", CHECKPOINT_MAX_BYTES >> 20);
		return -EBADMSG;
	}
	if (text->len == 0) {
		seterr(why, whylen, "empty file");
		return -EBADMSG;
	}
	return 0;
}

int checkpoint_load(const char *state_dir, struct checkpoint **ret, char *err, size_t errlen)
{
	char path[PATH_MAX], why[256];
	struct checkpoint *cp = NULL;
	struct buf text;
	int r;

	buf_init(&text, CHECKPOINT_MAX_BYTES + 1);
	cp = checkpoint_new();
	if (!cp) {
		r = -ENOMEM;
		goto out;
	}
	r = load_text(state_dir, path, sizeof(path), &text, why, sizeof(why), err, errlen);
	if (r == -ENOENT) {
		r = 0;
		*ret = cp;
		cp = NULL;
		goto out;
	}
	if (r == 0) {
		r = parse_checkpoint(text.data, text.len, cp, why, sizeof(why));
		if (r < 0 && r != -EBADMSG)
			seterr(err, errlen, "cannot load checkpoint %s: %s", path, strerror(-r));
	}
	if (r == -EBADMSG) {
		r = damaged(state_dir, path, why, ret, err, errlen);
	} else if (r == 0) {
		*ret = cp;
		cp = NULL;
	}
out:
	checkpoint_free(cp);
	buf_free(&text);
	return r;
}

int checkpoint_read_each(const char *state_dir, checkpoint_each_fn fn, void *data, char *err, size_t errlen)
{
	char path[PATH_MAX], why[256] = "";
	struct buf text;
	int r;

	buf_init(&text, CHECKPOINT_MAX_BYTES + 1);
	r = load_text(state_dir, path, sizeof(path), &text, why, sizeof(why), err, errlen);
	if (r == 0) {
		r = checkpoint_parse_each(text.data, text.len, fn, data, why, sizeof(why));
		if (r < 0 && r != -EBADMSG)
			seterr(err, errlen, "cannot read checkpoint %s: %s", path, strerror(-r));
	}
	if (r == -EBADMSG)
		seterr(err, errlen, "checkpoint %s is damaged (%s)", path, why);
	buf_free(&text);
	return r;
}
