/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Debian version ordering, deb-version(7): [epoch:]upstream[-revision].
 *
 * The epoch is compared as a number, then upstream and revision with the "verrevcmp" ordering:
 * the strings alternate non-digit runs and digit runs; non-digit runs are compared byte by byte
 * with '~' before everything (even the end of the run), the end of the run next, then letters,
 * then every other byte; digit runs are compared as numbers of any length (no conversion, so no
 * overflow). Invalid versions are split and compared by the same rules, which keeps the order
 * total on arbitrary strings (dpkg would refuse them).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "apt.h"

struct parts {
    const char *epoch; /* digits only; may be empty (epoch 0) */
    size_t epoch_len;
    const char *upstream;
    size_t upstream_len;
    const char *revision; /* may be empty */
    size_t revision_len;
};

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void split(const char *v, struct parts *p)
{
    const char *colon = strchr(v, ':');
    const char *rest = v;

    p->epoch = v;
    p->epoch_len = 0;
    if (colon && colon > v) {
        bool digits = true;
        for (const char *c = v; c < colon; c++)
            if (!is_digit((unsigned char) *c)) {
                digits = false;
                break;
            }
        if (digits) {
            p->epoch_len = (size_t) (colon - v);
            rest = colon + 1;
        }
    }

    const char *hyphen = strrchr(rest, '-');
    p->upstream = rest;
    if (hyphen) {
        p->upstream_len = (size_t) (hyphen - rest);
        p->revision = hyphen + 1;
        p->revision_len = strlen(hyphen + 1);
    } else {
        p->upstream_len = strlen(rest);
        p->revision = rest + p->upstream_len;
        p->revision_len = 0;
    }
}

/* Compare two digit strings as numbers of any length. */
static int cmp_number(const char *a, size_t alen, const char *b, size_t blen)
{
    while (alen > 0 && *a == '0') {
        a++;
        alen--;
    }
    while (blen > 0 && *b == '0') {
        b++;
        blen--;
    }
    if (alen != blen)
        return alen < blen ? -1 : 1;
    int r = memcmp(a, b, alen);
    return r < 0 ? -1 : (r > 0 ? 1 : 0);
}

/* Weight of a byte of a non-digit run; the end of the run (a digit or the end) weighs 0.
 * Bytes >= 0x80 weigh like dpkg's signed char arithmetic gives them (128..255). */
static int weight(const unsigned char *s, size_t i, size_t len)
{
    if (i >= len)
        return 0;
    unsigned char c = s[i];
    if (is_digit(c))
        return 0;
    if (is_alpha(c))
        return c;
    if (c == '~')
        return -1;
    if (c >= 0x80)
        return c;
    return c + 256;
}

static int verrevcmp(const char *as, size_t alen, const char *bs, size_t blen)
{
    const unsigned char *a = (const unsigned char *) as, *b = (const unsigned char *) bs;
    size_t i = 0, j = 0;

    while (i < alen || j < blen) {
        /* Non-digit runs, byte by byte. */
        while ((i < alen && !is_digit(a[i])) || (j < blen && !is_digit(b[j]))) {
            int wa = weight(a, i, alen), wb = weight(b, j, blen);
            if (wa != wb)
                return wa < wb ? -1 : 1;
            /* Equal weights are never 0 here: one side is a non-digit byte, so both are. */
            i++;
            j++;
        }
        /* Digit runs, as numbers. */
        size_t ai = i, bj = j;
        while (i < alen && is_digit(a[i]))
            i++;
        while (j < blen && is_digit(b[j]))
            j++;
        int r = cmp_number(as + ai, i - ai, bs + bj, j - bj);
        if (r != 0)
            return r;
    }
    return 0;
}

int posture_debversion_compare(const char *a, const char *b)
{
    struct parts pa, pb;

    if (!a)
        a = "";
    if (!b)
        b = "";
    split(a, &pa);
    split(b, &pb);

    int r = cmp_number(pa.epoch, pa.epoch_len, pb.epoch, pb.epoch_len);
    if (r != 0)
        return r;
    r = verrevcmp(pa.upstream, pa.upstream_len, pb.upstream, pb.upstream_len);
    if (r != 0)
        return r;
    return verrevcmp(pa.revision, pa.revision_len, pb.revision, pb.revision_len);
}

int posture_debversion_validate(const char *v)
{
    if (!v || !*v)
        return -EINVAL;

    const char *colon = strchr(v, ':');
    const char *rest = v;
    if (colon) {
        /* dpkg: a decimal epoch that fits an int. */
        if (colon == v)
            return -EINVAL;
        unsigned long long epoch = 0;
        for (const char *c = v; c < colon; c++) {
            if (!is_digit((unsigned char) *c))
                return -EINVAL;
            epoch = epoch * 10 + (unsigned long long) (*c - '0');
            if (epoch > INT_MAX)
                return -EINVAL;
        }
        rest = colon + 1;
    }

    const char *hyphen = strrchr(rest, '-');
    size_t upstream_len = hyphen ? (size_t) (hyphen - rest) : strlen(rest);
    if (upstream_len == 0 || !is_digit((unsigned char) rest[0]))
        return -EINVAL;
    for (size_t i = 0; i < upstream_len; i++) {
        unsigned char c = (unsigned char) rest[i];
        if (!is_digit(c) && !is_alpha(c) && !strchr(".-+~:", c))
            return -EINVAL;
    }
    if (hyphen) {
        if (hyphen[1] == '\0')
            return -EINVAL;
        for (const char *c = hyphen + 1; *c; c++) {
            unsigned char u = (unsigned char) *c;
            if (!is_digit(u) && !is_alpha(u) && !strchr(".+~", u))
                return -EINVAL;
        }
    }
    return 0;
}
