/* SPDX-License-Identifier: Apache-2.0 */
/*
 * time.sync with the kernel clock mocked: this binary is linked with -Wl,--wrap=adjtimex
 * (tests/unit/CMakeLists.txt), so the check's adjtimex() call lands in __wrap_adjtimex() below,
 * which answers from `mock` or, when mock.real is set, asks the kernel. The check runs on a
 * worker thread of the runner; the test thread only reads `mock` after the run has joined it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/result.h"
#include "posture/runner.h"

#include "checktest.h"

/* ---- The adjtimex() seam ---- */

static struct {
    bool real;       /* pass through to the kernel */
    struct timex tx; /* what the kernel "returns" */
    int ret;         /* the clock state, or -1 */
    int err;         /* errno when ret is -1 */
    unsigned calls;
    unsigned modes_seen; /* OR of every modes word the check passed */
} mock;

int __real_adjtimex(struct timex *buf); /* NOLINT(bugprone-reserved-identifier) */
int __wrap_adjtimex(struct timex *buf); /* NOLINT(bugprone-reserved-identifier) */

int __wrap_adjtimex(struct timex *buf) /* NOLINT(bugprone-reserved-identifier) */
{
    mock.calls++;
    mock.modes_seen |= buf->modes;
    if (mock.real)
        return __real_adjtimex(buf);
    if (mock.ret < 0) {
        errno = mock.err;
        return -1;
    }
    unsigned modes = buf->modes;
    *buf = mock.tx;
    buf->modes = modes;
    return mock.ret;
}

static void mock_clock(int ret, int status, long maxerror, long esterror)
{
    memset(&mock, 0, sizeof(mock));
    mock.ret = ret;
    mock.tx.status = status;
    mock.tx.maxerror = maxerror;
    mock.tx.esterror = esterror;
}

/* ---- Running the check ---- */

static struct posture_result *
run_check(const char *root, const char *config_body, struct posture_run **ret_run)
{
    struct posture_result *r = posture_test_run_check("time.sync", root, config_body, ret_run);
    assert_string_equal(r->version, "1.0.0");
    return r;
}

static const char *fixture(const char *scenario)
{
    static char rel[256];
    (void) snprintf(rel, sizeof(rel), "fixtures/roots/time.sync/%s", scenario);
    return posture_test_path(rel);
}

static void expect_int(const cJSON *evidence, const char *key, long long value)
{
    const cJSON *item = posture_test_json_get(evidence, key);
    assert_true(cJSON_IsNumber(item));
    assert_int_equal((long long) item->valuedouble, value);
}

/* A JSON array of strings equal to the space-separated words of `words` ("" for []); NULL for
 * null. */
static void expect_list(const cJSON *evidence, const char *key, const char *words)
{
    const cJSON *item = posture_test_json_get(evidence, key);
    if (!words) {
        assert_true(cJSON_IsNull(item));
        return;
    }
    assert_true(cJSON_IsArray(item));
    char joined[512] = "";
    size_t used = 0;
    for (const cJSON *e = item->child; e; e = e->next) {
        assert_true(cJSON_IsString(e));
        int w =
            snprintf(joined + used, sizeof(joined) - used, "%s%s", used ? " " : "", e->valuestring);
        assert_true(w > 0 && (size_t) w < sizeof(joined) - used);
        used += (size_t) w;
    }
    assert_string_equal(joined, words);
}

/* The documented keys in order; an ERROR result carries only "errno". */
static void expect_keys(const cJSON *evidence, bool error)
{
    static const char *const keys[] = {
        "synchronized", "max_error_us", "est_error_us", "max_error_threshold_us", "clock_state",
        "status",       "status_flags", "clocksource",  "time_daemons",
    };
    const cJSON *item = evidence->child;
    if (error) {
        assert_int_equal(cJSON_GetArraySize(evidence), 1);
        assert_string_equal(item->string, "errno");
        return;
    }
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(keys); i++, item = item->next) {
        assert_non_null(item);
        assert_string_equal(item->string, keys[i]);
    }
    assert_null(item);
}

/* ---- Scenarios ---- */

#define NOT_HOST " (the running kernel's clock: --root does not apply to it)"
#define R_UNSYNC "The system clock is not synchronised with NTP: the kernel reports STA_UNSYNC"
#define ENABLE                                                                                    \
    "Enable time synchronisation: sudo timedatectl set-ntp true (systemd-timesyncd), or install " \
    "chrony and run sudo systemctl enable --now chrony (chronyd on Fedora/RHEL)."

