/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The digest and pin helpers (file_digest.h), and file.present on fixture roots and on roots
 * built on the fly (owners, modes, FIFOs, unreadable directories).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posture/config.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/registry.h"
#include "posture/result.h"
#include "posture/runner.h"

#include "checktest.h"
#include "file_digest.h"

#define CA       "/etc/ssl/certs/corp-root.pem"
#define MDM      "/var/lib/mdm/enrolled"
#define CA_SHA   "9de4108a68eea1397bf7d0867df5989779dae5e2158309dc85dc34e27551c3bc"
#define BAD_SHA  "5c326d6b400275d7e64512d715d04806f179ff14d2943174049187953ac745a5"
#define MDM_SHA  "6ba2084b242df080c9af278b0a0c603ff69eec05bc4b0ed7e9b00416f6a2c798"
#define EMPTY    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define BOTH     "files = " CA " " MDM "\n"
#define PIN      "sha256 = " CA "=" CA_SHA "\n"
#define FIX_MENT "Fix [check.file.present]"

/* ---- file_digest.h ---- */

static uint64_t late(void)
{
    return UINT64_MAX;
}

static uint64_t early(void)
{
    return 0;
}

static int mem_fd(const char *data, size_t n)
{
    int fd = memfd_create("digest", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t) n);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static void test_digest(void **state)
{
    (void) state;
    char hex[POSTURE_SHA256_HEX_LEN + 1] = "untouched";
    uint64_t size = 7;

    posture_autoclose int empty = mem_fd("", 0);
    assert_int_equal(posture_sha256_fd(empty, 10, NULL, 0, hex, &size), 0);
    assert_string_equal(hex, EMPTY);
    assert_int_equal(size, 0);

    posture_autoclose int abc = mem_fd("abc", 3);
    assert_int_equal(posture_sha256_fd(abc, 3, early, 5, hex, &size), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(size, 3);

    /* Bounds and deadline: nothing is written on failure. */
    (void) snprintf(hex, sizeof(hex), "untouched");
    size = 7;
    posture_autoclose int four = mem_fd("abcd", 4);
    assert_int_equal(posture_sha256_fd(four, 3, NULL, 0, hex, &size), -EFBIG);
    assert_int_equal(lseek(four, 0, SEEK_SET), 0);
    assert_int_equal(posture_sha256_fd(four, 4, late, 5, hex, &size), -ETIMEDOUT);
    assert_string_equal(hex, "untouched");
    assert_int_equal(size, 7);
    assert_int_equal(posture_sha256_fd(-1, 4, NULL, 0, hex, NULL), -EINVAL);
    assert_int_equal(posture_sha256_fd(four, 4, NULL, 0, NULL, NULL), -EINVAL);
    int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dir >= 0);
    assert_int_equal(posture_sha256_fd(dir, 4, NULL, 0, hex, NULL), -EIO);
    (void) close(dir);
}

static void test_pins(void **state)
{
    (void) state;
    size_t len = 99;
    const char *v = "untouched";

    assert_int_equal(posture_pin_split("/a/b=c", &len, &v), 0);
    assert_int_equal(len, 4);
    assert_string_equal(v, "c");
    assert_int_equal(posture_pin_split("/a=b=0644", &len, &v), 0); /* the last '=' splits */
    assert_int_equal(len, 4);
    assert_string_equal(v, "0644");
    len = 99;
    v = "untouched";
    assert_int_equal(posture_pin_split("a/b=c", &len, &v), -EINVAL);
    assert_int_equal(posture_pin_split("/a/b=", &len, &v), -EINVAL);
    assert_int_equal(posture_pin_split("/a/b", &len, &v), -EINVAL);
    assert_int_equal(posture_pin_split("=x", &len, &v), -EINVAL);
    assert_int_equal(posture_pin_split("", &len, &v), -EINVAL);
    assert_int_equal(posture_pin_split(NULL, &len, &v), -EINVAL);
    assert_int_equal(len, 99);
    assert_string_equal(v, "untouched");

    const char *const pins[] = { "bad", "/a=1", "/ab=2", "/a=3" };
    assert_string_equal(posture_pin_find(pins, 4, "/a"), "1");
    assert_string_equal(posture_pin_find(pins, 4, "/ab"), "2");
    assert_null(posture_pin_find(pins, 4, "/"));
    assert_null(posture_pin_find(pins, 4, "bad"));
    assert_null(posture_pin_find(pins, 0, "/a"));
    assert_null(posture_pin_find(NULL, 4, "/a"));

    assert_true(posture_sha256_hex_is_valid(CA_SHA));
    assert_true(posture_sha256_hex_is_valid(
        "9DE4108A68EEA1397BF7D0867DF5989779DAE5E2158309DC85DC34E27551C3BC"));
    assert_false(posture_sha256_hex_is_valid(CA_SHA "0"));
    assert_false(posture_sha256_hex_is_valid(
        "9de4108a68eea1397bf7d0867df5989779dae5e2158309dc85dc34e27551c3b"));
    assert_false(posture_sha256_hex_is_valid(
        "9de4108a68eea1397bf7d0867df5989779dae5e2158309dc85dc34e27551c3bg"));
    assert_false(posture_sha256_hex_is_valid(""));
    assert_false(posture_sha256_hex_is_valid(NULL));
}

