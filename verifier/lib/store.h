/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The verifier's store (DESIGN.md §8, §9; ATTESTATION.md §5.2, §5.4 steps 1-3): enrolment
 * tokens, devices, pending activations, nonces, appraisals, TPM clock state and the audit log.
 *
 * Every piece of state that two verifier nodes must agree on lives here, including nonces, so
 * nothing above this interface may keep such state in memory only. The rules that make
 * concurrent requests safe (single use, uniqueness of AK and EK, de-duplication by (device,
 * seq)) are enforced inside the store, atomically, not by check-then-act in the caller.
 *
 * Conventions: every function returns 0 (or a count) on success and a negative errno on
 * failure; ret_ parameters are written on success only. Codes that carry meaning are listed per
 * function. Besides those, any function may return -ENOMEM, -EBUSY (the database stayed locked
 * for the whole busy timeout), -EIO, -ENOSPC, -EROFS or -EBADMSG (the database is corrupt).
 * Backend codes (SQLITE_*) never cross this interface; they are logged at debug level.
 *
 * A store object is thread-safe: any number of threads may call into it at once (the SQLite
 * backend keeps a pool of connections, see docs/verifier-store.md). Callbacks of the _foreach
 * functions run while a connection is held; they must not call into the same store.
 *
 * Times are microseconds since the Unix epoch (CLOCK_REALTIME), read from the clock function
 * given at open, so that tests control expiry without sleeping.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct posture_store;
struct posture_store_clockinfo;

#define POSTURE_STORE_DIGEST_SIZE 32 /* SHA-256 */
#define POSTURE_STORE_TOKEN_SIZE  32 /* random bytes of an enrolment token */
#define POSTURE_STORE_NONCE_SIZE  32 /* random bytes of a nonce */

#define POSTURE_STORE_DEVICE_ID_MAX    128   /* kid: printable ASCII, no spaces */
#define POSTURE_STORE_LABEL_MAX        256   /* token label, UTF-8 text without controls */
#define POSTURE_STORE_JWK_MAX          4096  /* device JWK (JSON text) */
#define POSTURE_STORE_AK_PUBLIC_MAX    1024  /* marshalled TPM2B_PUBLIC of the AK */
#define POSTURE_STORE_AK_NAME_MAX      66    /* nameAlg (2) + digest (≤ 64) */
#define POSTURE_STORE_NONCE0_MAX       64    /* nonce of the first evidence after activation */
#define POSTURE_STORE_PAYLOAD_MAX      65536 /* opaque enrolment state of a pending activation */
#define POSTURE_STORE_EAR_MAX          16384 /* EAR (compact JWT) */
#define POSTURE_STORE_POLICY_ID_MAX    128
#define POSTURE_STORE_POLICY_VER_MAX   64
#define POSTURE_STORE_REASON_MAX       1024
#define POSTURE_STORE_AUDIT_KIND_MAX   64
#define POSTURE_STORE_AUDIT_DETAIL_MAX 16384

#define POSTURE_STORE_NONCES_PER_DEVICE 16

#define POSTURE_STORE_USEC_PER_SEC       UINT64_C(1000000)
#define POSTURE_STORE_NONCE_TTL_MAX      (UINT64_C(120) * POSTURE_STORE_USEC_PER_SEC)
#define POSTURE_STORE_ACTIVATION_TTL_MAX (UINT64_C(300) * POSTURE_STORE_USEC_PER_SEC)
#define POSTURE_STORE_TOKEN_TTL_MAX      (UINT64_C(366) * 24 * 3600 * POSTURE_STORE_USEC_PER_SEC)

/* ---- opening ---------------------------------------------------------------------------- */

/* Current time in microseconds since the epoch. */
typedef uint64_t (*posture_store_clock_fn)(void *userdata);

