/* status.json: written by the running agent with metrics.prom, read by `status`. The reader trusts
 * nothing it did not check: every number must be a non-negative integer in range, every string is
 * shown only once it is valid UTF-8 without control characters (escaped again otherwise), so a file
 * put there by hand cannot drive the terminal. */
#include "statusfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "checkpoint.h"
#include "fileio.h"
#include "escape.h"
#include "jsonw.h"
#include "parser.h"

/* A status file this large was not written by us. */
#define STATUSFILE_MAX_BYTES ((size_t)64 << 20)

/* ---- writing ---- */

/* s as `status` shows it, as a JSON string. */
static int sf_string(struct buf *out, struct buf *tmp, const char *s)
{
	int r;

	buf_reset(tmp);
	r = escape_text(tmp, s ? s : "", s ? strlen(s) : 0);
	return r ?: jsonw_string(out, tmp->data ? tmp->data : "", tmp->len);
}

static int sf_delivery(struct buf *o, struct buf *tmp, const struct view *v)
{
	const struct sender_stats *s = v->ss;

	return buf_printf(o, "\"delivery\":{\"last_delivery\":%" PRId64 ",\"failing_since\":%" PRId64
			  ",\"consecutive_failures\":%u,\"last_status\":%ld,\"last_error\":",
			  v->last_delivery, v->failing_since, s->consecutive_failures, s->last_status) ?:
	       sf_string(o, tmp, s->last_error) ?:
	       buf_printf(o, ",\"next_retry\":%" PRId64 ",\"behind\":%" PRIu64 "}", v->next_retry, v->behind);
}

/* A file lags while the API fails: the failure is why. */
static int sf_file(struct buf *o, struct buf *tmp, const struct view *v, const struct view_file *f)
{
	const char *err = v->ss->consecutive_failures && view_lag(f) ? v->ss->last_error : "";

	return buf_puts(o, "{\"path\":") ?: sf_string(o, tmp, f->path) ?: buf_puts(o, ",\"input\":") ?:
	       sf_string(o, tmp, f->input) ?:
	       buf_printf(o, ",\"offset\":%" PRIu64 ",\"size\":%" PRIu64 ",\"oldest_undelivered\":%" PRId64
			  ",\"last_delivery\":%" PRId64 ",\"rotated\":%s,\"error\":",
			  f->offset, f->size, f->oldest, f->last_delivery, f->rotated ? "true" : "false") ?:
	       sf_string(o, tmp, err) ?: buf_putc(o, '}');
}

static int sf_bad(struct buf *o, struct buf *tmp, const struct trouble_file *b)
{
	return buf_puts(o, "{\"path\":") ?: sf_string(o, tmp, b->path) ?: buf_puts(o, ",\"input\":") ?:
	       sf_string(o, tmp, b->input) ?: buf_puts(o, ",\"error\":") ?: sf_string(o, tmp, strerror(-b->err)) ?:
	       buf_printf(o, ",\"since\":%" PRId64 "}", b->since);
}

int statusfile_render(struct buf *o, const struct view *v)
{
	struct buf tmp;
	int r;

	buf_init(&tmp, 0);
	r = buf_printf(o, "{\"version\":%d,\"pid\":%ld,\"started\":%" PRId64 ",\"written\":%" PRId64 ",\n",
		       STATUSFILE_VERSION, v->pid, v->started, v->now) ?:
	    sf_delivery(o, &tmp, v) ?: buf_puts(o, ",\n\"files\":[");
	for (size_t i = 0; r == 0 && i < v->nfiles; i++)
		r = buf_puts(o, i ? ",\n" : "\n") ?: sf_file(o, &tmp, v, &v->files[i]);
	if (r == 0)
		r = buf_puts(o, "],\n\"unreadable\":[");
	for (size_t i = 0; r == 0 && i < v->nbad; i++)
		r = buf_puts(o, i ? ",\n" : "\n") ?: sf_bad(o, &tmp, &v->bad[i]);
	if (r == 0)
		r = buf_puts(o, "]}\n");
	buf_free(&tmp);
	return r;
}

