/* SPDX-License-Identifier: Apache-2.0 */
/*
 * disk.encryption against mocked device trees: real libudev over umockdev testbeds (the
 * preload library, loaded by umockdev-wrapper, redirects /sys into the testbed), with the
 * mount table and swap list of a fixture root (tests/fixtures/roots/disk.encryption/<scenario>,
 * whose devices.umockdev is the testbed). Run through run_umockdev.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <umockdev.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/result.h"
#include "posture/runner.h"
#include "posture/strbuf.h"

#include "checktest.h"
#include "disk_encryption/blockdev.h"
#include "disk_encryption/seam.h"

#define REMEDIATION_DISK_START "Reinstall with full-disk encryption (LUKS2)"
#define REMEDIATION_SWAP_START "Encrypt swap: encrypt swap with a random key in /etc/crypttab"

/* ---- Running the check ---- */

static const char *fixture(const char *scenario)
{
    static char rel[256];
    (void) snprintf(rel, sizeof(rel), "fixtures/roots/disk.encryption/%s", scenario);
    return posture_test_path(rel);
}

/* A testbed holding the scenario's devices.umockdev (empty when it has none). */
static UMockdevTestbed *testbed_for(const char *scenario)
{
    char path[4096];
    GError *error = NULL;

    UMockdevTestbed *tb = umockdev_testbed_new();
    assert_non_null(tb);
    (void) snprintf(path, sizeof(path), "%s/devices.umockdev", fixture(scenario));
    if (access(path, F_OK) == 0) {
        gboolean ok = umockdev_testbed_add_from_file(tb, path, &error);
        if (!ok)
            print_error("%s: %s\n", path, error ? error->message : "?");
        assert_true(ok);
    }
    return tb;
}

/* ---- Reading the evidence back ---- */

/* Append the strings of a JSON array, comma-separated. */
static void put_strings(struct posture_strbuf *sb, const cJSON *array)
{
    const cJSON *item;
    bool first = true;

    assert_true(cJSON_IsArray(array));
    cJSON_ArrayForEach(item, array)
    {
        assert_true(cJSON_IsString(item));
        assert_int_equal(posture_strbuf_printf(sb, "%s%s", first ? "" : ",", item->valuestring), 0);
        first = false;
    }
}

/*
 * An array of mounts or swap areas as one line: entries separated by ";", each
 * "name|device|fstype-or-type|encrypted|layers|unencrypted_devices" (encrypted is true, false
 * or null).
 */
static char *describe_entries(const cJSON *array, bool swap)
{
    struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);
    const cJSON *e;
    bool first = true;

    assert_int_equal(posture_strbuf_puts(&sb, ""), 0);
    cJSON_ArrayForEach(e, array)
    {
        const cJSON *enc = posture_test_json_get(e, "encrypted");
        const cJSON *plain = cJSON_GetObjectItemCaseSensitive(e, "unencrypted_devices");
        assert_int_equal(posture_strbuf_printf(
                             &sb, "%s%s|%s|%s|%s|", first ? "" : ";",
                             posture_test_json_get(e, swap ? "device" : "mountpoint")->valuestring,
                             swap ? posture_test_json_get(e, "type")->valuestring
                                  : posture_test_json_get(e, "device")->valuestring,
                             swap ? (cJSON_GetObjectItemCaseSensitive(e, "filesystem")
                                         ? posture_test_json_get(e, "filesystem")->valuestring
                                         : "-")
                                  : posture_test_json_get(e, "fstype")->valuestring,
                             cJSON_IsNull(enc) ? "null" : (cJSON_IsTrue(enc) ? "true" : "false")),
                         0);
        put_strings(&sb, posture_test_json_get(e, "layers"));
        assert_int_equal(posture_strbuf_putc(&sb, '|'), 0);
        if (plain)
            put_strings(&sb, plain);
        first = false;
    }
    char *s = posture_strbuf_steal(&sb);
    assert_non_null(s);
    return s;
}

/* "excluded" as "name,name": mount points as they are, swap areas as "swap:<path>". */
static char *describe_excluded(const cJSON *array)
{
    struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);
    const cJSON *e;
    bool first = true;

    assert_int_equal(posture_strbuf_puts(&sb, ""), 0);
    cJSON_ArrayForEach(e, array)
    {
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(e, "mountpoint");
        assert_true(cJSON_IsString(posture_test_json_get(e, "why")));
        assert_int_equal(posture_strbuf_printf(&sb, "%s%s%s", first ? "" : ",", mp ? "" : "swap:",
                                               mp ? mp->valuestring
                                                  : posture_test_json_get(e, "swap")->valuestring),
                         0);
        first = false;
    }
    char *s = posture_strbuf_steal(&sb);
    assert_non_null(s);
    return s;
}

