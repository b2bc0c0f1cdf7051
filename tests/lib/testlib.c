/* SPDX-License-Identifier: Apache-2.0 */
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *posture_test_path(const char *rel)
{
    static char buf[4096];
    int n = snprintf(buf, sizeof(buf), "%s/%s", POSTURE_TEST_SRCDIR, rel);
    assert_true(n > 0 && (size_t) n < sizeof(buf));
    return buf;
}

char *posture_test_mkdtemp(void)
{
    const char *tmp = getenv("TMPDIR");
    char buf[4096];
    int n = snprintf(buf, sizeof(buf), "%s/posture-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_true(n > 0 && (size_t) n < sizeof(buf));
    assert_non_null(mkdtemp(buf));
    char *r = strdup(buf);
    assert_non_null(r);
    return r;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void) st;
    (void) ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

int posture_test_rmdir_r(const char *path)
{
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
        return -errno;
    return 0;
}

static int mkdir_parents(const char *dir, const char *rel)
{
    char buf[4096];
    int n = snprintf(buf, sizeof(buf), "%s/%s", dir, rel);
    if (n < 0 || (size_t) n >= sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return 0;
}

int posture_test_write_file(const char *dir, const char *rel, const char *content)
{
    char path[4096];
    int r = mkdir_parents(dir, rel);
    if (r < 0)
        return r;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (n < 0 || (size_t) n >= sizeof(path))
        return -ENAMETOOLONG;
    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    size_t len = strlen(content);
    if (fwrite(content, 1, len, f) != len) {
        (void) fclose(f);
        return -EIO;
    }
    return fclose(f) == 0 ? 0 : -errno;
}

int posture_test_symlink(const char *dir, const char *rel, const char *target)
{
    char path[4096];
    int r = mkdir_parents(dir, rel);
    if (r < 0)
        return r;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (n < 0 || (size_t) n >= sizeof(path))
        return -ENAMETOOLONG;
    return symlink(target, path) < 0 ? -errno : 0;
}
