/* SPDX-License-Identifier: Apache-2.0 */
/* The device key: P-256, a strict 0600 PEM file or (through posture_attest_tpm) a TPM key; JWK
 * and RFC 7638 thumbprint; the library context of provider keys. */

#include "posture/key.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/log.h"
#include "posture/ossl.h"
#include "posture/statefile.h"

#define P256_GROUP "prime256v1"

static const char *const key_source_table[POSTURE_KEY_SOURCE__MAX] = {
    [POSTURE_KEY_SOURCE_FILE] = "file",
    [POSTURE_KEY_SOURCE_TPM] = "tpm",
};

const char *posture_key_source_to_string(int source)
{
    if (source < 0 || source >= POSTURE_KEY_SOURCE__MAX)
        return NULL;
    return key_source_table[source];
}

int posture_key_source_from_string(const char *s)
{
    if (!s)
        return -EINVAL;
    for (int i = 0; i < POSTURE_KEY_SOURCE__MAX; i++)
        if (strcmp(key_source_table[i], s) == 0)
            return i;
    return -EINVAL;
}

int posture_key_check_p256(const EVP_PKEY *pkey)
{
    char group[64];
    size_t len = 0;

    if (!pkey || !EVP_PKEY_is_a(pkey, "EC"))
        return -EKEYREJECTED;
    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        &len)) {
        posture_ossl_drain("group name");
        return -EKEYREJECTED;
    }
    if (strcmp(group, P256_GROUP) != 0 && strcmp(group, "P-256") != 0)
        return -EKEYREJECTED;
    return 0;
}

int posture_key_public_xy(const EVP_PKEY *pkey, uint8_t x[32], uint8_t y[32])
{
    POSTURE_CLEANUP(BN_freep) BIGNUM *bx = NULL;
    POSTURE_CLEANUP(BN_freep) BIGNUM *by = NULL;
    int r;

    POSTURE_RETURN_IF_FAIL(x && y, -EINVAL);
    r = posture_key_check_p256(pkey);
    if (r < 0)
        return r;
    if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) ||
        !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by)) {
        posture_ossl_drain("public point");
        return -EKEYREJECTED;
    }
    if (BN_bn2binpad(bx, x, 32) != 32 || BN_bn2binpad(by, y, 32) != 32)
        return -EKEYREJECTED;
    return 0;
}

/* The canonical RFC 7638 member string; *ret is malloc'ed. */
static int thumbprint_input(const EVP_PKEY *pkey, char **ret)
{
    char x64[POSTURE_KEY_THUMBPRINT_LEN + 1], y64[POSTURE_KEY_THUMBPRINT_LEN + 1];
    uint8_t x[32], y[32];
    char *s = NULL;
    int r;

    r = posture_key_public_xy(pkey, x, y);
    if (r < 0)
        return r;
    if (posture_b64url_encode_buf(x, 32, x64, sizeof(x64)) < 0 ||
        posture_b64url_encode_buf(y, 32, y64, sizeof(y64)) < 0)
        return -EINVAL;
    if (asprintf(&s, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x64, y64) < 0)
        return -ENOMEM;
    *ret = s;
    return 0;
}

int posture_key_thumbprint_raw(const EVP_PKEY *pkey, uint8_t ret[32])
{
    posture_autofree char *input = NULL;
    unsigned int len = 0;
    uint8_t md[EVP_MAX_MD_SIZE];
    int r;

    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    r = thumbprint_input(pkey, &input);
    if (r < 0)
        return r;
    if (!EVP_Digest(input, strlen(input), md, &len, EVP_sha256(), NULL) || len != 32) {
        posture_ossl_drain("thumbprint");
        return -EIO;
    }
    memcpy(ret, md, 32);
    return 0;
}

int posture_key_thumbprint(const EVP_PKEY *pkey, char **ret)
{
    uint8_t md[32];
    int r;

    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    r = posture_key_thumbprint_raw(pkey, md);
    if (r < 0)
        return r;
    return posture_b64url_encode(md, sizeof(md), ret);
}

