/* Loading parser plugins. A plugin is code the agent runs with its own privileges (often root), so the
 * file must be one that only root or the agent's own user could have written: the same rule sshd and
 * sudo apply to their configuration. The checks run on the path as dlopen() will resolve it (stat
 * follows symlinks, as dlopen does). A build without dlopen (ONSIDE_NO_DLOPEN: the portable, static
 * binary) refuses every plugin with a message that says where plugins do work. */
#include "parser.h"

#include <errno.h>
#include <stdio.h>

#ifdef ONSIDE_NO_DLOPEN

int plugin_load(const char *path, const struct onside_parser_ops **ret_ops, void **ret_handle,
		char *err, size_t errlen)
{
	(void)ret_ops;
	(void)ret_handle;
	snprintf(err, errlen, "plugin %s: this onside-agent is the portable, statically linked build, which "
		 "cannot load parser plugins; to use a plugin, install the native package built for this "
		 "distribution instead (the built-in parsers json, regex, logfmt and csv work in both)", path);
	return -ENOTSUP;
}

void plugin_unload(void *handle)
{
	(void)handle;
}

#else

#include <dlfcn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

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

	if (ops->abi != ONSIDE_PARSER_ABI) {
		snprintf(err, errlen, "plugin %s: has parser ABI %lu, this agent needs %lu", path,
			 (unsigned long)ops->abi, (unsigned long)ONSIDE_PARSER_ABI);
		return -ENOEXEC;
	}
	if (!ops->create)
		missing = "create";
	else if (!ops->parse)
		missing = "parse";
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

#endif /* ONSIDE_NO_DLOPEN */
