#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fileio.h"

#define FP_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FP_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

struct fixture {
	char dir[64];
	char path[128];
};

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[PATH_MAX];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int setup(void **state)
{
	static const char mkdtemp_suffix[] = { 'X', 'X', 'X', 'X', 'X', 'X', '\0' };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_checkpoint.%s", mkdtemp_suffix);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, CHECKPOINT_FILE);
	umask(022);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rm_tree(f->dir);
	free(f);
	return 0;
}

static void write_text(const char *path, const char *s, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(s, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* The whole file, NUL-terminated; *len gets its size. */
static char *read_text(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *s;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, fp), (size_t)n);
	s[n] = '\0';
	fclose(fp);
	if (len)
		*len = (size_t)n;
	return s;
}

/* Number of directory entries whose name contains `part`. */
static int count_names(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, part))
			n++;
	closedir(d);
	return n;
}

static struct checkpoint_entry entry(const char *path, const char *input, uint64_t offset)
{
	struct checkpoint_entry e;

	memset(&e, 0, sizeof(e));
	e.path = (char *)path;
	e.input = (char *)input;
	strcpy(e.fingerprint, FP_A);
	e.dev = 2049;
	e.ino = 131073;
	e.offset = offset;
	strcpy(e.check, FP_B);
	e.size = offset + 10;
	e.last_delivery = 1780000000;
	e.updated = 1780000001;
	return e;
}

static void save_one(const char *dir, const char *path, uint64_t offset)
{
	struct checkpoint *cp = checkpoint_new();
	struct checkpoint_entry e = entry(path, "purchases", offset);
	char err[256] = "";

	assert_non_null(cp);
	assert_int_equal(checkpoint_add(cp, &e), 0);
	assert_int_equal(checkpoint_save(dir, cp, err, sizeof(err)), 0);
	checkpoint_free(cp);
}

static void test_missing_file_is_empty(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = NULL;
	char err[256] = "";

	assert_int_equal(checkpoint_load(f->dir, &cp, err, sizeof(err)), 0);
	assert_non_null(cp);
	assert_int_equal(cp->n, 0);
	assert_string_equal(err, "");
	checkpoint_free(cp);
}

static void test_exact_text_of_one_entry(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = checkpoint_new();
	struct checkpoint_entry e = entry("/var/log/shop/purchases.log", "purchases", 5678);
	struct stat st;
	char err[256] = "", *text;

	e.last_error = "HTTP 503 \"busy\"";
	assert_int_equal(checkpoint_add(cp, &e), 0);
	assert_int_equal(checkpoint_save(f->dir, cp, err, sizeof(err)), 0);
	text = read_text(f->path, NULL);
	assert_string_equal(text, "{\"version\":1,\"files\":[\n"
				  "  {\"path\":\"/var/log/shop/purchases.log\",\"input\":\"purchases\","
				  "\"fingerprint\":\"" FP_A "\",\"dev\":2049,\"ino\":131073,\"offset\":5678,"
				  "\"check\":\"" FP_B "\",\"size\":5688,\"last_delivery\":1780000000,"
				  "\"last_error\":\"HTTP 503 \\\"busy\\\"\",\"updated\":1780000001}\n"
				  "]}\n");
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(count_names(f->dir, ".tmp."), 0);
	free(text);
	checkpoint_free(cp);
}

static void test_empty_checkpoint_text(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = checkpoint_new(), *back = NULL;
	char err[256] = "", *text;

	assert_int_equal(checkpoint_save(f->dir, cp, err, sizeof(err)), 0);
	text = read_text(f->path, NULL);
	assert_string_equal(text, "{\"version\":1,\"files\":[]}\n");
	assert_int_equal(checkpoint_load(f->dir, &back, err, sizeof(err)), 0);
	assert_int_equal(back->n, 0);
	free(text);
	checkpoint_free(cp);
	checkpoint_free(back);
}

static void assert_entry_equal(const struct checkpoint_entry *a, const struct checkpoint_entry *b)
{
	assert_string_equal(a->path, b->path);
	if (a->input || b->input)
		assert_string_equal(a->input, b->input);
	assert_string_equal(a->fingerprint, b->fingerprint);
	assert_int_equal(a->dev, b->dev);
	assert_int_equal(a->ino, b->ino);
	assert_int_equal(a->offset, b->offset);
	assert_string_equal(a->check, b->check);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->last_delivery, b->last_delivery);
	if (a->last_error || b->last_error)
		assert_string_equal(a->last_error, b->last_error);
	assert_int_equal(a->updated, b->updated);
}

