/* The sender's response handling (agent/sender.c: splits, retries, backoff, dead-lettering, the
 * concurrency limit and the rate cap) over a fake transport whose every answer the fuzzer chooses,
 * on the loop of fake_loop.c, whose clock moves only when the input says so: the waits are real
 * timers of the sender's, but no input waits for them.
 *
 * The input is a program. Its first bytes choose the options (initial and max backoff, a fixed or an
 * adaptive concurrency and its ceiling); then each op byte picks one of:
 *   submit a batch of 1 to 12 events (sometimes one the sender must refuse: open, empty or NULL),
 *     marked to be reused for a new batch submitted from its `delivered` callback, as the agent does;
 *   answer 1 to 3 of the requests in flight, in any order, in one wake-up: 204, 400, 413, 429, 5xx,
 *     another 2xx, 401/403/404, a 1xx/3xx, any number, or a transport error; with a body, a
 *     Retry-After (none, 0, seconds, more than a day, INT64_MAX) and a connection set-up time;
 *   move the clock (fractions of a millisecond to minutes, or to the next timer) and fire the timers;
 *   make the next starts fail (a transport that cannot start a request);
 *   make the next `rejected` callbacks fail (a full dead-letter disk);
 *   reload the options with another concurrency (sender_set_opts);
 *   stop: free the sender with whatever it holds (sender_free).
 * At the end of the input every request in flight is answered 204 and the clock moves to each next
 * timer until none is left.
 *
 * Checks (any broken one aborts):
 * - every event of every submitted batch ends exactly once: delivered (only in a request answered
 *   204) or dead-lettered (only through `rejected` for a request of that event alone answered 400 or
 *   413), never both, never twice; an event whose `rejected` failed is never sent again; at the end
 *   nothing else is left, and nothing is in flight;
 * - a request body is exactly {"events":[...]} of consecutive events of one batch, none of them
 *   resolved or in flight elsewhere, and it is unchanged (and alive: ASan) until its answer;
 * - `delivered` hands back a submitted batch once, from an answer, only when all its events are
 *   resolved, and never a batch whose `rejected` failed (those stay pending until sender_free);
 * - `rejected` gets the lone event's line, offset, source and owner, the status and the answer's body;
 *   `failed` gets the status (0 for no answer) with the failure counted in the statistics;
 * - no request starts sooner than initial_backoff after a failure (an answer that is not 204, 400 or
 *   413, a transport error, a start that failed), nor before a Retry-After (within the sender's
 *   bounds) has passed; a reload may try again at once;
 * - requests start on free slots the transport has, within the concurrency limit;
 * - the first accepted request's round trip (less its connection set-up) is the baseline;
 * - the statistics agree: requests, classes, events delivered and rejected, retries;
 * - sender_free frees what is left (LeakSanitizer). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "concurrency.h"
#include "fake_loop.h"
#include "fuzz.h"
#include "httpresp.h"
#include "log.h"
#include "sender.h"
#include "transport.h"

#define MAX_JOBS 48
#define MAX_EVENTS 640
#define MAX_BATCH 12
#define DRAIN_STEPS 100000
#define DAY_MS (24ULL * 3600 * 1000) /* a longer Retry-After is taken as max_backoff (sender.c) */

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_sender: " __VA_ARGS__);                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

enum { EV_PENDING, EV_DELIVERED, EV_DEAD, EV_LOST /* its `rejected` failed */ };

struct fz_event {
	int job;
	int state;
	bool in_flight;
	int piece_end; /* for the first event of a piece: one past its last (else 0) */
};

struct fz_job {
	struct batch *b; /* until handed back */
	int first, n;
	bool back, lost, reuse;
};

struct fz_slot {
	bool busy;
	int first, n;
	const char *body;
	size_t len;
	uint64_t start_us;
};

static struct fz {
	const uint8_t *p;
	size_t left;
	struct loop *l;
	struct sender *s;
	struct sender_opts o;
	struct transport_events ev;
	bool configured;
	unsigned nslots;
	struct fz_slot slot[CONCURRENCY_MAX];
	struct fz_job job[MAX_JOBS];
	int njobs;
	struct fz_event event[MAX_EVENTS];
	int nevents;
	/* the answer being reported */
	bool in_done;
	long cur_status;
	int cur_first, cur_n, rejections;
	const char *cur_body;
	size_t cur_body_len;
	/* what the input asked for */
	unsigned fail_starts, fail_rejects;
	/* failures the sender is yet to tell through `failed` */
	unsigned start_failed;
	bool answer_failed;
	/* what must follow */
	uint64_t initial_ms, max_ms; /* the backoffs as the sender takes them (at least 1, max >= initial) */
	uint64_t earliest_ms; /* no request may start before (the waits that failures ask for) */
	uint64_t requests, delivered, dead, failures, failed_calls;
	bool had_204;
} F;

