/* `onside-agent replay`: the lines of the dead-letter file (dead-letter.jsonl.1, then
 * dead-letter.jsonl) fed again through the current configuration (replay.h: same input, same file,
 * same offset, so the same ids), and the events sent through the agent's own sender (the API's
 * answers handled as `run` handles them: a 400 splits until the rejected event stands alone).
 *
 * What happens to each record chosen (--input, --reason): delivered (204) or now skipped by the
 * configuration: moved to dead-letter.replayed.jsonl, with when, what and the event's id, so that it is
 * not replayed twice; still rejected, or not replayable (its input is gone, its file changed): it
 * stays as it is. The moved records are appended (and synced) before the files are rewritten without
 * them (atomically), so a crash in between leaves a record in both: replaying it again sends the same
 * id, which the server keeps once.
 *
 * It holds the state directory's lock while it runs, as `run` does: it refuses (exit 1, naming the
 * process) while an agent runs, and no agent can start and append to the file meanwhile. --dry-run
 * takes no lock, changes nothing and prints one JSON object per record chosen, as `parse` does. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "batch.h"
#include "cli.h"
#include "config.h"
#include "deadletter.h"
#include "fileio.h"
#include "jsonw.h"
#include "log.h"
#include "loop.h"
#include "notice.h"
#include "replay.h"
#include "sender.h"
#include "statedir.h"

#define REFUSALS_GIVE_UP 3 /* 401/403/404/405 in a row: waiting will not change the answer */
#define CLASSES_MAX 8

enum outcome { OUT_WAIT, OUT_SENT, OUT_DELIVERED, OUT_SKIPPED, OUT_REJECTED, OUT_CANNOT, OUT_KINDS };

struct rrec {
	struct deadletter_record *r;
	unsigned file; /* index into replay_cmd.files */
	enum outcome out;
	char why[256];
	char id[EVENTID_LEN + 1];
};

struct dlfile {
	const char *name;
	struct deadletter_record *v;
	size_t n;
	size_t moved;
};

struct replay_cmd {
	const struct cli_opts *o;
	struct config *cfg;
	struct replay_mapper *rm;
	pcre2_code *re;
	pcre2_match_data *md;
	struct dlfile files[2]; /* the rotated (older) file first */
	struct rrec *recs;      /* the records chosen, in file order */
	size_t n, unreadable;
	/* sending */
	struct loop *loop;
	struct sender *sender;
	struct batch *cur;
	size_t next; /* the next record to map */
	int sigfd;
	bool stopping, interrupted;
	long gave_up;
	unsigned refusals;
};

/* ---- choosing records ---- */

static int compile_reason(struct replay_cmd *c)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off = 0;
	int code = 0;

	if (!c->o->reason)
		return 0;
	c->re = pcre2_compile((PCRE2_SPTR)c->o->reason, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
	if (!c->re) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		fprintf(stderr, "onside-agent: --reason: invalid regex at offset %zu: %s\n", (size_t)off, (char *)msg);
		return 2;
	}
	c->md = pcre2_match_data_create_from_pattern(c->re, NULL);
	return c->md ? 0 : 1;
}

static bool chosen(const struct replay_cmd *c, const struct deadletter_record *r)
{
	if (!r->ok)
		return false;
	if (c->o->input && strcmp(c->o->input, r->input))
		return false;
	return !c->re || pcre2_match(c->re, (PCRE2_SPTR)r->reason, strlen(r->reason), 0, 0, c->md, NULL) >= 0;
}

static int read_records(struct replay_cmd *c)
{
	const char *dir = c->cfg->agent.state_dir;
	size_t total = 0;
	int r;

	c->files[0].name = DEADLETTER_ROTATED;
	c->files[1].name = DEADLETTER_FILE;
	for (unsigned f = 0; f < 2; f++) {
		if ((r = deadletter_read(dir, c->files[f].name, &c->files[f].v, &c->files[f].n)) < 0) {
			fprintf(stderr, "onside-agent: cannot read %s/%s: %s\n", dir, c->files[f].name, strerror(-r));
			return 1;
		}
		total += c->files[f].n;
	}
	if (!(c->recs = calloc(total ? total : 1, sizeof(*c->recs))))
		return 1;
	for (unsigned f = 0; f < 2; f++) {
		for (size_t i = 0; i < c->files[f].n; i++) {
			struct deadletter_record *rec = &c->files[f].v[i];

			c->unreadable += !rec->ok;
			if (chosen(c, rec))
				c->recs[c->n++] = (struct rrec){ .r = rec, .file = f };
		}
	}
	return 0;
}

