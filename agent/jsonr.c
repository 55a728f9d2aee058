/* JSON text back into bytes (see jsonr.h): the \udcXX escapes of jsonw.c survive json-c. */
#include "jsonr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

/* json-c turns a lone low surrogate such as \udcff (our escape for the invalid byte 0xff) into
 * U+FFFD, losing the byte. Before parsing, each lone \udc80..\udcff inside a string is rewritten to
 * \u0000\u00XX, which json-c keeps exactly, and a real \u0000 to \u0000\u0000; jsonr_unmark_bytes()
 * folds each pair back into its byte. */
int jsonr_protect(const char *s, size_t n, struct buf *out)
{
	bool in_str = false, prev_high = false;
	size_t i;
	long v;
	int r = 0;

	for (i = 0; !r && i < n; i++) {
		if (s[i] == '"') {
			in_str = !in_str;
			prev_high = false;
		} else if (in_str && s[i] == '\\' && i + 1 < n) {
			v = (s[i + 1] == 'u' && i + 5 < n) ? hex4(s + i + 2) : -1;
			if (v >= 0xdc80 && v <= 0xdcff && !prev_high) {
				r = buf_printf(out, "\\u0000\\u00%c%c", s[i + 4], s[i + 5]);
				i += 5;
				continue;
			}
			if (v == 0) {
				r = buf_puts(out, "\\u0000\\u0000");
				i += 5;
				prev_high = false;
				continue;
			}
			prev_high = v >= 0xd800 && v <= 0xdbff;
			r = buf_append(out, s + i, v >= 0 ? 6 : 2);
			i += v >= 0 ? 5 : 1;
			continue;
		} else {
			prev_high = false;
		}
		r = buf_putc(out, s[i]);
	}
	return r;
}

int jsonr_unmark_bytes(const char *s, size_t n, char **ret, size_t *ret_len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, k = 0;
	char *d;

	d = malloc(n + 1);
	if (!d)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (p[i]) {
			d[k++] = (char)p[i];
		} else if (i + 1 < n && p[i + 1] == 0) {
			d[k++] = '\0';
			i++;
		} else if (i + 2 < n && (p[i + 1] == 0xc2 || p[i + 1] == 0xc3) && (p[i + 2] & 0xc0) == 0x80) {
			d[k++] = (char)(((p[i + 1] & 0x1f) << 6) | (p[i + 2] & 0x3f));
			i += 2;
		} else {
			free(d);
			return -EBADMSG;
		}
	}
	d[k] = '\0';
	*ret = d;
	*ret_len = k;
	return 0;
}

/* As jsonr_unmark_bytes, for strings that cannot hold a NUL (paths, names): one makes them invalid. */
int jsonr_unmark(const char *s, size_t n, char **ret)
{
	size_t len;
	char *d;
	int r = jsonr_unmark_bytes(s, n, &d, &len);

	if (r < 0)
		return r;
	if (memchr(d, '\0', len)) {
		free(d);
		return -EBADMSG;
	}
	*ret = d;
	return 0;
}
