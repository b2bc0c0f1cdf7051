/* SPDX-License-Identifier: Apache-2.0 */
/*
 * process.running on fixture roots (fake /proc trees whose exe entries are symlinks), on roots
 * built on the fly (unreadable /proc entries, symlinks that try to leave the root), and on the
 * real /proc with a spawned copy of sleep(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "posture/config.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/registry.h"
#include "posture/result.h"
#include "posture/runner.h"

#include "checktest.h"
#include "file_digest.h"

extern char **environ;

#define FALCON     "/opt/CrowdStrike/falcon-sensor"
#define WAZUH      "/var/ossec/bin/wazuh-agentd"
#define FALCON_SHA "316865395f42d2bdf1fd3d0f1f6bbf6d276a122364b9469ecb0b76fce59b06d2"
#define OTHER_SHA  "0000000000000000000000000000000000000000000000000000000000000001"
#define BOTH       "required = " FALCON " " WAZUH "\n"
#define PIN        "sha256 = " FALCON "=" FALCON_SHA "\n"

enum { NUL = -1, ABSENT = -2 };

struct proc_expect {
    const char *path;
    int pids;
    bool deleted;
    int match;          /* 1, 0, NUL */
    const char *sha256; /* NULL: no key; "": null */
};

struct expect {
    const char *scenario;
    const char *config;
    int status;
    int error;
    const char *reason;
    int seen; /* processes_seen, or ABSENT when not checked */
    struct proc_expect procs[3];
};

/* A whole host file (not through a root). */
static char *read_host(const char *path, size_t max, size_t *ret_len)
{
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(posture_read_fd(fd, max, &buf, ret_len), 0);
    (void) close(fd);
    return buf;
}

static struct posture_result *
run_check(const char *root, const char *config, struct posture_run **ret_run)
{
    struct posture_result *r = posture_test_run_check("process.running", root, config, ret_run);
    assert_string_equal(r->version, "1.0.0");
    return r;
}

static void expect_proc(const cJSON *procs, size_t i, const struct proc_expect *p)
{
    const cJSON *o = cJSON_GetArrayItem(procs, (int) i);
    assert_non_null(o);
    posture_test_expect_str(o, "path", p->path);
    assert_true(cJSON_IsBool(posture_test_json_get(o, "running")));
    assert_int_equal(cJSON_IsTrue(posture_test_json_get(o, "running")), p->pids > 0);
    assert_int_equal(posture_test_json_get(o, "pids")->valuedouble, p->pids);
    assert_int_equal(cJSON_IsTrue(posture_test_json_get(o, "deleted")), p->deleted);
    const cJSON *m = posture_test_json_get(o, "match");
    if (p->match == NUL)
        assert_true(cJSON_IsNull(m));
    else
        assert_true(cJSON_IsBool(m) && cJSON_IsTrue(m) == (p->match == 1));
    if (!p->sha256)
        assert_null(cJSON_GetObjectItemCaseSensitive(o, "sha256"));
    else
        posture_test_expect_str(o, "sha256", p->sha256[0] ? p->sha256 : NULL);
    /* The documented keys, in order. */
    static const char *const keys[] = { "path", "running", "pids", "deleted", "sha256", "match" };
    const cJSON *k = o->child;
    for (size_t j = 0; j < POSTURE_ELEMENTSOF(keys); j++) {
        if (!p->sha256 && strcmp(keys[j], "sha256") == 0)
            continue;
        assert_non_null(k);
        assert_string_equal(k->string, keys[j]);
        k = k->next;
    }
    assert_null(k);
}

static void check_expect(const struct posture_result *r, const struct expect *x)
{
    if (r->status != x->status || r->error != x->error)
        fail_msg("%s: status %d error %d (%s), expected %d %d", x->scenario, r->status, r->error,
                 r->reason, x->status, x->error);
    if (x->reason && strcmp(r->reason, x->reason) != 0)
        fail_msg("%s: reason '%s', expected '%s'", x->scenario, r->reason, x->reason);
    if (x->status == POSTURE_STATUS_PASS || x->status == POSTURE_STATUS_NOT_APPLICABLE)
        assert_null(r->remediation);
    else
        assert_true(r->remediation && strlen(r->remediation) > 10);
    if (x->error == -EINVAL || x->error == -ENOENT) {
        assert_int_equal(cJSON_GetArraySize(r->evidence), 1); /* errno only */
        posture_test_expect_str(r->evidence, "errno", posture_errno_name(x->error));
        return;
    }
    const cJSON *procs = posture_test_json_get(r->evidence, "processes");
    assert_true(cJSON_IsArray(procs));
    size_t n = 0;
    while (n < POSTURE_ELEMENTSOF(x->procs) && x->procs[n].path)
        n++;
    assert_int_equal(cJSON_GetArraySize(procs), n);
    for (size_t i = 0; i < n; i++)
        expect_proc(procs, i, &x->procs[i]);
    if (x->seen != ABSENT)
        assert_int_equal(posture_test_json_get(r->evidence, "processes_seen")->valuedouble,
                         x->seen);
    assert_true(cJSON_IsNumber(posture_test_json_get(r->evidence, "exe_unreadable")));
    assert_true(cJSON_IsBool(posture_test_json_get(r->evidence, "proc_hidden")));
    if (x->status == POSTURE_STATUS_ERROR)
        posture_test_expect_str(r->evidence, "errno", posture_errno_name(x->error));
    else
        assert_null(cJSON_GetObjectItemCaseSensitive(r->evidence, "errno"));
}

