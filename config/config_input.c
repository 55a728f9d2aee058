/* The `inputs` sequence: each input's keys, its parser (whose keys depend on its type), `match`, and
 * the `event` mapping with its templates and payload. */
#include "config_internal.h"
#include "parser.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KEY_AT(type, field) .offset = offsetof(type, field)
#define MAX_LINE_BYTES_MAX ((uint64_t)64 << 20)

/* ---- duplicate names ----
 * A set of names for the duplicate checks (payload names, match fields, input names): open addressing
 * on an FNV-1a hash, so that checking n names takes linear time. A pairwise scan took 20 s for 110,000
 * payload names, at every start and every SIGHUP. The set points into strings that outlive it. */

struct nameset_slot {
	const char *name; /* NULL: empty */
	size_t idx;       /* the first occurrence's index, for "first at line N" */
};

struct nameset {
	struct nameset_slot *slot;
	size_t cap; /* 0 or a power of two */
	size_t n;
};

static size_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3u;
	return (size_t)(h ^ (h >> 32));
}

static struct nameset_slot *nameset_find(const struct nameset *set, const char *name)
{
	size_t i = name_hash(name) & (set->cap - 1);

	while (set->slot[i].name && strcmp(set->slot[i].name, name))
		i = (i + 1) & (set->cap - 1);
	return &set->slot[i];
}

/* Keeps the load factor under 1/2, so that a probe ends soon at an empty slot. */
static int nameset_grow(struct nameset *set)
{
	struct nameset old = *set;

	set->cap = old.cap ? old.cap * 2 : 64;
	set->slot = calloc(set->cap, sizeof(*set->slot));
	if (!set->slot) {
		*set = old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < old.cap; i++)
		if (old.slot[i].name)
			*nameset_find(set, old.slot[i].name) = old.slot[i];
	free(old.slot);
	return 0;
}

/* Adds name (at index idx of its list). Returns 0 when it is new, 1 when it was there already (its
 * first index in *ret_first), or -ENOMEM (flagged on ld). */
static int nameset_add(struct cfg_loader *ld, struct nameset *set, const char *name, size_t idx, size_t *ret_first)
{
	struct nameset_slot *sl;

	if ((set->n + 1) * 2 > set->cap && nameset_grow(set) < 0) {
		ld->oom = true;
		return -ENOMEM;
	}
	sl = nameset_find(set, name);
	if (sl->name) {
		if (ret_first)
			*ret_first = sl->idx;
		return 1;
	}
	sl->name = name;
	sl->idx = idx;
	set->n++;
	return 0;
}

static void nameset_free(struct nameset *set)
{
	free(set->slot);
	*set = (struct nameset){ 0 };
}

/* A key of the mapping `name` (at kn): 0 the first time, 1 again (reported), or -ENOMEM. */
static int mapping_key_seen(struct cfg_loader *ld, struct nameset *seen, const yaml_node_t *kn, const char *key,
			    const char *name)
{
	int dup = nameset_add(ld, seen, key, 0, NULL);

	if (dup > 0)
		cfg_error(ld, kn, "duplicate key \"%s\" in %s", key, name);
	return dup;
}

/* ---- checks ---- */

static int check_input_name(struct cfg_loader *ld, const yaml_node_t *node, const char *name,
			    const char *value)
{
	/* the name is part of every event id of the input: keep it to a portable alphabet */
	if (value[0] && strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == strlen(value))
		return 0;
	cfg_error(ld, node, "%s: must match [a-z0-9_.-]+, got \"%s\"", name, value);
	return -EINVAL;
}

static int check_template(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	return value[0] ? cfg_check_template(ld, node, name, value) : 0; /* "" = not set (event_id) */
}

static int check_required_template(struct cfg_loader *ld, const yaml_node_t *node, const char *name,
				   const char *value)
{
	if (cfg_check_nonempty(ld, node, name, value))
		return -EINVAL;
	return cfg_check_template(ld, node, name, value);
}

