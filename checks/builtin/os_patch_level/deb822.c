/* SPDX-License-Identifier: Apache-2.0 */
/* deb822 stanza parser with InRelease unarmoring (see deb822.h). */
#include "deb822.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "posture/cleanup.h"
#include "posture/time_util.h"

#include "stream.h"

#define ARMOR_BEGIN     "-----BEGIN PGP SIGNED MESSAGE-----"
#define ARMOR_SIGNATURE "-----BEGIN PGP SIGNATURE-----"

enum armor_state {
    ARMOR_START,   /* before the first line */
    ARMOR_HEADERS, /* "Hash: ..." lines up to a blank line */
    ARMOR_BODY,
    ARMOR_DONE, /* the signature: ignored */
    ARMOR_NONE, /* not armored */
};

struct slot {
    size_t offset; /* in scratch */
    size_t len;
    bool present;
};

struct parser {
    const struct posture_deb822_opts *opts;
    size_t name_len[POSTURE_DEB822_FIELDS_MAX];
    struct slot slots[POSTURE_DEB822_FIELDS_MAX];
    struct posture_deb822_value values[POSTURE_DEB822_FIELDS_MAX];
    char *scratch;
    size_t scratch_len, scratch_cap;
    int current; /* wanted field that continuation lines belong to, or -1 */
    bool in_stanza;
    bool skip;
    uint64_t stanzas;
    enum armor_state armor;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static bool only_blanks(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_blank(p[i]))
            return false;
    return true;
}

/* deb822(5): US-ASCII without control characters, space and colon; not starting with '#' or
 * '-'. */
static bool field_name_is_valid(const char *p, size_t len)
{
    if (len == 0 || p[0] == '#' || p[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) p[i];
        if (c <= 0x20 || c >= 0x7f || c == ':')
            return false;
    }
    return true;
}

static int scratch_append(struct parser *p, const char *data, size_t len)
{
    /* Keep room for a NUL after the data. */
    if (len + 1 > p->scratch_cap - p->scratch_len) {
        size_t need = p->scratch_len + len + 1;
        size_t ncap = p->scratch_cap ? p->scratch_cap : 4096;
        while (ncap < need) {
            if (ncap > SIZE_MAX / 2)
                return -ENOMEM;
            ncap *= 2;
        }
        char *n = realloc(p->scratch, ncap);
        if (!n)
            return -ENOMEM;
        p->scratch = n;
        p->scratch_cap = ncap;
    }
    memcpy(p->scratch + p->scratch_len, data, len);
    p->scratch_len += len;
    p->scratch[p->scratch_len] = '\0';
    return 0;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_blank(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_blank((*s)[*len - 1]))
        (*len)--;
}

static void stanza_reset(struct parser *p)
{
    for (size_t i = 0; i < p->opts->n_fields; i++)
        p->slots[i].present = false;
    p->scratch_len = 0;
    p->current = -1;
    p->in_stanza = false;
    p->skip = false;
}

static int stanza_end(struct parser *p)
{
    int r = 0;

    if (!p->in_stanza)
        return 0;
    if (!p->skip) {
        for (size_t i = 0; i < p->opts->n_fields; i++) {
            const struct slot *sl = &p->slots[i];
            p->values[i].str = sl->present ? p->scratch + sl->offset : NULL;
            p->values[i].len = sl->present ? sl->len : 0;
        }
        r = p->opts->on_stanza(p->values, p->opts->userdata);
    }
    stanza_reset(p);
    p->stanzas++;
    if (r >= 0 && p->opts->deadline_usec > 0 && p->stanzas % POSTURE_DEB822_DEADLINE_EVERY == 0 &&
        posture_now_usec(CLOCK_MONOTONIC) > p->opts->deadline_usec)
        r = -ETIMEDOUT;
    return r < 0 ? r : 0;
}

static int find_field(const struct parser *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->opts->n_fields; i++)
        if (p->name_len[i] == len && strncasecmp(p->opts->fields[i], name, len) == 0)
            return (int) i;
    return -1;
}

static int field_line(struct parser *p, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || !field_name_is_valid(line, (size_t) (colon - line)))
        return -EBADMSG;
    p->in_stanza = true;

    int i = find_field(p, line, (size_t) (colon - line));
    p->current = i;
    if (i < 0)
        return 0;

    struct slot *sl = &p->slots[i];
    if (sl->present)
        return -EBADMSG; /* dpkg: "duplicate value for field" */
    const char *v = colon + 1;
    size_t vlen = len - (size_t) (v - line);
    trim(&v, &vlen);
    if (memchr(v, '\0', vlen))
        return -EBADMSG;
    if (vlen > POSTURE_DEB822_VALUE_MAX)
        return -E2BIG;
    sl->offset = p->scratch_len;
    sl->len = vlen;
    sl->present = true;
    int r = scratch_append(p, v, vlen);
    if (r < 0)
        return r;
    /* The terminating NUL separates this value from the next one. */
    p->scratch_len++;

    if (i == 0 && p->opts->on_key) {
        r = p->opts->on_key(p->scratch + sl->offset, vlen, p->opts->userdata);
        if (r < 0)
            return r;
        if (r == POSTURE_DEB822_SKIP)
            p->skip = true;
    }
    return 0;
}

