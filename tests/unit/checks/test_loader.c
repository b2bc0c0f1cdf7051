/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The trust rule and the exec loader (loader.h) on temporary directories. The trusted owner is
 * a parameter, so these run as any user: a file of ours is "not owned by the trusted owner"
 * when the test trusts another uid. Cases that need a file of another user run as root only.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "posture/loader.h"
#include "posture/registry.h"
#include "posture/strv.h"

#include "testlib.h"

#define CHECK_SCRIPT "#!/bin/sh\necho '{}'\n"

struct env {
    char *dir;
    char **diags; /* "<level> <path>: <message>" */
    struct posture_loader_opts opts;
};

static void collect(int level, const char *path, const char *message, void *userdata)
{
    struct env *e = userdata;
    char line[1024];
    (void) snprintf(line, sizeof(line), "%d %s: %s", level, path, message);
    assert_int_equal(posture_strv_extend(&e->diags, line), 0);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    e->dir = posture_test_mkdtemp();
    assert_int_equal(chmod(e->dir, 0755), 0);
    e->opts = (struct posture_loader_opts){ .owner = getuid(), .diag = collect, .userdata = e };
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    assert_int_equal(posture_test_rmdir_r(e->dir), 0);
    free(e->dir);
    (void) posture_strv_free(e->diags);
    free(e);
    return 0;
}

/* dir/rel with mode. */
static void put(const struct env *e, const char *rel, const char *content, mode_t mode)
{
    char path[PATH_MAX];
    assert_int_equal(posture_test_write_file(e->dir, rel, content), 0);
    (void) snprintf(path, sizeof(path), "%s/%s", e->dir, rel);
    assert_int_equal(chmod(path, mode), 0);
}

static const char *path_of(const struct env *e, const char *rel, char *buf)
{
    (void) snprintf(buf, PATH_MAX, "%s/%s", e->dir, rel);
    return buf;
}

/* The diagnostic that mentions needle, or fail. */
static const char *diag_with(const struct env *e, const char *needle)
{
    POSTURE_FOREACH_STRV (d, e->diags)
        if (strstr(d, needle))
            return d;
    fail_msg("no diagnostic contains '%s'", needle);
    return NULL;
}

static int trust(const struct env *e, const char *rel, uid_t owner, char *why)
{
    char path[PATH_MAX];
    int fd = -1;
    int r = posture_trust_open(path_of(e, rel, path), owner, &fd, why, POSTURE_LOADER_WHY_MAX);
    if (r == 0) {
        struct stat st;
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        (void) close(fd);
    } else
        assert_int_equal(fd, -1);
    return r;
}

