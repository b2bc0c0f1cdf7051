/* SPDX-License-Identifier: Apache-2.0 */
/* Compact JWS, ES256 only: signing for the agent, strict verification for the verifier. */

#include "posture/jws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "posture/b64url.h"
#include "posture/err.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/ossl.h"
#include "posture/strbuf.h"

#define SIG_LEN 64

/* The order n of P-256 (SEC 2 §2.4.2), big-endian. */
static const uint8_t p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

static const char *const reason_table[POSTURE_JWS_REASON__MAX] = {
    [POSTURE_JWS_OK] = "ok",
    [POSTURE_JWS_TOO_LARGE] = "jws-too-large",
    [POSTURE_JWS_MALFORMED] = "jws-malformed",
    [POSTURE_JWS_BAD_BASE64] = "jws-bad-base64url",
    [POSTURE_JWS_BAD_HEADER] = "jws-header-invalid",
    [POSTURE_JWS_BAD_PAYLOAD] = "jws-payload-invalid",
    [POSTURE_JWS_ALG_MISSING] = "jws-alg-missing",
    [POSTURE_JWS_ALG_NONE] = "jws-alg-none",
    [POSTURE_JWS_ALG_HMAC] = "jws-alg-hmac",
    [POSTURE_JWS_ALG_RSA] = "jws-alg-rsa",
    [POSTURE_JWS_ALG_UNSUPPORTED] = "jws-alg-unsupported",
    [POSTURE_JWS_TYP_MISMATCH] = "jws-typ-mismatch",
    [POSTURE_JWS_KID_MISMATCH] = "jws-kid-mismatch",
    [POSTURE_JWS_HEADER_FORBIDDEN] = "jws-header-forbidden",
    [POSTURE_JWS_KEY_UNSUITABLE] = "jws-key-unsuitable",
    [POSTURE_JWS_SIGNATURE_LENGTH] = "jws-signature-length",
    [POSTURE_JWS_SIGNATURE_RANGE] = "jws-signature-out-of-range",
    [POSTURE_JWS_SIGNATURE_INVALID] = "jws-signature-invalid",
    [POSTURE_JWS_CLAIM_INVALID] = "jws-claim-invalid",
    [POSTURE_JWS_EXPIRED] = "jws-expired",
    [POSTURE_JWS_NOT_YET_VALID] = "jws-not-yet-valid",
    [POSTURE_JWS_ISSUED_IN_FUTURE] = "jws-iat-in-future",
    [POSTURE_JWS_LIFETIME_TOO_LONG] = "jws-lifetime-too-long",
};

const char *posture_jws_reason_to_string(int reason)
{
    if (reason < 0 || reason >= POSTURE_JWS_REASON__MAX)
        return NULL;
    return reason_table[reason];
}

static void openssl_freep(unsigned char **p)
{
    OPENSSL_free(*p);
}

struct posture_jws *posture_jws_free(struct posture_jws *jws)
{
    if (!jws)
        return NULL;
    cJSON_Delete(jws->header);
    cJSON_Delete(jws->payload);
    free(jws->payload_raw);
    free(jws);
    return NULL;
}

/* The header {"alg":"ES256","typ":typ,"kid":kid}, compact. */
static int build_header(const char *typ, const char *kid, char **ret)
{
    posture_auto_cjson cJSON *h = cJSON_CreateObject();
    int r;

    if (!h)
        return -ENOMEM;
    r = posture_json_add_str(h, "alg", "ES256");
    if (r >= 0)
        r = posture_json_add_str(h, "typ", typ);
    if (r >= 0)
        r = posture_json_add_str(h, "kid", kid);
    if (r < 0)
        return r;
    return posture_json_print(h, false, ret);
}

/*
 * ECDSA over SHA-256 of input; the DER signature OpenSSL gives becomes raw r‖s. The digest is
 * computed here and only the 32 bytes are signed, in the key's own library context with its
 * property query (posture_key_libctx(): a TPM key must be signed by its provider, never
 * exported to the default one; a file key has neither and uses the default context). For a TPM
 * key that is one TPM2_Sign, not a TPM hash sequence over the whole token.
 */