static int continuation_line(struct parser *p, const char *line, size_t len)
{
    if (!p->in_stanza)
        return -EBADMSG;
    if (p->current < 0)
        return 0;

    struct slot *sl = &p->slots[p->current];
    while (len > 0 && is_blank(line[len - 1]))
        len--;
    if (memchr(line, '\0', len))
        return -EBADMSG;
    if (sl->len + 1 + len > POSTURE_DEB822_VALUE_MAX)
        return -E2BIG;
    /* The value is the last one in scratch: drop its NUL, append, and terminate again. */
    p->scratch_len--;
    int r = scratch_append(p, "\n", 1);
    if (r < 0)
        return r;
    r = scratch_append(p, line, len);
    if (r < 0)
        return r;
    p->scratch_len++;
    sl->len += 1 + len;
    return 0;
}

static bool starts_with(const char *line, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(line, prefix, n) == 0;
}

/* Apply the clearsign armor to a line: 1 to parse *line, 0 to drop it, <0 on error. */
static int unarmor(struct parser *p, const char **line, size_t *len)
{
    size_t l = *len;
    while (l > 0 && (*line)[l - 1] == '\r')
        l--;

    switch (p->armor) {
    case ARMOR_START:
        if (l == strlen(ARMOR_BEGIN) && memcmp(*line, ARMOR_BEGIN, l) == 0) {
            p->armor = ARMOR_HEADERS;
            return 0;
        }
        p->armor = ARMOR_NONE; /* a plain Release file under an InRelease name */
        return 1;
    case ARMOR_HEADERS:
        if (only_blanks(*line, l))
            p->armor = ARMOR_BODY;
        else if (!memchr(*line, ':', l))
            return -EBADMSG;
        return 0;
    case ARMOR_BODY:
        if (starts_with(*line, l, ARMOR_SIGNATURE)) {
            p->armor = ARMOR_DONE;
            return 0;
        }
        if (starts_with(*line, l, "- ")) {
            *line += 2;
            *len -= 2;
        }
        return 1;
    case ARMOR_DONE:
        return 0;
    default:
        return 1;
    }
}

static int parse_line(struct parser *p, const char *line, size_t len)
{
    if (p->armor != ARMOR_NONE) {
        int r = unarmor(p, &line, &len);
        if (r <= 0)
            return r;
    }

    if (len == 0)
        return stanza_end(p);
    char c = line[0];
    if (c == ' ' || c == '\t') {
        if (only_blanks(line, len))
            return stanza_end(p);
        if (p->skip)
            return 0;
        return continuation_line(p, line, len);
    }
    if (c == '\r' && only_blanks(line, len))
        return stanza_end(p);
    if (c == '#' && p->opts->comments)
        return 0;
    if (p->skip)
        return 0;
    return field_line(p, line, len);
}

int posture_deb822_parse(struct posture_stream *s, const struct posture_deb822_opts *opts)
{
    if (!s || !opts || !opts->fields || opts->n_fields == 0 ||
        opts->n_fields > POSTURE_DEB822_FIELDS_MAX || !opts->on_stanza)
        return -EINVAL;

    struct parser p = {
        .opts = opts,
        .current = -1,
        .armor = opts->armored ? ARMOR_START : ARMOR_NONE,
    };
    for (size_t i = 0; i < opts->n_fields; i++) {
        if (!opts->fields[i])
            return -EINVAL;
        p.name_len[i] = strlen(opts->fields[i]);
    }

    if (opts->deadline_usec > 0)
        posture_stream_set_deadline(s, opts->deadline_usec);

    int r;
    for (;;) {
        const char *line;
        size_t len;
        r = posture_stream_read_line(s, &line, &len);
        if (r <= 0)
            break;
        r = parse_line(&p, line, len);
        if (r < 0)
            break;
        if (p.skip && p.armor == ARMOR_NONE) {
            /* The fast path: find the end of an unwanted stanza without looking at its lines. */
            r = posture_stream_skip_paragraph(s);
            if (r < 0)
                break;
            int e = stanza_end(&p);
            if (e < 0 || r == 0) {
                r = e;
                break;
            }
        }
    }
    if (r == 0) {
        if (p.armor == ARMOR_HEADERS || p.armor == ARMOR_BODY)
            r = -EBADMSG; /* the armor never ended: truncated */
        else
            r = stanza_end(&p);
    }
    free(p.scratch);
    if (r < 0)
        return r;
    return p.stanzas > INT_MAX ? INT_MAX : (int) p.stanzas;
}

int posture_deb822_parse_mem(const char *data, size_t size, const struct posture_deb822_opts *opts)
{
    posture_auto_stream struct posture_stream *s = NULL;

    int r = posture_stream_open_mem(data, size, POSTURE_STREAM_PLAIN, &s);
    if (r < 0)
        return r;
    return posture_deb822_parse(s, opts);
}
