/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the parsers of dnf / yum output in os.patch_level (`updateinfo list --security`,
 * `check-update`) and the NEVRA splitter. The same bytes go through each; the results must be
 * consistent (sorted, distinct names, counts that add up). A broken invariant aborts, which is
 * how the fuzzer reports it; nothing is asserted about the input itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "os_patch_level/dnf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_dnf_updateinfo u;
    const char *text = (const char *) data;

    int r = posture_dnf_parse_updateinfo(text, size, size % 2 ? "x86_64" : NULL, &u);
    if (r >= 0) {
        /* Distinct and sorted; every name is a terminated, non-empty string. */
        if ((size_t) r != u.n_names || !u.names || u.names[u.n_names])
            abort();
        for (size_t i = 0; i < u.n_names; i++) {
            if (u.names[i][0] == '\0')
                abort();
            if (i > 0 && strcmp(u.names[i - 1], u.names[i]) >= 0)
                abort();
        }
        if (u.n_names > u.advisories)
            abort();
        posture_dnf_updateinfo_done(&u);
    }

    size_t ignored = 0;
    (void) posture_dnf_parse_check_update(text, size, &ignored);

    /* The splitter wants a terminated string: the first line, at most 512 bytes. */
    char nevra[513];
    size_t n = 0;
    while (n < size && n < sizeof(nevra) - 1 && data[n] != '\n' && data[n] != '\0')
        n++;
    memcpy(nevra, data, n);
    nevra[n] = '\0';
    char *name = NULL, *arch = NULL;
    if (posture_dnf_split_nevra(nevra, &name, &arch) == 0) {
        if (name[0] == '\0' || arch[0] == '\0')
            abort();
        free(name);
        free(arch);
    }
    return 0;
}
