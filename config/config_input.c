/* The `inputs` sequence: each input's keys, `match`, and the `event` mapping with its templates and
 * payload (its `parser` is config_parser.c's). Each key that allocates beyond its table's fields
 * frees that in its release hook. */
#include "config_internal.h"

#include <errno.h>
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

static int check_line_regex(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	return cfg_check_regex(ld, node, name, value);
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
		if (!re || cfg_check_regex(ld, vn, sub, re))
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

static void release_match(void *base)
{
	struct config_input *in = base;

	for (size_t i = 0; i < in->nmatch; i++) {
		free(in->match[i].field);
		free(in->match[i].pattern);
	}
	free(in->match);
	free(in->match_pos);
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

static void release_payload(void *base)
{
	struct config_input *in = base;

	for (size_t i = 0; i < in->npayload; i++) {
		free(in->payload[i].name);
		free(in->payload[i].tmpl);
	}
	free(in->payload);
	free(in->payload_pos);
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

/* What event_post allocates beside the table's fields. */
static void release_event(void *base)
{
	struct config_input *in = base;

	free(in->id_fields_pos);
}

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
	{ .key = "payload", .type = CFG_CUSTOM, .parse = parse_payload, .release = release_payload,
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
	{ .key = "parser", .type = CFG_CUSTOM, .parse = cfg_parse_parser, .release = cfg_release_parser,
	  .help = "how lines become fields" },
	{ .key = "include_lines", .type = CFG_STRLIST, IN(include_lines),
	  .count_offset = offsetof(struct config_input, ninclude_lines), .flags = CFG_SCALAR_LIST,
	  .check = check_line_regex, .help = "regexes on the raw line: lines matching none are skipped" },
	{ .key = "exclude_lines", .type = CFG_STRLIST, IN(exclude_lines),
	  .count_offset = offsetof(struct config_input, nexclude_lines), .flags = CFG_SCALAR_LIST,
	  .check = check_line_regex, .help = "regexes on the raw line: lines matching any are skipped" },
	{ .key = "match", .type = CFG_CUSTOM, .parse = parse_match, .release = release_match,
	  .help = "field -> regex; other lines are skipped" },
	{ .key = "event", .type = CFG_SECTION, .offset = 0, .flags = CFG_REQUIRED, .sub = event_keys,
	  .post = event_post, .release = release_event, .help = "how fields become the event" },
	{ .key = NULL },
};

/* ---- inputs ---- */

static void check_duplicate_name(struct cfg_loader *ld, struct config *c, size_t first, size_t i,
				 yaml_node_t **names, struct nameset *seen)
{
	const struct config_input *in = &c->inputs[first + i];
	size_t j;

	if (!in->name)
		return;
	/* an earlier file's input: by name, with that file's position */
	for (j = 0; j < first; j++) {
		if (!c->inputs[j].name || strcmp(c->inputs[j].name, in->name))
			continue;
		cfg_error(ld, names[i], "inputs[%zu].name: duplicate input name \"%s\" (first at %s:%lu)", i, in->name,
			  c->inputs[j].source ? c->inputs[j].source : "?", c->inputs[j].name_pos.line);
		return;
	}
	if (nameset_add(ld, seen, in->name, i, &j) != 1)
		return;
	cfg_error(ld, names[i], "inputs[%zu].name: duplicate input name \"%s\" (first at line %lu)", i, in->name,
		  (unsigned long)names[j]->start_mark.line + 1);
}

void cfg_append_inputs(struct cfg_loader *ld, yaml_node_t *node, struct config *c, const char *name)
{
	yaml_node_t *nodes[CFG_MAX_KEYS], **names;
	struct config_input *v;
	struct nameset seen = { 0 };
	char sub[CFG_NAME_MAX];
	size_t n, first = c->ninputs;

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
	v = reallocarray(c->inputs, first + n, sizeof(*c->inputs));
	names = calloc(n, sizeof(*names));
	if (!v || !names) {
		ld->oom = true;
		if (v)
			c->inputs = v;
		free(names);
		return;
	}
	c->inputs = v;
	memset(&c->inputs[first], 0, n * sizeof(*c->inputs));
	c->ninputs = first + n;
	for (size_t i = 0; i < n; i++) {
		struct config_input *in = &c->inputs[first + i];
		yaml_node_t *item = cfg_node(ld, node->data.sequence.items.start[i]);

		snprintf(sub, sizeof(sub), "%s[%zu]", name, i);
		in->source = cfg_strdup(ld, ld->path);
		if (cfg_is_null(item)) {
			cfg_error(ld, item, "%s: expected a mapping, got an empty value", sub);
			continue;
		}
		memset(nodes, 0, sizeof(nodes));
		cfg_apply(ld, input_keys, item, in, &(struct cfg_section){ .name = sub }, nodes);
		names[i] = cfg_find(input_keys, nodes, "name");
		cfg_pos(names[i], &in->name_pos);
		if (names[i])
			check_duplicate_name(ld, c, first, i, names, &seen);
	}
	nameset_free(&seen);
	free(names);
}

void cfg_parse_inputs(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name)
{
	cfg_append_inputs(ld, node, base, name);
}

void cfg_release_inputs(void *base)
{
	struct config *c = base;

	for (size_t i = 0; i < c->ninputs; i++) {
		cfg_free(input_keys, &c->inputs[i]);
		free(c->inputs[i].source);
	}
	free(c->inputs);
	c->inputs = NULL;
	c->ninputs = 0;
}
