/* The configuration: loaded from YAML with libyaml into a fresh, immutable struct config.
 * A reload loads a new one, validates it, and swaps it in; nothing modifies a loaded config. */
#ifndef ONSIDE_CONFIG_H
#define ONSIDE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/onside-agent/agent.yaml"
#define CONFIG_DEFAULT_URL "https://onside.io/attribution-api/v1/events"
#define CONFIG_MAX_IN_FLIGHT 64 /* fixed max_in_flight and max_in_flight_ceiling */

enum config_start_at { START_AT_BEGINNING = 0, START_AT_END = 1 };
enum config_payload_mode { PAYLOAD_LIST = 0, PAYLOAD_ALL = 1, PAYLOAD_MAP = 2 };
enum config_on_mismatch { ON_MISMATCH_DEAD_LETTER = 0, ON_MISMATCH_SKIP = 1 };

/* Where a value was in the file, for messages that come after the load (`check --sample`). */
struct config_pos {
	unsigned long line, col; /* 1-based, of the value's YAML node; 0 when unknown */
	size_t inner;  /* the value's first `inner` bytes are one column each in the file (one line,
			* ASCII, no escapes): byte i of the value is at col + quote + i */
	unsigned quote; /* 1 for a quoted scalar, else 0 */
};

/* The column of byte `at` of the value at p: inside the value when that can be known, else the
 * value's own column. */
unsigned long config_pos_col(const struct config_pos *p, size_t at);

struct config_match {
	char *field;   /* field name, e.g. "event" or "a.b" */
	char *pattern; /* PCRE2 pattern, validated at load */
};

struct config_payload_item {
	char *name; /* output key in payload */
	char *tmpl; /* PAYLOAD_MAP: the template; PAYLOAD_LIST: NULL (copy field `name` as is) */
};

struct config_parser {
	char *type;         /* "json" | "regex" | "logfmt" | "csv" | "plugin" */
	char *plugin_path;  /* type plugin only */
	char *options_json; /* what parser create() gets: for regex {"pattern":...}; for csv
			     * {"columns":[...],"delimiter":",","header":false}; for plugin the YAML
			     * `options` mapping converted to JSON; for json "{}" */
	enum config_on_mismatch on_mismatch; /* a line the parser cannot read: dead-letter or skip */
	bool first_line; /* the parser reads each file's first line (csv header: true, plugins) */
};

struct config_input {
	char *source; /* the file the input was read from: the configuration or one it includes */
	char *name;
	struct config_pos name_pos;
	char **paths; /* globs */
	size_t npaths;
	char **exclude; /* fnmatch patterns, matched against the full path and the base name */
	size_t nexclude;
	enum config_start_at start_at;
	uint64_t max_line_bytes;
	uint64_t rotate_wait_ms;
	struct config_parser parser;
	/* PCRE2 patterns on the raw line, before the parser: a line matching none of include_lines
	 * (when there are any) or any of exclude_lines is skipped and counted */
	char **include_lines;
	size_t ninclude_lines;
	char **exclude_lines;
	size_t nexclude_lines;
	struct config_match *match;
	size_t nmatch;
	struct config_pos *match_pos; /* of each match field name (NULL when built by hand) */
	/* event templates: ${field}, ${a.b.c}, literal text; NULL when not configured */
	char *event_name;
	char *event_datetime;
	char *installation_id;
	char *event_id; /* NULL or "" = not set */
	struct config_pos event_name_pos, event_datetime_pos, installation_id_pos, event_id_pos;
	/* tried in order: "iso8601", "unix", "unix_ms" or a strptime(3) format; at least one */
	char **time_formats;
	size_t ntime_formats;
	char *timezone;    /* "UTC" or an IANA zone name */
	char **id_fields;
	size_t nid_fields;
	struct config_pos *id_fields_pos; /* one per id field; may be NULL */
	enum config_payload_mode payload_mode;
	struct config_payload_item *payload;
	size_t npayload;
	struct config_pos *payload_pos; /* of each item's template (map) or name (list); may be NULL */
};

struct config {
	char *path; /* the file it was loaded from */
	struct {
		char *url;
		char *username;
		char *password; /* resolved secret (file, env or inline); NULL when none. Never log it. */
		char *password_file;
		char *password_env;
		bool password_inline;
		char *ca_file;
		char *proxy; /* NULL: libcurl's environment (https_proxy, ...); "": no proxy; may hold
			      * credentials: never log it whole (agent/proxy.h) */
		uint64_t timeout_ms;
		bool allow_insecure_http;
	} endpoint;
	struct {
		char *state_dir;
		char *id_namespace; /* resolved: the configured value, else /etc/machine-id, else hostname */
		uint64_t shutdown_timeout_ms;
		int log_level; /* enum log_level values: 0 error, 1 warn, 2 info, 3 debug */
		int log_format; /* enum log_format values: 0 text, 1 json */
	} agent;
	struct {
		uint64_t max_events;
		uint64_t max_bytes;
		uint64_t flush_interval_ms;
		uint64_t max_in_flight;         /* 0 = auto: adaptive, from 1 up to the ceiling */
		uint64_t max_in_flight_ceiling; /* auto's ceiling */
	} batch;
	struct {
		uint64_t initial_backoff_ms;
		uint64_t max_backoff_ms;
	} retry;
	struct config_input *inputs;
	size_t ninputs;
	size_t nincluded; /* files `include` added (their inputs are among inputs) */
};

/* Diagnostics: each entry is a complete line "FILE:LINE:COLUMN: message" (or "FILE: message" when
 * there is no position), errors and warnings kept apart. */
struct config_diag {
	char **errors;
	size_t nerrors;
	char **warnings;
	size_t nwarnings;
};

/* Flags for config_load. */
#define CONFIG_NEED_CREDENTIALS 0x1 /* require endpoint.username and a password source, and read it */

/* Loads and validates path. On success returns 0 and sets *ret (warnings may still be in diag).
 * On failure returns -EINVAL (invalid: every problem is in diag->errors) or another negative errno
 * (file unreadable: also described in diag->errors), and leaves *ret untouched. */
int config_load(const char *path, int flags, struct config **ret, struct config_diag *diag);
void config_free(struct config *c);
void config_diag_free(struct config_diag *d);

/* The index of input i among the inputs of its own file (inputs[N] in that file's messages). */
size_t config_input_index(const struct config *c, size_t i);

/* "250ms", "1s", "5m", "1h" (also "2d") -> milliseconds. Returns 0 or -EINVAL. */
int config_parse_duration(const char *s, uint64_t *ret_ms);
/* "1234", "64KiB", "1MiB", "1GiB", also "64KB"/"1MB" as decimal units -> bytes. 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *ret_bytes);

#endif
