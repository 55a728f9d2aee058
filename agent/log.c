/* Logging (see log.h): one line per message to stderr, written with one write(2) so that lines of
 * concurrent writers never interleave; level and component first, strerror appended by the non-x
 * variants; a timestamp unless stderr is the journal, which stamps lines itself and reads the
 * priority from a "<N>" prefix (sd-daemon(3)'s convention). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "jsonw.h"

#define LOG_MSG_MAX 2048

static int log_level = LOG_LEVEL_INFO;
static int log_format = LOG_FORMAT_TEXT;
static bool log_journal;

/* JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected to the journal. It is inherited
 * by children whose stderr goes elsewhere (a shell started from a unit, a pipe to a file), so it only
 * counts when it names stderr itself. */
static bool journal_is_stderr(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char extra;

	if (!v || sscanf(v, "%llu:%llu%c", &dev, &ino, &extra) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(int level)
{
	log_level = level;
	log_journal = journal_is_stderr();
}

void log_set_level(int level) { log_level = level; }
int log_get_level(void) { return log_level; }
void log_set_format(int format) { log_format = format == LOG_FORMAT_JSON ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT; }
bool log_to_journal(void) { return log_journal; }

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

static void log_stamp(char *out, size_t len, bool millis)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, len - n, millis ? ".%03ldZ" : "Z", ts.tv_nsec / 1000000);
}

static void log_put(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, line, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere to tell it */
		line += n;
		len -= (size_t)n;
	}
}

/* {"time":...,"level":...,"component":...,"message":...}: the message as JSON escapes it (invalid
 * UTF-8 as \udcXX), so that a log pipeline parses every line. Returns 0 or a negative errno. */
static int log_json(struct buf *b, const char *prefix, const char *level, const char *comp, const char *msg)
{
	char stamp[40];
	int r;

	log_stamp(stamp, sizeof(stamp), true);
	r = buf_printf(b, "%s{\"time\":\"%s\",\"level\":\"%s\",\"component\":", prefix, stamp, level);
	if (!r)
		r = jsonw_string(b, comp, strlen(comp));
	if (!r)
		r = buf_puts(b, ",\"message\":");
	if (!r)
		r = jsonw_string(b, msg, strlen(msg));
	if (!r)
		r = buf_puts(b, "}\n");
	return r;
}

static void log_vwrite(int level, const char *comp, int err, const char *fmt, va_list ap)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	static const char *prio[] = {"<3>", "<4>", "<6>", "<7>"};
	char msg[LOG_MSG_MAX], safe[4 * LOG_MSG_MAX + 128], stamp[40] = "";
	const char *prefix = log_journal ? prio[level] : "";
	struct buf b;
	int n;

	if (level > log_level)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (err && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	if (log_format == LOG_FORMAT_JSON) {
		buf_init(&b, 0);
		if (log_json(&b, prefix, names[level], comp, msg) == 0) {
			log_put(b.data, b.len);
			buf_free(&b);
			return;
		}
		buf_free(&b); /* out of memory: the text line below still tells it */
	}
	if (!log_journal) {
		log_stamp(stamp, sizeof(stamp) - 1, false);
		strcat(stamp, " ");
	}
	n = snprintf(safe, sizeof(safe), "%s%s%s %s: ", prefix, stamp, names[level], comp);
	if (n < 0 || (size_t)n >= sizeof(safe))
		return;
	log_escape(msg, safe + n, sizeof(safe) - (size_t)n - 1);
	strcat(safe, "\n");
	log_put(safe, strlen(safe));
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
