/* A parser plugin as it was built before ABI version 2: its own copy of the version 1 struct, which
 * ends at `destroy`. The agent must load it and never read past that end (an ASan build sees a
 * read past this global). Lines are "name=value"; anything else does not match. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef int (*emit_fn)(void *sink, const char *name, size_t name_len, const char *value, size_t value_len,
		       int type);

/* onside_parser.h of ABI version 1, as it was */
struct onside_parser_ops_v1 {
	uint32_t abi;
	const char *name;
	int (*create)(const char *options_json, void **ret_state, char *err, size_t errlen);
	int (*parse)(void *state, const char *line, size_t len, emit_fn emit, void *sink, char *reason,
		     size_t reasonlen);
	void (*destroy)(void *state);
};

static int v1_create(const char *options_json, void **ret_state, char *err, size_t errlen)
{
	static int state;

	*ret_state = &state;
	return 0;
}

static int v1_parse(void *state, const char *line, size_t len, emit_fn emit, void *sink, char *reason,
		    size_t reasonlen)
{
	const char *eq = memchr(line, '=', len);

	if (!eq) {
		snprintf(reason, reasonlen, "no '='");
		return 1;
	}
	return emit(sink, line, (size_t)(eq - line), eq + 1, len - (size_t)(eq - line) - 1, 0) ? 1 : 0;
}

static void v1_destroy(void *state)
{
}

const struct onside_parser_ops_v1 onside_parser_v1 = {
	.abi = 1,
	.name = "v1",
	.create = v1_create,
	.parse = v1_parse,
	.destroy = v1_destroy,
};
