/* Private to config/: the loader state, the messages of a load with their positions, redaction and
 * suppression (config_msg.c, the lowest file), the declarative key tables and the engine that applies
 * them to libyaml nodes (config_schema.c), the sections (config.c), the inputs (config_input.c),
 * ${env:} references (config_env.c) and included files (config_include.c). */
#ifndef ONSIDE_CONFIG_INTERNAL_H
#define ONSIDE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <yaml.h>

#include "config.h"

/* No section has more keys than this (the engine keeps per-key state on the stack). */
#define CFG_MAX_KEYS 24
/* Longest dotted key name in a message, e.g. "inputs[12].event.installation_id". */
#define CFG_NAME_MAX 128

/* One diagnostic before it is handed to the caller: sorted by position at the end so that errors
 * come out in document order even when a check runs after its section was walked. */
struct cfg_msg {
	unsigned file;      /* 0: the configuration; N: the Nth file it includes (messages keep file order) */
	unsigned long line; /* 1-based; 0 = no position ("FILE: message") */
	unsigned long col;
	size_t seq; /* report order, to keep the sort stable */
	char *text; /* the complete "FILE:LINE:COLUMN: message" */
};

struct cfg_msgs {
	struct cfg_msg *v;
	size_t n;
	size_t cap;
};

struct cfg_loader {
	const char *path; /* the file being read (the configuration, or an included file), as given or
			   * as its glob found it: printed in every message */
	const char *main_path; /* the configuration */
	unsigned file;    /* which file path is: 0 the configuration, N the Nth included one */
	unsigned nfiles;  /* files read so far */
	int flags;        /* CONFIG_NEED_CREDENTIALS */
	mode_t mode;      /* of the configuration file, for the inline-password warning */
	yaml_document_t *doc;
	yaml_node_t *root;
	/* what ${env:} references brought in: redacted from every message like the password */
	char **redact;
	size_t nredact;
	/* values whose reference failed, (file, byte index of the node): reported once, not again by
	 * every check that reads the unsubstituted text */
	struct cfg_spot { unsigned file; size_t index; } *failed;
	size_t nfailed;
	struct cfg_msgs errors;
	struct cfg_msgs warnings;
	size_t seq;
	bool oom; /* an allocation failed somewhere: the load fails with -ENOMEM */
};

enum cfg_type {
	CFG_STRING,   /* char * */
	CFG_BOOL,     /* bool: true/false/yes/no */
	CFG_UINT,     /* uint64_t in [min, max] */
	CFG_DURATION, /* uint64_t milliseconds in [min, max] */
	CFG_SIZE,     /* uint64_t bytes in [min, max] */
	CFG_ENUM,     /* int: index into names */
	CFG_STRLIST,  /* char ** plus a size_t count at count_offset */
	CFG_NODE,     /* yaml_node_t *: kept for the handler that converts it */
	CFG_SECTION,  /* a nested mapping with its own table `sub`, at base + offset */
	CFG_CUSTOM,   /* parse() does everything, also when the key is absent (node NULL) */
};

#define CFG_REQUIRED 0x1    /* absence is an error at the position of the mapping */
#define CFG_NONEMPTY 0x2    /* string lists: at least one item */
#define CFG_SCALAR_LIST 0x4 /* string lists: a single string is a list of one */
#define CFG_SECRET 0x8      /* never echo the value: only the engine's non-empty check runs */

struct cfg_key;

/* Extra validation of a string (or of each item of a string list). Reports its own error at node
 * and returns -EINVAL, or returns 0. */
typedef int (*cfg_check_fn)(struct cfg_loader *ld, const yaml_node_t *node, const char *name,
			    const char *value);
/* CFG_CUSTOM: parses node (NULL when the key is absent) into base. */
typedef void (*cfg_parse_fn)(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name);
/* CFG_SECTION: cross-key checks once the section was applied; nodes[i] is the value node of
 * sub[i] (NULL when absent), map the section's mapping (NULL when absent). */
typedef void (*cfg_post_fn)(struct cfg_loader *ld, void *base, yaml_node_t *const *nodes,
			    yaml_node_t *map);
/* Frees what a key's parse (CFG_CUSTOM) or post (CFG_SECTION) allocated beyond the typed fields of
 * the tables, which cfg_free frees itself. base is what parse or post got. */
typedef void (*cfg_release_fn)(void *base);

struct cfg_key {
	const char *key;
	enum cfg_type type;
	size_t offset;
	size_t count_offset; /* CFG_STRLIST */
	const char *def;     /* default, parsed like a configured value; NULL = none */
	uint64_t min;
	uint64_t max;
	const char *const *names; /* CFG_ENUM, NULL-terminated */
	unsigned flags;
	cfg_check_fn check;
	cfg_parse_fn parse;
	const struct cfg_key *sub; /* CFG_SECTION */
	cfg_post_fn post;          /* CFG_SECTION */
	cfg_release_fn release;    /* CFG_CUSTOM, CFG_SECTION: NULL when they allocate nothing */
	const char *help;
};

/* Where a table is applied: name prefixes every message ("" = the top level); hint, when not NULL,
 * is appended to unknown-key messages (e.g. which keys a parser type takes). */
struct cfg_section {
	const char *name;
	const char *hint;
};

/* config_msg.c: messages of a load: positions, redaction, suppression. The lowest file of config/. */

/* A growing string; on allocation failure it stays NULL-safe and says so. */
struct cfg_out {
	char *s;
	size_t len, cap;
	bool oom;
};

void cfg_out_add(struct cfg_out *o, const char *p, size_t n);

