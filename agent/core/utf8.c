/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/utf8.h"

#include <errno.h>

size_t posture_utf8_decode(const char *s, size_t n, uint32_t *ret_cp)
{
    if (!s || n == 0)
        return 0;

    const unsigned char *p = (const unsigned char *) s;
    unsigned char c = p[0];
    size_t len;
    uint32_t cp;

    if (c < 0x80) {
        if (ret_cp)
            *ret_cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0; /* a continuation byte, C0, C1 (always overlong) or F5..FF */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    if (ret_cp)
        *ret_cp = cp;
    return len;
}

size_t posture_utf8_sequence_length(const char *s, size_t n)
{
    return posture_utf8_decode(s, n, NULL);
}

bool posture_utf8_is_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = posture_utf8_sequence_length(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

int posture_utf8_append_sanitized(struct posture_strbuf *sb, const char *s, size_t n)
{
    if (!sb || (!s && n > 0))
        return -EINVAL;

    size_t saved = sb->len;
    size_t run = 0; /* start of the pending run of valid bytes */
    int r = 0;

    for (size_t i = 0; i < n && r >= 0;) {
        size_t k = posture_utf8_sequence_length(s + i, n - i);
        if (k > 0) {
            i += k;
            continue;
        }
        r = posture_strbuf_append(sb, s + run, i - run);
        if (r >= 0)
            r = posture_strbuf_append(sb, POSTURE_UTF8_REPLACEMENT,
                                      sizeof(POSTURE_UTF8_REPLACEMENT) - 1);
        run = ++i;
    }
    if (r >= 0)
        r = posture_strbuf_append(sb, s ? s + run : "", n - run);
    if (r < 0 && sb->buf) {
        sb->len = saved;
        sb->buf[saved] = '\0';
    }
    return r;
}
