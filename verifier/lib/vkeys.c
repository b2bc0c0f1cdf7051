/* SPDX-License-Identifier: Apache-2.0 */
/* The verifier's keys: EAR signing key, device CA (key + self-signed certificate), JWKS, and
 * the device certificates the CA issues. */

#include "vkeys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/json.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/ossl.h"
#include "posture/statefile.h"

#define CA_CN_PREFIX "posture device CA "

bool posture_vkeys_trust_domain_valid(const char *td)
{
    size_t n;

    if (!td)
        return false;
    n = strlen(td);
    if (n == 0 || n > POSTURE_VKEYS_TRUST_DOMAIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = td[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool kid_valid(const char *kid)
{
    return kid && strlen(kid) == POSTURE_KEY_THUMBPRINT_LEN &&
           posture_b64url_check(kid, POSTURE_KEY_THUMBPRINT_LEN, 32, 32);
}

struct posture_vkeys *posture_vkeys_free(struct posture_vkeys *k)
{
    if (!k)
        return NULL;
    free(k->trust_domain);
    EVP_PKEY_free(k->signing_key);
    free(k->signing_kid);
    EVP_PKEY_free(k->ca_key);
    X509_free(k->ca_cert);
    free(k->ca_pem);
    free(k);
    return NULL;
}

POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_vkeys *, posture_vkeys_free)

/* Load dir/name, or create it (no clobber; a concurrent creator's key wins and is loaded). */
static int
open_key(const char *state_dir, int dir_fd, const char *name, bool create, EVP_PKEY **ret)
{
    posture_autofree char *path = NULL;
    int r;

    if (asprintf(&path, "%s/%s", state_dir, name) < 0)
        return -ENOMEM;
    r = posture_key_load_file(path, ret);
    if (r != -ENOENT || !create)
        return r;
    r = posture_key_create_file(dir_fd, name, ret);
    if (r == -EEXIST)
        return posture_key_load_file(path, ret);
    return r;
}

static int random_serial(X509 *x)
{
    POSTURE_CLEANUP(BN_freep) BIGNUM *bn = NULL;
    uint8_t b[16];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        posture_ossl_drain("serial");
        return -EIO;
    }
    b[0] &= 0x7f; /* positive, and 128 bits at most of DER INTEGER content */
    b[0] |= 0x40; /* never zero, always 16 bytes */
    bn = BN_bin2bn(b, sizeof(b), NULL);
    if (!bn)
        return -ENOMEM;
    if (!BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
        posture_ossl_drain("serial");
        return -EIO;
    }
    return 0;
}

static int add_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext) {
        posture_ossl_drain(value);
        return -EIO;
    }
    ok = X509_add_ext(subject, ext, -1);
    X509_EXTENSION_free(ext);
    if (!ok) {
        posture_ossl_drain("add extension");
        return -EIO;
    }
    return 0;
}

static int set_validity(X509 *x, int64_t not_before, int64_t not_after)
{
    if (!ASN1_TIME_set(X509_getm_notBefore(x), (time_t) not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t) not_after)) {
        posture_ossl_drain("validity");
        return -EIO;
    }
    return 0;
}

static int cert_to_pem(X509 *x, char **ret)
{
    POSTURE_CLEANUP(BIO_freep) BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *s;
    long n;

    if (!bio)
        return -ENOMEM;
    if (!PEM_write_bio_X509(bio, x)) {
        posture_ossl_drain("certificate PEM");
        return -EIO;
    }
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || !data)
        return -EIO;
    s = malloc((size_t) n + 1);
    if (!s)
        return -ENOMEM;
    memcpy(s, data, (size_t) n);
    s[n] = '\0';
    *ret = s;
    return 0;
}

static int make_ca_cert(EVP_PKEY *key, const char *trust_domain, X509 **ret)
{
    POSTURE_CLEANUP(X509_freep) X509 *x = X509_new();
    posture_autofree char *cn = NULL;
    X509_NAME *name;
    int64_t now = (int64_t) time(NULL);
    int r;

    if (!x)
        return -ENOMEM;
    if (asprintf(&cn, CA_CN_PREFIX "%s", trust_domain) < 0)
        return -ENOMEM;
    if (!X509_set_version(x, X509_VERSION_3))
        return -EIO;
    r = random_serial(x);
    if (r < 0)
        return r;
    name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key)) {
        posture_ossl_drain("CA certificate");
        return -EIO;
    }
    r = set_validity(x, now - POSTURE_VKEYS_CERT_BACKDATE_SEC, now + POSTURE_VKEYS_CA_VALIDITY_SEC);
    if (r < 0)
        return r;
    r = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    if (r >= 0)
        r = add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (r >= 0)
        r = add_ext(x, x, NID_subject_key_identifier, "hash");
    if (r >= 0)
        r = add_ext(x, x, NID_authority_key_identifier, "keyid:always");
    if (r < 0)
        return r;
    if (X509_sign(x, key, EVP_sha256()) <= 0) {
        posture_ossl_drain("CA certificate signature");
        return -EIO;
    }
    *ret = POSTURE_TAKE_PTR(x);
    return 0;
}

