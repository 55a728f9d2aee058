/* The configuration loader: defaults, every value type, credentials, and the exact text and position
 * of every diagnostic a user would see from `onside-agent check`. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define EVENT_FLOW "    event: {event_name: \"${event}\", event_datetime: \"${ts}\", installation_id: \"${iid}\"}\n"
#define ONE_INPUT "inputs:\n  - name: shop\n    paths: [/var/log/shop.log]\n" EVENT_FLOW

static char tmpdir[] = "/tmp/onside-test-config-XXXXXX";

static const char *data_path(const char *name)
{
	static char path[PATH_MAX];
	const char *dir = getenv("ONSIDE_TEST_DATA");

	snprintf(path, sizeof(path), "%s/config/%s", dir ? dir : "tests/data", name);
	return path;
}

/* Writes a file under tmpdir with the given mode and returns its path (static storage, one per
 * slot so that a test can hold a config and a password file at once). */
static const char *write_file(int slot, const char *name, const char *text, mode_t mode)
{
	static char paths[2][PATH_MAX];
	int fd;

	snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", tmpdir, name);
	unlink(paths[slot]);
	fd = open(paths[slot], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return paths[slot];
}

/* Loads path and asserts that it fails with exactly the given errors, each "PATH" + suffix. */
static void expect_errors(const char *path, int flags, const char *const *suffixes, size_t n)
{
	struct config_diag d = { 0 };
	struct config *c = (struct config *)&d; /* must stay untouched */
	char want[1024];

	assert_int_equal(config_load(path, flags, &c, &d), -EINVAL);
	assert_ptr_equal(c, (struct config *)&d);
	for (size_t i = 0; i < n && i < d.nerrors; i++) {
		snprintf(want, sizeof(want), "%s%s", path, suffixes[i]);
		assert_string_equal(d.errors[i], want);
	}
	assert_int_equal(d.nerrors, n);
	config_diag_free(&d);
}

#define EXPECT_FIXTURE(name, ...)                                                              \
	do {                                                                                   \
		static const char *const want_[] = { __VA_ARGS__ };                            \
		expect_errors(data_path(name), 0, want_, sizeof(want_) / sizeof(want_[0]));    \
	} while (0)

static struct config *load_ok(const char *path, int flags, struct config_diag *d)
{
	struct config *c = NULL;

	assert_int_equal(config_load(path, flags, &c, d), 0);
	assert_non_null(c);
	assert_int_equal(d->nerrors, 0);
	return c;
}

static void expected_namespace(char *buf, size_t len)
{
	FILE *f = fopen("/etc/machine-id", "r");
	char *p = NULL;

	if (f) {
		p = fgets(buf, (int)len, f);
		fclose(f);
	}
	if (p)
		buf[strcspn(buf, " \t\r\n")] = '\0';
	if (!p || !buf[0])
		assert_int_equal(gethostname(buf, len), 0);
}

/* ---- valid files ---- */

static void test_bundled_config(void **state)
{
	char path[PATH_MAX], ns[256];
	const char *src = getenv("ONSIDE_SOURCE_DIR");
	struct config_diag d = { 0 };
	struct config *c;
	struct config_input *in;

	snprintf(path, sizeof(path), "%s/config/agent.yaml", src ? src : ".");
	c = load_ok(path, 0, &d);
	assert_int_equal(d.nwarnings, 0);
	assert_string_equal(c->path, path);
	assert_string_equal(c->endpoint.url, CONFIG_DEFAULT_URL);
	assert_string_equal(c->endpoint.username, "acme");
	assert_string_equal(c->endpoint.password_file, "/etc/onside-agent/password");
	assert_null(c->endpoint.password); /* not read without CONFIG_NEED_CREDENTIALS */
	assert_null(c->endpoint.password_env);
	assert_false(c->endpoint.password_inline);
	assert_null(c->endpoint.ca_file);
	assert_int_equal(c->endpoint.timeout_ms, 30000);
	assert_false(c->endpoint.allow_insecure_http);
	assert_string_equal(c->agent.state_dir, "/var/lib/onside-agent");
	expected_namespace(ns, sizeof(ns));
	assert_string_equal(c->agent.id_namespace, ns);
	assert_int_equal(c->agent.shutdown_timeout_ms, 10000);
	assert_int_equal(c->agent.log_level, 2);
	assert_int_equal(c->batch.max_events, 1000);
	assert_int_equal(c->batch.max_bytes, 999999);
	assert_int_equal(c->batch.flush_interval_ms, 1000);
	assert_int_equal(c->batch.max_in_flight, 0); /* auto */
	assert_int_equal(c->batch.max_in_flight_ceiling, 32);
	assert_int_equal(c->retry.initial_backoff_ms, 1000);
	assert_int_equal(c->retry.max_backoff_ms, 300000);
	assert_int_equal(c->ninputs, 1);
	in = &c->inputs[0];
	assert_string_equal(in->name, "purchases");
	assert_int_equal(in->npaths, 1);
	assert_string_equal(in->paths[0], "/var/log/shop/purchases.log");
	assert_int_equal(in->nexclude, 0);
	assert_int_equal(in->start_at, START_AT_BEGINNING);
	assert_int_equal(in->max_line_bytes, 65536);
	assert_int_equal(in->rotate_wait_ms, 5000);
	assert_string_equal(in->parser.type, "json");
	assert_null(in->parser.plugin_path);
	assert_string_equal(in->parser.options_json, "{}");
	assert_int_equal(in->nmatch, 1);
	assert_string_equal(in->match[0].field, "event");
	assert_string_equal(in->match[0].pattern, "^purchase_");
	assert_string_equal(in->event_name, "${event}");
	assert_string_equal(in->event_datetime, "${ts}");
	assert_string_equal(in->installation_id, "${install_id}");
	assert_null(in->event_id);
	assert_int_equal(in->ntime_formats, 1);
	assert_string_equal(in->time_formats[0], "iso8601");
	assert_int_equal(in->parser.on_mismatch, ON_MISMATCH_DEAD_LETTER);
	assert_int_equal(in->ninclude_lines, 0);
	assert_int_equal(in->nexclude_lines, 0);
	assert_string_equal(in->timezone, "UTC");
	assert_int_equal(in->nid_fields, 1);
	assert_string_equal(in->id_fields[0], "order_id");
	assert_int_equal(in->payload_mode, PAYLOAD_LIST);
	assert_int_equal(in->npayload, 3);
	assert_string_equal(in->payload[0].name, "order_id");
	assert_null(in->payload[0].tmpl);
	assert_string_equal(in->payload[1].name, "currency");
	assert_string_equal(in->payload[2].name, "amount");
	config_free(c);
	config_diag_free(&d);
}

static void test_minimal_defaults(void **state)
{
	struct config_diag d = { 0 };
	struct config *c = load_ok(data_path("minimal.yaml"), 0, &d);
	struct config_input *in = &c->inputs[0];

	assert_int_equal(d.nwarnings, 0);
	assert_string_equal(c->endpoint.url, CONFIG_DEFAULT_URL);
	assert_null(c->endpoint.username);
	assert_null(c->endpoint.password_file);
	assert_null(c->endpoint.password);
	assert_int_equal(c->agent.log_level, 2);
	assert_int_equal(c->batch.max_events, 1000);
	assert_int_equal(c->batch.max_in_flight, 0); /* auto */
	assert_int_equal(c->batch.max_in_flight_ceiling, 32);
	assert_int_equal(c->retry.max_backoff_ms, 300000);
	assert_int_equal(c->ninputs, 1);
	assert_string_equal(in->name, "shop");
	assert_int_equal(in->npaths, 1); /* a single string is a list of one */
	assert_string_equal(in->paths[0], "/var/log/shop/*.log");
	assert_string_equal(in->parser.type, "json");
	assert_string_equal(in->parser.options_json, "{}");
	assert_int_equal(in->nmatch, 0);
	assert_int_equal(in->nid_fields, 0);
	assert_int_equal(in->payload_mode, PAYLOAD_LIST);
	assert_int_equal(in->npayload, 0);
	assert_int_equal(in->max_line_bytes, 64 * 1024);
	assert_int_equal(in->rotate_wait_ms, 5000);
	config_free(c);
	config_diag_free(&d);
}

/* full.yaml names the example plugin at its packaged path; the loader loads plugins to check them,
 * so the test points it at the one the build made. */
static const char *full_yaml_with_built_plugin(void)
{
	static const char packaged[] = "/usr/lib/onside-agent/parsers/libonside-kv.so";
	const char *dir = getenv("ONSIDE_PLUGIN_DIR");
	char text[16384], out[17408], plugin[PATH_MAX];
	FILE *f = fopen(data_path("full.yaml"), "r");
	size_t n;
	char *at;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	snprintf(plugin, sizeof(plugin), "%s/libonside-kv.so", dir ? dir : ".");
	at = strstr(text, packaged);
	assert_non_null(at);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, plugin, at + strlen(packaged));
	/* and ca_file at a certificate that exists (the loader reads its certificates) */
	at = strstr(out, "/etc/ssl/ca.pem");
	assert_non_null(at);
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - out), out, data_path("ca.pem"),
		 at + strlen("/etc/ssl/ca.pem"));
	return write_file(0, "full.yaml", text, 0644);
}

