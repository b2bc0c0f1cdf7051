/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Error convention (STYLE.md G3): functions return int, >= 0 on success (may carry a count),
 * -errno on failure. Foreign error codes are translated at module boundaries and never appear
 * in our headers.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#define POSTURE_ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* The current errno as a negative value; -EIO if errno was not set (never returns 0). */
static inline int posture_negative_errno(void)
{
    int r = errno > 0 ? -errno : -EIO;
#ifdef __clang_analyzer__
    /* The analyzer does not carry "errno > 0" over to "-errno < 0" and would explore a success
     * path after every failed call. */
    __builtin_assume(r < 0);
#endif
    return r;
}

/* Convert a libc style return value (-1 + errno) to our convention. */
static inline int posture_ret_nerrno(int r)
{
    return r < 0 ? posture_negative_errno() : r;
}

/* "ENOENT" for ENOENT or -ENOENT; "E<number>" for unknown values (in a static buffer per
 * thread). Never returns NULL. */
const char *posture_errno_name(int err);

/* Guard for SDK and public entry points: logs at debug and returns r when expr is false.
 * The only macro that hides a return; its name says so. */
#define POSTURE_RETURN_IF_FAIL(expr, r)                                     \
    do {                                                                    \
        if (!(expr)) {                                                      \
            posture_log_assert_failed(#expr, __FILE__, __LINE__, __func__); \
            return (r);                                                     \
        }                                                                   \
    } while (0)

void posture_log_assert_failed(const char *expr, const char *file, int line, const char *func);