static void test_round_trip_several_entries(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = checkpoint_new(), *back = NULL;
	struct checkpoint_entry e[4];
	char err[256] = "";
	size_t i;

	e[0] = entry("/var/log/shop/purchases.log", "purchases", 0);
	e[1] = entry("/var/log/shop/a b \"quoted\"\\.log", "refunds", 123456789012ULL);
	e[1].last_error = "connection refused\n(retrying)";
	e[2] = entry("/var/log/big-ino.log", NULL, 42);
	e[2].ino = UINT64_MAX; /* some filesystems use the top bit of inode numbers */
	e[2].dev = (uint64_t)INT64_MAX + 5;
	e[3] = entry("/var/log/new.log", "purchases", 0);
	e[3].fingerprint[0] = '\0'; /* first line not complete yet */
	e[3].check[0] = '\0';
	e[3].last_delivery = 0;
	for (i = 0; i < 4; i++)
		assert_int_equal(checkpoint_add(cp, &e[i]), 0);
	assert_int_equal(checkpoint_save(f->dir, cp, err, sizeof(err)), 0);
	assert_int_equal(checkpoint_load(f->dir, &back, err, sizeof(err)), 0);
	assert_int_equal(back->n, 4);
	for (i = 0; i < 4; i++)
		assert_entry_equal(&back->e[i], &e[i]);
	assert_null(back->e[2].input);
	assert_null(back->e[0].last_error);
	checkpoint_free(cp);
	checkpoint_free(back);
}

/* A path is any bytes but NUL. Invalid UTF-8 is written as \udcXX and must come back as the byte. */
static void test_invalid_utf8_path_round_trips(void **state)
{
	static const char path[] = "/var/log/caf\xe9/\xff\x80-\xed\xa0\x80-\xf0\x9f\x92\x80-\\udcff.log";
	static const char msg[] = "bad byte \xc3 here";
	struct fixture *f = *state;
	struct checkpoint *cp = checkpoint_new(), *back = NULL;
	struct checkpoint_entry e = entry(path, "in\xfeput", 7);
	char err[256] = "", *text;

	e.last_error = (char *)msg;
	assert_int_equal(checkpoint_add(cp, &e), 0);
	assert_int_equal(checkpoint_save(f->dir, cp, err, sizeof(err)), 0);
	text = read_text(f->path, NULL);
	assert_non_null(strstr(text, "\"path\":\"/var/log/caf\\udce9/\\udcff\\udc80-\\udced\\udca0\\udc80-"
				     "\xf0\x9f\x92\x80-\\\\udcff.log\""));
	assert_int_equal(checkpoint_load(f->dir, &back, err, sizeof(err)), 0);
	assert_int_equal(back->n, 1);
	assert_string_equal(back->e[0].path, path);
	assert_string_equal(back->e[0].input, "in\xfeput");
	assert_string_equal(back->e[0].last_error, msg);
	free(text);
	checkpoint_free(cp);
	checkpoint_free(back);
}

/* A hand-edited file may use a proper surrogate pair; it is a character, not two raw bytes. */
static void test_surrogate_pair_is_a_character(void **state)
{
	static const char text[] = "{\"version\":1,\"files\":[{\"path\":\"/x/\\ud83d\\udc80\\u00e9\",\"dev\":1,"
				   "\"ino\":2,\"offset\":3,\"fingerprint\":\"\",\"check\":\"\"}]}";
	struct fixture *f = *state;
	struct checkpoint *cp = NULL;
	char err[256] = "";

	write_text(f->path, text, strlen(text));
	assert_int_equal(checkpoint_load(f->dir, &cp, err, sizeof(err)), 0);
	assert_int_equal(cp->n, 1);
	assert_string_equal(cp->e[0].path, "/x/\xf0\x9f\x92\x80\xc3\xa9");
	assert_int_equal(cp->e[0].size, 0);
	assert_null(cp->e[0].input);
	checkpoint_free(cp);
}

