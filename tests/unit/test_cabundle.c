/* Finding the CA certificates (cabundle): endpoint.ca_file wins; otherwise the first usable place in
 * the given order, where a file must be a readable non-empty regular file and a directory a directory;
 * environment places are read at the call; nothing usable is -ENOENT with an empty path. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cabundle.h"

struct fixture {
	char dir[64];
	char empty[96], bundle[96], certs[96], missing[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	FILE *fp;

	strcpy(f->dir, "/tmp/onside-test-cabundle.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->empty, sizeof(f->empty), "%s/empty.pem", f->dir);
	snprintf(f->bundle, sizeof(f->bundle), "%s/bundle.pem", f->dir);
	snprintf(f->certs, sizeof(f->certs), "%s/certs", f->dir);
	snprintf(f->missing, sizeof(f->missing), "%s/missing.pem", f->dir);
	fp = fopen(f->empty, "w");
	fclose(fp);
	fp = fopen(f->bundle, "w");
	fputs("-----BEGIN CERTIFICATE-----\n", fp);
	fclose(fp);
	assert_int_equal(mkdir(f->certs, 0755), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->empty);
	unlink(f->bundle);
	rmdir(f->certs);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_ca_file_wins(void **state)
{
	struct fixture *f = *state;
	const struct cabundle_place places[] = {{f->bundle, NULL, false, "first"}, {NULL, NULL, false, NULL}};
	struct cabundle b;

	assert_int_equal(cabundle_find("/etc/onside-agent/ca.pem", places, &b), 0);
	assert_string_equal(b.path, "/etc/onside-agent/ca.pem");
	assert_false(b.dir);
	assert_string_equal(b.who, "endpoint.ca_file");
	/* an empty ca_file is "not set" */
	assert_int_equal(cabundle_find("", places, &b), 0);
	assert_string_equal(b.path, f->bundle);
}

/* Missing, empty, a directory where a file is wanted and a file where a directory is wanted are all
 * passed over, in order. */
static void test_first_usable_place_in_order(void **state)
{
	struct fixture *f = *state;
	const struct cabundle_place places[] = {
		{f->missing, NULL, false, "missing"}, {f->empty, NULL, false, "empty"},
		{f->certs, NULL, false, "dir as file"}, {f->bundle, NULL, true, "file as dir"},
		{"relative.pem", NULL, false, "relative"}, {f->certs, NULL, true, "certs"},
		{f->bundle, NULL, false, "bundle"}, {NULL, NULL, false, NULL}};
	struct cabundle b;

	assert_int_equal(cabundle_find(NULL, places, &b), 0);
	assert_string_equal(b.path, f->certs);
	assert_true(b.dir);
	assert_string_equal(b.who, "certs");
}

static void test_environment_places(void **state)
{
	struct fixture *f = *state;
	const struct cabundle_place places[] = {
		{NULL, "ONSIDE_TEST_CERT_FILE", false, "file var"}, {NULL, "ONSIDE_TEST_CERT_DIR", true, "dir var"},
		{f->bundle, NULL, false, "bundle"}, {NULL, NULL, false, NULL}};
	struct cabundle b;

	unsetenv("ONSIDE_TEST_CERT_FILE");
	unsetenv("ONSIDE_TEST_CERT_DIR");
	assert_int_equal(cabundle_find(NULL, places, &b), 0);
	assert_string_equal(b.who, "bundle");
	setenv("ONSIDE_TEST_CERT_DIR", f->certs, 1);
	assert_int_equal(cabundle_find(NULL, places, &b), 0);
	assert_string_equal(b.path, f->certs);
	assert_string_equal(b.who, "dir var");
	setenv("ONSIDE_TEST_CERT_FILE", f->missing, 1); /* unusable: passed over */
	assert_int_equal(cabundle_find(NULL, places, &b), 0);
	assert_string_equal(b.who, "dir var");
	setenv("ONSIDE_TEST_CERT_FILE", f->bundle, 1);
	assert_int_equal(cabundle_find(NULL, places, &b), 0);
	assert_string_equal(b.path, f->bundle);
	assert_string_equal(b.who, "file var");
	unsetenv("ONSIDE_TEST_CERT_FILE");
	unsetenv("ONSIDE_TEST_CERT_DIR");
}

static void test_nothing_usable(void **state)
{
	struct fixture *f = *state;
	const struct cabundle_place places[] = {{f->missing, NULL, false, "missing"}, {NULL, NULL, false, NULL}};
	struct cabundle b;
	char text[PATH_MAX + 128];

	assert_int_equal(cabundle_find(NULL, places, &b), -ENOENT);
	assert_string_equal(b.path, "");
	cabundle_describe(&b, text, sizeof(text));
	assert_non_null(strstr(text, "none found"));
	assert_non_null(strstr(text, "endpoint.ca_file"));
}

/* The summary `check` prints: nothing for http://, the place for https:// (scheme in any case). */
static void test_summary(void **state)
{
	char text[PATH_MAX + 128];

	(void)state;
	assert_int_equal(cabundle_summary("http://127.0.0.1:8080/x", NULL, text, sizeof(text)), 0);
	assert_string_equal(text, "");
	assert_int_equal(cabundle_summary("HTTPS://onside.io/x", "/etc/ca.pem", text, sizeof(text)), 0);
	assert_string_equal(text, ", CA certificates /etc/ca.pem (endpoint.ca_file)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ca_file_wins),
		cmocka_unit_test(test_first_usable_place_in_order),
		cmocka_unit_test(test_environment_places),
		cmocka_unit_test(test_nothing_usable),
		cmocka_unit_test(test_summary),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
