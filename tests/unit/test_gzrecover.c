/* gzrecover_find (agent/gzrecover.c): a log file rotated and compressed while the agent was stopped is
 * found in the gzip file beside it, and only there: a gzip file is taken only when its content has the
 * lost file's first line and the same bytes before the checkpoint's offset. Anything else (another
 * file's archive, an older generation, a truncated or corrupt archive, a directory or a plain file with
 * a .gz name) must not be read in its place: its lines would go out under the lost file's ids. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "eventid.h"
#include "gzrecover.h"

struct fixture {
	char dir[64];
	char log[128];
	char tmp[128];
	char *content; /* the lost file's content */
	size_t len;
	char fp[65];
};

/* 3000 numbered lines, about 100 KiB: more than one 4 KiB first read, less than one 128 KiB chunk
 * (the bigger test below crosses chunks). */
static char *lines(const char *first, size_t count, size_t *len)
{
	size_t cap = strlen(first) + 1 + count * 40, n = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	n += (size_t)sprintf(s, "%s\n", first);
	for (size_t i = 0; i < count; i++)
		n += (size_t)sprintf(s + n, "line %06zu of the lost file\n", i);
	*len = n;
	return s;
}

static void write_gz(const char *path, const char *p, size_t n)
{
	gzFile g = gzopen(path, "wb");

	assert_non_null(g);
	while (n) {
		unsigned k = n > (1u << 20) ? 1u << 20 : (unsigned)n;
		assert_int_equal(gzwrite(g, p, k), (int)k);
		p += k;
		n -= k;
	}
	assert_int_equal(gzclose(g), Z_OK);
}

static void write_plain(const char *path, const char *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void in_dir(const struct fixture *f, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", f->dir, name);
}

static int setup(void **state)
{
	static const char suffix[] = { 'X', 'X', 'X', 'X', 'X', 'X', '\0' };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_gzrecover.%s", suffix);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->log, sizeof(f->log), "%s/app.log", f->dir);
	snprintf(f->tmp, sizeof(f->tmp), "%s/state", f->dir);
	assert_int_equal(mkdir(f->tmp, 0700), 0);
	f->content = lines("2026-01-01 first line of the lost file", 3000, &f->len);
	eventid_fingerprint(f->content, (size_t)(strchr(f->content, '\n') - f->content), f->fp);
	*state = f;
	return 0;
}

static void rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_rf(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->dir);
	free(f->content);
	free(f);
	return 0;
}

/* The checkpoint's view of content delivered up to offset: its check hash. */
static void check_of(const char *content, uint64_t offset, char ret[65])
{
	uint64_t from = offset > CHECKPOINT_CHECK_BYTES ? offset - CHECKPOINT_CHECK_BYTES : 0;

	eventid_fingerprint(content + from, (size_t)(offset - from), ret);
}

static int find(const struct fixture *f, uint64_t offset, const char *check, int *fd, char **gz)
{
	struct gzrecover_want want = { f->log, f->fp, offset, check };

	*fd = -1;
	*gz = NULL;
	return gzrecover_find(&want, f->tmp, fd, gz);
}

/* fd reads as the lost file where it matters: the first line, and everything from just before the
 * offset to the end. */
static void assert_recovered(const struct fixture *f, int fd, uint64_t offset)
{
	uint64_t from = offset > CHECKPOINT_CHECK_BYTES ? offset - CHECKPOINT_CHECK_BYTES : 0;
	size_t first = (size_t)(strchr(f->content, '\n') - f->content) + 1;
	char *got = malloc(f->len + 1);
	struct stat st;

	assert_non_null(got);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)f->len);
	assert_int_equal(st.st_nlink, 0); /* unlinked: nothing left behind in the state directory */
	assert_int_equal(pread(fd, got, f->len, 0), (ssize_t)f->len);
	assert_memory_equal(got, f->content, first);
	assert_memory_equal(got + from, f->content + from, f->len - (size_t)from);
	free(got);
}

static void expect_none(const struct fixture *f, uint64_t offset)
{
	char check[65], *gz;
	int fd;

	check_of(f->content, offset, check);
	assert_int_equal(find(f, offset, check, &fd, &gz), -ENOENT);
	assert_int_equal(fd, -1);
	assert_null(gz);
}