static unsigned byte(void)
{
	if (!F.left)
		return 0;
	F.left--;
	return *F.p++;
}

static unsigned pick(unsigned n) { return byte() % n; }

/* ---- batches ---- */

static int event_json(char *out, size_t n, int id) { return snprintf(out, n, "{\"e\":%d}", id); }

static int event_line(char *out, size_t n, int id) { return snprintf(out, n, "line %d", id); }

/* A closed batch of n new events, in b (a delivered one, reused) or a new one; -1 when full. */
static int job_new(struct batch *b, int n, bool reuse)
{
	int j = F.njobs;

	if (F.njobs >= MAX_JOBS || F.nevents + n > MAX_EVENTS)
		return -1;
	if (b)
		batch_reuse(b, MAX_BATCH, 1 << 20);
	else
		b = batch_new(MAX_BATCH, 1 << 20);
	CHECK(b, "out of memory");
	for (int k = 0; k < n; k++) {
		char json[32], line[32];
		int id = F.nevents + k, jl = event_json(json, sizeof(json), id), ll = event_line(line, sizeof(line), id);
		struct batch_line l = {line, (size_t)ll, (uint64_t)id * 100, (uint64_t)id * 100 + (uint64_t)ll + 1,
				       &F.event[id]};

		CHECK(batch_add_event(b, json, (size_t)jl, &l) == 0, "cannot build a batch");
		F.event[id] = (struct fz_event){.job = j};
	}
	F.event[F.nevents].piece_end = F.nevents + n; /* the batch is one piece until split */
	batch_set_owner(b, &F.job[j]);
	batch_close(b);
	F.job[j] = (struct fz_job){.b = b, .first = F.nevents, .n = n, .reuse = reuse};
	F.nevents += n;
	F.njobs++;
	return j;
}

static void submit(struct batch *reuse, int n, bool again)
{
	int j = job_new(reuse, n, again);

	if (j < 0) {
		batch_free(reuse);
		return;
	}
	CHECK(sender_submit(F.s, F.job[j].b) == 0, "a closed batch refused");
}

/* Batches the sender must refuse, left to their owner. */
static void submit_invalid(unsigned kind)
{
	struct batch *b = batch_new(4, 1000);
	struct batch_line l = {"x", 1, 0, 2, NULL};

	CHECK(b, "out of memory");
	if (kind == 0)
		CHECK(batch_add_event(b, "{}", 2, &l) == 0, "cannot build a batch"); /* open */
	else
		batch_close(b); /* empty */
	CHECK(sender_submit(F.s, b) == -EINVAL, "an open or empty batch taken");
	CHECK(sender_submit(F.s, NULL) == -EINVAL, "no batch taken");
	batch_free(b);
}

/* ---- the sender's callbacks ---- */

static void on_delivered(struct batch *b, void *data)
{
	struct fz_job *job = batch_owner(b);

	CHECK(F.in_done, "a batch handed back outside an answer");
	CHECK(job >= F.job && job < F.job + F.njobs && job->b == b, "a batch handed back that was not submitted");
	CHECK(!job->back, "a batch handed back twice");
	CHECK(!job->lost, "a batch handed back although an event could not be dead-lettered");
	for (int k = job->first; k < job->first + job->n; k++)
		CHECK(F.event[k].state == EV_DELIVERED || F.event[k].state == EV_DEAD,
		      "batch handed back with event %d unresolved", k);
	job->back = true;
	job->b = NULL;
	/* the agent reuses a delivered batch for the next one: a submit from inside the answer */
	if (job->reuse)
		submit(b, 1 + (int)(job - F.job) % MAX_BATCH, false);
	else
		batch_free(b);
}

