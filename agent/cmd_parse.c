/* `onside-agent parse`: runs an input's parser and mapping over lines and prints, per line, the event
 * as it would be sent or {"rejected": REASON, "line": ...}. Never sends, never touches the state.
 * The input is one file: its first line is what `run` would take as the file's first line, for the
 * ids and for a parser that reads a header (on standard input, the first line read). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "eventid.h"
#include "fileio.h"
#include "jsonw.h"
#include "lines.h"
#include "map.h"

#define PARSE_CHUNK (1u << 20)

struct parse_ctx {
	const struct config *cfg;
	const struct config_input *in;
	struct mapper *m;
	struct eventid_file *idf;
	struct buf out;
	struct buf head; /* the first EVENTID_FINGERPRINT_MAX bytes of the input */
	struct buf first; /* the first line, as lines are handed out */
	bool have_first;
	char reason[512];
	int fd_out;
};

static int parse_write_out(struct parse_ctx *p, int force)
{
	int r;

	if (!force && p->out.len < PARSE_CHUNK)
		return 0;
	if ((r = fileio_write_all(p->fd_out, p->out.data, p->out.len, NULL)) < 0)
		return r;
	buf_reset(&p->out);
	return 0;
}

/* Ids are derived as `run` would for a file whose first line is the first line read: from the raw
 * bytes (a CR kept, a line longer than max_line_bytes still fingerprinted on its first 4096 bytes). */
static int parse_first_line(struct parse_ctx *p)
{
	const char *lf = memchr(p->head.data, '\n', p->head.len);
	char fp[65];

	eventid_fingerprint(p->head.data, lf ? (size_t)(lf - p->head.data) : p->head.len, fp);
	p->idf = eventid_file_new(p->cfg->agent.id_namespace, strlen(p->cfg->agent.id_namespace),
				  p->in->name, strlen(p->in->name), fp);
	return p->idf ? 0 : -ENOMEM;
}

static int parse_reject(struct parse_ctx *p, const char *key, const char *reason, const char *line,
			size_t len, uint64_t full)
{
	int r = buf_printf(&p->out, "{\"%s\":", key);

	if (!r)
		r = jsonw_string(&p->out, reason, strlen(reason));
	if (!r)
		r = buf_puts(&p->out, ",\"line\":");
	if (!r)
		r = jsonw_string(&p->out, line, len);
	if (!r && full != len)
		r = buf_printf(&p->out, ",\"length\":%llu", (unsigned long long)full);
	if (!r)
		r = buf_puts(&p->out, "}\n");
	return r;
}

static int parse_line(void *data, const char *line, size_t len, uint64_t full, uint64_t offset, uint64_t end)
{
	struct parse_ctx *p = data;
	struct line_src src = {line, len, offset, NULL, NULL, 0};
	int r;

	(void)end;
	if (!p->idf && (r = parse_first_line(p)) < 0)
		return r;
	if (!p->have_first) {
		if ((r = buf_append(&p->first, line, len)) < 0)
			return r;
		p->have_first = true;
	}
	src.idf = p->idf;
	src.first_line = p->first.data ? p->first.data : "";
	src.first_len = p->first.len;
	if (full != len) {
		snprintf(p->reason, sizeof(p->reason), "line longer than max_line_bytes (%llu bytes)",
			 (unsigned long long)full);
		r = parse_reject(p, "rejected", p->reason, line, len, full);
	} else {
		r = mapper_process(p->m, &src, &p->out, p->reason, sizeof(p->reason));
		if (r == MAP_EVENT)
			r = buf_putc(&p->out, '\n');
		else if (r == MAP_SKIP)
			r = parse_reject(p, "skipped", p->reason, line, len, full);
		else if (r == MAP_REJECT)
			r = parse_reject(p, "rejected", p->reason, line, len, full);
	}
	if (r < 0)
		return r;
	return parse_write_out(p, 0);
}

static const struct config_input *parse_pick_input(const struct config *c, const char *name)
{
	if (!name)
		return &c->inputs[0];
	for (size_t i = 0; i < c->ninputs; i++)
		if (strcmp(c->inputs[i].name, name) == 0)
			return &c->inputs[i];
	return NULL;
}

static int parse_stream(struct parse_ctx *p, int fd)
{
	struct lines ls;
	char *chunk = malloc(PARSE_CHUNK);
	int r = 0;

	if (!chunk)
		return -ENOMEM;
	lines_init(&ls, 0, p->in->max_line_bytes);
	for (;;) {
		ssize_t n = read(fd, chunk, PARSE_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			r = lines_flush(&ls, parse_line, p);
			break;
		}
		if (p->head.len < EVENTID_FINGERPRINT_MAX &&
		    (r = buf_append(&p->head, chunk, EVENTID_FINGERPRINT_MAX - p->head.len < (size_t)n ?
					  EVENTID_FINGERPRINT_MAX - p->head.len : (size_t)n)) < 0)
			break;
		if ((r = lines_feed(&ls, chunk, (size_t)n, parse_line, p)) < 0)
			break;
	}
	if (!r)
		r = parse_write_out(p, 1);
	lines_free(&ls);
	free(chunk);
	return r;
}

int cmd_parse(const struct cli_opts *o)
{
	struct parse_ctx p = {.fd_out = STDOUT_FILENO};
	struct config *cfg = NULL;
	char err[512];
	int fd = STDIN_FILENO, rc = 1, r;

	if (cli_load_config(o->config, 0, false, &cfg) != 0)
		return 2;
	p.cfg = cfg;
	p.in = parse_pick_input(cfg, o->input);
	if (!p.in) {
		fprintf(stderr, "onside-agent: no input named \"%s\" in %s\n", o->input, o->config);
		rc = 2;
		goto out;
	}
	if (mapper_create(p.in, cfg->agent.id_namespace, &p.m, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: input %s: %s\n", o->config, p.in->name, err);
		rc = 2;
		goto out;
	}
	if (o->path && strcmp(o->path, "-") != 0) {
		fd = open(o->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "onside-agent: cannot open %s: %s\n", o->path, strerror(errno));
			goto out;
		}
	}
	buf_init(&p.out, 0);
	buf_init(&p.head, 0);
	buf_init(&p.first, 0);
	r = parse_stream(&p, fd);
	if (r < 0)
		fprintf(stderr, "onside-agent: parse: %s\n", strerror(-r));
	else
		rc = 0;
	buf_free(&p.out);
	buf_free(&p.head);
	buf_free(&p.first);
	if (fd != STDIN_FILENO)
		close(fd);
out:
	eventid_file_free(p.idf);
	mapper_free(p.m);
	config_free(cfg);
	return rc;
}
