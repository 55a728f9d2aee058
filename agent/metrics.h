/* metrics.prom: Prometheus text format for node_exporter's textfile collector, written atomically. */
#ifndef ONSIDE_METRICS_H
#define ONSIDE_METRICS_H

#include "buf.h"
#include "view.h"

#define METRICS_FILE "metrics.prom"

/* Renders the metrics of view v into out (appends). */
int metrics_render(struct buf *out, const struct view *v);
/* Renders and atomically replaces state_dir/metrics.prom. Returns 0 or a negative errno. */
int metrics_write(const char *state_dir, const struct view *v);

#endif
