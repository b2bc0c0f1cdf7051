/* SPDX-License-Identifier: Apache-2.0 */
/* Software TPM2_MakeCredential; see makecredential.h. */

#include "posture/makecredential.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/log.h"
#include "posture/ossl.h"

#define NAME_MAX_LEN 66u
#define SECRET_MAX   64u
#define SEED_MAX     64u

struct posture_credential *posture_credential_free(struct posture_credential *c)
{
    if (!c)
        return NULL;
    free(c->id_object);
    free(c->encrypted_secret);
    free(c);
    return NULL;
}
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_credential *, posture_credential_free)

static int openssl_error(int r, const char *what)
{
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        log_debug("makecredential: %s: %s", what, buf);
    }
    return r;
}

static const char *md_name(TPMI_ALG_HASH alg)
{
    switch (alg) {
    case TPM2_ALG_SHA256:
        return "SHA256";
    case TPM2_ALG_SHA384:
        return "SHA384";
    case TPM2_ALG_SHA512:
        return "SHA512";
    default:
        return NULL;
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

static int hmac(const char *md,
                const uint8_t *key,
                size_t key_len,
                const uint8_t *const *parts,
                const size_t *lens,
                size_t n,
                uint8_t *out,
                size_t *out_len)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) md, 0),
        OSSL_PARAM_construct_end(),
    };
    bool ok = ctx && EVP_MAC_init(ctx, key, key_len, params) == 1;

    for (size_t i = 0; ok && i < n; i++)
        ok = lens[i] == 0 || EVP_MAC_update(ctx, parts[i], lens[i]) == 1;
    ok = ok && EVP_MAC_final(ctx, out, out_len, SEED_MAX) == 1;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok ? 0 : openssl_error(-EIO, "HMAC");
}

/* KDFa (SP 800-108 counter mode with HMAC): label includes its NUL. */
static int kdfa(const char *md,
                const uint8_t *key,
                size_t key_len,
                const char *label,
                const uint8_t *u,
                size_t u_len,
                const uint8_t *v,
                size_t v_len,
                uint8_t *out,
                size_t bits)
{
    size_t need = (bits + 7) / 8, done = 0;
    uint8_t counter[4], nbits[4], block[SEED_MAX];

    put_be32(nbits, (uint32_t) bits);
    for (uint32_t i = 1; done < need; i++) {
        size_t len = 0;
        const uint8_t *parts[] = { counter, (const uint8_t *) label, u, v, nbits };
        const size_t lens[] = { 4, strlen(label) + 1, u_len, v_len, 4 };
        put_be32(counter, i);
        int r = hmac(md, key, key_len, parts, lens, 5, block, &len);
        if (r < 0)
            return r;
        size_t take = need - done < len ? need - done : len;
        memcpy(out + done, block, take);
        done += take;
    }
    OPENSSL_cleanse(block, sizeof(block));
    return 0;
}

/* KDFe (SP 800-56A concatenation KDF with the TPM's argument order). */
static int kdfe(const char *md,
                const uint8_t *z,
                size_t z_len,
                const char *label,
                const uint8_t *u,
                size_t u_len,
                const uint8_t *v,
                size_t v_len,
                uint8_t *out,
                size_t bytes)
{
    POSTURE_CLEANUP(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);
    uint8_t counter[4], block[SEED_MAX];
    size_t done = 0;
    bool ok = ctx && m;

    for (uint32_t i = 1; ok && done < bytes; i++) {
        unsigned len = 0;
        put_be32(counter, i);
        ok = EVP_DigestInit_ex(ctx, m, NULL) == 1 && EVP_DigestUpdate(ctx, counter, 4) == 1 &&
             EVP_DigestUpdate(ctx, z, z_len) == 1 &&
             EVP_DigestUpdate(ctx, label, strlen(label) + 1) == 1 &&
             EVP_DigestUpdate(ctx, u, u_len) == 1 && EVP_DigestUpdate(ctx, v, v_len) == 1 &&
             EVP_DigestFinal_ex(ctx, block, &len) == 1;
        if (ok) {
            size_t take = bytes - done < len ? bytes - done : len;
            memcpy(out + done, block, take);
            done += take;
        }
    }
    EVP_MD_free(m);
    OPENSSL_cleanse(block, sizeof(block));
    return ok ? 0 : openssl_error(-EIO, "KDFe");
}

