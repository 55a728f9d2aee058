/* Trouble on the data path, told in the log at a rate an operator can read: every kind goes through
 * a notice (notice.c), so a flood of bad lines gives a line at once and then one summary a period
 * with counts by class, and a quiet log means nothing went wrong. One timer, armed only while a
 * summary is waiting or a file cannot be opened (an idle agent takes no wake-up for this). */
#include "trouble.h"

#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "deadletter.h"
#include "log.h"
#include "notice.h"
#include "tail_int.h" /* tail_excluded: an input's `exclude` */
#include "xalloc.h"

#define BODY_QUOTE 160      /* bytes of a rejection's answer in the log */
#define LIST_PATHS 5        /* paths named in the reminder of files that cannot be opened */

enum { K_DEAD, K_REJECTED, K_REFUSED, K_UNREADABLE, K_COUNT };

struct trouble {
	struct loop *loop;
	char *dl_path;
	char *url, *username;
	trouble_recheck_fn recheck;
	void *data;
	uint64_t period_ms;
	struct notice kind[K_COUNT];
	unsigned refused_run;  /* answers in a row that waiting will not change */
	long refused_status;   /* the last of them */
	struct trouble_file *bad;
	size_t nbad;
	uint64_t recheck_at;   /* loop_now_ms() of the next try of the files in bad */
	uint64_t gen;
	uint64_t outage_told_ms; /* the last outage line; 0: none in this outage */
	uint64_t timer, timer_at;
};

static void trouble_arm(struct trouble *t);

static uint64_t trouble_period(void)
{
	const char *v = getenv("ONSIDE_TEST_NOTICE_MS");
	uint64_t ms = v && *v ? strtoull(v, NULL, 10) : 0;

	return ms ? ms : TROUBLE_PERIOD_MS;
}

struct trouble *trouble_new(struct loop *l, const char *state_dir, const char *url, const char *username,
			    trouble_recheck_fn recheck, void *data)
{
	struct trouble *t = xcalloc(1, sizeof(*t));
	size_t n = strlen(state_dir) + sizeof(DEADLETTER_FILE) + 2;

	t->loop = l;
	t->dl_path = xmalloc(n);
	snprintf(t->dl_path, n, "%s%s%s", state_dir,
		 state_dir[0] && state_dir[strlen(state_dir) - 1] == '/' ? "" : "/", DEADLETTER_FILE);
	t->recheck = recheck;
	t->data = data;
	t->period_ms = trouble_period();
	for (int k = 0; k < K_COUNT; k++)
		notice_init(&t->kind[k], t->period_ms);
	trouble_set_endpoint(t, url, username);
	return t;
}

void trouble_set_endpoint(struct trouble *t, const char *url, const char *username)
{
	char *u = xstrdup(url ? url : ""), *n = xstrdup(username ? username : "");

	free(t->url);
	free(t->username);
	t->url = u;
	t->username = n;
}

static void trouble_file_free(struct trouble_file *f)
{
	free(f->path);
	free(f->input);
}

void trouble_free(struct trouble *t)
{
	if (!t)
		return;
	if (t->timer)
		loop_del_timer(t->loop, t->timer);
	for (size_t i = 0; i < t->nbad; i++)
		trouble_file_free(&t->bad[i]);
	free(t->bad);
	free(t->dl_path);
	free(t->url);
	free(t->username);
	free(t);
}

static uint64_t trouble_secs(const struct trouble *t) { return (t->period_ms + 500) / 1000; }

/* ---- lines dead-lettered, events rejected ---- */

static void tell_dead(struct trouble *t, const struct notice_summary *s)
{
	char n[32];

	notice_count(n, sizeof(n), s->n);
	log_warnx("map", "%s line%s dead-lettered in the last %" PRIu64 " s (%s) -> %s", n, s->n == 1 ? "" : "s",
		  s->secs, s->classes, t->dl_path);
}

static void tell_rejected(struct trouble *t, const struct notice_summary *s)
{
	char n[32];

	notice_count(n, sizeof(n), s->n);
	log_warnx("sender", "%s event%s rejected by the server in the last %" PRIu64 " s (%s) -> %s", n,
		  s->n == 1 ? "" : "s", s->secs, s->classes, t->dl_path);
}

