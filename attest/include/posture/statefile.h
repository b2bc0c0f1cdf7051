/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Crash-safe files in the agent's state directory (DESIGN.md §5: device.key, the report
 * sequence counter). A file appears under its name only complete, fsync'ed, and with its final
 * mode: it is written to a new inode (O_TMPFILE, or a randomly named temporary file created
 * O_EXCL) whose mode is set with fchmod() whatever the umask, then linked or renamed into place,
 * then the directory is fsync'ed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Open the state directory path (absolute) for use as dir_fd below (O_RDONLY|O_DIRECTORY).
 * create: make the last component with mode 0700 when it is missing (parents must exist).
 * Errors: -ENOENT, -ENOTDIR, -EACCES, -EROFS, … from open/mkdir. */
int posture_state_dir_open(const char *path, bool create, int *ret_fd);

/*
 * Run as root in a directory that belongs to another user (postured's state directory belongs
 * to "posture"; `posturectl submit` may run as root beside it): give fd, just created in
 * dir_fd, the directory's owner and group, so that the daemon can still read and replace it.
 * Does nothing otherwise. 0 or -errno from fstat/fchown. Every file and directory the state
 * and spool code creates goes through it.
 */
int posture_state_adopt_owner(int dir_fd, int fd);

/*
 * Write len bytes of data as dir_fd/name with exactly mode. replace false: never clobber an
 * existing name (-EEXIST, the existing file is left alone, which makes concurrent first
 * creations safe); replace true: atomically replace it. name is a plain file name (no '/').
 * Errors: -EINVAL, -EEXIST, and those of the system calls (-EACCES, -EROFS, -ENOSPC, -EIO …).
 */
int posture_state_write_atomic(
    int dir_fd, const char *name, const void *data, size_t len, mode_t mode, bool replace);

/*
 * Increment the decimal counter in dir_fd/name (missing: 0) and return the new value (so the
 * first call gives 1). An exclusive flock() on dir_fd/name.lock serialises concurrent callers;
 * the new value is written with posture_state_write_atomic() (mode 0600) before it is returned,
 * so a crash never hands out one value twice. -EBADMSG when the file does not hold a number
 * (it is not reset silently), -EOVERFLOW at UINT64_MAX.
 */
int posture_state_counter_next(int dir_fd, const char *name, uint64_t *ret);

/* Testing seam: never use O_TMPFILE, so the named temporary file path is exercised too. */
void posture_state_force_named_temp(bool on);
