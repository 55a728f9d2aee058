/* `onside-agent check`: validates the configuration (and that every input's parser, plugin, match
 * regexes and templates can be built) without starting anything. */
#include <stdio.h>
#include <string.h>

#include "cabundle.h"
#include "cli.h"
#include "config.h"
#include "map.h"

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
	if (!bad) {
		char ca[PATH_MAX + 128];

		(void)cabundle_summary(cfg->endpoint.url, cfg->endpoint.ca_file, ca, sizeof(ca));
		printf("%s: valid: %zu input%s, endpoint %s%s\n", o->config, cfg->ninputs,
		       cfg->ninputs == 1 ? "" : "s", cfg->endpoint.url, ca);
	}
	config_free(cfg);
	return bad ? 2 : 0;
}
