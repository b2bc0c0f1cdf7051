/* SPDX-License-Identifier: Apache-2.0 */
/* mac.enforcing on fixture roots (sysfs, securityfs and /etc/selinux/config trees). */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posture/config.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/registry.h"
#include "posture/result.h"
#include "posture/runner.h"

#include "checktest.h"

enum { NUL = -1 }; /* a JSON null */

struct expect {
    const char *scenario;
    const char *config;
    int status;
    int error;
    const char *reason;
    const char *mac; /* NULL: null */
    int enforcing, persistent;
    const char *lsm; /* space-separated; NULL: null */
    int selinux_enabled, selinux_enforce;
    const char *selinux_config;
    int apparmor_enabled;
    int profiles, enforce, complain; /* NUL: null */
    int min;
};

#define LSM_AA "lockdown capability landlock yama apparmor"
#define LSM_SE "lockdown capability yama selinux bpf"
#define MIN3   "min_enforced_profiles = 3\n"

/* clang-format off */
static const struct expect fixtures[] = {
    { "apparmor-enforcing", NULL, POSTURE_STATUS_PASS, 0,
      "AppArmor is enabled and enforces 6 profiles (1 in complain mode)", "apparmor", 1, NUL,
      LSM_AA, 0, NUL, NULL, 1, 7, 6, 1, 1 },
    { "apparmor-enforcing", "min_enforced_profiles = 6\n", POSTURE_STATUS_PASS, 0, NULL,
      "apparmor", 1, NUL, LSM_AA, 0, NUL, NULL, 1, 7, 6, 1, 6 },
    { "apparmor-enforcing", "min_enforced_profiles = 7\n", POSTURE_STATUS_FAIL, 0,
      "AppArmor is enabled, but only 6 of its 7 profiles enforce (1 in complain mode); at least "
      "7 must", "apparmor", 0, NUL, LSM_AA, 0, NUL, NULL, 1, 7, 6, 1, 7 },
    { "apparmor-complain", NULL, POSTURE_STATUS_FAIL, 0,
      "AppArmor is enabled, but only 0 of its 3 profiles enforce (2 in complain mode); at least "
      "1 must", "apparmor", 0, NUL, LSM_AA, 0, NUL, NULL, 1, 3, 0, 2, 1 },
    /* Enabled is enough when the policy asks for no profile. */
    { "apparmor-complain", "min_enforced_profiles = 0\n", POSTURE_STATUS_PASS, 0,
      "AppArmor is enabled and enforces 0 profiles (2 in complain mode)", "apparmor", 1, NUL,
      LSM_AA, 0, NUL, NULL, 1, 3, 0, 2, 0 },
    { "apparmor-no-profiles", NULL, POSTURE_STATUS_FAIL, 0,
      "AppArmor is enabled, but only 0 of its 0 profiles enforce (0 in complain mode); at least "
      "1 must", "apparmor", 0, NUL, LSM_AA, 0, NUL, NULL, 1, 0, 0, 0, 1 },
    { "apparmor-disabled", NULL, POSTURE_STATUS_FAIL, 0,
      "AppArmor is disabled (apparmor.enabled=N) and SELinux is not enabled: no mandatory "
      "access control", NULL, 0, NUL, "lockdown capability landlock yama", 0, NUL, NULL, 0,
      NUL, NUL, NUL, 1 },
    { "apparmor-no-securityfs", NULL, POSTURE_STATUS_ERROR, -ENOENT,
      "AppArmor is enabled, but securityfs is not mounted at /sys/kernel/security, so its "
      "profiles cannot be listed", NULL, 0, NUL, NULL, 0, NUL, NULL, 1, NUL, NUL, NUL, 1 },
    { "selinux-enforcing", NULL, POSTURE_STATUS_PASS, 0, "SELinux is enabled and enforcing",
      "selinux", 1, 1, LSM_SE, 1, 1, "enforcing", NUL, NUL, NUL, NUL, 1 },
    { "selinux-permissive", NULL, POSTURE_STATUS_FAIL, 0,
      "SELinux is in permissive mode: it logs denials but enforces nothing", "selinux", 0, 0,
      LSM_SE, 1, 0, "permissive", NUL, NUL, NUL, NUL, 1 },
    { "selinux-config-permissive", NULL, POSTURE_STATUS_WARN, 0,
      "SELinux enforces, but /etc/selinux/config says SELINUX=permissive, so it will not after "
      "the next boot", "selinux", 1, 0, LSM_SE, 1, 1, "permissive", NUL, NUL, NUL, NUL, 1 },
    { "selinux-no-policy", NULL, POSTURE_STATUS_FAIL, 0,
      "SELinux is in the kernel but has no policy loaded, and AppArmor is not enabled: no "
      "mandatory access control", NULL, 0, NUL, LSM_SE, 0, 0, NULL, NUL, NUL, NUL, NUL, 1 },
    { "none", NULL, POSTURE_STATUS_FAIL, 0,
      "Neither AppArmor nor SELinux is enabled: no mandatory access control", NULL, 0, NUL,
      "lockdown capability landlock yama", 0, NUL, NULL, NUL, NUL, NUL, NUL, 1 },
    { "no-sysfs", NULL, POSTURE_STATUS_ERROR, -ENOENT,
      "sysfs is not mounted at /sys, so the LSMs cannot be read", NULL, 0, NUL, NULL, 0, NUL,
      NULL, NUL, NUL, NUL, NUL, 1 },
    { "none", "min_enforced_profiles = -1\n", POSTURE_STATUS_ERROR, -EINVAL,
      "Invalid option min_enforced_profiles: it must not be negative", NULL, 0, 0, NULL, 0, 0,
      NULL, 0, 0, 0, 0, 0 },
};
/* clang-format on */

