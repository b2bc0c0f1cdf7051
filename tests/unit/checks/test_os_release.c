/* SPDX-License-Identifier: Apache-2.0 */
/* The os-release parser and the os.release check on the fixture roots. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/result.h"
#include "posture/runner.h"

#include "checktest.h"
#include "os_release.h"

/* ---- Parser ---- */

static int parse(const char *text, struct posture_os_release *ret)
{
    return posture_os_release_parse(text, strlen(text), ret);
}

static void test_parse_debian(void **state)
{
    (void) state;
    struct posture_os_release o;
    assert_int_equal(parse("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
                           "NAME=\"Debian GNU/Linux\"\n"
                           "VERSION_ID=\"12\"\n"
                           "VERSION=\"12 (bookworm)\"\n"
                           "VERSION_CODENAME=bookworm\n"
                           "ID=debian\n"
                           "HOME_URL=\"https://www.debian.org/\"\n",
                           &o),
                     7);
    assert_string_equal(o.pretty_name, "Debian GNU/Linux 12 (bookworm)");
    assert_string_equal(o.name, "Debian GNU/Linux");
    assert_string_equal(o.version_id, "12");
    assert_string_equal(o.version, "12 (bookworm)");
    assert_string_equal(o.version_codename, "bookworm");
    assert_string_equal(o.id, "debian");
    assert_null(o.id_like);
    assert_null(o.build_id);
    assert_null(o.variant_id);
    assert_int_equal(o.n_assignments, 7);
    assert_int_equal(o.n_ignored, 0);
    posture_os_release_done(&o);
    assert_null(o.id);
    posture_os_release_done(&o); /* twice is fine */
    posture_os_release_done(NULL);
}

static void test_parse_quoting(void **state)
{
    (void) state;
    struct posture_os_release o;
    assert_int_equal(parse("NAME=\"a \\\"q\\\" \\\\ \\$HOME \\` \\n \\x\"\n"
                           "VERSION='single \\\" $x \"q\"'\n"
                           "ID=un\\ quoted\\\\x\n"
                           "VARIANT_ID=  \n"
                           "BUILD_ID=\"\"\n"
                           "VERSION_ID=\"  padded  \"   \n"
                           "ID_LIKE=rhel fedora   \t\n",
                           &o),
                     6);
    /* Double quotes: \" \\ \$ \` are escapes; other backslashes stay. */
    assert_string_equal(o.name, "a \"q\" \\ $HOME ` \\n \\x");
    assert_string_equal(o.version, "single \\\" $x \"q\"");
    assert_string_equal(o.id, "un quoted\\x");
    assert_null(o.build_id); /* empty value: unset */
    assert_string_equal(o.version_id, "  padded  ");
    assert_string_equal(o.id_like, "rhel fedora");
    /* "VARIANT_ID=  " has a blank after '=' */
    assert_null(o.variant_id);
    assert_int_equal(o.n_ignored, 1);
    posture_os_release_done(&o);
}

static void test_parse_comments_blank_crlf(void **state)
{
    (void) state;
    struct posture_os_release o;
    assert_int_equal(parse("# comment\r\n"
                           "\r\n"
                           "   # indented comment\n"
                           "\t\n"
                           "ID=fedora\r\n"
                           "VERSION_ID=\"40\"\r\n"
                           "NAME=Fedora",
                           &o),
                     3);
    assert_string_equal(o.id, "fedora");
    assert_string_equal(o.version_id, "40");
    assert_string_equal(o.name, "Fedora"); /* no final newline */
    assert_int_equal(o.n_ignored, 0);
    posture_os_release_done(&o);
}

static void test_parse_duplicates_and_defaults(void **state)
{
    (void) state;
    struct posture_os_release o;
    assert_int_equal(parse("ID=first\nID=second\nVERSION_ID=1\nVERSION_ID=\n", &o), 4);
    assert_string_equal(o.id, "second"); /* later assignments win */
    assert_null(o.version_id);           /* ... also an empty one */
    assert_string_equal(o.name, "Linux");
    assert_string_equal(o.pretty_name, "Linux");
    posture_os_release_done(&o);

    assert_int_equal(parse("OTHER=1\n", &o), 1);
    assert_string_equal(o.id, "linux");
    assert_string_equal(o.name, "Linux");
    assert_string_equal(o.pretty_name, "Linux");
    posture_os_release_done(&o);

    assert_int_equal(posture_os_release_parse("", 0, &o), 0);
    assert_string_equal(o.id, "linux");
    posture_os_release_done(&o);
    assert_int_equal(posture_os_release_parse(NULL, 0, &o), 0);
    posture_os_release_done(&o);
}

