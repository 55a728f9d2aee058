/* The plugin boundary: a plugin whose every output the fuzzer chooses (names, values, types, NULL
 * pointers, the result of parse(), whether it stops when told to), loaded through the real plugin path
 * (parser_open "plugin", via the loader hook: no library is opened) and mapped with a payload of "*",
 * a list or a map (data[0]). Each further line is one program for the plugin:
 *
 *   line   := ctl item (0x1f item)*
 *   ctl    := bits 0-1: parse() returns OK, NOMATCH, SKIP or 7 (not a result); bit 2: go on emitting
 *             after emit() returned nonzero
 *   item   := sel name ['=' value]   sel bits 0-2: type STRING, NUMBER, BOOL, NULL, JSON, -1, 99, JSON;
 *             bit 3: NULL name; bit 4: NULL value
 *
 * Checks: a line with a value that is not what its type says (decided here by the targets' own strict
 * reader) is rejected with a "plugin field" reason, and only such a line is; an event is strict JSON
 * with no key twice (fuzz_check_event), and with "*" every payload member is a field the plugin gave,
 * with its value byte for byte (a string escaped, anything else as it was). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "eventid.h"
#include "fuzz.h"
#include "map.h"
#include "parser.h"

#define NS "3d1219c7c4c5404aaa1f6d2a48adfda4"
#define PLUGIN_PATH "/fuzz/plugin.so"
#define SEP '\x1f'
#define PLUGIN_REASON "parse error: plugin field \""
#define VALUE_MAX_DEPTH 64 /* the json parser's, which the boundary keeps to */

struct item {
	const char *name, *value;
	size_t name_len, value_len;
	int type;
};

/* ---- the plugin ---- */

static int item_type(unsigned char sel)
{
	static const int types[] = { ONSIDE_T_STRING, ONSIDE_T_NUMBER, ONSIDE_T_BOOL, ONSIDE_T_NULL,
				     ONSIDE_T_JSON, -1, 99, ONSIDE_T_JSON };

	return types[sel & 7];
}

/* The next item of the line from *pos on; false at the end. */
static bool next_item(const char *line, size_t len, size_t *pos, struct item *it)
{
	const char *s = line + *pos, *end, *eq;
	size_t n;
	unsigned char sel;

	if (*pos >= len)
		return false;
	end = memchr(s, SEP, len - *pos);
	n = end ? (size_t)(end - s) : len - *pos;
	*pos += n + 1;
	if (n == 0) {
		*it = (struct item){ "", "", 0, 0, ONSIDE_T_STRING };
		return true;
	}
	sel = (unsigned char)s[0];
	eq = memchr(s + 1, '=', n - 1);
	it->name = s + 1;
	it->name_len = eq ? (size_t)(eq - s - 1) : n - 1;
	it->value = eq ? eq + 1 : s + n;
	it->value_len = eq ? (size_t)(s + n - eq - 1) : 0;
	it->type = item_type(sel);
	if (sel & 8)
		it->name = NULL;
	if (sel & 16)
		it->value = NULL;
	return true;
}

static int fake_create(const char *options_json, void **ret_state, char *err, size_t errlen)
{
	static int state;

	(void)options_json;
	(void)err;
	(void)errlen;
	*ret_state = &state;
	return 0;
}

static int fake_parse(void *state, const char *line, size_t len, onside_emit_fn emit, void *sink,
		      char *reason, size_t reasonlen)
{
	static const int results[] = { ONSIDE_PARSE_OK, ONSIDE_PARSE_NOMATCH, ONSIDE_PARSE_SKIP, 7 };
	unsigned char ctl = len ? (unsigned char)line[0] : 0;
	size_t pos = 1;
	struct item it;

	(void)state;
	while (next_item(line, len, &pos, &it))
		if (emit(sink, it.name, it.name_len, it.value, it.value_len, it.type) && !(ctl & 4))
			break;
	if (reasonlen && results[ctl & 3] == ONSIDE_PARSE_NOMATCH)
		strncpy(reason, "the fuzzer said so", reasonlen - 1);
	return results[ctl & 3];
}

