/* SPDX-License-Identifier: Apache-2.0 */
/* The verifier's keys: creation (modes, no clobber, concurrent first start), the device CA,
 * the JWKS, and the device certificates it issues. openssl and python3-jwt check the same
 * outputs independently in tests/integration/checks/verifier.enroll/enroll.sh. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "posture/b64url.h"
#include "posture/json.h"
#include "posture/key.h"

#include "testlib.h"
#include "vkeys.h"

#define TD "corp.example"

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static mode_t mode_of(const char *dir, const char *name)
{
    char *p = path_in(dir, name);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    free(p);
    return st.st_mode & 07777;
}

static char *read_text(const char *dir, const char *name)
{
    char *p = path_in(dir, name), *buf = NULL;
    size_t n = 0;
    FILE *f = fopen(p, "re");
    assert_non_null(f);
    assert_int_equal(getdelim(&buf, &n, '\0', f) > 0, 1);
    (void) fclose(f);
    free(p);
    return buf;
}

static X509 *pem_cert(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x;
    assert_non_null(bio);
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(x);
    return x;
}

static void test_create_and_reopen(void **state)
{
    char *tmp = posture_test_mkdtemp(), *dir = path_in(tmp, "state");
    struct posture_vkeys *k = NULL, *k2 = NULL;
    char *pem1, *pem2;

    (void) state;
    /* Not created without create; the directory does not exist yet. */
    assert_int_equal(posture_vkeys_open(dir, TD, false, &k), -ENOENT);
    assert_null(k);
    assert_int_equal(posture_vkeys_open(dir, TD, true, &k), 0);
    assert_non_null(k->signing_key);
    assert_int_equal(strlen(k->signing_kid), POSTURE_KEY_THUMBPRINT_LEN);
    assert_int_equal(mode_of(tmp, "state"), 0700);
    assert_int_equal(mode_of(dir, POSTURE_VKEYS_SIGNING_KEY_NAME), 0600);
    assert_int_equal(mode_of(dir, POSTURE_VKEYS_CA_KEY_NAME), 0600);
    assert_int_equal(mode_of(dir, POSTURE_VKEYS_CA_CERT_NAME), 0600);
    pem1 = read_text(dir, POSTURE_VKEYS_CA_CERT_NAME);
    assert_string_equal(pem1, k->ca_pem);

    /* Reopening loads the same keys and never rewrites them. */
    assert_int_equal(posture_vkeys_open(dir, TD, true, &k2), 0);
    assert_string_equal(k->signing_kid, k2->signing_kid);
    assert_int_equal(EVP_PKEY_eq(k->ca_key, k2->ca_key), 1);
    pem2 = read_text(dir, POSTURE_VKEYS_CA_CERT_NAME);
    assert_string_equal(pem1, pem2);
    assert_string_equal(k2->ca_pem, pem1);
    k2 = posture_vkeys_free(k2);
    assert_int_equal(posture_vkeys_open(dir, TD, false, &k2), 0);
    assert_string_equal(k->signing_kid, k2->signing_kid);

    free(pem1);
    free(pem2);
    posture_vkeys_free(k);
    posture_vkeys_free(k2);
    assert_null(posture_vkeys_free(NULL));
    posture_test_rmdir_r(tmp);
    free(dir);
    free(tmp);
}

static void test_bad_arguments(void **state)
{
    char *tmp = posture_test_mkdtemp();
    struct posture_vkeys *k = NULL;

    (void) state;
    assert_int_equal(posture_vkeys_open("relative", TD, true, &k), -EINVAL);
    assert_int_equal(posture_vkeys_open(tmp, "", true, &k), -EINVAL);
    assert_int_equal(posture_vkeys_open(tmp, "Corp.Example", true, &k), -EINVAL);
    assert_int_equal(posture_vkeys_open(tmp, "corp/example", true, &k), -EINVAL);
    assert_int_equal(posture_vkeys_open(tmp, "corp example", true, &k), -EINVAL);
    assert_null(k);
    assert_true(posture_vkeys_trust_domain_valid("a-b_c.d9"));
    assert_false(posture_vkeys_trust_domain_valid(NULL));
    posture_test_rmdir_r(tmp);
    free(tmp);
}

