/* The CA certificates that verify the endpoint: endpoint.ca_file when it is set, otherwise the first
 * bundle of the running system found in a fixed order (SSL_CERT_FILE, SSL_CERT_DIR, then the
 * distributions' own files and directories). libcurl's built-in default is a path chosen where
 * libcurl was built, wrong on most systems for the portable binary, so the agent looks for itself. */
#ifndef ONSIDE_CABUNDLE_H
#define ONSIDE_CABUNDLE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct cabundle_place {
	const char *path; /* NULL: the value of the environment variable env */
	const char *env;  /* or NULL */
	bool dir;         /* a directory of hashed certificates (c_rehash), not a PEM bundle */
	const char *who;  /* whose place it is, for messages */
};

struct cabundle {
	char path[PATH_MAX]; /* "" when nothing was found */
	bool dir;
	const char *who; /* "endpoint.ca_file", "SSL_CERT_FILE", "Debian, Ubuntu", ... */
};

/* The places tried, in order; NULL-path-and-env terminated. */
extern const struct cabundle_place cabundle_places[];

/* ca_file when non-empty (not checked here: the configuration loader did), else the first usable
 * place of places (a readable non-empty file, or a directory that can be searched). Returns 0, or
 * -ENOENT with ret->path "" when none is usable. */
int cabundle_find(const char *ca_file, const struct cabundle_place *places, struct cabundle *ret);

/* Sets CURLOPT_CAINFO or CURLOPT_CAPATH of the easy handle to what cabundle_find chooses from
 * cabundle_places; with nothing found, leaves libcurl's default. Returns 0 or -EINVAL. */
int cabundle_apply(void *easy, const char *ca_file);

/* For people: "/etc/ssl/certs/ca-certificates.crt (Debian, Ubuntu, Alpine)", or what to do when
 * nothing was found. */
void cabundle_describe(const struct cabundle *b, char *buf, size_t len);

/* What `check` adds to its summary for an endpoint url: ", CA certificates " and the description
 * for https, "" for http (no TLS). Returns 0, or -ENOENT when https has no CA certificates. */
int cabundle_summary(const char *url, const char *ca_file, char *buf, size_t len);

#endif
