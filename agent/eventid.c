/* Event ids, contract v1 (see eventid.h and docs/reference.md): SHA-256 through OpenSSL with the per-file prefix
 * state computed once, UUIDv4 formatting and validation. Frozen: a change here would give a resent
 * line a new id and duplicate a purchase. */
#include "eventid.h"

#include <stdlib.h>
#include <string.h>

/* The low-level SHA-256 API: its context is a plain struct, so the per-file prefix state is copied
 * per line with one assignment (EVP_MD_CTX_copy_ex allocates on OpenSSL 3). It is deprecated, not
 * removed, in OpenSSL 3, and the same bytes go through the same SHA-256 either way. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "swar.h"

struct eventid_file {
	SHA256_CTX base; /* fed with everything up to and including FINGERPRINT 0x00 */
};

static const char hexdigits[] = "0123456789abcdef";

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 0xf];
	}
}

/* The first 16 digest bytes with the version and variant bits forced, as 32 lowercase hex digits.
 * Once per line, so with SSE2 where there is SSE2, with the bits forced in the vector: writing the two
 * bytes and then loading all sixteen would stall on the store. */
static void uuid4_hex(const unsigned char md[16], char out[32])
{
#ifdef SWAR_HAVE_SSE2
	const __m128i keep = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 0x0f, -1, 0x3f, -1, -1, -1, -1, -1, -1, -1);
	const __m128i set = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0x40, 0, (char)0x80, 0, 0, 0, 0, 0, 0, 0);
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)md), mask = _mm_set1_epi8(0x0f);
	__m128i hi, lo, a, b;
	__m128i nine = _mm_set1_epi8(9), zero = _mm_set1_epi8('0'), gap = _mm_set1_epi8('a' - '0' - 10);

	v = _mm_or_si128(_mm_and_si128(v, keep), set);
	hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
	lo = _mm_and_si128(v, mask);
	a = _mm_unpacklo_epi8(hi, lo);
	b = _mm_unpackhi_epi8(hi, lo);
	/* nibble + '0', plus the gap up to 'a' for 10..15 */
	a = _mm_add_epi8(_mm_add_epi8(a, zero), _mm_and_si128(_mm_cmpgt_epi8(a, nine), gap));
	b = _mm_add_epi8(_mm_add_epi8(b, zero), _mm_and_si128(_mm_cmpgt_epi8(b, nine), gap));
	_mm_storeu_si128((__m128i *)(void *)out, a);
	_mm_storeu_si128((__m128i *)(void *)(out + 16), b);
#else
	unsigned char u[16];

	memcpy(u, md, 16);
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	hex_encode(u, 16, out);
#endif
}

/* uuid4_format of docs/reference.md: the first 16 digest bytes with the version and variant bits forced. */
static void uuid4_format(const unsigned char md[32], char ret[37])
{
	char h[32];

	uuid4_hex(md, h);
	memcpy(ret, h, 8);
	ret[8] = '-';
	memcpy(ret + 9, h + 8, 4);
	ret[13] = '-';
	memcpy(ret + 14, h + 12, 4);
	ret[18] = '-';
	memcpy(ret + 19, h + 16, 4);
	ret[23] = '-';
	memcpy(ret + 24, h + 20, 12);
	ret[36] = '\0';
}

/* Feeds PREFIX 0x00 NS 0x00 KIND 0x00, the part common to both id kinds. */
static void digest_start(SHA256_CTX *c, const char *ns, size_t nslen, const char *kind)
{
	static const char zero;

	SHA256_Init(c);
	SHA256_Update(c, EVENTID_PREFIX, sizeof(EVENTID_PREFIX)); /* includes the NUL */
	SHA256_Update(c, ns, nslen);
	SHA256_Update(c, &zero, 1);
	SHA256_Update(c, kind, strlen(kind) + 1);
}

void eventid_fingerprint(const char *first_line, size_t len, char ret_hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	if (len > EVENTID_FINGERPRINT_MAX)
		len = EVENTID_FINGERPRINT_MAX;
	SHA256((const unsigned char *)first_line, len, md);
	hex_encode(md, 32, ret_hex);
	ret_hex[64] = '\0';
}

struct eventid_file *eventid_file_new(const char *ns, size_t nslen, const char *input, size_t inlen,
				      const char fingerprint_hex[64])
{
	static const char zero;
	struct eventid_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	digest_start(&f->base, ns, nslen, "pos");
	SHA256_Update(&f->base, input, inlen);
	SHA256_Update(&f->base, &zero, 1);
	SHA256_Update(&f->base, fingerprint_hex, 64);
	SHA256_Update(&f->base, &zero, 1);
	return f;
}

void eventid_file_free(struct eventid_file *f)
{
	free(f);
}

/* Writes v in decimal followed by a NUL byte into out (at least 21 bytes); returns the length
 * including the NUL. */
