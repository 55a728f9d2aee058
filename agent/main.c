/* onside-agent: follows purchase logs and delivers them to the Onside attribution API. */
#include "cli.h"
#include "log.h"

int main(int argc, char **argv)
{
	struct cli_opts o;
	int r;

	r = cli_parse(argc, argv, &o);
	if (r != 0)
		return r;
	log_init(LOG_LEVEL_INFO);

	switch (o.cmd) {
	case CMD_VERSION:
		return cmd_version();
	case CMD_HELP:
		return cmd_help(&o);
	case CMD_CHECK:
		return cmd_check(&o);
	case CMD_PARSE:
		return cmd_parse(&o);
	case CMD_STATUS:
		return cmd_status(&o);
	case CMD_REPLAY:
		return cmd_replay(&o);
	case CMD_RUN:
		return cmd_run(&o);
	}
	return 2;
}
