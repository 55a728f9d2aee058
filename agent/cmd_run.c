/* `onside-agent run`: load the configuration, build the agent, run it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cli.h"
#include "config.h"
#include "log.h"

/* The test knobs, read here and nowhere else; none is set in production.
 * ONSIDE_TEST_MAP_THREADS=N: N mapping threads whatever the machine has (0 to 8);
 * ONSIDE_TEST_IDLE_CLOSE_MS=N: close idle descriptors after N ms instead of 5 minutes;
 * ONSIDE_TEST_NO_INOTIFY=1: poll every path, as where inotify is not available. */
static void cmd_run_test_knobs(struct agent_opts *o)
{
	const char *threads = getenv("ONSIDE_TEST_MAP_THREADS"), *idle = getenv("ONSIDE_TEST_IDLE_CLOSE_MS");
	const char *poll = getenv("ONSIDE_TEST_NO_INOTIFY");

	if (threads && *threads >= '0' && *threads <= '8' && !threads[1])
		o->map_threads = *threads - '0';
	if (idle && *idle)
		o->tail.idle_close_ms = strtoull(idle, NULL, 10);
	o->tail.no_inotify = poll && strcmp(poll, "1") == 0;
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
	cmd_run_test_knobs(&ao);
	if (agent_new(cfg, o->config, &ao, &a) < 0)
		return 1;
	rc = agent_run(a);
	agent_free(a);
	return rc;
}
