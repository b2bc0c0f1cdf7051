/* SPDX-License-Identifier: Apache-2.0 */
/* The os-release(5) parser; the accepted syntax is described in os_release.h. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "posture/err.h"

#include "os_release.h"

static const struct {
    const char *key;
    size_t offset;
} known_keys[] = {
    { "ID", offsetof(struct posture_os_release, id) },
    { "ID_LIKE", offsetof(struct posture_os_release, id_like) },
    { "NAME", offsetof(struct posture_os_release, name) },
    { "VERSION", offsetof(struct posture_os_release, version) },
    { "VERSION_ID", offsetof(struct posture_os_release, version_id) },
    { "VERSION_CODENAME", offsetof(struct posture_os_release, version_codename) },
    { "PRETTY_NAME", offsetof(struct posture_os_release, pretty_name) },
    { "BUILD_ID", offsetof(struct posture_os_release, build_id) },
    { "VARIANT_ID", offsetof(struct posture_os_release, variant_id) },
};

static char **field(struct posture_os_release *o, size_t offset)
{
    return (char **) (void *) ((char *) o + offset);
}

void posture_os_release_done(struct posture_os_release *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(known_keys); i++)
        free(*field(o, known_keys[i].offset));
    *o = (struct posture_os_release){ 0 };
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Characters a backslash escapes inside double quotes (shell rules). */
static bool is_dq_escape(char c)
{
    return c == '"' || c == '\\' || c == '$' || c == '`';
}

static bool only_blanks(const char *p, const char *end)
{
    for (; p < end; p++)
        if (!is_blank(*p))
            return false;
    return true;
}

/* Append c to out (room for POSTURE_OS_RELEASE_VALUE_MAX bytes); false when it is full. */
static bool put(char *out, size_t *n, char c)
{
    if (*n >= POSTURE_OS_RELEASE_VALUE_MAX)
        return false;
    out[(*n)++] = c;
    return true;
}

/*
 * Decode the value in [p, end) into out (room for POSTURE_OS_RELEASE_VALUE_MAX + 1 bytes).
 * Returns the decoded length, or -EBADMSG when the value is malformed or too long.
 */
static int decode_value(const char *p, const char *end, char *out)
{
    size_t n = 0;

    if (p < end && *p == '"') {
        for (p++;; p++) {
            if (p >= end)
                return -EBADMSG; /* unterminated */
            if (*p == '"')
                break;
            if (*p == '\\') {
                if (p + 1 >= end)
                    return -EBADMSG; /* continuation lines are not supported */
                /* Shell rules: only these four are escapes; any other backslash stays in the value.
                 */
                if (is_dq_escape(p[1]))
                    p++;
            }
            if (!put(out, &n, *p))
                return -EBADMSG;
        }
        if (!only_blanks(p + 1, end))
            return -EBADMSG;
    } else if (p < end && *p == '\'') {
        for (p++;; p++) {
            if (p >= end)
                return -EBADMSG;
            if (*p == '\'')
                break;
            if (!put(out, &n, *p))
                return -EBADMSG;
        }
        if (!only_blanks(p + 1, end))
            return -EBADMSG;
    } else {
        if (p < end && is_blank(*p))
            return -EBADMSG; /* "KEY= value": no blanks around '=' */
        while (end > p && is_blank(end[-1]))
            end--;
        for (; p < end; p++) {
            if (*p == '\\') {
                if (p + 1 >= end)
                    return -EBADMSG;
                p++;
            }
            if (!put(out, &n, *p))
                return -EBADMSG;
        }
    }
    out[n] = '\0';
    return (int) n;
}

/* Handle one line without its terminator. Returns 1 for an assignment, 0 for a blank or
 * comment line, -EBADMSG for anything else, -ENOMEM. */
static int parse_line(struct posture_os_release *o, const char *line, const char *end)
{
    char value[POSTURE_OS_RELEASE_VALUE_MAX + 1];

    if (end > line && end[-1] == '\r')
        end--;
    const char *p = line;
    while (p < end && is_blank(*p))
        p++;
    if (p == end || *p == '#')
        return 0;

    const char *key = line;
    for (p = line; p < end && ((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_');
         p++)
        ;
    if (p == key || p >= end || *p != '=')
        return -EBADMSG;
    size_t key_len = (size_t) (p - key);

    int n = decode_value(p + 1, end, value);
    if (n < 0)
        return n;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(known_keys); i++) {
        if (strlen(known_keys[i].key) != key_len || memcmp(known_keys[i].key, key, key_len) != 0)
            continue;
        char *copy = NULL;
        if (n > 0) {
            copy = strdup(value);
            if (!copy)
                return -ENOMEM;
        }
        char **slot = field(o, known_keys[i].offset);
        free(*slot);
        *slot = copy; /* an empty value unsets the key */
        break;
    }
    return 1;
}

static int set_default(char **slot, const char *value)
{
    if (*slot)
        return 0;
    *slot = strdup(value);
    return *slot ? 0 : -ENOMEM;
}

int posture_os_release_parse(const char *buf, size_t len, struct posture_os_release *ret)
{
    struct posture_os_release o = { 0 };
    int r = 0;

    if (!ret || (!buf && len > 0))
        return -EINVAL;
    if (len > POSTURE_OS_RELEASE_FILE_MAX)
        return -EFBIG;
    if (len > 0 && memchr(buf, '\0', len))
        return -EBADMSG;

    const char *end = len > 0 ? buf + len : buf; /* no arithmetic on a NULL buf */
    for (const char *line = buf; line && line < end;) {
        const char *eol = memchr(line, '\n', (size_t) (end - line));
        r = parse_line(&o, line, eol ? eol : end);
        if (r == -ENOMEM)
            goto fail;
        if (r > 0)
            o.n_assignments++;
        else if (r < 0)
            o.n_ignored++;
        line = eol ? eol + 1 : NULL;
    }

    r = set_default(&o.id, "linux");
    if (r >= 0)
        r = set_default(&o.name, "Linux");
    if (r >= 0)
        r = set_default(&o.pretty_name, "Linux");
    if (r < 0)
        goto fail;

    *ret = o;
    return (int) o.n_assignments;

fail:
    posture_os_release_done(&o);
    return r;
}
