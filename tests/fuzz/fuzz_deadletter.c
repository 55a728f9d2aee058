/* The dead-letter record writer: entries whose every part the fuzzer chooses (raw line and response
 * bytes, input, path and reason text, offset, length, status, NULLs) are written with
 * deadletter_write into a fresh file of a private directory, optionally rotating after every entry,
 * and read back. Each record must be one line of strict JSON with no key twice (lone \udcXX escapes
 * allowed: they stand for bytes that are not UTF-8), with exactly the members deadletter.h lists in
 * its order, and every string must decode back to the bytes given: nothing lost, nothing added.
 *
 * Input: a flags byte (bits 0-4: input, path, reason, line, response NULL; bit 5: rotate; bits 6-7:
 * entries - 1), then per entry: 8 bytes offset, 8 bytes length, 2 bytes status (little-endian), and
 * input, path, reason and response with a 1-byte length before each, the line with a 2-byte one. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadletter.h"
#include "fuzz.h"

#define ENTRIES_MAX 4
#define TEXT_MAX 255

struct src {
	const uint8_t *p;
	size_t n;
};

struct want {
	struct deadletter_entry e;
	char input[TEXT_MAX + 1], path[TEXT_MAX + 1], reason[TEXT_MAX + 1];
};

struct check {
	const struct want *w;
	size_t i; /* the next member */
};

static char dir[4096];

static uint64_t take_u(struct src *s, size_t bytes)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < bytes && s->n; i++, s->p++, s->n--)
		v |= (uint64_t)*s->p << (8 * i);
	return v;
}

static const char *take_bytes(struct src *s, size_t len_bytes, size_t *ret_len)
{
	size_t len = (size_t)take_u(s, len_bytes);
	const char *p = (const char *)s->p;

	if (len > s->n)
		len = s->n;
	s->p += len;
	s->n -= len;
	*ret_len = len;
	return p;
}

/* Text for a const char * member: cut at a NUL, as strlen() will. */
static const char *take_text(struct src *s, char *buf, bool null)
{
	size_t len;
	const char *p = take_bytes(s, 1, &len);

	memcpy(buf, p, len);
	buf[len] = '\0';
	return null ? NULL : buf;
}

static void take_entry(struct src *s, unsigned flags, struct want *w)
{
	memset(w, 0, sizeof(*w));
	w->e.offset = take_u(s, 8);
	w->e.length = take_u(s, 8);
	w->e.status = (long)(int16_t)take_u(s, 2);
	w->e.input = take_text(s, w->input, flags & 1);
	w->e.path = take_text(s, w->path, flags & 2);
	w->e.reason = take_text(s, w->reason, flags & 4);
	w->e.line = take_bytes(s, 2, &w->e.line_len);
	if (flags & 8)
		w->e.line = NULL;
	w->e.response = take_bytes(s, 1, &w->e.response_len);
	if (flags & 16)
		w->e.response = NULL;
}

static bool is_utc_time(const char *v, size_t n)
{
	return n == 22 && v[0] == '"' && v[5] == '-' && v[11] == 'T' && v[20] == 'Z' && v[21] == '"';
}

/* A string member: the bytes given (NULL as JSON null for a text, as "" for raw bytes). */
static bool string_is(const char *v, size_t n, const char *want, size_t want_len, bool null_is_null)
{
	char *dec;
	size_t len;
	bool ok;

	if (!want && null_is_null)
		return n == 4 && !memcmp(v, "null", 4);
	if (!want)
		want = "", want_len = 0;
	if (!(dec = malloc(n + 1)))
		abort();
	len = fuzz_json_decode(v, n, dec, true);
	ok = len == want_len && !memcmp(dec, want, len);
	free(dec);
	return ok;
}

static bool number_is(const char *v, size_t n, const char *fmt_value)
{
	return n == strlen(fmt_value) && !memcmp(v, fmt_value, n);
}

