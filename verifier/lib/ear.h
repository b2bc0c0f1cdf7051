/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The attestation result (EAR, draft-ietf-rats-ear; GATEWAYS.md §4.5): a JWT with typ
 * "eat+jwt", ES256, 300 s, built from an appraisal (appraise.h):
 *
 *   { "iss", "sub": "spiffe://<trust-domain>/device/<kid>", "aud", "iat", "nbf", "exp" (iat +
 *     300), "jti", "eat_profile": "tag:github.com,2023:veraison/ear", "eat_nonce",
 *     "ear.verifier-id": {developer, build}, "cnf": {"jkt", "x5t#S256"},
 *     "submods": {"device": {
 *        "ear.status", "ear.trustworthiness-vector", "ear.appraisal-policy-id",
 *        "tag:posture.dev,2026:policy":   {id, version, digest},
 *        "tag:posture.dev,2026:checks":   {"<id>": {status, agent_status, observed_at,
 *                                                   remediation, in_grace, report_only,
 *                                                   failing_since}},
 *        "tag:posture.dev,2026:findings": {"<code>": "<text>"},
 *        "tag:posture.dev,2026:detail":   {truncated, omitted_checks} }}}
 *
 * The token is at most POSTURE_EAR_MAX_SIZE bytes (it travels in headers, GATEWAYS.md §4.6):
 * when the full detail does not fit, texts are dropped first, then passing checks, then
 * failing ones from the end, never the verdict, the vector or the policy.
 */

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "appraise.h"

#define POSTURE_EAR_TYP          "eat+jwt"
#define POSTURE_EAR_PROFILE      "tag:github.com,2023:veraison/ear"
#define POSTURE_EAR_LIFETIME_SEC 300
#define POSTURE_EAR_MAX_SIZE     4096
#define POSTURE_EAR_EXT_CHECKS   "tag:posture.dev,2026:checks"
#define POSTURE_EAR_EXT_POLICY   "tag:posture.dev,2026:policy"
#define POSTURE_EAR_EXT_FINDINGS "tag:posture.dev,2026:findings"
#define POSTURE_EAR_EXT_DETAIL   "tag:posture.dev,2026:detail"

struct posture_ear_opts {
    const char *issuer;       /* iss, e.g. "https://verifier.corp.example" (required) */
    const char *trust_domain; /* sub = spiffe://<trust_domain>/device/<device id> (required) */
    const char *audience;     /* aud: one gateway audience; NULL: no aud */
    const char *developer;    /* ear.verifier-id developer; NULL: issuer */
    const char *build;        /* ear.verifier-id build; NULL: "posture-verifier <version>" */
    const char *jkt;          /* cnf.jkt: the device key's RFC 7638 thumbprint; NULL: none */
    const char *x5t_s256;     /* cnf.x5t#S256: the device certificate's; NULL: none */
    const char *jti;          /* NULL: 16 random bytes, base64url */
    /* The signing key's RFC 7638 thumbprint (the JWS kid), when the caller knows it: saves
     * deriving it for every token. NULL: derived from the key. */
    const char *kid;
};

/*
 * The EAR claims of a at detail level (0 = everything; higher levels drop detail as described
 * above; POSTURE_EAR_LEVEL_MAX keeps only the verdict). The caller frees *ret. -EINVAL (no
 * issuer, trust domain or cnf), -ENOMEM, -EIO (random).
 */
#define POSTURE_EAR_LEVEL_MAX 6
int posture_ear_claims(const struct posture_appraisal *a,
                       const struct posture_ear_opts *o,
                       unsigned level,
                       cJSON **ret);

/*
 * Sign the EAR of a with key (the verifier's P-256 key) through posture_jws_sign(key,
 * "eat+jwt", ...), at the most detailed level that fits POSTURE_EAR_MAX_SIZE. *ret is a new
 * compact JWT. Errors as posture_ear_claims() and posture_jws_sign(); -E2BIG if even the bare
 * verdict does not fit.
 */
int posture_ear_sign(EVP_PKEY *key,
                     const struct posture_appraisal *a,
                     const struct posture_ear_opts *o,
                     char **ret);

/*
 * What a later appraisal needs from an earlier EAR (grace periods): an appraisal holding the
 * checks of the EAR's checks extension with their status and failing_since (other members are
 * empty). claims are the EAR's verified claims. -EBADMSG when they do not have the shape above,
 * -ENOMEM. */
int posture_ear_previous(const cJSON *claims, struct posture_appraisal **ret);
