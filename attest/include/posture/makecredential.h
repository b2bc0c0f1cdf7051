/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * TPM2_MakeCredential in software (ATTESTATION.md §5.2 step 4; TPM 2.0 Part 1 "Credential
 * Protection"), so the verifier can run enrolment without a TPM: wraps a secret for the EK so
 * that only TPM2_ActivateCredential with that EK and the object named ak_name recovers it.
 * RSA EKs (seed RSA-OAEP, label "IDENTITY") and ECC EKs (seed by ECDH + KDFe), nameAlg
 * SHA-256/384/512, AES-CFB of the EK's symmetric key size.
 */

#include <stddef.h>
#include <stdint.h>

struct posture_credential {
    uint8_t *id_object; /* marshalled TPM2B_ID_OBJECT (credentialBlob) */
    size_t id_object_len;
    uint8_t *encrypted_secret; /* marshalled TPM2B_ENCRYPTED_SECRET */
    size_t encrypted_secret_len;
};

/* ek_public: the EK's marshalled TPM2B_PUBLIC (exact). ak_name: the AK's name as computed by
 * the verifier (nameAlg || digest, at most 66 bytes). secret: 1..64 bytes.
 * Returns 0, -EBADMSG (malformed EK), -EOPNOTSUPP (an EK kind we do not handle), -EINVAL,
 * -ENOMEM or -EIO. Free *ret with posture_credential_free(). */
int posture_makecredential(const uint8_t *ek_public,
                           size_t ek_public_len,
                           const uint8_t *ak_name,
                           size_t ak_name_len,
                           const uint8_t *secret,
                           size_t secret_len,
                           struct posture_credential **ret);

struct posture_credential *posture_credential_free(struct posture_credential *c);
