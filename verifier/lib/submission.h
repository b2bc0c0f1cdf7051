/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The body of POST /v1/posture (DESIGN.md §7, §8): {"report": "<compact JWS>", "tpm": {…}},
 * where tpm is the evidence object of ATTESTATION.md §5.1 (posture/evidence.h) and may be
 * absent for a device without a TPM (its policy decides what that is worth). Parsed strictly
 * (ATTESTATION.md §5.4 step 1): at most POSTURE_SUBMISSION_MAX_SIZE bytes, no duplicate or
 * unknown members, the report a string of at most POSTURE_JWS_MAX_SIZE characters.
 */

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "posture/cleanup.h"
#include "posture/evidence.h"

#define POSTURE_SUBMISSION_MAX_SIZE ((size_t) 2 * 1024 * 1024)

struct posture_submission {
    char *report; /* the compact JWS, NUL-terminated */
    size_t report_len;
    struct posture_evidence *tpm; /* NULL when absent */
};

struct posture_submission *posture_submission_free(struct posture_submission *s);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_submission *, posture_submission_free)
#define posture_auto_submission POSTURE_CLEANUP(posture_submission_freep)

/* Parse len bytes of body. -EBADMSG with *ret_why (static or thread-local text naming the
 * member and the problem), -E2BIG beyond POSTURE_SUBMISSION_MAX_SIZE, -ENOMEM. */
int posture_submission_parse(const char *body,
                             size_t len,
                             struct posture_submission **ret,
                             const char **ret_why);

/*
 * The raw bytes of the report's eat_nonce, read WITHOUT verifying the signature: the verifier
 * consumes the nonce before any expensive work (ATTESTATION.md §5.4 step 2) and verifies the
 * signature right after, so nothing read here is trusted beyond picking the nonce to consume.
 * Writes at most buf_size bytes; returns their number, -EBADMSG when the token or its payload
 * is malformed or has no eat_nonce (strict base64url of 8..64 bytes), -ENOMEM.
 */
int posture_submission_peek_nonce(const char *report, size_t len, uint8_t *buf, size_t buf_size);

/* The report's claims as posture_submission_peek_nonce() reads them (NOT verified): decoded and
 * parsed once, for every check made before the signature's (the nonce, the aud). -EBADMSG when
 * the token or its payload is malformed, -ENOMEM, -EINVAL. The caller frees *ret. */
int posture_submission_peek(const char *report, size_t len, cJSON **ret);
/* eat_nonce of such claims, as posture_submission_peek_nonce(). */
int posture_submission_claims_nonce(const cJSON *claims, uint8_t *buf, size_t buf_size);
