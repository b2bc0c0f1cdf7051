/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API routes (api.h) in process: a real HTTP server (TLS on the agent listener, client
 * certificates from the verifier's device CA) with a store on an injected clock. Enrolment,
 * challenge, submission (201, duplicate, used/unknown/expired nonce with Replay-Nonce, a forged
 * signature, a malformed body), the certificate rules (no certificate, a certificate whose key
 * is not the device it names, a revoked device), the gateway decision (200 with every header,
 * 403, 401, 503, policy by query and header) and the view rebuilt from the store; the device id
 * of a certificate and the EAR reader on good and bad input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "posture/b64url.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"

#include "api.h"
#include "ear.h"
#include "http_test_certs.h"
#include "testlib.h"

#define TD "test.example"

static const char policy_open[] =
    "{\"id\":\"p-open\",\"version\":\"1\",\"checks\":{\"os.release\":{\"required\":true,"
    "\"remediation\":\"install os-release\","
    "\"evidence\":[{\"path\":\"/id\",\"op\":\"ne\",\"value\":\"\"}]}}}";
static const char policy_hw[] =
    "{\"id\":\"p-hw\",\"version\":\"2\",\"allow_warning\":false,"
    "\"device\":{\"trust_tier\":\"hardware\"},\"checks\":{\"os.release\":{\"required\":true,"
    "\"evidence\":[{\"path\":\"/id\",\"op\":\"ne\",\"value\":\"\"}]}}}";

/* p-hw as edited after the device's appraisal */
static const char policy_hw_v3[] =
    "{\"id\":\"p-hw\",\"version\":\"3\",\"allow_warning\":false,"
    "\"device\":{\"trust_tier\":\"hardware\"},\"checks\":{\"os.release\":{\"required\":true,"
    "\"evidence\":[{\"path\":\"/id\",\"op\":\"ne\",\"value\":\"\"}]}}}";

static uint64_t clock_usec;

static uint64_t fake_clock(void *userdata)
{
    (void) userdata;
    return clock_usec;
}

static int64_t now_sec(void)
{
    return (int64_t) (clock_usec / 1000000);
}

struct fixture {
    char *dir;
    struct posture_store *store;
    struct posture_vkeys *vkeys;
    struct posture_policy_set *set;
    struct posture_decisions *view;
    struct posture_metrics *metrics;
    struct posture_api *api;
    struct posture_http_server *srv;
    struct tcert server;
    uint16_t agents, gateways;
    /* the device */
    EVP_PKEY *key;
    char *kid;
    X509 *cert;
    uint8_t cert_sha256[32];
};

static struct posture_policy *policy(const char *json)
{
    struct posture_policy *p = NULL;
    char err[POSTURE_POLICY_ERROR_MAX];

    if (posture_policy_parse("p.json", json, strlen(json), &p, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    return p;
}

static uint16_t port_of(struct posture_http_server *srv, enum posture_http_listener l)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;

    assert_int_equal(posture_http_server_address(srv, l, &ss, &len), 0);
    return ntohs(((struct sockaddr_in *) &ss)->sin_port);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct tcert ca = { 0 };
    char path[512];
    char *const trusted[] = { (char *) "127.0.0.1/32", NULL };

    assert_non_null(f);
    clock_usec = (uint64_t) time(NULL) * 1000000;
    f->dir = posture_test_mkdtemp();
    (void) snprintf(path, sizeof(path), "%s/store.db", f->dir);
    struct posture_store_options so = { .clock = fake_clock };
    assert_int_equal(posture_store_open(path, &so, &f->store), 0);
    (void) snprintf(path, sizeof(path), "%s/state", f->dir);
    assert_int_equal(posture_vkeys_open(path, TD, true, &f->vkeys), 0);

    f->set = calloc(1, sizeof(*f->set));
    assert_non_null(f->set);
    f->set->policies =
        calloc(2, sizeof(struct posture_policy *)); /* NOLINT: an array of pointers */
    assert_non_null(f->set->policies);
    f->set->policies[0] = policy(policy_open);
    f->set->policies[1] = policy(policy_hw);
    f->set->n_policies = 2;
    assert_int_equal(posture_decisions_new(64, &f->view), 0);
    assert_int_equal(posture_metrics_new(&f->metrics), 0);
    struct posture_api_options ao = {
        .store = f->store,
        .vkeys = f->vkeys,
        .policies = f->set,
        .default_policy = "p-open",
        .decisions = f->view,
        .metrics = f->metrics,
        .audit_decisions = true,
    };
    assert_int_equal(posture_api_new(&ao, &f->api), 0);

    tcert_make(&ca, "server ca", TCERT_CA, NULL);
    tcert_make(&f->server, "localhost", TCERT_SERVER, &ca);
    tcert_free(&ca);
    struct posture_http_options ho = {
        .agents = "127.0.0.1:0",
        .gateways = "127.0.0.1:0",
        .tls_cert_pem = f->server.pem,
        .tls_key_pem = f->server.key_pem,
        .client_ca_pem = f->vkeys->ca_pem,
        .trusted_gateways = trusted,
        .threads = 2,
        .metrics = f->metrics,
    };
    assert_int_equal(posture_http_server_new(&ho, &f->srv), 0);
    assert_int_equal(posture_api_add_routes(f->api, f->srv), 0);
    assert_int_equal(posture_http_server_start(f->srv), 0);
    f->agents = port_of(f->srv, POSTURE_HTTP_LISTENER_AGENTS);
    f->gateways = port_of(f->srv, POSTURE_HTTP_LISTENER_GATEWAYS);

    f->key = EVP_EC_gen("P-256");
    assert_non_null(f->key);
    assert_int_equal(posture_key_thumbprint(f->key, &f->kid), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    posture_http_server_free(f->srv);
    posture_api_free(f->api);
    posture_decisions_free(f->view);
    posture_metrics_free(f->metrics);
    posture_policy_set_free(f->set);
    posture_vkeys_free(f->vkeys);
    posture_store_free(f->store);
    tcert_free(&f->server);
    EVP_PKEY_free(f->key);
    X509_free(f->cert);
    free(f->kid);
    (void) posture_test_rmdir_r(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- a small HTTP client (raw sockets; OpenSSL for TLS) -------------------------------- */

struct answer {
    int status;
    char raw[65536];
    const char *body;
};

/* One request with Connection: close. cert/key: the TLS client certificate (NULL: none);
 * tls false: the plain gateway listener. extra: more header lines ("Name: v\r\n"). */
static void http(struct fixture *f,
                 bool tls,
                 X509 *cert,
                 EVP_PKEY *key,
                 const char *method,
                 const char *path,
                 const char *extra,
                 const char *body,
                 struct answer *a)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    char *req = NULL;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    size_t len = 0;
    int fd, n;

    a->status = -1;
    a->raw[0] = '\0';
    a->body = "";
    n = asprintf(&req,
                 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 method, path, extra ? extra : "", body ? strlen(body) : 0, body ? body : "");
    assert_true(n > 0);
    sin.sin_port = htons(tls ? f->agents : f->gateways);
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr), 1);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    if (tls) {
        ctx = SSL_CTX_new(TLS_client_method());
        assert_non_null(ctx);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        if (cert) {
            assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
            assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
        }
        ssl = SSL_new(ctx);
        assert_non_null(ssl);
        assert_int_equal(SSL_set_fd(ssl, fd), 1);
        assert_int_equal(SSL_connect(ssl), 1);
        assert_true(SSL_write(ssl, req, (int) strlen(req)) > 0);
        while (len + 1 < sizeof(a->raw)) {
            n = SSL_read(ssl, a->raw + len, (int) (sizeof(a->raw) - 1 - len));
            if (n <= 0)
                break;
            len += (size_t) n;
        }
    } else {
        assert_true(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t) strlen(req));
        while (len + 1 < sizeof(a->raw)) {
            ssize_t r = recv(fd, a->raw + len, sizeof(a->raw) - 1 - len, 0);
            if (r <= 0)
                break;
            len += (size_t) r;
        }
    }
    a->raw[len] = '\0';
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    (void) close(fd);
    free(req);
    if (strncmp(a->raw, "HTTP/1.1 ", 9) == 0)
        a->status = (int) strtol(a->raw + 9, NULL, 10);
    const char *b = strstr(a->raw, "\r\n\r\n");
    if (b)
        a->body = b + 4;
}

/* A response header's value (copied into buf), or NULL. */
static const char *header(const struct answer *a, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);

    for (const char *p = strstr(a->raw, "\r\n"); p && p < a->body; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 2 + n + 1, *e;
            while (*v == ' ')
                v++;
            e = strstr(v, "\r\n");
            (void) snprintf(buf, size, "%.*s", (int) (e - v), v);
            return buf;
        }
    }
    return NULL;
}

