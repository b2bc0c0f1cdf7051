/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policies: the shipped files parse, every member's errors name file, member and problem, every
 * operator evaluates as documented (docs/policy.md), durations and digests are strict, and a
 * policy directory loads all or nothing.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "posture/json.h"

#include "policy.h"
#include "testlib.h"

static struct posture_policy *parse_ok(const char *json)
{
    struct posture_policy *p = NULL;
    char err[POSTURE_POLICY_ERROR_MAX] = "";
    int r = posture_policy_parse("t.json", json, strlen(json), &p, err, sizeof(err));
    if (r < 0)
        fail_msg("unexpected error %d: %s\nin: %s", r, err, json);
    return p;
}

static void parse_err(const char *json, const char *expect)
{
    struct posture_policy *p = NULL;
    char err[POSTURE_POLICY_ERROR_MAX] = "";
    int r = posture_policy_parse("t.json", json, strlen(json), &p, err, sizeof(err));
    if (r != -EBADMSG || !strstr(err, expect) || strncmp(err, "t.json: ", 8) != 0)
        fail_msg("expected -EBADMSG with '%s', got %d '%s'\nin: %s", expect, r, err, json);
    assert_null(p);
}

#define HEAD    "{\"id\":\"t\",\"version\":\"1\","
#define RULE(x) HEAD "\"checks\":{\"c.x\":" x "}}"
#define COND(x) RULE("{\"evidence\":[" x "]}")

static void test_shipped(void **state)
{
    (void) state;
    char err[POSTURE_POLICY_ERROR_MAX];
    struct posture_policy *p = NULL;
    char digest[POSTURE_POLICY_DIGEST_TEXT];

    assert_int_equal(
        posture_policy_load_file(posture_test_path("../packaging/policies/baseline.json"), &p, err,
                                 sizeof(err)),
        0);
    assert_string_equal(p->id, "baseline");
    assert_int_equal(p->n_rules, 11);
    assert_int_equal(p->trust_tier, POSTURE_POLICY_TIER_ANY);
    assert_false(p->secure_boot);
    assert_int_equal(p->max_age_s, 15 * 60);
    assert_non_null(posture_policy_rule_find(p, "disk.encryption"));
    assert_null(posture_policy_rule_find(p, "no.such"));
    posture_policy_digest_text(p, digest);
    assert_int_equal(strlen(digest), 8 + 64);
    assert_memory_equal(digest, "sha-256:", 8);
    p = posture_policy_free(p);

    assert_int_equal(
        posture_policy_load_file(posture_test_path("../packaging/policies/payments-admin.json"), &p,
                                 err, sizeof(err)),
        0);
    assert_string_equal(p->id, "payments-admin");
    assert_int_equal(p->trust_tier, POSTURE_POLICY_TIER_HARDWARE);
    assert_true(p->secure_boot);
    assert_true(p->pcr_quote);
    assert_int_equal(p->max_age_s, 5 * 60);
    assert_int_equal(posture_policy_rule_find(p, "time.sync")->max_age_s, 5 * 60);
    posture_policy_free(p);
}

static void test_digest_is_of_file_bytes(void **state)
{
    (void) state;
    const char *a = HEAD "\"checks\":{}}";
    const char *b = HEAD "\"checks\": {} }";
    uint8_t want[32];
    unsigned n = 0;
    struct posture_policy *pa = parse_ok(a), *pb = parse_ok(b);

    assert_int_equal(EVP_Digest(a, strlen(a), want, &n, EVP_sha256(), NULL), 1);
    assert_memory_equal(pa->digest, want, 32);
    /* Same meaning, other bytes: another digest. */
    assert_memory_not_equal(pa->digest, pb->digest, 32);
    posture_policy_free(pa);
    posture_policy_free(pb);
}