/* A CA certificate that is not the CA key's is refused, never replaced. */
static void test_ca_cert_mismatch(void **state)
{
    char *a = posture_test_mkdtemp(), *b = posture_test_mkdtemp();
    struct posture_vkeys *ka = NULL, *kb = NULL, *k = NULL;
    char *p;

    (void) state;
    assert_int_equal(posture_vkeys_open(a, TD, true, &ka), 0);
    assert_int_equal(posture_vkeys_open(b, TD, true, &kb), 0);
    p = path_in(a, POSTURE_VKEYS_CA_CERT_NAME);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(posture_test_write_file(a, POSTURE_VKEYS_CA_CERT_NAME, kb->ca_pem), 0);
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(posture_vkeys_open(a, TD, true, &k), -EKEYREJECTED);
    /* Garbage is -EBADMSG. */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(posture_test_write_file(a, POSTURE_VKEYS_CA_CERT_NAME, "not a cert\n"), 0);
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(posture_vkeys_open(a, TD, true, &k), -EBADMSG);
    /* A world-readable private key is refused (posture_key_load_file's rule). */
    free(p);
    p = path_in(b, POSTURE_VKEYS_CA_KEY_NAME);
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(posture_vkeys_open(b, TD, true, &k), -EACCES);
    assert_null(k);
    free(p);
    posture_vkeys_free(ka);
    posture_vkeys_free(kb);
    posture_test_rmdir_r(a);
    posture_test_rmdir_r(b);
    free(a);
    free(b);
}

static void test_ca_certificate(void **state)
{
    char *tmp = posture_test_mkdtemp();
    struct posture_vkeys *k = NULL;
    BASIC_CONSTRAINTS *bc;
    char cn[128];
    int crit = -1;

    (void) state;
    assert_int_equal(posture_vkeys_open(tmp, TD, true, &k), 0);
    assert_int_equal(X509_get_version(k->ca_cert), X509_VERSION_3);
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(k->ca_cert), NID_commonName, cn,
                                          sizeof(cn)) > 0);
    assert_string_equal(cn, "posture device CA " TD);
    assert_int_equal(X509_self_signed(k->ca_cert, 1), 1);
    bc = X509_get_ext_d2i(k->ca_cert, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_int_equal(crit, 1);
    assert_true(bc->ca);
    assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
    BASIC_CONSTRAINTS_free(bc);
    assert_int_equal(X509_get_key_usage(k->ca_cert), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    assert_int_equal(X509_get_ext_by_NID(k->ca_cert, NID_key_usage, -1) >= 0, 1);
    assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(
                         k->ca_cert, X509_get_ext_by_NID(k->ca_cert, NID_key_usage, -1))),
                     1);
    assert_non_null(X509_get0_subject_key_id(k->ca_cert));
    /* About ten years. */
    {
        int days = 0, secs = 0;
        assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(k->ca_cert),
                                        X509_get0_notAfter(k->ca_cert)),
                         1);
        assert_in_range(days, 3650, 3651);
    }
    posture_vkeys_free(k);
    posture_test_rmdir_r(tmp);
    free(tmp);
}

