/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory decision view for /v1/authz; see decision.h. */

#include "decision.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/json.h"

struct entry {
    char policy_id[POSTURE_DECISION_ID_MAX + 1];
    char policy_version[POSTURE_DECISION_ID_MAX + 1];
    char status[24];
    bool allow;
    int64_t expires;
    char *token;
    char *problem; /* the 403 body when !allow, made once at put */
};

struct rec {
    char device_id[POSTURE_DECISION_ID_MAX + 1];
    char subject[POSTURE_DECISION_SUBJECT_MAX + 1];
    uint8_t x5t[32];
    uint64_t seq;
    size_t n;
    bool revoked; /* posture_decisions_revoke(): 403 device-revoked under every policy */
    struct entry e[POSTURE_DECISION_POLICIES_MAX];
    struct rec *next_id, *next_x5t; /* hash chains */
};

struct posture_decisions {
    pthread_rwlock_t lock;
    size_t max, count, mask;
    struct rec **by_id, **by_x5t;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t) *s) * 1099511628211ULL;
    return h;
}

static uint64_t hash_x5t(const uint8_t *x)
{
    uint64_t h;
    memcpy(&h, x, sizeof(h)); /* a SHA-256: already uniform */
    return h;
}

static void rec_free(struct rec *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->e[i].token);
        free(r->e[i].problem);
    }
    free(r);
}

int posture_decisions_new(size_t max_devices, struct posture_decisions **ret)
{
    struct posture_decisions *d;
    size_t buckets = 16;

    if (max_devices == 0 || max_devices > (SIZE_MAX / 4))
        return -EINVAL;
    while (buckets < max_devices)
        buckets *= 2;
    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->by_id = calloc(buckets, sizeof(*d->by_id));
    d->by_x5t = calloc(buckets, sizeof(*d->by_x5t));
    /* glibc's default lets a steady stream of readers (every gateway request) starve the
     * writer (every appraisal) for ever: prefer the writer. */
    pthread_rwlockattr_t attr;
    bool ok =
        pthread_rwlockattr_init(&attr) == 0 &&
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) == 0 &&
        pthread_rwlock_init(&d->lock, &attr) == 0;
    (void) pthread_rwlockattr_destroy(&attr);
    if (!d->by_id || !d->by_x5t || !ok) {
        free(d->by_id);
        free(d->by_x5t);
        free(d);
        return -ENOMEM;
    }
    d->max = max_devices;
    d->mask = buckets - 1;
    *ret = d;
    return 0;
}

struct posture_decisions *posture_decisions_free(struct posture_decisions *d)
{
    if (!d)
        return NULL;
    for (size_t b = 0; b <= d->mask; b++)
        for (struct rec *r = d->by_id[b], *next; r; r = next) {
            next = r->next_id;
            rec_free(r);
        }
    (void) pthread_rwlock_destroy(&d->lock);
    free(d->by_id);
    free(d->by_x5t);
    free(d);
    return NULL;
}

static bool copy(char *dst, size_t size, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= size)
        return false;
    memcpy(dst, src ? src : "", n + 1);
    return true;
}

/* The 403 body of a failing entry (RFC 9457): short, no evidence. */
static int make_problem(const struct posture_decision_entry *in, char **ret)
{
    posture_auto_cjson cJSON *p = cJSON_CreateObject(), *failed = cJSON_CreateArray();
    const char *s = in->failed_checks ? in->failed_checks : "";
    int r;

    if (!p || !failed)
        return -ENOMEM;
    r = posture_json_add_str(p, "type", "urn:posture:problem:posture-failed");
    if (r >= 0)
        r = posture_json_add_str(p, "title", "The device does not meet the posture policy");
    if (r >= 0)
        r = posture_json_add_int(p, "status", 403);
    if (r >= 0)
        r = posture_json_add_str(p, "policy", in->policy_id);
    while (r >= 0 && *s) {
        size_t k = strcspn(s, ",");
        char id[POSTURE_DECISION_ID_MAX + 1];
        if (k > 0 && k <= POSTURE_DECISION_ID_MAX) {
            memcpy(id, s, k);
            id[k] = '\0';
            r = posture_json_append_str(failed, id);
        }
        s += k + (s[k] == ',');
    }
    if (r >= 0)
        r = posture_json_add_item(p, "failed_checks", POSTURE_TAKE_PTR(failed));
    if (r >= 0 && in->remediation && in->remediation[0])
        r = posture_json_add_str(p, "remediation", in->remediation);
    if (r >= 0)
        r = posture_json_print(p, false, ret);
    return r;
}