static void test_parse_invalid_lines(void **state)
{
    (void) state;
    static const char *const invalid[] = {
        "name=lower\n",        "ID =debian\n",       "ID= debian\n",  "export ID=debian\n",
        " ID=indented\n",      "=value\n",           "ID\n",          "ID:debian\n",
        "ID=\"unterminated\n", "ID='unterminated\n", "ID=\"a\"'b'\n", "ID=\"a\"b\n",
        "ID=trailing\\\n",     "ID=\"cont\\\n",      "I-D=x\n",       "ÏD=x\n",
    };
    struct posture_os_release o;

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        assert_int_equal(parse(invalid[i], &o), 0);
        assert_int_equal(o.n_ignored, 1);
        assert_string_equal(o.id, "linux");
        posture_os_release_done(&o);
    }

    /* Bad lines are skipped, the rest still counts. */
    assert_int_equal(parse("garbage line\nID=arch\nmore garbage\n", &o), 1);
    assert_string_equal(o.id, "arch");
    assert_int_equal(o.n_ignored, 2);
    posture_os_release_done(&o);
}

static void test_parse_limits(void **state)
{
    (void) state;
    struct posture_os_release o;
    size_t max = POSTURE_OS_RELEASE_VALUE_MAX;
    char *buf = malloc(POSTURE_OS_RELEASE_FILE_MAX + 2);
    assert_non_null(buf);

    /* A value of exactly the maximum is kept; one byte more makes the line invalid. */
    memcpy(buf, "NAME=\"", 6);
    memset(buf + 6, 'n', max);
    memcpy(buf + 6 + max, "\"\n", 3);
    assert_int_equal(parse(buf, &o), 1);
    assert_int_equal(strlen(o.name), max);
    posture_os_release_done(&o);
    memset(buf + 6, 'n', max + 1);
    memcpy(buf + 6 + max + 1, "\"\nID=x\n", 8);
    assert_int_equal(parse(buf, &o), 1);
    assert_string_equal(o.name, "Linux");
    assert_string_equal(o.id, "x");
    assert_int_equal(o.n_ignored, 1);
    posture_os_release_done(&o);
    /* Unquoted too, and escapes count after decoding. */
    memcpy(buf, "ID=", 3);
    memset(buf + 3, 'i', max + 1);
    buf[3 + max + 1] = '\0';
    assert_int_equal(parse(buf, &o), 0);
    posture_os_release_done(&o);

    /* A NUL byte anywhere: not a text file. */
    o.id = (char *) "untouched";
    assert_int_equal(posture_os_release_parse("ID=a\0b\n", 7, &o), -EBADMSG);
    assert_string_equal(o.id, "untouched");

    /* The whole file is bounded. */
    memset(buf, '#', POSTURE_OS_RELEASE_FILE_MAX + 1);
    assert_int_equal(posture_os_release_parse(buf, POSTURE_OS_RELEASE_FILE_MAX + 1, &o), -EFBIG);
    assert_int_equal(posture_os_release_parse(buf, POSTURE_OS_RELEASE_FILE_MAX, &o), 0);
    posture_os_release_done(&o);

    assert_int_equal(posture_os_release_parse("ID=x", 4, NULL), -EINVAL);
    assert_int_equal(posture_os_release_parse(NULL, 4, &o), -EINVAL);
    free(buf);
}

/* ---- The check on fixture roots ---- */

struct expect {
    const char *scenario;
    int status;
    int error; /* 0 or the negative errno */
    const char *reason;
    const char *id;
    const char *version_id;
    const char *pretty_name;
    const char *name;
    const char *version_codename;
    const char *id_like[3];
    const char *kernel;
    const char *arch;
    const char *source;
    int ignored_lines;
};

