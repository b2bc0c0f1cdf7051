/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP layer in process: routes, HEAD, 404/405/413 problems, forwarded certificates from
 * trusted and untrusted peers (127.0.0.2 is another loopback address), a unix-socket gateway
 * listener, TLS client certificates (the client is OpenSSL, the server GnuTLS), slow clients,
 * many connections, graceful stop and the metrics it keeps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "http.h"
#include "http_test_certs.h"
#include "metrics.h"
#include "testlib.h"

static struct tcert ca, server_cert, client, foreign_ca, foreign_client, expired_client;
static unsigned per_ip_limit; /* fixture_start() passes it as max_connections_per_ip */

struct fixture {
    struct posture_metrics *metrics;
    struct posture_http_server *srv;
    uint16_t agents_port;
    uint16_t gw_port;
    char *dir;
    char unix_path[256];
    int forged;
    char forged_peer[64];
};

/* ---- routes --------------------------------------------------------------------------- */

static int h_ok(struct posture_http_request *req, struct posture_http_response *resp, void *u)
{
    (void) req;
    (void) u;
    return posture_http_response_set_body(resp, "text/plain", "ok\n", 3);
}

static int h_echo(struct posture_http_request *req, struct posture_http_response *resp, void *u)
{
    size_t len = 0;
    const uint8_t *b = posture_http_request_body(req, &len);

    (void) u;
    return posture_http_response_set_body(resp, "application/octet-stream", b, len);
}

static int h_id(struct posture_http_request *req, struct posture_http_response *resp, void *u)
{
    const struct posture_http_identity *id = posture_http_request_identity(req);
    const char *err = posture_http_request_identity_error(req);
    char hex[65] = "-", text[512];

    (void) u;
    if (id)
        tcert_hex(id->x5t_s256, 32, false, hex);
    (void) snprintf(text, sizeof(text), "source=%s x5t=%s der=%d verified=%d trusted=%d err=%s\n",
                    id ? posture_http_identity_source_to_string(id->source) : "none", hex,
                    id && id->der ? (int) id->der_len : 0, id ? id->chain_verified : 0,
                    posture_http_request_peer_trusted(req), err ? err : "-");
    return posture_http_response_set_body(resp, "text/plain", text, strlen(text));
}

static int h_slow(struct posture_http_request *req, struct posture_http_response *resp, void *u)
{
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 400 * 1000 * 1000 };

    (void) req;
    (void) u;
    (void) nanosleep(&ts, NULL);
    return posture_http_response_set_body(resp, "text/plain", "done\n", 5);
}

static int h_fail(struct posture_http_request *req, struct posture_http_response *resp, void *u)
{
    (void) req;
    (void) resp;
    (void) u;
    return -EIO;
}

static int h_path(struct posture_http_request *req, struct posture_http_response *resp, void *u)
{
    const char *p = posture_http_request_path(req);
    const char *q = posture_http_request_query(req, "policy");
    char text[512];

    (void) u;
    (void) snprintf(text, sizeof(text), "%s %s policy=%s", posture_http_request_method(req), p,
                    q ? q : "-");
    return posture_http_response_set_body(resp, "text/plain", text, strlen(text));
}

static int h_problem(struct posture_http_request *req, struct posture_http_response *resp, void *u)
{
    cJSON *extra = cJSON_CreateObject();
    int r;

    (void) req;
    (void) u;
    assert_non_null(extra);
    assert_non_null(cJSON_AddStringToObject(extra, "remediation", "turn the firewall on"));
    assert_non_null(cJSON_AddStringToObject(extra, "title", "must not replace the title"));
    /* header injection is refused */
    assert_int_equal(posture_http_response_add_header(resp, "X-Bad", "a\r\nSet-Cookie: x=y"),
                     -EINVAL);
    assert_int_equal(posture_http_response_add_header(resp, "Bad Name", "v"), -EINVAL);
    assert_int_equal(posture_http_response_add_header(resp, "X-Posture-Status", "contraindicated"),
                     0);
    r = posture_http_response_problem(resp, 403, "posture-failed", "Posture check failed",
                                      "net.firewall failed", extra);
    cJSON_Delete(extra);
    return r;
}

static void on_forged(const char *peer, const char *header, void *userdata)
{
    struct fixture *f = userdata;

    (void) header;
    f->forged++;
    (void) snprintf(f->forged_peer, sizeof(f->forged_peer), "%s", peer);
}

