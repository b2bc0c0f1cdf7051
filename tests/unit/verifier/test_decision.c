/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory decision view behind /v1/authz. */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/json.h"

#include "decision.h"
#include "testlib.h"

#define NOW 1795620700

static const char *const policies[] = { "baseline", "payments-admin" };

static void x5t_of(int n, uint8_t out[32])
{
    memset(out, 0, 32);
    out[0] = (uint8_t) n;
    out[31] = (uint8_t) (n >> 8);
}

static void
put_device(struct posture_decisions *d, int n, bool baseline_ok, bool payments_ok, int64_t exp)
{
    char id[32], subject[96];
    const struct posture_decision_entry e[] = {
        { .policy_id = "baseline",
          .policy_version = "2026.11.1",
          .status = baseline_ok ? "affirming" : "contraindicated",
          .allow = baseline_ok,
          .expires = exp,
          .token = "eyJ.baseline.sig",
          .failed_checks = baseline_ok ? "" : "net.firewall,disk.encryption",
          .remediation = "Turn on the firewall: \"ufw enable\"" },
        { .policy_id = "payments-admin",
          .policy_version = "1",
          .status = payments_ok ? "affirming" : "warning",
          .allow = payments_ok,
          .expires = exp,
          .token = "eyJ.payments.sig",
          .failed_checks = payments_ok ? "" : "boot.secure_boot" },
    };
    struct posture_decision_device dev = {
        .device_id = id, .subject = subject, .n_entries = 2, .entries = e
    };

    (void) snprintf(id, sizeof(id), "kid-%d", n);
    (void) snprintf(subject, sizeof(subject), "spiffe://corp.example/device/kid-%d", n);
    x5t_of(n, dev.x5t_s256);
    assert_int_equal(posture_decisions_put(d, &dev), 0);
}

static void
authz(struct posture_decisions *d, int n, const char *policy, int64_t now, struct posture_authz *a)
{
    uint8_t x[32];
    x5t_of(n, x);
    posture_decisions_authz(d, n < 0 ? NULL : x, policy, policies, 2, now, a);
}