static void fake_destroy(void *state)
{
	(void)state;
}

static const struct onside_parser_ops fake_ops = {
	.abi = ONSIDE_PARSER_ABI,
	.name = "fuzz",
	.create = fake_create,
	.parse = fake_parse,
	.destroy = fake_destroy,
};

static const struct onside_parser_ops *loader(const char *path, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return strcmp(path, PLUGIN_PATH) == 0 ? &fake_ops : NULL;
}

/* ---- what must happen ---- */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether a value is what its type says, by the targets' own reader. Whether its text is UTF-8 is
 * not the type's business: the JSON writer checks that for every parser. */
static bool value_ok(const char *v, size_t n, int type)
{
	size_t a = 0;

	if (!v)
		v = "", n = 0;
	switch (type) {
	case ONSIDE_T_NUMBER:
		return n && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) && !is_ws(v[n - 1]) &&
		       !fuzz_json_problem(v, n, FUZZ_JSON_ANY_BYTES);
	case ONSIDE_T_BOOL:
		return (n == 4 && !memcmp(v, "true", 4)) || (n == 5 && !memcmp(v, "false", 5));
	case ONSIDE_T_NULL:
		return n == 4 && !memcmp(v, "null", 4);
	case ONSIDE_T_JSON:
		while (a < n && is_ws(v[a]))
			a++;
		/* json-c, which finds repeated keys for the boundary, cuts keys at a NUL: refused */
		return a < n && (v[a] == '{' || v[a] == '[') && !fuzz_json_problem(v, n, FUZZ_JSON_ANY_BYTES) &&
		       fuzz_json_depth(v, n) <= VALUE_MAX_DEPTH && !fuzz_json_nul_in_key(v, n);
	default:
		return true;
	}
}

/* Plays the line's program against the boundary's contract: the fields the record takes (at most
 * RECORD_MAX_FIELDS, none after a refused value) into taken; returns whether a value was refused. */
static bool expect_refusal(const char *line, size_t len, struct item *taken, size_t *ntaken)
{
	unsigned char ctl = len ? (unsigned char)line[0] : 0;
	size_t pos = 1;
	struct item it;

	*ntaken = 0;
	while (next_item(line, len, &pos, &it)) {
		if (!value_ok(it.value, it.value_len, it.type))
			return true;
		if (*ntaken == RECORD_MAX_FIELDS) {
			if (!(ctl & 4))
				return false;
			continue;
		}
		taken[(*ntaken)++] = it;
	}
	return false;
}

struct members {
	const struct item *taken;
	size_t ntaken;
	size_t next; /* "*" writes fields in their order: the next member comes from here on */
};

static void trim(const char **v, size_t *n)
{
	while (*n && is_ws(**v))
		(*v)++, (*n)--;
	while (*n && is_ws((*v)[*n - 1]))
		(*n)--;
}

/* A payload member must be a field the plugin gave, its value as it gave it (searched from the field
 * the member before came from on, which keeps a line of many fields from taking quadratic time). */
static void check_member(void *ctx, const char *key, size_t klen, const char *v, size_t vlen)
{
	struct members *m = ctx;
	char *dec = malloc(vlen + 1);
	size_t i, n = 0;

	if (!dec)
		abort();
	if (vlen && v[0] == '"')
		n = fuzz_json_decode(v, vlen, dec, false);
	for (i = m->next; i < m->ntaken; i++) {
		const struct item *f = &m->taken[i];
		const char *fv = f->value ? f->value : "", *fn = f->name ? f->name : "";
		size_t fvl = f->value ? f->value_len : 0, fnl = f->name ? f->name_len : 0;
		bool string = f->type < ONSIDE_T_NUMBER || f->type > ONSIDE_T_JSON;

		if (fnl != klen || memcmp(fn, key, klen) != 0)
			continue;
		if (!string)
			trim(&fv, &fvl);
		if (string ? (v[0] == '"' && n == fvl && !memcmp(dec, fv, n)) :
			     (vlen == fvl && !memcmp(v, fv, fvl)))
			break;
	}
	free(dec);
	if (i == m->ntaken)
		abort(); /* a member the plugin did not give: injected, or mangled on the way */
	m->next = i + 1;
}

