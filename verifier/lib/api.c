/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API routes (api.h): set-up, the device of an agent request, enrolment, challenge, and the
 * decision view filled from the store at start. POST /v1/posture is in api_posture.c, the
 * gateway decision in api_authz.c.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "posture/b64url.h"
#include "posture/err.h"
#include "posture/json.h"
#include "posture/key.h"
#include "posture/log.h"

#include "api_int.h"
#include "ear.h"
#include "enroll.h"

POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)

/* ---- common ------------------------------------------------------------------------------ */

int api_problem(struct posture_http_response *resp,
                unsigned status,
                const char *type,
                const char *title,
                const char *detail)
{
    return posture_http_response_problem(resp, status, type, title, detail, NULL);
}

int64_t api_now(struct posture_api *api)
{
    return (int64_t) (posture_store_now(api->store) / POSTURE_STORE_USEC_PER_SEC);
}

static bool kid_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '/' && c != '?' && c != '#' && c != '%';
}

static int cert_device_id(X509 *x, const char *trust_domain, char *ret_id)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    char prefix[sizeof(POSTURE_API_SPIFFE_PREFIX) + POSTURE_VKEYS_TRUST_DOMAIN_MAX + 16];
    size_t plen, found = 0;
    char id[POSTURE_STORE_DEVICE_ID_MAX + 1] = "";
    int n;

    if (!names)
        return -EBADMSG;
    n = snprintf(prefix, sizeof(prefix), POSTURE_API_SPIFFE_PREFIX "%s/device/", trust_domain);
    if (n < 0 || (size_t) n >= sizeof(prefix)) {
        GENERAL_NAMES_free(names);
        return -EBADMSG;
    }
    plen = (size_t) n;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        const unsigned char *s;
        int len;

        if (g->type != GEN_URI)
            continue;
        s = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
        if (len < (int) sizeof(POSTURE_API_SPIFFE_PREFIX) - 1 ||
            memcmp(s, POSTURE_API_SPIFFE_PREFIX, sizeof(POSTURE_API_SPIFFE_PREFIX) - 1) != 0)
            continue;
        found++;
        if ((size_t) len <= plen || (size_t) len - plen > POSTURE_STORE_DEVICE_ID_MAX ||
            memcmp(s, prefix, plen) != 0) {
            id[0] = '\0';
            continue;
        }
        size_t k = (size_t) len - plen;
        bool ok = true;
        for (size_t j = 0; j < k && ok; j++)
            ok = kid_char_ok(s[plen + j]);
        if (!ok) {
            id[0] = '\0';
            continue;
        }
        memcpy(id, s + plen, k);
        id[k] = '\0';
    }
    GENERAL_NAMES_free(names);
    if (found != 1 || !id[0])
        return -EBADMSG;
    memcpy(ret_id, id, strlen(id) + 1);
    return 0;
}

int posture_api_cert_device_id(const uint8_t *der,
                               size_t der_len,
                               const char *trust_domain,
                               char ret_id[static POSTURE_STORE_DEVICE_ID_MAX + 1])
{
    POSTURE_CLEANUP(X509_freep) X509 *x = NULL;
    const unsigned char *p = der;

    if (!der || der_len == 0 || der_len > POSTURE_HTTP_CERT_DER_MAX || !trust_domain)
        return -EBADMSG;
    x = d2i_X509(NULL, &p, (long) der_len);
    if (!x || p != der + der_len)
        return -EBADMSG;
    return cert_device_id(x, trust_domain, ret_id);
}

static int no_device(struct posture_http_response *resp,
                     unsigned status,
                     const char *type,
                     const char *title,
                     const char *detail)
{
    int r = api_problem(resp, status, type, title, detail);
    if (r >= 0 && status == 401)
        r = posture_http_response_add_header(resp, "WWW-Authenticate",
                                             "Bearer realm=\"posture\", error=\"invalid_token\"");
    return r < 0 ? r : 1;
}

int api_request_device(struct posture_api *api,
                       struct posture_http_request *req,
                       struct posture_http_response *resp,
                       const struct posture_http_identity **ret_identity,
                       struct posture_store_device *ret_device)
{
    const struct posture_http_identity *id = posture_http_request_identity(req);
    POSTURE_CLEANUP(X509_freep) X509 *x = NULL;
    posture_autofree char *thumb = NULL;
    char kid[POSTURE_STORE_DEVICE_ID_MAX + 1];
    struct posture_store_device dev = { 0 };
    const unsigned char *p;
    int r;

