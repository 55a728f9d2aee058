/* The running agent (see agent.h): one loop turn at a time reads lines, maps them on every core,
 * batches events, hands batches to the sender and records every line's outcome in the ledger, which
 * is what the checkpoint saves; signals, reloads, the dead-letter file, metrics and progress live here
 * because they decide what the turn does next. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "checkpoint.h"
#include "deadletter.h"
#include "ledger.h"
#include "log.h"
#include "loop.h"
#include "map.h"
#include "mapjob.h"
#include "metrics.h"
#include "notify.h"
#include "sender.h"
#include "statedir.h"
#include "statusfile.h"
#include "tail.h"
#include "trouble.h"
#include "view.h"
#include "xalloc.h"

#define READ_BUDGET (1u << 20) /* bytes read per pass: also bounds a mapping job's memory */
#define CHECKPOINT_DELAY_MS 1000
#define METRICS_INTERVAL_MS 5000
#define DEADLETTER_ROTATE ((uint64_t)64 << 20)
#define AGENT_SPARES (CONFIG_MAX_IN_FLIGHT + 1) /* delivered batches kept for reuse, at most */

/* The agent's life: RUNNING reads, maps and sends; FINISHING (run --once, everything read) sends what
 * is left and retries as long as it takes; DRAINING (a signal, or a line that could not be finished)
 * reads nothing more and gives the requests in flight shutdown_timeout; STOPPED ends the loop. */
enum agent_state { AGENT_RUNNING, AGENT_FINISHING, AGENT_DRAINING, AGENT_STOPPED };

struct agent {
	struct config *cfg;
	char *config_path;
	bool once;
	struct agent_opts opts;
	struct loop *loop;
	struct tail *tail;
	struct ledger *ledger;
	struct sender *sender;
	struct deadletter *dl;
	struct trouble *trouble; /* data-path problems told in the log and in `status` */
	struct mapjob *job; /* lines read and not yet mapped */
	struct config **old; /* configurations replaced by reloads, still referenced */
	size_t nold;
	struct batch *cur;   /* the batch being built */
	struct batch *spare[AGENT_SPARES]; /* delivered batches kept for their buffers */
	size_t nspare;
	struct ledger_batch *cur_lb; /* cur's completion token */
	int sigfd;
	enum agent_state state;
	bool want_read; /* files may have bytes to read */
	bool ckpt_dirty;
	bool failed;    /* a line could not be finished (dead-letter write): stop, exit 1 */
	bool dl_broken; /* a dead-letter sync failed: records may be lost, never save a checkpoint again */
	long give_up;   /* run --once: the answer that waiting will not change, met too often in a row */
	bool refused;   /* ... and the run stopped for it: exit 1 */
	uint64_t flush_timer, ckpt_timer, metrics_timer, shutdown_timer, progress_timer;
	uint64_t once_timer;
	uint64_t metrics_seen; /* agent_activity() at the last metrics write */
	uint64_t started_ms;
	int64_t started_unix;
	struct agent_stats st;
};

static void agent_submit(struct agent *a);
static void agent_save_checkpoint(struct agent *a);
static void agent_write_metrics(struct agent *a);
static void agent_begin_stop(struct agent *a);

/* ---- dead letters ---- */

/* Something could not be finished: stop reading, let what is in flight finish, exit 1. The ledger keeps
 * the checkpoint before the unfinished line. */
static void agent_fail(struct agent *a)
{
	a->failed = true;
	agent_begin_stop(a);
}

/* Writes one dead-letter record for a line of s. The line counts as finished only if this returns 0
 * (and the file is synced before any checkpoint moves past it). */
static int agent_deadletter(struct agent *a, struct ledger_stream *s, const struct batch_line *l, uint64_t full,
			    const char *reason, long status, const char *resp, size_t resp_len)
{
	struct deadletter_entry e = {
		.input = ledger_input(s),
		.path = ledger_path(s),
		.offset = l->offset,
		.reason = reason,
		.line = l->line,
		.line_len = l->len,
		.length = full != l->len ? full : 0,
		.status = status,
		.response = resp,
		.response_len = resp_len,
		.fingerprint = ledger_fingerprint(s), /* replay derives the line's id from it */
	};
	int r = deadletter_write(a->dl, &e);

	if (r < 0) {
		/* the line must not be lost: it stays unfinished, and the checkpoint before it */
		log_errorx("agent", "cannot write the dead-letter file %s/%s: %s; stopping (the line at offset "
			   "%llu of %s is read again after a restart)", a->cfg->agent.state_dir, DEADLETTER_FILE,
			   strerror(-r), (unsigned long long)l->offset, ledger_path(s));
		agent_fail(a);
		return r;
	}
	ledger_reject(s, l->offset, l->end);
	return 0;
}

