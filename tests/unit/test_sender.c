/* The HTTP sender against a tiny HTTP/1.1 server that lives in the same event loop: it parses the
 * request line, headers and a Content-Length body, records every request, answers from a script
 * (or a rule) and keeps connections alive. Runs end on a condition (delivered, a request count),
 * with a guard timer that fails the test instead of hanging. Rules whose timing matters to the
 * millisecond also run over a scripted transport (transport.h) that answers when the test says. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"
#include "buf.h"
#include "log.h"
#include "loop.h"
#include "sender.h"
#include "transport.h"

#define GUARD_MS 8000
#define MAX_REQS 64
#define AUTH_USER_PASS "Authorization: Basic dXNlcjpwYXNz\r\n" /* base64("user:pass") */

struct req {
	char *head; /* request line and headers, CRLFs kept */
	char *body;
	size_t body_len;
	uint64_t at_ms;
};

struct resp {
	int status;
	const char *headers; /* extra header lines, each ending in CRLF */
	const char *body;
};

struct ctx;

struct conn {
	struct ctx *c;
	int fd;
	struct buf in;
	struct conn *next;
};

typedef void (*respond_fn)(struct ctx *c, const struct req *r, struct resp *ret);

struct rejection {
	char line[64];
	long status;
	char body[128];
	void *owner;
};

struct ctx {
	struct loop *l;
	struct sender *s;
	int lfd;
	int port;
	int accepted;
	struct conn *conns;
	struct req reqs[MAX_REQS];
	int nreq;
	const struct resp *script; /* answers in order; 204 once exhausted */
	int nscript;
	respond_fn respond; /* overrides the script */
	const char *marker;
	size_t max_body;
	struct batch *delivered[16];
	int ndelivered;
	struct rejection rejected[16];
	int nrejected;
	struct failure {
		long status;
		unsigned in_a_row;
		bool failing, retry_set;
	} failed[16];
	int nfailed;
	bool (*until)(struct ctx *c);
	int want;
	bool timed_out;
};

/* ---- the server ---- */

static void conn_close(struct ctx *c, struct conn *k)
{
	struct conn **pp = &c->conns;

	while (*pp != k)
		pp = &(*pp)->next;
	*pp = k->next;
	loop_del_fd(c->l, k->fd);
	close(k->fd);
	buf_free(&k->in);
	free(k);
}

static void answer(struct ctx *c, int fd, const struct req *r)
{
	struct resp a = {204, "", ""};
	char out[1024];
	int n;

	if (c->respond)
		c->respond(c, r, &a);
	else if (c->nreq <= c->nscript)
		a = c->script[c->nreq - 1];
	if (a.status == 0)
		return; /* a server that hangs */
	if (a.status == 204)
		n = snprintf(out, sizeof(out), "HTTP/1.1 204 No Content\r\n%s\r\n", a.headers ? a.headers : "");
	else
		n = snprintf(out, sizeof(out), "HTTP/1.1 %d Status\r\nContent-Type: application/json\r\n"
			     "Content-Length: %zu\r\n%s\r\n%s",
			     a.status, strlen(a.body ? a.body : ""), a.headers ? a.headers : "", a.body ? a.body : "");
	assert_true(n > 0 && (size_t)n < sizeof(out));
	assert_int_equal(send(fd, out, (size_t)n, MSG_NOSIGNAL), n);
}

/* Takes one complete request off k->in; returns false when more bytes are needed. */
static bool take_request(struct ctx *c, struct conn *k)
{
	char *end = memmem(k->in.data, k->in.len, "\r\n\r\n", 4), *cl;
	size_t hlen, blen = 0;
	struct req *r;

	if (!end)
		return false;
	hlen = (size_t)(end - k->in.data) + 4;
	*end = '\0';
	cl = strcasestr(k->in.data, "\r\nContent-Length:");
	if (cl)
		blen = strtoul(cl + 17, NULL, 10);
	*end = '\r';
	if (k->in.len < hlen + blen)
		return false;
	assert_true(c->nreq < MAX_REQS);
	r = &c->reqs[c->nreq++];
	r->head = strndup(k->in.data, hlen);
	r->body = malloc(blen + 1);
	memcpy(r->body, k->in.data + hlen, blen);
	r->body[blen] = '\0';
	r->body_len = blen;
	r->at_ms = loop_now_ms();
	answer(c, k->fd, r);
	memmove(k->in.data, k->in.data + hlen + blen, k->in.len - hlen - blen);
	k->in.len -= hlen + blen;
	return true;
}

static void conn_read(struct loop *l, int fd, int events, void *data)
{
	struct conn *k = data;
	char tmp[16384];
	ssize_t n = recv(fd, tmp, sizeof(tmp), 0);

	if (n <= 0) {
		conn_close(k->c, k);
		return;
	}
	assert_int_equal(buf_append(&k->in, tmp, (size_t)n), 0);
	while (take_request(k->c, k))
		;
}

