/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ssh.server (issue 7): when an OpenSSH server is installed and enabled or running, are its
 * effective settings safe? PermitRootLogin, PasswordAuthentication, PermitEmptyPasswords and the
 * ciphers it offers.
 *
 *  - not_applicable: no /usr/sbin/sshd under the root, or neither enabled (a symlink to
 *    ssh.service, sshd.service, ssh.socket or sshd.socket in a "*.wants" or "*.requires"
 *    directory of /etc/systemd/system, the unit not masked) nor running (a /proc process whose exe
 * is /usr/sbin/sshd or /sbin/sshd, "(deleted)" after an upgrade included; when exe cannot be read,
 * a comm of "sshd").
 *  - Effective settings: `sshd -T -f /etc/ssh/sshd_config` (posture_spawn_run) when the root is
 *    the host and the option use_sshd_t is on: sshd's own answer for the global config. It
 *    needs root, readable host keys and /run/sshd; when it fails (the reason is evidence,
 *    sshd_t_error) the config is parsed by ssh_server/sshd_config.c with sshd's rules and
 *    compiled-in defaults of OpenSSH 9.2 (Debian 12). The config is parsed in both cases: for
 *    the files read and the Match blocks, whose settings apply only to some connections and
 *    are not global (`sshd -T` without -C shows the global answer too).
 *  - Verdict: FAIL on PermitRootLogin yes (prohibit-password too when allow_root_key_login is
 *    off), PasswordAuthentication yes (unless allow_password_authentication),
 *    PermitEmptyPasswords yes, or an offered cipher matching forbidden_ciphers. WARN when no
 *    global setting fails but a conditional Match block sets one of these to a failing value.
 *    ERROR when neither sshd -T nor the parser gives an answer, or a value is one sshd refuses.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/check.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/parse.h"
#include "posture/strv.h"

#include "ssh_server/sshd_config.h"

#define SSHD_BIN          "/usr/sbin/sshd"
#define SSHD_CONFIG       "/etc/ssh/sshd_config"
#define SYSTEMD_DIR       "/etc/systemd/system"
#define PROC_ENTRIES_MAX  262144u
#define UNIT_DIRS_MAX     4096u
#define DEADLINE_EVERY    256u
#define TOOL_TIMEOUT_USEC ((uint64_t) 5 * 1000 * 1000)
#define ERROR_TEXT_MAX    200u
#define REASON_MAX        1024u

static const char *const ssh_units[] = { "ssh.service", "sshd.service", "ssh.socket",
                                         "sshd.socket" };

static const struct posture_option ssh_server_options[] = {
    { POSTURE_OPTION_STRV, "forbidden_ciphers",
      "3des-cbc aes*-cbc arcfour* blowfish-cbc cast128-cbc rijndael-cbc@lysator.liu.se",
      "Ciphers (shell patterns) sshd must not offer" },
    { POSTURE_OPTION_BOOL, "allow_root_key_login", "yes",
      "PermitRootLogin prohibit-password (root with a key only) passes" },
    { POSTURE_OPTION_BOOL, "allow_password_authentication", "no",
      "PasswordAuthentication yes passes" },
    { POSTURE_OPTION_BOOL, "use_sshd_t", "yes",
      "Ask `sshd -T` for the effective settings (on the host only); else parse the config" },
    { 0 },
};

/* Thread-safe text for an errno (strerror() is not). */
static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

/* ---- Installed, enabled, running ---- */