static void test_answers(void **state)
{
    posture_auto_decisions struct posture_decisions *d = NULL;
    posture_auto_cjson cJSON *p = NULL;
    struct posture_authz *a = malloc(sizeof(*a));

    assert_non_null(a);
    assert_int_equal(posture_decisions_new(100, &d), 0);
    put_device(d, 1, true, false, NOW + 300);

    /* Allowed: every header, a token, max-age at most 30. */
    authz(d, 1, "baseline", NOW, a);
    assert_int_equal(a->status, 200);
    assert_string_equal(a->x_status, "affirming");
    assert_string_equal(a->x_device_id, "spiffe://corp.example/device/kid-1");
    assert_string_equal(a->x_policy, "baseline@2026.11.1");
    assert_string_equal(a->x_expires, "1795621000");
    assert_string_equal(a->x_token, "eyJ.baseline.sig");
    assert_string_equal(a->cache_control, "max-age=30");
    assert_string_equal(a->problem, "");
    /* Close to expiry the cache lifetime shrinks. */
    authz(d, 1, "baseline", NOW + 290, a);
    assert_string_equal(a->cache_control, "max-age=10");

    /* The same device fails the stricter policy: 403 naming the check, no token. */
    authz(d, 1, "payments-admin", NOW, a);
    assert_int_equal(a->status, 403);
    assert_string_equal(a->x_status, "warning");
    assert_string_equal(a->x_token, "");
    assert_string_equal(a->cache_control, "no-store");
    assert_int_equal(posture_json_parse(a->problem, strlen(a->problem), 4096, 4, &p), 0);
    assert_string_equal(posture_json_get_str(p, "type"), "urn:posture:problem:posture-failed");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "failed_checks"), 0)->valuestring,
                        "boot.secure_boot");

    /* Expired: the device stopped reporting. */
    authz(d, 1, "baseline", NOW + 300, a);
    assert_int_equal(a->status, 403);
    assert_non_null(strstr(a->problem, "posture-expired"));

    /* No credential, an unknown certificate: 401 with WWW-Authenticate. */
    authz(d, -1, "baseline", NOW, a);
    assert_int_equal(a->status, 401);
    assert_non_null(strstr(a->www_authenticate, "invalid_token"));
    authz(d, 2, "baseline", NOW, a);
    assert_int_equal(a->status, 401);
    assert_non_null(strstr(a->problem, "unknown-device"));

    /* A policy the verifier does not have: 503, fail closed. */
    authz(d, 1, "nonexistent", NOW, a);
    assert_int_equal(a->status, 503);
    authz(d, 1, NULL, NOW, a);
    assert_int_equal(a->status, 503);

    /* A device appraised under one policy only. */
    {
        const struct posture_decision_entry e = { .policy_id = "baseline",
                                                  .policy_version = "1",
                                                  .status = "affirming",
                                                  .allow = true,
                                                  .expires = NOW + 300,
                                                  .token = "t" };
        struct posture_decision_device dev = {
            .device_id = "kid-3", .subject = "s3", .n_entries = 1, .entries = &e
        };
        x5t_of(3, dev.x5t_s256);
        assert_int_equal(posture_decisions_put(d, &dev), 0);
        authz(d, 3, "payments-admin", NOW, a);
        assert_int_equal(a->status, 403);
        assert_non_null(strstr(a->problem, "not-appraised"));
    }

    /* A failing baseline: the problem carries both checks and the escaped remediation. */
    put_device(d, 1, false, false, NOW + 300);
    authz(d, 1, "baseline", NOW, a);
    assert_int_equal(a->status, 403);
    cJSON_Delete(p);
    p = NULL;
    assert_int_equal(posture_json_parse(a->problem, strlen(a->problem), 4096, 4, &p), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "failed_checks")), 2);
    assert_string_equal(posture_json_get_str(p, "remediation"),
                        "Turn on the firewall: \"ufw enable\"");

    /* Revocation. */
    assert_int_equal(posture_decisions_remove(d, "kid-1"), 0);
    assert_int_equal(posture_decisions_remove(d, "kid-1"), -ENOENT);
    authz(d, 1, "baseline", NOW, a);
    assert_int_equal(a->status, 401);
    free(a);
}

/* posture_decisions_revoke: every policy answers 403 device-revoked until a put replaces the
 * device (a new enrolment); other devices are untouched. */
static void test_revoke(void **state)
{
    posture_auto_decisions struct posture_decisions *d = NULL;
    posture_auto_cjson cJSON *p = NULL;
    struct posture_authz *a = malloc(sizeof(*a));

    assert_non_null(a);
    assert_int_equal(posture_decisions_new(100, &d), 0);
    put_device(d, 1, true, true, NOW + 300);
    put_device(d, 2, true, true, NOW + 300);

    assert_int_equal(posture_decisions_revoke(d, "kid-1"), 1);
    assert_int_equal(posture_decisions_revoke(d, "kid-1"), 0);
    assert_int_equal(posture_decisions_revoke(d, "kid-404"), -ENOENT);
    assert_int_equal(posture_decisions_revoke(d, NULL), -EINVAL);
    assert_int_equal(posture_decisions_revoke(NULL, "kid-1"), -EINVAL);
    assert_int_equal(posture_decisions_count(d), 2);

    for (size_t i = 0; i < 2; i++) {
        authz(d, 1, policies[i], NOW, a);
        assert_int_equal(a->status, 403);
        assert_string_equal(a->x_token, "");
        assert_string_equal(a->x_status, "");
        assert_string_equal(a->x_device_id, "spiffe://corp.example/device/kid-1");
        assert_string_equal(a->cache_control, "no-store");
        assert_int_equal(posture_json_parse(a->problem, strlen(a->problem), 4096, 4, &p), 0);
        assert_string_equal(posture_json_get_str(p, "type"), "urn:posture:problem:device-revoked");
        cJSON_Delete(p);
        p = NULL;
    }
    /* an unknown policy is still the gateway's configuration error */
    authz(d, 1, "nonexistent", NOW, a);
    assert_int_equal(a->status, 503);
    /* the other device is untouched */
    authz(d, 2, "baseline", NOW, a);
    assert_int_equal(a->status, 200);

    /* a put (the device enrolled again) replaces the revoked record */
    put_device(d, 1, true, true, NOW + 300);
    authz(d, 1, "baseline", NOW, a);
    assert_int_equal(a->status, 200);
    free(a);
}

