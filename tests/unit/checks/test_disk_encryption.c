/* SPDX-License-Identifier: Apache-2.0 */
/*
 * disk.encryption without a device graph: the mountinfo, swaps and zfs parsers, the zfs and
 * zpool runs (against stand-in tools), and the check on fixture roots whose answer needs no
 * sysfs (missing or broken mountinfo, an NFS root, ZFS under --root). The device graph itself
 * is tested against umockdev testbeds in tests/integration/checks/disk.encryption/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/result.h"
#include "posture/runner.h"
#include "posture/strv.h"

#include "checktest.h"
#include "disk_encryption/mountinfo.h"
#include "disk_encryption/zfs.h"

static int parse_mi(const char *text, struct posture_mountinfo *ret)
{
    return posture_mountinfo_parse(text, strlen(text), ret);
}

static int parse_swaps(const char *text, struct posture_swaps *ret)
{
    return posture_swaps_parse(text, strlen(text), ret);
}

/* ---- mountinfo ---- */

static void test_mountinfo_fields(void **state)
{
    (void) state;
    struct posture_mountinfo mi;

    assert_int_equal(
        parse_mi(
            "29 1 254:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw,errors=remount-ro\n"
            "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 propagate_from:2 - ext3 /dev/root "
            "ro,errors=continue\n"
            "40 29 0:33 /@home /home ro,relatime - btrfs /dev/mapper/luks-1 rw,subvol=/@home\n",
            &mi),
        3);
    assert_int_equal(mi.n_invalid, 0);
    assert_int_equal(mi.first_invalid_line, 0);

    const struct posture_mount *m = &mi.mounts[0];
    assert_int_equal(m->id, 29);
    assert_int_equal(m->parent_id, 1);
    assert_int_equal(m->major, 254);
    assert_int_equal(m->minor, 1);
    assert_string_equal(m->root, "/");
    assert_string_equal(m->mountpoint, "/");
    assert_string_equal(m->fstype, "ext4");
    assert_string_equal(m->source, "/dev/mapper/vg-root");
    assert_false(m->ro);
    assert_false(m->mount_ro);

    m = &mi.mounts[1]; /* two optional fields; a read-only superblock */
    assert_int_equal(m->major, 98);
    assert_int_equal(m->minor, 0);
    assert_string_equal(m->root, "/mnt1");
    assert_string_equal(m->mountpoint, "/mnt2");
    assert_string_equal(m->fstype, "ext3");
    assert_string_equal(m->source, "/dev/root");
    assert_true(m->ro);
    assert_false(m->mount_ro);

    m = &mi.mounts[2]; /* a read-only mount of a writable filesystem counts as writable */
    assert_int_equal(m->major, 0);
    assert_int_equal(m->minor, 33);
    assert_string_equal(m->root, "/@home");
    assert_false(m->ro);
    assert_true(m->mount_ro);
    posture_mountinfo_done(&mi);
    assert_null(mi.mounts);
    posture_mountinfo_done(&mi);
    posture_mountinfo_done(NULL);
}

static void test_mountinfo_escapes(void **state)
{
    (void) state;
    struct posture_mountinfo mi;

    assert_int_equal(parse_mi("50 29 8:17 /a\\040b /mnt/my\\040disk\\011tab\\012nl\\134bs rw - "
                              "fuse.my\\040fs /dev/disk\\040x rw\n"
                              "51 29 8:18 / /odd\\\\x\\08\\1 rw - ext4 /dev/sdb2 rw\n",
                              &mi),
                     2);
    assert_string_equal(mi.mounts[0].root, "/a b");
    assert_string_equal(mi.mounts[0].mountpoint, "/mnt/my disk\ttab\nnl\\bs");
    assert_string_equal(mi.mounts[0].fstype, "fuse.my fs");
    assert_string_equal(mi.mounts[0].source, "/dev/disk x");
    /* A backslash not followed by three octal digits stays as it is. */
    assert_string_equal(mi.mounts[1].mountpoint, "/odd\\\\x\\08\\1");
    posture_mountinfo_done(&mi);

    char *s = NULL;
    assert_int_equal(posture_unescape_octal("a\\000b", 6, &s), -EBADMSG);
    assert_null(s);
    assert_int_equal(posture_unescape_octal("\\101\\377\\400", 12, &s), 0);
    assert_string_equal(s, "A\377\\400");
    free(s);
    assert_int_equal(posture_unescape_octal("\\12", 3, &s), 0);
    assert_string_equal(s, "\\12");
    free(s);
}

