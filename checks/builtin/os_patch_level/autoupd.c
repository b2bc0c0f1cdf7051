/* SPDX-License-Identifier: Apache-2.0 */
/* Are updates installed automatically? unattended-upgrades, dnf-automatic, yum-cron. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/parse.h"
#include "posture/strutil.h"
#include "posture/strv.h"
#include "posture/time_util.h"

#include "aptconf.h"
#include "patch.h"

#define SYSTEMD_DIR "etc/systemd/system"

void posture_auto_updates_done(struct posture_auto_updates *a)
{
    if (!a)
        return;
    free(a->detail);
    *a = (struct posture_auto_updates){ 0 };
}

/* ---- systemd units ---- */

enum posture_unit_state posture_unit_state(int root_fd, const char *unit, const char *wants_dir)
{
    posture_autoclose int dfd = -1;
    struct stat st;

    if (posture_open_at_root(root_fd, SYSTEMD_DIR, O_PATH | O_DIRECTORY, &dfd) < 0)
        return POSTURE_UNIT_NO_SYSTEMD;

    /* Masked: a link to /dev/null (systemctl mask) or an empty file. */
    char target[64];
    ssize_t n = readlinkat(dfd, unit, target, sizeof(target) - 1);
    if (n > 0) {
        target[n] = '\0';
        if (strcmp(target, "/dev/null") == 0)
            return POSTURE_UNIT_MASKED;
    } else if (fstatat(dfd, unit, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
               st.st_size == 0) {
        return POSTURE_UNIT_MASKED;
    }

    posture_autoclose int wfd =
        openat(dfd, wants_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (wfd < 0)
        return POSTURE_UNIT_NO_SYSTEMD;
    if (fstatat(wfd, unit, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return POSTURE_UNIT_ENABLED;
    return POSTURE_UNIT_DISABLED;
}

/* ---- apt ---- */

struct periodic {
    char *enable;
    char *update_lists;
    char *unattended;
    const char *last_file; /* borrowed: the file being parsed */
    char *enable_file, *update_lists_file, *unattended_file;
};

static void periodic_done(struct periodic *p)
{
    free(p->enable);
    free(p->update_lists);
    free(p->unattended);
    free(p->enable_file);
    free(p->update_lists_file);
    free(p->unattended_file);
}

static int assign(char **slot, char **slot_file, const char *value, const char *file)
{
    char *v = NULL, *f = NULL;
    if (value && (!(v = strdup(value)) || !(f = strdup(file)))) {
        free(v);
        return -ENOMEM;
    }
    free(*slot);
    free(*slot_file);
    *slot = v;
    *slot_file = f;
    return 0;
}

static int on_aptconf(const char *key, const char *value, void *userdata)
{
    struct periodic *p = userdata;
    static const char *const keys[] = { "APT::Periodic::Enable",
                                        "APT::Periodic::Update-Package-Lists",
                                        "APT::Periodic::Unattended-Upgrade" };
    char **slots[] = { &p->enable, &p->update_lists, &p->unattended };
    char **files[] = { &p->enable_file, &p->update_lists_file, &p->unattended_file };

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(keys); i++) {
        /* "#clear APT::Periodic" drops everything below it. */
        bool hit = value ? strcasecmp(key, keys[i]) == 0 : posture_aptconf_key_below(keys[i], key);
        if (!hit)
            continue;
        int r = assign(slots[i], files[i], value, p->last_file);
        if (r < 0)
            return r;
    }
    return 0;
}

/* apt's rules for files in a parts directory (GetListOfFilesInDir with "conf" or none). */
static bool aptconf_name_ok(const char *name)
{
    if (name[0] == '.')
        return false;
    const char *dot = strrchr(name, '.');
    if (dot && strcmp(dot + 1, "conf") != 0)
        return false;
    for (const char *c = name; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == ':' || *c == '.';
        if (!ok)
            return false;
    }
    return name[strlen(name) - 1] != '.';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The apt.conf.d file names apt reads, sorted. -ENOENT when the directory is missing. */
static int list_parts(int root_fd, const char *dir, char ***ret)
{
    posture_auto_strv char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = NULL;

    int r = posture_opendir_at_root(root_fd, dir, &d);
    if (r < 0)
        return r;

    struct dirent *de;
    r = 0;
    while ((de = readdir(d))) {
        if (!aptconf_name_ok(de->d_name))
            continue;
        if (de->d_type != DT_REG && de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
            continue;
        if (n >= POSTURE_PATCH_APTCONF_FILES_MAX) {
            r = -E2BIG;
            break;
        }
        if (n + 1 >= cap) {
            size_t c = cap ? cap * 2 : 32;
            char **v = realloc(names, c * sizeof(*v));
            if (!v) {
                r = -ENOMEM;
                break;
            }
            names = v;
            cap = c;
        }
        if (!(names[n] = strdup(de->d_name))) {
            r = -ENOMEM;
            break;
        }
        names[++n] = NULL;
    }
    (void) closedir(d);
    if (r < 0)
        return r;
    if (!names && !(names = calloc(1, sizeof(char *))))
        return -ENOMEM;
    qsort(names, n, sizeof(char *), cmp_str);
    *ret = POSTURE_TAKE_PTR(names);
    return (int) n;
}

/* Parse one apt.conf file into p. Returns 0, or a negative errno with *why set. */
static int read_aptconf(int root_fd, const char *path, struct periodic *p, char **why)
{
    posture_autofree char *buf = NULL;
    size_t len = 0;

    int r = posture_read_file_at(root_fd, path, POSTURE_PATCH_CONF_FILE_MAX, &buf, &len);
    if (r == -ENOENT || r == -EISDIR || r == -ELOOP)
        return 0;
    if (r < 0) {
        if (r == -ENOMEM)
            return r;
        int k = posture_set_printf(why, "cannot read /%s (%s)", path, posture_errno_name(r));
        return k < 0 ? k : r;
    }
    p->last_file = path;
    r = posture_aptconf_parse(buf, len, on_aptconf, p);
    p->last_file = NULL;
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        /* apt refuses to run at all with a broken configuration file. */
        int k =
            posture_set_printf(why, "/%s is not valid apt.conf syntax (%s), so apt does not run",
                               path, posture_errno_name(r));
        return k < 0 ? k : r;
    }
    return 0;
}

static const char *unit_word(enum posture_unit_state s)
{
    switch (s) {
    case POSTURE_UNIT_MASKED:
        return "masked";
    case POSTURE_UNIT_DISABLED:
        return "disabled";
    default:
        return "enabled";
    }
}

int posture_auto_updates_apt(int root_fd,
                             bool uu_installed,
                             uint64_t deadline_usec,
                             struct posture_auto_updates *ret)
{
    struct posture_auto_updates a = { .tool = "unattended-upgrades" };
    struct periodic p = { 0 };
    posture_auto_strv char **parts = NULL;
    posture_autofree char *why = NULL;
    int r = 0;

    if (!uu_installed) {
        r = posture_set_printf(&a.detail, "unattended-upgrades is not installed");
        goto out;
    }

    int n = list_parts(root_fd, "etc/apt/apt.conf.d", &parts);
    if (n < 0 && n != -ENOENT && n != -ENOTDIR) {
        if (n == -ENOMEM) {
            r = n;
            goto out;
        }
        r = posture_set_printf(&a.detail, "cannot list /etc/apt/apt.conf.d (%s)",
                               posture_errno_name(n));
        goto out;
    }
    for (int i = 0; i < n && !why; i++) {
        char path[300];
        if (deadline_usec > 0 && posture_now_usec(CLOCK_MONOTONIC) > deadline_usec) {
            r = -ETIMEDOUT;
            goto out;
        }
        if (snprintf(path, sizeof(path), "etc/apt/apt.conf.d/%s", parts[i]) >= (int) sizeof(path))
            continue;
        r = read_aptconf(root_fd, path, &p, &why);
        if (r == -ENOMEM)
            goto out;
    }
    if (!why) {
        r = read_aptconf(root_fd, "etc/apt/apt.conf", &p, &why);
        if (r == -ENOMEM)
            goto out;
    }
    r = 0;

    if (why) {
        a.detail = POSTURE_TAKE_PTR(why);
        goto out;
    }
    if (p.enable) {
        uint64_t v;
        if (posture_parse_u64(p.enable, &v) >= 0 && v == 0) {
            r = posture_set_printf(&a.detail, "APT::Periodic::Enable is \"0\" in /%s",
                                   p.enable_file);
            goto out;
        }
    }
    if (!posture_aptconf_interval_enabled(p.update_lists)) {
        if (p.update_lists)
            r = posture_set_printf(&a.detail,
                                   "APT::Periodic::Update-Package-Lists is \"%s\" in /%s",
                                   p.update_lists, p.update_lists_file);
        else
            r = posture_set_printf(&a.detail, "APT::Periodic::Update-Package-Lists is not set");
        goto out;
    }
    if (!posture_aptconf_interval_enabled(p.unattended)) {
        if (p.unattended)
            r = posture_set_printf(&a.detail, "APT::Periodic::Unattended-Upgrade is \"%s\" in /%s",
                                   p.unattended, p.unattended_file);
        else
            r = posture_set_printf(&a.detail, "APT::Periodic::Unattended-Upgrade is not set");
        goto out;
    }
    static const char *const timers[] = { "apt-daily.timer", "apt-daily-upgrade.timer" };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(timers); i++) {
        enum posture_unit_state s = posture_unit_state(root_fd, timers[i], "timers.target.wants");
        if (s == POSTURE_UNIT_MASKED || s == POSTURE_UNIT_DISABLED) {
            r = posture_set_printf(&a.detail, "%s is %s", timers[i], unit_word(s));
            goto out;
        }
    }
    a.on = true;
    r = posture_set_printf(&a.detail,
                           "unattended-upgrades is installed and APT::Periodic enables it "
                           "(Update-Package-Lists \"%s\", Unattended-Upgrade \"%s\")",
                           p.update_lists, p.unattended);
out:
    periodic_done(&p);
    if (r < 0) {
        posture_auto_updates_done(&a);
        return r;
    }
    *ret = a;
    return 0;
}

/* ---- INI (dnf, yum-cron) ---- */

static char *trim_span(char *s, char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *end = '\0';
    return s;
}

int posture_ini_lookup(const char *text, const char *section, const char *key, char **ret)
{
    posture_autofree char *copy = strdup(text ? text : "");
    posture_autofree char *found = NULL;
    bool in_section = false;

    if (!copy)
        return -ENOMEM;
    for (char *line = copy, *next; line; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        char *end = nl ? nl : line + strlen(line);
        char *s = trim_span(line, end);
        if (*s == '#' || *s == ';' || *s == '\0')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (close) {
                *close = '\0';
                in_section = strcmp(s + 1, section) == 0;
            }
            continue;
        }
        if (!in_section)
            continue;
        size_t klen = strcspn(s, "=:");
        if (s[klen] == '\0')
            continue;
        char *k = trim_span(s, s + klen);
        char *v = s + klen + 1;
        v = trim_span(v, v + strlen(v));
        if (strcmp(k, key) != 0)
            continue;
        char *d = strdup(v);
        if (!d)
            return -ENOMEM;
        free(found);
        found = d;
    }
    if (!found)
        return 0;
    *ret = POSTURE_TAKE_PTR(found);
    return 1;
}

/* apply_updates of an INI file: 1 yes, 0 no or absent, <0 -ENOMEM; *ret_value for messages. */
static int apply_updates(int root_fd, const char *path, const char *section, char **ret_value)
{
    posture_autofree char *buf = NULL;
    posture_autofree char *v = NULL;
    bool b = false;

    *ret_value = NULL;
    int r = posture_read_file_at(root_fd, path, POSTURE_PATCH_CONF_FILE_MAX, &buf, NULL);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return 0;
    r = posture_ini_lookup(buf, section, "apply_updates", &v);
    if (r <= 0)
        return r;
    if (posture_parse_bool(v, &b) < 0)
        b = false;
    *ret_value = POSTURE_TAKE_PTR(v);
    return b ? 1 : 0;
}

int posture_auto_updates_rpm(int root_fd, struct posture_auto_updates *ret)
{
    struct posture_auto_updates a = { .tool = "dnf-automatic" };
    posture_autofree char *value = NULL;
    int r;

    /* dnf 4's dnf-automatic-install.timer installs whatever the configuration says. */
    if (posture_unit_state(root_fd, "dnf-automatic-install.timer", "timers.target.wants") ==
        POSTURE_UNIT_ENABLED) {
        a.on = true;
        r = posture_set_printf(&a.detail, "dnf-automatic-install.timer is enabled");
        goto out;
    }
    static const char *const timers[] = { "dnf-automatic.timer", "dnf5-automatic.timer" };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(timers); i++) {
        if (posture_unit_state(root_fd, timers[i], "timers.target.wants") != POSTURE_UNIT_ENABLED)
            continue;
        r = apply_updates(root_fd, "etc/dnf/automatic.conf", "commands", &value);
        if (r < 0)
            goto out;
        a.on = r > 0;
        if (a.on)
            r = posture_set_printf(
                &a.detail, "%s is enabled and /etc/dnf/automatic.conf sets apply_updates = %s",
                timers[i], value);
        else if (value)
            r = posture_set_printf(
                &a.detail, "%s is enabled but /etc/dnf/automatic.conf sets apply_updates = %s",
                timers[i], value);
        else
            r = posture_set_printf(&a.detail,
                                   "%s is enabled but /etc/dnf/automatic.conf does not set "
                                   "apply_updates = yes (it only downloads or notifies)",
                                   timers[i]);
        goto out;
    }
    /* RHEL / CentOS 7. */
    if (posture_unit_state(root_fd, "yum-cron.service", "multi-user.target.wants") ==
        POSTURE_UNIT_ENABLED) {
        a.tool = "yum-cron";
        r = apply_updates(root_fd, "etc/yum/yum-cron.conf", "commands", &value);
        if (r < 0)
            goto out;
        a.on = r > 0;
        r = posture_set_printf(
            &a.detail, "yum-cron.service is enabled and /etc/yum/yum-cron.conf %s",
            a.on ? "sets apply_updates = yes" : "does not set apply_updates = yes");
        goto out;
    }
    r = posture_set_printf(&a.detail, "neither dnf-automatic nor yum-cron is enabled");
out:
    if (r < 0) {
        posture_auto_updates_done(&a);
        return r;
    }
    *ret = a;
    return 0;
}
