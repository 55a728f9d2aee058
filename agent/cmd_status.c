/* `onside-agent status`: what the agent does. When an agent runs on the state directory (its lock is
 * held: statedir_query), what it knows, from the status file it rewrites with metrics.prom: the
 * delivery state (failing since, failures in a row, last error, next retry) and per file offset, size,
 * lag, age of the oldest line waiting, last delivery and error, and the files it cannot open. When
 * none runs, each tracked file from the checkpoint, read through the agent's own loader checks
 * (checkpoint_read_each), so what it shows is what `run` would use; a damaged entry is shown as such.
 * Reads only: takes no lock (but for an instant's shared flock), moves nothing aside.
 *
 * Exit 0 when healthy, 1 when not: by default a file that lags for five minutes (its oldest line
 * waiting that long; from the checkpoint, no delivery in that time), an error,
 * a file that cannot be opened, a missing or damaged checkpoint; with --max-lag or --max-failing, a
 * file lagging more than the one, delivery failing longer than the other (and the missing, damaged
 * and unreadable). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "checkpoint.h"
#include "cli.h"
#include "config.h"
#include "escape.h"
#include "notice.h"
#include "statedir.h"
#include "status_table.h"
#include "statusfile.h"

struct status_ctx {
	const struct cli_opts *o;
	struct buf head, rows, why; /* why: what makes it unhealthy past a limit, for stderr */
	time_t now;
	bool unhealthy; /* by the default rule */
	bool broken;    /* unhealthy whatever the limits: damaged, unreadable, no checkpoint */
	bool over;      /* past --max-lag or --max-failing */
	size_t hidden;  /* rotated files delivered to their end */
};

static bool status_limits(const struct status_ctx *c) { return c->o->max_lag_set || c->o->max_failing_set; }

static void status_when(char *out, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || (int64_t)tt != t || !gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, n, "never");
}

static void status_ago(char *out, size_t n, time_t now, int64_t t)
{
	notice_duration(out, n, (int64_t)now > t ? (uint64_t)((int64_t)now - t) : 0);
}

/* --max-lag, and --max-failing for a file of the checkpoint (no agent runs: a file that lags with no
 * delivery for longer than the limit has been failing that long). */
static void status_judge(struct status_ctx *c, const struct status_row *r, bool live)
{
	uint64_t lag = r->figures && r->size > r->offset ? r->size - r->offset : 0;
	uint64_t limit_s = c->o->max_failing_ms / 1000;
	struct buf path;
	char a[32], b[32];

	if (!lag)
		return;
	buf_init(&path, 0);
	if (r->shown)
		buf_puts(&path, r->path);
	else
		escape_text(&path, r->path, strlen(r->path));
	if (c->o->max_lag_set && lag > c->o->max_lag) {
		buf_printf(&c->why, "onside-agent: %s lags %" PRIu64 " bytes, more than --max-lag %" PRIu64 "\n",
			   path.data ? path.data : "", lag, c->o->max_lag);
		c->over = true;
	}
	if (!live && c->o->max_failing_set &&
	    (r->last_delivery <= 0 || (int64_t)c->now - r->last_delivery > (int64_t)limit_s)) {
		notice_duration(b, sizeof(b), limit_s);
		if (r->last_delivery > 0)
			status_ago(a, sizeof(a), c->now, r->last_delivery);
		buf_printf(&c->why, "onside-agent: %s lags with no delivery %s%s, longer than --max-failing %s\n",
			   path.data ? path.data : "", r->last_delivery > 0 ? "for " : "ever",
			   r->last_delivery > 0 ? a : "", b);
		c->over = true;
	}
	buf_free(&path);
}

static int status_add_row(struct status_ctx *c, const struct status_row *r, bool live)
{
	int rc = status_table_print(&c->rows, r, c->now);

	if (rc < 0)
		return rc;
	c->unhealthy |= rc;
	status_judge(c, r, live);
	return 0;
}

/* ---- the running agent, from its status file ---- */

static void status_delivery(struct status_ctx *c, const struct statusfile *s)
{
	char since[48], ago[32], when[48], behind[32], retry[32];

	if (!s->failing_since) {
		status_when(when, sizeof(when), s->last_delivery);
		buf_printf(&c->head, "delivery: ok, last delivery %s\n", when);
		return;
	}
	status_when(since, sizeof(since), s->failing_since);
	status_ago(ago, sizeof(ago), c->now, s->failing_since);
	notice_count(behind, sizeof(behind), s->behind);
	if (s->next_retry > (int64_t)c->now)
		notice_duration(retry, sizeof(retry), (uint64_t)(s->next_retry - (int64_t)c->now));
	buf_printf(&c->head, "delivery: failing since %s (for %s): %" PRIu64 " failed attempt%s in a row, last "
		   "error: %s, %s bytes behind, next retry %s%s\n", since, ago, s->failures,
		   s->failures == 1 ? "" : "s", s->last_error[0] ? s->last_error : "-", behind,
		   s->next_retry > (int64_t)c->now ? "in " : "now", s->next_retry > (int64_t)c->now ? retry : "");
	if (c->o->max_failing_set && (int64_t)c->now - s->failing_since > (int64_t)(c->o->max_failing_ms / 1000)) {
		notice_duration(retry, sizeof(retry), c->o->max_failing_ms / 1000);
		buf_printf(&c->why, "onside-agent: delivery has been failing for %s, longer than --max-failing %s\n",
			   ago, retry);
		c->over = true;
	}
}