/* ---- building batches ---- */

static int64_t agent_flush_cb(struct loop *l, void *data)
{
	struct agent *a = data;

	(void)l;
	a->flush_timer = 0;
	if (a->cur && a->cur->n)
		agent_submit(a);
	return LOOP_TIMER_STOP;
}

/* Batches held: one more than the requests the concurrency limit allows now (so that the next one is
 * ready when a slot frees), and at least three (one in flight, one waiting, one being built). They
 * follow the limit where it stands, not its ceiling: a backfill on a fast link stays small. */
static size_t agent_batches(const struct agent *a)
{
	size_t limit = sender_limit(a->sender);

	return limit + 1 > 3 ? limit + 1 : 3;
}

static bool agent_room(const struct agent *a)
{
	return sender_pending(a->sender) < agent_batches(a);
}

static struct batch *agent_batch(struct agent *a)
{
	if (a->cur)
		return a->cur;
	if (a->nspare) {
		a->cur = a->spare[--a->nspare];
		batch_reuse(a->cur, a->cfg->batch.max_events, a->cfg->batch.max_bytes);
	} else {
		a->cur = xnonnull(batch_new(a->cfg->batch.max_events, a->cfg->batch.max_bytes));
	}
	a->cur_lb = ledger_batch_new(a->ledger);
	a->cur->owner = a->cur_lb; /* completed when the batch is resolved */
	a->flush_timer = loop_add_timer(a->loop, (int64_t)a->cfg->batch.flush_interval_ms, agent_flush_cb, a);
	return a->cur;
}

/* A batch no longer referenced: kept for a next one (its buffers have grown to a batch's size already)
 * while the batches held stay within what the read-ahead allows, otherwise freed. Several are kept:
 * requests completing together would otherwise free batches and grow new ones from nothing, which
 * costs CPU and fragments the heap. */
static void agent_recycle(struct agent *a, struct batch *b)
{
	if (a->nspare < AGENT_SPARES && sender_pending(a->sender) + a->nspare < agent_batches(a))
		a->spare[a->nspare++] = b;
	else
		batch_free(b);
}

static void agent_submit(struct agent *a)
{
	struct batch *b = a->cur;

	if (!b)
		return;
	if (a->flush_timer) {
		loop_del_timer(a->loop, a->flush_timer);
		a->flush_timer = 0;
	}
	a->cur = NULL;
	a->cur_lb = NULL;
	if (b->n == 0) {
		/* nothing to send: the batch is resolved at once */
		ledger_complete(b->owner);
		agent_recycle(a, b);
		return;
	}
	batch_close(b);
	a->st.batches++;
	if (sender_submit(a->sender, b) < 0) {
		/* only a batch that is not closed or empty is refused, never one of ours */
		log_errorx("agent", "cannot queue a batch; stopping");
		abort();
	}
}

/* A line that is not delivered: written to the dead-letter file, then finished. */
static void agent_reject_line(struct agent *a, const struct mapjob_item *it, const struct batch_line *l,
			      const char *reason)
{
	if (agent_deadletter(a, it->led, l, it->full, reason, 0, NULL, 0) < 0)
		return;
	ledger_skip(it->led, it->end);
	trouble_deadletter(a->trouble, reason, ledger_path(it->led), l->offset);
}

/* Adds one mapped event to the current batch; one that does not fit starts the next batch. */
static void agent_add_event(struct agent *a, const struct mapjob_item *it, const struct batch_line *l)
{
	struct batch *b = agent_batch(a);
	char reason[96];
	int r = batch_add_event(b, it->out, it->out_len, l);

	if (r == -E2BIG && b->n > 0) {
		agent_submit(a);
		b = agent_batch(a);
		r = batch_add_event(b, it->out, it->out_len, l);
	}
	if (r == -ENOMEM)
		xalloc_die(it->out_len + it->len);
	if (r == 0) {
		a->st.events_built++;
		ledger_mark(it->led, a->cur_lb, it->end);
		if (b->n >= a->cfg->batch.max_events)
			agent_submit(a);
		return;
	}
	snprintf(reason, sizeof(reason), "event larger than batch.max_bytes (%zu bytes)",
		 (size_t)a->cfg->batch.max_bytes);
	a->st.rejected_large++;
	agent_reject_line(a, it, l, reason);
}