    if (!id || id->source != POSTURE_HTTP_IDENTITY_TLS || !id->der || !id->chain_verified)
        return no_device(resp, 401, "no-client-certificate", "No device certificate",
                         "present the device certificate issued at enrolment (TLS client "
                         "certificate)");
    struct api_cert_slot *slot =
        &api->certs[(id->x5t_s256[0] << 8 | id->x5t_s256[1]) % API_CERT_SLOTS];
    bool known;
    (void) pthread_mutex_lock(&api->cert_lock);
    known = slot->used && memcmp(slot->x5t, id->x5t_s256, sizeof(slot->x5t)) == 0;
    if (known)
        memcpy(kid, slot->kid, sizeof(kid));
    (void) pthread_mutex_unlock(&api->cert_lock);
    if (!known) {
        p = id->der;
        x = d2i_X509(NULL, &p, (long) id->der_len);
        if (!x || p != id->der + id->der_len || cert_device_id(x, api->trust_domain, kid) < 0)
            return no_device(resp, 401, "not-a-device-certificate", "Not a device certificate",
                             "the client certificate names no device of this trust domain");
        /* The certificate's key must be the device key it names (kid = RFC 7638
         * thumbprint). */
        r = posture_key_thumbprint(X509_get0_pubkey(x), &thumb);
        if (r == -ENOMEM)
            return r;
        if (r < 0 || strcmp(thumb, kid) != 0)
            return no_device(resp, 401, "not-a-device-certificate", "Not a device certificate",
                             "the certificate's key is not the device key it names");
        /* Remembered by the certificate's bytes: the same bytes always name the same kid. */
        (void) pthread_mutex_lock(&api->cert_lock);
        slot->used = true;
        memcpy(slot->x5t, id->x5t_s256, sizeof(slot->x5t));
        memcpy(slot->kid, kid, sizeof(slot->kid));
        (void) pthread_mutex_unlock(&api->cert_lock);
    }
    r = posture_store_device_get(api->store, kid, &dev);
    if (r == -ENOENT)
        return no_device(resp, 401, "unknown-device", "Unknown device",
                         "no device is enrolled with this certificate's id");
    if (r < 0)
        return r;
    if (dev.status != POSTURE_STORE_DEVICE_ACTIVE) {
        /* revoked by an administrator (maybe in another process): gateways stop admitting it
         * now (403 device-revoked) rather than when its last EAR expires */
        (void) posture_decisions_revoke(api->decisions, kid);
        posture_store_device_done(&dev);
        return no_device(resp, 403, "device-revoked", "Device revoked",
                         "this device was revoked; enrol it again");
    }
    *ret_identity = id;
    *ret_device = dev;
    return 0;
}

/* ---- enrolment --------------------------------------------------------------------------- */

static void enroll_ctx(const struct posture_api *api, struct posture_enroll_ctx *ctx)
{
    *ctx = (struct posture_enroll_ctx){
        .store = api->store,
        .keys = api->vkeys,
        .ek_roots = api->ek_roots,
    };
}

/* A newly enrolled device is known to the view before its first report: /v1/authz answers 403
 * not-appraised instead of 401. Best effort: a failure leaves the 401. */
static void view_enrolled(struct posture_api *api, const cJSON *response)
{
    const char *id = posture_json_get_str(response, "device_id");
    const char *x5t = posture_json_get_str(response, "x5t#S256");
    struct posture_decision_device dev = { .device_id = id };
    char subject[POSTURE_DECISION_SUBJECT_MAX + 1];
    int n;

    if (!id || !x5t || posture_b64url_decode_buf(x5t, strlen(x5t), dev.x5t_s256, 32) != 32)
        return;
    n = snprintf(subject, sizeof(subject), POSTURE_API_SPIFFE_PREFIX "%s/device/%s",
                 api->trust_domain, id);
    if (n < 0 || (size_t) n >= sizeof(subject))
        return;
    dev.subject = subject;
    if (posture_decisions_put(api->decisions, &dev) < 0)
        log_debug("api: decision view: cannot add the enrolled device %s, ignoring", id);
}

static int enroll_answer(struct posture_api *api,
                         struct posture_http_response *resp,
                         enum posture_enroll_reason reason,
                         const cJSON *response)
{
    const char *name = posture_enroll_reason_to_string(reason);

    posture_metrics_counter_inc(api->m_enroll, name);
    if (reason == POSTURE_ENROLL_OK && response) {
        const char *status = posture_json_get_str(response, "status");
        if (status && strcmp(status, "enrolled") == 0)
            view_enrolled(api, response);
        return posture_http_response_set_json(resp, 201, NULL, response);
    }
    {
        const char *detail = posture_enroll_reason_detail(reason);
        return api_problem(resp, (unsigned) posture_enroll_reason_http_status(reason),
                           name ? name : "enroll-refused", "Enrolment refused",
                           detail ? detail : name);
    }
}

/* Rate limits before any parsing (ratelimit.h): the refused attempts of this address, then its
 * requests, then everybody's. Returns 1 when a 429 was answered. */
