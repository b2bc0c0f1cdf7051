/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the enrolment request parsers (POST /v1/enroll and /v1/enroll/activate bodies): every
 * input goes through both, and the TPM material of a parsed request through the EK
 * certificate check (an empty trust directory: the certificate DER and the TPM2B_PUBLIC are
 * parsed, the chain then fails) and the AK pin, and both requests through their proof-of-
 * possession checks (the "pop" JWS against the request's JWK). Nothing may crash or leak, and a
 * parsed request must satisfy the invariants checked below. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posture/quote.h"

#include "ekcert.h"
#include "enroll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An empty trust store, made once. */
static struct posture_ekcert_roots *empty_roots(void)
{
    static struct posture_ekcert_roots *roots;
    static int tried;
    char dir[] = "/tmp/fuzz-enroll-XXXXXX";

    if (!tried) {
        tried = 1;
        if (mkdtemp(dir)) {
            (void) posture_ekcert_roots_load(dir, NULL, &roots);
            (void) rmdir(dir);
        }
    }
    return roots;
}

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
        if (req->tpm) {
            struct posture_ekcert_roots *roots = empty_roots();
            enum posture_ekcert_reason reason;
            struct posture_quote_ak *ak = NULL;

            if (roots &&
                posture_ekcert_verify(roots, req->ek_cert, req->ek_cert_len, req->ek_public,
                                      req->ek_public_len, 1750000000, &reason, NULL) == 0 &&
                reason == POSTURE_EKCERT_OK)
                abort(); /* nothing can chain to an empty trust store */
            if (posture_quote_ak_new(req->ak_public, req->ak_public_len, NULL, 0, &ak) == 0)
                ak = posture_quote_ak_free(ak);
        }
        {
            enum posture_enroll_reason reason = POSTURE_ENROLL_REASON__MAX;
            if (posture_enroll_request_verify_pop(req, 1750000000, &reason, NULL) == 0 &&
                (reason == POSTURE_ENROLL_REASON__MAX ||
                 (!req->pop && reason == POSTURE_ENROLL_OK)))
                abort();
        }
        req = posture_enroll_request_free(req);
    }
    if (posture_enroll_activation_parse((const char *) data, size, &act) == 0) {
        enum posture_enroll_reason reason = POSTURE_ENROLL_REASON__MAX;
        uint8_t nonce0[POSTURE_ENROLL_NONCE0_SIZE];

        if (act.proof_len == 0 || act.proof_len > sizeof(act.proof) ||
            strlen(act.device_id) != POSTURE_KEY_THUMBPRINT_LEN ||
            (act.device_key && strlen(act.kid) != POSTURE_KEY_THUMBPRINT_LEN))
            abort();
        if (posture_enroll_activation_verify_pop(&act, 1750000000, &reason, NULL, nonce0) == 0 &&
            (reason == POSTURE_ENROLL_REASON__MAX ||
             (!act.device_key && reason != POSTURE_ENROLL_POP_MISSING)))
            abort();
        posture_enroll_activation_done(&act);
    }
    return 0;
}
