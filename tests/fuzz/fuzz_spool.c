/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_spool_parse (the reader of spool files after a crash or a bit flip) on arbitrary
 * input: refused only as -EBADMSG; an accepted image has a body inside the input whose length
 * is what the header says. Seeds: tests/fuzz/corpus/spool.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *) data, *body = NULL;
    uint64_t seq, created;
    size_t len = 0;
    int r;

    r = posture_spool_parse(buf, size, &seq, &created, &body, &len);
    if (r < 0) {
        if (r != -EBADMSG)
            abort();
        return 0;
    }
    if (!body || body < buf || body + len != buf + size || len == 0 ||
        len > POSTURE_SPOOL_ENTRY_MAX)
        abort();
    return 0;
}
