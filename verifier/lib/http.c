/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier's HTTP layer on libmicrohttpd (see http.h).
 *
 * Debian's libmicrohttpd 0.9.75 uses GnuTLS. With MHD_OPTION_HTTPS_MEM_TRUST it asks every
 * client for a certificate (GNUTLS_CERT_REQUEST) but checks nothing itself; so when a
 * connection starts (MHD_CONNECTION_NOTIFY_STARTED, after libmicrohttpd created the GnuTLS
 * session and before the first byte of the handshake) we install a per-session verify function
 * that ends the handshake when a certificate is sent that does not chain to the client CA with
 * the TLS client purpose. No certificate is allowed: the request then has no identity.
 *
 * Slow clients: libmicrohttpd's connection timeout restarts with every byte received, so a
 * client trickling one byte per second would never time out. A watchdog thread keeps an
 * absolute deadline per connection (idle_timeout while no request is under way, request_timeout
 * from the request line on) and shuts down the socket of a connection past it; libmicrohttpd then
 * sees the end of the stream and cleans up. The socket stays open (shutdown(), not close()) until
 * libmicrohttpd's clean-up, which tells us first (NOTIFY_CLOSED), so the watchdog never touches
 * a reused descriptor.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "posture/err.h"
#include "posture/log.h"
#include "posture/parse.h"
#include "posture/strv.h"

#include "metrics.h"

#define USEC_PER_SEC         UINT64_C(1000000)
#define DEFAULT_CONNECTIONS  1024u
#define DEFAULT_REQ_TIMEOUT  (10 * USEC_PER_SEC)
#define DEFAULT_IDLE_TIMEOUT (30 * USEC_PER_SEC)
#define WATCHDOG_TICK_USEC   (100 * 1000)
#define FORGED_SLOTS         128
#define FORGED_INTERVAL_USEC (60 * USEC_PER_SEC)
#define CONN_MEMORY_LIMIT    ((size_t) 64 * 1024)
#define LISTEN_BACKLOG       1024
#define TRAEFIK_CHAIN_MAX    8
#define PEER_MAX             64
#define HEX_LEN              ((size_t) 2 * POSTURE_HTTP_SHA256_SIZE)
#define PROBLEM_TYPE_PREFIX  "urn:posture:problem:"
#define TLS_PRIORITIES       "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* ---- small helpers --------------------------------------------------------------------- */

static uint64_t now_usec(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Strict percent-decoding of n bytes: every '%' is followed by two hex digits; '+' stays '+'.
 * The result is NUL-terminated; a decoded NUL is refused. */
static int percent_decode(const char *s, size_t n, char **ret, size_t *ret_len)
{
    char *out = calloc(1, n + 1);
    size_t j = 0;

    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '%') {
            int hi = n - i >= 3 ? hexval(s[i + 1]) : -1;
            int lo = n - i >= 3 ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return -EBADMSG;
            }
            out[j++] = (char) (hi * 16 + lo);
            i += 2;
        } else if (c < 0x20 || c >= 0x7f) {
            free(out);
            return -EBADMSG;
        } else
            out[j++] = (char) c;
    }
    out[j] = '\0';
    *ret = out;
    *ret_len = j;
    return 0;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict standard base64 with padding: length a multiple of 4, '=' only at the end (at most 2),
 * unused bits zero. */
static int base64_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_len)
{
    uint8_t *out;
    size_t pad = 0, j = 0;

    if (n == 0 || n % 4 != 0)
        return -EBADMSG;
    if (s[n - 1] == '=')
        pad++;
    if (s[n - 2] == '=')
        pad++;
    out = malloc(n / 4 * 3);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        bool last = i + 4 == n;
        for (size_t k = 0; k < 4; k++) {
            if (last && s[i + k] == '=' && k >= 4 - pad) {
                v[k] = 0;
                continue;
            }
            v[k] = b64val(s[i + k]);
            if (v[k] < 0) {
                free(out);
                return -EBADMSG;
            }
        }
        uint32_t w =
            (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12 | (uint32_t) v[2] << 6 | (uint32_t) v[3];
        out[j++] = (uint8_t) (w >> 16);
        if (!last || pad < 2)
            out[j++] = (uint8_t) (w >> 8);
        if (!last || pad < 1)
            out[j++] = (uint8_t) w;
        if (last && ((pad == 2 && (w & 0xffff) != 0) || (pad == 1 && (w & 0xff) != 0))) {
            free(out);
            return -EBADMSG;
        }
    }
    *ret = out;
    *ret_len = j;
    return 0;
}

/* DER must be exactly one X.509 certificate. */
static int der_check(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x;

    if (len == 0 || len > POSTURE_HTTP_CERT_DER_MAX)
        return -EBADMSG;
    x = d2i_X509(NULL, &p, (long) len);
    if (!x)
        return -EBADMSG;
    X509_free(x);
    return p == der + len ? 0 : -EBADMSG;
}

static int sha256(const uint8_t *data, size_t len, uint8_t out[POSTURE_HTTP_SHA256_SIZE])
{
    unsigned n = 0;

    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != POSTURE_HTTP_SHA256_SIZE)
        return -EIO;
    return 0;
}

/* Strict PEM of exactly one certificate: BEGIN line, base64 lines of at most 76 characters,
 * END line, an optional final newline. */
static int pem_cert_decode(const char *s, size_t n, uint8_t **ret_der, size_t *ret_len)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    const char *p = s, *e = s + n;
    char *b64 = NULL;
    size_t b64_len = 0;
    uint8_t *der = NULL;
    size_t der_len = 0;
    int r;

    if (n < strlen(begin) || memcmp(p, begin, strlen(begin)) != 0)
        return -EBADMSG;
    p += strlen(begin);
    if (p < e && *p == '\r')
        p++;
    if (p >= e || *p != '\n')
        return -EBADMSG;
    p++;
    b64 = calloc(1, n + 1);
    if (!b64)
        return -ENOMEM;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t) (e - p));
        const char *line_end = nl ? nl : e;
        size_t len = (size_t) (line_end - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        if (len == strlen(end) && memcmp(p, end, len) == 0) {
            /* only an optional newline may follow */
            if (nl && nl + 1 != e) {
                r = -EBADMSG;
                goto out;
            }
            break;
        }
        if (!nl || len == 0 || len > 76) {
            r = -EBADMSG;
            goto out;
        }
        memcpy(b64 + b64_len, p, len);
        b64_len += len;
        p = nl + 1;
    }
    r = base64_decode(b64, b64_len, &der, &der_len);
    if (r < 0)
        goto out;
    r = der_check(der, der_len);
    if (r < 0)
        goto out;
    *ret_der = der;
    *ret_len = der_len;
    der = NULL;
out:
    free(b64);
    free(der);
    return r;
}

/* ---- forwarded-certificate parsers ------------------------------------------------------ */

static int value_check(const char *value, size_t *ret_len)
{
    size_t n;

    if (!value)
        return -EBADMSG;
    n = strnlen(value, POSTURE_HTTP_HEADER_MAX + 1);
    if (n > POSTURE_HTTP_HEADER_MAX)
        return -E2BIG;
    if (n == 0)
        return -EBADMSG;
    *ret_len = n;
    return 0;
}

int posture_http_parse_nginx_cert(const char *value, uint8_t **ret_der, size_t *ret_len)
{
    posture_autofree char *pem = NULL;
    size_t n = 0, pem_len = 0;
    int r;

    if (!ret_der || !ret_len)
        return -EINVAL;
    r = value_check(value, &n);
    if (r < 0)
        return r;
    r = percent_decode(value, n, &pem, &pem_len);
    if (r < 0)
        return r;
    return pem_cert_decode(pem, pem_len, ret_der, ret_len);
}

int posture_http_parse_traefik_cert(const char *value, uint8_t **ret_der, size_t *ret_len)
{
    posture_autofree char *text = NULL;
    uint8_t *leaf = NULL;
    size_t leaf_len = 0, n = 0, text_len = 0;
    unsigned count = 0;
    int r;

    if (!ret_der || !ret_len)
        return -EINVAL;
    r = value_check(value, &n);
    if (r < 0)
        return r;
    r = percent_decode(value, n, &text, &text_len);
    if (r < 0)
        return r;
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen(p);
        uint8_t *der = NULL;
        size_t der_len = 0;

        if (++count > TRAEFIK_CHAIN_MAX) {
            free(leaf);
            return -EBADMSG;
        }
        r = base64_decode(p, len, &der, &der_len);
        if (r >= 0) {
            r = der_check(der, der_len);
            if (r < 0)
                free(der);
        }
        if (r < 0) {
            free(leaf);
            return r;
        }
        if (!leaf) {
            leaf = der;
            leaf_len = der_len;
        } else
            free(der);
        if (!comma)
            break;
        p = comma + 1;
    }
    *ret_der = leaf;
    *ret_len = leaf_len;
    return 0;
}

