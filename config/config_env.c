/* ${env:NAME} and ${env:NAME:-default} in scalar values, substituted once the YAML document is loaded
 * and before the key tables read it, so that every key takes them (fleet habits: one file for many
 * hosts, the differences in the environment). NAME is [A-Za-z_][A-Za-z0-9_]*; the default (which
 * cannot hold a "}") applies when the variable is unset or empty, as in the shell. "$${env:" is left
 * alone: in a template, "$${" is a literal "${". What the environment gives is kept in a list of values
 * that every message of the load redacts, as it redacts the password. */
#include "config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENV_OPEN "${env:"
#define ENV_OPEN_LEN 6
#define REDACTED "<redacted>"

/* A growing string; on allocation failure it stays NULL-safe and says so. */
struct out {
	char *s;
	size_t len, cap;
	bool oom;
};

static void out_add(struct out *o, const char *p, size_t n)
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

static bool name_char(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* The reference at s (just past "${env:"): its name's length, where its default starts (NULL: none)
 * and its total length past s including the "}". Returns false when it is malformed. */
static bool parse_ref(const char *s, size_t *ret_name, const char **ret_def, size_t *ret_deflen, size_t *ret_len)
{
	size_t n = 0;
	const char *close;

	while (name_char(s[n], n == 0))
		n++;
	if (!n || n > 200)
		return false;
	*ret_name = n;
	*ret_def = NULL;
	*ret_deflen = 0;
	if (s[n] == '}') {
		*ret_len = n + 1;
		return true;
	}
	if (s[n] != ':' || s[n + 1] != '-' || !(close = strchr(s + n + 2, '}')))
		return false;
	*ret_def = s + n + 2;
	*ret_deflen = (size_t)(close - *ret_def);
	*ret_len = (size_t)(close - s) + 1;
	return true;
}

static void redact_add(struct cfg_loader *ld, const char *v)
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

/* Reports at the reference's own column when the scalar's bytes map to columns, else at the scalar. */
static void ref_error(struct cfg_loader *ld, const yaml_node_t *node, const struct config_pos *pos, size_t at,
		      const char *msg)
{
	yaml_node_t here = *node;

	here.start_mark.column = config_pos_col(pos, at) - 1;
	cfg_error(ld, &here, "%s", msg);
}

static void mark_failed(struct cfg_loader *ld, const yaml_node_t *node)
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

/* One scalar: returns 0, or -EINVAL after reporting (the value is then left as it was, and no other
 * message is made about it). */
static int substitute(struct cfg_loader *ld, yaml_node_t *node)
{
	const char *v = (const char *)node->data.scalar.value, *p = v, *hit, *def, *env;
	struct config_pos pos;
	struct out o = { 0 };
	size_t name_len, def_len, len;
	char name[256], msg[640];
	int bad = 0;

	cfg_pos(node, &pos);
	while ((hit = strstr(p, ENV_OPEN))) {
		if (hit > v && hit[-1] == '$') { /* "$${env:": not a reference */
			out_add(&o, p, (size_t)(hit - p) + ENV_OPEN_LEN);
			p = hit + ENV_OPEN_LEN;
			continue;
		}
		out_add(&o, p, (size_t)(hit - p));
		if (!parse_ref(hit + ENV_OPEN_LEN, &name_len, &def, &def_len, &len)) {
			size_t show = strcspn(hit, "}") + (strchr(hit, '}') ? 1 : 0);

			snprintf(msg, sizeof(msg), "invalid reference \"%.*s\": expected ${env:NAME} or "
				 "${env:NAME:-default}, NAME of letters, digits and _", (int)(show > 64 ? 64 : show), hit);
			ref_error(ld, node, &pos, (size_t)(hit - v), msg);
			bad = -EINVAL;
			break;
		}
		snprintf(name, sizeof(name), "%.*s", (int)name_len, hit + ENV_OPEN_LEN);
		env = getenv(name);
		if (env && (env[0] || !def)) {
			out_add(&o, env, strlen(env));
			redact_add(ld, env);
		} else if (def) {
			out_add(&o, def, def_len);
		} else {
			snprintf(msg, sizeof(msg), "environment variable %s is not set (${env:%s:-VALUE} gives a "
				 "default)", name, name);
			ref_error(ld, node, &pos, (size_t)(hit - v), msg);
			bad = -EINVAL;
		}
		p = hit + ENV_OPEN_LEN + len;
	}
	out_add(&o, p, strlen(p));
	if (o.oom || bad) {
		ld->oom |= o.oom;
		free(o.s);
		if (bad)
			mark_failed(ld, node);
		return bad;
	}
	free(node->data.scalar.value);
	node->data.scalar.value = (yaml_char_t *)o.s;
	node->data.scalar.length = o.len;
	return 0;
}

int cfg_env_substitute(struct cfg_loader *ld)
{
	yaml_node_t *start = ld->doc->nodes.start;
	size_t n = (size_t)(ld->doc->nodes.top - start);
	bool *is_key;
	int r = 0;

	if (!n)
		return 0;
	is_key = calloc(n, sizeof(*is_key));
	if (!is_key) {
		ld->oom = true;
		return -ENOMEM;
	}
	/* node indexes are 1-based */
	for (size_t i = 0; i < n; i++) {
		if (start[i].type != YAML_MAPPING_NODE)
			continue;
		for (yaml_node_pair_t *p = start[i].data.mapping.pairs.start; p < start[i].data.mapping.pairs.top; p++)
			if (p->key >= 1 && (size_t)p->key <= n)
				is_key[p->key - 1] = true;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *node = &start[i];

		if (node->type != YAML_SCALAR_NODE || is_key[i] || !strstr((char *)node->data.scalar.value, ENV_OPEN))
			continue;
		if (substitute(ld, node) < 0)
			r = -EINVAL;
	}
	free(is_key);
	return r;
}

static bool word_char(char c)
{
	return name_char(c, false);
}

/* Replaces each standalone occurrence of v in s. */
static void redact_one(struct out *o, const char *s, const char *v)
{
	size_t vl = strlen(v);
	const char *p = s, *hit;

	for (hit = strstr(s, v); hit; hit = strstr(hit + 1, v)) {
		if (hit < p || (hit > s && word_char(hit[-1])) || word_char(hit[vl]))
			continue;
		out_add(o, p, (size_t)(hit - p));
		out_add(o, REDACTED, strlen(REDACTED));
		p = hit + vl;
	}
	out_add(o, p, strlen(p));
}

char *cfg_redact(const struct cfg_loader *ld, const char *s)
{
	char *cur = strdup(s);

	for (size_t i = 0; cur && i < ld->nredact; i++) {
		struct out o = { 0 };

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
