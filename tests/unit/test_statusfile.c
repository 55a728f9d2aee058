/* Reading status.json back for `status`: a file the agent wrote comes back field by field; one that
 * is not what the agent writes (edited by hand, truncated, another program's) is refused with the
 * reason `status` shows ("its status file ...: <why>"), and a string that could drive the terminal is
 * shown escaped. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "statusfile.h"

#define DELIVERY                                                                                            \
	"\"delivery\":{\"last_delivery\":1700000100,\"failing_since\":0,\"consecutive_failures\":0,"           \
	"\"last_status\":204,\"last_error\":\"\",\"next_retry\":0,\"behind\":12}"
#define FILE_OK                                                                                             \
	"{\"path\":\"/var/log/app.log\",\"input\":\"app\",\"offset\":100,\"size\":250,"                       \
	"\"oldest_undelivered\":1700000050,\"last_delivery\":1700000100,\"rotated\":false,\"error\":\"\"}"
#define BAD_OK "{\"path\":\"/var/log/secret.log\",\"input\":\"app\",\"error\":\"Permission denied\",\"since\":1700000000}"
#define HEAD "\"version\":1,\"pid\":4242,\"started\":1700000000,\"written\":1700000200"

static char dir[] = "/tmp/onside-statusfile-XXXXXX";

static void put(const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/status.json", dir);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* statusfile_read's result for text; why gets its reason. */
static int read_text(const char *text, char *why, size_t whylen)
{
	struct statusfile s;
	int r;

	put(text);
	r = statusfile_read(dir, &s, why, whylen);
	if (r == 0)
		statusfile_free(&s);
	return r;
}

static void refused(const char *text, const char *want)
{
	char why[256];

	assert_int_equal(read_text(text, why, sizeof(why)), -EBADMSG);
	assert_string_equal(why, want);
}

static void test_a_file_the_agent_writes_is_read_back(void **unused)
{
	struct statusfile s;
	char why[256];

	(void)unused;
	put("{" HEAD ",\n" DELIVERY ",\n\"files\":[" FILE_OK "],\n\"unreadable\":[" BAD_OK "]}\n");
	assert_int_equal(statusfile_read(dir, &s, why, sizeof(why)), 0);
	assert_int_equal(s.pid, 4242);
	assert_int_equal(s.started, 1700000000);
	assert_int_equal(s.written, 1700000200);
	assert_int_equal(s.last_status, 204);
	assert_int_equal(s.behind, 12);
	assert_int_equal(s.nfiles, 1);
	assert_string_equal(s.files[0].path, "/var/log/app.log");
	assert_int_equal(s.files[0].offset, 100);
	assert_int_equal(s.files[0].size, 250);
	assert_false(s.files[0].rotated);
	assert_int_equal(s.nbad, 1);
	assert_string_equal(s.bad[0].path, "/var/log/secret.log");
	assert_string_equal(s.bad[0].error, "Permission denied");
	assert_int_equal(s.bad[0].since, 1700000000);
	statusfile_free(&s);
}

static void test_a_string_that_could_drive_the_terminal_is_shown_escaped(void **unused)
{
	struct statusfile s;
	char why[256];

	(void)unused;
	/* ESC [ 2 J (clear the screen) and a C1 CSI, in what a hand-made file says */
	put("{" HEAD ",\n" DELIVERY ",\n\"files\":[{\"path\":\"/x\\u001b[2J\\u009b1m.log\",\"input\":\"app\","
	    "\"offset\":0,\"size\":0,\"oldest_undelivered\":0,\"last_delivery\":0,\"rotated\":true,\"error\":\"\"}],"
	    "\n\"unreadable\":[]}\n");
	assert_int_equal(statusfile_read(dir, &s, why, sizeof(why)), 0);
	assert_int_equal(s.nfiles, 1);
	assert_null(strchr(s.files[0].path, '\x1b'));
	assert_string_equal(s.files[0].path, "/x\\x1b[2J\\xc2\\x9b1m.log");
	assert_true(s.files[0].rotated);
	statusfile_free(&s);
}

static void test_what_the_agent_does_not_write_is_refused_with_the_reason(void **unused)
{
	(void)unused;
	refused("not json at all", "not JSON");
	refused("{" HEAD ",", "not JSON");
	refused("[1,2]", "the top level is not an object");
	refused("{\"version\":2,\"pid\":1}", "version is not 1");
	refused("{\"version\":\"1\"}", "version is not an integer");
	refused("{\"version\":1,\"pid\":-5}", "pid is out of range");
	refused("{\"version\":1,\"pid\":4294967296}", "pid is out of range");
	refused("{\"version\":1,\"pid\":7,\"started\":1.5}", "started is not an integer");
	refused("{" HEAD ",\"delivery\":[]}", "delivery is not an object");
	refused("{" HEAD ",\"delivery\":{\"last_delivery\":0,\"failing_since\":0,\"consecutive_failures\":0,"
		"\"last_status\":1000,\"last_error\":\"\",\"next_retry\":0,\"behind\":0}}",
		"last_status is out of range");
	refused("{" HEAD ",\"delivery\":{\"last_delivery\":0,\"failing_since\":0,\"consecutive_failures\":0,"
		"\"last_status\":0,\"last_error\":null,\"next_retry\":0,\"behind\":0}}",
		"last_error is not a string");
	refused("{" HEAD "," DELIVERY ",\"files\":{}}", "files is not an array");
	refused("{" HEAD "," DELIVERY ",\"files\":[]}", "unreadable is not an array");
	refused("{" HEAD "," DELIVERY ",\"files\":[7],\"unreadable\":[]}", "a file is not an object");
	refused("{" HEAD "," DELIVERY ",\"files\":[" FILE_OK ",{\"path\":\"/a\",\"input\":\"app\",\"offset\":0,"
		"\"size\":0,\"oldest_undelivered\":0,\"last_delivery\":0,\"rotated\":\"no\",\"error\":\"\"}],"
		"\"unreadable\":[]}",
		"rotated is not true or false");
	refused("{" HEAD "," DELIVERY ",\"files\":[],\"unreadable\":[\"/var/log/x\"]}",
		"an unreadable file is not an object");
	refused("{" HEAD "," DELIVERY ",\"files\":[],\"unreadable\":[{\"path\":\"/a\",\"input\":\"app\","
		"\"error\":\"x\",\"since\":-1}]}",
		"since is out of range");
}

static void test_none_yet_and_a_file_too_large_to_be_ours(void **unused)
{
	struct statusfile s;
	char why[256], path[256];
	int fd;

	(void)unused;
	snprintf(path, sizeof(path), "%s/status.json", dir);
	unlink(path);
	assert_int_equal(statusfile_read(dir, &s, why, sizeof(why)), -ENOENT);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0);
	assert_int_equal(ftruncate(fd, ((off_t)64 << 20) + 1), 0);
	close(fd);
	assert_int_equal(statusfile_read(dir, &s, why, sizeof(why)), -EBADMSG);
	assert_string_equal(why, "larger than 67108864 bytes");
	unlink(path);
}

static int setup(void **unused)
{
	(void)unused;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **unused)
{
	char path[256];

	(void)unused;
	snprintf(path, sizeof(path), "%s/status.json", dir);
	unlink(path);
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_file_the_agent_writes_is_read_back),
		cmocka_unit_test(test_a_string_that_could_drive_the_terminal_is_shown_escaped),
		cmocka_unit_test(test_what_the_agent_does_not_write_is_refused_with_the_reason),
		cmocka_unit_test(test_none_yet_and_a_file_too_large_to_be_ours),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
