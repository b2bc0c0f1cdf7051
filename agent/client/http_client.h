/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * HTTPS to the verifier (DESIGN.md §8, §11): libcurl with OpenSSL, the verifier's CA pinned
 * (only it is trusted; the system store is not consulted), the host name verified, TLS 1.2 at
 * least, mutual TLS with the device certificate and the device key when they are given (the key
 * is an EVP_PKEY handed to OpenSSL through CURLOPT_SSL_CTX_FUNCTION, so a TPM-resident key from
 * the tpm2 provider works like a file key), connect and total timeouts, no redirects, the proxy
 * environment honoured (https_proxy, no_proxy), response bodies capped.
 *
 * One client is used by one thread at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "posture/cleanup.h"

#define POSTURE_HTTP_BODY_MAX        ((size_t) 256 * 1024) /* responses: EAR, problem+json */
#define POSTURE_HTTP_CONNECT_TIMEOUT ((uint64_t) 10 * 1000000)
#define POSTURE_HTTP_TOTAL_TIMEOUT   ((uint64_t) 30 * 1000000)

struct posture_http_client_opts {
    const char *base_url;  /* "https://verifier.example:8443"; http:// only with allow_plain */
    const char *ca_file;   /* PEM bundle of the verifier's CA: the only trust anchor; NULL
                              uses the system store (enrolment before the CA is known is not
                              allowed: the caller passes --ca) */
    const char *cert_file; /* PEM device certificate (mTLS) or NULL */
    EVP_PKEY *key;         /* the device key (mTLS) or NULL; borrowed, must outlive the client */
    uint64_t connect_timeout_usec; /* 0: POSTURE_HTTP_CONNECT_TIMEOUT */
    uint64_t total_timeout_usec;   /* 0: POSTURE_HTTP_TOTAL_TIMEOUT */
    int allow_plain;               /* tests only: accept an http:// base_url */
};

struct posture_http_response {
    long status;        /* HTTP status */
    char *content_type; /* lower-cased media type without parameters, or NULL */
    char *body;         /* NUL-terminated, body_len bytes (capped at POSTURE_HTTP_BODY_MAX) */
    size_t body_len;
    int64_t retry_after_sec; /* Retry-After in seconds (delta or HTTP date), -1 when absent */
};

void posture_http_response_done(struct posture_http_response *r);

struct posture_http_client;

/* Asked about once a second while a request runs (and whenever data moves): true aborts the
 * request, which then returns -ECANCELED. Runs on the requesting thread. */
typedef bool (*posture_http_cancel_fn)(void *userdata);

/* -EINVAL for a bad URL/scheme, -ENOMEM, -EIO when libcurl cannot start. */
int posture_http_client_new(const struct posture_http_client_opts *opts,
                            struct posture_http_client **ret);
struct posture_http_client *posture_http_client_free(struct posture_http_client *c);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_http_client *, posture_http_client_free)
#define posture_auto_http_client POSTURE_CLEANUP(posture_http_client_freep)

/* Between requests that are far apart (postured's cycles): drop the connection and libcurl's
 * handle, and with the last client libcurl itself (curl_dl.h), so an idle daemon does not keep
 * libcurl and its libraries mapped. The next request sets up again. NULL-safe. */
void posture_http_client_idle(struct posture_http_client *c);

/* Install (or with fn NULL remove) the cancel hook of every later request. */
void posture_http_client_set_cancel(struct posture_http_client *c,
                                    posture_http_cancel_fn fn,
                                    void *userdata);

/*
 * POST body (len bytes, content type content_type) to base_url + path, or GET when body is
 * NULL. On any HTTP answer returns 0 and fills *ret (free with posture_http_response_done()),
 * whatever the status. Transport failures: -ECONNREFUSED, -EHOSTUNREACH (resolve/connect),
 * -ETIMEDOUT, -EPERM (TLS: the server's certificate is not from the pinned CA or not for this
 * host, or our certificate was refused), -EMSGSIZE (response body over the cap), -ECANCELED
 * (the cancel hook asked to stop), -EPROTO
 * (anything else in HTTP/TLS), -ENOMEM. *ret_detail (optional) gets libcurl's error text for
 * logs (static per client, valid until the next call).
 */
int posture_http_request(struct posture_http_client *c,
                         const char *path,
                         const char *content_type,
                         const void *body,
                         size_t len,
                         struct posture_http_response *ret,
                         const char **ret_detail);

/* Parse a Retry-After value: delta-seconds or an IMF-fixdate (RFC 9110 §10.2.3), relative to
 * now (epoch seconds). Returns seconds ≥ 0, or -1 when it is neither. */
int64_t posture_http_parse_retry_after(const char *value, int64_t now);