static void test_trust_rule(void **state)
{
    struct env *e = *state;
    char why[POSTURE_LOADER_WHY_MAX], p[PATH_MAX];

    put(e, "d/good", CHECK_SCRIPT, 0755);
    put(e, "d/ro", CHECK_SCRIPT, 0444);
    put(e, "d/gw", CHECK_SCRIPT, 0775);
    put(e, "d/ww", CHECK_SCRIPT, 0757);
    assert_int_equal(chmod(path_of(e, "d", p), 0755), 0);

    assert_int_equal(trust(e, "d/good", getuid(), why), 0);
    assert_int_equal(trust(e, "d/ro", getuid(), why), 0);

    assert_int_equal(trust(e, "d/gw", getuid(), why), -EPERM);
    assert_non_null(strstr(why, "is group- or world-writable (mode 0775)"));
    assert_non_null(strstr(why, "file "));
    assert_int_equal(trust(e, "d/ww", getuid(), why), -EPERM);
    assert_non_null(strstr(why, "(mode 0757)"));

    /* Not the trusted owner: the directory is judged first and named. */
    uid_t other = getuid() == 0 ? 4242 : 0;
    assert_int_equal(trust(e, "d/good", other, why), -EPERM);
    assert_non_null(strstr(why, "directory "));
    assert_non_null(strstr(why, other == 0 ? ", not root" : ", not uid 4242"));

    /* A writable directory taints every file in it. */
    assert_int_equal(chmod(path_of(e, "d", p), 0777), 0);
    assert_int_equal(trust(e, "d/good", getuid(), why), -EPERM);
    assert_non_null(strstr(why, "directory "));
    assert_non_null(strstr(why, "group- or world-writable (mode 0777)"));
    assert_int_equal(chmod(path_of(e, "d", p), 01777), 0); /* sticky does not help */
    assert_int_equal(trust(e, "d/good", getuid(), why), -EPERM);
    assert_int_equal(chmod(path_of(e, "d", p), 0755), 0);

    /* Not a regular file, without opening (a FIFO would block). */
    assert_int_equal(mkfifo(path_of(e, "d/fifo", p), 0644), 0);
    assert_int_equal(trust(e, "d/fifo", getuid(), why), -EPERM);
    assert_non_null(strstr(why, "is not a regular file"));
    assert_int_equal(mkdir(path_of(e, "d/sub", p), 0755), 0);
    assert_int_equal(trust(e, "d/sub", getuid(), why), -EPERM);

    /* Missing, relative. */
    assert_int_equal(trust(e, "d/missing", getuid(), why), -ENOENT);
    assert_non_null(strstr(why, "ENOENT"));
    int fd = -1;
    assert_int_equal(posture_trust_open("relative/x", 0, &fd, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "not an absolute path"));
    assert_int_equal(posture_trust_open(NULL, 0, &fd, why, sizeof(why)), -EINVAL);
    assert_int_equal(posture_trust_open("/x", 0, NULL, why, sizeof(why)), -EINVAL);
    /* why is optional */
    assert_int_equal(posture_trust_open(path_of(e, "d/gw", p), getuid(), &fd, NULL, 0), -EPERM);
}

static void test_trust_symlinks(void **state)
{
    struct env *e = *state;
    char why[POSTURE_LOADER_WHY_MAX], p[PATH_MAX], t[PATH_MAX];

    put(e, "target/check", CHECK_SCRIPT, 0755);
    put(e, "wtarget/check", CHECK_SCRIPT, 0755);
    assert_int_equal(chmod(path_of(e, "target", p), 0755), 0);
    assert_int_equal(chmod(path_of(e, "wtarget", p), 0777), 0);
    assert_int_equal(mkdir(path_of(e, "links", p), 0755), 0);
    assert_int_equal(mkdir(path_of(e, "wlinks", p), 0777), 0);
    assert_int_equal(chmod(path_of(e, "wlinks", p), 0777), 0);

    /* A link in a trusted directory to a trusted file: the file is what opens. */
    assert_int_equal(symlink(path_of(e, "target/check", t), path_of(e, "links/ok", p)), 0);
    assert_int_equal(trust(e, "links/ok", getuid(), why), 0);
    /* Relative links resolve from the link's directory. */
    assert_int_equal(symlink("../target/check", path_of(e, "links/rel", p)), 0);
    assert_int_equal(trust(e, "links/rel", getuid(), why), 0);

    /* The link's directory is writable: anyone could point it elsewhere. */
    assert_int_equal(symlink(path_of(e, "target/check", t), path_of(e, "wlinks/x", p)), 0);
    assert_int_equal(trust(e, "wlinks/x", getuid(), why), -EPERM);
    assert_non_null(strstr(why, "symlink: directory "));
    assert_non_null(strstr(why, "group- or world-writable"));

    /* The target's directory is writable. */
    assert_int_equal(symlink(path_of(e, "wtarget/check", t), path_of(e, "links/wt", p)), 0);
    assert_int_equal(trust(e, "links/wt", getuid(), why), -EPERM);
    assert_non_null(strstr(why, "symlink "));
    assert_non_null(strstr(why, " -> "));
    assert_non_null(strstr(why, "wtarget is group- or world-writable"));

    /* Dangling. */
    assert_int_equal(symlink("/nonexistent/posture", path_of(e, "links/dangling", p)), 0);
    assert_int_equal(trust(e, "links/dangling", getuid(), why), -ENOENT);
    assert_non_null(strstr(why, "does not resolve"));

    /* A trusted (root-owned) link to a file another user owns: refused, naming the target. */
    if (getuid() != 0) {
        if (getenv("CI") && strcmp(getenv("CI"), "true") == 0)
            fail_msg("CI runs this test as root");
        skip();
    }
    put(e, "target/users", CHECK_SCRIPT, 0755);
    assert_int_equal(chown(path_of(e, "target/users", p), 65534, 65534), 0);
    assert_int_equal(symlink(path_of(e, "target/users", t), path_of(e, "links/users", p)), 0);
    assert_int_equal(trust(e, "links/users", 0, why), -EPERM);
    assert_non_null(strstr(why, "symlink "));
    assert_non_null(strstr(why, "/target/users is owned by uid 65534, not root"));
}

