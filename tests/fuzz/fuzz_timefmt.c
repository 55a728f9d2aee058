/* Time parsing: data[0] picks formats and a zone (or, for the last two choices, the first line is the
 * strptime format or the zone name); every further line is converted. Whatever is accepted must come
 * out as RFC 3339 UTC and convert to itself again: the API refuses anything else. The clock is
 * fixed (ONSIDE_TEST_NOW) so that a year-less format infers the same year on every replay. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "timefmt.h"

#define ARG_MAX_LEN 256

struct choice {
	const char *formats[2];
	const char *tz;
};

static const struct choice choices[] = {
	{ { "iso8601" }, "UTC" },
	{ { "iso8601" }, "Europe/Berlin" },
	{ { "iso8601" }, "America/New_York" },
	{ { "iso8601" }, "Australia/Lord_Howe" }, /* a 30-minute DST shift */
	{ { "unix" }, "UTC" },
	{ { "unix_ms" }, "Europe/Berlin" },
	{ { "%d/%b/%Y:%H:%M:%S %z" }, "UTC" },
	{ { "%Y-%m-%d %H:%M:%S.%f" }, "Europe/Berlin" },
	{ { "%b %e %H:%M:%S %Y" }, "America/Sao_Paulo" },
	{ { "%b %d %H:%M:%S" }, "Europe/Berlin" },       /* no year: inferred */
	{ { "iso8601", "%d/%m/%Y %H:%M" }, "UTC" },      /* a list */
	{ { "unix_ms", "%b %e %H:%M:%S.%f" }, "Asia/Kolkata" },
};
#define NCHOICES (sizeof(choices) / sizeof(choices[0]))

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* YYYY-MM-DDTHH:MM:SS[.digits]Z, exactly n bytes. */
static bool rfc3339_utc(const char *s, size_t n)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i;

	if (n < 20 || n >= TIMEFMT_MAX || strlen(s) != n || s[n - 1] != 'Z')
		return false;
	for (i = 0; i < 19; i++)
		if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i])
			return false;
	if (n == 20)
		return true;
	if (s[19] != '.' || n == 21)
		return false;
	for (i = 20; i < n - 1; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

static void convert_lines(struct timefmt *tf, struct timefmt *utc, const char *s, size_t n)
{
	char out[TIMEFMT_MAX], again[TIMEFMT_MAX], reason[256];
	size_t len, len2;

	while (n) {
		const char *lf = memchr(s, '\n', n);
		size_t l = lf ? (size_t)(lf - s) : n;

		len = 0;
		if (timefmt_convert(tf, s, l, out, &len, reason, sizeof(reason)) == 0) {
			if (!rfc3339_utc(out, len))
				abort();
			if (timefmt_convert(utc, out, len, again, &len2, reason, sizeof(reason)) != 0 ||
			    len2 != len || memcmp(out, again, len))
				abort();
		} else if (!reason[0] || strnlen(reason, sizeof(reason)) == sizeof(reason)) {
			abort();
		}
		n -= lf ? l + 1 : l;
		s += lf ? l + 1 : l;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timefmt *tf = NULL, *utc = NULL;
	char arg[ARG_MAX_LEN + 1], err[256];
	const char *s = (const char *)data + 1;
	size_t n = size - 1, pick;
	struct choice c;

	static const char *const utc_formats[] = { "iso8601" };

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	setenv("ONSIDE_TEST_NOW", "2027-01-01T00:30:00Z", 1);
	pick = data[0] % (NCHOICES + 2);
	if (pick < NCHOICES) {
		c = choices[pick];
	} else {
		const char *lf = memchr(s, '\n', n);
		size_t l = lf ? (size_t)(lf - s) : n;

		if (l > ARG_MAX_LEN || memchr(s, '\0', l))
			return 0;
		memcpy(arg, s, l);
		arg[l] = '\0';
		s += lf ? l + 1 : l;
		n -= lf ? l + 1 : l;
		if (pick == NCHOICES)
			c = (struct choice){ { arg }, "Europe/Berlin" };
		else
			c = (struct choice){ { "iso8601" }, arg };
	}
	if (timefmt_create(c.formats, c.formats[1] ? 2 : 1, c.tz, &tf, err, sizeof(err)) != 0)
		return 0;
	if (timefmt_create(utc_formats, 1, "UTC", &utc, err, sizeof(err)) != 0)
		abort();
	convert_lines(tf, utc, s, n);
	timefmt_free(utc);
	timefmt_free(tf);
	return 0;
}
