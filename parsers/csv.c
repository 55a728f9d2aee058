/* The csv parser: RFC 4180 fields ("quoted, with "" for a quote"), any single-byte delimiter, mapped
 * to named columns in order.
 *
 * Options: {"columns": [..], "delimiter": ",", "header": false}
 *   columns given, header false: every line is a record.
 *   columns given, header true:  a line equal to the column names is a header and skipped.
 *   no columns, header true:     the first line parsed names the columns (skipped), and later lines
 *                                equal to it (the header of the next rotated file) are skipped too.
 * A record with fewer fields than columns leaves the missing ones absent; more is an error.
 * A line is one record: a quoted field spanning lines cannot be joined and is reported unterminated.
 *
 * Ownership: unquoted fields point into the line; quoted ones are copied (without their quotes, ""
 * undoubled) into the state's buffer, sized for the whole line before anything is emitted so it never
 * moves under a pointer already handed out. */
#include "parser.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define CSV_MAX_COLUMNS RECORD_MAX_FIELDS

struct span {
	const char *p;
	size_t n;
};

struct csv_state {
	char delim;
	bool header;
	char **cols; /* NULL until known when they come from the header line */
	size_t *col_len;
	size_t ncols;
	struct buf dec;
	struct span f[CSV_MAX_COLUMNS]; /* the current line's first fields */
};

static void free_columns(struct csv_state *st)
{
	size_t i;

	for (i = 0; i < st->ncols; i++)
		free(st->cols[i]);
	free(st->cols);
	free(st->col_len);
	st->cols = NULL;
	st->col_len = NULL;
	st->ncols = 0;
}

static void csv_destroy(void *state)
{
	struct csv_state *st = state;

	if (!st)
		return;
	free_columns(st);
	buf_free(&st->dec);
	free(st);
}

/* Copies n names into the state; all or nothing. */
static int set_columns(struct csv_state *st, const struct span *names, size_t n)
{
	size_t i;

	st->cols = calloc(n, sizeof(*st->cols));
	st->col_len = calloc(n, sizeof(*st->col_len));
	if (!st->cols || !st->col_len)
		goto fail;
	for (i = 0; i < n; i++) {
		st->cols[i] = malloc(names[i].n + 1);
		if (!st->cols[i])
			goto fail;
		memcpy(st->cols[i], names[i].p, names[i].n);
		st->cols[i][names[i].n] = '\0';
		st->col_len[i] = names[i].n;
		st->ncols = i + 1;
	}
	return 0;
fail:
	free_columns(st);
	return -ENOMEM;
}

static int opt_columns(struct csv_state *st, struct json_object *v, char *err, size_t errlen)
{
	struct span names[CSV_MAX_COLUMNS];
	size_t n, i, j;

	if (!json_object_is_type(v, json_type_array)) {
		snprintf(err, errlen, "csv parser: \"columns\" must be a list of names");
		return -EINVAL;
	}
	n = json_object_array_length(v);
	if (n > CSV_MAX_COLUMNS) {
		snprintf(err, errlen, "csv parser: %zu columns, at most %d", n, CSV_MAX_COLUMNS);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		struct json_object *c = json_object_array_get_idx(v, i);

		if (!json_object_is_type(c, json_type_string) || json_object_get_string_len(c) == 0) {
			snprintf(err, errlen, "csv parser: column %zu must be a non-empty name", i + 1);
			return -EINVAL;
		}
		names[i].p = json_object_get_string(c);
		names[i].n = (size_t)json_object_get_string_len(c);
		for (j = 0; j < i; j++)
			if (names[j].n == names[i].n && !memcmp(names[j].p, names[i].p, names[i].n)) {
				snprintf(err, errlen, "csv parser: duplicate column \"%s\"", names[i].p);
				return -EINVAL;
			}
	}
	if (set_columns(st, names, n) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int opt_delimiter(struct csv_state *st, struct json_object *v, char *err, size_t errlen)
{
	const char *d;

	if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) != 1) {
		snprintf(err, errlen, "csv parser: \"delimiter\" must be a single byte");
		return -EINVAL;
	}
	d = json_object_get_string(v);
	if (d[0] == '"' || d[0] == '\n' || d[0] == '\r') {
		snprintf(err, errlen, "csv parser: \"delimiter\" cannot be a quote or a line break");
		return -EINVAL;
	}
	st->delim = d[0];
	return 0;
}

