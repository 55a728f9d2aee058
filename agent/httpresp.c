/* Status classes and their names, header lines and body capping of HTTP responses (see httpresp.h). Pure: no I/O,
 * no clock (the caller passes "now"); the one libcurl call is curl_getdate, a parser. */
#include "httpresp.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const class_names[HTTPRESP_ST_COUNT] = {
	[HTTPRESP_ST_204] = "204",
	[HTTPRESP_ST_400] = "400",
	[HTTPRESP_ST_413] = "413",
	[HTTPRESP_ST_429] = "429",
	[HTTPRESP_ST_401_403] = "401_403",
	[HTTPRESP_ST_OTHER_4XX] = "other_4xx",
	[HTTPRESP_ST_5XX] = "5xx",
	[HTTPRESP_ST_TRANSPORT] = "transport_error",
	[HTTPRESP_ST_OTHER_2XX] = "other_2xx",
};

int httpresp_class(long status)
{
	if (status == 204)
		return HTTPRESP_ST_204;
	if (status >= 200 && status < 300)
		return HTTPRESP_ST_OTHER_2XX; /* a proxy, portal or wrong URL: not an acceptance */
	switch (status) {
	case 400:
		return HTTPRESP_ST_400;
	case 401:
	case 403:
		return HTTPRESP_ST_401_403;
	case 413:
		return HTTPRESP_ST_413;
	case 429:
		return HTTPRESP_ST_429;
	}
	/* 5xx, and anything else that is neither success nor 4xx (1xx, 3xx) counts as "other" */
	return status >= 500 && status < 600 ? HTTPRESP_ST_5XX : HTTPRESP_ST_OTHER_4XX;
}

const char *httpresp_class_name(int cls)
{
	return cls >= 0 && cls < HTTPRESP_ST_COUNT ? class_names[cls] : NULL;
}

int httpresp_retry_after(const char *value, size_t len, time_t now, uint64_t *ret_ms)
{
	char v[HTTPRESP_VALUE_MAX + 1], *end;
	long long secs;
	time_t t;

	if (len == 0 || len > HTTPRESP_VALUE_MAX)
		return -EINVAL;
	/* strtoll and curl_getdate want a C string; an embedded NUL ends the value */
	memcpy(v, value, len);
	v[len] = '\0';
	if (v[0] >= '0' && v[0] <= '9') {
		secs = strtoll(v, &end, 10);
		if (*end && *end != ' ' && *end != '\t')
			return -EINVAL;
		*ret_ms = secs > INT64_MAX / 1000 ? (uint64_t)INT64_MAX : (uint64_t)secs * 1000;
		return 0;
	}
	t = curl_getdate(v, NULL);
	if (t == (time_t)-1)
		return -EINVAL;
	if (t <= now) {
		*ret_ms = 0;
	} else {
		/* exact even where t - now would overflow time_t */
		uint64_t secs_left = (uint64_t)t - (uint64_t)now;

		*ret_ms = secs_left > INT64_MAX / 1000 ? (uint64_t)INT64_MAX : secs_left * 1000;
	}
	return 0;
}

int httpresp_header(const char *line, size_t len, time_t now, int64_t *retry_after_ms)
{
	static const char name[] = "retry-after:";
	const char *v;
	size_t vlen;
	uint64_t ms;

	if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
		*retry_after_ms = -1;
		return HTTPRESP_STATUS_LINE;
	}
	if (len <= sizeof(name) - 1 || strncasecmp(line, name, sizeof(name) - 1))
		return HTTPRESP_OTHER;
	v = line + sizeof(name) - 1;
	vlen = len - (sizeof(name) - 1);
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (!vlen || vlen > HTTPRESP_VALUE_MAX)
		return HTTPRESP_RETRY_AFTER;
	*retry_after_ms = httpresp_retry_after(v, vlen, now, &ms) == 0 ? (int64_t)ms : -1;
	return HTTPRESP_RETRY_AFTER;
}

void httpresp_body(struct buf *b, const char *p, size_t n)
{
	size_t room = b->len < HTTPRESP_BODY_MAX ? HTTPRESP_BODY_MAX - b->len : 0;

	(void)buf_append(b, p, n < room ? n : room);
}
