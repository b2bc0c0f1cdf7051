/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Appraisal: verdicts are recomputed from evidence (the agent's status never decides), report
 * checks (nonce, kid, iat, observed_at, missing checks), grace, report_only, the trust tier and
 * Secure Boot from real event logs (tests/fixtures/eventlogs), PK/db allow-lists and the AR4SI
 * vector.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "posture/eventlog.h"
#include "posture/evidence.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/jws.h"

#include "appraise.h"
#include "policy.h"
#include "testlib.h"

#define NOW    1795620000
#define DEVICE "dev-kid-1"
#define NONCE  "q3x8Jm1v0bq7yQvYV4f0yA"

static const char policy_json[] =
    "{\"id\":\"p\",\"version\":\"1\",\"max_age\":\"15m\",\"checks\":{"
    "\"os.patch_level\":{\"evidence\":[{\"path\":\"/pending_security_updates\",\"op\":\"le\","
    "\"value\":0}],\"warn\":[{\"path\":\"/reboot_required\",\"op\":\"false\"}],"
    "\"remediation\":\"Patch it\"},"
    "\"disk.encryption\":{\"evidence\":[{\"path\":\"/unencrypted\",\"op\":\"eq\",\"value\":[]}]},"
    "\"net.firewall\":{\"required\":false,\"evidence\":[{\"path\":\"/ipv4_inbound_default_deny\","
    "\"op\":\"true\"}]}}}";

static struct posture_policy *policy(const char *json)
{
    struct posture_policy *p = NULL;
    char err[POSTURE_POLICY_ERROR_MAX];
    if (posture_policy_parse("p.json", json, strlen(json), &p, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    return p;
}

/* A result object: id, agent status, observed_at, evidence (JSON text). */
static cJSON *result(const char *id, const char *status, int64_t observed_at, const char *evidence)
{
    cJSON *r = cJSON_CreateObject(), *ev = NULL;
    assert_int_equal(posture_json_add_str(r, "id", id), 0);
    assert_int_equal(posture_json_add_str(r, "status", status), 0);
    assert_int_equal(posture_json_add_str(r, "remediation", "agent's advice"), 0);
    assert_int_equal(posture_json_add_int(r, "observed_at", observed_at), 0);
    if (evidence) {
        assert_int_equal(posture_json_parse(evidence, strlen(evidence), 65536, 16, &ev), 0);
        assert_int_equal(posture_json_add_item(r, "evidence", ev), 0);
    }
    return r;
}

static cJSON *claims_with(cJSON *checks)
{
    cJSON *c = cJSON_CreateObject(), *posture = cJSON_CreateObject();
    assert_int_equal(posture_json_add_str(c, "iss", DEVICE), 0);
    assert_int_equal(posture_json_add_str(c, "sub", DEVICE), 0);
    assert_int_equal(posture_json_add_int(c, "iat", NOW - 5), 0);
    assert_int_equal(posture_json_add_int(c, "seq", 7), 0);
    assert_int_equal(posture_json_add_str(c, "eat_nonce", NONCE), 0);
    assert_int_equal(posture_json_add_item(c, "posture", posture), 0);
    assert_int_equal(posture_json_add_item(posture, "checks", checks), 0);
    return c;
}

/* The usual good report: patch level and disk pass on evidence. */
static cJSON *good_checks(void)
{
    cJSON *a = cJSON_CreateArray();
    posture_json_append(a, result("os.patch_level", "pass", NOW - 10,
                                  "{\"pending_security_updates\":0,\"reboot_required\":false}"));
    posture_json_append(a, result("disk.encryption", "pass", NOW - 10, "{\"unencrypted\":[]}"));
    return a;
}

struct fixture {
    struct posture_policy *policy;
    cJSON *claims, *header;
    struct posture_store_device device;
    struct posture_appraise_input in;
    struct posture_appraisal *a;
};

static void setup_input(struct fixture *f, const char *pjson, cJSON *checks)
{
    memset(f, 0, sizeof(*f));
    f->policy = policy(pjson);
    f->claims = claims_with(checks);
    f->header = cJSON_CreateObject();
    posture_json_add_str(f->header, "kid", DEVICE);
    (void) snprintf(f->device.id, sizeof(f->device.id), "%s", DEVICE);
    f->device.tier = POSTURE_STORE_TIER_SOFTWARE;
    f->device.status = POSTURE_STORE_DEVICE_ACTIVE;
    f->in.claims = f->claims;
    f->in.header = f->header;
    f->in.device = &f->device;
    f->in.nonce = NONCE;
    f->in.now = NOW;
}

static void run(struct fixture *f)
{
    f->a = posture_appraisal_free(f->a);
    assert_int_equal(posture_appraise(f->policy, &f->in, &f->a), 0);
}

static void done(struct fixture *f)
{
    posture_appraisal_free(f->a);
    posture_policy_free(f->policy);
    cJSON_Delete(f->claims);
    cJSON_Delete(f->header);
}

static const struct posture_appraisal_check *find_check(const struct posture_appraisal *a,
                                                        const char *id)
{
    for (size_t i = 0; i < a->n_checks; i++)
        if (strcmp(a->checks[i].id, id) == 0)
            return &a->checks[i];
    return NULL;
}

/* A check that must be there: never NULL for the callers, which dereference at once (a missing
 * check ends the run here; this also tells gcc -O2 -Wnull-dereference that no NULL follows). */
static const struct posture_appraisal_check *check(const struct posture_appraisal *a,
                                                   const char *id)
{
    const struct posture_appraisal_check *c = find_check(a, id);

    if (!c) {
        (void) fprintf(stderr, "check %s is not in the appraisal\n", id);
        abort();
    }
    return c;
}

static bool has_finding(const struct posture_appraisal *a, const char *code)
{
    for (size_t i = 0; i < a->n_findings; i++)
        if (strcmp(a->findings[i].code, code) == 0)
            return true;
    return false;
}

static void test_affirming(void **state)
{
    (void) state;
    struct fixture f;

    setup_input(&f, policy_json, good_checks());
    run(&f);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_AFFIRMING);
    assert_int_equal(f.a->tv[POSTURE_TV_INSTANCE_IDENTITY], 2);
    assert_int_equal(f.a->tv[POSTURE_TV_CONFIGURATION], 2);
    assert_int_equal(f.a->tv[POSTURE_TV_STORAGE_OPAQUE], 2);
    assert_int_equal(f.a->tv[POSTURE_TV_HARDWARE], 0);
    assert_int_equal(f.a->tv[POSTURE_TV_EXECUTABLES], 0);
    assert_int_equal(f.a->n_findings, 0);
    /* net.firewall is not required and absent: not listed. */
    assert_int_equal(f.a->n_checks, 2);
    assert_null(find_check(f.a, "net.firewall"));
    assert_string_equal(f.a->policy_id, "p");
    assert_memory_equal(f.a->policy_digest, f.policy->digest, 32);
    assert_int_equal(f.a->seq, 7);
    assert_int_equal(f.a->iat, NOW - 5);
    assert_string_equal(f.a->eat_nonce, NONCE);
    assert_int_equal(f.a->secure_boot, -1);
    assert_null(check(f.a, "os.patch_level")->remediation);
    done(&f);
}

/* The agent's status never decides: a pass over failing evidence fails, and the reverse. */
static void test_agent_status_ignored(void **state)
{
    (void) state;
    struct fixture f;
    cJSON *a = cJSON_CreateArray();

    posture_json_append(a, result("os.patch_level", "pass", NOW - 10,
                                  "{\"pending_security_updates\":3,\"reboot_required\":false}"));
    posture_json_append(a, result("disk.encryption", "fail", NOW - 10, "{\"unencrypted\":[]}"));
    setup_input(&f, policy_json, a);
    run(&f);
    const struct posture_appraisal_check *c = check(f.a, "os.patch_level");
    assert_int_equal(c->status, POSTURE_APPRAISAL_FAIL);
    assert_string_equal(c->agent_status, "pass");
    assert_non_null(strstr(c->reason, "/pending_security_updates is 3; the policy requires le 0"));
    /* The rule's remediation wins over the agent's. */
    assert_string_equal(c->remediation, "Patch it");
    assert_int_equal(c->failing_since, NOW);
    assert_false(c->in_grace);
    c = check(f.a, "disk.encryption");
    assert_int_equal(c->status, POSTURE_APPRAISAL_PASS);
    assert_string_equal(c->agent_status, "fail");
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    assert_int_equal(f.a->tv[POSTURE_TV_CONFIGURATION], 96);
    assert_int_equal(f.a->tv[POSTURE_TV_STORAGE_OPAQUE], 2);
    done(&f);
}

static void test_warn_error_na(void **state)
{
    (void) state;
    struct fixture f;
    cJSON *a = cJSON_CreateArray();

    /* reboot required: warn; disk evidence lacks the field: error (could not decide). */
    posture_json_append(a, result("os.patch_level", "pass", NOW - 10,
                                  "{\"pending_security_updates\":0,\"reboot_required\":true}"));
    posture_json_append(a, result("disk.encryption", "pass", NOW - 10, "{\"mounts\":[]}"));
    setup_input(&f, policy_json, a);
    run(&f);
    assert_int_equal(check(f.a, "os.patch_level")->status, POSTURE_APPRAISAL_WARN);
    assert_string_equal(check(f.a, "os.patch_level")->remediation, "Patch it");
    assert_int_equal(check(f.a, "disk.encryption")->status, POSTURE_APPRAISAL_ERROR);
    assert_non_null(strstr(check(f.a, "disk.encryption")->reason, "/unencrypted is missing"));
    /* The disk check had no remediation of the policy: the agent's is used. */
    assert_string_equal(check(f.a, "disk.encryption")->remediation, "agent's advice");
    assert_int_equal(f.a->tv[POSTURE_TV_CONFIGURATION], 32);
    assert_int_equal(f.a->tv[POSTURE_TV_STORAGE_OPAQUE], 96);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    done(&f);

    /* A result without evidence cannot pass. */
    a = cJSON_CreateArray();
    posture_json_append(a, result("os.patch_level", "pass", NOW - 10, NULL));
    posture_json_append(a, result("disk.encryption", "pass", NOW - 10, "{\"unencrypted\":[]}"));
    setup_input(&f, policy_json, a);
    run(&f);
    assert_int_equal(check(f.a, "os.patch_level")->status, POSTURE_APPRAISAL_ERROR);
    done(&f);

    /* decidable and not_applicable. */
    a = cJSON_CreateArray();
    posture_json_append(a, result("x.y", "pass", NOW - 10, "{\"errno\":\"EIO\",\"v\":[]}"));
    posture_json_append(a, result("x.z", "not_applicable", NOW - 10, "{\"v\":[]}"));
    setup_input(&f,
                "{\"id\":\"p\",\"version\":\"1\",\"checks\":{"
                "\"x.y\":{\"decidable\":[{\"path\":\"/errno\",\"op\":\"absent\"}],"
                "\"evidence\":[{\"path\":\"/v\",\"op\":\"eq\",\"value\":[]}]},"
                "\"x.z\":{\"evidence\":[{\"path\":\"/v\",\"op\":\"eq\",\"value\":[]}],"
                "\"not_applicable\":[{\"path\":\"/v\",\"op\":\"eq\",\"value\":[]}]}}}",
                a);
    run(&f);
    assert_int_equal(check(f.a, "x.y")->status, POSTURE_APPRAISAL_ERROR);
    assert_non_null(strstr(check(f.a, "x.y")->reason, "/errno is \"EIO\""));
    assert_int_equal(check(f.a, "x.z")->status, POSTURE_APPRAISAL_NOT_APPLICABLE);
    done(&f);
}

static void test_missing_and_stale(void **state)
{
    (void) state;
    struct fixture f;
    cJSON *a = cJSON_CreateArray();

    /* disk.encryption is required and missing; patch level is 16 minutes old. */
    posture_json_append(a, result("os.patch_level", "pass", NOW - 16 * 60,
                                  "{\"pending_security_updates\":0,\"reboot_required\":false}"));
    posture_json_append(
        a, result("net.firewall", "pass", NOW + 3600, "{\"ipv4_inbound_default_deny\":true}"));
    setup_input(&f, policy_json, a);
    run(&f);
    const struct posture_appraisal_check *c = check(f.a, "disk.encryption");
    assert_non_null(c);
    assert_int_equal(c->status, POSTURE_APPRAISAL_FAIL);
    assert_string_equal(c->agent_status, "");
    assert_int_equal(c->observed_at, 0);
    assert_non_null(strstr(c->reason, "has no result for disk.encryption"));
    c = check(f.a, "os.patch_level");
    assert_int_equal(c->status, POSTURE_APPRAISAL_FAIL);
    assert_non_null(strstr(c->reason, "16min old; the policy accepts at most 15min"));
    /* From the future: refused too. */
    c = check(f.a, "net.firewall");
    assert_int_equal(c->status, POSTURE_APPRAISAL_FAIL);
    assert_non_null(strstr(c->reason, "in the future"));
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    done(&f);

    /* Exactly max_age old is still fresh. */
    a = cJSON_CreateArray();
    posture_json_append(a, result("os.patch_level", "pass", NOW - 15 * 60,
                                  "{\"pending_security_updates\":0,\"reboot_required\":false}"));
    posture_json_append(a, result("disk.encryption", "pass", NOW, "{\"unencrypted\":[]}"));
    setup_input(&f, policy_json, a);
    run(&f);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_AFFIRMING);
    done(&f);
}

static void test_grace(void **state)
{
    (void) state;
    static const char pj[] =
        "{\"id\":\"g\",\"version\":\"1\",\"checks\":{\"os.patch_level\":{\"grace\":\"1h\","
        "\"evidence\":[{\"path\":\"/pending_security_updates\",\"op\":\"le\",\"value\":0}]}}}";
    struct fixture f;
    cJSON *a = cJSON_CreateArray();
    struct posture_appraisal prev = { 0 };
    struct posture_appraisal_check pc = { .id = "os.patch_level" };

    posture_json_append(
        a, result("os.patch_level", "fail", NOW - 1, "{\"pending_security_updates\":2}"));
    setup_input(&f, pj, a);

    /* Newly failing (no history): warning until now + 1h. */
    run(&f);
    assert_true(check(f.a, "os.patch_level")->in_grace);
    assert_int_equal(check(f.a, "os.patch_level")->status, POSTURE_APPRAISAL_FAIL);
    assert_int_equal(check(f.a, "os.patch_level")->failing_since, NOW);
    assert_int_equal(f.a->tv[POSTURE_TV_CONFIGURATION], 32);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_WARNING);

    /* Failing for 59 minutes according to the previous appraisal: still in grace. */
    prev.checks = &pc;
    prev.n_checks = 1;
    pc.status = POSTURE_APPRAISAL_FAIL;
    pc.failing_since = NOW - 59 * 60;
    f.in.previous = &prev;
    run(&f);
    assert_true(check(f.a, "os.patch_level")->in_grace);
    assert_int_equal(check(f.a, "os.patch_level")->failing_since, NOW - 59 * 60);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_WARNING);

    /* An hour: grace is over. */
    pc.failing_since = NOW - 3600;
    run(&f);
    assert_false(check(f.a, "os.patch_level")->in_grace);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);

    /* Passing before: the failure is new again. */
    pc.status = POSTURE_APPRAISAL_PASS;
    run(&f);
    assert_true(check(f.a, "os.patch_level")->in_grace);
    assert_int_equal(check(f.a, "os.patch_level")->failing_since, NOW);

    /* A failing_since in the future is not believed. */
    pc.status = POSTURE_APPRAISAL_FAIL;
    pc.failing_since = NOW + 10;
    run(&f);
    assert_int_equal(check(f.a, "os.patch_level")->failing_since, NOW);
    done(&f);
}

