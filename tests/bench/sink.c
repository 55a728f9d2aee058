/* A fast local HTTP sink for the benchmarks: it stands where the Onside API would be and answers every
 * events POST with 204 as soon as the body is in, while counting what arrived.
 *
 * usage: sink [--port N] [--port-file PATH] [--stats-file PATH] [--validate] [--latency]
 *             [--delay-ms N] [--rate N] [--max-body BYTES]
 *
 * - One thread, epoll, HTTP/1.1 keep-alive, Content-Length or chunked bodies, Expect: 100-continue.
 *   Listens on 127.0.0.1 only.
 * - Counting mode (default): answers 204 as soon as the body is in, then counts the events of the request
 *   by scanning its body for "event_id" keys and puts each id (its 32 hex digits, dashes ignored) into an
 *   open-addressing hash set, so a lost or a duplicated event shows in the totals. It shares the machine
 *   with what is measured, so this path is kept cheap (about 0.1 us per event): an SSE2 scan for the key,
 *   a table-driven decoder for the canonical 8-4-4-4-12 form, and a presized set with the keys in the
 *   slots whose inserts are prefetched in batches.
 * - --validate: also parses each body with json-c and checks it as onside-api.md says: one key "events",
 *   an array of 1..1000 objects with exactly event_name (string), payload (object), event_datetime
 *   (RFC 3339), event_id (lowercase UUIDv4) and installation_id (UUID); Basic auth present; body under
 *   1,000,000 bytes. A request with an invalid event is answered 400 and its events are counted invalid.
 * - --latency: each event may carry "wt":<CLOCK_MONOTONIC nanoseconds of the write>; the sink records
 *   receipt - wt per event and reports p50/p99/max.
 * - --delay-ms N: every answer to a POST is held N ms after its request is in, as a network round trip
 *   would hold it, without holding anything else: answers wait in one queue (in arrival order, which is
 *   also the order they fall due) and go out from the epoll loop when due; the connection keeps reading.
 * - --rate N: at most N requests are accepted in any one second (a sliding window over the arrival
 *   times of the accepted ones); a request above that is answered 429 with Retry-After: 1 and its events
 *   are not counted.
 * - --max-body BYTES: the largest body taken (default: under 1,000,000 bytes, as the API); for the
 *   Fluent Bit reference, whose requests are its chunks (up to a few MB), not 1,000-event batches.
 * - Statistics as JSON: GET /_stats; GET /_reset clears them (and the id set); on SIGUSR1 and SIGTERM they
 *   are written to --stats-file (SIGTERM then exits 0). "timeline" holds, per second since the first
 *   POST, [requests, accepted, answered 429, events accepted].
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_BODY 1000000         /* the API's limit: bodies must be strictly smaller (--max-body) */
#define MAX_EVENTS 1000
#define READ_CAP (16u << 20)     /* a connection buffering more than this is closed */
#define HEAD_CAP (64u << 10)
#define READ_INIT (4u << 20)     /* a connection's first buffer: a 1,000-event body fits without growing */
#define IDSET_INIT (1u << 21)    /* id set slots (32 MiB): 1,000,000 ids stay under a load of one half */
#define ID_BATCH 64              /* ids hashed and prefetched together before they go into the set */
#define TIMELINE_S 3600          /* seconds of per-second counts kept */
#define STATS_MAX (256u << 10)   /* the /_stats document, timeline included */

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
	int continued; /* 100 Continue already sent for the request being read */
	int posted;    /* carried a POST (counted in "connections") */
	unsigned held; /* answers waiting in the delay queue: the struct lives until they are gone */
	int dead;      /* closed while answers were held */
};

/* An answer held by --delay-ms. */
struct held {
	struct conn *c;
	uint64_t due_ns;
	int status;
};

struct stats {
	uint64_t requests, events, duplicates, invalid, bad_requests, oversize, bytes, accepted, rate_limited;
	uint64_t connections;
	uint64_t timeline[TIMELINE_S][4]; /* per second since first_ns: requests, accepted, 429, events */
	unsigned timeline_n;
	uint64_t min_events, max_events, first_ns, last_ns;
	int64_t *lat;
	size_t nlat, caplat;
};