static void test_mountinfo_invalid_lines(void **state)
{
    (void) state;
    static const char *const invalid[] = {
        "29 1 254:1 / / rw shared:1 ext4 /dev/sda rw\n",  /* no separator */
        "29 1 254:1 / / rw - ext4\n",                     /* no source */
        "x 1 254:1 / / rw - ext4 /dev/sda rw\n",          /* id */
        "29 1 254 / / rw - ext4 /dev/sda rw\n",           /* major:minor */
        "29 1 254:x / / rw - ext4 /dev/sda rw\n",         /* minor */
        "29 1 :1 / / rw - ext4 /dev/sda rw\n",            /* major */
        "29 1 99999999999:1 / / rw - ext4 /dev/sda rw\n", /* range */
        "29 1 254:1 / /a\\000b rw - ext4 /dev/sda rw\n",  /* \000 */
        "29 1 254:1 / / rw - ext4 /dev/sda rw extra\n",   /* a field too many */
        "29 -1 254:1 / / rw - ext4 /dev/sda rw\n",        /* sign */
        "just some text\n",
    };
    struct posture_mountinfo mi;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(invalid); i++) {
        char buf[512];
        (void) snprintf(buf, sizeof(buf), "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\n%s", invalid[i]);
        print_message("  %s", invalid[i]);
        assert_int_equal(parse_mi(buf, &mi), 1);
        assert_int_equal(mi.n_invalid, 1);
        assert_int_equal(mi.first_invalid_line, 3);
        posture_mountinfo_done(&mi);
    }

    /* Without superblock options, CRLF, tabs, blank lines, no final newline: fine. */
    assert_int_equal(parse_mi("\n  \n1 0 8:1 / / rw - ext4 /dev/sda1\r\n2\t1\t8:2\t/\t/home\trw\t-"
                              "\text4\t/dev/sda2\trw",
                              &mi),
                     2);
    assert_int_equal(mi.n_invalid, 0);
    assert_false(mi.mounts[0].ro);
    assert_string_equal(mi.mounts[0].source, "/dev/sda1");
    assert_string_equal(mi.mounts[1].mountpoint, "/home");
    posture_mountinfo_done(&mi);
}

static void test_mountinfo_limits(void **state)
{
    (void) state;
    struct posture_mountinfo mi;

    static const char nul[] = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\0";
    assert_int_equal(posture_mountinfo_parse(nul, sizeof(nul), &mi), -EBADMSG);
    assert_int_equal(posture_mountinfo_parse("", 0, &mi), 0);
    assert_int_equal(mi.n, 0);
    posture_mountinfo_done(&mi);
    assert_int_equal(posture_mountinfo_parse(NULL, 0, &mi), 0);
    posture_mountinfo_done(&mi);

    char *big = malloc(POSTURE_MOUNTINFO_FILE_MAX + 1);
    assert_non_null(big);
    memset(big, '\n', POSTURE_MOUNTINFO_FILE_MAX + 1);
    assert_int_equal(posture_mountinfo_parse(big, POSTURE_MOUNTINFO_FILE_MAX + 1, &mi), -EFBIG);

    /* More mounts than the cap: refused as a whole. */
    const char line[] = "1 0 8:1 / /m rw - ext4 /dev/sda1 rw\n";
    size_t n = POSTURE_MOUNTINFO_MOUNTS_MAX + 1, len = n * (sizeof(line) - 1);
    assert_true(len <= POSTURE_MOUNTINFO_FILE_MAX);
    for (size_t i = 0; i < n; i++)
        memcpy(big + i * (sizeof(line) - 1), line, sizeof(line) - 1);
    assert_int_equal(posture_mountinfo_parse(big, len, &mi), -E2BIG);
    assert_int_equal(posture_mountinfo_parse(big, len - (sizeof(line) - 1), &mi),
                     (int) POSTURE_MOUNTINFO_MOUNTS_MAX);
    posture_mountinfo_done(&mi);
    free(big);
}

