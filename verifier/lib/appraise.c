/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Appraisal: recompute every check's verdict from its evidence under a policy, weigh the TPM
 * evidence, and map the result onto the AR4SI trustworthiness vector (appraise.h).
 */

#include "appraise.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "posture/cleanup.h"
#include "posture/eventlog.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/log.h"
#include "posture/parse.h"

static const char *const status_names[POSTURE_APPRAISAL_STATUS__MAX] = {
    [POSTURE_APPRAISAL_PASS] = "pass",   [POSTURE_APPRAISAL_WARN] = "warn",
    [POSTURE_APPRAISAL_FAIL] = "fail",   [POSTURE_APPRAISAL_NOT_APPLICABLE] = "not_applicable",
    [POSTURE_APPRAISAL_ERROR] = "error",
};

static const char *const tv_names[POSTURE_TV__MAX] = {
    [POSTURE_TV_INSTANCE_IDENTITY] = "instance-identity",
    [POSTURE_TV_CONFIGURATION] = "configuration",
    [POSTURE_TV_EXECUTABLES] = "executables",
    [POSTURE_TV_HARDWARE] = "hardware",
    [POSTURE_TV_STORAGE_OPAQUE] = "storage-opaque",
};

const char *posture_appraisal_status_to_string(enum posture_appraisal_status s)
{
    if ((int) s < 0 || s >= POSTURE_APPRAISAL_STATUS__MAX)
        return NULL;
    return status_names[s];
}

enum posture_appraisal_status posture_appraisal_status_from_string(const char *s)
{
    if (!s)
        return POSTURE_APPRAISAL_STATUS__INVALID;
    for (int i = 0; i < POSTURE_APPRAISAL_STATUS__MAX; i++)
        if (strcmp(status_names[i], s) == 0)
            return (enum posture_appraisal_status) i;
    return POSTURE_APPRAISAL_STATUS__INVALID;
}

const char *posture_tv_claim_to_string(enum posture_tv_claim c)
{
    if ((int) c < 0 || c >= POSTURE_TV__MAX)
        return NULL;
    return tv_names[c];
}

