/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The verifier's HTTP layer (DESIGN.md §8, GATEWAYS.md §2) on libmicrohttpd: one server with up
 * to two listeners, each an epoll daemon with its own thread pool.
 *
 *  - agents: TLS (GnuTLS, libmicrohttpd's backend) with client-certificate authentication. A
 *    certificate is requested, never required; one that does not chain to the client CA ends
 *    the handshake. A verified certificate is the request's identity.
 *  - gateways: plain HTTP on loopback or a unix socket. A forwarded client certificate header is
 *    the identity, accepted only from a peer in the trusted_gateways list; the header of any
 *    other peer is ignored (and reported through on_forged, at most once per peer per minute).
 *
 * Headers, one per gateway (GATEWAYS.md §2.4, §2.6):
 *    X-Client-Cert                nginx $ssl_client_escaped_cert: URL-escaped PEM
 *    x-forwarded-client-cert      Envoy XFCC: one element; Hash=<sha256 hex> required,
 *                                 Cert="<URL-escaped PEM>" optional (must match Hash)
 *    X-Forwarded-Tls-Client-Cert  Traefik passTLSClientCert pem: base64 DER without armour
 *                                 (URL-escaped or not; a comma-separated chain, leaf first)
 *    X-Client-Cert-Fp             Caddy, HAProxy: SHA-256 hex of the DER certificate
 * An empty value counts as absent (Caddy and HAProxy send one when the client had no certificate).
 * More than one of them, or one of them twice, is an error, as is any malformed value: the
 * request then carries an identity error (handlers answer 401), never a fallback identity.
 *
 * Requests: a route table {methods, path or prefix, body limit, listeners, handler}; GET routes
 * also answer HEAD (libmicrohttpd sends the headers only). Unknown paths get 404, other methods
 * 405 with Allow, bodies beyond the route's limit 413, all as RFC 9457 problem+json. A request
 * must arrive completely within request_timeout of its request line, and a connection may sit
 * idle (before a request line) for idle_timeout; both are absolute deadlines that trickled bytes
 * do not extend (slow-loris).
 *
 * Library code: logs at debug only. Thread-safety: handlers run on the listener's worker threads,
 * concurrently; everything they reach must be thread-safe.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "posture/cleanup.h"

struct posture_metrics;

#define POSTURE_HTTP_SHA256_SIZE  32
#define POSTURE_HTTP_HEADER_MAX   16384 /* longest forwarded-certificate header we parse */
#define POSTURE_HTTP_CERT_DER_MAX 8192  /* largest client certificate we accept (DER) */
#define POSTURE_HTTP_RESP_HEADERS 16    /* headers a handler may add to one response */
#define POSTURE_HTTP_BODY_MAX_DEF ((size_t) 64 * 1024)

/* ---- addresses ------------------------------------------------------------------------- */

/* A listen address: "1.2.3.4:8443", "[::1]:8081", "unix:/run/x.sock" or "/run/x.sock"
 * (numeric hosts only; port 0 picks a free port). */
struct posture_http_address {
    struct sockaddr_storage sa;
    socklen_t len;
};
/* -EINVAL for anything else (also a unix path longer than sun_path). */
int posture_http_address_parse(const char *s, struct posture_http_address *ret);
/* Human-readable form into buf ("127.0.0.1:8081", "[::1]:8081", "unix:/path"). Returns buf. */
const char *
posture_http_address_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* A trusted-peer rule: "127.0.0.1/32", "10.0.0.0/8", "::1", "fd00::/8", or "unix". */
struct posture_http_cidr {
    int family; /* AF_INET, AF_INET6, or AF_UNIX for "unix" */
    uint8_t addr[16];
    unsigned prefix;
};
/* -EINVAL on bad syntax, a prefix too long, or host bits set beyond the prefix. */
int posture_http_cidr_parse(const char *s, struct posture_http_cidr *ret);
/* Does the peer address match one of the n rules? IPv4-mapped IPv6 peers match IPv4 rules. */
bool posture_http_cidr_match(const struct posture_http_cidr *rules,
                             size_t n,
                             const struct sockaddr *peer,
                             socklen_t len);

/* ---- forwarded client certificates (strict parsers of untrusted text) ------------------ */

/* nginx X-Client-Cert: URL-escaped PEM of exactly one certificate. *ret_der is malloc'ed.
 * -EBADMSG malformed, -E2BIG too long, -ENOMEM. */
int posture_http_parse_nginx_cert(const char *value, uint8_t **ret_der, size_t *ret_len);
/* Traefik X-Forwarded-Tls-Client-Cert: base64 DER (optionally URL-escaped), certificates
 * separated by ','; returns the first (the leaf). Errors as above. */
int posture_http_parse_traefik_cert(const char *value, uint8_t **ret_der, size_t *ret_len);
/* Envoy XFCC with one element: Hash (64 lower-case hex) required; Cert, when present, must hash
 * to Hash. *ret_der is NULL (and *ret_len 0) when there is no Cert. Errors as above. */
int posture_http_parse_xfcc(const char *value,
                            uint8_t ret_hash[POSTURE_HTTP_SHA256_SIZE],
                            uint8_t **ret_der,
                            size_t *ret_len);
/* X-Client-Cert-Fp: 64 hex characters, all lower or all upper case. -EBADMSG. */
int posture_http_parse_fingerprint(const char *value, uint8_t ret_hash[POSTURE_HTTP_SHA256_SIZE]);

/* ---- identity -------------------------------------------------------------------------- */

enum posture_http_identity_source {
    POSTURE_HTTP_IDENTITY_TLS,         /* verified in our own TLS handshake */
    POSTURE_HTTP_IDENTITY_NGINX,       /* X-Client-Cert */
    POSTURE_HTTP_IDENTITY_ENVOY,       /* x-forwarded-client-cert */
    POSTURE_HTTP_IDENTITY_TRAEFIK,     /* X-Forwarded-Tls-Client-Cert */
    POSTURE_HTTP_IDENTITY_FINGERPRINT, /* X-Client-Cert-Fp (Caddy, HAProxy) */
    POSTURE_HTTP_IDENTITY__MAX,
    POSTURE_HTTP_IDENTITY__INVALID = -22, /* -EINVAL */
};
const char *posture_http_identity_source_to_string(enum posture_http_identity_source s);

struct posture_http_identity {
    enum posture_http_identity_source source;
    uint8_t x5t_s256[POSTURE_HTTP_SHA256_SIZE]; /* SHA-256 of the certificate's DER */
    const uint8_t *der; /* the certificate (DER); NULL when only a fingerprint was forwarded */
    size_t der_len;
    /* true: the certificate chains to the client CA (our handshake, or checked here for a
     * forwarded certificate). false for a bare fingerprint, or when no client CA is set: the
     * caller must then find the certificate among those it issued (cnf x5t#S256). */
    bool chain_verified;
};

/* ---- requests and responses ------------------------------------------------------------ */

enum posture_http_listener {
    POSTURE_HTTP_LISTENER_AGENTS,
    POSTURE_HTTP_LISTENER_GATEWAYS,
    POSTURE_HTTP_LISTENER__MAX,
};

enum {
    POSTURE_HTTP_GET = 1u << 0, /* implies HEAD */
    POSTURE_HTTP_HEAD = 1u << 1,
    POSTURE_HTTP_POST = 1u << 2,
    POSTURE_HTTP_PUT = 1u << 3,
    POSTURE_HTTP_DELETE = 1u << 4,
    POSTURE_HTTP_ANY = 0xffu, /* every method, also ones not listed here (Envoy forwards all) */
};
/* Listener masks of a route; 0 means both. */
#define POSTURE_HTTP_ON_AGENTS   (1u << POSTURE_HTTP_LISTENER_AGENTS)
#define POSTURE_HTTP_ON_GATEWAYS (1u << POSTURE_HTTP_LISTENER_GATEWAYS)

struct posture_http_request;

const char *posture_http_request_method(const struct posture_http_request *req);
/* The path as sent, without the query string (percent-escapes not decoded). */
const char *posture_http_request_path(const struct posture_http_request *req);
/* A request header (case-insensitive name); NULL if absent. Borrowed for the request. */
const char *posture_http_request_header(const struct posture_http_request *req, const char *name);
/* A query argument (decoded by libmicrohttpd); NULL if absent. */
const char *posture_http_request_query(const struct posture_http_request *req, const char *name);
/* The request body (NUL-terminated for convenience; len excludes it). Empty when none. */
const uint8_t *posture_http_request_body(const struct posture_http_request *req, size_t *ret_len);
enum posture_http_listener posture_http_request_listener(const struct posture_http_request *req);
/* The peer is in trusted_gateways (always false on the agent listener). */
bool posture_http_request_peer_trusted(const struct posture_http_request *req);
/* The peer address as text (for logs). */
const char *posture_http_request_peer(const struct posture_http_request *req);
/* The client's identity; NULL when there is none or it was refused. Borrowed for the request. */
const struct posture_http_identity *
posture_http_request_identity(const struct posture_http_request *req);
/* Why a forwarded identity was refused (a static string), or NULL when it was not. A handler
 * that needs an identity answers 401 either way. */
const char *posture_http_request_identity_error(const struct posture_http_request *req);

struct posture_http_response;

/* Status (100..599); the default is 200. */
void posture_http_response_set_status(struct posture_http_response *resp, unsigned status);
/* Add a header; name is a token, value has no CR, LF or NUL. -EINVAL, -E2BIG (too many),
 * -ENOMEM. */
int posture_http_response_add_header(struct posture_http_response *resp,
                                     const char *name,
                                     const char *value);
/* Set the body (copied) and its Content-Type. -ENOMEM. */
int posture_http_response_set_body(struct posture_http_response *resp,
                                   const char *content_type,
                                   const void *data,
                                   size_t len);
/* Set status and body from JSON (printed unformatted). content_type NULL: application/json. */
int posture_http_response_set_json(struct posture_http_response *resp,
                                   unsigned status,
                                   const char *content_type,
                                   const cJSON *json);
/*
 * RFC 9457 problem details: status, body {"type": "urn:posture:problem:<type>", "title",
 * "status", "detail" (when not NULL)} plus the members of extra (may be NULL; not taken), with
 * Content-Type application/problem+json and Cache-Control no-store.
 */
int posture_http_response_problem(struct posture_http_response *resp,
                                  unsigned status,
                                  const char *type,
                                  const char *title,
                                  const char *detail,
                                  const cJSON *extra);

/* A route's handler: fill resp and return 0; a negative errno makes a 503 problem (the
 * verifier fails closed). */
typedef int (*posture_http_handler_fn)(struct posture_http_request *req,
                                       struct posture_http_response *resp,
                                       void *userdata);

struct posture_http_route {
    const char *path; /* "/healthz"; with prefix also "/v1/authz/<anything>" */
    posture_http_handler_fn handler;
    void *userdata;
    size_t body_max;    /* 0: the server's default body limit */
    unsigned methods;   /* POSTURE_HTTP_GET | ... */
    unsigned listeners; /* POSTURE_HTTP_ON_*; 0: both */
    bool prefix;
};

/* ---- the server ------------------------------------------------------------------------ */

/* A forwarded-certificate header from a peer that is not a trusted gateway (rate-limited to
 * once per peer per minute); the server ignores the header and goes on. */
typedef void (*posture_http_forged_fn)(const char *peer, const char *header, void *userdata);

struct posture_http_options {
    const char *agents;       /* listen address; NULL or "" = no agent listener */
    const char *gateways;     /* listen address; NULL or "" = no gateway listener */
    const char *tls_cert_pem; /* required with agents */
    const char *tls_key_pem;
    const char *client_ca_pem;       /* NULL: no client certificates requested */
    char *const *trusted_gateways;   /* NULL-terminated; each valid for posture_http_cidr_parse */
    unsigned threads;                /* per listener; 0: one per online CPU */
    unsigned max_connections;        /* per listener, split among its threads; 0: 1024 */
    unsigned max_connections_per_ip; /* agent listener, per client address; 0: no limit */
    uint64_t request_timeout_usec;   /* 0: 10 s */
    uint64_t idle_timeout_usec;      /* 0: 30 s */
    size_t body_max;                 /* default route body limit; 0: POSTURE_HTTP_BODY_MAX_DEF */
    struct posture_metrics *metrics; /* optional: http request counters and latency */
    posture_http_forged_fn on_forged;
    void *userdata;
};

struct posture_http_server;

/* Validate the options and prepare the server (nothing listens yet). -EINVAL for bad options
 * (addresses, CIDRs, missing TLS material), -ENOMEM. */
int posture_http_server_new(const struct posture_http_options *opts,
                            struct posture_http_server **ret);
/* Add a route (copied) before posture_http_server_start(). -EINVAL, -EBUSY once started,
 * -EEXIST for a duplicate path, -ENOMEM. */
int posture_http_server_add_route(struct posture_http_server *srv,
                                  const struct posture_http_route *route);
/* Replace the trusted_gateways rules (SIGHUP): all are parsed first (-EINVAL: nothing changed),
 * then swapped at once; every connection checks its peer against the new rules at its next
 * request, so a gateway removed from the list loses its trust on open connections too.
 * -ENOMEM. */
int posture_http_server_set_trusted_gateways(struct posture_http_server *srv,
                                             char *const *trusted_gateways);
/* Bind and start the listeners. -EADDRINUSE, -EACCES, -EBADMSG (TLS material libmicrohttpd
 * refused), -EIO. */
int posture_http_server_start(struct posture_http_server *srv);
/* The bound address of a listener (port 0 resolved). -ENOENT when it is off. */
int posture_http_server_address(const struct posture_http_server *srv,
                                enum posture_http_listener l,
                                struct sockaddr_storage *ret,
                                socklen_t *ret_len);
/* Graceful stop: stop accepting, wait up to grace_usec for requests already being handled,
 * then close every connection and join the threads. Idempotent. Returns the number of requests
 * still in flight when the grace ran out (0 normally). */
int posture_http_server_stop(struct posture_http_server *srv, uint64_t grace_usec);
/* Stop (no grace) and free. NULL-safe; returns NULL. */
struct posture_http_server *posture_http_server_free(struct posture_http_server *srv);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_http_server *, posture_http_server_free)
#define posture_auto_http_server POSTURE_CLEANUP(posture_http_server_freep)
