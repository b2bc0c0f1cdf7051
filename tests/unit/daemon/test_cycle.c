/* SPDX-License-Identifier: Apache-2.0 */
/* The submission cycle's pieces that need no network: how answers are classified, resealing a
 * spooled report for a fresh nonce, the submission body, status.json. */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"

#include "cycle.h"
#include "spool.h"
#include "testlib.h"

#define VERDICT "{\"ear\":\"a.b.c\",\"status\":\"affirming\",\"seq\":3}"

static void test_classify(void **state)
{
    (void) state;
    assert_int_equal(posture_answer_classify(201, VERDICT, strlen(VERDICT)),
                     POSTURE_ANSWER_ACCEPTED);
    /* a duplicate answer is a delivery */
    const char *dup = "{\"duplicate\":true,\"ear\":\"x\",\"status\":\"warning\"}";
    assert_int_equal(posture_answer_classify(200, dup, strlen(dup)), POSTURE_ANSWER_ACCEPTED);
    /* a captive portal's 200, a JSON 200 without a verdict, an empty 200: never success */
    const char *html = "<html><body>Please log in</body></html>";
    assert_int_equal(posture_answer_classify(200, html, strlen(html)), POSTURE_ANSWER_TRANSIENT);
    assert_int_equal(posture_answer_classify(200, "{\"ok\":1}", 8), POSTURE_ANSWER_TRANSIENT);
    assert_int_equal(posture_answer_classify(200, "[1]", 3), POSTURE_ANSWER_TRANSIENT);
    assert_int_equal(posture_answer_classify(200, NULL, 0), POSTURE_ANSWER_TRANSIENT);
    assert_int_equal(posture_answer_classify(201, "{\"ear\":1,\"status\":\"x\"}", 23),
                     POSTURE_ANSWER_TRANSIENT);
    /* stale nonce, by the error member or the problem type */
    const char *fresh = "{\"type\":\"urn:posture:problem:use_fresh_nonce\",\"error\":"
                        "\"use_fresh_nonce\",\"nonce\":\"AAAAAAAAAAA\"}";
    assert_int_equal(posture_answer_classify(400, fresh, strlen(fresh)),
                     POSTURE_ANSWER_FRESH_NONCE);
    const char *fresh2 = "{\"type\":\"urn:posture:problem:use_fresh_nonce\"}";
    assert_int_equal(posture_answer_classify(400, fresh2, strlen(fresh2)),
                     POSTURE_ANSWER_FRESH_NONCE);
    /* the same problem under another status is not a nonce problem */
    assert_int_equal(posture_answer_classify(403, fresh, strlen(fresh)), POSTURE_ANSWER_REFUSED);
    /* refusals that would never succeed */
    const char *bad = "{\"type\":\"urn:posture:problem:report-rejected\"}";
    assert_int_equal(posture_answer_classify(400, bad, strlen(bad)), POSTURE_ANSWER_REFUSED);
    assert_int_equal(posture_answer_classify(400, html, strlen(html)), POSTURE_ANSWER_REFUSED);
    assert_int_equal(posture_answer_classify(401, NULL, 0), POSTURE_ANSWER_REFUSED);
    assert_int_equal(posture_answer_classify(403, NULL, 0), POSTURE_ANSWER_REFUSED);
    assert_int_equal(posture_answer_classify(404, NULL, 0), POSTURE_ANSWER_REFUSED);
    assert_int_equal(posture_answer_classify(413, NULL, 0), POSTURE_ANSWER_REFUSED);
    /* transient */
    for (long s = 500; s <= 504; s++)
        assert_int_equal(posture_answer_classify(s, html, strlen(html)), POSTURE_ANSWER_TRANSIENT);
    assert_int_equal(posture_answer_classify(408, NULL, 0), POSTURE_ANSWER_TRANSIENT);
    assert_int_equal(posture_answer_classify(429, NULL, 0), POSTURE_ANSWER_TRANSIENT);
    assert_int_equal(posture_answer_classify(302, NULL, 0), POSTURE_ANSWER_TRANSIENT);
    assert_int_equal(posture_answer_classify(204, NULL, 0), POSTURE_ANSWER_TRANSIENT);
    assert_int_equal(posture_answer_classify(0, NULL, 0), POSTURE_ANSWER_TRANSIENT);
}

