/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_spawn_run() with real processes. Every test runs twice: with a pidfd and with the
 * waitpid() polling used on kernels without pidfd_open().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/spawn.h"
#include "posture/time_util.h"

#include "testlib.h"

#define SEC POSTURE_USEC_PER_SEC

static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static int run_opts(const struct posture_spawn_opts *o, struct posture_spawn_result *res)
{
    int r = posture_spawn_run(o, res);
    if (r == 0) {
        assert_non_null(res->out);
        assert_non_null(res->err);
        assert_int_equal(res->out[res->out_len], '\0');
        assert_int_equal(res->err[res->err_len], '\0');
    }
    assert_no_children();
    return r;
}

/* /bin/sh -c script with default options except the given timeout (0: default). */
static void run_sh(const char *script, uint64_t timeout_usec, struct posture_spawn_result *res)
{
    const char *const argv[] = { "/bin/sh", "-c", script, NULL };
    struct posture_spawn_opts o = { .argv = argv, .timeout_usec = timeout_usec };

    assert_int_equal(run_opts(&o, res), 0);
}

static void test_exit_codes(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const t[] = { "/bin/true", NULL };
    const char *const f[] = { "/bin/false", NULL };

    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = t }, &res), 0);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.term_signal, 0);
    assert_false(res.timed_out);
    assert_false(res.stdout_truncated);
    assert_false(res.stderr_truncated);
    assert_int_equal(res.out_len, 0);
    assert_string_equal(res.out, "");
    assert_string_equal(res.err, "");
    posture_spawn_result_done(&res);
    assert_null(res.out);
    assert_null(res.err);

    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = f }, &res), 0);
    assert_int_equal(res.exit_code, 1);
    assert_int_equal(res.term_signal, 0);
    posture_spawn_result_done(&res);

    run_sh("exit 3", 0, &res);
    assert_int_equal(res.exit_code, 3);
    posture_spawn_result_done(&res);
    run_sh("exit 255", 0, &res);
    assert_int_equal(res.exit_code, 255);
    posture_spawn_result_done(&res);

    posture_spawn_result_done(NULL);
}

static void test_signal_termination(void **state)
{
    (void) state;
    struct posture_spawn_result res;

    run_sh("echo before; kill -KILL $$; echo after", 0, &res);
    assert_int_equal(res.exit_code, -1);
    assert_int_equal(res.term_signal, SIGKILL);
    assert_false(res.timed_out);
    assert_string_equal(res.out, "before\n");
    posture_spawn_result_done(&res);

    run_sh("kill -SEGV $$", 0, &res);
    assert_int_equal(res.exit_code, -1);
    assert_int_equal(res.term_signal, SIGSEGV);
    posture_spawn_result_done(&res);
}

static void test_signal_state_reset(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    struct sigaction ign = { .sa_handler = SIG_IGN }, old_term, old_pipe, old_int;
    sigset_t block, old_mask;

    /* The caller ignores and blocks signals; the child must start clean. */
    assert_int_equal(sigaction(SIGTERM, &ign, &old_term), 0);
    assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
    assert_int_equal(sigaction(SIGINT, &ign, &old_int), 0);
    assert_int_equal(sigemptyset(&block), 0);
    assert_int_equal(sigaddset(&block, SIGUSR1), 0);
    assert_int_equal(sigaddset(&block, SIGHUP), 0);
    assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old_mask), 0);

    const char *const argv[] = { "/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status", NULL };
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = argv }, &res), 0);
    assert_int_equal(res.exit_code, 0);
    /* glibc's posix_spawn leaves its internal signals 32 and 33 ignored: look at 1..31. */
    unsigned long long blk = 1, ignored = 1;
    assert_int_equal(sscanf(res.out, "SigBlk: %llx SigIgn: %llx", &blk, &ignored), 2);
    assert_int_equal(blk, 0);
    assert_int_equal(ignored & 0x7fffffffULL, 0);
    posture_spawn_result_done(&res);

    /* SIGTERM has its default action again. */
    run_sh("kill -TERM $$; echo survived", 0, &res);
    assert_int_equal(res.term_signal, SIGTERM);
    assert_string_equal(res.out, "");
    posture_spawn_result_done(&res);

    /* SIGPIPE too: yes dies of it when head stops reading (the shell reports head's 0). */
    run_sh("yes | head -c 10 >/dev/null; echo done", 0, &res);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.out, "done\n");
    assert_string_equal(res.err, ""); /* with SIGPIPE ignored, yes complains of EPIPE */
    posture_spawn_result_done(&res);

    assert_int_equal(sigprocmask(SIG_SETMASK, &old_mask, NULL), 0);
    assert_int_equal(sigaction(SIGTERM, &old_term, NULL), 0);
    assert_int_equal(sigaction(SIGPIPE, &old_pipe, NULL), 0);
    assert_int_equal(sigaction(SIGINT, &old_int, NULL), 0);
}