static void srv_accept(struct loop *l, int fd, int events, void *data)
{
	struct ctx *c = data;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	struct conn *k;

	if (cfd < 0)
		return;
	c->accepted++;
	k = calloc(1, sizeof(*k));
	k->c = c;
	k->fd = cfd;
	buf_init(&k->in, 0);
	k->next = c->conns;
	c->conns = k;
	assert_int_equal(loop_add_fd(l, cfd, LOOP_READ, conn_read, k), 0);
}

static int listen_on(int port, int *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t alen = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static void srv_start(struct ctx *c, int port)
{
	c->lfd = listen_on(port, &c->port);
	assert_int_equal(loop_add_fd(c->l, c->lfd, LOOP_READ, srv_accept, c), 0);
}

/* ---- the sender side ---- */

static void on_delivered(struct batch *b, void *data)
{
	struct ctx *c = data;

	assert_true(c->ndelivered < 16);
	c->delivered[c->ndelivered++] = b; /* compared by address only */
	batch_free(b);
}

static int on_rejected(const struct batch *b, size_t i, long status, const char *body, size_t body_len,
		       void *data)
{
	struct ctx *c = data;
	struct rejection *r = &c->rejected[c->nrejected++];
	struct batch_line l = batch_event_line(b, i);

	snprintf(r->line, sizeof(r->line), "%.*s", (int)l.len, l.line);
	snprintf(r->body, sizeof(r->body), "%.*s", (int)body_len, body);
	r->status = status;
	r->owner = batch_owner(b);
	return 0;
}

static void on_failed(long status, void *data)
{
	struct ctx *c = data;
	const struct sender_stats *st = sender_stats(c->s);

	assert_true(c->nfailed < 16);
	c->failed[c->nfailed++] = (struct failure){status, st->consecutive_failures, st->failing_since_ms != 0,
						   st->next_retry_ms != 0};
}

static struct sender_opts opts_for(struct ctx *c)
{
	static char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/attribution-api/v1/events", c->port);
	return (struct sender_opts){.url = url,
				    .username = "user",
				    .password = "pass",
				    .timeout_ms = 5000,
				    .max_in_flight = 1,
				    .initial_backoff_ms = 10,
				    .max_backoff_ms = 40};
}

/* Starts the server with a script of answers; returns sender options pointing at it. */
static struct sender_opts serve(struct ctx *c, const struct resp *script, int n)
{
	c->script = script;
	c->nscript = n;
	srv_start(c, 0);
	return opts_for(c);
}

static void sender_start(struct ctx *c, const struct sender_opts *o)
{
	struct sender_cbs cbs = {.delivered = on_delivered, .rejected = on_rejected, .data = c, .failed = on_failed};

	c->s = sender_new(c->l, o, &cbs);
	assert_non_null(c->s);
}

static struct batch *make_batch(int n, int first, void *owner)
{
	struct batch *b = batch_new(1000, 999999);
	char json[128], line[32];

	for (int i = first; i < first + n; i++) {
		int jl = snprintf(json, sizeof(json),
				  "{\"event_name\":\"purchase_completed\",\"payload\":{\"i\":%d},\"pad\":\"xxxxxxxx\"}", i);
		int ll = snprintf(line, sizeof(line), "line %d", i);
		assert_int_equal(batch_add_event(b, json, (size_t)jl, &(struct batch_line){line, (size_t)ll, (uint64_t)i * 10, (uint64_t)i * 10 + (uint64_t)ll + 1, NULL}), 0);
	}
	batch_set_owner(b, owner);
	batch_close(b);
	return b;
}

static int64_t guard_cb(struct loop *l, void *data)
{
	((struct ctx *)data)->timed_out = true;
	loop_stop(l);
	return LOOP_TIMER_STOP;
}

static void check_until(struct loop *l, void *data)
{
	struct ctx *c = data;

	if (c->until(c))
		loop_stop(l);
}

/* Drives the loop until cond holds; fails the test after GUARD_MS. */
static void run_until(struct ctx *c, bool (*cond)(struct ctx *), int want)
{
	uint64_t guard = loop_add_timer(c->l, GUARD_MS, guard_cb, c);

	c->until = cond;
	c->want = want;
	loop_set_before_sleep(c->l, check_until, c);
	assert_int_equal(loop_run(c->l), 0);
	loop_del_timer(c->l, guard);
	assert_false(c->timed_out);
}

static bool delivered_n(struct ctx *c) { return c->ndelivered >= c->want; }
static bool requests_n(struct ctx *c) { return sender_stats(c->s)->requests_total >= (uint64_t)c->want; }

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	log_init(LOG_LEVEL_ERROR);
	c->l = loop_new();
	c->lfd = -1;
	*state = c;
	return c->l ? 0 : -1;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	sender_free(c->s);
	for (int i = 0; i < c->nreq; i++) {
		free(c->reqs[i].head);
		free(c->reqs[i].body);
	}
	if (c->lfd >= 0) {
		loop_del_fd(c->l, c->lfd);
		close(c->lfd);
	}
	while (c->conns)
		conn_close(c, c->conns);
	loop_free(c->l);
	free(c);
	return 0;
}

static bool has_header(const struct req *r, const char *line) { return strstr(r->head, line) != NULL; }

/* ---- tests ---- */

