/* SPDX-License-Identifier: Apache-2.0 */
/* Scheduling arithmetic: phases, jitter, backoff, clock events, coalescing. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"
#include "testlib.h"

#define SEC ((uint64_t) 1000000)
#define MIN (60 * SEC)

static void test_phase(void **state)
{
    uint64_t a = posture_schedule_phase("device-a", 5 * MIN);
    uint64_t b = posture_schedule_phase("device-b", 5 * MIN);

    assert_true(a < 5 * MIN);
    assert_true(b < 5 * MIN);
    assert_true(a != b);
    assert_int_equal(a, posture_schedule_phase("device-a", 5 * MIN)); /* stable */
    assert_int_equal(posture_schedule_phase("x", 0), 0);

    /* 10,000 devices spread over the interval: no 30 s bucket of ten holds more than twice
     * its share (a fleet never reports in step). */
    unsigned buckets[10] = { 0 };
    for (int i = 0; i < 10000; i++) {
        char id[32];
        (void) snprintf(id, sizeof(id), "dev-%d", i);
        buckets[posture_schedule_phase(id, 5 * MIN) / (30 * SEC)]++;
    }
    for (int i = 0; i < 10; i++)
        assert_true(buckets[i] > 500 && buckets[i] < 2000);
}

static void test_next(void **state)
{
    const uint64_t iv = 5 * MIN, phase = 100 * SEC, j = 30 * SEC;
    uint64_t now = 1000 * MIN + 10 * SEC; /* 10 s into an interval, phase 100 s ahead */

    /* No jitter: rnd = j gives offset 0. */
    assert_int_equal(posture_schedule_next(now, iv, phase, j), 1000 * MIN + 100 * SEC);
    /* Past this interval's slot: the next interval's. */
    assert_int_equal(posture_schedule_next(1000 * MIN + 200 * SEC, iv, phase, j),
                     1005 * MIN + 100 * SEC);
    /* Jitter spans exactly ±10 %. */
    assert_int_equal(posture_schedule_next(now, iv, phase, 0), 1000 * MIN + 70 * SEC);
    assert_int_equal(posture_schedule_next(now, iv, phase, 2 * j), 1000 * MIN + 130 * SEC);
    assert_int_equal(posture_schedule_next(now, iv, phase, 2 * j + 1), 1000 * MIN + 70 * SEC);
    /* Never at or before now, even when the jitter pulls the slot back past it. */
    assert_int_equal(posture_schedule_next(1000 * MIN + 95 * SEC, iv, phase, 0),
                     1000 * MIN + 95 * SEC + 1);
    /* Near zero (a young boottime) nothing wraps. */
    assert_int_equal(posture_schedule_next(0, iv, 0, 0), iv - j);
    assert_int_equal(posture_schedule_next(5, 0, 0, 0), 6);
    for (uint64_t r = 0; r < 1000; r++) {
        uint64_t t = posture_schedule_next(now, iv, phase, r * 7919);
        assert_true(t > now && t <= now + iv + j);
    }
}

static void test_backoff(void **state)
{
    /* Full jitter: the ceiling doubles from 5 s to the 15 min cap. */
    assert_int_equal(posture_backoff_delay(0, UINT64_MAX - 1, UINT64_MAX),
                     (UINT64_MAX - 1) % (5 * SEC + 1));
    assert_int_equal(posture_backoff_delay(0, 5 * SEC, UINT64_MAX), 5 * SEC);
    assert_int_equal(posture_backoff_delay(1, 10 * SEC, UINT64_MAX), 10 * SEC);
    assert_int_equal(posture_backoff_delay(1, 10 * SEC + 1, UINT64_MAX), 0);
    assert_int_equal(posture_backoff_delay(3, 40 * SEC, UINT64_MAX), 40 * SEC);
    assert_int_equal(posture_backoff_delay(40, 15 * MIN, UINT64_MAX), 15 * MIN);
    assert_int_equal(posture_backoff_delay(1000, 15 * MIN + 1, UINT64_MAX), 0);
    for (unsigned a = 0; a < 100; a++)
        assert_true(posture_backoff_delay(a, UINT64_MAX, UINT64_MAX) <= 15 * MIN);
    /* Retry-After is honoured within [5 s, 15 min]. */
    assert_int_equal(posture_backoff_delay(0, 0, 7 * SEC), 7 * SEC);
    assert_int_equal(posture_backoff_delay(9, 0, 7 * SEC), 7 * SEC);
    assert_int_equal(posture_backoff_delay(0, 0, 0), 5 * SEC);
    assert_int_equal(posture_backoff_delay(0, 0, 24 * 60 * MIN), 15 * MIN);
}