/* ---- --dry-run ---- */

static int print_one(struct replay_cmd *c, struct rrec *x, struct buf *b)
{
	const char *json, *key;
	size_t len;
	int r = replay_map(c->rm, x->r, &json, &len, x->id, x->why, sizeof(x->why));

	buf_reset(b);
	if (r < 0)
		return r;
	if (r == REPLAY_EVENT)
		return buf_append(b, json, len) || buf_putc(b, '\n') ? -ENOMEM : 0;
	key = r == REPLAY_SKIP ? "skipped" : r == REPLAY_REJECT ? "rejected" : "cannot_replay";
	if (buf_printf(b, "{\"%s\":", key) || jsonw_string(b, x->why, strlen(x->why)) ||
	    buf_puts(b, ",\"line\":") || jsonw_string(b, x->r->line, x->r->line_len) || buf_puts(b, "}\n"))
		return -ENOMEM;
	return 0;
}

static int dry_run(struct replay_cmd *c)
{
	struct buf b;
	int r = 0;

	buf_init(&b, 0);
	for (size_t i = 0; i < c->n && r == 0; i++)
		if ((r = print_one(c, &c->recs[i], &b)) == 0)
			r = fileio_write_all(STDOUT_FILENO, b.data, b.len, NULL);
	buf_free(&b);
	if (r < 0)
		fprintf(stderr, "onside-agent: replay --dry-run: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}

/* ---- sending ---- */

static void submit(struct replay_cmd *c)
{
	struct batch *b = c->cur;

	c->cur = NULL;
	if (!b)
		return;
	if (!batch_count(b)) {
		batch_free(b);
		return;
	}
	batch_close(b);
	if (sender_submit(c->sender, b) < 0) {
		batch_free(b); /* its records stay: never sent */
		for (size_t i = 0; i < c->n; i++)
			if (c->recs[i].out == OUT_SENT)
				c->recs[i].out = OUT_WAIT;
		c->stopping = true;
	}
}

/* One record: mapped, and its event into the batch being built. */
static void feed(struct replay_cmd *c, struct rrec *x)
{
	const char *json;
	size_t len;
	int r = replay_map(c->rm, x->r, &json, &len, x->id, x->why, sizeof(x->why));
	struct batch_line bl = { x->r->line, x->r->line_len, x->r->offset, x->r->offset + x->r->line_len + 1, x };

	if (r < 0) {
		snprintf(x->why, sizeof(x->why), "out of memory");
		x->out = OUT_CANNOT;
		return;
	}
	x->out = r == REPLAY_SKIP ? OUT_SKIPPED : r == REPLAY_REJECT ? OUT_REJECTED : r == REPLAY_CANNOT ? OUT_CANNOT
											      : OUT_SENT;
	if (x->out != OUT_SENT)
		return;
	if (!c->cur && !(c->cur = batch_new(c->cfg->batch.max_events, c->cfg->batch.max_bytes))) {
		x->out = OUT_WAIT;
		c->stopping = true;
		return;
	}
	r = batch_add_event(c->cur, json, len, &bl);
	if (r == -E2BIG && batch_count(c->cur)) {
		submit(c);
		if ((c->cur = batch_new(c->cfg->batch.max_events, c->cfg->batch.max_bytes)))
			r = batch_add_event(c->cur, json, len, &bl);
	}
	if (r < 0) {
		x->out = r == -E2BIG ? OUT_REJECTED : OUT_WAIT;
		snprintf(x->why, sizeof(x->why), "event larger than batch.max_bytes (%zu bytes)",
			 (size_t)c->cfg->batch.max_bytes);
		return;
	}
	if (batch_count(c->cur) >= c->cfg->batch.max_events)
		submit(c);
}

static void on_delivered(struct batch *b, void *data)
{
	struct replay_cmd *c = data;

	for (size_t i = 0; i < batch_count(b); i++) {
		struct rrec *x = batch_event_line(b, i).src;

		if (x->out == OUT_SENT)
			x->out = OUT_DELIVERED;
	}
	c->refusals = 0;
	batch_free(b);
}

static int on_rejected(const struct batch *b, size_t i, long status, const char *body, size_t body_len,
		       void *data)
{
	struct rrec *x = batch_event_line(b, i).src;

	(void)data;
	x->out = OUT_REJECTED;
	snprintf(x->why, sizeof(x->why), "rejected by the server (HTTP %ld): %.*s", status,
		 (int)(body_len > 120 ? 120 : body_len), body);
	return 0;
}

static void on_failed(long status, void *data)
{
	struct replay_cmd *c = data;

	if (status != 401 && status != 403 && status != 404 && status != 405) {
		c->refusals = 0;
		return;
	}
	if (++c->refusals >= REFUSALS_GIVE_UP && !c->gave_up) {
		c->gave_up = status;
		c->stopping = true;
	}
}

static void on_signal(struct loop *l, int fd, int events, void *data)
{
	struct replay_cmd *c = data;
	struct signalfd_siginfo si;

	(void)l;
	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		c->stopping = true;
		c->interrupted = true;
	}
}

/* Maps while the sender has room (memory stays bounded however large the file), and ends once every
 * record is resolved, or when stopping and nothing is in flight. */
static void turn(struct loop *l, void *data)
{
	struct replay_cmd *c = data;

	while (!c->stopping && c->next < c->n && sender_pending(c->sender) <= sender_limit(c->sender))
		feed(c, &c->recs[c->next++]);
	if (!c->stopping && c->next == c->n)
		submit(c);
	if (c->stopping ? sender_in_flight(c->sender) == 0 : c->next == c->n && sender_pending(c->sender) == 0)
		loop_stop(l);
	else if (!c->stopping && c->next < c->n && sender_pending(c->sender) <= sender_limit(c->sender))
		loop_dont_wait(l);
}

static int signals(struct replay_cmd *c)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	if ((c->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return -errno;
	return loop_add_fd(c->loop, c->sigfd, LOOP_READ, on_signal, c);
}

static int send_all(struct replay_cmd *c)
{
	const struct config *g = c->cfg;
	struct sender_opts so = {
		.url = g->endpoint.url, .username = g->endpoint.username, .password = g->endpoint.password,
		.ca_file = g->endpoint.ca_file, .proxy = g->endpoint.proxy, .timeout_ms = g->endpoint.timeout_ms,
		.max_in_flight = (unsigned)g->batch.max_in_flight,
		.max_in_flight_ceiling = (unsigned)g->batch.max_in_flight_ceiling,
		.initial_backoff_ms = g->retry.initial_backoff_ms, .max_backoff_ms = g->retry.max_backoff_ms,
	};
	struct sender_cbs cbs = { .delivered = on_delivered, .rejected = on_rejected, .failed = on_failed, .data = c };
	int r;

	c->sigfd = -1;
	if (!(c->loop = loop_new()) || !(c->sender = sender_new(c->loop, &so, &cbs)) || signals(c) < 0) {
		fprintf(stderr, "onside-agent: replay: cannot set up the sender\n");
		return 1;
	}
	loop_set_before_sleep(c->loop, turn, c);
	r = loop_run(c->loop);
	batch_free(c->cur);
	c->cur = NULL;
	sender_free(c->sender); /* batches still queued are not delivered: their records stay */
	c->sender = NULL;
	for (size_t i = 0; i < c->n; i++)
		if (c->recs[i].out == OUT_SENT)
			c->recs[i].out = OUT_WAIT;
	if (c->sigfd >= 0)
		close(c->sigfd);
	loop_free(c->loop);
	return r < 0 ? 1 : 0;
}

/* ---- moving what was done ---- */

static bool moved(const struct rrec *x)
{
	return x->out == OUT_DELIVERED || x->out == OUT_SKIPPED;
}

/* The record as it was, with when it was replayed and what came of it. */
static int replayed_line(struct buf *b, const struct rrec *x, const char *now)
{
	const char *t = x->r->text;
	size_t n = x->r->text_len;

	while (n && t[n - 1] != '}')
		n--;
	if (!n)
		return -EINVAL;
	if (buf_append(b, t, n - 1) || buf_printf(b, ",\"replayed\":\"%s\",\"outcome\":\"%s\"", now,
						   x->out == OUT_DELIVERED ? "delivered" : "skipped"))
		return -ENOMEM;
	if (x->out == OUT_DELIVERED && buf_printf(b, ",\"event_id\":\"%s\"", x->id))
		return -ENOMEM;
	if (x->out == OUT_SKIPPED && (buf_puts(b, ",\"skipped\":") || jsonw_string(b, x->why, strlen(x->why))))
		return -ENOMEM;
	return buf_puts(b, "}\n");
}

static int append_replayed(struct replay_cmd *c, const struct buf *b)
{
	const char *dir = c->cfg->agent.state_dir;
	char path[4096];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, DEADLETTER_REPLAYED);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	r = fileio_write_all(fd, b->data, b->len, NULL);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && (fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(fd) < 0)
			r = -errno;
		close(fd);
	}
	return r;
}

