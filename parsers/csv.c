/* The csv parser: RFC 4180 fields ("quoted, with "" for a quote"), any single-byte delimiter, mapped
 * to named columns in order.
 *
 * Options: {"columns": [..], "delimiter": ",", "header": false} (keys columns, delimiter, header under
 * `parser:`, declared at the end of this file)
 *   columns given, header false: every line is a record.
 *   header true:  the first line of each file is its header: never a record (skipped), and a line
 *                 equal to it is skipped too (a header repeated by a concatenation). Without columns,
 *                 the header of a line's own file names that line's fields, so files whose columns
 *                 were reordered or gained one are each read right; with columns, they name the
 *                 fields and the header is only skipped.
 * The header is a property of the file, not of the order in which lines reach a parser: it comes
 * with every line in struct onside_source (read from the file itself, also when reading resumes in
 * the middle of it), so mapping threads and restarts see the same columns for the same line.
 * A record with more fields than columns is an error, and so is one with fewer: a truncated line
 * says which field is missing ("missing field currency (5 fields, 6 columns)") instead of becoming an
 * event without it. A line is one record: a quoted field spanning lines cannot be joined and is
 * reported unterminated.
 *
 * Ownership: unquoted fields point into the line; quoted ones are copied (without their quotes, ""
 * undoubled) into the state's buffer, sized for the whole line before anything is emitted so it never
 * moves under a pointer already handed out. Column names live in the state (the configured ones, and
 * the last file header seen, kept until a line of another file comes).
 */
#include "parser.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define CSV_MAX_COLUMNS RECORD_MAX_FIELDS
#define CSV_ERR_MAX 160

struct span {
	const char *p;
	size_t n;
};

/* Column names: the configured ones, or those of one file header. */
struct names {
	struct buf raw;  /* a header: the line as given, to know it again */
	struct buf text; /* the names, back to back */
	size_t off[CSV_MAX_COLUMNS];
	size_t len[CSV_MAX_COLUMNS];
	size_t n;
	bool known;             /* raw holds a header that was read (valid or not) */
	char err[CSV_ERR_MAX]; /* why this header cannot name columns; "" when it can */
};

struct csv_state {
	char delim;
	bool header;
	struct names cols; /* from the `columns` option; n == 0 when there are none */
	struct names file; /* the header of the file of the last line */
	struct buf dec;
	struct span f[CSV_MAX_COLUMNS]; /* the current line's first fields */
};

static void names_init(struct names *nm)
{
	buf_init(&nm->raw, 0);
	buf_init(&nm->text, 0);
	nm->n = 0;
	nm->known = false;
	nm->err[0] = '\0';
}

static void names_free(struct names *nm)
{
	buf_free(&nm->raw);
	buf_free(&nm->text);
}

static void csv_destroy(void *state)
{
	struct csv_state *st = state;

	if (!st)
		return;
	names_free(&st->cols);
	names_free(&st->file);
	buf_free(&st->dec);
	free(st);
}

static bool name_eq(const struct names *nm, size_t i, const char *p, size_t n)
{
	return nm->len[i] == n && memcmp(nm->text.data + nm->off[i], p, n) == 0;
}

/* Replaces nm's names with n spans; the first duplicate non-empty name is returned in *ret_dup
 * (nm is then unusable). Returns 0 or -ENOMEM. */
static int names_set(struct names *nm, const struct span *s, size_t n, const struct span **ret_dup)
{
	size_t total = 0, i, j;

	*ret_dup = NULL;
	nm->n = 0;
	buf_reset(&nm->text);
	for (i = 0; i < n; i++)
		total += s[i].n;
	if (buf_reserve(&nm->text, total + 1) < 0)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		for (j = 0; s[i].n && j < i && !*ret_dup; j++)
			if (name_eq(nm, j, s[i].p, s[i].n))
				*ret_dup = &s[i];
		nm->off[i] = nm->text.len;
		nm->len[i] = s[i].n;
		if (s[i].n)
			memcpy(nm->text.data + nm->text.len, s[i].p, s[i].n);
		nm->text.len += s[i].n;
	}
	nm->text.data[nm->text.len] = '\0';
	nm->n = n;
	return 0;
}