int posture_key_jwk(const EVP_PKEY *pkey, cJSON **ret)
{
    posture_auto_cjson cJSON *jwk = NULL;
    posture_autofree char *x64 = NULL, *y64 = NULL;
    uint8_t x[32], y[32];
    int r;

    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    r = posture_key_public_xy(pkey, x, y);
    if (r < 0)
        return r;
    r = posture_b64url_encode(x, 32, &x64);
    if (r >= 0)
        r = posture_b64url_encode(y, 32, &y64);
    if (r < 0)
        return r;
    jwk = cJSON_CreateObject();
    if (!jwk)
        return -ENOMEM;
    r = posture_json_add_str(jwk, "kty", "EC");
    if (r >= 0)
        r = posture_json_add_str(jwk, "crv", "P-256");
    if (r >= 0)
        r = posture_json_add_str(jwk, "x", x64);
    if (r >= 0)
        r = posture_json_add_str(jwk, "y", y64);
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(jwk);
    return 0;
}

/* The contents of a memory BIO as a new string. */
static int bio_to_string(BIO *bio, char **ret)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *s;

    if (n < 0 || !data)
        return -EIO;
    /* Not strndup(): the BIO's data is not NUL-terminated and strndup may read past n. */
    s = malloc((size_t) n + 1);
    if (!s)
        return -ENOMEM;
    memcpy(s, data, (size_t) n);
    s[n] = '\0';
    *ret = s;
    return 0;
}

int posture_key_public_pem(const EVP_PKEY *pkey, char **ret)
{
    POSTURE_CLEANUP(BIO_freep) BIO *bio = NULL;

    POSTURE_RETURN_IF_FAIL(pkey && ret, -EINVAL);
    bio = BIO_new(BIO_s_mem());
    if (!bio)
        return -ENOMEM;
    if (!PEM_write_bio_PUBKEY(bio, pkey)) {
        posture_ossl_drain("public key PEM");
        return -EIO;
    }
    return bio_to_string(bio, ret);
}

/* Refuse every passphrase prompt: an encrypted device key cannot be used unattended. */
/* NOLINTNEXTLINE(readability-non-const-parameter): the signature of pem_password_cb */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) userdata;
    return -1;
}

void posture_key_buf_free(char *buf, size_t len)
{
    if (!buf)
        return;
    OPENSSL_cleanse(buf, len);
    free(buf);
}

int posture_key_read_file(const char *path, char **ret_buf, size_t *ret_len)
{
    posture_autoclose int fd = -1;
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int r;

    POSTURE_RETURN_IF_FAIL(path && ret_buf && ret_len, -EINVAL);

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return posture_negative_errno();
    if (fstat(fd, &st) < 0)
        return posture_negative_errno();
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return -EPERM;
    if ((st.st_mode & 0077) != 0)
        return -EACCES;
    if (st.st_size > (off_t) POSTURE_KEY_FILE_MAX_SIZE)
        return -EFBIG;

    r = posture_read_fd(fd, POSTURE_KEY_FILE_MAX_SIZE, &buf, &len);
    if (r < 0)
        return r;
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

static bool label_is(const char *label, const char *end, const char *want)
{
    size_t n = strlen(want);

    return (size_t) (end - label) == n && memcmp(label, want, n) == 0;
}

int posture_key_pem_source(const void *buf, size_t len)
{
    static const char begin[] = "-----BEGIN ";
    const char *p = buf, *end, *label, *dashes;

    if (!buf)
        return -EBADMSG;
    if (len > POSTURE_KEY_FILE_MAX_SIZE)
        len = POSTURE_KEY_FILE_MAX_SIZE;
    end = p + len;
    /* The first BEGIN line; PEM allows explanatory text before it, not in the middle of one. */
    for (;;) {
        const char *b = memmem(p, (size_t) (end - p), begin, sizeof(begin) - 1);
        if (!b)
            return -EBADMSG;
        if (b == (const char *) buf || b[-1] == '\n') {
            p = b;
            break;
        }
        p = b + 1;
    }
    label = p + sizeof(begin) - 1;
    dashes = memmem(label, (size_t) (end - label), "-----", 5);
    if (!dashes || memchr(label, '\n', (size_t) (dashes - label)))
        return -EBADMSG;

    if (label_is(label, dashes, "TSS2 PRIVATE KEY"))
        return POSTURE_KEY_SOURCE_TPM;
    if (label_is(label, dashes, "PRIVATE KEY") || label_is(label, dashes, "EC PRIVATE KEY"))
        return POSTURE_KEY_SOURCE_FILE;
    return -EBADMSG;
}

int posture_key_file_source(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    int r;

    r = posture_key_read_file(path, &buf, &len);
    if (r < 0)
        return r;
    r = posture_key_pem_source(buf, len);
    posture_key_buf_free(buf, len);
    return r;
}

int posture_key_load_file(const char *path, EVP_PKEY **ret)
{
    POSTURE_CLEANUP(BIO_freep) BIO *bio = NULL;
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    char *buf = NULL;
    size_t len = 0;
    int r, source;

    POSTURE_RETURN_IF_FAIL(path && ret, -EINVAL);

    r = posture_key_read_file(path, &buf, &len);
    if (r < 0)
        return r;
    source = posture_key_pem_source(buf, len);
    bio = BIO_new_mem_buf(buf, (int) len);
    if (bio && source != POSTURE_KEY_SOURCE_TPM)
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    posture_key_buf_free(buf, len);
    if (!bio)
        return -ENOMEM;
    if (source == POSTURE_KEY_SOURCE_TPM)
        return -EMEDIUMTYPE;
    if (!pkey) {
        posture_ossl_drain(path);
        return -EBADMSG;
    }
    r = posture_key_check_p256(pkey);
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(pkey);
    return 0;
}

int posture_key_create_file(int dir_fd, const char *name, EVP_PKEY **ret)
{
    POSTURE_CLEANUP(BIO_freep) BIO *bio = NULL;
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    char *data = NULL;
    long n;
    int r;

    POSTURE_RETURN_IF_FAIL(dir_fd >= 0 && name && ret, -EINVAL);

    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!pkey) {
        posture_ossl_drain("P-256 key generation");
        return -EIO;
    }
    /* Secure memory for the private key's PEM; freed (and wiped) with the BIO. */
    bio = BIO_new(BIO_s_secmem());
    if (!bio)
        return -ENOMEM;
    if (!PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)) {
        posture_ossl_drain("private key PEM");
        return -EIO;
    }
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || !data)
        return -EIO;
    r = posture_state_write_atomic(dir_fd, name, data, (size_t) n, 0600, false);
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(pkey);
    return 0;
}