struct posture_store_options {
    posture_store_clock_fn clock; /* NULL: clock_gettime(CLOCK_REALTIME) */
    void *clock_userdata;
    unsigned pool_size;       /* connections (≈ server threads); 0: 8, at most 64 */
    unsigned busy_timeout_ms; /* wait for another writer; 0: 5000 */
    bool synchronous_full;    /* fsync the WAL on every commit (see docs/verifier-store.md) */
};

/*
 * Open (creating when missing) the store named by url:
 *     "sqlite:/var/lib/posture-verifier/store.db"  or a plain path.
 * A new database file is created with mode 0600 (an existing one is tightened to 0600); the
 * schema is created or migrated to the current version. opts may be NULL for the defaults.
 * Returns -EINVAL for a malformed url or options, -EOPNOTSUPP for a scheme this build does not
 * have ("postgresql:"), -EBADMSG when the file is not a posture store or is corrupt,
 * -EPROTONOSUPPORT when its schema is newer than this program, and -ENOENT/-EACCES/... when the
 * file cannot be opened or created.
 */
int posture_store_open(const char *url,
                       const struct posture_store_options *opts,
                       struct posture_store **ret_store);
/* Close every connection and free. NULL-safe; returns NULL. */
struct posture_store *posture_store_free(struct posture_store *s);
/* Schema version of the open database (for diagnostics). */
int posture_store_schema_version(struct posture_store *s);
/* The current time as the store sees it (its clock). */
uint64_t posture_store_now(struct posture_store *s);

/* Delete expired nonces and pending activations (used and unused). Returns the number of rows
 * deleted. Issuing a nonce also purges a bounded batch, so the tables stay small even when no
 * one calls this. */
int posture_store_purge_expired(struct posture_store *s);

/* ---- enrolment tokens ------------------------------------------------------------------- */

struct posture_store_token {
    int64_t id;
    char label[POSTURE_STORE_LABEL_MAX + 1]; /* "" when none */
    uint64_t created_at;
    uint64_t expires_at;
    uint64_t used_at; /* 0: not used */
};

/*
 * Create a one-time token valid for ttl_usec (1 µs .. POSTURE_STORE_TOKEN_TTL_MAX). The token is
 * POSTURE_STORE_TOKEN_SIZE random bytes from RAND_bytes, written to ret_token and never stored:
 * the store keeps SHA-256(token) only. label may be NULL. ret_id (optional) gets the row id
 * used by _revoke. The caller encodes the token for people (base64url) and wipes it.
 */
int posture_store_token_create(struct posture_store *s,
                               uint64_t ttl_usec,
                               const char *label,
                               uint8_t ret_token[static POSTURE_STORE_TOKEN_SIZE],
                               int64_t *ret_id);
/*
 * Use a token, once, atomically: of any number of concurrent calls with the same token at most
 * one returns 0. -ENOENT unknown (or revoked), -ESTALE expired, -EALREADY already used.
 * ret_id (optional) gets the token's id.
 */
int posture_store_token_consume(struct posture_store *s,
                                const uint8_t *token,
                                size_t token_len,
                                int64_t *ret_id);
/* Call fn for every token (oldest first). A negative return of fn stops the walk and is
 * returned. Returns the number of tokens visited. */
typedef int (*posture_store_token_fn)(const struct posture_store_token *t, void *userdata);
int posture_store_token_foreach(struct posture_store *s, posture_store_token_fn fn, void *userdata);
/* Delete a token so that it can no longer be used. -ENOENT when there is no such id. */
int posture_store_token_revoke(struct posture_store *s, int64_t id);

/* ---- devices ---------------------------------------------------------------------------- */

enum posture_store_tier {
    POSTURE_STORE_TIER_SOFTWARE,
    POSTURE_STORE_TIER_HARDWARE,
    POSTURE_STORE_TIER__MAX,
    POSTURE_STORE_TIER__INVALID = -EINVAL,
};