void trouble_deadletter(struct trouble *t, const char *reason, const char *path, uint64_t offset)
{
	char cls[NOTICE_CLASS_MAX];

	notice_class_of(reason, cls, sizeof(cls));
	if (notice_add(&t->kind[K_DEAD], cls, loop_now_ms()))
		log_warnx("map", "a line was dead-lettered (%s) at offset %" PRIu64 " of %s -> %s; further ones are "
			  "summarised every %" PRIu64 " s", reason, offset, path, t->dl_path, trouble_secs(t));
	trouble_arm(t);
}

void trouble_rejected(struct trouble *t, long status, const char *body, size_t len, const char *path,
		      uint64_t offset)
{
	char cls[32];

	snprintf(cls, sizeof(cls), "HTTP %ld", status);
	if (notice_add(&t->kind[K_REJECTED], cls, loop_now_ms()))
		log_warnx("sender", "an event was rejected by the server (HTTP %ld: \"%.*s%s\") at offset %" PRIu64
			  " of %s -> %s; further ones are summarised every %" PRIu64 " s", status,
			  (int)(len < BODY_QUOTE ? len : BODY_QUOTE), body ? body : "", len > BODY_QUOTE ? "..." : "",
			  offset, path, t->dl_path, trouble_secs(t));
	trouble_arm(t);
}

/* ---- answers that waiting will not change ---- */

static bool trouble_permanent(long status)
{
	return status == 401 || status == 403 || status == 404 || status == 405;
}

/* What the answer means (cause) and what fixes it. */
static void trouble_hint(const struct trouble *t, long status, char *cause, size_t clen, char *fix, size_t flen)
{
	if (status == 401 || status == 403) {
		snprintf(cause, clen, "the API refused the credentials (HTTP %ld) for user \"%s\"", status, t->username);
		snprintf(fix, flen, "check endpoint.username and the password (endpoint.password_file or "
			 "endpoint.password_env)");
		return;
	}
	snprintf(cause, clen, "the API answered HTTP %ld (%s) for %s", status,
		 status == 404 ? "not found" : "method not allowed", t->url);
	snprintf(fix, flen, "endpoint.url is wrong: it must be the events endpoint, such as %s", CONFIG_DEFAULT_URL);
}

static void tell_refused(struct trouble *t, const struct notice_summary *s, bool final)
{
	char n[32], cause[1024], fix[256];

	notice_count(n, sizeof(n), s->n);
	trouble_hint(t, t->refused_status, cause, sizeof(cause), fix, sizeof(fix));
	log_errorx("sender", "%s request%s refused in the last %" PRIu64 " s (%s): %s: %s%s", n, s->n == 1 ? "" : "s",
		   s->secs, s->classes, cause, fix, final ? "" : "; still retrying");
}

unsigned trouble_refused(struct trouble *t, long status, const struct sender_stats *s)
{
	uint64_t now = loop_now_ms();
	char cls[32], cause[1024], fix[256];

	if (s->consecutive_failures <= 1)
		t->refused_run = 0; /* a new streak of failures */
	if (!trouble_permanent(status)) {
		t->refused_run = 0;
		return 0;
	}
	t->refused_run++;
	t->refused_status = status;
	snprintf(cls, sizeof(cls), "HTTP %ld", status);
	if (notice_add(&t->kind[K_REFUSED], cls, now)) {
		trouble_hint(t, status, cause, sizeof(cause), fix, sizeof(fix));
		log_errorx("sender", "%s: %s; retrying in %.1fs; further refusals are summarised every %" PRIu64 " s",
			   cause, fix, s->next_retry_ms > now ? (double)(s->next_retry_ms - now) / 1000.0 : 0.0,
			   trouble_secs(t));
	}
	trouble_arm(t);
	return t->refused_run;
}

