/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/fileio.h"
#include "posture/statefile.h"

#include "testlib.h"

static char *read_back(int dir_fd, const char *name)
{
    char *buf = NULL;
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(posture_read_fd(fd, 4096, &buf, NULL), 0);
    (void) close(fd);
    return buf;
}

static void write_modes(bool named)
{
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autoclose int dir_fd = -1;
    struct stat st;
    mode_t old;

    posture_state_force_named_temp(named);
    assert_int_equal(posture_state_dir_open(dir, false, &dir_fd), 0);

    old = umask(0);
    assert_int_equal(posture_state_write_atomic(dir_fd, "a", "one\n", 4, 0600, false), 0);
    (void) umask(0277); /* takes the owner's write bit away: the file is still written */
    assert_int_equal(posture_state_write_atomic(dir_fd, "b", "two\n", 4, 0640, false), 0);
    (void) umask(old);

    assert_int_equal(fstatat(dir_fd, "a", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(fstatat(dir_fd, "b", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0640);

    assert_int_equal(posture_state_write_atomic(dir_fd, "a", "new\n", 4, 0600, false), -EEXIST);
    free(read_back(dir_fd, "a"));
    {
        posture_autofree char *a = read_back(dir_fd, "a");
        assert_string_equal(a, "one\n");
    }
    assert_int_equal(posture_state_write_atomic(dir_fd, "a", "new\n", 4, 0600, true), 0);
    {
        posture_autofree char *a = read_back(dir_fd, "a");
        assert_string_equal(a, "new\n");
    }
    assert_int_equal(posture_state_write_atomic(dir_fd, "x/y", "", 0, 0600, true), -EINVAL);
    assert_int_equal(posture_state_write_atomic(dir_fd, "..", "", 0, 0600, true), -EINVAL);
    assert_int_equal(posture_state_write_atomic(dir_fd, "", "", 0, 0600, true), -EINVAL);

    posture_state_force_named_temp(false);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

static void test_write_tmpfile(void **state)
{
    (void) state;
    write_modes(false);
}

static void test_write_named(void **state)
{
    (void) state;
    write_modes(true);
}

static void test_counter(void **state)
{
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autoclose int dir_fd = -1;
    uint64_t v = 0;
    struct stat st;
    (void) state;

    assert_int_equal(posture_state_dir_open(dir, false, &dir_fd), 0);
    for (uint64_t i = 1; i <= 5; i++) {
        assert_int_equal(posture_state_counter_next(dir_fd, "seq", &v), 0);
        assert_int_equal(v, i);
    }
    {
        posture_autofree char *s = read_back(dir_fd, "seq");
        assert_string_equal(s, "5\n");
    }
    assert_int_equal(fstatat(dir_fd, "seq", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* Damage is reported, never silently reset to 0. */
    static const char *const bad[] = {
        "", "5", "x\n", "-1\n", "5\n6\n", "99999999999999999999999\n"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(posture_test_write_file(dir, "seq", bad[i]), 0);
        v = 42;
        assert_int_equal(posture_state_counter_next(dir_fd, "seq", &v), -EBADMSG);
        assert_int_equal(v, 42);
    }
    assert_int_equal(posture_test_write_file(dir, "seq", "18446744073709551615\n"), 0);
    assert_int_equal(posture_state_counter_next(dir_fd, "seq", &v), -EOVERFLOW);
    assert_int_equal(posture_test_write_file(dir, "seq", "41\n"), 0);
    assert_int_equal(posture_state_counter_next(dir_fd, "seq", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

static void test_dir_open(void **state)
{
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autofree char *sub = NULL;
    int fd = -1;
    (void) state;

    assert_true(asprintf(&sub, "%s/state", dir) > 0);
    assert_int_equal(posture_state_dir_open(sub, false, &fd), -ENOENT);
    assert_int_equal(posture_state_dir_open("relative", true, &fd), -EINVAL);
    assert_int_equal(posture_state_dir_open(sub, true, &fd), 0);
    assert_true(fd >= 0);
    (void) close(fd);
    assert_int_equal(posture_test_write_file(dir, "file", "x"), 0);
    free(sub);
    assert_true(asprintf(&sub, "%s/file", dir) > 0);
    assert_int_equal(posture_state_dir_open(sub, true, &fd), -ENOTDIR);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

/* Root writing in a directory of another user (posturectl submit beside postured): the new
 * files get the directory's owner and group; in root's own directory they stay root's. */
static void test_adopt_owner(void **state)
{
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autoclose int dir_fd = -1;
    const uid_t uid = 65534;
    const gid_t gid = 65533;
    uint64_t v = 0;
    struct stat st;
    (void) state;

    if (geteuid() != 0) {
        assert_int_equal(posture_test_rmdir_r(dir), 0);
        skip(); /* chown needs root; CI runs the unit tests as root */
    }
    assert_int_equal(posture_state_dir_open(dir, false, &dir_fd), 0);
    assert_int_equal(posture_state_write_atomic(dir_fd, "mine", "x", 1, 0600, true), 0);
    assert_int_equal(fstatat(dir_fd, "mine", &st, 0), 0);
    assert_int_equal(st.st_uid, 0);

    assert_int_equal(chown(dir, uid, gid), 0);
    posture_state_force_named_temp(false);
    assert_int_equal(posture_state_write_atomic(dir_fd, "a", "x", 1, 0600, false), 0);
    posture_state_force_named_temp(true);
    assert_int_equal(posture_state_write_atomic(dir_fd, "b", "x", 1, 0640, true), 0);
    posture_state_force_named_temp(false);
    assert_int_equal(posture_state_counter_next(dir_fd, "seq", &v), 0);
    static const char *const names[] = { "a", "b", "seq", "seq.lock" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(fstatat(dir_fd, names[i], &st, 0), 0);
        assert_int_equal(st.st_uid, uid);
        assert_int_equal(st.st_gid, gid);
    }
    assert_int_equal(fstatat(dir_fd, "b", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0640); /* chown before chmod: the mode stays exact */
    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

/* Concurrent increments never hand out a value twice and lose none. */
static void test_counter_concurrent(void **state)
{
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autoclose int dir_fd = -1;
    pid_t pids[4];
    uint64_t v = 0;
    bool seen[101] = { false };
    int fds[2];
    (void) state;

    assert_int_equal(posture_state_dir_open(dir, false, &dir_fd), 0);
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    for (size_t i = 0; i < 4; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            for (int k = 0; k < 25; k++) {
                uint64_t got;
                if (posture_state_counter_next(dir_fd, "seq", &got) < 0 ||
                    write(fds[1], &got, sizeof(got)) != (ssize_t) sizeof(got))
                    _exit(1);
            }
            _exit(0);
        }
    }
    (void) close(fds[1]);
    for (int k = 0; k < 100; k++) {
        assert_int_equal(read(fds[0], &v, sizeof(v)), sizeof(v));
        assert_true(v >= 1 && v <= 100);
        assert_false(seen[v]);
        seen[v] = true;
    }
    (void) close(fds[0]);
    for (size_t i = 0; i < 4; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(posture_state_counter_next(dir_fd, "seq", &v), 0);
    assert_int_equal(v, 101);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_tmpfile), cmocka_unit_test(test_write_named),
        cmocka_unit_test(test_counter),       cmocka_unit_test(test_dir_open),
        cmocka_unit_test(test_adopt_owner),   cmocka_unit_test(test_counter_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
