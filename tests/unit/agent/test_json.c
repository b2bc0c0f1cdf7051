/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posture/json.h"
#include "posture/strbuf.h"

#include "testlib.h"

#define BIG (1024 * 1024)

/* Parse a copy of s without its NUL, so reads past len are caught by ASan. */
static int parse_exact(const char *s, size_t max_len, unsigned max_depth, cJSON **ret)
{
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int r = posture_json_parse(copy, n, max_len, max_depth, ret);
    free(copy);
    return r;
}

static int parse_str(const char *s)
{
    cJSON *j = NULL;
    int r = parse_exact(s, BIG, 0, &j);
    if (r == 0)
        assert_non_null(j);
    cJSON_Delete(j);
    return r;
}

static void test_parse_basic(void **state)
{
    posture_auto_cjson cJSON *j = NULL;
    int64_t i = 0;
    bool b = false;
    (void) state;

    assert_int_equal(parse_exact(" \n{\"name\": \"x\", \"n\": -12, \"ok\": true, \"list\": [1, "
                                 "\"\\u00e9\\n\"], \"nothing\": null}\r\n\t ",
                                 BIG, 0, &j),
                     0);
    assert_string_equal(posture_json_get_str(j, "name"), "x");
    assert_int_equal(posture_json_get_int(j, "n", &i), 0);
    assert_true(i == -12);
    assert_int_equal(posture_json_get_bool(j, "ok", &b), 0);
    assert_true(b);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "list");
    assert_true(cJSON_IsArray(list));
    assert_string_equal(cJSON_GetArrayItem(list, 1)->valuestring, "\xc3\xa9\n");

    /* Scalars at the top level are values too. */
    assert_int_equal(parse_str("1"), 0);
    assert_int_equal(parse_str("\"s\""), 0);
    assert_int_equal(parse_str("null"), 0);
    assert_int_equal(parse_str("-0.5e-3"), 0);
    assert_int_equal(parse_str("\"\\ud83d\\ude00\""), 0);

    assert_int_equal(posture_json_parse(NULL, 0, BIG, 0, &j), -EINVAL);
    assert_int_equal(posture_json_parse("{}", 2, BIG, 0, NULL), -EINVAL);
}

static void test_parse_syntax_errors(void **state)
{
    static const char *const bad[] = {
        "",
        " ",
        "{",
        "}",
        "[1,]",
        "{\"a\":1,}",
        "[,1]",
        "{'a':1}",
        "{a:1}",
        "nul",
        "tru",
        "True",
        "\"open",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "[1 2]",
        "{\"a\" 1}",
        "01",
        "-01",
        "1.",
        ".5",
        "-",
        "1e",
        "1e+",
        "+1",
        "0x10",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "[-1e400]",
        "1.5.5",
        "\xef\xbb\xbf{}",
    };
    (void) state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse_str(bad[i]);
        if (r != -EBADMSG)
            fail_msg("\"%s\": r=%d", bad[i], r);
    }
}

static void test_parse_trailing(void **state)
{
    static const char *const bad[] = {
        "{} x",      "{}{}",       "1 2",    "[]]",  "{}}",  "truex",
        "null null", "\"a\"\"b\"", "{}\x01", "{}\f", "{}\v",
    };
    (void) state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse_str(bad[i]);
        if (r != -EBADMSG)
            fail_msg("\"%s\": r=%d", bad[i], r);
    }
    assert_int_equal(parse_str("{} \t\r\n"), 0);
    assert_int_equal(parse_str(" \t\r\n[]"), 0);

    /* An explicit length ends the input: a NUL or garbage after it is not looked at. */
    cJSON *j = NULL;
    assert_int_equal(posture_json_parse("[1]garbage", 3, BIG, 0, &j), 0);
    cJSON_Delete(j);
    j = NULL;
    /* A NUL inside the given length is refused. */
    assert_int_equal(posture_json_parse("{}\0", 3, BIG, 0, &j), -EBADMSG);
    assert_int_equal(posture_json_parse("[\"a\0b\"]", 7, BIG, 0, &j), -EBADMSG);
    assert_null(j);
}