/* One line's outcome, in file order: into a batch, counted as skipped, or dead-lettered. */
static void agent_take(struct agent *a, const struct mapjob_item *it)
{
	struct batch_line l = {it->line, it->len, it->offset, it->end, it->led};
	char reason[512];

	a->st.lines_read++;
	a->st.bytes_read += it->end - it->offset;
	if (ledger_rejected(it->led, it->offset)) {
		/* read again after a restart: its dead-letter record was written before */
		a->st.skipped_seen++;
		ledger_skip(it->led, it->end);
		return;
	}
	switch (it->code) {
	case MAP_EVENT:
		agent_add_event(a, it, &l);
		return;
	case MAP_SKIP:
		a->st.skipped_match++;
		a->st.skipped[it->skip]++;
		ledger_skip(it->led, it->end);
		return;
	case MAPJOB_LONG:
		snprintf(reason, sizeof(reason), "line longer than max_line_bytes (%llu bytes)",
			 (unsigned long long)it->full);
		a->st.rejected_long++;
		break;
	default:
		snprintf(reason, sizeof(reason), "%.*s", (int)it->out_len, it->out);
		a->st.rejected_parse++;
		break;
	}
	agent_reject_line(a, it, &l, reason);
}

/* Maps the lines read so far on every core, then takes their outcomes in order. After a failure the
 * rest are not taken: nothing records them, so the checkpoint stays before them and a restart reads
 * them again. */
static void agent_consume(struct agent *a)
{
	struct mapjob_item it;
	size_t n = mapjob_count(a->job);

	if (!n)
		return;
	mapjob_run(a->job);
	for (size_t i = 0; i < n && !a->failed; i++) {
		mapjob_get(a->job, i, &it);
		agent_take(a, &it);
	}
	mapjob_reset(a->job);
}

/* Lines one read pass may collect: what the batches with room left can hold (memory stays bounded
 * while the API is slow). */
static size_t agent_job_limit(const struct agent *a)
{
	size_t slots = agent_batches(a), pending = sender_pending(a->sender);

	return (pending < slots ? slots - pending : 1) * a->cfg->batch.max_events;
}

static int agent_line(void *data, const struct tail_line *l)
{
	struct agent *a = data;

	mapjob_add(a->job, l);
	return mapjob_count(a->job) >= agent_job_limit(a) ? LINES_STOP : 0;
}

/* ---- delivery results ---- */

static void agent_delivered(struct batch *b, void *data)
{
	struct agent *a = data;

	ledger_complete(b->owner);
	agent_recycle(a, b);
	a->want_read = true; /* room for more */
}

static int agent_rejected(const struct batch *b, size_t i, long status, const char *body, size_t body_len,
			  void *data)
{
	struct agent *a = data;
	const struct batch_event *e = &b->ev[i];
	struct batch_line l = {b->lines.data + e->line_off, e->line_len, e->offset, e->end, e->src};
	char reason[64];
	int r;

	snprintf(reason, sizeof(reason), "rejected by the server (HTTP %ld)", status);
	r = agent_deadletter(a, e->src, &l, e->line_len, reason, status, body, body_len);
	if (r < 0)
		return r;
	a->st.rejected_server++;
	a->ckpt_dirty = true; /* its dead range: a restart must not write the record again */
	trouble_rejected(a->trouble, status, body, body_len, ledger_path(e->src), e->offset);
	return 0;
}

/* A request failed. Answers that waiting will not change (wrong credentials or URL) are told with
 * their fix; run --once gives up on them after a few in a row (the next turn stops it). */
static void agent_failed(long status, void *data)
{
	struct agent *a = data;

	if (trouble_refused(a->trouble, status, sender_stats(a->sender)) >= TROUBLE_ONCE_REFUSALS && a->once &&
	    !a->give_up)
		a->give_up = status;
}

/* ---- checkpoint and metrics ---- */

