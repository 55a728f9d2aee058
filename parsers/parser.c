/* Parser registry and instances: one struct parser per input, built-in or loaded from a plugin, and the
 * record that one parsed line fills. */
#include "parser.h"
#include "swar.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* Says more about a rejected line: see parser_explain. */
typedef int (*explain_fn)(void *state, const char *line, size_t len, const char *field, size_t field_len,
			  char *out, size_t outlen);
#define REASON_SHOW_MAX 64

struct parser {
	const struct onside_parser_ops *ops;
	/* resolved once at open: parse_source when the ops have it (abi >= 2), else parse */
	int (*parse_source)(void *state, const struct onside_source *src, const char *line, size_t len,
			    onside_emit_fn emit, void *sink, char *reason, size_t reasonlen);
	explain_fn explain; /* built-ins only; NULL when the parser has nothing to add */
	void *state;
	void *handle; /* dlopen handle for plugins, NULL for built-ins */
	onside_emit_fn emit; /* plugin_emit for plugins: their values are checked, built-ins' are not */
};

struct builtin {
	const struct onside_parser_ops *ops;
	explain_fn explain;
};

/* NULL-terminated, so adding a built-in is one line here and one ops table in its own file. */
static const struct builtin builtins[] = {
	{ &parser_json_ops, NULL },
	{ &parser_regex_ops, parser_regex_explain },
	{ &parser_logfmt_ops, NULL },
	{ &parser_csv_ops, NULL },
	{ NULL, NULL },
};

/* The source of a line that comes from no file (tests): an offset that is never the first line's. */
static const struct onside_source no_source = {
	.size = sizeof(struct onside_source),
	.first_line = NULL,
	.first_line_len = 0,
	.offset = UINT64_MAX,
};

int record_emit(void *sink, const char *name, size_t name_len, const char *value, size_t value_len,
		int type)
{
	struct record *r = sink;
	struct field *f;

	if (r->n >= RECORD_MAX_FIELDS) {
		r->overflow = true;
		return 1;
	}
	/* A plugin may hand us NULL for an empty string; the rest of the agent compares with memcmp. */
	if (!name)
		name = "", name_len = 0;
	if (!value)
		value = "", value_len = 0;
	/* An unknown type from a plugin must not reach the JSON writer, which trusts NUMBER and JSON
	 * values to be JSON text; as a string it is escaped and stays harmless. */
	if (type < ONSIDE_T_STRING || type > ONSIDE_T_JSON)
		type = ONSIDE_T_STRING;
	f = &r->f[r->n++];
	f->name = name;
	f->name_len = name_len;
	f->value = value;
	f->value_len = value_len;
	f->type = type;
	return 0;
}

const struct field *record_get(const struct record *r, const char *name, size_t name_len)
{
	size_t i;

	/* backwards: the last of a name wins (parser.h) */
	for (i = r->n; i-- > 0;) {
		const struct field *f = &r->f[i];

		if (f->name_len == name_len && swar_equal(f->name, name, name_len))
			return f;
	}
	return NULL;
}

static const struct builtin *builtin_lookup(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; builtins[i].ops; i++)
		if (strcmp(builtins[i].ops->name, name) == 0)
			return &builtins[i];
	return NULL;
}

const struct onside_parser_ops *parser_lookup(const char *name)
{
	const struct builtin *b = builtin_lookup(name);

	return b ? b->ops : NULL;
}

int parser_open(const char *type, const char *plugin_path, const char *options_json,
		struct parser **ret, char *err, size_t errlen)
{
	const struct onside_parser_ops *ops;
	const struct builtin *b = NULL;
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
		b = builtin_lookup(type);
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
	p->explain = b ? b->explain : NULL;
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
	if (!p->explain || !outlen)
		return -ENOTSUP;
	return p->explain(p->state, line ? line : "", line ? len : 0, field, field_len, out, outlen);
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
