/* SPDX-License-Identifier: Apache-2.0 */
/*
 * screen.lock (issue 7): does every active graphical session lock its screen after an idle
 * time no longer than max_idle?
 *
 *  - Sessions: logind's /run/systemd/sessions/<id> (KEY=value lines), read under the root.
 *    A session counts when TYPE is x11 or wayland, ACTIVE=1 (the foreground session of its
 *    seat) and CLASS is not a greeter. None: not_applicable (servers, nobody logged in).
 *  - The user's home: /etc/passwd under the root, by UID (USER= as a fallback).
 *  - GNOME and desktops on its settings (DESKTOP= gnome, ubuntu, unity, budgie, pop, ...): the
 *    dconf keys /org/gnome/desktop/screensaver/lock-enabled (default true),
 *    /org/gnome/desktop/session/idle-delay (seconds, default 300, 0 = never idle),
 *    /org/gnome/desktop/screensaver/lock-delay (seconds after the blank, default 0) and
 *    /org/gnome/desktop/lockdown/disable-lock-screen (default false), read from the databases
 *    of the dconf profile /etc/dconf/profile/user (default: only user-db:user), the user's
 *    ~/.config/dconf/<name> and /etc/dconf/db/<name>, with their locks: a key locked in a
 *    system database is read from that database on, so the user's value does not count. The
 *    databases are GVDB files, read by screen_lock/gvdb.c.
 *  - KDE Plasma: ~/.config/kscreenlockerrc, then /etc/xdg/kscreenlockerrc: [Daemon]
 *    Autolock (default true), Timeout (minutes, default 5; 0 = never), LockOnResume.
 *  - Any other desktop (sway, Hyprland, XFCE, Cinnamon, MATE, LXQt, none given): error "cannot
 *    tell whether <desktop> locks the screen", never pass.
 * A session fails when the lock is off, the idle delay is 0 or idle + lock delay is above
 * max_idle. The check fails when one session fails, is an error when one cannot be judged (and
 * none fails), and passes otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "posture/check.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/parse.h"

#include "screen_lock/gvdb.h"

#define SESSIONS_DIR     "/run/systemd/sessions"
#define SESSION_FILE_MAX ((size_t) 64 << 10)
#define SESSIONS_MAX     4096u
#define PASSWD_MAX       ((size_t) 8 << 20)
#define PROFILE_MAX      ((size_t) 64 << 10)
#define DCONF_DB_MAX     ((size_t) 16 << 20)
#define DCONF_DBS_MAX    16u
#define KDE_RC_MAX       ((size_t) 256 << 10)
#define FIELD_MAX        256u
#define PATH_BUF         4096u

#define KEY_LOCK_ENABLED "/org/gnome/desktop/screensaver/lock-enabled"
#define KEY_LOCK_DELAY   "/org/gnome/desktop/screensaver/lock-delay"
#define KEY_IDLE_DELAY   "/org/gnome/desktop/session/idle-delay"
#define KEY_DISABLE_LOCK "/org/gnome/desktop/lockdown/disable-lock-screen"

static const struct posture_option screen_lock_options[] = {
    { POSTURE_OPTION_DURATION, "max_idle", "15m",
      "Longest idle time before the screen locks; longer, or never, fails" },
    { 0 },
};

enum kind { KIND_UNKNOWN, KIND_GNOME, KIND_KDE };

struct session {
    char id[FIELD_MAX];
    char user[FIELD_MAX];
    char type[FIELD_MAX];
    char desktop[FIELD_MAX];
    uint32_t uid;
    bool has_uid;
    enum kind kind;
    /* findings */
    int status; /* enum posture_status */
    char reason[1024];
    const char *source;
    int lock_enabled;                                  /* -1 unknown */
    int64_t idle_delay_s, lock_delay_s, locks_after_s; /* -1 unknown; locks_after 0 = never */
    char files[DCONF_DBS_MAX + 2][PATH_BUF / 4];
    size_t n_files;
};

/* Thread-safe text for an errno (strerror() is not). */
static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