int posture_http_parse_fingerprint(const char *value, uint8_t ret_hash[POSTURE_HTTP_SHA256_SIZE])
{
    bool lower = false, upper = false;
    uint8_t h[POSTURE_HTTP_SHA256_SIZE];

    if (!value || !ret_hash || strnlen(value, HEX_LEN + 1) != HEX_LEN)
        return -EBADMSG;
    for (size_t i = 0; i < HEX_LEN; i++) {
        char c = value[i];
        if (c >= 'a' && c <= 'f')
            lower = true;
        else if (c >= 'A' && c <= 'F')
            upper = true;
        else if (!(c >= '0' && c <= '9'))
            return -EBADMSG;
    }
    if (lower && upper)
        return -EBADMSG;
    for (size_t i = 0; i < POSTURE_HTTP_SHA256_SIZE; i++)
        h[i] = (uint8_t) (hexval(value[2 * i]) * 16 + hexval(value[2 * i + 1]));
    memcpy(ret_hash, h, sizeof(h));
    return 0;
}

/* One XFCC value: quoted ("..." with \" and \\ escapes) or bare (no ',', ';', '"').
 * Writes the unescaped value into a new string. */
static int xfcc_value(const char **pp, char **ret)
{
    const char *p = *pp;
    size_t cap = strlen(p) + 1, j = 0;
    char *out = malloc(cap);

    if (!out)
        return -ENOMEM;
    if (*p == '"') {
        p++;
        for (;;) {
            if (*p == '\0') {
                free(out);
                return -EBADMSG;
            }
            if (*p == '"') {
                p++;
                break;
            }
            if (*p == '\\') {
                p++;
                if (*p != '"' && *p != '\\') {
                    free(out);
                    return -EBADMSG;
                }
            }
            if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f) {
                free(out);
                return -EBADMSG;
            }
            out[j++] = *p++;
        }
    } else {
        while (*p && *p != ';' && *p != ',') {
            if (*p == '"' || (unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f) {
                free(out);
                return -EBADMSG;
            }
            out[j++] = *p++;
        }
    }
    out[j] = '\0';
    *pp = p;
    *ret = out;
    return 0;
}

int posture_http_parse_xfcc(const char *value,
                            uint8_t ret_hash[POSTURE_HTTP_SHA256_SIZE],
                            uint8_t **ret_der,
                            size_t *ret_len)
{
    static const char *const single[] = { "By", "Hash", "Cert", "Chain", "Subject" };
    unsigned seen[5] = { 0 };
    uint8_t hash[POSTURE_HTTP_SHA256_SIZE];
    posture_autofree char *cert = NULL;
    const char *p = value;
    bool have_hash = false;
    size_t n = 0;
    int r;

    if (!ret_hash || !ret_der || !ret_len)
        return -EINVAL;
    r = value_check(value, &n);
    if (r < 0)
        return r;

    for (;;) {
        char key[16];
        size_t k = 0;
        posture_autofree char *v = NULL;

        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
            if (k + 1 >= sizeof(key))
                return -EBADMSG;
            key[k++] = *p++;
        }
        key[k] = '\0';
        if (k == 0 || *p != '=')
            return -EBADMSG;
        p++;
        r = xfcc_value(&p, &v);
        if (r < 0)
            return r;

        bool known = false;
        for (size_t i = 0; i < POSTURE_ELEMENTSOF(single); i++)
            if (strcasecmp(key, single[i]) == 0) {
                if (seen[i]++ > 0)
                    return -EBADMSG; /* a duplicate key */
                known = true;
            }
        if (strcasecmp(key, "URI") == 0 || strcasecmp(key, "DNS") == 0)
            known = true;
        if (!known)
            return -EBADMSG;
        if (strcasecmp(key, "Hash") == 0) {
            for (const char *c = v; *c; c++)
                if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
                    return -EBADMSG;
            if (posture_http_parse_fingerprint(v, hash) < 0)
                return -EBADMSG;
            have_hash = true;
        } else if (strcasecmp(key, "Cert") == 0)
            cert = POSTURE_TAKE_PTR(v);

        if (*p == '\0')
            break;
        if (*p != ';')
            return -EBADMSG; /* ',' starts a second element: refused */
        p++;
    }
    if (!have_hash)
        return -EBADMSG;

    uint8_t *der = NULL;
    size_t der_len = 0;
    if (cert) {
        uint8_t h[POSTURE_HTTP_SHA256_SIZE];
        r = posture_http_parse_nginx_cert(cert, &der, &der_len);
        if (r < 0)
            return r == -E2BIG ? -EBADMSG : r;
        r = sha256(der, der_len, h);
        if (r >= 0 && memcmp(h, hash, sizeof(h)) != 0)
            r = -EBADMSG;
        if (r < 0) {
            free(der);
            return r;
        }
    }
    memcpy(ret_hash, hash, sizeof(hash));
    *ret_der = der;
    *ret_len = der_len;
    return 0;
}

/* ---- addresses -------------------------------------------------------------------------- */

int posture_http_address_parse(const char *s, struct posture_http_address *ret)
{
    struct posture_http_address a = { .len = 0 };
    const char *path = NULL;

    if (!s || !ret)
        return -EINVAL;
    if (strncmp(s, "unix:", 5) == 0)
        path = s + 5;
    else if (s[0] == '/')
        path = s;
    if (path) {
        struct sockaddr_un *un = (struct sockaddr_un *) &a.sa;
        size_t n = strlen(path);
        if (path[0] != '/' || n >= sizeof(un->sun_path))
            return -EINVAL;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, n + 1);
        a.len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
        *ret = a;
        return 0;
    }

    char host[INET6_ADDRSTRLEN + 1];
    const char *port;
    bool v6 = s[0] == '[';
    if (v6) {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t) (close - s - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, (size_t) (close - s - 1));
        host[close - s - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || (size_t) (colon - s) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s, (size_t) (colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    uint32_t p = 0;
    if (port[0] < '0' || port[0] > '9' || posture_parse_u32(port, &p) < 0 || p > 65535)
        return -EINVAL;
    if (v6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &a.sa;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
            return -EINVAL;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t) p);
        a.len = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *) &a.sa;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            return -EINVAL;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t) p);
        a.len = sizeof(*in);
    }
    *ret = a;
    return 0;
}

const char *
posture_http_address_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];

    if (!buf || size == 0)
        return buf;
    buf[0] = '\0';
    if (!sa)
        return buf;
    switch (sa->sa_family) {
    /* copies, not casts: sa may be less aligned than the specific types */
    case AF_INET: {
        struct sockaddr_in in;
        if (len < (socklen_t) sizeof(in))
            break;
        memcpy(&in, sa, sizeof(in));
        if (!inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host)))
            break;
        (void) snprintf(buf, size, "%s:%u", host, ntohs(in.sin_port));
        break;
    }
    case AF_INET6: {
        struct sockaddr_in6 in6;
        if (len < (socklen_t) sizeof(in6))
            break;
        memcpy(&in6, sa, sizeof(in6));
        if (!inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host)))
            break;
        (void) snprintf(buf, size, "[%s]:%u", host, ntohs(in6.sin6_port));
        break;
    }
    case AF_UNIX: {
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        size_t max = len > offsetof(struct sockaddr_un, sun_path)
                         ? (size_t) len - offsetof(struct sockaddr_un, sun_path)
                         : 0;
        if (max > sizeof(un.sun_path))
            max = sizeof(un.sun_path);
        memcpy(un.sun_path, (const char *) sa + offsetof(struct sockaddr_un, sun_path), max);
        (void) snprintf(buf, size, "unix:%.*s", (int) strnlen(un.sun_path, max), un.sun_path);
        break;
    }
    default:
        break;
    }
    return buf;
}

int posture_http_cidr_parse(const char *s, struct posture_http_cidr *ret)
{
    struct posture_http_cidr c = { .family = 0 };
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash;
    size_t n;
    unsigned max;

    if (!s || !ret)
        return -EINVAL;
    if (strcmp(s, "unix") == 0) {
        c.family = AF_UNIX;
        *ret = c;
        return 0;
    }
    slash = strchr(s, '/');
    n = slash ? (size_t) (slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, n);
    host[n] = '\0';
    if (inet_pton(AF_INET, host, c.addr) == 1) {
        c.family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, c.addr) == 1) {
        c.family = AF_INET6;
        max = 128;
    } else
        return -EINVAL;
    c.prefix = max;
    if (slash) {
        uint32_t p = 0;
        if (slash[1] < '0' || slash[1] > '9' || posture_parse_u32(slash + 1, &p) < 0 || p > max)
            return -EINVAL;
        c.prefix = p;
    }
    /* host bits must be clear: "10.0.0.1/8" is probably a typo */
    for (unsigned bit = c.prefix; bit < max; bit++)
        if (c.addr[bit / 8] & (0x80u >> (bit % 8)))
            return -EINVAL;
    *ret = c;
    return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;

    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t) (0xffu << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool posture_http_cidr_match(const struct posture_http_cidr *rules,
                             size_t n,
                             const struct sockaddr *peer,
                             socklen_t len)
{
    uint8_t addr[16];
    int family;

    if (!rules || !peer)
        return false;
    switch (peer->sa_family) {
    case AF_INET:
        if (len < (socklen_t) sizeof(struct sockaddr_in))
            return false;
        family = AF_INET;
        memcpy(addr, (const char *) peer + offsetof(struct sockaddr_in, sin_addr), 4);
        break;
    case AF_INET6: {
        struct in6_addr a6;
        if (len < (socklen_t) sizeof(struct sockaddr_in6))
            return false;
        memcpy(&a6, (const char *) peer + offsetof(struct sockaddr_in6, sin6_addr), sizeof(a6));
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            family = AF_INET;
            memcpy(addr, a6.s6_addr + 12, 4);
        } else {
            family = AF_INET6;
            memcpy(addr, a6.s6_addr, 16);
        }
        break;
    }
    case AF_UNIX:
        family = AF_UNIX;
        break;
    default:
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (rules[i].family != family)
            continue;
        if (family == AF_UNIX || prefix_match(rules[i].addr, addr, rules[i].prefix))
            return true;
    }
    return false;
}

