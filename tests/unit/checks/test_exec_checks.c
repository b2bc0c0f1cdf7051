/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exec checks end to end through the loader and the runner (runner.h): verdicts, the process
 * contract (argv, environment, stdin, stderr to the debug log), and every way a hostile or
 * broken check becomes ERROR with the right reason while the agent carries on.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
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

#define MSEC POSTURE_USEC_PER_MSEC

/* A check printing a valid verdict for its own file name ($0 is /proc/self/fd/N: use NAME). */
#define VERDICT_BODY(name, status, evidence)                                         \
    "printf '%s' '{\"posture_check\":1,\"name\":\"" name "\",\"version\":\"1.0.0\"," \
    "\"status\":\"" status "\",\"reason\":\"because\",\"evidence\":" evidence "}'\n"
#define VERDICT(name, status, evidence) "#!/bin/sh\n" VERDICT_BODY(name, status, evidence)

struct env {
    char *dir;
    char *checks; /* dir/checks.d */
    int root_fd;
    char **log; /* debug lines */
};

static void sink(int level, const char *message, void *userdata)
{
    struct env *e = userdata;
    (void) level;
    assert_int_equal(posture_strv_extend(&e->log, message), 0);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    e->dir = posture_test_mkdtemp();
    assert_int_equal(chmod(e->dir, 0755), 0);
    assert_int_equal(asprintf(&e->checks, "%s/checks.d", e->dir), (int) strlen(e->dir) + 9);
    assert_int_equal(mkdir(e->checks, 0755), 0);
    assert_int_equal(chmod(e->checks, 0755), 0);
    assert_int_equal(posture_root_open("/", &e->root_fd), 0);
    posture_log_set_sink(sink, e);
    posture_log_set_max_level(LOG_DEBUG);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    posture_log_set_sink(NULL, NULL);
    posture_log_set_max_level(LOG_INFO);
    assert_int_equal(posture_test_rmdir_r(e->dir), 0);
    free(e->dir);
    free(e->checks);
    (void) close(e->root_fd);
    (void) posture_strv_free(e->log);
    free(e);
    return 0;
}

static void put_check(const struct env *e, const char *name, const char *script)
{
    char path[PATH_MAX];
    assert_int_equal(posture_test_write_file(e->checks, name, script), 0);
    (void) snprintf(path, sizeof(path), "%s/%s", e->checks, name);
    assert_int_equal(chmod(path, 0755), 0);
}

/* Load checks.d and run check id with config text (may be NULL) and the exec timeout. */
static struct posture_result *run_check(struct env *e,
                                        const char *id,
                                        const char *config_text,
                                        uint64_t timeout,
                                        struct posture_run **ret_run)
{
    posture_auto_registry struct posture_registry *reg = NULL;
    struct posture_config *config = NULL;
    struct posture_loader_opts lo = { .owner = getuid() };
    char *only[] = { (char *) id, NULL };

    assert_int_equal(posture_registry_new(&reg), 0);
    assert_true(posture_loader_load_exec_dir(reg, e->checks, &lo) >= 1);
    if (config_text) {
        assert_int_equal(posture_config_new(NULL, NULL, &config), 0);
        assert_int_equal(
            posture_config_parse_string(config, config_text, strlen(config_text), "test.conf"), 0);
    }
    struct posture_run_opts opts = {
        .root_fd = e->root_fd,
        .only = only,
        .config = config,
        .exec_timeout_usec = timeout,
    };
    assert_int_equal(posture_runner_run(reg, &opts, ret_run, NULL), 0);
    (void) posture_config_free(config);
    assert_int_equal((*ret_run)->n_results, 1);
    return (*ret_run)->results[0];
}

static const char *evidence_str(const struct posture_result *r, const char *key)
{
    return posture_json_get_str(r->evidence, key);
}

static void
assert_error(const struct posture_result *r, const char *reason_part, const char *errno_name)
{
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_non_null(r->reason);
    if (!strstr(r->reason, reason_part))
        fail_msg("reason '%s' lacks '%s'", r->reason, reason_part);
    assert_string_equal(evidence_str(r, "errno"), errno_name);
}

