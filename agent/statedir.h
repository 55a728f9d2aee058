/* The state directory's own safety: one agent per directory, a directory nobody else can write, and
 * no temporary files left behind by agents that died. */
#ifndef ONSIDE_STATEDIR_H
#define ONSIDE_STATEDIR_H

#include <stddef.h>

#define STATEDIR_LOCK_FILE "agent.lock"

/* For `run`, once the directory exists: checks its owner and mode (statedir_check), takes an
 * exclusive flock on dir/agent.lock (writing this process's id into it) and keeps it for the rest of
 * the process's life, then removes the temporaries of processes that are gone. Logs what it refuses
 * and what it removes. Returns 0 (also when this process holds the lock already), -EBUSY when another
 * process holds it, -EPERM for an unsafe directory, or another negative errno. */
int statedir_claim(const char *dir);

/* Whether an agent runs on dir, for `status`: a shared flock on dir/agent.lock, taken without waiting
 * and let go at once, succeeds only when no `run` holds it. Returns 1 (running: *ret_pid is the id the
 * holder wrote, 0 when none is readable yet), 0 (not running, also when there is no lock file), or a
 * negative errno when it cannot be told (the lock file cannot be opened). */
int statedir_query(const char *dir, long *ret_pid);

/* The ownership rule alone, for `check`: dir must not be writable by group or others, and must belong
 * to this process's user or to root (not checked when this process is root: an administrator's
 * `check` cannot know the service's user; `run` checks it). A directory that does not exist yet
 * passes (`run` creates it). Returns 0, or -EPERM / another negative errno with a message in err. */
int statedir_check(const char *dir, char *err, size_t errlen);

#endif