static void test_parse_bytes(void **state)
{
    static const char *const bad[] = {
        "\"a\001b\"",
        "\"tab\there\"",
        "\"nl\nhere\"",
        "[1,\x01 2]",
        "\"\xff\"",
        "\"\xc0\xaf\"",           /* overlong '/' */
        "\"\xe0\x80\xaf\"",       /* overlong */
        "\"\xed\xa0\x80\"",       /* UTF-16 surrogate */
        "\"\xf4\x90\x80\x80\"",   /* above U+10FFFF */
        "\"\xc3\"",               /* truncated */
        "\"\xe2\x82\"",           /* truncated */
        "[\"\xc3\xa9\"]\xc3\xa9", /* non-ASCII outside strings */
        "\"a\\u0000b\"",
        "{\"k\\u0000x\":1}",
    };
    (void) state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse_str(bad[i]);
        if (r != -EBADMSG)
            fail_msg("case %zu: r=%d", i, r);
    }
    assert_int_equal(parse_str("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \x7f\""), 0);
    assert_int_equal(parse_str("\"\\\\u0000\""), 0);
    assert_int_equal(parse_str("\"\\u0001\""), 0);
}

/* The prescan looks at long strings eight bytes at a time: every special byte is still found,
 * at every offset in and after such a run, and the content comes through whole. */
static void test_parse_long_strings(void **state)
{
    static const char *const specials[] = {
        "\x01", "\x1f", "\xff", "\xc3", "\xed\xa0\x80", "\\u0000", "\"x", "\n",
    };
    char buf[128];
    (void) state;

    for (size_t at = 0; at < 40; at++) {
        size_t n = 0;

        buf[n++] = '"';
        for (size_t i = 0; i < at; i++)
            buf[n++] = (char) ('A' + (char) (i % 26));
        /* a plain run, then an escaped quote and backslash, then non-ASCII: all valid */
        memcpy(buf + n, "\\\"\\\\\xc3\xa9~ 0123456789\"", 19);
        n += 19;
        buf[n] = '\0';
        cJSON *o = NULL;
        assert_int_equal(posture_json_parse(buf, n, 4096, 0, &o), 0);
        assert_true(cJSON_IsString(o));
        assert_int_equal(strlen(o->valuestring), at + 16);
        assert_memory_equal(o->valuestring + at, "\"\\\xc3\xa9~ 0123456789", 16);
        cJSON_Delete(o);

        for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
            size_t m = 1, len = strlen(specials[k]);
            memset(buf + 1, 'x', at);
            m += at;
            memcpy(buf + m, specials[k], len);
            m += len;
            memcpy(buf + m, "yyyyyyyyyyyyyyyy\"", 17);
            m += 17;
            if (posture_json_parse(buf, m, 4096, 0, &o) != -EBADMSG)
                fail_msg("offset %zu, special %zu accepted", at, k);
        }
    }
}

static void test_parse_size_limit(void **state)
{
    cJSON *j = NULL;
    (void) state;

    assert_int_equal(parse_exact("[1,2,3]", 7, 0, &j), 0);
    cJSON_Delete(j);
    j = NULL;
    assert_int_equal(parse_exact("[1,2,3]", 6, 0, &j), -E2BIG);
    assert_int_equal(parse_exact("[1,2,3] ", 7, 0, &j), -E2BIG);
    assert_int_equal(parse_exact("1", 0, 0, &j), -E2BIG);
    assert_null(j);
    /* E2BIG is decided before looking at the content. */
    assert_int_equal(parse_exact("garbage", 3, 0, &j), -E2BIG);
}

/* "[[[...1...]]]" with n brackets. */
static char *nested(char open, char close, size_t n, const char *inner)
{
    struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);
    for (size_t i = 0; i < n; i++) {
        if (open == '{')
            assert_int_equal(posture_strbuf_puts(&sb, "{\"k\":"), 0);
        else
            assert_int_equal(posture_strbuf_putc(&sb, open), 0);
    }
    assert_int_equal(posture_strbuf_puts(&sb, inner), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(posture_strbuf_putc(&sb, close), 0);
    char *s = posture_strbuf_steal(&sb);
    assert_non_null(s);
    return s;
}

static void expect_depth(char open, char close, size_t n, unsigned max_depth, int expected)
{
    cJSON *j = NULL;
    char *s = nested(open, close, n, "1");
    int r = parse_exact(s, SIZE_MAX, max_depth, &j);
    if (r != expected)
        fail_msg("%c x %zu, max %u: r=%d want %d", open, n, max_depth, r, expected);
    cJSON_Delete(j);
    free(s);
}

