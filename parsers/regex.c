/* The regex parser: a PCRE2 pattern whose named groups become fields. Lines are bytes, not UTF-8
 * (a log may hold anything), so the pattern is compiled without UTF mode. Values point into the line.
 *
 * A pattern like (a+)+$ can take exponential time on a line that almost matches; the match, depth and
 * heap limits turn that into a prompt NOMATCH instead of a stalled agent. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "parser.h"

#include <errno.h>
#include <json-c/json.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGEX_MATCH_LIMIT 1000000u
#define REGEX_DEPTH_LIMIT 10000u
#define REGEX_HEAP_LIMIT_KIB 20480u
#define JIT_STACK_MIN (32u << 10)
#define JIT_STACK_MAX (1u << 20)

struct group {
	uint32_t number;
	const char *name; /* in the compiled pattern's name table */
	size_t name_len;
};

struct regex_state {
	pcre2_code *code;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit_stack; /* NULL when JIT is unavailable */
	bool jit_direct;            /* matched with pcre2_jit_match: see use_jit_match() */
	struct group *groups;
	size_t ngroups;
};

static void regex_destroy(void *state)
{
	struct regex_state *st = state;

	if (!st)
		return;
	free(st->groups);
	pcre2_jit_stack_free(st->jit_stack);
	pcre2_match_context_free(st->mctx);
	pcre2_match_data_free(st->md);
	pcre2_code_free(st->code);
	free(st);
}

/* Reads {"pattern": "..."}; the pattern's length comes from json-c so a \u0000 in it survives. */
static int read_options(const char *options_json, struct json_object **ret_opts, const char **ret_pat,
			size_t *ret_len, char *err, size_t errlen)
{
	struct json_object *opts = json_tokener_parse(options_json), *pat = NULL;

	if (!opts || !json_object_is_type(opts, json_type_object)) {
		snprintf(err, errlen, "regex parser: options are not a JSON object");
		json_object_put(opts);
		return -EINVAL;
	}
	json_object_object_foreach(opts, key, val) {
		if (strcmp(key, "pattern") != 0) {
			snprintf(err, errlen, "regex parser: unknown option \"%s\"", key);
			json_object_put(opts);
			return -EINVAL;
		}
		pat = val;
	}
	if (!pat || !json_object_is_type(pat, json_type_string)) {
		snprintf(err, errlen, "regex parser: option \"pattern\" (a string) is required");
		json_object_put(opts);
		return -EINVAL;
	}
	*ret_pat = json_object_get_string(pat);
	*ret_len = (size_t)json_object_get_string_len(pat);
	*ret_opts = opts;
	return 0;
}

/* pcre2_match takes the JIT code too, after checks that pcre2_jit_match skips: the direct call is the
 * same match only when there is JIT code for it ((*NO_JIT) compiles none, without an error) and the
 * pattern is not in UTF mode ((*UTF) in it: pcre2_match would refuse invalid UTF-8 lines, the JIT
 * code must not see them). Our calls always pass options 0 and a non-NULL subject. */
static bool use_jit_match(const pcre2_code *code)
{
	size_t jit_size = 0;
	uint32_t opts = 0;

	if (pcre2_pattern_info(code, PCRE2_INFO_JITSIZE, &jit_size) != 0 ||
	    pcre2_pattern_info(code, PCRE2_INFO_ALLOPTIONS, &opts) != 0)
		return false;
	return jit_size > 0 && !(opts & PCRE2_UTF);
}

