/* A file's first line as a parser sees it (a CSV header): read from the file itself, so that it is
 * the same whether reading starts at the beginning or resumes in the middle of the file. */
#ifndef ONSIDE_FIRSTLINE_H
#define ONSIDE_FIRSTLINE_H

#include <stddef.h>

/* Reads the bytes of fd before its first LF (without one CR directly before that LF; a file with no
 * LF yet gives all its bytes, as the last line of `run --once` is handed out), at most max of them,
 * into a new NUL-terminated *ret (the caller frees it) of *ret_len bytes. Returns 0, -ENOMEM, or a
 * negative errno from the read. */
int firstline_read(int fd, size_t max, char **ret, size_t *ret_len);

#endif
