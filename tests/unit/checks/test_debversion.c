/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Debian version ordering: hand cases, and a generated table of pairs checked against the
 * independent oracle `dpkg --compare-versions` (one shell script, one dpkg run or two per pair).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/spawn.h"
#include "posture/strbuf.h"

#include "os_patch_level/apt.h"
#include "testlib.h"

#define N_PAIRS 1200

static int sign(int x)
{
    return x < 0 ? -1 : (x > 0 ? 1 : 0);
}

static void check(const char *a, const char *b, int expected)
{
    int r = sign(posture_debversion_compare(a, b));
    if (r != expected)
        fail_msg("compare(\"%s\", \"%s\") = %d, expected %d", a ? a : "(null)", b ? b : "(null)", r,
                 expected);
    /* Antisymmetry. */
    assert_int_equal(sign(posture_debversion_compare(b, a)), -expected);
}

static void test_hand_cases(void **state)
{
    (void) state;
    /* Plain numbers and separators. */
    check("1.0", "1.1", -1);
    check("1.10", "1.9", 1);
    check("1.0", "1.0", 0);
    check("1.0", "1.00", 0);   /* digit runs are numbers */
    check("1.01", "1.1", 0);   /* leading zeros do not count */
    check("1.0", "1.0.0", -1); /* '.' sorts after the end */
    /* Tilde sorts before everything, even the end. */
    check("1.0~rc1", "1.0", -1);
    check("1.0~rc1", "1.0~rc2", -1);
    check("1.0~~", "1.0~~a", -1);
    check("1.0~~a", "1.0~", -1);
    check("1.0~", "1.0", -1);
    check("1.0", "1.0a", -1);
    check("2.36-9+deb12u4~bpo11+1", "2.36-9+deb12u4", -1);
    /* Letters sort before non-letters. */
    check("1.0a", "1.0+", -1);
    check("1.0a", "1.0.", -1);
    check("1.0Z", "1.0a", -1); /* ASCII order among letters */
    check("1.0+", "1.0.", -1); /* '+' (43) before '.' (46) */
    /* Epochs. */
    check("1:0.1", "2.0", 1);
    check("0:1.0", "1.0", 0);
    check("00001:1", "1:1", 0);
    check("1:1.0", "2:0.1", -1);
    check("1:2.38.1-5+deb12u1", "2.38.1-5+deb12u2", 1);
    /* Revisions: after the last hyphen. */
    check("1.0-1", "1.0-2", -1);
    check("1.0-1", "1.0", 1);
    check("1.0", "1.0-0", 0);
    check("1.0-beta-1", "1.0-1", 1); /* upstream "1.0-beta" > "1.0" */
    check("1.0-1ubuntu1", "1.0-1", 1);
    check("1.0-1+b1", "1.0-1", 1);
    check("5.2.15-2+b8", "5.2.15-2+b13", -1);
    check("7.88.1-10+deb12u8", "7.88.1-10+deb12u14", -1);
    check("20230311+deb12u1", "20250419~deb12u2", -1);
    /* Digit runs of any length: no overflow. */
    check("1.123456789012345678901234567890", "1.123456789012345678901234567889", 1);
    check("1.000000000000000000000000000000000000001", "1.1", 0);
    check("99999999999999999999999:1", "99999999999999999999998:1", 1);
    check("18446744073709551616", "18446744073709551615", 1);
    /* Invalid strings still get a consistent order and never crash. */
    check(NULL, "", 0);
    check(NULL, "1", -1);
    check("", "~", 1);
    check("abc:1.0", "1.0", 1);
    check(":", "", 1);
    check("1.0\xff", "1.0+", -1); /* high bytes: 128..255, below ASCII punctuation */
    check("1.0\xff", "1.0z", 1);
    check("-", "", 0);
    check("1:", "1:", 0);
}

