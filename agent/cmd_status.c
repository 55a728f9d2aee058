/* `onside-agent status`: each tracked file from the checkpoint with its offset, current size, lag,
 * last delivery and last error. Reads only; exit 0 when healthy, 1 when a file lags behind without a
 * recent delivery or reports an error. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "cli.h"
#include "config.h"

#define STATUS_STALE_SECS 300

static int64_t status_int(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *status_str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) : "";
}

static void status_when(char *out, size_t n, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0) {
		snprintf(out, n, "never");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One row; returns 1 when this file is unhealthy. */
static int status_row(json_object *e, time_t now)
{
	const char *path = status_str(e, "path"), *err = status_str(e, "last_error");
	int64_t off = status_int(e, "offset"), size = status_int(e, "size"), last = status_int(e, "last_delivery");
	struct stat st;
	char when[32];
	const char *note = "";

	if (stat(path, &st) == 0 && (uint64_t)st.st_ino == (uint64_t)status_int(e, "ino"))
		size = (int64_t)st.st_size;
	else
		note = " (rotated)";
	status_when(when, sizeof(when), last);
	printf("%-40s %12lld %12lld %10lld  %-20s  %s%s\n", path, (long long)off, (long long)size,
	       (long long)(size > off ? size - off : 0), when, err[0] ? err : "-", note);
	return (size > off && (last <= 0 || now - last > STATUS_STALE_SECS)) || err[0];
}

int cmd_status(const struct cli_opts *o)
{
	struct config *cfg = NULL;
	char path[4096];
	json_object *root, *files;
	int bad = 0;
	time_t now = time(NULL);

	if (cli_load_config(o->config, 0, false, &cfg) != 0)
		return 2;
	snprintf(path, sizeof(path), "%s/%s", cfg->agent.state_dir, CHECKPOINT_FILE);
	config_free(cfg);
	root = json_object_from_file(path);
	if (!root) {
		fprintf(stderr, "onside-agent: no readable checkpoint at %s (has the agent run yet?)\n", path);
		return 1;
	}
	if (!json_object_object_get_ex(root, "files", &files) || !json_object_is_type(files, json_type_array)) {
		fprintf(stderr, "onside-agent: %s is damaged (no files array)\n", path);
		json_object_put(root);
		return 1;
	}
	printf("%-40s %12s %12s %10s  %-20s  %s\n", "PATH", "OFFSET", "SIZE", "LAG", "LAST DELIVERY",
	       "LAST ERROR");
	for (size_t i = 0; i < json_object_array_length(files); i++)
		bad |= status_row(json_object_array_get_idx(files, i), now);
	json_object_put(root);
	return bad ? 1 : 0;
}
