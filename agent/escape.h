/* Bytes from outside (file names, messages that quote them) made safe to show on a terminal or to put
 * in a text format that must be valid UTF-8 (metrics.prom). */
#ifndef ONSIDE_ESCAPE_H
#define ONSIDE_ESCAPE_H

#include <stddef.h>

#include "buf.h"

/* Appends s[0..n) with every byte that is not part of a valid UTF-8 sequence and every control
 * character (C0, DEL and the C1 range U+0080..U+009F, which some terminals obey as ESC [) written as
 * \xHH, and a backslash as \\. The result is valid UTF-8 without control characters, and two
 * different inputs never give the same text. Returns 0 or a negative errno from the buf. */
int escape_text(struct buf *out, const char *s, size_t n);

#endif
