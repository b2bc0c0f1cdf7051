/* SPDX-License-Identifier: Apache-2.0 */
/* The token paths of /v1/authz: EAR verification, DPoP proofs, the replay cache; see dpop.h. */

#include "dpop.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "posture/b64url.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/ossl.h"

#define SIG_LEN        64
#define SPIFFE_PREFIX  "spiffe://"
#define DEVICE_INFIX   "/device/"
#define HEADER_MAX     2048 /* decoded JOSE header of either token */
#define REPLAY_SHARDS  16u
#define REPLAY_PROBE   32u /* slots looked at per entry */
#define REPLAY_KEY_LEN 16  /* leading bytes of SHA-256(jkt ‖ NUL ‖ jti) */

static const char *const reason_table[POSTURE_DPOP_REASON__MAX] = {
    [POSTURE_DPOP_OK] = "ok",
    [POSTURE_DPOP_EAR_TOO_LARGE] = "ear-too-large",
    [POSTURE_DPOP_EAR_MALFORMED] = "ear-malformed",
    [POSTURE_DPOP_EAR_ALG] = "ear-alg",
    [POSTURE_DPOP_EAR_TYP] = "ear-typ",
    [POSTURE_DPOP_EAR_KID_UNKNOWN] = "ear-kid-unknown",
    [POSTURE_DPOP_EAR_SIGNATURE] = "ear-signature",
    [POSTURE_DPOP_EAR_EXPIRED] = "ear-expired",
    [POSTURE_DPOP_EAR_TIME] = "ear-time",
    [POSTURE_DPOP_EAR_REFUSED] = "ear-refused",
    [POSTURE_DPOP_EAR_ISSUER] = "ear-issuer",
    [POSTURE_DPOP_EAR_AUDIENCE] = "ear-audience",
    [POSTURE_DPOP_EAR_SUBJECT] = "ear-subject",
    [POSTURE_DPOP_EAR_CNF] = "ear-cnf",
    [POSTURE_DPOP_PROOF_MISSING] = "proof-missing",
    [POSTURE_DPOP_PROOF_TOO_LARGE] = "proof-too-large",
    [POSTURE_DPOP_PROOF_MALFORMED] = "proof-malformed",
    [POSTURE_DPOP_PROOF_TYP] = "proof-typ",
    [POSTURE_DPOP_PROOF_ALG_NONE] = "proof-alg-none",
    [POSTURE_DPOP_PROOF_ALG_HMAC] = "proof-alg-hmac",
    [POSTURE_DPOP_PROOF_ALG_UNSUPPORTED] = "proof-alg-unsupported",
    [POSTURE_DPOP_PROOF_HEADER_FORBIDDEN] = "proof-header-forbidden",
    [POSTURE_DPOP_PROOF_JWK_INVALID] = "proof-jwk-invalid",
    [POSTURE_DPOP_PROOF_JWK_PRIVATE] = "proof-jwk-private",
    [POSTURE_DPOP_PROOF_SIGNATURE] = "proof-signature",
    [POSTURE_DPOP_PROOF_CLAIM_INVALID] = "proof-claim-invalid",
    [POSTURE_DPOP_PROOF_HTM] = "proof-htm",
    [POSTURE_DPOP_PROOF_HTU] = "proof-htu",
    [POSTURE_DPOP_PROOF_IAT] = "proof-iat",
    [POSTURE_DPOP_PROOF_ATH] = "proof-ath",
    [POSTURE_DPOP_PROOF_JKT] = "proof-jkt",
    [POSTURE_DPOP_PROOF_REPLAY] = "proof-replay",
};

const char *posture_dpop_reason_to_string(int reason)
{
    if (reason < 0 || reason >= POSTURE_DPOP_REASON__MAX)
        return NULL;
    return reason_table[reason];
}

bool posture_dpop_reason_is_proof(int reason)
{
    return reason >= POSTURE_DPOP_PROOF_MISSING && reason < POSTURE_DPOP_REASON__MAX;
}

static int refuse(int *reason, int code)
{
    if (reason)
        *reason = code;
    log_debug("dpop: refused: %s", posture_dpop_reason_to_string(code));
    return -EBADMSG;
}

/* ---- Authorization ----------------------------------------------------------------------- */

static bool token68_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

