/* SPDX-License-Identifier: Apache-2.0 */
/* posture_submission_*: the /v1/posture body and the nonce peek before verification. */

#include <stdlib.h>
#include <string.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/json.h"
#include "posture/jws.h"

#include "submission.h"
#include "testlib.h"

/* A token with the given payload text; header and signature are made up (never checked). */
static char *token(const char *payload)
{
    posture_autofree char *p = NULL;
    char *t;
    size_t n;

    assert_int_equal(posture_b64url_encode(payload, strlen(payload), &p), 0);
    n = strlen(p) + 64;
    t = malloc(n);
    assert_non_null(t);
    (void) snprintf(t, n, "eyJhbGciOiJFUzI1NiJ9.%s.c2ln", p);
    return t;
}

static const char *parse_why(const char *body)
{
    posture_auto_submission struct posture_submission *s = NULL;
    const char *why = NULL;

    assert_int_equal(posture_submission_parse(body, strlen(body), &s, &why), -EBADMSG);
    assert_null(s);
    assert_non_null(why);
    return why;
}

static void test_parse(void **state)
{
    posture_auto_submission struct posture_submission *s = NULL;
    posture_autofree char *body = NULL;
    const char *why = NULL;
    static const char ok[] = "{\"report\":\"a.b.c\"}";

    assert_int_equal(posture_submission_parse(ok, strlen(ok), &s, &why), 0);
    assert_string_equal(s->report, "a.b.c");
    assert_int_equal(s->report_len, 5);
    assert_null(s->tpm);

    assert_string_equal(parse_why("[]"), "not a JSON object");
    assert_string_equal(parse_why("{}"), "report: missing");
    assert_string_equal(parse_why("{\"report\":1}"), "report: not a string");
    assert_string_equal(parse_why("{\"report\":\"\"}"), "report: empty or larger than 64 KiB");
    assert_string_equal(parse_why("{\"report\":\"a\",\"evidence\":{}}"),
                        "unknown member (only report and tpm)");
    assert_string_equal(parse_why("{\"report\":\"a\",\"report\":\"b\"}"),
                        "not valid JSON (syntax, nesting, or a duplicate member)");
    assert_string_equal(parse_why("{\"report\":\"a\",\"tpm\":{\"v\":1}}"), "tpm: bank: missing");
    assert_string_equal(parse_why("{\"report\":\"a\",\"tpm\":[]}"), "tpm: not a JSON object");
    assert_string_equal(parse_why("{\"report\":\"a\"} x"),
                        "not valid JSON (syntax, nesting, or a duplicate member)");

    /* A report larger than a JWS may be. */
    body = malloc(POSTURE_JWS_MAX_SIZE + 32);
    assert_non_null(body);
    memcpy(body, "{\"report\":\"", 11);
    memset(body + 11, 'a', POSTURE_JWS_MAX_SIZE + 1);
    memcpy(body + 11 + POSTURE_JWS_MAX_SIZE + 1, "\"}", 3);
    assert_string_equal(parse_why(body), "report: empty or larger than 64 KiB");
}

static void test_parse_with_evidence(void **state)
{
    posture_auto_submission struct posture_submission *s = NULL;
    posture_autofree char *ev = NULL, *body = NULL;
    size_t len = 0;
    const char *why = NULL;
    FILE *f = fopen(posture_test_path("fuzz/corpus/evidence/minimal.json"), "re");

    assert_non_null(f);
    ev = malloc(1 << 16);
    assert_non_null(ev);
    len = fread(ev, 1, (1 << 16) - 1, f);
    (void) fclose(f);
    ev[len] = '\0';
    body = malloc(len + 64);
    assert_non_null(body);
    (void) snprintf(body, len + 64, "{\"tpm\":%s,\"report\":\"a.b.c\"}", ev);
    assert_int_equal(posture_submission_parse(body, strlen(body), &s, &why), 0);
    assert_non_null(s->tpm);
    assert_int_equal(s->tpm->pcr_mask, 0xff);
    assert_int_equal(s->tpm->n_pcrs, 8);
}