struct idset {
	unsigned char *keys; /* cap slots of 16 bytes, inline; all-zero is the empty slot */
	size_t cap, n;       /* n counts every member, the all-zero id too */
	unsigned shift;      /* 64 - log2(cap): a slot index is the top bits of the hash */
	int has_zero;        /* the all-zero id, which cannot live in a slot, is a member */
};

static struct stats st;
static struct idset ids;
static int opt_validate, opt_latency;
static uint64_t opt_delay_ns;
static size_t opt_max_body = MAX_BODY;
static unsigned opt_rate;
static uint64_t *rate_log; /* --rate: arrival times of the last opt_rate accepted requests, a ring */
static unsigned rate_next;
static struct held *heldq; /* --delay-ms: a ring of held answers */
static size_t held_head, held_n, held_cap;
static const char *stats_file;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q) {
		fprintf(stderr, "sink: out of memory\n");
		exit(1);
	}
	return q;
}

/* --- the id set ----------------------------------------------------------------------------------- */

/* Open addressing with linear probing over 16-byte keys stored in the slots themselves (one cache line
 * touched per insert), a slot being empty when all zero; the all-zero id is kept aside in has_zero. The
 * table is big from the start (IDSET_INIT), so that a benchmark run never rehashes, and on huge pages when
 * the kernel has them, so that random slots do not miss the TLB as well. */

static uint64_t mix(const unsigned char *k)
{
	uint64_t a, b;
	memcpy(&a, k, 8);
	memcpy(&b, k + 8, 8);
	a ^= b * 0x9e3779b97f4a7c15u;
	a ^= a >> 31;
	a *= 0xbf58476d1ce4e5b9u;
	return a; /* callers take the top bits */
}

static int key_zero(const unsigned char *k)
{
	uint64_t a, b;
	memcpy(&a, k, 8);
	memcpy(&b, k + 8, 8);
	return (a | b) == 0;
}

static int key_eq(const unsigned char *x, const unsigned char *y)
{
	uint64_t a, b, c, d;
	memcpy(&a, x, 8);
	memcpy(&b, x + 8, 8);
	memcpy(&c, y, 8);
	memcpy(&d, y + 8, 8);
	return ((a ^ c) | (b ^ d)) == 0;
}

/* Inserts k (not all zero) starting at slot i. Returns 1 when k was new, 0 when it was already there. */
static int idset_put_at(struct idset *s, size_t i, const unsigned char *k)
{
	size_t mask = s->cap - 1;
	for (;;) {
		unsigned char *slot = s->keys + i * 16;
		if (key_zero(slot)) {
			memcpy(slot, k, 16);
			s->n++;
			return 1;
		}
		if (key_eq(slot, k))
			return 0;
		i = (i + 1) & mask;
	}
}

static unsigned char *slots_alloc(size_t cap)
{
	void *p = mmap(NULL, cap * 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "sink: out of memory\n");
		exit(1);
	}
#ifdef MADV_HUGEPAGE
	madvise(p, cap * 16, MADV_HUGEPAGE);
#endif
	memset(p, 0, cap * 16); /* fault the pages in now rather than during a run */
	return p;
}

static void idset_init(struct idset *s, size_t cap)
{
	s->cap = cap;
	s->n = 0;
	s->has_zero = 0;
	s->shift = 64;
	for (size_t c = cap; c > 1; c >>= 1)
		s->shift--;
	s->keys = slots_alloc(cap);
}

/* Room for more ids at a load of at most one half. */
static void idset_reserve(struct idset *s, size_t more)
{
	if ((s->n + more) * 2 <= s->cap)
		return;
	struct idset bigger;
	size_t cap = s->cap * 2;
	while ((s->n + more) * 2 > cap)
		cap *= 2;
	idset_init(&bigger, cap);
	for (size_t i = 0; i < s->cap; i++) {
		const unsigned char *k = s->keys + i * 16;
		if (!key_zero(k))
			idset_put_at(&bigger, (size_t)(mix(k) >> bigger.shift), k);
	}
	bigger.n = s->n;
	bigger.has_zero = s->has_zero;
	munmap(s->keys, s->cap * 16);
	*s = bigger;
}

/* Puts the n ids keys[0..n) into the set in order; returns how many of them were already there (an id
 * repeated within keys counts from its second occurrence on, as when put one by one). Their slots are
 * prefetched first, so that the cache misses of the batch overlap. */