struct expect {
    const char *scenario;
    int status;
    const char *reason;
    const char *error;       /* errno name for ERROR */
    const char *remediation; /* prefix; NULL: none expected (pass, not applicable) */
    const char *mounts;      /* describe_entries() of "mounts" */
    const char *swap;        /* describe_entries() of "swap" */
    const char *excluded;    /* describe_excluded() */
    const char *unencrypted; /* "unencrypted", comma-separated */
};

static void check_result(const struct posture_result *r, const struct expect *x)
{
    if (r->status != x->status || strcmp(r->reason, x->reason) != 0)
        print_error("%s: got %d \"%s\"\n", x->scenario, r->status, r->reason);
    assert_int_equal(r->status, x->status);
    assert_string_equal(r->reason, x->reason);
    if (x->error)
        assert_string_equal(posture_test_json_get(r->evidence, "errno")->valuestring, x->error);
    else
        assert_null(cJSON_GetObjectItemCaseSensitive(r->evidence, "errno"));
    if (x->remediation) {
        assert_non_null(r->remediation);
        assert_memory_equal(r->remediation, x->remediation, strlen(x->remediation));
    } else
        assert_null(r->remediation);

    /* Where the check stopped early there is no evidence to compare. */
    if (!x->mounts)
        return;
    char *mounts = describe_entries(posture_test_json_get(r->evidence, "mounts"), false);
    char *swap = describe_entries(posture_test_json_get(r->evidence, "swap"), true);
    char *excluded = describe_excluded(posture_test_json_get(r->evidence, "excluded"));
    struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);
    assert_int_equal(posture_strbuf_puts(&sb, ""), 0);
    put_strings(&sb, posture_test_json_get(r->evidence, "unencrypted"));
    char *unencrypted = posture_strbuf_steal(&sb);
    print_message("    mounts   %s\n    swap     %s\n    excluded %s\n", mounts, swap, excluded);
    assert_string_equal(mounts, x->mounts);
    assert_string_equal(swap, x->swap);
    assert_string_equal(excluded, x->excluded);
    assert_string_equal(unencrypted, x->unencrypted);
    free(mounts);
    free(swap);
    free(excluded);
    free(unencrypted);
}

/* options: the [check.disk.encryption] body, or NULL. */
static void run_expect(const struct expect *x, const char *options)
{
    posture_auto_run struct posture_run *run = NULL;

    print_message("  %s%s\n", x->scenario, options ? " (with options)" : "");
    UMockdevTestbed *tb = testbed_for(x->scenario);
    struct posture_result *r =
        posture_test_run_check("disk.encryption", fixture(x->scenario), options, &run);
    check_result(r, x);
    g_object_unref(tb);
}

/* ---- The scenarios of the fixture roots ---- */

#define LUKS_ROOT_SDA2 "/|/dev/mapper/sda2_crypt|ext4|true|part,crypt:luks2|"

