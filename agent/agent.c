/* The running agent (see agent.h): one loop turn at a time reads lines, maps them on every core,
 * batches events, hands batches to the sender and records every line's outcome in the ledger, which
 * is what the checkpoint saves; the dead-letter file and stopping live here because they decide what
 * the turn does next. The state files and progress are in agent_state.c, signals and reload in
 * agent_signals.c. */
#include "agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "notify.h"
#include "sender.h"
#include "statedir.h"
#include "tail.h"
#include "trouble.h"
#include "xalloc.h"

static void agent_submit(struct agent *a);
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
	if (a->cur && batch_count(a->cur))
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
	batch_set_owner(a->cur, a->cur_lb); /* completed when the batch is resolved */
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
	if (batch_count(b) == 0) {
		/* nothing to send: the batch is resolved at once */
		ledger_complete(batch_owner(b));
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

	if (r == -E2BIG && batch_count(b) > 0) {
		agent_submit(a);
		b = agent_batch(a);
		r = batch_add_event(b, it->out, it->out_len, l);
	}
	if (r == -ENOMEM)
		xalloc_die(it->out_len + it->len);
	if (r == 0) {
		a->st.events_built++;
		ledger_mark(it->led, a->cur_lb, it->end);
		if (batch_count(b) >= a->cfg->batch.max_events)
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

	ledger_complete(batch_owner(b));
	agent_recycle(a, b);
	a->want_read = true; /* room for more */
}

static int agent_rejected(const struct batch *b, size_t i, long status, const char *body, size_t body_len,
			  void *data)
{
	struct agent *a = data;
	struct batch_line l = batch_event_line(b, i);
	char reason[64];
	int r;

	snprintf(reason, sizeof(reason), "rejected by the server (HTTP %ld)", status);
	r = agent_deadletter(a, l.src, &l, l.len, reason, status, body, body_len);
	if (r < 0)
		return r;
	a->st.rejected_server++;
	a->ckpt_dirty = true; /* its dead range: a restart must not write the record again */
	trouble_rejected(a->trouble, status, body, body_len, ledger_path(l.src), l.offset);
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

	/* what signals asked for */
	if (a->want_summary) {
		a->want_summary = false;
		agent_log_summary(a);
	}
	if (a->want_stop)
		agent_begin_stop(a);
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
	if (a->failed) /* a failed checkpoint save sets it too */
		agent_begin_stop(a);
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

	a->threads = agent_threads(a);
	if (mapjob_new(a->cfg, a->threads, &a->job, err, sizeof(err)) < 0) {
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