static void test_defaults(void **state)
{
    (void) state;
    struct posture_policy *p = parse_ok(RULE("{\"evidence\":[{\"path\":\"/a\",\"op\":\"true\"}]}"));
    const struct posture_policy_rule *r = &p->rules[0];

    assert_string_equal(p->version, "1");
    assert_null(p->description);
    assert_true(r->required);
    assert_false(r->report_only);
    assert_int_equal(r->grace_s, 0);
    assert_int_equal(r->max_age_s, POSTURE_POLICY_DEFAULT_MAX_AGE);
    assert_null(r->remediation);
    assert_int_equal(r->n_evidence, 1);
    assert_int_equal(r->evidence[0].missing, POSTURE_POLICY_MISSING_ERROR);
    posture_policy_free(p);

    p = parse_ok(HEAD "\"max_age\":\"1h\",\"checks\":{\"c.x\":{\"required\":false,"
                      "\"report_only\":true,\"grace\":\"2d\",\"remediation\":\"fix it\","
                      "\"warn\":[{\"path\":\"/a\",\"op\":\"exists\"}]},"
                      "\"c.y\":{\"max_age\":\"90s\",\"report_only_until\":\"2027-01-02\","
                      "\"evidence\":[{\"path\":\"/b\",\"op\":\"gt\","
                      "\"value\":1.5,\"missing\":\"hold\"}]}}}");
    assert_int_equal(p->rules[0].max_age_s, 3600);
    assert_false(p->rules[0].required);
    assert_true(p->rules[0].report_only);
    assert_int_equal(p->rules[0].grace_s, 2 * 86400);
    assert_string_equal(p->rules[0].remediation, "fix it");
    assert_int_equal(p->rules[1].max_age_s, 90);
    assert_int_equal(p->rules[0].report_only_until, 0);
    assert_int_equal(p->rules[1].report_only_until, 1798848000); /* 2027-01-02T00:00:00Z */
    assert_int_equal(p->rules[1].evidence[0].missing, POSTURE_POLICY_MISSING_HOLD);
    posture_policy_free(p);
}

