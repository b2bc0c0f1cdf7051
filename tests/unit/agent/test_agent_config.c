/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's typed configuration: defaults, the DESIGN.md §5 keys, validation (agent_config.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "posture/agent_config.h"
#include "posture/config.h"
#include "posture/strv.h"
#include "posture/version.h"

#include "testlib.h"

#define USEC     1000000ULL
#define KIB      1024ULL
#define DIAG_MAX 8

struct diags {
    unsigned n;
    int level[DIAG_MAX];
    char msg[DIAG_MAX][1024];
};

static void capture(int level, const char *file, unsigned line, const char *message, void *userdata)
{
    struct diags *d = userdata;
    (void) file;
    (void) line;
    if (d->n < DIAG_MAX) {
        d->level[d->n] = level;
        (void) snprintf(d->msg[d->n], sizeof(d->msg[0]), "%s", message);
    }
    d->n++;
}

/* Parse text as agent.conf and apply it over the defaults; returns apply's result. */
static int apply_text(const char *text, struct posture_agent_config *cfg, struct diags *d)
{
    posture_auto_config struct posture_config *c = NULL;

    memset(d, 0, sizeof(*d));
    assert_int_equal(posture_config_new(capture, d, &c), 0);
    assert_int_equal(posture_config_parse_string(c, text, strlen(text), "agent.conf"), 0);
    assert_int_equal(posture_agent_config_init(cfg), 0);
    return posture_agent_config_apply(cfg, c);
}

static void test_defaults(void **state)
{
    (void) state;
    struct posture_agent_config cfg;

    assert_int_equal(posture_agent_config_init(&cfg), 0);
    assert_string_equal(cfg.state_dir, "/var/lib/posture");
    assert_null(cfg.server_url);
    assert_string_equal(cfg.server_ca, "/etc/posture/verifier-ca.pem");
    assert_int_equal(cfg.tpm_mode, POSTURE_TPM_AUTO);
    assert_string_equal(cfg.tpm_tcti, "device:/dev/tpmrm0");
    assert_string_equal(cfg.tpm_event_log, "/sys/kernel/security/tpm0/binary_bios_measurements "
                                           "/run/posture/binary_bios_measurements");
    assert_true(cfg.schedule_interval_usec == 300 * USEC);
    assert_true(cfg.schedule_early_gap_usec == 30 * USEC);
    assert_true(cfg.server_timeout_usec == 30 * USEC);
    assert_string_equal(cfg.server_enroll_token, "/etc/posture/enroll.token");
    assert_true(cfg.spool_max_bytes == 8 * KIB * KIB);
    assert_true(cfg.spool_max_age_usec == USEC * 7 * 24 * 3600);
    assert_int_equal(posture_strv_length(cfg.plugin_dirs), 1);
    assert_string_equal(cfg.plugin_dirs[0], POSTURE_PLUGIN_DIR);
    assert_int_equal(posture_strv_length(cfg.exec_dirs), 2);
    assert_string_equal(cfg.exec_dirs[0], POSTURE_EXEC_CHECK_DIR);
    assert_string_equal(cfg.exec_dirs[1], "/etc/posture/checks.d");
    assert_true(cfg.exec_timeout_usec == 10 * USEC);
    assert_true(cfg.check_timeout_usec == 10 * USEC);

    /* An empty configuration changes nothing. */
    posture_auto_config struct posture_config *c = NULL;
    assert_int_equal(posture_config_new(NULL, NULL, &c), 0);
    assert_int_equal(posture_agent_config_apply(&cfg, c), 0);
    assert_string_equal(cfg.state_dir, "/var/lib/posture");

    /* done is idempotent and NULL-safe. */
    posture_agent_config_done(&cfg);
    assert_null(cfg.state_dir);
    assert_null(cfg.exec_dirs);
    posture_agent_config_done(&cfg);
    posture_agent_config_done(NULL);
}