/* A dead-letter file without the records moved out of it, replaced atomically (the rotated file goes
 * once empty). */
static int rewrite(struct replay_cmd *c, unsigned f)
{
	struct dlfile *d = &c->files[f];
	const char *dir = c->cfg->agent.state_dir;
	struct buf b;
	char path[4096];
	size_t k = 0;
	int r = 0;

	buf_init(&b, 0);
	for (size_t i = 0; i < d->n && r == 0; i++) {
		while (k < c->n && (c->recs[k].file < f || (c->recs[k].file == f && c->recs[k].r < &d->v[i])))
			k++;
		if (k < c->n && c->recs[k].r == &d->v[i] && moved(&c->recs[k]))
			continue;
		if (buf_append(&b, d->v[i].text, d->v[i].text_len) || buf_putc(&b, '\n'))
			r = -ENOMEM;
	}
	if (r == 0 && b.len == 0 && f == 0) {
		snprintf(path, sizeof(path), "%s/%s", dir, d->name);
		r = unlink(path) < 0 ? -errno : 0;
	} else if (r == 0) {
		r = fileio_replace(dir, d->name, b.data ? b.data : "", b.len);
	}
	buf_free(&b);
	return r;
}

static int move_done(struct replay_cmd *c)
{
	char now[32];
	time_t t = time(NULL);
	struct tm tm;
	struct buf b;
	int r = 0;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_init(&b, 0);
	for (size_t i = 0; i < c->n && r == 0; i++) {
		if (!moved(&c->recs[i]))
			continue;
		c->files[c->recs[i].file].moved++;
		r = replayed_line(&b, &c->recs[i], now);
	}
	if (r == 0 && b.len)
		r = append_replayed(c, &b);
	for (unsigned f = 0; f < 2 && r == 0; f++)
		if (c->files[f].moved)
			r = rewrite(c, f);
	buf_free(&b);
	if (r < 0)
		fprintf(stderr, "onside-agent: replay: cannot move the replayed records out of %s: %s (the ones in "
			"both files are sent again by a later replay, with the same ids)\n", c->cfg->agent.state_dir,
			strerror(-r));
	return r < 0 ? 1 : 0;
}

