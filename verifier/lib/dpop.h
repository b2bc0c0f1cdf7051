/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The token paths of the gateway decision (GATEWAYS.md §2.4, §4.6; RFC 9449 DPoP; RFC 7638):
 *
 *   Authorization: DPoP <EAR>   + DPoP: <proof>   the EAR bound to the proof's key (cnf.jkt)
 *   Authorization: Bearer <EAR>                   no binding (off unless configured)
 *
 * The EAR must be one we issued: ES256 only, typ eat+jwt, kid one of the keys given (the JWKS:
 * during a rotation the old key too), signature, iss ours, aud (see below), iat/exp with 60 s
 * skew and at most 300 s apart, sub spiffe://<trust-domain>/device/<id>.
 *
 * The proof: typ dpop+jwt, alg ES256 only (none, HS*, RS*, anything else refused), header
 * members typ, alg and jwk only (a kid, jku, x5c, crit … is refused), jwk a public P-256 key
 * (a private member "d" is refused), the signature by that jwk, htm equal to the original
 * request's method, htu equal to its scheme://host/path (scheme and host compared
 * case-insensitively, default ports ignored, query and fragment ignored on both sides), iat
 * within ±60 s of now, ath = base64url(SHA-256(EAR)), RFC 7638 thumbprint(jwk) = the EAR's
 * cnf.jkt, and jti never seen before (the replay cache below) — in that order, so that only a
 * proof that passed every other check is remembered.
 *
 * Replay cache: bounded, in memory, thread-safe (16 locked shards). A jti is remembered with
 * its key's thumbprint until iat + 60 s, when the iat check refuses the proof anyway. Memory is
 * fixed at creation (about 48 bytes per entry of capacity). Under a flood the cache never grows
 * and never forgets a live entry: a full cache makes the proof check fail closed with -ENOSPC
 * (the endpoint answers 503); only expired entries are ever replaced. Filling it needs valid
 * proofs for a valid EAR, i.e. an enrolled device.
 *
 * Every refusal is -EBADMSG with a distinct reason code (for the debug log and tests only: the
 * client learns invalid_token or invalid_dpop_proof, nothing more). Library code: logs at
 * debug only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "posture/cleanup.h"

#include "ear.h"
#include "store.h"

#define POSTURE_DPOP_TYP            "dpop+jwt"
#define POSTURE_DPOP_SKEW_SEC       60
#define POSTURE_DPOP_PROOF_MAX      4096                 /* a compact proof, checked first */
#define POSTURE_DPOP_EAR_MAX        POSTURE_EAR_MAX_SIZE /* the EAR, checked first */
#define POSTURE_DPOP_JTI_MAX        128
#define POSTURE_DPOP_HTU_MAX        2048
#define POSTURE_DPOP_JKT_LEN        43 /* base64url of a SHA-256 */
#define POSTURE_DPOP_REPLAY_DEFAULT 65536u
#define POSTURE_DPOP_REPLAY_MIN     1024u
#define POSTURE_DPOP_REPLAY_MAX     (16u * 1024 * 1024)

/* WWW-Authenticate of a 401 (RFC 9449 §7.1): the EAR was refused, or the proof. */
#define POSTURE_DPOP_CHALLENGE_TOKEN "DPoP error=\"invalid_token\", algs=\"ES256\""
#define POSTURE_DPOP_CHALLENGE_PROOF "DPoP error=\"invalid_dpop_proof\", algs=\"ES256\""

