/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the /proc/self/mountinfo parser of disk.encryption, and the lookups the check
 * makes on its result (the mount at a path, the mount holding a path, the filesystem kind).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "disk_encryption/mountinfo.h"

/* Lookups per input: each is linear in the number of mounts. */
#define LOOKUPS_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_mountinfo mi;

    if (posture_mountinfo_parse((const char *) data, size, &mi) < 0)
        return 0;
    size_t total = mi.n_invalid;
    for (size_t i = 0; i < mi.n; i++) {
        const struct posture_mount *m = &mi.mounts[i];
        /* Touch every string so a bad pointer or a missing terminator shows under ASan. */
        total += strlen(m->root) + strlen(m->mountpoint) + strlen(m->fstype) + strlen(m->source);
        total += (size_t) posture_fs_kind_of(m->fstype) + m->major + m->minor + m->ro;
        if (i >= LOOKUPS_MAX)
            continue;
        const struct posture_mount *at = posture_mountinfo_at(&mi, m->mountpoint);
        if (!at || strcmp(at->mountpoint, m->mountpoint) != 0)
            __builtin_trap(); /* a mount point that is listed is found */
        char path[4200];
        (void) snprintf(path, sizeof(path), "%s/swapfile", m->mountpoint);
        const struct posture_mount *c = posture_mountinfo_containing(&mi, path);
        if (c)
            total += strlen(c->mountpoint);
    }
    (void) total;
    posture_mountinfo_done(&mi);
    return 0;
}
