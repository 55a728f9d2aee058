/* The line-to-event path: exact event bytes, exact ids (from event-id-vectors.json), exact reasons. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "eventid.h"
#include "map.h"
#include "parser.h"

#define NS "3d1219c7c4c5404aaa1f6d2a48adfda4"
#define IID "550e8400-e29b-41d4-a716-446655440000"
/* The SPEC example line, the first line of the pos vectors' file. */
#define SPEC_LINE                                                                                  \
	"{\"ts\":\"2026-05-05T12:00:00Z\",\"event\":\"purchase_completed\",\"install_id\":\"" IID       \
	"\",\"order_id\":\"A-1\",\"currency\":\"USD\",\"amount\":\"9.99\"}"
#define POS_ID "ce23a9bb-66b3-43f0-849b-f9261da8318c"   /* pos vector "first line of a file" */
#define KEY_ID "10e2d0b7-ccbc-49ec-ba24-cde56809a778"   /* key vector "one business key" */
#define PREFIX "[{\"previous\":1},"

static struct config_payload_item list_items[] = { { "currency", NULL }, { "amount", NULL } };
static char *iso8601[] = { "iso8601" };

/* The json parser and the SPEC's event templates; tests change what they need. */
static struct config_input base_input(void)
{
	struct config_input in;

	memset(&in, 0, sizeof(in));
	in.name = "purchases";
	in.parser.type = "json";
	in.parser.options_json = "{}";
	in.event_name = "${event}";
	in.event_datetime = "${ts}";
	in.installation_id = "${install_id}";
	in.time_formats = iso8601;
	in.ntime_formats = 1;
	in.timezone = "UTC";
	in.payload_mode = PAYLOAD_LIST;
	in.payload = list_items;
	in.npayload = 2;
	return in;
}

struct harness {
	struct mapper *m;
	struct eventid_file *idf;
	struct buf out;
	char reason[256];
	uint64_t offset;        /* of the lines expect_event and expect_not run */
	const char *first_line; /* of their file (NULL: not read) */
};

static void setup(struct harness *h, const struct config_input *in)
{
	char err[256] = "", fp[65];

	memset(h, 0, sizeof(*h));
	if (mapper_create(in, NS, &h->m, err, sizeof(err)) != 0)
		fail_msg("mapper_create: %s", err);
	/* The file whose first line is the SPEC line, as in the pos vectors. */
	eventid_fingerprint(SPEC_LINE, strlen(SPEC_LINE), fp);
	h->idf = eventid_file_new(NS, strlen(NS), "purchases", 9, fp);
	assert_non_null(h->idf);
	buf_init(&h->out, 0);
	assert_int_equal(buf_puts(&h->out, PREFIX), 0);
}

static void teardown(struct harness *h)
{
	mapper_free(h->m);
	eventid_file_free(h->idf);
	buf_free(&h->out);
}

static int run(struct harness *h, const char *line, size_t len, uint64_t offset)
{
	struct line_src src = { line, len, offset, h->idf, h->first_line,
				h->first_line ? strlen(h->first_line) : 0 };

	return mapper_process(h->m, &src, &h->out, h->reason, sizeof(h->reason));
}

/* Expects an event; checks the exact bytes appended after what out held before. id NULL means the
 * pos id of the line at offset 0. */
static void expect_event(struct harness *h, const char *line, const char *name, const char *payload,
			 const char *time, const char *id)
{
	size_t before = h->out.len;
	char want[4096], pos[37];
	int r = run(h, line, strlen(line), h->offset);

	if (r != MAP_EVENT)
		fail_msg("result %d: %s", r, h->reason);
	if (!id) {
		eventid_pos(h->idf, h->offset, line, strlen(line), pos);
		id = pos;
	}
	snprintf(want, sizeof(want),
		 "{\"event_name\":\"%s\",\"payload\":%s,\"event_datetime\":\"%s\",\"event_id\":\"%s\","
		 "\"installation_id\":\"" IID "\"}",
		 name, payload, time, id);
	assert_string_equal(h->out.data + before, want);
	assert_memory_equal(h->out.data, PREFIX, strlen(PREFIX));
	assert_string_equal(h->reason, "");
}

