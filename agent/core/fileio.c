/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/fileio.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/log.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* openat2() with RESOLVE_IN_ROOT fails with EAGAIN when a rename or mount raced with ".."
 * resolution; retry that many times before walking the path ourselves. */
#define OPENAT2_RETRIES 8
/* Read sizes: the first read of a file that reports no size, and the largest max we honour
 * (max + 1 bytes plus the NUL must fit in size_t and in ssize_t for read()). */
#define READ_CHUNK_DEFAULT 4096u
#define READ_MAX_LIMIT     ((size_t) SSIZE_MAX - 2)

/* Flags that open() keeps next to O_PATH; openat2() refuses any other. */
#define O_PATH_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW)

static atomic_bool fallback_forced;
static atomic_bool openat2_missing;

void posture_fileio_force_fallback(bool on)
{
    atomic_store(&fallback_forced, on);
}

int posture_root_open(const char *path, int *ret_fd)
{
    POSTURE_RETURN_IF_FAIL(ret_fd, -EINVAL);

    if (!path || !*path)
        path = "/";
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return posture_negative_errno();
    *ret_fd = fd;
    return 0;
}

/* Validate the caller's flags and add ours. */
static int normalize_flags(int flags, int *ret_flags)
{
    if (flags & O_CREAT)
        return -EINVAL;
    if ((flags & O_TMPFILE) == O_TMPFILE)
        return -EINVAL;
    if (flags & O_PATH)
        flags &= O_PATH_FLAGS; /* what open() does silently, and openat2() needs */
    else
        flags |= O_NOCTTY;
    *ret_flags = flags | O_CLOEXEC;
    return 0;
}

static int open_with_openat2(int root_fd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t) (unsigned int) flags,
        .mode = 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };

    for (unsigned int i = 0; i < OPENAT2_RETRIES; i++) {
        long fd = syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof(how));
        if (fd >= 0)
            return (int) fd;
        if (errno != EAGAIN)
            return posture_negative_errno();
    }
    return -EAGAIN;
}

/*
 * The userspace walk (for kernels without openat2(), or seccomp filters that refuse it).
 *
 * The current directory is either the root (dir == -1) or an O_PATH fd we own. ids[] holds
 * st_dev/st_ino of every directory from the root (ids[0]) down to the current one
 * (ids[depth - 1]); ".." at the root stays there, and ".." below it is checked against the id
 * we recorded on the way down, so a directory moved out of the root meanwhile cannot take us
 * outside it.
 */
struct dir_id {
    dev_t dev;
    ino_t ino;
};

struct walk {
    int root_fd; /* borrowed */
    int dir;     /* owned; -1 means root_fd */
    struct dir_id *ids;
    size_t depth, cap;
};

static int walk_cur(const struct walk *w)
{
    return w->dir >= 0 ? w->dir : w->root_fd;
}

static int walk_push(struct walk *w, int fd, const struct stat *st)
{
    if (w->depth == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        struct dir_id *ids = reallocarray(w->ids, cap, sizeof(*ids));
        if (!ids)
            return -ENOMEM;
        w->ids = ids;
        w->cap = cap;
    }
    w->ids[w->depth++] = (struct dir_id){ .dev = st->st_dev, .ino = st->st_ino };
    if (fd >= 0) {
        (void) posture_close_safe(w->dir);
        w->dir = fd;
    }
    return 0;
}

static void walk_to_root(struct walk *w)
{
    w->dir = posture_close_safe(w->dir);
    w->depth = 1;
}

static int walk_up(struct walk *w)
{
    if (w->depth <= 1)
        return 0; /* ".." at the root is the root */
    if (w->depth == 2) {
        walk_to_root(w);
        return 0;
    }

    int fd = openat(walk_cur(w), "..", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return posture_negative_errno();
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = posture_negative_errno();
        (void) posture_close_safe(fd);
        return r;
    }
    const struct dir_id *parent = &w->ids[w->depth - 2];
    if (st.st_dev != parent->dev || st.st_ino != parent->ino) {
        /* The tree changed under us (the same condition makes openat2() return EAGAIN). */
        (void) posture_close_safe(fd);
        return -EAGAIN;
    }
    (void) posture_close_safe(w->dir);
    w->dir = fd;
    w->depth--;
    return 0;
}

/* procfs symlinks that are plain (self → "1234", mounts → "self/mounts") have relative
 * targets made of name characters; magic links (fd/N, exe, cwd, ns/...) read as absolute
 * paths or as "pipe:[1234]"-like descriptions. */
static bool proc_link_is_plain(const char *target)
{
    if (target[0] == '/')
        return false;
    for (const char *p = target; *p; p++)
        if (!isalnum((unsigned char) *p) && !strchr("._-/", *p))
            return false;
    return true;
}