static int check_time_format(struct cfg_loader *ld, const yaml_node_t *node, const char *name,
			     const char *value)
{
	if (!strcmp(value, "iso8601") || !strcmp(value, "unix") || !strcmp(value, "unix_ms") ||
	    strchr(value, '%'))
		return 0;
	cfg_error(ld, node, "%s: must be iso8601, unix, unix_ms or a strptime format with %% directives, got \"%s\"",
		  name, value);
	return -EINVAL;
}

static int check_timezone(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	char path[4096];
	struct stat st;

	if (!strcmp(value, "UTC"))
		return 0;
	/* the name becomes a path: keep it inside the zoneinfo directory */
	if (value[0] && value[0] != '/' && !strstr(value, "..") &&
	    (size_t)snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", value) < sizeof(path) &&
	    !stat(path, &st) && S_ISREG(st.st_mode))
		return 0;
	cfg_error(ld, node, "%s: unknown time zone \"%s\" (expected UTC or an IANA name from /usr/share/zoneinfo)",
		  name, value);
	return -EINVAL;
}

static int check_pattern(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	return cfg_check_regex(ld, node, name, value, true);
}

static int check_line_regex(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	return cfg_check_regex(ld, node, name, value, false);
}

static int check_delimiter(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	if (strlen(value) == 1)
		return 0;
	cfg_error(ld, node, "%s: must be a single byte, got \"%s\"", name, value);
	return -EINVAL;
}

/* ---- parser ---- */

/* What the parser keys are read into before they become type + options_json. */
struct parser_scratch {
	char *type;
	int on_mismatch;
	char *pattern;
	char **columns;
	size_t ncolumns;
	char *delimiter;
	bool header;
	char *path;
	yaml_node_t *options;
};

static const char *const on_mismatch_names[] = { "dead_letter", "skip", NULL };

#define PS(field) KEY_AT(struct parser_scratch, field)
#define PARSER_TYPE_KEY                                                                                  \
	{ .key = "type", .type = CFG_STRING, PS(type), .def = "json",                                    \
	  .help = "json | regex | logfmt | csv | plugin" },                                              \
	{ .key = "on_mismatch", .type = CFG_ENUM, PS(on_mismatch), .def = "dead_letter",                 \
	  .names = on_mismatch_names,                                                                    \
	  .help = "a line the parser cannot read: dead_letter, or skip (counted, not an error)" }

static const struct cfg_key parser_plain_keys[] = {
	PARSER_TYPE_KEY,
	{ .key = NULL },
};

static const struct cfg_key parser_regex_keys[] = {
	PARSER_TYPE_KEY,
	{ .key = "pattern", .type = CFG_STRING, PS(pattern), .flags = CFG_REQUIRED, .check = check_pattern,
	  .help = "PCRE2 pattern; each named group (?<name>...) becomes a field" },
	{ .key = NULL },
};

static const struct cfg_key parser_csv_keys[] = {
	PARSER_TYPE_KEY,
	{ .key = "columns", .type = CFG_STRLIST, PS(columns), .count_offset = offsetof(struct parser_scratch, ncolumns),
	  .check = cfg_check_nonempty, .help = "field names of the columns, in order" },
	{ .key = "delimiter", .type = CFG_STRING, PS(delimiter), .def = ",", .check = check_delimiter,
	  .help = "one byte" },
	{ .key = "header", .type = CFG_BOOL, PS(header), .def = "false",
	  .help = "the file starts with a header line" },
	{ .key = NULL },
};

static const struct cfg_key parser_plugin_keys[] = {
	PARSER_TYPE_KEY,
	{ .key = "path", .type = CFG_STRING, PS(path), .flags = CFG_REQUIRED, .check = cfg_check_abspath,
	  .help = "absolute path of the plugin's shared object" },
	{ .key = "options", .type = CFG_NODE, PS(options),
	  .help = "any mapping, passed to the plugin as JSON" },
	{ .key = NULL },
};

static char *json_text(struct cfg_loader *ld, struct json_object *o)
{
	const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE)
			  : NULL;
	char *text = s ? cfg_strdup(ld, s) : NULL;

	ld->oom |= !s;
	json_object_put(o);
	return text;
}