void trouble_give_up(struct trouble *t, long status)
{
	struct notice_summary s;
	char cause[1024], fix[256];

	notice_take(&t->kind[K_REFUSED], loop_now_ms(), &s); /* this line says it all */
	trouble_hint(t, status, cause, sizeof(cause), fix, sizeof(fix));
	log_errorx("sender", "%s, %u times in a row: stopping; %s (nothing is lost: the checkpoint keeps its place, "
		   "and the next run sends what is left)", cause, t->refused_run, fix);
}

/* ---- files that cannot be opened ---- */

static struct trouble_file *trouble_find(struct trouble *t, const char *path)
{
	for (size_t i = 0; i < t->nbad; i++)
		if (strcmp(t->bad[i].path, path) == 0)
			return &t->bad[i];
	return NULL;
}

void trouble_open_failed(struct trouble *t, const char *path, const char *input, bool initial, int err)
{
	struct trouble_file *f = trouble_find(t, path);

	if (f) {
		if (f->err != err)
			t->gen++;
		f->err = err;
		return; /* told already; the reminder says it lasts */
	}
	t->bad = xreallocarray(t->bad, t->nbad + 1, sizeof(*t->bad));
	f = &t->bad[t->nbad++];
	*f = (struct trouble_file){xstrdup(path), xstrdup(input), initial, err, (int64_t)time(NULL)};
	t->gen++;
	if (!t->recheck_at)
		t->recheck_at = loop_now_ms() + t->period_ms;
	if (notice_add(&t->kind[K_UNREADABLE], strerror(-err), loop_now_ms()))
		log_warnx("tail", "cannot open %s (input %s): %s; trying again every %" PRIu64 " s (onside-agent "
			  "status lists it)", path, input, strerror(-err), trouble_secs(t));
	trouble_arm(t);
}

/* Tries every file again; those that can be opened now (or are gone, or no longer match) leave. */
static void trouble_recheck_all(struct trouble *t)
{
	for (size_t i = 0; i < t->nbad;) {
		struct trouble_file *f = &t->bad[i];
		int r = t->recheck(t->data, f->path, f->initial);

		if (r < 0 && r != -ENOENT) {
			f->err = r;
			i++;
			continue;
		}
		log_debug("tail", "%s: %s", f->path, r == 0 ? "can be opened now" : "gone, or no longer matched");
		trouble_file_free(f);
		memmove(f, f + 1, (t->nbad - i - 1) * sizeof(*f));
		t->nbad--;
		t->gen++;
	}
}

/* While files cannot be opened, one line a period says which, and since when. */
static void tell_unreadable(struct trouble *t, uint64_t now)
{
	struct notice_summary s;
	char n[32], list[1024], age[32];
	size_t o = 0;
	struct notice counts;

	notice_take(&t->kind[K_UNREADABLE], now, &s);
	if (!t->nbad)
		return;
	notice_init(&counts, t->period_ms); /* the classes of the files as they are now */
	for (size_t i = 0; i < t->nbad; i++)
		notice_tally(&counts, strerror(-t->bad[i].err));
	notice_take(&counts, now, &s);
	for (size_t i = 0; i < t->nbad && i < LIST_PATHS && o < sizeof(list); i++) {
		int64_t secs = (int64_t)time(NULL) - t->bad[i].since;

		notice_duration(age, sizeof(age), secs > 0 ? (uint64_t)secs : 0);
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s (for %s)", i ? ", " : "", t->bad[i].path, age);
	}
	notice_count(n, sizeof(n), t->nbad);
	log_warnx("tail", "%s matching file%s still cannot be opened (%s): %s%s", n, t->nbad == 1 ? "" : "s",
		  s.classes, list, t->nbad > LIST_PATHS ? ", ..." : "");
}

const struct trouble_file *trouble_unreadable(const struct trouble *t, size_t *ret_n)
{
	*ret_n = t->nbad;
	return t->bad;
}

uint64_t trouble_generation(const struct trouble *t) { return t->gen; }

/* ---- a long outage ---- */

