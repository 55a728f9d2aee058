/* The agent's files in the state directory and what it tells the operator (see agent_int.h): the
 * checkpoint (after the dead-letter file is durable), metrics.prom and status.json from one view, the
 * summary line, and the progress line of run --once on a terminal. */
#include <stdio.h>
#include <string.h>

#include "agent_int.h"
#include "checkpoint.h"
#include "deadletter.h"
#include "log.h"
#include "metrics.h"
#include "statusfile.h"
#include "tail.h"
#include "trouble.h"
#include "view.h"
#include "xalloc.h"

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

void agent_save_checkpoint(struct agent *a)
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
		a->failed = true; /* the turn stops the agent */
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

int64_t agent_ckpt_cb(struct loop *l, void *data)
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
void agent_write_metrics(struct agent *a)
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
uint64_t agent_activity(const struct agent *a)
{
	const struct sender_stats *s = sender_stats(a->sender);

	return a->st.lines_read + a->st.batches + s->requests_total + s->retries + s->in_flight +
	       s->events_delivered + s->events_rejected + trouble_generation(a->trouble);
}

/* metrics.prom and status.json are rewritten every few seconds while something happens or batches
 * wait (their files may grow meanwhile: the lag must not freeze during an outage); an idle agent
 * leaves them as they are and takes no wake-up for them (the before-sleep hook re-arms the timer on
 * activity). */
int64_t agent_metrics_cb(struct loop *l, void *data)
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

void agent_log_summary(struct agent *a)
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

int64_t agent_progress_cb(struct loop *l, void *data)
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
