/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/posture (DESIGN.md §7-8, ATTESTATION.md §5.4, GATEWAYS.md §2.2): the device of the
 * TLS client certificate submits {"report": "<JWS>", "tpm": {...}}.
 *
 *   1. the body is parsed strictly (400 submission-malformed)
 *   2. the report's claims are decoded once, unverified: its aud must name this verifier (400
 *      report-rejected report-aud-mismatch), and its nonce is consumed in the store (one
 *      statement), before any expensive work (400 use_fresh_nonce with a Replay-Nonce header
 *      when unknown, expired, used or another device's; a used nonce whose report is already
 *      recorded is a re-send: 200 duplicate)
 *   3. the report's JWS with the enrolled device key (400 report-rejected)
 *   4. the TPM evidence with the enrolled AK, bound to the consumed nonce and the payload
 *   5. the appraisal under every loaded policy, one EAR each (cnf: the certificate and key)
 *   6. one store transaction: every policy's appraisal (the default policy's in the row that
 *      de-duplicates by (device, seq)), the TPM clock when a quote was accepted, the audit row;
 *      -EEXIST for a (device, seq) already recorded: 200 duplicate with the latest EAR
 *   7. the decision view and metrics; 201 with the EAR and a summary.
 * posture_api_submit() is steps 1-7 without HTTP (api_posture.h), timed per stage by
 * tests/bench/appraise_inproc.
 */

#include "api_posture.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "posture/b64url.h"
#include "posture/err.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/quote.h"

#include "api_int.h"
#include "appraise.h"
#include "ear.h"
#include "submission.h"

#define NONCE_MAX 64 /* eat_nonce: 8..64 bytes */
/* GATEWAYS.md §4.6: a report's header and payload (decoded) are at most 16 KiB together. */
#define REPORT_SIGNED_MAX  ((size_t) 16 * 1024)
#define REPORT_SEQ_MAX     ((int64_t) 9007199254740991) /* 2^53 - 1 */
#define REPORT_AUD_DEFAULT "posture-verifier" /* posturectl's aud without a [server] url */

/* Everything one submission holds, freed by sub_done(). */
struct sub {
    struct posture_api *api;
    struct posture_api_answer *ans;
    struct posture_api_stats *stats;
    uint64_t t; /* start of the current stage */
    const struct posture_http_identity *id;
    const struct posture_store_device *dev;
    const char *host; /* the request's Host: the report's aud must name it */
    struct posture_submission *submission;
    uint8_t nonce[NONCE_MAX];
    size_t nonce_len;
    char nonce_text[2 * NONCE_MAX];
    EVP_PKEY *key;
    struct posture_jws *jws;
    struct api_ak *ak; /* a reference to the cached parse of the enrolled AK */
    struct posture_evidence_verdict verdict;
    bool have_verdict;
    bool have_clock;
    struct posture_store_clockinfo clock;
    struct posture_appraisal *previous;
    struct posture_appraisal *appraisals[POSTURE_DECISION_POLICIES_MAX];
    char *ears[POSTURE_DECISION_POLICIES_MAX];
    size_t n;
    size_t def; /* index of the default policy */
};

