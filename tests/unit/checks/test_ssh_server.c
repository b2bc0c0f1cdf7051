/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ssh.server: the sshd_config parser on in-memory files, the cipher lists, the `sshd -T` reader,
 * the check on the fixture roots (tests/fixtures/roots/ssh.server/), and the real `sshd -T`
 * (openssh-server) against generated configs, compared with our parser.
 */
#include <errno.h>
#include <fnmatch.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/result.h"
#include "posture/runner.h"
#include "posture/spawn.h"
#include "posture/strv.h"

#include "checktest.h"
#include "ssh_server/sshd_config.h"

#define SSHD "/usr/sbin/sshd"

/* ---- In-memory files ---- */

struct memfile {
    const char *path;
    const char *content;
};
static const struct memfile *mem_files;
static size_t mem_n;

static int mem_read(const char *path, size_t max, char **ret_buf, size_t *ret_len, void *userdata)
{
    (void) userdata;
    for (size_t i = 0; i < mem_n; i++)
        if (strcmp(mem_files[i].path, path) == 0) {
            size_t n = strlen(mem_files[i].content);
            if (n > max)
                return -EFBIG;
            *ret_buf = strdup(mem_files[i].content);
            if (!*ret_buf)
                return -ENOMEM;
            if (ret_len)
                *ret_len = n;
            return 0;
        }
    return -ENOENT;
}

static int mem_glob(const char *pattern, char ***ret, void *userdata)
{
    (void) userdata;
    char **l = calloc(1, sizeof(char *));
    if (!l)
        return -ENOMEM;
    for (size_t i = 0; i < mem_n; i++)
        if (fnmatch(pattern, mem_files[i].path, FNM_PATHNAME | FNM_PERIOD) == 0 &&
            posture_strv_extend(&l, mem_files[i].path) < 0) {
            posture_strv_free(l);
            return -ENOMEM;
        }
    posture_strv_sort(l);
    *ret = l;
    return 0;
}

static const struct posture_sshd_io mem_io = { .read_file = mem_read, .glob = mem_glob };

static int parse(const struct memfile *files, size_t n, struct posture_sshd_config *c)
{
    mem_files = files;
    mem_n = n;
    return posture_sshd_config_parse("/etc/ssh/sshd_config", &mem_io, c);
}

#define PARSE(files, c) parse((files), POSTURE_ELEMENTSOF(files), (c))

static void expect_setting(const struct posture_sshd_config *c, int key, const char *want)
{
    if (!want)
        assert_null(c->value[key]);
    else {
        assert_non_null(c->value[key]);
        assert_string_equal(c->value[key], want);
    }
}

/* ---- Parser ---- */

static void test_parse_syntax(void **state)
{
    (void) state;
    struct posture_sshd_config c;
    static const struct memfile f[] = {
        { "/etc/ssh/sshd_config", "# comment\n"
                                  "\n"
                                  "   \t\n"
                                  "permitrootlogin=No\n"
                                  "PASSWORDAUTHENTICATION   =  \"YES\"   # trailing comment\n"
                                  "PasswordAuthentication no\n" /* the first value wins */
                                  "PermitEmptyPasswords 'no' extra\n"
                                  "Ciphers \"aes128-ctr,aes256-ctr\"\r\n"
                                  "Banner \"/etc/issue net\"\n"
                                  "Unknown \\\"keyword\n" },
    };
    assert_int_equal(PARSE(f, &c), 0);
    expect_setting(&c, POSTURE_SSHD_PERMIT_ROOT_LOGIN, "no");
    expect_setting(&c, POSTURE_SSHD_PASSWORD_AUTHENTICATION, "yes"); /* lower-cased */
    expect_setting(&c, POSTURE_SSHD_PERMIT_EMPTY_PASSWORDS, "no");
    expect_setting(&c, POSTURE_SSHD_CIPHERS, "aes128-ctr,aes256-ctr");
    assert_int_equal(c.n_match, 0);
    assert_int_equal(c.n_files, 1);
    assert_string_equal(c.files[0], "/etc/ssh/sshd_config");
    assert_null(c.files[1]);
    posture_sshd_config_done(&c);

    /* Nothing set: all unset, and a comment right after the keyword. */
    static const struct memfile empty[] = { { "/etc/ssh/sshd_config",
                                              "PermitRootLogin # nothing\nPort 22" } };
    assert_int_equal(PARSE(empty, &c), 0);
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++)
        assert_null(c.value[k]);
    posture_sshd_config_done(&c);
}

