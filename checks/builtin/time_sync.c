/* SPDX-License-Identifier: Apache-2.0 */
/*
 * time.sync (DESIGN.md §6): is the kernel clock synchronised, and how large may its error be?
 * Signed reports and tokens carry timestamps checked with 60 s of skew, so a clock nobody
 * disciplines makes them fail or outlive their lifetime.
 *
 * Source: adjtimex() with modes = 0, a read-only query that needs no privilege (glibc turns it
 * into clock_adjtime(CLOCK_REALTIME)). The kernel's NTP state is the one authority every time
 * daemon feeds (systemd-timesyncd, chronyd, ntpd, phc2sys all clear STA_UNSYNC and set
 * maxerror when they discipline the clock), so the check asks the kernel, not a daemon.
 *  - synchronized: STA_UNSYNC clear and the call did not return TIME_ERROR (which also covers a
 *    failing PPS discipline). Not synchronised → FAIL.
 *  - max_error_us: the kernel's maximum error bound. A daemon sets it at each update; the kernel
 *    adds 500 µs per second (500 ppm) after that and declares STA_UNSYNC at 16 s
 *    (NTP_PHASE_LIMIT). Synchronised but above the option max_error → WARN: the daemon has
 *    stopped updating the kernel. The default, 5 s, is above what a healthy daemon reaches
 *    (timesyncd resets it to 0 and polls at most every 2048 s, so ≤ 1.03 s; chronyd's bound
 *    is its root distance, usually milliseconds, plus the same growth over ≤ 1024 s) and far
 *    below the 60 s token skew: it warns when updates are hours overdue.
 *  - The clock is the running kernel's, whatever --root says: there is one CLOCK_REALTIME per
 *    kernel (time namespaces do not virtualise it), and it is the clock that stamps reports.
 *    With a root that is not the host the reason says so. The other evidence is read inside the
 *    root: the clock source (sysfs) and the time daemons that run (evidence only, and the
 *    remediation names the daemon). Daemons are found cheaply first: systemd service cgroups
 *    with processes (cgroup v2, hybrid or v1) and pid files whose pid has the daemon's comm.
 *    Only when those show none is every /proc/<pid>/comm read (about 5 µs per process), so
 *    "no time daemon is running" is a full answer; with a managed daemon found, an extra
 *    unmanaged one is not listed. With hidepid= or in a container /proc can hide processes.
 *  - adjtimex() failing is ERROR with the errno: EPERM comes from a seccomp filter, such as
 *    systemd's ProtectClock=yes or a SystemCallFilter= without clock_adjtime (which
 *    @system-service does not include).
 *
 * Evidence: synchronized, max_error_us, est_error_us, max_error_threshold_us, clock_state,
 * status (the raw STA_* word), status_flags, clocksource, time_daemons (null when the root has
 * neither a systemd system.slice nor /proc).
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <unistd.h>

#include "posture/check.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/parse.h"

#define CLOCKSOURCE_FILE "/sys/devices/system/clocksource/clocksource0/current_clocksource"
#define COMM_MAX         64u     /* /proc/<pid>/comm is at most 16 bytes with the newline */
#define PROC_ENTRIES_MAX 262144u /* more than pid_max allows by default (4194304 is the cap) */
#define DEADLINE_EVERY   256u    /* /proc entries between deadline checks */
#define PATH_BUF         512u

/*
 * Time daemons: the name we report, their /proc/<pid>/comm (15 characters at most), their
 * systemd units (a name ending in '@' matches every instance "<name>*.service") and pid files.
 */
enum { D_CHRONYD, D_TIMESYNCD, D_NTPD, D_PHC2SYS, D_PTP4L, D_TIMEMASTER, D_HTPDATE, D__MAX };
static const struct {
    const char *name;
    const char *comm;
    const char *units[5];
    const char *pidfiles[3];
} daemons[D__MAX] = {
    [D_CHRONYD] = { "chronyd",
                    "chronyd",
                    { "chrony.service", "chronyd.service" },
                    { "/run/chrony/chronyd.pid", "/run/chronyd.pid" } },
    [D_TIMESYNCD] = { "systemd-timesyncd",
                      "systemd-timesyn",
                      { "systemd-timesyncd.service" },
                      { 0 } },
    /* ntp, NTPsec, OpenNTPD and busybox all run as "ntpd" */
    [D_NTPD] = { "ntpd",
                 "ntpd",
                 { "ntp.service", "ntpd.service", "ntpsec.service", "openntpd.service" },
                 { "/run/ntpd.pid" } },
    [D_PHC2SYS] = { "phc2sys", "phc2sys", { "phc2sys.service", "phc2sys@" }, { 0 } },
    [D_PTP4L] = { "ptp4l", "ptp4l", { "ptp4l.service", "ptp4l@" }, { 0 } },
    [D_TIMEMASTER] = { "timemaster", "timemaster", { "timemaster.service" }, { 0 } },
    [D_HTPDATE] = { "htpdate", "htpdate", { "htpdate.service" }, { "/run/htpdate.pid" } },
};
/* Where systemd keeps its service cgroups: cgroup v2, hybrid, v1. The first found is used. */
static const char *const system_slices[] = {
    "/sys/fs/cgroup/system.slice",
    "/sys/fs/cgroup/unified/system.slice",
    "/sys/fs/cgroup/systemd/system.slice",
};
#define N_DAEMONS ((size_t) D__MAX)