/* Seed for an RSA EK: random, RSA-OAEP(nameAlg, label "IDENTITY\0"). */
static int seed_rsa(const TPMT_PUBLIC *ek,
                    const char *md,
                    uint8_t *seed,
                    size_t seed_len,
                    TPM2B_ENCRYPTED_SECRET *enc)
{
    POSTURE_CLEANUP(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    POSTURE_CLEANUP(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
    POSTURE_CLEANUP(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
    POSTURE_CLEANUP(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
    POSTURE_CLEANUP(BN_freep) BIGNUM *n = NULL;
    POSTURE_CLEANUP(BN_freep) BIGNUM *e = NULL;
    uint32_t exponent =
        ek->parameters.rsaDetail.exponent ? ek->parameters.rsaDetail.exponent : 65537;
    size_t out_len = sizeof(enc->secret);
    char *label;

    if (ek->unique.rsa.size == 0 || ek->unique.rsa.size > sizeof(enc->secret))
        return -EBADMSG;
    n = BN_bin2bn(ek->unique.rsa.buffer, ek->unique.rsa.size, NULL);
    e = BN_new();
    if (!bld || !n || !e || BN_set_word(e, exponent) != 1)
        return openssl_error(-ENOMEM, "RSA key");
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
        return openssl_error(-ENOMEM, "RSA key");
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx)
        return openssl_error(-ENOMEM, "RSA key");
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        return openssl_error(-EBADMSG, "RSA key");
    EVP_PKEY_CTX_free(ctx);
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!ctx)
        return openssl_error(-ENOMEM, "RSA context");
    if (RAND_bytes(seed, (int) seed_len) != 1)
        return openssl_error(-EIO, "random seed");
    label = OPENSSL_malloc(9);
    if (!label)
        return -ENOMEM;
    memcpy(label, "IDENTITY", 9);
    if (EVP_PKEY_encrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, md, NULL) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, md, NULL) != 1) {
        OPENSSL_free(label);
        return openssl_error(-EIO, "OAEP");
    }
    if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, 9) != 1) {
        OPENSSL_free(label);
        return openssl_error(-EIO, "OAEP label");
    }
    if (EVP_PKEY_encrypt(ctx, enc->secret, &out_len, seed, seed_len) != 1)
        return openssl_error(-EIO, "OAEP encrypt");
    enc->size = (UINT16) out_len;
    return 0;
}

static const char *group_name(TPMI_ECC_CURVE curve, size_t *ret_field)
{
    switch (curve) {
    case TPM2_ECC_NIST_P256:
        *ret_field = 32;
        return "prime256v1";
    case TPM2_ECC_NIST_P384:
        *ret_field = 48;
        return "secp384r1";
    case TPM2_ECC_NIST_P521:
        *ret_field = 66;
        return "secp521r1";
    default:
        return NULL;
    }
}

static bool padded(const TPM2B_ECC_PARAMETER *p, size_t field, uint8_t *out)
{
    if (p->size == 0 || p->size > field)
        return false;
    memset(out, 0, field);
    memcpy(out + (field - p->size), p->buffer, p->size);
    return true;
}