static const struct expect scenarios[] = {
    {
        .scenario = "luks2-partition",
        .status = POSTURE_STATUS_PASS,
        .reason = "/ is encrypted (crypt:luks2)",
        .mounts = "/|/dev/mapper/luks-8f6e2a0c|ext4|true|part,crypt:luks2|",
        .swap = "",
        .excluded = "/boot,/boot/efi,/tmp",
        .unencrypted = "",
    },
    {
        .scenario = "lvm-on-luks",
        .status = POSTURE_STATUS_PASS,
        .reason = "/, /home and swap /dev/dm-2 are encrypted (crypt:luks2)",
        .mounts = "/|/dev/mapper/vg-root|ext4|true|part,crypt:luks2,lvm|;"
                  "/home|/dev/mapper/vg-home|ext4|true|part,crypt:luks2,lvm|",
        .swap = "/dev/dm-2|partition|-|true|part,crypt:luks2,lvm|",
        .excluded = "/boot,/boot/efi",
        .unencrypted = "",
    },
    {
        .scenario = "luks-on-lvm",
        .status = POSTURE_STATUS_PASS,
        .reason = "/ and swap /dev/dm-3 are encrypted (crypt:luks2 and crypt:plain)",
        .mounts = "/|/dev/mapper/root_crypt|xfs|true|part,lvm,crypt:luks2|",
        .swap = "/dev/dm-3|partition|-|true|part,lvm,crypt:plain|",
        .excluded = "/boot",
        .unencrypted = "",
    },
    {
        .scenario = "raid1-luks",
        .status = POSTURE_STATUS_PASS,
        .reason = "/ is encrypted (crypt:luks2)",
        .mounts = "/|/dev/md0|ext4|true|part,crypt:luks2,raid1|",
        .swap = "",
        .excluded = "",
        .unencrypted = "",
    },
    {
        .scenario = "raid1-luks-plain",
        .status = POSTURE_STATUS_FAIL,
        .reason = "/ is not encrypted",
        .remediation = REMEDIATION_DISK_START,
        .mounts = "/|/dev/md0|ext4|false|part,raid1|/dev/sdb1",
        .swap = "",
        .excluded = "",
        .unencrypted = "/",
    },
    {
        .scenario = "luks-root-plain-swap",
        .status = POSTURE_STATUS_FAIL,
        .reason = "swap /dev/sda3 is not encrypted",
        .remediation = REMEDIATION_SWAP_START,
        .mounts = LUKS_ROOT_SDA2,
        .swap = "/dev/sda3|partition|-|false|part|/dev/sda3",
        .excluded = "/boot/efi",
        .unencrypted = "swap:/dev/sda3",
    },
    {
        .scenario = "plain-root-encrypted-data",
        .status = POSTURE_STATUS_FAIL,
        .reason = "/ is not encrypted",
        .remediation = REMEDIATION_DISK_START,
        .mounts = "/|/dev/sda1|ext4|false|part|/dev/sda1",
        .swap = "",
        .excluded = "",
        .unencrypted = "/",
    },
    {
        .scenario = "encrypted-loop-only",
        .status = POSTURE_STATUS_FAIL,
        .reason = "/ is not encrypted",
        .remediation = REMEDIATION_DISK_START,
        .mounts = "/|/dev/sda1|ext4|false|part|/dev/sda1",
        .swap = "",
        .excluded = "",
        .unencrypted = "/",
    },
    {
        .scenario = "loop-home-on-encrypted-root",
        .status = POSTURE_STATUS_PASS,
        .reason = "/ and /home are encrypted (crypt:luks2)",
        .mounts = LUKS_ROOT_SDA2 ";/home|/dev/loop0|ext4|true|part,crypt:luks2,loop|",
        .swap = "",
        .excluded = "",
        .unencrypted = "",
    },
    {
        .scenario = "loop-home-on-plain-disk",
        .status = POSTURE_STATUS_FAIL,
        .reason = "/home is not encrypted",
        .remediation = REMEDIATION_DISK_START,
        .mounts = LUKS_ROOT_SDA2 ";/home|/dev/loop0|ext4|false|part,loop|/dev/sdb1",
        .swap = "",
        .excluded = "",
        .unencrypted = "/home",
    },
    {
        .scenario = "btrfs-luks",
        .status = POSTURE_STATUS_PASS,
        .reason = "/, /home and /var are encrypted (crypt:luks2)",
        .mounts = "/|/dev/mapper/luks-5e2a9c71|btrfs|true|part,crypt:luks2|;"
                  "/home|/dev/mapper/luks-5e2a9c71|btrfs|true|part,crypt:luks2|;"
                  "/var|/dev/mapper/luks-5e2a9c71|btrfs|true|part,crypt:luks2|",
        .swap = "",
        .excluded = "/boot/efi",
        .unencrypted = "",
    },
    {
        .scenario = "missing-sysfs",
        .status = POSTURE_STATUS_ERROR,
        .reason = "Could not tell whether / is encrypted: sysfs is not mounted (/sys/dev/block "
                  "does not exist)",
        .error = "ENODEV",
        .remediation = "Mount sysfs at /sys",
        .mounts = "/|/dev/sda2|ext4|null||",
        .swap = "",
        .excluded = "",
        .unencrypted = "",
    },
    {
        .scenario = "luks1-and-plain",
        .status = POSTURE_STATUS_PASS,
        .reason = "/ and /home are encrypted (crypt:luks1 and crypt:plain)",
        .mounts = "/|/dev/mapper/root|ext4|true|part,crypt:luks1|;"
                  "/home|/dev/mapper/home|ext4|true|part,crypt:plain|",
        .swap = "",
        .excluded = "",
        .unencrypted = "",
    },
    {
        .scenario = "tmp-on-disk",
        .status = POSTURE_STATUS_FAIL,
        .reason = "/tmp is not encrypted",
        .remediation = REMEDIATION_DISK_START,
        .mounts = LUKS_ROOT_SDA2 ";/tmp|/dev/sdb1|ext4|false|part|/dev/sdb1",
        .swap = "",
        .excluded = "",
        .unencrypted = "/tmp",
    },
    {
        .scenario = "swapfile-encrypted-root",
        .status = POSTURE_STATUS_PASS,
        .reason = "/ and swap /swapfile are encrypted (crypt:luks2)",
        .mounts = LUKS_ROOT_SDA2,
        .swap = "/swapfile|file|/|true|part,crypt:luks2,file|",
        .excluded = "",
        .unencrypted = "",
    },
    {
        .scenario = "zram-swap",
        .status = POSTURE_STATUS_PASS,
        .reason = "/ is encrypted (crypt:luks2)",
        .mounts = LUKS_ROOT_SDA2,
        .swap = "",
        .excluded = "swap:/dev/zram0",
        .unencrypted = "",
    },
    {
        .scenario = "integrity-without-crypt",
        .status = POSTURE_STATUS_FAIL,
        .reason = "/ is not encrypted",
        .remediation = REMEDIATION_DISK_START,
        .mounts = "/|/dev/mapper/root|ext4|false|part,integrity|/dev/sda2;"
                  "/home|/dev/mapper/home|ext4|true|part,integrity,crypt:luks2|",
        .swap = "",
        .excluded = "",
        .unencrypted = "/",
    },
    {
        /* Diskless: decided without sysfs (the testbed is empty). */
        .scenario = "nfs-root",
        .status = POSTURE_STATUS_NOT_APPLICABLE,
        .reason = "Nothing relevant is stored on a local disk: / is nfs4 (network filesystem, "
                  "stored on another machine) and no swap area is on a disk",
        .mounts = "",
        .swap = "",
        .excluded = "/,/tmp",
        .unencrypted = "",
    },
    {
        .scenario = "overlay-root",
        .status = POSTURE_STATUS_ERROR,
        .reason = "Could not tell whether / is encrypted: / is on overlay, a filesystem without a "
                  "block device; its backing storage is not visible here",
        .error = "EOPNOTSUPP",
        .remediation = "Run the agent on the host, not inside a container",
        .mounts = "/|overlay|overlay|null||",
        .swap = "",
        .excluded = "",
        .unencrypted = "",
    },
    {
        .scenario = "device-missing",
        .status = POSTURE_STATUS_ERROR,
        .reason = "Could not tell whether / is encrypted: block device 8:5 (/dev/sda5) is not in "
                  "sysfs",
        .error = "ENODEV",
        .remediation = "Check that the device is present in /sys/dev/block",
        .mounts = "/|/dev/sda5|ext4|null||",
        .swap = "",
        .excluded = "",
        .unencrypted = "",
    },
    {
        /* The snap (read-only squashfs), the container overlay and the bind mount of / below
         * /var are not separate storage; the disk at /home/alice is. */
        .scenario = "home-submount-plain",
        .status = POSTURE_STATUS_FAIL,
        .reason = "/home/alice is not encrypted",
        .remediation = REMEDIATION_DISK_START,
        .mounts = LUKS_ROOT_SDA2 ";/home/alice|/dev/sdb1|ext4|false|part|/dev/sdb1",
        .swap = "",
        .excluded = "",
        .unencrypted = "/home/alice",
    },
    {
        /* /srv is not relevant unless configured (test_extra_mounts). */
        .scenario = "extra-mount-plain",
        .status = POSTURE_STATUS_PASS,
        .reason = "/ is encrypted (crypt:luks2)",
        .mounts = LUKS_ROOT_SDA2,
        .swap = "",
        .excluded = "",
        .unencrypted = "",
    },
};