/* ---- server structures ------------------------------------------------------------------ */

static const char *const identity_source_table[POSTURE_HTTP_IDENTITY__MAX] = {
    [POSTURE_HTTP_IDENTITY_TLS] = "tls",
    [POSTURE_HTTP_IDENTITY_NGINX] = "nginx",
    [POSTURE_HTTP_IDENTITY_ENVOY] = "envoy",
    [POSTURE_HTTP_IDENTITY_TRAEFIK] = "traefik",
    [POSTURE_HTTP_IDENTITY_FINGERPRINT] = "fingerprint",
};

const char *posture_http_identity_source_to_string(enum posture_http_identity_source s)
{
    if ((int) s < 0 || s >= POSTURE_HTTP_IDENTITY__MAX)
        return NULL;
    return identity_source_table[s];
}

/* The forwarded-certificate headers, in the order of enum posture_http_identity_source. */
static const char *const forwarded_headers[] = {
    [POSTURE_HTTP_IDENTITY_NGINX] = "X-Client-Cert",
    [POSTURE_HTTP_IDENTITY_ENVOY] = "X-Forwarded-Client-Cert",
    [POSTURE_HTTP_IDENTITY_TRAEFIK] = "X-Forwarded-Tls-Client-Cert",
    [POSTURE_HTTP_IDENTITY_FINGERPRINT] = "X-Client-Cert-Fp",
};

struct route {
    unsigned methods;
    char *path;
    size_t path_len;
    bool prefix;
    size_t body_max;
    unsigned listeners;
    posture_http_handler_fn handler;
    void *userdata;
};

/* Per connection (libmicrohttpd's socket context). */
struct conn {
    struct listener *l;
    struct conn *prev, *next;
    int fd;
    uint64_t deadline; /* CLOCK_MONOTONIC µs; 0: none */
    bool in_request;   /* a request line has arrived and its response is not sent yet */
    bool cut;
    bool trusted;         /* the peer matched the rules of generation trusted_gen */
    unsigned trusted_gen; /* 0: not evaluated yet (see conn_trusted) */
    char peer[PEER_MAX];
    struct sockaddr_storage peer_sa;
    socklen_t peer_len;
    /* TLS identity, computed once per connection */
    bool tls_checked;
    bool tls_ok;
    uint8_t tls_x5t[POSTURE_HTTP_SHA256_SIZE];
};

struct listener {
    struct posture_http_server *srv;
    enum posture_http_listener kind;
    struct MHD_Daemon *daemon;
    int fd;
    bool enabled;
    bool quiesced;
    struct posture_http_address addr;
    char *unix_path;
};

struct forged_slot {
    char peer[PEER_MAX];
    uint64_t last;
};

#define VERIFIED_SLOTS    1024u /* direct-mapped, by the hash's first bytes */
#define VERIFIED_TTL_USEC ((uint64_t) 60 * USEC_PER_SEC) /* re-verified at least this often */

struct verified_slot {
    uint8_t key[POSTURE_HTTP_SHA256_SIZE]; /* SHA-256(header kind byte || header value) */
    uint8_t x5t[POSTURE_HTTP_SHA256_SIZE]; /* the certificate it carried */
    uint64_t until;                        /* CLOCK_MONOTONIC usec; 0: empty */
};

struct posture_http_server {
    struct listener listeners[POSTURE_HTTP_LISTENER__MAX];
    struct route *routes;
    size_t n_routes;
    struct posture_http_cidr *trusted; /* under lock: replaced by _set_trusted_gateways */
    size_t n_trusted;
    _Atomic unsigned trusted_gen; /* 1, 2, ...: bumped under lock by each replacement */
    char *tls_cert;
    char *tls_key;
    char *client_ca;
    X509_STORE *ca_store; /* the client CA for forwarded certificates */
    /* Forwarded certificate headers whose certificate chain-verified recently, by SHA-256 of
     * the header: a gateway forwards the same few certificates on every request, and OpenSSL
     * 3.0's certificate decoding and chain building cost ~0.8 ms per request (/v1/authz 15x
     * slower); see verified_lookup(). */
    pthread_mutex_t verified_lock;
    struct verified_slot verified[VERIFIED_SLOTS];
    unsigned threads;
    unsigned max_connections;
    unsigned max_connections_per_ip;
    uint64_t request_timeout;
    uint64_t idle_timeout;
    size_t body_max;
    size_t body_max_any; /* the largest limit of any route: larger bodies are refused at once */
    posture_http_forged_fn on_forged;
    void *userdata;

    struct posture_metrics_counter *m_requests;
    struct posture_metrics_counter *m_rejected;
    struct posture_metrics_histogram *m_duration;

    pthread_mutex_t lock; /* conns, forged, watchdog state */
    pthread_cond_t cond;
    struct conn *conns;
    struct forged_slot forged[FORGED_SLOTS];
    pthread_t watchdog;
    bool watchdog_running;
    bool watchdog_stop;

    atomic_int inflight;
    atomic_bool stopping;
    bool started;
    bool stopped;
};

struct posture_http_response {
    unsigned status;
    struct {
        char *name;
        char *value;
    } headers[POSTURE_HTTP_RESP_HEADERS];
    size_t n_headers;
    char *content_type;
    uint8_t *body;
    size_t body_len;
};

struct posture_http_request {
    struct posture_http_server *srv;
    struct listener *l;
    struct conn *conn;
    struct MHD_Connection *c;
    const char *method; /* borrowed from libmicrohttpd for the request */
    const char *path;
    const struct route *route;
    uint8_t *body;
    size_t body_len;
    size_t body_cap;
    size_t body_max;
    bool too_large;
    bool complete; /* the whole request has arrived */
    bool responded;
    uint64_t start;
    unsigned status;
    struct posture_http_identity id;
    bool has_id;
    uint8_t *fwd_der;
    const char *id_error;
};

static void reject(struct posture_http_server *srv, const char *reason)
{
    posture_metrics_counter_inc(srv->m_rejected, reason);
}

/* ---- responses -------------------------------------------------------------------------- */

static void response_done(struct posture_http_response *resp)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    free(resp->content_type);
    free(resp->body);
    *resp = (struct posture_http_response){ .status = 200 };
}

void posture_http_response_set_status(struct posture_http_response *resp, unsigned status)
{
    if (resp && status >= 100 && status <= 599)
        resp->status = status;
}

static bool token_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n > 0 && n <= 256 &&
           strspn(
               s,
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~") ==
               n;
}

static bool header_value_valid(const char *s)
{
    if (!s || strlen(s) > 8192)
        return false;
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 && *s != '\t')
            return false;
    return true;
}

int posture_http_response_add_header(struct posture_http_response *resp,
                                     const char *name,
                                     const char *value)
{
    char *n, *v;

    if (!resp || !token_valid(name) || !header_value_valid(value) ||
        strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Content-Type") == 0)
        return -EINVAL;
    if (resp->n_headers >= POSTURE_HTTP_RESP_HEADERS)
        return -E2BIG;
    n = strdup(name);
    v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -ENOMEM;
    }
    resp->headers[resp->n_headers].name = n;
    resp->headers[resp->n_headers].value = v;
    resp->n_headers++;
    return 0;
}

int posture_http_response_set_body(struct posture_http_response *resp,
                                   const char *content_type,
                                   const void *data,
                                   size_t len)
{
    char *ct = NULL;
    uint8_t *b;

    if (!resp || (len > 0 && !data) || (content_type && !header_value_valid(content_type)))
        return -EINVAL;
    if (content_type) {
        ct = strdup(content_type);
        if (!ct)
            return -ENOMEM;
    }
    b = malloc(len > 0 ? len : 1);
    if (!b) {
        free(ct);
        return -ENOMEM;
    }
    if (len > 0)
        memcpy(b, data, len);
    free(resp->content_type);
    free(resp->body);
    resp->content_type = ct;
    resp->body = b;
    resp->body_len = len;
    return 0;
}

int posture_http_response_set_json(struct posture_http_response *resp,
                                   unsigned status,
                                   const char *content_type,
                                   const cJSON *json)
{
    char *text;
    int r;

    if (!resp || !json)
        return -EINVAL;
    text = cJSON_PrintUnformatted(json);
    if (!text)
        return -ENOMEM;
    r = posture_http_response_set_body(resp, content_type ? content_type : "application/json", text,
                                       strlen(text));
    cJSON_free(text);
    if (r < 0)
        return r;
    posture_http_response_set_status(resp, status);
    return 0;
}

static bool has_header(const struct posture_http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return true;
    return false;
}