static int enroll_limited(struct posture_api *api,
                          struct posture_http_request *req,
                          struct posture_http_response *resp,
                          char key[static POSTURE_RATELIMIT_KEY_MAX])
{
    uint64_t now = posture_store_now(api->store);
    uint32_t retry = 0;
    const char *scope = NULL, *detail = NULL;
    char value[16];
    int r;

    posture_ratelimit_client_key(posture_http_request_peer(req), key);
    if (!posture_ratelimit_check(api->rl_enroll_failures, key, now, &retry)) {
        scope = "failures";
        detail = "too many refused enrolment attempts from this address";
    } else if (!posture_ratelimit_take(api->rl_enroll_ip, key, now, &retry)) {
        scope = "ip";
        detail = "too many enrolment requests from this address";
    } else if (!posture_ratelimit_take(api->rl_enroll_global, "", now, &retry)) {
        scope = "global";
        detail = "too many enrolment requests to this verifier";
    }
    if (!scope)
        return 0;
    posture_metrics_counter_inc(api->m_enroll_limited, scope);
    log_debug("api: enrolment from %s rate-limited (%s), retry after %" PRIu32 " s", key, scope,
              retry);
    r = api_problem(resp, 429, "rate-limited", "Too many requests", detail);
    if (r >= 0) {
        (void) snprintf(value, sizeof(value), "%" PRIu32, retry);
        r = posture_http_response_add_header(resp, "Retry-After", value);
    }
    return r < 0 ? r : 1;
}

/* A refused attempt (token, "pop", proof) uses up one of the address's failure tokens. */
static void
enroll_count_failure(struct posture_api *api, const char *key, enum posture_enroll_reason reason)
{
    int status = posture_enroll_reason_http_status(reason);

    if (status == 401 || status == 403)
        (void) posture_ratelimit_take(api->rl_enroll_failures, key, posture_store_now(api->store),
                                      NULL);
}

static int enroll_parse_error(struct posture_api *api, struct posture_http_response *resp, int r)
{
    if (r == -E2BIG) {
        posture_metrics_counter_inc(api->m_enroll, "body-too-large");
        return api_problem(resp, 413, "body-too-large", "Request body too large",
                           "an enrolment request is at most 32 KiB");
    }
    if (r == -EBADMSG || r == -EKEYREJECTED) {
        const char *name = posture_enroll_reason_to_string(POSTURE_ENROLL_REQUEST_MALFORMED);
        posture_metrics_counter_inc(api->m_enroll, name);
        return api_problem(resp, 400, name, "Enrolment refused",
                           r == -EKEYREJECTED ? "jwk is not a P-256 public key"
                                              : "the request is not a valid enrolment request");
    }
    return r;
}

static int
route_enroll(struct posture_http_request *req, struct posture_http_response *resp, void *userdata)
{
    struct posture_api *api = userdata;
    POSTURE_CLEANUP(posture_enroll_request_freep) struct posture_enroll_request *er = NULL;
    posture_auto_cjson cJSON *response = NULL;
    enum posture_enroll_reason reason = POSTURE_ENROLL_REQUEST_MALFORMED;
    struct posture_enroll_ctx ctx;
    char key[POSTURE_RATELIMIT_KEY_MAX];
    const uint8_t *body;
    size_t len = 0;
    int r;

    r = enroll_limited(api, req, resp, key);
    if (r != 0)
        return r < 0 ? r : 0;
    body = posture_http_request_body(req, &len);
    r = posture_enroll_request_parse((const char *) body, len, &er);
    if (r < 0)
        return enroll_parse_error(api, resp, r);
    enroll_ctx(api, &ctx);
    r = posture_enroll_begin(&ctx, er, &reason, &response);
    if (r < 0)
        return r;
    enroll_count_failure(api, key, reason);
    return enroll_answer(api, resp, reason, response);
}

static int route_enroll_activate(struct posture_http_request *req,
                                 struct posture_http_response *resp,
                                 void *userdata)
{
    struct posture_api *api = userdata;
    posture_auto_cjson cJSON *response = NULL;
    enum posture_enroll_reason reason = POSTURE_ENROLL_REQUEST_MALFORMED;
    POSTURE_CLEANUP(posture_enroll_activation_done) struct posture_enroll_activation act = { 0 };
    struct posture_enroll_ctx ctx;
    char key[POSTURE_RATELIMIT_KEY_MAX];
    const uint8_t *body;
    size_t len = 0;
    int r;

    r = enroll_limited(api, req, resp, key);
    if (r != 0)
        return r < 0 ? r : 0;
    body = posture_http_request_body(req, &len);
    r = posture_enroll_activation_parse((const char *) body, len, &act);
    if (r < 0)
        return enroll_parse_error(api, resp, r);
    enroll_ctx(api, &ctx);
    r = posture_enroll_activate(&ctx, &act, &reason, &response);
    if (r < 0)
        return r;
    enroll_count_failure(api, key, reason);
    return enroll_answer(api, resp, reason, response);
}

