/* SPDX-License-Identifier: Apache-2.0 */
/* The UEFI variable and lockdown decoders, and boot.secure_boot on the fixture roots. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/registry.h"
#include "posture/result.h"
#include "posture/runner.h"

#include "boot_secure_boot/efivar.h"
#include "checktest.h"

#define G "8be4df61-93ca-11d2-aa0d-00e098032b8c"

/* ---- Decoders ---- */

static void test_parse_bool(void **state)
{
    (void) state;
    uint32_t attr = 0xdeadbeef;
    bool v = false;

    assert_int_equal(posture_efivar_parse_bool("\x06\x00\x00\x00\x01", 5, &attr, &v), 0);
    assert_true(v);
    assert_int_equal(attr, 0x06);
    assert_int_equal(posture_efivar_parse_bool("\x07\x00\x00\x80\x00", 5, &attr, &v), 0);
    assert_false(v);
    assert_int_equal(attr, 0x80000007u); /* little-endian */
    assert_int_equal(posture_efivar_parse_bool("\x06\x00\x00\x00\x01", 5, NULL, &v), 0);

    /* Failures leave the outputs alone. */
    attr = 42;
    v = true;
    assert_int_equal(posture_efivar_parse_bool("", 0, &attr, &v), -ENODATA);
    assert_int_equal(posture_efivar_parse_bool(NULL, 0, &attr, &v), -ENODATA);
    assert_int_equal(posture_efivar_parse_bool("\x06", 1, &attr, &v), -EBADMSG);
    assert_int_equal(posture_efivar_parse_bool("\x06\x00\x00", 3, &attr, &v), -EBADMSG);
    assert_int_equal(posture_efivar_parse_bool("\x06\x00\x00\x00", 4, &attr, &v), -EBADMSG);
    assert_int_equal(posture_efivar_parse_bool("\x06\x00\x00\x00\x01\x00", 6, &attr, &v), -EBADMSG);
    assert_int_equal(posture_efivar_parse_bool("\x06\x00\x00\x00\x02", 5, &attr, &v), -ERANGE);
    assert_int_equal(posture_efivar_parse_bool("\x06\x00\x00\x00\xff", 5, &attr, &v), -ERANGE);
    assert_int_equal(attr, 42);
    assert_true(v);
    assert_int_equal(posture_efivar_parse_bool("\x06\x00\x00\x00\x01", 5, &attr, NULL), -EINVAL);
    assert_int_equal(posture_efivar_parse_bool(NULL, 5, &attr, &v), -EINVAL);

    assert_int_equal(posture_efivar_parse_bool_data("\x01", 1, &v), 0);
    assert_true(v);
    assert_int_equal(posture_efivar_parse_bool_data("\x00", 1, &v), 0);
    assert_false(v);
    assert_int_equal(posture_efivar_parse_bool_data("", 0, &v), -ENODATA);
    assert_int_equal(posture_efivar_parse_bool_data("\x01\x00", 2, &v), -EBADMSG);
    assert_int_equal(posture_efivar_parse_bool_data("\x03", 1, &v), -ERANGE);
    assert_int_equal(posture_efivar_parse_bool_data("1", 1, &v), -ERANGE); /* not text */
    assert_false(v);
}

