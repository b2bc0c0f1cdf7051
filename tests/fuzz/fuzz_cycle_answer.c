/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a cycle reads from outside (agent/daemon/cycle.h), on arbitrary input: the verifier's
 * answer (posture_answer_classify, under the status taken from the first two bytes), a spooled
 * submission body (posture_submission_report) and a report's claims
 * (posture_report_claims). Each either accepts or refuses; an accepted answer is always one of
 * the four kinds, an accepted body gives a non-empty report, accepted claims an object.
 * Seeds: tests/fuzz/corpus/cycle_answer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cycle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = { 200, 201, 400, 401, 404, 429, 500, 503, 302, 0 };
    char *buf, *token = NULL;
    cJSON *claims = NULL;
    long status;
    int r;

    if (size < 1 || size > (size_t) 1024 * 1024)
        return 0;
    status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    data++;
    size--;
    buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    enum posture_answer a = posture_answer_classify(status, buf, size);
    if (a != POSTURE_ANSWER_ACCEPTED && a != POSTURE_ANSWER_FRESH_NONCE &&
        a != POSTURE_ANSWER_TRANSIENT && a != POSTURE_ANSWER_REFUSED)
        abort();
    (void) posture_answer_classify(status, NULL, 0);

    r = posture_submission_report(buf, size, &token);
    if (r == 0) {
        if (!token || !token[0])
            abort();
        free(token);
    } else if (r != -EBADMSG && r != -ENOMEM)
        abort();

    r = posture_report_claims(buf, &claims);
    if (r == 0) {
        if (!cJSON_IsObject(claims))
            abort();
        cJSON_Delete(claims);
    } else if (r != -EBADMSG)
        abort();

    free(buf);
    return 0;
}
