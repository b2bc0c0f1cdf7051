/* SPDX-License-Identifier: Apache-2.0 */
/* EK certificate validation (ATTESTATION.md §5.2 step 2, §6 row 12) on chains made here with
 * OpenSSL: root -> intermediate -> EK certificate, for RSA 2048 and ECC P-384 EKs whose
 * TPM2B_PUBLIC is marshalled with tss2-mu. The real swtpm chain is in
 * tests/integration/checks/verifier.enroll. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "ek_testpki.h"
#include "ekcert.h"
#include "testlib.h"

static int64_t now;

struct pki {
    EVP_PKEY *root_key, *int_key, *ek_rsa, *ek_p384;
    X509 *root, *intermediate, *ek_cert_rsa, *ek_cert_p384;
    char *dir; /* root + intermediate */
};

static struct pki pki;

static int setup(void **state)
{
    (void) state;
    now = (int64_t) time(NULL);
    pki.root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pki.int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pki.ek_rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    pki.ek_p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    pki.root = make_cert("test EK root", pki.root_key, NULL, pki.root_key, 1, now - DAY,
                         now + 3650 * DAY, NULL);
    pki.intermediate = make_cert("test EK intermediate", pki.int_key, pki.root, pki.root_key, 1,
                                 now - DAY, now + 3650 * DAY, NULL);
    pki.ek_cert_rsa = make_cert("", pki.ek_rsa, pki.intermediate, pki.int_key, 0, now - DAY,
                                now + 3650 * DAY, NULL);
    pki.ek_cert_p384 = make_cert("", pki.ek_p384, pki.intermediate, pki.int_key, 0, now - DAY,
                                 now + 3650 * DAY, NULL);
    pki.dir = posture_test_mkdtemp();
    write_pem(pki.dir, "root.pem", &pki.root, 1);
    write_der(pki.dir, "intermediate.cer", pki.intermediate);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    EVP_PKEY_free(pki.root_key);
    EVP_PKEY_free(pki.int_key);
    EVP_PKEY_free(pki.ek_rsa);
    EVP_PKEY_free(pki.ek_p384);
    X509_free(pki.root);
    X509_free(pki.intermediate);
    X509_free(pki.ek_cert_rsa);
    X509_free(pki.ek_cert_p384);
    posture_test_rmdir_r(pki.dir);
    free(pki.dir);
    return 0;
}

static enum posture_ekcert_reason check(const struct posture_ekcert_roots *roots,
                                        X509 *cert,
                                        EVP_PKEY *ek,
                                        TPMA_OBJECT attrs,
                                        int64_t when)
{
    uint8_t der[8192], pub[1024];
    size_t der_len = der_of(cert, der, sizeof(der)), pub_len = tpm_public(ek, attrs, pub, 1024);
    enum posture_ekcert_reason reason = POSTURE_EKCERT_REASON__MAX;

    assert_int_equal(posture_ekcert_verify(roots, der, der_len, pub, pub_len, when, &reason, NULL),
                     0);
    return reason;
}