static void test_verdicts(void **state)
{
    struct env *e = *state;
    static const char *const statuses[] = { "pass", "warn", "fail", "not_applicable", "error" };

    put_check(e, "corp.pass", VERDICT("corp.pass", "pass", "{\"a\":[1,true,null]}"));
    put_check(e, "corp.warn", VERDICT("corp.warn", "warn", "{}"));
    put_check(e, "corp.fail", VERDICT("corp.fail", "fail", "{}"));
    put_check(e, "corp.not_applicable", VERDICT("corp.not_applicable", "not_applicable", "{}"));
    put_check(e, "corp.error", VERDICT("corp.error", "error", "{}"));
    for (int i = 0; i < 5; i++) {
        char id[64];
        posture_auto_run struct posture_run *run = NULL;
        (void) snprintf(id, sizeof(id), "corp.%s", statuses[i]);
        struct posture_result *r = run_check(e, id, NULL, 0, &run);
        assert_int_equal(r->status, i);
        assert_string_equal(r->id, id);
        assert_string_equal(r->version, "1.0.0"); /* from the output, not the descriptor */
        assert_string_equal(r->reason, "because");
        assert_int_equal(r->error, 0);
        assert_true(r->observed_at > 0);
        /* The check's own "error" verdict carries no errno: it decided. */
        assert_null(evidence_str(r, "errno"));
    }
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_check(e, "corp.pass", NULL, 0, &run);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r->evidence, "a");
    assert_int_equal(cJSON_GetArraySize(a), 3);
}

static void test_process_contract(void **state)
{
    struct env *e = *state;
    posture_auto_run struct posture_run *run = NULL;

    /* argv, environment and stdin, reported as evidence; stderr goes to the debug log. */
    put_check(
        e, "corp.env",
        "#!/bin/sh\n"
        "echo 'a line for the log' >&2\n"
        "echo 'second line' >&2\n"
        "env=$(env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | sort | tr '\\n' ' ')\n"
        "stdin=$(cat | wc -c)\n"
        "printf '{\"posture_check\":1,\"name\":\"corp.env\",\"version\":\"2\",\"status\":\"pass\","
        "\"reason\":\"r\",\"evidence\":{\"argc\":%d,\"arg1\":\"%s\",\"env\":\"%s\",\"stdin\":%d,"
        "\"pgid_is_pid\":%s}}' $# \"$1\" \"$env\" \"$stdin\" "
        "$( [ \"$(ps -o pgid= -p $$ | tr -d ' ')\" = \"$$\" ] && echo true || echo false)\n");
    struct posture_result *r = run_check(e, "corp.env", NULL, 0, &run);
    assert_int_equal(r->status, POSTURE_STATUS_PASS);
    int64_t argc = 0, stdin_bytes = -1;
    bool own_group = false;
    assert_int_equal(posture_json_get_int(r->evidence, "argc", &argc), 0);
    assert_int_equal(argc, 1);
    assert_string_equal(evidence_str(r, "arg1"), "--posture-json");
    assert_string_equal(evidence_str(r, "env"), "LANG=C PATH=/usr/sbin:/usr/bin:/sbin:/bin ");
    assert_int_equal(posture_json_get_int(r->evidence, "stdin", &stdin_bytes), 0);
    assert_int_equal(stdin_bytes, 0);
    assert_int_equal(posture_json_get_bool(r->evidence, "pgid_is_pid", &own_group), 0);
    assert_true(own_group);

    bool seen1 = false, seen2 = false;
    POSTURE_FOREACH_STRV (line, e->log) {
        seen1 |= strstr(line, "check/corp.env: stderr: a line for the log") != NULL;
        seen2 |= strstr(line, "check/corp.env: stderr: second line") != NULL;
    }
    assert_true(seen1);
    assert_true(seen2);
}