static void test_exact_body_and_headers(void **state)
{
	struct ctx *c = *state;
	struct sender_opts o;
	struct batch *b;
	const char *body;
	char *sent;
	size_t sent_len;
	char cl[64];

	o = serve(c, NULL, 0);
	sender_start(c, &o);
	/* over 1 KiB: libcurl before 7.8x (Debian 11's 7.74) adds "Expect: 100-continue" unless told
	 * not to; test_large_body_without_expect covers newer ones */
	b = make_batch(30, 0, NULL);
	body = batch_body(b, &sent_len);
	sent = strndup(body, sent_len);
	assert_true(sent_len > 1024);
	assert_int_equal(sender_submit(c->s, b), 0);
	assert_int_equal(sender_pending(c->s), 1);
	run_until(c, delivered_n, 1);

	assert_int_equal(c->nreq, 1);
	assert_true(!strncmp(c->reqs[0].head, "POST /attribution-api/v1/events HTTP/1.1\r\n", 42));
	assert_true(has_header(&c->reqs[0], AUTH_USER_PASS));
	assert_true(has_header(&c->reqs[0], "\r\nContent-Type: application/json\r\n"));
	snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", sent_len);
	assert_true(has_header(&c->reqs[0], cl));
	assert_null(strcasestr(c->reqs[0].head, "Expect:"));
	assert_int_equal(c->reqs[0].body_len, sent_len);
	assert_memory_equal(c->reqs[0].body, sent, sent_len);

	assert_int_equal(c->ndelivered, 1);
	assert_ptr_equal(c->delivered[0], b);
	assert_int_equal(sender_pending(c->s), 0);
	assert_int_equal(sender_stats(c->s)->requests_total, 1);
	assert_int_equal(sender_stats(c->s)->requests_by_class[HTTPRESP_ST_204], 1);
	assert_int_equal(sender_stats(c->s)->events_delivered, 30);
	assert_int_equal(sender_stats(c->s)->in_flight, 0);
	assert_int_equal(sender_stats(c->s)->last_status, 204);
	assert_true(sender_stats(c->s)->last_success_unix > 0);
	free(sent);
}

static void test_large_body_without_expect(void **state)
{
	struct ctx *c = *state;
	struct sender_opts o;
	struct batch *b = batch_new(1000, 4 << 20);
	size_t pad_len = 1100 * 1000, sent_len;
	char *json = malloc(pad_len + 64), *sent;
	const char *body;
	int jl;

	/* over 1 MiB, beyond what the API takes, but the size where current libcurl asks for
	 * 100-continue: the sender must still send it in one go */
	jl = snprintf(json, pad_len + 64, "{\"payload\":{\"i\":0},\"pad\":\"");
	memset(json + jl, 'x', pad_len);
	memcpy(json + jl + pad_len, "\"}", 2);
	assert_int_equal(batch_add_event(b, json, (size_t)jl + pad_len + 2, &(struct batch_line){"l", 1, 0, 2, NULL}), 0);
	batch_close(b);
	body = batch_body(b, &sent_len);
	sent = strndup(body, sent_len);
	o = serve(c, NULL, 0);
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, b), 0);
	run_until(c, delivered_n, 1);

	assert_int_equal(c->nreq, 1);
	assert_null(strcasestr(c->reqs[0].head, "Expect:"));
	assert_int_equal(c->reqs[0].body_len, sent_len);
	assert_memory_equal(c->reqs[0].body, sent, sent_len);
	free(json);
	free(sent);
}

static void test_503_then_204_retries(void **state)
{
	static const struct resp script[] = {{503, "", "{\"error\":\"down\"}"}};
	struct ctx *c = *state;
	struct sender_opts o;
	struct batch *b;

	o = serve(c, script, 1);
	sender_start(c, &o);
	b = make_batch(3, 0, NULL);
	assert_int_equal(sender_submit(c->s, b), 0);
	run_until(c, delivered_n, 1);

	assert_int_equal(c->nreq, 2);
	assert_int_equal(c->reqs[0].body_len, c->reqs[1].body_len);
	assert_memory_equal(c->reqs[0].body, c->reqs[1].body, c->reqs[0].body_len);
	/* backed off at least initial_backoff (10 ms) */
	assert_true(c->reqs[1].at_ms - c->reqs[0].at_ms >= 10);
	assert_int_equal(c->ndelivered, 1);
	assert_ptr_equal(c->delivered[0], b);
	assert_int_equal(sender_stats(c->s)->retries, 1);
	assert_int_equal(sender_stats(c->s)->requests_by_class[HTTPRESP_ST_5XX], 1);
	assert_int_equal(sender_stats(c->s)->requests_by_class[HTTPRESP_ST_204], 1);
	assert_string_equal(sender_stats(c->s)->last_error, "");
	assert_int_equal(sender_stats(c->s)->events_delivered, 3);
}

