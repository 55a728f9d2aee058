/* `onside-agent run`: load the configuration, build the agent, run it. */
#include <errno.h>
#include <string.h>

#include "agent.h"
#include "cli.h"
#include "config.h"
#include "log.h"

int cmd_run(const struct cli_opts *o)
{
	struct config *cfg = NULL;
	struct agent *a = NULL;
	int level, rc;

	if (cli_load_config(o->config, CONFIG_NEED_CREDENTIALS, false, &cfg) != 0)
		return 2;
	level = cfg->agent.log_level + o->verbosity;
	log_set_level(level < LOG_LEVEL_ERROR ? LOG_LEVEL_ERROR : level > LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG : level);
	if (agent_new(cfg, o->config, o->once, &a) < 0)
		return 1;
	rc = agent_run(a);
	agent_free(a);
	return rc;
}