/* ---- the report ---- */

struct reason_class {
	char text[320];
	size_t n;
	const struct rrec *first;
};

/* The records of one outcome, by reason without what varies from line to line. */
static void report_kind(const struct replay_cmd *c, enum outcome k, const char *label)
{
	struct reason_class cls[CLASSES_MAX];
	size_t ncls = 0, total = 0, other = 0, j;
	char one[sizeof(cls[0].text)];

	for (size_t i = 0; i < c->n; i++) {
		const struct rrec *x = &c->recs[i];

		if (x->out != k)
			continue;
		total++;
		/* why a record cannot be replayed names its file and input: the same for all of them */
		if (k == OUT_CANNOT)
			snprintf(one, sizeof(one), "%s", x->why);
		else
			notice_class_of(x->why, one, sizeof(one));
		for (j = 0; j < ncls && strcmp(cls[j].text, one); j++)
			;
		if (j == ncls && ncls == CLASSES_MAX) {
			other++;
			continue;
		}
		if (j == ncls) {
			snprintf(cls[j].text, sizeof(cls[j].text), "%s", one);
			cls[j].n = 0;
			cls[j].first = x;
			ncls++;
		}
		cls[j].n++;
	}
	if (!total)
		return;
	printf("  %s: %zu\n", label, total);
	for (j = 0; j < ncls; j++)
		printf("    %s: %zu, first at %s offset %llu\n", cls[j].text, cls[j].n, cls[j].first->r->path,
		       (unsigned long long)cls[j].first->r->offset);
	if (other)
		printf("    (other reasons): %zu\n", other);
}

