/* SPDX-License-Identifier: Apache-2.0 */
/*
 * boot.secure_boot (DESIGN.md §6, CHECKS.md §c4): did this machine boot through UEFI with
 * Secure Boot enforcing?
 *
 * Everything comes from files inside the root, so --root and fixture roots work:
 *  - /sys/firmware exists whenever sysfs is mounted; without it the check cannot decide (ERROR).
 *  - /sys/firmware/efi exists only when the kernel booted through UEFI. Without it the machine
 *    booted through legacy BIOS (or a direct kernel boot, as in Firecracker): FAIL, since
 *    Secure Boot needs UEFI. A security team wants such machines flagged, not waved through as
 *    "not applicable".
 *  - The variables come from efivarfs (/sys/firmware/efi/efivars/<Name>-<GUID>: 4 bytes of
 *    attributes, then the data) or, on old kernels without it, from the legacy sysfs interface
 *    (/sys/firmware/efi/vars/<Name>-<GUID>/data, the data alone, root-only). A store counts as
 *    present when the directory is an efivarfs mount or holds at least one "<Name>-<GUID>"
 *    entry; an empty mount point means efivarfs is not mounted (ERROR), a missing one that the
 *    kernel offers no EFI variable services (efi=noruntime, PREEMPT_RT): ERROR as well.
 *  - The verdict follows the kernel's own efi_get_secureboot_mode(): no SecureBoot variable or
 *    SecureBoot=0 means off; SetupMode=1 means no Platform Key is enrolled, so nothing is
 *    enforced; a volatile MokSBStateRT=1 means shim's validation was disabled with
 *    `mokutil --disable-validation` (the kernel then also reports Secure Boot as disabled).
 *    AuditMode=1 (UEFI 2.5: failures are logged, not enforced) fails too. An empty, short or
 *    otherwise malformed variable, or one we may not read, is ERROR with the reason: never a
 *    guess.
 *  - /sys/kernel/security/lockdown gives the kernel lockdown mode (evidence; required only
 *    with the option require_lockdown).
 *
 * Evidence: uefi, efivars ("efivarfs", "sysfs" or null), secure_boot, setup_mode, audit_mode,
 * deployed_mode, shim_validation_disabled (null when unknown), lockdown (null when securityfs
 * is not readable).
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "posture/check.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"

#include "boot_secure_boot/efivar.h"

#define SYS_FIRMWARE    "/sys/firmware"
#define EFI_DIR         "/sys/firmware/efi"
#define EFIVARFS_DIR    "/sys/firmware/efi/efivars"
#define EFI_LEGACY_DIR  "/sys/firmware/efi/vars"
#define LOCKDOWN_FILE   "/sys/kernel/security/lockdown"
#define EFIVAR_FILE_MAX 64u  /* a boolean variable is 5 bytes; anything bigger is not one */
#define LOCKDOWN_MAX    256u /* "[none] integrity confidentiality\n" is 34 bytes */
#define PATH_BUF        256u

#ifndef EFIVARFS_MAGIC
#define EFIVARFS_MAGIC 0xde5e81e4
#endif

#define REMEDIATION_ENABLE                                                                     \
    "Enable Secure Boot in the firmware setup (distributions boot with their signed shim and " \
    "the default keys), then confirm with mokutil --sb-state."
#define REMEDIATION_KEYS                                                                      \
    "In the firmware setup, restore the factory default Secure Boot keys (or enrol your own " \
    "PK, KEK and db) and enable Secure Boot."

enum store_kind { STORE_NONE, STORE_EFIVARFS, STORE_SYSFS };

/* What we learned; -1 is unknown (null in the evidence). */
struct sb_state {
    bool sysfs;
    bool uefi;
    enum store_kind store;
    int secure_boot;
    int setup_mode;
    int audit_mode;
    int deployed_mode;
    int shim_validation_disabled;
    bool have_lockdown;
    int lockdown_error; /* why it is not known */
    char lockdown[POSTURE_LOCKDOWN_MODE_MAX + 1];
};

/* Thread-safe text for an errno (strerror() is not). */
static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

/* 1 when dir (an open directory fd, consumed) holds an entry named like a UEFI variable. */
static int dir_has_variables(int dir_fd)
{
    DIR *d = fdopendir(dir_fd);
    if (!d) {
        int r = posture_negative_errno();
        (void) close(dir_fd);
        return r;
    }
    int found = 0;
    for (struct dirent *de; !found && (de = readdir(d));)
        found = posture_efivar_name_is_variable(de->d_name);
    (void) closedir(d);
    return found;
}

