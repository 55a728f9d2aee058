/* The HTTP sender against a tiny HTTP/1.1 server that lives in the same event loop: it parses the
 * request line, headers and a Content-Length body, records every request, answers from a script
 * (or a rule) and keeps connections alive. Runs end on a condition (delivered, a request count),
 * with a guard timer that fails the test instead of hanging. */
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
#include "concurrency.h"
#include "log.h"
#include "loop.h"
#include "sender.h"

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
	/* backed off at least half the initial step (equal jitter) */
	assert_true(c->reqs[1].at_ms - c->reqs[0].at_ms >= 5);
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

	/* two waits of at least 5 and 10 ms (half of the 10 and 20 ms steps) */
	assert_true(loop_now_ms() - t0 >= 15);
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

/* ---- the concurrency controller (pure: made-up clocks, in microseconds) ---- */

#define MS 1000ULL
#define T0 (1000 * 1000 * MS) /* a monotonic clock some time after boot */

/* One window of round trips rtt_ms long at limit requests, starting at *now: requests waited for a
 * slot all along when blocked. Returns the limit after it. */
static unsigned window(struct concurrency *c, uint64_t *now, uint64_t rtt_ms, bool blocked)
{
	struct concurrency_change ch;

	/* an agent with nothing else to do: its idle clock runs with the wall clock */
	concurrency_waiting(c, blocked, *now);
	*now += rtt_ms * MS;
	concurrency_waiting(c, blocked, *now);
	for (unsigned i = 0; i < concurrency_limit(c); i++)
		concurrency_result(c, *now - rtt_ms * MS, *now, CONCURRENCY_OK, &ch);
	return concurrency_limit(c);
}

static void test_concurrency_grows_to_the_ceiling_while_round_trips_hold(void **state)
{
	struct concurrency *c = concurrency_new(0, 24);
	struct concurrency_change ch;
	uint64_t now = T0;
	unsigned prev = 1, seen_max = 0;

	assert_int_equal(concurrency_limit(c), 1);
	/* a slow start: it doubles a window, up to the ceiling */
	window(c, &now, 50, true); /* the first round trips make the baseline */
	for (unsigned want = 2; want <= 24; want = want * 2 < 24 ? want * 2 : 24) {
		assert_int_equal(window(c, &now, 50, true), want);
		if (want == 24)
			break;
	}
	assert_int_equal(window(c, &now, 50, true), 24); /* never above the ceiling */
	/* after a decrease, one more a window */
	now += 60 * MS;
	concurrency_result(c, now - 50 * MS, now, CONCURRENCY_RATE, &ch);
	prev = concurrency_limit(c);
	assert_int_equal(prev, 21);
	for (int i = 0; i < 40; i++) {
		unsigned l = window(c, &now, 50, true);

		assert_true(l == prev || l == prev + 1);
		prev = l;
		seen_max = l > seen_max ? l : seen_max;
	}
	assert_int_equal(seen_max, 24);
	assert_int_equal(concurrency_limit(c), 24);
	assert_int_equal(concurrency_rtt_us(c), 50 * MS);
	concurrency_free(c);
}

static void test_concurrency_does_not_grow_without_load(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	uint64_t now = T0;

	/* every request finds a free slot: an hour of light traffic leaves the limit at one */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(window(c, &now, 50, false), 1);
	concurrency_free(c);
}

/* A backfill on a fast link whose agent is busy mapping: requests wait for a slot all the time (the
 * answers are in but not read yet), but the agent idles only 0.3 ms a millisecond: more concurrency
 * would not help. Idle most of the time, it grows. */
