/* The HTTP sender: libcurl's multi_socket interface driven by the agent's loop (the shape of curl's
 * ephiperfifo example), applying the API's response rules (docs/reference.md, "Answers of the API").
 *
 * Model:
 * - A job is one submitted batch. It is resolved (and handed back through `delivered`) when every
 *   piece of it is resolved. A piece is what one request sends: the submitted batch itself, or a
 *   slice of it after a 400/413 split.
 * - Pieces wait in one queue ordered by (job sequence, index of their first event), so a piece
 *   resent after a failure or a split goes before anything submitted later.
 * - Each in-flight slot owns one easy handle for its whole life; the multi handle's connection cache
 *   then reuses connections (keep-alive) from one request to the next, and multiplexes them on one
 *   connection when the server speaks HTTP/2. There are as many slots as the concurrency can reach
 *   (the fixed max_in_flight or the adaptive ceiling); the controller (concurrency.c) says how many
 *   may be busy now, and, after 429s, how soon the next request may start.
 * - One global backoff timer: while it runs nothing new is started, because a server that fails one
 *   request is down (or rate limiting) for all of them. A Retry-After extends it: it applies to every
 *   request, also those in flight when it came. */
#include "sender.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cabundle.h"
#include "curlmem.h"
#include "concurrency.h"
#include "httpresp.h"
#include "log.h"
#include "proxy.h"

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
	struct sender *s;
	CURL *easy;
	unsigned opts_gen; /* s->opts_gen its static options were set for */
	struct sender_piece *piece;
	uint64_t start_us;
	struct buf resp;
	int64_t retry_after_ms; /* -1: the response had none */
	char errbuf[CURL_ERROR_SIZE];
};

