/* The running agent's insides, shared by its three files: agent.c (the loop's turn, batches,
 * delivery results, life cycle), agent_state.c (checkpoint, metrics and status files, the summary,
 * the progress line) and agent_signals.c (signals and reload). Nothing outside agent*.c includes it. */
#ifndef ONSIDE_AGENT_INT_H
#define ONSIDE_AGENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "config.h"
#include "loop.h"
#include "sender.h"

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
	bool want_stop; /* SIGTERM or SIGINT: the turn begins the stop */
	bool want_summary; /* SIGUSR1: the turn logs the summary */
	unsigned threads; /* mapping threads, fixed at start */
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

/* agent_state.c */
void agent_save_checkpoint(struct agent *a);
int64_t agent_ckpt_cb(struct loop *l, void *data);
void agent_write_metrics(struct agent *a);
uint64_t agent_activity(const struct agent *a);
int64_t agent_metrics_cb(struct loop *l, void *data);
void agent_log_summary(struct agent *a);
int64_t agent_progress_cb(struct loop *l, void *data);

/* agent_signals.c */
void agent_sender_opts(const struct config *c, struct sender_opts *o);
void agent_drop_old_configs(struct agent *a, bool all);
int agent_signals(struct agent *a);

#endif
