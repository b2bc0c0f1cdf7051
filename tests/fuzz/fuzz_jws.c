/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_jws_verify on arbitrary input with a fixed P-256 key, a fixed clock and the report
 * options. Any input may be refused, but only as -EBADMSG with a reason code in range (or
 * -ENOMEM); an accepted token must carry alg ES256, the expected typ and kid, a payload object
 * and the exact payload bytes. A broken invariant aborts, which is how the fuzzer reports it.
 * The seed corpus holds tokens signed with this key (tests/fuzz/corpus/jws/README).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "posture/jws.h"
#include "posture/key.h"

#define FUZZ_NOW 1795620700

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A test key, used nowhere else. */
static const char key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRYWMAJjpEy3jci8E\n"
                              "tP4Tm0pHbGk4Qk5imlRaPUw+Lc6hRANCAATxeLLjgVAD8VUozYB266xxDpvgTduN\n"
                              "OWxpFaypPphyvAe8y0Wgeg9wPmTYo0OjNcZ0NNQBDSo1lV5LkwQ8I5wF\n"
                              "-----END PRIVATE KEY-----\n";

static EVP_PKEY *fuzz_key(void)
{
    static EVP_PKEY *key;

    if (!key) {
        BIO *bio = BIO_new_mem_buf(key_pem, (int) sizeof(key_pem) - 1);
        if (!bio)
            abort();
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!key || posture_key_check_p256(key) < 0)
            abort();
    }
    return key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct posture_jws_verify_opts opts = {
        .typ = POSTURE_JWS_TYP_REPORT,
        .now = FUZZ_NOW,
        .max_lifetime_sec = POSTURE_REPORT_LIFETIME_SEC,
    };
    struct posture_jws *jws = NULL;
    int reason = -1;
    int r;

    r = posture_jws_verify((const char *) data, size, fuzz_key(), &opts, &reason, &jws);
    if (r == -ENOMEM)
        return 0;
    if (r == -EBADMSG) {
        if (jws || reason <= POSTURE_JWS_OK || reason >= POSTURE_JWS_REASON__MAX ||
            !posture_jws_reason_to_string(reason))
            abort();
        return 0;
    }
    if (r != 0 || !jws || reason != POSTURE_JWS_OK || size > POSTURE_JWS_MAX_SIZE)
        abort();

    const char *alg = posture_json_get_str(jws->header, "alg");
    const char *typ = posture_json_get_str(jws->header, "typ");
    if (!alg || strcmp(alg, "ES256") != 0 || !typ || strcmp(typ, opts.typ) != 0 ||
        !posture_json_get_str(jws->header, "kid") || !cJSON_IsObject(jws->payload) ||
        !jws->payload_raw || jws->payload_raw[jws->payload_len] != '\0')
        abort();
    posture_jws_free(jws);
    return 0;
}
