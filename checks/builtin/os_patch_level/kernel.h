/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Kernel releases for os.patch_level's reboot_required: which installed kernel is the newest of
 * the running kernel's flavour, and whether the running kernel is older.
 *
 * A Debian/Ubuntu release reads "<version>[-<abi>]-<flavour>": "6.1.0-18-amd64",
 * "6.1.0-18-cloud-amd64", "6.12.12+bpo-amd64", "6.8.0-31-generic"; the flavour starts at the
 * first '-'-separated field that begins with a letter. A release without such a field
 * ("6.8.5-301.fc40.x86_64") has no flavour and compares with every other one.
 */

#include <stdbool.h>
#include <stddef.h>

/* Longest release string accepted (uname's field is 65 bytes). */
#define POSTURE_KERNEL_RELEASE_MAX 256u

/*
 * The release a kernel image package installs: "linux-image-6.1.0-18-amd64" and its
 * "-unsigned" twin (Debian) or "linux-image-unsigned-6.8.0-31-generic" (Ubuntu) give
 * "6.1.0-18-amd64" / "6.8.0-31-generic". Meta packages ("linux-image-amd64",
 * "linux-image-generic"), debug symbols ("-dbg", "-dbgsym") and foreign-architecture
 * names ("…:i386") give *ret = NULL. Returns 0 or -ENOMEM.
 */
int posture_kernel_release_from_package(const char *package, char **ret);

/* The flavour of a release ("cloud-amd64" for "6.1.0-18-cloud-amd64"), a pointer into it, or
 * NULL when it has none. */
const char *posture_kernel_flavour(const char *release);

/* Order two releases by their version part (the release without "-<flavour>"), with the
 * Debian version ordering: <0, 0, >0. */
int posture_kernel_release_compare(const char *a, const char *b);

/*
 * The index of the newest release among releases[0..n) that has the flavour of running, or of
 * all of them when running has no flavour or none shares it; -ENOENT when n is 0.
 * *ret_comparable tells whether running can be compared with it: running is set, and it has no
 * flavour or an installed kernel shares its flavour (a kernel that no package installed, like
 * a VM's direct-boot or a container host's kernel, is not compared with the packages).
 */
int posture_kernel_newest(char *const *releases,
                          size_t n,
                          const char *running,
                          bool *ret_comparable);
