/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The agent's TPM evidence (ATTESTATION.md §4.2 steps 1, 3, 5, 6; §5.3): the AK as an ECC
 * P-256 restricted signing primary in the endorsement hierarchy (the same template gives the
 * same key until the EPS changes), a quote of the SHA-256 bank over the selected PCRs with the
 * caller's qualifyingData (posture_quote_binding()), and the PCR values read with the
 * consistency loop (re-quoted until SHA-256 of the values read equals the quote's pcrDigest).
 * Every handle is flushed and the context closed on every path; nothing is cached.
 * Part of posture_attest_tpm (ESAPI): the agent only.
 */

#include <stddef.h>
#include <stdint.h>

#include "posture/quote.h"

struct posture_tpm_evidence {
    uint8_t *attest; /* marshalled TPMS_ATTEST (what the AK signed) */
    size_t attest_len;
    uint8_t *signature; /* marshalled TPMT_SIGNATURE */
    size_t signature_len;
    uint8_t *ak_public; /* marshalled TPM2B_PUBLIC of the AK (sent at enrolment) */
    size_t ak_public_len;
    struct posture_quote_pcr pcrs[POSTURE_QUOTE_PCR_MAX]; /* the selected PCRs, index order */
    size_t n_pcrs;
};

/* Quote with the TPM at tcti ("device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321").
 * qualifying: 1..POSTURE_QUOTE_NONCE_MAX bytes (normally the 32-byte binding); pcr_mask: the
 * SHA-256 PCRs to quote (nonzero, PCR 0..23). Sends TPM2_Startup(CLEAR) when the TPM is not
 * started yet. Returns 0, -EINVAL, -ENOMEM, -ENODEV (no TCTI/TPM), -EAGAIN (the PCRs kept
 * changing between quote and read), -EIO (any other TPM error; the TSS2 code is logged at
 * debug). Free *ret with posture_tpm_evidence_free(). */
int posture_tpm_quote(const char *tcti,
                      const uint8_t *qualifying,
                      size_t qualifying_len,
                      uint32_t pcr_mask,
                      struct posture_tpm_evidence **ret);

struct posture_tpm_evidence *posture_tpm_evidence_free(struct posture_tpm_evidence *e);

/* NV indexes of EK certificates (TCG EK Credential Profile 2.x §2.2.1.5), in the order they are
 * tried: RSA 2048 and ECC P-256 (low range), then the high-range RSA 2048, ECC P-256, P-384. */
#define POSTURE_TPM_EK_CERT_INDEXES 0x01c00002u, 0x01c0000au, 0x01c00012u, 0x01c00014u, 0x01c00016u
#define POSTURE_TPM_EK_CERT_MAX     4096u

/* Read the first EK certificate present in NV (DER, at most POSTURE_TPM_EK_CERT_MAX bytes) into
 * *ret (the caller frees it). Returns 0, -ENOENT when the TPM holds none (some fTPMs and vTPMs),
 * -ENODEV, -EFBIG, -ENOMEM, -EIO. */
int posture_tpm_read_ek_cert(const char *tcti, uint8_t **ret, size_t *ret_len);