struct posture_appraisal *posture_appraisal_free(struct posture_appraisal *a)
{
    if (!a)
        return NULL;
    for (size_t i = 0; i < a->n_checks; i++) {
        free(a->checks[i].reason);
        free(a->checks[i].remediation);
    }
    free(a->checks);
    free(a->eat_nonce);
    free(a);
    return NULL;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static void raise_tv(struct posture_appraisal *a, enum posture_tv_claim c, int v)
{
    /* "Worse" is the higher tier; 99 (crypto) stays once set. */
    if (a->tv[c] == POSTURE_TV_CRYPTO_FAILED)
        return;
    if (v == POSTURE_TV_CRYPTO_FAILED || v > a->tv[c])
        a->tv[c] = (int8_t) v;
}

static void finding(struct posture_appraisal *a, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finding(struct posture_appraisal *a, const char *code, const char *fmt, ...)
{
    va_list ap;

    if (a->n_findings >= POSTURE_APPRAISAL_FINDINGS_MAX)
        return;
    struct posture_appraisal_finding *f = &a->findings[a->n_findings++];
    (void) snprintf(f->code, sizeof(f->code), "%s", code);
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): false positive, ap is started above */
    (void) vsnprintf(f->text, sizeof(f->text), fmt, ap);
    va_end(ap);
}

/* A bounded copy (cut at POSTURE_APPRAISAL_TEXT_MAX, on a UTF-8 boundary). */
static char *text_dup(const char *s)
{
    size_t n = strlen(s);

    if (n > POSTURE_APPRAISAL_TEXT_MAX) {
        n = POSTURE_APPRAISAL_TEXT_MAX;
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
            n--;
    }
    return strndup(s, n);
}

static int set_text(char **dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int set_text(char **dst, const char *fmt, ...)
{
    va_list ap;
    char buf[POSTURE_APPRAISAL_TEXT_MAX + 1];

    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): false positive, ap is started above */
    (void) vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    free(*dst);
    *dst = strdup(buf);
    return *dst ? 0 : -ENOMEM;
}

static int tier_of(int v)
{
    /* 0 none, 1 affirming, 2 warning, 3 contraindicated (GATEWAYS.md §4.3 tiers). */
    if (v >= 96 || v <= -2)
        return 3;
    if (v >= 32)
        return 2;
    if (v >= 2)
        return 1;
    return 0;
}

static const char *fmt_duration(char *buf, size_t size, uint64_t s)
{
    return posture_format_duration(buf, size, s * 1000000);
}

/* ---- report checks (§5.4 step 16) ------------------------------------------------------------ */

static void check_report(struct posture_appraisal *a,
                         const struct posture_appraise_input *in,
                         const cJSON *claims)
{
    const char *sub = posture_json_get_str(claims, "sub");
    int64_t iat = 0;

    /* kid / sub: the report must be about the device whose key verified it. */
    if (in->header) {
        const char *kid = posture_json_get_str(in->header, "kid");
        if (!kid || strcmp(kid, in->device->id) != 0) {
            finding(a, "kid-mismatch", "the report's kid is not the device key %s", in->device->id);
            raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 96);
        }
    }
    if (!sub || strcmp(sub, in->device->id) != 0) {
        finding(a, "sub-mismatch", "the report's sub is not the device id %s", in->device->id);
        raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 96);
    }

    const cJSON *nonce = cJSON_GetObjectItemCaseSensitive(claims, "eat_nonce");
    if (cJSON_IsString(nonce)) {
        a->eat_nonce = strndup(nonce->valuestring, 128);
    }
    if (in->nonce) {
        size_t n = strlen(in->nonce);
        if (!cJSON_IsString(nonce) || strlen(nonce->valuestring) != n ||
            CRYPTO_memcmp(nonce->valuestring, in->nonce, n) != 0) {
            finding(a, "nonce-mismatch", "the report's eat_nonce is not the nonce issued for it");
            raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 96);
        }
    }

    if (posture_json_get_int(claims, "iat", &iat) < 0) {
        finding(a, "iat-invalid", "the report has no integer iat");
        raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 96);
    } else {
        a->iat = iat;
        if (iat > in->now + POSTURE_JWS_SKEW_SEC) {
            finding(a, "iat-in-future", "the report was issued %lld s in the future",
                    (long long) (iat - in->now));
            raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 96);
        } else if (in->now - iat > POSTURE_REPORT_LIFETIME_SEC + POSTURE_JWS_SKEW_SEC) {
            finding(a, "iat-stale", "the report was issued %lld s ago (at most %d s accepted)",
                    (long long) (in->now - iat),
                    POSTURE_REPORT_LIFETIME_SEC + POSTURE_JWS_SKEW_SEC);
            raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 96);
        }
    }
    int64_t seq = 0;
    if (posture_json_get_int(claims, "seq", &seq) == 0 && seq >= 1)
        a->seq = (uint64_t) seq;
}

/* ---- TPM facts ------------------------------------------------------------------------------- */

static const uint8_t x509_guid[16] = { 0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
                                       0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72 };

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

int posture_appraise_esl_x509_sha256(const uint8_t *data,
                                     size_t len,
                                     uint8_t (*ret)[32],
                                     size_t max)
{
    size_t off = 0, n = 0;

    if (!data && len > 0)
        return -EINVAL;
    while (off < len) {
        if (len - off < 28)
            return -EBADMSG;
        const uint8_t *l = data + off;
        uint32_t list_size = le32(l + 16), header_size = le32(l + 20), sig_size = le32(l + 24);
        if (list_size < 28 || list_size > len - off || header_size > list_size - 28 ||
            sig_size < 16)
            return -EBADMSG;
        size_t body = list_size - 28 - header_size;
        if (body % sig_size != 0)
            return -EBADMSG;
        bool x509 = memcmp(l, x509_guid, 16) == 0;
        for (size_t s = 0; s < body / sig_size; s++) {
            const uint8_t *sig = l + 28 + header_size + s * sig_size;
            if (!x509)
                continue;
            if (n >= max)
                return -E2BIG;
            unsigned int dl = 0;
            if (EVP_Digest(sig + 16, sig_size - 16, ret[n], &dl, EVP_sha256(), NULL) != 1)
                return -EIO;
            n++;
        }
        off += list_size;
    }
    return (int) n;
}

