/* SPDX-License-Identifier: Apache-2.0 */
/* HTTPS to the verifier over libcurl; see http_client.h. */

#include "http_client.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "posture/log.h"
#include "posture/ossl.h"
#include "posture/parse.h"

#include "curl_dl.h"
#include "tls_key.h"

/* Every libcurl call goes through the loaded API (curl_dl.h); a caller holds a reference
 * (a client with an easy handle, or posture_http_parse_retry_after for its call). */
static const struct posture_curl_api *C;
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_init(...)      (C->easy_init(__VA_ARGS__))
#define curl_easy_cleanup(...)   (C->easy_cleanup(__VA_ARGS__))
#define curl_easy_setopt(...)    (C->easy_setopt(__VA_ARGS__))
#define curl_easy_perform(...)   (C->easy_perform(__VA_ARGS__))
#define curl_easy_getinfo(...)   (C->easy_getinfo(__VA_ARGS__))
#define curl_easy_strerror(...)  (C->easy_strerror(__VA_ARGS__))
#define curl_easy_header(...)    (C->easy_header(__VA_ARGS__))
#define curl_slist_append(...)   (C->slist_append(__VA_ARGS__))
#define curl_slist_free_all(...) (C->slist_free_all(__VA_ARGS__))
#define curl_getdate(...)        (C->getdate(__VA_ARGS__))

struct posture_http_client {
    CURL *curl; /* NULL while idle (posture_http_client_idle()); holds a curl_dl reference */
    bool https;
    uint64_t connect_usec, total_usec;
    char *base_url;
    char *ca_file;
    char *cert_file;
    EVP_PKEY *key;     /* the caller's */
    EVP_PKEY *tls_key; /* what TLS signs with: key itself, or its wrapper (tls_key.h) */
    bool body_too_large;
    char *body;
    size_t body_len, body_cap;
    posture_http_cancel_fn cancel;
    void *cancel_userdata;
    char errbuf[CURL_ERROR_SIZE];
};

/* A reference to libcurl, loading it when needed: 0, or -EIO (logged at debug). */
static int curl_ref(void)
{
    const char *why = NULL;
    const struct posture_curl_api *api = posture_curl_api_get(&why);

    if (!api) {
        log_debug("http: %s", why ? why : "libcurl cannot be loaded");
        return -EIO;
    }
    C = api;
    return 0;
}

void posture_http_response_done(struct posture_http_response *r)
{
    if (!r)
        return;
    free(r->content_type);
    free(r->body);
    *r = (struct posture_http_response){ .retry_after_sec = -1 };
}

void posture_http_client_idle(struct posture_http_client *c)
{
    if (!c || !c->curl)
        return;
    curl_easy_cleanup(c->curl);
    c->curl = NULL;
    posture_curl_api_put();
}

struct posture_http_client *posture_http_client_free(struct posture_http_client *c)
{
    if (!c)
        return NULL;
    posture_http_client_idle(c);
    EVP_PKEY_free(c->tls_key);
    free(c->base_url);
    free(c->ca_file);
    free(c->cert_file);
    free(c->body);
    free(c);
    return NULL;
}

/* The device certificate and key go into OpenSSL's context directly: the key may live in a
 * provider (the TPM) and never be a file. */
static CURLcode ssl_ctx_cb(CURL *curl, void *ssl_ctx, void *userdata)
{
    struct posture_http_client *c = userdata;
    SSL_CTX *ctx = ssl_ctx;

    if (!c->key || !c->cert_file)
        return CURLE_OK;
    if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, c->tls_key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        log_debug("http: device certificate %s does not go with the device key", c->cert_file);
        posture_ossl_drain("http: device certificate");
        return CURLE_SSL_CERTPROBLEM;
    }
    return CURLE_OK;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userdata)
{
    struct posture_http_client *c = userdata;
    size_t len = size * n;

    if (c->body_len + len > POSTURE_HTTP_BODY_MAX) {
        c->body_too_large = true;
        return 0; /* abort the transfer */
    }
    if (c->body_len + len + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 4096;
        char *p;
        while (cap < c->body_len + len + 1)
            cap *= 2;
        p = realloc(c->body, cap);
        if (!p)
            return 0;
        c->body = p;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, data, len);
    c->body_len += len;
    c->body[c->body_len] = '\0';
    return len;
}

/* libcurl's progress callback: non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK). */
static int xferinfo_cb(
    void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct posture_http_client *c = userdata;

    (void) dltotal;
    (void) dlnow;
    (void) ultotal;
    (void) ulnow;
    return c->cancel && c->cancel(c->cancel_userdata) ? 1 : 0;
}

void posture_http_client_set_cancel(struct posture_http_client *c,
                                    posture_http_cancel_fn fn,
                                    void *userdata)
{
    if (!c)
        return;
    c->cancel = fn;
    c->cancel_userdata = userdata;
}

/* The easy handle with every option; takes a libcurl reference. 0, -ENOMEM or -EIO. */
static int open_handle(struct posture_http_client *c)
{
    CURL *h;
    bool ok;
    int r;

    if (c->curl)
        return 0;
    r = curl_ref();
    if (r < 0)
        return r;
    h = curl_easy_init();
    if (!h) {
        posture_curl_api_put();
        return -ENOMEM;
    }
    ok = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->https ? "https" : "http") == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) (c->connect_usec / 1000)) ==
             CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) (c->total_usec / 1000)) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_WRITEDATA, c) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_XFERINFODATA, c) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
         curl_easy_setopt(h, CURLOPT_USERAGENT, "posture-agent") == CURLE_OK;
    if (ok && c->https) {
        ok = curl_easy_setopt(h, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, c) == CURLE_OK;
        /* Pinned: the verifier's CA and nothing else. */
        if (ok && c->ca_file)
            ok = curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file) == CURLE_OK &&
                 curl_easy_setopt(h, CURLOPT_CAPATH, NULL) == CURLE_OK;
    }
    if (!ok) {
        curl_easy_cleanup(h);
        posture_curl_api_put();
        return -EIO;
    }
    c->curl = h;
    return 0;
}

