/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel releases and kernel image packages (see kernel.h). */
#include "kernel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "posture/cleanup.h"

#include "apt.h"

#define PREFIX          "linux-image-"
#define PREFIX_UNSIGNED "linux-image-unsigned-"

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int posture_kernel_release_from_package(const char *package, char **ret)
{
    *ret = NULL;
    if (!package || strchr(package, ':'))
        return 0;

    const char *rel;
    if (strncmp(package, PREFIX_UNSIGNED, strlen(PREFIX_UNSIGNED)) == 0)
        rel = package + strlen(PREFIX_UNSIGNED);
    else if (strncmp(package, PREFIX, strlen(PREFIX)) == 0)
        rel = package + strlen(PREFIX);
    else
        return 0;

    size_t n = strlen(rel);
    if (ends_with(rel, n, "-dbg") || ends_with(rel, n, "-dbgsym"))
        return 0;
    if (ends_with(rel, n, "-unsigned"))
        n -= strlen("-unsigned");
    /* A release starts with its version: "linux-image-amd64" and "linux-image-generic-hwe-22.04"
     * are meta packages. */
    if (n == 0 || n > POSTURE_KERNEL_RELEASE_MAX || rel[0] < '0' || rel[0] > '9')
        return 0;
    char *s = strndup(rel, n);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

const char *posture_kernel_flavour(const char *release)
{
    if (!release)
        return NULL;
    for (const char *p = strchr(release, '-'); p; p = strchr(p + 1, '-')) {
        char c = p[1];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return p + 1;
    }
    return NULL;
}

/* The version part of a release, truncated into buf. */
static const char *version_part(const char *release, char *buf, size_t size)
{
    const char *f = posture_kernel_flavour(release);
    size_t n = f ? (size_t) (f - 1 - release) : strlen(release);
    if (n >= size)
        n = size - 1;
    memcpy(buf, release, n);
    buf[n] = '\0';
    return buf;
}

int posture_kernel_release_compare(const char *a, const char *b)
{
    char va[POSTURE_KERNEL_RELEASE_MAX + 1], vb[POSTURE_KERNEL_RELEASE_MAX + 1];
    return posture_debversion_compare(version_part(a, va, sizeof(va)),
                                      version_part(b, vb, sizeof(vb)));
}

static bool same_flavour(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

int posture_kernel_newest(char *const *releases,
                          size_t n,
                          const char *running,
                          bool *ret_comparable)
{
    const char *want = posture_kernel_flavour(running);
    bool any = false;

    if (n == 0)
        return -ENOENT;
    if (want)
        for (size_t i = 0; i < n && !any; i++)
            any = same_flavour(posture_kernel_flavour(releases[i]), want);

    int best = -1;
    for (size_t i = 0; i < n; i++) {
        if (any && !same_flavour(posture_kernel_flavour(releases[i]), want))
            continue;
        if (best < 0 || posture_kernel_release_compare(releases[i], releases[best]) > 0)
            best = (int) i;
    }
    if (best < 0)
        return -ENOENT;
    if (ret_comparable)
        *ret_comparable = running && (!want || any);
    return best;
}
