/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz what the API routes read from data they did not make themselves: the device id from a
 * client certificate's URI SAN (posture_api_cert_device_id: the whole input as DER) and the
 * decision-view fields from an EAR (posture_api_ear_read: the input as a token, and as the
 * payload of a token "h.<b64url(input)>.s"). Nothing may crash or leak, and what is returned
 * must satisfy the documented bounds. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posture/b64url.h"

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ear(const char *token)
{
    char subject[POSTURE_DECISION_SUBJECT_MAX + 1], rem[64];
    uint8_t x5t[32];
    int64_t exp = 0;

    if (posture_api_ear_read(token, &exp, subject, x5t, rem, sizeof(rem)) == 0) {
        if (exp <= 0 || strlen(subject) > POSTURE_DECISION_SUBJECT_MAX ||
            strlen(rem) >= sizeof(rem))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[POSTURE_STORE_DEVICE_ID_MAX + 1];
    char *text, *payload = NULL, *token;

    if (posture_api_cert_device_id(data, size, "test.example", id) == 0) {
        size_t n = strlen(id);
        if (n == 0 || n > POSTURE_STORE_DEVICE_ID_MAX || strchr(id, '/'))
            abort();
    }

    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    check_ear(text);
    if (posture_b64url_encode(data, size, &payload) == 0) {
        size_t n = strlen(payload) + 5;
        token = malloc(n);
        if (token) {
            memcpy(token, "h.", 2);
            memcpy(token + 2, payload, n - 5);
            memcpy(token + n - 3, ".s", 3);
            check_ear(token);
            free(token);
        }
        free(payload);
    }
    free(text);
    return 0;
}
