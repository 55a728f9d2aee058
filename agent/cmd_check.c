/* `onside-agent check`: validates the configuration (and that every input's parser, plugin, match
 * regexes and templates can be built) without starting anything. With --sample N it also runs the
 * last N lines of each input's current files through the parser and mapping, as `run` would, and
 * says what they would become (events, skipped, rejected, by reason) and which fields the templates
 * and payload name that no sampled line has (a misspelt ${curr}), at the template's position. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cabundle.h"
#include "cli.h"
#include "config.h"
#include "eventid.h"
#include "firstline.h"
#include "lines.h"
#include "map.h"
#include "notice.h"
#include "parser.h"
#include "tail.h" /* tail_excluded: which matches an input's `exclude` leaves out */
#include "template.h"

#define SAMPLE_CHUNK (1u << 16)
#define SAMPLE_REASONS 12
#define SAMPLE_SEEN_MAX 40
#define CLASS_MAX 160
#define WHAT_MAX 160

/* A field the configuration names, and how many sampled lines have it. */
struct ref {
	char *name;
	char what[WHAT_MAX + 32]; /* "inputs[N]." and a `what` of at most WHAT_MAX */
	const struct config_pos *pos;
	size_t at;     /* byte of the value where the field is named */
	bool any_line; /* counted over every line the parser read (a `match` field), not only events */
	unsigned long seen;
};

struct reason_count {
	char text[CLASS_MAX];
	unsigned long n;
	char *path; /* the first line with it */
	uint64_t offset;
};

/* One input's sample. */
struct sample {
	const struct config *cfg;
	const struct config_input *in;
	size_t index;
	struct mapper *m;
	struct buf out;
	char reason[512];
	unsigned long files, lines, events, rejected, skipped, parsed, candidates;
	unsigned long skipped_by[MAP_SKIP_KINDS];
	struct reason_count rej[SAMPLE_REASONS];
	size_t nrej;
	unsigned long rej_other;
	struct ref *refs;
	size_t nrefs;
	char *seen[SAMPLE_SEEN_MAX]; /* field names of the sampled lines, for the warnings */
	size_t nseen;
	/* the file being sampled */
	const char *path;
	struct eventid_file *idf;
	char *first;
	size_t first_len;
};

/* ---- the fields the configuration names ---- */

static int ref_add(struct sample *s, const char *name, size_t len, const char *what,
		   const struct config_pos *pos, size_t at, bool any_line)
{
	struct ref *v = realloc(s->refs, (s->nrefs + 1) * sizeof(*v)), *r;

	if (!v)
		return -ENOMEM;
	s->refs = v;
	r = &v[s->nrefs];
	*r = (struct ref){ .pos = pos, .at = at, .any_line = any_line };
	snprintf(r->what, sizeof(r->what), "inputs[%zu].%s", s->index, what);
	if (!(r->name = strndup(name, len)))
		return -ENOMEM;
	s->nrefs++;
	return 0;
}

/* The ${fields} of template src; at: where "${name}" is in src (its start when not found). */
static int refs_of_template(struct sample *s, const char *src, const char *what, const struct config_pos *pos)
{
	struct template *t = NULL;
	char err[200], needle[CLASS_MAX];
	size_t n, len;
	int r = 0;

	if (!src || template_compile(src, &t, err, sizeof(err), NULL) < 0)
		return 0; /* reported by the load already */
	n = template_nfields(t);
	for (size_t i = 0; i < n && r == 0; i++) {
		const char *name = template_field(t, i, &len), *hit;

		snprintf(needle, sizeof(needle), "${%.*s}", (int)len, name);
		hit = strstr(src, needle);
		r = ref_add(s, name, len, what, pos, hit ? (size_t)(hit - src) : 0, false);
	}
	template_free(t);
	return r;
}

static int collect_refs(struct sample *s)
{
	static const struct config_pos none;
	const struct config_input *in = s->in;
	char what[WHAT_MAX];
	int r = 0;

	r = refs_of_template(s, in->event_name, "event.event_name", &in->event_name_pos);
	if (!r)
		r = refs_of_template(s, in->event_datetime, "event.event_datetime", &in->event_datetime_pos);
	if (!r)
		r = refs_of_template(s, in->installation_id, "event.installation_id", &in->installation_id_pos);
	if (!r)
		r = refs_of_template(s, in->event_id, "event.event_id", &in->event_id_pos);
	for (size_t i = 0; !r && i < in->nid_fields; i++) {
		snprintf(what, sizeof(what), "event.id_fields[%zu]", i);
		r = ref_add(s, in->id_fields[i], strlen(in->id_fields[i]), what,
			    in->id_fields_pos ? &in->id_fields_pos[i] : &none, 0, false);
	}
	for (size_t i = 0; !r && in->payload_mode != PAYLOAD_ALL && i < in->npayload; i++) {
		const struct config_pos *pos = in->payload_pos ? &in->payload_pos[i] : &none;

		if (in->payload_mode == PAYLOAD_MAP) {
			snprintf(what, sizeof(what), "event.payload.%s", in->payload[i].name);
			r = refs_of_template(s, in->payload[i].tmpl, what, pos);
		} else {
			snprintf(what, sizeof(what), "event.payload[%zu]", i);
			r = ref_add(s, in->payload[i].name, strlen(in->payload[i].name), what, pos, 0, false);
		}
	}
	for (size_t i = 0; !r && i < in->nmatch; i++) {
		snprintf(what, sizeof(what), "match.%s", in->match[i].field);
		r = ref_add(s, in->match[i].field, strlen(in->match[i].field), what,
			    in->match_pos ? &in->match_pos[i] : &none, 0, true);
	}
	return r;
}

