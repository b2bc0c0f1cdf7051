/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture-verifier verify --policy FILE REPORT [--evidence FILE] [--nonce B64URL] [--jwk FILE]
 *                         [--ak-pub FILE] [--now EPOCH] [--json]
 * Appraise a signed report offline with the code the service uses (DESIGN.md §4): verify the
 * JWS with the device JWK, the TPM evidence with the AK, recompute every check under the policy
 * and print the appraisal. Exit 0 affirming, 1 anything else, 2 usage or unreadable input.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/evidence.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/parse.h"
#include "posture/quote.h"

#include "appraise.h"
#include "ear.h"
#include "policy.h"
#include "store.h"
#include "verifier.h"

static const char command[] = "verify";

#define DEFAULT_TRUST_DOMAIN "posture.local"
#define EAR_ISSUER           "posture-verifier"

enum {
    OPT_POLICY = 0x100,
    OPT_EVIDENCE,
    OPT_NONCE,
    OPT_JWK,
    OPT_AK_PUB,
    OPT_NOW,
    OPT_JSON,
    OPT_EAR_KEY,
    OPT_TRUST_DOMAIN,
};

static void help(FILE *f)
{
    (void) fprintf(
        f,
        "Usage: " POSTURE_VERIFIER_PROGRAM " verify --policy FILE REPORT [--evidence FILE]\n"
        "                        [--nonce B64URL] [--jwk FILE] [--ak-pub FILE] [--now EPOCH]\n"
        "                        [--json]\n"
        "\n"
        "Appraise a signed posture report (the compact JWS of 'posturectl report'; '-' reads\n"
        "standard input) offline, as the service would: every check's verdict is recomputed\n"
        "from its evidence under the policy. Exit status: 0 affirming, 1 not affirming (or\n"
        "the input was refused), 2 usage error or unreadable input.\n"
        "\n"
        "Options:\n"
        "  --policy FILE    the policy (JSON, docs/policy.md)\n"
        "  --evidence FILE  the TPM evidence object ('posturectl report --evidence');\n"
        "                   needs --ak-pub\n"
        "  --nonce B64URL   the nonce the verifier issued; the report's eat_nonce must equal it\n"
        "  --jwk FILE       the device's public JWK ('posturectl key --jwk'); without it the\n"
        "                   signature is not checked and the verdict is contraindicated\n"
        "  --ak-pub FILE    the enrolled AK (TPM2B_PUBLIC, binary or base64url); the device\n"
        "                   counts as hardware tier\n"
        "  --now EPOCH      appraise as of this time (seconds since the epoch)\n"
        "  --ear-key FILE   also sign the EAR (eat+jwt) with this P-256 private key (PEM,\n"
        "                   mode 0600) and print it (\"ear\" in --json output)\n"
        "  --trust-domain NAME  the EAR's sub is spiffe://NAME/device/<kid> (default\n"
        "                   " DEFAULT_TRUST_DOMAIN ")\n"
        "  --json           print the appraisal as one JSON object\n"
        "  -h, --help       show this help\n");
}

/* Read a whole file (bounded), '-' for stdin. */
static int read_input(const char *path, size_t max, char **ret, size_t *ret_len)
{
    posture_autoclose int fd = -1;

    if (strcmp(path, "-") == 0)
        return posture_read_fd(0, max, ret, ret_len);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    return posture_read_fd(fd, max, ret, ret_len);
}

static void strip(char *s, size_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == '\r' || s[*len - 1] == ' '))
        s[--*len] = '\0';
}

/* Decode a JWS's header and payload without checking the signature (no key given). */
static int read_unverified(const char *token, size_t len, cJSON **ret_header, cJSON **ret_claims)
{
    const char *dot1 = token ? memchr(token, '.', len) : NULL;
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
    posture_autofree uint8_t *h = NULL, *p = NULL;
    size_t hl = 0, pl = 0;
    posture_auto_cjson cJSON *header = NULL;
    int r;

    if (!dot1 || !dot2)
        return -EBADMSG;
    if (posture_b64url_decode(token, (size_t) (dot1 - token), POSTURE_JWS_MAX_SIZE, &h, &hl) < 0 ||
        posture_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), POSTURE_JWS_MAX_SIZE, &p, &pl) <
            0)
        return -EBADMSG;
    r = posture_json_parse((const char *) h, hl, POSTURE_JWS_MAX_SIZE, POSTURE_JWS_JSON_MAX_DEPTH,
                           &header);
    if (r < 0)
        return r;
    r = posture_json_parse((const char *) p, pl, POSTURE_JWS_MAX_SIZE, POSTURE_JWS_JSON_MAX_DEPTH,
                           ret_claims);
    if (r < 0)
        return r;
    *ret_header = POSTURE_TAKE_PTR(header);
    return 0;
}