static int on_rejected(const struct batch *b, size_t i, long status, const char *body, size_t body_len, void *data)
{
	int id = F.cur_first;
	struct batch_line l;
	char want[32];

	CHECK(F.in_done && (F.cur_status == 400 || F.cur_status == 413) && F.cur_n == 1,
	      "an event rejected without a 400 or 413 for it alone");
	CHECK(status == F.cur_status && batch_count(b) == 1 && i == 0, "rejected: wrong status or event");
	l = batch_event_line(b, 0);
	CHECK(l.len == (size_t)event_line(want, sizeof(want), id) && !memcmp(l.line, want, l.len) &&
		      l.offset == (uint64_t)id * 100 && l.end == l.offset + l.len + 1 && l.src == &F.event[id],
	      "rejected: not the line of event %d", id);
	CHECK(batch_owner(b) == &F.job[F.event[id].job], "rejected: not the owner of event %d", id);
	CHECK(body_len == F.cur_body_len && !memcmp(body, F.cur_body, body_len), "rejected: not the answer's body");
	CHECK(F.event[id].state == EV_PENDING, "event %d rejected after it was resolved", id);
	F.rejections++;
	if (F.fail_rejects) {
		F.fail_rejects--;
		F.event[id].state = EV_LOST;
		F.job[F.event[id].job].lost = true;
		return -ENOSPC;
	}
	F.event[id].state = EV_DEAD;
	F.dead++;
	return 0;
}

static void on_failed(long status, void *data)
{
	const struct sender_stats *st = sender_stats(F.s);

	/* a start that failed (no status: told at once), or the answer being reported */
	if (F.start_failed) {
		CHECK(status == 0, "failed: status %ld for a request that did not start", status);
		F.start_failed--;
	} else {
		CHECK(F.in_done && F.answer_failed && status == F.cur_status, "failed: status %ld for an answer %ld",
		      status, F.cur_status);
		F.answer_failed = false;
	}
	CHECK(st->consecutive_failures > 0 && st->failing_since_ms && st->next_retry_ms,
	      "failed: the failure is not in the statistics");
	F.failed_calls++;
}

/* ---- the fake transport ---- */

/* The events of a request body: {"events":[{"e":N},{"e":N+1},...]}, consecutive, of one batch. */
static void parse_body(const char *b, size_t len, int *ret_first, int *ret_n)
{
	static const char head[] = "{\"events\":[";
	size_t i = sizeof(head) - 1;
	int first = -1, n = 0;

	CHECK(len > i && !memcmp(b, head, i), "a body without its head");
	for (;;) {
		int id = 0, digits = 0;

		CHECK(i + 5 <= len && !memcmp(b + i, "{\"e\":", 5), "a body with something else than an event");
		for (i += 5; i < len && b[i] >= '0' && b[i] <= '9' && digits < 4; i++, digits++)
			id = id * 10 + (b[i] - '0');
		CHECK(digits && i < len && b[i] == '}' && id < F.nevents, "a body with a broken event");
		CHECK(first < 0 ? true : id == first + n && F.event[id].job == F.event[first].job,
		      "a body with events that do not follow each other in one batch");
		if (first < 0)
			first = id;
		n++;
		if (++i + 2 == len && !memcmp(b + i, "]}", 2))
			break;
		CHECK(i < len && b[i] == ',', "a body with a broken list");
		i++;
	}
	*ret_first = first;
	*ret_n = n;
}

static void *ft_create(struct loop *l, const struct transport_events *ev)
{
	F.ev = *ev;
	return &F;
}

static void ft_destroy(void *t) {}

static int ft_grow(void *t, unsigned n)
{
	CHECK(n <= CONCURRENCY_MAX, "%u slots", n);
	if (n > F.nslots)
		F.nslots = n;
	return 0;
}

static void ft_configure(void *t, const struct sender_opts *o)
{
	CHECK(!strcmp(o->url, F.o.url) && !strcmp(o->password, F.o.password), "configured with other options");
	F.configured = true;
}

static void failure(uint64_t wait_ms)
{
	uint64_t until = loop_now_ms() + wait_ms;

	if (until > F.earliest_ms)
		F.earliest_ms = until;
	F.failures++;
}

