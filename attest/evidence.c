/* SPDX-License-Identifier: Apache-2.0 */
/* The TPM evidence object: JSON in and out, and its verification; see evidence.h. */

#include "posture/evidence.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "posture/b64url.h"
#include "posture/err.h"
#include "posture/hex.h"

#define DIGEST_HEX (2 * POSTURE_QUOTE_DIGEST_SIZE)

/* Members and the largest decoded size each may have. */
#define ATTEST_MAX    POSTURE_QUOTE_INPUT_MAX
#define SIGNATURE_MAX POSTURE_QUOTE_INPUT_MAX
#define AK_PUBLIC_MAX POSTURE_QUOTE_INPUT_MAX

static const char *const members[] = {
    "v",      "bank",    "pcr_select", "attest",           "sig", "pcrs", "ak_name",
    "ak_pub", "ek_cert", "event_log",  "event_log_sha256",
};

struct posture_evidence *posture_evidence_free(struct posture_evidence *e)
{
    if (!e)
        return NULL;
    free(e->attest);
    free(e->signature);
    free(e->ak_public);
    free(e->ek_cert);
    free(e->event_log);
    free(e);
    return NULL;
}

/* ---- writing ---------------------------------------------------------------------------- */

static int add_b64(cJSON *obj, const char *key, const uint8_t *p, size_t n)
{
    posture_autofree char *s = NULL;
    int r = posture_b64url_encode(p, n, &s);
    return r < 0 ? r : posture_json_add_str(obj, key, s);
}

static int add_hex(cJSON *obj, const char *key, const uint8_t *p, size_t n)
{
    posture_autofree char *s = NULL;
    int r = posture_hex_encode(p, n, &s);
    return r < 0 ? r : posture_json_add_str(obj, key, s);
}

