/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the token paths of /v1/authz (dpop.h). The first byte picks what the rest is:
 *   '0'  raw text "AUTHORIZATION\nPROOF\nEAR": the Authorization parser, the proof verifier
 *        (header, jwk, signature parsing) and the EAR verifier on untrusted bytes, and the
 *        proof's text as an htu
 *   '1'  "HEADER\nCLAIMS": a proof signed here by the device key over the given JOSE header and
 *        claims texts, so that the claims checks (htm, htu, iat, ath, jkt, the replay cache)
 *        are reached too; "DEVICE" (with its quotes) in the header becomes the device's
 *        public JWK, and "ATH" in the claims the right ath
 *   '2'  "CLAIMS": an EAR signed here by the verifier's key (header fixed) over the claims
 * anything else: as '0'. Nothing may crash or leak, and a success must satisfy the documented
 * bounds.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "posture/b64url.h"
#include "posture/key.h"

#include "dpop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1795620000

static EVP_PKEY *vkey, *dkey;
static char *vkid, *dkid, *djwk;
static const char fixed_ear[] = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln";
static char fixed_ath[POSTURE_DPOP_JKT_LEN + 1];
static struct posture_dpop_replay *replay;

static void init(void)
{
    if (vkey)
        return;
    vkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    dkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!vkey || !dkey || posture_key_thumbprint(vkey, &vkid) < 0 ||
        posture_key_thumbprint(dkey, &dkid) < 0 ||
        posture_dpop_replay_new(POSTURE_DPOP_REPLAY_MIN, &replay) < 0)
        abort();
    {
        cJSON *j = NULL;
        uint8_t d[32];
        if (posture_key_jwk(dkey, &j) < 0 || !(djwk = cJSON_PrintUnformatted(j)) ||
            EVP_Digest(fixed_ear, strlen(fixed_ear), d, NULL, EVP_sha256(), NULL) != 1 ||
            posture_b64url_encode_buf(d, sizeof(d), fixed_ath, sizeof(fixed_ath)) < 0)
            abort();
        cJSON_Delete(j);
    }
}

/* s with the first occurrence of what replaced by with (a new string), or a copy. */
static char *substitute(const char *s, size_t n, const char *what, const char *with)
{
    const char *at = memmem(s, n, what, strlen(what));
    char *out = NULL;

    if (!at)
        return strndup(s, n);
    if (asprintf(&out, "%.*s%s%.*s", (int) (at - s), s, with,
                 (int) (n - (size_t) (at - s) - strlen(what)), at + strlen(what)) < 0)
        return NULL;
    return out;
}

/* "b64(header).b64(payload).b64(sig)" signed by key; NULL on any failure. */
static char *sign(EVP_PKEY *key, const char *header, size_t hlen, const char *payload, size_t plen)
{
    char *h = NULL, *p = NULL, *s = NULL, *input = NULL, *out = NULL;
    unsigned char der[80];
    const unsigned char *q = der;
    size_t der_len = sizeof(der);
    uint8_t raw[64];
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *sig = NULL;

    if (posture_b64url_encode(header, hlen, &h) < 0 ||
        posture_b64url_encode(payload, plen, &p) < 0 || asprintf(&input, "%s.%s", h, p) < 0)
        goto out;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, der, &der_len, (const unsigned char *) input, strlen(input)) != 1)
        goto out;
    sig = d2i_ECDSA_SIG(NULL, &q, (long) der_len);
    if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32 ||
        posture_b64url_encode(raw, sizeof(raw), &s) < 0)
        goto out;
    if (asprintf(&out, "%s.%s", input, s) < 0)
        out = NULL;
out:
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    free(h);
    free(p);
    free(s);
    free(input);
    return out;
}