int posture_http_response_problem(struct posture_http_response *resp,
                                  unsigned status,
                                  const char *type,
                                  const char *title,
                                  const char *detail,
                                  const cJSON *extra)
{
    cJSON *o;
    char type_uri[256];
    int r;

    if (!resp || !type || !title || status < 400 || status > 599)
        return -EINVAL;
    if (strchr(type, ':'))
        (void) snprintf(type_uri, sizeof(type_uri), "%s", type);
    else
        (void) snprintf(type_uri, sizeof(type_uri), PROBLEM_TYPE_PREFIX "%s", type);
    o = cJSON_CreateObject();
    if (!o)
        return -ENOMEM;
    if (!cJSON_AddStringToObject(o, "type", type_uri) ||
        !cJSON_AddStringToObject(o, "title", title) ||
        !cJSON_AddNumberToObject(o, "status", status) ||
        (detail && !cJSON_AddStringToObject(o, "detail", detail))) {
        cJSON_Delete(o);
        return -ENOMEM;
    }
    if (extra) {
        const cJSON *it;
        cJSON_ArrayForEach(it, extra)
        {
            cJSON *dup;
            if (!it->string || cJSON_GetObjectItemCaseSensitive(o, it->string))
                continue;
            dup = cJSON_Duplicate(it, true);
            if (!dup || !cJSON_AddItemToObject(o, it->string, dup)) {
                cJSON_Delete(dup);
                cJSON_Delete(o);
                return -ENOMEM;
            }
        }
    }
    r = posture_http_response_set_json(resp, status, "application/problem+json", o);
    cJSON_Delete(o);
    if (r < 0)
        return r;
    if (!has_header(resp, "Cache-Control"))
        r = posture_http_response_add_header(resp, "Cache-Control", "no-store");
    return r < 0 ? r : 0;
}

/* Queue resp on c; returns libmicrohttpd's verdict. */
static enum MHD_Result send_response(struct posture_http_request *req,
                                     struct posture_http_response *resp)
{
    struct MHD_Response *m;
    enum MHD_Result ret;

    m = MHD_create_response_from_buffer(resp->body_len, resp->body ? resp->body : (void *) "",
                                        MHD_RESPMEM_MUST_COPY);
    if (!m)
        return MHD_NO;
    for (size_t i = 0; i < resp->n_headers; i++)
        (void) MHD_add_response_header(m, resp->headers[i].name, resp->headers[i].value);
    if (resp->content_type)
        (void) MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    if (!has_header(resp, "Cache-Control"))
        (void) MHD_add_response_header(m, "Cache-Control", "no-store");
    (void) MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
    if (atomic_load(&req->srv->stopping))
        (void) MHD_add_response_header(m, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(req->c, resp->status, m);
    MHD_destroy_response(m);
    if (ret == MHD_YES) {
        req->responded = true;
        req->status = resp->status;
        if (req->conn && req->complete) {
            /* the request has arrived whole: libmicrohttpd's idle timeout covers the sending.
             * An early answer (404, 413, ...) keeps the request deadline: a client still
             * trickling its body is cut at it. */
            (void) pthread_mutex_lock(&req->srv->lock);
            req->conn->deadline = 0;
            (void) pthread_mutex_unlock(&req->srv->lock);
        }
    }
    return ret;
}

static enum MHD_Result send_problem(struct posture_http_request *req,
                                    unsigned status,
                                    const char *type,
                                    const char *title,
                                    const char *detail,
                                    const char *allow)
{
    struct posture_http_response resp = { .status = status };
    enum MHD_Result ret = MHD_NO;

    if (posture_http_response_problem(&resp, status, type, title, detail, NULL) >= 0 &&
        (!allow || posture_http_response_add_header(&resp, "Allow", allow) >= 0))
        ret = send_response(req, &resp);
    response_done(&resp);
    return ret;
}

/* ---- requests --------------------------------------------------------------------------- */

const char *posture_http_request_method(const struct posture_http_request *req)
{
    return req ? req->method : NULL;
}

const char *posture_http_request_path(const struct posture_http_request *req)
{
    return req ? req->path : NULL;
}

const char *posture_http_request_header(const struct posture_http_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    return MHD_lookup_connection_value(req->c, MHD_HEADER_KIND, name);
}

const char *posture_http_request_query(const struct posture_http_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    return MHD_lookup_connection_value(req->c, MHD_GET_ARGUMENT_KIND, name);
}

const uint8_t *posture_http_request_body(const struct posture_http_request *req, size_t *ret_len)
{
    static const uint8_t empty[1] = { 0 };

    if (ret_len)
        *ret_len = req && req->body ? req->body_len : 0;
    return req && req->body ? req->body : empty;
}

enum posture_http_listener posture_http_request_listener(const struct posture_http_request *req)
{
    return req->l->kind;
}

/* Is the connection's peer a trusted gateway under the current rules? Evaluated on first use
 * and again after the rules were replaced; a connection is served by one thread at a time. */
static bool conn_trusted(struct posture_http_server *srv, struct conn *conn)
{
    if (!conn || conn->l->kind != POSTURE_HTTP_LISTENER_GATEWAYS)
        return false;
    if (conn->trusted_gen != atomic_load(&srv->trusted_gen)) {
        (void) pthread_mutex_lock(&srv->lock);
        conn->trusted = posture_http_cidr_match(
            srv->trusted, srv->n_trusted, (const struct sockaddr *) &conn->peer_sa, conn->peer_len);
        conn->trusted_gen = atomic_load(&srv->trusted_gen);
        (void) pthread_mutex_unlock(&srv->lock);
    }
    return conn->trusted;
}

bool posture_http_request_peer_trusted(const struct posture_http_request *req)
{
    return req && req->conn && conn_trusted(req->srv, req->conn);
}

const char *posture_http_request_peer(const struct posture_http_request *req)
{
    return req && req->conn ? req->conn->peer : "";
}

const struct posture_http_identity *
posture_http_request_identity(const struct posture_http_request *req)
{
    return req && req->has_id ? &req->id : NULL;
}

const char *posture_http_request_identity_error(const struct posture_http_request *req)
{
    return req ? req->id_error : NULL;
}

static void request_free(struct posture_http_request *req)
{
    if (!req)
        return;
    free(req->body);
    free(req->fwd_der);
    free(req);
}

/* Identity from our own TLS handshake (once per connection). */
static void tls_identity(struct posture_http_request *req)
{
    struct conn *conn = req->conn;
    const union MHD_ConnectionInfo *ci;
    const gnutls_datum_t *peers;
    unsigned n = 0;

    if (!conn)
        return;
    if (!conn->tls_checked) {
        conn->tls_checked = true;
        ci = MHD_get_connection_info(req->c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || !ci->tls_session || !req->srv->client_ca)
            return;
        gnutls_session_t s = (gnutls_session_t) ci->tls_session;
        if (gnutls_certificate_type_get(s) != GNUTLS_CRT_X509)
            return;
        peers = gnutls_certificate_get_peers(s, &n);
        if (!peers || n == 0)
            return;
        gnutls_typed_vdata_st data = {
            .type = GNUTLS_DT_KEY_PURPOSE_OID,
            .data = (unsigned char *) GNUTLS_KP_TLS_WWW_CLIENT,
            .size = 0,
        };
        unsigned status = 1;
        if (gnutls_certificate_verify_peers(s, &data, 1, &status) < 0 || status != 0) {
            log_debug("http: %s: TLS client certificate not verified (status 0x%x)", conn->peer,
                      status);
            return;
        }
        if (sha256(peers[0].data, peers[0].size, conn->tls_x5t) < 0)
            return;
        conn->tls_ok = true;
    }
    if (!conn->tls_ok)
        return;
    ci = MHD_get_connection_info(req->c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return;
    peers = gnutls_certificate_get_peers((gnutls_session_t) ci->tls_session, &n);
    if (!peers || n == 0)
        return;
    req->id = (struct posture_http_identity){
        .source = POSTURE_HTTP_IDENTITY_TLS,
        .der = peers[0].data,
        .der_len = peers[0].size,
        .chain_verified = true,
    };
    memcpy(req->id.x5t_s256, conn->tls_x5t, sizeof(req->id.x5t_s256));
    req->has_id = true;
}

struct header_count {
    unsigned counts[POSTURE_HTTP_IDENTITY__MAX];
    const char *values[POSTURE_HTTP_IDENTITY__MAX];
};

static enum MHD_Result
count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct header_count *hc = cls;

    (void) kind;
    /* an empty value is what Caddy and HAProxy send for a client without a certificate */
    if (!key || !value || value[0] == '\0')
        return MHD_YES;
    for (size_t i = POSTURE_HTTP_IDENTITY_NGINX; i < POSTURE_HTTP_IDENTITY__MAX; i++)
        if (strcasecmp(key, forwarded_headers[i]) == 0) {
            hc->counts[i]++;
            hc->values[i] = value;
        }
    return MHD_YES;
}

/* Report a forwarded header from an untrusted peer, at most once per peer per minute. */
static void forged(struct posture_http_request *req, const char *header)
{
    struct posture_http_server *srv = req->srv;
    uint64_t now = now_usec();
    size_t oldest = 0;
    bool report = true;
    const char *peer = posture_http_request_peer(req);

    reject(srv, "forged_header");
    (void) pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < FORGED_SLOTS; i++) {
        if (strcmp(srv->forged[i].peer, peer) == 0 && srv->forged[i].last != 0) {
            if (now - srv->forged[i].last < FORGED_INTERVAL_USEC)
                report = false;
            else
                srv->forged[i].last = now;
            oldest = SIZE_MAX;
            break;
        }
        if (srv->forged[i].last < srv->forged[oldest].last)
            oldest = i;
    }
    if (oldest != SIZE_MAX) {
        (void) snprintf(srv->forged[oldest].peer, sizeof(srv->forged[oldest].peer), "%s", peer);
        srv->forged[oldest].last = now;
    }
    (void) pthread_mutex_unlock(&srv->lock);
    log_debug("http: %s sent %s but is not a trusted gateway; header ignored", peer, header);
    if (report && srv->on_forged)
        srv->on_forged(peer, header, srv->userdata);
}