/* The right archive, unreadable: an error (said in the log), not a silent partial read. */
static void expect_error(const struct fixture *f, uint64_t offset)
{
	char check[65], *gz;
	int fd;

	check_of(f->content, offset, check);
	assert_int_equal(find(f, offset, check, &fd, &gz), -EIO);
	assert_int_equal(fd, -1);
	assert_null(gz);
}

static void test_the_gzip_file_beside_it_is_found(void **state)
{
	struct fixture *f = *state;
	uint64_t offsets[] = { 0, 100, f->len / 2, f->len };
	char path[256], check[65], *gz;
	int fd;

	in_dir(f, "app.log.1.gz", path, sizeof(path));
	write_gz(path, f->content, f->len);
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		check_of(f->content, offsets[i], check);
		assert_int_equal(find(f, offsets[i], check, &fd, &gz), 0);
		assert_string_equal(gz, path);
		assert_recovered(f, fd, offsets[i]);
		close(fd);
		free(gz);
	}
}

static void test_a_file_bigger_than_a_chunk(void **state)
{
	struct fixture *f = *state;
	char path[256], check[65], *gz;
	uint64_t offset;
	int fd;

	free(f->content);
	f->content = lines("2026-01-01 first line of the lost file", 20000, &f->len); /* ~700 KiB */
	offset = f->len - 1000;
	in_dir(f, "app.log-20260101.gz", path, sizeof(path));
	write_gz(path, f->content, f->len);
	check_of(f->content, offset, check);
	assert_int_equal(find(f, offset, check, &fd, &gz), 0);
	assert_string_equal(gz, path);
	assert_recovered(f, fd, offset);
	close(fd);
	free(gz);
}

static void test_another_files_archive_is_not_taken(void **state)
{
	struct fixture *f = *state;
	char path[256], *other;
	size_t n;

	/* same name pattern, other first line (another day's log) */
	other = lines("2025-12-31 first line of another file", 3000, &n);
	in_dir(f, "app.log.2.gz", path, sizeof(path));
	write_gz(path, other, n);
	free(other);
	expect_none(f, 100);
	/* the right content under a name that is not the file's: not looked at */
	in_dir(f, "other.log.1.gz", path, sizeof(path));
	write_gz(path, f->content, f->len);
	in_dir(f, "app.log.1.gz.bak", path, sizeof(path));
	write_gz(path, f->content, f->len);
	in_dir(f, "app.log.gz", path, sizeof(path)); /* name + ".gz" only: nothing between */
	assert_int_equal(mkdir(path, 0700), 0);
	/* a directory with an archive's name */
	in_dir(f, "app.log.9.gz", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);
	expect_none(f, 100);
}

static void test_same_first_line_other_bytes_before_the_offset(void **state)
{
	struct fixture *f = *state;
	char path[256], *changed = malloc(f->len);
	uint64_t offset = f->len / 2;

	/* an older generation: the same first line, but different lines where the agent stopped */
	assert_non_null(changed);
	memcpy(changed, f->content, f->len);
	changed[offset - 10] = 'X';
	in_dir(f, "app.log.1.gz", path, sizeof(path));
	write_gz(path, changed, f->len);
	free(changed);
	expect_none(f, offset);
}

static void test_an_archive_shorter_than_the_offset(void **state)
{
	struct fixture *f = *state;
	char path[256];

	in_dir(f, "app.log.1.gz", path, sizeof(path));
	write_gz(path, f->content, f->len / 2);
	expect_none(f, f->len / 2 + 100);
}