static void test_parse_depth(void **state)
{
    (void) state;

    expect_depth('[', ']', 3, 3, 0);
    expect_depth('[', ']', 4, 3, -EBADMSG);
    expect_depth('{', '}', 3, 3, 0);
    expect_depth('{', '}', 4, 3, -EBADMSG);
    expect_depth('[', ']', 1, 1, 0);
    expect_depth('[', ']', 2, 1, -EBADMSG);
    /* 0 means the default. */
    expect_depth('[', ']', POSTURE_JSON_MAX_DEPTH_DEFAULT, 0, 0);
    expect_depth('[', ']', POSTURE_JSON_MAX_DEPTH_DEFAULT + 1, 0, -EBADMSG);
    expect_depth('{', '}', POSTURE_JSON_MAX_DEPTH_DEFAULT + 1, 0, -EBADMSG);
    /* Very deep input fails fast and without exhausting the stack. */
    expect_depth('[', ']', 200000, 64, -EBADMSG);
    expect_depth('[', ']', 200000, 1000000, -EBADMSG);

    /* Mixed containers: {"a":[{"b":[1]}]} is depth 4. */
    cJSON *j = NULL;
    assert_int_equal(parse_exact("{\"a\":[{\"b\":[1]}]}", BIG, 4, &j), 0);
    cJSON_Delete(j);
    j = NULL;
    assert_int_equal(parse_exact("{\"a\":[{\"b\":[1]}]}", BIG, 3, &j), -EBADMSG);
    /* Siblings do not add up. */
    assert_int_equal(parse_exact("[[1],[2],[[3]],{}]", BIG, 3, &j), 0);
    cJSON_Delete(j);
    j = NULL;
    /* Brackets inside strings are not nesting. */
    assert_int_equal(parse_exact("[\"[[[[{{{{\\\"]]]\"]", BIG, 1, &j), 0);
    cJSON_Delete(j);
    j = NULL;
    /* Scalars have depth 0. */
    assert_int_equal(parse_exact("\"x\"", BIG, 1, &j), 0);
    cJSON_Delete(j);
}

static void test_parse_duplicates(void **state)
{
    static const char *const bad[] = {
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"b\":2,\"c\":3,\"b\":4}",
        "{\"x\":{\"b\":1,\"c\":2,\"b\":3}}",
        "[1,{\"ok\":1},[{\"d\":1,\"d\":1}]]",
        "{\"\":1,\"\":2}",
        "{\"\\u0061\":1,\"a\":2}",
    };
    (void) state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse_str(bad[i]);
        if (r != -EBADMSG)
            fail_msg("\"%s\": r=%d", bad[i], r);
    }
    /* Same key in different objects, or differing in case, is fine. */
    assert_int_equal(parse_str("[{\"a\":1},{\"a\":1}]"), 0);
    assert_int_equal(parse_str("{\"a\":{\"a\":{\"a\":1}}}"), 0);
    assert_int_equal(parse_str("{\"a\":1,\"A\":2,\"a \":3,\"ab\":4}"), 0);
}

static void test_parse_many_keys(void **state)
{
    struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);
    (void) state;

    assert_int_equal(posture_strbuf_putc(&sb, '{'), 0);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(posture_strbuf_printf(&sb, "%s\"k%d\":%d", i ? "," : "", i, i), 0);
    size_t open_len = sb.len;
    assert_int_equal(posture_strbuf_putc(&sb, '}'), 0);

    cJSON *j = NULL;
    assert_int_equal(posture_json_parse(sb.buf, sb.len, SIZE_MAX, 0, &j), 0);
    assert_int_equal(cJSON_GetArraySize(j), 20000);
    cJSON_Delete(j);
    j = NULL;

    /* One duplicate at the far end is found. */
    sb.len = open_len;
    assert_int_equal(posture_strbuf_puts(&sb, ",\"k17\":0}"), 0);
    assert_int_equal(posture_json_parse(sb.buf, sb.len, SIZE_MAX, 0, &j), -EBADMSG);
    assert_null(j);
    posture_strbuf_done(&sb);
}

