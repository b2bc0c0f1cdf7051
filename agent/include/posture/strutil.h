/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Helpers for malloc'ed strings held in a slot (a struct field or a variable). */

#include <stdarg.h>

/*
 * Format into a new string and store it in *slot, freeing the string *slot held before (which
 * may be NULL). Returns 0; -EINVAL when slot or format is NULL; -ENOMEM, or another -errno of
 * vasprintf() (-EOVERFLOW beyond INT_MAX bytes, -EILSEQ for a wide string the locale cannot
 * encode). On failure *slot is left as it was.
 */
int posture_set_printf(char **slot, const char *format, ...) __attribute__((format(printf, 2, 3)));
int posture_set_vprintf(char **slot, const char *format, va_list ap)
    __attribute__((format(printf, 2, 0)));