static int open_file_key(const struct posture_key_opts *opts, EVP_PKEY **ret)
{
    posture_autofree char *path = NULL;
    posture_autoclose int dir_fd = -1;
    int r;

    if (!opts->state_dir || opts->state_dir[0] != '/')
        return -EINVAL;
    if (asprintf(&path, "%s/%s", opts->state_dir, POSTURE_DEVICE_KEY_NAME) < 0)
        return -ENOMEM;
    r = posture_key_load_file(path, ret);
    if (r != -ENOENT || !opts->create)
        return r;

    r = posture_state_dir_open(opts->state_dir, true, &dir_fd);
    if (r < 0)
        return r;
    r = posture_key_create_file(dir_fd, POSTURE_DEVICE_KEY_NAME, ret);
    if (r == -EEXIST) /* another process won the race: use its key */
        return posture_key_load_file(path, ret);
    return r;
}

int posture_key_open(const struct posture_key_opts *opts, EVP_PKEY **ret)
{
    POSTURE_RETURN_IF_FAIL(opts && ret, -EINVAL);

    switch (opts->source) {
    case POSTURE_KEY_SOURCE_FILE:
        return open_file_key(opts, ret);
    case POSTURE_KEY_SOURCE_TPM:
        if (!opts->tpm_open)
            return -EOPNOTSUPP;
        return opts->tpm_open(opts, ret);
    default:
        return -EINVAL;
    }
}

/*
 * A provider key's library context rides on the key as ex_data. OpenSSL frees the key's data
 * (and drops its keymgmt, hence its provider) before it frees the ex_data, so the context goes
 * last. EVP_PKEY_dup() shares it: hence the reference count.
 */
struct key_libctx {
    int refs; /* __atomic */
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *providers[POSTURE_KEY_MAX_PROVIDERS];
    size_t n_providers;
    char *propq;
};

static int libctx_index = -1;
static pthread_once_t libctx_once = PTHREAD_ONCE_INIT;

static void key_libctx_unref(struct key_libctx *k)
{
    if (!k || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    while (k->n_providers > 0)
        (void) OSSL_PROVIDER_unload(k->providers[--k->n_providers]);
    OSSL_LIB_CTX_free(k->libctx);
    free(k->propq);
    free(k);
}

static void
key_libctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void) parent;
    (void) ad;
    (void) idx;
    (void) argl;
    (void) argp;
    key_libctx_unref(ptr);
}

