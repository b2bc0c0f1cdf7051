/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posturectl submit: one cycle now (DESIGN.md §4, §8; GATEWAYS.md §2.2). Mutual TLS with the
 * device certificate (state_dir/device.crt, from `posturectl enroll`) and the device key;
 * POST /v1/challenge → the checks and the signed report with that nonce (report.c) → with a TPM
 * the evidence bound to it (evidence.c) → POST /v1/posture {"report", "tpm"} → the EAR stored
 * in state_dir/ear.jwt (atomic), state_dir/status.json updated and the verdict printed. The
 * cycle is postured's (agent/daemon/cycle.c), run here without a spool: the offline spool
 * belongs to the daemon. A "use_fresh_nonce" answer gets one retry with a fresh nonce.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "posture/b64url.h"
#include "posture/json.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/statefile.h"

#include "cli.h"
#include "cycle.h"
#include "http_client.h"

#define DEVICE_CERT_NAME "device.crt"
#define EAR_CHECKS_EXT   "tag:posture.dev,2026:checks"
#define EAR_FINDINGS_EXT "tag:posture.dev,2026:findings"

static const char command[] = "submit";

static void help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_CLI_PROGRAM " submit [--json] [--only ID[,ID...]] [--root DIR]\n"
           "                         [--config FILE]\n"
           "\n"
           "Run one attestation cycle now: get a challenge from the verifier ([server]\n"
           "url), run the checks, sign the report with the device key, add the TPM\n"
           "evidence when the TPM is enabled, and submit it over mutual TLS with the\n"
           "device certificate (" DEVICE_CERT_NAME " in the state directory, from\n"
           "'" POSTURE_CLI_PROGRAM
           " enroll'). The verifier's result (EAR) is stored as " POSTURE_EAR_NAME "\n"
           "in the state directory and the verdict printed with what to fix. A stale\n"
           "nonce is retried once with a fresh one. Nothing is spooled: when the verifier\n"
           "cannot be reached the report is dropped (postured keeps an offline spool).\n"
           "\n"
           "Options:\n"
           "  --json           print the verifier's answer (JSON) instead of the summary\n"
           "  --only ID,...    run only these checks (repeatable)\n"
           "  --root DIR       read host state under DIR instead of /\n"
           "  --config FILE    agent configuration (default " POSTURE_AGENT_CONFIG_PATH ")\n"
           "  -h, --help       show this help\n"
           "\n"
           "Exit status: 0 the verdict is affirming, 1 it is not, 2 the cycle failed\n"
           "(usage, configuration, not enrolled, verifier unreachable or refusing).\n");
}

static int parse_args(int argc, char **argv, struct posture_cli_common_args *a)
{
    return posture_cli_parse_common(command, argc, argv,
                                    POSTURE_CLI_TAKES_JSON | POSTURE_CLI_TAKES_CHECKS, help, a);
}

/* The cycle's callbacks (cycle.h): the report and the evidence as `report` makes them. */
struct submit {
    const struct posture_cli_common_args *args;
    const struct posture_cli_config *cfg;
    EVP_PKEY *pkey;
};

static int make_report(
    void *userdata, const char *nonce, uint64_t dropped, char **ret_token, char **ret_payload)
{
    struct submit *s = userdata;

    return posture_cli_report_build(s->args, s->cfg, s->pkey, nonce, dropped, ret_token,
                                    ret_payload);
}

static int make_evidence(void *userdata,
                         const uint8_t *nonce,
                         size_t nonce_len,
                         const char *payload,
                         size_t payload_len,
                         cJSON **ret)
{
    struct submit *s = userdata;

    return posture_cli_evidence_build(s->cfg, nonce, nonce_len, payload, payload_len, ret);
}

/* The EAR's claims, read for display only (the verifier signed them; gateways verify). */
static cJSON *ear_claims(const char *ear)
{
    posture_autofree uint8_t *payload = NULL;
    const char *dot1 = strchr(ear, '.'), *dot2;
    size_t len = 0;
    cJSON *o = NULL;

    if (!dot1)
        return NULL;
    dot2 = strchr(dot1 + 1, '.');
    if (!dot2 || posture_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), (size_t) 64 * 1024,
                                       &payload, &len) < 0)
        return NULL;
    if (posture_json_parse((const char *) payload, len, len, 16, &o) < 0)
        return NULL;
    return o;
}

