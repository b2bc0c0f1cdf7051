/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "posture/b64url.h"
#include "posture/jws.h"
#include "posture/key.h"

#include "testlib.h"

#define NOW 1795620700LL

static EVP_PKEY *key, *other_key;
static char *kid;

static int setup(void **state)
{
    (void) state;
    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!key || !other_key || posture_key_thumbprint(key, &kid) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
    free(kid);
    return 0;
}

static const struct posture_jws_verify_opts report_opts = {
    .typ = POSTURE_JWS_TYP_REPORT,
    .now = NOW,
    .max_lifetime_sec = POSTURE_REPORT_LIFETIME_SEC,
};

static char *b64(const char *s)
{
    char *out = NULL;
    assert_int_equal(posture_b64url_encode(s, strlen(s), &out), 0);
    return out;
}

/* The signature over input as raw r‖s, computed here from OpenSSL's DER independently of the
 * library's converter. */
static void raw_sign(EVP_PKEY *k, const char *input, uint8_t raw[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80];
    const unsigned char *p = der;
    size_t der_len = sizeof(der);
    const BIGNUM *r, *s;
    ECDSA_SIG *sig;

    assert_non_null(md);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(
        EVP_DigestSign(md, der, &der_len, (const unsigned char *) input, strlen(input)), 1);
    sig = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
    assert_non_null(sig);
    ECDSA_SIG_get0(sig, &r, &s);
    assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
    assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
}

static char *join(const char *h64, const char *p64, const char *s64)
{
    char *t = NULL;
    assert_true(asprintf(&t, "%s.%s.%s", h64, p64, s64) > 0);
    return t;
}

/* A token with any header and payload text, signed (validly) with k. */
static char *forge(EVP_PKEY *k, const char *header, const char *payload)
{
    posture_autofree char *h64 = b64(header), *p64 = b64(payload), *input = NULL, *s64 = NULL;
    uint8_t raw[64];

    assert_true(asprintf(&input, "%s.%s", h64, p64) > 0);
    raw_sign(k, input, raw);
    assert_int_equal(posture_b64url_encode(raw, 64, &s64), 0);
    return join(h64, p64, s64);
}

static char *std_header(void)
{
    char *h = NULL;
    assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"typ\":\"posture+jwt\",\"kid\":\"%s\"}", kid) >
                0);
    return h;
}

static char *claims(long long iat, long long exp)
{
    char *p = NULL;
    assert_true(asprintf(&p, "{\"iat\":%lld,\"exp\":%lld,\"sub\":\"x\"}", iat, exp) > 0);
    return p;
}

static void expect_reason_opts(const char *token,
                               size_t len,
                               EVP_PKEY *k,
                               const struct posture_jws_verify_opts *opts,
                               int expected)
{
    struct posture_jws *jws = NULL;
    int reason = -1;
    int r = posture_jws_verify(token, len, k, opts, &reason, &jws);

    if (expected == POSTURE_JWS_OK) {
        assert_int_equal(r, 0);
        assert_non_null(jws);
    } else {
        assert_int_equal(r, -EBADMSG);
        assert_null(jws);
    }
    if (reason != expected)
        fail_msg("reason %s, expected %s", posture_jws_reason_to_string(reason),
                 posture_jws_reason_to_string(expected));
    posture_jws_free(jws);
}

static void expect_reason(const char *token, int expected)
{
    expect_reason_opts(token, strlen(token), key, &report_opts, expected);
}

static void expect_forged(const char *header, const char *payload, int expected)
{
    posture_autofree char *t = forge(key, header, payload);
    expect_reason(t, expected);
}