static void test_concurrency_does_not_grow_while_the_agent_is_busy(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	struct concurrency_change ch;
	uint64_t now = T0, idle = 0;

	concurrency_waiting(c, true, idle);
	for (int i = 0; i < 1000; i++) {
		now += 1 * MS;
		idle += 300;
		concurrency_waiting(c, true, idle);
		concurrency_result(c, now - 1 * MS, now, CONCURRENCY_OK, &ch);
	}
	assert_int_equal(concurrency_limit(c), 1);
	for (int i = 0; i < 60; i++) {
		now += 1 * MS;
		idle += 700;
		concurrency_waiting(c, true, idle);
		concurrency_result(c, now - 1 * MS, now, CONCURRENCY_OK, &ch);
	}
	assert_true(concurrency_limit(c) > 1);
	concurrency_free(c);
}

static unsigned grow_to(struct concurrency *c, uint64_t *now, unsigned limit)
{
	for (int i = 0; i < 200 && concurrency_limit(c) < limit; i++)
		window(c, now, 50, true);
	assert_int_equal(concurrency_limit(c), limit);
	return limit;
}

static void test_concurrency_shrinks_on_429_once_per_round_trip(void **state)
{
	struct concurrency *c = concurrency_new(0, 20);
	struct concurrency_change ch;
	uint64_t now = T0;

	grow_to(c, &now, 20);
	assert_true(concurrency_result(c, now - 50 * MS, now, CONCURRENCY_RATE, &ch));
	assert_int_equal(concurrency_limit(c), 18); /* 9/10 */
	assert_int_equal(ch.from, 20);
	assert_int_equal(ch.to, 18);
	assert_string_equal(ch.why, "HTTP 429");
	/* the other requests of the same round trip are answered 429 too: one cut for all of them */
	for (int i = 1; i < 10; i++)
		concurrency_result(c, now - 50 * MS, now + (uint64_t)i * MS, CONCURRENCY_RATE, &ch);
	assert_int_equal(concurrency_limit(c), 18);
	now += 60 * MS;
	concurrency_result(c, now - 50 * MS, now, CONCURRENCY_RATE, &ch);
	assert_int_equal(concurrency_limit(c), 16);
	concurrency_free(c);
}

static void test_concurrency_halves_on_server_errors_and_timeouts_never_below_one(void **state)
{
	struct concurrency *c = concurrency_new(0, 16);
	struct concurrency_change ch;
	uint64_t now = T0;
	unsigned want[] = {8, 4, 2, 1, 1, 1};

	grow_to(c, &now, 16);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		now += 60 * MS;
		concurrency_result(c, now - 5000 * MS, now, CONCURRENCY_OVERLOAD, &ch);
		assert_int_equal(concurrency_limit(c), want[i]);
	}
	/* neutral answers (400, 413, 401) say nothing about load */
	grow_to(c, &now, 6);
	for (int i = 0; i < 10; i++) {
		now += 60 * MS;
		concurrency_result(c, now - 50 * MS, now, CONCURRENCY_NEUTRAL, &ch);
	}
	assert_int_equal(concurrency_limit(c), 6);
	concurrency_free(c);
}

static void test_concurrency_shrinks_when_round_trips_grow(void **state)
{
	struct concurrency *c = concurrency_new(0, 10);
	uint64_t now = T0;
	unsigned l;

	grow_to(c, &now, 10);
	/* a server that starts queueing: 50 ms becomes 80 ms; the limit comes down although requests
	 * still wait for slots */
	window(c, &now, 80, true); /* (ends the window of the 50 ms round trips) */
	l = window(c, &now, 80, true);
	assert_int_equal(l, 9);
	/* round trips a little slower than the baseline (within 10%) neither grow nor shrink it */
	concurrency_free(c);
	c = concurrency_new(0, 10);
	now = T0;
	grow_to(c, &now, 10);
	window(c, &now, 54, true);
	assert_int_equal(window(c, &now, 54, true), 10);
	concurrency_free(c);
}

