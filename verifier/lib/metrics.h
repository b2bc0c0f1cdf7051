/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A tiny Prometheus registry (text exposition format 0.0.4, served at GET /metrics): counters
 * with at most one label, gauges, and histograms. Metric handles belong to the registry and stay
 * valid until it is freed; every update is thread-safe. A counter keeps at most
 * POSTURE_METRICS_LABELS_MAX label values; further values are counted under "other", so a
 * client cannot grow the registry. Library code: no logging.
 */

#include <stddef.h>
#include <stdint.h>

#include "posture/cleanup.h"

#define POSTURE_METRICS_LABELS_MAX  64
#define POSTURE_METRICS_BUCKETS_MAX 32
#define POSTURE_METRICS_NAME_MAX    128
#define POSTURE_METRICS_VALUE_MAX   128 /* label values are cut at this length */

struct posture_metrics;
struct posture_metrics_counter;
struct posture_metrics_gauge;
struct posture_metrics_histogram;

int posture_metrics_new(struct posture_metrics **ret);
struct posture_metrics *posture_metrics_free(struct posture_metrics *m);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_metrics *, posture_metrics_free)
#define posture_auto_metrics POSTURE_CLEANUP(posture_metrics_freep)

/*
 * Register (or find) a counter. name matches [a-zA-Z_:][a-zA-Z0-9_:]* and should end in
 * "_total"; label is a label name ([a-zA-Z_][a-zA-Z0-9_]*) or NULL for none; help is one line.
 * Registering the same name again with the same kind and label returns the same handle;
 * otherwise -EEXIST. -EINVAL for bad names, -ENOMEM.
 */
int posture_metrics_counter_new(struct posture_metrics *m,
                                const char *name,
                                const char *help,
                                const char *label,
                                struct posture_metrics_counter **ret);
/* Add n to the series label_value (NULL for a counter without label). NULL-safe on c. */
void posture_metrics_counter_add(struct posture_metrics_counter *c,
                                 const char *label_value,
                                 uint64_t n);
static inline void posture_metrics_counter_inc(struct posture_metrics_counter *c,
                                               const char *label_value)
{
    posture_metrics_counter_add(c, label_value, 1);
}
/* The current value of one series (0 when unknown); for tests. */
uint64_t posture_metrics_counter_get(struct posture_metrics_counter *c, const char *label_value);

int posture_metrics_gauge_new(struct posture_metrics *m,
                              const char *name,
                              const char *help,
                              struct posture_metrics_gauge **ret);
void posture_metrics_gauge_set(struct posture_metrics_gauge *g, int64_t v);
void posture_metrics_gauge_add(struct posture_metrics_gauge *g, int64_t delta);

/* A histogram of seconds with the given strictly increasing, finite, positive upper bounds
 * (1 ≤ n ≤ POSTURE_METRICS_BUCKETS_MAX; "+Inf" is implied). bounds NULL: a latency default from
 * 0.5 ms to 10 s. */
int posture_metrics_histogram_new(struct posture_metrics *m,
                                  const char *name,
                                  const char *help,
                                  const double *bounds,
                                  size_t n,
                                  struct posture_metrics_histogram **ret);
void posture_metrics_histogram_observe(struct posture_metrics_histogram *h, double seconds);

/* The whole registry in the text format, metrics in registration order. The caller frees *ret.
 * -ENOMEM. */
int posture_metrics_render(struct posture_metrics *m, char **ret, size_t *ret_len);
