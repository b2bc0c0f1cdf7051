/* SPDX-License-Identifier: Apache-2.0 */
/* Token buckets in a fixed, set-associative table (see ratelimit.h). */

#include "ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>

struct rl_entry {
    bool used;
    char key[POSTURE_RATELIMIT_KEY_MAX];
    double tokens;
    uint64_t last_usec; /* the time tokens was computed at */
};

struct posture_ratelimit {
    pthread_mutex_t lock;
    double rate;
    double burst;
    size_t n_sets; /* a power of two */
    size_t n_used;
    uint64_t k0, k1; /* SipHash key */
    struct rl_entry entries[];
};

/* ---- SipHash-2-4 (Aumasson, Bernstein), 64-bit output ----------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t *v0, uint64_t *v1, uint64_t *v2, uint64_t *v3)
{
    *v0 += *v1;
    *v1 = ROTL(*v1, 13);
    *v1 ^= *v0;
    *v0 = ROTL(*v0, 32);
    *v2 += *v3;
    *v3 = ROTL(*v3, 16);
    *v3 ^= *v2;
    *v0 += *v3;
    *v3 = ROTL(*v3, 21);
    *v3 ^= *v0;
    *v2 += *v1;
    *v1 = ROTL(*v1, 17);
    *v1 ^= *v2;
    *v2 = ROTL(*v2, 32);
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t siphash24(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    uint64_t m, b = (uint64_t) len << 56;
    size_t i, whole = len - len % 8;
    uint8_t tail[8] = { 0 };

    for (i = 0; i < whole; i += 8) {
        m = load_le64(in + i);
        v3 ^= m;
        sip_round(&v0, &v1, &v2, &v3);
        sip_round(&v0, &v1, &v2, &v3);
        v0 ^= m;
    }
    memcpy(tail, in + whole, len % 8);
    b |= load_le64(tail);
    v3 ^= b;
    sip_round(&v0, &v1, &v2, &v3);
    sip_round(&v0, &v1, &v2, &v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (i = 0; i < 4; i++)
        sip_round(&v0, &v1, &v2, &v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ---------------------------------------------------------------------------- */

int posture_ratelimit_new(const struct posture_ratelimit_opts *opts, struct posture_ratelimit **ret)
{
    struct posture_ratelimit *rl;
    uint8_t key[16];
    size_t n_sets = 1;

    if (!opts || !ret || !(opts->rate_per_sec > 0) || !isfinite(opts->rate_per_sec) ||
        opts->burst < 1 || opts->max_keys < 1 || opts->max_keys > POSTURE_RATELIMIT_KEYS_MAX)
        return -EINVAL;
    while (n_sets * POSTURE_RATELIMIT_WAYS < opts->max_keys)
        n_sets *= 2;
    if (RAND_bytes(key, (int) sizeof(key)) != 1) {
        ERR_clear_error();
        return -EIO;
    }
    rl = calloc(1, sizeof(*rl) + n_sets * POSTURE_RATELIMIT_WAYS * sizeof(struct rl_entry));
    if (!rl)
        return -ENOMEM;
    if (pthread_mutex_init(&rl->lock, NULL) != 0) {
        free(rl);
        return -ENOMEM;
    }
    rl->rate = opts->rate_per_sec;
    rl->burst = (double) opts->burst;
    rl->n_sets = n_sets;
    rl->k0 = load_le64(key);
    rl->k1 = load_le64(key + 8);
    *ret = rl;
    return 0;
}

struct posture_ratelimit *posture_ratelimit_free(struct posture_ratelimit *rl)
{
    if (!rl)
        return NULL;
    (void) pthread_mutex_destroy(&rl->lock);
    free(rl);
    return NULL;
}

/* Tokens of e at now (not stored). */
static double refilled(const struct posture_ratelimit *rl, const struct rl_entry *e, uint64_t now)
{
    double t = e->tokens;

    if (now > e->last_usec)
        t += (double) (now - e->last_usec) / 1e6 * rl->rate;
    return t > rl->burst ? rl->burst : t;
}