static void test_report_only(void **state)
{
    (void) state;
    static const char pj[] =
        "{\"id\":\"r\",\"version\":\"1\",\"checks\":{\"net.firewall\":{\"report_only\":true,"
        "\"evidence\":[{\"path\":\"/ipv4_inbound_default_deny\",\"op\":\"true\"}]},"
        "\"disk.encryption\":{\"evidence\":[{\"path\":\"/unencrypted\",\"op\":\"eq\","
        "\"value\":[]}]}}}";
    struct fixture f;
    cJSON *a = good_checks();

    posture_json_append(
        a, result("net.firewall", "fail", NOW - 1, "{\"ipv4_inbound_default_deny\":false}"));
    setup_input(&f, pj, a);
    run(&f);
    const struct posture_appraisal_check *c = check(f.a, "net.firewall");
    assert_true(c->report_only);
    assert_int_equal(c->status, POSTURE_APPRAISAL_FAIL);
    assert_non_null(c->remediation);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_AFFIRMING);
    done(&f);
}

/* A staged rule: report_only until its date, enforced from then on. */
static void test_report_only_until(void **state)
{
    (void) state;
    static const char pj[] =
        "{\"id\":\"r\",\"version\":\"1\",\"checks\":{\"net.firewall\":{"
        "\"report_only_until\":\"%s\","
        "\"evidence\":[{\"path\":\"/ipv4_inbound_default_deny\",\"op\":\"true\"}]}}}";
    char doc[512], when[32];
    time_t t;

    for (int later = 0; later < 2; later++) {
        struct fixture f;
        cJSON *a = good_checks();
        struct tm tm;

        /* the date one hour after NOW, then one hour before it */
        t = (time_t) (NOW + (later ? -3600 : 3600));
        assert_non_null(gmtime_r(&t, &tm));
        assert_true(strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
        assert_true(snprintf(doc, sizeof(doc), pj, when) < (int) sizeof(doc));
        posture_json_append(
            a, result("net.firewall", "fail", NOW - 1, "{\"ipv4_inbound_default_deny\":false}"));
        setup_input(&f, doc, a);
        run(&f);
        const struct posture_appraisal_check *c = check(f.a, "net.firewall");
        assert_int_equal(c->status, POSTURE_APPRAISAL_FAIL);
        assert_int_equal(c->report_only, !later);
        assert_int_equal(f.a->status, later ? POSTURE_STORE_VERDICT_CONTRAINDICATED
                                            : POSTURE_STORE_VERDICT_AFFIRMING);
        done(&f);
    }
}

static void test_report_checks(void **state)
{
    (void) state;
    struct fixture f;

    setup_input(&f, policy_json, good_checks());
    f.in.nonce = "AAAAAAAAAAAAAAAAAAAAAA";
    run(&f);
    assert_true(has_finding(f.a, "nonce-mismatch"));
    assert_int_equal(f.a->tv[POSTURE_TV_INSTANCE_IDENTITY], 96);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);

    /* A nonce that is a prefix of the issued one is not the issued one. */
    f.in.nonce = NONCE "x";
    run(&f);
    assert_true(has_finding(f.a, "nonce-mismatch"));

    /* Without an issued nonce (offline) eat_nonce is not compared. */
    f.in.nonce = NULL;
    run(&f);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_AFFIRMING);

    /* kid and sub must be the device. */
    cJSON_ReplaceItemInObject(f.header, "kid", cJSON_CreateString("other"));
    run(&f);
    assert_true(has_finding(f.a, "kid-mismatch"));
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    cJSON_ReplaceItemInObject(f.header, "kid", cJSON_CreateString(DEVICE));
    cJSON_ReplaceItemInObject(f.claims, "sub", cJSON_CreateString("other"));
    run(&f);
    assert_true(has_finding(f.a, "sub-mismatch"));
    cJSON_ReplaceItemInObject(f.claims, "sub", cJSON_CreateString(DEVICE));

    /* iat within skew. */
    cJSON_ReplaceItemInObject(f.claims, "iat", cJSON_CreateNumber(NOW + 61));
    run(&f);
    assert_true(has_finding(f.a, "iat-in-future"));
    cJSON_ReplaceItemInObject(f.claims, "iat", cJSON_CreateNumber(NOW - 181));
    run(&f);
    assert_true(has_finding(f.a, "iat-stale"));
    cJSON_ReplaceItemInObject(f.claims, "iat", cJSON_CreateString("now"));
    run(&f);
    assert_true(has_finding(f.a, "iat-invalid"));
    cJSON_ReplaceItemInObject(f.claims, "iat", cJSON_CreateNumber(NOW - 180));
    run(&f);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_AFFIRMING);

    /* A revoked device. */
    f.device.status = POSTURE_STORE_DEVICE_REVOKED;
    run(&f);
    assert_true(has_finding(f.a, "device-revoked"));
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    done(&f);
}