/* ---- The check ---- */

enum { NUL = -1 };

struct file_expect {
    const char *path;
    int present; /* 1, 0, NUL */
    const char *type;
    const char *sha256; /* NULL: no key; "": null */
    const char *differs;
    int match; /* 1, 0, NUL */
};

struct expect {
    const char *scenario;
    const char *config;
    int status;
    int error;
    const char *reason;
    struct file_expect files[3];
};

static struct posture_result *
run_check(const char *root, const char *config, struct posture_run **ret_run)
{
    struct posture_result *r = posture_test_run_check("file.present", root, config, ret_run);
    assert_string_equal(r->version, "1.0.0");
    return r;
}

static void expect_words(const cJSON *arr, const char *words)
{
    char joined[256] = "";
    assert_true(cJSON_IsArray(arr));
    for (const cJSON *e = arr->child; e; e = e->next) {
        size_t u = strlen(joined);
        (void) snprintf(joined + u, sizeof(joined) - u, "%s%s", u ? " " : "", e->valuestring);
    }
    assert_string_equal(joined, words);
}

static void expect_tristate(const cJSON *o, const char *key, int v)
{
    const cJSON *item = posture_test_json_get(o, key);
    if (v == NUL)
        assert_true(cJSON_IsNull(item));
    else
        assert_true(cJSON_IsBool(item) && cJSON_IsTrue(item) == (v == 1));
}

static void expect_file(const cJSON *files, size_t i, const struct file_expect *f)
{
    const cJSON *o = cJSON_GetArrayItem(files, (int) i);
    assert_non_null(o);
    posture_test_expect_str(o, "path", f->path);
    expect_tristate(o, "present", f->present);
    posture_test_expect_str(o, "type", f->type);
    if (f->present == 1) {
        assert_true(cJSON_IsNumber(posture_test_json_get(o, "owner_uid")));
        assert_true(cJSON_IsString(posture_test_json_get(o, "mode")));
        assert_int_equal(strlen(posture_test_json_get(o, "mode")->valuestring), 4);
        assert_true(cJSON_IsNumber(posture_test_json_get(o, "size")));
    } else {
        assert_true(cJSON_IsNull(posture_test_json_get(o, "owner_uid")));
        assert_true(cJSON_IsNull(posture_test_json_get(o, "mode")));
        assert_true(cJSON_IsNull(posture_test_json_get(o, "size")));
    }
    if (!f->sha256)
        assert_null(cJSON_GetObjectItemCaseSensitive(o, "sha256"));
    else
        posture_test_expect_str(o, "sha256", f->sha256[0] ? f->sha256 : NULL);
    expect_words(posture_test_json_get(o, "differs"), f->differs);
    expect_tristate(o, "match", f->match);
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
    if (x->status == POSTURE_STATUS_ERROR) {
        posture_test_expect_str(r->evidence, "errno", posture_errno_name(x->error));
        if (!x->files[0].path) {
            assert_int_equal(cJSON_GetArraySize(r->evidence), 1);
            return;
        }
    } else {
        assert_null(cJSON_GetObjectItemCaseSensitive(r->evidence, "errno"));
    }
    const cJSON *files = posture_test_json_get(r->evidence, "files");
    size_t n = 0;
    while (n < POSTURE_ELEMENTSOF(x->files) && x->files[n].path)
        n++;
    assert_int_equal(cJSON_GetArraySize(files), n);
    for (size_t i = 0; i < n; i++)
        expect_file(files, i, &x->files[i]);
}