static void test_missing_ca_file_and_plugin(void **state)
{
	(void)state;
	EXPECT_FIXTURE("full.yaml", ":6:12: endpoint.ca_file: cannot read /etc/ssl/ca.pem: No such file or directory",
		       ":62:13: inputs[2].parser.path: plugin /usr/lib/onside-agent/parsers/libonside-kv.so: "
		       "cannot stat: No such file or directory");
}

static void test_full_values(void **state)
{
	struct config_diag d = { 0 };
	struct config *c = load_ok(full_yaml_with_built_plugin(), 0, &d);
	struct config_input *in = &c->inputs[0];

	assert_int_equal(d.nwarnings, 0);
	assert_string_equal(c->endpoint.url, "http://127.0.0.1:8080/v1/events");
	assert_true(c->endpoint.allow_insecure_http);
	assert_string_equal(c->endpoint.password_env, "ONSIDE_TEST_PASSWORD");
	assert_string_equal(c->endpoint.ca_file, data_path("ca.pem"));
	assert_int_equal(c->endpoint.timeout_ms, 2500);
	assert_string_equal(c->agent.state_dir, "/tmp/onside-state");
	assert_string_equal(c->agent.id_namespace, "shop-cluster");
	assert_int_equal(c->agent.shutdown_timeout_ms, 0);
	assert_int_equal(c->agent.log_level, 3);
	assert_int_equal(c->batch.max_events, 1);
	assert_int_equal(c->batch.max_bytes, 65536);
	assert_int_equal(c->batch.flush_interval_ms, 250);
	assert_int_equal(c->batch.max_in_flight, 16);
	assert_int_equal(c->retry.initial_backoff_ms, 2000);
	assert_int_equal(c->retry.max_backoff_ms, 3600000);
	assert_int_equal(c->ninputs, 4);

	assert_string_equal(in->name, "web.access-log_1");
	assert_int_equal(in->npaths, 2);
	assert_string_equal(in->paths[1], "/var/log/web/*.access.log");
	assert_int_equal(in->nexclude, 1);
	assert_string_equal(in->exclude[0], "*.gz");
	assert_int_equal(in->start_at, START_AT_END);
	assert_int_equal(in->max_line_bytes, 1000000);
	assert_int_equal(in->rotate_wait_ms, 60000);
	assert_string_equal(in->parser.type, "regex");
	assert_string_equal(in->parser.options_json,
			    "{\"pattern\":\"^(?<ts>\\\\S+) (?<event>\\\\S+) install=(?<iid>\\\\S+)/path$\"}");
	assert_int_equal(in->nmatch, 2);
	assert_string_equal(in->match[1].field, "a.b");
	assert_string_equal(in->match[1].pattern, "x|y");
	assert_string_equal(in->event_name, "purchase_${event}");
	assert_string_equal(in->event_id, "${id}");
	assert_int_equal(in->ntime_formats, 1);
	assert_string_equal(in->time_formats[0], "%d/%b/%Y:%H:%M:%S");
	assert_string_equal(in->timezone, "Europe/Berlin");
	assert_int_equal(in->nid_fields, 2);
	assert_string_equal(in->id_fields[1], "line");
	assert_int_equal(in->payload_mode, PAYLOAD_MAP);
	assert_int_equal(in->npayload, 2);
	assert_string_equal(in->payload[0].name, "total");
	assert_string_equal(in->payload[0].tmpl, "${amount}");
	assert_string_equal(in->payload[1].name, "label");
	assert_string_equal(in->payload[1].tmpl, "order ${order}");

	in = &c->inputs[1];
	assert_string_equal(in->parser.type, "csv");
	assert_string_equal(in->parser.options_json,
			    "{\"columns\":[\"ts\",\"event\",\"iid\"],\"delimiter\":\";\",\"header\":true}");
	assert_int_equal(in->ntime_formats, 1);
	assert_string_equal(in->time_formats[0], "unix_ms");
	assert_true(in->parser.first_line);
	assert_int_equal(in->payload_mode, PAYLOAD_ALL);

	in = &c->inputs[2];
	assert_string_equal(in->parser.type, "plugin");
	assert_non_null(strstr(in->parser.plugin_path, "/libonside-kv.so"));
	assert_true(in->parser.plugin_path[0] == '/');
	assert_string_equal(in->parser.options_json,
			    "{\"sep\":\"=\",\"quoted_number\":\"42\",\"count\":3,\"ratio\":-1.50e3,\"strict\":true,"
			    "\"nothing\":null,\"hex\":\"0x1F\",\"list\":[1,\"two\",false],\"nested\":{\"a\":{\"b\":null}}}");
	assert_int_equal(in->ntime_formats, 1);
	assert_string_equal(in->time_formats[0], "unix");
	assert_true(in->parser.first_line);
	assert_int_equal(in->payload_mode, PAYLOAD_ALL);

	in = &c->inputs[3];
	assert_string_equal(in->parser.type, "logfmt");
	assert_string_equal(in->parser.options_json, "{}");
	config_free(c);
	config_diag_free(&d);
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = { { "250ms", 250 }, { "1s", 1000 }, { "5m", 300000 }, { "1h", 3600000 },
		     { "2d", 172800000 }, { "0s", 0 }, { "18446744073709551615ms", UINT64_MAX } };
	static const char *const bad[] = { "", "5", "-1s", "1.5s", "1 s", " 1s", "1S", "1sec", "s",
					   "213503982335d", "18446744073709551616ms", "0x10s" };
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(config_parse_duration(good[i].s, &v), 0);
		assert_int_equal(v, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		assert_int_equal(config_parse_duration(bad[i], &v), -EINVAL);
		assert_int_equal(v, 7); /* untouched on failure */
	}
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t bytes;
	} good[] = { { "1234", 1234 }, { "64KiB", 65536 }, { "1MiB", 1048576 }, { "1GiB", 1073741824 },
		     { "64KB", 64000 }, { "1MB", 1000000 }, { "2GB", 2000000000 }, { "0", 0 } };
	static const char *const bad[] = { "", "-1", "1.5MiB", "64kib", "64Kb", "1 KiB", "KiB", "1TiB",
					   "18446744073709551616", "17179869184GiB" };
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(config_parse_size(good[i].s, &v), 0);
		assert_int_equal(v, good[i].bytes);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		assert_int_equal(config_parse_size(bad[i], &v), -EINVAL);
		assert_int_equal(v, 7);
	}
}