static void test_adders(void **state)
{
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    posture_auto_cjson cJSON *not_obj = cJSON_CreateArray();
    (void) state;

    assert_non_null(o);
    assert_int_equal(posture_json_add_str(o, "s", "v"), 0);
    assert_int_equal(posture_json_add_str(o, "n", NULL), 0);
    assert_int_equal(posture_json_add_int(o, "i", -42), 0);
    assert_int_equal(posture_json_add_int(o, "max", INT64_C(1) << 52), 0);
    assert_int_equal(posture_json_add_int(o, "min", -(INT64_C(1) << 52)), 0);
    assert_int_equal(posture_json_add_int(o, "over", (INT64_C(1) << 52) + 1), -ERANGE);
    /* cJSON would print this one as 6.16424637021898e+15. */
    assert_int_equal(posture_json_add_int(o, "rounded", INT64_C(6164246370218979)), -ERANGE);
    assert_int_equal(posture_json_add_int(o, "under", INT64_MIN), -ERANGE);
    assert_int_equal(posture_json_add_bool(o, "b", false), 0);
    assert_int_equal(posture_json_add_null(o, "z"), 0);

    assert_int_equal(posture_json_add_str(o, "s", "again"), -EEXIST);
    assert_int_equal(posture_json_add_int(o, "i", 1), -EEXIST);
    assert_int_equal(posture_json_add_bool(o, "s", true), -EEXIST);
    assert_int_equal(posture_json_add_null(o, "n"), -EEXIST);
    assert_string_equal(posture_json_get_str(o, "s"), "v");

    /* add_item takes ownership in every case (ASan's leak check would notice otherwise). */
    assert_int_equal(posture_json_add_item(o, "s", cJSON_CreateArray()), -EEXIST);
    assert_int_equal(posture_json_add_item(not_obj, "k", cJSON_CreateArray()), -EINVAL);
    assert_int_equal(posture_json_add_item(NULL, "k", cJSON_CreateArray()), -EINVAL);
    assert_int_equal(posture_json_add_item(o, NULL, cJSON_CreateArray()), -EINVAL);
    assert_int_equal(posture_json_add_item(o, "k", NULL), -ENOMEM);
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(posture_json_add_item(o, "arr", arr), 0);

    assert_int_equal(posture_json_append_str(arr, "a"), 0);
    assert_int_equal(posture_json_append_str(arr, NULL), 0);
    assert_int_equal(posture_json_append(arr, cJSON_CreateNumber(3)), 0);
    assert_int_equal(posture_json_append(arr, NULL), -ENOMEM);
    assert_int_equal(posture_json_append(o, cJSON_CreateNumber(3)), -EINVAL);
    assert_int_equal(posture_json_append(NULL, cJSON_CreateNumber(3)), -EINVAL);
    assert_int_equal(posture_json_append_str(o, "x"), -EINVAL);
    assert_int_equal(cJSON_GetArraySize(arr), 3);

    char *s = NULL;
    assert_int_equal(posture_json_print(o, false, &s), 0);
    assert_string_equal(s, "{\"s\":\"v\",\"n\":null,\"i\":-42,\"max\":4503599627370496,"
                           "\"min\":-4503599627370496,\"b\":false,\"z\":null,"
                           "\"arr\":[\"a\",null,3]}");
    free(s);
}

