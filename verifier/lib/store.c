/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backend-independent half of the store (store.h): argument checks, the clock, random
 * tokens and nonces, hashing of secrets and the audit-row hash. Backends (store_backend.h) see
 * hashes and `now` only.
 */

#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "posture/err.h"
#include "posture/log.h"
#include "posture/time_util.h"

#include "store_backend.h"

#define POOL_SIZE_DEFAULT    8U
#define POOL_SIZE_MAX        64U
#define BUSY_TIMEOUT_DEFAULT 5000U

static uint64_t realtime_clock(void *userdata)
{
    (void) userdata;
    return posture_now_usec(CLOCK_REALTIME);
}

uint64_t posture_store_now(struct posture_store *s)
{
    return s->opts.clock(s->opts.clock_userdata);
}

static int sha256(const void *p, size_t n, uint8_t out[static POSTURE_STORE_DIGEST_SIZE])
{
    unsigned len = 0;

    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != POSTURE_STORE_DIGEST_SIZE)
        return -EIO;
    return 0;
}

static int random_bytes(uint8_t *p, size_t n)
{
    if (n > INT_MAX || RAND_bytes(p, (int) n) != 1)
        return -EIO;
    return 0;
}

/* kid and other ids: 1..max printable ASCII characters without spaces. */
static bool id_valid(const char *id)
{
    size_t n;

    if (!id)
        return false;
    n = strnlen(id, POSTURE_STORE_DEVICE_ID_MAX + 1);
    if (n == 0 || n > POSTURE_STORE_DEVICE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (id[i] < 0x21 || id[i] > 0x7e)
            return false;
    return true;
}

/* Text bounded by max bytes, without control characters (UTF-8 bytes ≥ 0x80 pass). */
static bool text_valid(const char *t, size_t max, bool allow_newlines)
{
    size_t n;

    if (!t)
        return false;
    n = strnlen(t, max + 1);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) t[i];
        if (allow_newlines && (c == '\n' || c == '\t'))
            continue;
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static bool kind_valid(const char *k)
{
    size_t n;

    if (!k)
        return false;
    n = strnlen(k, POSTURE_STORE_AUDIT_KIND_MAX + 1);
    if (n == 0 || n > POSTURE_STORE_AUDIT_KIND_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int posture_store_open(const char *url,
                       const struct posture_store_options *opts,
                       struct posture_store **ret_store)
{
    static const char sqlite_scheme[] = "sqlite:";
    const struct posture_store_ops *ops = &posture_store_sqlite_ops;
    const char *location;
    struct posture_store *s;
    int r;

    POSTURE_RETURN_IF_FAIL(url, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_store, -EINVAL);

    if (strnlen(url, PATH_MAX + sizeof(sqlite_scheme)) >= PATH_MAX + sizeof(sqlite_scheme) - 1)
        return -EINVAL;
    if (strncmp(url, sqlite_scheme, strlen(sqlite_scheme)) == 0)
        location = url + strlen(sqlite_scheme);
    else if (strchr(url, ':') && url[0] != '/' && url[0] != '.')
        /* another scheme ("postgresql://", later), not a path */
        return -EOPNOTSUPP;
    else
        location = url;
    if (location[0] == '\0')
        return -EINVAL;

    if (opts && (opts->pool_size > POOL_SIZE_MAX || opts->busy_timeout_ms > 600000))
        return -EINVAL;

    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (opts)
        s->opts = *opts;
    if (!s->opts.clock) {
        s->opts.clock = realtime_clock;
        s->opts.clock_userdata = NULL;
    }
    if (s->opts.pool_size == 0)
        s->opts.pool_size = POOL_SIZE_DEFAULT;
    if (s->opts.busy_timeout_ms == 0)
        s->opts.busy_timeout_ms = BUSY_TIMEOUT_DEFAULT;
    s->ops = ops;

    r = ops->open(s, location);
    if (r < 0) {
        free(s);
        return r;
    }
    *ret_store = s;
    return 0;
}

struct posture_store *posture_store_free(struct posture_store *s)
{
    if (!s)
        return NULL;
    s->ops->close(s);
    free(s);
    return NULL;
}

int posture_store_schema_version(struct posture_store *s)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    return s->ops->schema_version(s);
}

int posture_store_purge_expired(struct posture_store *s)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    return s->ops->purge_expired(s, posture_store_now(s));
}

/* ---- tokens ------------------------------------------------------------------------------ */

int posture_store_token_create(struct posture_store *s,
                               uint64_t ttl_usec,
                               const char *label,
                               uint8_t ret_token[static POSTURE_STORE_TOKEN_SIZE],
                               int64_t *ret_id)
{
    uint8_t token[POSTURE_STORE_TOKEN_SIZE], hash[POSTURE_STORE_DIGEST_SIZE];
    uint64_t now;
    int64_t id = 0;
    int r;

    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_token, -EINVAL);
    if (ttl_usec == 0 || ttl_usec > POSTURE_STORE_TOKEN_TTL_MAX)
        return -EINVAL;
    if (!label)
        label = "";
    if (!text_valid(label, POSTURE_STORE_LABEL_MAX, false))
        return -EINVAL;

    r = random_bytes(token, sizeof(token));
    if (r >= 0)
        r = sha256(token, sizeof(token), hash);
    if (r >= 0) {
        now = posture_store_now(s);
        r = s->ops->token_create(s, hash, label, now, now + ttl_usec, &id);
    }
    if (r < 0) {
        OPENSSL_cleanse(token, sizeof(token));
        return r;
    }
    memcpy(ret_token, token, sizeof(token));
    OPENSSL_cleanse(token, sizeof(token));
    if (ret_id)
        *ret_id = id;
    return 0;
}

