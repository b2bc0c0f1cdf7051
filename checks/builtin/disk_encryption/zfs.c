/* SPDX-License-Identifier: Apache-2.0 */
/* ZFS native encryption and pool vdevs for the disk.encryption check (zfs.h). */
#include "zfs.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/cleanup.h"
#include "posture/spawn.h"
#include "posture/strutil.h"
#include "posture/strv.h"

#define FIELD_MAX 1024

void posture_zfs_crypt_done(struct posture_zfs_crypt *c)
{
    if (!c)
        return;
    free(c->encryption);
    free(c->keystatus);
    free(c->encryption_root);
    *c = (struct posture_zfs_crypt){ 0 };
}

static int check_buffer(const char *buf, size_t len)
{
    if (len > POSTURE_ZFS_OUTPUT_MAX)
        return -EFBIG;
    if (len > 0 && memchr(buf, '\0', len))
        return -EBADMSG;
    return 0;
}

/* The next line of [*p, end): [start, stop) without "\n" and a "\r" before it. */
static bool
next_line(const char **p, const char *end, const char **ret_start, const char **ret_stop)
{
    if (!*p || *p >= end)
        return false;
    const char *nl = memchr(*p, '\n', (size_t) (end - *p));
    const char *stop = nl ? nl : end;
    *ret_start = *p;
    *p = nl ? nl + 1 : end;
    if (stop > *ret_start && stop[-1] == '\r')
        stop--;
    *ret_stop = stop;
    return true;
}