static void sub_done(struct sub *s)
{
    posture_submission_free(s->submission);
    EVP_PKEY_free(s->key);
    posture_jws_free(s->jws);
    api_ak_unref(s->ak);
    if (s->have_verdict)
        posture_evidence_verdict_done(&s->verdict);
    posture_appraisal_free(s->previous);
    for (size_t i = 0; i < s->n; i++) {
        posture_appraisal_free(s->appraisals[i]);
        free(s->ears[i]);
    }
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    (void) clock_gettime(id, &ts);
    return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* The current stage ends now. */
static void stage_end(struct sub *s, enum posture_api_stage st)
{
    uint64_t t;

    if (!s->stats)
        return;
    t = clock_ns(s->stats->thread_cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC);
    s->stats->ns[st] += t - s->t;
    s->t = t;
}

static const char *const stage_names[POSTURE_API_STAGE__MAX] = {
    [POSTURE_API_STAGE_PARSE] = "parse",   [POSTURE_API_STAGE_NONCE] = "nonce",
    [POSTURE_API_STAGE_JWS] = "jws",       [POSTURE_API_STAGE_EVIDENCE] = "evidence",
    [POSTURE_API_STAGE_POLICY] = "policy", [POSTURE_API_STAGE_EAR] = "ear",
    [POSTURE_API_STAGE_STORE] = "store",   [POSTURE_API_STAGE_VIEW] = "view",
    [POSTURE_API_STAGE_ANSWER] = "answer",
};

const char *posture_api_stage_to_string(enum posture_api_stage st)
{
    if ((int) st < 0 || st >= POSTURE_API_STAGE__MAX)
        return NULL;
    return stage_names[st];
}

void posture_api_answer_done(struct posture_api_answer *a)
{
    if (!a)
        return;
    cJSON_Delete(a->json);
    a->json = NULL;
}

/* A problem answer; takes extra (may be NULL). */
static int problem(struct sub *s,
                   unsigned status,
                   const char *type,
                   const char *title,
                   const char *detail,
                   cJSON *extra)
{
    cJSON_Delete(s->ans->json);
    s->ans->json = extra;
    s->ans->status = status;
    s->ans->problem_type = type;
    s->ans->title = title;
    s->ans->detail = detail;
    return 0;
}

/* A JSON body; takes o. */
static int body(struct sub *s, unsigned status, cJSON *o)
{
    cJSON_Delete(s->ans->json);
    s->ans->json = o;
    s->ans->status = status;
    s->ans->problem_type = NULL;
    return 0;
}

/* A refused submission: 400 (or the given status) problem with "reason". */
static int
reject(struct sub *s, unsigned status, const char *type, const char *reason, const char *detail)
{
    posture_auto_cjson cJSON *extra = cJSON_CreateObject();
    int r;

    posture_metrics_counter_inc(s->api->m_rejected, reason);
    if (!extra)
        return -ENOMEM;
    r = posture_json_add_str(extra, "reason", reason);
    if (r < 0)
        return r;
    return problem(s, status, type, "Posture submission refused", detail, POSTURE_TAKE_PTR(extra));
}

/* 400 use_fresh_nonce with a new nonce (GATEWAYS.md §2.2): in the Replay-Nonce header and in
 * the body. */
static int use_fresh_nonce(struct sub *s, const char *reason, const char *detail)
{
    posture_auto_cjson cJSON *extra = cJSON_CreateObject();
    char *nonce = s->ans->replay_nonce;
    int r;

    posture_metrics_counter_inc(s->api->m_rejected, reason);
    if (!extra)
        return -ENOMEM;
    r = api_nonce_issue(s->api, s->dev->id, nonce, sizeof(s->ans->replay_nonce));
    if (r >= 0)
        r = posture_json_add_str(extra, "error", "use_fresh_nonce");
    if (r >= 0)
        r = posture_json_add_str(extra, "reason", reason);
    if (r >= 0)
        r = posture_json_add_str(extra, "nonce", nonce);
    if (r >= 0)
        r = posture_json_add_int(extra, "expires_in", POSTURE_API_NONCE_TTL_SEC);
    if (r < 0) {
        s->ans->replay_nonce[0] = '\0';
        return r;
    }
    return problem(s, 400, "use_fresh_nonce", "Use a fresh nonce", detail, POSTURE_TAKE_PTR(extra));
}

static int policy_text(const struct posture_appraisal *a, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s@%s", a->policy_id, a->policy_version);
    return n < 0 || (size_t) n >= size ? -E2BIG : 0;
}

/* 200 {"duplicate": true, "ear", "status", "policy", "seq"}: the device's latest appraisal. */
static int answer_duplicate(struct sub *s)
{
    struct posture_store_appraisal latest = { 0 };
    posture_auto_cjson cJSON *o = NULL;
    char policy[2 * POSTURE_STORE_POLICY_ID_MAX + 2];
    int r;

    r = posture_store_appraisal_latest(s->api->store, s->dev->id, &latest);
    if (r < 0)
        return r;
    posture_metrics_counter_inc(s->api->m_rejected, "duplicate");
    (void) snprintf(policy, sizeof(policy), "%s@%s", latest.policy_id, latest.policy_version);
    o = cJSON_CreateObject();
    r = o ? 0 : -ENOMEM;
    if (r >= 0)
        r = posture_json_add_bool(o, "duplicate", true);
    if (r >= 0)
        r = posture_json_add_str(o, "ear", latest.ear);
    if (r >= 0)
        r = posture_json_add_str(o, "status", posture_store_verdict_to_string(latest.verdict));
    if (r >= 0)
        r = posture_json_add_str(o, "policy", policy);
    if (r >= 0 && latest.seq <= (uint64_t) INT64_MAX / 2)
        r = posture_json_add_int(o, "seq", (int64_t) latest.seq);
    posture_store_appraisal_done(&latest);
    if (r < 0)
        return r;
    return body(s, 200, POSTURE_TAKE_PTR(o));
}

static int load_key(struct sub *s)
{
    struct posture_api *api = s->api;
    posture_auto_cjson cJSON *jwk = NULL;
    uint8_t h[32];
    struct api_key_slot *slot;
    int r;

    if (EVP_Digest(s->dev->jwk, strlen(s->dev->jwk), h, NULL, EVP_sha256(), NULL) != 1)
        return -EIO;
    slot = &api->keys[(h[0] << 8 | h[1]) % API_KEY_SLOTS];
    (void) pthread_mutex_lock(&api->cert_lock);
    if (slot->key && memcmp(slot->jwk_sha256, h, sizeof(h)) == 0 && EVP_PKEY_up_ref(slot->key) == 1)
        s->key = slot->key;
    (void) pthread_mutex_unlock(&api->cert_lock);
    if (s->key)
        return 0;

    r = posture_json_parse(s->dev->jwk, strlen(s->dev->jwk), POSTURE_STORE_JWK_MAX, 4, &jwk);
    if (r >= 0)
        r = posture_key_from_jwk(jwk, &s->key);
    if (r < 0) {
        log_debug("api: %s: the stored JWK is unusable: %s", s->dev->id, posture_errno_name(r));
        return -EIO; /* our own record: a fault, not the client's */
    }
    (void) pthread_mutex_lock(&api->cert_lock);
    if (EVP_PKEY_up_ref(s->key) == 1) {
        EVP_PKEY_free(slot->key);
        slot->key = s->key;
        memcpy(slot->jwk_sha256, h, sizeof(h));
    }
    (void) pthread_mutex_unlock(&api->cert_lock);
    return 0;
}

/* A parsed AK shared by the submissions that use it. */
struct api_ak {
    atomic_uint refs;
    struct posture_quote_ak *ak;
};

void api_ak_unref(struct api_ak *a)
{
    if (a && atomic_fetch_sub(&a->refs, 1) == 1) {
        posture_quote_ak_free(a->ak);
        free(a);
    }
}

/* The device's enrolled AK, parsed once per AK (as load_key() does for the device key). */
static int load_ak(struct sub *s)
{
    struct posture_api *api = s->api;
    struct api_ak *a, *old = NULL;
    struct api_ak_slot *slot;
    uint8_t h[32];
    int r;

    if (EVP_Digest(s->dev->ak_public, s->dev->ak_public_len, h, NULL, EVP_sha256(), NULL) != 1)
        return -EIO;
    slot = &api->aks[(h[0] << 8 | h[1]) % API_AK_SLOTS];
    (void) pthread_mutex_lock(&api->cert_lock);
    if (slot->ak && memcmp(slot->ak_sha256, h, sizeof(h)) == 0) {
        atomic_fetch_add(&slot->ak->refs, 1);
        s->ak = slot->ak;
    }
    (void) pthread_mutex_unlock(&api->cert_lock);
    if (s->ak)
        return 0;

    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    r = posture_quote_ak_new(s->dev->ak_public, s->dev->ak_public_len, NULL, 0, &a->ak);
    if (r < 0) {
        free(a);
        return r == -ENOMEM ? r : -EIO; /* the enrolled AK: ours */
    }
    atomic_init(&a->refs, 2); /* ours and the slot's */
    (void) pthread_mutex_lock(&api->cert_lock);
    old = slot->ak;
    slot->ak = a;
    memcpy(slot->ak_sha256, h, sizeof(h));
    (void) pthread_mutex_unlock(&api->cert_lock);
    api_ak_unref(old);
    s->ak = a;
    return 0;
}

/* Verify the report: 0 verified, 1 refused (answered), negative errno. */
static int verify_report(struct sub *s, int64_t now)
{
    struct posture_jws_verify_opts vo = {
        .typ = POSTURE_JWS_TYP_REPORT,
        .now = now,
        .max_lifetime_sec = POSTURE_REPORT_LIFETIME_SEC,
        .key_kid = s->dev->id, /* the device id is its key's thumbprint (enrolment) */
    };
    const char *report = s->submission->report, *dot1, *dot2, *iss;
    size_t len = s->submission->report_len;
    int64_t seq = 0;
    int reason = POSTURE_JWS_OK, r;

    /* base64url without padding: n characters decode to n * 3 / 4 bytes */
    dot1 = memchr(report, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - report)) : NULL;
    if (dot2 && (size_t) (dot1 - report) / 4 * 3 + (size_t) (dot1 - report) % 4 * 3 / 4 +
                        (size_t) (dot2 - dot1 - 1) / 4 * 3 +
                        (size_t) (dot2 - dot1 - 1) % 4 * 3 / 4 >
                    REPORT_SIGNED_MAX) {
        r = reject(s, 400, "report-rejected", "jws-too-large",
                   "the report's header and payload are larger than 16 KiB");
        return r < 0 ? r : 1;
    }
    r = posture_jws_verify(report, len, s->key, &vo, &reason, &s->jws);
    if (r == -EBADMSG) {
        const char *why = posture_jws_reason_to_string(reason);
        r = reject(s, 400, "report-rejected", why ? why : "jws-invalid",
                   "the report's signature or claims were refused");
        return r < 0 ? r : 1;
    }
    if (r < 0)
        return r;
    /* GATEWAYS.md §4.6: iss is required; the agent's is its device id, as sub */
    iss = posture_json_get_str(s->jws->payload, "iss");
    if (!iss || strcmp(iss, s->dev->id) != 0) {
        r = reject(s, 400, "report-rejected", "report-iss-mismatch",
                   "the report's iss is not the device id of its client certificate");
        return r < 0 ? r : 1;
    }
    /* seq orders a device's reports and de-duplicates them: a whole number from 1 on, within
     * what JSON carries exactly; anything else would be answered as a duplicate forever */
    if (posture_json_get_int(s->jws->payload, "seq", &seq) < 0 || seq < 1 || seq > REPORT_SEQ_MAX) {
        r = reject(s, 400, "report-rejected", "report-seq-invalid",
                   "the report's seq must be a whole number from 1 to 2^53 - 1");
        return r < 0 ? r : 1;
    }
    return 0;
}