static void test_mountinfo_lookup(void **state)
{
    (void) state;
    struct posture_mountinfo mi;

    assert_int_equal(parse_mi("20 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                              "21 20 8:2 / /home rw - ext4 /dev/sda2 rw\n"
                              "22 21 8:3 / /home rw - ext4 /dev/sda3 rw\n" /* on top of 21 */
                              "23 20 8:4 / /homework rw - ext4 /dev/sda4 rw\n"
                              "24 22 8:5 / /home/alice rw - ext4 /dev/sda5 rw\n"
                              "25 20 8:6 / /var rw - ext4 /dev/sda6 rw\n"
                              "26 99 8:7 / /loop rw - ext4 /dev/sda7 rw\n" /* a cycle: */
                              "27 26 8:8 / /loop rw - ext4 /dev/sda8 rw\n"
                              "26 27 8:9 / /loop rw - ext4 /dev/sda9 rw\n",
                              &mi),
                     9);
    assert_string_equal(posture_mountinfo_at(&mi, "/")->source, "/dev/sda1");
    assert_string_equal(posture_mountinfo_at(&mi, "/home")->source, "/dev/sda3");
    assert_null(posture_mountinfo_at(&mi, "/nothing"));
    assert_null(posture_mountinfo_at(&mi, NULL));
    assert_null(posture_mountinfo_at(NULL, "/"));
    /* A cycle of mounts claiming each other as parents ends at the step bound. */
    assert_non_null(posture_mountinfo_at(&mi, "/loop"));

    assert_string_equal(posture_mountinfo_containing(&mi, "/swapfile")->source, "/dev/sda1");
    assert_string_equal(posture_mountinfo_containing(&mi, "/home")->source, "/dev/sda3");
    assert_string_equal(posture_mountinfo_containing(&mi, "/home/bob/swap")->source, "/dev/sda3");
    assert_string_equal(posture_mountinfo_containing(&mi, "/home/alice/x")->source, "/dev/sda5");
    assert_string_equal(posture_mountinfo_containing(&mi, "/homework/x")->source, "/dev/sda4");
    assert_string_equal(posture_mountinfo_containing(&mi, "/homes")->source, "/dev/sda1");
    assert_string_equal(posture_mountinfo_containing(&mi, "/var/swap (deleted)")->source,
                        "/dev/sda6");
    assert_null(posture_mountinfo_containing(&mi, "relative/path"));
    assert_null(posture_mountinfo_containing(&mi, NULL));
    posture_mountinfo_done(&mi);

    assert_int_equal(parse_mi("21 20 8:2 / /home rw - ext4 /dev/sda2 rw\n", &mi), 1);
    assert_null(posture_mountinfo_containing(&mi, "/swapfile")); /* nothing at / */
    posture_mountinfo_done(&mi);
}

static void test_fs_kinds(void **state)
{
    (void) state;
    static const struct {
        const char *fstype;
        enum posture_fs_kind kind;
    } table[] = {
        { "ext4", POSTURE_FS_DISK },
        { "btrfs", POSTURE_FS_DISK },
        { "xfs", POSTURE_FS_DISK },
        { "fuseblk", POSTURE_FS_DISK },
        { "proc", POSTURE_FS_PSEUDO },
        { "cgroup2", POSTURE_FS_PSEUDO },
        { "efivarfs", POSTURE_FS_PSEUDO },
        { "tmpfs", POSTURE_FS_MEMORY },
        { "ramfs", POSTURE_FS_MEMORY },
        { "rootfs", POSTURE_FS_MEMORY },
        { "nfs4", POSTURE_FS_NETWORK },
        { "cifs", POSTURE_FS_NETWORK },
        { "virtiofs", POSTURE_FS_NETWORK },
        { "fuse.sshfs", POSTURE_FS_NETWORK },
        { "zfs", POSTURE_FS_ZFS },
        { "overlay", POSTURE_FS_STACKED },
        { "fuse", POSTURE_FS_STACKED },
        { "fuse.gocryptfs", POSTURE_FS_STACKED },
        { "ecryptfs", POSTURE_FS_ENCRYPTED_STACKED },
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(table); i++) {
        print_message("  %s\n", table[i].fstype);
        assert_int_equal(posture_fs_kind_of(table[i].fstype), table[i].kind);
    }
    assert_int_equal(posture_fs_kind_of(NULL), POSTURE_FS_DISK);
}

/* ---- /proc/swaps ---- */

