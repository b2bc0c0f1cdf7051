/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Parsers of the disk.encryption check for the two procfs files it reads from the root:
 * /proc/self/mountinfo (proc(5)) and /proc/swaps. Separate so unit tests and fuzz targets call
 * them directly.
 *
 * mountinfo, one mount per line:
 *     36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *     (1)(2)(3)   (4)   (5)      (6)       (7)   (8) (9)   (10)         (11)
 * mount id, parent id, major:minor, root, mount point, mount options, zero or more optional
 * fields, "-", filesystem type, source, superblock options. Fields are separated by spaces or
 * tabs. The kernel escapes space, tab, newline and backslash inside fields as \NNN (three
 * octal digits); these are decoded in root, mount point, filesystem type and source. A
 * backslash not followed by three octal digits is kept literally; \000 makes the line invalid.
 * A line with fewer fields, a non-numeric id or major:minor, no "-" separator or no type and
 * source after it is invalid: it is counted (n_invalid, first_invalid_line) and skipped. The
 * superblock options may be missing (then the mount counts as read-write). Blank lines are
 * skipped; a "\r" before "\n" is dropped.
 *
 * /proc/swaps: an optional header line starting with "Filename", then one line per active swap
 * area: path (escaped like mountinfo), type ("partition" or "file"), and size, used and
 * priority, which are not kept. A line without a path and a known type is invalid (counted).
 *
 * Both parsers refuse input containing a NUL byte (-EBADMSG) or longer than their *_FILE_MAX
 * (-EFBIG), and more entries than their *_MAX (-E2BIG): a list cut short could hide the one
 * mount that matters.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POSTURE_MOUNTINFO_FILE_MAX   ((size_t) 16 * 1024 * 1024)
#define POSTURE_MOUNTINFO_MOUNTS_MAX 65536u
#define POSTURE_SWAPS_FILE_MAX       ((size_t) 256 * 1024)
#define POSTURE_SWAPS_MAX            1024u

struct posture_mount {
    uint32_t id;
    uint32_t parent_id;
    uint32_t major;
    uint32_t minor;
    char *root;       /* decoded; the part of the filesystem mounted here ("/", "/@home") */
    char *mountpoint; /* decoded */
    char *fstype;     /* decoded; "ext4", "fuse.sshfs" (subtype included) */
    char *source;     /* decoded; "/dev/sda2", "rpool/ROOT/debian", "none" */
    bool ro;          /* the superblock is read-only (the filesystem, not just this mount) */
    bool mount_ro; /* this mount is read-only (a bind mount may be while its superblock is not) */
};

struct posture_mountinfo {
    struct posture_mount *mounts;
    size_t n;
    unsigned n_invalid;          /* lines that were not mounts */
    unsigned first_invalid_line; /* 1-based line number of the first; 0 when none */
};

/*
 * Parse len bytes of a mountinfo file. Returns the number of mounts and fills *ret, which the
 * caller releases with posture_mountinfo_done(). -EBADMSG (NUL byte), -EFBIG, -E2BIG, -ENOMEM.
 */
int posture_mountinfo_parse(const char *buf, size_t len, struct posture_mountinfo *ret);
/* Free the contents of mi and zero it. NULL-safe. */
void posture_mountinfo_done(struct posture_mountinfo *mi);

/*
 * The mount visible at exactly mountpoint: of several mounts stacked on the same path, the one
 * on top (no other mount at that path has it as parent). NULL when nothing is mounted there.
 */
const struct posture_mount *posture_mountinfo_at(const struct posture_mountinfo *mi,
                                                 const char *mountpoint);

/*
 * The mount holding path: the visible mount whose mount point is the longest prefix of path
 * at a "/" boundary. path must be absolute; it is taken lexically (no symlinks, no "..").
 * NULL when path is not absolute or nothing covers it.
 */
const struct posture_mount *posture_mountinfo_containing(const struct posture_mountinfo *mi,
                                                         const char *path);

/* Kinds of filesystem types, for mounts without a block device (major 0). */
enum posture_fs_kind {
    POSTURE_FS_DISK,    /* anything else: expected to sit on a block device */
    POSTURE_FS_PSEUDO,  /* proc, sysfs, cgroup, devpts, ...: no data of their own */
    POSTURE_FS_MEMORY,  /* tmpfs, ramfs: memory only */
    POSTURE_FS_NETWORK, /* nfs, cifs, 9p, virtiofs, ...: stored elsewhere */
    POSTURE_FS_ZFS,     /* a ZFS dataset: ask zfs */
    POSTURE_FS_STACKED, /* overlay, aufs, fuse: the backing storage is not a block device */
    POSTURE_FS_ENCRYPTED_STACKED, /* ecryptfs: file-level encryption over another filesystem */
    POSTURE_FS_KIND__MAX,
};

enum posture_fs_kind posture_fs_kind_of(const char *fstype);

struct posture_swap {
    char *path; /* decoded; "/dev/dm-1", "/swapfile", "/swapfile (deleted)" */
    bool is_file;
};

struct posture_swaps {
    struct posture_swap *swaps;
    size_t n;
    unsigned n_invalid;
    unsigned first_invalid_line;
};

/* Parse len bytes of /proc/swaps; like posture_mountinfo_parse(). */
int posture_swaps_parse(const char *buf, size_t len, struct posture_swaps *ret);
void posture_swaps_done(struct posture_swaps *s);

/*
 * Decode the \NNN octal escapes of the n bytes at s into a new string (*ret, caller frees).
 * -EBADMSG for \000; -ENOMEM.
 */
int posture_unescape_octal(const char *s, size_t n, char **ret);