/* clang-format off */
static const struct expect fixtures[] = {
    { "edr-running", BOTH, POSTURE_STATUS_PASS, 0, "All 2 required processes run", 6,
      { { FALCON, 2, false, 1, NULL }, { WAZUH, 1, false, 1, NULL } } },
    { "edr-running", BOTH PIN, POSTURE_STATUS_PASS, 0,
      "All 2 required processes run, pinned ones with their SHA-256", 6,
      { { FALCON, 2, false, 1, FALCON_SHA }, { WAZUH, 1, false, 1, NULL } } },
    /* Pins are case-insensitive; the evidence is lower case. */
    { "edr-running", "required = " FALCON "\nsha256 = " FALCON
      "=316865395F42D2BDF1FD3D0F1F6BBF6D276A122364B9469ECB0B76FCE59B06D2\n",
      POSTURE_STATUS_PASS, 0, FALCON " runs, with the pinned SHA-256", 6,
      { { FALCON, 2, false, 1, FALCON_SHA } } },
    { "edr-running", BOTH "sha256 = " FALCON "=" OTHER_SHA "\n", POSTURE_STATUS_FAIL, 0,
      "SHA-256 differs from the pin: " FALCON, 6,
      { { FALCON, 2, false, 0, FALCON_SHA }, { WAZUH, 1, false, 1, NULL } } },
    /* Duplicates count once; a process named like the agent with another exe never matches. */
    { "edr-running", "required = " FALCON " " FALCON " /tmp/falcon\n", POSTURE_STATUS_FAIL, 0,
      "Required process not running: /tmp/falcon", 6,
      { { FALCON, 2, false, 1, NULL }, { "/tmp/falcon", 0, false, 0, NULL } } },
    { "edr-missing", "required = " FALCON "\n", POSTURE_STATUS_FAIL, 0,
      "Required process not running: " FALCON, 3, { { FALCON, 0, false, 0, NULL } } },
    { "edr-missing", BOTH PIN, POSTURE_STATUS_FAIL, 0,
      "Required processes not running: " FALCON ", " WAZUH, 3,
      { { FALCON, 0, false, 0, "" }, { WAZUH, 0, false, 0, NULL } } },
    { "deleted", BOTH, POSTURE_STATUS_WARN, 0,
      "Running, but from a deleted binary (upgraded or removed without a restart): " FALCON, 3,
      { { FALCON, 1, true, 1, NULL }, { WAZUH, 1, false, 1, NULL } } },
    { "deleted", BOTH PIN, POSTURE_STATUS_FAIL, 0,
      "runs a deleted binary, which cannot match its SHA-256 pin: " FALCON, 3,
      { { FALCON, 1, true, 0, "" }, { WAZUH, 1, false, 1, NULL } } },
    { "not-configured", NULL, POSTURE_STATUS_NOT_APPLICABLE, 0,
      "No required processes are configured ([check.process.running] required is empty)", 0,
      { { 0 } } },
    { "not-configured", "required =\n", POSTURE_STATUS_NOT_APPLICABLE, 0, NULL, 0, { { 0 } } },
    { "no-proc", NULL, POSTURE_STATUS_NOT_APPLICABLE, 0, NULL, 0, { { 0 } } },
    { "no-proc", "required = " FALCON "\n", POSTURE_STATUS_ERROR, -ENOENT,
      "Cannot list /proc: No such file or directory", ABSENT, { { 0 } } },
    /* Bad options. */
    { "edr-running", "required = falcon-sensor\n", POSTURE_STATUS_ERROR, -EINVAL,
      "Invalid option required: 'falcon-sensor' is not an absolute path", ABSENT, { { 0 } } },
    { "edr-running", "required = " FALCON "\nsha256 = " WAZUH "=" FALCON_SHA "\n",
      POSTURE_STATUS_ERROR, -EINVAL,
      "Invalid option sha256: '" WAZUH "=" FALCON_SHA "' pins a path that is not required",
      ABSENT, { { 0 } } },
    { "edr-running", "sha256 = " FALCON "=" FALCON_SHA "\n", POSTURE_STATUS_ERROR, -EINVAL,
      NULL, ABSENT, { { 0 } } },
    { "edr-running", "required = " FALCON "\nsha256 = " FALCON "=abc\n", POSTURE_STATUS_ERROR,
      -EINVAL, "Invalid option sha256: '" FALCON "=abc' does not end in 64 hex digits", ABSENT,
      { { 0 } } },
    { "edr-running", "required = " FALCON "\nsha256 = " FALCON "\n", POSTURE_STATUS_ERROR,
      -EINVAL, "Invalid option sha256: '" FALCON "' is not path=<sha256>", ABSENT, { { 0 } } },
    { "edr-running", "required = " FALCON "\nsha256 = " FALCON "=" FALCON_SHA " " FALCON "="
      OTHER_SHA "\n", POSTURE_STATUS_ERROR, -EINVAL, NULL, ABSENT, { { 0 } } },
};
/* clang-format on */