static void test_parse_errors(void **state)
{
    (void) state;
    struct posture_sshd_config c;

    static const struct memfile quotes[] = {
        { "/etc/ssh/sshd_config", "PermitRootLogin no\n\nBanner \"/etc/issue\n" },
    };
    assert_int_equal(PARSE(quotes, &c), -EBADMSG);
    assert_string_equal(c.error_file, "/etc/ssh/sshd_config");
    assert_int_equal(c.error_line, 3);
    posture_sshd_config_done(&c);

    assert_int_equal(parse(NULL, 0, &c), -ENOENT);
    assert_string_equal(c.error_file, "/etc/ssh/sshd_config");
    assert_int_equal(c.error_line, 0);
    posture_sshd_config_done(&c);

    static const struct memfile noarg[] = { { "/etc/ssh/sshd_config", "Include\n" } };
    assert_int_equal(PARSE(noarg, &c), -EBADMSG);
    posture_sshd_config_done(&c);

    /* A file that includes itself: too deep. */
    static const struct memfile loop[] = { { "/etc/ssh/sshd_config", "Include sshd_config\n" } };
    assert_int_equal(PARSE(loop, &c), -ELOOP);
    posture_sshd_config_done(&c);

    /* Two includes of itself per level: the depth limit stops it first. */
    static const struct memfile bomb[] = {
        { "/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config /etc/ssh/sshd_config\n" },
    };
    assert_int_equal(PARSE(bomb, &c), -ELOOP);
    posture_sshd_config_done(&c);

    /* A glob matching more files than POSTURE_SSHD_FILES_MAX. */
    static char names[POSTURE_SSHD_FILES_MAX + 1][32];
    struct memfile wide[POSTURE_SSHD_FILES_MAX + 2];
    wide[0] = (struct memfile){ "/etc/ssh/sshd_config", "Include d/*.conf\n" };
    for (unsigned i = 0; i <= POSTURE_SSHD_FILES_MAX; i++) {
        (void) snprintf(names[i], sizeof(names[i]), "/etc/ssh/d/%03u.conf", i);
        wide[i + 1] = (struct memfile){ names[i], "# nothing\n" };
    }
    assert_int_equal(parse(wide, POSTURE_ELEMENTSOF(wide), &c), -E2BIG);
    posture_sshd_config_done(&c);
    assert_int_equal(parse(wide, POSTURE_ELEMENTSOF(wide) - 2, &c), 0); /* the main file counts */
    assert_int_equal(c.n_files, POSTURE_SSHD_FILES_MAX);
    posture_sshd_config_done(&c);

    /* An unreadable included file fails the parse and is named. */
    static const struct memfile big[] = {
        { "/etc/ssh/sshd_config", "Include big.conf\n" },
        { "/etc/ssh/big.conf", NULL },
    };
    char *huge = malloc(POSTURE_SSHD_FILE_MAX + 2);
    assert_non_null(huge);
    memset(huge, '#', POSTURE_SSHD_FILE_MAX + 1);
    huge[POSTURE_SSHD_FILE_MAX + 1] = '\0';
    struct memfile big2[2] = { big[0], { big[1].path, huge } };
    assert_int_equal(parse(big2, 2, &c), -EFBIG);
    assert_string_equal(c.error_file, "/etc/ssh/big.conf");
    posture_sshd_config_done(&c);
    free(huge);

    assert_int_equal(posture_sshd_config_parse(NULL, &mem_io, &c), -EINVAL);
    assert_int_equal(posture_sshd_config_parse("/x", NULL, &c), -EINVAL);
    posture_sshd_config_done(NULL);
}

