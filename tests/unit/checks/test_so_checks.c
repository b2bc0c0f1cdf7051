/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared-object checks end to end: the .so loader's refusals, options from [check.<name>], and
 * the forked child that runs each check, against the good and hostile plugins of
 * tests/plugins/. The agent (this process) survives every one of them.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "posture/config.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/loader.h"
#include "posture/log.h"
#include "posture/registry.h"
#include "posture/result.h"
#include "posture/runner.h"
#include "posture/strv.h"
#include "posture/time_util.h"

#include "testlib.h"

#ifndef POSTURE_TEST_PLUGIN_DIR
#error "POSTURE_TEST_PLUGIN_DIR is set by tests/plugins/CMakeLists.txt"
#endif

#define MSEC POSTURE_USEC_PER_MSEC

struct env {
    char *dir; /* a trusted plugin directory: copies of the modules we want */
    char **diags;
    struct posture_loader_opts opts;
    struct posture_registry *reg;
    int root_fd;
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
    assert_int_equal(posture_registry_new(&e->reg), 0);
    assert_int_equal(posture_registry_add_builtins(e->reg), 0);
    assert_int_equal(posture_root_open("/", &e->root_fd), 0);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    (void) posture_registry_free(e->reg);
    assert_int_equal(posture_test_rmdir_r(e->dir), 0);
    free(e->dir);
    (void) posture_strv_free(e->diags);
    (void) close(e->root_fd);
    free(e);
    return 0;
}

/* Copy the module <id>.so into the plugin directory, mode 0755. */
static void install(const struct env *e, const char *id)
{
    char src[PATH_MAX], dst[PATH_MAX];
    posture_autofree char *buf = NULL;
    size_t len = 0;

    (void) snprintf(src, sizeof(src), "%s/%s.so", POSTURE_TEST_PLUGIN_DIR, id);
    (void) snprintf(dst, sizeof(dst), "%s/%s.so", e->dir, id);
    assert_int_equal(posture_read_file_at(e->root_fd, src, 64u << 20, &buf, &len), 0);
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t) len);
    assert_int_equal(fchmod(fd, 0755), 0);
    assert_int_equal(close(fd), 0);
}

static const char *diag_with(const struct env *e, const char *needle)
{
    POSTURE_FOREACH_STRV (d, e->diags)
        if (strstr(d, needle))
            return d;
    fail_msg("no diagnostic contains '%s'", needle);
    return NULL;
}

static struct posture_result *run_check(struct env *e,
                                        const char *id,
                                        const char *config_text,
                                        uint64_t timeout,
                                        struct posture_run **ret_run)
{
    struct posture_config *config = NULL;
    char *only[] = { (char *) id, NULL };

    if (config_text) {
        assert_int_equal(posture_config_new(NULL, NULL, &config), 0);
        assert_int_equal(
            posture_config_parse_string(config, config_text, strlen(config_text), "t.conf"), 0);
        assert_int_equal(posture_runner_validate_config(e->reg, config), 0);
    }
    struct posture_run_opts opts = {
        .root_fd = e->root_fd,
        .root_path = "/",
        .only = only,
        .timeout_usec = timeout,
        .config = config,
    };
    assert_int_equal(posture_runner_run(e->reg, &opts, ret_run, NULL), 0);
    (void) posture_config_free(config);
    assert_int_equal((*ret_run)->n_results, 1);
    return (*ret_run)->results[0];
}

static void assert_error(const struct posture_result *r, const char *reason, const char *errno_name)
{
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    if (!r->reason || !strstr(r->reason, reason))
        fail_msg("reason '%s' lacks '%s'", r->reason ? r->reason : "(null)", reason);
    assert_string_equal(posture_json_get_str(r->evidence, "errno"), errno_name);
}