static int read_options(struct csv_state *st, struct json_object *opts, char *err, size_t errlen)
{
	int r = 0;

	json_object_object_foreach(opts, key, val) {
		if (strcmp(key, "columns") == 0) {
			r = opt_columns(st, val, err, errlen);
		} else if (strcmp(key, "delimiter") == 0) {
			r = opt_delimiter(st, val, err, errlen);
		} else if (strcmp(key, "header") == 0) {
			if (!json_object_is_type(val, json_type_boolean)) {
				snprintf(err, errlen, "csv parser: \"header\" must be true or false");
				return -EINVAL;
			}
			st->header = json_object_get_boolean(val);
		} else {
			snprintf(err, errlen, "csv parser: unknown option \"%s\"", key);
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (st->ncols == 0 && !st->header) {
		snprintf(err, errlen, "csv parser: needs \"columns\", or \"header\": true to take them "
			 "from the first line");
		return -EINVAL;
	}
	return 0;
}

static int csv_create(const char *options_json, void **ret_state, char *err, size_t errlen)
{
	struct json_object *opts = json_tokener_parse(options_json);
	struct csv_state *st;
	int r;

	if (!opts || !json_object_is_type(opts, json_type_object)) {
		snprintf(err, errlen, "csv parser: options are not a JSON object");
		json_object_put(opts);
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		json_object_put(opts);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	st->delim = ',';
	buf_init(&st->dec, 0);
	r = read_options(st, opts, err, errlen);
	json_object_put(opts);
	if (r < 0) {
		csv_destroy(st);
		return r;
	}
	*ret_state = st;
	return 0;
}

/* Reads a quoted field at *pos (its opening quote) into dec. */
static int quoted_field(struct csv_state *st, const char *line, size_t len, size_t *pos,
			struct span *ret, char *reason, size_t reasonlen)
{
	size_t open = *pos, i = open + 1;
	char *o = st->dec.data + st->dec.len;
	size_t n = 0;

	for (;;) {
		if (i == len) {
			snprintf(reason, reasonlen, "unterminated quoted field at byte %zu", open);
			return -EINVAL;
		}
		if (line[i] != '"') {
			o[n++] = line[i++];
		} else if (i + 1 < len && line[i + 1] == '"') {
			o[n++] = '"';
			i += 2;
		} else {
			break;
		}
	}
	i++; /* the closing quote */
	if (i < len && line[i] != st->delim) {
		snprintf(reason, reasonlen, "unexpected character after quoted field at byte %zu", i);
		return -EINVAL;
	}
	ret->p = o;
	ret->n = n;
	st->dec.len += n;
	*pos = i;
	return 0;
}

/* Splits the line into st->f (the first CSV_MAX_COLUMNS fields) and counts all of them. */
static int split(struct csv_state *st, const char *line, size_t len, size_t *ret_n, char *reason,
		 size_t reasonlen)
{
	size_t i = 0, n = 0;
	struct span s;

	for (;;) {
		if (i < len && line[i] == '"') {
			if (quoted_field(st, line, len, &i, &s, reason, reasonlen) < 0)
				return -EINVAL;
		} else {
			/* A quote inside an unquoted field is kept as text, as most writers and
			 * readers do, rather than failing the line. */
			const char *d = memchr(line + i, st->delim, len - i);

			s.p = line + i;
			s.n = d ? (size_t)(d - (line + i)) : len - i;
			i += s.n;
		}
		if (n < CSV_MAX_COLUMNS)
			st->f[n] = s;
		n++;
		if (i == len)
			break;
		i++; /* the delimiter; one at the very end opens a last, empty field */
	}
	*ret_n = n;
	return 0;
}

static bool is_header(const struct csv_state *st, size_t n)
{
	size_t i;

	if (n != st->ncols)
		return false;
	for (i = 0; i < n; i++)
		if (st->f[i].n != st->col_len[i] || memcmp(st->f[i].p, st->cols[i], st->f[i].n) != 0)
			return false;
	return true;
}

static int csv_parse(void *state, const char *line, size_t len, onside_emit_fn emit, void *sink,
		     char *reason, size_t reasonlen)
{
	struct csv_state *st = state;
	size_t n, i;

	if (len == 0) {
		snprintf(reason, reasonlen, "empty line");
		return ONSIDE_PARSE_NOMATCH;
	}
	buf_reset(&st->dec);
	if (buf_reserve(&st->dec, len) < 0) {
		snprintf(reason, reasonlen, "line too long for the csv parser");
		return ONSIDE_PARSE_NOMATCH;
	}
	if (split(st, line, len, &n, reason, reasonlen) < 0)
		return ONSIDE_PARSE_NOMATCH;
	if (st->ncols == 0) {
		if (n > CSV_MAX_COLUMNS) {
			snprintf(reason, reasonlen, "header has %zu columns, at most %d", n,
				 CSV_MAX_COLUMNS);
			return ONSIDE_PARSE_NOMATCH;
		}
		if (set_columns(st, st->f, n) < 0) {
			snprintf(reason, reasonlen, "out of memory");
			return ONSIDE_PARSE_NOMATCH;
		}
		return ONSIDE_PARSE_SKIP;
	}
	if (st->header && is_header(st, n))
		return ONSIDE_PARSE_SKIP;
	if (n > st->ncols) {
		snprintf(reason, reasonlen, "%zu fields, %zu columns", n, st->ncols);
		return ONSIDE_PARSE_NOMATCH;
	}
	for (i = 0; i < n; i++)
		if (emit(sink, st->cols[i], st->col_len[i], st->f[i].p, st->f[i].n, ONSIDE_T_STRING)) {
			snprintf(reason, reasonlen, "too many fields");
			return ONSIDE_PARSE_NOMATCH;
		}
	return ONSIDE_PARSE_OK;
}

const struct onside_parser_ops parser_csv_ops = {
	.abi = ONSIDE_PARSER_ABI,
	.name = "csv",
	.create = csv_create,
	.parse = csv_parse,
	.destroy = csv_destroy,
};
