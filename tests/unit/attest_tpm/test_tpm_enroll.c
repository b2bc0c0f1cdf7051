/* SPDX-License-Identifier: Apache-2.0 */
/* The pure parts of posture/tpm_enroll.h (EK public vs certificate, the default EK templates,
 * the activation proof) and the argument and no-TPM paths. The TPM paths are tested against
 * swtpm by integration/agent.enroll/tpm. */

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "posture/tpm_enroll.h"

#include "testlib.h"

/* A self-signed certificate (DER) for key. */
static uint8_t *make_cert(EVP_PKEY *key, size_t *ret_len)
{
    X509 *x = X509_new();
    unsigned char *der = NULL;
    int n;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    n = i2d_X509(x, &der);
    assert_true(n > 0);
    X509_free(x);
    *ret_len = (size_t) n;
    return der;
}

/* The default template with the key's public value in its unique field: what a TPM returns for
 * an EK made from that template (here with a key of our own). */
static size_t ek_public_for(EVP_PKEY *key, bool rsa, uint8_t *buf, size_t size)
{
    size_t len = 0;

    assert_int_equal(posture_tpm_ek_template(rsa, buf, size, &len), 0);
    if (rsa) {
        BIGNUM *n = NULL;
        assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n), 1);
        /* unique.rsa is the last field: size(2) + 256 bytes */
        assert_int_equal(BN_bn2binpad(n, buf + len - 256, 256), 256);
        BN_free(n);
    } else {
        uint8_t point[65];
        size_t plen = 0;
        assert_int_equal(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                         sizeof(point), &plen),
                         1);
        assert_int_equal(plen, 65);
        /* unique.ecc: x.size(2) x(32) y.size(2) y(32) */
        memcpy(buf + len - 66, point + 1, 32);
        memcpy(buf + len - 32, point + 33, 32);
    }
    return len;
}

