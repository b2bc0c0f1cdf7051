/* SPDX-License-Identifier: Apache-2.0 */
/* Scheduling arithmetic; see schedule.h. */

#include "schedule.h"

#include <string.h>
#include <time.h>

#include <openssl/evp.h>

uint64_t posture_schedule_phase(const char *device_id, uint64_t interval_usec)
{
    uint8_t d[32];
    uint64_t v = 0;

    if (interval_usec == 0 || !device_id ||
        EVP_Digest(device_id, strlen(device_id), d, NULL, EVP_sha256(), NULL) != 1)
        return 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | d[i];
    return v % interval_usec;
}

uint64_t
posture_schedule_next(uint64_t now_usec, uint64_t interval_usec, uint64_t phase_usec, uint64_t rnd)
{
    uint64_t base, next, j, span;

    if (interval_usec == 0)
        return now_usec + 1;
    phase_usec %= interval_usec;
    /* The slot of this interval, or the next one when it has passed. */
    base = now_usec - now_usec % interval_usec;
    next = base + phase_usec;
    if (next <= now_usec)
        next += interval_usec;
    j = interval_usec / 100 * POSTURE_SCHEDULE_JITTER_PCT;
    span = 2 * j + 1;
    /* next + (rnd mod span) − j, kept in the future whatever the jitter did. */
    next += rnd % span;
    if (next < j || next - j <= now_usec)
        return now_usec + 1;
    return next - j;
}

uint64_t posture_backoff_delay(unsigned attempt, uint64_t rnd, uint64_t retry_after_usec)
{
    uint64_t ceiling = POSTURE_BACKOFF_BASE_USEC;

    if (retry_after_usec != UINT64_MAX) {
        if (retry_after_usec < POSTURE_BACKOFF_BASE_USEC)
            return POSTURE_BACKOFF_BASE_USEC;
        return retry_after_usec > POSTURE_BACKOFF_CAP_USEC ? POSTURE_BACKOFF_CAP_USEC
                                                           : retry_after_usec;
    }
    for (unsigned i = 0; i < attempt && ceiling < POSTURE_BACKOFF_CAP_USEC; i++)
        ceiling *= 2;
    if (ceiling > POSTURE_BACKOFF_CAP_USEC)
        ceiling = POSTURE_BACKOFF_CAP_USEC;
    return rnd % (ceiling + 1);
}

static uint64_t clock_usec(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) < 0)
        return 0;
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

void posture_clocks_now(struct posture_clocks *ret)
{
    ret->monotonic_usec = clock_usec(CLOCK_MONOTONIC);
    ret->boottime_usec = clock_usec(CLOCK_BOOTTIME);
    ret->realtime_usec = clock_usec(CLOCK_REALTIME);
}

enum posture_clock_event posture_clocks_compare(const struct posture_clocks *prev,
                                                const struct posture_clocks *now)
{
    uint64_t d_boot = now->boottime_usec - prev->boottime_usec;
    uint64_t d_mono = now->monotonic_usec - prev->monotonic_usec;

    if (now->boottime_usec < prev->boottime_usec || now->monotonic_usec < prev->monotonic_usec)
        return POSTURE_CLOCK_STEADY; /* samples out of order: nothing to conclude */
    if (d_boot > d_mono && d_boot - d_mono > POSTURE_CLOCK_JUMP_USEC)
        return POSTURE_CLOCK_RESUMED;
    /* The wall clock should have moved as much as boottime did. */
    int64_t d_real = (int64_t) (now->realtime_usec - prev->realtime_usec);
    int64_t skew = d_real - (int64_t) d_boot;
    if (skew > (int64_t) POSTURE_CLOCK_JUMP_USEC || skew < -(int64_t) POSTURE_CLOCK_JUMP_USEC)
        return POSTURE_CLOCK_WALL_JUMPED;
    return POSTURE_CLOCK_STEADY;
}

void posture_coalesce_event(struct posture_coalesce *c, uint64_t now_usec)
{
    if (c->pending_since == 0)
        c->pending_since = now_usec ? now_usec : 1;
    c->last_event = now_usec;
}

uint64_t posture_coalesce_due(const struct posture_coalesce *c)
{
    uint64_t due;

    if (c->pending_since == 0)
        return 0;
    due = c->last_event + c->settle_usec;
    if (c->last_run != 0 && due < c->last_run + c->min_gap_usec)
        due = c->last_run + c->min_gap_usec;
    return due ? due : 1;
}

void posture_coalesce_ran(struct posture_coalesce *c, uint64_t now_usec)
{
    c->pending_since = 0;
    c->last_run = now_usec;
}