enum posture_store_device_status {
    POSTURE_STORE_DEVICE_ACTIVE,
    POSTURE_STORE_DEVICE_REVOKED,
    POSTURE_STORE_DEVICE_STATUS__MAX,
    POSTURE_STORE_DEVICE_STATUS__INVALID = -EINVAL,
};

const char *posture_store_tier_to_string(enum posture_store_tier t);
enum posture_store_tier posture_store_tier_from_string(const char *s);
const char *posture_store_device_status_to_string(enum posture_store_device_status st);

struct posture_store_device {
    char id[POSTURE_STORE_DEVICE_ID_MAX + 1]; /* kid */
    enum posture_store_tier tier;
    enum posture_store_device_status status;
    char *jwk; /* JSON text, NUL-terminated */
    /* TPM identity; all absent (NULL / 0 / false) for the software tier. */
    uint8_t *ak_public;
    size_t ak_public_len;
    uint8_t ak_name[POSTURE_STORE_AK_NAME_MAX];
    size_t ak_name_len;
    bool has_ek_cert_sha256;
    uint8_t ek_cert_sha256[POSTURE_STORE_DIGEST_SIZE];
    bool has_ek_public_sha256;
    uint8_t ek_public_sha256[POSTURE_STORE_DIGEST_SIZE];
    uint64_t created_at; /* set by the store on insert */
    uint64_t revoked_at; /* 0 while active */
};

/* Free the members of a device filled by the store (not the struct). */
void posture_store_device_done(struct posture_store_device *d);

/*
 * Enrol a device (status active, created_at = now; those two fields of d are ignored).
 * Identity immutability (ATTESTATION.md §5.2 step 7), checked and written in one transaction so
 * two concurrent enrolments cannot both win:
 *   -EEXIST      a non-revoked device with this id exists (re-enrolment needs a revoke first);
 *   -EADDRINUSE  the AK name, the EK public or the EK certificate belongs to another
 *                non-revoked device.
 * A revoked device with the same id is replaced, with its appraisals and clock state (the
 * audit log keeps the history). -EINVAL for a bad id, a missing JWK or a hardware device
 * without an AK.
 */
int posture_store_device_insert(struct posture_store *s, const struct posture_store_device *d);
/* Look a device up (any status). -ENOENT when unknown. The caller calls _device_done(). */
int posture_store_device_get(struct posture_store *s,
                             const char *id,
                             struct posture_store_device *ret_device);
/* Look up the non-revoked device with this AK name. -ENOENT when none. */
int posture_store_device_get_by_ak_name(struct posture_store *s,
                                        const uint8_t *ak_name,
                                        size_t ak_name_len,
                                        struct posture_store_device *ret_device);
/* Revoke an active device. -ENOENT unknown, -EALREADY already revoked. */
int posture_store_device_revoke(struct posture_store *s, const char *id);
/* Call fn for every device (by id). The device is borrowed for the call. Returns the count or
 * fn's negative return. */
typedef int (*posture_store_device_fn)(const struct posture_store_device *d, void *userdata);
int posture_store_device_foreach(struct posture_store *s,
                                 posture_store_device_fn fn,
                                 void *userdata);

/* ---- pending activations (ATTESTATION.md §5.2 step 5) --------------------------------- */

struct posture_store_activation {
    char device_id[POSTURE_STORE_DEVICE_ID_MAX + 1];
    uint8_t secret_sha256[POSTURE_STORE_DIGEST_SIZE];
    uint8_t nonce0[POSTURE_STORE_NONCE0_MAX];
    size_t nonce0_len;
    uint8_t *payload; /* opaque enrolment state kept for the activation; may be NULL */
    size_t payload_len;
    uint64_t expires_at;
};

void posture_store_activation_done(struct posture_store_activation *a);

/*
 * Remember a credential challenge for device_id: SHA-256 of the secret, nonce0 and an opaque
 * payload (≤ POSTURE_STORE_PAYLOAD_MAX, may be NULL/0), expiring after ttl_usec (≤ 5 min).
 * -EEXIST when an unexpired activation is pending for the device (an expired one is replaced).
 */
