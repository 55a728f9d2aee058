/* Shared by the fuzz targets: the libFuzzer entry point, and the parser driver the five parser
 * targets use. Each target is one fuzz_<name>.c; replay_main.c gives them a main() for gcc builds. */
#ifndef ONSIDE_FUZZ_H
#define ONSIDE_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Inputs beyond this are ignored: nothing the targets reach needs more to show a bug, and long
 * inputs only slow the search down. */
#define FUZZ_MAX_INPUT (256 * 1024)

/* The six placeholder characters mkstemps/mkdtemp replace, spelled without a literal run of them. */
#define MKTEMP_SUFFIX ((const char[]){ 'X', 'X', 'X', 'X', 'X', 'X', '\0' })

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parser targets. data[0] picks one of the nopts option texts; the value nopts (modulo nopts + 1)
 * instead takes the options from the first line of the rest. The remaining bytes are split at LF
 * (one CR before it dropped, as the tailer does) and every line goes through one parser instance
 * with its source (the file's first line and the line's offset; a line of one form feed starts
 * another file), so the csv header of each file and the cache of it are exercised too; a line the
 * parser does not match is also explained, as a rejection would be. Every field handed back is
 * read byte by byte, and a field whose type promises JSON text must be JSON text: anything else
 * aborts, because the JSON writer copies such values verbatim into the request body. */
int fuzz_parser(const char *type, const char *const *opts, size_t nopts, const uint8_t *data,
		size_t size);

/* fuzz_check.c: the targets' own strict JSON reader (RFC 8259, valid UTF-8, no key twice in any
 * object, keys compared decoded), independent of the agent's JSON code. */

/* Flags: accept \uD800-\uDFFF escapes without their pair (the dead-letter file writes invalid bytes
 * so); accept any bytes >= 0x80 in strings (the JSON writer checks UTF-8 apart from the types). */
#define FUZZ_JSON_LONE_SURROGATES 1
#define FUZZ_JSON_ANY_BYTES 2
/* NULL when s[0..n) is one such JSON value (with whitespace around it), else why not. */
const char *fuzz_json_problem(const char *s, size_t n, int flags);
/* True when s is valid JSON (any bytes, lone surrogates) with a key that decodes to text with a NUL. */
bool fuzz_json_nul_in_key(const char *s, size_t n);
/* The deepest nesting of objects and arrays in valid JSON text. */
int fuzz_json_depth(const char *s, size_t n);
/* Calls fn for each member of the valid JSON object s: its key decoded, its value's raw text. */
typedef void (*fuzz_member_fn)(void *ctx, const char *key, size_t klen, const char *value, size_t vlen);
void fuzz_json_members(const char *s, size_t n, fuzz_member_fn fn, void *ctx);
/* Decodes the JSON string literal s (quotes included) into out (n bytes are enough) and returns its
 * length; \udc80-\udcff without a pair become the byte they stand for when bytes_escape. Aborts on
 * anything but one valid string. */
size_t fuzz_json_decode(const char *s, size_t n, char *out, bool bytes_escape);
/* Aborts unless s[0..n) is one mapped event: strict JSON as above (no lone surrogates) with exactly
 * the five members of the API, the ids UUIDs and the time RFC 3339 UTC. */
void fuzz_check_event(const char *s, size_t n);

#endif