static void test_parse_include_match(void **state)
{
    (void) state;
    struct posture_sshd_config c;
    static const struct memfile f[] = {
        { "/etc/ssh/sshd_config", "Include sshd_config.d/*.conf /etc/ssh/extra/a.conf\n"
                                  "PermitRootLogin yes\n"
                                  "Match User bob\n"
                                  "  PermitRootLogin yes\n"
                                  "  Include /etc/ssh/inmatch.conf\n"
                                  "Match all\n"
                                  "  PermitEmptyPasswords yes\n"
                                  "  PermitEmptyPasswords no\n" },
        { "/etc/ssh/extra/a.conf", "Ciphers +3des-cbc\n" },
        { "/etc/ssh/inmatch.conf", "PasswordAuthentication yes\n" },
        { "/etc/ssh/sshd_config.d/10-a.conf", "PasswordAuthentication no\n"
                                              "Match Group admins\n"
                                              "  PermitRootLogin prohibit-password\n" },
        { "/etc/ssh/sshd_config.d/20-b.conf", "PermitRootLogin no\n" }, /* global again */
        { "/etc/ssh/sshd_config.d/README", "PermitRootLogin yes\n" },
    };
    assert_int_equal(PARSE(f, &c), 0);
    expect_setting(&c, POSTURE_SSHD_PERMIT_ROOT_LOGIN, "no");
    expect_setting(&c, POSTURE_SSHD_PASSWORD_AUTHENTICATION, "no");
    expect_setting(&c, POSTURE_SSHD_PERMIT_EMPTY_PASSWORDS, "yes"); /* Match all overrides */
    expect_setting(&c, POSTURE_SSHD_CIPHERS, "+3des-cbc");
    assert_int_equal(c.n_match, 3);
    assert_int_equal(c.n_match_settings, 3);
    assert_int_equal(c.match_settings[0].key, POSTURE_SSHD_PERMIT_ROOT_LOGIN);
    assert_string_equal(c.match_settings[0].value, "prohibit-password");
    assert_string_equal(c.match_settings[0].criteria, "Group admins");
    assert_string_equal(c.match_settings[1].value, "yes");
    assert_string_equal(c.match_settings[1].criteria, "User bob");
    assert_int_equal(c.match_settings[2].key, POSTURE_SSHD_PASSWORD_AUTHENTICATION);
    assert_string_equal(c.match_settings[2].criteria, "User bob");
    assert_false(c.match_settings_truncated);
    assert_int_equal(c.n_files, 5);
    assert_string_equal(c.files[1], "/etc/ssh/sshd_config.d/10-a.conf");
    assert_string_equal(c.files[2], "/etc/ssh/sshd_config.d/20-b.conf");
    assert_string_equal(c.files[3], "/etc/ssh/extra/a.conf");
    assert_string_equal(c.files[4], "/etc/ssh/inmatch.conf");

    char *v[POSTURE_SSHD_KEY__MAX] = { 0 };
    assert_int_equal(posture_sshd_config_effective(&c, v), 0);
    assert_string_equal(v[POSTURE_SSHD_PERMIT_ROOT_LOGIN], "no");
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++)
        free(v[k]);
    posture_sshd_config_done(&c);

    /* Defaults, and the old name of prohibit-password. */
    static const struct memfile old[] = { { "/etc/ssh/sshd_config",
                                            "PermitRootLogin without-password\n" } };
    assert_int_equal(PARSE(old, &c), 0);
    char *d[POSTURE_SSHD_KEY__MAX] = { 0 };
    assert_int_equal(posture_sshd_config_effective(&c, d), 0);
    assert_string_equal(d[POSTURE_SSHD_PERMIT_ROOT_LOGIN], "prohibit-password");
    assert_string_equal(d[POSTURE_SSHD_PASSWORD_AUTHENTICATION], "yes");
    assert_string_equal(d[POSTURE_SSHD_PERMIT_EMPTY_PASSWORDS], "no");
    assert_null(d[POSTURE_SSHD_CIPHERS]);
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++)
        free(d[k]);
    posture_sshd_config_done(&c);
    assert_int_equal(posture_sshd_config_effective(NULL, d), -EINVAL);
}

