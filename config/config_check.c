/* Checks that need another library: regexes (PCRE2, through parsers/regex.c), templates
 * (agent/template.c), and the conversion of a plugin's YAML `options` mapping to the JSON text its
 * create() receives. */
#include "config_internal.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "template.h"

/* Plugin options are small; these bound what an alias-heavy (or self-referencing) YAML document can
 * make the conversion do. */
#define OPTIONS_MAX_DEPTH 32
#define OPTIONS_MAX_VALUES 10000

int cfg_check_regex(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *pattern)
{
	char err[320];
	int r = parser_check_regex(pattern, false, err, sizeof(err));

	if (r)
		cfg_error(ld, node, "%s: %s", name, err);
	return r;
}

int cfg_check_template(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *value)
{
	struct template *t = NULL;
	char err[256] = "";
	size_t col = SIZE_MAX, add = 0;
	yaml_node_t at = *node;
	int r;

	r = template_compile(value, &t, err, sizeof(err), &col);
	if (!r) {
		template_free(t);
		return 0;
	}
	if (r == -ENOMEM) {
		ld->oom = true;
		return r;
	}
	/* point at the problem inside the string, not at its start, when the file allows it */
	if (col != SIZE_MAX && cfg_template_col(node, value, col, &add))
		at.start_mark.column += add;
	cfg_error(ld, &at, "%s: %s", name, err[0] ? err : "invalid template");
	return -EINVAL;
}

/* ---- plugin options: YAML -> JSON ----
 * Mappings become objects and sequences arrays. A plain (unquoted) scalar that reads as JSON's
 * true, false or null (also YAML's ~ and an empty value) or as a JSON number becomes that type, the
 * number kept exactly as written; every other scalar, and every quoted one, becomes a string. */

static bool is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return false;
	if (*s == '.') {
		if (*++s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		if (*++s == '+' || *s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static struct json_object *scalar_json(struct cfg_loader *ld, const yaml_node_t *node, const char *name,
				       bool *ret_ok)
{
	const char *s = cfg_scalar(ld, node, name, "a scalar");

	*ret_ok = s != NULL;
	if (!s)
		return NULL;
	if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (!strcmp(s, "true") || !strcmp(s, "false"))
			return json_object_new_boolean(s[0] == 't');
		if (cfg_is_null(node))
			return NULL; /* json-c's null is the NULL object */
		if (is_json_number(s))
			return json_object_new_double_s(strtod(s, NULL), s);
	}
	return json_object_new_string(s);
}

struct conv {
	struct cfg_loader *ld;
	size_t values;
	bool failed;
};

static struct json_object *to_json(struct conv *cv, yaml_node_t *node, const char *name, int depth);

static struct json_object *mapping_json(struct conv *cv, yaml_node_t *node, const char *name, int depth)
{
	struct json_object *obj = json_object_new_object();
	char sub[CFG_NAME_MAX];

	if (!obj)
		return NULL;
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = cfg_node(cv->ld, p->key);
		const char *key = cfg_scalar(cv->ld, kn, name, "string keys");

		if (!key) {
			cv->failed = true;
			continue;
		}
		if (json_object_object_get_ex(obj, key, NULL)) {
			cfg_error(cv->ld, kn, "%s: duplicate key \"%s\"", name, key);
			cv->failed = true;
			continue;
		}
		snprintf(sub, sizeof(sub), "%s.%s", name, key);
		json_object_object_add(obj, key, to_json(cv, cfg_node(cv->ld, p->value), sub, depth + 1));
	}
	return obj;
}

static struct json_object *to_json(struct conv *cv, yaml_node_t *node, const char *name, int depth)
{
	struct json_object *v;
	char sub[CFG_NAME_MAX];
	bool ok;

	if (cv->failed)
		return NULL;
	if (depth > OPTIONS_MAX_DEPTH || ++cv->values > OPTIONS_MAX_VALUES) {
		cfg_error(cv->ld, node, "%s: too large (at most %d levels and %d values)", name,
			  OPTIONS_MAX_DEPTH, OPTIONS_MAX_VALUES);
		cv->failed = true;
		return NULL;
	}
	if (node->type == YAML_MAPPING_NODE)
		return mapping_json(cv, node, name, depth);
	if (node->type == YAML_SCALAR_NODE) {
		v = scalar_json(cv->ld, node, name, &ok);
		cv->failed |= !ok;
		return v;
	}
	v = json_object_new_array();
	for (yaml_node_item_t *i = node->data.sequence.items.start; v && i < node->data.sequence.items.top;
	     i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", name, (size_t)(i - node->data.sequence.items.start));
		json_object_array_add(v, to_json(cv, cfg_node(cv->ld, *i), sub, depth + 1));
	}
	return v;
}

char *cfg_options_json(struct cfg_loader *ld, yaml_node_t *node, const char *name)
{
	struct conv cv = { .ld = ld };
	struct json_object *obj;
	char *text = NULL;

	if (node->type != YAML_MAPPING_NODE) {
		cfg_error(ld, node, "%s: expected a mapping, got %s", name, cfg_kind(node));
		return NULL;
	}
	obj = to_json(&cv, node, name, 0);
	if (!obj)
		ld->oom |= !cv.failed;
	else if (!cv.failed) {
		const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
								       JSON_C_TO_STRING_NOSLASHESCAPE);

		text = s ? cfg_strdup(ld, s) : NULL;
		ld->oom |= !s;
	}
	json_object_put(obj);
	return text;
}