/* `status` shows why a file lags: the sender's last failure goes with every entry not delivered. */
static void agent_note_errors(struct agent *a, struct checkpoint *cp)
{
	const char *e = sender_stats(a->sender)->last_error;

	for (size_t i = 0; e[0] && i < cp->n; i++) {
		if (cp->e[i].offset < cp->e[i].size && !cp->e[i].last_error)
			cp->e[i].last_error = strdup(e);
	}
}

static void agent_save_checkpoint(struct agent *a)
{
	struct checkpoint *cp = NULL;
	char err[512];
	int r;

	if (a->dl_broken)
		return;
	/* lines the checkpoint moves past may be in the dead-letter file: make them durable first. A
	 * failed sync may have dropped records written since the last good one (the kernel forgets the
	 * error once reported), so this process never writes a checkpoint again: a restart reads those
	 * lines again. */
	if ((r = deadletter_sync(a->dl)) < 0) {
		log_errorx("checkpoint", "cannot sync the dead-letter file %s/%s: %s; stopping without recording "
			   "progress past it", a->cfg->agent.state_dir, DEADLETTER_FILE, strerror(-r));
		a->dl_broken = true;
		agent_fail(a);
		return;
	}
	if ((r = tail_checkpoint(a->tail, &cp)) < 0) {
		log_errorx("checkpoint", "cannot build the checkpoint: %s", strerror(-r));
		return;
	}
	agent_note_errors(a, cp);
	r = checkpoint_save(a->cfg->agent.state_dir, cp, err, sizeof(err));
	checkpoint_free(cp);
	if (r < 0) {
		/* the old checkpoint is intact; try again at the next timer */
		log_errorx("checkpoint", "%s", err);
		return;
	}
	a->ckpt_dirty = false;
}

static int64_t agent_ckpt_cb(struct loop *l, void *data)
{
	struct agent *a = data;

	(void)l;
	if (a->ckpt_dirty) {
		/* deliveries moved it: `status` says so at once, not at the next metrics timer (and
		 * before the checkpoint: whoever sees the checkpoint move finds the status file moved) */
		agent_write_metrics(a);
		agent_save_checkpoint(a);
	}
	if (a->ckpt_dirty)
		return CHECKPOINT_DELAY_MS; /* failed: retry */
	a->ckpt_timer = 0;
	return LOOP_TIMER_STOP;
}

/* metrics.prom and status.json, from one view: they always agree. A long outage is told from here
 * too, with how far behind the files are. */
static void agent_write_metrics(struct agent *a)
{
	const struct sender_stats *s = sender_stats(a->sender);
	struct view v;
	int r;

	if ((r = view_build(&v, a->tail, s, &a->st, a->trouble, a->started_unix)) < 0)
		xalloc_die(0);
	if ((r = metrics_write(a->cfg->agent.state_dir, &v)) < 0)
		log_debug("metrics", "cannot write %s: %s", METRICS_FILE, strerror(-r));
	if ((r = statusfile_write(a->cfg->agent.state_dir, &v)) < 0)
		log_debug("metrics", "cannot write %s: %s", STATUSFILE_NAME, strerror(-r));
	trouble_outage(a->trouble, s, v.behind);
	view_free(&v);
}

/* Changes whenever a metric may have: lines read, requests, retries, in flight, files that cannot be
 * opened. */
static uint64_t agent_activity(const struct agent *a)
{
	const struct sender_stats *s = sender_stats(a->sender);

	return a->st.lines_read + a->st.batches + s->requests_total + s->retries + s->in_flight +
	       s->events_delivered + s->events_rejected + trouble_generation(a->trouble);
}

/* metrics.prom and status.json are rewritten every few seconds while something happens or batches
 * wait (their files may grow meanwhile: the lag must not freeze during an outage); an idle agent
 * leaves them as they are and takes no wake-up for them (the before-sleep hook re-arms the timer on
 * activity). */
static int64_t agent_metrics_cb(struct loop *l, void *data)
{
	struct agent *a = data;
	uint64_t now = agent_activity(a);

	(void)l;
	if (now == a->metrics_seen && !sender_pending(a->sender)) {
		a->metrics_timer = 0;
		return LOOP_TIMER_STOP;
	}
	a->metrics_seen = now;
	agent_write_metrics(a);
	return METRICS_INTERVAL_MS;
}

