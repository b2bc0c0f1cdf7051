/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * When postured runs a cycle (DESIGN.md §11, RELIABILITY.md §7 G11). Pure arithmetic on the
 * caller's clocks and random numbers, so it is tested without waiting:
 *
 *  - a fleet never reports in step: each device's slots sit at its own phase within the
 *    interval (derived from the device id), and each slot moves by up to ±10 % at random;
 *  - failures back off with full jitter: a uniformly random delay in [0, min(cap, base·2^n)],
 *    base 5 s, cap 15 min; a server's Retry-After is honoured, clamped to [base, cap];
 *  - a resume from suspend (CLOCK_BOOTTIME ran ahead of CLOCK_MONOTONIC) or a wall-clock jump
 *    (CLOCK_REALTIME moved differently from CLOCK_BOOTTIME) asks for one immediate cycle;
 *  - bursts of events (network changes, hot-plug) coalesce into one cycle after a short settle
 *    time, and event-driven cycles are at least min_gap apart.
 */

#include <stdbool.h>
#include <stdint.h>

#define POSTURE_BACKOFF_BASE_USEC   ((uint64_t) 5 * 1000000)
#define POSTURE_BACKOFF_CAP_USEC    ((uint64_t) 15 * 60 * 1000000)
#define POSTURE_SCHEDULE_JITTER_PCT 10
#define POSTURE_CLOCK_JUMP_USEC     ((uint64_t) 60 * 1000000) /* what counts as a jump */

/* The device's phase in [0, interval): SHA-256(device_id) as a number, modulo interval. */
uint64_t posture_schedule_phase(const char *device_id, uint64_t interval_usec);

/*
 * The next regular slot strictly after now (any monotonic time base, e.g. CLOCK_BOOTTIME):
 * the first t > now with t ≡ phase (mod interval), moved by a jitter of
 * ((rnd mod (2j+1)) − j) where j = interval·10 %, and never at or before now.
 */
uint64_t
posture_schedule_next(uint64_t now_usec, uint64_t interval_usec, uint64_t phase_usec, uint64_t rnd);

/* The delay before retry number attempt (0 = the first retry) after a failure; rnd is a random
 * number; retry_after_usec is the server's Retry-After, or UINT64_MAX when it sent none. */
uint64_t posture_backoff_delay(unsigned attempt, uint64_t rnd, uint64_t retry_after_usec);

/* Samples of the three clocks, taken together. */
struct posture_clocks {
    uint64_t realtime_usec;
    uint64_t monotonic_usec;
    uint64_t boottime_usec;
};
void posture_clocks_now(struct posture_clocks *ret);

enum posture_clock_event {
    POSTURE_CLOCK_STEADY = 0,
    POSTURE_CLOCK_RESUMED,     /* the machine slept: boottime gained on monotonic */
    POSTURE_CLOCK_WALL_JUMPED, /* the wall clock was set (NTP step, a user, a bad RTC) */
};

/* Compare two samples (prev taken before now): a resume or a wall-clock jump larger than
 * POSTURE_CLOCK_JUMP_USEC. A resume wins when both happened. */
enum posture_clock_event posture_clocks_compare(const struct posture_clocks *prev,
                                                const struct posture_clocks *now);

/* Coalescing of event triggers. */
struct posture_coalesce {
    uint64_t settle_usec;   /* wait this long after the last event of a burst (e.g. 2 s) */
    uint64_t min_gap_usec;  /* between two event-driven cycles (e.g. 30 s) */
    uint64_t pending_since; /* 0: nothing pending */
    uint64_t last_event;
    uint64_t last_run;
};

/* Record an event at now. */
void posture_coalesce_event(struct posture_coalesce *c, uint64_t now_usec);
/* When the pending cycle is due (0 when nothing is pending): after the burst settled and at
 * least min_gap after the last run. */
uint64_t posture_coalesce_due(const struct posture_coalesce *c);
/* A cycle ran at now (whatever triggered it): pending events are satisfied. */
void posture_coalesce_ran(struct posture_coalesce *c, uint64_t now_usec);
