/* SPDX-License-Identifier: Apache-2.0 */
/* EK certificate chain validation and the EK public key comparison (see ekcert.h). */

#include "ekcert.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/log.h"
#include "posture/ossl.h"

/* subjectDirectoryAttributes: descriptive TPM attributes in TCG EK certificates. */
#define OID_SUBJECT_DIRECTORY_ATTRIBUTES "2.5.29.9"

static const char *const reason_table[POSTURE_EKCERT_REASON__MAX] = {
    [POSTURE_EKCERT_OK] = "ok",
    [POSTURE_EKCERT_MALFORMED] = "ek-cert-malformed",
    [POSTURE_EKCERT_PUBLIC_MALFORMED] = "ek-public-malformed",
    [POSTURE_EKCERT_UNSUPPORTED_KEY] = "ek-key-unsupported",
    [POSTURE_EKCERT_UNTRUSTED] = "ek-cert-untrusted",
    [POSTURE_EKCERT_EXPIRED] = "ek-cert-expired",
    [POSTURE_EKCERT_CRITICAL_EXTENSION] = "ek-cert-critical-extension",
    [POSTURE_EKCERT_KEY_MISMATCH] = "ek-key-mismatch",
    [POSTURE_EKCERT_ATTRIBUTES] = "ek-public-attributes",
};

const char *posture_ekcert_reason_to_string(int reason)
{
    if (reason < 0 || reason >= POSTURE_EKCERT_REASON__MAX)
        return NULL;
    return reason_table[reason];
}

struct posture_ekcert_roots {
    X509_STORE *store;
    STACK_OF(X509) * intermediates;
    size_t n_anchors;
};

struct posture_ekcert_roots *posture_ekcert_roots_free(struct posture_ekcert_roots *roots)
{
    if (!roots)
        return NULL;
    X509_STORE_free(roots->store);
    sk_X509_pop_free(roots->intermediates, X509_free);
    free(roots);
    return NULL;
}

POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_ekcert_roots *, posture_ekcert_roots_free)

size_t posture_ekcert_roots_n_anchors(const struct posture_ekcert_roots *roots)
{
    return roots ? roots->n_anchors : 0;
}

size_t posture_ekcert_roots_n_intermediates(const struct posture_ekcert_roots *roots)
{
    return roots && roots->intermediates ? (size_t) sk_X509_num(roots->intermediates) : 0;
}

/* Take x: a self-signed certificate becomes an anchor, anything else an intermediate. */
static int roots_add(struct posture_ekcert_roots *roots, X509 *x, bool anchors_allowed)
{
    POSTURE_CLEANUP(X509_freep) X509 *owned = x;

    if (roots->n_anchors + posture_ekcert_roots_n_intermediates(roots) >= POSTURE_EKCERT_ROOTS_MAX)
        return -E2BIG;
    if (anchors_allowed && X509_self_signed(x, 1) == 1) {
        if (!X509_STORE_add_cert(roots->store, x)) {
            /* A duplicate is harmless; anything else is not. */
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                posture_ossl_drain("trust anchor");
                return -EIO;
            }
            ERR_clear_error();
            return 0;
        }
        roots->n_anchors++;
        return 0;
    }
    if (!sk_X509_push(roots->intermediates, x))
        return -ENOMEM;
    owned = NULL;
    return 0;
}