static void agent_log_summary(struct agent *a)
{
	const struct sender_stats *s = sender_stats(a->sender);

	log_info("agent",
		 "lines %llu, events %llu, delivered %llu, skipped %llu, dead-lettered %llu, requests %llu, "
		 "retries %llu, in flight %llu, files %zu",
		 (unsigned long long)a->st.lines_read, (unsigned long long)a->st.events_built,
		 (unsigned long long)s->events_delivered, (unsigned long long)a->st.skipped_match,
		 (unsigned long long)(a->st.rejected_parse + a->st.rejected_long + a->st.rejected_large +
				      a->st.rejected_server),
		 (unsigned long long)s->requests_total, (unsigned long long)s->retries,
		 (unsigned long long)s->in_flight, tail_nfiles(a->tail));
}

/* ---- progress (run --once on a terminal) ---- */

static void agent_fmt_bytes(char *out, size_t n, uint64_t v)
{
	if (v >= (1u << 30))
		snprintf(out, n, "%.1f GiB", (double)v / (1u << 30));
	else if (v >= (1u << 20))
		snprintf(out, n, "%.1f MiB", (double)v / (1u << 20));
	else
		snprintf(out, n, "%.1f KiB", (double)v / 1024);
}

static int64_t agent_progress_cb(struct loop *l, void *data)
{
	struct agent *a = data;
	uint64_t done, total, ms = loop_now_ms() - a->started_ms;
	double secs = (double)(ms ? ms : 1) / 1000.0, rate;
	char d[32], t[32];

	(void)l;
	tail_progress(a->tail, &done, &total);
	rate = (double)sender_stats(a->sender)->events_delivered / secs;
	agent_fmt_bytes(d, sizeof(d), done);
	agent_fmt_bytes(t, sizeof(t), total);
	fprintf(stderr, "\r%s of %s, %.0f events/s, %.0f s left   ", d, t, rate,
		done && total > done ? secs * (double)(total - done) / (double)done : 0.0);
	return 500;
}

/* ---- stopping ---- */

static int64_t agent_shutdown_cb(struct loop *l, void *data)
{
	struct agent *a = data;

	a->shutdown_timer = 0;
	log_warnx("agent", "shutdown timeout: %zu batches not delivered; they will be resent at the next start",
		  sender_pending(a->sender));
	a->state = AGENT_STOPPED;
	loop_stop(l);
	return LOOP_TIMER_STOP;
}

static void agent_begin_stop(struct agent *a)
{
	if (a->state == AGENT_DRAINING || a->state == AGENT_STOPPED)
		return;
	a->state = AGENT_DRAINING;
	agent_submit(a);
	a->shutdown_timer = loop_add_timer(a->loop, (int64_t)a->cfg->agent.shutdown_timeout_ms, agent_shutdown_cb, a);
}

/* ---- signals and reload ---- */

static void agent_sender_opts(const struct config *c, struct sender_opts *o)
{
	*o = (struct sender_opts){
		.url = c->endpoint.url,
		.username = c->endpoint.username,
		.password = c->endpoint.password,
		.ca_file = c->endpoint.ca_file,
		.proxy = c->endpoint.proxy,
		.timeout_ms = c->endpoint.timeout_ms,
		.max_in_flight = (unsigned)c->batch.max_in_flight,
		.max_in_flight_ceiling = (unsigned)c->batch.max_in_flight_ceiling,
		.initial_backoff_ms = c->retry.initial_backoff_ms,
		.max_backoff_ms = c->retry.max_backoff_ms,
	};
}

static unsigned agent_threads(const struct agent *a);

/* Retired configurations stay alive while files of removed inputs still point into them. */
static void agent_drop_old_configs(struct agent *a, bool all)
{
	if (!all && (!a->nold || tail_nretired(a->tail) > 0))
		return;
	for (size_t i = 0; i < a->nold; i++)
		config_free(a->old[i]);
	free(a->old);
	a->old = NULL;
	a->nold = 0;
}

static bool agent_reload_allowed(const struct agent *a, const struct config *c)
{
	if (strcmp(c->agent.state_dir, a->cfg->agent.state_dir) == 0 &&
	    strcmp(c->agent.id_namespace, a->cfg->agent.id_namespace) == 0)
		return true;
	log_errorx("config", "reload refused: agent.state_dir and agent.id_namespace cannot change while "
		   "running (the checkpoint and every event id depend on them); restart the agent");
	return false;
}