static int rec_build(const struct posture_decision_device *dev, struct rec **ret)
{
    struct rec *r;
    int k;

    if (!dev || !dev->device_id || !dev->device_id[0] ||
        dev->n_entries > POSTURE_DECISION_POLICIES_MAX || (dev->n_entries && !dev->entries))
        return -EINVAL;
    r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    if (!copy(r->device_id, sizeof(r->device_id), dev->device_id) ||
        !copy(r->subject, sizeof(r->subject), dev->subject)) {
        rec_free(r);
        return -E2BIG;
    }
    memcpy(r->x5t, dev->x5t_s256, sizeof(r->x5t));
    r->seq = dev->seq;
    for (size_t i = 0; i < dev->n_entries; i++) {
        const struct posture_decision_entry *in = &dev->entries[i];
        struct entry *e = &r->e[i];
        if (!in->policy_id || !in->status) {
            rec_free(r);
            return -EINVAL;
        }
        r->n = i + 1;
        if (!copy(e->policy_id, sizeof(e->policy_id), in->policy_id) ||
            !copy(e->policy_version, sizeof(e->policy_version), in->policy_version) ||
            !copy(e->status, sizeof(e->status), in->status) ||
            (in->token && strlen(in->token) > POSTURE_DECISION_TOKEN_MAX) ||
            (in->remediation && strlen(in->remediation) > POSTURE_DECISION_TEXT_MAX) ||
            (in->failed_checks && strlen(in->failed_checks) > POSTURE_DECISION_TEXT_MAX)) {
            rec_free(r);
            return -E2BIG;
        }
        e->allow = in->allow;
        e->expires = in->expires;
        e->token = strdup(in->token ? in->token : "");
        k = e->token ? (in->allow ? 0 : make_problem(in, &e->problem)) : -ENOMEM;
        if (k < 0) {
            rec_free(r);
            return k;
        }
    }
    *ret = r;
    return 0;
}

/* Unlink r from both chains (the write lock is held). */
static void unlink_rec(struct posture_decisions *d, struct rec *r)
{
    struct rec **p;

    for (p = &d->by_id[hash_str(r->device_id) & d->mask]; *p; p = &(*p)->next_id)
        if (*p == r) {
            *p = r->next_id;
            break;
        }
    for (p = &d->by_x5t[hash_x5t(r->x5t) & d->mask]; *p; p = &(*p)->next_x5t)
        if (*p == r) {
            *p = r->next_x5t;
            break;
        }
    d->count--;
}

static struct rec *find_id(const struct posture_decisions *d, const char *id)
{
    for (struct rec *r = d->by_id[hash_str(id) & d->mask]; r; r = r->next_id)
        if (strcmp(r->device_id, id) == 0)
            return r;
    return NULL;
}

static struct rec *find_x5t(const struct posture_decisions *d, const uint8_t *x5t)
{
    for (struct rec *r = d->by_x5t[hash_x5t(x5t) & d->mask]; r; r = r->next_x5t)
        if (memcmp(r->x5t, x5t, sizeof(r->x5t)) == 0)
            return r;
    return NULL;
}