/* The unit is masked: /etc/systemd/system/<unit> is a symlink to /dev/null. */
static bool unit_masked(int dfd, const char *unit)
{
    char target[64];
    ssize_t n = readlinkat(dfd, unit, target, sizeof(target) - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strcmp(target, "/dev/null") == 0;
}

/* The ssh units enabled through a *.wants / *.requires symlink, into *units (sorted, unique). */
static int find_enabled(const struct posture_check_ctx *ctx, char ***units)
{
    posture_autoclosedir DIR *d = NULL;
    int r = posture_opendir_at_root(ctx->root_fd, SYSTEMD_DIR, &d);
    if (r == -ENOENT || r == -ENOTDIR)
        return 0;
    if (r < 0)
        return r;
    int dfd = dirfd(d);
    bool masked[POSTURE_ELEMENTSOF(ssh_units)];
    for (size_t u = 0; u < POSTURE_ELEMENTSOF(ssh_units); u++)
        masked[u] = unit_masked(dfd, ssh_units[u]);

    unsigned n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (++n > UNIT_DIRS_MAX)
            return -E2BIG;
        size_t len = strlen(e->d_name);
        bool wants = len > 6 && strcmp(e->d_name + len - 6, ".wants") == 0;
        bool requires = len > 9 && strcmp(e->d_name + len - 9, ".requires") == 0;
        if (!wants && !requires)
            continue;
        for (size_t u = 0; u < POSTURE_ELEMENTSOF(ssh_units); u++) {
            char rel[512];
            struct stat st;
            if (masked[u] || (size_t) snprintf(rel, sizeof(rel), "%s/%s", e->d_name,
                                               ssh_units[u]) >= sizeof(rel))
                continue;
            if (fstatat(dfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;
            if (!posture_strv_contains(*units, ssh_units[u])) {
                r = posture_strv_extend(units, ssh_units[u]);
                if (r < 0)
                    return r;
            }
        }
    }
    posture_strv_sort(*units);
    return 0;
}

static bool is_pid(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool exe_is_sshd(const char *exe)
{
    static const char *const paths[] = { SSHD_BIN, "/sbin/sshd" };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(paths); i++) {
        size_t n = strlen(paths[i]);
        if (strncmp(exe, paths[i], n) == 0 &&
            (exe[n] == '\0' || strcmp(exe + n, " (deleted)") == 0))
            return true;
    }
    return false;
}

/* 1 when a process of the root's /proc runs sshd, 0 when none does or there is no /proc. */
static int find_running(const struct posture_check_ctx *ctx)
{
    posture_autoclose int proc_fd = -1;
    int r = posture_open_at_root(ctx->root_fd, "/proc", O_PATH | O_DIRECTORY, &proc_fd);
    if (r < 0)
        return r == -ENOENT || r == -ENOTDIR ? 0 : r;
    posture_autoclosedir DIR *d = NULL;
    r = posture_opendir_at_root(ctx->root_fd, "/proc", &d);
    if (r < 0)
        return r;

    unsigned n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (++n > PROC_ENTRIES_MAX)
            return -E2BIG;
        if (n % DEADLINE_EVERY == 0 && ctx->api->now_usec() >= ctx->deadline_usec)
            return -ETIMEDOUT;
        if (!is_pid(e->d_name))
            continue;
        char rel[300], exe[512];
        (void) snprintf(rel, sizeof(rel), "%s/exe", e->d_name);
        ssize_t len = readlinkat(proc_fd, rel, exe, sizeof(exe) - 1);
        if (len >= 0) {
            exe[len] = '\0';
            if (exe_is_sshd(exe))
                return 1;
            continue;
        }
        if (errno != EACCES && errno != EPERM)
            continue; /* gone, or a kernel thread (ENOENT) */
        /* Another user's process without the privilege to see its exe: its name says it. */
        posture_autofree char *comm = NULL;
        char path[300];
        (void) snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
        if (posture_read_line_at(ctx->root_fd, path, 64, &comm) >= 0 && strcmp(comm, "sshd") == 0)
            return 1;
    }
    return 0;
}

/* ---- Reading the config inside the root ---- */

/* glob(3) reads directories through these, inside the root of the running check. */
static _Thread_local int glob_root_fd = -1;

static void *glob_opendir(const char *path)
{
    DIR *d = NULL;
    int r = posture_opendir_at_root(glob_root_fd, path, &d);
    if (r < 0) {
        errno = -r;
        return NULL;
    }
    return d;
}

static struct dirent *glob_readdir(void *d)
{
    return readdir(d);
}

static void glob_closedir(void *d)
{
    (void) closedir(d);
}

static int glob_stat_at(const char *path, struct stat *st, bool follow)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dl = slash ? (size_t) (slash - path) : 0;
    if (dl >= sizeof(dir) || *base == '\0') {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    posture_autoclose int fd = -1;
    int r = posture_open_at_root(glob_root_fd, dl ? dir : "/", O_PATH | O_DIRECTORY, &fd);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    if (follow) {
        posture_autoclose int f = -1;
        char rel[4096];
        (void) snprintf(rel, sizeof(rel), "%s", path);
        r = posture_open_at_root(glob_root_fd, rel, O_PATH, &f);
        if (r < 0) {
            errno = -r;
            return -1;
        }
        return fstat(f, st);
    }
    return fstatat(fd, base, st, AT_SYMLINK_NOFOLLOW);
}

static int glob_lstat(const char *path, struct stat *st)
{
    return glob_stat_at(path, st, false);
}

static int glob_stat(const char *path, struct stat *st)
{
    return glob_stat_at(path, st, true);
}

static int root_glob(const char *pattern, char ***ret_paths, void *userdata)
{
    const struct posture_check_ctx *ctx = userdata;
    glob_t g = {
        .gl_closedir = glob_closedir,
        .gl_readdir = glob_readdir,
        .gl_opendir = glob_opendir,
        .gl_lstat = glob_lstat,
        .gl_stat = glob_stat,
    };
    glob_root_fd = ctx->root_fd;
    int r = glob(pattern, GLOB_ALTDIRFUNC, NULL, &g);
    glob_root_fd = -1;
    if (r == GLOB_NOMATCH) {
        globfree(&g);
        char **empty = calloc(1, sizeof(char *));
        if (!empty)
            return -ENOMEM;
        *ret_paths = empty;
        return 0;
    }
    if (r != 0) {
        globfree(&g);
        return r == GLOB_NOSPACE ? -ENOMEM : -EIO;
    }
    posture_auto_strv char **l = calloc(1, sizeof(char *));
    if (!l) {
        globfree(&g);
        return -ENOMEM;
    }
    for (size_t i = 0; i < g.gl_pathc && i < POSTURE_SSHD_FILES_MAX + 1; i++) {
        r = posture_strv_extend(&l, g.gl_pathv[i]);
        if (r < 0) {
            globfree(&g);
            return r;
        }
    }
    globfree(&g);
    *ret_paths = POSTURE_TAKE_PTR(l);
    return 0;
}

static int
root_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len, void *userdata)
{
    const struct posture_check_ctx *ctx = userdata;
    if (ctx->api->now_usec() >= ctx->deadline_usec)
        return -ETIMEDOUT;
    return posture_read_file_at(ctx->root_fd, path, max, ret_buf, ret_len);
}

