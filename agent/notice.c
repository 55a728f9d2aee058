/* Rate-limited notices and the text helpers of their lines. The limiter's rule: a line of a kind is
 * told at most once per period. A first occurrence after a quiet period is worth a line at once (it is
 * news, and the operator may be watching); what follows within the period is only counted, by class,
 * and told as one summary when the period ends, so 5,000 bad lines make two lines, not 5,000. */
#include "notice.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void notice_init(struct notice *n, uint64_t period_ms)
{
	memset(n, 0, sizeof(*n));
	n->period_ms = period_ms ? period_ms : 1;
}

void notice_tally(struct notice *n, const char *cls)
{
	size_t i;

	n->n++;
	if (!cls)
		return;
	for (i = 0; i < n->ncls; i++)
		if (strcmp(n->cls[i].text, cls) == 0)
			break;
	if (i == n->ncls) {
		if (n->ncls == NOTICE_CLASSES) {
			n->other++;
			return;
		}
		snprintf(n->cls[i].text, sizeof(n->cls[i].text), "%s", cls);
		n->cls[i].n = 0;
		n->ncls++;
	}
	n->cls[i].n++;
}

bool notice_add(struct notice *n, const char *cls, uint64_t now_ms)
{
	if (n->n == 0 && (!n->told || now_ms - n->last_ms >= n->period_ms)) {
		n->told = true;
		n->last_ms = now_ms;
		return true;
	}
	notice_tally(n, cls);
	return false;
}

uint64_t notice_deadline(const struct notice *n)
{
	return n->n ? n->last_ms + n->period_ms : 0;
}

void notice_take(struct notice *n, uint64_t now_ms, struct notice_summary *ret)
{
	size_t o = 0;
	char num[32];

	ret->n = n->n;
	ret->secs = n->told && now_ms > n->last_ms ? (now_ms - n->last_ms + 999) / 1000 : 0;
	ret->classes[0] = '\0';
	for (size_t i = 0; i < n->ncls && o < sizeof(ret->classes); i++) {
		notice_count(num, sizeof(num), n->cls[i].n);
		o += (size_t)snprintf(ret->classes + o, sizeof(ret->classes) - o, "%s%s: %s", i ? ", " : "",
				      n->cls[i].text, num);
	}
	if (n->other && o < sizeof(ret->classes)) {
		notice_count(num, sizeof(num), n->other);
		snprintf(ret->classes + o, sizeof(ret->classes) - o, "%sother: %s", o ? ", " : "", num);
	}
	n->n = 0;
	n->ncls = 0;
	n->other = 0;
	n->told = true;
	n->last_ms = now_ms;
}

/* " at byte 12", " at 12": a position, which differs from line to line. Returns where it ends, or
 * NULL when p does not start one. */
static const char *notice_position(const char *p)
{
	const char *q;

	if (strncmp(p, " at ", 4) != 0)
		return NULL;
	q = p + 4;
	while (isalpha((unsigned char)*q))
		q++;
	if (q > p + 4 && *q == ' ')
		q++;
	if (!isdigit((unsigned char)*q))
		return NULL;
	while (isdigit((unsigned char)*q))
		q++;
	return q;
}

void notice_class_of(const char *reason, char *out, size_t n)
{
	size_t o = 0;

	if (!n)
		return;
	for (const char *p = reason; *p && *p != '"' && o + 1 < n; p++) {
		const char *close = p[0] == ' ' && p[1] == '(' ? strchr(p, ')') : NULL;
		const char *pos = notice_position(p);

		if (close && strpbrk(p, "0123456789") && strpbrk(p, "0123456789") < close) {
			p = close;
			continue;
		}
		if (pos) {
			p = pos - 1;
			continue;
		}
		out[o++] = *p;
	}
	while (o && (out[o - 1] == ' ' || out[o - 1] == ':'))
		o--;
	out[o] = '\0';
}

void notice_count(char *out, size_t n, uint64_t v)
{
	char digits[24];
	int len = snprintf(digits, sizeof(digits), "%" PRIu64, v);
	size_t o = 0;

	for (int i = 0; i < len && o + 1 < n; i++) {
		if (i && (len - i) % 3 == 0 && o + 2 < n)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	if (n)
		out[o] = '\0';
}

void notice_duration(char *out, size_t n, uint64_t secs)
{
	static const struct {
		uint64_t secs;
		char unit;
	} units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};

	for (size_t i = 0; i < 4; i++) {
		uint64_t big = secs / units[i].secs, small;

		if (!big && i < 3)
			continue;
		small = i < 3 ? secs % units[i].secs / units[i + 1].secs : 0;
		if (small)
			snprintf(out, n, "%" PRIu64 "%c %" PRIu64 "%c", big, units[i].unit, small, units[i + 1].unit);
		else
			snprintf(out, n, "%" PRIu64 "%c", big, units[i].unit);
		return;
	}
}
