/* Parser plugins: loading them, and checking what they hand back.
 *
 * A plugin is code the agent runs with its own privileges (often root), so the file must be one that
 * only root or the agent's own user could have written: the same rule sshd and sudo apply to their
 * configuration. The checks run on the path as dlopen() will resolve it (stat follows symlinks, as
 * dlopen does).
 *
 * Its values are checked as they are emitted: the JSON writer copies a value typed NUMBER, BOOL, NULL
 * or JSON into the request as it is, so a plugin that breaks the ABI (raw text typed NUMBER) could
 * otherwise add members to the event or break the whole request. Built-in parsers emit straight into
 * the record and pay nothing for this. A build without dlopen (ONSIDE_NO_DLOPEN: the portable, static
 * binary) refuses every plugin with a message that says where plugins do work. */
#include "plugin.h"
#include "record.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "hex.h"

/* As deep as the json parser reads. */
#define JSON_VALUE_MAX_DEPTH 64

#ifdef ONSIDE_NO_DLOPEN

int plugin_load(const char *path, const struct onside_parser_ops **ret_ops, void **ret_handle,
		char *err, size_t errlen)
{
	(void)ret_ops;
	(void)ret_handle;
	snprintf(err, errlen, "plugin %s: this onside-agent is the portable, statically linked build, which "
		 "cannot load parser plugins; to use a plugin, install the native package built for this "
		 "distribution instead (the built-in parsers work in both)", path);
	return -ENOTSUP;
}

void plugin_unload(void *handle)
{
	(void)handle;
}

void plugin_set_loader(plugin_loader_fn fn)
{
	(void)fn;
}

#else

#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static plugin_loader_fn test_loader;

static int check_file(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (path[0] != '/') {
		snprintf(err, errlen, "plugin %s: path is not absolute", path);
		return -EINVAL;
	}
	if (stat(path, &st) < 0) {
		int e = errno;

		snprintf(err, errlen, "plugin %s: cannot stat: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "plugin %s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "plugin %s: writable by group or others (mode %04o)", path,
			 (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "plugin %s: owned by uid %lu, neither root nor the agent's uid %lu",
			 path, (unsigned long)st.st_uid, (unsigned long)geteuid());
		return -EPERM;
	}
	return 0;
}

static int check_ops(const char *path, const struct onside_parser_ops *ops, char *err, size_t errlen)
{
	const char *missing = NULL;

	if (ops->abi < ONSIDE_PARSER_ABI_MIN || ops->abi > ONSIDE_PARSER_ABI) {
		if (ONSIDE_PARSER_ABI_MIN == ONSIDE_PARSER_ABI)
			snprintf(err, errlen, "plugin %s: has parser ABI %lu, this agent needs %lu", path,
				 (unsigned long)ops->abi, (unsigned long)ONSIDE_PARSER_ABI);
		else
			snprintf(err, errlen, "plugin %s: has parser ABI %lu, this agent needs %lu to %lu", path,
				 (unsigned long)ops->abi, (unsigned long)ONSIDE_PARSER_ABI_MIN,
				 (unsigned long)ONSIDE_PARSER_ABI);
		return -ENOEXEC;
	}
	/* parse_source exists only from abi 2 on: a version 1 struct may end before it */
	if (!ops->create)
		missing = "create";
	else if (!ops->parse && (ops->abi < 2 || !ops->parse_source))
		missing = ops->abi < 2 ? "parse" : "parse or parse_source";
	else if (!ops->destroy)
		missing = "destroy";
	if (missing) {
		snprintf(err, errlen, "plugin %s: %s has no %s function", path, ONSIDE_PARSER_SYMBOL,
			 missing);
		return -ENOEXEC;
	}
	return 0;
}

int plugin_load(const char *path, const struct onside_parser_ops **ret_ops, void **ret_handle,
		char *err, size_t errlen)
{
	const struct onside_parser_ops *ops;
	void *handle;
	int r;

	if (test_loader) {
		if (!(ops = test_loader(path, err, errlen)))
			return -EPERM;
		if ((r = check_ops(path, ops, err, errlen)) < 0)
			return r;
		*ret_ops = ops;
		*ret_handle = NULL;
		return 0;
	}
	r = check_file(path, err, errlen);
	if (r < 0)
		return r;
	/* RTLD_NOW: an unresolved symbol fails here, with a message, instead of killing the agent at
	 * the first line. RTLD_LOCAL: two plugins may define the same helper names. */
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		const char *why = dlerror();

		snprintf(err, errlen, "plugin %s: cannot load: %s", path, why ? why : "unknown error");
		return -ENOEXEC;
	}
	dlerror();
	ops = dlsym(handle, ONSIDE_PARSER_SYMBOL);
	if (!ops) {
		snprintf(err, errlen, "plugin %s: does not export %s", path, ONSIDE_PARSER_SYMBOL);
		dlclose(handle);
		return -ENOEXEC;
	}
	r = check_ops(path, ops, err, errlen);
	if (r < 0) {
		dlclose(handle);
		return r;
	}
	*ret_ops = ops;
	*ret_handle = handle;
	return 0;
}