static void check_match(bool rsa)
{
    EVP_PKEY *key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    EVP_PKEY *other = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    uint8_t pub[600], bad[601];
    size_t len, cert_len = 0, other_len = 0;
    uint8_t *cert, *other_cert;

    assert_non_null(key);
    assert_non_null(other);
    len = ek_public_for(key, rsa, pub, sizeof(pub));
    cert = make_cert(key, &cert_len);
    other_cert = make_cert(other, &other_len);

    assert_int_equal(posture_tpm_ek_public_matches_cert(pub, len, cert, cert_len), 0);
    /* another key's certificate */
    assert_int_equal(posture_tpm_ek_public_matches_cert(pub, len, other_cert, other_len),
                     -EKEYREJECTED);
    /* one bit of the key flipped */
    memcpy(bad, pub, len);
    bad[len - 5] ^= 0x01;
    {
        int r = posture_tpm_ek_public_matches_cert(bad, len, cert, cert_len);
        /* an EC point off the curve does not even make a key */
        assert_true(r == -EKEYREJECTED || (!rsa && r == -EBADMSG));
    }
    /* not exactly one TPM2B_PUBLIC: truncated, trailing byte */
    assert_int_equal(posture_tpm_ek_public_matches_cert(pub, len - 1, cert, cert_len), -EBADMSG);
    memcpy(bad, pub, len);
    bad[len] = 0;
    assert_int_equal(posture_tpm_ek_public_matches_cert(bad, len + 1, cert, cert_len), -EBADMSG);
    /* a certificate that is not DER, or has trailing bytes */
    assert_int_equal(posture_tpm_ek_public_matches_cert(pub, len, pub, len), -EBADMSG);
    assert_int_equal(posture_tpm_ek_public_matches_cert(pub, len, cert, cert_len - 1), -EBADMSG);
    assert_int_equal(posture_tpm_ek_public_matches_cert(pub, len, cert, 0), -EBADMSG);
    assert_int_equal(posture_tpm_ek_public_matches_cert(NULL, len, cert, cert_len), -EINVAL);
    assert_int_equal(posture_tpm_ek_public_matches_cert(pub, len, NULL, cert_len), -EINVAL);

    OPENSSL_free(cert);
    OPENSSL_free(other_cert);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

static void test_match_rsa(void **state)
{
    (void) state;
    check_match(true);
}

static void test_match_ecc(void **state)
{
    (void) state;
    check_match(false);
}

/* The RSA key of an RSA template against an EC certificate: a different algorithm. */
static void test_match_type(void **state)
{
    EVP_PKEY *rsa = EVP_RSA_gen(2048), *ec = EVP_EC_gen("P-256");
    uint8_t pub[600];
    size_t len, cert_len = 0;
    uint8_t *cert;
    (void) state;

    len = ek_public_for(rsa, true, pub, sizeof(pub));
    cert = make_cert(ec, &cert_len);
    assert_int_equal(posture_tpm_ek_public_matches_cert(pub, len, cert, cert_len), -EKEYREJECTED);
    OPENSSL_free(cert);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

static void test_template(void **state)
{
    static const uint8_t policy_a[32] = {
        0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
        0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
        0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
    };
    static const uint8_t attrs[4] = { 0x00, 0x03, 0x00, 0xb2 };
    uint8_t buf[600];
    size_t len = 0;
    (void) state;

    /* L-1: size, type RSA, nameAlg SHA-256, attributes, PolicyA, AES-128-CFB, NULL scheme,
     * 2048 bits, exponent 0, a 256-byte zero unique. */
    assert_int_equal(posture_tpm_ek_template(true, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, 2 + 2 + 2 + 4 + 2 + 32 + 6 + 2 + 2 + 4 + 2 + 256);
    assert_int_equal((size_t) (buf[0] << 8 | buf[1]), len - 2);
    assert_int_equal(buf[2] << 8 | buf[3], 0x0001);
    assert_int_equal(buf[4] << 8 | buf[5], 0x000b);
    assert_memory_equal(buf + 6, attrs, 4);
    assert_int_equal(buf[10] << 8 | buf[11], 32);
    assert_memory_equal(buf + 12, policy_a, 32);
    assert_int_equal(buf[44] << 8 | buf[45], 0x0006); /* AES */
    assert_int_equal(buf[46] << 8 | buf[47], 128);
    assert_int_equal(buf[48] << 8 | buf[49], 0x0043); /* CFB */
    assert_int_equal(buf[50] << 8 | buf[51], 0x0010); /* scheme NULL */
    assert_int_equal(buf[52] << 8 | buf[53], 2048);

    /* L-2: type ECC, curve P-256, two 32-byte zero coordinates. */
    assert_int_equal(posture_tpm_ek_template(false, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, 2 + 2 + 2 + 4 + 2 + 32 + 6 + 2 + 2 + 2 + 2 + 32 + 2 + 32);
    assert_int_equal(buf[2] << 8 | buf[3], 0x0023);
    assert_memory_equal(buf + 6, attrs, 4);
    assert_memory_equal(buf + 12, policy_a, 32);
    assert_int_equal(buf[52] << 8 | buf[53], 0x0003); /* NIST P-256 */

    assert_int_equal(posture_tpm_ek_template(true, buf, 100, &len), -ENOBUFS);
    assert_int_equal(posture_tpm_ek_template(true, NULL, 100, &len), -EINVAL);
    assert_int_equal(posture_tpm_ek_template(true, buf, sizeof(buf), NULL), -EINVAL);
}

static void test_proof(void **state)
{
    /* python3: hmac.new(bytes(range(32)), b"POSTURE-ENROLL-V1" + b"dev-abc" +
     * bytes(range(100, 132)), hashlib.sha256).hexdigest() */
    static const uint8_t want[32] = {
        0x7e, 0xd3, 0x03, 0xdd, 0x60, 0xc5, 0x76, 0xbe, 0xbd, 0xa0, 0xb7,
        0xc7, 0xf8, 0x00, 0x5d, 0x01, 0x67, 0x40, 0xc9, 0x65, 0xc7, 0xd9,
        0x81, 0xdc, 0x44, 0x00, 0x69, 0x3b, 0x07, 0x99, 0xd8, 0x03,
    };
    uint8_t secret[32], nonce0[32], proof[32], proof2[32];
    char long_id[200];
    (void) state;

    for (int i = 0; i < 32; i++) {
        secret[i] = (uint8_t) i;
        nonce0[i] = (uint8_t) (100 + i);
    }
    assert_int_equal(posture_tpm_enroll_proof(secret, 32, "dev-abc", nonce0, 32, proof), 0);
    assert_memory_equal(proof, want, 32);
    /* each input matters */
    assert_int_equal(posture_tpm_enroll_proof(secret, 32, "dev-abd", nonce0, 32, proof2), 0);
    assert_memory_not_equal(proof, proof2, 32);
    nonce0[31] ^= 1;
    assert_int_equal(posture_tpm_enroll_proof(secret, 32, "dev-abc", nonce0, 32, proof2), 0);
    assert_memory_not_equal(proof, proof2, 32);
    secret[0] ^= 1;
    nonce0[31] ^= 1;
    assert_int_equal(posture_tpm_enroll_proof(secret, 32, "dev-abc", nonce0, 32, proof2), 0);
    assert_memory_not_equal(proof, proof2, 32);

    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(posture_tpm_enroll_proof(secret, 32, long_id, nonce0, 32, proof2), -EINVAL);
    assert_int_equal(posture_tpm_enroll_proof(secret, 32, "", nonce0, 32, proof2), -EINVAL);
    assert_int_equal(posture_tpm_enroll_proof(secret, 0, "d", nonce0, 32, proof2), -EINVAL);
    assert_int_equal(posture_tpm_enroll_proof(secret, 65, "d", nonce0, 32, proof2), -EINVAL);
    assert_int_equal(posture_tpm_enroll_proof(secret, 32, "d", nonce0, 0, proof2), -EINVAL);
    assert_int_equal(posture_tpm_enroll_proof(secret, 32, "d", nonce0, 65, proof2), -EINVAL);
    assert_int_equal(posture_tpm_enroll_proof(NULL, 32, "d", nonce0, 32, proof2), -EINVAL);
    assert_int_equal(posture_tpm_enroll_proof(secret, 32, NULL, nonce0, 32, proof2), -EINVAL);
    assert_int_equal(posture_tpm_enroll_proof(secret, 32, "d", NULL, 32, proof2), -EINVAL);
}

static void test_no_tpm(void **state)
{
    struct posture_tpm_enroll_material *m = NULL;
    uint8_t ek[600], secret[POSTURE_TPM_SECRET_MAX];
    /* a TPM2B_ID_OBJECT and a TPM2B_ENCRYPTED_SECRET of 4 bytes each */
    static const uint8_t blob[] = { 0, 4, 1, 2, 3, 4 };
    size_t ek_len = 0, secret_len = 0;
    (void) state;

    assert_int_equal(posture_tpm_enroll_material("swtpm:host=127.0.0.1,port=1", &m), -ENODEV);
    assert_int_equal(posture_tpm_enroll_material("posture-no-such-tcti", &m), -ENODEV);
    assert_int_equal(posture_tpm_enroll_material(NULL, &m), -EINVAL);
    assert_int_equal(posture_tpm_enroll_material("x", NULL), -EINVAL);
    assert_null(m);
    assert_null(posture_tpm_enroll_material_free(NULL));

    assert_int_equal(posture_tpm_ek_template(true, ek, sizeof(ek), &ek_len), 0);
    assert_int_equal(posture_tpm_activate_credential("swtpm:host=127.0.0.1,port=1", ek, ek_len,
                                                     blob, sizeof(blob), blob, sizeof(blob), secret,
                                                     &secret_len),
                     -ENODEV);
    /* malformed inputs are refused before the TPM is opened */
    assert_int_equal(posture_tpm_activate_credential("swtpm:host=127.0.0.1,port=1", ek, ek_len - 1,
                                                     blob, sizeof(blob), blob, sizeof(blob), secret,
                                                     &secret_len),
                     -EBADMSG);
    assert_int_equal(posture_tpm_activate_credential("swtpm:host=127.0.0.1,port=1", ek, ek_len,
                                                     blob, sizeof(blob) - 1, blob, sizeof(blob),
                                                     secret, &secret_len),
                     -EBADMSG);
    assert_int_equal(posture_tpm_activate_credential("swtpm:host=127.0.0.1,port=1", ek, ek_len,
                                                     blob, sizeof(blob), blob, 2, secret,
                                                     &secret_len),
                     -EBADMSG);
    assert_int_equal(posture_tpm_activate_credential(NULL, ek, ek_len, blob, sizeof(blob), blob,
                                                     sizeof(blob), secret, &secret_len),
                     -EINVAL);
    assert_int_equal(posture_tpm_activate_credential("x", ek, ek_len, blob, sizeof(blob), blob,
                                                     sizeof(blob), NULL, &secret_len),
                     -EINVAL);
    assert_int_equal(secret_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_rsa),  cmocka_unit_test(test_match_ecc),
        cmocka_unit_test(test_match_type), cmocka_unit_test(test_template),
        cmocka_unit_test(test_proof),      cmocka_unit_test(test_no_tpm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
