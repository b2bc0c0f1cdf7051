/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * TPM quote verification, the verifier's side (ATTESTATION.md §5.4 steps 4-10, and the hook
 * for the event-log replay of steps 11-13). Pure: OpenSSL and tss2-mu, no ESAPI, no TPM.
 *
 * The TPM structures arrive as their marshalled (big-endian) bytes, exactly as the agent sent
 * them: TPMS_ATTEST (the quoted data, which is what the AK signed), TPMT_SIGNATURE, and at
 * enrolment the AK's TPM2B_PUBLIC. Every structure must unmarshal exactly, with no trailing
 * bytes.
 *
 * Verdicts are not errors: posture_quote_verify() returns 0 when it reached a verdict and
 * stores it in *ret_reason (POSTURE_QUOTE_OK, or the first check that failed, in the order of
 * §5.4); it returns a negative errno only when it could not decide (-EINVAL, -ENOMEM, -EIO).
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define POSTURE_QUOTE_DIGEST_SIZE  32u /* SHA-256: the only bank and hash we accept */
#define POSTURE_QUOTE_BINDING_SIZE 32u
#define POSTURE_QUOTE_NAME_SIZE    34u /* nameAlg (000b) + SHA-256 */
#define POSTURE_QUOTE_PCR_MAX      24u /* PCR indexes 0..23 */
#define POSTURE_QUOTE_NONCE_MAX    64u
#define POSTURE_QUOTE_INPUT_MAX    4096u /* bound on every marshalled structure we are given */

/* The default policy selection: PCR 0-7 of the SHA-256 bank (DESIGN.md §7). */
#define POSTURE_QUOTE_PCR_MASK_DEFAULT 0xffu

/* Why a quote was rejected; one reason per check of ATTESTATION.md §5.4, in its order. */
enum posture_quote_reason {
    POSTURE_QUOTE_OK = 0,                /* "ok" */
    POSTURE_QUOTE_ATTEST_MALFORMED,      /* "quote-attest-malformed": unmarshal, trailing bytes */
    POSTURE_QUOTE_ATTEST_BAD_MAGIC,      /* "quote-attest-magic-invalid": not TPM_GENERATED */
    POSTURE_QUOTE_ATTEST_NOT_QUOTE,      /* "quote-attest-not-quote": type is not ATTEST_QUOTE */
    POSTURE_QUOTE_SIG_MALFORMED,         /* "quote-signature-malformed" */
    POSTURE_QUOTE_SIG_SCHEME,            /* "quote-signature-scheme-not-pinned": not ECDSA-SHA256 */
    POSTURE_QUOTE_SIG_RANGE,             /* "quote-signature-out-of-range": r or s not in [1, n) */
    POSTURE_QUOTE_SIG_INVALID,           /* "quote-signature-invalid" */
    POSTURE_QUOTE_SIGNER_MISMATCH,       /* "quote-signer-mismatch": qualifiedSigner */
    POSTURE_QUOTE_EXTRA_DATA_MISMATCH,   /* "quote-binding-mismatch": extraData */
    POSTURE_QUOTE_CLOCK_UNSAFE,          /* "quote-clock-unsafe": clockInfo.safe is NO */
    POSTURE_QUOTE_RESET_COUNT_BACKWARDS, /* "quote-reset-count-backwards" */
    POSTURE_QUOTE_RESTART_COUNT_BACKWARDS, /* "quote-restart-count-backwards" */
    POSTURE_QUOTE_CLOCK_BACKWARDS,         /* "quote-clock-not-increasing" */
    POSTURE_QUOTE_PCR_SELECTION,           /* "quote-pcr-selection-mismatch" */
    POSTURE_QUOTE_PCR_VALUES_INVALID,  /* "quote-pcr-values-invalid": extra, missing, duplicate */
    POSTURE_QUOTE_PCR_DIGEST_MISMATCH, /* "quote-pcr-digest-mismatch" */
    POSTURE_QUOTE_REPLAY_MISMATCH,     /* "quote-pcr-replay-mismatch": event log vs quote */
    POSTURE_QUOTE_REASON__MAX,
    POSTURE_QUOTE_REASON__INVALID = -EINVAL,
};

/* The reason's stable string ("quote-signature-invalid"), or NULL when out of range. */
const char *posture_quote_reason_to_string(enum posture_quote_reason reason);
/* The reason for a string, or POSTURE_QUOTE_REASON__INVALID. */
enum posture_quote_reason posture_quote_reason_from_string(const char *s);

/* A PCR value as supplied with the evidence (SHA-256 bank). */
struct posture_quote_pcr {
    unsigned index;
    uint8_t digest[POSTURE_QUOTE_DIGEST_SIZE];
};

/* clockInfo of an accepted quote, to be stored and passed back as the next "previous". */
struct posture_quote_clock {
    uint64_t clock;
    uint32_t reset_count;
    uint32_t restart_count;
};