static void add_routes(struct posture_http_server *srv)
{
    const struct posture_http_route routes[] = {
        { .methods = POSTURE_HTTP_GET, .path = "/healthz", .handler = h_ok },
        { .methods = POSTURE_HTTP_POST, .path = "/echo", .body_max = 1024, .handler = h_echo },
        { .methods = POSTURE_HTTP_GET, .path = "/id", .handler = h_id },
        { .methods = POSTURE_HTTP_GET, .path = "/slow", .handler = h_slow },
        { .methods = POSTURE_HTTP_GET, .path = "/fail", .handler = h_fail },
        { .methods = POSTURE_HTTP_ANY, .path = "/authz", .prefix = true, .handler = h_path },
        { .methods = POSTURE_HTTP_GET, .path = "/problem", .handler = h_problem },
        { .methods = POSTURE_HTTP_GET,
          .path = "/gw-only",
          .listeners = POSTURE_HTTP_ON_GATEWAYS,
          .handler = h_ok },
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        assert_int_equal(posture_http_server_add_route(srv, &routes[i]), 0);
    /* duplicates and bad routes are refused */
    assert_int_equal(posture_http_server_add_route(srv, &routes[0]), -EEXIST);
    struct posture_http_route bad = { .methods = POSTURE_HTTP_GET, .path = "x", .handler = h_ok };
    assert_int_equal(posture_http_server_add_route(srv, &bad), -EINVAL);
}

static uint16_t port_of(struct posture_http_server *srv, enum posture_http_listener l)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;

    assert_int_equal(posture_http_server_address(srv, l, &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    return ntohs(((struct sockaddr_in *) &ss)->sin_port);
}

static struct fixture *fixture_start(const char *gateways,
                                     char *const *trusted,
                                     uint64_t request_timeout,
                                     uint64_t idle_timeout)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = posture_test_mkdtemp();
    if (!gateways)
        gateways = "127.0.0.1:0";
    if (strcmp(gateways, "unix") == 0) {
        (void) snprintf(f->unix_path, sizeof(f->unix_path), "%s/gw.sock", f->dir);
        gateways = NULL;
    }
    char unix_addr[300];
    (void) snprintf(unix_addr, sizeof(unix_addr), "unix:%s", f->unix_path);
    assert_int_equal(posture_metrics_new(&f->metrics), 0);
    struct posture_http_options o = {
        .agents = "127.0.0.1:0",
        .gateways = gateways ? gateways : unix_addr,
        .tls_cert_pem = server_cert.pem,
        .tls_key_pem = server_cert.key_pem,
        .client_ca_pem = ca.pem,
        .trusted_gateways = trusted,
        .threads = 2,
        .max_connections = 2000,
        .max_connections_per_ip = per_ip_limit,
        .request_timeout_usec = request_timeout,
        .idle_timeout_usec = idle_timeout,
        .metrics = f->metrics,
        .on_forged = on_forged,
        .userdata = f,
    };
    assert_int_equal(posture_http_server_new(&o, &f->srv), 0);
    add_routes(f->srv);
    assert_int_equal(posture_http_server_start(f->srv), 0);
    f->agents_port = port_of(f->srv, POSTURE_HTTP_LISTENER_AGENTS);
    if (!f->unix_path[0])
        f->gw_port = port_of(f->srv, POSTURE_HTTP_LISTENER_GATEWAYS);
    return f;
}

static void fixture_stop(struct fixture *f)
{
    f->srv = posture_http_server_free(f->srv);
    f->metrics = posture_metrics_free(f->metrics);
    assert_int_equal(posture_test_rmdir_r(f->dir), 0);
    free(f->dir);
    free(f);
}

/* ---- a small HTTP client (raw sockets, OpenSSL for TLS) ------------------------------ */

struct client_opts {
    const char *bind_ip;       /* source address, e.g. "127.0.0.2" */
    const char *unix_path;     /* connect to a unix socket instead */
    bool tls;                  /* TLS (trusting ca) */
    const struct tcert *cert;  /* client certificate */
    const struct tcert *trust; /* CA to trust; default ca */
};

static int connect_to(uint16_t port, const struct client_opts *o)
{
    int fd;

    if (o && o->unix_path) {
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        (void) snprintf(un.sun_path, sizeof(un.sun_path), "%s", o->unix_path);
        if (connect(fd, (struct sockaddr *) &un, sizeof(un)) < 0) {
            (void) close(fd);
            return -errno;
        }
        return fd;
    }
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (o && o->bind_ip) {
        struct sockaddr_in b = { .sin_family = AF_INET };
        assert_int_equal(inet_pton(AF_INET, o->bind_ip, &b.sin_addr), 1);
        assert_int_equal(bind(fd, (struct sockaddr *) &b, sizeof(b)), 0);
    }
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr), 1);
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0) {
        int r = -errno;
        (void) close(fd);
        return r;
    }
    return fd;
}

/* Send request (which should say Connection: close) and read the whole answer into out.
 * Returns the status code, or -1 when no HTTP response came back. */
static int
http_do(uint16_t port, const struct client_opts *o, const char *request, char *out, size_t out_size)
{
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    size_t len = 0;
    int fd, status = -1;

    out[0] = '\0';
    fd = connect_to(port, o);
    if (fd < 0)
        return -1;
    if (o && o->tls) {
        ctx = SSL_CTX_new(TLS_client_method());
        assert_non_null(ctx);
        assert_int_equal(
            X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), (o->trust ? o->trust : &ca)->cert), 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (o->cert) {
            assert_int_equal(SSL_CTX_use_certificate(ctx, o->cert->cert), 1);
            assert_int_equal(SSL_CTX_use_PrivateKey(ctx, o->cert->key), 1);
        }
        ssl = SSL_new(ctx);
        assert_non_null(ssl);
        assert_int_equal(SSL_set_fd(ssl, fd), 1);
        if (SSL_connect(ssl) != 1)
            goto out;
        if (SSL_write(ssl, request, (int) strlen(request)) <= 0)
            goto out;
        for (;;) {
            int n = SSL_read(ssl, out + len, (int) (out_size - 1 - len));
            if (n <= 0)
                break;
            len += (size_t) n;
            if (len + 1 >= out_size)
                break;
        }
    } else {
        size_t sent = 0, n = strlen(request);
        while (sent < n) {
            ssize_t w = send(fd, request + sent, n - sent, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            sent += (size_t) w;
        }
        for (;;) {
            ssize_t r = recv(fd, out + len, out_size - 1 - len, 0);
            if (r <= 0)
                break;
            len += (size_t) r;
            if (len + 1 >= out_size)
                break;
        }
    }
    out[len] = '\0';
    if (strncmp(out, "HTTP/1.1 ", 9) == 0 || strncmp(out, "HTTP/1.0 ", 9) == 0)
        status = (int) strtol(out + 9, NULL, 10);
out:
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    (void) close(fd);
    return status;
}

