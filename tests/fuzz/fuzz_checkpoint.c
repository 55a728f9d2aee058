/* The checkpoint reader: the input is checkpoint.json in a state directory made once per process
 * (under $TMPDIR, else /dev/shm so that the fsyncs cost nothing, else /tmp) and emptied after every
 * input, because a damaged file is renamed aside. What loads must save and load again unchanged:
 * the agent rewrites the file it read on its first flush. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fuzz.h"

static char dir[4096];

static void empty_dir(void)
{
	char path[sizeof(dir) + 300];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	closedir(d);
}

static void remove_dir(void)
{
	empty_dir();
	rmdir(dir);
}

static void make_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;

	if (!tmp || !*tmp)
		tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
			      ? "/dev/shm"
			      : "/tmp";
	snprintf(dir, sizeof(dir), "%s/onside-fuzz-checkpoint-%s", tmp, MKTEMP_SUFFIX);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		abort();
	}
	atexit(remove_dir);
}

static int write_input(const uint8_t *data, size_t size)
{
	char path[sizeof(dir) + 32];
	FILE *f;
	int r = 0;

	snprintf(path, sizeof(path), "%s/" CHECKPOINT_FILE, dir);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if (size && fwrite(data, 1, size, f) != size)
		r = -EIO;
	if (fclose(f) != 0 && !r)
		r = -EIO;
	return r;
}

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void check_same(const struct checkpoint *a, const struct checkpoint *b)
{
	size_t i;

	if (a->n != b->n)
		abort();
	for (i = 0; i < a->n; i++) {
		const struct checkpoint_entry *x = &a->e[i], *y = &b->e[i];

		if (!str_eq(x->path, y->path) || !str_eq(x->input, y->input) ||
		    strcmp(x->fingerprint, y->fingerprint) || x->dev != y->dev || x->ino != y->ino ||
		    x->offset != y->offset || strcmp(x->check, y->check) || x->size != y->size ||
		    x->last_delivery != y->last_delivery || !str_eq(x->last_error, y->last_error) ||
		    x->updated != y->updated)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct checkpoint *cp = NULL, *again = NULL;
	char err[1024];
	int r;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (!dir[0])
		make_dir();
	empty_dir();
	if (write_input(data, size) < 0)
		return 0;
	r = checkpoint_load(dir, &cp, err, sizeof(err));
	if (r == 0) {
		if (!cp || checkpoint_save(dir, cp, err, sizeof(err)) != 0 ||
		    checkpoint_load(dir, &again, err, sizeof(err)) != 0)
			abort();
		check_same(cp, again);
	} else if (r == -EBADMSG) {
		if (!cp || cp->n != 0)
			abort();
	} else if (cp) {
		abort();
	}
	checkpoint_free(again);
	checkpoint_free(cp);
	empty_dir();
	return 0;
}