static void test_scenarios(void **state)
{
    (void) state;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(scenarios); i++)
        run_expect(&scenarios[i], NULL);
}

static void test_extra_mounts(void **state)
{
    (void) state;
    const struct expect srv = {
        .scenario = "extra-mount-plain",
        .status = POSTURE_STATUS_FAIL,
        .reason = "/srv is not encrypted",
        .remediation = REMEDIATION_DISK_START,
        .mounts = LUKS_ROOT_SDA2 ";/srv|/dev/sdb1|ext4|false|part|/dev/sdb1",
        .swap = "",
        .excluded = "",
        .unencrypted = "/srv",
    };
    run_expect(&srv, "extra_mounts = /srv\n");
    /* A path below a mount point stands for the mount holding it. */
    run_expect(&srv, "extra_mounts = /srv/data/sub /\n");
}

/* ---- btrfs with several member devices ---- */

static void add_btrfs_members(UMockdevTestbed *tb, const char *fsid, const char *const *members)
{
    char rel[512];
    gchar *root = umockdev_testbed_get_root_dir(tb);

    (void) snprintf(rel, sizeof(rel), "sys/fs/btrfs/%s/label", fsid);
    assert_int_equal(posture_test_write_file(root, rel, "\n"), 0);
    (void) snprintf(rel, sizeof(rel), "sys/fs/btrfs/features/raid1c34");
    assert_int_equal(posture_test_write_file(root, rel, "0\n"), 0);
    for (size_t i = 0; members[i]; i++) {
        char target[512];
        (void) snprintf(rel, sizeof(rel), "sys/fs/btrfs/%s/devices/%s", fsid, members[i]);
        (void) snprintf(target, sizeof(target), "../../../../class/block/%s", members[i]);
        assert_int_equal(posture_test_symlink(root, rel, target), 0);
    }
    g_free(root);
}

