/* `check`: what the configuration points at, tried as the user the service runs as. An administrator
 * runs `check` as root, for whom every file opens; the packaged unit runs the agent as the user
 * onside-agent (with the supplementary group adm), for whom a password file left root:root 0600 or a
 * log only root can read does not. So when run as root and that user exists, the tries run in a child
 * process that has become that user: the configuration and the files it includes, the password file,
 * ca_file and plugins must be readable, and the state directory writable (errors: `run` could not
 * start); each file the inputs match now must be readable (warnings: `run` keeps trying them). Run as
 * any other user, the tries run as that user. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "statedir.h"
#include "tail.h" /* tail_excluded */

#define SERVICE_USER "onside-agent"
#define SERVICE_GROUP "adm" /* the unit's SupplementaryGroups= */
#define GROUPS_MAX 256

/* Files the inputs match now, collected before the child changes user (so that a directory the user
 * cannot search shows as a file it cannot open, not as a glob that matches nothing). */
struct matched {
	char **path;
	size_t *input;
	size_t n;
};

struct access_ctx {
	const struct config *cfg;
	const char *who; /* "user onside-agent", "this user" */
	char group_fix[160]; /* for a file the agent reads and must not write: "make it root:GROUP 0640" */
	struct matched m;
	int errors;
};

/* err: an errno of the try to read, or -1 for a write that access(2) refused. fix: what to do, or
 * NULL. */
static void problem(struct access_ctx *a, const char *file, bool error, const char *what, const char *path,
		    int err, const char *fix)
{
	fprintf(stderr, "%s: %s%s: %s cannot %s %s: %s%s%s\n", file, error ? "" : "warning: ", what, a->who,
		err == -1 ? "write" : "read", path, strerror(err == -1 ? EACCES : err), fix ? "; " : "", fix ? fix : "");
	if (error)
		a->errors++;
}

static int try_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* The state directory: writable (or creatable, when it does not exist yet), and the files `run`
 * appends to or locks in it writable too (one left by a `run` as root would stop the service). */
static void check_state_dir(struct access_ctx *a)
{
	static const char *const files[] = { STATEDIR_LOCK_FILE, "dead-letter.jsonl", "checkpoint.json" };
	const char *dir = a->cfg->agent.state_dir;
	char path[4096], *copy;
	struct stat st;

	if (stat(dir, &st) < 0 && errno == ENOENT) {
		if (!(copy = strdup(dir)))
			return;
		snprintf(path, sizeof(path), "%s", dirname(copy));
		free(copy);
		if (access(path, W_OK | X_OK) < 0)
			problem(a, a->cfg->path, true, "agent.state_dir", path, -1, NULL);
		return;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		problem(a, a->cfg->path, true, "agent.state_dir", dir, errno == EACCES ? -1 : errno,
			"it must belong to the service's user (chown)");
		return;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (access(path, F_OK) == 0 && access(path, R_OK | W_OK) < 0)
			problem(a, a->cfg->path, true, "agent.state_dir", path, -1,
				"left by an agent run as another user? chown it to the service's user");
	}
}

static void check_files(struct access_ctx *a)
{
	const struct config *c = a->cfg;
	char what[160];
	int e;

	if ((e = try_read(c->path)))
		problem(a, a->cfg->path, true, "the configuration", c->path, e, a->group_fix);
	for (size_t i = 0; i < c->ninputs; i++) {
		if (c->inputs[i].source && strcmp(c->inputs[i].source, c->path) &&
		    (i == 0 || strcmp(c->inputs[i].source, c->inputs[i - 1].source)) && (e = try_read(c->inputs[i].source)))
			problem(a, a->cfg->path, true, "include", c->inputs[i].source, e, a->group_fix);
		if (c->inputs[i].parser.plugin_path && (e = try_read(c->inputs[i].parser.plugin_path)))
			problem(a, c->inputs[i].source, true, "parser.path", c->inputs[i].parser.plugin_path, e, NULL);
	}
	if (c->endpoint.password_file && (e = try_read(c->endpoint.password_file)))
		problem(a, a->cfg->path, true, "endpoint.password_file", c->endpoint.password_file, e, a->group_fix);
	if (c->endpoint.ca_file && (e = try_read(c->endpoint.ca_file)))
		problem(a, a->cfg->path, true, "endpoint.ca_file", c->endpoint.ca_file, e, NULL);
	check_state_dir(a);
	for (size_t k = 0; k < a->m.n; k++) {
		if (!(e = try_read(a->m.path[k])))
			continue;
		snprintf(what, sizeof(what), "inputs[%zu] (%s)", config_input_index(c, a->m.input[k]),
			 c->inputs[a->m.input[k]].name);
		problem(a, c->inputs[a->m.input[k]].source, false, what, a->m.path[k], e,
			"the service reads logs as its user and the group " SERVICE_GROUP);
	}
}