enum posture_dpop_reason {
    POSTURE_DPOP_OK,
    /* the EAR (invalid_token) */
    POSTURE_DPOP_EAR_TOO_LARGE,   /* "ear-too-large" */
    POSTURE_DPOP_EAR_MALFORMED,   /* "ear-malformed": not a compact JWS with a JSON header */
    POSTURE_DPOP_EAR_ALG,         /* "ear-alg": other than ES256 (none, HS256, …) */
    POSTURE_DPOP_EAR_TYP,         /* "ear-typ": other than eat+jwt */
    POSTURE_DPOP_EAR_KID_UNKNOWN, /* "ear-kid-unknown": no kid, or none of our keys */
    POSTURE_DPOP_EAR_SIGNATURE,   /* "ear-signature" */
    POSTURE_DPOP_EAR_EXPIRED,     /* "ear-expired": now >= exp + 60 s */
    POSTURE_DPOP_EAR_TIME,        /* "ear-time": iat/exp missing, iat in the future, too long */
    POSTURE_DPOP_EAR_REFUSED,     /* "ear-refused": other JWS refusals (header members, …) */
    POSTURE_DPOP_EAR_ISSUER,      /* "ear-issuer" */
    POSTURE_DPOP_EAR_AUDIENCE,    /* "ear-audience" */
    POSTURE_DPOP_EAR_SUBJECT,     /* "ear-subject": not spiffe://<td>/device/<id> */
    POSTURE_DPOP_EAR_CNF,         /* "ear-cnf": malformed cnf, or no cnf.jkt when required */
    /* the proof (invalid_dpop_proof) */
    POSTURE_DPOP_PROOF_MISSING,          /* "proof-missing": no DPoP header */
    POSTURE_DPOP_PROOF_TOO_LARGE,        /* "proof-too-large" */
    POSTURE_DPOP_PROOF_MALFORMED,        /* "proof-malformed" */
    POSTURE_DPOP_PROOF_TYP,              /* "proof-typ": other than dpop+jwt */
    POSTURE_DPOP_PROOF_ALG_NONE,         /* "proof-alg-none" */
    POSTURE_DPOP_PROOF_ALG_HMAC,         /* "proof-alg-hmac" */
    POSTURE_DPOP_PROOF_ALG_UNSUPPORTED,  /* "proof-alg-unsupported": missing, RS256, ES384 … */
    POSTURE_DPOP_PROOF_HEADER_FORBIDDEN, /* "proof-header-forbidden": kid, jku, x5c, crit … */
    POSTURE_DPOP_PROOF_JWK_INVALID,      /* "proof-jwk-invalid": missing, not public P-256 */
    POSTURE_DPOP_PROOF_JWK_PRIVATE,      /* "proof-jwk-private": has "d" */
    POSTURE_DPOP_PROOF_SIGNATURE,        /* "proof-signature" */
    POSTURE_DPOP_PROOF_CLAIM_INVALID,    /* "proof-claim-invalid": jti/htm/htu/iat/ath */
    POSTURE_DPOP_PROOF_HTM,              /* "proof-htm" */
    POSTURE_DPOP_PROOF_HTU,              /* "proof-htu" */
    POSTURE_DPOP_PROOF_IAT,              /* "proof-iat": more than 60 s off */
    POSTURE_DPOP_PROOF_ATH,              /* "proof-ath" */
    POSTURE_DPOP_PROOF_JKT,              /* "proof-jkt": jwk is not the EAR's cnf.jkt */
    POSTURE_DPOP_PROOF_REPLAY,           /* "proof-replay": jti seen before */
    POSTURE_DPOP_REASON__MAX,
    POSTURE_DPOP_REASON__INVALID = -22, /* -EINVAL */
};

const char *posture_dpop_reason_to_string(int reason);
/* A refusal of the proof (invalid_dpop_proof) rather than of the EAR (invalid_token). */
bool posture_dpop_reason_is_proof(int reason);

/* ---- Authorization ----------------------------------------------------------------------- */

enum posture_dpop_scheme {
    POSTURE_DPOP_SCHEME_NONE,   /* no Authorization header */
    POSTURE_DPOP_SCHEME_DPOP,   /* "DPoP <token>" */
    POSTURE_DPOP_SCHEME_BEARER, /* "Bearer <token>" */
    POSTURE_DPOP_SCHEME_OTHER,  /* another scheme, or a malformed value */
};

/* The scheme of an Authorization value (NULL: NONE; scheme names case-insensitive, one or more
 * spaces, then a token68 of at most POSTURE_DPOP_EAR_MAX + 1 characters, trailing blanks
 * ignored); for DPOP and BEARER *ret_token and *ret_len point into value. Never fails. */
