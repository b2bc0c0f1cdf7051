/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mac.enforcing (issue 7): a mandatory access control LSM, AppArmor or SELinux, is enabled and
 * enforcing. Everything is read inside the root (sysfs, securityfs, /etc/selinux/config), so
 * fixture trees stand in for a kernel.
 *
 *  - LSM list: /sys/kernel/security/lsm (evidence only; null when securityfs is not mounted).
 *  - SELinux: selinuxfs at /sys/fs/selinux with a policy loaded (its class/ directory is filled
 *    when a policy loads). enforce = 1 is enforcing, 0 is permissive: permissive logs denials
 *    and enforces nothing, so it FAILS (like Secure Boot's audit mode). Enforcing while
 *    /etc/selinux/config says SELINUX=permissive or disabled WARNS: the next boot will not
 *    enforce.
 *  - AppArmor: /sys/module/apparmor/parameters/enabled = Y, and the profiles of
 *    /sys/kernel/security/apparmor/profiles ("name (mode)" lines): enforce and kill count as
 *    enforced, complain is counted apart. At least min_enforced_profiles (default 1) enforced
 *    profiles PASS; fewer FAIL (complain-only profiles log and allow, as permissive does).
 *    Reading the profile list needs euid 0 or group 0 (the kernel's policy_view_capable); as
 *    another user the modes are read from policy/profiles/<name>/mode, which has no such check,
 *    and only when that fails too is the result ERROR naming the privilege, never a verdict.
 *  - SELinux with a policy decides when present; otherwise AppArmor when enabled; otherwise
 *    FAIL: neither is enabled. No sysfs at all is ERROR.
 *
 * Evidence: mac, enforcing, persistent, lsm, selinux_enabled, selinux_enforce, selinux_config,
 * apparmor_enabled, apparmor_profiles, apparmor_enforce, apparmor_complain,
 * min_enforced_profiles.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/check.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"

#define LSM_FILE            "/sys/kernel/security/lsm"
#define SELINUX_ENFORCE     "/sys/fs/selinux/enforce"
#define SELINUX_CLASS       "/sys/fs/selinux/class"
#define SELINUX_CONFIG      "/etc/selinux/config"
#define AA_ENABLED          "/sys/module/apparmor/parameters/enabled"
#define AA_PROFILES         "/sys/kernel/security/apparmor/profiles"
#define AA_POLICY_PROFILES  "/sys/kernel/security/apparmor/policy/profiles"
#define POLICY_PROFILES_MAX 65536u
#define LSM_MAX             32u
#define LINE_MAX_BYTES      4096u
#define CONFIG_MAX          (64u * 1024u)
#define PROFILES_MAX        (16u * 1024u * 1024u)
#define MODE_MAX            32u
#define CLASS_ENTRIES       4u

struct mac_state {
    /* LSM list */
    char *lsm_buf;
    const char *lsm[LSM_MAX];
    size_t n_lsm;
    bool have_lsm;
    /* SELinux */
    bool selinuxfs;      /* enforce file readable */
    bool selinux_policy; /* a policy is loaded */
    bool selinux_enforce;
    char selinux_config[MODE_MAX]; /* "" when unknown */
    /* AppArmor */
    int aa_enabled; /* 1, 0, -1 when AppArmor is not in the kernel */
    bool aa_listed; /* the profiles were read */
    int64_t aa_profiles, aa_enforce, aa_complain;
    int64_t min_enforced;
};

static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

static void read_lsm(const struct posture_check_ctx *ctx, struct mac_state *m)
{
    if (posture_read_line_at(ctx->root_fd, LSM_FILE, LINE_MAX_BYTES, &m->lsm_buf) < 0)
        return;
    m->have_lsm = true;
    for (char *p = m->lsm_buf, *next; p && *p && m->n_lsm < LSM_MAX; p = next) {
        next = strchr(p, ',');
        if (next)
            *next++ = '\0';
        if (*p)
            m->lsm[m->n_lsm++] = p;
    }
}

/* SELINUX= of /etc/selinux/config, lower case, into m->selinux_config ("" when unknown). */
static void read_selinux_config(const struct posture_check_ctx *ctx, struct mac_state *m)
{
    posture_autofree char *buf = NULL;

    if (posture_read_file_at(ctx->root_fd, SELINUX_CONFIG, CONFIG_MAX, &buf, NULL) < 0)
        return;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line += strspn(line, " \t");
        if (strncmp(line, "SELINUX=", 8) != 0)
            continue;
        char *v = line + 8;
        v += strspn(v, "\"' \t");
        size_t n = strcspn(v, "\"' \t\r#");
        if (n == 0 || n >= sizeof(m->selinux_config))
            continue;
        for (size_t i = 0; i < n; i++)
            m->selinux_config[i] = (char) tolower((unsigned char) v[i]);
        m->selinux_config[n] = '\0'; /* the last assignment wins */
    }
}

/* 0, or the error reading a file that exists. */
static int read_selinux(const struct posture_check_ctx *ctx, struct mac_state *m)
{
    posture_autofree char *enforce = NULL;
    posture_autoclosedir DIR *d = NULL;

    int r = posture_read_line_at(ctx->root_fd, SELINUX_ENFORCE, LINE_MAX_BYTES, &enforce);
    if (r == -ENOENT || r == -ENOTDIR)
        return 0;
    if (r < 0)
        return r;
    if (strcmp(enforce, "1") != 0 && strcmp(enforce, "0") != 0)
        return -EBADMSG;
    m->selinuxfs = true;
    m->selinux_enforce = enforce[0] == '1';
    if (posture_opendir_at_root(ctx->root_fd, SELINUX_CLASS, &d) >= 0) {
        size_t n = 0;
        for (struct dirent *de; (de = readdir(d)) && n < CLASS_ENTRIES; n++)
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                m->selinux_policy = true;
                break;
            }
    }
    read_selinux_config(ctx, m);
    return 0;
}