static void test_concurrency_fixed_never_moves(void **state)
{
	struct concurrency *c = concurrency_new(4, 32);
	struct concurrency_change ch;
	uint64_t now = T0;

	for (int i = 0; i < 50; i++)
		assert_int_equal(window(c, &now, 50, true), 4);
	now += 100 * MS;
	assert_false(concurrency_result(c, now - 50 * MS, now, CONCURRENCY_RATE, &ch));
	assert_false(concurrency_result(c, now - 50 * MS, now, CONCURRENCY_OVERLOAD, &ch));
	assert_int_equal(concurrency_limit(c), 4);
	assert_true(concurrency_rate_cap(c, now) == 0);
	assert_true(concurrency_next_start(c) == 0);
	/* a reload to auto starts from where it is, within the new ceiling */
	concurrency_configure(c, 0, 3);
	assert_int_equal(concurrency_limit(c), 3);
	concurrency_configure(c, 0, 100);
	assert_int_equal(concurrency_limit(c), 3);
	concurrency_free(c);
}

/* 60 requests a second accepted, then a 429: once sending resumes, the next requests are spaced for 57
 * a second. */
static void test_concurrency_429_caps_the_rate_below_what_was_accepted(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	struct concurrency_change ch;
	uint64_t now = T0, gap = 1000 * MS / 60, first, cut;
	double cap;

	/* refused after a handful of requests: too little to tell a rate (and at one request, no cut) */
	for (int i = 0; i < 4; i++) {
		concurrency_result(c, now, now + 50 * MS, CONCURRENCY_OK, &ch);
		now += 200 * MS;
	}
	assert_false(concurrency_result(c, now, now + 50 * MS, CONCURRENCY_RATE, &ch));
	now += 1050 * MS;
	assert_false(concurrency_started(c, now, &ch));
	assert_true(concurrency_rate_cap(c, now) == 0);
	for (int i = 0; i < 120; i++) {
		now += gap;
		assert_false(concurrency_started(c, now, &ch));
		assert_true(concurrency_next_start(c) == 0); /* no cap: nothing spaced */
		concurrency_result(c, now, now + 50 * MS, CONCURRENCY_OK, &ch);
	}
	/* refused: measured when sending resumes, after the Retry-After second */
	now += gap / 2;
	concurrency_result(c, now, now + 50 * MS, CONCURRENCY_RATE, &ch);
	cut = now + 50 * MS;
	assert_true(concurrency_rate_cap(c, cut) == 0);
	/* another answer of the same excess: nothing more */
	concurrency_result(c, now - gap, cut + 1 * MS, CONCURRENCY_RATE, &ch);
	now = cut + 1000 * MS;
	first = now;
	assert_true(concurrency_started(c, now, &ch));
	assert_true(ch.rate_cap > 56.9 && ch.rate_cap < 57.1);
	/* one request every 1/57 s (after a pause the first two may go together) */
	for (int i = 1; i < 57; i++) {
		now = concurrency_next_start(c);
		assert_false(concurrency_started(c, now, &ch));
	}
	now = concurrency_next_start(c);
	assert_true(now - first >= 975 * MS && now - first <= 1000 * MS);
	/* a request sent before the last 429 and refused after it does not cut again */
	cap = concurrency_rate_cap(c, now);
	concurrency_result(c, cut - 10 * MS, now, CONCURRENCY_RATE, &ch);
	assert_false(concurrency_started(c, now, &ch));
	assert_true(concurrency_rate_cap(c, now) == cap);
	/* the cap creeps up (0.2% of the measured rate a second) and is dropped at 125% of it */
	assert_true(concurrency_rate_cap(c, first + 25 * 1000 * MS) > 59.9);
	assert_true(concurrency_rate_cap(c, first + 25 * 1000 * MS) < 60.1);
	assert_true(concurrency_rate_cap(c, first + 151 * 1000 * MS) == 0);
	concurrency_free(c);
}