static void test_parse_attributes_text(void **state)
{
    (void) state;
    uint32_t a = 0;
    const char *t = "EFI_VARIABLE_NON_VOLATILE\nEFI_VARIABLE_BOOTSERVICE_ACCESS\n"
                    "EFI_VARIABLE_RUNTIME_ACCESS\n";

    assert_int_equal(posture_efivar_parse_attributes_text(t, strlen(t), &a), 0);
    assert_int_equal(a, 0x7);
    t = "EFI_VARIABLE_BOOTSERVICE_ACCESS\r\nEFI_VARIABLE_RUNTIME_ACCESS  ";
    assert_int_equal(posture_efivar_parse_attributes_text(t, strlen(t), &a), 0);
    assert_int_equal(a, 0x6);
    /* Prefixes, suffixes and unknown names do not count. */
    t = "EFI_VARIABLE_NON_VOLATILE_X\nXEFI_VARIABLE_NON_VOLATILE\nEFI_VARIABLE_APPEND_WRITE\n";
    assert_int_equal(posture_efivar_parse_attributes_text(t, strlen(t), &a), 0);
    assert_int_equal(a, 0);
    assert_int_equal(posture_efivar_parse_attributes_text("", 0, &a), 0);
    assert_int_equal(a, 0);
    a = 9;
    assert_int_equal(posture_efivar_parse_attributes_text("EFI_VARIABLE_NON_VOLATILE\0", 26, &a),
                     -EBADMSG);
    assert_int_equal(a, 9);
    assert_int_equal(posture_efivar_parse_attributes_text("x", 1, NULL), -EINVAL);
}

static void test_name_is_variable(void **state)
{
    (void) state;
    assert_true(posture_efivar_name_is_variable("SecureBoot-" G));
    assert_true(posture_efivar_name_is_variable("Boot0001-8BE4DF61-93CA-11D2-AA0D-00E098032B8C"));
    assert_true(posture_efivar_name_is_variable("X-" G));
    assert_true(posture_efivar_name_is_variable("a-b-" G)); /* names may hold dashes */
    assert_false(posture_efivar_name_is_variable("-" G));   /* no name */
    assert_false(posture_efivar_name_is_variable(G));
    assert_false(posture_efivar_name_is_variable("SecureBoot" G));
    assert_false(posture_efivar_name_is_variable("SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8"));
    assert_false(
        posture_efivar_name_is_variable("SecureBoot-8be4df61x93ca-11d2-aa0d-00e098032b8c"));
    assert_false(
        posture_efivar_name_is_variable("SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8g"));
    assert_false(posture_efivar_name_is_variable(".gitkeep"));
    assert_false(posture_efivar_name_is_variable("new_var"));
    assert_false(posture_efivar_name_is_variable(""));
    assert_false(posture_efivar_name_is_variable(NULL));
}

static void test_lockdown_parse(void **state)
{
    (void) state;
    char m[POSTURE_LOCKDOWN_MODE_MAX + 1];
    static const struct {
        const char *text;
        const char *mode; /* NULL: -EBADMSG */
    } cases[] = {
        { "[none] integrity confidentiality\n", "none" },
        { "none [integrity] confidentiality \n", "integrity" },
        { "none integrity [confidentiality]", "confidentiality" },
        { "  [none]\t\r\n", "none" },
        { "none [future_mode-2] x", "future_mode-2" },
        { "none integrity confidentiality\n", NULL }, /* nothing active */
        { "[none] [integrity]", NULL },               /* two active */
        { "[] none", NULL },
        { "[ none ]", NULL },
        { "[None] integrity", NULL },
        { "[none", NULL },
        { "none] [integrity]", NULL },
        { "[n[o]ne]", NULL },
        { "", NULL },
        { "\n", NULL },
        { "[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]", NULL }, /* 33 characters */
    };

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        (void) snprintf(m, sizeof(m), "untouched");
        int r = posture_lockdown_parse(cases[i].text, strlen(cases[i].text), m, sizeof(m));
        if (cases[i].mode) {
            assert_int_equal(r, 0);
            assert_string_equal(m, cases[i].mode);
        } else {
            assert_int_equal(r, -EBADMSG);
            assert_string_equal(m, "untouched");
        }
    }
    assert_int_equal(posture_lockdown_parse("[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]", 34, m, sizeof(m)),
                     0); /* 32 characters is the limit */
    assert_int_equal(strlen(m), POSTURE_LOCKDOWN_MODE_MAX);
    assert_int_equal(posture_lockdown_parse("[none]\0x", 8, m, sizeof(m)), -EBADMSG);
    assert_int_equal(posture_lockdown_parse("[none]", 6, m, POSTURE_LOCKDOWN_MODE_MAX), -EINVAL);
    assert_int_equal(posture_lockdown_parse("[none]", 6, NULL, 64), -EINVAL);
}

