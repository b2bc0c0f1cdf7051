/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>
#include <time.h>

#define POSTURE_USEC_PER_SEC  UINT64_C(1000000)
#define POSTURE_USEC_PER_MSEC UINT64_C(1000)
#define POSTURE_NSEC_PER_USEC UINT64_C(1000)
#define POSTURE_USEC_INFINITY UINT64_MAX

/* clock_gettime() in microseconds; never fails for the clocks we use. */
uint64_t posture_now_usec(clockid_t clock);
/* CPU time used by the calling thread, in microseconds. */
uint64_t posture_thread_cpu_usec(void);
