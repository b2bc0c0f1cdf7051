/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Early-cycle triggers (agent/daemon/triggers.h) against the real kernel: rtnetlink events of a
 * private network namespace, changed with the real `ip` tool (a dummy link, addresses, default
 * routes, an overrun of the receive buffer); the clock-set timerfd as the kernel reports it in
 * /proc/self/fdinfo; the resume rule with synthetic clocks; fds, flags and the skipping of
 * sources that cannot be opened.
 *
 * The test enters its own network namespace first: unshare(CLONE_NEWNET) as root, else a user
 * namespace with it. Where neither is possible (a container without user namespaces) the
 * netlink cases skip, except under CI (CI set), where they fail.
 *
 * Not tested here: the wall clock being set (clock_settime would change the host's clock, and a
 * time namespace does not virtualise CLOCK_REALTIME), so the ECANCELED path is covered only by
 * reading how the timer is armed; the udev block monitor is tested under umockdev
 * (tests/integration/checks/agent.triggers).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/log.h"

#include "testlib.h"
#include "triggers.h"

#define SEC ((uint64_t) 1000000)

static bool have_netns;

/* ---- The private network namespace ---- */

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = write(fd, text, strlen(text));
    (void) close(fd);
    return n == (ssize_t) strlen(text) ? 0 : -EIO;
}

static bool enter_netns(void)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    char map[64];

    if (uid == 0)
        return unshare(CLONE_NEWNET) == 0;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
        return false;
    (void) snprintf(map, sizeof(map), "0 %u 1\n", (unsigned) uid);
    if (write_text("/proc/self/uid_map", map) < 0)
        return false;
    (void) write_text("/proc/self/setgroups", "deny\n");
    (void) snprintf(map, sizeof(map), "0 %u 1\n", (unsigned) gid);
    return write_text("/proc/self/gid_map", map) == 0;
}

static void need_netns(void)
{
    if (!have_netns) {
        const char *ci = getenv("CI"); /* NOLINT(concurrency-mt-unsafe): one thread */
        print_message("no private network namespace (unshare refused)\n");
        if (ci && ci[0])
            fail_msg("CI is set: the netlink cases must run");
        skip();
    }
}

/* Run `ip ARGS...` (NULL-terminated) in our namespace; returns its exit status. */
static int ip(const char *first, ...)
{
    const char *argv[16] = { "ip", first };
    size_t n = 2;
    va_list ap;
    int status = 0;
    pid_t pid;

    va_start(ap, first);
    while (n < POSTURE_ELEMENTSOF(argv) - 1 && (argv[n] = va_arg(ap, const char *)))
        n++;
    va_end(ap);
    argv[n] = NULL;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0)
            (void) dup2(null, STDOUT_FILENO);
        (void) execvp("ip", (char *const *) argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

#define IP_OK(...) assert_int_equal(ip(__VA_ARGS__, (const char *) NULL), 0)

/* A link that is down and carries nothing: a dummy link, or where the kernel has no dummy
 * driver, one end of a veth pair whose other end ("<name>p") is up, so that the link has a
 * carrier as soon as it is up itself. */
static void link_add(const char *name)
{
    char peer[32];

    if (ip("link", "add", name, "type", "dummy", (const char *) NULL) == 0)
        return;
    (void) snprintf(peer, sizeof(peer), "%sp", name);
    IP_OK("link", "add", name, "type", "veth", "peer", "name", peer);
    IP_OK("link", "set", peer, "up");
}

/* The reasons seen within timeout_ms: events are read as they come until one counts (a
 * carrier change reaches netlink a moment after the link went up, through the kernel's
 * linkwatch). */
static unsigned reasons_after(struct posture_triggers *t, int timeout_ms)
{
    struct pollfd p = { .fd = posture_triggers_fd(t), .events = POLLIN };
    unsigned reasons = 0, r;

    for (int waited = 0;; waited += 50) {
        (void) poll(&p, 1, timeout_ms > 0 ? 50 : 0);
        r = 0xdead;
        assert_int_equal(posture_triggers_process(t, &r), 0);
        reasons |= r & ~(unsigned) POSTURE_TRIGGER_RESUME;
        if (reasons || waited >= timeout_ms)
            return reasons;
    }
}

/* Drain until quiet (late link-local noise of a link that came up is filtered anyway). */
static void drain(struct posture_triggers *t)
{
    unsigned reasons;
    for (int i = 0; i < 10; i++)
        assert_int_equal(posture_triggers_process(t, &reasons), 0);
}

/* ---- Cases ---- */

static bool fd_flags_ok(int fd)
{
    int fdfl = fcntl(fd, F_GETFD), fl = fcntl(fd, F_GETFL);
    return fdfl >= 0 && fl >= 0 && (fdfl & FD_CLOEXEC) && (fl & O_NONBLOCK);
}

/* The fds open now, as a bitmap of the first 1024. */
static void open_fds(bool fds[1024])
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;

    memset(fds, 0, 1024 * sizeof(bool));
    assert_non_null(d);
    while ((de = readdir(d))) {
        char *end;
        long v = strtol(de->d_name, &end, 10);
        if (*end == '\0' && v >= 0 && v < 1024 && v != dirfd(d))
            fds[v] = true;
    }
    (void) closedir(d);
}

