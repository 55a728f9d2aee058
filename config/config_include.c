/* `include: [GLOB...]` at the top level: the inputs of other files (a conf.d directory, one file per
 * application) are added to the configuration's own. A glob may match nothing (an empty conf.d); a
 * path without wildcards must exist. A relative glob is taken from the configuration's directory.
 * Each included file is a YAML mapping that holds `inputs` and nothing else, with ${env:} references
 * like the configuration; its problems are reported at its own FILE:LINE:COLUMN. Files are read in
 * the order of the globs, each glob's matches sorted; a file matched twice is read once. */
#include "config_internal.h"

#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INCLUDE_MAX_FILES 1000

/* What an included file may hold. */
static void parse_included_inputs(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name)
{
	cfg_append_inputs(ld, node, base, name);
}

static const struct cfg_key included_keys[] = {
	{ .key = "inputs", .type = CFG_CUSTOM, .flags = CFG_REQUIRED, .parse = parse_included_inputs,
	  .help = "the log files to follow" },
	{ .key = NULL },
};

struct file_id {
	dev_t dev;
	ino_t ino;
};

struct includes {
	struct file_id *seen; /* the configuration first, then every file read */
	size_t nseen;
	yaml_node_t *at; /* the glob being expanded, for messages about its files */
	struct config *c;
};

/* Reads one file's inputs into inc->c, with the loader pointing at that file meanwhile. */
static void include_file(struct cfg_loader *ld, struct includes *inc, const char *path)
{
	struct cfg_loader saved = *ld;
	yaml_document_t doc;
	bool have_doc = false;

	ld->path = path;
	ld->file = ld->nfiles++;
	ld->root = NULL;
	(void)cfg_read_document(ld, &doc, &have_doc);
	if (have_doc) {
		ld->doc = &doc;
		ld->root = yaml_document_get_root_node(&doc);
		if (!ld->root)
			cfg_error(ld, NULL, "the included file is empty");
		else if (ld->root->type != YAML_MAPPING_NODE)
			cfg_error(ld, ld->root, "expected a mapping at the top level, got %s", cfg_kind(ld->root));
		else
			cfg_apply(ld, included_keys, ld->root, inc->c,
				  &(struct cfg_section){ .name = "", .hint = "an included file holds only inputs" },
				  NULL);
		yaml_document_delete(&doc);
	}
	inc->c->nincluded++;
	ld->path = saved.path;
	ld->file = saved.file;
	ld->doc = saved.doc;
	ld->root = saved.root;
}

/* Whether path is a file read already (or the configuration itself: reported). Returns 1 to skip,
 * 0 to read it (recorded), or -1 when it cannot be looked at (reported). */
static int seen_before(struct cfg_loader *ld, struct includes *inc, const char *path)
{
	struct file_id *v;
	struct stat st;

	if (stat(path, &st) < 0) {
		cfg_error(ld, inc->at, "include: cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < inc->nseen; i++) {
		if (inc->seen[i].dev != st.st_dev || inc->seen[i].ino != st.st_ino)
			continue;
		if (i == 0)
			cfg_error(ld, inc->at, "include: %s is this configuration itself; keep included files in a "
				  "directory of their own (conf.d/*.yaml)", path);
		return i == 0 ? -1 : 1;
	}
	if (inc->nseen > INCLUDE_MAX_FILES) {
		cfg_error(ld, inc->at, "include: more than %d files", INCLUDE_MAX_FILES);
		return -1;
	}
	v = realloc(inc->seen, (inc->nseen + 1) * sizeof(*v));
	if (!v) {
		ld->oom = true;
		return -1;
	}
	inc->seen = v;
	inc->seen[inc->nseen++] = (struct file_id){ st.st_dev, st.st_ino };
	return 0;
}

/* A relative pattern is taken from the configuration's directory. */
static char *absolute(struct cfg_loader *ld, const char *pattern)
{
	char *copy, *dir, *out = NULL;

	if (pattern[0] == '/')
		return cfg_strdup(ld, pattern);
	copy = cfg_strdup(ld, ld->main_path);
	if (!copy)
		return NULL;
	dir = dirname(copy);
	if (asprintf(&out, "%s/%s", dir, pattern) < 0) {
		out = NULL;
		ld->oom = true;
	}
	free(copy);
	return out;
}

static void include_pattern(struct cfg_loader *ld, struct includes *inc, const char *pattern)
{
	char *abs = absolute(ld, pattern);
	glob_t g;
	int r;

	if (!abs)
		return;
	if (!strpbrk(abs, "*?[")) {
		/* a plain path names one file, which must be there */
		if (seen_before(ld, inc, abs) == 0)
			include_file(ld, inc, abs);
		free(abs);
		return;
	}
	r = glob(abs, GLOB_ERR, NULL, &g);
	if (r == GLOB_NOSPACE)
		ld->oom = true;
	else if (r == GLOB_ABORTED)
		cfg_error(ld, inc->at, "include: cannot list the directory of %s", abs);
	for (size_t i = 0; r == 0 && i < g.gl_pathc; i++) {
		struct stat st;

		/* a directory or a socket in conf.d is not a configuration */
		if (stat(g.gl_pathv[i], &st) == 0 && !S_ISREG(st.st_mode))
			continue;
		if (seen_before(ld, inc, g.gl_pathv[i]) == 0)
			include_file(ld, inc, g.gl_pathv[i]);
	}
	if (r == 0)
		globfree(&g);
	free(abs);
}

void cfg_parse_include(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name)
{
	struct includes inc = { .c = base };
	yaml_node_t *one[1] = { node };
	yaml_node_t **items = one;
	struct stat st;
	size_t n = 1;

	if (!node)
		return;
	if (node->type == YAML_SEQUENCE_NODE) {
		n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
		items = NULL;
	} else if (node->type != YAML_SCALAR_NODE) {
		cfg_error(ld, node, "%s: expected a list of globs, got %s", name, cfg_kind(node));
		return;
	}
	/* the configuration itself, so that a glob that matches it says so */
	if (stat(ld->main_path, &st) == 0 && (inc.seen = malloc(sizeof(*inc.seen))))
		inc.seen[inc.nseen++] = (struct file_id){ st.st_dev, st.st_ino };
	for (size_t i = 0; i < n && !ld->oom; i++) {
		yaml_node_t *it = items ? items[i] : cfg_node(ld, node->data.sequence.items.start[i]);
		char sub[CFG_NAME_MAX + 24];
		const char *s;

		if (items)
			snprintf(sub, sizeof(sub), "%s", name);
		else
			snprintf(sub, sizeof(sub), "%s[%zu]", name, i);
		inc.at = it;
		if (!(s = cfg_scalar(ld, it, sub, "a glob")) || cfg_check_nonempty(ld, it, sub, s))
			continue;
		include_pattern(ld, &inc, s);
	}
	free(inc.seen);
}