static void print_text(const struct posture_appraisal *a)
{
    (void) printf("%s: device %s (%s tier), policy %s %s\n",
                  posture_store_verdict_to_string(a->status), a->device_id,
                  posture_store_tier_to_string(a->tier), a->policy_id, a->policy_version);
    for (size_t i = 0; i < a->n_findings; i++)
        (void) printf("  ! %s: %s\n", a->findings[i].code, a->findings[i].text);
    for (size_t i = 0; i < a->n_checks; i++) {
        const struct posture_appraisal_check *c = &a->checks[i];
        (void) printf("  %-14s %-18s (agent: %s)%s%s %s\n",
                      posture_appraisal_status_to_string(c->status), c->id,
                      c->agent_status[0] ? c->agent_status : "-",
                      c->report_only ? " [report-only]" : "", c->in_grace ? " [grace]" : "",
                      c->reason ? c->reason : "");
        if (c->remediation)
            (void) printf("  %-14s → %s\n", "", c->remediation);
    }
}

struct args {
    const char *policy, *report, *evidence, *nonce, *jwk, *ak_pub, *ear_key, *trust_domain;
    int64_t now;
    bool json;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option options[] = {
        { "policy", required_argument, NULL, OPT_POLICY },
        { "evidence", required_argument, NULL, OPT_EVIDENCE },
        { "nonce", required_argument, NULL, OPT_NONCE },
        { "jwk", required_argument, NULL, OPT_JWK },
        { "ak-pub", required_argument, NULL, OPT_AK_PUB },
        { "now", required_argument, NULL, OPT_NOW },
        { "json", no_argument, NULL, OPT_JSON },
        { "ear-key", required_argument, NULL, OPT_EAR_KEY },
        { "trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    int c;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        switch (c) {
        case 'h':
            help(stdout);
            return 1;
        case OPT_POLICY:
            a->policy = optarg;
            break;
        case OPT_EVIDENCE:
            a->evidence = optarg;
            break;
        case OPT_NONCE:
            if (!posture_b64url_check(optarg, strlen(optarg), 8, 64)) {
                log_error("verify: --nonce '%s' is not base64url (no padding) of 8 to 64 bytes",
                          optarg);
                return -EINVAL;
            }
            a->nonce = optarg;
            break;
        case OPT_JWK:
            a->jwk = optarg;
            break;
        case OPT_AK_PUB:
            a->ak_pub = optarg;
            break;
        case OPT_NOW:
            if (posture_parse_i64(optarg, &a->now) < 0 || a->now <= 0) {
                log_error("verify: --now '%s' is not a time in seconds since the epoch", optarg);
                return -EINVAL;
            }
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_EAR_KEY:
            a->ear_key = optarg;
            break;
        case OPT_TRUST_DOMAIN:
            if (!optarg[0] || strlen(optarg) > 253 || strpbrk(optarg, "/ ")) {
                log_error("verify: --trust-domain '%s' is not a domain name", optarg);
                return -EINVAL;
            }
            a->trust_domain = optarg;
            break;
        default:
            (void) posture_verifier_option_error(command, c, argv);
            return -EINVAL;
        }
    }
    if (!a->policy) {
        log_error("verify: --policy FILE is required (see docs/policy.md)");
        return -EINVAL;
    }
    if (optind + 1 != argc) {
        log_error("verify: expected exactly one REPORT argument (a file, or - for stdin)");
        return -EINVAL;
    }
    a->report = argv[optind];
    if (a->evidence && !a->ak_pub) {
        log_error("verify: --evidence needs --ak-pub FILE, the device's enrolled AK (the AK "
                  "inside the evidence is never trusted on its own)");
        return -EINVAL;
    }
    return 0;
}

