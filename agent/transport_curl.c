/* The sender's transport over libcurl's multi_socket interface, driven by the agent's loop (the shape
 * of curl's ephiperfifo example): a socket callback and a timer callback feed the loop, and after
 * each curl_multi_socket_action the finished transfers are drained (CURLMSG_DONE, the slot found
 * through CURLOPT_PRIVATE) and reported to the sender.
 *
 * Each slot owns one easy handle for its whole life; the multi handle's connection cache then reuses
 * connections (keep-alive) from one request to the next, and multiplexes them on one connection when
 * the server speaks HTTP/2. Options that do not change between requests are set again only after a
 * configure() (a reload). */
#include "transport.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cabundle.h"
#include "proxy.h"
#include "curlmem.h"
#include "httpresp.h"
#include "log.h"

#define COMP "sender"

struct tc_slot {
	struct tcurl *t;
	unsigned idx;
	CURL *easy;
	unsigned opts_gen; /* t->opts_gen its static options were set for */
	struct buf resp;
	int64_t retry_after_ms; /* -1: the response had none */
	char errbuf[CURL_ERROR_SIZE];
};

struct tcurl {
	struct loop *loop;
	CURLM *multi;
	struct transport_events ev;
	const struct sender_opts *opts;
	unsigned opts_gen;
	struct curl_slist *headers;
	struct tc_slot **slots; /* nslots, each allocated once: curl holds pointers to them */
	unsigned nslots;
	uint64_t curl_timer;
};

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct tc_slot *slot = data;
	size_t n = size * nmemb;

	/* keep the start of the body (for the dead-letter file) but accept the rest: returning less
	 * than n would fail the transfer */
	httpresp_body(&slot->resp, ptr, n);
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *data)
{
	struct tc_slot *slot = data;
	size_t n = size * nitems;

	(void)httpresp_header(ptr, n, time(NULL), &slot->retry_after_ms);
	return n;
}

/* Options that stay the same from one request to the next (until the next configure). */
static int easy_setup(const struct tcurl *t, struct tc_slot *slot)
{
	CURL *e = slot->easy;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, t->opts->url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERNAME, t->opts->username) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, t->opts->password) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->opts->timeout_ms) != CURLE_OK;
	bad |= cabundle_apply(e, t->opts->ca_file) < 0; /* ca_file, else the system's bundle */
	bad |= proxy_apply(e, t->opts->proxy) < 0;      /* endpoint.proxy, else the environment's */
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 deprecated the bitmask form */
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
#else
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
#endif
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "onside-agent/" ONSIDE_VERSION) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	/* a request starting while a connection is being set up waits to learn whether it can share it
	 * (HTTP/2) instead of opening one more */
	bad |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, slot) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, slot) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, slot->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, slot) != CURLE_OK;
	return bad ? -EINVAL : 0;
}

static int tc_start(void *data, unsigned idx, const char *body, size_t len)
{
	struct tcurl *t = data;
	struct tc_slot *slot = t->slots[idx];
	CURLMcode mc;
	int r;

	if (!slot->easy) {
		slot->easy = curl_easy_init();
		if (!slot->easy)
			return -ENOMEM;
		slot->opts_gen = t->opts_gen - 1;
	}
	if (slot->opts_gen != t->opts_gen) {
		/* reset drops options that the new settings may no longer want (CAINFO); live
		 * connections survive it */
		curl_easy_reset(slot->easy);
		if ((r = easy_setup(t, slot)) < 0)
			return r;
		slot->opts_gen = t->opts_gen;
	}
	/* the body is sent from the batch itself: no copy; it lives until the request is done */
	if (curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
	    curl_easy_setopt(slot->easy, CURLOPT_POSTFIELDS, body) != CURLE_OK)
		return -EINVAL;
	buf_reset(&slot->resp);
	slot->retry_after_ms = -1;
	slot->errbuf[0] = '\0';
	mc = curl_multi_add_handle(t->multi, slot->easy);
	if (mc != CURLM_OK) {
		log_warnx(COMP, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		return -EIO;
	}
	return 0;
}

/* How long the transfer took to get going: a new connection's TCP and TLS handshakes, or the wait for
 * a connection to share, are not the server's round trip. */
static uint64_t setup_us(const struct tc_slot *slot)
{
	curl_off_t setup = 0;

	if (curl_easy_getinfo(slot->easy, CURLINFO_PRETRANSFER_TIME_T, &setup) != CURLE_OK || setup < 0)
		return 0;
	return (uint64_t)setup;
}

/* Whether the transfer had to open a connection rather than reuse one. */
static bool connected(const struct tc_slot *slot)
{
	long n = 0;

	return curl_easy_getinfo(slot->easy, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK && n > 0;
}

static void report(struct tcurl *t, struct tc_slot *slot, CURLcode res)
{
	struct transport_result r = {.body = slot->resp.data ? slot->resp.data : "", .body_len = slot->resp.len,
				     .retry_after_ms = slot->retry_after_ms, .setup_us = setup_us(slot),
				     .connected = connected(slot)};

	if (res != CURLE_OK)
		r.error = slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(res);
	else if (curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &r.status) != CURLE_OK)
		r.status = 0;
	t->ev.done(t->ev.data, slot->idx, &r);
}

static void drain_done(struct tcurl *t)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(t->multi, &left))) {
		CURL *easy = msg->easy_handle;
		CURLcode res = msg->data.result;
		char *priv = NULL;
		CURLMcode mc;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg is invalid once the handle is removed: everything needed was copied above */
		if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv)
			continue;
		mc = curl_multi_remove_handle(t->multi, easy);
		if (mc != CURLM_OK)
			log_warnx(COMP, "curl_multi_remove_handle: %s", curl_multi_strerror(mc));
		report(t, (struct tc_slot *)(void *)priv, res);
	}
	t->ev.idle(t->ev.data);
}