/* The verdict for people: status, policy, failing checks with their remediation. */
static void print_verdict(const cJSON *answer, const char *ear)
{
    posture_auto_cjson cJSON *claims = ear ? ear_claims(ear) : NULL;
    const char *status = posture_json_get_str(answer, "status");
    const char *policy = posture_json_get_str(answer, "policy");
    const cJSON *allow = cJSON_GetObjectItemCaseSensitive(answer, "allow");
    const cJSON *checks = NULL, *it;
    bool header = false;
    int64_t exp = 0;

    (void) printf("Verdict: %s", status ? status : "unknown");
    if (policy)
        (void) printf(" (policy %s)", policy);
    if (cJSON_IsBool(allow))
        (void) printf(", access %s", cJSON_IsTrue(allow) ? "allowed" : "denied");
    (void) printf("\n");

    if (claims) {
        const cJSON *submods = cJSON_GetObjectItemCaseSensitive(claims, "submods");
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(submods, "device");
        checks = cJSON_GetObjectItemCaseSensitive(dev, EAR_CHECKS_EXT);
        (void) posture_json_get_int(claims, "exp", &exp);
    }
    cJSON_ArrayForEach(it, checks)
    {
        const char *st = posture_json_get_str(it, "status");
        const char *rem = posture_json_get_str(it, "remediation");

        if (!it->string || !st || strcmp(st, "pass") == 0 || strcmp(st, "not_applicable") == 0)
            continue;
        if (!header)
            (void) printf("Checks to fix:\n");
        header = true;
        (void) printf("  %s: %s%s%s\n", it->string, st, rem && rem[0] ? " - " : "", rem ? rem : "");
    }
    if (!header) {
        /* No EAR detail: the summary's list. */
        const cJSON *failed = cJSON_GetObjectItemCaseSensitive(answer, "failed_checks");
        const char *rem = posture_json_get_str(answer, "remediation");
        cJSON_ArrayForEach(it, failed)
        {
            if (!cJSON_IsString(it))
                continue;
            if (!header)
                (void) printf("Checks to fix:\n");
            header = true;
            (void) printf("  %s\n", it->valuestring);
        }
        if (header && rem && rem[0])
            (void) printf("Remediation: %s\n", rem);
    }
    if (claims) {
        const cJSON *submods = cJSON_GetObjectItemCaseSensitive(claims, "submods");
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(submods, "device");
        const cJSON *findings = cJSON_GetObjectItemCaseSensitive(dev, EAR_FINDINGS_EXT);
        bool first = true;

        cJSON_ArrayForEach(it, findings)
        {
            if (!it->string || !cJSON_IsString(it))
                continue;
            if (first)
                (void) printf("Findings:\n");
            first = false;
            (void) printf("  %s: %s\n", it->string, it->valuestring);
        }
    }
    if (exp > 0) {
        time_t t = (time_t) exp;
        struct tm tm;
        char when[64];
        if (gmtime_r(&t, &tm) && strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) > 0)
            (void) printf("The result is valid until %s.\n", when);
    }
}

/* Store the EAR and the status atomically in the state directory. */
static int store_result(const struct posture_cli_config *cfg,
                        const struct posture_cycle_result *res)
{
    POSTURE_CLEANUP(posture_daemon_status_done) struct posture_daemon_status st = { 0 };
    posture_autoclose int fd = -1;
    int r;

    r = posture_state_dir_open(cfg->agent.state_dir, false, &fd);
    if (r >= 0 && res->ear)
        r = posture_state_write_atomic(fd, POSTURE_EAR_NAME, res->ear, strlen(res->ear), 0600,
                                       true);
    if (r < 0)
        return log_error_errno(r, "cannot store the result in %s/" POSTURE_EAR_NAME ": %m",
                               cfg->agent.state_dir);
    /* status.json: postured's next_cycle and spool figures are kept; a damaged file is
     * replaced. */
    (void) posture_daemon_status_read(fd, &st);
    r = posture_daemon_status_update(&st, res, (int64_t) time(NULL));
    if (r >= 0)
        r = posture_daemon_status_write(fd, &st);
    if (r < 0)
        (void) log_warning_errno(r, "cannot update %s/" POSTURE_STATUS_NAME ": %m",
                                 cfg->agent.state_dir);
    return 0;
}

int posture_cli_submit(int argc, char **argv)
{
    POSTURE_CLEANUP(posture_cli_common_args_done) struct posture_cli_common_args args = { 0 };
    POSTURE_CLEANUP(posture_cli_config_done) struct posture_cli_config cfg = { 0 };
    POSTURE_CLEANUP(posture_cycle_result_done) struct posture_cycle_result res = { 0 };
    posture_auto_http_client struct posture_http_client *client = NULL;
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    posture_auto_cjson cJSON *answer = NULL;
    struct submit s = { .args = &args };
    int r;

    r = parse_args(argc, argv, &args);
    if (r != POSTURE_CLI_RUN)
        return r;
    /* The TSS logs TPM errors to stderr by itself; ours say what failed and how to see the
     * TSS's detail (TSS2_LOG=esys+debug), which a TSS2_LOG already set still gives. */
    (void) setenv("TSS2_LOG", "all+none", 0); /* NOLINT(concurrency-mt-unsafe): no threads yet */
    r = posture_cli_config_load(args.config, &cfg);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    s.cfg = &cfg;
    if (!cfg.agent.server_url) {
        log_error("submit: no verifier: set [server] url in the agent configuration");
        return POSTURE_EXIT_USAGE;
    }
    r = posture_cli_key_open(&cfg, &pkey);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    s.pkey = pkey;
    r = posture_cli_verifier_connect(&cfg, pkey, &client);
    if (r < 0)
        return POSTURE_EXIT_USAGE;

    struct posture_cycle cycle = {
        .client = client,
        .key = pkey,
        .url = cfg.agent.server_url,
        .ops = {
            .report = make_report,
            .evidence = posture_cli_evidence_wanted(&cfg) ? make_evidence : NULL,
            .userdata = &s,
        },
    };
    r = posture_cycle_run(&cycle, &res);
    if (r < 0) {
        (void) log_error_errno(r, "Failed to run the cycle: %m");
        return POSTURE_EXIT_USAGE;
    }
    (void) store_result(&cfg, &res);
    if (res.outcome != POSTURE_CYCLE_DELIVERED) {
        log_error("submit: the report was not delivered: %s",
                  res.error[0] ? res.error : "see the messages above");
        return POSTURE_EXIT_USAGE;
    }
    answer = cJSON_Parse(res.answer);
    if (args.json)
        (void) printf("%s\n", res.answer);
    else
        print_verdict(answer, res.ear);
    return strcmp(res.status, "affirming") == 0 ? POSTURE_EXIT_OK : POSTURE_EXIT_FAILED;
}