enum posture_dpop_scheme
posture_dpop_authorization(const char *value, const char **ret_token, size_t *ret_len);

/* ---- the EAR ----------------------------------------------------------------------------- */

struct posture_dpop_ear_opts {
    EVP_PKEY *const *keys;   /* the verifier's signing keys (public suffices) */
    const char *const *kids; /* their RFC 7638 thumbprints */
    size_t n_keys;
    const char *issuer;       /* iss must equal it (required) */
    const char *trust_domain; /* sub = spiffe://<trust_domain>/device/<id> (required) */
    /* NULL: the EAR must have no aud (the verifier issues none unless configured); else aud
     * (a string, or an array of strings) must contain it. */
    const char *audience;
    bool require_jkt; /* DPoP: cnf.jkt is required */
    int64_t now;
};

struct posture_dpop_ear {
    char device_id[POSTURE_STORE_DEVICE_ID_MAX + 1];
    char jkt[POSTURE_DPOP_JKT_LEN + 1]; /* cnf.jkt; "" when the EAR has none */
    int64_t exp;
};

/*
 * Verify an EAR (len bytes, no NUL needed) as above. 0 and *ret filled; -EBADMSG with *reason
 * (optional) set when refused; -EINVAL (bad options), -ENOMEM, -EIO. *reason is
 * POSTURE_DPOP_OK unless refused.
 */
int posture_dpop_ear_verify(const char *ear,
                            size_t len,
                            const struct posture_dpop_ear_opts *opts,
                            int *reason,
                            struct posture_dpop_ear *ret);

/* ---- the proof --------------------------------------------------------------------------- */

struct posture_dpop_replay;

/* A replay cache for about capacity live entries (POSTURE_DPOP_REPLAY_MIN..MAX, rounded up).
 * -EINVAL, -ENOMEM. */
int posture_dpop_replay_new(size_t capacity, struct posture_dpop_replay **ret);
struct posture_dpop_replay *posture_dpop_replay_free(struct posture_dpop_replay *c);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_dpop_replay *, posture_dpop_replay_free)
#define posture_auto_dpop_replay POSTURE_CLEANUP(posture_dpop_replay_freep)

/* Remember (jkt, jti) until expires (epoch seconds): 0 when new, -EEXIST when remembered and
 * not expired at now, -ENOSPC when no expired slot is free for it (fail closed), -EINVAL. */
int posture_dpop_replay_add(
    struct posture_dpop_replay *c, const char *jkt, const char *jti, int64_t expires, int64_t now);

/* The original request as the gateway saw it (GATEWAYS.md §2.3). */
struct posture_dpop_http {
    const char *method; /* "GET" */
    const char *scheme; /* "https" */
    const char *host;   /* "app.example.com" or "app.example.com:8443" */
    const char *path;   /* "/admin/x"; a query or fragment is ignored */
};

/* Does htu (a proof's claim) name the request? Scheme and host case-insensitive, the default
 * port of the scheme (80, 443) equal to none, query and fragment ignored, an empty path "/". */
bool posture_dpop_htu_match(const char *htu, const struct posture_dpop_http *http);

struct posture_dpop_proof_opts {
    const struct posture_dpop_http *http; /* required, every member set */
    const char *ear;                      /* the access token the proof goes with (for ath) */
    size_t ear_len;
    const char *jkt; /* the EAR's cnf.jkt */
    int64_t now;
    struct posture_dpop_replay *replay; /* required */
};

/*
 * Verify a DPoP proof (len bytes, no NUL needed; NULL: POSTURE_DPOP_PROOF_MISSING) as above.
 * 0 when valid (its jti is now remembered); -EBADMSG with *reason (optional) when refused;
 * -ENOSPC when the replay cache is full; -EINVAL, -ENOMEM, -EIO.
 */
int posture_dpop_proof_verify(const char *proof,
                              size_t len,
                              const struct posture_dpop_proof_opts *opts,
                              int *reason);