#define PC "purchase_completed"
#define T0 "2026-05-05T12:00:00Z"
/* A line with the event's required fields and more members (JSON text without braces). */
#define LINE(more) "{\"ts\":\"" T0 "\",\"event\":\"" PC "\",\"install_id\":\"" IID "\"" more "}"

/* Expects a skip or a rejection with the exact reason, and out unchanged. */
static void expect_not(struct harness *h, const char *line, int want_r, const char *want_reason)
{
	size_t before = h->out.len;

	assert_int_equal(run(h, line, strlen(line), h->offset), want_r);
	assert_string_equal(h->reason, want_reason);
	assert_int_equal(h->out.len, before);
	assert_int_equal(h->out.data[before], '\0');
}

static void test_spec_example_pos_id(void **state)
{
	struct config_input in = base_input();
	struct harness h;

	setup(&h, &in);
	expect_event(&h, SPEC_LINE, PC, "{\"currency\":\"USD\",\"amount\":\"9.99\"}", T0, POS_ID);
	/* exactly the SPEC example's bytes, appended after what the buffer held */
	assert_string_equal(h.out.data,
			    PREFIX "{\"event_name\":\"purchase_completed\",\"payload\":{\"currency\":\"USD\","
			    "\"amount\":\"9.99\"},\"event_datetime\":\"2026-05-05T12:00:00Z\",\"event_id\":"
			    "\"ce23a9bb-66b3-43f0-849b-f9261da8318c\",\"installation_id\":"
			    "\"550e8400-e29b-41d4-a716-446655440000\"}");
	teardown(&h);
}

static void test_pos_id_uses_offset(void **state)
{
	struct config_input in = base_input();
	struct harness h;
	char want[37];

	setup(&h, &in);
	assert_int_equal(run(&h, SPEC_LINE, strlen(SPEC_LINE), 161), MAP_EVENT);
	eventid_pos(h.idf, 161, SPEC_LINE, strlen(SPEC_LINE), want);
	assert_non_null(strstr(h.out.data, want));
	assert_null(strstr(h.out.data, POS_ID));
	teardown(&h);
}

static void test_id_fields_key_id(void **state)
{
	static char *fields[] = { "order_id" };
	struct config_input in = base_input();
	struct harness h;

	in.id_fields = fields;
	in.nid_fields = 1;
	setup(&h, &in);
	expect_event(&h, SPEC_LINE, PC, "{\"currency\":\"USD\",\"amount\":\"9.99\"}", T0, KEY_ID);
	/* Another line, another file position, other payload: the same purchase, the same id; and the
	 * event name is case-insensitive for the id (key vector 2). */
	expect_event(&h,
		     "{\"ts\":\"2026-05-06T00:00:00Z\",\"event\":\"PURCHASE_Completed\",\"install_id\":\"" IID
		     "\",\"order_id\":\"A-1\"}",
		     "PURCHASE_Completed", "{}", "2026-05-06T00:00:00Z", KEY_ID);
	expect_not(&h, LINE(""), MAP_REJECT, "missing id field order_id");
	teardown(&h);
}

static void test_id_fields_two_values(void **state)
{
	static char *fields[] = { "order_id", "currency" };
	struct config_input in = base_input();
	struct harness h;

	in.id_fields = fields;
	in.nid_fields = 2;
	in.npayload = 0;
	setup(&h, &in);
	/* key vector "two key fields" */
	expect_event(&h, SPEC_LINE, PC, "{}", T0, "9b4fcbff-60dd-4361-a986-2b9d45ca8719");
	teardown(&h);
}

static void test_event_id_uuid4_passthrough_lowercased(void **state)
{
	struct config_input in = base_input();
	struct harness h;

	in.event_id = "${id}";
	in.npayload = 0;
	setup(&h, &in);
	expect_event(&h, LINE(",\"id\":\"9F1C2B3A-4D5E-4F60-A718-293A4B5C6D7E\""), PC, "{}", T0,
		     "9f1c2b3a-4d5e-4f60-a718-293a4b5c6d7e");
	/* A missing event_id field is a missing field like any other. */
	expect_not(&h, LINE(""), MAP_REJECT, "missing field id");
	teardown(&h);
}

