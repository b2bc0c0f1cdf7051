/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A whole submission in one store transaction (posture_store_submission_record): every policy's
 * appraisal, the TPM clock and the audit row written together or not at all; every policy's
 * latest appraisal read back at start (posture_store_appraisal_foreach_latest_policies); the
 * rows of the other policies deleted with their submission (retention, re-enrolment), checked
 * with SQLite directly; and the one-statement nonce consumption keeping its error codes.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "posture/cleanup.h"

#include "store.h"
#include "testlib.h"

#define SEC POSTURE_STORE_USEC_PER_SEC
#define T0  (UINT64_C(1764000000) * SEC)

static uint64_t fake_now = T0;

static uint64_t fake_clock(void *userdata)
{
    (void) userdata;
    return fake_now;
}

struct fixture {
    char *dir;
    char path[4096];
    struct posture_store *store;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct posture_store_options opts = { .clock = fake_clock };

    assert_non_null(f);
    fake_now = T0;
    f->dir = posture_test_mkdtemp();
    assert_non_null(f->dir);
    assert_true(snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir) < (int) sizeof(f->path));
    assert_int_equal(posture_store_open(f->path, &opts, &f->store), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    f->store = posture_store_free(f->store);
    assert_int_equal(posture_test_rmdir_r(f->dir), 0);
    free(f->dir);
    free(f);
    return 0;
}

static void add_device(struct posture_store *s, const char *id)
{
    struct posture_store_device d = { .tier = POSTURE_STORE_TIER_SOFTWARE };

    (void) snprintf(d.id, sizeof(d.id), "%s", id);
    d.jwk = (char *) "{\"kty\":\"EC\"}";
    assert_int_equal(posture_store_device_insert(s, &d), 0);
}

static struct posture_store_appraisal
row(const char *device, uint64_t seq, const char *policy, enum posture_store_verdict v)
{
    struct posture_store_appraisal a = { .seq = seq, .received_at = fake_now, .verdict = v };

    (void) snprintf(a.device_id, sizeof(a.device_id), "%s", device);
    (void) snprintf(a.policy_id, sizeof(a.policy_id), "%s", policy);
    (void) snprintf(a.policy_version, sizeof(a.policy_version), "v%llu", (unsigned long long) seq);
    (void) snprintf(a.reason, sizeof(a.reason), "%s-failed", policy);
    memset(a.policy_digest, policy[0], sizeof(a.policy_digest));
    a.ear = policy; /* any text */
    return a;
}

/* One query's single integer answer, read with SQLite directly. */
static long long query(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    (void) sqlite3_finalize(st);
    (void) sqlite3_close(db);
    return v;
}

struct seen {
    size_t n;
    char text[16][1600];
};

static int collect(const struct posture_store_appraisal *a, void *userdata)
{
    struct seen *s = userdata;

    if (s->n < 16)
        (void) snprintf(s->text[s->n++], sizeof(s->text[0]), "%s %llu %s@%s %s %s %s", a->device_id,
                        (unsigned long long) a->seq, a->policy_id, a->policy_version,
                        posture_store_verdict_to_string(a->verdict), a->ear, a->reason);
    return 0;
}

static uint64_t audit_rows(struct posture_store *s)
{
    struct posture_store_audit_result res;

    assert_int_equal(posture_store_audit_verify(s, &res), 0);
    assert_int_equal(res.first_bad_seq, 0);
    return res.rows;
}

