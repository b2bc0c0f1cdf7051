/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The EAR: claims shape (GATEWAYS.md §4.5), typ eat+jwt, 300 s, cnf, the size bound of 4 KB
 * with many failing checks (detail is cut, the verdict never), and reading the grace state back.
 * Independent JOSE tools check the signature in tests/integration/checks/verifier.verify.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"

#include "appraise.h"
#include "ear.h"
#include "testlib.h"

#define NOW 1795620000

static EVP_PKEY *make_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    return k;
}

/* An appraisal with n checks, the first n_fail failing with a long remediation. */
static struct posture_appraisal *appraisal(size_t n, size_t n_fail)
{
    struct posture_appraisal *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    (void) snprintf(a->device_id, sizeof(a->device_id), "%s",
                    "sFo6Rn9Cu2-geI3Ejd1pv0TFZQniuO8JjTtEBLtCwNo");
    (void) snprintf(a->policy_id, sizeof(a->policy_id), "baseline");
    (void) snprintf(a->policy_version, sizeof(a->policy_version), "2026.11.1");
    memset(a->policy_digest, 0xab, 32);
    a->appraised_at = NOW;
    a->secure_boot = -1;
    a->eat_nonce = strdup("q3x8Jm1v0bq7yQvYV4f0yA");
    a->checks = calloc(n + 1, sizeof(*a->checks));
    assert_non_null(a->checks);
    for (size_t i = 0; i < n; i++) {
        struct posture_appraisal_check *c = &a->checks[a->n_checks++];
        (void) snprintf(c->id, sizeof(c->id), "check.number_%03zu", i);
        (void) snprintf(c->agent_status, sizeof(c->agent_status), "pass");
        c->observed_at = NOW - 3;
        if (i < n_fail) {
            char text[300];
            memset(text, 'r', sizeof(text) - 1);
            text[sizeof(text) - 1] = '\0';
            c->status = POSTURE_APPRAISAL_FAIL;
            c->failing_since = NOW - (int64_t) i;
            c->reason = strdup("Evidence fails the policy: /x is 1; the policy requires le 0");
            c->remediation = strdup(text);
        } else {
            c->status = POSTURE_APPRAISAL_PASS;
            c->reason = strdup("Evidence meets the policy");
        }
    }
    a->status = n_fail ? POSTURE_STORE_VERDICT_CONTRAINDICATED : POSTURE_STORE_VERDICT_AFFIRMING;
    a->tv[POSTURE_TV_INSTANCE_IDENTITY] = 2;
    a->tv[POSTURE_TV_CONFIGURATION] = n_fail ? 96 : 2;
    a->tv[POSTURE_TV_STORAGE_OPAQUE] = 2;
    return a;
}

static const struct posture_ear_opts opts = {
    .issuer = "https://verifier.corp.example",
    .trust_domain = "corp.example",
    .audience = "https://gw.corp.example",
    .jkt = "sFo6Rn9Cu2-geI3Ejd1pv0TFZQniuO8JjTtEBLtCwNo",
    .x5t_s256 = "tS6YZiwC1anLULKBUgaDFfFiCzIvIf6M1YCgW-IPBgc",
};

static struct posture_jws *verify(const char *token, EVP_PKEY *key)
{
    struct posture_jws *jws = NULL;
    struct posture_jws_verify_opts vo = { .typ = POSTURE_EAR_TYP, .now = NOW };
    int reason = -1;
    assert_int_equal(posture_jws_verify(token, strlen(token), key, &vo, &reason, &jws), 0);
    assert_int_equal(reason, POSTURE_JWS_OK);
    return jws;
}

static const cJSON *device_submod(const cJSON *claims)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(claims, "submods");
    return cJSON_GetObjectItemCaseSensitive(s, "device");
}