static void test_malformed_reports(void **state)
{
    (void) state;
    struct fixture f;
    cJSON *a = good_checks();

    /* The same check twice: a failing copy could hide behind a passing one. */
    posture_json_append(
        a, result("os.patch_level", "fail", NOW - 1, "{\"pending_security_updates\":9}"));
    setup_input(&f, policy_json, a);
    run(&f);
    assert_true(has_finding(f.a, "report-duplicate-check"));
    assert_int_equal(check(f.a, "os.patch_level")->status, POSTURE_APPRAISAL_FAIL);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    done(&f);

    /* No posture.checks array. */
    setup_input(&f, policy_json, cJSON_CreateObject());
    run(&f);
    assert_true(has_finding(f.a, "report-malformed"));
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    done(&f);

    /* An entry with an invalid observed_at. */
    a = cJSON_CreateArray();
    posture_json_append(a, result("os.patch_level", "pass", 0, "{}"));
    setup_input(&f, policy_json, a);
    run(&f);
    assert_int_equal(check(f.a, "os.patch_level")->status, POSTURE_APPRAISAL_ERROR);
    done(&f);

    /* The report did not verify: crypto failure, 99. */
    setup_input(&f, policy_json, good_checks());
    f.in.claims = NULL;
    f.in.jws_reason = POSTURE_JWS_SIGNATURE_INVALID;
    run(&f);
    assert_int_equal(f.a->tv[POSTURE_TV_INSTANCE_IDENTITY], 99);
    assert_true(has_finding(f.a, "jws-signature-invalid"));
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    assert_int_equal(f.a->n_checks, 0);

    /* Read without a key: appraised, but unrecognised. */
    f.in.claims = f.claims;
    f.in.jws_reason = 0;
    f.in.claims_unverified = true;
    run(&f);
    assert_int_equal(f.a->tv[POSTURE_TV_INSTANCE_IDENTITY], 97);
    assert_int_equal(f.a->n_checks, 2);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    done(&f);

    assert_int_equal(posture_appraise(NULL, &f.in, &f.a), -EINVAL);
}