/* Every certificate of variable idx must be on the allow-list. 1 allowed, 0 not (why set). */
static int allowed_certs(const struct posture_eventlog_secure_boot *sb,
                         int idx,
                         const uint8_t (*allow)[32],
                         size_t n_allow,
                         char *why,
                         size_t why_size)
{
    uint8_t digests[64][32];

    if (idx < 0 || (size_t) idx >= sb->n_config) {
        (void) snprintf(why, why_size, "is not measured in the event log");
        return 0;
    }
    const struct posture_eventlog_variable *v = &sb->config[idx];
    int n = posture_appraise_esl_x509_sha256(v->data, (size_t) v->data_len, digests, 64);
    if (n < 0) {
        (void) snprintf(why, why_size, "is not a valid signature list");
        return 0;
    }
    if (n == 0) {
        (void) snprintf(why, why_size, "holds no X.509 certificate");
        return 0;
    }
    for (int i = 0; i < n; i++) {
        bool ok = false;
        for (size_t k = 0; k < n_allow; k++)
            if (memcmp(digests[i], allow[k], 32) == 0)
                ok = true;
        if (!ok) {
            char hex[65];
            for (size_t b = 0; b < 32; b++)
                (void) snprintf(hex + 2 * b, 3, "%02x", digests[i][b]);
            (void) snprintf(why, why_size, "holds certificate sha256 %s, not on the allow-list",
                            hex);
            return 0;
        }
    }
    return 1;
}

static void appraise_tpm(struct posture_appraisal *a,
                         const struct posture_policy *p,
                         const struct posture_appraise_input *in)
{
    const struct posture_evidence_verdict *ev = in->evidence;
    bool hardware = in->device->tier == POSTURE_STORE_TIER_HARDWARE;
    const struct posture_eventlog_secure_boot *sb = NULL;
    bool needs_log = p->secure_boot || p->has_pk_sha256 || p->has_db_sha256;

    a->secure_boot = -1;
    if (!hardware) {
        if (p->trust_tier == POSTURE_POLICY_TIER_HARDWARE || p->pcr_quote || needs_log) {
            finding(a, "tier-software",
                    "the device is enrolled without a TPM (software tier); policy %s requires "
                    "the hardware tier",
                    p->id);
            raise_tv(a, POSTURE_TV_HARDWARE, 97);
        }
        if (needs_log)
            raise_tv(a, POSTURE_TV_EXECUTABLES, 96);
        return;
    }

    if (!ev) {
        if (p->trust_tier == POSTURE_POLICY_TIER_HARDWARE || p->pcr_quote || needs_log) {
            finding(a, "no-tpm-evidence",
                    "the submission carries no TPM quote; policy %s needs one", p->id);
            raise_tv(a, POSTURE_TV_HARDWARE, 97);
            if (needs_log)
                raise_tv(a, POSTURE_TV_EXECUTABLES, 96);
        }
        return;
    }

    char reason[POSTURE_EVIDENCE_REASON_MAX];
    switch (ev->step) {
    case POSTURE_EVIDENCE_STEP_OK:
        raise_tv(a, POSTURE_TV_HARDWARE, 2);
        break;
    case POSTURE_EVIDENCE_STEP_AK:
        finding(a, "evidence-ak-mismatch", "the quote is not from the device's enrolled AK");
        raise_tv(a, POSTURE_TV_HARDWARE, 97);
        return;
    case POSTURE_EVIDENCE_STEP_QUOTE:
        finding(a, posture_evidence_verdict_reason(ev, reason), "the TPM quote was refused");
        raise_tv(a, POSTURE_TV_HARDWARE, POSTURE_TV_CRYPTO_FAILED);
        return;
    case POSTURE_EVIDENCE_STEP_REPLAY:
        finding(a, posture_evidence_verdict_reason(ev, reason),
                "the event log does not replay to the quoted PCRs");
        raise_tv(a, POSTURE_TV_HARDWARE, 2);
        raise_tv(a, POSTURE_TV_EXECUTABLES, POSTURE_TV_CRYPTO_FAILED);
        return;
    case POSTURE_EVIDENCE_STEP_EVENTLOG:
    default:
        finding(a, posture_evidence_verdict_reason(ev, reason), "the event log was refused");
        raise_tv(a, POSTURE_TV_HARDWARE, 2);
        raise_tv(a, POSTURE_TV_EXECUTABLES, 96);
        return;
    }

    sb = ev->secure_boot;
    if (!sb) {
        /* §5.4 step 14: without a log only PCR values could be judged; never a silent pass. */
        finding(a, "no-event-log",
                "the evidence has no event log, so the boot chain and Secure Boot cannot be "
                "proven");
        raise_tv(a, POSTURE_TV_CONFIGURATION, 36);
        if (needs_log)
            raise_tv(a, POSTURE_TV_EXECUTABLES, 96);
        return;
    }
    a->secure_boot = sb->secure_boot;
    if (sb->debug_mode) {
        finding(a, "uefi-debug-mode", "the firmware measured \"UEFI Debug Mode\"");
        raise_tv(a, POSTURE_TV_EXECUTABLES, 96);
    }
    if (sb->dma_protection_disabled) {
        finding(a, "dma-protection-disabled", "the firmware measured \"DMA Protection Disabled\"");
        raise_tv(a, POSTURE_TV_EXECUTABLES, 32);
    }
    if (sb->secure_boot == 1 &&
        (sb->dbx < 0 || (size_t) sb->dbx >= sb->n_config || sb->config[sb->dbx].data_len == 0)) {
        finding(a, "dbx-missing", "Secure Boot runs without a revocation list (dbx)");
        raise_tv(a, POSTURE_TV_EXECUTABLES, 32);
    }
    if (sb->secure_boot == 1)
        raise_tv(a, POSTURE_TV_EXECUTABLES, 3);
    else if (p->secure_boot) {
        finding(a, sb->secure_boot == 0 ? "secure-boot-off" : "secure-boot-unknown",
                "the TPM event log shows SecureBoot=%s; policy %s requires it on",
                sb->secure_boot == 0 ? "0" : "unknown", p->id);
        raise_tv(a, POSTURE_TV_EXECUTABLES, 96);
    } else
        raise_tv(a, POSTURE_TV_EXECUTABLES, 33);

    char why[200];
    if (p->has_pk_sha256 && !allowed_certs(sb, sb->pk, (const uint8_t(*)[32]) p->pk_sha256,
                                           p->n_pk_sha256, why, sizeof(why))) {
        finding(a, "pk-not-allowed", "PK %s", why);
        raise_tv(a, POSTURE_TV_EXECUTABLES, 96);
    }
    if (p->has_db_sha256 && !allowed_certs(sb, sb->db, (const uint8_t(*)[32]) p->db_sha256,
                                           p->n_db_sha256, why, sizeof(why))) {
        finding(a, "db-not-allowed", "db %s", why);
        raise_tv(a, POSTURE_TV_EXECUTABLES, 96);
    }
}