static void test_broken_output(void **state)
{
    struct env *e = *state;
    struct {
        const char *name, *script, *reason, *errno_name;
    } cases[] = {
        { "corp.exit", "#!/bin/sh\necho '{}'\nexit 3\n", "corp.exit exited with status 3",
          "EPROTO" },
        { "corp.signal", "#!/bin/sh\nkill -SEGV $$\n", "corp.signal was killed by SIGSEGV",
          "EPROTO" },
        { "corp.silent", "#!/bin/sh\nexit 0\n", "corp.silent: invalid output: no output",
          "EPROTO" },
        { "corp.garbage", "#!/bin/sh\necho 'all good!'\n",
          "invalid output: output is not valid JSON", "EPROTO" },
        { "corp.name", VERDICT("corp.other", "pass", "{}"),
          "invalid output: name 'corp.other' differs from the check id 'corp.name'", "EPROTO" },
        { "corp.trailing",
          "#!/bin/sh\nprintf '%s\\n%s\\n' '{\"posture_check\":1,\"name\":\"corp.trailing\","
          "\"version\":\"1\",\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{}}' 'done'\n",
          "invalid output: trailing data after the JSON document", "EPROTO" },
        { "corp.nul", "#!/bin/sh\nprintf '{\\000}'\n", "invalid output: output contains a NUL byte",
          "EPROTO" },
        { "corp.latin1", "#!/bin/sh\nprintf '\\351'\n", "invalid output: output is not valid UTF-8",
          "EPROTO" },
        { "corp.missing", "#!/bin/sh\nprintf '{\"posture_check\":1,\"name\":\"corp.missing\"}'\n",
          "invalid output: member \"version\" is missing", "EPROTO" },
        { "corp.flood", "#!/bin/sh\nhead -c 100000000 /dev/zero\n",
          "corp.flood: output over 64 KiB", "E2BIG" },
        { "corp.notexec", "not a script at all\n", "corp.notexec could not be started (ENOEXEC)",
          "ENOEXEC" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        put_check(e, cases[i].name, cases[i].script);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        posture_auto_run struct posture_run *run = NULL;
        struct posture_result *r = run_check(e, cases[i].name, NULL, 0, &run);
        assert_error(r, cases[i].reason, cases[i].errno_name);
        assert_int_equal(run->overall, POSTURE_STATUS_ERROR);
    }
}

static void test_timeout_kills_the_group(void **state)
{
    struct env *e = *state;
    posture_auto_run struct posture_run *run = NULL;
    char pidfile[PATH_MAX], script[PATH_MAX + 256];

    /* The check leaves a grandchild behind and hangs, ignoring SIGTERM. */
    (void) snprintf(pidfile, sizeof(pidfile), "%s/grandchild.pid", e->dir);
    (void) snprintf(
        script, sizeof(script),
        "#!/bin/sh\ntrap '' TERM\nsleep 60 &\necho $! > %s\nwhile :; do sleep 1; done\n", pidfile);
    put_check(e, "corp.hang", script);
    uint64_t start = posture_now_usec(CLOCK_MONOTONIC);
    struct posture_result *r = run_check(e, "corp.hang", NULL, 300 * MSEC, &run);
    uint64_t took = posture_now_usec(CLOCK_MONOTONIC) - start;
    assert_error(r, "corp.hang did not finish within 300ms", "ETIMEDOUT");
    assert_int_equal(r->error, -ETIMEDOUT);
    assert_true(took < 5 * POSTURE_USEC_PER_SEC); /* 300 ms + the kill grace */
    assert_int_equal(run->n_abandoned, 0u);

    /* The grandchild died with the group. */
    posture_autofree char *pid_text = NULL;
    assert_int_equal(posture_read_file_at(e->root_fd, pidfile, 64, &pid_text, NULL), 0);
    pid_t pid = (pid_t) strtol(pid_text, NULL, 10);
    assert_true(pid > 1);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = kill(pid, 0) < 0;
        if (!gone)
            (void) usleep(20000);
    }
    assert_true(gone);

    /* [check.<id>] timeout overrides exec_timeout. */
    posture_auto_run struct posture_run *run2 = NULL;
    put_check(e, "corp.slow", "#!/bin/sh\nsleep 0.5\n" VERDICT_BODY("corp.slow", "pass", "{}"));
    r = run_check(e, "corp.slow", "[check.corp.slow]\ntimeout = 100ms\n", 0, &run2);
    assert_error(r, "did not finish within 100ms", "ETIMEDOUT");
}