/* Open a directory of the root: 1 and *ret_fd, 0 when it does not exist, or -errno. */
static int open_dir(const struct posture_check_ctx *ctx, const char *path, int *ret_fd)
{
    int r = posture_open_at_root(ctx->root_fd, path, O_RDONLY | O_DIRECTORY, ret_fd);
    if (r == -ENOENT)
        return 0;
    return r < 0 ? r : 1;
}

/* Decide which variable store to read. Sets the reason when none is usable. */
static int choose_store(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        enum store_kind *ret)
{
    const struct posture_host_api *api = ctx->api;
    int fd = -1;

    int have_efivars = open_dir(ctx, EFIVARFS_DIR, &fd);
    if (have_efivars < 0) {
        (void) api->set_reason(result, "Could not open %s: %s", EFIVARFS_DIR,
                               error_text(have_efivars));
        (void) api->set_remediation(result, "Run the check as root.");
        return have_efivars;
    }
    if (have_efivars) {
        struct statfs sfs;
        bool efivarfs = fstatfs(fd, &sfs) == 0 && (uint32_t) sfs.f_type == EFIVARFS_MAGIC;
        int r = efivarfs ? 1 : dir_has_variables(fd);
        if (efivarfs)
            (void) close(fd);
        if (r > 0) {
            *ret = STORE_EFIVARFS;
            return 0;
        }
        if (r < 0)
            api->log_debug(ctx, "cannot list %s (%s), ignoring", EFIVARFS_DIR,
                           posture_errno_name(r));
    }

    int have_legacy = open_dir(ctx, EFI_LEGACY_DIR, &fd);
    if (have_legacy > 0 && dir_has_variables(fd) > 0) {
        *ret = STORE_SYSFS;
        return 0;
    }

    if (have_efivars) {
        (void) api->set_reason(result, "efivarfs is not mounted at " EFIVARFS_DIR
                                       ", so the Secure Boot state cannot be read");
        (void) api->set_remediation(result,
                                    "Mount it (sudo mount -t efivarfs efivarfs " EFIVARFS_DIR
                                    "); systemd mounts it at boot.");
        return -ENOENT;
    }
    (void) api->set_reason(result,
                           "The kernel offers no EFI variables (no " EFIVARFS_DIR
                           "): EFI runtime services are disabled, so the Secure Boot state cannot "
                           "be read");
    (void) api->set_remediation(result, "Boot with EFI runtime services enabled: remove "
                                        "efi=noruntime from the kernel command line (PREEMPT_RT "
                                        "kernels need efi=runtime).");
    return -EOPNOTSUPP;
}

/*
 * Read a boolean variable: 1 with *ret_value (and *ret_attributes), 0 when it does not exist,
 * or -errno with the reason set (when result is not NULL).
 */
static int read_var(const struct posture_check_ctx *ctx,
                    struct posture_result *result,
                    enum store_kind store,
                    const char *name,
                    const char *guid,
                    bool *ret_value,
                    uint32_t *ret_attributes)
{
    const struct posture_host_api *api = ctx->api;
    char path[PATH_BUF];
    char *buf = NULL;
    size_t len = 0;
    uint32_t attributes = 0;
    bool value = false;

    if (store == STORE_EFIVARFS)
        (void) snprintf(path, sizeof(path), EFIVARFS_DIR "/%s-%s", name, guid);
    else
        (void) snprintf(path, sizeof(path), EFI_LEGACY_DIR "/%s-%s/data", name, guid);

    int r = api->read_file_at(ctx, path, EFIVAR_FILE_MAX, &buf, &len);
    if (r == -ENOENT)
        return 0;
    if (r >= 0) {
        if (store == STORE_EFIVARFS)
            r = posture_efivar_parse_bool(buf, len, &attributes, &value);
        else
            r = posture_efivar_parse_bool_data(buf, len, &value);
        size_t at = store == STORE_EFIVARFS ? POSTURE_EFIVARFS_ATTR_SIZE : 0;
        unsigned byte = len > at ? (unsigned char) buf[at] : 0;
        api->free_buf(buf);
        if (r == -ERANGE && result)
            (void) api->set_reason(
                result, "%s holds the value %u; a boolean UEFI variable is 0 or 1", path, byte);
        else if (r == -ENODATA && result)
            (void) api->set_reason(result, "%s is empty (zero-length data), so %s is unknown", path,
                                   name);
        else if (r == -EBADMSG && result)
            (void) api->set_reason(result,
                                   "%s has %zu bytes, not a boolean UEFI variable (%s), so %s is "
                                   "unknown",
                                   path, len,
                                   store == STORE_EFIVARFS ? "4 bytes of attributes and 1 of data"
                                                           : "1 byte of data",
                                   name);
    } else if (result) {
        if (r == -EFBIG)
            (void) api->set_reason(result,
                                   "%s is larger than %u bytes, not a boolean UEFI variable, so "
                                   "%s is unknown",
                                   path, EFIVAR_FILE_MAX, name);
        else
            (void) api->set_reason(result, "Could not read %s: %s", path, error_text(r));
    }
    if (r < 0) {
        if (result)
            (void) api->set_remediation(result,
                                        r == -EACCES || r == -EPERM
                                            ? "Run the check as root."
                                            : "Check the Secure Boot state in the firmware setup "
                                              "or with mokutil --sb-state; the kernel returned a "
                                              "malformed variable.");
        return r;
    }

    if (store == STORE_SYSFS && ret_attributes) {
        /* The legacy interface keeps the attributes in a text file beside the data. */
        (void) snprintf(path, sizeof(path), EFI_LEGACY_DIR "/%s-%s/attributes", name, guid);
        r = api->read_file_at(ctx, path, 4096, &buf, &len);
        if (r >= 0) {
            r = posture_efivar_parse_attributes_text(buf, len, &attributes);
            api->free_buf(buf);
        }
        if (r < 0) {
            if (result) {
                (void) api->set_reason(result, "Could not read the attributes of %s-%s: %s", name,
                                       guid, error_text(r));
                (void) api->set_remediation(result, "Run the check as root.");
            }
            return r;
        }
    }
    *ret_value = value;
    if (ret_attributes)
        *ret_attributes = attributes;
    return 1;
}

