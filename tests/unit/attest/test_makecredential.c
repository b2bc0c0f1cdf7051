/* SPDX-License-Identifier: Apache-2.0 */
/* posture_makecredential() opened with the EK's private key, which the test generates, and
 * OpenSSL's own SP 800-108 (KBKDF) and SP 800-56C (SSKDF) as the oracles for KDFa/KDFe. The
 * TPM round trip is integration/attest.quote/makecredential. */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rsa.h>

#include "posture/makecredential.h"

#include "testlib.h"

static const uint8_t ak_name[34] = { 0x00, 0x0b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t secret[32] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3 };

static size_t put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
    return 2;
}

static unsigned get16(const uint8_t *p)
{
    return (unsigned) p[0] << 8 | p[1];
}

/* TPM2B_PUBLIC of an EK-like key: RSA (modulus) or ECC P-256 (x, y), AES-128-CFB. */
static size_t make_ek(
    uint8_t *out, bool rsa, const uint8_t *a, const uint8_t *b, uint16_t name_alg, uint16_t sym_alg)
{
    uint8_t *p = out + 2;
    p += put16(p, rsa ? 0x0001 : 0x0023);
    p += put16(p, name_alg);
    /* fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy|restricted|decrypt */
    p += put16(p, 0x0003);
    p += put16(p, 0x00b2);
    p += put16(p, 0); /* authPolicy */
    p += put16(p, sym_alg);
    if (sym_alg != 0x0010) {
        p += put16(p, 128);
        p += put16(p, 0x0043);
    }
    p += put16(p, 0x0010); /* scheme NULL */
    if (rsa) {
        p += put16(p, 2048);
        memset(p, 0, 4); /* exponent: default */
        p += 4;
        p += put16(p, 256);
        memcpy(p, a, 256);
        p += 256;
    } else {
        p += put16(p, 0x0003); /* NIST P-256 */
        p += put16(p, 0x0010); /* kdf NULL */
        p += put16(p, 32);
        memcpy(p, a, 32);
        p += 32;
        p += put16(p, 32);
        memcpy(p, b, 32);
        p += 32;
    }
    put16(out, (unsigned) (p - out - 2));
    return (size_t) (p - out);
}

static void kdf(const char *alg,
                const uint8_t *key,
                size_t key_len,
                const char *label,
                const uint8_t *ctx,
                size_t ctx_len,
                uint8_t *out,
                size_t out_len)
{
    EVP_KDF *k = EVP_KDF_fetch(NULL, alg, NULL);
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(k);
    OSSL_PARAM params[8], *p = params;
    uint8_t fixed[256];
    size_t fixed_len = 0;

    assert_non_null(kctx);
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) key, key_len);
    if (strcmp(alg, "KBKDF") == 0) {
        /* counter || label || 0x00 || context || L(32 bits): TPM KDFa */
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, (char *) "HMAC", 0);
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, (char *) "COUNTER", 0);
        *p++ =
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) label, strlen(label));
        if (ctx_len)
            *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *) ctx, ctx_len);
    } else {
        /* SSKDF: H(counter || Z || FixedInfo), FixedInfo = label\0 || U || V: TPM KDFe */
        memcpy(fixed, label, strlen(label) + 1);
        fixed_len = strlen(label) + 1;
        memcpy(fixed + fixed_len, ctx, ctx_len);
        fixed_len += ctx_len;
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, fixed, fixed_len);
    }
    *p = OSSL_PARAM_construct_end();
    assert_int_equal(EVP_KDF_derive(kctx, out, out_len, params), 1);
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(k);
}