static cJSON *body_json(const struct answer *a)
{
    cJSON *j = NULL;

    assert_int_equal(posture_json_parse(a->body, strlen(a->body), 65536, 16, &j), 0);
    return j;
}

/* ---- the device side ------------------------------------------------------------------- */

static void enroll(struct fixture *f)
{
    uint8_t token[POSTURE_STORE_TOKEN_SIZE];
    char token_text[64], *body = NULL;
    cJSON *req = cJSON_CreateObject(), *jwk = NULL, *resp;
    struct answer *a = malloc(sizeof(*a));
    BIO *b;

    assert_non_null(a);
    assert_int_equal(
        posture_store_token_create(f->store, 3600 * POSTURE_STORE_USEC_PER_SEC, NULL, token, NULL),
        0);
    assert_true(posture_b64url_encode_buf(token, sizeof(token), token_text, sizeof(token_text)) >
                0);
    assert_int_equal(posture_key_jwk(f->key, &jwk), 0);
    assert_int_equal(posture_json_add_str(req, "token", token_text), 0);
    assert_int_equal(posture_json_add_item(req, "jwk", jwk), 0);
    {
        /* the proof of possession of the device key (enroll.h) */
        uint8_t h[32];
        char h_text[64], *claims = NULL, *pop = NULL;
        int64_t t = (int64_t) (clock_usec / 1000000);

        SHA256(token, sizeof(token), h);
        assert_true(posture_b64url_encode_buf(h, sizeof(h), h_text, sizeof(h_text)) > 0);
        assert_true(asprintf(&claims,
                             "{\"aud\":\"https://verifier.test\",\"iat\":%lld,\"exp\":%lld,"
                             "\"token_sha256\":\"%s\"}",
                             (long long) t, (long long) t + 60, h_text) > 0);
        assert_int_equal(
            posture_jws_sign(f->key, POSTURE_JWS_TYP_ENROLL, claims, strlen(claims), &pop), 0);
        assert_int_equal(posture_json_add_str(req, "pop", pop), 0);
        free(claims);
        free(pop);
    }
    assert_int_equal(posture_json_print(req, false, &body), 0);
    http(f, true, NULL, NULL, "POST", "/v1/enroll", NULL, body, a);
    assert_int_equal(a->status, 201);
    resp = body_json(a);
    assert_string_equal(posture_json_get_str(resp, "device_id"), f->kid);
    const char *pem = posture_json_get_str(resp, "certificate");
    assert_non_null(pem);
    b = BIO_new_mem_buf(pem, -1);
    f->cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    assert_non_null(f->cert);
    BIO_free(b);
    unsigned n = 0;
    assert_int_equal(X509_digest(f->cert, EVP_sha256(), f->cert_sha256, &n), 1);

    /* the same token again: 401 enroll-token-used */
    http(f, true, NULL, NULL, "POST", "/v1/enroll", NULL, body, a);
    assert_int_equal(a->status, 401);
    assert_non_null(strstr(a->body, "urn:posture:problem:enroll-token-used"));
    /* malformed: 400 */
    http(f, true, NULL, NULL, "POST", "/v1/enroll", NULL, "{\"token\":1}", a);
    assert_int_equal(a->status, 400);
    assert_non_null(strstr(a->body, "enroll-request-malformed"));

    cJSON_Delete(resp);
    cJSON_Delete(req);
    free(body);
    free(a);
}