/* An optional variable for the evidence: -1 when absent or unreadable (deadline aside). */
static int read_optional(const struct posture_check_ctx *ctx,
                         enum store_kind store,
                         const char *name,
                         int *ret)
{
    bool value;

    int r = read_var(ctx, NULL, store, name, POSTURE_EFI_GLOBAL_GUID, &value, NULL);
    if (r == -ETIMEDOUT)
        return r;
    if (r < 0)
        ctx->api->log_debug(ctx, "%s unreadable (%s), ignoring", name, posture_errno_name(r));
    *ret = r > 0 ? value : -1;
    return 0;
}

/* The lockdown mode, best effort: state->have_lockdown stays false when it is not readable. */
static int read_lockdown(const struct posture_check_ctx *ctx, struct sb_state *state)
{
    char *buf = NULL;
    size_t len = 0;

    int r = ctx->api->read_file_at(ctx, LOCKDOWN_FILE, LOCKDOWN_MAX, &buf, &len);
    if (r == -ETIMEDOUT)
        return r;
    if (r >= 0) {
        r = posture_lockdown_parse(buf, len, state->lockdown, sizeof(state->lockdown));
        ctx->api->free_buf(buf);
    }
    if (r < 0)
        ctx->api->log_debug(ctx, "%s unreadable (%s), ignoring", LOCKDOWN_FILE,
                            posture_errno_name(r));
    state->have_lockdown = r >= 0;
    state->lockdown_error = r < 0 ? r : 0;
    return 0;
}

static int add_tristate(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        const char *key,
                        int value)
{
    if (value < 0)
        return ctx->api->evidence_add_str(result, key, NULL);
    return ctx->api->evidence_add_bool(result, key, value > 0);
}

static int
add_evidence(const struct posture_check_ctx *ctx, struct posture_result *result, struct sb_state *s)
{
    const struct posture_host_api *api = ctx->api;
    static const char *const stores[] = {
        [STORE_NONE] = NULL, [STORE_EFIVARFS] = "efivarfs", [STORE_SYSFS] = "sysfs"
    };

    int r = s->sysfs ? api->evidence_add_bool(result, "uefi", s->uefi)
                     : api->evidence_add_str(result, "uefi", NULL);
    if (r >= 0)
        r = api->evidence_add_str(result, "efivars", stores[s->store]);
    if (r >= 0)
        r = add_tristate(ctx, result, "secure_boot", s->secure_boot);
    if (r >= 0)
        r = add_tristate(ctx, result, "setup_mode", s->setup_mode);
    if (r >= 0)
        r = add_tristate(ctx, result, "audit_mode", s->audit_mode);
    if (r >= 0)
        r = add_tristate(ctx, result, "deployed_mode", s->deployed_mode);
    if (r >= 0)
        r = add_tristate(ctx, result, "shim_validation_disabled", s->shim_validation_disabled);
    if (r >= 0)
        r = api->evidence_add_str(result, "lockdown", s->have_lockdown ? s->lockdown : NULL);
    return r;
}