/* ---- Sessions ---- */

static void copy_field(char *dst, const char *src, size_t len)
{
    size_t n = strnlen(src, FIELD_MAX - 1);
    if (n > len)
        n = len;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Parse one session file; *ret_counts is set when it is an active graphical user session. */
static void parse_session(char *buf, struct session *s, bool *ret_counts)
{
    bool active = false, greeter = false;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *v = eq + 1;
        size_t vl = strlen(v);
        if (strcmp(line, "ACTIVE") == 0)
            active = strcmp(v, "1") == 0;
        else if (strcmp(line, "TYPE") == 0)
            copy_field(s->type, v, vl);
        else if (strcmp(line, "USER") == 0)
            copy_field(s->user, v, vl);
        else if (strcmp(line, "DESKTOP") == 0)
            copy_field(s->desktop, v, vl);
        else if (strcmp(line, "CLASS") == 0)
            greeter = strncmp(v, "greeter", 7) == 0 || strcmp(v, "lock-screen") == 0;
        else if (strcmp(line, "UID") == 0)
            s->has_uid = posture_parse_u32(v, &s->uid) >= 0;
    }
    *ret_counts =
        active && !greeter && (strcmp(s->type, "x11") == 0 || strcmp(s->type, "wayland") == 0);
}

static bool word_in(const char *desktop, const char *const *names)
{
    /* DESKTOP may be a colon-separated list ("ubuntu:GNOME"): any entry decides. */
    char buf[FIELD_MAX];
    (void) snprintf(buf, sizeof(buf), "%s", desktop);
    char *save = NULL;
    for (char *w = strtok_r(buf, ":", &save); w; w = strtok_r(NULL, ":", &save))
        for (size_t i = 0; names[i]; i++) {
            size_t n = strlen(names[i]);
            bool prefix = names[i][n - 1] == '*';
            if (prefix ? strncasecmp(w, names[i], n - 1) == 0 : strcasecmp(w, names[i]) == 0)
                return true;
        }
    return false;
}

static enum kind classify(const char *desktop)
{
    static const char *const gnome[] = { "gnome*", "ubuntu", "unity", "budgie*", "pop", NULL };
    static const char *const kde[] = { "kde", "plasma*", NULL };
    if (word_in(desktop, kde))
        return KIND_KDE;
    if (word_in(desktop, gnome))
        return KIND_GNOME;
    return KIND_UNKNOWN;
}

/* ---- Home directories ---- */

/* The home of uid (or of name when uid is unknown) from the root's /etc/passwd. */
static int
find_home(const struct posture_check_ctx *ctx, const struct session *s, char *home, size_t len)
{
    posture_autofree char *buf = NULL;
    int r = posture_read_file_at(ctx->root_fd, "/etc/passwd", PASSWD_MAX, &buf, NULL);
    if (r < 0)
        return r;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[7] = { 0 };
        size_t n = 0;
        char *p = line;
        while (n < 7) {
            f[n++] = p;
            char *c = strchr(p, ':');
            if (!c)
                break;
            *c = '\0';
            p = c + 1;
        }
        uint32_t uid;
        if (n < 6 || posture_parse_u32(f[2], &uid) < 0)
            continue;
        bool match = s->has_uid ? uid == s->uid : strcmp(f[0], s->user) == 0;
        if (!match || f[5][0] != '/')
            continue;
        if ((size_t) snprintf(home, len, "%s", f[5]) >= len)
            return -ENAMETOOLONG;
        return 0;
    }
    return -ESRCH;
}

/* ---- GNOME: dconf ---- */

struct dconf_db {
    char path[PATH_BUF / 4];
    char *data;
    struct posture_gvdb_table root;
    struct posture_gvdb_table locks;
    bool has_locks;
};

static void add_file(struct session *s, const char *path)
{
    if (s->n_files < POSTURE_ELEMENTSOF(s->files))
        (void) snprintf(s->files[s->n_files++], sizeof(s->files[0]), "%s", path);
}