static void test_exec_dir(void **state)
{
    struct env *e = *state;
    posture_auto_registry struct posture_registry *reg = NULL;
    char p[PATH_MAX];

    put(e, "x/corp.good", CHECK_SCRIPT, 0755);
    put(e, "x/other_good", CHECK_SCRIPT, 0700);
    put(e, "x/Bad-Name", CHECK_SCRIPT, 0755);
    put(e, "x/.hidden", CHECK_SCRIPT, 0755);
    put(e, "x/corp.good~", CHECK_SCRIPT, 0755);
    put(e, "x/corp.good.dpkg-old", CHECK_SCRIPT, 0755);
    put(e, "x/corp.good.rpmnew", CHECK_SCRIPT, 0755);
    put(e, "x/corp.ww", CHECK_SCRIPT, 0777);
    put(e, "x/corp.noexec", CHECK_SCRIPT, 0644);
    assert_int_equal(mkdir(path_of(e, "x/subdir", p), 0755), 0);
    assert_int_equal(chmod(path_of(e, "x", p), 0755), 0);

    assert_int_equal(posture_registry_new(&reg), 0);
    assert_int_equal(posture_loader_load_exec_dir(reg, path_of(e, "x", p), &e->opts), 2);
    assert_int_equal(posture_registry_count(reg), 2);

    const struct posture_check *c = posture_registry_find(reg, "corp.good");
    assert_non_null(c);
    assert_int_equal(c->source, POSTURE_CHECK_SOURCE_EXEC);
    assert_string_equal(c->path, path_of(e, "x/corp.good", p));
    assert_string_equal(c->desc->version, "-");
    assert_non_null(strstr(c->desc->summary, "exec check "));
    assert_non_null(strstr(c->desc->summary, "/x/corp.good"));
    assert_int_equal(c->desc->flags, 0u);
    assert_null(c->desc->options);
    int fd = posture_loader_exec_fd(c);
    assert_true(fd > 2);
    assert_int_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    assert_non_null(posture_registry_find(reg, "other_good"));

    /* One line for each refusal or skip that matters, none for the ignored names. */
    assert_non_null(strstr(diag_with(e, "Bad-Name"), "not a check id"));
    assert_non_null(strstr(diag_with(e, "/x/corp.ww"), "refused: file "));
    assert_non_null(strstr(diag_with(e, "/x/corp.ww"), "group- or world-writable"));
    assert_int_equal(strtol(diag_with(e, "/x/corp.ww"), NULL, 10), LOG_WARNING);
    assert_non_null(strstr(diag_with(e, "/x/corp.noexec"), "refused: not executable"));
    POSTURE_FOREACH_STRV (d, e->diags) {
        assert_null(strstr(d, ".hidden"));
        assert_null(strstr(d, "~"));
        assert_null(strstr(d, "dpkg-old"));
        assert_null(strstr(d, "rpmnew"));
    }

    /* The same names again: refused as duplicates, the first ones stay. */
    e->diags = posture_strv_free(e->diags);
    assert_int_equal(posture_loader_load_exec_dir(reg, path_of(e, "x", p), &e->opts), 0);
    assert_non_null(strstr(diag_with(e, "/x/corp.good"), "already registered"));
    assert_int_equal(posture_registry_count(reg), 2);

    /* A built-in's name cannot be taken. */
    posture_auto_registry struct posture_registry *reg2 = NULL;
    assert_int_equal(posture_registry_new(&reg2), 0);
    assert_int_equal(posture_registry_add_builtins(reg2), 0);
    put(e, "y/time.sync", CHECK_SCRIPT, 0755);
    assert_int_equal(chmod(path_of(e, "y", p), 0755), 0);
    assert_int_equal(posture_loader_load_exec_dir(reg2, path_of(e, "y", p), &e->opts), 0);
    assert_int_equal(posture_registry_find(reg2, "time.sync")->source,
                     POSTURE_CHECK_SOURCE_BUILTIN);
    assert_non_null(strstr(diag_with(e, "/y/time.sync"), "already registered"));

    /* Built-ins have no exec fd. */
    assert_int_equal(posture_loader_exec_fd(posture_registry_find(reg2, "time.sync")), -EINVAL);
}

