/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posturectl report: run the checks and print the signed report, a compact JWS (DESIGN.md §7).
 *
 * The claims follow the EAT profile "tag:posture.dev,2026:report/v1" (POSTURE_EAT_PROFILE):
 *   iss, sub    the device id: the RFC 7638 thumbprint of the device key (also the JWS kid)
 *   aud         [server] url from the configuration, else "posture-verifier"
 *   iat, exp    now, now + 120 s
 *   jti         16 random bytes, base64url
 *   eat_nonce   the --nonce value (strict base64url of 8 to 64 bytes; RFC 9711 §4.1), only
 *               when given
 *   eat_profile POSTURE_EAT_PROFILE
 *   ueid        base64url(0x01 ‖ SHA-256 thumbprint): RFC 9711 type RAND, 33 bytes
 *   swname      "posture"; swversion [version] (RFC 9711 arrays a version and its scheme)
 *   seq         the device's report counter, persisted in state_dir/report.seq (crash-safe)
 *   dropped_reports  reports postured dropped (spool full or too old, refused) since the last
 *               report that said so; only when not 0
 *   posture     {"collected_at", "checks": the checks array of DESIGN.md §6}
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "posture/b64url.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/registry.h"
#include "posture/runner.h"
#include "posture/statefile.h"
#include "posture/strv.h"
#include "posture/version.h"

#include "cli.h"

#define POSTURE_EAT_PROFILE     "tag:posture.dev,2026:report/v1"
#define POSTURE_REPORT_SEQ_NAME "report.seq"
#define POSTURE_AUD_DEFAULT     "posture-verifier"
#define NONCE_MIN_BYTES         8
#define NONCE_MAX_BYTES         64
#define UEID_TYPE_RAND          0x01

static const char command[] = "report";

static void help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_CLI_PROGRAM " report [--nonce B64URL] [--evidence FILE]\n"
           "                         [--only ID[,ID...]] [--root DIR] [--config FILE]\n"
           "\n"
           "Run the posture checks and print the report signed with the device key, as a\n"
           "compact JWS (ES256, typ posture+jwt). The key is created on first use.\n"
           "\n"
           "Options:\n"
           "  --nonce B64URL   the verifier's challenge, placed in eat_nonce (base64url\n"
           "                   without padding, 8 to 64 bytes)\n"
           "  --evidence FILE  also quote the TPM, bound to the nonce and this report, and\n"
           "                   write the TPM evidence object (JSON) to FILE; without\n"
           "                   --nonce a random 32-byte nonce is used\n"
           "  --only ID,...    run only these checks (repeatable)\n"
           "  --root DIR       read host state under DIR instead of /\n"
           "  --config FILE    agent configuration (default " POSTURE_AGENT_CONFIG_PATH ")\n"
           "  -h, --help       show this help\n");
}

struct report_args {
    struct posture_cli_common_args common; /* --config, --only, --root */
    const char *nonce;
    const char *evidence; /* --evidence FILE */
};

static void report_args_done(struct report_args *a)
{
    posture_cli_common_args_done(&a->common);
}

static int parse_args(int argc, char **argv, struct report_args *a)
{
    enum { ARG_NONCE = POSTURE_CLI_OPT__MAX, ARG_EVIDENCE };
    static const struct option options[] = {
        { "nonce", required_argument, NULL, ARG_NONCE },
        { "evidence", required_argument, NULL, ARG_EVIDENCE },
        { "only", required_argument, NULL, POSTURE_CLI_OPT_ONLY },
        { "root", required_argument, NULL, POSTURE_CLI_OPT_ROOT },
        { "config", required_argument, NULL, POSTURE_CLI_OPT_CONFIG },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    int c, r;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        if (c == ARG_NONCE) {
            if (!posture_b64url_check(optarg, strlen(optarg), NONCE_MIN_BYTES, NONCE_MAX_BYTES)) {
                log_error("--nonce: '%.80s' is not base64url without padding of %d to %d bytes",
                          optarg, NONCE_MIN_BYTES, NONCE_MAX_BYTES);
                return POSTURE_EXIT_USAGE;
            }
            a->nonce = optarg;
            continue;
        }
        if (c == ARG_EVIDENCE) {
            if (!optarg[0]) {
                log_error("--evidence: needs a file name");
                return POSTURE_EXIT_USAGE;
            }
            a->evidence = optarg;
            continue;
        }
        r = posture_cli_common_option(command, c, argv, help, &a->common);
        if (r != POSTURE_CLI_RUN)
            return r;
    }
    if (optind < argc)
        return posture_cli_extra_argument(command, argv[optind]);
    return POSTURE_CLI_RUN;
}