static void test_btrfs_members(void **state)
{
    (void) state;
    static const char *const other_fs[] = { "sdb1", NULL };
    static const char *const both[] = { "dm-0", "sdb1", NULL };
    static const char *const luks_only[] = { "dm-0", NULL };
    const char *scenario = "btrfs-raid1-luks-plain";

    /* The source device is on LUKS, but the filesystem also lives on the plain sdb1. */
    {
        posture_auto_run struct posture_run *run = NULL;
        UMockdevTestbed *tb = testbed_for(scenario);
        add_btrfs_members(tb, "0b5a7c8e-1111-4a2b-9c3d-5e6f7a8b9c0d", other_fs);
        add_btrfs_members(tb, "7d3f1e2a-9b8c-4d5e-8f6a-1b2c3d4e5f60", both);
        const struct expect x = {
            .scenario = scenario,
            .status = POSTURE_STATUS_FAIL,
            .reason = "/ is not encrypted",
            .remediation = REMEDIATION_DISK_START,
            .mounts = "/|/dev/mapper/luks-a|btrfs|false|part|/dev/sdb1",
            .swap = "",
            .excluded = "",
            .unencrypted = "/",
        };
        print_message("  %s, members dm-0 and sdb1\n", scenario);
        check_result(posture_test_run_check("disk.encryption", fixture(scenario), NULL, &run), &x);
        g_object_unref(tb);
    }
    /* One member, the LUKS device: encrypted. */
    {
        posture_auto_run struct posture_run *run = NULL;
        UMockdevTestbed *tb = testbed_for(scenario);
        add_btrfs_members(tb, "7d3f1e2a-9b8c-4d5e-8f6a-1b2c3d4e5f60", luks_only);
        const struct expect x = {
            .scenario = scenario,
            .status = POSTURE_STATUS_PASS,
            .reason = "/ is encrypted (crypt:luks2)",
            .mounts = "/|/dev/mapper/luks-a|btrfs|true|part,crypt:luks2|",
            .swap = "",
            .excluded = "",
            .unencrypted = "",
        };
        print_message("  %s, member dm-0\n", scenario);
        check_result(posture_test_run_check("disk.encryption", fixture(scenario), NULL, &run), &x);
        g_object_unref(tb);
    }
}

/* ---- Bounds: deep stacks, cycles, wide fan-out ---- */

static void add_string(UMockdevTestbed *tb, const char *text)
{
    GError *error = NULL;
    gboolean ok = umockdev_testbed_add_from_string(tb, text, &error);
    if (!ok)
        print_error("%s\n", error ? error->message : "?");
    assert_true(ok);
}

/* A dm device dm-<n> over the named slaves (NULL-terminated). */
static void add_dm(UMockdevTestbed *tb, unsigned n, const char *uuid, const char *const *slaves)
{
    struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);
    assert_int_equal(posture_strbuf_printf(&sb,
                                           "P: /devices/virtual/block/dm-%u\n"
                                           "E: DEVNAME=/dev/dm-%u\nE: DEVTYPE=disk\n"
                                           "E: MAJOR=254\nE: MINOR=%u\nE: SUBSYSTEM=block\n"
                                           "A: dev=254:%u\nA: dm/name=dm%u\nA: dm/uuid=%s\n",
                                           n, n, n, n, n, uuid),
                     0);
    for (size_t i = 0; slaves[i]; i++)
        assert_int_equal(
            posture_strbuf_printf(&sb, "L: slaves/%s=../../%s\n", slaves[i], slaves[i]), 0);
    char *text = posture_strbuf_steal(&sb);
    add_string(tb, text);
    free(text);
}