/* Field order follows the table rows, not the padding. */
struct scenario { /* NOLINT(clang-analyzer-optin.performance.Padding) */
    const char *name;
    const char *root; /* fixture scenario */
    const char *config;
    int ret, status;
    long maxerror, esterror;
    int err; /* errno when ret == -1 */
    int expect_status;
    int expect_error;
    const char *reason;
    const char *remediation; /* NULL: only "non-empty" is checked (unless PASS) */
    bool synchronized;
    const char *clock_state;
    const char *flags;
    const char *clocksource;
    const char *daemons;
    long long threshold_us;
};

/* clang-format off */
static const struct scenario scenarios[] = {
    { "synchronised, small error", "chrony", NULL, TIME_OK, STA_PLL, 12345, 1000, 0,
      POSTURE_STATUS_PASS, 0,
      "The system clock is synchronised (maximum error 12.3 ms, estimated 1 ms)" NOT_HOST, NULL,
      true, "ok", "PLL", "tsc", "chronyd", 5000000 },
    { "synchronised, error at the threshold", "timesyncd", NULL, TIME_OK, STA_PLL | STA_NANO,
      5000000, 250, 0, POSTURE_STATUS_PASS, 0,
      "The system clock is synchronised (maximum error 5 s, estimated 250 us)" NOT_HOST, NULL,
      true, "ok", "PLL NANO", "kvm-clock", "systemd-timesyncd", 5000000 },
    { "synchronised, leap second pending", "chrony", NULL, TIME_INS, STA_INS, 1500000, 20000, 0,
      POSTURE_STATUS_PASS, 0,
      "The system clock is synchronised (maximum error 1.50 s, estimated 20 ms)" NOT_HOST, NULL,
      true, "insert_leap", "INS", "tsc", "chronyd", 5000000 },
    { "synchronised, large error", "chrony", NULL, TIME_OK, STA_PLL, 7200000, 3000, 0,
      POSTURE_STATUS_WARN, 0,
      "The system clock is synchronised, but its maximum error is 7.20 s, above the 5 s "
      "threshold: the time daemon has not updated the kernel for a long time" NOT_HOST, NULL,
      true, "ok", "PLL", "tsc", "chronyd", 5000000 },
    { "synchronised, above a configured threshold", "chrony", "max_error = 500ms\n", TIME_OK, 0,
      600000, 3000, 0, POSTURE_STATUS_WARN, 0,
      "The system clock is synchronised, but its maximum error is 600 ms, above the 500 ms "
      "threshold: the time daemon has not updated the kernel for a long time" NOT_HOST, NULL,
      true, "ok", "", "tsc", "chronyd", 500000 },
    { "synchronised, below a configured threshold", "chrony", "max_error = 10s\n", TIME_OK, 0,
      7200000, 3000, 0, POSTURE_STATUS_PASS, 0,
      "The system clock is synchronised (maximum error 7.20 s, estimated 3 ms)" NOT_HOST, NULL,
      true, "ok", "", "tsc", "chronyd", 10000000 },
    { "unsynchronised, no daemon", "no-daemon", NULL, TIME_ERROR, STA_UNSYNC, 16000000, 16000000,
      0, POSTURE_STATUS_FAIL, 0, R_UNSYNC " and no time daemon is running" NOT_HOST, ENABLE,
      false, "error", "UNSYNC", "hpet", "", 5000000 },
    { "unsynchronised, chronyd runs", "chrony", NULL, TIME_ERROR, STA_UNSYNC | STA_PLL, 16000000,
      16000000, 0, POSTURE_STATUS_FAIL, 0, R_UNSYNC " although chronyd runs" NOT_HOST,
      "chronyd runs but has not synchronised the clock: check its sources with chronyc sources -v "
      "and that UDP port 123 to them is open.",
      false, "error", "PLL UNSYNC", "tsc", "chronyd", 5000000 },
    { "unsynchronised, timesyncd runs", "timesyncd", NULL, TIME_ERROR, STA_UNSYNC, 3000000, 0, 0,
      POSTURE_STATUS_FAIL, 0, R_UNSYNC " although systemd-timesyncd runs" NOT_HOST,
      "systemd-timesyncd runs but has not synchronised the clock: check timedatectl "
      "timesync-status and that UDP port 123 to its NTP servers is open.",
      false, "error", "UNSYNC", "kvm-clock", "systemd-timesyncd", 5000000 },
    { "unsynchronised, ntpd and PTP run", "ntpd-ptp", NULL, TIME_ERROR, STA_UNSYNC, 16000000,
      16000000, 0, POSTURE_STATUS_FAIL, 0, R_UNSYNC " although ntpd, phc2sys and ptp4l run" NOT_HOST,
      "ntpd runs but has not synchronised the clock: check ntpq -p and that UDP port 123 to its "
      "servers is open.",
      false, "error", "UNSYNC", "tsc", "ntpd phc2sys ptp4l", 5000000 },
    { "unsynchronised, no /proc", "no-proc", NULL, TIME_ERROR, STA_UNSYNC, 16000000, 16000000, 0,
      POSTURE_STATUS_FAIL, 0, R_UNSYNC NOT_HOST, ENABLE, false, "error", "UNSYNC", NULL, NULL,
      5000000 },
    { "unsynchronised, stale pid files", "stale-pidfile", NULL, TIME_ERROR, STA_UNSYNC, 16000000,
      16000000, 0, POSTURE_STATUS_FAIL, 0, R_UNSYNC " and no time daemon is running" NOT_HOST,
      ENABLE, false, "error", "UNSYNC", NULL, "", 5000000 },
    { "synchronised, PTP instance under systemd (cgroup v1)", "cgroup-v1-ptp", NULL, TIME_OK,
      STA_PLL, 300, 20, 0, POSTURE_STATUS_PASS, 0,
      "The system clock is synchronised (maximum error 300 us, estimated 20 us)" NOT_HOST, NULL,
      true, "ok", "PLL", NULL, "ptp4l", 5000000 },
    { "STA_UNSYNC with TIME_OK", "no-daemon", NULL, TIME_OK, STA_UNSYNC, 100, 100, 0,
      POSTURE_STATUS_FAIL, 0, R_UNSYNC " and no time daemon is running" NOT_HOST, ENABLE,
      false, "ok", "UNSYNC", "hpet", "", 5000000 },
    { "TIME_ERROR from PPS", "ntpd-ptp", NULL, TIME_ERROR, STA_PLL | STA_PPSTIME | STA_PPSFREQ,
      2000, 100, 0, POSTURE_STATUS_FAIL, 0,
      "The kernel reports a clock error (TIME_ERROR, status 0x7): its PPS discipline has lost the "
      "signal or found it unstable" NOT_HOST, NULL,
      false, "error", "PLL PPSFREQ PPSTIME", "tsc", "ntpd phc2sys ptp4l", 5000000 },
    { "adjtimex EPERM", "chrony", NULL, -1, 0, 0, 0, EPERM, POSTURE_STATUS_ERROR, -EPERM,
      "adjtimex() was refused (Operation not permitted): a seccomp filter blocks even read-only "
      "clock_adjtime calls",
      "Let the agent read the clock state: drop ProtectClock=yes from its unit and allow "
      "clock_adjtime and adjtimex in SystemCallFilter=.",
      false, NULL, NULL, NULL, NULL, 0 },
    { "adjtimex EINVAL", "chrony", NULL, -1, 0, 0, 0, EINVAL, POSTURE_STATUS_ERROR, -EINVAL,
      "adjtimex() failed: Invalid argument", NULL, false, NULL, NULL, NULL, NULL, 0 },
    { "max_error = 0", "chrony", "max_error = 0\n", TIME_OK, 0, 100, 100, 0, POSTURE_STATUS_ERROR,
      -EINVAL, "Invalid option max_error: it must be greater than zero", NULL,
      false, NULL, NULL, NULL, NULL, 0 },
    { "max_error not a duration", "chrony", "max_error = soon\n", TIME_OK, 0, 100, 100, 0,
      POSTURE_STATUS_ERROR, -EINVAL, "Invalid option max_error: Invalid argument", NULL,
      false, NULL, NULL, NULL, NULL, 0 },
};
/* clang-format on */

