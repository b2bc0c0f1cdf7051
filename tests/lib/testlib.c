/* SPDX-License-Identifier: Apache-2.0 */
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
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

#define PATH_BUF 4096

/* path = dir/rel (PATH_BUF bytes), with the directories above it created. */
static int make_parents(const char *dir, const char *rel, char *path)
{
    int n = snprintf(path, PATH_BUF, "%s/%s", dir, rel);
    if (n < 0 || n >= PATH_BUF)
        return -ENAMETOOLONG;
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        int r = mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
        *p = '/';
        if (r < 0)
            return r;
    }
    return 0;
}

int posture_test_write_file(const char *dir, const char *rel, const char *content)
{
    char path[PATH_BUF];
    int r = make_parents(dir, rel, path);
    if (r < 0)
        return r;
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
    char path[PATH_BUF];
    int r = make_parents(dir, rel, path);
    if (r < 0)
        return r;
    return symlink(target, path) < 0 ? -errno : 0;
}

void posture_test_copy_tree(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    assert_non_null(d);
    assert_true(mkdir(dst, 0755) == 0 || errno == EEXIST);

    for (struct dirent *de; (de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char from[PATH_MAX], to[PATH_MAX];
        assert_true(snprintf(from, sizeof(from), "%s/%s", src, de->d_name) < (int) sizeof(from));
        assert_true(snprintf(to, sizeof(to), "%s/%s", dst, de->d_name) < (int) sizeof(to));

        struct stat st;
        assert_int_equal(lstat(from, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            posture_test_copy_tree(from, to);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlink(from, target, sizeof(target) - 1);
            assert_true(n > 0);
            target[n] = '\0';
            assert_int_equal(symlink(target, to), 0);
        } else {
            int in = open(from, O_RDONLY | O_CLOEXEC);
            int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            assert_true(in >= 0 && out >= 0);
            char buf[8192];
            ssize_t n;
            while ((n = read(in, buf, sizeof(buf))) > 0)
                assert_int_equal(write(out, buf, (size_t) n), n);
            assert_int_equal(n, 0);
            assert_int_equal(close(in), 0);
            assert_int_equal(close(out), 0);
        }
    }
    assert_int_equal(closedir(d), 0);
}