/* ---- TPM facts from real event logs -----------------------------------------------------------
 */

static void verdict_from_log(const char *name, struct posture_evidence_verdict *v)
{
    char rel[256];
    posture_autofree char *buf = NULL;
    size_t len = 0;
    struct posture_eventlog_problem problem;
    int root = -1;

    (void) snprintf(rel, sizeof(rel), "fixtures/eventlogs/%s", name);
    assert_int_equal(posture_root_open("/", &root), 0);
    assert_int_equal(
        posture_read_file_at(root, posture_test_path(rel), POSTURE_EVENTLOG_MAX_SIZE, &buf, &len),
        0);
    close(root);
    memset(v, 0, sizeof(*v));
    v->step = POSTURE_EVIDENCE_STEP_OK;
    assert_int_equal(posture_eventlog_parse(buf, len, &v->log, &problem), 0);
    assert_int_equal(posture_eventlog_secure_boot(v->log, &v->secure_boot, &problem), 0);
}

static const char tpm_policy[] =
    "{\"id\":\"pa\",\"version\":\"1\",\"device\":{\"trust_tier\":\"hardware\","
    "\"secure_boot\":true},\"checks\":{\"disk.encryption\":{\"evidence\":[{\"path\":"
    "\"/unencrypted\",\"op\":\"eq\",\"value\":[]}]}}}";

