/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

/* Internals shared by api.c, api_posture.c and api_authz.c (not an interface). */

#include "api.h"
#include "dpop.h"
#include "ratelimit.h"

#define API_AUDIT_DETAIL_MAX 256
#define API_AUDIT_BUFFER_MAX 16384 /* decision rows waiting for the writer thread */

struct api_audit;

/* The decision audit writer (api_audit.c): a thread that writes buffered rows every 100 ms. */
int api_audit_new(struct posture_store *store, struct posture_metrics *m, struct api_audit **ret);
/* Stop the thread after it wrote what is buffered, and free. NULL-safe. */
void api_audit_free(struct api_audit *au);
/* Buffer one "decision" row (never blocks on the store; drops and counts when full). */
void api_audit_add(struct api_audit *au, const char *subject, const char *detail);

/* TLS client certificates already read: SHA-256 of the DER -> the device id it names. The
 * mapping depends on the certificate's bytes only, so it never goes stale; decoding a
 * certificate costs ~0.5 ms in OpenSSL 3.0 and every agent request needs its device id. */
#define API_CERT_SLOTS 1024u
struct api_cert_slot {
    bool used;
    uint8_t x5t[32];
    char kid[POSTURE_STORE_DEVICE_ID_MAX + 1];
};

/* Device keys already parsed from their stored JWK, by SHA-256 of the JWK text (a new
 * enrolment has another JWK, so another slot): building an EVP_PKEY costs OpenSSL 3.0 more
 * than verifying the report's signature with it. */
#define API_KEY_SLOTS 1024u
struct api_key_slot {
    uint8_t jwk_sha256[32];
    EVP_PKEY *key; /* NULL: empty */
};

/* Enrolled TPM AKs already parsed (api_posture.c), by SHA-256 of their TPM2B_PUBLIC: building
 * the AK's EVP_PKEY costs a third of checking the quote's signature with it. Shared by
 * reference count (a slot may be replaced while a submission still uses its AK). */
#define API_AK_SLOTS 1024u
struct api_ak;
struct api_ak_slot {
    uint8_t ak_sha256[32];
    struct api_ak *ak; /* NULL: empty */
};
void api_ak_unref(struct api_ak *a); /* NULL-safe */

struct posture_api {
    /* policies, default_policy, policy_ids, n_policies and ek_roots: every route holds it for
     * reading for the whole request; posture_api_reload() takes it for writing to swap them */
    pthread_rwlock_t policy_lock;
    pthread_mutex_t cert_lock; /* certs, keys and aks */
    struct api_cert_slot certs[API_CERT_SLOTS];
    struct api_key_slot keys[API_KEY_SLOTS];
    struct api_ak_slot aks[API_AK_SLOTS];
    struct posture_store *store;
    const struct posture_vkeys *vkeys;
    const struct posture_ekcert_roots *ek_roots;
    const struct posture_policy_set *policies;
    const struct posture_policy *default_policy;
    const char *policy_ids[POSTURE_DECISION_POLICIES_MAX]; /* borrowed from policies */
    size_t n_policies;
    struct posture_decisions *decisions;
    char *issuer;
    char *trust_domain;
    size_t posture_body_max;
    struct api_audit *audit;                      /* NULL: decisions are not audited */
    struct posture_ratelimit *rl_enroll_ip;       /* NULL: off */
    struct posture_ratelimit *rl_enroll_global;   /* NULL: off */
    struct posture_ratelimit *rl_enroll_failures; /* NULL: off */
    bool authz_bearer;                            /* Authorization: Bearer <EAR> accepted */
    struct posture_dpop_replay *dpop_replay;      /* DPoP proofs' jti */

    struct posture_metrics_counter *m_enroll;         /* {reason} */
    struct posture_metrics_counter *m_enroll_limited; /* {scope}: 429 answers */
    struct posture_metrics_counter *m_challenge;      /* {result} */
    struct posture_metrics_counter *m_rejected;       /* {reason}: refused submissions */
    struct posture_metrics_counter *m_appraisal;      /* {status}: default policy's verdicts */
    struct posture_metrics_counter *m_decision;       /* {result}: /v1/authz */
    struct posture_metrics_histogram *m_appraisal_seconds;
};

/* The common problem answer (Cache-Control no-store is set by the http layer). */
int api_problem(struct posture_http_response *resp,
                unsigned status,
                const char *type,
                const char *title,
                const char *detail);

/* The device of an agent request: the verified TLS client certificate's kid, looked up in the
 * store. Returns 0 with *ret_device filled (caller calls posture_store_device_done), 1 when a
 * problem was answered (401/403), or a negative errno. */
int api_request_device(struct posture_api *api,
                       struct posture_http_request *req,
                       struct posture_http_response *resp,
                       const struct posture_http_identity **ret_identity,
                       struct posture_store_device *ret_device);

/* Issue a nonce for device_id: base64url text into buf (≥ 48 bytes). */
int api_nonce_issue(struct posture_api *api, const char *device_id, char *buf, size_t size);

/* Seconds since the epoch by the store's clock. */
int64_t api_now(struct posture_api *api);

int api_route_posture(struct posture_http_request *req,
                      struct posture_http_response *resp,
                      void *userdata);
int api_route_authz(struct posture_http_request *req,
                    struct posture_http_response *resp,
                    void *userdata);
