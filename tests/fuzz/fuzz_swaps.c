/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the /proc/swaps parser of disk.encryption. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "disk_encryption/mountinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_swaps s;

    if (posture_swaps_parse((const char *) data, size, &s) < 0)
        return 0;
    size_t total = s.n_invalid;
    for (size_t i = 0; i < s.n; i++)
        total += strlen(s.swaps[i].path) + s.swaps[i].is_file;
    (void) total;
    posture_swaps_done(&s);
    return 0;
}
