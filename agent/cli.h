/* Command line (SPEC.md "Command line") and the commands behind it. */
#ifndef ONSIDE_CLI_H
#define ONSIDE_CLI_H

#include <stdbool.h>
#include <stdint.h>

enum cli_command { CMD_RUN, CMD_CHECK, CMD_PARSE, CMD_STATUS, CMD_VERSION, CMD_HELP };

struct cli_opts {
	enum cli_command cmd;
	const char *config; /* -c, default CONFIG_DEFAULT_PATH */
	bool once;          /* run --once */
	int verbosity;      /* -v: +1, -q: -1 */
	const char *input;  /* parse --input NAME */
	const char *path;   /* parse PATH ("-" or NULL: stdin) */
	unsigned long sample; /* check --sample N: lines per file (0: no sample) */
	bool max_lag_set;     /* status --max-lag BYTES */
	uint64_t max_lag;
	bool max_failing_set; /* status --max-failing DURATION */
	uint64_t max_failing_ms;
};

/* Returns 0, or 2 (bad usage, message printed on stderr). */
int cli_parse(int argc, char **argv, struct cli_opts *ret);
void cli_usage(void *stream);

/* Each returns the process exit code: 0 success, 1 runtime failure, 2 usage or configuration. */
int cmd_check(const struct cli_opts *o);
int cmd_parse(const struct cli_opts *o);
int cmd_status(const struct cli_opts *o);
int cmd_run(const struct cli_opts *o);

/* Loads the configuration for a command, printing diagnostics as FILE:LINE:COLUMN: message on stderr.
 * Returns 0 with *ret set, or 2. */
struct config;
int cli_load_config(const char *path, int flags, bool print_warnings, struct config **ret);

#endif