static void test_accepts_rsa_and_p384(void **state)
{
    struct posture_ekcert_roots *roots = NULL;
    struct posture_ekcert_info info;
    uint8_t der[8192], pub[1024], md[32];
    size_t der_len, pub_len;
    enum posture_ekcert_reason reason;

    (void) state;
    assert_int_equal(posture_ekcert_roots_load(pki.dir, NULL, &roots), 0);
    assert_int_equal(posture_ekcert_roots_n_anchors(roots), 1);
    assert_int_equal(posture_ekcert_roots_n_intermediates(roots), 1);
    assert_int_equal(check(roots, pki.ek_cert_rsa, pki.ek_rsa, EK_ATTRS, now), POSTURE_EKCERT_OK);
    assert_int_equal(
        check(roots, pki.ek_cert_p384, pki.ek_p384, EK_ATTRS | TPMA_OBJECT_USERWITHAUTH, now),
        POSTURE_EKCERT_OK);

    /* An ECC P-256 EK (low-range ECC template). */
    {
        EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        X509 *c = make_cert("", p256, pki.intermediate, pki.int_key, 0, now - DAY, now + DAY, NULL);
        assert_int_equal(check(roots, c, p256, EK_ATTRS, now), POSTURE_EKCERT_OK);
        /* The P-384 EK presented under the P-256 certificate: another curve. */
        assert_int_equal(check(roots, c, pki.ek_p384, EK_ATTRS, now), POSTURE_EKCERT_KEY_MISMATCH);
        X509_free(c);
        EVP_PKEY_free(p256);
    }

    /* The info: SHA-256 of the DER and of the SPKI. */
    der_len = der_of(pki.ek_cert_rsa, der, sizeof(der));
    pub_len = tpm_public(pki.ek_rsa, EK_ATTRS, pub, sizeof(pub));
    assert_int_equal(posture_ekcert_verify(roots, der, der_len, pub, pub_len, now, &reason, &info),
                     0);
    assert_int_equal(reason, POSTURE_EKCERT_OK);
    SHA256(der, der_len, md);
    assert_memory_equal(info.cert_sha256, md, 32);
    {
        unsigned char *spki = NULL;
        int n = i2d_PUBKEY(pki.ek_rsa, &spki);
        assert_true(n > 0);
        SHA256(spki, (size_t) n, md);
        OPENSSL_free(spki);
        assert_memory_equal(info.spki_sha256, md, 32);
    }
    posture_ekcert_roots_free(roots);
    assert_null(posture_ekcert_roots_free(NULL));
}

/* Row 12: a chain to a root that is not in the trust directory (the swtpm root in
 * production), an intermediate alone (no partial chains), an empty directory. */
static void test_untrusted(void **state)
{
    struct posture_ekcert_roots *roots = NULL;
    char *only_int = posture_test_mkdtemp(), *other = posture_test_mkdtemp(),
         *empty = posture_test_mkdtemp();
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *other_root = make_cert("other root", k, NULL, k, 1, now - DAY, now + DAY, NULL);

    (void) state;
    write_pem(only_int, "intermediate.pem", &pki.intermediate, 1);
    assert_int_equal(posture_ekcert_roots_load(only_int, NULL, &roots), 0);
    assert_int_equal(posture_ekcert_roots_n_anchors(roots), 0);
    assert_int_equal(check(roots, pki.ek_cert_rsa, pki.ek_rsa, EK_ATTRS, now),
                     POSTURE_EKCERT_UNTRUSTED);
    roots = posture_ekcert_roots_free(roots);

    write_pem(other, "other.pem", &other_root, 1);
    write_pem(other, "intermediate.pem", &pki.intermediate, 1);
    assert_int_equal(posture_ekcert_roots_load(other, NULL, &roots), 0);
    assert_int_equal(check(roots, pki.ek_cert_rsa, pki.ek_rsa, EK_ATTRS, now),
                     POSTURE_EKCERT_UNTRUSTED);
    roots = posture_ekcert_roots_free(roots);

    assert_int_equal(posture_ekcert_roots_load(empty, NULL, &roots), 0);
    assert_int_equal(check(roots, pki.ek_cert_rsa, pki.ek_rsa, EK_ATTRS, now),
                     POSTURE_EKCERT_UNTRUSTED);
    roots = posture_ekcert_roots_free(roots);

    /* A self-signed EK certificate is not its own trust anchor. */
    {
        X509 *self = make_cert("", pki.ek_p384, NULL, pki.ek_p384, 0, now - DAY, now + DAY, NULL);
        assert_int_equal(posture_ekcert_roots_load(pki.dir, NULL, &roots), 0);
        assert_int_equal(check(roots, self, pki.ek_p384, EK_ATTRS, now), POSTURE_EKCERT_UNTRUSTED);
        roots = posture_ekcert_roots_free(roots);
        X509_free(self);
    }

    X509_free(other_root);
    EVP_PKEY_free(k);
    posture_test_rmdir_r(only_int);
    posture_test_rmdir_r(other);
    posture_test_rmdir_r(empty);
    free(only_int);
    free(other);
    free(empty);
}

