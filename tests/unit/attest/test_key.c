/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "posture/b64url.h"
#include "posture/err.h"
#include "posture/json.h"
#include "posture/key.h"
#include "posture/statefile.h"

#include "testlib.h"

/* RFC 7517 Appendix A.1 (the EC public key); its RFC 7638 thumbprint was computed independently
 * (python3 hashlib over the sorted compact member string). */
#define A1_X     "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A1_Y     "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define A1_THUMB "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static void write_pem(const char *path, EVP_PKEY *pkey, mode_t mode)
{
    FILE *f;
    int fd;

    /* A fresh file each time: an earlier one may be read-only (0400) for a non-root user. */
    (void) unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
}

static unsigned count_entries(const char *dir)
{
    char *cmd = NULL;
    unsigned n = 0;
    posture_autoclosedir DIR *d = opendir(dir);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    free(cmd);
    return n;
}

static void create_and_load(bool named_temp)
{
    posture_auto_evp_pkey EVP_PKEY *created = NULL, *loaded = NULL, *again = NULL;
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autofree char *path = path_in(dir, "device.key");
    posture_autofree char *t1 = NULL, *t2 = NULL;
    posture_autoclose int dir_fd = -1;
    struct stat st;
    mode_t old = umask(0);

    posture_state_force_named_temp(named_temp);
    assert_int_equal(posture_state_dir_open(dir, false, &dir_fd), 0);
    assert_int_equal(posture_key_create_file(dir_fd, "device.key", &created), 0);
    (void) umask(old);
    assert_int_equal(posture_key_check_p256(created), 0);

    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(count_entries(dir), 1); /* no temporary file left behind */

    assert_int_equal(posture_key_load_file(path, &loaded), 0);
    assert_int_equal(posture_key_thumbprint(created, &t1), 0);
    assert_int_equal(posture_key_thumbprint(loaded, &t2), 0);
    assert_string_equal(t1, t2);
    assert_int_equal(strlen(t1), POSTURE_KEY_THUMBPRINT_LEN);

    /* Never clobbered. */
    assert_int_equal(posture_key_create_file(dir_fd, "device.key", &again), -EEXIST);
    assert_null(again);
    assert_int_equal(count_entries(dir), 1);

    posture_state_force_named_temp(false);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

static void test_create_tmpfile(void **state)
{
    (void) state;
    create_and_load(false);
}

static void test_create_named_temp(void **state)
{
    (void) state;
    create_and_load(true);
}

static void test_open_creates_once(void **state)
{
    posture_auto_evp_pkey EVP_PKEY *k1 = NULL, *k2 = NULL, *k3 = NULL;
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autofree char *state_dir = path_in(dir, "state");
    posture_autofree char *t1 = NULL, *t2 = NULL;
    struct stat st;
    (void) state;

    struct posture_key_opts opts = {
        .source = POSTURE_KEY_SOURCE_FILE,
        .state_dir = state_dir,
        .create = false,
    };
    assert_int_equal(posture_key_open(&opts, &k1), -ENOENT);
    assert_null(k1);
    opts.create = true;
    assert_int_equal(posture_key_open(&opts, &k1), 0);
    assert_int_equal(stat(state_dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    opts.create = false;
    assert_int_equal(posture_key_open(&opts, &k2), 0);
    assert_int_equal(posture_key_thumbprint(k1, &t1), 0);
    assert_int_equal(posture_key_thumbprint(k2, &t2), 0);
    assert_string_equal(t1, t2);

    opts.source = POSTURE_KEY_SOURCE_TPM;
    assert_int_equal(posture_key_open(&opts, &k3), -EOPNOTSUPP);
    opts.source = 7;
    assert_int_equal(posture_key_open(&opts, &k3), -EINVAL);
    opts.source = POSTURE_KEY_SOURCE_FILE;
    opts.state_dir = "relative";
    assert_int_equal(posture_key_open(&opts, &k3), -EINVAL);
    assert_null(k3);

    assert_string_equal(posture_key_source_to_string(POSTURE_KEY_SOURCE_TPM), "tpm");
    assert_int_equal(posture_key_source_from_string("file"), POSTURE_KEY_SOURCE_FILE);
    assert_int_equal(posture_key_source_from_string("hsm"), -EINVAL);
    assert_null(posture_key_source_to_string(POSTURE_KEY_SOURCE__MAX));
    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

static void test_load_refusals(void **state)
{
    posture_auto_evp_pkey EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    posture_auto_evp_pkey EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    posture_auto_evp_pkey EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    posture_auto_evp_pkey EVP_PKEY *k = NULL;
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autofree char *path = path_in(dir, "device.key");
    posture_autofree char *link = path_in(dir, "link.key");
    (void) state;

    assert_non_null(p256);
    assert_non_null(p384);
    assert_non_null(ed);

    write_pem(path, p256, 0600);
    assert_int_equal(posture_key_load_file(path, &k), 0);
    EVP_PKEY_free(k);
    k = NULL;

    write_pem(path, p256, 0644);
    assert_int_equal(posture_key_load_file(path, &k), -EACCES);
    write_pem(path, p256, 0640);
    assert_int_equal(posture_key_load_file(path, &k), -EACCES);
    write_pem(path, p256, 0602);
    assert_int_equal(posture_key_load_file(path, &k), -EACCES);
    write_pem(path, p256, 0400);
    assert_int_equal(posture_key_load_file(path, &k), 0);
    EVP_PKEY_free(k);
    k = NULL;

    write_pem(path, p384, 0600);
    assert_int_equal(posture_key_load_file(path, &k), -EKEYREJECTED);
    write_pem(path, ed, 0600);
    assert_int_equal(posture_key_load_file(path, &k), -EKEYREJECTED);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(posture_test_write_file(dir, "device.key", "not a key\n"), 0);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(posture_key_load_file(path, &k), -EBADMSG);

    /* An encrypted key is refused without a prompt. */
    {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(
            PEM_write_PKCS8PrivateKey(f, p256, EVP_aes_128_cbc(), NULL, 0, NULL, (void *) "secret"),
            1);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(posture_key_load_file(path, &k), -EBADMSG);
    }

    /* A symlink is not followed; a directory is not a key; a missing file is ENOENT. */
    write_pem(path, p256, 0600);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(posture_key_load_file(link, &k), -ELOOP);
    assert_int_equal(posture_key_load_file(dir, &k), -EINVAL);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(posture_key_load_file(path, &k), -ENOENT);

    /* Too large. */
    {
        char big[POSTURE_KEY_FILE_MAX_SIZE + 2];
        memset(big, 'A', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(posture_test_write_file(dir, "device.key", big), 0);
        assert_int_equal(chmod(path, 0600), 0);
        assert_int_equal(posture_key_load_file(path, &k), -EFBIG);
    }

    /* Owned by someone else (only root can set that up). */
    if (geteuid() == 0) {
        write_pem(path, p256, 0600);
        assert_int_equal(chown(path, 12345, 12345), 0);
        assert_int_equal(posture_key_load_file(path, &k), -EPERM);
    }
    assert_null(k);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

static void test_jwk_vector(void **state)
{
    posture_auto_cjson cJSON *jwk = NULL, *back = NULL;
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    posture_autofree char *thumb = NULL, *pem = NULL;
    static const char json[] = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A1_X "\",\"y\":\"" A1_Y
                               "\",\"use\":\"enc\",\"kid\":\"1\"}";
    (void) state;

    assert_int_equal(posture_json_parse(json, strlen(json), 4096, 0, &jwk), 0);
    assert_int_equal(posture_key_from_jwk(jwk, &pkey), 0);
    assert_int_equal(posture_key_thumbprint(pkey, &thumb), 0);
    assert_string_equal(thumb, A1_THUMB);

    assert_int_equal(posture_key_jwk(pkey, &back), 0);
    assert_string_equal(posture_json_get_str(back, "kty"), "EC");
    assert_string_equal(posture_json_get_str(back, "crv"), "P-256");
    assert_string_equal(posture_json_get_str(back, "x"), A1_X);
    assert_string_equal(posture_json_get_str(back, "y"), A1_Y);
    assert_int_equal(cJSON_GetArraySize(back), 4);

    assert_int_equal(posture_key_public_pem(pkey, &pem), 0);
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----\n"));
}

static void jwk_refused(const char *json, int expected)
{
    posture_auto_cjson cJSON *jwk = NULL;
    EVP_PKEY *pkey = NULL;

    assert_int_equal(posture_json_parse(json, strlen(json), 4096, 0, &jwk), 0);
    assert_int_equal(posture_key_from_jwk(jwk, &pkey), expected);
    assert_null(pkey);
}

static void test_jwk_refusals(void **state)
{
    (void) state;
    /* y changed in its last character: not on the curve. */
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A1_X
                "\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4\"}",
                -EKEYREJECTED);
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" A1_X "\",\"y\":\"" A1_Y "\"}",
                -EKEYREJECTED);
    jwk_refused("{\"kty\":\"RSA\",\"crv\":\"P-256\",\"x\":\"" A1_X "\",\"y\":\"" A1_Y "\"}",
                -EKEYREJECTED);
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A1_X "\"}", -EBADMSG);
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A1_X "=\",\"y\":\"" A1_Y "\"}",
                -EBADMSG);
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"" A1_Y "\"}", -EBADMSG);
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" A1_X "\",\"y\":\"" A1_Y
                "\",\"d\":\"AAAA\"}",
                -EINVAL);
    jwk_refused("[1]", -EBADMSG);
}

