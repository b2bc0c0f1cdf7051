/* SPDX-License-Identifier: Apache-2.0 */
/* Strict base64url without padding (RFC 4648 §5, RFC 7515 §2). */

#include "posture/b64url.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>

#include "posture/err.h"

static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of c, or -1 outside the URL-safe alphabet. */
/* The sextet of each byte, -1 for bytes outside the base64url alphabet. */
static const int8_t sextets[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static int sextet(unsigned char c)
{
    return sextets[c];
}

size_t posture_b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

int posture_b64url_encode_buf(const void *data, size_t n, char *buf, size_t buf_size)
{
    const uint8_t *p = data;
    size_t out = 0, i = 0;

    POSTURE_RETURN_IF_FAIL(buf, -EINVAL);
    POSTURE_RETURN_IF_FAIL(data || n == 0, -EINVAL);
    if (n > (size_t) INT_MAX / 4 * 3)
        return -E2BIG;
    if (buf_size < posture_b64url_encoded_len(n) + 1)
        return -ENOBUFS;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
        buf[out++] = alphabet[v >> 18 & 63];
        buf[out++] = alphabet[v >> 12 & 63];
        buf[out++] = alphabet[v >> 6 & 63];
        buf[out++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t) p[i] << 16;
        buf[out++] = alphabet[v >> 18 & 63];
        buf[out++] = alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8;
        buf[out++] = alphabet[v >> 18 & 63];
        buf[out++] = alphabet[v >> 12 & 63];
        buf[out++] = alphabet[v >> 6 & 63];
    }
    buf[out] = '\0';
    return (int) out;
}

int posture_b64url_encode(const void *data, size_t n, char **ret)
{
    size_t len;
    char *buf;
    int r;

    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    if (n > (size_t) INT_MAX / 4 * 3)
        return -E2BIG;
    len = posture_b64url_encoded_len(n) + 1;
    buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    r = posture_b64url_encode_buf(data, n, buf, len);
    if (r < 0) {
        free(buf);
        return r;
    }
    *ret = buf;
    return 0;
}

/* The decoded size of len characters, or -EBADMSG when no encoding has that length. */
static int decoded_len(size_t len, size_t *ret)
{
    if (len % 4 == 1)
        return -EBADMSG;
    *ret = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
    return 0;
}

/* Decode into out (which holds decoded_len bytes): four characters to three bytes at a time
 * (the event log in evidence is ~64 KB of base64url), then the tail. */
static int decode_into(const char *s, size_t len, uint8_t *out)
{
    const unsigned char *u = (const unsigned char *) s;
    size_t o = 0, i = 0;
    uint32_t acc = 0;
    unsigned bits = 0;

    for (; i + 4 <= len; i += 4) {
        int a = sextets[u[i]], b = sextets[u[i + 1]], c = sextets[u[i + 2]], d = sextets[u[i + 3]];
        if ((a | b | c | d) < 0)
            return -EBADMSG;
        uint32_t w = (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6 | (uint32_t) d;
        out[o++] = (uint8_t) (w >> 16);
        out[o++] = (uint8_t) (w >> 8);
        out[o++] = (uint8_t) w;
    }
    for (; i < len; i++) {
        int v = sextet(u[i]);
        if (v < 0)
            return -EBADMSG;
        acc = acc << 6 | (uint32_t) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits (2 or 4) are padding bits of the last character: canonical means zero. */
    if (acc != 0)
        return -EBADMSG;
    return (int) o;
}

int posture_b64url_decode_buf(const char *s, size_t len, uint8_t *buf, size_t buf_size)
{
    size_t n;
    int r;

    POSTURE_RETURN_IF_FAIL(s || len == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(buf || buf_size == 0, -EINVAL);
    r = decoded_len(len, &n);
    if (r < 0)
        return r;
    if (n > buf_size || n > INT_MAX)
        return -E2BIG;
    return decode_into(s, len, buf);
}

int posture_b64url_decode(const char *s, size_t len, size_t max_out, uint8_t **ret, size_t *ret_len)
{
    uint8_t *buf;
    size_t n;
    int r;

    POSTURE_RETURN_IF_FAIL(s || len == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    r = decoded_len(len, &n);
    if (r < 0)
        return r;
    if (n > max_out || n > INT_MAX)
        return -E2BIG;
    buf = malloc(n + 1);
    if (!buf)
        return -ENOMEM;
    r = decode_into(s, len, buf);
    if (r < 0) {
        free(buf);
        return r;
    }
    buf[n] = 0;
    *ret = buf;
    if (ret_len)
        *ret_len = n;
    return 0;
}

bool posture_b64url_check(const char *s, size_t len, size_t min, size_t max)
{
    size_t n;

    if (!s || decoded_len(len, &n) < 0 || n < min || n > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (sextet((unsigned char) s[i]) < 0)
            return false;
    /* The last character's unused bits must be zero. */
    if (len % 4 == 2)
        return (sextet((unsigned char) s[len - 1]) & 0x0f) == 0;
    if (len % 4 == 3)
        return (sextet((unsigned char) s[len - 1]) & 0x03) == 0;
    return true;
}
