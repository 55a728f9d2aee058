/* onside-agent parser plugin ABI, version 2 (plugins built for version 1 still load).
 *
 * A parser turns one log line (without its LF, and without one CR directly before it) into named
 * fields. A plugin is a shared object that exports one symbol, ONSIDE_PARSER_SYMBOL (its name stays
 * "onside_parser_v1" in every ABI version), of type `const struct onside_parser_ops`, whose `abi`
 * member says which members the struct has: 1 (up to `destroy`) or 2 (also `parse_source`). The
 * agent loads any abi from ONSIDE_PARSER_ABI_MIN to ONSIDE_PARSER_ABI and refuses any other value
 * with an error naming the file; it never reads a member that the plugin's abi does not have, so a
 * plugin built against the version 1 header keeps working unchanged. Built-in parsers implement the
 * same struct.
 *
 * Version 2 adds where a line comes from (struct onside_source): its file's first line and its
 * offset in that file. A parser whose meaning depends on the file (a CSV header naming the columns of
 * each file) sets `parse_source`; the agent then calls it instead of `parse` for every line, with
 * mapping threads too: each call gets the source of its own line, so the parser never has to guess
 * a file's header from the order in which it happens to see lines.
 *
 * Threading: the agent calls one state from one thread at a time; it may use several states of the
 * same parser at once (one per mapping thread), each seeing lines of any file in any order.
 * Memory: field names and values passed to `emit` must stay valid until the next call to `parse`,
 * `parse_source` or `destroy` on the same state (so a parser can point into the line or into its own
 * reused buffers and copy nothing). The source and the bytes it points to are valid during the call
 * only: copy what must outlive it.
 */
#ifndef ONSIDE_PARSER_H
#define ONSIDE_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define ONSIDE_PARSER_ABI 2u     /* the version this header describes */
#define ONSIDE_PARSER_ABI_MIN 1u /* the oldest version the agent still loads */
#define ONSIDE_PARSER_SYMBOL "onside_parser_v1"

/* Types of field values, as the payload keeps them. The agent checks a plugin's NUMBER, BOOL, NULL and
 * JSON values (strict JSON, no key twice in an object) and rejects the line when one is not what its
 * type says. A name emitted twice for one line takes the last value. */
enum onside_value_type {
	ONSIDE_T_STRING = 0, /* value is the decoded string bytes (UTF-8 expected) */
	ONSIDE_T_NUMBER = 1, /* value is a JSON number literal, e.g. "9.99" or "-3" */
	ONSIDE_T_BOOL = 2,   /* value is "true" or "false" */
	ONSIDE_T_NULL = 3,   /* value is "null" */
	ONSIDE_T_JSON = 4,   /* value is a JSON object or array in JSON text */
};

/* Results of parse(). */
#define ONSIDE_PARSE_OK 0
#define ONSIDE_PARSE_NOMATCH 1 /* the line is not in the parser's format; `reason` says why */
#define ONSIDE_PARSE_SKIP 2    /* not an event and not an error (e.g. a CSV header line): counted as
				* skipped, like a line that `match` filters out */

/* Called by parse() once per field. Returns 0 to go on, nonzero when the agent will take no more
 * fields (the parser should then stop and return ONSIDE_PARSE_NOMATCH). */
typedef int (*onside_emit_fn)(void *sink, const char *name, size_t name_len, const char *value,
			      size_t value_len, int type);

/* Where a line comes from (ABI 2). The agent fills one per line. Members are only ever appended:
 * `size` is sizeof(struct onside_source) as the agent built it, and a member that does not lie
 * entirely below `size` is absent (a plugin built against a newer header must check). */
struct onside_source {
	size_t size;
	/* The first line of the line's file, as a line is handed to the parser (without its LF and
	 * without one CR before it; at most the input's max_line_bytes). It is read from the file
	 * itself, also when reading resumes in the middle of it (after a restart or a reload).
	 * `onside-agent parse` on standard input takes the first line it reads. NULL when the agent
	 * does not know it: the agent reads it only for parsers that may need it (csv with
	 * `header: true`, and every plugin). */
	const char *first_line;
	size_t first_line_len;
	/* The byte offset of this line's first byte in its file: 0 for the first line itself. */
	uint64_t offset;
};

struct onside_parser_ops {
	uint32_t abi;     /* ONSIDE_PARSER_ABI (or 1 for a version 1 plugin) */
	const char *name; /* short name, for messages */
	/* options_json: the parser's options from the configuration as a JSON object text (never NULL,
	 * "{}" when there are none). On failure return nonzero and write a message into err. */
	int (*create)(const char *options_json, void **ret_state, char *err, size_t errlen);
	/* Returns ONSIDE_PARSE_OK, ONSIDE_PARSE_SKIP, or ONSIDE_PARSE_NOMATCH with a short reason in
	 * `reason`. Must accept any byte sequence (NUL bytes, invalid UTF-8, any length) without
	 * crashing. Required in version 1; in version 2 it may be NULL when parse_source is set. */
	int (*parse)(void *state, const char *line, size_t len, onside_emit_fn emit, void *sink,
		     char *reason, size_t reasonlen);
	void (*destroy)(void *state);
	/* ---- abi >= 2 ---- */
	/* As parse, with the line's source (never NULL). When set, the agent calls it instead of
	 * parse. NULL: the parser does not need to know where a line comes from. */
	int (*parse_source)(void *state, const struct onside_source *src, const char *line, size_t len,
			    onside_emit_fn emit, void *sink, char *reason, size_t reasonlen);
};

#endif