static void test_parse_errors(void **state)
{
    (void) state;
    /* Document level. */
    parse_err("", "/: not valid JSON");
    parse_err("[]", "/: expected a JSON object, got an array");
    parse_err("{\"id\":\"t\",\"id\":\"u\",\"version\":\"1\",\"checks\":{}}", "not valid JSON");
    parse_err(HEAD "\"checks\":{},\"extra\":1}",
              "/extra: unknown member (expected id, version, description");
    parse_err("{\"version\":\"1\",\"checks\":{}}", "/id: missing");
    parse_err("{\"id\":\"Bad Id\",\"version\":\"1\",\"checks\":{}}", "/id: 'Bad Id' may only");
    parse_err("{\"id\":7,\"version\":\"1\",\"checks\":{}}", "/id: expected a string, got a number");
    parse_err("{\"id\":\"t\",\"checks\":{}}", "/version: missing");
    parse_err("{\"id\":\"t\",\"version\":\"a b\",\"checks\":{}}", "/version: must be printable");
    parse_err("{\"id\":\"t\",\"version\":\"\",\"checks\":{}}", "/version: must not be empty");
    parse_err(HEAD "\"description\":\"a\\u0001\",\"checks\":{}}",
              "/description: contains a control character");
    parse_err("{\"id\":\"t\",\"version\":\"1\"}", "/checks: missing");
    parse_err(HEAD "\"checks\":[]}", "/checks: expected an object, got an array");
    parse_err(HEAD "\"max_age\":\"soon\",\"checks\":{}}", "/max_age: 'soon' is not a duration");
    parse_err(HEAD "\"max_age\":900,\"checks\":{}}", "/max_age: expected a duration string");
    parse_err(HEAD "\"max_age\":\"500ms\",\"checks\":{}}", "not a whole number of seconds");
    parse_err(HEAD "\"max_age\":\"400d\",\"checks\":{}}", "longer than 366 days");
    parse_err(HEAD "\"max_age\":\"0s\",\"checks\":{}}", "/max_age: '0s' is shorter than 1 s");
    parse_err(HEAD "\"allow_warning\":\"no\",\"checks\":{}}",
              "/allow_warning: expected true or false, got a string");

    /* Device. */
    parse_err(HEAD "\"device\":[],\"checks\":{}}", "/device: expected an object");
    parse_err(HEAD "\"device\":{\"tpm\":true},\"checks\":{}}", "/device/tpm: unknown member");
    parse_err(HEAD "\"device\":{\"trust_tier\":\"gold\"},\"checks\":{}}",
              "/device/trust_tier: 'gold' is not");
    parse_err(HEAD "\"device\":{\"secure_boot\":\"yes\"},\"checks\":{}}",
              "/device/secure_boot: expected true or false, got a string");
    parse_err(HEAD "\"device\":{\"pcr_quote\":1},\"checks\":{}}",
              "/device/pcr_quote: expected true or false");
    parse_err(HEAD "\"device\":{\"pk_sha256\":\"ab\"},\"checks\":{}}",
              "/device/pk_sha256: expected an array of SHA-256 digests");
    parse_err(HEAD "\"device\":{\"db_sha256\":[\"abcd\"]},\"checks\":{}}",
              "/device/db_sha256/0: expected a SHA-256 digest");
    parse_err(HEAD "\"device\":{\"pk_sha256\":[\"" /* 63 digits + g */
                   "000000000000000000000000000000000000000000000000000000000000000g\"]},"
                   "\"checks\":{}}",
              "/device/pk_sha256/0: expected a SHA-256 digest");
    parse_err(HEAD "\"device\":{\"pk_sha256\":["
                   "\"00000000000000000000000000000000000000000000000000000000000000aa\","
                   "\"00000000000000000000000000000000000000000000000000000000000000aa\"]},"
                   "\"checks\":{}}",
              "/device/pk_sha256/1: duplicate digest");
    parse_err(HEAD "\"device\":{\"pk_sha256\":["
                   "\"00000000000000000000000000000000000000000000000000000000000000AA\"]},"
                   "\"checks\":{}}",
              "/device/pk_sha256/0: expected a SHA-256 digest: 64 lower-case hex digits");
    parse_err(HEAD "\"device\":{\"trust_tier\":\"software\",\"secure_boot\":true},\"checks\":{}}",
              "/device/trust_tier: \"software\" contradicts");

    /* Rules. */
    parse_err(HEAD "\"checks\":{\"Bad\":{}}}", "/checks/Bad: not a check id");
    parse_err(RULE("[]"), "/checks/c.x: expected a rule object, got an array");
    parse_err(RULE("{}"), "/checks/c.x: the rule has no evidence or warn conditions");
    parse_err(RULE("{\"evidence\":[],\"mandatory\":true}"),
              "/checks/c.x/mandatory: unknown member");
    parse_err(RULE("{\"required\":\"yes\",\"evidence\":[]}"),
              "/checks/c.x/required: expected true or false");
    parse_err(RULE("{\"report_only_until\":\"next week\",\"evidence\":[]}"),
              "/checks/c.x/report_only_until: 'next week' is not a UTC time "
              "(\"2026-12-31T00:00:00Z\") or a date (\"2026-12-31\")");
    parse_err(RULE("{\"report_only_until\":\"2026-12-31T00:00:00+02:00\",\"evidence\":[]}"),
              "/checks/c.x/report_only_until: '2026-12-31T00:00:00+02:00' is not a UTC time "
              "(\"2026-12-31T00:00:00Z\") or a date (\"2026-12-31\")");
    parse_err(RULE("{\"report_only_until\":20261231,\"evidence\":[]}"),
              "/checks/c.x/report_only_until: expected a UTC time such as "
              "\"2026-12-31T00:00:00Z\", got a number");
    parse_err(RULE("{\"report_only\":null,\"evidence\":[]}"),
              "/checks/c.x/report_only: expected true or false, got null");
    parse_err(RULE("{\"grace\":\"tomorrow\",\"evidence\":[]}"), "/checks/c.x/grace: 'tomorrow'");
    parse_err(RULE("{\"max_age\":\"0\",\"evidence\":[]}"), "/checks/c.x/max_age: '0' is shorter");
    parse_err(RULE("{\"remediation\":\"\",\"evidence\":[]}"),
              "/checks/c.x/remediation: must not be empty");
    parse_err(RULE("{\"evidence\":{}}"), "/checks/c.x/evidence: expected an array of conditions");
    parse_err(RULE("{\"warn\":[1]}"), "/checks/c.x/warn/0: expected a condition object");
    parse_err(RULE("{\"not_applicable\":[{}],\"evidence\":[]}"),
              "/checks/c.x/not_applicable/0/path: missing");
    parse_err(RULE("{\"decidable\":[{\"path\":\"/a\"}],\"evidence\":[]}"),
              "/checks/c.x/decidable/0/op: missing");

    /* Conditions. */
    parse_err(COND("{\"path\":\"/a\",\"op\":\"true\",\"why\":1}"),
              "/evidence/0/why: unknown member");
    parse_err(COND("{\"path\":\"a\",\"op\":\"true\"}"),
              "/evidence/0/path: 'a' is not a JSON pointer");
    parse_err(COND("{\"path\":\"\",\"op\":\"true\"}"), "/evidence/0/path: must not be empty");
    parse_err(COND("{\"path\":\"/a~2\",\"op\":\"true\"}"), "'~' must be followed by 0 or 1");
    parse_err(COND("{\"path\":\"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q\",\"op\":\"true\"}"),
              "more than 16 reference tokens");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"lte\",\"value\":1}"),
              "/evidence/0/op: unknown operator 'lte'");
    parse_err(COND("{\"path\":\"/a\",\"op\":1}"), "/evidence/0/op: expected a string");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"eq\"}"), "/evidence/0/value: missing");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"lt\",\"value\":\"3\"}"),
              "/evidence/0/value: operator lt needs a number, got a string");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"ge\"}"), "/evidence/0/value: missing");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"in\",\"value\":1}"),
              "/evidence/0/value: operator in needs an array");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"not_in\",\"value\":[]}"), "needs 1 to 256 values");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"in\",\"value\":[[1]]}"),
              "values must be strings, numbers, booleans or null");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"exists\",\"value\":1}"),
              "/evidence/0/value: operator exists takes no value");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"true\",\"value\":true}"),
              "operator true takes no value");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"newer_than\",\"value\":7}"),
              "/evidence/0/value: expected a duration string");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"newer_than\"}"), "needs a duration");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"true\",\"missing\":\"ignore\"}"),
              "/evidence/0/missing: 'ignore' is not one of");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"absent\",\"missing\":\"hold\"}"),
              "/evidence/0/missing: not allowed with operator absent");
    parse_err(COND("{\"path\":\"/a\",\"op\":\"true\",\"missing\":false}"),
              "/evidence/0/missing: expected \"error\"");
}

