/* SPDX-License-Identifier: Apache-2.0 */
/* The device key's source without a TPM: PEM kind detection, the source selection of [tpm]
 * enabled, TCTI usability, the TPM key's refusals before any TPM is contacted, its error
 * translation when the TPM or the provider is missing, and the library context a provider key
 * carries (owned by the key, used for signing). The TPM key itself is tested against swtpm by
 * integration/attest.tpmkey/tpm. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

#include "posture/agent_config.h"
#include "posture/jws.h"
#include "posture/key.h"
#include "posture/key_tpm.h"

#include "testlib.h"

/* Shaped like tpm2-openssl's output; no TPM can load it (the check comes first anyway). */
#define TSS2_PEM                                                         \
    "-----BEGIN TSS2 PRIVATE KEY-----\n"                                 \
    "MIHwBgZngQUKAQOgAwEBAQIEQAAAAQRYAFYAIwALAAYAcgAAABAAEAADABAAIN71\n" \
    "-----END TSS2 PRIVATE KEY-----\n"

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static void write_mode(const char *path, const char *content, mode_t mode)
{
    int fd;

    (void) unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
    assert_int_equal(close(fd), 0);
}

static char *file_key_pem(void)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *s;
    long n;

    assert_non_null(pkey);
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);
    s = malloc((size_t) n + 1); /* not strndup: the BIO's data is not NUL-terminated */
    assert_non_null(s);
    memcpy(s, data, (size_t) n);
    s[n] = '\0';
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return s;
}

/* The exact bytes in a heap block of their own size: ASan catches a read past len. */
static int pem_source_exact(const char *s)
{
    size_t len = strlen(s);
    char *buf = malloc(len ? len : 1);
    int r;

    assert_non_null(buf);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): no NUL on purpose */
    memcpy(buf, s, len);
    r = posture_key_pem_source(buf, len);
    free(buf);
    return r;
}

