/* SPDX-License-Identifier: Apache-2.0 */
/* The external check output contract (check_output.h): parse, refuse, and round-trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/check_output.h"
#include "posture/json.h"
#include "posture/registry.h"
#include "posture/result.h"

#include "testlib.h"

#define GOOD_HEAD "{\"posture_check\":1,\"name\":\"corp.edr\",\"version\":\"1.2.3\","

static struct posture_result *new_result(void)
{
    struct posture_result *r = NULL;
    assert_int_equal(posture_result_new("corp.edr", "-", &r), 0);
    return r;
}

/* Parse text as output of corp.edr; the explanation in why. */
static int parse(const char *text, size_t len, struct posture_result **ret, char *why, size_t n)
{
    struct posture_result *r = new_result();
    int k = posture_check_output_parse(text, len, "corp.edr", r, why, n);
    *ret = r;
    return k;
}

static void test_full_document(void **state)
{
    (void) state;
    const char *doc = "\n {\"posture_check\": 1, \"name\": \"corp.edr\", \"version\": \"1.2.3\",\n"
                      "  \"status\": \"fail\", \"reason\": \"falcon-sensor is not running\",\n"
                      "  \"remediation\": \"Start falcon-sensor.\", \"future_member\": [1, 2],\n"
                      "  \"evidence\": {\"running\": false, \"pids\": [], \"count\": -3, \"big\": "
                      "9007199254740992,\n"
                      "     \"path\": \"/opt/CrowdStrike/falcond\", \"none\": null, \"x\": 1.0e2,\n"
                      "     \"nested\": {\"a\": [\"b\", {\"c\": true}]}}}\n\t ";
    char why[POSTURE_CHECK_OUTPUT_WHY_MAX];
    posture_auto_result struct posture_result *r = NULL;

    assert_int_equal(parse(doc, strlen(doc), &r, why, sizeof(why)), 0);
    assert_int_equal(r->status, POSTURE_STATUS_FAIL);
    assert_string_equal(r->version, "1.2.3");
    assert_string_equal(r->reason, "falcon-sensor is not running");
    assert_string_equal(r->remediation, "Start falcon-sensor.");
    bool b = true;
    int64_t i = 0;
    assert_int_equal(posture_json_get_bool(r->evidence, "running", &b), 0);
    assert_false(b);
    assert_int_equal(posture_json_get_int(r->evidence, "count", &i), 0);
    assert_int_equal(i, -3);
    assert_int_equal(posture_json_get_int(r->evidence, "big", &i), 0);
    assert_int_equal(i, (int64_t) 1 << 53);
    assert_int_equal(posture_json_get_int(r->evidence, "x", &i), 0);
    assert_int_equal(i, 100);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r->evidence, "none")));
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r->evidence, "pids")));
    const cJSON *nested = cJSON_GetObjectItemCaseSensitive(r->evidence, "nested");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(nested, "a");
    assert_int_equal(cJSON_GetArraySize(a), 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(a, 1), "c")));
    /* Nothing beyond the documented members reaches the result. */
    assert_null(cJSON_GetObjectItemCaseSensitive(r->evidence, "future_member"));
    assert_int_equal(r->evidence_depth, 1);
}

static void test_statuses_and_optional_remediation(void **state)
{
    (void) state;
    const char *names[] = { "pass", "warn", "fail", "not_applicable", "error" };
    for (int i = 0; i < 5; i++) {
        char doc[512];
        posture_auto_result struct posture_result *r = NULL;
        (void) snprintf(doc, sizeof(doc),
                        GOOD_HEAD "\"status\":\"%s\",\"reason\":\"r\",%s\"evidence\":{}}", names[i],
                        i == 1 ? "\"remediation\":null," : "");
        assert_int_equal(parse(doc, strlen(doc), &r, NULL, 0), 0);
        assert_int_equal(r->status, i);
        assert_null(r->remediation);
    }
}

struct bad {
    const char *doc;
    const char *why; /* a substring of the explanation */
};