/* Seed for an ECC EK: ephemeral ECDH on the EK's curve, KDFe(Z, "IDENTITY", eph.x, ek.x). */
static int seed_ecc(const TPMT_PUBLIC *ek,
                    const char *md,
                    uint8_t *seed,
                    size_t seed_len,
                    TPM2B_ENCRYPTED_SECRET *enc)
{
    POSTURE_CLEANUP(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    POSTURE_CLEANUP(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
    POSTURE_CLEANUP(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
    POSTURE_CLEANUP(EVP_PKEY_freep) EVP_PKEY *peer = NULL;
    POSTURE_CLEANUP(EVP_PKEY_freep) EVP_PKEY *eph = NULL;
    POSTURE_CLEANUP(BN_freep) BIGNUM *ex = NULL;
    POSTURE_CLEANUP(BN_freep) BIGNUM *ey = NULL;
    uint8_t point[1 + 2 * 66], z[66], epx[66], epy[66];
    size_t field = 0, z_len = sizeof(z), off = 0;
    const char *group = group_name(ek->parameters.eccDetail.curveID, &field);
    TPMS_ECC_POINT ep = { 0 };
    int r;

    if (!group)
        return -EOPNOTSUPP;
    if (!bld)
        return -ENOMEM;
    point[0] = 0x04;
    if (!padded(&ek->unique.ecc.x, field, point + 1) ||
        !padded(&ek->unique.ecc.y, field, point + 1 + field))
        return -EBADMSG;
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * field) != 1)
        return openssl_error(-ENOMEM, "EK point");
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!params || !ctx)
        return openssl_error(-ENOMEM, "EK point");
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &peer, EVP_PKEY_PUBLIC_KEY, params) != 1)
        return openssl_error(-EBADMSG, "EK point");

    eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
    if (!eph)
        return openssl_error(-EIO, "ephemeral key");
    EVP_PKEY_CTX_free(ctx);
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
    if (!ctx || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
        EVP_PKEY_derive(ctx, z, &z_len) != 1)
        return openssl_error(-EIO, "ECDH");
    if (EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_X, &ex) != 1 ||
        EVP_PKEY_get_bn_param(eph, OSSL_PKEY_PARAM_EC_PUB_Y, &ey) != 1 ||
        BN_bn2binpad(ex, epx, (int) field) != (int) field ||
        BN_bn2binpad(ey, epy, (int) field) != (int) field)
        return openssl_error(-EIO, "ephemeral point");

    r = kdfe(md, z, z_len, "IDENTITY", epx, field, point + 1, field, seed, seed_len);
    OPENSSL_cleanse(z, sizeof(z));
    if (r < 0)
        return r;

    ep.x.size = ep.y.size = (UINT16) field;
    memcpy(ep.x.buffer, epx, field);
    memcpy(ep.y.buffer, epy, field);
    if (Tss2_MU_TPMS_ECC_POINT_Marshal(&ep, enc->secret, sizeof(enc->secret), &off) !=
        TSS2_RC_SUCCESS)
        return -EIO;
    enc->size = (UINT16) off;
    return 0;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

