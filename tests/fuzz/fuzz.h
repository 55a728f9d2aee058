/* Shared by the fuzz targets: the libFuzzer entry point, and the parser driver the four parser
 * targets use. Each target is one fuzz_<name>.c; replay_main.c gives them a main() for gcc builds. */
#ifndef ONSIDE_FUZZ_H
#define ONSIDE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Inputs beyond this are ignored: nothing the targets reach needs more to show a bug, and long
 * inputs only slow the search down. */
#define FUZZ_MAX_INPUT (256 * 1024)

/* The six placeholder characters mkstemps/mkdtemp replace, spelled without a literal run of them. */
#define MKTEMP_SUFFIX ((const char[]){ 'X', 'X', 'X', 'X', 'X', 'X', '\0' })

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parser targets. data[0] picks one of the nopts option texts; the value nopts (modulo nopts + 1)
 * instead takes the options from the first line of the rest. The remaining bytes are split at LF
 * (one CR before it dropped, as the tailer does) and every line goes through one parser instance
 * with its source (the file's first line and the line's offset; a line of one form feed starts
 * another file), so the csv header of each file and the cache of it are exercised too; a line the
 * parser does not match is also explained, as a rejection would be. Every field handed back is
 * read byte by byte, and a field whose type promises JSON text must be JSON text: anything else
 * aborts, because the JSON writer copies such values verbatim into the request body. */
int fuzz_parser(const char *type, const char *const *opts, size_t nopts, const uint8_t *data,
		size_t size);

#endif