/* ---- sshd -T ---- */

/* The judged values from `sshd -T`, or -errno with the reason in msg. */
static int run_sshd_t(const struct posture_check_ctx *ctx,
                      char *values[POSTURE_SSHD_KEY__MAX],
                      char *msg,
                      size_t msg_len)
{
    uint64_t now = ctx->api->now_usec();
    uint64_t timeout = now < ctx->deadline_usec ? (ctx->deadline_usec - now) / 2 : 0;
    if (timeout > TOOL_TIMEOUT_USEC)
        timeout = TOOL_TIMEOUT_USEC;
    if (timeout < 1000) {
        (void) snprintf(msg, msg_len, "no time left to run sshd -T");
        return -ETIMEDOUT;
    }
    return posture_sshd_t_run(SSHD_BIN, SSHD_CONFIG, timeout, values, msg, msg_len);
}

/* ---- Verdict ---- */

struct ssh_state {
    char *value[POSTURE_SSHD_KEY__MAX]; /* effective (defaults applied) */
    bool from_tool;
    char tool_error[ERROR_TEXT_MAX + 64];
    struct posture_sshd_config cfg;
    bool cfg_ok;
    char **ciphers;
    char **forbidden_enabled;
    char **match_weaker;
};

static void state_done(struct ssh_state *s)
{
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++)
        free(s->value[k]);
    posture_sshd_config_done(&s->cfg);
    (void) posture_strv_free(s->ciphers);
    (void) posture_strv_free(s->forbidden_enabled);
    (void) posture_strv_free(s->match_weaker);
}