/* Open the credential with the seed: the secret comes back and the outer HMAC matches. */
static void open_credential(const struct posture_credential *c, const uint8_t seed[32])
{
    uint8_t key[16], hkey[32], mac[32], plain[64];
    size_t mac_len = sizeof(mac);
    const uint8_t *id = c->id_object;
    int len = 0;

    assert_int_equal(get16(id), c->id_object_len - 2);
    assert_int_equal(get16(id + 2), 32);
    const uint8_t *outer = id + 4, *enc = id + 4 + 32;
    size_t enc_len = c->id_object_len - 4 - 32;
    assert_int_equal(enc_len, 2 + sizeof(secret));

    kdf("KBKDF", seed, 32, "STORAGE", ak_name, sizeof(ak_name), key, sizeof(key));
    EVP_CIPHER_CTX *cctx = EVP_CIPHER_CTX_new();
    static const uint8_t iv[16] = { 0 };
    assert_int_equal(EVP_DecryptInit_ex(cctx, EVP_aes_128_cfb(), NULL, key, iv), 1);
    assert_int_equal(EVP_DecryptUpdate(cctx, plain, &len, enc, (int) enc_len), 1);
    EVP_CIPHER_CTX_free(cctx);
    assert_int_equal(get16(plain), sizeof(secret));
    assert_memory_equal(plain + 2, secret, sizeof(secret));

    kdf("KBKDF", seed, 32, "INTEGRITY", NULL, 0, hkey, sizeof(hkey));
    uint8_t msg[2 + sizeof(secret) + sizeof(ak_name)];
    memcpy(msg, enc, enc_len);
    memcpy(msg + enc_len, ak_name, sizeof(ak_name));
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *mctx = EVP_MAC_CTX_new(m);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    assert_int_equal(EVP_MAC_init(mctx, hkey, sizeof(hkey), params), 1);
    assert_int_equal(EVP_MAC_update(mctx, msg, sizeof(msg)), 1);
    assert_int_equal(EVP_MAC_final(mctx, mac, &mac_len, sizeof(mac)), 1);
    EVP_MAC_CTX_free(mctx);
    EVP_MAC_free(m);
    assert_memory_equal(mac, outer, 32);
}

static void test_rsa(void **state)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    BIGNUM *n = NULL;
    uint8_t mod[256], pub[512], seed[256]; /* decrypt wants room for a modulus */
    struct posture_credential *c = NULL, *c2 = NULL;
    size_t seed_len = sizeof(seed);
    (void) state;

    assert_non_null(k);
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(BN_bn2binpad(n, mod, sizeof(mod)), 256);
    BN_free(n);
    size_t len = make_ek(pub, true, mod, NULL, 0x000b, 0x0006);

    assert_int_equal(
        posture_makecredential(pub, len, ak_name, sizeof(ak_name), secret, sizeof(secret), &c), 0);
    assert_int_equal(c->encrypted_secret_len, 2 + 256);
    assert_int_equal(get16(c->encrypted_secret), 256);

    /* The seed: RSA-OAEP(SHA-256, label "IDENTITY\0"). */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
    char *label = OPENSSL_malloc(9);
    memcpy(label, "IDENTITY", 9);
    assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA256", NULL), 1);
    assert_int_equal(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, 9), 1);
    assert_int_equal(EVP_PKEY_decrypt(ctx, seed, &seed_len, c->encrypted_secret + 2, 256), 1);
    EVP_PKEY_CTX_free(ctx);
    assert_int_equal(seed_len, 32);
    open_credential(c, seed);

    /* A fresh seed every time. */
    assert_int_equal(
        posture_makecredential(pub, len, ak_name, sizeof(ak_name), secret, sizeof(secret), &c2), 0);
    assert_memory_not_equal(c->encrypted_secret, c2->encrypted_secret, c->encrypted_secret_len);
    c = posture_credential_free(c);
    c2 = posture_credential_free(c2);
    assert_null(c);
    EVP_PKEY_free(k);
}