static void test_fixtures(void **state)
{
    (void) state;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(fixtures); i++) {
        char rel[256];
        posture_auto_run struct posture_run *run = NULL;
        (void) snprintf(rel, sizeof(rel), "fixtures/roots/process.running/%s",
                        fixtures[i].scenario);
        print_message("  %s\n", fixtures[i].scenario);
        struct posture_result *r = run_check(posture_test_path(rel), fixtures[i].config, &run);
        check_expect(r, &fixtures[i]);
    }
}

/* The scenario's .conf (used by the verifier integration test) says what this test says. */
static void test_fixture_configs(void **state)
{
    (void) state;
    static const struct {
        const char *scenario;
        int status;
    } cases[] = {
        { "edr-running", POSTURE_STATUS_PASS },
        { "edr-missing", POSTURE_STATUS_FAIL },
        { "deleted", POSTURE_STATUS_WARN },
        { "no-proc", POSTURE_STATUS_ERROR },
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        char rel[256];
        posture_autofree char *conf = NULL;
        posture_auto_run struct posture_run *run = NULL;
        (void) snprintf(rel, sizeof(rel), "fixtures/roots/process.running/%s.conf",
                        cases[i].scenario);
        conf = read_host(posture_test_path(rel), 4096, NULL);
        const char *body = strchr(conf, '\n'); /* past the section header */
        assert_non_null(body);
        (void) snprintf(rel, sizeof(rel), "fixtures/roots/process.running/%s", cases[i].scenario);
        struct posture_result *r = run_check(posture_test_path(rel), body + 1, &run);
        assert_int_equal(r->status, cases[i].status);
    }
}

/* A /proc entry that is a symlink out of the root is not followed, and a pinned exe is hashed
 * inside the root, never on the host. */
