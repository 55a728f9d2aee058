/* Parser registry and instances: one struct parser per input, built-in or loaded from a plugin, and the
 * record that one parsed line fills. Also the built-ins' side of configuration (parser.h says how it
 * goes): the list of built-ins, the options JSON made of their values, the checks they share.
 *
 * A built-in is its file, which defines `const struct parser_builtin parser_NAME`, and its line in
 * PARSER_BUILTINS below: the list `check` names for `type`, and the order it names them in. */
#include "parser.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* One line per built-in: it declares parser_NAME and puts it in builtins[] (an X-macro, so that the
 * name is written once). */
#define PARSER_BUILTINS(X) \
	X(json)            \
	X(regex)           \
	X(logfmt)          \
	X(csv)             \
	X(ltsv)            \
	/* end of the list */

#define REASON_SHOW_MAX 64
#define REPORT_MAX 256

#define BUILTIN_DECLARE(name) extern const struct parser_builtin parser_##name;
#define BUILTIN_ENTRY(name) &parser_##name,
PARSER_BUILTINS(BUILTIN_DECLARE)
static const struct parser_builtin *const builtins[] = { PARSER_BUILTINS(BUILTIN_ENTRY) NULL };

struct parser {
	const struct onside_parser_ops *ops;
	/* resolved once at open: parse_source when the ops have it (abi >= 2), else parse */
	int (*parse_source)(void *state, const struct onside_source *src, const char *line, size_t len,
			    onside_emit_fn emit, void *sink, char *reason, size_t reasonlen);
	const struct parser_builtin *builtin; /* NULL for plugins */
	void *state;
	void *handle; /* dlopen handle for plugins, NULL for built-ins */
	onside_emit_fn emit; /* plugin_emit for plugins: their values are checked, built-ins' are not */
};

/* The source of a line that comes from no file (tests): an offset that is never the first line's. */
static const struct onside_source no_source = {
	.size = sizeof(struct onside_source),
	.first_line = NULL,
	.first_line_len = 0,
	.offset = UINT64_MAX,
};

const struct parser_builtin *parser_builtin_at(size_t i)
{
	return i < sizeof(builtins) / sizeof(builtins[0]) ? builtins[i] : NULL;
}

const struct parser_builtin *parser_builtin(const char *type)
{
	const struct parser_builtin *b;

	for (size_t i = 0; type && (b = parser_builtin_at(i)); i++)
		if (strcmp(b->ops->name, type) == 0)
			return b;
	return NULL;
}

const struct onside_parser_ops *parser_lookup(const char *name)
{
	const struct parser_builtin *b = parser_builtin(name);

	return b ? b->ops : NULL;
}

int parser_open(const char *type, const char *plugin_path, const char *options_json,
		struct parser **ret, char *err, size_t errlen)
{
	const struct onside_parser_ops *ops;
	const struct parser_builtin *b = NULL;
	void *handle = NULL, *state = NULL;
	bool plugin = type && strcmp(type, "plugin") == 0;
	struct parser *p;
	int r;

	if (!options_json)
		options_json = "{}";
	if (plugin) {
		if (!plugin_path) {
			snprintf(err, errlen, "parser type plugin needs a path");
			return -EINVAL;
		}
		r = plugin_load(plugin_path, &ops, &handle, err, errlen);
		if (r < 0)
			return r;
	} else {
		b = parser_builtin(type);
		if (!b) {
			snprintf(err, errlen, "unknown parser type \"%s\"", type ? type : "");
			return -EINVAL;
		}
		ops = b->ops;
	}

	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		plugin_unload(handle);
		return -ENOMEM;
	}
	if (errlen)
		err[0] = '\0';
	if (ops->create(options_json, &state, err, errlen) != 0) {
		/* A plugin's message gets the file name in front; one that fails without a word
		 * still deserves a message naming it. */
		if (plugin) {
			char why[256];

			snprintf(why, sizeof(why), "%s", errlen && err[0] ? err : "create failed");
			snprintf(err, errlen, "plugin %s: %s", plugin_path, why);
		} else if (errlen && !err[0]) {
			snprintf(err, errlen, "%s parser: invalid options", ops->name);
		}
		free(p);
		plugin_unload(handle);
		return -EINVAL;
	}
	p->ops = ops;
	/* a member past what the plugin's abi has is never read: its struct may end before it */
	p->parse_source = ops->abi >= 2 ? ops->parse_source : NULL;
	p->builtin = b;
	p->state = state;
	p->handle = handle;
	p->emit = plugin ? plugin_emit : record_emit;
	*ret = p;
	return 0;
}

