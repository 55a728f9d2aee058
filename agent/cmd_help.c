/* `onside-agent help [COMMAND]` (also `COMMAND --help` and `--help`) and `--version`: the usage of
 * every command, one command's options, and the version with the build and the libraries the binary
 * runs with (which a bug report needs: the portable build carries its own, a native one the
 * system's). */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <yaml.h>
#include <zlib.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "buildinfo.h"
#include "cli.h"
#include "config.h"

static const char usage[] =
	"usage:\n"
	"  onside-agent [run] [-c FILE] [--once] [-v|-q]   follow the inputs and deliver\n"
	"  onside-agent check [-c FILE] [--sample N] [--connect]\n"
	"                                                  validate the configuration; --sample maps the\n"
	"                                                  last N lines of each input's files, --connect\n"
	"                                                  probes the endpoint (DNS, TLS, credentials, URL)\n"
	"  onside-agent parse [-c FILE] [--input NAME] [PATH|-]\n"
	"                                                  print the events lines become (sends nothing)\n"
	"  onside-agent status [-c FILE] [--max-lag BYTES] [--max-failing DURATION]\n"
	"                                                  what the agent does; exit 1 when unhealthy\n"
	"  onside-agent replay [-c FILE] [--input NAME] [--reason REGEX] [--dry-run]\n"
	"                                                  re-feed dead-lettered lines through the current\n"
	"                                                  configuration\n"
	"  onside-agent help [COMMAND] | --version | --help\n"
	"\n-c defaults to " CONFIG_DEFAULT_PATH "; `onside-agent help COMMAND` tells more; see onside-agent(8).\n";

static const struct {
	const char *name;
	const char *text;
} topics[] = {
	{"run",
	 "usage: onside-agent [run] [-c FILE] [--once] [-v|-vv|-q]\n"
	 "\n"
	 "Follow the inputs and deliver their events until SIGTERM or SIGINT (SIGHUP reloads the\n"
	 "configuration, SIGUSR1 logs the counters).\n"
	 "\n"
	 "  -c, --config FILE  the configuration (default " CONFIG_DEFAULT_PATH ")\n"
	 "  --once             deliver what the files hold now, write the checkpoint, exit; exit 1 after\n"
	 "                     three answers in a row that waiting will not change (401, 403, 404, 405)\n"
	 "  -v, -vv            log one (two) levels more than agent.log_level (-vv: debug, with a line\n"
	 "                     per request)\n"
	 "  -q                 log one level less\n"
	 "\n"
	 "Logs go to standard error (agent.log_format: text or json; under systemd with priorities).\n"},
	{"check",
	 "usage: onside-agent check [-c FILE] [--sample N] [--connect]\n"
	 "\n"
	 "Validate the configuration and what it points at: every problem as FILE:LINE:COLUMN: message\n"
	 "and exit 2, else one summary line and exit 0. Run as root, it also checks that the state\n"
	 "directory is writable and each matched file readable by the user the service runs as\n"
	 "(onside-agent, when it exists).\n"
	 "\n"
	 "  --sample N   also map the last N lines of each input's files, as run would, and report what\n"
	 "               they become and the fields the templates name that no line has\n"
	 "  --connect    also probe the endpoint: resolve its name, connect (through the proxy in use),\n"
	 "               verify TLS, and POST {\"events\":[]} with the credentials; exit 1 unless the\n"
	 "               answer shows the URL and the credentials are right\n"},
	{"parse",
	 "usage: onside-agent parse [-c FILE] [--input NAME] [PATH|-]\n"
	 "\n"
	 "Run an input's parser and mapping on the lines of PATH (or standard input) and print one JSON\n"
	 "object per line: the event as it would be sent, {\"rejected\": REASON, \"line\": ...} or\n"
	 "{\"skipped\": REASON, \"line\": ...}. Sends nothing, touches no state, needs no credentials. The\n"
	 "first line read is the file's first line (for the ids and a CSV header).\n"
	 "\n"
	 "  --input NAME   the input whose parser and mapping to use (default: the first)\n"},
	{"status",
	 "usage: onside-agent status [-c FILE] [--max-lag BYTES] [--max-failing DURATION]\n"
	 "\n"
	 "Show what the running agent knows (delivery, each file's offset, size, lag, oldest line waiting,\n"
	 "last error), or, when none runs, each file of the checkpoint. Exit 1 when unhealthy.\n"
	 "\n"
	 "  --max-lag BYTES         exit 1 when a file lags more (1048576, 10MiB)\n"
	 "  --max-failing DURATION  exit 1 when delivery has been failing longer (90s, 15m, 1h)\n"},
	{"replay",
	 "usage: onside-agent replay [-c FILE] [--input NAME] [--reason REGEX] [--dry-run]\n"
	 "\n"
	 "Re-feed the lines of the dead-letter file through the current configuration, with their input,\n"
	 "file and offset, so that each event gets the id the line would have had, and send them. Records\n"
	 "delivered move to dead-letter.replayed.jsonl; the others stay. Refuses to run while an agent\n"
	 "holds the state directory (stop it first, or use --dry-run).\n"
	 "\n"
	 "  --input NAME    only records of this input\n"
	 "  --reason REGEX  only records whose reason matches (PCRE2), e.g. 'missing field'\n"
	 "  --dry-run       print what would be sent, one JSON object per record (as parse does); send\n"
	 "                  nothing, change nothing\n"},
	{"help",
	 "usage: onside-agent help [COMMAND]\n"
	 "\n"
	 "Every command's usage, or one command's options (also: onside-agent COMMAND --help).\n"},
};

int cmd_help(const struct cli_opts *o)
{
	for (size_t i = 0; o->topic && i < sizeof(topics) / sizeof(topics[0]); i++) {
		if (strcmp(o->topic, topics[i].name) == 0) {
			fputs(topics[i].text, stdout);
			return 0;
		}
	}
	fputs(usage, stdout);
	return 0;
}

/* "OpenSSL 3.0.11 19 Sep 2023" -> "3.0.11" */
static void word(const char *s, int nth, char *out, size_t len)
{
	for (int i = 0; i < nth && s; i++)
		s = strchr(s, ' ') ? strchr(s, ' ') + 1 : NULL;
	snprintf(out, len, "%.*s", s ? (int)strcspn(s, " ") : 0, s ? s : "");
}

int cmd_version(void)
{
	const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
	char pcre[64] = "", pcre_v[32], ssl[32];

	if (pcre2_config(PCRE2_CONFIG_VERSION, pcre) < 0)
		pcre[0] = '\0';
	word(pcre, 0, pcre_v, sizeof(pcre_v));
	word(OpenSSL_version(OPENSSL_VERSION), 1, ssl, sizeof(ssl));
	printf("onside-agent %s\n", ONSIDE_VERSION);
	printf("commit %s, built %s\n", ONSIDE_COMMIT, ONSIDE_BUILD_DATE);
	printf("libcurl %s (%s), OpenSSL %s, json-c %s, libyaml %s, PCRE2 %s, zlib %s\n", curl->version,
	       curl->ssl_version ? curl->ssl_version : "no TLS", ssl, json_c_version(), yaml_get_version_string(),
	       pcre_v, zlibVersion());
	return 0;
}