static void test_clocks(void **state)
{
    const struct posture_clocks a = { .realtime_usec = 1795620700 * SEC,
                                      .monotonic_usec = 1000 * SEC,
                                      .boottime_usec = 1000 * SEC };
    struct posture_clocks b = a, now;

    /* Five minutes of ordinary time. */
    b.realtime_usec += 5 * MIN;
    b.monotonic_usec += 5 * MIN;
    b.boottime_usec += 5 * MIN;
    assert_int_equal(posture_clocks_compare(&a, &b), POSTURE_CLOCK_STEADY);
    /* An NTP step of 2 s back is not a jump. */
    b.realtime_usec -= 2 * SEC;
    assert_int_equal(posture_clocks_compare(&a, &b), POSTURE_CLOCK_STEADY);
    /* A day forward, a day back: jumps. */
    b.realtime_usec += 24 * 60 * MIN;
    assert_int_equal(posture_clocks_compare(&a, &b), POSTURE_CLOCK_WALL_JUMPED);
    b.realtime_usec = a.realtime_usec - 24 * 60 * MIN;
    assert_int_equal(posture_clocks_compare(&a, &b), POSTURE_CLOCK_WALL_JUMPED);
    /* Eight hours of suspend: boottime and realtime moved, monotonic did not. */
    b = a;
    b.boottime_usec += 8 * 60 * MIN;
    b.realtime_usec += 8 * 60 * MIN;
    b.monotonic_usec += 1 * SEC;
    assert_int_equal(posture_clocks_compare(&a, &b), POSTURE_CLOCK_RESUMED);
    /* Samples out of order say nothing. */
    assert_int_equal(posture_clocks_compare(&b, &a), POSTURE_CLOCK_STEADY);
    /* The real clocks: consecutive samples are steady. */
    posture_clocks_now(&b);
    posture_clocks_now(&now);
    assert_true(now.boottime_usec >= now.monotonic_usec);
    assert_int_equal(posture_clocks_compare(&b, &now), POSTURE_CLOCK_STEADY);
}

static void test_coalesce(void **state)
{
    struct posture_coalesce c = { .settle_usec = 2 * SEC, .min_gap_usec = 30 * SEC };

    assert_int_equal(posture_coalesce_due(&c), 0);
    /* A burst of ten events over a second: one cycle, 2 s after the last. */
    for (int i = 0; i < 10; i++)
        posture_coalesce_event(&c, 100 * SEC + (uint64_t) i * 100000);
    assert_int_equal(posture_coalesce_due(&c), 100 * SEC + 900000 + 2 * SEC);
    posture_coalesce_ran(&c, 103 * SEC);
    assert_int_equal(posture_coalesce_due(&c), 0);
    /* The next event soon after: held until min_gap after the last run. */
    posture_coalesce_event(&c, 110 * SEC);
    assert_int_equal(posture_coalesce_due(&c), 133 * SEC);
    /* Long after: only the settle time. */
    posture_coalesce_ran(&c, 133 * SEC);
    posture_coalesce_event(&c, 500 * SEC);
    assert_int_equal(posture_coalesce_due(&c), 502 * SEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phase),    cmocka_unit_test(test_next),
        cmocka_unit_test(test_backoff),  cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_coalesce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