/* Shows up to REASON_SHOW_MAX bytes of s in a reason, control bytes as '?' (reasons reach the log). */
static void reason_show(char *out, const char *s, size_t n)
{
	size_t i, shown = n > REASON_SHOW_MAX ? REASON_SHOW_MAX : n;

	for (i = 0; i < shown; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (shown < n) {
		memcpy(out + shown, "...", 3);
		shown += 3;
	}
	out[shown] = '\0';
}

/* e.g. plugin field "amount": NUMBER value "1,\"x\":2" is not a JSON number */
static void invalid_reason(const struct record *rec, char *reason, size_t reasonlen)
{
	static const char *const types[] = { "STRING", "NUMBER", "BOOL", "NULL", "JSON" };
	const struct field *f = &rec->invalid_field;
	char name[REASON_SHOW_MAX + 4], value[REASON_SHOW_MAX + 4];

	reason_show(name, f->name, f->name_len);
	reason_show(value, f->value, f->value_len);
	snprintf(reason, reasonlen, "plugin field \"%s\": %s value \"%s\" %s", name, types[f->type], value,
		 rec->invalid);
}

int parser_parse(struct parser *p, const struct onside_source *src, const char *line, size_t len,
		 struct record *rec, char *reason, size_t reasonlen)
{
	int rc;

	record_reset(rec);
	if (reasonlen)
		reason[0] = '\0';
	if (!line)
		line = "", len = 0;
	if (p->parse_source)
		rc = p->parse_source(p->state, src ? src : &no_source, line, len, p->emit, rec, reason,
				     reasonlen);
	else
		rc = p->ops->parse(p->state, line, len, p->emit, rec, reason, reasonlen);
	if (rec->invalid) {
		invalid_reason(rec, reason, reasonlen);
		rc = ONSIDE_PARSE_NOMATCH;
	} else if (rec->overflow) {
		snprintf(reason, reasonlen, "too many fields");
		rc = ONSIDE_PARSE_NOMATCH;
	} else if (rc != ONSIDE_PARSE_OK && rc != ONSIDE_PARSE_SKIP && rc != ONSIDE_PARSE_NOMATCH) {
		snprintf(reason, reasonlen, "parser returned invalid result %d", rc);
		rc = ONSIDE_PARSE_NOMATCH;
	} else if (rc == ONSIDE_PARSE_NOMATCH && reasonlen && !reason[0]) {
		snprintf(reason, reasonlen, "line does not match");
	}
	/* Fields of a line that is not an event must not be mistaken for one. */
	if (rc != ONSIDE_PARSE_OK)
		record_reset(rec);
	return rc;
}

int parser_explain(struct parser *p, const char *line, size_t len, const char *field, size_t field_len,
		   char *out, size_t outlen)
{
	if (!p->builtin || !p->builtin->explain || !outlen)
		return -ENOTSUP;
	return p->builtin->explain(p->state, line ? line : "", line ? len : 0, field, field_len, out, outlen);
}

void parser_free(struct parser *p)
{
	if (!p)
		return;
	if (p->ops->destroy)
		p->ops->destroy(p->state);
	plugin_unload(p->handle);
	free(p);
}

int parser_no_options(const char *options_json, const char *name, char *err, size_t errlen)
{
	struct json_object *opts = json_tokener_parse(options_json);
	int ok = opts && json_object_is_type(opts, json_type_object) && json_object_object_length(opts) == 0;

	json_object_put(opts);
	if (ok)
		return 0;
	snprintf(err, errlen, "%s parser: takes no options", name);
	return -EINVAL;
}

/* ---- configuration of the built-ins ---- */

void parser_report(const struct parser_report *rep, const char *key, const char *fmt, ...)
{
	char msg[REPORT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rep->fn(rep->ctx, key, msg);
}

int parser_check_byte(const char *value, char *err, size_t errlen)
{
	if (strlen(value) == 1)
		return 0;
	snprintf(err, errlen, "must be a single byte, got \"%s\"", value);
	return -EINVAL;
}

static struct json_object *optval_json(const struct parser_opt *o, const union parser_optval *v)
{
	struct json_object *list;

	switch (o->type) {
	case PARSER_OPT_STRING:
		return json_object_new_string(v->s);
	case PARSER_OPT_BOOL:
		return json_object_new_boolean(v->b);
	case PARSER_OPT_STRLIST:
		list = json_object_new_array();
		for (size_t i = 0; list && i < v->list.n; i++) {
			if (json_object_array_add(list, json_object_new_string(v->list.v[i])) < 0) {
				json_object_put(list);
				return NULL;
			}
		}
		return list;
	}
	return NULL;
}

/* {"key": value, ...} in opts order; a STRING without a value is left out. */
static int options_json(const struct parser_builtin *b, const union parser_optval *v, char **ret)
{
	struct json_object *o = json_object_new_object();
	const char *text = NULL;
	size_t i;

	for (i = 0; o && b->opts && b->opts[i].key; i++) {
		struct json_object *val;

		if (b->opts[i].type == PARSER_OPT_STRING && !v[i].s)
			continue;
		val = optval_json(&b->opts[i], &v[i]);
		if (!val || json_object_object_add(o, b->opts[i].key, val) < 0) {
			json_object_put(val);
			break;
		}
	}
	if (o && (!b->opts || !b->opts[i].key))
		text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text)
		text = *ret = strdup(text);
	json_object_put(o);
	return text ? 0 : -ENOMEM;
}

int parser_configure(const struct parser_builtin *b, const union parser_optval *v,
		     const struct parser_report *rep, char **ret_options_json, struct parser_needs *ret_needs)
{
	struct parser_needs needs = { 0 };
	int r;

	if (b->configure) {
		r = b->configure(v, rep, &needs);
		if (r < 0)
			return r;
	}
	r = options_json(b, v, ret_options_json);
	if (r < 0)
		return r;
	*ret_needs = needs;
	return 0;
}
