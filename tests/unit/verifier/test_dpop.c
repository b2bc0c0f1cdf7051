/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The token paths of /v1/authz (dpop.h; GATEWAYS.md §2.4, §4.6; RFC 9449): the Authorization
 * header, the EAR (every rule refused with its own reason, old keys of the JWKS accepted), the
 * DPoP proof (every rule refused with its own reason, including alg none, HS256 keyed with the
 * public key, swapped typ, wrong htm/htu, iat ±61 s, replays, ath, jkt), the replay cache (full,
 * expiry, threads), and the decision view answering by device id. The tokens are built here by
 * hand (header and claims as text), so that each test controls every byte.
 */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "posture/b64url.h"
#include "posture/config.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"

#include "decision.h"
#include "dpop.h"
#include "testlib.h"
#include "verifier_config.h"

#define NOW    1795620000
#define TD     "corp.example"
#define ISSUER "spiffe://corp.example/verifier"
#define METHOD "GET"
#define HTU    "https://app.corp.example/admin/users"

/* ---- token building ---------------------------------------------------------------------- */

static EVP_PKEY *make_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    return k;
}

static char *thumb(EVP_PKEY *k)
{
    char *t = NULL;
    assert_int_equal(posture_key_thumbprint(k, &t), 0);
    return t;
}

static char *jwk_text(EVP_PKEY *k)
{
    cJSON *j = NULL;
    char *s = NULL;
    assert_int_equal(posture_key_jwk(k, &j), 0);
    assert_int_equal(posture_json_print(j, false, &s), 0);
    cJSON_Delete(j);
    return s;
}

static char *b64(const void *data, size_t n)
{
    char *s = NULL;
    assert_int_equal(posture_b64url_encode(data, n, &s), 0);
    return s;
}

/* raw r‖s ES256 signature of input */
static void es256_sign(EVP_PKEY *key, const char *input, uint8_t raw[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80];
    const unsigned char *p = der;
    size_t der_len = sizeof(der);
    ECDSA_SIG *sig;

    assert_non_null(md);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(
        EVP_DigestSign(md, der, &der_len, (const unsigned char *) input, strlen(input)), 1);
    EVP_MD_CTX_free(md);
    sig = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
    assert_non_null(sig);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32), 32);
    ECDSA_SIG_free(sig);
}

/* header.payload.signature: ES256 with key, else HMAC-SHA256 with secret, else no signature. */
static char *jose(const char *header, const char *payload, EVP_PKEY *key, const char *secret)
{
    char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload)), *s = NULL;
    char *input = NULL, *out = NULL;

    assert_true(asprintf(&input, "%s.%s", h, p) > 0);
    if (key) {
        uint8_t raw[64];
        es256_sign(key, input, raw);
        s = b64(raw, sizeof(raw));
    } else if (secret) {
        uint8_t mac[32];
        size_t mac_len = 0;
        assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
                                  (const unsigned char *) input, strlen(input), mac, sizeof(mac),
                                  &mac_len));
        s = b64(mac, mac_len);
    } else
        s = strdup("");
    assert_true(asprintf(&out, "%s.%s", input, s) > 0);
    free(h);
    free(p);
    free(s);
    free(input);
    return out;
}

static char *ath_of(const char *ear)
{
    uint8_t d[32];
    assert_int_equal(EVP_Digest(ear, strlen(ear), d, NULL, EVP_sha256(), NULL), 1);
    return b64(d, sizeof(d));
}

/* ---- fixture: the verifier's keys, a device key, an EAR, a replay cache ----------------- */