static void test_design_example(void **state)
{
    (void) state;
    struct posture_agent_config cfg;
    struct diags d;

    assert_int_equal(apply_text("# /etc/posture/agent.conf\n"
                                "[agent]\n"
                                "state_dir = /srv/posture\n"
                                "[server]\n"
                                "url = https://verifier.example:8443\n"
                                "ca = /etc/posture/other-ca.pem\n"
                                "timeout = 45s\n"
                                "[tpm]\n"
                                "enabled = no                    # auto | yes | no\n"
                                "tcti = swtpm:host=127.0.0.1,port=2321\n"
                                "event_log = /tmp/log.bin\n"
                                "[schedule]\n"
                                "interval = 1h\n"
                                "early_gap = 5s\n"
                                "[spool]\n"
                                "max_bytes = 64K\n"
                                "max_age = 2d\n"
                                "[checks]\n"
                                "plugin_dirs = /opt/a /opt/b\n"
                                "exec_dirs =\n"
                                "exec_timeout = 30s\n"
                                "timeout = 250ms\n"
                                "[check.os.patch_level]\n"
                                "max_pending_security = 0\n"
                                "[check.whatever]\n"
                                "anything = goes\n",
                                &cfg, &d),
                     0);
    assert_int_equal(d.n, 0); /* check.* sections are left to the runner */
    assert_string_equal(cfg.state_dir, "/srv/posture");
    assert_string_equal(cfg.server_url, "https://verifier.example:8443");
    assert_string_equal(cfg.server_ca, "/etc/posture/other-ca.pem");
    assert_int_equal(cfg.tpm_mode, POSTURE_TPM_NO);
    assert_string_equal(cfg.tpm_tcti, "swtpm:host=127.0.0.1,port=2321");
    assert_string_equal(cfg.tpm_event_log, "/tmp/log.bin");
    assert_true(cfg.schedule_interval_usec == 3600 * USEC);
    assert_true(cfg.schedule_early_gap_usec == 5 * USEC);
    assert_true(cfg.server_timeout_usec == 45 * USEC);
    assert_true(cfg.spool_max_bytes == 64 * KIB);
    assert_true(cfg.spool_max_age_usec == USEC * 2 * 24 * 3600);
    assert_int_equal(posture_strv_length(cfg.plugin_dirs), 2);
    assert_string_equal(cfg.plugin_dirs[1], "/opt/b");
    assert_non_null(cfg.exec_dirs);
    assert_int_equal(posture_strv_length(cfg.exec_dirs), 0);
    assert_true(cfg.exec_timeout_usec == 30 * USEC);
    assert_true(cfg.check_timeout_usec == 250000);
    posture_agent_config_done(&cfg);
}

static void test_drop_in_overrides(void **state)
{
    (void) state;
    struct posture_agent_config cfg;
    struct diags d = { 0 };
    char *dir = posture_test_mkdtemp();
    char main_path[4096];
    posture_auto_config struct posture_config *c = NULL;

    (void) snprintf(main_path, sizeof(main_path), "%s/agent.conf", dir);
    assert_int_equal(posture_test_write_file(dir, "agent.conf",
                                             "[server]\nurl = https://main\n[schedule]\n"
                                             "interval = 1m\n"),
                     0);
    assert_int_equal(posture_test_write_file(dir, "agent.conf.d/50-fleet.conf",
                                             "[server]\nurl = https://fleet:8443\n"),
                     0);
    assert_int_equal(posture_config_new(capture, &d, &c), 0);
    assert_int_equal(posture_config_load(c, main_path, true), 0);
    assert_int_equal(posture_agent_config_init(&cfg), 0);
    assert_int_equal(posture_agent_config_apply(&cfg, c), 0);
    assert_string_equal(cfg.server_url, "https://fleet:8443");
    assert_true(cfg.schedule_interval_usec == 60 * USEC);
    posture_agent_config_done(&cfg);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

static void test_tpm_mode(void **state)
{
    (void) state;
    static const struct {
        const char *s;
        int mode;
    } cases[] = {
        { "auto", POSTURE_TPM_AUTO }, { "yes", POSTURE_TPM_YES },   { "no", POSTURE_TPM_NO },
        { "true", POSTURE_TPM_YES },  { "false", POSTURE_TPM_NO },  { "1", POSTURE_TPM_YES },
        { "0", POSTURE_TPM_NO },      { "AUTO", POSTURE_TPM_AUTO },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(posture_tpm_mode_from_string(cases[i].s), cases[i].mode);

        struct posture_agent_config cfg;
        struct diags d;
        char text[64];
        (void) snprintf(text, sizeof(text), "[tpm]\nenabled = %s\n", cases[i].s);
        assert_int_equal(apply_text(text, &cfg, &d), 0);
        assert_int_equal(cfg.tpm_mode, cases[i].mode);
        posture_agent_config_done(&cfg);
    }
    assert_int_equal(posture_tpm_mode_from_string("maybe"), -EINVAL);
    assert_int_equal(posture_tpm_mode_from_string(""), -EINVAL);
    assert_int_equal(posture_tpm_mode_from_string(NULL), -EINVAL);

    assert_string_equal(posture_tpm_mode_to_string(POSTURE_TPM_AUTO), "auto");
    assert_string_equal(posture_tpm_mode_to_string(POSTURE_TPM_YES), "yes");
    assert_string_equal(posture_tpm_mode_to_string(POSTURE_TPM_NO), "no");
    assert_null(posture_tpm_mode_to_string(POSTURE_TPM__MAX));
    assert_null(posture_tpm_mode_to_string(-1));
}

/* Apply text; it must fail with exactly one LOG_ERR diagnostic equal to expected. */
static void expect_invalid(const char *text, const char *expected)
{
    struct posture_agent_config cfg;
    struct diags d;

    assert_int_equal(apply_text(text, &cfg, &d), -EINVAL);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.level[0], LOG_ERR);
    assert_string_equal(d.msg[0], expected);
    posture_agent_config_done(&cfg);
}