static void test_jwks(void **state)
{
    char *tmp = posture_test_mkdtemp();
    struct posture_vkeys *k = NULL;
    cJSON *doc = NULL;
    const cJSON *keys, *e;
    EVP_PKEY *pub = NULL, *other, *both[2];
    char *text = NULL;

    (void) state;
    assert_int_equal(posture_vkeys_open(tmp, TD, true, &k), 0);
    assert_int_equal(posture_vkeys_jwks(k, &text), 0);
    assert_int_equal(posture_json_parse(text, strlen(text), 4096, 0, &doc), 0);
    keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
    assert_true(cJSON_IsArray(keys));
    assert_int_equal(cJSON_GetArraySize(keys), 1);
    e = cJSON_GetArrayItem(keys, 0);
    assert_string_equal(posture_json_get_str(e, "kty"), "EC");
    assert_string_equal(posture_json_get_str(e, "crv"), "P-256");
    assert_string_equal(posture_json_get_str(e, "alg"), "ES256");
    assert_string_equal(posture_json_get_str(e, "use"), "sig");
    assert_string_equal(posture_json_get_str(e, "kid"), k->signing_kid);
    assert_null(cJSON_GetObjectItemCaseSensitive(e, "d"));
    assert_int_equal(posture_key_from_jwk(e, &pub), 0);
    assert_int_equal(EVP_PKEY_eq(pub, k->signing_key), 1);
    EVP_PKEY_free(pub);
    cJSON_Delete(doc);
    free(text);

    /* Several keys (a rotation): both listed, in order. */
    other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(other);
    both[0] = k->signing_key;
    both[1] = other;
    assert_int_equal(posture_vkeys_jwks_build(both, 2, &text), 0);
    assert_int_equal(posture_json_parse(text, strlen(text), 4096, 0, &doc), 0);
    keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
    assert_int_equal(cJSON_GetArraySize(keys), 2);
    assert_string_equal(posture_json_get_str(cJSON_GetArrayItem(keys, 0), "kid"), k->signing_kid);
    assert_string_not_equal(posture_json_get_str(cJSON_GetArrayItem(keys, 1), "kid"),
                            k->signing_kid);
    cJSON_Delete(doc);
    free(text);
    text = NULL;
    assert_int_equal(posture_vkeys_jwks_build(both, 0, &text), -EINVAL);
    EVP_PKEY_free(other);
    other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_int_equal(posture_vkeys_jwks_build(&other, 1, &text), -EKEYREJECTED);
    assert_null(text);
    EVP_PKEY_free(other);
    posture_vkeys_free(k);
    posture_test_rmdir_r(tmp);
    free(tmp);
}

