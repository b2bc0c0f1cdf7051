/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Token buckets keyed by a short string (a client address), in a table of fixed size: memory
 * is allocated once by posture_ratelimit_new() and never grows, however many distinct keys a
 * flood brings. The table is set-associative (POSTURE_RATELIMIT_WAYS entries per set, the set
 * chosen by SipHash-2-4 of the key under a random per-table key, so a client cannot aim its
 * addresses at one set). When a set is full, a new key replaces the entry that has the most
 * tokens after refill: the clients being throttled are the last to be forgotten. A forgotten
 * key starts again with a full bucket; the global bucket (a table of one key) bounds the total
 * either way.
 *
 * Thread-safe (one mutex per table). The clock is the caller's (microseconds, monotonic or
 * the store's), so tests step it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posture/cleanup.h"

#define POSTURE_RATELIMIT_WAYS     8
#define POSTURE_RATELIMIT_KEY_MAX  47 /* an IPv6 address in text, and a NUL */
#define POSTURE_RATELIMIT_KEYS_MAX (1u << 20)
#define POSTURE_RATELIMIT_PER_MIN  60.0

struct posture_ratelimit_opts {
    double rate_per_sec; /* refill; > 0 */
    uint32_t burst;      /* bucket size, ≥ 1 */
    uint32_t max_keys;   /* keys remembered at once, 1..POSTURE_RATELIMIT_KEYS_MAX (rounded up
                          * to a power of two times POSTURE_RATELIMIT_WAYS) */
};

struct posture_ratelimit;

/* -EINVAL (a bad option), -ENOMEM. */
int posture_ratelimit_new(const struct posture_ratelimit_opts *opts,
                          struct posture_ratelimit **ret);
struct posture_ratelimit *posture_ratelimit_free(struct posture_ratelimit *rl);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_ratelimit *, posture_ratelimit_free)

/*
 * Take one token from key's bucket at now_usec. true: allowed. false: the bucket is empty, and
 * *ret_retry_after (optional) is the whole seconds (≥ 1) until a token is back. A NULL rl
 * (limit off) allows everything. key is cut at POSTURE_RATELIMIT_KEY_MAX - 1 characters.
 */
bool posture_ratelimit_take(struct posture_ratelimit *rl,
                            const char *key,
                            uint64_t now_usec,
                            uint32_t *ret_retry_after);
/* Like _take, but only looks: true while key's bucket holds at least one token. */
bool posture_ratelimit_check(struct posture_ratelimit *rl,
                             const char *key,
                             uint64_t now_usec,
                             uint32_t *ret_retry_after);
/* The number of keys remembered now (for tests and metrics). */
size_t posture_ratelimit_size(struct posture_ratelimit *rl);

/*
 * The bucket key of a client address in text (posture_http_request_peer()): an IPv4 address as
 * it is, an IPv4-mapped IPv6 address as the IPv4 one, any other IPv6 address as its /64 prefix
 * ("2001:db8:1:2::/64": one host usually owns a whole /64), anything else (e.g. "unix") as
 * it is, cut to fit. buf has POSTURE_RATELIMIT_KEY_MAX bytes.
 */
void posture_ratelimit_client_key(const char *peer, char buf[static POSTURE_RATELIMIT_KEY_MAX]);
