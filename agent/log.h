/* Logging to stderr, one line each: "LEVEL component: message". No timestamps when stderr is the
 * journal (JOURNAL_STREAM set). Only agent/ code logs; library-like code returns errors instead. */
#ifndef ONSIDE_LOG_H
#define ONSIDE_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN = 1, LOG_LEVEL_INFO = 2, LOG_LEVEL_DEBUG = 3 };

void log_init(int level);
void log_set_level(int level);
int log_get_level(void);
/* log_warn and log_error append ": strerror(errno)"; the x variants do not. */
void log_error(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_errorx(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warnx(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_info(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *comp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