/* ---- invalid files: the exact messages, positions and order ---- */

static void test_unknown_keys(void **state)
{
	EXPECT_FIXTURE("unknown_key.yaml", ":1:1: unknown key \"endpont\" at the top level; did you mean \"endpoint\"?",
		       ":4:3: unknown key \"max_event\" in batch; did you mean \"max_events\"?",
		       ":10:7: unknown key \"columns\" in inputs[0].parser (type json takes: type, on_mismatch)",
		       ":15:7: unknown key \"payload_fields\" in inputs[0].event");
}

static void test_wrong_types(void **state)
{
	EXPECT_FIXTURE("wrong_type.yaml",
		       ":2:24: endpoint.allow_insecure_http: expected true or false, got \"maybe\"",
		       ":3:8: agent: expected a mapping, got a sequence",
		       ":5:15: batch.max_events: expected an integer, got \"many\"",
		       ":6:18: batch.max_in_flight: expected auto or an integer, got a mapping",
		       ":9:12: inputs[0].paths: expected a list of strings, got a mapping",
		       ":10:15: inputs[0].start_at: must be one of beginning, end, got \"middle\"",
		       ":15:18: inputs[0].event.id_fields: expected a list of strings, got a scalar");
}

static void test_out_of_range(void **state)
{
	EXPECT_FIXTURE("out_of_range.yaml", ":2:15: batch.max_events: must be between 1 and 1000, got 5000",
		       ":3:14: batch.max_bytes: must be between 1024 and 999999, got 1MB",
		       ":4:18: batch.max_in_flight: must be auto or between 1 and 64, got 0",
		       ":5:19: batch.flush_interval: must be at least 1ms, got 0s",
		       ":8:16: retry.max_backoff: must be at least retry.initial_backoff (10m), got 5m",
		       ":12:21: inputs[0].max_line_bytes: must be between 1KiB and 64MiB, got 128MiB");
}

