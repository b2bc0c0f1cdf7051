/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: Debian version comparison is a total order on arbitrary strings. The input is
 * split at NUL bytes into up to three strings a, b, c; a violation of reflexivity,
 * antisymmetry, transitivity or of the consistency of equal elements traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "os_patch_level/apt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    /* Up to three strings, split at NUL bytes; missing ones are "". */
    const char *v[3] = { "", "", "" };
    const char *p = buf, *end = buf + size;
    for (size_t i = 0; i < 3 && p <= end; i++) {
        v[i] = p;
        p += strlen(p) + 1;
    }

    for (size_t i = 0; i < 3; i++) {
        if (posture_debversion_compare(v[i], v[i]) != 0)
            __builtin_trap();
        (void) posture_debversion_validate(v[i]);
    }
    int ab = sign(posture_debversion_compare(v[0], v[1]));
    int ba = sign(posture_debversion_compare(v[1], v[0]));
    int bc = sign(posture_debversion_compare(v[1], v[2]));
    int ac = sign(posture_debversion_compare(v[0], v[2]));
    int ca = sign(posture_debversion_compare(v[2], v[0]));
    if (ab != -ba || ac != -ca)
        __builtin_trap();
    /* Transitivity, in both directions. */
    if (ab <= 0 && bc <= 0 && ac > 0)
        __builtin_trap();
    if (ab >= 0 && bc >= 0 && ac < 0)
        __builtin_trap();
    /* Equal elements compare alike with everything. */
    if (ab == 0 && ac != bc)
        __builtin_trap();
    free(buf);
    return 0;
}
