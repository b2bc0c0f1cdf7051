/* SPDX-License-Identifier: Apache-2.0 */
/* Enrolment: the request parser, the credential challenge and its activation (see enroll.h). */

#include "enroll.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <tss2/tss2_mu.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/hex.h"
#include "posture/jws.h"
#include "posture/log.h"
#include "posture/makecredential.h"
#include "posture/quote.h"

#define EK_CERT_B64_MAX   (((POSTURE_EKCERT_DER_MAX + 2) / 3) * 4)
#define TPM_PUBLIC_B64MAX (((POSTURE_STORE_AK_PUBLIC_MAX + 2) / 3) * 4)

static const char *const reason_table[POSTURE_ENROLL_REASON__MAX] = {
    [POSTURE_ENROLL_OK] = "ok",
    [POSTURE_ENROLL_REQUEST_MALFORMED] = "enroll-request-malformed",
    [POSTURE_ENROLL_TOKEN_UNKNOWN] = "enroll-token-unknown",
    [POSTURE_ENROLL_TOKEN_EXPIRED] = "enroll-token-expired",
    [POSTURE_ENROLL_TOKEN_USED] = "enroll-token-used",
    [POSTURE_ENROLL_DEVICE_EXISTS] = "enroll-device-exists",
    [POSTURE_ENROLL_IDENTITY_IN_USE] = "enroll-identity-in-use",
    [POSTURE_ENROLL_EK_NOT_CONFIGURED] = "enroll-ek-roots-missing",
    [POSTURE_ENROLL_EK_CERT_MALFORMED] = "ek-cert-malformed",
    [POSTURE_ENROLL_EK_PUBLIC_MALFORMED] = "ek-public-malformed",
    [POSTURE_ENROLL_EK_UNSUPPORTED] = "ek-key-unsupported",
    [POSTURE_ENROLL_EK_UNTRUSTED] = "ek-cert-untrusted",
    [POSTURE_ENROLL_EK_EXPIRED] = "ek-cert-expired",
    [POSTURE_ENROLL_EK_CRITICAL_EXTENSION] = "ek-cert-critical-extension",
    [POSTURE_ENROLL_EK_MISMATCH] = "ek-key-mismatch",
    [POSTURE_ENROLL_EK_ATTRIBUTES] = "ek-public-attributes",
    [POSTURE_ENROLL_AK_MALFORMED] = "enroll-ak-malformed",
    [POSTURE_ENROLL_AK_REJECTED] = "enroll-ak-rejected",
    [POSTURE_ENROLL_ACTIVATION_PENDING] = "enroll-activation-pending",
    [POSTURE_ENROLL_ACTIVATION_UNKNOWN] = "enroll-activation-unknown",
    [POSTURE_ENROLL_ACTIVATION_EXPIRED] = "enroll-activation-expired",
    [POSTURE_ENROLL_PROOF_INVALID] = "enroll-proof-invalid",
    [POSTURE_ENROLL_POP_MISSING] = "enroll-pop-missing",
    [POSTURE_ENROLL_POP_INVALID] = "enroll-pop-invalid",
    [POSTURE_ENROLL_POP_EXPIRED] = "enroll-pop-expired",
    [POSTURE_ENROLL_POP_BINDING] = "enroll-pop-binding",
};

const char *posture_enroll_reason_to_string(int reason)
{
    if (reason < 0 || reason >= POSTURE_ENROLL_REASON__MAX)
        return NULL;
    return reason_table[reason];
}

int posture_enroll_reason_http_status(int reason)
{
    switch (reason) {
    case POSTURE_ENROLL_OK:
        return 201;
    case POSTURE_ENROLL_REQUEST_MALFORMED:
    case POSTURE_ENROLL_EK_CERT_MALFORMED:
    case POSTURE_ENROLL_EK_PUBLIC_MALFORMED:
    case POSTURE_ENROLL_AK_MALFORMED:
    case POSTURE_ENROLL_POP_MISSING:
        return 400;
    case POSTURE_ENROLL_TOKEN_UNKNOWN:
    case POSTURE_ENROLL_TOKEN_EXPIRED:
    case POSTURE_ENROLL_TOKEN_USED:
    case POSTURE_ENROLL_POP_INVALID:
    case POSTURE_ENROLL_POP_EXPIRED:
    case POSTURE_ENROLL_POP_BINDING:
        return 401;
    case POSTURE_ENROLL_DEVICE_EXISTS:
    case POSTURE_ENROLL_IDENTITY_IN_USE:
    case POSTURE_ENROLL_ACTIVATION_PENDING:
        return 409;
    default:
        return 403;
    }
}

const char *posture_enroll_reason_detail(int reason)
{
    switch (reason) {
    case POSTURE_ENROLL_POP_MISSING:
        return "the request carries no proof of possession of the device key: \"pop\", a JWS "
               "(typ " POSTURE_JWS_TYP_ENROLL " or " POSTURE_JWS_TYP_ACTIVATE
               ") signed by the key of \"jwk\" (and, to activate, \"jwk\" itself); this "
               "agent is older than the verifier: update posturectl";
    case POSTURE_ENROLL_POP_INVALID:
        return "\"pop\" is not a valid JWS of the right type signed by the key of \"jwk\"";
    case POSTURE_ENROLL_POP_EXPIRED:
        return "\"pop\" is outside its time window (iat/exp, 60 s): check this device's clock";
    case POSTURE_ENROLL_POP_BINDING:
        return "the claims of \"pop\" are not those of this request (token_sha256, "
               "ak_sha256, device_id, proof_sha256)";
    default:
        return NULL;
    }
}