static void test_timeout_retried(void **state)
{
	static const struct resp script[] = {{0, NULL, NULL}};
	struct ctx *c = *state;
	struct sender_opts o;

	o = serve(c, script, 1);
	o.timeout_ms = 200;
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(2, 0, NULL)), 0);
	run_until(c, delivered_n, 1);

	assert_int_equal(c->nreq, 2);
	assert_true(c->reqs[1].at_ms - c->reqs[0].at_ms >= 200);
	assert_int_equal(sender_stats(c->s)->requests_by_class[HTTPRESP_ST_TRANSPORT], 1);
	assert_int_equal(sender_stats(c->s)->retries, 1);
	/* the timed-out connection is not reused */
	assert_int_equal(c->accepted, 2);
}

static void test_429_honours_retry_after(void **state)
{
	static const struct resp script[] = {{429, "Retry-After: 1\r\n", "{}"}};
	struct ctx *c = *state;
	struct sender_opts o;

	o = serve(c, script, 1);
	o.max_backoff_ms = 5000; /* the cap must not shorten a 1 s Retry-After */
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(2, 0, NULL)), 0);
	run_until(c, delivered_n, 1);

	assert_int_equal(c->nreq, 2);
	assert_true(c->reqs[1].at_ms - c->reqs[0].at_ms >= 900);
	assert_int_equal(sender_stats(c->s)->requests_by_class[HTTPRESP_ST_429], 1);
	assert_int_equal(sender_stats(c->s)->retries, 1);
}

static void test_429_retry_after_http_date(void **state)
{
	struct resp script[1] = {{429, NULL, "{}"}};
	struct ctx *c = *state;
	struct sender_opts o;
	char hdr[64];
	time_t t = time(NULL) + 2;
	struct tm tm;

	/* two seconds ahead at one-second resolution: at least one second of wait */
	gmtime_r(&t, &tm);
	strftime(hdr, sizeof(hdr), "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	script[0].headers = hdr;
	o = serve(c, script, 1);
	o.max_backoff_ms = 5000;
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(2, 0, NULL)), 0);
	run_until(c, delivered_n, 1);

	assert_int_equal(c->nreq, 2);
	assert_true(c->reqs[1].at_ms - c->reqs[0].at_ms >= 900);
}

static void test_429_retry_after_absurd_is_capped(void **state)
{
	static const struct resp script[] = {{429, "Retry-After: 86401\r\n", "{}"}};
	struct ctx *c = *state;
	struct sender_opts o;

	o = serve(c, script, 1);
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(2, 0, NULL)), 0);
	/* over a day would trip the guard: max_backoff (40 ms) applies instead */
	run_until(c, delivered_n, 1);
	assert_int_equal(c->nreq, 2);
}

static void test_429_retry_after_longer_than_max_backoff_is_honoured(void **state)
{
	static const struct resp script[] = {{429, "Retry-After: 1\r\n", "{}"}};
	struct ctx *c = *state;
	struct sender_opts o;

	o = serve(c, script, 1); /* max_backoff 40 ms */
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(2, 0, NULL)), 0);
	run_until(c, delivered_n, 1);
	assert_int_equal(c->nreq, 2);
	assert_true(c->reqs[1].at_ms - c->reqs[0].at_ms >= 900);
}

/* Retry-After 0, or a date already past (a clock a little ahead of the server's), never makes the
 * retry come sooner than initial_backoff: no tight loop against a rate-limiting server. */
static void test_429_retry_after_zero_waits_initial_backoff(void **state)
{
	static const struct resp script[] = {{429, "Retry-After: 0\r\n", "{}"},
					     {429, "Retry-After: Thu, 01 Jan 2015 00:00:00 GMT\r\n", "{}"}};
	struct ctx *c = *state;
	struct sender_opts o;

	o = serve(c, script, 2);
	o.initial_backoff_ms = 300;
	o.max_backoff_ms = 300;
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(2, 0, NULL)), 0);
	run_until(c, delivered_n, 1);
	assert_int_equal(c->nreq, 3);
	assert_true(c->reqs[1].at_ms - c->reqs[0].at_ms >= 290);
	assert_true(c->reqs[2].at_ms - c->reqs[1].at_ms >= 290);
	assert_int_equal(sender_stats(c->s)->requests_by_class[HTTPRESP_ST_429], 2);
}

/* A 200 (or any 2xx but 204) is a proxy, captive portal or wrong URL answering: not delivered. */
static void test_200_is_not_delivery(void **state)
{
	static const struct resp script[] = {{200, "", "<html>Welcome to the hotel wifi</html>"},
					     {202, "", "{}"}};
	struct ctx *c = *state;
	struct sender_opts o;

	o = serve(c, script, 2);
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(2, 0, NULL)), 0);
	run_until(c, delivered_n, 1);
	assert_int_equal(c->nreq, 3);
	assert_int_equal(sender_stats(c->s)->requests_by_class[HTTPRESP_ST_OTHER_2XX], 2);
	assert_int_equal(sender_stats(c->s)->requests_by_class[HTTPRESP_ST_204], 1);
	assert_int_equal(sender_stats(c->s)->events_delivered, 2);
	assert_int_equal(sender_stats(c->s)->retries, 2);
}

static void respond_marker(struct ctx *c, const struct req *r, struct resp *ret)
{
	if (strstr(r->body, c->marker))
		*ret = (struct resp){400, "", "{\"error\":\"invalid event_id\"}"};
}

