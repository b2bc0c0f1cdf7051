/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit rows of gateway decisions (DESIGN.md §8: every decision is written to the
 * hash-chained audit log) without the store on the decision path: /v1/authz only appends a row
 * to a bounded in-memory buffer; a thread writes the buffer every API_AUDIT_PERIOD_MS with
 * posture_store_audit_append_many() (one transaction per batch, as store.h advises). A full
 * buffer drops rows and counts them (posture_audit_dropped_total): the decision itself never
 * waits. Stopping writes what is left.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "posture/err.h"
#include "posture/log.h"

#include "api_int.h"

#define API_AUDIT_PERIOD_MS 100

struct api_audit_row {
    char subject[POSTURE_STORE_DEVICE_ID_MAX + 1];
    char detail[API_AUDIT_DETAIL_MAX];
};

struct api_audit {
    struct posture_store *store;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool stop;
    struct api_audit_row *rows; /* filled by the handlers */
    size_t n;
    struct api_audit_row *spare; /* written by the thread */
    struct posture_metrics_counter *m_dropped;
    struct posture_metrics_counter *m_failed;
};

static void write_rows(struct api_audit *au, const struct api_audit_row *rows, size_t n)
{
    struct posture_store_audit_entry *e;
    size_t done = 0;

    if (n == 0)
        return;
    e = calloc(n < POSTURE_STORE_AUDIT_BATCH_MAX ? n : POSTURE_STORE_AUDIT_BATCH_MAX, sizeof(*e));
    if (!e) {
        posture_metrics_counter_add(au->m_failed, NULL, n);
        return;
    }
    while (done < n) {
        size_t k =
            n - done < POSTURE_STORE_AUDIT_BATCH_MAX ? n - done : POSTURE_STORE_AUDIT_BATCH_MAX;
        for (size_t i = 0; i < k; i++)
            e[i] = (struct posture_store_audit_entry){
                .kind = "decision",
                .subject = rows[done + i].subject,
                .detail = rows[done + i].detail,
            };
        int r = posture_store_audit_append_many(au->store, e, k, NULL);
        if (r < 0) {
            log_debug("api: audit: cannot write %zu decision rows: %s", k, posture_errno_name(r));
            posture_metrics_counter_add(au->m_failed, NULL, k);
        }
        done += k;
    }
    free(e);
}

static void *audit_thread(void *userdata)
{
    struct api_audit *au = userdata;
    bool stop = false;

    while (!stop) {
        struct timespec ts;
        struct api_audit_row *rows;
        size_t n;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long) API_AUDIT_PERIOD_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void) pthread_mutex_lock(&au->lock);
        while (!au->stop) {
            int r = pthread_cond_timedwait(&au->wake, &au->lock, &ts);
            if (r == ETIMEDOUT)
                break;
        }
        stop = au->stop;
        /* swap the buffers: the handlers go on filling the other one meanwhile */
        rows = au->rows;
        n = au->n;
        au->rows = au->spare;
        au->n = 0;
        au->spare = rows;
        (void) pthread_mutex_unlock(&au->lock);
        write_rows(au, rows, n);
    }
    return NULL;
}

int api_audit_new(struct posture_store *store, struct posture_metrics *m, struct api_audit **ret)
{
    struct api_audit *au = calloc(1, sizeof(*au));
    pthread_condattr_t ca;
    int r;

    if (!au)
        return -ENOMEM;
    au->store = store;
    au->rows = calloc(API_AUDIT_BUFFER_MAX, sizeof(*au->rows));
    au->spare = calloc(API_AUDIT_BUFFER_MAX, sizeof(*au->spare));
    if (!au->rows || !au->spare) {
        free(au->rows);
        free(au->spare);
        free(au);
        return -ENOMEM;
    }
    if (m) {
        r = posture_metrics_counter_new(m, "posture_audit_dropped_total",
                                        "Decision audit rows dropped: the buffer was full.", NULL,
                                        &au->m_dropped);
        if (r >= 0)
            r = posture_metrics_counter_new(m, "posture_audit_failed_total",
                                            "Decision audit rows the store refused.", NULL,
                                            &au->m_failed);
        if (r < 0) {
            free(au->rows);
            free(au->spare);
            free(au);
            return r;
        }
    }
    (void) pthread_mutex_init(&au->lock, NULL);
    (void) pthread_condattr_init(&ca);
    (void) pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    (void) pthread_cond_init(&au->wake, &ca);
    (void) pthread_condattr_destroy(&ca);
    r = pthread_create(&au->thread, NULL, audit_thread, au);
    if (r != 0) {
        (void) pthread_cond_destroy(&au->wake);
        (void) pthread_mutex_destroy(&au->lock);
        free(au->rows);
        free(au->spare);
        free(au);
        return -r;
    }
    *ret = au;
    return 0;
}

void api_audit_free(struct api_audit *au)
{
    if (!au)
        return;
    (void) pthread_mutex_lock(&au->lock);
    au->stop = true;
    (void) pthread_cond_signal(&au->wake);
    (void) pthread_mutex_unlock(&au->lock);
    (void) pthread_join(au->thread, NULL);
    (void) pthread_cond_destroy(&au->wake);
    (void) pthread_mutex_destroy(&au->lock);
    free(au->rows);
    free(au->spare);
    free(au);
}

void api_audit_add(struct api_audit *au, const char *subject, const char *detail)
{
    struct api_audit_row *row;

    if (!au)
        return;
    (void) pthread_mutex_lock(&au->lock);
    if (au->n >= API_AUDIT_BUFFER_MAX) {
        (void) pthread_mutex_unlock(&au->lock);
        posture_metrics_counter_inc(au->m_dropped, NULL);
        return;
    }
    row = &au->rows[au->n++];
    (void) snprintf(row->subject, sizeof(row->subject), "%s", subject ? subject : "");
    (void) snprintf(row->detail, sizeof(row->detail), "%s", detail ? detail : "");
    (void) pthread_mutex_unlock(&au->lock);
}