static enum posture_enroll_reason from_ekcert(enum posture_ekcert_reason r)
{
    switch (r) {
    case POSTURE_EKCERT_OK:
        return POSTURE_ENROLL_OK;
    case POSTURE_EKCERT_MALFORMED:
        return POSTURE_ENROLL_EK_CERT_MALFORMED;
    case POSTURE_EKCERT_PUBLIC_MALFORMED:
        return POSTURE_ENROLL_EK_PUBLIC_MALFORMED;
    case POSTURE_EKCERT_UNSUPPORTED_KEY:
        return POSTURE_ENROLL_EK_UNSUPPORTED;
    case POSTURE_EKCERT_EXPIRED:
        return POSTURE_ENROLL_EK_EXPIRED;
    case POSTURE_EKCERT_CRITICAL_EXTENSION:
        return POSTURE_ENROLL_EK_CRITICAL_EXTENSION;
    case POSTURE_EKCERT_KEY_MISMATCH:
        return POSTURE_ENROLL_EK_MISMATCH;
    case POSTURE_EKCERT_ATTRIBUTES:
        return POSTURE_ENROLL_EK_ATTRIBUTES;
    default:
        return POSTURE_ENROLL_EK_UNTRUSTED;
    }
}

/* ---- parsing ------------------------------------------------------------------------------ */

struct posture_enroll_request *posture_enroll_request_free(struct posture_enroll_request *req)
{
    if (!req)
        return NULL;
    EVP_PKEY_free(req->device_key);
    free(req->jwk);
    free(req->ek_cert);
    free(req->ek_public);
    free(req->ak_public);
    free(req->pop);
    OPENSSL_cleanse(req->token, sizeof(req->token));
    free(req);
    return NULL;
}

/* A string member: strict base64url of min..max bytes into a new buffer. */
static int member_b64(const cJSON *item, size_t min, size_t max, uint8_t **ret, size_t *ret_len)
{
    uint8_t *buf = NULL;
    size_t n = 0, len;
    int r;

    if (!cJSON_IsString(item) || !item->valuestring)
        return -EBADMSG;
    len = strlen(item->valuestring);
    if (len > ((max + 2) / 3) * 4)
        return -EBADMSG;
    r = posture_b64url_decode(item->valuestring, len, max, &buf, &n);
    if (r < 0)
        return r == -ENOMEM ? r : -EBADMSG;
    if (n < min) {
        free(buf);
        return -EBADMSG;
    }
    *ret = buf;
    *ret_len = n;
    return 0;
}

static int member_b64_buf(const cJSON *item, uint8_t *buf, size_t size, size_t min)
{
    int r;

    if (!cJSON_IsString(item) || !item->valuestring)
        return -EBADMSG;
    if (strlen(item->valuestring) > ((size + 2) / 3) * 4)
        return -EBADMSG;
    r = posture_b64url_decode_buf(item->valuestring, strlen(item->valuestring), buf, size);
    if (r < 0 || (size_t) r < min)
        return -EBADMSG;
    return r;
}

/* Exactly the members kty, crv, x, y; the key itself checked by posture_key_from_jwk(). */
static int parse_jwk(const cJSON *jwk,
                     EVP_PKEY **ret_key,
                     char ret_kid[static POSTURE_KEY_THUMBPRINT_LEN + 1],
                     char **ret_text)
{
    posture_auto_evp_pkey EVP_PKEY *key = NULL;
    posture_auto_cjson cJSON *canon = NULL;
    const cJSON *item;
    unsigned seen = 0;
    char *kid = NULL;
    int r;

    if (!cJSON_IsObject(jwk))
        return -EBADMSG;
    cJSON_ArrayForEach(item, jwk)
    {
        static const char *const names[] = { "kty", "crv", "x", "y" };
        size_t i;

        for (i = 0; i < POSTURE_ELEMENTSOF(names); i++)
            if (item->string && strcmp(item->string, names[i]) == 0)
                break;
        if (i == POSTURE_ELEMENTSOF(names) || (seen & (1u << i)) || !cJSON_IsString(item))
            return -EBADMSG;
        seen |= 1u << i;
    }
    if (seen != 0xf)
        return -EBADMSG;
    r = posture_key_from_jwk(jwk, &key);
    if (r < 0)
        return r;
    r = posture_key_thumbprint(key, &kid);
    if (r < 0)
        return r;
    if (strlen(kid) != POSTURE_KEY_THUMBPRINT_LEN) {
        free(kid);
        return -EBADMSG;
    }
    if (ret_text) {
        r = posture_key_jwk(key, &canon);
        if (r >= 0)
            r = posture_json_print(canon, false, ret_text);
        if (r < 0) {
            free(kid);
            return r;
        }
    }
    memcpy(ret_kid, kid, POSTURE_KEY_THUMBPRINT_LEN + 1);
    free(kid);
    *ret_key = POSTURE_TAKE_PTR(key);
    return 0;
}

/* "pop": a string of at most POSTURE_ENROLL_POP_MAX characters (checked as a JWS later). */
static int member_pop(const cJSON *item, char *buf, size_t size)
{
    size_t n;

    if (!cJSON_IsString(item) || !item->valuestring)
        return -EBADMSG;
    n = strlen(item->valuestring);
    if (n == 0 || n > POSTURE_ENROLL_POP_MAX || n >= size)
        return -EBADMSG;
    memcpy(buf, item->valuestring, n + 1);
    return 0;
}

static int parse_tpm(const cJSON *tpm, struct posture_enroll_request *req)
{
    const cJSON *item;
    unsigned seen = 0;
    int r;

    if (!cJSON_IsObject(tpm))
        return -EBADMSG;
    cJSON_ArrayForEach(item, tpm)
    {
        if (!item->string)
            return -EBADMSG;
        if (strcmp(item->string, "ek_cert") == 0 && !(seen & 1)) {
            seen |= 1;
            r = member_b64(item, 1, POSTURE_EKCERT_DER_MAX, &req->ek_cert, &req->ek_cert_len);
        } else if (strcmp(item->string, "ek_pub") == 0 && !(seen & 2)) {
            seen |= 2;
            r = member_b64(item, 2, POSTURE_EKCERT_PUBLIC_MAX, &req->ek_public,
                           &req->ek_public_len);
        } else if (strcmp(item->string, "ak_pub") == 0 && !(seen & 4)) {
            seen |= 4;
            r = member_b64(item, 2, POSTURE_STORE_AK_PUBLIC_MAX, &req->ak_public,
                           &req->ak_public_len);
        } else if (strcmp(item->string, "ak_name") == 0 && !(seen & 8)) {
            uint8_t ignored[POSTURE_ENROLL_AK_NAME_MAX];
            seen |= 8;
            /* Well-formed or refused, and never used: the name is computed by us. */
            r = member_b64_buf(item, ignored, sizeof(ignored), 2);
            req->has_client_ak_name = true;
        } else
            return -EBADMSG;
        if (r < 0)
            return r;
    }
    if ((seen & 7) != 7)
        return -EBADMSG;
    req->tpm = true;
    return 0;
}

