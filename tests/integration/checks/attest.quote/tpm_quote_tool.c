/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test driver for posture_tpm_quote() (the agent's ESAPI quote):
 *   tpm_quote_tool TCTI BINDING-HEX MASK OUTDIR
 * writes OUTDIR/ak.pub (TPM2B_PUBLIC), quote.attest, quote.sig and pcrs.bin (the selected
 * SHA-256 PCR values, index order). Exit 0 on success, 1 on a TPM error, 2 on usage errors.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/parse.h"
#include "posture/tpm_quote.h"

static int write_out(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return -1;
    posture_autoclose int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, p, n) != (ssize_t) n) {
        (void) fprintf(stderr, "tpm_quote_tool: %s: %m\n", path);
        return -1;
    }
    return 0;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int unhex(const char *s, uint8_t *out, size_t max, size_t *ret_len)
{
    size_t n = strlen(s);
    if (n == 0 || n % 2 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t) (hi << 4 | lo);
    }
    *ret_len = n / 2;
    return 0;
}

int main(int argc, char **argv)
{
    struct posture_tpm_evidence *e = NULL;
    uint8_t q[POSTURE_QUOTE_NONCE_MAX], pcrs[POSTURE_QUOTE_PCR_MAX * POSTURE_QUOTE_DIGEST_SIZE];
    size_t q_len = 0;
    uint32_t mask;
    int r;

    if (argc != 5 || unhex(argv[2], q, sizeof(q), &q_len) < 0 ||
        posture_parse_u32(argv[3], &mask) < 0) {
        (void) fprintf(stderr, "usage: tpm_quote_tool TCTI BINDING-HEX MASK OUTDIR\n");
        return 2;
    }
    r = posture_tpm_quote(argv[1], q, q_len, mask, &e);
    if (r < 0) {
        (void) fprintf(stderr, "tpm_quote_tool: quote: %s\n", posture_errno_name(r));
        return 1;
    }
    for (size_t i = 0; i < e->n_pcrs; i++)
        memcpy(pcrs + i * POSTURE_QUOTE_DIGEST_SIZE, e->pcrs[i].digest, POSTURE_QUOTE_DIGEST_SIZE);
    r = write_out(argv[4], "ak.pub", e->ak_public, e->ak_public_len);
    if (r == 0)
        r = write_out(argv[4], "quote.attest", e->attest, e->attest_len);
    if (r == 0)
        r = write_out(argv[4], "quote.sig", e->signature, e->signature_len);
    if (r == 0)
        r = write_out(argv[4], "pcrs.bin", pcrs, e->n_pcrs * POSTURE_QUOTE_DIGEST_SIZE);
    e = posture_tpm_evidence_free(e);
    return r == 0 ? 0 : 1;
}
