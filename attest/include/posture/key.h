/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The device key (DESIGN.md §7): an ECDSA P-256 key that signs the posture reports. It is
 * either a PEM file in the agent's state directory (mode 0600, created atomically on first use)
 * or a TPM-resident key (the tpm2-openssl provider; its TSS2 PRIVATE KEY file, a blob only that
 * TPM can load, sits in the same place). Both come from posture_key_open(); everything else
 * sees an EVP_PKEY and never the source. The TPM source lives in posture_attest_tpm
 * (posture/key_tpm.h), which the verifier does not link: the agent hands its opener in
 * posture_key_opts.tpm_open, so this library keeps no dependency on ESAPI or the provider.
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
    POSTURE_KEY_SOURCE_TPM,  /* TPM-resident through tpm2-openssl: TSS2 PRIVATE KEY file */
    POSTURE_KEY_SOURCE__MAX,
    POSTURE_KEY_SOURCE__INVALID = -EINVAL,
};

const char *posture_key_source_to_string(int source);
int posture_key_source_from_string(const char *s);

struct posture_key_opts;

/* Opens the TPM source for posture_key_open() (posture_key_tpm_open() in posture/key_tpm.h). */
typedef int (*posture_key_tpm_open_fn)(const struct posture_key_opts *opts, EVP_PKEY **ret);

struct posture_key_opts {
    int source;            /* enum posture_key_source */
    const char *state_dir; /* absolute; holds POSTURE_DEVICE_KEY_NAME */
    bool create;           /* create the key (and state_dir's last component) when missing */
    const char *tcti;      /* TPM source: the TCTI ("device:/dev/tpmrm0", "swtpm:port=2321") */
    posture_key_tpm_open_fn tpm_open; /* TPM source: its opener; NULL gives -EOPNOTSUPP */
};

/*
 * The one place that turns a key source into an EVP_PKEY (the caller frees it). For
 * POSTURE_KEY_SOURCE_FILE: load state_dir/device.key with posture_key_load_file(), or when it
 * is missing and create is set, make it with posture_key_create_file() (if another process
 * created it meanwhile, that key is loaded). For POSTURE_KEY_SOURCE_TPM: opts->tpm_open(opts).
 * The source is never switched here: a device.key of the other kind is -EMEDIUMTYPE (choosing
 * the source from an existing key is the caller's job, see posture_key_file_source()).
 * Errors: those of the functions named, -ENOENT when missing and !create, -EOPNOTSUPP for
 * POSTURE_KEY_SOURCE_TPM without tpm_open, -EINVAL.
 */
int posture_key_open(const struct posture_key_opts *opts, EVP_PKEY **ret);

/*
 * The source a PEM private key was made for, from its first "-----BEGIN <label>-----" line:
 * POSTURE_KEY_SOURCE_TPM for "TSS2 PRIVATE KEY" (the tpm2-openssl / TCG key file format),
 * POSTURE_KEY_SOURCE_FILE for "PRIVATE KEY" and "EC PRIVATE KEY"; -EBADMSG for anything else
 * (no BEGIN line, another label, an encrypted key). buf need not be NUL-terminated; at most
 * POSTURE_KEY_FILE_MAX_SIZE bytes are looked at.
 */
int posture_key_pem_source(const void *buf, size_t len);

/*
 * Read a key file with the strict checks of posture_key_load_file() (no symlink, a regular
 * file, owner, mode, size) into *ret_buf (NUL-terminated, *ret_len bytes without the NUL). The
 * caller wipes and frees it with posture_key_buf_free(). Errors as posture_key_load_file()'s
 * file checks: -ENOENT, -ELOOP, -EINVAL, -EPERM, -EACCES, -EFBIG, -ENOMEM.
 */
int posture_key_read_file(const char *path, char **ret_buf, size_t *ret_len);
void posture_key_buf_free(char *buf, size_t len);

/* The source of the existing key file path (posture_key_read_file() + posture_key_pem_source()):
 * POSTURE_KEY_SOURCE_FILE or _TPM, or the errors of both (-ENOENT when there is no key yet). */
int posture_key_file_source(const char *path);

/*
 * Provider keys (the TPM key) live in their own OSSL_LIB_CTX, which must outlive them and be
 * used (with a property query picking the provider) for every operation with the private key.
 * posture_key_attach_libctx() hands libctx and the n_providers (at most
 * POSTURE_KEY_MAX_PROVIDERS) providers loaded into it to pkey: when the key's last reference
 * goes (EVP_PKEY_free; EVP_PKEY_dup shares them), right after the key's own data, the providers
 * are unloaded in reverse order and libctx is freed. propq (may be NULL) is copied. On error
 * nothing is taken. -ENOMEM, -EEXIST (already attached), -EINVAL.
 *
 * posture_key_libctx() / posture_key_propq() give them back (NULL, NULL for ordinary keys,
 * which means the default context) for EVP_PKEY_CTX_new_from_pkey() and the like; they are
 * borrowed from the key.
 */
#define POSTURE_KEY_MAX_PROVIDERS 4
int posture_key_attach_libctx(EVP_PKEY *pkey,
                              OSSL_LIB_CTX *libctx,
                              OSSL_PROVIDER *const *providers,
                              size_t n_providers,
                              const char *propq);
OSSL_LIB_CTX *posture_key_libctx(const EVP_PKEY *pkey);
const char *posture_key_propq(const EVP_PKEY *pkey);

/*
 * Load a private key file with strict checks: no symlink, a regular file, owned by the
 * effective uid (or root), not readable or writable by group or others, at most
 * POSTURE_KEY_FILE_MAX_SIZE bytes, unencrypted PEM, EC P-256. Errors: -ENOENT, -ELOOP (a
 * symlink), -EINVAL (not a regular file), -EPERM (wrong owner), -EACCES (mode allows group or
 * others), -EFBIG, -EBADMSG (not a PEM private key), -EMEDIUMTYPE (a TSS2 PRIVATE KEY: the
 * TPM source's), -EKEYREJECTED (not P-256), -ENOMEM.
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
