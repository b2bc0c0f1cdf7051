/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EAR: claims from an appraisal, bounded in size, signed as eat+jwt (ear.h).
 */

#include "ear.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/version.h"

/* Detail levels (ear.h). */
enum {
    LEVEL_FULL = 0,     /* reasons of non-passing checks, remediation, finding texts */
    LEVEL_NO_REASON,    /* no reasons */
    LEVEL_SHORT_FIX,    /* remediation cut to 96 bytes */
    LEVEL_NO_TEXT,      /* no remediation, no finding texts */
    LEVEL_PASS_BARE,    /* passing checks: status only */
    LEVEL_NO_PASS,      /* passing checks left out */
    LEVEL_VERDICT_ONLY, /* = POSTURE_EAR_LEVEL_MAX: no checks at all */
};

static bool passing(const struct posture_appraisal_check *c)
{
    return c->status == POSTURE_APPRAISAL_PASS || c->status == POSTURE_APPRAISAL_NOT_APPLICABLE;
}

static int add_text(cJSON *o, const char *key, const char *text, size_t max)
{
    char buf[128];

    if (!text)
        return 0;
    if (max == 0 || strlen(text) <= max)
        return posture_json_add_str(o, key, text);
    size_t n = max < sizeof(buf) - 4 ? max : sizeof(buf) - 4;
    while (n > 0 && ((unsigned char) text[n] & 0xc0) == 0x80)
        n--;
    memcpy(buf, text, n);
    memcpy(buf + n, "...", 4);
    return posture_json_add_str(o, key, buf);
}