struct sender {
	struct loop *loop;
	CURLM *multi;
	struct sender_cbs cbs;
	struct sender_opts opts; /* strings owned */
	unsigned opts_gen;
	struct curl_slist *headers;
	struct sender_slot **slots; /* nslots, each allocated once: curl holds pointers to them */
	unsigned nslots;
	struct concurrency *conc;
	struct sender_piece *queue;
	struct sender_job *jobs;
	uint64_t job_seq;
	size_t pending;
	uint64_t curl_timer;
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
 * immediately, the other half is random so that many agents do not retry in lockstep. */
static uint64_t backoff_delay(struct sender *s)
{
	uint64_t step = s->opts.initial_backoff_ms;

	for (unsigned i = 1; i < s->fail_streak && step < s->opts.max_backoff_ms; i++)
		step *= 2;
	if (step > s->opts.max_backoff_ms)
		step = s->opts.max_backoff_ms;
	return step / 2 + rng_next(s) % (step / 2 + 1);
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

/* Nothing new starts for delay_ms. A concurrent failure does not stretch a running wait (each request
 * in flight may fail the same way), but a Retry-After does: the server asked it of every request. */
static void pause_for(struct sender *s, uint64_t delay_ms, bool retry_after)
{
	uint64_t end = loop_now_ms() + delay_ms;

	if (s->backoff_timer) {
		if (retry_after && end > s->backoff_end_ms &&
		    loop_reset_timer(s->loop, s->backoff_timer, (int64_t)delay_ms) == 0)
			s->backoff_end_ms = s->stats.next_retry_ms = end;
		return;
	}
	s->backoff_timer = loop_add_timer(s->loop, (int64_t)delay_ms, on_backoff_end, s);
	s->backoff_end_ms = end;
	s->stats.next_retry_ms = s->backoff_timer ? end : 0;
	if (!s->backoff_timer)
		log_errorx(COMP, "cannot schedule a retry: out of memory");
}

static void describe_failure(const struct sender_slot *slot, long status, CURLcode res, char *out,
			     size_t outlen)
{
	if (res != CURLE_OK)
		snprintf(out, outlen, "%s", slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(res));
	else
		snprintf(out, outlen, "HTTP %ld", status);
}

/* The first bytes of a response body, printable, for a log line. */
static void quote_body(const struct buf *b, char *out, size_t outlen)
{
	size_t n = b->len < BODY_QUOTE_MAX ? b->len : BODY_QUOTE_MAX, k = 0;

	for (size_t i = 0; i < n && k + 2 < outlen; i++) {
		unsigned char c = (unsigned char)b->data[i];
		out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
	}
	out[k] = '\0';
}

/* Logs a failure at most once per streak (plus once for wrong credentials). */
static void note_failure(struct sender *s, const struct sender_slot *slot, long status, const char *what,
			 uint64_t delay_ms)
{
	char body[BODY_QUOTE_MAX + 1];

	if (status == 401 || status == 403 || status == 404 || status == 405)
		return; /* told by the agent (cbs.failed), rate-limited, with the fix */
	if (!s->streak_warned && status >= 200 && status < 300) {
		quote_body(&slot->resp, body, sizeof(body));
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

/* Transient failure: the same piece goes back to its place in the queue after a global pause. */
static void piece_retry(struct sender *s, struct sender_piece *p, const struct sender_slot *slot,
			    long status, CURLcode res)
{
	bool retry_after = status == 429 && slot->retry_after_ms >= 0;
	uint64_t delay;

	describe_failure(slot, status, res, s->stats.last_error, sizeof(s->stats.last_error));
	if (!s->fail_streak)
		s->streak_start_ms = loop_now_ms();
	s->fail_streak++;
	delay = backoff_delay(s);
	if (retry_after)
		delay = retry_after_delay(s, (uint64_t)slot->retry_after_ms);
	note_failure(s, slot, status, s->stats.last_error, delay);
	s->stats.retries++;
	queue_insert(s, p);
	pause_for(s, delay, retry_after);
	s->stats.consecutive_failures = s->fail_streak;
	s->stats.failing_since_ms = s->streak_start_ms;
	if (s->cbs.failed)
		s->cbs.failed(res != CURLE_OK ? 0 : status, s->cbs.data);
}

/* 400 or 413: split to isolate the offending event(s); a lone event is reported, never resent. */
static void piece_refused(struct sender *s, struct sender_piece *p, const struct sender_slot *slot,
			  long status)
{
	struct sender_piece *second;
	struct batch *b1, *b2;
	size_t half = p->b->n / 2;

	note_alive(s);
	snprintf(s->stats.last_error, sizeof(s->stats.last_error), "HTTP %ld", status);
	if (p->b->n == 1) {
		log_debug(COMP, "event at offset %llu rejected alone with HTTP %ld",
			  (unsigned long long)p->b->ev[0].offset, status);
		if (s->cbs.rejected(p->b, 0, status, slot->resp.data ? slot->resp.data : "", slot->resp.len,
				    s->cbs.data) < 0) {
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
	if (!second || batch_split(p->b, &b1, &b2) < 0) {
		free(second);
		piece_retry(s, p, slot, status, CURLE_OUT_OF_MEMORY);
		return;
	}
	log_debug(COMP, "HTTP %ld for %zu events: splitting", status, p->b->n);
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

static int status_class(long status, CURLcode res)
{
	return res != CURLE_OK ? SENDER_ST_TRANSPORT : httpresp_class(status);
}

static enum concurrency_signal load_signal(int cls, long status)
{
	if (cls == SENDER_ST_204)
		return CONCURRENCY_OK;
	if (status == 429)
		return CONCURRENCY_RATE;
	return cls == SENDER_ST_5XX || cls == SENDER_ST_TRANSPORT ? CONCURRENCY_OVERLOAD : CONCURRENCY_NEUTRAL;
}

static void stats_concurrency(struct sender *s, uint64_t now)
{
	s->stats.concurrency_limit = concurrency_limit(s->conc);
	s->stats.rtt_us = concurrency_rtt_us(s->conc);
	s->stats.rate_cap = concurrency_rate_cap(s->conc, now);
}

/* When the request itself started: after its connection was set up (a new connection's TCP and TLS
 * handshakes, or the wait for a connection to share, are not the server's round trip). */
static uint64_t request_start(const struct sender_slot *slot, uint64_t now)
{
	curl_off_t setup = 0;

	if (curl_easy_getinfo(slot->easy, CURLINFO_PRETRANSFER_TIME_T, &setup) != CURLE_OK || setup < 0)
		return slot->start_us;
	return slot->start_us + (uint64_t)setup < now ? slot->start_us + (uint64_t)setup : slot->start_us;
}

/* Tells the controller how a request went; its changes go to the debug log. */
static void adapt(struct sender *s, const struct sender_slot *slot, int cls, long status)
{
	struct concurrency_change ch;
	uint64_t now = loop_now_us();

	if (concurrency_result(s->conc, request_start(slot, now), now, load_signal(cls, status), &ch)) {
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

static void slot_finish(struct sender *s, struct sender_slot *slot, CURLcode res)
{
	struct sender_piece *p = slot->piece;
	long status = 0;
	int cls;

	slot->piece = NULL;
	s->stats.in_flight--;
	if (res == CURLE_OK && curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	cls = status_class(status, res);
	/* one line per request at debug: the answer (or why there was none), what was sent, how long */
	if (res != CURLE_OK)
		log_debug(COMP, "request: %s, %zu events, %zu bytes, %.1f ms",
			  slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(res), p->b->n, p->b->body.len,
			  (double)(loop_now_us() - slot->start_us) / 1000.0);
	else
		log_debug(COMP, "request: HTTP %ld, %zu events, %zu bytes, %.1f ms", status, p->b->n, p->b->body.len,
			  (double)(loop_now_us() - slot->start_us) / 1000.0);
	s->stats.requests_total++;
	s->stats.requests_by_class[cls]++;
	s->stats.last_status = status;
	if (cls == SENDER_ST_204) {
		note_alive(s);
		s->stats.events_delivered += p->b->n;
		s->stats.last_success_unix = (int64_t)time(NULL);
		s->stats.last_error[0] = '\0';
		piece_done(s, p);
	} else if (cls == SENDER_ST_400 || cls == SENDER_ST_413) {
		piece_refused(s, p, slot, status);
	} else {
		piece_retry(s, p, slot, status, res);
	}
	adapt(s, slot, cls, status);
}

static void drain_done(struct sender *s)
{
	CURLMsg *msg;
	int left;

	/* the sleep that these answers ended counts in the window they may close */
	if (s->waiting)
		concurrency_waiting(s->conc, true, loop_slept_us(s->loop));
	while ((msg = curl_multi_info_read(s->multi, &left))) {
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;
		char *priv = NULL;
		CURLMcode mc;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg is invalid once the handle is removed: everything needed was copied above */
		if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv)
			continue;
		mc = curl_multi_remove_handle(s->multi, easy);
		if (mc != CURLM_OK)
			log_warnx(COMP, "curl_multi_remove_handle: %s", curl_multi_strerror(mc));
		slot_finish(s, (struct sender_slot *)(void *)priv, res);
	}
	pump(s);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct sender_slot *slot = data;
	size_t n = size * nmemb;

	/* keep the start of the body (for the dead-letter file) but accept the rest: returning less
	 * than n would fail the transfer */
	httpresp_body(&slot->resp, ptr, n);
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *data)
{
	struct sender_slot *slot = data;
	size_t n = size * nitems;

	(void)httpresp_header(ptr, n, time(NULL), &slot->retry_after_ms);
	return n;
}

/* Options that stay the same from one request to the next (until sender_set_opts). */
static int easy_setup(struct sender *s, struct sender_slot *slot)
{
	CURL *e = slot->easy;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, s->opts.url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERNAME, s->opts.username) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, s->opts.password) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->opts.timeout_ms) != CURLE_OK;
	bad |= cabundle_apply(e, s->opts.ca_file) < 0; /* ca_file, else the system's bundle */
	bad |= proxy_apply(e, s->opts.proxy) < 0;      /* endpoint.proxy, else the environment's */
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 deprecated the bitmask form */
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
#else
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
#endif
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "onside-agent/" ONSIDE_VERSION) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	/* a request starting while a connection is being set up waits to learn whether it can share it
	 * (HTTP/2) instead of opening one more */
	bad |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, slot) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, slot) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, slot->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, slot) != CURLE_OK;
	return bad ? -EINVAL : 0;
}

static int slot_start(struct sender *s, struct sender_slot *slot, struct sender_piece *p)
{
	CURLMcode mc;
	int r;

	if (!slot->easy) {
		slot->easy = curl_easy_init();
		if (!slot->easy)
			return -ENOMEM;
		slot->opts_gen = s->opts_gen - 1;
	}
	if (slot->opts_gen != s->opts_gen) {
		/* reset drops options that the new settings may no longer want (CAINFO); live
		 * connections survive it */
		curl_easy_reset(slot->easy);
		if ((r = easy_setup(s, slot)) < 0)
			return r;
		slot->opts_gen = s->opts_gen;
	}
	/* the body is sent from the batch itself: no copy; it lives until the piece is resolved */
	if (curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->b->body.len) != CURLE_OK ||
	    curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDS, p->b->body.data) != CURLE_OK)
		return -EINVAL;
	buf_reset(&slot->resp);
	slot->retry_after_ms = -1;
	slot->errbuf[0] = '\0';
	mc = curl_multi_add_handle(s->multi, slot->easy);
	if (mc != CURLM_OK) {
		log_warnx(COMP, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		return -EIO;
	}
	slot->piece = p;
	slot->start_us = loop_now_us();
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

static struct sender_slot *free_slot(struct sender *s)
{
	for (unsigned i = 0; i < s->nslots; i++)
		if (!s->slots[i]->piece)
			return s->slots[i];
	return NULL;
}

static void start_queued(struct sender *s)
{
	while (s->queue && !s->backoff_timer && !s->pace_timer) {
		struct sender_slot *slot = NULL;
		struct sender_piece *p;
		int r;

		if (s->stats.in_flight >= concurrency_limit(s->conc) || !(slot = free_slot(s)))
			return;
		if (pace_wait(s))
			return;
		p = s->queue;
		s->queue = p->next;
		r = slot_start(s, slot, p);
		if (r < 0) {
			snprintf(slot->errbuf, sizeof(slot->errbuf), "cannot start a request: %s", strerror(-r));
			piece_retry(s, p, slot, 0, CURLE_FAILED_INIT);
			if (!s->backoff_timer)
				return; /* no timer to resume from: the next event retries */
			continue;
		}
		started(s, slot->start_us);
	}
}

/* Starts queued pieces while the concurrency limit and the rate cap allow, unless backing off. */
static void pump(struct sender *s)
{
	bool waiting;

	start_queued(s);
	/* demand beyond the limit while the agent idles: the controller may grow */
	waiting = s->queue && s->stats.in_flight >= concurrency_limit(s->conc);
	if (waiting || s->waiting)
		concurrency_waiting(s->conc, waiting, loop_slept_us(s->loop));
	s->waiting = waiting;
}

static void on_sock_event(struct loop *l, int fd, int events, void *data)
{
	struct sender *s = data;
	int action = ((events & LOOP_READ) ? CURL_CSELECT_IN : 0) | ((events & LOOP_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;
	CURLMcode mc;

	mc = curl_multi_socket_action(s->multi, fd, action, &running);
	if (mc != CURLM_OK)
		log_warnx(COMP, "curl_multi_socket_action: %s", curl_multi_strerror(mc));
	drain_done(s);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct sender *s = userp;
	int mask = 0, r;

	if (what == CURL_POLL_REMOVE) {
		(void)loop_del_fd(s->loop, fd);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		mask |= LOOP_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		mask |= LOOP_WRITE;
	r = loop_add_fd(s->loop, fd, mask, on_sock_event, s);
	if (r < 0)
		log_errorx(COMP, "cannot watch a connection: %s", strerror(-r));
	/* a transfer whose socket is not watched still ends at CURLOPT_TIMEOUT_MS and is retried;
	 * returning -1 would make newer libcurl kill every transfer */
	return 0;
}

static int64_t on_curl_timeout(struct loop *l, void *data)
{
	struct sender *s = data;
	int running;
	CURLMcode mc;

	/* curl may ask for a new timer from inside socket_action: this one is finished */
	s->curl_timer = 0;
	mc = curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	if (mc != CURLM_OK)
		log_warnx(COMP, "curl_multi_socket_action: %s", curl_multi_strerror(mc));
	drain_done(s);
	return LOOP_TIMER_STOP;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct sender *s = userp;

	if (timeout_ms < 0) {
		if (s->curl_timer)
			(void)loop_del_timer(s->loop, s->curl_timer);
		s->curl_timer = 0;
		return 0;
	}
	if (s->curl_timer && loop_reset_timer(s->loop, s->curl_timer, timeout_ms) == 0)
		return 0;
	s->curl_timer = loop_add_timer(s->loop, timeout_ms, on_curl_timeout, s);
	return s->curl_timer ? 0 : -1;
}

static int multi_setup(struct sender *s)
{
	int bad = 0;

	s->multi = curl_multi_init();
	if (!s->multi)
		return -ENOMEM;
	bad |= curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK;
	bad |= curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s) != CURLM_OK;
	bad |= curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK;
	bad |= curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s) != CURLM_OK;
	bad |= curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) != CURLM_OK;
	return bad ? -EINVAL : 0;
}

/* Slots up to the largest concurrency the options allow (they never shrink: a smaller limit leaves
 * some idle), and a connection cache that keeps one connection per slot alive between requests (by
 * default it holds four per handle added, and between requests none is). */
static int slots_grow(struct sender *s, const struct sender_opts *o)
{
	unsigned want = o->max_in_flight ? o->max_in_flight : o->max_in_flight_ceiling;
	struct sender_slot **v;

	if (want <= s->nslots)
		return 0;
	v = realloc(s->slots, want * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->slots = v;
	for (; s->nslots < want; s->nslots++) {
		struct sender_slot *slot = calloc(1, sizeof(*slot));

		if (!slot)
			return -ENOMEM;
		slot->s = s;
		buf_init(&slot->resp, HTTPRESP_BODY_MAX);
		s->slots[s->nslots] = slot;
	}
	return curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)s->nslots) == CURLM_OK ? 0 : -EINVAL;
}

struct sender *sender_new(struct loop *l, const struct sender_opts *opts, const struct sender_cbs *cbs)
{
	static bool curl_ready;
	struct curl_slist *h;
	struct sender *s;