static void test_user(void **state)
{
    struct env *e = *state;
    put_check(e, "corp.whoami",
              "#!/bin/sh\nprintf '{\"posture_check\":1,\"name\":\"corp.whoami\",\"version\":\"1\","
              "\"status\":\"pass\",\"reason\":\"r\",\"evidence\":{\"uid\":%d,\"gid\":%d,"
              "\"groups\":\"%s\"}}' $(id -u) $(id -g) \"$(id -G)\"\n");

    posture_auto_run struct posture_run *run1 = NULL, *run2 = NULL, *run3 = NULL;
    struct posture_result *r =
        run_check(e, "corp.whoami", "[check.corp.whoami]\nuser = no-such-user-posture\n", 0, &run1);
    assert_error(r, "user 'no-such-user-posture' of [check.corp.whoami] does not exist", "ESRCH");
    r = run_check(e, "corp.whoami", "[check.corp.whoami]\nuser = root\n", 0, &run2);
    assert_error(r, "refusing to run it as user 'root', which is root", "EPERM");

    r = run_check(e, "corp.whoami", "[check.corp.whoami]\nuser = nobody\n", 0, &run3);
    if (geteuid() != 0 && geteuid() != 65534) {
        assert_error(r, "the agent lacks the privilege to run it as the configured user", "EPERM");
        return;
    }
    /* As root it switches; as nobody it already is that user. */
    assert_int_equal(r->status, POSTURE_STATUS_PASS);
    int64_t uid = -1, gid = -1;
    assert_int_equal(posture_json_get_int(r->evidence, "uid", &uid), 0);
    assert_int_equal(posture_json_get_int(r->evidence, "gid", &gid), 0);
    assert_int_equal(uid, 65534);
    assert_int_equal(gid, 65534);
    assert_string_equal(evidence_str(r, "groups"), "65534");
}

static void test_survives_everything_in_one_run(void **state)
{
    struct env *e = *state;
    posture_auto_registry struct posture_registry *reg = NULL;
    posture_auto_run struct posture_run *run = NULL;
    struct posture_loader_opts lo = { .owner = getuid() };

    put_check(e, "a.crash", "#!/bin/sh\nkill -SEGV $$\n");
    put_check(e, "b.hang", "#!/bin/sh\nwhile :; do :; done\n");
    put_check(e, "c.good", VERDICT("c.good", "pass", "{}"));
    assert_int_equal(posture_registry_new(&reg), 0);
    assert_int_equal(posture_loader_load_exec_dir(reg, e->checks, &lo), 3);
    struct posture_run_opts opts = { .root_fd = e->root_fd, .exec_timeout_usec = 200 * MSEC };
    assert_int_equal(posture_runner_run(reg, &opts, &run, NULL), 0);
    assert_int_equal(run->n_results, 3);
    assert_int_equal(run->results[0]->status, POSTURE_STATUS_ERROR);
    assert_int_equal(run->results[1]->status, POSTURE_STATUS_ERROR);
    assert_int_equal(run->results[2]->status, POSTURE_STATUS_PASS);
    assert_int_equal(posture_run_exit_status(run), 3);
}

static void test_validate_config(void **state)
{
    struct env *e = *state;
    posture_auto_registry struct posture_registry *reg = NULL;
    struct posture_loader_opts lo = { .owner = getuid() };
    unsigned errors = 0;

    put_check(e, "corp.x", VERDICT("corp.x", "pass", "{}"));
    assert_int_equal(posture_registry_new(&reg), 0);
    assert_int_equal(posture_loader_load_exec_dir(reg, e->checks, &lo), 1);

    struct {
        const char *text;
        int expect;
        const char *log;
    } cases[] = {
        { "[check.corp.x]\nuser = nobody\ntimeout = 30s\n", 0, NULL },
        { "[check.corp.x]\nthreshold = 3\n", 0,
          "unknown option 'threshold' for exec check corp.x" },
        { "[check.corp.x]\ntimeout = soon\n", -EINVAL,
          "invalid value 'soon' for [check.corp.x] timeout" },
        { "[check.corp.x]\ntimeout = 0\n", -EINVAL, "timeout" },
        { "[check.corp.x]\nuser = root\n", -EINVAL, "user = root" },
        { "[check.corp.x]\nuser = a b\n", -EINVAL, "expected a user name" },
        { "[check.corp.x]\nuser = -x\n", -EINVAL, "expected a user name" },
    };
    (void) errors;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct posture_config *c = NULL;
        e->log = posture_strv_free(e->log);
        assert_int_equal(posture_config_new(NULL, NULL, &c), 0);
        assert_int_equal(
            posture_config_parse_string(c, cases[i].text, strlen(cases[i].text), "t.conf"), 0);
        assert_int_equal(posture_runner_validate_config(reg, c), cases[i].expect);
        if (cases[i].log) {
            bool seen = false;
            POSTURE_FOREACH_STRV (line, e->log)
                seen |= strstr(line, cases[i].log) != NULL;
            if (!seen)
                fail_msg("case %zu: no log line with '%s'", i, cases[i].log);
        }
        (void) posture_config_free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verdicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_process_contract, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_the_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_everything_in_one_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