static void test_bounds(void **state)
{
    (void) state;
    struct posture_policy *p = NULL;
    char err[POSTURE_POLICY_ERROR_MAX];
    size_t n = POSTURE_POLICY_FILE_MAX + 1;
    char *big = malloc(n);

    assert_non_null(big);
    memset(big, ' ', n);
    assert_int_equal(posture_policy_parse(NULL, big, n, &p, err, sizeof(err)), -E2BIG);
    assert_non_null(strstr(err, "policy: /: larger than"));
    free(big);

    /* Nesting beyond the bound is refused by the parser, not followed. */
    char deep[256] = HEAD "\"checks\":{},\"description\":";
    size_t len = strlen(deep);
    for (int i = 0; i < 20; i++)
        deep[len++] = '[';
    for (int i = 0; i < 20; i++)
        deep[len++] = ']';
    deep[len++] = '}';
    deep[len] = '\0';
    parse_err(deep, "not valid JSON");

    /* 65 conditions. */
    char *many = malloc(65 * 40 + 200);
    assert_non_null(many);
    char *w = many + snprintf(many, 200, "%s", HEAD "\"checks\":{\"c.x\":{\"evidence\":[");
    for (int i = 0; i < 65; i++)
        w += snprintf(w, 40, "%s{\"path\":\"/a\",\"op\":\"true\"}", i ? "," : "");
    memcpy(w, "]}}}", 5);
    parse_err(many, "/checks/c.x/evidence: more than 64 conditions");
    free(many);
}

static const char evidence_json[] =
    "{\"n\":5,\"f\":1.5,\"s\":\"debian\",\"t\":true,\"no\":false,\"nul\":null,"
    "\"arr\":[1,2],\"empty\":[],\"a/b\":1,\"m~n\":2,"
    "\"mounts\":[{\"mp\":\"/\",\"enc\":true},{\"mp\":\"/home\",\"enc\":true}],"
    "\"mixed\":[{\"enc\":true},{\"enc\":false}],\"undec\":[{\"enc\":true},{\"enc\":null}],"
    "\"obj\":{\"k\":\"v\"},\"ts\":1000}";

