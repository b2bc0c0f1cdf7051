/* SPDX-License-Identifier: Apache-2.0 */
/* Parsers of dnf / yum output (see dnf.h). */
#include "dnf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/strv.h"

/* Whitespace-separated tokens of one line. */
#define TOKENS_MAX 16

/* Architectures RPM distributions ship (rpm's arch names; "src" is not an installable one). */
static const char *const known_arches[] = {
    "noarch", "x86_64",  "i686",     "i586",   "i386",    "aarch64",     "ppc64le",  "ppc64",
    "s390x",  "armv7hl", "armv7hnl", "armhfp", "riscv64", "loongarch64", "mips64el", "ia64",
};

static bool arch_is_known(const char *a)
{
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(known_arches); i++)
        if (strcmp(a, known_arches[i]) == 0)
            return true;
    return false;
}

/* A growable, bounded list of strings, sorted and de-duplicated at the end. */
struct names {
    char **v;
    size_t n;
    size_t cap;
};

static void names_done(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (struct names){ 0 };
}

/* Takes ownership of s on success. */
static int names_consume(struct names *l, char *s)
{
    if (l->n >= POSTURE_DNF_PACKAGES_MAX)
        return -E2BIG;
    if (l->n + 1 >= l->cap) { /* keep room for a NULL terminator */
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sort and drop duplicates; returns the number left. */
static size_t names_uniq(struct names *l)
{
    if (l->n == 0)
        return 0;
    qsort(l->v, l->n, sizeof(*l->v), cmp_str);
    size_t w = 1;
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(l->v[i], l->v[w - 1]) == 0)
            free(l->v[i]);
        else
            l->v[w++] = l->v[i];
    }
    l->n = w;
    l->v[w] = NULL;
    return w;
}

/*
 * Iterate over the lines of text: copies each line (without the newline, CR stripped) into buf
 * (POSTURE_DNF_LINE_MAX + 1 bytes). Returns 1 with a line, 0 at the end; *too_long is set for a
 * line that did not fit (buf then holds nothing useful).
 */
static int next_line(const char *text, size_t len, size_t *pos, char *buf, bool *too_long)
{
    if (*pos >= len)
        return 0;
    const char *start = text + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    size_t n = nl ? (size_t) (nl - start) : len - *pos;
    *pos += n + (nl ? 1 : 0);
    if (n > 0 && start[n - 1] == '\r')
        n--;
    *too_long = n > POSTURE_DNF_LINE_MAX || memchr(start, '\0', n);
    if (*too_long) {
        buf[0] = '\0';
        return 1;
    }
    memcpy(buf, start, n);
    buf[n] = '\0';
    return 1;
}

