/* Finding the CA certificates at run time (cabundle.h). The order is documented in packaging/README.md
 * ("CA certificates") and shown by `onside-agent check`; keep the three in step. Files come before
 * directories because a directory only works when it holds c_rehash links, and RHEL's does not. */
#include "cabundle.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const struct cabundle_place cabundle_places[] = {
	{NULL, "SSL_CERT_FILE", false, "SSL_CERT_FILE"},
	{NULL, "SSL_CERT_DIR", true, "SSL_CERT_DIR"},
	{"/etc/ssl/certs/ca-certificates.crt", NULL, false, "Debian, Ubuntu, Alpine"},
	{"/etc/pki/tls/certs/ca-bundle.crt", NULL, false, "RHEL, CentOS, Fedora, Amazon Linux"},
	{"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", NULL, false, "RHEL, CentOS 7 and later"},
	{"/etc/ssl/ca-bundle.pem", NULL, false, "SUSE, openSUSE"},
	{"/etc/ssl/cert.pem", NULL, false, "Alpine"},
	{"/etc/ssl/certs", NULL, true, "Debian, Ubuntu, SUSE, Alpine"},
	{"/var/lib/ca-certificates/openssl", NULL, true, "SUSE"},
	{NULL, NULL, false, NULL},
};

static bool usable(const char *path, bool dir)
{
	struct stat st;

	if (!path || path[0] != '/' || stat(path, &st) < 0)
		return false;
	if (dir)
		return S_ISDIR(st.st_mode) && access(path, R_OK | X_OK) == 0;
	return S_ISREG(st.st_mode) && st.st_size > 0 && access(path, R_OK) == 0;
}

static int choose(struct cabundle *ret, const char *path, bool dir, const char *who)
{
	if (strlen(path) >= sizeof(ret->path))
		return -ENAMETOOLONG;
	strcpy(ret->path, path);
	ret->dir = dir;
	ret->who = who;
	return 0;
}

int cabundle_find(const char *ca_file, const struct cabundle_place *places, struct cabundle *ret)
{
	if (ca_file && *ca_file)
		return choose(ret, ca_file, false, "endpoint.ca_file");
	for (const struct cabundle_place *p = places; p->path || p->env; p++) {
		const char *path = p->path ? p->path : getenv(p->env);

		if (usable(path, p->dir) && choose(ret, path, p->dir, p->who) == 0)
			return 0;
	}
	ret->path[0] = '\0';
	ret->dir = false;
	ret->who = NULL;
	return -ENOENT;
}

int cabundle_apply(void *easy, const char *ca_file)
{
	struct cabundle b;

	if (cabundle_find(ca_file, cabundle_places, &b) < 0)
		return 0;
	if (curl_easy_setopt(easy, b.dir ? CURLOPT_CAPATH : CURLOPT_CAINFO, b.path) != CURLE_OK)
		return -EINVAL;
	return 0;
}

void cabundle_describe(const struct cabundle *b, char *buf, size_t len)
{
	if (b->path[0])
		snprintf(buf, len, "%s (%s)", b->path, b->who);
	else
		snprintf(buf, len, "none found (no SSL_CERT_FILE, SSL_CERT_DIR, nor the bundle of any known "
			 "distribution); set endpoint.ca_file");
}

int cabundle_summary(const char *url, const char *ca_file, char *buf, size_t len)
{
	struct cabundle b;
	char what[PATH_MAX + 64];
	int r;

	if (!url || strncasecmp(url, "https://", 8) != 0) {
		snprintf(buf, len, "%s", "");
		return 0;
	}
	r = cabundle_find(ca_file, cabundle_places, &b);
	cabundle_describe(&b, what, sizeof(what));
	snprintf(buf, len, ", CA certificates %s", what);
	return r;
}
