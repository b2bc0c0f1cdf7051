/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/parse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "posture/time_util.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Decimal digits at *p (at least one) into *ret, advancing *p past them. */
static int parse_digits(const char **p, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;

    if (!is_digit(*s))
        return -EINVAL;
    for (; is_digit(*s); s++) {
        unsigned d = (unsigned) (*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *p = s;
    *ret = v;
    return 0;
}

int posture_parse_u64(const char *s, uint64_t *ret)
{
    uint64_t v;

    if (!s || !ret)
        return -EINVAL;
    int r = parse_digits(&s, &v);
    if (r < 0)
        return r;
    if (*s != '\0')
        return -EINVAL;
    *ret = v;
    return 0;
}

int posture_parse_u32(const char *s, uint32_t *ret)
{
    uint64_t v;

    if (!ret)
        return -EINVAL;
    int r = posture_parse_u64(s, &v);
    if (r < 0)
        return r;
    if (v > UINT32_MAX)
        return -ERANGE;
    *ret = (uint32_t) v;
    return 0;
}

int posture_parse_i64(const char *s, int64_t *ret)
{
    bool negative = false;
    uint64_t v;

    if (!s || !ret)
        return -EINVAL;
    if (*s == '-') {
        negative = true;
        s++;
    }
    int r = parse_digits(&s, &v);
    if (r < 0)
        return r;
    if (*s != '\0')
        return -EINVAL;
    if (negative) {
        if (v > (uint64_t) INT64_MAX + 1)
            return -ERANGE;
        *ret = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
    } else {
        if (v > INT64_MAX)
            return -ERANGE;
        *ret = (int64_t) v;
    }
    return 0;
}

int posture_parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = { "1", "yes", "true", "on" };
    static const char *const no[] = { "0", "no", "false", "off" };

    if (!s || !ret)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

struct unit {
    const char *name;
    uint64_t mult;
};

static const struct unit duration_units[] = {
    { "us", 1 },
    { "usec", 1 },
    { "ms", POSTURE_USEC_PER_MSEC },
    { "msec", POSTURE_USEC_PER_MSEC },
    { "s", POSTURE_USEC_PER_SEC },
    { "sec", POSTURE_USEC_PER_SEC },
    { "second", POSTURE_USEC_PER_SEC },
    { "seconds", POSTURE_USEC_PER_SEC },
    { "m", 60 * POSTURE_USEC_PER_SEC },
    { "min", 60 * POSTURE_USEC_PER_SEC },
    { "minute", 60 * POSTURE_USEC_PER_SEC },
    { "minutes", 60 * POSTURE_USEC_PER_SEC },
    { "h", 3600 * POSTURE_USEC_PER_SEC },
    { "hour", 3600 * POSTURE_USEC_PER_SEC },
    { "hours", 3600 * POSTURE_USEC_PER_SEC },
    { "d", 86400 * POSTURE_USEC_PER_SEC },
    { "day", 86400 * POSTURE_USEC_PER_SEC },
    { "days", 86400 * POSTURE_USEC_PER_SEC },
    { "w", 7 * (86400 * POSTURE_USEC_PER_SEC) },
    { "week", 7 * (86400 * POSTURE_USEC_PER_SEC) },
    { "weeks", 7 * (86400 * POSTURE_USEC_PER_SEC) },
};

/*
 * Grammar: a bare number (seconds), or one or more "<number>[blanks]<unit>" components,
 * separated by optional blanks ("1h30m", "1h 30min"). No leading or trailing blanks; every
 * component of a multi-part value needs a unit ("5m30" is refused).
 */
int posture_parse_duration_usec(const char *s, uint64_t *ret)
{
    uint64_t total = 0;
    const char *p = s;

    if (!s || !ret)
        return -EINVAL;
    if (!is_digit(*p))
        return -EINVAL;

    for (unsigned n = 0;; n++) {
        uint64_t v, mult = 0;
        int r = parse_digits(&p, &v);
        if (r < 0)
            return r;

        if (*p == '\0' && n == 0) {
            /* Bare number: seconds. */
            if (v > UINT64_MAX / POSTURE_USEC_PER_SEC)
                return -ERANGE;
            *ret = v * POSTURE_USEC_PER_SEC;
            return 0;
        }

        while (is_blank(*p))
            p++;
        const char *u = p;
        while (is_alpha(*p))
            p++;
        size_t ulen = (size_t) (p - u);
        for (size_t i = 0; ulen > 0 && i < sizeof(duration_units) / sizeof(duration_units[0]); i++)
            if (strlen(duration_units[i].name) == ulen &&
                strncmp(duration_units[i].name, u, ulen) == 0) {
                mult = duration_units[i].mult;
                break;
            }
        if (mult == 0)
            return -EINVAL;
        if (v > UINT64_MAX / mult)
            return -ERANGE;
        v *= mult;
        if (v > UINT64_MAX - total)
            return -ERANGE;
        total += v;

        while (is_blank(*p))
            p++;
        if (*p == '\0')
            break;
        /* Blanks at the very end were skipped above; refuse them. */
        if (!is_digit(*p))
            return -EINVAL;
    }
    if (is_blank(p[-1]))
        return -EINVAL;
    *ret = total;
    return 0;
}

int posture_parse_size(const char *s, uint64_t *ret)
{
    static const char multipliers[] = "KMGTPE";
    uint64_t v, mult = 1;
    const char *p = s;

    if (!s || !ret)
        return -EINVAL;
    int r = parse_digits(&p, &v);
    if (r < 0)
        return r;

    if (*p != '\0') {
        char c = *p;
        if (c >= 'a' && c <= 'z')
            c = (char) (c - 'a' + 'A');
        const char *m = strchr(multipliers, c);
        if (m && c != '\0') {
            for (const char *q = multipliers; q <= m; q++)
                mult *= 1024;
            p++;
            if (strcmp(p, "iB") == 0)
                p += 2;
        }
        if (strcmp(p, "B") == 0)
            p++;
        if (*p != '\0')
            return -EINVAL;
    }
    if (v > UINT64_MAX / mult)
        return -ERANGE;
    *ret = v * mult;
    return 0;
}

/* Append "<v><unit>" (with a leading space unless first) if it fits whole. */
static bool append_part(char *buf, size_t len, size_t *pos, uint64_t v, const char *unit)
{
    char part[48];
    int k = snprintf(part, sizeof(part), "%s%" PRIu64 "%s", *pos > 0 ? " " : "", v, unit);
    if (k < 0 || (size_t) k >= sizeof(part) || *pos + (size_t) k >= len)
        return false;
    memcpy(buf + *pos, part, (size_t) k + 1);
    *pos += (size_t) k;
    return true;
}

const char *posture_format_duration(char *buf, size_t len, uint64_t usec)
{
    static const struct unit parts[] = {
        { "d", 86400 * POSTURE_USEC_PER_SEC }, { "h", 3600 * POSTURE_USEC_PER_SEC },
        { "min", 60 * POSTURE_USEC_PER_SEC },  { "s", POSTURE_USEC_PER_SEC },
        { "ms", POSTURE_USEC_PER_MSEC },       { "us", 1 },
    };
    size_t pos = 0;

    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    if (usec == POSTURE_USEC_INFINITY) {
        (void) snprintf(buf, len, "infinity");
        return buf;
    }
    if (usec == 0) {
        (void) snprintf(buf, len, "0");
        return buf;
    }
    /* Largest units first; a part that does not fit whole ends the text (finer parts are
     * dropped rather than cut in the middle). */
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && usec > 0; i++) {
        uint64_t v = usec / parts[i].mult;
        if (v == 0)
            continue;
        if (!append_part(buf, len, &pos, v, parts[i].name))
            break;
        usec -= v * parts[i].mult;
    }
    return buf;
}

bool posture_check_name_is_valid(const char *name)
{
    size_t n = 0;
    bool component_empty = true;

    if (!name)
        return false;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (n >= 64)
            return false;
        if (c == '.') {
            if (component_empty)
                return false;
            component_empty = true;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            component_empty = false;
        } else {
            return false;
        }
    }
    return !component_empty;
}