/* Intermediates from a bundle; a root in the bundle never becomes an anchor. */
static void test_bundle(void **state)
{
    struct posture_ekcert_roots *roots = NULL;
    char *rootdir = posture_test_mkdtemp(), *b = posture_test_mkdtemp(), *bundle = NULL;

    (void) state;
    write_pem(rootdir, "root.pem", &pki.root, 1);
    X509 *both[] = { pki.intermediate, pki.root };
    write_pem(b, "bundle.pem", both, 2);
    assert_true(asprintf(&bundle, "%s/bundle.pem", b) > 0);
    assert_int_equal(posture_ekcert_roots_load(rootdir, bundle, &roots), 0);
    assert_int_equal(posture_ekcert_roots_n_anchors(roots), 1);
    assert_int_equal(check(roots, pki.ek_cert_rsa, pki.ek_rsa, EK_ATTRS, now), POSTURE_EKCERT_OK);
    roots = posture_ekcert_roots_free(roots);

    /* Root only in the bundle: untrusted. */
    posture_test_rmdir_r(rootdir);
    assert_int_equal(mkdir(rootdir, 0700), 0);
    assert_int_equal(posture_ekcert_roots_load(rootdir, bundle, &roots), 0);
    assert_int_equal(posture_ekcert_roots_n_anchors(roots), 0);
    assert_int_equal(check(roots, pki.ek_cert_rsa, pki.ek_rsa, EK_ATTRS, now),
                     POSTURE_EKCERT_UNTRUSTED);
    roots = posture_ekcert_roots_free(roots);
    posture_test_rmdir_r(rootdir);
    posture_test_rmdir_r(b);
    free(rootdir);
    free(b);
    free(bundle);
}

/* CVE-2021-3406: the EK public key must be the certificate's. */
static void test_key_mismatch(void **state)
{
    struct posture_ekcert_roots *roots = NULL;
    EVP_PKEY *other_rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    EVP_PKEY *other_p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

    (void) state;
    assert_int_equal(posture_ekcert_roots_load(pki.dir, NULL, &roots), 0);
    assert_int_equal(check(roots, pki.ek_cert_rsa, other_rsa, EK_ATTRS, now),
                     POSTURE_EKCERT_KEY_MISMATCH);
    assert_int_equal(check(roots, pki.ek_cert_p384, other_p384, EK_ATTRS, now),
                     POSTURE_EKCERT_KEY_MISMATCH);
    /* Another type altogether. */
    assert_int_equal(check(roots, pki.ek_cert_rsa, pki.ek_p384, EK_ATTRS, now),
                     POSTURE_EKCERT_KEY_MISMATCH);
    assert_int_equal(check(roots, pki.ek_cert_p384, pki.ek_rsa, EK_ATTRS, now),
                     POSTURE_EKCERT_KEY_MISMATCH);
    /* The right key with a signing template is not an EK. */
    assert_int_equal(
        check(roots, pki.ek_cert_rsa, pki.ek_rsa, EK_ATTRS | TPMA_OBJECT_SIGN_ENCRYPT, now),
        POSTURE_EKCERT_ATTRIBUTES);
    assert_int_equal(
        check(roots, pki.ek_cert_rsa, pki.ek_rsa, EK_ATTRS & ~TPMA_OBJECT_RESTRICTED, now),
        POSTURE_EKCERT_ATTRIBUTES);
    assert_int_equal(
        check(roots, pki.ek_cert_rsa, pki.ek_rsa, EK_ATTRS & ~TPMA_OBJECT_FIXEDTPM, now),
        POSTURE_EKCERT_ATTRIBUTES);
    EVP_PKEY_free(other_rsa);
    EVP_PKEY_free(other_p384);
    posture_ekcert_roots_free(roots);
}

static void test_expired(void **state)
{
    struct posture_ekcert_roots *roots = NULL;
    X509 *old = make_cert("", pki.ek_rsa, pki.intermediate, pki.int_key, 0, now - 10 * DAY,
                          now - DAY / 2, NULL);

    (void) state;
    assert_int_equal(posture_ekcert_roots_load(pki.dir, NULL, &roots), 0);
    assert_int_equal(check(roots, old, pki.ek_rsa, EK_ATTRS, now), POSTURE_EKCERT_EXPIRED);
    /* Valid at the time it was current; the caller's clock decides. */
    assert_int_equal(check(roots, old, pki.ek_rsa, EK_ATTRS, now - DAY * 3 / 4), POSTURE_EKCERT_OK);
    /* Not yet valid. */
    assert_int_equal(check(roots, pki.ek_cert_rsa, pki.ek_rsa, EK_ATTRS, now - 2 * DAY),
                     POSTURE_EKCERT_EXPIRED);
    X509_free(old);
    posture_ekcert_roots_free(roots);
}

