/* Templates for event fields: "${field}", "${a.b.c}" and literal text around them. Compiled once at
 * start; rendering is allocation-free into a caller's reused buf. A '$' not followed by '{' is literal;
 * "$${" writes a literal "${". */
#ifndef ONSIDE_TEMPLATE_H
#define ONSIDE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "parser.h"

struct template;

/* Returns 0, or -EINVAL with a message (and the 0-based byte column of the problem in *ret_col when
 * ret_col is not NULL), or -ENOMEM. */
int template_compile(const char *src, struct template **ret, char *err, size_t errlen, size_t *ret_col);
void template_free(struct template *t);

/* Appends the rendered text to out. A field's value is written as its text (strings decoded, numbers
 * and JSON as their JSON text). A missing field gives -ENOENT and "missing field NAME" in err; out is
 * then left with a partial render the caller rolls back. */
int template_render(const struct template *t, const struct record *r, struct buf *out, char *err,
		    size_t errlen);
/* The rendered text without a copy where none is needed: a template that is exactly one ${field}
 * gives that field's value itself; any other is rendered into scratch (reset first) and gives its
 * bytes (never NULL). Valid until the record or scratch changes. Errors as
 * template_render; the outputs are then untouched. */
int template_view(const struct template *t, const struct record *r, struct buf *scratch,
		  const char **ret_p, size_t *ret_len, char *err, size_t errlen);
/* When the template is exactly one ${field} and nothing else, returns that field from r (NULL if
 * absent) and sets *ret_is_single; lets payload maps keep the field's type. */
const struct field *template_single(const struct template *t, const struct record *r, bool *ret_is_single);
/* The field names the template references (for payload "*", which copies the fields not used). */
size_t template_nfields(const struct template *t);
const char *template_field(const struct template *t, size_t i, size_t *ret_len);
/* True when the template has no ${...} at all (a constant). */
bool template_is_constant(const struct template *t);

#endif
