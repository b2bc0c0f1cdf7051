/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 for the ruleset digest, through OpenSSL's EVP interface. */
#include <errno.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "firewall.h"

int posture_fw_sha256(const void *data, size_t len, uint8_t ret[POSTURE_FW_SHA256_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    if ((!data && len > 0) || !ret)
        return -EINVAL;
    if (EVP_Digest(data ? data : "", len, md, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len != POSTURE_FW_SHA256_LEN) {
        ERR_clear_error(); /* nothing to report beyond -EIO; leave the thread's queue empty */
        return -EIO;
    }
    for (size_t i = 0; i < POSTURE_FW_SHA256_LEN; i++)
        ret[i] = md[i];
    return 0;
}
