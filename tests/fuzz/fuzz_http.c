/* HTTP response handling as the sender does it: the input is a raw response. Its header lines go
 * through httpresp_header() one by one, CRLF included, as libcurl's header callback delivers them
 * (several responses, e.g. after a 100 Continue, each start again); the status of the last status
 * line through httpresp_class(); the body through httpresp_body() in chunks. The first 8 bytes are
 * the clock ("now"), so dates in the past, the future and far away are all reached. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fuzz.h"
#include "httpresp.h"

#define CHUNK 4096

/* "HTTP/1.1 429 Too Many Requests": the three digits after the first space, as libcurl reads them. */
static long status_of(const char *line, size_t n)
{
	const char *sp = memchr(line, ' ', n);
	size_t i = sp ? (size_t)(sp - line) + 1 : n;

	if (i + 3 > n)
		return 0;
	for (size_t k = i; k < i + 3; k++)
		if (line[k] < '0' || line[k] > '9')
			return 0;
	return (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
}

static void check_class(long status)
{
	int cls = httpresp_class(status);

	/* a class with a name, never the one for requests without a status; only 204 is 204, and every
	 * other 2xx is a class of its own */
	if (!httpresp_class_name(cls) || cls == HTTPRESP_ST_TRANSPORT)
		abort();
	if ((cls == HTTPRESP_ST_204) != (status == 204))
		abort();
	if ((cls == HTTPRESP_ST_OTHER_2XX) != (status >= 200 && status < 300 && status != 204))
		abort();
}

static void check_body(const char *p, size_t n)
{
	struct buf b;
	size_t off = 0, keep = n < HTTPRESP_BODY_MAX ? n : HTTPRESP_BODY_MAX;

	buf_init(&b, HTTPRESP_BODY_MAX);
	while (off < n) {
		size_t c = n - off < CHUNK ? n - off : CHUNK;

		httpresp_body(&b, p + off, c);
		off += c;
	}
	if (b.len != keep || (keep && memcmp(b.data, p, keep)))
		abort();
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 8;
	size_t n = size - 8;
	int64_t retry = -1, now64;
	long status = 0;
	uint64_t ms;
	time_t now;

	if (size < 8 || size > FUZZ_MAX_INPUT)
		return 0;
	memcpy(&now64, data, sizeof(now64));
	now = (time_t)now64;
	check_class((long)now64);
	while (n) {
		const char *lf = memchr(s, '\n', n);
		size_t len = lf ? (size_t)(lf - s) + 1 : n; /* the LF belongs to the line */
		int kind = httpresp_header(s, len, now, &retry);

		if (kind == HTTPRESP_STATUS_LINE) {
			if (retry != -1)
				abort();
			status = status_of(s, len);
		} else if (kind == HTTPRESP_RETRY_AFTER) {
			if (retry < -1)
				abort();
		} else if (kind != HTTPRESP_OTHER) {
			abort();
		}
		s += len;
		n -= len;
		if (len <= 2 && (len == 1 || s[-2] == '\r'))
			break; /* the blank line: the body follows */
	}
	check_class(status);
	/* the value alone too: the header path only passes trimmed values of at most 127 bytes */
	if (httpresp_retry_after((const char *)data + 8, size - 8, now, &ms) == 0 && ms > INT64_MAX)
		abort();
	check_body(s, n);
	return 0;
}