static void test_ciphers(void **state)
{
    (void) state;
    static const struct {
        const char *value;
        const char *want;
    } cases[] = {
        { NULL, "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
                "aes128-gcm@openssh.com,aes256-gcm@openssh.com" },
        { "+aes256-cbc,aes128-ctr", "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,"
                                    "aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com,"
                                    "aes256-cbc" },
        { "-aes*-gcm*,chacha*", "aes128-ctr,aes192-ctr,aes256-ctr" },
        { "^3des-cbc", "3des-cbc,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
                       "aes128-gcm@openssh.com,aes256-gcm@openssh.com" },
        { "aes256-ctr,aes128-cbc,aes256-ctr", "aes256-ctr,aes128-cbc" },
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        char **l = NULL;
        assert_int_equal(posture_sshd_ciphers_effective(cases[i].value, &l), 0);
        char joined[512] = "";
        size_t used = 0;
        POSTURE_FOREACH_STRV (c, l)
            used +=
                (size_t) snprintf(joined + used, sizeof(joined) - used, "%s%s", used ? "," : "", c);
        assert_string_equal(joined, cases[i].want);
        posture_strv_free(l);
    }
    char **l = NULL;
    assert_int_equal(posture_sshd_ciphers_effective("", &l), -EINVAL);
    assert_int_equal(posture_sshd_ciphers_effective("+", &l), -EINVAL);
    assert_int_equal(posture_sshd_ciphers_effective(",,", &l), -EINVAL);
    assert_null(l);
    assert_int_equal(posture_sshd_ciphers_effective(NULL, NULL), -EINVAL);
}

static void test_dump(void **state)
{
    (void) state;
    const char *out = "port 22\npermitrootlogin without-password\npasswordauthentication no\n"
                      "permitemptypasswords no\nciphers aes128-ctr,aes256-ctr\r\n"
                      "passwordauthentication yes\n";
    char *v[POSTURE_SSHD_KEY__MAX] = { 0 };
    assert_int_equal(posture_sshd_parse_dump(out, strlen(out), v), 0);
    assert_string_equal(v[POSTURE_SSHD_PERMIT_ROOT_LOGIN], "prohibit-password");
    assert_string_equal(v[POSTURE_SSHD_PASSWORD_AUTHENTICATION], "no");
    assert_string_equal(v[POSTURE_SSHD_PERMIT_EMPTY_PASSWORDS], "no");
    assert_string_equal(v[POSTURE_SSHD_CIPHERS], "aes128-ctr,aes256-ctr");
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++) {
        free(v[k]);
        v[k] = NULL;
    }
    const char *partial = "port 22\npermitrootlogin no\n";
    assert_int_equal(posture_sshd_parse_dump(partial, strlen(partial), v), -EBADMSG);
    for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++) {
        free(v[k]);
        v[k] = NULL;
    }
    assert_int_equal(posture_sshd_parse_dump("", POSTURE_SSHD_DUMP_MAX + 1, v), -E2BIG);
    assert_int_equal(posture_sshd_parse_dump(NULL, 0, v), -EINVAL);
    assert_string_equal(posture_sshd_key_name(POSTURE_SSHD_CIPHERS), "Ciphers");
    assert_null(posture_sshd_key_name(POSTURE_SSHD_KEY__MAX));
}

/* ---- The check on fixture roots ---- */

static const char *fixture(const char *scenario)
{
    static char rel[256];
    (void) snprintf(rel, sizeof(rel), "fixtures/roots/ssh.server/%s", scenario);
    return posture_test_path(rel);
}

static cJSON *run_json(const char *scenario, const char *options, struct posture_run **run)
{
    struct posture_result *r =
        posture_test_run_check("ssh.server", fixture(scenario), options, run);
    assert_string_equal(r->version, "1.0.0");
    return r->evidence;
}

static struct posture_result *
run_on(const char *scenario, const char *options, struct posture_run **run)
{
    return posture_test_run_check("ssh.server", fixture(scenario), options, run);
}

static void expect_bool(const cJSON *ev, const char *key, bool want)
{
    const cJSON *item = posture_test_json_get(ev, key);
    assert_true(cJSON_IsBool(item));
    assert_int_equal(cJSON_IsTrue(item), want);
}