/* ---- The check on fixture roots ---- */

enum { NUL = -1 }; /* an evidence value that must be JSON null */

struct expect {
    const char *scenario;
    const char *config; /* body of [check.boot.secure_boot], or NULL */
    int status;
    int error;
    const char *reason;
    const char *efivars; /* NULL: null */
    const char *lockdown;
    int uefi, secure_boot, setup_mode, audit_mode, deployed_mode, shim;
};

#define EFIVARS     "/sys/firmware/efi/efivars/"
#define REQUIRE     "require_lockdown = yes\n"
#define R_PASS_USER "Secure Boot is on and enforcing (UEFI user mode)"
#define R_INTEGRITY R_PASS_USER "; kernel lockdown: integrity"
#define R_OFF       "Secure Boot is disabled in the firmware"
#define R_SETUP_OFF \
    "Secure Boot is off: the firmware is in Setup Mode, with no Platform Key enrolled"
#define R_SETUP \
    "The firmware is in Setup Mode: no Platform Key is enrolled, so Secure Boot enforces nothing"
#define R_SHIM                                                                                     \
    "Shim's signature validation is disabled (MokSBStateRT=1), so the boot loader and kernel are " \
    "not verified"
#define R_BIOS                                                                                     \
    "The machine did not boot through UEFI (no /sys/firmware/efi: legacy BIOS or a direct kernel " \
    "boot), and Secure Boot needs UEFI"

