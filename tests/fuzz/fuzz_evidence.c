/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_evidence_parse on arbitrary input. Any input may be refused, but only as -EBADMSG
 * with a reason string, -E2BIG or -ENOMEM; accepted evidence must be internally consistent
 * (PCR values exactly the selection, in index order) and must survive a round trip through
 * posture_evidence_to_json unchanged. A broken invariant aborts, which is how the fuzzer
 * reports it. Seeds: tests/fuzz/corpus/evidence (made from the swtpm quote of
 * tests/fixtures/quote, see the README there).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posture/evidence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct posture_evidence *a, const struct posture_evidence *b)
{
    if (a->pcr_mask != b->pcr_mask || a->n_pcrs != b->n_pcrs || a->attest_len != b->attest_len ||
        a->signature_len != b->signature_len || a->event_log_len != b->event_log_len ||
        a->ak_public_len != b->ak_public_len || a->ek_cert_len != b->ek_cert_len ||
        memcmp(a->pcrs, b->pcrs, a->n_pcrs * sizeof(a->pcrs[0])) != 0 ||
        memcmp(a->ak_name, b->ak_name, sizeof(a->ak_name)) != 0 ||
        memcmp(a->attest, b->attest, a->attest_len) != 0 ||
        memcmp(a->signature, b->signature, a->signature_len) != 0 ||
        (a->event_log && memcmp(a->event_log, b->event_log, a->event_log_len) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_evidence *e = NULL, *back = NULL;
    cJSON *obj = NULL;
    char *text = NULL;
    const char *why = NULL;
    uint32_t seen = 0;
    int r;

    r = posture_evidence_parse((const char *) data, size, &e, &why);
    if (r < 0) {
        if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM)
            abort();
        if (r == -EBADMSG && (!why || !why[0]))
            abort();
        if (e)
            abort();
        return 0;
    }
    for (size_t i = 0; i < e->n_pcrs; i++) {
        unsigned idx = e->pcrs[i].index;
        if (idx >= POSTURE_QUOTE_PCR_MAX || (seen >> idx) != 0)
            abort(); /* outside the bank, or not in ascending order */
        seen |= UINT32_C(1) << idx;
    }
    if (seen != e->pcr_mask || !e->attest || !e->signature)
        abort();
    if (posture_evidence_to_json(e, &obj) < 0 || posture_json_print(obj, false, &text) < 0)
        abort();
    if (posture_evidence_parse(text, strlen(text), &back, &why) < 0)
        abort();
    same(e, back);
    posture_evidence_free(back);
    free(text);
    cJSON_Delete(obj);
    posture_evidence_free(e);
    return 0;
}
