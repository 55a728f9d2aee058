/* ${env:NAME} and ${env:NAME:-default} in scalar values, substituted once the YAML document is loaded
 * and before the key tables read it, so that every key takes them (fleet habits: one file for many
 * hosts, the differences in the environment). NAME is [A-Za-z_][A-Za-z0-9_]*; the default (which
 * cannot hold a "}") applies when the variable is unset or empty, as in the shell. "$${env:" is left
 * alone: in a template, "$${" is a literal "${". What the environment gives is added to the list of
 * values that every message of the load redacts, and a value whose reference failed is marked so that
 * it is told once: both lists, and the messages, are config_msg.c's. */
#include "config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENV_OPEN "${env:"
#define ENV_OPEN_LEN 6

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

/* Reports at the reference's own column when the scalar's bytes map to columns, else at the scalar. */
static void ref_error(struct cfg_loader *ld, const yaml_node_t *node, const struct config_pos *pos, size_t at,
		      const char *msg)
{
	yaml_node_t here = *node;

	here.start_mark.column = config_pos_col(pos, at) - 1;
	cfg_error(ld, &here, "%s", msg);
}

/* One scalar: returns 0, or -EINVAL after reporting (the value is then left as it was, and no other
 * message is made about it). */
static int substitute(struct cfg_loader *ld, yaml_node_t *node)
{
	const char *v = (const char *)node->data.scalar.value, *p = v, *hit, *def, *env;
	struct config_pos pos;
	struct cfg_out o = { 0 };
	size_t name_len, def_len, len;
	char name[256], msg[640];
	int bad = 0;

	cfg_pos(node, &pos);
	while ((hit = strstr(p, ENV_OPEN))) {
		if (hit > v && hit[-1] == '$') { /* "$${env:": not a reference */
			cfg_out_add(&o, p, (size_t)(hit - p) + ENV_OPEN_LEN);
			p = hit + ENV_OPEN_LEN;
			continue;
		}
		cfg_out_add(&o, p, (size_t)(hit - p));
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
			cfg_out_add(&o, env, strlen(env));
			cfg_redact_add(ld, env);
		} else if (def) {
			cfg_out_add(&o, def, def_len);
		} else {
			snprintf(msg, sizeof(msg), "environment variable %s is not set (${env:%s:-VALUE} gives a "
				 "default)", name, name);
			ref_error(ld, node, &pos, (size_t)(hit - v), msg);
			bad = -EINVAL;
		}
		p = hit + ENV_OPEN_LEN + len;
	}
	cfg_out_add(&o, p, strlen(p));
	if (o.oom || bad) {
		ld->oom |= o.oom;
		free(o.s);
		if (bad)
			cfg_env_mark_failed(ld, node);
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