/* clang-format off */
static const struct expect fixtures[] = {
    { "present", BOTH PIN, POSTURE_STATUS_PASS, 0,
      "All 2 files are present and match their pins",
      { { CA, 1, "file", CA_SHA, "", 1 }, { MDM, 1, "file", NULL, "", 1 } } },
    { "present", "files = " MDM "\n", POSTURE_STATUS_PASS, 0, MDM " is present",
      { { MDM, 1, "file", NULL, "", 1 } } },
    { "present", "files = " MDM "\nsha256 = " MDM "=" MDM_SHA "\nmode = " MDM "=0777\n",
      POSTURE_STATUS_PASS, 0, MDM " is present and matches its pins",
      { { MDM, 1, "file", MDM_SHA, "", 1 } } },
    { "present", "files = /var/lib/mdm\n", POSTURE_STATUS_PASS, 0, "/var/lib/mdm is present",
      { { "/var/lib/mdm", 1, "directory", NULL, "", 1 } } },
    { "present", "files = /var/lib/mdm\nsha256 = /var/lib/mdm=" MDM_SHA "\n",
      POSTURE_STATUS_FAIL, 0, "/var/lib/mdm is a directory, not a regular file",
      { { "/var/lib/mdm", 1, "directory", "", "type", 0 } } },
    { "tampered", BOTH PIN, POSTURE_STATUS_FAIL, 0,
      CA " has SHA-256 " BAD_SHA ", not the pinned one",
      { { CA, 1, "file", BAD_SHA, "sha256", 0 }, { MDM, 1, "file", NULL, "", 1 } } },
    /* The CA link points out of the root: inside it, there is nothing. */
    { "missing", BOTH PIN, POSTURE_STATUS_FAIL, 0, CA " is missing; " MDM " is missing",
      { { CA, 0, NULL, "", "missing", 0 }, { MDM, 0, NULL, NULL, "missing", 0 } } },
    { "missing", "files = /var/lib/mdm/enrolled/x\n", POSTURE_STATUS_FAIL, 0,
      "/var/lib/mdm/enrolled/x is missing",
      { { "/var/lib/mdm/enrolled/x", 0, NULL, NULL, "missing", 0 } } },
    { "not-configured", NULL, POSTURE_STATUS_NOT_APPLICABLE, 0,
      "No files are configured ([check.file.present] files is empty)", { { 0 } } },
    { "not-configured", "files =\n", POSTURE_STATUS_NOT_APPLICABLE, 0, NULL, { { 0 } } },
    /* Owners by name come from the root's /etc/passwd. */
    { "present", "files = " MDM "\nowner = " MDM "=nosuchuser\n", POSTURE_STATUS_ERROR, -ENOENT,
      "The owner 'nosuchuser' pinned for " MDM " is not a user in /etc/passwd (No such file or "
      "directory)", { { 0 } } },
    /* Bad options. */
    { "present", "files = etc/passwd\n", POSTURE_STATUS_ERROR, -EINVAL,
      "Invalid option files: 'etc/passwd' is not an absolute path", { { 0 } } },
    { "present", "files = " MDM "\nsha256 = " CA "=" CA_SHA "\n", POSTURE_STATUS_ERROR, -EINVAL,
      "Invalid option sha256: '" CA "=" CA_SHA "' pins a path that is not in files",
      { { 0 } } },
    { "present", "files = " MDM "\nmode = " MDM "=0999\n", POSTURE_STATUS_ERROR, -EINVAL,
      "Invalid option mode: '" MDM "=0999' is not an octal mode of at most 07777", { { 0 } } },
    { "present", "files = " MDM "\nmode = " MDM "=17777\n", POSTURE_STATUS_ERROR, -EINVAL, NULL,
      { { 0 } } },
    { "present", "files = " MDM "\nmode = " MDM "=64\n", POSTURE_STATUS_ERROR, -EINVAL, NULL,
      { { 0 } } },
    { "present", "files = " MDM "\nowner = " MDM "=a:b\n", POSTURE_STATUS_ERROR, -EINVAL,
      "Invalid option owner: '" MDM "=a:b' does not name a user or uid", { { 0 } } },
    { "present", "files = " MDM "\nsha256 = " MDM "=xyz\n", POSTURE_STATUS_ERROR, -EINVAL, NULL,
      { { 0 } } },
    { "present", "files = " MDM "\nmode = " MDM "=0644 " MDM "=0600\n", POSTURE_STATUS_ERROR,
      -EINVAL, "Invalid option mode: '" MDM "=0600' contradicts an earlier pin", { { 0 } } },
};
/* clang-format on */

static void test_fixtures(void **state)
{
    (void) state;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(fixtures); i++) {
        char rel[256];
        posture_auto_run struct posture_run *run = NULL;
        (void) snprintf(rel, sizeof(rel), "fixtures/roots/file.present/%s", fixtures[i].scenario);
        print_message("  %s\n", fixtures[i].scenario);
        struct posture_result *r = run_check(posture_test_path(rel), fixtures[i].config, &run);
        check_expect(r, &fixtures[i]);
    }
}