static void test_bad_durations(void **state)
{
	EXPECT_FIXTURE(
		"bad_duration.yaml",
		":2:12: endpoint.timeout: invalid duration \"30\" (expected a number with a unit: ms, s, m, h or d)",
		":4:21: agent.shutdown_timeout: invalid duration \"-1s\" (expected a number with a unit: ms, s, m, h or d)",
		":6:19: batch.flush_interval: invalid duration \"1.5s\" (expected a number with a unit: ms, s, m, h or d)",
		":8:16: retry.max_backoff: duration \"99999999999999999999h\" is too large",
		":12:18: inputs[0].rotate_wait: invalid duration \"5 s\" (expected a number with a unit: ms, s, m, h or d)");
}

static void test_bad_sizes(void **state)
{
	EXPECT_FIXTURE(
		"bad_size.yaml",
		":2:14: batch.max_bytes: invalid size \"1.5MiB\" (expected bytes, or a number with a unit: KiB, MiB, GiB, KB, MB or GB)",
		":6:21: inputs[0].max_line_bytes: invalid size \"64Kb\" (expected bytes, or a number with a unit: KiB, MiB, GiB, KB, MB or GB)",
		":13:21: inputs[1].max_line_bytes: size \"99999999999999GiB\" is too large");
}

static void test_http_refused(void **state)
{
	EXPECT_FIXTURE("http_url.yaml",
		       ":2:8: endpoint.url: http:// is refused unless endpoint.allow_insecure_http is true");
	EXPECT_FIXTURE("bad_url.yaml", ":2:8: endpoint.url: unsupported scheme \"ftp\" (expected https)");
}

static void test_url_forms(void **state)
{
	static const char *const want_plain[] = {
		":2:8: endpoint.url: expected an https:// URL, got \"onside.io/events\"" };
	static const char *const want_host[] = { ":2:8: endpoint.url: no host in \"https:///events\"" };
	static const char *const want_creds[] = {
		":2:8: endpoint.url: must not contain credentials; use endpoint.username and a password source" };
	struct config_diag d = { 0 };
	struct config *c;
	const char *p;

	p = write_file(0, "url.yaml", "endpoint:\n  url: onside.io/events\n" ONE_INPUT, 0600);
	expect_errors(p, 0, want_plain, 1);
	p = write_file(0, "url.yaml", "endpoint:\n  url: https:///events\n" ONE_INPUT, 0600);
	expect_errors(p, 0, want_host, 1);
	/* the password inside the URL must not be echoed */
	p = write_file(0, "url.yaml", "endpoint:\n  url: https://acme:hunter2@onside.io/events\n" ONE_INPUT, 0600);
	expect_errors(p, 0, want_creds, 1);
	p = write_file(0, "url.yaml", "endpoint:\n  url: HTTPS://onside.io/v1\n" ONE_INPUT, 0600);
	c = load_ok(p, 0, &d);
	assert_string_equal(c->endpoint.url, "HTTPS://onside.io/v1");
	config_free(c);
	config_diag_free(&d);
}

static void test_max_in_flight_auto_or_a_number(void **state)
{
	static const char *const want_word[] = {
		":2:18: batch.max_in_flight: expected auto or an integer, got \"many\"" };
	static const char *const want_big[] = {
		":2:18: batch.max_in_flight: must be auto or between 1 and 64, got 65" };
	static const char *const want_ceiling[] = {
		":2:26: batch.max_in_flight_ceiling: must be between 1 and 64, got 0" };
	struct config_diag d = { 0 };
	struct config *c;
	const char *p;

	p = write_file(0, "mif.yaml", "batch:\n  max_in_flight: auto\n  max_in_flight_ceiling: 8\n" ONE_INPUT, 0600);
	c = load_ok(p, 0, &d);
	assert_int_equal(c->batch.max_in_flight, 0);
	assert_int_equal(c->batch.max_in_flight_ceiling, 8);
	assert_int_equal(d.nwarnings, 0);
	config_free(c);
	config_diag_free(&d);

	p = write_file(0, "mif.yaml", "batch:\n  max_in_flight: 64\n" ONE_INPUT, 0600);
	c = load_ok(p, 0, &d);
	assert_int_equal(c->batch.max_in_flight, 64);
	config_free(c);
	config_diag_free(&d);

	/* the ceiling is auto's only: with a fixed number it is said to be ignored */
	p = write_file(0, "mif.yaml", "batch:\n  max_in_flight: 4\n  max_in_flight_ceiling: 16\n" ONE_INPUT, 0600);
	c = load_ok(p, 0, &d);
	assert_int_equal(c->batch.max_in_flight, 4);
	assert_int_equal(d.nwarnings, 1);
	assert_non_null(strstr(d.warnings[0], "mif.yaml:3:26: batch.max_in_flight_ceiling: ignored: "
				   "batch.max_in_flight is a fixed number, not auto"));
	config_free(c);
	config_diag_free(&d);

	p = write_file(0, "mif.yaml", "batch:\n  max_in_flight: many\n" ONE_INPUT, 0600);
	expect_errors(p, 0, want_word, 1);
	p = write_file(0, "mif.yaml", "batch:\n  max_in_flight: 65\n" ONE_INPUT, 0600);
	expect_errors(p, 0, want_big, 1);
	p = write_file(0, "mif.yaml", "batch:\n  max_in_flight_ceiling: 0\n" ONE_INPUT, 0600);
	expect_errors(p, 0, want_ceiling, 1);
}

