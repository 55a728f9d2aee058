/* Parsing the command line into struct cli_opts and loading the configuration for a command, with the
 * usage text; the commands themselves are in cmd_*.c. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define CLI_SAMPLE_MAX 1000000

void cli_usage(void *stream)
{
	fputs("usage:\n"
	      "  onside-agent [run] [-c FILE] [--once] [-v|-q]   follow the inputs and deliver\n"
	      "  onside-agent check [-c FILE] [--sample N]       validate the configuration; with --sample,\n"
	      "                                                  also map the last N lines of each input's\n"
	      "                                                  files and report what they become\n"
	      "  onside-agent parse [-c FILE] [--input NAME] [PATH|-]\n"
	      "                                                  print the events lines become (PATH is one\n"
	      "                                                  file; on stdin the first line read is the\n"
	      "                                                  file's first line: a csv header)\n"
	      "  onside-agent status [-c FILE] [--max-lag BYTES] [--max-failing DURATION]\n"
	      "                                                  show what the agent does (or, when it does\n"
	      "                                                  not run, each tracked file); exit 1 when\n"
	      "                                                  unhealthy or past a limit\n"
	      "  onside-agent --version | --help\n"
	      "\n-c defaults to " CONFIG_DEFAULT_PATH "\n",
	      stream);
}

static int cli_command(const char *s, enum cli_command *ret)
{
	static const struct {
		const char *name;
		enum cli_command cmd;
	} cmds[] = {{"run", CMD_RUN}, {"check", CMD_CHECK}, {"parse", CMD_PARSE}, {"status", CMD_STATUS}};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(s, cmds[i].name) == 0) {
			*ret = cmds[i].cmd;
			return 0;
		}
	}
	return -EINVAL;
}

static int cli_bad(const char *msg, const char *arg)
{
	fprintf(stderr, "onside-agent: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	fputs("try 'onside-agent --help'\n", stderr);
	return 2;
}

/* "--opt" or "--opt=VALUE" exactly (never a mere prefix such as "--optional"). */
static bool cli_is(const char *a, const char *name)
{
	size_t n = strlen(name);

	return strncmp(a, name, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

/* Options that take a value accept "--opt VALUE" and "--opt=VALUE". */
static const char *cli_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

int cli_parse(int argc, char **argv, struct cli_opts *ret)
{
	struct cli_opts o = {.cmd = CMD_RUN, .config = CONFIG_DEFAULT_PATH};
	int i = 1;

	if (i < argc && argv[i][0] != '-' && cli_command(argv[i], &o.cmd) == 0)
		i++;
	for (; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			o.cmd = CMD_VERSION;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			o.cmd = CMD_HELP;
		} else if (strcmp(a, "-c") == 0 || cli_is(a, "--config")) {
			if (!(o.config = cli_value(argc, argv, &i, a[1] == 'c' ? "-c" : "--config")))
				return cli_bad("missing value for", a);
		} else if (strcmp(a, "--once") == 0 && o.cmd == CMD_RUN) {
			o.once = true;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o.verbosity++;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			o.verbosity--;
		} else if (cli_is(a, "--sample") && o.cmd == CMD_CHECK) {
			const char *v = cli_value(argc, argv, &i, "--sample");
			char *end = NULL;

			if (!v)
				return cli_bad("missing value for", a);
			errno = 0;
			o.sample = strtoul(v, &end, 10);
			if (errno || !end || *end || v[0] < '1' || v[0] > '9' || o.sample > CLI_SAMPLE_MAX)
				return cli_bad("--sample takes a number of lines from 1 to 1000000, got", v);
		} else if (cli_is(a, "--max-lag") && o.cmd == CMD_STATUS) {
			const char *v = cli_value(argc, argv, &i, "--max-lag");

			if (!v)
				return cli_bad("missing value for", a);
			if (config_parse_size(v, &o.max_lag) < 0)
				return cli_bad("--max-lag takes a size in bytes (such as 1048576 or 1MiB), got", v);
			o.max_lag_set = true;
		} else if (cli_is(a, "--max-failing") && o.cmd == CMD_STATUS) {
			const char *v = cli_value(argc, argv, &i, "--max-failing");

			if (!v)
				return cli_bad("missing value for", a);
			if (config_parse_duration(v, &o.max_failing_ms) < 0)
				return cli_bad("--max-failing takes a duration (such as 90s, 10m or 1h), got", v);
			o.max_failing_set = true;
		} else if (cli_is(a, "--input") && o.cmd == CMD_PARSE) {
			if (!(o.input = cli_value(argc, argv, &i, "--input")))
				return cli_bad("missing value for", a);
		} else if (o.cmd == CMD_PARSE && !o.path && (a[0] != '-' || a[1] == '\0')) {
			o.path = a;
		} else {
			return cli_bad(a[0] == '-' ? "unknown option" : "unexpected argument", a);
		}
	}
	*ret = o;
	return 0;
}

int cli_load_config(const char *path, int flags, bool print_warnings, struct config **ret)
{
	struct config_diag d = {0};
	struct config *c = NULL;
	int r;

	r = config_load(path, flags, &c, &d);
	for (size_t i = 0; i < d.nerrors; i++)
		fprintf(stderr, "%s\n", d.errors[i]);
	if (print_warnings || r < 0) {
		for (size_t i = 0; i < d.nwarnings; i++)
			fprintf(stderr, "%s\n", d.warnings[i]);
	}
	config_diag_free(&d);
	if (r < 0)
		return 2;
	*ret = c;
	return 0;
}