static void test_every_policy_in_one_transaction(void **state)
{
    struct fixture *f = *state;
    struct posture_store_appraisal rows[3];
    struct posture_store_clockinfo info = { .clock = 1000, .reset_count = 1, .restart_count = 2 };
    struct posture_store_clockinfo got;
    struct posture_store_audit_entry audit = { .kind = "appraisal",
                                               .subject = "dev-a",
                                               .detail = "{\"seq\":1}" };
    struct posture_store_submission sub = {
        .appraisals = rows, .n_appraisals = 3, .info = &info, .audit = &audit
    };
    struct posture_store_appraisal latest;
    struct seen s = { 0 };

    add_device(f->store, "dev-a");
    add_device(f->store, "dev-b");
    rows[0] = row("dev-a", 1, "main", POSTURE_STORE_VERDICT_AFFIRMING);
    rows[1] = row("dev-a", 1, "zeta", POSTURE_STORE_VERDICT_CONTRAINDICATED);
    rows[2] = row("dev-a", 1, "alpha", POSTURE_STORE_VERDICT_WARNING);
    assert_int_equal(posture_store_submission_record(f->store, &sub), 0);

    /* the main row is what de-duplication and _latest see */
    assert_int_equal(posture_store_appraisal_latest(f->store, "dev-a", &latest), 0);
    assert_string_equal(latest.policy_id, "main");
    assert_string_equal(latest.ear, "main");
    posture_store_appraisal_done(&latest);
    assert_int_equal(posture_store_clockinfo_get(f->store, "dev-a", &got), 0);
    assert_true(got.clock == 1000 && got.reset_count == 1 && got.restart_count == 2);
    assert_int_equal(audit_rows(f->store), 1);
    assert_int_equal(query(f->path, "SELECT count(*) FROM appraisals"), 1);
    assert_int_equal(query(f->path, "SELECT count(*) FROM appraisal_policies"), 2);

    /* read back: the main row first, then the others by policy id */
    assert_int_equal(posture_store_appraisal_foreach_latest_policies(f->store, collect, &s), 3);
    assert_string_equal(s.text[0], "dev-a 1 main@v1 affirming main main-failed");
    assert_string_equal(s.text[1], "dev-a 1 alpha@v1 warning alpha alpha-failed");
    assert_string_equal(s.text[2], "dev-a 1 zeta@v1 contraindicated zeta zeta-failed");

    /* the next submission replaces them all, with fewer policies; the clock moves on */
    fake_now += SEC;
    struct posture_store_clockinfo info2 = { .clock = 2000, .reset_count = 1, .restart_count = 2 };
    rows[0] = row("dev-a", 2, "main", POSTURE_STORE_VERDICT_WARNING);
    rows[1] = row("dev-a", 2, "alpha", POSTURE_STORE_VERDICT_AFFIRMING);
    sub = (struct posture_store_submission){
        .appraisals = rows, .n_appraisals = 2, .expected = &info, .info = &info2, .audit = &audit
    };
    assert_int_equal(posture_store_submission_record(f->store, &sub), 0);
    /* another device, without clock or audit */
    rows[2] = row("dev-b", 7, "main", POSTURE_STORE_VERDICT_NONE);
    sub = (struct posture_store_submission){ .appraisals = &rows[2], .n_appraisals = 1 };
    assert_int_equal(posture_store_submission_record(f->store, &sub), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(posture_store_appraisal_foreach_latest_policies(f->store, collect, &s), 3);
    assert_string_equal(s.text[0], "dev-a 2 main@v2 warning main main-failed");
    assert_string_equal(s.text[1], "dev-a 2 alpha@v2 affirming alpha alpha-failed");
    assert_string_equal(s.text[2], "dev-b 7 main@v7 none main main-failed");
    assert_int_equal(audit_rows(f->store), 2);

    /* retention deletes the first submission's rows of every policy */
    fake_now += SEC;
    assert_int_equal(posture_store_appraisal_prune(f->store, T0 + SEC / 2), 1);
    assert_int_equal(query(f->path, "SELECT count(*) FROM appraisal_policies"), 1);
    assert_int_equal(query(f->path, "SELECT count(*) FROM appraisal_policies p JOIN appraisals a "
                                    "ON a.id = p.appraisal_id WHERE a.seq = 2"),
                     1);

    /* a revoked device is not read back; enrolled again, its old appraisals are gone */
    assert_int_equal(posture_store_device_revoke(f->store, "dev-a"), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(posture_store_appraisal_foreach_latest_policies(f->store, collect, &s), 1);
    assert_string_equal(s.text[0], "dev-b 7 main@v7 none main main-failed");
    add_device(f->store, "dev-a");
    assert_int_equal(query(f->path, "SELECT count(*) FROM appraisal_policies"), 0);
    assert_int_equal(query(f->path, "SELECT count(*) FROM appraisals WHERE device_id = 'dev-a'"),
                     0);
}

static void test_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    struct posture_store_appraisal rows[2];
    struct posture_store_clockinfo info = { .clock = 1000 }, wrong = { .clock = 999 };
    struct posture_store_clockinfo later = { .clock = 5000 }, got;
    struct posture_store_audit_entry audit = { .kind = "appraisal", .subject = "dev-a" };
    struct posture_store_submission sub = {
        .appraisals = rows, .n_appraisals = 2, .info = &info, .audit = &audit
    };

    add_device(f->store, "dev-a");
    rows[0] = row("dev-a", 5, "main", POSTURE_STORE_VERDICT_AFFIRMING);
    rows[1] = row("dev-a", 5, "other", POSTURE_STORE_VERDICT_AFFIRMING);
    assert_int_equal(posture_store_submission_record(f->store, &sub), 0);

    /* the same seq again: a duplicate, nothing written */
    sub.expected = &info;
    sub.info = &later;
    assert_int_equal(posture_store_submission_record(f->store, &sub), -EEXIST);
    /* a newer report, but the clock moved meanwhile: nothing written either */
    rows[0].seq = rows[1].seq = 6;
    sub.expected = &wrong;
    assert_int_equal(posture_store_submission_record(f->store, &sub), -ESTALE);
    assert_int_equal(posture_store_clockinfo_get(f->store, "dev-a", &got), 0);
    assert_true(got.clock == 1000);
    assert_int_equal(audit_rows(f->store), 1);
    assert_int_equal(query(f->path, "SELECT count(*) FROM appraisals"), 1);
    assert_int_equal(query(f->path, "SELECT count(*) FROM appraisal_policies"), 1);
    /* an unknown device */
    rows[0] = row("dev-x", 1, "main", POSTURE_STORE_VERDICT_AFFIRMING);
    sub = (struct posture_store_submission){ .appraisals = rows, .n_appraisals = 1 };
    assert_int_equal(posture_store_submission_record(f->store, &sub), -ENOENT);
    assert_int_equal(audit_rows(f->store), 1);
}

static void test_invalid(void **state)
{
    struct fixture *f = *state;
    struct posture_store_appraisal rows[2];
    struct posture_store_clockinfo info = { .clock = 1 };
    struct posture_store_audit_entry bad_kind = { .kind = "Bad Kind" };
    struct posture_store_submission sub = { .appraisals = rows, .n_appraisals = 2 };

    add_device(f->store, "dev-a");
    rows[0] = row("dev-a", 1, "main", POSTURE_STORE_VERDICT_AFFIRMING);
    rows[1] = row("dev-a", 1, "main", POSTURE_STORE_VERDICT_AFFIRMING); /* a policy twice */
    assert_int_equal(posture_store_submission_record(f->store, &sub), -EINVAL);
    rows[1] = row("dev-a", 2, "other", POSTURE_STORE_VERDICT_AFFIRMING); /* another seq */
    assert_int_equal(posture_store_submission_record(f->store, &sub), -EINVAL);
    rows[1] = row("dev-b", 1, "other", POSTURE_STORE_VERDICT_AFFIRMING); /* another device */
    assert_int_equal(posture_store_submission_record(f->store, &sub), -EINVAL);
    rows[1] = row("dev-a", 1, "other", POSTURE_STORE_VERDICT_AFFIRMING);
    rows[1].ear = NULL;
    assert_int_equal(posture_store_submission_record(f->store, &sub), -EINVAL);
    rows[1].ear = "e";
    sub.n_appraisals = 0;
    assert_int_equal(posture_store_submission_record(f->store, &sub), -EINVAL);
    sub.n_appraisals = POSTURE_STORE_POLICIES_MAX + 1;
    assert_int_equal(posture_store_submission_record(f->store, &sub), -EINVAL);
    sub.n_appraisals = 2;
    sub.expected = &info; /* expected without info */
    assert_int_equal(posture_store_submission_record(f->store, &sub), -EINVAL);
    sub.expected = NULL;
    sub.audit = &bad_kind;
    assert_int_equal(posture_store_submission_record(f->store, &sub), -EINVAL);
    sub.audit = NULL;
    assert_int_equal(posture_store_submission_record(NULL, &sub), -EINVAL);
    assert_int_equal(posture_store_submission_record(f->store, NULL), -EINVAL);
    assert_int_equal(posture_store_appraisal_foreach_latest_policies(f->store, NULL, NULL),
                     -EINVAL);
    assert_int_equal(query(f->path, "SELECT count(*) FROM appraisals"), 0);
    /* nothing half-written: the valid one goes through */
    assert_int_equal(posture_store_submission_record(f->store, &sub), 0);
}

/* The one-statement consumption keeps every answer of the two-step one. */
static void test_nonce_consume_codes(void **state)
{
    struct fixture *f = *state;
    uint8_t a[POSTURE_STORE_NONCE_SIZE], b[POSTURE_STORE_NONCE_SIZE];
    uint8_t unknown[POSTURE_STORE_NONCE_SIZE] = { 1 };

    add_device(f->store, "dev-a");
    add_device(f->store, "dev-b");
    assert_int_equal(posture_store_nonce_issue(f->store, "dev-a", 60 * SEC, a), 0);
    assert_int_equal(posture_store_nonce_issue(f->store, "dev-a", 60 * SEC, b), 0);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-b", a, sizeof(a)), -EPERM);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-a", a, sizeof(a)), 0);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-a", a, sizeof(a)), -EALREADY);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-b", a, sizeof(a)), -EPERM);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-a", unknown, sizeof(unknown)),
                     -ENOENT);
    fake_now += 60 * SEC; /* expires_at is exclusive */
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-a", b, sizeof(b)), -ESTALE);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-a", b, sizeof(b)), -ESTALE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_policy_in_one_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonce_consume_codes, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