static void test_exec_dir_untrusted_or_missing(void **state)
{
    struct env *e = *state;
    posture_auto_registry struct posture_registry *reg = NULL;
    char p[PATH_MAX];

    put(e, "w/corp.good", CHECK_SCRIPT, 0755);
    assert_int_equal(chmod(path_of(e, "w", p), 0777), 0);
    assert_int_equal(posture_registry_new(&reg), 0);

    assert_int_equal(posture_loader_load_exec_dir(reg, path_of(e, "w", p), &e->opts), 0);
    assert_int_equal(posture_registry_count(reg), 0);
    assert_int_equal(posture_strv_length(e->diags), 1);
    assert_non_null(strstr(diag_with(e, "/w"), "refusing every check in it"));

    /* Loading one file names the file's directory. */
    e->diags = posture_strv_free(e->diags);
    assert_int_equal(posture_loader_load_exec(reg, path_of(e, "w/corp.good", p), &e->opts), 0);
    assert_non_null(strstr(diag_with(e, "/w/corp.good"), "refused: directory "));

    e->diags = posture_strv_free(e->diags);
    assert_int_equal(posture_loader_load_exec_dir(reg, path_of(e, "missing", p), &e->opts), 0);
    assert_int_equal(strtol(diag_with(e, "no such directory"), NULL, 10), LOG_DEBUG);

    /* No diag callback is fine; bad arguments are refused. */
    struct posture_loader_opts quiet = { .owner = getuid() };
    assert_int_equal(posture_loader_load_exec_dir(reg, path_of(e, "w", p), &quiet), 0);
    assert_int_equal(posture_loader_load_exec_dir(NULL, "/", &quiet), -EINVAL);
    assert_int_equal(posture_loader_load_exec_dir(reg, NULL, &quiet), -EINVAL);
    assert_int_equal(posture_loader_load_exec_dir(reg, "/", NULL), -EINVAL);
}

static void test_exec_dir_bounded(void **state)
{
    struct env *e = *state;
    posture_auto_registry struct posture_registry *reg = NULL;
    char p[PATH_MAX];

    for (int i = 0; i < POSTURE_LOADER_DIR_ENTRIES_MAX + 5; i++) {
        char rel[64];
        (void) snprintf(rel, sizeof(rel), "many/c%04d", i);
        put(e, rel, CHECK_SCRIPT, 0755);
    }
    assert_int_equal(chmod(path_of(e, "many", p), 0755), 0);
    assert_int_equal(posture_registry_new(&reg), 0);
    assert_int_equal(posture_loader_load_exec_dir(reg, path_of(e, "many", p), &e->opts),
                     POSTURE_LOADER_DIR_ENTRIES_MAX);
    assert_non_null(diag_with(e, "entries, ignoring the rest"));
    /* Sorted by name: the first ones are in. */
    assert_non_null(posture_registry_find(reg, "c0000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_trust_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trust_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_dir_untrusted_or_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_dir_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