static void test_validation(void **state)
{
    (void) state;
    expect_invalid("[server]\nurl = http://verifier.example\n",
                   "agent.conf:2: invalid value 'http://verifier.example' for key 'url' in "
                   "[server]: the verifier is reached over TLS only");
    expect_invalid("[server]\nurl = HTTPS://x\n", "agent.conf:2: invalid value 'HTTPS://x' for key "
                                                  "'url' in [server]: the verifier is reached over "
                                                  "TLS only");
    expect_invalid("[server]\nurl = https://\n",
                   "agent.conf:2: invalid value 'https://' for key 'url' in [server]: expected a "
                   "URL like https://verifier.example:8443");
    expect_invalid("[server]\nurl = \"https://a b\"\n",
                   "agent.conf:2: invalid value 'https://a b' for key 'url' in [server]: expected "
                   "a URL like https://verifier.example:8443");
    expect_invalid("[agent]\nstate_dir = var/lib/posture\n",
                   "agent.conf:2: invalid value 'var/lib/posture' for key 'state_dir' in [agent]: "
                   "expected an absolute path");
    expect_invalid("[agent]\nstate_dir =\n", "agent.conf:2: invalid value '' for key 'state_dir' "
                                             "in [agent]: expected an absolute path");
    expect_invalid("[server]\nca = ca.pem\n", "agent.conf:2: invalid value 'ca.pem' for key 'ca' "
                                              "in [server]: expected an absolute path");
    expect_invalid("[tpm]\nenabled = maybe\n", "agent.conf:2: invalid value 'maybe' for key "
                                               "'enabled' in [tpm]: expected auto, yes or no");
    expect_invalid("[schedule]\ninterval = 9s\n", "agent.conf:2: invalid value '9s' for key "
                                                  "'interval' in [schedule]: the interval must be "
                                                  "at least 10s");
    expect_invalid("[server]\ntimeout = 11m\n", "agent.conf:2: invalid value '11m' for key "
                                                "'timeout' in [server]: the timeout must be "
                                                "between 1s and 10m");
    expect_invalid("[schedule]\nearly_gap = 0s\n", "agent.conf:2: invalid value '0s' for key "
                                                   "'early_gap' in [schedule]: the gap must be "
                                                   "between 1s and 1h");
    expect_invalid("[schedule]\nearly_gap = 2h\n", "agent.conf:2: invalid value '2h' for key "
                                                   "'early_gap' in [schedule]: the gap must be "
                                                   "between 1s and 1h");
    expect_invalid("[schedule]\ninterval = often\n",
                   "agent.conf:2: invalid value 'often' for key 'interval' in [schedule]: "
                   "expected a duration like 30s, 5m, 1h");
    expect_invalid("[checks]\nexec_timeout = 0\n", "agent.conf:2: invalid value '0' for key "
                                                   "'exec_timeout' in [checks]: the timeout must "
                                                   "be greater than 0");
    expect_invalid("[checks]\ntimeout = 0s\n", "agent.conf:2: invalid value '0s' for key "
                                               "'timeout' in [checks]: the timeout must be "
                                               "greater than 0");
    expect_invalid("[spool]\nmax_bytes = 8 apples\n",
                   "agent.conf:2: invalid value '8 apples' for key 'max_bytes' in [spool]: "
                   "expected a size like 512K, 8M, 1G");
    expect_invalid("[spool]\nmax_age = -1d\n", "agent.conf:2: invalid value '-1d' for key "
                                               "'max_age' in [spool]: expected a duration like "
                                               "30s, 5m, 1h");

    /* Boundaries that are accepted; an empty url unsets it. */
    struct posture_agent_config cfg;
    struct diags d;
    assert_int_equal(apply_text("[schedule]\ninterval = 10s\n[checks]\ntimeout = 1ms\n"
                                "[server]\nurl = https://x\nurl =\n",
                                &cfg, &d),
                     0);
    assert_true(cfg.schedule_interval_usec == 10 * USEC);
    assert_true(cfg.check_timeout_usec == 1000);
    assert_null(cfg.server_url);
    posture_agent_config_done(&cfg);
}

static void test_unknown(void **state)
{
    (void) state;
    struct posture_agent_config cfg;
    struct diags d;

    assert_int_equal(apply_text("[agent]\nstate_dirr = /x\n[verifier]\nstate_dir = /y\n"
                                "[check]\nx = 1\n[checks]\nplugin_dirs = /p\n",
                                &cfg, &d),
                     0);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.level[0], LOG_WARNING);
    assert_string_equal(d.msg[0], "agent.conf:2: unknown key 'state_dirr' in [agent], ignoring");
    assert_string_equal(d.msg[1], "agent.conf:4: unknown section [verifier], ignoring");
    assert_string_equal(d.msg[2], "agent.conf:6: unknown section [check], ignoring");
    assert_string_equal(cfg.state_dir, "/var/lib/posture");
    assert_string_equal(cfg.plugin_dirs[0], "/p");
    posture_agent_config_done(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_drop_in_overrides), cmocka_unit_test(test_tpm_mode),
        cmocka_unit_test(test_validation),        cmocka_unit_test(test_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