int statusfile_write(const char *state_dir, const struct view *v)
{
	struct buf b;
	int r;

	buf_init(&b, 0);
	r = statusfile_render(&b, v);
	if (r == 0)
		r = fileio_replace(state_dir, STATUSFILE_NAME, b.data, b.len);
	buf_free(&b);
	return r;
}

/* ---- reading ---- */

struct sf_ctx {
	char *why;
	size_t whylen;
};

static int sf_bad_msg(struct sf_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int sf_bad_msg(struct sf_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, c->whylen, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static int sf_int(struct sf_ctx *c, struct json_object *o, const char *key, int64_t max, int64_t *ret)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return sf_bad_msg(c, "%s is not an integer", key);
	errno = 0;
	x = json_object_get_int64(v);
	if (errno || x < 0 || x > max)
		return sf_bad_msg(c, "%s is out of range", key);
	*ret = x;
	return 0;
}

static int sf_time(struct sf_ctx *c, struct json_object *o, const char *key, int64_t *ret)
{
	return sf_int(c, o, key, CHECKPOINT_TIME_MAX, ret);
}

static int sf_u64(struct sf_ctx *c, struct json_object *o, const char *key, uint64_t *ret)
{
	int64_t x = 0;
	int r = sf_int(c, o, key, INT64_MAX, &x);

	if (r == 0)
		*ret = (uint64_t)x;
	return r;
}

/* Safe to print as it is: valid UTF-8 without C0, DEL or C1 (what escape_text makes). */
static bool sf_printable(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f || (p[i] == 0xc2 && i + 1 < n && p[i + 1] < 0xa0))
			return false;
	return true;
}

static int sf_str(struct sf_ctx *c, struct json_object *o, const char *key, char **ret)
{
	struct json_object *v;
	const char *s;
	struct buf b;
	size_t n;
	int r;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return sf_bad_msg(c, "%s is not a string", key);
	s = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (sf_printable(s, n) && memchr(s, '\0', n) == NULL) {
		*ret = strndup(s, n);
		return *ret ? 0 : -ENOMEM;
	}
	buf_init(&b, 0);
	r = escape_text(&b, s, n);
	*ret = r == 0 ? strdup(b.data ? b.data : "") : NULL;
	buf_free(&b);
	return r < 0 ? r : *ret ? 0 : -ENOMEM;
}

static int sf_bool(struct sf_ctx *c, struct json_object *o, const char *key, bool *ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
		return sf_bad_msg(c, "%s is not true or false", key);
	*ret = json_object_get_boolean(v);
	return 0;
}

static int sf_read_file(struct sf_ctx *c, struct json_object *o, struct statusfile_file *f)
{
	if (!json_object_is_type(o, json_type_object))
		return sf_bad_msg(c, "a file is not an object");
	return sf_str(c, o, "path", &f->path) ?: sf_str(c, o, "input", &f->input) ?:
	       sf_u64(c, o, "offset", &f->offset) ?: sf_u64(c, o, "size", &f->size) ?:
	       sf_time(c, o, "oldest_undelivered", &f->oldest) ?: sf_time(c, o, "last_delivery", &f->last_delivery) ?:
	       sf_bool(c, o, "rotated", &f->rotated) ?: sf_str(c, o, "error", &f->error);
}

static int sf_read_bad(struct sf_ctx *c, struct json_object *o, struct statusfile_bad *b)
{
	if (!json_object_is_type(o, json_type_object))
		return sf_bad_msg(c, "an unreadable file is not an object");
	return sf_str(c, o, "path", &b->path) ?: sf_str(c, o, "input", &b->input) ?:
	       sf_str(c, o, "error", &b->error) ?: sf_time(c, o, "since", &b->since);
}

static int sf_array(struct sf_ctx *c, struct json_object *root, const char *key, struct json_object **ret,
		    size_t *ret_n)
{
	if (!json_object_object_get_ex(root, key, ret) || !json_object_is_type(*ret, json_type_array))
		return sf_bad_msg(c, "%s is not an array", key);
	*ret_n = json_object_array_length(*ret);
	return 0;
}

