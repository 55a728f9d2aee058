/* dead-letter.jsonl in the state directory: one JSON object per line that could not become an accepted
 * event: {"time":"RFC3339","input":..,"path":..,"offset":N,"reason":..,"line":..[,"length":N]
 * [,"status":N,"response":..]}. The raw line keeps invalid UTF-8 as \udcXX escapes (never lost).
 * Rotated by size to dead-letter.jsonl.1. */
#ifndef ONSIDE_DEADLETTER_H
#define ONSIDE_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#define DEADLETTER_FILE "dead-letter.jsonl"

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

#endif