static void test_round_trip(void **state)
{
    posture_autofree char *payload = claims(NOW, NOW + 120), *token = NULL, *h64 = NULL;
    posture_auto_jws struct posture_jws *jws = NULL;
    int reason = -1;
    (void) state;

    assert_int_equal(
        posture_jws_sign(key, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), &token), 0);
    /* The header is exactly the documented one. */
    posture_autofree char *header = std_header();
    h64 = b64(header);
    assert_memory_equal(token, h64, strlen(h64));
    assert_int_equal(token[strlen(h64)], '.');

    assert_int_equal(posture_jws_verify(token, strlen(token), key, &report_opts, &reason, &jws), 0);
    assert_int_equal(reason, POSTURE_JWS_OK);
    assert_string_equal(posture_json_get_str(jws->header, "kid"), kid);
    assert_string_equal(posture_json_get_str(jws->payload, "sub"), "x");
    assert_int_equal(jws->payload_len, strlen(payload));
    assert_memory_equal(jws->payload_raw, payload, strlen(payload));

    /* Signatures are randomised; both verify. The signature part is always 86 characters. */
    posture_autofree char *token2 = NULL;
    assert_int_equal(
        posture_jws_sign(key, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), &token2), 0);
    assert_int_equal(strlen(strrchr(token2, '.') + 1), 86);
    expect_reason(token2, POSTURE_JWS_OK);

    /* Another key does not verify it: its kid differs (and the signature would too). */
    expect_reason_opts(token, strlen(token), other_key, &report_opts, POSTURE_JWS_KID_MISMATCH);

    /* Signing refuses other keys. */
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    char *t = NULL;
    assert_int_equal(posture_jws_sign(p384, "x", "{}", 2, &t), -EKEYREJECTED);
    expect_reason_opts(token, strlen(token), p384, &report_opts, POSTURE_JWS_KEY_UNSUITABLE);
    EVP_PKEY_free(p384);
    assert_null(t);
}

/* Signing with the kid already known gives the same token shape, and the overhead computed up
 * front is exactly the token's length minus its payload part. */
static void test_sign_kid(void **state)
{
    posture_autofree char *payload = claims(NOW, NOW + 120), *token = NULL, *plain = NULL;
    size_t overhead = 0;
    (void) state;

    assert_int_equal(
        posture_jws_sign_kid(key, kid, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), &token),
        0);
    expect_reason(token, POSTURE_JWS_OK);
    assert_int_equal(
        posture_jws_sign(key, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), &plain), 0);
    /* the same header and payload parts; only the (randomised) signature differs */
    assert_int_equal(strlen(token), strlen(plain));
    assert_memory_equal(token, plain, (size_t) (strrchr(token, '.') - token));
    assert_int_equal(posture_jws_overhead(POSTURE_JWS_TYP_REPORT, kid, &overhead), 0);
    assert_int_equal(overhead, strlen(token) - posture_b64url_encoded_len(strlen(payload)));
    /* a wrong kid is signed as given (the caller's promise) and then refused by the verifier */
    posture_autofree char *wrong = NULL;
    assert_int_equal(posture_jws_sign_kid(key, "not-the-kid", POSTURE_JWS_TYP_REPORT, payload,
                                          strlen(payload), &wrong),
                     0);
    expect_reason(wrong, POSTURE_JWS_KID_MISMATCH);
    assert_int_equal(posture_jws_sign_kid(key, NULL, "x", "{}", 2, &wrong), -EINVAL);
    assert_int_equal(posture_jws_overhead(NULL, kid, &overhead), -EINVAL);
}

