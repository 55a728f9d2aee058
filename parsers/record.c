/* The record of a parsed line (see record.h): appending a field, capped at RECORD_MAX_FIELDS, and
 * finding one by name, the last of a name winning (the one rule for names given twice). */
#include "record.h"

#include "swar.h"

int record_emit(void *sink, const char *name, size_t name_len, const char *value, size_t value_len,
		int type)
{
	struct record *r = sink;
	struct field *f;

	if (r->n >= RECORD_MAX_FIELDS) {
		r->overflow = true;
		return 1;
	}
	/* A plugin may hand us NULL for an empty string; the rest of the agent compares with memcmp. */
	if (!name)
		name = "", name_len = 0;
	if (!value)
		value = "", value_len = 0;
	/* An unknown type from a plugin must not reach the JSON writer, which trusts NUMBER and JSON
	 * values to be JSON text; as a string it is escaped and stays harmless. */
	if (type < ONSIDE_T_STRING || type > ONSIDE_T_JSON)
		type = ONSIDE_T_STRING;
	f = &r->f[r->n++];
	f->name = name;
	f->name_len = name_len;
	f->value = value;
	f->value_len = value_len;
	f->type = type;
	return 0;
}

const struct field *record_get(const struct record *r, const char *name, size_t name_len)
{
	size_t i;

	/* backwards: the last of a name wins (parser.h) */
	for (i = r->n; i-- > 0;) {
		const struct field *f = &r->f[i];

		if (f->name_len == name_len && swar_equal(f->name, name, name_len))
			return f;
	}
	return NULL;
}
