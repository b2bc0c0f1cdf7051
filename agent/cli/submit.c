/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posturectl submit: one cycle now (DESIGN.md §4, §8; GATEWAYS.md §2.2). Mutual TLS with the
 * device certificate (state_dir/device.crt, from `posturectl enroll`) and the device key;
 * POST /v1/challenge → the checks and the signed report with that nonce (report.c) → with a TPM
 * the evidence bound to it (evidence.c) → POST /v1/posture {"report", "tpm"} → the EAR stored
 * in state_dir/ear.jwt (atomic) and the verdict printed. A "use_fresh_nonce" answer gets one
 * retry with a fresh nonce. Nothing is spooled: the offline spool is postured's (issue 6).
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "posture/b64url.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/statefile.h"
#ifdef POSTURE_HAVE_TPM
#include "posture/key_tpm.h"
#endif

#include "cli.h"
#include "http_client.h"

#define DEVICE_CERT_NAME "device.crt"
#define VERIFIER_CA_NAME "verifier-ca.pem"
#define EAR_NAME         "ear.jwt"
#define NONCE_MAX_BYTES  64
#define EAR_CHECKS_EXT   "tag:posture.dev,2026:checks"
#define EAR_FINDINGS_EXT "tag:posture.dev,2026:findings"
#define SUBMIT_BODY_MAX  ((size_t) 2 * 1024 * 1024) /* the verifier's default body limit */

static const char command[] = "submit";

