/* The line-to-event path (map.h): line filters, the parser, `match`, the event's templates, its time
 * and id, and the JSON object appended to the request body. Rejections name the field that failed. */
#include "map.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "jsonw.h"
#include "parser.h"
#include "template.h"
#include "timefmt.h"

/* A catastrophic `match` pattern must not stall the pipeline: these bound one match attempt. */
#define MATCH_LIMIT 1000000
#define MATCH_DEPTH_LIMIT 10000
#define REASON_VALUE_MAX 64

struct matcher {
	char *field; /* NULL for a line filter (include_lines, exclude_lines) */
	size_t field_len;
	pcre2_code *re;
	pcre2_match_data *md; /* created once per pattern, reused by every line */
};

struct payload_item {
	char *name;
	size_t name_len;
	char *key; /* "name": as JSON text, written once at start; NULL when name is not valid UTF-8 */
	size_t key_len;
	struct template *tmpl; /* PAYLOAD_MAP only */
};

/* A rendered template: see template_view (no copy for a template that is exactly one ${field}). */
struct text {
	const char *p;
	size_t len;
};

struct mapper {
	char *ns;
	size_t nslen;
	struct parser *parser;
	struct record *rec; /* large: allocated once, reused by every line */
	struct matcher *match;
	size_t nmatch;
	struct matcher *include, *exclude; /* line filters */
	size_t ninclude, nexclude;
	bool skip_mismatch; /* parser.on_mismatch: skip */
	int skip_kind;      /* enum map_skip of the last MAP_SKIP */
	pcre2_match_context *mctx;
	struct template *t_name, *t_time, *t_iid, *t_eid; /* t_eid NULL when event_id is not set */
	struct timefmt *tf;
	char **id_fields;
	size_t nid_fields;
	struct eventid_value *id_values;
	enum config_payload_mode payload_mode;
	struct payload_item *payload;
	size_t npayload;
	/* PAYLOAD_ALL: per record field, whether it is written (payload_pick). */
	bool keep[RECORD_MAX_FIELDS];
	struct buf name, time_in, iid, eid, tmp; /* scratch, reused line after line */
};

/* The text of one rendered event before it is written out. */
struct event {
	struct text name, iid;
	char time[TIMEFMT_MAX];
	size_t time_len;
	char id[EVENTID_LEN + 1];
};

/* what: "match.FIELD" or "include_lines[I]", for messages; field: NULL for a line filter. */
static int compile_match(const char *what, const char *field, const char *pattern, struct matcher *mt,
			 char *err, size_t errlen)
{
	uint32_t opts = 0;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE erroff;
	int ec;

#ifdef PCRE2_MATCH_INVALID_UTF
	/* UTF semantics for patterns, yet safe on any bytes a log line may hold. */
	opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
#endif
	if (field) {
		mt->field = strdup(field);
		if (!mt->field)
			return -ENOMEM;
		mt->field_len = strlen(mt->field);
	}
	mt->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &ec, &erroff, NULL);
	if (!mt->re) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		snprintf(err, errlen, "%s: %s at offset %zu", what, (char *)msg, (size_t)erroff);
		return -EINVAL;
	}
	/* JIT is an optimization only: without it (not built in, or no executable memory) the
	 * interpreter gives the same results. */
	(void)pcre2_jit_compile(mt->re, PCRE2_JIT_COMPLETE);
	mt->md = pcre2_match_data_create_from_pattern(mt->re, NULL);
	return mt->md ? 0 : -ENOMEM;
}

static int compile_tmpl(const char *what, const char *src, struct template **ret, char *err,
			size_t errlen)
{
	char msg[200] = "";
	size_t col = 0;
	int r;

	if (!src) {
		snprintf(err, errlen, "event.%s is not set", what);
		return -EINVAL;
	}
	r = template_compile(src, ret, msg, sizeof(msg), &col);
	if (r == -EINVAL)
		snprintf(err, errlen, "event.%s: %s at column %zu", what, msg, col + 1);
	return r;
}

