/* SPDX-License-Identifier: Apache-2.0 */
#include "file_digest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "posture/hex.h"

#define CHUNK ((size_t) 1024 * 1024)

static void md_ctx_freep(EVP_MD_CTX **c)
{
    EVP_MD_CTX_free(*c);
}

int posture_sha256_fd(int fd,
                      uint64_t max,
                      uint64_t (*now_usec)(void),
                      uint64_t deadline_usec,
                      char hex[POSTURE_SHA256_HEX_LEN + 1],
                      uint64_t *ret_size)
{
    __attribute__((cleanup(md_ctx_freep))) EVP_MD_CTX *md = NULL;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    uint64_t total = 0;

    if (fd < 0 || !hex)
        return -EINVAL;
    unsigned char *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        free(buf);
        return md ? -EIO : -ENOMEM;
    }
    int r = 0;
    for (;;) {
        if (now_usec && now_usec() >= deadline_usec) {
            r = -ETIMEDOUT;
            break;
        }
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = errno == EAGAIN ? -EAGAIN : -EIO;
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t) n;
        if (total > max) {
            r = -EFBIG;
            break;
        }
        if (EVP_DigestUpdate(md, buf, (size_t) n) != 1) {
            r = -EIO;
            break;
        }
    }
    free(buf);
    if (r < 0)
        return r;
    if (EVP_DigestFinal_ex(md, digest, &digest_len) != 1 || digest_len != POSTURE_SHA256_LEN)
        return -EIO;
    (void) posture_hex_encode_buf(digest, POSTURE_SHA256_LEN, hex);
    if (ret_size)
        *ret_size = total;
    return 0;
}

int posture_pin_split(const char *pin, size_t *ret_path_len, const char **ret_value)
{
    if (!pin || pin[0] != '/')
        return -EINVAL;
    const char *eq = strrchr(pin, '=');
    if (!eq || eq == pin || eq[1] == '\0')
        return -EINVAL;
    if (ret_path_len)
        *ret_path_len = (size_t) (eq - pin);
    if (ret_value)
        *ret_value = eq + 1;
    return 0;
}

const char *posture_pin_find(const char *const *pins, size_t n, const char *path)
{
    if (!pins || !path)
        return NULL;
    size_t len = strlen(path);
    for (size_t i = 0; i < n; i++) {
        size_t plen = 0;
        const char *value = NULL;
        if (posture_pin_split(pins[i], &plen, &value) < 0)
            continue;
        if (plen == len && memcmp(pins[i], path, len) == 0)
            return value;
    }
    return NULL;
}

bool posture_sha256_hex_is_valid(const char *s)
{
    if (!s || strlen(s) != POSTURE_SHA256_HEX_LEN)
        return false;
    return strspn(s, "0123456789abcdefABCDEF") == POSTURE_SHA256_HEX_LEN;
}
