/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * ZFS for the disk.encryption check: native encryption of a dataset from
 *     zfs get -H -p -o name,property,value encryption,keystatus,encryptionroot DATASET
 * and, for datasets without native encryption, the pool's leaf vdevs from
 *     zpool list -v -H -P -L POOL
 * so that ZFS on LUKS is followed through the block device graph. Both tools run with a
 * timeout through posture_spawn_run(); their output is parsed by the functions below, which
 * the unit tests and a fuzz target call directly.
 *
 * zfs get output: one line per property, "name<TAB>property<TAB>value". Lines of other
 * datasets, unknown properties and lines without three fields are ignored.
 *
 * zpool list -v -H output: the pool line starts at column 0; vdev lines start with a tab and
 * name the vdev in their first field ("mirror-0", or with -P a path "/dev/dm-3"); section
 * lines ("log", "cache", "spare", "special", "dedup") start at column 0. Leaf vdevs are the
 * vdev names starting with "/"; those listed under "spare" (idle hot spares) are skipped.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POSTURE_ZFS_OUTPUT_MAX ((size_t) 64 * 1024)
#define POSTURE_ZFS_VDEVS_MAX  256u

struct posture_zfs_crypt {
    char *encryption;      /* "off", "aes-256-gcm", ... (never NULL after a successful parse) */
    char *keystatus;       /* "available", "unavailable", "-"; NULL when not reported */
    char *encryption_root; /* the dataset holding the key, "-" or NULL when not reported */
};

void posture_zfs_crypt_done(struct posture_zfs_crypt *c);

/*
 * Parse zfs get output for dataset. -ENOENT: no encryption property for dataset (ZFS without
 * native encryption prints none); -EBADMSG: NUL byte; -EFBIG; -ENOMEM.
 */
int posture_zfs_parse_get(const char *buf,
                          size_t len,
                          const char *dataset,
                          struct posture_zfs_crypt *ret);

/*
 * Parse zpool list -v -H -P output into the leaf vdev paths (strv, caller frees; empty when
 * none). -E2BIG beyond POSTURE_ZFS_VDEVS_MAX; -EBADMSG; -EFBIG; -ENOMEM.
 */
int posture_zfs_parse_vdevs(const char *buf, size_t len, char ***ret);

/* Whether encryption (a value of the encryption property) means encrypted. */
bool posture_zfs_encryption_is_on(const char *encryption);

/*
 * Run "zfs get" (tool: a name looked up in PATH or a path) for dataset, at most timeout_usec.
 * Returns 0 and fills *ret, or a negative errno with *ret_why set to a sentence fragment the
 * caller frees (-ENOENT: tool missing, -ETIMEDOUT, -EIO: failed, -ENOMEM without why).
 */
int posture_zfs_get(const char *tool,
                    const char *dataset,
                    uint64_t timeout_usec,
                    struct posture_zfs_crypt *ret,
                    char **ret_why);

/* Run "zpool list -v -H -P -L" for pool; like posture_zfs_get(), *ret as posture_zfs_parse_vdevs().
 */
int posture_zfs_pool_vdevs(
    const char *tool, const char *pool, uint64_t timeout_usec, char ***ret, char **ret_why);