/* The variables and the verdict; returns 1 for PASS, 0 for FAIL (reason set), or -errno. */
static int decide(const struct posture_check_ctx *ctx,
                  struct posture_result *result,
                  bool require_lockdown,
                  struct sb_state *s)
{
    const struct posture_host_api *api = ctx->api;
    bool secure_boot, setup_mode, mok;
    uint32_t mok_attributes = 0;

    int r = posture_exists_at_root(ctx->root_fd, SYS_FIRMWARE);
    if (r <= 0) {
        if (r == 0)
            (void) api->set_reason(result, "sysfs is not mounted at /sys (no " SYS_FIRMWARE
                                           "), so the boot mode cannot be read");
        else
            (void) api->set_reason(result, "Could not look up %s: %s", SYS_FIRMWARE, error_text(r));
        (void) api->set_remediation(result, "Run the check on the host itself, or with --root "
                                            "on a tree that has sysfs mounted at /sys.");
        return r == 0 ? -ENOENT : r;
    }
    s->sysfs = true;

    r = posture_exists_at_root(ctx->root_fd, EFI_DIR);
    if (r < 0) {
        (void) api->set_reason(result, "Could not look up %s: %s", EFI_DIR, error_text(r));
        (void) api->set_remediation(result, "Run the check as root.");
        return r;
    }
    if (r == 0) {
        s->uefi = false;
        s->secure_boot = 0; /* Secure Boot is a UEFI feature */
        (void) api->set_reason(result,
                               "The machine did not boot through UEFI (no " EFI_DIR
                               ": legacy BIOS or a direct kernel boot), and Secure Boot needs "
                               "UEFI");
        (void) api->set_remediation(result,
                                    "Switch the firmware to UEFI mode (disable CSM/legacy boot), "
                                    "convert or reinstall the system to boot through UEFI with the "
                                    "distribution's shim, then enable Secure Boot.");
        return 0;
    }
    s->uefi = true;

    r = choose_store(ctx, result, &s->store);
    if (r < 0)
        return r;

    r = read_var(ctx, result, s->store, "SecureBoot", POSTURE_EFI_GLOBAL_GUID, &secure_boot, NULL);
    if (r < 0)
        return r;
    if (r == 0) {
        /* The kernel reads a missing SecureBoot variable as "disabled" too. */
        s->secure_boot = 0;
        (void) api->set_reason(result, "The firmware has no SecureBoot variable: it does not "
                                       "support Secure Boot");
        (void) api->set_remediation(result, "Update the firmware to a release with Secure Boot "
                                            "(for a VM, use OVMF built with Secure Boot, e.g. "
                                            "OVMF_CODE.secboot.fd), then enable it.");
        return 0;
    }
    s->secure_boot = secure_boot;

    if (!secure_boot) {
        /* Off is off: the other variables are evidence only, read best effort. */
        r = read_optional(ctx, s->store, "SetupMode", &s->setup_mode);
        if (r >= 0)
            r = read_optional(ctx, s->store, "AuditMode", &s->audit_mode);
        if (r >= 0)
            r = read_optional(ctx, s->store, "DeployedMode", &s->deployed_mode);
        if (r < 0)
            return r;
        if (s->setup_mode == 1) {
            (void) api->set_reason(result, "Secure Boot is off: the firmware is in Setup Mode, "
                                           "with no Platform Key enrolled");
            (void) api->set_remediation(result, REMEDIATION_KEYS);
        } else {
            (void) api->set_reason(result, "Secure Boot is disabled in the firmware");
            (void) api->set_remediation(result, REMEDIATION_ENABLE);
        }
        return 0;
    }

    /* Secure Boot claims to be on: everything that could undo it must be readable. */
    r = read_var(ctx, result, s->store, "SetupMode", POSTURE_EFI_GLOBAL_GUID, &setup_mode, NULL);
    if (r < 0)
        return r;
    if (r == 0) {
        (void) api->set_reason(result,
                               "The firmware reports SecureBoot=1 but has no SetupMode "
                               "variable, so whether a Platform Key is enrolled is unknown");
        (void) api->set_remediation(result, "Check the Secure Boot state in the firmware setup; "
                                            "updating the firmware may fix its variables.");
        return -ENOENT;
    }
    s->setup_mode = setup_mode;
    r = read_optional(ctx, s->store, "AuditMode", &s->audit_mode);
    if (r >= 0)
        r = read_optional(ctx, s->store, "DeployedMode", &s->deployed_mode);
    if (r < 0)
        return r;
    r = read_var(ctx, result, s->store, "MokSBStateRT", POSTURE_EFI_SHIM_LOCK_GUID, &mok,
                 &mok_attributes);
    if (r < 0)
        return r;
    /* Like the kernel: only shim's volatile runtime copy counts; a non-volatile one was made by
     * someone else and says nothing about what shim did. */
    s->shim_validation_disabled =
        r > 0 && mok && !(mok_attributes & POSTURE_EFI_VARIABLE_NON_VOLATILE);
    if (r > 0 && mok && !s->shim_validation_disabled)
        api->log_debug(ctx, "non-volatile MokSBStateRT=1 (attributes 0x%x), ignoring",
                       (unsigned) mok_attributes);