static const struct expect fixtures[] = {
    {
        .scenario = "debian-12",
        .status = POSTURE_STATUS_PASS,
        .reason = "Debian GNU/Linux 12 (bookworm), kernel 6.1.0-18-amd64 (x86_64)",
        .id = "debian",
        .version_id = "12",
        .pretty_name = "Debian GNU/Linux 12 (bookworm)",
        .name = "Debian GNU/Linux",
        .version_codename = "bookworm",
        .kernel = "6.1.0-18-amd64",
        .arch = "x86_64",
        .source = "/etc/os-release",
    },
    {
        .scenario = "ubuntu-24.04",
        .status = POSTURE_STATUS_PASS,
        .reason = "Ubuntu 24.04 LTS, kernel 6.8.0-31-generic (x86_64)",
        .id = "ubuntu",
        .version_id = "24.04",
        .pretty_name = "Ubuntu 24.04 LTS",
        .name = "Ubuntu",
        .version_codename = "noble",
        .id_like = { "debian" },
        .kernel = "6.8.0-31-generic",
        .arch = "x86_64",
        .source = "/etc/os-release",
    },
    {
        .scenario = "fedora-40",
        .status = POSTURE_STATUS_PASS,
        .reason = "Fedora Linux 40 (Workstation Edition), kernel 6.8.5-301.fc40.x86_64 (x86_64)",
        .id = "fedora",
        .version_id = "40",
        .pretty_name = "Fedora Linux 40 (Workstation Edition)",
        .name = "Fedora Linux",
        .version_codename = NULL, /* VERSION_CODENAME="" */
        .kernel = "6.8.5-301.fc40.x86_64",
        .arch = "x86_64",
        .source = "/etc/os-release",
    },
    {
        .scenario = "arch",
        .status = POSTURE_STATUS_PASS,
        .reason = "Arch Linux, kernel 6.9.7-arch1-1 (x86_64)",
        .id = "arch",
        .version_id = NULL,
        .pretty_name = "Arch Linux",
        .name = "Arch Linux",
        .kernel = "6.9.7-arch1-1",
        .arch = "x86_64",
        .source = "/etc/os-release",
    },
    {
        .scenario = "usr-lib-only",
        .status = POSTURE_STATUS_PASS,
        .reason = "openSUSE Leap 15.5, kernel 5.14.21-150500.53-default",
        .id = "opensuse-leap",
        .version_id = "15.5",
        .pretty_name = "openSUSE Leap 15.5",
        .name = "openSUSE Leap",
        .id_like = { "suse", "opensuse" },
        .kernel = "5.14.21-150500.53-default",
        .arch = NULL, /* no proc/sys/kernel/arch in this root */
        .source = "/usr/lib/os-release",
    },
    {
        .scenario = "missing",
        .status = POSTURE_STATUS_ERROR,
        .error = -ENOENT,
        .reason = "Neither /etc/os-release nor /usr/lib/os-release exists",
    },
    {
        .scenario = "garbage",
        .status = POSTURE_STATUS_ERROR,
        .error = -EBADMSG,
        .reason = "/etc/os-release contains a NUL byte; it is not an os-release file",
        .source = "/etc/os-release",
    },
    {
        .scenario = "no-assignments",
        .status = POSTURE_STATUS_ERROR,
        .error = -EBADMSG,
        .reason = "/etc/os-release contains no KEY=value assignments",
        .source = "/etc/os-release",
        .ignored_lines = 3,
    },
};

/* Run os.release on root (a directory path) and return its result (owned by *ret_run). */
static struct posture_result *run_check(const char *root, struct posture_run **ret_run)
{
    struct posture_result *r = posture_test_run_check("os.release", root, NULL, ret_run);
    assert_string_equal(r->version, "1.0.0");
    return r;
}