static void test_swaps(void **state)
{
    (void) state;
    struct posture_swaps s;

    assert_int_equal(
        parse_swaps("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                    "/dev/dm-2                               partition\t999420\t\t0"
                    "\t\t-2\n"
                    "/swap\\040file\\040(deleted)             file\t2097148\t\t0\t\t-3\n"
                    "/dev/zram0                              partition\t8388604\t\t0"
                    "\t\t100\n",
                    &s),
        3);
    assert_int_equal(s.n_invalid, 0);
    assert_string_equal(s.swaps[0].path, "/dev/dm-2");
    assert_false(s.swaps[0].is_file);
    assert_string_equal(s.swaps[1].path, "/swap file (deleted)");
    assert_true(s.swaps[1].is_file);
    assert_string_equal(s.swaps[2].path, "/dev/zram0");
    posture_swaps_done(&s);
    posture_swaps_done(&s);
    posture_swaps_done(NULL);

    /* Header only, nothing, no header. */
    assert_int_equal(parse_swaps("Filename\tType\tSize\tUsed\tPriority\n", &s), 0);
    posture_swaps_done(&s);
    assert_int_equal(parse_swaps("", &s), 0);
    posture_swaps_done(&s);
    assert_int_equal(parse_swaps("/dev/sda3 partition 1 0 -2", &s), 1);
    posture_swaps_done(&s);

    /* Unknown types, a missing type and a bad escape are invalid lines. */
    assert_int_equal(parse_swaps("Filename Type\n/dev/sda3 disk 1 0 -2\n/dev/sda4\n"
                                 "/a\\000 file 1 0 0\n/dev/sda5 partition\n",
                                 &s),
                     1);
    assert_int_equal(s.n_invalid, 3);
    assert_int_equal(s.first_invalid_line, 2);
    assert_string_equal(s.swaps[0].path, "/dev/sda5");
    posture_swaps_done(&s);

    /* "Filename" only counts as a header on the first line. */
    assert_int_equal(parse_swaps("/dev/sda3 file\nFilename Type Size\n", &s), 1);
    assert_int_equal(s.n_invalid, 1);
    posture_swaps_done(&s);

    assert_int_equal(posture_swaps_parse("/dev/sda3 partition\0", 20, &s), -EBADMSG);
    char *big = malloc(POSTURE_SWAPS_FILE_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', POSTURE_SWAPS_FILE_MAX + 1);
    assert_int_equal(posture_swaps_parse(big, POSTURE_SWAPS_FILE_MAX + 1, &s), -EFBIG);
    const char line[] = "/s file\n";
    size_t n = POSTURE_SWAPS_MAX + 1;
    for (size_t i = 0; i < n; i++)
        memcpy(big + i * (sizeof(line) - 1), line, sizeof(line) - 1);
    assert_int_equal(posture_swaps_parse(big, n * (sizeof(line) - 1), &s), -E2BIG);
    free(big);
}

/* ---- zfs and zpool output ---- */

static void test_zfs_parse_get(void **state)
{
    (void) state;
    struct posture_zfs_crypt c;
    const char out[] = "rpool/ROOT/debian\tencryption\taes-256-gcm\n"
                       "rpool/ROOT/debian\tkeystatus\tavailable\n"
                       "rpool/ROOT/debian\tencryptionroot\trpool\n"
                       "rpool/other\tencryption\toff\n";

    assert_int_equal(posture_zfs_parse_get(out, strlen(out), "rpool/ROOT/debian", &c), 0);
    assert_string_equal(c.encryption, "aes-256-gcm");
    assert_string_equal(c.keystatus, "available");
    assert_string_equal(c.encryption_root, "rpool");
    assert_true(posture_zfs_encryption_is_on(c.encryption));
    posture_zfs_crypt_done(&c);
    posture_zfs_crypt_done(&c);

    assert_int_equal(posture_zfs_parse_get(out, strlen(out), "rpool/other", &c), 0);
    assert_string_equal(c.encryption, "off");
    assert_null(c.keystatus);
    assert_false(posture_zfs_encryption_is_on(c.encryption));
    posture_zfs_crypt_done(&c);

    /* A prefix of a dataset name is another dataset. */
    assert_int_equal(posture_zfs_parse_get(out, strlen(out), "rpool/ROOT", &c), -ENOENT);
    assert_int_equal(posture_zfs_parse_get(out, strlen(out), "rpool", &c), -ENOENT);
    /* Malformed lines are skipped. */
    const char bad[] = "rpool\tencryption\n"
                       "rpool\tencryption\t\n"
                       "rpool encryption aes-256-gcm\n"
                       "rpool\tencryption\ta\tb\n"
                       "rpool\tkeystatus\tavailable\r\n"
                       "rpool\tencryption\toff\r\n";
    assert_int_equal(posture_zfs_parse_get(bad, strlen(bad), "rpool", &c), 0);
    assert_string_equal(c.encryption, "off");
    assert_string_equal(c.keystatus, "available");
    posture_zfs_crypt_done(&c);
    assert_int_equal(posture_zfs_parse_get("", 0, "rpool", &c), -ENOENT);
    assert_int_equal(posture_zfs_parse_get("a\0b", 3, "rpool", &c), -EBADMSG);
    assert_int_equal(posture_zfs_parse_get(out, strlen(out), NULL, &c), -EINVAL);

    assert_false(posture_zfs_encryption_is_on("-"));
    assert_false(posture_zfs_encryption_is_on(""));
    assert_false(posture_zfs_encryption_is_on(NULL));
    assert_true(posture_zfs_encryption_is_on("on"));
}

static void test_zfs_parse_vdevs(void **state)
{
    (void) state;
    char **v = NULL;
    const char out[] = "rpool\t928G\t400G\t528G\t-\t-\t12%\t43%\t1.00x\tONLINE\t-\n"
                       "\tmirror-0\t928G\t400G\t528G\t-\t-\t12%\t43.1%\t-\tONLINE\n"
                       "\t/dev/dm-0\t-\t-\t-\t-\t-\t-\t-\t-\tONLINE\n"
                       "\t/dev/dm-1\t-\t-\t-\t-\t-\t-\t-\t-\tONLINE\n"
                       "logs\t-\t-\t-\t-\t-\t-\t-\t-\t-\n"
                       "\t/dev/nvme0n1p4\t16G\t1M\t16G\t-\t-\t0%\t0.00%\t-\tONLINE\n"
                       "cache\t-\t-\t-\t-\t-\t-\t-\t-\t-\n"
                       "\t/dev/dm-1\t100G\t50G\t50G\t-\t-\t0%\t50.0%\t-\tONLINE\n"
                       "spare      -      -      -         -      -      -\n"
                       "\t/dev/sdz1\t-\t-\t-\t-\t-\t-\t-\t-\tAVAIL\n";

    assert_int_equal(posture_zfs_parse_vdevs(out, strlen(out), &v), 0);
    assert_int_equal(posture_strv_length(v), 3);
    assert_string_equal(v[0], "/dev/dm-0");
    assert_string_equal(v[1], "/dev/dm-1");
    assert_string_equal(v[2], "/dev/nvme0n1p4");
    v = posture_strv_free(v);

    /* Older zpool: vdev names padded with spaces after the tab. */
    const char old[] = "tank\t1T\n\t  /dev/sda1  \t-\n\t  raidz1-0\t-\n";
    assert_int_equal(posture_zfs_parse_vdevs(old, strlen(old), &v), 0);
    assert_int_equal(posture_strv_length(v), 1);
    assert_string_equal(v[0], "/dev/sda1");
    v = posture_strv_free(v);

    assert_int_equal(posture_zfs_parse_vdevs("", 0, &v), 0);
    assert_non_null(v);
    assert_null(v[0]);
    v = posture_strv_free(v);
    assert_int_equal(posture_zfs_parse_vdevs("\t/x\0", 4, &v), -EBADMSG);

    /* Too many vdevs. */
    size_t cap = (POSTURE_ZFS_VDEVS_MAX + 1) * 16;
    char *big = calloc(1, cap);
    assert_non_null(big);
    size_t len = 0;
    for (unsigned i = 0; i <= POSTURE_ZFS_VDEVS_MAX; i++)
        len += (size_t) snprintf(big + len, cap - len, "\t/dev/d%u\t-\n", i);
    assert_int_equal(posture_zfs_parse_vdevs(big, len, &v), -E2BIG);
    free(big);
}

/* A stand-in tool: a shell script in a fresh directory. Returns the directory. */
static char *fake_tool(const char *name, const char *script, char **ret_path)
{
    char *dir = posture_test_mkdtemp();
    char path[4096];
    assert_int_equal(posture_test_write_file(dir, name, script), 0);
    (void) snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(chmod(path, 0755), 0);
    *ret_path = strdup(path);
    assert_non_null(*ret_path);
    return dir;
}

static void test_zfs_tools(void **state)
{
    (void) state;
    struct posture_zfs_crypt c;
    char *tool = NULL, *why = NULL, **v = NULL;

    /* The arguments are passed as they are and the output is parsed. */
    char *dir = fake_tool("zfs",
                          "#!/bin/sh\n"
                          "[ \"$*\" = 'get -H -p -o name,property,value "
                          "encryption,keystatus,encryptionroot tank/my data' ] || exit 3\n"
                          "printf 'tank/my data\\tencryption\\taes-128-ccm\\n"
                          "tank/my data\\tkeystatus\\tavailable\\n'\n",
                          &tool);
    assert_int_equal(posture_zfs_get(tool, "tank/my data", 2000000, &c, &why), 0);
    assert_null(why);
    assert_string_equal(c.encryption, "aes-128-ccm");
    posture_zfs_crypt_done(&c);
    /* A dataset zfs would read as an option is refused. */
    assert_int_equal(posture_zfs_get(tool, "-o", 2000000, &c, &why), -EINVAL);
    assert_int_equal(posture_zfs_get(tool, "", 2000000, &c, &why), -EINVAL);
    /* A dataset the tool does not report. */
    assert_int_equal(posture_zfs_get(tool, "other", 2000000, &c, &why), -EIO);
    assert_non_null(why);
    print_message("  %s\n", why);
    free(why);
    free(tool);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);

    /* A failing tool: its first stderr line is the reason. */
    dir = fake_tool("zfs",
                    "#!/bin/sh\necho \"cannot open 'x': dataset does not exist\" >&2\n"
                    "echo second line >&2\nexit 1\n",
                    &tool);
    assert_int_equal(posture_zfs_get(tool, "x", 2000000, &c, &why), -EIO);
    assert_non_null(strstr(why, "cannot open 'x': dataset does not exist"));
    assert_null(strstr(why, "second line"));
    free(why);
    free(tool);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);

    /* A tool that hangs is stopped at the timeout. */
    dir = fake_tool("zpool", "#!/bin/sh\nexec sleep 10\n", &tool);
    assert_int_equal(posture_zfs_pool_vdevs(tool, "rpool", 200000, &v, &why), -ETIMEDOUT);
    assert_non_null(strstr(why, "did not finish in time"));
    free(why);
    free(tool);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);

    /* zpool list: arguments and parsing. */
    dir = fake_tool(
        "zpool",
        "#!/bin/sh\n[ \"$*\" = 'list -v -H -P -L rpool' ] || exit 3\n"
        "printf 'rpool\\t1T\\n\\tmirror-0\\t1T\\n\\t/dev/dm-0\\t-\\n\\t/dev/dm-1\\t-\\n'\n",
        &tool);
    assert_int_equal(posture_zfs_pool_vdevs(tool, "rpool", 2000000, &v, &why), 0);
    assert_int_equal(posture_strv_length(v), 2);
    assert_string_equal(v[1], "/dev/dm-1");
    v = posture_strv_free(v);
    assert_int_equal(posture_zfs_pool_vdevs(tool, "-rpool", 2000000, &v, &why), -EINVAL);
    free(tool);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);

    /* A tool that does not exist. */
    assert_int_equal(posture_zfs_get("posture-no-such-zfs", "rpool", 2000000, &c, &why), -ENOENT);
    assert_non_null(strstr(why, "posture-no-such-zfs is not installed"));
    free(why);
}

