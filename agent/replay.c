/* A dead-letter record back into an event (replay.h): the input's mapper, the file's id state (one per
 * input and fingerprint), and what only the recorded file can still give (the fingerprint of an old
 * record, a CSV header, the rest of a cut line), taken from it only when it provably is the same
 * file: it holds the record's line at the record's offset, or its first line has the record's
 * fingerprint. */
#include "replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "firstline.h"
#include "map.h"

struct idf_entry {
	const char *input; /* the configuration's */
	char fp[65];
	struct eventid_file *idf;
	struct idf_entry *next;
};

struct replay_mapper {
	const struct config *cfg;
	struct mapper **m; /* one per input */
	struct idf_entry *ids;
	struct buf out;
	char *full; /* a cut line, read whole from its file */
	char *first; /* the file's first line, for a parser that reads it */
	size_t first_len;
};

int replay_mapper_new(const struct config *cfg, struct replay_mapper **ret, char *err, size_t errlen)
{
	struct replay_mapper *m = calloc(1, sizeof(*m));
	int r = 0;

	if (!m || !(m->m = calloc(cfg->ninputs ? cfg->ninputs : 1, sizeof(*m->m)))) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->cfg = cfg;
	buf_init(&m->out, 0);
	for (size_t i = 0; r == 0 && i < cfg->ninputs; i++)
		r = mapper_create(&cfg->inputs[i], cfg->agent.id_namespace, &m->m[i], err, errlen);
	if (r < 0) {
		replay_mapper_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

void replay_mapper_free(struct replay_mapper *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cfg->ninputs; i++)
		mapper_free(m->m[i]);
	free(m->m);
	while (m->ids) {
		struct idf_entry *e = m->ids;

		m->ids = e->next;
		eventid_file_free(e->idf);
		free(e);
	}
	buf_free(&m->out);
	free(m->full);
	free(m->first);
	free(m);
}

const struct config_input *replay_input(const struct replay_mapper *m, const char *name)
{
	for (size_t i = 0; name && i < m->cfg->ninputs; i++)
		if (!strcmp(m->cfg->inputs[i].name, name))
			return &m->cfg->inputs[i];
	return NULL;
}

static struct eventid_file *ids_for(struct replay_mapper *m, const struct config_input *in, const char *fp)
{
	const char *ns = m->cfg->agent.id_namespace;
	struct idf_entry *e;

	for (e = m->ids; e; e = e->next)
		if (e->input == in->name && !strcmp(e->fp, fp))
			return e->idf;
	if (!(e = calloc(1, sizeof(*e))))
		return NULL;
	e->input = in->name;
	snprintf(e->fp, sizeof(e->fp), "%s", fp);
	if (!(e->idf = eventid_file_new(ns, strlen(ns), in->name, strlen(in->name), e->fp))) {
		free(e);
		return NULL;
	}
	e->next = m->ids;
	m->ids = e;
	return e->idf;
}

/* ---- the recorded file ---- */

static void file_fingerprint(int fd, char fp[65])
{
	char b[EVENTID_FINGERPRINT_MAX];
	ssize_t n = pread(fd, b, sizeof(b), 0);
	const char *lf = n > 0 ? memchr(b, '\n', (size_t)n) : NULL;

	eventid_fingerprint(b, lf ? (size_t)(lf - b) : n > 0 ? (size_t)n : 0, fp);
}

/* Whether fd holds, at the record's offset, a line of full bytes that begins with the record's bytes
 * (all of them when the line was not cut): 1 or 0, or -ENOMEM. The line's bytes go to *ret_full (NULL:
 * not kept). */
static int holds_line(int fd, const struct deadletter_record *rec, uint64_t full, char **ret_full)
{
	size_t want = (size_t)full + 2;
	char *b = malloc(want);
	ssize_t n;
	bool ok;

	if (!b)
		return -ENOMEM;
	n = pread(fd, b, want, (off_t)rec->offset);
	/* the line ends at its LF (or CRLF), or at the end of the file (a last line read by run --once) */
	ok = n >= (ssize_t)full && rec->line_len <= full && !memcmp(b, rec->line, rec->line_len) &&
	     (n == (ssize_t)full || b[full] == '\n' || (n == (ssize_t)want && b[full] == '\r' && b[full + 1] == '\n'));
	if (ok && ret_full) {
		free(*ret_full);
		*ret_full = b;
		return 1;
	}
	free(b);
	return ok;
}

/* What the file gives: the fingerprint of an old record, the whole of a cut line, the first line.
 * Returns 0, REPLAY_CANNOT with why, or -ENOMEM. */
static int from_file(struct replay_mapper *m, const struct config_input *in, const struct deadletter_record *rec,
		     char fp[65], char *why, size_t whylen)
{
	uint64_t full = rec->length ? rec->length : rec->line_len;
	char have[65];
	int fd, r;

	fd = open(rec->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, whylen, "%s, and %s cannot be opened: %s", !rec->fingerprint ? "the record has no "
			 "fingerprint (it is older than that key)" : rec->length ? "the line was cut at max_line_bytes" :
			 "the parser reads each file's first line", rec->path, strerror(errno));
		return REPLAY_CANNOT;
	}
	file_fingerprint(fd, have);
	r = (!rec->fingerprint || rec->length) ? holds_line(fd, rec, full, rec->length ? &m->full : NULL) : 1;
	if (r == 1 && rec->fingerprint && strcmp(have, rec->fingerprint))
		r = 0; /* the same line at the same place of another file: not the record's file */
	if (r == 1 && in->parser.first_line) {
		free(m->first);
		m->first = NULL;
		if (firstline_read(fd, in->max_line_bytes, &m->first, &m->first_len) == -ENOMEM)
			r = -ENOMEM;
	}
	close(fd);
	if (r == 0)
		snprintf(why, whylen, "%s, and %s is no longer the file the record came from", !rec->fingerprint ?
			 "the record has no fingerprint (it is older than that key)" : rec->length ?
			 "the line was cut at max_line_bytes" : "the parser reads each file's first line", rec->path);
	if (r == 1 && !rec->fingerprint)
		memcpy(fp, have, sizeof(have));
	return r == 1 ? 0 : r == 0 ? REPLAY_CANNOT : r;
}