static void expect_list(const cJSON *ev, const char *key, const char *words)
{
    const cJSON *item = posture_test_json_get(ev, key);
    assert_true(cJSON_IsArray(item));
    char joined[1024] = "";
    size_t used = 0;
    for (const cJSON *e = item->child; e; e = e->next) {
        assert_true(cJSON_IsString(e));
        used += (size_t) snprintf(joined + used, sizeof(joined) - used, "%s%s", used ? " " : "",
                                  e->valuestring);
    }
    assert_string_equal(joined, words);
}

static void expect_status(const struct posture_result *r, enum posture_status want)
{
    if (r->status != (int) want)
        fail_msg("%s: status %d, expected %d: %s", r->id, r->status, want,
                 r->reason ? r->reason : "(no reason)");
}

static void test_not_applicable(void **state)
{
    (void) state;
    struct posture_run *run = NULL;

    struct posture_result *r = run_on("not-installed", NULL, &run);
    expect_status(r, POSTURE_STATUS_NOT_APPLICABLE);
    assert_non_null(strstr(r->reason, "no OpenSSH server is installed"));
    expect_bool(r->evidence, "installed", false);
    expect_bool(r->evidence, "active", false);
    assert_null(cJSON_GetObjectItem(r->evidence, "source"));
    run = posture_run_free(run);

    static const char *const inactive[] = { "disabled", "masked" };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(inactive); i++) {
        r = run_on(inactive[i], NULL, &run);
        expect_status(r, POSTURE_STATUS_NOT_APPLICABLE);
        assert_non_null(strstr(r->reason, "neither enabled nor running"));
        expect_bool(r->evidence, "installed", true);
        expect_bool(r->evidence, "enabled", false);
        expect_bool(r->evidence, "running", false);
        expect_bool(r->evidence, "active", false);
        expect_list(r->evidence, "enabled_units", "");
        run = posture_run_free(run);
    }
}

static void test_pass(void **state)
{
    (void) state;
    struct posture_run *run = NULL;

    struct posture_result *r = run_on("hardened", NULL, &run);
    expect_status(r, POSTURE_STATUS_PASS);
    const cJSON *ev = r->evidence;
    expect_bool(ev, "active", true);
    expect_list(ev, "enabled_units", "ssh.service");
    posture_test_expect_str(ev, "source", "config");
    assert_null(cJSON_GetObjectItem(ev, "sshd_t_error")); /* not tried with --root */
    posture_test_expect_str(ev, "permit_root_login", "no");
    posture_test_expect_str(ev, "password_authentication", "no");
    posture_test_expect_str(ev, "permit_empty_passwords", "no");
    expect_list(ev, "ciphers", "chacha20-poly1305@openssh.com aes256-gcm@openssh.com");
    expect_list(ev, "forbidden_ciphers_enabled", "");
    expect_list(ev, "match_weaker", "");
    expect_list(ev, "files",
                "/etc/ssh/sshd_config /etc/ssh/sshd_config.d/10-hardening.conf "
                "/etc/ssh/sshd_config.d/20-later.conf");
    assert_null(r->remediation);
    run = posture_run_free(run);

    /* Running (an upgraded binary) without being enabled is active. */
    r = run_on("running", NULL, &run);
    expect_status(r, POSTURE_STATUS_PASS);
    expect_bool(r->evidence, "enabled", false);
    expect_bool(r->evidence, "running", true);
    expect_bool(r->evidence, "active", true);
    posture_test_expect_str(r->evidence, "permit_root_login", "prohibit-password");
    run = posture_run_free(run);

    /* The option turns prohibit-password into a failure. */
    r = run_on("running", "allow_root_key_login = no", &run);
    expect_status(r, POSTURE_STATUS_FAIL);
    assert_non_null(strstr(r->reason, "root may log in with a key"));
    run = posture_run_free(run);
}