enum posture_dpop_scheme
posture_dpop_authorization(const char *value, const char **ret_token, size_t *ret_len)
{
    static const struct {
        const char *name;
        enum posture_dpop_scheme scheme;
    } schemes[] = {
        { "DPoP", POSTURE_DPOP_SCHEME_DPOP },
        { "Bearer", POSTURE_DPOP_SCHEME_BEARER },
    };
    enum posture_dpop_scheme scheme = POSTURE_DPOP_SCHEME_OTHER;
    const char *p;
    size_t n = 0, end;

    if (!value)
        return POSTURE_DPOP_SCHEME_NONE;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        n = strlen(schemes[i].name);
        if (strncasecmp(value, schemes[i].name, n) == 0 && value[n] == ' ') {
            scheme = schemes[i].scheme;
            break;
        }
    }
    if (scheme == POSTURE_DPOP_SCHEME_OTHER)
        return scheme;
    p = value + n;
    while (*p == ' ')
        p++;
    /* token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
    for (end = 0; end <= POSTURE_DPOP_EAR_MAX + 1 && token68_char((unsigned char) p[end]); end++)
        ;
    if (end == 0 || end > POSTURE_DPOP_EAR_MAX + 1)
        return POSTURE_DPOP_SCHEME_OTHER;
    n = end;
    while (p[n] == '=')
        n++;
    if (strspn(p + n, " \t") != strlen(p + n))
        return POSTURE_DPOP_SCHEME_OTHER;
    if (ret_token)
        *ret_token = p;
    if (ret_len)
        *ret_len = n;
    return scheme;
}

/* ---- compact JWS pieces ------------------------------------------------------------------ */

struct compact {
    const char *token;
    size_t signed_len; /* header.payload */
    const char *payload;
    size_t payload_len;
    const char *sig;
    size_t sig_len;
    cJSON *header;
};

static void compact_done(struct compact *c)
{
    cJSON_Delete(c->header);
    c->header = NULL;
}

/* Split into three parts and parse the header: 0, 1 malformed, or -ENOMEM. */
static int compact_split(const char *token, size_t len, struct compact *ret)
{
    posture_autofree uint8_t *raw = NULL;
    const char *dot1, *dot2;
    size_t raw_len = 0;
    int r;

    *ret = (struct compact){ .token = token };
    if (!token)
        return 1;
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)))
        return 1;
    ret->signed_len = (size_t) (dot2 - token);
    ret->payload = dot1 + 1;
    ret->payload_len = (size_t) (dot2 - dot1 - 1);
    ret->sig = dot2 + 1;
    ret->sig_len = len - ret->signed_len - 1;
    r = posture_b64url_decode(token, (size_t) (dot1 - token), HEADER_MAX, &raw, &raw_len);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return 1;
    r = posture_json_parse((const char *) raw, raw_len, HEADER_MAX, 4, &ret->header);
    if (r == -ENOMEM)
        return r;
    if (r < 0 || !cJSON_IsObject(ret->header)) {
        compact_done(ret);
        return 1;
    }
    return 0;
}

/* ---- the EAR ----------------------------------------------------------------------------- */

static int ear_jws_reason(int jws_reason)
{
    switch (jws_reason) {
    case POSTURE_JWS_ALG_MISSING:
    case POSTURE_JWS_ALG_NONE:
    case POSTURE_JWS_ALG_HMAC:
    case POSTURE_JWS_ALG_RSA:
    case POSTURE_JWS_ALG_UNSUPPORTED:
        return POSTURE_DPOP_EAR_ALG;
    case POSTURE_JWS_TYP_MISMATCH:
        return POSTURE_DPOP_EAR_TYP;
    case POSTURE_JWS_KID_MISMATCH:
        return POSTURE_DPOP_EAR_KID_UNKNOWN;
    case POSTURE_JWS_SIGNATURE_LENGTH:
    case POSTURE_JWS_SIGNATURE_RANGE:
    case POSTURE_JWS_SIGNATURE_INVALID:
        return POSTURE_DPOP_EAR_SIGNATURE;
    case POSTURE_JWS_EXPIRED:
        return POSTURE_DPOP_EAR_EXPIRED;
    case POSTURE_JWS_CLAIM_INVALID:
    case POSTURE_JWS_NOT_YET_VALID:
    case POSTURE_JWS_ISSUED_IN_FUTURE:
    case POSTURE_JWS_LIFETIME_TOO_LONG:
        return POSTURE_DPOP_EAR_TIME;
    default:
        return POSTURE_DPOP_EAR_REFUSED;
    }
}

