/* Every parser feeding the mapper: data[0] picks logfmt, csv (given columns, a learned header, a
 * skipped header, ';'), regex (with and without (?J) duplicate names), the example plugin
 * (parsers/examples/kv_parser.c, built in and handed out by the loader hook, no dlopen) or json, each
 * with a payload of "*", a list or a map. Every further line is mapped as if it came from one file.
 * An event must be one strict JSON object with the five API members and no key twice in any object
 * (fuzz_check_event). With "*" and a flat parser, a second instance of the parser fed the same lines
 * says what the payload must be: every name not used by a template exactly once, with its last value
 * (the rule for repeated names); with "*" and json, json-c's reading of the line does (every top-level
 * member but the template ones, objects whole, a literal "a.b" key too). Anything but an event leaves
 * the buffer alone and gives a reason. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "eventid.h"
#include "fuzz.h"
#include "map.h"
#include "parser.h"

#define NS "3d1219c7c4c5404aaa1f6d2a48adfda4"
#define KV_PATH "/fuzz/libonside-kv.so"

extern const struct onside_parser_ops onside_parser_v1; /* kv_parser.c */

static struct config_payload_item list_items[] = { { "amount", NULL }, { "currency", NULL },
						   { "a.b", NULL }, { "sku", NULL } };
static struct config_payload_item map_items[] = {
	{ "price", "${amount}" }, { "label", "${currency} ${amount}" }, { "const", "web" }, { "nested", "${a.b}" },
};
static struct config_match match_event[] = { { "event", "^p" } };

struct choice {
	char *type, *options; /* (struct config_input holds them as char *) */
	enum config_payload_mode payload;
	bool flat; /* fields are plain names: the "*" payload can be predicted from the record */
};

static const struct choice choices[] = {
	{ "logfmt", "{}", PAYLOAD_ALL, true },
	{ "logfmt", "{}", PAYLOAD_LIST, true },
	{ "logfmt", "{}", PAYLOAD_MAP, true },
	{ "csv", "{\"columns\":[\"ts\",\"event\",\"iid\",\"amount\",\"currency\",\"note\"],\"header\":false}",
	  PAYLOAD_ALL, true },
	{ "csv", "{\"header\":true}", PAYLOAD_ALL, true },
	{ "csv", "{\"header\":true}", PAYLOAD_MAP, true },
	{ "csv", "{\"columns\":[\"ts\",\"event\",\"iid\",\"amount\"],\"header\":true}", PAYLOAD_LIST, true },
	{ "csv", "{\"header\":true,\"delimiter\":\";\"}", PAYLOAD_ALL, true },
	{ "regex", "{\"pattern\":\"^(?<ts>\\\\S+) (?<event>\\\\S+) (?<iid>\\\\S+)(?: amount=(?<amount>\\\\S*))?"
		   "(?: (?<rest>.*))?$\"}", PAYLOAD_ALL, true },
	{ "regex", "{\"pattern\":\"^(?J)(?<ts>\\\\S+) (?<event>\\\\S+) (?<iid>\\\\S+)(?: (?<a>[^ =]*)=(?<amount>\\\\S*)"
		   "| (?<amount>\\\\S*) (?<a>\\\\S*))*(?: (?<amount>\\\\d+))?$\"}", PAYLOAD_ALL, true },
	{ "regex", "{\"pattern\":\"^(?J)(?<ts>\\\\S+) (?<event>\\\\S+) (?<iid>\\\\S+) (?<amount>\\\\S*) (?<amount>.*)$\"}",
	  PAYLOAD_LIST, true },
	{ "plugin", "{}", PAYLOAD_ALL, true },
	{ "plugin", "{\"separator\":\";\"}", PAYLOAD_MAP, true },
	{ "json", "{}", PAYLOAD_ALL, false },
};
#define NCHOICES (sizeof(choices) / sizeof(choices[0]))

