/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Inside the store: the table of operations a backend implements (SQLite now, PostgreSQL
 * later). store.c validates every argument, reads the clock, draws random bytes and hashes
 * secrets before it calls a backend, so a backend only stores and compares: it gets hashes,
 * never tokens, nonces or secrets, and it gets `now` as an argument. Each operation must be
 * atomic on its own (one transaction), and return the errno codes documented in store.h.
 */

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct posture_store_ops {
    const char *scheme; /* "sqlite" */
    int (*open)(struct posture_store *s, const char *location);
    void (*close)(struct posture_store *s);
    int (*schema_version)(struct posture_store *s);
    int (*purge_expired)(struct posture_store *s, uint64_t now);

    int (*token_create)(struct posture_store *s,
                        const uint8_t hash[static POSTURE_STORE_DIGEST_SIZE],
                        const char *label,
                        uint64_t now,
                        uint64_t expires_at,
                        int64_t *ret_id);
    int (*token_consume)(struct posture_store *s,
                         const uint8_t hash[static POSTURE_STORE_DIGEST_SIZE],
                         uint64_t now,
                         int64_t *ret_id);
    int (*token_foreach)(struct posture_store *s, posture_store_token_fn fn, void *userdata);
    int (*token_revoke)(struct posture_store *s, int64_t id);

    int (*device_insert)(struct posture_store *s,
                         const struct posture_store_device *d,
                         uint64_t now);
    int (*device_get)(struct posture_store *s,
                      const char *id,
                      const uint8_t *ak_name,
                      size_t ak_name_len,
                      struct posture_store_device *ret);
    int (*device_revoke)(struct posture_store *s, const char *id, uint64_t now);
    int (*device_foreach)(struct posture_store *s, posture_store_device_fn fn, void *userdata);

    int (*activation_create)(struct posture_store *s,
                             const struct posture_store_activation *a,
                             uint64_t now);
    int (*activation_take)(struct posture_store *s,
                           const char *device_id,
                           uint64_t now,
                           struct posture_store_activation *ret);

    int (*nonce_issue)(struct posture_store *s,
                       const uint8_t hash[static POSTURE_STORE_DIGEST_SIZE],
                       const char *device_id,
                       uint64_t now,
                       uint64_t expires_at);
    int (*nonce_consume)(struct posture_store *s,
                         const uint8_t hash[static POSTURE_STORE_DIGEST_SIZE],
                         const char *device_id,
                         uint64_t now);

    /* info NULL: no clock update; else compare-and-set as clockinfo_update, same transaction */
    int (*appraisal_record)(struct posture_store *s,
                            const struct posture_store_appraisal *a,
                            const struct posture_store_clockinfo *expected,
                            const struct posture_store_clockinfo *info,
                            uint64_t now);
    int (*appraisal_latest)(struct posture_store *s,
                            const char *device_id,
                            struct posture_store_appraisal *ret);
    int (*appraisal_foreach_latest)(struct posture_store *s,
                                    posture_store_appraisal_fn fn,
                                    void *userdata);
    int (*appraisal_prune)(struct posture_store *s, uint64_t received_before);
    int (*clockinfo_get)(struct posture_store *s,
                         const char *device_id,
                         struct posture_store_clockinfo *ret);
    int (*clockinfo_update)(struct posture_store *s,
                            const char *device_id,
                            const struct posture_store_clockinfo *expected,
                            const struct posture_store_clockinfo *info,
                            uint64_t now);

    /* entries are validated, subject and detail never NULL; rows get seq last+1, last+2, ... */
    int (*audit_append)(struct posture_store *s,
                        const struct posture_store_audit_entry *entries,
                        size_t n,
                        uint64_t now,
                        uint64_t *ret_last_seq);
    int (*audit_verify)(struct posture_store *s, struct posture_store_audit_result *ret);

    int (*device_foreach_revoked_since)(struct posture_store *s,
                                        uint64_t since,
                                        posture_store_revoked_fn fn,
                                        void *userdata);

    /* sub validated: 1..POSTURE_STORE_POLICIES_MAX appraisals of one (device, seq) */
    int (*submission_record)(struct posture_store *s,
                             const struct posture_store_submission *sub,
                             uint64_t now);
    int (*appraisal_foreach_latest_policies)(struct posture_store *s,
                                             posture_store_appraisal_fn fn,
                                             void *userdata);
};

struct posture_store {
    const struct posture_store_ops *ops;
    struct posture_store_options opts; /* defaults filled in */
    void *backend;                     /* the backend's state */
};

extern const struct posture_store_ops posture_store_sqlite_ops;

/* One row of the audit log as the chain hashes it. */
struct posture_store_audit_row {
    uint64_t seq;
    uint64_t at;
    const char *kind;
    const char *subject;
    const char *detail;
};

/*
 * ret_hash = SHA-256(prev_hash ‖ u64be(seq) ‖ u64be(at) ‖ u32be(|kind|) ‖ kind
 *                    ‖ u32be(|subject|) ‖ subject ‖ u32be(|detail|) ‖ detail)
 * Shared by every backend so that the chain does not depend on the database. -EIO on an
 * OpenSSL failure.
 */
int posture_store_audit_hash(const uint8_t prev_hash[static POSTURE_STORE_DIGEST_SIZE],
                             const struct posture_store_audit_row *row,
                             uint8_t ret_hash[static POSTURE_STORE_DIGEST_SIZE]);
