/* SPDX-License-Identifier: Apache-2.0 */
/* verifier.conf (DESIGN.md §5): defaults, every key, drop-ins, bad values with file:line, and
 * the effective-config dump read back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "posture/config.h"
#include "posture/strv.h"

#include "testlib.h"
#include "verifier_config.h"

struct diag {
    char text[4096];
    unsigned errors, warnings;
};

static void diag_fn(int level, const char *file, unsigned line, const char *message, void *userdata)
{
    struct diag *d = userdata;
    size_t n = strlen(d->text);

    (void) file;
    (void) line;
    if (level <= LOG_ERR)
        d->errors++;
    else if (level == LOG_WARNING)
        d->warnings++;
    (void) snprintf(d->text + n, sizeof(d->text) - n, "%s\n", message);
}

/* Parse text as "<dir>/verifier.conf" (+ optional drop-in) and apply it. */
static int apply_text(const char *text,
                      const char *dropin,
                      struct posture_verifier_config *cfg,
                      struct diag *d)
{
    char *dir = posture_test_mkdtemp();
    char path[4096];
    struct posture_config *c = NULL;
    int r;

    memset(d, 0, sizeof(*d));
    assert_int_equal(posture_test_write_file(dir, "verifier.conf", text), 0);
    if (dropin)
        assert_int_equal(posture_test_write_file(dir, "verifier.conf.d/50-fleet.conf", dropin), 0);
    (void) snprintf(path, sizeof(path), "%s/verifier.conf", dir);
    assert_int_equal(posture_config_new(diag_fn, d, &c), 0);
    r = posture_config_load(c, path, true);
    if (r >= 0) {
        assert_int_equal(posture_verifier_config_init(cfg), 0);
        r = posture_verifier_config_apply(cfg, c);
        if (r < 0)
            posture_verifier_config_done(cfg);
    }
    posture_config_free(c);
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
    return r;
}

static void test_defaults(void **state)
{
    struct posture_verifier_config cfg;
    struct diag d;

    (void) state;
    assert_int_equal(apply_text("# nothing\n", NULL, &cfg, &d), 0);
    assert_string_equal(cfg.state_dir, "/var/lib/posture-verifier");
    assert_string_equal(cfg.listen_agents, "0.0.0.0:8443");
    assert_string_equal(cfg.listen_gateways, "127.0.0.1:8081");
    assert_true(posture_strv_contains(cfg.trusted_gateways, "127.0.0.1/32"));
    assert_string_equal(cfg.ek_roots, "/etc/posture/ek-roots");
    assert_int_equal(cfg.enroll_rate_per_ip, 30);
    assert_int_equal(cfg.enroll_burst_per_ip, 20);
    assert_int_equal(cfg.enroll_rate, 600);
    assert_int_equal(cfg.enroll_clients_max, 16384);
    assert_string_equal(cfg.policy_dir, "/etc/posture/policies");
    assert_string_equal(cfg.policy_default, "baseline");
    /* derived from state_dir */
    assert_string_equal(cfg.store, "sqlite:/var/lib/posture-verifier/store.db");
    assert_string_equal(cfg.tls_client_ca, "/var/lib/posture-verifier/device-ca.pem");
    assert_string_equal(cfg.tls_cert, "/var/lib/posture-verifier/tls.crt");
    assert_string_equal(cfg.tls_key, "/var/lib/posture-verifier/tls.key");
    assert_int_equal(cfg.posture_body_max, 2 * 1024 * 1024);
    assert_int_equal(cfg.request_timeout_usec, 10 * 1000000ULL);
    assert_int_equal(d.errors, 0);
    posture_verifier_config_done(&cfg);
}

static const char full[] = "[verifier]\n"
                           "state_dir = /srv/pv/\n"
                           "trust_domain = corp.example\n"
                           "[listen]\n"
                           "agents = [::]:9443\n"
                           "gateways = unix:/run/posture/verifier.sock\n"
                           "trusted_gateways = 127.0.0.1/32 ::1/128 10.1.0.0/16 unix\n"
                           "threads = 4\n"
                           "max_connections = 5000\n"
                           "max_connections_per_ip = 16\n"
                           "request_timeout = 3s\n"
                           "idle_timeout = 1m\n"
                           "shutdown_timeout = 1500ms\n"
                           "body_max = 32K\n"
                           "posture_body_max = 4M\n"
                           "[tls]\n"
                           "cert = /etc/pv/tls.crt\n"
                           "key = /etc/pv/tls.key\n"
                           "client_ca = /etc/pv/devices.pem\n"
                           "[enroll]\n"
                           "ek_roots = /etc/pv/ek\n"
                           "rate_per_ip = 5\n"
                           "burst_per_ip = 2\n"
                           "rate = 0\n"
                           "burst = 7\n"
                           "failures_per_ip = 3\n"
                           "failure_burst_per_ip = 1\n"
                           "clients_max = 100\n"
                           "[policy]\n"
                           "dir = /etc/pv/policies\n"
                           "default = payments-admin\n";