int posture_decisions_put(struct posture_decisions *d, const struct posture_decision_device *dev)
{
    struct rec *r = NULL, *old, *holder;
    int k;

    k = rec_build(dev, &r);
    if (k < 0)
        return k;
    (void) pthread_rwlock_wrlock(&d->lock);
    old = find_id(d, r->device_id);
    holder = find_x5t(d, r->x5t);
    if (old && r->seq != 0 && old->seq > r->seq)
        k = 1; /* r is freed below */
    else if (holder && holder != old)
        k = -EEXIST;
    else if (!old && d->count >= d->max)
        k = -E2BIG;
    else {
        if (old)
            unlink_rec(d, old);
        size_t bi = hash_str(r->device_id) & d->mask, bx = hash_x5t(r->x5t) & d->mask;
        r->next_id = d->by_id[bi];
        d->by_id[bi] = r;
        r->next_x5t = d->by_x5t[bx];
        d->by_x5t[bx] = r;
        d->count++;
        r = old; /* freed below, outside the lock */
    }
    (void) pthread_rwlock_unlock(&d->lock);
    rec_free(r);
    return k;
}

int posture_decisions_remove(struct posture_decisions *d, const char *device_id)
{
    struct rec *r;

    if (!device_id)
        return -EINVAL;
    (void) pthread_rwlock_wrlock(&d->lock);
    r = find_id(d, device_id);
    if (r)
        unlink_rec(d, r);
    (void) pthread_rwlock_unlock(&d->lock);
    if (!r)
        return -ENOENT;
    rec_free(r);
    return 0;
}

int posture_decisions_revoke(struct posture_decisions *d, const char *device_id)
{
    struct rec *r;
    int k = -ENOENT;

    if (!d || !device_id)
        return -EINVAL;
    (void) pthread_rwlock_wrlock(&d->lock);
    r = find_id(d, device_id);
    if (r) {
        k = r->revoked ? 0 : 1;
        r->revoked = true;
    }
    (void) pthread_rwlock_unlock(&d->lock);
    return k;
}

int posture_decisions_drop_policy(struct posture_decisions *d, const char *policy_id)
{
    int dropped = 0;

    if (!d || !policy_id)
        return -EINVAL;
    (void) pthread_rwlock_wrlock(&d->lock);
    for (size_t b = 0; b <= d->mask; b++)
        for (struct rec *r = d->by_id[b]; r; r = r->next_id) {
            size_t keep = 0;
            for (size_t i = 0; i < r->n; i++) {
                if (strcmp(r->e[i].policy_id, policy_id) == 0) {
                    free(r->e[i].token);
                    free(r->e[i].problem);
                    if (dropped < INT_MAX)
                        dropped++;
                    continue;
                }
                if (keep != i)
                    r->e[keep] = r->e[i];
                keep++;
            }
            for (size_t i = keep; i < r->n; i++)
                r->e[i] = (struct entry){ .token = NULL };
            r->n = keep;
        }
    (void) pthread_rwlock_unlock(&d->lock);
    return dropped;
}

size_t posture_decisions_count(struct posture_decisions *d)
{
    size_t n;
    (void) pthread_rwlock_rdlock(&d->lock);
    n = d->count;
    (void) pthread_rwlock_unlock(&d->lock);
    return n;
}

static void
set_problem(struct posture_authz *a, unsigned status, const char *type, const char *title)
{
    a->status = status;
    (void) snprintf(a->problem, sizeof(a->problem),
                    "{\"type\":\"urn:posture:problem:%s\",\"title\":\"%s\",\"status\":%u}", type,
                    title, status);
    (void) snprintf(a->cache_control, sizeof(a->cache_control), "no-store");
}

/* The device is named by its certificate (x5t_s256) or, for the token paths, by its id. */
static void decide(struct posture_decisions *d,
                   const uint8_t *x5t_s256,
                   const char *device_id,
                   const char *policy_id,
                   const char *const *known_policies,
                   size_t n_known,
                   int64_t now,
                   struct posture_authz *ret)
{
    struct posture_authz *a = ret;
    const struct entry *e = NULL;
    const struct rec *r;
    bool known = false;

    a->status = 503;
    a->x_status[0] = a->x_device_id[0] = a->x_policy[0] = a->x_expires[0] = '\0';
    a->x_token[0] = a->cache_control[0] = a->www_authenticate[0] = a->problem[0] = '\0';