static const char *const root_values[] = { "yes", "no", "prohibit-password", "without-password",
                                           "forced-commands-only" };

static bool value_known(int key, const char *v)
{
    if (key == POSTURE_SSHD_PERMIT_ROOT_LOGIN) {
        for (size_t i = 0; i < POSTURE_ELEMENTSOF(root_values); i++)
            if (strcmp(v, root_values[i]) == 0)
                return true;
        return false;
    }
    if (key == POSTURE_SSHD_CIPHERS)
        return *v != '\0';
    return strcmp(v, "yes") == 0 || strcmp(v, "no") == 0;
}

struct judge_opts {
    bool allow_root_key;
    bool allow_password;
    const char *const *forbidden;
    size_t n_forbidden;
};

/* The failing reason for one value ("" when it passes), in buf. */
static const char *
judge_value(const struct judge_opts *o, int key, const char *v, char *buf, size_t len)
{
    buf[0] = '\0';
    switch (key) {
    case POSTURE_SSHD_PERMIT_ROOT_LOGIN:
        if (strcmp(v, "yes") == 0)
            (void) snprintf(buf, len, "root may log in with a password (PermitRootLogin yes)");
        else if (!o->allow_root_key &&
                 (strcmp(v, "prohibit-password") == 0 || strcmp(v, "without-password") == 0))
            (void) snprintf(buf, len, "root may log in with a key (PermitRootLogin %s)", v);
        break;
    case POSTURE_SSHD_PASSWORD_AUTHENTICATION:
        if (!o->allow_password && strcmp(v, "yes") == 0)
            (void) snprintf(buf, len, "password logins are allowed (PasswordAuthentication yes)");
        break;
    case POSTURE_SSHD_PERMIT_EMPTY_PASSWORDS:
        if (strcmp(v, "yes") == 0)
            (void) snprintf(buf, len,
                            "accounts with empty passwords may log in (PermitEmptyPasswords yes)");
        break;
    default:
        break;
    }
    return buf;
}

static bool cipher_forbidden(const struct judge_opts *o, const char *c)
{
    for (size_t i = 0; i < o->n_forbidden; i++)
        if (fnmatch(o->forbidden[i], c, 0) == 0)
            return true;
    return false;
}

static int read_judge_opts(const struct posture_check_ctx *ctx, struct judge_opts *o)
{
    const struct posture_host_api *api = ctx->api;
    int r = api->option_get_bool(ctx, "allow_root_key_login", &o->allow_root_key);
    if (r >= 0)
        r = api->option_get_bool(ctx, "allow_password_authentication", &o->allow_password);
    if (r >= 0) {
        r = api->option_get_strv(ctx, "forbidden_ciphers", &o->forbidden, &o->n_forbidden);
        if (r == -ENODATA) {
            o->forbidden = NULL;
            o->n_forbidden = 0;
            r = 0;
        }
    }
    return r;
}

