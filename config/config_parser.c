/* An input's `parser` mapping. The keys every type takes (type, on_mismatch) and a plugin's (path,
 * options) are this file's; a built-in's own keys, the checks of their values, the checks across
 * them and what the parser needs come from its file in parsers/ (parser.h says how the two sides
 * meet), so that a new built-in changes nothing here. What is read becomes struct config_parser:
 * the type, the plugin's path, and the options JSON that the parser's create() gets. */
#include "config_internal.h"
#include "parser.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_AT(type, field) .offset = offsetof(type, field)

/* What the parser keys are read into: the common ones, then v[i] for the built-in's opts[i]. */
struct parser_scratch {
	char *type;
	int on_mismatch;
	char *path;
	yaml_node_t *options;
	union parser_optval v[PARSER_OPTS_MAX];
};

#define PARSER_COMMON_KEYS 2
_Static_assert(PARSER_COMMON_KEYS + PARSER_OPTS_MAX <= CFG_MAX_KEYS, "a parser's keys fit the engine");

static const char *const on_mismatch_names[] = { "dead_letter", "skip", NULL };

#define PS(field) KEY_AT(struct parser_scratch, field)

/* First in every type's table, so that the unknown-key hint lists them first. */
static const struct cfg_key parser_common_keys[PARSER_COMMON_KEYS] = {
	{ .key = "type", .type = CFG_STRING, PS(type), .def = "json",
	  .help = "a built-in parser's name (parsers/NAME.c), or plugin" },
	{ .key = "on_mismatch", .type = CFG_ENUM, PS(on_mismatch), .def = "dead_letter", .names = on_mismatch_names,
	  .help = "a line the parser cannot read: dead_letter, or skip (counted, not an error)" },
};

static const struct cfg_key parser_plugin_keys[] = {
	{ .key = "path", .type = CFG_STRING, PS(path), .flags = CFG_REQUIRED, .check = cfg_check_abspath,
	  .help = "absolute path of the plugin's shared object" },
	{ .key = "options", .type = CFG_NODE, PS(options), .help = "any mapping, passed to the plugin as JSON" },
	{ .key = NULL },
};

/* The key-table entry of a built-in's option i: its value goes to ps.v[i]. */
static struct cfg_key opt_key(const struct parser_opt *o, size_t i)
{
	size_t at = offsetof(struct parser_scratch, v) + i * sizeof(union parser_optval);
	struct cfg_key k = { .key = o->key, .def = o->def, .flags = o->required ? CFG_REQUIRED : 0,
			     .help = o->help };

	switch (o->type) {
	case PARSER_OPT_STRING:
		k.type = CFG_STRING;
		k.offset = at + offsetof(union parser_optval, s);
		break;
	case PARSER_OPT_BOOL:
		k.type = CFG_BOOL;
		k.offset = at + offsetof(union parser_optval, b);
		break;
	case PARSER_OPT_STRLIST:
		k.type = CFG_STRLIST;
		k.offset = at + offsetof(union parser_optval, list.v);
		k.count_offset = at + offsetof(union parser_optval, list.n);
		break;
	}
	return k;
}

/* The table of one type: the common keys, then the plugin's or the built-in's (b NULL: plugin). */
static void parser_keys(const struct parser_builtin *b, struct cfg_key *keys)
{
	size_t n = 0;

	for (size_t i = 0; i < PARSER_COMMON_KEYS; i++)
		keys[n++] = parser_common_keys[i];
	for (size_t i = 0; !b && parser_plugin_keys[i].key; i++)
		keys[n++] = parser_plugin_keys[i];
	for (size_t i = 0; b && b->opts && b->opts[i].key && i < PARSER_OPTS_MAX; i++)
		keys[n++] = opt_key(&b->opts[i], i);
	keys[n] = (struct cfg_key){ .key = NULL };
}

/* A plugin that the agent would refuse (ABI, permissions, missing symbol) is a configuration error
 * at its path, so `check` catches it before a restart does. */