/* ---- one line ---- */

static void count_rejection(struct sample *s, const char *reason, uint64_t offset)
{
	char cls[CLASS_MAX];
	size_t i;

	notice_class_of(reason, cls, sizeof(cls));
	for (i = 0; i < s->nrej; i++)
		if (strcmp(s->rej[i].text, cls) == 0)
			break;
	if (i == s->nrej) {
		if (s->nrej == SAMPLE_REASONS) {
			s->rej_other++;
			return;
		}
		snprintf(s->rej[i].text, sizeof(s->rej[i].text), "%s", cls);
		s->rej[i].path = strdup(s->path);
		s->rej[i].offset = offset;
		s->nrej++;
	}
	s->rej[i].n++;
}

static void note_fields(struct sample *s, const struct record *rec, bool candidate)
{
	for (size_t k = 0; k < s->nrefs; k++)
		if ((candidate || s->refs[k].any_line) &&
		    record_get(rec, s->refs[k].name, strlen(s->refs[k].name)))
			s->refs[k].seen++;
	for (size_t i = 0; i < rec->n && s->nseen < SAMPLE_SEEN_MAX; i++) {
		size_t j;

		for (j = 0; j < s->nseen; j++)
			if (strlen(s->seen[j]) == rec->f[i].name_len &&
			    memcmp(s->seen[j], rec->f[i].name, rec->f[i].name_len) == 0)
				break;
		if (j == s->nseen && (s->seen[j] = strndup(rec->f[i].name, rec->f[i].name_len)))
			s->nseen++;
	}
}

static int sample_line(void *data, const char *line, size_t len, uint64_t full, uint64_t offset, uint64_t end)
{
	struct sample *s = data;
	struct line_src src = { line, len, offset, s->idf, s->first, s->first_len };
	const struct record *rec;
	int r;

	(void)end;
	s->lines++;
	if (full != len) {
		s->rejected++;
		count_rejection(s, "line longer than max_line_bytes", offset);
		return 0;
	}
	buf_reset(&s->out);
	r = mapper_process(s->m, &src, &s->out, s->reason, sizeof(s->reason));
	if (r < 0) {
		r = MAP_REJECT;
		snprintf(s->reason, sizeof(s->reason), "event too large to build");
	}
	rec = mapper_record(s->m);
	if (rec->n) {
		s->parsed++;
		s->candidates += r != MAP_SKIP;
		note_fields(s, rec, r != MAP_SKIP);
	}
	if (r == MAP_EVENT) {
		s->events++;
	} else if (r == MAP_SKIP) {
		s->skipped++;
		s->skipped_by[mapper_skip_kind(s->m)]++;
	} else {
		s->rejected++;
		count_rejection(s, s->reason, offset);
	}
	return 0;
}

/* ---- one file ---- */

/* Where the last n complete lines of the file begin, and where they end (past the last LF). */
static int last_lines(int fd, uint64_t size, unsigned long n, uint64_t *ret_start, uint64_t *ret_end)
{
	char b[SAMPLE_CHUNK];
	uint64_t pos = size, end = 0;
	unsigned long lfs = 0;
	bool have_end = false;

	while (pos > 0) {
		size_t want = pos < sizeof(b) ? (size_t)pos : sizeof(b);
		ssize_t got = pread(fd, b, want, (off_t)(pos - want));

		if (got != (ssize_t)want)
			return got < 0 ? -errno : -EIO;
		pos -= want;
		for (size_t i = want; i-- > 0;) {
			if (b[i] != '\n')
				continue;
			if (!have_end) {
				have_end = true;
				end = pos + i + 1;
				continue;
			}
			if (++lfs == n) {
				*ret_start = pos + i + 1;
				*ret_end = end;
				return 0;
			}
		}
	}
	*ret_start = 0;
	*ret_end = end;
	return 0;
}