static uint64_t idset_put_batch(struct idset *s, const unsigned char (*keys)[16], size_t n)
{
	size_t at[ID_BATCH];
	uint64_t dups = 0;
	idset_reserve(s, n);
	for (size_t j = 0; j < n; j++) {
		at[j] = (size_t)(mix(keys[j]) >> s->shift);
		__builtin_prefetch(s->keys + at[j] * 16, 1);
	}
	for (size_t j = 0; j < n; j++) {
		if (key_zero(keys[j])) {
			if (s->has_zero)
				dups++;
			else {
				s->has_zero = 1;
				s->n++;
			}
		} else if (!idset_put_at(s, at[j], keys[j])) {
			dups++;
		}
	}
	return dups;
}

static void idset_clear(struct idset *s)
{
	if (s->cap != IDSET_INIT) {
		munmap(s->keys, s->cap * 16);
		idset_init(s, IDSET_INIT);
	} else if (s->n) {
		memset(s->keys, 0, s->cap * 16);
		s->n = 0;
		s->has_zero = 0;
	}
}

/* --- statistics ----------------------------------------------------------------------------------- */

static void stats_reset(void)
{
	free(st.lat);
	memset(&st, 0, sizeof(st));
	idset_clear(&ids);
	if (rate_log)
		memset(rate_log, 0, opt_rate * sizeof(*rate_log));
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1e6;
}

/* ,"timeline":[[requests, accepted, 429, events], ...] per second since the first POST. */
static int timeline_json(char *out, size_t size)
{
	size_t n = (size_t)snprintf(out, size, ",\"timeline\":[");
	for (unsigned i = 0; i < st.timeline_n && n + 96 < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]",
				      i ? "," : "", st.timeline[i][0], st.timeline[i][1], st.timeline[i][2],
				      st.timeline[i][3]);
	n += (size_t)snprintf(out + n, size - n, "]");
	return (int)n;
}

/* The statistics as one JSON object in out (STATS_MAX bytes). */
static int stats_json(char *out, size_t size)
{
	int64_t *v = NULL;
	if (st.nlat) {
		v = xrealloc(NULL, st.nlat * sizeof(*v));
		memcpy(v, st.lat, st.nlat * sizeof(*v));
		qsort(v, st.nlat, sizeof(*v), cmp_i64);
	}
	int n = snprintf(out, size,
		"{\"requests\":%" PRIu64 ",\"events\":%" PRIu64 ",\"unique\":%zu,\"duplicates\":%" PRIu64
		",\"invalid\":%" PRIu64 ",\"bad_requests\":%" PRIu64 ",\"oversize\":%" PRIu64
		",\"bytes\":%" PRIu64 ",\"min_events_per_request\":%" PRIu64
		",\"max_events_per_request\":%" PRIu64 ",\"first_ns\":%" PRIu64 ",\"last_ns\":%" PRIu64
		",\"now_ns\":%" PRIu64 ",\"latency_count\":%zu,\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f"
		",\"latency_max_ms\":%.3f,\"validate\":%s,\"accepted\":%" PRIu64 ",\"rate_limited\":%" PRIu64
		",\"connections\":%" PRIu64 ",\"delay_ms\":%.1f,\"rate\":%u",
		st.requests, st.events, ids.n, st.duplicates, st.invalid, st.bad_requests, st.oversize, st.bytes,
		st.min_events, st.max_events, st.first_ns, st.last_ns, now_ns(), st.nlat,
		pct_ms(v, st.nlat, 0.50), pct_ms(v, st.nlat, 0.99), st.nlat ? (double)v[st.nlat - 1] / 1e6 : 0.0,
		opt_validate ? "true" : "false", st.accepted, st.rate_limited, st.connections,
		(double)opt_delay_ns / 1e6, opt_rate);
	free(v);
	n += timeline_json(out + n, size - (size_t)n - 4);
	n += snprintf(out + n, size - (size_t)n, "}\n");
	return n;
}