/* The AK: binary TPM2B_PUBLIC, or its base64url text. */
static int load_ak(const char *path, struct posture_quote_ak **ret)
{
    posture_autofree char *buf = NULL;
    posture_autofree uint8_t *bin = NULL;
    size_t len = 0, bin_len = 0, text_len;
    int r;

    r = read_input(path, (size_t) 4 * POSTURE_STORE_AK_PUBLIC_MAX, &buf, &len);
    if (r < 0)
        return log_error_errno(r, "verify: cannot read the AK %s: %m", path);
    /* Text is recognised without touching the buffer: a binary TPM2B_PUBLIC may end in a byte
     * that looks like white space (its last byte is the key's y coordinate). */
    text_len = len;
    while (text_len > 0 &&
           (buf[text_len - 1] == '\n' || buf[text_len - 1] == '\r' || buf[text_len - 1] == ' '))
        text_len--;
    if (posture_b64url_check(buf, text_len, 1, POSTURE_STORE_AK_PUBLIC_MAX) &&
        posture_b64url_decode(buf, text_len, POSTURE_STORE_AK_PUBLIC_MAX, &bin, &bin_len) == 0)
        r = posture_quote_ak_new(bin, bin_len, NULL, 0, ret);
    else
        r = posture_quote_ak_new((const uint8_t *) buf, len, NULL, 0, ret);
    if (r < 0)
        return log_error_errno(r,
                               "verify: %s is not an AK this verifier accepts (ECC P-256 "
                               "restricted signing key, TPM2B_PUBLIC): %m",
                               path);
    return 0;
}

