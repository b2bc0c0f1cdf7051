/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Appraisal (ATTESTATION.md §5.4 steps 15-17, GATEWAYS.md §4.3): a verified report, the device
 * record, the TPM evidence verdict and a policy in; the verdict out. Every check's status is
 * recomputed from its evidence under the policy's rule; the agent's status is recorded beside it
 * and never decides. What the TPM proves (tier, Secure Boot from the replayed event log, PK/db)
 * ranks above what software says (the boot.secure_boot check is configuration, not
 * executables).
 *
 * The result is what the store records, what /v1/authz serves and what the EAR (ear.h) carries.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "posture/cleanup.h"
#include "posture/evidence.h"

#include "policy.h"
#include "store.h"

/* A check's recomputed status (the report's vocabulary, DESIGN.md §6). */
enum posture_appraisal_status {
    POSTURE_APPRAISAL_PASS,
    POSTURE_APPRAISAL_WARN,
    POSTURE_APPRAISAL_FAIL,
    POSTURE_APPRAISAL_NOT_APPLICABLE,
    POSTURE_APPRAISAL_ERROR,
    POSTURE_APPRAISAL_STATUS__MAX,
    POSTURE_APPRAISAL_STATUS__INVALID = -22,
};

const char *posture_appraisal_status_to_string(enum posture_appraisal_status s);
enum posture_appraisal_status posture_appraisal_status_from_string(const char *s);

/* AR4SI trustworthiness claims (GATEWAYS.md §4.3); we make claims on five of them. */
enum posture_tv_claim {
    POSTURE_TV_INSTANCE_IDENTITY,
    POSTURE_TV_CONFIGURATION,
    POSTURE_TV_EXECUTABLES,
    POSTURE_TV_HARDWARE,
    POSTURE_TV_STORAGE_OPAQUE,
    POSTURE_TV__MAX,
};

const char *posture_tv_claim_to_string(enum posture_tv_claim c); /* "instance-identity", ... */

#define POSTURE_TV_NO_CLAIM      0
#define POSTURE_TV_CRYPTO_FAILED 99

#define POSTURE_APPRAISAL_CHECKS_MAX   256 /* checks in one report */
#define POSTURE_APPRAISAL_FINDINGS_MAX 16
#define POSTURE_APPRAISAL_TEXT_MAX     512 /* reason, remediation (longer text is cut) */
#define POSTURE_APPRAISAL_CODE_MAX     48

struct posture_appraisal_check {
    char id[65];
    enum posture_appraisal_status status; /* recomputed */
    char agent_status[16];                /* as reported; "" when the report lacks the check */
    int64_t observed_at;                  /* 0 when the report lacks the check */
    char *reason;                         /* why, in the verifier's words */
    char *remediation;                    /* the rule's text, else the check's; NULL on pass */
    bool required;
    bool report_only;      /* shown, never affects the verdict */
    bool in_grace;         /* failing, counted as a warning until failing_since + grace */
    int64_t failing_since; /* status fail: since when (epoch s); 0 otherwise */
};

/* A device-level finding ("nonce-mismatch", "secure-boot-off", "tier-software", ...). */
struct posture_appraisal_finding {
    char code[POSTURE_APPRAISAL_CODE_MAX];
    char text[256];
};

struct posture_appraisal {
    enum posture_store_verdict status; /* ear.status: no better than the worst vector entry */
    int8_t tv[POSTURE_TV__MAX];
    char device_id[POSTURE_STORE_DEVICE_ID_MAX + 1];
    enum posture_store_tier tier;
    char policy_id[POSTURE_STORE_POLICY_ID_MAX + 1];
    char policy_version[POSTURE_STORE_POLICY_VER_MAX + 1];
    uint8_t policy_digest[32];
    int64_t appraised_at; /* the input's now */
    int64_t iat;          /* the report's; 0 when unknown */
    uint64_t seq;         /* the report's; 0 when absent */
    char *eat_nonce;      /* the report's eat_nonce (copy); NULL when absent */
    int secure_boot;      /* from the TPM event log: 1 on, 0 off, -1 unknown / no TPM evidence */
    struct posture_appraisal_check *checks; /* the policy's checks, in policy order */
    size_t n_checks;
    struct posture_appraisal_finding findings[POSTURE_APPRAISAL_FINDINGS_MAX];
    size_t n_findings;
};