/* Read the target of the symlink that fd (O_PATH|O_NOFOLLOW) refers to. */
static int read_link_target(int fd, char **ret_target)
{
    posture_autofree char *buf = malloc(PATH_MAX);
    if (!buf)
        return -ENOMEM;
    ssize_t n = readlinkat(fd, "", buf, PATH_MAX);
    if (n < 0)
        return posture_negative_errno();
    if (n >= PATH_MAX)
        return -ENAMETOOLONG;
    buf[n] = '\0';
    if (n == 0)
        return -ENOENT; /* what the kernel says about an empty symlink */

    struct statfs sfs;
    if (fstatfs(fd, &sfs) < 0)
        return posture_negative_errno();
    if (sfs.f_type == PROC_SUPER_MAGIC && !proc_link_is_plain(buf))
        return -ELOOP; /* a magic link, refused like RESOLVE_NO_MAGICLINKS does */

    *ret_target = POSTURE_TAKE_PTR(buf);
    return 0;
}

static int open_last(int dir_fd, const char *name, int flags)
{
    int fd = openat(dir_fd, name, flags | O_NOFOLLOW);
    return fd >= 0 ? fd : posture_negative_errno();
}

static int open_with_walk(int root_fd, const char *path, int flags)
{
    struct walk w = { .root_fd = root_fd, .dir = -1 };
    posture_autofree char *todo = strdup(path);
    unsigned int links = 0;
    struct stat st;
    int r;

    if (!todo)
        return -ENOMEM;
    if (fstat(root_fd, &st) < 0)
        return posture_negative_errno();
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    r = walk_push(&w, -1, &st);
    if (r < 0)
        goto out;

    const char *p = todo;
    for (;;) {
        p += strspn(p, "/");
        if (*p == '\0') {
            /* Empty path, or it ended in "." or "..": the current directory itself. */
            r = open_last(walk_cur(&w), ".", flags);
            goto out;
        }

        size_t n = strcspn(p, "/");
        const char *rest = p + n;
        bool last = rest[strspn(rest, "/")] == '\0';
        bool trailing_slash = last && *rest == '/';
        char comp[NAME_MAX + 1];

        if (n > NAME_MAX) {
            r = -ENAMETOOLONG;
            goto out;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';

        if (strcmp(comp, ".") == 0) {
            p = rest;
            continue;
        }
        if (strcmp(comp, "..") == 0) {
            r = walk_up(&w);
            if (r < 0)
                goto out;
            p = rest;
            continue;
        }
        if (last && !trailing_slash && (flags & O_NOFOLLOW)) {
            r = open_last(walk_cur(&w), comp, flags);
            goto out;
        }

        int fd = openat(walk_cur(&w), comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            r = posture_negative_errno();
            goto out;
        }
        if (fstat(fd, &st) < 0) {
            r = posture_negative_errno();
            (void) posture_close_safe(fd);
            goto out;
        }

        if (S_ISLNK(st.st_mode)) {
            posture_autofree char *target = NULL;
            if (++links > POSTURE_SYMLINK_MAX) {
                (void) posture_close_safe(fd);
                r = -ELOOP;
                goto out;
            }
            r = read_link_target(fd, &target);
            (void) posture_close_safe(fd);
            if (r < 0)
                goto out;

            /* Continue with the target followed by what was left of the path. */
            char *next = NULL;
            if (asprintf(&next, "%s%s", target, rest) < 0) {
                r = -ENOMEM;
                goto out;
            }
            if (target[0] == '/')
                walk_to_root(&w); /* absolute symlinks are relative to the root */
            free(todo);
            todo = next;
            p = todo;
            continue;
        }

        if (last) {
            (void) posture_close_safe(fd);
            r = open_last(walk_cur(&w), comp, flags | (trailing_slash ? O_DIRECTORY : 0));
            goto out;
        }
        if (!S_ISDIR(st.st_mode)) {
            (void) posture_close_safe(fd);
            r = -ENOTDIR;
            goto out;
        }
        r = walk_push(&w, fd, &st);
        if (r < 0) {
            (void) posture_close_safe(fd);
            goto out;
        }
        p = rest;
    }

out:
    (void) posture_close_safe(w.dir);
    free(w.ids);
    return r;
}

int posture_open_at_root(int root_fd, const char *path, int flags, int *ret_fd)
{
    POSTURE_RETURN_IF_FAIL(root_fd >= 0, -EBADF);
    POSTURE_RETURN_IF_FAIL(path, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_fd, -EINVAL);

    int r = normalize_flags(flags, &flags);
    if (r < 0)
        return r;
    if (strnlen(path, PATH_MAX) >= PATH_MAX)
        return -ENAMETOOLONG;
    path += strspn(path, "/"); /* absolute and relative paths both start at the root */

    if (!atomic_load(&fallback_forced) && !atomic_load(&openat2_missing)) {
        int fd = open_with_openat2(root_fd, path, flags);
        if (fd >= 0) {
            *ret_fd = fd;
            return 0;
        }
        if (fd == -ENOSYS) {
            atomic_store(&openat2_missing, true);
            log_debug("openat2() is not available, resolving paths in userspace");
        } else if (fd != -EAGAIN && fd != -EPERM) {
            /* EPERM may come from a seccomp filter; the walk tells a real EPERM apart. */
            return fd;
        }
    }

    int fd = open_with_walk(root_fd, path, flags);
    if (fd < 0)
        return fd;
    *ret_fd = fd;
    return 0;
}

int posture_opendir_at_root(int root_fd, const char *path, DIR **ret)
{
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    posture_autoclose int fd = -1;
    int r = posture_open_at_root(root_fd, path, O_RDONLY | O_DIRECTORY, &fd);
    if (r < 0)
        return r;
    DIR *d = fdopendir(fd);
    if (!d)
        return posture_negative_errno();
    (void) POSTURE_TAKE_FD(fd); /* the stream owns it now */
    *ret = d;
    return 0;
}

/*
 * Read up to max bytes from fd. With first_line, stop at the first newline and return only
 * the line (a longer line is -EFBIG); otherwise a file with more than max bytes is -EFBIG.
 */
static int read_bounded(int fd, size_t max, bool first_line, char **ret_buf, size_t *ret_len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return posture_negative_errno();
    if (S_ISDIR(st.st_mode))
        return -EISDIR;

    if (max > READ_MAX_LIMIT)
        max = READ_MAX_LIMIT;
    size_t want = max + 1; /* one byte more than allowed tells a too large file */
    size_t cap = READ_CHUNK_DEFAULT;
    /* procfs and sysfs report size 0; for a regular file with a size, read it in one go and
     * have room for the byte that proves it did not grow. */
    if (S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t) st.st_size < want)
        cap = (size_t) st.st_size + 1;
    if (cap > want)
        cap = want;

    posture_autofree char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    bool newline = false;

    while (len < want) {
        if (len == cap) {
            size_t ncap = cap > want / 2 ? want : cap * 2;
            char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf)
                return -ENOMEM;
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return posture_negative_errno();
        }
        if (n == 0)
            break;
        if (first_line && memchr(buf + len, '\n', (size_t) n))
            newline = true;
        len += (size_t) n;
        if (newline)
            break;
    }

    if (first_line) {
        char *nl = memchr(buf, '\n', len);
        if (nl)
            len = (size_t) (nl - buf);
        else if (len > max)
            return -EFBIG; /* the line goes on past max */
        while (len > 0 && isspace((unsigned char) buf[len - 1]))
            len--;
    }
    if (len > max)
        return -EFBIG;
    buf[len] = '\0';

    *ret_buf = POSTURE_TAKE_PTR(buf);
    if (ret_len)
        *ret_len = len;
    return 0;
}