static void test_event_id_not_uuid4_becomes_key(void **state)
{
	struct config_input in = base_input();
	struct eventid_value v = { "6ba7b810-9dad-11d1-80b4-00c04fd430c8", 36 };
	struct harness h;
	char want[37];

	in.event_id = "${order_id}";
	setup(&h, &in);
	/* "A-1" is not a UUIDv4: the key id with it as the single value, as id_fields [order_id]. */
	expect_event(&h, SPEC_LINE, PC, "{\"currency\":\"USD\",\"amount\":\"9.99\"}", T0, KEY_ID);
	/* A version 1 UUID is not sent as is either. */
	eventid_key(NS, strlen(NS), PC, strlen(PC), &v, 1, want);
	expect_event(&h, LINE(",\"order_id\":\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\""), PC, "{}", T0,
		     want);
	/* An empty event_id is no id at all: the pos id, never one shared empty key. */
	expect_event(&h, LINE(",\"order_id\":\"\""), PC, "{}", T0, NULL);
	teardown(&h);
}

static void test_missing_fields(void **state)
{
	struct config_input in = base_input();
	struct harness h;

	setup(&h, &in);
	expect_not(&h, "{\"ts\":\"" T0 "\",\"event\":\"" PC "\"}", MAP_REJECT,
		   "missing field install_id");
	expect_not(&h, "{\"ts\":\"" T0 "\",\"install_id\":\"" IID "\"}", MAP_REJECT,
		   "missing field event");
	expect_not(&h, "{\"event\":\"" PC "\",\"install_id\":\"" IID "\"}", MAP_REJECT,
		   "missing field ts");
	expect_not(&h, "{\"ts\":\"" T0 "\",\"event\":\"\",\"install_id\":\"" IID "\"}", MAP_REJECT,
		   "event_name (field event) is empty");
	/* A listed payload field that is absent is left out. */
	expect_event(&h, LINE(",\"amount\":\"1\""), PC, "{\"amount\":\"1\"}", T0, NULL);
	teardown(&h);
}

static void test_match_skip(void **state)
{
	static struct config_match match[] = { { "event", "^purchase_" }, { "amount", "^[0-9]" } };
	struct config_input in = base_input();
	struct harness h;

	in.match = match;
	in.nmatch = 2;
	setup(&h, &in);
	expect_not(&h, "{\"event\":\"refund_completed\",\"amount\":1}", MAP_SKIP,
		   "match: field event does not match");
	expect_not(&h, "{\"amount\":1}", MAP_SKIP, "match: field event missing");
	expect_not(&h, "{\"event\":\"purchase_x\",\"amount\":-1}", MAP_SKIP,
		   "match: field amount does not match");
	/* A number is matched as its text. */
	expect_event(&h, LINE(",\"amount\":9.99"), PC, "{\"amount\":9.99}", T0, NULL);
	teardown(&h);
}

static void test_bad_installation_id(void **state)
{
	struct config_input in = base_input();
	struct harness h;

	setup(&h, &in);
	expect_not(&h, "{\"ts\":\"" T0 "\",\"event\":\"" PC "\",\"install_id\":\"not-a-uuid\"}", MAP_REJECT,
		   "installation_id (field install_id) is not a UUID: \"not-a-uuid\"");
	expect_not(&h, "{\"ts\":\"" T0 "\",\"event\":\"" PC "\",\"install_id\":\"" IID "0\"}", MAP_REJECT,
		   "installation_id (field install_id) is not a UUID: \"" IID "0\"");
	/* Any version is accepted and sent exactly as rendered (here upper case, version 1). */
	in.installation_id = "${iid}";
	teardown(&h);
	setup(&h, &in);
	assert_int_equal(run(&h, "{\"ts\":\"" T0 "\",\"event\":\"" PC "\",\"iid\":\"6BA7B810-9DAD-11D1-80B4-00C04FD430C8\"}",
			     strlen("{\"ts\":\"" T0 "\",\"event\":\"" PC "\",\"iid\":\"6BA7B810-9DAD-11D1-80B4-00C04FD430C8\"}"),
			     0),
			 MAP_EVENT);
	assert_non_null(strstr(h.out.data, "\"installation_id\":\"6BA7B810-9DAD-11D1-80B4-00C04FD430C8\"}"));
	teardown(&h);
}