static void find_payload(void *ctx, const char *key, size_t klen, const char *v, size_t vlen)
{
	if (klen == 7 && memcmp(key, "payload", 7) == 0)
		fuzz_json_members(v, vlen, check_member, ctx);
}

/* ---- the driver ---- */

static struct config_payload_item list_items[] = { { "a", NULL }, { "n", NULL }, { "j", NULL }, { "a.b", NULL } };
static struct config_payload_item map_items[] = { { "x", "${a}" }, { "y", "${n} ${j}" } };

static char *iso8601[] = { "iso8601" };

static struct config_input make_input(unsigned pick)
{
	struct config_input in;

	memset(&in, 0, sizeof(in));
	in.name = "plugin";
	in.parser.type = "plugin";
	in.parser.plugin_path = PLUGIN_PATH;
	in.parser.options_json = "{}";
	in.event_name = "${e}";
	in.event_datetime = "${t}";
	in.installation_id = "${i}";
	in.time_formats = iso8601;
	in.ntime_formats = 1;
	in.timezone = "UTC";
	in.payload_mode = pick == 0 ? PAYLOAD_ALL : pick == 1 ? PAYLOAD_LIST : PAYLOAD_MAP;
	if (pick == 1) {
		in.payload = list_items;
		in.npayload = sizeof(list_items) / sizeof(list_items[0]);
	} else if (pick == 2) {
		in.payload = map_items;
		in.npayload = sizeof(map_items) / sizeof(map_items[0]);
	}
	return in;
}

static void map_line(struct mapper *m, bool all, const struct line_src *src, struct buf *out)
{
	static struct item taken[RECORD_MAX_FIELDS];
	char reason[256];
	size_t ntaken;
	bool refused = expect_refusal(src->line, src->len, taken, &ntaken);
	bool said = false;
	int r;

	buf_reset(out);
	r = mapper_process(m, src, out, reason, sizeof(reason));
	if (r != MAP_EVENT && (out->len != 0 || r < 0 || !reason[0]))
		abort();
	said = r == MAP_REJECT && strncmp(reason, PLUGIN_REASON, strlen(PLUGIN_REASON)) == 0;
	if (refused != said)
		abort(); /* a bad value let through, or a good one refused */
	if (r == MAP_EVENT) {
		struct members mem = { taken, ntaken, 0 };

		fuzz_check_event(out->data, out->len);
		if (all)
			fuzz_json_members(out->data, out->len, find_payload, &mem);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_input in;
	struct mapper *m = NULL;
	struct eventid_file *idf;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	uint64_t offset = 0;
	char err[512], fp[65];
	struct buf out;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	plugin_set_loader(loader);
	in = make_input(data[0] % 3);
	if (mapper_create(&in, NS, &m, err, sizeof(err)) != 0)
		abort();
	eventid_fingerprint("", 0, fp);
	idf = eventid_file_new(NS, strlen(NS), in.name, strlen(in.name), fp);
	if (!idf)
		abort();
	buf_init(&out, 1 << 20);
	while (n) {
		const char *lf = memchr(s, '\n', n);
		size_t l = lf ? (size_t)(lf - s) : n;
		struct line_src src = { s, l, offset, idf, NULL, 0 };

		map_line(m, in.payload_mode == PAYLOAD_ALL, &src, &out);
		offset += lf ? l + 1 : l;
		n -= lf ? l + 1 : l;
		s += lf ? l + 1 : l;
	}
	buf_free(&out);
	eventid_file_free(idf);
	mapper_free(m);
	return 0;
}