static int create_templates(struct mapper *m, const struct config_input *in, char *err, size_t errlen)
{
	int r;

	if ((r = compile_tmpl("event_name", in->event_name, &m->t_name, err, errlen)) < 0 ||
	    (r = compile_tmpl("event_datetime", in->event_datetime, &m->t_time, err, errlen)) < 0 ||
	    (r = compile_tmpl("installation_id", in->installation_id, &m->t_iid, err, errlen)) < 0)
		return r;
	if (in->event_id && *in->event_id &&
	    (r = compile_tmpl("event_id", in->event_id, &m->t_eid, err, errlen)) < 0)
		return r;
	return 0;
}

/* The member key of a payload item is the same on every line: written as JSON once. A name that is
 * not valid UTF-8 gets none, and every line that has the member is rejected as before. */
static int make_key(struct payload_item *it)
{
	struct buf b;
	int r;

	buf_init(&b, 0);
	r = jsonw_string_utf8(&b, it->name, it->name_len);
	if (r == -EILSEQ) {
		buf_free(&b);
		return 0;
	}
	if (r == 0)
		r = buf_putc(&b, ':');
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	it->key = b.data;
	it->key_len = b.len;
	return 0;
}

static int create_payload(struct mapper *m, const struct config_input *in, char *err, size_t errlen)
{
	size_t i;
	int r;

	m->payload_mode = in->payload_mode;
	if (in->payload_mode == PAYLOAD_ALL || !in->npayload)
		return 0;
	m->payload = calloc(in->npayload, sizeof(*m->payload));
	if (!m->payload)
		return -ENOMEM;
	m->npayload = in->npayload;
	for (i = 0; i < in->npayload; i++) {
		struct payload_item *it = &m->payload[i];

		it->name = strdup(in->payload[i].name);
		if (!it->name)
			return -ENOMEM;
		it->name_len = strlen(it->name);
		if ((r = make_key(it)) < 0)
			return r;
		if (in->payload_mode == PAYLOAD_MAP) {
			char what[160];
			snprintf(what, sizeof(what), "payload.%s", it->name);
			r = compile_tmpl(what, in->payload[i].tmpl, &it->tmpl, err, errlen);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int create_ids(struct mapper *m, const struct config_input *in, const char *ns)
{
	size_t i;

	m->ns = strdup(ns ? ns : "");
	if (!m->ns)
		return -ENOMEM;
	m->nslen = strlen(m->ns);
	if (!in->nid_fields)
		return 0;
	m->id_fields = calloc(in->nid_fields, sizeof(*m->id_fields));
	m->id_values = calloc(in->nid_fields, sizeof(*m->id_values));
	if (!m->id_fields || !m->id_values)
		return -ENOMEM;
	m->nid_fields = in->nid_fields;
	for (i = 0; i < in->nid_fields; i++)
		if (!(m->id_fields[i] = strdup(in->id_fields[i])))
			return -ENOMEM;
	return 0;
}

/* Line filters: key "include_lines" or "exclude_lines". */
static int create_filters(const char *key, char *const *patterns, size_t n, struct matcher **ret,
			  size_t *ret_n, char *err, size_t errlen)
{
	char what[64];
	int r;

	if (!n)
		return 0;
	*ret = calloc(n, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	*ret_n = n;
	for (size_t i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "%s[%zu]", key, i);
		if ((r = compile_match(what, NULL, patterns[i], &(*ret)[i], err, errlen)) < 0)
			return r;
	}
	return 0;
}

static int create_match(struct mapper *m, const struct config_input *in, char *err, size_t errlen)
{
	char what[200];
	size_t i;
	int r;

	m->skip_mismatch = in->parser.on_mismatch == ON_MISMATCH_SKIP;
	if (!in->nmatch && !in->ninclude_lines && !in->nexclude_lines)
		return 0;
	m->mctx = pcre2_match_context_create(NULL);
	if (!m->mctx)
		return -ENOMEM;
	pcre2_set_match_limit(m->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(m->mctx, MATCH_DEPTH_LIMIT);
	if ((r = create_filters("include_lines", in->include_lines, in->ninclude_lines, &m->include,
				&m->ninclude, err, errlen)) < 0 ||
	    (r = create_filters("exclude_lines", in->exclude_lines, in->nexclude_lines, &m->exclude,
				&m->nexclude, err, errlen)) < 0)
		return r;
	if (!in->nmatch)
		return 0;
	m->match = calloc(in->nmatch, sizeof(*m->match));
	if (!m->match)
		return -ENOMEM;
	m->nmatch = in->nmatch;
	for (i = 0; i < in->nmatch; i++) {
		snprintf(what, sizeof(what), "match.%s", in->match[i].field);
		if ((r = compile_match(what, in->match[i].field, in->match[i].pattern, &m->match[i], err,
				       errlen)) < 0)
			return r;
	}
	return 0;
}

int mapper_create(const struct config_input *in, const char *ns, struct mapper **ret, char *err,
		  size_t errlen)
{
	struct mapper *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	buf_init(&m->name, 0);
	buf_init(&m->time_in, 0);
	buf_init(&m->iid, 0);
	buf_init(&m->eid, 0);
	buf_init(&m->tmp, 0);
	m->rec = calloc(1, sizeof(*m->rec));
	r = m->rec ? 0 : -ENOMEM;
	if (r == 0)
		r = parser_open(in->parser.type, in->parser.plugin_path,
				in->parser.options_json ? in->parser.options_json : "{}", &m->parser, err,
				errlen);
	if (r == 0)
		r = create_match(m, in, err, errlen);
	if (r == 0)
		r = create_templates(m, in, err, errlen);
	if (r == 0)
		r = timefmt_create((const char *const *)in->time_formats, in->ntime_formats, in->timezone,
				   &m->tf, err, errlen);
	if (r == 0)
		r = create_payload(m, in, err, errlen);
	if (r == 0)
		r = create_ids(m, in, ns);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		mapper_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

static void matchers_free(struct matcher *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].field);
		pcre2_match_data_free(v[i].md);
		pcre2_code_free(v[i].re);
	}
	free(v);
}

void mapper_free(struct mapper *m)
{
	size_t i;

	if (!m)
		return;
	parser_free(m->parser);
	free(m->rec);
	matchers_free(m->match, m->nmatch);
	matchers_free(m->include, m->ninclude);
	matchers_free(m->exclude, m->nexclude);
	pcre2_match_context_free(m->mctx);
	template_free(m->t_name);
	template_free(m->t_time);
	template_free(m->t_iid);
	template_free(m->t_eid);
	timefmt_free(m->tf);
	for (i = 0; m->id_fields && i < m->nid_fields; i++)
		free(m->id_fields[i]);
	free(m->id_fields);
	free(m->id_values);
	for (i = 0; m->payload && i < m->npayload; i++) {
		free(m->payload[i].name);
		free(m->payload[i].key);
		template_free(m->payload[i].tmpl);
	}
	free(m->payload);
	free(m->ns);
	buf_free(&m->name);
	buf_free(&m->time_in);
	buf_free(&m->iid);
	buf_free(&m->eid);
	buf_free(&m->tmp);
	free(m);
}

/* ---- Per line ---- */

static int apply_match(struct mapper *m, char *reason, size_t reasonlen)
{
	PCRE2_UCHAR msg[128];
	size_t i;
	int rc;

	for (i = 0; i < m->nmatch; i++) {
		struct matcher *mt = &m->match[i];
		const struct field *f = record_get(m->rec, mt->field, mt->field_len);

		if (!f) {
			snprintf(reason, reasonlen, "match: field %s missing", mt->field);
			return MAP_SKIP;
		}
		rc = pcre2_match(mt->re, (PCRE2_SPTR)f->value, f->value_len, 0, 0, mt->md, m->mctx);
		if (rc == PCRE2_ERROR_NOMATCH) {
			snprintf(reason, reasonlen, "match: field %s does not match", mt->field);
			return MAP_SKIP;
		}
		if (rc < 0) {
			/* e.g. the match limit: undecided, so the line is kept in the dead-letter file */
			pcre2_get_error_message(rc, msg, sizeof(msg));
			snprintf(reason, reasonlen, "match: field %s: %s", mt->field, (char *)msg);
			return MAP_REJECT;
		}
	}
	return MAP_EVENT;
}

/* Renders t (into b when it needs a copy). A missing field rejects the line with "missing field
 * NAME". */
static int render(struct mapper *m, const struct template *t, struct buf *b, struct text *ret,
		  char *reason, size_t reasonlen)
{
	int r = template_view(t, m->rec, b, &ret->p, &ret->len, reason, reasonlen);

	if (r == -ENOENT)
		return MAP_REJECT;
	return r < 0 ? r : MAP_EVENT;
}

/* A field the line lacks: the parser may know that another one is the cause (a regex whose
 * optional part failed at a later field leaves the earlier ones unset too). */
static void explain_missing(struct mapper *m, const struct line_src *src, const char *name, size_t len,
			    char *reason, size_t reasonlen)
{
	char why[256];

	if (parser_explain(m->parser, src->line, src->len, name, len, why, sizeof(why)) == 0)
		snprintf(reason, reasonlen, "%s", why);
}

/* The first field of t the line lacks, explained (cold: only for lines about to be rejected). */
static __attribute__((cold, noinline)) void explain_template(struct mapper *m, const struct line_src *src,
							     const struct template *t, char *reason,
							     size_t reasonlen)
{
	size_t i, n = template_nfields(t), len;
	const char *name;

	for (i = 0; i < n; i++) {
		name = template_field(t, i, &len);
		if (!record_get(m->rec, name, len)) {
			explain_missing(m, src, name, len, reason, reasonlen);
			return;
		}
	}
}

/* render() for the event's own keys, whose missing field rejects the line. */
static inline int render_key(struct mapper *m, const struct line_src *src, const struct template *t,
			     struct buf *b, struct text *ret, char *reason, size_t reasonlen)
{
	int r = render(m, t, b, ret, reason, reasonlen);

	if (r == MAP_REJECT)
		explain_template(m, src, t, reason, reasonlen);
	return r;
}

/* Shows a rendered value in a reason, clipped so reasons stay one short line. */
static void reason_value(char *reason, size_t reasonlen, const char *what, const struct text *t)
{
	int shown = t->len > REASON_VALUE_MAX ? REASON_VALUE_MAX : (int)t->len;

	snprintf(reason, reasonlen, "%s \"%.*s%s\"", what, shown, t->p,
		 t->len > REASON_VALUE_MAX ? "..." : "");
}

/* "installation_id (field install_id)": the event key, and the field it comes from when its
 * template is exactly one field. */
static void key_name(const struct mapper *m, char *out, size_t n, const char *key, const struct template *t)
{
	size_t len = 0;
	const char *f = template_nfields(t) == 1 ? template_field(t, 0, &len) : NULL;
	bool single;

	template_single(t, m->rec, &single);
	if (f && single)
		snprintf(out, n, "%s (field %.*s)", key, (int)len, f);
	else
		snprintf(out, n, "%s", key);
}

static int derive_id(struct mapper *m, const struct line_src *src, struct event *ev, char *reason,
		     size_t reasonlen)
{
	struct eventid_value v;
	struct text eid;
	size_t i;
	int r;

	/* An event_id that renders empty is taken as absent: one shared empty key would make the
	 * server deduplicate every such event into one. */
	if (m->t_eid) {
		if ((r = render_key(m, src, m->t_eid, &m->eid, &eid, reason, reasonlen)) != MAP_EVENT)
			return r;
		if (uuid_is_v4(eid.p, eid.len)) {
			for (i = 0; i < EVENTID_LEN; i++)
				ev->id[i] = (eid.p[i] >= 'A' && eid.p[i] <= 'F') ?
						    (char)(eid.p[i] - 'A' + 'a') : eid.p[i];
			ev->id[EVENTID_LEN] = '\0';
			return MAP_EVENT;
		}
		if (eid.len) {
			v.p = eid.p;
			v.len = eid.len;
			eventid_key(m->ns, m->nslen, ev->name.p, ev->name.len, &v, 1, ev->id);
			return MAP_EVENT;
		}
	}
	if (m->nid_fields) {
		for (i = 0; i < m->nid_fields; i++) {
			const struct field *f = record_get(m->rec, m->id_fields[i], strlen(m->id_fields[i]));
			if (!f) {
				snprintf(reason, reasonlen, "missing id field %s", m->id_fields[i]);
				explain_missing(m, src, m->id_fields[i], strlen(m->id_fields[i]), reason,
						reasonlen);
				return MAP_REJECT;
			}
			m->id_values[i].p = f->value;
			m->id_values[i].len = f->value_len;
		}
		eventid_key(m->ns, m->nslen, ev->name.p, ev->name.len, m->id_values, m->nid_fields,
			    ev->id);
		return MAP_EVENT;
	}
	if (!src->idf)
		return -EINVAL;
	eventid_pos(src->idf, src->offset, src->line, src->len, ev->id);
	return MAP_EVENT;
}

/* event_name, event_datetime, installation_id and event_id, validated as the API would; a reason
 * names the event key and the field it comes from. */
static int build_event(struct mapper *m, const struct line_src *src, struct event *ev, char *reason,
		       size_t reasonlen)
{
	char key[160], why[200];
	struct text time_in;
	int r;

	if ((r = render_key(m, src, m->t_name, &m->name, &ev->name, reason, reasonlen)) != MAP_EVENT)
		return r;
	if (ev->name.len == 0 || !utf8_valid(ev->name.p, ev->name.len)) {
		key_name(m, key, sizeof(key), "event_name", m->t_name);
		snprintf(reason, reasonlen, "%s %s", key, ev->name.len ? "is not valid UTF-8" : "is empty");
		return MAP_REJECT;
	}
	if ((r = render_key(m, src, m->t_time, &m->time_in, &time_in, reason, reasonlen)) != MAP_EVENT)
		return r;
	if (timefmt_convert(m->tf, time_in.p, time_in.len, ev->time, &ev->time_len, why, sizeof(why)) < 0) {
		key_name(m, key, sizeof(key), "event_datetime", m->t_time);
		snprintf(reason, reasonlen, "%s: %s", key, why);
		return MAP_REJECT;
	}
	if ((r = render_key(m, src, m->t_iid, &m->iid, &ev->iid, reason, reasonlen)) != MAP_EVENT)
		return r;
	if (!uuid_is_valid(ev->iid.p, ev->iid.len)) {
		key_name(m, key, sizeof(key), "installation_id", m->t_iid);
		snprintf(why, sizeof(why), "%s is not a UUID:", key);
		reason_value(reason, reasonlen, why, &ev->iid);
		return MAP_REJECT;
	}
	return derive_id(m, src, ev, reason, reasonlen);
}

/* Writes "name":value with the field's type kept (f->name, or key when given: the name already
 * written as a JSON key). Strings and JSON text must be valid UTF-8: the API refuses anything else,
 * and the caller dead-letters the raw line instead. Validation happens while writing; an invalid
 * member leaves out as it was. */
static int write_member(struct buf *out, bool *first, const struct field *f, const char *key,
			size_t key_len, char *reason, size_t reasonlen)
{
	size_t start = out->len;
	int r = 0;

	if (!*first)
		r = buf_putc(out, ',');
	if (r == 0 && key)
		r = buf_append(out, key, key_len);
	else if (r == 0 && (r = jsonw_string_utf8(out, f->name, f->name_len)) == 0)
		r = buf_putc(out, ':');
	if (r == 0 && f->type == ONSIDE_T_STRING)
		r = jsonw_string_utf8(out, f->value, f->value_len);
	else if (r == 0)
		r = utf8_valid(f->value, f->value_len) ? buf_append(out, f->value, f->value_len) : -EILSEQ;
	/* The member was checked before anything was written, once: invalid text still wins over
	 * a full buffer. */
	if (r < 0 && r != -EILSEQ &&
	    (!utf8_valid(f->name, f->name_len) || !utf8_valid(f->value, f->value_len)))
		r = -EILSEQ;
	if (r == -EILSEQ) {
		if (out->data)
			buf_truncate(out, start);
		snprintf(reason, reasonlen, "payload.%.*s is not valid UTF-8", (int)f->name_len, f->name);
		return MAP_REJECT;
	}
	if (r < 0)
		return r;
	*first = false;
	return MAP_EVENT;
}

static bool name_in(const char *name, size_t len, const struct template *t)
{
	size_t i, n = t ? template_nfields(t) : 0, flen;

	for (i = 0; i < n; i++) {
		const char *f = template_field(t, i, &flen);
		if (flen == len && memcmp(f, name, len) == 0)
			return true;
	}
	return false;
}

/* How many fields the json parser emits after an object field for what is inside it ("a.b", "a.b.c",
 * ...): the members of the object and of the objects in it, not what is inside arrays (an array is one
 * field). text is valid JSON (from json-c, or checked at the plugin boundary). */
static size_t nested_members(const char *text, size_t len)
{
	size_t i = 0, count = 0, arrays = 0;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++; /* (a plugin's JSON value may start with a space) */
	if (i == len || text[i] != '{')
		return 0;
	for (; i < len; i++) {
		switch (text[i]) {
		case '"': /* to the closing quote */
			for (i++; i < len && text[i] != '"'; i++)
				if (text[i] == '\\')
					i++;
			break;
		case '[':
			arrays++;
			break;
		case ']':
			arrays -= arrays > 0;
			break;
		case ':':
			count += arrays == 0;
			break;
		}
	}
	return count;
}

/* Marks the fields inside object field i as not written (its text holds them) and returns how many
 * they are. They follow it directly and are named "parent.": counting its members tells them from a
 * later member whose own name is "parent.child" (kept: it is a field of its own). */
static size_t skip_nested(struct mapper *m, size_t i)
{
	const struct field *f = &m->rec->f[i];
	size_t k = nested_members(f->value, f->value_len), j;

	for (j = i + 1; j < m->rec->n && j - i <= k; j++) {
		const struct field *g = &m->rec->f[j];

		if (g->name_len <= f->name_len || g->name[f->name_len] != '.' ||
		    memcmp(g->name, f->name, f->name_len) != 0)
			break;
		m->keep[j] = false;
	}
	return j - i - 1;
}

static bool same_name(const struct field *a, const struct field *b)
{
	return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0;
}

/* One of 256 bits for a name, from its length and its first and last bytes. */
static unsigned name_bit(const struct field *f)
{
	unsigned char first = f->name_len ? (unsigned char)f->name[0] : 0;
	unsigned char last = f->name_len ? (unsigned char)f->name[f->name_len - 1] : 0;

	return (unsigned)(f->name_len * 31 + first * 7 + last) & 255;
}

/* Keeps, of the fields that would be written, only the last one of each name (the rule of
 * record_get): the payload is an object, and the API refuses a key given twice. Most names differ
 * in length or an end byte, so a bit per name rules most of them out before any comparison; a line
 * holds at most RECORD_MAX_FIELDS fields, which bounds the worst case. */
static void keep_last_of_each_name(struct mapper *m)
{
	uint64_t seen[4] = { 0 };
	size_t i, j, n = m->rec->n;

	for (i = n; i-- > 0;) {
		const struct field *f = &m->rec->f[i];
		unsigned bit = name_bit(f);

		if (!m->keep[i])
			continue;
		if (seen[bit / 64] & (UINT64_C(1) << (bit % 64))) {
			for (j = i + 1; j < n && m->keep[i]; j++)
				if (m->keep[j] && same_name(f, &m->rec->f[j]))
					m->keep[i] = false;
		}
		seen[bit / 64] |= UINT64_C(1) << (bit % 64);
	}
}

/* Which fields "*" writes: every field not used in event_name, event_datetime, installation_id or
 * event_id, except those inside an object written whole; of a name given more than once, the last. */
static void payload_pick(struct mapper *m)
{
	size_t i;

	for (i = 0; i < m->rec->n; i++) {
		const struct field *f = &m->rec->f[i];

		m->keep[i] = !name_in(f->name, f->name_len, m->t_name) &&
			     !name_in(f->name, f->name_len, m->t_time) &&
			     !name_in(f->name, f->name_len, m->t_iid) &&
			     !name_in(f->name, f->name_len, m->t_eid);
		/* (an object used above is left out, but its members are fields like any other) */
		if (m->keep[i] && f->type == ONSIDE_T_JSON)
			i += skip_nested(m, i);
	}
	keep_last_of_each_name(m);
}

static int payload_all(struct mapper *m, struct buf *out, bool *first, char *reason, size_t reasonlen)
{
	size_t i;
	int r;

	payload_pick(m);
	for (i = 0; i < m->rec->n; i++) {
		if (!m->keep[i])
			continue;
		r = write_member(out, first, &m->rec->f[i], NULL, 0, reason, reasonlen);
		if (r != MAP_EVENT)
			return r;
	}
	return MAP_EVENT;
}

/* PAYLOAD_LIST copies fields as they are (absent ones are left out); PAYLOAD_MAP renders templates,
 * where a template that is exactly one ${field} keeps that field's type. */
static int payload_items(struct mapper *m, struct buf *out, bool *first, char *reason,
			 size_t reasonlen)
{
	const struct field *f;
	struct field member;
	struct text t;
	bool single;
	size_t i;
	int r;

	for (i = 0; i < m->npayload; i++) {
		const struct payload_item *it = &m->payload[i];

		member.name = it->name;
		member.name_len = it->name_len;
		if (m->payload_mode == PAYLOAD_LIST) {
			f = record_get(m->rec, it->name, it->name_len);
		} else {
			f = template_single(it->tmpl, m->rec, &single);
			if (!single) {
				r = render(m, it->tmpl, &m->tmp, &t, reason, reasonlen);
				if (r == MAP_REJECT)
					continue; /* a missing field leaves the key out, as in a list */
				if (r != MAP_EVENT)
					return r;
				member.value = t.p;
				member.value_len = t.len;
				member.type = ONSIDE_T_STRING;
				f = &member;
			}
		}
		if (!f)
			continue;
		member.value = f->value;
		member.value_len = f->value_len;
		member.type = f->type;
		r = write_member(out, first, &member, it->key, it->key_len, reason, reasonlen);
		if (r != MAP_EVENT)
			return r;
	}
	return MAP_EVENT;
}

static int write_event(struct mapper *m, const struct event *ev, struct buf *out, char *reason,
		       size_t reasonlen)
{
	bool first = true;
	int r;

	if ((r = buf_puts(out, "{\"event_name\":")) < 0 ||
	    (r = jsonw_string(out, ev->name.p, ev->name.len)) < 0 ||
	    (r = buf_puts(out, ",\"payload\":{")) < 0)
		return r;
	if (m->payload_mode == PAYLOAD_ALL)
		r = payload_all(m, out, &first, reason, reasonlen);
	else
		r = payload_items(m, out, &first, reason, reasonlen);
	if (r != MAP_EVENT)
		return r;
	if ((r = buf_puts(out, "},\"event_datetime\":\"")) < 0 ||
	    (r = buf_append(out, ev->time, ev->time_len)) < 0 ||
	    (r = buf_puts(out, "\",\"event_id\":\"")) < 0 ||
	    (r = buf_append(out, ev->id, EVENTID_LEN)) < 0 ||
	    (r = buf_puts(out, "\",\"installation_id\":\"")) < 0 ||
	    (r = buf_append(out, ev->iid.p, ev->iid.len)) < 0 || (r = buf_puts(out, "\"}")) < 0)
		return r; /* (the installation_id is a valid UUID: nothing in it needs an escape) */
	return MAP_EVENT;
}

/* include_lines and exclude_lines on the raw line. A line that a filter's match limit leaves
 * undecided is kept (it goes on to the parser): skipping it would lose it silently. */
static int apply_filters(struct mapper *m, const struct line_src *src, char *reason, size_t reasonlen)
{
	size_t i;
	int rc;

	for (i = 0; i < m->ninclude; i++) {
		rc = pcre2_match(m->include[i].re, (PCRE2_SPTR)src->line, src->len, 0, 0, m->include[i].md,
				 m->mctx);
		if (rc != PCRE2_ERROR_NOMATCH)
			break;
	}
	if (m->ninclude && i == m->ninclude) {
		m->skip_kind = MAP_SKIP_INCLUDE;
		snprintf(reason, reasonlen, "no include_lines pattern matches");
		return MAP_SKIP;
	}
	for (i = 0; i < m->nexclude; i++) {
		rc = pcre2_match(m->exclude[i].re, (PCRE2_SPTR)src->line, src->len, 0, 0, m->exclude[i].md,
				 m->mctx);
		if (rc >= 0) {
			m->skip_kind = MAP_SKIP_EXCLUDE;
			snprintf(reason, reasonlen, "exclude_lines[%zu] matches", i);
			return MAP_SKIP;
		}
	}
	return MAP_EVENT;
}

/* The parser could not read the line: skipped (on_mismatch: skip) or rejected with what the parser
 * can tell about it. */
static int parse_failed(struct mapper *m, const struct line_src *src, const char *preason, char *reason,
			size_t reasonlen)
{
	char why[256];

	if (m->skip_mismatch) {
		m->skip_kind = MAP_SKIP_MISMATCH;
		snprintf(reason, reasonlen, "parse error: %s (on_mismatch: skip)", preason);
		return MAP_SKIP;
	}
	if (parser_explain(m->parser, src->line, src->len, NULL, 0, why, sizeof(why)) == 0)
		preason = why;
	snprintf(reason, reasonlen, "parse error: %s", preason);
	return MAP_REJECT;
}

int mapper_process(struct mapper *m, const struct line_src *src, struct buf *out, char *reason,
		   size_t reasonlen)
{
	char preason[256]; /* parser_parse always sets it */
	struct onside_source os = {
		.size = sizeof(os),
		.first_line = src->first_line,
		.first_line_len = src->first_len,
		.offset = src->offset,
	};
	size_t start = out->len;
	struct event ev;
	int r;

	if (reasonlen)
		reason[0] = '\0';
	if ((m->ninclude || m->nexclude) && (r = apply_filters(m, src, reason, reasonlen)) != MAP_EVENT) {
		record_reset(m->rec);
		return r;
	}
	r = parser_parse(m->parser, &os, src->line, src->len, m->rec, preason, sizeof(preason));
	if (r == ONSIDE_PARSE_SKIP) {
		m->skip_kind = MAP_SKIP_PARSER;
		snprintf(reason, reasonlen, "parser skipped the line%s%s", preason[0] ? ": " : "", preason);
		return MAP_SKIP;
	}
	if (r != ONSIDE_PARSE_OK)
		return parse_failed(m, src, preason, reason, reasonlen);
	r = apply_match(m, reason, reasonlen);
	if (r == MAP_SKIP)
		m->skip_kind = MAP_SKIP_MATCH;
	if (r == MAP_EVENT)
		r = build_event(m, src, &ev, reason, reasonlen);
	if (r == MAP_EVENT)
		r = write_event(m, &ev, out, reason, reasonlen);
	if (r != MAP_EVENT) {
		/* out may hold a partial event (or, with a NULL data, nothing at all) */
		if (out->data)
			buf_truncate(out, start);
		if (r < 0)
			snprintf(reason, reasonlen, "%s", r == -E2BIG ? "event does not fit in the request body" :
				 strerror(-r));
	} else if (reasonlen) {
		reason[0] = '\0'; /* a payload template may have left "missing field" there */
	}
	return r;
}

int mapper_skip_kind(const struct mapper *m) { return m->skip_kind; }

const char *map_skip_name(int kind)
{
	static const char *const names[MAP_SKIP_KINDS] = {
		[MAP_SKIP_MATCH] = "match",
		[MAP_SKIP_PARSER] = "parser",
		[MAP_SKIP_MISMATCH] = "on_mismatch",
		[MAP_SKIP_INCLUDE] = "include_lines",
		[MAP_SKIP_EXCLUDE] = "exclude_lines",
	};

	return kind >= 0 && kind < MAP_SKIP_KINDS ? names[kind] : "other";
}

const struct record *mapper_record(const struct mapper *m) { return m->rec; }