static void check_ear(const char *ear, size_t len)
{
    EVP_PKEY *keys[] = { vkey };
    const char *kids[] = { vkid };
    struct posture_dpop_ear e;
    int reason = 0;
    struct posture_dpop_ear_opts o = {
        .keys = keys,
        .kids = kids,
        .n_keys = 1,
        .issuer = "spiffe://test.example/verifier",
        .trust_domain = "test.example",
        .require_jkt = len % 2 == 0,
        .now = NOW,
    };

    if (posture_dpop_ear_verify(ear, len, &o, &reason, &e) == 0) {
        size_t n = strlen(e.device_id), j = strlen(e.jkt);
        if (reason != POSTURE_DPOP_OK || n == 0 || n > POSTURE_STORE_DEVICE_ID_MAX ||
            (j != 0 && j != POSTURE_DPOP_JKT_LEN) || (o.require_jkt && j == 0))
            abort();
    } else if (reason < 0 || reason >= POSTURE_DPOP_REASON__MAX)
        abort();
}

static void check_proof(const char *proof, size_t len)
{
    static const struct posture_dpop_http http = {
        .method = "GET", .scheme = "https", .host = "app.test.example", .path = "/admin/users"
    };
    struct posture_dpop_proof_opts o = {
        .http = &http,
        .ear = fixed_ear,
        .ear_len = sizeof(fixed_ear) - 1,
        .jkt = dkid,
        .now = NOW,
        .replay = replay,
    };
    int reason = 0, r;

    r = posture_dpop_proof_verify(proof, len, &o, &reason);
    if (r == -EBADMSG && !posture_dpop_reason_is_proof(reason))
        abort();
    if (r == 0 && reason != POSTURE_DPOP_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text, *nl1, *nl2, *t;
    const char *token = NULL;
    size_t len = 0;

    init();
    if (size == 0 || size > 64 * 1024)
        return 0;
    text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    nl1 = strchr(text, '\n');
    nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;

    switch (data[0]) {
    case '1':
        if (nl1) {
            char *h = substitute(text, (size_t) (nl1 - text), "\"DEVICE\"", djwk);
            char *c = substitute(nl1 + 1, strlen(nl1 + 1), "ATH", fixed_ath);
            t = h && c ? sign(dkey, h, strlen(h), c, strlen(c)) : NULL;
            if (t)
                check_proof(t, strlen(t));
            free(t);
            free(h);
            free(c);
        }
        break;
    case '2': {
        static const char h[] = "{\"alg\":\"ES256\",\"typ\":\"eat+jwt\",\"kid\":\"x\"}";
        t = sign(vkey, h, strlen(h), text, strlen(text));
    }
        if (t)
            check_ear(t, strlen(t));
        free(t);
        /* and with our kid */
        {
            char *h = NULL;
            if (asprintf(&h, "{\"alg\":\"ES256\",\"typ\":\"eat+jwt\",\"kid\":\"%s\"}", vkid) > 0) {
                t = sign(vkey, h, strlen(h), text, strlen(text));
                if (t)
                    check_ear(t, strlen(t));
                free(t);
            }
            free(h);
        }
        break;
    default:
        if (nl1)
            *nl1 = '\0';
        if (nl2)
            *nl2 = '\0';
        {
            enum posture_dpop_scheme s = posture_dpop_authorization(text, &token, &len);
            if ((s == POSTURE_DPOP_SCHEME_DPOP || s == POSTURE_DPOP_SCHEME_BEARER) &&
                (!token || len == 0 || len > strlen(text)))
                abort();
            if (token && (s == POSTURE_DPOP_SCHEME_DPOP || s == POSTURE_DPOP_SCHEME_BEARER))
                check_ear(token, len);
        }
        if (nl1) {
            check_proof(nl1 + 1, strlen(nl1 + 1));
            (void) posture_dpop_htu_match(nl1 + 1, &(struct posture_dpop_http){
                                                       .method = "GET",
                                                       .scheme = "https",
                                                       .host = "app.test.example",
                                                       .path = "/admin/users",
                                                   });
        }
        if (nl2)
            check_ear(nl2 + 1, strlen(nl2 + 1));
        break;
    }
    free(text);
    return 0;
}
