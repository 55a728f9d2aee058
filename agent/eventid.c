#include "eventid.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

struct eventid_file {
	EVP_MD_CTX *base; /* fed with everything up to and including FINGERPRINT 0x00 */
	EVP_MD_CTX *work; /* a copy of base per line, kept so the copy can reuse its memory */
};

static const char hexdigits[] = "0123456789abcdef";

/* The id functions return void (an id always exists for a line); EVP only fails when it cannot
 * allocate, and a made-up id would silently break deduplication, so that is fatal. */
static void evp_check(int ok)
{
	if (!ok)
		abort();
}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
/* OpenSSL 3 looks EVP_sha256() up in its provider tables (locks and reference counts) at every
 * EVP_DigestInit_ex; fetching it once keeps that off the per-line path. Kept for the process. */
static CRYPTO_ONCE sha256_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *sha256_fetched;

static void sha256_fetch(void)
{
	sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	if (!CRYPTO_THREAD_run_once(&sha256_once, sha256_fetch) || !sha256_fetched)
		return EVP_sha256();
	return sha256_fetched;
}
#else
static const EVP_MD *sha256(void)
{
	return EVP_sha256();
}
#endif

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 0xf];
	}
}

/* uuid4_format of SPEC.md: the first 16 digest bytes with the version and variant bits forced. */
static void uuid4_format(const unsigned char md[32], char ret[37])
{
	unsigned char u[16];

	memcpy(u, md, 16);
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	hex_encode(u, 4, ret);
	ret[8] = '-';
	hex_encode(u + 4, 2, ret + 9);
	ret[13] = '-';
	hex_encode(u + 6, 2, ret + 14);
	ret[18] = '-';
	hex_encode(u + 8, 2, ret + 19);
	ret[23] = '-';
	hex_encode(u + 10, 6, ret + 24);
	ret[36] = '\0';
}

static void digest_update(EVP_MD_CTX *c, const void *p, size_t n)
{
	evp_check(EVP_DigestUpdate(c, p, n));
}

/* Feeds PREFIX 0x00 NS 0x00 KIND 0x00, the part common to both id kinds. */
static void digest_start(EVP_MD_CTX *c, const char *ns, size_t nslen, const char *kind)
{
	static const char zero;

	evp_check(EVP_DigestInit_ex(c, sha256(), NULL));
	digest_update(c, EVENTID_PREFIX, sizeof(EVENTID_PREFIX)); /* includes the NUL */
	digest_update(c, ns, nslen);
	digest_update(c, &zero, 1);
	digest_update(c, kind, strlen(kind) + 1);
}

void eventid_fingerprint(const char *first_line, size_t len, char ret_hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (len > EVENTID_FINGERPRINT_MAX)
		len = EVENTID_FINGERPRINT_MAX;
	evp_check(EVP_Digest(first_line, len, md, &mdlen, sha256(), NULL));
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
	f->base = EVP_MD_CTX_new();
	f->work = EVP_MD_CTX_new();
	if (!f->base || !f->work)
		goto fail;
	digest_start(f->base, ns, nslen, "pos");
	digest_update(f->base, input, inlen);
	digest_update(f->base, &zero, 1);
	digest_update(f->base, fingerprint_hex, 64);
	digest_update(f->base, &zero, 1);
	/* Initialized with the same digest, so OpenSSL 1.1's copy reuses work's state memory. */
	if (!EVP_DigestInit_ex(f->work, sha256(), NULL))
		goto fail;
	return f;
fail:
	eventid_file_free(f);
	return NULL;
}

void eventid_file_free(struct eventid_file *f)
{
	if (!f)
		return;
	EVP_MD_CTX_free(f->base);
	EVP_MD_CTX_free(f->work);
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
	unsigned char md[EVP_MAX_MD_SIZE];
	char off[21];

	evp_check(EVP_MD_CTX_copy_ex(f->work, f->base));
	digest_update(f->work, off, offset_text(offset, off));
	digest_update(f->work, line, len);
	evp_check(EVP_DigestFinal_ex(f->work, md, NULL));
	uuid4_format(md, ret);
}

/* Key ids are computed per line with no per-file state to hang a context on, so each thread keeps
 * one context for its lifetime instead of allocating one per line. */
static EVP_MD_CTX *key_ctx(void)
{
	static _Thread_local EVP_MD_CTX *ctx;

	if (!ctx) {
		ctx = EVP_MD_CTX_new();
		evp_check(ctx != NULL);
	}
	return ctx;
}

void eventid_key(const char *ns, size_t nslen, const char *event_name, size_t name_len,
		 const struct eventid_value *values, size_t nvalues, char ret[37])
{
	static const char zero, unit_sep = 0x1f;
	EVP_MD_CTX *c = key_ctx();
	unsigned char md[EVP_MAX_MD_SIZE];
	char lower[64];
	size_t i, j, n;

	digest_start(c, ns, nslen, "key");
	/* Only ASCII letters fold: the name's other bytes (UTF-8 included) are hashed unchanged. */
	for (i = 0; i < name_len; i += n) {
		n = name_len - i < sizeof(lower) ? name_len - i : sizeof(lower);
		for (j = 0; j < n; j++) {
			char ch = event_name[i + j];
			lower[j] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
		}
		digest_update(c, lower, n);
	}
	digest_update(c, &zero, 1);
	for (i = 0; i < nvalues; i++) {
		if (i)
			digest_update(c, &unit_sep, 1);
		digest_update(c, values[i].p, values[i].len);
	}
	evp_check(EVP_DigestFinal_ex(c, md, NULL));
	uuid4_format(md, ret);
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool uuid_is_valid(const char *s, size_t n)
{
	size_t i;

	if (n != EVENTID_LEN)
		return false;
	for (i = 0; i < n; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!is_hex(s[i])) {
			return false;
		}
	}
	return true;
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
