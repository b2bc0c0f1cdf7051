/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_open_at_root() and the bounded readers, on a temporary root. Every test runs twice:
 * with openat2() and with the userspace walk forced, and both must agree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/fileio.h"

#include "testlib.h"

#define OS_RELEASE "ID=posture-test\nVERSION_ID=1\n"

struct fixture {
    char *top;            /* temp dir: holds "marker" outside the root, and the root */
    char root_path[4096]; /* <top>/root */
    int root;
};

static void make_file(const struct fixture *f, const char *rel, const char *content)
{
    assert_int_equal(posture_test_write_file(f->root_path, rel, content), 0);
}

static void make_link(const struct fixture *f, const char *rel, const char *target)
{
    assert_int_equal(posture_test_symlink(f->root_path, rel, target), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char buf[4096];

    assert_non_null(f);
    f->top = posture_test_mkdtemp();
    int n = snprintf(f->root_path, sizeof(f->root_path), "%s/root", f->top);
    assert_true(n > 0 && (size_t) n < sizeof(f->root_path));
    assert_int_equal(posture_test_write_file(f->top, "marker", "OUTSIDE\n"), 0);
    assert_int_equal(mkdir(f->root_path, 0755), 0);

    make_file(f, "usr/lib/os-release", OS_RELEASE);
    make_link(f, "etc/os-release", "/usr/lib/os-release");
    make_link(f, "etc/os-release-rel", "../usr/lib/os-release");
    make_link(f, "usr/lib/abs-etc", "/etc");
    make_link(f, "libdir", "usr/lib");

    /* Attempts to leave the root; resolved inside it they name nothing (or root/marker). */
    make_link(f, "etc/escape-rel", "../../marker");
    make_link(f, "etc/escape-deep", "../../../../../../../../../../marker");
    make_link(f, "etc/escape-chain", "../etc/../../etc/../../marker");
    make_link(f, "etc/escape-dir", "../..");
    make_link(f, "etc/hop1", "hop2");
    make_link(f, "etc/hop2", "../../../marker");
    make_link(f, "etc/passwd-link", "../../../../etc/passwd");
    n = snprintf(buf, sizeof(buf), "%s/marker", f->top);
    assert_true(n > 0 && (size_t) n < sizeof(buf));
    make_link(f, "etc/escape-abs", buf);

    make_link(f, "loop-a", "loop-b");
    make_link(f, "loop-b", "loop-a");
    make_link(f, "self-loop", "self-loop");
    make_link(f, "grow-loop", "grow-loop/x");
    make_link(f, "dangling", "nonexistent");
    make_link(f, "root-link", "/");

    make_file(f, "empty", "");
    make_file(f, "lines", "first line  \t\r\nsecond\n");
    make_file(f, "noline", "  only line \t ");

    assert_int_equal(posture_root_open(f->root_path, &f->root), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    (void) posture_close_safe(f->root);
    assert_int_equal(posture_test_rmdir_r(f->top), 0);
    free(f->top);
    free(f);
    return 0;
}

static char *read_ok(int root, const char *path)
{
    char *buf = NULL;
    size_t len = SIZE_MAX;

    int r = posture_read_file_at(root, path, POSTURE_READ_MAX_DEFAULT, &buf, &len);
    if (r != 0)
        fail_msg("reading %s: %d (%s)", path, r, strerror(-r));
    assert_non_null(buf);
    assert_int_equal(len, strlen(buf));
    return buf;
}

static void assert_reads(int root, const char *path, const char *expected)
{
    posture_autofree char *buf = read_ok(root, path);
    if (strcmp(buf, expected) != 0)
        fail_msg("%s: read \"%s\", expected \"%s\"", path, buf, expected);
}

static void assert_read_fails(int root, const char *path, int expected)
{
    char *buf = NULL;
    size_t len = 12345;

    int r = posture_read_file_at(root, path, POSTURE_READ_MAX_DEFAULT, &buf, &len);
    if (r != expected)
        fail_msg("%s: got %d (%s), expected %d (%s); content: %s", path, r,
                 r < 0 ? strerror(-r) : "ok", expected, strerror(-expected), buf ? buf : "-");
    assert_null(buf);
    assert_int_equal(len, 12345);
}

static void same_inode(int a, int b)
{
    struct stat sa, sb;

    assert_int_equal(fstat(a, &sa), 0);
    assert_int_equal(fstat(b, &sb), 0);
    assert_int_equal(sa.st_dev, sb.st_dev);
    assert_int_equal(sa.st_ino, sb.st_ino);
}

static void test_root_open(void **state)
{
    struct fixture *f = *state;
    posture_autoclose int a = -1;
    posture_autoclose int b = -1;
    posture_autoclose int c = -1;
    int fd = -7;

    assert_int_equal(posture_root_open(NULL, &a), 0);
    assert_int_equal(posture_root_open("", &b), 0);
    assert_int_equal(posture_root_open("/", &c), 0);
    same_inode(a, b);
    same_inode(a, c);
    assert_true(fcntl(a, F_GETFL) & O_PATH);
    assert_true(fcntl(a, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(f->root, F_GETFD) & FD_CLOEXEC);

    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/nonexistent", f->root_path);
    assert_true(n > 0 && (size_t) n < sizeof(path));
    assert_int_equal(posture_root_open(path, &fd), -ENOENT);
    n = snprintf(path, sizeof(path), "%s/empty", f->root_path);
    assert_true(n > 0 && (size_t) n < sizeof(path));
    assert_int_equal(posture_root_open(path, &fd), -ENOTDIR);
    assert_int_equal(fd, -7);
    assert_int_equal(posture_root_open("/", NULL), -EINVAL);
}

static void test_root_is_host(void **state)
{
    struct fixture *f = *state;
    posture_autoclose int host = -1;

    assert_int_equal(posture_root_open(NULL, &host), 0);
    assert_true(posture_root_is_host(host));
    assert_false(posture_root_is_host(f->root));
    assert_false(posture_root_is_host(-1));
}

static void test_relative_and_absolute(void **state)
{
    struct fixture *f = *state;

    assert_reads(f->root, "usr/lib/os-release", OS_RELEASE);
    assert_reads(f->root, "/usr/lib/os-release", OS_RELEASE);
    assert_reads(f->root, "//usr//lib///os-release", OS_RELEASE);
    assert_reads(f->root, "./usr/./lib/./os-release", OS_RELEASE);
    assert_reads(f->root, "usr/lib/../lib/os-release", OS_RELEASE);
    assert_reads(f->root, "../../usr/lib/os-release", OS_RELEASE);
    assert_reads(f->root, "/../usr/../../usr/lib/os-release", OS_RELEASE);
}

static void test_symlink_absolute(void **state)
{
    struct fixture *f = *state;

    assert_reads(f->root, "etc/os-release", OS_RELEASE);
    assert_reads(f->root, "/etc/os-release", OS_RELEASE);
    /* Two absolute links in a row: usr/lib/abs-etc → /etc, then /etc/os-release. */
    assert_reads(f->root, "usr/lib/abs-etc/os-release", OS_RELEASE);
    assert_reads(f->root, "/usr/lib/abs-etc/../usr/lib/os-release", OS_RELEASE);
}

static void test_symlink_relative(void **state)
{
    struct fixture *f = *state;

    assert_reads(f->root, "etc/os-release-rel", OS_RELEASE);
    assert_reads(f->root, "libdir/os-release", OS_RELEASE);
    /* ".." after a symlinked directory goes to the target's parent, as in the kernel. */
    assert_reads(f->root, "libdir/../lib/os-release", OS_RELEASE);
    assert_reads(f->root, "libdir/abs-etc/os-release-rel", OS_RELEASE);
}

static const char *const escapes[] = {
    "../marker",
    "/../../../marker",
    "etc/../../marker",
    "etc/escape-rel",
    "etc/escape-deep",
    "etc/escape-chain",
    "etc/escape-dir/marker",
    "etc/escape-dir/../../marker",
    "etc/hop1",
    "libdir/../../../../marker",
};

static void test_escape_outside_root(void **state)
{
    struct fixture *f = *state;

    /* Nothing named "marker" exists inside the root: every attempt must fail. */
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        assert_read_fails(f->root, escapes[i], -ENOENT);
        assert_int_equal(posture_exists_at_root(f->root, escapes[i]), 0);
    }
    assert_read_fails(f->root, "etc/escape-abs", -ENOENT);
    assert_read_fails(f->root, "etc/passwd-link", -ENOENT);
}

static void test_escape_lands_inside_root(void **state)
{
    struct fixture *f = *state;

    /* With a root/marker, the same paths find it: ".." stopped at the root. */
    make_file(f, "marker", "INSIDE\n");
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++)
        assert_reads(f->root, escapes[i], "INSIDE\n");

    /* An absolute link to the host's marker is looked up below the root. */
    assert_read_fails(f->root, "etc/escape-abs", -ENOENT);
    char rel[4096];
    int n = snprintf(rel, sizeof(rel), "%s/marker", f->top);
    assert_true(n > 0 && (size_t) n < sizeof(rel));
    make_file(f, rel + 1, "INSIDE AGAIN\n");
    assert_reads(f->root, "etc/escape-abs", "INSIDE AGAIN\n");

    make_file(f, "etc/passwd", "root:x:0:0:fixture\n");
    assert_reads(f->root, "etc/passwd-link", "root:x:0:0:fixture\n");
}

static void test_symlink_loops(void **state)
{
    struct fixture *f = *state;
    int fd = -7;

    assert_read_fails(f->root, "loop-a", -ELOOP);
    assert_read_fails(f->root, "self-loop", -ELOOP);
    assert_read_fails(f->root, "grow-loop", -ELOOP);
    assert_read_fails(f->root, "self-loop/x", -ELOOP);
    assert_int_equal(posture_exists_at_root(f->root, "loop-a"), -ELOOP);
    assert_int_equal(posture_open_at_root(f->root, "loop-b", O_PATH, &fd), -ELOOP);
    assert_int_equal(fd, -7);
}

static void test_symlink_chain(void **state)
{
    struct fixture *f = *state;
    char name[64], target[64];

    /* 20 links, well below both limits (ours and the kernel's 40). */
    for (int i = 0; i < 20; i++) {
        int n = snprintf(name, sizeof(name), "chain/%d", i);
        assert_true(n > 0 && (size_t) n < sizeof(name));
        n = i < 19 ? snprintf(target, sizeof(target), "%d", i + 1)
                   : snprintf(target, sizeof(target), "/usr/lib/os-release");
        assert_true(n > 0 && (size_t) n < sizeof(target));
        make_link(f, name, target);
    }
    assert_reads(f->root, "chain/0", OS_RELEASE);
}

static void test_dangling(void **state)
{
    struct fixture *f = *state;

    assert_read_fails(f->root, "dangling", -ENOENT);
    assert_read_fails(f->root, "nonexistent", -ENOENT);
    assert_read_fails(f->root, "nonexistent/x", -ENOENT);
    assert_read_fails(f->root, "usr/lib/os-release/x", -ENOTDIR);
    assert_read_fails(f->root, "usr/lib/os-release/", -ENOTDIR);
    assert_read_fails(f->root, "usr/lib/os-release/.", -ENOTDIR);
}

static void test_open_flags(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    int fd = -7;

    assert_int_equal(posture_open_at_root(f->root, "x", O_RDWR | O_CREAT, &fd), -EINVAL);
    assert_int_equal(posture_open_at_root(f->root, "usr", O_RDWR | O_TMPFILE, &fd), -EINVAL);
    assert_int_equal(posture_open_at_root(f->root, "usr/lib/os-release", O_DIRECTORY, &fd),
                     -ENOTDIR);
    /* O_NOFOLLOW applies to the last component only. */
    assert_int_equal(posture_open_at_root(f->root, "etc/os-release", O_RDONLY | O_NOFOLLOW, &fd),
                     -ELOOP);
    assert_int_equal(fd, -7);

    posture_autoclose int lnk = -1;
    assert_int_equal(
        posture_open_at_root(f->root, "libdir/abs-etc/os-release", O_PATH | O_NOFOLLOW, &lnk), 0);
    assert_int_equal(fstat(lnk, &st), 0);
    assert_true(S_ISLNK(st.st_mode));

    posture_autoclose int dir = -1;
    assert_int_equal(posture_open_at_root(f->root, "libdir/", O_RDONLY | O_DIRECTORY, &dir), 0);
    assert_int_equal(fstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_true(fcntl(dir, F_GETFD) & FD_CLOEXEC);

    /* O_PATH with flags that open() would drop is accepted the same way. */
    posture_autoclose int p = -1;
    assert_int_equal(posture_open_at_root(f->root, "etc/os-release", O_PATH | O_NONBLOCK, &p), 0);
    assert_true(fcntl(p, F_GETFL) & O_PATH);
    assert_true(fcntl(p, F_GETFD) & FD_CLOEXEC);

    posture_autoclose int rd = -1;
    assert_int_equal(posture_open_at_root(f->root, "etc/os-release", O_RDONLY, &rd), 0);
    char buf[8] = { 0 };
    assert_int_equal(read(rd, buf, 3), 3);
    assert_string_equal(buf, "ID=");
}

static void test_open_root_itself(void **state)
{
    struct fixture *f = *state;
    const char *const paths[] = { "",
                                  "/",
                                  ".",
                                  "..",
                                  "//..//.",
                                  "usr/..",
                                  "etc/escape-dir",
                                  "root-link",
                                  "libdir/abs-etc/../root-link/" };

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        posture_autoclose int fd = -1;
        int r = posture_open_at_root(f->root, paths[i], O_RDONLY | O_DIRECTORY, &fd);
        if (r != 0)
            fail_msg("\"%s\": %d", paths[i], r);
        same_inode(fd, f->root);
    }
}

static void test_bad_arguments(void **state)
{
    struct fixture *f = *state;
    char *buf = NULL;
    int fd = -7;

    assert_int_equal(posture_open_at_root(f->root, NULL, O_RDONLY, &fd), -EINVAL);
    assert_int_equal(posture_open_at_root(-1, "etc", O_RDONLY, &fd), -EBADF);
    assert_int_equal(posture_open_at_root(f->root, "etc", O_RDONLY, NULL), -EINVAL);
    assert_int_equal(posture_read_file_at(f->root, "lines", 100, NULL, NULL), -EINVAL);
    assert_int_equal(posture_read_file_at(f->root, NULL, 100, &buf, NULL), -EINVAL);
    assert_int_equal(posture_read_line_at(f->root, "lines", 100, NULL), -EINVAL);
    assert_int_equal(posture_read_fd(-1, 100, &buf, NULL), -EBADF);
    assert_int_equal(posture_exists_at_root(f->root, NULL), -EINVAL);
    assert_int_equal(fd, -7);
    assert_null(buf);

    /* Over-long path and component. */
    char *longpath = malloc(PATH_MAX + 10);
    assert_non_null(longpath);
    memset(longpath, 'a', PATH_MAX + 9);
    longpath[PATH_MAX + 9] = '\0';
    assert_int_equal(posture_open_at_root(f->root, longpath, O_RDONLY, &fd), -ENAMETOOLONG);
    longpath[NAME_MAX + 1] = '\0';
    assert_int_equal(posture_open_at_root(f->root, longpath, O_RDONLY, &fd), -ENAMETOOLONG);
    free(longpath);
    assert_int_equal(fd, -7);
}

static void test_read_directory(void **state)
{
    struct fixture *f = *state;

    assert_read_fails(f->root, "usr", -EISDIR);
    assert_read_fails(f->root, "libdir", -EISDIR);
    assert_read_fails(f->root, "", -EISDIR);
    assert_read_fails(f->root, "/", -EISDIR);
    char *line = NULL;
    assert_int_equal(posture_read_line_at(f->root, "usr/lib", 100, &line), -EISDIR);
    assert_null(line);
}

static char *pattern(size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char) ('a' + i % 26);
    s[n] = '\0';
    return s;
}

