/* onside-agent parser plugin ABI, version 1.
 *
 * A parser turns one log line (without its LF, and without one CR directly before it) into named
 * fields. A plugin is a shared object that exports one symbol, ONSIDE_PARSER_SYMBOL, of type
 * `const struct onside_parser_ops`, whose `abi` member must equal ONSIDE_PARSER_ABI; the agent refuses
 * any other value with an error naming the file. Built-in parsers implement the same struct.
 *
 * Threading: the agent calls one state from one thread at a time.
 * Memory: field names and values passed to `emit` must stay valid until the next call to `parse` or
 * `destroy` on the same state (so a parser can point into the line or into its own reused buffers and
 * copy nothing).
 */
#ifndef ONSIDE_PARSER_H
#define ONSIDE_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define ONSIDE_PARSER_ABI 1u
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

struct onside_parser_ops {
	uint32_t abi;     /* ONSIDE_PARSER_ABI */
	const char *name; /* short name, for messages */
	/* options_json: the parser's options from the configuration as a JSON object text (never NULL,
	 * "{}" when there are none). On failure return nonzero and write a message into err. */
	int (*create)(const char *options_json, void **ret_state, char *err, size_t errlen);
	/* Returns ONSIDE_PARSE_OK, ONSIDE_PARSE_SKIP, or ONSIDE_PARSE_NOMATCH with a short reason in
	 * `reason`. Must accept
	 * any byte sequence (NUL bytes, invalid UTF-8, any length) without crashing. */
	int (*parse)(void *state, const char *line, size_t len, onside_emit_fn emit, void *sink,
		     char *reason, size_t reasonlen);
	void (*destroy)(void *state);
};

#endif