static void challenge(struct fixture *f, char *nonce, size_t size)
{
    struct answer *a = malloc(sizeof(*a));
    cJSON *j;
    int64_t exp = 0;

    assert_non_null(a);
    http(f, true, f->cert, f->key, "POST", "/v1/challenge", NULL, NULL, a);
    assert_int_equal(a->status, 200);
    j = body_json(a);
    assert_int_equal(posture_json_get_int(j, "expires_in", &exp), 0);
    assert_int_equal(exp, 120);
    assert_true(strlen(posture_json_get_str(j, "nonce")) == 43);
    (void) snprintf(nonce, size, "%s", posture_json_get_str(j, "nonce"));
    {
        char h[64];
        assert_string_equal(header(a, "Replay-Nonce", h, sizeof(h)), nonce);
    }
    cJSON_Delete(j);
    free(a);
}

/* The submission body {"report": <JWS>} of a report with this nonce and seq. */
static char *submission(struct fixture *f, const char *nonce, int64_t seq, bool forge)
{
    cJSON *c = cJSON_CreateObject(), *p = cJSON_CreateObject(), *checks = cJSON_CreateArray();
    cJSON *r = cJSON_CreateObject(), *ev = cJSON_CreateObject(), *body = cJSON_CreateObject();
    char *payload = NULL, *jws = NULL, *out = NULL;

    assert_int_equal(posture_json_add_str(ev, "id", "debian"), 0);
    assert_int_equal(posture_json_add_str(r, "id", "os.release"), 0);
    assert_int_equal(posture_json_add_str(r, "status", "pass"), 0);
    assert_int_equal(posture_json_add_int(r, "observed_at", now_sec()), 0);
    assert_int_equal(posture_json_add_item(r, "evidence", ev), 0);
    assert_int_equal(posture_json_append(checks, r), 0);
    assert_int_equal(posture_json_add_item(p, "checks", checks), 0);
    assert_int_equal(posture_json_add_str(c, "iss", f->kid), 0);
    assert_int_equal(posture_json_add_str(c, "sub", f->kid), 0);
    assert_int_equal(posture_json_add_str(c, "aud", "posture-verifier"), 0);
    assert_int_equal(posture_json_add_int(c, "iat", now_sec()), 0);
    assert_int_equal(posture_json_add_int(c, "exp", now_sec() + 120), 0);
    assert_int_equal(posture_json_add_int(c, "seq", seq), 0);
    if (nonce)
        assert_int_equal(posture_json_add_str(c, "eat_nonce", nonce), 0);
    assert_int_equal(posture_json_add_item(c, "posture", p), 0);
    assert_int_equal(posture_json_print(c, false, &payload), 0);
    assert_int_equal(
        posture_jws_sign(f->key, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), &jws), 0);
    if (forge) {
        char *last = strrchr(jws, '.') + 1;
        last[0] = last[0] == 'A' ? 'B' : 'A';
    }
    assert_int_equal(posture_json_add_str(body, "report", jws), 0);
    assert_int_equal(posture_json_print(body, false, &out), 0);
    cJSON_Delete(c);
    cJSON_Delete(body);
    free(payload);
    free(jws);
    return out;
}