/* The events (by payload index) carried by a request body, in order. */
static int events_in(const struct req *r, int *ret_idx, int max)
{
	int n = 0;

	for (const char *p = r->body; (p = strstr(p, "{\"i\":")) && n < max; p += 5)
		ret_idx[n++] = atoi(p + 5);
	return n;
}

/* Every event index accepted with 2xx, in request order. */
static int accepted_events(struct ctx *c, int *ret_idx, int max)
{
	int n = 0;

	for (int i = 0; i < c->nreq; i++) {
		struct resp a = {204, "", ""};
		if (c->respond)
			c->respond(c, &c->reqs[i], &a);
		if (a.status == 204)
			n += events_in(&c->reqs[i], ret_idx + n, max - n);
	}
	return n;
}

static void test_400_isolates_rejected_event(void **state)
{
	struct ctx *c = *state;
	struct sender_opts o;
	struct batch *b = batch_new(1000, 999999);
	int owner, idx[16], n;

	for (int i = 0; i < 5; i++) {
		char json[96], line[16];
		int jl = snprintf(json, sizeof(json), "{\"payload\":{\"i\":%d},\"event_id\":\"%s\"}", i,
				  i == 3 ? "BAD" : "550e8400-e29b-41d4-a716-446655440000");
		int ll = snprintf(line, sizeof(line), "line %d", i);
		assert_int_equal(batch_add_event(b, json, (size_t)jl, &(struct batch_line){line, (size_t)ll, (uint64_t)i, (uint64_t)i + (uint64_t)ll + 1, NULL}), 0);
	}
	batch_set_owner(b, &owner);
	batch_close(b);
	c->marker = "\"BAD\"";
	c->respond = respond_marker;
	o = serve(c, NULL, 0);
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, b), 0);
	run_until(c, delivered_n, 1);

	assert_int_equal(c->nrejected, 1);
	assert_string_equal(c->rejected[0].line, "line 3");
	assert_int_equal(c->rejected[0].status, 400);
	assert_string_equal(c->rejected[0].body, "{\"error\":\"invalid event_id\"}");
	assert_ptr_equal(c->rejected[0].owner, &owner);
	assert_int_equal(c->ndelivered, 1);
	assert_ptr_equal(c->delivered[0], b);
	n = accepted_events(c, idx, 16);
	assert_int_equal(n, 4);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[1], 1);
	assert_int_equal(idx[2], 2);
	assert_int_equal(idx[3], 4);
	assert_int_equal(sender_stats(c->s)->events_delivered, 4);
	assert_int_equal(sender_stats(c->s)->events_rejected, 1);
	assert_int_equal(sender_stats(c->s)->retries, 0);
	assert_int_equal(sender_pending(c->s), 0);
}

static void respond_size(struct ctx *c, const struct req *r, struct resp *ret)
{
	if (r->body_len > c->max_body)
		*ret = (struct resp){413, "", "{\"error\":\"too large\"}"};
}

static void test_413_splits_until_pieces_fit(void **state)
{
	struct ctx *c = *state;
	struct sender_opts o;
	struct batch *b = batch_new(1000, 999999);
	int idx[32], n;
	char pad[301];

	memset(pad, '.', 300);
	pad[300] = '\0';
	/* 48-byte events (4 of them make 208 bytes) and, at index 5, one that is too large alone */
	for (int i = 0; i < 9; i++) {
		char json[512], line[16];
		int jl = snprintf(json, sizeof(json), "{\"payload\":{\"i\":%d},\"pad\":\"%.*s\"}", i,
				  i == 5 ? 300 : 20, pad);
		int ll = snprintf(line, sizeof(line), "line %d", i);
		assert_int_equal(batch_add_event(b, json, (size_t)jl, &(struct batch_line){line, (size_t)ll, (uint64_t)i, (uint64_t)i + (uint64_t)ll + 1, NULL}), 0);
	}
	batch_close(b);
	c->max_body = 200;
	c->respond = respond_size;
	o = serve(c, NULL, 0);
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, b), 0);
	run_until(c, delivered_n, 1);

	/* the event that is too large alone is reported, every other one accepted once, in order */
	assert_int_equal(c->nrejected, 1);
	assert_string_equal(c->rejected[0].line, "line 5");
	assert_int_equal(c->rejected[0].status, 413);
	n = accepted_events(c, idx, 32);
	assert_int_equal(n, 8);
	for (int i = 0, want = 0; i < n; i++, want++) {
		if (want == 5)
			want++;
		assert_int_equal(idx[i], want);
	}
	assert_int_equal(c->ndelivered, 1);
	assert_int_equal(sender_stats(c->s)->events_delivered, 8);
	assert_true(sender_stats(c->s)->requests_by_class[HTTPRESP_ST_413] >= 3);
}

static bool transport_failures_n(struct ctx *c)
{
	return sender_stats(c->s)->requests_by_class[HTTPRESP_ST_TRANSPORT] >= (uint64_t)c->want;
}

