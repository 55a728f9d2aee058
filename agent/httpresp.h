/* The pure part of reading an HTTP response, apart from libcurl's callbacks so that it can be tested
 * and fuzzed without a connection: the classes requests are counted in and their names, the header lines (a status line
 * starts a new response; Retry-After as delta-seconds or an HTTP date), and how much of the body is
 * kept for the dead-letter file. */
#ifndef ONSIDE_HTTPRESP_H
#define ONSIDE_HTTPRESP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

#define HTTPRESP_VALUE_MAX 127         /* a longer Retry-After value is ignored */
#define HTTPRESP_BODY_MAX (64 * 1024) /* bytes of a response body kept */

/* What httpresp_header() saw. */
enum { HTTPRESP_OTHER = 0, HTTPRESP_STATUS_LINE = 1, HTTPRESP_RETRY_AFTER = 2 };

/* The classes requests are counted in (sender_stats.requests_by_class, the metrics' status label), in
 * the order the metrics list them. */
enum httpresp_status_class {
	HTTPRESP_ST_204,
	HTTPRESP_ST_400,
	HTTPRESP_ST_413,
	HTTPRESP_ST_429,
	HTTPRESP_ST_401_403,
	HTTPRESP_ST_OTHER_4XX,
	HTTPRESP_ST_5XX,
	HTTPRESP_ST_TRANSPORT, /* no status: a timeout, a connection error */
	HTTPRESP_ST_OTHER_2XX,
	HTTPRESP_ST_COUNT
};

/* The class of an HTTP status: only 204 counts as delivered, another 2xx is a class of its own (not
 * the API answering); 5xx, and anything that is neither success nor 4xx (1xx, 3xx, nonsense), counts
 * with the other 4xx. Never HTTPRESP_ST_TRANSPORT: that is for requests that got no status. */
int httpresp_class(long status);
/* The class's label value ("204", "401_403", "transport_error", "other_2xx", ...); NULL for a number
 * that is not a class. */
const char *httpresp_class_name(int cls);

/* Parses a Retry-After value: delta-seconds ("120", trailing blanks and anything after one are
 * ignored) or an HTTP date, waited for from now. Returns 0 with *ret_ms the wait in milliseconds (0
 * for a date in the past, at most INT64_MAX), or -EINVAL for an empty, too long or unparsable value. */
int httpresp_retry_after(const char *value, size_t len, time_t now, uint64_t *ret_ms);

/* One header line as libcurl's header callback gets it (CRLF included, not NUL-terminated). A status
 * line ("HTTP/...") starts a new response: *retry_after_ms becomes -1 (none). A Retry-After header sets
 * it to the wait, or to -1 when the value is unparsable; an empty or too long value, and any other
 * line, leave it. Returns HTTPRESP_STATUS_LINE, HTTPRESP_RETRY_AFTER or HTTPRESP_OTHER. */
int httpresp_header(const char *line, size_t len, time_t now, int64_t *retry_after_ms);

/* Appends a chunk of the body to b, keeping only its first HTTPRESP_BODY_MAX bytes (the rest is
 * accepted and dropped: refusing it would fail the transfer). */
void httpresp_body(struct buf *b, const char *p, size_t n);

#endif