static int matched_add(struct matched *m, const char *path, size_t input)
{
	char **p = realloc(m->path, (m->n + 1) * sizeof(*p));
	size_t *in;

	if (p)
		m->path = p;
	in = p ? realloc(m->input, (m->n + 1) * sizeof(*in)) : NULL;
	if (in)
		m->input = in;
	if (!p || !in || !(m->path[m->n] = strdup(path)))
		return -ENOMEM;
	m->input[m->n++] = input;
	return 0;
}

static int collect(const struct config *c, struct matched *m)
{
	int r = 0;

	for (size_t i = 0; i < c->ninputs; i++) {
		for (size_t k = 0; k < c->inputs[i].npaths && r == 0; k++) {
			glob_t g;
			struct stat st;

			if (glob(c->inputs[i].paths[k], 0, NULL, &g) != 0)
				continue;
			for (size_t j = 0; j < g.gl_pathc && r == 0; j++)
				if (!tail_excluded(&c->inputs[i], g.gl_pathv[j]) && stat(g.gl_pathv[j], &st) == 0 &&
				    S_ISREG(st.st_mode))
					r = matched_add(m, g.gl_pathv[j], i);
			globfree(&g);
		}
	}
	return r;
}

/* In the coverage build (scripts/coverage.sh defines ONSIDE_COVERAGE): the child's counts are written
 * before _exit, which skips the exit handlers that write them, and as root, since the service's user
 * cannot write the build's count files: there the child keeps root as its saved user (its real and
 * effective users, which access(2) and open(2) go by, are the service's user as in other builds) and
 * takes it back only to write the counts. */
#ifdef ONSIDE_COVERAGE
extern void __gcov_dump(void);
#define SET_USER(uid) setresuid((uid), (uid), 0)
#define CHILD_EXIT(status) ((void)!setresuid(0, 0, 0), __gcov_dump(), _exit(status))
#else
#define SET_USER(uid) setuid(uid)
#define CHILD_EXIT(status) _exit(status)
#endif

/* Becomes pw's user, with its groups and the unit's supplementary group. Returns 0 or -errno. */
static int become(const struct passwd *pw)
{
	gid_t groups[GROUPS_MAX + 1];
	int n = GROUPS_MAX;
	struct group *adm = getgrnam(SERVICE_GROUP);

	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		n = GROUPS_MAX;
	if (adm)
		groups[n++] = adm->gr_gid;
	if (setgroups((size_t)n, groups) < 0 || setgid(pw->pw_gid) < 0 || SET_USER(pw->pw_uid) < 0)
		return -errno;
	return 0;
}

/* The tries in a child process that is pw's user; its exit status is the number of errors (255 when
 * it could not become the user). */
static int as_user(struct access_ctx *a, const struct passwd *pw)
{
	pid_t pid;
	int st = 0;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: cannot check access as %s: %s\n", a->cfg->path, a->who, strerror(errno));
		return 1;
	}
	if (pid == 0) {
		if (become(pw) < 0) {
			fprintf(stderr, "%s: cannot become %s: %s\n", a->cfg->path, a->who, strerror(errno));
			CHILD_EXIT(255);
		}
		check_files(a);
		fflush(stderr);
		CHILD_EXIT(a->errors > 254 ? 254 : a->errors);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int cmd_check_access(const struct config *cfg, char *ret_who, size_t wholen)
{
	/* ONSIDE_TEST_SERVICE_USER: for tests only, another user in the packaged one's place */
	const char *name = getenv("ONSIDE_TEST_SERVICE_USER");
	struct access_ctx a = { .cfg = cfg, .who = "this user" };

	ret_who[0] = '\0';
	snprintf(a.group_fix, sizeof(a.group_fix), "make it readable by this user");
	struct passwd *pw = NULL;
	struct group *gr;
	char who[96];
	int r;

	if (collect(cfg, &a.m) < 0) {
		fprintf(stderr, "%s: cannot check access: out of memory\n", cfg->path);
		r = 1;
	} else if (geteuid() == 0 && (pw = getpwnam(name && *name ? name : SERVICE_USER)) && pw->pw_uid != 0) {
		snprintf(who, sizeof(who), "user %s", pw->pw_name);
		snprintf(ret_who, wholen, "%s", who);
		a.who = who;
		gr = getgrgid(pw->pw_gid);
		snprintf(a.group_fix, sizeof(a.group_fix), "make it root:%s 0640 (readable by the service's group)",
			 gr ? gr->gr_name : SERVICE_USER);
		r = as_user(&a, pw);
	} else {
		check_files(&a);
		r = a.errors;
	}
	for (size_t i = 0; i < a.m.n; i++)
		free(a.m.path[i]);
	free(a.m.path);
	free(a.m.input);
	return r;
}