static bool id_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '/' && c != '?' && c != '#' && c != '%';
}

/* sub = spiffe://<td>/device/<id>: the id into ret. */
static bool subject_device(const char *sub, const char *td, char *ret)
{
    size_t tdl = strlen(td), pl = strlen(SPIFFE_PREFIX), il = strlen(DEVICE_INFIX), n;
    const char *id;

    if (!sub || strncmp(sub, SPIFFE_PREFIX, pl) != 0 || strncmp(sub + pl, td, tdl) != 0 ||
        strncmp(sub + pl + tdl, DEVICE_INFIX, il) != 0)
        return false;
    id = sub + pl + tdl + il;
    n = strlen(id);
    if (n == 0 || n > POSTURE_STORE_DEVICE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!id_char_ok((unsigned char) id[i]))
            return false;
    memcpy(ret, id, n + 1);
    return true;
}

static bool audience_ok(const cJSON *aud, const char *want)
{
    const cJSON *a;

    if (!want)
        return aud == NULL;
    if (cJSON_IsString(aud))
        return aud->valuestring && strcmp(aud->valuestring, want) == 0;
    if (!cJSON_IsArray(aud))
        return false;
    cJSON_ArrayForEach(a, aud)
    {
        if (!cJSON_IsString(a) || !a->valuestring)
            return false;
        if (strcmp(a->valuestring, want) == 0)
            return true;
    }
    return false;
}

static bool jkt_ok(const char *s)
{
    return s && strlen(s) == POSTURE_DPOP_JKT_LEN &&
           posture_b64url_check(s, POSTURE_DPOP_JKT_LEN, 32, 32);
}

static int ear_claims(const cJSON *c,
                      const struct posture_dpop_ear_opts *o,
                      int *reason,
                      struct posture_dpop_ear *ret)
{
    const cJSON *cnf = cJSON_GetObjectItemCaseSensitive(c, "cnf");
    const char *iss = posture_json_get_str(c, "iss");
    const char *jkt = NULL;
    struct posture_dpop_ear e = { 0 };

    if (!iss || strcmp(iss, o->issuer) != 0)
        return refuse(reason, POSTURE_DPOP_EAR_ISSUER);
    if (!audience_ok(cJSON_GetObjectItemCaseSensitive(c, "aud"), o->audience))
        return refuse(reason, POSTURE_DPOP_EAR_AUDIENCE);
    if (!subject_device(posture_json_get_str(c, "sub"), o->trust_domain, e.device_id))
        return refuse(reason, POSTURE_DPOP_EAR_SUBJECT);
    if (cnf && !cJSON_IsObject(cnf))
        return refuse(reason, POSTURE_DPOP_EAR_CNF);
    if (cJSON_GetObjectItemCaseSensitive(cnf, "jkt")) {
        jkt = posture_json_get_str(cnf, "jkt");
        if (!jkt_ok(jkt))
            return refuse(reason, POSTURE_DPOP_EAR_CNF);
        memcpy(e.jkt, jkt, POSTURE_DPOP_JKT_LEN + 1);
    }
    if (o->require_jkt && !jkt)
        return refuse(reason, POSTURE_DPOP_EAR_CNF);
    if (posture_json_get_int(c, "exp", &e.exp) < 0)
        return refuse(reason, POSTURE_DPOP_EAR_TIME);
    *ret = e;
    return 0;
}

int posture_dpop_ear_verify(const char *ear,
                            size_t len,
                            const struct posture_dpop_ear_opts *opts,
                            int *reason,
                            struct posture_dpop_ear *ret)
{
    posture_auto_jws struct posture_jws *jws = NULL;
    struct compact c;
    const char *alg, *typ, *kid;
    size_t k;
    int r, jr = POSTURE_JWS_OK;