/* The databases of the profile, in order: [0] is the user's. Returns how many. */
static int read_profile(const struct posture_check_ctx *ctx,
                        const char *home,
                        struct dconf_db *dbs,
                        size_t max)
{
    posture_autofree char *buf = NULL;
    size_t n = 0;
    int r = posture_read_file_at(ctx->root_fd, "/etc/dconf/profile/user", PROFILE_MAX, &buf, NULL);
    if (r == -ENOENT) {
        if ((size_t) snprintf(dbs[0].path, sizeof(dbs[0].path), "%s/.config/dconf/user", home) >=
            sizeof(dbs[0].path))
            return -ENAMETOOLONG;
        return 1;
    }
    if (r < 0)
        return r;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line && n < max;
         line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t");
        line[strcspn(line, " \t\r#")] = '\0';
        int w = -1;
        if (strncmp(line, "user-db:", 8) == 0 && !strchr(line + 8, '/'))
            w = snprintf(dbs[n].path, sizeof(dbs[n].path), "%s/.config/dconf/%s", home, line + 8);
        else if (strncmp(line, "system-db:", 10) == 0 && !strchr(line + 10, '/'))
            w = snprintf(dbs[n].path, sizeof(dbs[n].path), "/etc/dconf/db/%s", line + 10);
        else if (strncmp(line, "file-db:", 8) == 0 && line[8] == '/')
            w = snprintf(dbs[n].path, sizeof(dbs[n].path), "%s", line + 8);
        if (w > 0 && (size_t) w < sizeof(dbs[n].path))
            n++;
    }
    return (int) n;
}

/* Which database answers key: the first that locks it (from index 1 on), else 0. Then the first
 * database from there on that has it. Returns its index, or -1 for none (the default). */
static int answering_db(const struct dconf_db *dbs, size_t n, const char *key)
{
    size_t start = 0;
    for (size_t i = 1; i < n; i++)
        if (dbs[i].data && dbs[i].has_locks && posture_gvdb_has_key(&dbs[i].locks, key) > 0) {
            start = i;
            break;
        }
    for (size_t i = start; i < n; i++)
        if (dbs[i].data && posture_gvdb_has_key(&dbs[i].root, key) > 0)
            return (int) i;
    return -1;
}

static int dconf_bool(const struct dconf_db *dbs, size_t n, const char *key, bool def, bool *ret)
{
    int i = answering_db(dbs, n, key);
    if (i < 0) {
        *ret = def;
        return 0;
    }
    return posture_gvdb_get_bool(&dbs[i].root, key, ret, NULL, 0);
}

static int
dconf_u32(const struct dconf_db *dbs, size_t n, const char *key, uint32_t def, uint32_t *ret)
{
    int i = answering_db(dbs, n, key);
    if (i < 0) {
        *ret = def;
        return 0;
    }
    return posture_gvdb_get_u32(&dbs[i].root, key, ret, NULL, 0);
}