/* The scenarios' .conf files (used by the verifier integration test) give these verdicts. */
static void test_fixture_configs(void **state)
{
    (void) state;
    static const struct {
        const char *scenario;
        int status;
    } cases[] = {
        { "present", POSTURE_STATUS_PASS },
        { "tampered", POSTURE_STATUS_FAIL },
        { "missing", POSTURE_STATUS_FAIL },
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        char rel[256];
        posture_autofree char *conf = NULL;
        posture_auto_run struct posture_run *run = NULL;
        (void) snprintf(rel, sizeof(rel), "fixtures/roots/file.present/%s.conf", cases[i].scenario);
        int fd = open(posture_test_path(rel), O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(posture_read_fd(fd, 4096, &conf, NULL), 0);
        (void) close(fd);
        const char *body = strchr(conf, '\n');
        assert_non_null(body);
        (void) snprintf(rel, sizeof(rel), "fixtures/roots/file.present/%s", cases[i].scenario);
        struct posture_result *r = run_check(posture_test_path(rel), body + 1, &run);
        assert_int_equal(r->status, cases[i].status);
    }
}

/* A root with etc/passwd naming us "me" and uid+1 "other", and f (0640), s (04755), a FIFO. */
static char *make_root(void)
{
    char *tmp = posture_test_mkdtemp();
    char passwd[256], path[4096];

    (void) snprintf(passwd, sizeof(passwd),
                    "root:x:0:0::/root:/bin/sh\nme:x:%u:%u::/:/bin/sh\nother:x:%u:1::/:/bin/sh\n",
                    (unsigned) geteuid(), (unsigned) getegid(), (unsigned) geteuid() + 1);
    assert_int_equal(posture_test_write_file(tmp, "etc/passwd", passwd), 0);
    assert_int_equal(posture_test_write_file(tmp, "f", "data\n"), 0);
    assert_int_equal(posture_test_write_file(tmp, "s", "suid\n"), 0);
    (void) snprintf(path, sizeof(path), "%s/f", tmp);
    assert_int_equal(chmod(path, 0640), 0);
    (void) snprintf(path, sizeof(path), "%s/s", tmp);
    assert_int_equal(chmod(path, 04755), 0);
    (void) snprintf(path, sizeof(path), "%s/fifo", tmp);
    assert_int_equal(mkfifo(path, 0644), 0);
    return tmp;
}

static void expect_run(const char *root, const char *config, int status, const char *reason)
{
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_check(root, config, &run);
    if (r->status != status || (reason && strcmp(r->reason, reason) != 0))
        fail_msg("%s: %d '%s', expected %d '%s'", config, r->status, r->reason, status,
                 reason ? reason : "");
}

static void test_owner_mode(void **state)
{
    (void) state;
    posture_autofree char *tmp = make_root();
    char cfg[512], why[256];
    unsigned me = (unsigned) geteuid();

    (void) snprintf(cfg, sizeof(cfg), "files = /f\nowner = /f=%u\n", me);
    expect_run(tmp, cfg, POSTURE_STATUS_PASS, "/f is present and matches its pins");
    expect_run(tmp, "files = /f\nowner = /f=me\n", POSTURE_STATUS_PASS, NULL);
    (void) snprintf(why, sizeof(why), "/f is owned by uid %u, not other", me);
    expect_run(tmp, "files = /f\nowner = /f=other\n", POSTURE_STATUS_FAIL, why);
    (void) snprintf(cfg, sizeof(cfg), "files = /f\nowner = /f=%u\n", me + 1);
    (void) snprintf(why, sizeof(why), "/f is owned by uid %u, not %u", me, me + 1);
    expect_run(tmp, cfg, POSTURE_STATUS_FAIL, why);

    /* Mode pins are a maximum. */
    expect_run(tmp, "files = /f\nmode = /f=0640\n", POSTURE_STATUS_PASS, NULL);
    expect_run(tmp, "files = /f\nmode = /f=644\n", POSTURE_STATUS_PASS, NULL);
    expect_run(tmp, "files = /f\nmode = /f=0600\n", POSTURE_STATUS_FAIL,
               "/f has mode 0640, more permissive than 0600");
    expect_run(tmp, "files = /f\nmode = /f=0604\n", POSTURE_STATUS_FAIL, NULL);
    expect_run(tmp, "files = /s\nmode = /s=0755\n", POSTURE_STATUS_FAIL,
               "/s has mode 4755, more permissive than 0755");
    expect_run(tmp, "files = /s\nmode = /s=04755\n", POSTURE_STATUS_PASS, NULL);

    /* Every difference of every file is named. */
    (void) snprintf(cfg, sizeof(cfg),
                    "files = /f /s /nope\nmode = /f=0600 /s=0755\nowner = /f=other\n"
                    "sha256 = /f=" EMPTY "\n");
    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_check(tmp, cfg, &run);
    assert_int_equal(r->status, POSTURE_STATUS_FAIL);
    assert_non_null(strstr(r->reason, "/f has SHA-256 "));
    assert_non_null(strstr(r->reason, "; /f is owned by uid "));
    assert_non_null(strstr(r->reason, "; /f has mode 0640, more permissive than 0600; /s has "
                                      "mode 4755, more permissive than 0755; /nope is missing"));
    const cJSON *f = cJSON_GetArrayItem(posture_test_json_get(r->evidence, "files"), 0);
    expect_words(posture_test_json_get(f, "differs"), "sha256 owner mode");
    posture_test_expect_str(f, "mode", "0640");
    assert_int_equal(posture_test_json_get(f, "owner_uid")->valuedouble, me);
    assert_int_equal(posture_test_json_get(f, "size")->valuedouble, 5);
    run = posture_run_free(run);

    /* A FIFO is present; hashing one neither blocks nor passes. */
    expect_run(tmp, "files = /fifo\n", POSTURE_STATUS_PASS, NULL);
    expect_run(tmp, "files = /fifo\nsha256 = /fifo=" EMPTY "\n", POSTURE_STATUS_FAIL,
               "/fifo is a fifo, not a regular file");
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

/* As a user who may not enter /locked: the locked file is undecidable (ERROR), but a missing
 * file next to it is a definite FAIL. The child reports through its exit status. */
static int locked_child(const char *root)
{
    static const char *const configs[] = {
        "[check.file.present]\nfiles = /locked/f\n",
        "[check.file.present]\nfiles = /locked/f /nope\n",
    };
    for (size_t i = 0; i < 2; i++) {
        posture_auto_registry struct posture_registry *reg = NULL;
        posture_auto_run struct posture_run *run = NULL;
        posture_auto_config struct posture_config *config = NULL;
        char *only[] = { "file.present", NULL };
        int fd;

        if (posture_config_new(NULL, NULL, &config) < 0 ||
            posture_config_parse_string(config, configs[i], strlen(configs[i]), "t.conf") < 0)
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
        const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(res->evidence, "files"), 0);
        if (!cJSON_IsNull(cJSON_GetObjectItem(f0, "match")) ||
            !cJSON_IsNull(cJSON_GetObjectItem(f0, "present")))
            return 13;
        if (i == 0 && (res->status != POSTURE_STATUS_ERROR || res->error != -EACCES ||
                       strcmp(res->reason, "Could not examine /locked/f: Permission denied") != 0))
            return 14;
        if (i == 1 &&
            (res->status != POSTURE_STATUS_FAIL || strcmp(res->reason, "/nope is missing") != 0 ||
             cJSON_GetObjectItem(res->evidence, "errno")))
            return 15;
    }
    return 0;
}

static void test_unreadable(void **state)
{
    (void) state;
    posture_autofree char *tmp = posture_test_mkdtemp();
    char path[4096];

    assert_int_equal(posture_test_write_file(tmp, "locked/f", "x"), 0);
    (void) snprintf(path, sizeof(path), "%s/locked", tmp);
    assert_int_equal(chmod(path, 0), 0);
    assert_int_equal(chmod(tmp, 0755), 0);
    if (geteuid() != 0) {
        assert_int_equal(locked_child(tmp), 0);
    } else {
        expect_run(tmp, "files = /locked/f\n", POSTURE_STATUS_PASS, NULL); /* root enters */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                setresuid(65534, 65534, 65534) < 0)
                _exit(20);
            _exit(locked_child(tmp));
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(chmod(path, 0755), 0);
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_pins),
        POSTURE_TEST_ON_OPENAT2(test_fixtures),
        POSTURE_TEST_ON_FALLBACK(test_fixtures),
        cmocka_unit_test(test_fixture_configs),
        POSTURE_TEST_ON_OPENAT2(test_owner_mode),
        POSTURE_TEST_ON_FALLBACK(test_owner_mode),
        POSTURE_TEST_ON_OPENAT2(test_unreadable),
        POSTURE_TEST_ON_FALLBACK(test_unreadable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