    if (setup_mode) {
        (void) api->set_reason(result, "The firmware is in Setup Mode: no Platform Key is "
                                       "enrolled, so Secure Boot enforces nothing");
        (void) api->set_remediation(result, REMEDIATION_KEYS);
        return 0;
    }
    if (s->audit_mode == 1) {
        (void) api->set_reason(result, "The firmware is in Audit Mode: images that fail "
                                       "verification are logged, not refused");
        (void) api->set_remediation(result, REMEDIATION_KEYS);
        return 0;
    }
    if (s->shim_validation_disabled) {
        (void) api->set_reason(result,
                               "Shim's signature validation is disabled (MokSBStateRT=1), so the "
                               "boot loader and kernel are not verified");
        (void) api->set_remediation(result, "Re-enable it with sudo mokutil --enable-validation, "
                                            "reboot and confirm in MokManager.");
        return 0;
    }
    if (require_lockdown && !s->have_lockdown) {
        if (s->lockdown_error == -ENOENT)
            (void) api->set_reason(result, "Secure Boot is on, but the kernel lockdown mode is "
                                           "unknown: " LOCKDOWN_FILE " does not exist (securityfs "
                                           "not mounted, or a kernel without lockdown)");
        else
            (void) api->set_reason(result,
                                   "Secure Boot is on, but " LOCKDOWN_FILE " could not "
                                   "be read: %s",
                                   error_text(s->lockdown_error));
        (void) api->set_remediation(result, "Mount securityfs (sudo mount -t securityfs securityfs "
                                            "/sys/kernel/security) on a kernel built with "
                                            "CONFIG_SECURITY_LOCKDOWN_LSM.");
        return s->lockdown_error;
    }
    if (require_lockdown && strcmp(s->lockdown, "none") == 0) {
        (void) api->set_reason(result, "Secure Boot is on, but the kernel is not locked down "
                                       "(lockdown: none) and require_lockdown is set");
        (void) api->set_remediation(result, "Boot with lockdown=integrity on the kernel command "
                                            "line, or use a kernel that locks down under Secure "
                                            "Boot.");
        return 0;
    }

    const char *mode = s->deployed_mode == 1 ? "deployed mode" : "user mode";
    if (s->have_lockdown)
        r = api->set_reason(result,
                            "Secure Boot is on and enforcing (UEFI %s); kernel lockdown: %s", mode,
                            s->lockdown);
    else
        r = api->set_reason(result, "Secure Boot is on and enforcing (UEFI %s)", mode);
    return r < 0 ? r : 1;
}

static const struct posture_option options[] = {
    { POSTURE_OPTION_BOOL, "require_lockdown", "no",
      "Also require kernel lockdown (integrity or confidentiality) to pass" },
    { 0, NULL, NULL, NULL },
};

static int
secure_boot_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    struct sb_state s = {
        .secure_boot = -1,
        .setup_mode = -1,
        .audit_mode = -1,
        .deployed_mode = -1,
        .shim_validation_disabled = -1,
    };
    bool require_lockdown = false;

    (void) state;
    int r = api->option_get_bool(ctx, "require_lockdown", &require_lockdown);
    if (r < 0) {
        (void) api->set_reason(result, "Invalid option require_lockdown: %s", error_text(r));
        (void) api->set_remediation(result, "Set require_lockdown to yes or no in "
                                            "[check.boot.secure_boot].");
        return r;
    }
    r = read_lockdown(ctx, &s);
    if (r < 0)
        return r;

    int verdict = decide(ctx, result, require_lockdown, &s);
    r = add_evidence(ctx, result, &s);
    if (verdict < 0)
        return verdict;
    if (r < 0)
        return r;
    return api->set_status(result, verdict > 0 ? POSTURE_STATUS_PASS : POSTURE_STATUS_FAIL);
}

const struct posture_check_desc posture_check_boot_secure_boot = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "boot.secure_boot",
    .version = "1.0.0",
    .summary = "UEFI boot with Secure Boot enforcing (not in Setup Mode), and kernel lockdown",
    .flags = 0,
    .options = options,
    .init = NULL,
    .run = secure_boot_run,
    .fini = NULL,
};