    if (reason)
        *reason = POSTURE_DPOP_OK;
    if (!opts || !ret || !opts->issuer || !opts->trust_domain || (opts->n_keys && !opts->keys) ||
        (opts->n_keys && !opts->kids))
        return -EINVAL;
    if (!ear)
        return refuse(reason, POSTURE_DPOP_EAR_MALFORMED);
    if (len > POSTURE_DPOP_EAR_MAX)
        return refuse(reason, POSTURE_DPOP_EAR_TOO_LARGE);
    r = compact_split(ear, len, &c);
    if (r < 0)
        return r;
    if (r > 0)
        return refuse(reason, POSTURE_DPOP_EAR_MALFORMED);
    /* The header picks one of our keys by kid, nothing else: alg and typ are pinned first. */
    alg = posture_json_get_str(c.header, "alg");
    typ = posture_json_get_str(c.header, "typ");
    kid = posture_json_get_str(c.header, "kid");
    if (!alg || strcmp(alg, "ES256") != 0) {
        compact_done(&c);
        return refuse(reason, POSTURE_DPOP_EAR_ALG);
    }
    if (!typ || strcmp(typ, POSTURE_EAR_TYP) != 0) {
        compact_done(&c);
        return refuse(reason, POSTURE_DPOP_EAR_TYP);
    }
    for (k = 0; kid && k < opts->n_keys; k++)
        if (opts->kids[k] && strcmp(opts->kids[k], kid) == 0)
            break;
    compact_done(&c);
    if (!kid || k >= opts->n_keys || !opts->keys[k])
        return refuse(reason, POSTURE_DPOP_EAR_KID_UNKNOWN);

    r = posture_jws_verify(ear, len, opts->keys[k],
                           &(struct posture_jws_verify_opts){
                               .typ = POSTURE_EAR_TYP,
                               .now = opts->now,
                               .max_lifetime_sec = POSTURE_EAR_LIFETIME_SEC,
                               .key_kid = opts->kids[k],
                           },
                           &jr, &jws);
    if (r == -EBADMSG)
        return refuse(reason, ear_jws_reason(jr));
    if (r < 0)
        return r;
    return ear_claims(jws->payload, opts, reason, ret);
}

/* ---- the replay cache -------------------------------------------------------------------- */

struct replay_slot {
    uint8_t key[REPLAY_KEY_LEN];
    int64_t expires; /* 0: empty */
};

struct replay_shard {
    pthread_mutex_t lock;
    size_t mask;
    struct replay_slot *slots;
};

struct posture_dpop_replay {
    struct replay_shard shards[REPLAY_SHARDS];
    size_t n_init; /* shards whose lock is initialised */
};

int posture_dpop_replay_new(size_t capacity, struct posture_dpop_replay **ret)
{
    struct posture_dpop_replay *c;
    size_t per = REPLAY_PROBE * 2;

    if (!ret || capacity < POSTURE_DPOP_REPLAY_MIN || capacity > POSTURE_DPOP_REPLAY_MAX)
        return -EINVAL;
    /* twice the capacity in slots: probing windows stay short at half load */
    while (per * REPLAY_SHARDS < 2 * capacity)
        per *= 2;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    for (size_t i = 0; i < REPLAY_SHARDS; i++) {
        struct replay_shard *s = &c->shards[i];
        s->slots = calloc(per, sizeof(*s->slots));
        if (!s->slots || pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->slots);
            s->slots = NULL;
            posture_dpop_replay_free(c);
            return -ENOMEM;
        }
        s->mask = per - 1;
        c->n_init = i + 1;
    }
    *ret = c;
    return 0;
}

struct posture_dpop_replay *posture_dpop_replay_free(struct posture_dpop_replay *c)
{
    if (!c)
        return NULL;
    for (size_t i = 0; i < c->n_init; i++) {
        (void) pthread_mutex_destroy(&c->shards[i].lock);
        free(c->shards[i].slots);
    }
    free(c);
    return NULL;
}

int posture_dpop_replay_add(
    struct posture_dpop_replay *c, const char *jkt, const char *jti, int64_t expires, int64_t now)
{
    uint8_t digest[32];
    struct replay_shard *s;
    struct replay_slot *free_slot = NULL;
    EVP_MD_CTX *md;
    uint64_t h;
    bool ok;
    int r = 0;

    if (!c || !jkt || !jti || expires <= 0)
        return -EINVAL;
    md = EVP_MD_CTX_new();
    ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(md, jkt, strlen(jkt) + 1) == 1 &&
         EVP_DigestUpdate(md, jti, strlen(jti)) == 1 && EVP_DigestFinal_ex(md, digest, NULL) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        posture_ossl_drain("dpop replay digest");
        return -ENOMEM;
    }
    s = &c->shards[digest[0] % REPLAY_SHARDS];
    memcpy(&h, digest + 1, sizeof(h));

    (void) pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < REPLAY_PROBE; i++) {
        struct replay_slot *slot = &s->slots[(h + i) & s->mask];
        bool live = slot->expires != 0 && slot->expires >= now;

        if (live && memcmp(slot->key, digest, REPLAY_KEY_LEN) == 0) {
            r = -EEXIST;
            break;
        }
        if (!live && !free_slot)
            free_slot = slot;
    }
    if (r == 0 && !free_slot)
        r = -ENOSPC;
    if (r == 0) {
        memcpy(free_slot->key, digest, REPLAY_KEY_LEN);
        free_slot->expires = expires;
    }
    (void) pthread_mutex_unlock(&s->lock);
    return r;
}