int posture_enroll_request_from_json(const cJSON *obj, struct posture_enroll_request **ret)
{
    POSTURE_CLEANUP(posture_enroll_request_freep) struct posture_enroll_request *req = NULL;
    const cJSON *item;
    unsigned seen = 0;
    int r;

    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    if (!cJSON_IsObject(obj))
        return -EBADMSG;
    req = calloc(1, sizeof(*req));
    if (!req)
        return -ENOMEM;
    cJSON_ArrayForEach(item, obj)
    {
        if (!item->string)
            return -EBADMSG;
        if (strcmp(item->string, "token") == 0 && !(seen & 1)) {
            seen |= 1;
            r = member_b64_buf(item, req->token, sizeof(req->token), sizeof(req->token));
        } else if (strcmp(item->string, "jwk") == 0 && !(seen & 2)) {
            seen |= 2;
            r = parse_jwk(item, &req->device_key, req->kid, &req->jwk);
        } else if (strcmp(item->string, "tpm") == 0 && !(seen & 4)) {
            seen |= 4;
            r = parse_tpm(item, req);
        } else if (strcmp(item->string, "pop") == 0 && !(seen & 8)) {
            seen |= 8;
            req->pop = malloc(POSTURE_ENROLL_POP_MAX + 1);
            r = req->pop ? member_pop(item, req->pop, POSTURE_ENROLL_POP_MAX + 1) : -ENOMEM;
        } else
            return -EBADMSG;
        if (r < 0)
            return r;
    }
    if ((seen & 3) != 3)
        return -EBADMSG;
    *ret = POSTURE_TAKE_PTR(req);
    return 0;
}

int posture_enroll_request_parse(const char *body, size_t len, struct posture_enroll_request **ret)
{
    posture_auto_cjson cJSON *obj = NULL;
    int r;

    POSTURE_RETURN_IF_FAIL(body && ret, -EINVAL);
    r = posture_json_parse(body, len, POSTURE_ENROLL_REQUEST_MAX, POSTURE_ENROLL_JSON_DEPTH, &obj);
    if (r < 0)
        return r;
    return posture_enroll_request_from_json(obj, ret);
}

static bool device_id_valid(const char *s)
{
    size_t n = strlen(s);
    return n == POSTURE_KEY_THUMBPRINT_LEN && posture_b64url_check(s, n, 32, 32);
}

void posture_enroll_activation_done(struct posture_enroll_activation *act)
{
    if (!act)
        return;
    EVP_PKEY_free(act->device_key);
    act->device_key = NULL;
    OPENSSL_cleanse(act->proof, sizeof(act->proof));
}

int posture_enroll_activation_from_json(const cJSON *obj, struct posture_enroll_activation *ret)
{
    POSTURE_CLEANUP(posture_enroll_activation_done) struct posture_enroll_activation act = {};
    const cJSON *item;
    unsigned seen = 0;
    int r;

    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    if (!cJSON_IsObject(obj))
        return -EBADMSG;
    cJSON_ArrayForEach(item, obj)
    {
        if (!item->string)
            return -EBADMSG;
        if (strcmp(item->string, "device_id") == 0 && !(seen & 1)) {
            seen |= 1;
            if (!cJSON_IsString(item) || !item->valuestring || !device_id_valid(item->valuestring))
                return -EBADMSG;
            memcpy(act.device_id, item->valuestring, strlen(item->valuestring) + 1);
        } else if (strcmp(item->string, "proof") == 0 && !(seen & 2)) {
            seen |= 2;
            r = member_b64_buf(item, act.proof, sizeof(act.proof), 1);
            if (r < 0)
                return r;
            act.proof_len = (size_t) r;
        } else if (strcmp(item->string, "jwk") == 0 && !(seen & 4)) {
            seen |= 4;
            r = parse_jwk(item, &act.device_key, act.kid, NULL);
            if (r < 0)
                return r;
        } else if (strcmp(item->string, "pop") == 0 && !(seen & 8)) {
            seen |= 8;
            r = member_pop(item, act.pop, sizeof(act.pop));
            if (r < 0)
                return r;
        } else
            return -EBADMSG;
    }
    if ((seen & 3) != 3)
        return -EBADMSG;
    *ret = act;
    act.device_key = NULL;
    return 0;
}

int posture_enroll_activation_parse(const char *body,
                                    size_t len,
                                    struct posture_enroll_activation *ret)
{
    posture_auto_cjson cJSON *obj = NULL;
    int r;

    POSTURE_RETURN_IF_FAIL(body && ret, -EINVAL);
    r = posture_json_parse(body, len, POSTURE_ENROLL_REQUEST_MAX, POSTURE_ENROLL_JSON_DEPTH, &obj);
    if (r < 0)
        return r;
    return posture_enroll_activation_from_json(obj, ret);
}

/* ---- proof of possession ----------------------------------------------------------------- */

static enum posture_enroll_reason from_jws(int jws_reason)
{
    switch (jws_reason) {
    case POSTURE_JWS_EXPIRED:
    case POSTURE_JWS_NOT_YET_VALID:
    case POSTURE_JWS_ISSUED_IN_FUTURE:
    case POSTURE_JWS_LIFETIME_TOO_LONG:
        return POSTURE_ENROLL_POP_EXPIRED;
    default:
        return POSTURE_ENROLL_POP_INVALID;
    }
}

