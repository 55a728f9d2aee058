/* metrics.prom: Prometheus text format for node_exporter's textfile collector, written atomically. */
#ifndef ONSIDE_METRICS_H
#define ONSIDE_METRICS_H

#include "agent.h"
#include "buf.h"
#include "sender.h"
#include "tail.h"

#define METRICS_FILE "metrics.prom"

/* Renders the metrics into out (appends). */
int metrics_render(struct buf *out, const struct agent_stats *a, const struct sender_stats *s,
		   struct tail *t);
/* Renders and atomically replaces state_dir/metrics.prom. Returns 0 or a negative errno. */
int metrics_write(const char *state_dir, const struct agent_stats *a, const struct sender_stats *s,
		  struct tail *t);

#endif
