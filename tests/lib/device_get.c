/* SPDX-License-Identifier: Apache-2.0 */
/*
 * device_get BASE_URL PATH CA_FILE CERT_FILE KEY_FILE [TCTI]: GET BASE_URL PATH as the device,
 * with mutual TLS through the agent's own HTTP client (agent/client): the device certificate
 * and the device key, a file key or a TPM-resident key (the key file's PEM type decides; TCTI
 * for the TPM). This is how the gateway tests reach nginx as a device whose key never leaves the
 * TPM, which curl cannot use. Prints the status on the first line, then the body. Exit 0 on any
 * HTTP answer, 2 on a transport or key error (named on stderr).
 */

#include <stdio.h>
#include <string.h>

#include "posture/err.h"
#include "posture/key.h"
#include "posture/key_tpm.h"
#include "posture/ossl.h"

#include "http_client.h"

int main(int argc, char **argv)
{
    posture_auto_evp_pkey EVP_PKEY *key = NULL;
    posture_auto_http_client struct posture_http_client *c = NULL;
    struct posture_http_response resp = { 0 };
    const char *detail = NULL;
    int r;

    if (argc < 6 || argc > 7) {
        (void) fprintf(stderr,
                       "usage: device_get BASE_URL PATH CA_FILE CERT_FILE KEY_FILE [TCTI]\n");
        return 2;
    }
    if (posture_key_file_source(argv[5]) == POSTURE_KEY_SOURCE_TPM)
        r = posture_key_tpm_load_file(argv[5], argc == 7 ? argv[6] : NULL, &key);
    else
        r = posture_key_load_file(argv[5], &key);
    if (r < 0) {
        (void) fprintf(stderr, "device_get: the key %s: %s\n", argv[5], posture_errno_name(r));
        return 2;
    }
    r = posture_http_client_new(
        &(struct posture_http_client_opts){
            .base_url = argv[1], .ca_file = argv[3], .cert_file = argv[4], .key = key },
        &c);
    if (r >= 0)
        r = posture_http_request(c, argv[2], NULL, NULL, 0, &resp, &detail);
    if (r < 0) {
        (void) fprintf(stderr, "device_get: GET %s%s: %s (%s)\n", argv[1], argv[2],
                       posture_errno_name(r), detail ? detail : "-");
        return 2;
    }
    (void) printf("%ld\n%s\n", resp.status, resp.body ? resp.body : "");
    posture_http_response_done(&resp);
    return 0;
}