static void test_issue(void **state)
{
    char *tmp = posture_test_mkdtemp();
    struct posture_vkeys *k = NULL;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    char *kid = NULL, *pem = NULL, x5t[POSTURE_VKEYS_X5T_LEN + 1], want_x5t[64];
    struct posture_vkeys_cert_opts opts = { .now = (int64_t) time(NULL) };
    GENERAL_NAMES *sans;
    EXTENDED_KEY_USAGE *eku;
    X509_STORE *store;
    X509_STORE_CTX *ctx;
    X509 *x;
    int crit = -1;

    (void) state;
    assert_non_null(dev);
    assert_int_equal(posture_vkeys_open(tmp, TD, true, &k), 0);
    assert_int_equal(posture_key_thumbprint(dev, &kid), 0);
    assert_int_equal(posture_vkeys_issue(k, dev, kid, &opts, &pem, x5t), 0);
    x = pem_cert(pem);

    /* Signed by the CA, chains to it as a TLS client certificate. */
    assert_int_equal(X509_verify(x, X509_get0_pubkey(k->ca_cert)), 1);
    assert_int_equal(X509_check_issued(k->ca_cert, x), X509_V_OK);
    store = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_add_cert(store, k->ca_cert), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, x, NULL), 1);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), opts.now);
    assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT), 1);
    assert_int_equal(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);

    /* URI SAN, key usage, EKU, basic constraints. */
    sans = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
    assert_non_null(sans);
    assert_int_equal(sk_GENERAL_NAME_num(sans), 1);
    {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, 0);
        char want[256];
        assert_int_equal(gn->type, GEN_URI);
        (void) snprintf(want, sizeof(want), "spiffe://" TD "/device/%s", kid);
        assert_string_equal((const char *) ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
                            want);
    }
    GENERAL_NAMES_free(sans);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    assert_int_equal(
        X509_EXTENSION_get_critical(X509_get_ext(x, X509_get_ext_by_NID(x, NID_key_usage, -1))), 1);
    eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
    assert_non_null(eku);
    assert_int_equal(sk_ASN1_OBJECT_num(eku), 1);
    assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)), NID_client_auth);
    EXTENDED_KEY_USAGE_free(eku);
    assert_int_equal(X509_check_ca(x), 0);
    assert_non_null(X509_get0_subject_key_id(x));
    assert_non_null(X509_get0_authority_key_id(x));
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x), X509_get0_subject_key_id(k->ca_cert)),
        0);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), dev), 1);

    /* Serial: 128 bits, positive. */
    {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        assert_non_null(bn);
        assert_false(BN_is_negative(bn));
        assert_in_range(BN_num_bits(bn), 120, 127);
        BN_free(bn);
    }
    /* Validity: now - 5 min .. now + 90 days. */
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), opts.now - 300), 0);
    assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), opts.now + (int64_t) 90 * 86400),
                     0);

    /* x5t#S256 = base64url(SHA-256(DER)). */
    {
        unsigned char *der = NULL;
        uint8_t md[32];
        int n = i2d_X509(x, &der);
        assert_true(n > 0);
        SHA256(der, (size_t) n, md);
        OPENSSL_free(der);
        assert_int_equal(posture_b64url_encode_buf(md, 32, want_x5t, sizeof(want_x5t)), 43);
        assert_string_equal(x5t, want_x5t);
    }
    X509_free(x);
    free(pem);
    pem = NULL;

    /* Two certificates for one key have different serials. */
    {
        char *pem2 = NULL;
        X509 *a, *b;
        assert_int_equal(posture_vkeys_issue(k, dev, kid, NULL, &pem, NULL), 0);
        assert_int_equal(posture_vkeys_issue(k, dev, kid, NULL, &pem2, NULL), 0);
        a = pem_cert(pem);
        b = pem_cert(pem2);
        assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b)),
                             0);
        X509_free(a);
        X509_free(b);
        free(pem);
        free(pem2);
        pem = NULL;
    }

    /* Refusals. */
    assert_int_equal(posture_vkeys_issue(k, dev, "short", NULL, &pem, NULL), -EINVAL);
    assert_int_equal(posture_vkeys_issue(k, dev, "a/b/../../../ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
                                         NULL, &pem, NULL),
                     -EINVAL);
    opts.validity_sec = 10L * 365 * 86400;
    assert_int_equal(posture_vkeys_issue(k, dev, kid, &opts, &pem, NULL), -ERANGE);
    opts.validity_sec = 0;
    assert_int_equal(posture_vkeys_issue(k, p384, kid, &opts, &pem, NULL), -EKEYREJECTED);
    assert_null(pem);

    EVP_PKEY_free(dev);
    EVP_PKEY_free(p384);
    free(kid);
    posture_vkeys_free(k);
    posture_test_rmdir_r(tmp);
    free(tmp);
}

/* Four processes start at once on an empty state directory: one set of keys wins, and every
 * process ends up with it. */
static void test_concurrent_first_start(void **state)
{
    char *tmp = posture_test_mkdtemp(), *dir = path_in(tmp, "state");
    struct posture_vkeys *k = NULL;
    int fds[4][2];
    pid_t pids[4];

    (void) state;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct posture_vkeys *c = NULL;
            int r = posture_vkeys_open(dir, TD, true, &c);
            if (r == 0) {
                char out[2 * 64];
                int n = snprintf(out, sizeof(out), "%s", c->signing_kid);
                (void) !write(fds[i][1], out, (size_t) n);
            }
            _exit(r == 0 ? 0 : 1);
        }
        (void) close(fds[i][1]);
    }
    assert_int_equal(posture_vkeys_open(dir, TD, true, &k), 0);
    for (int i = 0; i < 4; i++) {
        char buf[128] = { 0 };
        int status;
        assert_true(read(fds[i][0], buf, sizeof(buf) - 1) > 0);
        (void) close(fds[i][0]);
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        /* The winner's key may be written after our open: reload and compare. */
        posture_vkeys_free(k);
        k = NULL;
        assert_int_equal(posture_vkeys_open(dir, TD, false, &k), 0);
        assert_string_equal(buf, k->signing_kid);
    }
    posture_vkeys_free(k);
    posture_test_rmdir_r(tmp);
    free(dir);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_reopen),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_ca_cert_mismatch),
        cmocka_unit_test(test_ca_certificate),
        cmocka_unit_test(test_jwks),
        cmocka_unit_test(test_issue),
        cmocka_unit_test(test_concurrent_first_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