/* clang-format off */
static const struct expect fixtures[] = {
    /* scenario, config, status, errno, reason, efivars, lockdown,
     * uefi, secure_boot, setup_mode, audit_mode, deployed_mode, shim_validation_disabled */
    { "sb-on", NULL, POSTURE_STATUS_PASS, 0, R_INTEGRITY, "efivarfs", "integrity",
      1, 1, 0, 0, 0, 0 },
    { "sb-on", REQUIRE, POSTURE_STATUS_PASS, 0, R_INTEGRITY, "efivarfs", "integrity",
      1, 1, 0, 0, 0, 0 },
    { "sb-on", "require_lockdown = no\n", POSTURE_STATUS_PASS, 0, R_INTEGRITY, "efivarfs",
      "integrity", 1, 1, 0, 0, 0, 0 },
    { "sb-on-deployed", NULL, POSTURE_STATUS_PASS, 0,
      "Secure Boot is on and enforcing (UEFI deployed mode); kernel lockdown: confidentiality",
      "efivarfs", "confidentiality", 1, 1, 0, 0, 1, 0 },
    { "sb-on-minimal", NULL, POSTURE_STATUS_PASS, 0, R_PASS_USER, "efivarfs", NULL,
      1, 1, 0, NUL, NUL, 0 },
    { "sb-on-minimal", REQUIRE, POSTURE_STATUS_ERROR, -ENOENT,
      "Secure Boot is on, but the kernel lockdown mode is unknown: /sys/kernel/security/lockdown "
      "does not exist (securityfs not mounted, or a kernel without lockdown)",
      "efivarfs", NULL, 1, 1, 0, NUL, NUL, 0 },
    { "sb-on-lockdown-none", NULL, POSTURE_STATUS_PASS, 0, R_PASS_USER "; kernel lockdown: none",
      "efivarfs", "none", 1, 1, 0, NUL, NUL, 0 },
    { "sb-on-lockdown-none", REQUIRE, POSTURE_STATUS_FAIL, 0,
      "Secure Boot is on, but the kernel is not locked down (lockdown: none) and "
      "require_lockdown is set", "efivarfs", "none", 1, 1, 0, NUL, NUL, 0 },
    { "sb-off", NULL, POSTURE_STATUS_FAIL, 0, R_OFF, "efivarfs", "none", 1, 0, 0, 0, 0, NUL },
    { "sb-off", REQUIRE, POSTURE_STATUS_FAIL, 0, R_OFF, "efivarfs", "none", 1, 0, 0, 0, 0, NUL },
    { "setup-mode", NULL, POSTURE_STATUS_FAIL, 0, R_SETUP_OFF, "efivarfs", NULL,
      1, 0, 1, 0, 0, NUL },
    { "setup-mode-sb-on", NULL, POSTURE_STATUS_FAIL, 0, R_SETUP, "efivarfs", NULL,
      1, 1, 1, NUL, NUL, 0 },
    { "audit-mode", NULL, POSTURE_STATUS_FAIL, 0,
      "The firmware is in Audit Mode: images that fail verification are logged, not refused",
      "efivarfs", NULL, 1, 1, 0, 1, 0, 0 },
    { "shim-validation-disabled", NULL, POSTURE_STATUS_FAIL, 0, R_SHIM, "efivarfs", NULL,
      1, 1, 0, NUL, NUL, 1 },
    { "shim-nv-ignored", NULL, POSTURE_STATUS_PASS, 0, R_PASS_USER, "efivarfs", NULL,
      1, 1, 0, NUL, NUL, 0 },
    { "shim-validation-enabled", NULL, POSTURE_STATUS_PASS, 0, R_PASS_USER, "efivarfs", NULL,
      1, 1, 0, NUL, NUL, 0 },
    { "no-secureboot-var", NULL, POSTURE_STATUS_FAIL, 0,
      "The firmware has no SecureBoot variable: it does not support Secure Boot", "efivarfs",
      NULL, 1, 0, NUL, NUL, NUL, NUL },
    { "no-setupmode", NULL, POSTURE_STATUS_ERROR, -ENOENT,
      "The firmware reports SecureBoot=1 but has no SetupMode variable, so whether a Platform "
      "Key is enrolled is unknown", "efivarfs", NULL, 1, 1, NUL, NUL, NUL, NUL },
    { "legacy-bios", NULL, POSTURE_STATUS_FAIL, 0, R_BIOS, NULL, "none",
      0, 0, NUL, NUL, NUL, NUL },
    { "legacy-bios", REQUIRE, POSTURE_STATUS_FAIL, 0, R_BIOS, NULL, "none",
      0, 0, NUL, NUL, NUL, NUL },
    { "no-sysfs", NULL, POSTURE_STATUS_ERROR, -ENOENT,
      "sysfs is not mounted at /sys (no /sys/firmware), so the boot mode cannot be read", NULL,
      NULL, NUL, NUL, NUL, NUL, NUL, NUL },
    { "unreadable-efivars", NULL, POSTURE_STATUS_ERROR, -ENOENT,
      "efivarfs is not mounted at /sys/firmware/efi/efivars, so the Secure Boot state cannot be "
      "read", NULL, NULL, 1, NUL, NUL, NUL, NUL, NUL },
    { "no-efi-runtime", NULL, POSTURE_STATUS_ERROR, -EOPNOTSUPP,
      "The kernel offers no EFI variables (no /sys/firmware/efi/efivars): EFI runtime services "
      "are disabled, so the Secure Boot state cannot be read", NULL, NULL,
      1, NUL, NUL, NUL, NUL, NUL },
    { "empty-secureboot", NULL, POSTURE_STATUS_ERROR, -ENODATA,
      EFIVARS "SecureBoot-" G " is empty (zero-length data), so SecureBoot is unknown",
      "efivarfs", NULL, 1, NUL, NUL, NUL, NUL, NUL },
    { "short-file", NULL, POSTURE_STATUS_ERROR, -EBADMSG,
      EFIVARS "SecureBoot-" G " has 3 bytes, not a boolean UEFI variable (4 bytes of attributes "
      "and 1 of data), so SecureBoot is unknown", "efivarfs", NULL, 1, NUL, NUL, NUL, NUL, NUL },
    { "long-value", NULL, POSTURE_STATUS_ERROR, -EBADMSG,
      EFIVARS "SecureBoot-" G " has 6 bytes, not a boolean UEFI variable (4 bytes of attributes "
      "and 1 of data), so SecureBoot is unknown", "efivarfs", NULL, 1, NUL, NUL, NUL, NUL, NUL },
    { "bad-value", NULL, POSTURE_STATUS_ERROR, -ERANGE,
      EFIVARS "SecureBoot-" G " holds the value 2; a boolean UEFI variable is 0 or 1",
      "efivarfs", NULL, 1, NUL, NUL, NUL, NUL, NUL },
    { "empty-setupmode", NULL, POSTURE_STATUS_ERROR, -ENODATA,
      EFIVARS "SetupMode-" G " is empty (zero-length data), so SetupMode is unknown",
      "efivarfs", NULL, 1, 1, NUL, NUL, NUL, NUL },
    { "legacy-vars-interface", NULL, POSTURE_STATUS_PASS, 0, R_INTEGRITY, "sysfs", "integrity",
      1, 1, 0, NUL, NUL, 0 },
    { "legacy-shim-disabled", NULL, POSTURE_STATUS_FAIL, 0, R_SHIM, "sysfs", NULL,
      1, 1, 0, NUL, NUL, 1 },
    { "legacy-sb-off", NULL, POSTURE_STATUS_FAIL, 0, R_OFF, "sysfs", NULL,
      1, 0, 0, NUL, NUL, NUL },
};
/* clang-format on */

