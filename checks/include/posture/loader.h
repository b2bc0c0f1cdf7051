/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The two external check loaders (STYLE.md G2; docs/writing-checks.md) and the trust rule they
 * share. Internal to the agent; not installed.
 *
 * Shared objects: <dir>/<id>.so, dlopen(RTLD_NOW|RTLD_LOCAL), posture_check_entry() returns the
 * descriptor, whose name must equal <id>. Exec checks: <dir>/<id>, an executable whose file name
 * is the check id. Both are loaded only when posture_trust_open() accepts the file.
 *
 * Library code does not log above debug: every file refused or skipped is reported once through
 * the diag callback (the caller logs it), and is not an error of the load call.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "posture/registry.h"

/* Entries looked at in one directory; the rest are refused with one diagnostic. */
#define POSTURE_LOADER_DIR_ENTRIES_MAX 1024
/* Bytes of a diagnostic or a trust explanation. */
#define POSTURE_LOADER_WHY_MAX 512

/*
 * The trust rule: path is loaded only if it is a regular file owned by owner (root, uid 0, in
 * production) that is not group- or world-writable, in a directory with the same properties.
 * A symlink is judged by its target (file and directory) and by the directory holding the link.
 *
 * The file is opened once, O_RDONLY|O_CLOEXEC, as the last component of the directory that was
 * checked (openat with O_NOFOLLOW), and the checks run on that fd: what is loaded or executed
 * is what was checked. What remains: the directory's ancestors are not judged (whoever can
 * rename them could swap the directory before we open it; we judge what we opened, so this only
 * moves which trusted directory is read), and a root-owned file can still be changed by root.
 *
 * Returns 0 and the fd in *ret_fd; -EPERM when the rule refuses the file, -ENOENT, -ENOTDIR,
 * -ELOOP, -EACCES, ... when it cannot be opened; on failure why (why_size bytes; may be NULL)
 * says which object failed which part of the rule, e.g. "symlink /a/x -> /home/u/x: file
 * /home/u/x is owned by uid 1000, not root".
 */
int posture_trust_open(const char *path, uid_t owner, int *ret_fd, char *why, size_t why_size);

/* One line about path (the file or directory concerned); level is a syslog level. */
typedef void (*posture_loader_diag_fn)(int level,
                                       const char *path,
                                       const char *message,
                                       void *userdata);

struct posture_loader_opts {
    uid_t owner;                 /* the trusted owner: 0 (tests pass their own uid) */
    posture_loader_diag_fn diag; /* may be NULL */
    void *userdata;
};

/*
 * Load every <id>.so in dir (sorted by name; dotfiles and other names skipped) into reg.
 * Returns the number of checks added, or -ENOMEM. A missing directory adds nothing; an untrusted
 * one is reported once and skipped.
 */
int posture_loader_load_so_dir(struct posture_registry *reg,
                               const char *dir,
                               const struct posture_loader_opts *opts);
/* One shared object; 1 when added, 0 when refused (reported through diag), -ENOMEM. */
int posture_loader_load_so(struct posture_registry *reg,
                           const char *path,
                           const struct posture_loader_opts *opts);

/*
 * Load every exec check in dir (sorted by name). Dotfiles, "*~", "*.dpkg-*", "*.rpmnew",
 * "*.rpmsave", "*.rpmorig" and non-regular entries are ignored quietly; a file whose name is
 * not a check id is skipped with a diagnostic. Returns the number of checks added, or -ENOMEM.
 */
int posture_loader_load_exec_dir(struct posture_registry *reg,
                                 const char *dir,
                                 const struct posture_loader_opts *opts);
/* One exec check; 1 when added, 0 when refused (reported through diag), -ENOMEM. */
int posture_loader_load_exec(struct posture_registry *reg,
                             const char *path,
                             const struct posture_loader_opts *opts);

/* The fd of the checked executable of an exec check (the runner executes /proc/self/fd/N), or
 * -EINVAL when c is not an exec check loaded by posture_loader_load_exec(). Borrowed. */
int posture_loader_exec_fd(const struct posture_check *c);