static int ft_start(void *t, unsigned i, const char *body, size_t len)
{
	struct fz_slot *sl = &F.slot[i];

	CHECK(F.configured && i < F.nslots && !sl->busy, "a request started on slot %u, not a free one", i);
	CHECK(sender_in_flight(F.s) < sender_limit(F.s), "a request started beyond the concurrency limit");
	CHECK(loop_now_ms() >= F.earliest_ms, "a request started %llu ms before the wait after a failure ended",
	      (unsigned long long)(F.earliest_ms - loop_now_ms()));
	if (F.fail_starts) {
		F.fail_starts--;
		failure(F.initial_ms);
		F.start_failed++;
		return -EIO;
	}
	parse_body(body, len, &sl->first, &sl->n);
	CHECK(F.event[sl->first].piece_end == sl->first + sl->n, "a request of events %d to %d: not a piece",
	      sl->first, sl->first + sl->n - 1);
	for (int k = 0; k < sl->first; k++)
		CHECK(F.event[k].state != EV_PENDING || F.event[k].in_flight,
		      "event %d waits while the later event %d goes first", k, sl->first);
	for (int k = sl->first; k < sl->first + sl->n; k++) {
		CHECK(F.event[k].state == EV_PENDING, "event %d sent again after it was resolved", k);
		CHECK(!F.event[k].in_flight, "event %d in two requests at once", k);
		F.event[k].in_flight = true;
	}
	sl->busy = true;
	sl->body = body;
	sl->len = len;
	sl->start_us = loop_now_us();
	return 0;
}

static const struct transport_ops fake_transport = {
	.create = ft_create,
	.destroy = ft_destroy,
	.grow = ft_grow,
	.configure = ft_configure,
	.start = ft_start,
};

/* ---- answers ---- */

/* The least wait a failed answer asks for (the sender's bounds on Retry-After). */
static uint64_t wait_after(const struct transport_result *r)
{
	uint64_t ra;

	if (r->error || r->status != 429 || r->retry_after_ms < 0)
		return F.initial_ms;
	ra = (uint64_t)r->retry_after_ms;
	if (ra > DAY_MS)
		return F.max_ms;
	return ra < F.initial_ms ? F.initial_ms : ra;
}

/* After a failed answer: the pause ends no sooner than the answer asks, and no later than the longest
 * wait it may take (max_backoff, or a Retry-After), unless a longer pause was running already. */
static void check_pause(const struct transport_result *r, uint64_t before)
{
	uint64_t end = sender_stats(F.s)->next_retry_ms, now = loop_now_ms(), least = wait_after(r);
	uint64_t most = least > F.max_ms ? least : F.max_ms;

	CHECK(end >= now + least, "a pause of %lld ms after a failure that asks for %llu ms",
	      (long long)(end - now), (unsigned long long)least);
	CHECK(end == before || end <= now + most, "a pause of %llu ms after a failure: at most %llu ms",
	      (unsigned long long)(end - now), (unsigned long long)most);
}

static void answer(unsigned i, const struct transport_result *r)
{
	struct fz_slot *sl = &F.slot[i];
	const struct sender_stats *st = sender_stats(F.s);
	int cls = r->error ? HTTPRESP_ST_TRANSPORT : httpresp_class(r->status), first, n;
	bool lone = (cls == HTTPRESP_ST_400 || cls == HTTPRESP_ST_413) && sl->n == 1, first204 = false;
	uint64_t rtt = 0, now = loop_now_us(), retry_before = st->next_retry_ms;

	/* the body is still the one sent, and still there */
	parse_body(sl->body, sl->len, &first, &n);
	CHECK(first == sl->first && n == sl->n, "a request body changed while in flight");
	for (int k = sl->first; k < sl->first + sl->n; k++) {
		F.event[k].in_flight = false;
		if (cls == HTTPRESP_ST_204) {
			F.event[k].state = EV_DELIVERED;
			F.delivered++;
		}
	}
	if (cls == HTTPRESP_ST_204 && !F.had_204) {
		first204 = F.had_204 = true;
		rtt = now - sl->start_us;
		rtt -= r->setup_us < rtt ? r->setup_us : 0;
	}
	if ((cls == HTTPRESP_ST_400 || cls == HTTPRESP_ST_413) && sl->n > 1) {
		/* split in two halves, the first n/2 events and the rest */
		F.event[sl->first].piece_end = sl->first + sl->n / 2;
		F.event[sl->first + sl->n / 2].piece_end = sl->first + sl->n;
	}
	sl->busy = false;
	F.requests++;
	F.in_done = true;
	F.cur_status = r->error ? 0 : r->status;
	F.cur_first = sl->first;
	F.cur_n = sl->n;
	F.cur_body = r->body;
	F.cur_body_len = r->body_len;
	F.rejections = 0;
	F.answer_failed = cls != HTTPRESP_ST_204 && cls != HTTPRESP_ST_400 && cls != HTTPRESP_ST_413;
	if (F.answer_failed)
		failure(wait_after(r));
	F.ev.done(F.ev.data, i, r);
	F.in_done = false;
	if (cls != HTTPRESP_ST_204 && cls != HTTPRESP_ST_400 && cls != HTTPRESP_ST_413)
		check_pause(r, retry_before);
	CHECK(F.rejections == (lone ? 1 : 0), "%d rejections for an answer %ld to %d events", F.rejections,
	      F.cur_status, F.cur_n);
	CHECK(!F.answer_failed && !F.start_failed, "failed: not called for a failure");
	CHECK(!first204 || st->rtt_us == rtt, "the first round trip is %llu us, the baseline %llu us",
	      (unsigned long long)rtt, (unsigned long long)st->rtt_us);
}