struct fx {
    EVP_PKEY *vkey, *old_vkey, *other_vkey; /* current, previous (still in the JWKS), foreign */
    char *vkid, *old_vkid, *other_vkid;
    EVP_PKEY *dkey, *dkey2; /* the device's key, another device's */
    char *jkt, *jkt2;
    char *dev_jwk, *dev2_jwk;
    char *ear; /* a valid EAR for the device, signed by vkey */
    struct posture_dpop_replay *replay;
    EVP_PKEY *keys[2];
    const char *kids[2];
    struct posture_dpop_http http;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->vkey = make_key();
    f->old_vkey = make_key();
    f->other_vkey = make_key();
    f->vkid = thumb(f->vkey);
    f->old_vkid = thumb(f->old_vkey);
    f->other_vkid = thumb(f->other_vkey);
    f->dkey = make_key();
    f->dkey2 = make_key();
    f->jkt = thumb(f->dkey);
    f->jkt2 = thumb(f->dkey2);
    f->dev_jwk = jwk_text(f->dkey);
    f->dev2_jwk = jwk_text(f->dkey2);
    f->keys[0] = f->vkey;
    f->keys[1] = f->old_vkey;
    f->kids[0] = f->vkid;
    f->kids[1] = f->old_vkid;
    f->http = (struct posture_dpop_http){
        .method = METHOD, .scheme = "https", .host = "app.corp.example", .path = "/admin/users"
    };
    assert_int_equal(posture_dpop_replay_new(POSTURE_DPOP_REPLAY_MIN, &f->replay), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    EVP_PKEY_free(f->vkey);
    EVP_PKEY_free(f->old_vkey);
    EVP_PKEY_free(f->other_vkey);
    EVP_PKEY_free(f->dkey);
    EVP_PKEY_free(f->dkey2);
    free(f->vkid);
    free(f->old_vkid);
    free(f->other_vkid);
    free(f->jkt);
    free(f->jkt2);
    free(f->dev_jwk);
    free(f->dev2_jwk);
    free(f->ear);
    posture_dpop_replay_free(f->replay);
    free(f);
    return 0;
}

/* EAR claims with iat/exp and optional extra members ("" for none) */
static char *ear_claims(const struct fx *f, int64_t iat, int64_t exp, const char *extra)
{
    char *s = NULL;
    assert_true(asprintf(&s,
                         "{\"iss\":\"" ISSUER "\",\"sub\":\"spiffe://" TD "/device/%s\","
                         "\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"jti\":\"ar-1\","
                         "\"cnf\":{\"jkt\":\"%s\",\"x5t#S256\":"
                         "\"tS6YZiwC1anLULKBUgaDFfFiCzIvIf6M1YCgW-IPBgc\"}%s}",
                         f->jkt, (long long) iat, (long long) iat, (long long) exp, f->jkt,
                         extra) > 0);
    return s;
}

static char *ear_header(const char *alg, const char *typ, const char *kid)
{
    char *s = NULL;
    assert_true(asprintf(&s, "{\"alg\":\"%s\",\"typ\":\"%s\",\"kid\":\"%s\"}", alg, typ, kid) > 0);
    return s;
}

/* An EAR from parts; key NULL with secret: HMAC. */
static char *make_ear(const char *alg,
                      const char *typ,
                      const char *kid,
                      const char *claims,
                      EVP_PKEY *key,
                      const char *secret)
{
    char *h = ear_header(alg, typ, kid);
    char *t = jose(h, claims, key, secret);
    free(h);
    return t;
}

static struct posture_dpop_ear_opts ear_opts(struct fx *f, int64_t now)
{
    return (struct posture_dpop_ear_opts){
        .keys = f->keys,
        .kids = f->kids,
        .n_keys = 2,
        .issuer = ISSUER,
        .trust_domain = TD,
        .require_jkt = true,
        .now = now,
    };
}

static int ear_reason(struct fx *f, const char *ear, int64_t now)
{
    struct posture_dpop_ear_opts o = ear_opts(f, now);
    struct posture_dpop_ear e = { 0 };
    int reason = -1, r;

    r = posture_dpop_ear_verify(ear, ear ? strlen(ear) : 0, &o, &reason, &e);
    if (r == 0) {
        assert_int_equal(reason, POSTURE_DPOP_OK);
        return POSTURE_DPOP_OK;
    }
    assert_int_equal(r, -EBADMSG);
    assert_true(reason > POSTURE_DPOP_OK);
    return reason;
}

static char *good_ear(struct fx *f)
{
    char *c = ear_claims(f, NOW - 10, NOW + 290, "");
    char *t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
    free(c);
    return t;
}

/* ---- Authorization ----------------------------------------------------------------------- */

static void test_authorization(void **state)
{
    const char *tok = NULL;
    size_t len = 0;
    char *big;

    (void) state;
    assert_int_equal(posture_dpop_authorization(NULL, &tok, &len), POSTURE_DPOP_SCHEME_NONE);
    assert_int_equal(posture_dpop_authorization("DPoP eyJ.a-b_c.d", &tok, &len),
                     POSTURE_DPOP_SCHEME_DPOP);
    assert_int_equal(len, strlen("eyJ.a-b_c.d"));
    assert_memory_equal(tok, "eyJ.a-b_c.d", len);
    assert_int_equal(posture_dpop_authorization("dpop   abc  ", &tok, &len),
                     POSTURE_DPOP_SCHEME_DPOP);
    assert_int_equal(len, 3);
    assert_int_equal(posture_dpop_authorization("Bearer abc==", &tok, &len),
                     POSTURE_DPOP_SCHEME_BEARER);
    assert_int_equal(len, 5);
    assert_int_equal(posture_dpop_authorization("BEARER abc", &tok, &len),
                     POSTURE_DPOP_SCHEME_BEARER);
    /* other schemes and malformed values */
    assert_int_equal(posture_dpop_authorization("Basic dXNlcjpwYXNz", &tok, &len),
                     POSTURE_DPOP_SCHEME_OTHER);
    assert_int_equal(posture_dpop_authorization("DPoP", &tok, &len), POSTURE_DPOP_SCHEME_OTHER);
    assert_int_equal(posture_dpop_authorization("DPoP ", &tok, &len), POSTURE_DPOP_SCHEME_OTHER);
    assert_int_equal(posture_dpop_authorization("DPoPabc", &tok, &len), POSTURE_DPOP_SCHEME_OTHER);
    assert_int_equal(posture_dpop_authorization("DPoP a b", &tok, &len), POSTURE_DPOP_SCHEME_OTHER);
    assert_int_equal(posture_dpop_authorization("DPoP a=b", &tok, &len), POSTURE_DPOP_SCHEME_OTHER);
    assert_int_equal(posture_dpop_authorization("DPoP a\"b", &tok, &len),
                     POSTURE_DPOP_SCHEME_OTHER);
    assert_int_equal(posture_dpop_authorization("", &tok, &len), POSTURE_DPOP_SCHEME_OTHER);
    /* oversized */
    big = malloc(POSTURE_DPOP_EAR_MAX + 16);
    assert_non_null(big);
    memcpy(big, "DPoP ", 5);
    memset(big + 5, 'a', POSTURE_DPOP_EAR_MAX + 2);
    big[5 + POSTURE_DPOP_EAR_MAX + 2] = '\0';
    assert_int_equal(posture_dpop_authorization(big, &tok, &len), POSTURE_DPOP_SCHEME_OTHER);
    big[5 + POSTURE_DPOP_EAR_MAX] = '\0';
    assert_int_equal(posture_dpop_authorization(big, &tok, &len), POSTURE_DPOP_SCHEME_DPOP);
    free(big);
}

/* ---- the EAR ----------------------------------------------------------------------------- */

static void test_ear_valid(void **state)
{
    struct fx *f = *state;
    struct posture_dpop_ear_opts o = ear_opts(f, NOW);
    struct posture_dpop_ear e = { 0 };
    char *ear = good_ear(f), *c, *t;
    int reason = -1;

    assert_int_equal(posture_dpop_ear_verify(ear, strlen(ear), &o, &reason, &e), 0);
    assert_int_equal(reason, POSTURE_DPOP_OK);
    assert_string_equal(e.device_id, f->jkt);
    assert_string_equal(e.jkt, f->jkt);
    assert_int_equal(e.exp, NOW + 290);

    /* the EAR issuer's own signer (posture_jws_sign) gives one we accept too */
    c = ear_claims(f, NOW, NOW + 300, "");
    assert_int_equal(posture_jws_sign(f->vkey, "eat+jwt", c, strlen(c), &t), 0);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_OK);
    free(t);
    /* signed by the previous key, still in the JWKS: accepted */
    t = make_ear("ES256", "eat+jwt", f->old_vkid, c, f->old_vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_OK);
    free(t);
    free(c);

