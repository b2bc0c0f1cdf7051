/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * What enrolment needs from the TPM (ATTESTATION.md §4.2 steps 2 and 4, §5.2; DESIGN.md §8
 * POST /v1/enroll and /v1/enroll/activate): the EK certificate, the EK public area matching it,
 * the AK public area (the same AK as posture_tpm_quote(): an ECC P-256 restricted signing
 * primary in the endorsement hierarchy), and TPM2_ActivateCredential of the verifier's
 * credential challenge.
 *
 * The EK: the first EK certificate in NV (posture_tpm_read_ek_cert()), then the persistent EK
 * whose public key is the certificate's (0x81010001 RSA, 0x81010002 ECC P-256, 0x81010016 the
 * ECC P-384 EK of swtpm), else a primary made with the TCG default template for the
 * certificate's key type (EK Credential Profile 2.x templates L-1 RSA 2048 and L-2 ECC P-256).
 * The EK public area is always compared with the certificate's SubjectPublicKeyInfo before use.
 *
 * ActivateCredential: the AK is the activateHandle (password, empty auth), the EK the keyHandle,
 * authorised by a policy session with TPM2_PolicySecret(TPM_RH_ENDORSEMENT) (low-range EKs), or
 * by a password session when the EK has userWithAuth (high-range EKs such as swtpm's P-384).
 * Every handle and session is flushed and the context closed on every path.
 *
 * Part of posture_attest_tpm (ESAPI): the agent only. Errors are negative errno; TSS2 codes are
 * logged at debug.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posture/cleanup.h"

#define POSTURE_TPM_PUBLIC_MAX      1024u /* a marshalled TPM2B_PUBLIC we send (verifier bound) */
#define POSTURE_TPM_CREDENTIAL_MAX  1024u /* credential_blob / encrypted_secret */
#define POSTURE_TPM_SECRET_MAX      64u   /* the activated secret (TPM2B_DIGEST) */
#define POSTURE_TPM_ENROLL_PROOF_SZ 32u   /* HMAC-SHA256 */
#define POSTURE_TPM_ENROLL_LABEL    "POSTURE-ENROLL-V1"

/* The persistent EK handles tried, in order (TCG Provisioning Guidance; swtpm's P-384). */
#define POSTURE_TPM_EK_HANDLES 0x81010001u, 0x81010002u, 0x81010016u

struct posture_tpm_enroll_material {
    uint8_t *ek_cert; /* DER */
    size_t ek_cert_len;
    uint8_t *ek_public; /* marshalled TPM2B_PUBLIC; its key is the certificate's */
    size_t ek_public_len;
    uint8_t *ak_public; /* marshalled TPM2B_PUBLIC of the AK */
    size_t ak_public_len;
    uint32_t ek_handle; /* the persistent handle the EK came from, 0 when made as a primary */
};

/*
 * Collect the enrolment material of the TPM at tcti. Returns 0, -ENODEV (no TCTI/TPM), -ENOENT
 * (no EK certificate in NV: this TPM cannot enrol at the hardware tier), -EKEYREJECTED (no EK
 * in the TPM matches the certificate), -EOPNOTSUPP (a certificate key type without a default
 * template and no persistent EK), -EBADMSG (the certificate does not parse), -ENOMEM, -EIO.
 * Free *ret with posture_tpm_enroll_material_free().
 */
int posture_tpm_enroll_material(const char *tcti, struct posture_tpm_enroll_material **ret);
struct posture_tpm_enroll_material *
posture_tpm_enroll_material_free(struct posture_tpm_enroll_material *m);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_tpm_enroll_material *,
                                    posture_tpm_enroll_material_free)
#define posture_auto_tpm_enroll_material POSTURE_CLEANUP(posture_tpm_enroll_material_freep)

/*
 * Pure (no TPM): 0 when ek_public (a marshalled TPM2B_PUBLIC, exact length) holds the public
 * key of the certificate cert (DER): same algorithm, RSA modulus and exponent (0 means 65537),
 * or EC curve and point. -EKEYREJECTED when they differ, -EBADMSG when either does not parse,
 * -EOPNOTSUPP for a key type other than RSA and ECC (P-256, P-384, P-521), -EINVAL.
 */
int posture_tpm_ek_public_matches_cert(const uint8_t *ek_public,
                                       size_t ek_public_len,
                                       const uint8_t *cert,
                                       size_t cert_len);

/*
 * Pure: the marshalled TCG default EK template (EK Credential Profile L-1 RSA 2048 when rsa,
 * else L-2 ECC P-256), as used for TPM2_CreatePrimary when no persistent EK exists. Writes at
 * most buf_size bytes; *ret_len gets the length. -ENOBUFS, -EINVAL.
 */
int posture_tpm_ek_template(bool rsa, uint8_t *buf, size_t buf_size, size_t *ret_len);

/*
 * TPM2_ActivateCredential with the AK and the EK whose marshalled public area is ek_public (the
 * one sent at enrolment; the EK is found again as posture_tpm_enroll_material() does and must
 * be byte-identical). credential_blob is a marshalled TPM2B_ID_OBJECT, encrypted_secret a
 * marshalled TPM2B_ENCRYPTED_SECRET (both exact, as the verifier sends them). The secret goes
 * to ret_secret (room for POSTURE_TPM_SECRET_MAX bytes) and its length to *ret_secret_len; the
 * caller wipes it. Returns 0, -ENODEV, -EBADMSG (a blob does not unmarshal exactly),
 * -EKEYREJECTED (the TPM's EK is not ek_public), -EACCES (the TPM refused the credential: made
 * for another EK or AK name, TPM_RC_INTEGRITY and friends), -ENOMEM, -EIO.
 */
int posture_tpm_activate_credential(const char *tcti,
                                    const uint8_t *ek_public,
                                    size_t ek_public_len,
                                    const uint8_t *credential_blob,
                                    size_t credential_blob_len,
                                    const uint8_t *encrypted_secret,
                                    size_t encrypted_secret_len,
                                    uint8_t ret_secret[POSTURE_TPM_SECRET_MAX],
                                    size_t *ret_secret_len);

/*
 * Pure: the activation proof of DESIGN.md §8 / ATTESTATION.md §5.2,
 *     HMAC-SHA256(secret, "POSTURE-ENROLL-V1" || device_id || nonce0)
 * with device_id as its ASCII characters and nonce0 as raw bytes. -EINVAL, -EIO.
 */
int posture_tpm_enroll_proof(const uint8_t *secret,
                             size_t secret_len,
                             const char *device_id,
                             const uint8_t *nonce0,
                             size_t nonce0_len,
                             uint8_t ret[POSTURE_TPM_ENROLL_PROOF_SZ]);