/* Run the checks; *ret is the §6 document. Errors are logged. */
static int run_checks(const struct posture_cli_common_args *a,
                      const struct posture_cli_config *cfg,
                      cJSON **ret)
{
    posture_auto_run struct posture_run *run = NULL;
    posture_autoclose int root_fd = -1;
    int r;

    r = posture_cli_run_checks(a, cfg, &run, &root_fd);
    if (r < 0)
        return r;
    r = posture_run_to_json(run, root_fd, ret);
    if (r < 0)
        return log_error_errno(r, "Failed to build the check results: %m");
    return 0;
}

static int random_b64url(size_t n, char **ret)
{
    uint8_t buf[32];

    if (n > sizeof(buf))
        return -EINVAL;
    if (getrandom(buf, n, 0) != (ssize_t) n)
        return -EIO;
    return posture_b64url_encode(buf, n, ret);
}

struct report_claims_in {
    EVP_PKEY *key;
    const char *aud;
    const char *nonce; /* NULL: no eat_nonce */
    int64_t now;
    uint64_t seq;
    uint64_t dropped; /* reports the agent dropped since the last report that said so */
    cJSON *results;   /* the §6 document; its checks array is moved into the claims */
};

/* The claims object of DESIGN.md §7 (see the top of this file). */
static int build_claims(struct report_claims_in *in, cJSON **ret)
{
    posture_auto_cjson cJSON *claims = cJSON_CreateObject();
    posture_autofree char *kid = NULL, *jti = NULL, *ueid = NULL;
    cJSON *posture = NULL, *swversion = NULL, *checks;
    uint8_t ueid_raw[33];
    int64_t collected_at;
    int r;

    if (!claims)
        return -ENOMEM;
    r = posture_key_thumbprint(in->key, &kid);
    if (r >= 0)
        r = posture_key_thumbprint_raw(in->key, ueid_raw + 1);
    if (r < 0)
        return r;
    ueid_raw[0] = UEID_TYPE_RAND;
    r = posture_b64url_encode(ueid_raw, sizeof(ueid_raw), &ueid);
    if (r >= 0)
        r = random_b64url(16, &jti);
    if (r < 0)
        return r;

    r = posture_json_get_int(in->results, "collected_at", &collected_at);
    if (r < 0)
        return r;
    checks = cJSON_DetachItemFromObjectCaseSensitive(in->results, "checks");
    if (!cJSON_IsArray(checks)) {
        cJSON_Delete(checks);
        return -EINVAL;
    }

    r = posture_json_add_str(claims, "iss", kid);
    if (r >= 0)
        r = posture_json_add_str(claims, "sub", kid);
    if (r >= 0)
        r = posture_json_add_str(claims, "aud", in->aud);
    if (r >= 0)
        r = posture_json_add_int(claims, "iat", in->now);
    if (r >= 0)
        r = posture_json_add_int(claims, "exp", in->now + POSTURE_REPORT_LIFETIME_SEC);
    if (r >= 0)
        r = posture_json_add_str(claims, "jti", jti);
    if (r >= 0 && in->nonce)
        r = posture_json_add_str(claims, "eat_nonce", in->nonce);
    if (r >= 0)
        r = posture_json_add_str(claims, "eat_profile", POSTURE_EAT_PROFILE);
    if (r >= 0)
        r = posture_json_add_str(claims, "ueid", ueid);
    if (r >= 0)
        r = posture_json_add_str(claims, "swname", POSTURE_NAME);
    if (r >= 0) {
        swversion = cJSON_CreateArray();
        r = swversion ? posture_json_append_str(swversion, POSTURE_VERSION) : -ENOMEM;
        if (r >= 0)
            r = posture_json_add_item(claims, "swversion", swversion);
        else
            cJSON_Delete(swversion);
    }
    if (r >= 0) {
        /* seq as a JSON number: exact below 2^52, which a counter per report never reaches. */
        r = in->seq > (UINT64_C(1) << 52) ? -ERANGE
                                          : posture_json_add_int(claims, "seq", (int64_t) in->seq);
    }
    if (r >= 0 && in->dropped > 0)
        r = in->dropped > (UINT64_C(1) << 52)
                ? -ERANGE
                : posture_json_add_int(claims, "dropped_reports", (int64_t) in->dropped);
    if (r >= 0) {
        posture = cJSON_CreateObject();
        r = posture ? posture_json_add_int(posture, "collected_at", collected_at) : -ENOMEM;
        if (r >= 0)
            r = posture_json_add_item(posture, "checks", POSTURE_TAKE_PTR(checks));
        if (r >= 0)
            r = posture_json_add_item(claims, "posture", POSTURE_TAKE_PTR(posture));
        cJSON_Delete(posture);
    }
    cJSON_Delete(checks);
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(claims);
    return 0;
}

