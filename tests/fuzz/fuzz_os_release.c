/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the os-release(5) parser of the os.release check. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "os_release.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_os_release o;

    int r = posture_os_release_parse((const char *) data, size, &o);
    if (r < 0)
        return 0;
    /* Touch every string so a bad pointer or a missing terminator shows up under ASan. */
    const char *fields[] = { o.id,          o.id_like,    o.name,
                             o.version,     o.version_id, o.version_codename,
                             o.pretty_name, o.build_id,   o.variant_id };
    size_t total = 0;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (fields[i])
            total += strlen(fields[i]);
    (void) total;
    posture_os_release_done(&o);
    return 0;
}