static void test_fds(void **state)
{
    posture_auto_triggers struct posture_triggers *t = NULL;
    bool before[1024], after[1024];
    unsigned n_new = 0;

    (void) state;
    open_fds(before);
    assert_int_equal(posture_triggers_new(&t), 0);
    open_fds(after);
    for (int fd = 0; fd < 1024; fd++) {
        if (!after[fd] || before[fd])
            continue;
        n_new++;
        if (!fd_flags_ok(fd))
            fail_msg("fd %d of the triggers lacks O_CLOEXEC or O_NONBLOCK", fd);
    }
    /* epoll, netlink, timerfd and (with udev) the monitor. */
    assert_true(n_new >= 3);
    assert_true(posture_triggers_fd(t) >= 0);
    assert_true(fd_flags_ok(posture_triggers_fd(t)));
    assert_true(posture_triggers_sources(t) & POSTURE_TRIGGER_NETWORK);
    assert_true(posture_triggers_sources(t) & POSTURE_TRIGGER_CLOCK_JUMP);
    assert_true(posture_triggers_sources(t) & POSTURE_TRIGGER_RESUME);
    /* Nothing happened: nothing to report, and the fd is not readable. */
    drain(t);
    assert_int_equal(reasons_after(t, 0), 0);
    struct pollfd p = { .fd = posture_triggers_fd(t), .events = POLLIN };
    assert_int_equal(poll(&p, 1, 0), 0);
}

static void test_bad_args(void **state)
{
    unsigned reasons = 7;

    (void) state;
    assert_int_equal(posture_triggers_new(NULL), -EINVAL);
    assert_null(posture_triggers_free(NULL));
    assert_int_equal(posture_triggers_fd(NULL), -EINVAL);
    assert_int_equal(posture_triggers_process(NULL, &reasons), -EINVAL);
    assert_int_equal(reasons, 7);
    assert_int_equal(posture_triggers_check_resume(NULL, NULL), 0);
    assert_int_equal(posture_triggers_sources(NULL), 0);
}

/* A link going up and down, addresses, default routes; and what does not count. */
static void test_network(void **state)
{
    posture_auto_triggers struct posture_triggers *t = NULL;

    (void) state;
    need_netns();
    assert_int_equal(posture_triggers_new(&t), 0);
    drain(t);

    /* A new link that is down does not change reachability. */
    link_add("d0");
    assert_int_equal(reasons_after(t, 0), 0);
    /* Up (a dummy link has a carrier): it does. Then the fd is quiet again. */
    IP_OK("link", "set", "d0", "up");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    drain(t);
    /* An MTU change, or a loopback coming up: noise. */
    IP_OK("link", "set", "d0", "mtu", "1400");
    IP_OK("link", "set", "lo", "up");
    assert_int_equal(reasons_after(t, 0), 0);

    /* Addresses of global scope count; link-local and a refresh do not. */
    IP_OK("addr", "add", "192.0.2.1/24", "dev", "d0");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    IP_OK("-6", "addr", "add", "fe80::99/64", "dev", "d0", "nodad");
    assert_int_equal(reasons_after(t, 0), 0);
    IP_OK("-6", "addr", "add", "2001:db8::1/64", "dev", "d0", "nodad");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    IP_OK("-6", "addr", "change", "2001:db8::1/64", "dev", "d0", "valid_lft", "1000",
          "preferred_lft", "500");
    assert_int_equal(reasons_after(t, 0), 0);

    /* A default route counts; another route, or one in another table, does not. */
    IP_OK("route", "add", "198.51.100.0/24", "via", "192.0.2.254");
    IP_OK("route", "add", "default", "via", "192.0.2.253", "table", "100");
    assert_int_equal(reasons_after(t, 0), 0);
    IP_OK("route", "add", "default", "via", "192.0.2.254");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    IP_OK("-6", "route", "add", "default", "via", "2001:db8::fe", "dev", "d0", "onlink");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    IP_OK("route", "del", "default", "via", "192.0.2.254");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);

    /* An address going away counts. */
    IP_OK("addr", "del", "192.0.2.1/24", "dev", "d0");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);

    /* Down, and deleted while down (nothing more to lose). */
    IP_OK("link", "set", "d0", "down");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    drain(t);
    IP_OK("link", "del", "d0");
    assert_int_equal(reasons_after(t, 0), 0);

    /* A usable link deleted: that counts. */
    link_add("d1");
    IP_OK("link", "set", "d1", "up");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    drain(t);
    IP_OK("link", "del", "d1");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
}