static void check_scenario(const struct scenario *s)
{
    posture_auto_run struct posture_run *run = NULL;

    print_message("  %s\n", s->name);
    mock_clock(s->ret, s->status, s->maxerror, s->esterror);
    mock.err = s->err;
    struct posture_result *r = run_check(fixture(s->root), s->config, &run);

    bool option_error = s->config && s->expect_status == POSTURE_STATUS_ERROR;
    assert_int_equal(mock.calls, option_error ? 0 : 1);
    assert_int_equal(mock.modes_seen, 0); /* read only, never an adjustment */
    assert_int_equal(r->status, s->expect_status);
    assert_int_equal(r->error, s->expect_error);
    assert_string_equal(r->reason, s->reason);
    if (s->expect_status == POSTURE_STATUS_PASS)
        assert_null(r->remediation);
    else if (s->remediation)
        assert_string_equal(r->remediation, s->remediation);
    else
        assert_true(r->remediation && strlen(r->remediation) > 10);

    expect_keys(r->evidence, s->expect_status == POSTURE_STATUS_ERROR);
    if (s->expect_status == POSTURE_STATUS_ERROR) {
        posture_test_expect_str(r->evidence, "errno", posture_errno_name(s->expect_error));
        return;
    }
    const cJSON *sync = cJSON_GetObjectItemCaseSensitive(r->evidence, "synchronized");
    assert_true(cJSON_IsBool(sync));
    assert_int_equal(cJSON_IsTrue(sync), s->synchronized);
    expect_int(r->evidence, "max_error_us", s->maxerror);
    expect_int(r->evidence, "est_error_us", s->esterror);
    expect_int(r->evidence, "max_error_threshold_us", s->threshold_us);
    posture_test_expect_str(r->evidence, "clock_state", s->clock_state);
    expect_int(r->evidence, "status", s->status);
    expect_list(r->evidence, "status_flags", s->flags);
    posture_test_expect_str(r->evidence, "clocksource", s->clocksource);
    expect_list(r->evidence, "time_daemons", s->daemons);
}