static void test_alg(void **state)
{
    posture_autofree char *payload = claims(NOW, NOW + 60);
    static const struct {
        const char *alg;
        int reason;
    } cases[] = {
        { "\"none\"", POSTURE_JWS_ALG_NONE },         { "\"NONE\"", POSTURE_JWS_ALG_NONE },
        { "\"HS256\"", POSTURE_JWS_ALG_HMAC },        { "\"HS512\"", POSTURE_JWS_ALG_HMAC },
        { "\"RS256\"", POSTURE_JWS_ALG_RSA },         { "\"PS256\"", POSTURE_JWS_ALG_RSA },
        { "\"ES384\"", POSTURE_JWS_ALG_UNSUPPORTED }, { "\"ES512\"", POSTURE_JWS_ALG_UNSUPPORTED },
        { "\"EdDSA\"", POSTURE_JWS_ALG_UNSUPPORTED }, { "\"es256\"", POSTURE_JWS_ALG_UNSUPPORTED },
        { "\"\"", POSTURE_JWS_ALG_UNSUPPORTED },      { "256", POSTURE_JWS_ALG_MISSING },
        { "null", POSTURE_JWS_ALG_MISSING },
    };
    (void) state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        posture_autofree char *h = NULL;
        assert_true(asprintf(&h, "{\"alg\":%s,\"typ\":\"posture+jwt\",\"kid\":\"%s\"}",
                             cases[i].alg, kid) > 0);
        expect_forged(h, payload, cases[i].reason);
    }
    /* No alg at all. */
    {
        posture_autofree char *h = NULL;
        assert_true(asprintf(&h, "{\"typ\":\"posture+jwt\",\"kid\":\"%s\"}", kid) > 0);
        expect_forged(h, payload, POSTURE_JWS_ALG_MISSING);
    }
    /* The classic unsigned token: alg none with an empty signature. */
    {
        posture_autofree char *h = NULL, *h64 = NULL, *p64 = b64(payload), *t = NULL;
        assert_true(asprintf(&h, "{\"alg\":\"none\",\"typ\":\"posture+jwt\",\"kid\":\"%s\"}", kid) >
                    0);
        h64 = b64(h);
        t = join(h64, p64, "");
        expect_reason(t, POSTURE_JWS_ALG_NONE);
    }
}

static void test_typ_kid_members(void **state)
{
    posture_autofree char *payload = claims(NOW, NOW + 60);
    static const char *const forbidden[] = {
        "\"jwk\":{\"kty\":\"EC\"}",
        "\"jku\":\"https://evil.example/jwks\"",
        "\"x5u\":\"https://evil.example/c\"",
        "\"x5c\":[\"AAAA\"]",
        "\"crit\":[\"exp\"]",
        "\"b64\":false",
        "\"cty\":\"JWT\"",
    };
    posture_autofree char *other_kid = NULL;
    (void) state;

    assert_int_equal(posture_key_thumbprint(other_key, &other_kid), 0);
    char short_kid[POSTURE_KEY_THUMBPRINT_LEN];
    memcpy(short_kid, kid, sizeof(short_kid) - 1);
    short_kid[sizeof(short_kid) - 1] = '\0';
    struct {
        const char *typ; /* JSON value, NULL: absent */
        const char *kid; /* NULL: absent */
        int reason;
    } cases[] = {
        { "\"JWT\"", kid, POSTURE_JWS_TYP_MISMATCH },
        { "\"posture+JWT\"", kid, POSTURE_JWS_TYP_MISMATCH },
        { NULL, kid, POSTURE_JWS_TYP_MISMATCH },
        { "1", kid, POSTURE_JWS_TYP_MISMATCH },
        { "\"posture+jwt\"", other_kid, POSTURE_JWS_KID_MISMATCH },
        { "\"posture+jwt\"", short_kid, POSTURE_JWS_KID_MISMATCH },
        { "\"posture+jwt\"", NULL, POSTURE_JWS_KID_MISMATCH },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        posture_autofree char *h = NULL;
        assert_true(asprintf(&h, "{\"alg\":\"ES256\"%s%s%s%s%s}", cases[i].typ ? ",\"typ\":" : "",
                             cases[i].typ ? cases[i].typ : "", cases[i].kid ? ",\"kid\":\"" : "",
                             cases[i].kid ? cases[i].kid : "", cases[i].kid ? "\"" : "") > 0);
        expect_forged(h, payload, cases[i].reason);
    }
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
        posture_autofree char *h = NULL;
        assert_true(asprintf(&h, "{\"alg\":\"ES256\",\"typ\":\"posture+jwt\",\"kid\":\"%s\",%s}",
                             kid, forbidden[i]) > 0);
        expect_forged(h, payload, POSTURE_JWS_HEADER_FORBIDDEN);
    }
    /* A different expected typ is honoured. */
    {
        posture_autofree char *h = std_header(), *t = forge(key, h, payload);
        struct posture_jws_verify_opts o = report_opts;
        o.typ = "ear+jwt";
        expect_reason_opts(t, strlen(t), key, &o, POSTURE_JWS_TYP_MISMATCH);
    }
    /* The caller's known thumbprint (key_kid) replaces the computed one: the right one
     * verifies, another kid is a mismatch even though the header names the key's own. */
    {
        posture_autofree char *h = std_header(), *t = forge(key, h, payload);
        struct posture_jws_verify_opts o = report_opts;
        o.key_kid = kid;
        expect_reason_opts(t, strlen(t), key, &o, POSTURE_JWS_OK);
        o.key_kid = other_kid;
        expect_reason_opts(t, strlen(t), key, &o, POSTURE_JWS_KID_MISMATCH);
    }
}