/* ---- The check on roots that need no device graph ---- */

/* Run disk.encryption on root with options (the [check.disk.encryption] body) or NULL. */
static struct posture_result *
run_check(const char *root, const char *options, struct posture_run **ret_run)
{
    struct posture_result *r = posture_test_run_check("disk.encryption", root, options, ret_run);
    assert_string_equal(r->version, "1.0.0");
    return r;
}

static const char *fixture(const char *scenario)
{
    static char rel[256];
    (void) snprintf(rel, sizeof(rel), "fixtures/roots/disk.encryption/%s", scenario);
    return posture_test_path(rel);
}

static void expect_errno(const struct posture_result *r, const char *name)
{
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    const cJSON *e = posture_test_json_get(r->evidence, "errno");
    assert_true(cJSON_IsString(e));
    assert_string_equal(e->valuestring, name);
}

static void test_check_missing_mountinfo(void **state)
{
    (void) state;
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_check(fixture("missing-mountinfo"), NULL, &run);

    expect_errno(r, "ENOENT");
    assert_string_equal(r->reason, "/proc/self/mountinfo does not exist (procfs is not mounted)");
    assert_non_null(strstr(r->remediation, "mount -t proc proc /proc"));
}

static void test_check_nfs_root(void **state)
{
    (void) state;
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_check(fixture("nfs-root"), NULL, &run);

    assert_int_equal(r->status, POSTURE_STATUS_NOT_APPLICABLE);
    assert_string_equal(r->reason, "Nothing relevant is stored on a local disk: / is nfs4 (network "
                                   "filesystem, stored on another machine) and no swap area is on "
                                   "a disk");
    assert_int_equal(cJSON_GetArraySize(posture_test_json_get(r->evidence, "mounts")), 0);
    const cJSON *ex = posture_test_json_get(r->evidence, "excluded");
    assert_int_equal(cJSON_GetArraySize(ex), 2);
    assert_string_equal(posture_test_json_get(cJSON_GetArrayItem(ex, 0), "mountpoint")->valuestring,
                        "/");
    assert_string_equal(posture_test_json_get(cJSON_GetArrayItem(ex, 0), "fstype")->valuestring,
                        "nfs4");
    assert_string_equal(posture_test_json_get(cJSON_GetArrayItem(ex, 1), "mountpoint")->valuestring,
                        "/tmp");
    assert_false(cJSON_IsTrue(posture_test_json_get(r->evidence, "root_is_host")));
}