static void expect_tristate(const cJSON *evidence, const char *key, int value)
{
    const cJSON *item = posture_test_json_get(evidence, key);
    if (value == NUL) {
        if (!cJSON_IsNull(item))
            fail_msg("%s: expected null", key);
    } else {
        if (!cJSON_IsBool(item))
            fail_msg("%s: expected a boolean", key);
        if (cJSON_IsTrue(item) != (value == 1))
            fail_msg("%s: expected %s", key, value ? "true" : "false");
    }
}

/* Run boot.secure_boot on root (a directory path), with an optional config section body. */
static struct posture_result *
run_check(const char *root, const char *config_body, struct posture_run **ret_run)
{
    struct posture_result *r =
        posture_test_run_check("boot.secure_boot", root, config_body, ret_run);
    assert_string_equal(r->version, "1.0.0");
    return r;
}

static void check_evidence_keys(const cJSON *evidence, bool with_errno)
{
    static const char *const keys[] = {
        "uefi",
        "efivars",
        "secure_boot",
        "setup_mode",
        "audit_mode",
        "deployed_mode",
        "shim_validation_disabled",
        "lockdown",
    };
    const cJSON *item = evidence->child;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(keys); i++, item = item->next) {
        assert_non_null(item);
        assert_string_equal(item->string, keys[i]);
    }
    if (with_errno) {
        assert_non_null(item);
        assert_string_equal(item->string, "errno");
        item = item->next;
    }
    assert_null(item);
}

