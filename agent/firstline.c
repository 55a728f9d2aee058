/* Reading a file's first line (firstline.h): positioned reads from offset 0, so the descriptor's own
 * offset and the tailer's reads are left alone. */
#include "firstline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIRSTLINE_CHUNK 4096

/* As lines.c hands out a line: its bytes before the LF less one CR directly before it, cut at max.
 * One byte more than max is read, for a CR at max that precedes the LF. */
int firstline_read(int fd, size_t max, char **ret, size_t *ret_len)
{
	size_t len = 0, want = max + 1, cap = want < FIRSTLINE_CHUNK ? want : FIRSTLINE_CHUNK;
	char *b = malloc(cap + 1), *nb, *lf = NULL;
	ssize_t n;

	if (!b)
		return -ENOMEM;
	while (len < want && !lf) {
		if (len == cap) {
			cap = cap * 2 < want ? cap * 2 : want;
			if (!(nb = realloc(b, cap + 1))) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
		}
		n = pread(fd, b + len, cap - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(b);
			return -e;
		}
		if (n == 0)
			break;
		lf = memchr(b + len, '\n', (size_t)n);
		len = lf ? (size_t)(lf - b) : len + (size_t)n;
	}
	if (lf && len > 0 && b[len - 1] == '\r')
		len--;
	if (len > max)
		len = max;
	b[len] = '\0';
	*ret = b;
	*ret_len = len;
	return 0;
}
