/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Test certificates for the HTTP layer's tests, made with OpenSSL (independent of the code under
 * test): a P-256 CA, and leaf certificates it (or another CA) signs. Fails the test on error. */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "testlib.h"

struct tcert {
    EVP_PKEY *key;
    X509 *cert;
    char *pem;     /* certificate, PEM */
    char *key_pem; /* private key, PEM (PKCS#8) */
    uint8_t *der;
    size_t der_len;
    uint8_t sha256[32]; /* X509_digest(SHA-256) */
};

enum tcert_kind {
    TCERT_CA,
    TCERT_CLIENT,
    TCERT_SERVER,
};

static inline char *tcert_bio_text(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t) n + 1);

    assert_non_null(s);
    memcpy(s, data, (size_t) n);
    s[n] = '\0';
    return s;
}

static inline void tcert_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate valid from now + not_before to now + not_after (seconds). */
static inline void tcert_make_validity(struct tcert *t,
                                       const char *cn,
                                       enum tcert_kind kind,
                                       const struct tcert *issuer,
                                       long not_before,
                                       long not_after)
{
    X509_NAME *name;
    unsigned char serial[16];
    BIGNUM *bn;
    BIO *b;
    unsigned n = 0;
    unsigned char *der = NULL;
    int len;

    memset(t, 0, sizeof(*t));
    t->key = EVP_EC_gen("P-256");
    assert_non_null(t->key);
    t->cert = X509_new();
    assert_non_null(t->cert);
    assert_int_equal(X509_set_version(t->cert, 2), 1);
    assert_int_equal(RAND_bytes(serial, sizeof(serial)), 1);
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    assert_non_null(bn);
    assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(t->cert)));
    BN_free(bn);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(t->cert), not_before));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(t->cert), not_after));
    name = X509_get_subject_name(t->cert);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0),
        1);
    assert_int_equal(
        X509_set_issuer_name(t->cert, issuer ? X509_get_subject_name(issuer->cert) : name), 1);
    assert_int_equal(X509_set_pubkey(t->cert, t->key), 1);
    X509 *icert = issuer ? issuer->cert : t->cert;
    switch (kind) {
    case TCERT_CA:
        tcert_ext(t->cert, icert, NID_basic_constraints, "critical,CA:TRUE");
        tcert_ext(t->cert, icert, NID_key_usage, "critical,keyCertSign,cRLSign");
        tcert_ext(t->cert, icert, NID_subject_key_identifier, "hash");
        break;
    case TCERT_CLIENT:
        tcert_ext(t->cert, icert, NID_basic_constraints, "critical,CA:FALSE");
        tcert_ext(t->cert, icert, NID_key_usage, "critical,digitalSignature");
        tcert_ext(t->cert, icert, NID_ext_key_usage, "clientAuth");
        tcert_ext(t->cert, icert, NID_subject_alt_name, "URI:spiffe://test.example/device/x");
        break;
    case TCERT_SERVER:
        tcert_ext(t->cert, icert, NID_basic_constraints, "critical,CA:FALSE");
        tcert_ext(t->cert, icert, NID_key_usage, "critical,digitalSignature");
        tcert_ext(t->cert, icert, NID_ext_key_usage, "serverAuth");
        tcert_ext(t->cert, icert, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
        break;
    }
    assert_true(X509_sign(t->cert, issuer ? issuer->key : t->key, EVP_sha256()) > 0);

    b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    assert_int_equal(PEM_write_bio_X509(b, t->cert), 1);
    t->pem = tcert_bio_text(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    assert_int_equal(PEM_write_bio_PrivateKey(b, t->key, NULL, NULL, 0, NULL, NULL), 1);
    t->key_pem = tcert_bio_text(b);
    BIO_free(b);
    len = i2d_X509(t->cert, &der);
    assert_true(len > 0);
    t->der = malloc((size_t) len);
    assert_non_null(t->der);
    memcpy(t->der, der, (size_t) len);
    t->der_len = (size_t) len;
    OPENSSL_free(der);
    assert_int_equal(X509_digest(t->cert, EVP_sha256(), t->sha256, &n), 1);
    assert_int_equal(n, 32);
}

static inline void
tcert_make(struct tcert *t, const char *cn, enum tcert_kind kind, const struct tcert *issuer)
{
    tcert_make_validity(t, cn, kind, issuer, -3600, 24 * 3600);
}

static inline void tcert_free(struct tcert *t)
{
    EVP_PKEY_free(t->key);
    X509_free(t->cert);
    free(t->pem);
    free(t->key_pem);
    free(t->der);
    memset(t, 0, sizeof(*t));
}

/* Percent-encode everything but RFC 3986 unreserved characters (nginx
 * $ssl_client_escaped_cert, Go url.QueryEscape for our purposes). */
static inline char *tcert_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *p = out;

    assert_non_null(out);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            *p++ = (char) c;
        else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}

/* Standard base64 (with padding) of the DER, as Traefik sends it before escaping. */
static inline char *tcert_base64(const uint8_t *der, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);

    assert_non_null(out);
    assert_int_equal(EVP_EncodeBlock((unsigned char *) out, der, (int) len), 4 * ((len + 2) / 3));
    return out;
}

static inline void tcert_hex(const uint8_t *d, size_t n, bool upper, char *out)
{
    const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}