static void test_critical_extensions(void **state)
{
    struct posture_ekcert_roots *roots = NULL;
    const struct ext sda = { "2.5.29.9", 1 }, unknown = { "1.3.6.1.4.1.99999.1", 1 },
                     unknown_noncrit = { "1.3.6.1.4.1.99999.1", 0 };
    X509 *ok =
        make_cert("", pki.ek_rsa, pki.intermediate, pki.int_key, 0, now - DAY, now + DAY, &sda);
    X509 *bad =
        make_cert("", pki.ek_rsa, pki.intermediate, pki.int_key, 0, now - DAY, now + DAY, &unknown);
    X509 *fine = make_cert("", pki.ek_rsa, pki.intermediate, pki.int_key, 0, now - DAY, now + DAY,
                           &unknown_noncrit);
    /* subjectDirectoryAttributes critical on a CA: not tolerated there. */
    X509 *ca = make_cert("odd intermediate", pki.int_key, pki.root, pki.root_key, 1, now - DAY,
                         now + DAY, &sda);
    X509 *leaf = make_cert("", pki.ek_rsa, ca, pki.int_key, 0, now - DAY, now + DAY, NULL);
    char *dir = posture_test_mkdtemp();

    (void) state;
    assert_int_equal(posture_ekcert_roots_load(pki.dir, NULL, &roots), 0);
    assert_int_equal(check(roots, ok, pki.ek_rsa, EK_ATTRS, now), POSTURE_EKCERT_OK);
    assert_int_equal(check(roots, bad, pki.ek_rsa, EK_ATTRS, now),
                     POSTURE_EKCERT_CRITICAL_EXTENSION);
    assert_int_equal(check(roots, fine, pki.ek_rsa, EK_ATTRS, now), POSTURE_EKCERT_OK);
    roots = posture_ekcert_roots_free(roots);

    write_pem(dir, "root.pem", &pki.root, 1);
    write_pem(dir, "ca.pem", &ca, 1);
    assert_int_equal(posture_ekcert_roots_load(dir, NULL, &roots), 0);
    assert_int_equal(check(roots, leaf, pki.ek_rsa, EK_ATTRS, now),
                     POSTURE_EKCERT_CRITICAL_EXTENSION);
    roots = posture_ekcert_roots_free(roots);

    X509_free(ok);
    X509_free(bad);
    X509_free(fine);
    X509_free(ca);
    X509_free(leaf);
    posture_test_rmdir_r(dir);
    free(dir);
}

static void test_malformed(void **state)
{
    struct posture_ekcert_roots *roots = NULL;
    uint8_t der[8192], pub[1024];
    size_t der_len = der_of(pki.ek_cert_rsa, der, sizeof(der) - 1);
    size_t pub_len = tpm_public(pki.ek_rsa, EK_ATTRS, pub, sizeof(pub) - 1);
    enum posture_ekcert_reason reason;

    (void) state;
    assert_int_equal(posture_ekcert_roots_load(pki.dir, NULL, &roots), 0);
    /* Certificate: truncated, a trailing byte, empty, garbage. */
    assert_int_equal(
        posture_ekcert_verify(roots, der, der_len - 1, pub, pub_len, now, &reason, NULL), 0);
    assert_int_equal(reason, POSTURE_EKCERT_MALFORMED);
    der[der_len] = 0;
    assert_int_equal(
        posture_ekcert_verify(roots, der, der_len + 1, pub, pub_len, now, &reason, NULL), 0);
    assert_int_equal(reason, POSTURE_EKCERT_MALFORMED);
    assert_int_equal(posture_ekcert_verify(roots, der, 0, pub, pub_len, now, &reason, NULL), 0);
    assert_int_equal(reason, POSTURE_EKCERT_MALFORMED);
    assert_int_equal(posture_ekcert_verify(roots, pub, pub_len, pub, pub_len, now, &reason, NULL),
                     0);
    assert_int_equal(reason, POSTURE_EKCERT_MALFORMED);
    /* TPM2B_PUBLIC: truncated, trailing byte, size field lying. */
    assert_int_equal(
        posture_ekcert_verify(roots, der, der_len, pub, pub_len - 1, now, &reason, NULL), 0);
    assert_int_equal(reason, POSTURE_EKCERT_PUBLIC_MALFORMED);
    pub[pub_len] = 0;
    assert_int_equal(
        posture_ekcert_verify(roots, der, der_len, pub, pub_len + 1, now, &reason, NULL), 0);
    assert_int_equal(reason, POSTURE_EKCERT_PUBLIC_MALFORMED);
    pub[1] ^= 1;
    assert_int_equal(posture_ekcert_verify(roots, der, der_len, pub, pub_len, now, &reason, NULL),
                     0);
    assert_int_equal(reason, POSTURE_EKCERT_PUBLIC_MALFORMED);
    assert_int_equal(posture_ekcert_verify(roots, der, der_len, pub, 1, now, &reason, NULL), 0);
    assert_int_equal(reason, POSTURE_EKCERT_PUBLIC_MALFORMED);
    posture_ekcert_roots_free(roots);
}