static void test_corrupt_truncated_or_empty_archives_are_not_taken(void **state)
{
	struct fixture *f = *state;
	char path[256], gzpath[256], *bytes;
	struct stat st;
	FILE *fp;

	/* truncated in the middle (logrotate still compressing, say): the start matches, but the lines
	 * after the cut would be lost without a word; an error, which the tailer reports */
	in_dir(f, "full.tmp", gzpath, sizeof(gzpath));
	write_gz(gzpath, f->content, f->len);
	assert_int_equal(stat(gzpath, &st), 0);
	bytes = malloc((size_t)st.st_size);
	assert_non_null(bytes);
	fp = fopen(gzpath, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(bytes, 1, (size_t)st.st_size, fp), (size_t)st.st_size);
	fclose(fp);
	unlink(gzpath);
	in_dir(f, "app.log.1.gz", path, sizeof(path));
	write_plain(path, bytes, (size_t)st.st_size / 2);
	expect_error(f, 100);
	/* garbage in the compressed stream after a valid start: not taken (zlib fails the first read,
	 * which decompresses ahead, so it cannot be told from another file's archive) */
	memset(bytes + st.st_size / 2, 0x5a, 64);
	write_plain(path, bytes, (size_t)st.st_size);
	expect_none(f, 100);
	free(bytes);
	/* empty */
	write_plain(path, "", 0);
	expect_none(f, 0);
	/* unreadable (a symlink to the right archive is not followed either) */
	unlink(path);
	in_dir(f, "real.gz.tmp", gzpath, sizeof(gzpath));
	write_gz(gzpath, f->content, f->len);
	assert_int_equal(symlink(gzpath, path), 0);
	expect_none(f, 100);
}

static void test_what_cannot_be_identified_is_never_guessed(void **state)
{
	struct fixture *f = *state;
	char path[256], check[65], *gz;
	struct gzrecover_want want = { f->log, "", 100, check };
	int fd = -1;

	in_dir(f, "app.log.1.gz", path, sizeof(path));
	write_gz(path, f->content, f->len);
	check_of(f->content, 100, check);
	/* no fingerprint (the file was empty when last seen) */
	assert_int_equal(gzrecover_find(&want, f->tmp, &fd, &gz), -ENOENT);
	/* no directory in the path, a directory that is gone */
	want.fingerprint = f->fp;
	want.path = "app.log";
	assert_int_equal(gzrecover_find(&want, f->tmp, &fd, &gz), -ENOENT);
	want.path = "/nonexistent-dir-of-test-gzrecover/app.log";
	assert_int_equal(gzrecover_find(&want, f->tmp, &fd, &gz), -ENOENT);
	assert_int_equal(fd, -1);
}

static void test_no_room_for_the_copy_is_an_error(void **state)
{
	struct fixture *f = *state;
	char path[256], check[65], *gz = NULL;
	struct gzrecover_want want = { f->log, f->fp, 100, check };
	int fd = -1;

	/* the right archive, but the copy cannot be made (the state directory is not a directory): an
	 * error to report, not "no archive" */
	in_dir(f, "app.log.1.gz", path, sizeof(path));
	write_gz(path, f->content, f->len);
	check_of(f->content, 100, check);
	in_dir(f, "not-a-dir", path, sizeof(path));
	write_plain(path, "x", 1);
	assert_int_equal(gzrecover_find(&want, path, &fd, &gz), -ENOTDIR);
	assert_int_equal(fd, -1);
	assert_null(gz);
}

static void test_the_right_one_among_decoys(void **state)
{
	struct fixture *f = *state;
	char path[256], check[65], *gz, *other, *changed;
	uint64_t offset = f->len / 3;
	size_t n;
	int fd;

	other = lines("2025-12-31 first line of another file", 100, &n);
	in_dir(f, "app.log.3.gz", path, sizeof(path));
	write_gz(path, other, n);
	free(other);
	changed = malloc(f->len);
	assert_non_null(changed);
	memcpy(changed, f->content, f->len);
	changed[offset - 1] = 'X';
	in_dir(f, "app.log.2.gz", path, sizeof(path));
	write_gz(path, changed, f->len);
	free(changed);
	in_dir(f, "app.log.4.gz", path, sizeof(path));
	write_plain(path, "not gzip at all\n", 16);
	in_dir(f, "app.log.1.gz", path, sizeof(path));
	write_gz(path, f->content, f->len);
	check_of(f->content, offset, check);
	assert_int_equal(find(f, offset, check, &fd, &gz), 0);
	assert_string_equal(gz, path);
	assert_recovered(f, fd, offset);
	close(fd);
	free(gz);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_the_gzip_file_beside_it_is_found),
		T(test_a_file_bigger_than_a_chunk),
		T(test_another_files_archive_is_not_taken),
		T(test_same_first_line_other_bytes_before_the_offset),
		T(test_an_archive_shorter_than_the_offset),
		T(test_corrupt_truncated_or_empty_archives_are_not_taken),
		T(test_what_cannot_be_identified_is_never_guessed),
		T(test_no_room_for_the_copy_is_an_error),
		T(test_the_right_one_among_decoys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