int posture_store_token_consume(struct posture_store *s,
                                const uint8_t *token,
                                size_t token_len,
                                int64_t *ret_id)
{
    uint8_t hash[POSTURE_STORE_DIGEST_SIZE];
    int64_t id = 0;
    int r;

    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(token || token_len == 0, -EINVAL);
    /* Any other length cannot be one of ours: unknown, without touching the database. */
    if (token_len != POSTURE_STORE_TOKEN_SIZE)
        return -ENOENT;
    r = sha256(token, token_len, hash);
    if (r < 0)
        return r;
    r = s->ops->token_consume(s, hash, posture_store_now(s), &id);
    if (r < 0)
        return r;
    if (ret_id)
        *ret_id = id;
    return 0;
}

int posture_store_token_foreach(struct posture_store *s, posture_store_token_fn fn, void *userdata)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(fn, -EINVAL);
    return s->ops->token_foreach(s, fn, userdata);
}

int posture_store_token_revoke(struct posture_store *s, int64_t id)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    if (id <= 0)
        return -ENOENT;
    return s->ops->token_revoke(s, id);
}

/* ---- devices ----------------------------------------------------------------------------- */

static const char *const tier_names[POSTURE_STORE_TIER__MAX] = {
    [POSTURE_STORE_TIER_SOFTWARE] = "software",
    [POSTURE_STORE_TIER_HARDWARE] = "hardware",
};

static const char *const status_names[POSTURE_STORE_DEVICE_STATUS__MAX] = {
    [POSTURE_STORE_DEVICE_ACTIVE] = "active",
    [POSTURE_STORE_DEVICE_REVOKED] = "revoked",
};

static const char *const verdict_names[POSTURE_STORE_VERDICT__MAX] = {
    [POSTURE_STORE_VERDICT_NONE] = "none",
    [POSTURE_STORE_VERDICT_AFFIRMING] = "affirming",
    [POSTURE_STORE_VERDICT_WARNING] = "warning",
    [POSTURE_STORE_VERDICT_CONTRAINDICATED] = "contraindicated",
};

const char *posture_store_tier_to_string(enum posture_store_tier t)
{
    if ((int) t < 0 || t >= POSTURE_STORE_TIER__MAX)
        return NULL;
    return tier_names[t];
}

enum posture_store_tier posture_store_tier_from_string(const char *s)
{
    for (int i = 0; s && i < POSTURE_STORE_TIER__MAX; i++)
        if (strcmp(s, tier_names[i]) == 0)
            return (enum posture_store_tier) i;
    return POSTURE_STORE_TIER__INVALID;
}

const char *posture_store_device_status_to_string(enum posture_store_device_status st)
{
    if ((int) st < 0 || st >= POSTURE_STORE_DEVICE_STATUS__MAX)
        return NULL;
    return status_names[st];
}