static void test_failed_save_keeps_old_file(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = checkpoint_new();
	struct checkpoint_entry e = entry("/var/log/b.log", "purchases", 999);
	char err[256] = "", tmp[256], expect[512], *before, *after;
	int r;

	save_one(f->dir, "/var/log/a.log", 100);
	before = read_text(f->path, NULL);
	/* A directory where the temp file would go: the temp cannot be created (root is not stopped
	 * by permissions, this stops everyone), and a directory is never removed to make room. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", f->path, (long)getpid());
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(checkpoint_add(cp, &e), 0);
	r = checkpoint_save(f->dir, cp, err, sizeof(err));
	assert_int_equal(r, -EEXIST);
	snprintf(expect, sizeof(expect), "cannot write checkpoint %s/checkpoint.json: %s", f->dir, strerror(EEXIST));
	assert_string_equal(err, expect);
	after = read_text(f->path, NULL);
	assert_string_equal(after, before);
	/* The blocking directory is somebody else's: still there. */
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(checkpoint_save(f->dir, cp, err, sizeof(err)), 0);
	free(after);
	after = read_text(f->path, NULL);
	assert_non_null(strstr(after, "/var/log/b.log"));
	free(before);
	free(after);
	checkpoint_free(cp);
}

static void test_save_into_missing_dir(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = checkpoint_new();
	char err[256] = "", dir[128];

	snprintf(dir, sizeof(dir), "%s/nonexistent", f->dir);
	assert_int_equal(checkpoint_save(dir, cp, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nonexistent/checkpoint.json: No such file or directory"));
	checkpoint_free(cp);
}

/* A full disk midway through the temp file: simulated with RLIMIT_FSIZE, which fails write(2) with
 * EFBIG after a partial write, exactly the shape of ENOSPC. */
static void test_disk_full_keeps_old_file(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = checkpoint_new();
	struct rlimit old, lim;
	char err[256] = "", name[64], *before, *after;
	int i, r;

	save_one(f->dir, "/var/log/a.log", 100);
	before = read_text(f->path, NULL);
	for (i = 0; i < 100; i++) {
		struct checkpoint_entry e;

		snprintf(name, sizeof(name), "/var/log/file-%03d.log", i);
		e = entry(name, "purchases", (uint64_t)i);
		assert_int_equal(checkpoint_add(cp, &e), 0);
	}
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	r = checkpoint_save(f->dir, cp, err, sizeof(err));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(r, -EFBIG);
	after = read_text(f->path, NULL);
	assert_string_equal(after, before);
	assert_int_equal(count_names(f->dir, ".tmp."), 0);
	free(before);
	free(after);
	checkpoint_free(cp);
}

/* The rename itself fails (checkpoint.json is a non-empty directory): the temp file is removed. */
static void test_failed_rename_removes_temp(void **state)
{
	struct fixture *f = *state;
	char sub[256];

	assert_int_equal(mkdir(f->path, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/keep", f->path);
	write_text(sub, "x", 1);
	assert_true(fileio_replace(f->dir, CHECKPOINT_FILE, "{}", 2) < 0);
	assert_int_equal(count_names(f->dir, ".tmp."), 0);
	assert_int_equal(access(sub, F_OK), 0);
}

/* A symlink planted under the temporary's name (NAME.tmp.PID) is neither written through nor renamed
 * into place: the file it points at keeps its bytes and the result is a regular file. */
static void test_planted_temp_symlink_is_not_followed(void **state)
{
	struct fixture *f = *state;
	char victim[256], tmp[256], *text;
	struct stat st;

	snprintf(victim, sizeof(victim), "%s/victim", f->dir);
	write_text(victim, "precious\n", 9);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", f->path, (long)getpid());
	assert_int_equal(symlink(victim, tmp), 0);
	save_one(f->dir, "/var/log/a.log", 100);
	text = read_text(victim, NULL);
	assert_string_equal(text, "precious\n");
	free(text);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(count_names(f->dir, ".tmp."), 0);
}

static void test_fileio_replace_replaces(void **state)
{
	struct fixture *f = *state;
	char p[128], *text;

	snprintf(p, sizeof(p), "%s/metrics.prom", f->dir);
	assert_int_equal(fileio_replace(f->dir, "metrics.prom", "old\n", 4), 0);
	assert_int_equal(fileio_replace(f->dir, "metrics.prom", "new text\n", 9), 0);
	text = read_text(p, NULL);
	assert_string_equal(text, "new text\n");
	free(text);
	assert_int_equal(fileio_replace(f->dir, "empty", "", 0), 0);
	snprintf(p, sizeof(p), "%s/empty", f->dir);
	text = read_text(p, NULL);
	assert_string_equal(text, "");
	free(text);
}

/* fileio_read_all reads a whole file whatever its size up to the buffer's max, and says when more is
 * left than fits (the state files' readers turn that into "too large", never a silent cut). */
static void test_fileio_read_all_up_to_max(void **state)
{
	struct fixture *f = *state;
	char p[128];
	struct buf b;
	size_t sizes[] = { 0, 1, 65535, 65536, 65537, 200000 };
	char *data = malloc(200001);
	int fd, r;

	assert_non_null(data);
	for (size_t i = 0; i < 200001; i++)
		data[i] = (char)('a' + i % 26);
	snprintf(p, sizeof(p), "%s/whole", f->dir);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		write_text(p, data, sizes[k]);
		for (int fits = 0; fits < 2; fits++) {
			/* max exactly the size (it fits), or one byte short (it does not; a max of 0 is the
			 * default, 256 MiB) */
			if (!fits && sizes[k] <= 1)
				continue;
			buf_init(&b, fits ? (sizes[k] ? sizes[k] : 1) : sizes[k] - 1);
			fd = open(p, O_RDONLY);
			assert_true(fd >= 0);
			r = fileio_read_all(fd, &b);
			assert_int_equal(r, fits ? 0 : -E2BIG);
			close(fd);
			assert_int_equal(b.len, fits ? sizes[k] : sizes[k] - 1);
			assert_true(b.len == 0 || memcmp(b.data, data, b.len) == 0);
			assert_true(!b.data || b.data[b.len] == '\0');
			buf_free(&b);
		}
	}
	free(data);
}

/* Finds the file the damaged checkpoint was moved to, checks the message and its content. */
static void check_damaged(struct fixture *f, const char *content, size_t len, const char *reason)
{
	struct checkpoint *cp = NULL;
	char err[1024] = "", expect[1024], moved[256], *text;
	time_t t0, t1, t;
	size_t n;
	int r;

	write_text(f->path, content, len);
	t0 = time(NULL);
	r = checkpoint_load(f->dir, &cp, err, sizeof(err));
	t1 = time(NULL);
	assert_int_equal(r, -EBADMSG);
	assert_non_null(cp);
	assert_int_equal(cp->n, 0);
	assert_int_equal(access(f->path, F_OK), -1);
	for (t = t0; t <= t1; t++) {
		snprintf(moved, sizeof(moved), "%s.damaged-%lld", f->path, (long long)t);
		if (access(moved, F_OK) == 0)
			break;
	}
	assert_true(t <= t1);
	snprintf(expect, sizeof(expect), "checkpoint %s is damaged (%s); moved aside to %s", f->path,
		 reason ? reason : "", moved);
	if (reason) {
		assert_string_equal(err, expect);
	} else {
		/* Trailing data: json-c versions word it differently; the frame must still be exact. */
		assert_memory_equal(err, expect, strlen(f->path) + strlen("checkpoint  is damaged ("));
		assert_string_equal(strstr(err, "); moved aside to "), strstr(expect, "); moved aside to "));
	}
	text = read_text(moved, &n);
	assert_int_equal(n, len);
	assert_memory_equal(text, content, len);
	assert_int_equal(unlink(moved), 0);
	free(text);
	checkpoint_free(cp);
}

#define ENTRY_OK "{\"path\":\"/a\",\"fingerprint\":\"\",\"dev\":1,\"ino\":2,\"offset\":3,\"check\":\"\"}"

static void test_damaged_files_are_moved_aside(void **state)
{
	static const struct {
		const char *text;
		const char *reason;
	} cases[] = {
		{ "{\"version\":1,\"files\":[" ENTRY_OK ",{\"pa", "truncated JSON" },
		{ "{\"version\":2,\"files\":[]}\n", "version is not 1" },
		{ "{\"version\":\"1\",\"files\":[]}\n", "version is not 1" },
		{ "{\"files\":[]}\n", "version is not 1" },
		{ "{\"version\":1,\"files\":{}}\n", "files is not an array" },
		{ "[1,2]\n", "the top level is not an object" },
		{ "{\"version\":1,\"files\":[" ENTRY_OK "," ENTRY_OK ",{\"path\":\"/c\",\"fingerprint\":\"\","
		  "\"dev\":1,\"ino\":2,\"offset\":\"3\",\"check\":\"\"}]}\n",
		  "offset is not an integer in files[2]" },
		{ "{\"version\":1,\"files\":[{\"path\":\"/a\",\"fingerprint\":\"\",\"dev\":1,\"ino\":2,"
		  "\"offset\":-1,\"check\":\"\"}]}\n",
		  "offset is negative in files[0]" },
		{ "{\"version\":1,\"files\":[{\"path\":\"/a\",\"fingerprint\":\"\",\"dev\":1,\"ino\":2,"
		  "\"offset\":1.5,\"check\":\"\"}]}\n",
		  "offset is not an integer in files[0]" },
		{ "{\"version\":1,\"files\":[{\"path\":\"/a\",\"fingerprint\":\"abc\",\"dev\":1,\"ino\":2,"
		  "\"offset\":1,\"check\":\"\"}]}\n",
		  "fingerprint is not 64 hex digits or empty in files[0]" },
		{ "{\"version\":1,\"files\":[{\"fingerprint\":\"\",\"dev\":1,\"ino\":2,\"offset\":1,\"check\":\"\"}]}",
		  "path is missing in files[0]" },
		{ "{\"version\":1,\"files\":[{\"path\":7,\"fingerprint\":\"\",\"dev\":1,\"ino\":2,\"offset\":1,"
		  "\"check\":\"\"}]}",
		  "path is not a string in files[0]" },
		{ "{\"version\":1,\"files\":[{\"path\":\"/a\\u0000b\",\"fingerprint\":\"\",\"dev\":1,\"ino\":2,"
		  "\"offset\":1,\"check\":\"\"}]}",
		  "path contains a NUL byte in files[0]" },
		{ "{\"version\":1,\"files\":[" ENTRY_OK ",7]}", "files[1] is not an object" },
		{ "{\"version\":1,\"files\":[\n" ENTRY_OK "\n]}\n]}\n", NULL },
		{ "{\"version\":1,\"files\":[\n" ENTRY_OK ",\n" ENTRY_OK "\n}}\n",
		  "invalid JSON on line 4: array value separator ',' expected" },
		{ "{\"version\":1,\"files\":[{\"path\":\"/a\",\"fingerprint\":\"\",\"dev\":1,\"ino\":2,"
		  "\"offset\":9223372036854775808,\"check\":\"\"}]}\n",
		  "offset is out of range in files[0]" },
		{ "{\"version\":1,\"files\":[{\"path\":\"/a\",\"fingerprint\":\"\",\"dev\":1,\"ino\":2,"
		  "\"offset\":0,\"check\":\"\",\"size\":18446744073709551615}]}\n",
		  "size is out of range in files[0]" },
		{ "{\"version\":1,\"files\":[{\"path\":\"/a\",\"fingerprint\":\"\",\"dev\":1,\"ino\":2,"
		  "\"offset\":0,\"check\":\"\",\"last_delivery\":9223372036854775807}]}\n",
		  "last_delivery is not a time between 1970 and 9999 in files[0]" },
		{ "{\"version\":1,\"files\":[{\"path\":\"/a\",\"fingerprint\":\"\",\"dev\":1,\"ino\":2,"
		  "\"offset\":0,\"check\":\"\",\"updated\":-1}]}\n",
		  "updated is not a time between 1970 and 9999 in files[0]" },
		{ "", "empty file" },
	};
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_damaged(f, cases[i].text, strlen(cases[i].text), cases[i].reason);
}

struct seen {
	size_t n;
	char paths[4][32];
	char damage[4][128];
};

static int seen_entry(void *data, size_t idx, const struct checkpoint_entry *e, const char *damage)
{
	struct seen *s = data;

	assert_int_equal(idx, s->n);
	assert_true(s->n < 4);
	snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", e->path ? e->path : "(none)");
	snprintf(s->damage[s->n], sizeof(s->damage[0]), "%s", damage ? damage : "");
	s->n++;
	return 0;
}

/* The reader for `status` applies the loader's checks entry by entry and goes on after a damaged one. */
static void test_parse_each_goes_on_after_a_damaged_entry(void **state)
{
	static const char text[] =
		"{\"version\":1,\"files\":[" ENTRY_OK ",{\"path\":\"/b\",\"fingerprint\":\"\",\"dev\":1,"
		"\"ino\":2,\"offset\":-1,\"check\":\"\"},7,{\"path\":\"/d\\udcff\",\"fingerprint\":\"\","
		"\"dev\":1,\"ino\":2,\"offset\":0,\"check\":\"\"}]}";
	struct seen s = { 0 };
	char why[256] = "";

	(void)state;
	assert_int_equal(checkpoint_parse_each(text, strlen(text), seen_entry, &s, why, sizeof(why)), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.paths[0], "/a");
	assert_string_equal(s.damage[0], "");
	assert_string_equal(s.paths[1], "/b");
	assert_string_equal(s.damage[1], "offset is negative in files[1]");
	assert_string_equal(s.paths[2], "(none)");
	assert_string_equal(s.damage[2], "files[2] is not an object");
	assert_string_equal(s.paths[3], "/d\xff");
	assert_string_equal(s.damage[3], "");
	assert_int_equal(checkpoint_parse_each("[]", 2, seen_entry, &s, why, sizeof(why)), -EBADMSG);
	assert_string_equal(why, "the top level is not an object");
	assert_int_equal(s.n, 4);
}

static void test_garbage_bytes_are_moved_aside(void **state)
{
	static const char garbage[] = "\x00\xff\xfe garbage \x01\x02 {\"version\":1}";
	struct fixture *f = *state;
	struct checkpoint *cp = NULL;
	char err[1024] = "", prefix[256];

	write_text(f->path, garbage, sizeof(garbage) - 1);
	assert_int_equal(checkpoint_load(f->dir, &cp, err, sizeof(err)), -EBADMSG);
	snprintf(prefix, sizeof(prefix), "checkpoint %s is damaged (", f->path);
	assert_memory_equal(err, prefix, strlen(prefix));
	assert_non_null(strstr(err, "); moved aside to "));
	assert_int_equal(count_names(f->dir, ".damaged-"), 1);
	assert_int_equal(cp->n, 0);
	checkpoint_free(cp);
}

/* An earlier damaged copy with the same name is never overwritten. */
static void test_earlier_damaged_copy_is_kept(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = NULL;
	char err[1024] = "", p[256], *text;
	time_t t0 = time(NULL), t;

	for (t = t0; t < t0 + 3; t++) {
		snprintf(p, sizeof(p), "%s.damaged-%lld", f->path, (long long)t);
		write_text(p, "older", 5);
	}
	write_text(f->path, "{", 1);
	assert_int_equal(checkpoint_load(f->dir, &cp, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, ".damaged-"));
	assert_string_equal(strrchr(err, '.'), ".1");
	text = read_text(strstr(err, "moved aside to ") + strlen("moved aside to "), NULL);
	assert_string_equal(text, "{");
	free(text);
	for (t = t0; t < t0 + 3; t++) {
		snprintf(p, sizeof(p), "%s.damaged-%lld", f->path, (long long)t);
		text = read_text(p, NULL);
		assert_string_equal(text, "older");
		free(text);
	}
	checkpoint_free(cp);
}

static void test_oversized_file_is_moved_aside(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = NULL;
	char err[1024] = "";
	int fd;

	fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, ((off_t)64 << 20) + 1), 0); /* sparse: costs no disk */
	close(fd);
	assert_int_equal(checkpoint_load(f->dir, &cp, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "is damaged (larger than 64 MiB); moved aside to "));
	assert_int_equal(count_names(f->dir, ".damaged-"), 1);
	checkpoint_free(cp);
}

static void test_unreadable_is_an_error_not_damage(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = NULL;
	char err[1024] = "";

	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_int_equal(checkpoint_load(f->dir, &cp, err, sizeof(err)), -EISDIR);
	assert_null(cp);
	assert_non_null(strstr(err, "cannot read checkpoint "));
	assert_int_equal(count_names(f->dir, ".damaged-"), 0);
}

static void test_save_refuses_malformed_entry(void **state)
{
	struct fixture *f = *state;
	struct checkpoint *cp = checkpoint_new();
	struct checkpoint_entry e = entry("/var/log/a.log", NULL, 1);
	char err[256] = "";

	strcpy(e.check, "not hex");
	assert_int_equal(checkpoint_add(cp, &e), 0);
	assert_int_equal(checkpoint_save(f->dir, cp, err, sizeof(err)), -EINVAL);
	assert_int_equal(access(f->path, F_OK), -1);
	checkpoint_free(cp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_file_is_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_text_of_one_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_checkpoint_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_several_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_utf8_path_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_surrogate_pair_is_a_character, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_save_keeps_old_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_into_missing_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full_keeps_old_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_rename_removes_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fileio_replace_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_planted_temp_symlink_is_not_followed, setup, teardown),
		cmocka_unit_test(test_parse_each_goes_on_after_a_damaged_entry),
		cmocka_unit_test_setup_teardown(test_damaged_files_are_moved_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_bytes_are_moved_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_earlier_damaged_copy_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_file_is_moved_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_is_an_error_not_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_refuses_malformed_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fileio_read_all_up_to_max, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
