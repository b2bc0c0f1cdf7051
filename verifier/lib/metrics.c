/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny Prometheus text-format registry (see metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/strbuf.h"

#define RENDER_MAX ((size_t) 4 * 1024 * 1024)

enum kind {
    KIND_COUNTER,
    KIND_GAUGE,
    KIND_HISTOGRAM,
};

struct series {
    char *value; /* label value; NULL for the unlabelled series */
    uint64_t count;
};

struct metric {
    enum kind kind;
    char *name;
    char *help;
    char *label; /* counter only; NULL when none */
    pthread_mutex_t lock;
    /* counter */
    struct series series[POSTURE_METRICS_LABELS_MAX + 1]; /* + "other" */
    size_t n_series;
    /* gauge */
    int64_t gauge;
    /* histogram */
    double bounds[POSTURE_METRICS_BUCKETS_MAX];
    uint64_t buckets[POSTURE_METRICS_BUCKETS_MAX + 1]; /* per bucket (not cumulative), + +Inf */
    size_t n_bounds;
    double sum;
    uint64_t count;
    struct metric *next;
};

/* The public handle types are the metric itself. */
struct posture_metrics_counter {
    struct metric m;
};
struct posture_metrics_gauge {
    struct metric m;
};
struct posture_metrics_histogram {
    struct metric m;
};

struct posture_metrics {
    pthread_mutex_t lock;
    struct metric *head, *tail;
};

static const double default_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10 };

static bool name_valid(const char *s, bool colon)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > POSTURE_METRICS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool help_valid(const char *s)
{
    return s && strlen(s) <= 1024 && !strpbrk(s, "\n\r\\");
}

static struct metric *metric_free(struct metric *x)
{
    if (!x)
        return NULL;
    for (size_t i = 0; i < x->n_series; i++)
        free(x->series[i].value);
    (void) pthread_mutex_destroy(&x->lock);
    free(x->name);
    free(x->help);
    free(x->label);
    free(x);
    return NULL;
}

int posture_metrics_new(struct posture_metrics **ret)
{
    struct posture_metrics *m;

    if (!ret)
        return -EINVAL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return -ENOMEM;
    }
    *ret = m;
    return 0;
}

struct posture_metrics *posture_metrics_free(struct posture_metrics *m)
{
    if (!m)
        return NULL;
    for (struct metric *x = m->head, *next; x; x = next) {
        next = x->next;
        (void) metric_free(x);
    }
    (void) pthread_mutex_destroy(&m->lock);
    free(m);
    return NULL;
}

/* Find or add a metric; the caller checks the kind of an existing one. Returns 1 when it found
 * one, 0 when it added one. */
static int metric_register(struct posture_metrics *m,
                           enum kind kind,
                           const char *name,
                           const char *help,
                           const char *label,
                           struct metric **ret)
{
    struct metric *x;
    int r = 0;

    if (!m || !ret || !name_valid(name, true) || !help_valid(help) ||
        (label && !name_valid(label, false)))
        return -EINVAL;

    (void) pthread_mutex_lock(&m->lock);
    for (x = m->head; x; x = x->next)
        if (strcmp(x->name, name) == 0)
            break;
    if (x) {
        bool same = x->kind == kind &&
                    ((!x->label && !label) || (x->label && label && strcmp(x->label, label) == 0));
        r = same ? 1 : -EEXIST;
        goto out;
    }
    x = calloc(1, sizeof(*x));
    if (!x) {
        r = -ENOMEM;
        goto out;
    }
    x->kind = kind;
    x->name = strdup(name);
    x->help = strdup(help);
    x->label = label ? strdup(label) : NULL;
    if (!x->name || !x->help || (label && !x->label) || pthread_mutex_init(&x->lock, NULL) != 0) {
        free(x->name);
        free(x->help);
        free(x->label);
        free(x);
        x = NULL;
        r = -ENOMEM;
        goto out;
    }
    if (m->tail)
        m->tail->next = x;
    else
        m->head = x;
    m->tail = x;
out:
    (void) pthread_mutex_unlock(&m->lock);
    if (r >= 0)
        *ret = x;
    return r;
}

int posture_metrics_counter_new(struct posture_metrics *m,
                                const char *name,
                                const char *help,
                                const char *label,
                                struct posture_metrics_counter **ret)
{
    struct metric *x = NULL;
    int r = metric_register(m, KIND_COUNTER, name, help, label, &x);