static void test_capture_separation(void **state)
{
    (void) state;
    struct posture_spawn_result res;

    run_sh("echo out; echo err >&2; printf 'a\\000b'; printf 'e2' >&2", 0, &res);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.out_len, 7);
    assert_memory_equal(res.out, "out\na\0b", 8);
    assert_string_equal(res.err, "err\ne2");
    assert_int_equal(res.err_len, 6);
    assert_false(res.stdout_truncated);
    assert_false(res.stderr_truncated);
    posture_spawn_result_done(&res);
}

static void test_output_caps(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const yes[] = { "/bin/sh", "-c", "yes | head -c 1000000", NULL };
    const char *const err[] = { "/bin/sh", "-c", "head -c 100000 /dev/zero >&2; echo ok", NULL };
    const char *const exact[] = { "/bin/sh", "-c", "printf 0123456789", NULL };
    const char *const big[] = { "/bin/sh", "-c", "head -c 300000 /dev/zero", NULL };

    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = yes, .stdout_max = 1000 }, &res), 0);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.out_len, 1000);
    assert_true(res.stdout_truncated);
    assert_false(res.stderr_truncated);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(res.out[i], i % 2 ? '\n' : 'y');
    posture_spawn_result_done(&res);

    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = err, .stderr_max = 10 }, &res),
                     0);
    assert_int_equal(res.err_len, 10);
    assert_true(res.stderr_truncated);
    assert_false(res.stdout_truncated);
    assert_string_equal(res.out, "ok\n");
    posture_spawn_result_done(&res);

    /* Exactly at the cap is not truncated. */
    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = exact, .stdout_max = 10 }, &res), 0);
    assert_int_equal(res.out_len, 10);
    assert_string_equal(res.out, "0123456789");
    assert_false(res.stdout_truncated);
    posture_spawn_result_done(&res);

    /* Default cap: 64 KiB. */
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = big }, &res), 0);
    assert_int_equal(res.out_len, 64 * 1024);
    assert_true(res.stdout_truncated);
    posture_spawn_result_done(&res);

    /* More than a pipe buffer, under the cap: all of it. */
    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = big, .stdout_max = 1 << 20 }, &res), 0);
    assert_int_equal(res.out_len, 300000);
    assert_false(res.stdout_truncated);
    assert_int_equal(res.exit_code, 0);
    posture_spawn_result_done(&res);
}

static void test_timeout(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const argv[] = { "/bin/sleep", "30", NULL };

    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = argv, .timeout_usec = 300000 }, &res), 0);
    assert_true(res.timed_out);
    assert_int_equal(res.exit_code, -1);
    assert_int_equal(res.term_signal, SIGTERM);
    assert_true(res.duration_usec >= 300000);
    assert_true(res.duration_usec < 5 * SEC);
    posture_spawn_result_done(&res);
}

static void test_timeout_ignores_sigterm(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const argv[] = { "/bin/sh", "-c", "trap '' TERM; echo started; sleep 30; echo no",
                                 NULL };
    struct posture_spawn_opts o = { .argv = argv,
                                    .timeout_usec = 300000,
                                    .kill_grace_usec = 200000 };

    assert_int_equal(run_opts(&o, &res), 0);
    assert_true(res.timed_out);
    assert_int_equal(res.term_signal, SIGKILL);
    assert_string_equal(res.out, "started\n");
    assert_true(res.duration_usec >= 500000);
    assert_true(res.duration_usec < 5 * SEC);
    posture_spawn_result_done(&res);
}

static bool process_gone(pid_t pid)
{
    char path[64], buf[512];
    int n = snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    assert_true(n > 0 && (size_t) n < sizeof(path));
    FILE *f = fopen(path, "re");
    if (!f)
        return true;
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    (void) fclose(f);
    buf[len] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'); /* dead, waiting for its reaper */
}