static void test_check_zfs_not_host(void **state)
{
    (void) state;
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_check(fixture("zfs-root"), NULL, &run);

    expect_errno(r, "EOPNOTSUPP");
    assert_string_equal(r->reason, "Could not tell whether / is encrypted: ZFS dataset "
                                   "rpool/ROOT/debian is not queried for a --root other than /");
    assert_string_equal(r->remediation, "Run the check without --root so that ZFS can be queried.");
    const cJSON *mounts = posture_test_json_get(r->evidence, "mounts");
    assert_int_equal(cJSON_GetArraySize(mounts), 2);
    assert_true(cJSON_IsNull(posture_test_json_get(cJSON_GetArrayItem(mounts, 0), "encrypted")));
    assert_string_equal(posture_test_json_get(cJSON_GetArrayItem(mounts, 1), "device")->valuestring,
                        "rpool/home");
}

/* Roots written on the fly: broken mount tables. */
static void test_check_bad_tables(void **state)
{
    (void) state;
    static const struct {
        const char *mountinfo;
        const char *swaps; /* NULL: no proc/swaps */
        int status;
        const char *reason;
    } cases[] = {
        { "1 0 8:1 / / rw - ext4 /dev/sda1 rw\nnot a mount\n", "", POSTURE_STATUS_ERROR,
          "/proc/self/mountinfo line 2 is not a mount entry" },
        { "1 0 8:1 / /srv rw - ext4 /dev/sda1 rw\n", "", POSTURE_STATUS_ERROR,
          "/proc/self/mountinfo lists no filesystem mounted at /" },
        { "", "", POSTURE_STATUS_ERROR, "/proc/self/mountinfo lists no filesystem mounted at /" },
        /* tmpfs root and zram-free swap list: a live system in memory. */
        { "1 0 0:2 / / rw - tmpfs tmpfs rw\n", NULL, POSTURE_STATUS_NOT_APPLICABLE,
          "Nothing relevant is stored on a local disk: / is tmpfs (memory filesystem, not stored "
          "on a disk) and no swap area is on a disk" },
        /* A read-only squashfs root (an image) with /tmp on tmpfs. */
        { "1 0 7:0 / / ro - squashfs /dev/loop0 ro\n2 1 0:3 / /tmp rw - tmpfs tmpfs rw\n", "",
          POSTURE_STATUS_NOT_APPLICABLE,
          "Nothing relevant is stored on a local disk: / is squashfs (read-only filesystem) and "
          "no swap area is on a disk" },
        /* An NFS root with a broken swap list: undecided. */
        { "1 0 0:40 / / rw - nfs4 srv:/r rw\n", "Filename\n/dev/sda3 bogus 1 0 0\n",
          POSTURE_STATUS_ERROR,
          "Could not tell whether swap is encrypted: /proc/swaps line 2 is "
          "not a swap entry" },
    };

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        char *root = posture_test_mkdtemp();
        posture_auto_run struct posture_run *run = NULL;

        print_message("  %s", cases[i].mountinfo);
        assert_int_equal(posture_test_write_file(root, "proc/self/mountinfo", cases[i].mountinfo),
                         0);
        if (cases[i].swaps)
            assert_int_equal(posture_test_write_file(root, "proc/swaps", cases[i].swaps), 0);
        struct posture_result *r = run_check(root, NULL, &run);
        assert_int_equal(r->status, cases[i].status);
        assert_string_equal(r->reason, cases[i].reason);
        /* A broken mount table stops the check before any evidence. */
        const cJSON *sw = cJSON_GetObjectItemCaseSensitive(r->evidence, "swap_supported");
        if (strstr(cases[i].reason, "mountinfo"))
            assert_null(sw);
        else
            assert_int_equal(cJSON_IsTrue(sw), cases[i].swaps != NULL);
        assert_int_equal(posture_test_rmdir_r(root), 0);
        free(root);
    }

    /* A NUL byte in the mount table. */
    char *root = posture_test_mkdtemp();
    posture_auto_run struct posture_run *run = NULL;
    assert_int_equal(posture_test_write_file(root, "proc/self/mountinfo",
                                             "1 0 8:1 / / rw - ext4 "
                                             "/dev/sda1 rw\n"),
                     0);
    char path[4096];
    (void) snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
    FILE *f = fopen(path, "ae");
    assert_non_null(f);
    assert_int_equal(fputc('\0', f), 0);
    assert_int_equal(fclose(f), 0);
    struct posture_result *r = run_check(root, NULL, &run);
    expect_errno(r, "EBADMSG");
    assert_string_equal(r->reason, "/proc/self/mountinfo is not a mount table (it contains a NUL "
                                   "byte)");
    assert_int_equal(posture_test_rmdir_r(root), 0);
    free(root);
}

