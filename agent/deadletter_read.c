/* Reading dead-letter records back (deadletter.h), for `replay`: the whole file (it is rotated at 64
 * MiB), one record per line, each line's text kept as it is (a record that stays is written back byte
 * for byte) and its members decoded with the raw line's bytes restored (jsonr.h). */
#include "deadletter.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "jsonr.h"

#define READ_MAX ((size_t)1 << 30) /* a rotated file plus the one record that overflowed it, with room */

static int read_all(const char *state_dir, const char *name, struct buf *b)
{
	char path[4096];
	int fd, r = 0;

	if (snprintf(path, sizeof(path), "%s/%s", state_dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = fileio_read_all(fd, b);
	close(fd);
	return r;
}

static int get_string(struct json_object *o, const char *key, char **ret, size_t *ret_len)
{
	struct json_object *x;
	size_t len;

	if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_string))
		return -EBADMSG;
	return jsonr_unmark_bytes(json_object_get_string(x), (size_t)json_object_get_string_len(x), ret,
				  ret_len ? ret_len : &len);
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
	struct json_object *x;

	if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_int) ||
	    json_object_get_int64(x) < 0)
		return 0;
	return json_object_get_uint64(x);
}

/* The members of one record. Returns 0, -EBADMSG (not a record), or -ENOMEM. */
static int parse_record(struct deadletter_record *rec, struct buf *prot)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL, *x;
	int r = -EBADMSG;

	if (!tok)
		return -ENOMEM;
	buf_reset(prot);
	if ((r = jsonr_protect(rec->text, rec->text_len, prot)) < 0)
		goto out;
	r = -EBADMSG;
	o = json_tokener_parse_ex(tok, prot->data ? prot->data : "", (int)prot->len);
	if (!o || !json_object_is_type(o, json_type_object) || json_tokener_get_error(tok) != json_tokener_success)
		goto out;
	if ((r = get_string(o, "input", &rec->input, NULL)) < 0 || (r = get_string(o, "path", &rec->path, NULL)) < 0 ||
	    (r = get_string(o, "reason", &rec->reason, NULL)) < 0 ||
	    (r = get_string(o, "line", &rec->line, &rec->line_len)) < 0)
		goto out;
	if (!json_object_object_get_ex(o, "offset", &x) || !json_object_is_type(x, json_type_int)) {
		r = -EBADMSG;
		goto out;
	}
	rec->offset = get_u64(o, "offset");
	rec->length = get_u64(o, "length");
	rec->status = (long)get_u64(o, "status");
	if (json_object_object_get_ex(o, "fingerprint", &x) && (r = get_string(o, "fingerprint", &rec->fingerprint, NULL)) < 0)
		goto out;
	r = 0;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}

static void record_clear(struct deadletter_record *r)
{
	free(r->text);
	free(r->input);
	free(r->path);
	free(r->reason);
	free(r->fingerprint);
	free(r->line);
	*r = (struct deadletter_record){ 0 };
}

void deadletter_records_free(struct deadletter_record *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		record_clear(&v[i]);
	free(v);
}

int deadletter_read(const char *state_dir, const char *name, struct deadletter_record **ret, size_t *ret_n)
{
	struct deadletter_record *v = NULL, *t;
	struct buf b, prot;
	size_t n = 0, cap = 0;
	int r;

	buf_init(&b, READ_MAX);
	buf_init(&prot, 0);
	r = read_all(state_dir, name, &b);
	for (size_t at = 0; r == 0 && at < b.len;) {
		char *lf = memchr(b.data + at, '\n', b.len - at);
		size_t len = lf ? (size_t)(lf - (b.data + at)) : b.len - at;

		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if (!(t = realloc(v, cap * sizeof(*v)))) {
				r = -ENOMEM;
				break;
			}
			v = t;
		}
		v[n] = (struct deadletter_record){ .text = malloc(len + 1), .text_len = len };
		if (!v[n].text) {
			r = -ENOMEM;
			break;
		}
		memcpy(v[n].text, b.data + at, len);
		v[n].text[len] = '\0';
		r = parse_record(&v[n], &prot);
		if (r == -EBADMSG) {
			/* not a record (a line cut by a full disk, an edit): kept as text, written back as it is */
			char *text = v[n].text;

			v[n].text = NULL;
			record_clear(&v[n]);
			v[n] = (struct deadletter_record){ .text = text, .text_len = len };
			r = 0;
		}
		v[n].ok = r == 0 && v[n].input;
		n++;
		at += len + 1;
	}
	buf_free(&b);
	buf_free(&prot);
	if (r < 0) {
		deadletter_records_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