static int add_evidence(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        const struct ssh_state *s)
{
    const struct posture_host_api *api = ctx->api;
    int r = api->evidence_add_str(result, "source", s->from_tool ? "sshd -T" : "config");
    if (r >= 0 && !s->from_tool && s->tool_error[0])
        r = api->evidence_add_str(result, "sshd_t_error", s->tool_error);
    if (r >= 0)
        r = api->evidence_add_str(result, "permit_root_login",
                                  s->value[POSTURE_SSHD_PERMIT_ROOT_LOGIN]);
    if (r >= 0)
        r = api->evidence_add_str(result, "password_authentication",
                                  s->value[POSTURE_SSHD_PASSWORD_AUTHENTICATION]);
    if (r >= 0)
        r = api->evidence_add_str(result, "permit_empty_passwords",
                                  s->value[POSTURE_SSHD_PERMIT_EMPTY_PASSWORDS]);
    if (r >= 0)
        r = api->evidence_add_strv(result, "ciphers", (const char *const *) s->ciphers,
                                   posture_strv_length(s->ciphers));
    if (r >= 0)
        r = api->evidence_add_strv(result, "forbidden_ciphers_enabled",
                                   (const char *const *) s->forbidden_enabled,
                                   posture_strv_length(s->forbidden_enabled));
    if (r >= 0 && s->cfg_ok) {
        r = api->evidence_add_int(result, "match_blocks", s->cfg.n_match);
        if (r >= 0)
            r = api->evidence_begin_array(result, "match_settings");
        for (size_t i = 0; r >= 0 && i < s->cfg.n_match_settings; i++) {
            const struct posture_sshd_match_setting *m = &s->cfg.match_settings[i];
            r = api->evidence_begin_object(result, NULL);
            if (r >= 0)
                r = api->evidence_add_str(result, "keyword", posture_sshd_key_name(m->key));
            if (r >= 0)
                r = api->evidence_add_str(result, "value", m->value);
            if (r >= 0)
                r = api->evidence_add_str(result, "match", m->criteria);
            if (r >= 0)
                r = api->evidence_end(result);
        }
        if (r >= 0)
            r = api->evidence_end(result);
    } else if (r >= 0) {
        r = api->evidence_add_str(result, "match_blocks", NULL);
    }
    if (r >= 0)
        r = api->evidence_add_strv(result, "match_weaker", (const char *const *) s->match_weaker,
                                   posture_strv_length(s->match_weaker));
    if (r >= 0)
        r = api->evidence_add_strv(result, "files", (const char *const *) s->cfg.files,
                                   posture_strv_length(s->cfg.files));
    return r;
}

static int add_presence(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        bool installed,
                        char **units,
                        bool running)
{
    const struct posture_host_api *api = ctx->api;
    bool enabled = posture_strv_length(units) > 0;
    int r = api->evidence_add_bool(result, "installed", installed);
    if (r >= 0)
        r = api->evidence_add_bool(result, "enabled", enabled);
    if (r >= 0)
        r = api->evidence_add_strv(result, "enabled_units", (const char *const *) units,
                                   posture_strv_length(units));
    if (r >= 0)
        r = api->evidence_add_bool(result, "running", running);
    if (r >= 0)
        r = api->evidence_add_bool(result, "active", installed && (enabled || running));
    return r;
}

