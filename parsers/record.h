/* The record of fields one parsed line fills: what every parser (built-in or plugin) emits into and
 * the mapping reads from. Its own module so that the plugin boundary and the parser registry both
 * build on it without depending on each other. */
#ifndef ONSIDE_RECORD_H
#define ONSIDE_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "onside_parser.h"

#define RECORD_MAX_FIELDS 512

struct field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	int type; /* enum onside_value_type */
};

/* The fields of one parsed line. Reused from line to line: record_reset() is O(1). The field bytes
 * belong to the parser state and live until its next parse. A name may come more than once (logfmt
 * "a=1 a=2", a csv header naming two columns alike, (?J) regex groups, a plugin): the last one is
 * the field of that name (record_get), as a JSON object's last duplicate key is. */
struct record {
	size_t n;
	bool overflow; /* more than RECORD_MAX_FIELDS were emitted */
	/* A plugin's value that is not what its type says (plugin_emit): why, and the field. */
	const char *invalid;
	struct field invalid_field;
	struct field f[RECORD_MAX_FIELDS];
};

static inline void record_reset(struct record *r)
{
	r->n = 0;
	r->overflow = false;
	r->invalid = NULL;
}

/* An onside_emit_fn; sink is a struct record *. */
int record_emit(void *sink, const char *name, size_t name_len, const char *value, size_t value_len,
		int type);
/* Finds a field by exact name (JSON parsers emit nested fields as "a.b.c"): the last one of that
 * name. NULL if absent. */
const struct field *record_get(const struct record *r, const char *name, size_t name_len);

#endif