/* Refused again while paced: the cap itself was too high, it comes down by 5% each time. */
static void test_concurrency_429_while_paced_lowers_the_cap(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	struct concurrency_change ch;
	uint64_t now = T0, gap = 1000 * MS / 100;
	double cap;

	for (int i = 0; i < 200; i++) {
		concurrency_result(c, now, now + 20 * MS, CONCURRENCY_OK, &ch);
		now += gap;
	}
	concurrency_result(c, now, now + 20 * MS, CONCURRENCY_RATE, &ch);
	now += 1020 * MS;
	assert_true(concurrency_started(c, now, &ch));
	cap = concurrency_rate_cap(c, now);
	assert_true(cap > 94.9 && cap < 95.1);
	/* refused at once: nothing accepted since, the cap itself is the estimate */
	concurrency_result(c, now, now + 20 * MS, CONCURRENCY_RATE, &ch);
	now += 1020 * MS;
	cap = concurrency_rate_cap(c, now);
	assert_true(concurrency_started(c, now, &ch));
	assert_true(concurrency_rate_cap(c, now) < cap * 0.951);
	assert_true(concurrency_rate_cap(c, now) > cap * 0.949);
	concurrency_free(c);
}

/* A backfill against a server that accepts 50 requests in any second and answers the others 429 with
 * Retry-After: 1 (the benchmark's workload g), simulated a millisecond at a time with 50 ms round
 * trips and an agent that always has more to send: after its first 10 s it gets at least 90% of the
 * allowed rate with at most 2% of its requests refused. */
static void test_concurrency_settles_under_a_sliding_window_rate_limit(void **state)
{
	struct concurrency *c = concurrency_new(0, 32);
	struct concurrency_change ch;
	uint64_t now = T0, pause_until = 0, window[50] = {0}, starts[64], ends[64];
	unsigned wnext = 0, n = 0, accepted = 0, refused = 0, total = 0;
	bool ok[64];

	for (int ms = 0; ms < 40000; ms++, now += MS) {
		for (unsigned i = 0; i < n;) {
			if (ends[i] > now) {
				i++;
				continue;
			}
			concurrency_result(c, starts[i], now, ok[i] ? CONCURRENCY_OK : CONCURRENCY_RATE, &ch);
			if (!ok[i] && now + 1000 * MS > pause_until)
				pause_until = now + 1000 * MS;
			if (ms >= 10000) {
				accepted += ok[i];
				refused += !ok[i];
			}
			n--;
			starts[i] = starts[n], ends[i] = ends[n], ok[i] = ok[n];
		}
		while (now >= pause_until && n < concurrency_limit(c) && concurrency_next_start(c) <= now) {
			/* the server: room in its window of the last second? */
			ok[n] = window[wnext] == 0 || now - window[wnext] >= 1000 * MS;
			if (ok[n]) {
				window[wnext] = now;
				wnext = (wnext + 1) % 50;
			}
			starts[n] = now;
			ends[n++] = now + 50 * MS;
			concurrency_started(c, now, &ch);
			total += ms >= 10000;
		}
		concurrency_waiting(c, now >= pause_until && n >= concurrency_limit(c), now);
	}
	/* 30 s after the first 10: at least 90% of 1,500 accepted, at most 2% refused */
	assert_true(accepted >= 1350);
	assert_true(refused * 50 <= accepted + refused);
	assert_true(total >= accepted);
	concurrency_free(c);
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
		cmocka_unit_test(test_concurrency_grows_to_the_ceiling_while_round_trips_hold),
		cmocka_unit_test(test_concurrency_does_not_grow_without_load),
		cmocka_unit_test(test_concurrency_does_not_grow_while_the_agent_is_busy),
		cmocka_unit_test(test_concurrency_shrinks_on_429_once_per_round_trip),
		cmocka_unit_test(test_concurrency_halves_on_server_errors_and_timeouts_never_below_one),
		cmocka_unit_test(test_concurrency_shrinks_when_round_trips_grow),
		cmocka_unit_test(test_concurrency_fixed_never_moves),
		cmocka_unit_test(test_concurrency_429_caps_the_rate_below_what_was_accepted),
		cmocka_unit_test(test_concurrency_429_while_paced_lowers_the_cap),
		cmocka_unit_test(test_concurrency_settles_under_a_sliding_window_rate_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