static void test_payload_list_keeps_types(void **state)
{
	static struct config_payload_item items[] = { { "amount", NULL }, { "qty", NULL }, { "paid", NULL },
						      { "coupon", NULL }, { "items", NULL }, { "meta", NULL },
						      { "meta.a", NULL }, { "absent", NULL }, { "note", NULL } };
	struct config_input in = base_input();
	struct harness h;

	in.payload = items;
	in.npayload = sizeof(items) / sizeof(items[0]);
	setup(&h, &in);
	expect_event(&h,
		     LINE(",\"amount\":9.90,\"qty\":3,\"paid\":true,\"coupon\":null,\"items\":[1,\"x\"],"
			  "\"meta\":{\"a\":1},\"note\":\"say \\\"hi\\\"\\n\\u00e9\""),
		     PC,
		     "{\"amount\":9.90,\"qty\":3,\"paid\":true,\"coupon\":null,\"items\":[1,\"x\"],"
		     "\"meta\":{\"a\":1},\"meta.a\":1,\"note\":\"say \\\"hi\\\"\\n\xc3\xa9\"}",
		     T0, NULL);
	teardown(&h);
}

static void test_payload_all(void **state)
{
	struct config_input in = base_input();
	struct harness h;

	in.payload_mode = PAYLOAD_ALL;
	in.payload = NULL;
	in.npayload = 0;
	setup(&h, &in);
	/* Fields used by the templates are left out; nested fields come once, inside their object. */
	expect_event(&h,
		     LINE(",\"order_id\":\"A-1\",\"amount\":9.99,\"meta\":{\"a\":1,\"b\":{\"c\":[2]}},"
			  "\"x.y\":true"),
		     PC, "{\"order_id\":\"A-1\",\"amount\":9.99,\"meta\":{\"a\":1,\"b\":{\"c\":[2]}},\"x.y\":true}",
		     T0, NULL);
	teardown(&h);

	/* A nested field used by a template: its parent object is still copied whole. */
	in.event_name = "${e.name}";
	setup(&h, &in);
	expect_event(&h,
		     "{\"ts\":\"" T0 "\",\"e\":{\"name\":\"" PC "\",\"v\":2},\"install_id\":\"" IID "\"}", PC,
		     "{\"e\":{\"name\":\"" PC "\",\"v\":2}}", T0, NULL);
	teardown(&h);
}

static void test_payload_map(void **state)
{
	static struct config_payload_item items[] = {
		{ "price", "${amount}" }, { "label", "${currency} ${amount}" }, { "n", "${qty}" },
		{ "gone", "${nope}" },    { "const", "web" },                   { "tags", "${tags}" },
	};
	struct config_input in = base_input();
	struct harness h;

	in.payload_mode = PAYLOAD_MAP;
	in.payload = items;
	in.npayload = sizeof(items) / sizeof(items[0]);
	setup(&h, &in);
	expect_event(&h, LINE(",\"currency\":\"USD\",\"amount\":9.99,\"qty\":2,\"tags\":[\"a\"]"), PC,
		     "{\"price\":9.99,\"label\":\"USD 9.99\",\"n\":2,\"const\":\"web\",\"tags\":[\"a\"]}", T0,
		     NULL);
	teardown(&h);
}

static void test_invalid_utf8_rejected(void **state)
{
	static struct config_payload_item items[] = { { "note", NULL } };
	static struct config_payload_item map[] = { { "label", "x${note}" } };
	struct config_input in = base_input();
	struct harness h;

	in.payload = items;
	in.npayload = 1;
	setup(&h, &in);
	expect_not(&h, LINE(",\"note\":\"bad \xff byte\""), MAP_REJECT, "payload.note is not valid UTF-8");
	expect_not(&h, "{\"ts\":\"" T0 "\",\"event\":\"caf\xc3\",\"install_id\":\"" IID "\"}", MAP_REJECT,
		   "event_name (field event) is not valid UTF-8");
	expect_event(&h, LINE(",\"note\":\"caf\xc3\xa9\""), PC, "{\"note\":\"caf\xc3\xa9\"}", T0, NULL);
	teardown(&h);

	in.payload_mode = PAYLOAD_MAP;
	in.payload = map;
	setup(&h, &in);
	expect_not(&h, LINE(",\"note\":\"\xc0\xaf\""), MAP_REJECT, "payload.label is not valid UTF-8");
	teardown(&h);

	in.payload_mode = PAYLOAD_ALL;
	in.payload = NULL;
	in.npayload = 0;
	setup(&h, &in);
	expect_not(&h, LINE(",\"k\xff\":1"), MAP_REJECT, "payload.k\xff is not valid UTF-8");
	teardown(&h);
}