const char *posture_store_verdict_to_string(enum posture_store_verdict v)
{
    if ((int) v < 0 || v >= POSTURE_STORE_VERDICT__MAX)
        return NULL;
    return verdict_names[v];
}

enum posture_store_verdict posture_store_verdict_from_string(const char *s)
{
    for (int i = 0; s && i < POSTURE_STORE_VERDICT__MAX; i++)
        if (strcmp(s, verdict_names[i]) == 0)
            return (enum posture_store_verdict) i;
    return POSTURE_STORE_VERDICT__INVALID;
}

void posture_store_device_done(struct posture_store_device *d)
{
    if (!d)
        return;
    free(d->jwk);
    d->jwk = NULL;
    free(d->ak_public);
    d->ak_public = NULL;
    d->ak_public_len = 0;
}

int posture_store_device_insert(struct posture_store *s, const struct posture_store_device *d)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(d, -EINVAL);

    if (!id_valid(d->id))
        return -EINVAL;
    if ((int) d->tier < 0 || d->tier >= POSTURE_STORE_TIER__MAX)
        return -EINVAL;
    if (!d->jwk || d->jwk[0] == '\0' || !text_valid(d->jwk, POSTURE_STORE_JWK_MAX, true))
        return -EINVAL;
    if (d->ak_name_len > POSTURE_STORE_AK_NAME_MAX ||
        d->ak_public_len > POSTURE_STORE_AK_PUBLIC_MAX)
        return -EINVAL;
    if ((d->ak_public_len > 0) != (d->ak_name_len > 0) || (d->ak_public_len > 0 && !d->ak_public))
        return -EINVAL;
    /* The hardware tier is a TPM identity: it needs the AK; the software tier has none. */
    if (d->tier == POSTURE_STORE_TIER_HARDWARE && d->ak_name_len == 0)
        return -EINVAL;
    if (d->tier == POSTURE_STORE_TIER_SOFTWARE &&
        (d->ak_name_len > 0 || d->has_ek_cert_sha256 || d->has_ek_public_sha256))
        return -EINVAL;
    return s->ops->device_insert(s, d, posture_store_now(s));
}

int posture_store_device_get(struct posture_store *s,
                             const char *id,
                             struct posture_store_device *ret_device)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_device, -EINVAL);
    if (!id_valid(id))
        return -EINVAL;
    return s->ops->device_get(s, id, NULL, 0, ret_device);
}

int posture_store_device_get_by_ak_name(struct posture_store *s,
                                        const uint8_t *ak_name,
                                        size_t ak_name_len,
                                        struct posture_store_device *ret_device)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_device, -EINVAL);
    if (!ak_name || ak_name_len == 0 || ak_name_len > POSTURE_STORE_AK_NAME_MAX)
        return -EINVAL;
    return s->ops->device_get(s, NULL, ak_name, ak_name_len, ret_device);
}

int posture_store_device_revoke(struct posture_store *s, const char *id)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    if (!id_valid(id))
        return -EINVAL;
    return s->ops->device_revoke(s, id, posture_store_now(s));
}

int posture_store_device_foreach(struct posture_store *s,
                                 posture_store_device_fn fn,
                                 void *userdata)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(fn, -EINVAL);
    return s->ops->device_foreach(s, fn, userdata);
}

/* ---- pending activations ----------------------------------------------------------------- */

void posture_store_activation_done(struct posture_store_activation *a)
{
    if (!a)
        return;
    if (a->payload) {
        OPENSSL_cleanse(a->payload, a->payload_len);
        free(a->payload);
    }
    a->payload = NULL;
    a->payload_len = 0;
    OPENSSL_cleanse(a->secret_sha256, sizeof(a->secret_sha256));
}