static void check_cap(int root, const char *path, const char *content, size_t size)
{
    char *buf = NULL;
    size_t len = 0;

    /* Exactly max bytes: fine. */
    assert_int_equal(posture_read_file_at(root, path, size, &buf, &len), 0);
    assert_int_equal(len, size);
    assert_memory_equal(buf, content, size);
    assert_int_equal(buf[size], '\0');
    free(buf);
    buf = NULL;

    /* One byte more than max: -EFBIG, nothing returned. */
    len = 777;
    assert_int_equal(posture_read_file_at(root, path, size - 1, &buf, &len), -EFBIG);
    assert_null(buf);
    assert_int_equal(len, 777);

    /* A generous max, and ret_len may be NULL. */
    assert_int_equal(posture_read_file_at(root, path, size * 3, &buf, NULL), 0);
    assert_int_equal(strlen(buf), size);
    free(buf);
}

static void test_read_caps(void **state)
{
    struct fixture *f = *state;
    posture_autofree char *small = pattern(100);
    posture_autofree char *large = pattern(300000);

    make_file(f, "small", small);
    make_file(f, "large", large);
    check_cap(f->root, "small", small, 100);
    check_cap(f->root, "large", large, 300000);

    char *buf = NULL;
    assert_int_equal(posture_read_file_at(f->root, "empty", 0, &buf, NULL), 0);
    assert_string_equal(buf, "");
    free(buf);
    buf = NULL;
    make_file(f, "one", "x");
    assert_int_equal(posture_read_file_at(f->root, "one", 0, &buf, NULL), -EFBIG);
    assert_int_equal(posture_read_file_at(f->root, "one", SIZE_MAX, &buf, NULL), 0);
    assert_string_equal(buf, "x");
    free(buf);
}

