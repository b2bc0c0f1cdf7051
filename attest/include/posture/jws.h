/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Compact JWS with ES256 only (RFC 7515, RFC 7518 §3.4), as the posture report uses it
 * (DESIGN.md §7): header {"alg":"ES256","typ":"posture+jwt","kid":"<RFC 7638 thumbprint>"},
 * the signature raw r‖s (64 bytes), not DER.
 *
 * Verification trusts nothing in the token to choose how it is checked: the algorithm is
 * pinned (ES256), the key is the caller's (jwk, jku, x5u, x5c, crit and any other header member
 * besides alg, typ and kid are refused, never honoured), kid must equal the caller key's
 * thumbprint, typ must equal the caller's. Size is bounded before any parsing, base64url is
 * strict, JSON duplicate keys are refused.
 *
 * ECDSA malleability: a high-s signature (r, n - s) of a valid one is accepted, as RFC 7518 and
 * every other JOSE library accept it. Replays are prevented by jti, eat_nonce and seq, not by
 * signature bytes; nothing may use the signature bytes as an identifier.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "posture/cleanup.h"
#include "posture/json.h"

#define POSTURE_JWS_MAX_SIZE        ((size_t) 64 * 1024) /* whole compact token, checked first */
#define POSTURE_JWS_TYP_REPORT      "posture+jwt"
#define POSTURE_JWS_TYP_ENROLL      "posture-enroll+jwt"   /* POST /v1/enroll "pop" */
#define POSTURE_JWS_TYP_ACTIVATE    "posture-activate+jwt" /* POST /v1/enroll/activate "pop" */
#define POSTURE_JWS_SKEW_SEC        60  /* clock skew allowed on iat, nbf and exp */
#define POSTURE_REPORT_LIFETIME_SEC 120 /* exp - iat of a posture report, at most */
#define POSTURE_JWS_JSON_MAX_DEPTH  16

/* Why a token was refused: one distinct code per check (reason strings are stable API). */
enum posture_jws_reason {
    POSTURE_JWS_OK,
    POSTURE_JWS_TOO_LARGE,         /* "jws-too-large" */
    POSTURE_JWS_MALFORMED,         /* "jws-malformed": not three parts */
    POSTURE_JWS_BAD_BASE64,        /* "jws-bad-base64url" */
    POSTURE_JWS_BAD_HEADER,        /* "jws-header-invalid": not a JSON object, duplicates … */
    POSTURE_JWS_BAD_PAYLOAD,       /* "jws-payload-invalid" */
    POSTURE_JWS_ALG_MISSING,       /* "jws-alg-missing" */
    POSTURE_JWS_ALG_NONE,          /* "jws-alg-none" */
    POSTURE_JWS_ALG_HMAC,          /* "jws-alg-hmac": HS256/384/512 */
    POSTURE_JWS_ALG_RSA,           /* "jws-alg-rsa": RS*, PS* */
    POSTURE_JWS_ALG_UNSUPPORTED,   /* "jws-alg-unsupported": ES384, EdDSA, anything else */
    POSTURE_JWS_TYP_MISMATCH,      /* "jws-typ-mismatch": missing or other than expected */
    POSTURE_JWS_KID_MISMATCH,      /* "jws-kid-mismatch": missing or not the key's */
    POSTURE_JWS_HEADER_FORBIDDEN,  /* "jws-header-forbidden": jwk, jku, x5u, x5c, crit, … */
    POSTURE_JWS_KEY_UNSUITABLE,    /* "jws-key-unsuitable": the caller's key is not P-256 */
    POSTURE_JWS_SIGNATURE_LENGTH,  /* "jws-signature-length": not 64 bytes */
    POSTURE_JWS_SIGNATURE_RANGE,   /* "jws-signature-out-of-range": r or s is 0 or >= n */
    POSTURE_JWS_SIGNATURE_INVALID, /* "jws-signature-invalid" */
    POSTURE_JWS_CLAIM_INVALID,     /* "jws-claim-invalid": iat/exp missing, not integers */
    POSTURE_JWS_EXPIRED,           /* "jws-expired": now >= exp + skew */
    POSTURE_JWS_NOT_YET_VALID,     /* "jws-not-yet-valid": nbf > now + skew */
    POSTURE_JWS_ISSUED_IN_FUTURE,  /* "jws-iat-in-future": iat > now + skew */
    POSTURE_JWS_LIFETIME_TOO_LONG, /* "jws-lifetime-too-long": exp < iat or exp - iat > max */
    POSTURE_JWS_REASON__MAX,
    POSTURE_JWS_REASON__INVALID = -EINVAL,
};

