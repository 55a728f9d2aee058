/* Writing JSON text straight into a buf (the request body, a dead-letter line, parse output). */
#ifndef ONSIDE_JSONW_H
#define ONSIDE_JSONW_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
bool utf8_valid(const char *s, size_t n);

/* Appends s as a quoted JSON string. Control characters, '"' and '\\' are escaped. Bytes that are not
 * valid UTF-8 are written as "\udcXX" (XX the byte: the lossless "surrogateescape" convention), so a
 * raw line is never lost. Returns 0 or a negative errno from the buf. */
int jsonw_string(struct buf *b, const char *s, size_t n);
/* Like jsonw_string for valid UTF-8; for anything else returns -EILSEQ and leaves b as it was (one
 * pass instead of utf8_valid followed by jsonw_string). */
int jsonw_string_utf8(struct buf *b, const char *s, size_t n);

#endif