/* Count the "name (mode)" lines of the AppArmor profile list. */
static void count_profiles(char *buf, struct mac_state *m)
{
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t n = strlen(line);
        while (n > 0 && isspace((unsigned char) line[n - 1]))
            line[--n] = '\0';
        char *open = strrchr(line, '(');
        if (n == 0 || !open || line[n - 1] != ')' || open == line)
            continue;
        line[n - 1] = '\0';
        const char *mode = open + 1;
        m->aa_profiles++;
        if (strcmp(mode, "enforce") == 0 || strcmp(mode, "kill") == 0)
            m->aa_enforce++;
        else if (strcmp(mode, "complain") == 0)
            m->aa_complain++;
    }
}

/*
 * The profiles through policy/profiles/<name>.<n>/mode, which the kernel lets anyone read
 * (profiles/ itself requires euid 0 or group 0: policy_view_capable()). 0 when listed, <0 when
 * the directory cannot be read.
 */
static int read_policy_modes(const struct posture_check_ctx *ctx, struct mac_state *m)
{
    posture_autoclosedir DIR *d = NULL;
    int64_t profiles = 0, enforce = 0, complain = 0;

    int r = posture_opendir_at_root(ctx->root_fd, AA_POLICY_PROFILES, &d);
    if (r < 0)
        return r;
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        char path[512];
        posture_autofree char *mode = NULL;
        if (de->d_name[0] == '.')
            continue;
        if (++n > POLICY_PROFILES_MAX)
            break;
        if (n % 64 == 0 && ctx->api->now_usec() >= ctx->deadline_usec)
            return -ETIMEDOUT;
        int w = snprintf(path, sizeof(path), "%s/%s/mode", AA_POLICY_PROFILES, de->d_name);
        if (w < 0 || (size_t) w >= sizeof(path))
            continue;
        r = posture_read_line_at(ctx->root_fd, path, MODE_MAX, &mode);
        if (r < 0)
            return r; /* one unreadable profile: no count is trustworthy */
        profiles++;
        if (strcmp(mode, "enforce") == 0 || strcmp(mode, "kill") == 0)
            enforce++;
        else if (strcmp(mode, "complain") == 0)
            complain++;
    }
    m->aa_listed = true;
    m->aa_profiles = profiles;
    m->aa_enforce = enforce;
    m->aa_complain = complain;
    return 0;
}

