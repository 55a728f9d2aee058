/* `onside-agent run`: load and validate the configuration, build the agent, run it. A configuration
 * that cannot work exits 2 before anything starts, in the main process: systemd applies
 * RestartPreventExitStatus=2 to the main process only, so this is what keeps the unit from restarting
 * a bad configuration in a loop (an ExecStartPre's failure would be restarted). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"
#include "cabundle.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "map.h"
#include "proxy.h"

/* What `check` validates beyond loading: every input's parser, match regexes and templates build. */
static int run_validate(const struct config *cfg, const char *path)
{
	char err[512];
	int bad = 0;

	for (size_t i = 0; i < cfg->ninputs; i++) {
		struct mapper *m = NULL;

		if (mapper_create(&cfg->inputs[i], cfg->agent.id_namespace, &m, err, sizeof(err)) < 0) {
			log_errorx("config", "%s: input %s: %s", path, cfg->inputs[i].name, err);
			bad = 1;
		}
		mapper_free(m);
	}
	return bad ? -EINVAL : 0;
}

/* Which CA certificates verify the endpoint: logged once at start (reloads choose again). */
static void run_log_ca(const struct config *cfg)
{
	struct cabundle b;
	char what[PATH_MAX + 128];
	int r;

	if (strncasecmp(cfg->endpoint.url, "https://", 8) != 0)
		return;
	r = cabundle_find(cfg->endpoint.ca_file, cabundle_places, &b);
	cabundle_describe(&b, what, sizeof(what));
	if (r < 0)
		log_errorx("tls", "CA certificates %s: every TLS request will fail", what);
	else
		log_info("tls", "CA certificates %s", what);
}

/* The proxy requests go through, when there is one: named at start, never with its credentials. */
static void run_log_proxy(const struct config *cfg)
{
	char what[512], from[256];

	if (proxy_describe(cfg->endpoint.url, cfg->endpoint.proxy, what, sizeof(what), from, sizeof(from)) == 1)
		log_info("agent", "proxy %s (%s)", what, from);
}

/* The test knobs, read here and nowhere else; none is set in production.
 * ONSIDE_TEST_MAP_THREADS=N: N mapping threads whatever the machine has (0 to 8);
 * ONSIDE_TEST_IDLE_CLOSE_MS=N: close idle descriptors after N ms instead of 5 minutes;
 * ONSIDE_TEST_NO_INOTIFY=1: poll every path, as where inotify is not available;
 * ONSIDE_TEST_INOTIFY_QUEUE=N: a read of more than N inotify events is handled as a queue overflow
 *   (as with fs.inotify.max_queued_events N: the rest is lost, every file is looked at again);
 * ONSIDE_TEST_MAX_ROTATED=N: keep at most N rotated files open instead of 128. */
static void cmd_run_test_knobs(struct agent_opts *o)
{
	const char *threads = getenv("ONSIDE_TEST_MAP_THREADS"), *idle = getenv("ONSIDE_TEST_IDLE_CLOSE_MS");
	const char *poll = getenv("ONSIDE_TEST_NO_INOTIFY"), *queue = getenv("ONSIDE_TEST_INOTIFY_QUEUE");
	const char *rotated = getenv("ONSIDE_TEST_MAX_ROTATED");

	if (threads && *threads >= '0' && *threads <= '8' && !threads[1])
		o->map_threads = *threads - '0';
	if (idle && *idle)
		o->tail.idle_close_ms = strtoull(idle, NULL, 10);
	o->tail.no_inotify = poll && strcmp(poll, "1") == 0;
	if (queue && *queue)
		o->tail.inotify_queue = (unsigned)strtoul(queue, NULL, 10);
	if (rotated && *rotated)
		o->tail.max_rotated = (unsigned)strtoul(rotated, NULL, 10);
}

int cmd_run(const struct cli_opts *o)
{
	struct agent_opts ao = {.once = o->once, .map_threads = -1};
	struct config *cfg = NULL;
	struct agent *a = NULL;
	int level, rc;

	if (cli_load_config(o->config, CONFIG_NEED_CREDENTIALS, false, &cfg) != 0)
		return 2;
	level = cfg->agent.log_level + o->verbosity;
	log_set_level(level < LOG_LEVEL_ERROR ? LOG_LEVEL_ERROR : level > LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG : level);
	log_set_format(cfg->agent.log_format);
	if (run_validate(cfg, o->config) < 0) {
		log_errorx("config", "%s: invalid configuration; not starting", o->config);
		config_free(cfg);
		return 2;
	}
	run_log_ca(cfg);
	run_log_proxy(cfg);
	cmd_run_test_knobs(&ao);
	if (agent_new(cfg, o->config, &ao, &a) < 0)
		return 1;
	rc = agent_run(a);
	agent_free(a);
	return rc;
}