static struct posture_result *
run_check(const char *root, const char *config, struct posture_run **ret_run)
{
    struct posture_result *r = posture_test_run_check("mac.enforcing", root, config, ret_run);
    assert_string_equal(r->version, "1.0.0");
    return r;
}

static void expect_tristate(const cJSON *ev, const char *key, int v)
{
    const cJSON *item = posture_test_json_get(ev, key);
    if (v == NUL) {
        if (!cJSON_IsNull(item))
            fail_msg("%s: expected null", key);
    } else if (!cJSON_IsBool(item) || cJSON_IsTrue(item) != (v == 1)) {
        fail_msg("%s: expected %s", key, v ? "true" : "false");
    }
}

static void expect_int(const cJSON *ev, const char *key, int v)
{
    const cJSON *item = posture_test_json_get(ev, key);
    if (v == NUL)
        assert_true(cJSON_IsNull(item));
    else
        assert_true(cJSON_IsNumber(item) && item->valuedouble == v);
}

static void check_fixture(const struct expect *x)
{
    char rel[256];
    posture_auto_run struct posture_run *run = NULL;
    static const char *const keys[] = {
        "mac",
        "enforcing",
        "persistent",
        "lsm",
        "selinux_enabled",
        "selinux_enforce",
        "selinux_config",
        "apparmor_enabled",
        "apparmor_profiles",
        "apparmor_enforce",
        "apparmor_complain",
        "min_enforced_profiles",
    };

    (void) snprintf(rel, sizeof(rel), "fixtures/roots/mac.enforcing/%s", x->scenario);
    print_message("  %s%s\n", x->scenario, x->config ? " (configured)" : "");
    struct posture_result *r = run_check(posture_test_path(rel), x->config, &run);
    if (r->status != x->status || r->error != x->error ||
        (x->reason && strcmp(r->reason, x->reason) != 0))
        fail_msg("%s: %d %d '%s', expected %d %d '%s'", x->scenario, r->status, r->error, r->reason,
                 x->status, x->error, x->reason);
    if (x->status == POSTURE_STATUS_PASS)
        assert_null(r->remediation);
    else
        assert_true(r->remediation && strlen(r->remediation) > 10);
    if (x->error == -EINVAL) {
        assert_int_equal(cJSON_GetArraySize(r->evidence), 1);
        posture_test_expect_str(r->evidence, "errno", "EINVAL");
        return;
    }
    const cJSON *item = r->evidence->child;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(keys); i++, item = item->next) {
        assert_non_null(item);
        assert_string_equal(item->string, keys[i]);
    }
    if (x->status == POSTURE_STATUS_ERROR) {
        assert_non_null(item);
        assert_string_equal(item->string, "errno");
        posture_test_expect_str(r->evidence, "errno", posture_errno_name(x->error));
        item = item->next;
    }
    assert_null(item);

    posture_test_expect_str(r->evidence, "mac", x->mac);
    expect_tristate(r->evidence, "enforcing", x->enforcing);
    expect_tristate(r->evidence, "persistent", x->persistent);
    const cJSON *lsm = posture_test_json_get(r->evidence, "lsm");
    if (!x->lsm) {
        assert_true(cJSON_IsNull(lsm));
    } else {
        char joined[256] = "";
        for (const cJSON *e = lsm->child; e; e = e->next) {
            size_t u = strlen(joined);
            (void) snprintf(joined + u, sizeof(joined) - u, "%s%s", u ? " " : "", e->valuestring);
        }
        assert_string_equal(joined, x->lsm);
    }
    expect_tristate(r->evidence, "selinux_enabled", x->selinux_enabled);
    expect_tristate(r->evidence, "selinux_enforce", x->selinux_enforce);
    posture_test_expect_str(r->evidence, "selinux_config", x->selinux_config);
    expect_tristate(r->evidence, "apparmor_enabled", x->apparmor_enabled);
    expect_int(r->evidence, "apparmor_profiles", x->profiles);
    expect_int(r->evidence, "apparmor_enforce", x->enforce);
    expect_int(r->evidence, "apparmor_complain", x->complain);
    expect_int(r->evidence, "min_enforced_profiles", x->min);
}

