/* The TZif reader (RFC 8536, in agent/timefmt.c), reached the way the agent reaches it: the input is
 * written as the zone file "Fuzz" of a private TZDIR and loaded by timefmt_create. A zone it refuses
 * must say why; a zone it takes must convert local times (across the years and DST-like dates) into
 * RFC 3339 UTC that converts to itself again, and give the same answers in any order (the offset
 * lookup caches the last interval). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "timefmt.h"

#define ZONE "Fuzz"

static const char *const times[] = {
	"0001-01-01T00:00:00",	   "1800-06-01T12:00:00", "1901-12-13T20:45:52", "1969-12-31T23:59:59",
	"1970-01-01T00:00:00",	   "2000-03-26T02:30:00", "2026-03-29T02:30:00", "2026-10-25T02:30:00.5",
	"2037-11-01T01:30:00",	   "2038-01-19T03:14:08", "2100-03-28T02:30:00", "2400-02-29T12:00:00",
	"9999-12-31T23:59:59.999",
};
#define NTIMES (sizeof(times) / sizeof(times[0]))

static char dir[4096], path[4200];
static int fd = -1;

static void remove_dir(void)
{
	if (fd >= 0) {
		close(fd);
		unlink(path);
		rmdir(dir);
	}
}

static int write_zone(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (fd < 0) {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/onside-fuzz-tzif-%s", tmp && *tmp ? tmp : "/tmp", MKTEMP_SUFFIX);
		if (!mkdtemp(dir)) {
			fprintf(stderr, "%s: %s\n", dir, strerror(errno));
			abort();
		}
		snprintf(path, sizeof(path), "%s/%s", dir, ZONE);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			abort();
		atexit(remove_dir);
		setenv("TZDIR", dir, 1);
	}
	if (ftruncate(fd, 0) < 0)
		return -errno;
	while (done < size) {
		ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

static bool rfc3339_utc(const char *s, size_t n)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i;

	if (n < 20 || n >= TIMEFMT_MAX || strlen(s) != n || s[n - 1] != 'Z')
		return false;
	for (i = 0; i < 19; i++)
		if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
			return false;
	return n == 20 || (s[19] == '.' && n > 21);
}

/* The conversion of times[i], or "" when refused (with a reason). */
static void convert(struct timefmt *tf, struct timefmt *utc, size_t i, char out[TIMEFMT_MAX])
{
	char again[TIMEFMT_MAX], reason[256] = "";
	size_t len = 0, len2 = 0;

	if (timefmt_convert(tf, times[i], strlen(times[i]), out, &len, reason, sizeof(reason)) != 0) {
		if (!reason[0])
			abort();
		out[0] = '\0';
		return;
	}
	if (!rfc3339_utc(out, len) ||
	    timefmt_convert(utc, out, len, again, &len2, reason, sizeof(reason)) != 0 || len2 != len ||
	    memcmp(out, again, len) != 0)
		abort();
}

static const char *const iso8601[] = { "iso8601" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char fwd[NTIMES][TIMEFMT_MAX], back[TIMEFMT_MAX];
	struct timefmt *tf = NULL, *utc = NULL;
	char err[512] = "";
	size_t i;

	if (size > FUZZ_MAX_INPUT || write_zone(data, size) < 0)
		return 0;
	if (timefmt_create(iso8601, 1, ZONE, &tf, err, sizeof(err)) != 0) {
		if (!err[0] || strnlen(err, sizeof(err)) == sizeof(err))
			abort();
		return 0;
	}
	if (timefmt_create(iso8601, 1, "UTC", &utc, err, sizeof(err)) != 0)
		abort();
	for (i = 0; i < NTIMES; i++)
		convert(tf, utc, i, fwd[i]);
	for (i = NTIMES; i-- > 0;) {
		convert(tf, utc, i, back);
		if (strcmp(back, fwd[i]) != 0)
			abort(); /* the answer depended on the lookups before it */
	}
	timefmt_free(utc);
	timefmt_free(tf);
	return 0;
}
