/* Event ids, contract v1 (docs/reference.md, "Event ids"); must never change once released.
 *   event_id = uuid4_format(SHA-256(PREFIX 0x00 NAMESPACE 0x00 KIND 0x00 KEY)[0..16]) */
#ifndef ONSIDE_EVENTID_H
#define ONSIDE_EVENTID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENTID_PREFIX "onside-agent:event-id:v1"
#define EVENTID_LEN 36             /* 8-4-4-4-12 */
#define EVENTID_FINGERPRINT_MAX 4096 /* bytes of the first line that the fingerprint covers */

/* Lowercase hex SHA-256 of the file's first line (at most its first 4096 bytes: the caller passes
 * the bytes before the first LF, and the function clips to 4096). ret_hex gets 64 chars + NUL. */
void eventid_fingerprint(const char *first_line, size_t len, char ret_hex[65]);

/* Precomputed hash state for one (namespace, input, file fingerprint): the per-line cost is then
 * one context copy plus hashing the offset and the line. */
struct eventid_file;
struct eventid_file *eventid_file_new(const char *ns, size_t nslen, const char *input, size_t inlen,
				      const char fingerprint_hex[64]);
void eventid_file_free(struct eventid_file *f);
/* KIND "pos": KEY = INPUT 0x00 FINGERPRINT 0x00 OFFSET(decimal) 0x00 LINE. ret gets 36 chars + NUL. */
void eventid_pos(struct eventid_file *f, uint64_t offset, const char *line, size_t len, char ret[37]);

struct eventid_value {
	const char *p;
	size_t len;
};
/* KIND "key": KEY = lowercase-ASCII(event_name) 0x00 VALUE1 0x1F VALUE2 ... */
void eventid_key(const char *ns, size_t nslen, const char *event_name, size_t name_len,
		 const struct eventid_value *values, size_t nvalues, char ret[37]);

/* A UUID in 8-4-4-4-12 hex form (either case), any version / version 4 with the RFC 4122 variant. */
bool uuid_is_valid(const char *s, size_t n);
bool uuid_is_v4(const char *s, size_t n);

#endif