static void test_pem_source(void **state)
{
    char *pem = file_key_pem();
    (void) state;

    assert_int_equal(pem_source_exact(TSS2_PEM), POSTURE_KEY_SOURCE_TPM);
    assert_int_equal(pem_source_exact(pem), POSTURE_KEY_SOURCE_FILE);
    assert_int_equal(pem_source_exact("-----BEGIN EC PRIVATE KEY-----\nAAAA\n"),
                     POSTURE_KEY_SOURCE_FILE);
    /* Explanatory text before the BEGIN line is allowed (RFC 7468 §2). */
    assert_int_equal(pem_source_exact("made by swtpm\n" TSS2_PEM), POSTURE_KEY_SOURCE_TPM);
    /* A BEGIN inside a line does not count; the next one at a line start does. */
    assert_int_equal(pem_source_exact("x-----BEGIN PRIVATE KEY-----\n" TSS2_PEM),
                     POSTURE_KEY_SOURCE_TPM);
    assert_int_equal(pem_source_exact("x-----BEGIN TSS2 PRIVATE KEY-----\n"), -EBADMSG);

    /* Everything else. */
    assert_int_equal(pem_source_exact(""), -EBADMSG);
    assert_int_equal(pem_source_exact("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), -EBADMSG);
    assert_int_equal(pem_source_exact("-----BEGIN PUBLIC KEY-----\n"), -EBADMSG);
    assert_int_equal(pem_source_exact("-----BEGIN TSS2 PRIVATE KEY\n-----\n"), -EBADMSG);
    assert_int_equal(pem_source_exact("-----BEGIN TSS2 PRIVATE KEY"), -EBADMSG);
    assert_int_equal(pem_source_exact("-----BEGIN TSS2 PRIVATE KEY----"), -EBADMSG);
    assert_int_equal(pem_source_exact("-----BEGIN "), -EBADMSG);
    assert_int_equal(pem_source_exact("-----BEGIN tss2 private key-----\n"), -EBADMSG);
    assert_int_equal(pem_source_exact("-----BEGIN  TSS2 PRIVATE KEY-----\n"), -EBADMSG);
    assert_int_equal(pem_source_exact("-----BEGIN PRIVATE KEYS-----\n"), -EBADMSG);
    assert_int_equal(posture_key_pem_source(NULL, 10), -EBADMSG);
    /* Only len bytes count. */
    assert_int_equal(posture_key_pem_source(TSS2_PEM, 20), -EBADMSG);
    free(pem);
}

static void test_file_source(void **state)
{
    char *dir = posture_test_mkdtemp();
    char *key = path_in(dir, "device.key");
    char *link = path_in(dir, "link.key");
    char *pem = file_key_pem();
    EVP_PKEY *pkey = NULL;
    (void) state;

    assert_int_equal(posture_key_file_source(key), -ENOENT);
    write_mode(key, TSS2_PEM, 0600);
    assert_int_equal(posture_key_file_source(key), POSTURE_KEY_SOURCE_TPM);
    /* The file loader recognises the TPM's key and says so. */
    assert_int_equal(posture_key_load_file(key, &pkey), -EMEDIUMTYPE);
    assert_null(pkey);
    write_mode(key, pem, 0600);
    assert_int_equal(posture_key_file_source(key), POSTURE_KEY_SOURCE_FILE);
    write_mode(key, "not a key\n", 0600);
    assert_int_equal(posture_key_file_source(key), -EBADMSG);
    /* The strict checks come first. */
    write_mode(key, TSS2_PEM, 0640);
    assert_int_equal(posture_key_file_source(key), -EACCES);
    assert_int_equal(symlink(key, link), 0);
    assert_int_equal(posture_key_file_source(link), -ELOOP);
    assert_int_equal(posture_key_file_source(dir), -EINVAL);

    free(pem);
    free(link);
    free(key);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

static void test_tcti_usable(void **state)
{
    char *dir = posture_test_mkdtemp();
    char *file = path_in(dir, "tpm0");
    char *tcti = NULL;
    (void) state;

    write_mode(file, "", 0600);
    assert_false(posture_key_tpm_tcti_usable(NULL));
    assert_false(posture_key_tpm_tcti_usable(""));
    assert_false(posture_key_tpm_tcti_usable("device:/nonexistent"));
    assert_false(posture_key_tpm_tcti_usable("libtss2-tcti-device.so:/nonexistent"));
    assert_false(posture_key_tpm_tcti_usable("libtss2-tcti-device.so.0:/nonexistent"));
    /* A device node must be a character device: a regular file is not a TPM. */
    assert_true(asprintf(&tcti, "device:%s", file) > 0);
    assert_false(posture_key_tpm_tcti_usable(tcti));
    assert_true(posture_key_tpm_tcti_usable("device:/dev/null"));
    /* The others are only known by connecting. */
    assert_true(posture_key_tpm_tcti_usable("swtpm:host=127.0.0.1,port=1"));
    assert_true(posture_key_tpm_tcti_usable("mssim"));
    assert_true(posture_key_tpm_tcti_usable("tabrmd:bus_type=system"));
    assert_true(posture_key_tpm_tcti_usable("devicex:/nonexistent"));
    assert_true(posture_key_tpm_tcti_usable("dev:/nonexistent"));

    free(tcti);
    free(file);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

static void test_select(void **state)
{
    (void) state;

    /* No key yet: the mode decides, auto by the TCTI. */
    assert_int_equal(posture_key_tpm_select(POSTURE_TPM_NO, -ENOENT, true),
                     POSTURE_KEY_SOURCE_FILE);
    assert_int_equal(posture_key_tpm_select(POSTURE_TPM_YES, -ENOENT, false),
                     POSTURE_KEY_SOURCE_TPM);
    assert_int_equal(posture_key_tpm_select(POSTURE_TPM_YES, -ENOENT, true),
                     POSTURE_KEY_SOURCE_TPM);
    assert_int_equal(posture_key_tpm_select(POSTURE_TPM_AUTO, -ENOENT, true),
                     POSTURE_KEY_SOURCE_TPM);
    assert_int_equal(posture_key_tpm_select(POSTURE_TPM_AUTO, -ENOENT, false),
                     POSTURE_KEY_SOURCE_FILE);

    /* A file key stays a file key, whatever the mode and the TPM. */
    for (int mode = 0; mode < POSTURE_TPM__MAX; mode++)
        for (int usable = 0; usable <= 1; usable++)
            assert_int_equal(posture_key_tpm_select(mode, POSTURE_KEY_SOURCE_FILE, usable),
                             POSTURE_KEY_SOURCE_FILE);

    /* A TPM key stays a TPM key, even when its TPM looks gone; never with enabled = no. */
    assert_int_equal(posture_key_tpm_select(POSTURE_TPM_AUTO, POSTURE_KEY_SOURCE_TPM, false),
                     POSTURE_KEY_SOURCE_TPM);
    assert_int_equal(posture_key_tpm_select(POSTURE_TPM_YES, POSTURE_KEY_SOURCE_TPM, false),
                     POSTURE_KEY_SOURCE_TPM);
    assert_int_equal(posture_key_tpm_select(POSTURE_TPM_NO, POSTURE_KEY_SOURCE_TPM, true),
                     -EMEDIUMTYPE);

    assert_int_equal(posture_key_tpm_select(POSTURE_TPM__MAX, -ENOENT, true), -EINVAL);
    assert_int_equal(posture_key_tpm_select(-1, -ENOENT, true), -EINVAL);
    assert_int_equal(posture_key_tpm_select(POSTURE_TPM_AUTO, -EACCES, true), -EINVAL);
    assert_int_equal(posture_key_tpm_select(POSTURE_TPM_AUTO, POSTURE_KEY_SOURCE__MAX, true),
                     -EINVAL);
}

static const struct posture_key_opts *seen_opts;

static int fake_tpm_open(const struct posture_key_opts *opts, EVP_PKEY **ret)
{
    seen_opts = opts;
    *ret = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return *ret ? 0 : -ENOMEM;
}

static void test_open_dispatch(void **state)
{
    struct posture_key_opts opts = {
        .source = POSTURE_KEY_SOURCE_TPM,
        .state_dir = "/nonexistent",
        .tcti = "device:/nonexistent",
    };
    EVP_PKEY *pkey = NULL;
    (void) state;

    /* Without the TPM side (the verifier), the TPM source is not supported. */
    assert_int_equal(posture_key_open(&opts, &pkey), -EOPNOTSUPP);
    assert_null(pkey);
    opts.tpm_open = fake_tpm_open;
    assert_int_equal(posture_key_open(&opts, &pkey), 0);
    assert_ptr_equal(seen_opts, &opts);
    assert_non_null(pkey);
    EVP_PKEY_free(pkey);
}

/* The TPM key's refusals and errors that need no TPM. */
static void test_tpm_load_refusals(void **state)
{
    char *dir = posture_test_mkdtemp();
    char *key = path_in(dir, "device.key");
    char *pem = file_key_pem();
    struct posture_key_opts opts = {
        .source = POSTURE_KEY_SOURCE_TPM,
        .state_dir = dir,
        .tcti = "device:/nonexistent",
    };
    EVP_PKEY *pkey = NULL;
    int fd;
    (void) state;

    assert_int_equal(posture_key_tpm_load_file(key, "device:/nonexistent", &pkey), -ENOENT);
    assert_int_equal(posture_key_tpm_open(&opts, &pkey), -ENOENT); /* !create */
    /* A file key is never handed to the TPM. */
    write_mode(key, pem, 0600);
    assert_int_equal(posture_key_tpm_load_file(key, "device:/nonexistent", &pkey), -EMEDIUMTYPE);
    write_mode(key, "garbage\n", 0600);
    assert_int_equal(posture_key_tpm_load_file(key, "device:/nonexistent", &pkey), -EBADMSG);
    write_mode(key, TSS2_PEM, 0644);
    assert_int_equal(posture_key_tpm_load_file(key, "device:/nonexistent", &pkey), -EACCES);

    /* A TSS2 key and no TPM behind the TCTI: -ENODEV, and the key file is left alone. */
    write_mode(key, TSS2_PEM, 0600);
    assert_int_equal(posture_key_tpm_load_file(key, "device:/nonexistent", &pkey), -ENODEV);
    opts.create = true;
    assert_int_equal(posture_key_tpm_open(&opts, &pkey), -ENODEV);
    assert_int_equal(posture_key_file_source(key), POSTURE_KEY_SOURCE_TPM);

    /* No key and no TPM: nothing is created. */
    assert_int_equal(unlink(key), 0);
    assert_int_equal(posture_key_tpm_open(&opts, &pkey), -ENODEV);
    assert_int_equal(access(key, F_OK), -1);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(posture_key_tpm_create_file(fd, "device.key", "device:/nonexistent", &pkey),
                     -ENODEV);
    assert_int_equal(access(key, F_OK), -1);
    assert_int_equal(posture_key_tpm_create_file(-1, "device.key", "swtpm", &pkey), -EINVAL);
    assert_int_equal(close(fd), 0);

    assert_int_equal(posture_key_tpm_load_file(NULL, "swtpm", &pkey), -EINVAL);
    assert_int_equal(posture_key_tpm_load_file(key, NULL, &pkey), -EINVAL);
    opts.tcti = "";
    assert_int_equal(posture_key_tpm_open(&opts, &pkey), -EINVAL);
    opts.tcti = "swtpm";
    opts.state_dir = "relative";
    assert_int_equal(posture_key_tpm_open(&opts, &pkey), -EINVAL);
    assert_null(pkey);

    free(pem);
    free(key);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

/* NOLINTBEGIN(concurrency-mt-unsafe): the environment of this single-threaded test */

/* TPM2OPENSSL_TCTI is set only while the provider loads: a value the process had comes back,
 * and an absent one stays absent. */
static void test_tcti_env_restored(void **state)
{
    char *dir = posture_test_mkdtemp();
    char *key = path_in(dir, "device.key");
    EVP_PKEY *pkey = NULL;
    (void) state;

    write_mode(key, TSS2_PEM, 0600);
    assert_int_equal(unsetenv(POSTURE_KEY_TPM_TCTI_ENV), 0);
    assert_int_equal(posture_key_tpm_load_file(key, "device:/nonexistent", &pkey), -ENODEV);
    assert_null(getenv(POSTURE_KEY_TPM_TCTI_ENV));

    assert_int_equal(setenv(POSTURE_KEY_TPM_TCTI_ENV, "mssim:port=1", 1), 0);
    assert_int_equal(posture_key_tpm_load_file(key, "device:/nonexistent", &pkey), -ENODEV);
    assert_string_equal(getenv(POSTURE_KEY_TPM_TCTI_ENV), "mssim:port=1");
    assert_int_equal(unsetenv(POSTURE_KEY_TPM_TCTI_ENV), 0);

    free(key);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

/* Without the tpm2 provider module: -ENOPKG (the module search path is an empty directory). */
static void test_no_provider(void **state)
{
    char *dir = posture_test_mkdtemp();
    char *key = path_in(dir, "device.key");
    const char *old = getenv("OPENSSL_MODULES");
    char *saved = old ? strdup(old) : NULL;
    EVP_PKEY *pkey = NULL;
    (void) state;

    write_mode(key, TSS2_PEM, 0600);
    assert_int_equal(setenv("OPENSSL_MODULES", dir, 1), 0);
    assert_int_equal(posture_key_tpm_load_file(key, "swtpm:host=127.0.0.1,port=1", &pkey), -ENOPKG);
    if (saved)
        assert_int_equal(setenv("OPENSSL_MODULES", saved, 1), 0);
    else
        assert_int_equal(unsetenv("OPENSSL_MODULES"), 0);
    assert_null(pkey);

    free(saved);
    free(key);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

/* NOLINTEND(concurrency-mt-unsafe) */

static OSSL_LIB_CTX *default_libctx(OSSL_PROVIDER **ret_prov)
{
    OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();

    assert_non_null(lc);
    *ret_prov = OSSL_PROVIDER_load(lc, "default");
    assert_non_null(*ret_prov);
    return lc;
}

/* A key carries its library context: the getters, refusals, EVP_PKEY_dup sharing it (ASan and
 * LSan see a double free or a leak), and posture_jws_sign() signing in it with its property
 * query (a query no provider satisfies makes signing fail). */
static void test_attach_libctx(void **state)
{
    static const char payload[] = "{\"iat\":1000,\"exp\":1060}";
    struct posture_jws_verify_opts vopts = { .typ = "t+jwt", .now = 1000 };
    OSSL_PROVIDER *prov = NULL, *prov2 = NULL;
    OSSL_LIB_CTX *lc = default_libctx(&prov), *lc2;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *dup;
    struct posture_jws *jws = NULL;
    char *token = NULL;
    int reason = -1;
    (void) state;

    assert_non_null(pkey);
    assert_null(posture_key_libctx(pkey));
    assert_null(posture_key_propq(pkey));
    assert_null(posture_key_libctx(NULL));

    assert_int_equal(posture_key_attach_libctx(NULL, lc, &prov, 1, NULL), -EINVAL);
    assert_int_equal(posture_key_attach_libctx(pkey, NULL, &prov, 1, NULL), -EINVAL);
    assert_int_equal(posture_key_attach_libctx(pkey, lc, NULL, 1, NULL), -EINVAL);
    assert_int_equal(
        posture_key_attach_libctx(pkey, lc, &prov, POSTURE_KEY_MAX_PROVIDERS + 1, NULL), -EINVAL);
    assert_int_equal(posture_key_attach_libctx(pkey, lc, &prov, 1, "?provider=default"), 0);
    assert_ptr_equal(posture_key_libctx(pkey), lc);
    assert_string_equal(posture_key_propq(pkey), "?provider=default");

    lc2 = default_libctx(&prov2);
    assert_int_equal(posture_key_attach_libctx(pkey, lc2, &prov2, 1, NULL), -EEXIST);

    /* Signing in the key's context; the token verifies with the key. */
    assert_int_equal(posture_jws_sign(pkey, "t+jwt", payload, strlen(payload), &token), 0);
    assert_int_equal(posture_jws_verify(token, strlen(token), pkey, &vopts, &reason, &jws), 0);
    assert_int_equal(reason, POSTURE_JWS_OK);
    jws = posture_jws_free(jws);
    free(token);
    token = NULL;

    dup = EVP_PKEY_dup(pkey);
    assert_non_null(dup);
    assert_ptr_equal(posture_key_libctx(dup), lc);
    EVP_PKEY_free(pkey);
    /* The context lives on with the copy. */
    assert_int_equal(posture_jws_sign(dup, "t+jwt", payload, strlen(payload), &token), 0);
    free(token);
    token = NULL;
    EVP_PKEY_free(dup);

    /* A property query nothing satisfies: the signature is not made elsewhere. */
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(pkey);
    assert_int_equal(posture_key_attach_libctx(pkey, lc2, &prov2, 1, "provider=posture-none"), 0);
    assert_int_equal(posture_jws_sign(pkey, "t+jwt", payload, strlen(payload), &token), -EIO);
    assert_null(token);
    EVP_PKEY_free(pkey);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pem_source),        cmocka_unit_test(test_file_source),
        cmocka_unit_test(test_tcti_usable),       cmocka_unit_test(test_select),
        cmocka_unit_test(test_open_dispatch),     cmocka_unit_test(test_tpm_load_refusals),
        cmocka_unit_test(test_tcti_env_restored), cmocka_unit_test(test_no_provider),
        cmocka_unit_test(test_attach_libctx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