/* ---- the line ---- */

static bool hex64(const char *s)
{
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* The id in the event the mapper wrote: the last "event_id" member (the payload, before it, may name
 * one of its own). */
static void event_id_of(const char *json, size_t len, char ret[EVENTID_LEN + 1])
{
	static const char key[] = "\"event_id\":\"";
	const char *at = NULL;

	for (const char *p = json; (p = memmem(p, len - (size_t)(p - json), key, sizeof(key) - 1)); p++)
		at = p;
	ret[0] = '\0';
	if (at && at + sizeof(key) - 1 + EVENTID_LEN <= json + len)
		snprintf(ret, EVENTID_LEN + 1, "%.*s", EVENTID_LEN, at + sizeof(key) - 1);
}

int replay_map(struct replay_mapper *m, const struct deadletter_record *rec, const char **ret_json,
	       size_t *ret_len, char ret_id[EVENTID_LEN + 1], char *why, size_t whylen)
{
	const struct config_input *in = replay_input(m, rec->input);
	struct line_src src = { rec->line, rec->line_len, rec->offset, NULL, NULL, 0 };
	uint64_t full = rec->length ? rec->length : rec->line_len;
	char fp[65] = "";
	int r;

	if (!in) {
		snprintf(why, whylen, "input \"%s\" is not in the configuration", rec->input);
		return REPLAY_CANNOT;
	}
	if (full > in->max_line_bytes) {
		snprintf(why, whylen, "line longer than max_line_bytes (%llu bytes)", (unsigned long long)full);
		return REPLAY_REJECT;
	}
	if (rec->fingerprint && !hex64(rec->fingerprint)) {
		snprintf(why, whylen, "the record's fingerprint is not 64 lowercase hex digits");
		return REPLAY_CANNOT;
	}
	if (rec->fingerprint)
		snprintf(fp, sizeof(fp), "%s", rec->fingerprint);
	if ((!rec->fingerprint || rec->length || in->parser.first_line) &&
	    (r = from_file(m, in, rec, fp, why, whylen)) != 0)
		return r;
	if (rec->length) {
		src.line = m->full;
		src.len = (size_t)rec->length;
	}
	if (in->parser.first_line) {
		src.first_line = m->first ? m->first : "";
		src.first_len = m->first ? m->first_len : 0;
	}
	if (!(src.idf = ids_for(m, in, fp)))
		return -ENOMEM;
	buf_reset(&m->out);
	r = mapper_process(m->m[in - m->cfg->inputs], &src, &m->out, why, whylen);
	if (r < 0)
		return r;
	if (r == MAP_EVENT) {
		*ret_json = m->out.data;
		*ret_len = m->out.len;
		event_id_of(m->out.data, m->out.len, ret_id);
		return REPLAY_EVENT;
	}
	return r == MAP_SKIP ? REPLAY_SKIP : REPLAY_REJECT;
}