    /* without cnf.jkt: fine for Bearer (require_jkt off), refused for DPoP */
    assert_true(asprintf(&c,
                         "{\"iss\":\"" ISSUER "\",\"sub\":\"spiffe://" TD "/device/%s\","
                         "\"iat\":%d,\"exp\":%d,\"cnf\":{\"x5t#S256\":"
                         "\"tS6YZiwC1anLULKBUgaDFfFiCzIvIf6M1YCgW-IPBgc\"}}",
                         f->jkt, NOW, NOW + 300) > 0);
    t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_CNF);
    o.require_jkt = false;
    assert_int_equal(posture_dpop_ear_verify(t, strlen(t), &o, &reason, &e), 0);
    assert_string_equal(e.jkt, "");
    free(t);
    free(c);
    free(ear);
}

static void test_ear_refused(void **state)
{
    struct fx *f = *state;
    char *c = ear_claims(f, NOW - 10, NOW + 290, ""), *t, *pem = NULL;

    /* alg none, with and without a signature */
    t = make_ear("none", "eat+jwt", f->vkid, c, NULL, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_ALG);
    free(t);
    /* HS256 keyed with our public key (the classic key-confusion attack) */
    assert_int_equal(posture_key_public_pem(f->vkey, &pem), 0);
    t = make_ear("HS256", "eat+jwt", f->vkid, c, NULL, pem);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_ALG);
    free(t);
    t = make_ear("HS256", "eat+jwt", f->vkid, c, NULL, f->vkid);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_ALG);
    free(t);
    free(pem);
    t = make_ear("ES384", "eat+jwt", f->vkid, c, f->vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_ALG);
    free(t);
    /* typ swapped: a DPoP proof's, a posture report's */
    t = make_ear("ES256", "dpop+jwt", f->vkid, c, f->vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_TYP);
    free(t);
    t = make_ear("ES256", "posture+jwt", f->vkid, c, f->vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_TYP);
    free(t);
    /* signed by an unknown key, with its own kid or with ours */
    t = make_ear("ES256", "eat+jwt", f->other_vkid, c, f->other_vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_KID_UNKNOWN);
    free(t);
    t = make_ear("ES256", "eat+jwt", f->vkid, c, f->other_vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_SIGNATURE);
    free(t);
    /* the device signing an EAR for itself */
    t = make_ear("ES256", "eat+jwt", f->jkt, c, f->dkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_KID_UNKNOWN);
    free(t);
    /* a tampered payload */
    t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
    {
        char *dot = strchr(t, '.');
        dot[3] = dot[3] == 'A' ? 'B' : 'A';
    }
    assert_true(ear_reason(f, t, NOW) == POSTURE_DPOP_EAR_SIGNATURE);
    free(t);
    free(c);

    /* expiry with 60 s of skew: exp + 59 is fine, exp + 60 is not */
    c = ear_claims(f, NOW - 300, NOW, "");
    t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW + 59), POSTURE_DPOP_OK);
    assert_int_equal(ear_reason(f, t, NOW + 60), POSTURE_DPOP_EAR_EXPIRED);
    assert_int_equal(ear_reason(f, t, NOW + 3600), POSTURE_DPOP_EAR_EXPIRED);
    free(t);
    free(c);
    /* issued in the future, too long a lifetime */
    c = ear_claims(f, NOW + 61, NOW + 300, "");
    t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_TIME);
    free(t);
    free(c);
    c = ear_claims(f, NOW, NOW + 3600, "");
    t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_TIME);
    free(t);
    free(c);

    /* an audience while we issue none */
    c = ear_claims(f, NOW, NOW + 300, ",\"aud\":\"https://gw.other.example\"");
    t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_AUDIENCE);
    {
        struct posture_dpop_ear_opts o = ear_opts(f, NOW);
        struct posture_dpop_ear e;
        int reason;
        o.audience = "https://gw.other.example";
        assert_int_equal(posture_dpop_ear_verify(t, strlen(t), &o, &reason, &e), 0);
        o.audience = "https://gw.corp.example";
        assert_int_equal(posture_dpop_ear_verify(t, strlen(t), &o, &reason, &e), -EBADMSG);
        assert_int_equal(reason, POSTURE_DPOP_EAR_AUDIENCE);
    }
    free(t);
    free(c);
    c = ear_claims(f, NOW, NOW + 300, ",\"aud\":[\"a\",\"https://gw.corp.example\"]");
    t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
    {
        struct posture_dpop_ear_opts o = ear_opts(f, NOW);
        struct posture_dpop_ear e;
        int reason;
        o.audience = "https://gw.corp.example";
        assert_int_equal(posture_dpop_ear_verify(t, strlen(t), &o, &reason, &e), 0);
    }
    free(t);
    free(c);

    /* another issuer; another trust domain; a subject that is no device */
    c = ear_claims(f, NOW, NOW + 300, "");
    {
        struct posture_dpop_ear_opts o = ear_opts(f, NOW);
        struct posture_dpop_ear e;
        int reason;
        t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
        o.issuer = "spiffe://corp.example/other";
        assert_int_equal(posture_dpop_ear_verify(t, strlen(t), &o, &reason, &e), -EBADMSG);
        assert_int_equal(reason, POSTURE_DPOP_EAR_ISSUER);
        o = ear_opts(f, NOW);
        o.trust_domain = "other.example";
        assert_int_equal(posture_dpop_ear_verify(t, strlen(t), &o, &reason, &e), -EBADMSG);
        assert_int_equal(reason, POSTURE_DPOP_EAR_SUBJECT);
        o.trust_domain = "corp.exampl";
        assert_int_equal(posture_dpop_ear_verify(t, strlen(t), &o, &reason, &e), -EBADMSG);
        assert_int_equal(reason, POSTURE_DPOP_EAR_SUBJECT);
        free(t);
    }
    free(c);
    assert_true(asprintf(&c,
                         "{\"iss\":\"" ISSUER "\",\"sub\":\"spiffe://" TD "/device/\","
                         "\"iat\":%d,\"exp\":%d,\"cnf\":{\"jkt\":\"%s\"}}",
                         NOW, NOW + 300, f->jkt) > 0);
    t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_SUBJECT);
    free(t);
    free(c);
    /* a malformed cnf.jkt */
    assert_true(asprintf(&c,
                         "{\"iss\":\"" ISSUER "\",\"sub\":\"spiffe://" TD "/device/x\","
                         "\"iat\":%d,\"exp\":%d,\"cnf\":{\"jkt\":\"short\"}}",
                         NOW, NOW + 300) > 0);
    t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
    assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_CNF);
    free(t);
    free(c);

    /* malformed and oversized */
    assert_int_equal(ear_reason(f, "abc.def", NOW), POSTURE_DPOP_EAR_MALFORMED);
    assert_int_equal(ear_reason(f, "a.b.c.d", NOW), POSTURE_DPOP_EAR_MALFORMED);
    assert_int_equal(ear_reason(f, "!!!.e30.AA", NOW), POSTURE_DPOP_EAR_MALFORMED);
    assert_int_equal(ear_reason(f, "W10.e30.AA", NOW), POSTURE_DPOP_EAR_MALFORMED); /* [] */
    assert_int_equal(ear_reason(f, NULL, NOW), POSTURE_DPOP_EAR_MALFORMED);
    {
        char *pad = malloc(3000), *extra = NULL;
        assert_non_null(pad);
        memset(pad, 'p', 2999);
        pad[2999] = '\0';
        assert_true(asprintf(&extra, ",\"pad\":\"%s\"", pad) > 0);
        c = ear_claims(f, NOW, NOW + 300, extra);
        t = make_ear("ES256", "eat+jwt", f->vkid, c, f->vkey, NULL);
        assert_true(strlen(t) > POSTURE_DPOP_EAR_MAX);
        assert_int_equal(ear_reason(f, t, NOW), POSTURE_DPOP_EAR_TOO_LARGE);
        free(t);
        free(c);
        free(extra);
        free(pad);
    }
    /* a header member that picks a key */
    c = ear_claims(f, NOW, NOW + 300, "");
    {
        char *h = NULL, *jwk = jwk_text(f->other_vkey);
        assert_true(asprintf(&h,
                             "{\"alg\":\"ES256\",\"typ\":\"eat+jwt\",\"kid\":\"%s\",\"jwk\":%s}",
                             f->vkid, jwk) > 0);
        t = jose(h, c, f->other_vkey, NULL);
        assert_true(ear_reason(f, t, NOW) == POSTURE_DPOP_EAR_REFUSED);
        free(t);
        free(h);
        free(jwk);
    }
    free(c);
}