/* Is claim key a base64url string of exactly want's n bytes, equal to them? */
static bool claim_digest_eq(const cJSON *payload, const char *key, const uint8_t *want, size_t n)
{
    const char *s = posture_json_get_str(payload, key);
    uint8_t buf[SHA256_DIGEST_LENGTH];

    if (!s || n != sizeof(buf) || strlen(s) != 43)
        return false;
    if (posture_b64url_decode_buf(s, strlen(s), buf, sizeof(buf)) != (int) sizeof(buf))
        return false;
    return CRYPTO_memcmp(buf, want, n) == 0;
}

/* The common part: the JWS with key (kid known), typ, the window, aud a short string. */
static int pop_verify(const char *pop,
                      EVP_PKEY *key,
                      const char *kid,
                      const char *typ,
                      int64_t now,
                      enum posture_enroll_reason *ret_reason,
                      int *ret_jws_reason,
                      struct posture_jws **ret)
{
    struct posture_jws_verify_opts opts = {
        .typ = typ,
        .now = now,
        .max_lifetime_sec = POSTURE_ENROLL_POP_LIFETIME_SEC,
        .key_kid = kid,
    };
    posture_auto_jws struct posture_jws *jws = NULL;
    const char *aud;
    int jr = POSTURE_JWS_OK, r;

    if (ret_jws_reason)
        *ret_jws_reason = POSTURE_JWS_OK;
    if (!pop || !pop[0]) {
        *ret_reason = POSTURE_ENROLL_POP_MISSING;
        return 0;
    }
    r = posture_jws_verify(pop, strnlen(pop, POSTURE_ENROLL_POP_MAX + 1), key, &opts, &jr, &jws);
    if (r == -EBADMSG) {
        log_debug("enroll: %s: pop refused: %s", kid, posture_jws_reason_to_string(jr));
        if (ret_jws_reason)
            *ret_jws_reason = jr;
        *ret_reason = from_jws(jr);
        return 0;
    }
    if (r < 0)
        return r;
    aud = posture_json_get_str(jws->payload, "aud");
    if (!aud || !aud[0] || strlen(aud) > POSTURE_ENROLL_AUD_MAX) {
        *ret_reason = POSTURE_ENROLL_POP_BINDING;
        return 0;
    }
    *ret_reason = POSTURE_ENROLL_OK;
    *ret = POSTURE_TAKE_PTR(jws);
    return 0;
}

int posture_enroll_request_verify_pop(const struct posture_enroll_request *req,
                                      int64_t now,
                                      enum posture_enroll_reason *ret_reason,
                                      int *ret_jws_reason)
{
    posture_auto_jws struct posture_jws *jws = NULL;
    enum posture_enroll_reason reason = POSTURE_ENROLL_OK;
    uint8_t h[SHA256_DIGEST_LENGTH];
    int r;

    POSTURE_RETURN_IF_FAIL(req && req->device_key && ret_reason, -EINVAL);
    r = pop_verify(req->pop, req->device_key, req->kid, POSTURE_JWS_TYP_ENROLL, now, &reason,
                   ret_jws_reason, &jws);
    if (r < 0)
        return r;
    if (reason == POSTURE_ENROLL_OK) {
        SHA256(req->token, sizeof(req->token), h);
        if (!claim_digest_eq(jws->payload, "token_sha256", h, sizeof(h)))
            reason = POSTURE_ENROLL_POP_BINDING;
    }
    if (reason == POSTURE_ENROLL_OK) {
        /* The AK is the one this key holder meant (no AK claim without TPM material). */
        if (req->tpm) {
            SHA256(req->ak_public, req->ak_public_len, h);
            if (!claim_digest_eq(jws->payload, "ak_sha256", h, sizeof(h)))
                reason = POSTURE_ENROLL_POP_BINDING;
        } else if (cJSON_GetObjectItemCaseSensitive(jws->payload, "ak_sha256"))
            reason = POSTURE_ENROLL_POP_BINDING;
    }
    *ret_reason = reason;
    return 0;
}

