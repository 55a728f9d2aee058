/* The key-table engine: walks a libyaml mapping against a table of keys (key, type, offset, default,
 * range, help), reports every problem with the position of the offending node and goes on, and fills
 * defaults for what is absent. Also the node helpers, the checks the tables share and the duration and
 * size parsers; the messages it reports through are config_msg.c's. */
#include "config_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit duration_units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
};

static const struct unit size_units[] = {
	{ "", 1 },
	{ "KiB", 1024 },
	{ "MiB", 1024 * 1024 },
	{ "GiB", 1024 * 1024 * 1024 },
	{ "KB", 1000 },
	{ "MB", 1000 * 1000 },
	{ "GB", 1000 * 1000 * 1000 },
};

/* ---- nodes ---- */

yaml_node_t *cfg_node(struct cfg_loader *ld, int index) { return yaml_document_get_node(ld->doc, index); }

bool cfg_is_null(const yaml_node_t *node)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	const char *s;

	if (!node || node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = (const char *)node->data.scalar.value;
	for (size_t i = 0; i < NELEM(nulls); i++)
		if (!strcmp(s, nulls[i]))
			return true;
	return false;
}

const char *cfg_kind(const yaml_node_t *node)
{
	if (!node)
		return "nothing";
	switch (node->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	default:
		return "a scalar";
	}
}

const char *cfg_scalar(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *what)
{
	const char *s;

	if (node->type != YAML_SCALAR_NODE) {
		cfg_error(ld, node, "%s: expected %s, got %s", name, what, cfg_kind(node));
		return NULL;
	}
	s = (const char *)node->data.scalar.value;
	/* a "\0" escape would silently cut paths and names short further down */
	if (strlen(s) != node->data.scalar.length) {
		cfg_error(ld, node, "%s: contains a NUL byte", name);
		return NULL;
	}
	return s;
}

char *cfg_strdup(struct cfg_loader *ld, const char *s)
{
	char *p = strdup(s);

	if (!p)
		ld->oom = true;
	return p;
}

void *cfg_grow(struct cfg_loader *ld, void *arrayp, size_t *n, size_t elem)
{
	void *old, *v;

	/* arrayp is a T **; copying the pointer through memcpy avoids type-punning it */
	memcpy(&old, arrayp, sizeof(old));
	v = old;
	/* the capacity doubles (it is the next power of two of *n, which only cfg_grow increases), so
	 * a list of 100,000 names is not copied 100,000 times */
	if (*n == 0 || (*n & (*n - 1)) == 0) {
		v = reallocarray(old, *n ? *n * 2 : 1, elem);
		if (!v) {
			ld->oom = true;
			return NULL;
		}
		memcpy(arrayp, &v, sizeof(v));
	}
	memset((char *)v + *n * elem, 0, elem);
	return (char *)v + (*n)++ * elem;
}

yaml_node_t *cfg_find(const struct cfg_key *keys, yaml_node_t *const *nodes, const char *key)
{
	for (size_t i = 0; keys[i].key; i++)
		if (!strcmp(keys[i].key, key))
			return nodes[i];
	return NULL;
}

void cfg_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void cfg_free(const struct cfg_key *keys, void *base)
{
	for (size_t i = 0; keys[i].key; i++) {
		const struct cfg_key *k = &keys[i];
		void *dst = (char *)base + k->offset;
		char **s = dst;

		if (k->type == CFG_STRING) {
			if (*s && (k->flags & CFG_SECRET))
				explicit_bzero(*s, strlen(*s));
			free(*s);
			*s = NULL;
		} else if (k->type == CFG_STRLIST) {
			cfg_strv_free(*(char ***)dst, *(size_t *)((char *)base + k->count_offset));
			*(char ***)dst = NULL;
			*(size_t *)((char *)base + k->count_offset) = 0;
		} else if (k->type == CFG_SECTION) {
			cfg_free(k->sub, dst);
		}
		if (k->release)
			k->release(k->type == CFG_SECTION ? dst : base);
	}
}

/* ---- checks ---- */

int cfg_check_abspath(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	if (value[0] == '/')
		return 0;
	cfg_error(ld, node, "%s: must be an absolute path, got \"%s\"", name, value);
	return -EINVAL;
}

int cfg_check_nonempty(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	if (value[0])
		return 0;
	cfg_error(ld, node, "%s: must not be empty", name);
	return -EINVAL;
}

