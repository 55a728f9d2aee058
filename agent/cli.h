/* Command line (docs/reference.md, "Commands") and the commands behind it. */
#ifndef ONSIDE_CLI_H
#define ONSIDE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cli_command { CMD_RUN, CMD_CHECK, CMD_PARSE, CMD_STATUS, CMD_REPLAY, CMD_VERSION, CMD_HELP };

struct cli_opts {
	enum cli_command cmd;
	const char *topic;  /* help COMMAND, COMMAND --help: the command (NULL: all of them) */
	const char *config; /* -c, default CONFIG_DEFAULT_PATH */
	bool once;          /* run --once */
	int verbosity;      /* -v: +1, -q: -1 (-vv: +2) */
	const char *input;  /* parse, replay --input NAME */
	const char *path;   /* parse PATH ("-" or NULL: stdin) */
	bool connect;       /* check --connect */
	const char *reason; /* replay --reason REGEX */
	bool dry_run;       /* replay --dry-run */
	unsigned long sample; /* check --sample N: lines per file (0: no sample) */
	bool max_lag_set;     /* status --max-lag BYTES */
	uint64_t max_lag;
	bool max_failing_set; /* status --max-failing DURATION */
	uint64_t max_failing_ms;
};

/* Returns 0, or 2 (bad usage, message printed on stderr). */
int cli_parse(int argc, char **argv, struct cli_opts *ret);
/* The command named s (run, check, parse, status, replay, help), or -EINVAL. */
int cli_command(const char *s, enum cli_command *ret);

/* Each returns the process exit code: 0 success, 1 runtime failure, 2 usage or configuration. */
int cmd_check(const struct cli_opts *o);
int cmd_parse(const struct cli_opts *o);
int cmd_status(const struct cli_opts *o);
int cmd_run(const struct cli_opts *o);
int cmd_replay(const struct cli_opts *o);
/* --version (and help) */
int cmd_version(void);
int cmd_help(const struct cli_opts *o);
/* check --connect: the endpoint, probed (cmd_connect.c); cfg is valid. */
struct config;
int cmd_connect(const struct config *cfg);
/* check: what the configuration points at, tried as the user the packaged service runs as
 * (cmd_access.c). Returns how many errors were reported (each on stderr; warnings too), 0 when none;
 * who is that user ("user onside-agent"), or "" when the tries ran as this process's user. */
int cmd_check_access(const struct config *cfg, char *ret_who, size_t wholen);

/* Loads the configuration for a command, printing diagnostics as FILE:LINE:COLUMN: message on stderr.
 * Returns 0 with *ret set, or 2. */
int cli_load_config(const char *path, int flags, bool print_warnings, struct config **ret);

#endif