/* ---- per-check ------------------------------------------------------------------------------- */

/* Evaluate a list; HOLDS when every condition holds, else the worst, with why of the first. */
static enum posture_policy_result eval_list(const struct posture_policy_cond *conds,
                                            size_t n,
                                            const cJSON *evidence,
                                            int64_t observed_at,
                                            char *why,
                                            size_t why_size)
{
    enum posture_policy_result worst = POSTURE_POLICY_HOLDS;
    char tmp[POSTURE_POLICY_ERROR_MAX];

    for (size_t i = 0; i < n; i++) {
        enum posture_policy_result r =
            posture_policy_cond_eval(&conds[i], evidence, observed_at, tmp, sizeof(tmp));
        /* A failure outranks an undecided condition, which outranks holding. */
        if ((r == POSTURE_POLICY_FAILS && worst != POSTURE_POLICY_FAILS) ||
            (r == POSTURE_POLICY_UNDECIDED && worst == POSTURE_POLICY_HOLDS)) {
            (void) snprintf(why, why_size, "%s", tmp);
            worst = r;
        }
    }
    return worst;
}

static const cJSON *find_result(const cJSON *checks, const char *id)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, checks)
    {
        const char *cid = posture_json_get_str(c, "id");
        if (cid && strcmp(cid, id) == 0)
            return c;
    }
    return NULL;
}

static const struct posture_appraisal_check *previous_check(const struct posture_appraisal *prev,
                                                            const char *id)
{
    if (!prev)
        return NULL;
    for (size_t i = 0; i < prev->n_checks; i++)
        if (strcmp(prev->checks[i].id, id) == 0)
            return &prev->checks[i];
    return NULL;
}