static void test_every_key(void **state)
{
    struct posture_verifier_config cfg;
    struct diag d;

    (void) state;
    assert_int_equal(apply_text(full, NULL, &cfg, &d), 0);
    assert_int_equal(d.errors + d.warnings, 0);
    assert_string_equal(cfg.state_dir, "/srv/pv/");
    assert_string_equal(cfg.trust_domain, "corp.example");
    assert_string_equal(cfg.store, "sqlite:/srv/pv/store.db"); /* no double slash */
    assert_string_equal(cfg.listen_agents, "[::]:9443");
    assert_string_equal(cfg.listen_gateways, "unix:/run/posture/verifier.sock");
    assert_int_equal(posture_strv_length(cfg.trusted_gateways), 4);
    assert_true(posture_strv_contains(cfg.trusted_gateways, "unix"));
    assert_int_equal(cfg.threads, 4);
    assert_int_equal(cfg.max_connections, 5000);
    assert_int_equal(cfg.max_connections_per_ip, 16);
    assert_int_equal(cfg.request_timeout_usec, 3000000);
    assert_int_equal(cfg.idle_timeout_usec, 60000000);
    assert_int_equal(cfg.shutdown_timeout_usec, 1500000);
    assert_int_equal(cfg.body_max, 32 * 1024);
    assert_int_equal(cfg.posture_body_max, 4 * 1024 * 1024);
    assert_string_equal(cfg.tls_client_ca, "/etc/pv/devices.pem");
    assert_string_equal(cfg.ek_roots, "/etc/pv/ek");
    assert_int_equal(cfg.enroll_rate_per_ip, 5);
    assert_int_equal(cfg.enroll_burst_per_ip, 2);
    assert_int_equal(cfg.enroll_rate, 0);
    assert_int_equal(cfg.enroll_burst, 7);
    assert_int_equal(cfg.enroll_failures_per_ip, 3);
    assert_int_equal(cfg.enroll_failure_burst_per_ip, 1);
    assert_int_equal(cfg.enroll_clients_max, 100);
    assert_string_equal(cfg.policy_default, "payments-admin");
    posture_verifier_config_done(&cfg);
}

static void test_dropin_and_store(void **state)
{
    struct posture_verifier_config cfg;
    struct diag d;

    (void) state;
    assert_int_equal(apply_text("[listen]\ngateways = 127.0.0.1:8081\n",
                                "[listen]\ngateways =\n[verifier]\nstore = sqlite:/tmp/x.db\n",
                                &cfg, &d),
                     0);
    assert_string_equal(cfg.listen_gateways, ""); /* off */
    assert_string_equal(cfg.store, "sqlite:/tmp/x.db");
    posture_verifier_config_done(&cfg);
}

/* [tls] cert and key: in the state directory unless set (the unit may write nowhere else);
 * an empty value means the default again; a relative path is refused. */
static void test_tls_follows_state_dir(void **state)
{
    struct posture_verifier_config cfg;
    struct diag d;

    (void) state;
    assert_int_equal(apply_text("[verifier]\nstate_dir = /srv/verifier/\n", NULL, &cfg, &d), 0);
    assert_string_equal(cfg.tls_cert, "/srv/verifier/tls.crt");
    assert_string_equal(cfg.tls_key, "/srv/verifier/tls.key");
    assert_string_equal(cfg.tls_client_ca, "/srv/verifier/device-ca.pem");
    posture_verifier_config_done(&cfg);
    assert_int_equal(
        apply_text("[tls]\ncert = /etc/pki/v.crt\nkey = /etc/pki/v.key\n", NULL, &cfg, &d), 0);
    assert_string_equal(cfg.tls_cert, "/etc/pki/v.crt");
    assert_string_equal(cfg.tls_key, "/etc/pki/v.key");
    posture_verifier_config_done(&cfg);
    assert_int_equal(apply_text("[tls]\ncert = /etc/pki/v.crt\n", "[tls]\ncert =\n", &cfg, &d), 0);
    assert_string_equal(cfg.tls_cert, "/var/lib/posture-verifier/tls.crt");
    posture_verifier_config_done(&cfg);
    assert_true(apply_text("[tls]\nkey = tls.key\n", NULL, &cfg, &d) < 0);
    assert_int_equal(d.errors, 1);
    assert_non_null(strstr(d.text, "absolute"));
}

