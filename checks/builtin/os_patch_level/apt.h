/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Pending updates of a Debian-family system, computed in process from the dpkg status file and
 * apt's lists (DESIGN.md §6), the way `apt-get -s upgrade` decides them with apt's default
 * policy. Everything is read through a root fd (--root), streaming, with bounded memory.
 *
 * Sources: <root>/var/lib/dpkg/status; <root>/var/lib/apt/lists/ *_Packages[.lz4|.gz|.xz] and
 * the *_InRelease / *_Release file that each list belongs to (suite, codename, origin, label,
 * NotAutomatic / ButAutomaticUpgrades, and whether it is a security suite).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POSTURE_APT_SECURITY_NAMES_MAX 50

struct posture_apt_opts {
    const char *dpkg_status; /* default "var/lib/dpkg/status" (relative to the root) */
    const char *lists_dir;   /* default "var/lib/apt/lists" */
    const char *native_arch; /* dpkg's native architecture; NULL: the Architecture of the
                                installed "dpkg" package, else the build's (e.g. "amd64") */
    uint64_t deadline_usec;  /* CLOCK_MONOTONIC; -ETIMEDOUT past it; 0: none */
};

struct posture_apt_update {
    char *name; /* "libc6" or "libc6:i386" for a foreign architecture */
    char *installed_version;
    char *candidate_version;
    bool security; /* the candidate version is offered by a security suite */
};

/* An installed linux-image-<release> package (<release> starts with a digit). */
struct posture_apt_kernel {
    char *release; /* "6.1.0-28-amd64": what `uname -r` prints when it runs */
    char *version; /* the package version, "6.1.119-1" */
};

struct posture_apt_result {
    /* Packages apt counts as installed: dpkg status installed, unpacked, half-configured or
     * triggers-*, whatever the selection (hold, deinstall and purge too: apt-get upgrade
     * upgrades those). */
    size_t installed;
    size_t lists;                       /* Packages lists read (not those of other arches) */
    size_t pending;                     /* installed packages whose candidate is newer */
    size_t pending_security;            /* ... whose candidate comes from a security suite */
    struct posture_apt_update *updates; /* all pending, sorted by name */
    size_t n_updates;
    char *newest_kernel;         /* package version of the newest installed kernel, or NULL */
    char *newest_kernel_release; /* its release ("6.1.0-28-amd64"), or NULL */
    char **kernel_packages;      /* NULL-terminated: installed linux-image-<release> names */
    struct posture_apt_kernel *kernels; /* the same kernels, newest version first */
    size_t n_kernels;
    uint64_t lists_updated_at; /* newest mtime (epoch s) of a list, a Release file or apt's
                                  update stamps in var/lib/apt/periodic; 0 if none */
};

/*
 * Compute. Candidates follow apt's default policy (apt_preferences(5) without preferences
 * files): a list has priority 500, 1 with "NotAutomatic: yes", 100 with "NotAutomatic: yes" and
 * "ButAutomaticUpgrades: yes"; the installed version has at least 100; the candidate is the
 * version of highest priority, the highest version among equals, never below the installed one.
 * A Release file is a security suite when its Suite or Codename ends in "-security" or its
 * Origin or Label contains "Security". InRelease signatures are not verified (apt did that
 * before it moved the file into its lists).
 *
 * Not applied (as of now): preferences files and APT::Default-Release (pins), Ubuntu's phased
 * updates (a phased candidate counts as pending), and sources.list: every list in the lists
 * directory is read, also one whose source was removed since the last `apt update` (which
 * deletes such lists). Packages lists of architectures no installed package has are not read;
 * a list's architecture comes from its name (binary-<arch>), a stanza's from its Architecture
 * field ("all" is the native one).
 *
 * On success *ret is filled (the caller calls posture_apt_result_done()) and *ret_where, when
 * ret_where is not NULL, is set to NULL. On failure *ret is untouched and *ret_where is set to
 * the root-relative path of the offending file (malloc'ed, the caller frees it) or to NULL when
 * no file is to blame.
 * Errors: -ENOENT when the dpkg status file is missing (not a dpkg system); -EBADMSG for a
 * malformed status file, list or Release file (also corrupt or truncated compressed data);
 * -EOPNOTSUPP for a list compressed in a format we do not read (.bz2, .lzma, .zst); -ETIMEDOUT;
 * -ENOMEM; -E2BIG when a bound is exceeded (lines, values, decompressed size, counts); the
 * errors of opening a file inside the root (-EACCES, -ELOOP, ...). A missing lists directory
 * is not an error: nothing is pending.
 */
int posture_apt_compute(int root_fd,
                        const struct posture_apt_opts *opts,
                        struct posture_apt_result *ret,
                        char **ret_where);
/* Free the contents; NULL-safe, and safe to call twice. */
void posture_apt_result_done(struct posture_apt_result *r);

/* Debian version ordering (deb-version(7)): <0, 0, >0 like strcmp. Invalid versions sort by
 * the same rules applied to their bytes (never crashes): a total order on all strings; NULL
 * sorts like "". */
int posture_debversion_compare(const char *a, const char *b);
/* Syntax check of a version string as dpkg's parser applies it (its warnings are errors here;
 * no blanks): 0 or -EINVAL. */
int posture_debversion_validate(const char *v);