/* SIGHUP: load and validate the new file; an invalid one is refused and the old one stays. A valid
 * one is swapped in: new inputs start, removed ones stop after their in-flight batches, the endpoint
 * and credentials apply to the next request and batch limits to the next batch. */
static void agent_reload(struct agent *a)
{
	struct config_diag d = {0};
	struct config *c = NULL, **old;
	struct mapjob *job = NULL;
	struct sender_opts o;
	char err[512];

	if (config_load(a->config_path, CONFIG_NEED_CREDENTIALS, &c, &d) < 0) {
		for (size_t i = 0; i < d.nerrors; i++)
			log_errorx("config", "%s", d.errors[i]);
		log_errorx("config", "reload refused; still running on the previous configuration");
		config_diag_free(&d);
		return;
	}
	config_diag_free(&d);
	old = realloc(a->old, (a->nold + 1) * sizeof(*old));
	if (old)
		a->old = old;
	if (!old || !agent_reload_allowed(a, c)) {
		config_free(c);
		return;
	}
	if (mapjob_new(c, agent_threads(a), &job, err, sizeof(err)) < 0) {
		log_errorx("config", "reload refused: %s", err);
		config_free(c);
		return;
	}
	agent_sender_opts(c, &o);
	if (sender_set_opts(a->sender, &o) < 0) {
		log_errorx("config", "reload refused: cannot apply the new endpoint settings");
		mapjob_free(job);
		config_free(c);
		return;
	}
	/* lines are mapped in the loop turn that reads them: the job is empty here */
	mapjob_free(a->job);
	a->job = job;
	tail_reconfigure(a->tail, c);
	a->old[a->nold++] = a->cfg;
	a->cfg = c;
	log_set_level(c->agent.log_level);
	log_set_format(c->agent.log_format);
	trouble_set_endpoint(a->trouble, c->endpoint.url, c->endpoint.username);
	a->want_read = true;
	log_info("config", "reloaded %s: %zu input%s", a->config_path, c->ninputs, c->ninputs == 1 ? "" : "s");
}

static void agent_signal_cb(struct loop *l, int fd, int events, void *data)
{
	struct agent *a = data;
	struct signalfd_siginfo si;

	(void)l;
	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("agent", "signal %s: finishing in-flight requests and stopping",
				 si.ssi_signo == SIGTERM ? "TERM" : "INT");
			agent_begin_stop(a);
			break;
		case SIGHUP:
			agent_reload(a);
			break;
		case SIGUSR1:
			agent_log_summary(a);
			break;
		}
	}
}

static int agent_signals(struct agent *a)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit (systemd's LimitFSIZE=) must give EFBIG, which is handled and logged, not a
	 * core-dumping kill in the middle of a write */
	signal(SIGXFSZ, SIG_IGN);
	a->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->sigfd < 0)
		return -errno;
	return loop_add_fd(a->loop, a->sigfd, LOOP_READ, agent_signal_cb, a);
}

/* ---- the loop's turn ---- */

static void agent_wake(void *data) { ((struct agent *)data)->want_read = true; }

static int64_t agent_once_cb(struct loop *l, void *data)
{
	struct agent *a = data;

	(void)l;
	a->once_timer = 0;
	a->want_read = true;
	return LOOP_TIMER_STOP;
}

/* New files' identities reach the checkpoint before any of their lines is sent: after a crash, one of
 * them rotated away while the agent was down is still found by them. */
static void agent_note_new_files(struct agent *a)
{
	if (a->once || !tail_new_files(a->tail))
		return;
	a->ckpt_dirty = true;
	agent_save_checkpoint(a);
}

/* read -> map -> batch, while the batches have room (backpressure: the log files are the buffer). */
static void agent_read(struct agent *a)
{
	bool more = false;

	if (!a->want_read || !agent_room(a))
		return;
	tail_read(a->tail, READ_BUDGET, &more);
	agent_consume(a);
	a->want_read = more;
}

/* run --once: everything up to the sizes at start is read; final lines without LF wait until their
 * file has been quiet for one flush interval; then the last batch goes and the agent finishes. */