static int appraise_check(struct posture_appraisal_check *out,
                          const struct posture_policy_rule *rule,
                          const cJSON *result,
                          const struct posture_appraise_input *in)
{
    char why[POSTURE_POLICY_ERROR_MAX] = "";
    char d1[32], d2[32];
    int64_t observed_at = 0;
    int r;

    (void) snprintf(out->id, sizeof(out->id), "%s", rule->check_id);
    out->required = rule->required;
    /* a staged rule: shown but not enforced until its date (Kolide-style warn, then block) */
    out->report_only =
        rule->report_only || (rule->report_only_until > 0 && in->now < rule->report_only_until);

    if (!result) {
        out->status = POSTURE_APPRAISAL_FAIL;
        r = set_text(&out->reason, "The report has no result for %s, which the policy requires",
                     rule->check_id);
        if (r >= 0)
            r = set_text(&out->remediation,
                         "Install an agent that runs the %s check, then submit again",
                         rule->check_id);
        return r;
    }

    const char *agent_status = posture_json_get_str(result, "status");
    (void) snprintf(out->agent_status, sizeof(out->agent_status), "%s",
                    agent_status ? agent_status : "invalid");
    const char *agent_fix = posture_json_get_str(result, "remediation");

    if (posture_json_get_int(result, "observed_at", &observed_at) < 0 || observed_at <= 0) {
        out->status = POSTURE_APPRAISAL_ERROR;
        return set_text(&out->reason, "The result has no valid observed_at");
    }
    out->observed_at = observed_at;
    if (observed_at > in->now + POSTURE_JWS_SKEW_SEC) {
        out->status = POSTURE_APPRAISAL_FAIL;
        r = set_text(&out->reason, "The result was observed %lld s in the future",
                     (long long) (observed_at - in->now));
        if (r >= 0)
            r = set_text(&out->remediation, "Synchronise the device's clock");
        return r;
    }
    if (in->now - observed_at > (int64_t) rule->max_age_s) {
        out->status = POSTURE_APPRAISAL_FAIL;
        r = set_text(&out->reason, "The result is %s old; the policy accepts at most %s",
                     fmt_duration(d1, sizeof(d1), (uint64_t) (in->now - observed_at)),
                     fmt_duration(d2, sizeof(d2), rule->max_age_s));
        if (r >= 0)
            r = set_text(&out->remediation,
                         "Let the agent run its checks and report again (posturectl submit)");
        return r;
    }

    const cJSON *evidence = cJSON_GetObjectItemCaseSensitive(result, "evidence");
    if (!cJSON_IsObject(evidence))
        evidence = NULL;

    /* Order: decidable, then fail beats could-not-decide, then not_applicable, then warn,
     * then pass. */
    enum posture_policy_result e =
        eval_list(rule->decidable, rule->n_decidable, evidence, observed_at, why, sizeof(why));
    if (e != POSTURE_POLICY_HOLDS)
        e = POSTURE_POLICY_UNDECIDED;
    else
        e = eval_list(rule->evidence, rule->n_evidence, evidence, observed_at, why, sizeof(why));
    if (!evidence && e == POSTURE_POLICY_HOLDS) {
        e = POSTURE_POLICY_UNDECIDED;
        (void) snprintf(why, sizeof(why), "the result has no evidence object");
    }
    if (e == POSTURE_POLICY_FAILS) {
        out->status = POSTURE_APPRAISAL_FAIL;
        r = set_text(&out->reason, "Evidence fails the policy: %s", why);
    } else if (e == POSTURE_POLICY_UNDECIDED) {
        out->status = POSTURE_APPRAISAL_ERROR;
        r = set_text(&out->reason, "Cannot decide from the evidence: %s", why);
    } else if (rule->n_not_applicable > 0 &&
               eval_list(rule->not_applicable, rule->n_not_applicable, evidence, observed_at, why,
                         sizeof(why)) == POSTURE_POLICY_HOLDS) {
        out->status = POSTURE_APPRAISAL_NOT_APPLICABLE;
        r = set_text(&out->reason, "Not applicable to this device (by its evidence)");
    } else if (eval_list(rule->warn, rule->n_warn, evidence, observed_at, why, sizeof(why)) !=
               POSTURE_POLICY_HOLDS) {
        out->status = POSTURE_APPRAISAL_WARN;
        r = set_text(&out->reason, "Evidence needs attention: %s", why);
    } else {
        out->status = POSTURE_APPRAISAL_PASS;
        r = set_text(&out->reason, "Evidence meets the policy");
    }
    if (r < 0)
        return r;

    if (out->status != POSTURE_APPRAISAL_PASS && out->status != POSTURE_APPRAISAL_NOT_APPLICABLE) {
        const char *fix = rule->remediation ? rule->remediation : agent_fix;
        if (fix && fix[0]) {
            out->remediation = text_dup(fix);
            if (!out->remediation)
                return -ENOMEM;
        }
    }

    if (out->status == POSTURE_APPRAISAL_FAIL) {
        const struct posture_appraisal_check *prev = previous_check(in->previous, out->id);
        out->failing_since = prev && prev->status == POSTURE_APPRAISAL_FAIL &&
                                     prev->failing_since > 0 && prev->failing_since <= in->now
                                 ? prev->failing_since
                                 : in->now;
        if (rule->grace_s > 0 && in->now - out->failing_since < (int64_t) rule->grace_s)
            out->in_grace = true;
    }
    return 0;
}