static const long statuses[] = {204, 204, 204, 204, 204, 400, 400, 400, 413, 413, 429, 429, 429,
				500, 502, 503, 200, 202, 401, 403, 404, 301, 100, 0 /* no answer */};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
static const int64_t retry_afters[] = {-1, -1, -1, 0, 1, 3, 10, 100, 1000, 5000, 60000, (int64_t)DAY_MS,
				       (int64_t)DAY_MS + 1, INT64_MAX};
static const size_t body_lens[] = {0, 2, 17, 80, 200};

/* Answers the request of one busy slot as the input says. */
static void answer_from_input(unsigned i)
{
	unsigned k = pick(NSTATUS + 1);
	char body[256];
	struct transport_result r = {.body = body};
	uint64_t elapsed = loop_now_us() - F.slot[i].start_us;

	if (k < NSTATUS) {
		r.status = statuses[k];
	} else {
		unsigned hi = byte(), lo = byte();

		r.status = (long)(hi << 8 | lo); /* any number at all */
		r.status = r.status ? r.status : 1;
	}
	if (k < NSTATUS && r.status == 0)
		r.error = "Connection refused";
	r.body_len = body_lens[pick(sizeof(body_lens) / sizeof(body_lens[0]))];
	for (size_t b = 0; b < r.body_len; b++)
		body[b] = (char)(F.left ? byte() : 'x');
	r.retry_after_ms = retry_afters[pick(sizeof(retry_afters) / sizeof(retry_afters[0]))];
	switch (pick(4)) {
	case 0: r.setup_us = 0; break;
	case 1: r.setup_us = elapsed / 2; break;
	case 2: r.setup_us = elapsed; break;
	default: r.setup_us = elapsed + 1000 * byte(); break; /* a transport that got it wrong */
	}
	r.connected = pick(2) == 0; /* on a connection opened for it, or one kept */
	answer(i, &r);
}

static int busy_slot(unsigned nth)
{
	int busy[CONCURRENCY_MAX], n = 0;

	for (unsigned i = 0; i < F.nslots; i++)
		if (F.slot[i].busy)
			busy[n++] = (int)i;
	return n ? busy[nth % (unsigned)n] : -1;
}

/* ---- the program ---- */

/* (the last values of each are out of range: the sender takes them to its bounds) */
static const uint64_t backoffs[] = {1, 2, 3, 10, 100, 1000, 0};
static const uint64_t backoff_factors[] = {1, 2, 8, 64, 1000, 0};
static const unsigned fixed[] = {0, 0, 0, 1, 2, 3, 8, 100};
static const unsigned ceilings[] = {1, 2, 4, 8, 32, 64, 0, 100};
static const uint64_t steps_us[] = {0, 300, 1000, 2000, 5000, 20000, 100000, 1000000, 60000000};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void options(struct sender_opts *o)
{
	o->max_in_flight = fixed[pick(N(fixed))];
	o->max_in_flight_ceiling = ceilings[pick(N(ceilings))];
}