static void test_unsupported(void **state)
{
    struct posture_ekcert_roots *roots = NULL;
    EVP_PKEY *rsa3072 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 3072);
    EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    X509 *c1 = make_cert("", rsa3072, pki.intermediate, pki.int_key, 0, now - DAY, now + DAY, NULL);
    X509 *c2 = make_cert("", p521, pki.intermediate, pki.int_key, 0, now - DAY, now + DAY, NULL);

    (void) state;
    assert_int_equal(posture_ekcert_roots_load(pki.dir, NULL, &roots), 0);
    assert_int_equal(check(roots, c1, rsa3072, EK_ATTRS, now), POSTURE_EKCERT_UNSUPPORTED_KEY);
    assert_int_equal(check(roots, c2, p521, EK_ATTRS, now), POSTURE_EKCERT_UNSUPPORTED_KEY);
    X509_free(c1);
    X509_free(c2);
    EVP_PKEY_free(rsa3072);
    EVP_PKEY_free(p521);
    posture_ekcert_roots_free(roots);
}

static void test_load_errors(void **state)
{
    struct posture_ekcert_roots *roots = NULL;
    char *dir = posture_test_mkdtemp(), *missing = NULL;

    (void) state;
    assert_true(asprintf(&missing, "%s/nope", dir) > 0);
    assert_int_equal(posture_ekcert_roots_load(missing, NULL, &roots), -ENOENT);
    assert_int_equal(posture_test_write_file(dir, "junk.pem", "hello\n"), 0);
    assert_int_equal(posture_ekcert_roots_load(dir, NULL, &roots), -EBADMSG);
    posture_test_rmdir_r(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(
        posture_test_write_file(dir, "broken.pem",
                                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        0);
    assert_int_equal(posture_ekcert_roots_load(dir, NULL, &roots), -EBADMSG);
    posture_test_rmdir_r(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    /* Dot files and subdirectories are skipped. */
    assert_int_equal(posture_test_write_file(dir, ".hidden", "junk"), 0);
    assert_int_equal(posture_test_write_file(dir, "sub/x.pem", "junk"), 0);
    write_pem(dir, "root.pem", &pki.root, 1);
    assert_int_equal(posture_ekcert_roots_load(dir, NULL, &roots), 0);
    assert_int_equal(posture_ekcert_roots_n_anchors(roots), 1);
    posture_ekcert_roots_free(roots);
    roots = NULL;
    assert_int_equal(posture_ekcert_roots_load(dir, missing, &roots), -ENOENT);
    assert_null(roots);
    assert_string_equal(posture_ekcert_reason_to_string(POSTURE_EKCERT_KEY_MISMATCH),
                        "ek-key-mismatch");
    assert_null(posture_ekcert_reason_to_string(POSTURE_EKCERT_REASON__MAX));
    posture_test_rmdir_r(dir);
    free(dir);
    free(missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_rsa_and_p384),
        cmocka_unit_test(test_untrusted),
        cmocka_unit_test(test_bundle),
        cmocka_unit_test(test_key_mismatch),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_critical_extensions),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