void plugin_unload(void *handle)
{
	if (handle)
		dlclose(handle);
}

void plugin_set_loader(plugin_loader_fn fn)
{
	test_loader = fn;
}

#endif /* ONSIDE_NO_DLOPEN */

/* ---- values (RFC 8259, strictly: the API refuses anything else) ---- */

struct scan {
	const unsigned char *p, *e;
	size_t members; /* object members seen, at any depth */
	bool too_deep;
	bool nul_key; /* a key holds \u0000 */
};

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static void skip_ws(struct scan *s)
{
	while (s->p < s->e && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool scan_digits(struct scan *s)
{
	if (s->p >= s->e || !is_digit(*s->p))
		return false;
	while (s->p < s->e && is_digit(*s->p))
		s->p++;
	return true;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool scan_number(struct scan *s)
{
	if (s->p < s->e && *s->p == '-')
		s->p++;
	if (s->p < s->e && *s->p == '0')
		s->p++;
	else if (!scan_digits(s))
		return false;
	if (s->p < s->e && *s->p == '.') {
		s->p++;
		if (!scan_digits(s))
			return false;
	}
	if (s->p < s->e && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->e && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!scan_digits(s))
			return false;
	}
	return true;
}

/* The XXXX of \uXXXX at s->p; -1 when it is not four hex digits. */
static long scan_hex4(struct scan *s)
{
	long v;

	if (s->e - s->p < 4)
		return -1;
	v = hex4((const char *)s->p);
	s->p += 4;
	return v;
}

/* An escape after its backslash; *ret_nul tells \u0000. A surrogate must come as a pair: a lone one
 * stands for no character, like the invalid UTF-8 the writer refuses. */
static bool scan_escape(struct scan *s, bool *ret_nul)
{
	long u;

	if (s->p >= s->e)
		return false;
	if (*s->p != 'u') {
		if (!memchr("\"\\/bfnrt", *s->p, 8))
			return false;
		s->p++;
		return true;
	}
	s->p++;
	if ((u = scan_hex4(s)) < 0 || (u >= 0xdc00 && u <= 0xdfff))
		return false;
	*ret_nul = u == 0;
	if (u < 0xd800 || u > 0xdbff)
		return true;
	if (s->e - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
		return false;
	s->p += 2;
	u = scan_hex4(s);
	return u >= 0xdc00 && u <= 0xdfff;
}

static bool scan_string(struct scan *s, bool key)
{
	bool nul = false;

	s->p++; /* the opening quote */
	while (s->p < s->e) {
		unsigned char c = *s->p++;

		if (c == '"')
			return true;
		if (c < 0x20 || (c == '\\' && !scan_escape(s, &nul)))
			return false;
		if (nul && key)
			s->nul_key = true;
	}
	return false;
}

static bool scan_literal(struct scan *s, const char *lit, size_t n)
{
	if ((size_t)(s->e - s->p) < n || memcmp(s->p, lit, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool scan_value(struct scan *s, int depth);

/* An object or an array at s->p: members (or elements) separated by ',' up to close. */
static bool scan_container(struct scan *s, int depth, unsigned char close)
{
	if (depth >= JSON_VALUE_MAX_DEPTH) {
		s->too_deep = true;
		return false;
	}
	s->p++;
	skip_ws(s);
	if (s->p < s->e && *s->p == close) {
		s->p++;
		return true;
	}
	for (;;) {
		if (close == '}') {
			if (s->p >= s->e || *s->p != '"' || !scan_string(s, true))
				return false;
			skip_ws(s);
			if (s->p >= s->e || *s->p++ != ':')
				return false;
			skip_ws(s);
			s->members++;
		}
		if (!scan_value(s, depth + 1))
			return false;
		skip_ws(s);
		if (s->p < s->e && *s->p == ',') {
			s->p++;
			skip_ws(s);
			continue;
		}
		return s->p < s->e && *s->p++ == close;
	}
}

static bool scan_value(struct scan *s, int depth)
{
	if (s->p >= s->e)
		return false;
	switch (*s->p) {
	case '{':
		return scan_container(s, depth, '}');
	case '[':
		return scan_container(s, depth, ']');
	case '"':
		return scan_string(s, false);
	case 't':
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		return scan_number(s);
	}
}

/* Object members in a json-c tree, at any depth. */
static size_t tree_members(struct json_object *o)
{
	size_t n = 0, i, len;

	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, val) {
			(void)key;
			n += 1 + tree_members(val);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		len = json_object_array_length(o);
		for (i = 0; i < len; i++)
			n += tree_members(json_object_array_get_idx(o, i));
	}
	return n;
}

/* json-c keeps one member of each key (comparing keys decoded), so fewer members in its tree than in
 * the text means a key came twice: the API refuses that. The text is valid JSON already, and no key
 * holds a NUL (json-c cuts keys there, which would make different keys look alike). */
static bool has_duplicate_key(const char *text, size_t len, size_t members)
{
	struct json_tokener *tok;
	struct json_object *o;
	bool dup = true;

	if (members < 2)
		return false;
	if (len > INT32_MAX || !(tok = json_tokener_new_ex(JSON_VALUE_MAX_DEPTH + 1)))
		return true; /* cannot tell: refuse rather than risk the whole request */
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o)
		dup = tree_members(o) != members;
	json_object_put(o);
	json_tokener_free(tok);
	return dup;
}

/* NULL when value is what type says, else why not (the end of a reason, see parser_parse). */
static const char *value_problem(const char *value, size_t len, int type)
{
	struct scan s = { (const unsigned char *)value, (const unsigned char *)value + len, 0, false, false };
	bool ok;

	switch (type) {
	case ONSIDE_T_NUMBER:
		return scan_number(&s) && s.p == s.e ? NULL : "is not a JSON number";
	case ONSIDE_T_BOOL:
		return (len == 4 && !memcmp(value, "true", 4)) || (len == 5 && !memcmp(value, "false", 5)) ?
			       NULL : "is not true or false";
	case ONSIDE_T_NULL:
		return len == 4 && !memcmp(value, "null", 4) ? NULL : "is not null";
	case ONSIDE_T_JSON:
		skip_ws(&s);
		ok = s.p < s.e && (*s.p == '{' || *s.p == '[') && scan_value(&s, 0);
		skip_ws(&s);
		if (s.too_deep)
			return "is nested too deeply";
		if (!ok || s.p != s.e)
			return "is not a JSON object or array";
		if (s.nul_key)
			return "has a NUL character in a key";
		return has_duplicate_key(value, len, s.members) ? "has a duplicate key" : NULL;
	default:
		return NULL; /* a string, or a type record_emit turns into one */
	}
}

int plugin_emit(void *sink, const char *name, size_t name_len, const char *value, size_t value_len,
		int type)
{
	struct record *r = sink;
	const char *why;

	/* refused already: a plugin that goes on after being told to stop adds nothing more */
	if (r->invalid)
		return 1;
	if (!name)
		name = "", name_len = 0;
	if (!value)
		value = "", value_len = 0;
	why = value_problem(value, value_len, type);
	if (why) {
		r->invalid = why;
		r->invalid_field = (struct field){ name, name_len, value, value_len, type };
		return 1;
	}
	return record_emit(sink, name, name_len, value, value_len, type);
}
