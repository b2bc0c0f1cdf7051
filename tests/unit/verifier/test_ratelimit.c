/* SPDX-License-Identifier: Apache-2.0 */
/* The token buckets of the enrolment rate limits (ratelimit.h): burst, refill, Retry-After,
 * keys apart, the table's fixed size under a flood of distinct keys, and client keys. */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "testlib.h"

#define SEC UINT64_C(1000000)

static struct posture_ratelimit *mk(double rate, uint32_t burst, uint32_t keys)
{
    struct posture_ratelimit_opts o = { .rate_per_sec = rate, .burst = burst, .max_keys = keys };
    struct posture_ratelimit *rl = NULL;

    assert_int_equal(posture_ratelimit_new(&o, &rl), 0);
    assert_non_null(rl);
    return rl;
}

static void test_options(void **state)
{
    struct posture_ratelimit_opts o = { .rate_per_sec = 1, .burst = 1, .max_keys = 1 };
    struct posture_ratelimit *rl = NULL;

    (void) state;
    assert_int_equal(posture_ratelimit_new(NULL, &rl), -EINVAL);
    o.rate_per_sec = 0;
    assert_int_equal(posture_ratelimit_new(&o, &rl), -EINVAL);
    o.rate_per_sec = -1;
    assert_int_equal(posture_ratelimit_new(&o, &rl), -EINVAL);
    o.rate_per_sec = 1;
    o.burst = 0;
    assert_int_equal(posture_ratelimit_new(&o, &rl), -EINVAL);
    o.burst = 1;
    o.max_keys = 0;
    assert_int_equal(posture_ratelimit_new(&o, &rl), -EINVAL);
    o.max_keys = POSTURE_RATELIMIT_KEYS_MAX + 1;
    assert_int_equal(posture_ratelimit_new(&o, &rl), -EINVAL);
    assert_null(rl);
    /* A NULL table (the limit is off) allows everything. */
    for (int i = 0; i < 1000; i++)
        assert_true(posture_ratelimit_take(NULL, "1.2.3.4", 0, NULL));
    assert_null(posture_ratelimit_free(NULL));
    assert_int_equal(posture_ratelimit_size(NULL), 0);
}

static void test_burst_and_refill(void **state)
{
    /* 30 per minute = 0.5/s, burst 3. */
    struct posture_ratelimit *rl = mk(0.5, 3, 64);
    uint64_t t = 1000 * SEC;
    uint32_t retry = 0;

    (void) state;
    for (int i = 0; i < 3; i++)
        assert_true(posture_ratelimit_take(rl, "10.0.0.1", t, &retry));
    assert_false(posture_ratelimit_take(rl, "10.0.0.1", t, &retry));
    assert_int_equal(retry, 2); /* one token takes 2 s */
    assert_false(posture_ratelimit_check(rl, "10.0.0.1", t, NULL));
    /* 1 s later: half a token, still 1 s to wait. */
    retry = 0;
    assert_false(posture_ratelimit_take(rl, "10.0.0.1", t + SEC, &retry));
    assert_int_equal(retry, 1);
    /* 2 s: one token, one request; then empty again. */
    assert_true(posture_ratelimit_check(rl, "10.0.0.1", t + 2 * SEC, NULL));
    assert_true(posture_ratelimit_take(rl, "10.0.0.1", t + 2 * SEC, NULL));
    assert_false(posture_ratelimit_take(rl, "10.0.0.1", t + 2 * SEC, NULL));
    /* A long pause refills to the burst, not beyond. */
    t += 3600 * SEC;
    for (int i = 0; i < 3; i++)
        assert_true(posture_ratelimit_take(rl, "10.0.0.1", t, NULL));
    assert_false(posture_ratelimit_take(rl, "10.0.0.1", t, NULL));
    /* Another key has its own bucket. */
    assert_true(posture_ratelimit_take(rl, "10.0.0.2", t, NULL));
    /* A clock going backwards refills nothing and breaks nothing. */
    assert_false(posture_ratelimit_take(rl, "10.0.0.1", t - 100 * SEC, NULL));
    assert_int_equal(posture_ratelimit_size(rl), 2);
    posture_ratelimit_free(rl);
}