/* ---- the proof --------------------------------------------------------------------------- */

static char *proof_header(const char *typ, const char *alg, const char *jwk, const char *extra)
{
    char *s = NULL;
    assert_true(asprintf(&s, "{\"typ\":\"%s\",\"alg\":\"%s\",\"jwk\":%s%s}", typ, alg, jwk, extra) >
                0);
    return s;
}

static char *
proof_claims(const char *jti, const char *htm, const char *htu, int64_t iat, const char *ath)
{
    char *s = NULL;
    assert_true(
        asprintf(&s, "{\"jti\":\"%s\",\"htm\":\"%s\",\"htu\":\"%s\",\"iat\":%lld,\"ath\":\"%s\"}",
                 jti, htm, htu, (long long) iat, ath) > 0);
    return s;
}

/* A proof with the given parts, signed by key (or HMAC with secret, or none). */
static char *make_proof(const char *header, const char *claims, EVP_PKEY *key, const char *secret)
{
    return jose(header, claims, key, secret);
}

static int
proof_reason_at(struct fx *f, const char *proof, const char *ear, const char *jkt, int64_t now)
{
    struct posture_dpop_proof_opts o = {
        .http = &f->http,
        .ear = ear,
        .ear_len = strlen(ear),
        .jkt = jkt,
        .now = now,
        .replay = f->replay,
    };
    int reason = -1, r;

    r = posture_dpop_proof_verify(proof, proof ? strlen(proof) : 0, &o, &reason);
    if (r == 0) {
        assert_int_equal(reason, POSTURE_DPOP_OK);
        return POSTURE_DPOP_OK;
    }
    assert_int_equal(r, -EBADMSG);
    assert_true(posture_dpop_reason_is_proof(reason));
    return reason;
}

static int proof_reason(struct fx *f, const char *proof, const char *ear)
{
    return proof_reason_at(f, proof, ear, f->jkt, NOW);
}