    for (size_t i = 0; policy_id && i < n_known && !known; i++)
        known = known_policies[i] && strcmp(known_policies[i], policy_id) == 0;
    if (!d || !known) {
        set_problem(a, 503, "unknown-policy",
                    "The gateway asked for a policy this verifier does not have");
        return;
    }
    if (!x5t_s256 && !device_id) {
        set_problem(a, 401, "no-credential", "No device certificate was presented");
        (void) snprintf(a->www_authenticate, sizeof(a->www_authenticate),
                        "Bearer realm=\"posture\", error=\"invalid_token\"");
        return;
    }

    (void) pthread_rwlock_rdlock(&d->lock);
    r = x5t_s256 ? find_x5t(d, x5t_s256) : find_id(d, device_id);
    if (!r) {
        (void) pthread_rwlock_unlock(&d->lock);
        set_problem(a, 401, "unknown-device", "The certificate belongs to no enrolled device");
        (void) snprintf(a->www_authenticate, sizeof(a->www_authenticate),
                        "Bearer realm=\"posture\", error=\"invalid_token\"");
        return;
    }
    (void) snprintf(a->x_device_id, sizeof(a->x_device_id), "%s", r->subject);
    if (r->revoked) {
        /* authenticated, and refused: the credential is the device's, the device is out */
        (void) pthread_rwlock_unlock(&d->lock);
        set_problem(a, 403, "device-revoked",
                    "The device was revoked by an administrator: it must enrol again");
        return;
    }
    for (size_t i = 0; i < r->n && !e; i++)
        if (strcmp(r->e[i].policy_id, policy_id) == 0)
            e = &r->e[i];
    if (!e) {
        (void) pthread_rwlock_unlock(&d->lock);
        set_problem(a, 403, "not-appraised",
                    "The device has not been appraised under this policy yet");
        (void) snprintf(a->x_status, sizeof(a->x_status), "none");
        return;
    }
    (void) snprintf(a->x_status, sizeof(a->x_status), "%s", e->status);
    (void) snprintf(a->x_policy, sizeof(a->x_policy), "%s@%s", e->policy_id, e->policy_version);
    (void) snprintf(a->x_expires, sizeof(a->x_expires), "%" PRId64, e->expires);
    if (e->expires <= now) {
        (void) pthread_rwlock_unlock(&d->lock);
        set_problem(a, 403, "posture-expired",
                    "The device's last appraisal has expired: its agent has not reported");
        return;
    }
    if (!e->allow) {
        a->status = 403;
        (void) snprintf(a->problem, sizeof(a->problem), "%s", e->problem ? e->problem : "{}");
        (void) snprintf(a->cache_control, sizeof(a->cache_control), "no-store");
        (void) pthread_rwlock_unlock(&d->lock);
        return;
    }
    a->status = 200;
    (void) snprintf(a->x_token, sizeof(a->x_token), "%s", e->token);
    {
        int64_t left = e->expires - now;
        (void) snprintf(a->cache_control, sizeof(a->cache_control), "max-age=%" PRId64,
                        left < POSTURE_DECISION_MAX_AGE_SEC ? left : POSTURE_DECISION_MAX_AGE_SEC);
    }
    (void) pthread_rwlock_unlock(&d->lock);
}

void posture_decisions_authz(struct posture_decisions *d,
                             const uint8_t *x5t_s256,
                             const char *policy_id,
                             const char *const *known_policies,
                             size_t n_known,
                             int64_t now,
                             struct posture_authz *ret)
{
    decide(d, x5t_s256, NULL, policy_id, known_policies, n_known, now, ret);
}

void posture_decisions_authz_device(struct posture_decisions *d,
                                    const char *device_id,
                                    const char *policy_id,
                                    const char *const *known_policies,
                                    size_t n_known,
                                    int64_t now,
                                    struct posture_authz *ret)
{
    decide(d, NULL, device_id, policy_id, known_policies, n_known, now, ret);
}