static void test_getters(void **state)
{
    posture_auto_cjson cJSON *j = NULL;
    int64_t i = 7;
    bool b = true;
    (void) state;

    assert_int_equal(
        parse_exact("{\"s\":\"str\",\"i\":5,\"neg\":-9007199254740992,\"f\":1.5,\"big\":1e300,"
                    "\"over\":9007199254740994,\"zero\":-0,\"exp\":2e3,\"t\":true,\"n\":null,"
                    "\"S\":\"upper\"}",
                    BIG, 0, &j),
        0);

    assert_string_equal(posture_json_get_str(j, "s"), "str");
    assert_string_equal(posture_json_get_str(j, "S"), "upper");
    assert_null(posture_json_get_str(j, "missing"));
    assert_null(posture_json_get_str(j, "i"));
    assert_null(posture_json_get_str(j, "n"));
    assert_null(posture_json_get_str(NULL, "s"));
    assert_null(posture_json_get_str(j, NULL));

    assert_int_equal(posture_json_get_int(j, "i", &i), 0);
    assert_true(i == 5);
    assert_int_equal(posture_json_get_int(j, "neg", &i), 0);
    assert_true(i == -(INT64_C(1) << 53));
    assert_int_equal(posture_json_get_int(j, "zero", &i), 0);
    assert_true(i == 0);
    assert_int_equal(posture_json_get_int(j, "exp", &i), 0);
    assert_true(i == 2000);
    i = 7;
    assert_int_equal(posture_json_get_int(j, "f", &i), -EINVAL);
    assert_int_equal(posture_json_get_int(j, "big", &i), -ERANGE);
    assert_int_equal(posture_json_get_int(j, "over", &i), -ERANGE);
    assert_int_equal(posture_json_get_int(j, "s", &i), -EINVAL);
    assert_int_equal(posture_json_get_int(j, "t", &i), -EINVAL);
    assert_int_equal(posture_json_get_int(j, "n", &i), -EINVAL);
    assert_int_equal(posture_json_get_int(j, "missing", &i), -ENOENT);
    assert_int_equal(posture_json_get_int(j, "I", &i), -ENOENT);
    assert_int_equal(posture_json_get_int(NULL, "i", &i), -EINVAL);
    assert_true(i == 7);

    assert_int_equal(posture_json_get_bool(j, "t", &b), 0);
    assert_true(b);
    b = false;
    assert_int_equal(posture_json_get_bool(j, "i", &b), -EINVAL);
    assert_int_equal(posture_json_get_bool(j, "n", &b), -EINVAL);
    assert_int_equal(posture_json_get_bool(j, "missing", &b), -ENOENT);
    assert_false(b);

    /* Getters on an array are type errors. */
    posture_auto_cjson cJSON *a = cJSON_CreateArray();
    assert_int_equal(posture_json_get_int(a, "i", &i), -EINVAL);
    assert_null(posture_json_get_str(a, "s"));
}

static void test_print(void **state)
{
    posture_auto_cjson cJSON *j = NULL;
    char *s = NULL;
    (void) state;

    assert_int_equal(parse_exact("{\"a\":1,\"b\":[1,2,{\"x\":null}],\"c\":{\"d\":\"x\\ty:\"},"
                                 "\"e\":[],\"f\":{},\"g\":\"caf\\u00e9\"}",
                                 BIG, 0, &j),
                     0);
    assert_int_equal(posture_json_print(j, true, &s), 0);
    assert_string_equal(s, "{\n"
                           "  \"a\": 1,\n"
                           "  \"b\": [1, 2, {\n"
                           "      \"x\": null\n"
                           "    }],\n"
                           "  \"c\": {\n"
                           "    \"d\": \"x\\ty:\"\n"
                           "  },\n"
                           "  \"e\": [],\n"
                           "  \"f\": {\n"
                           "  },\n"
                           "  \"g\": \"caf\xc3\xa9\"\n"
                           "}\n");
    assert_null(strchr(s, '\t'));

    /* The pretty form parses back to the same document. */
    cJSON *back = NULL;
    assert_int_equal(posture_json_parse(s, strlen(s), BIG, 0, &back), 0);
    assert_true(cJSON_Compare(j, back, true));
    cJSON_Delete(back);
    free(s);

    assert_int_equal(posture_json_print(j, false, &s), 0);
    assert_string_equal(s, "{\"a\":1,\"b\":[1,2,{\"x\":null}],\"c\":{\"d\":\"x\\ty:\"},\"e\":[],"
                           "\"f\":{},\"g\":\"caf\xc3\xa9\"}");
    free(s);

    posture_auto_cjson cJSON *n = cJSON_CreateNumber(3);
    assert_int_equal(posture_json_print(n, true, &s), 0);
    assert_string_equal(s, "3\n");
    free(s);
    assert_int_equal(posture_json_print(n, false, &s), 0);
    assert_string_equal(s, "3");
    free(s);

    s = NULL;
    assert_int_equal(posture_json_print(NULL, true, &s), -EINVAL);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic),
        cmocka_unit_test(test_parse_syntax_errors),
        cmocka_unit_test(test_parse_trailing),
        cmocka_unit_test(test_parse_bytes),
        cmocka_unit_test(test_parse_long_strings),
        cmocka_unit_test(test_parse_size_limit),
        cmocka_unit_test(test_parse_depth),
        cmocka_unit_test(test_parse_duplicates),
        cmocka_unit_test(test_parse_many_keys),
        cmocka_unit_test(test_adders),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
