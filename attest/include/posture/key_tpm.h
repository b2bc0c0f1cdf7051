/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The TPM-resident device key (DESIGN.md §7): an ECDSA P-256 signing key created inside the
 * TPM through the tpm2-openssl provider. state_dir/device.key then holds the provider's
 * "-----BEGIN TSS2 PRIVATE KEY-----" PEM (the TCG key file: the key's public area and its
 * private area wrapped by the TPM's storage hierarchy, so only that TPM can load it), mode 0600,
 * created atomically and never clobbered, like the file key. The EVP_PKEY it gives works with
 * posture_jws_sign() and posture_key_jwk()/_thumbprint()/_public_pem() unchanged.
 * Part of posture_attest_tpm: the agent only.
 *
 * Library context: each key gets its own OSSL_LIB_CTX holding the "tpm2" and "default"
 * providers, so the rest of the process (the default context, the verifier code, TLS) never
 * sees the TPM provider. The key owns that context (posture_key_attach_libctx()): freeing the
 * key's last reference (EVP_PKEY_free) flushes the TPM object, unloads the providers (which
 * closes the TCTI) and frees the context. Nothing else is kept; there is no teardown call.
 *
 * The TCTI: tpm2-openssl reads it in its OSSL_provider_init() from the TPM2OPENSSL_TCTI
 * environment variable, else from the provider's "tcti" configuration parameter. Debian 12's
 * tpm2-openssl 1.1.1 hands OpenSSL the parameter's value where its address belongs, so the
 * configuration route never takes effect (tpm2-openssl issue #107), and OpenSSL 3.0 has no
 * call that sets a provider parameter (OSSL_PROVIDER_add_conf_parameter() and
 * OSSL_PROVIDER_load_ex() came after 3.0).
 * The environment is therefore the only way: posture_key_tpm_load_file() and _create_file()
 * set TPM2OPENSSL_TCTI just around OSSL_PROVIDER_load() and restore the previous value (or its
 * absence) right after. setenv() is not thread-safe: call these before any thread starts (the
 * agent opens its key at start-up; posturectl is single-threaded).
 *
 * TSS2 logs its own errors on stderr (TSS2_LOG decides); ours are returned as -errno.
 */

#include <stdbool.h>

#include <openssl/evp.h>

#include "posture/key.h"

#define POSTURE_KEY_TPM_PROVIDER "tpm2"
#define POSTURE_KEY_TPM_PROPQ    "?provider=tpm2" /* prefer the TPM's ECDSA for the key */
#define POSTURE_KEY_TPM_TCTI_ENV "TPM2OPENSSL_TCTI"

/*
 * Whether tcti may reach a TPM without trying it: a "device" TCTI whose device node exists (a
 * character device; "device" alone means /dev/tpmrm0 or /dev/tpm0), or any other non-empty
 * TCTI (swtpm, mssim, tabrmd… are only known by connecting). NULL or "" is false. Used for
 * [tpm] enabled = auto.
 */
bool posture_key_tpm_tcti_usable(const char *tcti);

/*
 * The key source for [tpm] enabled = tpm_mode (enum posture_tpm_mode), given the existing
 * device.key's source (POSTURE_KEY_SOURCE_FILE or _TPM from posture_key_file_source(), or
 * -ENOENT when there is none yet) and posture_key_tpm_tcti_usable(). A key never changes
 * silently: an existing key decides (a file key stays a file key whatever the mode; a TPM key
 * stays a TPM key, an error later if its TPM is gone). Without a key: no → file, yes → TPM,
 * auto → TPM when tcti_usable, else file.
 * Returns the source, -EMEDIUMTYPE for a TPM key with enabled = no (the TPM is not to be used
 * and the key cannot be replaced silently), -EINVAL for a bad argument.
 */
int posture_key_tpm_select(int tpm_mode, int existing, bool tcti_usable);

/*
 * Load the TSS2 key file path into the TPM at tcti. The file gets posture_key_read_file()'s
 * strict checks first. Errors: those of posture_key_read_file(), -EMEDIUMTYPE (a PEM key of
 * the file source), -EBADMSG (not a key at all), -ENOPKG (the tpm2 provider is not installed),
 * -ENODEV (the TPM cannot be reached through tcti), -ENOKEY (the TPM refuses the key: made by
 * another TPM, or its storage hierarchy was cleared), -EKEYREJECTED (not P-256), -ENOMEM.
 */
int posture_key_tpm_load_file(const char *path, const char *tcti, EVP_PKEY **ret);

/*
 * Create a P-256 signing key in the TPM at tcti (under the owner hierarchy's default primary
 * key, which the provider derives again on every load) and store it as dir_fd/name (TSS2 PEM,
 * mode 0600, atomically, never clobbering: -EEXIST when name exists). Errors: -EEXIST, -ENOPKG,
 * -ENODEV, -EIO (the TPM or provider failed), -ENOMEM, those of posture_state_write_atomic().
 */
int posture_key_tpm_create_file(int dir_fd, const char *name, const char *tcti, EVP_PKEY **ret);

/*
 * posture_key_opts.tpm_open for posture_key_open(): load opts->state_dir/device.key with
 * opts->tcti, or when it is missing and opts->create, create it (if another process created it
 * meanwhile, that key is loaded). Errors: those of the two functions, -ENOENT when missing and
 * !create, -EINVAL.
 */
int posture_key_tpm_open(const struct posture_key_opts *opts, EVP_PKEY **ret);
