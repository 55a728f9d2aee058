/* HTTP response handling without a connection: status classes, Retry-After values and header lines
 * exactly as libcurl hands them over, and the body cap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "httpresp.h"

#define NOW ((time_t)1778000000) /* 2026-05-05T16:53:20Z */

static void test_class(void **state)
{
	assert_int_equal(httpresp_class(204), HTTPRESP_ST_204);
	assert_int_equal(httpresp_class(200), HTTPRESP_ST_OTHER_2XX); /* not the API: only 204 delivers */
	assert_int_equal(httpresp_class(299), HTTPRESP_ST_OTHER_2XX);
	assert_int_equal(httpresp_class(400), HTTPRESP_ST_400);
	assert_int_equal(httpresp_class(401), HTTPRESP_ST_401_403);
	assert_int_equal(httpresp_class(403), HTTPRESP_ST_401_403);
	assert_int_equal(httpresp_class(413), HTTPRESP_ST_413);
	assert_int_equal(httpresp_class(429), HTTPRESP_ST_429);
	assert_int_equal(httpresp_class(404), HTTPRESP_ST_OTHER_4XX);
	assert_int_equal(httpresp_class(500), HTTPRESP_ST_5XX);
	assert_int_equal(httpresp_class(599), HTTPRESP_ST_5XX);
	assert_int_equal(httpresp_class(100), HTTPRESP_ST_OTHER_4XX);
	assert_int_equal(httpresp_class(302), HTTPRESP_ST_OTHER_4XX);
	assert_int_equal(httpresp_class(600), HTTPRESP_ST_OTHER_4XX);
	assert_int_equal(httpresp_class(-1), HTTPRESP_ST_OTHER_4XX);
}

/* Every class has its own label (the metrics print one series per class); nothing else has one. */
static void test_class_names(void **state)
{
	static const char *want[HTTPRESP_ST_COUNT] = {"204", "400", "413", "429", "401_403", "other_4xx", "5xx",
						      "transport_error", "other_2xx"};

	for (int i = 0; i < HTTPRESP_ST_COUNT; i++)
		assert_string_equal(httpresp_class_name(i), want[i]);
	assert_string_equal(httpresp_class_name(httpresp_class(204)), "204");
	assert_string_equal(httpresp_class_name(httpresp_class(503)), "5xx");
	assert_string_equal(httpresp_class_name(httpresp_class(202)), "other_2xx");
	assert_null(httpresp_class_name(HTTPRESP_ST_COUNT));
	assert_null(httpresp_class_name(-1));
}

static int retry(const char *v, time_t now, uint64_t *ms)
{
	return httpresp_retry_after(v, strlen(v), now, ms);
}