static void test_fail(void **state)
{
    (void) state;
    static const struct {
        const char *scenario;
        const char *options;
        const char *reason;
    } cases[] = {
        { "debian-default", NULL, "password logins are allowed (PasswordAuthentication yes)" },
        { "root-login-yes", NULL, "root may log in with a password (PermitRootLogin yes)" },
        { "empty-passwords", NULL, "accounts with empty passwords may log in" },
        { "weak-ciphers", NULL, "sshd offers forbidden ciphers aes256-cbc, 3des-cbc" },
        { "match-all", NULL, "PasswordAuthentication yes" },
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        struct posture_run *run = NULL;
        struct posture_result *r = run_on(cases[i].scenario, cases[i].options, &run);
        expect_status(r, POSTURE_STATUS_FAIL);
        if (!strstr(r->reason, cases[i].reason))
            fail_msg("%s: reason '%s' lacks '%s'", cases[i].scenario, r->reason, cases[i].reason);
        assert_non_null(r->remediation);
        run = posture_run_free(run);
    }

    /* debian-default: sshd's defaults, and the option that accepts passwords. */
    struct posture_run *run = NULL;
    cJSON *ev = run_json("debian-default", NULL, &run);
    posture_test_expect_str(ev, "permit_root_login", "prohibit-password");
    posture_test_expect_str(ev, "password_authentication", "yes");
    expect_list(ev, "ciphers",
                "chacha20-poly1305@openssh.com aes128-ctr aes192-ctr aes256-ctr "
                "aes128-gcm@openssh.com aes256-gcm@openssh.com");
    run = posture_run_free(run);
    struct posture_result *r =
        run_on("debian-default", "allow_password_authentication = yes", &run);
    expect_status(r, POSTURE_STATUS_PASS);
    run = posture_run_free(run);

    /* weak-ciphers: evidence, and options that forbid less or more. */
    ev = run_json("weak-ciphers", NULL, &run);
    expect_list(ev, "forbidden_ciphers_enabled", "aes256-cbc 3des-cbc");
    expect_list(ev, "enabled_units", "sshd.service");
    run = posture_run_free(run);
    r = run_on("weak-ciphers", "forbidden_ciphers = arcfour*", &run);
    expect_status(r, POSTURE_STATUS_PASS);
    run = posture_run_free(run);
    r = run_on("hardened", "forbidden_ciphers = chacha20-*", &run);
    expect_status(r, POSTURE_STATUS_FAIL);
    assert_non_null(strstr(r->reason, "a forbidden cipher chacha20-poly1305@openssh.com"));
    run = posture_run_free(run);

    /* empty-passwords is enabled by its socket. */
    ev = run_json("empty-passwords", NULL, &run);
    expect_list(ev, "enabled_units", "ssh.socket");
    run = posture_run_free(run);
}

static void test_match_warn(void **state)
{
    (void) state;
    struct posture_run *run = NULL;
    struct posture_result *r = run_on("match-user", NULL, &run);
    expect_status(r, POSTURE_STATUS_WARN);
    assert_non_null(strstr(r->reason, "PasswordAuthentication yes (Match User backup Address "
                                      "10.0.0.0/8)"));
    const cJSON *ev = r->evidence;
    posture_test_expect_str(ev, "password_authentication", "no");
    const cJSON *mb = posture_test_json_get(ev, "match_blocks");
    assert_int_equal(mb->valueint, 1);
    const cJSON *ms = posture_test_json_get(ev, "match_settings");
    assert_int_equal(cJSON_GetArraySize(ms), 2);
    posture_test_expect_str(cJSON_GetArrayItem(ms, 0), "keyword", "PasswordAuthentication");
    posture_test_expect_str(cJSON_GetArrayItem(ms, 0), "value", "yes");
    posture_test_expect_str(cJSON_GetArrayItem(ms, 1), "keyword", "PermitRootLogin");
    expect_list(ev, "match_weaker",
                "PasswordAuthentication yes (Match User backup Address "
                "10.0.0.0/8)");
    run = posture_run_free(run);

    /* With passwords allowed, the Match block weakens nothing. */
    r = run_on("match-user", "allow_password_authentication = yes", &run);
    expect_status(r, POSTURE_STATUS_PASS);
    run = posture_run_free(run);
}

static void test_errors(void **state)
{
    (void) state;
    static const struct {
        const char *scenario;
        const char *reason;
    } cases[] = {
        { "include-loop", "/etc/ssh/sshd_config line 1: Too many levels of symbolic links" },
        { "bad-value", "PermitRootLogin maybe is not a value sshd accepts" },
        { "bad-quotes", "/etc/ssh/sshd_config line 2: Bad message" },
        { "no-config", "/etc/ssh/sshd_config: No such file or directory" },
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        struct posture_run *run = NULL;
        struct posture_result *r = run_on(cases[i].scenario, NULL, &run);
        expect_status(r, POSTURE_STATUS_ERROR);
        if (!strstr(r->reason, cases[i].reason))
            fail_msg("%s: reason '%s' lacks '%s'", cases[i].scenario, r->reason, cases[i].reason);
        assert_non_null(cJSON_GetObjectItem(r->evidence, "errno"));
        run = posture_run_free(run);
    }
}

