/* A parser plugin of ABI version 2 that reads where a line comes from: it emits the line as `line`,
 * the file's first line as `first` (absent when the agent did not give it) and the line's offset as
 * `offset` (a number). The tests check that the agent hands every line its own file's source. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onside_parser.h"

struct src_state {
	char offset[32];
};

static int src_create(const char *options_json, void **ret_state, char *err, size_t errlen)
{
	struct src_state *st = calloc(1, sizeof(*st));

	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*ret_state = st;
	return 0;
}

static int src_parse(void *state, const struct onside_source *src, const char *line, size_t len,
		     onside_emit_fn emit, void *sink, char *reason, size_t reasonlen)
{
	struct src_state *st = state;
	int n;

	if (src->size < offsetof(struct onside_source, offset) + sizeof(src->offset)) {
		snprintf(reason, reasonlen, "source too old");
		return ONSIDE_PARSE_NOMATCH;
	}
	n = snprintf(st->offset, sizeof(st->offset), "%" PRIu64, src->offset);
	if (emit(sink, "line", 4, line, len, ONSIDE_T_STRING) ||
	    emit(sink, "offset", 6, st->offset, (size_t)n, ONSIDE_T_NUMBER) ||
	    (src->first_line && emit(sink, "first", 5, src->first_line, src->first_line_len, ONSIDE_T_STRING)))
		return ONSIDE_PARSE_NOMATCH;
	return ONSIDE_PARSE_OK;
}

static void src_destroy(void *state)
{
	free(state);
}

const struct onside_parser_ops onside_parser_v1 = {
	.abi = ONSIDE_PARSER_ABI,
	.name = "source",
	.create = src_create,
	.parse = NULL,
	.destroy = src_destroy,
	.parse_source = src_parse,
};