/* Returns false to stop here: the sender is freed with whatever it holds. */
static bool run_op(void)
{
	unsigned op = byte() % 11, k;
	int i;

	switch (op) {
	case 0:
	case 1:
		k = byte();
		if (k == 0xff)
			submit_invalid(pick(2));
		else
			submit(NULL, 1 + (int)(k % MAX_BATCH), k & 0x80);
		break;
	case 2:
	case 3:
	case 4:
		/* one wake-up of the loop: answers in any order, then the sender starts more */
		for (k = 1 + pick(3); k > 0 && (i = busy_slot(byte())) >= 0; k--)
			answer_from_input((unsigned)i);
		F.ev.idle(F.ev.data);
		break;
	case 5:
	case 6:
		k = pick(N(steps_us) + 1);
		if (k < N(steps_us))
			fake_loop_advance(F.l, loop_now_us() + steps_us[k]);
		else if (fake_loop_next_timer(F.l))
			fake_loop_advance(F.l, fake_loop_next_timer(F.l) * 1000);
		break;
	case 7:
		F.fail_starts = pick(4);
		break;
	case 8:
		F.fail_rejects = pick(4);
		break;
	case 9:
		options(&F.o);
		F.earliest_ms = 0; /* new settings are tried at once */
		CHECK(sender_set_opts(F.s, &F.o) == 0, "a reload refused");
		break;
	default:
		return false;
	}
	CHECK(!F.start_failed, "failed: not called for a request that did not start");
	CHECK(sender_backing_off(F.s) == (sender_stats(F.s)->next_retry_ms && !sender_in_flight(F.s)),
	      "backing off: not what the statistics say");
	return true;
}

/* Everything in flight is accepted and every timer runs out, until nothing is left to do. */
static void drain(void)
{
	F.fail_starts = 0;
	for (int steps = 0;; steps++) {
		struct transport_result ok = {.status = 204, .body = "", .retry_after_ms = -1};
		uint64_t when;
		int i;

		CHECK(steps < DRAIN_STEPS, "the sender does not come to rest");
		if (busy_slot(0) >= 0) {
			while ((i = busy_slot(0)) >= 0)
				answer((unsigned)i, &ok);
			F.ev.idle(F.ev.data);
			continue;
		}
		if (!(when = fake_loop_next_timer(F.l)))
			break;
		fake_loop_advance(F.l, when * 1000);
	}
}

static void check_end(void)
{
	const struct sender_stats *st = sender_stats(F.s);
	uint64_t by_class = 0;
	size_t lost = 0;

	CHECK(st->in_flight == 0 && sender_in_flight(F.s) == 0, "requests in flight at rest");
	for (int j = 0; j < F.njobs; j++) {
		CHECK(F.job[j].back != F.job[j].lost, "batch %d neither handed back nor held for a failed rejection", j);
		lost += F.job[j].lost;
	}
	for (int k = 0; k < F.nevents; k++)
		CHECK(F.event[k].state != EV_PENDING, "event %d never resolved", k);
	CHECK(sender_pending(F.s) == lost, "%zu batches pending, %zu held", sender_pending(F.s), lost);
	for (int c = 0; c < HTTPRESP_ST_COUNT; c++)
		by_class += st->requests_by_class[c];
	CHECK(st->requests_total == F.requests && by_class == F.requests, "requests miscounted");
	CHECK(st->events_delivered == F.delivered && st->events_rejected == F.dead, "events miscounted");
	CHECK(st->retries == F.failures && F.failed_calls == F.failures, "retries miscounted");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sender_cbs cbs = {.delivered = on_delivered, .rejected = on_rejected, .failed = on_failed};
	uint64_t initial;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	memset(&F, 0, sizeof(F));
	F.p = data;
	F.left = size;
	log_set_level(-1); /* nothing is logged: the checks say what went wrong */
	fake_loop_set_clock(FAKE_LOOP_EPOCH_US);
	initial = backoffs[pick(N(backoffs))];
	F.o = (struct sender_opts){.url = "http://127.0.0.1:9/attribution-api/v1/events",
				   .username = "user",
				   .password = "pass",
				   .timeout_ms = 30000,
				   .initial_backoff_ms = initial,
				   .max_backoff_ms = initial * backoff_factors[pick(N(backoff_factors))],
				   .jitter_seed = 1 + byte()};
	options(&F.o);
	F.initial_ms = initial ? initial : 1;
	F.max_ms = F.o.max_backoff_ms > F.initial_ms ? F.o.max_backoff_ms : F.initial_ms;
	F.l = loop_new();
	CHECK(F.l, "out of memory");
	F.s = sender_new_with(F.l, &F.o, &cbs, &fake_transport);
	CHECK(F.s, "out of memory");
	while (F.left)
		if (!run_op())
			break;
	if (!F.left) {
		drain();
		check_end();
	}
	/* (stopped early: requests in flight, pieces queued, timers set are dropped, batches freed) */
	sender_free(F.s);
	loop_free(F.l);
	return 0;
}