/* A proof for the fixture request, by the device key, with a fresh jti. */
static char *good_proof(struct fx *f, const char *ear, const char *jti, int64_t iat)
{
    char *ath = ath_of(ear), *h = proof_header("dpop+jwt", "ES256", f->dev_jwk, "");
    char *c = proof_claims(jti, METHOD, HTU, iat, ath), *p = make_proof(h, c, f->dkey, NULL);
    free(ath);
    free(h);
    free(c);
    return p;
}

static void test_proof_valid(void **state)
{
    struct fx *f = *state;
    char *ear = good_ear(f), *p;

    p = good_proof(f, ear, "jti-valid-1", NOW);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_OK);
    /* the same proof again: a replay */
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_REPLAY);
    /* ... also a second later, and a minute later (the jti is remembered for the iat window) */
    assert_int_equal(proof_reason_at(f, p, ear, f->jkt, NOW + 1), POSTURE_DPOP_PROOF_REPLAY);
    assert_int_equal(proof_reason_at(f, p, ear, f->jkt, NOW + 60), POSTURE_DPOP_PROOF_REPLAY);
    /* ... and after that the iat check refuses it */
    assert_int_equal(proof_reason_at(f, p, ear, f->jkt, NOW + 61), POSTURE_DPOP_PROOF_IAT);
    free(p);

    /* iat at the edges of the window: ±60 s accepted, ±61 s refused */
    p = good_proof(f, ear, "jti-edge-1", NOW - 60);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_OK);
    free(p);
    p = good_proof(f, ear, "jti-edge-2", NOW + 60);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_OK);
    free(p);
    p = good_proof(f, ear, "jti-edge-3", NOW - 61);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_IAT);
    free(p);
    p = good_proof(f, ear, "jti-edge-4", NOW + 61);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_IAT);
    free(p);

    /* a refused proof does not use up its jti: the same jti in a valid proof passes */
    {
        char *ath = ath_of(ear), *h = proof_header("dpop+jwt", "ES256", f->dev_jwk, "");
        char *c = proof_claims("jti-reuse", "POST", HTU, NOW, ath),
             *bad = make_proof(h, c, f->dkey, NULL);
        assert_int_equal(proof_reason(f, bad, ear), POSTURE_DPOP_PROOF_HTM);
        free(bad);
        free(c);
        free(h);
        free(ath);
        p = good_proof(f, ear, "jti-reuse", NOW);
        assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_OK);
        free(p);
    }
    /* the same jti from another device's key is that device's own (jti scope is the key) */
    {
        char *c2 = NULL, *ear2, *ath2, *h2, *cl2;
        assert_true(asprintf(&c2,
                             "{\"iss\":\"" ISSUER "\",\"sub\":\"spiffe://" TD "/device/%s\","
                             "\"iat\":%d,\"exp\":%d,\"cnf\":{\"jkt\":\"%s\"}}",
                             f->jkt2, NOW, NOW + 300, f->jkt2) > 0);
        ear2 = make_ear("ES256", "eat+jwt", f->vkid, c2, f->vkey, NULL);
        assert_int_equal(ear_reason(f, ear2, NOW), POSTURE_DPOP_OK);
        ath2 = ath_of(ear2);
        h2 = proof_header("dpop+jwt", "ES256", f->dev2_jwk, "");
        cl2 = proof_claims("jti-reuse", METHOD, HTU, NOW, ath2);
        p = make_proof(h2, cl2, f->dkey2, NULL);
        assert_int_equal(proof_reason_at(f, p, ear2, f->jkt2, NOW), POSTURE_DPOP_OK);
        free(p);
        free(cl2);
        free(h2);
        free(ath2);
        free(ear2);
        free(c2);
    }
    /* htu forms that name the same request */
    {
        const char *same[] = {
            "https://APP.corp.example/admin/users",
            "HTTPS://app.corp.example:443/admin/users",
            "https://app.corp.example/admin/users?q=1",
            "https://app.corp.example/admin/users#frag",
        };
        for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
            assert_true(posture_dpop_htu_match(same[i], &f->http));
    }
    free(ear);
}