/* Messages: an error at a node whose ${env:} reference failed is dropped (told once already). */
void cfg_error(struct cfg_loader *ld, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cfg_warning(struct cfg_loader *ld, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cfg_msgs_free(struct cfg_msgs *m);
/* Sorts m by position and appends its texts to *list (taking them over). Returns 0 or -ENOMEM. */
int cfg_msgs_move(struct cfg_msgs *m, char ***list, size_t *n);

/* Positions: the position of node, and how its value's bytes map to columns. */
void cfg_pos(const yaml_node_t *node, struct config_pos *ret);
/* Whether byte col of the scalar node's value maps to a column of the file; *ret_add is then the
 * offset to add to the node's column. */
bool cfg_template_col(const yaml_node_t *node, const char *value, size_t col, size_t *ret_add);

/* Redaction: v (a value the environment gave) is redacted from every later message. */
void cfg_redact_add(struct cfg_loader *ld, const char *v);
/* s with every redacted value (ld->redact) that stands alone (no letter, digit or _ on either side)
 * replaced by "<redacted>"; a new string, or NULL when out of memory. */
char *cfg_redact(const struct cfg_loader *ld, const char *s);
/* Frees the redaction list and the failed-reference list. */
void cfg_redact_free(struct cfg_loader *ld);

/* Suppression: node is a value whose reference could not be substituted (reported already). */
void cfg_env_mark_failed(struct cfg_loader *ld, const yaml_node_t *node);
bool cfg_env_failed(const struct cfg_loader *ld, const yaml_node_t *node);

/* config_schema.c: nodes */
yaml_node_t *cfg_node(struct cfg_loader *ld, int index);
bool cfg_is_null(const yaml_node_t *node);
const char *cfg_kind(const yaml_node_t *node);
/* The scalar's text, or NULL after reporting "NAME: expected WHAT, got a mapping" (or a NUL byte). */
const char *cfg_scalar(struct cfg_loader *ld, const yaml_node_t *node, const char *name,
		       const char *what);
char *cfg_strdup(struct cfg_loader *ld, const char *s);
/* Adds one to a growing array of elem-size items; returns the new item (zeroed) or NULL on OOM. The
 * array must only ever grow through cfg_grow (its capacity is the next power of two of *n). */
void *cfg_grow(struct cfg_loader *ld, void *arrayp, size_t *n, size_t elem);
/* The value node of the key named key in keys, from an apply's nodes array. */
yaml_node_t *cfg_find(const struct cfg_key *keys, yaml_node_t *const *nodes, const char *key);

/* config_schema.c: the engine. Applies keys to map (NULL or a YAML null: every key takes its
 * default) into base. ret_nodes, when not NULL, receives the value node of each key. */
void cfg_apply(struct cfg_loader *ld, const struct cfg_key *keys, yaml_node_t *map, void *base,
	       const struct cfg_section *sec, yaml_node_t **ret_nodes);
void cfg_strv_free(char **v, size_t n);
/* Frees what cfg_apply (and the keys' hooks) put into base, through the same table: strings (a
 * CFG_SECRET one wiped first), string lists, nested sections, and each key's release. base itself
 * is the caller's. */
void cfg_free(const struct cfg_key *keys, void *base);

/* config_schema.c: checks shared by the tables */
int cfg_check_abspath(struct cfg_loader *ld, const yaml_node_t *node, const char *name,
		      const char *value);
int cfg_check_nonempty(struct cfg_loader *ld, const yaml_node_t *node, const char *name,
		       const char *value);

/* config_input.c: the inputs sequence, base a struct config */
void cfg_parse_inputs(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name);
void cfg_release_inputs(void *base);
/* config_parser.c: an input's parser mapping, base a struct config_input */
void cfg_parse_parser(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name);
void cfg_release_parser(void *base);

/* config.c: reads path (ld->path) into doc and substitutes its ${env:} references. Returns 0, -EINVAL
 * (reported: a syntax error, an unset variable), or another negative errno when the file cannot be
 * read (reported too). doc is only to be deleted on 0 and -EINVAL from a substitution
 * (*ret_have_doc says whether it holds a document). */
int cfg_read_document(struct cfg_loader *ld, yaml_document_t *doc, bool *ret_have_doc);

/* config_env.c: substitutes ${env:NAME} and ${env:NAME:-default} in every scalar of the document that
 * is not a mapping key; an unset variable without a default is an error at its position. What the
 * environment gives is added to ld->redact (cfg_redact_add). Returns 0 or -EINVAL (reported). */
int cfg_env_substitute(struct cfg_loader *ld);

/* config_include.c: `include`, base a struct config: the inputs of every file its globs match. */
void cfg_parse_include(struct cfg_loader *ld, yaml_node_t *node, void *base, const char *name);

/* config_input.c: inputs from the sequence node of the current file are appended to c->inputs; an
 * input name already used in an earlier file is reported at this one. */
void cfg_append_inputs(struct cfg_loader *ld, yaml_node_t *node, struct config *c, const char *name);

/* config_check.c: a YAML mapping to JSON text (plugin options), see there for the scalar rules. */
char *cfg_options_json(struct cfg_loader *ld, yaml_node_t *node, const char *name);
/* config_check.c: a regex checked with PCRE2 (parser_check_regex); reports at node and returns -EINVAL
 * when invalid. */
int cfg_check_regex(struct cfg_loader *ld, const yaml_node_t *node, const char *name, const char *pattern);
/* config_check.c: a template checked with template_compile(); reports at node with the column of the
 * problem inside the scalar when it can be mapped. */
int cfg_check_template(struct cfg_loader *ld, const yaml_node_t *node, const char *name,
		       const char *value);

#endif
