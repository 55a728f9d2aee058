/* The configuration loader: the input is the YAML file. It is written to one temporary file per
 * process (created on first use, removed at exit) and loaded without CONFIG_NEED_CREDENTIALS, so a
 * password source is checked but never required. A plugin path in the input is never loaded: the
 * loader hook refuses every path before any check or dlopen() (an input naming some library would
 * otherwise run its constructors, as root if the fuzzer runs as root). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "parser.h"

static char path[4096];
static int fd = -1;

static const struct onside_parser_ops *refuse_all(const char *plugin_path, char *err, size_t errlen)
{
	(void)plugin_path;
	snprintf(err, errlen, "loading plugins is off in this fuzz target");
	return NULL;
}

static void remove_file(void)
{
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
}

static int write_input(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (fd < 0) {
		const char *tmp = getenv("TMPDIR");

		snprintf(path, sizeof(path), "%s/onside-fuzz-config-%s.yaml", tmp && *tmp ? tmp : "/tmp",
			 MKTEMP_SUFFIX);
		fd = mkstemps(path, 5);
		if (fd < 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			abort();
		}
		atexit(remove_file);
	}
	if (ftruncate(fd, 0) < 0)
		return -errno;
	while (done < size) {
		ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_diag diag = { 0 };
	struct config *c = NULL;
	int r;

	plugin_set_loader(refuse_all);
	if (size > FUZZ_MAX_INPUT || write_input(data, size) < 0)
		return 0;
	r = config_load(path, 0, &c, &diag);
	/* the contract: success sets *ret, failure explains itself and leaves *ret alone */
	if ((r == 0) != (c != NULL) || (r < 0 && diag.nerrors == 0))
		abort();
	config_free(c);
	config_diag_free(&diag);
	return 0;
}
