/* The line-to-event pipeline: data[0] picks an input configuration built by hand (json, csv with a
 * header, regex; templates, time formats with a timezone, each payload mode, match, line filters,
 * on_mismatch, key ids); every further line is mapped as if it came from one file, whose first line
 * is the csv header. An event must append exactly one strict JSON object with the five API members
 * and no key twice in any object (fuzz_check_event); anything else must leave the buffer as it was. */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "eventid.h"
#include "fuzz.h"
#include "jsonw.h"
#include "map.h"
#include "parser.h"
#include "timefmt.h"

#define NS "3d1219c7c4c5404aaa1f6d2a48adfda4"
#define PREFIX "["

static struct config_payload_item list_items[] = { { "currency", NULL }, { "amount", NULL },
						   { "order_id", NULL }, { "meta.a", NULL } };
static struct config_payload_item map_items[] = {
	{ "price", "${amount}" }, { "label", "${currency} ${amount}" }, { "const", "web" },
	{ "nested", "${meta.a}" }, { "gone", "${nope}" },
};
static struct config_match match_purchase[] = { { "event", "^purchase_" } };
static char *id_fields[] = { "order_id", "currency" };
static char *include_lines[] = { "purchase", "order_id" };
static char *exclude_lines[] = { "^#" };

static char *iso8601[] = { "iso8601" };
static char *clf[] = { "%d/%b/%Y:%H:%M:%S", "%b %d %H:%M:%S" };
static char *unix_ms[] = { "unix_ms" };

static struct config_input make_input(unsigned pick)
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
	in.timezone = "Europe/Berlin";
	in.payload_mode = PAYLOAD_LIST;
	in.payload = list_items;
	in.npayload = sizeof(list_items) / sizeof(list_items[0]);
	switch (pick) {
	case 1:
		in.payload_mode = PAYLOAD_ALL;
		in.payload = NULL;
		in.npayload = 0;
		in.event_id = "${order_id}";
		in.match = match_purchase;
		in.nmatch = 1;
		in.timezone = "America/New_York";
		break;
	case 2:
		in.payload_mode = PAYLOAD_MAP;
		in.payload = map_items;
		in.npayload = sizeof(map_items) / sizeof(map_items[0]);
		in.id_fields = id_fields;
		in.nid_fields = 2;
		in.event_name = "shop_${event}";
		in.timezone = "UTC";
		break;
	case 3:
		in.time_formats = clf;
		in.ntime_formats = 2;
		in.payload_mode = PAYLOAD_ALL;
		in.payload = NULL;
		in.npayload = 0;
		in.installation_id = "${user.install_id}";
		break;
	case 4:
		in.time_formats = unix_ms;
		in.ntime_formats = 1;
		in.event_id = "${id}";
		in.event_datetime = "${meta.ts}";
		break;
	case 5:
		in.parser.type = "csv";
		in.parser.options_json = "{\"header\":true}";
		in.parser.first_line = true;
		in.time_formats = clf;
		in.ntime_formats = 2;
		in.exclude_lines = exclude_lines;
		in.nexclude_lines = 1;
		break;
	case 6:
		in.parser.type = "regex";
		in.parser.options_json = "{\"pattern\":\"^(?<ts>\\\\S+) (?<event>\\\\S+)(?: "
					 "install=(?<install_id>\\\\S+) currency=(?<currency>\\\\S+))?\"}";
		in.parser.on_mismatch = ON_MISMATCH_SKIP;
		in.include_lines = include_lines;
		in.ninclude_lines = 2;
		in.id_fields = id_fields;
		in.nid_fields = 1;
		break;
	}
	return in;
}

static void map_lines(struct mapper *m, struct eventid_file *idf, const char *s, size_t n, struct buf *out)
{
	const char *first = s, *flf = memchr(s, '\n', n);
	size_t first_len = flf ? (size_t)(flf - s) : n;
	char reason[256];
	uint64_t offset = 0;

	while (n) {
		const char *lf = memchr(s, '\n', n);
		size_t l = lf ? (size_t)(lf - s) : n;
		struct line_src src = { s, l, offset, idf, first, first_len };
		int r;

		buf_reset(out);
		(void)buf_puts(out, PREFIX);
		r = mapper_process(m, &src, out, reason, sizeof(reason));
		if (r == MAP_EVENT)
			fuzz_check_event(out->data + 1, out->len - 1);
		else if (out->len != 1 || (r >= 0 && ((r != MAP_SKIP && r != MAP_REJECT) || !reason[0])))
			abort();
		offset += lf ? l + 1 : l;
		n -= lf ? l + 1 : l;
		s += lf ? l + 1 : l;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_input in;
	struct mapper *m = NULL;
	struct eventid_file *idf;
	const char *s = (const char *)data + 1, *lf;
	char err[512], fp[65];
	struct buf out;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	setenv("ONSIDE_TEST_NOW", "2027-01-01T00:30:00Z", 1); /* year-less times: one year on every replay */
	in = make_input(data[0] % 7);
	if (mapper_create(&in, NS, &m, err, sizeof(err)) != 0)
		abort();
	lf = memchr(s, '\n', size - 1);
	eventid_fingerprint(s, lf ? (size_t)(lf - s) : size - 1, fp);
	idf = eventid_file_new(NS, strlen(NS), in.name, strlen(in.name), fp);
	if (!idf)
		abort();
	buf_init(&out, 1 << 20);
	map_lines(m, idf, s, size - 1, &out);
	buf_free(&out);
	eventid_file_free(idf);
	mapper_free(m);
	return 0;
}
