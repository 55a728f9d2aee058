/* Signals and reload (see agent_int.h): TERM and INT stop after the requests in flight, HUP reloads
 * the configuration, USR1 logs a summary. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent_int.h"
#include "log.h"
#include "mapjob.h"
#include "tail.h"
#include "trouble.h"

/* ---- signals and reload ---- */

void agent_sender_opts(const struct config *c, struct sender_opts *o)
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

unsigned agent_threads(const struct agent *a);

/* Retired configurations stay alive while files of removed inputs still point into them. */
void agent_drop_old_configs(struct agent *a, bool all)
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
	if (mapjob_new(c, a->threads, &job, err, sizeof(err)) < 0) {
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
			a->want_stop = true; /* the turn stops the agent */
			break;
		case SIGHUP:
			agent_reload(a);
			break;
		case SIGUSR1:
			a->want_summary = true;
			break;
		}
	}
}

int agent_signals(struct agent *a)
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