static void test_retry_after_seconds(void **state)
{
	uint64_t ms = 7;

	assert_int_equal(retry("120", NOW, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(retry("0", NOW, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(retry("5 seconds", NOW, &ms), 0);
	assert_int_equal(ms, 5000);
	assert_int_equal(retry("5\t", NOW, &ms), 0);
	assert_int_equal(ms, 5000);
	/* beyond what milliseconds can hold: the longest wait, which the sender caps anyway */
	assert_int_equal(retry("99999999999999999999", NOW, &ms), 0);
	assert_int_equal(ms, (uint64_t)INT64_MAX);
	ms = 7;
	assert_int_equal(retry("5x", NOW, &ms), -EINVAL);
	assert_int_equal(retry("soon", NOW, &ms), -EINVAL);
	assert_int_equal(retry("", NOW, &ms), -EINVAL);
	assert_int_equal(ms, 7);
}

static void test_retry_after_date(void **state)
{
	uint64_t ms = 7;

	/* NOW + 60 s */
	assert_int_equal(retry("Tue, 05 May 2026 16:54:20 GMT", NOW, &ms), 0);
	assert_int_equal(ms, 60000);
	assert_int_equal(retry("Thu, 01 Jan 2015 00:00:00 GMT", NOW, &ms), 0);
	assert_int_equal(ms, 0);
	/* a "now" far in the past must not overflow the difference */
	assert_int_equal(retry("Fri, 31 Dec 9999 23:59:59 GMT", (time_t)INT64_MIN / 2, &ms), 0);
	assert_int_equal(ms, (uint64_t)INT64_MAX);
	ms = 7;
	assert_int_equal(retry("Tue, 99 Foo 2026", NOW, &ms), -EINVAL);
	assert_int_equal(ms, 7);
}

static void test_retry_after_length(void **state)
{
	char v[HTTPRESP_VALUE_MAX + 2];
	uint64_t ms = 7;

	memset(v, '1', sizeof(v));
	v[0] = '2';
	assert_int_equal(httpresp_retry_after(v, HTTPRESP_VALUE_MAX + 1, NOW, &ms), -EINVAL);
	assert_int_equal(ms, 7);
	/* an embedded NUL ends the value, as it would in a C string */
	assert_int_equal(httpresp_retry_after("3\0abc", 5, NOW, &ms), 0);
	assert_int_equal(ms, 3000);
}

static int header(const char *line, int64_t *ra)
{
	return httpresp_header(line, strlen(line), NOW, ra);
}

static void test_header_lines(void **state)
{
	char longline[200];
	int64_t ra = 123;

	assert_int_equal(header("HTTP/1.1 429 Too Many Requests\r\n", &ra), HTTPRESP_STATUS_LINE);
	assert_int_equal(ra, -1);
	assert_int_equal(header("Content-Type: application/json\r\n", &ra), HTTPRESP_OTHER);
	assert_int_equal(ra, -1);
	assert_int_equal(header("retry-after:  \t30 \r\n", &ra), HTTPRESP_RETRY_AFTER);
	assert_int_equal(ra, 30000);
	/* empty: ignored, the earlier value stays */
	assert_int_equal(header("Retry-After:   \r\n", &ra), HTTPRESP_RETRY_AFTER);
	assert_int_equal(ra, 30000);
	/* unparsable: none */
	assert_int_equal(header("RETRY-AFTER: later\r\n", &ra), HTTPRESP_RETRY_AFTER);
	assert_int_equal(ra, -1);
	assert_int_equal(header("Retry-After: Tue, 05 May 2026 16:53:30 GMT\r\n", &ra), HTTPRESP_RETRY_AFTER);
	assert_int_equal(ra, 10000);
	/* too long: ignored */
	memset(longline, '9', sizeof(longline));
	memcpy(longline, "Retry-After: ", 13);
	longline[sizeof(longline) - 1] = '\0';
	assert_int_equal(header(longline, &ra), HTTPRESP_RETRY_AFTER);
	assert_int_equal(ra, 10000);
	/* a new response (after a 100 Continue) forgets it */
	assert_int_equal(header("HTTP/2 204\r\n", &ra), HTTPRESP_STATUS_LINE);
	assert_int_equal(ra, -1);
	assert_int_equal(header("Retry-After:\r\n", &ra), HTTPRESP_RETRY_AFTER);
	assert_int_equal(header("Retry-After:", &ra), HTTPRESP_OTHER);
	assert_int_equal(header("\r\n", &ra), HTTPRESP_OTHER);
	assert_int_equal(ra, -1);
}

static void test_body_cap(void **state)
{
	static char chunk[40000];
	struct buf b;

	buf_init(&b, HTTPRESP_BODY_MAX);
	memset(chunk, 'a', sizeof(chunk));
	httpresp_body(&b, "{}", 2);
	assert_int_equal(b.len, 2);
	httpresp_body(&b, chunk, sizeof(chunk));
	httpresp_body(&b, chunk, sizeof(chunk));
	httpresp_body(&b, chunk, sizeof(chunk));
	assert_int_equal(b.len, HTTPRESP_BODY_MAX);
	assert_memory_equal(b.data, "{}aaa", 5);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_class),
		cmocka_unit_test(test_class_names),
		cmocka_unit_test(test_retry_after_seconds),
		cmocka_unit_test(test_retry_after_date),
		cmocka_unit_test(test_retry_after_length),
		cmocka_unit_test(test_header_lines),
		cmocka_unit_test(test_body_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