static int compile(struct regex_state *st, const char *pat, size_t len, char *err, size_t errlen)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int code;

	st->code = pcre2_compile((PCRE2_SPTR)pat, len, 0, &code, &off, NULL);
	if (!st->code) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, errlen, "regex parser: invalid pattern at offset %zu: %s", (size_t)off,
			 (const char *)msg);
		return -EINVAL;
	}
	/* JIT is an optimisation only: some platforms or hardened kernels refuse it, and then the
	 * interpreter gives the same results. */
	if (pcre2_jit_compile(st->code, PCRE2_JIT_COMPLETE) == 0) {
		st->jit_stack = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
		if (!st->jit_stack)
			return -ENOMEM;
	}
	st->jit_direct = use_jit_match(st->code);
	st->md = pcre2_match_data_create_from_pattern(st->code, NULL);
	st->mctx = pcre2_match_context_create(NULL);
	if (!st->md || !st->mctx)
		return -ENOMEM;
	pcre2_set_match_limit(st->mctx, REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(st->mctx, REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(st->mctx, REGEX_HEAP_LIMIT_KIB);
	if (st->jit_stack)
		pcre2_jit_stack_assign(st->mctx, NULL, st->jit_stack);
	return 0;
}

/* Reads the name table once: entries are a 2-byte big-endian group number and the NUL-terminated
 * name, padded to a fixed entry size. */
static int read_names(struct regex_state *st, char *err, size_t errlen)
{
	uint32_t count = 0, size = 0, i;
	PCRE2_SPTR table = NULL;

	pcre2_pattern_info(st->code, PCRE2_INFO_NAMECOUNT, &count);
	if (count == 0) {
		snprintf(err, errlen, "regex parser: the pattern has no named groups, e.g. (?<event>\\S+)");
		return -EINVAL;
	}
	pcre2_pattern_info(st->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(st->code, PCRE2_INFO_NAMETABLE, &table);
	st->groups = calloc(count, sizeof(*st->groups));
	if (!st->groups)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		PCRE2_SPTR e = table + (size_t)i * size;

		st->groups[i].number = ((uint32_t)e[0] << 8) | e[1];
		st->groups[i].name = (const char *)e + 2;
		st->groups[i].name_len = strlen((const char *)e + 2);
	}
	st->ngroups = count;
	return 0;
}

static int regex_create(const char *options_json, void **ret_state, char *err, size_t errlen)
{
	struct json_object *opts = NULL;
	struct regex_state *st;
	const char *pat;
	size_t len;
	int r;

	r = read_options(options_json, &opts, &pat, &len, err, errlen);
	if (r < 0)
		return r;
	st = calloc(1, sizeof(*st));
	if (!st) {
		json_object_put(opts);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = compile(st, pat, len, err, errlen);
	json_object_put(opts);
	if (r == 0)
		r = read_names(st, err, errlen);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		regex_destroy(st);
		return r;
	}
	*ret_state = st;
	return 0;
}

static int regex_parse(void *state, const char *line, size_t len, onside_emit_fn emit, void *sink,
		       char *reason, size_t reasonlen)
{
	struct regex_state *st = state;
	PCRE2_SIZE *ov;
	PCRE2_UCHAR msg[128];
	size_t i;
	int rc;

	if (st->jit_direct)
		rc = pcre2_jit_match(st->code, (PCRE2_SPTR)line, len, 0, 0, st->md, st->mctx);
	else
		rc = pcre2_match(st->code, (PCRE2_SPTR)line, len, 0, 0, st->md, st->mctx);
	if (rc == PCRE2_ERROR_NOMATCH) {
		snprintf(reason, reasonlen, "line does not match the pattern");
		return ONSIDE_PARSE_NOMATCH;
	}
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT) {
		snprintf(reason, reasonlen, "regex match limit exceeded");
		return ONSIDE_PARSE_NOMATCH;
	}
	if (rc < 0) {
		pcre2_get_error_message(rc, msg, sizeof(msg));
		snprintf(reason, reasonlen, "regex error: %s", (const char *)msg);
		return ONSIDE_PARSE_NOMATCH;
	}
	ov = pcre2_get_ovector_pointer(st->md);
	for (i = 0; i < st->ngroups; i++) {
		const struct group *g = &st->groups[i];
		PCRE2_SIZE s = ov[2 * g->number], e = ov[2 * g->number + 1];

		/* A group that took no part in the match is absent, not empty; (?J) duplicate
		 * names emit only the alternative that matched. */
		if (s == PCRE2_UNSET || (int)g->number >= rc)
			continue;
		if (e < s) /* \K inside a lookahead can end a group before its start */
			e = s;
		if (emit(sink, g->name, g->name_len, line + s, e - s, ONSIDE_T_STRING)) {
			snprintf(reason, reasonlen, "too many fields");
			return ONSIDE_PARSE_NOMATCH;
		}
	}
	return ONSIDE_PARSE_OK;
}

const struct onside_parser_ops parser_regex_ops = {
	.abi = ONSIDE_PARSER_ABI,
	.name = "regex",
	.create = regex_create,
	.parse = regex_parse,
	.destroy = regex_destroy,
};