static void test_read_empty(void **state)
{
    struct fixture *f = *state;
    char *buf = NULL;
    size_t len = 99;

    assert_int_equal(posture_read_file_at(f->root, "empty", 100, &buf, &len), 0);
    assert_non_null(buf);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(buf);
}

static void test_read_fd(void **state)
{
    struct fixture *f = *state;
    char *buf = NULL;
    size_t len = 0;
    int p[2];

    /* A pipe has no size: read to EOF. */
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(write(p[1], "abc\0def", 7), 7);
    (void) close(p[1]);
    assert_int_equal(posture_read_fd(p[0], 100, &buf, &len), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "abc\0def", 8);
    free(buf);
    buf = NULL;
    (void) close(p[0]);

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(write(p[1], "0123456789", 10), 10);
    (void) close(p[1]);
    assert_int_equal(posture_read_fd(p[0], 9, &buf, &len), -EFBIG);
    assert_null(buf);
    (void) close(p[0]);

    /* From the current offset. */
    posture_autoclose int fd = -1;
    assert_int_equal(posture_open_at_root(f->root, "usr/lib/os-release", O_RDONLY, &fd), 0);
    assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
    assert_int_equal(posture_read_fd(fd, 100, &buf, NULL), 0);
    assert_string_equal(buf, &OS_RELEASE[3]);
    free(buf);
    buf = NULL;

    posture_autoclose int dir = -1;
    assert_int_equal(posture_open_at_root(f->root, "usr", O_RDONLY | O_DIRECTORY, &dir), 0);
    assert_int_equal(posture_read_fd(dir, 100, &buf, NULL), -EISDIR);
    assert_null(buf);
}

