/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier's parsers of forwarded client-certificate headers and of its listen addresses
 * and trusted-gateway CIDRs (verifier/lib/http.h). The first byte picks the parser (modulo 6:
 * nginx X-Client-Cert, Envoy XFCC, Traefik, the Caddy/HAProxy fingerprint, a listen address, a
 * CIDR); the rest is the header value (cut at the first NUL, as a header would be). Any value
 * may be refused; an accepted certificate must be one DER certificate, and an accepted XFCC
 * Cert must hash to its Hash. A broken invariant aborts, which is how the fuzzer reports it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_der(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x;

    if (!der || len == 0 || len > POSTURE_HTTP_CERT_DER_MAX)
        abort();
    x = d2i_X509(NULL, &p, (long) len);
    if (!x || p != der + len)
        abort();
    X509_free(x);
}

static void check_error(int r)
{
    if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM && r != -EINVAL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t hash[POSTURE_HTTP_SHA256_SIZE], h[POSTURE_HTTP_SHA256_SIZE];
    uint8_t *der = NULL;
    size_t len = 0;
    unsigned n = 0;
    char *value;
    int r;

    if (size == 0)
        return 0;
    value = malloc(size);
    if (!value)
        return 0;
    memcpy(value, data + 1, size - 1);
    value[size - 1] = '\0';

    switch (data[0] % 6) {
    case 0:
        r = posture_http_parse_nginx_cert(value, &der, &len);
        if (r >= 0)
            check_der(der, len);
        else
            check_error(r);
        break;
    case 1:
        r = posture_http_parse_xfcc(value, hash, &der, &len);
        if (r >= 0 && der) {
            check_der(der, len);
            if (EVP_Digest(der, len, h, &n, EVP_sha256(), NULL) == 1 &&
                memcmp(h, hash, sizeof(h)) != 0)
                abort();
        } else if (r >= 0 && len != 0)
            abort();
        else if (r < 0)
            check_error(r);
        break;
    case 2:
        r = posture_http_parse_traefik_cert(value, &der, &len);
        if (r >= 0)
            check_der(der, len);
        else
            check_error(r);
        break;
    case 3:
        r = posture_http_parse_fingerprint(value, hash);
        if (r >= 0 && strlen(value) != 2 * POSTURE_HTTP_SHA256_SIZE)
            abort();
        if (r < 0)
            check_error(r);
        break;
    case 4: {
        struct posture_http_address a;
        char buf[160];
        r = posture_http_address_parse(value, &a);
        if (r >= 0)
            (void) posture_http_address_format((const struct sockaddr *) &a.sa, a.len, buf,
                                               sizeof(buf));
        else
            check_error(r);
        break;
    }
    default: {
        struct posture_http_cidr c;
        r = posture_http_cidr_parse(value, &c);
        if (r >= 0 && c.family != AF_UNIX && c.prefix > (c.family == AF_INET ? 32u : 128u))
            abort();
        if (r < 0)
            check_error(r);
        break;
    }
    }
    free(der);
    free(value);
    return 0;
}
