/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Run an external tool with a deadline and bounded output (dnf, sshd -T, exec checks).
 *
 * posix_spawn in a new process group, stdin from /dev/null, stdout and stderr to pipes, every
 * other fd closed by O_CLOEXEC. At the deadline the whole process group gets SIGTERM, then
 * SIGKILL after a grace period. Output past the caps is drained and dropped, and flagged.
 *
 * Two cases fork() instead of posix_spawn, with the same supervision: switching to another user
 * (posix_spawn cannot change credentials) and child_fn (run a function in a child process, for
 * .so checks). The forked child only makes async-signal-safe calls before execve(); child_fn
 * runs arbitrary code in the child of a possibly multi-threaded process (glibc keeps malloc
 * usable after fork; locks other threads held in other libraries are not).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct posture_spawn_opts {
    const char *const *argv;  /* argv[0] is the path (no PATH search unless search_path) */
    const char *const *envp;  /* NULL: "PATH=/usr/sbin:/usr/bin:/sbin:/bin" and "LANG=C" */
    bool search_path;         /* look argv[0] up in the PATH of envp */
    uint64_t timeout_usec;    /* 0: 10 s */
    uint64_t kill_grace_usec; /* SIGTERM → SIGKILL; 0: 1 s */
    size_t stdout_max;        /* 0: 64 KiB */
    size_t stderr_max;        /* 0: 16 KiB */
    const char *cwd;          /* NULL: "/" */

    /* Execute exec_fd (as /proc/self/fd/N, so a script's interpreter can open it too) instead
     * of the file argv[0] names; argv[0] is still what the child sees. For files the caller
     * opened and checked (no path lookup between check and exec). */
    bool exec_by_fd;
    int exec_fd;
    /* Run the child with these credentials (setgroups({gid}), setgid, setuid before execve).
     * Without the privilege to switch, posture_spawn_run() returns -EPERM. */
    bool switch_user;
    uid_t uid;
    gid_t gid;
    /* Execute nothing: fork and return child_fn(out_fd, child_userdata) & 0xff as the child's
     * exit status. In the child stdout and stderr go to the stderr pipe (a debug log for the
     * caller) and out_fd is the write end of the stdout pipe. argv is then only used for
     * argv[0], a label for log lines. */
    int (*child_fn)(int out_fd, void *userdata);
    void *child_userdata;
};

struct posture_spawn_result {
    int exit_code;   /* exit status when exited normally, else -1 */
    int term_signal; /* signal that ended the child, else 0 */
    bool timed_out;  /* the deadline passed and the group was killed */
    bool stdout_truncated;
    bool stderr_truncated;
    char *out; /* NUL-terminated, never NULL on success */
    size_t out_len;
    char *err; /* NUL-terminated, never NULL on success */
    size_t err_len;
    uint64_t duration_usec;
};

/*
 * Returns 0 when the child was started and reaped (whatever its exit status), -ENOENT/-EACCES
 * when it could not be executed, -ENOMEM, -EINVAL for bad options. On success the caller calls
 * posture_spawn_result_done().
 */
int posture_spawn_run(const struct posture_spawn_opts *opts, struct posture_spawn_result *ret);
void posture_spawn_result_done(struct posture_spawn_result *r);

/* Testing seam: do not use pidfd_open(), so the 50 ms waitpid() polling used on kernels before
 * 5.3 is exercised on new kernels too. */
void posture_spawn_force_no_pidfd(bool on);
