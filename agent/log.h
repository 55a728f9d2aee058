/* Logging to stderr, one line each: "LEVEL component: message", or one JSON object per line
 * (agent.log_format: json). When stderr is the journal (JOURNAL_STREAM names stderr's device and
 * inode), no timestamps, and each line starts with its syslog priority ("<4>") so that journald files
 * it under that priority. Only agent/ code logs; library-like code returns errors instead. */
#ifndef ONSIDE_LOG_H
#define ONSIDE_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN = 1, LOG_LEVEL_INFO = 2, LOG_LEVEL_DEBUG = 3 };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };

/* Sets the level and looks at where stderr goes (the journal or not). */
void log_init(int level);
void log_set_level(int level);
int log_get_level(void);
/* enum log_format */
void log_set_format(int format);
/* Whether stderr is the journal (JOURNAL_STREAM matches it), as log_init found. */
bool log_to_journal(void);
/* log_warn and log_error append ": strerror(errno)"; the x variants do not. */
void log_error(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_errorx(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warnx(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_info(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