static const struct onside_parser_ops *kv_loader(const char *path, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return strcmp(path, KV_PATH) == 0 ? &onside_parser_v1 : NULL;
}

static char *iso8601[] = { "iso8601" };

static struct config_input make_input(const struct choice *c, unsigned variant)
{
	struct config_input in;

	memset(&in, 0, sizeof(in));
	in.name = "purchases";
	in.parser.type = c->type;
	in.parser.plugin_path = strcmp(c->type, "plugin") == 0 ? KV_PATH : NULL;
	in.parser.options_json = c->options;
	in.event_name = "${event}";
	in.event_datetime = "${ts}";
	in.installation_id = "${iid}";
	in.time_formats = iso8601;
	in.ntime_formats = 1;
	in.timezone = "UTC";
	in.payload_mode = c->payload;
	if (c->payload == PAYLOAD_LIST) {
		in.payload = list_items;
		in.npayload = sizeof(list_items) / sizeof(list_items[0]);
	} else if (c->payload == PAYLOAD_MAP) {
		in.payload = map_items;
		in.npayload = sizeof(map_items) / sizeof(map_items[0]);
	}
	/* the second variant of each: a match, and a key id from a field that may come twice */
	if (variant) {
		in.match = match_event;
		in.nmatch = 1;
		in.event_id = "${amount}";
	}
	return in;
}

/* ---- the "*" payload predicted from a second parser's record ---- */

struct expect {
	const struct record *rec;
	size_t seen; /* payload members found */
};

/* The names event_name, event_datetime and installation_id use (no event_id when checked). */
static bool in_templates(const struct field *f)
{
	static const char *const used[] = { "ts", "event", "iid" };
	size_t i;

	for (i = 0; i < sizeof(used) / sizeof(used[0]); i++)
		if (f->name_len == strlen(used[i]) && memcmp(f->name, used[i], f->name_len) == 0)
			return true;
	return false;
}

/* The field a payload member must come from: the last of its name. */
static const struct field *last_field(const struct record *rec, const char *name, size_t len)
{
	size_t i;

	for (i = rec->n; i-- > 0;)
		if (rec->f[i].name_len == len && memcmp(rec->f[i].name, name, len) == 0)
			return &rec->f[i];
	return NULL;
}

static void check_member(void *ctx, const char *key, size_t klen, const char *v, size_t vlen)
{
	struct expect *x = ctx;
	const struct field *f = last_field(x->rec, key, klen);
	char *dec;
	size_t n;

	if (!f || in_templates(f))
		abort(); /* a member no field gave, or one a template used */
	x->seen++;
	if (f->type != ONSIDE_T_STRING) {
		if (vlen != f->value_len || memcmp(v, f->value, vlen) != 0)
			abort();
		return;
	}
	if (!(dec = malloc(vlen)))
		abort();
	n = fuzz_json_decode(v, vlen, dec, false);
	if (n != f->value_len || memcmp(dec, f->value, n) != 0)
		abort(); /* not the last value of the name */
	free(dec);
}

static void find_payload(void *ctx, const char *key, size_t klen, const char *v, size_t vlen)
{
	struct expect *x = ctx;

	if (klen == 7 && memcmp(key, "payload", 7) == 0)
		fuzz_json_members(v, vlen, check_member, x);
}

/* The payload holds each name the record has, but for the template ones, once, with its last value. */
static void check_all_payload(const struct record *rec, const char *ev, size_t n)
{
	struct expect x = { rec, 0 };
	size_t i, names = 0;

	fuzz_json_members(ev, n, find_payload, &x);
	for (i = 0; i < rec->n; i++)
		if (!in_templates(&rec->f[i]) && last_field(rec, rec->f[i].name, rec->f[i].name_len) == &rec->f[i])
			names++;
	if (x.seen != names)
		abort();
}

static struct json_object *parse_json(const char *s, size_t n)
{
	struct json_tokener *tok = json_tokener_new_ex(256); /* json's 64 levels, and the event around */
	struct json_object *o;

