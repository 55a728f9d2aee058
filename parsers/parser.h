/* Parser registry, instances (built-in or plugin) and the record of fields a line parses into. */
#ifndef ONSIDE_PARSER_INTERNAL_H
#define ONSIDE_PARSER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "onside_parser.h"

#define RECORD_MAX_FIELDS 512

struct field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	int type; /* enum onside_value_type */
};

/* The fields of one parsed line. Reused from line to line: record_reset() is O(1). The field bytes
 * belong to the parser state and live until its next parse. A name may come more than once (logfmt
 * "a=1 a=2", a csv header naming two columns alike, (?J) regex groups, a plugin): the last one is
 * the field of that name (record_get), as a JSON object's last duplicate key is. */
struct record {
	size_t n;
	bool overflow; /* more than RECORD_MAX_FIELDS were emitted */
	/* A plugin's value that is not what its type says (plugin_emit): why, and the field. */
	const char *invalid;
	struct field invalid_field;
	struct field f[RECORD_MAX_FIELDS];
};

static inline void record_reset(struct record *r)
{
	r->n = 0;
	r->overflow = false;
	r->invalid = NULL;
}

/* An onside_emit_fn; sink is a struct record *. */
int record_emit(void *sink, const char *name, size_t name_len, const char *value, size_t value_len,
		int type);
/* Finds a field by exact name (JSON parsers emit nested fields as "a.b.c"): the last one of that
 * name. NULL if absent. */
const struct field *record_get(const struct record *r, const char *name, size_t name_len);

/* Built-in parsers: json, regex, logfmt, csv. NULL if no such built-in. */
const struct onside_parser_ops *parser_lookup(const char *name);

struct parser; /* an instance: ops + state (+ dlopen handle for plugins) */

/* Creates a parser of a built-in type, or with type "plugin", loads plugin_path (see plugin.c for the
 * checks). options_json as in onside_parser_ops.create. Returns 0 or a negative errno with a message. */
int parser_open(const char *type, const char *plugin_path, const char *options_json,
		struct parser **ret, char *err, size_t errlen);
/* Parses one line into rec (reset first). src: where the line comes from (see onside_parser.h); NULL
 * when there is no file (tests): no first line, and an offset that is never 0. Returns
 * ONSIDE_PARSE_OK, _SKIP or _NOMATCH (with reason). */
int parser_parse(struct parser *p, const struct onside_source *src, const char *line, size_t len,
		 struct record *rec, char *reason, size_t reasonlen);
/* The cold path of a rejection: says more about a line that did not give what the mapping needs.
 * field NULL: the parser did not match the line; the explanation replaces its reason (e.g. "missing
 * field currency (the line ends at byte 48)"). field set: the mapping needs that field and the
 * parsed line lacks it; an explanation is given only when another field is the cause (a pattern's
 * optional part that failed at a later field). Returns 0 with out set, or -ENOTSUP when the parser
 * has nothing to add. */
int parser_explain(struct parser *p, const char *line, size_t len, const char *field, size_t field_len,
		   char *out, size_t outlen);
void parser_free(struct parser *p);

/* json-c tokener flags for our JSON reading (needs <json-c/json.h> where it is used). json-c 0.17 and
 * 0.18 (Debian 13) reject every byte >= 0x80 inside strings in strict mode, so any UTF-8 text would
 * be refused: strict parsing only on the versions where it works (Debian 11 and 12). */
#define ONSIDE_JSON_TOKENER_FLAGS (JSON_C_VERSION_NUM >= 0x001100 ? 0 : JSON_TOKENER_STRICT)

/* The json parser's fast path alone (for tests): emits the members of a flat object of plain
 * strings, integers, booleans and nulls and returns 0; returns -EINVAL (emitting nothing) for any
 * other line, which the json parser hands to json-c; -E2BIG when the sink refused a field. */
int parser_json_fast(const char *line, size_t len, onside_emit_fn emit, void *sink);

/* For parsers that take no options: 0 when options_json is "{}", else -EINVAL with
 * "NAME parser: takes no options". */
int parser_no_options(const char *options_json, const char *name, char *err, size_t errlen);

/* The regex parser's explanation (see parser_explain). */
int parser_regex_explain(void *state, const char *line, size_t len, const char *field, size_t field_len,
			 char *out, size_t outlen);

/* Plugin loading: refuses a file writable by group/others or not owned by root or the current user,
 * a missing symbol, or a mismatched abi, with a message naming the file and the reason. */
int plugin_load(const char *path, const struct onside_parser_ops **ret_ops, void **ret_handle,
		char *err, size_t errlen);
void plugin_unload(void *handle);

/* The onside_emit_fn a plugin's parse() gets (sink is a struct record *): a value typed NUMBER, BOOL,
 * NULL or JSON must be what the type says, since the JSON writer copies such values into the request
 * as they are. The first one that is not is kept in the record (invalid) and refused, and so is
 * everything after it; parser_parse then rejects the line. Built-in parsers emit to record_emit. */
int plugin_emit(void *sink, const char *name, size_t name_len, const char *value, size_t value_len,
		int type);

/* For tests only: while set, plugin_load takes a plugin's ops from fn instead of checking and
 * dlopen()ing the file (fn returns NULL with a message in err to refuse the path; the abi and the
 * functions are still checked, and the handle is NULL). The config fuzzer refuses every path, so that
 * no input makes it load a library (it may run as root); the plugin fuzzer hands out a plugin built
 * into it. NULL restores dlopen(). */
typedef const struct onside_parser_ops *(*plugin_loader_fn)(const char *path, char *err, size_t errlen);
void plugin_set_loader(plugin_loader_fn fn);

/* The built-in ops tables (one file each). */
extern const struct onside_parser_ops parser_json_ops;
extern const struct onside_parser_ops parser_regex_ops;
extern const struct onside_parser_ops parser_logfmt_ops;
extern const struct onside_parser_ops parser_csv_ops;

#endif
