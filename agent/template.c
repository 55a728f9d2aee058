/* Templates (see template.h): compiling "${field}" references and literal text once, and rendering
 * them into a reused buf without allocating per line. */
#include "template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A compiled template is a list of parts: literal text or a field reference. The source string is
 * copied once; parts point into that copy. */
struct tpart {
	const char *p;
	size_t len;
	bool field;
};

struct template {
	char *src;
	struct tpart *parts;
	size_t nparts;
	size_t nfields;
};

static int template_push(struct template *t, const char *p, size_t len, bool field)
{
	struct tpart *np;

	if (len == 0 && !field)
		return 0;
	/* merge adjacent literal runs (produced by "$${" escapes) */
	if (!field && t->nparts && !t->parts[t->nparts - 1].field &&
	    t->parts[t->nparts - 1].p + t->parts[t->nparts - 1].len == p) {
		t->parts[t->nparts - 1].len += len;
		return 0;
	}
	np = realloc(t->parts, (t->nparts + 1) * sizeof(*np));
	if (!np)
		return -ENOMEM;
	t->parts = np;
	t->parts[t->nparts++] = (struct tpart){p, len, field};
	if (field)
		t->nfields++;
	return 0;
}

static int template_scan(struct template *t, char *err, size_t errlen, size_t *ret_col)
{
	char *s = t->src, *lit = s, *w = s;
	int r;

	/* w compacts the source in place so that "$${" becomes "${" inside literal runs */
	while (*s) {
		if (s[0] == '$' && s[1] == '$' && s[2] == '{') {
			*w++ = '$';
			*w++ = '{';
			s += 3;
			continue;
		}
		if (s[0] == '$' && s[1] == '{') {
			const char *name = s + 2, *end = strchr(name, '}');
			size_t col = (size_t)(s - t->src);

			if (!end || end == name || memchr(name, '{', (size_t)(end - name))) {
				snprintf(err, errlen, end == name ? "empty field name in \"${}\"" :
					 "unterminated \"${\"");
				if (ret_col)
					*ret_col = col;
				return -EINVAL;
			}
			if ((r = template_push(t, lit, (size_t)(w - lit), false)) < 0)
				return r;
			/* the name is copied down to w so it stays contiguous after compaction */
			memmove(w, name, (size_t)(end - name));
			if ((r = template_push(t, w, (size_t)(end - name), true)) < 0)
				return r;
			w += end - name;
			s = (char *)end + 1;
			lit = w;
			continue;
		}
		*w++ = *s++;
	}
	return template_push(t, lit, (size_t)(w - lit), false);
}

int template_compile(const char *src, struct template **ret, char *err, size_t errlen, size_t *ret_col)
{
	struct template *t;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->src = strdup(src);
	if (!t->src) {
		free(t);
		return -ENOMEM;
	}
	r = template_scan(t, err, errlen, ret_col);
	if (r < 0) {
		template_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void template_free(struct template *t)
{
	if (!t)
		return;
	free(t->parts);
	free(t->src);
	free(t);
}

int template_render(const struct template *t, const struct record *r, struct buf *out, char *err,
		    size_t errlen)
{
	for (size_t i = 0; i < t->nparts; i++) {
		const struct tpart *p = &t->parts[i];
		const struct field *f;
		int rc;

		if (!p->field) {
			rc = buf_append(out, p->p, p->len);
		} else {
			f = record_get(r, p->p, p->len);
			if (!f) {
				snprintf(err, errlen, "missing field %.*s", (int)p->len, p->p);
				return -ENOENT;
			}
			rc = buf_append(out, f->value, f->value_len);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int template_view(const struct template *t, const struct record *r, struct buf *scratch,
		  const char **ret_p, size_t *ret_len, char *err, size_t errlen)
{
	const struct field *f;
	int rc;

	if (t->nparts == 1 && t->parts[0].field) {
		f = record_get(r, t->parts[0].p, t->parts[0].len);
		if (!f) {
			snprintf(err, errlen, "missing field %.*s", (int)t->parts[0].len, t->parts[0].p);
			return -ENOENT;
		}
		*ret_p = f->value;
		*ret_len = f->value_len;
		return 0;
	}
	buf_reset(scratch);
	rc = template_render(t, r, scratch, err, errlen);
	if (rc < 0)
		return rc;
	*ret_p = scratch->data ? scratch->data : "";
	*ret_len = scratch->len;
	return 0;
}

const struct field *template_single(const struct template *t, const struct record *r, bool *ret_is_single)
{
	bool single = t->nparts == 1 && t->parts[0].field;

	*ret_is_single = single;
	return single ? record_get(r, t->parts[0].p, t->parts[0].len) : NULL;
}

size_t template_nfields(const struct template *t) { return t->nfields; }

const char *template_field(const struct template *t, size_t i, size_t *ret_len)
{
	for (size_t k = 0; k < t->nparts; k++) {
		if (!t->parts[k].field)
			continue;
		if (i-- == 0) {
			*ret_len = t->parts[k].len;
			return t->parts[k].p;
		}
	}
	*ret_len = 0;
	return NULL;
}

bool template_is_constant(const struct template *t) { return t->nfields == 0; }