static void check_fixture(const struct expect *x)
{
    char rel[256];
    (void) snprintf(rel, sizeof(rel), "fixtures/roots/boot.secure_boot/%s", x->scenario);
    posture_auto_run struct posture_run *run = NULL;

    print_message("  %s%s\n", x->scenario, x->config ? " (require_lockdown)" : "");
    struct posture_result *r = run_check(posture_test_path(rel), x->config, &run);
    assert_int_equal(r->status, x->status);
    assert_int_equal(r->error, x->error);
    assert_string_equal(r->reason, x->reason);
    if (x->status == POSTURE_STATUS_PASS)
        assert_null(r->remediation);
    else
        assert_true(r->remediation && strlen(r->remediation) > 10);

    check_evidence_keys(r->evidence, x->status == POSTURE_STATUS_ERROR);
    if (x->status == POSTURE_STATUS_ERROR)
        posture_test_expect_str(r->evidence, "errno", posture_errno_name(x->error));
    expect_tristate(r->evidence, "uefi", x->uefi);
    posture_test_expect_str(r->evidence, "efivars", x->efivars);
    expect_tristate(r->evidence, "secure_boot", x->secure_boot);
    expect_tristate(r->evidence, "setup_mode", x->setup_mode);
    expect_tristate(r->evidence, "audit_mode", x->audit_mode);
    expect_tristate(r->evidence, "deployed_mode", x->deployed_mode);
    expect_tristate(r->evidence, "shim_validation_disabled", x->shim);
    posture_test_expect_str(r->evidence, "lockdown", x->lockdown);
}

static void test_fixtures(void **state)
{
    (void) state;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(fixtures); i++)
        check_fixture(&fixtures[i]);
}

/* ---- Roots built on the fly ---- */

/* A temporary root with sysfs, /sys/firmware/efi and SecureBoot/SetupMode of the given bytes. */
static char *make_root(const void *secure_boot, size_t n)
{
    char *tmp = posture_test_mkdtemp();
    char path[4096];

    assert_int_equal(posture_test_write_file(tmp, "sys/firmware/efi/systab", "x\n"), 0);
    assert_int_equal(posture_test_write_file(tmp, "sys/firmware/efi/efivars/SetupMode-" G, ""), 0);
    (void) snprintf(path, sizeof(path), "%s/sys/firmware/efi/efivars/SetupMode-" G, tmp);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\x06\x00\x00\x00\x00", 5), 5);
    (void) close(fd);
    (void) snprintf(path, sizeof(path), "%s/sys/firmware/efi/efivars/SecureBoot-" G, tmp);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, secure_boot, n), (ssize_t) n);
    (void) close(fd);
    return tmp;
}

static void test_oversized_variable(void **state)
{
    (void) state;
    char big[65];
    memset(big, 0, sizeof(big));
    big[0] = 0x06;
    posture_autofree char *tmp = make_root(big, sizeof(big));
    posture_auto_run struct posture_run *run = NULL;

    struct posture_result *r = run_check(tmp, NULL, &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -EFBIG);
    assert_non_null(strstr(r->reason, "is larger than 64 bytes, not a boolean UEFI variable"));
    run = posture_run_free(run);

    /* 64 bytes exactly is read, and rejected as malformed rather than too big. */
    posture_autofree char *tmp2 = make_root(big, 64);
    r = run_check(tmp2, NULL, &run);
    assert_int_equal(r->error, -EBADMSG);
    assert_non_null(strstr(r->reason, "has 64 bytes"));
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
    assert_int_equal(posture_test_rmdir_r(tmp2), 0);
}