/* Payload keys are written once at start: one that needs an escape is written escaped, one that is
 * not valid UTF-8 rejects every line that has the member, with the same reason as a value. */
static void test_payload_key_names(void **state)
{
	static struct config_payload_item items[] = { { "we\"ird", NULL }, { "k\xff", NULL } };
	struct config_input in = base_input();
	struct harness h;

	in.payload = items;
	in.npayload = 2;
	setup(&h, &in);
	expect_event(&h, LINE(",\"we\\\"ird\":\"x\\u0001\""), PC, "{\"we\\\"ird\":\"x\\u0001\"}", T0,
		     NULL);
	expect_not(&h, LINE(",\"we\\\"ird\":\"x\",\"k\xff\":1"), MAP_REJECT,
		   "payload.k\xff is not valid UTF-8");
	teardown(&h);
}

/* A member that is not valid UTF-8 is rejected as such even when out is too full to hold it: the
 * check does not depend on how much of the member could be written. */
static void test_invalid_utf8_when_full(void **state)
{
	static struct config_payload_item items[] = { { "note", NULL } };
	struct config_input in = base_input();
	struct harness h;
	size_t before;

	in.payload = items;
	in.npayload = 1;
	setup(&h, &in);
	before = h.out.len;
	h.out.max = before + 80; /* full in the middle of the note */
	expect_not(&h, LINE(",\"note\":\"a long note that does not fit, then a bad byte: \xff\""),
		   MAP_REJECT, "payload.note is not valid UTF-8");
	assert_int_equal(h.out.len, before);
	assert_int_equal(run(&h, LINE(",\"note\":\"a long note that does not fit, all of it valid\""),
			     strlen(LINE(",\"note\":\"a long note that does not fit, all of it valid\"")), 0),
			 -E2BIG);
	assert_int_equal(h.out.len, before);
	teardown(&h);
}

static void test_time_conversion(void **state)
{
	static char *unix_ms[] = { "unix_ms" };
	struct config_input in = base_input();
	struct harness h;

	in.npayload = 0;
	in.timezone = "Europe/Berlin";
	setup(&h, &in);
	expect_event(&h,
		     "{\"ts\":\"2026-05-05T14:00:00.5+02:00\",\"event\":\"" PC "\",\"install_id\":\"" IID "\"}",
		     PC, "{}", "2026-05-05T12:00:00.5Z", NULL);
	expect_event(&h, "{\"ts\":\"2026-07-01 12:00:00\",\"event\":\"" PC "\",\"install_id\":\"" IID "\"}",
		     PC, "{}", "2026-07-01T10:00:00Z", NULL);
	expect_not(&h, "{\"ts\":\"2026-13-01T00:00:00Z\",\"event\":\"" PC "\",\"install_id\":\"" IID "\"}",
		   MAP_REJECT, "event_datetime (field ts): invalid time \"2026-13-01T00:00:00Z\" (iso8601)");
	teardown(&h);

	in.time_formats = unix_ms;
	setup(&h, &in);
	expect_event(&h, "{\"ts\":1777982400250,\"event\":\"" PC "\",\"install_id\":\"" IID "\"}", PC, "{}",
		     "2026-05-05T12:00:00.250Z", NULL);
	teardown(&h);
}

static void test_parse_error_and_parser_skip(void **state)
{
	struct config_input in = base_input();
	struct harness h;

	setup(&h, &in);
	expect_not(&h, "[1]", MAP_REJECT, "parse error: not a JSON object");
	expect_not(&h, "", MAP_REJECT, "parse error: empty line");
	teardown(&h);

	in.parser.type = "csv";
	in.parser.options_json = "{\"columns\":[\"ts\",\"event\",\"install_id\"],\"header\":true}";
	in.npayload = 0;
	setup(&h, &in);
	expect_not(&h, "ts,event,install_id", MAP_SKIP, "parser skipped the line: csv header line");
	assert_int_equal(mapper_skip_kind(h.m), MAP_SKIP_PARSER);
	h.offset = 20;
	expect_event(&h, T0 "," PC "," IID, PC, "{}", T0, NULL);
	teardown(&h);
}