static void test_scenarios(void **state)
{
    (void) state;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(scenarios); i++)
        check_scenario(&scenarios[i]);
}

/* On the host root the reason does not mention --root. */
static void test_host_root_mocked(void **state)
{
    (void) state;
    posture_auto_run struct posture_run *run = NULL;

    mock_clock(TIME_OK, STA_PLL, 2500, 500);
    struct posture_result *r = run_check("/", NULL, &run);
    assert_int_equal(r->status, POSTURE_STATUS_PASS);
    assert_string_equal(
        r->reason, "The system clock is synchronised (maximum error 2.5 ms, estimated 500 us)");
    run = posture_run_free(run);

    mock_clock(TIME_ERROR, STA_UNSYNC, 16000000, 16000000);
    r = run_check("/", NULL, &run);
    assert_int_equal(r->status, POSTURE_STATUS_FAIL);
    assert_null(strstr(r->reason, "--root"));
    assert_non_null(strstr(r->reason, R_UNSYNC));
}

/* /proc entries that are symlinks out of the root, or whose comm is a symlink, are not read. */
static void test_proc_symlinks(void **state)
{
    (void) state;
    posture_autofree char *tmp = posture_test_mkdtemp();
    posture_auto_run struct posture_run *run = NULL;
    char root[4096];

    assert_int_equal(posture_test_write_file(tmp, "outside/77/comm", "chronyd\n"), 0);
    assert_int_equal(posture_test_write_file(tmp, "outside/comm", "ntpd\n"), 0);
    assert_int_equal(posture_test_write_file(tmp, "root/proc/1/comm", "init\n"), 0);
    assert_int_equal(posture_test_symlink(tmp, "root/proc/77", "../../outside/77"), 0);
    assert_int_equal(posture_test_symlink(tmp, "root/proc/78/comm", "../../../outside/comm"), 0);
    assert_int_equal(posture_test_write_file(tmp, "root/proc/79/comm", "ptp4l"), 0); /* no \n */
    (void) snprintf(root, sizeof(root), "%s/root", tmp);

    mock_clock(TIME_ERROR, STA_UNSYNC, 16000000, 16000000);
    struct posture_result *r = run_check(root, NULL, &run);
    assert_int_equal(r->status, POSTURE_STATUS_FAIL);
    expect_list(r->evidence, "time_daemons", "ptp4l");
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

/* The real kernel, unmocked, against an independent reading of the same call. */
static void test_real_kernel(void **state)
{
    (void) state;
    posture_auto_run struct posture_run *run = NULL;
    struct timex before = { .modes = 0 }, after = { .modes = 0 };

    memset(&mock, 0, sizeof(mock));
    mock.real = true;
    int s1 = __real_adjtimex(&before);
    struct posture_result *r = run_check("/", NULL, &run);
    int s2 = __real_adjtimex(&after);
    assert_true(s1 >= 0 && s2 >= 0);
    assert_int_equal(mock.calls, 1);
    assert_int_equal(mock.modes_seen, 0);

    bool sync1 = !(before.status & STA_UNSYNC) && s1 != TIME_ERROR;
    bool sync2 = !(after.status & STA_UNSYNC) && s2 != TIME_ERROR;
    if (sync1 != sync2) {
        print_message("  the clock changed state during the test, not comparing\n");
        return;
    }
    const cJSON *sync = cJSON_GetObjectItemCaseSensitive(r->evidence, "synchronized");
    assert_true(cJSON_IsBool(sync));
    assert_int_equal(cJSON_IsTrue(sync), sync1);
    if (!sync1)
        assert_int_equal(r->status, POSTURE_STATUS_FAIL);
    else
        assert_true(r->status == POSTURE_STATUS_PASS || r->status == POSTURE_STATUS_WARN);
    print_message("  kernel: %s\n", r->reason);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_host_root_mocked),
        cmocka_unit_test(test_proc_symlinks),
        cmocka_unit_test(test_real_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