int posture_read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
    POSTURE_RETURN_IF_FAIL(fd >= 0, -EBADF);
    POSTURE_RETURN_IF_FAIL(ret_buf, -EINVAL);

    return read_bounded(fd, max, false, ret_buf, ret_len);
}

/* O_NONBLOCK: a FIFO planted in the root must not block us (it reads as empty instead). */
static int open_for_read(int root_fd, const char *path, int *ret_fd)
{
    return posture_open_at_root(root_fd, path, O_RDONLY | O_NONBLOCK, ret_fd);
}

int posture_read_file_at(int root_fd, const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
    POSTURE_RETURN_IF_FAIL(ret_buf, -EINVAL);

    posture_autoclose int fd = -1;
    int r = open_for_read(root_fd, path, &fd);
    if (r < 0)
        return r;
    return read_bounded(fd, max, false, ret_buf, ret_len);
}

int posture_read_line_at(int root_fd, const char *path, size_t max, char **ret_line)
{
    POSTURE_RETURN_IF_FAIL(ret_line, -EINVAL);

    posture_autoclose int fd = -1;
    int r = open_for_read(root_fd, path, &fd);
    if (r < 0)
        return r;
    return read_bounded(fd, max, true, ret_line, NULL);
}

int posture_exists_at_root(int root_fd, const char *path)
{
    posture_autoclose int fd = -1;
    int r = posture_open_at_root(root_fd, path, O_PATH, &fd);
    if (r == -ENOENT || r == -ENOTDIR)
        return 0;
    if (r < 0)
        return r;
    return 1;
}

bool posture_root_is_host(int root_fd)
{
    struct stat a, b;

    if (root_fd < 0)
        return false;
    if (fstat(root_fd, &a) < 0 || stat("/", &b) < 0)
        return false;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}