/* A truncated purchase line says which field it lacks, also when a pattern's optional part failed as
 * a whole (and left the fields before the missing one unset too). */
#define USER_LINE T0 " " PC " user=" IID " amount=9.99"
static void test_regex_rejections_name_the_missing_field(void **state)
{
	struct config_input in = base_input();
	struct harness h;

	in.parser.type = "regex";
	in.parser.options_json = "{\"pattern\":\"^(?<ts>\\\\S+) (?<event>\\\\S+) user=(?<install_id>\\\\S+) "
				 "amount=(?<amount>\\\\S+) currency=(?<currency>\\\\S+)$\"}";
	setup(&h, &in);
	expect_event(&h, USER_LINE " currency=EUR", PC, "{\"currency\":\"EUR\",\"amount\":\"9.99\"}", T0, NULL);
	expect_not(&h, USER_LINE, MAP_REJECT, "parse error: missing field currency (the line ends at byte 93)");
	expect_not(&h, USER_LINE " curr=EUR", MAP_REJECT,
		   "parse error: missing field currency (the line stops matching the pattern at byte 98)");
	expect_not(&h, USER_LINE " currency=EUR x", MAP_REJECT,
		   "parse error: line does not match the pattern at byte 106, after field currency");
	expect_not(&h, "hello", MAP_REJECT, "parse error: missing field event (the line ends at byte 5)");
	teardown(&h);

	/* the work-around pattern that matches everything: the optional part fails at currency */
	in.parser.options_json = "{\"pattern\":\"^(?<ts>\\\\S+) (?<event>\\\\S+)(?: user=(?<install_id>\\\\S+) "
				 "amount=(?<amount>\\\\S+) currency=(?<currency>\\\\S+))?\"}";
	setup(&h, &in);
	expect_not(&h, USER_LINE, MAP_REJECT,
		   "missing field currency (the line ends at byte 93), so install_id is unset");
	/* a field the pattern does not have is just missing */
	teardown(&h);
	in.installation_id = "${iid}";
	setup(&h, &in);
	expect_not(&h, USER_LINE " currency=EUR", MAP_REJECT, "missing field iid");
	teardown(&h);
}

/* on_mismatch: skip and the line filters skip lines, each counted under its own reason. */
static void test_skips_by_reason(void **state)
{
	static char *include[] = { "purchase", "refund" };
	static char *exclude[] = { "^#" };
	static struct config_match match[] = { { "event", "^purchase_" } };
	struct config_input in = base_input();
	struct harness h;

	in.parser.type = "regex";
	in.parser.options_json = "{\"pattern\":\"^(?<ts>\\\\S+) (?<event>\\\\S+) (?<install_id>\\\\S+)$\"}";
	in.parser.on_mismatch = ON_MISMATCH_SKIP;
	in.include_lines = include;
	in.ninclude_lines = 2;
	in.exclude_lines = exclude;
	in.nexclude_lines = 1;
	in.match = match;
	in.nmatch = 1;
	in.npayload = 0;
	setup(&h, &in);
	expect_event(&h, T0 " " PC " " IID, PC, "{}", T0, NULL);
	expect_not(&h, T0 " login " IID, MAP_SKIP, "no include_lines pattern matches");
	assert_int_equal(mapper_skip_kind(h.m), MAP_SKIP_INCLUDE);
	assert_int_equal(mapper_record(h.m)->n, 0);
	expect_not(&h, "# " T0 " " PC " " IID, MAP_SKIP, "exclude_lines[0] matches");
	assert_int_equal(mapper_skip_kind(h.m), MAP_SKIP_EXCLUDE);
	expect_not(&h, T0 " purchase started at noon", MAP_SKIP,
		   "parse error: line does not match the pattern (on_mismatch: skip)");
	assert_int_equal(mapper_skip_kind(h.m), MAP_SKIP_MISMATCH);
	expect_not(&h, T0 " refund_completed " IID, MAP_SKIP, "match: field event does not match");
	assert_int_equal(mapper_skip_kind(h.m), MAP_SKIP_MATCH);
	assert_int_equal(mapper_record(h.m)->n, 3);
	assert_string_equal(map_skip_name(MAP_SKIP_MISMATCH), "on_mismatch");
	assert_string_equal(map_skip_name(MAP_SKIP_INCLUDE), "include_lines");
	teardown(&h);
}