/* Every certificate of one file: PEM blocks, or one DER certificate. */
static int
load_file(struct posture_ekcert_roots *roots, int fd, const char *name, bool anchors_allowed)
{
    posture_autofree char *buf = NULL;
    POSTURE_CLEANUP(BIO_freep) BIO *bio = NULL;
    size_t len = 0, n = 0;
    int r;

    r = posture_read_fd(fd, POSTURE_EKCERT_FILE_MAX, &buf, &len);
    if (r < 0)
        return r == -E2BIG ? -EFBIG : r;
    bio = BIO_new_mem_buf(buf, (int) len);
    if (!bio)
        return -ENOMEM;
    if (len >= 10 && memmem(buf, len, "-----BEGIN", 10)) {
        for (;;) {
            X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
            if (!x) {
                unsigned long e = ERR_peek_last_error();
                if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                    ERR_clear_error();
                    break;
                }
                posture_ossl_drain(name);
                return -EBADMSG;
            }
            r = roots_add(roots, x, anchors_allowed);
            if (r < 0)
                return r;
            n++;
        }
    } else {
        const unsigned char *p = (const unsigned char *) buf;
        X509 *x = d2i_X509(NULL, &p, (long) len);
        if (!x || (size_t) (p - (const unsigned char *) buf) != len) {
            X509_free(x);
            posture_ossl_drain(name);
            return -EBADMSG;
        }
        r = roots_add(roots, x, anchors_allowed);
        if (r < 0)
            return r;
        n++;
    }
    if (n == 0) {
        log_debug("%s: no certificate", name);
        return -EBADMSG;
    }
    return 0;
}

static int load_dir(struct posture_ekcert_roots *roots, const char *dir)
{
    posture_autoclose int dir_fd = -1;
    posture_autoclosedir DIR *d = NULL;
    struct dirent *de;
    int r;

    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return posture_negative_errno();
    d = fdopendir(dir_fd);
    if (!d)
        return posture_negative_errno();
    (void) POSTURE_TAKE_FD(dir_fd); /* owned by d now */

    while ((errno = 0, de = readdir(d))) {
        posture_autoclose int fd = -1;
        struct stat st;

        if (de->d_name[0] == '.')
            continue;
        fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return log_debug_errno(posture_negative_errno(), "%s/%s: %m", dir, de->d_name);
        if (fstat(fd, &st) < 0)
            return posture_negative_errno();
        if (!S_ISREG(st.st_mode))
            continue; /* subdirectories, sockets: not certificates */
        r = load_file(roots, fd, de->d_name, true);
        if (r < 0)
            return log_debug_errno(r, "%s/%s: %m", dir, de->d_name);
    }
    if (errno > 0)
        return -errno;
    return 0;
}

int posture_ekcert_roots_load(const char *dir,
                              const char *bundle,
                              struct posture_ekcert_roots **ret_roots)
{
    POSTURE_CLEANUP(posture_ekcert_roots_freep) struct posture_ekcert_roots *roots = NULL;
    int r;

    POSTURE_RETURN_IF_FAIL(dir && ret_roots, -EINVAL);
    roots = calloc(1, sizeof(*roots));
    if (!roots)
        return -ENOMEM;
    roots->store = X509_STORE_new();
    roots->intermediates = sk_X509_new_null();
    if (!roots->store || !roots->intermediates)
        return -ENOMEM;
    r = load_dir(roots, dir);
    if (r < 0)
        return r;
    if (bundle) {
        posture_autoclose int fd = open(bundle, O_RDONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
            return posture_negative_errno();
        /* A bundle holds intermediates only: nothing in it becomes an anchor. */
        r = load_file(roots, fd, bundle, false);
        if (r < 0)
            return r;
    }
    *ret_roots = POSTURE_TAKE_PTR(roots);
    return 0;
}

/* True when every critical extension of x that OpenSSL does not implement is allowed. */
static bool critical_extensions_allowed(X509 *x)
{
    int n = X509_get_ext_count(x);

    for (int i = 0; i < n; i++) {
        X509_EXTENSION *ext = X509_get_ext(x, i);
        char oid[80];

        if (!X509_EXTENSION_get_critical(ext) || X509_supported_extension(ext))
            continue;
        if (OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1) <= 0)
            return false;
        if (strcmp(oid, OID_SUBJECT_DIRECTORY_ATTRIBUTES) != 0) {
            log_debug("EK certificate: unhandled critical extension %s", oid);
            return false;
        }
    }
    return true;
}

static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    if (ok)
        return ok;
    if (X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION &&
        X509_STORE_CTX_get_error_depth(ctx) == 0 &&
        critical_extensions_allowed(X509_STORE_CTX_get_current_cert(ctx))) {
        X509_STORE_CTX_set_error(ctx, X509_V_OK);
        return 1;
    }
    return 0;
}