static void test_two_password_sources(void **state)
{
	EXPECT_FIXTURE("two_passwords.yaml",
		       ":4:18: endpoint.password_file: conflicts with endpoint.password_env; set exactly one password source");
}

static void test_missing_inputs(void **state)
{
	EXPECT_FIXTURE("missing_inputs.yaml", ":1:1: missing required key \"inputs\"");
	EXPECT_FIXTURE("empty_inputs.yaml", ":1:9: inputs: must not be empty");
}

static void test_duplicate_input_name(void **state)
{
	EXPECT_FIXTURE("duplicate_input.yaml",
		       ":8:11: inputs[2].name: duplicate input name \"shop\" (first at line 2)");
}

static void test_bad_input_name(void **state)
{
	EXPECT_FIXTURE("bad_input_name.yaml", ":2:11: inputs[0].name: must match [a-z0-9_.-]+, got \"Shop Purchases\"",
		       ":5:11: inputs[1].name: must match [a-z0-9_.-]+, got \"\"");
}

static void test_bad_regex(void **state)
{
	EXPECT_FIXTURE("bad_regex.yaml",
		       ":6:16: inputs[0].parser.pattern: invalid regex at offset 24: missing closing parenthesis",
		       ":8:14: inputs[0].match.event: invalid regex at offset 0: quantifier does not follow a repeatable item",
		       ":12:36: inputs[1].parser.pattern: the pattern has no named group; name each field with (?<name>...)");
}

static void test_bad_template(void **state)
{
	/* columns point inside the string where the scalar allows it (plain, quoted on one line), and
	 * at the scalar for a folded block */
	EXPECT_FIXTURE("bad_template.yaml", ":5:28: inputs[0].event.event_name: unterminated \"${\"",
		       ":6:27: inputs[0].event.event_datetime: empty field name in \"${}\"",
		       ":7:24: inputs[0].event.installation_id: unterminated \"${\"",
		       ":10:21: inputs[0].event.payload.total: unterminated \"${\"");
}

static void test_bad_timezone(void **state)
{
	EXPECT_FIXTURE(
		"bad_timezone.yaml",
		":8:17: inputs[0].event.timezone: unknown time zone \"Mars/Olympus_Mons\" (expected UTC or an IANA name from /usr/share/zoneinfo)",
		":9:20: inputs[0].event.time_format: must be iso8601, unix, unix_ms or a strptime format with % directives, got \"yyyy-mm-dd\"",
		":16:17: inputs[1].event.timezone: unknown time zone \"../../../etc/passwd\" (expected UTC or an IANA name from /usr/share/zoneinfo)");
}

static void test_relative_paths(void **state)
{
	EXPECT_FIXTURE("relative_path.yaml",
		       ":2:14: agent.state_dir: must be an absolute path, got \"var/lib/onside-agent\"",
		       ":5:32: inputs[0].paths[1]: must be an absolute path, got \"logs/purchases.log\"",
		       ":6:34: inputs[0].parser.path: must be an absolute path, got \"libmyformat.so\"");
}

static void test_syntax_errors(void **state)
{
	EXPECT_FIXTURE("syntax_error.yaml",
		       ":3:2: did not find expected key (while parsing a block mapping at line 1, column 1)");
	EXPECT_FIXTURE("syntax_error2.yaml",
		       ":4:1: found unexpected end of stream (while scanning a quoted scalar at line 2, column 11)");
	EXPECT_FIXTURE("multi_document.yaml", ":6:1: only one YAML document is allowed in the configuration");
}

static void test_three_errors_in_order(void **state)
{
	EXPECT_FIXTURE(
		"three_errors.yaml",
		":2:12: endpoint.timeout: invalid duration \"soon\" (expected a number with a unit: ms, s, m, h or d)",
		":4:15: batch.max_events: must be between 1 and 1000, got 0",
		":9:5: unknown key \"colour\" in inputs[0]");
}

static void test_empty_and_shapeless(void **state)
{
	EXPECT_FIXTURE("empty.yaml", ": the configuration is empty");
	EXPECT_FIXTURE("comments_only.yaml", ": the configuration is empty");
	EXPECT_FIXTURE("not_a_mapping.yaml", ":1:1: expected a mapping at the top level, got a sequence");
	EXPECT_FIXTURE("duplicate_key.yaml", ":3:3: duplicate key \"max_events\" in batch (first at line 2)");
}

static void test_missing_required(void **state)
{
	EXPECT_FIXTURE("missing_required.yaml", ":2:5: inputs[0]: missing required key \"name\"",
		       ":4:7: inputs[0].event: missing required key \"installation_id\"",
		       ":6:4: inputs[1]: expected a mapping, got an empty value",
		       ":7:5: inputs[2]: expected a mapping, got a scalar");
}

static void test_bad_parser_and_payload(void **state)
{
	EXPECT_FIXTURE("bad_parser.yaml",
		       ":4:20: inputs[0].parser.type: must be one of json, regex, logfmt, csv, ltsv, plugin, got \"xml\"",
		       ":8:13: inputs[1].parser: missing required key \"columns\" (or set header: true)",
		       ":8:36: inputs[1].parser.delimiter: must be a single byte, got \"::\"",
		       ":13:7: inputs[2].parser: missing required key \"path\"",
		       ":14:16: inputs[2].parser.options: expected a mapping, got a sequence",
		       ":22:20: inputs[3].event.payload[1]: \"*\" must be the only item",
		       ":22:25: inputs[3].event.payload[2]: duplicate field \"a\"",
		       ":22:31: inputs[3].event.payload[4]: duplicate field \"a\"");
}