/* State that existed before the triggers were made is learnt from dumps at start: refreshes of
 * it do not count, changes do. */
static void test_primed(void **state)
{
    posture_auto_triggers struct posture_triggers *t = NULL;

    (void) state;
    need_netns();
    link_add("d4");
    IP_OK("link", "set", "d4", "up");
    IP_OK("addr", "add", "198.51.100.1/24", "dev", "d4");
    IP_OK("-6", "addr", "add", "2001:db8:4::1/64", "dev", "d4", "nodad");
    IP_OK("route", "add", "default", "via", "198.51.100.254");

    assert_int_equal(posture_triggers_new(&t), 0);
    drain(t);
    /* Refreshes: the same link flags, the same addresses with new lifetimes, the same route. */
    IP_OK("link", "set", "d4", "mtu", "1300");
    IP_OK("addr", "change", "198.51.100.1/24", "dev", "d4", "valid_lft", "1000", "preferred_lft",
          "500");
    IP_OK("-6", "addr", "change", "2001:db8:4::1/64", "dev", "d4", "valid_lft", "1000",
          "preferred_lft", "500");
    IP_OK("route", "replace", "default", "via", "198.51.100.254");
    assert_int_equal(reasons_after(t, 300), 0);
    /* Changes. */
    IP_OK("route", "del", "default", "via", "198.51.100.254");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    IP_OK("link", "set", "d4", "down");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    drain(t);
    IP_OK("link", "del", "d4");
}

struct log_capture {
    unsigned overruns;
};

static void capture(int level, const char *message, void *userdata)
{
    struct log_capture *c = userdata;
    (void) level;
    if (strstr(message, "overrun"))
        c->overruns++;
}

/* Far more events than the receive buffer holds: ENOBUFS counts as a change, and the socket
 * keeps working afterwards. */
static void test_overrun(void **state)
{
    posture_auto_triggers struct posture_triggers *t = NULL;
    struct log_capture cap = { 0 };
    char dir_template[] = "/tmp/test_triggers.XXXXXX";
    char path[128];
    FILE *f;
    int level = posture_log_get_max_level();

    (void) state;
    need_netns();
    assert_int_equal(posture_triggers_new(&t), 0);
    link_add("d2");
    IP_OK("link", "set", "d2", "up");
    drain(t);

    assert_non_null(mkdtemp(dir_template));
    (void) snprintf(path, sizeof(path), "%s/batch", dir_template);
    f = fopen(path, "we");
    assert_non_null(f);
    for (int i = 0; i < 3000; i++)
        (void) fprintf(f, "addr add 10.%d.%d.1/32 dev d2\n", i / 250, i % 250);
    assert_int_equal(fclose(f), 0);
    IP_OK("-batch", path);
    (void) unlink(path);
    (void) rmdir(dir_template);

    posture_log_set_sink(capture, &cap);
    posture_log_set_max_level(LOG_DEBUG);
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    drain(t);
    posture_log_set_sink(NULL, NULL);
    posture_log_set_max_level(level);
    assert_true(cap.overruns >= 1);

    /* Still listening. */
    IP_OK("addr", "add", "203.0.113.7/24", "dev", "d2");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    IP_OK("link", "del", "d2");
}

/* With only two free descriptors, the epoll fd and netlink open, udev and the timer are
 * skipped, and network events still arrive. */
static void test_sources_skipped(void **state)
{
    posture_auto_triggers struct posture_triggers *t = NULL;
    struct rlimit saved, low;
    int a, b;

    (void) state;
    need_netns();
    a = open("/dev/null", O_RDONLY | O_CLOEXEC);
    b = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(a >= 0 && b > a);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = (rlim_t) b + 1;
    (void) close(a);
    (void) close(b);
    /* a and b were the two lowest free slots: below the limit b + 1 only they are free. */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int r = posture_triggers_new(&t);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_int_equal(r, 0);
    assert_int_equal(posture_triggers_sources(t), POSTURE_TRIGGER_NETWORK | POSTURE_TRIGGER_RESUME);

    link_add("d3");
    IP_OK("link", "set", "d3", "up");
    assert_int_equal(reasons_after(t, 2000), POSTURE_TRIGGER_NETWORK);
    IP_OK("link", "del", "d3");
}