static void test_load_and_run(void **state)
{
    struct env *e = *state;
    posture_auto_run struct posture_run *run = NULL, *run2 = NULL;
    char path[PATH_MAX];

    install(e, "t.good");
    assert_int_equal(posture_loader_load_so_dir(e->reg, e->dir, &e->opts), 1);
    const struct posture_check *c = posture_registry_find(e->reg, "t.good");
    assert_non_null(c);
    assert_int_equal(c->source, POSTURE_CHECK_SOURCE_SO);
    (void) snprintf(path, sizeof(path), "%s/t.good.so", e->dir);
    assert_string_equal(c->path, path);
    assert_string_equal(c->desc->version, "3.1.4");
    assert_int_equal(c->desc->flags, POSTURE_CHECK_NEEDS_ROOT | POSTURE_CHECK_SLOW);
    assert_non_null(posture_check_find_option(c->desc, "greeting"));

    /* Defaults; the check runs in another process. */
    struct posture_result *r = run_check(e, "t.good", NULL, 0, &run);
    assert_int_equal(r->status, POSTURE_STATUS_WARN);
    assert_string_equal(r->version, "3.1.4");
    assert_string_equal(r->reason, "hello from a plugin");
    assert_string_equal(r->remediation, "nothing to do");
    assert_string_equal(posture_json_get_str(r->evidence, "greeting"), "hello");
    assert_string_equal(posture_json_get_str(r->evidence, "root"), "/");
    int64_t pid = 0, count = 0;
    assert_int_equal(posture_json_get_int(r->evidence, "pid", &pid), 0);
    assert_true(pid > 0 && pid != (int64_t) getpid());

    /* [check.t.good] options reach the child. */
    r = run_check(e, "t.good", "[check.t.good]\ngreeting = salut\ncount = 7\n", 0, &run2);
    assert_string_equal(posture_json_get_str(r->evidence, "greeting"), "salut");
    assert_int_equal(posture_json_get_int(r->evidence, "count", &count), 0);
    assert_int_equal(count, 7);

    /* A bad option value is a config error, like for built-ins. */
    struct posture_config *config = NULL;
    const char *bad = "[check.t.good]\ncount = many\n";
    assert_int_equal(posture_config_new(NULL, NULL, &config), 0);
    assert_int_equal(posture_config_parse_string(config, bad, strlen(bad), "t.conf"), 0);
    assert_int_equal(posture_runner_validate_config(e->reg, config), -EINVAL);
    (void) posture_config_free(config);
}

static void test_refusals(void **state)
{
    struct env *e = *state;
    static const char *const hostile[] = { "t.abi",     "t.truncated", "t.misnamed",
                                           "t.badopts", "t.noentry",   "time.sync" };
    char path[PATH_MAX];

    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
        install(e, hostile[i]);
    /* Not <id>.so: quietly not a plugin, or refused by name. */
    (void) snprintf(path, sizeof(path), "%s/README", e->dir);
    assert_int_equal(posture_test_write_file(e->dir, "README", "text"), 0);
    assert_int_equal(posture_test_write_file(e->dir, "Bad-Name.so", "text"), 0);

    assert_int_equal(posture_loader_load_so_dir(e->reg, e->dir, &e->opts), 0);
    assert_int_equal(posture_registry_count(e->reg), posture_builtin_count());
    assert_non_null(strstr(diag_with(e, "/t.abi.so"), "built for another check ABI major"));
    assert_non_null(strstr(diag_with(e, "/t.truncated.so"), "struct_size is smaller"));
    assert_non_null(
        strstr(diag_with(e, "/t.misnamed.so"), "its check is named 't.other', not 't.misnamed'"));
    assert_non_null(strstr(diag_with(e, "/t.badopts.so"), "option key is not of the form"));
    assert_non_null(strstr(diag_with(e, "/t.noentry.so"), "does not export posture_check_entry"));
    assert_non_null(strstr(diag_with(e, "/time.sync.so"), "already registered"));
    assert_non_null(strstr(diag_with(e, "/Bad-Name.so"), "file name is not <check id>.so"));
    POSTURE_FOREACH_STRV (d, e->diags) {
        assert_int_equal(strtol(d, NULL, 10), LOG_WARNING);
        assert_null(strstr(d, "README"));
    }
    /* One line per file. */
    assert_int_equal(posture_strv_length(e->diags), 7);
    assert_int_equal(posture_registry_find(e->reg, "time.sync")->source,
                     POSTURE_CHECK_SOURCE_BUILTIN);

    /* Not a shared object at all. */
    e->diags = posture_strv_free(e->diags);
    assert_int_equal(posture_test_write_file(e->dir, "t.text.so", "not ELF"), 0);
    (void) snprintf(path, sizeof(path), "%s/t.text.so", e->dir);
    assert_int_equal(posture_loader_load_so(e->reg, path, &e->opts), 0);
    assert_non_null(strstr(diag_with(e, "/t.text.so"), "refused: cannot load it"));
}

static void test_untrusted(void **state)
{
    struct env *e = *state;
    char path[PATH_MAX];

    install(e, "t.good");
    (void) snprintf(path, sizeof(path), "%s/t.good.so", e->dir);
    assert_int_equal(chmod(path, 0757), 0);
    assert_int_equal(posture_loader_load_so_dir(e->reg, e->dir, &e->opts), 0);
    assert_non_null(strstr(diag_with(e, "/t.good.so"), "group- or world-writable (mode 0757)"));

    assert_int_equal(chmod(path, 0755), 0);
    assert_int_equal(chmod(e->dir, 0775), 0);
    e->diags = posture_strv_free(e->diags);
    assert_int_equal(posture_loader_load_so(e->reg, path, &e->opts), 0);
    assert_non_null(strstr(diag_with(e, "/t.good.so"), "refused: directory "));

    assert_int_equal(chmod(e->dir, 0755), 0);
    struct posture_loader_opts other = e->opts;
    other.owner = getuid() == 0 ? 4242 : 0;
    e->diags = posture_strv_free(e->diags);
    assert_int_equal(posture_loader_load_so(e->reg, path, &other), 0);
    assert_non_null(strstr(diag_with(e, "/t.good.so"), "is owned by uid"));
    assert_null(posture_registry_find(e->reg, "t.good"));
}

