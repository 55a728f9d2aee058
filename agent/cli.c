/* Parsing the command line into struct cli_opts (a table of options and the commands that take them)
 * and loading the configuration for a command; the help texts are in cmd_help.c, the commands in
 * cmd_*.c. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define CLI_SAMPLE_MAX 1000000

#define ON(cmd) (1u << (cmd))
#define ALL (ON(CMD_RUN) | ON(CMD_CHECK) | ON(CMD_PARSE) | ON(CMD_STATUS) | ON(CMD_REPLAY))

int cli_command(const char *s, enum cli_command *ret)
{
	static const struct {
		const char *name;
		enum cli_command cmd;
	} cmds[] = {{"run", CMD_RUN},       {"check", CMD_CHECK},   {"parse", CMD_PARSE},
		    {"status", CMD_STATUS}, {"replay", CMD_REPLAY}, {"help", CMD_HELP}};

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

/* ---- options that take a value: each returns 0 or 2 (reported) ---- */

static int set_config(struct cli_opts *o, const char *v) { o->config = v; return 0; }
static int set_input(struct cli_opts *o, const char *v) { o->input = v; return 0; }
static int set_reason(struct cli_opts *o, const char *v) { o->reason = v; return 0; }

static int set_sample(struct cli_opts *o, const char *v)
{
	char *end = NULL;

	errno = 0;
	o->sample = strtoul(v, &end, 10);
	if (errno || !end || *end || v[0] < '1' || v[0] > '9' || o->sample > CLI_SAMPLE_MAX)
		return cli_bad("--sample takes a number of lines from 1 to 1000000, got", v);
	return 0;
}

static int set_max_lag(struct cli_opts *o, const char *v)
{
	if (config_parse_size(v, &o->max_lag) < 0)
		return cli_bad("--max-lag takes a size in bytes (such as 1048576 or 1MiB), got", v);
	o->max_lag_set = true;
	return 0;
}

static int set_max_failing(struct cli_opts *o, const char *v)
{
	if (config_parse_duration(v, &o->max_failing_ms) < 0)
		return cli_bad("--max-failing takes a duration (such as 90s, 10m or 1h), got", v);
	o->max_failing_set = true;
	return 0;
}

/* ---- flags ---- */

static int set_once(struct cli_opts *o, const char *v) { (void)v; o->once = true; return 0; }
static int set_connect(struct cli_opts *o, const char *v) { (void)v; o->connect = true; return 0; }
static int set_dry_run(struct cli_opts *o, const char *v) { (void)v; o->dry_run = true; return 0; }

static const struct cli_opt {
	const char *name;
	const char *alias; /* a short form, or NULL */
	unsigned cmds;     /* ON(command) of the commands that take it */
	bool value;        /* "--opt VALUE" or "--opt=VALUE" */
	int (*set)(struct cli_opts *o, const char *v);
} cli_opts_table[] = {
	{"--config", "-c", ALL, true, set_config},
	{"--once", NULL, ON(CMD_RUN), false, set_once},
	{"--sample", NULL, ON(CMD_CHECK), true, set_sample},
	{"--connect", NULL, ON(CMD_CHECK), false, set_connect},
	{"--max-lag", NULL, ON(CMD_STATUS), true, set_max_lag},
	{"--max-failing", NULL, ON(CMD_STATUS), true, set_max_failing},
	{"--input", NULL, ON(CMD_PARSE) | ON(CMD_REPLAY), true, set_input},
	{"--reason", NULL, ON(CMD_REPLAY), true, set_reason},
	{"--dry-run", NULL, ON(CMD_REPLAY), false, set_dry_run},
};

/* a is "--opt", "--opt=VALUE" (exactly: never a mere prefix such as "--optional") or the short form. */
static const struct cli_opt *cli_find(const char *a, enum cli_command cmd, const char **ret_inline)
{
	for (size_t i = 0; i < sizeof(cli_opts_table) / sizeof(cli_opts_table[0]); i++) {
		const struct cli_opt *op = &cli_opts_table[i];
		size_t n = strlen(op->name);

		/* --version takes whatever else is on the line (a -c): it needs none of it */
		if (!(op->cmds & ON(cmd)) && cmd != CMD_VERSION)
			continue;
		*ret_inline = NULL;
		if (op->alias && strcmp(a, op->alias) == 0)
			return op;
		if (strncmp(a, op->name, n) == 0 && (a[n] == '\0' || (a[n] == '=' && op->value))) {
			*ret_inline = a[n] == '=' ? a + n + 1 : NULL;
			return op;
		}
	}
	return NULL;
}

/* -v, -vv, -vvv, -q, -qq, --verbose, --quiet: how much they move the level, or 0 when a is none. */
static int cli_verbosity(const char *a)
{
	size_t n = strlen(a);

	if (strcmp(a, "--verbose") == 0)
		return 1;
	if (strcmp(a, "--quiet") == 0)
		return -1;
	if (n < 2 || a[0] != '-' || (a[1] != 'v' && a[1] != 'q') || strspn(a + 1, a[1] == 'v' ? "v" : "q") != n - 1)
		return 0;
	return a[1] == 'v' ? (int)(n - 1) : -(int)(n - 1);
}

/* A word that is not an option: parse's PATH, help's COMMAND. */
static int cli_positional(struct cli_opts *o, const char *a)
{
	enum cli_command c;

	if (o->cmd == CMD_PARSE && !o->path && (a[0] != '-' || a[1] == '\0')) {
		o->path = a;
		return 0;
	}
	if (o->cmd == CMD_HELP && !o->topic && a[0] != '-') {
		if (cli_command(a, &c) < 0)
			return cli_bad("no such command", a);
		o->topic = a;
		return 0;
	}
	return cli_bad(a[0] == '-' ? "unknown option" : "unexpected argument", a);
}

static int cli_one(struct cli_opts *o, int argc, char **argv, int *i, bool *ret_help)
{
	const char *a = argv[*i], *v;
	const struct cli_opt *op;
	int dv;

	if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
		o->cmd = CMD_VERSION;
	} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
		*ret_help = true;
	} else if ((dv = cli_verbosity(a)) != 0) {
		o->verbosity += dv;
	} else if ((op = cli_find(a, o->cmd, &v))) {
		if (op->value && !v) {
			if (*i + 1 >= argc)
				return cli_bad("missing value for", a);
			v = argv[++*i];
		}
		return op->set(o, v);
	} else {
		return cli_positional(o, a);
	}
	return 0;
}

int cli_parse(int argc, char **argv, struct cli_opts *ret)
{
	struct cli_opts o = {.cmd = CMD_RUN, .config = CONFIG_DEFAULT_PATH};
	bool help = false, named = false;
	int i = 1, r;

	if (i < argc && argv[i][0] != '-' && cli_command(argv[i], &o.cmd) == 0) {
		named = true;
		i++;
	}
	for (; i < argc; i++)
		if ((r = cli_one(&o, argc, argv, &i, &help)) != 0)
			return r;
	if (help && o.cmd != CMD_VERSION) {
		/* COMMAND --help is help COMMAND (help --help too) */
		if (named && !o.topic)
			o.topic = argv[1];
		o.cmd = CMD_HELP;
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