static int sign_raw(EVP_PKEY *key, const char *input, size_t len, uint8_t raw[SIG_LEN])
{
    POSTURE_CLEANUP(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
    POSTURE_CLEANUP(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
    POSTURE_CLEANUP(openssl_freep) unsigned char *der = NULL;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    const unsigned char *p;
    const BIGNUM *r = NULL, *s = NULL;
    size_t der_len = 0;

    if (!EVP_Digest(input, len, digest, &digest_len, EVP_sha256(), NULL) || digest_len != 32) {
        posture_ossl_drain("ES256 digest");
        return -EIO;
    }
    ctx = EVP_PKEY_CTX_new_from_pkey(posture_key_libctx(key), key, posture_key_propq(key));
    if (!ctx)
        return -ENOMEM;
    if (EVP_PKEY_sign_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_sign(ctx, NULL, &der_len, digest, digest_len) != 1 || der_len == 0) {
        posture_ossl_drain("ES256 sign");
        return -EIO;
    }
    der = OPENSSL_malloc(der_len);
    if (!der)
        return -ENOMEM;
    if (EVP_PKEY_sign(ctx, der, &der_len, digest, digest_len) != 1) {
        posture_ossl_drain("ES256 sign");
        return -EIO;
    }
    p = der;
    sig = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
    if (!sig || p != der + der_len) {
        posture_ossl_drain("ES256 signature DER");
        return -EIO;
    }
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
        return -EIO;
    return 0;
}

int posture_jws_sign(EVP_PKEY *key, const char *typ, const void *payload, size_t len, char **ret)
{
    posture_autofree char *kid = NULL;
    int r;

    POSTURE_RETURN_IF_FAIL(key && typ && ret, -EINVAL);
    POSTURE_RETURN_IF_FAIL(payload || len == 0, -EINVAL);

    r = posture_key_check_p256(key);
    if (r < 0)
        return r;
    if (len > POSTURE_JWS_MAX_SIZE)
        return -E2BIG;
    r = posture_key_thumbprint(key, &kid);
    if (r < 0)
        return r;
    return posture_jws_sign_kid(key, kid, typ, payload, len, ret);
}

int posture_jws_overhead(const char *typ, const char *kid, size_t *ret)
{
    posture_autofree char *header = NULL;
    int r;

    POSTURE_RETURN_IF_FAIL(typ && kid && ret, -EINVAL);
    r = build_header(typ, kid, &header);
    if (r < 0)
        return r;
    /* header "." payload "." signature (64 bytes r‖s) */
    *ret = posture_b64url_encoded_len(strlen(header)) + 2 + posture_b64url_encoded_len(SIG_LEN);
    return 0;
}

int posture_jws_sign_kid(
    EVP_PKEY *key, const char *kid, const char *typ, const void *payload, size_t len, char **ret)
{
    posture_auto_strbuf struct posture_strbuf sb = POSTURE_STRBUF_INIT(POSTURE_JWS_MAX_SIZE);
    posture_autofree char *header = NULL, *h64 = NULL, *p64 = NULL;
    char s64[POSTURE_KEY_THUMBPRINT_LEN * 2 + 2];
    uint8_t raw[SIG_LEN];
    char *out;
    int r;

    POSTURE_RETURN_IF_FAIL(key && kid && typ && ret, -EINVAL);
    POSTURE_RETURN_IF_FAIL(payload || len == 0, -EINVAL);
    if (len > POSTURE_JWS_MAX_SIZE)
        return -E2BIG;
    r = build_header(typ, kid, &header);
    if (r < 0)
        return r;
    r = posture_b64url_encode(header, strlen(header), &h64);
    if (r >= 0)
        r = posture_b64url_encode(payload, len, &p64);
    if (r < 0)
        return r;

    r = posture_strbuf_puts(&sb, h64);
    if (r >= 0)
        r = posture_strbuf_putc(&sb, '.');
    if (r >= 0)
        r = posture_strbuf_puts(&sb, p64);
    if (r < 0)
        return r;

    r = sign_raw(key, sb.buf, sb.len, raw);
    if (r < 0)
        return r;
    r = posture_b64url_encode_buf(raw, sizeof(raw), s64, sizeof(s64));
    if (r >= 0)
        r = posture_strbuf_putc(&sb, '.');
    if (r >= 0)
        r = posture_strbuf_puts(&sb, s64);
    if (r < 0)
        return r;

    out = posture_strbuf_steal(&sb);
    if (!out)
        return -ENOMEM;
    *ret = out;
    return 0;
}

/* 0 < v < n for a 32-byte big-endian v. */
static bool scalar_in_range(const uint8_t v[32])
{
    bool zero = true;

    for (size_t i = 0; i < 32; i++)
        if (v[i] != 0)
            zero = false;
    if (zero)
        return false;
    return memcmp(v, p256_order, 32) < 0;
}

/* Verify raw r‖s over input: 1 valid, 0 invalid, <0 error. */
static int verify_raw(EVP_PKEY *key, const char *input, size_t len, const uint8_t raw[SIG_LEN])
{
    POSTURE_CLEANUP(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
    POSTURE_CLEANUP(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
    POSTURE_CLEANUP(openssl_freep) unsigned char *der = NULL;
    POSTURE_CLEANUP(BN_freep) BIGNUM *r = NULL;
    POSTURE_CLEANUP(BN_freep) BIGNUM *s = NULL;
    int der_len, k;

    r = BN_bin2bn(raw, 32, NULL);
    s = BN_bin2bn(raw + 32, 32, NULL);
    sig = ECDSA_SIG_new();
    if (!r || !s || !sig)
        return -ENOMEM;
    if (ECDSA_SIG_set0(sig, r, s) != 1)
        return -ENOMEM;
    r = s = NULL; /* owned by sig now */
    der_len = i2d_ECDSA_SIG(sig, &der);
    if (der_len <= 0) {
        posture_ossl_drain("ES256 signature DER");
        return -ENOMEM;
    }

    md = EVP_MD_CTX_new();
    if (!md)
        return -ENOMEM;
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) != 1) {
        posture_ossl_drain("ES256 verify init");
        return -EIO;
    }
    k = EVP_DigestVerify(md, der, (size_t) der_len, (const unsigned char *) input, len);
    if (k != 1) {
        posture_ossl_drain("ES256 verify");
        return 0;
    }
    return 1;
}

static int classify_alg(const cJSON *alg)
{
    const char *a;

    if (!cJSON_IsString(alg) || !alg->valuestring)
        return POSTURE_JWS_ALG_MISSING;
    a = alg->valuestring;
    if (strcasecmp(a, "none") == 0)
        return POSTURE_JWS_ALG_NONE;
    if (strncmp(a, "HS", 2) == 0)
        return POSTURE_JWS_ALG_HMAC;
    if (strncmp(a, "RS", 2) == 0 || strncmp(a, "PS", 2) == 0)
        return POSTURE_JWS_ALG_RSA;
    if (strcmp(a, "ES256") != 0)
        return POSTURE_JWS_ALG_UNSUPPORTED;
    return POSTURE_JWS_OK;
}

static int check_header(const cJSON *h, EVP_PKEY *key, const char *typ, const char *key_kid)
{
    posture_autofree char *thumb = NULL;
    const cJSON *item;
    const char *t, *kid;
    int reason;

    reason = classify_alg(cJSON_GetObjectItemCaseSensitive(h, "alg"));
    if (reason != POSTURE_JWS_OK)
        return reason;
    /* Nothing in the token may pick the key or add semantics: jwk, jku, x5u, x5c, crit … */
    cJSON_ArrayForEach(item, h)
    {
        if (!item->string || (strcmp(item->string, "alg") != 0 &&
                              strcmp(item->string, "typ") != 0 && strcmp(item->string, "kid") != 0))
            return POSTURE_JWS_HEADER_FORBIDDEN;
    }
    t = posture_json_get_str(h, "typ");
    if (!t || strcmp(t, typ) != 0)
        return POSTURE_JWS_TYP_MISMATCH;
    if (posture_key_check_p256(key) < 0 || (!key_kid && posture_key_thumbprint(key, &thumb) < 0))
        return POSTURE_JWS_KEY_UNSUITABLE;
    const char *want = key_kid ? key_kid : thumb;
    kid = posture_json_get_str(h, "kid");
    if (!kid || strlen(kid) != strlen(want) || CRYPTO_memcmp(kid, want, strlen(want)) != 0)
        return POSTURE_JWS_KID_MISMATCH;
    return POSTURE_JWS_OK;
}

/* -EBADMSG/-EINVAL/-ERANGE from the getter all mean the same here: no usable claim. */
static int get_time_claim(const cJSON *payload, const char *name, bool required, int64_t *ret)
{
    int r;

    if (!required && !cJSON_GetObjectItemCaseSensitive(payload, name))
        return 0;
    r = posture_json_get_int(payload, name, ret);
    if (r < 0 || *ret < 0)
        return -EBADMSG;
    return 1;
}

static int check_claims(const cJSON *payload, const struct posture_jws_verify_opts *opts)
{
    int64_t iat = 0, exp = 0, nbf = 0;
    int has_nbf;

    if (get_time_claim(payload, "iat", true, &iat) < 0 ||
        get_time_claim(payload, "exp", true, &exp) < 0)
        return POSTURE_JWS_CLAIM_INVALID;
    has_nbf = get_time_claim(payload, "nbf", false, &nbf);
    if (has_nbf < 0)
        return POSTURE_JWS_CLAIM_INVALID;

    if (iat > opts->now + POSTURE_JWS_SKEW_SEC)
        return POSTURE_JWS_ISSUED_IN_FUTURE;
    if (has_nbf && nbf > opts->now + POSTURE_JWS_SKEW_SEC)
        return POSTURE_JWS_NOT_YET_VALID;
    if (opts->now >= exp + POSTURE_JWS_SKEW_SEC)
        return POSTURE_JWS_EXPIRED;
    if (exp < iat || (opts->max_lifetime_sec > 0 && exp - iat > (int64_t) opts->max_lifetime_sec))
        return POSTURE_JWS_LIFETIME_TOO_LONG;
    return POSTURE_JWS_OK;
}

static int refuse(int *reason, int code)
{
    if (reason)
        *reason = code;
    log_debug("JWS refused: %s", posture_jws_reason_to_string(code));
    return -EBADMSG;
}

int posture_jws_verify(const char *token,
                       size_t len,
                       EVP_PKEY *key,
                       const struct posture_jws_verify_opts *opts,
                       int *reason,
                       struct posture_jws **ret)
{
    posture_auto_jws struct posture_jws *jws = NULL;
    posture_autofree uint8_t *header_raw = NULL;
    posture_autofree uint8_t *payload_raw = NULL;
    posture_auto_cjson cJSON *header = NULL;
    const char *dot1, *dot2;
    uint8_t sig[SIG_LEN];
    size_t header_len = 0, payload_len = 0, signed_len;
    int r, code;

    if (reason)
        *reason = POSTURE_JWS_OK;
    POSTURE_RETURN_IF_FAIL(token || len == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(key && opts && opts->typ && ret, -EINVAL);

    if (len > POSTURE_JWS_MAX_SIZE)
        return refuse(reason, POSTURE_JWS_TOO_LARGE);

    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)))
        return refuse(reason, POSTURE_JWS_MALFORMED);
    signed_len = (size_t) (dot2 - token);

    r = posture_b64url_decode(token, (size_t) (dot1 - token), POSTURE_JWS_MAX_SIZE, &header_raw,
                              &header_len);
    if (r == -ENOMEM)
        return r;
    if (r >= 0)
        r = posture_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), POSTURE_JWS_MAX_SIZE,
                                  &payload_raw, &payload_len);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return refuse(reason, POSTURE_JWS_BAD_BASE64);
    if (!posture_b64url_check(dot2 + 1, len - signed_len - 1, 0, SIZE_MAX))
        return refuse(reason, POSTURE_JWS_BAD_BASE64);
    r = posture_json_parse((const char *) header_raw, header_len, POSTURE_JWS_MAX_SIZE,
                           POSTURE_JWS_JSON_MAX_DEPTH, &header);
    if (r == -ENOMEM)
        return r;
    if (r < 0 || !cJSON_IsObject(header))
        return refuse(reason, POSTURE_JWS_BAD_HEADER);
    code = check_header(header, key, opts->typ, opts->key_kid);
    if (code != POSTURE_JWS_OK)
        return refuse(reason, code);

    /* After the header, so that "alg":"none" with an empty signature says what it is. */
    r = posture_b64url_decode_buf(dot2 + 1, len - signed_len - 1, sig, sizeof(sig));
    if (r != SIG_LEN)
        return refuse(reason, POSTURE_JWS_SIGNATURE_LENGTH);
    if (!scalar_in_range(sig) || !scalar_in_range(sig + 32))
        return refuse(reason, POSTURE_JWS_SIGNATURE_RANGE);
    r = verify_raw(key, token, signed_len, sig);
    if (r < 0)
        return r;
    if (r == 0)
        return refuse(reason, POSTURE_JWS_SIGNATURE_INVALID);

    jws = calloc(1, sizeof(*jws));
    if (!jws)
        return -ENOMEM;
    r = posture_json_parse((const char *) payload_raw, payload_len, POSTURE_JWS_MAX_SIZE, 0,
                           &jws->payload);
    if (r == -ENOMEM)
        return r;
    if (r < 0 || !cJSON_IsObject(jws->payload))
        return refuse(reason, POSTURE_JWS_BAD_PAYLOAD);
    code = check_claims(jws->payload, opts);
    if (code != POSTURE_JWS_OK)
        return refuse(reason, code);

    jws->header = POSTURE_TAKE_PTR(header);
    jws->payload_raw = (char *) POSTURE_TAKE_PTR(payload_raw);
    jws->payload_len = payload_len;
    *ret = POSTURE_TAKE_PTR(jws);
    return 0;
}
