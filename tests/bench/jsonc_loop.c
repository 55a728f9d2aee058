/* The benchmark's parse-only reference: reads a file of JSON lines in 1 MiB blocks, parses each line with
 * json_tokener_parse_ex on one reused tokener and frees the object. Nothing else: what the agent does per
 * line beyond this (mapping, ids, serialising, sending) is its overhead over this loop.
 *
 * usage: jsonc_loop FILE     prints "lines N errors M" on stdout; exit 1 if any line failed to parse
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK (1u << 20)

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: jsonc_loop FILE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "jsonc_loop: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	/* one block plus room for a line carried over from the previous block */
	size_t cap = 2 * BLOCK, len = 0;
	char *buf = malloc(cap);
	json_tokener *tok = json_tokener_new();
	unsigned long lines = 0, errors = 0;
	if (!buf || !tok)
		return 2;
	for (;;) {
		if (cap - len < BLOCK) {
			cap *= 2;
			char *bigger = realloc(buf, cap);
			if (!bigger)
				return 2;
			buf = bigger;
		}
		ssize_t r = read(fd, buf + len, BLOCK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "jsonc_loop: read: %s\n", strerror(errno));
			return 2;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		char *p = buf, *end = buf + len, *nl;
		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			json_tokener_reset(tok);
			json_object *o = json_tokener_parse_ex(tok, p, (int)(nl - p));
			if (!o || json_tokener_get_error(tok) != json_tokener_success)
				errors++;
			json_object_put(o);
			lines++;
			p = nl + 1;
		}
		len = (size_t)(end - p);
		memmove(buf, p, len);
	}
	json_tokener_free(tok);
	free(buf);
	close(fd);
	printf("lines %lu errors %lu\n", lines, errors);
	return errors ? 1 : 0;
}