/* ---- the proof --------------------------------------------------------------------------- */

/* scheme://authority[/path][?query][#fragment] → lower-cased pieces without the default port.
 * false when it does not parse or does not fit. */
struct url {
    char scheme[16];
    char host[512];
    const char *path; /* into the source */
    size_t path_len;
};

static bool lower_copy(char *dst, size_t size, const char *src, size_t n)
{
    if (n == 0 || n >= size)
        return false;
    for (size_t i = 0; i < n; i++)
        dst[i] = (char) tolower((unsigned char) src[i]);
    dst[n] = '\0';
    return true;
}

static void strip_default_port(char *host, const char *scheme)
{
    size_t n = strlen(host);
    const char *port = strcmp(scheme, "https") == 0  ? ":443"
                       : strcmp(scheme, "http") == 0 ? ":80"
                                                     : NULL;
    size_t pl = port ? strlen(port) : 0;

    if (port && n > pl && strcmp(host + n - pl, port) == 0)
        host[n - pl] = '\0';
}

static bool host_ok(const char *h)
{
    for (; *h; h++)
        if ((unsigned char) *h <= 0x20 || (unsigned char) *h >= 0x7f || *h == '@' || *h == '/' ||
            *h == '\\' || *h == '?' || *h == '#')
            return false;
    return true;
}

static bool path_split(const char *p, const char **ret, size_t *ret_len)
{
    size_t n = strcspn(p, "?#");

    for (size_t i = 0; i < n; i++)
        if ((unsigned char) p[i] <= 0x20 || (unsigned char) p[i] >= 0x7f)
            return false;
    if (n == 0) {
        *ret = "/";
        *ret_len = 1;
        return true;
    }
    if (p[0] != '/')
        return false;
    *ret = p;
    *ret_len = n;
    return true;
}

static bool url_parse(const char *s, struct url *u)
{
    const char *sep = strstr(s, "://"), *auth, *end;

    if (!sep || !lower_copy(u->scheme, sizeof(u->scheme), s, (size_t) (sep - s)))
        return false;
    for (const char *p = u->scheme; *p; p++)
        if (!islower((unsigned char) *p) && !isdigit((unsigned char) *p) && *p != '+' &&
            *p != '-' && *p != '.')
            return false;
    auth = sep + 3;
    end = auth + strcspn(auth, "/?#");
    if (!lower_copy(u->host, sizeof(u->host), auth, (size_t) (end - auth)) || !host_ok(u->host))
        return false;
    strip_default_port(u->host, u->scheme);
    return path_split(end, &u->path, &u->path_len);
}

bool posture_dpop_htu_match(const char *htu, const struct posture_dpop_http *http)
{
    struct url a, b;

    if (!htu || !http || !http->scheme || !http->host || !http->path ||
        strlen(htu) > POSTURE_DPOP_HTU_MAX || !url_parse(htu, &a))
        return false;
    if (!lower_copy(b.scheme, sizeof(b.scheme), http->scheme, strlen(http->scheme)) ||
        !lower_copy(b.host, sizeof(b.host), http->host, strlen(http->host)) || !host_ok(b.host) ||
        !path_split(http->path, &b.path, &b.path_len))
        return false;
    strip_default_port(b.host, b.scheme);
    return strcmp(a.scheme, b.scheme) == 0 && strcmp(a.host, b.host) == 0 &&
           a.path_len == b.path_len && memcmp(a.path, b.path, a.path_len) == 0;
}

static int proof_alg(const char *alg)
{
    if (!alg)
        return POSTURE_DPOP_PROOF_ALG_UNSUPPORTED;
    if (strcasecmp(alg, "none") == 0)
        return POSTURE_DPOP_PROOF_ALG_NONE;
    if (strncmp(alg, "HS", 2) == 0)
        return POSTURE_DPOP_PROOF_ALG_HMAC;
    if (strcmp(alg, "ES256") != 0)
        return POSTURE_DPOP_PROOF_ALG_UNSUPPORTED;
    return POSTURE_DPOP_OK;
}