static void test_ecc(void **state)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    BIGNUM *x = NULL, *y = NULL;
    uint8_t ex[32], ey[32], pub[256], z[32], seed[32], point[65];
    struct posture_credential *c = NULL;
    size_t z_len = sizeof(z);
    (void) state;

    assert_non_null(k);
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y), 1);
    assert_int_equal(BN_bn2binpad(x, ex, 32), 32);
    assert_int_equal(BN_bn2binpad(y, ey, 32), 32);
    BN_free(x);
    BN_free(y);
    size_t len = make_ek(pub, false, ex, ey, 0x000b, 0x0006);
    assert_int_equal(
        posture_makecredential(pub, len, ak_name, sizeof(ak_name), secret, sizeof(secret), &c), 0);
    /* TPM2B_ENCRYPTED_SECRET holding TPMS_ECC_POINT: the ephemeral public key. */
    const uint8_t *es = c->encrypted_secret;
    assert_int_equal(c->encrypted_secret_len, 2 + 2 + 32 + 2 + 32);
    assert_int_equal(get16(es), 68);
    assert_int_equal(get16(es + 2), 32);
    assert_int_equal(get16(es + 36), 32);
    point[0] = 4;
    memcpy(point + 1, es + 4, 32);
    memcpy(point + 33, es + 38, 32);

    EVP_PKEY *eph = NULL;
    EVP_PKEY_CTX *fctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *) "prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)),
        OSSL_PARAM_construct_end(),
    };
    assert_int_equal(EVP_PKEY_fromdata_init(fctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(fctx, &eph, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(fctx);
    EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new(k, NULL);
    assert_int_equal(EVP_PKEY_derive_init(dctx), 1);
    assert_int_equal(EVP_PKEY_derive_set_peer(dctx, eph), 1);
    assert_int_equal(EVP_PKEY_derive(dctx, z, &z_len), 1);
    EVP_PKEY_CTX_free(dctx);
    EVP_PKEY_free(eph);

    uint8_t uv[64];
    memcpy(uv, es + 4, 32);  /* partyU: ephemeral x */
    memcpy(uv + 32, ex, 32); /* partyV: EK x */
    kdf("SSKDF", z, z_len, "IDENTITY", uv, sizeof(uv), seed, sizeof(seed));
    open_credential(c, seed);

    c = posture_credential_free(c);
    EVP_PKEY_free(k);
}

static void test_errors(void **state)
{
    uint8_t mod[256], pub[512], bad[512];
    struct posture_credential *c = NULL;
    (void) state;

    memset(mod, 0xc5, sizeof(mod));
    mod[0] = 0xc0;
    size_t len = make_ek(pub, true, mod, NULL, 0x000b, 0x0006);

    assert_int_equal(posture_makecredential(NULL, len, ak_name, 34, secret, 32, &c), -EINVAL);
    assert_int_equal(posture_makecredential(pub, len, NULL, 34, secret, 32, &c), -EINVAL);
    assert_int_equal(posture_makecredential(pub, len, ak_name, 2, secret, 32, &c), -EINVAL);
    assert_int_equal(posture_makecredential(pub, len, ak_name, 34, secret, 0, &c), -EINVAL);
    assert_int_equal(posture_makecredential(pub, len, ak_name, 34, secret, 65, &c), -EINVAL);
    assert_int_equal(posture_makecredential(pub, len, ak_name, 34, secret, 32, NULL), -EINVAL);
    /* Truncated, trailing byte. */
    for (size_t n = 0; n < len; n += 7)
        assert_int_equal(posture_makecredential(pub, n, ak_name, 34, secret, 32, &c), -EBADMSG);
    memcpy(bad, pub, len);
    bad[len] = 0;
    assert_int_equal(posture_makecredential(bad, len + 1, ak_name, 34, secret, 32, &c), -EBADMSG);
    /* nameAlg SHA-1; no symmetric algorithm. */
    len = make_ek(bad, true, mod, NULL, 0x0004, 0x0006);
    assert_int_equal(posture_makecredential(bad, len, ak_name, 34, secret, 32, &c), -EOPNOTSUPP);
    len = make_ek(bad, true, mod, NULL, 0x000b, 0x0010);
    assert_int_equal(posture_makecredential(bad, len, ak_name, 34, secret, 32, &c), -EOPNOTSUPP);
    /* An ECC point that is not on the curve. */
    uint8_t x[32], y[32];
    memset(x, 1, sizeof(x));
    memset(y, 2, sizeof(y));
    len = make_ek(bad, false, x, y, 0x000b, 0x0006);
    assert_int_equal(posture_makecredential(bad, len, ak_name, 34, secret, 32, &c), -EBADMSG);
    assert_null(c);
    assert_null(posture_credential_free(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa),
        cmocka_unit_test(test_ecc),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
