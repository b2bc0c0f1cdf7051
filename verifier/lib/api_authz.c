/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ANY /v1/authz[/...] (DESIGN.md §8, GATEWAYS.md §2.4-2.5): the gateway decision, answered from
 * the in-memory decision view only (never the store). The identity is the client certificate a
 * trusted gateway forwarded (or its SHA-256: the view is keyed by x5t#S256); the policy is
 * ?policy=NAME (on /v1/authz only) or the path /v1/authz/policy/NAME[/...], else the
 * default.
 *
 * Without a forwarded certificate (that path comes first and is unchanged), the token paths of
 * GATEWAYS.md §2.4 (dpop.h): "Authorization: DPoP <EAR>" with a "DPoP: <proof>" header for the
 * original request (§2.3), or "Authorization: Bearer <EAR>" when [authz] bearer allows it. The
 * EAR names the device; the answer is the view's current decision for it, never the EAR's own
 * verdict. A refused token answers 401 with WWW-Authenticate: DPoP error="invalid_token" or
 * "invalid_dpop_proof" and nothing about which check failed (that goes to the debug log). A
 * 200 on the DPoP path is Cache-Control: no-store: each proof is for one request, and a cached
 * answer keyed by it would let a replay past the jti check.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "posture/b64url.h"
#include "posture/log.h"

#include "api_int.h"

static const char *result_name(unsigned status)
{
    switch (status) {
    case 200:
        return "allow";
    case 401:
        return "unauthenticated";
    case 403:
        return "deny";
    default:
        return "unavailable";
    }
}

static int add_if(struct posture_http_response *resp, const char *name, const char *value)
{
    if (!value[0])
        return 0;
    return posture_http_response_add_header(resp, name, value);
}

/* The decision's audit row. Only known policy ids go into the row (the query is the client's
 * text); the subject is the device id, "" when the certificate is nobody's. */
static void audit(struct posture_api *api,
                  const struct posture_http_identity *id,
                  const char *policy,
                  const struct posture_authz *a)
{
    char detail[API_AUDIT_DETAIL_MAX], x5t[POSTURE_VKEYS_X5T_LEN + 1] = "";
    const char *subject = "";
    size_t plen = strlen(POSTURE_API_SPIFFE_PREFIX) + strlen(api->trust_domain) + 8;
    bool known = false;

    for (size_t i = 0; policy && i < api->n_policies && !known; i++)
        known = strcmp(api->policy_ids[i], policy) == 0;
    if (strlen(a->x_device_id) > plen)
        subject = a->x_device_id + plen; /* spiffe://<td>/device/<kid> */
    if (id)
        (void) posture_b64url_encode_buf(id->x5t_s256, sizeof(id->x5t_s256), x5t, sizeof(x5t));
    (void) snprintf(detail, sizeof(detail),
                    "{\"policy\":\"%s\",\"result\":\"%s\",\"status\":%u,\"x_status\":\"%s\","
                    "\"x5t\":\"%s\"}",
                    known ? policy : "", result_name(a->status), a->status, a->x_status, x5t);
    api_audit_add(api->audit, subject, detail);
}

static const char *header_set(const struct posture_http_request *req, const char *name)
{
    const char *v = posture_http_request_header(req, name);
    return v && v[0] ? v : NULL;
}

#define POLICY_PREFIX "/v1/authz/policy/"
#define POLICY_ID_MAX 64

/* The policy a path names: /v1/authz/policy/<id>, or /v1/authz/policy/<id>/<anything> (Envoy
 * appends the client's path to its path_prefix). Returns the length of "/v1/authz/policy/<id>"
 * with the id copied to buf, or 0 when the path names none (an empty or overlong id). */
static size_t path_policy(const char *path, char buf[static POLICY_ID_MAX + 1])
{
    size_t n = strlen(POLICY_PREFIX), len;

    if (!path || strncmp(path, POLICY_PREFIX, n) != 0)
        return 0;
    len = strcspn(path + n, "/");
    if (len == 0 || len > POLICY_ID_MAX)
        return 0;
    memcpy(buf, path + n, len);
    buf[len] = '\0';
    return n + len;
}

/* The original request (GATEWAYS.md §2.3). X-Forwarded-* and X-Original-URI only from a
 * trusted gateway (a trusted gateway must send X-Forwarded-Proto); below /v1/authz/envoy/ (the
 * path_prefix of packaging/gateways/envoy.yaml), else below /v1/authz/, the path is Envoy's
 * original path. Any other peer's original request is its own. Unknown parts are "", which no
 * htu matches. */
static void original_request(const struct posture_http_request *req, struct posture_dpop_http *h)
{
    const char *path = posture_http_request_path(req);
    const char *own = path ? path : "";
    const char *const prefixes[] = { "/v1/authz/envoy", "/v1/authz" };
    char id[POLICY_ID_MAX + 1];
    size_t skip = path_policy(own, id);
    const char *v;

    h->method = posture_http_request_method(req);
    h->scheme = "http"; /* the gateway listener is plain HTTP */
    h->host = posture_http_request_header(req, "Host");
    h->path = own;
    if (posture_http_request_peer_trusted(req)) {
        if ((v = header_set(req, "X-Forwarded-Method")))
            h->method = v;
        h->scheme = header_set(req, "X-Forwarded-Proto");
        if ((v = header_set(req, "X-Forwarded-Host")))
            h->host = v;
        h->path = header_set(req, "X-Forwarded-Uri");
        if (!h->path && skip > 0 && own[skip] == '/')
            h->path = own + skip;
        for (size_t i = 0; !h->path && i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
            size_t n = strlen(prefixes[i]);
            if (strncmp(own, prefixes[i], n) == 0 && own[n] == '/')
                h->path = own + n;
        }
        if (!h->path)
            h->path = header_set(req, "X-Original-URI");
    }
    h->method = h->method ? h->method : "";
    h->scheme = h->scheme ? h->scheme : "";
    h->host = h->host ? h->host : "";
    h->path = h->path ? h->path : "";
}

/* The device of a token path: 0 with ret_id set, 1 refused (*ret_challenge set), or a negative
 * errno (-ENOSPC: the replay cache is full). */
static int token_device(struct posture_api *api,
                        const struct posture_http_request *req,
                        enum posture_dpop_scheme scheme,
                        const char *token,
                        size_t len,
                        int64_t now,
                        char ret_id[static POSTURE_STORE_DEVICE_ID_MAX + 1],
                        const char **ret_challenge)
{
    EVP_PKEY *keys[] = { api->vkeys->signing_key };
    const char *kids[] = { api->vkeys->signing_kid };
    struct posture_dpop_ear ear;
    struct posture_dpop_http http;
    const char *proof;
    int r, reason = POSTURE_DPOP_OK;

    *ret_challenge = POSTURE_DPOP_CHALLENGE_TOKEN;
    if (scheme == POSTURE_DPOP_SCHEME_OTHER ||
        (scheme == POSTURE_DPOP_SCHEME_BEARER && !api->authz_bearer)) {
        log_debug("authz: %s: %s refused", posture_http_request_peer(req),
                  scheme == POSTURE_DPOP_SCHEME_OTHER ? "an Authorization of another scheme"
                                                      : "a Bearer token ([authz] bearer = no)");
        return 1;
    }
    r = posture_dpop_ear_verify(token, len,
                                &(struct posture_dpop_ear_opts){
                                    .keys = keys,
                                    .kids = kids,
                                    .n_keys = 1,
                                    .issuer = api->issuer,
                                    .trust_domain = api->trust_domain,
                                    .require_jkt = scheme == POSTURE_DPOP_SCHEME_DPOP,
                                    .now = now,
                                },
                                &reason, &ear);
    if (r == 0 && scheme == POSTURE_DPOP_SCHEME_DPOP) {
        original_request(req, &http);
        proof = posture_http_request_header(req, "DPoP");
        r = posture_dpop_proof_verify(proof, proof ? strlen(proof) : 0,
                                      &(struct posture_dpop_proof_opts){
                                          .http = &http,
                                          .ear = token,
                                          .ear_len = len,
                                          .jkt = ear.jkt,
                                          .now = now,
                                          .replay = api->dpop_replay,
                                      },
                                      &reason);
    }
    if (r == -EBADMSG) {
        log_debug("authz: %s: %s token refused: %s", posture_http_request_peer(req),
                  scheme == POSTURE_DPOP_SCHEME_DPOP ? "DPoP" : "Bearer",
                  posture_dpop_reason_to_string(reason));
        if (posture_dpop_reason_is_proof(reason))
            *ret_challenge = POSTURE_DPOP_CHALLENGE_PROOF;
        return 1;
    }
    if (r < 0)
        return r;
    memcpy(ret_id, ear.device_id, strlen(ear.device_id) + 1);
    return 0;
}

#define PROBLEM_INVALID_TOKEN                                                                   \
    "{\"type\":\"urn:posture:problem:invalid-token\",\"title\":\"The credential was refused\"," \
    "\"status\":401}"

/* The token paths, into a. */
static void authz_token(struct posture_api *api,
                        const struct posture_http_request *req,
                        const char *authorization,
                        const char *policy,
                        int64_t now,
                        struct posture_authz *a)
{
    char device_id[POSTURE_STORE_DEVICE_ID_MAX + 1];
    const char *challenge = POSTURE_DPOP_CHALLENGE_TOKEN;
    const char *token = NULL;
    size_t len = 0;
    enum posture_dpop_scheme scheme = posture_dpop_authorization(authorization, &token, &len);
    int r = token_device(api, req, scheme, token, len, now, device_id, &challenge);

    if (r == 0) {
        posture_decisions_authz_device(api->decisions, device_id, policy, api->policy_ids,
                                       api->n_policies, now, a);
        if (a->status == 401) { /* a device the view does not have: as any refused token */
            (void) snprintf(a->www_authenticate, sizeof(a->www_authenticate), "%s",
                            POSTURE_DPOP_CHALLENGE_TOKEN);
            (void) snprintf(a->problem, sizeof(a->problem), "%s", PROBLEM_INVALID_TOKEN);
        }
        if (a->status == 200 && scheme == POSTURE_DPOP_SCHEME_DPOP)
            (void) snprintf(a->cache_control, sizeof(a->cache_control), "no-store");
        return;
    }
    *a = (struct posture_authz){ .status = r > 0 ? 401 : 503 };
    (void) snprintf(a->cache_control, sizeof(a->cache_control), "no-store");
    if (r > 0) {
        (void) snprintf(a->www_authenticate, sizeof(a->www_authenticate), "%s", challenge);
        (void) snprintf(a->problem, sizeof(a->problem), "%s", PROBLEM_INVALID_TOKEN);
    } else {
        log_debug("authz: %s: cannot check the token: %s", posture_http_request_peer(req),
                  strerror(-r));
        (void) snprintf(a->problem, sizeof(a->problem), "%s",
                        "{\"type\":\"urn:posture:problem:unavailable\","
                        "\"title\":\"The credential cannot be checked now\",\"status\":503}");
    }
}

int api_route_authz(struct posture_http_request *req,
                    struct posture_http_response *resp,
                    void *userdata)
{
    struct posture_api *api = userdata;
    const struct posture_http_identity *id = posture_http_request_identity(req);
    const char *path = posture_http_request_path(req);
    const char *authorization = posture_http_request_header(req, "Authorization");
    const char *policy = NULL;
    char path_id[POLICY_ID_MAX + 1];
    struct posture_authz *a;
    int r = 0;

    /* The policy comes from the URL the gateway writes, never from a request header: Traefik,
     * Caddy and HAProxy's Lua actions copy the client's headers to us. ?policy= only on
     * /v1/authz itself: below /v1/authz/ a gateway may append the client's own path and query
     * (Envoy's path_prefix), so there only the /v1/authz/policy/<id> form counts, whose first
     * segments the gateway writes. */
    if (path && strcmp(path, "/v1/authz") == 0)
        policy = posture_http_request_query(req, "policy");
    else if (path_policy(path, path_id) > 0)
        policy = path_id;
    if ((!policy || !policy[0]) && api->default_policy)
        policy = api->default_policy->id;

    /* ~6 KiB: off the worker's stack */
    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    /* The forwarded certificate first (a refused one is no fallback to a token), then tokens. */
    if (id || posture_http_request_identity_error(req) || !authorization)
        posture_decisions_authz(api->decisions, id ? id->x5t_s256 : NULL, policy, api->policy_ids,
                                api->n_policies, api_now(api), a);
    else
        authz_token(api, req, authorization, policy, api_now(api), a);
    posture_metrics_counter_inc(api->m_decision, result_name(a->status));
    if (api->audit)
        audit(api, id, policy, a);

    posture_http_response_set_status(resp, a->status);
    if (a->status == 200) {
        /* every header, every time (GATEWAYS.md §2.5) */
        r = posture_http_response_add_header(resp, "X-Posture-Status", a->x_status);
        if (r >= 0)
            r = posture_http_response_add_header(resp, "X-Posture-Device-Id", a->x_device_id);
        if (r >= 0)
            r = posture_http_response_add_header(resp, "X-Posture-Policy", a->x_policy);
        if (r >= 0)
            r = posture_http_response_add_header(resp, "X-Posture-Expires", a->x_expires);
        if (r >= 0)
            r = posture_http_response_add_header(resp, "X-Posture-Token", a->x_token);
    } else {
        r = add_if(resp, "X-Posture-Status", a->x_status);
        if (r >= 0)
            r = add_if(resp, "X-Posture-Device-Id", a->x_device_id);
        if (r >= 0)
            r = add_if(resp, "X-Posture-Policy", a->x_policy);
        if (r >= 0)
            r = add_if(resp, "WWW-Authenticate", a->www_authenticate);
        if (r >= 0 && a->problem[0])
            r = posture_http_response_set_body(resp, "application/problem+json", a->problem,
                                               strlen(a->problem));
    }
    if (r >= 0)
        r = add_if(resp, "Cache-Control", a->cache_control[0] ? a->cache_control : "no-store");
    free(a);
    return r;
}
