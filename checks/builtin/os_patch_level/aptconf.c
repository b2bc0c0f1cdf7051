/* SPDX-License-Identifier: Apache-2.0 */
/* A reader for the subset of apt.conf(5) syntax that os.patch_level needs (see aptconf.h). */
#include "aptconf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/parse.h"
#include "posture/strbuf.h"

struct parser {
    char *stack[POSTURE_APTCONF_DEPTH_MAX]; /* block keys, innermost last ("" for lists) */
    size_t depth;
    posture_aptconf_fn fn;
    void *userdata;
    int statements;
};

static void parser_done(struct parser *p)
{
    for (size_t i = 0; i < p->depth; i++)
        free(p->stack[i]);
    p->depth = 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Trim s[0..*n) in place: returns the start, updates *n. */
static char *trim(char *s, size_t *n)
{
    while (*n > 0 && is_space(*s)) {
        s++;
        (*n)--;
    }
    while (*n > 0 && is_space(s[*n - 1]))
        (*n)--;
    return s;
}

/*
 * Take one word from s (quoted or bare): writes it NUL-terminated over s (a word never grows
 * when its quotes go) and returns a pointer past it; *ret_quoted tells whether it was quoted.
 */
static char *take_word(char *s, char **ret_word, bool *ret_quoted)
{
    char *w = s;
    *ret_quoted = *s == '"';
    if (*ret_quoted) {
        char *end = strchr(s + 1, '"');
        size_t n = end ? (size_t) (end - s - 1) : strlen(s + 1);
        memmove(w, s + 1, n);
        w[n] = '\0';
        *ret_word = w;
        return end ? end + 1 : w + n;
    }
    size_t n = 0;
    while (s[n] && !is_space(s[n]))
        n++;
    char *rest = s + n;
    if (*rest) {
        *rest = '\0';
        rest++;
    }
    *ret_word = w;
    return rest;
}

/* Join the block stack and key into "A::B::key". */
static int full_key(const struct parser *p, const char *key, char **ret)
{
    posture_auto_strbuf struct posture_strbuf sb = POSTURE_STRBUF_INIT(POSTURE_APTCONF_KEY_MAX);
    int r = 0;

    for (size_t i = 0; i < p->depth && r >= 0; i++) {
        if (!p->stack[i][0])
            continue;
        if (sb.len > 0)
            r = posture_strbuf_puts(&sb, "::");
        if (r >= 0)
            r = posture_strbuf_puts(&sb, p->stack[i]);
    }
    if (r >= 0 && key[0]) {
        if (sb.len > 0)
            r = posture_strbuf_puts(&sb, "::");
        if (r >= 0)
            r = posture_strbuf_puts(&sb, key);
    }
    if (r < 0)
        return r;
    char *s = posture_strbuf_steal(&sb);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

static int emit(struct parser *p, const char *key, const char *value)
{
    posture_autofree char *full = NULL;
    int r = full_key(p, key, &full);
    if (r < 0)
        return r;
    r = p->fn(full, value, p->userdata);
    if (r < 0)
        return r;
    p->statements++;
    return 0;
}

static int statement(struct parser *p, char *s, size_t n)
{
    s = trim(s, &n);
    if (n == 0)
        return 0;
    s[n] = '\0';

    char *key, *value;
    bool quoted, value_quoted;
    char *rest = take_word(s, &key, &quoted);

    if (!quoted && strcmp(key, "#include") == 0)
        return 0; /* not followed: a check does not chase files named by config */
    if (!quoted && strcmp(key, "#clear") == 0) {
        size_t m = strlen(rest);
        rest = trim(rest, &m);
        rest[m] = '\0';
        while (m > 0) { /* "#clear A B;" clears each */
            char *next = take_word(rest, &key, &quoted);
            if (key[0]) {
                int r = emit(p, key, NULL);
                if (r < 0)
                    return r;
            }
            m = strlen(next);
            rest = trim(next, &m);
            rest[m] = '\0';
        }
        return 0;
    }

    size_t m = strlen(rest);
    rest = trim(rest, &m);
    rest[m] = '\0';
    if (m == 0) {
        /* "value;" inside a list block, or a bare key: a list item, nothing to assign. */
        return 0;
    }
    (void) take_word(rest, &value, &value_quoted);
    if (strlen(value) > POSTURE_APTCONF_VALUE_MAX)
        return -E2BIG;
    return emit(p, key, value);
}

static int open_block(struct parser *p, char *s, size_t n)
{
    if (p->depth >= POSTURE_APTCONF_DEPTH_MAX)
        return -E2BIG;
    s = trim(s, &n);
    s[n] = '\0';
    char *key;
    bool quoted;
    (void) take_word(s, &key, &quoted);
    if (strlen(key) > POSTURE_APTCONF_KEY_MAX)
        return -E2BIG;
    char *copy = strdup(key);
    if (!copy)
        return -ENOMEM;
    p->stack[p->depth++] = copy;
    return 0;
}

static bool directive_at(const char *text, size_t len, size_t i)
{
    static const char *const directives[] = { "#clear", "#include" };
    for (size_t k = 0; k < POSTURE_ELEMENTSOF(directives); k++) {
        size_t n = strlen(directives[k]);
        if (len - i > n && memcmp(text + i, directives[k], n) == 0 && is_space(text[i + n]))
            return true;
    }
    return false;
}

int posture_aptconf_parse(const char *text, size_t len, posture_aptconf_fn fn, void *userdata)
{
    if ((!text && len > 0) || !fn)
        return -EINVAL;
    if (len > POSTURE_APTCONF_TEXT_MAX)
        return -E2BIG;

    /* One statement at most: a key, a blank and a value, plus quotes. */
    const size_t stmt_max = POSTURE_APTCONF_KEY_MAX + POSTURE_APTCONF_VALUE_MAX + 8;
    posture_autofree char *stmt = malloc(stmt_max + 1);
    struct parser p = { .fn = fn, .userdata = userdata };
    size_t n = 0;
    bool in_quote = false;
    int r = 0;

    if (!stmt)
        return -ENOMEM;
    for (size_t i = 0; i < len && r >= 0; i++) {
        char c = text[i];
        if (c == '\0') {
            r = -EBADMSG;
            break;
        }
        if (!in_quote) {
            if (c == '/' && i + 1 < len && text[i + 1] == '/') {
                const char *nl = memchr(text + i, '\n', len - i);
                i = nl ? (size_t) (nl - text) : len;
                c = '\n';
            } else if (c == '/' && i + 1 < len && text[i + 1] == '*') {
                const char *end = memmem(text + i + 2, len - i - 2, "*/", 2);
                if (!end) {
                    r = -EBADMSG;
                    break;
                }
                i = (size_t) (end - text) + 1;
                c = ' ';
            } else if (c == '#' && !directive_at(text, len, i)) {
                const char *nl = memchr(text + i, '\n', len - i);
                i = nl ? (size_t) (nl - text) : len;
                c = '\n';
            } else if (c == ';') {
                r = statement(&p, stmt, n);
                n = 0;
                continue;
            } else if (c == '{') {
                r = open_block(&p, stmt, n);
                n = 0;
                continue;
            } else if (c == '}') {
                r = statement(&p, stmt, n); /* apt wants a ';' first; accept it without */
                n = 0;
                if (r >= 0 && p.depth == 0)
                    r = -EBADMSG;
                if (r >= 0)
                    free(p.stack[--p.depth]);
                continue;
            }
        }
        if (c == '"')
            in_quote = !in_quote;
        if (n >= stmt_max) {
            r = -E2BIG;
            break;
        }
        stmt[n++] = c;
    }
    if (r >= 0 && (in_quote || p.depth > 0))
        r = -EBADMSG;
    if (r >= 0) {
        size_t m = n;
        (void) trim(stmt, &m);
        if (m > 0)
            r = -EBADMSG; /* a statement without its ';' at the end of the file */
    }
    int statements = p.statements;
    parser_done(&p);
    return r < 0 ? r : statements;
}

bool posture_aptconf_key_below(const char *key, const char *prefix)
{
    if (!key || !prefix)
        return false;
    size_t n = strlen(prefix);
    if (strncasecmp(key, prefix, n) != 0)
        return false;
    return key[n] == '\0' || (key[n] == ':' && key[n + 1] == ':');
}

bool posture_aptconf_interval_enabled(const char *value)
{
    if (!value)
        return false;
    if (strcmp(value, "always") == 0)
        return true;
    size_t n = strlen(value);
    if (n == 0 || n > 20)
        return false;
    char digits[24];
    memcpy(digits, value, n + 1);
    if (strchr("smhd", digits[n - 1]))
        digits[--n] = '\0';
    uint64_t v;
    return posture_parse_u64(digits, &v) >= 0 && v > 0;
}
