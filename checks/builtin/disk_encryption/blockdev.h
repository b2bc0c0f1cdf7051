/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The block device graph of the disk.encryption check, read through libudev (sysfs of the
 * running system; umockdev replaces it in tests).
 *
 * A walk starts at one block device and follows it down to the physical disks: a partition to
 * its disk (layer "part"), a device-mapper or MD device to every device in its slaves/
 * directory, a loop device to the filesystem holding its backing file (layer "loop"). dm
 * devices are named by their DM UUID prefix (sysfs dm/uuid, else the udev property DM_UUID):
 * "CRYPT-LUKS2-" "crypt:luks2", "CRYPT-LUKS1-" "crypt:luks1", "CRYPT-PLAIN-" "crypt:plain"
 * (also LOOPAES, TCRYPT, BITLK, FVAULT2), "LVM-" "lvm", "mpath-" "multipath", "partN-" (kpartx)
 * "part", others "dm"; cryptsetup's non-encrypting types ("CRYPT-VERITY-", "CRYPT-INTEGRITY-",
 * "CRYPT-SUBDEV-") are "verity"/"integrity" and do not count. MD devices are named by md/level
 * ("raid1"). A device is encrypted only when EVERY path from it down to a disk passes through a
 * dm-crypt layer: RAID1 of two LUKS devices is, RAID1 of a LUKS device and a plain partition is
 * not. zram and brd (ram) devices are memory, not disks.
 *
 * Walks are bounded: at most POSTURE_BLK_DEPTH_MAX layers, POSTURE_BLK_FANOUT_MAX slaves per
 * device and POSTURE_BLK_NODES_MAX devices per walk; beyond that the answer is UNKNOWN.
 */

#include <stdint.h>

#include "posture/cleanup.h"

#include "mountinfo.h"

#define POSTURE_BLK_DEPTH_MAX  16u
#define POSTURE_BLK_FANOUT_MAX 64u
#define POSTURE_BLK_NODES_MAX  256u
/* Unencrypted leaf devices listed per walk. */
#define POSTURE_BLK_PLAIN_MAX 16u

enum posture_blk_state {
    POSTURE_BLK_ENCRYPTED, /* every path to storage passes a dm-crypt layer */
    POSTURE_BLK_PLAIN,     /* some path reaches a disk without one */
    POSTURE_BLK_MEMORY,    /* only memory-backed devices or filesystems (zram, tmpfs) */
    POSTURE_BLK_UNKNOWN,   /* could not tell: why and error say why */
};

struct posture_blk_result {
    enum posture_blk_state state;
    char **layers; /* bottom-up along one path (a failing one if any): {"part","crypt:luks2"} */
    char **plain;  /* devices reached without a crypt layer, "/dev/sdb1" (PLAIN) */
    char *device;  /* the device the walk started at, "/dev/dm-1"; NULL if not found */
    char *why;     /* UNKNOWN: what could not be read, a sentence fragment */
    int error;     /* UNKNOWN: negative errno */
};

/* Free the contents and zero r. NULL-safe. */
void posture_blk_result_done(struct posture_blk_result *r);

struct posture_blk_graph;

/*
 * A graph over the running system's sysfs. mi (borrowed, may be NULL) maps loop backing files
 * to filesystems. -ENODEV when sysfs has no block devices (/sys/dev/block missing): then
 * *ret_why (static text) says so; -ENOMEM; other errors of udev_new() or opendir().
 */
int posture_blk_graph_new(const struct posture_mountinfo *mi,
                          struct posture_blk_graph **ret,
                          const char **ret_why);
struct posture_blk_graph *posture_blk_graph_free(struct posture_blk_graph *g);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_blk_graph *, posture_blk_graph_free)
#define posture_auto_blk_graph POSTURE_CLEANUP(posture_blk_graph_freep)

/*
 * Walks. Each returns 0 with *ret filled (the state may be UNKNOWN, with why and error set) or
 * -ENOMEM; the caller releases *ret with posture_blk_result_done().
 */
/* Below the block device major:minor. */
int posture_blk_walk_devnum(struct posture_blk_graph *g,
                            uint32_t major,
                            uint32_t minor,
                            struct posture_blk_result *ret);
/* Below a device node path: "/dev/sda3", "/dev/dm-1", "/dev/mapper/NAME", else by stat(). */
int posture_blk_walk_devpath(struct posture_blk_graph *g,
                             const char *path,
                             struct posture_blk_result *ret);
/*
 * Below each of several device paths (the leaf vdevs of a ZFS pool), combined like the slaves
 * of one device: encrypted only if every one is. An empty list is UNKNOWN.
 */
int posture_blk_walk_devpaths(struct posture_blk_graph *g,
                              char *const *paths,
                              struct posture_blk_result *ret);
/*
 * Below the storage of a mounted filesystem: its device number; for anonymous device numbers
 * (major 0, as btrfs has) the source device, and for btrfs every member device listed in
 * /sys/fs/btrfs/<fsid>/devices/. tmpfs and other memory filesystems are MEMORY, ecryptfs is
 * ENCRYPTED (file level), other filesystems without a block device are UNKNOWN.
 */
int posture_blk_walk_mount(struct posture_blk_graph *g,
                           const struct posture_mount *m,
                           struct posture_blk_result *ret);

/* "encrypted", "not encrypted", "memory", "unknown". */
const char *posture_blk_state_to_string(enum posture_blk_state s);
