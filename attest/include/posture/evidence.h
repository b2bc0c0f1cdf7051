/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The TPM evidence object (ATTESTATION.md §5.1, DESIGN.md §7): what travels beside the signed
 * report, and its verification (ATTESTATION.md §5.4 steps 3-14 without policy). Pure: OpenSSL,
 * tss2-mu and cJSON; used by the agent (to write it) and the verifier (to read and verify it).
 *
 * JSON form, every member checked strictly on input (unknown members are refused, so a field
 * cannot be smuggled past an older verifier):
 *
 *   { "v": 1,
 *     "bank": "sha256",
 *     "pcr_select": [0,1,2,3,4,5,6,7],        ascending, unique, 0..23, not empty
 *     "attest": "<b64url TPMS_ATTEST>",       what the AK signed, marshalled
 *     "sig": "<b64url TPMT_SIGNATURE>",
 *     "pcrs": {"0": "<hex>", ...},            exactly the selected PCRs, 64 lower-case hex
 *     "ak_name": "<hex 000b...>",             the AK's name, 34 bytes
 *     "ak_pub": "<b64url TPM2B_PUBLIC>",      optional: the AK, compared with the enrolled one
 *     "ek_cert": "<b64url DER>",              optional: the EK certificate (enrolment)
 *     "event_log": "<b64url>",                optional: binary_bios_measurements
 *     "event_log_sha256": "<hex>" }           required with event_log, SHA-256 of its bytes
 *
 * Binary members are base64url without padding, as in JOSE (RFC 7515 §2), decoded strictly
 * (one encoding per byte string); digests are lower-case hex.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posture/cleanup.h"
#include "posture/eventlog.h"
#include "posture/json.h"
#include "posture/quote.h"

#define POSTURE_EVIDENCE_VERSION     1
#define POSTURE_EVIDENCE_MAX_SIZE    ((size_t) 2 * 1024 * 1024) /* JSON text, as the §5.4 body */
#define POSTURE_EVIDENCE_EK_CERT_MAX ((size_t) 4096)

struct posture_evidence {
    uint32_t pcr_mask; /* pcr_select as bits, SHA-256 bank */
    uint8_t *attest;
    size_t attest_len;
    uint8_t *signature;
    size_t signature_len;
    struct posture_quote_pcr pcrs[POSTURE_QUOTE_PCR_MAX]; /* index order */
    size_t n_pcrs;
    uint8_t ak_name[POSTURE_QUOTE_NAME_SIZE];
    uint8_t *ak_public; /* NULL when absent */
    size_t ak_public_len;
    uint8_t *ek_cert; /* DER; NULL when absent */
    size_t ek_cert_len;
    uint8_t *event_log; /* NULL when absent */
    size_t event_log_len;
};

struct posture_evidence *posture_evidence_free(struct posture_evidence *e);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_evidence *, posture_evidence_free)
#define posture_auto_evidence POSTURE_CLEANUP(posture_evidence_freep)

/* The JSON object of e (a new cJSON; the caller frees it). -EINVAL when e is incomplete
 * (no attest/signature, n_pcrs not matching pcr_mask), -ENOMEM. */
int posture_evidence_to_json(const struct posture_evidence *e, cJSON **ret);

/*
 * Read an evidence object. Every member is checked (see the top of this file); on -EBADMSG
 * *ret_why, when not NULL, names the member and the problem ("pcrs: PCR 3 is missing") in a
 * static string or one valid until the next call in this thread. Errors: -EBADMSG, -ENOMEM.
 */
int posture_evidence_from_json(const cJSON *obj,
                               struct posture_evidence **ret,
                               const char **ret_why);

/* The same from JSON text of len bytes (bounded by POSTURE_EVIDENCE_MAX_SIZE: -E2BIG). */
int posture_evidence_parse(const char *buf,
                           size_t len,
                           struct posture_evidence **ret,
                           const char **ret_why);

/* Where verification stopped: the first step of ATTESTATION.md §5.4 that failed. */
enum posture_evidence_step {
    POSTURE_EVIDENCE_STEP_OK = 0,
    POSTURE_EVIDENCE_STEP_AK,       /* step 3: the evidence names another AK than the enrolled */
    POSTURE_EVIDENCE_STEP_QUOTE,    /* steps 4-10: see quote_reason */
    POSTURE_EVIDENCE_STEP_EVENTLOG, /* step 11/13: the log was refused, see eventlog_problem */
    POSTURE_EVIDENCE_STEP_REPLAY,   /* step 12: the log does not replay to the quoted PCRs */
};

/* What the verifier expects; pointers borrowed. */
struct posture_evidence_expect {
    const uint8_t *nonce; /* the raw bytes of the nonce the verifier issued */
    size_t nonce_len;
    const uint8_t *payload; /* the report bytes exactly as received (decoded JWS payload) */
    size_t payload_len;
    uint32_t pcr_mask;                          /* the policy's selection (nonzero) */
    const struct posture_quote_clock *previous; /* last accepted clockInfo or NULL */
};

struct posture_evidence_verdict {
    enum posture_evidence_step step;
    enum posture_quote_reason quote_reason; /* the quote's reason (OK unless step is QUOTE or
                                               REPLAY) */
    struct posture_eventlog_problem eventlog_problem; /* step EVENTLOG */
    struct posture_quote_info info;                   /* valid once the quote is accepted */
    /* Set when the evidence was accepted and carried an event log: the parsed log and its
     * Secure Boot facts (owned; posture_evidence_verdict_done() frees them). Without a log
     * both are NULL and only PCR-value policies apply (§5.4 step 14). */
    struct posture_eventlog *log;
    struct posture_eventlog_secure_boot *secure_boot;
};

void posture_evidence_verdict_done(struct posture_evidence_verdict *v);

/*
 * ATTESTATION.md §5.4 steps 3-13 on evidence already read: the evidence's ak_name (and ak_pub
 * when present) must be the enrolled AK's; the quote is verified with the binding recomputed
 * from expect->nonce and expect->payload (posture_quote_binding()); then the event log, when
 * present, is parsed, its SHA-256 replay compared with the quoted PCRs of expect->pcr_mask,
 * and the Secure Boot rules applied.
 * Returns 0 with *ret filled (ret->step says whether and where it failed; free with
 * posture_evidence_verdict_done() in either case), or -EINVAL/-ENOMEM/-EIO when no verdict
 * could be reached (then *ret is untouched).
 */
int posture_evidence_verify(const struct posture_quote_ak *ak,
                            const struct posture_evidence *e,
                            const struct posture_evidence_expect *expect,
                            struct posture_evidence_verdict *ret);

/* The verdict as one stable reason string: "ok", "evidence-ak-mismatch", the quote's reason
 * ("quote-signature-invalid", "quote-pcr-replay-mismatch") or "eventlog-<reason>"
 * ("eventlog-truncated"). buf holds at least POSTURE_EVIDENCE_REASON_MAX bytes. */
#define POSTURE_EVIDENCE_REASON_MAX 64
const char *posture_evidence_verdict_reason(const struct posture_evidence_verdict *v,
                                            char buf[static POSTURE_EVIDENCE_REASON_MAX]);