/* Verify the chain of a forwarded certificate; on success *ret_valid_usec says how long the
 * answer may be reused: VERIFIED_TTL_USEC, or less when the certificate expires sooner. */
static bool
chain_ok(struct posture_http_server *srv, const uint8_t *der, size_t len, uint64_t *ret_valid_usec)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long) len);
    X509_STORE_CTX *ctx = NULL;
    bool ok = false;
    int days = 0, secs = 0;

    if (!x)
        return false;
    ctx = X509_STORE_CTX_new();
    if (ctx && X509_STORE_CTX_init(ctx, srv->ca_store, x, NULL) == 1 &&
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1)
        ok = X509_verify_cert(ctx) == 1;
    if (!ok)
        log_debug("http: forwarded certificate: %s",
                  ctx ? X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)) : "no memory");
    *ret_valid_usec = VERIFIED_TTL_USEC;
    if (ok && ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) == 1) {
        int64_t left = (int64_t) days * 86400 + secs;
        if (left <= 0)
            ok = false;
        else if ((uint64_t) left * USEC_PER_SEC < VERIFIED_TTL_USEC)
            *ret_valid_usec = (uint64_t) left * USEC_PER_SEC;
    }
    X509_STORE_CTX_free(ctx);
    X509_free(x);
    return ok;
}

/* The cache key of a forwarded header: its kind and its exact value. */
static int verified_key(int which, const char *value, uint8_t key[POSTURE_HTTP_SHA256_SIZE])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t kind = (uint8_t) which;
    unsigned n = 0;
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, &kind, 1) == 1 &&
              EVP_DigestUpdate(ctx, value, strlen(value)) == 1 &&
              EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == POSTURE_HTTP_SHA256_SIZE;

    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -EIO;
}

static struct verified_slot *verified_slot(struct posture_http_server *srv, const uint8_t *key)
{
    return &srv->verified[((unsigned) key[0] << 8 | key[1]) % VERIFIED_SLOTS];
}

/* Did this exact header carry a certificate that chain-verified less than VERIFIED_TTL_USEC
 * ago (and not past its notAfter)? Then *ret_x5t is that certificate's SHA-256. */
static bool verified_lookup(struct posture_http_server *srv,
                            const uint8_t *key,
                            uint64_t now,
                            uint8_t ret_x5t[POSTURE_HTTP_SHA256_SIZE])
{
    const struct verified_slot *v = verified_slot(srv, key);
    bool hit;

    (void) pthread_mutex_lock(&srv->verified_lock);
    hit = v->until > now && memcmp(v->key, key, POSTURE_HTTP_SHA256_SIZE) == 0;
    if (hit)
        memcpy(ret_x5t, v->x5t, POSTURE_HTTP_SHA256_SIZE);
    (void) pthread_mutex_unlock(&srv->verified_lock);
    return hit;
}

static void verified_store(struct posture_http_server *srv,
                           const uint8_t *key,
                           const uint8_t *x5t,
                           uint64_t until)
{
    struct verified_slot *v = verified_slot(srv, key);

    (void) pthread_mutex_lock(&srv->verified_lock);
    memcpy(v->key, key, POSTURE_HTTP_SHA256_SIZE);
    memcpy(v->x5t, x5t, POSTURE_HTTP_SHA256_SIZE);
    v->until = until;
    (void) pthread_mutex_unlock(&srv->verified_lock);
}

/* Identity from a forwarded-certificate header (gateway listener). */
static void forwarded_identity(struct posture_http_request *req)
{
    struct posture_http_server *srv = req->srv;
    struct header_count hc = { .counts = { 0 } };
    int which = -1;
    unsigned total = 0;
    uint8_t hash[POSTURE_HTTP_SHA256_SIZE];
    uint8_t *der = NULL;
    size_t der_len = 0;
    int r;

    (void) MHD_get_connection_values(req->c, MHD_HEADER_KIND, count_header, &hc);
    for (int i = POSTURE_HTTP_IDENTITY_NGINX; i < POSTURE_HTTP_IDENTITY__MAX; i++)
        if (hc.counts[i] > 0) {
            total += hc.counts[i];
            which = i;
        }
    if (total == 0)
        return;
    if (req->l->kind != POSTURE_HTTP_LISTENER_GATEWAYS || !conn_trusted(srv, req->conn)) {
        forged(req, forwarded_headers[which]);
        return;
    }
    if (total > 1) {
        req->id_error = "more than one forwarded client certificate header";
        reject(srv, "bad_forwarded_cert");
        return;
    }

    const char *v = hc.values[which];
    uint8_t key[POSTURE_HTTP_SHA256_SIZE];
    bool cacheable = srv->ca_store && which != POSTURE_HTTP_IDENTITY_FINGERPRINT &&
                     verified_key(which, v, key) >= 0;
    if (cacheable && verified_lookup(srv, key, now_usec(), hash)) {
        /* The same header as a recent request, whose certificate chain-verified: the
         * certificate is not decoded again (der stays NULL; only x5t is used downstream). */
        req->id = (struct posture_http_identity){
            .source = (enum posture_http_identity_source) which,
            .chain_verified = true,
        };
        memcpy(req->id.x5t_s256, hash, sizeof(hash));
        req->has_id = true;
        return;
    }
    switch (which) {
    case POSTURE_HTTP_IDENTITY_NGINX:
        r = posture_http_parse_nginx_cert(v, &der, &der_len);
        break;
    case POSTURE_HTTP_IDENTITY_TRAEFIK:
        r = posture_http_parse_traefik_cert(v, &der, &der_len);
        break;
    case POSTURE_HTTP_IDENTITY_ENVOY:
        r = posture_http_parse_xfcc(v, hash, &der, &der_len);
        break;
    default:
        r = posture_http_parse_fingerprint(v, hash);
        break;
    }
    if (r < 0) {
        log_debug("http: %s: malformed %s: %s", req->conn->peer, forwarded_headers[which],
                  posture_errno_name(r));
        req->id_error = "malformed forwarded client certificate header";
        reject(srv, "bad_forwarded_cert");
        return;
    }
    if (der && sha256(der, der_len, hash) < 0) {
        free(der);
        req->id_error = "cannot hash the forwarded certificate";
        return;
    }
    bool verified = false;
    if (der && srv->ca_store) {
        uint64_t valid = 0;
        if (!chain_ok(srv, der, der_len, &valid)) {
            free(der);
            req->id_error = "forwarded client certificate does not chain to the device CA";
            reject(srv, "bad_forwarded_cert");
            return;
        }
        if (cacheable)
            verified_store(srv, key, hash, now_usec() + valid);
        verified = true;
    }
    req->fwd_der = der;
    req->id = (struct posture_http_identity){
        .source = (enum posture_http_identity_source) which,
        .der = der,
        .der_len = der_len,
        .chain_verified = verified,
    };
    memcpy(req->id.x5t_s256, hash, sizeof(hash));
    req->has_id = true;
}

static unsigned method_bit(const char *m)
{
    if (strcmp(m, "GET") == 0)
        return POSTURE_HTTP_GET;
    if (strcmp(m, "HEAD") == 0)
        return POSTURE_HTTP_HEAD;
    if (strcmp(m, "POST") == 0)
        return POSTURE_HTTP_POST;
    if (strcmp(m, "PUT") == 0)
        return POSTURE_HTTP_PUT;
    if (strcmp(m, "DELETE") == 0)
        return POSTURE_HTTP_DELETE;
    return 1u << 7; /* anything else: only POSTURE_HTTP_ANY routes */
}

static bool route_path_match(const struct route *rt, const char *path)
{
    if (strcmp(rt->path, path) == 0)
        return true;
    return rt->prefix && strncmp(path, rt->path, rt->path_len) == 0 && path[rt->path_len] == '/';
}

/* The best route for path on listener l (exact beats prefix, longer prefix beats shorter). */
static const struct route *
route_find(struct posture_http_server *srv, enum posture_http_listener l, const char *path)
{
    const struct route *best = NULL;

    for (size_t i = 0; i < srv->n_routes; i++) {
        const struct route *rt = &srv->routes[i];
        if (!(rt->listeners & (1u << l)) || !route_path_match(rt, path))
            continue;
        if (!rt->prefix && strcmp(rt->path, path) == 0)
            return rt;
        if (!best || rt->path_len > best->path_len)
            best = rt;
    }
    return best;
}

static void allow_header(unsigned methods, char *buf, size_t size)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        { POSTURE_HTTP_GET, "GET" },       { POSTURE_HTTP_HEAD, "HEAD" },
        { POSTURE_HTTP_POST, "POST" },     { POSTURE_HTTP_PUT, "PUT" },
        { POSTURE_HTTP_DELETE, "DELETE" },
    };
    size_t len = 0;

    buf[0] = '\0';
    if (methods & POSTURE_HTTP_GET)
        methods |= POSTURE_HTTP_HEAD;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(names); i++) {
        if (!(methods & names[i].bit))
            continue;
        int n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", names[i].name);
        if (n < 0 || (size_t) n >= size - len)
            break;
        len += (size_t) n;
    }
}

