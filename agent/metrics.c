#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "checkpoint.h"

static int metrics_label(struct buf *out, const char *v)
{
	int r = 0;

	/* Prometheus label values escape backslash, double quote and newline */
	for (; *v && r == 0; v++) {
		if (*v == '\\' || *v == '"')
			r = buf_putc(out, '\\') ?: buf_putc(out, *v);
		else if (*v == '\n')
			r = buf_puts(out, "\\n");
		else
			r = buf_putc(out, *v);
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

static int metrics_lag(struct buf *o, struct tail *t)
{
	int r = metrics_head(o, "onside_agent_file_lag_bytes", "gauge",
			     "Bytes of a followed file not yet delivered (size minus checkpoint offset).");

	for (size_t i = 0; i < tail_nfiles(t) && r == 0; i++) {
		const struct tail_file *f = tail_file_at(t, i);
		uint64_t committed = ledger_committed(f->led);
		uint64_t lag = f->size > committed ? f->size - committed : 0;

		if (f->fd < 0)
			continue;
		r = buf_puts(o, "onside_agent_file_lag_bytes{path=\"") ?: metrics_label(o, f->path) ?:
		    buf_printf(o, "\"} %" PRIu64 "\n", lag);
	}
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
	       metrics_head(o, "onside_agent_events_skipped_total", "counter",
			    "Lines that are not events (match filter or parser skip).") ?:
	       buf_printf(o, "onside_agent_events_skipped_total{reason=\"match\"} %" PRIu64 "\n",
			  a->skipped_match) ?:
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
		r = atomicfile_write(state_dir, METRICS_FILE, b.data, b.len);
	buf_free(&b);
	return r;
}