/* A used nonce: a re-sent report (same device, seq at or below the latest recorded) is a
 * duplicate; anything else must use a fresh nonce. The signature is checked first, so only
 * the device can learn its own latest EAR this way. */
static int nonce_used(struct sub *s, int64_t now)
{
    struct posture_store_appraisal latest = { 0 };
    int64_t seq = -1;
    bool dup;
    int r;

    r = load_key(s);
    if (r < 0)
        return r;
    r = verify_report(s, now);
    if (r != 0)
        return r < 0 ? r : 0;
    (void) posture_json_get_int(s->jws->payload, "seq", &seq);
    r = posture_store_appraisal_latest(s->api->store, s->dev->id, &latest);
    if (r < 0 && r != -ENOENT)
        return r;
    dup = r >= 0 && seq >= 0 && (uint64_t) seq <= latest.seq;
    if (r >= 0)
        posture_store_appraisal_done(&latest);
    if (dup)
        return answer_duplicate(s);
    return use_fresh_nonce(s, "nonce-used", "this nonce was used already");
}

/* GATEWAYS.md §4.6: the report's aud must name this verifier: posturectl's default, or the URL
 * the agent was given ([server] url), https://<the Host it sent>[/path]. */
/* The length of host[:port] without a default ":443" (curl leaves it out of Host even when the
 * URL spells it, and a URL may spell it when Host does not). */