static void on_sock_event(struct loop *l, int fd, int events, void *data)
{
	struct tcurl *t = data;
	int action = ((events & LOOP_READ) ? CURL_CSELECT_IN : 0) | ((events & LOOP_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;
	CURLMcode mc;

	mc = curl_multi_socket_action(t->multi, fd, action, &running);
	if (mc != CURLM_OK)
		log_warnx(COMP, "curl_multi_socket_action: %s", curl_multi_strerror(mc));
	drain_done(t);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct tcurl *t = userp;
	int mask = 0, r;

	if (what == CURL_POLL_REMOVE) {
		(void)loop_del_fd(t->loop, fd);
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		mask |= LOOP_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		mask |= LOOP_WRITE;
	r = loop_add_fd(t->loop, fd, mask, on_sock_event, t);
	if (r < 0)
		log_errorx(COMP, "cannot watch a connection: %s", strerror(-r));
	/* a transfer whose socket is not watched still ends at CURLOPT_TIMEOUT_MS and is retried;
	 * returning -1 would make newer libcurl kill every transfer */
	return 0;
}

static int64_t on_curl_timeout(struct loop *l, void *data)
{
	struct tcurl *t = data;
	int running;
	CURLMcode mc;

	/* curl may ask for a new timer from inside socket_action: this one is finished */
	t->curl_timer = 0;
	mc = curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	if (mc != CURLM_OK)
		log_warnx(COMP, "curl_multi_socket_action: %s", curl_multi_strerror(mc));
	drain_done(t);
	return LOOP_TIMER_STOP;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct tcurl *t = userp;

	if (timeout_ms < 0) {
		if (t->curl_timer)
			(void)loop_del_timer(t->loop, t->curl_timer);
		t->curl_timer = 0;
		return 0;
	}
	if (t->curl_timer && loop_reset_timer(t->loop, t->curl_timer, timeout_ms) == 0)
		return 0;
	t->curl_timer = loop_add_timer(t->loop, timeout_ms, on_curl_timeout, t);
	return t->curl_timer ? 0 : -1;
}

static int multi_setup(struct tcurl *t)
{
	int bad = 0;

	t->multi = curl_multi_init();
	if (!t->multi)
		return -ENOMEM;
	bad |= curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK;
	bad |= curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t) != CURLM_OK;
	bad |= curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK;
	bad |= curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t) != CURLM_OK;
	bad |= curl_multi_setopt(t->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) != CURLM_OK;
	return bad ? -EINVAL : 0;
}

/* Slots up to the largest concurrency the options allow, and a connection cache that keeps one
 * connection per slot alive between requests (by default it holds four per handle added, and between
 * requests none is). */
static int tc_grow(void *data, unsigned want)
{
	struct tcurl *t = data;
	struct tc_slot **v;

	if (want <= t->nslots)
		return 0;
	v = realloc(t->slots, want * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->slots = v;
	for (; t->nslots < want; t->nslots++) {
		struct tc_slot *slot = calloc(1, sizeof(*slot));

		if (!slot)
			return -ENOMEM;
		slot->t = t;
		slot->idx = t->nslots;
		buf_init(&slot->resp, HTTPRESP_BODY_MAX);
		t->slots[t->nslots] = slot;
	}
	return curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)t->nslots) == CURLM_OK ? 0 : -EINVAL;
}

static void tc_configure(void *data, const struct sender_opts *o)
{
	struct tcurl *t = data;

	t->opts = o;
	t->opts_gen++;
}

static void tc_destroy(void *data)
{
	struct tcurl *t = data;

	if (!t)
		return;
	for (unsigned i = 0; i < t->nslots; i++) {
		struct tc_slot *slot = t->slots[i];

		if (slot->easy) {
			(void)curl_multi_remove_handle(t->multi, slot->easy); /* a no-op when idle */
			curl_easy_cleanup(slot->easy);
		}
		buf_free(&slot->resp);
		free(slot);
	}
	free(t->slots);
	/* closes cached connections, which unregisters their fds from the loop */
	if (t->multi)
		curl_multi_cleanup(t->multi);
	if (t->curl_timer)
		(void)loop_del_timer(t->loop, t->curl_timer);
	curl_slist_free_all(t->headers);
	free(t);
}

static void *tc_create(struct loop *l, const struct transport_events *ev)
{
	static bool curl_ready;
	struct curl_slist *h;
	struct tcurl *t;

	/* the agent is single-threaded: initialising on first use is safe */
	if (!curl_ready && curlmem_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	curl_ready = true;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->loop = l;
	t->ev = *ev;
	t->opts_gen = 1;
	h = curl_slist_append(NULL, "Content-Type: application/json");
	/* "Expect:" removes curl's Expect: 100-continue, which costs a round trip per large body */
	t->headers = h ? curl_slist_append(h, "Expect:") : NULL;
	if (!t->headers)
		curl_slist_free_all(h);
	if (!t->headers || multi_setup(t) < 0) {
		tc_destroy(t);
		return NULL;
	}
	return t;
}

const struct transport_ops transport_curl = {
	.create = tc_create,
	.destroy = tc_destroy,
	.grow = tc_grow,
	.configure = tc_configure,
	.start = tc_start,
};