static enum posture_ekcert_reason verify_error_reason(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return POSTURE_EKCERT_EXPIRED;
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
        return POSTURE_EKCERT_CRITICAL_EXTENSION;
    default:
        return POSTURE_EKCERT_UNTRUSTED;
    }
}

static int verify_chain(const struct posture_ekcert_roots *roots,
                        X509 *cert,
                        int64_t now,
                        enum posture_ekcert_reason *ret_reason)
{
    POSTURE_CLEANUP(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_VERIFY_PARAM *param;
    int ok, err;

    if (!ctx)
        return -ENOMEM;
    if (!X509_STORE_CTX_init(ctx, roots->store, cert, roots->intermediates)) {
        posture_ossl_drain("EK chain");
        return -EIO;
    }
    param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, (time_t) now);
    if (!X509_VERIFY_PARAM_clear_flags(param, X509_V_FLAG_PARTIAL_CHAIN) ||
        !X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY)) {
        posture_ossl_drain("EK chain");
        return -EIO;
    }
    X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
    ok = X509_verify_cert(ctx);
    if (ok == 1) {
        *ret_reason = POSTURE_EKCERT_OK;
        return 0;
    }
    err = X509_STORE_CTX_get_error(ctx);
    log_debug("EK certificate chain: %s (depth %d)", X509_verify_cert_error_string(err),
              X509_STORE_CTX_get_error_depth(ctx));
    posture_ossl_drain("EK chain");
    if (ok < 0 && err == X509_V_OK)
        return -EIO;
    *ret_reason = verify_error_reason(err);
    return 0;
}

static bool bn_equals_bytes(const BIGNUM *bn, const uint8_t *b, size_t n)
{
    POSTURE_CLEANUP(BN_freep) BIGNUM *v = BN_bin2bn(b, (int) n, NULL);
    return v && BN_cmp(v, bn) == 0;
}

/* The certificate key's kind must match the TPM key's; then the values. */
static int compare_key(EVP_PKEY *pkey, const TPMT_PUBLIC *pub, enum posture_ekcert_reason *ret)
{
    POSTURE_CLEANUP(BN_freep) BIGNUM *a = NULL;
    POSTURE_CLEANUP(BN_freep) BIGNUM *b = NULL;

    *ret = POSTURE_EKCERT_KEY_MISMATCH;
    if (pub->type == TPM2_ALG_RSA) {
        uint32_t exp =
            pub->parameters.rsaDetail.exponent ? pub->parameters.rsaDetail.exponent : 65537;
        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA || EVP_PKEY_get_bits(pkey) != 2048)
            return 0;
        if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &a) ||
            !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &b))
            return -EIO;
        if (!bn_equals_bytes(a, pub->unique.rsa.buffer, pub->unique.rsa.size) ||
            !BN_is_word(b, exp))
            return 0;
    } else {
        const char *want =
            pub->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 ? "prime256v1" : "secp384r1";
        char group[64];
        size_t glen = 0;

        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
            !EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            &glen) ||
            strcmp(group, want) != 0)
            return 0;
        if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a) ||
            !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b))
            return -EIO;
        if (!bn_equals_bytes(a, pub->unique.ecc.x.buffer, pub->unique.ecc.x.size) ||
            !bn_equals_bytes(b, pub->unique.ecc.y.buffer, pub->unique.ecc.y.size))
            return 0;
    }
    *ret = POSTURE_EKCERT_OK;
    return 0;
}

/* RSA 2048 (any exponent the TPM allows) or ECC P-256/P-384, with sane unique sizes. */
static bool key_supported(const TPMT_PUBLIC *pub)
{
    if (pub->type == TPM2_ALG_RSA)
        return pub->parameters.rsaDetail.keyBits == 2048 && pub->unique.rsa.size == 256;
    if (pub->type == TPM2_ALG_ECC) {
        size_t n;
        if (pub->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256)
            n = 32;
        else if (pub->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384)
            n = 48;
        else
            return false;
        return pub->unique.ecc.x.size > 0 && pub->unique.ecc.x.size <= n &&
               pub->unique.ecc.y.size > 0 && pub->unique.ecc.y.size <= n;
    }
    return false;
}