static int set_verdict(const struct posture_check_ctx *ctx,
                       struct posture_result *result,
                       const struct ssh_state *s,
                       const struct judge_opts *o)
{
    const struct posture_host_api *api = ctx->api;
    char reasons[REASON_MAX] = "";
    size_t used = 0;
    char buf[256];

    for (int k = 0; k < POSTURE_SSHD_CIPHERS; k++) {
        judge_value(o, k, s->value[k], buf, sizeof(buf));
        if (buf[0] && used < sizeof(reasons)) {
            int w = snprintf(reasons + used, sizeof(reasons) - used, "%s%s", used ? "; " : "", buf);
            used += w > 0 ? (size_t) w : 0;
        }
    }
    size_t nf = posture_strv_length(s->forbidden_enabled);
    if (nf > 0 && used < sizeof(reasons)) {
        int w = snprintf(reasons + used, sizeof(reasons) - used, "%ssshd offers %s cipher%s %s",
                         used ? "; " : "", nf == 1 ? "a forbidden" : "forbidden",
                         nf == 1 ? "" : "s", s->forbidden_enabled[0]);
        used += w > 0 ? (size_t) w : 0;
        for (size_t i = 1; i < nf && used < sizeof(reasons); i++) {
            w = snprintf(reasons + used, sizeof(reasons) - used, ", %s", s->forbidden_enabled[i]);
            used += w > 0 ? (size_t) w : 0;
        }
    }
    int r;
    if (used > 0) {
        r = api->set_reason(result, "%s", reasons);
        if (r >= 0)
            r = api->set_remediation(
                result, "Set PermitRootLogin prohibit-password (or no), PasswordAuthentication "
                        "no, PermitEmptyPasswords no and a Ciphers list without CBC or RC4 "
                        "ciphers in /etc/ssh/sshd_config.d/, then run sudo systemctl reload ssh.");
        if (r >= 0)
            r = api->set_status(result, POSTURE_STATUS_FAIL);
        return r;
    }
    size_t nw = posture_strv_length(s->match_weaker);
    if (nw > 0) {
        r = api->set_reason(result,
                            "the global settings are safe, but %zu Match block setting%s weaken%s "
                            "them for some connections: %s%s",
                            nw, nw == 1 ? "" : "s", nw == 1 ? "s" : "", s->match_weaker[0],
                            nw > 1 ? ", …" : "");
        if (r >= 0)
            r = api->set_remediation(result, "Review the Match blocks of the sshd config.");
        if (r >= 0)
            r = api->set_status(result, POSTURE_STATUS_WARN);
        return r;
    }
    r = api->set_reason(result,
                        "sshd (%s): PermitRootLogin %s, PasswordAuthentication %s, "
                        "PermitEmptyPasswords %s, no forbidden cipher",
                        s->from_tool ? "sshd -T" : "config",
                        s->value[POSTURE_SSHD_PERMIT_ROOT_LOGIN],
                        s->value[POSTURE_SSHD_PASSWORD_AUTHENTICATION],
                        s->value[POSTURE_SSHD_PERMIT_EMPTY_PASSWORDS]);
    if (r >= 0)
        r = api->set_status(result, POSTURE_STATUS_PASS);
    return r;
}