static void test_tier_and_secure_boot(void **state)
{
    (void) state;
    struct fixture f;
    struct posture_evidence_verdict v;

    /* Software tier under a hardware policy. */
    setup_input(&f, tpm_policy, good_checks());
    run(&f);
    assert_true(has_finding(f.a, "tier-software"));
    assert_int_equal(f.a->tv[POSTURE_TV_HARDWARE], 97);
    assert_int_equal(f.a->tv[POSTURE_TV_EXECUTABLES], 96);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);

    /* Hardware, no evidence submitted. */
    f.device.tier = POSTURE_STORE_TIER_HARDWARE;
    run(&f);
    assert_true(has_finding(f.a, "no-tpm-evidence"));
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);

    /* gce-rhel8: SecureBoot=1 in the TPM log. */
    verdict_from_log("gce-rhel8-secureboot.bin", &v);
    assert_int_equal(v.secure_boot->secure_boot, 1);
    f.in.evidence = &v;
    run(&f);
    assert_int_equal(f.a->secure_boot, 1);
    assert_int_equal(f.a->tv[POSTURE_TV_HARDWARE], 2);
    assert_int_equal(f.a->tv[POSTURE_TV_EXECUTABLES], 3);
    assert_int_equal(f.a->n_findings, 0);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_AFFIRMING);

    /* Facts the policy weighs as warnings: DMA protection off, no dbx. */
    v.secure_boot->dma_protection_disabled = true;
    run(&f);
    assert_true(has_finding(f.a, "dma-protection-disabled"));
    assert_int_equal(f.a->tv[POSTURE_TV_EXECUTABLES], 32);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_WARNING);
    v.secure_boot->dma_protection_disabled = false;
    int dbx = v.secure_boot->dbx;
    v.secure_boot->dbx = -1;
    run(&f);
    assert_true(has_finding(f.a, "dbx-missing"));
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_WARNING);
    v.secure_boot->dbx = dbx;
    v.secure_boot->debug_mode = true;
    run(&f);
    assert_true(has_finding(f.a, "uefi-debug-mode"));
    assert_int_equal(f.a->tv[POSTURE_TV_EXECUTABLES], 96);
    v.secure_boot->debug_mode = false;

    /* Accepted evidence without an event log: Secure Boot cannot be proven (contraindicated
     * under a Secure Boot policy) and never silently passes (configuration 36 otherwise). */
    struct posture_eventlog_secure_boot *keep_sb = v.secure_boot;
    v.secure_boot = NULL;
    run(&f);
    assert_true(has_finding(f.a, "no-event-log"));
    assert_int_equal(f.a->tv[POSTURE_TV_EXECUTABLES], 96);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    posture_policy_free(f.policy);
    f.policy = policy(policy_json);
    run(&f);
    assert_int_equal(f.a->tv[POSTURE_TV_CONFIGURATION], 36);
    assert_int_equal(f.a->tv[POSTURE_TV_EXECUTABLES], 0);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_WARNING);
    posture_policy_free(f.policy);
    f.policy = policy(tpm_policy);
    v.secure_boot = keep_sb;

    /* The agent's own boot.secure_boot claim is configuration, never executables: a policy on
     * it does not change what the TPM says. */
    posture_evidence_verdict_done(&v);

    /* dell: SecureBoot=0. */
    verdict_from_log("dell-server-gdc-host.bin", &v);
    assert_int_equal(v.secure_boot->secure_boot, 0);
    f.in.evidence = &v;
    run(&f);
    assert_int_equal(f.a->secure_boot, 0);
    assert_true(has_finding(f.a, "secure-boot-off"));
    assert_int_equal(f.a->tv[POSTURE_TV_EXECUTABLES], 96);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    posture_policy_free(f.policy);
    /* Without the requirement: unrecognised executables, a warning. */
    f.policy = policy(policy_json);
    run(&f);
    assert_int_equal(f.a->tv[POSTURE_TV_EXECUTABLES], 33);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_WARNING);
    posture_evidence_verdict_done(&v);

    /* lenovo: SecureBoot=0 too. */
    verdict_from_log("lenovo-laptop-glinux.bin", &v);
    assert_int_equal(v.secure_boot->secure_boot, 0);
    posture_evidence_verdict_done(&v);

    /* arch: SecureBoot measured with 0 bytes: unknown, not on. */
    posture_policy_free(f.policy);
    f.policy = policy(tpm_policy);
    verdict_from_log("arch-linux-workstation.bin", &v);
    f.in.evidence = &v;
    run(&f);
    assert_int_equal(f.a->secure_boot, -1);
    assert_true(has_finding(f.a, "secure-boot-unknown"));
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);

    /* Evidence refused at the quote: crypto failure on hardware. */
    v.step = POSTURE_EVIDENCE_STEP_QUOTE;
    v.quote_reason = POSTURE_QUOTE_SIG_INVALID;
    run(&f);
    assert_int_equal(f.a->tv[POSTURE_TV_HARDWARE], 99);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    v.step = POSTURE_EVIDENCE_STEP_AK;
    run(&f);
    assert_true(has_finding(f.a, "evidence-ak-mismatch"));
    assert_int_equal(f.a->tv[POSTURE_TV_HARDWARE], 97);
    v.step = POSTURE_EVIDENCE_STEP_REPLAY;
    v.quote_reason = POSTURE_QUOTE_REPLAY_MISMATCH;
    run(&f);
    assert_int_equal(f.a->tv[POSTURE_TV_EXECUTABLES], 99);
    posture_evidence_verdict_done(&v);
    done(&f);
}

/* An EFI_SIGNATURE_LIST with n X.509 entries of the given bytes. */
static size_t make_esl(uint8_t *out, const uint8_t guid[16], const char *const *certs, size_t n)
{
    size_t cert_len = strlen(certs[0]);
    uint32_t sig_size = (uint32_t) (16 + cert_len), list = (uint32_t) (28 + n * sig_size);

    memcpy(out, guid, 16);
    for (int i = 0; i < 4; i++) {
        out[16 + i] = (uint8_t) (list >> (8 * i));
        out[20 + i] = 0;
        out[24 + i] = (uint8_t) (sig_size >> (8 * i));
    }
    for (size_t k = 0; k < n; k++) {
        memset(out + 28 + k * sig_size, 0x11, 16);
        memcpy(out + 28 + k * sig_size + 16, certs[k], cert_len);
    }
    return list;
}