static void stats_write_file(void)
{
	char *buf, tmp[4096];
	if (!stats_file)
		return;
	buf = xrealloc(NULL, STATS_MAX);
	int n = stats_json(buf, STATS_MAX);
	snprintf(tmp, sizeof(tmp), "%s.tmp", stats_file);
	FILE *f = fopen(tmp, "w");
	if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0 || rename(tmp, stats_file) != 0)
		fprintf(stderr, "sink: cannot write %s: %s\n", stats_file, strerror(errno));
	free(buf);
}

/* --- counting and validating ---------------------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static unsigned char hex_table[256]; /* hexval, 0xff for anything else; filled by hex_init */

static void hex_init(void)
{
	for (int c = 0; c < 256; c++)
		hex_table[c] = (unsigned char)(hexval(c) < 0 ? 0xff : hexval(c));
}

/* The canonical form: 36 characters, 8-4-4-4-12 hex digits (either case) with dashes between. Returns -1
 * when s is not in it (s must have 36 readable characters). */
static int id_bytes36(const char *s, unsigned char *k)
{
	static const unsigned char pos[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
	const unsigned char *u = (const unsigned char *)s;
	unsigned bad;
	if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
		return -1;
	bad = 0;
	for (int i = 0; i < 16; i++) {
		unsigned hi = hex_table[u[pos[i]]], lo = hex_table[u[pos[i] + 1]];
		bad |= hi | lo;
		k[i] = (unsigned char)(hi << 4 | lo);
	}
	return bad > 15 ? -1 : 0;
}

/* The 16 bytes of a UUID-like string's 32 hex digits (dashes skipped); -1 unless exactly 32 digits. */
static int id_bytes(const char *s, size_t len, unsigned char *k)
{
	if (len == 36 && id_bytes36(s, k) == 0)
		return 0;
	int nd = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '-')
			continue;
		int h = hexval((unsigned char)s[i]);
		if (h < 0 || nd >= 32)
			return -1;
		if (nd % 2 == 0)
			k[nd / 2] = (unsigned char)(h << 4);
		else
			k[nd / 2] |= (unsigned char)h;
		nd++;
	}
	return nd == 32 ? 0 : -1;
}

static void record_id(const char *s, size_t len)
{
	unsigned char k[1][16];
	if (id_bytes(s, len, k[0]) < 0) {
		st.invalid++;
		return;
	}
	st.duplicates += idset_put_batch(&ids, k, 1);
}

static const char event_id_key[] = "\"event_id\"";
#define KEY_LEN (sizeof(event_id_key) - 1)

/* The first "event_id" in [p, end), as memmem finds it, or NULL. With SSE2 it looks at 16 positions at a
 * time for a 'v' 2 bytes and an 'i' 7 bytes further ("event_name" and "event_datetime" do not have the
 * 'i'), and compares the candidates in full. */
static const char *find_event_id(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i v = _mm_set1_epi8('v'), i = _mm_set1_epi8('i');
	while (end - p >= (ptrdiff_t)(16 + KEY_LEN - 1)) {
		__m128i a = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 2)), v);
		__m128i b = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 7)), i);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(a, b));
		while (m) {
			const char *c = p + __builtin_ctz(m);
			if (memcmp(c, event_id_key, KEY_LEN) == 0)
				return c;
			m &= m - 1;
		}
		p += 16;
	}
#endif
	return p < end ? memmem(p, (size_t)(end - p), event_id_key, KEY_LEN) : NULL;
}

/* Counting mode: each "event_id" key is one event; its string value goes into the id set. The ids are put
 * into the set ID_BATCH at a time, in order. */
static uint64_t count_events(const char *b, size_t n)
{
	unsigned char batch[ID_BATCH][16];
	size_t nb = 0;
	const char *p = b, *end = b + n;
	uint64_t events = 0;
	while ((p = find_event_id(p, end)) != NULL) {
		p += KEY_LEN;
		while (p < end && (*p == ' ' || *p == ':'))
			p++;
		events++;
		if (p >= end || *p != '"') {
			st.invalid++;
			continue;
		}
		const char *v = ++p;
		if (end - v > 36 && v[36] == '"' && id_bytes36(v, batch[nb]) == 0) {
			p = v + 36; /* the closing quote, as below */
		} else {
			p = memchr(v, '"', (size_t)(end - v));
			if (!p)
				p = end;
			if (id_bytes(v, (size_t)(p - v), batch[nb]) < 0) {
				st.invalid++;
				continue;
			}
		}
		if (++nb == ID_BATCH) {
			st.duplicates += idset_put_batch(&ids, (const unsigned char (*)[16])batch, nb);
			nb = 0;
		}
	}
	if (nb)
		st.duplicates += idset_put_batch(&ids, (const unsigned char (*)[16])batch, nb);
	return events;
}