static void authz(struct fixture *f, const char *query, const char *extra, struct answer *a)
{
    char hex[65], hdr[512], path[256];

    tcert_hex(f->cert_sha256, 32, false, hex);
    (void) snprintf(hdr, sizeof(hdr), "X-Client-Cert-Fp: %s\r\n%s", hex, extra ? extra : "");
    (void) snprintf(path, sizeof(path), "/v1/authz%s", query ? query : "");
    http(f, false, NULL, NULL, "GET", path, hdr, NULL, a);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_flow(void **state)
{
    struct fixture *f = *state;
    struct answer *a = malloc(sizeof(*a));
    char nonce[64], nonce2[64], buf[4096], *sub = NULL, *sub2 = NULL, *ear = NULL;
    cJSON *j;

    assert_non_null(a);
    enroll(f);
    /* enrolled, not appraised: the view knows the device (403 not-appraised) */
    authz(f, NULL, NULL, a);
    assert_int_equal(a->status, 403);
    assert_non_null(strstr(a->body, "not-appraised"));

    challenge(f, nonce, sizeof(nonce));
    sub = submission(f, nonce, 1, false);
    http(f, true, f->cert, f->key, "POST", "/v1/posture", NULL, sub, a);
    assert_int_equal(a->status, 201);
    j = body_json(a);
    ear = strdup(posture_json_get_str(j, "ear"));
    assert_non_null(ear);
    assert_string_equal(posture_json_get_str(j, "policy"), "p-open@1");
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(j, "policies")) == 2);
    cJSON_Delete(j);
    {
        /* the EAR: ours, bound to the certificate */
        struct posture_jws_verify_opts vo = { .typ = POSTURE_EAR_TYP, .now = now_sec() };
        struct posture_jws *jws = NULL;
        char x5t[64];
        int reason = 0;
        assert_int_equal(
            posture_jws_verify(ear, strlen(ear), f->vkeys->signing_key, &vo, &reason, &jws), 0);
        assert_true(posture_b64url_encode_buf(f->cert_sha256, 32, x5t, sizeof(x5t)) > 0);
        assert_string_equal(
            posture_json_get_str(cJSON_GetObjectItem(jws->payload, "cnf"), "x5t#S256"), x5t);
        assert_string_equal(posture_json_get_str(jws->payload, "eat_nonce"), nonce);
        posture_jws_free(jws);
    }

    /* the same submission again: 200 duplicate with the recorded EAR */
    http(f, true, f->cert, f->key, "POST", "/v1/posture", NULL, sub, a);
    assert_int_equal(a->status, 200);
    j = body_json(a);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "duplicate")));
    assert_string_equal(posture_json_get_str(j, "ear"), ear);
    cJSON_Delete(j);

    /* a new report with the used nonce: 400 use_fresh_nonce with a Replay-Nonce */
    sub2 = submission(f, nonce, 2, false);
    http(f, true, f->cert, f->key, "POST", "/v1/posture", NULL, sub2, a);
    assert_int_equal(a->status, 400);
    assert_non_null(strstr(a->body, "\"reason\":\"nonce-used\""));
    assert_non_null(header(a, "Replay-Nonce", nonce2, sizeof(nonce2)));
    assert_non_null(strstr(a->body, nonce2));
    free(sub2);
    /* the Replay-Nonce works... after 121 s it has expired */
    clock_usec += 121 * POSTURE_STORE_USEC_PER_SEC;
    sub2 = submission(f, nonce2, 2, false);
    http(f, true, f->cert, f->key, "POST", "/v1/posture", NULL, sub2, a);
    assert_int_equal(a->status, 400);
    assert_non_null(strstr(a->body, "\"reason\":\"nonce-expired\""));
    free(sub2);
    /* HEAD /v1/challenge: a nonce in Replay-Nonce (used below: it works) */
    http(f, true, f->cert, f->key, "HEAD", "/v1/challenge", NULL, NULL, a);
    assert_int_equal(a->status, 200);
    assert_non_null(header(a, "Replay-Nonce", nonce2, sizeof(nonce2)));
    sub2 = submission(f, nonce2, 2, true); /* forged: consumes it, then refused */
    http(f, true, f->cert, f->key, "POST", "/v1/posture", NULL, sub2, a);
    assert_int_equal(a->status, 400);
    assert_non_null(strstr(a->body, "report-rejected"));
    free(sub2);
    /* a nonce never issued */
    sub2 = submission(f, "AAAAAAAAAAAAAAAAAAAAAA", 2, false);
    http(f, true, f->cert, f->key, "POST", "/v1/posture", NULL, sub2, a);
    assert_int_equal(a->status, 400);
    assert_non_null(strstr(a->body, "\"reason\":\"nonce-unknown\""));
    free(sub2);
    /* no nonce at all */
    sub2 = submission(f, NULL, 2, false);
    http(f, true, f->cert, f->key, "POST", "/v1/posture", NULL, sub2, a);
    assert_int_equal(a->status, 400);
    assert_non_null(strstr(a->body, "\"reason\":\"nonce-missing\""));
    free(sub2);
    /* a forged signature: the nonce is consumed, then the report refused */
    challenge(f, nonce2, sizeof(nonce2));
    sub2 = submission(f, nonce2, 2, true);
    http(f, true, f->cert, f->key, "POST", "/v1/posture", NULL, sub2, a);
    assert_int_equal(a->status, 400);
    assert_non_null(strstr(a->body, "report-rejected"));
    assert_non_null(strstr(a->body, "jws-signature-invalid"));
    free(sub2);
    /* malformed */
    http(f, true, f->cert, f->key, "POST", "/v1/posture", NULL, "{\"report\":1}", a);
    assert_int_equal(a->status, 400);
    assert_non_null(strstr(a->body, "submission-malformed"));
    /* a good one at the new time */
    challenge(f, nonce2, sizeof(nonce2));
    sub2 = submission(f, nonce2, 2, false);
    http(f, true, f->cert, f->key, "POST", "/v1/posture", NULL, sub2, a);
    assert_int_equal(a->status, 201);
    free(sub2);
    j = body_json(a);
    free(ear);
    ear = strdup(posture_json_get_str(j, "ear"));
    cJSON_Delete(j);

    /* the gateway decision */
    authz(f, NULL, NULL, a);
    assert_int_equal(a->status, 200);
    assert_string_equal(header(a, "X-Posture-Token", buf, sizeof(buf)), ear);
    assert_string_equal(header(a, "X-Posture-Policy", buf, sizeof(buf)), "p-open@1");
    assert_non_null(header(a, "X-Posture-Status", buf, sizeof(buf)));
    assert_non_null(header(a, "X-Posture-Expires", buf, sizeof(buf)));
    assert_non_null(
        strstr(header(a, "X-Posture-Device-Id", buf, sizeof(buf)), "spiffe://" TD "/device/"));
    assert_non_null(strstr(header(a, "Cache-Control", buf, sizeof(buf)), "max-age="));
    authz(f, "?policy=p-hw", NULL, a);
    assert_int_equal(a->status, 403);
    assert_non_null(strstr(a->body, "posture-failed"));
    assert_non_null(strstr(a->body, "failed_checks"));
    assert_string_equal(header(a, "Cache-Control", buf, sizeof(buf)), "no-store");
    /* a request header never picks the policy: gateways copy the client's headers */
    authz(f, NULL, "X-Posture-Policy: p-hw\r\n", a);
    assert_int_equal(a->status, 200);
    assert_string_equal(header(a, "X-Posture-Policy", buf, sizeof(buf)), "p-open@1");
    authz(f, "?policy=nope", NULL, a);
    assert_int_equal(a->status, 503);
    /* below /v1/authz/ the query is the client's (Envoy appends it): ignored */
    authz(f, "/envoy/app?policy=nope", NULL, a);
    assert_int_equal(a->status, 200);
    authz(f, "/envoy/app?policy=nope", "X-Posture-Policy: p-hw\r\n", a);
    assert_int_equal(a->status, 200);
    /* the path form, which the gateway writes (Envoy: its path_prefix) */
    authz(f, "/policy/p-hw", NULL, a);
    assert_int_equal(a->status, 403);
    authz(f, "/policy/p-hw/app/policy/p-open?policy=p-open", NULL, a);
    assert_int_equal(a->status, 403);
    authz(f, "/policy/p-open/app", NULL, a);
    assert_int_equal(a->status, 200);
    authz(f, "/policy//app", NULL, a); /* no id: the default */
    assert_int_equal(a->status, 200);
    http(f, false, NULL, NULL, "HEAD", "/v1/authz/envoy/x", NULL, NULL, a);
    assert_int_equal(a->status, 401);
    assert_non_null(header(a, "WWW-Authenticate", buf, sizeof(buf)));

    /* metrics */
    {
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(posture_metrics_render(f->metrics, &text, &len), 0);
        assert_non_null(strstr(text, "posture_decisions_total{result=\"allow\"} 6"));
        assert_non_null(strstr(text, "posture_decisions_total{result=\"deny\"} 4"));
        assert_non_null(
            strstr(text, "posture_submissions_rejected_total{reason=\"nonce-used\"} 1"));
        assert_non_null(strstr(text, "posture_submissions_rejected_total{reason=\"duplicate\"} 1"));
        assert_non_null(strstr(text, "posture_enrollments_total{reason=\"ok\"} 1"));
        free(text);
    }

    /* a restart: a new view filled from the store */
    {
        struct posture_decisions *view = NULL;
        struct posture_api *api = NULL;
        struct posture_authz *z = calloc(1, sizeof(*z));
        const char *known[] = { "p-open", "p-hw" };
        struct posture_api_options ao = {
            .store = f->store,
            .vkeys = f->vkeys,
            .policies = f->set,
            .default_policy = "p-open",
            .decisions = NULL,
        };
        assert_non_null(z);
        assert_int_equal(posture_decisions_new(64, &view), 0);
        ao.decisions = view;
        assert_int_equal(posture_api_new(&ao, &api), 0);
        assert_int_equal(posture_api_decisions_load(api), 1);
        posture_decisions_authz(view, f->cert_sha256, "p-open", known, 2, now_sec(), z);
        assert_int_equal(z->status, 200);
        assert_string_equal(z->x_token, ear);
        /* every policy's appraisal was stored: p-hw answers as before the restart */
        posture_decisions_authz(view, f->cert_sha256, "p-hw", known, 2, now_sec(), z);
        assert_int_equal(z->status, 403);
        assert_non_null(strstr(z->problem, "posture-failed"));
        assert_non_null(strstr(z->problem, "failed_checks"));
        posture_api_free(api);
        posture_decisions_free(view);

        /* p-hw changed since (another version): its old appraisal decides nothing */
        struct posture_policy *hw3 = policy(policy_hw_v3), *hw2 = f->set->policies[1];
        view = NULL;
        api = NULL;
        f->set->policies[1] = hw3;
        assert_int_equal(posture_decisions_new(64, &view), 0);
        ao.decisions = view;
        assert_int_equal(posture_api_new(&ao, &api), 0);
        assert_int_equal(posture_api_decisions_load(api), 1);
        posture_decisions_authz(view, f->cert_sha256, "p-open", known, 2, now_sec(), z);
        assert_int_equal(z->status, 200);
        posture_decisions_authz(view, f->cert_sha256, "p-hw", known, 2, now_sec(), z);
        assert_int_equal(z->status, 403);
        assert_non_null(strstr(z->problem, "not-appraised"));
        posture_api_free(api);
        posture_decisions_free(view);
        f->set->policies[1] = hw2;
        posture_policy_free(hw3);
        free(z);
    }

    /* revoked: the challenge is refused */
    assert_int_equal(posture_store_device_revoke(f->store, f->kid), 0);
    http(f, true, f->cert, f->key, "POST", "/v1/challenge", NULL, NULL, a);
    assert_int_equal(a->status, 403);
    assert_non_null(strstr(a->body, "device-revoked"));
    /* ... and the gateways stop admitting it at once: 403 naming the revocation */
    authz(f, NULL, NULL, a);
    assert_int_equal(a->status, 403);
    assert_non_null(strstr(a->body, "device-revoked"));

    free(ear);
    free(sub);
    free(a);
}