static void test_claims(void **state)
{
    (void) state;
    EVP_PKEY *key = make_key();
    struct posture_appraisal *a = appraisal(3, 1);
    char *token = NULL;
    int64_t v = 0;

    assert_int_equal(posture_ear_sign(key, a, &opts, &token), 0);
    struct posture_jws *jws = verify(token, key);
    const cJSON *c = jws->payload;

    assert_string_equal(posture_json_get_str(jws->header, "typ"), "eat+jwt");
    assert_string_equal(posture_json_get_str(jws->header, "alg"), "ES256");
    assert_string_equal(posture_json_get_str(c, "iss"), "https://verifier.corp.example");
    assert_string_equal(posture_json_get_str(c, "sub"),
                        "spiffe://corp.example/device/sFo6Rn9Cu2-geI3Ejd1pv0TFZQniuO8JjTtEBLtCwNo");
    assert_string_equal(posture_json_get_str(c, "aud"), "https://gw.corp.example");
    assert_int_equal(posture_json_get_int(c, "iat", &v), 0);
    assert_int_equal(v, NOW);
    assert_int_equal(posture_json_get_int(c, "nbf", &v), 0);
    assert_int_equal(v, NOW);
    assert_int_equal(posture_json_get_int(c, "exp", &v), 0);
    assert_int_equal(v, NOW + 300);
    assert_int_equal(strlen(posture_json_get_str(c, "jti")), 22);
    assert_string_equal(posture_json_get_str(c, "eat_profile"), "tag:github.com,2023:veraison/ear");
    assert_string_equal(posture_json_get_str(c, "eat_nonce"), "q3x8Jm1v0bq7yQvYV4f0yA");
    const cJSON *vid = cJSON_GetObjectItemCaseSensitive(c, "ear.verifier-id");
    assert_string_equal(posture_json_get_str(vid, "developer"), opts.issuer);
    assert_non_null(strstr(posture_json_get_str(vid, "build"), "posture-verifier "));
    const cJSON *cnf = cJSON_GetObjectItemCaseSensitive(c, "cnf");
    assert_string_equal(posture_json_get_str(cnf, "jkt"), opts.jkt);
    assert_string_equal(posture_json_get_str(cnf, "x5t#S256"), opts.x5t_s256);

    const cJSON *dev = device_submod(c);
    assert_string_equal(posture_json_get_str(dev, "ear.status"), "contraindicated");
    assert_string_equal(posture_json_get_str(dev, "ear.appraisal-policy-id"),
                        "https://verifier.corp.example/policies/baseline/2026.11.1");
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(dev, "ear.trustworthiness-vector");
    assert_int_equal(posture_json_get_int(tv, "configuration", &v), 0);
    assert_int_equal(v, 96);
    assert_int_equal(cJSON_GetArraySize(tv), POSTURE_TV__MAX);
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(dev, POSTURE_EAR_EXT_POLICY);
    assert_string_equal(posture_json_get_str(pol, "digest"),
                        "sha-256:abababababababababababababababababababababababababababababababab");
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(dev, POSTURE_EAR_EXT_CHECKS);
    assert_int_equal(cJSON_GetArraySize(checks), 3);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(checks, "check.number_000");
    assert_string_equal(posture_json_get_str(f, "status"), "fail");
    assert_string_equal(posture_json_get_str(f, "agent_status"), "pass");
    assert_non_null(posture_json_get_str(f, "remediation"));
    assert_int_equal(posture_json_get_int(f, "failing_since", &v), 0);
    /* Passing checks carry no reason or remediation. */
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(checks, "check.number_001");
    assert_null(cJSON_GetObjectItemCaseSensitive(p, "remediation"));
    assert_null(cJSON_GetObjectItemCaseSensitive(p, "reason"));
    /* Full detail: no truncation marker. */
    assert_null(cJSON_GetObjectItemCaseSensitive(dev, POSTURE_EAR_EXT_DETAIL));

    /* Another key does not verify it; a posture+jwt verifier refuses the typ. */
    EVP_PKEY *other = make_key();
    struct posture_jws *bad = NULL;
    int reason = 0;
    struct posture_jws_verify_opts vo = { .typ = POSTURE_EAR_TYP, .now = NOW };
    assert_int_equal(posture_jws_verify(token, strlen(token), other, &vo, &reason, &bad), -EBADMSG);
    vo.typ = POSTURE_JWS_TYP_REPORT;
    assert_int_equal(posture_jws_verify(token, strlen(token), key, &vo, &reason, &bad), -EBADMSG);
    assert_int_equal(reason, POSTURE_JWS_TYP_MISMATCH);

    EVP_PKEY_free(other);
    posture_jws_free(jws);
    free(token);
    posture_appraisal_free(a);
    EVP_PKEY_free(key);
}

