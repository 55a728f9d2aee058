/* status.json in the state directory: what the running agent knows, for `onside-agent status`. The
 * agent rewrites it atomically together with metrics.prom, from the same view (view.h), so the two
 * always agree. Strings are as `status` shows them (escape_text: valid UTF-8, no control characters,
 * invalid bytes as \xHH, a backslash as \\). Times are unix seconds, 0 for none.
 * {"version":1,"pid":N,"started":T,"written":T,
 *  "delivery":{"last_delivery":T,"failing_since":T,"consecutive_failures":N,"last_status":N,
 *              "last_error":"...","next_retry":T,"behind":N},
 *  "files":[{"path":"...","input":"...","offset":N,"size":N,"oldest_undelivered":T,
 *            "last_delivery":T,"rotated":false,"error":"..."}],
 *  "unreadable":[{"path":"...","input":"...","error":"...","since":T}]} */
#ifndef ONSIDE_STATUSFILE_H
#define ONSIDE_STATUSFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "view.h"

#define STATUSFILE_NAME "status.json"
#define STATUSFILE_VERSION 1

int statusfile_render(struct buf *out, const struct view *v);
/* Renders and atomically replaces state_dir/status.json. Returns 0 or a negative errno. */
int statusfile_write(const char *state_dir, const struct view *v);

/* A status file as read back. Strings are owned (statusfile_free). */
struct statusfile_file {
	char *path, *input, *error; /* error: "" for none */
	uint64_t offset, size;
	int64_t oldest, last_delivery;
	bool rotated;
};

struct statusfile_bad {
	char *path, *input, *error;
	int64_t since;
};

struct statusfile {
	long pid;
	int64_t started, written;
	int64_t last_delivery, failing_since, next_retry;
	uint64_t failures, behind;
	long last_status;
	char *last_error;
	struct statusfile_file *files;
	size_t nfiles;
	struct statusfile_bad *bad;
	size_t nbad;
};

/* Reads state_dir/status.json. Returns 0, -ENOENT when there is none, -EBADMSG when it is not one
 * this agent writes (why says what is wrong), or another negative errno. */
int statusfile_read(const char *state_dir, struct statusfile *ret, char *why, size_t whylen);
void statusfile_free(struct statusfile *s);

#endif