int posture_enroll_activation_verify_pop(const struct posture_enroll_activation *act,
                                         int64_t now,
                                         enum posture_enroll_reason *ret_reason,
                                         int *ret_jws_reason,
                                         uint8_t ret_nonce0[static POSTURE_ENROLL_NONCE0_SIZE])
{
    posture_auto_jws struct posture_jws *jws = NULL;
    enum posture_enroll_reason reason = POSTURE_ENROLL_OK;
    uint8_t h[SHA256_DIGEST_LENGTH];
    const char *s;
    int r;

    POSTURE_RETURN_IF_FAIL(act && act->proof_len <= sizeof(act->proof) && ret_reason && ret_nonce0,
                           -EINVAL);
    if (!act->device_key) {
        if (ret_jws_reason)
            *ret_jws_reason = POSTURE_JWS_OK;
        *ret_reason = POSTURE_ENROLL_POP_MISSING;
        return 0;
    }
    /* The key of the pending enrolment: device_id is its thumbprint. */
    if (strcmp(act->kid, act->device_id) != 0) {
        if (ret_jws_reason)
            *ret_jws_reason = POSTURE_JWS_OK;
        *ret_reason = POSTURE_ENROLL_POP_INVALID;
        return 0;
    }
    r = pop_verify(act->pop, act->device_key, act->kid, POSTURE_JWS_TYP_ACTIVATE, now, &reason,
                   ret_jws_reason, &jws);
    if (r < 0)
        return r;
    if (reason == POSTURE_ENROLL_OK) {
        s = posture_json_get_str(jws->payload, "device_id");
        SHA256(act->proof, act->proof_len, h);
        if (!s || strcmp(s, act->device_id) != 0 ||
            !claim_digest_eq(jws->payload, "proof_sha256", h, sizeof(h)))
            reason = POSTURE_ENROLL_POP_BINDING;
    }
    if (reason == POSTURE_ENROLL_OK) {
        s = posture_json_get_str(jws->payload, "nonce0");
        if (!s || strlen(s) != 43 ||
            posture_b64url_decode_buf(s, strlen(s), ret_nonce0, POSTURE_ENROLL_NONCE0_SIZE) !=
                POSTURE_ENROLL_NONCE0_SIZE)
            reason = POSTURE_ENROLL_POP_BINDING;
    }
    *ret_reason = reason;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

int posture_enroll_proof(const uint8_t *secret,
                         size_t secret_len,
                         const char *device_id,
                         const uint8_t *nonce0,
                         size_t nonce0_len,
                         uint8_t ret[POSTURE_ENROLL_PROOF_SIZE])
{
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("digest", (char *) "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t out_len = 0;
    int r = -EIO;

    POSTURE_RETURN_IF_FAIL(secret && secret_len > 0 && device_id && nonce0 && ret, -EINVAL);
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac)
        ctx = EVP_MAC_CTX_new(mac);
    if (ctx && EVP_MAC_init(ctx, secret, secret_len, params) &&
        EVP_MAC_update(ctx, (const unsigned char *) POSTURE_ENROLL_PROOF_LABEL,
                       strlen(POSTURE_ENROLL_PROOF_LABEL)) &&
        EVP_MAC_update(ctx, (const unsigned char *) device_id, strlen(device_id)) &&
        EVP_MAC_update(ctx, nonce0, nonce0_len) &&
        EVP_MAC_final(ctx, ret, &out_len, POSTURE_ENROLL_PROOF_SIZE) &&
        out_len == POSTURE_ENROLL_PROOF_SIZE)
        r = 0;
    else
        ERR_clear_error();
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return r;
}

static int get_random(const struct posture_enroll_ctx *ctx, uint8_t *buf, size_t n)
{
    if (ctx->random)
        return ctx->random(buf, n, ctx->random_userdata);
    if (RAND_bytes(buf, (int) n) != 1) {
        ERR_clear_error();
        return -EIO;
    }
    return 0;
}

static int add_b64(cJSON *obj, const char *key, const void *data, size_t n)
{
    posture_autofree char *s = NULL;
    int r = posture_b64url_encode(data, n, &s);
    if (r < 0)
        return r;
    return posture_json_add_str(obj, key, s);
}

static int add_hex(cJSON *obj, const char *key, const uint8_t *data, size_t n)
{
    char buf[2 * 66 + 1];
    static const char digits[] = "0123456789abcdef";

    if (n > 66)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = digits[data[i] >> 4];
        buf[2 * i + 1] = digits[data[i] & 15];
    }
    buf[2 * n] = '\0';
    return posture_json_add_str(obj, key, buf);
}

/* The audit row of an enrolment step; detail is consumed. */
static int audit(const struct posture_enroll_ctx *ctx,
                 const char *step,
                 const char *device_id,
                 enum posture_enroll_reason reason,
                 cJSON *detail)
{
    posture_auto_cjson cJSON *d = detail ? detail : cJSON_CreateObject();
    posture_autofree char *text = NULL;
    int r;

    if (!d)
        return -ENOMEM;
    r = posture_json_add_str(d, "step", step);
    if (r >= 0)
        r = posture_json_add_str(d, "result", posture_enroll_reason_to_string(reason));
    if (r >= 0)
        r = posture_json_print(d, false, &text);
    if (r < 0)
        return r;
    r = posture_store_audit_append(ctx->store, "enroll", device_id, text, NULL);
    if (r < 0)
        return log_debug_errno(r, "enroll audit: %m");
    return 0;
}

/* The "enrolled" response: issue the certificate (before the device is stored, so nothing is
 * stored that has no certificate). */
static int issue(const struct posture_enroll_ctx *ctx,
                 EVP_PKEY *device_key,
                 const char *kid,
                 enum posture_store_tier tier,
                 cJSON **ret)
{
    posture_auto_cjson cJSON *resp = cJSON_CreateObject();
    posture_autofree char *pem = NULL;
    char x5t[POSTURE_VKEYS_X5T_LEN + 1];
    struct posture_vkeys_cert_opts opts = {
        .now = (int64_t) (posture_store_now(ctx->store) / POSTURE_STORE_USEC_PER_SEC),
        .validity_sec = ctx->cert_validity_sec,
    };
    int r;

    if (!resp)
        return -ENOMEM;
    r = posture_vkeys_issue(ctx->keys, device_key, kid, &opts, &pem, x5t);
    if (r < 0)
        return r;
    r = posture_json_add_str(resp, "status", "enrolled");
    if (r >= 0)
        r = posture_json_add_str(resp, "device_id", kid);
    if (r >= 0)
        r = posture_json_add_str(resp, "tier", posture_store_tier_to_string(tier));
    if (r >= 0)
        r = posture_json_add_str(resp, "certificate", pem);
    if (r >= 0)
        r = posture_json_add_str(resp, "ca_certificate", ctx->keys->ca_pem);
    if (r >= 0)
        r = posture_json_add_str(resp, "x5t#S256", x5t);
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(resp);
    return 0;
}

static enum posture_enroll_reason insert_reason(int r)
{
    return r == -EEXIST ? POSTURE_ENROLL_DEVICE_EXISTS : POSTURE_ENROLL_IDENTITY_IN_USE;
}

/* ---- POST /v1/enroll ---------------------------------------------------------------------- */

