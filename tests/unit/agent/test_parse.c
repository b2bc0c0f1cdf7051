/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "posture/parse.h"
#include "posture/time_util.h"

#include "testlib.h"

#define SEC  POSTURE_USEC_PER_SEC
#define MSEC POSTURE_USEC_PER_MSEC

static void test_u64(void **state)
{
    uint64_t v = 42;
    (void) state;

    assert_int_equal(posture_parse_u64("0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(posture_parse_u64("007", &v), 0);
    assert_true(v == 7);
    assert_int_equal(posture_parse_u64("18446744073709551615", &v), 0);
    assert_true(v == UINT64_MAX);

    v = 42;
    assert_int_equal(posture_parse_u64("18446744073709551616", &v), -ERANGE);
    assert_int_equal(posture_parse_u64("99999999999999999999999", &v), -ERANGE);
    assert_int_equal(posture_parse_u64("", &v), -EINVAL);
    assert_int_equal(posture_parse_u64(" 1", &v), -EINVAL);
    assert_int_equal(posture_parse_u64("1 ", &v), -EINVAL);
    assert_int_equal(posture_parse_u64("-1", &v), -EINVAL);
    assert_int_equal(posture_parse_u64("+1", &v), -EINVAL);
    assert_int_equal(posture_parse_u64("1x", &v), -EINVAL);
    assert_int_equal(posture_parse_u64("0x10", &v), -EINVAL);
    assert_int_equal(posture_parse_u64("1.0", &v), -EINVAL);
    assert_int_equal(posture_parse_u64("\n1", &v), -EINVAL);
    assert_int_equal(posture_parse_u64(NULL, &v), -EINVAL);
    /* Not written on failure. */
    assert_true(v == 42);
}

static void test_u32(void **state)
{
    uint32_t v = 42;
    (void) state;

    assert_int_equal(posture_parse_u32("4294967295", &v), 0);
    assert_true(v == UINT32_MAX);
    v = 42;
    assert_int_equal(posture_parse_u32("4294967296", &v), -ERANGE);
    assert_int_equal(posture_parse_u32("18446744073709551616", &v), -ERANGE);
    assert_int_equal(posture_parse_u32("-0", &v), -EINVAL);
    assert_int_equal(posture_parse_u32("", &v), -EINVAL);
    assert_true(v == 42);
    assert_int_equal(posture_parse_u32("123", &v), 0);
    assert_true(v == 123);
}

static void test_i64(void **state)
{
    int64_t v = 42;
    (void) state;

    assert_int_equal(posture_parse_i64("-1", &v), 0);
    assert_true(v == -1);
    assert_int_equal(posture_parse_i64("-0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(posture_parse_i64("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(posture_parse_i64("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);

    v = 42;
    assert_int_equal(posture_parse_i64("9223372036854775808", &v), -ERANGE);
    assert_int_equal(posture_parse_i64("-9223372036854775809", &v), -ERANGE);
    assert_int_equal(posture_parse_i64("-", &v), -EINVAL);
    assert_int_equal(posture_parse_i64("--1", &v), -EINVAL);
    assert_int_equal(posture_parse_i64("+1", &v), -EINVAL);
    assert_int_equal(posture_parse_i64(" -1", &v), -EINVAL);
    assert_int_equal(posture_parse_i64("- 1", &v), -EINVAL);
    assert_int_equal(posture_parse_i64("1-", &v), -EINVAL);
    assert_int_equal(posture_parse_i64("", &v), -EINVAL);
    assert_true(v == 42);
}

static void test_bool(void **state)
{
    static const char *const yes[] = { "1", "yes", "YES", "true", "True", "on", "ON" };
    static const char *const no[] = { "0", "no", "No", "false", "FALSE", "off", "Off" };
    static const char *const bad[] = { "", " yes", "yes ", "2", "y", "n", "enable", "onn", "-1" };
    bool b;
    (void) state;

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        b = false;
        assert_int_equal(posture_parse_bool(yes[i], &b), 0);
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        b = true;
        assert_int_equal(posture_parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b = true;
        assert_int_equal(posture_parse_bool(bad[i], &b), -EINVAL);
        assert_true(b);
    }
    assert_int_equal(posture_parse_bool(NULL, &b), -EINVAL);
}

static void test_duration_ok(void **state)
{
    static const struct {
        const char *s;
        uint64_t usec;
    } cases[] = {
        { "0", 0 },
        { "90", 90 * SEC },
        { "90s", 90 * SEC },
        { "90sec", 90 * SEC },
        { "250ms", 250 * MSEC },
        { "250msec", 250 * MSEC },
        { "17us", 17 },
        { "5m", 300 * SEC },
        { "5min", 300 * SEC },
        { "5 min", 300 * SEC },
        { "1h", 3600 * SEC },
        { "7d", 7 * 86400 * SEC },
        { "2w", 14 * 86400 * SEC },
        { "1h30m", 5400 * SEC },
        { "1h 30m", 5400 * SEC },
        { "1h 30min", 5400 * SEC },
        { "1h\t30min 15s", 5415 * SEC },
        { "1s 500ms", 1500 * MSEC },
        { "0s", 0 },
        { "0ms", 0 },
        /* The largest bare number and the largest total that fit. */
        { "18446744073709", 18446744073709 * SEC },
        { "18446744073709551615us", UINT64_MAX },
    };
    (void) state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 1;
        int r = posture_parse_duration_usec(cases[i].s, &v);
        if (r != 0 || v != cases[i].usec)
            fail_msg("\"%s\": r=%d v=%llu", cases[i].s, r, (unsigned long long) v);
    }
}

static void test_duration_bad(void **state)
{
    static const struct {
        const char *s;
        int err;
    } cases[] = {
        { "", -EINVAL },
        { " 1", -EINVAL },
        { "1 ", -EINVAL },
        { "1s ", -EINVAL },
        { "-1", -EINVAL },
        { "+1", -EINVAL },
        { "1x", -EINVAL },
        { "5m30", -EINVAL },
        { "1h 30", -EINVAL },
        { "s", -EINVAL },
        { "ms", -EINVAL },
        { "1.5h", -EINVAL },
        { "1hh", -EINVAL },
        { "1h,30m", -EINVAL },
        { "1 2", -EINVAL },
        { "infinityh", -EINVAL },
        { "18446744073710", -ERANGE },
        { "18446744073709551616us", -ERANGE },
        { "18446744073709551615s", -ERANGE },
        { "18446744073709551615us 1us", -ERANGE },
        { "300000000d", -ERANGE },
    };
    (void) state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 7;
        int r = posture_parse_duration_usec(cases[i].s, &v);
        if (r != cases[i].err || v != 7)
            fail_msg("\"%s\": r=%d (want %d) v=%llu", cases[i].s, r, cases[i].err,
                     (unsigned long long) v);
    }
}

static void test_size(void **state)
{
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        { "0", 0 },
        { "4096", 4096 },
        { "4096B", 4096 },
        { "64K", 64 * 1024 },
        { "64k", 64 * 1024 },
        { "64KB", 64 * 1024 },
        { "64KiB", 64 * 1024 },
        { "8M", UINT64_C(8) << 20 },
        { "8MiB", UINT64_C(8) << 20 },
        { "1G", UINT64_C(1) << 30 },
        { "1T", UINT64_C(1) << 40 },
        { "1P", UINT64_C(1) << 50 },
        { "15E", UINT64_C(15) << 60 },
        { "18446744073709551615", UINT64_MAX },
    };
    static const struct {
        const char *s;
        int err;
    } bad[] = {
        { "", -EINVAL },
        { " 1", -EINVAL },
        { "1 ", -EINVAL },
        { "-1", -EINVAL },
        { "+1", -EINVAL },
        { "1x", -EINVAL },
        { "K", -EINVAL },
        { "1 K", -EINVAL },
        { "1KK", -EINVAL },
        { "1iB", -EINVAL },
        { "1Ki", -EINVAL },
        { "1Kb", -EINVAL },
        { "1BB", -EINVAL },
        { "1.5G", -EINVAL },
        { "16E", -ERANGE },
        { "17179869184G", -ERANGE },
        { "18446744073709551616", -ERANGE },
    };
    (void) state;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 1;
        int r = posture_parse_size(ok[i].s, &v);
        if (r != 0 || v != ok[i].v)
            fail_msg("\"%s\": r=%d v=%llu", ok[i].s, r, (unsigned long long) v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 7;
        int r = posture_parse_size(bad[i].s, &v);
        if (r != bad[i].err || v != 7)
            fail_msg("\"%s\": r=%d (want %d)", bad[i].s, r, bad[i].err);
    }
}

static void test_format_duration(void **state)
{
    static const struct {
        uint64_t usec;
        const char *s;
    } cases[] = {
        { 0, "0" },
        { 1, "1us" },
        { 250 * MSEC, "250ms" },
        { 2 * SEC, "2s" },
        { 300 * SEC, "5min" },
        { 5400 * SEC, "1h 30min" },
        { 86400 * SEC + 1, "1d 1us" },
        { 1500 * MSEC, "1s 500ms" },
        { POSTURE_USEC_INFINITY, "infinity" },
    };
    char buf[64];
    (void) state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(posture_format_duration(buf, sizeof(buf), cases[i].usec), cases[i].s);

    /* Round trip through the parser. */
    uint64_t values[] = {
        1, 999, 1000, 61 * SEC, 5400 * SEC + 250 * MSEC, 7 * 86400 * SEC, UINT64_MAX - 1
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint64_t back = 0;
        assert_int_equal(posture_parse_duration_usec(
                             posture_format_duration(buf, sizeof(buf), values[i]), &back),
                         0);
        assert_true(back == values[i]);
    }

    /* A small buffer drops whole parts instead of cutting one. */
    char small[8];
    assert_string_equal(posture_format_duration(small, sizeof(small), 5400 * SEC + 1), "1h");
    char tiny[2];
    assert_string_equal(posture_format_duration(tiny, sizeof(tiny), 5400 * SEC), "");
    /* The documented minimum is enough for every finite value's leading parts. */
    char min[32];
    const char *s = posture_format_duration(min, sizeof(min), UINT64_MAX - 1);
    assert_true(strlen(s) < sizeof(min));
    assert_true(strncmp(s, "213503982d 8h", 13) == 0);
}

static void test_check_name(void **state)
{
    static const char *const good[] = {
        "disk",
        "disk.encryption",
        "a.b.c",
        "os_release",
        "fw2.secure_boot",
        "0",
        "_",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 64 */
    };
    static const char *const bad[] = {
        "",
        ".",
        "a.",
        ".a",
        "a..b",
        "Disk",
        "disk-encryption",
        "disk encryption",
        "disk/",
        "é",
        "a.b.",
        "a\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
    };
    (void) state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!posture_check_name_is_valid(good[i]))
            fail_msg("\"%s\" refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (posture_check_name_is_valid(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
    assert_false(posture_check_name_is_valid(NULL));
}

static void test_time(void **state)
{
    (void) state;
    uint64_t a = posture_now_usec(CLOCK_MONOTONIC);
    uint64_t b = posture_now_usec(CLOCK_MONOTONIC);
    assert_true(a > 0);
    assert_true(b >= a);
    /* Realtime is after 2020-01-01. */
    assert_true(posture_now_usec(CLOCK_REALTIME) > UINT64_C(1577836800) * SEC);

    /* Spinning on the clock itself uses CPU, so it must advance. */
    uint64_t c0 = posture_thread_cpu_usec();
    uint64_t c1 = c0;
    for (long i = 0; i < 1000000000L && c1 == c0; i++)
        c1 = posture_thread_cpu_usec();
    assert_true(c1 > c0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64),         cmocka_unit_test(test_u32),
        cmocka_unit_test(test_i64),         cmocka_unit_test(test_bool),
        cmocka_unit_test(test_duration_ok), cmocka_unit_test(test_duration_bad),
        cmocka_unit_test(test_size),        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_check_name),  cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