static char *options_plain(struct cfg_loader *ld, struct parser_scratch *ps, yaml_node_t *map,
			   const char *name)
{
	return cfg_strdup(ld, "{}");
}

static char *options_regex(struct cfg_loader *ld, struct parser_scratch *ps, yaml_node_t *map,
			   const char *name)
{
	struct json_object *o;

	if (!ps->pattern)
		return NULL; /* reported */
	o = json_object_new_object();
	if (o)
		json_object_object_add(o, "pattern", json_object_new_string(ps->pattern));
	return json_text(ld, o);
}

static char *options_csv(struct cfg_loader *ld, struct parser_scratch *ps, yaml_node_t *map, const char *name)
{
	struct json_object *o, *cols;

	if (!ps->ncolumns && !ps->header) {
		cfg_error(ld, map, "%s: missing required key \"columns\" (or set header: true)", name);
		return NULL;
	}
	o = json_object_new_object();
	cols = json_object_new_array();
	for (size_t i = 0; cols && i < ps->ncolumns; i++)
		json_object_array_add(cols, json_object_new_string(ps->columns[i]));
	if (o && cols) {
		json_object_object_add(o, "columns", cols);
		json_object_object_add(o, "delimiter", json_object_new_string(ps->delimiter));
		json_object_object_add(o, "header", json_object_new_boolean(ps->header));
	} else {
		json_object_put(cols);
		json_object_put(o);
		o = NULL;
	}
	return json_text(ld, o);
}

static yaml_node_t *map_value(struct cfg_loader *ld, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map && map->type == YAML_MAPPING_NODE ? map->data.mapping.pairs.start : NULL;
	     p && p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(ld, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
			return cfg_node(ld, p->value);
	}
	return NULL;
}

/* A plugin that the agent would refuse (ABI, permissions, missing symbol) is a configuration error
 * at its path, so `check` catches it before a restart does. */
static void plugin_try(struct cfg_loader *ld, struct parser_scratch *ps, yaml_node_t *map, const char *name)
{
	const struct onside_parser_ops *ops;
	yaml_node_t *v = map_value(ld, map, "path");
	void *handle;
	char err[512];

	if (!v || !ps->path || ps->path[0] != '/')
		return;
	if (plugin_load(ps->path, &ops, &handle, err, sizeof(err)) < 0) {
		cfg_error(ld, v, "%s.path: %s", name, err);
		return;
	}
	plugin_unload(handle);
}

static char *options_plugin(struct cfg_loader *ld, struct parser_scratch *ps, yaml_node_t *map,
			    const char *name)
{
	char sub[CFG_NAME_MAX];

	plugin_try(ld, ps, map, name);
	if (!ps->options || cfg_is_null(ps->options))
		return cfg_strdup(ld, "{}");
	snprintf(sub, sizeof(sub), "%s.options", name);
	return cfg_options_json(ld, ps->options, sub);
}

struct parser_type {
	const char *name;
	const struct cfg_key *keys;
	char *(*options)(struct cfg_loader *ld, struct parser_scratch *ps, yaml_node_t *map, const char *name);
};

static const struct parser_type parser_types[] = {
	{ "json", parser_plain_keys, options_plain },	{ "regex", parser_regex_keys, options_regex },
	{ "logfmt", parser_plain_keys, options_plain }, { "csv", parser_csv_keys, options_csv },
	{ "plugin", parser_plugin_keys, options_plugin },
};

/* The parser's type decides which keys it takes, so it is looked up before the table is applied.
 * NULL after reporting an unknown type (the other keys are then not checked). */
static const struct parser_type *parser_type_of(struct cfg_loader *ld, yaml_node_t *map, const char *name)
{
	char sub[CFG_NAME_MAX];
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
	if (!v || cfg_is_null(v))
		return &parser_types[0];
	snprintf(sub, sizeof(sub), "%s.type", name);
	s = cfg_scalar(ld, v, sub, "a string");
	if (!s)
		return NULL;
	for (size_t i = 0; i < sizeof(parser_types) / sizeof(parser_types[0]); i++)
		if (!strcmp(s, parser_types[i].name))
			return &parser_types[i];
	cfg_error(ld, v, "%s: must be one of json, regex, logfmt, csv, plugin, got \"%s\"", sub, s);
	return NULL;
}