static void check_fixture(const struct expect *x)
{
    char rel[256];
    (void) snprintf(rel, sizeof(rel), "fixtures/roots/os-release/%s", x->scenario);
    posture_auto_run struct posture_run *run = NULL;

    print_message("  %s\n", x->scenario);
    struct posture_result *r = run_check(posture_test_path(rel), &run);
    assert_int_equal(r->status, x->status);
    assert_int_equal(r->error, x->error);
    assert_string_equal(r->reason, x->reason);

    if (x->status != POSTURE_STATUS_PASS) {
        assert_non_null(r->remediation);
        posture_test_expect_str(r->evidence, "errno", posture_errno_name(x->error));
        if (x->source)
            posture_test_expect_str(r->evidence, "source", x->source);
        if (x->ignored_lines) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(r->evidence, "ignored_lines");
            assert_true(cJSON_IsNumber(n));
            assert_int_equal(n->valueint, x->ignored_lines);
        }
        return;
    }

    assert_null(cJSON_GetObjectItemCaseSensitive(r->evidence, "errno"));
    posture_test_expect_str(r->evidence, "id", x->id);
    posture_test_expect_str(r->evidence, "version_id", x->version_id);
    posture_test_expect_str(r->evidence, "pretty_name", x->pretty_name);
    posture_test_expect_str(r->evidence, "name", x->name);
    posture_test_expect_str(r->evidence, "version_codename", x->version_codename);
    posture_test_expect_str(r->evidence, "kernel", x->kernel);
    posture_test_expect_str(r->evidence, "arch", x->arch);
    posture_test_expect_str(r->evidence, "source", x->source);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(r->evidence, "ignored_lines");
    assert_true(cJSON_IsNumber(n));
    assert_int_equal(n->valueint, x->ignored_lines);

    const cJSON *like = cJSON_GetObjectItemCaseSensitive(r->evidence, "id_like");
    assert_true(cJSON_IsArray(like));
    size_t n_like = 0;
    while (n_like < 3 && x->id_like[n_like])
        n_like++;
    assert_int_equal(cJSON_GetArraySize(like), n_like);
    for (size_t i = 0; i < n_like; i++)
        assert_string_equal(cJSON_GetArrayItem(like, (int) i)->valuestring, x->id_like[i]);

    /* The documented evidence keys, in order. */
    static const char *const keys[] = {
        "id",      "version_id", "pretty_name", "name",   "version_codename",
        "id_like", "kernel",     "arch",        "source", "ignored_lines"
    };
    const cJSON *item = r->evidence->child;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++, item = item->next) {
        assert_non_null(item);
        assert_string_equal(item->string, keys[i]);
    }
    assert_null(item);
}

static void test_fixtures(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
        check_fixture(&fixtures[i]);
}

/* ---- Symlinks pointing out of the root ---- */

/* Copy the scenario to <tmp>/root and plant <tmp>/outside-marker/os-release next to it. */
static char *escape_setup(const char *scenario, char **ret_root)
{
    char rel[256], root[PATH_MAX];
    char *tmp = posture_test_mkdtemp();

    (void) snprintf(rel, sizeof(rel), "fixtures/roots/os-release/%s", scenario);
    (void) snprintf(root, sizeof(root), "%s/root", tmp);
    posture_test_copy_tree(posture_test_path(rel), root);
    assert_int_equal(posture_test_write_file(tmp, "outside-marker/os-release",
                                             "ID=escaped\nNAME=\"Escaped\"\nVERSION_ID=666\n"),
                     0);
    *ret_root = strdup(root);
    assert_non_null(*ret_root);
    return tmp;
}

