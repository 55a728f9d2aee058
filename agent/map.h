/* The line-to-event path: parse a line, apply `match`, render the event templates, normalize the
 * time, derive the event id, validate the event as the API would, and append its JSON object to the
 * output buffer (the request body being built). The hot path: no per-line allocation. */
#ifndef ONSIDE_MAP_H
#define ONSIDE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "eventid.h"

enum map_result {
	MAP_EVENT = 0,  /* an event was appended to out */
	MAP_SKIP = 1,   /* not an event (see enum map_skip): counted, not dead-lettered */
	MAP_REJECT = 2, /* parse failure or invalid event: dead-letter with reason */
};

/* Why a line was skipped: the `reason` label of the skipped-lines metric. */
enum map_skip {
	MAP_SKIP_MATCH = 0,    /* a `match` regex did not match (or its field is absent) */
	MAP_SKIP_PARSER = 1,   /* the parser said it is no event (a CSV header line) */
	MAP_SKIP_MISMATCH = 2, /* the parser could not read it and parser.on_mismatch is skip */
	MAP_SKIP_INCLUDE = 3,  /* include_lines is set and none of its regexes matches the line */
	MAP_SKIP_EXCLUDE = 4,  /* one of the exclude_lines regexes matches the line */
	MAP_SKIP_KINDS = 5,
};

struct line_src {
	const char *line; /* without LF and without one CR before it */
	size_t len;
	uint64_t offset;           /* byte offset of the line's first byte in its file */
	struct eventid_file *idf;  /* the file's pos-id state (namespace, input, fingerprint) */
	/* The file's first line as a line is handed out (no LF, no CR before it), for parsers that
	 * read a file's header; NULL when it was not read (the input's parser does not need it). */
	const char *first_line;
	size_t first_len;
};

struct mapper;

/* Builds the pipeline of one input: opens its parser, compiles match regexes and templates.
 * ns is the resolved id namespace. Returns 0 or a negative errno with a message. */
int mapper_create(const struct config_input *in, const char *ns, struct mapper **ret, char *err,
		  size_t errlen);
void mapper_free(struct mapper *m);

/* Processes one line. On MAP_EVENT, appends exactly one JSON object
 * {"event_name":..,"payload":{..},"event_datetime":..,"event_id":..,"installation_id":..} to out.
 * On MAP_SKIP / MAP_REJECT, out is unchanged and reason holds why (e.g. "parse error: ...",
 * "missing field install_id", "installation_id is not a UUID: ..."). Returns a negative errno only
 * when out cannot grow (its cap), with out unchanged. */
int mapper_process(struct mapper *m, const struct line_src *src, struct buf *out, char *reason,
		   size_t reasonlen);
/* After MAP_SKIP: why (enum map_skip). */
int mapper_skip_kind(const struct mapper *m);
/* The metric label of a skip kind ("match", "parser", "on_mismatch", "include_lines",
 * "exclude_lines"). */
const char *map_skip_name(int kind);
/* After mapper_process: the fields the parser gave the line (none when it did not parse). Valid
 * until the next line. For `check --sample`, which looks for fields no line has. */
const struct record *mapper_record(const struct mapper *m);

#endif