static void parse_parser(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name)
{
	struct config_input *in = base;
	struct parser_scratch ps = { 0 };
	const struct parser_type *pt = parser_type_of(ld, node, name);
	char hint[32];

	if (!pt)
		return;
	snprintf(hint, sizeof(hint), "type %s", pt->name);
	cfg_apply(ld, pt->keys, node, &ps, &(struct cfg_section){ .name = name, .hint = hint }, NULL);
	in->parser.type = cfg_strdup(ld, pt->name);
	in->parser.options_json = pt->options(ld, &ps, node, name);
	in->parser.plugin_path = ps.path;
	in->parser.on_mismatch = (enum config_on_mismatch)ps.on_mismatch;
	/* a file's first line is read for the parsers that may use it: a plugin may (ABI 2) */
	in->parser.first_line = (pt->options == options_csv && ps.header) || pt->options == options_plugin;
	free(ps.type);
	free(ps.pattern);
	cfg_strv_free(ps.columns, ps.ncolumns);
	free(ps.delimiter);
}

/* ---- match ---- */

static void parse_match(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name)
{
	struct config_input *in = base;
	struct config_pos *pos;
	struct nameset seen = { 0 };
	char sub[CFG_NAME_MAX];
	size_t npos = 0;

	if (!node)
		return;
	if (node->type != YAML_MAPPING_NODE) {
		cfg_error(ld, node, "%s: expected a mapping of field names to regexes, got %s", name, cfg_kind(node));
		return;
	}
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = cfg_node(ld, p->key), *vn = cfg_node(ld, p->value);
		const char *field = cfg_scalar(ld, kn, name, "field names as keys"), *re;
		struct config_match *m;
		int dup;

		if (!field || cfg_check_nonempty(ld, kn, name, field))
			continue;
		snprintf(sub, sizeof(sub), "%s.%s", name, field);
		dup = mapping_key_seen(ld, &seen, kn, field, name);
		if (dup < 0)
			break;
		if (dup)
			continue;
		re = cfg_scalar(ld, vn, sub, "a regex");
		if (!re || cfg_check_regex(ld, vn, sub, re, false))
			continue;
		m = cfg_grow(ld, &in->match, &in->nmatch, sizeof(*m));
		if (!m || !(m->field = cfg_strdup(ld, field)) || !(m->pattern = cfg_strdup(ld, re)))
			break;
		if (!(pos = cfg_grow(ld, &in->match_pos, &npos, sizeof(*pos))))
			break;
		cfg_pos(kn, pos);
	}
	nameset_free(&seen);
}

/* ---- payload: [names], "*", ["*"] or {out_name: template} ---- */

static int payload_add(struct cfg_loader *ld, struct config_input *in, const char *name, const char *tmpl,
		       const yaml_node_t *at)
{
	struct config_payload_item *it = cfg_grow(ld, &in->payload, &in->npayload, sizeof(*it));
	struct config_pos *pos;
	size_t npos = in->npayload - 1;

	if (!it || !(it->name = cfg_strdup(ld, name)) || (tmpl && !(it->tmpl = cfg_strdup(ld, tmpl))))
		return -ENOMEM;
	/* one position per item, in step with the items */
	if (!(pos = cfg_grow(ld, &in->payload_pos, &npos, sizeof(*pos))))
		return -ENOMEM;
	cfg_pos(at, pos);
	return 0;
}