static void test_esl(void **state)
{
    (void) state;
    static const uint8_t x509[16] = { 0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
                                      0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72 };
    static const uint8_t sha256_guid[16] = { 0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
                                             0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28 };
    const char *certs[] = { "cert-one", "cert-two" };
    uint8_t buf[512], d[4][32], want[32];
    unsigned n = 0;
    size_t len = make_esl(buf, x509, certs, 2);

    len += make_esl(buf + len, sha256_guid, certs, 1); /* not X.509: skipped */
    assert_int_equal(posture_appraise_esl_x509_sha256(buf, len, d, 4), 2);
    assert_int_equal(EVP_Digest("cert-two", 8, want, &n, EVP_sha256(), NULL), 1);
    assert_memory_equal(d[1], want, 32);
    assert_int_equal(posture_appraise_esl_x509_sha256(buf, len, d, 1), -E2BIG);
    assert_int_equal(posture_appraise_esl_x509_sha256(buf, len - 1, d, 4), -EBADMSG);
    assert_int_equal(posture_appraise_esl_x509_sha256(buf, 27, d, 4), -EBADMSG);
    buf[16] = 0xff; /* ListSize beyond the data */
    assert_int_equal(posture_appraise_esl_x509_sha256(buf, len, d, 4), -EBADMSG);
    assert_int_equal(posture_appraise_esl_x509_sha256(buf, 0, d, 4), 0);
}

static void test_pk_db_allow_lists(void **state)
{
    (void) state;
    struct fixture f;
    struct posture_evidence_verdict v;
    uint8_t pk[8][32], db[8][32];
    char pj[2048], hex[65];
    size_t off;

    verdict_from_log("gce-rhel8-secureboot.bin", &v);
    const struct posture_eventlog_variable *pkv = &v.secure_boot->config[v.secure_boot->pk];
    const struct posture_eventlog_variable *dbv = &v.secure_boot->config[v.secure_boot->db];
    int npk = posture_appraise_esl_x509_sha256(pkv->data, pkv->data_len, pk, 8);
    int ndb = posture_appraise_esl_x509_sha256(dbv->data, dbv->data_len, db, 8);
    assert_true(npk == 1);
    assert_true(ndb >= 1);

    /* Allow exactly the log's PK and db certificates: affirming. */
    off = (size_t) snprintf(pj, sizeof(pj),
                            "{\"id\":\"pa\",\"version\":\"1\",\"device\":{\"trust_tier\":"
                            "\"hardware\",\"secure_boot\":true,\"pk_sha256\":[\"");
    for (size_t b = 0; b < 32; b++)
        (void) snprintf(hex + 2 * b, 3, "%02x", pk[0][b]);
    off += (size_t) snprintf(pj + off, sizeof(pj) - off, "%s\"],\"db_sha256\":[", hex);
    for (int i = 0; i < ndb; i++) {
        for (size_t b = 0; b < 32; b++)
            (void) snprintf(hex + 2 * b, 3, "%02x", db[i][b]);
        off += (size_t) snprintf(pj + off, sizeof(pj) - off, "%s\"%s\"", i ? "," : "", hex);
    }
    (void) snprintf(pj + off, sizeof(pj) - off,
                    "]},\"checks\":{\"disk.encryption\":{\"evidence\":[{\"path\":"
                    "\"/unencrypted\",\"op\":\"eq\",\"value\":[]}]}}}");
    setup_input(&f, pj, good_checks());
    f.device.tier = POSTURE_STORE_TIER_HARDWARE;
    f.in.evidence = &v;
    run(&f);
    assert_int_equal(f.a->n_findings, 0);
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_AFFIRMING);
    done(&f);

    /* Another PK digest: contraindicated, naming the certificate. */
    char *p = strstr(pj, "\"pk_sha256\":[\"") + 14;
    p[0] = p[0] == '0' ? '1' : '0';
    setup_input(&f, pj, good_checks());
    f.device.tier = POSTURE_STORE_TIER_HARDWARE;
    f.in.evidence = &v;
    run(&f);
    assert_true(has_finding(f.a, "pk-not-allowed"));
    assert_false(has_finding(f.a, "db-not-allowed"));
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    done(&f);

    /* An empty db list allows nothing. */
    setup_input(&f,
                "{\"id\":\"pa\",\"version\":\"1\",\"device\":{\"trust_tier\":\"hardware\","
                "\"db_sha256\":[]},\"checks\":{}}",
                good_checks());
    f.device.tier = POSTURE_STORE_TIER_HARDWARE;
    f.in.evidence = &v;
    run(&f);
    assert_true(has_finding(f.a, "db-not-allowed"));
    assert_int_equal(f.a->status, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    done(&f);
    posture_evidence_verdict_done(&v);
}

static void test_json(void **state)
{
    (void) state;
    struct fixture f;
    cJSON *j = NULL;

    setup_input(&f, policy_json, good_checks());
    run(&f);
    assert_int_equal(posture_appraisal_to_json(f.a, &j), 0);
    assert_string_equal(posture_json_get_str(j, "ear.status"), "affirming");
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(j, "ear.trustworthiness-vector");
    int64_t v = 0;
    assert_int_equal(posture_json_get_int(tv, "instance-identity", &v), 0);
    assert_int_equal(v, 2);
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(j, "checks");
    assert_int_equal(cJSON_GetArraySize(checks), 2);
    assert_string_equal(posture_json_get_str(cJSON_GetArrayItem(checks, 0), "status"), "pass");
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(j, "policy");
    assert_memory_equal(posture_json_get_str(pol, "digest"), "sha-256:", 8);
    cJSON_Delete(j);

    for (int i = 0; i < POSTURE_APPRAISAL_STATUS__MAX; i++)
        assert_int_equal(
            posture_appraisal_status_from_string(posture_appraisal_status_to_string(i)), i);
    assert_int_equal(posture_appraisal_status_from_string("unknown"),
                     POSTURE_APPRAISAL_STATUS__INVALID);
    done(&f);
}