static void help(FILE *f)
{
    (void) fprintf(
        f,
        "Usage: " POSTURE_CLI_PROGRAM " submit [--json] [--only ID[,ID...]] [--root DIR]\n"
        "                         [--config FILE]\n"
        "\n"
        "Run one attestation cycle now: get a challenge from the verifier ([server]\n"
        "url), run the checks, sign the report with the device key, add the TPM\n"
        "evidence when the TPM is enabled, and submit it over mutual TLS with the\n"
        "device certificate (" DEVICE_CERT_NAME " in the state directory, from\n"
        "'" POSTURE_CLI_PROGRAM " enroll'). The verifier's result (EAR) is stored as " EAR_NAME "\n"
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

struct submit {
    const struct posture_cli_common_args *args;
    const struct posture_cli_config *cfg;
    struct posture_http_client *client;
    EVP_PKEY *pkey;
    const char *url;
    const char *ca;
    bool evidence;
};

static int
request(struct submit *s, const char *path, const char *body, struct posture_http_response *ret)
{
    const char *detail = NULL;
    int r;

    assert(body);
    r = posture_http_request(s->client, path, "application/json", body, strlen(body), ret, &detail);
    if (r < 0)
        return posture_cli_transport_error(s->url, s->ca, r, detail);
    return 0;
}

/* A refusal, explained (401: the certificate is not, or no longer, accepted). */
static int refused(struct submit *s, const char *what, const struct posture_http_response *resp)
{
    char text[320];

    if (posture_cli_problem_text(resp->body, resp->body_len, text, sizeof(text)) < 0)
        (void) snprintf(text, sizeof(text), "HTTP %ld without a problem description", resp->status);
    return log_error_errno(-EACCES, "the verifier at %s refused the %s: HTTP %ld %s%s", s->url,
                           what, resp->status, text,
                           resp->status == 401
                               ? " (it does not accept this device's certificate: the device was "
                                 "revoked or enrolled with another verifier; enrol again)"
                           : resp->status == 404 ? " (is [server] url a posture verifier?)"
                                                 : "");
}

static int parse_object(struct submit *s, const struct posture_http_response *resp, cJSON **ret)
{
    if (!resp->body ||
        posture_json_parse(resp->body, resp->body_len, resp->body_len, 16, ret) < 0 ||
        !cJSON_IsObject(*ret))
        return log_error_errno(-EBADMSG,
                               "the verifier at %s answered HTTP %ld with a body that is not a "
                               "JSON object",
                               s->url, resp->status);
    return 0;
}

/* POST /v1/challenge → *ret the nonce (base64url). */
static int challenge(struct submit *s, char **ret)
{
    POSTURE_CLEANUP(posture_http_response_done) struct posture_http_response resp = { 0 };
    posture_auto_cjson cJSON *o = NULL;
    const char *nonce;
    char *d;
    int r;

    r = request(s, "/v1/challenge", "{}", &resp);
    if (r < 0)
        return r;
    if (resp.status != 200 && resp.status != 201)
        return refused(s, "challenge", &resp);
    r = parse_object(s, &resp, &o);
    if (r < 0)
        return r;
    nonce = posture_json_get_str(o, "nonce");
    if (!nonce || !posture_b64url_check(nonce, strlen(nonce), 8, NONCE_MAX_BYTES))
        return log_error_errno(-EBADMSG,
                               "the verifier at %s sent a challenge without a valid "
                               "nonce",
                               s->url);
    d = strdup(nonce);
    if (!d)
        return log_error_errno(-ENOMEM, "Out of memory");
    *ret = d;
    return 0;
}

/* The submission body {"report", "tpm"} for nonce. */
static int build_submission(struct submit *s, const char *nonce, char **ret)
{
    posture_autofree char *token = NULL, *payload = NULL, *body = NULL;
    posture_autofree uint8_t *raw = NULL;
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    size_t raw_len = 0;
    int r;

    assert(nonce);
    if (!o)
        return log_error_errno(-ENOMEM, "Out of memory");
    r = posture_cli_report_build(s->args, s->cfg, s->pkey, nonce, &token, &payload);
    if (r < 0)
        return r;
    if (!token || !payload)
        return -EIO;
    r = posture_json_add_str(o, "report", token);
    if (r < 0)
        return log_error_errno(r, "Failed to build the submission: %m");
    if (s->evidence) {
        cJSON *tpm = NULL;

        r = posture_b64url_decode(nonce, strlen(nonce), NONCE_MAX_BYTES, &raw, &raw_len);
        if (r < 0)
            return log_error_errno(r, "the verifier's nonce does not decode: %m");
        r = posture_cli_evidence_build(s->cfg, raw, raw_len, payload, strlen(payload), &tpm);
        if (r < 0)
            return r;
        r = posture_json_add_item(o, "tpm", tpm);
        if (r < 0) {
            cJSON_Delete(tpm);
            return log_error_errno(r, "Failed to build the submission: %m");
        }
    }
    r = posture_json_print(o, false, &body);
    if (r < 0 || !body)
        return log_error_errno(r < 0 ? r : -ENOMEM, "Failed to build the submission: %m");
    if (strlen(body) > SUBMIT_BODY_MAX)
        return log_error_errno(-E2BIG, "the submission is larger than 2 MiB (use --only)");
    *ret = POSTURE_TAKE_PTR(body);
    return 0;
}

/* A 400 use_fresh_nonce problem: *ret_nonce gets its fresh nonce when it carries one. */
static bool fresh_nonce_wanted(const struct posture_http_response *resp, char **ret_nonce)
{
    posture_auto_cjson cJSON *o = NULL;
    const char *err, *type, *nonce;

    if (resp->status != 400 || !resp->body ||
        posture_json_parse(resp->body, resp->body_len, resp->body_len, 8, &o) < 0 ||
        !cJSON_IsObject(o))
        return false;
    err = posture_json_get_str(o, "error");
    type = posture_json_get_str(o, "type");
    if (!(err && strcmp(err, "use_fresh_nonce") == 0) && !(type && strstr(type, "use_fresh_nonce")))
        return false;
    nonce = posture_json_get_str(o, "nonce");
    if (nonce && posture_b64url_check(nonce, strlen(nonce), 8, NONCE_MAX_BYTES))
        *ret_nonce = strdup(nonce);
    return true;
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

/* Store the EAR atomically in the state directory. */
static int store_ear(const struct posture_cli_config *cfg, const char *ear)
{
    posture_autoclose int fd = -1;
    int r;

    r = posture_state_dir_open(cfg->agent.state_dir, false, &fd);
    if (r >= 0)
        r = posture_state_write_atomic(fd, EAR_NAME, ear, strlen(ear), 0600, true);
    if (r < 0)
        return log_error_errno(r, "cannot store the result in %s/" EAR_NAME ": %m",
                               cfg->agent.state_dir);
    return 0;
}

/* The tier of this device's enrolment (state_dir/enrollment.json), or NULL when unknown. */
static char *enrolled_tier(const struct posture_cli_config *cfg)
{
    posture_autofree char *path = NULL, *buf = NULL;
    posture_autoclose int fd = -1;
    posture_auto_cjson cJSON *o = NULL;
    const char *tier;
    size_t len = 0;

    if (asprintf(&path, "%s/" POSTURE_CLI_ENROLLMENT_NAME, cfg->agent.state_dir) < 0)
        return NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || posture_read_fd(fd, 4096, &buf, &len) < 0 ||
        posture_json_parse(buf, len, len, 2, &o) < 0)
        return NULL;
    tier = posture_json_get_str(o, "tier");
    return tier ? strdup(tier) : NULL;
}

/* Whether to send TPM evidence: [tpm] enabled = yes; auto when the device was enrolled at the
 * hardware tier (the verifier refuses evidence from a device enrolled without a TPM), or, with
 * no enrolment record, when a TPM answers. */
static bool want_evidence(const struct posture_cli_config *cfg)
{
#ifdef POSTURE_HAVE_TPM
    posture_autofree char *tier = NULL;

    if (cfg->agent.tpm_mode == POSTURE_TPM_YES)
        return true;
    if (cfg->agent.tpm_mode != POSTURE_TPM_AUTO)
        return false;
    tier = enrolled_tier(cfg);
    if (tier)
        return strcmp(tier, "hardware") == 0;
    return posture_key_tpm_tcti_usable(cfg->agent.tpm_tcti);
#else
    (void) cfg;
    return false;
#endif
}

int posture_cli_submit(int argc, char **argv)
{
    POSTURE_CLEANUP(posture_cli_common_args_done) struct posture_cli_common_args args = { 0 };
    POSTURE_CLEANUP(posture_cli_config_done) struct posture_cli_config cfg = { 0 };
    POSTURE_CLEANUP(posture_http_response_done) struct posture_http_response resp = { 0 };
    posture_auto_http_client struct posture_http_client *client = NULL;
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    posture_auto_cjson cJSON *answer = NULL;
    posture_autofree char *cert = NULL, *ca_default = NULL, *nonce = NULL, *body = NULL;
    struct submit s = { .args = &args };
    const char *status, *ear;
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

    s.url = cfg.agent.server_url;
    if (!s.url) {
        log_error("submit: no verifier: set [server] url in the agent configuration");
        return POSTURE_EXIT_USAGE;
    }
    if (asprintf(&cert, "%s/" DEVICE_CERT_NAME, cfg.agent.state_dir) < 0 ||
        asprintf(&ca_default, "%s/" VERIFIER_CA_NAME, cfg.agent.state_dir) < 0) {
        (void) log_error_errno(-ENOMEM, "Out of memory");
        return POSTURE_EXIT_USAGE;
    }
    if (access(cert, R_OK) < 0) {
        (void) log_error_errno(-errno,
                               "device certificate %s: %m; this device is not enrolled: run "
                               "'" POSTURE_CLI_PROGRAM " enroll' first",
                               cert);
        return POSTURE_EXIT_USAGE;
    }
    /* [server] ca (its default, /etc/posture/verifier-ca.pem, may not exist), else the CA that
     * `enroll --ca` stored. */
    s.ca = cfg.agent.server_ca ? cfg.agent.server_ca : ca_default;
    if (access(s.ca, R_OK) < 0 && errno == ENOENT && access(ca_default, R_OK) == 0)
        s.ca = ca_default;
    if (access(s.ca, R_OK) < 0) {
        (void) log_error_errno(-errno,
                               "the verifier's CA %s: %m (set [server] ca, or enrol with "
                               "--ca)",
                               s.ca);
        return POSTURE_EXIT_USAGE;
    }
    r = posture_cli_key_open(&cfg, &pkey);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    s.pkey = pkey;
    s.evidence = want_evidence(&cfg);

    struct posture_http_client_opts opts = {
        .base_url = s.url,
        .ca_file = s.ca,
        .cert_file = cert,
        .key = pkey,
    };
    r = posture_http_client_new(&opts, &client);
    if (r < 0) {
        (void) log_error_errno(r, "[server] url %s: %s", s.url,
                               r == -EINVAL ? "not an https:// URL" : "cannot start HTTPS");
        return POSTURE_EXIT_USAGE;
    }
    s.client = client;

    r = challenge(&s, &nonce);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    for (int attempt = 0;; attempt++) {
        posture_autofree char *fresh = NULL;

        free(body);
        body = NULL;
        r = build_submission(&s, nonce, &body);
        if (r < 0)
            return POSTURE_EXIT_USAGE;
        posture_http_response_done(&resp);
        r = request(&s, "/v1/posture", body, &resp);
        if (r < 0)
            return POSTURE_EXIT_USAGE;
        if (resp.status == 200 || resp.status == 201)
            break;
        if (attempt == 0 && fresh_nonce_wanted(&resp, &fresh)) {
            log_info("The verifier wants a fresh nonce; submitting again.");
            free(nonce);
            nonce = POSTURE_TAKE_PTR(fresh);
            if (!nonce) {
                r = challenge(&s, &nonce);
                if (r < 0)
                    return POSTURE_EXIT_USAGE;
            }
            continue;
        }
        (void) refused(&s, "submission", &resp);
        return POSTURE_EXIT_USAGE;
    }

    r = parse_object(&s, &resp, &answer);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    status = posture_json_get_str(answer, "status");
    ear = posture_json_get_str(answer, "ear");
    if (!status || !ear) {
        log_error("the verifier at %s answered without a verdict (status, ear)", s.url);
        return POSTURE_EXIT_USAGE;
    }
    r = store_ear(&cfg, ear);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    if (args.json)
        (void) printf("%.*s\n", (int) resp.body_len, resp.body);
    else
        print_verdict(answer, ear);
    return strcmp(status, "affirming") == 0 ? POSTURE_EXIT_OK : POSTURE_EXIT_FAILED;
}