struct posture_appraisal *posture_appraisal_free(struct posture_appraisal *a);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_appraisal *, posture_appraisal_free)
#define posture_auto_appraisal POSTURE_CLEANUP(posture_appraisal_freep)

struct posture_appraise_input {
    /* The report's claims and JOSE header as posture_jws_verify() returned them (borrowed).
     * claims NULL means the report did not verify: jws_reason says why, and the appraisal is
     * contraindicated with instance-identity 99 (or 97 with jws_reason OK: no key to verify
     * with). header may be NULL (then only sub is compared with the device id). */
    const cJSON *claims;
    const cJSON *header;
    int jws_reason;
    /* The claims were read without verifying the signature (offline, no device key): checks
     * are appraised, instance-identity is 97 (unrecognised) and the verdict contraindicated. */
    bool claims_unverified;
    const struct posture_store_device *device; /* required: id (= kid), tier, status */
    /* The TPM evidence verdict (posture_evidence_verify), NULL when none was submitted. */
    const struct posture_evidence_verdict *evidence;
    const char *nonce; /* the nonce issued for this report (base64url); NULL: not checked */
    int64_t now;       /* epoch seconds */
    const struct posture_appraisal *previous; /* the device's last appraisal (grace); NULL */
};

/*
 * Appraise in under policy. Returns 0 with *ret new (posture_appraisal_free()); a report that
 * fails any rule is still a 0 return, with the verdict in (*ret)->status. Errors: -EINVAL
 * (missing policy, input or device), -ENOMEM, -EIO.
 */
int posture_appraise(const struct posture_policy *policy,
                     const struct posture_appraise_input *in,
                     struct posture_appraisal **ret);

/* The SHA-256 digests of the X.509 certificates in an EFI_SIGNATURE_LIST sequence (a PK or db
 * variable's data). Non-X.509 entries are skipped. Returns the number of digests (at most max),
 * -EBADMSG when the lists are malformed, -E2BIG beyond max, -EIO. */
int posture_appraise_esl_x509_sha256(const uint8_t *data,
                                     size_t len,
                                     uint8_t (*ret)[32],
                                     size_t max);

/* The appraisal as JSON (what `posture-verifier verify` prints):
 *   {"ear.status", "ear.trustworthiness-vector": {...}, "device": {id, tier},
 *    "policy": {id, version, digest}, "appraised_at", "iat", "seq", "secure_boot",
 *    "findings": [{code, text}], "checks": [{id, status, agent_status, observed_at, reason,
 *    remediation, required, report_only, in_grace, failing_since}]}
 * The caller frees *ret. -ENOMEM. */
int posture_appraisal_to_json(const struct posture_appraisal *a, cJSON **ret);

/*
 * What the gateway decision and people need in one line each (DESIGN.md §8 403 answers):
 * failed: the ids of the checks that count against the device (status fail or error, or a
 * failure in grace; report_only ones never), then the device-level finding codes, comma-separated
 * ("os.patch_level,disk.encryption,secure-boot-off"); "" when none. remediation: the first such
 * check's remediation, else the first finding's text; "" when none. Both are cut to the buffer
 * (at an item boundary for failed). Returns the number of items in failed.
 */
size_t posture_appraisal_failed(const struct posture_appraisal *a,
                                char *failed,
                                size_t failed_size,
                                char *remediation,
                                size_t remediation_size);

/*
 * The store's record of a (store.h): device id, seq, verdict, the policy's id, version and
 * digest, and reason = the failed list; ear (borrowed, the signed EAR) and received_at are the
 * caller's. -EINVAL.
 */
int posture_appraisal_record(const struct posture_appraisal *a,
                             const char *ear,
                             uint64_t received_at,
                             struct posture_store_appraisal *ret);