/* ---- durations and sizes ---- */

/* Digits followed by exactly one of units (the unit "" allows a bare number). -ERANGE on overflow,
 * so that the message can say "too large" rather than "invalid". */
static int parse_with_unit(const char *s, const struct unit *units, size_t nunits, uint64_t *ret)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	for (size_t i = 0; i < nunits; i++) {
		if (strcmp(p, units[i].name))
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return -ERANGE;
		*ret = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

int config_parse_duration(const char *s, uint64_t *ret_ms)
{
	uint64_t v;

	if (!s || parse_with_unit(s, duration_units, NELEM(duration_units), &v))
		return -EINVAL;
	*ret_ms = v;
	return 0;
}

int config_parse_size(const char *s, uint64_t *ret_bytes)
{
	uint64_t v;

	if (!s || parse_with_unit(s, size_units, NELEM(size_units), &v))
		return -EINVAL;
	*ret_bytes = v;
	return 0;
}

/* The largest of units (in ascending order) that divides v exactly: 300000 ms -> "5m", 65536 bytes
 * -> "64KiB"; a plain number when none does. */
static void fmt_units(char *buf, size_t len, uint64_t v, const struct unit *units, size_t nunits,
		      const char *zero)
{
	const struct unit *best = NULL;

	for (size_t i = 0; i < nunits; i++)
		if (v && v % units[i].mult == 0)
			best = &units[i];
	if (!v)
		snprintf(buf, len, "%s", zero);
	else if (best)
		snprintf(buf, len, "%" PRIu64 "%s", v / best->mult, best->name);
	else
		snprintf(buf, len, "%" PRIu64, v);
}

static void fmt_bound(char *buf, size_t len, const struct cfg_key *k, uint64_t v)
{
	if (k->type == CFG_DURATION)
		fmt_units(buf, len, v, duration_units, NELEM(duration_units),
			  "0s");
	else if (k->type == CFG_SIZE && k->min % 1024 == 0 && k->max % 1024 == 0)
		fmt_units(buf, len, v, size_units + 1, 3, "0"); /* KiB, MiB, GiB */
	else
		snprintf(buf, len, "%" PRIu64, v);
}

static int check_range(struct cfg_loader *ld, const struct cfg_key *k, const yaml_node_t *node,
		       const char *name, const char *text, uint64_t v)
{
	char lo[32], hi[32];

	if (v >= k->min && v <= k->max)
		return 0;
	fmt_bound(lo, sizeof(lo), k, k->min);
	fmt_bound(hi, sizeof(hi), k, k->max);
	if (k->max == UINT64_MAX)
		cfg_error(ld, node, "%s: must be at least %s, got %s", name, lo, text);
	else if (k->min == 0)
		cfg_error(ld, node, "%s: must be at most %s, got %s", name, hi, text);
	else
		cfg_error(ld, node, "%s: must be between %s and %s, got %s", name, lo, hi, text);
	return -EINVAL;
}

/* ---- typed values: each stores into dst only on success and returns 0, or reports and returns
 * -EINVAL (the caller then stores the default, so later checks see a complete struct) ---- */

static int parse_string(struct cfg_loader *ld, const struct cfg_key *k, const yaml_node_t *node,
			const char *name, void *dst)
{
	const char *s = cfg_scalar(ld, node, name, "a string");
	char *copy;

	if (s && (k->flags & CFG_SECRET) && !s[0]) {
		/* a secret gets no table check: only this one, which cannot echo it */
		cfg_error(ld, node, "%s: must not be empty", name);
		return -EINVAL;
	}
	if (!s || (!(k->flags & CFG_SECRET) && k->check && k->check(ld, node, name, s)))
		return -EINVAL;
	copy = cfg_strdup(ld, s);
	if (!copy)
		return -ENOMEM;
	*(char **)dst = copy;
	return 0;
}

static int parse_bool(struct cfg_loader *ld, const struct cfg_key *k, const yaml_node_t *node,
		      const char *name, void *dst)
{
	const char *s = cfg_scalar(ld, node, name, "true or false");

	if (!s)
		return -EINVAL;
	if (!strcmp(s, "true") || !strcmp(s, "yes")) {
		*(bool *)dst = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "no")) {
		*(bool *)dst = false;
		return 0;
	}
	cfg_error(ld, node, "%s: expected true or false, got \"%s\"", name, s);
	return -EINVAL;
}