static int judge_gnome(const struct posture_check_ctx *ctx, struct session *s, const char *home)
{
    struct dconf_db dbs[DCONF_DBS_MAX] = { 0 };
    bool lock_enabled = true, disabled = false;
    uint32_t idle = 300, delay = 0;
    int r = read_profile(ctx, home, dbs, DCONF_DBS_MAX);
    if (r < 0) {
        (void) snprintf(s->reason, sizeof(s->reason), "/etc/dconf/profile/user: %s", error_text(r));
        return r;
    }
    size_t n = (size_t) r;
    s->source = "dconf";
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        r = posture_read_file_at(ctx->root_fd, dbs[i].path, DCONF_DB_MAX, &dbs[i].data, &len);
        if (r == -ENOENT)
            continue; /* never written, or not compiled */
        if (r >= 0) {
            add_file(s, dbs[i].path);
            r = posture_gvdb_open(dbs[i].data, len, &dbs[i].root);
        }
        if (r >= 0) {
            int l = posture_gvdb_get_table(&dbs[i].root, ".locks", &dbs[i].locks);
            dbs[i].has_locks = l >= 0;
            if (l < 0 && l != -ENOENT)
                r = l;
        }
        if (r < 0) {
            (void) snprintf(s->reason, sizeof(s->reason), "%.600s: %s", dbs[i].path,
                            r == -EBADMSG ? "not a valid dconf database" : error_text(r));
            goto out;
        }
    }
    const char *bad = KEY_LOCK_ENABLED;
    r = dconf_bool(dbs, n, KEY_LOCK_ENABLED, true, &lock_enabled);
    if (r >= 0) {
        bad = KEY_DISABLE_LOCK;
        r = dconf_bool(dbs, n, KEY_DISABLE_LOCK, false, &disabled);
    }
    if (r >= 0) {
        bad = KEY_IDLE_DELAY;
        r = dconf_u32(dbs, n, KEY_IDLE_DELAY, 300, &idle);
    }
    if (r >= 0) {
        bad = KEY_LOCK_DELAY;
        r = dconf_u32(dbs, n, KEY_LOCK_DELAY, 0, &delay);
    }
    if (r < 0) {
        (void) snprintf(s->reason, sizeof(s->reason), "dconf key %s: %s", bad,
                        r == -EMEDIUMTYPE ? "a value of the wrong type"
                        : r == -EBADMSG   ? "a corrupt dconf database"
                                          : error_text(r));
        goto out;
    }
    s->lock_enabled = lock_enabled && !disabled;
    s->idle_delay_s = idle;
    s->lock_delay_s = delay;
    r = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(dbs[i].data);
    return r;
}

/* ---- KDE ---- */

/* key in [Daemon] of an INI text; -ENOENT when absent. */
static int ini_get(char *buf, const char *key, char *value, size_t len)
{
    bool in_daemon = false;
    int found = -ENOENT;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t");
        line[strcspn(line, "\r")] = '\0';
        if (line[0] == '[') {
            in_daemon = strncmp(line, "[Daemon]", 8) == 0;
            continue;
        }
        char *eq = strchr(line, '=');
        if (!in_daemon || !eq || found == 0)
            continue;
        char *k = line, *ke = eq;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        /* "Timeout[$i]" marks an immutable key; the name is what counts */
        char *bracket = memchr(k, '[', (size_t) (ke - k));
        if (bracket)
            ke = bracket;
        if ((size_t) (ke - k) != strlen(key) || strncmp(k, key, (size_t) (ke - k)) != 0)
            continue;
        const char *v = eq + 1 + strspn(eq + 1, " \t");
        (void) snprintf(value, len, "%s", v);
        size_t vl = strlen(value);
        while (vl > 0 && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
            value[--vl] = '\0';
        found = 0;
    }
    return found;
}

/* key of [Daemon]: the user's file first, then the system's. -ENOENT in neither. */
static int kde_value(char *const *bufs, const char *key, char *value, size_t len)
{
    for (size_t i = 0; i < 2; i++) {
        if (!bufs[i])
            continue;
        char *copy = strdup(bufs[i]); /* ini_get() cuts lines in place */
        if (!copy)
            return -ENOMEM;
        int r = ini_get(copy, key, value, len);
        free(copy);
        if (r == 0)
            return 0;
    }
    return -ENOENT;
}