static enum posture_tv_claim category(const char *check_id)
{
    return strncmp(check_id, "disk.", 5) == 0 ? POSTURE_TV_STORAGE_OPAQUE
                                              : POSTURE_TV_CONFIGURATION;
}

static void weigh_check(struct posture_appraisal *a, const struct posture_appraisal_check *c)
{
    enum posture_tv_claim cat = category(c->id);

    if (c->report_only)
        return;
    switch (c->status) {
    case POSTURE_APPRAISAL_PASS:
        raise_tv(a, cat, 2);
        break;
    case POSTURE_APPRAISAL_NOT_APPLICABLE:
        if (cat == POSTURE_TV_CONFIGURATION)
            raise_tv(a, cat, 2);
        break;
    case POSTURE_APPRAISAL_WARN:
        raise_tv(a, cat, 32);
        break;
    case POSTURE_APPRAISAL_FAIL:
        raise_tv(a, cat, c->in_grace ? 32 : 96);
        break;
    default:
        raise_tv(a, cat, 96);
        break;
    }
}

/* ---- the appraisal --------------------------------------------------------------------------- */

static int appraise_checks(struct posture_appraisal *a,
                           const struct posture_policy *p,
                           const struct posture_appraise_input *in,
                           const cJSON *claims)
{
    const cJSON *posture = cJSON_GetObjectItemCaseSensitive(claims, "posture");
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(posture, "checks");
    const cJSON *c;
    size_t n = 0;
    int r;

    if (!cJSON_IsObject(posture) || !cJSON_IsArray(checks)) {
        finding(a, "report-malformed", "the report has no posture.checks array");
        raise_tv(a, POSTURE_TV_CONFIGURATION, 96);
        checks = NULL;
    } else {
        /* Well-formed entries, each id once: a duplicate could hide a failing result. */
        cJSON_ArrayForEach(c, checks)
        {
            const char *id = posture_json_get_str(c, "id");
            if (++n > POSTURE_APPRAISAL_CHECKS_MAX || !cJSON_IsObject(c) || !id ||
                !posture_check_name_is_valid(id)) {
                finding(a, "report-malformed",
                        "posture.checks has more than %d entries, or an entry without a valid id",
                        POSTURE_APPRAISAL_CHECKS_MAX);
                raise_tv(a, POSTURE_TV_CONFIGURATION, 96);
                checks = NULL;
                break;
            }
            for (const cJSON *d = checks->child; d && d != c; d = d->next) {
                const char *did = posture_json_get_str(d, "id");
                if (did && strcmp(did, id) == 0) {
                    finding(a, "report-duplicate-check", "the report lists %.64s twice", id);
                    raise_tv(a, POSTURE_TV_CONFIGURATION, 96);
                    checks = NULL;
                    break;
                }
            }
            if (!checks)
                break;
        }
    }

    a->checks = calloc(p->n_rules > 0 ? p->n_rules : 1, sizeof(*a->checks));
    if (!a->checks)
        return -ENOMEM;
    for (size_t i = 0; i < p->n_rules; i++) {
        const struct posture_policy_rule *rule = &p->rules[i];
        const cJSON *result = checks ? find_result(checks, rule->check_id) : NULL;
        if (!result && !rule->required)
            continue;
        struct posture_appraisal_check *out = &a->checks[a->n_checks++];
        r = appraise_check(out, rule, result, in);
        if (r < 0)
            return r;
        weigh_check(a, out);
    }
    return 0;
}

int posture_appraise(const struct posture_policy *policy,
                     const struct posture_appraise_input *in,
                     struct posture_appraisal **ret)
{
    posture_auto_appraisal struct posture_appraisal *a = NULL;
    int r;

    if (!policy || !in || !in->device || !ret)
        return -EINVAL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    (void) snprintf(a->device_id, sizeof(a->device_id), "%s", in->device->id);
    a->tier = in->device->tier;
    (void) snprintf(a->policy_id, sizeof(a->policy_id), "%s", policy->id);
    (void) snprintf(a->policy_version, sizeof(a->policy_version), "%s", policy->version);
    memcpy(a->policy_digest, policy->digest, sizeof(a->policy_digest));
    a->appraised_at = in->now;
    a->secure_boot = -1;