int posture_store_activation_create(struct posture_store *s,
                                    const char *device_id,
                                    const uint8_t secret_sha256[static POSTURE_STORE_DIGEST_SIZE],
                                    const uint8_t *nonce0,
                                    size_t nonce0_len,
                                    const void *payload,
                                    size_t payload_len,
                                    uint64_t ttl_usec);
/*
 * Take the pending activation of device_id: it is deleted whatever happens next (one attempt),
 * and of concurrent calls at most one gets it. -ENOENT none, -ESTALE it had expired (and is
 * deleted too). The caller compares H(proof) with secret_sha256 using CRYPTO_memcmp and calls
 * _activation_done().
 */
int posture_store_activation_take(struct posture_store *s,
                                  const char *device_id,
                                  struct posture_store_activation *ret_activation);

/* ---- nonces (ATTESTATION.md §5.4 step 2) ---------------------------------------------- */

/*
 * Issue a nonce bound to device_id, valid for ttl_usec (≤ POSTURE_STORE_NONCE_TTL_MAX): 32 bytes
 * from RAND_bytes written to ret_nonce. The store keeps SHA-256(nonce) only (see
 * docs/verifier-store.md). A device holds at most POSTURE_STORE_NONCES_PER_DEVICE nonces: the
 * oldest go when it asks for more, so a device that loops on /v1/challenge neither grows the
 * table nor locks itself out. -ENOENT unknown device, -EIO when the CSPRNG fails.
 */
int posture_store_nonce_issue(struct posture_store *s,
                              const char *device_id,
                              uint64_t ttl_usec,
                              uint8_t ret_nonce[static POSTURE_STORE_NONCE_SIZE]);
/*
 * Consume a nonce presented by device_id, once, atomically (call before any expensive work).
 * -ENOENT unknown (never issued, or purged), -EPERM issued to another device (the nonce stays
 * usable by its device), -EALREADY used, -ESTALE expired. Of concurrent calls at most one
 * returns 0.
 */
int posture_store_nonce_consume(struct posture_store *s,
                                const char *device_id,
                                const uint8_t *nonce,
                                size_t nonce_len);

/* ---- appraisals and TPM clock state -------------------------------------------------- */

/* ear.status of the attestation result (GATEWAYS.md §4.5). */
enum posture_store_verdict {
    POSTURE_STORE_VERDICT_NONE,
    POSTURE_STORE_VERDICT_AFFIRMING,
    POSTURE_STORE_VERDICT_WARNING,
    POSTURE_STORE_VERDICT_CONTRAINDICATED,
    POSTURE_STORE_VERDICT__MAX,
    POSTURE_STORE_VERDICT__INVALID = -EINVAL,
};

const char *posture_store_verdict_to_string(enum posture_store_verdict v);
enum posture_store_verdict posture_store_verdict_from_string(const char *s);

struct posture_store_appraisal {
    char device_id[POSTURE_STORE_DEVICE_ID_MAX + 1];
    uint64_t seq;         /* the report's seq (≤ INT64_MAX) */
    uint64_t received_at; /* when the submission arrived */
    enum posture_store_verdict verdict;
    const char *ear; /* compact JWT; borrowed on record, owned after _latest */
    char policy_id[POSTURE_STORE_POLICY_ID_MAX + 1];
    char policy_version[POSTURE_STORE_POLICY_VER_MAX + 1];
    uint8_t policy_digest[POSTURE_STORE_DIGEST_SIZE];
    char reason[POSTURE_STORE_REASON_MAX + 1]; /* short summary; "" when none */
};

/* Free the EAR of an appraisal filled by _appraisal_latest. */
void posture_store_appraisal_done(struct posture_store_appraisal *a);