/* The file's identity as `run` derives it: the fingerprint of its first line's raw bytes. */
static int file_identity(struct sample *s, int fd)
{
	char b[EVENTID_FINGERPRINT_MAX], fp[65];
	ssize_t n = pread(fd, b, sizeof(b), 0);
	const char *lf = n > 0 ? memchr(b, '\n', (size_t)n) : NULL;
	const char *ns = s->cfg->agent.id_namespace;
	int r;

	eventid_fingerprint(b, lf ? (size_t)(lf - b) : n > 0 ? (size_t)n : 0, fp);
	s->idf = eventid_file_new(ns, strlen(ns), s->in->name, strlen(s->in->name), fp);
	if (!s->idf)
		return -ENOMEM;
	r = firstline_read(fd, s->in->max_line_bytes, &s->first, &s->first_len);
	return r == -ENOMEM ? r : 0;
}

static int feed_range(struct sample *s, int fd, uint64_t start, uint64_t end)
{
	char *chunk = malloc(SAMPLE_CHUNK);
	struct lines ls;
	int r = 0;

	if (!chunk)
		return -ENOMEM;
	lines_init(&ls, start, s->in->max_line_bytes);
	for (uint64_t pos = start; pos < end && r == 0;) {
		size_t want = end - pos < SAMPLE_CHUNK ? (size_t)(end - pos) : SAMPLE_CHUNK;
		ssize_t got = pread(fd, chunk, want, (off_t)pos);

		if (got <= 0) {
			r = got < 0 ? -errno : -EIO;
			break;
		}
		r = lines_feed(&ls, chunk, (size_t)got, sample_line, s);
		pos += (size_t)got;
	}
	lines_free(&ls);
	free(chunk);
	return r;
}

static int sample_file(struct sample *s, const char *path, unsigned long n)
{
	uint64_t start = 0, end = 0;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	s->path = path;
	r = last_lines(fd, (uint64_t)st.st_size, n, &start, &end);
	if (r == 0)
		r = file_identity(s, fd);
	if (r == 0 && end > start) {
		s->files++;
		r = feed_range(s, fd, start, end);
	}
	eventid_file_free(s->idf);
	free(s->first);
	s->idf = NULL;
	s->first = NULL;
	close(fd);
	return r;
}

/* ---- the report ---- */

static void warn_missing(const struct sample *s, const struct ref *r, const char *config)
{
	char seen[512] = "";
	size_t o = 0;
	unsigned long lines = r->any_line ? s->parsed : s->candidates;

	for (size_t i = 0; i < s->nseen && o < sizeof(seen); i++)
		o += (size_t)snprintf(seen + o, sizeof(seen) - o, "%s%s", i ? ", " : "", s->seen[i]);
	if (r->pos->line)
		fprintf(stderr, "%s:%lu:%lu: ", config, r->pos->line, config_pos_col(r->pos, r->at));
	else
		fprintf(stderr, "%s: ", config);
	fprintf(stderr, "%s: no sampled line has the field \"%s\" (%lu sampled line%s of input %s %s; "
		"the fields they have: %s%s)\n",
		r->what, r->name, lines, lines == 1 ? "" : "s", s->in->name,
		r->any_line ? "that the parser read" : "that the parser read and no filter skipped", seen,
		s->nseen == SAMPLE_SEEN_MAX ? ", ..." : "");
}

static void report(const struct sample *s, const char *config)
{
	printf("input %s: %lu line%s sampled from %lu file%s: %lu event%s, %lu skipped, %lu rejected\n",
	       s->in->name, s->lines, s->lines == 1 ? "" : "s", s->files, s->files == 1 ? "" : "s", s->events,
	       s->events == 1 ? "" : "s", s->skipped, s->rejected);
	for (int k = 0; k < MAP_SKIP_KINDS; k++)
		if (s->skipped_by[k])
			printf("  skipped (%s): %lu\n", map_skip_name(k), s->skipped_by[k]);
	for (size_t i = 0; i < s->nrej; i++)
		printf("  rejected (%s): %lu, first at %s offset %llu\n", s->rej[i].text, s->rej[i].n,
		       s->rej[i].path ? s->rej[i].path : "?", (unsigned long long)s->rej[i].offset);
	if (s->rej_other)
		printf("  rejected (other reasons): %lu\n", s->rej_other);
	if (!s->lines)
		return;
	if (!s->parsed) {
		printf("  no sampled line was read by the parser: fields not checked\n");
		return;
	}
	if (!s->candidates)
		printf("  every sampled line the parser read was skipped: only match fields checked\n");
	for (size_t k = 0; k < s->nrefs; k++)
		if (!s->refs[k].seen && (s->refs[k].any_line || s->candidates))
			warn_missing(s, &s->refs[k], config);
}