static enum posture_policy_result eval(const char *cond, const char **why)
{
    static char buf[POSTURE_POLICY_ERROR_MAX];
    char doc[1024];
    (void) snprintf(doc, sizeof(doc), COND("%s"), cond);
    struct posture_policy *p = parse_ok(doc);
    cJSON *ev = NULL;
    assert_int_equal(posture_json_parse(evidence_json, strlen(evidence_json), 4096, 8, &ev), 0);
    enum posture_policy_result r =
        posture_policy_cond_eval(&p->rules[0].evidence[0], ev, 2000, buf, sizeof(buf));
    if (why)
        *why = buf;
    cJSON_Delete(ev);
    posture_policy_free(p);
    return r;
}

#define HOLDS(c)     assert_int_equal(eval(c, NULL), POSTURE_POLICY_HOLDS)
#define FAILS(c)     assert_int_equal(eval(c, NULL), POSTURE_POLICY_FAILS)
#define UNDECIDED(c) assert_int_equal(eval(c, NULL), POSTURE_POLICY_UNDECIDED)

static void test_ops(void **state)
{
    (void) state;
    const char *why = NULL;

    HOLDS("{\"path\":\"/n\",\"op\":\"eq\",\"value\":5}");
    FAILS("{\"path\":\"/n\",\"op\":\"eq\",\"value\":\"5\"}");
    HOLDS("{\"path\":\"/s\",\"op\":\"eq\",\"value\":\"debian\"}");
    HOLDS("{\"path\":\"/empty\",\"op\":\"eq\",\"value\":[]}");
    FAILS("{\"path\":\"/arr\",\"op\":\"eq\",\"value\":[]}");
    HOLDS("{\"path\":\"/obj\",\"op\":\"eq\",\"value\":{\"k\":\"v\"}}");
    HOLDS("{\"path\":\"/nul\",\"op\":\"eq\",\"value\":null}");
    HOLDS("{\"path\":\"/s\",\"op\":\"ne\",\"value\":\"fedora\"}");
    FAILS("{\"path\":\"/t\",\"op\":\"ne\",\"value\":true}");
    HOLDS("{\"path\":\"/nul\",\"op\":\"ne\",\"value\":true}");

    HOLDS("{\"path\":\"/n\",\"op\":\"lt\",\"value\":6}");
    FAILS("{\"path\":\"/n\",\"op\":\"lt\",\"value\":5}");
    HOLDS("{\"path\":\"/n\",\"op\":\"le\",\"value\":5}");
    FAILS("{\"path\":\"/n\",\"op\":\"le\",\"value\":4.99}");
    HOLDS("{\"path\":\"/f\",\"op\":\"gt\",\"value\":1}");
    FAILS("{\"path\":\"/f\",\"op\":\"gt\",\"value\":1.5}");
    HOLDS("{\"path\":\"/f\",\"op\":\"ge\",\"value\":1.5}");
    FAILS("{\"path\":\"/n\",\"op\":\"ge\",\"value\":6}");
    /* Ordering on a non-number: undecided by default, or as "missing" says. */
    UNDECIDED("{\"path\":\"/s\",\"op\":\"lt\",\"value\":1}");
    UNDECIDED("{\"path\":\"/nul\",\"op\":\"le\",\"value\":1}");
    FAILS("{\"path\":\"/nul\",\"op\":\"le\",\"value\":1,\"missing\":\"fail\"}");
    HOLDS("{\"path\":\"/nul\",\"op\":\"le\",\"value\":1,\"missing\":\"hold\"}");

    HOLDS("{\"path\":\"/s\",\"op\":\"in\",\"value\":[\"ubuntu\",\"debian\"]}");
    FAILS("{\"path\":\"/s\",\"op\":\"in\",\"value\":[\"ubuntu\",5]}");
    HOLDS("{\"path\":\"/n\",\"op\":\"in\",\"value\":[5]}");
    HOLDS("{\"path\":\"/s\",\"op\":\"not_in\",\"value\":[\"arch\"]}");
    FAILS("{\"path\":\"/s\",\"op\":\"not_in\",\"value\":[\"arch\",\"debian\"]}");
    HOLDS("{\"path\":\"/nul\",\"op\":\"in\",\"value\":[null]}");

    HOLDS("{\"path\":\"/s\",\"op\":\"exists\"}");
    FAILS("{\"path\":\"/nul\",\"op\":\"exists\"}");
    FAILS("{\"path\":\"/none\",\"op\":\"exists\"}");
    HOLDS("{\"path\":\"/none\",\"op\":\"absent\"}");
    HOLDS("{\"path\":\"/nul\",\"op\":\"absent\"}");
    FAILS("{\"path\":\"/n\",\"op\":\"absent\"}");

    HOLDS("{\"path\":\"/t\",\"op\":\"true\"}");
    FAILS("{\"path\":\"/no\",\"op\":\"true\"}");
    HOLDS("{\"path\":\"/no\",\"op\":\"false\"}");
    FAILS("{\"path\":\"/t\",\"op\":\"false\"}");
    UNDECIDED("{\"path\":\"/n\",\"op\":\"true\"}"); /* 5 is not a boolean */
    UNDECIDED("{\"path\":\"/nul\",\"op\":\"false\"}");

    /* newer_than: ts 1000, observed_at 2000. */
    HOLDS("{\"path\":\"/ts\",\"op\":\"newer_than\",\"value\":\"1000s\"}");
    FAILS("{\"path\":\"/ts\",\"op\":\"newer_than\",\"value\":\"999s\"}");
    HOLDS("{\"path\":\"/ts\",\"op\":\"newer_than\",\"value\":\"1h\"}");
    UNDECIDED("{\"path\":\"/s\",\"op\":\"newer_than\",\"value\":\"1h\"}");
    HOLDS("{\"path\":\"/nul\",\"op\":\"newer_than\",\"value\":\"1h\",\"missing\":\"hold\"}");

    /* Missing paths. */
    UNDECIDED("{\"path\":\"/none\",\"op\":\"eq\",\"value\":1}");
    FAILS("{\"path\":\"/none\",\"op\":\"eq\",\"value\":1,\"missing\":\"fail\"}");
    HOLDS("{\"path\":\"/none/deeper\",\"op\":\"true\",\"missing\":\"hold\"}");
    UNDECIDED("{\"path\":\"/s/deeper\",\"op\":\"true\"}");

    /* Pointers: escapes, array indexes. */
    HOLDS("{\"path\":\"/a~1b\",\"op\":\"eq\",\"value\":1}");
    HOLDS("{\"path\":\"/m~0n\",\"op\":\"eq\",\"value\":2}");
    HOLDS("{\"path\":\"/arr/1\",\"op\":\"eq\",\"value\":2}");
    UNDECIDED("{\"path\":\"/arr/2\",\"op\":\"eq\",\"value\":2}");
    UNDECIDED("{\"path\":\"/arr/01\",\"op\":\"eq\",\"value\":2}");
    UNDECIDED("{\"path\":\"/arr/-1\",\"op\":\"eq\",\"value\":2}");
    HOLDS("{\"path\":\"/mounts/0/mp\",\"op\":\"eq\",\"value\":\"/\"}");

    /* Wildcards: every element; empty arrays hold vacuously; fail beats undecided. */
    HOLDS("{\"path\":\"/mounts/*/enc\",\"op\":\"true\"}");
    HOLDS("{\"path\":\"/empty/*/enc\",\"op\":\"true\"}");
    assert_int_equal(eval("{\"path\":\"/mixed/*/enc\",\"op\":\"true\"}", &why),
                     POSTURE_POLICY_FAILS);
    assert_non_null(strstr(why, "/mixed/1/enc is false"));
    assert_int_equal(eval("{\"path\":\"/undec/*/enc\",\"op\":\"true\"}", &why),
                     POSTURE_POLICY_UNDECIDED);
    assert_non_null(strstr(why, "/undec/1/enc is null"));
    UNDECIDED("{\"path\":\"/s/*\",\"op\":\"true\"}");
    HOLDS("{\"path\":\"/arr/*\",\"op\":\"le\",\"value\":2}");
    FAILS("{\"path\":\"/arr/*\",\"op\":\"le\",\"value\":1}");

    /* The explanation names path, value and requirement. */
    assert_int_equal(eval("{\"path\":\"/n\",\"op\":\"le\",\"value\":0}", &why),
                     POSTURE_POLICY_FAILS);
    assert_string_equal(why, "/n is 5; the policy requires le 0");
    assert_int_equal(eval("{\"path\":\"/none\",\"op\":\"true\"}", &why), POSTURE_POLICY_UNDECIDED);
    assert_string_equal(why, "/none is missing; the policy requires true");

    /* Op names round-trip. */
    for (int i = 0; i < POSTURE_POLICY_OP__MAX; i++)
        assert_int_equal(posture_policy_op_from_string(posture_policy_op_to_string(i)), i);
    assert_int_equal(posture_policy_op_from_string("EQ"), POSTURE_POLICY_OP__INVALID);
    assert_null(posture_policy_op_to_string(POSTURE_POLICY_OP__MAX));
}