static bool span_is(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* A NUL-terminated copy of [p, p+n); the input need not be terminated (strndup may read on). */
static char *dup_span(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Replace *slot with a copy of [p, p+n). */
static int set_span(char **slot, const char *p, size_t n)
{
    char *s = dup_span(p, n);
    if (!s)
        return -ENOMEM;
    free(*slot);
    *slot = s;
    return 0;
}

int posture_zfs_parse_get(const char *buf,
                          size_t len,
                          const char *dataset,
                          struct posture_zfs_crypt *ret)
{
    struct posture_zfs_crypt c = { 0 };
    const char *start, *stop;

    int r = check_buffer(buf, len);
    if (r < 0)
        return r;
    if (!dataset)
        return -EINVAL;

    const char *p = buf, *end = buf ? buf + len : buf;
    while (next_line(&p, end, &start, &stop)) {
        const char *t1 = memchr(start, '\t', (size_t) (stop - start));
        if (!t1)
            continue;
        const char *t2 = memchr(t1 + 1, '\t', (size_t) (stop - t1 - 1));
        if (!t2)
            continue;
        const char *value = t2 + 1;
        size_t value_len = (size_t) (stop - value);
        if (!span_is(start, (size_t) (t1 - start), dataset) || value_len == 0 ||
            value_len > FIELD_MAX || memchr(value, '\t', value_len))
            continue;
        const char *prop = t1 + 1;
        size_t prop_len = (size_t) (t2 - prop);
        char **slot = span_is(prop, prop_len, "encryption")       ? &c.encryption
                      : span_is(prop, prop_len, "keystatus")      ? &c.keystatus
                      : span_is(prop, prop_len, "encryptionroot") ? &c.encryption_root
                                                                  : NULL;
        if (!slot)
            continue;
        r = set_span(slot, value, value_len);
        if (r < 0) {
            posture_zfs_crypt_done(&c);
            return r;
        }
    }
    if (!c.encryption) {
        posture_zfs_crypt_done(&c);
        return -ENOENT;
    }
    *ret = c;
    return 0;
}

bool posture_zfs_encryption_is_on(const char *encryption)
{
    return encryption && strcmp(encryption, "off") != 0 && strcmp(encryption, "-") != 0 &&
           *encryption != '\0';
}

int posture_zfs_parse_vdevs(const char *buf, size_t len, char ***ret)
{
    posture_auto_strv char **paths = NULL;
    const char *start, *stop;
    bool in_spares = false;
    size_t n = 0;

    int r = check_buffer(buf, len);
    if (r < 0)
        return r;

    const char *p = buf, *end = buf ? buf + len : buf;
    while (next_line(&p, end, &start, &stop)) {
        if (start == stop)
            continue;
        if (*start != '\t') {
            /* The pool line or a section line: its first word. */
            size_t w = 0;
            while (start + w < stop && start[w] != ' ' && start[w] != '\t')
                w++;
            in_spares = span_is(start, w, "spare") || span_is(start, w, "spares");
            continue;
        }
        const char *name = start + 1;
        while (name < stop && *name == ' ')
            name++;
        const char *name_end = name;
        while (name_end < stop && *name_end != '\t')
            name_end++;
        while (name_end > name && name_end[-1] == ' ')
            name_end--;
        if (in_spares || name == name_end || *name != '/')
            continue;
        if ((size_t) (name_end - name) > FIELD_MAX)
            return -EBADMSG;
        if (n >= POSTURE_ZFS_VDEVS_MAX)
            return -E2BIG;
        char *s = dup_span(name, (size_t) (name_end - name));
        if (!s)
            return -ENOMEM;
        if (posture_strv_contains(paths, s)) {
            free(s);
            continue;
        }
        r = posture_strv_consume(&paths, s);
        if (r < 0) {
            free(s);
            return r;
        }
        n++;
    }
    if (!paths) {
        paths = calloc(1, sizeof(char *));
        if (!paths)
            return -ENOMEM;
    }
    *ret = POSTURE_TAKE_PTR(paths);
    return 0;
}

/* Run argv; on success *ret holds the result (exit status 0). Else *ret_why explains. */
static int run_tool(const char *const *argv,
                    uint64_t timeout_usec,
                    struct posture_spawn_result *ret,
                    char **ret_why)
{
    struct posture_spawn_opts opts = {
        .argv = argv,
        .search_path = true,
        .timeout_usec = timeout_usec,
        .stdout_max = POSTURE_ZFS_OUTPUT_MAX,
    };
    struct posture_spawn_result res = { 0 };
    char *why = NULL;

    *ret_why = NULL;
    int r = posture_spawn_run(&opts, &res);
    if (r == -ENOENT || r == -EACCES) {
        if (asprintf(&why, "%s is not installed or not executable", argv[0]) < 0)
            return -ENOMEM;
        *ret_why = why;
        return r;
    }
    if (r < 0)
        return r;

    if (res.timed_out)
        r = -ETIMEDOUT;
    else if (res.exit_code != 0 || res.stdout_truncated)
        r = -EIO;
    if (r < 0) {
        size_t n = strcspn(res.err, "\n");
        int k;
        if (r == -ETIMEDOUT)
            k = asprintf(&why, "%s %s did not finish in time", argv[0], argv[1]);
        else if (res.stdout_truncated)
            k = asprintf(&why, "%s %s printed more than %zu bytes", argv[0], argv[1],
                         POSTURE_ZFS_OUTPUT_MAX);
        else if (n > 0)
            k = asprintf(&why, "%s %s failed: %.*s", argv[0], argv[1], (int) (n > 200 ? 200 : n),
                         res.err);
        else
            k = asprintf(&why, "%s %s failed (exit status %d)", argv[0], argv[1], res.exit_code);
        posture_spawn_result_done(&res);
        if (k < 0)
            return -ENOMEM;
        *ret_why = why;
        return r;
    }
    *ret = res;
    return 0;
}

int posture_zfs_get(const char *tool,
                    const char *dataset,
                    uint64_t timeout_usec,
                    struct posture_zfs_crypt *ret,
                    char **ret_why)
{
    const char *const argv[] = {
        tool,
        "get",
        "-H",
        "-p",
        "-o",
        "name,property,value",
        "encryption,keystatus,encryptionroot",
        dataset,
        NULL,
    };
    struct posture_spawn_result res;

    *ret_why = NULL;
    /* A dataset name never starts with '-'; refuse what zfs would read as an option. */
    if (!tool || !dataset || !*dataset || *dataset == '-')
        return -EINVAL;
    int r = run_tool(argv, timeout_usec, &res, ret_why);
    if (r < 0)
        return r;
    r = posture_zfs_parse_get(res.out, res.out_len, dataset, ret);
    posture_spawn_result_done(&res);
    if (r == -ENOENT) {
        r = posture_set_printf(ret_why, "%s get reported no encryption property for %s", tool,
                               dataset);
        return r < 0 ? r : -EIO;
    }
    return r;
}

int posture_zfs_pool_vdevs(
    const char *tool, const char *pool, uint64_t timeout_usec, char ***ret, char **ret_why)
{
    const char *const argv[] = { tool, "list", "-v", "-H", "-P", "-L", pool, NULL };
    struct posture_spawn_result res;

    *ret_why = NULL;
    if (!tool || !pool || !*pool || *pool == '-')
        return -EINVAL;
    int r = run_tool(argv, timeout_usec, &res, ret_why);
    if (r < 0)
        return r;
    r = posture_zfs_parse_vdevs(res.out, res.out_len, ret);
    posture_spawn_result_done(&res);
    return r;
}