static void test_grandchild_holds_pipe(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const argv[] = { "/bin/sh", "-c", "sleep 30 & echo $!", NULL };

    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = argv, .timeout_usec = 20 * SEC }, &res), 0);
    assert_false(res.timed_out);
    assert_int_equal(res.exit_code, 0);
    assert_true(res.duration_usec < 5 * SEC);

    /* The background sleep was killed with the process group. */
    char *end = NULL;
    long pid = strtol(res.out, &end, 10);
    assert_true(pid > 1);
    assert_string_equal(end, "\n");
    bool gone = false;
    for (int i = 0; i < 200 && !gone; i++) {
        gone = process_gone((pid_t) pid);
        if (!gone)
            (void) usleep(10000);
    }
    assert_true(gone);
    posture_spawn_result_done(&res);
}

static void test_environment_scrubbed(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const argv[] = { "/usr/bin/env", NULL };
    const char *const envp[] = { "FOO=bar", "X=1", NULL };

    assert_int_equal(setenv("POSTURE_TEST_SECRET", "leak", 1), 0);
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = argv }, &res), 0);
    assert_string_equal(res.out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLANG=C\n");
    posture_spawn_result_done(&res);

    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = argv, .envp = envp }, &res), 0);
    assert_string_equal(res.out, "FOO=bar\nX=1\n");
    posture_spawn_result_done(&res);
    assert_int_equal(unsetenv("POSTURE_TEST_SECRET"), 0);
}

static void test_stdin_dev_null(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const cat[] = { "/bin/cat", NULL };
    int p[2];

    /* Our stdin is a pipe nobody writes to: a child reading it would hang until the timeout. */
    int saved = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    assert_true(saved >= 0);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);

    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = cat, .timeout_usec = 3 * SEC }, &res), 0);
    assert_int_equal(res.exit_code, 0);
    assert_false(res.timed_out);
    assert_string_equal(res.out, "");
    assert_true(res.duration_usec < 3 * SEC);
    posture_spawn_result_done(&res);

    run_sh("readlink /proc/self/fd/0", 3 * SEC, &res);
    assert_string_equal(res.out, "/dev/null\n");
    posture_spawn_result_done(&res);

    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    assert_int_equal(close(saved), 0);
    assert_int_equal(close(p[0]), 0);
    assert_int_equal(close(p[1]), 0);
}

static void test_cwd(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const pwd[] = { "/bin/sh", "-c", "pwd -P", NULL };
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autofree char *real = realpath(dir, NULL);
    char expected[PATH_MAX + 2];

    assert_non_null(real);
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = pwd }, &res), 0);
    assert_string_equal(res.out, "/\n");
    posture_spawn_result_done(&res);

    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = pwd, .cwd = dir }, &res), 0);
    int n = snprintf(expected, sizeof(expected), "%s\n", real);
    assert_true(n > 0 && (size_t) n < sizeof(expected));
    assert_string_equal(res.out, expected);
    posture_spawn_result_done(&res);

    assert_int_equal(posture_test_rmdir_r(dir), 0);
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = pwd, .cwd = dir }, &res),
                     -ENOENT);
}

static void test_process_group(void **state)
{
    (void) state;
    struct posture_spawn_result res;

    /* The child leads a new process group: pgrp (field 5 of stat) equals its pid. */
    run_sh("echo $$; cut -d' ' -f5 /proc/$$/stat", 0, &res);
    char *end = NULL;
    long pid = strtol(res.out, &end, 10);
    assert_true(pid > 0);
    assert_int_equal(strtol(end, NULL, 10), pid);
    assert_int_not_equal(pid, getpgrp());
    posture_spawn_result_done(&res);
}

static void write_exec(const char *dir, const char *name, const char *content, mode_t mode)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_true(n > 0 && (size_t) n < sizeof(path));
    assert_int_equal(posture_test_write_file(dir, name, content), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_exec_errors(void **state)
{
    (void) state;
    struct posture_spawn_result res = { .exit_code = 4242 };
    posture_autofree char *dir = posture_test_mkdtemp();
    char noexec[PATH_MAX], badformat[PATH_MAX];

    write_exec(dir, "noexec", "#!/bin/sh\necho hi\n", 0644);
    write_exec(dir, "badformat", "this is not a program\n", 0755);
    int n = snprintf(noexec, sizeof(noexec), "%s/noexec", dir);
    assert_true(n > 0 && (size_t) n < sizeof(noexec));
    n = snprintf(badformat, sizeof(badformat), "%s/badformat", dir);
    assert_true(n > 0 && (size_t) n < sizeof(badformat));

    const char *const missing[] = { "/nonexistent/posture-test-prog", NULL };
    const char *const denied[] = { noexec, NULL };
    const char *const format[] = { badformat, NULL };
    const char *const directory[] = { dir, NULL };

    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = missing }, &res), -ENOENT);
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = denied }, &res), -EACCES);
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = format }, &res), -ENOEXEC);
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = directory }, &res), -EACCES);
    /* Nothing was written on failure. */
    assert_int_equal(res.exit_code, 4242);
    assert_null(res.out);

    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