static size_t authority_len(const char *a, size_t n)
{
    return n > 4 && memcmp(a + n - 4, ":443", 4) == 0 ? n - 4 : n;
}

static bool audience_ok(const char *aud, const char *host)
{
    static const char https[] = "https://";
    size_t n, m;

    if (strcmp(aud, REPORT_AUD_DEFAULT) == 0)
        return true;
    if (!host || *host == '\0' || strncmp(aud, https, sizeof(https) - 1) != 0)
        return false;
    aud += sizeof(https) - 1;
    n = strcspn(aud, "/?#");
    if (aud[n] != '\0' && aud[n] != '/')
        return false;
    m = authority_len(aud, n);
    return m > 0 && m == authority_len(host, strlen(host)) && strncasecmp(aud, host, m) == 0;
}

/* Step 2: 0 consumed, 1 answered, negative errno. */
static int consume_nonce(struct sub *s, int64_t now)
{
    posture_auto_cjson cJSON *claims = NULL;
    const cJSON *aud;
    int n, r;

    /* the unverified claims, read once: the aud, then the nonce */
    n = posture_submission_peek(s->submission->report, s->submission->report_len, &claims);
    if (n >= 0) {
        aud = cJSON_GetObjectItemCaseSensitive(claims, "aud");
        if (!cJSON_IsString(aud) || !audience_ok(aud->valuestring, s->host)) {
            r = reject(s, 400, "report-rejected", "report-aud-mismatch",
                       "the report's aud is not this verifier (https://<Host>)");
            return r < 0 ? r : 1;
        }
        n = posture_submission_claims_nonce(claims, s->nonce, sizeof(s->nonce));
    }
    if (n == -EBADMSG) {
        /* not a JWS, or a payload that does not parse, is refused as such (a fresh nonce would
         * not help); only a verified report without a usable eat_nonce needs a fresh nonce */
        r = load_key(s);
        if (r >= 0)
            r = verify_report(s, now);
        if (r == 0)
            r = use_fresh_nonce(s, "nonce-missing", "the report carries no usable eat_nonce");
        return r < 0 ? r : 1;
    }
    if (n < 0)
        return n;
    s->nonce_len = (size_t) n;
    r = posture_b64url_encode_buf(s->nonce, s->nonce_len, s->nonce_text, sizeof(s->nonce_text));
    if (r < 0)
        return r;
    r = posture_store_nonce_consume(s->api->store, s->dev->id, s->nonce, s->nonce_len);
    switch (r) {
    case 0:
        return 0;
    case -EALREADY:
        r = nonce_used(s, now);
        break;
    case -ENOENT:
        r = use_fresh_nonce(s, "nonce-unknown", "this nonce was not issued (or was purged)");
        break;
    case -ESTALE:
        r = use_fresh_nonce(s, "nonce-expired", "this nonce has expired");
        break;
    case -EPERM:
        r = use_fresh_nonce(s, "nonce-other-device", "this nonce was issued to another device");
        break;
    default:
        return r;
    }
    return r < 0 ? r : 1;
}