static int sf_delivery_read(struct sf_ctx *c, struct json_object *root, struct statusfile *s)
{
	struct json_object *d;
	int64_t st = 0;
	int r;

	if (!json_object_object_get_ex(root, "delivery", &d) || !json_object_is_type(d, json_type_object))
		return sf_bad_msg(c, "delivery is not an object");
	r = sf_time(c, d, "last_delivery", &s->last_delivery) ?: sf_time(c, d, "failing_since", &s->failing_since) ?:
	    sf_u64(c, d, "consecutive_failures", &s->failures) ?: sf_int(c, d, "last_status", 999, &st) ?:
	    sf_str(c, d, "last_error", &s->last_error) ?: sf_time(c, d, "next_retry", &s->next_retry) ?:
	    sf_u64(c, d, "behind", &s->behind);
	s->last_status = (long)st;
	return r;
}

static int sf_parse(struct sf_ctx *c, struct json_object *root, struct statusfile *s)
{
	struct json_object *files, *bad;
	int64_t ver = 0, pid = 0;
	size_t n = 0, nb = 0;
	int r;

	if (!json_object_is_type(root, json_type_object))
		return sf_bad_msg(c, "the top level is not an object");
	r = sf_int(c, root, "version", INT64_MAX, &ver);
	if (r == 0 && ver != STATUSFILE_VERSION)
		r = sf_bad_msg(c, "version is not %d", STATUSFILE_VERSION);
	r = r ?: sf_int(c, root, "pid", INT32_MAX, &pid) ?: sf_time(c, root, "started", &s->started) ?:
	    sf_time(c, root, "written", &s->written) ?: sf_delivery_read(c, root, s) ?:
	    sf_array(c, root, "files", &files, &n) ?: sf_array(c, root, "unreadable", &bad, &nb);
	s->pid = (long)pid;
	if (r)
		return r;
	s->files = calloc(n ? n : 1, sizeof(*s->files));
	s->bad = calloc(nb ? nb : 1, sizeof(*s->bad));
	if (!s->files || !s->bad)
		return -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++, s->nfiles++)
		r = sf_read_file(c, json_object_array_get_idx(files, i), &s->files[i]);
	for (size_t i = 0; r == 0 && i < nb; i++, s->nbad++)
		r = sf_read_bad(c, json_object_array_get_idx(bad, i), &s->bad[i]);
	return r;
}

static int sf_slurp(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	int r = 0;

	if (fd < 0)
		return -errno;
	r = fileio_read_all(fd, b);
	close(fd);
	return r;
}

int statusfile_read(const char *state_dir, struct statusfile *ret, char *why, size_t whylen)
{
	struct sf_ctx c = {why, whylen};
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL;
	struct statusfile s = {0};
	char path[4096];
	struct buf b;
	int r;

	snprintf(why, whylen, "unreadable");
	if (snprintf(path, sizeof(path), "%s/%s", state_dir, STATUSFILE_NAME) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	buf_init(&b, STATUSFILE_MAX_BYTES);
	r = sf_slurp(path, &b);
	if (r == -E2BIG)
		r = sf_bad_msg(&c, "larger than %zu bytes", STATUSFILE_MAX_BYTES);
	if (r == 0 && !(tok = json_tokener_new()))
		r = -ENOMEM;
	if (r == 0) {
		json_tokener_set_flags(tok, ONSIDE_JSON_TOKENER_FLAGS);
		root = json_tokener_parse_ex(tok, b.data ? b.data : "", (int)b.len);
		if (json_tokener_get_error(tok) != json_tokener_success || !root)
			r = sf_bad_msg(&c, "not JSON");
		json_tokener_free(tok);
	}
	if (r == 0)
		r = sf_parse(&c, root, &s);
	json_object_put(root);
	buf_free(&b);
	if (r < 0) {
		statusfile_free(&s);
		return r;
	}
	*ret = s;
	return 0;
}

void statusfile_free(struct statusfile *s)
{
	for (size_t i = 0; s->files && i < s->nfiles; i++) {
		free(s->files[i].path);
		free(s->files[i].input);
		free(s->files[i].error);
	}
	for (size_t i = 0; s->bad && i < s->nbad; i++) {
		free(s->bad[i].path);
		free(s->bad[i].input);
		free(s->bad[i].error);
	}
	free(s->files);
	free(s->bad);
	free(s->last_error);
	memset(s, 0, sizeof(*s));
}