/* A built-in's own keys (here ltsv's, declared in parsers/ltsv.c) are read, checked and placed like
 * every other key: the options JSON its create() gets, and each problem at its key's position. */
static void test_ltsv_keys(void **state)
{
	static const char *const want[] = {
		":7:38: inputs[1].parser.delimiter: must differ from label_delimiter",
		":9:44: inputs[2].parser.label_delimiter: must differ from delimiter",
		":11:38: inputs[3].parser.delimiter: must be a single byte, got \"::\"",
		":11:61: inputs[3].parser.label_delimiter: must be a single byte, got \"\"",
		":11:65: unknown key \"columns\" in inputs[3].parser (type ltsv takes: type, on_mismatch, delimiter, "
		"label_delimiter)",
		":12:60: inputs[4].parser.delimiter: expected a string, got a sequence",
	};
	struct config_diag d = { 0 };
	struct config *c;
	const char *p = write_file(0, "ltsv.yaml",
				   "inputs:\n"
				   "  - {name: a, paths: [/l], event: {event_name: e, event_datetime: t, installation_id: i},\n"
				   "     parser: {type: ltsv}}\n"
				   "  - {name: b, paths: [/l], event: {event_name: e, event_datetime: t, installation_id: i},\n"
				   "     parser: {type: ltsv, delimiter: ',', label_delimiter: '=', on_mismatch: skip}}\n",
				   0600);

	c = load_ok(p, 0, &d);
	assert_string_equal(c->inputs[0].parser.type, "ltsv");
	assert_string_equal(c->inputs[0].parser.options_json, "{\"delimiter\":\"\\t\",\"label_delimiter\":\":\"}");
	assert_false(c->inputs[0].parser.first_line);
	assert_string_equal(c->inputs[1].parser.options_json, "{\"delimiter\":\",\",\"label_delimiter\":\"=\"}");
	assert_int_equal(c->inputs[1].parser.on_mismatch, ON_MISMATCH_SKIP);
	config_free(c);
	config_diag_free(&d);

	/* a conflict is put at the delimiter that was changed */
	p = write_file(0, "bad_ltsv.yaml",
		       "inputs:\n"
		       "  - name: a\n"
		       "    paths: [/l]\n"
		       "    event: {event_name: e, event_datetime: t, installation_id: i}\n"
		       "    parser: {type: ltsv}\n"
		       "  - {name: b, paths: [/l], event: {event_name: e, event_datetime: t, installation_id: i},\n"
		       "     parser: {type: ltsv, delimiter: ':'}}\n"
		       "  - {name: c, paths: [/l], event: {event_name: e, event_datetime: t, installation_id: i},\n"
		       "     parser: {type: ltsv, label_delimiter: \"\\t\"}}\n"
		       "  - {name: d, paths: [/l], event: {event_name: e, event_datetime: t, installation_id: i},\n"
		       "     parser: {type: ltsv, delimiter: '::', label_delimiter: '', columns: [a]}}\n"
		       "  - {name: e, paths: [/l], parser: {type: ltsv, delimiter: [a]}, event: {event_name: e, "
		       "event_datetime: t, installation_id: i}}\n",
		       0600);
	expect_errors(p, 0, want, sizeof(want) / sizeof(want[0]));
}

static void test_missing_file(void **state)
{
	struct config_diag d = { 0 };
	struct config *c = NULL;
	char want[PATH_MAX + 64];
	const char *p = data_path("does-not-exist.yaml");

	assert_int_equal(config_load(p, 0, &c, &d), -ENOENT);
	assert_null(c);
	assert_int_equal(d.nerrors, 1);
	snprintf(want, sizeof(want), "%s: cannot read the configuration: No such file or directory", p);
	assert_string_equal(d.errors[0], want);
	config_diag_free(&d);

	assert_int_equal(config_load(tmpdir, 0, &c, &d), -EISDIR);
	snprintf(want, sizeof(want), "%s: cannot read the configuration: Is a directory", tmpdir);
	assert_string_equal(d.errors[0], want);
	config_diag_free(&d);
	assert_int_equal(d.nerrors, 0);
	config_free(NULL);
	config_diag_free(NULL);
}

/* ---- credentials ---- */

static void assert_no_secret(const struct config_diag *d, const char *secret)
{
	for (size_t i = 0; i < d->nerrors; i++)
		assert_null(strstr(d->errors[i], secret));
	for (size_t i = 0; i < d->nwarnings; i++)
		assert_null(strstr(d->warnings[i], secret));
}

/* time_format as a list, the line filters and on_mismatch; positions of templates kept for later
 * messages (check --sample). */