static void test_proof_refused(void **state)
{
    struct fx *f = *state;
    char *ear = good_ear(f), *ath = ath_of(ear), *pem = NULL, *h, *c, *p;

    /* missing, oversized, malformed */
    assert_int_equal(proof_reason(f, NULL, ear), POSTURE_DPOP_PROOF_MISSING);
    assert_int_equal(proof_reason(f, "abc", ear), POSTURE_DPOP_PROOF_MALFORMED);
    assert_int_equal(proof_reason(f, "a.b.c.d", ear), POSTURE_DPOP_PROOF_MALFORMED);
    assert_int_equal(proof_reason(f, "e30.e30.", ear), POSTURE_DPOP_PROOF_TYP);
    assert_int_equal(proof_reason(f, "e30=.e30.", ear), POSTURE_DPOP_PROOF_MALFORMED);
    {
        char *pad = malloc(POSTURE_DPOP_PROOF_MAX), *extra = NULL;
        assert_non_null(pad);
        memset(pad, 'p', POSTURE_DPOP_PROOF_MAX - 1);
        pad[POSTURE_DPOP_PROOF_MAX - 1] = '\0';
        assert_true(asprintf(&extra, "\"%s", pad) > 0);
        h = proof_header("dpop+jwt", "ES256", f->dev_jwk, "");
        c = proof_claims(extra + 1, METHOD, HTU, NOW, ath);
        p = make_proof(h, c, f->dkey, NULL);
        assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_TOO_LARGE);
        free(p);
        free(c);
        free(h);
        free(extra);
        free(pad);
    }

    c = proof_claims("jti-refused", METHOD, HTU, NOW, ath);
    /* typ swapped (the EAR's, none) */
    h = proof_header("eat+jwt", "ES256", f->dev_jwk, "");
    p = make_proof(h, c, f->dkey, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_TYP);
    free(p);
    free(h);
    h = proof_header("DPOP+JWT", "ES256", f->dev_jwk, "");
    p = make_proof(h, c, f->dkey, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_TYP);
    free(p);
    free(h);
    /* the EAR presented as its own proof */
    assert_int_equal(proof_reason(f, ear, ear), POSTURE_DPOP_PROOF_TYP);
    /* alg none, HS256 with the public key as the secret, others */
    h = proof_header("dpop+jwt", "none", f->dev_jwk, "");
    p = make_proof(h, c, NULL, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_ALG_NONE);
    free(p);
    free(h);
    assert_int_equal(posture_key_public_pem(f->dkey, &pem), 0);
    h = proof_header("dpop+jwt", "HS256", f->dev_jwk, "");
    p = make_proof(h, c, NULL, pem);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_ALG_HMAC);
    free(p);
    p = make_proof(h, c, NULL, f->dev_jwk);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_ALG_HMAC);
    free(p);
    free(h);
    free(pem);
    h = proof_header("dpop+jwt", "ES384", f->dev_jwk, "");
    p = make_proof(h, c, f->dkey, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_ALG_UNSUPPORTED);
    free(p);
    free(h);
    h = proof_header("dpop+jwt", "RS256", f->dev_jwk, "");
    p = make_proof(h, c, f->dkey, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_ALG_UNSUPPORTED);
    free(p);
    free(h);
    /* header members beyond typ, alg, jwk */
    h = proof_header("dpop+jwt", "ES256", f->dev_jwk, ",\"kid\":\"x\"");
    p = make_proof(h, c, f->dkey, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_HEADER_FORBIDDEN);
    free(p);
    free(h);
    h = proof_header("dpop+jwt", "ES256", f->dev_jwk, ",\"crit\":[\"x\"]");
    p = make_proof(h, c, f->dkey, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_HEADER_FORBIDDEN);
    free(p);
    free(h);
    /* jwk: missing, not an object, private, another curve */
    assert_true(asprintf(&h, "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\"}") > 0);
    p = make_proof(h, c, f->dkey, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_JWK_INVALID);
    free(p);
    free(h);
    h = proof_header("dpop+jwt", "ES256", "\"key\"", "");
    p = make_proof(h, c, f->dkey, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_JWK_INVALID);
    free(p);
    free(h);
    {
        char *priv = strdup(f->dev_jwk);
        char *with_d = NULL;
        priv[strlen(priv) - 1] = '\0';
        assert_true(asprintf(&with_d, "%s,\"d\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
                             priv) > 0);
        h = proof_header("dpop+jwt", "ES256", with_d, "");
        p = make_proof(h, c, f->dkey, NULL);
        assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_JWK_PRIVATE);
        free(p);
        free(h);
        free(with_d);
        free(priv);
    }
    h = proof_header("dpop+jwt", "ES256",
                     "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AAAA\",\"y\":\"AAAA\"}", "");
    p = make_proof(h, c, f->dkey, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_JWK_INVALID);
    free(p);
    free(h);
    /* signed by another key than its jwk; a signature of the wrong length; tampered claims */
    h = proof_header("dpop+jwt", "ES256", f->dev_jwk, "");
    p = make_proof(h, c, f->dkey2, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_SIGNATURE);
    free(p);
    p = make_proof(h, c, f->dkey, NULL);
    p[strlen(p) - 4] = '\0';
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_SIGNATURE);
    free(p);
    p = make_proof(h, c, f->dkey, NULL);
    {
        char *dot = strchr(p, '.');
        dot[5] = dot[5] == 'A' ? 'B' : 'A';
    }
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_SIGNATURE);
    free(p);
    free(c);

    /* claims: missing or mistyped */
    {
        const char *bad[] = {
            "{\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":1795620000,\"ath\":\"x\"}",
            "{\"jti\":\"\",\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":1795620000,\"ath\":\"x\"}",
            "{\"jti\":\"a\",\"htu\":\"" HTU "\",\"iat\":1795620000,\"ath\":\"x\"}",
            "{\"jti\":\"a\",\"htm\":\"GET\",\"iat\":1795620000,\"ath\":\"x\"}",
            "{\"jti\":\"a\",\"htm\":\"GET\",\"htu\":\"" HTU "\",\"ath\":\"x\"}",
            "{\"jti\":\"a\",\"htm\":\"GET\",\"htu\":\"" HTU
            "\",\"iat\":\"1795620000\",\"ath\":\"x\"}",
            "{\"jti\":\"a\",\"htm\":\"GET\",\"htu\":\"" HTU
            "\",\"iat\":1795620000.5,\"ath\":\"x\"}",
            "{\"jti\":\"a\",\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":1795620000}",
            "{\"jti\":1,\"htm\":\"GET\",\"htu\":\"" HTU "\",\"iat\":1795620000,\"ath\":\"x\"}",
            "[]",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            p = make_proof(h, bad[i], f->dkey, NULL);
            int want = i == sizeof(bad) / sizeof(bad[0]) - 1 ? POSTURE_DPOP_PROOF_MALFORMED
                                                             : POSTURE_DPOP_PROOF_CLAIM_INVALID;
            assert_int_equal(proof_reason(f, p, ear), want);
            free(p);
        }
    }
    /* htm: another method, another case */
    {
        const char *htms[] = { "POST", "get", "HEAD" };
        for (size_t i = 0; i < sizeof(htms) / sizeof(htms[0]); i++) {
            c = proof_claims("jti-htm", htms[i], HTU, NOW, ath);
            p = make_proof(h, c, f->dkey, NULL);
            assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_HTM);
            free(p);
            free(c);
        }
    }
    /* htu: another path, host, scheme, port, a prefix, relative, garbage */
    {
        const char *htus[] = {
            "https://app.corp.example/admin/other",
            "https://app.corp.example/admin/users/",
            "https://app.corp.example/admin",
            "https://evil.example/admin/users",
            "http://app.corp.example/admin/users",
            "https://app.corp.example:8443/admin/users",
            "https://user@app.corp.example/admin/users",
            "/admin/users",
            "app.corp.example/admin/users",
            "https:///admin/users",
            "https://app.corp.example/admin/Users",
        };
        for (size_t i = 0; i < sizeof(htus) / sizeof(htus[0]); i++) {
            c = proof_claims("jti-htu", METHOD, htus[i], NOW, ath);
            p = make_proof(h, c, f->dkey, NULL);
            assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_HTU);
            free(p);
            free(c);
        }
    }
    /* ath: another token's, garbage */
    {
        char *ath_other = ath_of("another.token.value");
        const char *aths[] = { ath_other, "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };
        for (size_t i = 0; i < sizeof(aths) / sizeof(aths[0]); i++) {
            c = proof_claims("jti-ath", METHOD, HTU, NOW, aths[i]);
            p = make_proof(h, c, f->dkey, NULL);
            assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_ATH);
            free(p);
            free(c);
        }
        free(ath_other);
    }
    free(h);
    /* jkt: a valid proof by another key than the EAR's cnf.jkt (a stolen EAR) */
    h = proof_header("dpop+jwt", "ES256", f->dev2_jwk, "");
    c = proof_claims("jti-jkt", METHOD, HTU, NOW, ath);
    p = make_proof(h, c, f->dkey2, NULL);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_PROOF_JKT);
    assert_int_equal(proof_reason_at(f, p, ear, "", NOW), POSTURE_DPOP_PROOF_JKT);
    free(p);
    free(c);
    free(h);
    /* the same refusals never used a replay slot: jti-jkt is still free for the device */
    p = good_proof(f, ear, "jti-jkt", NOW);
    assert_int_equal(proof_reason(f, p, ear), POSTURE_DPOP_OK);
    free(p);

    free(ath);
    free(ear);
}

