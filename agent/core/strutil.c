/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/strutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int posture_set_vprintf(char **slot, const char *format, va_list ap)
{
    char *s = NULL;

    if (!slot || !format)
        return -EINVAL;
    errno = 0;
    if (vasprintf(&s, format, ap) < 0)
        return errno > 0 ? -errno : -ENOMEM;
    free(*slot);
    *slot = s;
    return 0;
}

int posture_set_printf(char **slot, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    int r = posture_set_vprintf(slot, format, ap);
    va_end(ap);
    return r;
}
