/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/log.h"
#include "posture/strbuf.h"
#include "posture/time_util.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define DEFAULT_TIMEOUT_USEC (10 * POSTURE_USEC_PER_SEC)
#define DEFAULT_GRACE_USEC   POSTURE_USEC_PER_SEC
#define DEFAULT_STDOUT_MAX   ((size_t) 64 * 1024)
#define DEFAULT_STDERR_MAX   ((size_t) 16 * 1024)
#define DEFAULT_PATH         "/usr/sbin:/usr/bin:/sbin:/bin"
/* Without a pidfd we look for the child's exit this often. */
#define TICK_USEC (50 * POSTURE_USEC_PER_MSEC)
/* After the child exited and its process group was killed, how long we wait for the pipes to
 * reach EOF (a straggler outside the group may hold them forever). */
#define LINGER_USEC (200 * POSTURE_USEC_PER_MSEC)
#define READ_CHUNK  ((size_t) 16 * 1024)
/* Reads per drain call, so a fast writer cannot keep us from looking at the clock. */
#define DRAIN_READS_MAX 64

static const char *const default_envp[] = { "PATH=" DEFAULT_PATH, "LANG=C", NULL };

static atomic_bool pidfd_disabled;

void posture_spawn_force_no_pidfd(bool on)
{
    atomic_store(&pidfd_disabled, on);
}

struct stream {
    int fd; /* read end, O_NONBLOCK; -1 after EOF */
    size_t max;
    bool truncated;
    struct posture_strbuf sb;
};

enum phase {
    PHASE_RUNNING,
    PHASE_TERM_SENT,
    PHASE_KILL_SENT,
};

struct child {
    pid_t pid; /* also the process group id */
    int pidfd; /* -1 when pidfd_open() is unavailable */
    enum phase phase;
    bool exited; /* seen as a zombie (or auto-reaped) */
    bool reaped;
    bool exit_handled; /* child_exited() ran */
    bool have_status;
    bool timed_out;
    int status;
    uint64_t deadline, grace, kill_at, linger_until;
    struct stream out, err;
};

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static const char *envp_path(const char *const *envp)
{
    for (; *envp; envp++)
        if (strncmp(*envp, "PATH=", 5) == 0)
            return *envp + 5;
    return DEFAULT_PATH;
}

/* Look name up in path like execvp(), but in the PATH of the child's environment. Relative and
 * empty entries are skipped. -EACCES when only non-executable candidates were found. */
static int search_path(const char *name, const char *path, char **ret_file)
{
    size_t nlen = strlen(name);
    bool eacces = false;

    if (nlen > NAME_MAX)
        return -ENAMETOOLONG;
    for (const char *p = path;;) {
        size_t n = strcspn(p, ":");
        if (n > 0 && p[0] == '/' && n + 1 + nlen < PATH_MAX) {
            char file[PATH_MAX];
            struct stat st;

            memcpy(file, p, n);
            file[n] = '/';
            memcpy(file + n + 1, name, nlen + 1);
            if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
                if (faccessat(AT_FDCWD, file, X_OK, AT_EACCESS) == 0) {
                    char *s = strdup(file);
                    if (!s)
                        return -ENOMEM;
                    *ret_file = s;
                    return 0;
                }
                eacces = true;
            }
        }
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    return eacces ? -EACCES : -ENOENT;
}

/* Keep our pipe ends off 0..2, so the dup2() actions cannot clobber each other when the
 * caller runs with a standard fd closed. */
static int move_above_stdio(int *fd)
{
    if (*fd > STDERR_FILENO)
        return 0;
    int n = fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (n < 0)
        return posture_negative_errno();
    (void) posture_close_safe(*fd);
    *fd = n;
    return 0;
}

