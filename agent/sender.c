/* The HTTP sender: applies the API's response rules (docs/reference.md, "Answers of the API") to requests that a transport sends
 * (transport.h: libcurl's multi_socket interface driven by the agent's loop, transport_curl.c).
 *
 * Model:
 * - A job is one submitted batch. It is resolved (and handed back through `delivered`) when every
 *   piece of it is resolved. A piece is what one request sends: the submitted batch itself, or a
 *   slice of it after a 400/413 split.
 * - Pieces wait in one queue ordered by (job sequence, index of their first event), so a piece
 *   resent after a failure or a split goes before anything submitted later.
 * - A request goes out from a slot of the transport. There are as many slots as the concurrency can
 *   reach (the fixed max_in_flight or the adaptive ceiling); the controller (concurrency.c) says how
 *   many may be busy now, and, after 429s, how soon the next request may start.
 * - One global backoff timer: while it runs nothing new is started, because a server that fails one
 *   request is down (or rate limiting) for all of them. A Retry-After extends it: it applies to every
 *   request, also those in flight when it came. */
#include "sender.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "concurrency.h"
#include "httpresp.h"
#include "log.h"
#include "transport.h"

#define COMP "sender"
/* A Retry-After longer than this is not a plan but a mistake (or a hostile answer): max_backoff
 * applies instead. */
#define RETRY_AFTER_MAX_MS (24ULL * 3600 * 1000)
/* Bytes of an unexpected answer's body quoted in the log. */
#define BODY_QUOTE_MAX 80

struct sender_job {
	struct batch *orig;
	uint64_t seq;
	size_t left; /* pieces not yet resolved */
	struct sender_job *prev, *next;
};

struct sender_piece {
	struct batch *b; /* job->orig while unsplit, otherwise a slice owned by the piece */
	struct sender_job *job;
	size_t base; /* index of b's first event in job->orig */
	struct sender_piece *next;
};

struct sender_slot {
	struct sender_piece *piece; /* NULL: the slot is free */
	uint64_t start_us;
};

struct sender {
	struct loop *loop;
	const struct transport_ops *tops;
	void *t;
	struct sender_cbs cbs;
	struct sender_opts opts; /* strings owned */
	struct sender_slot *slots; /* as many as the transport has */
	unsigned nslots;
	struct concurrency *conc;
	struct sender_piece *queue;
	struct sender_job *jobs;
	uint64_t job_seq;
	size_t pending;
	uint64_t backoff_timer;
	uint64_t backoff_end_ms;
	uint64_t pace_timer; /* the rate cap's next start */
	bool waiting;        /* queued pieces wait for a slot (as last told to the controller) */
	unsigned fail_streak; /* failed requests since the last success; drives the backoff */
	uint64_t streak_start_ms;
	bool streak_warned;
	uint64_t rng;
	struct sender_stats stats;
};

static void pump(struct sender *s);

static void opts_clear(struct sender_opts *o)
{
	if (o->password)
		explicit_bzero((char *)o->password, strlen(o->password));
	free((char *)o->url);
	free((char *)o->username);
	free((char *)o->password);
	free((char *)o->ca_file);
	if (o->proxy) /* it may hold the proxy's password */
		explicit_bzero((char *)o->proxy, strlen(o->proxy));
	free((char *)o->proxy);
	memset(o, 0, sizeof(*o));
}

static int opts_copy(struct sender_opts *dst, const struct sender_opts *src)
{
	struct sender_opts o = *src;

	o.url = strdup(src->url ? src->url : "");
	o.username = strdup(src->username ? src->username : "");
	o.password = strdup(src->password ? src->password : "");
	o.ca_file = src->ca_file && *src->ca_file ? strdup(src->ca_file) : NULL;
	o.proxy = src->proxy ? strdup(src->proxy) : NULL;
	if (!o.url || !o.username || !o.password || (src->ca_file && *src->ca_file && !o.ca_file) ||
	    (src->proxy && !o.proxy)) {
		opts_clear(&o);
		return -ENOMEM;
	}
	if (o.max_in_flight > CONCURRENCY_MAX)
		o.max_in_flight = CONCURRENCY_MAX;
	if (!o.max_in_flight_ceiling)
		o.max_in_flight_ceiling = CONCURRENCY_DEFAULT;
	if (o.max_in_flight_ceiling > CONCURRENCY_MAX)
		o.max_in_flight_ceiling = CONCURRENCY_MAX;
	if (!o.initial_backoff_ms)
		o.initial_backoff_ms = 1;
	if (o.max_backoff_ms < o.initial_backoff_ms)
		o.max_backoff_ms = o.initial_backoff_ms;
	*dst = o;
	return 0;
}

