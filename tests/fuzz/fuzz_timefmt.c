/* Time parsing: data[0] picks a kind and zone (or, for the last two choices, the first line is the
 * strptime format or the zone name); every further line is converted. Whatever is accepted must come
 * out as RFC 3339 UTC and convert to itself again: the API refuses anything else. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "timefmt.h"

#define ARG_MAX_LEN 256

struct choice {
	int kind;
	const char *format;
	const char *tz;
};

static const struct choice choices[] = {
	{ TIME_ISO8601, NULL, "UTC" },
	{ TIME_ISO8601, NULL, "Europe/Berlin" },
	{ TIME_ISO8601, NULL, "America/New_York" },
	{ TIME_ISO8601, NULL, "Australia/Lord_Howe" }, /* a 30-minute DST shift */
	{ TIME_UNIX, NULL, "UTC" },
	{ TIME_UNIX_MS, NULL, "Europe/Berlin" },
	{ TIME_STRPTIME, "%d/%b/%Y:%H:%M:%S %z", "UTC" },
	{ TIME_STRPTIME, "%Y-%m-%d %H:%M:%S.%f", "Europe/Berlin" },
	{ TIME_STRPTIME, "%b %e %H:%M:%S %Y", "America/Sao_Paulo" },
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

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
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
			c = (struct choice){ TIME_STRPTIME, arg, "Europe/Berlin" };
		else
			c = (struct choice){ TIME_ISO8601, NULL, arg };
	}
	if (timefmt_create(c.kind, c.format, c.tz, &tf, err, sizeof(err)) != 0)
		return 0;
	if (timefmt_create(TIME_ISO8601, NULL, "UTC", &utc, err, sizeof(err)) != 0)
		abort();
	convert_lines(tf, utc, s, n);
	timefmt_free(utc);
	timefmt_free(tf);
	return 0;
}