static void test_connection_refused_backs_off_and_delivers(void **state)
{
	struct ctx *c = *state;
	struct sender_opts o;
	uint64_t t0;
	int fd;

	/* a port that was free a moment ago: nothing listens there */
	fd = listen_on(0, &c->port);
	close(fd);
	o = opts_for(c);
	sender_start(c, &o);
	t0 = loop_now_ms();
	assert_int_equal(sender_submit(c->s, make_batch(2, 0, NULL)), 0);
	run_until(c, transport_failures_n, 3);

	/* two waits of at least initial_backoff (10 ms; the second of 10 to 20 ms) */
	assert_true(loop_now_ms() - t0 >= 20);
	assert_true(sender_stats(c->s)->retries >= 3);
	assert_int_equal(sender_stats(c->s)->last_status, 0);
	assert_true(sender_stats(c->s)->last_error[0] != '\0');
	assert_int_equal(c->ndelivered, 0);
	assert_int_equal(sender_pending(c->s), 1);

	/* never dropped: delivered as soon as the server is there */
	srv_start(c, c->port);
	run_until(c, delivered_n, 1);
	assert_int_equal(c->nreq, 1);
	assert_int_equal(sender_stats(c->s)->events_delivered, 2);
}

static void test_connection_reused(void **state)
{
	struct ctx *c = *state;
	struct sender_opts o;

	o = serve(c, NULL, 0);
	sender_start(c, &o);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sender_submit(c->s, make_batch(2, i * 2, NULL)), 0);
		run_until(c, delivered_n, i + 1);
	}
	/* queued together, sent one after the other on the same connection */
	for (int i = 0; i < 3; i++)
		assert_int_equal(sender_submit(c->s, make_batch(2, 6 + i * 2, NULL)), 0);
	run_until(c, delivered_n, 6);
	assert_int_equal(c->nreq, 6);
	assert_int_equal(c->accepted, 1);
}

static void test_order_kept_while_backing_off(void **state)
{
	static const struct resp script[] = {{500, "", "{}"}, {502, "", "{}"}};
	struct ctx *c = *state;
	struct sender_opts o;
	struct batch *b[3];
	int idx[4];

	o = serve(c, script, 2);
	o.max_in_flight = 2;
	/* long enough that the second failure lands while the first one's pause runs */
	o.initial_backoff_ms = 60;
	o.max_backoff_ms = 120;
	sender_start(c, &o);
	for (int i = 0; i < 3; i++) {
		b[i] = make_batch(1, i, NULL);
		assert_int_equal(sender_submit(c->s, b[i]), 0);
	}
	run_until(c, delivered_n, 3);

	/* the two first requests (sent together, in either order) failed: both are resent, again
	 * together, before the third batch goes out */
	assert_int_equal(c->nreq, 5);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(events_in(&c->reqs[i], idx, 4), 1);
		assert_true(idx[0] == 0 || idx[0] == 1);
	}
	assert_true(c->reqs[2].at_ms - c->reqs[1].at_ms >= 30);
	assert_int_equal(events_in(&c->reqs[4], idx, 4), 1);
	assert_int_equal(idx[0], 2);
	assert_ptr_equal(c->delivered[2], b[2]);
}

/* A backoff running when a 429 with Retry-After arrives is stretched to it: the server asked it of
 * every request, those in flight included. */
static void test_retry_after_applies_to_every_request(void **state)
{
	static const struct resp script[] = {{503, "", "{}"}, {429, "Retry-After: 1\r\n", "{}"}};
	struct ctx *c = *state;
	struct sender_opts o;

	o = serve(c, script, 2);
	o.max_in_flight = 2;
	o.initial_backoff_ms = 60;
	o.max_backoff_ms = 120;
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(1, 0, NULL)), 0);
	assert_int_equal(sender_submit(c->s, make_batch(1, 1, NULL)), 0);
	run_until(c, delivered_n, 2);

	assert_int_equal(c->nreq, 4);
	/* whichever failure came first, nothing was resent before the Retry-After second */
	assert_true(c->reqs[2].at_ms - c->reqs[1].at_ms >= 900);
	assert_true(c->reqs[3].at_ms - c->reqs[1].at_ms >= 900);
}

/* 401 and 403 are not the sender's to log (the agent tells them, with their fix): they reach the
 * failed callback, with the failure counted in the stats (in a row, since when, the next retry); the
 * 503 after them is logged once, and the recovery once. Nothing logged holds the password. */
