/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tpm_enroll_tool: the TPM side of enrolment (posture/tpm_enroll.h) for tpm_enroll.sh.
 *   tpm_enroll_tool material TCTI DIR
 *       writes DIR/ek.crt (DER), DIR/ek.pub, DIR/ak.pub (marshalled TPM2B_PUBLIC) and prints
 *       the persistent EK handle (0x0 when the EK was made from the default template)
 *   tpm_enroll_tool activate TCTI EK-PUB CREDFILE OUT
 *       CREDFILE is a tpm2-tools credential file (0xBADCC0DE, version 1, TPM2B_ID_OBJECT,
 *       TPM2B_ENCRYPTED_SECRET); the recovered secret goes to OUT. Exit 1 and the errno name
 *       on stdout when the TPM refuses.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/tpm_enroll.h"

static int write_bytes(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    posture_autofclose FILE *f = NULL;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int) sizeof(path))
        return -1;
    f = fopen(path, "we");
    if (!f || fwrite(p, 1, n, f) != n)
        return -1;
    return 0;
}

static int read_all(const char *path, uint8_t **ret, size_t *ret_len)
{
    posture_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    char *buf = NULL;

    if (fd < 0 || posture_read_fd(fd, 8192, &buf, ret_len) < 0)
        return -1;
    *ret = (uint8_t *) buf;
    return 0;
}

/* The TPM2B at p (2-byte big-endian size + data): its total length, or 0 when it overruns. */
static size_t tpm2b_len(const uint8_t *p, size_t n)
{
    size_t size;

    if (n < 2)
        return 0;
    size = ((size_t) p[0] << 8 | p[1]) + 2;
    return size <= n ? size : 0;
}

int main(int argc, char **argv)
{
    int r;

    if (argc == 4 && strcmp(argv[1], "material") == 0) {
        posture_auto_tpm_enroll_material struct posture_tpm_enroll_material *m = NULL;

        r = posture_tpm_enroll_material(argv[2], &m);
        if (r < 0) {
            (void) printf("%s\n", posture_errno_name(r));
            return 1;
        }
        if (write_bytes(argv[3], "ek.crt", m->ek_cert, m->ek_cert_len) < 0 ||
            write_bytes(argv[3], "ek.pub", m->ek_public, m->ek_public_len) < 0 ||
            write_bytes(argv[3], "ak.pub", m->ak_public, m->ak_public_len) < 0)
            return 2;
        (void) printf("0x%x\n", (unsigned) m->ek_handle);
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "activate") == 0) {
        posture_autofree uint8_t *ek = NULL, *cred = NULL;
        uint8_t secret[POSTURE_TPM_SECRET_MAX];
        size_t ek_len, cred_len, secret_len = 0, a, b;

        if (read_all(argv[3], &ek, &ek_len) < 0 || read_all(argv[4], &cred, &cred_len) < 0)
            return 2;
        if (cred_len < 8)
            return 2;
        a = tpm2b_len(cred + 8, cred_len - 8);
        b = a ? tpm2b_len(cred + 8 + a, cred_len - 8 - a) : 0;
        if (!a || !b || 8 + a + b != cred_len)
            return 2;
        r = posture_tpm_activate_credential(argv[2], ek, ek_len, cred + 8, a, cred + 8 + a, b,
                                            secret, &secret_len);
        if (r < 0) {
            (void) printf("%s\n", posture_errno_name(r));
            return 1;
        }
        posture_autofclose FILE *f = fopen(argv[5], "we");
        if (!f || fwrite(secret, 1, secret_len, f) != secret_len)
            return 2;
        return 0;
    }
    (void) fprintf(stderr, "usage: tpm_enroll_tool material TCTI DIR | activate TCTI EK-PUB "
                           "CREDFILE OUT\n");
    return 2;
}