static void test_durations_and_digests(void **state)
{
    (void) state;
    struct posture_policy *p = parse_ok(
        HEAD "\"max_age\":\"1h30m\",\"device\":{\"trust_tier\":\"hardware\",\"pk_sha256\":["
             "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"],"
             "\"db_sha256\":[]},\"checks\":{\"c.x\":{\"grace\":\"0s\",\"warn\":[{\"path\":\"/t\","
             "\"op\":\"newer_than\",\"value\":\"7d\"}]}}}");

    assert_int_equal(p->max_age_s, 5400);
    assert_int_equal(p->rules[0].max_age_s, 5400);
    assert_int_equal(p->rules[0].grace_s, 0);
    assert_int_equal(p->rules[0].warn[0].duration_s, 7 * 86400);
    assert_true(p->has_pk_sha256);
    assert_int_equal(p->n_pk_sha256, 1);
    assert_int_equal(p->pk_sha256[0][0], 0x00);
    assert_int_equal(p->pk_sha256[0][31], 0xff);
    /* An empty list is a list that allows nothing, not "no list". */
    assert_true(p->has_db_sha256);
    assert_int_equal(p->n_db_sha256, 0);
    posture_policy_free(p);
}

static void test_load_dir(void **state)
{
    (void) state;
    char *dir = posture_test_mkdtemp();
    char err[POSTURE_POLICY_ERROR_MAX];
    struct posture_policy_set *set = NULL;

    assert_int_equal(posture_policy_set_load_dir(dir, &set, err, sizeof(err)), -ENODATA);
    assert_int_equal(posture_test_write_file(dir, "a.json",
                                             RULE("{\"warn\":[{\"path\":\"/a\","
                                                  "\"op\":\"true\"}]}")),
                     0);
    /* "t" stored as a.json: refused, naming the file and the fix. */
    assert_int_equal(posture_policy_set_load_dir(dir, &set, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "a.json: /id: 't' differs from the file name"));

    assert_int_equal(
        posture_test_write_file(dir, "a.json", "{\"id\":\"a\",\"version\":\"1\",\"checks\":{}}"),
        0);
    assert_int_equal(
        posture_test_write_file(dir, "b.json", "{\"id\":\"b\",\"version\":\"2\",\"checks\":{}}"),
        0);
    assert_int_equal(posture_test_write_file(dir, "README", "not a policy"), 0);
    assert_int_equal(posture_test_write_file(dir, ".hidden.json", "garbage"), 0);
    assert_int_equal(posture_policy_set_load_dir(dir, &set, err, sizeof(err)), 0);
    assert_int_equal(set->n_policies, 2);
    assert_string_equal(posture_policy_set_find(set, "b")->version, "2");
    assert_null(posture_policy_set_find(set, "c"));
    set = posture_policy_set_free(set);

    /* One bad file fails the whole set. */
    assert_int_equal(posture_test_write_file(dir, "c.json", "{\"id\":\"c\"}"), 0);
    assert_int_equal(posture_policy_set_load_dir(dir, &set, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "c.json: /version: missing"));
    assert_null(set);

    assert_int_equal(posture_policy_set_load_dir("/nonexistent/policies", &set, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/policies: cannot open"));
    struct posture_policy *p = NULL;
    assert_int_equal(posture_policy_load_file("/nonexistent.json", &p, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent.json: cannot open"));
    assert_null(p);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_digest_is_of_file_bytes),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_durations_and_digests),
        cmocka_unit_test(test_load_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