/* ---- the replay cache -------------------------------------------------------------------- */

static void test_replay_full(void **state)
{
    struct posture_dpop_replay *c = NULL;
    char jti[32];
    size_t added = 0;
    int r = 0;

    (void) state;
    assert_int_equal(posture_dpop_replay_new(0, &c), -EINVAL);
    assert_int_equal(posture_dpop_replay_new(POSTURE_DPOP_REPLAY_MAX + 1, &c), -EINVAL);
    assert_int_equal(posture_dpop_replay_new(POSTURE_DPOP_REPLAY_MIN, &c), 0);
    assert_int_equal(posture_dpop_replay_add(c, NULL, "j", NOW, NOW), -EINVAL);
    assert_int_equal(posture_dpop_replay_add(c, "k", "j", 0, NOW), -EINVAL);
    /* a flood of live entries: it never grows, and fails closed (-ENOSPC) once full */
    for (size_t i = 0; i < 100000 && r == 0; i++) {
        (void) snprintf(jti, sizeof(jti), "flood-%zu", i);
        r = posture_dpop_replay_add(c, "k", jti, NOW + 60, NOW);
        if (r == 0)
            added++;
    }
    assert_int_equal(r, -ENOSPC);
    assert_true(added >= POSTURE_DPOP_REPLAY_MIN);
    assert_true(added <= 4 * POSTURE_DPOP_REPLAY_MIN);
    /* every remembered entry is still a replay while full */
    assert_int_equal(posture_dpop_replay_add(c, "k", "flood-0", NOW + 60, NOW + 1), -EEXIST);
    /* once they expire, their slots are taken again */
    for (size_t i = 0; i < added; i++) {
        (void) snprintf(jti, sizeof(jti), "later-%zu", i);
        assert_int_equal(posture_dpop_replay_add(c, "k", jti, NOW + 200, NOW + 61), 0);
    }
    /* an expired entry is no replay any more (the iat check stops such proofs) */
    assert_int_equal(posture_dpop_replay_add(c, "k2", "x", NOW + 10, NOW), 0);
    assert_int_equal(posture_dpop_replay_add(c, "k2", "x", NOW + 10, NOW + 10), -EEXIST);
    posture_dpop_replay_free(c);
    assert_null(posture_dpop_replay_free(NULL));
}

struct race {
    struct posture_dpop_replay *c;
    int wins;
    int thread;
};

static void *race_main(void *arg)
{
    struct race *r = arg;
    char jti[32];
    for (int i = 0; i < 500; i++) {
        /* one shared jti per round, and one of our own */
        (void) snprintf(jti, sizeof(jti), "shared-%d", i);
        if (posture_dpop_replay_add(r->c, "k", jti, NOW + 60, NOW) == 0)
            r->wins++;
        (void) snprintf(jti, sizeof(jti), "own-%d-%d", r->thread, i);
        if (posture_dpop_replay_add(r->c, "k", jti, NOW + 60, NOW) != 0)
            r->wins = -100000;
    }
    return NULL;
}

