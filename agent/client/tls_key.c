/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS with a provider-held key; see tls_key.h. This file uses the EC_KEY_METHOD interface,
 * deprecated in OpenSSL 3.0 but the only way there to put a custom signer in front of TLS
 * without an ENGINE: a key whose method is not the default one is "foreign" to OpenSSL 3 and
 * takes the legacy signing path, which calls our method.
 */

#define OPENSSL_SUPPRESS_DEPRECATED 1 /* EC_KEY_METHOD: see above */

#include "tls_key.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "posture/key.h"
#include "posture/log.h"

static EC_KEY_METHOD *method;
static int ex_index = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The provider key behind a wrapper EC_KEY. */
static EVP_PKEY *inner(const EC_KEY *ec)
{
    return ex_index < 0 ? NULL : EC_KEY_get_ex_data(ec, ex_index);
}

static void inner_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    EVP_PKEY_free(ptr);
}

/* DER ECDSA signature of a digest by the provider key, in its own context. */
static int provider_sign(
    EVP_PKEY *key, const unsigned char *dgst, int dlen, unsigned char **ret, size_t *ret_len)
{
    EVP_PKEY_CTX *ctx =
        EVP_PKEY_CTX_new_from_pkey(posture_key_libctx(key), key, posture_key_propq(key));
    unsigned char *sig = NULL;
    size_t len = 0;
    int ok;

    ok = ctx && EVP_PKEY_sign_init(ctx) == 1 &&
         EVP_PKEY_sign(ctx, NULL, &len, dgst, (size_t) dlen) == 1 && len > 0 &&
         (sig = OPENSSL_malloc(len)) && EVP_PKEY_sign(ctx, sig, &len, dgst, (size_t) dlen) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        log_debug("tls: the device key's provider refused to sign");
        OPENSSL_free(sig);
        return 0;
    }
    *ret = sig;
    *ret_len = len;
    return 1;
}

static int sign_cb(int type,
                   const unsigned char *dgst,
                   int dlen,
                   unsigned char *sig,
                   unsigned int *siglen,
                   const BIGNUM *kinv,
                   const BIGNUM *r,
                   EC_KEY *ec)
{
    EVP_PKEY *key = inner(ec);
    unsigned char *der = NULL;
    size_t len = 0;

    if (!key || !provider_sign(key, dgst, dlen, &der, &len))
        return 0;
    /* ECDSA_size() bounds what the caller's buffer holds. */
    if (len > (size_t) ECDSA_size(ec)) {
        OPENSSL_free(der);
        return 0;
    }
    memcpy(sig, der, len);
    *siglen = (unsigned int) len;
    OPENSSL_free(der);
    return 1;
}

static ECDSA_SIG *
sign_sig_cb(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
    EVP_PKEY *key = inner(ec);
    unsigned char *der = NULL;
    const unsigned char *p;
    ECDSA_SIG *s;
    size_t len = 0;

    if (!key || !provider_sign(key, dgst, dlen, &der, &len))
        return NULL;
    p = der;
    s = d2i_ECDSA_SIG(NULL, &p, (long) len);
    OPENSSL_free(der);
    return s;
}

static void init_once(void)
{
    int (*verify)(int, const unsigned char *, int, const unsigned char *, int, EC_KEY *) = NULL;
    int (*verify_sig)(const unsigned char *, int, const ECDSA_SIG *, EC_KEY *) = NULL;
    EC_KEY_METHOD *m = EC_KEY_METHOD_new(EC_KEY_OpenSSL());

    if (!m)
        return;
    EC_KEY_METHOD_get_verify(EC_KEY_OpenSSL(), &verify, &verify_sig);
    EC_KEY_METHOD_set_sign(m, sign_cb, NULL, sign_sig_cb);
    EC_KEY_METHOD_set_verify(m, verify, verify_sig);
    ex_index = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, inner_free);
    if (ex_index < 0) {
        EC_KEY_METHOD_free(m);
        return;
    }
    method = m;
}

int posture_tls_key_wrap(EVP_PKEY *key, EVP_PKEY **ret)
{
    uint8_t x[32], y[32];
    BIGNUM *bx = NULL, *by = NULL;
    EC_KEY *ec = NULL;
    EVP_PKEY *w = NULL;
    int r;

    if (!key || !ret)
        return -EINVAL;
    if (!posture_key_libctx(key)) {
        if (EVP_PKEY_up_ref(key) != 1)
            return -EIO;
        *ret = key;
        return 0;
    }
    r = posture_key_public_xy(key, x, y);
    if (r < 0)
        return r;
    (void) pthread_once(&once, init_once);
    if (!method)
        return -ENOMEM;

    bx = BN_bin2bn(x, sizeof(x), NULL);
    by = BN_bin2bn(y, sizeof(y), NULL);
    ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    w = EVP_PKEY_new();
    r = -ENOMEM;
    if (!bx || !by || !ec || !w)
        goto out;
    r = -EIO;
    if (EC_KEY_set_method(ec, method) != 1 ||
        EC_KEY_set_public_key_affine_coordinates(ec, bx, by) != 1)
        goto out;
    if (EVP_PKEY_up_ref(key) != 1)
        goto out;
    if (EC_KEY_set_ex_data(ec, ex_index, key) != 1) {
        EVP_PKEY_free(key);
        goto out;
    }
    if (EVP_PKEY_assign_EC_KEY(w, ec) != 1)
        goto out;
    ec = NULL; /* owned by w */
    *ret = w;
    w = NULL;
    r = 0;
out:
    EC_KEY_free(ec);
    EVP_PKEY_free(w);
    BN_free(bx);
    BN_free(by);
    return r;
}
