/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A growable, always NUL-terminated string with a hard maximum (curl's dynbuf idea): appending
 * past max_len fails with -E2BIG and leaves the buffer unchanged.
 */

#include <stdarg.h>
#include <stddef.h>

#include "posture/cleanup.h"

struct posture_strbuf {
    char *buf;      /* NULL until the first append; NUL-terminated afterwards */
    size_t len;     /* bytes before the terminating NUL */
    size_t cap;     /* allocated bytes */
    size_t max_len; /* hard limit for len; 0 means 16 MiB */
};

#define POSTURE_STRBUF_INIT(max)                          \
    {                                                     \
        .buf = NULL, .len = 0, .cap = 0, .max_len = (max) \
    }

int posture_strbuf_append(struct posture_strbuf *sb, const char *s, size_t n);
int posture_strbuf_puts(struct posture_strbuf *sb, const char *s);
int posture_strbuf_putc(struct posture_strbuf *sb, char c);
int posture_strbuf_printf(struct posture_strbuf *sb, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
int posture_strbuf_vprintf(struct posture_strbuf *sb, const char *format, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Returns the buffer ("" if nothing was appended, which is allocated) and resets sb; NULL on
 * -ENOMEM. The caller frees it. */
char *posture_strbuf_steal(struct posture_strbuf *sb);
/* Frees the contents; sb can be reused. */
void posture_strbuf_done(struct posture_strbuf *sb);

#define posture_auto_strbuf POSTURE_CLEANUP(posture_strbuf_done)