/* The clock-set timer as the kernel shows it: CLOCK_REALTIME, TFD_TIMER_ABSTIME |
 * TFD_TIMER_CANCEL_ON_SET (settime flags 03), armed in the future. */
static void test_clock_timer(void **state)
{
    posture_auto_triggers struct posture_triggers *t = NULL;
    bool before[1024], after[1024];
    bool found = false;

    (void) state;
    open_fds(before);
    assert_int_equal(posture_triggers_new(&t), 0);
    open_fds(after);
    for (int fd = 0; fd < 1024; fd++) {
        char path[64], link[64], info[512];
        ssize_t n;
        int ifd;

        if (!after[fd] || before[fd])
            continue;
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
            continue;
        link[n] = '\0';
        if (strcmp(link, "anon_inode:[timerfd]") != 0)
            continue;
        (void) snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
        ifd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(ifd >= 0);
        n = read(ifd, info, sizeof(info) - 1);
        (void) close(ifd);
        assert_true(n > 0);
        info[n] = '\0';
        assert_non_null(strstr(info, "clockid: 0\n"));
        assert_non_null(strstr(info, "settime flags: 03\n"));
        assert_null(strstr(info, "it_value: (0, 0)"));
        found = true;
    }
    assert_true(found);
    /* Untouched: no clock event. */
    assert_int_equal(reasons_after(t, 0) & POSTURE_TRIGGER_CLOCK_JUMP, 0);
}

/* The resume rule on synthetic clocks. */
static void test_resume(void **state)
{
    posture_auto_triggers struct posture_triggers *t = NULL;
    struct posture_clocks c;

    (void) state;
    assert_int_equal(posture_triggers_new(&t), 0);
    posture_clocks_now(&c);
    assert_int_equal(posture_triggers_check_resume(t, &c), 0);

    /* Ten seconds of ordinary time. */
    c.realtime_usec += 10 * SEC, c.monotonic_usec += 10 * SEC, c.boottime_usec += 10 * SEC;
    assert_int_equal(posture_triggers_check_resume(t, &c), 0);
    /* An hour asleep: boottime and the wall clock ran, monotonic did not. */
    c.realtime_usec += 3601 * SEC, c.monotonic_usec += 1 * SEC, c.boottime_usec += 3601 * SEC;
    assert_int_equal(posture_triggers_check_resume(t, &c), POSTURE_TRIGGER_RESUME);
    /* Reported once: the next look compares with the new sample. */
    c.realtime_usec += 1 * SEC, c.monotonic_usec += 1 * SEC, c.boottime_usec += 1 * SEC;
    assert_int_equal(posture_triggers_check_resume(t, &c), 0);
    /* A 60 s nap is no resume; 61 s is. */
    c.realtime_usec += 61 * SEC, c.monotonic_usec += 1 * SEC, c.boottime_usec += 61 * SEC;
    assert_int_equal(posture_triggers_check_resume(t, &c), 0);
    c.realtime_usec += 62 * SEC, c.monotonic_usec += 1 * SEC, c.boottime_usec += 62 * SEC;
    assert_int_equal(posture_triggers_check_resume(t, &c), POSTURE_TRIGGER_RESUME);
    /* A wall-clock jump of a day either way is a clock jump, not a resume; 60 s of drift is
     * neither. */
    c.realtime_usec += 86400 * SEC, c.monotonic_usec += 1 * SEC, c.boottime_usec += 1 * SEC;
    assert_int_equal(posture_triggers_check_resume(t, &c), POSTURE_TRIGGER_CLOCK_JUMP);
    c.realtime_usec -= 86400 * SEC, c.monotonic_usec += 1 * SEC, c.boottime_usec += 1 * SEC;
    assert_int_equal(posture_triggers_check_resume(t, &c), POSTURE_TRIGGER_CLOCK_JUMP);
    c.realtime_usec += 61 * SEC, c.monotonic_usec += 1 * SEC, c.boottime_usec += 1 * SEC;
    assert_int_equal(posture_triggers_check_resume(t, &c), 0);
    /* Samples out of order (boottime behind): nothing to conclude. */
    c.boottime_usec -= 3600 * SEC;
    assert_int_equal(posture_triggers_check_resume(t, &c), 0);
    assert_int_equal(posture_triggers_check_resume(t, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fds),         cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_network),     cmocka_unit_test(test_primed),
        cmocka_unit_test(test_overrun),     cmocka_unit_test(test_sources_skipped),
        cmocka_unit_test(test_clock_timer), cmocka_unit_test(test_resume),
    };

    have_netns = enter_netns();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