static int parse_number(struct cfg_loader *ld, const struct cfg_key *k, const yaml_node_t *node,
			const char *name, void *dst)
{
	static const char *const what[] = { [CFG_UINT] = "an integer", [CFG_DURATION] = "a duration",
					    [CFG_SIZE] = "a size" };
	const char *s = cfg_scalar(ld, node, name, what[k->type]);
	uint64_t v = 0;
	int r;

	if (!s)
		return -EINVAL;
	if (k->type == CFG_DURATION)
		r = parse_with_unit(s, duration_units, NELEM(duration_units), &v);
	else if (k->type == CFG_SIZE)
		r = parse_with_unit(s, size_units, NELEM(size_units), &v);
	else
		r = parse_with_unit(s, size_units, 1, &v); /* digits only */
	if (r == -ERANGE && k->type == CFG_UINT) {
		r = 0;
		v = UINT64_MAX; /* out of range anyway: let the range message say so */
	}
	if (r == -ERANGE) {
		cfg_error(ld, node, "%s: %s \"%s\" is too large", name,
			  k->type == CFG_DURATION ? "duration" : "size", s);
		return -EINVAL;
	}
	if (r && k->type == CFG_DURATION)
		cfg_error(ld, node, "%s: invalid duration \"%s\" (expected a number with a unit: ms, s, m, h or d)",
			  name, s);
	else if (r && k->type == CFG_SIZE)
		cfg_error(ld, node,
			  "%s: invalid size \"%s\" (expected bytes, or a number with a unit: KiB, MiB, GiB, KB, MB or GB)",
			  name, s);
	else if (r)
		cfg_error(ld, node, "%s: expected an integer, got \"%s\"", name, s);
	if (r || check_range(ld, k, node, name, s, v))
		return -EINVAL;
	*(uint64_t *)dst = v;
	return 0;
}