const char *posture_jws_reason_to_string(int reason);

/*
 * Sign payload (len bytes, usually compact JSON) with key (EC P-256, private) as a compact JWS
 * with header {"alg":"ES256","typ":typ,"kid":thumbprint(key)}. *ret is a new NUL-terminated
 * string (caller frees). Errors: -EKEYREJECTED (not P-256), -E2BIG (the token would exceed
 * POSTURE_JWS_MAX_SIZE), -EIO (OpenSSL), -ENOMEM, -EINVAL.
 */
int posture_jws_sign(EVP_PKEY *key, const char *typ, const void *payload, size_t len, char **ret);

/*
 * posture_jws_sign() with the key's RFC 7638 thumbprint already known (kid, as
 * posture_key_thumbprint() gives it; not checked against key): a signer of many tokens saves
 * deriving it each time. The key must be P-256 (-EIO from OpenSSL otherwise). Same errors.
 */
int posture_jws_sign_kid(
    EVP_PKEY *key, const char *kid, const char *typ, const void *payload, size_t len, char **ret);

/* The length of a compact JWS of posture_jws_sign_kid(key, kid, typ, ...) minus its payload
 * part: fixed for typ and kid, so a signer can size a payload before signing. -EINVAL, -ENOMEM. */
int posture_jws_overhead(const char *typ, const char *kid, size_t *ret);

struct posture_jws_verify_opts {
    const char *typ;           /* required typ header value, e.g. POSTURE_JWS_TYP_REPORT */
    int64_t now;               /* the caller's clock, epoch seconds */
    uint32_t max_lifetime_sec; /* exp - iat at most this; 0: no limit */
    /* The key's RFC 7638 thumbprint when the caller already knows it for certain (the
     * verifier's enrolment record): the header's kid is compared with it instead of with a
     * thumbprint computed from the key on every call. NULL: computed. */
    const char *key_kid;
};

/* A verified token. payload_raw holds the payload bytes exactly as signed (NUL-terminated,
 * not counted in payload_len): the TPM quote binding hashes them (DESIGN.md §7). */
struct posture_jws {
    cJSON *header;
    cJSON *payload;
    char *payload_raw;
    size_t payload_len;
};

struct posture_jws *posture_jws_free(struct posture_jws *jws);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_jws *, posture_jws_free)
#define posture_auto_jws POSTURE_CLEANUP(posture_jws_freep)

/*
 * Verify token (len bytes, no NUL needed) against key (the caller's choice: the enrolled device
 * key). Checks, in order: size, three parts, base64url of each part, header JSON, header members
 * (alg, typ, kid, nothing else), key suitability, signature length and range, the signature,
 * payload JSON (an object), iat/exp/nbf against opts->now with POSTURE_JWS_SKEW_SEC, lifetime.
 * On success returns 0 and *ret (caller frees). On refusal returns -EBADMSG and, when reason
 * is not NULL, sets *reason to the code; other errors (-ENOMEM, -EINVAL, -EIO) leave *reason
 * POSTURE_JWS_OK. *reason is POSTURE_JWS_OK on success.
 */
int posture_jws_verify(const char *token,
                       size_t len,
                       EVP_PKEY *key,
                       const struct posture_jws_verify_opts *opts,
                       int *reason,
                       struct posture_jws **ret);