static void test_refusals_are_reported_and_other_failures_logged_once_without_secrets(void **state)
{
	static const struct resp script[] = {{401, "", "{}"}, {401, "", "{}"}, {403, "", "{}"}, {503, "", "{}"}};
	struct ctx *c = *state;
	struct sender_opts o;
	FILE *log = tmpfile();
	char text[4096] = "";
	int fd = log ? fileno(log) : -1, saved = dup(2), errors = 0, warns = 0;
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	o = serve(c, script, 4);
	o.password = "s3cret-pw";
	sender_start(c, &o);
	log_init(LOG_LEVEL_INFO);
	dup2(fd, 2);
	assert_int_equal(sender_submit(c->s, make_batch(1, 0, NULL)), 0);
	run_until(c, delivered_n, 1);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	fclose(log);
	assert_true(n > 0);

	for (char *p = text; (p = strstr(p, "error sender:")); p++)
		errors++;
	for (char *p = text; (p = strstr(p, "warn sender:")); p++)
		warns++;
	assert_int_equal(errors, 0);
	assert_int_equal(c->nfailed, 4);
	for (int i = 0; i < 4; i++) {
		static const long want[] = {401, 401, 403, 503};

		assert_int_equal(c->failed[i].status, want[i]);
		assert_int_equal(c->failed[i].in_a_row, (unsigned)i + 1);
		assert_true(c->failed[i].failing);
		assert_true(c->failed[i].retry_set);
	}
	assert_int_equal(warns, 1); /* the 503 that followed, once */
	assert_int_equal(sender_stats(c->s)->consecutive_failures, 0);
	assert_int_equal(sender_stats(c->s)->failing_since_ms, 0);
	assert_int_equal(sender_stats(c->s)->next_retry_ms, 0);
	assert_non_null(strstr(text, "recovered after 4 failed attempts"));
	assert_null(strstr(text, "s3cret"));
	assert_null(strstr(text, "Authorization"));
	assert_int_equal(sender_stats(c->s)->requests_by_class[HTTPRESP_ST_401_403], 3);
}

static void test_set_opts_applies_to_next_request(void **state)
{
	static const struct resp script[] = {{401, "", "{}"}};
	struct ctx *c = *state;
	struct sender_opts o;

	o = serve(c, script, 1);
	o.password = "wrong";
	o.initial_backoff_ms = o.max_backoff_ms = 600000;
	sender_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(1, 0, NULL)), 0);
	run_until(c, requests_n, 1);
	assert_false(has_header(&c->reqs[0], AUTH_USER_PASS));

	/* the reload does not wait out the ten-minute backoff */
	o.password = "pass";
	assert_int_equal(sender_set_opts(c->s, &o), 0);
	run_until(c, delivered_n, 1);
	assert_int_equal(c->nreq, 2);
	assert_true(has_header(&c->reqs[1], AUTH_USER_PASS));
}

static void test_free_aborts_pending(void **state)
{
	struct ctx *c = *state;
	struct sender_opts o;
	int fd;

	fd = listen_on(0, &c->port);
	close(fd);
	o = opts_for(c);
	o.initial_backoff_ms = o.max_backoff_ms = 600000;
	sender_start(c, &o);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sender_submit(c->s, make_batch(2, i * 2, NULL)), 0);
	assert_int_equal(sender_submit(c->s, NULL), -EINVAL);
	run_until(c, transport_failures_n, 1);
	assert_int_equal(sender_pending(c->s), 3);
	/* teardown frees the sender with three batches pending: nothing delivered, nothing leaked */
	sender_free(c->s);
	c->s = NULL;
	assert_int_equal(c->ndelivered, 0);
}

/* ---- the rules over a scripted transport: the real loop and timers, answers when the test says ---- */

#define SC_MAX 16

struct scripted {
	struct transport_events ev;
	unsigned nslots;
	bool busy[SC_MAX];
	uint64_t start_ms[SC_MAX]; /* every request started, in order */
	int nstarts;
};

static struct scripted sc;

static void *sc_create(struct loop *l, const struct transport_events *ev)
{
	sc.ev = *ev;
	return &sc;
}

static void sc_destroy(void *t) {}

static int sc_grow(void *t, unsigned n)
{
	assert_true(n <= SC_MAX);
	sc.nslots = n > sc.nslots ? n : sc.nslots;
	return 0;
}

static void sc_configure(void *t, const struct sender_opts *o) {}

static int sc_start(void *t, unsigned slot, const char *body, size_t len)
{
	assert_true(slot < sc.nslots && !sc.busy[slot] && sc.nstarts < SC_MAX);
	sc.busy[slot] = true;
	sc.start_ms[sc.nstarts++] = loop_now_ms();
	return 0;
}

static const struct transport_ops scripted_ops = {
	.create = sc_create,
	.destroy = sc_destroy,
	.grow = sc_grow,
	.configure = sc_configure,
	.start = sc_start,
};

/* An answer the loop gives after a delay, as a connection would; at_ms is when it came. */
struct later {
	unsigned slot;
	long status;
	uint64_t at_ms;
};

static int64_t answer_cb(struct loop *l, void *data)
{
	struct later *a = data;
	struct transport_result r = {.status = a->status, .body = "", .retry_after_ms = -1};

	a->at_ms = loop_now_ms();
	sc.busy[a->slot] = false;
	sc.ev.done(sc.ev.data, a->slot, &r);
	sc.ev.idle(sc.ev.data);
	return LOOP_TIMER_STOP;
}

static void answer_in(struct ctx *c, int64_t ms, struct later *a)
{
	assert_true(sc.busy[a->slot]);
	assert_true(loop_add_timer(c->l, ms, answer_cb, a) != 0);
}

static void scripted_start(struct ctx *c, const struct sender_opts *o)
{
	struct sender_cbs cbs = {.delivered = on_delivered, .rejected = on_rejected, .data = c, .failed = on_failed};

	memset(&sc, 0, sizeof(sc));
	c->s = sender_new_with(c->l, o, &cbs, &scripted_ops);
	assert_non_null(c->s);
}

