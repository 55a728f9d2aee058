/* The ltsv parser: any bytes as lines with its default options, other delimiters, or options from the
 * input (fuzz_parser). Then the same lines through the default options against a reading of the
 * format written here: a line is accepted exactly when its non-empty tab-separated fields are each a
 * label of [0-9A-Za-z_.-]+, a ':' and a value (and there is at least one, and at most a record's
 * worth); an accepted line's fields, joined again as label:value with tabs, are those fields byte for
 * byte, in order. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "parser.h"

static const char *const opts[] = {
	"{}",
	"{\"delimiter\":\"\\t\",\"label_delimiter\":\":\"}",
	"{\"delimiter\":\",\",\"label_delimiter\":\"=\"}",
	"{\"delimiter\":\" \",\"label_delimiter\":\"\\t\"}",
};

static bool label_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	       c == '.' || c == '-';
}

/* The non-empty fields of the line if it is LTSV (how many in *ret_n), else -1. */
static int reference_fields(const char *s, size_t n, size_t *ret_n)
{
	size_t at = 0, fields = 0;

	while (at <= n) {
		const char *tab = memchr(s + at, '\t', n - at);
		size_t len = tab ? (size_t)(tab - (s + at)) : n - at, label;
		const char *colon = memchr(s + at, ':', len);

		if (len) {
			if (!colon || colon == s + at)
				return -1;
			for (label = 0; s + at + label < colon; label++)
				if (!label_byte((unsigned char)s[at + label]))
					return -1;
			fields++;
		}
		at += len + 1;
	}
	*ret_n = fields;
	return fields ? 0 : -1;
}

/* The accepted line's fields joined again equal its non-empty fields. */
static void check_fields(const struct record *rec, const char *s, size_t n)
{
	size_t at = 0, i = 0;

	while (at <= n) {
		const char *tab = memchr(s + at, '\t', n - at);
		size_t len = tab ? (size_t)(tab - (s + at)) : n - at;

		if (len) {
			const struct field *f = &rec->f[i++];

			if (f->name_len + 1 + f->value_len != len || memcmp(f->name, s + at, f->name_len) != 0 ||
			    s[at + f->name_len] != ':' || memchr(f->name, ':', f->name_len) ||
			    (f->value_len && memcmp(f->value, s + at + f->name_len + 1, f->value_len) != 0) ||
			    f->type != ONSIDE_T_STRING)
				abort();
		}
		at += len + 1;
	}
	if (i != rec->n)
		abort();
}

static void against_reference(const char *s, size_t n)
{
	static struct record rec;
	struct parser *p = NULL;
	char err[256], reason[256];

	if (parser_open("ltsv", NULL, "{}", &p, err, sizeof(err)) != 0)
		abort();
	while (n) {
		const char *lf = memchr(s, '\n', n);
		size_t len = lf ? (size_t)(lf - s) : n, fields = 0;
		size_t line_len = len && s[len - 1] == '\r' ? len - 1 : len;
		int rc = parser_parse(p, NULL, s, line_len, &rec, reason, sizeof(reason));
		int ref = reference_fields(s, line_len, &fields);

		if (ref == 0 && fields <= RECORD_MAX_FIELDS) {
			if (rc != ONSIDE_PARSE_OK)
				abort();
			check_fields(&rec, s, line_len);
		} else if (rc != ONSIDE_PARSE_NOMATCH || !reason[0]) {
			abort();
		}
		n -= lf ? len + 1 : len;
		s += lf ? len + 1 : len;
	}
	parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	fuzz_parser("ltsv", opts, sizeof(opts) / sizeof(opts[0]), data, size);
	against_reference((const char *)data + 1, size - 1);
	return 0;
}