static const char *body_of(const char *response)
{
    const char *p = strstr(response, "\r\n\r\n");
    return p ? p + 4 : "";
}

static int get(uint16_t port,
               const struct client_opts *o,
               const char *path,
               const char *headers,
               char *out,
               size_t size)
{
    char req[16384];

    (void) snprintf(req, sizeof(req),
                    "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n", path,
                    headers ? headers : "");
    return http_do(port, o, req, out, size);
}

/* ---- tests ----------------------------------------------------------------------------- */

static char *const loopback_only[] = { (char *) "127.0.0.1/32", NULL };

static void test_routes(void **state)
{
    struct fixture *f = fixture_start(NULL, loopback_only, 0, 0);
    char out[8192];
    cJSON *j;

    (void) state;
    assert_int_equal(get(f->gw_port, NULL, "/healthz", NULL, out, sizeof(out)), 200);
    assert_string_equal(body_of(out), "ok\n");
    assert_non_null(strstr(out, "Cache-Control: no-store\r\n"));

    /* HEAD of a GET route: the headers, no body */
    assert_int_equal(http_do(f->gw_port, NULL,
                             "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", out,
                             sizeof(out)),
                     200);
    assert_non_null(strstr(out, "Content-Length: 3\r\n"));
    assert_string_equal(body_of(out), "");

    /* another method: 405 with Allow */
    assert_int_equal(http_do(f->gw_port, NULL,
                             "POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Content-Length: 0\r\n\r\n",
                             out, sizeof(out)),
                     405);
    assert_non_null(strstr(out, "Allow: GET, HEAD\r\n"));
    assert_non_null(strstr(out, "Content-Type: application/problem+json\r\n"));

    /* unknown: 404 problem+json */
    assert_int_equal(get(f->gw_port, NULL, "/nope", NULL, out, sizeof(out)), 404);
    j = cJSON_Parse(body_of(out));
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 404);
    assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring,
                        "urn:posture:problem:not-found");
    cJSON_Delete(j);

    /* a failing handler: 503, fail closed */
    assert_int_equal(get(f->gw_port, NULL, "/fail", NULL, out, sizeof(out)), 503);

    /* prefix routes: any method, the path and query seen by the handler */
    assert_int_equal(
        get(f->gw_port, NULL, "/authz/envoy/admin?policy=payments-admin", NULL, out, sizeof(out)),
        200);
    assert_string_equal(body_of(out), "GET /authz/envoy/admin policy=payments-admin");
    assert_int_equal(get(f->gw_port, NULL, "/authz", NULL, out, sizeof(out)), 200);
    assert_int_equal(get(f->gw_port, NULL, "/authzx", NULL, out, sizeof(out)), 404);
    assert_int_equal(http_do(f->gw_port, NULL,
                             "PATCH /authz/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Content-Length: 0\r\n\r\n",
                             out, sizeof(out)),
                     200);

    /* per-listener routes */
    assert_int_equal(get(f->gw_port, NULL, "/gw-only", NULL, out, sizeof(out)), 200);
    struct client_opts tls = { .tls = true };
    assert_int_equal(get(f->agents_port, &tls, "/gw-only", NULL, out, sizeof(out)), 404);
    assert_int_equal(get(f->agents_port, &tls, "/healthz", NULL, out, sizeof(out)), 200);

    /* the problem helper: RFC 9457 members, extra members, no replaced title */
    assert_int_equal(get(f->gw_port, NULL, "/problem", NULL, out, sizeof(out)), 403);
    assert_non_null(strstr(out, "X-Posture-Status: contraindicated\r\n"));
    assert_null(strstr(out, "Set-Cookie"));
    j = cJSON_Parse(body_of(out));
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring,
                        "urn:posture:problem:posture-failed");
    assert_string_equal(cJSON_GetObjectItem(j, "title")->valuestring, "Posture check failed");
    assert_string_equal(cJSON_GetObjectItem(j, "detail")->valuestring, "net.firewall failed");
    assert_string_equal(cJSON_GetObjectItem(j, "remediation")->valuestring, "turn the firewall on");
    assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, 403);
    cJSON_Delete(j);

    /* what the metrics counted */
    char *text = NULL;
    assert_int_equal(posture_metrics_render(f->metrics, &text, NULL), 0);
    assert_non_null(strstr(text, "posture_http_requests_total{code=\"200\"} "));
    assert_non_null(strstr(text, "posture_http_requests_total{code=\"404\"} 3\n"));
    assert_non_null(strstr(text, "posture_http_requests_total{code=\"405\"} 1\n"));
    assert_non_null(strstr(text, "posture_http_requests_total{code=\"503\"} 1\n"));
    free(text);
    fixture_stop(f);
}