static void test_read_fifo(void **state)
{
    struct fixture *f = *state;
    char path[4096];

    /* A FIFO without a writer must not block: it reads as empty. */
    int n = snprintf(path, sizeof(path), "%s/fifo", f->root_path);
    assert_true(n > 0 && (size_t) n < sizeof(path));
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_reads(f->root, "fifo", "");
}

static void test_read_proc(void **state)
{
    (void) state;
    posture_autoclose int host = -1;
    char *buf = NULL;
    size_t len = 0;
    int fd = -7;

    assert_int_equal(posture_root_open("/", &host), 0);

    /* procfs files report size 0. */
    struct stat st;
    assert_int_equal(stat("/proc/self/status", &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(
        posture_read_file_at(host, "proc/self/status", POSTURE_READ_MAX_DEFAULT, &buf, &len), 0);
    assert_true(len > 100);
    assert_non_null(strstr(buf, "Name:"));
    assert_non_null(strstr(buf, "SigBlk:"));
    free(buf);
    buf = NULL;
    assert_int_equal(posture_read_file_at(host, "/proc/self/status", 16, &buf, &len), -EFBIG);
    assert_null(buf);
    /* /proc/mounts is a plain procfs symlink (self/mounts). */
    assert_int_equal(
        posture_read_file_at(host, "/proc/mounts", POSTURE_READ_MAX_DEFAULT, &buf, NULL), 0);
    assert_true(strlen(buf) > 0);
    free(buf);
    buf = NULL;

    struct utsname u;
    assert_int_equal(uname(&u), 0);
    assert_int_equal(posture_read_line_at(host, "/proc/sys/kernel/osrelease", 256, &buf), 0);
    assert_string_equal(buf, u.release);
    free(buf);
    buf = NULL;

    /* Magic links are refused, like RESOLVE_NO_MAGICLINKS does. */
    assert_int_equal(posture_open_at_root(host, "proc/self/exe", O_RDONLY, &fd), -ELOOP);
    assert_int_equal(posture_open_at_root(host, "/proc/self/cwd/etc", O_PATH, &fd), -ELOOP);
    assert_int_equal(posture_open_at_root(host, "proc/self/root", O_PATH, &fd), -ELOOP);
    assert_int_equal(posture_open_at_root(host, "proc/self/fd/2", O_RDONLY, &fd), -ELOOP);
    assert_int_equal(posture_exists_at_root(host, "proc/self/exe"), -ELOOP);
    assert_int_equal(fd, -7);
    /* ... but the link itself can be opened O_PATH|O_NOFOLLOW. */
    posture_autoclose int lnk = -1;
    assert_int_equal(posture_open_at_root(host, "proc/self/exe", O_PATH | O_NOFOLLOW, &lnk), 0);
    assert_int_equal(fstat(lnk, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
}

static void test_read_line(void **state)
{
    struct fixture *f = *state;
    char *line = NULL;

    assert_int_equal(posture_read_line_at(f->root, "lines", 100, &line), 0);
    assert_string_equal(line, "first line");
    free(line);
    assert_int_equal(posture_read_line_at(f->root, "noline", 100, &line), 0);
    assert_string_equal(line, "  only line");
    free(line);
    assert_int_equal(posture_read_line_at(f->root, "empty", 100, &line), 0);
    assert_string_equal(line, "");
    free(line);
    assert_int_equal(posture_read_line_at(f->root, "/etc/os-release", 100, &line), 0);
    assert_string_equal(line, "ID=posture-test");
    free(line);
    line = NULL;

    /* max bounds the line, not the file. */
    make_file(f, "ten", "0123456789\nand a much longer second line that is over the max\n");
    assert_int_equal(posture_read_line_at(f->root, "ten", 10, &line), 0);
    assert_string_equal(line, "0123456789");
    free(line);
    line = NULL;
    assert_int_equal(posture_read_line_at(f->root, "ten", 9, &line), -EFBIG);
    assert_null(line);
    make_file(f, "nonl", "0123456789");
    assert_int_equal(posture_read_line_at(f->root, "nonl", 9, &line), -EFBIG);
    /* Whitespace at the cut must not hide that the line goes on. */
    make_file(f, "spaced", "abcd  xyz");
    assert_int_equal(posture_read_line_at(f->root, "spaced", 5, &line), -EFBIG);
    assert_null(line);
    assert_int_equal(posture_read_line_at(f->root, "nonexistent", 5, &line), -ENOENT);
    assert_null(line);
}

static void test_exists(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(posture_exists_at_root(f->root, "etc/os-release"), 1);
    assert_int_equal(posture_exists_at_root(f->root, "/usr/lib"), 1);
    assert_int_equal(posture_exists_at_root(f->root, ""), 1);
    assert_int_equal(posture_exists_at_root(f->root, "nonexistent"), 0);
    assert_int_equal(posture_exists_at_root(f->root, "dangling"), 0);
    assert_int_equal(posture_exists_at_root(f->root, "usr/lib/os-release/x"), 0);
    assert_int_equal(posture_exists_at_root(f->root, "../marker"), 0);
    assert_int_equal(posture_exists_at_root(f->root, "self-loop"), -ELOOP);
}

static bool dir_has(DIR *d, const char *name)
{
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, name) == 0)
            return true;
    return false;
}

static void test_opendir(void **state)
{
    struct fixture *f = *state;
    DIR *d = NULL;

    {
        /* An absolute symlink to a directory, resolved inside the root. */
        posture_autoclosedir DIR *etc = NULL;
        assert_int_equal(posture_opendir_at_root(f->root, "usr/lib/abs-etc", &etc), 0);
        assert_true(dir_has(etc, "os-release-rel"));
    }
    {
        /* "../.." from etc/ stops at the root: the root's entries, never the marker's dir. */
        posture_autoclosedir DIR *top = NULL;
        assert_int_equal(posture_opendir_at_root(f->root, "etc/escape-dir", &top), 0);
        assert_true(dir_has(top, "libdir"));
        rewinddir(top);
        assert_false(dir_has(top, "marker"));
    }
    assert_int_equal(posture_opendir_at_root(f->root, "etc/os-release", &d), -ENOTDIR);
    assert_int_equal(posture_opendir_at_root(f->root, "nonexistent", &d), -ENOENT);
    assert_int_equal(posture_opendir_at_root(f->root, "self-loop", &d), -ELOOP);
    assert_int_equal(posture_opendir_at_root(f->root, "etc", NULL), -EINVAL);
    assert_int_equal(posture_opendir_at_root(-1, "etc", &d), -EBADF);
    assert_null(d); /* written only on success */
}

static void test_permission_denied(void **state)
{
    struct fixture *f = *state;
    char path[4096];

    if (geteuid() == 0)
        skip(); /* root reads anything */
    make_file(f, "locked/secret", "x");
    int n = snprintf(path, sizeof(path), "%s/locked", f->root_path);
    assert_true(n > 0 && (size_t) n < sizeof(path));
    assert_int_equal(chmod(path, 0), 0);
    assert_read_fails(f->root, "locked/secret", -EACCES);
    assert_int_equal(posture_exists_at_root(f->root, "locked/secret"), -EACCES);
    assert_int_equal(chmod(path, 0755), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_root_open),
        T(test_root_is_host),
        T(test_relative_and_absolute),
        T(test_symlink_absolute),
        T(test_symlink_relative),
        T(test_escape_outside_root),
        T(test_escape_lands_inside_root),
        T(test_symlink_loops),
        T(test_symlink_chain),
        T(test_dangling),
        T(test_open_flags),
        T(test_open_root_itself),
        T(test_bad_arguments),
        T(test_read_directory),
        T(test_read_caps),
        T(test_read_empty),
        T(test_read_fd),
        T(test_read_fifo),
        T(test_read_proc),
        T(test_read_line),
        T(test_exists),
        T(test_opendir),
        T(test_permission_denied),
    };
    int failed = 0;

    posture_fileio_force_fallback(false);
    failed += cmocka_run_group_tests_name("fileio/openat2", tests, NULL, NULL);
    posture_fileio_force_fallback(true);
    failed += cmocka_run_group_tests_name("fileio/userspace-walk", tests, NULL, NULL);
    return failed;
}