static bool starts_n(struct ctx *c) { return sc.nstarts >= c->want; }

/* SPEC: no wait before a retry is shorter than initial_backoff; equal jitter over the whole first step
 * once made it as short as half of it (with this seed, 54 of 60 ms). */
static void test_first_retry_waits_initial_backoff(void **state)
{
	struct ctx *c = *state;
	struct sender_opts o = opts_for(c);
	struct later fail = {0, 503, 0}, ok = {0, 204, 0};

	o.initial_backoff_ms = o.max_backoff_ms = 60;
	o.jitter_seed = 1;
	scripted_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(1, 0, NULL)), 0);
	assert_int_equal(sc.nstarts, 1);
	answer_in(c, 0, &fail);
	run_until(c, starts_n, 2);
	assert_true(sc.start_ms[1] - fail.at_ms >= 60);
	answer_in(c, 0, &ok);
	run_until(c, delivered_n, 1);
	assert_int_equal(sender_stats(c->s)->retries, 1);
}

/* A request that fails while the pause after another failure runs is not retried when that pause
 * ends, 20 ms after it, but initial_backoff after its own failure (and not a whole backoff later:
 * the server is one, the pause too). */
static void test_failure_during_a_pause_waits_initial_backoff_after_it(void **state)
{
	struct ctx *c = *state;
	struct sender_opts o = opts_for(c);
	struct later fail1 = {0, 503, 0}, fail2 = {1, 502, 0}, ok1 = {0, 204, 0}, ok2 = {1, 204, 0};

	o.max_in_flight = 2;
	o.initial_backoff_ms = o.max_backoff_ms = 100;
	scripted_start(c, &o);
	assert_int_equal(sender_submit(c->s, make_batch(1, 0, NULL)), 0);
	assert_int_equal(sender_submit(c->s, make_batch(1, 1, NULL)), 0);
	assert_int_equal(sc.nstarts, 2);
	answer_in(c, 0, &fail1);
	answer_in(c, 80, &fail2);
	run_until(c, starts_n, 4);
	assert_true(fail2.at_ms - fail1.at_ms >= 80);
	assert_true(sc.start_ms[2] - fail2.at_ms >= 100);
	assert_true(sc.start_ms[3] - fail2.at_ms >= 100);
	assert_true(sc.start_ms[2] - fail2.at_ms < 1000);
	assert_int_equal(sender_stats(c->s)->consecutive_failures, 2);
	answer_in(c, 0, &ok1);
	answer_in(c, 0, &ok2);
	run_until(c, delivered_n, 2);
}

static void on_delivered_submit_again(struct batch *b, void *data)
{
	struct ctx *c = data;
	struct batch_line l = {"again", 5, 0, 6, NULL};

	c->ndelivered++;
	if (c->ndelivered > 1) {
		batch_free(b);
		return;
	}
	/* as the agent does: the delivered batch, reused for the next one */
	batch_reuse(b, 10, 1000);
	assert_int_equal(batch_add_event(b, "{\"i\":9}", 7, &l), 0);
	batch_close(b);
	assert_int_equal(sender_submit(c->s, b), 0);
}

/* A batch submitted from the `delivered` callback starts on the slot just freed: the round trip of the
 * answer that freed it is still measured from its own start (it was once taken from the new one's,
 * and the baseline was 0). */
static void test_round_trip_measured_when_delivered_submits_again(void **state)
{
	struct ctx *c = *state;
	struct sender_opts o = opts_for(c);
	struct sender_cbs cbs = {.delivered = on_delivered_submit_again, .rejected = on_rejected, .data = c};
	struct later ok1 = {0, 204, 0}, ok2 = {0, 204, 0};

	o.max_in_flight = 1;
	memset(&sc, 0, sizeof(sc));
	c->s = sender_new_with(c->l, &o, &cbs, &scripted_ops);
	assert_non_null(c->s);
	assert_int_equal(sender_submit(c->s, make_batch(1, 0, NULL)), 0);
	answer_in(c, 30, &ok1);
	run_until(c, starts_n, 2);
	/* 30 ms, less what the loop's millisecond timers may cut short */
	assert_true(sender_stats(c->s)->rtt_us >= 29000);
	answer_in(c, 0, &ok2);
	run_until(c, delivered_n, 2);
	assert_int_equal(sender_pending(c->s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exact_body_and_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_body_without_expect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_503_then_204_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_429_honours_retry_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_429_retry_after_http_date, setup, teardown),
		cmocka_unit_test_setup_teardown(test_429_retry_after_absurd_is_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_429_retry_after_longer_than_max_backoff_is_honoured, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_429_retry_after_zero_waits_initial_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_200_is_not_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_400_isolates_rejected_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_413_splits_until_pieces_fit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused_backs_off_and_delivers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_kept_while_backing_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_applies_to_every_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_are_reported_and_other_failures_logged_once_without_secrets,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_opts_applies_to_next_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_aborts_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_retry_waits_initial_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_during_a_pause_waits_initial_backoff_after_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_measured_when_delivered_submits_again, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