static int parse_enum(struct cfg_loader *ld, const struct cfg_key *k, const yaml_node_t *node,
		      const char *name, void *dst)
{
	const char *s = cfg_scalar(ld, node, name, "a string");
	char list[256] = "";

	if (!s)
		return -EINVAL;
	for (int i = 0; k->names[i]; i++) {
		if (!strcmp(s, k->names[i])) {
			*(int *)dst = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", k->names[i]);
	}
	cfg_error(ld, node, "%s: must be one of %s, got \"%s\"", name, list, s);
	return -EINVAL;
}

static int parse_strlist(struct cfg_loader *ld, const struct cfg_key *k, yaml_node_t *node,
			 const char *name, void *base)
{
	yaml_node_t *one[1] = { node };
	yaml_node_t **items = one;
	size_t n = 1, nv = 0;
	char **v = NULL, item[CFG_NAME_MAX + 24];
	int r = 0;

	if (node->type == YAML_SEQUENCE_NODE) {
		n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
		items = NULL;
	} else if (node->type != YAML_SCALAR_NODE || !(k->flags & CFG_SCALAR_LIST)) {
		cfg_error(ld, node, "%s: expected a list of strings, got %s", name, cfg_kind(node));
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *in = items ? items[i] : cfg_node(ld, node->data.sequence.items.start[i]);
		const char *s;
		char **slot;

		if (items)
			snprintf(item, sizeof(item), "%s", name);
		else
			snprintf(item, sizeof(item), "%s[%zu]", name, i);
		s = cfg_scalar(ld, in, item, "a string");
		if (!s || (k->check && k->check(ld, in, item, s))) {
			r = -EINVAL;
			continue;
		}
		slot = cfg_grow(ld, &v, &nv, sizeof(*v));
		if (!slot || !(*slot = cfg_strdup(ld, s))) {
			r = -ENOMEM;
			break;
		}
	}
	if (!r && !nv && (k->flags & CFG_NONEMPTY)) {
		cfg_error(ld, node, "%s: must not be empty", name);
		r = -EINVAL;
	}
	if (r) {
		cfg_strv_free(v, nv);
		return r;
	}
	*(char ***)((char *)base + k->offset) = v;
	*(size_t *)((char *)base + k->count_offset) = nv;
	return 0;
}

/* ---- the engine ---- */

/* A nested section; its post hook runs also when the section is absent (credentials, namespace). */
static void apply_section(struct cfg_loader *ld, const struct cfg_key *k, yaml_node_t *node, void *dst,
			  const char *name)
{
	yaml_node_t *nodes[CFG_MAX_KEYS] = { NULL };

	cfg_apply(ld, k->sub, node, dst, &(struct cfg_section){ .name = name }, nodes);
	if (k->post)
		k->post(ld, dst, nodes, node && node->type == YAML_MAPPING_NODE ? node : NULL);
}

static void apply_default(struct cfg_loader *ld, const struct cfg_key *k, void *base, const char *name)
{
	void *dst = (char *)base + k->offset;
	uint64_t v = 0;

	switch (k->type) {
	case CFG_STRING:
		*(char **)dst = k->def ? cfg_strdup(ld, k->def) : NULL;
		break;
	case CFG_BOOL:
		*(bool *)dst = k->def && !strcmp(k->def, "true");
		break;
	case CFG_UINT:
	case CFG_DURATION:
	case CFG_SIZE:
		/* the tables' defaults are valid by construction (the tests load them) */
		if (k->def)
			parse_with_unit(k->def, k->type == CFG_DURATION ? duration_units : size_units,
					k->type == CFG_DURATION ? NELEM(duration_units) : NELEM(size_units), &v);
		*(uint64_t *)dst = v;
		break;
	case CFG_ENUM:
		*(int *)dst = 0;
		for (int i = 0; k->def && k->names[i]; i++)
			if (!strcmp(k->def, k->names[i]))
				*(int *)dst = i;
		break;
	case CFG_SECTION:
		apply_section(ld, k, NULL, dst, name);
		break;
	case CFG_CUSTOM:
		k->parse(ld, NULL, base, name);
		break;
	case CFG_STRLIST:
	case CFG_NODE:
		break; /* zeroed by the caller's calloc */
	}
}

/* Returns 0 when the value was stored, else the default is to be applied. */
static int apply_value(struct cfg_loader *ld, const struct cfg_key *k, yaml_node_t *node, void *base,
		       const char *name)
{
	void *dst = (char *)base + k->offset;

	switch (k->type) {
	case CFG_STRING:
		return parse_string(ld, k, node, name, dst);
	case CFG_BOOL:
		return parse_bool(ld, k, node, name, dst);
	case CFG_UINT:
	case CFG_DURATION:
	case CFG_SIZE:
		return parse_number(ld, k, node, name, dst);
	case CFG_ENUM:
		return parse_enum(ld, k, node, name, dst);
	case CFG_STRLIST:
		return parse_strlist(ld, k, node, name, base);
	case CFG_NODE:
		*(yaml_node_t **)dst = node;
		return 0;
	case CFG_SECTION:
		apply_section(ld, k, node, dst, name);
		return 0;
	case CFG_CUSTOM:
		k->parse(ld, node, base, name);
		return 0;
	}
	return -EINVAL;
}

/* ---- "did you mean" ---- */

#define SUGGEST_MAX 64 /* longer keys are not compared */

/* Keys are compared as typed by hand: case and - versus _ do not count. */
static char fold(char c)
{
	return c == '-' ? '_' : c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The optimal string alignment distance (Levenshtein with a transposition of two neighbours as one
 * edit: "log_levle"), or SIZE_MAX for a string too long to compare. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	uint8_t d[SUGGEST_MAX + 1][SUGGEST_MAX + 1]; /* distances stay below 2 * SUGGEST_MAX */

	if (la > SUGGEST_MAX || lb > SUGGEST_MAX)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (uint8_t)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (uint8_t)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = fold(a[i - 1]) != fold(b[j - 1]), v = d[i - 1][j - 1] + cost;

			if ((size_t)d[i - 1][j] + 1 < v)
				v = (size_t)d[i - 1][j] + 1;
			if ((size_t)d[i][j - 1] + 1 < v)
				v = (size_t)d[i][j - 1] + 1;
			if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) && fold(a[i - 2]) == fold(b[j - 1]) &&
			    (size_t)d[i - 2][j - 2] + 1 < v)
				v = (size_t)d[i - 2][j - 2] + 1;
			d[i][j] = (uint8_t)v;
		}
	}
	return d[la][lb];
}

