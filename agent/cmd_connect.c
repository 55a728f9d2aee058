/* `onside-agent check --connect`: probes the endpoint the way `run` reaches it and says, step by step,
 * what works and what to fix: the proxy in use (endpoint.proxy or the environment's, named without
 * its credentials), the name resolved, the connection, TLS verified with the CA certificates `run`
 * uses, and one authenticated request that carries no event:
 *
 *     POST <endpoint.url>  Content-Type: application/json  Authorization: Basic ...
 *     {"events":[]}
 *
 * How the answer is read: the API authenticates before it validates, so a 400 (it refuses a batch
 * without events) says that the URL and the credentials are right; so does a 204 (an API that takes
 * an empty batch). 401 and 403: the credentials are refused. 404 and 405: nothing takes events at
 * that URL. Any other answer (a 200 from a portal or proxy, a redirect, 429, 5xx) is not a
 * confirmation, and says why. Nothing is delivered, nothing in the state directory is touched.
 * Output goes to standard output; exit 0 when the URL and credentials are confirmed, 1 otherwise. */
#include <curl/curl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "cabundle.h"
#include "cli.h"
#include "config.h"
#include "proxy.h"

#define PROBE_BODY "{\"events\":[]}"
#define QUOTE_MAX 120

struct probe {
	const struct config *cfg;
	char host[256];
	bool tls;
	bool proxied;
	char proxy[512];
	char body[QUOTE_MAX + 1]; /* the start of the answer, printable */
	size_t body_len;
	char errbuf[CURL_ERROR_SIZE];
};

static void step(const char *name, const char *fmt, const char *text)
{
	printf("  %-9s %s%s\n", name, fmt, text ? text : "");
}

/* The name, as the agent's resolver sees it (not done when a proxy resolves it). Returns 0 or -1. */
static int probe_resolve(struct probe *p)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	char line[1024], addr[NI_MAXHOST];
	size_t n = 0, shown = 0;
	int r;

	if (p->proxied) {
		step("resolve:", "left to the proxy", NULL);
		return 0;
	}
	r = getaddrinfo(p->host, NULL, &hints, &res);
	if (r != 0) {
		snprintf(line, sizeof(line), "%s: FAILED: %s", p->host, gai_strerror(r));
		step("resolve:", line, NULL);
		printf("  fix:      check the host name in endpoint.url and this host's DNS (/etc/resolv.conf)\n");
		return -1;
	}
	n = (size_t)snprintf(line, sizeof(line), "%s:", p->host);
	for (struct addrinfo *a = res; a && shown < 4 && n < sizeof(line); a = a->ai_next) {
		if (getnameinfo(a->ai_addr, a->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST) != 0 ||
		    (a != res && strstr(line, addr)))
			continue;
		n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", addr);
		shown++;
	}
	freeaddrinfo(res);
	step("resolve:", line, NULL);
	return 0;
}

static size_t probe_write(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct probe *p = data;
	size_t n = size * nmemb;

	for (size_t i = 0; i < n && p->body_len < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)ptr[i];

		p->body[p->body_len++] = c >= 0x20 && c < 0x7f ? (char)c : '.';
	}
	p->body[p->body_len] = '\0';
	return n;
}

/* The request, with what `run`'s requests have (sender.c's easy_setup): the same credentials, CA
 * certificates, proxy, verification and timeout. */
static int probe_setup(struct probe *p, CURL *e, struct curl_slist *headers)
{
	const struct config *c = p->cfg;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, c->endpoint.url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, PROBE_BODY) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERNAME, c->endpoint.username) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, c->endpoint.password) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->endpoint.timeout_ms) != CURLE_OK;
	bad |= cabundle_apply(e, c->endpoint.ca_file) < 0;
	bad |= proxy_apply(e, c->endpoint.proxy) < 0;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "onside-agent/" ONSIDE_VERSION) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, probe_write) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, p) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf) != CURLE_OK;
	return bad ? -1 : 0;
}