static void plugin_try(struct cfg_loader *ld, const char *path, yaml_node_t *at, const char *name)
{
	const struct onside_parser_ops *ops;
	void *handle;
	char err[512];

	if (!at || !path || path[0] != '/')
		return;
	if (plugin_load(path, &ops, &handle, err, sizeof(err)) < 0) {
		cfg_error(ld, at, "%s.path: %s", name, err);
		return;
	}
	plugin_unload(handle);
}

static void plugin_setup(struct cfg_loader *ld, struct parser_scratch *ps, yaml_node_t *path_node,
			 struct config_parser *out, const char *name)
{
	char sub[CFG_NAME_MAX];

	plugin_try(ld, ps->path, path_node, name);
	out->plugin_path = ps->path;
	ps->path = NULL;
	/* a plugin may read each file's first line (ABI 2) */
	out->first_line = true;
	if (!ps->options || cfg_is_null(ps->options)) {
		out->options_json = cfg_strdup(ld, "{}");
		return;
	}
	snprintf(sub, sizeof(sub), "%s.options", name);
	out->options_json = cfg_options_json(ld, ps->options, sub);
}

/* Where a built-in's configure() puts a problem: at the YAML node of the key it names. */
struct opt_report {
	struct cfg_loader *ld;
	const struct parser_builtin *b;
	yaml_node_t *map;
	yaml_node_t *const *nodes; /* of the built-in's options, in opts order */
	const char *name;
};

static void report_opt(void *ctx, const char *key, const char *msg)
{
	const struct opt_report *r = ctx;
	yaml_node_t *node = NULL;

	for (size_t i = 0; key && r->b->opts && r->b->opts[i].key && !node; i++)
		if (!strcmp(r->b->opts[i].key, key))
			node = r->nodes[i];
	if (!key)
		cfg_error(r->ld, r->map, "%s: %s", r->name, msg);
	else /* an option left at its default has no node: the mapping stands for it */
		cfg_error(r->ld, node ? node : r->map, "%s.%s: %s", r->name, key, msg);
}

/* An option's check on the string s, reported at node (where s was read). */
static int check_string(struct cfg_loader *ld, parser_check_fn check, const yaml_node_t *node, const char *name,
			const char *s)
{
	char err[256] = "";

	if (!check(s, err, sizeof(err)))
		return 0;
	cfg_error(ld, node, "%s: %s", name, err[0] ? err : "invalid value");
	return -EINVAL;
}

/* The check of each item of a list option. A list the engine stored has one string per item of its
 * sequence; a list it refused (an item that is not a string) still has its string items checked, so
 * that every problem is reported at once, as the engine does for its own lists. */
static int check_items(struct cfg_loader *ld, const struct parser_opt *o, const union parser_optval *v,
		       yaml_node_t *node, const char *name)
{
	char sub[CFG_NAME_MAX + 24];
	int bad = 0;

	if (node->type != YAML_SEQUENCE_NODE)
		return 0; /* reported by the engine */
	for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
		size_t i = (size_t)(it - node->data.sequence.items.start);
		yaml_node_t *in = cfg_node(ld, *it);
		const char *s = NULL;

		if (v->list.v && i < v->list.n)
			s = v->list.v[i];
		else if (!v->list.v && in->type == YAML_SCALAR_NODE &&
			 strlen((const char *)in->data.scalar.value) == in->data.scalar.length)
			s = (const char *)in->data.scalar.value;
		if (!s)
			continue; /* not a string: reported by the engine */
		snprintf(sub, sizeof(sub), "%s.%s[%zu]", name, o->key, i);
		bad |= check_string(ld, o->check, in, sub, s);
	}
	return bad;
}

/* Runs each option's check on what the engine read; a value that fails takes its default, as for
 * every key of the file. */