static int begin_software(const struct posture_enroll_ctx *ctx,
                          const struct posture_enroll_request *req,
                          cJSON *detail,
                          enum posture_enroll_reason *ret_reason,
                          cJSON **ret_response)
{
    posture_auto_cjson cJSON *resp = NULL;
    struct posture_store_device dev = {
        .tier = POSTURE_STORE_TIER_SOFTWARE,
        .jwk = req->jwk,
    };
    enum posture_enroll_reason reason = POSTURE_ENROLL_OK;
    int r;

    memcpy(dev.id, req->kid, sizeof(req->kid));
    r = issue(ctx, req->device_key, req->kid, POSTURE_STORE_TIER_SOFTWARE, &resp);
    if (r < 0) {
        cJSON_Delete(detail);
        return r;
    }
    r = posture_store_device_insert(ctx->store, &dev);
    if (r == -EEXIST || r == -EADDRINUSE)
        reason = insert_reason(r);
    else if (r < 0) {
        cJSON_Delete(detail);
        return r;
    }
    r = audit(ctx, "enroll", req->kid, reason, detail);
    if (r < 0)
        return r;
    *ret_reason = reason;
    *ret_response = reason == POSTURE_ENROLL_OK ? POSTURE_TAKE_PTR(resp) : NULL;
    return 0;
}

/* The state kept with the pending activation, to store the device once it has proved. */
static int pending_payload(const struct posture_enroll_request *req,
                           const uint8_t *ak_name,
                           const struct posture_ekcert_info *ek,
                           char **ret)
{
    posture_auto_cjson cJSON *p = cJSON_CreateObject();
    int r;

    if (!p)
        return -ENOMEM;
    r = posture_json_add_str(p, "jwk", req->jwk);
    if (r >= 0)
        r = add_b64(p, "ak_pub", req->ak_public, req->ak_public_len);
    if (r >= 0)
        r = add_b64(p, "ak_name", ak_name, POSTURE_QUOTE_NAME_SIZE);
    if (r >= 0)
        r = add_b64(p, "ek_cert_sha256", ek->cert_sha256, sizeof(ek->cert_sha256));
    if (r >= 0)
        r = add_b64(p, "ek_public_sha256", ek->spki_sha256, sizeof(ek->spki_sha256));
    if (r < 0)
        return r;
    return posture_json_print(p, false, ret);
}

/* ATTESTATION.md §5.2 step 3 also wants adminWithPolicy clear, which posture_quote_ak_new()
 * does not pin; the structure has already been parsed strictly there. */
static bool ak_admin_policy_clear(const uint8_t *ak_public, size_t len)
{
    TPM2B_PUBLIC pub;
    size_t offset = 0;

    memset(&pub, 0, sizeof(pub));
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ak_public, len, &offset, &pub) != TSS2_RC_SUCCESS ||
        offset != len)
        return false;
    return !(pub.publicArea.objectAttributes & TPMA_OBJECT_ADMINWITHPOLICY);
}

static int begin_tpm(const struct posture_enroll_ctx *ctx,
                     const struct posture_enroll_request *req,
                     cJSON *detail_in,
                     enum posture_enroll_reason *ret_reason,
                     cJSON **ret_response)
{
    posture_auto_cjson cJSON *detail = detail_in;
    posture_auto_cjson cJSON *resp = NULL;
    posture_autofree char *payload = NULL;
    struct posture_quote_ak *ak = NULL;
    struct posture_credential *cred = NULL;
    struct posture_ekcert_info ek;
    enum posture_ekcert_reason ek_reason;
    enum posture_enroll_reason reason = POSTURE_ENROLL_OK;
    struct posture_store_device other = {};
    uint8_t secret[POSTURE_ENROLL_SECRET_SIZE], nonce0[POSTURE_ENROLL_NONCE0_SIZE];
    uint8_t proof[POSTURE_ENROLL_PROOF_SIZE], proof_sha256[SHA256_DIGEST_LENGTH];
    uint8_t ak_name[POSTURE_QUOTE_NAME_SIZE];
    uint64_t ttl = ctx->activation_ttl_usec;
    int r;

    if (ttl == 0 || ttl > POSTURE_ENROLL_ACTIVATION_TTL)
        ttl = POSTURE_ENROLL_ACTIVATION_TTL;

    /* EK: chain, then the presented public key is the certificate's. */
    if (!ctx->ek_roots) {
        reason = POSTURE_ENROLL_EK_NOT_CONFIGURED;
        goto refuse;
    }
    r = posture_ekcert_verify(
        ctx->ek_roots, req->ek_cert, req->ek_cert_len, req->ek_public, req->ek_public_len,
        (int64_t) (posture_store_now(ctx->store) / POSTURE_STORE_USEC_PER_SEC), &ek_reason, &ek);
    if (r < 0)
        return r;
    if (ek_reason != POSTURE_EKCERT_OK) {
        reason = from_ekcert(ek_reason);
        goto refuse;
    }
    r = add_hex(detail, "ek_cert_sha256", ek.cert_sha256, sizeof(ek.cert_sha256));
    if (r < 0)
        return r;

    /* AK: pinned, and its name computed here (a client-supplied name is never looked at). */
    r = posture_quote_ak_new(req->ak_public, req->ak_public_len, NULL, 0, &ak);
    if (r == -EBADMSG || r == -EKEYREJECTED) {
        reason = r == -EBADMSG ? POSTURE_ENROLL_AK_MALFORMED : POSTURE_ENROLL_AK_REJECTED;
        goto refuse;
    }
    if (r < 0)
        return r;
    if (!ak_admin_policy_clear(req->ak_public, req->ak_public_len)) {
        ak = posture_quote_ak_free(ak);
        reason = POSTURE_ENROLL_AK_REJECTED;
        goto refuse;
    }
    memcpy(ak_name, posture_quote_ak_name(ak), sizeof(ak_name));
    ak = posture_quote_ak_free(ak);
    r = add_hex(detail, "ak_name", ak_name, sizeof(ak_name));
    if (r < 0)
        return r;

    /* Uniqueness, early (the store enforces it again, atomically, when the device is stored). */
    r = posture_store_device_get(ctx->store, req->kid, &other);
    if (r >= 0) {
        bool active = other.status == POSTURE_STORE_DEVICE_ACTIVE;
        posture_store_device_done(&other);
        if (active) {
            reason = POSTURE_ENROLL_DEVICE_EXISTS;
            goto refuse;
        }
    } else if (r != -ENOENT)
        return r;
    r = posture_store_device_get_by_ak_name(ctx->store, ak_name, sizeof(ak_name), &other);
    if (r >= 0) {
        posture_store_device_done(&other);
        reason = POSTURE_ENROLL_IDENTITY_IN_USE;
        goto refuse;
    }
    if (r != -ENOENT)
        return r;

    /* The credential challenge. */
    r = get_random(ctx, secret, sizeof(secret));
    if (r >= 0)
        r = get_random(ctx, nonce0, sizeof(nonce0));
    if (r < 0)
        goto wipe;
    r = posture_makecredential(req->ek_public, req->ek_public_len, ak_name, sizeof(ak_name), secret,
                               sizeof(secret), &cred);
    if (r == -EOPNOTSUPP || r == -EBADMSG) {
        reason =
            r == -EOPNOTSUPP ? POSTURE_ENROLL_EK_UNSUPPORTED : POSTURE_ENROLL_EK_PUBLIC_MALFORMED;
        OPENSSL_cleanse(secret, sizeof(secret));
        goto refuse;
    }
    if (r < 0)
        goto wipe;
    r = posture_enroll_proof(secret, sizeof(secret), req->kid, nonce0, sizeof(nonce0), proof);
    if (r < 0)
        goto wipe;
    SHA256(proof, sizeof(proof), proof_sha256);
    r = pending_payload(req, ak_name, &ek, &payload);
    if (r < 0)
        goto wipe;
    r = posture_store_activation_create(ctx->store, req->kid, proof_sha256, nonce0, sizeof(nonce0),
                                        payload, strlen(payload), ttl);
    if (r == -EEXIST) {
        reason = POSTURE_ENROLL_ACTIVATION_PENDING;
        r = 0;
    }
    if (r < 0)
        goto wipe;

    if (reason == POSTURE_ENROLL_OK) {
        resp = cJSON_CreateObject();
        r = resp ? 0 : -ENOMEM;
        if (r >= 0)
            r = posture_json_add_str(resp, "status", "activation-required");
        if (r >= 0)
            r = posture_json_add_str(resp, "device_id", req->kid);
        if (r >= 0)
            r = add_b64(resp, "credential_blob", cred->id_object, cred->id_object_len);
        if (r >= 0)
            r = add_b64(resp, "encrypted_secret", cred->encrypted_secret,
                        cred->encrypted_secret_len);
        if (r >= 0)
            r = add_b64(resp, "nonce0", nonce0, sizeof(nonce0));
        if (r >= 0)
            r = posture_json_add_int(resp, "expires_in",
                                     (int64_t) (ttl / POSTURE_STORE_USEC_PER_SEC));
        if (r < 0)
            goto wipe;
    }
    r = 0;
wipe:
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(proof, sizeof(proof));
    cred = posture_credential_free(cred);
    if (r < 0)
        return r;
refuse:
    r = audit(ctx, "enroll", req->kid, reason, POSTURE_TAKE_PTR(detail));
    if (r < 0)
        return r;
    *ret_reason = reason;
    *ret_response = reason == POSTURE_ENROLL_OK ? POSTURE_TAKE_PTR(resp) : NULL;
    return 0;
}

