/* The proxy between the agent and the endpoint: endpoint.proxy when it is set ("" for none), else the
 * one libcurl takes from the environment (https_proxy, all_proxy, no_proxy). A proxy URL may hold
 * credentials (http://user:password@host:3128): it is only ever shown without them. */
#ifndef ONSIDE_PROXY_H
#define ONSIDE_PROXY_H

#include <stddef.h>

/* Sets the easy handle's proxy from endpoint.proxy (NULL: leaves libcurl to the environment). An
 * explicit proxy is used for every request, whatever no_proxy says. Returns 0 or -EINVAL. */
int proxy_apply(void *easy, const char *proxy);

/* Which proxy a request to url goes through, for people: writes "http://proxy.example:3128" into what
 * and where it comes from ("endpoint.proxy", "https_proxy in the environment", with ", with
 * credentials" when the proxy's URL holds some) into from. Returns 1 when a proxy is used; 0 when none
 * is (what is then "none", and from says why). */
int proxy_describe(const char *url, const char *proxy, char *what, size_t whatlen, char *from, size_t fromlen);

/* The host of url: after "://" and any user@, up to the port or path (an IPv6 address unbracketed). */
void url_host(const char *url, char *out, size_t len);

#endif