static void test_failed_and_record(void **state)
{
    (void) state;
    struct fixture f;
    cJSON *a = cJSON_CreateArray();
    char failed[64], fix[64], tiny[20];
    struct posture_store_appraisal rec;

    /* patch level fails, disk passes, firewall (report_only here) fails, plus a finding. */
    posture_json_append(a, result("os.patch_level", "pass", NOW - 10,
                                  "{\"pending_security_updates\":1,\"reboot_required\":false}"));
    posture_json_append(a, result("disk.encryption", "pass", NOW - 10, "{\"unencrypted\":[]}"));
    setup_input(&f, policy_json, a);
    f.in.nonce = "AAAAAAAAAAAAAAAAAAAAAA";
    run(&f);
    assert_int_equal(posture_appraisal_failed(f.a, failed, sizeof(failed), fix, sizeof(fix)), 2);
    assert_string_equal(failed, "os.patch_level,nonce-mismatch");
    assert_string_equal(fix, "Patch it");
    /* Cut at an item boundary. */
    assert_int_equal(posture_appraisal_failed(f.a, tiny, sizeof(tiny), NULL, 0), 2);
    assert_string_equal(tiny, "os.patch_level");

    assert_int_equal(posture_appraisal_record(f.a, "e.a.r", 1234, &rec), 0);
    assert_string_equal(rec.device_id, DEVICE);
    assert_int_equal(rec.seq, 7);
    assert_int_equal(rec.received_at, 1234);
    assert_int_equal(rec.verdict, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    assert_string_equal(rec.ear, "e.a.r");
    assert_string_equal(rec.policy_id, "p");
    assert_string_equal(rec.policy_version, "1");
    assert_memory_equal(rec.policy_digest, f.policy->digest, 32);
    assert_string_equal(rec.reason, "os.patch_level,nonce-mismatch");
    assert_int_equal(posture_appraisal_record(NULL, NULL, 0, &rec), -EINVAL);

    /* allow_warning: warnings pass by default, not when the policy says so. */
    assert_true(posture_policy_allows(f.policy, POSTURE_STORE_VERDICT_AFFIRMING));
    assert_true(posture_policy_allows(f.policy, POSTURE_STORE_VERDICT_WARNING));
    assert_false(posture_policy_allows(f.policy, POSTURE_STORE_VERDICT_CONTRAINDICATED));
    assert_false(posture_policy_allows(f.policy, POSTURE_STORE_VERDICT_NONE));
    done(&f);

    /* Nothing failing: empty texts. */
    setup_input(&f, policy_json, good_checks());
    run(&f);
    assert_int_equal(posture_appraisal_failed(f.a, failed, sizeof(failed), fix, sizeof(fix)), 0);
    assert_string_equal(failed, "");
    assert_string_equal(fix, "");
    done(&f);

    struct posture_policy *strict =
        policy("{\"id\":\"s\",\"version\":\"1\",\"allow_warning\":false,\"checks\":{}}");
    assert_false(posture_policy_allows(strict, POSTURE_STORE_VERDICT_WARNING));
    assert_true(posture_policy_allows(strict, POSTURE_STORE_VERDICT_AFFIRMING));
    posture_policy_free(strict);
}

/* The shipped baseline on evidence the fixture roots cannot produce with --root (the running
 * kernel's clock and ruleset): the documented examples of docs/checks.md and their variants. */
static void test_baseline_on_documented_evidence(void **state)
{
    (void) state;
    static const struct {
        const char *id, *evidence, *want;
    } cases[] = {
        { "time.sync",
          "{\"synchronized\":true,\"max_error_us\":1020000,\"est_error_us\":250,"
          "\"clock_state\":\"ok\"}",
          "pass" },
        { "time.sync", "{\"synchronized\":true,\"max_error_us\":12300000}", "warn" },
        { "time.sync", "{\"synchronized\":true,\"max_error_us\":5000000}", "pass" },
        { "time.sync", "{\"synchronized\":false,\"max_error_us\":16000000}", "fail" },
        { "time.sync", "{\"errno\":\"EPERM\"}", "error" },
        { "net.firewall",
          "{\"backend\":\"nftables\",\"ipv4_inbound_default_deny\":true,"
          "\"ipv6_inbound_default_deny\":true,\"ipv6_disabled\":false,\"rule_count\":3}",
          "pass" },
        { "net.firewall",
          "{\"ipv4_inbound_default_deny\":true,\"ipv6_inbound_default_deny\":false}", "fail" },
        { "net.firewall",
          "{\"ipv4_inbound_default_deny\":false,\"ipv6_inbound_default_deny\":false,"
          "\"iptables_legacy_error\":\"iptables-legacy-save: not found\",\"errno\":\"EIO\"}",
          "error" },
        { "net.firewall", "{\"managers\":{\"ufw\":{\"installed\":true}},\"errno\":\"EOPNOTSUPP\"}",
          "error" },
        { "ssh.server", "{\"installed\":false,\"active\":false}", "not_applicable" },
        { "ssh.server",
          "{\"installed\":true,\"active\":true,\"source\":\"sshd -T\","
          "\"permit_root_login\":\"prohibit-password\",\"password_authentication\":\"no\","
          "\"permit_empty_passwords\":\"no\",\"forbidden_ciphers_enabled\":[],"
          "\"match_weaker\":[]}",
          "pass" },
        { "ssh.server",
          "{\"active\":true,\"permit_root_login\":\"yes\",\"password_authentication\":\"no\","
          "\"permit_empty_passwords\":\"no\",\"forbidden_ciphers_enabled\":[]}",
          "fail" },
        { "ssh.server",
          "{\"active\":true,\"permit_root_login\":\"no\",\"password_authentication\":\"no\","
          "\"permit_empty_passwords\":\"no\",\"forbidden_ciphers_enabled\":[\"3des-cbc\"]}",
          "fail" },
        { "ssh.server",
          "{\"active\":true,\"permit_root_login\":\"no\",\"password_authentication\":\"no\","
          "\"permit_empty_passwords\":\"no\",\"forbidden_ciphers_enabled\":[],"
          "\"match_weaker\":[\"PasswordAuthentication yes (Match User bob)\"]}",
          "warn" },
        { "ssh.server", "{\"active\":true,\"errno\":\"EBADMSG\"}", "error" },
        { "screen.lock", "{\"max_idle_s\":900,\"sessions\":[]}", "not_applicable" },
        { "screen.lock",
          "{\"sessions\":[{\"desktop\":\"GNOME\",\"lock_enabled\":true,\"idle_delay_s\":300,"
          "\"locks_after_s\":300}]}",
          "pass" },
        { "screen.lock", "{\"sessions\":[{\"lock_enabled\":false,\"locks_after_s\":0}]}", "fail" },
        { "screen.lock", "{\"sessions\":[{\"lock_enabled\":true,\"locks_after_s\":0}]}", "fail" },
        { "screen.lock", "{\"sessions\":[{\"lock_enabled\":true,\"locks_after_s\":1800}]}",
          "fail" },
        { "screen.lock",
          "{\"sessions\":[{\"lock_enabled\":true,\"locks_after_s\":300},{\"desktop\":"
          "\"sway\",\"lock_enabled\":null,\"locks_after_s\":null}],\"errno\":\"EOPNOTSUPP\"}",
          "error" },
        { "screen.lock",
          "{\"sessions\":[{\"desktop\":\"sway\",\"lock_enabled\":null,\"locks_after_s\":null}]}",
          "error" },
        { "os.patch_level",
          "{\"package_manager\":\"dpkg\",\"pending_updates\":3,\"pending_security_updates\":2,"
          "\"reboot_required\":false,\"lists_updated_at\":1795619000}",
          "fail" },
        { "os.patch_level",
          "{\"pending_security_updates\":0,\"reboot_required\":false,"
          "\"lists_updated_at\":1794000000}",
          "warn" },
        { "os.patch_level",
          "{\"pending_security_updates\":0,\"reboot_required\":false,\"lists_updated_at\":null}",
          "pass" },
        { "disk.encryption",
          "{\"mounts\":[{\"mountpoint\":\"/\",\"encrypted\":true}],\"swap\":[{\"device\":"
          "\"/dev/sda3\",\"encrypted\":false}],\"unencrypted\":[\"swap:/dev/sda3\"]}",
          "fail" },
        { "boot.secure_boot",
          "{\"uefi\":true,\"secure_boot\":true,\"setup_mode\":false,\"audit_mode\":false,"
          "\"shim_validation_disabled\":false,\"lockdown\":\"integrity\"}",
          "pass" },
        /* Options the device set do not lower the baseline: min_enforced_profiles = 0. */
        { "mac.enforcing",
          "{\"mac\":\"apparmor\",\"enforcing\":true,\"persistent\":null,"
          "\"apparmor_enforce\":0,\"min_enforced_profiles\":0}",
          "fail" },
        { "mac.enforcing",
          "{\"mac\":\"apparmor\",\"enforcing\":true,\"persistent\":null,"
          "\"apparmor_enforce\":6}",
          "pass" },
        { "mac.enforcing",
          "{\"mac\":\"selinux\",\"enforcing\":true,\"persistent\":false,"
          "\"apparmor_enforce\":null}",
          "warn" },
        { "mac.enforcing", "{\"mac\":null,\"enforcing\":false}", "fail" },
        { "mac.enforcing", "{\"errno\":\"EACCES\",\"enforcing\":false}", "error" },
        /* An undecidable element (match null) next to a definite failure fails. */
        { "process.running",
          "{\"processes\":[{\"match\":null,\"deleted\":false},{\"match\":false,"
          "\"deleted\":false}]}",
          "fail" },
        { "process.running", "{\"processes\":[{\"match\":true,\"deleted\":true}]}", "warn" },
        { "process.running", "{\"processes\":[]}", "not_applicable" },
        { "file.present", "{\"files\":[{\"match\":true},{\"match\":null}]}", "error" },
        { "file.present", "{\"files\":[]}", "not_applicable" },
    };
    char err[POSTURE_POLICY_ERROR_MAX];
    struct posture_policy *baseline = NULL;

    assert_int_equal(
        posture_policy_load_file(posture_test_path("../packaging/policies/baseline.json"),
                                 &baseline, err, sizeof(err)),
        0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fixture f;
        cJSON *a = cJSON_CreateArray();
        posture_json_append(a, result(cases[i].id, "pass", NOW - 10, cases[i].evidence));
        setup_input(&f, policy_json, a);
        posture_policy_free(f.policy);
        f.policy = baseline;
        run(&f);
        const struct posture_appraisal_check *c = check(f.a, cases[i].id);
        assert_non_null(c);
        if (strcmp(posture_appraisal_status_to_string(c->status), cases[i].want) != 0)
            fail_msg("%s on %s: expected %s, got %s (%s)", cases[i].id, cases[i].evidence,
                     cases[i].want, posture_appraisal_status_to_string(c->status), c->reason);
        f.policy = NULL;
        done(&f);
    }
    posture_policy_free(baseline);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_affirming),
        cmocka_unit_test(test_agent_status_ignored),
        cmocka_unit_test(test_warn_error_na),
        cmocka_unit_test(test_missing_and_stale),
        cmocka_unit_test(test_grace),
        cmocka_unit_test(test_report_only),
        cmocka_unit_test(test_report_only_until),
        cmocka_unit_test(test_report_checks),
        cmocka_unit_test(test_malformed_reports),
        cmocka_unit_test(test_tier_and_secure_boot),
        cmocka_unit_test(test_esl),
        cmocka_unit_test(test_pk_db_allow_lists),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_failed_and_record),
        cmocka_unit_test(test_baseline_on_documented_evidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