static int judge_kde(const struct posture_check_ctx *ctx, struct session *s, const char *home)
{
    char user_rc[PATH_BUF / 4];
    if ((size_t) snprintf(user_rc, sizeof(user_rc), "%s/.config/kscreenlockerrc", home) >=
        sizeof(user_rc)) {
        (void) snprintf(s->reason, sizeof(s->reason), "the home directory of %s is too long",
                        s->user);
        return -ENAMETOOLONG;
    }
    const char *const files[2] = { user_rc, "/etc/xdg/kscreenlockerrc" };
    char *bufs[2] = { NULL, NULL };
    int r = 0;

    s->source = "kscreenlockerrc";
    for (size_t i = 0; i < 2 && r >= 0; i++) {
        r = posture_read_file_at(ctx->root_fd, files[i], KDE_RC_MAX, &bufs[i], NULL);
        if (r == -ENOENT)
            r = 0;
        else if (r >= 0)
            add_file(s, files[i]);
        else
            (void) snprintf(s->reason, sizeof(s->reason), "%.600s: %s", files[i], error_text(r));
    }
    char v[64];
    bool autolock = true;
    uint32_t minutes = 5;
    if (r >= 0) {
        r = kde_value(bufs, "Autolock", v, sizeof(v));
        if (r == 0 && posture_parse_bool(v, &autolock) < 0) {
            (void) snprintf(s->reason, sizeof(s->reason),
                            "kscreenlockerrc: Autolock=%s is not "
                            "a boolean",
                            v);
            r = -EBADMSG;
        } else if (r == -ENOENT)
            r = 0;
    }
    if (r >= 0) {
        r = kde_value(bufs, "Timeout", v, sizeof(v));
        if (r == 0 && (posture_parse_u32(v, &minutes) < 0 || minutes > 1000000)) {
            (void) snprintf(s->reason, sizeof(s->reason),
                            "kscreenlockerrc: Timeout=%s is not "
                            "a number of minutes",
                            v);
            r = -EBADMSG;
        } else if (r == -ENOENT)
            r = 0;
    }
    free(bufs[0]);
    free(bufs[1]);
    if (r < 0)
        return r;
    s->lock_enabled = autolock;
    s->idle_delay_s = (int64_t) minutes * 60;
    s->lock_delay_s = 0;
    return 0;
}

/* ---- Per session ---- */

static void judge_session(const struct posture_check_ctx *ctx, struct session *s, uint64_t max_s)
{
    char home[PATH_BUF / 4];
    s->lock_enabled = -1;
    s->idle_delay_s = s->lock_delay_s = s->locks_after_s = -1;
    s->status = POSTURE_STATUS_ERROR;
    s->kind = classify(s->desktop);
    if (s->kind == KIND_UNKNOWN) {
        if (s->desktop[0])
            (void) snprintf(s->reason, sizeof(s->reason), "cannot tell whether %s locks the screen",
                            s->desktop);
        else
            (void) snprintf(s->reason, sizeof(s->reason),
                            "cannot tell whether the screen locks: the session names no desktop");
        return;
    }
    int r = find_home(ctx, s, home, sizeof(home));
    if (r < 0) {
        (void) snprintf(s->reason, sizeof(s->reason), "no home directory for %s in /etc/passwd%s%s",
                        s->user[0] ? s->user : "the session's user", r == -ESRCH ? "" : ": ",
                        r == -ESRCH ? "" : error_text(r));
        return;
    }
    r = s->kind == KIND_GNOME ? judge_gnome(ctx, s, home) : judge_kde(ctx, s, home);
    if (r < 0)
        return;

    s->locks_after_s =
        s->lock_enabled && s->idle_delay_s > 0 ? s->idle_delay_s + s->lock_delay_s : 0;
    const char *what = s->kind == KIND_GNOME ? "GNOME" : "KDE";
    s->status = POSTURE_STATUS_FAIL;
    if (!s->lock_enabled)
        (void) snprintf(s->reason, sizeof(s->reason), "%s does not lock the screen of %s", what,
                        s->user);
    else if (s->idle_delay_s == 0)
        (void) snprintf(s->reason, sizeof(s->reason),
                        "%s never locks the screen of %s: the idle delay is 0 (never)", what,
                        s->user);
    else if ((uint64_t) s->locks_after_s > max_s)
        (void) snprintf(s->reason, sizeof(s->reason),
                        "%s locks the screen of %s after %" PRId64 " s idle, more than %" PRIu64
                        " s",
                        what, s->user, s->locks_after_s, max_s);
    else {
        s->status = POSTURE_STATUS_PASS;
        (void) snprintf(s->reason, sizeof(s->reason),
                        "%s locks the screen of %s after %" PRId64 " s idle", what, s->user,
                        s->locks_after_s);
    }
}