/* The names are YAML scalars, which live as long as the load: the set points at them. */
static void payload_list(struct cfg_loader *ld, yaml_node_t *node, struct config_input *in, const char *name)
{
	yaml_node_item_t *items = node->data.sequence.items.start;
	size_t n = (size_t)(node->data.sequence.items.top - items);
	struct nameset seen = { 0 };
	char sub[CFG_NAME_MAX];
	int dup;

	for (size_t i = 0; i < n; i++) {
		yaml_node_t *it = cfg_node(ld, items[i]);
		const char *s;

		snprintf(sub, sizeof(sub), "%s[%zu]", name, i);
		s = cfg_scalar(ld, it, sub, "a field name");
		if (!s || cfg_check_nonempty(ld, it, sub, s))
			continue;
		if (!strcmp(s, "*") && n == 1) {
			in->payload_mode = PAYLOAD_ALL;
			break;
		}
		if (!strcmp(s, "*")) {
			cfg_error(ld, it, "%s: \"*\" must be the only item", sub);
			continue;
		}
		dup = nameset_add(ld, &seen, s, i, NULL);
		if (dup > 0)
			cfg_error(ld, it, "%s: duplicate field \"%s\"", sub, s);
		else if (dup < 0 || payload_add(ld, in, s, NULL, it))
			break;
	}
	nameset_free(&seen);
}

static void payload_map(struct cfg_loader *ld, yaml_node_t *node, struct config_input *in, const char *name)
{
	struct nameset seen = { 0 };
	char sub[CFG_NAME_MAX];
	int dup;

	in->payload_mode = PAYLOAD_MAP;
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = cfg_node(ld, p->key), *vn = cfg_node(ld, p->value);
		const char *key = cfg_scalar(ld, kn, name, "names as keys"), *tmpl;

		if (!key || cfg_check_nonempty(ld, kn, name, key))
			continue;
		dup = mapping_key_seen(ld, &seen, kn, key, name);
		if (dup < 0)
			break;
		if (dup)
			continue;
		snprintf(sub, sizeof(sub), "%s.%s", name, key);
		tmpl = cfg_scalar(ld, vn, sub, "a template");
		if (!tmpl || cfg_check_template(ld, vn, sub, tmpl))
			continue;
		if (payload_add(ld, in, key, tmpl, vn))
			break;
	}
	nameset_free(&seen);
}

static void parse_payload(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name)
{
	struct config_input *in = base;

	in->payload_mode = PAYLOAD_LIST; /* the default: no items, an empty payload {} */
	if (!node)
		return;
	if (node->type == YAML_SEQUENCE_NODE)
		payload_list(ld, node, in, name);
	else if (node->type == YAML_MAPPING_NODE)
		payload_map(ld, node, in, name);
	else if (!strcmp((const char *)node->data.scalar.value, "*"))
		in->payload_mode = PAYLOAD_ALL;
	else
		cfg_error(ld, node, "%s: expected a list of field names, \"*\" or a mapping of names to templates, got \"%s\"",
			  name, (const char *)node->data.scalar.value);
}

/* ---- event ---- */

#define IN(field) KEY_AT(struct config_input, field)

static const char *const start_at_names[] = { "beginning", "end", NULL };

/* The position of each id field, for `check --sample`. */
static void id_fields_pos(struct cfg_loader *ld, struct config_input *in, yaml_node_t *node)
{
	size_t n;

	if (!node || !in->nid_fields)
		return;
	in->id_fields_pos = calloc(in->nid_fields, sizeof(*in->id_fields_pos));
	if (!in->id_fields_pos) {
		ld->oom = true;
		return;
	}
	if (node->type != YAML_SEQUENCE_NODE) {
		cfg_pos(node, &in->id_fields_pos[0]);
		return;
	}
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	for (size_t i = 0; i < n && i < in->nid_fields; i++)
		cfg_pos(cfg_node(ld, node->data.sequence.items.start[i]), &in->id_fields_pos[i]);
}

static void event_post(struct cfg_loader *ld, void *base, yaml_node_t *const *nodes, yaml_node_t *map);