int posture_http_client_new(const struct posture_http_client_opts *opts,
                            struct posture_http_client **ret)
{
    struct posture_http_client *c;
    bool https;
    int r;

    if (!opts || !opts->base_url || !ret || (opts->cert_file && !opts->key))
        return -EINVAL;
    https = strncmp(opts->base_url, "https://", 8) == 0;
    if (!https && !(opts->allow_plain && strncmp(opts->base_url, "http://", 7) == 0))
        return -EINVAL;

    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->https = https;
    c->connect_usec =
        opts->connect_timeout_usec ? opts->connect_timeout_usec : POSTURE_HTTP_CONNECT_TIMEOUT;
    c->total_usec =
        opts->total_timeout_usec ? opts->total_timeout_usec : POSTURE_HTTP_TOTAL_TIMEOUT;
    c->base_url = strdup(opts->base_url);
    c->ca_file = opts->ca_file ? strdup(opts->ca_file) : NULL;
    c->cert_file = opts->cert_file ? strdup(opts->cert_file) : NULL;
    c->key = opts->key;
    if (!c->base_url || (opts->ca_file && !c->ca_file) || (opts->cert_file && !c->cert_file)) {
        posture_http_client_free(c);
        return -ENOMEM;
    }
    if (c->key) {
        r = posture_tls_key_wrap(c->key, &c->tls_key);
        if (r < 0) {
            posture_http_client_free(c);
            return r;
        }
    }
    /* Trailing slashes of the base go: paths start with '/'. */
    for (size_t n = strlen(c->base_url); n > 0 && c->base_url[n - 1] == '/'; n--)
        c->base_url[n - 1] = '\0';
    /* libcurl is loaded now, so that a client that cannot work fails here */
    r = open_handle(c);
    if (r < 0) {
        posture_http_client_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

static int map_curl_error(CURLcode rc, bool too_large)
{
    if (too_large)
        return -EMSGSIZE;
    switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
        return -ECANCELED;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return -EPERM;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    default:
        return -EPROTO;
    }
}

int64_t posture_http_parse_retry_after(const char *value, int64_t now)
{
    uint64_t secs;
    time_t when;

    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char) value[0])) {
        /* delta-seconds: digits only, capped at a day (a longer wait is the backoff cap's). */
        if (posture_parse_u64(value, &secs) < 0)
            return -1;
        return secs > 86400 ? 86400 : (int64_t) secs;
    }
    if (curl_ref() < 0)
        return -1;
    when = curl_getdate(value, NULL);
    posture_curl_api_put();
    if (when == (time_t) -1)
        return -1;
    return when <= now ? 0 : (when - now > 86400 ? 86400 : (int64_t) (when - now));
}

int posture_http_request(struct posture_http_client *c,
                         const char *path,
                         const char *content_type,
                         const void *body,
                         size_t len,
                         struct posture_http_response *ret,
                         const char **ret_detail)
{
    struct curl_slist *headers = NULL;
    struct curl_header *h = NULL;
    char *url = NULL, *ctype = NULL;
    const char *ct = NULL;
    long status = 0;
    CURLcode rc;
    size_t n;
    int r = 0;

    if (!c || !path || path[0] != '/' || !ret || (body && !content_type))
        return -EINVAL;
    r = open_handle(c); /* again after posture_http_client_idle() */
    if (r < 0)
        return r;
    n = strlen(c->base_url) + strlen(path) + 1;
    url = malloc(n);
    if (!url)
        return -ENOMEM;
    (void) snprintf(url, n, "%s%s", c->base_url, path);

    c->body_len = 0;
    c->body_too_large = false;
    c->errbuf[0] = '\0';
    if (body) {
        char line[128];
        (void) snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, line);
        headers = headers ? curl_slist_append(headers, "Expect:") : NULL;
        if (!headers) {
            free(url);
            return -ENOMEM;
        }
    }
    if (curl_easy_setopt(c->curl, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
        (body ? curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len) !=
                        CURLE_OK ||
                    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK
              : curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L) != CURLE_OK)) {
        r = -EIO;
        goto out;
    }

    rc = curl_easy_perform(c->curl);
    if (ret_detail)
        *ret_detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    if (rc != CURLE_OK) {
        log_debug("http: %s: %s", url, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        r = map_curl_error(rc, c->body_too_large);
        goto out;
    }
    (void) curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) {
        size_t k = strcspn(ct, ";");
        while (k > 0 && (ct[k - 1] == ' ' || ct[k - 1] == '\t'))
            k--;
        ctype = strndup(ct, k);
        if (!ctype) {
            r = -ENOMEM;
            goto out;
        }
        for (char *p = ctype; *p; p++)
            *p = (char) tolower((unsigned char) *p);
    }

    *ret = (struct posture_http_response){ .status = status, .retry_after_sec = -1 };
    if (curl_easy_header(c->curl, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h)
        ret->retry_after_sec = posture_http_parse_retry_after(h->value, (int64_t) time(NULL));
    ret->content_type = ctype;
    ctype = NULL;
    ret->body = c->body ? c->body : strdup("");
    ret->body_len = c->body_len;
    c->body = NULL;
    c->body_cap = 0;
    c->body_len = 0;
    if (!ret->body) {
        posture_http_response_done(ret);
        r = -ENOMEM;
    }
out:
    (void) curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    free(ctype);
    free(url);
    return r;
}