    if (r < 0)
        return r;
    *ret = (struct posture_metrics_counter *) x;
    return 0;
}

int posture_metrics_gauge_new(struct posture_metrics *m,
                              const char *name,
                              const char *help,
                              struct posture_metrics_gauge **ret)
{
    struct metric *x = NULL;
    int r = metric_register(m, KIND_GAUGE, name, help, NULL, &x);

    if (r < 0)
        return r;
    *ret = (struct posture_metrics_gauge *) x;
    return 0;
}

int posture_metrics_histogram_new(struct posture_metrics *m,
                                  const char *name,
                                  const char *help,
                                  const double *bounds,
                                  size_t n,
                                  struct posture_metrics_histogram **ret)
{
    struct metric *x = NULL;
    int r;

    if (!bounds) {
        bounds = default_bounds;
        n = sizeof(default_bounds) / sizeof(default_bounds[0]);
    }
    if (n == 0 || n > POSTURE_METRICS_BUCKETS_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(bounds[i]) || bounds[i] <= 0 || (i > 0 && bounds[i] <= bounds[i - 1]))
            return -EINVAL;

    r = metric_register(m, KIND_HISTOGRAM, name, help, NULL, &x);
    if (r < 0)
        return r;
    if (r == 0) {
        memcpy(x->bounds, bounds, n * sizeof(*bounds));
        x->n_bounds = n;
    } else if (x->n_bounds != n || memcmp(x->bounds, bounds, n * sizeof(*bounds)) != 0)
        return -EEXIST;
    *ret = (struct posture_metrics_histogram *) x;
    return 0;
}

/* The series of value, added when there is room, else "other". Called under x->lock. */
static struct series *series_get(struct metric *x, const char *value, bool add)
{
    char cut[POSTURE_METRICS_VALUE_MAX + 1];

    if (!x->label)
        value = NULL;
    else if (!value)
        value = "";
    if (value && strlen(value) > POSTURE_METRICS_VALUE_MAX) {
        memcpy(cut, value, POSTURE_METRICS_VALUE_MAX);
        cut[POSTURE_METRICS_VALUE_MAX] = '\0';
        value = cut;
    }
    for (size_t i = 0; i < x->n_series; i++) {
        const char *v = x->series[i].value;
        if ((!v && !value) || (v && value && strcmp(v, value) == 0))
            return &x->series[i];
    }
    if (!add)
        return NULL;
    if (value && x->n_series >= POSTURE_METRICS_LABELS_MAX && strcmp(value, "other") != 0)
        return series_get(x, "other", true);
    if (x->n_series > POSTURE_METRICS_LABELS_MAX)
        return NULL; /* cannot happen: "other" is the last slot */
    char *copy = NULL;
    if (value) {
        copy = strdup(value);
        if (!copy)
            return NULL;
    }
    x->series[x->n_series] = (struct series){ .value = copy, .count = 0 };
    return &x->series[x->n_series++];
}

void posture_metrics_counter_add(struct posture_metrics_counter *c,
                                 const char *label_value,
                                 uint64_t n)
{
    struct series *s;

    if (!c)
        return;
    (void) pthread_mutex_lock(&c->m.lock);
    s = series_get(&c->m, label_value, true);
    if (s)
        s->count += n;
    (void) pthread_mutex_unlock(&c->m.lock);
}

uint64_t posture_metrics_counter_get(struct posture_metrics_counter *c, const char *label_value)
{
    struct series *s;
    uint64_t v = 0;

    if (!c)
        return 0;
    (void) pthread_mutex_lock(&c->m.lock);
    s = series_get(&c->m, label_value, false);
    if (s)
        v = s->count;
    (void) pthread_mutex_unlock(&c->m.lock);
    return v;
}

void posture_metrics_gauge_set(struct posture_metrics_gauge *g, int64_t v)
{
    if (!g)
        return;
    (void) pthread_mutex_lock(&g->m.lock);
    g->m.gauge = v;
    (void) pthread_mutex_unlock(&g->m.lock);
}

void posture_metrics_gauge_add(struct posture_metrics_gauge *g, int64_t delta)
{
    if (!g)
        return;
    (void) pthread_mutex_lock(&g->m.lock);
    g->m.gauge += delta;
    (void) pthread_mutex_unlock(&g->m.lock);
}

