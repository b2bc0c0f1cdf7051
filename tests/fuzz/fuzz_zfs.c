/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the parsers of zfs get and zpool list output in disk.encryption. The first
 * line of the input names the dataset; the rest is fed to both parsers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posture/strv.h"

#include "disk_encryption/zfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *) data;
    const char *nl = memchr(text, '\n', size);
    size_t name_len = nl ? (size_t) (nl - text) : size;
    size_t rest = nl ? size - name_len - 1 : 0;
    const char *body = nl ? nl + 1 : text + size;
    struct posture_zfs_crypt c;
    char **vdevs = NULL;
    size_t total = 0;

    char *dataset = malloc(name_len + 1); /* the input is not NUL-terminated: no strndup() */
    if (!dataset)
        return 0;
    memcpy(dataset, text, name_len);
    dataset[name_len] = '\0';
    if (posture_zfs_parse_get(body, rest, dataset, &c) == 0) {
        total += strlen(c.encryption) + posture_zfs_encryption_is_on(c.encryption);
        if (c.keystatus)
            total += strlen(c.keystatus);
        if (c.encryption_root)
            total += strlen(c.encryption_root);
        posture_zfs_crypt_done(&c);
    }
    if (posture_zfs_parse_vdevs(body, rest, &vdevs) == 0) {
        POSTURE_FOREACH_STRV (v, vdevs) {
            if (v[0] != '/')
                __builtin_trap(); /* only paths are vdevs */
            total += strlen(v);
        }
        (void) posture_strv_free(vdevs);
    }
    (void) total;
    free(dataset);
    return 0;
}
