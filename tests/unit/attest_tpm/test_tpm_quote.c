/* SPDX-License-Identifier: Apache-2.0 */
/* posture_tpm_quote() without a TPM: argument checks and an unreachable TPM. The quote itself
 * is tested against swtpm by integration/attest.quote/swtpm (tpm_quote_tool). */

#include <stdlib.h>

#include "posture/tpm_quote.h"

#include "testlib.h"

static void test_args(void **state)
{
    uint8_t q[32] = { 1 };
    struct posture_tpm_evidence *e = NULL;
    (void) state;

    assert_int_equal(posture_tpm_quote(NULL, q, sizeof(q), 0xff, &e), -EINVAL);
    assert_int_equal(posture_tpm_quote("device:/dev/null", NULL, 32, 0xff, &e), -EINVAL);
    assert_int_equal(posture_tpm_quote("device:/dev/null", q, 0, 0xff, &e), -EINVAL);
    assert_int_equal(
        posture_tpm_quote("device:/dev/null", q, POSTURE_QUOTE_NONCE_MAX + 1, 0xff, &e), -EINVAL);
    assert_int_equal(posture_tpm_quote("device:/dev/null", q, sizeof(q), 0, &e), -EINVAL);
    assert_int_equal(posture_tpm_quote("device:/dev/null", q, sizeof(q), 1u << 24, &e), -EINVAL);
    assert_int_equal(posture_tpm_quote("device:/dev/null", q, sizeof(q), 0xff, NULL), -EINVAL);
    assert_null(e);
    assert_null(posture_tpm_evidence_free(NULL));
}

static void test_no_tpm(void **state)
{
    uint8_t q[32] = { 1 };
    struct posture_tpm_evidence *e = NULL;
    (void) state;

    /* Nothing listens on port 1; a TCTI that does not exist. */
    assert_int_equal(posture_tpm_quote("swtpm:host=127.0.0.1,port=1", q, sizeof(q), 0xff, &e),
                     -ENODEV);
    assert_int_equal(posture_tpm_quote("posture-no-such-tcti", q, sizeof(q), 0xff, &e), -ENODEV);
    assert_null(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_no_tpm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