static void test_refusals(void **state)
{
    (void) state;
    static const struct bad bad[] = {
        { "", "no output" },
        { "   \n", "not valid JSON" },
        { "not json", "not valid JSON" },
        { "[1,2]", "not a JSON object" },
        { "\"str\"", "not a JSON object" },
        { "{\"name\":\"corp.edr\"}", "\"posture_check\" is missing" },
        { "{\"posture_check\":2,\"name\":\"corp.edr\"}", "unsupported posture_check schema" },
        { "{\"posture_check\":\"1\"}", "unsupported posture_check schema" },
        { "{\"posture_check\":1}", "\"name\" is missing" },
        { "{\"posture_check\":1,\"name\":7}", "\"name\" is not a string" },
        { "{\"posture_check\":1,\"name\":\"corp.other\"}",
          "name 'corp.other' differs from the check id 'corp.edr'" },
        { "{\"posture_check\":1,\"name\":\"corp.edr\"}", "\"version\" is missing" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\"}", "\"evidence\" is missing" },
        { "{\"posture_check\":1,\"name\":\"corp.edr\",\"version\":\"\"}", "version is empty" },
        { GOOD_HEAD "\"reason\":\"r\",\"evidence\":{}}", "\"status\" is missing" },
        { GOOD_HEAD "\"status\":\"PASS\",\"reason\":\"r\",\"evidence\":{}}",
          "status 'PASS' is not one of" },
        { GOOD_HEAD "\"status\":\"pass\",\"evidence\":{}}", "\"reason\" is missing" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"remediation\":1,\"evidence\":{}}",
          "\"remediation\" is not a string" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":[]}",
          "\"evidence\" is not an object" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{\"f\":1.5}}",
          "evidence.f: numbers must be integers" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{\"f\":[1,1e300]}}",
          "evidence.f[1]: numbers must be integers" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{\"\":1}}",
          "evidence.: invalid evidence key" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{}} {}",
          "trailing data after the JSON document" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{}}garbage",
          "trailing data" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{}", "not valid JSON" },
        { GOOD_HEAD "\"status\":\"pass\",\"status\":\"fail\",\"reason\":\"r\",\"evidence\":{}}",
          "output repeats a key in one JSON object" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{\"a\":"
                    "[[[[[[[[1]]]]]]]]}}",
          "evidence nested deeper than 7 levels" },
        { GOOD_HEAD "\"status\":\"pass\",\"reason\":\"\\u0000\",\"evidence\":{}}",
          "not valid JSON" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char why[POSTURE_CHECK_OUTPUT_WHY_MAX];
        posture_auto_result struct posture_result *r = NULL;
        int k = parse(bad[i].doc, strlen(bad[i].doc), &r, why, sizeof(why));
        if (k != -EPROTO || !strstr(why, bad[i].why))
            fail_msg("case %zu (%s): got %d '%s', wanted '%s'", i, bad[i].doc, k, why, bad[i].why);
    }
}

static void test_bytes(void **state)
{
    (void) state;
    char why[POSTURE_CHECK_OUTPUT_WHY_MAX];
    const char nul[] = GOOD_HEAD "\"status\":\"pass\",\"reason\":\"a\0b\",\"evidence\":{}}";
    const char latin1[] = GOOD_HEAD "\"status\":\"pass\",\"reason\":\"caf\xe9\",\"evidence\":{}}";
    posture_auto_result struct posture_result *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;

    assert_int_equal(parse(nul, sizeof(nul) - 1, &r1, why, sizeof(why)), -EPROTO);
    assert_non_null(strstr(why, "NUL byte"));
    assert_int_equal(parse(latin1, sizeof(latin1) - 1, &r2, why, sizeof(why)), -EPROTO);
    assert_string_equal(why, "output is not valid UTF-8");

    /* Only len bytes count: no terminator needed, and what follows is not read. */
    const char padded[] = GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{}}XYZ";
    assert_int_equal(parse(padded, sizeof(padded) - 4, &r3, why, sizeof(why)), 0);

    /* Over the cap, even when valid. */
    size_t big = POSTURE_CHECK_OUTPUT_MAX + 1;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, ' ', big);
    memcpy(buf, padded, sizeof(padded) - 4);
    assert_int_equal(parse(buf, big, &r4, why, sizeof(why)), -EPROTO);
    assert_non_null(strstr(why, "output over 64 KiB"));
    free(buf);

    /* A tiny why buffer is truncated, never overrun; NULL why is fine. */
    posture_auto_result struct posture_result *r5 = new_result(), *r6 = new_result();
    char tiny[4];
    assert_int_equal(posture_check_output_parse("x", 1, "corp.edr", r5, tiny, sizeof(tiny)),
                     -EPROTO);
    assert_string_equal(tiny, "out");
    assert_int_equal(posture_check_output_parse("x", 1, "corp.edr", r6, NULL, 0), -EPROTO);
    assert_int_equal(posture_check_output_parse(NULL, 1, "corp.edr", r6, NULL, 0), -EINVAL);
    assert_int_equal(posture_check_output_parse("x", 1, NULL, r6, NULL, 0), -EINVAL);
    assert_int_equal(posture_check_output_parse("x", 1, "corp.edr", NULL, NULL, 0), -EINVAL);
}

static void test_evidence_bounds(void **state)
{
    (void) state;
    char why[POSTURE_CHECK_OUTPUT_WHY_MAX];
    /* A string one byte over the host API's bound. */
    size_t n = POSTURE_EVIDENCE_STR_MAX + 1;
    size_t size = n + 256;
    char *doc = malloc(size);
    assert_non_null(doc);
    int len = snprintf(doc, size,
                       GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{\"s\":\"");
    memset(doc + len, 'a', n);
    memcpy(doc + len + n, "\"}}", 4);
    posture_auto_result struct posture_result *r = NULL;
    assert_int_equal(parse(doc, strlen(doc), &r, why, sizeof(why)), -EPROTO);
    assert_non_null(strstr(why, "evidence.s: evidence too large"));
    free(doc);

    /* More values than the item budget, inside 64 KiB: [0,0,0,...]. */
    size = POSTURE_CHECK_OUTPUT_MAX;
    doc = malloc(size);
    assert_non_null(doc);
    len = snprintf(doc, size,
                   GOOD_HEAD "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{\"a\":[0");
    for (unsigned i = 0; i < POSTURE_EVIDENCE_ITEMS_MAX + 10; i++) {
        memcpy(doc + len, ",0", 2);
        len += 2;
    }
    memcpy(doc + len, "]}}", 4);
    posture_auto_result struct posture_result *r2 = NULL;
    assert_int_equal(parse(doc, strlen(doc), &r2, why, sizeof(why)), -EPROTO);
    assert_non_null(strstr(why, "evidence too large"));
    free(doc);
}

static void test_round_trip(void **state)
{
    (void) state;
    const struct posture_host_api *api = posture_host_api_get();
    posture_auto_result struct posture_result *r = new_result();
    posture_auto_result struct posture_result *back = new_result();
    const char *const v[] = { "a", "b" };
    posture_autofree char *text = NULL;
    size_t len = 0;

    /* Without a status there is nothing to write. */
    assert_int_equal(posture_check_output_format(r, &text, &len), -EINVAL);

    free(r->version);
    r->version = strdup("2.0.0");
    assert_non_null(r->version);
    assert_int_equal(api->set_status(r, POSTURE_STATUS_WARN), 0);
    assert_int_equal(api->set_reason(r, "stale \"quoted\" text"), 0);
    assert_int_equal(api->evidence_add_strv(r, "list", v, 2), 0);
    assert_int_equal(api->evidence_begin_object(r, "o"), 0);
    assert_int_equal(api->evidence_add_int(r, "n", 42), 0);
    assert_int_equal(api->evidence_end(r), 0);
    assert_int_equal(posture_check_output_format(r, &text, &len), 0);
    assert_int_equal(strlen(text), len);

    assert_int_equal(posture_check_output_parse(text, len, "corp.edr", back, NULL, 0), 0);
    assert_int_equal(back->status, POSTURE_STATUS_WARN);
    assert_string_equal(back->version, "2.0.0");
    assert_string_equal(back->reason, "stale \"quoted\" text");
    assert_null(back->remediation);
    assert_true(cJSON_Compare(r->evidence, back->evidence, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_document),
        cmocka_unit_test(test_statuses_and_optional_remediation),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_evidence_bounds),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
