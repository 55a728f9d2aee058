/* Messages of a load: positions, redaction, suppression. The lowest file of config/: it owns the
 * error and warning lists (cfg_error, cfg_warning), where a node stands in the file (cfg_pos,
 * config_pos_col), the values every message redacts (what ${env:} brought in; the password is masked
 * by config.c) and the values whose ${env:} reference failed (told once, not again by every check of
 * their text).
 * Everything else in config/ reports through it; it calls nothing else of config/, so that the
 * substitution (config_env.c), the engine (config_schema.c) and the checks (config_check.c) all sit
 * above it and not in a circle. */
#include "config_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDACTED "<redacted>"

/* ---- a growing string ---- */

void cfg_out_add(struct cfg_out *o, const char *p, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = (o->len + n + 1) * 2;
		char *s = realloc(o->s, cap);

		if (!s) {
			o->oom = true;
			return;
		}
		o->s = s;
		o->cap = cap;
	}
	memcpy(o->s + o->len, p, n);
	o->len += n;
	o->s[o->len] = '\0';
}

/* ---- redaction ---- */

void cfg_redact_add(struct cfg_loader *ld, const char *v)
{
	char **list;

	if (!v[0])
		return;
	for (size_t i = 0; i < ld->nredact; i++)
		if (!strcmp(ld->redact[i], v))
			return;
	list = realloc(ld->redact, (ld->nredact + 1) * sizeof(*list));
	if (!list || !(list[ld->nredact] = strdup(v))) {
		if (list)
			ld->redact = list;
		ld->oom = true;
		return;
	}
	ld->redact = list;
	ld->nredact++;
}

/* A letter, digit or _: a redacted value next to one is part of a longer word, not itself. */
static bool word_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9');
}

/* Replaces each standalone occurrence of v in s. */
static void redact_one(struct cfg_out *o, const char *s, const char *v)
{
	size_t vl = strlen(v);
	const char *p = s, *hit;

	for (hit = strstr(s, v); hit; hit = strstr(hit + 1, v)) {
		if (hit < p || (hit > s && word_char(hit[-1])) || word_char(hit[vl]))
			continue;
		cfg_out_add(o, p, (size_t)(hit - p));
		cfg_out_add(o, REDACTED, strlen(REDACTED));
		p = hit + vl;
	}
	cfg_out_add(o, p, strlen(p));
}

char *cfg_redact(const struct cfg_loader *ld, const char *s)
{
	char *cur = strdup(s);

	for (size_t i = 0; cur && i < ld->nredact; i++) {
		struct cfg_out o = { 0 };

		if (!strstr(cur, ld->redact[i]))
			continue;
		redact_one(&o, cur, ld->redact[i]);
		explicit_bzero(cur, strlen(cur));
		free(cur);
		cur = o.oom ? NULL : o.s;
		if (o.oom)
			free(o.s);
	}
	return cur;
}

void cfg_redact_free(struct cfg_loader *ld)
{
	for (size_t i = 0; i < ld->nredact; i++) {
		explicit_bzero(ld->redact[i], strlen(ld->redact[i]));
		free(ld->redact[i]);
	}
	free(ld->redact);
	ld->redact = NULL;
	ld->nredact = 0;
	free(ld->failed);
	ld->failed = NULL;
	ld->nfailed = 0;
}

/* ---- values whose ${env:} reference failed ---- */

void cfg_env_mark_failed(struct cfg_loader *ld, const yaml_node_t *node)
{
	struct cfg_spot *v = realloc(ld->failed, (ld->nfailed + 1) * sizeof(*v));

	if (!v) {
		ld->oom = true;
		return;
	}
	ld->failed = v;
	ld->failed[ld->nfailed++] = (struct cfg_spot){ ld->file, node->start_mark.index };
}

bool cfg_env_failed(const struct cfg_loader *ld, const yaml_node_t *node)
{
	for (size_t i = 0; node && i < ld->nfailed; i++)
		if (ld->failed[i].file == ld->file && ld->failed[i].index == node->start_mark.index)
			return true;
	return false;
}

/* ---- positions ---- */

/* Whether col (a byte offset into the scalar's value) can be mapped to a column of the file: the
 * scalar is on one line, its text is ASCII up to col, and it has no escapes (the raw span, counted in
 * characters by libyaml, equals the value's length plus the quotes). Returns the offset to add. */