/* ---- The real sshd -T ---- */

static bool have_sshd(void)
{
    if (access(SSHD, X_OK) == 0)
        return true;
    if (getenv("CI"))
        fail_msg(SSHD " is missing (packaging/install-deps.sh installs openssh-server)");
    return false;
}

/* As root sshd -T wants /run/sshd; give this process (and the sshd it starts) a private /run
 * that has it, instead of touching the host's. */
static void private_run_sshd(void)
{
    struct stat st;
    if (geteuid() != 0 || stat("/run/sshd", &st) == 0)
        return;
    assert_int_equal(unshare(CLONE_NEWNS), 0);
    assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    assert_int_equal(mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"), 0);
    assert_int_equal(mkdir("/run/sshd", 0755), 0);
}

static void keygen(const char *path)
{
    const char *const argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path, NULL };
    struct posture_spawn_opts o = { .argv = argv, .search_path = true };
    struct posture_spawn_result res = { 0 };
    assert_int_equal(posture_spawn_run(&o, &res), 0);
    if (res.exit_code != 0)
        fail_msg("ssh-keygen: %s", res.err);
    posture_spawn_result_done(&res);
}

/* Our parser reads the same file the same way (host paths: a real root fd is not needed). */
static int host_read(const char *path, size_t max, char **ret_buf, size_t *ret_len, void *ud)
{
    (void) ud;
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, max + 1, f);
    fclose(f);
    if (n > max) {
        free(buf);
        return -EFBIG;
    }
    buf[n] = '\0';
    *ret_buf = buf;
    if (ret_len)
        *ret_len = n;
    return 0;
}

static int host_glob(const char *pattern, char ***ret, void *ud)
{
    (void) ud;
    /* The generated configs include literal paths only. */
    char **l = calloc(1, sizeof(char *));
    if (!l)
        return -ENOMEM;
    if (access(pattern, F_OK) == 0 && posture_strv_extend(&l, pattern) < 0) {
        posture_strv_free(l);
        return -ENOMEM;
    }
    *ret = l;
    return 0;
}