/* Every decision becomes an audit row, written by the thread; freeing the api writes the
 * rest. The rows count exactly, and the chain stays intact. */
static void test_audit(void **state)
{
    struct fixture *f = *state;
    struct answer *a = malloc(sizeof(*a));
    struct posture_store_audit_result before, after;

    assert_non_null(a);
    enroll(f);
    assert_int_equal(posture_store_audit_verify(f->store, &before), 0);
    authz(f, NULL, NULL, a); /* 403 not-appraised */
    assert_int_equal(a->status, 403);
    authz(f, "?policy=%22%7D", NULL, a); /* 503: an unknown policy never enters the row */
    assert_int_equal(a->status, 503);
    for (int i = 0; i < 3; i++) {
        http(f, false, NULL, NULL, "GET", "/v1/authz", NULL, NULL, a); /* 401 */
        assert_int_equal(a->status, 401);
    }
    f->srv = posture_http_server_free(f->srv);
    f->api = posture_api_free(f->api);
    assert_int_equal(posture_store_audit_verify(f->store, &after), 0);
    assert_int_equal(after.first_bad_seq, 0);
    assert_int_equal(after.rows, before.rows + 5);
    free(a);
}

static void test_certificates(void **state)
{
    struct fixture *f = *state;
    struct answer *a = malloc(sizeof(*a));
    struct tcert vca = { .key = f->vkeys->ca_key, .cert = f->vkeys->ca_cert }, other = { 0 };

    assert_non_null(a);
    /* no client certificate */
    http(f, true, NULL, NULL, "POST", "/v1/challenge", NULL, NULL, a);
    assert_int_equal(a->status, 401);
    assert_non_null(strstr(a->body, "no-client-certificate"));
    http(f, true, NULL, NULL, "POST", "/v1/posture", NULL, "{}", a);
    assert_int_equal(a->status, 401);
    /* a certificate of our CA naming device "x", whose key is not x's */
    tcert_make(&other, "x", TCERT_CLIENT, &vca);
    http(f, true, other.cert, other.key, "POST", "/v1/challenge", NULL, NULL, a);
    assert_int_equal(a->status, 401);
    assert_non_null(strstr(a->body, "not-a-device-certificate"));
    /* a device certificate of a device the store does not know */
    {
        char *pem = NULL;
        X509 *x;
        BIO *b;
        assert_int_equal(posture_vkeys_issue(f->vkeys, f->key, f->kid, NULL, &pem, NULL), 0);
        b = BIO_new_mem_buf(pem, -1);
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
        http(f, true, x, f->key, "POST", "/v1/challenge", NULL, NULL, a);
        assert_int_equal(a->status, 401);
        assert_non_null(strstr(a->body, "unknown-device"));
        X509_free(x);
        free(pem);
    }
    /* routes stay on their listener */
    http(f, false, NULL, NULL, "POST", "/v1/challenge", NULL, NULL, a);
    assert_int_equal(a->status, 404);
    http(f, true, NULL, NULL, "GET", "/v1/authz", NULL, NULL, a);
    assert_int_equal(a->status, 404);
    free(a);
    tcert_free(&other);
}