/* Load dir/name as the CA certificate of key, or create it (no clobber). */
static int open_ca_cert(const char *state_dir,
                        int dir_fd,
                        EVP_PKEY *key,
                        const char *trust_domain,
                        bool create,
                        X509 **ret)
{
    posture_autofree char *path = NULL;
    POSTURE_CLEANUP(X509_freep) X509 *x = NULL;
    char *buf = NULL;
    size_t len = 0;
    int r;

    if (asprintf(&path, "%s/%s", state_dir, POSTURE_VKEYS_CA_CERT_NAME) < 0)
        return -ENOMEM;
    r = posture_key_read_file(path, &buf, &len);
    if (r == -ENOENT && create) {
        posture_autofree char *pem = NULL;

        r = make_ca_cert(key, trust_domain, &x);
        if (r < 0)
            return r;
        r = cert_to_pem(x, &pem);
        if (r < 0)
            return r;
        r = posture_state_write_atomic(dir_fd, POSTURE_VKEYS_CA_CERT_NAME, pem, strlen(pem), 0600,
                                       false);
        if (r >= 0) {
            *ret = POSTURE_TAKE_PTR(x);
            return 0;
        }
        if (r != -EEXIST)
            return r;
        /* Another process created it first: use that one. */
        X509_free(POSTURE_TAKE_PTR(x));
        r = posture_key_read_file(path, &buf, &len);
    }
    if (r < 0)
        return r;
    {
        POSTURE_CLEANUP(BIO_freep) BIO *bio = BIO_new_mem_buf(buf, (int) len);
        if (bio)
            x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        posture_key_buf_free(buf, len);
        if (!bio)
            return -ENOMEM;
    }
    if (!x) {
        posture_ossl_drain(path);
        return -EBADMSG;
    }
    if (X509_check_private_key(x, key) != 1) {
        posture_ossl_drain(path);
        log_debug("%s does not belong to the device CA key", path);
        return -EKEYREJECTED;
    }
    *ret = POSTURE_TAKE_PTR(x);
    return 0;
}

int posture_vkeys_open(const char *state_dir,
                       const char *trust_domain,
                       bool create,
                       struct posture_vkeys **ret_keys)
{
    POSTURE_CLEANUP(posture_vkeys_freep) struct posture_vkeys *k = NULL;
    posture_autoclose int dir_fd = -1;
    int r;

    POSTURE_RETURN_IF_FAIL(state_dir && state_dir[0] == '/' && ret_keys, -EINVAL);
    if (!posture_vkeys_trust_domain_valid(trust_domain))
        return -EINVAL;

    r = posture_state_dir_open(state_dir, create, &dir_fd);
    if (r < 0)
        return r;
    k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->trust_domain = strdup(trust_domain);
    if (!k->trust_domain)
        return -ENOMEM;

    r = open_key(state_dir, dir_fd, POSTURE_VKEYS_SIGNING_KEY_NAME, create, &k->signing_key);
    if (r < 0)
        return log_debug_errno(r, "signing key in %s: %m", state_dir);
    r = posture_key_thumbprint(k->signing_key, &k->signing_kid);
    if (r < 0)
        return r;
    r = open_key(state_dir, dir_fd, POSTURE_VKEYS_CA_KEY_NAME, create, &k->ca_key);
    if (r < 0)
        return log_debug_errno(r, "device CA key in %s: %m", state_dir);
    r = open_ca_cert(state_dir, dir_fd, k->ca_key, trust_domain, create, &k->ca_cert);
    if (r < 0)
        return log_debug_errno(r, "device CA certificate in %s: %m", state_dir);
    r = cert_to_pem(k->ca_cert, &k->ca_pem);
    if (r < 0)
        return r;
    *ret_keys = POSTURE_TAKE_PTR(k);
    return 0;
}

int posture_vkeys_jwks_build(EVP_PKEY *const *keys, size_t n, char **ret)
{
    posture_auto_cjson cJSON *doc = cJSON_CreateObject();
    cJSON *arr = NULL;
    int r;

    POSTURE_RETURN_IF_FAIL(keys && n > 0 && ret, -EINVAL);
    if (!doc)
        return -ENOMEM;
    arr = cJSON_AddArrayToObject(doc, "keys");
    if (!arr)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        posture_auto_cjson cJSON *jwk = NULL;
        posture_autofree char *kid = NULL;

        r = posture_key_jwk(keys[i], &jwk);
        if (r < 0)
            return r;
        r = posture_key_thumbprint(keys[i], &kid);
        if (r < 0)
            return r;
        r = posture_json_add_str(jwk, "kid", kid);
        if (r >= 0)
            r = posture_json_add_str(jwk, "alg", "ES256");
        if (r >= 0)
            r = posture_json_add_str(jwk, "use", "sig");
        if (r < 0)
            return r;
        r = posture_json_append(arr, POSTURE_TAKE_PTR(jwk));
        if (r < 0)
            return r;
    }
    return posture_json_print(doc, false, ret);
}