int posture_verifier_verify(int argc, char **argv)
{
    struct args args = { 0 };
    posture_auto_policy struct posture_policy *policy = NULL;
    posture_autofree char *report = NULL, *jwk_text = NULL, *ev_text = NULL, *kid = NULL;
    posture_auto_evp_pkey EVP_PKEY *key = NULL;
    posture_auto_jws struct posture_jws *jws = NULL;
    posture_auto_cjson cJSON *u_header = NULL, *u_claims = NULL, *out = NULL;
    posture_auto_evidence struct posture_evidence *evidence = NULL;
    posture_auto_appraisal struct posture_appraisal *appraisal = NULL;
    posture_autofree char *json = NULL, *ear = NULL;
    posture_autofree uint8_t *nonce_raw = NULL;
    struct posture_quote_ak *ak = NULL;
    struct posture_evidence_verdict verdict = { 0 };
    bool have_verdict = false;
    struct posture_store_device device = { 0 };
    struct posture_appraise_input in = { 0 };
    char err[POSTURE_POLICY_ERROR_MAX];
    size_t report_len = 0, len = 0;
    int status = POSTURE_VERIFIER_EXIT_USAGE;
    int r;

    r = parse_args(argc, argv, &args);
    if (r != 0)
        return r > 0 ? POSTURE_VERIFIER_EXIT_OK : POSTURE_VERIFIER_EXIT_USAGE;
    if (args.now == 0)
        args.now = (int64_t) time(NULL);

    r = posture_policy_load_file(args.policy, &policy, err, sizeof(err));
    if (r < 0) {
        log_error("verify: %s", err);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }

    r = read_input(args.report, POSTURE_JWS_MAX_SIZE + 2, &report, &report_len);
    if (r < 0) {
        (void) log_error_errno(r, "verify: cannot read the report %s: %m", args.report);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    strip(report, &report_len);

    /* The device: the JWK's key (its thumbprint is the device id), or the header's kid. */
    if (args.jwk) {
        posture_auto_cjson cJSON *jwk = NULL;
        r = read_input(args.jwk, POSTURE_STORE_JWK_MAX, &jwk_text, &len);
        if (r < 0) {
            (void) log_error_errno(r, "verify: cannot read the JWK %s: %m", args.jwk);
            return POSTURE_VERIFIER_EXIT_USAGE;
        }
        r = posture_json_parse(jwk_text, len, POSTURE_STORE_JWK_MAX, 4, &jwk);
        if (r >= 0)
            r = posture_key_from_jwk(jwk, &key);
        if (r >= 0)
            r = posture_key_thumbprint(key, &kid);
        if (r < 0) {
            (void) log_error_errno(r, "verify: %s is not a P-256 public JWK: %m", args.jwk);
            return POSTURE_VERIFIER_EXIT_USAGE;
        }
        struct posture_jws_verify_opts vo = {
            .typ = POSTURE_JWS_TYP_REPORT,
            .now = args.now,
            .max_lifetime_sec = POSTURE_REPORT_LIFETIME_SEC,
        };
        int reason = 0;
        r = posture_jws_verify(report, report_len, key, &vo, &reason, &jws);
        if (r < 0 && r != -EBADMSG) {
            (void) log_error_errno(r, "verify: cannot verify the report: %m");
            return POSTURE_VERIFIER_EXIT_USAGE;
        }
        in.jws_reason = reason;
        if (jws) {
            in.claims = jws->payload;
            in.header = jws->header;
        }
    } else {
        r = read_unverified(report, report_len, &u_header, &u_claims);
        const char *k = r >= 0 ? posture_json_get_str(u_header, "kid") : NULL;
        if (!k || strlen(k) > POSTURE_STORE_DEVICE_ID_MAX) {
            log_error("verify: %s is not a compact JWS with a kid header", args.report);
            return POSTURE_VERIFIER_EXIT_REJECTED;
        }
        kid = strdup(k);
        if (!kid)
            return POSTURE_VERIFIER_EXIT_USAGE;
        in.claims = u_claims;
        in.header = u_header;
        in.claims_unverified = true;
    }
    (void) snprintf(device.id, sizeof(device.id), "%s", kid);
    device.status = POSTURE_STORE_DEVICE_ACTIVE;
    device.tier = args.ak_pub ? POSTURE_STORE_TIER_HARDWARE : POSTURE_STORE_TIER_SOFTWARE;

    /* TPM evidence, bound to the nonce (--nonce, else the report's own) and the payload. */
    if (args.evidence && jws) {
        const char *why = NULL;
        const char *nonce_text =
            args.nonce ? args.nonce : posture_json_get_str(jws->payload, "eat_nonce");
        size_t nonce_len = 0;

        if (load_ak(args.ak_pub, &ak) < 0)
            goto out;
        r = read_input(args.evidence, POSTURE_EVIDENCE_MAX_SIZE, &ev_text, &len);
        if (r < 0) {
            (void) log_error_errno(r, "verify: cannot read the evidence %s: %m", args.evidence);
            goto out;
        }
        r = posture_evidence_parse(ev_text, len, &evidence, &why);
        if (r < 0) {
            log_error("verify: %s: the evidence object is refused: %s", args.evidence,
                      why ? why : "invalid");
            status = POSTURE_VERIFIER_EXIT_REJECTED;
            goto out;
        }
        if (!nonce_text ||
            posture_b64url_decode(nonce_text, strlen(nonce_text), 64, &nonce_raw, &nonce_len) < 0) {
            log_error("verify: the report has no eat_nonce to check the quote's binding with");
            status = POSTURE_VERIFIER_EXIT_REJECTED;
            goto out;
        }
        struct posture_evidence_expect expect = {
            .nonce = nonce_raw,
            .nonce_len = nonce_len,
            .payload = (const uint8_t *) jws->payload_raw,
            .payload_len = jws->payload_len,
            .pcr_mask = 0xff,
        };
        r = posture_evidence_verify(ak, evidence, &expect, &verdict);
        if (r < 0) {
            (void) log_error_errno(r, "verify: cannot verify the evidence: %m");
            goto out;
        }
        have_verdict = true;
        in.evidence = &verdict;
    } else if (args.evidence)
        log_warning("verify: the TPM evidence is not examined: the report was not verified");

    in.device = &device;
    in.nonce = args.nonce;
    in.now = args.now;
    r = posture_appraise(policy, &in, &appraisal);
    if (r < 0) {
        (void) log_error_errno(r, "verify: appraisal failed: %m");
        goto out;
    }

    if (args.ear_key) {
        posture_auto_evp_pkey EVP_PKEY *ear_key = NULL;
        struct posture_ear_opts eo = {
            .issuer = EAR_ISSUER,
            .trust_domain = args.trust_domain ? args.trust_domain : DEFAULT_TRUST_DOMAIN,
            .jkt = kid,
        };
        r = posture_key_load_file(args.ear_key, &ear_key);
        if (r < 0) {
            (void) log_error_errno(r,
                                   "verify: cannot load the EAR key %s (a P-256 PEM private "
                                   "key, mode 0600): %m",
                                   args.ear_key);
            goto out;
        }
        r = posture_ear_sign(ear_key, appraisal, &eo, &ear);
        if (r < 0) {
            (void) log_error_errno(r, "verify: cannot sign the EAR: %m");
            goto out;
        }
    }

    if (args.json) {
        r = posture_appraisal_to_json(appraisal, &out);
        if (r >= 0 && ear)
            r = posture_json_add_str(out, "ear", ear);
        if (r >= 0)
            r = posture_json_print(out, true, &json);
        if (r < 0) {
            (void) log_error_errno(r, "verify: cannot print the appraisal: %m");
            goto out;
        }
        (void) fputs(json, stdout);
    } else {
        print_text(appraisal);
        if (ear)
            (void) printf("EAR: %s\n", ear);
    }
    status = appraisal->status == POSTURE_STORE_VERDICT_AFFIRMING ? POSTURE_VERIFIER_EXIT_OK
                                                                  : POSTURE_VERIFIER_EXIT_REJECTED;
out:
    if (have_verdict)
        posture_evidence_verdict_done(&verdict);
    posture_quote_ak_free(ak);
    return status;
}