static void test_search_path(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    posture_autofree char *dir = posture_test_mkdtemp();
    char path_env[PATH_MAX + 64];

    write_exec(dir, "posture-test-prog", "#!/bin/sh\necho found \"$@\"\n", 0755);
    write_exec(dir, "posture-test-noexec", "#!/bin/sh\necho hi\n", 0644);
    int n = snprintf(path_env, sizeof(path_env), "PATH=relative:/nonexistent::%s", dir);
    assert_true(n > 0 && (size_t) n < sizeof(path_env));
    const char *const envp[] = { path_env, NULL };

    const char *const t[] = { "true", NULL };
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = t, .search_path = true }, &res),
                     0);
    assert_int_equal(res.exit_code, 0);
    posture_spawn_result_done(&res);

    /* Found in the PATH of envp, not in ours. */
    const char *const prog[] = { "posture-test-prog", "x", NULL };
    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = prog, .envp = envp, .search_path = true },
                 &res),
        0);
    assert_string_equal(res.out, "found x\n");
    posture_spawn_result_done(&res);
    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = prog, .search_path = true }, &res), -ENOENT);
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = prog, .envp = envp }, &res),
                     -ENOENT);

    const char *const noexec[] = { "posture-test-noexec", NULL };
    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = noexec, .envp = envp, .search_path = true },
                 &res),
        -EACCES);

    /* A name with a slash is not searched. */
    const char *const abs[] = { "/bin/true", NULL };
    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = abs, .envp = envp, .search_path = true },
                 &res),
        0);
    posture_spawn_result_done(&res);

    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

static void test_bad_arguments(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const none[] = { NULL };
    const char *const empty[] = { "", NULL };
    const char *const t[] = { "/bin/true", NULL };

    assert_int_equal(posture_spawn_run(NULL, &res), -EINVAL);
    assert_int_equal(posture_spawn_run(&(struct posture_spawn_opts){ .argv = t }, NULL), -EINVAL);
    assert_int_equal(posture_spawn_run(&(struct posture_spawn_opts){ .argv = NULL }, &res),
                     -EINVAL);
    assert_int_equal(posture_spawn_run(&(struct posture_spawn_opts){ .argv = none }, &res),
                     -EINVAL);
    assert_int_equal(posture_spawn_run(&(struct posture_spawn_opts){ .argv = empty }, &res),
                     -EINVAL);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d))
        n++;
    (void) closedir(d);
    return n;
}

/* Our fds without FD_CLOEXEC (inherited from whoever started us), which a child inherits
 * whatever we do. */
static int count_inheritable_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d))) {
        char *end = NULL;
        long fd = strtol(de->d_name, &end, 10);
        if (end == de->d_name || *end || fd <= 2 || fd == dirfd(d))
            continue;
        int fl = fcntl((int) fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC))
            n++;
    }
    (void) closedir(d);
    return n;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, line, n) == 0 && p[n] == '\n')
            return true;
    return false;
}

static void test_no_fd_leaks(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const ls[] = { "/bin/ls", "/proc/self/fd", NULL };
    const char *const missing[] = { "/nonexistent/prog", NULL };
    const char *const sleeper[] = { "/bin/sleep", "30", NULL };
    const char *const nosuch[] = { "posture-no-such-program", NULL };

    int before = count_fds();

    /* The child sees 0, 1, 2, the directory ls reads, and nothing of ours. */
    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = ls }, &res), 0);
    int lines = 0;
    for (const char *p = res.out; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 4 + count_inheritable_fds());
    assert_true(has_line(res.out, "0"));
    assert_true(has_line(res.out, "1"));
    assert_true(has_line(res.out, "2"));
    posture_spawn_result_done(&res);

    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = missing }, &res), -ENOENT);
    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = nosuch, .search_path = true }, &res),
        -ENOENT);
    assert_int_equal(
        run_opts(&(struct posture_spawn_opts){ .argv = sleeper, .timeout_usec = 100000 }, &res), 0);
    posture_spawn_result_done(&res);
    run_sh("sleep 30 & yes | head -c 200000", 0, &res);
    posture_spawn_result_done(&res);

    assert_int_equal(count_fds(), before);
}