static void test_size_bound(void **state)
{
    (void) state;
    EVP_PKEY *key = make_key();
    size_t counts[][2] = { { 6, 6 }, { 20, 3 }, { 40, 40 }, { 200, 200 }, { 256, 10 } };

    for (size_t t = 0; t < sizeof(counts) / sizeof(counts[0]); t++) {
        struct posture_appraisal *a = appraisal(counts[t][0], counts[t][1]);
        char *token = NULL;
        int64_t omitted = -1;
        bool truncated = false;

        for (size_t i = 0; i < POSTURE_APPRAISAL_FINDINGS_MAX; i++) {
            (void) snprintf(a->findings[i].code, sizeof(a->findings[i].code), "finding-%zu", i);
            memset(a->findings[i].text, 'f', 200);
        }
        a->n_findings = POSTURE_APPRAISAL_FINDINGS_MAX;
        assert_int_equal(posture_ear_sign(key, a, &opts, &token), 0);
        assert_true(strlen(token) <= POSTURE_EAR_MAX_SIZE);
        struct posture_jws *jws = verify(token, key);
        const cJSON *dev = device_submod(jws->payload);
        /* The verdict, the vector and the policy are never cut. */
        assert_string_equal(posture_json_get_str(dev, "ear.status"),
                            counts[t][1] ? "contraindicated" : "affirming");
        assert_non_null(cJSON_GetObjectItemCaseSensitive(dev, "ear.trustworthiness-vector"));
        assert_non_null(cJSON_GetObjectItemCaseSensitive(dev, POSTURE_EAR_EXT_POLICY));
        const cJSON *detail = cJSON_GetObjectItemCaseSensitive(dev, POSTURE_EAR_EXT_DETAIL);
        if (detail) {
            assert_int_equal(posture_json_get_bool(detail, "truncated", &truncated), 0);
            assert_int_equal(posture_json_get_int(detail, "omitted_checks", &omitted), 0);
        }
        const cJSON *checks = cJSON_GetObjectItemCaseSensitive(dev, POSTURE_EAR_EXT_CHECKS);
        size_t shown = checks ? (size_t) cJSON_GetArraySize(checks) : 0;
        if (counts[t][0] >= 40) {
            assert_true(truncated);
            assert_int_equal((size_t) omitted + shown, counts[t][0]);
            /* What is kept are failing checks, before any passing one. */
            const cJSON *e;
            cJSON_ArrayForEach(e, checks)
            {
                if (counts[t][1] >= shown)
                    assert_string_equal(posture_json_get_str(e, "status"), "fail");
            }
        }
        posture_jws_free(jws);
        free(token);
        posture_appraisal_free(a);
    }
    EVP_PKEY_free(key);
}

static void test_levels_and_errors(void **state)
{
    (void) state;
    struct posture_appraisal *a = appraisal(4, 2);
    struct posture_ear_opts o = opts;
    cJSON *c = NULL;

    assert_int_equal(posture_ear_claims(a, &o, POSTURE_EAR_LEVEL_MAX, &c), 0);
    const cJSON *dev = device_submod(c);
    assert_null(cJSON_GetObjectItemCaseSensitive(dev, POSTURE_EAR_EXT_CHECKS));
    assert_string_equal(posture_json_get_str(dev, "ear.status"), "contraindicated");
    cJSON_Delete(c);
    assert_int_equal(posture_ear_claims(a, &o, POSTURE_EAR_LEVEL_MAX + 1, &c), -EINVAL);

    /* No cnf at all: refused (a bearer EAR could be replayed by anyone holding it). */
    o.jkt = NULL;
    o.x5t_s256 = NULL;
    assert_int_equal(posture_ear_claims(a, &o, 0, &c), -EINVAL);
    o = opts;
    o.trust_domain = "";
    assert_int_equal(posture_ear_claims(a, &o, 0, &c), -EINVAL);
    o = opts;
    o.audience = NULL;
    o.x5t_s256 = NULL;
    o.jti = "fixed-jti";
    assert_int_equal(posture_ear_claims(a, &o, 0, &c), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(c, "aud"));
    assert_string_equal(posture_json_get_str(c, "jti"), "fixed-jti");
    assert_null(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "cnf"), "x5t#S256"));
    cJSON_Delete(c);
    posture_appraisal_free(a);
}

static void test_previous(void **state)
{
    (void) state;
    struct posture_appraisal *a = appraisal(5, 2), *prev = NULL;
    cJSON *c = NULL, *bad = NULL;

    assert_int_equal(posture_ear_claims(a, &opts, 0, &c), 0);
    assert_int_equal(posture_ear_previous(c, &prev), 0);
    assert_int_equal(prev->n_checks, 5);
    assert_string_equal(prev->checks[1].id, "check.number_001");
    assert_int_equal(prev->checks[1].status, POSTURE_APPRAISAL_FAIL);
    assert_int_equal(prev->checks[1].failing_since, NOW - 1);
    assert_int_equal(prev->checks[4].status, POSTURE_APPRAISAL_PASS);
    assert_int_equal(prev->checks[4].failing_since, 0);
    prev = posture_appraisal_free(prev);

    /* Not an EAR; an unknown status. */
    assert_int_equal(posture_json_parse("{\"submods\":1}", 13, 100, 4, &bad), 0);
    assert_int_equal(posture_ear_previous(bad, &prev), -EBADMSG);
    cJSON_Delete(bad);
    const char *odd = "{\"submods\":{\"device\":{\"" POSTURE_EAR_EXT_CHECKS
                      "\":{\"a.b\":{\"status\":\"great\"}}}}}";
    assert_int_equal(posture_json_parse(odd, strlen(odd), 1000, 8, &bad), 0);
    assert_int_equal(posture_ear_previous(bad, &prev), -EBADMSG);
    assert_null(prev);
    cJSON_Delete(bad);
    cJSON_Delete(c);
    posture_appraisal_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_levels_and_errors),
        cmocka_unit_test(test_previous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