static void sample_free(struct sample *s)
{
	mapper_free(s->m);
	buf_free(&s->out);
	for (size_t i = 0; i < s->nrefs; i++)
		free(s->refs[i].name);
	free(s->refs);
	for (size_t i = 0; i < s->nrej; i++)
		free(s->rej[i].path);
	for (size_t i = 0; i < s->nseen; i++)
		free(s->seen[i]);
}

/* Samples every regular file input i's globs match now, less its `exclude`, and reports. Returns 0
 * or a negative errno when the sample could not be taken. */
static int sample_input(const struct config *cfg, size_t i, unsigned long n, const char *config)
{
	struct sample s = { .cfg = cfg, .in = &cfg->inputs[i], .index = config_input_index(cfg, i) };
	char err[400];
	int r;

	buf_init(&s.out, 0);
	r = mapper_create(s.in, cfg->agent.id_namespace, &s.m, err, sizeof(err));
	if (r == 0)
		r = collect_refs(&s);
	for (size_t k = 0; r == 0 && k < s.in->npaths; k++) {
		glob_t g;

		if (glob(s.in->paths[k], 0, NULL, &g) != 0)
			continue;
		for (size_t j = 0; r == 0 && j < g.gl_pathc; j++) {
			if (tail_excluded(s.in, g.gl_pathv[j]))
				continue;
			if ((r = sample_file(&s, g.gl_pathv[j], n)) < 0 && r != -ENOMEM) {
				fprintf(stderr, "onside-agent: cannot sample %s: %s\n", g.gl_pathv[j], strerror(-r));
				r = 0;
			}
		}
		globfree(&g);
	}
	if (r == 0)
		report(&s, config);
	else
		fprintf(stderr, "onside-agent: input %s: cannot sample: %s\n", s.in->name, strerror(-r));
	sample_free(&s);
	return r;
}
#include "statedir.h"
#include "trouble.h"

/* A glob that matches no file is not an error (the agent follows files that appear), but often a
 * typo or a permission problem on a directory: a warning. */
static void warn_empty_globs(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->ninputs; i++)
		for (size_t k = 0; k < cfg->inputs[i].npaths; k++)
			if (!trouble_glob_count(&cfg->inputs[i], cfg->inputs[i].paths[k]))
				fprintf(stderr, "%s: inputs[%zu].paths[%zu]: \"%s\" matches no file now (run follows "
					"files that appear)\n", cfg->inputs[i].source, config_input_index(cfg, i), k,
					cfg->inputs[i].paths[k]);
}

/* What the agent would build from the configuration: every input's mapper, the state directory's
 * safety. Returns 0, or 2 after printing each problem. */
static int check_built(const struct config *cfg, const char *config)
{
	char err[512];
	int bad = 0;

	for (size_t i = 0; i < cfg->ninputs; i++) {
		struct mapper *m = NULL;

		if (mapper_create(&cfg->inputs[i], cfg->agent.id_namespace, &m, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: input %s: %s\n", cfg->inputs[i].source, cfg->inputs[i].name, err);
			bad = 2;
		}
		mapper_free(m);
	}
	if (statedir_check(cfg->agent.state_dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: agent.state_dir: %s\n", config, err);
		bad = 2;
	}
	return bad;
}

static void print_summary(const struct config *cfg, const char *config)
{
	char ca[PATH_MAX + 128], inc[64] = "";

	(void)cabundle_summary(cfg->endpoint.url, cfg->endpoint.ca_file, ca, sizeof(ca));
	if (cfg->nincluded)
		snprintf(inc, sizeof(inc), " (with %zu included file%s)", cfg->nincluded, cfg->nincluded == 1 ? "" : "s");
	printf("%s: valid: %zu input%s%s, endpoint %s%s\n", config, cfg->ninputs, cfg->ninputs == 1 ? "" : "s", inc,
	       cfg->endpoint.url, ca);
}

int cmd_check(const struct cli_opts *o)
{
	struct config *cfg = NULL;
	char who[96] = "";
	int bad, rc = 0;

	if (cli_load_config(o->config, CONFIG_NEED_CREDENTIALS, true, &cfg) != 0)
		return 2;
	bad = check_built(cfg, o->config);
	if (!bad && cmd_check_access(cfg, who, sizeof(who)) > 0)
		bad = 2;
	if (!bad) {
		print_summary(cfg, o->config);
		if (who[0])
			printf("%s: checked as %s (the service's): the configuration, its secrets and the state directory "
			       "are usable\n", o->config, who);
		warn_empty_globs(cfg);
	}
	/* a sample that cannot be taken is a runtime failure, not an invalid configuration */
	for (size_t i = 0; !bad && o->sample && i < cfg->ninputs; i++)
		if (sample_input(cfg, i, o->sample, cfg->inputs[i].source) < 0)
			rc = 1;
	if (!bad && o->connect && cmd_connect(cfg) != 0)
		rc = 1;
	config_free(cfg);
	return bad ? bad : rc;
}
