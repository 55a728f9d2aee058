/* Logging (see log.h): one line per message to stderr, level and component first, strerror appended
 * by the non-x variants; timestamps only when stderr is not the journal. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_level = LOG_LEVEL_INFO;
static int log_timestamps = 1;

void log_init(int level)
{
	log_level = level;
	/* systemd's journal stamps every line itself */
	log_timestamps = getenv("JOURNAL_STREAM") == NULL;
}

void log_set_level(int level) { log_level = level; }
int log_get_level(void) { return log_level; }

/* One event, one line: control characters (from file names, server answers, ...) are written as
 * escapes, so nothing a log line quotes can start a line of its own or drive the terminal. */
static void log_escape(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *in && o + 5 < outlen; in++) {
		unsigned char c = (unsigned char)*in;

		if (c >= 0x20 && c != 0x7f) {
			out[o++] = (char)c;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			out[o++] = '\\';
			out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	out[o] = '\0';
}

static void log_vwrite(int level, const char *comp, int err, const char *fmt, va_list ap)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	char msg[2048], safe[4 * 2048];
	char stamp[32] = "";
	int n;

	if (level > log_level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (err && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	log_escape(msg, safe, sizeof(safe));
	if (log_timestamps) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	fprintf(stderr, "%s%s %s: %s\n", stamp, names[level], comp, safe);
}

#define LOG_FN(fn, level, witherr)                                                                 \
	void fn(const char *comp, const char *fmt, ...)                                            \
	{                                                                                          \
		int saved = errno;                                                                 \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_vwrite(level, comp, witherr ? saved : 0, fmt, ap);                             \
		va_end(ap);                                                                        \
		errno = saved;                                                                     \
	}

LOG_FN(log_error, LOG_LEVEL_ERROR, 1)
LOG_FN(log_errorx, LOG_LEVEL_ERROR, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