/* Step 4: 0 (with or without a verdict), 1 answered, negative errno. */
static int verify_evidence(struct sub *s)
{
    const struct posture_evidence *e = s->submission->tpm;
    struct posture_quote_clock previous;
    int r;

    if (!e)
        return 0;
    if (s->dev->tier != POSTURE_STORE_TIER_HARDWARE || !s->dev->ak_public) {
        r = reject(s, 400, "tpm-not-enrolled", "tpm-not-enrolled",
                   "TPM evidence from a device enrolled without a TPM (enrol it again with "
                   "its TPM)");
        return r < 0 ? r : 1;
    }
    r = load_ak(s);
    if (r < 0)
        return r;
    r = posture_store_clockinfo_get(s->api->store, s->dev->id, &s->clock);
    if (r < 0 && r != -ENOENT)
        return r;
    s->have_clock = r >= 0;
    previous = (struct posture_quote_clock){
        .clock = s->clock.clock,
        .reset_count = s->clock.reset_count,
        .restart_count = s->clock.restart_count,
    };
    struct posture_evidence_expect expect = {
        .nonce = s->nonce,
        .nonce_len = s->nonce_len,
        .payload = (const uint8_t *) s->jws->payload_raw,
        .payload_len = s->jws->payload_len,
        .pcr_mask = POSTURE_QUOTE_PCR_MASK_DEFAULT,
        .previous = s->have_clock ? &previous : NULL,
    };
    r = posture_evidence_verify(s->ak->ak, e, &expect, &s->verdict);
    if (r < 0)
        return r;
    s->have_verdict = true;
    return 0;
}

/* The default policy's previous appraisal (grace periods), from the latest stored EAR. */
static void load_previous(struct sub *s)
{
    struct posture_store_appraisal latest = { 0 };
    posture_autofree uint8_t *payload = NULL;
    posture_auto_cjson cJSON *claims = NULL;
    const char *dot1, *dot2;
    size_t len = 0;

    if (posture_store_appraisal_latest(s->api->store, s->dev->id, &latest) < 0)
        return;
    /* made under another default policy ([policy] default changed): no previous for this one */
    if (strcmp(latest.policy_id, s->api->default_policy->id) != 0) {
        posture_store_appraisal_done(&latest);
        return;
    }
    dot1 = latest.ear ? strchr(latest.ear, '.') : NULL;
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (dot2 &&
        posture_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), POSTURE_STORE_EAR_MAX, &payload,
                              &len) >= 0 &&
        posture_json_parse((const char *) payload, len, POSTURE_STORE_EAR_MAX, 0, &claims) >= 0 &&
        posture_ear_previous(claims, &s->previous) < 0)
        s->previous = NULL;
    posture_store_appraisal_done(&latest);
}

/* Step 5. */
static int appraise_all(struct sub *s, int64_t now)
{
    const struct posture_policy_set *set = s->api->policies;
    int r;

    load_previous(s);
    for (size_t i = 0; i < set->n_policies; i++) {
        const struct posture_policy *p = set->policies[i];
        struct posture_appraise_input in = {
            .claims = s->jws->payload,
            .header = s->jws->header,
            .jws_reason = POSTURE_JWS_OK,
            .device = s->dev,
            .evidence = s->have_verdict ? &s->verdict : NULL,
            .nonce = s->nonce_text,
            .now = now,
            .previous = p == s->api->default_policy ? s->previous : NULL,
        };

        if (p == s->api->default_policy)
            s->def = i;
        r = posture_appraise(p, &in, &s->appraisals[i]);
        if (r < 0)
            return r;
        s->n = i + 1;
    }
    stage_end(s, POSTURE_API_STAGE_POLICY);
    return 0;
}