/* Framing headers of a request, counted (libmicrohttpd reads the first Content-Length only). */
struct framing {
    unsigned content_length;
    unsigned transfer_encoding;
    const char *te;
};

static enum MHD_Result
count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct framing *f = cls;

    (void) kind;
    if (key && strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->content_length++;
    else if (key && strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encoding++;
        f->te = value;
    }
    return MHD_YES;
}

/* RFC 9112 §6.1, §6.3: a request whose length is stated twice (Content-Length twice, or with
 * Transfer-Encoding) or by a coding other than chunked is refused and its connection closed: a
 * proxy in front may have framed it otherwise, and what follows would be read as another
 * request (smuggling). Returns true when answered. */
static bool framing_refused(struct posture_http_request *req, enum MHD_Result *ret)
{
    struct framing f = { 0 };
    struct posture_http_response resp = { .status = 400 };
    unsigned status;

    (void) MHD_get_connection_values(req->c, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1 || f.transfer_encoding > 1 ||
        (f.content_length > 0 && f.transfer_encoding > 0))
        status = 400;
    else if (f.transfer_encoding > 0 && (!f.te || strcasecmp(f.te, "chunked") != 0))
        status = 501;
    else
        return false;
    reject(req->srv, "bad_framing");
    *ret = MHD_NO;
    if (posture_http_response_problem(
            &resp, status, "bad-framing", status == 400 ? "Bad Request" : "Not Implemented",
            status == 400 ? "the request states its length twice"
                          : "only the chunked transfer coding is accepted",
            NULL) >= 0 &&
        posture_http_response_add_header(&resp, MHD_HTTP_HEADER_CONNECTION, "close") >= 0)
        *ret = send_response(req, &resp);
    response_done(&resp);
    return true;
}

/* First call of a request: headers complete. Returns MHD_YES to go on to the body. */
static enum MHD_Result request_begin(struct posture_http_request *req)
{
    unsigned bit = method_bit(req->method);
    const struct route *rt = route_find(req->srv, req->l->kind, req->path);
    const char *cl;
    uint64_t content_length = 0;
    enum MHD_Result framing_ret;

    if (framing_refused(req, &framing_ret))
        return framing_ret;
    cl = MHD_lookup_connection_value(req->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl &&
        (posture_parse_u64(cl, &content_length) < 0 || content_length > req->srv->body_max_any)) {
        /* larger than anything this server accepts, whatever the route */
        reject(req->srv, "body_too_large");
        return send_problem(req, 413, "body-too-large", "Content Too Large",
                            "the request body exceeds this server's limit", NULL);
    }
    if (!rt)
        return send_problem(req, 404, "not-found", "Not Found", "no such endpoint", NULL);
    unsigned allowed = rt->methods;
    if (allowed & POSTURE_HTTP_GET)
        allowed |= POSTURE_HTTP_HEAD;
    if (rt->methods != POSTURE_HTTP_ANY && !(allowed & bit)) {
        char allow[64];
        allow_header(rt->methods, allow, sizeof(allow));
        return send_problem(req, 405, "method-not-allowed", "Method Not Allowed", NULL, allow);
    }
    req->route = rt;
    req->body_max = rt->body_max ? rt->body_max : req->srv->body_max;

    if (cl) {
        if (content_length > req->body_max) {
            reject(req->srv, "body_too_large");
            return send_problem(req, 413, "body-too-large", "Content Too Large",
                                "the request body exceeds this endpoint's limit", NULL);
        }
    }

    if (req->l->kind == POSTURE_HTTP_LISTENER_AGENTS)
        tls_identity(req);
    forwarded_identity(req);
    return MHD_YES;
}

static int body_append(struct posture_http_request *req, const char *data, size_t n)
{
    if (req->too_large || n > req->body_max - req->body_len) {
        req->too_large = true;
        return 0;
    }
    if (req->body_len + n + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 4096;
        while (cap < req->body_len + n + 1)
            cap *= 2;
        if (cap > req->body_max + 1)
            cap = req->body_max + 1;
        uint8_t *b = realloc(req->body, cap);
        if (!b)
            return -ENOMEM;
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = 0;
    return 0;
}

static enum MHD_Result request_dispatch(struct posture_http_request *req)
{
    struct posture_http_response resp = { .status = 200 };
    enum MHD_Result ret;
    int r;

    req->complete = true;
    if (req->too_large) {
        reject(req->srv, "body_too_large");
        return send_problem(req, 413, "body-too-large", "Content Too Large",
                            "the request body exceeds this endpoint's limit", NULL);
    }
    r = req->route->handler(req, &resp, req->route->userdata);
    if (r < 0) {
        log_debug("http: %s %s: handler failed: %s", req->method, req->path, posture_errno_name(r));
        response_done(&resp);
        return send_problem(req, 503, "verifier-fault", "Service Unavailable",
                            "the verifier could not handle this request", NULL);
    }
    ret = send_response(req, &resp);
    response_done(&resp);
    return ret;
}

static enum MHD_Result access_handler(void *cls,
                                      struct MHD_Connection *c,
                                      const char *url,
                                      const char *method,
                                      const char *version,
                                      const char *upload_data,
                                      size_t *upload_data_size,
                                      void **req_cls)
{
    struct listener *l = cls;
    struct posture_http_request *req = *req_cls;

    (void) version;
    if (!req) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->srv = l->srv;
        req->l = l;
        req->c = c;
        req->conn = ci ? ci->socket_context : NULL;
        req->method = method;
        req->path = url;
        req->start = now_usec();
        req->status = 0;
        *req_cls = req;
        atomic_fetch_add(&l->srv->inflight, 1);
        return request_begin(req);
    }
    if (req->responded) {
        /* an early answer (404, 413, ...) was queued: drop what the client still sends */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (body_append(req, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return request_dispatch(req);
}

static void request_completed(void *cls,
                              struct MHD_Connection *c,
                              void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct listener *l = cls;
    struct posture_http_server *srv = l->srv;
    struct posture_http_request *req = *req_cls;
    char code[16];

    (void) c;
    if (!req)
        return;
    *req_cls = NULL;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && req->status > 0) {
        (void) snprintf(code, sizeof(code), "%u", req->status);
        posture_metrics_counter_inc(srv->m_requests, code);
        posture_metrics_histogram_observe(srv->m_duration,
                                          (double) (now_usec() - req->start) / 1e6);
    } else
        posture_metrics_counter_inc(srv->m_requests, "aborted");
    if (req->conn) {
        (void) pthread_mutex_lock(&srv->lock);
        req->conn->deadline = now_usec() + srv->idle_timeout;
        req->conn->in_request = false;
        (void) pthread_mutex_unlock(&srv->lock);
    }
    request_free(req);
    atomic_fetch_sub(&srv->inflight, 1);
}

/* The request line arrived: the rest of the request is due within request_timeout. */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct listener *l = cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *conn = ci ? ci->socket_context : NULL;

    (void) uri;
    if (conn) {
        (void) pthread_mutex_lock(&l->srv->lock);
        conn->deadline = now_usec() + l->srv->request_timeout;
        conn->in_request = true;
        (void) pthread_mutex_unlock(&l->srv->lock);
    }
    return NULL;
}

/* GnuTLS: a client certificate that does not verify ends the handshake. */
static int tls_verify(gnutls_session_t s)
{
    gnutls_typed_vdata_st data = {
        .type = GNUTLS_DT_KEY_PURPOSE_OID,
        .data = (unsigned char *) GNUTLS_KP_TLS_WWW_CLIENT,
        .size = 0,
    };
    unsigned n = 0, status = 1;

    if (!gnutls_certificate_get_peers(s, &n) || n == 0)
        return 0; /* none sent: allowed, the request has no identity */
    if (gnutls_certificate_verify_peers(s, &data, 1, &status) < 0 || status != 0) {
        log_debug("http: TLS client certificate refused in the handshake (status 0x%x)", status);
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    return 0;
}

static void connection_notify(void *cls,
                              struct MHD_Connection *c,
                              void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    struct listener *l = cls;
    struct posture_http_server *srv = l->srv;
    struct conn *conn;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

        conn = calloc(1, sizeof(*conn));
        if (!conn) {
            if (fd)
                (void) shutdown(fd->connect_fd, SHUT_RDWR);
            return;
        }
        conn->l = l;
        conn->fd = fd ? fd->connect_fd : -1;
        if (addr && addr->client_addr) {
            const struct sockaddr *sa = addr->client_addr;
            socklen_t len = sa->sa_family == AF_INET    ? (socklen_t) sizeof(struct sockaddr_in)
                            : sa->sa_family == AF_INET6 ? (socklen_t) sizeof(struct sockaddr_in6)
                                                        : (socklen_t) sizeof(sa_family_t);
            memcpy(&conn->peer_sa, sa, len);
            conn->peer_len = len;
            if (sa->sa_family == AF_UNIX)
                (void) snprintf(conn->peer, sizeof(conn->peer), "unix");
            else {
                char host[INET6_ADDRSTRLEN] = "";
                const void *a =
                    sa->sa_family == AF_INET
                        ? (const char *) &conn->peer_sa + offsetof(struct sockaddr_in, sin_addr)
                        : (const char *) &conn->peer_sa + offsetof(struct sockaddr_in6, sin6_addr);
                (void) inet_ntop(sa->sa_family, a, host, sizeof(host));
                (void) snprintf(conn->peer, sizeof(conn->peer), "%s", host);
            }
        } else {
            /* libmicrohttpd has no address for unix-socket peers */
            conn->peer_sa.ss_family = AF_UNIX;
            conn->peer_len = sizeof(sa_family_t);
            (void) snprintf(conn->peer, sizeof(conn->peer), "unix");
        }
        /* conn->trusted: evaluated at the first request (conn_trusted) */
        if (l->kind == POSTURE_HTTP_LISTENER_AGENTS && srv->client_ca) {
            const union MHD_ConnectionInfo *ti =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
            if (ti && ti->tls_session) {
                gnutls_session_set_verify_function((gnutls_session_t) ti->tls_session, tls_verify);
            }
        }
        (void) pthread_mutex_lock(&srv->lock);
        conn->deadline = now_usec() + srv->idle_timeout;
        conn->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = conn;
        srv->conns = conn;
        (void) pthread_mutex_unlock(&srv->lock);
        *socket_context = conn;
        return;
    }

    conn = *socket_context;
    if (!conn)
        return;
    (void) pthread_mutex_lock(&srv->lock);
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    (void) pthread_mutex_unlock(&srv->lock);
    *socket_context = NULL;
    free(conn);
}

static void *watchdog_main(void *userdata)
{
    struct posture_http_server *srv = userdata;

    (void) pthread_mutex_lock(&srv->lock);
    while (!srv->watchdog_stop) {
        struct timespec ts;
        uint64_t now = now_usec();

        for (struct conn *c = srv->conns; c; c = c->next)
            if (c->deadline != 0 && now > c->deadline && !c->cut) {
                c->cut = true;
                if (c->fd >= 0)
                    (void) shutdown(c->fd, SHUT_RDWR);
                reject(srv, c->in_request ? "request_timeout" : "idle_timeout");
                log_debug("http: %s: request or idle deadline passed, connection closed", c->peer);
            }
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long) WATCHDOG_TICK_USEC * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void) pthread_cond_timedwait(&srv->cond, &srv->lock, &ts);
    }
    (void) pthread_mutex_unlock(&srv->lock);
    return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];

    (void) cls;
    if (!posture_log_level_enabled(LOG_DEBUG))
        return;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    (void) vsnprintf(buf, sizeof(buf), fmt, ap);