/* typ, alg, jwk and nothing else; the jwk's public key into *ret_key. */
static int proof_header(const cJSON *h, int *reason, EVP_PKEY **ret_key)
{
    const cJSON *item, *jwk = cJSON_GetObjectItemCaseSensitive(h, "jwk");
    const char *typ = posture_json_get_str(h, "typ");
    int code, r;

    if (!typ || strcmp(typ, POSTURE_DPOP_TYP) != 0)
        return refuse(reason, POSTURE_DPOP_PROOF_TYP);
    code = proof_alg(posture_json_get_str(h, "alg"));
    if (code != POSTURE_DPOP_OK)
        return refuse(reason, code);
    cJSON_ArrayForEach(item, h)
    {
        if (!item->string || (strcmp(item->string, "typ") != 0 &&
                              strcmp(item->string, "alg") != 0 && strcmp(item->string, "jwk") != 0))
            return refuse(reason, POSTURE_DPOP_PROOF_HEADER_FORBIDDEN);
    }
    if (!cJSON_IsObject(jwk))
        return refuse(reason, POSTURE_DPOP_PROOF_JWK_INVALID);
    if (cJSON_GetObjectItemCaseSensitive(jwk, "d"))
        return refuse(reason, POSTURE_DPOP_PROOF_JWK_PRIVATE);
    r = posture_key_from_jwk(jwk, ret_key);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return refuse(reason, POSTURE_DPOP_PROOF_JWK_INVALID);
    return 0;
}

static const uint8_t p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

static bool scalar_ok(const uint8_t v[32])
{
    static const uint8_t zero[32];
    return memcmp(v, zero, 32) != 0 && memcmp(v, p256_order, 32) < 0;
}

/* The ES256 signature (raw r‖s, base64url) over input: 1 valid, 0 not, <0 error. */
static int
es256_check(EVP_PKEY *key, const char *input, size_t len, const char *sig, size_t sig_len)
{
    POSTURE_CLEANUP(EVP_MD_CTX_freep) EVP_MD_CTX *md = NULL;
    POSTURE_CLEANUP(ECDSA_SIG_freep) ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *der = NULL;
    uint8_t raw[SIG_LEN];
    int der_len, k;

    if (posture_b64url_decode_buf(sig, sig_len, raw, sizeof(raw)) != SIG_LEN || !scalar_ok(raw) ||
        !scalar_ok(raw + 32))
        return 0;
    es = ECDSA_SIG_new();
    r = BN_bin2bn(raw, 32, NULL);
    s = BN_bin2bn(raw + 32, 32, NULL);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return -ENOMEM;
    }
    der_len = i2d_ECDSA_SIG(es, &der);
    md = EVP_MD_CTX_new();
    if (der_len <= 0 || !md) {
        OPENSSL_free(der);
        return -ENOMEM;
    }
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) != 1) {
        OPENSSL_free(der);
        posture_ossl_drain("dpop proof verify init");
        return -EIO;
    }
    k = EVP_DigestVerify(md, der, (size_t) der_len, (const unsigned char *) input, len);
    OPENSSL_free(der);
    if (k != 1) {
        posture_ossl_drain("dpop proof verify");
        return 0;
    }
    return 1;
}

static bool str_claim(const cJSON *c, const char *name, size_t max, const char **ret)
{
    const char *s = posture_json_get_str(c, name);
    size_t n = s ? strlen(s) : 0;

    if (!s || n == 0 || n > max)
        return false;
    *ret = s;
    return true;
}

static int ath_matches(const char *ath, const char *ear, size_t ear_len)
{
    uint8_t digest[32];
    char want[POSTURE_DPOP_JKT_LEN + 1];

    if (!ear || EVP_Digest(ear, ear_len, digest, NULL, EVP_sha256(), NULL) != 1) {
        posture_ossl_drain("dpop ath digest");
        return -EIO;
    }
    if (posture_b64url_encode_buf(digest, sizeof(digest), want, sizeof(want)) < 0)
        return -EIO;
    return strlen(ath) == POSTURE_DPOP_JKT_LEN &&
           CRYPTO_memcmp(ath, want, POSTURE_DPOP_JKT_LEN) == 0;
}