static void check_member(void *ctx, const char *key, size_t klen, const char *v, size_t vlen)
{
	static const char *const order[] = { "time", "input", "path", "offset", "reason", "line", "length",
					     "status", "response" };
	struct check *c = ctx;
	const struct deadletter_entry *e = &c->w->e;
	char num[32];
	bool ok;

	/* the optional members are left out when zero */
	if (c->i == 6 && !e->length)
		c->i++;
	if (c->i == 7 && !e->status)
		c->i = 9;
	if (c->i >= 9 || klen != strlen(order[c->i]) || memcmp(key, order[c->i], klen) != 0)
		abort();
	switch (c->i) {
	case 0:
		ok = is_utc_time(v, vlen);
		break;
	case 1:
		ok = string_is(v, vlen, e->input, e->input ? strlen(e->input) : 0, true);
		break;
	case 2:
		ok = string_is(v, vlen, e->path, e->path ? strlen(e->path) : 0, true);
		break;
	case 3:
		snprintf(num, sizeof(num), "%" PRIu64, e->offset);
		ok = number_is(v, vlen, num);
		break;
	case 4:
		ok = string_is(v, vlen, e->reason, e->reason ? strlen(e->reason) : 0, true);
		break;
	case 5:
		ok = string_is(v, vlen, e->line, e->line_len, false);
		break;
	case 6:
		snprintf(num, sizeof(num), "%" PRIu64, e->length);
		ok = number_is(v, vlen, num);
		break;
	case 7:
		snprintf(num, sizeof(num), "%ld", e->status);
		ok = number_is(v, vlen, num);
		break;
	default:
		ok = string_is(v, vlen, e->response, e->response_len, false);
		break;
	}
	if (!ok)
		abort();
	c->i++;
}

/* The record line at *s (advanced past it) is the entry w. */
static void check_record(const char **s, const char *end, const struct want *w)
{
	const char *lf = memchr(*s, '\n', (size_t)(end - *s));
	struct check c = { w, 0 };
	const char *why;
	size_t n;

	if (!lf)
		abort(); /* no record, or one without its LF */
	n = (size_t)(lf - *s);
	if ((why = fuzz_json_problem(*s, n, FUZZ_JSON_LONE_SURROGATES))) {
		fprintf(stderr, "record is not strict JSON (%s): %.*s\n", why, (int)(n > 4096 ? 4096 : n), *s);
		abort();
	}
	fuzz_json_members(*s, n, check_member, &c);
	if (c.i != (w->e.status ? 9 : w->e.length ? 7 : 6))
		abort(); /* members missing at the end */
	*s = lf + 1;
}

static size_t read_file(const char *name, char *buf, size_t cap)
{
	char p[4200];
	int fd;
	ssize_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, cap);
	close(fd);
	return n > 0 ? (size_t)n : 0;
}

/* Every record of name, in order, is one of want[first..last]; nothing else is there. */
static void check_file(const char *name, const struct want *want, size_t first, size_t last)
{
	static char buf[1 << 22];
	size_t n = read_file(name, buf, sizeof(buf));
	const char *s = buf, *end = buf + n;
	size_t i;

	for (i = first; i < last; i++)
		check_record(&s, end, &want[i]);
	if (s != end)
		abort();
}

static void fresh_dir(void)
{
	char p[4200];

	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");

		/* the writer fsyncs a new file's directory: in memory that costs nothing */
		if (!tmp || !*tmp)
			tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(dir, sizeof(dir), "%s/onside-fuzz-deadletter-%s", tmp, MKTEMP_SUFFIX);
		if (!mkdtemp(dir)) {
			fprintf(stderr, "%s: %s\n", dir, strerror(errno));
			abort();
		}
	}
	snprintf(p, sizeof(p), "%s/%s", dir, DEADLETTER_FILE);
	unlink(p);
	snprintf(p, sizeof(p), "%s/%s.1", dir, DEADLETTER_FILE);
	unlink(p);
}

static void remove_dir(void)
{
	fresh_dir();
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct want want[ENTRIES_MAX];
	struct src s = { data + 1, size ? size - 1 : 0 };
	struct deadletter *d = NULL;
	size_t n, i;
	bool rotate;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	if (!dir[0]) {
		fresh_dir();
		atexit(remove_dir);
	}
	fresh_dir();
	rotate = data[0] & 32;
	n = 1 + (data[0] >> 6);
	for (i = 0; i < n; i++)
		take_entry(&s, data[0], &want[i]);
	/* rotate_bytes 1: every entry after the first moves the file before it to .1 */
	if (deadletter_open(dir, rotate ? 1 : 0, &d) != 0)
		abort();
	for (i = 0; i < n; i++)
		if (deadletter_write(d, &want[i].e) != 0)
			abort();
	if (deadletter_count(d) != n)
		abort();
	deadletter_close(d);
	if (rotate) {
		check_file(DEADLETTER_FILE, want, n - 1, n);
		check_file(DEADLETTER_FILE ".1", want, n > 1 ? n - 2 : 0, n > 1 ? n - 1 : 0);
	} else {
		check_file(DEADLETTER_FILE, want, 0, n);
	}
	return 0;
}