static bool ek_template(const TPMT_PUBLIC *pub)
{
    const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                             TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED |
                             TPMA_OBJECT_DECRYPT;

    return (pub->objectAttributes & need) == need &&
           !(pub->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT);
}

int posture_ekcert_verify(const struct posture_ekcert_roots *roots,
                          const uint8_t *cert_der,
                          size_t cert_len,
                          const uint8_t *ek_public,
                          size_t ek_public_len,
                          int64_t now,
                          enum posture_ekcert_reason *ret_reason,
                          struct posture_ekcert_info *ret_info)
{
    POSTURE_CLEANUP(X509_freep) X509 *cert = NULL;
    TPM2B_PUBLIC pub;
    uint8_t canon[sizeof(TPMT_PUBLIC)];
    size_t offset = 0, canon_len = 0;
    const unsigned char *p = cert_der;
    enum posture_ekcert_reason reason;
    EVP_PKEY *pkey;
    int r;

    POSTURE_RETURN_IF_FAIL(roots && ret_reason && (cert_der || cert_len == 0) &&
                               (ek_public || ek_public_len == 0),
                           -EINVAL);

    if (cert_len == 0 || cert_len > POSTURE_EKCERT_DER_MAX ||
        !(cert = d2i_X509(NULL, &p, (long) cert_len)) || (size_t) (p - cert_der) != cert_len) {
        posture_ossl_drain("EK certificate");
        *ret_reason = POSTURE_EKCERT_MALFORMED;
        return 0;
    }

    memset(&pub, 0, sizeof(pub));
    if (ek_public_len < 2 || ek_public_len > POSTURE_EKCERT_PUBLIC_MAX ||
        Tss2_MU_TPM2B_PUBLIC_Unmarshal(ek_public, ek_public_len, &offset, &pub) !=
            TSS2_RC_SUCCESS ||
        offset != ek_public_len ||
        Tss2_MU_TPMT_PUBLIC_Marshal(&pub.publicArea, canon, sizeof(canon), &canon_len) !=
            TSS2_RC_SUCCESS ||
        canon_len != ek_public_len - 2 || memcmp(canon, ek_public + 2, canon_len) != 0) {
        *ret_reason = POSTURE_EKCERT_PUBLIC_MALFORMED;
        return 0;
    }
    if (!key_supported(&pub.publicArea)) {
        *ret_reason = POSTURE_EKCERT_UNSUPPORTED_KEY;
        return 0;
    }

    r = verify_chain(roots, cert, now, &reason);
    if (r < 0)
        return r;
    if (reason != POSTURE_EKCERT_OK) {
        *ret_reason = reason;
        return 0;
    }

    pkey = X509_get0_pubkey(cert);
    if (!pkey) {
        posture_ossl_drain("EK certificate key");
        *ret_reason = POSTURE_EKCERT_MALFORMED;
        return 0;
    }
    r = compare_key(pkey, &pub.publicArea, &reason);
    if (r < 0)
        return r;
    if (reason != POSTURE_EKCERT_OK) {
        *ret_reason = reason;
        return 0;
    }
    if (!ek_template(&pub.publicArea)) {
        *ret_reason = POSTURE_EKCERT_ATTRIBUTES;
        return 0;
    }

    if (ret_info) {
        struct posture_ekcert_info info;
        unsigned char *der = NULL;
        int n;

        SHA256(cert_der, cert_len, info.cert_sha256);
        n = i2d_PUBKEY(pkey, &der);
        if (n <= 0) {
            posture_ossl_drain("EK SubjectPublicKeyInfo");
            return -EIO;
        }
        SHA256(der, (size_t) n, info.spki_sha256);
        OPENSSL_free(der);
        *ret_info = info;
    }
    *ret_reason = POSTURE_EKCERT_OK;
    return 0;
}
