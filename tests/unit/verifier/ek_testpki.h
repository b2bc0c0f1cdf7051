/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Test PKI for the EK tests (test_ekcert.c, test_enroll.c): certificates made with OpenSSL and
 * TPM2B_PUBLICs marshalled with tss2-mu. Test code only: failures are cmocka assertions. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "testlib.h"

#define DAY ((int64_t) 86400)

struct ext {
    const char *oid;
    int critical;
};

static inline X509 *make_cert(const char *cn,
                              EVP_PKEY *pub,
                              X509 *issuer,
                              EVP_PKEY *issuer_key,
                              int ca,
                              int64_t not_before,
                              int64_t not_after,
                              const struct ext *extra)
{
    X509 *x = X509_new();
    X509V3_CTX v3;
    static long serial = 1;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
    if (cn[0]) /* EK certificates have an empty subject */
        assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                                    (const unsigned char *) cn, -1, -1, 0),
                         1);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)), 1);
    assert_int_equal(X509_set_pubkey(x, pub), 1);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t) not_before));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t) not_after));
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                                                ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
        e = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
                                ca ? "critical,keyCertSign,cRLSign" : "critical,keyEncipherment");
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
        e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
    }
    if (!ca) {
        /* The TCG EK EKU, and a SAN directoryName like real EK certificates (handled, so
         * critical is fine). */
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "2.23.133.8.1");
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
        e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "critical,URI:urn:tpm:test");
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
    }
    if (extra) {
        static const unsigned char der[] = { 0x30, 0x00 };
        ASN1_OBJECT *obj = OBJ_txt2obj(extra->oid, 1);
        ASN1_OCTET_STRING *data = ASN1_OCTET_STRING_new();
        X509_EXTENSION *e;
        assert_non_null(obj);
        assert_int_equal(ASN1_OCTET_STRING_set(data, der, sizeof(der)), 1);
        e = X509_EXTENSION_create_by_OBJ(NULL, obj, extra->critical, data);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
        ASN1_OBJECT_free(obj);
        ASN1_OCTET_STRING_free(data);
    }
    assert_true(X509_sign(x, issuer_key, EVP_sha256()) > 0);
    return x;
}

static inline size_t der_of(X509 *x, uint8_t *buf, size_t size)
{
    unsigned char *p = buf;
    int n = i2d_X509(x, NULL);
    assert_true(n > 0 && (size_t) n <= size);
    assert_int_equal(i2d_X509(x, &p), n);
    return (size_t) n;
}

static inline void write_pem(const char *dir, const char *name, X509 *const *certs, size_t n)
{
    char *p = NULL;
    FILE *f;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    f = fopen(p, "we");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(PEM_write_X509(f, certs[i]), 1);
    assert_int_equal(fclose(f), 0);
    free(p);
}

static inline void write_der(const char *dir, const char *name, X509 *x)
{
    uint8_t buf[8192];
    size_t n = der_of(x, buf, sizeof(buf));
    char *p = NULL;
    FILE *f;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    f = fopen(p, "we");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(p);
}

#define EK_ATTRS                                                                        \
    (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
     TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

/* The TPM2B_PUBLIC of an RSA EK (low-range template) or an ECC one for key. */
static inline size_t tpm_public(EVP_PKEY *key, TPMA_OBJECT attrs, uint8_t *buf, size_t size)
{
    TPM2B_PUBLIC pub;
    size_t off = 0;
    BIGNUM *a = NULL, *b = NULL;

    memset(&pub, 0, sizeof(pub));
    pub.publicArea.objectAttributes = attrs;
    pub.publicArea.authPolicy.size = 32;
    memset(pub.publicArea.authPolicy.buffer, 0x83, 32);
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
        pub.publicArea.type = TPM2_ALG_RSA;
        pub.publicArea.nameAlg = TPM2_ALG_SHA256;
        pub.publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
        pub.publicArea.parameters.rsaDetail.symmetric.keyBits.aes = 128;
        pub.publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        pub.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        pub.publicArea.parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS) EVP_PKEY_get_bits(key);
        assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &a), 1);
        pub.publicArea.unique.rsa.size = (UINT16) BN_num_bytes(a);
        assert_true(BN_bn2bin(a, pub.publicArea.unique.rsa.buffer) > 0);
    } else {
        char group[64];
        size_t n;
        assert_int_equal(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                        sizeof(group), NULL),
                         1);
        n = strcmp(group, "prime256v1") == 0 ? 32 : strcmp(group, "secp384r1") == 0 ? 48 : 66;
        pub.publicArea.type = TPM2_ALG_ECC;
        pub.publicArea.nameAlg = n == 48 ? TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
        pub.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
        pub.publicArea.parameters.eccDetail.symmetric.keyBits.aes = n == 48 ? 256 : 128;
        pub.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        pub.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        pub.publicArea.parameters.eccDetail.curveID = n == 32   ? TPM2_ECC_NIST_P256
                                                      : n == 48 ? TPM2_ECC_NIST_P384
                                                                : TPM2_ECC_NIST_P521;
        pub.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &a), 1);
        assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &b), 1);
        pub.publicArea.unique.ecc.x.size = (UINT16) n;
        pub.publicArea.unique.ecc.y.size = (UINT16) n;
        assert_int_equal(BN_bn2binpad(a, pub.publicArea.unique.ecc.x.buffer, (int) n), (int) n);
        assert_int_equal(BN_bn2binpad(b, pub.publicArea.unique.ecc.y.buffer, (int) n), (int) n);
    }
    BN_free(a);
    BN_free(b);
    assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, size, &off), TSS2_RC_SUCCESS);
    return off;
}

#define AK_ATTRS                                                                        \
    (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | \
     TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |     \
     TPMA_OBJECT_NODA)

/* The TPM2B_PUBLIC of an AK (ECC P-256, ECDSA-SHA256, nameAlg SHA-256) for key, with attrs and
 * the curve given (TPM2_ECC_NIST_P256 for a good AK). */
static inline size_t
ak_public(EVP_PKEY *key, TPMA_OBJECT attrs, TPM2_ECC_CURVE curve, uint8_t *buf, size_t size)
{
    TPM2B_PUBLIC pub;
    size_t off = 0;
    BIGNUM *a = NULL, *b = NULL;

    memset(&pub, 0, sizeof(pub));
    pub.publicArea.type = TPM2_ALG_ECC;
    pub.publicArea.nameAlg = TPM2_ALG_SHA256;
    pub.publicArea.objectAttributes = attrs;
    pub.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    pub.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    pub.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    pub.publicArea.parameters.eccDetail.curveID = curve;
    pub.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &a), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &b), 1);
    pub.publicArea.unique.ecc.x.size = 32;
    pub.publicArea.unique.ecc.y.size = 32;
    assert_int_equal(BN_bn2binpad(a, pub.publicArea.unique.ecc.x.buffer, 32), 32);
    assert_int_equal(BN_bn2binpad(b, pub.publicArea.unique.ecc.y.buffer, 32), 32);
    BN_free(a);
    BN_free(b);
    assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, size, &off), TSS2_RC_SUCCESS);
    return off;
}