/* 0, or the error reading a file that should be there. */
static int read_apparmor(const struct posture_check_ctx *ctx, struct mac_state *m)
{
    posture_autofree char *enabled = NULL, *profiles = NULL;

    m->aa_enabled = -1;
    int r = posture_read_line_at(ctx->root_fd, AA_ENABLED, LINE_MAX_BYTES, &enabled);
    if (r == -ENOENT || r == -ENOTDIR)
        return 0;
    if (r < 0)
        return r;
    if (strcmp(enabled, "Y") != 0 && strcmp(enabled, "N") != 0)
        return -EBADMSG;
    m->aa_enabled = enabled[0] == 'Y';
    if (!m->aa_enabled)
        return 0;
    r = ctx->api->read_file_at(ctx, AA_PROFILES, PROFILES_MAX, &profiles, NULL);
    if (r == -EACCES || r == -EPERM) {
        /* Only root may open the list; the per-profile mode files have no such check. */
        int k = read_policy_modes(ctx, m);
        return k == -ETIMEDOUT ? k : k < 0 ? r : 0;
    }
    if (r < 0)
        return r;
    m->aa_listed = true;
    count_profiles(profiles, m);
    return 0;
}

static int add_evidence(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        const struct mac_state *m,
                        const char *mac,
                        bool enforcing,
                        int persistent)
{
    const struct posture_host_api *api = ctx->api;

    int r = api->evidence_add_str(result, "mac", mac);
    if (r >= 0)
        r = api->evidence_add_bool(result, "enforcing", enforcing);
    if (r >= 0)
        r = persistent < 0 ? api->evidence_add_str(result, "persistent", NULL)
                           : api->evidence_add_bool(result, "persistent", persistent == 1);
    if (r >= 0)
        r = m->have_lsm ? api->evidence_add_strv(result, "lsm", m->lsm, m->n_lsm)
                        : api->evidence_add_str(result, "lsm", NULL);
    if (r >= 0)
        r = api->evidence_add_bool(result, "selinux_enabled", m->selinuxfs && m->selinux_policy);
    if (r >= 0)
        r = m->selinuxfs ? api->evidence_add_bool(result, "selinux_enforce", m->selinux_enforce)
                         : api->evidence_add_str(result, "selinux_enforce", NULL);
    if (r >= 0)
        r = api->evidence_add_str(result, "selinux_config",
                                  m->selinux_config[0] ? m->selinux_config : NULL);
    if (r >= 0)
        r = m->aa_enabled < 0 ? api->evidence_add_str(result, "apparmor_enabled", NULL)
                              : api->evidence_add_bool(result, "apparmor_enabled", m->aa_enabled);
    if (m->aa_listed) {
        if (r >= 0)
            r = api->evidence_add_int(result, "apparmor_profiles", m->aa_profiles);
        if (r >= 0)
            r = api->evidence_add_int(result, "apparmor_enforce", m->aa_enforce);
        if (r >= 0)
            r = api->evidence_add_int(result, "apparmor_complain", m->aa_complain);
    } else {
        if (r >= 0)
            r = api->evidence_add_str(result, "apparmor_profiles", NULL);
        if (r >= 0)
            r = api->evidence_add_str(result, "apparmor_enforce", NULL);
        if (r >= 0)
            r = api->evidence_add_str(result, "apparmor_complain", NULL);
    }
    if (r >= 0)
        r = api->evidence_add_int(result, "min_enforced_profiles", m->min_enforced);
    return r;
}