    if (in->device->status != POSTURE_STORE_DEVICE_ACTIVE) {
        finding(a, "device-revoked", "the device %s is revoked", in->device->id);
        raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 96);
    }

    if (!in->claims) {
        if (in->jws_reason != 0) {
            const char *why = posture_jws_reason_to_string(in->jws_reason);
            finding(a, why ? why : "jws-invalid", "the report's signature or envelope is invalid");
            raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, POSTURE_TV_CRYPTO_FAILED);
        } else {
            finding(a, "device-key-unknown", "no device key to verify the report with");
            raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 97);
        }
    } else if (!cJSON_IsObject(in->claims)) {
        finding(a, "report-malformed", "the report's claims are not a JSON object");
        raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 96);
    } else {
        if (in->claims_unverified) {
            finding(a, "report-unverified",
                    "the report's signature was not checked (no device key given)");
            raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 97);
        }
        raise_tv(a, POSTURE_TV_INSTANCE_IDENTITY, 2);
        check_report(a, in, in->claims);
        r = appraise_checks(a, policy, in, in->claims);
        if (r < 0)
            return r;
    }
    if (in->claims)
        appraise_tpm(a, policy, in);

    /* ear.status: the worst tier in the vector (never better than the worst entry). */
    int worst = 0;
    for (int i = 0; i < POSTURE_TV__MAX; i++)
        if (tier_of(a->tv[i]) > worst)
            worst = tier_of(a->tv[i]);
    a->status = worst == 3   ? POSTURE_STORE_VERDICT_CONTRAINDICATED
                : worst == 2 ? POSTURE_STORE_VERDICT_WARNING
                : worst == 1 ? POSTURE_STORE_VERDICT_AFFIRMING
                             : POSTURE_STORE_VERDICT_NONE;
    log_debug("appraisal of %s under %s %s: %s", a->device_id, a->policy_id, a->policy_version,
              posture_store_verdict_to_string(a->status));
    *ret = POSTURE_TAKE_PTR(a);
    return 0;
}

/* ---- JSON --------------------------------------------------------------------------------------
 */

static int add_check_json(cJSON *arr, const struct posture_appraisal_check *c)
{
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    int r;

    if (!o)
        return -ENOMEM;
    if ((r = posture_json_add_str(o, "id", c->id)) < 0 ||
        (r = posture_json_add_str(o, "status", status_names[c->status])) < 0 ||
        (r = posture_json_add_str(o, "agent_status", c->agent_status[0] ? c->agent_status : NULL)) <
            0 ||
        (r = c->observed_at > 0 ? posture_json_add_int(o, "observed_at", c->observed_at)
                                : posture_json_add_null(o, "observed_at")) < 0 ||
        (r = posture_json_add_str(o, "reason", c->reason)) < 0 ||
        (r = posture_json_add_str(o, "remediation", c->remediation)) < 0 ||
        (r = posture_json_add_bool(o, "required", c->required)) < 0 ||
        (r = posture_json_add_bool(o, "report_only", c->report_only)) < 0 ||
        (r = posture_json_add_bool(o, "in_grace", c->in_grace)) < 0)
        return r;
    if (c->failing_since > 0 &&
        (r = posture_json_add_int(o, "failing_since", c->failing_since)) < 0)
        return r;
    return posture_json_append(arr, POSTURE_TAKE_PTR(o));
}