int posture_cli_report_build(const struct posture_cli_common_args *a,
                             const struct posture_cli_config *cfg,
                             EVP_PKEY *pkey,
                             const char *nonce,
                             uint64_t dropped,
                             char **ret_token,
                             char **ret_payload)
{
    posture_auto_cjson cJSON *results = NULL, *claims = NULL;
    posture_autofree char *payload = NULL, *token = NULL;
    posture_autoclose int state_fd = -1;
    uint64_t seq = 0;
    int r;

    r = posture_state_dir_open(cfg->agent.state_dir, false, &state_fd);
    if (r < 0)
        return log_error_errno(r, "state directory %s: %m", cfg->agent.state_dir);

    r = run_checks(a, cfg, &results);
    if (r < 0)
        return r;

    /* Counted only once everything before signing worked, and durably before it is used. */
    r = posture_state_counter_next(state_fd, POSTURE_REPORT_SEQ_NAME, &seq);
    if (r < 0)
        return log_error_errno(r, "report counter %s/" POSTURE_REPORT_SEQ_NAME ": %m%s",
                               cfg->agent.state_dir,
                               r == -EBADMSG ? " (the file is damaged; it is never reset "
                                               "silently: restore or remove it)"
                                             : "");

    struct report_claims_in in = {
        .key = pkey,
        .aud = cfg->agent.server_url ? cfg->agent.server_url : POSTURE_AUD_DEFAULT,
        .nonce = nonce,
        .now = (int64_t) time(NULL),
        .seq = seq,
        .dropped = dropped,
        .results = results,
    };
    r = build_claims(&in, &claims);
    if (r >= 0)
        r = posture_json_print(claims, false, &payload);
    if (r >= 0 && !payload)
        r = -ENOMEM;
    if (r < 0)
        return log_error_errno(r, "Failed to build the report claims: %m");
    r = posture_jws_sign(pkey, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), &token);
    if (r < 0)
        return log_error_errno(r, "Failed to sign the report%s: %m",
                               r == -E2BIG ? " (larger than 64 KiB; use --only)" : "");
    *ret_token = POSTURE_TAKE_PTR(token);
    if (ret_payload)
        *ret_payload = POSTURE_TAKE_PTR(payload);
    return 0;
}

int posture_cli_report(int argc, char **argv)
{
    POSTURE_CLEANUP(report_args_done) struct report_args args = { 0 };
    POSTURE_CLEANUP(posture_cli_config_done) struct posture_cli_config cfg = { 0 };
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    posture_autofree char *payload = NULL, *token = NULL, *nonce_b64 = NULL;
    posture_autofree uint8_t *nonce = NULL;
    size_t nonce_len = 0;
    int r;

    r = parse_args(argc, argv, &args);
    if (r != POSTURE_CLI_RUN)
        return r;
    r = posture_cli_config_load(args.common.config, &cfg);
    if (r < 0)
        return POSTURE_EXIT_USAGE;

    /* Evidence is bound to a nonce: the verifier's, or a fresh random one for offline use. */
    if (args.evidence && !args.nonce) {
        r = random_b64url(32, &nonce_b64);
        if (r < 0) {
            (void) log_error_errno(r, "Failed to make a nonce: %m");
            return POSTURE_EXIT_USAGE;
        }
        args.nonce = nonce_b64;
    }
    if (args.nonce) {
        r = posture_b64url_decode(args.nonce, strlen(args.nonce), NONCE_MAX_BYTES, &nonce,
                                  &nonce_len);
        if (r < 0) {
            (void) log_error_errno(r, "--nonce: %m");
            return POSTURE_EXIT_USAGE;
        }
    }

    /* The key first: no point in running the checks for a report that cannot be signed. */
    r = posture_cli_key_open(&cfg, &pkey);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    r = posture_cli_report_build(&args.common, &cfg, pkey, args.nonce, 0, &token, &payload);
    if (r < 0 || !token || !payload)
        return POSTURE_EXIT_USAGE;
    /* After signing: the quote binds the payload bytes exactly as signed. */
    if (args.evidence) {
        r = posture_cli_evidence_write(&cfg, nonce, nonce_len, payload, strlen(payload),
                                       args.evidence);
        if (r < 0)
            return POSTURE_EXIT_USAGE;
    }
    (void) printf("%s\n", token);
    return POSTURE_EXIT_OK;
}