static void test_json(void **state)
{
    posture_autofree char *payload = claims(NOW, NOW + 60), *h = std_header();
    posture_autofree char *dup_h = NULL;
    (void) state;

    assert_true(
        asprintf(&dup_h,
                 "{\"alg\":\"ES256\",\"alg\":\"none\",\"typ\":\"posture+jwt\",\"kid\":\"%s\"}",
                 kid) > 0);
    expect_forged(dup_h, payload, POSTURE_JWS_BAD_HEADER);
    expect_forged("[\"ES256\"]", payload, POSTURE_JWS_BAD_HEADER);
    expect_forged("{\"alg\":\"ES256\"", payload, POSTURE_JWS_BAD_HEADER);
    expect_forged("", payload, POSTURE_JWS_BAD_HEADER);
    expect_forged(h, "{\"iat\":1795620700,\"exp\":1795620760,\"exp\":1895620760}",
                  POSTURE_JWS_BAD_PAYLOAD);
    expect_forged(h, "[1795620700]", POSTURE_JWS_BAD_PAYLOAD);
    expect_forged(h, "{\"iat\":1795620700,\"exp\":1795620760} x", POSTURE_JWS_BAD_PAYLOAD);
    expect_forged(h, "", POSTURE_JWS_BAD_PAYLOAD);
}

static void test_structure_and_base64(void **state)
{
    posture_autofree char *payload = claims(NOW, NOW + 60), *h = std_header();
    posture_autofree char *good = forge(key, h, payload);
    char *d1 = strchr(good, '.'), *d2 = strrchr(good, '.');
    (void) state;

    expect_reason(good, POSTURE_JWS_OK);
    expect_reason("", POSTURE_JWS_MALFORMED);
    expect_reason("abc", POSTURE_JWS_MALFORMED);
    expect_reason("a.b", POSTURE_JWS_MALFORMED);
    expect_reason("a.b.c.d", POSTURE_JWS_MALFORMED);
    {
        posture_autofree char *t = NULL;
        assert_true(asprintf(&t, "%s.", good) > 0);
        expect_reason(t, POSTURE_JWS_MALFORMED);
    }

    /* Variants of each part: padding, the standard alphabet, whitespace. */
    static const char *const inserts[] = { "=", "==", "+", "/", " ", "\n", "\t" };
    for (size_t part = 0; part < 3; part++) {
        size_t at = part == 0 ? 4 : part == 1 ? (size_t) (d1 - good) + 5 : (size_t) (d2 - good) + 5;
        for (size_t i = 0; i < sizeof(inserts) / sizeof(inserts[0]); i++) {
            posture_autofree char *t = NULL;
            assert_true(asprintf(&t, "%.*s%s%s", (int) at, good, inserts[i], good + at) > 0);
            expect_reason(t, POSTURE_JWS_BAD_BASE64);
        }
    }
    /* Non-canonical trailing bits in the signature (86 characters: the last one carries 2
     * unused bits) and in the payload. */
    {
        posture_autofree char *t = strdup(good);
        char *last = t + strlen(t) - 1;
        const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        int v = (int) (strchr(alpha, *last) - alpha);
        *last = alpha[v | 1];
        if (*last == good[strlen(good) - 1])
            *last = alpha[v | 2];
        expect_reason(t, POSTURE_JWS_BAD_BASE64);
    }
    {
        /* "{}" encodes as "e30" whose last character '0' (52) has its 2 low bits zero; "e31"
         * decodes to the same bytes non-canonically. */
        posture_autofree char *h64 = b64(h), *t = NULL;
        assert_true(asprintf(&t, "%s.e31.%s", h64, d2 + 1) > 0);
        expect_reason(t, POSTURE_JWS_BAD_BASE64);
    }
}