#pragma GCC diagnostic pop
    buf[strcspn(buf, "\n")] = '\0';
    log_debug("http: libmicrohttpd: %s", buf);
}

/* ---- server lifecycle ------------------------------------------------------------------- */

static char *strdup_or_null(const char *s, bool *failed)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *failed = true;
    return d;
}

static void secret_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static int ca_store_load(const char *pem, X509_STORE **ret)
{
    X509_STORE *st = X509_STORE_new();
    BIO *bio;
    X509 *x;
    unsigned n = 0;

    if (!st)
        return -ENOMEM;
    bio = BIO_new_mem_buf(pem, -1);
    if (!bio) {
        X509_STORE_free(st);
        return -ENOMEM;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(st, x) != 1) {
            X509_free(x);
            break;
        }
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (n == 0) {
        X509_STORE_free(st);
        return -EBADMSG;
    }
    *ret = st;
    return 0;
}

int posture_http_server_new(const struct posture_http_options *opts,
                            struct posture_http_server **ret)
{
    struct posture_http_server *srv;
    bool failed = false;
    size_t n;
    int r;

    if (!opts || !ret)
        return -EINVAL;
    srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    if (pthread_mutex_init(&srv->lock, NULL) != 0) {
        free(srv);
        return -ENOMEM;
    }
    /* The watchdog computes its deadlines on CLOCK_MONOTONIC: the condition variable must
     * wait on that clock too (the default, CLOCK_REALTIME, made every wait return at once and
     * the watchdog spin a core). */
    pthread_condattr_t cattr;
    bool cond_ok = pthread_condattr_init(&cattr) == 0 &&
                   pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC) == 0 &&
                   pthread_cond_init(&srv->cond, &cattr) == 0;
    (void) pthread_condattr_destroy(&cattr);
    if (!cond_ok) {
        (void) pthread_mutex_destroy(&srv->lock);
        free(srv);
        return -ENOMEM;
    }
    if (pthread_mutex_init(&srv->verified_lock, NULL) != 0) {
        (void) pthread_cond_destroy(&srv->cond);
        (void) pthread_mutex_destroy(&srv->lock);
        free(srv);
        return -ENOMEM;
    }
    atomic_init(&srv->inflight, 0);
    atomic_init(&srv->stopping, false);
    for (int i = 0; i < POSTURE_HTTP_LISTENER__MAX; i++)
        srv->listeners[i] = (struct listener){ .srv = srv, .kind = i, .fd = -1 };

    srv->threads = opts->threads;
    if (srv->threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        srv->threads = cpus > 0 && cpus <= 256 ? (unsigned) cpus : 1;
    }
    srv->max_connections = opts->max_connections ? opts->max_connections : DEFAULT_CONNECTIONS;
    srv->max_connections_per_ip = opts->max_connections_per_ip;
    /* libmicrohttpd splits the limit among the worker threads: each needs a share */
    if (srv->max_connections < srv->threads)
        srv->max_connections = srv->threads;
    srv->request_timeout =
        opts->request_timeout_usec ? opts->request_timeout_usec : DEFAULT_REQ_TIMEOUT;
    srv->idle_timeout = opts->idle_timeout_usec ? opts->idle_timeout_usec : DEFAULT_IDLE_TIMEOUT;
    srv->body_max = opts->body_max ? opts->body_max : POSTURE_HTTP_BODY_MAX_DEF;
    srv->on_forged = opts->on_forged;
    srv->userdata = opts->userdata;

    const char *addrs[POSTURE_HTTP_LISTENER__MAX] = { opts->agents, opts->gateways };
    for (int i = 0; i < POSTURE_HTTP_LISTENER__MAX; i++) {
        if (!addrs[i] || addrs[i][0] == '\0')
            continue;
        r = posture_http_address_parse(addrs[i], &srv->listeners[i].addr);
        if (r < 0)
            goto fail;
        srv->listeners[i].enabled = true;
    }
    if (srv->listeners[POSTURE_HTTP_LISTENER_AGENTS].enabled &&
        (!opts->tls_cert_pem || !opts->tls_key_pem)) {
        r = -EINVAL;
        goto fail;
    }

    n = posture_strv_length(opts->trusted_gateways);
    if (n > 0) {
        srv->trusted = calloc(n, sizeof(*srv->trusted));
        if (!srv->trusted) {
            r = -ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            r = posture_http_cidr_parse(opts->trusted_gateways[i], &srv->trusted[i]);
            if (r < 0)
                goto fail;
        }
        srv->n_trusted = n;
    }
    atomic_store(&srv->trusted_gen, 1u);

    srv->tls_cert = strdup_or_null(opts->tls_cert_pem, &failed);
    srv->tls_key = strdup_or_null(opts->tls_key_pem, &failed);
    srv->client_ca = strdup_or_null(opts->client_ca_pem, &failed);
    if (failed) {
        r = -ENOMEM;
        goto fail;
    }
    if (srv->client_ca) {
        r = ca_store_load(srv->client_ca, &srv->ca_store);
        if (r < 0)
            goto fail;
    }

    if (opts->metrics) {
        r = posture_metrics_counter_new(opts->metrics, "posture_http_requests_total",
                                        "HTTP requests answered, by status code", "code",
                                        &srv->m_requests);
        if (r >= 0)
            r = posture_metrics_counter_new(
                opts->metrics, "posture_http_rejected_total",
                "Requests and connections refused by the HTTP layer, by reason", "reason",
                &srv->m_rejected);
        if (r >= 0)
            r = posture_metrics_histogram_new(opts->metrics, "posture_http_request_seconds",
                                              "Time from request headers to response queued", NULL,
                                              0, &srv->m_duration);
        if (r < 0)
            goto fail;
    }
    *ret = srv;
    return 0;
fail:
    (void) posture_http_server_free(srv);
    return r;
}

int posture_http_server_add_route(struct posture_http_server *srv,
                                  const struct posture_http_route *route)
{
    struct route *rs;
    char *path;

    if (!srv || !route || !route->path || route->path[0] != '/' || !route->handler ||
        route->methods == 0)
        return -EINVAL;
    if (srv->started)
        return -EBUSY;
    for (size_t i = 0; i < srv->n_routes; i++)
        if (strcmp(srv->routes[i].path, route->path) == 0 && srv->routes[i].prefix == route->prefix)
            return -EEXIST;
    path = strdup(route->path);
    if (!path)
        return -ENOMEM;
    rs = realloc(srv->routes, (srv->n_routes + 1) * sizeof(*rs));
    if (!rs) {
        free(path);
        return -ENOMEM;
    }
    srv->routes = rs;
    size_t len = strlen(path);
    if (route->prefix && len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    rs[srv->n_routes++] = (struct route){
        .methods = route->methods,
        .path = path,
        .path_len = len,
        .prefix = route->prefix,
        .body_max = route->body_max,
        .listeners = route->listeners ? route->listeners
                                      : (POSTURE_HTTP_ON_AGENTS | POSTURE_HTTP_ON_GATEWAYS),
        .handler = route->handler,
        .userdata = route->userdata,
    };
    return 0;
}

static int listen_open(struct listener *l)
{
    const struct sockaddr *sa = (const struct sockaddr *) &l->addr.sa;
    posture_autoclose int fd = -1;
    int one = 1;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return posture_negative_errno();
    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *) sa;
        struct stat st;
        if (lstat(un->sun_path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
            (void) unlink(un->sun_path); /* a stale socket of an earlier run */
        }
    } else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return posture_negative_errno();
    if (bind(fd, sa, l->addr.len) < 0)
        return posture_negative_errno();
    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *) sa;
        l->unix_path = strdup(un->sun_path);
        if (!l->unix_path)
            return -ENOMEM;
        if (chmod(un->sun_path, 0660) < 0)
            return posture_negative_errno();
    }
    if (listen(fd, LISTEN_BACKLOG) < 0)
        return posture_negative_errno();
    l->fd = POSTURE_TAKE_FD(fd);
    return 0;
}