static const struct cfg_key event_keys[] = {
	{ .key = "event_name", .type = CFG_STRING, IN(event_name), .flags = CFG_REQUIRED,
	  .check = check_required_template, .help = "template of the event's name, e.g. ${event}" },
	{ .key = "event_datetime", .type = CFG_STRING, IN(event_datetime), .flags = CFG_REQUIRED,
	  .check = check_required_template, .help = "template of the event's time, e.g. ${ts}" },
	{ .key = "time_format", .type = CFG_STRLIST, IN(time_formats),
	  .count_offset = offsetof(struct config_input, ntime_formats),
	  .flags = CFG_SCALAR_LIST | CFG_NONEMPTY, .check = check_time_format,
	  .help = "iso8601 | unix | unix_ms | a strptime(3) format, or a list of them tried in order" },
	{ .key = "timezone", .type = CFG_STRING, IN(timezone), .def = "UTC", .check = check_timezone,
	  .help = "for times without an offset: UTC or an IANA zone name" },
	{ .key = "installation_id", .type = CFG_STRING, IN(installation_id), .flags = CFG_REQUIRED,
	  .check = check_required_template, .help = "template of the SDK's installation id" },
	{ .key = "event_id", .type = CFG_STRING, IN(event_id), .def = "", .check = check_template,
	  .help = "optional template: the log's own event id" },
	{ .key = "id_fields", .type = CFG_STRLIST, IN(id_fields), .count_offset = offsetof(struct config_input, nid_fields),
	  .check = cfg_check_nonempty, .help = "business key fields for the event id" },
	{ .key = "payload", .type = CFG_CUSTOM, .parse = parse_payload,
	  .help = "field names, \"*\", or a mapping of names to templates" },
	{ .key = NULL },
};

/* time_format defaults to [iso8601]; "" event_id is no event_id; positions for later messages. */
static void event_post(struct cfg_loader *ld, void *base, yaml_node_t *const *nodes, yaml_node_t *map)
{
	struct config_input *in = base;

	if (!in->ntime_formats) {
		in->time_formats = calloc(1, sizeof(*in->time_formats));
		if (!in->time_formats || !(in->time_formats[0] = cfg_strdup(ld, "iso8601"))) {
			ld->oom = true;
			return;
		}
		in->ntime_formats = 1;
	}
	if (in->event_id && !in->event_id[0]) {
		free(in->event_id);
		in->event_id = NULL;
	}
	cfg_pos(cfg_find(event_keys, nodes, "event_name"), &in->event_name_pos);
	cfg_pos(cfg_find(event_keys, nodes, "event_datetime"), &in->event_datetime_pos);
	cfg_pos(cfg_find(event_keys, nodes, "installation_id"), &in->installation_id_pos);
	cfg_pos(cfg_find(event_keys, nodes, "event_id"), &in->event_id_pos);
	id_fields_pos(ld, in, cfg_find(event_keys, nodes, "id_fields"));
}

static const struct cfg_key input_keys[] = {
	{ .key = "name", .type = CFG_STRING, IN(name), .flags = CFG_REQUIRED, .check = check_input_name,
	  .help = "unique, [a-z0-9_.-]+; part of every event id of the input" },
	{ .key = "paths", .type = CFG_STRLIST, IN(paths), .count_offset = offsetof(struct config_input, npaths),
	  .flags = CFG_REQUIRED | CFG_NONEMPTY | CFG_SCALAR_LIST, .check = cfg_check_abspath,
	  .help = "absolute globs of the files to follow" },
	{ .key = "exclude", .type = CFG_STRLIST, IN(exclude), .count_offset = offsetof(struct config_input, nexclude),
	  .flags = CFG_SCALAR_LIST, .check = cfg_check_nonempty, .help = "fnmatch patterns to leave out" },
	{ .key = "start_at", .type = CFG_ENUM, IN(start_at), .def = "beginning", .names = start_at_names,
	  .help = "where to start in a file seen for the first time" },
	{ .key = "max_line_bytes", .type = CFG_SIZE, IN(max_line_bytes), .def = "64KiB", .min = 1024,
	  .max = MAX_LINE_BYTES_MAX, .help = "longer lines are dead-lettered" },
	{ .key = "rotate_wait", .type = CFG_DURATION, IN(rotate_wait_ms), .def = "5s", .max = UINT64_MAX,
	  .help = "how long a rotated-away file is still followed after its last write" },
	{ .key = "parser", .type = CFG_CUSTOM, .parse = parse_parser, .help = "how lines become fields" },
	{ .key = "include_lines", .type = CFG_STRLIST, IN(include_lines),
	  .count_offset = offsetof(struct config_input, ninclude_lines), .flags = CFG_SCALAR_LIST,
	  .check = check_line_regex, .help = "regexes on the raw line: lines matching none are skipped" },
	{ .key = "exclude_lines", .type = CFG_STRLIST, IN(exclude_lines),
	  .count_offset = offsetof(struct config_input, nexclude_lines), .flags = CFG_SCALAR_LIST,
	  .check = check_line_regex, .help = "regexes on the raw line: lines matching any are skipped" },
	{ .key = "match", .type = CFG_CUSTOM, .parse = parse_match,
	  .help = "field -> regex; other lines are skipped" },
	{ .key = "event", .type = CFG_SECTION, .offset = 0, .flags = CFG_REQUIRED, .sub = event_keys,
	  .post = event_post, .help = "how fields become the event" },
	{ .key = NULL },
};