struct keyfx {
    char *dir;
    int fd;
    EVP_PKEY *key;
};

static int key_setup(void **state)
{
    struct keyfx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = posture_test_mkdtemp();
    f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->fd >= 0);
    assert_int_equal(posture_key_create_file(f->fd, "device.key", &f->key), 0);
    *state = f;
    return 0;
}

static int key_teardown(void **state)
{
    struct keyfx *f = *state;

    EVP_PKEY_free(f->key);
    (void) close(f->fd);
    (void) posture_test_rmdir_r(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static char *sign(EVP_PKEY *key, const char *payload)
{
    char *token = NULL;

    assert_int_equal(
        posture_jws_sign(key, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), &token), 0);
    return token;
}

static struct posture_jws *verify(EVP_PKEY *key, const char *token, int64_t now)
{
    struct posture_jws_verify_opts o = {
        .typ = POSTURE_JWS_TYP_REPORT,
        .now = now,
        .max_lifetime_sec = POSTURE_REPORT_LIFETIME_SEC,
    };
    struct posture_jws *jws = NULL;
    int reason = 0;

    assert_int_equal(posture_jws_verify(token, strlen(token), key, &o, &reason, &jws), 0);
    return jws;
}

static void test_reseal(void **state)
{
    struct keyfx *f = *state;
    const char *old =
        "{\"iss\":\"d\",\"iat\":1000,\"exp\":1120,\"jti\":\"old\",\"eat_nonce\":"
        "\"AAAAAAAAAAA\",\"seq\":42,\"posture\":{\"collected_at\":999,\"checks\":[]}}";
    posture_autofree char *token = sign(f->key, old), *fresh = NULL, *payload = NULL;
    posture_auto_jws struct posture_jws *jws = NULL;
    int64_t now = (int64_t) time(NULL), v = 0;
    const cJSON *posture;

    assert_int_equal(
        posture_report_reseal(f->key, token, "BBBBBBBBBBBBBBBBBBBBBB", now, &fresh, &payload), 0);
    assert_string_not_equal(fresh, token);
    /* signed by the same key, valid now (the old one is long expired) */
    jws = verify(f->key, fresh, now);
    assert_string_equal(posture_json_get_str(jws->payload, "eat_nonce"), "BBBBBBBBBBBBBBBBBBBBBB");
    assert_int_equal(posture_json_get_int(jws->payload, "seq", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(posture_json_get_int(jws->payload, "iat", &v), 0);
    assert_int_equal(v, now);
    assert_int_equal(posture_json_get_int(jws->payload, "exp", &v), 0);
    assert_int_equal(v, now + POSTURE_REPORT_LIFETIME_SEC);
    assert_string_not_equal(posture_json_get_str(jws->payload, "jti"), "old");
    assert_string_equal(posture_json_get_str(jws->payload, "iss"), "d");
    /* the observation keeps its time */
    posture = cJSON_GetObjectItemCaseSensitive(jws->payload, "posture");
    assert_int_equal(posture_json_get_int(posture, "collected_at", &v), 0);
    assert_int_equal(v, 999);
    /* the payload is exactly what was signed */
    assert_string_equal(payload, jws->payload_raw);
}

static void test_reseal_without_nonce(void **state)
{
    struct keyfx *f = *state;
    const char *old = "{\"iat\":5,\"exp\":125,\"eat_nonce\":\"AAAAAAAAAAA\",\"seq\":1}";
    posture_autofree char *token = sign(f->key, old), *fresh = NULL;
    posture_auto_cjson cJSON *claims = NULL;

    assert_int_equal(posture_report_reseal(f->key, token, NULL, 500, &fresh, NULL), 0);
    assert_int_equal(posture_report_claims(fresh, &claims), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(claims, "eat_nonce"));
    assert_non_null(posture_json_get_str(claims, "jti"));
}

static void test_reseal_bad(void **state)
{
    struct keyfx *f = *state;
    static const char *const bad[] = {
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "eyJhIjoxfQ.!!!.c",
        "eyJhIjoxfQ.WzFd.c",        /* payload [1]: not an object */
        "eyJhIjoxfQ.bm90IGpzb24.c", /* "not json" */
    };
    char *out = (char *) 0x1;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(posture_report_reseal(f->key, bad[i], "AAAAAAAAAAA", 1, &out, NULL),
                         -EBADMSG);
        assert_ptr_equal(out, (char *) 0x1); /* untouched */
    }
    assert_int_equal(posture_report_reseal(NULL, "a.b.c", NULL, 1, &out, NULL), -EINVAL);
    assert_int_equal(posture_report_reseal(f->key, NULL, NULL, 1, &out, NULL), -EINVAL);
}

static void test_submission_body(void **state)
{
    posture_autofree char *body = NULL, *body2 = NULL, *token = NULL;
    posture_auto_cjson cJSON *o = NULL;
    cJSON *tpm = cJSON_CreateObject();

    (void) state;
    assert_non_null(tpm);
    assert_int_equal(posture_json_add_str(tpm, "attest", "xyz"), 0);
    assert_int_equal(posture_submission_body("h.p.s", tpm, &body), 0);
    assert_int_equal(posture_json_parse(body, strlen(body), strlen(body), 8, &o), 0);
    assert_string_equal(posture_json_get_str(o, "report"), "h.p.s");
    assert_string_equal(posture_json_get_str(cJSON_GetObjectItemCaseSensitive(o, "tpm"), "attest"),
                        "xyz");
    assert_int_equal(posture_submission_report(body, strlen(body), &token), 0);
    assert_string_equal(token, "h.p.s");

    assert_int_equal(posture_submission_body("h.p.s", NULL, &body2), 0);
    assert_string_equal(body2, "{\"report\":\"h.p.s\"}");
    assert_int_equal(posture_submission_body(NULL, NULL, &body2), -EINVAL);

    char *t = (char *) 0x1;
    assert_int_equal(posture_submission_report("", 0, &t), -EBADMSG);
    assert_int_equal(posture_submission_report("{}", 2, &t), -EBADMSG);
    assert_int_equal(posture_submission_report("{\"report\":\"\"}", 13, &t), -EBADMSG);
    assert_int_equal(posture_submission_report("{\"report\":1}", 12, &t), -EBADMSG);
    assert_int_equal(posture_submission_report("[\"report\"]", 10, &t), -EBADMSG);
    assert_int_equal(posture_submission_report("{\"report\":\"x\"", 13, &t), -EBADMSG);
    assert_ptr_equal(t, (char *) 0x1);
}

static void test_status_roundtrip(void **state)
{
    struct keyfx *f = *state;
    POSTURE_CLEANUP(posture_daemon_status_done) struct posture_daemon_status st = { 0 };
    POSTURE_CLEANUP(posture_daemon_status_done) struct posture_daemon_status back = { 0 };
    struct posture_cycle_result res = {
        .outcome = POSTURE_CYCLE_DELIVERED,
        .seq = 7,
        .answer = (char *) "{\"ear\":\"secret.ear.sig\",\"status\":\"affirming\",\"policy\":\"p\"}",
    };
    struct stat sb;
    posture_autofree char *path = NULL;

    /* missing: -ENOENT */
    assert_int_equal(posture_daemon_status_read(f->fd, &back), -ENOENT);

    assert_int_equal(posture_daemon_status_update(&st, &res, 1000), 0);
    st.next_cycle = 1300;
    st.spool_entries = 2;
    st.spool_bytes = 4096;
    st.dropped = 1;
    assert_int_equal(posture_daemon_status_write(f->fd, &st), 0);
    assert_int_equal(fstatat(f->fd, POSTURE_STATUS_NAME, &sb, 0), 0);
    assert_int_equal(sb.st_mode & 07777, 0644);

    assert_int_equal(posture_daemon_status_read(f->fd, &back), 0);
    assert_int_equal(back.last_attempt, 1000);
    assert_int_equal(back.last_success, 1000);
    assert_int_equal(back.next_cycle, 1300);
    assert_int_equal(back.spool_entries, 2);
    assert_int_equal(back.spool_bytes, 4096);
    assert_int_equal(back.dropped, 1);
    assert_int_equal(back.seq, 7);
    assert_string_equal(back.last_error, "");
    assert_non_null(back.verdict);
    assert_string_equal(posture_json_get_str(back.verdict, "status"), "affirming");
    /* the EAR is in ear.jwt, not in the status summary */
    assert_null(cJSON_GetObjectItemCaseSensitive(back.verdict, "ear"));

    /* a failed attempt keeps the last verdict and success, and says what went wrong */
    struct posture_cycle_result fail = { .outcome = POSTURE_CYCLE_RETRY, .seq = 8 };
    (void) snprintf(fail.error, sizeof(fail.error), "connection refused");
    assert_int_equal(posture_daemon_status_update(&back, &fail, 2000), 0);
    assert_int_equal(back.last_attempt, 2000);
    assert_int_equal(back.last_success, 1000);
    assert_int_equal(back.seq, 8);
    assert_string_equal(back.last_error, "connection refused");
    assert_non_null(back.verdict);

    /* verdict null when never delivered */
    POSTURE_CLEANUP(posture_daemon_status_done) struct posture_daemon_status empty = { 0 };
    assert_int_equal(posture_daemon_status_write(f->fd, &empty), 0);
    assert_int_equal(asprintf(&path, "%s/" POSTURE_STATUS_NAME, f->dir) > 0, 1);
    FILE *fp = fopen(path, "re");
    assert_non_null(fp);
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    (void) fclose(fp);
    assert_non_null(strstr(buf, "\"verdict\""));
    assert_non_null(strstr(buf, "null"));
    assert_int_equal(posture_daemon_status_read(f->fd, &empty), 0);
    assert_null(empty.verdict);
    assert_int_equal(empty.last_success, 0);
}

static void test_status_malformed(void **state)
{
    struct keyfx *f = *state;
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{}",                                       /* no version */
        "{\"version\":2}",                          /* a future format */
        "{\"version\":\"1\"}",                      /* a string */
        "{\"version\":1,\"last_attempt\":-5}",      /* negative */
        "{\"version\":1,\"seq\":\"7\"}",            /* wrong type */
        "{\"version\":1,\"last_success\":1.5e400}", /* out of range */
    };
    POSTURE_CLEANUP(posture_daemon_status_done) struct posture_daemon_status st = { 0 };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(posture_test_write_file(f->dir, POSTURE_STATUS_NAME, bad[i]), 0);
        st.seq = 99;
        assert_int_equal(posture_daemon_status_read(f->fd, &st), -EBADMSG);
        assert_int_equal(st.seq, 99); /* untouched */
    }
    /* unknown members are tolerated */
    assert_int_equal(posture_test_write_file(f->dir, POSTURE_STATUS_NAME,
                                             "{\"version\":1,\"seq\":5,\"future\":[1,2],"
                                             "\"verdict\":null}"),
                     0);
    assert_int_equal(posture_daemon_status_read(f->fd, &st), 0);
    assert_int_equal(st.seq, 5);
    assert_null(st.verdict);
}