static size_t split_tokens(char *line, char *tok[TOKENS_MAX], bool *ret_indented)
{
    size_t n = 0;
    char *p = line;

    *ret_indented = *p == ' ' || *p == '\t';
    while (*p) {
        while (*p == ' ' || *p == '\t')
            *p++ = '\0';
        if (!*p)
            break;
        if (n == TOKENS_MAX)
            return TOKENS_MAX + 1; /* more tokens than any format has */
        tok[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    return n;
}

static bool is_blank(const char *s)
{
    return s[strspn(s, " \t")] == '\0';
}

int posture_dnf_split_nevra(const char *nevra, char **ret_name, char **ret_arch)
{
    if (!nevra || !ret_name || !ret_arch)
        return -EINVAL;
    const char *dot = strrchr(nevra, '.');
    if (!dot || !arch_is_known(dot + 1))
        return -EINVAL;
    /* name-[epoch:]version-release: the last two dashes before the arch. */
    const char *rel = NULL, *ver = NULL;
    for (const char *p = dot; p > nevra; p--) {
        if (p[-1] != '-')
            continue;
        if (!rel) {
            rel = p - 1;
        } else {
            ver = p - 1;
            break;
        }
    }
    if (!ver || ver == nevra || rel - ver < 2 || dot - rel < 2)
        return -EINVAL;
    /* An epoch, when present, is digits followed by ':' at the start of the version. */
    const char *colon = memchr(ver + 1, ':', (size_t) (rel - ver - 1));
    if (colon) {
        if (colon == ver + 1)
            return -EINVAL;
        for (const char *p = ver + 1; p < colon; p++)
            if (*p < '0' || *p > '9')
                return -EINVAL;
    }
    for (const char *p = nevra; p < ver; p++)
        if ((unsigned char) *p <= ' ' || *p == '/')
            return -EINVAL;

    posture_autofree char *name = strndup(nevra, (size_t) (ver - nevra));
    char *arch = strdup(dot + 1);
    if (!name || !arch) {
        free(arch);
        return -ENOMEM;
    }
    *ret_name = POSTURE_TAKE_PTR(name);
    *ret_arch = arch;
    return 0;
}

/* dnf 4 writes "Important/Sec.", "None/Sec." ...; dnf 5 and yum "security". */
static bool type_is_security(const char *t)
{
    size_t n = strlen(t);
    return strcasecmp(t, "security") == 0 || (n >= 5 && strcasecmp(t + n - 5, "/Sec.") == 0);
}

static bool type_is_other(const char *t)
{
    static const char *const other[] = { "bugfix", "enhancement", "newpackage", "unspecified",
                                         "unknown" };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(other); i++)
        if (strcasecmp(t, other[i]) == 0)
            return true;
    return false;
}

/* dnf 5's table header, "Name Type Severity Package Issued". */
static bool is_header(char *const tok[], size_t n)
{
    return n >= 3 && strcasecmp(tok[0], "Name") == 0 && strcasecmp(tok[1], "Type") == 0;
}

/* Status lines dnf may print even with -q; never data. */
static bool is_notice(const char *line)
{
    static const char *const prefixes[] = { "Last metadata expiration check",
                                            "Updating and loading repositories",
                                            "Repositories loaded",
                                            "Security: ",
                                            "updateinfo list done",
                                            "Loaded plugins:",
                                            "Loading mirror speeds" };
    const char *s = line + strspn(line, " \t");
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(prefixes); i++)
        if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* Lines of either listing that name no package: an overlong one (counted as ignored), a blank
 * one, and a notice (counted as known). True for those. */
static bool no_package(const char *line, bool too_long, size_t *ignored, size_t *known)
{
    if (too_long) {
        (*ignored)++;
        return true;
    }
    if (is_blank(line))
        return true;
    if (is_notice(line)) {
        (*known)++;
        return true;
    }
    return false;
}

static int add_package(struct names *l, const char *nevra, const char *native_arch)
{
    posture_autofree char *name = NULL, *arch = NULL;
    int r = posture_dnf_split_nevra(nevra, &name, &arch);
    if (r < 0)
        return r;
    if (strcmp(arch, "noarch") == 0 || !native_arch || strcmp(arch, native_arch) == 0) {
        r = names_consume(l, name);
        if (r >= 0)
            name = NULL;
        return r;
    }
    size_t n = strlen(name) + 1 + strlen(arch) + 1;
    char *full = malloc(n);
    if (!full)
        return -ENOMEM;
    (void) snprintf(full, n, "%s.%s", name, arch);
    r = names_consume(l, full);
    if (r < 0)
        free(full);
    return r;
}

void posture_dnf_updateinfo_done(struct posture_dnf_updateinfo *u)
{
    if (!u)
        return;
    u->names = posture_strv_free(u->names);
    u->n_names = 0;
    u->advisories = 0;
    u->ignored = 0;
}

int posture_dnf_parse_updateinfo(const char *text,
                                 size_t len,
                                 const char *native_arch,
                                 struct posture_dnf_updateinfo *ret)
{
    if ((!text && len > 0) || !ret)
        return -EINVAL;

    posture_autofree char *line = malloc(POSTURE_DNF_LINE_MAX + 1);
    struct names l = { 0 };
    size_t pos = 0, advisories = 0, ignored = 0, known = 0;
    bool too_long;

    if (!line)
        return -ENOMEM;
    while (next_line(text, len, &pos, line, &too_long) > 0) {
        char *tok[TOKENS_MAX];
        bool indented;

        if (no_package(line, too_long, &ignored, &known))
            continue;
        size_t n = split_tokens(line, tok, &indented);
        if (is_header(tok, n)) {
            known++;
            continue;
        }
        /* dnf 4 / yum: ID TYPE NEVRA; dnf 5: ID TYPE SEVERITY NEVRA DATE TIME. A leading "i"
         * column (installed advisories, --all) is skipped. */
        size_t base = n >= 4 && (strcmp(tok[0], "i") == 0 || strcmp(tok[0], "I") == 0) ? 1 : 0;
        if (n > TOKENS_MAX || n < base + 3) {
            ignored++;
            continue;
        }
        const char *type = tok[base + 1];
        if (type_is_other(type)) {
            known++;
            continue;
        }
        if (!type_is_security(type)) {
            ignored++;
            continue;
        }
        int r = -EINVAL;
        for (size_t i = base + 2; i < n && i <= base + 3 && r == -EINVAL; i++)
            r = add_package(&l, tok[i], native_arch);
        if (r == -EINVAL) {
            ignored++;
            continue;
        }
        if (r < 0) {
            names_done(&l);
            return r;
        }
        advisories++;
    }

    if (advisories == 0 && known == 0 && ignored > 0) {
        names_done(&l);
        return -EBADMSG;
    }
    size_t n = names_uniq(&l);
    if (!l.v) {
        l.v = calloc(1, sizeof(char *));
        if (!l.v)
            return -ENOMEM;
    }
    *ret = (struct posture_dnf_updateinfo){
        .names = l.v,
        .n_names = n,
        .advisories = advisories,
        .ignored = ignored,
    };
    return (int) n;
}

/* "[epoch:]version-release", e.g. "1:3.0.7-27.el9" or "6.8.9-300.fc40". */
static bool looks_like_evr(const char *s)
{
    const char *dash = strrchr(s, '-');
    if (!dash || dash == s || !dash[1])
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char) *p <= ' ')
            return false;
    return (*s >= '0' && *s <= '9') || strchr(s, ':');
}

