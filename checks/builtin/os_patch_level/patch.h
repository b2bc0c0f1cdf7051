/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Internals of the os.patch_level check shared by its modules: the facts one run collects,
 * automatic-update detection (unattended-upgrades, dnf-automatic, yum-cron) and the RPM-family
 * collection through dnf / yum. Everything reads through a root fd.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Names of security packages listed in evidence and reasons (DESIGN.md §6). */
#define POSTURE_PATCH_SECURITY_NAMES_MAX 50
/* Files of etc/apt/apt.conf.d read at most, and bytes per file. */
#define POSTURE_PATCH_APTCONF_FILES_MAX 512
#define POSTURE_PATCH_CONF_FILE_MAX     ((size_t) 1024 * 1024)

/* Whether updates are installed automatically, and why (or why not). */
struct posture_auto_updates {
    bool on;
    const char *tool; /* "unattended-upgrades", "dnf-automatic", "yum-cron"; static */
    char *detail;     /* one clause, e.g. "APT::Periodic::Unattended-Upgrade is \"0\"" */
};
void posture_auto_updates_done(struct posture_auto_updates *a);

/*
 * Debian family: unattended-upgrades installed (uu_installed, from the dpkg status), apt's
 * APT::Periodic::Enable not 0, Update-Package-Lists and Unattended-Upgrade enabled in
 * etc/apt/apt.conf.d/ * and etc/apt/apt.conf (apt's file name rules and order; the last
 * assignment wins), and apt-daily.timer / apt-daily-upgrade.timer neither masked nor (on a
 * systemd system) disabled. Returns 0 or -ENOMEM / -ETIMEDOUT; unreadable files count as "off"
 * with the reason in detail.
 */
int posture_auto_updates_apt(int root_fd,
                             bool uu_installed,
                             uint64_t deadline_usec,
                             struct posture_auto_updates *ret);

/*
 * RPM family: dnf-automatic-install.timer enabled, or dnf-automatic.timer / dnf5-automatic.timer
 * enabled with apply_updates = yes in [commands] of etc/dnf/automatic.conf; yum-cron.service
 * enabled with apply_updates = yes in etc/yum/yum-cron.conf. Returns 0 or -ENOMEM.
 */
int posture_auto_updates_rpm(int root_fd, struct posture_auto_updates *ret);

/* State of a systemd unit in etc/systemd/system of the root. */
enum posture_unit_state {
    POSTURE_UNIT_ENABLED,   /* linked from etc/systemd/system/<wants_dir>/ */
    POSTURE_UNIT_DISABLED,  /* not linked, on a root with etc/systemd/system/<wants_dir>/ */
    POSTURE_UNIT_MASKED,    /* etc/systemd/system/<unit> is /dev/null or empty */
    POSTURE_UNIT_NO_SYSTEMD /* no etc/systemd/system/<wants_dir>/: not managed by systemd */
};
enum posture_unit_state posture_unit_state(int root_fd, const char *unit, const char *wants_dir);

/*
 * Read a [section] key from an INI file text (dnf's automatic.conf, yum-cron.conf): the last
 * assignment wins, "key = value" or "key: value", '#' and ';' comment lines. Returns 1 with
 * *ret (malloc'ed), 0 when absent, -ENOMEM.
 */
int posture_ini_lookup(const char *text, const char *section, const char *key, char **ret);

/* RPM family: what dnf / yum said. */
struct posture_dnf_facts {
    size_t pending;
    size_t pending_security;
    char **security_names; /* sorted strv, all of them */
};
void posture_dnf_facts_done(struct posture_dnf_facts *f);

/*
 * Run `<tool> -C -q updateinfo list --security` and `<tool> -C -q check-update` (yum 3:
 * "updateinfo list security"), each within timeout_usec, cache-only (never the network).
 * tool is "dnf" or "yum". On failure *ret_why (malloc'ed, may stay NULL) says what happened in
 * one clause, e.g. "dnf exited with status 1: Error: Cache-only enabled but no cache for
 * 'fedora'". Errors: -ENOENT (tool missing), -ETIMEDOUT, -EIO (non-zero exit), -EBADMSG
 * (output not understood), -E2BIG (output over the cap), -ENOMEM.
 */
int posture_dnf_collect(const char *tool,
                        uint64_t timeout_usec,
                        const char *native_arch,
                        struct posture_dnf_facts *ret,
                        char **ret_why);

/* Newest mtime (epoch s) of dnf's / yum's repository metadata (repomd.xml) under the root's
 * var/cache; 0 when none is found. */
uint64_t posture_dnf_metadata_mtime(int root_fd);

/*
 * Kernel releases installed on an RPM-family root: the names of usr/lib/modules/<release>/
 * directories that contain a vmlinuz (Fedora, RHEL 8+), else of boot/vmlinuz-<release> files
 * (RHEL 7; rescue images excluded). Returns the count (strv in *ret).
 */
int posture_rpm_kernels(int root_fd, char ***ret);
