/* `onside-agent check`: validates the configuration (and that every input's parser, plugin, match
 * regexes and templates can be built) without starting anything. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "map.h"
#include "statedir.h"

int cmd_check(const struct cli_opts *o)
{
	struct config *cfg = NULL;
	char err[512];
	int bad = 0;

	if (cli_load_config(o->config, CONFIG_NEED_CREDENTIALS, true, &cfg) != 0)
		return 2;
	for (size_t i = 0; i < cfg->ninputs; i++) {
		struct mapper *m = NULL;

		if (mapper_create(&cfg->inputs[i], cfg->agent.id_namespace, &m, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: input %s: %s\n", o->config, cfg->inputs[i].name, err);
			bad = 1;
		}
		mapper_free(m);
	}
	if (statedir_check(cfg->agent.state_dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: agent.state_dir: %s\n", o->config, err);
		bad = 1;
	}
	if (!bad)
		printf("%s: valid: %zu input%s, endpoint %s\n", o->config, cfg->ninputs,
		       cfg->ninputs == 1 ? "" : "s", cfg->endpoint.url);
	config_free(cfg);
	return bad ? 2 : 0;
}