static void test_body_limit(void **state)
{
    struct fixture *f = fixture_start(NULL, loopback_only, 0, 0);
    char req[8192], out[8192], body[2001];

    (void) state;
    memset(body, 'b', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';

    (void) snprintf(req, sizeof(req),
                    "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Content-Length: 500\r\n\r\n%.500s",
                    body);
    assert_int_equal(http_do(f->gw_port, NULL, req, out, sizeof(out)), 200);
    assert_int_equal(strlen(body_of(out)), 500);

    /* announced too large: 413 before the body is read */
    (void) snprintf(req, sizeof(req),
                    "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Content-Length: 2000\r\n\r\n%s",
                    body);
    assert_int_equal(http_do(f->gw_port, NULL, req, out, sizeof(out)), 413);
    assert_non_null(strstr(out, "application/problem+json"));

    /* chunked: found too large while reading */
    (void) snprintf(req, sizeof(req),
                    "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n7d0\r\n%s\r\n0\r\n\r\n",
                    body);
    assert_int_equal(http_do(f->gw_port, NULL, req, out, sizeof(out)), 413);
    (void) snprintf(req, sizeof(req),
                    "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n10\r\n%.16s\r\n0\r\n\r\n",
                    body);
    assert_int_equal(http_do(f->gw_port, NULL, req, out, sizeof(out)), 200);
    assert_string_equal(body_of(out), "bbbbbbbbbbbbbbbb");

    /* larger than any route accepts: 413 whatever the path */
    assert_int_equal(http_do(f->gw_port, NULL,
                             "POST /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Content-Length: 100000\r\n\r\n",
                             out, sizeof(out)),
                     413);
    /* an absurd Content-Length */
    assert_int_equal(http_do(f->gw_port, NULL,
                             "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Content-Length: 99999999999999999999\r\n\r\n",
                             out, sizeof(out)) != 200,
                     1);
    fixture_stop(f);
}

static void expect_id(const char *out, const char *source, const uint8_t *x5t, int verified)
{
    char want[256], hex[65];

    tcert_hex(x5t, 32, false, hex);
    (void) snprintf(want, sizeof(want), "source=%s x5t=%s ", source, hex);
    if (!strstr(body_of(out), want))
        fail_msg("want '%s', got '%s'", want, body_of(out));
    (void) snprintf(want, sizeof(want), "verified=%d ", verified);
    assert_non_null(strstr(body_of(out), want));
}

static void test_forwarded(void **state)
{
    struct fixture *f = fixture_start(NULL, loopback_only, 0, 0);
    char hdr[8192], out[8192], hex[65];
    char *esc = tcert_escape(client.pem);
    char *foreign = tcert_escape(foreign_client.pem);
    char *b64 = tcert_base64(client.der, client.der_len);
    struct client_opts other_peer = { .bind_ip = "127.0.0.2" };

    (void) state;
    /* nginx */
    (void) snprintf(hdr, sizeof(hdr), "X-Client-Cert: %s\r\n", esc);
    assert_int_equal(get(f->gw_port, NULL, "/id", hdr, out, sizeof(out)), 200);
    expect_id(out, "nginx", client.sha256, 1);
    assert_non_null(strstr(body_of(out), "trusted=1"));
    assert_null(strstr(body_of(out), "der=0 ")); /* the certificate's bytes, decoded */
    /* the same header again: from the cache of recently verified headers, not decoded again
     * (the certificate bytes are not handed on; the identity is the same) */
    assert_int_equal(get(f->gw_port, NULL, "/id", hdr, out, sizeof(out)), 200);
    expect_id(out, "nginx", client.sha256, 1);
    assert_non_null(strstr(body_of(out), "der=0 "));
    /* Traefik */
    (void) snprintf(hdr, sizeof(hdr), "X-Forwarded-Tls-Client-Cert: %s\r\n", b64);
    assert_int_equal(get(f->gw_port, NULL, "/id", hdr, out, sizeof(out)), 200);
    expect_id(out, "traefik", client.sha256, 1);
    /* Envoy (header names are case-insensitive) */
    tcert_hex(client.sha256, 32, false, hex);
    (void) snprintf(hdr, sizeof(hdr), "x-forwarded-client-cert: Hash=%s;Cert=\"%s\"\r\n", hex, esc);
    assert_int_equal(get(f->gw_port, NULL, "/id", hdr, out, sizeof(out)), 200);
    expect_id(out, "envoy", client.sha256, 1);
    (void) snprintf(hdr, sizeof(hdr), "x-forwarded-client-cert: Hash=%s\r\n", hex);
    assert_int_equal(get(f->gw_port, NULL, "/id", hdr, out, sizeof(out)), 200);
    expect_id(out, "envoy", client.sha256, 0);
    /* Caddy / HAProxy fingerprint: no certificate, no chain */
    tcert_hex(client.sha256, 32, true, hex);
    (void) snprintf(hdr, sizeof(hdr), "X-Client-Cert-Fp: %s\r\n", hex);
    assert_int_equal(get(f->gw_port, NULL, "/id", hdr, out, sizeof(out)), 200);
    expect_id(out, "fingerprint", client.sha256, 0);
    assert_non_null(strstr(body_of(out), "der=0 "));

    /* an empty value (Caddy, HAProxy: no client certificate) is no header at all */
    assert_int_equal(get(f->gw_port, NULL, "/id", "X-Client-Cert-Fp: \r\n", out, sizeof(out)), 200);
    assert_non_null(strstr(body_of(out), "source=none"));
    assert_non_null(strstr(body_of(out), "err=-"));

    /* refused: a certificate of another CA, malformed values, two headers */
    (void) snprintf(hdr, sizeof(hdr), "X-Client-Cert: %s\r\n", foreign);
    assert_int_equal(get(f->gw_port, NULL, "/id", hdr, out, sizeof(out)), 200);
    assert_non_null(strstr(body_of(out), "source=none"));
    assert_non_null(strstr(body_of(out), "does not chain"));
    (void) snprintf(hdr, sizeof(hdr), "X-Client-Cert: %.100s\r\n", esc);
    assert_int_equal(get(f->gw_port, NULL, "/id", hdr, out, sizeof(out)), 200);
    assert_non_null(strstr(body_of(out), "source=none"));
    assert_non_null(strstr(body_of(out), "err=malformed"));
    (void) snprintf(hdr, sizeof(hdr), "X-Client-Cert-Fp: %s\r\nX-Client-Cert-Fp: %s\r\n", hex, hex);
    assert_int_equal(get(f->gw_port, NULL, "/id", hdr, out, sizeof(out)), 200);
    assert_non_null(strstr(body_of(out), "err=more than one"));
    (void) snprintf(hdr, sizeof(hdr), "X-Client-Cert-Fp: %s\r\nX-Client-Cert: %s\r\n", hex, esc);
    assert_int_equal(get(f->gw_port, NULL, "/id", hdr, out, sizeof(out)), 200);
    assert_non_null(strstr(body_of(out), "err=more than one"));

    /* an untrusted peer: ignored (no identity, no error), reported once per minute */
    (void) snprintf(hdr, sizeof(hdr), "X-Client-Cert: %s\r\n", esc);
    assert_int_equal(get(f->gw_port, &other_peer, "/id", hdr, out, sizeof(out)), 200);
    assert_non_null(strstr(body_of(out), "source=none"));
    assert_non_null(strstr(body_of(out), "trusted=0 err=-"));
    assert_int_equal(f->forged, 1);
    assert_string_equal(f->forged_peer, "127.0.0.2");
    assert_int_equal(get(f->gw_port, &other_peer, "/id", hdr, out, sizeof(out)), 200);
    assert_non_null(strstr(body_of(out), "source=none"));
    assert_int_equal(f->forged, 1);
    /* and on the agent listener, forwarded headers never count (not even from 127.0.0.1) */
    struct client_opts tls = { .tls = true };
    assert_int_equal(get(f->agents_port, &tls, "/id", hdr, out, sizeof(out)), 200);
    assert_non_null(strstr(body_of(out), "source=none"));
    assert_int_equal(f->forged, 2); /* another peer: 127.0.0.1 */

    struct posture_metrics_counter *rej = NULL;
    assert_int_equal(posture_metrics_counter_new(f->metrics, "posture_http_rejected_total",
                                                 "Requests and connections refused by the HTTP "
                                                 "layer, by reason",
                                                 "reason", &rej),
                     0);
    assert_int_equal(posture_metrics_counter_get(rej, "forged_header"), 3);
    assert_int_equal(posture_metrics_counter_get(rej, "bad_forwarded_cert"), 4);
    free(esc);
    free(foreign);
    free(b64);
    fixture_stop(f);
}

static void test_unix_gateway(void **state)
{
    char *const with_unix[] = { (char *) "127.0.0.1/32", (char *) "unix", NULL };
    char hdr[8192], out[8192];
    char *esc = tcert_escape(client.pem);
    struct fixture *f;

    (void) state;
    (void) snprintf(hdr, sizeof(hdr), "X-Client-Cert: %s\r\n", esc);
    f = fixture_start("unix", with_unix, 0, 0);
    struct client_opts o = { .unix_path = f->unix_path };
    assert_int_equal(get(0, &o, "/id", hdr, out, sizeof(out)), 200);
    expect_id(out, "nginx", client.sha256, 1);
    fixture_stop(f);

    /* unix peers are not trusted unless configured */
    f = fixture_start("unix", loopback_only, 0, 0);
    o.unix_path = f->unix_path;
    assert_int_equal(get(0, &o, "/id", hdr, out, sizeof(out)), 200);
    assert_non_null(strstr(body_of(out), "source=none"));
    assert_int_equal(f->forged, 1);
    assert_string_equal(f->forged_peer, "unix");
    fixture_stop(f);
    free(esc);
}

static void test_tls_client_certificates(void **state)
{
    struct fixture *f = fixture_start(NULL, loopback_only, 0, 0);
    struct client_opts with = { .tls = true, .cert = &client };
    struct client_opts without = { .tls = true };
    struct client_opts foreign = { .tls = true, .cert = &foreign_client };
    char out[8192];

    (void) state;
    assert_int_equal(get(f->agents_port, &with, "/id", NULL, out, sizeof(out)), 200);
    expect_id(out, "tls", client.sha256, 1);
    assert_non_null(strstr(body_of(out), "trusted=0"));
    /* keep-alive over TLS: a second request on the connection sees the same identity */
    assert_int_equal(http_do(f->agents_port, &with,
                             "GET /id HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                             out, sizeof(out)),
                     200);
    const char *second = strstr(out + 10, "HTTP/1.1 200");
    assert_non_null(second);
    assert_non_null(strstr(second, "source=tls"));

    /* no certificate: served, no identity */
    assert_int_equal(get(f->agents_port, &without, "/id", NULL, out, sizeof(out)), 200);
    assert_non_null(strstr(body_of(out), "source=none"));
    /* a certificate from another CA: the handshake fails, no HTTP answer */
    assert_int_equal(get(f->agents_port, &foreign, "/id", NULL, out, sizeof(out)), -1);
    /* an expired certificate of the right CA: refused too */
    struct client_opts expired = { .tls = true, .cert = &expired_client };
    assert_int_equal(get(f->agents_port, &expired, "/id", NULL, out, sizeof(out)), -1);
    /* plain HTTP to the TLS port: no HTTP answer */
    assert_int_equal(get(f->agents_port, NULL, "/healthz", NULL, out, sizeof(out)), -1);
    /* and the listener still serves afterwards */
    assert_int_equal(get(f->agents_port, &with, "/healthz", NULL, out, sizeof(out)), 200);
    fixture_stop(f);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Send bytes of s one at a time every step_ms until the server closes; returns the ms it
 * took, or -1 when all was sent without the server closing. */
static long trickle(int fd, const char *s, unsigned step_ms)
{
    uint64_t start = mono_ms();

    for (const char *p = s; *p; p++) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (send(fd, p, 1, MSG_NOSIGNAL) != 1)
            return (long) (mono_ms() - start);
        if (poll(&pfd, 1, (int) step_ms) > 0) {
            char buf[256];
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n <= 0)
                return (long) (mono_ms() - start);
        }
    }
    return -1;
}

static void test_slow_clients(void **state)
{
    struct fixture *f = fixture_start(NULL, loopback_only, 1000000, 2000000);
    char out[4096], slow[512];
    long ms;
    int fd;

    (void) state;
    /* a request line, then one header byte every 200 ms: cut about 1 s after the request line */
    fd = connect_to(f->gw_port, NULL);
    assert_true(fd >= 0);
    assert_int_equal(send(fd, "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL), 23);
    memset(slow, 'a', sizeof(slow) - 1);
    slow[sizeof(slow) - 1] = '\0';
    ms = trickle(fd, slow, 200);
    (void) close(fd);
    if (ms < 700 || ms > 2500)
        fail_msg("slow headers cut after %ld ms (request_timeout 1 s)", ms);

    /* a slow request line is bounded by the idle timeout (2 s) */
    fd = connect_to(f->gw_port, NULL);
    assert_true(fd >= 0);
    ms = trickle(fd, slow, 200);
    (void) close(fd);
    if (ms < 1700 || ms > 3500)
        fail_msg("slow request line cut after %ld ms (idle_timeout 2 s)", ms);

    /* a TLS connection that never starts its handshake: cut at the idle timeout */
    fd = connect_to(f->agents_port, NULL);
    assert_true(fd >= 0);
    {
        uint64_t start = mono_ms();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        char buf[64];
        /* a TLS alert may come first; then the end of the stream */
        for (;;) {
            assert_int_equal(poll(&pfd, 1, 5000), 1);
            if (recv(fd, buf, sizeof(buf), 0) <= 0)
                break;
        }
        ms = (long) (mono_ms() - start);
    }
    (void) close(fd);
    if (ms < 1700 || ms > 3500)
        fail_msg("silent TLS connection cut after %ld ms", ms);

    /* a chunked body that never ends: cut at the request deadline */
    fd = connect_to(f->gw_port, NULL);
    assert_true(fd >= 0);
    static const char chunked[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    assert_int_equal(send(fd, chunked, sizeof(chunked) - 1, MSG_NOSIGNAL), sizeof(chunked) - 1);
    {
        uint64_t start = mono_ms();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        char buf[256];
        for (;;) {
            assert_int_equal(poll(&pfd, 1, 5000), 1);
            if (recv(fd, buf, sizeof(buf), 0) <= 0)
                break;
        }
        ms = (long) (mono_ms() - start);
    }
    (void) close(fd);
    if (ms < 700 || ms > 2500)
        fail_msg("an endless chunked body was cut after %ld ms (request_timeout 1 s)", ms);

    /* an early 413, then the body trickled anyway: cut at the request deadline, not kept
     * alive by the bytes */
    fd = connect_to(f->gw_port, NULL);
    assert_true(fd >= 0);
    static const char big[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
    assert_int_equal(send(fd, big, sizeof(big) - 1, MSG_NOSIGNAL), sizeof(big) - 1);
    ms = trickle(fd, slow, 200);
    (void) close(fd);
    if (ms < 0 || ms > 2500)
        fail_msg("a body trickled after an early 413 kept the connection for %ld ms", ms);

    /* what the watchdog counted */
    struct posture_metrics_counter *rej = NULL;
    assert_int_equal(posture_metrics_counter_new(f->metrics, "posture_http_rejected_total",
                                                 "Requests and connections refused by the HTTP "
                                                 "layer, by reason",
                                                 "reason", &rej),
                     0);
    assert_true(posture_metrics_counter_get(rej, "request_timeout") >= 1);
    assert_true(posture_metrics_counter_get(rej, "idle_timeout") >= 2);

    /* the server is fine */
    assert_int_equal(get(f->gw_port, NULL, "/healthz", NULL, out, sizeof(out)), 200);
    fixture_stop(f);
}

static void test_many_connections(void **state)
{
    struct fixture *f = fixture_start(NULL, loopback_only, 0, 0);
    enum { N = 300 };
    int fds[N];
    char out[4096];
    int ok = 0;

    (void) state;
    for (int i = 0; i < N; i++) {
        fds[i] = connect_to(f->gw_port, NULL);
        assert_true(fds[i] >= 0);
    }
    for (int i = 0; i < N; i++) {
        static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert_int_equal(send(fds[i], req, sizeof(req) - 1, MSG_NOSIGNAL), sizeof(req) - 1);
    }
    for (int i = 0; i < N; i++) {
        size_t len = 0;
        for (;;) {
            ssize_t n = recv(fds[i], out + len, sizeof(out) - 1 - len, 0);
            if (n <= 0)
                break;
            len += (size_t) n;
        }
        out[len] = '\0';
        if (strncmp(out, "HTTP/1.1 200", 12) == 0)
            ok++;
        (void) close(fds[i]);
    }
    assert_int_equal(ok, N);
    assert_int_equal(get(f->gw_port, NULL, "/healthz", NULL, out, sizeof(out)), 200);
    fixture_stop(f);
}

/* [listen] max_connections_per_ip on the agent listener: the third connection from one address
 * is closed at once, the gateway listener (one gateway, many connections) is not limited. */
static void test_per_ip_limit(void **state)
{
    struct fixture *f;
    struct client_opts tls = { .tls = true, .cert = &client };
    char out[4096], buf[16];
    int held[2], gw[3];

    (void) state;
    per_ip_limit = 2;
    f = fixture_start(NULL, loopback_only, 0, 0);
    per_ip_limit = 0;
    for (int i = 0; i < 2; i++) {
        held[i] = connect_to(f->agents_port, NULL);
        assert_true(held[i] >= 0);
    }
    /* the kernel completes the TCP handshake; libmicrohttpd then closes the socket at once */
    int fd = connect_to(f->agents_port, NULL);
    assert_true(fd >= 0);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, 3000), 1);
    assert_true(recv(fd, buf, sizeof(buf), 0) <= 0);
    (void) close(fd);
    assert_int_equal(get(f->agents_port, &tls, "/healthz", NULL, out, sizeof(out)), -1);
    for (int i = 0; i < 3; i++) {
        gw[i] = connect_to(f->gw_port, NULL);
        assert_true(gw[i] >= 0);
    }
    assert_int_equal(get(f->gw_port, NULL, "/healthz", NULL, out, sizeof(out)), 200);
    for (int i = 0; i < 3; i++)
        (void) close(gw[i]);
    /* a slot freed is a slot again */
    (void) close(held[0]);
    (void) close(held[1]);
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 200 * 1000 * 1000 };
    (void) nanosleep(&ts, NULL);
    assert_int_equal(get(f->agents_port, &tls, "/healthz", NULL, out, sizeof(out)), 200);
    fixture_stop(f);
}

struct slow_call {
    uint16_t port;
    int status;
    char out[4096];
};

static void *slow_thread(void *userdata)
{
    struct slow_call *c = userdata;

    c->status = get(c->port, NULL, "/slow", NULL, c->out, sizeof(c->out));
    return NULL;
}

static void test_graceful_stop(void **state)
{
    struct fixture *f = fixture_start(NULL, loopback_only, 0, 0);
    struct slow_call call = { .port = f->gw_port };
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
    pthread_t t;
    uint64_t start;

    (void) state;
    assert_int_equal(pthread_create(&t, NULL, slow_thread, &call), 0);
    (void) nanosleep(&ts, NULL);
    start = mono_ms();
    assert_int_equal(posture_http_server_stop(f->srv, 2000000), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(mono_ms() - start < 1500);
    /* the request under way was answered */
    assert_int_equal(call.status, 200);
    assert_string_equal(body_of(call.out), "done\n");
    /* nothing listens any more */
    assert_true(connect_to(f->gw_port, NULL) < 0);
    /* stop is idempotent */
    assert_int_equal(posture_http_server_stop(f->srv, 0), 0);
    fixture_stop(f);
}

static void test_options(void **state)
{
    struct posture_http_server *srv = NULL;
    char *const bad_cidr[] = { (char *) "10.0.0.1/8", NULL };
    struct posture_http_options o = { .gateways = "127.0.0.1:0" };

    (void) state;
    o.agents = "127.0.0.1:0"; /* TLS without a certificate */
    assert_int_equal(posture_http_server_new(&o, &srv), -EINVAL);
    o.agents = NULL;
    o.gateways = "localhost:80";
    assert_int_equal(posture_http_server_new(&o, &srv), -EINVAL);
    o.gateways = "127.0.0.1:0";
    o.trusted_gateways = bad_cidr;
    assert_int_equal(posture_http_server_new(&o, &srv), -EINVAL);
    o.trusted_gateways = NULL;
    o.client_ca_pem = "not a certificate";
    assert_int_equal(posture_http_server_new(&o, &srv), -EBADMSG);
    assert_null(srv);

    /* a port in use */
    struct fixture *f = fixture_start(NULL, loopback_only, 0, 0);
    char addr[32];
    (void) snprintf(addr, sizeof(addr), "127.0.0.1:%u", f->gw_port);
    o = (struct posture_http_options){ .gateways = addr };
    assert_int_equal(posture_http_server_new(&o, &srv), 0);
    assert_int_equal(posture_http_server_start(srv), -EADDRINUSE);
    srv = posture_http_server_free(srv);
    fixture_stop(f);
}

static void test_addresses(void **state)
{
    struct posture_http_address a;
    struct posture_http_cidr rules[4];
    char buf[128];

    (void) state;
    assert_int_equal(posture_http_address_parse("127.0.0.1:8081", &a), 0);
    assert_string_equal(
        posture_http_address_format((struct sockaddr *) &a.sa, a.len, buf, sizeof(buf)),
        "127.0.0.1:8081");
    assert_int_equal(posture_http_address_parse("[::1]:8443", &a), 0);
    assert_string_equal(
        posture_http_address_format((struct sockaddr *) &a.sa, a.len, buf, sizeof(buf)),
        "[::1]:8443");
    assert_int_equal(posture_http_address_parse("unix:/run/v.sock", &a), 0);
    assert_string_equal(
        posture_http_address_format((struct sockaddr *) &a.sa, a.len, buf, sizeof(buf)),
        "unix:/run/v.sock");
    assert_int_equal(posture_http_address_parse("/run/v.sock", &a), 0);
    static const char *const bad[] = { "",
                                       "8081",
                                       ":8081",
                                       "1.2.3:80",
                                       "1.2.3.4:",
                                       "1.2.3.4:x",
                                       "[::1]8443",
                                       "::1:8443",
                                       "host.example:80",
                                       "unix:",
                                       "unix:rel.sock",
                                       "1.2.3.4:+80",
                                       "1.2.3.4:65536" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (posture_http_address_parse(bad[i], &a) != -EINVAL)
            fail_msg("accepted %s", bad[i]);

    assert_int_equal(posture_http_cidr_parse("127.0.0.1/32", &rules[0]), 0);
    assert_int_equal(posture_http_cidr_parse("10.0.0.0/8", &rules[1]), 0);
    assert_int_equal(posture_http_cidr_parse("fd00::/8", &rules[2]), 0);
    assert_int_equal(posture_http_cidr_parse("unix", &rules[3]), 0);
    static const char *const bad_cidr[] = { "10.0.0.1/8", "1.2.3.4/33", "::1/129", "1.2.3.4/",
                                            "1.2.3.4/-1", "x/8",        "",        "/8" };
    for (size_t i = 0; i < sizeof(bad_cidr) / sizeof(bad_cidr[0]); i++)
        if (posture_http_cidr_parse(bad_cidr[i], &rules[0]) != -EINVAL)
            fail_msg("accepted %s", bad_cidr[i]);
    assert_int_equal(posture_http_cidr_parse("127.0.0.1", &rules[0]), 0);

    struct sockaddr_in in = { .sin_family = AF_INET };
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    assert_int_equal(inet_pton(AF_INET, "10.200.1.2", &in.sin_addr), 1);
    assert_true(posture_http_cidr_match(rules, 4, (struct sockaddr *) &in, sizeof(in)));
    assert_int_equal(inet_pton(AF_INET, "11.0.0.1", &in.sin_addr), 1);
    assert_false(posture_http_cidr_match(rules, 4, (struct sockaddr *) &in, sizeof(in)));
    assert_int_equal(inet_pton(AF_INET, "127.0.0.2", &in.sin_addr), 1);
    assert_false(posture_http_cidr_match(rules, 4, (struct sockaddr *) &in, sizeof(in)));
    /* an IPv4-mapped peer of a dual-stack socket matches the IPv4 rule */
    assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr), 1);
    assert_true(posture_http_cidr_match(rules, 4, (struct sockaddr *) &in6, sizeof(in6)));
    assert_int_equal(inet_pton(AF_INET6, "fdab::1", &in6.sin6_addr), 1);
    assert_true(posture_http_cidr_match(rules, 4, (struct sockaddr *) &in6, sizeof(in6)));
    assert_int_equal(inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr), 1);
    assert_false(posture_http_cidr_match(rules, 4, (struct sockaddr *) &in6, sizeof(in6)));
    assert_true(posture_http_cidr_match(rules, 4, (struct sockaddr *) &un, sizeof(sa_family_t)));
    assert_false(posture_http_cidr_match(rules, 3, (struct sockaddr *) &un, sizeof(sa_family_t)));
}

static int setup(void **state)
{
    (void) state;
    tcert_make(&ca, "device CA", TCERT_CA, NULL);
    tcert_make(&server_cert, "localhost", TCERT_SERVER, &ca);
    tcert_make(&client, "device-1", TCERT_CLIENT, &ca);
    tcert_make(&foreign_ca, "someone else's CA", TCERT_CA, NULL);
    tcert_make(&foreign_client, "device-1", TCERT_CLIENT, &foreign_ca);
    tcert_make_validity(&expired_client, "device-1", TCERT_CLIENT, &ca, -7200, -3600);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    tcert_free(&ca);
    tcert_free(&server_cert);
    tcert_free(&client);
    tcert_free(&foreign_ca);
    tcert_free(&foreign_client);
    tcert_free(&expired_client);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_forwarded),
        cmocka_unit_test(test_unix_gateway),
        cmocka_unit_test(test_tls_client_certificates),
        cmocka_unit_test(test_slow_clients),
        cmocka_unit_test(test_many_connections),
        cmocka_unit_test(test_per_ip_limit),
        cmocka_unit_test(test_graceful_stop),
    };
    /* OpenSSL writes with write(): a peer that hung up must not kill the test */
    (void) signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup, teardown);
}