static void test_cert_device_id(void **state)
{
    struct fixture *f = *state;
    char id[POSTURE_STORE_DEVICE_ID_MAX + 1];
    char *pem = NULL;
    unsigned char *der = NULL;
    struct tcert ca = { 0 }, srv = { 0 }, cli = { 0 };
    X509 *x;
    BIO *b;
    int len;

    assert_int_equal(posture_vkeys_issue(f->vkeys, f->key, f->kid, NULL, &pem, NULL), 0);
    b = BIO_new_mem_buf(pem, -1);
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    len = i2d_X509(x, &der);
    assert_true(len > 0);
    assert_int_equal(posture_api_cert_device_id(der, (size_t) len, TD, id), 0);
    assert_string_equal(id, f->kid);
    assert_int_equal(posture_api_cert_device_id(der, (size_t) len, "other.example", id), -EBADMSG);
    assert_int_equal(posture_api_cert_device_id(der, (size_t) len - 1, TD, id), -EBADMSG);
    assert_int_equal(posture_api_cert_device_id(der, 0, TD, id), -EBADMSG);
    assert_int_equal(posture_api_cert_device_id((const uint8_t *) "junk", 4, TD, id), -EBADMSG);
    OPENSSL_free(der);
    X509_free(x);
    free(pem);

    tcert_make(&ca, "ca", TCERT_CA, NULL);
    tcert_make(&srv, "srv", TCERT_SERVER, &ca); /* no spiffe URI */
    assert_int_equal(posture_api_cert_device_id(srv.der, srv.der_len, TD, id), -EBADMSG);
    tcert_make(&cli, "cli", TCERT_CLIENT, &ca); /* spiffe://test.example/device/x */
    assert_int_equal(posture_api_cert_device_id(cli.der, cli.der_len, TD, id), 0);
    assert_string_equal(id, "x");
    tcert_free(&cli);
    tcert_free(&srv);
    tcert_free(&ca);
}

