/* A dead-letter record fed again through the current configuration (for `replay`): its line, from its
 * input, at its offset in its file, so that the event gets exactly the id the line would have had.
 * The id needs the file's first-line fingerprint: the record's own, or, for a record written before
 * records carried it, the fingerprint of the recorded file, when that file still holds the line at
 * its offset. A parser that reads each file's first line (a CSV header) gets it from the recorded file
 * when that file is still the one the fingerprint names; a line cut at max_line_bytes is read whole
 * from it the same way. */
#ifndef ONSIDE_REPLAY_H
#define ONSIDE_REPLAY_H

#include <stddef.h>

#include "config.h"
#include "deadletter.h"
#include "eventid.h"

enum replay_result {
	REPLAY_EVENT = 0,  /* an event: *ret_json, *ret_id */
	REPLAY_SKIP = 1,   /* the configuration now skips the line (match, include/exclude_lines, ...) */
	REPLAY_REJECT = 2, /* the line still fails: why */
	REPLAY_CANNOT = 3, /* it cannot be replayed (unknown input, file gone): why */
};

struct replay_mapper;

/* Returns 0, or a negative errno with err filled (an input's mapper cannot be built). */
int replay_mapper_new(const struct config *cfg, struct replay_mapper **ret, char *err, size_t errlen);
void replay_mapper_free(struct replay_mapper *m);

/* The input a record names, or NULL when the configuration has none by that name. */
const struct config_input *replay_input(const struct replay_mapper *m, const char *name);

/* Maps rec (rec->ok). Returns an enum replay_result, with the event's JSON object in *ret_json and
 * *ret_len (valid until the next call) and its id in ret_id for REPLAY_EVENT, and why for the others;
 * or -ENOMEM. */
int replay_map(struct replay_mapper *m, const struct deadletter_record *rec, const char **ret_json,
	       size_t *ret_len, char ret_id[EVENTID_LEN + 1], char *why, size_t whylen);

#endif
