/* escape_text: valid UTF-8 passes through (but for control characters), everything else becomes
 * \xHH, so what `status` prints cannot move the cursor or clear the screen, and what metrics.prom
 * holds is always valid UTF-8 for node_exporter. */
#include "escape.h"


#include "jsonw.h"

/* Length of the UTF-8 sequence that the lead byte c announces, or 0 for a byte that cannot lead one. */
static size_t utf8_len(unsigned char c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

static int put_hex(struct buf *out, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };

	return buf_append(out, e, sizeof(e));
}

int escape_text(struct buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	int r = 0;

	while (r == 0 && i < n) {
		unsigned char c = p[i];

		if (c >= 0x20 && c < 0x7f) {
			r = c == '\\' ? buf_append(out, "\\\\", 2) : buf_putc(out, (char)c);
			i++;
			continue;
		}
		k = utf8_len(c);
		/* C1 controls are U+0080..U+009F: 0xc2 0x80..0x9f */
		if (k && i + k <= n && utf8_valid(s + i, k) && !(c == 0xc2 && p[i + 1] < 0xa0)) {
			r = buf_append(out, s + i, k);
			i += k;
			continue;
		}
		r = put_hex(out, c);
		i++;
	}
	return r;
}