static int make_pipe(int *ret_read, int *ret_write)
{
    int p[2];
    int r;

    if (pipe2(p, O_CLOEXEC) < 0)
        return posture_negative_errno();
    r = move_above_stdio(&p[0]);
    if (r == 0)
        r = move_above_stdio(&p[1]);
    if (r == 0 && fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
        r = posture_negative_errno();
    if (r < 0) {
        (void) posture_close_safe(p[0]);
        (void) posture_close_safe(p[1]);
        return r;
    }
    *ret_read = p[0];
    *ret_write = p[1];
    return 0;
}

static int start_child(const char *file,
                       const struct posture_spawn_opts *opts,
                       const char *const *envp,
                       int out_w,
                       int err_w,
                       pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t mask, dflt;
    pid_t pid = -1;
    int r;

    r = posix_spawn_file_actions_init(&fa);
    if (r != 0)
        return -r;
    r = posix_spawnattr_init(&attr);
    if (r != 0) {
        (void) posix_spawn_file_actions_destroy(&fa);
        return -r;
    }

    /* An empty mask, and default dispositions for every signal (SIGPIPE, SIGTERM, SIGINT,
     * SIGCHLD, SIGHUP, ...), whatever the caller ignores or blocks. */
    (void) sigemptyset(&mask);
    (void) sigfillset(&dflt);

    r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (r == 0)
        r = posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
    if (r == 0)
        r = posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
    if (r == 0)
        r = posix_spawn_file_actions_addchdir_np(&fa, opts->cwd ? opts->cwd : "/");
    if (r == 0 && opts->exec_by_fd)
        /* dup2 onto itself clears FD_CLOEXEC in the child only (glibc >= 2.29): the fd survives
         * execve() for the kernel and a script's interpreter to open /proc/self/fd/N. */
        r = posix_spawn_file_actions_adddup2(&fa, opts->exec_fd, opts->exec_fd);
    if (r == 0)
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF);
    if (r == 0)
        r = posix_spawnattr_setpgroup(&attr, 0);
    if (r == 0)
        r = posix_spawnattr_setsigmask(&attr, &mask);
    if (r == 0)
        r = posix_spawnattr_setsigdefault(&attr, &dflt);
    if (r == 0)
        /* glibc reports exec failures (ENOENT, EACCES, ENOEXEC) here and reaps the child. */
        r = posix_spawn(&pid, file, &fa, &attr, (char *const *) opts->argv, (char *const *) envp);

    (void) posix_spawnattr_destroy(&attr);
    (void) posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return -r;
    *ret_pid = pid;
    return 0;
}

/* ---- The fork() path: credentials and child functions ---- */

/* Report errno to the parent through the error pipe and exit. Async-signal-safe. */
_Noreturn static void child_fail(int ep, int err)
{
    ssize_t n;
    do
        n = write(ep, &err, sizeof(err));
    while (n < 0 && errno == EINTR);
    _exit(127);
}

/* In the forked child: only async-signal-safe calls until execve() (or child_fn). */
_Noreturn static void child_main(const char *file,
                                 const struct posture_spawn_opts *opts,
                                 const char *const *envp,
                                 int out_w,
                                 int err_w,
                                 int ep)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigset_t empty;

    if (setpgid(0, 0) < 0)
        child_fail(ep, errno);
    for (int sig = 1; sig < NSIG; sig++)
        (void) sigaction(sig, &dfl, NULL); /* SIGKILL, SIGSTOP and reserved ones fail: fine */
    (void) sigemptyset(&empty);
    (void) sigprocmask(SIG_SETMASK, &empty, NULL);

    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (nul < 0 || dup2(nul, STDIN_FILENO) < 0)
        child_fail(ep, errno);
    if (dup2(opts->child_fn ? err_w : out_w, STDOUT_FILENO) < 0 || dup2(err_w, STDERR_FILENO) < 0)
        child_fail(ep, errno);
    if (chdir(opts->cwd ? opts->cwd : "/") < 0)
        child_fail(ep, errno);

    if (opts->switch_user) {
        gid_t gid = opts->gid;
        if (setgroups(1, &gid) < 0 || setgid(opts->gid) < 0 || setuid(opts->uid) < 0)
            child_fail(ep, errno);
        /* setuid() from root drops every uid; make sure there is no way back. */
        if (opts->uid != 0 && setuid(0) == 0)
            child_fail(ep, EPERM);
    }

    if (opts->child_fn) {
        (void) close(ep); /* the parent stops waiting for an exec error */
        _exit(opts->child_fn(out_w, opts->child_userdata) & 0xff);
    }

    if (opts->exec_by_fd && fcntl(opts->exec_fd, F_SETFD, 0) < 0)
        child_fail(ep, errno);
    (void) execve(file, (char *const *) opts->argv, (char *const *) envp);
    child_fail(ep, errno);
}