/* The entry of key, created (with a full bucket) when it is not there. Under the lock. */
static struct rl_entry *lookup(struct posture_ratelimit *rl, const char *key, uint64_t now)
{
    char k[POSTURE_RATELIMIT_KEY_MAX];
    size_t len = strnlen(key, sizeof(k) - 1);
    struct rl_entry *set, *victim = NULL;
    double most = -1.0;

    memcpy(k, key, len);
    k[len] = '\0';
    set = rl->entries + (siphash24(rl->k0, rl->k1, (const uint8_t *) k, len) & (rl->n_sets - 1)) *
                            POSTURE_RATELIMIT_WAYS;
    for (size_t i = 0; i < POSTURE_RATELIMIT_WAYS; i++) {
        struct rl_entry *e = &set[i];
        double t;

        if (!e->used) {
            if (!victim || victim->used)
                victim = e;
            most = rl->burst + 1.0;
            continue;
        }
        if (strcmp(e->key, k) == 0)
            return e;
        t = refilled(rl, e, now);
        if (t > most || (t == most && victim && victim->used && e->last_usec < victim->last_usec)) {
            most = t;
            victim = e;
        }
    }
    if (!victim->used)
        rl->n_used++;
    victim->used = true;
    memcpy(victim->key, k, len + 1);
    victim->tokens = rl->burst;
    victim->last_usec = now;
    return victim;
}

static bool take_or_check(struct posture_ratelimit *rl,
                          const char *key,
                          uint64_t now,
                          bool take,
                          uint32_t *ret_retry_after)
{
    struct rl_entry *e;
    bool ok;
    double t;

    if (!rl)
        return true;
    if (!key)
        key = "";
    (void) pthread_mutex_lock(&rl->lock);
    e = lookup(rl, key, now);
    t = refilled(rl, e, now);
    if (now > e->last_usec)
        e->last_usec = now;
    e->tokens = t;
    ok = t >= 1.0;
    if (ok && take)
        e->tokens = t - 1.0;
    (void) pthread_mutex_unlock(&rl->lock);
    if (!ok && ret_retry_after) {
        /* whole seconds, rounded up (no libm) */
        double wait = (1.0 - t) / rl->rate;
        uint32_t w = wait > 86400.0 ? 86400 : (uint32_t) wait;
        if ((double) w < wait && w < 86400)
            w++;
        *ret_retry_after = w < 1 ? 1 : w;
    }
    return ok;
}

bool posture_ratelimit_take(struct posture_ratelimit *rl,
                            const char *key,
                            uint64_t now_usec,
                            uint32_t *ret_retry_after)
{
    return take_or_check(rl, key, now_usec, true, ret_retry_after);
}

bool posture_ratelimit_check(struct posture_ratelimit *rl,
                             const char *key,
                             uint64_t now_usec,
                             uint32_t *ret_retry_after)
{
    return take_or_check(rl, key, now_usec, false, ret_retry_after);
}

size_t posture_ratelimit_size(struct posture_ratelimit *rl)
{
    size_t n;

    if (!rl)
        return 0;
    (void) pthread_mutex_lock(&rl->lock);
    n = rl->n_used;
    (void) pthread_mutex_unlock(&rl->lock);
    return n;
}

void posture_ratelimit_client_key(const char *peer, char buf[static POSTURE_RATELIMIT_KEY_MAX])
{
    struct in6_addr a6;
    struct in_addr a4;

    buf[0] = '\0';
    if (!peer)
        return;
    if (inet_pton(AF_INET6, peer, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            memcpy(&a4, &a6.s6_addr[12], 4);
            if (inet_ntop(AF_INET, &a4, buf, POSTURE_RATELIMIT_KEY_MAX))
                return;
        } else {
            memset(&a6.s6_addr[8], 0, 8);
            if (inet_ntop(AF_INET6, &a6, buf, POSTURE_RATELIMIT_KEY_MAX - 4)) {
                size_t n = strlen(buf);
                memcpy(buf + n, "/64", 4);
                return;
            }
        }
    }
    (void) snprintf(buf, POSTURE_RATELIMIT_KEY_MAX, "%s", peer);
}