static size_t offset_text(uint64_t v, char out[21])
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n + 1;
}

void eventid_pos(struct eventid_file *f, uint64_t offset, const char *line, size_t len, char ret[37])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX c = f->base;
	char off[21];

	SHA256_Update(&c, off, offset_text(offset, off));
	SHA256_Update(&c, line, len);
	SHA256_Final(md, &c);
	uuid4_format(md, ret);
}

void eventid_key(const char *ns, size_t nslen, const char *event_name, size_t name_len,
		 const struct eventid_value *values, size_t nvalues, char ret[37])
{
	static const char zero, unit_sep = 0x1f;
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;
	char lower[64];
	size_t i, j, n;

	digest_start(&c, ns, nslen, "key");
	/* Only ASCII letters fold: the name's other bytes (UTF-8 included) are hashed unchanged. */
	for (i = 0; i < name_len; i += n) {
		n = name_len - i < sizeof(lower) ? name_len - i : sizeof(lower);
		for (j = 0; j < n; j++) {
			char ch = event_name[i + j];
			lower[j] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
		}
		SHA256_Update(&c, lower, n);
	}
	SHA256_Update(&c, &zero, 1);
	for (i = 0; i < nvalues; i++) {
		if (i)
			SHA256_Update(&c, &unit_sep, 1);
		SHA256_Update(&c, values[i].p, values[i].len);
	}
	SHA256_Final(md, &c);
	uuid4_format(md, ret);
}

/* uuid_is_valid runs on every line (installation_id): the 36 bytes are checked in three SSE2 vectors
 * where there is SSE2, else in a straight run of table lookups instead of a branch per byte. */
#ifdef SWAR_HAVE_SSE2
/* Sixteen bytes of a UUID: their hex digits in the low 16 bits of the result, their dashes in the
 * high 16. */
static unsigned uuid_classes16(const unsigned char *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
	__m128i l = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
	/* unsigned x <= k as min(x, k) == x */
	__m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
	__m128i letter = _mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(5)), l);
	__m128i dash = _mm_cmpeq_epi8(v, _mm_set1_epi8('-'));

	return (unsigned)_mm_movemask_epi8(_mm_or_si128(digit, letter)) |
	       (unsigned)_mm_movemask_epi8(dash) << 16;
}

/* The classes expected of 16 bytes whose dashes are at the positions set in dashes. */
#define UUID_EXPECT(dashes) ((unsigned)(dashes) << 16 | (0xffffu & ~(unsigned)(dashes)))

static bool uuid_layout_ok(const unsigned char *p)
{
	/* dashes at 8 and 13; at 18 and 23 (2 and 7 of bytes 16..31, 3 of bytes 20..35) */
	return uuid_classes16(p) == UUID_EXPECT(1u << 8 | 1u << 13) &&
	       uuid_classes16(p + 16) == UUID_EXPECT(1u << 2 | 1u << 7) &&
	       uuid_classes16(p + 20) == UUID_EXPECT(1u << 3);
}
#else
/* Byte classes of the 8-4-4-4-12 layout: a hex digit of either case, the dash, anything else (0). */
enum { UUID_HEX = 1, UUID_DASH = 2 };

static const unsigned char uuid_class[256] = {
	['0'] = UUID_HEX, ['1'] = UUID_HEX, ['2'] = UUID_HEX, ['3'] = UUID_HEX, ['4'] = UUID_HEX,
	['5'] = UUID_HEX, ['6'] = UUID_HEX, ['7'] = UUID_HEX, ['8'] = UUID_HEX, ['9'] = UUID_HEX,
	['a'] = UUID_HEX, ['b'] = UUID_HEX, ['c'] = UUID_HEX, ['d'] = UUID_HEX, ['e'] = UUID_HEX,
	['f'] = UUID_HEX, ['A'] = UUID_HEX, ['B'] = UUID_HEX, ['C'] = UUID_HEX, ['D'] = UUID_HEX,
	['E'] = UUID_HEX, ['F'] = UUID_HEX, ['-'] = UUID_DASH,
};

static const unsigned char uuid_layout[EVENTID_LEN] = {
	1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 2, 1, 1, 1, 1,
	2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static bool uuid_layout_ok(const unsigned char *p)
{
	unsigned diff = 0;

	for (size_t i = 0; i < EVENTID_LEN; i++)
		diff |= uuid_class[p[i]] ^ uuid_layout[i];
	return diff == 0;
}
#endif

bool uuid_is_valid(const char *s, size_t n)
{
	return n == EVENTID_LEN && uuid_layout_ok((const unsigned char *)s);
}

bool uuid_is_v4(const char *s, size_t n)
{
	if (!uuid_is_valid(s, n) || s[14] != '4')
		return false;
	switch (s[19]) {
	case '8': case '9': case 'a': case 'b': case 'A': case 'B':
		return true;
	}
	return false;
}