static int key_libctx_dup(
    CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx, long argl, void *argp)
{
    struct key_libctx *k = *from_d;

    (void) to;
    (void) from;
    (void) idx;
    (void) argl;
    (void) argp;
    if (k)
        (void) __atomic_add_fetch(&k->refs, 1, __ATOMIC_RELAXED);
    return 1;
}

static void libctx_index_init(void)
{
    libctx_index = EVP_PKEY_get_ex_new_index(0, NULL, NULL, key_libctx_dup, key_libctx_free);
}

static struct key_libctx *key_libctx_get(const EVP_PKEY *pkey)
{
    if (!pkey || pthread_once(&libctx_once, libctx_index_init) != 0 || libctx_index < 0)
        return NULL;
    return EVP_PKEY_get_ex_data(pkey, libctx_index);
}

int posture_key_attach_libctx(EVP_PKEY *pkey,
                              OSSL_LIB_CTX *libctx,
                              OSSL_PROVIDER *const *providers,
                              size_t n_providers,
                              const char *propq)
{
    posture_autofree struct key_libctx *k = NULL;
    posture_autofree char *q = NULL;

    POSTURE_RETURN_IF_FAIL(pkey && libctx, -EINVAL);
    POSTURE_RETURN_IF_FAIL(n_providers <= POSTURE_KEY_MAX_PROVIDERS, -EINVAL);
    POSTURE_RETURN_IF_FAIL(providers || n_providers == 0, -EINVAL);
    if (pthread_once(&libctx_once, libctx_index_init) != 0 || libctx_index < 0)
        return -ENOMEM;
    if (EVP_PKEY_get_ex_data(pkey, libctx_index))
        return -EEXIST;
    if (propq) {
        q = strdup(propq);
        if (!q)
            return -ENOMEM;
    }
    k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->refs = 1;
    k->libctx = libctx;
    for (size_t i = 0; i < n_providers; i++)
        k->providers[i] = providers[i];
    k->n_providers = n_providers;
    k->propq = q;
    if (!EVP_PKEY_set_ex_data(pkey, libctx_index, k)) {
        posture_ossl_drain("key library context");
        return -ENOMEM;
    }
    (void) POSTURE_TAKE_PTR(k);
    (void) POSTURE_TAKE_PTR(q);
    return 0;
}

OSSL_LIB_CTX *posture_key_libctx(const EVP_PKEY *pkey)
{
    const struct key_libctx *k = key_libctx_get(pkey);

    return k ? k->libctx : NULL;
}

const char *posture_key_propq(const EVP_PKEY *pkey)
{
    const struct key_libctx *k = key_libctx_get(pkey);

    return k ? k->propq : NULL;
}

int posture_key_from_jwk(const cJSON *jwk, EVP_PKEY **ret)
{
    POSTURE_CLEANUP(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = NULL;
    POSTURE_CLEANUP(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
    POSTURE_CLEANUP(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
    POSTURE_CLEANUP(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *check = NULL;
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    const char *kty, *crv, *x, *y;
    uint8_t point[65];

    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    if (!cJSON_IsObject(jwk))
        return -EBADMSG;
    if (cJSON_GetObjectItemCaseSensitive(jwk, "d"))
        return -EINVAL;
    kty = posture_json_get_str(jwk, "kty");
    crv = posture_json_get_str(jwk, "crv");
    x = posture_json_get_str(jwk, "x");
    y = posture_json_get_str(jwk, "y");
    if (!kty || !crv || !x || !y)
        return -EBADMSG;
    if (strcmp(kty, "EC") != 0 || strcmp(crv, "P-256") != 0)
        return -EKEYREJECTED;
    point[0] = 0x04; /* uncompressed */
    if (strlen(x) != POSTURE_KEY_THUMBPRINT_LEN || strlen(y) != POSTURE_KEY_THUMBPRINT_LEN ||
        posture_b64url_decode_buf(x, strlen(x), point + 1, 32) != 32 ||
        posture_b64url_decode_buf(y, strlen(y), point + 33, 32) != 32)
        return -EBADMSG;

    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, P256_GROUP, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)))
        return -ENOMEM;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!params)
        return -ENOMEM;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!ctx)
        return -ENOMEM;
    if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        posture_ossl_drain("JWK public key");
        return -EKEYREJECTED;
    }
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!check)
        return -ENOMEM;
    if (EVP_PKEY_public_check(check) <= 0) {
        posture_ossl_drain("JWK public key check");
        return -EKEYREJECTED;
    }
    *ret = POSTURE_TAKE_PTR(pkey);
    return 0;
}