/* posture_decisions_drop_policy: the entries under one policy go, the others stay. */
static void test_drop_policy(void **state)
{
    posture_auto_decisions struct posture_decisions *d = NULL;
    struct posture_authz *a = malloc(sizeof(*a));

    assert_non_null(a);
    assert_int_equal(posture_decisions_new(100, &d), 0);
    for (int n = 1; n <= 40; n++)
        put_device(d, n, true, true, NOW + 300);

    assert_int_equal(posture_decisions_drop_policy(d, "baseline"), 40);
    assert_int_equal(posture_decisions_drop_policy(d, "baseline"), 0);
    assert_int_equal(posture_decisions_drop_policy(d, "other"), 0);
    assert_int_equal(posture_decisions_drop_policy(d, NULL), -EINVAL);
    assert_int_equal(posture_decisions_drop_policy(NULL, "baseline"), -EINVAL);
    assert_int_equal(posture_decisions_count(d), 40);
    for (int n = 1; n <= 40; n++) {
        authz(d, n, "baseline", NOW, a);
        assert_int_equal(a->status, 403);
        assert_non_null(strstr(a->problem, "not-appraised"));
        authz(d, n, "payments-admin", NOW, a);
        assert_int_equal(a->status, 200);
        assert_string_equal(a->x_token, "eyJ.payments.sig");
        assert_string_equal(a->x_policy, "payments-admin@1");
    }
    /* the remaining entry survives another drop and a later put restores both */
    assert_int_equal(posture_decisions_drop_policy(d, "payments-admin"), 40);
    put_device(d, 7, true, false, NOW + 300);
    authz(d, 7, "baseline", NOW, a);
    assert_int_equal(a->status, 200);
    authz(d, 7, "payments-admin", NOW, a);
    assert_int_equal(a->status, 403);
    assert_non_null(strstr(a->problem, "posture-failed"));
    free(a);
}

static void test_put_rules(void **state)
{
    posture_auto_decisions struct posture_decisions *d = NULL;
    struct posture_decision_device dev = { .device_id = "kid-9", .subject = "s" };
    char long_token[POSTURE_DECISION_TOKEN_MAX + 2];
    struct posture_decision_entry e = { .policy_id = "baseline",
                                        .status = "affirming",
                                        .token = long_token };

    assert_int_equal(posture_decisions_new(2, &d), 0);
    put_device(d, 1, true, true, NOW + 300);
    /* A certificate belongs to one device. */
    x5t_of(1, dev.x5t_s256);
    assert_int_equal(posture_decisions_put(d, &dev), -EEXIST);
    /* Re-putting the same device replaces it (count unchanged). */
    put_device(d, 1, false, true, NOW + 300);
    assert_int_equal(posture_decisions_count(d), 1);
    /* Full. */
    put_device(d, 2, true, true, NOW + 300);
    x5t_of(7, dev.x5t_s256);
    assert_int_equal(posture_decisions_put(d, &dev), -E2BIG);
    /* Fields over their bounds. */
    assert_int_equal(posture_decisions_remove(d, "kid-2"), 0);
    memset(long_token, 'x', sizeof(long_token) - 1);
    long_token[sizeof(long_token) - 1] = '\0';
    dev.entries = &e;
    dev.n_entries = 1;
    assert_int_equal(posture_decisions_put(d, &dev), -E2BIG);
    dev.n_entries = POSTURE_DECISION_POLICIES_MAX + 1;
    assert_int_equal(posture_decisions_put(d, &dev), -EINVAL);
    dev.device_id = "";
    dev.n_entries = 0;
    assert_int_equal(posture_decisions_put(d, &dev), -EINVAL);
    assert_int_equal(posture_decisions_new(0, &(struct posture_decisions *){ NULL }), -EINVAL);
}

/* A report with a lower seq than the view's (spooled during an outage, delivered after a newer
 * one) is history: the view keeps the newer state. */