	if (!tok)
		abort();
	o = json_tokener_parse_ex(tok, s, (int)n);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, "", 1);
	json_tokener_free(tok);
	return o;
}

/* The json parser with "*": the payload is the line's object without the members the templates use. */
static void check_json_payload(const char *line, size_t len, const char *ev, size_t n)
{
	struct json_object *want = parse_json(line, len), *got = parse_json(ev, n), *payload, *v;
	int members = 0;

	if (!want || !got || !json_object_object_get_ex(got, "payload", &payload))
		abort();
	json_object_object_foreach(want, key, val) {
		if (!strcmp(key, "ts") || !strcmp(key, "event") || !strcmp(key, "iid"))
			continue;
		if (!json_object_object_get_ex(payload, key, &v) || !json_object_equal(v, val))
			abort(); /* a member dropped or changed */
		members++;
	}
	if (json_object_object_length(payload) != members)
		abort();
	json_object_put(want);
	json_object_put(got);
}

static void map_lines(struct mapper *m, struct parser *ref, bool json_all, struct eventid_file *idf,
		      const char *s, size_t n, struct buf *out)
{
	static struct record rec;
	char reason[256], why[256];
	uint64_t offset = 0;
	/* the input is one file: its first line is the csv header for parsers that learn one */
	const char *first = s, *flf = memchr(s, '\n', n);
	size_t first_len = flf ? (size_t)(flf - s) : n;

	while (n) {
		const char *lf = memchr(s, '\n', n);
		size_t l = lf ? (size_t)(lf - s) : n;
		struct line_src src = { s, l, offset, idf, first, first_len };
		struct onside_source osrc = { sizeof(osrc), first, first_len, offset };
		int r, pr = ref ? parser_parse(ref, &osrc, s, l, &rec, why, sizeof(why)) : 0;

		buf_reset(out);
		r = mapper_process(m, &src, out, reason, sizeof(reason));
		if (r == MAP_EVENT) {
			fuzz_check_event(out->data, out->len);
			if (ref && pr != ONSIDE_PARSE_OK)
				abort(); /* the same parser on the same lines decided otherwise */
			if (ref)
				check_all_payload(&rec, out->data, out->len);
			else if (json_all)
				check_json_payload(s, l, out->data, out->len);
		} else if (out->len != 0 || (r >= 0 && ((r != MAP_SKIP && r != MAP_REJECT) || !reason[0]))) {
			abort();
		}
		offset += lf ? l + 1 : l;
		n -= lf ? l + 1 : l;
		s += lf ? l + 1 : l;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct choice *c;
	struct config_input in;
	struct mapper *m = NULL;
	struct parser *ref = NULL;
	struct eventid_file *idf;
	const char *s = (const char *)data + 1, *lf;
	char err[512], fp[65];
	struct buf out;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	plugin_set_loader(kv_loader);
	c = &choices[data[0] % NCHOICES];
	in = make_input(c, data[0] / NCHOICES % 2);
	if (mapper_create(&in, NS, &m, err, sizeof(err)) != 0)
		abort();
	if (c->payload == PAYLOAD_ALL && c->flat && !in.nmatch &&
	    parser_open(in.parser.type, in.parser.plugin_path, in.parser.options_json, &ref, err, sizeof(err)) != 0)
		abort();
	lf = memchr(s, '\n', size - 1);
	eventid_fingerprint(s, lf ? (size_t)(lf - s) : size - 1, fp);
	idf = eventid_file_new(NS, strlen(NS), in.name, strlen(in.name), fp);
	if (!idf)
		abort();
	buf_init(&out, 1 << 20);
	map_lines(m, ref, !c->flat && c->payload == PAYLOAD_ALL && !in.nmatch, idf, s, size - 1, &out);
	buf_free(&out);
	eventid_file_free(idf);
	parser_free(ref);
	mapper_free(m);
	return 0;
}
