/* metrics.prom: the agent's counters in the Prometheus text exposition format, for node_exporter's
 * textfile collector. That collector drops the whole file when one line is invalid (not UTF-8, a
 * series twice), so label values from outside (file paths) are escaped into valid UTF-8 and files
 * that share a path are one series. */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "fileio.h"
#include "escape.h"

/* A label value: the path made valid UTF-8 without control characters (escape_text: invalid bytes
 * as \xHH, which keeps two different paths two different values), then the exposition format's own
 * escapes for backslash and double quote (a newline cannot be left after escape_text). */
static int metrics_label(struct buf *out, struct buf *tmp, const char *v)
{
	int r;

	buf_reset(tmp);
	r = escape_text(tmp, v, strlen(v));
	for (size_t i = 0; r == 0 && i < tmp->len; i++) {
		char c = tmp->data[i];

		if (c == '\\' || c == '"')
			r = buf_putc(out, '\\');
		if (r == 0)
			r = buf_putc(out, c);
	}
	return r;
}

static int metrics_head(struct buf *o, const char *name, const char *type, const char *help)
{
	return buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int metrics_counter(struct buf *o, const char *name, const char *help, uint64_t v)
{
	return metrics_head(o, name, "counter", help) ?: buf_printf(o, "%s %" PRIu64 "\n", name, v);
}

static int metrics_requests(struct buf *o, const struct sender_stats *s)
{
	static const char *names[SENDER_ST_COUNT] = {"204", "400", "413", "429", "401_403", "other_4xx", "5xx",
						     "transport_error", "other_2xx"};
	int r = metrics_head(o, "onside_agent_requests_total", "counter",
			     "HTTP requests to the API by outcome (status, or transport_error).");

	for (size_t i = 0; i < SENDER_ST_COUNT && r == 0; i++)
		r = buf_printf(o, "onside_agent_requests_total{status=\"%s\"} %" PRIu64 "\n", names[i],
			       s->requests_by_class[i]);
	return r;
}

/* The adaptive concurrency: where its limit stands, the round trip it compares with, the rate cap. */
static int metrics_concurrency(struct buf *o, const struct sender_stats *s)
{
	return metrics_head(o, "onside_agent_concurrency_limit", "gauge",
			    "Requests allowed in flight now (batch.max_in_flight, or where auto stands).") ?:
	       buf_printf(o, "onside_agent_concurrency_limit %" PRIu64 "\n", s->concurrency_limit) ?:
	       metrics_head(o, "onside_agent_request_latency_seconds", "gauge",
			    "Round trip of accepted requests (moving average; 0: none yet).") ?:
	       buf_printf(o, "onside_agent_request_latency_seconds %.6f\n", (double)s->rtt_us / 1e6) ?:
	       metrics_head(o, "onside_agent_request_rate_limit", "gauge",
			    "Requests per second allowed after 429 answers (0: no limit).") ?:
	       buf_printf(o, "onside_agent_request_rate_limit %.3f\n", s->rate_cap);
}

static int metrics_rejected(struct buf *o, const struct agent_stats *a)
{
	const char *n = "onside_agent_events_rejected_total";

	return metrics_head(o, n, "counter", "Lines dead-lettered, by reason.") ?:
	       buf_printf(o, "%s{reason=\"parse\"} %" PRIu64 "\n", n, a->rejected_parse) ?:
	       buf_printf(o, "%s{reason=\"line_too_long\"} %" PRIu64 "\n", n, a->rejected_long) ?:
	       buf_printf(o, "%s{reason=\"event_too_large\"} %" PRIu64 "\n", n, a->rejected_large) ?:
	       buf_printf(o, "%s{reason=\"server\"} %" PRIu64 "\n", n, a->rejected_server);
}

static int metrics_skipped(struct buf *o, const struct agent_stats *a)
{
	const char *n = "onside_agent_events_skipped_total";
	int r = metrics_head(o, n, "counter",
			     "Lines that are not events, by reason (match, parser, on_mismatch, include_lines, "
			     "exclude_lines).");

	for (int k = 0; k < MAP_SKIP_KINDS && r == 0; k++)
		r = buf_printf(o, "%s{reason=\"%s\"} %" PRIu64 "\n", n, map_skip_name(k), a->skipped[k]);
	return r;
}

struct lag {
	const char *path;
	uint64_t bytes;
};

static int lag_cmp(const void *a, const void *b)
{
	return strcmp(((const struct lag *)a)->path, ((const struct lag *)b)->path);
}

/* One series per path, sorted: a file rotated away but still being read has the same path as its
 * successor, and their lags add up. */
static int metrics_lag(struct buf *o, struct tail *t)
{
	size_t n = 0, nf = tail_nfiles(t);
	struct lag *v = calloc(nf ? nf : 1, sizeof(*v));
	struct buf tmp;
	int r;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < nf; i++) {
		struct tail_file_info f;

		tail_file_info(t, i, &f);
		if (!f.open)
			continue;
		v[n].path = f.path;
		v[n++].bytes = f.size > f.committed ? f.size - f.committed : 0;
	}
	qsort(v, n, sizeof(*v), lag_cmp);
	buf_init(&tmp, 0);
	r = metrics_head(o, "onside_agent_file_lag_bytes", "gauge",
			 "Bytes of a followed file not yet delivered (size minus checkpoint offset).");
	for (size_t i = 0; i < n && r == 0; i++) {
		uint64_t lag = v[i].bytes;

		while (i + 1 < n && strcmp(v[i].path, v[i + 1].path) == 0)
			lag += v[++i].bytes;
		r = buf_puts(o, "onside_agent_file_lag_bytes{path=\"") ?: metrics_label(o, &tmp, v[i].path) ?:
		    buf_printf(o, "\"} %" PRIu64 "\n", lag);
	}
	buf_free(&tmp);
	free(v);
	return r;
}

int metrics_render(struct buf *o, const struct agent_stats *a, const struct sender_stats *s,
		   struct tail *t)
{
	return metrics_counter(o, "onside_agent_lines_read_total", "Lines read from the log files.",
			       a->lines_read) ?:
	       metrics_counter(o, "onside_agent_bytes_read_total", "Bytes read from the log files.",
			       a->bytes_read) ?:
	       metrics_counter(o, "onside_agent_events_sent_total", "Events accepted by the API (204).",
			       s->events_delivered) ?:
	       metrics_rejected(o, a) ?:
	       metrics_skipped(o, a) ?:
	       metrics_requests(o, s) ?:
	       metrics_counter(o, "onside_agent_retries_total", "Requests sent again after a failure.",
			       s->retries) ?:
	       metrics_head(o, "onside_agent_requests_in_flight", "gauge", "Requests being sent now.") ?:
	       buf_printf(o, "onside_agent_requests_in_flight %" PRIu64 "\n", s->in_flight) ?:
	       metrics_concurrency(o, s) ?:
	       metrics_lag(o, t) ?:
	       metrics_head(o, "onside_agent_last_delivery_timestamp_seconds", "gauge",
			    "Unix time of the last successful delivery (0: none yet).") ?:
	       buf_printf(o, "onside_agent_last_delivery_timestamp_seconds %" PRId64 "\n",
			  s->last_success_unix);
}

int metrics_write(const char *state_dir, const struct agent_stats *a, const struct sender_stats *s,
		  struct tail *t)
{
	struct buf b;
	int r;

	buf_init(&b, 0);
	r = metrics_render(&b, a, s, t);
	if (r == 0)
		r = fileio_replace(state_dir, METRICS_FILE, b.data, b.len);
	buf_free(&b);
	return r;
}
