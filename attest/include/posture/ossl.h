/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * OpenSSL at our boundary (STYLE.md G3): cleanup functions for its objects, for use with
 * POSTURE_CLEANUP(<Type>_freep), and its error queue moved into the debug log.
 */

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "posture/cleanup.h"

POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_CIPHER_CTX *, EVP_CIPHER_CTX_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY_CTX *, EVP_PKEY_CTX_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_DECODER_CTX *, OSSL_DECODER_CTX_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_ENCODER_CTX *, OSSL_ENCODER_CTX_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM *, OSSL_PARAM_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_PARAM_BLD *, OSSL_PARAM_BLD_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free)

/* Empty OpenSSL's error queue of this thread into the debug log, each line prefixed with what
 * (the operation or input that failed). */
void posture_ossl_drain(const char *what);
