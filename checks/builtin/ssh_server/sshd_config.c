/* SPDX-License-Identifier: Apache-2.0 */
/* sshd_config and `sshd -T` readers of ssh.server (see sshd_config.h for the rules). */
#include "ssh_server/sshd_config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/spawn.h"
#include "posture/strv.h"

#define ARGS_MAX 64u /* arguments of one line that we keep */
#define SSHD_DIR "/etc/ssh"

const char *const posture_sshd_default_ciphers[] = {
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    NULL,
};

static const char *const key_names[POSTURE_SSHD_KEY__MAX] = {
    [POSTURE_SSHD_PERMIT_ROOT_LOGIN] = "PermitRootLogin",
    [POSTURE_SSHD_PASSWORD_AUTHENTICATION] = "PasswordAuthentication",
    [POSTURE_SSHD_PERMIT_EMPTY_PASSWORDS] = "PermitEmptyPasswords",
    [POSTURE_SSHD_CIPHERS] = "Ciphers",
};

const char *posture_sshd_key_name(enum posture_sshd_key key)
{
    if ((int) key < 0 || key >= POSTURE_SSHD_KEY__MAX)
        return NULL;
    return key_names[key];
}

static int key_lookup(const char *word)
{
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++)
        if (strcasecmp(word, key_names[k]) == 0)
            return k;
    return -1;
}

void posture_sshd_config_done(struct posture_sshd_config *c)
{
    if (!c)
        return;
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++)
        free(c->value[k]);
    for (size_t i = 0; i < c->n_match_settings; i++) {
        free(c->match_settings[i].value);
        free(c->match_settings[i].criteria);
    }
    free(c->match_settings);
    (void) posture_strv_free(c->files);
    memset(c, 0, sizeof(*c));
}

/* ---- Lines ---- */

/*
 * Split the arguments of one line in place (the line is NUL-terminated and writable): quotes
 * group, a backslash escapes the next character, '#' starting a word ends the line. Returns the
 * number of arguments (at most max kept; more are counted), -EBADMSG for unbalanced quotes.
 */
static int split_args(char *s, char **argv, unsigned max)
{
    unsigned n = 0;

    for (;;) {
        s += strspn(s, " \t\r\f\v");
        if (*s == '\0' || *s == '#')
            break;
        char *out = s, *start = s;
        char quote = 0;
        while (*s) {
            char c = *s;
            if (quote) {
                if (c == quote) {
                    quote = 0;
                    s++;
                    continue;
                }
                if (c == '\\' && quote == '"' && (s[1] == '"' || s[1] == '\\')) {
                    *out++ = s[1];
                    s += 2;
                    continue;
                }
                *out++ = c;
                s++;
                continue;
            }
            if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v')
                break;
            if (c == '"' || c == '\'') {
                quote = c;
                s++;
                continue;
            }
            if (c == '\\' && s[1] != '\0') {
                *out++ = s[1];
                s += 2;
                continue;
            }
            *out++ = c;
            s++;
        }
        if (quote)
            return -EBADMSG;
        char *next = *s ? s + 1 : s;
        *out = '\0';
        if (n < max)
            argv[n] = start;
        n++;
        s = next;
    }
    return (int) n;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char) (*s - 'A' + 'a');
}

static char *dup_bounded(const char *s)
{
    return strndup(s, POSTURE_SSHD_VALUE_MAX);
}

/* ---- Parser ---- */

struct parser {
    const struct posture_sshd_io *io;
    struct posture_sshd_config *c;
    size_t total;
    unsigned files_read;
    /* the first value under "Match all", which overrides the global one */
    char *all_value[POSTURE_SSHD_KEY__MAX];
};

static void set_error(struct parser *p, const char *file, unsigned line)
{
    if (p->c->error_file[0])
        return; /* the innermost place is set first */
    (void) snprintf(p->c->error_file, sizeof(p->c->error_file), "%s", file);
    p->c->error_line = line;
}

static int record_file(struct parser *p, const char *path)
{
    if (posture_strv_contains(p->c->files, path))
        return 0;
    int r = posture_strv_extend(&p->c->files, path);
    if (r < 0)
        return r;
    p->c->n_files++;
    return 0;
}

