/* Rate-limited notices: one kind of trouble (lines dead-lettered, events the server rejected, ...) is
 * told at most once per period. The first occurrence after a quiet period is told at once; the ones
 * after it are counted by class and told in one summary when the period is over. Pure: the caller
 * logs and passes the time, so tests can drive it. Also the text helpers those lines share with
 * `check --sample` and `status`: reason classes, counts with thousands separators, durations. */
#ifndef ONSIDE_NOTICE_H
#define ONSIDE_NOTICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTICE_CLASSES 8     /* classes kept per summary; the rest count as "other" */
#define NOTICE_CLASS_MAX 160 /* bytes of a class's text */

struct notice_class {
	char text[NOTICE_CLASS_MAX];
	uint64_t n;
};

struct notice {
	uint64_t period_ms;
	uint64_t last_ms; /* when a line of this kind was last told */
	bool told;        /* ... and whether one was, ever */
	uint64_t n;       /* occurrences counted since then */
	struct notice_class cls[NOTICE_CLASSES];
	size_t ncls;
	uint64_t other;
};

/* A summary, as notice_take hands it out. */
struct notice_summary {
	uint64_t n;       /* occurrences */
	uint64_t secs;    /* since the last told line (the summary's "in the last N s") */
	char classes[NOTICE_CLASSES * (NOTICE_CLASS_MAX + 24) + 32]; /* "a: 9, b: 3" */
};

void notice_init(struct notice *n, uint64_t period_ms);
/* One occurrence of class cls (NULL: none) at now_ms. Returns true when it is to be told at once:
 * nothing of this kind was told in the last period and nothing is waiting for a summary. Otherwise
 * it is counted for the next summary. */
bool notice_add(struct notice *n, const char *cls, uint64_t now_ms);
/* Counts one occurrence of class cls for the next summary, without the rule (a tally of how things
 * are now). */
void notice_tally(struct notice *n, const char *cls);
/* When the next summary is due (monotonic ms), or 0 when nothing is counted. */
uint64_t notice_deadline(const struct notice *n);
/* Hands out what was counted (ret->n may be 0) and starts a new period at now_ms. */
void notice_take(struct notice *n, uint64_t now_ms, struct notice_summary *ret);

/* A reason without what varies from line to line: quoted values, parenthesised text with numbers,
 * and positions ("at byte 12"). "missing field currency (the line ends at byte 48)" and "invalid JSON
 * at byte 3: null expected" become "missing field currency" and "invalid JSON: null expected". */
void notice_class_of(const char *reason, char *out, size_t n);
/* v with thousands separators: 13679 -> "13,679". */
void notice_count(char *out, size_t n, uint64_t v);
/* A duration for people: "40s", "5m", "5m 3s", "2h 10m", "3d 4h". */
void notice_duration(char *out, size_t n, uint64_t secs);

#endif