static void test_size(void **state)
{
    size_t n = POSTURE_JWS_MAX_SIZE + 1;
    char *big = malloc(n + 1);
    posture_autofree char *h = std_header(), *payload = NULL, *t = NULL;
    (void) state;

    assert_non_null(big);
    memset(big, 'A', n);
    big[n] = '\0';
    big[10] = '.';
    big[23] = '.';
    expect_reason_opts(big, n, key, &report_opts, POSTURE_JWS_TOO_LARGE);
    /* One byte less is parsed (and fails later, on its content). */
    expect_reason_opts(big, n - 1, key, &report_opts, POSTURE_JWS_BAD_HEADER);
    free(big);

    /* A valid token just over the limit is refused before anything else. */
    size_t pad = 48 * 1024;
    payload = malloc(pad + 64);
    assert_non_null(payload);
    int k = snprintf(payload, pad + 64, "{\"iat\":%lld,\"exp\":%lld,\"pad\":\"", NOW, NOW + 60);
    memset(payload + k, 'x', pad);
    memcpy(payload + k + pad, "\"}", 3);
    t = forge(key, h, payload);
    assert_true(strlen(t) > POSTURE_JWS_MAX_SIZE);
    expect_reason(t, POSTURE_JWS_TOO_LARGE);
    char *signed_t = NULL;
    assert_int_equal(
        posture_jws_sign(key, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), &signed_t), -E2BIG);
}