/* Record an appraisal. -EEXIST when (device_id, seq) is already recorded (a replayed or
 * re-sent report) or seq is at or below what _prune deleted, -ENOENT when the device is
 * unknown. */
int posture_store_appraisal_record(struct posture_store *s,
                                   const struct posture_store_appraisal *a);
/*
 * Record an accepted appraisal and move the device's clock state from *expected to *info (as
 * posture_store_clockinfo_update) in one transaction: either both happen or neither. -ESTALE
 * when the clock state is no longer *expected (another node appraised a quote meanwhile;
 * nothing is recorded), else the codes of _record.
 */
int posture_store_appraisal_record_with_clock(struct posture_store *s,
                                              const struct posture_store_appraisal *a,
                                              const struct posture_store_clockinfo *expected,
                                              const struct posture_store_clockinfo *info);
/* The latest appraisal of a device: the one with the highest seq, which is not always the last
 * received (a report spooled during an outage arrives after newer ones). -ENOENT when there is
 * none. */
int posture_store_appraisal_latest(struct posture_store *s,
                                   const char *device_id,
                                   struct posture_store_appraisal *ret_appraisal);
/* Call fn with the latest appraisal of every active device that has one (by device id), e.g. to
 * fill the in-memory decision view at start. The appraisal is borrowed for the call. Returns the
 * count or fn's negative return. */
typedef int (*posture_store_appraisal_fn)(const struct posture_store_appraisal *a, void *userdata);
int posture_store_appraisal_foreach_latest(struct posture_store *s,
                                           posture_store_appraisal_fn fn,
                                           void *userdata);
/*
 * Retention: delete the appraisals received before received_before, except the latest of each
 * device. De-duplication survives the delete: each device remembers the highest seq deleted, and
 * _record answers -EEXIST for a seq at or below it. Returns the number of rows deleted.
 */
int posture_store_appraisal_prune(struct posture_store *s, uint64_t received_before);

/* clockInfo of the last accepted quote (TPMS_CLOCK_INFO). */
struct posture_store_clockinfo {
    uint64_t clock;
    uint32_t reset_count;
    uint32_t restart_count;
};

/* -ENOENT when nothing is stored for the device. */
int posture_store_clockinfo_get(struct posture_store *s,
                                const char *device_id,
                                struct posture_store_clockinfo *ret_info);
/*
 * Store info as the device's clock state. When expected is non-NULL the update happens only if
 * the stored state still equals *expected (compare-and-set: another node may have appraised a
 * newer quote meanwhile) and -ESTALE is returned otherwise; expected NULL means "nothing stored
 * yet" (-ESTALE when something is). -ENOENT unknown device.
 */
int posture_store_clockinfo_update(struct posture_store *s,
                                   const char *device_id,
                                   const struct posture_store_clockinfo *expected,
                                   const struct posture_store_clockinfo *info);

/* ---- audit log -------------------------------------------------------------------------- */

/*
 * Append a row: kind (e.g. "enroll", "revoke", "decision"; [a-z0-9._-], ≤ 64), subject (device
 * id or "" ), detail (JSON or text, ≤ 16 KiB). The row's hash is
 *     SHA-256(prev_hash ‖ canonical row bytes)
 * with prev_hash the previous row's hash (32 zero bytes for the first row); the canonical bytes
 * are documented in docs/verifier-store.md. ret_seq (optional) gets the row's sequence number
 * (1, 2, ...).
 */
int posture_store_audit_append(struct posture_store *s,
                               const char *kind,
                               const char *subject,
                               const char *detail,
                               uint64_t *ret_seq);

struct posture_store_audit_entry {
    const char *kind;
    const char *subject; /* NULL: "" */
    const char *detail;  /* NULL: "" */
};

#define POSTURE_STORE_AUDIT_BATCH_MAX 4096

/*
 * Append n (1..POSTURE_STORE_AUDIT_BATCH_MAX) rows in one transaction, all or none, all with
 * the same time: the way to log decisions at a high rate (buffer them, append every ~100 ms).
 * Same rules per row as _append. ret_last_seq (optional) gets the seq of the last row.
 */