static void test_replay_threads(void **state)
{
    struct race races[4];
    pthread_t t[4];
    struct posture_dpop_replay *c = NULL;
    int total = 0;

    (void) state;
    assert_int_equal(posture_dpop_replay_new(16384, &c), 0);
    for (int i = 0; i < 4; i++) {
        races[i] = (struct race){ .c = c, .thread = i };
        assert_int_equal(pthread_create(&t[i], NULL, race_main, &races[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(races[i].wins >= 0);
        total += races[i].wins;
    }
    /* each shared jti was accepted exactly once */
    assert_int_equal(total, 500);
    posture_dpop_replay_free(c);
}

/* ---- the decision by device id ----------------------------------------------------------- */

static void test_decision_by_device(void **state)
{
    struct posture_decisions *d = NULL;
    struct posture_authz *a = calloc(1, sizeof(*a));
    const char *known[] = { "baseline" };
    const struct posture_decision_entry e = { .policy_id = "baseline",
                                              .policy_version = "1",
                                              .status = "affirming",
                                              .allow = true,
                                              .expires = NOW + 300,
                                              .token = "current.ear.token" };
    struct posture_decision_device dev = { .device_id = "kid-1",
                                           .subject = "spiffe://" TD "/device/kid-1",
                                           .n_entries = 1,
                                           .entries = &e };

    (void) state;
    assert_non_null(a);
    memset(dev.x5t_s256, 7, sizeof(dev.x5t_s256));
    assert_int_equal(posture_decisions_new(16, &d), 0);
    assert_int_equal(posture_decisions_put(d, &dev), 0);
    posture_decisions_authz_device(d, "kid-1", "baseline", known, 1, NOW, a);
    assert_int_equal(a->status, 200);
    assert_string_equal(a->x_token, "current.ear.token");
    assert_string_equal(a->x_device_id, "spiffe://" TD "/device/kid-1");
    /* unknown, none, unknown policy */
    posture_decisions_authz_device(d, "kid-2", "baseline", known, 1, NOW, a);
    assert_int_equal(a->status, 401);
    posture_decisions_authz_device(d, NULL, "baseline", known, 1, NOW, a);
    assert_int_equal(a->status, 401);
    posture_decisions_authz_device(d, "kid-1", "other", known, 1, NOW, a);
    assert_int_equal(a->status, 503);
    /* now failing: the view decides, not the EAR the client holds */
    {
        struct posture_decision_entry e2 = e;
        e2.status = "contraindicated";
        e2.allow = false;
        e2.failed_checks = "net.firewall";
        dev.entries = &e2;
        assert_int_equal(posture_decisions_put(d, &dev), 0);
        posture_decisions_authz_device(d, "kid-1", "baseline", known, 1, NOW, a);
        assert_int_equal(a->status, 403);
        assert_non_null(strstr(a->problem, "net.firewall"));
    }
    /* revoked (removed from the view) */
    assert_int_equal(posture_decisions_remove(d, "kid-1"), 0);
    posture_decisions_authz_device(d, "kid-1", "baseline", known, 1, NOW, a);
    assert_int_equal(a->status, 401);
    posture_decisions_free(d);
    free(a);
}

/* [authz] in verifier.conf: bearer off by default, the replay cache size bounded. */
static void diag_count(int level, const char *file, unsigned line, const char *msg, void *userdata)
{
    (void) level;
    (void) file;
    (void) line;
    (void) msg;
    (*(int *) userdata)++;
}

static int apply_conf(const char *text, struct posture_verifier_config *cfg)
{
    char *dir = posture_test_mkdtemp();
    char path[4096];
    struct posture_config *c = NULL;
    int diags = 0, r;

    assert_int_equal(posture_test_write_file(dir, "verifier.conf", text), 0);
    (void) snprintf(path, sizeof(path), "%s/verifier.conf", dir);
    assert_int_equal(posture_config_new(diag_count, &diags, &c), 0);
    r = posture_config_load(c, path, true);
    if (r >= 0) {
        assert_int_equal(posture_verifier_config_init(cfg), 0);
        r = posture_verifier_config_apply(cfg, c);
        if (r < 0)
            posture_verifier_config_done(cfg);
    }
    posture_config_free(c);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
    return r;
}

static void test_config(void **state)
{
    struct posture_verifier_config cfg;
    char *dump = NULL;
    size_t dump_len = 0;
    FILE *f;

    (void) state;
    assert_int_equal(apply_conf("# nothing\n", &cfg), 0);
    assert_false(cfg.authz_bearer);
    assert_int_equal(cfg.authz_dpop_replay_cache, POSTURE_DPOP_REPLAY_DEFAULT);
    posture_verifier_config_done(&cfg);

    assert_int_equal(apply_conf("[authz]\nbearer = yes\ndpop_replay_cache = 2048\n", &cfg), 0);
    assert_true(cfg.authz_bearer);
    assert_int_equal(cfg.authz_dpop_replay_cache, 2048);
    f = open_memstream(&dump, &dump_len);
    assert_non_null(f);
    assert_int_equal(posture_verifier_config_dump(&cfg, f), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(dump, "[authz]\nbearer = yes\ndpop_replay_cache = 2048\n"));
    free(dump);
    posture_verifier_config_done(&cfg);

    assert_int_equal(apply_conf("[authz]\nbearer = maybe\n", &cfg), -EINVAL);
    assert_int_equal(apply_conf("[authz]\ndpop_replay_cache = 1023\n", &cfg), -EINVAL);
    assert_int_equal(apply_conf("[authz]\ndpop_replay_cache = 16777217\n", &cfg), -EINVAL);
    assert_int_equal(apply_conf("[authz]\ndpop_replay_cache = -1\n", &cfg), -EINVAL);
}

static void test_reason_strings(void **state)
{
    (void) state;
    for (int i = 0; i < POSTURE_DPOP_REASON__MAX; i++) {
        const char *s = posture_dpop_reason_to_string(i);
        assert_non_null(s);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(s, posture_dpop_reason_to_string(j));
        assert_int_equal(posture_dpop_reason_is_proof(i), strncmp(s, "proof-", 6) == 0);
    }
    assert_null(posture_dpop_reason_to_string(-1));
    assert_null(posture_dpop_reason_to_string(POSTURE_DPOP_REASON__MAX));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authorization),
        cmocka_unit_test_setup_teardown(test_ear_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ear_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proof_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proof_refused, setup, teardown),
        cmocka_unit_test(test_replay_full),
        cmocka_unit_test(test_replay_threads),
        cmocka_unit_test(test_decision_by_device),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_reason_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
