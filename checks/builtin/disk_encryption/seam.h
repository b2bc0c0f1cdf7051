/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Testing seam of the disk.encryption check: treat every root as the running system, so that
 * tests can drive the ZFS path (which only runs on the host) with a fixture mount table, a
 * umockdev testbed and stand-in zfs/zpool tools (options zfs_command and zpool_command).
 */

#include <stdbool.h>

void posture_disk_encryption_assume_host(bool on);
