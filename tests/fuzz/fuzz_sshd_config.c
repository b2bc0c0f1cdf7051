/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the sshd_config parser of ssh.server, its Include handling, the effective values
 * and cipher lists, and the `sshd -T` reader. The input is up to 8 files separated by lines
 * "@@": the first is /etc/ssh/sshd_config, the others /etc/ssh/sshd_config.d/<n>.conf, so
 * an Include of "sshd_config.d/<glob>.conf" (or of a file by name) reaches them.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/strv.h"

#include "ssh_server/sshd_config.h"

#define FILES_MAX 8

struct files {
    char name[FILES_MAX][64];
    const char *data[FILES_MAX];
    size_t len[FILES_MAX];
    size_t n;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fz_read(const char *path, size_t max, char **ret_buf, size_t *ret_len, void *userdata)
{
    const struct files *f = userdata;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->name[i], path) == 0) {
            if (f->len[i] > max)
                return -EFBIG;
            char *b = malloc(f->len[i] + 1);
            if (!b)
                return -ENOMEM;
            memcpy(b, f->data[i], f->len[i]);
            b[f->len[i]] = '\0';
            *ret_buf = b;
            if (ret_len)
                *ret_len = f->len[i];
            return 0;
        }
    return -ENOENT;
}

static int fz_glob(const char *pattern, char ***ret, void *userdata)
{
    const struct files *f = userdata;
    char **l = calloc(1, sizeof(char *));
    if (!l)
        return -ENOMEM;
    for (size_t i = 0; i < f->n; i++)
        if (fnmatch(pattern, f->name[i], FNM_PATHNAME | FNM_PERIOD) == 0 &&
            posture_strv_extend(&l, f->name[i]) < 0) {
            (void) posture_strv_free(l);
            return -ENOMEM;
        }
    *ret = l;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct files f = { .n = 0 };
    const char *s = (const char *) data, *end = s + size;

    while (f.n < FILES_MAX) {
        const char *sep = NULL;
        for (const char *p = s; p + 4 <= end; p++)
            if (memcmp(p, "\n@@\n", 4) == 0) {
                sep = p;
                break;
            }
        if (f.n == 0)
            (void) snprintf(f.name[0], sizeof(f.name[0]), "/etc/ssh/sshd_config");
        else
            (void) snprintf(f.name[f.n], sizeof(f.name[f.n]), "/etc/ssh/sshd_config.d/%zu.conf",
                            f.n);
        f.data[f.n] = s;
        f.len[f.n] = (size_t) ((sep ? sep : end) - s);
        f.n++;
        if (!sep)
            break;
        s = sep + 4;
    }

    struct posture_sshd_io io = { .read_file = fz_read, .glob = fz_glob, .userdata = &f };
    struct posture_sshd_config c;
    if (posture_sshd_config_parse("/etc/ssh/sshd_config", &io, &c) == 0) {
        char *v[POSTURE_SSHD_KEY__MAX] = { 0 };
        if (posture_sshd_config_effective(&c, v) == 0) {
            char **l = NULL;
            if (posture_sshd_ciphers_effective(v[POSTURE_SSHD_CIPHERS], &l) == 0)
                (void) posture_strv_free(l);
        }
        for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++)
            free(v[k]);
        for (size_t i = 0; i < c.n_match_settings; i++) {
            char **l = NULL;
            if (posture_sshd_ciphers_effective(c.match_settings[i].value, &l) == 0)
                (void) posture_strv_free(l);
        }
    }
    posture_sshd_config_done(&c);

    /* The same bytes as `sshd -T` output. */
    char *d[POSTURE_SSHD_KEY__MAX] = { 0 };
    (void) posture_sshd_parse_dump((const char *) data, size, d);
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++)
        free(d[k]);
    return 0;
}