int posture_store_activation_create(struct posture_store *s,
                                    const char *device_id,
                                    const uint8_t secret_sha256[static POSTURE_STORE_DIGEST_SIZE],
                                    const uint8_t *nonce0,
                                    size_t nonce0_len,
                                    const void *payload,
                                    size_t payload_len,
                                    uint64_t ttl_usec)
{
    struct posture_store_activation a = { 0 };
    uint64_t now;

    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(secret_sha256, -EINVAL);
    if (!id_valid(device_id))
        return -EINVAL;
    if (nonce0_len > POSTURE_STORE_NONCE0_MAX || (nonce0_len > 0 && !nonce0))
        return -EINVAL;
    if (payload_len > POSTURE_STORE_PAYLOAD_MAX || (payload_len > 0 && !payload))
        return -EINVAL;
    if (ttl_usec == 0 || ttl_usec > POSTURE_STORE_ACTIVATION_TTL_MAX)
        return -EINVAL;

    memcpy(a.device_id, device_id, strlen(device_id) + 1);
    memcpy(a.secret_sha256, secret_sha256, POSTURE_STORE_DIGEST_SIZE);
    if (nonce0_len > 0)
        memcpy(a.nonce0, nonce0, nonce0_len);
    a.nonce0_len = nonce0_len;
    a.payload = (uint8_t *) payload; /* borrowed; the backend only reads it */
    a.payload_len = payload_len;
    now = posture_store_now(s);
    a.expires_at = now + ttl_usec;
    return s->ops->activation_create(s, &a, now);
}

int posture_store_activation_take(struct posture_store *s,
                                  const char *device_id,
                                  struct posture_store_activation *ret_activation)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_activation, -EINVAL);
    if (!id_valid(device_id))
        return -EINVAL;
    return s->ops->activation_take(s, device_id, posture_store_now(s), ret_activation);
}

/* ---- nonces ------------------------------------------------------------------------------ */

int posture_store_nonce_issue(struct posture_store *s,
                              const char *device_id,
                              uint64_t ttl_usec,
                              uint8_t ret_nonce[static POSTURE_STORE_NONCE_SIZE])
{
    uint8_t nonce[POSTURE_STORE_NONCE_SIZE], hash[POSTURE_STORE_DIGEST_SIZE];
    uint64_t now;
    int r;

    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_nonce, -EINVAL);
    if (!id_valid(device_id))
        return -EINVAL;
    if (ttl_usec == 0 || ttl_usec > POSTURE_STORE_NONCE_TTL_MAX)
        return -EINVAL;

    r = random_bytes(nonce, sizeof(nonce));
    if (r < 0)
        return r;
    r = sha256(nonce, sizeof(nonce), hash);
    if (r < 0)
        return r;
    now = posture_store_now(s);
    r = s->ops->nonce_issue(s, hash, device_id, now, now + ttl_usec);
    if (r < 0)
        return r;
    memcpy(ret_nonce, nonce, sizeof(nonce));
    return 0;
}

int posture_store_nonce_consume(struct posture_store *s,
                                const char *device_id,
                                const uint8_t *nonce,
                                size_t nonce_len)
{
    uint8_t hash[POSTURE_STORE_DIGEST_SIZE];
    int r;

    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(nonce || nonce_len == 0, -EINVAL);
    if (!id_valid(device_id))
        return -EINVAL;
    if (nonce_len != POSTURE_STORE_NONCE_SIZE)
        return -ENOENT;
    r = sha256(nonce, nonce_len, hash);
    if (r < 0)
        return r;
    return s->ops->nonce_consume(s, hash, device_id, posture_store_now(s));
}

/* ---- appraisals, clock state ------------------------------------------------------------- */

void posture_store_appraisal_done(struct posture_store_appraisal *a)
{
    if (!a)
        return;
    free((char *) a->ear); /* allocated by the store */
    a->ear = NULL;
}

static bool appraisal_valid(const struct posture_store_appraisal *a)
{
    if (!id_valid(a->device_id) || a->seq > INT64_MAX || a->received_at > INT64_MAX)
        return false;
    if ((int) a->verdict < 0 || a->verdict >= POSTURE_STORE_VERDICT__MAX)
        return false;
    if (!a->ear || !text_valid(a->ear, POSTURE_STORE_EAR_MAX, false))
        return false;
    return id_valid(a->policy_id) &&
           text_valid(a->policy_version, POSTURE_STORE_POLICY_VER_MAX, false) &&
           text_valid(a->reason, POSTURE_STORE_REASON_MAX, true);
}