/* ---- challenge --------------------------------------------------------------------------- */

int api_nonce_issue(struct posture_api *api, const char *device_id, char *buf, size_t size)
{
    uint8_t nonce[POSTURE_STORE_NONCE_SIZE];
    int r;

    r = posture_store_nonce_issue(api->store, device_id,
                                  (uint64_t) POSTURE_API_NONCE_TTL_SEC * POSTURE_STORE_USEC_PER_SEC,
                                  nonce);
    if (r < 0)
        return r;
    r = posture_b64url_encode_buf(nonce, sizeof(nonce), buf, size);
    return r < 0 ? r : 0;
}

static int route_challenge(struct posture_http_request *req,
                           struct posture_http_response *resp,
                           void *userdata)
{
    struct posture_api *api = userdata;
    const struct posture_http_identity *id = NULL;
    struct posture_store_device dev = { 0 };
    posture_auto_cjson cJSON *o = NULL;
    char nonce[64];
    int r;

    r = api_request_device(api, req, resp, &id, &dev);
    if (r != 0) {
        posture_metrics_counter_inc(api->m_challenge, "refused");
        return r < 0 ? r : 0;
    }
    r = api_nonce_issue(api, dev.id, nonce, sizeof(nonce));
    posture_store_device_done(&dev);
    if (r < 0)
        return r;
    posture_metrics_counter_inc(api->m_challenge, "issued");
    o = cJSON_CreateObject();
    if (!o)
        return -ENOMEM;
    r = posture_json_add_str(o, "nonce", nonce);
    if (r >= 0)
        r = posture_json_add_int(o, "expires_in", POSTURE_API_NONCE_TTL_SEC);
    if (r >= 0)
        r = posture_http_response_set_json(resp, 200, NULL, o);
    if (r >= 0)
        r = posture_http_response_add_header(resp, "Cache-Control", "no-store");
    /* also as a header: HEAD /v1/challenge gets the headers only (GATEWAYS.md §2.2) */
    if (r >= 0)
        r = posture_http_response_add_header(resp, "Replay-Nonce", nonce);
    return r;
}

/* ---- the decision view from the store ---------------------------------------------------- */

/* The first failing check's remediation in the EAR's checks extension. */
static void ear_remediation(const cJSON *claims, char *buf, size_t size)
{
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "submods");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(sub, "device");
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(dev, POSTURE_EAR_EXT_CHECKS);
    const cJSON *c;

    if (!buf || size == 0)
        return;
    buf[0] = '\0';
    cJSON_ArrayForEach(c, checks)
    {
        const char *st = posture_json_get_str(c, "status");
        const char *rem = posture_json_get_str(c, "remediation");
        bool report_only = false;

        (void) posture_json_get_bool(c, "report_only", &report_only);
        if (!st || !rem || report_only || (strcmp(st, "fail") != 0 && strcmp(st, "error") != 0))
            continue;
        (void) snprintf(buf, size, "%s", rem);
        return;
    }
}

int posture_api_ear_read(const char *ear,
                         int64_t *ret_expires,
                         char ret_subject[static POSTURE_DECISION_SUBJECT_MAX + 1],
                         uint8_t ret_x5t[static 32],
                         char *ret_remediation,
                         size_t remediation_size)
{
    posture_autofree uint8_t *payload = NULL;
    posture_auto_cjson cJSON *claims = NULL;
    const char *dot1, *dot2, *sub, *x5t;
    uint8_t digest[32];
    size_t len = 0;
    int64_t exp = 0;

    if (!ear || strlen(ear) > POSTURE_STORE_EAR_MAX)
        return -EBADMSG;
    dot1 = strchr(ear, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.'))
        return -EBADMSG;
    if (posture_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), POSTURE_STORE_EAR_MAX, &payload,
                              &len) < 0 ||
        posture_json_parse((const char *) payload, len, POSTURE_STORE_EAR_MAX, 0, &claims) < 0)
        return -EBADMSG;
    sub = posture_json_get_str(claims, "sub");
    x5t = posture_json_get_str(cJSON_GetObjectItemCaseSensitive(claims, "cnf"), "x5t#S256");
    if (posture_json_get_int(claims, "exp", &exp) < 0 || exp <= 0 || !sub ||
        strlen(sub) > POSTURE_DECISION_SUBJECT_MAX || !x5t ||
        posture_b64url_decode_buf(x5t, strlen(x5t), digest, sizeof(digest)) != (int) sizeof(digest))
        return -EBADMSG;
    ear_remediation(claims, ret_remediation, remediation_size);
    *ret_expires = exp;
    memcpy(ret_subject, sub, strlen(sub) + 1);
    memcpy(ret_x5t, digest, sizeof(digest));
    return 0;
}