/* A root whose / is on device 254:<minor>, in a fresh directory. */
static char *root_on_dm(unsigned minor)
{
    char *root = posture_test_mkdtemp();
    char line[256];
    (void) snprintf(line, sizeof(line), "29 1 254:%u / / rw - ext4 /dev/dm-%u rw\n", minor, minor);
    assert_int_equal(posture_test_write_file(root, "proc/self/mountinfo", line), 0);
    assert_int_equal(posture_test_write_file(root, "proc/swaps", "Filename Type\n"), 0);
    return root;
}

static void expect_bounded(const char *root, const char *errno_name, const char *fragment)
{
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = posture_test_run_check("disk.encryption", root, NULL, &run);
    print_message("    %s\n", r->reason);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_string_equal(posture_test_json_get(r->evidence, "errno")->valuestring, errno_name);
    assert_non_null(strstr(r->reason, fragment));
}

static void test_deep_stack(void **state)
{
    (void) state;
    UMockdevTestbed *tb = umockdev_testbed_new();
    char name[16];

    /* dm-0 on a LUKS2 partition, dm-1 ... dm-19 each LVM on the previous one. */
    add_string(tb, "P: /devices/pci0000:00/block/sda\nE: DEVNAME=/dev/sda\nE: DEVTYPE=disk\n"
                   "E: MAJOR=8\nE: MINOR=0\nE: SUBSYSTEM=block\nA: dev=8:0\n\n"
                   "P: /devices/pci0000:00/block/sda/sda1\nE: DEVNAME=/dev/sda1\n"
                   "E: DEVTYPE=partition\nE: MAJOR=8\nE: MINOR=1\nE: SUBSYSTEM=block\n"
                   "A: dev=8:1\nA: partition=1\n");
    const char *const sda1[] = { "sda1", NULL };
    add_dm(tb, 0, "CRYPT-LUKS2-0000-dm0", sda1);
    for (unsigned i = 1; i < 20; i++) {
        (void) snprintf(name, sizeof(name), "dm-%u", i - 1);
        const char *const below[] = { name, NULL };
        add_dm(tb, i, "LVM-stacked", below);
    }
    /* 15 layers below dm-14 are fine; 19 below dm-19 are not. */
    print_message("  a stack of 16 device layers\n");
    {
        char *root = root_on_dm(14);
        posture_auto_run struct posture_run *run = NULL;
        struct posture_result *r = posture_test_run_check("disk.encryption", root, NULL, &run);
        assert_int_equal(r->status, POSTURE_STATUS_PASS);
        assert_int_equal(posture_test_rmdir_r(root), 0);
        free(root);
    }
    print_message("  a stack of 21 device layers\n");
    char *root = root_on_dm(19);
    expect_bounded(root, "ELOOP", "is deeper than 16 layers");
    assert_int_equal(posture_test_rmdir_r(root), 0);
    free(root);
    g_object_unref(tb);
}

static void test_cycle(void **state)
{
    (void) state;
    UMockdevTestbed *tb = umockdev_testbed_new();
    const char *const to1[] = { "dm-1", NULL };
    const char *const to0[] = { "dm-0", NULL };

    print_message("  dm-0 and dm-1 are each other's slaves\n");
    add_dm(tb, 0, "LVM-a", to1);
    add_dm(tb, 1, "LVM-b", to0);
    char *root = root_on_dm(0);
    expect_bounded(root, "ELOOP", "is deeper than 16 layers");
    assert_int_equal(posture_test_rmdir_r(root), 0);
    free(root);
    g_object_unref(tb);
}