int posture_store_appraisal_record(struct posture_store *s, const struct posture_store_appraisal *a)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(a, -EINVAL);
    if (!appraisal_valid(a))
        return -EINVAL;
    return s->ops->appraisal_record(s, a, NULL, NULL, posture_store_now(s));
}

int posture_store_appraisal_record_with_clock(struct posture_store *s,
                                              const struct posture_store_appraisal *a,
                                              const struct posture_store_clockinfo *expected,
                                              const struct posture_store_clockinfo *info)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(a, -EINVAL);
    POSTURE_RETURN_IF_FAIL(info, -EINVAL);
    if (!appraisal_valid(a))
        return -EINVAL;
    return s->ops->appraisal_record(s, a, expected, info, posture_store_now(s));
}

int posture_store_appraisal_latest(struct posture_store *s,
                                   const char *device_id,
                                   struct posture_store_appraisal *ret_appraisal)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_appraisal, -EINVAL);
    if (!id_valid(device_id))
        return -EINVAL;
    return s->ops->appraisal_latest(s, device_id, ret_appraisal);
}

int posture_store_appraisal_foreach_latest(struct posture_store *s,
                                           posture_store_appraisal_fn fn,
                                           void *userdata)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(fn, -EINVAL);
    return s->ops->appraisal_foreach_latest(s, fn, userdata);
}

int posture_store_appraisal_prune(struct posture_store *s, uint64_t received_before)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    if (received_before > INT64_MAX)
        return -EINVAL;
    return s->ops->appraisal_prune(s, received_before);
}

int posture_store_clockinfo_get(struct posture_store *s,
                                const char *device_id,
                                struct posture_store_clockinfo *ret_info)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_info, -EINVAL);
    if (!id_valid(device_id))
        return -EINVAL;
    return s->ops->clockinfo_get(s, device_id, ret_info);
}

int posture_store_clockinfo_update(struct posture_store *s,
                                   const char *device_id,
                                   const struct posture_store_clockinfo *expected,
                                   const struct posture_store_clockinfo *info)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(info, -EINVAL);
    if (!id_valid(device_id))
        return -EINVAL;
    return s->ops->clockinfo_update(s, device_id, expected, info, posture_store_now(s));
}

/* ---- audit ------------------------------------------------------------------------------- */

static void put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t) (v & 0xff);
        v >>= 8;
    }
}

static void put_u32be(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        p[i] = (uint8_t) (v & 0xff);
        v >>= 8;
    }
}

static int digest_field(EVP_MD_CTX *ctx, const char *text)
{
    size_t n = strlen(text);
    uint8_t len[4];

    if (n > UINT32_MAX)
        return -EINVAL;
    put_u32be(len, (uint32_t) n);
    if (EVP_DigestUpdate(ctx, len, sizeof(len)) != 1 || EVP_DigestUpdate(ctx, text, n) != 1)
        return -EIO;
    return 0;
}

int posture_store_audit_hash(const uint8_t prev_hash[static POSTURE_STORE_DIGEST_SIZE],
                             const struct posture_store_audit_row *row,
                             uint8_t ret_hash[static POSTURE_STORE_DIGEST_SIZE])
{
    uint8_t head[16], out[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_MD_CTX *ctx;
    int r = -EIO;

    ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -ENOMEM;
    put_u64be(head, row->seq);
    put_u64be(head + 8, row->at);
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, prev_hash, POSTURE_STORE_DIGEST_SIZE) != 1 ||
        EVP_DigestUpdate(ctx, head, sizeof(head)) != 1)
        goto out;
    r = digest_field(ctx, row->kind);
    if (r >= 0)
        r = digest_field(ctx, row->subject);
    if (r >= 0)
        r = digest_field(ctx, row->detail);
    if (r < 0)
        goto out;
    r = -EIO;
    if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != POSTURE_STORE_DIGEST_SIZE)
        goto out;
    memcpy(ret_hash, out, POSTURE_STORE_DIGEST_SIZE);
    r = 0;
out:
    EVP_MD_CTX_free(ctx);
    return r;
}

static bool audit_entry_valid(const struct posture_store_audit_entry *e)
{
    if (!kind_valid(e->kind))
        return false;
    if (e->subject && e->subject[0] != '\0' && !id_valid(e->subject))
        return false;
    if (e->detail &&
        strnlen(e->detail, POSTURE_STORE_AUDIT_DETAIL_MAX + 1) > POSTURE_STORE_AUDIT_DETAIL_MAX)
        return false;
    return true;
}

