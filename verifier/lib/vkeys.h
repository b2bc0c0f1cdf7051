/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The verifier's own keys (DESIGN.md §5, §8), kept in its state directory:
 *     signing.key     ES256 key that signs EARs (PEM PKCS#8, 0600); kid = RFC 7638 thumbprint
 *     device-ca.key   the device CA's P-256 key (PEM PKCS#8, 0600)
 *     device-ca.pem   the device CA's self-signed certificate (PEM, 0600)
 * Each file is created on first start, atomically and never clobbered: when two processes
 * start at once, the loser loads the winner's file (posture/statefile.h). A missing state
 * directory is created with mode 0700 (its parent must exist).
 *
 * The device CA issues the devices' client certificates (URI SAN
 * spiffe://<trust-domain>/device/<kid>) that gateways check; see posture_vkeys_issue().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define POSTURE_VKEYS_SIGNING_KEY_NAME "signing.key"
#define POSTURE_VKEYS_CA_KEY_NAME      "device-ca.key"
#define POSTURE_VKEYS_CA_CERT_NAME     "device-ca.pem"

#define POSTURE_VKEYS_TRUST_DOMAIN_MAX  255
#define POSTURE_VKEYS_CA_VALIDITY_SEC   ((int64_t) 10 * 365 * 24 * 3600) /* ten years */
#define POSTURE_VKEYS_CERT_VALIDITY_SEC ((int64_t) 90 * 24 * 3600)       /* default: 90 days */
#define POSTURE_VKEYS_CERT_VALIDITY_MAX ((int64_t) 5 * 365 * 24 * 3600)
#define POSTURE_VKEYS_CERT_BACKDATE_SEC 300 /* notBefore = now - 5 min (clock skew) */
#define POSTURE_VKEYS_CERT_PEM_MAX      ((size_t) 16 * 1024)
#define POSTURE_VKEYS_X5T_LEN           43 /* base64url of SHA-256 */

struct posture_vkeys {
    char *trust_domain;
    EVP_PKEY *signing_key; /* private */
    char *signing_kid;     /* RFC 7638 thumbprint of signing_key */
    EVP_PKEY *ca_key;      /* private */
    X509 *ca_cert;
    char *ca_pem; /* ca_cert as PEM text */
};

/*
 * A trust domain as SPIFFE allows it (and as our URI SAN needs it): 1..255 characters of
 * [a-z0-9._-]. Returns true when valid.
 */
bool posture_vkeys_trust_domain_valid(const char *trust_domain);

/*
 * Load the verifier's keys from state_dir (absolute), creating every missing one when create
 * is set. A CA certificate that does not belong to the CA key is -EKEYREJECTED (never replaced
 * silently). The trust domain names a new CA ("posture device CA <trust_domain>") and goes into
 * every device certificate. Errors: -EINVAL (bad arguments or trust domain), -ENOENT (missing
 * and !create), the errors of posture_key_load_file() for the key files, -EBADMSG (a corrupt
 * certificate), -EKEYREJECTED, -EIO (OpenSSL), -ENOMEM. Free with posture_vkeys_free().
 */
int posture_vkeys_open(const char *state_dir,
                       const char *trust_domain,
                       bool create,
                       struct posture_vkeys **ret_keys);
struct posture_vkeys *posture_vkeys_free(struct posture_vkeys *k);

/*
 * The JWKS document for /.well-known/jwks.json: {"keys":[{kty,crv,x,y,kid,alg,use}, …]} with
 * one entry per key of keys (n ≥ 1, each a P-256 key; during a key rotation the old and the new
 * signing key are listed together), compact JSON, NUL-terminated; the caller frees *ret.
 * -EINVAL, -EKEYREJECTED (not P-256), -ENOMEM.
 */
int posture_vkeys_jwks_build(EVP_PKEY *const *keys, size_t n, char **ret);
/* The JWKS of the current signing key. */
int posture_vkeys_jwks(const struct posture_vkeys *k, char **ret);

/* Options of a device certificate; a zeroed struct gives the defaults. */
struct posture_vkeys_cert_opts {
    int64_t now;          /* epoch seconds; 0: time(NULL) */
    int64_t validity_sec; /* 0: POSTURE_VKEYS_CERT_VALIDITY_SEC; at most _CERT_VALIDITY_MAX */
};

/*
 * Issue a device certificate: X.509 v3, signed by the device CA (ECDSA SHA-256), serial 128
 * random bits, subject CN=<kid>, URI SAN spiffe://<trust-domain>/device/<kid>, basicConstraints
 * CA:FALSE and keyUsage digitalSignature (both critical), extendedKeyUsage clientAuth,
 * subject and authority key identifiers, notBefore = now - 5 min, notAfter = now + validity.
 * device_key: the device's public key (P-256); kid: its RFC 7638 thumbprint (43 base64url
 * characters; the caller has computed it from device_key). ret_pem: the certificate as PEM
 * (caller frees); ret_x5t (optional): base64url SHA-256 of its DER (the EAR's cnf x5t#S256),
 * POSTURE_VKEYS_X5T_LEN characters + NUL. Errors: -EINVAL, -EKEYREJECTED, -ERANGE (validity),
 * -EIO (OpenSSL), -ENOMEM.
 */
int posture_vkeys_issue(const struct posture_vkeys *k,
                        EVP_PKEY *device_key,
                        const char *kid,
                        const struct posture_vkeys_cert_opts *opts,
                        char **ret_pem,
                        char ret_x5t[POSTURE_VKEYS_X5T_LEN + 1]);

/* base64url(SHA-256(DER of cert)) into ret (x5t#S256, RFC 8705 §3.1). -EIO, -EINVAL. */
int posture_vkeys_x5t_s256(X509 *cert, char ret[POSTURE_VKEYS_X5T_LEN + 1]);
