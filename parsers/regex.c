/* The regex parser: a PCRE2 pattern whose named groups become fields. Lines are bytes, not UTF-8
 * (a log may hold anything), so the pattern is compiled without UTF mode. Values point into the line.
 *
 * A pattern like (a+)+$ can take exponential time on a line that almost matches; the match, depth and
 * heap limits turn that into a prompt NOMATCH instead of a stalled agent.
 *
 * Explanations (regex_explain, only for lines about to be dead-lettered): the pattern is
 * compiled a second time with an automatic callout before every item, and the line matched again.
 * The attempt that got furthest into the line (and among those, the one with the most named groups
 * set) tells which named group it could not reach: for a truncated purchase line, "missing field
 * currency (the line ends at byte 48)" rather than "does not match", or, when an optional part of
 * the pattern failed as a whole, the field that made it fail rather than the first one it holds. */
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
/* The explanation of a dead-lettered line is best effort: it runs interpreted, with a callout at every
 * step, so a pattern that backtracks hard would make each bad line cost a million callouts. Past this
 * limit the parser's own reason stands. */
#define REGEX_DIAG_MATCH_LIMIT 100000u
#define REGEX_DEPTH_LIMIT 10000u
#define REGEX_HEAP_LIMIT_KIB 20480u
#define JIT_STACK_MIN (32u << 10)
#define JIT_STACK_MAX (1u << 20)

struct group {
	uint32_t number;
	const char *name; /* in the compiled pattern's name table */
	size_t name_len;
};

/* The furthest point the explaining match reached. */
struct progress {
	const struct regex_state *st;
	bool any;
	size_t pos;   /* subject offset */
	size_t nset;  /* named groups set there */
	bool *set;    /* per st->order entry: set there */
	bool *cur;    /* scratch of the same size */
};

struct regex_state {
	pcre2_code *code;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit_stack; /* NULL when JIT is unavailable */
	bool jit_direct;            /* matched with pcre2_jit_match: see use_jit_match() */
	struct group *groups;       /* in name order (the name table's) */
	size_t ngroups;
	const struct group **order; /* the same, in group-number order (the pattern's) */
	char *pattern;              /* kept for the explaining code, compiled when first needed */
	size_t pattern_len;
	pcre2_code *diag;
	pcre2_match_data *diag_md;
	pcre2_match_context *diag_mctx;
	bool *diag_flags;           /* 2 * ngroups: progress.set and progress.cur */
	bool diag_failed;           /* could not be compiled: no explanations */
};

