/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The device key (DESIGN.md §7): an ECDSA P-256 key that signs the posture reports. Today it is
 * a PEM file in the agent's state directory (mode 0600, created atomically on first use); the
 * TPM-resident key (tpm2-openssl provider) will be a second key source behind the same
 * posture_key_open(). Everything else sees an EVP_PKEY and never the source.
 *
 * The device id is the key's RFC 7638 JWK thumbprint (base64url SHA-256), used as `kid` in the
 * JWS header and as `sub` in the report.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "posture/cleanup.h"
#include "posture/json.h"

#ifndef posture_auto_evp_pkey
static inline void posture_evp_pkey_freep(EVP_PKEY **p)
{
    if (*p)
        EVP_PKEY_free(*p);
}
#define posture_auto_evp_pkey POSTURE_CLEANUP(posture_evp_pkey_freep)
#endif

#define POSTURE_DEVICE_KEY_NAME    "device.key" /* in state_dir (DESIGN.md §5) */
#define POSTURE_KEY_FILE_MAX_SIZE  ((size_t) 16 * 1024)
#define POSTURE_KEY_THUMBPRINT_LEN 43 /* base64url of 32 bytes */

enum posture_key_source {
    POSTURE_KEY_SOURCE_FILE, /* PEM PKCS#8 file, state_dir/device.key, mode 0600 */
    POSTURE_KEY_SOURCE_TPM,  /* TPM-resident through tpm2-openssl: not implemented yet */
    POSTURE_KEY_SOURCE__MAX,
    POSTURE_KEY_SOURCE__INVALID = -EINVAL,
};

const char *posture_key_source_to_string(int source);
int posture_key_source_from_string(const char *s);

struct posture_key_opts {
    int source;            /* enum posture_key_source */
    const char *state_dir; /* absolute; holds POSTURE_DEVICE_KEY_NAME */
    bool create;           /* create the key (and state_dir's last component) when missing */
};

/*
 * The one place that turns a key source into an EVP_PKEY (the caller frees it). For
 * POSTURE_KEY_SOURCE_FILE: load state_dir/device.key with posture_key_load_file(), or when it
 * is missing and create is set, make it with posture_key_create_file() (if another process
 * created it meanwhile, that key is loaded). Errors: those of the two functions, -ENOENT when
 * missing and !create, -EOPNOTSUPP for POSTURE_KEY_SOURCE_TPM (not yet), -EINVAL.
 */
int posture_key_open(const struct posture_key_opts *opts, EVP_PKEY **ret);

/*
 * Load a private key file with strict checks: no symlink, a regular file, owned by the
 * effective uid (or root), not readable or writable by group or others, at most
 * POSTURE_KEY_FILE_MAX_SIZE bytes, unencrypted PEM, EC P-256. Errors: -ENOENT, -ELOOP (a
 * symlink), -EINVAL (not a regular file), -EPERM (wrong owner), -EACCES (mode allows group or
 * others), -EFBIG, -EBADMSG (not a PEM private key), -EKEYREJECTED (not P-256), -ENOMEM.
 * The file bytes are wiped after parsing.
 */
int posture_key_load_file(const char *path, EVP_PKEY **ret);

/*
 * Generate a P-256 key and store it as dir_fd/name (PEM PKCS#8, mode 0600 whatever the umask,
 * atomically, never clobbering: -EEXIST when the name exists). Errors: -EEXIST, -EIO (OpenSSL),
 * and those of posture_state_write_atomic().
 */
int posture_key_create_file(int dir_fd, const char *name, EVP_PKEY **ret);

/* 0 when pkey is an EC key on P-256 (prime256v1), -EKEYREJECTED otherwise. */
int posture_key_check_p256(const EVP_PKEY *pkey);

/* The 32-byte big-endian affine coordinates of a P-256 public key. -EKEYREJECTED. */
int posture_key_public_xy(const EVP_PKEY *pkey, uint8_t x[32], uint8_t y[32]);

/* The public JWK {"kty":"EC","crv":"P-256","x":…,"y":…} (x, y base64url, 32 bytes each) as a
 * new cJSON object (caller frees). -EKEYREJECTED, -ENOMEM. */
int posture_key_jwk(const EVP_PKEY *pkey, cJSON **ret);

/* The RFC 7638 thumbprint: base64url(SHA-256('{"crv":"P-256","kty":"EC","x":"…","y":"…"}')),
 * POSTURE_KEY_THUMBPRINT_LEN characters; the caller frees *ret. -EKEYREJECTED, -ENOMEM. */
int posture_key_thumbprint(const EVP_PKEY *pkey, char **ret);

/* The same, as raw 32 bytes. */
int posture_key_thumbprint_raw(const EVP_PKEY *pkey, uint8_t ret[32]);

/* The public key as PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"); caller frees. */
int posture_key_public_pem(const EVP_PKEY *pkey, char **ret);

/*
 * A public key from a JWK object (the verifier's enrolment record, `--jwk FILE`): exactly kty
 * "EC", crv "P-256", x and y strict base64url of 32 bytes each, the point on the curve. Other
 * members are ignored except "d" (a private key has no business here: -EINVAL). Errors:
 * -EBADMSG (malformed), -EKEYREJECTED (other key type/curve, point not on the curve), -ENOMEM.
 */
int posture_key_from_jwk(const cJSON *jwk, EVP_PKEY **ret);