/* One EAR per policy (cnf: the certificate and the device key). */
static int sign_all(struct sub *s)
{
    char x5t[POSTURE_VKEYS_X5T_LEN + 1];
    int r;

    r = posture_b64url_encode_buf(s->id->x5t_s256, sizeof(s->id->x5t_s256), x5t, sizeof(x5t));
    if (r < 0)
        return r;
    for (size_t i = 0; i < s->n; i++) {
        struct posture_ear_opts eo = {
            .issuer = s->api->issuer,
            .trust_domain = s->api->trust_domain,
            .jkt = s->dev->id,
            .x5t_s256 = x5t,
            .kid = s->api->vkeys->signing_kid,
        };

        r = posture_ear_sign(s->api->vkeys->signing_key, s->appraisals[i], &eo, &s->ears[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The audit row's detail: {"seq", "policy", "status", "failed", "tpm"} of the default policy. */
static int audit_detail(struct sub *s, char **ret)
{
    const struct posture_appraisal *a = s->appraisals[s->def];
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    char failed[POSTURE_DECISION_TEXT_MAX + 1], rem[8], policy[2 * POSTURE_STORE_POLICY_ID_MAX + 2];
    int r;

    if (!o)
        return -ENOMEM;
    (void) posture_appraisal_failed(a, failed, sizeof(failed), rem, sizeof(rem));
    r = policy_text(a, policy, sizeof(policy));
    if (r >= 0 && a->seq <= (uint64_t) INT64_MAX / 2)
        r = posture_json_add_int(o, "seq", (int64_t) a->seq);
    if (r >= 0)
        r = posture_json_add_str(o, "policy", policy);
    if (r >= 0)
        r = posture_json_add_str(o, "status", posture_store_verdict_to_string(a->status));
    if (r >= 0)
        r = posture_json_add_str(o, "failed", failed);
    if (r >= 0 && s->have_verdict) {
        char buf[POSTURE_EVIDENCE_REASON_MAX];
        r = posture_json_add_str(o, "tpm", posture_evidence_verdict_reason(&s->verdict, buf));
    }
    if (r >= 0)
        r = posture_json_print(o, false, ret);
    return r;
}

/*
 * Step 6, one store transaction: every policy's appraisal (the default policy's first: the row
 * de-duplication and the latest EAR use), the TPM clock when a quote was accepted, the audit
 * row. 0 recorded, 1 answered (duplicate, or a raced clock), negative errno.
 */
static int record(struct sub *s, uint64_t received_at)
{
    posture_autofree struct posture_store_appraisal *rows = NULL;
    posture_autofree char *detail = NULL;
    struct posture_store_clockinfo info;
    struct posture_store_submission sub = { .n_appraisals = s->n };
    struct posture_store_audit_entry audit = { .kind = "appraisal", .subject = s->dev->id };
    int r;

    rows = calloc(s->n, sizeof(*rows));
    if (!rows)
        return -ENOMEM;
    for (size_t i = 0, k = 1; i < s->n; i++) {
        size_t at = i == s->def ? 0 : k++;
        r = posture_appraisal_record(s->appraisals[i], s->ears[i], received_at, &rows[at]);
        if (r < 0)
            return r;
    }
    r = audit_detail(s, &detail);
    if (r < 0)
        return r;
    audit.detail = detail;
    sub.appraisals = rows;
    sub.audit = &audit;
    if (s->have_verdict && s->verdict.step == POSTURE_EVIDENCE_STEP_OK) {
        info = (struct posture_store_clockinfo){
            .clock = s->verdict.info.clock.clock,
            .reset_count = s->verdict.info.clock.reset_count,
            .restart_count = s->verdict.info.clock.restart_count,
        };
        sub.info = &info;
        sub.expected = s->have_clock ? &s->clock : NULL;
    }
    r = posture_store_submission_record(s->api->store, &sub);
    if (r == -EEXIST) {
        r = answer_duplicate(s);
        return r < 0 ? r : 1;
    }
    if (r == -ESTALE) {
        /* another node appraised a newer quote of this device meanwhile */
        r = use_fresh_nonce(s, "quote-clock-raced",
                            "another appraisal of this device moved its TPM clock meanwhile");
        return r < 0 ? r : 1;
    }
    return r;
}

/* Step 7: the view. On failure the device is taken out of the view: fail closed. */
static int update_view(struct sub *s)
{
    struct posture_decision_entry entries[POSTURE_DECISION_POLICIES_MAX];
    char failed[POSTURE_DECISION_POLICIES_MAX][POSTURE_DECISION_TEXT_MAX + 1];
    char remediation[POSTURE_DECISION_POLICIES_MAX][POSTURE_DECISION_TEXT_MAX + 1];
    char subject[POSTURE_DECISION_SUBJECT_MAX + 1];
    struct posture_decision_device dev = { .device_id = s->dev->id, .entries = entries };
    int n, r;

    n = snprintf(subject, sizeof(subject), POSTURE_API_SPIFFE_PREFIX "%s/device/%s",
                 s->api->trust_domain, s->dev->id);
    if (n < 0 || (size_t) n >= sizeof(subject))
        return -E2BIG;
    dev.subject = subject;
    memcpy(dev.x5t_s256, s->id->x5t_s256, sizeof(dev.x5t_s256));
    for (size_t i = 0; i < s->n; i++) {
        const struct posture_appraisal *a = s->appraisals[i];
        const struct posture_policy *p = s->api->policies->policies[i];

        (void) posture_appraisal_failed(a, failed[i], sizeof(failed[i]), remediation[i],
                                        sizeof(remediation[i]));
        entries[i] = (struct posture_decision_entry){
            .policy_id = p->id,
            .policy_version = p->version,
            .status = posture_store_verdict_to_string(a->status),
            .allow = posture_policy_allows(p, (int) a->status),
            .expires = a->appraised_at + POSTURE_EAR_LIFETIME_SEC,
            .token = s->ears[i],
            .failed_checks = failed[i],
            .remediation = remediation[i],
        };
    }
    dev.n_entries = s->n;
    dev.seq = s->appraisals[s->def]->seq;
    r = posture_decisions_put(s->api->decisions, &dev);
    if (r < 0) {
        log_debug("api: %s: decision view: %s; the device is taken out of it", s->dev->id,
                  posture_errno_name(r));
        (void) posture_decisions_remove(s->api->decisions, s->dev->id);
    }
    return r;
}

static int failed_array(const char *failed, cJSON **ret)
{
    posture_auto_cjson cJSON *arr = cJSON_CreateArray();
    char id[POSTURE_DECISION_TEXT_MAX + 1];
    int r = 0;

    if (!arr)
        return -ENOMEM;
    while (r >= 0 && *failed) {
        size_t k = strcspn(failed, ",");
        if (k > 0 && k < sizeof(id)) {
            memcpy(id, failed, k);
            id[k] = '\0';
            r = posture_json_append_str(arr, id);
        }
        failed += k + (failed[k] == ',');
    }
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(arr);
    return 0;
}

/* One policy's summary: {"policy", "status", "allow", "failed_checks", "remediation"}. */
static int summary(struct sub *s, size_t i, cJSON *o)
{
    const struct posture_appraisal *a = s->appraisals[i];
    char failed[POSTURE_DECISION_TEXT_MAX + 1], rem[POSTURE_DECISION_TEXT_MAX + 1];
    char policy[2 * POSTURE_STORE_POLICY_ID_MAX + 2];
    cJSON *arr = NULL;
    int r;

    (void) posture_appraisal_failed(a, failed, sizeof(failed), rem, sizeof(rem));
    r = policy_text(a, policy, sizeof(policy));
    if (r >= 0)
        r = posture_json_add_str(o, "status", posture_store_verdict_to_string(a->status));
    if (r >= 0)
        r = posture_json_add_str(o, "policy", policy);
    if (r >= 0)
        r = posture_json_add_bool(
            o, "allow", posture_policy_allows(s->api->policies->policies[i], (int) a->status));
    if (r >= 0)
        r = failed_array(failed, &arr);
    if (r >= 0)
        r = posture_json_add_item(o, "failed_checks", arr);
    if (r >= 0)
        r = posture_json_add_str(o, "remediation", rem);
    return r;
}

/* 201 {"ear", "status", "policy", "allow", "failed_checks", "remediation", "seq",
 *      "policies": [{"policy", "status", "allow", "failed_checks", "remediation"}, ...]} */
static int answer(struct sub *s)
{
    posture_auto_cjson cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    const struct posture_appraisal *a = s->appraisals[s->def];
    int r;

    if (!o || !arr)
        return -ENOMEM;
    r = posture_json_add_str(o, "ear", s->ears[s->def]);
    if (r >= 0)
        r = summary(s, s->def, o);
    if (r >= 0 && a->seq <= (uint64_t) INT64_MAX / 2)
        r = posture_json_add_int(o, "seq", (int64_t) a->seq);
    for (size_t i = 0; r >= 0 && i < s->n; i++) {
        cJSON *p = cJSON_CreateObject();
        if (!p)
            return -ENOMEM;
        r = posture_json_append(arr, p);
        if (r >= 0)
            r = summary(s, i, p);
    }
    if (r >= 0)
        r = posture_json_add_item(o, "policies", POSTURE_TAKE_PTR(arr));
    if (r < 0)
        return r;
    return body(s, 201, POSTURE_TAKE_PTR(o));
}

static int submission(struct sub *s, const uint8_t *data, size_t len)
{
    uint64_t received_at = posture_store_now(s->api->store);
    int64_t now = (int64_t) (received_at / POSTURE_STORE_USEC_PER_SEC);
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
    const char *why = NULL;
    int r;

    r = posture_submission_parse((const char *) data, len, &s->submission, &why);
    stage_end(s, POSTURE_API_STAGE_PARSE);
    if (r == -EBADMSG)
        return reject(s, 400, "submission-malformed", "submission-malformed", why);
    if (r == -E2BIG)
        return reject(s, 413, "body-too-large", "body-too-large", "a submission is at most 2 MiB");
    if (r < 0)
        return r;

    r = consume_nonce(s, now); /* before anything expensive */
    stage_end(s, POSTURE_API_STAGE_NONCE);
    if (r != 0)
        return r < 0 ? r : 0;
    r = load_key(s);
    if (r < 0)
        return r;
    r = verify_report(s, now);
    stage_end(s, POSTURE_API_STAGE_JWS);
    if (r != 0)
        return r < 0 ? r : 0;
    r = verify_evidence(s);
    stage_end(s, POSTURE_API_STAGE_EVIDENCE);
    if (r != 0)
        return r < 0 ? r : 0;
    r = appraise_all(s, now);
    if (r < 0)
        return r;
    r = sign_all(s);
    stage_end(s, POSTURE_API_STAGE_EAR);
    if (r < 0)
        return r;
    r = record(s, received_at);
    stage_end(s, POSTURE_API_STAGE_STORE);
    if (r != 0)
        return r < 0 ? r : 0;
    r = update_view(s);
    stage_end(s, POSTURE_API_STAGE_VIEW);
    if (r < 0)
        return r;
    posture_metrics_counter_inc(s->api->m_appraisal,
                                posture_store_verdict_to_string(s->appraisals[s->def]->status));
    posture_metrics_histogram_observe(s->api->m_appraisal_seconds,
                                      (double) (clock_ns(CLOCK_MONOTONIC) - t0) / 1e9);
    r = answer(s);
    stage_end(s, POSTURE_API_STAGE_ANSWER);
    return r;
}

int posture_api_submit(struct posture_api *api,
                       const struct posture_http_identity *id,
                       const struct posture_store_device *dev,
                       const char *host,
                       const uint8_t *data,
                       size_t len,
                       struct posture_api_answer *ret,
                       struct posture_api_stats *stats)
{
    struct posture_api_answer ans = { 0 };
    struct sub s;
    int r;

    if (!api || !id || !dev || (!data && len > 0) || !ret)
        return -EINVAL;
    s = (struct sub){
        .api = api,
        .ans = &ans,
        .stats = stats,
        .t = stats ? clock_ns(stats->thread_cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC) : 0,
        .id = id,
        .dev = dev,
        .host = host,
    };
    if (!api->default_policy) {
        posture_metrics_counter_inc(api->m_rejected, "no-policy");
        r = problem(&s, 503, "no-policy", "No policy loaded",
                    "the verifier has no appraisal policy ([policy] dir)", NULL);
    } else
        r = submission(&s, data ? data : (const uint8_t *) "", len);
    sub_done(&s);
    if (r < 0) {
        posture_api_answer_done(&ans);
        return r;
    }
    *ret = ans;
    return 0;
}

int api_route_posture(struct posture_http_request *req,
                      struct posture_http_response *resp,
                      void *userdata)
{
    struct posture_api *api = userdata;
    struct posture_store_device dev = { 0 };
    const struct posture_http_identity *id = NULL;
    struct posture_api_answer ans = { 0 };
    const uint8_t *data;
    size_t len = 0;
    int r;

    r = api_request_device(api, req, resp, &id, &dev);
    if (r != 0) {
        posture_metrics_counter_inc(api->m_rejected, "no-device");
        return r < 0 ? r : 0;
    }
    data = posture_http_request_body(req, &len);
    r = posture_api_submit(api, id, &dev, posture_http_request_header(req, "Host"), data, len, &ans,
                           NULL);
    posture_store_device_done(&dev);
    if (r < 0)
        return r;
    if (ans.problem_type)
        r = posture_http_response_problem(resp, ans.status, ans.problem_type, ans.title, ans.detail,
                                          ans.json);
    else
        r = posture_http_response_set_json(resp, ans.status, NULL, ans.json);
    if (r >= 0 && ans.replay_nonce[0])
        r = posture_http_response_add_header(resp, "Replay-Nonce", ans.replay_nonce);
    posture_api_answer_done(&ans);
    return r;
}