/* --latency: every "wt":NANOS (a number or a string of digits) gives one receipt - write sample. */
static void record_latency(const char *b, size_t n, uint64_t t)
{
	static const char key[] = "\"wt\":";
	const char *p = b, *end = b + n;
	while ((p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
		p += sizeof(key) - 1;
		if (p < end && *p == '"')
			p++;
		uint64_t wt = 0;
		while (p < end && *p >= '0' && *p <= '9')
			wt = wt * 10 + (uint64_t)(*p++ - '0');
		if (st.nlat == st.caplat) {
			st.caplat = st.caplat ? st.caplat * 2 : 65536;
			st.lat = xrealloc(st.lat, st.caplat * sizeof(*st.lat));
		}
		st.lat[st.nlat++] = (int64_t)(t - wt);
	}
}

static int match_uuid(const char *s, size_t len, int v4)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	if (len != 36)
		return 0;
	for (size_t i = 0; i < 36; i++) {
		int c = (unsigned char)s[i];
		if (shape[i] == '-') {
			if (c != '-')
				return 0;
		} else if (v4 ? !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) : hexval(c) < 0) {
			return 0;
		}
	}
	return !v4 || (s[14] == '4' && strchr("89ab", s[19]) != NULL);
}

static int digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static int match_datetime(const char *s, size_t len)
{
	if (len < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) ||
	    (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
	    s[16] != ':' || !digits(s + 17, 2))
		return 0;
	size_t i = 19;
	if (s[i] == '.') {
		size_t f = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f)
			return 0;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z'))
		return i + 1 == len;
	return i + 6 == len && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2) && s[i + 3] == ':' &&
	       digits(s + i + 4, 2);
}

static int str_field(json_object *ev, const char *key, const char **ret_s, size_t *ret_len)
{
	json_object *v;
	if (!json_object_object_get_ex(ev, key, &v) || !json_object_is_type(v, json_type_string))
		return 0;
	*ret_s = json_object_get_string(v);
	*ret_len = (size_t)json_object_get_string_len(v);
	return 1;
}

static int event_valid(json_object *ev)
{
	const char *s;
	size_t n;
	json_object *payload;
	if (!json_object_is_type(ev, json_type_object) || json_object_object_length(ev) != 5)
		return 0;
	if (!str_field(ev, "event_name", &s, &n) || n == 0)
		return 0;
	if (!json_object_object_get_ex(ev, "payload", &payload) || !json_object_is_type(payload, json_type_object))
		return 0;
	if (!str_field(ev, "event_datetime", &s, &n) || !match_datetime(s, n))
		return 0;
	if (!str_field(ev, "installation_id", &s, &n) || !match_uuid(s, n, 0))
		return 0;
	if (!str_field(ev, "event_id", &s, &n) || !match_uuid(s, n, 1))
		return 0;
	return 1;
}

/* --validate: the whole body as the API checks it. Returns the HTTP status to answer. */
static int validate_body(const char *b, size_t n, uint64_t *ret_events)
{
	json_tokener *tok = json_tokener_new();
	json_object *root = json_tokener_parse_ex(tok, b, (int)n), *events;
	int ok = root && json_tokener_get_error(tok) == json_tokener_success &&
		 (size_t)json_tokener_get_parse_end(tok) == n;
	json_tokener_free(tok);
	if (!ok || !json_object_is_type(root, json_type_object) || json_object_object_length(root) != 1 ||
	    !json_object_object_get_ex(root, "events", &events) || !json_object_is_type(events, json_type_array)) {
		json_object_put(root);
		st.bad_requests++;
		return 400;
	}
	size_t len = json_object_array_length(events), bad = 0;
	if (len == 0 || len > MAX_EVENTS) {
		json_object_put(root);
		st.bad_requests++;
		return len ? 413 : 400;
	}
	for (size_t i = 0; i < len; i++) {
		json_object *ev = json_object_array_get_idx(events, i);
		const char *s;
		size_t sl;
		if (!event_valid(ev)) {
			bad++;
			continue;
		}
		str_field(ev, "event_id", &s, &sl);
		record_id(s, sl);
	}
	json_object_put(root);
	*ret_events = len;
	if (bad) {
		st.invalid += bad;
		st.bad_requests++;
		return 400;
	}
	return 204;
}

