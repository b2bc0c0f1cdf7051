/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the enrolment request parsers (POST /v1/enroll and /v1/enroll/activate bodies): every
 * input goes through both; neither may crash, leak or accept a body they should refuse
 * silently (a parsed request must satisfy the invariants checked below). */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_enroll_request *req = NULL;
    struct posture_enroll_activation act;

    if (posture_enroll_request_parse((const char *) data, size, &req) == 0) {
        /* Invariants of a parsed request; a violation is a bug, so crash loudly. */
        if (!req->device_key || strlen(req->kid) != POSTURE_KEY_THUMBPRINT_LEN || !req->jwk ||
            (req->tpm && (!req->ek_cert || !req->ek_public || !req->ak_public)) ||
            (!req->tpm && (req->ek_cert || req->ek_public || req->ak_public)))
            abort();
        req = posture_enroll_request_free(req);
    }
    if (posture_enroll_activation_parse((const char *) data, size, &act) == 0) {
        if (act.proof_len == 0 || act.proof_len > sizeof(act.proof) ||
            strlen(act.device_id) != POSTURE_KEY_THUMBPRINT_LEN)
            abort();
    }
    return 0;
}