/* A fake report maker: signs {"seq": n} and records the drops it was told of. */
struct fake {
    EVP_PKEY *key;
    uint64_t seq;
    uint64_t told[8];
    unsigned calls;
    bool fail;
};

static int fake_report(
    void *userdata, const char *nonce, uint64_t dropped, char **ret_token, char **ret_payload)
{
    struct fake *f = userdata;
    char payload[128];

    assert_null(nonce); /* offline: no challenge was made */
    if (f->fail)
        return -EIO;
    if (f->calls < 8)
        f->told[f->calls] = dropped;
    f->calls++;
    (void) snprintf(payload, sizeof(payload), "{\"seq\":%llu,\"pad\":\"%0100d\"}",
                    (unsigned long long) ++f->seq, 0);
    *ret_payload = strdup(payload);
    assert_non_null(*ret_payload);
    assert_int_equal(
        posture_jws_sign(f->key, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), ret_token), 0);
    return 0;
}

/* Offline cycles (backing off: the verifier is not contacted) spool their reports; a spool too
 * small for two drops the older one, and the next report is told so. */
static void test_offline_spool_drops(void **state)
{
    struct keyfx *f = *state;
    struct posture_http_client_opts o = { .base_url = "https://127.0.0.1:1" };
    struct posture_spool_limits lim = { .max_bytes = 700 };
    posture_auto_http_client struct posture_http_client *client = NULL;
    posture_auto_spool struct posture_spool *spool = NULL;
    posture_autofree uint64_t *seqs = NULL;
    struct fake fk = { .key = f->key };
    struct posture_spool_stats st;
    size_t n = 0;

    assert_int_equal(posture_http_client_new(&o, &client), 0);
    assert_int_equal(posture_spool_open(f->fd, &lim, &spool), 0);
    struct posture_cycle c = {
        .client = client,
        .key = f->key,
        .url = "https://127.0.0.1:1",
        .spool = spool,
        .offline = true,
        .ops = { .report = fake_report, .userdata = &fk },
    };
    for (int i = 0; i < 3; i++) {
        POSTURE_CLEANUP(posture_cycle_result_done) struct posture_cycle_result res = { 0 };
        assert_int_equal(posture_cycle_run(&c, &res), 0);
        assert_int_equal(res.outcome, POSTURE_CYCLE_RETRY);
        assert_int_equal(res.seq, (uint64_t) i + 1);
        assert_null(res.ear);
        assert_string_not_equal(res.error, "");
    }
    assert_int_equal(fk.calls, 3);
    assert_int_equal(fk.told[0], 0);
    assert_int_equal(fk.told[1], 0);      /* seq 1 was dropped while seq 2 was spooled... */
    assert_int_equal(fk.told[2], 1);      /* ...and seq 3 says so; */
    assert_int_equal(c.spool_dropped, 2); /* seq 2 went too, for seq 3 */
    assert_int_equal(c.unreported, 1);    /* which the next report will tell */
    assert_int_equal(posture_spool_list(spool, 0, &seqs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(seqs[0], 3);
    assert_int_equal(posture_spool_stats(spool, &st), 0);
    assert_int_equal(st.entries, 1);

    /* A failing report is a local failure, nothing spooled. */
    fk.fail = true;
    POSTURE_CLEANUP(posture_cycle_result_done) struct posture_cycle_result res = { 0 };
    assert_int_equal(posture_cycle_run(&c, &res), 0);
    assert_int_equal(res.outcome, POSTURE_CYCLE_FAILED);
    assert_int_equal(res.seq, 0);

    /* Without a spool (posturectl) an offline cycle makes no report. */
    fk.fail = false;
    c.spool = NULL;
    c.offline = false;
    POSTURE_CLEANUP(posture_cycle_result_done) struct posture_cycle_result res2 = { 0 };
    assert_int_equal(posture_cycle_run(&c, &res2), 0); /* nobody listens on port 1 */
    assert_int_equal(res2.outcome, POSTURE_CYCLE_RETRY);
    assert_int_equal(res2.http_status, 0);
    assert_int_equal(res2.seq, 0);
    assert_int_equal(fk.calls, 3);
    assert_non_null(strstr(res2.error, "/v1/challenge"));
}

static void test_cycle_invalid(void **state)
{
    struct posture_cycle c = { 0 };
    struct posture_cycle_result res;

    (void) state;
    assert_int_equal(posture_cycle_run(NULL, &res), -EINVAL);
    assert_int_equal(posture_cycle_run(&c, &res), -EINVAL); /* no client, key, ops */
    assert_int_equal(posture_cycle_drain(&c, &res), -EINVAL);
    posture_cycle_result_done(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test_setup_teardown(test_reseal, key_setup, key_teardown),
        cmocka_unit_test_setup_teardown(test_reseal_without_nonce, key_setup, key_teardown),
        cmocka_unit_test_setup_teardown(test_reseal_bad, key_setup, key_teardown),
        cmocka_unit_test(test_submission_body),
        cmocka_unit_test_setup_teardown(test_status_roundtrip, key_setup, key_teardown),
        cmocka_unit_test_setup_teardown(test_status_malformed, key_setup, key_teardown),
        cmocka_unit_test_setup_teardown(test_offline_spool_drops, key_setup, key_teardown),
        cmocka_unit_test(test_cycle_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
