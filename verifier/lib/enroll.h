/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Enrolment (DESIGN.md §8 POST /v1/enroll and /v1/enroll/activate; ATTESTATION.md §5.2), free
 * of any transport: the HTTP layer parses the body with posture_enroll_request_parse() (or
 * hands a cJSON object it parsed to _from_json()), calls posture_enroll_begin() or
 * posture_enroll_activate(), and sends the response object or a problem naming the reason.
 * docs/verifier-api.md ("Enrolment") documents the JSON.
 *
 * Devices without TPM material enrol with the token alone (tier software) and get their
 * certificate at once. TPM devices (tier hardware): the EK certificate chain and the EK public
 * key (ekcert.h), the AK pinned and its name computed by us (posture_quote_ak_new(); a name the
 * client sends is ignored), uniqueness of device id and AK, then a software MakeCredential of
 * a fresh 32-byte secret; the device answers with
 *     proof = HMAC-SHA256(secret, "POSTURE-ENROLL-V1" || device_id || nonce0)
 * (device_id as its ASCII characters, nonce0 the 32 raw bytes). The store keeps SHA-256 of the
 * expected proof only, for at most 5 minutes and one attempt: activation takes the pending
 * state out of the store before comparing (in constant time), so a wrong proof, a second
 * attempt or a replayed proof all find nothing, and no answer says anything about the expected
 * value (CVE-2023-38201).
 *
 * Proof of possession of the device key (docs/verifier-api.md "Proof of possession"): both
 * requests carry "pop", a compact JWS (ES256, kid = the JWK's RFC 7638 thumbprint) signed by
 * the device key named in the request: typ POSTURE_JWS_TYP_ENROLL with the claims aud, iat,
 * exp, token_sha256 (SHA-256 of the token bytes) and, for a TPM request, ak_sha256 (SHA-256 of
 * the AK TPM2B_PUBLIC); typ POSTURE_JWS_TYP_ACTIVATE with aud, iat, exp, device_id,
 * proof_sha256 (SHA-256 of the proof bytes) and nonce0 (the challenge's). exp - iat is at most
 * POSTURE_ENROLL_POP_LIFETIME_SEC, iat and exp are checked with POSTURE_JWS_SKEW_SEC. The
 * signature is checked before the token is consumed and before the pending activation is
 * taken, so a request without the key burns neither; the activation's nonce0 is compared
 * after the take (a signed answer to another challenge spends the attempt like a wrong proof).
 *
 * Verdicts are not errors: the functions return 0 with a reason (POSTURE_ENROLL_OK or why the
 * request was refused) and a negative errno only when they could not decide (store or OpenSSL
 * faults: the HTTP layer answers 503). Every request that got past the token, and every
 * activation attempt that found a pending state, appends an "enroll" row to the audit log.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "posture/json.h"
#include "posture/key.h"

#include "ekcert.h"
#include "store.h"
#include "vkeys.h"

#define POSTURE_ENROLL_REQUEST_MAX      ((size_t) 32 * 1024) /* JSON body of either request */
#define POSTURE_ENROLL_JSON_DEPTH       4
#define POSTURE_ENROLL_SECRET_SIZE      32
#define POSTURE_ENROLL_NONCE0_SIZE      32
#define POSTURE_ENROLL_PROOF_SIZE       32 /* HMAC-SHA256 */
#define POSTURE_ENROLL_PROOF_LABEL      "POSTURE-ENROLL-V1"
#define POSTURE_ENROLL_ACTIVATION_TTL   (300 * POSTURE_STORE_USEC_PER_SEC) /* the maximum too */
#define POSTURE_ENROLL_AK_NAME_MAX      66 /* the ignored client value: nameAlg + digest */
#define POSTURE_ENROLL_POP_MAX          ((size_t) 2048) /* the "pop" JWS, characters */
#define POSTURE_ENROLL_POP_LIFETIME_SEC 60              /* exp - iat of a "pop", at most */
#define POSTURE_ENROLL_AUD_MAX          256

enum posture_enroll_reason {
    POSTURE_ENROLL_OK,                /* "ok" */
    POSTURE_ENROLL_REQUEST_MALFORMED, /* "enroll-request-malformed" */
    POSTURE_ENROLL_TOKEN_UNKNOWN,     /* "enroll-token-unknown" (or revoked) */
    POSTURE_ENROLL_TOKEN_EXPIRED,     /* "enroll-token-expired" */
    POSTURE_ENROLL_TOKEN_USED,        /* "enroll-token-used" */
    POSTURE_ENROLL_DEVICE_EXISTS,     /* "enroll-device-exists": admin revoke first */
    POSTURE_ENROLL_IDENTITY_IN_USE,   /* "enroll-identity-in-use": AK or EK of another device */
    POSTURE_ENROLL_EK_NOT_CONFIGURED, /* "enroll-ek-roots-missing": no EK trust store */
    POSTURE_ENROLL_EK_CERT_MALFORMED, /* "ek-cert-malformed" ... (ekcert.h reasons) */
    POSTURE_ENROLL_EK_PUBLIC_MALFORMED,
    POSTURE_ENROLL_EK_UNSUPPORTED,
    POSTURE_ENROLL_EK_UNTRUSTED,
    POSTURE_ENROLL_EK_EXPIRED,
    POSTURE_ENROLL_EK_CRITICAL_EXTENSION,
    POSTURE_ENROLL_EK_MISMATCH,
    POSTURE_ENROLL_EK_ATTRIBUTES,
    POSTURE_ENROLL_AK_MALFORMED,       /* "enroll-ak-malformed" */
    POSTURE_ENROLL_AK_REJECTED,        /* "enroll-ak-rejected": attributes, curve, scheme ... */
    POSTURE_ENROLL_ACTIVATION_PENDING, /* "enroll-activation-pending" */
    POSTURE_ENROLL_ACTIVATION_UNKNOWN, /* "enroll-activation-unknown": none pending (or used) */
    POSTURE_ENROLL_ACTIVATION_EXPIRED, /* "enroll-activation-expired" */
    POSTURE_ENROLL_PROOF_INVALID,      /* "enroll-proof-invalid" */
    POSTURE_ENROLL_POP_MISSING,        /* "enroll-pop-missing": no "pop" (an older agent) */
    POSTURE_ENROLL_POP_INVALID,        /* "enroll-pop-invalid": not signed by the device key */
    POSTURE_ENROLL_POP_EXPIRED,        /* "enroll-pop-expired": iat/exp outside the window */
    POSTURE_ENROLL_POP_BINDING,        /* "enroll-pop-binding": claims not of this request */
    POSTURE_ENROLL_REASON__MAX,
    POSTURE_ENROLL_REASON__INVALID = -EINVAL,
};

/* The reason's stable string, or NULL when out of range. */
const char *posture_enroll_reason_to_string(int reason);
/* The HTTP status for a refusal: 400 malformed (and "pop" missing), 401 token and "pop",
 * 403 trust/proof, 409 conflicts; 201 for POSTURE_ENROLL_OK. */
int posture_enroll_reason_http_status(int reason);
/* A sentence for the problem's detail saying what to fix, or NULL (the reason string says
 * enough). */
const char *posture_enroll_reason_detail(int reason);

/* POST /v1/enroll, parsed. */
struct posture_enroll_request {
    uint8_t token[POSTURE_STORE_TOKEN_SIZE];
    EVP_PKEY *device_key; /* public */
    char kid[POSTURE_KEY_THUMBPRINT_LEN + 1];
    char *jwk; /* {"kty","crv","x","y"} as compact JSON, for the store */
    bool tpm;  /* the TPM members below are present */
    uint8_t *ek_cert;
    size_t ek_cert_len;
    uint8_t *ek_public;
    size_t ek_public_len;
    uint8_t *ak_public;
    size_t ak_public_len;
    bool has_client_ak_name; /* sent, and ignored (ATTESTATION.md §6 row 14) */
    char *pop;               /* the "pop" JWS; NULL: not sent (refused by _begin) */
};

/* POST /v1/enroll/activate, parsed. */
struct posture_enroll_activation {
    char device_id[POSTURE_STORE_DEVICE_ID_MAX + 1];
    uint8_t proof[POSTURE_ENROLL_PROOF_SIZE * 2];
    size_t proof_len;     /* 1..64: a wrong length is a wrong proof, found after the take */
    EVP_PKEY *device_key; /* from "jwk" (public); NULL: not sent (refused by _activate) */
    char kid[POSTURE_KEY_THUMBPRINT_LEN + 1]; /* its thumbprint */
    char pop[POSTURE_ENROLL_POP_MAX + 1];     /* "": not sent */
};
/* Free what _activation_parse allocated (the struct itself is the caller's). NULL-safe. */
void posture_enroll_activation_done(struct posture_enroll_activation *act);

/*
 * Parse a request strictly: one JSON object of at most POSTURE_ENROLL_REQUEST_MAX bytes, depth
 * ≤ POSTURE_ENROLL_JSON_DEPTH, no duplicate or unknown members, every member of the right type
 * and size, strict base64url. _parse takes the body bytes, _from_json an already parsed object.
 * "pop" (and the activation's "jwk") may be absent here, so that _begin and _activate can
 * refuse an older agent's request by name (POSTURE_ENROLL_POP_MISSING); "pop" is only bounded
 * (1..POSTURE_ENROLL_POP_MAX characters) until the _verify_pop checks.
 * -EBADMSG (malformed: the reason is POSTURE_ENROLL_REQUEST_MALFORMED), -E2BIG (too large),
 * -EKEYREJECTED (the JWK is not a P-256 public key), -ENOMEM. Free with _free (the activation:
 * posture_enroll_activation_done(), also after a refusal of _activate).
 */
int posture_enroll_request_parse(const char *body, size_t len, struct posture_enroll_request **ret);
int posture_enroll_request_from_json(const cJSON *obj, struct posture_enroll_request **ret);
struct posture_enroll_request *posture_enroll_request_free(struct posture_enroll_request *req);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_enroll_request *, posture_enroll_request_free)

int posture_enroll_activation_parse(const char *body,
                                    size_t len,
                                    struct posture_enroll_activation *ret);
int posture_enroll_activation_from_json(const cJSON *obj, struct posture_enroll_activation *ret);

/*
 * The proof-of-possession checks, exported for tests (_begin and _activate run them first):
 * POSTURE_ENROLL_OK or a POP_* reason in *ret_reason; *ret_jws_reason (optional) the
 * posture_jws reason of a refused signature. The activation's nonce0 claim goes to
 * ret_nonce0 (compared by _activate after the take). -ENOMEM, -EINVAL, -EIO.
 */
int posture_enroll_request_verify_pop(const struct posture_enroll_request *req,
                                      int64_t now,
                                      enum posture_enroll_reason *ret_reason,
                                      int *ret_jws_reason);
int posture_enroll_activation_verify_pop(const struct posture_enroll_activation *act,
                                         int64_t now,
                                         enum posture_enroll_reason *ret_reason,
                                         int *ret_jws_reason,
                                         uint8_t ret_nonce0[static POSTURE_ENROLL_NONCE0_SIZE]);

/* Fills buf with n random bytes; returns 0 or a negative errno. */
typedef int (*posture_enroll_random_fn)(uint8_t *buf, size_t n, void *userdata);

struct posture_enroll_ctx {
    struct posture_store *store;
    const struct posture_vkeys *keys;
    const struct posture_ekcert_roots *ek_roots; /* NULL: TPM enrolment refused */
    int64_t cert_validity_sec;                   /* 0: POSTURE_VKEYS_CERT_VALIDITY_SEC */
    uint64_t activation_ttl_usec;                /* 0 or above 5 min: 5 min */
    /* Tests only: the source of the secret and nonce0 (NULL: RAND_bytes). */
    posture_enroll_random_fn random;
    void *random_userdata;
};

/*
 * POST /v1/enroll. On POSTURE_ENROLL_OK *ret_response is a new object (caller frees):
 * software tier: {"status":"enrolled", "device_id", "tier":"software", "certificate" (PEM),
 * "ca_certificate" (PEM), "x5t#S256"}; TPM: {"status":"activation-required", "device_id",
 * "credential_blob", "encrypted_secret", "nonce0" (base64url), "expires_in" (seconds)}.
 * On a refusal *ret_response is set to NULL. Errors: -EINVAL, -ENOMEM, -EIO and the store's.
 */
int posture_enroll_begin(const struct posture_enroll_ctx *ctx,
                         const struct posture_enroll_request *req,
                         enum posture_enroll_reason *ret_reason,
                         cJSON **ret_response);

/*
 * POST /v1/enroll/activate: on POSTURE_ENROLL_OK the device is stored (tier hardware) and
 * *ret_response is {"status":"enrolled", "device_id", "tier":"hardware", "certificate",
 * "ca_certificate", "x5t#S256"}. A missing or bad "pop" is refused before the pending state
 * is looked at (it stays); otherwise the pending state is gone afterwards whatever the
 * outcome.
 */
int posture_enroll_activate(const struct posture_enroll_ctx *ctx,
                            const struct posture_enroll_activation *act,
                            enum posture_enroll_reason *ret_reason,
                            cJSON **ret_response);

/* proof = HMAC-SHA256(secret, POSTURE_ENROLL_PROOF_LABEL || device_id || nonce0). -EINVAL,
 * -EIO. (What the agent computes after ActivateCredential; exported for tests.) */
int posture_enroll_proof(const uint8_t *secret,
                         size_t secret_len,
                         const char *device_id,
                         const uint8_t *nonce0,
                         size_t nonce0_len,
                         uint8_t ret[POSTURE_ENROLL_PROOF_SIZE]);