/* --- HTTP ----------------------------------------------------------------------------------------- */

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* answers are tiny; a full socket buffer means a stuck peer: wait for room */
				struct pollfd pf = {.fd = fd, .events = POLLOUT};
				poll(&pf, 1, 1000);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int reply(int fd, int status, const char *body)
{
	char head[256];
	const char *reason = status == 204 ? "No Content" : status == 200 ? "OK" : status == 400 ? "Bad Request" :
			     status == 401 ? "Unauthorized" : status == 413 ? "Payload Too Large" :
			     status == 429 ? "Too Many Requests" : "Not Found";
	size_t blen = body ? strlen(body) : 0;
	int n;
	if (status == 204)
		n = snprintf(head, sizeof(head), "HTTP/1.1 204 No Content\r\n\r\n");
	else
		n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%s"
			     "Content-Length: %zu\r\n\r\n", status, reason,
			     status == 429 ? "Retry-After: 1\r\n" : "", blen);
	if (send_all(fd, head, (size_t)n) < 0)
		return -1;
	return blen ? send_all(fd, body, blen) : 0;
}

/* The value of header name in the head [h, h+n) (name without colon), or NULL; *ret_len its length. */
static const char *header(const char *h, size_t n, const char *name, size_t *ret_len)
{
	size_t nl = strlen(name);
	const char *p = h, *end = h + n;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*ret_len = (size_t)(eol - v);
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}

/* Walks the chunks of a chunked body starting at b (n bytes available), moving their data together to
 * the front when decode is set. Returns the bytes the body takes, 0 if incomplete, -1 if malformed;
 * *ret_len is the decoded length. */
static long chunks(char *b, size_t n, int decode, size_t *ret_len)
{
	size_t in = 0, out = 0;
	for (;;) {
		char *eol = memmem(b + in, n - in, "\r\n", 2);
		if (!eol)
			return 0;
		char *endp;
		unsigned long sz = strtoul(b + in, &endp, 16);
		if (endp == b + in || sz > READ_CAP)
			return -1;
		size_t data = (size_t)(eol - b) + 2;
		if (sz == 0) {
			char *fin = memmem(b + data - 2, n - (data - 2), "\r\n\r\n", 4);
			if (!fin)
				return 0;
			*ret_len = out;
			return (long)(fin - b) + 4;
		}
		if (data + sz + 2 > n)
			return 0;
		if (decode)
			memmove(b + out, b + data, sz);
		out += sz;
		in = data + sz + 2;
	}
}

/* Decodes a chunked body starting at b (n bytes available) in place once all of it is there (an
 * incomplete body stays as it is, to be looked at again when more arrives). Returns the bytes consumed, 0
 * if incomplete, -1 if malformed; *ret_len is the decoded length. */
static long dechunk(char *b, size_t n, size_t *ret_len)
{
	long r = chunks(b, n, 0, ret_len);
	return r > 0 ? chunks(b, n, 1, ret_len) : r;
}

/* --rate: true when one more request may be accepted now (and it is counted as accepted). */
static int rate_admit(uint64_t t)
{
	uint64_t *oldest = &rate_log[rate_next];
	if (*oldest && t - *oldest < 1000000000u)
		return 0;
	*oldest = t;
	rate_next = (rate_next + 1) % opt_rate;
	return 1;
}

static void held_push(struct conn *c, uint64_t due, int status)
{
	if (held_n == held_cap) {
		size_t cap = held_cap ? held_cap * 2 : 1024;
		struct held *q = xrealloc(NULL, cap * sizeof(*q));
		for (size_t i = 0; i < held_n; i++)
			q[i] = heldq[(held_head + i) % held_cap];
		free(heldq);
		heldq = q;
		held_head = 0;
		held_cap = cap;
	}
	heldq[(held_head + held_n++) % held_cap] = (struct held){c, due, status};
	c->held++;
}