static void test_signature(void **state)
{
    posture_autofree char *payload = claims(NOW, NOW + 60), *h = std_header();
    posture_autofree char *h64 = b64(h), *p64 = b64(payload), *input = NULL;
    uint8_t raw[64], mod[64];
    (void) state;

    assert_true(asprintf(&input, "%s.%s", h64, p64) > 0);
    raw_sign(key, input, raw);

    static const uint8_t n[32] = {
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
        0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
    };
    struct {
        int part; /* 0 r, 1 s */
        const uint8_t *value;
        int reason;
    } range[] = {
        { 0, NULL, POSTURE_JWS_SIGNATURE_RANGE }, /* zero */
        { 1, NULL, POSTURE_JWS_SIGNATURE_RANGE },
        { 0, n, POSTURE_JWS_SIGNATURE_RANGE },
        { 1, n, POSTURE_JWS_SIGNATURE_RANGE },
    };
    for (size_t i = 0; i < sizeof(range) / sizeof(range[0]); i++) {
        posture_autofree char *s64 = NULL, *t = NULL;
        memcpy(mod, raw, 64);
        if (range[i].value)
            memcpy(mod + 32 * range[i].part, range[i].value, 32);
        else
            memset(mod + 32 * range[i].part, 0, 32);
        assert_int_equal(posture_b64url_encode(mod, 64, &s64), 0);
        t = join(h64, p64, s64);
        expect_reason(t, range[i].reason);
    }

    /* High s: (r, n - s) verifies as well; accepted by design (jws.h). */
    {
        posture_autofree char *s64 = NULL, *t = NULL;
        BIGNUM *bn = BN_bin2bn(n, 32, NULL), *bs = BN_bin2bn(raw + 32, 32, NULL);
        assert_non_null(bn);
        assert_non_null(bs);
        assert_int_equal(BN_sub(bs, bn, bs), 1);
        memcpy(mod, raw, 32);
        assert_int_equal(BN_bn2binpad(bs, mod + 32, 32), 32);
        BN_free(bn);
        BN_free(bs);
        assert_int_equal(posture_b64url_encode(mod, 64, &s64), 0);
        t = join(h64, p64, s64);
        expect_reason(t, POSTURE_JWS_OK);
    }
    /* One bit flipped in r, in s; the payload changed; truncated and overlong signatures. */
    for (int bit = 0; bit < 2; bit++) {
        posture_autofree char *s64 = NULL, *t = NULL;
        memcpy(mod, raw, 64);
        mod[bit ? 63 : 5] ^= 0x01;
        assert_int_equal(posture_b64url_encode(mod, 64, &s64), 0);
        t = join(h64, p64, s64);
        expect_reason(t, POSTURE_JWS_SIGNATURE_INVALID);
    }
    {
        posture_autofree char *s64 = NULL, *t = NULL, *p2 = claims(NOW, NOW + 61), *p64b = NULL;
        assert_int_equal(posture_b64url_encode(raw, 64, &s64), 0);
        p64b = b64(p2);
        t = join(h64, p64b, s64);
        expect_reason(t, POSTURE_JWS_SIGNATURE_INVALID);
        t[strlen(t) - 2] = '\0'; /* 84 characters: 63 bytes */
        expect_reason(t, POSTURE_JWS_SIGNATURE_LENGTH);
    }
    static const size_t lens[] = { 0, 32, 63, 65, 72, 128 };
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t buf[128] = { 0 };
        posture_autofree char *s64 = NULL, *t = NULL;
        memcpy(buf, raw, 64);
        assert_int_equal(posture_b64url_encode(buf, lens[i], &s64), 0);
        t = join(h64, p64, s64);
        expect_reason(t, POSTURE_JWS_SIGNATURE_LENGTH);
    }
    /* A DER signature (what OpenSSL gives) is not a JWS signature. */
    {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char der[80];
        size_t der_len = sizeof(der);
        posture_autofree char *s64 = NULL, *t = NULL;
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
        assert_int_equal(
            EVP_DigestSign(md, der, &der_len, (const unsigned char *) input, strlen(input)), 1);
        EVP_MD_CTX_free(md);
        assert_int_equal(posture_b64url_encode(der, der_len, &s64), 0);
        t = join(h64, p64, s64);
        expect_reason(t, POSTURE_JWS_SIGNATURE_LENGTH);
    }
}

static void claims_case(const char *payload, const struct posture_jws_verify_opts *o, int reason)
{
    posture_autofree char *h = std_header(), *t = forge(key, h, payload);
    expect_reason_opts(t, strlen(t), key, o, reason);
}

