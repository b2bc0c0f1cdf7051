/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The verifier's API routes (DESIGN.md §8, GATEWAYS.md §2; docs/verifier-api.md): the glue
 * between the HTTP layer (http.h) and the libraries that decide (enroll.h, submission.h,
 * appraise.h, ear.h, decision.h, store.h).
 *
 *   POST /v1/enroll, /v1/enroll/activate  agents   enrolment (enroll.h)
 *   POST /v1/challenge                    agents   a nonce for the device of the TLS client
 *                                                  certificate (120 s, single use)
 *   POST /v1/posture                      agents   submission → nonce consumed → report JWS →
 *                                                  TPM evidence → appraisal under every policy
 *                                                  → EARs → store (default policy) → view
 *   ANY  /v1/authz, /v1/authz/...         gateways the decision, from the in-memory view only
 *
 * Every handler fails closed: a negative return becomes a 503 problem. Thread-safety: the
 * handlers run concurrently; the store, the view and the metrics are thread-safe, everything
 * else here is read-only after posture_api_new(). Library code: logs at debug only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "posture/cleanup.h"

#include "decision.h"
#include "ekcert.h"
#include "http.h"
#include "metrics.h"
#include "policy.h"
#include "store.h"
#include "vkeys.h"

#define POSTURE_API_NONCE_TTL_SEC 120
#define POSTURE_API_SPIFFE_PREFIX "spiffe://"
#define POSTURE_API_DEVICES_MAX   ((size_t) 1000000) /* decision view capacity */

/* Everything the routes use; borrowed, and must outlive the api object. */
/* Rate limits of POST /v1/enroll and /v1/enroll/activate ([enroll] in verifier.conf): token
 * buckets per client address (IPv6 by /64), for all clients together, and for the refused
 * attempts of one address (token, "pop" or proof refusals); an empty bucket answers 429 with
 * Retry-After. A rate of 0 turns that bucket off. */
struct posture_api_enroll_limits {
    uint32_t per_ip_per_min;
    uint32_t per_ip_burst;
    uint32_t global_per_min;
    uint32_t global_burst;
    uint32_t failures_per_ip_per_hour;
    uint32_t failures_per_ip_burst;
    uint32_t clients_max; /* addresses remembered at once (memory is fixed by it) */
};

struct posture_api_options {
    struct posture_store *store;                 /* required */
    const struct posture_vkeys *vkeys;           /* required: device CA, EAR signing key */
    const struct posture_ekcert_roots *ek_roots; /* NULL: TPM enrolment refused */
    /* NULL or empty: no policy ([policy] dir missing): /v1/posture answers 503 no-policy and
     * /v1/authz 503 unknown-policy (fail closed); enrolment and challenges work. */
    const struct posture_policy_set *policies;
    const char *default_policy;          /* required with policies: an id in policies */
    struct posture_decisions *decisions; /* required: the view /v1/authz answers from */
    struct posture_metrics *metrics;     /* optional */
    const char *issuer;                  /* EAR iss; NULL: "spiffe://<td>/verifier" */
    size_t posture_body_max;             /* body limit of POST /v1/posture; 0: 2 MiB */
    /* Write every /v1/authz decision to the audit log (kind "decision", subject the device
     * id, detail {"policy","result","status","x_status","x5t"}): buffered in memory and
     * written by a thread every 100 ms, so a decision never waits on the store. */
    bool audit_decisions;
    const struct posture_api_enroll_limits *enroll_limits; /* NULL: no rate limits */
    /* /v1/authz token paths (GATEWAYS.md §2.4, dpop.h): Authorization: DPoP <EAR> + DPoP proof
     * always; Authorization: Bearer <EAR> (no binding) only when authz_bearer is set. */
    bool authz_bearer;
    size_t dpop_replay_max; /* DPoP jti replay cache entries; 0: POSTURE_DPOP_REPLAY_DEFAULT */
};

struct posture_api;

/* Check the options (-EINVAL: a missing member, a default policy that is not in the set, more
 * than POSTURE_DECISION_POLICIES_MAX policies), register the metrics (-EEXIST when a metric of
 * the same name but another kind exists). -ENOMEM. */
int posture_api_new(const struct posture_api_options *opts, struct posture_api **ret);
/* Free; with audit_decisions, the rows still buffered are written first. NULL-safe. */
struct posture_api *posture_api_free(struct posture_api *api);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_api *, posture_api_free)
#define posture_auto_api POSTURE_CLEANUP(posture_api_freep)

/* Add the routes above to srv (before it starts). Errors of posture_http_server_add_route(). */
int posture_api_add_routes(struct posture_api *api, struct posture_http_server *srv);

/*
 * Replace the policy set, the default policy and the EK roots of a running api (SIGHUP), at
 * once for every route: waits for the requests under way (they hold the old ones), swaps, and
 * drops from the decision view every entry under a policy that is gone or whose digest
 * changed: those devices answer 403 not-appraised under it until they report again (the store
 * keeps the EAR, not the evidence, so nothing can be re-appraised). The same rules as
 * posture_api_new() (-EINVAL; nothing changed then). Borrowed like the options: after it
 * returns, no request uses the old set or roots any more and the caller may free them.
 * Returns the number of decision entries dropped.
 */
int posture_api_reload(struct posture_api *api,
                       const struct posture_policy_set *policies,
                       const char *default_policy,
                       const struct posture_ekcert_roots *ek_roots);
/* [authz] bearer at a reload: Authorization: Bearer <EAR> at /v1/authz on or off, for every
 * request after the requests under way. NULL-safe. */
void posture_api_set_authz_bearer(struct posture_api *api, bool on);
/* [enroll] rate limits at a reload: new buckets (they start full) replace the old ones for
 * every request after the requests under way. -ENOMEM (the old limits stay), -EINVAL. */
int posture_api_set_enroll_limits(struct posture_api *api,
                                  const struct posture_api_enroll_limits *limits);

/*
 * Fill the decision view from the store at start: every policy's appraisal of the latest
 * submission of every active device (posture_store_appraisal_foreach_latest_policies), read
 * from its EAR (ours: not verified again), each as the entry of the policy it was appraised
 * under when that policy is still loaded with the same version and digest; a policy removed
 * or changed since stays unappraised for the device until its next report (fail closed: 403
 * not-appraised). Returns the number of devices put, or a negative errno (the store's; an EAR
 * that does not parse is skipped).
 */
int posture_api_decisions_load(struct posture_api *api);

/*
 * The device id (kid) of a device certificate (DER) issued by our device CA: the URI SAN
 * spiffe://<trust_domain>/device/<kid>, exactly one such SAN, kid a non-empty printable id of
 * at most POSTURE_STORE_DEVICE_ID_MAX characters. -EBADMSG (not a certificate, no or several
 * such SANs, another trust domain, a bad kid), -ENOMEM.
 */
int posture_api_cert_device_id(const uint8_t *der,
                               size_t der_len,
                               const char *trust_domain,
                               char ret_id[static POSTURE_STORE_DEVICE_ID_MAX + 1]);

/*
 * A decision-view entry from an EAR we signed (claims read without verifying): exp, sub and
 * cnf.x5t#S256 into *ret_expires, ret_subject and ret_x5t; ret_remediation (optional, size
 * bytes) receives the remediation of the first failing check, "" when none. -EBADMSG when the
 * token does not have that shape.
 */
int posture_api_ear_read(const char *ear,
                         int64_t *ret_expires,
                         char ret_subject[static POSTURE_DECISION_SUBJECT_MAX + 1],
                         uint8_t ret_x5t[static 32],
                         char *ret_remediation,
                         size_t remediation_size);