/* The csv header comes with each line (its file's first line): one mapper maps lines of files with
 * other columns in any order, as mapping threads and restarts hand them out. */
static void test_csv_header_of_each_line(void **state)
{
	const char *a = "ts,event,install_id,amount", *b = "amount,install_id,currency,event,ts";
	struct config_input in = base_input();
	struct harness h;

	in.parser.type = "csv";
	in.parser.options_json = "{\"header\":true}";
	setup(&h, &in);
	h.first_line = a;
	expect_not(&h, a, MAP_SKIP, "parser skipped the line: csv header line");
	assert_int_equal(mapper_skip_kind(h.m), MAP_SKIP_PARSER);
	h.offset = 27;
	expect_event(&h, T0 "," PC "," IID ",1.00", PC, "{\"amount\":\"1.00\"}", T0, NULL);
	h.first_line = b;
	h.offset = 500;
	expect_event(&h, "2.00," IID ",EUR," PC "," T0, PC, "{\"currency\":\"EUR\",\"amount\":\"2.00\"}", T0, NULL);
	expect_not(&h, "2.00," IID ",EUR," PC, MAP_REJECT,
		   "parse error: missing field ts (4 fields, 5 columns)");
	h.first_line = a;
	expect_event(&h, T0 "," PC "," IID ",3.00", PC, "{\"amount\":\"3.00\"}", T0, NULL);
	teardown(&h);
}

static void test_out_full_unchanged(void **state)
{
	struct config_input in = base_input();
	struct harness h;
	size_t before;

	setup(&h, &in);
	before = h.out.len;
	h.out.max = before + 100; /* room for part of the event only */
	assert_int_equal(run(&h, SPEC_LINE, strlen(SPEC_LINE), 0), -E2BIG);
	assert_int_equal(h.out.len, before);
	assert_string_equal(h.out.data, PREFIX);
	assert_string_equal(h.reason, "event does not fit in the request body");
	teardown(&h);
}

static void test_create_errors(void **state)
{
	static struct config_match bad_re[] = { { "event", "^(purchase" } };
	struct config_input in = base_input();
	struct mapper *m = NULL;
	char err[256];

	in.match = bad_re;
	in.nmatch = 1;
	assert_int_equal(mapper_create(&in, NS, &m, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "match.event: missing closing parenthesis at offset 10");
	in.nmatch = 0;
	in.timezone = "Nowhere/Atlantis";
	assert_int_equal(mapper_create(&in, NS, &m, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "unknown timezone \"Nowhere/Atlantis\"", 35) == 0);
	in.timezone = "UTC";
	in.event_name = "${event";
	assert_int_equal(mapper_create(&in, NS, &m, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "event.event_name: unterminated \"${\" at column 1");
	in.event_name = "${event}";
	in.parser.type = "yaml";
	assert_int_not_equal(mapper_create(&in, NS, &m, err, sizeof(err)), 0);
	assert_null(m);
	mapper_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_example_pos_id),
		cmocka_unit_test(test_pos_id_uses_offset),
		cmocka_unit_test(test_id_fields_key_id),
		cmocka_unit_test(test_id_fields_two_values),
		cmocka_unit_test(test_event_id_uuid4_passthrough_lowercased),
		cmocka_unit_test(test_event_id_not_uuid4_becomes_key),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_match_skip),
		cmocka_unit_test(test_bad_installation_id),
		cmocka_unit_test(test_payload_list_keeps_types),
		cmocka_unit_test(test_payload_all),
		cmocka_unit_test(test_regex_rejections_name_the_missing_field),
		cmocka_unit_test(test_skips_by_reason),
		cmocka_unit_test(test_csv_header_of_each_line),
		cmocka_unit_test(test_payload_map),
		cmocka_unit_test(test_invalid_utf8_rejected),
		cmocka_unit_test(test_time_conversion),
		cmocka_unit_test(test_parse_error_and_parser_skip),
		cmocka_unit_test(test_out_full_unchanged),
		cmocka_unit_test(test_payload_key_names),
		cmocka_unit_test(test_invalid_utf8_when_full),
		cmocka_unit_test(test_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