void trouble_outage(struct trouble *t, const struct sender_stats *s, uint64_t behind)
{
	uint64_t now = loop_now_ms(), every = TROUBLE_OUTAGE_PERIODS * t->period_ms;
	char b[32], after[32], next[32];

	if (!s->failing_since_ms) {
		t->outage_told_ms = 0;
		return;
	}
	if (now - s->failing_since_ms < every || (t->outage_told_ms && now - t->outage_told_ms < every))
		return;
	t->outage_told_ms = now;
	notice_count(b, sizeof(b), behind);
	notice_duration(after, sizeof(after), (now - s->failing_since_ms) / 1000);
	if (s->next_retry_ms > now)
		notice_duration(next, sizeof(next), (s->next_retry_ms - now + 999) / 1000);
	log_warnx("sender", "delivery still failing after %s: %s bytes behind, %s%s (%u failed attempts, last "
		  "error: %s)", after, b, s->next_retry_ms > now ? "next retry in " : "retrying now",
		  s->next_retry_ms > now ? next : "", s->consecutive_failures,
		  s->last_error[0] ? s->last_error : "unknown");
}

/* ---- globs that match nothing ---- */

size_t trouble_glob_count(const struct config_input *in, const char *pattern)
{
	struct stat st;
	size_t n = 0;
	glob_t g;

	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	for (size_t i = 0; i < g.gl_pathc; i++)
		n += !tail_excluded(in, g.gl_pathv[i]) && stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode);
	globfree(&g);
	return n;
}

void trouble_empty_globs(const struct config *cfg, bool once)
{
	for (size_t i = 0; i < cfg->ninputs; i++) {
		const struct config_input *in = &cfg->inputs[i];

		for (size_t k = 0; k < in->npaths; k++) {
			if (trouble_glob_count(in, in->paths[k]))
				continue;
			if (once)
				log_warnx("tail", "input %s: \"%s\" matches no file: nothing to read there", in->name,
					  in->paths[k]);
			else
				log_warnx("tail", "input %s: \"%s\" matches no file yet; it is watched, and a file "
					  "that appears is followed", in->name, in->paths[k]);
		}
	}
}

/* ---- the timer ---- */

static void trouble_tell(struct trouble *t, int k, uint64_t now, bool final)
{
	struct notice_summary s;

	notice_take(&t->kind[k], now, &s);
	if (!s.n)
		return;
	if (k == K_DEAD)
		tell_dead(t, &s);
	else if (k == K_REJECTED)
		tell_rejected(t, &s);
	else if (k == K_REFUSED)
		tell_refused(t, &s, final);
}

/* The earliest thing to do, or 0. */
static uint64_t trouble_next(const struct trouble *t)
{
	uint64_t next = t->nbad ? t->recheck_at : 0;

	for (int k = 0; k < K_UNREADABLE; k++) {
		uint64_t d = notice_deadline(&t->kind[k]);

		if (d && (!next || d < next))
			next = d;
	}
	return next;
}

static int64_t trouble_timer_cb(struct loop *l, void *data)
{
	struct trouble *t = data;
	uint64_t now = loop_now_ms(), next;

	(void)l;
	for (int k = 0; k < K_UNREADABLE; k++) {
		uint64_t d = notice_deadline(&t->kind[k]);

		if (d && d <= now)
			trouble_tell(t, k, now, false);
	}
	if (t->nbad && t->recheck_at <= now) {
		trouble_recheck_all(t);
		tell_unreadable(t, now);
		t->recheck_at = t->nbad ? now + t->period_ms : 0;
	}
	next = trouble_next(t);
	if (!next) {
		t->timer = 0;
		return LOOP_TIMER_STOP;
	}
	t->timer_at = next;
	return (int64_t)(next > now ? next - now : 0);
}

static void trouble_arm(struct trouble *t)
{
	uint64_t next = trouble_next(t), now = loop_now_ms();
	int64_t in;

	if (!next || (t->timer && t->timer_at <= next))
		return;
	in = (int64_t)(next > now ? next - now : 0);
	t->timer_at = next;
	if (t->timer && loop_reset_timer(t->loop, t->timer, in) == 0)
		return;
	t->timer = loop_add_timer(t->loop, in, trouble_timer_cb, t);
}

void trouble_flush(struct trouble *t)
{
	uint64_t now = loop_now_ms();

	for (int k = 0; k < K_UNREADABLE; k++)
		trouble_tell(t, k, now, true);
}