int posture_makecredential(const uint8_t *ek_public,
                           size_t ek_public_len,
                           const uint8_t *ak_name,
                           size_t ak_name_len,
                           const uint8_t *secret,
                           size_t secret_len,
                           struct posture_credential **ret)
{
    POSTURE_CLEANUP(posture_credential_freep) struct posture_credential *c = NULL;
    POSTURE_CLEANUP(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *cctx = NULL;
    TPM2B_PUBLIC pub;
    TPM2B_ENCRYPTED_SECRET enc = { 0 };
    const TPMT_SYM_DEF_OBJECT *sym;
    uint8_t seed[SEED_MAX], key[32], hkey[SEED_MAX], plain[2 + SECRET_MAX], cipher[2 + SECRET_MAX];
    uint8_t mac[SEED_MAX], buf[sizeof(TPM2B_ID_OBJECT) + 2];
    size_t offset = 0, seed_len, mac_len = 0, key_bytes;
    const char *md;
    int r, n = 0;

    POSTURE_RETURN_IF_FAIL(ek_public && ak_name && secret && ret, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ak_name_len > 2 && ak_name_len <= NAME_MAX_LEN, -EINVAL);
    POSTURE_RETURN_IF_FAIL(secret_len > 0 && secret_len <= SECRET_MAX, -EINVAL);
    if (ek_public_len < 2 || ek_public_len > sizeof(TPM2B_PUBLIC))
        return -EBADMSG;
    memset(&pub, 0, sizeof(pub));
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ek_public, ek_public_len, &offset, &pub) !=
            TSS2_RC_SUCCESS ||
        offset != ek_public_len)
        return -EBADMSG;

    md = md_name(pub.publicArea.nameAlg);
    if (!md)
        return -EOPNOTSUPP;
    seed_len = (size_t) EVP_MD_get_size(EVP_get_digestbyname(md));
    if (seed_len == 0 || seed_len > SEED_MAX)
        return -EIO;
    if (pub.publicArea.type == TPM2_ALG_RSA)
        sym = &pub.publicArea.parameters.rsaDetail.symmetric;
    else if (pub.publicArea.type == TPM2_ALG_ECC)
        sym = &pub.publicArea.parameters.eccDetail.symmetric;
    else
        return -EOPNOTSUPP;
    if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB ||
        (sym->keyBits.aes != 128 && sym->keyBits.aes != 256))
        return -EOPNOTSUPP;
    key_bytes = sym->keyBits.aes / 8;

    r = pub.publicArea.type == TPM2_ALG_RSA ? seed_rsa(&pub.publicArea, md, seed, seed_len, &enc)
                                            : seed_ecc(&pub.publicArea, md, seed, seed_len, &enc);
    if (r < 0)
        goto out;

    /* encIdentity = AES-CFB(KDFa(seed, "STORAGE", name), iv 0, TPM2B(secret)) */
    r = kdfa(md, seed, seed_len, "STORAGE", ak_name, ak_name_len, NULL, 0, key, key_bytes * 8);
    if (r < 0)
        goto out;
    plain[0] = (uint8_t) (secret_len >> 8);
    plain[1] = (uint8_t) secret_len;
    memcpy(plain + 2, secret, secret_len);
    {
        static const uint8_t iv[16] = { 0 };
        int len1 = 0, len2 = 0;
        cctx = EVP_CIPHER_CTX_new();
        if (!cctx ||
            EVP_EncryptInit_ex(cctx, key_bytes == 16 ? EVP_aes_128_cfb() : EVP_aes_256_cfb(), NULL,
                               key, iv) != 1 ||
            EVP_EncryptUpdate(cctx, cipher, &len1, plain, (int) (2 + secret_len)) != 1 ||
            EVP_EncryptFinal_ex(cctx, cipher + len1, &len2) != 1 ||
            (size_t) len1 + (size_t) len2 != 2 + secret_len) {
            r = openssl_error(-EIO, "AES-CFB");
            goto out;
        }
        n = len1 + len2;
    }

    /* outerHMAC = HMAC(KDFa(seed, "INTEGRITY"), encIdentity || name) */
    r = kdfa(md, seed, seed_len, "INTEGRITY", NULL, 0, NULL, 0, hkey, seed_len * 8);
    if (r < 0)
        goto out;
    {
        const uint8_t *parts[] = { cipher, ak_name };
        const size_t lens[] = { (size_t) n, ak_name_len };
        r = hmac(md, hkey, seed_len, parts, lens, 2, mac, &mac_len);
        if (r < 0)
            goto out;
    }

    /* TPM2B_ID_OBJECT = size || TPM2B(outerHMAC) || encIdentity */
    {
        size_t body = 2 + mac_len + (size_t) n;
        buf[0] = (uint8_t) (body >> 8);
        buf[1] = (uint8_t) body;
        buf[2] = (uint8_t) (mac_len >> 8);
        buf[3] = (uint8_t) mac_len;
        memcpy(buf + 4, mac, mac_len);
        memcpy(buf + 4 + mac_len, cipher, (size_t) n);

        c = calloc(1, sizeof(*c));
        if (!c) {
            r = -ENOMEM;
            goto out;
        }
        c->id_object = dup_bytes(buf, 2 + body);
        c->id_object_len = 2 + body;
    }
    {
        uint8_t ebuf[sizeof(enc) + 2];
        size_t eoff = 0;
        if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&enc, ebuf, sizeof(ebuf), &eoff) !=
            TSS2_RC_SUCCESS) {
            r = -EIO;
            goto out;
        }
        c->encrypted_secret = dup_bytes(ebuf, eoff);
        c->encrypted_secret_len = eoff;
    }
    if (!c->id_object || !c->encrypted_secret) {
        r = -ENOMEM;
        goto out;
    }
    *ret = POSTURE_TAKE_PTR(c);
    r = 0;
out:
    OPENSSL_cleanse(seed, sizeof(seed));
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(hkey, sizeof(hkey));
    OPENSSL_cleanse(plain, sizeof(plain));
    return r;
}