static void agent_once_check(struct agent *a)
{
	uint64_t wait;

	if (!tail_once_read(a->tail) || a->once_timer)
		return;
	wait = tail_once_flush_partials(a->tail, a->cfg->batch.flush_interval_ms);
	agent_consume(a);
	if (wait) {
		a->once_timer = loop_add_timer(a->loop, (int64_t)wait, agent_once_cb, a);
		return;
	}
	if (!tail_once_read(a->tail) || a->failed)
		return;
	agent_submit(a);
	a->state = AGENT_FINISHING;
}

/* Finished lines move the checkpoint; configurations replaced by reloads go once unused. */
static void agent_advance(struct agent *a)
{
	if (ledger_advance(a->ledger))
		a->ckpt_dirty = true;
	agent_drop_old_configs(a, false);
}

/* run --once met an answer that waiting will not change too often in a row: it stops, and says why. */
static void agent_check_give_up(struct agent *a)
{
	if (!a->give_up || a->refused)
		return;
	trouble_give_up(a->trouble, a->give_up);
	a->refused = true;
	agent_begin_stop(a);
}

/* DRAINING and FINISHING end when nothing is left to wait for. */
static void agent_check_stop(struct agent *a)
{
	size_t pending = sender_pending(a->sender);

	if (a->state == AGENT_FINISHING && pending == 0) {
		a->state = AGENT_STOPPED;
	} else if (a->state != AGENT_DRAINING) {
		return;
	} else if (a->failed && sender_in_flight(a->sender) == 0) {
		a->state = AGENT_STOPPED; /* what is pending cannot finish: it is read again after a restart */
	} else if (pending && sender_backing_off(a->sender)) {
		/* nothing in flight to wait for: what is pending is read again at the next start */
		log_warnx("agent", "stopping with %zu batches not delivered (the API is failing); they will be "
			  "sent after the next start", pending);
		a->state = AGENT_STOPPED;
	} else if (pending == 0) {
		a->state = AGENT_STOPPED;
	}
}

/* Timers for what follows the turn, and no sleep while there is more to read right away. */
static void agent_schedule(struct agent *a)
{
	if (a->state == AGENT_RUNNING && a->want_read && agent_room(a))
		loop_dont_wait(a->loop);
	if (!a->metrics_timer && agent_activity(a) != a->metrics_seen)
		a->metrics_timer = loop_add_timer(a->loop, METRICS_INTERVAL_MS, agent_metrics_cb, a);
	if (a->ckpt_dirty && !a->ckpt_timer && !a->once)
		a->ckpt_timer = loop_add_timer(a->loop, CHECKPOINT_DELAY_MS, agent_ckpt_cb, a);
}

/* One turn of the loop, before it waits for events. */
static void agent_turn(struct loop *l, void *data)
{
	struct agent *a = data;

	/* what the watches saw: new, renamed, rotated, finished and retired files */
	if (tail_process(a->tail))
		a->ckpt_dirty = true;
	agent_note_new_files(a);
	if (a->state == AGENT_RUNNING)
		agent_read(a);
	if (a->state == AGENT_RUNNING && a->once)
		agent_once_check(a);
	agent_advance(a);
	agent_check_give_up(a);
	agent_check_stop(a);
	if (a->state == AGENT_STOPPED) {
		loop_stop(l);
		return;
	}
	agent_schedule(a);
}

/* ---- life cycle ---- */

static int agent_open_state(struct agent *a, struct checkpoint **ret_cp)
{
	const char *dir = a->cfg->agent.state_dir;
	char err[512];
	int r;

	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		log_error("agent", "cannot create the state directory %s", dir);
		return -errno;
	}
	if ((r = statedir_claim(dir)) < 0)
		return r;
	r = checkpoint_load(dir, ret_cp, err, sizeof(err));
	if (r == -EBADMSG) {
		log_errorx("checkpoint", "%s; starting over from start_at (resent events keep their ids)", err);
	} else if (r < 0) {
		log_errorx("checkpoint", "%s", err);
		return r;
	}
	r = deadletter_open(dir, DEADLETTER_ROTATE, &a->dl);
	if (r < 0)
		log_errorx("agent", "cannot open %s/%s: %s", dir, DEADLETTER_FILE, strerror(-r));
	return r;
}

/* Mapping runs on every core, up to 4 (more buys little: the sender and the reads stay on one),
 * unless the options say how many (tests). */
static unsigned agent_threads(const struct agent *a)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (a->opts.map_threads >= 0)
		return (unsigned)a->opts.map_threads;
	return n <= 1 ? 0 : n >= 4 ? 3 : (unsigned)n - 1;
}

