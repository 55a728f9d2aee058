/* dead-letter.jsonl in the state directory: one JSON object per line that could not become an accepted
 * event: {"time":"RFC3339","input":..,"path":..,"offset":N,"reason":..,"line":..[,"length":N]
 * [,"status":N,"response":..][,"fingerprint":"hex"]}. The raw line keeps invalid UTF-8 as \udcXX
 * escapes (never lost). fingerprint is the file's first-line fingerprint (what its ids derive from:
 * `replay` needs it); records written before it existed lack it. Rotated by size to
 * dead-letter.jsonl.1. */
#ifndef ONSIDE_DEADLETTER_H
#define ONSIDE_DEADLETTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEADLETTER_FILE "dead-letter.jsonl"
#define DEADLETTER_ROTATED DEADLETTER_FILE ".1"
#define DEADLETTER_REPLAYED "dead-letter.replayed.jsonl" /* what `replay` delivered */

struct deadletter_entry {
	const char *input;
	const char *path;
	uint64_t offset;
	const char *reason;
	const char *line; /* raw bytes, possibly truncated to max_line_bytes */
	size_t line_len;
	uint64_t length; /* full length of the line when it was truncated, else 0 (key omitted) */
	long status;     /* server status for a server rejection, else 0 (keys omitted) */
	const char *response;
	size_t response_len;
	const char *fingerprint; /* hex, or NULL / "" when not known (key omitted) */
};

struct deadletter;

/* Opens (creating, mode 0640) state_dir/dead-letter.jsonl for appending. rotate_bytes: when the file
 * would grow past it, it is renamed to dead-letter.jsonl.1 (replacing an older one) first. */
int deadletter_open(const char *state_dir, uint64_t rotate_bytes, struct deadletter **ret);
/* Appends one entry with a single write(2). Returns 0 or a negative errno. */
int deadletter_write(struct deadletter *d, const struct deadletter_entry *e);
/* fdatasync: called before a checkpoint that moves past dead-lettered lines is written. */
int deadletter_sync(struct deadletter *d);
uint64_t deadletter_count(const struct deadletter *d);
void deadletter_close(struct deadletter *d);

/* ---- reading records back (deadletter_read.c, for `replay`) ---- */

struct deadletter_record {
	char *text; /* the record as it is in the file, without its LF */
	size_t text_len;
	bool ok;    /* it parsed as a record: the fields below are set */
	char *input, *path, *reason;
	char *fingerprint; /* NULL: a record written before the key existed */
	uint64_t offset;
	char *line; /* the raw bytes (NUL bytes and invalid UTF-8 as written) */
	size_t line_len;
	uint64_t length; /* the full length of a line cut at max_line_bytes, else 0 */
	long status;     /* a server rejection's status, else 0 */
};

/* Reads every record of state_dir/name (DEADLETTER_FILE or DEADLETTER_ROTATED) into a new array (a
 * missing file has none). A line that is not a record keeps only its text (ok false). Returns 0 or a
 * negative errno. */
int deadletter_read(const char *state_dir, const char *name, struct deadletter_record **ret, size_t *ret_n);
void deadletter_records_free(struct deadletter_record *v, size_t n);

#endif
