/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_key_pem_source(), which decides the device key's source from an existing device.key
 * before anything else reads it (posturectl key): any input gives FILE, TPM or -EBADMSG, and a
 * source is only ever named for a BEGIN line of exactly that label at the start of a line.
 * Reads stay within size (the replay and libFuzzer both hand an exact-size buffer to ASan).
 * A broken invariant aborts, which is how the fuzzer reports it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posture/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether data has "-----BEGIN <label>-----" at the start of a line. */
static int has_line(const uint8_t *data, size_t size, const char *line)
{
    size_t n = strlen(line);

    for (size_t i = 0; i + n <= size; i++)
        if ((i == 0 || data[i - 1] == '\n') && memcmp(data + i, line, n) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int r;

    if (size > POSTURE_KEY_FILE_MAX_SIZE)
        return 0;
    r = posture_key_pem_source(data, size);
    switch (r) {
    case POSTURE_KEY_SOURCE_TPM:
        if (!has_line(data, size, "-----BEGIN TSS2 PRIVATE KEY-----"))
            abort();
        break;
    case POSTURE_KEY_SOURCE_FILE:
        if (!has_line(data, size, "-----BEGIN PRIVATE KEY-----") &&
            !has_line(data, size, "-----BEGIN EC PRIVATE KEY-----"))
            abort();
        break;
    case -EBADMSG:
        break;
    default:
        abort();
    }
    return 0;
}