static void test_sshd_t(void **state)
{
    (void) state;
    if (!have_sshd())
        skip();
    private_run_sshd();
    char *dir = posture_test_mkdtemp();
    char key[512], cfg[512], inc[512];
    (void) snprintf(key, sizeof(key), "%s/hostkey", dir);
    (void) snprintf(cfg, sizeof(cfg), "%s/sshd_config", dir);
    (void) snprintf(inc, sizeof(inc), "%s/inc.conf", dir);
    keygen(key);

    static const struct {
        const char *body;
        const char *include;
        const char *want[POSTURE_SSHD_KEY__MAX];
    } cases[] = {
        { "",
          NULL,
          { "prohibit-password", "yes", "no",
            "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
            "aes128-gcm@openssh.com,aes256-gcm@openssh.com" } },
        { "PermitRootLogin yes\n",
          "passwordauthentication No\nPermitRootLogin no\n",
          { "no", "no", "no", NULL } },
        { "PermitRootLogin without-password\nCiphers +aes128-cbc\nPermitEmptyPasswords yes\n",
          NULL,
          { "prohibit-password", "yes", "yes",
            "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
            "aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-cbc" } },
        { "Ciphers -aes*-gcm*\nPasswordAuthentication no\nMatch User bob\n"
          "  PasswordAuthentication yes\n",
          NULL,
          { "prohibit-password", "no", "no",
            "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr" } },
        { "PasswordAuthentication no\nMatch all\n  PasswordAuthentication yes\n",
          NULL,
          { "prohibit-password", "yes", "no", NULL } },
        { "Ciphers \"^3des-cbc\"\nPermitRootLogin=forced-commands-only\n",
          NULL,
          { "forced-commands-only", "yes", "no",
            "3des-cbc,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
            "aes128-gcm@openssh.com,aes256-gcm@openssh.com" } },
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        char body[2048], head[600];
        (void) snprintf(head, sizeof(head), "HostKey %s\nPidFile none\n", key);
        if (cases[i].include)
            (void) snprintf(body, sizeof(body), "Include %s\n%s", inc, cases[i].body);
        else
            (void) snprintf(body, sizeof(body), "%s", cases[i].body);
        char full[2700];
        (void) snprintf(full, sizeof(full), "%s%s", head, body);
        assert_int_equal(posture_test_write_file(dir, "sshd_config", full), 0);
        if (cases[i].include)
            assert_int_equal(posture_test_write_file(dir, "inc.conf", cases[i].include), 0);

        char *tool[POSTURE_SSHD_KEY__MAX] = { 0 };
        char msg[512] = "";
        int r = posture_sshd_t_run(SSHD, cfg, 10 * 1000 * 1000, tool, msg, sizeof(msg));
        if (r < 0)
            fail_msg("case %zu: %s", i, msg);

        struct posture_sshd_config c;
        struct posture_sshd_io io = { .read_file = host_read, .glob = host_glob };
        assert_int_equal(posture_sshd_config_parse(cfg, &io, &c), 0);
        char *ours[POSTURE_SSHD_KEY__MAX] = { 0 };
        assert_int_equal(posture_sshd_config_effective(&c, ours), 0);

        for (int k = 0; k < POSTURE_SSHD_KEY__MAX; k++) {
            if (cases[i].want[k] && strcmp(tool[k], cases[i].want[k]) != 0)
                fail_msg("case %zu: sshd -T says %s %s, expected %s", i, posture_sshd_key_name(k),
                         tool[k], cases[i].want[k]);
            if (k == POSTURE_SSHD_CIPHERS) {
                char **l = NULL;
                char joined[1024] = "";
                size_t used = 0;
                assert_int_equal(posture_sshd_ciphers_effective(ours[k], &l), 0);
                POSTURE_FOREACH_STRV (e, l)
                    used += (size_t) snprintf(joined + used, sizeof(joined) - used, "%s%s",
                                              used ? "," : "", e);
                posture_strv_free(l);
                if (strcmp(joined, tool[k]) != 0)
                    fail_msg("case %zu: sshd -T offers %s, our parser %s", i, tool[k], joined);
            } else if (strcmp(ours[k], tool[k]) != 0)
                fail_msg("case %zu: %s: sshd -T says %s, our parser %s", i,
                         posture_sshd_key_name(k), tool[k], ours[k]);
            free(tool[k]);
            free(ours[k]);
        }
        posture_sshd_config_done(&c);
    }

    /* A config sshd refuses: the first line of its complaint. */
    assert_int_equal(posture_test_write_file(dir, "sshd_config", "Ciphers nonesuch\n"), 0);
    char *tool[POSTURE_SSHD_KEY__MAX] = { 0 };
    char msg[512] = "";
    assert_int_equal(posture_sshd_t_run(SSHD, cfg, 10 * 1000 * 1000, tool, msg, sizeof(msg)), -EIO);
    assert_non_null(strstr(msg, "sshd -T failed (exit status 255)"));
    assert_null(strchr(msg, '\n'));
    assert_int_equal(posture_sshd_t_run("/nonexistent/sshd", cfg, 0, tool, msg, sizeof(msg)),
                     -ENOENT);
    assert_non_null(strstr(msg, "could not be run"));

    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_syntax),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_include_match),
        cmocka_unit_test(test_ciphers),
        cmocka_unit_test(test_dump),
        POSTURE_TEST_ON_OPENAT2(test_not_applicable),
        POSTURE_TEST_ON_FALLBACK(test_not_applicable),
        POSTURE_TEST_ON_OPENAT2(test_pass),
        POSTURE_TEST_ON_FALLBACK(test_pass),
        POSTURE_TEST_ON_OPENAT2(test_fail),
        POSTURE_TEST_ON_FALLBACK(test_fail),
        cmocka_unit_test(test_match_warn),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_sshd_t),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