static void test_hostile_runs(void **state)
{
    struct env *e = *state;
    struct {
        const char *id, *reason, *errno_name;
        uint64_t timeout;
    } cases[] = {
        { "t.crash", "t.crash crashed with SIGSEGV", "EPROTO", 0 },
        { "t.loop", "t.loop did not finish within 300ms", "ETIMEDOUT", 300 * MSEC },
        { "t.flood", "t.flood: output over 64 KiB", "E2BIG", 0 },
        { "t.exit", "t.exit: invalid output: no output", "EPROTO", 0 },
        { "t.eacces", "cannot read the secret", "EACCES", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        install(e, cases[i].id);
    install(e, "t.good");
    assert_int_equal(posture_loader_load_so_dir(e->reg, e->dir, &e->opts), 6);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        posture_auto_run struct posture_run *run = NULL;
        uint64_t start = posture_now_usec(CLOCK_MONOTONIC);
        struct posture_result *r = run_check(e, cases[i].id, NULL, cases[i].timeout, &run);
        assert_error(r, cases[i].reason, cases[i].errno_name);
        assert_int_equal(run->n_abandoned, 0u);
        assert_true(posture_now_usec(CLOCK_MONOTONIC) - start < 10 * POSTURE_USEC_PER_SEC);
    }

    /* And the agent goes on: everything in one run, the good one still passes its verdict. */
    posture_auto_run struct posture_run *all = NULL;
    struct posture_run_opts opts = { .root_fd = e->root_fd, .timeout_usec = 300 * MSEC };
    char *only[] = { "t.crash", "t.loop", "t.flood", "t.exit", "t.eacces", "t.good", NULL };
    opts.only = only;
    assert_int_equal(posture_runner_run(e->reg, &opts, &all, NULL), 0);
    assert_int_equal(all->n_results, 6);
    size_t errors = 0;
    for (size_t i = 0; i < all->n_results; i++)
        errors += all->results[i]->status == POSTURE_STATUS_ERROR;
    assert_int_equal(errors, 5);
    assert_int_equal(posture_registry_find(e->reg, "t.good")->source, POSTURE_CHECK_SOURCE_SO);
}

static void test_reload(void **state)
{
    struct env *e = *state;

    /* Registries come and go (postured loads one per cycle): unload and load again. */
    install(e, "t.good");
    for (int i = 0; i < 3; i++) {
        posture_auto_registry struct posture_registry *reg = NULL;
        posture_auto_run struct posture_run *run = NULL;
        assert_int_equal(posture_registry_new(&reg), 0);
        assert_int_equal(posture_loader_load_so_dir(reg, e->dir, &e->opts), 1);
        struct posture_run_opts opts = { .root_fd = e->root_fd };
        assert_int_equal(posture_runner_run(reg, &opts, &run, NULL), 0);
        assert_int_equal(run->results[0]->status, POSTURE_STATUS_WARN);
    }
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d))
        n++;
    (void) closedir(d);
    return n;
}

/* postured loads a registry per cycle: duplicates and twins must not cost a descriptor each. */
static void test_duplicates(void **state)
{
    struct env *e = *state;
    char target[PATH_MAX], link[PATH_MAX];

    install(e, "t.good");
    (void) snprintf(target, sizeof(target), "%s/t.good.so", e->dir);
    (void) snprintf(link, sizeof(link), "%s/t.twin.so", e->dir);
    assert_int_equal(symlink(target, link), 0);

    int before = count_fds();
    for (int i = 0; i < 5; i++) {
        posture_auto_registry struct posture_registry *reg = NULL;
        assert_int_equal(posture_registry_new(&reg), 0);
        e->diags = posture_strv_free(e->diags);
        /* The directory twice: t.good once; t.twin is the same file under another name. */
        assert_int_equal(posture_loader_load_so_dir(reg, e->dir, &e->opts), 1);
        assert_int_equal(posture_loader_load_so_dir(reg, e->dir, &e->opts), 0);
        assert_int_equal(posture_registry_count(reg), 1);
        assert_non_null(
            strstr(diag_with(e, "/t.twin.so"), "the same file is already loaded as t.good"));
        assert_non_null(strstr(diag_with(e, "/t.good.so"), "already registered"));
    }
    assert_int_equal(count_fds(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_and_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
