/* main() for the fuzz targets when they are built without libFuzzer (gcc, the normal build): feeds
 * each file named on the command line, or each regular file of a directory named there, to
 * LLVMFuzzerTestOneInput once. The seed corpus and every kept crash input then replay as ordinary
 * CTest tests, under the sanitizers when the build has them (the shape of systemd's fuzz-main.c). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data;
	size_t n;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	/* a buffer of exactly the input's size, so ASan sees any read past its end */
	data = malloc(FUZZ_MAX_INPUT + 1);
	if (!data) {
		fclose(f);
		return -1;
	}
	n = fread(data, 1, FUZZ_MAX_INPUT + 1, f);
	fclose(f);
	if (n > 0) {
		unsigned char *exact = realloc(data, n);

		if (exact)
			data = exact;
	}
	printf("%s (%zu bytes)\n", path, n);
	fflush(stdout);
	(void)LLVMFuzzerTestOneInput(data, n);
	free(data);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files in name order, so a failure replays the same way on every machine. */
static int replay_dir(const char *dir, int *count)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);
	int r = 0;

	if (!d) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));

			if (!more) {
				r = -1;
				break;
			}
			names = more;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (names)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (r == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			r = replay_file(path);
			(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	int count = 0, i;
	struct stat st;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		int r;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			r = replay_dir(argv[i], &count);
		else
			r = replay_file(argv[i]), count++;
		if (r < 0)
			return 1;
	}
	if (count == 0) {
		fprintf(stderr, "no inputs\n");
		return 1;
	}
	printf("%d inputs replayed\n", count);
	return 0;
}