static void report(const struct replay_cmd *c)
{
	size_t count[OUT_KINDS] = { 0 }, total = c->files[0].n + c->files[1].n;

	for (size_t i = 0; i < c->n; i++)
		count[c->recs[i].out]++;
	printf("replay: %zu record%s in the dead-letter file%s, %zu chosen: %zu delivered, %zu skipped now, %zu still "
	       "rejected, %zu not replayable, %zu not sent\n", total, total == 1 ? "" : "s",
	       c->files[0].n ? "s" : "", c->n, count[OUT_DELIVERED], count[OUT_SKIPPED], count[OUT_REJECTED],
	       count[OUT_CANNOT], count[OUT_WAIT]);
	report_kind(c, OUT_SKIPPED, "skipped now");
	report_kind(c, OUT_REJECTED, "still rejected");
	report_kind(c, OUT_CANNOT, "not replayable");
	if (c->unreadable)
		printf("  not records (left as they are): %zu\n", c->unreadable);
	if (count[OUT_DELIVERED] + count[OUT_SKIPPED])
		printf("moved %zu record%s to %s/%s\n", count[OUT_DELIVERED] + count[OUT_SKIPPED],
		       count[OUT_DELIVERED] + count[OUT_SKIPPED] == 1 ? "" : "s", c->cfg->agent.state_dir,
		       DEADLETTER_REPLAYED);
}

/* ---- the command ---- */

static bool input_known(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ninputs; i++)
		if (!strcmp(cfg->inputs[i].name, name))
			return true;
	return false;
}

static int replay_prepare(struct replay_cmd *c)
{
	char err[512];
	int rc, level = c->cfg->agent.log_level + c->o->verbosity;

	log_set_level(level < LOG_LEVEL_ERROR ? LOG_LEVEL_ERROR : level > LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG : level);
	log_set_format(c->cfg->agent.log_format);
	if (c->o->input && !input_known(c->cfg, c->o->input)) {
		fprintf(stderr, "onside-agent: --input: no input named \"%s\" in %s\n", c->o->input, c->o->config);
		return 2;
	}
	if ((rc = compile_reason(c)) != 0)
		return rc;
	if (replay_mapper_new(c->cfg, &c->rm, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", c->o->config, err);
		return 2;
	}
	/* the lock, before anything is read: no agent appends to the file while it is replayed */
	if (!c->o->dry_run && statedir_claim(c->cfg->agent.state_dir) < 0) {
		fprintf(stderr, "onside-agent: replay needs the state directory to itself: stop the agent first "
			"(systemctl stop onside-agent), or look with --dry-run\n");
		return 1;
	}
	return read_records(c);
}

int cmd_replay(const struct cli_opts *o)
{
	struct replay_cmd c = { .o = o };
	int rc;

	if (cli_load_config(o->config, o->dry_run ? 0 : CONFIG_NEED_CREDENTIALS, false, &c.cfg) != 0)
		return 2;
	rc = replay_prepare(&c);
	if (rc == 0 && o->dry_run) {
		rc = dry_run(&c);
	} else if (rc == 0) {
		rc = c.n ? send_all(&c) : 0;
		if (move_done(&c) != 0)
			rc = 1;
		report(&c);
		if (c.gave_up)
			fprintf(stderr, "onside-agent: replay stopped: the API answered HTTP %ld three times in a row (%s); "
				"nothing was lost: the records not delivered stay\n", c.gave_up, c.gave_up == 401 ||
				c.gave_up == 403 ? "the credentials are refused: check endpoint.username and the password" :
				"wrong URL: check endpoint.url");
		if (c.interrupted)
			fprintf(stderr, "onside-agent: replay interrupted: the records not delivered stay\n");
		if (c.gave_up || c.interrupted)
			rc = 1;
	}
	for (unsigned f = 0; f < 2; f++)
		deadletter_records_free(c.files[f].v, c.files[f].n);
	free(c.recs);
	replay_mapper_free(c.rm);
	pcre2_match_data_free(c.md);
	pcre2_code_free(c.re);
	config_free(c.cfg);
	return rc;
}