/* The rows of one device being gathered: every policy's stored appraisal of its latest
 * submission (posture_store_appraisal_foreach_latest_policies gives them one after another). */
struct load_slot {
    char *ear;
    char failed[POSTURE_DECISION_TEXT_MAX + 1];
    char remediation[POSTURE_DECISION_TEXT_MAX + 1];
};

struct load_ctx {
    struct posture_api *api;
    int n;
    char device_id[POSTURE_STORE_DEVICE_ID_MAX + 1]; /* "" before the first row */
    char subject[POSTURE_DECISION_SUBJECT_MAX + 1];
    uint8_t x5t[32];
    uint64_t seq;
    size_t n_entries;
    struct posture_decision_entry entries[POSTURE_DECISION_POLICIES_MAX];
    struct load_slot slots[POSTURE_DECISION_POLICIES_MAX];
};

static void load_reset(struct load_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_entries; i++) {
        free(ctx->slots[i].ear);
        ctx->slots[i].ear = NULL;
    }
    ctx->n_entries = 0;
    ctx->device_id[0] = '\0';
}

/* Put the gathered device into the view (when any of its policies is still loaded as it was). */
static int load_flush(struct load_ctx *ctx)
{
    struct posture_decision_device dev = {
        .device_id = ctx->device_id,
        .subject = ctx->subject,
        .seq = ctx->seq,
        .n_entries = ctx->n_entries,
        .entries = ctx->entries,
    };
    int r = 0;

    if (ctx->device_id[0] && ctx->n_entries > 0) {
        memcpy(dev.x5t_s256, ctx->x5t, sizeof(dev.x5t_s256));
        r = posture_decisions_put(ctx->api->decisions, &dev);
        if (r >= 0)
            ctx->n++;
        else if (r != -ENOMEM) {
            log_debug("api: %s: decision view: %s, skipped", ctx->device_id, posture_errno_name(r));
            r = 0;
        }
    }
    load_reset(ctx);
    return r;
}

/* The failed list cut at an item boundary to what the view holds. */
static void load_failed(const char *reason, char *buf, size_t size)
{
    size_t n = strlen(reason);

    if (n >= size) {
        n = size - 1;
        while (n > 0 && reason[n] != ',')
            n--;
    }
    memcpy(buf, reason, n);
    buf[n] = '\0';
}

static int load_one(const struct posture_store_appraisal *a, void *userdata)
{
    struct load_ctx *ctx = userdata;
    const struct posture_policy *policy =
        ctx->api->policies ? posture_policy_set_find(ctx->api->policies, a->policy_id) : NULL;
    const char *status = posture_store_verdict_to_string(a->verdict);
    char subject[POSTURE_DECISION_SUBJECT_MAX + 1];
    uint8_t x5t[32];
    struct load_slot *slot;
    int r;

    if (strcmp(ctx->device_id, a->device_id) != 0) {
        r = load_flush(ctx);
        if (r < 0)
            return r;
        (void) snprintf(ctx->device_id, sizeof(ctx->device_id), "%s", a->device_id);
        ctx->seq = a->seq;
    }
    /* A policy removed or changed since (another version or other bytes): its old verdict
     * decides nothing now; the device waits for its next report under it (fail closed). */
    if (!policy || !status || strcmp(policy->version, a->policy_version) != 0 ||
        memcmp(policy->digest, a->policy_digest, sizeof(policy->digest)) != 0) {
        log_debug("api: %s: the stored appraisal under policy %s@%s is not of the policy loaded "
                  "now; it waits for the device's next report",
                  a->device_id, a->policy_id, a->policy_version);
        return 0;
    }
    if (ctx->n_entries >= POSTURE_DECISION_POLICIES_MAX)
        return 0;
    slot = &ctx->slots[ctx->n_entries];
    if (posture_api_ear_read(a->ear, &ctx->entries[ctx->n_entries].expires, subject, x5t,
                             slot->remediation, sizeof(slot->remediation)) < 0) {
        log_debug("api: %s: the stored EAR under %s does not parse, skipped", a->device_id,
                  a->policy_id);
        return 0;
    }
    /* Every EAR of one submission names the same device and certificate. */
    if (ctx->n_entries == 0) {
        memcpy(ctx->subject, subject, sizeof(ctx->subject));
        memcpy(ctx->x5t, x5t, sizeof(ctx->x5t));
    } else if (strcmp(ctx->subject, subject) != 0 || memcmp(ctx->x5t, x5t, sizeof(x5t)) != 0) {
        log_debug("api: %s: the stored EAR under %s names another subject, skipped", a->device_id,
                  a->policy_id);
        return 0;
    }
    slot->ear = strdup(a->ear);
    if (!slot->ear)
        return -ENOMEM;
    load_failed(a->reason, slot->failed, sizeof(slot->failed));
    ctx->entries[ctx->n_entries] = (struct posture_decision_entry){
        .policy_id = policy->id,
        .policy_version = policy->version,
        .status = status,
        .allow = posture_policy_allows(policy, (int) a->verdict),
        .expires = ctx->entries[ctx->n_entries].expires,
        .token = slot->ear,
        .failed_checks = slot->failed,
        .remediation = slot->remediation,
    };
    ctx->n_entries++;
    return 0;
}