static int status_live_rows(struct status_ctx *c, const struct statusfile *s)
{
	char why[512], since[48];
	int r = 0;

	for (size_t i = 0; r == 0 && i < s->nfiles; i++) {
		const struct statusfile_file *f = &s->files[i];
		struct status_row row = { .path = f->path, .shown = true, .figures = true, .rotated = f->rotated,
					  .offset = f->offset, .size = f->size, .oldest = f->oldest, .live = true,
					  .last_delivery = f->last_delivery, .error = f->error };

		if (f->rotated && f->size <= f->offset) {
			c->hidden++;
			continue;
		}
		r = status_add_row(c, &row, true);
	}
	for (size_t i = 0; r == 0 && i < s->nbad; i++) {
		struct status_row row = { .path = s->bad[i].path, .shown = true, .error = why };

		status_when(since, sizeof(since), s->bad[i].since);
		snprintf(why, sizeof(why), "cannot open: %s (since %s)", s->bad[i].error, since);
		r = status_add_row(c, &row, true);
		c->broken = true;
	}
	return r;
}

/* Returns 0 when the running agent's status file was shown, 1 when there is none of it yet (or it is
 * from another process: an agent before it), or a negative errno. */
static int status_live(struct status_ctx *c, const char *dir, long pid)
{
	struct statusfile s;
	char why[256], started[48], written[48];
	int r = statusfile_read(dir, &s, why, sizeof(why));

	if (r < 0 || (pid && s.pid != pid)) {
		if (r == -ENOENT || r == 0)
			snprintf(why, sizeof(why), "not written by it yet");
		else if (r != -EBADMSG)
			snprintf(why, sizeof(why), "%s", strerror(-r));
		buf_printf(&c->head, "agent: running (pid %ld); its status file %s/%s: %s; from the checkpoint\n", pid,
			   dir, STATUSFILE_NAME, why);
		if (r == 0)
			statusfile_free(&s);
		return 1;
	}
	status_when(started, sizeof(started), s.started);
	status_when(written, sizeof(written), s.written);
	buf_printf(&c->head, "agent: running (pid %ld) since %s; status of %s\n", s.pid, started, written);
	status_delivery(c, &s);
	r = status_live_rows(c, &s);
	statusfile_free(&s);
	return r;
}

/* ---- no agent: the checkpoint ---- */

static int status_entry(void *data, size_t idx, const struct checkpoint_entry *e, const char *damage)
{
	struct status_ctx *c = data;
	struct status_row row;
	struct stat st;
	int r;

	(void)idx;
	if (damage) {
		r = status_table_row(&c->rows, e, damage, NULL, c->now);
		c->broken = true;
		return r < 0 ? r : 0;
	}
	if (!status_table_from_entry(e, stat(e->path, &st) == 0 ? &st : NULL, &row)) {
		c->hidden++;
		return 0;
	}
	return status_add_row(c, &row, false);
}

static int status_checkpoint(struct status_ctx *c, const char *dir)
{
	char err[4096 + 512];
	int r = checkpoint_read_each(dir, status_entry, c, err, sizeof(err));

	if (r == -ENOENT)
		fprintf(stderr, "onside-agent: no readable checkpoint at %s/%s (has the agent run yet?)\n", dir,
			CHECKPOINT_FILE);
	else if (r == -EBADMSG)
		fprintf(stderr, "onside-agent: %s; the agent will move it aside and start over from start_at\n", err);
	else if (r < 0)
		fprintf(stderr, "onside-agent: %s\n", err);
	return r;
}

static void status_print(struct status_ctx *c, bool table)
{
	struct buf h;

	fwrite(c->head.data ? c->head.data : "", 1, c->head.len, stdout);
	buf_init(&h, 0);
	if (table && status_table_header(&h) == 0) {
		fwrite(h.data, 1, h.len, stdout);
		fwrite(c->rows.data ? c->rows.data : "", 1, c->rows.len, stdout);
		if (c->hidden)
			printf("(%zu rotated file%s delivered to its end not shown)\n", c->hidden,
			       c->hidden == 1 ? "" : "s");
	}
	buf_free(&h);
	fwrite(c->why.data ? c->why.data : "", 1, c->why.len, stderr);
}

int cmd_status(const struct cli_opts *o)
{
	struct status_ctx c = { .o = o, .now = time(NULL) };
	struct config *cfg = NULL;
	const char *dir;
	long pid = 0;
	int run, r = 1;

	if (cli_load_config(o->config, 0, false, &cfg) != 0)
		return 2;
	dir = cfg->agent.state_dir;
	buf_init(&c.head, 0);
	buf_init(&c.rows, 0);
	buf_init(&c.why, 0);
	run = statedir_query(dir, &pid);
	if (run == 1)
		r = status_live(&c, dir, pid);
	else if (run == 0)
		buf_printf(&c.head, "agent: not running; from the checkpoint\n");
	else
		buf_printf(&c.head, "agent: cannot tell whether it runs (%s/%s: %s); from the checkpoint\n", dir,
			   STATEDIR_LOCK_FILE, strerror(-run));
	if (r == 1)
		r = status_checkpoint(&c, dir);
	status_print(&c, r == 0);
	config_free(cfg);
	buf_free(&c.head);
	buf_free(&c.rows);
	buf_free(&c.why);
	if (r < 0 || c.broken || c.over)
		return 1;
	return !status_limits(&c) && c.unhealthy ? 1 : 0;
}