	/* the agent is single-threaded: initialising on first use is safe */
	if (!curl_ready && curlmem_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	curl_ready = true;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->loop = l;
	s->cbs = *cbs;
	s->opts_gen = 1;
	s->rng = loop_now_ms() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
	if (!s->rng)
		s->rng = 1;
	h = curl_slist_append(NULL, "Content-Type: application/json");
	s->headers = h;
	/* "Expect:" removes curl's Expect: 100-continue, which costs a round trip per large body */
	if (h)
		s->headers = curl_slist_append(h, "Expect:");
	if (!s->headers || opts_copy(&s->opts, opts) < 0 || multi_setup(s) < 0 || slots_grow(s, &s->opts) < 0 ||
	    !(s->conc = concurrency_new(s->opts.max_in_flight, s->opts.max_in_flight_ceiling))) {
		if (!s->headers)
			curl_slist_free_all(h);
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
	for (unsigned i = 0; i < s->nslots; i++) {
		struct sender_slot *slot = s->slots[i];

		if (slot->piece) {
			(void)curl_multi_remove_handle(s->multi, slot->easy);
			piece_free(slot->piece);
		}
		if (slot->easy)
			curl_easy_cleanup(slot->easy);
		buf_free(&slot->resp);
		free(slot);
	}
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
	/* closes cached connections, which unregisters their fds from the loop */
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->curl_timer)
		(void)loop_del_timer(s->loop, s->curl_timer);
	if (s->backoff_timer)
		(void)loop_del_timer(s->loop, s->backoff_timer);
	if (s->pace_timer)
		(void)loop_del_timer(s->loop, s->pace_timer);
	concurrency_free(s->conc);
	curl_slist_free_all(s->headers);
	opts_clear(&s->opts);
	free(s);
}

int sender_submit(struct sender *s, struct batch *b)
{
	struct sender_job *job;
	struct sender_piece *p;

	if (!b || !b->closed || b->n == 0)
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
	s->opts_gen++;
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