int posture_enroll_begin(const struct posture_enroll_ctx *ctx,
                         const struct posture_enroll_request *req,
                         enum posture_enroll_reason *ret_reason,
                         cJSON **ret_response)
{
    cJSON *detail;
    int64_t token_id = 0;
    int r;

    POSTURE_RETURN_IF_FAIL(ctx && ctx->store && ctx->keys && req && req->device_key && ret_reason &&
                               ret_response,
                           -EINVAL);

    /* Proof of possession before the token is consumed: a request from anyone without the
     * device key cannot use up a device's token. One signature check, of a bounded JWS. */
    r = posture_enroll_request_verify_pop(
        req, (int64_t) (posture_store_now(ctx->store) / POSTURE_STORE_USEC_PER_SEC), ret_reason,
        NULL);
    if (r < 0)
        return r;
    if (*ret_reason != POSTURE_ENROLL_OK) {
        *ret_response = NULL;
        return 0;
    }

    /* Authorise (ATTESTATION.md §5.2 step 1): nothing costly happens before. */
    r = posture_store_token_consume(ctx->store, req->token, sizeof(req->token), &token_id);
    if (r == -ENOENT || r == -ESTALE || r == -EALREADY) {
        *ret_reason = r == -ENOENT   ? POSTURE_ENROLL_TOKEN_UNKNOWN
                      : r == -ESTALE ? POSTURE_ENROLL_TOKEN_EXPIRED
                                     : POSTURE_ENROLL_TOKEN_USED;
        *ret_response = NULL;
        return 0;
    }
    if (r < 0)
        return r;

    detail = cJSON_CreateObject();
    if (!detail)
        return -ENOMEM;
    r = posture_json_add_int(detail, "token_id", token_id);
    if (r >= 0)
        r = posture_json_add_str(detail, "tier", req->tpm ? "hardware" : "software");
    if (r < 0) {
        cJSON_Delete(detail);
        return r;
    }
    if (!req->tpm)
        return begin_software(ctx, req, detail, ret_reason, ret_response);
    return begin_tpm(ctx, req, detail, ret_reason, ret_response);
}

/* ---- POST /v1/enroll/activate ------------------------------------------------------------- */

static int payload_b64(const cJSON *p, const char *key, uint8_t *buf, size_t size)
{
    const char *s = posture_json_get_str(p, key);
    int r;

    if (!s)
        return -EBADMSG;
    r = posture_b64url_decode_buf(s, strlen(s), buf, size);
    return r < 0 ? -EBADMSG : r;
}