static void test_put_seq_order(void **state)
{
    posture_auto_decisions struct posture_decisions *d = NULL;
    struct posture_authz *a = malloc(sizeof(*a));
    const struct posture_decision_entry ok = { .policy_id = "baseline",
                                               .policy_version = "1",
                                               .status = "affirming",
                                               .allow = true,
                                               .expires = NOW + 300,
                                               .token = "eyJ.new.sig" };
    const struct posture_decision_entry bad = { .policy_id = "baseline",
                                                .policy_version = "1",
                                                .status = "contraindicated",
                                                .allow = false,
                                                .expires = NOW + 300,
                                                .token = "eyJ.old.sig",
                                                .failed_checks = "net.firewall" };
    struct posture_decision_device dev = {
        .device_id = "kid-1", .subject = "s", .n_entries = 1, .entries = &bad, .seq = 7
    };

    assert_non_null(a);
    assert_int_equal(posture_decisions_new(4, &d), 0);
    x5t_of(1, dev.x5t_s256);
    assert_int_equal(posture_decisions_put(d, &dev), 0);
    authz(d, 1, "baseline", NOW, a);
    assert_int_equal(a->status, 403);
    /* seq 9 (newer) replaces seq 7 */
    dev.entries = &ok;
    dev.seq = 9;
    assert_int_equal(posture_decisions_put(d, &dev), 0);
    authz(d, 1, "baseline", NOW, a);
    assert_int_equal(a->status, 200);
    assert_string_equal(a->x_token, "eyJ.new.sig");
    /* seq 8 arrives late: kept out, the answer is still seq 9's */
    dev.entries = &bad;
    dev.seq = 8;
    assert_int_equal(posture_decisions_put(d, &dev), 1);
    authz(d, 1, "baseline", NOW, a);
    assert_int_equal(a->status, 200);
    assert_string_equal(a->x_token, "eyJ.new.sig");
    /* the same seq again replaces (a re-put of the same report, e.g. at start) */
    dev.seq = 9;
    assert_int_equal(posture_decisions_put(d, &dev), 0);
    authz(d, 1, "baseline", NOW, a);
    assert_int_equal(a->status, 403);
    /* seq 0, a re-enrolment (no report yet), starts over whatever the view held */
    dev.n_entries = 0;
    dev.seq = 0;
    assert_int_equal(posture_decisions_put(d, &dev), 0);
    authz(d, 1, "baseline", NOW, a);
    assert_int_equal(a->status, 403);
    assert_non_null(strstr(a->problem, "not-appraised"));
    free(a);
}

struct race {
    struct posture_decisions *d;
    volatile int stop;
    unsigned torn;
};

static void *reader(void *p)
{
    struct race *rc = p;
    struct posture_authz *a = malloc(sizeof(*a));

    if (!a)
        return NULL;
    while (!rc->stop) {
        authz(rc->d, 1, "baseline", NOW, a);
        /* Never a mix of two versions: 200 goes with affirming and a token, 403 with
         * contraindicated and no token. */
        if (!((a->status == 200 && strcmp(a->x_status, "affirming") == 0 && a->x_token[0]) ||
              (a->status == 403 && strcmp(a->x_status, "contraindicated") == 0 && !a->x_token[0])))
            __atomic_add_fetch(&rc->torn, 1, __ATOMIC_RELAXED);
    }
    free(a);
    return NULL;
}

static void test_concurrency(void **state)
{
    struct race rc = { 0 };
    pthread_t t[4];

    assert_int_equal(posture_decisions_new(16, &rc.d), 0);
    put_device(rc.d, 1, true, true, NOW + 300);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &rc), 0);
    /* The writer must get through a steady stream of readers (no writer starvation). */
    for (int i = 0; i < 500; i++)
        put_device(rc.d, 1, i % 2 == 0, true, NOW + 300);
    rc.stop = 1;
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(rc.torn, 0);
    posture_decisions_free(rc.d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),     cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_drop_policy), cmocka_unit_test(test_put_rules),
        cmocka_unit_test(test_concurrency), cmocka_unit_test(test_put_seq_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