/* The key of the table nearest to key, when near enough to be a typo of it: one edit for keys of up
 * to four characters, two for longer ones. NULL when none is. */
static const char *suggest(const struct cfg_key *keys, const char *key)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	for (size_t i = 0; keys[i].key; i++) {
		size_t d = edit_distance(key, keys[i].key);
		size_t limit = strlen(keys[i].key) <= 4 ? 1 : 2;

		if (d <= limit && d < best_d) {
			best = keys[i].key;
			best_d = d;
		}
	}
	return best;
}

static void report_unknown(struct cfg_loader *ld, const struct cfg_key *keys, const yaml_node_t *kn,
			   const struct cfg_section *sec)
{
	const char *key = (const char *)kn->data.scalar.value, *near = suggest(keys, key);
	char list[512] = "", mean[SUGGEST_MAX + 32] = "";

	if (near)
		snprintf(mean, sizeof(mean), "; did you mean \"%s\"?", near);
	if (!sec->name[0]) {
		cfg_error(ld, kn, "unknown key \"%s\" at the top level%s%s%s%s", key, mean, sec->hint ? " (" : "",
			  sec->hint ? sec->hint : "", sec->hint ? ")" : "");
		return;
	}
	if (!sec->hint) {
		cfg_error(ld, kn, "unknown key \"%s\" in %s%s", key, sec->name, mean);
		return;
	}
	for (size_t i = 0; keys[i].key; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", keys[i].key);
	cfg_error(ld, kn, "unknown key \"%s\" in %s%s (%s takes: %s)", key, sec->name, mean, sec->hint, list);
}

/* Matches each key of map to the table; values[i] receives the value node of keys[i]. */
static void walk_pairs(struct cfg_loader *ld, const struct cfg_key *keys, yaml_node_t *map,
		       const struct cfg_section *sec, yaml_node_t **values)
{
	yaml_node_t *knodes[CFG_MAX_KEYS] = { NULL };
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = cfg_node(ld, p->key);
		size_t i;

		if (!kn || kn->type != YAML_SCALAR_NODE) {
			cfg_error(ld, kn, "%s%skeys must be strings, got %s", sec->name, sec->name[0] ? ": " : "",
				  cfg_kind(kn));
			continue;
		}
		for (i = 0; keys[i].key; i++)
			if (!strcmp(keys[i].key, (const char *)kn->data.scalar.value))
				break;
		if (!keys[i].key) {
			report_unknown(ld, keys, kn, sec);
		} else if (knodes[i]) {
			cfg_error(ld, kn, "duplicate key \"%s\" in %s (first at line %lu)", keys[i].key,
				  sec->name[0] ? sec->name : "the top level",
				  (unsigned long)knodes[i]->start_mark.line + 1);
		} else {
			knodes[i] = kn;
			values[i] = cfg_node(ld, p->value);
		}
	}
}

void cfg_apply(struct cfg_loader *ld, const struct cfg_key *keys, yaml_node_t *map, void *base,
	       const struct cfg_section *sec, yaml_node_t **ret_nodes)
{
	yaml_node_t *values[CFG_MAX_KEYS] = { NULL };
	char name[CFG_NAME_MAX];

	if (map && cfg_is_null(map))
		map = NULL; /* "batch:" with nothing after it: all defaults */
	if (map && map->type != YAML_MAPPING_NODE) {
		cfg_error(ld, map, "%s: expected a mapping, got %s", sec->name, cfg_kind(map));
		map = NULL;
	}
	if (map)
		walk_pairs(ld, keys, map, sec, values);
	for (size_t i = 0; keys[i].key; i++) {
		const struct cfg_key *k = &keys[i];

		snprintf(name, sizeof(name), "%s%s%s", sec->name, sec->name[0] ? "." : "", k->key);
		if (cfg_is_null(values[i])) {
			if (k->flags & CFG_REQUIRED)
				cfg_error(ld, values[i], "%s: must not be empty", name);
			values[i] = NULL;
		} else if (!values[i] && (k->flags & CFG_REQUIRED) && map) {
			cfg_error(ld, map, "%s%smissing required key \"%s\"", sec->name, sec->name[0] ? ": " : "",
				  k->key);
		}
		if (!values[i] || apply_value(ld, k, values[i], base, name))
			apply_default(ld, k, base, name);
		if (ret_nodes)
			ret_nodes[i] = values[i];
	}
}
