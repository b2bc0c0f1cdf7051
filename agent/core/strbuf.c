/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/strbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRBUF_DEFAULT_MAX ((size_t) 16 * 1024 * 1024)
#define STRBUF_MIN_CAP     64

static size_t effective_max(const struct posture_strbuf *sb)
{
    return sb->max_len ? sb->max_len : STRBUF_DEFAULT_MAX;
}

/* Bytes that may still be appended (0 if max_len was lowered below len). */
static size_t room(const struct posture_strbuf *sb)
{
    size_t max = effective_max(sb);
    return sb->len < max ? max - sb->len : 0;
}

/* Make room for len + extra bytes plus the NUL. The caller checked the limit. */
static int reserve(struct posture_strbuf *sb, size_t extra)
{
    size_t need = sb->len + extra;
    if (need < sb->len || need == SIZE_MAX)
        return -E2BIG; /* len + extra + NUL would wrap (only with max_len near SIZE_MAX) */
    need++;
    if (sb->buf && need <= sb->cap)
        return 0;

    size_t cap = sb->cap ? sb->cap : STRBUF_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* Never allocate more than the limit can use. */
    size_t limit = effective_max(sb);
    if (limit < SIZE_MAX && cap > limit + 1)
        cap = limit + 1 >= need ? limit + 1 : need;

    char *p = realloc(sb->buf, cap);
    if (!p)
        return -ENOMEM;
    if (!sb->buf)
        p[0] = '\0';
    sb->buf = p;
    sb->cap = cap;
    return 0;
}

int posture_strbuf_append(struct posture_strbuf *sb, const char *s, size_t n)
{
    if (!sb || (!s && n > 0))
        return -EINVAL;
    if (n > room(sb))
        return -E2BIG;

    /* s may point into our own buffer, which reserve() can move. */
    size_t self_off = SIZE_MAX;
    if (s && sb->buf && s >= sb->buf && s < sb->buf + sb->cap)
        self_off = (size_t) (s - sb->buf);

    int r = reserve(sb, n);
    if (r < 0)
        return r;
    if (self_off != SIZE_MAX)
        s = sb->buf + self_off;
    if (n > 0)
        memmove(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
    return 0;
}

int posture_strbuf_puts(struct posture_strbuf *sb, const char *s)
{
    if (!s)
        return -EINVAL;
    return posture_strbuf_append(sb, s, strlen(s));
}

int posture_strbuf_putc(struct posture_strbuf *sb, char c)
{
    return posture_strbuf_append(sb, &c, 1);
}

int posture_strbuf_vprintf(struct posture_strbuf *sb, const char *format, va_list ap)
{
    va_list aq;

    if (!sb || !format)
        return -EINVAL;

    va_copy(aq, ap);
    int k = vsnprintf(NULL, 0, format, aq);
    va_end(aq);
    if (k < 0)
        return -EINVAL;
    size_t n = (size_t) k;
    if (n > room(sb))
        return -E2BIG;

    int r = reserve(sb, n);
    if (r < 0)
        return r;
    va_copy(aq, ap);
    k = vsnprintf(sb->buf + sb->len, n + 1, format, aq);
    va_end(aq);
    if (k < 0 || (size_t) k != n) {
        sb->buf[sb->len] = '\0';
        return -EINVAL;
    }
    sb->len += n;
    return 0;
}

int posture_strbuf_printf(struct posture_strbuf *sb, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    int r = posture_strbuf_vprintf(sb, format, ap);
    va_end(ap);
    return r;
}

char *posture_strbuf_steal(struct posture_strbuf *sb)
{
    if (!sb)
        return NULL;
    char *p = sb->buf ? sb->buf : strdup("");
    if (!p)
        return NULL;
    sb->buf = NULL;
    sb->len = 0;
    sb->cap = 0;
    return p;
}

void posture_strbuf_done(struct posture_strbuf *sb)
{
    if (!sb)
        return;
    free(sb->buf);
    sb->buf = NULL;
    sb->len = 0;
    sb->cap = 0;
}