static int check_entry(const struct posture_appraisal_check *c, unsigned level, cJSON **ret)
{
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    int r;

    if (!o)
        return -ENOMEM;
    r = posture_json_add_str(o, "status", posture_appraisal_status_to_string(c->status));
    if (r < 0)
        return r;
    if (level >= LEVEL_PASS_BARE && passing(c)) {
        *ret = POSTURE_TAKE_PTR(o);
        return 0;
    }
    if (c->agent_status[0] && (r = posture_json_add_str(o, "agent_status", c->agent_status)) < 0)
        return r;
    if (c->observed_at > 0 && (r = posture_json_add_int(o, "observed_at", c->observed_at)) < 0)
        return r;
    if (!passing(c)) {
        if (level < LEVEL_NO_REASON && (r = add_text(o, "reason", c->reason, 0)) < 0)
            return r;
        if (level < LEVEL_NO_TEXT &&
            (r = add_text(o, "remediation", c->remediation, level >= LEVEL_SHORT_FIX ? 96 : 0)) < 0)
            return r;
    }
    if (c->in_grace && (r = posture_json_add_bool(o, "in_grace", true)) < 0)
        return r;
    if (c->report_only && (r = posture_json_add_bool(o, "report_only", true)) < 0)
        return r;
    if (c->failing_since > 0 &&
        (r = posture_json_add_int(o, "failing_since", c->failing_since)) < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(o);
    return 0;
}

/* The checks map; at LEVEL_VERDICT_ONLY + k (k >= 0) only the first failing checks are kept,
 * minus k from the end. */
static int checks_map(const struct posture_appraisal *a,
                      unsigned level,
                      size_t keep_failing,
                      cJSON *ext,
                      size_t *ret_omitted)
{
    size_t omitted = 0, failing = 0;
    int r;

    for (size_t i = 0; i < a->n_checks; i++) {
        const struct posture_appraisal_check *c = &a->checks[i];
        cJSON *e = NULL;
        if (passing(c) && level >= LEVEL_NO_PASS) {
            omitted++;
            continue;
        }
        if (!passing(c) && ++failing > keep_failing) {
            omitted++;
            continue;
        }
        r = check_entry(c, level, &e);
        if (r < 0)
            return r;
        r = posture_json_add_item(ext, c->id, e);
        if (r < 0)
            return r;
    }
    *ret_omitted = omitted;
    return 0;
}

static int build(const struct posture_appraisal *a,
                 const struct posture_ear_opts *o,
                 const char *jti,
                 unsigned level,
                 size_t keep_failing,
                 cJSON **ret)
{
    posture_auto_cjson cJSON *c = cJSON_CreateObject();
    cJSON *vid, *cnf, *submods, *dev, *tv, *ext;
    char sub[512], policy_id[512], digest[8 + 65], build_name[64];
    size_t omitted = 0;
    int r;

    if (!c)
        return -ENOMEM;
    if ((size_t) snprintf(sub, sizeof(sub), "spiffe://%s/device/%s", o->trust_domain,
                          a->device_id) >= sizeof(sub))
        return -EINVAL;
    (void) snprintf(build_name, sizeof(build_name), "posture-verifier %s", POSTURE_VERSION);
    (void) snprintf(policy_id, sizeof(policy_id), "%s/policies/%s/%s", o->issuer, a->policy_id,
                    a->policy_version);
    memcpy(digest, "sha-256:", 8);
    for (size_t b = 0; b < 32; b++)
        (void) snprintf(digest + 8 + 2 * b, 3, "%02x", a->policy_digest[b]);

    if ((r = posture_json_add_str(c, "iss", o->issuer)) < 0 ||
        (r = posture_json_add_str(c, "sub", sub)) < 0)
        return r;
    if (o->audience && (r = posture_json_add_str(c, "aud", o->audience)) < 0)
        return r;
    if ((r = posture_json_add_int(c, "iat", a->appraised_at)) < 0 ||
        (r = posture_json_add_int(c, "nbf", a->appraised_at)) < 0 ||
        (r = posture_json_add_int(c, "exp", a->appraised_at + POSTURE_EAR_LIFETIME_SEC)) < 0 ||
        (r = posture_json_add_str(c, "jti", jti)) < 0 ||
        (r = posture_json_add_str(c, "eat_profile", POSTURE_EAR_PROFILE)) < 0)
        return r;
    if (a->eat_nonce && (r = posture_json_add_str(c, "eat_nonce", a->eat_nonce)) < 0)
        return r;
    if ((r = posture_json_add_item(c, "ear.verifier-id", vid = cJSON_CreateObject())) < 0 ||
        (r = posture_json_add_str(vid, "developer", o->developer ? o->developer : o->issuer)) < 0 ||
        (r = posture_json_add_str(vid, "build", o->build ? o->build : build_name)) < 0)
        return r;
    if ((r = posture_json_add_item(c, "cnf", cnf = cJSON_CreateObject())) < 0)
        return r;
    if (o->jkt && (r = posture_json_add_str(cnf, "jkt", o->jkt)) < 0)
        return r;
    if (o->x5t_s256 && (r = posture_json_add_str(cnf, "x5t#S256", o->x5t_s256)) < 0)
        return r;

    if ((r = posture_json_add_item(c, "submods", submods = cJSON_CreateObject())) < 0 ||
        (r = posture_json_add_item(submods, "device", dev = cJSON_CreateObject())) < 0 ||
        (r = posture_json_add_str(dev, "ear.status", posture_store_verdict_to_string(a->status))) <
            0 ||
        (r = posture_json_add_item(dev, "ear.trustworthiness-vector", tv = cJSON_CreateObject())) <
            0)
        return r;
    for (int i = 0; i < POSTURE_TV__MAX; i++)
        if ((r = posture_json_add_int(tv, posture_tv_claim_to_string(i), a->tv[i])) < 0)
            return r;
    if ((r = posture_json_add_str(dev, "ear.appraisal-policy-id", policy_id)) < 0 ||
        (r = posture_json_add_item(dev, POSTURE_EAR_EXT_POLICY, ext = cJSON_CreateObject())) < 0 ||
        (r = posture_json_add_str(ext, "id", a->policy_id)) < 0 ||
        (r = posture_json_add_str(ext, "version", a->policy_version)) < 0 ||
        (r = posture_json_add_str(ext, "digest", digest)) < 0)
        return r;

    if (level < LEVEL_VERDICT_ONLY || keep_failing > 0) {
        if ((r = posture_json_add_item(dev, POSTURE_EAR_EXT_CHECKS, ext = cJSON_CreateObject())) <
            0)
            return r;
        r = checks_map(a, level, level >= LEVEL_VERDICT_ONLY ? keep_failing : SIZE_MAX, ext,
                       &omitted);
        if (r < 0)
            return r;
    } else
        omitted = a->n_checks;
    if (a->n_findings > 0) {
        if ((r = posture_json_add_item(dev, POSTURE_EAR_EXT_FINDINGS, ext = cJSON_CreateObject())) <
            0)
            return r;
        for (size_t i = 0; i < a->n_findings; i++) {
            if (cJSON_GetObjectItemCaseSensitive(ext, a->findings[i].code))
                continue;
            r = posture_json_add_str(ext, a->findings[i].code,
                                     level < LEVEL_NO_TEXT ? a->findings[i].text : "");
            if (r < 0)
                return r;
        }
    }
    if (level > LEVEL_FULL) {
        if ((r = posture_json_add_item(dev, POSTURE_EAR_EXT_DETAIL, ext = cJSON_CreateObject())) <
                0 ||
            (r = posture_json_add_bool(ext, "truncated", true)) < 0 ||
            (r = posture_json_add_int(ext, "omitted_checks", (int64_t) omitted)) < 0)
            return r;
    }
    *ret = POSTURE_TAKE_PTR(c);
    return 0;
}

static int make_jti(const struct posture_ear_opts *o, char buf[32])
{
    uint8_t raw[16];

    if (o->jti) {
        if (strlen(o->jti) >= 32)
            return -EINVAL;
        memcpy(buf, o->jti, strlen(o->jti) + 1);
        return 0;
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    return posture_b64url_encode_buf(raw, sizeof(raw), buf, 32) < 0 ? -EIO : 0;
}

static int check_opts(const struct posture_appraisal *a, const struct posture_ear_opts *o)
{
    if (!a || !o || !o->issuer || !o->trust_domain || !o->issuer[0] || !o->trust_domain[0])
        return -EINVAL;
    if (!o->jkt && !o->x5t_s256)
        return -EINVAL; /* an EAR without cnf could be replayed by anyone who holds it */
    return 0;
}

int posture_ear_claims(const struct posture_appraisal *a,
                       const struct posture_ear_opts *o,
                       unsigned level,
                       cJSON **ret)
{
    char jti[32];
    int r;

    if (!ret || level > POSTURE_EAR_LEVEL_MAX)
        return -EINVAL;
    r = check_opts(a, o);
    if (r < 0)
        return r;
    r = make_jti(o, jti);
    if (r < 0)
        return r;
    return build(a, o, jti, level, 0, ret);
}

int posture_ear_sign(EVP_PKEY *key,
                     const struct posture_appraisal *a,
                     const struct posture_ear_opts *o,
                     char **ret)
{
    char jti[32];
    int r;

    if (!key || !ret)
        return -EINVAL;
    r = check_opts(a, o);
    if (r < 0)
        return r;
    r = make_jti(o, jti);
    if (r < 0)
        return r;

    size_t n_failing = 0;
    for (size_t i = 0; i < a->n_checks; i++)
        if (!passing(&a->checks[i]))
            n_failing++;

    /* The header and signature parts have a fixed length for this key: computed once, so that
     * each candidate payload is only printed, and signed when it fits. */
    posture_autofree char *derived = NULL;
    const char *kid = o->kid;
    size_t overhead = 0;
    if (!kid) {
        r = posture_key_check_p256(key);
        if (r >= 0)
            r = posture_key_thumbprint(key, &derived);
        if (r < 0)
            return r;
        kid = derived;
    }
    r = posture_jws_overhead(POSTURE_EAR_TYP, kid, &overhead);
    if (r < 0)
        return r;

    /* Levels 0 .. VERDICT_ONLY-1 keep every failing check; then failing checks are dropped from
     * the end, one at a time, down to none. */
    for (unsigned level = 0; level <= LEVEL_VERDICT_ONLY; level++) {
        size_t keep = level < LEVEL_VERDICT_ONLY ? SIZE_MAX : n_failing;
        for (;;) {
            posture_auto_cjson cJSON *claims = NULL;
            posture_autofree char *payload = NULL;
            char *token = NULL;
            r = build(a, o, jti, level, keep, &claims);
            if (r >= 0)
                r = posture_json_print(claims, false, &payload);
            if (r < 0)
                return r;
            size_t len = strlen(payload);
            if (overhead + posture_b64url_encoded_len(len) <= POSTURE_EAR_MAX_SIZE) {
                r = posture_jws_sign_kid(key, kid, POSTURE_EAR_TYP, payload, len, &token);
                if (r < 0)
                    return r;
                if (strlen(token) <= POSTURE_EAR_MAX_SIZE) {
                    if (level > 0)
                        log_debug("EAR for %s cut to detail level %u (%zu failing checks kept)",
                                  a->device_id, level, keep == SIZE_MAX ? n_failing : keep);
                    *ret = token;
                    return 0;
                }
                free(token);
            }
            if (level < LEVEL_VERDICT_ONLY || keep == 0)
                break;
            keep--;
        }
    }
    return -E2BIG;
}

int posture_ear_previous(const cJSON *claims, struct posture_appraisal **ret)
{
    posture_auto_appraisal struct posture_appraisal *a = NULL;
    const cJSON *submods, *dev, *checks, *e;

    if (!claims || !ret)
        return -EINVAL;
    submods = cJSON_GetObjectItemCaseSensitive(claims, "submods");
    dev = cJSON_GetObjectItemCaseSensitive(submods, "device");
    if (!cJSON_IsObject(dev))
        return -EBADMSG;
    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->secure_boot = -1;
    checks = cJSON_GetObjectItemCaseSensitive(dev, POSTURE_EAR_EXT_CHECKS);
    if (!checks) {
        *ret = POSTURE_TAKE_PTR(a);
        return 0;
    }
    if (!cJSON_IsObject(checks) || cJSON_GetArraySize(checks) > POSTURE_APPRAISAL_CHECKS_MAX)
        return -EBADMSG;
    a->checks = calloc((size_t) cJSON_GetArraySize(checks) + 1, sizeof(*a->checks));
    if (!a->checks)
        return -ENOMEM;
    cJSON_ArrayForEach(e, checks)
    {
        struct posture_appraisal_check *c = &a->checks[a->n_checks];
        const char *status = posture_json_get_str(e, "status");
        int64_t since = 0;
        int s = posture_appraisal_status_from_string(status);
        if (s < 0 || strlen(e->string) >= sizeof(c->id))
            return -EBADMSG;
        (void) snprintf(c->id, sizeof(c->id), "%s", e->string);
        c->status = (enum posture_appraisal_status) s;
        int r = posture_json_get_int(e, "failing_since", &since);
        if (r == 0 && since > 0)
            c->failing_since = since;
        else if (r != -ENOENT && r != 0)
            return -EBADMSG;
        a->n_checks++;
    }
    *ret = POSTURE_TAKE_PTR(a);
    return 0;
}