static void timeline_add(uint64_t t, int status, uint64_t events)
{
	uint64_t sec = (t - st.first_ns) / 1000000000u;
	if (sec >= TIMELINE_S)
		return;
	if (sec + 1 > st.timeline_n)
		st.timeline_n = (unsigned)sec + 1;
	st.timeline[sec][0]++;
	st.timeline[sec][1] += status == 204;
	st.timeline[sec][2] += status == 429;
	st.timeline[sec][3] += status == 204 ? events : 0;
}

static int handle_post(struct conn *c, const char *head, size_t hlen, char *body, size_t blen)
{
	uint64_t t = now_ns(), events = 0;
	size_t vl;
	int status = 204, r = 0;
	st.requests++;
	st.bytes += blen;
	if (!st.first_ns)
		st.first_ns = t;
	st.last_ns = t;
	if (!c->posted) {
		c->posted = 1;
		st.connections++;
	}
	if (opt_rate && !rate_admit(t)) {
		st.rate_limited++;
		status = 429;
	} else if (blen >= opt_max_body) {
		st.oversize++;
		status = 413;
	} else if (opt_validate && !header(head, hlen, "Authorization", &vl)) {
		st.bad_requests++;
		status = 401;
	} else if (opt_validate) {
		status = validate_body(body, blen, &events);
	} else {
		/* counting mode answers first and counts after, so that its own work stays out of the
		 * sender's round trip */
		if (!opt_delay_ns)
			r = reply(c->fd, 204, NULL);
		events = count_events(body, blen);
		if (events > MAX_EVENTS)
			st.oversize++;
	}
	if (opt_latency && status == 204)
		record_latency(body, blen, t);
	st.accepted += status == 204;
	timeline_add(t, status, events);
	if (status == 204) {
		st.events += events;
		if (st.min_events == 0 || events < st.min_events)
			st.min_events = events;
		if (events > st.max_events)
			st.max_events = events;
	}
	if (opt_delay_ns) {
		held_push(c, t + opt_delay_ns, status);
		return 0;
	}
	if (!opt_validate && status == 204)
		return r;
	return reply(c->fd, status, status == 204 ? NULL : "{\"error\":\"rejected by the bench sink\"}");
}

static int handle_request(struct conn *c, const char *head, size_t hlen, char *body, size_t blen)
{
	if (hlen >= 5 && memcmp(head, "POST ", 5) == 0)
		return handle_post(c, head, hlen, body, blen);
	if (hlen >= 12 && memcmp(head, "GET /_stats ", 12) == 0) {
		char *buf = xrealloc(NULL, STATS_MAX);
		stats_json(buf, STATS_MAX);
		int r = reply(c->fd, 200, buf);
		free(buf);
		return r;
	}
	if (hlen >= 12 && memcmp(head, "GET /_reset ", 12) == 0) {
		stats_reset();
		return reply(c->fd, 200, "{}\n");
	}
	return reply(c->fd, 404, "{}\n");
}

/* Handles every complete request in c's buffer [off, len); returns -1 to close the connection. */
static int process_from(struct conn *c, size_t *off)
{
	for (;;) {
		char *b = c->buf + *off;
		size_t len = c->len - *off;
		char *eoh = memmem(b, len, "\r\n\r\n", 4);
		if (!eoh)
			return len > HEAD_CAP ? -1 : 0;
		size_t hlen = (size_t)(eoh - b), start = hlen + 4, blen = 0, vl, used;
		const char *v;
		int chunked = (v = header(b, hlen, "Transfer-Encoding", &vl)) && vl >= 7 &&
			      strncasecmp(v, "chunked", 7) == 0;
		if (!chunked && (v = header(b, hlen, "Content-Length", &vl)))
			blen = strtoul(v, NULL, 10);
		if (blen > READ_CAP)
			return -1;
		if (!c->continued && (v = header(b, hlen, "Expect", &vl)) && vl >= 12 &&
		    strncasecmp(v, "100-continue", 12) == 0) {
			if (send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
				return -1;
			c->continued = 1;
		}
		if (chunked) {
			long r = dechunk(b + start, len - start, &blen);
			if (r < 0)
				return -1;
			if (r == 0)
				return 0;
			used = start + (size_t)r;
		} else {
			if (len - start < blen)
				return 0;
			used = start + blen;
		}
		int close_after = (v = header(b, hlen, "Connection", &vl)) && vl >= 5 &&
				  strncasecmp(v, "close", 5) == 0;
		if (handle_request(c, b, hlen, b + start, blen) < 0 || close_after)
			return -1;
		c->continued = 0;
		*off += used;
	}
}

/* Handles every complete request in c's buffer and moves what is left (the start of the next request, if
 * any) to the front, once. Returns -1 to close the connection. */
static int process(struct conn *c)
{
	size_t off = 0;
	int r = process_from(c, &off);
	if (r == 0 && off) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
	return r;
}

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	c->buf = NULL;
	if (c->held) {
		c->dead = 1; /* freed when its last held answer is dropped */
		return;
	}
	free(c);
}