int posture_store_audit_append_many(struct posture_store *s,
                                    const struct posture_store_audit_entry *entries,
                                    size_t n,
                                    uint64_t *ret_last_seq);

struct posture_store_audit_result {
    uint64_t rows;          /* rows checked */
    uint64_t first_bad_seq; /* 0: the chain is intact; else the first row that fails */
    uint8_t head[POSTURE_STORE_DIGEST_SIZE]; /* hash of the last good row (zeros if none) */
};

/*
 * Walk the audit log from the first row and recompute every link: a row fails when its seq is
 * not the previous one plus 1, its prev_hash is not the previous row's hash, or its hash is not
 * SHA-256(prev_hash ‖ canonical bytes). Returns 0 when the walk completed (intact or not: see
 * ret->first_bad_seq). Deleting the newest rows cannot be seen from inside; compare head with
 * a copy kept elsewhere for that.
 */
int posture_store_audit_verify(struct posture_store *s, struct posture_store_audit_result *ret);

/* ---- revocations seen by a running service ---------------------------------------------- */

/*
 * Call fn(device_id, revoked_at) for every device revoked at or after since (µs since the
 * epoch), oldest revocation first: how a running `serve` learns, cheaply and by polling, of a
 * revocation made by another process (`posture-verifier devices revoke`). An index keeps the
 * walk to the rows asked for. A device enrolled again after its revocation is active and is not
 * visited. Returns the number of devices visited or fn's negative return.
 */
typedef int (*posture_store_revoked_fn)(const char *device_id, uint64_t revoked_at, void *userdata);
int posture_store_device_foreach_revoked_since(struct posture_store *s,
                                               uint64_t since,
                                               posture_store_revoked_fn fn,
                                               void *userdata);

/* ---- a whole submission ----------------------------------------------------------------- */

#define POSTURE_STORE_POLICIES_MAX 64 /* appraisals of one submission */

/*
 * What one appraised submission leaves in the store (POST /v1/posture), written in ONE
 * transaction, all or nothing:
 *   appraisals[0]      the main row, the one de-duplication (device, seq), retention and
 *                      _appraisal_latest work on (the default policy's appraisal); same rules
 *                      and codes as _appraisal_record;
 *   appraisals[1..n-1] the other policies' appraisals of the same report (same device_id and
 *                      seq; each policy at most once), kept with the main row and deleted with
 *                      it (retention, re-enrolment), so that every policy's decision survives a
 *                      restart (_appraisal_foreach_latest_policies);
 *   info               (optional) the TPM clock moved from *expected to *info, compare-and-set
 *                      as _appraisal_record_with_clock: -ESTALE and nothing recorded;
 *   audit              (optional) one audit row, chained as _audit_append.
 * The nonce is not part of it: it is consumed first (_nonce_consume), before the expensive
 * work. -EINVAL for appraisals of different devices or seqs, or a policy twice.
 */
struct posture_store_submission {
    const struct posture_store_appraisal *appraisals;
    size_t n_appraisals; /* 1..POSTURE_STORE_POLICIES_MAX */
    const struct posture_store_clockinfo *expected;
    const struct posture_store_clockinfo *info;
    const struct posture_store_audit_entry *audit;
};

int posture_store_submission_record(struct posture_store *s,
                                    const struct posture_store_submission *sub);

/*
 * Like _appraisal_foreach_latest, with every policy's appraisal of each active device's latest
 * submission: fn is called once per (device, policy), the rows of one device one after another,
 * its main row first. The appraisal (and its EAR) is borrowed for the call. Returns the number
 * of rows or fn's negative return.
 */
int posture_store_appraisal_foreach_latest_policies(struct posture_store *s,
                                                    posture_store_appraisal_fn fn,
                                                    void *userdata);
