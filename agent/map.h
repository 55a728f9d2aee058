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
	MAP_SKIP = 1,   /* `match` did not match: counted, not dead-lettered */
	MAP_REJECT = 2, /* parse failure or invalid event: dead-letter with reason */
};

struct line_src {
	const char *line; /* without LF and without one CR before it */
	size_t len;
	uint64_t offset;           /* byte offset of the line's first byte in its file */
	struct eventid_file *idf;  /* the file's pos-id state (namespace, input, fingerprint) */
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

#endif