static void test_closed_stdin_in_caller(void **state)
{
    (void) state;
    struct posture_spawn_result res;

    /* With fd 0 free, a pipe end lands on it; the child's stdio must still be right. */
    int saved = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    assert_true(saved >= 0);
    assert_int_equal(close(STDIN_FILENO), 0);
    run_sh("echo out; echo err >&2; readlink /proc/self/fd/0", 0, &res);
    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    assert_int_equal(close(saved), 0);

    assert_string_equal(res.out, "out\n/dev/null\n");
    assert_string_equal(res.err, "err\n");
    posture_spawn_result_done(&res);
}

static void test_duration(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const argv[] = { "/bin/sleep", "0.2", NULL };

    assert_int_equal(run_opts(&(struct posture_spawn_opts){ .argv = argv }, &res), 0);
    assert_int_equal(res.exit_code, 0);
    assert_false(res.timed_out);
    assert_true(res.duration_usec >= 200000);
    assert_true(res.duration_usec < 5 * SEC);
    posture_spawn_result_done(&res);
}

static void test_sigchld_ignored_by_caller(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    struct sigaction ign = { .sa_handler = SIG_IGN }, old;

    const char *const argv[] = { "/bin/sh", "-c", "head -c 200000 /dev/zero; exit 7", NULL };
    struct posture_spawn_opts o = { .argv = argv, .timeout_usec = 5 * SEC, .stdout_max = 1 << 20 };

    /* The kernel reaps for us: no status to report, but no hang and all the output. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sigaction(SIGCHLD, &ign, &old), 0);
        int r = run_opts(&o, &res);
        assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
        assert_int_equal(r, 0);
        assert_int_equal(res.out_len, 200000);
        assert_false(res.timed_out);
        assert_true(res.exit_code == 7 || res.exit_code == -1);
        assert_true(res.duration_usec < 5 * SEC);
        posture_spawn_result_done(&res);
    }
}

static void test_no_zombies(void **state)
{
    (void) state;
    assert_no_children();
}

/* ---- exec_by_fd, child_fn, switch_user (the fork path) ---- */

static void test_exec_by_fd(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    char *dir = posture_test_mkdtemp();
    char path[PATH_MAX];

    assert_int_equal(
        posture_test_write_file(dir, "script", "#!/bin/sh\necho \"args:$*\"\nls /proc/self/fd\n"),
        0);
    (void) snprintf(path, sizeof(path), "%s/script", dir);
    assert_int_equal(chmod(path, 0755), 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    /* What runs is the fd, whatever the file is replaced with afterwards. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(posture_test_write_file(dir, "script", "#!/bin/sh\necho replaced\n"), 0);

    const char *const argv[] = { path, "--posture-json", NULL };
    int before = count_fds();
    struct posture_spawn_opts o = { .argv = argv, .exec_by_fd = true, .exec_fd = fd };
    assert_int_equal(run_opts(&o, &res), 0);
    assert_int_equal(res.exit_code, 0);
    assert_true(has_line(res.out, "args:--posture-json"));
    assert_null(strstr(res.out, "replaced"));
    posture_spawn_result_done(&res);
    assert_int_equal(count_fds(), before);
    /* The caller's fd keeps FD_CLOEXEC: only the child's copy was inheritable. */
    assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

    /* Also through the fork path. */
    o.switch_user = true;
    o.uid = geteuid();
    o.gid = getegid();
    int r = run_opts(&o, &res);
    if (geteuid() == 0) {
        assert_int_equal(r, 0);
        assert_true(has_line(res.out, "args:--posture-json"));
        posture_spawn_result_done(&res);
    } else
        assert_int_equal(r, -EPERM); /* setgroups() needs CAP_SETGID */

    /* Bad arguments. */
    o = (struct posture_spawn_opts){ .argv = argv, .exec_by_fd = true, .exec_fd = -1 };
    assert_int_equal(posture_spawn_run(&o, &res), -EINVAL);
    (void) close(fd);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

static int child_writes(int out_fd, void *userdata)
{
    const char *text = userdata;
    (void) printf("to stdout\n"); /* goes to the stderr pipe */
    (void) fflush(stdout);
    (void) fprintf(stderr, "to stderr\n");
    if (write(out_fd, text, strlen(text)) < 0)
        return 1;
    return 7;
}

static int child_crashes(int out_fd, void *userdata)
{
    (void) out_fd;
    (void) userdata;
    (void) raise(SIGSEGV);
    return 0;
}

static int child_spins(int out_fd, void *userdata)
{
    (void) out_fd;
    (void) userdata;
    for (;;)
        (void) pause();
    return 0;
}

static int child_floods(int out_fd, void *userdata)
{
    static const char chunk[65536];
    (void) userdata;
    for (int i = 0; i < 1600; i++) /* 100 MiB */
        if (write(out_fd, chunk, sizeof(chunk)) < 0)
            return 1;
    return 0;
}

static void test_child_fn(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const argv[] = { "label", NULL };
    char text[] = "{\"result\":1}";

    struct posture_spawn_opts o = { .argv = argv,
                                    .child_fn = child_writes,
                                    .child_userdata = text };
    assert_int_equal(run_opts(&o, &res), 0);
    assert_int_equal(res.exit_code, 7);
    assert_string_equal(res.out, text);
    assert_true(has_line(res.err, "to stdout"));
    assert_true(has_line(res.err, "to stderr"));
    posture_spawn_result_done(&res);

    o.child_fn = child_crashes;
    assert_int_equal(run_opts(&o, &res), 0);
    assert_int_equal(res.exit_code, -1);
    assert_int_equal(res.term_signal, SIGSEGV);
    posture_spawn_result_done(&res);

    o.child_fn = child_spins;
    o.timeout_usec = 200 * POSTURE_USEC_PER_MSEC;
    assert_int_equal(run_opts(&o, &res), 0);
    assert_true(res.timed_out);
    assert_int_equal(res.term_signal, SIGTERM);
    posture_spawn_result_done(&res);

    o.child_fn = child_floods;
    o.timeout_usec = 20 * SEC;
    o.stdout_max = 64 * 1024;
    assert_int_equal(run_opts(&o, &res), 0);
    assert_true(res.stdout_truncated);
    assert_int_equal(res.out_len, 64 * 1024);
    assert_int_equal(res.exit_code, 0);
    posture_spawn_result_done(&res);

    /* child_fn executes nothing: exec_by_fd makes no sense with it. */
    o = (struct posture_spawn_opts){
        .argv = argv, .child_fn = child_writes, .exec_by_fd = true, .exec_fd = 0
    };
    assert_int_equal(posture_spawn_run(&o, &res), -EINVAL);
}

static void test_switch_user(void **state)
{
    (void) state;
    struct posture_spawn_result res;
    const char *const argv[] = { "/bin/sh", "-c", "id -u; id -g; id -G; echo \"$PATH\"", NULL };
    struct posture_spawn_opts o = { .argv = argv, .switch_user = true, .uid = 65534, .gid = 65534 };

    int r = run_opts(&o, &res);
    if (geteuid() != 0) {
        /* Without the privilege the child cannot switch, and says so. */
        assert_int_equal(r, -EPERM);
        skip();
    }
    assert_int_equal(r, 0);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.out, "65534\n65534\n65534\n/usr/sbin:/usr/bin:/sbin:/bin\n");
    posture_spawn_result_done(&res);

    /* Exec errors still come back as errors through the fork path. */
    const char *const missing[] = { "/nonexistent/prog", NULL };
    o.argv = missing;
    assert_int_equal(run_opts(&o, &res), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_signal_termination),
        cmocka_unit_test(test_signal_state_reset),
        cmocka_unit_test(test_capture_separation),
        cmocka_unit_test(test_output_caps),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_timeout_ignores_sigterm),
        cmocka_unit_test(test_grandchild_holds_pipe),
        cmocka_unit_test(test_environment_scrubbed),
        cmocka_unit_test(test_stdin_dev_null),
        cmocka_unit_test(test_cwd),
        cmocka_unit_test(test_process_group),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_search_path),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_no_fd_leaks),
        cmocka_unit_test(test_closed_stdin_in_caller),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_sigchld_ignored_by_caller),
        cmocka_unit_test(test_no_zombies),
        cmocka_unit_test(test_exec_by_fd),
        cmocka_unit_test(test_child_fn),
        cmocka_unit_test(test_switch_user),
    };
    int failed = 0;

    posture_spawn_force_no_pidfd(false);
    failed += cmocka_run_group_tests_name("spawn/pidfd", tests, NULL, NULL);
    posture_spawn_force_no_pidfd(true);
    failed += cmocka_run_group_tests_name("spawn/waitpid-polling", tests, NULL, NULL);
    return failed;
}