static void test_fan_out(void **state)
{
    (void) state;
    UMockdevTestbed *tb = umockdev_testbed_new();
    char *names[POSTURE_BLK_FANOUT_MAX + 2] = { 0 };

    print_message("  dm-0 over %u devices\n", POSTURE_BLK_FANOUT_MAX + 1);
    for (unsigned i = 0; i <= POSTURE_BLK_FANOUT_MAX; i++) {
        char text[512];
        (void) snprintf(text, sizeof(text),
                        "P: /devices/virtual/block/ram%u\nE: DEVNAME=/dev/ram%u\nE: DEVTYPE=disk\n"
                        "E: MAJOR=1\nE: MINOR=%u\nE: SUBSYSTEM=block\nA: dev=1:%u\n",
                        i, i, i, i);
        add_string(tb, text);
        names[i] = malloc(16);
        assert_non_null(names[i]);
        (void) snprintf(names[i], 16, "ram%u", i);
    }
    add_dm(tb, 0, "LVM-wide", (const char *const *) names);
    char *root = root_on_dm(0);
    expect_bounded(root, "E2BIG", "sits on more than 64 devices");
    assert_int_equal(posture_test_rmdir_r(root), 0);
    free(root);
    for (unsigned i = 0; i <= POSTURE_BLK_FANOUT_MAX; i++)
        free(names[i]);
    g_object_unref(tb);
}

static void test_too_many_filesystems(void **state)
{
    (void) state;
    UMockdevTestbed *tb = umockdev_testbed_new();
    struct posture_strbuf mi = POSTURE_STRBUF_INIT(0);
    const char *const none[] = { NULL };
    const unsigned n = 70;

    /* / and /home/u1 ... /home/u69, each on a LUKS2 device of its own. */
    print_message("  %u encrypted filesystems\n", n);
    for (unsigned i = 0; i < n; i++) {
        char uuid[64];
        (void) snprintf(uuid, sizeof(uuid), "CRYPT-LUKS2-%08u-home%u", i, i);
        add_dm(tb, i, uuid, none);
        if (i == 0)
            assert_int_equal(posture_strbuf_puts(&mi, "29 1 254:0 / / rw - ext4 /dev/dm-0 rw\n"),
                             0);
        else
            assert_int_equal(posture_strbuf_printf(&mi,
                                                   "%u 29 254:%u / /home/u%u rw - ext4 /dev/dm-%u "
                                                   "rw\n",
                                                   100 + i, i, i, i),
                             0);
    }
    char *root = posture_test_mkdtemp();
    char *text = posture_strbuf_steal(&mi);
    assert_int_equal(posture_test_write_file(root, "proc/self/mountinfo", text), 0);
    free(text);

    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = posture_test_run_check("disk.encryption", root, NULL, &run);
    print_message("    %s\n", r->reason);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_string_equal(posture_test_json_get(r->evidence, "errno")->valuestring, "E2BIG");
    assert_string_equal(r->reason,
                        "Could not tell whether every filesystem below /home and /var is "
                        "encrypted: 6 of them were not checked (at most 64 filesystems "
                        "are)");
    assert_int_equal(posture_test_json_get(r->evidence, "mounts_not_checked")->valueint, 6);
    assert_int_equal(cJSON_GetArraySize(posture_test_json_get(r->evidence, "mounts")), 64);
    assert_false(cJSON_IsTrue(posture_test_json_get(r->evidence, "swap_supported")));
    assert_int_equal(posture_test_rmdir_r(root), 0);
    free(root);
    g_object_unref(tb);
}

/* ---- ZFS, with stand-in zfs and zpool tools ---- */

struct tools {
    char *dir;
    char *config;
};

/*
 * Write zfs and zpool scripts to a fresh directory: zfs reports encryption enc (keystatus
 * "available", or "-" when enc is "off") for the dataset it is asked about; zpool prints
 * vdevs (a printf format). Both insist on the arguments the check must pass.
 */
static struct tools make_tools(const char *enc, const char *vdevs)
{
    struct tools t = { .dir = posture_test_mkdtemp() };
    char script[2048], path[4096];

    (void) snprintf(script, sizeof(script),
                    "#!/bin/sh\n[ \"$1 $2 $3 $4 $5 $6\" = 'get -H -p -o name,property,value "
                    "encryption,keystatus,encryptionroot' ] || exit 3\n"
                    "printf '%%s\\tencryption\\t%s\\n%%s\\tkeystatus\\t%s\\n' \"$7\" \"$7\"\n",
                    enc, strcmp(enc, "off") == 0 ? "-" : "available");
    assert_int_equal(posture_test_write_file(t.dir, "zfs", script), 0);
    (void) snprintf(script, sizeof(script),
                    "#!/bin/sh\n[ \"$*\" = 'list -v -H -P -L rpool' ] || exit 3\nprintf '%s'\n",
                    vdevs);
    assert_int_equal(posture_test_write_file(t.dir, "zpool", script), 0);
    (void) snprintf(path, sizeof(path), "%s/zfs", t.dir);
    assert_int_equal(chmod(path, 0755), 0);
    (void) snprintf(path, sizeof(path), "%s/zpool", t.dir);
    assert_int_equal(chmod(path, 0755), 0);
    assert_true(
        asprintf(&t.config, "zfs_command = %s/zfs\nzpool_command = %s/zpool\n", t.dir, t.dir) > 0);
    return t;
}

