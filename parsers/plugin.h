/* Parser plugins: loading them (dlopen, with the checks a file run as root deserves) and checking the
 * values they emit before they reach the request. */
#ifndef ONSIDE_PLUGIN_H
#define ONSIDE_PLUGIN_H

#include <stddef.h>

#include "onside_parser.h"

/* Plugin loading: refuses a file writable by group/others or not owned by root or the current user,
 * a missing symbol, or a mismatched abi, with a message naming the file and the reason. */
int plugin_load(const char *path, const struct onside_parser_ops **ret_ops, void **ret_handle,
		char *err, size_t errlen);
void plugin_unload(void *handle);

/* The onside_emit_fn a plugin's parse() gets (sink is a struct record *): a value typed NUMBER, BOOL,
 * NULL or JSON must be what the type says, since the JSON writer copies such values into the request
 * as they are. The first one that is not is kept in the record (invalid) and refused, and so is
 * everything after it; parser_parse then rejects the line. Built-in parsers emit to record_emit. */
int plugin_emit(void *sink, const char *name, size_t name_len, const char *value, size_t value_len,
		int type);

/* For tests only: while set, plugin_load takes a plugin's ops from fn instead of checking and
 * dlopen()ing the file (fn returns NULL with a message in err to refuse the path; the abi and the
 * functions are still checked, and the handle is NULL). The config fuzzer refuses every path, so that
 * no input makes it load a library (it may run as root); the plugin fuzzer hands out a plugin built
 * into it. NULL restores dlopen(). */
typedef const struct onside_parser_ops *(*plugin_loader_fn)(const char *path, char *err, size_t errlen);
void plugin_set_loader(plugin_loader_fn fn);

#endif