/* Match context: none (global), "all", or conditional with its criteria text. */
struct match_ctx {
    bool active;
    bool all;
    char criteria[POSTURE_SSHD_VALUE_MAX + 1];
};

static int parse_file(struct parser *p, const char *path, int depth, struct match_ctx *m);

static int record_setting(struct parser *p, const struct match_ctx *m, int key, const char *arg)
{
    struct posture_sshd_config *c = p->c;
    char **slot = !m->active ? &c->value[key] : m->all ? &p->all_value[key] : NULL;

    if (slot) {
        if (*slot)
            return 0; /* the first value wins */
        *slot = dup_bounded(arg);
        if (!*slot)
            return -ENOMEM;
        if (key != POSTURE_SSHD_CIPHERS)
            lower(*slot);
        return 0;
    }
    if (c->n_match_settings >= POSTURE_SSHD_MATCH_SET_MAX) {
        c->match_settings_truncated = true;
        return 0;
    }
    if (c->n_match_settings % 8 == 0) {
        struct posture_sshd_match_setting *n =
            reallocarray(c->match_settings, c->n_match_settings + 8, sizeof(*n));
        if (!n)
            return -ENOMEM;
        c->match_settings = n;
    }
    struct posture_sshd_match_setting *s = &c->match_settings[c->n_match_settings];
    s->key = (enum posture_sshd_key) key;
    s->value = dup_bounded(arg);
    s->criteria = strdup(m->criteria);
    if (!s->value || !s->criteria) {
        free(s->value);
        free(s->criteria);
        return -ENOMEM;
    }
    if (key != POSTURE_SSHD_CIPHERS)
        lower(s->value);
    c->n_match_settings++;
    return 0;
}