int posture_appraisal_to_json(const struct posture_appraisal *a, cJSON **ret)
{
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    cJSON *tv, *dev, *pol, *arr;
    char digest[8 + 65];
    int r;

    if (!a || !ret)
        return -EINVAL;
    if (!o)
        return -ENOMEM;
    if ((r = posture_json_add_str(o, "ear.status", posture_store_verdict_to_string(a->status))) < 0)
        return r;
    if ((r = posture_json_add_item(o, "ear.trustworthiness-vector", tv = cJSON_CreateObject())) < 0)
        return r;
    for (int i = 0; i < POSTURE_TV__MAX; i++)
        if ((r = posture_json_add_int(tv, tv_names[i], a->tv[i])) < 0)
            return r;
    if ((r = posture_json_add_item(o, "device", dev = cJSON_CreateObject())) < 0 ||
        (r = posture_json_add_str(dev, "id", a->device_id)) < 0 ||
        (r = posture_json_add_str(dev, "tier", posture_store_tier_to_string(a->tier))) < 0)
        return r;
    memcpy(digest, "sha-256:", 8);
    for (size_t b = 0; b < 32; b++)
        (void) snprintf(digest + 8 + 2 * b, 3, "%02x", a->policy_digest[b]);
    if ((r = posture_json_add_item(o, "policy", pol = cJSON_CreateObject())) < 0 ||
        (r = posture_json_add_str(pol, "id", a->policy_id)) < 0 ||
        (r = posture_json_add_str(pol, "version", a->policy_version)) < 0 ||
        (r = posture_json_add_str(pol, "digest", digest)) < 0)
        return r;
    if ((r = posture_json_add_int(o, "appraised_at", a->appraised_at)) < 0 ||
        (r = a->iat ? posture_json_add_int(o, "iat", a->iat) : posture_json_add_null(o, "iat")) <
            0 ||
        (r = a->seq ? posture_json_add_int(o, "seq", (int64_t) a->seq)
                    : posture_json_add_null(o, "seq")) < 0 ||
        (r = posture_json_add_str(o, "eat_nonce", a->eat_nonce)) < 0)
        return r;
    r = a->secure_boot < 0 ? posture_json_add_null(o, "secure_boot")
                           : posture_json_add_bool(o, "secure_boot", a->secure_boot == 1);
    if (r < 0)
        return r;
    if ((r = posture_json_add_item(o, "findings", arr = cJSON_CreateArray())) < 0)
        return r;
    for (size_t i = 0; i < a->n_findings; i++) {
        cJSON *f = cJSON_CreateObject();
        if ((r = posture_json_append(arr, f)) < 0 ||
            (r = posture_json_add_str(f, "code", a->findings[i].code)) < 0 ||
            (r = posture_json_add_str(f, "text", a->findings[i].text)) < 0)
            return r;
    }
    if ((r = posture_json_add_item(o, "checks", arr = cJSON_CreateArray())) < 0)
        return r;
    for (size_t i = 0; i < a->n_checks; i++)
        if ((r = add_check_json(arr, &a->checks[i])) < 0)
            return r;
    *ret = POSTURE_TAKE_PTR(o);
    return 0;
}

static bool counts_against(const struct posture_appraisal_check *c)
{
    return !c->report_only &&
           (c->status == POSTURE_APPRAISAL_FAIL || c->status == POSTURE_APPRAISAL_ERROR);
}

size_t posture_appraisal_failed(const struct posture_appraisal *a,
                                char *failed,
                                size_t failed_size,
                                char *remediation,
                                size_t remediation_size)
{
    size_t n = 0, len = 0;
    const char *fix = NULL;

    if (failed && failed_size > 0)
        failed[0] = '\0';
    if (remediation && remediation_size > 0)
        remediation[0] = '\0';
    if (!a)
        return 0;
    for (size_t i = 0; i < a->n_checks + a->n_findings; i++) {
        const char *item;
        if (i < a->n_checks) {
            const struct posture_appraisal_check *c = &a->checks[i];
            if (!counts_against(c))
                continue;
            item = c->id;
            if (!fix && c->remediation)
                fix = c->remediation;
        } else {
            const struct posture_appraisal_finding *f = &a->findings[i - a->n_checks];
            item = f->code;
            if (!fix)
                fix = f->text;
        }
        size_t need = strlen(item) + (n > 0 ? 1 : 0);
        if (failed && len + need < failed_size) {
            (void) snprintf(failed + len, failed_size - len, "%s%s", n > 0 ? "," : "", item);
            len += need;
        }
        n++;
    }
    if (fix && remediation && remediation_size > 0)
        (void) snprintf(remediation, remediation_size, "%s", fix);
    return n;
}

int posture_appraisal_record(const struct posture_appraisal *a,
                             const char *ear,
                             uint64_t received_at,
                             struct posture_store_appraisal *ret)
{
    if (!a || !ret)
        return -EINVAL;
    memset(ret, 0, sizeof(*ret));
    (void) snprintf(ret->device_id, sizeof(ret->device_id), "%s", a->device_id);
    ret->seq = a->seq;
    ret->received_at = received_at;
    ret->verdict = a->status;
    ret->ear = ear;
    (void) snprintf(ret->policy_id, sizeof(ret->policy_id), "%s", a->policy_id);
    (void) snprintf(ret->policy_version, sizeof(ret->policy_version), "%s", a->policy_version);
    memcpy(ret->policy_digest, a->policy_digest, sizeof(ret->policy_digest));
    (void) posture_appraisal_failed(a, ret->reason, sizeof(ret->reason), NULL, 0);
    return 0;
}