static void agent_open_failed(void *data, const char *path, const char *input, bool initial, int err)
{
	struct agent *a = data;

	trouble_open_failed(a->trouble, path, input, initial, err);
}

static int agent_recheck(void *data, const char *path, bool initial)
{
	return tail_recheck(((struct agent *)data)->tail, path, initial);
}

static int agent_build(struct agent *a)
{
	struct sender_opts so;
	struct sender_cbs sc = {.delivered = agent_delivered, .rejected = agent_rejected, .data = a,
				.failed = agent_failed};
	struct tail_cbs tc = {.line = agent_line, .wake = agent_wake, .data = a, .open_failed = agent_open_failed};
	char err[512];

	if (mapjob_new(a->cfg, agent_threads(a), &a->job, err, sizeof(err)) < 0) {
		log_errorx("agent", "%s", err);
		return -EINVAL;
	}
	agent_sender_opts(a->cfg, &so);
	a->loop = loop_new();
	if (!a->loop || !(a->sender = sender_new(a->loop, &so, &sc)))
		return -ENOMEM;
	a->ledger = ledger_new();
	a->trouble = trouble_new(a->loop, a->cfg->agent.state_dir, a->cfg->endpoint.url, a->cfg->endpoint.username,
				 agent_recheck, a);
	a->tail = tail_new(a->loop, a->cfg, &tc, a->ledger, &a->opts.tail);
	return 0;
}

int agent_new(struct config *cfg, const char *config_path, const struct agent_opts *opts, struct agent **ret)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct checkpoint *cp = NULL;
	int r = -ENOMEM;

	if (!a) {
		config_free(cfg);
		return -ENOMEM;
	}
	a->cfg = cfg;
	a->opts = *opts;
	a->once = opts->once;
	a->sigfd = -1;
	a->state = AGENT_RUNNING;
	a->config_path = strdup(config_path);
	if (!a->config_path || (r = agent_build(a)) < 0 || (r = agent_open_state(a, &cp)) < 0 ||
	    (r = agent_signals(a)) < 0 || (r = tail_start(a->tail, cp, a->once)) < 0) {
		checkpoint_free(cp);
		agent_free(a);
		return r < 0 ? r : -ENOMEM;
	}
	checkpoint_free(cp);
	trouble_empty_globs(a->cfg, a->once);
	*ret = a;
	return 0;
}

int agent_run(struct agent *a)
{
	int r;

	a->started_ms = loop_now_ms();
	a->started_unix = (int64_t)time(NULL);
	a->want_read = true;
	if (geteuid() == 0)
		log_warnx("agent", "running as root; the packaged service runs as the unprivileged user "
			  "onside-agent");
	loop_set_before_sleep(a->loop, agent_turn, a);
	agent_write_metrics(a);
	a->metrics_seen = agent_activity(a);
	if (a->once && isatty(STDERR_FILENO))
		a->progress_timer = loop_add_timer(a->loop, 500, agent_progress_cb, a);
	log_info("agent", "started: %zu files, %zu inputs", tail_nfiles(a->tail), a->cfg->ninputs);
	notify_ready();
	r = loop_run(a->loop);
	notify_stopping();
	if (a->progress_timer) {
		agent_progress_cb(a->loop, a);
		fputc('\n', stderr);
	}
	/* whatever was acknowledged is recorded, whatever was not will be read again */
	ledger_advance(a->ledger);
	tail_process(a->tail);
	agent_save_checkpoint(a);
	agent_write_metrics(a);
	trouble_flush(a->trouble);
	agent_log_summary(a);
	if (r < 0 || a->failed || a->refused || a->ckpt_dirty)
		return 1;
	return 0;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	/* the sender first: it frees the batches it holds, which reference tail files */
	sender_free(a->sender);
	batch_free(a->cur);
	while (a->nspare)
		batch_free(a->spare[--a->nspare]);
	tail_free(a->tail);
	ledger_free(a->ledger); /* with the streams and tokens of batches never delivered */
	mapjob_free(a->job);
	agent_drop_old_configs(a, true);
	deadletter_close(a->dl);
	trouble_free(a->trouble);
	if (a->sigfd >= 0)
		close(a->sigfd);
	loop_free(a->loop);
	config_free(a->cfg);
	free(a->config_path);
	free(a);
}