/* [verifier] log_level: a level name or number, empty for "as started". */
static void test_log_level(void **state)
{
    struct posture_verifier_config cfg;
    struct diag d;

    (void) state;
    assert_int_equal(apply_text("[verifier]\nlog_level = debug\n", NULL, &cfg, &d), 0);
    assert_string_equal(cfg.log_level, "debug");
    posture_verifier_config_done(&cfg);
    assert_int_equal(apply_text("[verifier]\nlog_level = 4\n", NULL, &cfg, &d), 0);
    assert_string_equal(cfg.log_level, "4");
    posture_verifier_config_done(&cfg);
    assert_int_equal(
        apply_text("[verifier]\nlog_level = debug\n", "[verifier]\nlog_level =\n", &cfg, &d), 0);
    assert_null(cfg.log_level);
    posture_verifier_config_done(&cfg);
    assert_int_equal(apply_text("", NULL, &cfg, &d), 0);
    assert_null(cfg.log_level);
    posture_verifier_config_done(&cfg);
}

static void test_unknown_key_warns(void **state)
{
    struct posture_verifier_config cfg;
    struct diag d;

    (void) state;
    assert_int_equal(
        apply_text("[listen]\nagentz = 1.2.3.4:1\n[nonsense]\nx = 1\n", NULL, &cfg, &d), 0);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.warnings, 2);
    assert_non_null(strstr(d.text, "agentz"));
    posture_verifier_config_done(&cfg);
}

static void expect_bad(const char *text, const char *needle)
{
    struct posture_verifier_config cfg;
    struct diag d;

    assert_int_equal(apply_text(text, NULL, &cfg, &d), -EINVAL);
    assert_true(d.errors > 0);
    /* file:line of the bad value */
    if (!strstr(d.text, "verifier.conf:2:") || !strstr(d.text, needle))
        fail_msg("for %s: got %s", text, d.text);
}

static void test_bad_values(void **state)
{
    (void) state;
    expect_bad("[verifier]\nstate_dir = relative/dir\n", "state_dir");
    expect_bad("[verifier]\ntrust_domain = Corp.Example\n", "trust_domain");
    expect_bad("[verifier]\ntrust_domain = .corp\n", "trust_domain");
    expect_bad("[verifier]\nstore = store.db\n", "store");
    expect_bad("[verifier]\nlog_level = loud\n", "log_level");
    expect_bad("[listen]\nagents = 0.0.0.0\n", "agents");
    expect_bad("[listen]\nagents = verifier.example:8443\n", "agents");
    expect_bad("[listen]\ngateways = 127.0.0.1:65536\n", "gateways");
    expect_bad("[listen]\ngateways = [::1:8081\n", "gateways");
    expect_bad("[listen]\ngateways = unix:relative.sock\n", "gateways");
    expect_bad("[listen]\ntrusted_gateways = 127.0.0.1/33\n", "trusted_gateways");
    expect_bad("[listen]\ntrusted_gateways = 10.0.0.1/8\n", "trusted_gateways");
    expect_bad("[listen]\ntrusted_gateways = 127.0.0.1/32 gateway.example\n", "trusted_gateways");
    expect_bad("[listen]\ntrusted_gateways = ::1/129\n", "trusted_gateways");
    expect_bad("[listen]\nthreads = 1000\n", "threads");
    expect_bad("[listen]\nthreads = -1\n", "threads");
    expect_bad("[listen]\nmax_connections = 0\n", "max_connections");
    expect_bad("[listen]\nmax_connections_per_ip = 1000000\n", "max_connections_per_ip");
    expect_bad("[listen]\nrequest_timeout = 0\n", "request_timeout");
    expect_bad("[listen]\nrequest_timeout = 2h\n", "request_timeout");
    expect_bad("[listen]\nidle_timeout = soon\n", "idle_timeout");
    expect_bad("[listen]\nbody_max = 10\n", "body_max");
    expect_bad("[listen]\nposture_body_max = 1G\n", "posture_body_max");
    expect_bad("[tls]\ncert = verifier.crt\n", "cert");
    expect_bad("[enroll]\nrate_per_ip = 2000000\n", "rate_per_ip");
    expect_bad("[enroll]\nburst_per_ip = 0\n", "burst_per_ip");
    expect_bad("[enroll]\nfailure_burst_per_ip = -1\n", "failure_burst_per_ip");
    expect_bad("[enroll]\nclients_max = 0\n", "clients_max");
    expect_bad("[enroll]\nclients_max = 2000000\n", "clients_max");
    expect_bad("[policy]\ndefault = ../etc/passwd\n", "default");
    expect_bad("[policy]\ndefault = a b\n", "default");
}