static void test_secureboot_is_a_directory(void **state)
{
    (void) state;
    posture_autofree char *tmp = posture_test_mkdtemp();
    posture_auto_run struct posture_run *run = NULL;

    assert_int_equal(
        posture_test_write_file(tmp, "sys/firmware/efi/efivars/SecureBoot-" G "/x", "\x01"), 0);
    struct posture_result *r = run_check(tmp, NULL, &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -EISDIR);
    assert_string_equal(r->reason, "Could not read " EFIVARS "SecureBoot-" G ": Is a directory");
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

static void test_symlink_stays_in_root(void **state)
{
    (void) state;
    posture_autofree char *tmp = posture_test_mkdtemp();
    posture_auto_run struct posture_run *run = NULL;
    char root[4096];

    /* <tmp>/root/sys/firmware/efi -> /outside: inside the root that is <tmp>/root/outside,
     * which does not exist, so the machine looks like legacy BIOS; never <tmp>/outside. */
    assert_int_equal(posture_test_write_file(tmp, "outside/efivars/SecureBoot-" G, "x"), 0);
    assert_int_equal(posture_test_write_file(tmp, "root/sys/firmware/memmap/0/type", "RAM\n"), 0);
    assert_int_equal(posture_test_symlink(tmp, "root/sys/firmware/efi", "../../../outside"), 0);
    (void) snprintf(root, sizeof(root), "%s/root", tmp);
    struct posture_result *r = run_check(root, NULL, &run);
    assert_int_equal(r->status, POSTURE_STATUS_FAIL);
    expect_tristate(r->evidence, "uefi", 0);
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

/*
 * A SecureBoot file we may not read (mode 000). Root reads it anyway, so as root the check runs
 * in a child that dropped to nobody; the child reports through its exit status.
 */
static int unreadable_child(const char *root)
{
    posture_auto_registry struct posture_registry *reg = NULL;
    posture_auto_run struct posture_run *run = NULL;
    char *only[] = { "boot.secure_boot", NULL };
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
    if (res->status != POSTURE_STATUS_ERROR)
        return 13;
    if (res->error != -EACCES)
        return 14;
    if (strcmp(res->reason, "Could not read " EFIVARS "SecureBoot-" G ": Permission denied") != 0)
        return 15;
    if (!res->remediation || strcmp(res->remediation, "Run the check as root.") != 0)
        return 16;
    return 0;
}

static void test_unreadable_variable(void **state)
{
    (void) state;
    posture_autofree char *tmp = make_root("\x06\x00\x00\x00\x01", 5);
    char path[4096];

    (void) snprintf(path, sizeof(path), "%s/sys/firmware/efi/efivars/SecureBoot-" G, tmp);
    assert_int_equal(chmod(path, 0), 0);
    assert_int_equal(chmod(tmp, 0755), 0);

    if (geteuid() != 0) {
        assert_int_equal(unreadable_child(tmp), 0);
    } else {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                setresuid(65534, 65534, 65534) < 0)
                _exit(20);
            _exit(unreadable_child(tmp));
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

static void test_host_root(void **state)
{
    (void) state;
    posture_auto_run struct posture_run *run = NULL;
    struct stat st;

    /* Whatever this machine is, "uefi" agrees with /sys/firmware/efi, and a non-UEFI machine
     * fails. */
    struct posture_result *r = run_check("/", NULL, &run);
    if (stat("/sys/firmware", &st) < 0) {
        assert_int_equal(r->status, POSTURE_STATUS_ERROR);
        return;
    }
    bool uefi = stat("/sys/firmware/efi", &st) == 0;
    expect_tristate(r->evidence, "uefi", uefi);
    if (!uefi)
        assert_int_equal(r->status, POSTURE_STATUS_FAIL);
    print_message("  host: %s: %s\n", uefi ? "UEFI" : "not UEFI", r->reason);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_parse_attributes_text),
        cmocka_unit_test(test_name_is_variable),
        cmocka_unit_test(test_lockdown_parse),
        POSTURE_TEST_ON_OPENAT2(test_fixtures),
        POSTURE_TEST_ON_FALLBACK(test_fixtures),
        POSTURE_TEST_ON_OPENAT2(test_oversized_variable),
        POSTURE_TEST_ON_FALLBACK(test_oversized_variable),
        POSTURE_TEST_ON_OPENAT2(test_secureboot_is_a_directory),
        POSTURE_TEST_ON_FALLBACK(test_secureboot_is_a_directory),
        POSTURE_TEST_ON_OPENAT2(test_symlink_stays_in_root),
        POSTURE_TEST_ON_FALLBACK(test_symlink_stays_in_root),
        POSTURE_TEST_ON_OPENAT2(test_unreadable_variable),
        POSTURE_TEST_ON_FALLBACK(test_unreadable_variable),
        cmocka_unit_test(test_host_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