static void check_opts(struct cfg_loader *ld, const struct parser_builtin *b, struct parser_scratch *ps,
		       yaml_node_t *const *nodes, const char *name)
{
	char sub[CFG_NAME_MAX + 24];

	for (size_t i = 0; b->opts && b->opts[i].key; i++) {
		const struct parser_opt *o = &b->opts[i];
		union parser_optval *v = &ps->v[i];
		int bad = 0;

		if (!o->check || !nodes[i])
			continue; /* absent: the default, valid by construction */
		snprintf(sub, sizeof(sub), "%s.%s", name, o->key);
		if (o->type == PARSER_OPT_STRING && v->s)
			bad = check_string(ld, o->check, nodes[i], sub, v->s);
		else if (o->type == PARSER_OPT_STRLIST)
			bad = check_items(ld, o, v, nodes[i], name);
		if (!bad)
			continue;
		if (o->type == PARSER_OPT_STRING) {
			free((char *)v->s);
			v->s = o->def ? cfg_strdup(ld, o->def) : NULL;
		} else {
			cfg_strv_free(v->list.v, v->list.n);
			v->list.v = NULL;
			v->list.n = 0;
		}
	}
}

static void builtin_setup(struct cfg_loader *ld, const struct parser_builtin *b, struct parser_scratch *ps,
			  yaml_node_t *map, yaml_node_t *const *nodes, struct config_parser *out, const char *name)
{
	struct opt_report ctx = { ld, b, map, nodes + PARSER_COMMON_KEYS, name };
	struct parser_report rep = { report_opt, &ctx };
	struct parser_needs needs = { 0 };

	check_opts(ld, b, ps, ctx.nodes, name);
	if (parser_configure(b, ps->v, &rep, &out->options_json, &needs) == -ENOMEM)
		ld->oom = true;
	out->first_line = needs.first_line;
}

/* "json, regex, logfmt, csv, plugin": every built-in, then plugin. */
static void type_names(char *buf, size_t len)
{
	const struct parser_builtin *b;
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; (b = parser_builtin_at(i)) && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s, ", b->ops->name);
	if (n < len)
		snprintf(buf + n, len - n, "plugin");
}

/* The parser's type decides which keys it takes, so it is looked up before the table is applied.
 * Sets *ret (NULL for a plugin) and returns 0, or -EINVAL after reporting an unknown type (the other
 * keys are then not checked). */
static int parser_type_of(struct cfg_loader *ld, yaml_node_t *map, const char *name,
			  const struct parser_builtin **ret)
{
	char sub[CFG_NAME_MAX], names[256];
	yaml_node_t *v = NULL;
	const char *s;

	for (yaml_node_pair_t *p = map && map->type == YAML_MAPPING_NODE ? map->data.mapping.pairs.start : NULL;
	     p && p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(ld, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "type")) {
			v = cfg_node(ld, p->value);
			break;
		}
	}
	s = !v || cfg_is_null(v) ? parser_common_keys[0].def : NULL;
	snprintf(sub, sizeof(sub), "%s.type", name);
	if (!s && !(s = cfg_scalar(ld, v, sub, "a string")))
		return -EINVAL;
	*ret = parser_builtin(s);
	if (*ret || !strcmp(s, "plugin"))
		return 0;
	type_names(names, sizeof(names));
	cfg_error(ld, v, "%s: must be one of %s, got \"%s\"", sub, names, s);
	return -EINVAL;
}

void cfg_parse_parser(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name)
{
	struct config_input *in = base;
	struct parser_scratch ps = { 0 };
	struct cfg_key keys[PARSER_COMMON_KEYS + PARSER_OPTS_MAX + 1];
	yaml_node_t *nodes[CFG_MAX_KEYS] = { NULL };
	const struct parser_builtin *b;
	char hint[64];

	if (parser_type_of(ld, node, name, &b) < 0)
		return;
	parser_keys(b, keys);
	snprintf(hint, sizeof(hint), "type %s", b ? b->ops->name : "plugin");
	cfg_apply(ld, keys, node, &ps, &(struct cfg_section){ .name = name, .hint = hint }, nodes);
	in->parser.type = cfg_strdup(ld, hint + strlen("type "));
	in->parser.on_mismatch = (enum config_on_mismatch)ps.on_mismatch;
	if (b)
		builtin_setup(ld, b, &ps, node, nodes, &in->parser, name);
	else
		plugin_setup(ld, &ps, cfg_find(keys, nodes, "path"), &in->parser, name);
	cfg_free(keys, &ps);
}

void cfg_release_parser(void *base)
{
	struct config_parser *p = &((struct config_input *)base)->parser;

	free(p->type);
	free(p->plugin_path);
	free(p->options_json);
}