int posture_api_decisions_load(struct posture_api *api)
{
    struct load_ctx *ctx;
    int n, r;

    if (!api)
        return -EINVAL;
    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return -ENOMEM;
    ctx->api = api;
    r = posture_store_appraisal_foreach_latest_policies(api->store, load_one, ctx);
    if (r >= 0)
        r = load_flush(ctx);
    load_reset(ctx);
    n = ctx->n;
    free(ctx);
    return r < 0 ? r : n;
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int metrics_setup(struct posture_api *api, struct posture_metrics *m)
{
    int r;

    if (!m)
        return 0;
    r = posture_metrics_counter_new(m, "posture_enrollments_total",
                                    "Enrolment requests by outcome (ok or the refusal reason).",
                                    "reason", &api->m_enroll);
    if (r >= 0)
        r = posture_metrics_counter_new(
            m, "posture_enroll_rate_limited_total",
            "Enrolment requests answered 429 by the bucket that was empty (ip, global, failures).",
            "scope", &api->m_enroll_limited);
    if (r >= 0)
        r = posture_metrics_counter_new(m, "posture_challenges_total",
                                        "POST /v1/challenge by result (issued, refused).", "result",
                                        &api->m_challenge);
    if (r >= 0)
        r = posture_metrics_counter_new(m, "posture_submissions_rejected_total",
                                        "Refused posture submissions by reason.", "reason",
                                        &api->m_rejected);
    if (r >= 0)
        r = posture_metrics_counter_new(m, "posture_appraisals_total",
                                        "Recorded appraisals by ear.status (default policy).",
                                        "status", &api->m_appraisal);
    if (r >= 0)
        r = posture_metrics_counter_new(m, "posture_decisions_total",
                                        "Gateway decisions (/v1/authz) by result.", "result",
                                        &api->m_decision);
    if (r >= 0)
        r = posture_metrics_histogram_new(m, "posture_appraisal_seconds",
                                          "Time to appraise a submission (POST /v1/posture).", NULL,
                                          0, &api->m_appraisal_seconds);
    return r;
}

static int bucket_new(
    uint32_t count, double per, uint32_t burst, uint32_t clients, struct posture_ratelimit **ret)
{
    struct posture_ratelimit_opts o = {
        .rate_per_sec = (double) count / per, /* count per "per" seconds */
        .burst = burst ? burst : 1,
        .max_keys = clients ? clients : 1,
    };

    if (count == 0)
        return 0;
    return posture_ratelimit_new(&o, ret);
}

static int enroll_limits_setup(struct posture_api *api, const struct posture_api_enroll_limits *l)
{
    int r;

    if (!l)
        return 0;
    r = bucket_new(l->per_ip_per_min, 60.0, l->per_ip_burst, l->clients_max, &api->rl_enroll_ip);
    if (r >= 0)
        r = bucket_new(l->global_per_min, 60.0, l->global_burst, 1, &api->rl_enroll_global);
    if (r >= 0)
        r = bucket_new(l->failures_per_ip_per_hour, 3600.0, l->failures_per_ip_burst,
                       l->clients_max, &api->rl_enroll_failures);
    return r;
}

int posture_api_new(const struct posture_api_options *opts, struct posture_api **ret)
{
    struct posture_api *api;
    int r;

    if (!opts || !ret || !opts->store || !opts->vkeys || !opts->vkeys->trust_domain ||
        !opts->decisions ||
        (opts->policies && opts->policies->n_policies > POSTURE_DECISION_POLICIES_MAX) ||
        (opts->policies && opts->policies->n_policies > 0 && !opts->default_policy))
        return -EINVAL;
    api = calloc(1, sizeof(*api));
    if (!api)
        return -ENOMEM;
    if (pthread_mutex_init(&api->cert_lock, NULL) != 0) {
        free(api);
        return -ENOMEM;
    }
    /* writer preferred: a stream of gateway requests must not hold a reload off for ever */
    pthread_rwlockattr_t attr;
    bool ok =
        pthread_rwlockattr_init(&attr) == 0 &&
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) == 0 &&
        pthread_rwlock_init(&api->policy_lock, &attr) == 0;
    (void) pthread_rwlockattr_destroy(&attr);
    if (!ok) {
        (void) pthread_mutex_destroy(&api->cert_lock);
        free(api);
        return -ENOMEM;
    }
    api->store = opts->store;
    api->vkeys = opts->vkeys;
    api->ek_roots = opts->ek_roots;
    api->policies = opts->policies;
    api->decisions = opts->decisions;
    api->posture_body_max =
        opts->posture_body_max ? opts->posture_body_max : POSTURE_HTTP_BODY_MAX_DEF * 32;
    if (opts->policies && opts->policies->n_policies > 0) {
        api->default_policy = posture_policy_set_find(opts->policies, opts->default_policy);
        if (!api->default_policy) {
            posture_api_free(api);
            return -EINVAL;
        }
        for (size_t i = 0; i < opts->policies->n_policies; i++)
            api->policy_ids[i] = opts->policies->policies[i]->id;
        api->n_policies = opts->policies->n_policies;
    }
    api->trust_domain = strdup(opts->vkeys->trust_domain);
    if (opts->issuer)
        api->issuer = strdup(opts->issuer);
    else if (api->trust_domain &&
             asprintf(&api->issuer, POSTURE_API_SPIFFE_PREFIX "%s/verifier", api->trust_domain) < 0)
        api->issuer = NULL;
    if (!api->trust_domain || !api->issuer) {
        posture_api_free(api);
        return -ENOMEM;
    }
    r = metrics_setup(api, opts->metrics);
    if (r >= 0)
        r = enroll_limits_setup(api, opts->enroll_limits);
    if (r >= 0 && opts->audit_decisions)
        r = api_audit_new(api->store, opts->metrics, &api->audit);
    api->authz_bearer = opts->authz_bearer;
    if (r >= 0)
        r = posture_dpop_replay_new(opts->dpop_replay_max ? opts->dpop_replay_max
                                                          : POSTURE_DPOP_REPLAY_DEFAULT,
                                    &api->dpop_replay);
    if (r < 0) {
        posture_api_free(api);
        return r;
    }
    *ret = api;
    return 0;
}