static void tools_done(struct tools *t)
{
    assert_int_equal(posture_test_rmdir_r(t->dir), 0);
    free(t->dir);
    free(t->config);
}

static int assume_host(void **state)
{
    (void) state;
    posture_disk_encryption_assume_host(true);
    return 0;
}

static int stop_assuming_host(void **state)
{
    (void) state;
    posture_disk_encryption_assume_host(false);
    return 0;
}

static void test_zfs(void **state)
{
    (void) state;
    const struct {
        const char *what;
        const char *zfs_enc;
        const char *vdevs;
        struct expect x;
    } cases[] = {
        {
            "native encryption",
            "aes-256-gcm",
            "",
            {
                .scenario = "zfs-pool",
                .status = POSTURE_STATUS_PASS,
                .reason = "/ and /home are encrypted (zfs:aes-256-gcm)",
                .mounts = "/|rpool/ROOT/debian|zfs|true|zfs:aes-256-gcm|;"
                          "/home|rpool/home|zfs|true|zfs:aes-256-gcm|",
                .swap = "",
                .excluded = "",
                .unencrypted = "",
            },
        },
        {
            "a pool on two LUKS devices",
            "off",
            "rpool\\t1T\\n\\tmirror-0\\t1T\\n\\t/dev/dm-0\\t-\\n\\t/dev/dm-1\\t-\\n",
            {
                .scenario = "zfs-pool",
                .status = POSTURE_STATUS_PASS,
                .reason = "/ and /home are encrypted (crypt:luks2)",
                .mounts = "/|rpool/ROOT/debian|zfs|true|part,crypt:luks2,zfs|;"
                          "/home|rpool/home|zfs|true|part,crypt:luks2,zfs|",
                .swap = "",
                .excluded = "",
                .unencrypted = "",
            },
        },
        {
            "a pool on LUKS and a plain partition",
            "off",
            "rpool\\t1T\\n\\tmirror-0\\t1T\\n\\t/dev/dm-0\\t-\\n\\t/dev/sdc1\\t-\\n",
            {
                .scenario = "zfs-pool",
                .status = POSTURE_STATUS_FAIL,
                .reason = "/ and /home are not encrypted",
                .remediation = REMEDIATION_DISK_START,
                .mounts = "/|rpool/ROOT/debian|zfs|false|part,zfs|/dev/sdc1;"
                          "/home|rpool/home|zfs|false|part,zfs|/dev/sdc1",
                .swap = "",
                .excluded = "",
                .unencrypted = "/,/home",
            },
        },
    };

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        struct tools t = make_tools(cases[i].zfs_enc, cases[i].vdevs);
        print_message("  zfs: %s\n", cases[i].what);
        run_expect(&cases[i].x, t.config);
        tools_done(&t);
    }

    /* No zfs tool: undecided, with the package to install. */
    const struct expect missing = {
        .scenario = "zfs-pool",
        .status = POSTURE_STATUS_ERROR,
        .reason = "Could not tell whether / is encrypted: /nonexistent/zfs is not installed or not "
                  "executable",
        .error = "ENOENT",
        .remediation = "Install the ZFS utilities (zfsutils-linux",
        .mounts = "/|rpool/ROOT/debian|zfs|null||;/home|rpool/home|zfs|null||",
        .swap = "",
        .excluded = "",
        .unencrypted = "",
    };
    run_expect(&missing, "zfs_command = /nonexistent/zfs\n");
}

int main(void)
{
    if (!getenv("LD_PRELOAD") || !strstr(getenv("LD_PRELOAD"), "umockdev")) {
        fprintf(stderr, "run this test through umockdev-wrapper (run_umockdev.sh)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_extra_mounts),
        cmocka_unit_test(test_btrfs_members),
        cmocka_unit_test(test_deep_stack),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_fan_out),
        cmocka_unit_test(test_too_many_filesystems),
        cmocka_unit_test_setup_teardown(test_zfs, assume_host, stop_assuming_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