static void test_peek_nonce(void **state)
{
    uint8_t buf[64];
    char *t;

    /* 16 bytes "0123456789abcdef" in base64url */
    t = token("{\"eat_nonce\":\"MDEyMzQ1Njc4OWFiY2RlZg\",\"iat\":1}");
    assert_int_equal(posture_submission_peek_nonce(t, strlen(t), buf, sizeof(buf)), 16);
    assert_memory_equal(buf, "0123456789abcdef", 16);
    free(t);

    t = token("{\"iat\":1}");
    assert_int_equal(posture_submission_peek_nonce(t, strlen(t), buf, sizeof(buf)), -EBADMSG);
    free(t);
    t = token("{\"eat_nonce\":\"MDEy\"}"); /* 3 bytes: too short */
    assert_int_equal(posture_submission_peek_nonce(t, strlen(t), buf, sizeof(buf)), -EBADMSG);
    free(t);
    t = token("{\"eat_nonce\":\"MDEyMzQ1Njc4OWFiY2RlZg==\"}"); /* padding */
    assert_int_equal(posture_submission_peek_nonce(t, strlen(t), buf, sizeof(buf)), -EBADMSG);
    free(t);
    t = token("{\"eat_nonce\":1}");
    assert_int_equal(posture_submission_peek_nonce(t, strlen(t), buf, sizeof(buf)), -EBADMSG);
    free(t);
    t = token("[\"eat_nonce\"]");
    assert_int_equal(posture_submission_peek_nonce(t, strlen(t), buf, sizeof(buf)), -EBADMSG);
    free(t);
    assert_int_equal(posture_submission_peek_nonce("abc", 3, buf, sizeof(buf)), -EBADMSG);
    assert_int_equal(posture_submission_peek_nonce("a.b", 3, buf, sizeof(buf)), -EBADMSG);
    assert_int_equal(posture_submission_peek_nonce("a.!!.c", 6, buf, sizeof(buf)), -EBADMSG);
    /* The buffer is too small for the nonce. */
    t = token("{\"eat_nonce\":\"MDEyMzQ1Njc4OWFiY2RlZg\"}");
    assert_int_equal(posture_submission_peek_nonce(t, strlen(t), buf, 8), -EBADMSG);
    free(t);
}

/* The unverified claims decoded once, for the aud and the nonce. */
static void test_peek_claims(void **state)
{
    cJSON *claims = NULL;
    uint8_t buf[64];
    char *t;

    t = token("{\"aud\":\"https://v.example\",\"eat_nonce\":\"MDEyMzQ1Njc4OWFiY2RlZg\"}");
    assert_int_equal(posture_submission_peek(t, strlen(t), &claims), 0);
    assert_string_equal(posture_json_get_str(claims, "aud"), "https://v.example");
    assert_int_equal(posture_submission_claims_nonce(claims, buf, sizeof(buf)), 16);
    assert_memory_equal(buf, "0123456789abcdef", 16);
    cJSON_Delete(claims);
    claims = NULL;
    free(t);
    /* a duplicate member is refused, not read one way here and another after the signature */
    t = token(
        "{\"eat_nonce\":\"MDEyMzQ1Njc4OWFiY2RlZg\",\"eat_nonce\":\"MDEyMzQ1Njc4OWFiY2RlZw\"}");
    assert_int_equal(posture_submission_peek(t, strlen(t), &claims), -EBADMSG);
    assert_null(claims);
    free(t);
    t = token("{\"aud\":1}");
    assert_int_equal(posture_submission_peek(t, strlen(t), &claims), 0);
    assert_int_equal(posture_submission_claims_nonce(claims, buf, sizeof(buf)), -EBADMSG);
    cJSON_Delete(claims);
    claims = NULL;
    free(t);
    assert_int_equal(posture_submission_peek("a.!!.c", 6, &claims), -EBADMSG);
    assert_int_equal(posture_submission_peek(NULL, 0, &claims), -EINVAL);
    assert_null(claims);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_with_evidence),
        cmocka_unit_test(test_peek_nonce),
        cmocka_unit_test(test_peek_claims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
