/* The proxy (see proxy.h): applying endpoint.proxy to a request, and telling which proxy a request
 * goes through the way libcurl chooses it (lib/url.c: <scheme>_proxy, then all_proxy, each in lower
 * and upper case except http_proxy, which only counts in lower case; a host that no_proxy names goes
 * direct), so that `check --connect` and the start of `run` can name it without its credentials. */
#include "proxy.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int proxy_apply(void *easy, const char *proxy)
{
	int bad = 0;

	if (!proxy)
		return 0;
	bad |= curl_easy_setopt(easy, CURLOPT_PROXY, proxy) != CURLE_OK;
	/* "" as the no-proxy list: the environment's no_proxy does not apply to a configured proxy */
	bad |= curl_easy_setopt(easy, CURLOPT_NOPROXY, "") != CURLE_OK;
	return bad ? -EINVAL : 0;
}

/* The host of url: after "://" and any user@, up to the port or path (an IPv6 address unbracketed). */
void url_host(const char *url, char *out, size_t len)
{
	const char *h = strstr(url, "://"), *at, *end;

	h = h ? h + 3 : url;
	end = h + strcspn(h, "/?#");
	at = memchr(h, '@', (size_t)(end - h));
	if (at)
		h = at + 1;
	if (*h == '[') {
		h++;
		end = h + strcspn(h, "]");
	} else {
		end = h + strcspn(h, ":/?#");
	}
	snprintf(out, len, "%.*s", (int)(end - h), h);
}

/* Whether no_proxy (comma or space separated; "*" for every host; ".example.com" or "example.com"
 * for a domain and its subdomains) names host. */
static bool no_proxy_names(const char *list, const char *host)
{
	size_t hl = strlen(host);

	while (list && *list) {
		size_t n;

		list += strspn(list, ", ");
		n = strcspn(list, ", ");
		if (n == 1 && list[0] == '*')
			return true;
		if (n && list[0] == '.') {
			list++;
			n--;
		}
		if (n && n <= hl && strncasecmp(host + hl - n, list, n) == 0 && (n == hl || host[hl - n - 1] == '.'))
			return true;
		list += n;
	}
	return false;
}

static const char *env_either(const char *lower, const char *upper, const char **ret_name)
{
	const char *v = getenv(lower);

	*ret_name = lower;
	if ((!v || !*v) && upper) {
		v = getenv(upper);
		*ret_name = upper;
	}
	return v && *v ? v : NULL;
}

/* proxy without its user:password@ (and anything after the host); returns whether it had them. */
static bool shown(const char *proxy, char *out, size_t len)
{
	const char *h = strstr(proxy, "://"), *at, *end;
	size_t scheme = h ? (size_t)(h - proxy) + 3 : 0;

	h = proxy + scheme;
	end = h + strcspn(h, "/?#");
	at = memchr(h, '@', (size_t)(end - h));
	if (!at) {
		snprintf(out, len, "%.*s", (int)(end - proxy), proxy);
		return false;
	}
	snprintf(out, len, "%.*s%.*s", (int)scheme, proxy, (int)(end - at - 1), at + 1);
	return true;
}

int proxy_describe(const char *url, const char *proxy, char *what, size_t whatlen, char *from, size_t fromlen)
{
	const char *v, *name = NULL, *np, *np_name;
	char host[256];

	if (proxy && !proxy[0]) {
		snprintf(what, whatlen, "none");
		snprintf(from, fromlen, "endpoint.proxy is \"\"");
		return 0;
	}
	if (proxy) {
		snprintf(from, fromlen, "endpoint.proxy%s", shown(proxy, what, whatlen) ? ", with credentials" : "");
		return 1;
	}
	v = strncasecmp(url, "https:", 6) == 0 ? env_either("https_proxy", "HTTPS_PROXY", &name)
					       : env_either("http_proxy", NULL, &name);
	if (!v)
		v = env_either("all_proxy", "ALL_PROXY", &name);
	if (!v) {
		snprintf(what, whatlen, "none");
		snprintf(from, fromlen, "no proxy variable in the environment");
		return 0;
	}
	url_host(url, host, sizeof(host));
	np = env_either("no_proxy", "NO_PROXY", &np_name);
	if (np && no_proxy_names(np, host)) {
		snprintf(what, whatlen, "none");
		snprintf(from, fromlen, "%s in the environment names %s", np_name, host);
		return 0;
	}
	snprintf(from, fromlen, "%s in the environment%s", name, shown(v, what, whatlen) ? ", with credentials" : "");
	return 1;
}