/* ---- inputs ---- */

static void check_duplicate_name(struct cfg_loader *ld, struct config *c, size_t i, yaml_node_t **names,
				 struct nameset *seen)
{
	size_t j;

	if (!c->inputs[i].name || nameset_add(ld, seen, c->inputs[i].name, i, &j) != 1)
		return;
	cfg_error(ld, names[i], "inputs[%zu].name: duplicate input name \"%s\" (first at line %lu)", i,
		  c->inputs[i].name, (unsigned long)names[j]->start_mark.line + 1);
}

void cfg_parse_inputs(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name)
{
	struct config *c = base;
	yaml_node_t *nodes[CFG_MAX_KEYS], **names;
	struct nameset seen = { 0 };
	char sub[CFG_NAME_MAX];
	size_t n;

	if (!node)
		return; /* reported as a missing required key */
	if (node->type != YAML_SEQUENCE_NODE) {
		cfg_error(ld, node, "%s: expected a list of inputs, got %s", name, cfg_kind(node));
		return;
	}
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (!n) {
		cfg_error(ld, node, "%s: must not be empty", name);
		return;
	}
	c->inputs = calloc(n, sizeof(*c->inputs));
	names = calloc(n, sizeof(*names));
	if (!c->inputs || !names) {
		ld->oom = true;
		free(names);
		return;
	}
	c->ninputs = n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_node(ld, node->data.sequence.items.start[i]);

		snprintf(sub, sizeof(sub), "%s[%zu]", name, i);
		if (cfg_is_null(item)) {
			cfg_error(ld, item, "%s: expected a mapping, got an empty value", sub);
			continue;
		}
		memset(nodes, 0, sizeof(nodes));
		cfg_apply(ld, input_keys, item, &c->inputs[i], &(struct cfg_section){ .name = sub }, nodes);
		names[i] = cfg_find(input_keys, nodes, "name");
		if (names[i])
			check_duplicate_name(ld, c, i, names, &seen);
	}
	nameset_free(&seen);
	free(names);
}

void cfg_input_free(struct config_input *in)
{
	free(in->name);
	cfg_strv_free(in->paths, in->npaths);
	cfg_strv_free(in->exclude, in->nexclude);
	free(in->parser.type);
	free(in->parser.plugin_path);
	free(in->parser.options_json);
	for (size_t i = 0; i < in->nmatch; i++) {
		free(in->match[i].field);
		free(in->match[i].pattern);
	}
	free(in->match);
	free(in->match_pos);
	free(in->event_name);
	free(in->event_datetime);
	free(in->installation_id);
	free(in->event_id);
	cfg_strv_free(in->time_formats, in->ntime_formats);
	free(in->timezone);
	cfg_strv_free(in->id_fields, in->nid_fields);
	free(in->id_fields_pos);
	cfg_strv_free(in->include_lines, in->ninclude_lines);
	cfg_strv_free(in->exclude_lines, in->nexclude_lines);
	for (size_t i = 0; i < in->npayload; i++) {
		free(in->payload[i].name);
		free(in->payload[i].tmpl);
	}
	free(in->payload);
	free(in->payload_pos);
}