static void regex_destroy(void *state)
{
	struct regex_state *st = state;

	if (!st)
		return;
	free(st->diag_flags);
	pcre2_match_context_free(st->diag_mctx);
	pcre2_match_data_free(st->diag_md);
	pcre2_code_free(st->diag);
	free(st->pattern);
	free(st->order);
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

static int by_number(const void *a, const void *b)
{
	const struct group *x = *(const struct group *const *)a, *y = *(const struct group *const *)b;

	return x->number < y->number ? -1 : x->number > y->number;
}

static int order_groups(struct regex_state *st, const char *pat, size_t len)
{
	st->order = calloc(st->ngroups, sizeof(*st->order));
	st->pattern = malloc(len + 1);
	if (!st->order || !st->pattern)
		return -ENOMEM;
	for (size_t i = 0; i < st->ngroups; i++)
		st->order[i] = &st->groups[i];
	qsort(st->order, st->ngroups, sizeof(*st->order), by_number);
	memcpy(st->pattern, pat, len);
	st->pattern[len] = '\0';
	st->pattern_len = len;
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
	if (r == 0)
		r = read_names(st, err, errlen);
	if (r == 0)
		r = order_groups(st, pat, len);
	json_object_put(opts);
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

/* ---- explanations (cold path) ---- */

static int diag_compile(struct regex_state *st)
{
	PCRE2_SIZE off;
	int code;

	if (st->diag)
		return 0;
	if (st->diag_failed)
		return -ENOTSUP;
	/* NO_START_OPTIMIZE: a line shorter than the pattern's minimum length must still be tried
	 * (a truncated line is exactly that), and every start position must call out */
	st->diag = pcre2_compile((PCRE2_SPTR)st->pattern, st->pattern_len,
				 PCRE2_AUTO_CALLOUT | PCRE2_NO_START_OPTIMIZE, &code, &off, NULL);
	st->diag_md = st->diag ? pcre2_match_data_create_from_pattern(st->diag, NULL) : NULL;
	st->diag_mctx = pcre2_match_context_create(NULL);
	st->diag_flags = calloc(2 * st->ngroups, sizeof(*st->diag_flags));
	if (!st->diag || !st->diag_md || !st->diag_mctx || !st->diag_flags) {
		st->diag_failed = true;
		return -ENOTSUP;
	}
	pcre2_set_match_limit(st->diag_mctx, REGEX_DIAG_MATCH_LIMIT);
	pcre2_set_depth_limit(st->diag_mctx, REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(st->diag_mctx, REGEX_HEAP_LIMIT_KIB);
	return 0;
}

/* Keeps the furthest point of any attempt; at equal distance, the one with more named groups set
 * (the optional part that failed at its last field, over the fallback that skipped it). */
static int diag_callout(pcre2_callout_block *cb, void *data)
{
	struct progress *pg = data;
	const struct regex_state *st = pg->st;
	size_t pos = cb->current_position, nset = 0, i;

	if (pg->any && pos < pg->pos)
		return 0;
	for (i = 0; i < st->ngroups; i++) {
		uint32_t g = st->order[i]->number;

		pg->cur[i] = g < cb->capture_top && cb->offset_vector[2 * g] != PCRE2_UNSET;
		nset += pg->cur[i];
	}
	if (pg->any && pos == pg->pos && nset <= pg->nset)
		return 0;
	memcpy(pg->set, pg->cur, st->ngroups * sizeof(*pg->set));
	pg->any = true;
	pg->pos = pos;
	pg->nset = nset;
	return 0;
}

static const struct group *find_group(const struct regex_state *st, const char *name, size_t len,
				      size_t *ret_i)
{
	for (size_t i = 0; i < st->ngroups; i++)
		if (st->order[i]->name_len == len && memcmp(st->order[i]->name, name, len) == 0) {
			*ret_i = i;
			return st->order[i];
		}
	return NULL;
}

static int regex_explain(void *state, const char *line, size_t len, const char *field, size_t field_len,
			 char *out, size_t outlen)
{
	struct regex_state *st = state;
	struct progress pg = { .st = st };
	const struct group *miss = NULL, *last = NULL;
	const char *where;
	size_t i, fi = 0;
	int rc;

	if (diag_compile(st) < 0)
		return -ENOTSUP;
	pg.set = st->diag_flags;
	pg.cur = st->diag_flags + st->ngroups;
	pcre2_set_callout(st->diag_mctx, diag_callout, &pg);
	rc = pcre2_match(st->diag, (PCRE2_SPTR)line, len, 0, 0, st->diag_md, st->diag_mctx);
	/* a match limit or an error is better said by the parser's own reason; a line that matches
	 * has no failed attempt to explain unless a field it needs is missing */
	if (!pg.any || (rc < 0 && rc != PCRE2_ERROR_NOMATCH) || (rc >= 0 && !field))
		return -ENOTSUP;
	for (i = 0; i < st->ngroups; i++) {
		if (pg.set[i])
			last = st->order[i];
		else if (!miss)
			miss = st->order[i];
	}
	where = pg.pos == len ? "the line ends at byte" : "the line stops matching the pattern at byte";
	if (!field) {
		if (miss)
			snprintf(out, outlen, "missing field %.*s (%s %zu)", (int)miss->name_len, miss->name,
				 where, pg.pos);
		else
			snprintf(out, outlen, "line does not match the pattern at byte %zu%s%.*s", pg.pos,
				 last ? ", after field " : "", last ? (int)last->name_len : 0,
				 last ? last->name : "");
		return 0;
	}
	/* a field the pattern does not have: "missing field NAME" says it all */
	if (!find_group(st, field, field_len, &fi) || !miss)
		return -ENOTSUP;
	if (miss == st->order[fi])
		snprintf(out, outlen, "missing field %.*s (%s %zu)", (int)field_len, field, where, pg.pos);
	else if (pg.set[fi])
		snprintf(out, outlen, "missing field %.*s (%s %zu), so %.*s is unset", (int)miss->name_len,
			 miss->name, where, pg.pos, (int)field_len, field);
	else
		return -ENOTSUP;
	return 0;
}

/* The `pattern` key: it compiles, and it names at least one group (a pattern without one gives
 * lines without fields). */
int parser_check_regex(const char *pattern, bool need_names, char *err, size_t errlen)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off = 0;
	pcre2_code *re;
	uint32_t names = 0;
	int code = 0;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
	if (!re) {
		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		snprintf(err, errlen, "invalid regex at offset %zu: %s", (size_t)off, (char *)msg);
		return -EINVAL;
	}
	if (need_names && (pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &names) || !names)) {
		snprintf(err, errlen, "the pattern has no named group; name each field with (?<name>...)");
		pcre2_code_free(re);
		return -EINVAL;
	}
	pcre2_code_free(re);
	return 0;
}

static int check_pattern(const char *value, char *err, size_t errlen)
{
	return parser_check_regex(value, true, err, errlen);
}

static const struct parser_opt regex_opts[] = {
	{ .key = "pattern", .type = PARSER_OPT_STRING, .required = true, .check = check_pattern,
	  .help = "PCRE2 pattern; each named group (?<name>...) becomes a field" },
	{ .key = NULL },
};

static const struct onside_parser_ops regex_ops = {
	.abi = ONSIDE_PARSER_ABI,
	.name = "regex",
	.create = regex_create,
	.parse = regex_parse,
	.destroy = regex_destroy,
};

const struct parser_builtin parser_regex = { .ops = &regex_ops, .opts = regex_opts, .explain = regex_explain };