static int add_session_evidence(const struct posture_check_ctx *ctx,
                                struct posture_result *result,
                                const struct session *s)
{
    const struct posture_host_api *api = ctx->api;
    static const char *const status_word[] = {
        [POSTURE_STATUS_PASS] = "pass",   [POSTURE_STATUS_WARN] = "warn",
        [POSTURE_STATUS_FAIL] = "fail",   [POSTURE_STATUS_NOT_APPLICABLE] = "not_applicable",
        [POSTURE_STATUS_ERROR] = "error",
    };
    int r = api->evidence_begin_object(result, NULL);
    if (r >= 0)
        r = api->evidence_add_str(result, "id", s->id);
    if (r >= 0)
        r = api->evidence_add_str(result, "user", s->user[0] ? s->user : NULL);
    if (r >= 0)
        r = s->has_uid ? api->evidence_add_int(result, "uid", s->uid)
                       : api->evidence_add_str(result, "uid", NULL);
    if (r >= 0)
        r = api->evidence_add_str(result, "type", s->type);
    if (r >= 0)
        r = api->evidence_add_str(result, "desktop", s->desktop[0] ? s->desktop : NULL);
    if (r >= 0)
        r = api->evidence_add_str(result, "source", s->source);
    if (r >= 0)
        r = s->lock_enabled < 0 ? api->evidence_add_str(result, "lock_enabled", NULL)
                                : api->evidence_add_bool(result, "lock_enabled", s->lock_enabled);
    static const char *const ints[] = { "idle_delay_s", "lock_delay_s", "locks_after_s" };
    const int64_t vals[] = { s->idle_delay_s, s->lock_delay_s, s->locks_after_s };
    for (size_t i = 0; r >= 0 && i < 3; i++)
        r = vals[i] < 0 ? api->evidence_add_str(result, ints[i], NULL)
                        : api->evidence_add_int(result, ints[i], vals[i]);
    if (r >= 0) {
        const char *files[POSTURE_ELEMENTSOF(s->files)];
        for (size_t i = 0; i < s->n_files; i++)
            files[i] = s->files[i];
        r = api->evidence_add_strv(result, "files", files, s->n_files);
    }
    if (r >= 0)
        r = api->evidence_add_str(result, "status", status_word[s->status]);
    if (r >= 0)
        r = api->evidence_add_str(result, "reason", s->reason);
    if (r >= 0)
        r = api->evidence_end(result);
    return r;
}

static int session_cmp(const void *a, const void *b)
{
    return strcmp(((const struct session *) a)->id, ((const struct session *) b)->id);
}

