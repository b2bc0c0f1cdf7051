/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the output contract of exec and .so checks (check_output.h), parsed into a
 * result through the host API; a verdict is serialised again and must parse back the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posture/check_output.h"
#include "posture/json.h"
#include "posture/result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_result *r = NULL, *back = NULL;
    char why[POSTURE_CHECK_OUTPUT_WHY_MAX];
    char *text = NULL;
    size_t len = 0;

    if (posture_result_new("corp.edr", "-", &r) < 0)
        return 0;
    /* The parser reads exactly size bytes; a copy makes ASan catch any read past them. */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        goto out;
    if (size > 0)
        memcpy(buf, data, size);
    int k = posture_check_output_parse(buf, size, "corp.edr", r, why, sizeof(why));
    free(buf);
    if (k < 0) {
        /* The explanation is always a terminated string. */
        if (strnlen(why, sizeof(why)) >= sizeof(why))
            abort();
        goto out;
    }
    if (posture_check_output_format(r, &text, &len) < 0 ||
        posture_result_new("corp.edr", "-", &back) < 0)
        goto out;
    /* What we write back is itself valid output with the same content. */
    if (posture_check_output_parse(text, len, "corp.edr", back, NULL, 0) < 0 ||
        back->status != r->status || strcmp(back->version, r->version) != 0 ||
        !cJSON_Compare(back->evidence, r->evidence, true))
        abort();
out:
    free(text);
    (void) posture_result_free(back);
    (void) posture_result_free(r);
    return 0;
}
