/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/err.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "posture/log.h"

const char *posture_errno_name(int err)
{
    /* Room for "E-2147483648". */
    static _Thread_local char buf[sizeof("E") + 12];

    if (err < 0 && err != INT_MIN)
        err = -err;
    if (err > 0) {
        const char *name = strerrorname_np(err);
        if (name)
            return name;
    }
    (void) snprintf(buf, sizeof(buf), "E%d", err);
    return buf;
}

void posture_log_assert_failed(const char *expr, const char *file, int line, const char *func)
{
    if (!posture_log_level_enabled(LOG_DEBUG))
        return;
    (void) posture_log_internal(LOG_DEBUG, 0, file, line, func,
                                "%s(): argument check '%s' failed (%s:%d)", func ? func : "?",
                                expr ? expr : "?", file ? file : "?", line);
}