bool cfg_template_col(const yaml_node_t *node, const char *value, size_t col, size_t *ret_add)
{
	size_t quotes, span;

	if (node->start_mark.line != node->end_mark.line || col > strlen(value))
		return false;
	for (size_t i = 0; i < col; i++)
		if ((unsigned char)value[i] >= 0x80)
			return false;
	switch (node->data.scalar.style) {
	case YAML_PLAIN_SCALAR_STYLE:
		quotes = 0;
		break;
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		quotes = 2;
		break;
	default:
		return false;
	}
	span = node->end_mark.index - node->start_mark.index;
	if (span != node->data.scalar.length + quotes)
		return false;
	*ret_add = col + quotes / 2;
	return true;
}

void cfg_pos(const yaml_node_t *node, struct config_pos *ret)
{
	const char *v;
	size_t n = 0, add = 0;

	*ret = (struct config_pos){ 0 };
	if (!node)
		return;
	ret->line = (unsigned long)node->start_mark.line + 1;
	ret->col = (unsigned long)node->start_mark.column + 1;
	if (node->type != YAML_SCALAR_NODE)
		return;
	v = (const char *)node->data.scalar.value;
	while (v[n] && (unsigned char)v[n] < 0x80)
		n++;
	/* cfg_template_col tells whether the whole ASCII prefix maps to columns */
	if (n && cfg_template_col(node, v, n, &add)) {
		ret->inner = n;
		ret->quote = (unsigned)(add - n);
	}
}

unsigned long config_pos_col(const struct config_pos *p, size_t at)
{
	return at < p->inner ? p->col + p->quote + at : p->col;
}

/* ---- messages ---- */

/* The complete "FILE:LINE:COLUMN: message" (redacted), or NULL when out of memory. */
static char *msg_text(struct cfg_loader *ld, const yaml_node_t *node, unsigned long *line, unsigned long *col,
		      const char *fmt, va_list ap)
{
	char *body = NULL, *text = NULL;
	int n;

	if (vasprintf(&body, fmt, ap) < 0)
		return NULL;
	if (ld->nredact) {
		char *clean = cfg_redact(ld, body);

		free(body);
		if (!clean)
			return NULL;
		body = clean;
	}
	if (node) {
		/* libyaml marks are 0-based; editors count from 1 */
		*line = (unsigned long)node->start_mark.line + 1;
		*col = (unsigned long)node->start_mark.column + 1;
		n = asprintf(&text, "%s:%lu:%lu: %s", ld->path, *line, *col, body);
	} else {
		n = asprintf(&text, "%s: %s", ld->path, body);
	}
	free(body);
	return n < 0 ? NULL : text;
}

static void msg_add(struct cfg_loader *ld, struct cfg_msgs *m, const yaml_node_t *node, const char *fmt,
		    va_list ap)
{
	unsigned long line = 0, col = 0;
	char *text = msg_text(ld, node, &line, &col, fmt, ap);

	if (!text) {
		ld->oom = true;
		return;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct cfg_msg *v = realloc(m->v, cap * sizeof(*v));

		if (!v) {
			free(text);
			ld->oom = true;
			return;
		}
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = (struct cfg_msg){ .file = ld->file, .line = line, .col = col, .seq = ld->seq++, .text = text };
}

void cfg_error(struct cfg_loader *ld, const yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;

	/* a value whose ${env:} reference failed is told once, not again by every check of its text */
	if (cfg_env_failed(ld, node))
		return;

	va_start(ap, fmt);
	msg_add(ld, &ld->errors, node, fmt, ap);
	va_end(ap);
}

void cfg_warning(struct cfg_loader *ld, const yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_add(ld, &ld->warnings, node, fmt, ap);
	va_end(ap);
}

void cfg_msgs_free(struct cfg_msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].text);
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
}

static int msg_cmp(const void *a, const void *b)
{
	const struct cfg_msg *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int cfg_msgs_move(struct cfg_msgs *m, char ***list, size_t *n)
{
	char **v;

	if (!m->n)
		return 0;
	qsort(m->v, m->n, sizeof(*m->v), msg_cmp);
	v = realloc(*list, (*n + m->n) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		v[(*n)++] = m->v[i].text;
		m->v[i].text = NULL;
	}
	*list = v;
	cfg_msgs_free(m);
	return 0;
}
