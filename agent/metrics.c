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
#include "escape.h"
#include "fileio.h"
#include "httpresp.h"

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
	int r = metrics_head(o, "onside_agent_requests_total", "counter",
			     "HTTP requests to the API by outcome (status, or transport_error).");

	for (int i = 0; i < HTTPRESP_ST_COUNT && r == 0; i++)
		r = buf_printf(o, "onside_agent_requests_total{status=\"%s\"} %" PRIu64 "\n", httpresp_class_name(i),
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

struct per_path {
	const char *path;
	uint64_t lag;
	int64_t oldest;
};

static int per_path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct per_path *)a)->path, ((const struct per_path *)b)->path);
}

/* The files of v by path, sorted, those that share a path made one: a file rotated away but still
 * being read has the same path as its successor; their lags add up and the older line counts. */
static struct per_path *metrics_paths(const struct view *v, size_t *ret_n)
{
	struct per_path *p = calloc(v->nfiles ? v->nfiles : 1, sizeof(*p));
	size_t n = 0;

	if (!p)
		return NULL;
	for (size_t i = 0; i < v->nfiles; i++)
		p[i] = (struct per_path){v->files[i].path, view_lag(&v->files[i]), v->files[i].oldest};
	qsort(p, v->nfiles, sizeof(*p), per_path_cmp);
	for (size_t i = 0; i < v->nfiles; i++) {
		if (n && strcmp(p[n - 1].path, p[i].path) == 0) {
			p[n - 1].lag += p[i].lag;
			if (p[i].oldest && (!p[n - 1].oldest || p[i].oldest < p[n - 1].oldest))
				p[n - 1].oldest = p[i].oldest;
			continue;
		}
		p[n++] = p[i];
	}
	*ret_n = n;
	return p;
}

static int metrics_series(struct buf *o, struct buf *tmp, const char *name, const char *path, int64_t v)
{
	return buf_printf(o, "%s{path=\"", name) ?: metrics_label(o, tmp, path) ?:
	       buf_printf(o, "\"} %" PRId64 "\n", v);
}

static int metrics_files(struct buf *o, const struct view *v)
{
	const char *lag = "onside_agent_file_lag_bytes", *old = "onside_agent_file_oldest_undelivered_timestamp_seconds";
	size_t n = 0;
	struct per_path *p = metrics_paths(v, &n);
	struct buf tmp;
	int r;

	if (!p)
		return -ENOMEM;
	buf_init(&tmp, 0);
	r = metrics_head(o, lag, "gauge", "Bytes of a followed file not yet delivered (size now minus checkpoint "
			 "offset).");
	for (size_t i = 0; i < n && r == 0; i++)
		r = metrics_series(o, &tmp, lag, p[i].path, (int64_t)p[i].lag);
	if (r == 0)
		r = metrics_head(o, old, "gauge", "Unix time the oldest line of a file not yet delivered was read "
				 "(or, not read yet, first seen waiting); 0: everything delivered.");
	for (size_t i = 0; i < n && r == 0; i++)
		r = metrics_series(o, &tmp, old, p[i].path, p[i].oldest);
	buf_free(&tmp);
	free(p);
	return r;
}

static int metrics_gauge(struct buf *o, const char *name, const char *help, int64_t v)
{
	return metrics_head(o, name, "gauge", help) ?: buf_printf(o, "%s %" PRId64 "\n", name, v);
}

/* The failure going on, if any: since when, how many in a row, the next try, and what it was. */
static int metrics_delivery(struct buf *o, const struct view *v)
{
	const char *info = "onside_agent_last_error_info";
	const struct sender_stats *s = v->ss;
	struct buf tmp;
	int r;

	r = metrics_gauge(o, "onside_agent_delivery_failing_since_timestamp_seconds",
			  "Unix time of the first of the failed requests in a row; 0: not failing.", v->failing_since) ?:
	    metrics_gauge(o, "onside_agent_delivery_consecutive_failures",
			  "Failed requests in a row (0 after an answer that is not a failure).",
			  (int64_t)s->consecutive_failures) ?:
	    metrics_gauge(o, "onside_agent_delivery_next_retry_timestamp_seconds",
			  "Unix time of the next attempt after a failure; 0: none waiting.", v->next_retry) ?:
	    metrics_head(o, info, "gauge", "The last failure (label error; status 0 for a transport error), "
			 "while there is one.");
	if (r || !s->last_error[0])
		return r;
	buf_init(&tmp, 0);
	r = buf_printf(o, "%s{error=\"", info) ?: metrics_label(o, &tmp, s->last_error) ?:
	    buf_printf(o, "\",status=\"%ld\"} 1\n", s->last_status);
	buf_free(&tmp);
	return r;
}

int metrics_render(struct buf *o, const struct view *v)
{
	const struct agent_stats *a = v->st;
	const struct sender_stats *s = v->ss;

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
	       metrics_gauge(o, "onside_agent_requests_in_flight", "Requests being sent now.", (int64_t)s->in_flight) ?:
	       metrics_concurrency(o, s) ?:
	       metrics_files(o, v) ?:
	       metrics_gauge(o, "onside_agent_unreadable_files", "Files the inputs match that cannot be opened.",
			     (int64_t)v->nbad) ?:
	       metrics_delivery(o, v) ?:
	       metrics_gauge(o, "onside_agent_last_delivery_timestamp_seconds",
			     "Unix time of the last successful delivery, also from before a restart (0: none yet).",
			     v->last_delivery);
}

int metrics_write(const char *state_dir, const struct view *v)
{
	struct buf b;
	int r;

	buf_init(&b, 0);
	r = metrics_render(&b, v);
	if (r == 0)
		r = fileio_replace(state_dir, METRICS_FILE, b.data, b.len);
	buf_free(&b);
	return r;
}
