/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/time_util.h"

#include <time.h>

static uint64_t timespec_to_usec(const struct timespec *ts)
{
    return (uint64_t) ts->tv_sec * POSTURE_USEC_PER_SEC +
           (uint64_t) ts->tv_nsec / POSTURE_NSEC_PER_USEC;
}

uint64_t posture_now_usec(clockid_t clock)
{
    struct timespec ts;

    /* Only fails for an invalid clock id, a programming error; report time zero then. */
    if (clock_gettime(clock, &ts) < 0)
        return 0;
    return timespec_to_usec(&ts);
}

uint64_t posture_thread_cpu_usec(void)
{
    return posture_now_usec(CLOCK_THREAD_CPUTIME_ID);
}
