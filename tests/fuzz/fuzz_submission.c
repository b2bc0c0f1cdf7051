/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_submission_parse and posture_submission_peek_nonce on arbitrary input: refusals only
 * as -EBADMSG (with a reason), -E2BIG or -ENOMEM; an accepted body has a non-empty report of at
 * most 64 KiB; a peeked nonce is 8 to 64 bytes. Seeds: tests/fuzz/corpus/submission.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posture/jws.h"

#include "submission.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_submission *s = NULL;
    const char *why = NULL;
    uint8_t nonce[64];
    int r;

    r = posture_submission_parse((const char *) data, size, &s, &why);
    if (r < 0) {
        if ((r != -EBADMSG && r != -E2BIG && r != -ENOMEM) || s)
            abort();
        if (r == -EBADMSG && (!why || !why[0]))
            abort();
        /* The same bytes as a bare token. */
        r = posture_submission_peek_nonce((const char *) data, size, nonce, sizeof(nonce));
        if (r >= 0 && (r < 8 || r > 64))
            abort();
        if (r < 0 && r != -EBADMSG && r != -ENOMEM)
            abort();
        return 0;
    }
    if (!s->report || s->report_len == 0 || s->report_len > POSTURE_JWS_MAX_SIZE ||
        strlen(s->report) != s->report_len)
        abort();
    r = posture_submission_peek_nonce(s->report, s->report_len, nonce, sizeof(nonce));
    if (r >= 0 && (r < 8 || r > 64))
        abort();
    if (r < 0 && r != -EBADMSG && r != -ENOMEM)
        abort();
    posture_submission_free(s);
    return 0;
}