static double ms_of(CURL *e, CURLINFO what)
{
	curl_off_t us = 0;

	return curl_easy_getinfo(e, what, &us) == CURLE_OK ? (double)us / 1000.0 : 0.0;
}

static bool tls_failure(CURLcode r)
{
	return r == CURLE_PEER_FAILED_VERIFICATION || r == CURLE_SSL_CONNECT_ERROR || r == CURLE_SSL_CACERT_BADFILE ||
	       r == CURLE_SSL_CERTPROBLEM || r == CURLE_SSL_CIPHER || r == CURLE_SSL_ISSUER_ERROR ||
	       r == CURLE_SSL_INVALIDCERTSTATUS || r == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

/* The request never got an answer: which step failed, and the fix. */
static void report_transport(const struct probe *p, CURL *e, CURLcode r)
{
	const char *why = p->errbuf[0] ? p->errbuf : curl_easy_strerror(r);
	char ca[PATH_MAX + 128], line[CURL_ERROR_SIZE + 64];
	struct cabundle b;

	snprintf(line, sizeof(line), "FAILED: %s", why);
	if (r == CURLE_COULDNT_RESOLVE_PROXY || (r == CURLE_COULDNT_CONNECT && p->proxied)) {
		step("connect:", line, NULL);
		printf("  fix:      the proxy %s cannot be reached: check it, or unset it\n", p->proxy);
	} else if (r == CURLE_COULDNT_RESOLVE_HOST) {
		step("resolve:", line, NULL);
		printf("  fix:      check the host name in endpoint.url and the DNS\n");
	} else if (r == CURLE_COULDNT_CONNECT || (r == CURLE_OPERATION_TIMEDOUT && ms_of(e, CURLINFO_CONNECT_TIME_T) == 0)) {
		step("connect:", line, NULL);
		printf("  fix:      nothing accepts connections at %s: check endpoint.url (host and port) and the "
		       "firewall%s\n", p->host, p->proxied ? "" : ", or set endpoint.proxy if this host must use a proxy");
	} else if (p->tls && tls_failure(r)) {
		(void)cabundle_find(p->cfg->endpoint.ca_file, cabundle_places, &b);
		cabundle_describe(&b, ca, sizeof(ca));
		step("tls:", line, NULL);
		printf("  fix:      the server's certificate is not verified by the CA certificates %s: if the endpoint "
		       "uses a private CA, set endpoint.ca_file to its certificate (PEM)\n", ca);
	} else {
		step("request:", line, NULL);
		printf("  fix:      %s\n", r == CURLE_OPERATION_TIMEDOUT ? "no answer within endpoint.timeout: check the "
		       "network, or raise endpoint.timeout" : "the connection failed during the request: try again; if "
		       "it stays, check the network and any proxy in between");
	}
}

/* The answer: whether it confirms the URL and the credentials (0), or what is wrong (-1). */
static int report_answer(const struct probe *p, long status)
{
	const struct config *c = p->cfg;

	if (status == 400 || status == 204) {
		printf("  result:   the URL and the credentials are right (%s)\n", status == 400 ?
		       "the API accepted the credentials and refused the batch without events, as it refuses every one" :
		       "the API accepted the credentials and the empty batch");
		return 0;
	}
	if (status == 401 || status == 403)
		printf("  result:   FAILED: the credentials are refused (HTTP %ld)\n  fix:      check endpoint.username "
		       "(\"%s\") and the password (%s)\n", status, c->endpoint.username,
		       c->endpoint.password_file ? "endpoint.password_file" : c->endpoint.password_env ?
		       "endpoint.password_env" : "endpoint.password");
	else if (status == 404 || status == 405)
		printf("  result:   FAILED: wrong URL: HTTP %ld (%s) for %s\n  fix:      endpoint.url must be the events "
		       "endpoint, such as %s\n", status, status == 404 ? "not found" : "method not allowed",
		       c->endpoint.url, CONFIG_DEFAULT_URL);
	else if (status == 407)
		printf("  result:   FAILED: the proxy %s wants credentials, or refused them (HTTP 407)\n  fix:      put "
		       "them in the proxy's URL: http://USER:PASSWORD@HOST:PORT\n", p->proxy);
	else if (status >= 200 && status < 300)
		printf("  result:   FAILED: HTTP %ld is not an answer of the Onside API (a portal, a proxy or a wrong "
		       "URL answered)\n  fix:      check endpoint.url and any proxy in between\n", status);
	else if (status >= 300 && status < 400)
		printf("  result:   FAILED: HTTP %ld, a redirect: endpoint.url is not the API's own address\n  fix:      "
		       "set endpoint.url to the events endpoint, such as %s\n", status, CONFIG_DEFAULT_URL);
	else if (status == 429 || status >= 500)
		printf("  result:   NOT CONFIRMED: the API is reached but answered HTTP %ld (%s); the credentials were not "
		       "checked\n  fix:      try again later\n", status, status == 429 ? "rate limited" : "a server error");
	else
		printf("  result:   FAILED: unexpected HTTP %ld\n", status);
	return -1;
}

/* Runs the request; returns 0 when the answer confirms the URL and the credentials. */
static int probe_request(struct probe *p)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json"), *h2;
	char line[256 + QUOTE_MAX];
	CURL *e = curl_easy_init();
	long status = 0;
	CURLcode r;
	int rc = -1;

	h2 = h ? curl_slist_append(h, "Expect:") : NULL;
	if (!e || !h2 || probe_setup(p, e, h2) < 0) {
		printf("  request:  FAILED: cannot set up the request (out of memory?)\n");
		goto out;
	}
	r = curl_easy_perform(e);
	if (r != CURLE_OK) {
		report_transport(p, e, r);
		goto out;
	}
	(void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	snprintf(line, sizeof(line), "%s, %.0f ms", p->proxied ? "through the proxy" : "ok",
		 ms_of(e, CURLINFO_CONNECT_TIME_T));
	step("connect:", line, NULL);
	if (p->tls) {
		snprintf(line, sizeof(line), "certificate of %s verified, %.0f ms", p->host,
			 ms_of(e, CURLINFO_APPCONNECT_TIME_T));
		step("tls:", line, NULL);
	}
	snprintf(line, sizeof(line), "POST %s as user \"%s\": HTTP %ld%s%s", PROBE_BODY, p->cfg->endpoint.username,
		 status, p->body_len ? ", answer: " : "", p->body);
	step("request:", line, NULL);
	rc = report_answer(p, status);
out:
	curl_slist_free_all(h2 ? h2 : h);
	if (e)
		curl_easy_cleanup(e);
	return rc;
}

int cmd_connect(const struct config *cfg)
{
	struct probe p = { .cfg = cfg };
	char from[256], ca[PATH_MAX + 128];
	struct cabundle b;
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	url_host(cfg->endpoint.url, p.host, sizeof(p.host));
	p.tls = strncasecmp(cfg->endpoint.url, "https:", 6) == 0;
	p.proxied = proxy_describe(cfg->endpoint.url, cfg->endpoint.proxy, p.proxy, sizeof(p.proxy), from,
				   sizeof(from)) == 1;
	printf("connect: %s\n", cfg->endpoint.url);
	printf("  proxy:    %s (%s)\n", p.proxy, from);
	if (p.tls) {
		(void)cabundle_find(cfg->endpoint.ca_file, cabundle_places, &b);
		cabundle_describe(&b, ca, sizeof(ca));
		printf("  ca:       %s\n", ca);
	}
	rc = probe_resolve(&p) == 0 && probe_request(&p) == 0 ? 0 : 1;
	fflush(stdout);
	if (rc)
		fprintf(stderr, "onside-agent: %s: the connection test failed (see above)\n", cfg->path);
	curl_global_cleanup();
	return rc;
}