static char *jwt_of(struct fixture *f, const char *claims)
{
    char *t = NULL;
    assert_int_equal(
        posture_jws_sign(f->vkeys->signing_key, POSTURE_EAR_TYP, claims, strlen(claims), &t), 0);
    return t;
}

static void test_ear_read(void **state)
{
    struct fixture *f = *state;
    char subject[POSTURE_DECISION_SUBJECT_MAX + 1], rem[64];
    uint8_t x5t[32];
    int64_t exp = 0;
    char *t;

    t = jwt_of(f, "{\"exp\":1900000000,\"sub\":\"spiffe://t/device/d\","
                  "\"cnf\":{\"x5t#S256\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"},"
                  "\"submods\":{\"device\":{\"" POSTURE_EAR_EXT_CHECKS "\":{"
                  "\"a\":{\"status\":\"pass\"},"
                  "\"b\":{\"status\":\"fail\",\"report_only\":true,\"remediation\":\"no\"},"
                  "\"c\":{\"status\":\"fail\",\"remediation\":\"fix c\"}}}}}");
    assert_int_equal(posture_api_ear_read(t, &exp, subject, x5t, rem, sizeof(rem)), 0);
    assert_int_equal(exp, 1900000000);
    assert_string_equal(subject, "spiffe://t/device/d");
    assert_int_equal(x5t[31], 1);
    assert_string_equal(rem, "fix c");
    free(t);

    /* wrong shapes */
    /* NOLINTBEGIN(bugprone-suspicious-missing-comma): long literals split by clang-format */
    const char *bad[] = {
        "{\"sub\":\"s\",\"cnf\":{\"x5t#S256\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}}",
        "{\"exp\":1,\"cnf\":{\"x5t#S256\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}}",
        "{\"exp\":1,\"sub\":\"s\"}",
        "{\"exp\":1,\"sub\":\"s\",\"cnf\":{\"x5t#S256\":\"AAAA\"}}",
        ("{\"exp\":\"1\",\"sub\":\"s\",\"cnf\":{\"x5t#S256\":"
         "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}}"),
    };
    /* NOLINTEND(bugprone-suspicious-missing-comma) */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = jwt_of(f, bad[i]);
        assert_int_equal(posture_api_ear_read(t, &exp, subject, x5t, NULL, 0), -EBADMSG);
        free(t);
    }
    assert_int_equal(posture_api_ear_read("a.b", &exp, subject, x5t, NULL, 0), -EBADMSG);
    assert_int_equal(posture_api_ear_read("a.b.c.d", &exp, subject, x5t, NULL, 0), -EBADMSG);
    assert_int_equal(posture_api_ear_read("a.!!.c", &exp, subject, x5t, NULL, 0), -EBADMSG);
    assert_int_equal(posture_api_ear_read(NULL, &exp, subject, x5t, NULL, 0), -EBADMSG);
}

static void test_new_invalid(void **state)
{
    struct fixture *f = *state;
    struct posture_api *api = NULL;
    struct posture_api_options ao = {
        .store = f->store,
        .vkeys = f->vkeys,
        .policies = f->set,
        .default_policy = "nope",
        .decisions = f->view,
    };

    assert_int_equal(posture_api_new(NULL, &api), -EINVAL);
    assert_int_equal(posture_api_new(&ao, &api), -EINVAL); /* default not in the set */
    ao.default_policy = NULL;
    assert_int_equal(posture_api_new(&ao, &api), -EINVAL);
    ao.default_policy = "p-open";
    ao.decisions = NULL;
    assert_int_equal(posture_api_new(&ao, &api), -EINVAL);
    assert_null(api);
    /* no policies: allowed (the routes fail closed) */
    ao.decisions = f->view;
    ao.policies = NULL;
    assert_int_equal(posture_api_new(&ao, &api), 0);
    assert_non_null(api);
    assert_null(posture_api_free(api));
    assert_null(posture_api_free(NULL));
    assert_int_equal(posture_api_decisions_load(NULL), -EINVAL);
    assert_int_equal(posture_api_add_routes(NULL, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certificates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_device_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ear_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_invalid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
