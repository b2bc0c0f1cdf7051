/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A provider-held private key (the TPM-resident device key of the tpm2-openssl provider, in
 * its own OSSL_LIB_CTX) made usable by a TLS stack that runs in the default library context
 * (libcurl's SSL_CTX). OpenSSL 3.0 cannot sign in one context with a key whose keymgmt lives
 * in another: it tries to export the key to the default provider, which a TPM key refuses
 * ("missing private key"). The wrapper is an EC key in the default context with the public
 * point of the provider key and an EC_KEY_METHOD whose signing calls EVP_PKEY_sign() on the
 * provider key in its own context: the TPM signs, the private key never leaves it.
 *
 * Ordinary keys (posture_key_libctx() is NULL) are returned as they are (a new reference).
 */

#include <openssl/types.h>

/* *ret: a new reference to use with SSL_CTX_use_PrivateKey(); it holds a reference to key.
 * -EKEYREJECTED (not P-256), -ENOMEM, -EIO. */
int posture_tls_key_wrap(EVP_PKEY *key, EVP_PKEY **ret);