struct posture_api *posture_api_free(struct posture_api *api)
{
    if (!api)
        return NULL;
    api_audit_free(api->audit);
    posture_dpop_replay_free(api->dpop_replay);
    posture_ratelimit_free(api->rl_enroll_ip);
    posture_ratelimit_free(api->rl_enroll_global);
    posture_ratelimit_free(api->rl_enroll_failures);
    for (size_t i = 0; i < API_KEY_SLOTS; i++)
        EVP_PKEY_free(api->keys[i].key);
    for (size_t i = 0; i < API_AK_SLOTS; i++)
        api_ak_unref(api->aks[i].ak);
    (void) pthread_mutex_destroy(&api->cert_lock);
    (void) pthread_rwlock_destroy(&api->policy_lock);
    free(api->issuer);
    free(api->trust_domain);
    free(api);
    return NULL;
}

/* ---- reload ------------------------------------------------------------------------------ */

int posture_api_reload(struct posture_api *api,
                       const struct posture_policy_set *policies,
                       const char *default_policy,
                       const struct posture_ekcert_roots *ek_roots)
{
    const struct posture_policy *def = NULL;
    int dropped = 0, k;

    if (!api || (policies && policies->n_policies > POSTURE_DECISION_POLICIES_MAX))
        return -EINVAL;
    if (policies && policies->n_policies > 0) {
        def = default_policy ? posture_policy_set_find(policies, default_policy) : NULL;
        if (!def)
            return -EINVAL;
    }
    (void) pthread_rwlock_wrlock(&api->policy_lock);
    for (size_t i = 0; i < api->n_policies; i++) {
        const struct posture_policy *old = api->policies->policies[i];
        const struct posture_policy *now =
            policies ? posture_policy_set_find(policies, old->id) : NULL;

        if (now && memcmp(now->digest, old->digest, sizeof(old->digest)) == 0)
            continue; /* the same content: its verdicts stand */
        k = posture_decisions_drop_policy(api->decisions, old->id);
        if (k > 0 && dropped <= INT_MAX - k)
            dropped += k;
    }
    api->policies = policies;
    api->default_policy = def;
    api->n_policies = def ? policies->n_policies : 0;
    for (size_t i = 0; i < POSTURE_DECISION_POLICIES_MAX; i++)
        api->policy_ids[i] = i < api->n_policies ? policies->policies[i]->id : NULL;
    api->ek_roots = ek_roots;
    (void) pthread_rwlock_unlock(&api->policy_lock);
    return dropped;
}