int posture_vkeys_jwks(const struct posture_vkeys *k, char **ret)
{
    POSTURE_RETURN_IF_FAIL(k && ret, -EINVAL);
    return posture_vkeys_jwks_build(&k->signing_key, 1, ret);
}

int posture_vkeys_x5t_s256(X509 *cert, char ret[POSTURE_VKEYS_X5T_LEN + 1])
{
    unsigned char *der = NULL;
    uint8_t md[SHA256_DIGEST_LENGTH];
    int n, r;

    POSTURE_RETURN_IF_FAIL(cert && ret, -EINVAL);
    n = i2d_X509(cert, &der);
    if (n <= 0) {
        posture_ossl_drain("certificate DER");
        return -EIO;
    }
    SHA256(der, (size_t) n, md);
    OPENSSL_free(der);
    r = posture_b64url_encode_buf(md, sizeof(md), ret, POSTURE_VKEYS_X5T_LEN + 1);
    return r < 0 ? r : 0;
}

int posture_vkeys_issue(const struct posture_vkeys *k,
                        EVP_PKEY *device_key,
                        const char *kid,
                        const struct posture_vkeys_cert_opts *opts,
                        char **ret_pem,
                        char ret_x5t[POSTURE_VKEYS_X5T_LEN + 1])
{
    POSTURE_CLEANUP(X509_freep) X509 *x = NULL;
    posture_autofree char *san = NULL, *pem = NULL;
    char x5t[POSTURE_VKEYS_X5T_LEN + 1];
    int64_t now, validity;
    int r;

    POSTURE_RETURN_IF_FAIL(k && device_key && ret_pem, -EINVAL);
    if (!kid_valid(kid))
        return -EINVAL;
    r = posture_key_check_p256(device_key);
    if (r < 0)
        return r;
    now = opts && opts->now > 0 ? opts->now : (int64_t) time(NULL);
    validity =
        opts && opts->validity_sec != 0 ? opts->validity_sec : POSTURE_VKEYS_CERT_VALIDITY_SEC;
    if (validity < 60 || validity > POSTURE_VKEYS_CERT_VALIDITY_MAX)
        return -ERANGE;
    if (asprintf(&san, "URI:spiffe://%s/device/%s", k->trust_domain, kid) < 0)
        return -ENOMEM;

    x = X509_new();
    if (!x)
        return -ENOMEM;
    if (!X509_set_version(x, X509_VERSION_3))
        return -EIO;
    r = random_serial(x);
    if (r < 0)
        return r;
    if (!X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                    (const unsigned char *) kid, -1, -1, 0) ||
        !X509_set_issuer_name(x, X509_get_subject_name(k->ca_cert)) ||
        !X509_set_pubkey(x, device_key)) {
        posture_ossl_drain("device certificate");
        return -EIO;
    }
    r = set_validity(x, now - POSTURE_VKEYS_CERT_BACKDATE_SEC, now + validity);
    if (r < 0)
        return r;
    r = add_ext(k->ca_cert, x, NID_basic_constraints, "critical,CA:FALSE");
    if (r >= 0)
        r = add_ext(k->ca_cert, x, NID_key_usage, "critical,digitalSignature");
    if (r >= 0)
        r = add_ext(k->ca_cert, x, NID_ext_key_usage, "clientAuth");
    if (r >= 0)
        r = add_ext(k->ca_cert, x, NID_subject_alt_name, san);
    if (r >= 0)
        r = add_ext(k->ca_cert, x, NID_subject_key_identifier, "hash");
    if (r >= 0)
        r = add_ext(k->ca_cert, x, NID_authority_key_identifier, "keyid:always");
    if (r < 0)
        return r;
    if (X509_sign(x, k->ca_key, EVP_sha256()) <= 0) {
        posture_ossl_drain("device certificate signature");
        return -EIO;
    }
    r = posture_vkeys_x5t_s256(x, x5t);
    if (r < 0)
        return r;
    r = cert_to_pem(x, &pem);
    if (r < 0)
        return r;
    *ret_pem = POSTURE_TAKE_PTR(pem);
    if (ret_x5t)
        memcpy(ret_x5t, x5t, sizeof(x5t));
    return 0;
}