static void test_validate(void **state)
{
    (void) state;
    const char *good[] = { "0",
                           "1.0",
                           "1:2.36-9+deb12u4",
                           "7.88.1-10+deb12u8~bpo11+1",
                           "1:2.38.1-5+deb12u1",
                           "1.0-beta-1",
                           "2147483647:1",
                           "0:1",
                           "1.0~rc1+dfsg.1-0ubuntu1~22.04.1",
                           "1:9.18.28-1~deb12u2",
                           "3.0a",
                           "1:1:1" /* ":" may appear in upstream after an epoch */ };
    const char *bad[] = { "",      "a1.0",    "1.0-",    ":1.0",  "1:",           "x:1.0",
                          "-1",    "1.0 1",   " 1.0",    "1.0_1", "2147483648:1", "1:1.0-a_b",
                          "1.2:3", "1.2:3-4", "1.0-1:2", "+1:1",  "1.0-1-",       "~1",
                          "1.0/1", "1:a-1" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (posture_debversion_validate(good[i]) != 0)
            fail_msg("\"%s\" should be valid", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (posture_debversion_validate(bad[i]) != -EINVAL)
            fail_msg("\"%s\" should be invalid", bad[i]);
    assert_int_equal(posture_debversion_validate(NULL), -EINVAL);
}

/* ---- Generated versions ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64: deterministic for a fixed seed */
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static unsigned pick(unsigned n)
{
    return (unsigned) (rnd() % n);
}

static void put(char *buf, size_t size, const char *s)
{
    size_t len = strlen(buf);
    (void) snprintf(buf + len, size - len, "%s", s);
}

static void put_digits(char *buf, size_t size)
{
    char d[40];
    unsigned kind = pick(10);
    size_t n;
    if (kind == 0)
        n = 15 + pick(15); /* longer than 64 bits */
    else if (kind < 3)
        n = 2 + pick(4);
    else
        n = 1;
    for (size_t i = 0; i < n; i++)
        d[i] = (char) ('0' + pick(10));
    if (pick(6) == 0)
        d[0] = '0'; /* leading zeros */
    d[n] = '\0';
    put(buf, size, d);
}

static const char *const words[] = {
    "a",   "b",      "rc",  "alpha", "beta", "dfsg",   "git", "Z",
    "deb", "ubuntu", "bpo", "b",     "ds",   "really", "pre", "x"
};

static void put_part(char *buf, size_t size, const char *seps)
{
    put_digits(buf, size);
    unsigned n = pick(4);
    for (unsigned i = 0; i < n; i++) {
        char sep[2] = { seps[pick((unsigned) strlen(seps))], '\0' };
        if (sep[0] != '_')
            put(buf, size, sep);
        if (pick(3) == 0)
            put(buf, size, words[pick(sizeof(words) / sizeof(words[0]))]);
        if (pick(4) != 0)
            put_digits(buf, size);
    }
}

static const char *const real_versions[] = {
    "2.36-9+deb12u4",
    "2.36-9+deb12u10",
    "1:2.38.1-5+deb12u1",
    "1:2.38.1-5+deb12u2",
    "7.88.1-10+deb12u8~bpo11+1",
    "7.88.1-10+deb12u8",
    "7.88.1-10+deb12u14",
    "5.2.15-2+b8",
    "5.2.15-2+b13",
    "1:4.13+dfsg1-1+deb12u1",
    "1:4.13+dfsg1-1+deb12u2",
    "20230311+deb12u1",
    "20250419~deb12u2",
    "3.0.17-1~deb12u2",
    "3.0.15-1~deb12u1",
    "1:9.18.28-1~deb12u2",
    "2.6.1",
    "2.6.2",
    "1.21.22",
    "1.21.23",
    "6.1.0-28",
    "6.1.119-1",
    "6.1.123-1",
    "0.16.1-2",
    "0.16.1-2+b1",
    "2.35-0ubuntu3.8",
    "2.35-0ubuntu3.10",
    "1.1.1f-1ubuntu2.23",
    "5.15.0-91.101",
    "5.15.0-101.111",
    "1.0~rc1+dfsg-1",
    "1.0+dfsg-1",
    "2:8.2.2434-3+deb11u1",
};

static void gen_version(char *buf, size_t size)
{
    buf[0] = '\0';
    if (pick(8) == 0) {
        put(buf, size, real_versions[pick(sizeof(real_versions) / sizeof(real_versions[0]))]);
        return;
    }
    unsigned e = pick(10);
    if (e == 0)
        put(buf, size, "1:");
    else if (e == 1)
        put(buf, size, "2:");
    else if (e == 2)
        put(buf, size, pick(2) ? "0:" : "01:");
    put_part(buf, size, ".+~_");
    if (pick(5) < 3) {
        put(buf, size, "-");
        put_part(buf, size, ".+~_");
    }
}

/* Derive a nearby version: most interesting pairs differ a little. */
static void mutate(const char *a, char *b, size_t size)
{
    (void) snprintf(b, size, "%s", a);
    size_t len = strlen(b);
    switch (pick(9)) {
    case 0:
        put(b, size, "~1");
        break;
    case 1:
        put(b, size, "+b1");
        break;
    case 2:
        put(b, size, ".0");
        break;
    case 3:
        put(b, size, "a");
        break;
    case 4: /* bump or drop a digit */
        for (size_t i = len; i > 0; i--)
            if (b[i - 1] >= '0' && b[i - 1] <= '9') {
                b[i - 1] = (char) ('0' + pick(10));
                break;
            }
        break;
    case 5: /* an epoch */
        if (!strchr(a, ':'))
            (void) snprintf(b, size, "%u:%s", pick(3), a);
        break;
    case 6: /* leading zeros in front of the first digit run */
        if (!strchr(a, ':'))
            (void) snprintf(b, size, "00%s", a);
        break;
    case 7:
        if (!strchr(a, '-'))
            put(b, size, pick(2) ? "-0" : "-1");
        else
            put(b, size, "~");
        break;
    default:
        gen_version(b, size);
        break;
    }
    if (posture_debversion_validate(b) < 0)
        (void) snprintf(b, size, "%s", a);
}

static bool dpkg_available(void)
{
    return access("/usr/bin/dpkg", X_OK) == 0;
}

static void test_against_dpkg(void **state)
{
    (void) state;
    if (!dpkg_available()) {
        if (getenv("CI"))
            fail_msg("dpkg is needed as the oracle (CI must not skip)");
        skip();
    }

    char(*a)[160] = calloc(N_PAIRS, sizeof(*a));
    char(*b)[160] = calloc(N_PAIRS, sizeof(*b));
    assert_non_null(a);
    assert_non_null(b);
    rng_state = UINT64_C(0x5eed0fdeb1a2);
    for (size_t i = 0; i < N_PAIRS; i++) {
        gen_version(a[i], sizeof(a[i]));
        if (i % 3 == 0)
            gen_version(b[i], sizeof(b[i]));
        else
            mutate(a[i], b[i], sizeof(b[i]));
        if (posture_debversion_validate(a[i]) < 0 || posture_debversion_validate(b[i]) < 0)
            fail_msg("generated an invalid version: \"%s\" / \"%s\"", a[i], b[i]);
    }

    /* One script: a line "<", "=" or ">" per pair. Versions hold no quote characters. */
    posture_autofree char *dir = posture_test_mkdtemp();
    assert_non_null(dir);
    struct posture_strbuf sb = { 0 };
    assert_int_equal(posture_strbuf_puts(&sb, "c() { if dpkg --compare-versions \"$1\" lt "
                                              "\"$2\"; then echo '<'; elif dpkg "
                                              "--compare-versions \"$1\" eq \"$2\"; then echo "
                                              "'='; else echo '>'; fi; }\n"),
                     0);
    for (size_t i = 0; i < N_PAIRS; i++)
        assert_int_equal(posture_strbuf_printf(&sb, "c '%s' '%s'\n", a[i], b[i]), 0);
    assert_int_equal(posture_test_write_file(dir, "cmp.sh", sb.buf), 0);
    posture_strbuf_done(&sb);

    posture_autofree char *script = NULL;
    assert_true(asprintf(&script, "%s/cmp.sh", dir) > 0);
    const char *argv[] = { "/bin/sh", script, NULL };
    struct posture_spawn_opts opts = {
        .argv = argv,
        .timeout_usec = UINT64_C(60) * 1000 * 1000,
        .stdout_max = 4 * N_PAIRS + 1024,
    };
    struct posture_spawn_result res;
    assert_int_equal(posture_spawn_run(&opts, &res), 0);
    if (res.exit_code != 0 || res.err_len > 0)
        fail_msg("dpkg script failed (exit %d): %s", res.exit_code, res.err);

    size_t n = 0, equal = 0, mismatches = 0;
    const char *p = res.out;
    for (; n < N_PAIRS && *p; n++) {
        int expected = p[0] == '<' ? -1 : (p[0] == '=' ? 0 : 1);
        int ours = sign(posture_debversion_compare(a[n], b[n]));
        if (ours != expected) {
            mismatches++;
            print_error("mismatch: \"%s\" vs \"%s\": dpkg %d, ours %d\n", a[n], b[n], expected,
                        ours);
        }
        if (expected == 0)
            equal++;
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    posture_spawn_result_done(&res);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    print_message("debversion: %zu pairs checked against dpkg --compare-versions (%zu equal)\n",
                  n + (p ? 0 : 1), equal);
    assert_int_equal(mismatches, 0);
    assert_true(n >= N_PAIRS - 1);
    free(a);
    free(b);
}

static int cmp_qsort(const void *x, const void *y)
{
    return posture_debversion_compare(*(const char *const *) x, *(const char *const *) y);
}

/* Sorting a generated set must give a sequence that every pairwise comparison agrees with
 * (transitivity and antisymmetry over the whole set). */
static void test_total_order(void **state)
{
    (void) state;
    enum { N = 400 };
    static char buf[N][160];
    const char *v[N];
    rng_state = 42;
    for (size_t i = 0; i < N; i++) {
        if (i % 2)
            mutate(buf[i - 1], buf[i], sizeof(buf[i]));
        else
            gen_version(buf[i], sizeof(buf[i]));
        v[i] = buf[i];
    }
    qsort(v, N, sizeof(v[0]), cmp_qsort);
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            if (posture_debversion_compare(v[i], v[j]) > 0)
                fail_msg("not sorted: \"%s\" > \"%s\"", v[i], v[j]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_cases),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_against_dpkg),
        cmocka_unit_test(test_total_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