static int
screen_lock_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    posture_autofree struct session *sessions = NULL;
    size_t n = 0, cap = 0;
    uint64_t max_usec = 0;
    int r;

    (void) state;
    r = api->option_get_u64(ctx, "max_idle", &max_usec);
    if (r < 0 || max_usec < 1000000) {
        (void) api->set_reason(result, "Invalid option max_idle: it must be at least 1s");
        (void) api->set_remediation(result, "Set a duration such as 15m.");
        return r < 0 ? r : -EINVAL;
    }
    uint64_t max_s = max_usec / 1000000;

    posture_autoclosedir DIR *d = NULL;
    r = posture_opendir_at_root(ctx->root_fd, SESSIONS_DIR, &d);
    if (r < 0 && r != -ENOENT && r != -ENOTDIR) {
        (void) api->set_reason(result, "cannot read %s: %s", SESSIONS_DIR, error_text(r));
        return r;
    }
    unsigned seen = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (++seen > SESSIONS_MAX) {
            (void) api->set_reason(result, "more than %u entries in %s", SESSIONS_MAX,
                                   SESSIONS_DIR);
            return -E2BIG;
        }
        if (e->d_name[0] == '.' || strchr(e->d_name, '.') || strlen(e->d_name) >= FIELD_MAX)
            continue; /* *.ref pipes and temporary files */
        char path[PATH_BUF];
        (void) snprintf(path, sizeof(path), SESSIONS_DIR "/%s", e->d_name);
        posture_autofree char *buf = NULL;
        r = posture_read_file_at(ctx->root_fd, path, SESSION_FILE_MAX, &buf, NULL);
        if (r == -ENOENT || r == -EISDIR)
            continue; /* the session ended meanwhile */
        if (r < 0) {
            (void) api->set_reason(result, "cannot read %s: %s", path, error_text(r));
            return r;
        }
        if (n == cap) {
            struct session *ns = reallocarray(sessions, cap + 4, sizeof(*ns));
            if (!ns)
                return -ENOMEM;
            sessions = ns;
            cap += 4;
        }
        struct session *s = &sessions[n];
        memset(s, 0, sizeof(*s));
        copy_field(s->id, e->d_name, strlen(e->d_name));
        bool counts = false;
        parse_session(buf, s, &counts);
        if (counts)
            n++;
    }
    if (n > 1)
        qsort(sessions, n, sizeof(*sessions), session_cmp);

    size_t n_fail = 0, n_error = 0;
    const struct session *first_fail = NULL, *first_error = NULL, *first_pass = NULL;
    for (size_t i = 0; i < n; i++) {
        if (api->now_usec() >= ctx->deadline_usec) {
            (void) api->set_reason(result, "the deadline passed while reading the sessions");
            return -ETIMEDOUT;
        }
        judge_session(ctx, &sessions[i], max_s);
        if (sessions[i].status == POSTURE_STATUS_FAIL && !n_fail++)
            first_fail = &sessions[i];
        if (sessions[i].status == POSTURE_STATUS_ERROR && !n_error++)
            first_error = &sessions[i];
        if (sessions[i].status == POSTURE_STATUS_PASS && !first_pass)
            first_pass = &sessions[i];
    }

    r = api->evidence_add_int(result, "max_idle_s", (int64_t) max_s);
    if (r >= 0)
        r = api->evidence_begin_array(result, "sessions");
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = add_session_evidence(ctx, result, &sessions[i]);
    if (r >= 0)
        r = api->evidence_end(result);
    if (r < 0)
        return r;

    if (n == 0) {
        r = api->set_reason(result, "no graphical session is active");
        if (r >= 0)
            r = api->set_status(result, POSTURE_STATUS_NOT_APPLICABLE);
        return r;
    }
    if (first_fail) {
        r = n_fail > 1 ? api->set_reason(result, "%s (and %zu more sessions)", first_fail->reason,
                                         n_fail - 1)
                       : api->set_reason(result, "%s", first_fail->reason);
        if (r >= 0)
            r = api->set_remediation(
                result, first_fail->kind == KIND_KDE
                            ? "In System Settings > Screen Locking, turn on \"Lock screen "
                              "automatically\" after at most the allowed minutes."
                            : "In Settings > Privacy > Screen Lock, turn on Automatic Screen Lock "
                              "and set Blank Screen Delay to at most the allowed time (gsettings "
                              "set org.gnome.desktop.session idle-delay 300).");
        if (r >= 0)
            r = api->set_status(result, POSTURE_STATUS_FAIL);
        return r;
    }
    if (first_error) {
        (void) api->set_reason(result, "%s", first_error->reason);
        return first_error->kind == KIND_UNKNOWN ? -EOPNOTSUPP : -EBADMSG;
    }
    r = n > 1 ? api->set_reason(result,
                                "%zu graphical sessions lock the screen after at most %" PRIu64
                                " s idle",
                                n, max_s)
              : api->set_reason(result, "%s", first_pass ? first_pass->reason : "");
    if (r >= 0)
        r = api->set_status(result, POSTURE_STATUS_PASS);
    return r;
}

const struct posture_check_desc posture_check_screen_lock = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "screen.lock",
    .version = "1.0.0",
    .summary = "Every active graphical session locks its screen after at most max_idle (GNOME, "
               "KDE)",
    .flags = 0,
    .options = screen_lock_options,
    .init = NULL,
    .run = screen_lock_run,
    .fini = NULL,
};