#define ENABLE_MAC                                                                           \
    "Enable a MAC: AppArmor on Debian and Ubuntu (sudo apt install apparmor apparmor-utils " \
    "apparmor-profiles, no apparmor=0 on the kernel command line, then sudo aa-enforce "     \
    "/etc/apparmor.d/*), or SELinux on Fedora and RHEL (SELINUX=enforcing in "               \
    "/etc/selinux/config, sudo touch /.autorelabel and reboot)."

static int decide(const struct posture_check_ctx *ctx,
                  struct posture_result *result,
                  const struct mac_state *m)
{
    const struct posture_host_api *api = ctx->api;
    int r;

    if (m->selinuxfs && m->selinux_policy) {
        int persistent = -1;
        if (m->selinux_config[0])
            persistent = strcmp(m->selinux_config, "enforcing") == 0;
        r = add_evidence(ctx, result, m, "selinux", m->selinux_enforce, persistent);
        if (r < 0)
            return r;
        if (!m->selinux_enforce) {
            (void) api->set_reason(result, "SELinux is in permissive mode: it logs denials but "
                                           "enforces nothing");
            (void) api->set_remediation(result,
                                        "Run sudo setenforce 1 and set SELINUX=enforcing in "
                                        "/etc/selinux/config (check the denials first: sudo "
                                        "ausearch -m avc -ts recent).");
            return api->set_status(result, POSTURE_STATUS_FAIL);
        }
        if (persistent == 0) {
            (void) api->set_reason(result,
                                   "SELinux enforces, but /etc/selinux/config says "
                                   "SELINUX=%s, so it will not after the next boot",
                                   m->selinux_config);
            (void) api->set_remediation(result, "Set SELINUX=enforcing in /etc/selinux/config.");
            return api->set_status(result, POSTURE_STATUS_WARN);
        }
        r = api->set_reason(result, "SELinux is enabled and enforcing");
        return r < 0 ? r : api->set_status(result, POSTURE_STATUS_PASS);
    }
    if (m->aa_enabled == 1) {
        bool enough = m->aa_enforce >= m->min_enforced;
        r = add_evidence(ctx, result, m, "apparmor", enough, -1);
        if (r < 0)
            return r;
        if (!enough) {
            (void) api->set_reason(result,
                                   "AppArmor is enabled, but only %lld of its %lld profiles "
                                   "enforce (%lld in complain mode); at least %lld must",
                                   (long long) m->aa_enforce, (long long) m->aa_profiles,
                                   (long long) m->aa_complain, (long long) m->min_enforced);
            (void) api->set_remediation(result, "Load and enforce profiles: sudo apt install "
                                                "apparmor-profiles, then sudo aa-enforce "
                                                "/etc/apparmor.d/* (aa-status lists the modes).");
            return api->set_status(result, POSTURE_STATUS_FAIL);
        }
        r = api->set_reason(result,
                            "AppArmor is enabled and enforces %lld profile%s (%lld in complain "
                            "mode)",
                            (long long) m->aa_enforce, m->aa_enforce == 1 ? "" : "s",
                            (long long) m->aa_complain);
        return r < 0 ? r : api->set_status(result, POSTURE_STATUS_PASS);
    }
    r = add_evidence(ctx, result, m, NULL, false, -1);
    if (r < 0)
        return r;
    if (m->selinuxfs)
        (void) api->set_reason(result, "SELinux is in the kernel but has no policy loaded, and "
                                       "AppArmor is not enabled: no mandatory access control");
    else if (m->aa_enabled == 0)
        (void) api->set_reason(result, "AppArmor is disabled (apparmor.enabled=N) and SELinux is "
                                       "not enabled: no mandatory access control");
    else
        (void) api->set_reason(result, "Neither AppArmor nor SELinux is enabled: no mandatory "
                                       "access control");
    (void) api->set_remediation(result, ENABLE_MAC);
    return api->set_status(result, POSTURE_STATUS_FAIL);
}