static const struct {
    int bit;
    const char *name;
} status_bits[] = {
    { STA_PLL, "PLL" },
    { STA_PPSFREQ, "PPSFREQ" },
    { STA_PPSTIME, "PPSTIME" },
    { STA_FLL, "FLL" },
    { STA_INS, "INS" },
    { STA_DEL, "DEL" },
    { STA_UNSYNC, "UNSYNC" },
    { STA_FREQHOLD, "FREQHOLD" },
    { STA_PPSSIGNAL, "PPSSIGNAL" },
    { STA_PPSJITTER, "PPSJITTER" },
    { STA_PPSWANDER, "PPSWANDER" },
    { STA_PPSERROR, "PPSERROR" },
    { STA_CLOCKERR, "CLOCKERR" },
    { STA_NANO, "NANO" },
    { STA_MODE, "MODE" },
    { STA_CLK, "CLK" },
};
#define N_STATUS_BITS (sizeof(status_bits) / sizeof(status_bits[0]))

/* Thread-safe text for an errno (strerror() is not). */
static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

static const char *clock_state_name(int state)
{
    switch (state) {
    case TIME_OK:
        return "ok";
    case TIME_INS:
        return "insert_leap";
    case TIME_DEL:
        return "delete_leap";
    case TIME_OOP:
        return "leap_in_progress";
    case TIME_WAIT:
        return "leap_occurred";
    case TIME_ERROR:
        return "error";
    default:
        return "unknown";
    }
}

/* "250 us", "12.3 ms", "12 ms", "1.02 s", "5 s". */
static const char *format_us(char *buf, size_t size, int64_t us)
{
    if (us < 0)
        us = 0;
    if (us >= 1000000 && us % 1000000 == 0)
        (void) snprintf(buf, size, "%" PRId64 " s", us / 1000000);
    else if (us >= 1000000)
        (void) snprintf(buf, size, "%.2f s", (double) us / 1e6);
    else if (us >= 1000 && us % 1000 == 0)
        (void) snprintf(buf, size, "%" PRId64 " ms", us / 1000);
    else if (us >= 1000)
        (void) snprintf(buf, size, "%.1f ms", (double) us / 1e3);
    else
        (void) snprintf(buf, size, "%" PRId64 " us", us);
    return buf;
}