static void test_dump_reads_back(void **state)
{
    struct posture_verifier_config cfg, again;
    struct diag d;
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    (void) state;
    assert_int_equal(apply_text(full, NULL, &cfg, &d), 0);
    f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(posture_verifier_config_dump(&cfg, f), 0);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(text, "[listen]\n"));
    assert_non_null(strstr(text, "trusted_gateways = 127.0.0.1/32 ::1/128 10.1.0.0/16 unix\n"));
    assert_non_null(strstr(text, "shutdown_timeout = 1500ms\n"));

    assert_int_equal(apply_text(text, NULL, &again, &d), 0);
    assert_int_equal(d.errors + d.warnings, 0);
    assert_string_equal(again.store, cfg.store);
    assert_string_equal(again.listen_agents, cfg.listen_agents);
    assert_string_equal(again.listen_gateways, cfg.listen_gateways);
    assert_int_equal(again.shutdown_timeout_usec, cfg.shutdown_timeout_usec);
    assert_int_equal(again.idle_timeout_usec, cfg.idle_timeout_usec);
    assert_int_equal(again.posture_body_max, cfg.posture_body_max);
    assert_int_equal(again.max_connections_per_ip, cfg.max_connections_per_ip);
    assert_string_equal(again.tls_client_ca, cfg.tls_client_ca);
    assert_string_equal(again.policy_default, cfg.policy_default);
    posture_verifier_config_done(&again);
    posture_verifier_config_done(&cfg);
    free(text);
}

/* packaging/config/verifier.conf documents the defaults: with every "#key = value" line
 * uncommented it must load without a warning and give the built-in defaults. */
static void test_packaged_config(void **state)
{
    struct posture_verifier_config cfg, def;
    struct diag d;
    const char *path = posture_test_path("../packaging/config/verifier.conf");
    char line[1024];
    char *text = NULL;
    size_t len = 0;
    FILE *in, *out;

    (void) state;
    in = fopen(path, "re");
    assert_non_null(in);
    out = open_memstream(&text, &len);
    assert_non_null(out);
    while (fgets(line, sizeof(line), in)) {
        size_t k = strspn(line + 1, "abcdefghijklmnopqrstuvwxyz_");
        if (line[0] == '#' && k > 0 && strncmp(line + 1 + k, " =", 2) == 0)
            (void) fputs(line + 1, out);
        else
            (void) fputs(line, out);
    }
    (void) fclose(in);
    assert_int_equal(fclose(out), 0);
    assert_non_null(strstr(text, "\nagents = 0.0.0.0:8443\n"));

    assert_int_equal(apply_text(text, NULL, &cfg, &d), 0);
    assert_int_equal(d.errors + d.warnings, 0);
    assert_int_equal(apply_text("", NULL, &def, &d), 0);
    assert_string_equal(cfg.state_dir, def.state_dir);
    assert_string_equal(cfg.trust_domain, def.trust_domain);
    assert_string_equal(cfg.store, def.store);
    assert_string_equal(cfg.listen_agents, def.listen_agents);
    assert_string_equal(cfg.listen_gateways, def.listen_gateways);
    assert_int_equal(posture_strv_length(cfg.trusted_gateways),
                     posture_strv_length(def.trusted_gateways));
    assert_int_equal(cfg.threads, def.threads);
    assert_int_equal(cfg.max_connections, def.max_connections);
    assert_int_equal(cfg.max_connections_per_ip, def.max_connections_per_ip);
    assert_int_equal(cfg.request_timeout_usec, def.request_timeout_usec);
    assert_int_equal(cfg.idle_timeout_usec, def.idle_timeout_usec);
    assert_int_equal(cfg.shutdown_timeout_usec, def.shutdown_timeout_usec);
    assert_int_equal(cfg.body_max, def.body_max);
    assert_int_equal(cfg.posture_body_max, def.posture_body_max);
    assert_string_equal(cfg.tls_cert, def.tls_cert);
    assert_string_equal(cfg.tls_key, def.tls_key);
    assert_string_equal(cfg.tls_client_ca, def.tls_client_ca);
    assert_string_equal(cfg.ek_roots, def.ek_roots);
    assert_string_equal(cfg.policy_dir, def.policy_dir);
    assert_string_equal(cfg.policy_default, def.policy_default);
    posture_verifier_config_done(&cfg);
    posture_verifier_config_done(&def);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_dropin_and_store),
        cmocka_unit_test(test_unknown_key_warns),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_dump_reads_back),
        cmocka_unit_test(test_packaged_config),
        cmocka_unit_test(test_log_level),
        cmocka_unit_test(test_tls_follows_state_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