static void test_fixtures(void **state)
{
    (void) state;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(fixtures); i++)
        check_fixture(&fixtures[i]);
}

/* A root with AppArmor enabled and the given profile list (NULL: none) and enforce file. */
static char *make_root(const char *profiles, const char *enforce)
{
    char *tmp = posture_test_mkdtemp();
    assert_int_equal(posture_test_write_file(tmp, "sys/module/apparmor/parameters/enabled", "Y\n"),
                     0);
    if (profiles)
        assert_int_equal(
            posture_test_write_file(tmp, "sys/kernel/security/apparmor/profiles", profiles), 0);
    if (enforce)
        assert_int_equal(posture_test_write_file(tmp, "sys/fs/selinux/enforce", enforce), 0);
    return tmp;
}

static void test_profile_lines(void **state)
{
    (void) state;
    /* Names may hold spaces and parentheses; the mode is the last "(...)". Lines without one
     * are not profiles. */
    posture_autofree char *tmp = make_root("/usr/bin/a b (enforce)\n"
                                           "snap.x (y) (complain)  \n"
                                           "odd (enforce) trailing\n"
                                           "(enforce)\n"
                                           "\n"
                                           "p (kill)\n"
                                           "q (unconfined)\n"
                                           "r (prompt)",
                                           NULL);
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_check(tmp, NULL, &run);
    assert_int_equal(r->status, POSTURE_STATUS_PASS);
    expect_int(r->evidence, "apparmor_profiles", 5);
    expect_int(r->evidence, "apparmor_enforce", 2);
    expect_int(r->evidence, "apparmor_complain", 1);
    assert_true(cJSON_IsNull(posture_test_json_get(r->evidence, "lsm")));
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

static void test_bad_values(void **state)
{
    (void) state;
    posture_auto_run struct posture_run *run = NULL;
    posture_autofree char *tmp = make_root("a (enforce)\n", "2\n");
    struct posture_result *r = run_check(tmp, NULL, &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -EBADMSG);
    assert_string_equal(r->reason, "/sys/fs/selinux/enforce holds an unexpected value");
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
    run = posture_run_free(run);

    posture_autofree char *tmp2 = posture_test_mkdtemp();
    assert_int_equal(posture_test_write_file(tmp2, "sys/module/apparmor/parameters/enabled", "y"),
                     0);
    r = run_check(tmp2, NULL, &run);
    assert_int_equal(r->error, -EBADMSG);
    assert_string_equal(r->reason,
                        "/sys/module/apparmor/parameters/enabled holds an unexpected value");
    assert_int_equal(posture_test_rmdir_r(tmp2), 0);
}

/* The profile list unreadable (mode 0, as nobody): the per-profile mode files stand in when
 * they can be read; otherwise ERROR naming root, never a verdict. The child reports through
 * its exit status. */
static int unreadable_child(const char *root, bool policy_dir)
{
    posture_auto_registry struct posture_registry *reg = NULL;
    posture_auto_run struct posture_run *run = NULL;
    char *only[] = { "mac.enforcing", NULL };
    int fd;

    if (posture_registry_new(&reg) < 0 || posture_registry_add_builtins(reg) < 0)
        return 10;
    if (posture_root_open(root, &fd) < 0)
        return 11;
    struct posture_run_opts opts = { .root_fd = fd, .root_path = root, .only = only };
    int r = posture_runner_run(reg, &opts, &run, NULL);
    (void) close(fd);
    if (r < 0 || run->n_results != 1)
        return 12;
    const struct posture_result *res = run->results[0];
    if (policy_dir) {
        const cJSON *ev = res->evidence;
        if (res->status != POSTURE_STATUS_PASS ||
            strcmp(res->reason, "AppArmor is enabled and enforces 2 profiles (1 in complain "
                                "mode)") != 0)
            return 16;
        if (cJSON_GetObjectItem(ev, "apparmor_profiles")->valuedouble != 4 ||
            cJSON_GetObjectItem(ev, "apparmor_enforce")->valuedouble != 2 ||
            cJSON_GetObjectItem(ev, "apparmor_complain")->valuedouble != 1)
            return 17;
        return 0;
    }
    if (res->status != POSTURE_STATUS_ERROR || res->error != -EACCES)
        return 13;
    if (strcmp(res->reason, "Cannot read /sys/kernel/security/apparmor/profiles (Permission "
                            "denied): listing the AppArmor profiles needs root (uid 0 or group "
                            "0)") != 0)
        return 14;
    if (!res->remediation || !strstr(res->remediation, "SupplementaryGroups=root"))
        return 15;
    return 0;
}

static void run_unreadable(const char *tmp, bool policy_dir)
{
    if (geteuid() != 0) {
        assert_int_equal(unreadable_child(tmp, policy_dir), 0);
        return;
    }
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_check(tmp, NULL, &run);
    assert_int_equal(r->status, POSTURE_STATUS_PASS); /* root reads the list itself */
    expect_int(r->evidence, "apparmor_profiles", 1);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
            _exit(20);
        _exit(unreadable_child(tmp, policy_dir));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_unreadable_profiles(void **state)
{
    (void) state;
    posture_autofree char *tmp = make_root("a (enforce)\n", NULL);
    char path[4096];

    (void) snprintf(path, sizeof(path), "%s/sys/kernel/security/apparmor/profiles", tmp);
    assert_int_equal(chmod(path, 0), 0);
    assert_int_equal(chmod(tmp, 0755), 0);
    run_unreadable(tmp, false);

#define POLICY "sys/kernel/security/apparmor/policy/profiles/"
    assert_int_equal(posture_test_write_file(tmp, POLICY "usr.sbin.cupsd.1/mode", "enforce\n"), 0);
    assert_int_equal(posture_test_write_file(tmp, POLICY "man.2/mode", "complain\n"), 0);
    assert_int_equal(posture_test_write_file(tmp, POLICY "lsb_release.3/mode", "kill\n"), 0);
    assert_int_equal(posture_test_write_file(tmp, POLICY "x.4/mode", "unconfined\n"), 0);
    run_unreadable(tmp, true);

    /* One profile's mode unreadable as well: no count is trusted. */
    (void) snprintf(path, sizeof(path), "%s/" POLICY "x.4/mode", tmp);
    assert_int_equal(chmod(path, 0), 0);
    run_unreadable(tmp, false);
#undef POLICY
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

/* Whatever this machine runs, the evidence agrees with sysfs. */
static void test_host_root(void **state)
{
    (void) state;
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_check("/", NULL, &run);
    struct stat st;

    print_message("  host: %s\n", r->reason);
    if (stat("/sys/fs/selinux/enforce", &st) < 0 &&
        stat("/sys/module/apparmor/parameters/enabled", &st) < 0 && stat("/sys/kernel", &st) == 0)
        assert_int_equal(r->status, POSTURE_STATUS_FAIL);
    if (r->status == POSTURE_STATUS_ERROR)
        assert_true(r->error == -EACCES || r->error == -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        POSTURE_TEST_ON_OPENAT2(test_fixtures),     POSTURE_TEST_ON_FALLBACK(test_fixtures),
        cmocka_unit_test(test_profile_lines),       cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_unreadable_profiles), cmocka_unit_test(test_host_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