static void expect_contained(const char *scenario)
{
    posture_autofree char *root = NULL;
    posture_autofree char *tmp = escape_setup(scenario, &root);
    posture_auto_run struct posture_run *run = NULL;

    print_message("  %s\n", scenario);
    struct posture_result *r = run_check(root, &run);
    /* Inside the root the link leads nowhere, so the check falls back to /usr/lib. */
    assert_int_equal(r->status, POSTURE_STATUS_PASS);
    posture_test_expect_str(r->evidence, "id", "contained");
    posture_test_expect_str(r->evidence, "version_id", "1");
    posture_test_expect_str(r->evidence, "source", "/usr/lib/os-release");
    assert_null(strstr(r->reason, "Escaped"));
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

static void test_symlink_escape_relative(void **state)
{
    (void) state;
    posture_autofree char *root = NULL;
    posture_autofree char *tmp = escape_setup("symlink-escape-relative", &root);
    char path[PATH_MAX + 32], buf[64] = { 0 };

    /* The marker is real: followed naively, the link reads it. */
    (void) snprintf(path, sizeof(path), "%s/etc/os-release", root);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
    (void) close(fd);
    assert_non_null(strstr(buf, "ID=escaped"));
    assert_int_equal(posture_test_rmdir_r(tmp), 0);

    expect_contained("symlink-escape-relative");
}

static void test_symlink_escape_absolute(void **state)
{
    (void) state;
    expect_contained("symlink-escape-absolute");
}

static void test_symlink_escape_loop(void **state)
{
    (void) state;
    posture_autofree char *root = NULL;
    posture_autofree char *tmp = escape_setup("symlink-escape", &root);
    posture_auto_run struct posture_run *run = NULL;

    /* ../../../../../../etc/os-release clamps at the root and points at itself: a loop, never
     * the host's /etc/os-release. */
    struct posture_result *r = run_check(root, &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -ELOOP);
    posture_test_expect_str(r->evidence, "errno", "ELOOP");
    posture_test_expect_str(r->evidence, "source", "/etc/os-release");
    assert_null(cJSON_GetObjectItemCaseSensitive(r->evidence, "id"));
    assert_non_null(strstr(r->reason, "/etc/os-release"));
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

/* ---- Edge cases built on the fly ---- */

/* Empty dir again. */
static void reset_dir(const char *dir)
{
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
}

static void test_empty_files_and_bounds(void **state)
{
    (void) state;
    posture_autofree char *tmp = posture_test_mkdtemp();
    posture_auto_run struct posture_run *run = NULL;

    /* An empty /etc/os-release does not fall back: it exists and says nothing. */
    assert_int_equal(posture_test_write_file(tmp, "etc/os-release", ""), 0);
    assert_int_equal(posture_test_write_file(tmp, "usr/lib/os-release", "ID=fallback\n"), 0);
    struct posture_result *r = run_check(tmp, &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -EBADMSG);
    run = posture_run_free(run);

    /* Larger than 64 KiB. */
    char *big = malloc(POSTURE_OS_RELEASE_FILE_MAX + 16);
    assert_non_null(big);
    memset(big, '#', POSTURE_OS_RELEASE_FILE_MAX + 15);
    big[POSTURE_OS_RELEASE_FILE_MAX + 15] = '\0';
    assert_int_equal(posture_test_write_file(tmp, "etc/os-release", big), 0);
    free(big);
    r = run_check(tmp, &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -EFBIG);
    assert_non_null(strstr(r->reason, "larger than 64 KiB"));
    run = posture_run_free(run);

    /* A directory where the file should be. */
    reset_dir(tmp);
    assert_int_equal(posture_test_write_file(tmp, "etc/os-release/x", "ID=x\n"), 0);
    r = run_check(tmp, &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -EISDIR);
    run = posture_run_free(run);

    /* No proc files and not the host: kernel and arch are null. */
    reset_dir(tmp);
    assert_int_equal(posture_test_write_file(tmp, "usr/lib/os-release", "ID=tiny\n"), 0);
    r = run_check(tmp, &run);
    assert_int_equal(r->status, POSTURE_STATUS_PASS);
    posture_test_expect_str(r->evidence, "kernel", NULL);
    posture_test_expect_str(r->evidence, "arch", NULL);
    posture_test_expect_str(r->evidence, "pretty_name", "Linux");
    assert_string_equal(r->reason, "Linux");
    assert_int_equal(posture_test_rmdir_r(tmp), 0);
}

static void test_host_root(void **state)
{
    (void) state;
    posture_auto_run struct posture_run *run = NULL;

    /* The real host: whatever it runs, the kernel facts come from procfs or uname(). */
    struct posture_result *r = run_check("/", &run);
    if (r->status != POSTURE_STATUS_PASS) {
        print_message("  host has no readable os-release (%s), skipping\n", r->reason);
        return;
    }
    const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(r->evidence, "kernel");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(r->evidence, "arch");
    assert_true(cJSON_IsString(kernel));
    assert_true(cJSON_IsString(arch));
    assert_true(strlen(kernel->valuestring) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_debian),
        cmocka_unit_test(test_parse_quoting),
        cmocka_unit_test(test_parse_comments_blank_crlf),
        cmocka_unit_test(test_parse_duplicates_and_defaults),
        cmocka_unit_test(test_parse_invalid_lines),
        cmocka_unit_test(test_parse_limits),
        POSTURE_TEST_ON_OPENAT2(test_fixtures),
        POSTURE_TEST_ON_FALLBACK(test_fixtures),
        POSTURE_TEST_ON_OPENAT2(test_symlink_escape_relative),
        POSTURE_TEST_ON_FALLBACK(test_symlink_escape_relative),
        POSTURE_TEST_ON_OPENAT2(test_symlink_escape_absolute),
        POSTURE_TEST_ON_FALLBACK(test_symlink_escape_absolute),
        POSTURE_TEST_ON_OPENAT2(test_symlink_escape_loop),
        POSTURE_TEST_ON_FALLBACK(test_symlink_escape_loop),
        POSTURE_TEST_ON_OPENAT2(test_empty_files_and_bounds),
        POSTURE_TEST_ON_FALLBACK(test_empty_files_and_bounds),
        cmocka_unit_test(test_host_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
