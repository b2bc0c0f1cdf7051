/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Shared by the ESAPI sources of posture_attest_tpm (not installed, not for other folders). */

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

/* The AK template of ATTESTATION.md §4.2 (attributes 0x00050472): the quote's AK and the one
 * sent at enrolment are the same key because they come from this one template. */
extern const TPM2B_PUBLIC posture_tpm_ak_template;

/* Open the TCTI and an ESAPI context on it, and send TPM2_Startup(CLEAR) when nobody has.
 * -ENODEV (TCTI), -EIO. On error nothing is left open; on success the caller finalises both. */
int posture_tpm_context_open(const char *tcti,
                             TSS2_TCTI_CONTEXT **ret_tcti,
                             ESYS_CONTEXT **ret_esys);

/* Log rc at debug with what failed; returns -EIO. */
int posture_tpm_rc_error(TSS2_RC rc, const char *what);
