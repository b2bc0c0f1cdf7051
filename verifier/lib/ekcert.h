/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * EK certificate validation at enrolment (ATTESTATION.md §5.2 step 2, §6 row 12).
 *
 * The trust store is a directory of certificates ([enroll] ek_roots): every regular file in it
 * (dot files skipped) holds one or more PEM certificates, or one DER certificate. Self-signed
 * certificates become trust anchors; the others are intermediates, usable to build a chain but
 * never trusted by themselves (X509_V_FLAG_PARTIAL_CHAIN stays off: a chain must end at a
 * self-signed root of the directory). Vendor intermediates may also come from a bundle file.
 *
 * Chain rules: OpenSSL's, at the caller's time, purpose "any" (EK certificates carry the TCG
 * EKU 2.23.133.8.1, not a TLS one), no partial chains. Unhandled critical extensions: OpenSSL
 * reports X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION for a critical extension it does not
 * implement. TCG EK certificates may mark subjectDirectoryAttributes (2.5.29.9, which holds the
 * TPM specification and security assertions) critical. That one extension is tolerated, on the
 * EK certificate itself (depth 0) only; any other unhandled critical extension, and any
 * unhandled critical extension on a CA certificate, fails the chain
 * (POSTURE_EKCERT_CRITICAL_EXTENSION). This is safe because subjectDirectoryAttributes is
 * descriptive: it constrains neither path building nor key use, and we draw nothing from it;
 * every extension that does constrain a chain (basicConstraints, keyUsage, extendedKeyUsage,
 * nameConstraints, policy constraints) is implemented by OpenSSL and so is never "unhandled".
 * The critical subjectAltName (directoryName with the TPM manufacturer/model/version OIDs
 * 2.23.133.2.1-3) is a handled extension and needs no exception.
 *
 * Then the EK public key the device presents (its marshalled TPM2B_PUBLIC, unmarshalled
 * strictly with tss2-mu: exact size, no trailing bytes) must be the certificate's key: RSA
 * 2048 (modulus and exponent equal) or ECC NIST P-256/P-384 (the point equal), and a storage
 * key's template (restricted, decrypt, not sign, fixedTPM, fixedParent, sensitiveDataOrigin).
 * Never trust an EK public key that does not match the certificate (CVE-2021-3406).
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define POSTURE_EKCERT_DER_MAX     ((size_t) 8 * 1024) /* one EK certificate */
#define POSTURE_EKCERT_FILE_MAX    ((size_t) 1024 * 1024)
#define POSTURE_EKCERT_ROOTS_MAX   4096 /* certificates in the trust directory and bundle */
#define POSTURE_EKCERT_PUBLIC_MAX  1024 /* marshalled TPM2B_PUBLIC */
#define POSTURE_EKCERT_SHA256_SIZE 32

enum posture_ekcert_reason {
    POSTURE_EKCERT_OK,                 /* "ok" */
    POSTURE_EKCERT_MALFORMED,          /* "ek-cert-malformed": not one DER certificate */
    POSTURE_EKCERT_PUBLIC_MALFORMED,   /* "ek-public-malformed": TPM2B_PUBLIC does not parse */
    POSTURE_EKCERT_UNSUPPORTED_KEY,    /* "ek-key-unsupported": not RSA 2048, P-256, P-384 */
    POSTURE_EKCERT_UNTRUSTED,          /* "ek-cert-untrusted": no chain to a trusted root */
    POSTURE_EKCERT_EXPIRED,            /* "ek-cert-expired": a chain cert expired/not yet valid */
    POSTURE_EKCERT_CRITICAL_EXTENSION, /* "ek-cert-critical-extension": unhandled, not allowed */
    POSTURE_EKCERT_KEY_MISMATCH,       /* "ek-key-mismatch": EK public != certificate key */
    POSTURE_EKCERT_ATTRIBUTES,         /* "ek-public-attributes": not an EK's template */
    POSTURE_EKCERT_REASON__MAX,
    POSTURE_EKCERT_REASON__INVALID = -EINVAL,
};

/* The reason's stable string, or NULL when out of range. */
const char *posture_ekcert_reason_to_string(int reason);

struct posture_ekcert_roots;

/*
 * Load the trust directory dir and, when bundle is not NULL, a PEM file of intermediates.
 * An empty directory is allowed (every chain then fails as untrusted). Errors: -ENOENT,
 * -ENOTDIR, -EACCES (from opening), -EBADMSG (a file in the directory or the bundle that holds
 * no certificate, or a broken PEM block), -EFBIG (a file above POSTURE_EKCERT_FILE_MAX),
 * -E2BIG (more than POSTURE_EKCERT_ROOTS_MAX certificates), -ENOMEM, -EIO. The object is
 * read-only after loading and may be shared between threads.
 */
int posture_ekcert_roots_load(const char *dir,
                              const char *bundle,
                              struct posture_ekcert_roots **ret_roots);
struct posture_ekcert_roots *posture_ekcert_roots_free(struct posture_ekcert_roots *roots);
/* Number of trust anchors and of intermediates loaded. */
size_t posture_ekcert_roots_n_anchors(const struct posture_ekcert_roots *roots);
size_t posture_ekcert_roots_n_intermediates(const struct posture_ekcert_roots *roots);

/* What an accepted EK certificate tells. */
struct posture_ekcert_info {
    uint8_t cert_sha256[POSTURE_EKCERT_SHA256_SIZE]; /* SHA-256 of the certificate DER */
    uint8_t spki_sha256[POSTURE_EKCERT_SHA256_SIZE]; /* SHA-256 of its SubjectPublicKeyInfo DER */
};

/*
 * Validate an EK certificate (DER, cert_len ≤ POSTURE_EKCERT_DER_MAX) and the EK public key
 * presented with it (marshalled TPM2B_PUBLIC, ≤ POSTURE_EKCERT_PUBLIC_MAX) at time now (epoch
 * seconds). Checks, in order: the certificate parses (exactly cert_len bytes); the TPM2B_PUBLIC
 * parses; its key type is supported; the chain; the key equality; the EK template attributes.
 * Returns 0 with *ret_reason set (POSTURE_EKCERT_OK or the first failure); *ret_info (optional)
 * is written only when accepted. Negative errno when no verdict could be reached (-EINVAL,
 * -ENOMEM, -EIO).
 */
int posture_ekcert_verify(const struct posture_ekcert_roots *roots,
                          const uint8_t *cert_der,
                          size_t cert_len,
                          const uint8_t *ek_public,
                          size_t ek_public_len,
                          int64_t now,
                          enum posture_ekcert_reason *ret_reason,
                          struct posture_ekcert_info *ret_info);