static int sha256(const uint8_t *p, size_t n, uint8_t out[POSTURE_QUOTE_DIGEST_SIZE])
{
    return EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

static unsigned popcount32(uint32_t m)
{
    return (unsigned) __builtin_popcount(m);
}

int posture_evidence_to_json(const struct posture_evidence *e, cJSON **ret)
{
    posture_auto_cjson cJSON *obj = NULL;
    cJSON *select, *pcrs;
    int r;

    if (!e || !e->attest || !e->signature || e->pcr_mask == 0 ||
        e->pcr_mask >> POSTURE_QUOTE_PCR_MAX != 0 || e->n_pcrs != popcount32(e->pcr_mask))
        return -EINVAL;
    obj = cJSON_CreateObject();
    if (!obj)
        return -ENOMEM;

    r = posture_json_add_int(obj, "v", POSTURE_EVIDENCE_VERSION);
    if (r >= 0)
        r = posture_json_add_str(obj, "bank", "sha256");
    if (r < 0)
        return r;

    select = cJSON_CreateArray();
    r = select ? posture_json_add_item(obj, "pcr_select", select) : -ENOMEM;
    for (unsigned i = 0; r >= 0 && i < POSTURE_QUOTE_PCR_MAX; i++)
        if (e->pcr_mask & (UINT32_C(1) << i))
            r = posture_json_append(select, cJSON_CreateNumber(i));
    if (r >= 0)
        r = add_b64(obj, "attest", e->attest, e->attest_len);
    if (r >= 0)
        r = add_b64(obj, "sig", e->signature, e->signature_len);
    if (r < 0)
        return r;

    pcrs = cJSON_CreateObject();
    r = pcrs ? posture_json_add_item(obj, "pcrs", pcrs) : -ENOMEM;
    for (size_t i = 0; r >= 0 && i < e->n_pcrs; i++) {
        char key[8];
        if (!(e->pcr_mask & (UINT32_C(1) << e->pcrs[i].index)))
            return -EINVAL;
        (void) snprintf(key, sizeof(key), "%u", e->pcrs[i].index);
        r = add_hex(pcrs, key, e->pcrs[i].digest, POSTURE_QUOTE_DIGEST_SIZE);
    }
    if (r == -EEXIST) /* the same PCR twice */
        return -EINVAL;
    if (r >= 0)
        r = add_hex(obj, "ak_name", e->ak_name, sizeof(e->ak_name));
    if (r >= 0 && e->ak_public)
        r = add_b64(obj, "ak_pub", e->ak_public, e->ak_public_len);
    if (r >= 0 && e->ek_cert)
        r = add_b64(obj, "ek_cert", e->ek_cert, e->ek_cert_len);
    if (r >= 0 && e->event_log) {
        uint8_t digest[POSTURE_QUOTE_DIGEST_SIZE];
        r = add_b64(obj, "event_log", e->event_log, e->event_log_len);
        if (r >= 0)
            r = sha256(e->event_log, e->event_log_len, digest);
        if (r >= 0)
            r = add_hex(obj, "event_log_sha256", digest, sizeof(digest));
    }
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(obj);
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

static _Thread_local char why_buf[160];

/* Record why and return -EBADMSG. */
static int bad(const char **ret_why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const char **ret_why, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
    va_end(ap);
    if (ret_why)
        *ret_why = why_buf;
    return -EBADMSG;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A required (or, with optional, possibly absent) base64url member of 1..max bytes. */
static int get_b64(const cJSON *obj,
                   const char *key,
                   size_t max,
                   bool optional,
                   uint8_t **ret,
                   size_t *ret_len,
                   const char **ret_why)
{
    const cJSON *item = member(obj, key);
    int r;

    if (!item) {
        if (optional)
            return 0;
        return bad(ret_why, "%s: missing", key);
    }
    if (!cJSON_IsString(item))
        return bad(ret_why, "%s: not a string", key);
    r = posture_b64url_decode(item->valuestring, strlen(item->valuestring), max, ret, ret_len);
    if (r == -ENOMEM)
        return r;
    if (r == -E2BIG)
        return bad(ret_why, "%s: larger than %zu bytes", key, max);
    if (r < 0)
        return bad(ret_why, "%s: not strict base64url", key);
    if (*ret_len == 0)
        return bad(ret_why, "%s: empty", key);
    return 0;
}

static int get_hex(const cJSON *item, const char *key, uint8_t *buf, size_t n, const char **ret_why)
{
    if (!item)
        return bad(ret_why, "%s: missing", key);
    if (!cJSON_IsString(item))
        return bad(ret_why, "%s: not a string", key);
    if (strlen(item->valuestring) != 2 * n ||
        posture_hex_decode_buf(item->valuestring, 2 * n, buf, n) != (int) n)
        return bad(ret_why, "%s: not %zu lower-case hex characters", key, 2 * n);
    return 0;
}

static int get_select(const cJSON *obj, uint32_t *ret_mask, const char **ret_why)
{
    const cJSON *select = member(obj, "pcr_select"), *item;
    uint32_t mask = 0;
    int64_t last = -1;

    if (!cJSON_IsArray(select))
        return bad(ret_why, "pcr_select: %s", select ? "not an array" : "missing");
    cJSON_ArrayForEach(item, select)
    {
        double d = cJSON_IsNumber(item) ? item->valuedouble : -1;
        if (d < 0 || d >= POSTURE_QUOTE_PCR_MAX || d != (double) (int64_t) d)
            return bad(ret_why, "pcr_select: entries are PCR numbers 0 to %u",
                       POSTURE_QUOTE_PCR_MAX - 1);
        if ((int64_t) d <= last)
            return bad(ret_why, "pcr_select: not in ascending order without duplicates");
        last = (int64_t) d;
        mask |= UINT32_C(1) << last;
    }
    if (mask == 0)
        return bad(ret_why, "pcr_select: empty");
    *ret_mask = mask;
    return 0;
}

/* A member name that is a PCR number in decimal without sign, spaces or leading zeros (one
 * spelling per PCR), else -1. */
static int pcr_key(const char *s)
{
    int v = 0;

    if (!s || !s[0] || (s[0] == '0' && s[1]) || strlen(s) > 2)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v < (int) POSTURE_QUOTE_PCR_MAX ? v : -1;
}

static int get_pcrs(const cJSON *obj, struct posture_evidence *e, const char **ret_why)
{
    const cJSON *pcrs = member(obj, "pcrs"), *item;
    uint32_t seen = 0;
    int r;

    if (!cJSON_IsObject(pcrs))
        return bad(ret_why, "pcrs: %s", pcrs ? "not an object" : "missing");
    cJSON_ArrayForEach(item, pcrs)
    {
        int idx = pcr_key(item->string);
        if (idx < 0)
            return bad(ret_why, "pcrs: '%.8s' is not a PCR number",
                       item->string ? item->string : "");
        if (!(e->pcr_mask & (UINT32_C(1) << idx)))
            return bad(ret_why, "pcrs: PCR %d is not in pcr_select", idx);
        seen |= UINT32_C(1) << idx;
    }
    if (seen != e->pcr_mask) {
        unsigned missing = (unsigned) __builtin_ctz(e->pcr_mask & ~seen);
        return bad(ret_why, "pcrs: PCR %u is missing", missing);
    }
    /* In index order, whatever the order in the object. */
    e->n_pcrs = 0;
    for (unsigned i = 0; i < POSTURE_QUOTE_PCR_MAX; i++) {
        char key[8];
        if (!(e->pcr_mask & (UINT32_C(1) << i)))
            continue;
        (void) snprintf(key, sizeof(key), "%u", i);
        e->pcrs[e->n_pcrs].index = i;
        r = get_hex(member(pcrs, key), "pcrs", e->pcrs[e->n_pcrs].digest, POSTURE_QUOTE_DIGEST_SIZE,
                    ret_why);
        if (r < 0)
            return r;
        e->n_pcrs++;
    }
    return 0;
}

int posture_evidence_from_json(const cJSON *obj,
                               struct posture_evidence **ret,
                               const char **ret_why)
{
    posture_auto_evidence struct posture_evidence *e = NULL;
    const cJSON *item;
    const char *bank;
    int64_t v;
    int r;

    if (!cJSON_IsObject(obj))
        return bad(ret_why, "not a JSON object");
    cJSON_ArrayForEach(item, obj)
    {
        bool known = false;
        for (size_t i = 0; i < POSTURE_ELEMENTSOF(members) && !known; i++)
            known = item->string && strcmp(item->string, members[i]) == 0;
        if (!known)
            return bad(ret_why, "unknown member '%.32s'", item->string ? item->string : "");
    }

    r = posture_json_get_int(obj, "v", &v);
    if (r < 0 || v != POSTURE_EVIDENCE_VERSION)
        return bad(ret_why, "v: %s", r < 0 ? "missing or not an integer" : "unsupported version");
    bank = posture_json_get_str(obj, "bank");
    if (!bank || strcmp(bank, "sha256") != 0)
        return bad(ret_why, "bank: %s", bank ? "only sha256 is accepted" : "missing");

    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    r = get_select(obj, &e->pcr_mask, ret_why);
    if (r >= 0)
        r = get_b64(obj, "attest", ATTEST_MAX, false, &e->attest, &e->attest_len, ret_why);
    if (r >= 0)
        r = get_b64(obj, "sig", SIGNATURE_MAX, false, &e->signature, &e->signature_len, ret_why);
    if (r >= 0)
        r = get_pcrs(obj, e, ret_why);
    if (r >= 0)
        r = get_hex(member(obj, "ak_name"), "ak_name", e->ak_name, sizeof(e->ak_name), ret_why);
    if (r >= 0)
        r = get_b64(obj, "ak_pub", AK_PUBLIC_MAX, true, &e->ak_public, &e->ak_public_len, ret_why);
    if (r >= 0)
        r = get_b64(obj, "ek_cert", POSTURE_EVIDENCE_EK_CERT_MAX, true, &e->ek_cert,
                    &e->ek_cert_len, ret_why);
    if (r >= 0)
        r = get_b64(obj, "event_log", POSTURE_EVENTLOG_MAX_SIZE, true, &e->event_log,
                    &e->event_log_len, ret_why);
    if (r < 0)
        return r;

    item = member(obj, "event_log_sha256");
    if (e->event_log) {
        uint8_t want[POSTURE_QUOTE_DIGEST_SIZE], got[POSTURE_QUOTE_DIGEST_SIZE];
        r = get_hex(item, "event_log_sha256", want, sizeof(want), ret_why);
        if (r < 0)
            return r;
        r = sha256(e->event_log, e->event_log_len, got);
        if (r < 0)
            return r;
        if (CRYPTO_memcmp(want, got, sizeof(got)) != 0)
            return bad(ret_why, "event_log_sha256: does not match event_log");
    } else if (item)
        return bad(ret_why, "event_log_sha256: present without event_log");

    *ret = POSTURE_TAKE_PTR(e);
    return 0;
}

int posture_evidence_parse(const char *buf,
                           size_t len,
                           struct posture_evidence **ret,
                           const char **ret_why)
{
    posture_auto_cjson cJSON *obj = NULL;
    int r;

    r = posture_json_parse(buf, len, POSTURE_EVIDENCE_MAX_SIZE, 4, &obj);
    if (r == -E2BIG || r == -ENOMEM)
        return r;
    if (r < 0)
        return bad(ret_why, "not valid JSON (syntax, nesting, or a duplicate member)");
    return posture_evidence_from_json(obj, ret, ret_why);
}

/* ---- verification ----------------------------------------------------------------------- */

void posture_evidence_verdict_done(struct posture_evidence_verdict *v)
{
    if (!v)
        return;
    v->secure_boot = posture_eventlog_secure_boot_free(v->secure_boot);
    v->log = posture_eventlog_free(v->log);
}

static bool
ak_matches(const struct posture_quote_ak *ak, const struct posture_evidence *e, int *ret_err)
{
    const uint8_t *name = posture_quote_ak_name(ak);
    struct posture_quote_ak *sent = NULL;
    bool same;
    int r;

    *ret_err = 0;
    if (CRYPTO_memcmp(name, e->ak_name, POSTURE_QUOTE_NAME_SIZE) != 0)
        return false;
    if (!e->ak_public)
        return true;
    /* The AK inside the evidence is only compared, never used (§5.4 step 3). */
    r = posture_quote_ak_new(e->ak_public, e->ak_public_len, NULL, 0, &sent);
    if (r == -ENOMEM || r == -EIO) {
        *ret_err = r;
        return false;
    }
    same = r >= 0 && CRYPTO_memcmp(posture_quote_ak_name(sent), name, POSTURE_QUOTE_NAME_SIZE) == 0;
    posture_quote_ak_free(sent);
    return same;
}

/* Steps 11-13: parse the log, compare its SHA-256 replay with the accepted PCR values, apply
 * the Secure Boot rules. */
static int
verify_log(const struct posture_evidence *e, uint32_t mask, struct posture_evidence_verdict *v)
{
    uint8_t replayed[POSTURE_QUOTE_PCR_MAX][POSTURE_QUOTE_DIGEST_SIZE];
    const struct posture_eventlog_bank *bank;
    int r;

    r = posture_eventlog_parse(e->event_log, e->event_log_len, &v->log, &v->eventlog_problem);
    if (r == -EBADMSG) {
        v->step = POSTURE_EVIDENCE_STEP_EVENTLOG;
        return 0;
    }
    if (r < 0)
        return r;

    bank = posture_eventlog_bank(v->log, POSTURE_TPM_ALG_SHA256);
    if (!bank || !bank->replayed) {
        v->step = POSTURE_EVIDENCE_STEP_EVENTLOG;
        v->eventlog_problem = (struct posture_eventlog_problem){
            .reason = POSTURE_EVENTLOG_BANK_MISSING,
            .event = -1,
        };
        return 0;
    }
    for (unsigned i = 0; i < POSTURE_QUOTE_PCR_MAX; i++)
        memcpy(replayed[i], bank->pcrs[i], POSTURE_QUOTE_DIGEST_SIZE);
    r = posture_quote_check_replay(mask, e->pcrs, e->n_pcrs, replayed, POSTURE_QUOTE_PCR_MAX,
                                   &v->quote_reason);
    if (r < 0)
        return r;
    if (v->quote_reason != POSTURE_QUOTE_OK) {
        v->step = POSTURE_EVIDENCE_STEP_REPLAY;
        return 0;
    }

    r = posture_eventlog_secure_boot(v->log, &v->secure_boot, &v->eventlog_problem);
    if (r == -EBADMSG) {
        v->step = POSTURE_EVIDENCE_STEP_EVENTLOG;
        return 0;
    }
    return r;
}

int posture_evidence_verify(const struct posture_quote_ak *ak,
                            const struct posture_evidence *e,
                            const struct posture_evidence_expect *expect,
                            struct posture_evidence_verdict *ret)
{
    POSTURE_CLEANUP(posture_evidence_verdict_done) struct posture_evidence_verdict v = { 0 };
    uint8_t binding[POSTURE_QUOTE_BINDING_SIZE];
    int r;

    if (!ak || !e || !expect || !ret || !expect->nonce || expect->pcr_mask == 0)
        return -EINVAL;

    if (!ak_matches(ak, e, &r)) {
        if (r < 0)
            return r;
        v.step = POSTURE_EVIDENCE_STEP_AK;
        goto done;
    }

    r = posture_quote_binding(expect->nonce, expect->nonce_len, expect->payload,
                              expect->payload_len, binding);
    if (r < 0)
        return r;
    const struct posture_quote_expect qe = {
        .extra_data = binding,
        .extra_data_len = sizeof(binding),
        .pcr_mask = expect->pcr_mask,
        .pcrs = e->pcrs,
        .n_pcrs = e->n_pcrs,
        .previous = expect->previous,
    };
    r = posture_quote_verify(ak, e->attest, e->attest_len, e->signature, e->signature_len, &qe,
                             &v.info, &v.quote_reason);
    if (r < 0)
        return r;
    if (v.quote_reason != POSTURE_QUOTE_OK) {
        v.step = POSTURE_EVIDENCE_STEP_QUOTE;
        goto done;
    }

    if (e->event_log) {
        r = verify_log(e, expect->pcr_mask, &v);
        if (r < 0)
            return r;
    }
    if (v.step != POSTURE_EVIDENCE_STEP_OK) {
        /* A refused log carries no facts a policy could use by mistake. */
        v.secure_boot = posture_eventlog_secure_boot_free(v.secure_boot);
        v.log = posture_eventlog_free(v.log);
    }
done:
    *ret = v;
    v = (struct posture_evidence_verdict){ 0 };
    return 0;
}

const char *posture_evidence_verdict_reason(const struct posture_evidence_verdict *v,
                                            char buf[static POSTURE_EVIDENCE_REASON_MAX])
{
    const char *s;

    switch (v->step) {
    case POSTURE_EVIDENCE_STEP_OK:
        return "ok";
    case POSTURE_EVIDENCE_STEP_AK:
        return "evidence-ak-mismatch";
    case POSTURE_EVIDENCE_STEP_QUOTE:
    case POSTURE_EVIDENCE_STEP_REPLAY:
        s = posture_quote_reason_to_string(v->quote_reason);
        return s ? s : "quote-invalid";
    case POSTURE_EVIDENCE_STEP_EVENTLOG:
        s = posture_eventlog_reason_to_string(v->eventlog_problem.reason);
        (void) snprintf(buf, POSTURE_EVIDENCE_REASON_MAX, "eventlog-%s", s ? s : "invalid");
        return buf;
    }
    return "invalid";
}
