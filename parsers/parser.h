/* Parser registry, instances (built-in or plugin) and the record of fields a line parses into.
 *
 * A built-in parser owns its configuration, as an OpenSMTPD table backend does (table.c + one
 * table_NAME.c per backend): it is one file, parsers/NAME.c, defining one `struct parser_builtin`
 * named parser_NAME (its ops, the keys it takes under `parser:`, the checks of their values and of
 * the whole), and one line in PARSER_BUILTINS (parser.c). Nothing else in the tree names it: config/
 * takes the list of types, each type's keys, defaults and checks from here.
 *
 * How a built-in's configuration is read (config/config_parser.c):
 *   1. config/ reads the `parser:` mapping with its one key-table engine: the keys every type has
 *      (type, on_mismatch) and the built-in's `opts`, turned into key-table entries. Types, nulls,
 *      duplicates, required and unknown keys are reported there, with the messages of every other
 *      key of the file.
 *   2. Each string value (and each item of a list) goes to its option's `check`, which says what is
 *      wrong in an error buffer; config/ prints it at that value's YAML position. A value that fails
 *      is left out (its default is taken), as for every key of the file.
 *   3. The values, one `union parser_optval` per option, go to parser_configure(): the built-in's
 *      `configure` checks what spans keys and names the key of each problem through a
 *      `struct parser_report`, which config/ maps back to the key's YAML position; then the values
 *      become the options JSON that ops->create() gets.
 * parsers/ never sees YAML and never logs: problems go to the caller's buffer or reporter.
 * Plugins are not built-ins: their `options:` mapping reaches create() as JSON (onside_parser.h). */
#ifndef ONSIDE_PARSER_INTERNAL_H
#define ONSIDE_PARSER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "onside_parser.h"
#include "plugin.h"
#include "record.h"

/* ---- built-in parsers and their configuration ---- */

/* The most options one built-in takes (config/ keeps per-key state on the stack). */
#define PARSER_OPTS_MAX 16

enum parser_opt_type {
	PARSER_OPT_STRING,  /* a string: union parser_optval.s (NULL when absent without default) */
	PARSER_OPT_BOOL,    /* true/false (also yes/no): .b */
	PARSER_OPT_STRLIST, /* a list of strings: .list ([] when absent) */
};

/* The value of one option once read, in the order of the built-in's opts. Strings belong to the
 * caller. */
union parser_optval {
	const char *s;
	bool b;
	struct {
		char **v;
		size_t n;
	} list;
};

/* Says what is wrong with value (a string option, or one item of a list option) into err, as the rest
 * of a message "inputs[0].parser.KEY: ..." (e.g. `must be a single byte, got "::"`), and returns
 * -EINVAL; or returns 0. */
typedef int (*parser_check_fn)(const char *value, char *err, size_t errlen);

/* One key a built-in takes under `parser:`. */
struct parser_opt {
	const char *key;
	enum parser_opt_type type;
	/* the value when absent: a STRING's (NULL: none); a BOOL's, "true" or "false" (NULL: false) */
	const char *def;
	bool required; /* absent or null: an error at the parser's mapping (or at the null) */
	parser_check_fn check; /* STRING, STRLIST items; NULL: any string */
	const char *help; /* one line, what the key is */
};

/* Where configure() puts a problem: at the option named key (at the parser's mapping when the key
 * is not in the file), or at the mapping as a whole when key is NULL. msg is the rest of the
 * message, as for parser_check_fn. */
struct parser_report {
	void (*fn)(void *ctx, const char *key, const char *msg);
	void *ctx;
};

/* What the agent gives a parser configured so (the caller's, filled by configure). */
struct parser_needs {
	bool first_line; /* each file's first line with every line (onside_source.first_line) */
};

struct parser_builtin {
	const struct onside_parser_ops *ops; /* ops->name is the `type` */
	const struct parser_opt *opts;       /* NULL-terminated (key NULL), at most PARSER_OPTS_MAX */
	/* Checks what spans keys on values that passed their own checks (v[i] for opts[i]), reporting
	 * each problem through rep, and fills what the parser needs. Returns 0 or -EINVAL (reported).
	 * NULL: nothing to check, nothing needed. */
	int (*configure)(const union parser_optval *v, const struct parser_report *rep,
			 struct parser_needs *ret);
	/* Says more about a rejected line (see parser_explain); NULL: nothing to add. */
	int (*explain)(void *state, const char *line, size_t len, const char *field, size_t field_len,
		       char *out, size_t outlen);
};

/* The built-in of that type, NULL if none ("plugin" is not one). */
const struct parser_builtin *parser_builtin(const char *type);
/* The i-th built-in in the order of PARSER_BUILTINS, NULL past the last. */
const struct parser_builtin *parser_builtin_at(size_t i);
/* The ops of the built-in of that name, NULL if none. */
const struct onside_parser_ops *parser_lookup(const char *name);

/* Step 3 above: runs b->configure on v and, when it finds nothing, sets *ret_options_json (the
 * caller frees it) to the options JSON of v: every option in opts order, a STRING only when set.
 * Returns 0, -EINVAL (reported through rep) or -ENOMEM. */
int parser_configure(const struct parser_builtin *b, const union parser_optval *v,
		     const struct parser_report *rep, char **ret_options_json, struct parser_needs *ret_needs);
/* A problem for configure(), formatted. */
void parser_report(const struct parser_report *rep, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A parser_check_fn: exactly one byte. */
int parser_check_byte(const char *value, char *err, size_t errlen);
/* Any regex of the configuration (the regex parser's pattern, include_lines, match, ...): compiled
 * with PCRE2, an error told with its offset in the pattern; with need_names, a pattern without a named
 * group is refused too. 0 or -EINVAL with err filled. (parsers/regex.c) */
int parser_check_regex(const char *pattern, bool need_names, char *err, size_t errlen);

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

#endif