static void test_thumbprint_other_keys(void **state)
{
    posture_auto_evp_pkey EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    posture_autofree char *t = NULL;
    cJSON *jwk = NULL;
    uint8_t x[32], y[32];
    (void) state;

    assert_int_equal(posture_key_thumbprint(p384, &t), -EKEYREJECTED);
    assert_int_equal(posture_key_jwk(p384, &jwk), -EKEYREJECTED);
    assert_int_equal(posture_key_public_xy(p384, x, y), -EKEYREJECTED);
    assert_int_equal(posture_key_check_p256(NULL), -EKEYREJECTED);
    assert_null(t);
    assert_null(jwk);
}

/* Concurrent first runs end with one key: every process reports the same thumbprint. */
static void test_concurrent_create(void **state)
{
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autofree char *state_dir = path_in(dir, "state");
    char first[POSTURE_KEY_THUMBPRINT_LEN + 1] = "";
    int fds[2];
    pid_t pids[8];
    (void) state;

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(pids); i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            const struct posture_key_opts opts = {
                .source = POSTURE_KEY_SOURCE_FILE,
                .state_dir = state_dir,
                .create = true,
            };
            EVP_PKEY *k = NULL;
            char *t = NULL;
            char line[POSTURE_KEY_THUMBPRINT_LEN + 1];

            if (posture_key_open(&opts, &k) < 0 || posture_key_thumbprint(k, &t) < 0)
                _exit(1);
            memcpy(line, t, POSTURE_KEY_THUMBPRINT_LEN);
            line[POSTURE_KEY_THUMBPRINT_LEN] = '\n';
            _exit(write(fds[1], line, sizeof(line)) == (ssize_t) sizeof(line) ? 0 : 1);
        }
    }
    (void) close(fds[1]);
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(pids); i++) {
        char line[POSTURE_KEY_THUMBPRINT_LEN + 1];
        int status = 0;

        assert_int_equal(read(fds[0], line, sizeof(line)), sizeof(line));
        line[POSTURE_KEY_THUMBPRINT_LEN] = '\0';
        if (i == 0)
            memcpy(first, line, sizeof(first));
        assert_string_equal(line, first);
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    (void) close(fds[0]);
    assert_int_equal(count_entries(state_dir), 1);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

/* Coordinates are always 32 bytes: find a key whose x has a leading zero byte. */
static void test_jwk_leading_zero(void **state)
{
    bool found = false;
    (void) state;

    for (int i = 0; i < 4000 && !found; i++) {
        posture_auto_evp_pkey EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        posture_auto_evp_pkey EVP_PKEY *back = NULL;
        posture_auto_cjson cJSON *jwk = NULL;
        posture_autofree char *t1 = NULL, *t2 = NULL;
        uint8_t x[32], y[32], dec[32];

        assert_non_null(k);
        assert_int_equal(posture_key_public_xy(k, x, y), 0);
        if (x[0] != 0 && y[0] != 0)
            continue;
        found = true;
        assert_int_equal(posture_key_jwk(k, &jwk), 0);
        const char *xs = posture_json_get_str(jwk, x[0] == 0 ? "x" : "y");
        assert_int_equal(strlen(xs), POSTURE_KEY_THUMBPRINT_LEN);
        assert_int_equal(posture_b64url_decode_buf(xs, strlen(xs), dec, sizeof(dec)), 32);
        assert_int_equal(dec[0], 0);
        assert_int_equal(posture_key_from_jwk(jwk, &back), 0);
        assert_int_equal(posture_key_thumbprint(k, &t1), 0);
        assert_int_equal(posture_key_thumbprint(back, &t2), 0);
        assert_string_equal(t1, t2);
    }
    assert_true(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_tmpfile),
        cmocka_unit_test(test_create_named_temp),
        cmocka_unit_test(test_open_creates_once),
        cmocka_unit_test(test_load_refusals),
        cmocka_unit_test(test_jwk_vector),
        cmocka_unit_test(test_jwk_refusals),
        cmocka_unit_test(test_thumbprint_other_keys),
        cmocka_unit_test(test_concurrent_create),
        cmocka_unit_test(test_jwk_leading_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