void posture_metrics_histogram_observe(struct posture_metrics_histogram *h, double seconds)
{
    size_t i;

    if (!h || isnan(seconds))
        return;
    if (seconds < 0)
        seconds = 0;
    (void) pthread_mutex_lock(&h->m.lock);
    for (i = 0; i < h->m.n_bounds; i++)
        if (seconds <= h->m.bounds[i])
            break;
    h->m.buckets[i]++;
    h->m.count++;
    h->m.sum += seconds;
    (void) pthread_mutex_unlock(&h->m.lock);
}

/* A label value with \, " and newline escaped. */
static int put_label_value(struct posture_strbuf *sb, const char *v)
{
    int r = 0;

    for (; *v && r >= 0; v++) {
        if (*v == '\\')
            r = posture_strbuf_puts(sb, "\\\\");
        else if (*v == '"')
            r = posture_strbuf_puts(sb, "\\\"");
        else if (*v == '\n')
            r = posture_strbuf_puts(sb, "\\n");
        else
            r = posture_strbuf_putc(sb, *v);
    }
    return r;
}

/* The shortest of %.15g and %.17g that reads back as v ("0.0005", not "0.00050000000000000001"). */
static const char *format_double(double v, char *buf, size_t size)
{
    (void) snprintf(buf, size, "%.15g", v);
    if (strtod(buf, NULL) != v)
        (void) snprintf(buf, size, "%.17g", v);
    return buf;
}

static int render_metric(struct posture_strbuf *sb, struct metric *x)
{
    static const char *const types[] = { "counter", "gauge", "histogram" };
    int r;

    r = posture_strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name,
                              types[x->kind]);
    if (r < 0)
        return r;
    switch (x->kind) {
    case KIND_COUNTER:
        if (!x->label && x->n_series == 0)
            return posture_strbuf_printf(sb, "%s 0\n", x->name);
        for (size_t i = 0; i < x->n_series && r >= 0; i++) {
            const struct series *s = &x->series[i];
            if (!s->value) {
                r = posture_strbuf_printf(sb, "%s %" PRIu64 "\n", x->name, s->count);
                continue;
            }
            r = posture_strbuf_printf(sb, "%s{%s=\"", x->name, x->label);
            if (r >= 0)
                r = put_label_value(sb, s->value);
            if (r >= 0)
                r = posture_strbuf_printf(sb, "\"} %" PRIu64 "\n", s->count);
        }
        return r;
    case KIND_GAUGE:
        return posture_strbuf_printf(sb, "%s %" PRId64 "\n", x->name, x->gauge);
    case KIND_HISTOGRAM: {
        uint64_t cum = 0;
        char sum[40];
        for (size_t i = 0; i < x->n_bounds && r >= 0; i++) {
            char le[40];
            cum += x->buckets[i];
            r = posture_strbuf_printf(sb, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", x->name,
                                      format_double(x->bounds[i], le, sizeof(le)), cum);
        }
        if (r < 0)
            return r;
        cum += x->buckets[x->n_bounds];
        return posture_strbuf_printf(sb,
                                     "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                                     "%s_sum %s\n"
                                     "%s_count %" PRIu64 "\n",
                                     x->name, cum, x->name, format_double(x->sum, sum, sizeof(sum)),
                                     x->name, x->count);
    }
    }
    return -EINVAL;
}

int posture_metrics_render(struct posture_metrics *m, char **ret, size_t *ret_len)
{
    posture_auto_strbuf struct posture_strbuf sb = POSTURE_STRBUF_INIT(RENDER_MAX);
    char *s;
    size_t len;
    int r = 0;

    if (!m || !ret)
        return -EINVAL;
    (void) pthread_mutex_lock(&m->lock);
    for (struct metric *x = m->head; x && r >= 0; x = x->next) {
        (void) pthread_mutex_lock(&x->lock);
        r = render_metric(&sb, x);
        (void) pthread_mutex_unlock(&x->lock);
    }
    (void) pthread_mutex_unlock(&m->lock);
    if (r < 0)
        return r;
    len = sb.len;
    s = posture_strbuf_steal(&sb);
    if (!s)
        return -ENOMEM;
    *ret = s;
    if (ret_len)
        *ret_len = len;
    return 0;
}