static int judge(const struct judge_opts *o, struct ssh_state *s)
{
    int r = posture_sshd_ciphers_effective(s->value[POSTURE_SSHD_CIPHERS], &s->ciphers);
    if (r < 0)
        return r;
    s->forbidden_enabled = calloc(1, sizeof(char *));
    s->match_weaker = calloc(1, sizeof(char *));
    if (!s->forbidden_enabled || !s->match_weaker)
        return -ENOMEM;
    POSTURE_FOREACH_STRV (c, s->ciphers) {
        if (cipher_forbidden(o, c)) {
            r = posture_strv_extend(&s->forbidden_enabled, c);
            if (r < 0)
                return r;
        }
    }
    for (size_t i = 0; s->cfg_ok && i < s->cfg.n_match_settings; i++) {
        const struct posture_sshd_match_setting *m = &s->cfg.match_settings[i];
        char buf[256], text[POSTURE_SSHD_VALUE_MAX * 2 + 64];
        bool weaker = false;
        if (m->key == POSTURE_SSHD_CIPHERS) {
            posture_auto_strv char **mc = NULL;
            if (posture_sshd_ciphers_effective(m->value, &mc) >= 0)
                POSTURE_FOREACH_STRV (c, mc)
                    weaker = weaker || cipher_forbidden(o, c);
        } else
            weaker = judge_value(o, (int) m->key, m->value, buf, sizeof(buf))[0] != '\0';
        if (!weaker)
            continue;
        (void) snprintf(text, sizeof(text), "%s %s (Match %s)", posture_sshd_key_name(m->key),
                        m->value, m->criteria);
        r = posture_strv_extend(&s->match_weaker, text);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
ssh_server_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    posture_auto_strv char **units = NULL;
    struct ssh_state s = { 0 };
    struct judge_opts o = { 0 };
    bool use_tool = true;
    int r;

    (void) state;
    r = read_judge_opts(ctx, &o);
    if (r >= 0)
        r = api->option_get_bool(ctx, "use_sshd_t", &use_tool);
    if (r < 0) {
        (void) api->set_reason(result, "the options cannot be read: %s", error_text(r));
        return r;
    }

    r = posture_exists_at_root(ctx->root_fd, SSHD_BIN);
    if (r < 0) {
        (void) api->set_reason(result, "cannot tell whether %s exists: %s", SSHD_BIN,
                               error_text(r));
        return r;
    }
    if (r == 0) {
        r = add_presence(ctx, result, false, NULL, false);
        if (r >= 0)
            r = api->set_reason(result, "no OpenSSH server is installed (%s)", SSHD_BIN);
        if (r >= 0)
            r = api->set_status(result, POSTURE_STATUS_NOT_APPLICABLE);
        return r;
    }
    units = calloc(1, sizeof(char *));
    if (!units)
        return -ENOMEM;
    r = find_enabled(ctx, &units);
    if (r < 0) {
        (void) api->set_reason(result, "cannot read %s: %s", SYSTEMD_DIR, error_text(r));
        return r;
    }
    int running = find_running(ctx);
    if (running < 0) {
        (void) api->set_reason(result, "cannot look for a running sshd in /proc: %s",
                               error_text(running));
        return running;
    }
    r = add_presence(ctx, result, true, units, running > 0);
    if (r < 0)
        return r;
    if (units[0] == NULL && running == 0) {
        r = api->set_reason(result, "sshd is installed but neither enabled nor running");
        if (r >= 0)
            r = api->set_status(result, POSTURE_STATUS_NOT_APPLICABLE);
        return r;
    }

    /* The config: always parsed (files, Match blocks); sshd -T first for the values. */
    struct posture_sshd_io io = {
        .read_file = root_read_file,
        .glob = root_glob,
        .userdata = (void *) ctx,
    };
    int pr = posture_sshd_config_parse(SSHD_CONFIG, &io, &s.cfg);
    s.cfg_ok = pr >= 0;
    if (use_tool && posture_root_is_host(ctx->root_fd)) {
        r = run_sshd_t(ctx, s.value, s.tool_error, sizeof(s.tool_error));
        s.from_tool = r >= 0;
        if (r < 0) {
            api->log_debug(ctx, "%s; reading the config instead", s.tool_error);
            for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++) {
                free(s.value[k]);
                s.value[k] = NULL;
            }
        }
    }
    if (!s.from_tool) {
        if (pr < 0) {
            if (s.cfg.error_line > 0)
                (void) api->set_reason(result, "%s line %u: %s%s%s", s.cfg.error_file,
                                       s.cfg.error_line, error_text(pr),
                                       s.tool_error[0] ? "; " : "", s.tool_error);
            else
                (void) api->set_reason(result, "%s: %s%s%s",
                                       s.cfg.error_file[0] ? s.cfg.error_file : SSHD_CONFIG,
                                       error_text(pr), s.tool_error[0] ? "; " : "", s.tool_error);
            r = pr;
            goto out;
        }
        r = posture_sshd_config_effective(&s.cfg, s.value);
        if (r < 0)
            goto out;
    }
    for (int k = 0; k < POSTURE_SSHD_CIPHERS; k++)
        if (!value_known(k, s.value[k])) {
            (void) api->set_reason(result, "%s %s is not a value sshd accepts",
                                   posture_sshd_key_name(k), s.value[k]);
            r = -EBADMSG;
            goto out;
        }
    r = judge(&o, &s);
    if (r == -EINVAL) {
        (void) api->set_reason(result, "Ciphers has an empty list");
        r = -EBADMSG;
    }
    if (r >= 0)
        r = add_evidence(ctx, result, &s);
    if (r >= 0)
        r = set_verdict(ctx, result, &s, &o);
out:
    state_done(&s);
    return r;
}

const struct posture_check_desc posture_check_ssh_server = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "ssh.server",
    .version = "1.0.0",
    .summary = "An enabled OpenSSH server refuses root and password logins, empty passwords and "
               "weak ciphers",
    .flags = 0,
    .options = ssh_server_options,
    .init = NULL,
    .run = ssh_server_run,
    .fini = NULL,
};
