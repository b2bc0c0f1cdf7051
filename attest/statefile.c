/* SPDX-License-Identifier: Apache-2.0 */
/* Crash-safe state files: new inode, exact mode, fsync, link or rename, fsync the directory. */

#include "posture/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/parse.h"

#define NAME_MAX_LEN     200
#define COUNTER_MAX_SIZE 64

static bool force_named_temp;

void posture_state_force_named_temp(bool on)
{
    force_named_temp = on;
}

int posture_state_dir_open(const char *path, bool create, int *ret_fd)
{
    int fd;

    POSTURE_RETURN_IF_FAIL(path && path[0] == '/', -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_fd, -EINVAL);

    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return posture_negative_errno();
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0)
        return posture_negative_errno();
    *ret_fd = fd;
    return 0;
}

static bool name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n <= NAME_MAX_LEN && !strchr(name, '/') && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return posture_negative_errno();
        }
        if (k == 0)
            return -EIO;
        p += k;
        len -= (size_t) k;
    }
    return 0;
}

int posture_state_adopt_owner(int dir_fd, int fd)
{
    struct stat dir, st;

    if (geteuid() != 0)
        return 0;
    if (fstat(dir_fd, &dir) < 0 || fstat(fd, &st) < 0)
        return posture_negative_errno();
    if (dir.st_uid == 0 || (st.st_uid == dir.st_uid && st.st_gid == dir.st_gid))
        return 0;
    if (fchown(fd, dir.st_uid, dir.st_gid) < 0)
        return posture_negative_errno();
    return 0;
}

/* Give the new inode its owner (posture_state_adopt_owner), exact mode and content, durably. */
static int fill(int dir_fd, int fd, const void *data, size_t len, mode_t mode)
{
    int r;

    r = posture_state_adopt_owner(dir_fd, fd);
    if (r < 0)
        return r;
    if (fchmod(fd, mode) < 0)
        return posture_negative_errno();
    r = write_all(fd, data, len);
    if (r < 0)
        return r;
    if (fsync(fd) < 0)
        return posture_negative_errno();
    return 0;
}

/* An anonymous inode in dir_fd, linked as name. -EOPNOTSUPP when O_TMPFILE cannot be used. */
static int write_tmpfile(int dir_fd, const char *name, const void *data, size_t len, mode_t mode)
{
    posture_autoclose int fd = -1;
    char proc[64];
    int r;

    if (force_named_temp)
        return -EOPNOTSUPP;
    /* The mode here is only a ceiling (the umask can take bits away); fill() sets it exactly. */
    fd = openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode & 0600);
    if (fd < 0) {
        if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)
            return -EOPNOTSUPP;
        return posture_negative_errno();
    }
    r = fill(dir_fd, fd, data, len, mode);
    if (r < 0)
        return r;
    r = snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (r < 0 || (size_t) r >= sizeof(proc))
        return -EINVAL;
    if (linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) < 0) {
        if (errno == EEXIST)
            return -EEXIST;
        /* No /proc (or no permission to link through it): use a named temporary file. */
        if (errno == ENOENT || errno == EPERM || errno == EACCES)
            return -EOPNOTSUPP;
        return posture_negative_errno();
    }
    return 0;
}

/* A temporary file ".<name>.<random>" created O_EXCL, then linked (no clobber) or renamed. */
static int
write_named(int dir_fd, const char *name, const void *data, size_t len, mode_t mode, bool replace)
{
    posture_autoclose int fd = -1;
    char tmp[NAME_MAX_LEN + 32];
    int r;

    for (unsigned attempt = 0; fd < 0; attempt++) {
        uint64_t rnd;

        if (attempt >= 16)
            return -EEXIST;
        if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
            return -EIO;
        r = snprintf(tmp, sizeof(tmp), ".%s.%016" PRIx64 ".tmp", name, rnd);
        if (r < 0 || (size_t) r >= sizeof(tmp))
            return -EINVAL;
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0600);
        if (fd < 0 && errno != EEXIST)
            return posture_negative_errno();
    }

    r = fill(dir_fd, fd, data, len, mode);
    if (r >= 0) {
        if (replace)
            r = posture_ret_nerrno(renameat(dir_fd, tmp, dir_fd, name));
        else {
            r = posture_ret_nerrno(linkat(dir_fd, tmp, dir_fd, name, 0));
            (void) unlinkat(dir_fd, tmp, 0);
        }
    }
    if (r < 0)
        (void) unlinkat(dir_fd, tmp, 0);
    return r;
}

int posture_state_write_atomic(
    int dir_fd, const char *name, const void *data, size_t len, mode_t mode, bool replace)
{
    int r = -EOPNOTSUPP;

    POSTURE_RETURN_IF_FAIL(dir_fd >= 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(name_ok(name), -EINVAL);
    POSTURE_RETURN_IF_FAIL(data || len == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL((mode & ~(mode_t) 07777) == 0, -EINVAL);

    if (!replace)
        r = write_tmpfile(dir_fd, name, data, len, mode);
    if (r == -EOPNOTSUPP)
        r = write_named(dir_fd, name, data, len, mode, replace);
    if (r < 0)
        return r;
    if (fsync(dir_fd) < 0)
        return posture_negative_errno();
    return 0;
}

int posture_state_counter_next(int dir_fd, const char *name, uint64_t *ret)
{
    posture_autoclose int lock_fd = -1, fd = -1;
    posture_autofree char *buf = NULL;
    char lock_name[NAME_MAX_LEN + 8], out[32];
    uint64_t value = 0;
    size_t len = 0;
    int r;

    POSTURE_RETURN_IF_FAIL(dir_fd >= 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(name_ok(name), -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    r = snprintf(lock_name, sizeof(lock_name), "%s.lock", name);
    if (r < 0 || (size_t) r >= sizeof(lock_name))
        return -EINVAL;
    lock_fd = openat(dir_fd, lock_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lock_fd < 0)
        return posture_negative_errno();
    r = posture_state_adopt_owner(dir_fd, lock_fd);
    if (r < 0)
        return r;
    while (flock(lock_fd, LOCK_EX) < 0)
        if (errno != EINTR)
            return posture_negative_errno();

    fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
        return posture_negative_errno();
    if (fd >= 0) {
        r = posture_read_fd(fd, COUNTER_MAX_SIZE, &buf, &len);
        if (r == -EFBIG)
            return -EBADMSG;
        if (r < 0)
            return r;
        if (len == 0 || buf[len - 1] != '\n')
            return -EBADMSG;
        buf[len - 1] = '\0';
        if (posture_parse_u64(buf, &value) < 0)
            return -EBADMSG;
    }
    if (value == UINT64_MAX)
        return -EOVERFLOW;
    value++;

    r = snprintf(out, sizeof(out), "%" PRIu64 "\n", value);
    if (r < 0 || (size_t) r >= sizeof(out))
        return -EINVAL;
    r = posture_state_write_atomic(dir_fd, name, out, (size_t) r, 0600, true);
    if (r < 0)
        return r;
    *ret = value;
    return 0;
}