static int do_include(struct parser *p, char **args, unsigned n, int depth, struct match_ctx *m)
{
    if (depth + 1 > POSTURE_SSHD_DEPTH_MAX)
        return -ELOOP;
    for (unsigned i = 0; i < n; i++) {
        char pattern[4096];
        int w = args[i][0] == '/' ? snprintf(pattern, sizeof(pattern), "%s", args[i])
                                  : snprintf(pattern, sizeof(pattern), SSHD_DIR "/%s", args[i]);
        if (w < 0 || (size_t) w >= sizeof(pattern))
            return -ENAMETOOLONG;
        posture_auto_strv char **paths = NULL;
        int r = p->io->glob(pattern, &paths, p->io->userdata);
        if (r < 0)
            return r;
        POSTURE_FOREACH_STRV (f, paths) {
            /* An included file starts in the includer's Match context, and a Match inside it
             * ends with it. */
            struct match_ctx inner = *m;
            r = parse_file(p, f, depth + 1, &inner);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int parse_line(struct parser *p, char *line, int depth, struct match_ctx *m)
{
    char *s = line + strspn(line, " \t\r\f\v");
    if (*s == '\0' || *s == '#')
        return 0;
    char *kw = s;
    s += strcspn(s, " \t\r\f\v=");
    if (*s) {
        char *end = s;
        s += strspn(s, " \t\r\f\v");
        if (*s == '=')
            s++;
        *end = '\0';
    }

    char *args[ARGS_MAX];
    int n = split_args(s, args, ARGS_MAX);
    if (n < 0)
        return n;
    unsigned kept = (unsigned) n < ARGS_MAX ? (unsigned) n : ARGS_MAX;

    if (strcasecmp(kw, "Match") == 0) {
        p->c->n_match++;
        m->active = true;
        m->all = kept == 1 && strcasecmp(args[0], "all") == 0;
        m->criteria[0] = '\0';
        size_t used = 0;
        for (unsigned i = 0; i < kept && used < sizeof(m->criteria) - 1; i++) {
            int w = snprintf(m->criteria + used, sizeof(m->criteria) - used, "%s%s", i ? " " : "",
                             args[i]);
            if (w < 0)
                break;
            used += (size_t) w;
        }
        return 0;
    }
    if (strcasecmp(kw, "Include") == 0) {
        if (kept == 0)
            return -EBADMSG;
        return do_include(p, args, kept, depth, m);
    }
    int key = key_lookup(kw);
    if (key < 0 || kept == 0)
        return 0; /* not ours (sshd refuses a judged keyword without argument) */
    return record_setting(p, m, key, args[0]);
}

static int parse_file(struct parser *p, const char *path, int depth, struct match_ctx *m)
{
    posture_autofree char *buf = NULL;
    size_t len = 0;

    if (++p->files_read > POSTURE_SSHD_FILES_MAX)
        return -E2BIG;
    int r = p->io->read_file(path, POSTURE_SSHD_FILE_MAX, &buf, &len, p->io->userdata);
    if (r < 0) {
        set_error(p, path, 0);
        return r;
    }
    p->total += len;
    if (p->total > POSTURE_SSHD_TOTAL_MAX) {
        set_error(p, path, 0);
        return -E2BIG;
    }
    r = record_file(p, path);
    if (r < 0)
        return r;

    unsigned lineno = 0;
    char *s = buf, *end = buf + len;
    while (s < end) {
        char *nl = memchr(s, '\n', (size_t) (end - s));
        char *next = nl ? nl + 1 : end;
        if (nl)
            *nl = '\0';
        else
            *end = '\0'; /* buf holds len + 1 bytes */
        lineno++;
        /* A NUL inside the line ends it, as fgets-based sshd sees it. */
        r = parse_line(p, s, depth, m);
        if (r < 0) {
            set_error(p, path, lineno);
            return r;
        }
        s = next;
    }
    return 0;
}

int posture_sshd_config_parse(const char *path,
                              const struct posture_sshd_io *io,
                              struct posture_sshd_config *ret)
{
    if (!path || !io || !io->read_file || !io->glob || !ret)
        return -EINVAL;
    memset(ret, 0, sizeof(*ret));
    ret->files = calloc(1, sizeof(char *));
    if (!ret->files)
        return -ENOMEM;

    struct parser p = { .io = io, .c = ret };
    struct match_ctx m = { 0 };
    int r = parse_file(&p, path, 0, &m);
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++) {
        if (r >= 0 && p.all_value[k]) {
            free(ret->value[k]);
            ret->value[k] = POSTURE_TAKE_PTR(p.all_value[k]);
        }
        free(p.all_value[k]);
    }
    return r < 0 ? r : 0;
}

int posture_sshd_config_effective(const struct posture_sshd_config *c,
                                  char *values[POSTURE_SSHD_KEY__MAX])
{
    static const char *const defaults[POSTURE_SSHD_KEY__MAX] = {
        [POSTURE_SSHD_PERMIT_ROOT_LOGIN] = "prohibit-password",
        [POSTURE_SSHD_PASSWORD_AUTHENTICATION] = "yes",
        [POSTURE_SSHD_PERMIT_EMPTY_PASSWORDS] = "no",
        [POSTURE_SSHD_CIPHERS] = NULL,
    };
    if (!c || !values)
        return -EINVAL;
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++) {
        const char *v = c->value[k] ? c->value[k] : defaults[k];
        if (k == POSTURE_SSHD_PERMIT_ROOT_LOGIN && v && strcmp(v, "without-password") == 0)
            v = "prohibit-password";
        if (!v)
            continue;
        values[k] = strdup(v);
        if (!values[k])
            return -ENOMEM;
    }
    return 0;
}

/* ---- sshd -T ---- */

/* Thread-safe text for an errno (strerror() is not). */
static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

int posture_sshd_t_run(const char *sshd,
                       const char *config,
                       uint64_t timeout_usec,
                       char *values[POSTURE_SSHD_KEY__MAX],
                       char *msg,
                       size_t msg_len)
{
    if (!sshd || !config || !values || !msg || msg_len == 0)
        return -EINVAL;
    const char *const argv[] = { sshd, "-T", "-f", config, NULL };
    struct posture_spawn_result res = { 0 };
    struct posture_spawn_opts opts = {
        .argv = argv,
        .timeout_usec = timeout_usec,
        .stdout_max = POSTURE_SSHD_DUMP_MAX,
    };
    int r = posture_spawn_run(&opts, &res);
    if (r < 0) {
        (void) snprintf(msg, msg_len, "sshd -T could not be run: %s", error_text(r));
        return r;
    }
    const char *err = res.err ? res.err : "";
    int n = (int) strcspn(err, "\r\n");
    if (n > 200)
        n = 200;
    if (res.timed_out) {
        (void) snprintf(msg, msg_len, "sshd -T did not finish in time");
        r = -ETIMEDOUT;
    } else if (res.stdout_truncated) {
        (void) snprintf(msg, msg_len, "sshd -T printed more than %zu KiB",
                        POSTURE_SSHD_DUMP_MAX >> 10);
        r = -E2BIG;
    } else if (res.exit_code != 0) {
        (void) snprintf(msg, msg_len, "sshd -T failed (exit status %d): %.*s", res.exit_code, n,
                        err);
        r = -EIO;
    } else {
        r = posture_sshd_parse_dump(res.out, res.out_len, values);
        if (r < 0)
            (void) snprintf(msg, msg_len, "the output of sshd -T cannot be read: %s",
                            error_text(r));
    }
    posture_spawn_result_done(&res);
    return r;
}

int posture_sshd_parse_dump(const char *buf, size_t len, char *values[POSTURE_SSHD_KEY__MAX])
{
    if (!buf || !values)
        return -EINVAL;
    if (len > POSTURE_SSHD_DUMP_MAX)
        return -E2BIG;
    const char *s = buf, *end = buf + len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t) (end - s));
        const char *eol = nl ? nl : end;
        const char *sp = memchr(s, ' ', (size_t) (eol - s));
        if (sp) {
            char kw[64];
            size_t kl = (size_t) (sp - s);
            if (kl < sizeof(kw)) {
                memcpy(kw, s, kl);
                kw[kl] = '\0';
                int k = key_lookup(kw);
                if (k >= 0 && !values[k]) {
                    size_t vl = (size_t) (eol - sp - 1);
                    while (vl > 0 && (sp[vl] == '\r' || sp[vl] == ' '))
                        vl--;
                    if (vl > POSTURE_SSHD_VALUE_MAX)
                        vl = POSTURE_SSHD_VALUE_MAX;
                    values[k] = malloc(vl + 1); /* not strndup: buf is not terminated */
                    if (!values[k])
                        return -ENOMEM;
                    memcpy(values[k], sp + 1, vl);
                    values[k][vl] = '\0';
                }
            }
        }
        s = nl ? nl + 1 : end;
    }
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++)
        if (!values[k])
            return -EBADMSG;
    if (strcmp(values[POSTURE_SSHD_PERMIT_ROOT_LOGIN], "without-password") == 0) {
        char *n = strdup("prohibit-password");
        if (!n)
            return -ENOMEM;
        free(values[POSTURE_SSHD_PERMIT_ROOT_LOGIN]);
        values[POSTURE_SSHD_PERMIT_ROOT_LOGIN] = n;
    }
    return 0;
}

