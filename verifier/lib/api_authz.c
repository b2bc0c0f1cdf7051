/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ANY /v1/authz[/...] (DESIGN.md §8, GATEWAYS.md §2.4-2.5): the gateway decision, answered from
 * the in-memory decision view only (never the store). The identity is the client certificate a
 * trusted gateway forwarded (or its SHA-256: the view is keyed by x5t#S256); the policy is
 * ?policy=NAME (on /v1/authz only), else a trusted gateway's X-Posture-Policy header, else the
 * default.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "posture/b64url.h"

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

int api_route_authz(struct posture_http_request *req,
                    struct posture_http_response *resp,
                    void *userdata)
{
    struct posture_api *api = userdata;
    const struct posture_http_identity *id = posture_http_request_identity(req);
    const char *path = posture_http_request_path(req);
    const char *policy = NULL;
    struct posture_authz *a;
    int r = 0;

    /* ?policy= only on /v1/authz itself, whose URL the gateway writes (nginx, Traefik, Caddy,
     * HAProxy). Below /v1/authz/ the gateway appends the client's own path and query (Envoy's
     * path_prefix): a client must not pick its policy there. */
    if (path && strcmp(path, "/v1/authz") == 0)
        policy = posture_http_request_query(req, "policy");
    if (!policy && posture_http_request_peer_trusted(req))
        policy = posture_http_request_header(req, "X-Posture-Policy");
    if ((!policy || !policy[0]) && api->default_policy)
        policy = api->default_policy->id;

    /* ~6 KiB: off the worker's stack */
    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    posture_decisions_authz(api->decisions, id ? id->x5t_s256 : NULL, policy, api->policy_ids,
                            api->n_policies, api_now(api), a);
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