static int start_child_fork(const char *file,
                            const struct posture_spawn_opts *opts,
                            const char *const *envp,
                            int out_w,
                            int err_w,
                            pid_t *ret_pid)
{
    posture_autoclose int ep_r = -1;
    posture_autoclose int ep_w = -1;
    sigset_t all, saved;
    int ep[2];

    if (pipe2(ep, O_CLOEXEC) < 0)
        return posture_negative_errno();
    ep_r = ep[0];
    ep_w = ep[1];

    /* No signal handler of ours may run in the child before it resets them. */
    (void) sigfillset(&all);
    (void) pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid == 0)
        child_main(file, opts, envp, out_w, err_w, ep_w);
    int fork_errno = errno;
    (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (pid < 0)
        return -fork_errno;

    /* Also here, so the group exists before we might signal it. */
    (void) setpgid(pid, pid);
    ep_w = posture_close_safe(ep_w);

    int err = 0;
    ssize_t n;
    do
        n = read(ep_r, &err, sizeof(err));
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t) sizeof(err)) {
        /* The child failed before execve() and exited. */
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        return err > 0 ? -err : -EIO;
    }
    *ret_pid = pid;
    return 0;
}

/* Signal the child's process group; if the child left it (setsid), at least the child. */
static void signal_group(const struct child *c, int sig)
{
    if (kill(-c->pid, sig) < 0)
        (void) kill(c->pid, sig);
}