void posture_api_set_authz_bearer(struct posture_api *api, bool on)
{
    if (!api)
        return;
    (void) pthread_rwlock_wrlock(&api->policy_lock);
    api->authz_bearer = on;
    (void) pthread_rwlock_unlock(&api->policy_lock);
}

int posture_api_set_enroll_limits(struct posture_api *api,
                                  const struct posture_api_enroll_limits *limits)
{
    struct posture_ratelimit *next[3] = { NULL, NULL, NULL }, *old[3];
    const struct posture_api_enroll_limits *l = limits;
    int r;

    if (!api || !l)
        return -EINVAL;
    /* the same buckets as enroll_limits_setup() */
    r = bucket_new(l->per_ip_per_min, 60.0, l->per_ip_burst, l->clients_max, &next[0]);
    if (r >= 0)
        r = bucket_new(l->global_per_min, 60.0, l->global_burst, 1, &next[1]);
    if (r >= 0)
        r = bucket_new(l->failures_per_ip_per_hour, 3600.0, l->failures_per_ip_burst,
                       l->clients_max, &next[2]);
    if (r < 0) {
        for (size_t i = 0; i < POSTURE_ELEMENTSOF(next); i++)
            posture_ratelimit_free(next[i]);
        return r;
    }
    (void) pthread_rwlock_wrlock(&api->policy_lock);
    old[0] = api->rl_enroll_ip;
    old[1] = api->rl_enroll_global;
    old[2] = api->rl_enroll_failures;
    api->rl_enroll_ip = next[0];
    api->rl_enroll_global = next[1];
    api->rl_enroll_failures = next[2];
    (void) pthread_rwlock_unlock(&api->policy_lock);
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(old); i++)
        posture_ratelimit_free(old[i]);
    return 0;
}

/* Every route runs with the policies and EK roots held (see posture_api_reload()). */
static int locked(posture_http_handler_fn fn,
                  struct posture_http_request *req,
                  struct posture_http_response *resp,
                  void *userdata)
{
    struct posture_api *api = userdata;
    int r;

    (void) pthread_rwlock_rdlock(&api->policy_lock);
    r = fn(req, resp, userdata);
    (void) pthread_rwlock_unlock(&api->policy_lock);
    return r;
}

static int
locked_enroll(struct posture_http_request *req, struct posture_http_response *resp, void *userdata)
{
    return locked(route_enroll, req, resp, userdata);
}

static int locked_enroll_activate(struct posture_http_request *req,
                                  struct posture_http_response *resp,
                                  void *userdata)
{
    return locked(route_enroll_activate, req, resp, userdata);
}

static int locked_challenge(struct posture_http_request *req,
                            struct posture_http_response *resp,
                            void *userdata)
{
    return locked(route_challenge, req, resp, userdata);
}

static int
locked_posture(struct posture_http_request *req, struct posture_http_response *resp, void *userdata)
{
    return locked(api_route_posture, req, resp, userdata);
}

static int
locked_authz(struct posture_http_request *req, struct posture_http_response *resp, void *userdata)
{
    return locked(api_route_authz, req, resp, userdata);
}

static int add_routes(struct posture_api *api, struct posture_http_server *srv)
{
    const struct posture_http_route routes[] = {
        { .methods = POSTURE_HTTP_POST,
          .path = "/v1/enroll",
          .listeners = POSTURE_HTTP_ON_AGENTS,
          .handler = locked_enroll,
          .userdata = api },
        { .methods = POSTURE_HTTP_POST,
          .path = "/v1/enroll/activate",
          .listeners = POSTURE_HTTP_ON_AGENTS,
          .handler = locked_enroll_activate,
          .userdata = api },
        { .methods = POSTURE_HTTP_POST | POSTURE_HTTP_HEAD,
          .path = "/v1/challenge",
          .listeners = POSTURE_HTTP_ON_AGENTS,
          .handler = locked_challenge,
          .userdata = api },
        { .methods = POSTURE_HTTP_POST,
          .path = "/v1/posture",
          .body_max = api->posture_body_max,
          .listeners = POSTURE_HTTP_ON_AGENTS,
          .handler = locked_posture,
          .userdata = api },
        /* a prefix route matches /v1/authz itself and /v1/authz/<anything> */
        { .methods = POSTURE_HTTP_ANY,
          .path = "/v1/authz",
          .prefix = true,
          .listeners = POSTURE_HTTP_ON_GATEWAYS,
          .handler = locked_authz,
          .userdata = api },
    };
    int r;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        r = posture_http_server_add_route(srv, &routes[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

int posture_api_add_routes(struct posture_api *api, struct posture_http_server *srv)
{
    if (!api || !srv)
        return -EINVAL;
    return add_routes(api, srv);
}