/* ---- Ciphers ---- */

static int append_unique(char ***l, const char *name)
{
    if (*l && posture_strv_contains(*l, name))
        return 0;
    return posture_strv_extend(l, name);
}

static bool matches_any(const char *name, char *const *patterns)
{
    POSTURE_FOREACH_STRV (pat, patterns) {
        if (fnmatch(pat, name, 0) == 0)
            return true;
    }
    return false;
}

int posture_sshd_ciphers_effective(const char *value, char ***ret)
{
    posture_auto_strv char **out = NULL, **list = NULL;
    int r;

    if (!ret)
        return -EINVAL;
    out = calloc(1, sizeof(char *));
    if (!out)
        return -ENOMEM;
    char op = value ? value[0] : '\0';
    if (op == '+' || op == '-' || op == '^')
        value++;
    if (value) {
        r = posture_strv_split(value, ",", &list);
        if (r < 0)
            return r;
        if (r == 0)
            return -EINVAL;
    }

    if (op == '^')
        POSTURE_FOREACH_STRV (c, list) {
            r = append_unique(&out, c);
            if (r < 0)
                return r;
        }
    if (!value || op == '+' || op == '-' || op == '^')
        for (size_t i = 0; posture_sshd_default_ciphers[i]; i++) {
            if (op == '-' && matches_any(posture_sshd_default_ciphers[i], list))
                continue;
            r = append_unique(&out, posture_sshd_default_ciphers[i]);
            if (r < 0)
                return r;
        }
    if (value && (op == '+' || (op != '-' && op != '^')))
        POSTURE_FOREACH_STRV (c, list) {
            r = append_unique(&out, c);
            if (r < 0)
                return r;
        }
    *ret = POSTURE_TAKE_PTR(out);
    return 0;
}