/* "name.arch" with a known arch. */
static bool looks_like_name_arch(const char *s)
{
    const char *dot = strrchr(s, '.');
    return dot && dot != s && arch_is_known(dot + 1);
}

int posture_dnf_parse_check_update(const char *text, size_t len, size_t *ret_ignored)
{
    if (!text && len > 0)
        return -EINVAL;

    posture_autofree char *line = malloc(POSTURE_DNF_LINE_MAX + 1);
    posture_autofree char *wrapped = NULL; /* a name.arch alone on its line */
    struct names l = { 0 };
    size_t pos = 0, ignored = 0, known = 0, updates = 0;
    bool too_long;
    int r;

    if (!line)
        return -ENOMEM;
    while (next_line(text, len, &pos, line, &too_long) > 0) {
        char *tok[TOKENS_MAX];
        bool indented;

        if (no_package(line, too_long, &ignored, &known))
            continue;
        if (strncasecmp(line, "Obsoleting", 10) == 0) {
            known++;
            break; /* the rest names obsoleted packages, not updates */
        }
        size_t n = split_tokens(line, tok, &indented);
        const char *name = NULL;
        if (n == 3 && !indented && looks_like_name_arch(tok[0]) && looks_like_evr(tok[1])) {
            name = tok[0];
        } else if (n == 2 && indented && wrapped && looks_like_evr(tok[0])) {
            name = wrapped;
        } else if (n == 1 && !indented && looks_like_name_arch(tok[0])) {
            free(wrapped);
            wrapped = strdup(tok[0]);
            if (!wrapped) {
                names_done(&l);
                return -ENOMEM;
            }
            continue;
        } else {
            ignored++;
        }
        if (name) {
            char *copy = strdup(name);
            if (!copy) {
                names_done(&l);
                return -ENOMEM;
            }
            r = names_consume(&l, copy);
            if (r < 0) {
                free(copy);
                names_done(&l);
                return r;
            }
            updates++;
        }
        free(wrapped);
        wrapped = NULL;
    }
    if (wrapped)
        ignored++; /* a name whose version line never came */

    if (updates == 0 && known == 0 && ignored > 0) {
        names_done(&l);
        return -EBADMSG;
    }
    size_t n = names_uniq(&l);
    names_done(&l);
    if (ret_ignored)
        *ret_ignored = ignored;
    return (int) n;
}