static void test_retry_after_bounds(void **state)
{
    /* 1 per hour: Retry-After is the whole hour, in seconds. */
    struct posture_ratelimit *rl = mk(1.0 / 3600.0, 1, 8);
    uint32_t retry = 0;

    (void) state;
    assert_true(posture_ratelimit_take(rl, "k", 0, &retry));
    assert_false(posture_ratelimit_take(rl, "k", 0, &retry));
    assert_int_equal(retry, 3600);
    assert_false(posture_ratelimit_take(rl, "k", 1800 * SEC, &retry));
    assert_int_equal(retry, 1800);
    assert_true(posture_ratelimit_take(rl, "k", 3600 * SEC, &retry));
    posture_ratelimit_free(rl);
}

/* A flood of distinct addresses: the table never grows, and a throttled client stays
 * throttled while the flood's fresh entries (full buckets) are the ones replaced. */
static void test_flood_bounded(void **state)
{
    struct posture_ratelimit *rl = mk(1.0 / 60.0, 2, 64);
    char key[POSTURE_RATELIMIT_KEY_MAX];
    size_t limited_kept = 0;

    (void) state;
    /* Throttle 8 clients. */
    for (int c = 0; c < 8; c++) {
        (void) snprintf(key, sizeof(key), "192.0.2.%d", c);
        assert_true(posture_ratelimit_take(rl, key, 0, NULL));
        assert_true(posture_ratelimit_take(rl, key, 0, NULL));
        assert_false(posture_ratelimit_take(rl, key, 0, NULL));
    }
    /* 100,000 other addresses, one request each. */
    for (int i = 0; i < 100000; i++) {
        (void) snprintf(key, sizeof(key), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        (void) posture_ratelimit_take(rl, key, SEC, NULL);
        assert_true(posture_ratelimit_size(rl) <= 64);
    }
    assert_int_equal(posture_ratelimit_size(rl), 64);
    for (int c = 0; c < 8; c++) {
        (void) snprintf(key, sizeof(key), "192.0.2.%d", c);
        if (!posture_ratelimit_check(rl, key, 2 * SEC, NULL))
            limited_kept++;
    }
    /* Each set holds 8 entries; the flood's entries have 1 of 2 tokens, the throttled ones 0:
     * the throttled are never the entry replaced. */
    assert_int_equal(limited_kept, 8);
    posture_ratelimit_free(rl);
}

struct hammer {
    struct posture_ratelimit *rl;
    int allowed;
};

static void *hammer(void *p)
{
    struct hammer *h = p;
    for (int i = 0; i < 1000; i++)
        if (posture_ratelimit_take(h->rl, "shared", 0, NULL))
            h->allowed++;
    return NULL;
}

static void test_threads(void **state)
{
    struct posture_ratelimit *rl = mk(1, 100, 8);
    struct hammer h[4];
    pthread_t t[4];

    (void) state;
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){ .rl = rl };
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    /* Exactly the burst, however the threads interleave. */
    assert_int_equal(h[0].allowed + h[1].allowed + h[2].allowed + h[3].allowed, 100);
    posture_ratelimit_free(rl);
}

static void test_client_key(void **state)
{
    char k[POSTURE_RATELIMIT_KEY_MAX];
    char longpeer[200];

    (void) state;
    posture_ratelimit_client_key("192.0.2.7", k);
    assert_string_equal(k, "192.0.2.7");
    posture_ratelimit_client_key("::ffff:192.0.2.7", k);
    assert_string_equal(k, "192.0.2.7");
    posture_ratelimit_client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    posture_ratelimit_client_key("2001:db8:1:2::1", k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    posture_ratelimit_client_key("2001:db8:1:3::1", k);
    assert_string_equal(k, "2001:db8:1:3::/64");
    posture_ratelimit_client_key("::1", k);
    assert_string_equal(k, "::/64");
    posture_ratelimit_client_key("unix", k);
    assert_string_equal(k, "unix");
    posture_ratelimit_client_key(NULL, k);
    assert_string_equal(k, "");
    memset(longpeer, 'a', sizeof(longpeer) - 1);
    longpeer[sizeof(longpeer) - 1] = '\0';
    posture_ratelimit_client_key(longpeer, k);
    assert_int_equal(strlen(k), POSTURE_RATELIMIT_KEY_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_burst_and_refill),
        cmocka_unit_test(test_retry_after_bounds),
        cmocka_unit_test(test_flood_bounded),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_client_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