/* Read what is available; bytes past the cap are read and dropped. */
static int drain(struct stream *s)
{
    char chunk[READ_CHUNK];

    for (unsigned int i = 0; i < DRAIN_READS_MAX && s->fd >= 0; i++) {
        ssize_t n = read(s->fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return posture_negative_errno();
        }
        if (n == 0) {
            s->fd = posture_close_safe(s->fd);
            return 0;
        }
        size_t room = s->max - s->sb.len;
        size_t take = (size_t) n < room ? (size_t) n : room;
        if (take < (size_t) n)
            s->truncated = true;
        if (take > 0) {
            int r = posture_strbuf_append(&s->sb, chunk, take);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* Has the child exited? Leaves it a zombie (WNOWAIT), so its pid, which is also the process
 * group id, cannot be reused while we may still signal the group. */
static int check_exited(struct child *c)
{
    siginfo_t si = { 0 };

    if (waitid(P_PID, (id_t) c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
        if (errno == EINTR)
            return 0;
        if (errno == ECHILD) {
            /* Reaped behind our back (SIGCHLD set to SIG_IGN by the caller). */
            c->exited = c->reaped = true;
            return 0;
        }
        return posture_negative_errno();
    }
    if (si.si_pid == c->pid)
        c->exited = true;
    return 0;
}

static void reap(struct child *c)
{
    while (!c->reaped) {
        int status;
        pid_t p = waitpid(c->pid, &status, 0);
        if (p == c->pid) {
            c->status = status;
            c->have_status = true;
            c->reaped = true;
        } else if (p < 0 && errno != EINTR) {
            c->reaped = true; /* ECHILD: nothing left to reap */
        }
    }
}

static bool streams_open(const struct child *c)
{
    return c->out.fd >= 0 || c->err.fd >= 0;
}

/* The child just exited: take what the pipes hold, and when something else still keeps them
 * open (a background grandchild), kill the process group rather than wait for it. */
static int child_exited(struct child *c, uint64_t now)
{
    c->exit_handled = true;
    int r = drain(&c->out);
    if (r == 0)
        r = drain(&c->err);
    if (r == 0 && streams_open(c)) {
        log_debug("spawn: pid %d exited, its pipes are still open; killing process group",
                  (int) c->pid);
        signal_group(c, SIGKILL);
        c->linger_until = add_sat(now, LINGER_USEC);
    }
    reap(c);
    return r;
}

static int poll_timeout_ms(const struct child *c, uint64_t now)
{
    uint64_t next = UINT64_MAX;

    if (c->exited)
        next = c->linger_until;
    else {
        if (c->phase == PHASE_RUNNING)
            next = c->deadline;
        else if (c->phase == PHASE_TERM_SENT)
            next = c->kill_at;
        if (c->pidfd < 0 && add_sat(now, TICK_USEC) < next)
            next = add_sat(now, TICK_USEC);
    }
    if (next == UINT64_MAX)
        return -1;
    if (next <= now)
        return 0;
    uint64_t ms = (next - now + POSTURE_USEC_PER_MSEC - 1) / POSTURE_USEC_PER_MSEC;
    return ms > INT_MAX ? INT_MAX : (int) ms;
}

/* Collect output until the child exited and both pipes are at EOF, enforcing the deadline.
 * The child is reaped on return, on every path. */
static int supervise(struct child *c)
{
    int r = 0;

    for (;;) {
        uint64_t now = posture_now_usec(CLOCK_MONOTONIC);

        if (!c->exited) {
            if (c->phase == PHASE_RUNNING && now >= c->deadline) {
                log_debug("spawn: pid %d timed out, sending SIGTERM", (int) c->pid);
                signal_group(c, SIGTERM);
                c->timed_out = true;
                c->phase = PHASE_TERM_SENT;
                c->kill_at = add_sat(now, c->grace);
            } else if (c->phase == PHASE_TERM_SENT && now >= c->kill_at) {
                log_debug("spawn: pid %d survived SIGTERM, sending SIGKILL", (int) c->pid);
                signal_group(c, SIGKILL);
                c->phase = PHASE_KILL_SENT;
            }
        } else if (!streams_open(c) || now >= c->linger_until)
            break;

        struct pollfd pfd[3];
        struct stream *owner[3] = { NULL, NULL, NULL };
        nfds_t n = 0;
        if (c->out.fd >= 0) {
            owner[n] = &c->out;
            pfd[n++] = (struct pollfd){ .fd = c->out.fd, .events = POLLIN };
        }
        if (c->err.fd >= 0) {
            owner[n] = &c->err;
            pfd[n++] = (struct pollfd){ .fd = c->err.fd, .events = POLLIN };
        }
        if (!c->exited && c->pidfd >= 0)
            pfd[n++] = (struct pollfd){ .fd = c->pidfd, .events = POLLIN };

        if (poll(pfd, n, poll_timeout_ms(c, now)) < 0) {
            if (errno == EINTR)
                continue;
            r = posture_negative_errno();
            break;
        }
        for (nfds_t i = 0; i < n && r == 0; i++)
            if (owner[i] && pfd[i].revents)
                r = drain(owner[i]);
        if (r == 0 && !c->exited)
            r = check_exited(c);
        if (r < 0)
            break;
        if (c->exited && !c->exit_handled) {
            r = child_exited(c, posture_now_usec(CLOCK_MONOTONIC));
            if (r < 0)
                break;
        }
    }

    if (!c->reaped) {
        signal_group(c, SIGKILL);
        reap(c);
    }
    return r;
}

static void child_done(struct child *c)
{
    c->pidfd = posture_close_safe(c->pidfd);
    c->out.fd = posture_close_safe(c->out.fd);
    c->err.fd = posture_close_safe(c->err.fd);
    posture_strbuf_done(&c->out.sb);
    posture_strbuf_done(&c->err.sb);
}

int posture_spawn_run(const struct posture_spawn_opts *opts, struct posture_spawn_result *ret)
{
    POSTURE_RETURN_IF_FAIL(opts, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    POSTURE_RETURN_IF_FAIL(opts->argv && opts->argv[0] && opts->argv[0][0], -EINVAL);
    POSTURE_RETURN_IF_FAIL(!opts->exec_by_fd || opts->exec_fd >= 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(!opts->child_fn || !opts->exec_by_fd, -EINVAL);

    const char *const *envp = opts->envp ? opts->envp : default_envp;
    const char *file = opts->argv[0];
    posture_autofree char *found = NULL;
    posture_autoclose int exec_fd = -1;
    char fd_path[sizeof("/proc/self/fd/") + 12];
    struct posture_spawn_opts o = *opts;
    int r;

    if (o.exec_by_fd) {
        /* Our own copy above 0..2, so the child's stdio set-up cannot clobber it. */
        exec_fd = fcntl(o.exec_fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        if (exec_fd < 0)
            return posture_negative_errno();
        o.exec_fd = exec_fd;
        (void) snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", exec_fd);
        file = fd_path;
    } else if (opts->search_path && !strchr(file, '/')) {
        r = search_path(file, envp_path(envp), &found);
        if (r < 0)
            return r;
        file = found;
    }

    posture_autoclose int out_r = -1;
    posture_autoclose int out_w = -1;
    posture_autoclose int err_r = -1;
    posture_autoclose int err_w = -1;
    r = make_pipe(&out_r, &out_w);
    if (r < 0)
        return r;
    r = make_pipe(&err_r, &err_w);
    if (r < 0)
        return r;

    uint64_t start = posture_now_usec(CLOCK_MONOTONIC);
    pid_t pid = -1;
    if (o.switch_user || o.child_fn)
        r = start_child_fork(file, &o, envp, out_w, err_w, &pid);
    else
        r = start_child(file, &o, envp, out_w, err_w, &pid);
    if (r < 0)
        return r;
    exec_fd = posture_close_safe(exec_fd);
    /* Only the child may hold the write ends, or we would never see EOF. */
    out_w = posture_close_safe(out_w);
    err_w = posture_close_safe(err_w);

    size_t out_max = opts->stdout_max ? opts->stdout_max : DEFAULT_STDOUT_MAX;
    size_t err_max = opts->stderr_max ? opts->stderr_max : DEFAULT_STDERR_MAX;
    struct child c = {
        .pid = pid,
        .pidfd = -1,
        .phase = PHASE_RUNNING,
        .deadline = add_sat(start, opts->timeout_usec ? opts->timeout_usec : DEFAULT_TIMEOUT_USEC),
        .grace = opts->kill_grace_usec ? opts->kill_grace_usec : DEFAULT_GRACE_USEC,
        .out = { .fd = POSTURE_TAKE_FD(out_r), .max = out_max, .sb = POSTURE_STRBUF_INIT(out_max) },
        .err = { .fd = POSTURE_TAKE_FD(err_r), .max = err_max, .sb = POSTURE_STRBUF_INIT(err_max) },
    };
    if (!atomic_load(&pidfd_disabled)) {
        long fd = syscall(SYS_pidfd_open, pid, 0); /* O_CLOEXEC is implied */
        if (fd >= 0)
            c.pidfd = (int) fd;
        else
            (void) log_debug_errno(errno, "spawn: pidfd_open() failed (%m), polling instead");
    }

    r = supervise(&c);
    uint64_t end = posture_now_usec(CLOCK_MONOTONIC);
    if (r < 0) {
        child_done(&c);
        return r;
    }

    struct posture_spawn_result res = {
        .exit_code = -1,
        .timed_out = c.timed_out,
        .stdout_truncated = c.out.truncated,
        .stderr_truncated = c.err.truncated,
        .out_len = c.out.sb.len,
        .err_len = c.err.sb.len,
        .duration_usec = end - start,
    };
    if (c.have_status && WIFEXITED(c.status))
        res.exit_code = WEXITSTATUS(c.status);
    else if (c.have_status && WIFSIGNALED(c.status))
        res.term_signal = WTERMSIG(c.status);

    res.out = posture_strbuf_steal(&c.out.sb);
    res.err = posture_strbuf_steal(&c.err.sb);
    child_done(&c);
    if (!res.out || !res.err) {
        posture_spawn_result_done(&res);
        return -ENOMEM;
    }
    *ret = res;
    return 0;
}

void posture_spawn_result_done(struct posture_spawn_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->out_len = r->err_len = 0;
}
