/* Reading back, with json-c, JSON that jsonw wrote: the lone \udcXX escapes that stand for bytes that
 * are not UTF-8 (checkpoint paths, dead-letter lines) are kept as those bytes. */
#ifndef ONSIDE_JSONR_H
#define ONSIDE_JSONR_H

#include <stddef.h>

#include "buf.h"

/* Copies JSON text s[0..n) to out with each lone \udc80..\udcff inside a string rewritten to a
 * marker json-c keeps exactly. Returns 0 or a negative errno from the buf. */
int jsonr_protect(const char *s, size_t n, struct buf *out);
/* A string json-c decoded from protected text, with each marker folded back into its byte, as a new
 * NUL-terminated *ret (the caller frees it). Returns 0, -ENOMEM, or -EBADMSG for a NUL in it. */
int jsonr_unmark(const char *s, size_t n, char **ret);
/* The same, keeping NUL bytes (a raw line may hold them): *ret_len gets the length. */
int jsonr_unmark_bytes(const char *s, size_t n, char **ret, size_t *ret_len);

#endif