static int opt_columns(struct csv_state *st, struct json_object *v, char *err, size_t errlen)
{
	struct span names[CSV_MAX_COLUMNS];
	const struct span *dup;
	size_t n, i;

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
	}
	if (names_set(&st->cols, names, n, &dup) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (dup) {
		snprintf(err, errlen, "csv parser: duplicate column \"%.*s\"", (int)dup->n, dup->p);
		return -EINVAL;
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
	if (st->cols.n == 0 && !st->header) {
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
	names_init(&st->cols);
	names_init(&st->file);
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

/* Splits the line into st->f (the first CSV_MAX_COLUMNS fields) and counts all of them. Quoted
 * fields go to st->dec, which is reset and sized for the line first. */
static int split(struct csv_state *st, const char *line, size_t len, size_t *ret_n, char *reason,
		 size_t reasonlen)
{
	size_t i = 0, n = 0;
	struct span s;

	buf_reset(&st->dec);
	if (buf_reserve(&st->dec, len) < 0) {
		snprintf(reason, reasonlen, "line too long for the csv parser");
		return -ENOMEM;
	}
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

/* Reads a file's header into st->file: its names, or in file.err why it cannot name columns. */
static int learn_header(struct csv_state *st, const char *line, size_t len)
{
	struct names *nm = &st->file;
	const struct span *dup;
	char why[CSV_ERR_MAX - 40];
	size_t n = 0;
	int r;

	nm->known = false;
	nm->err[0] = '\0';
	buf_reset(&nm->raw);
	if (buf_append(&nm->raw, line, len) < 0)
		return -ENOMEM;
	if (len == 0) {
		snprintf(nm->err, sizeof(nm->err), "the file's header (its first line) is empty");
	} else if ((r = split(st, line, len, &n, why, sizeof(why))) < 0) {
		if (r == -ENOMEM)
			return r;
		snprintf(nm->err, sizeof(nm->err), "the file's header: %s", why);
	} else if (n > CSV_MAX_COLUMNS) {
		snprintf(nm->err, sizeof(nm->err), "the file's header has %zu columns, at most %d", n,
			 CSV_MAX_COLUMNS);
	} else if (names_set(nm, st->f, n, &dup) < 0) {
		/* a header naming two columns alike is taken as it is: the record keeps the last value of
		 * a name, as for every parser (parser.h) */
		return -ENOMEM;
	}
	nm->known = true;
	return 0;
}

/* The names of the line's columns: the configured ones, else its file's header (read again only
 * when the line comes from a file with another header than the last line). NULL with a reason. */
static const struct names *column_names(struct csv_state *st, const struct onside_source *src,
					char *reason, size_t reasonlen)
{
	struct names *nm = &st->file;

	if (st->cols.n)
		return &st->cols;
	if (!src->first_line) {
		snprintf(reason, reasonlen, "the file's header (its first line) is not known");
		return NULL;
	}
	if (!nm->known || nm->raw.len != src->first_line_len ||
	    (nm->raw.len && memcmp(nm->raw.data, src->first_line, nm->raw.len) != 0)) {
		if (learn_header(st, src->first_line, src->first_line_len) < 0) {
			snprintf(reason, reasonlen, "out of memory");
			return NULL;
		}
	}
	if (nm->err[0]) {
		snprintf(reason, reasonlen, "%s", nm->err);
		return NULL;
	}
	return nm;
}

static bool is_header_line(const struct csv_state *st, const struct onside_source *src, const char *line,
			   size_t len)
{
	if (!st->header)
		return false;
	if (src->offset == 0)
		return true;
	return src->first_line && len == src->first_line_len && memcmp(line, src->first_line, len) == 0;
}

/* A record with fewer fields than columns: the first missing column with a name. */
static void missing_field(const struct names *nm, size_t n, char *reason, size_t reasonlen)
{
	size_t i = n;

	while (i < nm->n && nm->len[i] == 0)
		i++;
	if (i == nm->n)
		i = n;
	snprintf(reason, reasonlen, "missing field %.*s (%zu field%s, %zu columns)",
		 nm->len[i] > 64 ? 64 : (int)nm->len[i], nm->text.data + nm->off[i], n, n == 1 ? "" : "s",
		 nm->n);
}

static int csv_parse(void *state, const struct onside_source *src, const char *line, size_t len,
		     onside_emit_fn emit, void *sink, char *reason, size_t reasonlen)
{
	struct csv_state *st = state;
	const struct names *nm;
	size_t n, i;

	if (is_header_line(st, src, line, len)) {
		snprintf(reason, reasonlen, "csv header line");
		return ONSIDE_PARSE_SKIP;
	}
	if (len == 0) {
		snprintf(reason, reasonlen, "empty line");
		return ONSIDE_PARSE_NOMATCH;
	}
	/* before the line is split: reading a new header reuses the split buffers */
	nm = column_names(st, src, reason, reasonlen);
	if (!nm || split(st, line, len, &n, reason, reasonlen) < 0)
		return ONSIDE_PARSE_NOMATCH;
	if (n > nm->n) {
		snprintf(reason, reasonlen, "%zu fields, %zu columns", n, nm->n);
		return ONSIDE_PARSE_NOMATCH;
	}
	if (n < nm->n) {
		missing_field(nm, n, reason, reasonlen);
		return ONSIDE_PARSE_NOMATCH;
	}
	for (i = 0; i < n; i++) {
		/* a header column without a name has no field to go to */
		if (nm->len[i] == 0)
			continue;
		if (emit(sink, nm->text.data + nm->off[i], nm->len[i], st->f[i].p, st->f[i].n,
			 ONSIDE_T_STRING)) {
			snprintf(reason, reasonlen, "too many fields");
			return ONSIDE_PARSE_NOMATCH;
		}
	}
	return ONSIDE_PARSE_OK;
}

/* ---- configuration ---- */

enum { OPT_COLUMNS, OPT_DELIMITER, OPT_HEADER };

static int check_column(const char *value, char *err, size_t errlen)
{
	if (value[0])
		return 0;
	snprintf(err, errlen, "must not be empty");
	return -EINVAL;
}

static const struct parser_opt csv_opts[] = {
	[OPT_COLUMNS] = { .key = "columns", .type = PARSER_OPT_STRLIST, .check = check_column,
			  .help = "field names of the columns, in order" },
	[OPT_DELIMITER] = { .key = "delimiter", .type = PARSER_OPT_STRING, .def = ",", .check = parser_check_byte,
			    .help = "one byte" },
	[OPT_HEADER] = { .key = "header", .type = PARSER_OPT_BOOL, .def = "false",
			 .help = "the file starts with a header line" },
	{ .key = NULL },
};

/* Columns come from the configuration or from each file's header: one of them is needed, and a
 * header is read from every file's first line. */
static int csv_configure(const union parser_optval *v, const struct parser_report *rep, struct parser_needs *ret)
{
	if (!v[OPT_COLUMNS].list.n && !v[OPT_HEADER].b) {
		parser_report(rep, NULL, "missing required key \"columns\" (or set header: true)");
		return -EINVAL;
	}
	ret->first_line = v[OPT_HEADER].b;
	return 0;
}

static const struct onside_parser_ops csv_ops = {
	.abi = ONSIDE_PARSER_ABI,
	.name = "csv",
	.create = csv_create,
	.parse = NULL,
	.destroy = csv_destroy,
	.parse_source = csv_parse,
};

const struct parser_builtin parser_csv = { .ops = &csv_ops, .opts = csv_opts, .configure = csv_configure };