static void test_claims(void **state)
{
    struct {
        long long iat, exp;
        int reason;
    } cases[] = {
        { NOW, NOW + 120, POSTURE_JWS_OK },
        { NOW + 60, NOW + 120, POSTURE_JWS_OK }, /* iat in the future within the skew */
        { NOW + 61, NOW + 120, POSTURE_JWS_ISSUED_IN_FUTURE },
        { NOW - 100, NOW - 59, POSTURE_JWS_OK }, /* expired within the skew */
        { NOW - 100, NOW - 60, POSTURE_JWS_EXPIRED },
        { NOW - 1000, NOW - 900, POSTURE_JWS_EXPIRED },
        { NOW, NOW + 121, POSTURE_JWS_LIFETIME_TOO_LONG },
        { NOW, NOW - 1 + 60, POSTURE_JWS_OK },
        { NOW, NOW - 1, POSTURE_JWS_LIFETIME_TOO_LONG }, /* exp before iat */
    };
    char *p;
    (void) state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = claims(cases[i].iat, cases[i].exp);
        claims_case(p, &report_opts, cases[i].reason);
        free(p);
    }
    /* Without a lifetime bound, a long-lived token passes. */
    {
        struct posture_jws_verify_opts o = report_opts;
        o.max_lifetime_sec = 0;
        p = claims(NOW, NOW + 86400);
        claims_case(p, &o, POSTURE_JWS_OK);
        free(p);
    }
    /* nbf. */
    assert_true(asprintf(&p, "{\"iat\":%lld,\"exp\":%lld,\"nbf\":%lld}", NOW, NOW + 60, NOW + 60) >
                0);
    claims_case(p, &report_opts, POSTURE_JWS_OK);
    free(p);
    assert_true(asprintf(&p, "{\"iat\":%lld,\"exp\":%lld,\"nbf\":%lld}", NOW, NOW + 120, NOW + 61) >
                0);
    claims_case(p, &report_opts, POSTURE_JWS_NOT_YET_VALID);
    free(p);
    assert_true(asprintf(&p, "{\"iat\":%lld,\"exp\":%lld,\"nbf\":\"soon\"}", NOW, NOW + 60) > 0);
    claims_case(p, &report_opts, POSTURE_JWS_CLAIM_INVALID);
    free(p);

    static const char *const invalid[] = {
        "{\"exp\":1795620760}",
        "{\"iat\":1795620700}",
        "{\"iat\":\"1795620700\",\"exp\":1795620760}",
        "{\"iat\":1795620700.5,\"exp\":1795620760}",
        "{\"iat\":-1,\"exp\":1795620760}",
        "{\"iat\":1795620700,\"exp\":1e300}",
        "{\"iat\":null,\"exp\":1795620760}",
        "{}",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        claims_case(invalid[i], &report_opts, POSTURE_JWS_CLAIM_INVALID);
}

static void test_reasons(void **state)
{
    (void) state;
    for (int i = 0; i < POSTURE_JWS_REASON__MAX; i++) {
        const char *s = posture_jws_reason_to_string(i);
        assert_non_null(s);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(s, posture_jws_reason_to_string(j));
    }
    assert_null(posture_jws_reason_to_string(POSTURE_JWS_REASON__MAX));
    assert_null(posture_jws_reason_to_string(-1));
    assert_string_equal(posture_jws_reason_to_string(POSTURE_JWS_ALG_NONE), "jws-alg-none");

    /* Argument errors are not refusals. */
    struct posture_jws *jws = NULL;
    int reason = -1;
    assert_int_equal(posture_jws_verify("a.b.c", 5, NULL, &report_opts, &reason, &jws), -EINVAL);
    assert_int_equal(reason, POSTURE_JWS_OK);
    assert_null(posture_jws_free(NULL));
}

/* r and s are left-padded to 32 bytes: sign until one of them has a leading zero byte. */
static void test_signature_padding(void **state)
{
    static const char payload[] = "{\"iat\":1795620700,\"exp\":1795620760}";
    bool found = false;
    (void) state;

    for (int i = 0; i < 4000 && !found; i++) {
        posture_autofree char *t = NULL;
        uint8_t raw[64];

        assert_int_equal(
            posture_jws_sign(key, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), &t), 0);
        const char *s64 = strrchr(t, '.') + 1;
        assert_int_equal(posture_b64url_decode_buf(s64, strlen(s64), raw, sizeof(raw)), 64);
        if (raw[0] != 0 && raw[32] != 0)
            continue;
        found = true;
        expect_reason(t, POSTURE_JWS_OK);
    }
    assert_true(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_sign_kid),
        cmocka_unit_test(test_alg),
        cmocka_unit_test(test_typ_kid_members),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_structure_and_base64),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_signature_padding),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