static void test_line_filters_time_lists_and_positions(void **state)
{
	struct config_diag d = { 0 };
	struct config *c;
	struct config_input *in;
	const char *p = write_file(0, "lists.yaml",
				   "inputs:\n  - name: shop\n    paths: [/var/log/shop.log]\n"
				   "    include_lines: purchase\n    exclude_lines: ['^#', debug]\n"
				   "    parser: {type: regex, pattern: '(?<ts>\\S+)', on_mismatch: skip}\n"
				   "    match: {ts: x}\n"
				   "    event:\n      event_name: \"p_${ts}\"\n      event_datetime: ${ts}\n"
				   "      installation_id: ${iid}\n"
				   "      time_format: [iso8601, '%b %e %H:%M:%S']\n      id_fields: [a, b]\n"
				   "      payload: {total: \"${amount}\", n: \"x ${qty}\"}\n", 0600);

	c = load_ok(p, 0, &d);
	in = &c->inputs[0];
	assert_int_equal(in->ninclude_lines, 1);
	assert_string_equal(in->include_lines[0], "purchase");
	assert_int_equal(in->nexclude_lines, 2);
	assert_string_equal(in->exclude_lines[1], "debug");
	assert_int_equal(in->parser.on_mismatch, ON_MISMATCH_SKIP);
	assert_false(in->parser.first_line);
	assert_int_equal(in->ntime_formats, 2);
	assert_string_equal(in->time_formats[1], "%b %e %H:%M:%S");
	/* the template "p_${ts}" is at line 9, column 19 (its quote); ${ts} is its byte 2 */
	assert_int_equal(in->event_name_pos.line, 9);
	assert_int_equal(in->event_name_pos.col, 19);
	assert_int_equal(config_pos_col(&in->event_name_pos, 2), 22);
	assert_int_equal(in->event_datetime_pos.line, 10);
	assert_int_equal(config_pos_col(&in->event_datetime_pos, 0), 23);
	assert_int_equal(in->id_fields_pos[1].line, 13);
	assert_int_equal(in->id_fields_pos[1].col, 22);
	assert_int_equal(in->payload_pos[1].line, 14);
	assert_int_equal(config_pos_col(&in->payload_pos[1], 2), 43);
	assert_int_equal(in->match_pos[0].line, 7);
	assert_int_equal(in->match_pos[0].col, 13);
	config_free(c);
	config_diag_free(&d);
}

static void test_bad_filters_and_time_formats(void **state)
{
	static const char *const want[] = {
		":4:24: inputs[0].include_lines[1]: invalid regex at offset 1: missing closing parenthesis",
		":5:60: inputs[0].parser.on_mismatch: must be one of dead_letter, skip, got \"drop\"",
		":6:90: inputs[0].event.time_format: must not be empty",
	};
	const char *p = write_file(0, "badlists.yaml",
				   "inputs:\n  - name: shop\n    paths: [/var/log/shop.log]\n"
				   "    include_lines: [a, '(']\n"
				   "    parser: {type: regex, pattern: '(?<t>x)', on_mismatch: drop}\n"
				   "    event: {event_name: a, event_datetime: \"${t}\", installation_id: \"${t}\", time_format: []}\n",
				   0600);

	expect_errors(p, 0, want, sizeof(want) / sizeof(want[0]));
}

static void test_password_env(void **state)
{
	static const char *const want_unset[] = {
		":3:17: endpoint.password_env: environment variable ONSIDE_TEST_PW is not set" };
	static const char *const want_empty[] = {
		":3:17: endpoint.password_env: environment variable ONSIDE_TEST_PW is empty" };
	struct config_diag d = { 0 };
	struct config *c;
	const char *p = write_file(0, "env.yaml",
				   "endpoint:\n  username: acme\n  password_env: ONSIDE_TEST_PW\n" ONE_INPUT, 0600);

	setenv("ONSIDE_TEST_PW", "env-s3cret", 1);
	c = load_ok(p, CONFIG_NEED_CREDENTIALS, &d);
	assert_string_equal(c->endpoint.username, "acme");
	assert_string_equal(c->endpoint.password, "env-s3cret");
	assert_false(c->endpoint.password_inline);
	assert_int_equal(d.nwarnings, 0);
	config_free(c);
	config_diag_free(&d);

	setenv("ONSIDE_TEST_PW", "", 1);
	expect_errors(p, CONFIG_NEED_CREDENTIALS, want_empty, 1);
	unsetenv("ONSIDE_TEST_PW");
	expect_errors(p, CONFIG_NEED_CREDENTIALS, want_unset, 1);
	/* without CONFIG_NEED_CREDENTIALS (the parse command) nothing is read */
	c = load_ok(p, 0, &d);
	assert_null(c->endpoint.password);
	config_free(c);
	config_diag_free(&d);
}

/* A config whose password_file is tmpdir/pw; returns the config's path. */
static const char *password_file_config(const char *content, mode_t mode)
{
	char text[PATH_MAX + 256];

	snprintf(text, sizeof(text), "endpoint:\n  username: acme\n  password_file: %s/pw\n" ONE_INPUT, tmpdir);
	if (content)
		write_file(1, "pw", content, mode);
	return write_file(0, "file.yaml", text, 0600);
}

static void test_password_file(void **state)
{
	/* what is odd about a password is told, never the password */
	static const char ws[] = "begins or ends with whitespace (or has more than one trailing newline)";
	static const char cr[] = "holds a carriage return (a file saved with Windows line ends?)";
	static const struct {
		const char *content;
		const char *password;
		const char *warning; /* NULL: none */
	} cases[] = { { "file-s3cret\n", "file-s3cret", NULL },
		      { "file-s3cret", "file-s3cret", NULL },
		      { "file-s3cret\n\n", "file-s3cret\n", ws }, /* exactly one newline is removed */
		      { " spaced pass", " spaced pass", ws },
		      { "pass\t\n", "pass\t", ws },
		      { "windows-pass\r\n", "windows-pass\r", cr } };
	struct config_diag d = { 0 };
	struct config *c;
	char want[PATH_MAX * 2];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = password_file_config(cases[i].content, 0600);

		c = load_ok(p, CONFIG_NEED_CREDENTIALS, &d);
		assert_string_equal(c->endpoint.password, cases[i].password);
		assert_int_equal(d.nwarnings, cases[i].warning ? 1 : 0);
		if (cases[i].warning) {
			snprintf(want, sizeof(want), "%s:3:18: endpoint.password_file: %s/pw %s, which is sent as part of "
				 "the password", p, tmpdir, cases[i].warning);
			assert_string_equal(d.warnings[0], want);
		}
		config_free(c);
		config_diag_free(&d);
	}
}