int posture_store_audit_append_many(struct posture_store *s,
                                    const struct posture_store_audit_entry *entries,
                                    size_t n,
                                    uint64_t *ret_last_seq)
{
    struct posture_store_audit_entry *copy;
    uint64_t seq = 0;
    int r;

    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(entries, -EINVAL);
    if (n == 0 || n > POSTURE_STORE_AUDIT_BATCH_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!audit_entry_valid(&entries[i]))
            return -EINVAL;

    /* the backend gets "" rather than NULL */
    copy = calloc(n, sizeof(*copy));
    if (!copy)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        copy[i] = (struct posture_store_audit_entry){
            .kind = entries[i].kind,
            .subject = entries[i].subject ? entries[i].subject : "",
            .detail = entries[i].detail ? entries[i].detail : "",
        };
    r = s->ops->audit_append(s, copy, n, posture_store_now(s), &seq);
    free(copy);
    if (r < 0)
        return r;
    if (ret_last_seq)
        *ret_last_seq = seq;
    return 0;
}

int posture_store_audit_append(struct posture_store *s,
                               const char *kind,
                               const char *subject,
                               const char *detail,
                               uint64_t *ret_seq)
{
    const struct posture_store_audit_entry e = {
        .kind = kind,
        .subject = subject,
        .detail = detail,
    };

    return posture_store_audit_append_many(s, &e, 1, ret_seq);
}

int posture_store_audit_verify(struct posture_store *s, struct posture_store_audit_result *ret)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    return s->ops->audit_verify(s, ret);
}

int posture_store_device_foreach_revoked_since(struct posture_store *s,
                                               uint64_t since,
                                               posture_store_revoked_fn fn,
                                               void *userdata)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(fn, -EINVAL);
    if (since > INT64_MAX)
        return -EINVAL;
    return s->ops->device_foreach_revoked_since(s, since, fn, userdata);
}

/* ---- a whole submission ------------------------------------------------------------------ */

int posture_store_submission_record(struct posture_store *s,
                                    const struct posture_store_submission *sub)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(sub, -EINVAL);
    POSTURE_RETURN_IF_FAIL(sub->appraisals, -EINVAL);
    if (sub->n_appraisals == 0 || sub->n_appraisals > POSTURE_STORE_POLICIES_MAX)
        return -EINVAL;
    for (size_t i = 0; i < sub->n_appraisals; i++) {
        const struct posture_store_appraisal *a = &sub->appraisals[i];

        if (!appraisal_valid(a))
            return -EINVAL;
        if (i > 0 && (strcmp(a->device_id, sub->appraisals[0].device_id) != 0 ||
                      a->seq != sub->appraisals[0].seq))
            return -EINVAL;
        for (size_t k = 0; k < i; k++)
            if (strcmp(a->policy_id, sub->appraisals[k].policy_id) == 0)
                return -EINVAL;
    }
    if (!sub->info && sub->expected)
        return -EINVAL;
    if (sub->audit && !audit_entry_valid(sub->audit))
        return -EINVAL;
    if (sub->audit && (!sub->audit->subject || !sub->audit->detail)) {
        /* the backend gets "" rather than NULL */
        struct posture_store_submission copy = *sub;
        const struct posture_store_audit_entry e = {
            .kind = sub->audit->kind,
            .subject = sub->audit->subject ? sub->audit->subject : "",
            .detail = sub->audit->detail ? sub->audit->detail : "",
        };
        copy.audit = &e;
        return s->ops->submission_record(s, &copy, posture_store_now(s));
    }
    return s->ops->submission_record(s, sub, posture_store_now(s));
}

int posture_store_appraisal_foreach_latest_policies(struct posture_store *s,
                                                    posture_store_appraisal_fn fn,
                                                    void *userdata)
{
    POSTURE_RETURN_IF_FAIL(s, -EINVAL);
    POSTURE_RETURN_IF_FAIL(fn, -EINVAL);
    return s->ops->appraisal_foreach_latest_policies(s, fn, userdata);
}
