/* `onside-agent status`: each tracked file from the checkpoint with its offset, current size, lag,
 * last delivery and last error. Reads only (takes no lock, moves nothing aside) and reads the
 * checkpoint through the agent's own loader checks (checkpoint_read_each), so what it shows is what
 * `run` would use; a damaged entry is shown as such. Exit 0 when healthy, 1 when a file lags behind
 * without a recent delivery, reports an error, or the checkpoint is missing or damaged. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "checkpoint.h"
#include "cli.h"
#include "config.h"
#include "status_table.h"

struct status_ctx {
	struct buf rows;
	time_t now;
	int unhealthy;
};

static int status_entry(void *data, size_t idx, const struct checkpoint_entry *e, const char *damage)
{
	struct status_ctx *c = data;
	struct stat st;
	int r;

	r = status_table_row(&c->rows, e, damage, !damage && stat(e->path, &st) == 0 ? &st : NULL, c->now);
	if (r < 0)
		return r;
	c->unhealthy |= r;
	return 0;
}

int cmd_status(const struct cli_opts *o)
{
	struct status_ctx c = { .now = time(NULL) };
	struct config *cfg = NULL;
	struct buf head;
	char err[4096 + 512];
	int r;

	if (cli_load_config(o->config, 0, false, &cfg) != 0)
		return 2;
	buf_init(&c.rows, 0);
	buf_init(&head, 0);
	r = checkpoint_read_each(cfg->agent.state_dir, status_entry, &c, err, sizeof(err));
	if (r == -ENOENT)
		fprintf(stderr, "onside-agent: no readable checkpoint at %s/%s (has the agent run yet?)\n",
			cfg->agent.state_dir, CHECKPOINT_FILE);
	else if (r == -EBADMSG)
		fprintf(stderr, "onside-agent: %s; the agent will move it aside and start over from start_at\n", err);
	else if (r < 0)
		fprintf(stderr, "onside-agent: %s\n", err);
	else if (status_table_header(&head) == 0) {
		fwrite(head.data, 1, head.len, stdout);
		fwrite(c.rows.data ? c.rows.data : "", 1, c.rows.len, stdout);
	}
	config_free(cfg);
	buf_free(&head);
	buf_free(&c.rows);
	return r < 0 || c.unhealthy ? 1 : 0;
}