static bool is_pid(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* The comm of one /proc entry into buf (trimmed), without following symlinks. */
static int read_comm(int proc_fd, const char *pid, char *buf, size_t size)
{
    posture_autoclose int pid_fd =
        openat(proc_fd, pid, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pid_fd < 0)
        return posture_negative_errno();
    posture_autoclose int fd = openat(pid_fd, "comm", O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return posture_negative_errno();
    ssize_t n = read(fd, buf, size - 1);
    if (n < 0)
        return posture_negative_errno();
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static bool unit_matches(const char *unit, const char *entry)
{
    size_t n = strlen(unit);
    if (n > 0 && unit[n - 1] == '@') {
        size_t m = strlen(entry);
        return m > n + 8 && strncmp(entry, unit, n) == 0 && strcmp(entry + m - 8, ".service") == 0;
    }
    return strcmp(entry, unit) == 0;
}

/* Running systemd services: a unit's cgroup.procs is non-empty while it has processes.
 * 1 when a system.slice was found, 0 when none exists in the root. */
static int find_units(const struct posture_check_ctx *ctx, bool found[N_DAEMONS])
{
    for (size_t s = 0; s < sizeof(system_slices) / sizeof(system_slices[0]); s++) {
        DIR *d = NULL;
        if (posture_opendir_at_root(ctx->root_fd, system_slices[s], &d) < 0)
            continue;
        size_t n = 0;
        for (struct dirent *de; (de = readdir(d)) && n < PROC_ENTRIES_MAX; n++)
            for (size_t i = 0; i < N_DAEMONS; i++)
                for (size_t u = 0; u < 5 && daemons[i].units[u]; u++) {
                    if (found[i] || !unit_matches(daemons[i].units[u], de->d_name))
                        continue;
                    char path[PATH_BUF];
                    char *buf = NULL;
                    size_t len = 0;
                    (void) snprintf(path, sizeof(path), "%s/%s/cgroup.procs", system_slices[s],
                                    de->d_name);
                    int r = posture_read_file_at(ctx->root_fd, path, 64, &buf, &len);
                    free(buf);
                    /* -EFBIG: more than 64 bytes of pids, so not empty either */
                    found[i] = (r >= 0 && len > 0) || r == -EFBIG;
                }
        (void) closedir(d);
        return 1;
    }
    return 0;
}

/* Pid files whose pid is alive with the daemon's comm (a stale file does not count). */
static void find_pidfiles(const struct posture_check_ctx *ctx, bool found[N_DAEMONS])
{
    for (size_t i = 0; i < N_DAEMONS; i++)
        for (size_t p = 0; p < 3 && daemons[i].pidfiles[p] && !found[i]; p++) {
            posture_autofree char *line = NULL, *comm = NULL;
            char path[PATH_BUF];
            uint32_t pid;
            if (posture_read_line_at(ctx->root_fd, daemons[i].pidfiles[p], 32, &line) < 0 ||
                posture_parse_u32(line + strspn(line, " \t"), &pid) < 0 || pid == 0)
                continue;
            (void) snprintf(path, sizeof(path), "/proc/%" PRIu32 "/comm", pid);
            if (posture_read_line_at(ctx->root_fd, path, COMM_MAX, &comm) >= 0 &&
                strcmp(comm, daemons[i].comm) == 0)
                found[i] = true;
        }
}

/* Every process of the root's /proc by comm: -ENOENT without /proc, -ETIMEDOUT at the
 * deadline. About 5 µs per process, so only when the cheap sources found nothing. */
static int scan_proc(const struct posture_check_ctx *ctx, bool found[N_DAEMONS])
{
    DIR *d = NULL;

    int r = posture_opendir_at_root(ctx->root_fd, "/proc", &d);
    if (r < 0)
        return r;

    size_t n = 0;
    r = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (++n % DEADLINE_EVERY == 0 && ctx->api->now_usec() >= ctx->deadline_usec) {
            r = -ETIMEDOUT;
            break;
        }
        if (n > PROC_ENTRIES_MAX)
            break;
        if (!is_pid(de->d_name))
            continue;
        char comm[COMM_MAX];
        if (read_comm(dirfd(d), de->d_name, comm, sizeof(comm)) < 0)
            continue; /* exited meanwhile, or not a process directory */
        for (size_t i = 0; i < N_DAEMONS; i++)
            if (strcmp(comm, daemons[i].comm) == 0)
                found[i] = true;
    }
    (void) closedir(d);
    return r;
}

/*
 * Which time daemons run in the root: systemd service cgroups and verified pid files first
 * (a few reads), and only when they show none, every /proc/<pid>/comm (so "none" is a full
 * answer). 0 on success, -ENOENT when the root has neither a system.slice nor /proc (unknown),
 * -ETIMEDOUT at the deadline.
 */
static int find_daemons(const struct posture_check_ctx *ctx, bool found[N_DAEMONS])
{
    int have_units = find_units(ctx, found);
    find_pidfiles(ctx, found);
    for (size_t i = 0; i < N_DAEMONS; i++)
        if (found[i])
            return 0;
    int r = scan_proc(ctx, found);
    if (r == -ETIMEDOUT)
        return r;
    return r < 0 && !have_units ? r : 0;
}

/* "chronyd" or "chronyd and ntpd" or "chronyd, ntpd and ptp4l" for a reason. */
static const char *daemon_list(char *buf, size_t size, const bool found[N_DAEMONS], size_t n_found)
{
    size_t k = 0, used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_DAEMONS && used < size; i++) {
        if (!found[i])
            continue;
        const char *sep = k == 0 ? "" : (k + 1 == n_found ? " and " : ", ");
        int w = snprintf(buf + used, size - used, "%s%s", sep, daemons[i].name);
        if (w < 0)
            break;
        used += (size_t) w;
        k++;
    }
    return buf;
}

static int add_evidence(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        const struct timex *tx,
                        int state,
                        bool synchronized,
                        uint64_t threshold_us,
                        const char *clocksource,
                        int daemons_r,
                        const bool found[N_DAEMONS])
{
    const struct posture_host_api *api = ctx->api;
    const char *flags[N_STATUS_BITS];
    const char *names[N_DAEMONS];
    size_t n_flags = 0, n_names = 0;

    for (size_t i = 0; i < N_STATUS_BITS; i++)
        if (tx->status & status_bits[i].bit)
            flags[n_flags++] = status_bits[i].name;
    for (size_t i = 0; i < N_DAEMONS; i++)
        if (found[i])
            names[n_names++] = daemons[i].name;

    int r = api->evidence_add_bool(result, "synchronized", synchronized);
    if (r >= 0)
        r = api->evidence_add_int(result, "max_error_us", (int64_t) tx->maxerror);
    if (r >= 0)
        r = api->evidence_add_int(result, "est_error_us", (int64_t) tx->esterror);
    if (r >= 0)
        r = api->evidence_add_int(result, "max_error_threshold_us", (int64_t) threshold_us);
    if (r >= 0)
        r = api->evidence_add_str(result, "clock_state", clock_state_name(state));
    if (r >= 0)
        r = api->evidence_add_int(result, "status", tx->status);
    if (r >= 0)
        r = api->evidence_add_strv(result, "status_flags", flags, n_flags);
    if (r >= 0)
        r = api->evidence_add_str(result, "clocksource", clocksource);
    if (r >= 0)
        r = daemons_r < 0 ? api->evidence_add_str(result, "time_daemons", NULL)
                          : api->evidence_add_strv(result, "time_daemons", names, n_names);
    return r;
}

/* Remediation for an unsynchronised clock, given the daemons we saw. */
static void set_unsync_remediation(const struct posture_check_ctx *ctx,
                                   struct posture_result *result,
                                   int daemons_r,
                                   const bool found[N_DAEMONS])
{
    const struct posture_host_api *api = ctx->api;

    if (daemons_r >= 0 && found[D_CHRONYD])
        (void) api->set_remediation(result, "chronyd runs but has not synchronised the clock: "
                                            "check its sources with chronyc sources -v and that "
                                            "UDP port 123 to them is open.");
    else if (daemons_r >= 0 && found[D_TIMESYNCD])
        (void) api->set_remediation(result,
                                    "systemd-timesyncd runs but has not synchronised the clock: "
                                    "check timedatectl timesync-status and that UDP port 123 to "
                                    "its NTP servers is open.");
    else if (daemons_r >= 0 && found[D_NTPD])
        (void) api->set_remediation(result, "ntpd runs but has not synchronised the clock: check "
                                            "ntpq -p and that UDP port 123 to its servers is "
                                            "open.");
    else
        (void) api->set_remediation(result,
                                    "Enable time synchronisation: sudo timedatectl set-ntp true "
                                    "(systemd-timesyncd), or install chrony and run sudo "
                                    "systemctl enable --now chrony (chronyd on Fedora/RHEL).");
}

static int decide(const struct posture_check_ctx *ctx,
                  struct posture_result *result,
                  const struct timex *tx,
                  int state,
                  uint64_t threshold_us,
                  int daemons_r,
                  const bool found[N_DAEMONS],
                  size_t n_found)
{
    const struct posture_host_api *api = ctx->api;
    char max[32], est[32], thr[32], list[160];
    const char *whose = posture_root_is_host(ctx->root_fd)
                            ? ""
                            : " (the running kernel's clock: --root does not apply to it)";

    if (tx->status & STA_UNSYNC) {
        char why[sizeof(list) + 32] = "";
        if (daemons_r >= 0 && n_found == 0)
            (void) snprintf(why, sizeof(why), " and no time daemon is running");
        else if (n_found > 0)
            (void) snprintf(why, sizeof(why), " although %s %s",
                            daemon_list(list, sizeof(list), found, n_found),
                            n_found == 1 ? "runs" : "run");
        (void) api->set_reason(result,
                               "The system clock is not synchronised with NTP: the kernel reports "
                               "STA_UNSYNC%s%s",
                               why, whose);
        set_unsync_remediation(ctx, result, daemons_r, found);
        return api->set_status(result, POSTURE_STATUS_FAIL);
    }
    if (state == TIME_ERROR) {
        (void) api->set_reason(
            result,
            "The kernel reports a clock error (TIME_ERROR, status 0x%x): its PPS "
            "discipline has lost the signal or found it unstable%s",
            (unsigned) tx->status, whose);
        (void) api->set_remediation(result, "Check the PPS source and the daemon that disciplines "
                                            "the clock with it (chronyc sources -v or ntpq -p), "
                                            "or stop using PPS.");
        return api->set_status(result, POSTURE_STATUS_FAIL);
    }

    (void) format_us(max, sizeof(max), (int64_t) tx->maxerror);
    (void) format_us(est, sizeof(est), (int64_t) tx->esterror);
    if (tx->maxerror > 0 && (uint64_t) tx->maxerror > threshold_us) {
        (void) api->set_reason(result,
                               "The system clock is synchronised, but its maximum error is %s, "
                               "above the %s threshold: the time daemon has not updated the "
                               "kernel for a long time%s",
                               max, format_us(thr, sizeof(thr), (int64_t) threshold_us), whose);
        (void) api->set_remediation(result, "Check that the time daemon still reaches its servers "
                                            "(chronyc tracking, or timedatectl timesync-status), "
                                            "or raise max_error in [check.time.sync].");
        return api->set_status(result, POSTURE_STATUS_WARN);
    }
    int r = api->set_reason(result,
                            "The system clock is synchronised (maximum error %s, estimated %s)%s",
                            max, est, whose);
    return r < 0 ? r : api->set_status(result, POSTURE_STATUS_PASS);
}

static int
time_sync_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    posture_autofree char *clocksource = NULL;
    bool found[N_DAEMONS] = { false };
    uint64_t threshold_us = 0;

    (void) state;
    int r = api->option_get_u64(ctx, "max_error", &threshold_us);
    if (r < 0 || threshold_us == 0) {
        (void) api->set_reason(result, "Invalid option max_error: %s",
                               r < 0 ? error_text(r) : "it must be greater than zero");
        (void) api->set_remediation(result, "Set max_error in [check.time.sync] to a duration "
                                            "such as 5s or 500ms.");
        return r < 0 ? r : -EINVAL;
    }

    /* modes = 0: read only. */
    struct timex tx = { .modes = 0 };
    int clock_state = adjtimex(&tx);
    if (clock_state < 0) {
        r = posture_negative_errno();
        if (r == -EPERM) {
            (void) api->set_reason(result,
                                   "adjtimex() was refused (%s): a seccomp filter blocks even "
                                   "read-only clock_adjtime calls",
                                   error_text(r));
            (void) api->set_remediation(result,
                                        "Let the agent read the clock state: drop ProtectClock=yes "
                                        "from its unit and allow clock_adjtime and adjtimex in "
                                        "SystemCallFilter=.");
        } else {
            (void) api->set_reason(result, "adjtimex() failed: %s", error_text(r));
            (void) api->set_remediation(result,
                                        "Check the kernel's timekeeping (dmesg); a read-only "
                                        "adjtimex() call should not fail.");
        }
        return r;
    }
    bool synchronized = !(tx.status & STA_UNSYNC) && clock_state != TIME_ERROR;

    r = posture_read_line_at(ctx->root_fd, CLOCKSOURCE_FILE, COMM_MAX, &clocksource);
    if (r < 0)
        api->log_debug(ctx, "%s not readable (%s), ignoring", CLOCKSOURCE_FILE,
                       posture_errno_name(r));

    int daemons_r = find_daemons(ctx, found);
    if (daemons_r == -ETIMEDOUT)
        return daemons_r;
    if (daemons_r < 0)
        api->log_debug(ctx, "cannot list /proc (%s), ignoring", posture_errno_name(daemons_r));
    size_t n_found = 0;
    for (size_t i = 0; i < N_DAEMONS; i++)
        n_found += found[i];

    r = add_evidence(ctx, result, &tx, clock_state, synchronized, threshold_us, clocksource,
                     daemons_r, found);
    if (r < 0)
        return r;
    return decide(ctx, result, &tx, clock_state, threshold_us, daemons_r, found, n_found);
}

static const struct posture_option options[] = {
    { POSTURE_OPTION_DURATION, "max_error", "5s",
      "Largest kernel maximum-error bound that passes; above it a synchronised clock warns" },
    { 0, NULL, NULL, NULL },
};

const struct posture_check_desc posture_check_time_sync = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "time.sync",
    .version = "1.0.0",
    .summary = "The kernel clock is NTP-synchronised within a bounded error",
    .flags = 0,
    .options = options,
    .init = NULL,
    .run = time_sync_run,
    .fini = NULL,
};