/* --delay-ms: sends the held answers that are due; returns the ms until the next one, or -1. */
static int held_flush(int ep)
{
	uint64_t t = now_ns();
	while (held_n) {
		struct held *h = &heldq[held_head];
		if (h->due_ns > t)
			return (int)((h->due_ns - t + 999999) / 1000000);
		struct conn *c = h->c;
		int status = h->status;
		held_head = (held_head + 1) % held_cap;
		held_n--;
		c->held--;
		if (c->dead) {
			if (!c->held)
				free(c);
			continue;
		}
		if (reply(c->fd, status, status == 204 ? NULL : "{\"error\":\"rejected by the bench sink\"}") < 0)
			conn_close(ep, c);
	}
	return -1;
}

static void conn_read(int ep, struct conn *c)
{
	for (;;) {
		if (c->cap - c->len < 65536) {
			if (c->cap >= READ_CAP) {
				conn_close(ep, c);
				return;
			}
			c->cap = c->cap ? c->cap * 2 : READ_INIT;
			c->buf = xrealloc(c->buf, c->cap);
		}
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r > 0) {
			c->len += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		conn_close(ep, c); /* EOF or error */
		return;
	}
	if (process(c) < 0)
		conn_close(ep, c);
}

static int listen_on(int port, int *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t al = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		perror("sink: listen");
		exit(1);
	}
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static void write_port_file(const char *path, int port)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
		perror("sink: port file");
		exit(1);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: sink [--port N] [--port-file PATH] [--stats-file PATH] [--validate] [--latency]\n"
			"            [--delay-ms N] [--rate N] [--max-body BYTES]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int port = 0;
	const char *port_file = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
			port_file = argv[++i];
		else if (!strcmp(argv[i], "--stats-file") && i + 1 < argc)
			stats_file = argv[++i];
		else if (!strcmp(argv[i], "--validate"))
			opt_validate = 1;
		else if (!strcmp(argv[i], "--latency"))
			opt_latency = 1;
		else if (!strcmp(argv[i], "--delay-ms") && i + 1 < argc)
			opt_delay_ns = (uint64_t)(atof(argv[++i]) * 1e6);
		else if (!strcmp(argv[i], "--rate") && i + 1 < argc && atoi(argv[i + 1]) > 0)
			opt_rate = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--max-body") && i + 1 < argc && atol(argv[i + 1]) > 0 &&
			 (size_t)atol(argv[i + 1]) < READ_CAP)
			opt_max_body = (size_t)atol(argv[++i]);
		else
			usage();
	}
	if (opt_rate)
		rate_log = calloc(opt_rate, sizeof(*rate_log));
	hex_init();
	idset_init(&ids, IDSET_INIT);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	int lfd = listen_on(port, &port);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (sfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("sink: setup");
		return 1;
	}
	ev.data.ptr = &sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	if (port_file)
		write_port_file(port_file, port);

	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(ep, evs, 64, held_flush(ep));
		if (n < 0 && errno == EINTR)
			continue;
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					int one = 1;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					struct conn *c = xrealloc(NULL, sizeof(*c));
					memset(c, 0, sizeof(*c));
					c->fd = fd;
					struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
				}
			} else if (evs[i].data.ptr == &sfd) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					stats_write_file();
					if (si.ssi_signo != SIGUSR1)
						return 0;
				}
			} else {
				conn_read(ep, evs[i].data.ptr);
			}
		}
	}
}