static void test_stays_in_root(void **state)
{
    (void) state;
    posture_autofree char *tmp = posture_test_mkdtemp();
    posture_auto_run struct posture_run *run = NULL;
    char root[4096], cfg[512];

    assert_int_equal(posture_test_symlink(tmp, "outside/exe", "/opt/agent"), 0);
    assert_int_equal(posture_test_symlink(tmp, "root/proc/77", "../../outside"), 0);
    /* /etc/hostname exists on the host too, with other bytes. */
    assert_int_equal(posture_test_write_file(tmp, "root/etc/hostname", "inside\n"), 0);
    assert_int_equal(posture_test_symlink(tmp, "root/proc/5/exe", "/etc/hostname"), 0);
    (void) snprintf(root, sizeof(root), "%s/root", tmp);
    /* sha256("inside\n") */
    (void) snprintf(cfg, sizeof(cfg),
                    "required = /opt/agent /etc/hostname\nsha256 = /etc/hostname="
                    "%s\n",
                    "7b2441693c861bf6969869d8b6f45f098bc8ef07b78ca043a1cb663159aabb10");
    struct posture_result *r = run_check(root, cfg, &run);
    const cJSON *procs = posture_test_json_get(r->evidence, "processes");
    const cJSON *agent = cJSON_GetArrayItem(procs, 0);
    const cJSON *host = cJSON_GetArrayItem(procs, 1);
    assert_int_equal(posture_test_json_get(agent, "pids")->valuedouble, 0);
    assert_int_equal(posture_test_json_get(host, "pids")->valuedouble, 1);
    /* The digest is of the root's file, whatever the pin says. */
    posture_autoclose int fd = -1;
    char hex[POSTURE_SHA256_HEX_LEN + 1];
    assert_int_equal(posture_root_open(root, &fd), 0);
    int f = -1;
    assert_int_equal(posture_open_at_root(fd, "/etc/hostname", O_RDONLY, &f), 0);
    assert_int_equal(posture_sha256_fd(f, 1024, NULL, 0, hex, NULL), 0);
    (void) close(f);
    posture_test_expect_str(host, "sha256", hex);
    assert_int_equal(r->status, POSTURE_STATUS_FAIL); /* /opt/agent does not run */
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

/* A root whose /proc/100 we may not search: the exe link is unreadable. Run as nobody; the
 * child reports through its exit status. */
static int unreadable_child(const char *root)
{
    posture_auto_registry struct posture_registry *reg = NULL;
    posture_auto_run struct posture_run *run = NULL;
    posture_auto_config struct posture_config *config = NULL;
    char *only[] = { "process.running", NULL };
    static const char text[] = "[check.process.running]\nrequired = /opt/agent\n";
    int fd;

    if (posture_config_new(NULL, NULL, &config) < 0 ||
        posture_config_parse_string(config, text, strlen(text), "t.conf") < 0)
        return 9;
    if (posture_registry_new(&reg) < 0 || posture_registry_add_builtins(reg) < 0)
        return 10;
    if (posture_root_open(root, &fd) < 0)
        return 11;
    struct posture_run_opts opts = {
        .root_fd = fd, .root_path = root, .only = only, .config = config
    };
    int r = posture_runner_run(reg, &opts, &run, NULL);
    (void) close(fd);
    if (r < 0 || run->n_results != 1)
        return 12;
    const struct posture_result *res = run->results[0];
    if (res->status != POSTURE_STATUS_ERROR || res->error != -EACCES)
        return 13;
    if (!strstr(res->reason, "Not among the visible processes: /opt/agent; but the executables "
                             "of 1 processes could not be read, so the agent cannot see other "
                             "users' processes (needs CAP_SYS_PTRACE or root)"))
        return 14;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(res->evidence, "exe_unreadable");
    if (!cJSON_IsNumber(u) || u->valuedouble != 1)
        return 15;
    return 0;
}

static void test_unreadable(void **state)
{
    (void) state;
    posture_autofree char *tmp = posture_test_mkdtemp();
    char path[4096];

    assert_int_equal(posture_test_symlink(tmp, "proc/100/exe", "/opt/other"), 0);
    assert_int_equal(posture_test_symlink(tmp, "proc/101/exe", "/opt/mine"), 0);
    (void) snprintf(path, sizeof(path), "%s/proc/100", tmp);
    assert_int_equal(chmod(path, 0), 0);
    assert_int_equal(chmod(tmp, 0755), 0);

    if (geteuid() != 0) {
        assert_int_equal(unreadable_child(tmp), 0);
    } else {
        /* Root reads it: a definite fail. */
        posture_auto_run struct posture_run *run = NULL;
        struct posture_result *r = run_check(tmp, "required = /opt/agent\n", &run);
        assert_int_equal(r->status, POSTURE_STATUS_FAIL);
        assert_int_equal(posture_test_json_get(r->evidence, "exe_unreadable")->valuedouble, 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                setresuid(65534, 65534, 65534) < 0)
                _exit(20);
            _exit(unreadable_child(tmp));
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    /* Found among the readable ones: the unreadable entry does not matter. */
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_check(tmp, "required = /opt/mine\n", &run);
    assert_int_equal(r->status, POSTURE_STATUS_PASS);
    (void) chmod(path, 0755);
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

/* ---- The real /proc with a spawned process ---- */

static char *copy_sleep(char **ret_dir)
{
    /* In the working directory (the build tree): /tmp may be mounted noexec. */
    char tmpl[] = "proc-running-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char *dir = realpath(tmpl, NULL);
    assert_non_null(dir);
    char *bin = NULL;
    assert_true(asprintf(&bin, "%s/posture-dummy-agent", dir) > 0);

    posture_autofree char *data = NULL;
    size_t len = 0;
    const char *src = access("/bin/sleep", X_OK) == 0 ? "/bin/sleep" : "/usr/bin/sleep";
    data = read_host(src, 64u << 20, &len);
    int fd = open(bin, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    assert_int_equal(close(fd), 0);
    *ret_dir = dir;
    return bin;
}

static bool exe_is(pid_t pid, const char *want)
{
    char link[64], buf[4200];
    (void) snprintf(link, sizeof(link), "/proc/%d/exe", (int) pid);
    ssize_t n = readlink(link, buf, sizeof(buf) - 1);
    if (n < 0)
        return false;
    buf[n] = '\0';
    return strncmp(buf, want, strlen(want)) == 0;
}

static struct posture_result *run_host(const char *config, struct posture_run **run)
{
    return run_check("/", config, run);
}

static void test_real_process(void **state)
{
    (void) state;
    posture_autofree char *dir = NULL;
    posture_autofree char *bin = copy_sleep(&dir);
    char hex[POSTURE_SHA256_HEX_LEN + 1];
    char req[4300], pinned[4500], wrong[4500];
    pid_t pid;

    posture_autoclose int fd = open(bin, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(posture_sha256_fd(fd, POSTURE_DIGEST_SIZE_MAX, NULL, 0, hex, NULL), 0);
    (void) snprintf(req, sizeof(req), "required = %s\n", bin);
    (void) snprintf(pinned, sizeof(pinned), "%ssha256 = %s=%s\n", req, bin, hex);
    (void) snprintf(wrong, sizeof(wrong), "%ssha256 = %s=%s\n", req, bin, OTHER_SHA);

    char *argv[] = { bin, "30", NULL };
    assert_int_equal(posix_spawn(&pid, bin, NULL, NULL, argv, environ), 0);
    for (int i = 0; i < 200 && !exe_is(pid, bin); i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        (void) nanosleep(&ts, NULL);
    }
    assert_true(exe_is(pid, bin));

    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_host(pinned, &run);
    if (r->status != POSTURE_STATUS_PASS)
        fail_msg("pinned: %s", r->reason);
    const cJSON *p = cJSON_GetArrayItem(posture_test_json_get(r->evidence, "processes"), 0);
    assert_int_equal(posture_test_json_get(p, "pids")->valuedouble, 1);
    posture_test_expect_str(p, "sha256", hex);
    assert_true(posture_test_json_get(r->evidence, "processes_seen")->valuedouble > 1);
    run = posture_run_free(run);

    r = run_host(wrong, &run);
    assert_int_equal(r->status, POSTURE_STATUS_FAIL);
    assert_non_null(strstr(r->reason, "SHA-256 differs from the pin"));
    p = cJSON_GetArrayItem(posture_test_json_get(r->evidence, "processes"), 0);
    posture_test_expect_str(p, "sha256", hex); /* the running binary's */
    run = posture_run_free(run);

    /* Removed while it runs: the kernel reports "<path> (deleted)". */
    assert_int_equal(unlink(bin), 0);
    r = run_host(req, &run);
    assert_int_equal(r->status, POSTURE_STATUS_WARN);
    p = cJSON_GetArrayItem(posture_test_json_get(r->evidence, "processes"), 0);
    assert_true(cJSON_IsTrue(posture_test_json_get(p, "deleted")));
    run = posture_run_free(run);
    r = run_host(pinned, &run);
    assert_int_equal(r->status, POSTURE_STATUS_FAIL);
    assert_non_null(strstr(r->reason, "runs a deleted binary"));
    run = posture_run_free(run);

    /* Gone: fail, or error when other users' processes were invisible to us. */
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    r = run_host(req, &run);
    double unreadable = posture_test_json_get(r->evidence, "exe_unreadable")->valuedouble;
    bool hidden = cJSON_IsTrue(posture_test_json_get(r->evidence, "proc_hidden"));
    print_message("  after kill: %s (%g unreadable)\n", r->reason, unreadable);
    if (unreadable > 0 || hidden) {
        /* as another user, or as root without CAP_SYS_PTRACE (a container) */
        assert_int_equal(r->status, POSTURE_STATUS_ERROR);
        assert_int_equal(r->error, -EACCES);
        assert_non_null(strstr(r->reason, "(needs CAP_SYS_PTRACE or root)"));
    } else {
        assert_int_equal(r->status, POSTURE_STATUS_FAIL);
        assert_non_null(strstr(r->reason, "Required process not running: "));
    }
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        POSTURE_TEST_ON_OPENAT2(test_fixtures),       POSTURE_TEST_ON_FALLBACK(test_fixtures),
        cmocka_unit_test(test_fixture_configs),       POSTURE_TEST_ON_OPENAT2(test_stays_in_root),
        POSTURE_TEST_ON_FALLBACK(test_stays_in_root), cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_real_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