static void test_password_file_world_readable(void **state)
{
	struct config_diag d = { 0 };
	struct config *c;
	char want[PATH_MAX * 2];
	const char *p = password_file_config("hunter2-secret\n", 0644);

	c = load_ok(p, CONFIG_NEED_CREDENTIALS, &d);
	assert_string_equal(c->endpoint.password, "hunter2-secret");
	assert_int_equal(d.nwarnings, 1);
	snprintf(want, sizeof(want),
		 "%s:3:18: endpoint.password_file: %s/pw is readable by other users (mode 0644); run chmod o-r on it", p,
		 tmpdir);
	assert_string_equal(d.warnings[0], want);
	assert_no_secret(&d, "hunter2");
	config_free(c);
	config_diag_free(&d);
}

static void test_password_file_errors(void **state)
{
	char missing[PATH_MAX + 128], empty[PATH_MAX + 128];
	const char *const want_missing[] = { missing };
	const char *const want_empty[] = { empty };
	char pw[PATH_MAX];

	snprintf(pw, sizeof(pw), "%s/pw", tmpdir);
	unlink(pw);
	snprintf(missing, sizeof(missing), ":3:18: endpoint.password_file: cannot read %s: No such file or directory", pw);
	expect_errors(password_file_config(NULL, 0), CONFIG_NEED_CREDENTIALS, want_missing, 1);
	snprintf(empty, sizeof(empty), ":3:18: endpoint.password_file: %s is empty", pw);
	expect_errors(password_file_config("\n", 0600), CONFIG_NEED_CREDENTIALS, want_empty, 1);
}

static void test_inline_password(void **state)
{
	struct config_diag d = { 0 };
	struct config *c;
	char want[PATH_MAX + 256];
	const char *p = write_file(0, "inline.yaml",
				   "endpoint:\n  username: acme\n  password: \"inline-s3cret\"\n" ONE_INPUT, 0644);

	c = load_ok(p, CONFIG_NEED_CREDENTIALS, &d);
	assert_string_equal(c->endpoint.password, "inline-s3cret");
	assert_true(c->endpoint.password_inline);
	assert_int_equal(d.nwarnings, 2);
	snprintf(want, sizeof(want),
		 "%s: the configuration contains an inline password and is readable by other users (mode 0644); run chmod o-r on it",
		 p);
	assert_string_equal(d.warnings[0], want);
	snprintf(want, sizeof(want),
		 "%s:3:13: endpoint.password: inline password in the configuration; prefer password_file or password_env", p);
	assert_string_equal(d.warnings[1], want);
	assert_no_secret(&d, "s3cret");
	config_free(c);
	config_diag_free(&d);

	/* a wrongly typed secret is not echoed either */
	p = write_file(0, "inline.yaml", "endpoint:\n  password: [inline-s3cret]\n" ONE_INPUT, 0600);
	assert_int_equal(config_load(p, 0, &c, &d), -EINVAL);
	assert_int_equal(d.nerrors, 1);
	snprintf(want, sizeof(want), "%s:2:13: endpoint.password: expected a string, got a sequence", p);
	assert_string_equal(d.errors[0], want);
	assert_no_secret(&d, "s3cret");
	config_diag_free(&d);
}

static void test_credentials_required(void **state)
{
	static const char *const want[] = {
		":2:3: endpoint: missing required key \"username\"",
		":2:3: endpoint: missing a password source (password_file, password_env or password)" };
	static const char *const want_no_endpoint[] = {
		":1:1: endpoint: missing required key \"username\"",
		":1:1: endpoint: missing a password source (password_file, password_env or password)" };
	struct config_diag d = { 0 };
	struct config *c;
	const char *p = write_file(0, "nocreds.yaml", "endpoint:\n  timeout: 5s\n" ONE_INPUT, 0600);

	expect_errors(p, CONFIG_NEED_CREDENTIALS, want, 2);
	c = load_ok(p, 0, &d); /* parse needs neither */
	assert_int_equal(c->endpoint.timeout_ms, 5000);
	config_free(c);
	config_diag_free(&d);
	p = write_file(0, "nocreds.yaml", ONE_INPUT, 0600);
	expect_errors(p, CONFIG_NEED_CREDENTIALS, want_no_endpoint, 2);
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	static const char *const names[] = { "pw", "url.yaml", "env.yaml", "file.yaml", "inline.yaml", "nocreds.yaml",
					       "full.yaml" };
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir, names[i]);
		unlink(p);
	}
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundled_config),
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_full_values),
		cmocka_unit_test(test_missing_ca_file_and_plugin),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_max_in_flight_auto_or_a_number),
		cmocka_unit_test(test_bad_durations),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_http_refused),
		cmocka_unit_test(test_url_forms),
		cmocka_unit_test(test_two_password_sources),
		cmocka_unit_test(test_missing_inputs),
		cmocka_unit_test(test_duplicate_input_name),
		cmocka_unit_test(test_bad_input_name),
		cmocka_unit_test(test_bad_regex),
		cmocka_unit_test(test_bad_template),
		cmocka_unit_test(test_bad_timezone),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_three_errors_in_order),
		cmocka_unit_test(test_empty_and_shapeless),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_bad_parser_and_payload),
		cmocka_unit_test(test_ltsv_keys),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_password_env),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_password_file_world_readable),
		cmocka_unit_test(test_password_file_errors),
		cmocka_unit_test(test_inline_password),
		cmocka_unit_test(test_credentials_required),
		cmocka_unit_test(test_line_filters_time_lists_and_positions),
		cmocka_unit_test(test_bad_filters_and_time_formats),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