static int listener_start(struct listener *l)
{
    struct posture_http_server *srv = l->srv;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    unsigned pool = srv->threads > 1 ? srv->threads : 1;
    /* libmicrohttpd's own idle timeout (restarted by every byte) is the backstop for stalled
     * writes; a second longer than the watchdog's, which acts first on idle connections */
    unsigned idle = (unsigned) ((srv->idle_timeout + USEC_PER_SEC - 1) / USEC_PER_SEC) + 1;
    int r;

    r = listen_open(l);
    if (r < 0)
        return r;

    if (l->kind == POSTURE_HTTP_LISTENER_AGENTS) {
        /* TLS under libmicrohttpd 0.9.75's epoll mode spins through recv() and epoll_wait()
         * during every handshake: 2.2-4.9 ms of server CPU per new connection, against 0.66 ms
         * with poll() (tests/bench/appraise.sh; agents open a connection per report). The
         * plain gateway listener keeps epoll, where it is the faster one. */
        flags = (flags & ~(unsigned) MHD_USE_EPOLL_INTERNAL_THREAD) | MHD_USE_POLL_INTERNAL_THREAD;
        flags |= MHD_USE_TLS;
        if (srv->client_ca)
            l->daemon = MHD_start_daemon(
                flags, 0, NULL, NULL, access_handler, l, MHD_OPTION_LISTEN_SOCKET, l->fd,
                MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_CONNECTION_LIMIT,
                srv->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                srv->max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, idle,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED,
                request_completed, l, MHD_OPTION_NOTIFY_CONNECTION, connection_notify, l,
                MHD_OPTION_URI_LOG_CALLBACK, uri_logged, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, l,
                MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key, MHD_OPTION_HTTPS_MEM_CERT, srv->tls_cert,
                MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_HTTPS_MEM_TRUST,
                srv->client_ca, MHD_OPTION_END);
        else
            l->daemon = MHD_start_daemon(
                flags, 0, NULL, NULL, access_handler, l, MHD_OPTION_LISTEN_SOCKET, l->fd,
                MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_CONNECTION_LIMIT,
                srv->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                srv->max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, idle,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED,
                request_completed, l, MHD_OPTION_NOTIFY_CONNECTION, connection_notify, l,
                MHD_OPTION_URI_LOG_CALLBACK, uri_logged, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, l,
                MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key, MHD_OPTION_HTTPS_MEM_CERT, srv->tls_cert,
                MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_END);
    } else
        l->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, access_handler, l, MHD_OPTION_LISTEN_SOCKET, l->fd,
            MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_CONNECTION_LIMIT, srv->max_connections,
            MHD_OPTION_CONNECTION_TIMEOUT, idle, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            CONN_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, request_completed, l,
            MHD_OPTION_NOTIFY_CONNECTION, connection_notify, l, MHD_OPTION_URI_LOG_CALLBACK,
            uri_logged, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, l, MHD_OPTION_END);
    if (!l->daemon) {
        /* libmicrohttpd closes nothing it did not start with: the socket is still ours */
        (void) close(l->fd);
        l->fd = -1;
        return l->kind == POSTURE_HTTP_LISTENER_AGENTS ? -EBADMSG : -EIO;
    }
    return 0;
}

int posture_http_server_set_trusted_gateways(struct posture_http_server *srv,
                                             char *const *trusted_gateways)
{
    struct posture_http_cidr *rules = NULL, *old;
    size_t n;
    int r;

    if (!srv)
        return -EINVAL;
    n = posture_strv_length(trusted_gateways);
    if (n > 0) {
        rules = calloc(n, sizeof(*rules));
        if (!rules)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            r = posture_http_cidr_parse(trusted_gateways[i], &rules[i]);
            if (r < 0) {
                free(rules);
                return r;
            }
        }
    }
    (void) pthread_mutex_lock(&srv->lock);
    old = srv->trusted;
    srv->trusted = rules;
    srv->n_trusted = n;
    atomic_store(&srv->trusted_gen, atomic_load(&srv->trusted_gen) + 1u);
    (void) pthread_mutex_unlock(&srv->lock);
    free(old);
    return 0;
}

int posture_http_server_start(struct posture_http_server *srv)
{
    int r;

    if (!srv)
        return -EINVAL;
    if (srv->started)
        return -EBUSY;
    srv->started = true;
    srv->watchdog_stop = false;
    srv->body_max_any = srv->body_max;
    for (size_t i = 0; i < srv->n_routes; i++)
        if (srv->routes[i].body_max > srv->body_max_any)
            srv->body_max_any = srv->routes[i].body_max;
    r = -pthread_create(&srv->watchdog, NULL, watchdog_main, srv);
    if (r < 0)
        return r;
    srv->watchdog_running = true;
    for (int i = 0; i < POSTURE_HTTP_LISTENER__MAX; i++) {
        if (!srv->listeners[i].enabled)
            continue;
        r = listener_start(&srv->listeners[i]);
        if (r < 0) {
            (void) posture_http_server_stop(srv, 0);
            return r;
        }
    }
    return 0;
}

int posture_http_server_address(const struct posture_http_server *srv,
                                enum posture_http_listener l,
                                struct sockaddr_storage *ret,
                                socklen_t *ret_len)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (!srv || (int) l < 0 || l >= POSTURE_HTTP_LISTENER__MAX || !ret || !ret_len)
        return -EINVAL;
    if (srv->listeners[l].fd < 0)
        return -ENOENT;
    if (getsockname(srv->listeners[l].fd, (struct sockaddr *) &ss, &len) < 0)
        return posture_negative_errno();
    *ret = ss;
    *ret_len = len;
    return 0;
}

int posture_http_server_stop(struct posture_http_server *srv, uint64_t grace_usec)
{
    uint64_t until;
    int left;

    if (!srv)
        return -EINVAL;
    if (srv->stopped)
        return 0;
    srv->stopped = true;
    atomic_store(&srv->stopping, true);

    /* stop accepting */
    for (int i = 0; i < POSTURE_HTTP_LISTENER__MAX; i++) {
        struct listener *l = &srv->listeners[i];
        if (l->daemon) {
            MHD_socket fd = MHD_quiesce_daemon(l->daemon);
            if (fd != MHD_INVALID_SOCKET) {
                /* ours now: closing it refuses new connections at once */
                l->quiesced = true;
                (void) close(fd);
                l->fd = -1;
                if (l->unix_path) {
                    (void) unlink(l->unix_path);
                    free(l->unix_path);
                    l->unix_path = NULL;
                }
            }
        }
    }
    /* let the requests under way finish */
    until = now_usec() + grace_usec;
    while (atomic_load(&srv->inflight) > 0 && now_usec() < until) {
        struct timespec ts = { .tv_sec = 0, .tv_nsec = 5000000L };
        (void) nanosleep(&ts, NULL);
    }
    left = atomic_load(&srv->inflight);
    for (int i = 0; i < POSTURE_HTTP_LISTENER__MAX; i++) {
        struct listener *l = &srv->listeners[i];
        /* libmicrohttpd closes the listening socket in MHD_stop_daemon(), unless it was
         * quiesced: then it is ours to close */
        bool ours = !l->daemon || l->quiesced;
        if (l->daemon) {
            MHD_stop_daemon(l->daemon);
            l->daemon = NULL;
        }
        if (l->fd >= 0 && ours)
            (void) close(l->fd);
        l->fd = -1;
        if (l->unix_path) {
            (void) unlink(l->unix_path);
            free(l->unix_path);
            l->unix_path = NULL;
        }
    }
    if (srv->watchdog_running) {
        (void) pthread_mutex_lock(&srv->lock);
        srv->watchdog_stop = true;
        (void) pthread_cond_broadcast(&srv->cond);
        (void) pthread_mutex_unlock(&srv->lock);
        (void) pthread_join(srv->watchdog, NULL);
        srv->watchdog_running = false;
    }
    return left > 0 ? left : 0;
}

struct posture_http_server *posture_http_server_free(struct posture_http_server *srv)
{
    if (!srv)
        return NULL;
    if (srv->started)
        (void) posture_http_server_stop(srv, 0);
    for (size_t i = 0; i < srv->n_routes; i++)
        free(srv->routes[i].path);
    free(srv->routes);
    free(srv->trusted);
    free(srv->tls_cert);
    secret_free(srv->tls_key);
    free(srv->client_ca);
    X509_STORE_free(srv->ca_store);
    (void) pthread_cond_destroy(&srv->cond);
    (void) pthread_mutex_destroy(&srv->verified_lock);
    (void) pthread_mutex_destroy(&srv->lock);
    free(srv);
    return NULL;
}
