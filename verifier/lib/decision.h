/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The gateway decision (DESIGN.md §8 /v1/authz, GATEWAYS.md §2.4-2.5), answered from memory:
 * the latest appraisal of every device under every policy, indexed by the SHA-256 of the
 * device certificate (x5t#S256, what gateways forward) and by device id. A decision never
 * waits on disk; the store stays the record, this is its read-optimised view, rebuilt from it
 * at start and updated on every appraisal and revocation.
 *
 * Answers, failing closed:
 *   200  a current appraisal under the asked policy that the policy allows: every X-Posture-*
 *        header, Cache-Control: max-age = min(30, exp - now)
 *   401  no credential, or a certificate no device has (WWW-Authenticate, no-store)
 *   403  the posture fails, the appraisal expired (the device stopped reporting), the
 *        device was never appraised under that policy (problem+json naming the failed checks
 *        and the remediation, no-store), or the device was revoked (device-revoked)
 *   503  the policy asked for does not exist (a gateway configuration error), or the view
 *        could not answer
 * Thread-safe: many readers, one writer at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posture/cleanup.h"

#define POSTURE_DECISION_POLICIES_MAX 16
#define POSTURE_DECISION_ID_MAX       128  /* device id (kid), policy id, version */
#define POSTURE_DECISION_SUBJECT_MAX  256  /* spiffe://<trust-domain>/device/<kid> */
#define POSTURE_DECISION_TOKEN_MAX    4096 /* the EAR (GATEWAYS.md §4.6) */
#define POSTURE_DECISION_TEXT_MAX     512  /* failed checks, remediation */
#define POSTURE_DECISION_MAX_AGE_SEC  30   /* Cache-Control ceiling */

/* One policy's verdict for a device. */
struct posture_decision_entry {
    const char *policy_id;
    const char *policy_version;
    const char *status;        /* ear.status: "affirming", "warning", "contraindicated", "none" */
    bool allow;                /* the policy lets this status through (warning may or may not) */
    int64_t expires;           /* EAR exp, epoch seconds */
    const char *token;         /* the EAR for this policy */
    const char *failed_checks; /* "net.firewall,disk.encryption" or "" */
    const char *remediation;   /* short text for people, or "" */
};

struct posture_decision_device {
    const char *device_id;
    const char *subject;  /* X-Posture-Device-Id */
    uint8_t x5t_s256[32]; /* SHA-256 of the device certificate's DER */
    uint64_t seq;         /* the report's seq (0: enrolled, no report yet) */
    size_t n_entries;
    const struct posture_decision_entry *entries;
};

struct posture_decisions;

int posture_decisions_new(size_t max_devices, struct posture_decisions **ret);
struct posture_decisions *posture_decisions_free(struct posture_decisions *d);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_decisions *, posture_decisions_free)
#define posture_auto_decisions POSTURE_CLEANUP(posture_decisions_freep)

/* Replace everything known about dev->device_id (copied), unless the view holds a report of
 * that device with a higher seq: then nothing changes and 1 is returned (a spooled report
 * delivered after a newer one is history, not the device's state). seq 0 (an enrolment, no
 * report yet) always replaces: a re-enrolment starts over. A certificate already used
 * by another device is refused (-EEXIST): one certificate, one device. -E2BIG when the view is
 * full or a field is too long, -EINVAL, -ENOMEM. */
int posture_decisions_put(struct posture_decisions *d, const struct posture_decision_device *dev);
/* Forget a device (revoked). -ENOENT. */
int posture_decisions_remove(struct posture_decisions *d, const char *device_id);
/* Mark a device revoked: from now on every policy answers 403 device-revoked for its
 * certificate (a problem naming the revocation, no-store), until a put replaces the device (its
 * next enrolment or appraisal; a running serve re-applies the revocations of the last 30 s every
 * poll, so a stale appraisal that was under way cannot undo one). 1 when newly revoked, 0 when
 * it was already, -ENOENT when the view does not have the device, -EINVAL. */
int posture_decisions_revoke(struct posture_decisions *d, const char *device_id);
/* Drop every device's entry under policy_id (a policy reloaded with other content, or gone):
 * those devices answer 403 not-appraised under it until they report again. Returns the number
 * of entries dropped, -EINVAL. */
int posture_decisions_drop_policy(struct posture_decisions *d, const char *policy_id);
size_t posture_decisions_count(struct posture_decisions *d);

/* One answer, self-contained (copied out under the lock). Header values are "" when not sent. */
struct posture_authz {
    unsigned status; /* 200, 401, 403, 503 */
    char x_status[24];
    char x_device_id[POSTURE_DECISION_SUBJECT_MAX + 1];
    char x_policy[2 * POSTURE_DECISION_ID_MAX + 2]; /* id@version */
    char x_expires[24];
    char x_token[POSTURE_DECISION_TOKEN_MAX + 1];
    char cache_control[32];
    char www_authenticate[96];
    /* 403/401/503: the RFC 9457 problem document (compact JSON), else "". */
    char problem[2 * POSTURE_DECISION_TEXT_MAX + 256];
};

/*
 * Decide for the certificate x5t (NULL: the request carried no usable credential) under
 * policy_id (which must be one of known_policies, n_known of them, else 503) at now.
 */
void posture_decisions_authz(struct posture_decisions *d,
                             const uint8_t *x5t_s256,
                             const char *policy_id,
                             const char *const *known_policies,
                             size_t n_known,
                             int64_t now,
                             struct posture_authz *ret);
/*
 * The same for a device named by its id (the token paths of GATEWAYS.md §2.4: the EAR's sub),
 * from the current view, not from the token: a device revoked or newly failing since its EAR
 * was issued is refused. device_id NULL: 401 no-credential; an id the view does not have: 401.
 */
void posture_decisions_authz_device(struct posture_decisions *d,
                                    const char *device_id,
                                    const char *policy_id,
                                    const char *const *known_policies,
                                    size_t n_known,
                                    int64_t now,
                                    struct posture_authz *ret);