/* What the verifier expects of this quote. All pointers are borrowed. */
struct posture_quote_expect {
    /* The binding (posture_quote_binding()); extraData must equal it exactly. */
    const uint8_t *extra_data;
    size_t extra_data_len; /* 1..POSTURE_QUOTE_NONCE_MAX */
    /* The policy's SHA-256 PCR selection as a bit mask (bit i = PCR i), nonzero. */
    uint32_t pcr_mask;
    /* The PCR values sent with the evidence, in any order. */
    const struct posture_quote_pcr *pcrs;
    size_t n_pcrs;
    /* The clockInfo of the last accepted quote of this device, or NULL for none. */
    const struct posture_quote_clock *previous;
};

/* What an accepted quote says, beyond what the caller supplied. */
struct posture_quote_info {
    struct posture_quote_clock clock;
    uint64_t firmware_version;
};

/* An enrolled AK: its public key, name and qualified name, parsed once. */
struct posture_quote_ak;

/* Parse the AK's marshalled TPM2B_PUBLIC (exact size, no trailing bytes, canonical encoding)
 * and pin it: ECC NIST P-256, nameAlg SHA-256, scheme ECDSA/SHA-256, attributes fixedTPM,
 * fixedParent, sensitiveDataOrigin, restricted and sign set, decrypt clear, empty authPolicy.
 * parent_qname is the qualified name of the AK's parent: NULL for an endorsement-hierarchy
 * primary (the hierarchy handle 0x4000000B), else e.g. the EK's qualified name for an AK that
 * is a child of the EK (at most POSTURE_QUOTE_NAME_SIZE + 32 bytes).
 * Returns 0, -EBADMSG (malformed), -EKEYREJECTED (not the pinned kind of key), -EINVAL,
 * -ENOMEM or -EIO. Free with posture_quote_ak_free(). */
int posture_quote_ak_new(const uint8_t *tpm2b_public,
                         size_t len,
                         const uint8_t *parent_qname,
                         size_t parent_qname_len,
                         struct posture_quote_ak **ret_ak);
struct posture_quote_ak *posture_quote_ak_free(struct posture_quote_ak *ak);

/* The AK's name (000b || SHA-256(TPMT_PUBLIC)) and qualified name, POSTURE_QUOTE_NAME_SIZE
 * bytes each, owned by ak. */
const uint8_t *posture_quote_ak_name(const struct posture_quote_ak *ak);
const uint8_t *posture_quote_ak_qualified_name(const struct posture_quote_ak *ak);

/* ret = SHA-256("POSTURE-QUOTE-V1" || 0x00 || nonce || SHA-256(payload)) (DESIGN.md §7).
 * nonce: 1..POSTURE_QUOTE_NONCE_MAX bytes; payload may be empty. Returns 0 or -EINVAL/-EIO. */
int posture_quote_binding(const uint8_t *nonce,
                          size_t nonce_len,
                          const uint8_t *payload,
                          size_t payload_len,
                          uint8_t ret[POSTURE_QUOTE_BINDING_SIZE]);

/* ATTESTATION.md §5.4 steps 4-10, in order: TPMS_ATTEST (exact; magic; type QUOTE),
 * TPMT_SIGNATURE (exact; ECDSA + SHA-256; 0 < r, s < n; verified over SHA-256(attest) with the
 * AK), qualifiedSigner == the AK's qualified name, extraData == expect->extra_data, clockInfo
 * (safe; resetCount, restartCount and clock not going backwards against expect->previous),
 * PCR selection == exactly { SHA-256: expect->pcr_mask }, the supplied PCR values are exactly
 * the selected PCRs (no extras, no duplicates) and SHA-256 of them in selection order equals
 * pcrDigest.
 * Returns 0 with *ret_reason set (POSTURE_QUOTE_OK or the first failure); *ret_info is written
 * only when the quote is accepted and ret_info is not NULL. Negative errno when no verdict
 * could be reached (-EINVAL for bad arguments, -ENOMEM, -EIO). */
int posture_quote_verify(const struct posture_quote_ak *ak,
                         const uint8_t *attest,
                         size_t attest_len,
                         const uint8_t *signature,
                         size_t signature_len,
                         const struct posture_quote_expect *expect,
                         struct posture_quote_info *ret_info,
                         enum posture_quote_reason *ret_reason);

/* Step 12's comparison, for PCR values already trusted through posture_quote_verify(): every
 * PCR in pcr_mask must have a supplied value equal to replayed[index] (the event log's replay,
 * indexed by PCR number; a PCR without events replays to zero). n_replayed must cover the
 * highest PCR in the mask. Returns 0 with *ret_reason POSTURE_QUOTE_OK or
 * POSTURE_QUOTE_REPLAY_MISMATCH (also when a selected PCR has no supplied value), or -EINVAL. */
int posture_quote_check_replay(uint32_t pcr_mask,
                               const struct posture_quote_pcr *pcrs,
                               size_t n_pcrs,
                               const uint8_t (*replayed)[POSTURE_QUOTE_DIGEST_SIZE],
                               size_t n_replayed,
                               enum posture_quote_reason *ret_reason);