/* xorshift64: jitter only needs to spread clients apart, not be unpredictable */
static uint64_t rng_next(struct sender *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

/* Exponential backoff with equal jitter: half the step is fixed so that retries never come back
 * immediately, the other half is random so that many agents do not retry in lockstep. The fixed part
 * is never less than initial_backoff (no wait before a retry is shorter, SPEC.md): the first retry
 * comes after exactly initial_backoff, the later ones spread over the upper half of their step. */
static uint64_t backoff_delay(struct sender *s)
{
	uint64_t step = s->opts.initial_backoff_ms, least;

	for (unsigned i = 1; i < s->fail_streak && step < s->opts.max_backoff_ms; i++)
		step *= 2;
	if (step > s->opts.max_backoff_ms)
		step = s->opts.max_backoff_ms;
	least = step / 2 > s->opts.initial_backoff_ms ? step / 2 : s->opts.initial_backoff_ms;
	return least + rng_next(s) % (step - least + 1);
}

static void queue_insert(struct sender *s, struct sender_piece *p)
{
	struct sender_piece **pp = &s->queue;

	while (*pp && ((*pp)->job->seq < p->job->seq ||
		       ((*pp)->job->seq == p->job->seq && (*pp)->base < p->base)))
		pp = &(*pp)->next;
	p->next = *pp;
	*pp = p;
}

static void piece_free(struct sender_piece *p)
{
	if (p->b != p->job->orig)
		batch_free(p->b);
	free(p);
}

/* A piece is resolved; the job is handed back when it was the last one. */
static void piece_done(struct sender *s, struct sender_piece *p)
{
	struct sender_job *job = p->job;
	struct batch *orig = job->orig;

	piece_free(p);
	if (--job->left > 0)
		return;
	if (job->prev)
		job->prev->next = job->next;
	else
		s->jobs = job->next;
	if (job->next)
		job->next->prev = job->prev;
	s->pending--;
	free(job);
	s->cbs.delivered(orig, s->cbs.data);
}

static int64_t on_backoff_end(struct loop *l, void *data)
{
	struct sender *s = data;

	s->backoff_timer = 0;
	s->stats.next_retry_ms = 0;
	pump(s);
	return LOOP_TIMER_STOP;
}

/* Nothing new starts for delay_ms. A concurrent failure does not stretch a running wait by its own
 * backoff (each request in flight may fail the same way), only to initial_backoff after it (no retry
 * comes sooner), but a Retry-After stretches it all the way: the server asked it of every request. */
static void pause_for(struct sender *s, uint64_t delay_ms, bool retry_after)
{
	uint64_t now = loop_now_ms(), least = retry_after ? delay_ms : s->opts.initial_backoff_ms;

	if (s->backoff_timer) {
		if (now + least > s->backoff_end_ms && loop_reset_timer(s->loop, s->backoff_timer, (int64_t)least) == 0)
			s->backoff_end_ms = s->stats.next_retry_ms = now + least;
		return;
	}
	s->backoff_timer = loop_add_timer(s->loop, (int64_t)delay_ms, on_backoff_end, s);
	s->backoff_end_ms = now + delay_ms;
	s->stats.next_retry_ms = s->backoff_timer ? now + delay_ms : 0;
	if (!s->backoff_timer)
		log_errorx(COMP, "cannot schedule a retry: out of memory");
}

/* The first bytes of a response body, printable, for a log line. */
static void quote_body(const char *body, size_t len, char *out, size_t outlen)
{
	size_t n = len < BODY_QUOTE_MAX ? len : BODY_QUOTE_MAX, k = 0;

	for (size_t i = 0; i < n && k + 2 < outlen; i++) {
		unsigned char c = (unsigned char)body[i];
		out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
	}
	out[k] = '\0';
}

/* Logs a failure at most once per streak (plus once for wrong credentials). */
static void note_failure(struct sender *s, const struct transport_result *r, const char *what, uint64_t delay_ms)
{
	char body[BODY_QUOTE_MAX + 1];
	long status = r->status;

	if (status == 401 || status == 403 || status == 404 || status == 405)
		return; /* told by the agent (cbs.failed), rate-limited, with the fix */
	if (!s->streak_warned && status >= 200 && status < 300) {
		quote_body(r->body, r->body_len, body, sizeof(body));
		log_errorx(COMP,
			   "unexpected HTTP %ld from %s: not the Onside API? (\"%s\"); only 204 means "
			   "delivered: retrying in %.1fs; further failures are not logged until delivery recovers",
			   status, s->opts.url, body, (double)delay_ms / 1000.0);
	} else if (!s->streak_warned) {
		log_warnx(COMP,
			  "delivery failed (%s); retrying in %.1fs; further failures are not logged "
			  "until delivery recovers",
			  what, (double)delay_ms / 1000.0);
	}
	s->streak_warned = true;
}

static void note_alive(struct sender *s)
{
	if (s->fail_streak)
		log_info(COMP, "delivery recovered after %u failed attempt%s over %.1fs", s->fail_streak,
			 s->fail_streak == 1 ? "" : "s",
			 (double)(loop_now_ms() - s->streak_start_ms) / 1000.0);
	s->fail_streak = 0;
	s->streak_warned = false;
	s->stats.consecutive_failures = 0;
	s->stats.failing_since_ms = 0;
}

/* The server's Retry-After, within reason: never shorter than initial_backoff (a 0, or a date in the
 * past from a clock a little ahead, would otherwise retry in a tight loop), and an absurd one (over a
 * day) is replaced by max_backoff. */
static uint64_t retry_after_delay(const struct sender *s, uint64_t ms)
{
	if (ms > RETRY_AFTER_MAX_MS)
		return s->opts.max_backoff_ms;
	return ms < s->opts.initial_backoff_ms ? s->opts.initial_backoff_ms : ms;
}

/* Transient failure: the same piece goes back to its place in the queue after a global pause. r says
 * how the request ended: an HTTP status, or r->error for no answer. */
static void piece_retry(struct sender *s, struct sender_piece *p, const struct transport_result *r)
{
	bool retry_after = r->status == 429 && r->retry_after_ms >= 0;
	uint64_t delay;

	if (r->error)
		snprintf(s->stats.last_error, sizeof(s->stats.last_error), "%s", r->error);
	else
		snprintf(s->stats.last_error, sizeof(s->stats.last_error), "HTTP %ld", r->status);
	if (!s->fail_streak)
		s->streak_start_ms = loop_now_ms();
	s->fail_streak++;
	delay = backoff_delay(s);
	if (retry_after)
		delay = retry_after_delay(s, (uint64_t)r->retry_after_ms);
	note_failure(s, r, s->stats.last_error, delay);
	s->stats.retries++;
	queue_insert(s, p);
	pause_for(s, delay, retry_after);
	s->stats.consecutive_failures = s->fail_streak;
	s->stats.failing_since_ms = s->streak_start_ms;
	if (s->cbs.failed)
		s->cbs.failed(r->error ? 0 : r->status, s->cbs.data);
}

/* A failure of the agent's own (memory, a request that could not start) retried as a transport
 * error with this description. */
static void piece_retry_local(struct sender *s, struct sender_piece *p, const char *what, int err)
{
	char why[128];

	snprintf(why, sizeof(why), "%s: %s", what, strerror(-err));
	piece_retry(s, p, &(struct transport_result){.error = why, .body = "", .retry_after_ms = -1});
}

/* 400 or 413: split to isolate the offending event(s); a lone event is reported, never resent. */
static void piece_refused(struct sender *s, struct sender_piece *p, const struct transport_result *r)
{
	size_t n = batch_count(p->b), half = n / 2;
	struct sender_piece *second;
	struct batch *b1, *b2;
	int err;

	note_alive(s);
	snprintf(s->stats.last_error, sizeof(s->stats.last_error), "HTTP %ld", r->status);
	if (n == 1) {
		log_debug(COMP, "event at offset %llu rejected alone with HTTP %ld",
			  (unsigned long long)batch_event_line(p->b, 0).offset, r->status);
		if (s->cbs.rejected(p->b, 0, r->status, r->body, r->body_len, s->cbs.data) < 0) {
			/* not dead-lettered: the job must never resolve, so the piece is dropped unresolved
			 * (the batch stays pending; its lines are read again after a restart) */
			piece_free(p);
			return;
		}
		s->stats.events_rejected++;
		piece_done(s, p);
		return;
	}
	second = calloc(1, sizeof(*second));
	err = second ? batch_split(p->b, &b1, &b2) : -ENOMEM;
	if (err < 0) {
		free(second);
		piece_retry_local(s, p, "cannot split a refused batch", err);
		return;
	}
	log_debug(COMP, "HTTP %ld for %zu events: splitting", r->status, n);
	if (p->b != p->job->orig)
		batch_free(p->b);
	second->job = p->job;
	second->b = b2;
	second->base = p->base + half;
	p->b = b1;
	p->job->left++;
	queue_insert(s, p);
	queue_insert(s, second);
}

static enum concurrency_signal load_signal(int cls, const struct transport_result *r)
{
	if (cls == HTTPRESP_ST_204)
		return r->connected ? CONCURRENCY_OK_CONNECTED : CONCURRENCY_OK;
	if (r->status == 429)
		return CONCURRENCY_RATE;
	return cls == HTTPRESP_ST_5XX || cls == HTTPRESP_ST_TRANSPORT ? CONCURRENCY_OVERLOAD : CONCURRENCY_NEUTRAL;
}

static void stats_concurrency(struct sender *s, uint64_t now)
{
	s->stats.concurrency_limit = concurrency_limit(s->conc);
	s->stats.rtt_us = concurrency_rtt_us(s->conc);
	s->stats.rate_cap = concurrency_rate_cap(s->conc, now);
}

/* Tells the controller how a request went; its changes go to the debug log. The round trip starts
 * when the request itself went out: a new connection's setup is not the server's doing. */
static void adapt(struct sender *s, uint64_t start_us, const struct transport_result *r, int cls)
{
	struct concurrency_change ch;
	uint64_t now = loop_now_us();

	if (r->setup_us < now - start_us)
		start_us += r->setup_us;
	if (concurrency_result(s->conc, start_us, now, load_signal(cls, r), &ch)) {
		if (ch.from != ch.to)
			log_debug(COMP, "concurrency %u -> %u: %s (round trip %.1f ms, baseline %.1f ms)", ch.from,
				  ch.to, ch.why, ch.rtt_ms, ch.base_ms);
	}
	stats_concurrency(s, now);
}

/* A request started: the rate cap spaces the next one, and is set from the last 429 when sending
 * resumes after it. */
static void started(struct sender *s, uint64_t now)
{
	struct concurrency_change ch;

	if (concurrency_started(s->conc, now, &ch)) {
		log_debug(COMP, "rate limited: at most %.1f requests/s from now, growing slowly", ch.rate_cap);
		stats_concurrency(s, now);
	}
}

/* One line per request at debug: the answer (or why there was none), what was sent, how long. */
static void log_request(const struct sender_piece *p, const struct transport_result *r, uint64_t start_us)
{
	double ms = (double)(loop_now_us() - start_us) / 1000.0;
	size_t len;

	batch_body(p->b, &len);
	if (r->error)
		log_debug(COMP, "request: %s, %zu events, %zu bytes, %.1f ms", r->error, batch_count(p->b), len, ms);
	else
		log_debug(COMP, "request: HTTP %ld, %zu events, %zu bytes, %.1f ms", r->status, batch_count(p->b),
			  len, ms);
}

/* The transport's report of the request of slot i. */
static void on_done(void *data, unsigned i, const struct transport_result *r)
{
	struct sender *s = data;
	struct sender_slot *slot = &s->slots[i];
	struct sender_piece *p = slot->piece;
	uint64_t start_us = slot->start_us; /* a batch submitted from `delivered` may reuse the slot */
	int cls = r->error ? HTTPRESP_ST_TRANSPORT : httpresp_class(r->status);

	/* the wait that these answers ended counts in the window they may close */
	if (s->waiting)
		concurrency_waiting(s->conc, true, loop_now_us());
	log_request(p, r, start_us);
	slot->piece = NULL;
	s->stats.in_flight--;
	s->stats.requests_total++;
	s->stats.requests_by_class[cls]++;
	s->stats.last_status = r->error ? 0 : r->status;
	if (cls == HTTPRESP_ST_204) {
		note_alive(s);
		s->stats.events_delivered += batch_count(p->b);
		s->stats.last_success_unix = (int64_t)time(NULL);
		s->stats.last_error[0] = '\0';
		piece_done(s, p);
	} else if (cls == HTTPRESP_ST_400 || cls == HTTPRESP_ST_413) {
		piece_refused(s, p, r);
	} else {
		piece_retry(s, p, r);
	}
	adapt(s, start_us, r, cls);
}

static void on_idle(void *data) { pump(data); }

static int slot_start(struct sender *s, unsigned i, struct sender_piece *p)
{
	size_t len;
	const char *body = batch_body(p->b, &len);
	int r = s->tops->start(s->t, i, body, len);

	if (r < 0)
		return r;
	s->slots[i].piece = p;
	s->slots[i].start_us = loop_now_us();
	s->stats.in_flight++;
	return 0;
}

static int64_t on_pace(struct loop *l, void *data)
{
	struct sender *s = data;

	s->pace_timer = 0;
	pump(s);
	return LOOP_TIMER_STOP;
}

/* Under a rate cap: true when the next request must wait (a timer then calls pump). */
static bool pace_wait(struct sender *s)
{
	uint64_t next = concurrency_next_start(s->conc), now = loop_now_us();

	if (next <= now)
		return false;
	if (!s->pace_timer)
		s->pace_timer = loop_add_timer(s->loop, (int64_t)((next - now + 999) / 1000), on_pace, s);
	return s->pace_timer != 0; /* without a timer, go now rather than never */
}

static int free_slot(const struct sender *s)
{
	for (unsigned i = 0; i < s->nslots; i++)
		if (!s->slots[i].piece)
			return (int)i;
	return -1;
}

static void start_queued(struct sender *s)
{
	while (s->queue && !s->backoff_timer && !s->pace_timer) {
		struct sender_piece *p;
		int i = -1, r;

		if (s->stats.in_flight >= concurrency_limit(s->conc) || (i = free_slot(s)) < 0)
			return;
		if (pace_wait(s))
			return;
		p = s->queue;
		s->queue = p->next;
		r = slot_start(s, (unsigned)i, p);
		if (r < 0) {
			piece_retry_local(s, p, "cannot start a request", r);
			if (!s->backoff_timer)
				return; /* no timer to resume from: the next event retries */
			continue;
		}
		started(s, s->slots[i].start_us);
	}
}

/* Starts queued pieces while the concurrency limit and the rate cap allow, unless backing off. */
static void pump(struct sender *s)
{
	bool waiting;

	start_queued(s);
	/* demand beyond the limit: the controller may grow */
	waiting = s->queue && s->stats.in_flight >= concurrency_limit(s->conc);
	if (waiting || s->waiting)
		concurrency_waiting(s->conc, waiting, loop_now_us());
	s->waiting = waiting;
}

/* Slots up to the largest concurrency the options allow (they never shrink: a smaller limit leaves
 * some idle), in the sender and in the transport. */
static int slots_grow(struct sender *s, const struct sender_opts *o)
{
	unsigned want = o->max_in_flight ? o->max_in_flight : o->max_in_flight_ceiling;
	struct sender_slot *v;
	int r;

	if (want <= s->nslots)
		return 0;
	if ((r = s->tops->grow(s->t, want)) < 0)
		return r;
	v = realloc(s->slots, want * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memset(v + s->nslots, 0, (want - s->nslots) * sizeof(*v));
	s->slots = v;
	s->nslots = want;
	return 0;
}

struct sender *sender_new(struct loop *l, const struct sender_opts *opts, const struct sender_cbs *cbs)
{
	return sender_new_with(l, opts, cbs, &transport_curl);
}

struct sender *sender_new_with(struct loop *l, const struct sender_opts *opts, const struct sender_cbs *cbs,
			       const struct transport_ops *tops)
{
	struct transport_events ev;
	struct sender *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = l;
	s->tops = tops;
	s->cbs = *cbs;
	s->rng = opts->jitter_seed ? opts->jitter_seed : loop_now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
	if (!s->rng)
		s->rng = 1;
	ev = (struct transport_events){.done = on_done, .idle = on_idle, .data = s};
	if (opts_copy(&s->opts, opts) < 0 || !(s->t = tops->create(l, &ev))) {
		sender_free(s);
		return NULL;
	}
	tops->configure(s->t, &s->opts);
	if (slots_grow(s, &s->opts) < 0 ||
	    !(s->conc = concurrency_new(s->opts.max_in_flight, s->opts.max_in_flight_ceiling))) {
		sender_free(s);
		return NULL;
	}
	stats_concurrency(s, loop_now_us());
	return s;
}

void sender_free(struct sender *s)
{
	if (!s)
		return;
	/* the transport first: it drops the requests in flight, which send the pieces' bodies */
	if (s->t)
		s->tops->destroy(s->t);
	for (unsigned i = 0; i < s->nslots; i++)
		if (s->slots[i].piece)
			piece_free(s->slots[i].piece);
	free(s->slots);
	while (s->queue) {
		struct sender_piece *p = s->queue;
		s->queue = p->next;
		piece_free(p);
	}
	while (s->jobs) {
		struct sender_job *job = s->jobs;
		s->jobs = job->next;
		batch_free(job->orig);
		free(job);
	}
	if (s->backoff_timer)
		(void)loop_del_timer(s->loop, s->backoff_timer);
	if (s->pace_timer)
		(void)loop_del_timer(s->loop, s->pace_timer);
	concurrency_free(s->conc);
	opts_clear(&s->opts);
	free(s);
}

int sender_submit(struct sender *s, struct batch *b)
{
	struct sender_job *job;
	struct sender_piece *p;

	if (!b || !batch_closed(b) || batch_count(b) == 0)
		return -EINVAL;
	job = calloc(1, sizeof(*job));
	p = calloc(1, sizeof(*p));
	if (!job || !p) {
		free(job);
		free(p);
		return -ENOMEM;
	}
	job->orig = b;
	job->seq = ++s->job_seq;
	job->left = 1;
	job->next = s->jobs;
	if (s->jobs)
		s->jobs->prev = job;
	s->jobs = job;
	s->pending++;
	p->b = b;
	p->job = job;
	queue_insert(s, p);
	pump(s);
	return 0;
}

size_t sender_pending(const struct sender *s) { return s->pending; }

const struct sender_stats *sender_stats(const struct sender *s) { return &s->stats; }

int sender_set_opts(struct sender *s, const struct sender_opts *opts)
{
	struct sender_opts o;
	int r = opts_copy(&o, opts);

	if (r < 0)
		return r;
	if ((r = slots_grow(s, &o)) < 0) {
		opts_clear(&o);
		return r;
	}
	opts_clear(&s->opts);
	s->opts = o;
	s->tops->configure(s->t, &s->opts);
	concurrency_configure(s->conc, o.max_in_flight, o.max_in_flight_ceiling);
	stats_concurrency(s, loop_now_us());
	/* new settings (often fixed credentials) deserve a prompt try rather than the rest of a
	 * possibly long wait */
	if (s->backoff_timer) {
		(void)loop_del_timer(s->loop, s->backoff_timer);
		s->backoff_timer = 0;
		s->stats.next_retry_ms = 0;
	}
	pump(s);
	return 0;
}

bool sender_backing_off(const struct sender *s)
{
	return s->backoff_timer != 0 && s->stats.in_flight == 0;
}

size_t sender_in_flight(const struct sender *s) { return (size_t)s->stats.in_flight; }

size_t sender_limit(const struct sender *s) { return concurrency_limit(s->conc); }