static int read_error(const struct posture_check_ctx *ctx,
                      struct posture_result *result,
                      const struct mac_state *m,
                      const char *what,
                      int r)
{
    const struct posture_host_api *api = ctx->api;

    (void) add_evidence(ctx, result, m, NULL, false, -1);
    if ((r == -EACCES || r == -EPERM) && strcmp(what, AA_PROFILES) == 0) {
        (void) api->set_reason(result,
                               "Cannot read %s (%s): listing the AppArmor profiles needs root "
                               "(uid 0 or group 0)",
                               what, error_text(r));
        (void) api->set_remediation(result, "Run the agent as root, or in group root "
                                            "(SupplementaryGroups=root in its unit).");
    } else if (r == -EACCES || r == -EPERM) {
        (void) api->set_reason(result, "Cannot read %s (%s): it needs root", what, error_text(r));
        (void) api->set_remediation(result, "Run the agent as root.");
    } else if (r == -EBADMSG) {
        (void) api->set_reason(result, "%s holds an unexpected value", what);
        (void) api->set_remediation(result, "Check the kernel's LSM setup.");
    } else if (r == -ENOENT && strcmp(what, AA_PROFILES) == 0) {
        (void) api->set_reason(result, "AppArmor is enabled, but securityfs is not mounted at "
                                       "/sys/kernel/security, so its profiles cannot be listed");
        (void) api->set_remediation(result, "Mount securityfs: sudo mount -t securityfs securityfs "
                                            "/sys/kernel/security.");
    } else {
        (void) api->set_reason(result, "Cannot read %s: %s", what, error_text(r));
        (void) api->set_remediation(result, "Check that sysfs and securityfs are mounted.");
    }
    return r;
}

static int
mac_enforcing_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    struct mac_state m = { .aa_enabled = -1 };

    (void) state;
    int r = api->option_get_int(ctx, "min_enforced_profiles", &m.min_enforced);
    if (r < 0 || m.min_enforced < 0) {
        (void) api->set_reason(result, "Invalid option min_enforced_profiles: %s",
                               r < 0 ? error_text(r) : "it must not be negative");
        (void) api->set_remediation(result, "Set min_enforced_profiles in [check.mac.enforcing] "
                                            "to a number of profiles, such as 1.");
        return r < 0 ? r : -EINVAL;
    }
    if (posture_exists_at_root(ctx->root_fd, "/sys/kernel") <= 0 &&
        posture_exists_at_root(ctx->root_fd, "/sys/module") <= 0 &&
        posture_exists_at_root(ctx->root_fd, "/sys/fs") <= 0) {
        (void) add_evidence(ctx, result, &m, NULL, false, -1);
        (void) api->set_reason(result, "sysfs is not mounted at /sys, so the LSMs cannot be read");
        (void) api->set_remediation(result, "Mount sysfs at /sys.");
        return -ENOENT;
    }
    read_lsm(ctx, &m);
    r = read_selinux(ctx, &m);
    if (r < 0)
        r = read_error(ctx, result, &m, SELINUX_ENFORCE, r);
    else if (!(m.selinuxfs && m.selinux_policy)) {
        r = read_apparmor(ctx, &m);
        if (r < 0)
            r = read_error(ctx, result, &m, m.aa_enabled == 1 ? AA_PROFILES : AA_ENABLED, r);
    }
    if (r >= 0)
        r = decide(ctx, result, &m);
    free(m.lsm_buf);
    return r;
}

static const struct posture_option options[] = {
    { POSTURE_OPTION_INT, "min_enforced_profiles", "1",
      "AppArmor: profiles in enforce mode needed to pass" },
    { 0, NULL, NULL, NULL },
};

const struct posture_check_desc posture_check_mac_enforcing = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "mac.enforcing",
    .version = "1.0.0",
    .summary = "AppArmor or SELinux is enabled and enforcing",
    .flags = 0, /* AppArmor's root-only profile list has an unprivileged fallback */
    .options = options,
    .init = NULL,
    .run = mac_enforcing_run,
    .fini = NULL,
};