static int
proof_claims(const cJSON *c, EVP_PKEY *key, const struct posture_dpop_proof_opts *o, int *reason)
{
    posture_autofree char *thumb = NULL;
    const char *jti, *htm, *htu, *ath;
    int64_t iat = 0;
    int r;

    if (!str_claim(c, "jti", POSTURE_DPOP_JTI_MAX, &jti) || !str_claim(c, "htm", 32, &htm) ||
        !str_claim(c, "htu", POSTURE_DPOP_HTU_MAX, &htu) ||
        !str_claim(c, "ath", POSTURE_DPOP_JKT_LEN + 8, &ath) ||
        posture_json_get_int(c, "iat", &iat) < 0 || iat <= 0)
        return refuse(reason, POSTURE_DPOP_PROOF_CLAIM_INVALID);
    if (strcmp(htm, o->http->method) != 0)
        return refuse(reason, POSTURE_DPOP_PROOF_HTM);
    if (!posture_dpop_htu_match(htu, o->http))
        return refuse(reason, POSTURE_DPOP_PROOF_HTU);
    if (iat > o->now + POSTURE_DPOP_SKEW_SEC || iat < o->now - POSTURE_DPOP_SKEW_SEC)
        return refuse(reason, POSTURE_DPOP_PROOF_IAT);
    r = ath_matches(ath, o->ear, o->ear_len);
    if (r < 0)
        return r;
    if (r == 0)
        return refuse(reason, POSTURE_DPOP_PROOF_ATH);
    r = posture_key_thumbprint(key, &thumb);
    if (r == -ENOMEM)
        return r;
    if (r < 0 || !o->jkt || strlen(thumb) != strlen(o->jkt) ||
        CRYPTO_memcmp(thumb, o->jkt, strlen(thumb)) != 0)
        return refuse(reason, POSTURE_DPOP_PROOF_JKT);
    /* Last: only a proof that passed everything else takes a slot. */
    r = posture_dpop_replay_add(o->replay, thumb, jti, iat + POSTURE_DPOP_SKEW_SEC, o->now);
    if (r == -EEXIST)
        return refuse(reason, POSTURE_DPOP_PROOF_REPLAY);
    if (r == -ENOSPC)
        log_debug("dpop: the replay cache is full: refusing the proof (fail closed)");
    return r;
}

int posture_dpop_proof_verify(const char *proof,
                              size_t len,
                              const struct posture_dpop_proof_opts *opts,
                              int *reason)
{
    POSTURE_CLEANUP(EVP_PKEY_freep) EVP_PKEY *key = NULL;
    posture_autofree uint8_t *payload = NULL;
    posture_auto_cjson cJSON *claims = NULL;
    struct compact c;
    size_t payload_len = 0;
    int r;

    if (reason)
        *reason = POSTURE_DPOP_OK;
    if (!opts || !opts->http || !opts->http->method || !opts->http->scheme || !opts->http->host ||
        !opts->http->path || !opts->replay)
        return -EINVAL;
    if (!proof)
        return refuse(reason, POSTURE_DPOP_PROOF_MISSING);
    if (len > POSTURE_DPOP_PROOF_MAX)
        return refuse(reason, POSTURE_DPOP_PROOF_TOO_LARGE);
    r = compact_split(proof, len, &c);
    if (r < 0)
        return r;
    if (r > 0)
        return refuse(reason, POSTURE_DPOP_PROOF_MALFORMED);
    r = proof_header(c.header, reason, &key);
    compact_done(&c);
    if (r < 0)
        return r;
    r = es256_check(key, proof, c.signed_len, c.sig, c.sig_len);
    if (r < 0)
        return r;
    if (r == 0)
        return refuse(reason, POSTURE_DPOP_PROOF_SIGNATURE);
    r = posture_b64url_decode(c.payload, c.payload_len, POSTURE_DPOP_PROOF_MAX, &payload,
                              &payload_len);
    if (r == -ENOMEM)
        return r;
    if (r >= 0)
        r = posture_json_parse((const char *) payload, payload_len, POSTURE_DPOP_PROOF_MAX, 4,
                               &claims);
    if (r == -ENOMEM)
        return r;
    if (r < 0 || !cJSON_IsObject(claims))
        return refuse(reason, POSTURE_DPOP_PROOF_MALFORMED);
    return proof_claims(claims, key, opts, reason);
}
