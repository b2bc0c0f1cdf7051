/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Bounded reads of host state relative to a root directory fd (STYLE.md G5).
 *
 * Every check reads host files through a root fd, so `--root DIR` works like `dpkg --root`:
 * paths (absolute or relative) are resolved inside the root, ".." cannot climb above it and
 * absolute symlinks are interpreted relative to it. On kernels with openat2() this is
 * RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS; on older kernels (RHEL 8) a userspace walk does the
 * same, one component at a time with O_NOFOLLOW. Every fd is O_CLOEXEC.
 */

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Default cap for posture_read_file_at() callers that have no better bound. */
#define POSTURE_READ_MAX_DEFAULT (1024u * 1024u)
/* Symlinks followed while resolving one path before -ELOOP. */
#define POSTURE_SYMLINK_MAX 32

/*
 * Open a directory to serve as root: NULL or "" means "/". The fd is O_PATH|O_DIRECTORY.
 * Errors: -ENOENT, -ENOTDIR, -EACCES.
 */
int posture_root_open(const char *path, int *ret_fd);

/*
 * Open path inside root_fd with open flags (O_RDONLY, O_DIRECTORY, O_PATH, ...; O_CLOEXEC and
 * O_NOCTTY are added; O_CREAT is refused with -EINVAL). Symlinks are followed within the root
 * (up to POSTURE_SYMLINK_MAX); /proc magic links are refused with -ELOOP.
 */
int posture_open_at_root(int root_fd, const char *path, int flags, int *ret_fd);

/*
 * Open the directory path inside root_fd (resolved as by posture_open_at_root()) as a directory
 * stream; the caller closes it with closedir() (posture_autoclosedir). Errors: those of
 * posture_open_at_root(), -ENOTDIR, -ENOMEM.
 */
int posture_opendir_at_root(int root_fd, const char *path, DIR **ret);

/*
 * Read a whole file inside root_fd. On success *ret_buf holds the bytes plus a terminating NUL
 * (the caller frees it) and *ret_len the length without the NUL (ret_len may be NULL). Works for
 * files that report size 0 (procfs, sysfs). Errors: those of posture_open_at_root(), -EISDIR,
 * -EFBIG when the file has more than max bytes (nothing is returned), -EIO.
 */
int posture_read_file_at(
    int root_fd, const char *path, size_t max, char **ret_buf, size_t *ret_len);

/* Read the first line of a file (without the newline), e.g. /proc/sys/kernel/osrelease or
 * /etc/machine-id; trailing whitespace is stripped. max bounds the line, not the file: a first
 * line longer than max is -EFBIG. */
int posture_read_line_at(int root_fd, const char *path, size_t max, char **ret_line);

/* Like posture_read_file_at() on an open fd (read from its current offset). */
int posture_read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len);

/* 1 if path exists inside root (following symlinks inside it), 0 if not, <0 on other errors. */
int posture_exists_at_root(int root_fd, const char *path);

/* True when root_fd refers to the host's "/" (same st_dev and st_ino). */
bool posture_root_is_host(int root_fd);

/* Testing seam: disable openat2() so the userspace walk is exercised on new kernels too. */
void posture_fileio_force_fallback(bool on);