/* Store the device from the pending payload and issue its certificate. */
static int activate_device(const struct posture_enroll_ctx *ctx,
                           const char *device_id,
                           const struct posture_store_activation *a,
                           enum posture_enroll_reason *ret_reason,
                           cJSON **ret_response)
{
    posture_auto_cjson cJSON *p = NULL;
    posture_auto_cjson cJSON *jwk = NULL;
    posture_auto_cjson cJSON *resp = NULL;
    posture_auto_evp_pkey EVP_PKEY *key = NULL;
    posture_autofree char *kid = NULL;
    struct posture_store_device dev = { .tier = POSTURE_STORE_TIER_HARDWARE };
    uint8_t ak_public[POSTURE_STORE_AK_PUBLIC_MAX];
    const char *jwk_text;
    int r;

    if (!a->payload)
        return -EBADMSG;
    r = posture_json_parse((const char *) a->payload, a->payload_len, POSTURE_STORE_PAYLOAD_MAX, 4,
                           &p);
    if (r < 0)
        return r;
    jwk_text = posture_json_get_str(p, "jwk");
    if (!jwk_text)
        return -EBADMSG;
    r = posture_json_parse(jwk_text, strlen(jwk_text), POSTURE_STORE_JWK_MAX, 2, &jwk);
    if (r >= 0)
        r = posture_key_from_jwk(jwk, &key);
    if (r >= 0)
        r = posture_key_thumbprint(key, &kid);
    if (r < 0)
        return r;
    if (strcmp(kid, device_id) != 0)
        return -EBADMSG;

    memcpy(dev.id, device_id, strlen(device_id) + 1);
    dev.jwk = (char *) jwk_text;
    r = payload_b64(p, "ak_pub", ak_public, sizeof(ak_public));
    if (r < 0)
        return r;
    dev.ak_public = ak_public;
    dev.ak_public_len = (size_t) r;
    r = payload_b64(p, "ak_name", dev.ak_name, sizeof(dev.ak_name));
    if (r < 0)
        return r;
    dev.ak_name_len = (size_t) r;
    r = payload_b64(p, "ek_cert_sha256", dev.ek_cert_sha256, sizeof(dev.ek_cert_sha256));
    if (r != POSTURE_STORE_DIGEST_SIZE)
        return -EBADMSG;
    dev.has_ek_cert_sha256 = true;
    r = payload_b64(p, "ek_public_sha256", dev.ek_public_sha256, sizeof(dev.ek_public_sha256));
    if (r != POSTURE_STORE_DIGEST_SIZE)
        return -EBADMSG;
    dev.has_ek_public_sha256 = true;

    r = issue(ctx, key, kid, POSTURE_STORE_TIER_HARDWARE, &resp);
    if (r < 0)
        return r;
    r = posture_store_device_insert(ctx->store, &dev);
    if (r == -EEXIST || r == -EADDRINUSE) {
        *ret_reason = insert_reason(r);
        *ret_response = NULL;
        return 0;
    }
    if (r < 0)
        return r;
    *ret_reason = POSTURE_ENROLL_OK;
    *ret_response = POSTURE_TAKE_PTR(resp);
    return 0;
}

int posture_enroll_activate(const struct posture_enroll_ctx *ctx,
                            const struct posture_enroll_activation *act,
                            enum posture_enroll_reason *ret_reason,
                            cJSON **ret_response)
{
    struct posture_store_activation a = {};
    uint8_t h[SHA256_DIGEST_LENGTH], nonce0[POSTURE_ENROLL_NONCE0_SIZE];
    enum posture_enroll_reason reason = POSTURE_ENROLL_OK;
    cJSON *resp = NULL;
    int r, r2;

    POSTURE_RETURN_IF_FAIL(ctx && ctx->store && ctx->keys && act && ret_reason && ret_response,
                           -EINVAL);
    POSTURE_RETURN_IF_FAIL(act->proof_len <= sizeof(act->proof), -EINVAL);

    /* Signed by the pending enrolment's device key, or refused with the attempt left. */
    r = posture_enroll_activation_verify_pop(
        act, (int64_t) (posture_store_now(ctx->store) / POSTURE_STORE_USEC_PER_SEC), &reason, NULL,
        nonce0);
    if (r < 0)
        return r;
    if (reason != POSTURE_ENROLL_OK) {
        *ret_reason = reason;
        *ret_response = NULL;
        return 0;
    }

    /* One attempt: the pending state leaves the store before anything is compared. */
    r = posture_store_activation_take(ctx->store, act->device_id, &a);
    if (r == -ENOENT) {
        *ret_reason = POSTURE_ENROLL_ACTIVATION_UNKNOWN;
        *ret_response = NULL;
        return 0;
    }
    if (r == -ESTALE)
        reason = POSTURE_ENROLL_ACTIVATION_EXPIRED;
    else if (r < 0)
        return r;

    if (reason == POSTURE_ENROLL_OK) {
        SHA256(act->proof, act->proof_len, h);
        /* Constant time, and over hashes: a timing difference could tell nothing anyway. */
        if (act->proof_len != POSTURE_ENROLL_PROOF_SIZE ||
            CRYPTO_memcmp(h, a.secret_sha256, sizeof(h)) != 0)
            reason = POSTURE_ENROLL_PROOF_INVALID;
        /* A signed answer to another challenge (an older enrolment's) is a wrong proof. */
        else if (a.nonce0_len != sizeof(nonce0) ||
                 CRYPTO_memcmp(nonce0, a.nonce0, sizeof(nonce0)) != 0)
            reason = POSTURE_ENROLL_PROOF_INVALID;
    }
    if (reason == POSTURE_ENROLL_OK) {
        r = activate_device(ctx, act->device_id, &a, &reason, &resp);
        if (r < 0) {
            posture_store_activation_done(&a);
            return r;
        }
    }
    posture_store_activation_done(&a);

    r2 = audit(ctx, "activate", act->device_id, reason, NULL);
    if (r2 < 0) {
        cJSON_Delete(resp);
        return r2;
    }
    *ret_reason = reason;
    *ret_response = resp;
    return 0;
}
