/* SPDX-License-Identifier: Apache-2.0 */
/* Lower-case hexadecimal; see hex.h. */

#include "posture/hex.h"

#include <errno.h>
#include <stdlib.h>

static const char digits[] = "0123456789abcdef";

char *posture_hex_encode_buf(const void *data, size_t n, char *out)
{
    const uint8_t *p = data;

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
    return out;
}

int posture_hex_encode(const void *data, size_t n, char **ret)
{
    char *s;

    if (n > (SIZE_MAX - 1) / 2)
        return -E2BIG;
    s = malloc(2 * n + 1);
    if (!s)
        return -ENOMEM;
    *ret = posture_hex_encode_buf(data, n, s);
    return 0;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int posture_hex_decode_buf(const char *s, size_t len, uint8_t *buf, size_t buf_size)
{
    if (len % 2 != 0)
        return -EBADMSG;
    if (len / 2 > buf_size || len / 2 > (size_t) INT32_MAX)
        return -E2BIG;
    for (size_t i = 0; i < len; i += 2) {
        int hi = nibble(s[i]), lo = nibble(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -EBADMSG;
        buf[i / 2] = (uint8_t) (hi << 4 | lo);
    }
    return (int) (len / 2);
}