static void test_check_options(void **state)
{
    (void) state;
    posture_auto_run struct posture_run *run = NULL;

    /* extra_mounts naming an NFS mount: listed as excluded, so nothing is checked. */
    struct posture_result *r = run_check(fixture("nfs-root"),
                                         "extra_mounts = /srv /tmp/x relative\n"
                                         "tool_timeout = 1s\n",
                                         &run);
    assert_int_equal(r->status, POSTURE_STATUS_NOT_APPLICABLE);
    assert_int_equal(cJSON_GetArraySize(posture_test_json_get(r->evidence, "excluded")), 2);
}

static void test_check_descriptor(void **state)
{
    (void) state;
    const struct posture_check_desc *d = NULL;
    for (size_t i = 0; i < posture_builtin_count(); i++)
        if (strcmp(posture_builtin_at(i)->name, "disk.encryption") == 0)
            d = posture_builtin_at(i);
    assert_non_null(d);
    assert_non_null(posture_check_find_option(d, "extra_mounts"));
    assert_non_null(posture_check_find_option(d, "zfs_command"));
    assert_non_null(posture_check_find_option(d, "zpool_command"));
    assert_non_null(posture_check_find_option(d, "tool_timeout"));
    assert_int_equal(d->flags, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mountinfo_fields),
        cmocka_unit_test(test_mountinfo_escapes),
        cmocka_unit_test(test_mountinfo_invalid_lines),
        cmocka_unit_test(test_mountinfo_limits),
        cmocka_unit_test(test_mountinfo_lookup),
        cmocka_unit_test(test_fs_kinds),
        cmocka_unit_test(test_swaps),
        cmocka_unit_test(test_zfs_parse_get),
        cmocka_unit_test(test_zfs_parse_vdevs),
        cmocka_unit_test(test_zfs_tools),
        cmocka_unit_test(test_check_missing_mountinfo),
        cmocka_unit_test(test_check_nfs_root),
        cmocka_unit_test(test_check_zfs_not_host),
        cmocka_unit_test(test_check_bad_tables),
        cmocka_unit_test(test_check_options),
        cmocka_unit_test(test_check_descriptor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
