/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posturectl enroll: the agent side of enrolment (DESIGN.md §4, §8; ATTESTATION.md §5.2;
 * docs/verifier-api.md "Enrolment").
 *
 *   1. pin the verifier's CA (--ca, else [server] ca) and open the device key;
 *   2. POST /v1/enroll {"token", "jwk"[, "tpm": {"ek_cert", "ek_pub", "ak_pub"}], "pop"}: the
 *      TPM material when [tpm] enabled = yes, or auto and a TPM answers (posture/tpm_enroll.h);
 *      "pop" proves that we hold the device key: a JWS (typ posture-enroll+jwt) signed by it
 *      (in the TPM when the key is TPM-resident) over the token's hash and the AK's;
 *   3. TPM devices get a credential challenge: TPM2_ActivateCredential recovers the secret and
 *      POST /v1/enroll/activate {"device_id", "proof", "jwk", "pop"} answers it (one attempt;
 *      "pop" of typ posture-activate+jwt binds the proof and nonce0 to the device key);
 *   4. the device certificate goes to state_dir/device.crt (0644, atomic), the pinned CA to
 *      state_dir/verifier-ca.pem when --ca was given, and {"device_id", "tier", "server"} to
 *      state_dir/enrollment.json (what `submit` reads to decide whether to send TPM evidence).
 *
 * The token may come from --token-file. postured enrols by itself with a token left by a fleet
 * tool (posture_cli_enroll_device(), docs/agent-daemon.md "Enrolment at first start").
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "posture/b64url.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/statefile.h"
#ifdef POSTURE_HAVE_TPM
#include "posture/key_tpm.h"
#include "posture/tpm_enroll.h"
#endif

#include "cli.h"
#include "http_client.h"

#define TOKEN_BYTES       32 /* posture-verifier token create */
#define TOKEN_FILE_MAX    1024
#define CA_FILE_MAX       ((size_t) 256 * 1024)
#define DEVICE_CERT_NAME  "device.crt"
#define VERIFIER_CA_NAME  "verifier-ca.pem"
#define DEVICE_ID_MAX     128
#define NONCE0_BYTES      32
#define CREDENTIAL_MAXLEN 1024
#define POP_LIFETIME_SEC  60 /* exp - iat of the proof of possession (the verifier's maximum) */

static const char command[] = "enroll";

static void help(FILE *f)
{
    (void) fprintf(
        f,
        "Usage: " POSTURE_CLI_PROGRAM " enroll --server URL (--token TOKEN | --token-file FILE)\n"
        "                         [--ca FILE] [--config FILE]\n"
        "\n"
        "Enrol this device with the verifier: send the one-time enrolment token and the\n"
        "device public key (with a TPM also its EK certificate, EK and AK), answer the\n"
        "TPM credential challenge, and store the device certificate in the state\n"
        "directory (" DEVICE_CERT_NAME "). Devices without a TPM ([tpm] enabled = no, or auto\n"
        "and no TPM found) enrol at the software trust tier.\n"
        "\n"
        "Options:\n"
        "  --server URL       the verifier, https://host:port (default [server] url)\n"
        "  --token TOKEN      the token from 'posture-verifier token create'\n"
        "  --token-file FILE  read the token from FILE (keeps it out of 'ps')\n"
        "  --ca FILE          the verifier's CA certificate (PEM, from 'posture-verifier\n"
        "                     ca'), the only one trusted for the server; it is copied\n"
        "                     to the state directory as " VERIFIER_CA_NAME "\n"
        "                     (default [server] ca)\n"
        "  --config FILE      agent configuration (default " POSTURE_AGENT_CONFIG_PATH ")\n"
        "  -h, --help         show this help\n"
        "\n"
        "Exit status: 0 enrolled, 2 usage, configuration or enrolment failure.\n");
}

struct enroll_args {
    struct posture_cli_common_args common; /* --config */
    const char *server;
    const char *token;
    const char *token_file;
    const char *ca;
};

static void enroll_args_done(struct enroll_args *a)
{
    posture_cli_common_args_done(&a->common);
}

static int parse_args(int argc, char **argv, struct enroll_args *a)
{
    enum { ARG_SERVER = POSTURE_CLI_OPT__MAX, ARG_TOKEN, ARG_TOKEN_FILE, ARG_CA };
    static const struct option options[] = {
        { "server", required_argument, NULL, ARG_SERVER },
        { "token", required_argument, NULL, ARG_TOKEN },
        { "token-file", required_argument, NULL, ARG_TOKEN_FILE },
        { "ca", required_argument, NULL, ARG_CA },
        { "config", required_argument, NULL, POSTURE_CLI_OPT_CONFIG },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    int c, r;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        const char **dst = c == ARG_SERVER       ? &a->server
                           : c == ARG_TOKEN      ? &a->token
                           : c == ARG_TOKEN_FILE ? &a->token_file
                           : c == ARG_CA         ? &a->ca
                                                 : NULL;
        if (dst) {
            if (!optarg[0]) {
                log_error("%s: needs a value", argv[optind - 1]);
                return POSTURE_EXIT_USAGE;
            }
            *dst = optarg;
            continue;
        }
        r = posture_cli_common_option(command, c, argv, help, &a->common);
        if (r != POSTURE_CLI_RUN)
            return r;
    }
    if (optind < argc)
        return posture_cli_extra_argument(command, argv[optind]);
    if (a->token && a->token_file) {
        log_error("enroll: give --token or --token-file, not both");
        return POSTURE_EXIT_USAGE;
    }
    if (!a->token && !a->token_file) {
        log_error("enroll: the enrolment token is missing: give --token TOKEN or --token-file "
                  "FILE (an administrator makes one with 'posture-verifier token create')");
        return POSTURE_EXIT_USAGE;
    }
    return POSTURE_CLI_RUN;
}

/* The token of --token-file: the first line, surrounding white space removed. */
static int read_token_file(const char *path, char **ret)
{
    posture_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    posture_autofree char *buf = NULL;
    size_t len = 0, start = 0;
    int r;

    if (fd < 0)
        return log_error_errno(-errno, "--token-file %s: %m", path);
    r = posture_read_fd(fd, TOKEN_FILE_MAX, &buf, &len);
    if (r < 0)
        return log_error_errno(r, "--token-file %s: %m%s", path,
                               r == -EFBIG ? " (a token file holds one short line)" : "");
    while (start < len && strchr(" \t\r\n", buf[start]))
        start++;
    len = start + strcspn(buf + start, " \t\r\n");
    buf[len] = '\0';
    memmove(buf, buf + start, len - start + 1);
    *ret = POSTURE_TAKE_PTR(buf);
    return 0;
}

int posture_cli_problem_text(const char *body, size_t len, char *buf, size_t size)
{
    posture_auto_cjson cJSON *o = NULL;
    const char *type, *detail, *title;
    int n;

    if (size == 0)
        return -EINVAL;
    buf[0] = '\0';
    if (!body || posture_json_parse(body, len, len, 8, &o) < 0 || !cJSON_IsObject(o))
        return -EBADMSG;
    type = posture_json_get_str(o, "type");
    detail = posture_json_get_str(o, "detail");
    title = posture_json_get_str(o, "title");
    if (type && strncmp(type, "urn:posture:problem:", 20) == 0)
        type += 20;
    n = snprintf(buf, size, "%.80s%s%.200s", type ? type : (title ? title : "refused"),
                 detail ? ": " : "", detail ? detail : "");
    return n < 0 ? -EINVAL : 0;
}

int posture_cli_transport_error(const char *url, const char *ca, int r, const char *detail)
{
    switch (r) {
    case -EPERM:
        return log_error_errno(r,
                               "TLS with %s failed: the server's certificate is not issued by "
                               "the pinned CA %s, or not for this host name, or our client "
                               "certificate was refused (%s); check --ca / [server] ca ('posture-"
                               "verifier ca' prints the right one) and the URL",
                               url, ca ? ca : "(none)", detail ? detail : "TLS error");
    case -ECONNREFUSED:
    case -EHOSTUNREACH:
        return log_error_errno(r,
                               "cannot reach the verifier at %s: %m (%s); check the URL and "
                               "that the verifier runs",
                               url, detail ? detail : "connect");
    case -ETIMEDOUT:
        return log_error_errno(r, "the verifier at %s did not answer in time", url);
    case -EMSGSIZE:
        return log_error_errno(r, "the verifier at %s sent an answer larger than allowed", url);
    default:
        return log_error_errno(r, "request to the verifier at %s failed: %m (%s)", url,
                               detail ? detail : "");
    }
}

/* A transport failure that a later attempt may not meet (the verifier down or slow): -EAGAIN;
 * a TLS failure (the wrong pin, the wrong host) stays what it is. */
static int transient(int r)
{
    return r == -EPERM || r == -ENOMEM ? r : -EAGAIN;
}

/* POST obj as JSON to path; *ret is the answer (any status). Transport errors are logged. */
static int post_json(struct posture_http_client *client,
                     const char *url,
                     const char *ca,
                     const char *path,
                     const cJSON *obj,
                     struct posture_http_response *ret)
{
    posture_autofree char *body = NULL;
    const char *detail = NULL;
    int r;

    r = posture_json_print(obj, false, &body);
    if (r < 0)
        return log_error_errno(r, "Failed to build the request: %m");
    r = posture_http_request(client, path, "application/json", body, strlen(body), ret, &detail);
    OPENSSL_cleanse(body, strlen(body)); /* the token or the proof */
    if (r < 0)
        return posture_cli_transport_error(url, ca, r, detail);
    return 0;
}

/* A refusal of /v1/enroll or /v1/enroll/activate, explained. */
static int enroll_refused(const char *url, const struct posture_http_response *resp)
{
    char text[320];
    const char *fix = "";

    if (posture_cli_problem_text(resp->body, resp->body_len, text, sizeof(text)) < 0)
        (void) snprintf(text, sizeof(text), "HTTP %ld without a problem description", resp->status);
    if (strstr(text, "enroll-token-"))
        fix = " (the token is unknown, expired or used: ask for a new one, made with "
              "'posture-verifier token create')";
    else if (strstr(text, "enroll-device-exists") || strstr(text, "enroll-identity-in-use"))
        fix = " (this device, its AK or its EK is enrolled already: an administrator revokes it "
              "first with 'posture-verifier devices revoke ID')";
    else if (strstr(text, "ek-cert") || strstr(text, "enroll-ek-roots-missing"))
        fix = " (the verifier does not trust this TPM's EK certificate: its vendor CA must be "
              "in the verifier's [enroll] ek_roots)";
    else if (strstr(text, "enroll-proof-invalid") || strstr(text, "enroll-activation-"))
        fix = " (the TPM credential challenge failed; enrol again with a new token)";
    else if (strstr(text, "enroll-pop-expired"))
        fix = " (this device's clock is more than a minute off the verifier's: set the time, "
              "e.g. with NTP, and enrol again; the token is still valid)";
    else if (strstr(text, "enroll-pop-"))
        fix = " (the verifier did not accept our signature with the device key; is this "
              "posturectl as new as the verifier?)";
    else if (resp->status == 429) {
        static char wait[96];
        (void) snprintf(wait, sizeof(wait),
                        " (too many enrolment requests: try again in %lld s; the token is "
                        "still valid)",
                        (long long) (resp->retry_after_sec > 0 ? resp->retry_after_sec : 60));
        fix = wait;
    } else if (resp->status == 404)
        fix = " (is this URL a posture verifier?)";
    return log_error_errno(resp->status == 429 || resp->status >= 500 ? -EAGAIN : -EACCES,
                           "the verifier at %s refused the enrolment: HTTP %ld %s%s", url,
                           resp->status, text, fix);
}

/* Parse a JSON answer body. */
static int answer_json(const char *url, const struct posture_http_response *resp, cJSON **ret)
{
    if (!resp->body || posture_json_parse(resp->body, resp->body_len, resp->body_len, 8, ret) < 0 ||
        !cJSON_IsObject(*ret))
        return log_error_errno(-EBADMSG,
                               "the verifier at %s answered HTTP %ld with a body that "
                               "is not a JSON object",
                               url, resp->status);
    return 0;
}

static int add_b64(cJSON *obj, const char *key, const uint8_t *p, size_t n)
{
    posture_autofree char *s = NULL;
    int r = posture_b64url_encode(p, n, &s);
    return r < 0 ? r : posture_json_add_str(obj, key, s);
}

/* claims[key] = base64url(SHA-256(data)) */
static int add_sha256(cJSON *claims, const char *key, const void *data, size_t n)
{
    uint8_t h[SHA256_DIGEST_LENGTH];

    SHA256(data, n, h);
    return add_b64(claims, key, h, sizeof(h));
}

/* The proof of possession of docs/verifier-api.md: claims (consumed) plus aud, iat and exp,
 * signed with the device key as a JWS of typ, into obj's "pop". */
static int add_pop(cJSON *obj, EVP_PKEY *pkey, const char *typ, const char *aud, cJSON *claims)
{
    posture_auto_cjson cJSON *c = claims;
    posture_autofree char *text = NULL, *jws = NULL;
    int64_t now = (int64_t) time(NULL);
    int r;

    if (!c)
        return -ENOMEM;
    r = posture_json_add_str(c, "aud", aud);
    if (r >= 0)
        r = posture_json_add_int(c, "iat", now);
    if (r >= 0)
        r = posture_json_add_int(c, "exp", now + POP_LIFETIME_SEC);
    if (r >= 0)
        r = posture_json_print(c, false, &text);
    if (r >= 0)
        r = posture_jws_sign(pkey, typ, text, strlen(text), &jws);
    if (r >= 0)
        r = posture_json_add_str(obj, "pop", jws);
    return r;
}

static int get_b64(const cJSON *obj, const char *key, size_t max, uint8_t **ret, size_t *ret_len)
{
    const char *s = posture_json_get_str(obj, key);
    if (!s)
        return -EBADMSG;
    return posture_b64url_decode(s, strlen(s), max, ret, ret_len);
}

#ifdef POSTURE_HAVE_TPM
/* The TPM material when the configuration and the machine have a TPM; *ret stays NULL for
 * the software tier. Errors are logged. */
static int tpm_material(const struct posture_cli_config *cfg,
                        struct posture_tpm_enroll_material **ret)
{
    const char *tcti = cfg->agent.tpm_tcti;
    int mode = cfg->agent.tpm_mode;
    int r;

    if (mode == POSTURE_TPM_NO)
        return 0;
    if (mode == POSTURE_TPM_AUTO && !posture_key_tpm_tcti_usable(tcti)) {
        log_notice("No TPM at TCTI \"%s\": enrolling at the software trust tier.", tcti);
        return 0;
    }
    r = posture_tpm_enroll_material(tcti, ret);
    switch (r) {
    case 0:
        return 0;
    case -ENOENT:
        if (mode == POSTURE_TPM_AUTO) {
            log_notice("The TPM at \"%s\" holds no EK certificate: enrolling at the software "
                       "trust tier.",
                       tcti);
            return 0;
        }
        return log_error_errno(r,
                               "the TPM at TCTI \"%s\" holds no EK certificate, which hardware "
                               "enrolment needs; set [tpm] enabled = auto or no to enrol at the "
                               "software tier",
                               tcti);
    case -ENODEV:
        if (mode == POSTURE_TPM_AUTO) {
            log_notice("No TPM answers at TCTI \"%s\": enrolling at the software trust tier.",
                       tcti);
            return 0;
        }
        return log_error_errno(r,
                               "cannot reach the TPM through TCTI \"%s\" ([tpm] enabled = yes): "
                               "start the TPM (or simulator), check that this user may use it "
                               "(group tss), or set [tpm] tcti",
                               tcti);
    case -EKEYREJECTED:
        return log_error_errno(r,
                               "the TPM at \"%s\" has no endorsement key matching its EK "
                               "certificate (persistent handles 0x81010001/0x81010002/0x81010016 "
                               "and the default templates were tried)",
                               tcti);
    case -EBADMSG:
        return log_error_errno(r, "the EK certificate in the TPM at \"%s\" does not parse", tcti);
    default:
        return log_error_errno(r,
                               "reading the enrolment material from the TPM at \"%s\" failed: "
                               "%m (TSS2_LOG=esys+debug shows why)",
                               tcti);
    }
}

/* TPM2_ActivateCredential on the challenge, and the proof of DESIGN.md §8. */
static int activation_proof(const struct posture_cli_config *cfg,
                            const struct posture_tpm_enroll_material *m,
                            EVP_PKEY *pkey,
                            const char *url,
                            const char *device_id,
                            const cJSON *challenge,
                            cJSON **ret)
{
    posture_autofree uint8_t *blob = NULL, *enc = NULL, *nonce0 = NULL;
    posture_auto_cjson cJSON *act = cJSON_CreateObject();
    uint8_t secret[POSTURE_TPM_SECRET_MAX], proof[POSTURE_TPM_ENROLL_PROOF_SZ];
    size_t blob_len = 0, enc_len = 0, nonce0_len = 0, secret_len = 0;
    int r;

    if (!act)
        return log_error_errno(-ENOMEM, "Out of memory");
    r = get_b64(challenge, "credential_blob", CREDENTIAL_MAXLEN, &blob, &blob_len);
    if (r >= 0)
        r = get_b64(challenge, "encrypted_secret", CREDENTIAL_MAXLEN, &enc, &enc_len);
    if (r >= 0)
        r = get_b64(challenge, "nonce0", 64, &nonce0, &nonce0_len);
    if (r < 0 || nonce0_len != NONCE0_BYTES)
        return log_error_errno(-EBADMSG, "the verifier's credential challenge is malformed "
                                         "(credential_blob, encrypted_secret, nonce0)");

    r = posture_tpm_activate_credential(cfg->agent.tpm_tcti, m->ek_public, m->ek_public_len, blob,
                                        blob_len, enc, enc_len, secret, &secret_len);
    if (r == -EACCES)
        return log_error_errno(r, "the TPM refused the verifier's credential challenge: it was "
                                  "not made for this TPM's EK and AK");
    if (r < 0)
        return log_error_errno(r,
                               "TPM2_ActivateCredential with the TPM at \"%s\" failed: %m "
                               "(TSS2_LOG=esys+debug shows why)",
                               cfg->agent.tpm_tcti);
    r = posture_tpm_enroll_proof(secret, secret_len, device_id, nonce0, nonce0_len, proof);
    OPENSSL_cleanse(secret, sizeof(secret));
    if (r < 0)
        return log_error_errno(r, "Failed to compute the activation proof: %m");
    r = posture_json_add_str(act, "device_id", device_id);
    if (r >= 0)
        r = add_b64(act, "proof", proof, sizeof(proof));
    if (r >= 0) {
        cJSON *jwk = NULL;
        r = posture_key_jwk(pkey, &jwk);
        if (r >= 0)
            r = posture_json_add_item(act, "jwk", jwk);
    }
    if (r >= 0) {
        cJSON *claims = cJSON_CreateObject();
        r = claims ? posture_json_add_str(claims, "device_id", device_id) : -ENOMEM;
        if (r >= 0)
            r = add_sha256(claims, "proof_sha256", proof, sizeof(proof));
        if (r >= 0)
            r = add_b64(claims, "nonce0", nonce0, nonce0_len);
        if (r >= 0)
            r = add_pop(act, pkey, POSTURE_JWS_TYP_ACTIVATE, url, claims);
        else
            cJSON_Delete(claims);
    }
    OPENSSL_cleanse(proof, sizeof(proof));
    if (r < 0)
        return log_error_errno(r, "Failed to build the activation request (signed with the device "
                                  "key): %m");
    *ret = POSTURE_TAKE_PTR(act);
    return 0;
}
#endif

/* The enrolment request of docs/verifier-api.md. */
static int build_request(const char *token,
                         EVP_PKEY *pkey,
                         const char *url,
#ifdef POSTURE_HAVE_TPM
                         const struct posture_tpm_enroll_material *m,
#endif
                         cJSON **ret)
{
    posture_auto_cjson cJSON *req = cJSON_CreateObject();
    cJSON *jwk = NULL;
    int r;

    if (!req)
        return -ENOMEM;
    r = posture_json_add_str(req, "token", token);
    if (r >= 0)
        r = posture_key_jwk(pkey, &jwk);
    if (r >= 0)
        r = posture_json_add_item(req, "jwk", jwk);
#ifdef POSTURE_HAVE_TPM
    if (r >= 0 && m) {
        cJSON *tpm = cJSON_CreateObject();
        r = tpm ? posture_json_add_item(req, "tpm", tpm) : -ENOMEM;
        if (r >= 0)
            r = add_b64(tpm, "ek_cert", m->ek_cert, m->ek_cert_len);
        if (r >= 0)
            r = add_b64(tpm, "ek_pub", m->ek_public, m->ek_public_len);
        if (r >= 0)
            r = add_b64(tpm, "ak_pub", m->ak_public, m->ak_public_len);
    }
#endif
    if (r >= 0) {
        /* The proof of possession: the token's hash (and the AK's) signed by the device key. */
        cJSON *claims = cJSON_CreateObject();
        uint8_t tok[TOKEN_BYTES];
        int n = posture_b64url_decode_buf(token, strlen(token), tok, sizeof(tok));

        r = !claims ? -ENOMEM : n != TOKEN_BYTES ? -EINVAL : 0;
        if (r >= 0)
            r = add_sha256(claims, "token_sha256", tok, sizeof(tok));
        OPENSSL_cleanse(tok, sizeof(tok));
#ifdef POSTURE_HAVE_TPM
        if (r >= 0 && m)
            r = add_sha256(claims, "ak_sha256", m->ak_public, m->ak_public_len);
#endif
        if (r >= 0)
            r = add_pop(req, pkey, POSTURE_JWS_TYP_ENROLL, url, claims);
        else
            cJSON_Delete(claims);
    }
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(req);
    return 0;
}

/* The certificate of the answer: PEM of one X.509 certificate for our key. */
static int check_certificate(const char *pem, EVP_PKEY *pkey)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = NULL;
    EVP_PKEY *pub;
    int r = -EBADMSG;

    if (!bio)
        return -ENOMEM;
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    pub = x ? X509_get0_pubkey(x) : NULL;
    if (pub)
        r = EVP_PKEY_eq(pub, pkey) == 1 ? 0 : -EKEYREJECTED;
    X509_free(x);
    BIO_free(bio);
    return r;
}

/* Read the CA file (PEM, at least one certificate) for copying into the state directory. */
static int read_ca(const char *path, char **ret, size_t *ret_len)
{
    posture_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    posture_autofree char *buf = NULL;
    size_t len = 0;
    BIO *bio;
    X509 *x;
    int r;

    if (fd < 0)
        return log_error_errno(-errno, "CA certificate %s: %m", path);
    r = posture_read_fd(fd, CA_FILE_MAX, &buf, &len);
    if (r < 0)
        return log_error_errno(r, "CA certificate %s: %m", path);
    bio = BIO_new_mem_buf(buf, (int) len);
    x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!x)
        return log_error_errno(-EBADMSG,
                               "CA certificate %s holds no PEM certificate ('posture-verifier "
                               "ca' prints the right one)",
                               path);
    X509_free(x);
    *ret = POSTURE_TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

/* Store the answer's certificate (and the CA given with --ca); print the result. */
static int finish(const struct posture_cli_config *cfg,
                  const char *store_ca,
                  bool verbose,
                  const char *url,
                  EVP_PKEY *pkey,
                  const char *kid,
                  const cJSON *answer)
{
    const char *status = posture_json_get_str(answer, "status");
    const char *id = posture_json_get_str(answer, "device_id");
    const char *tier = posture_json_get_str(answer, "tier");
    const char *cert = posture_json_get_str(answer, "certificate");
    posture_autofree char *ca = NULL;
    posture_autoclose int state_fd = -1;
    size_t ca_len = 0;
    int r;

    if (!status || strcmp(status, "enrolled") != 0 || !id || !tier || !cert)
        return log_error_errno(-EBADMSG,
                               "the verifier at %s answered without a device "
                               "certificate (status, device_id, tier, certificate)",
                               url);
    if (strcmp(id, kid) != 0)
        return log_error_errno(-EBADMSG,
                               "the verifier at %s enrolled device %.80s, not this "
                               "device's key %s",
                               url, id, kid);
    r = check_certificate(cert, pkey);
    if (r < 0)
        return log_error_errno(r, "the verifier at %s sent a device certificate that %s", url,
                               r == -EKEYREJECTED ? "is not for this device's key"
                                                  : "does not parse");

    r = posture_state_dir_open(cfg->agent.state_dir, true, &state_fd);
    if (r < 0)
        return log_error_errno(r, "state directory %s: %m", cfg->agent.state_dir);
    r = posture_state_write_atomic(state_fd, DEVICE_CERT_NAME, cert, strlen(cert), 0644, true);
    if (r < 0)
        return log_error_errno(r,
                               "cannot store the device certificate in %s/" DEVICE_CERT_NAME ": %m",
                               cfg->agent.state_dir);
    /* What `submit` needs to know later: whether this enrolment has a TPM behind it. */
    {
        posture_auto_cjson cJSON *rec = cJSON_CreateObject();
        posture_autofree char *text = NULL;

        r = rec ? 0 : -ENOMEM;
        if (r >= 0)
            r = posture_json_add_str(rec, "device_id", id);
        if (r >= 0)
            r = posture_json_add_str(rec, "tier", tier);
        if (r >= 0)
            r = posture_json_add_str(rec, "server", url);
        if (r >= 0)
            r = posture_json_print(rec, true, &text);
        if (r >= 0 && text)
            r = posture_state_write_atomic(state_fd, POSTURE_CLI_ENROLLMENT_NAME, text,
                                           strlen(text), 0644, true);
        if (r < 0)
            return log_error_errno(r, "cannot store %s/" POSTURE_CLI_ENROLLMENT_NAME ": %m",
                                   cfg->agent.state_dir);
    }
    if (!verbose)
        log_info("Enrolled device %s at trust tier %s with %s.", id, tier, url);
    else {
        (void) printf("Enrolled device %s at trust tier %s.\n", id, tier);
        (void) printf("Device certificate: %s/" DEVICE_CERT_NAME "\n", cfg->agent.state_dir);
    }
    if (store_ca) {
        r = read_ca(store_ca, &ca, &ca_len);
        if (r >= 0)
            r = posture_state_write_atomic(state_fd, VERIFIER_CA_NAME, ca, ca_len, 0644, true);
        if (r < 0)
            return log_error_errno(r, "cannot store the verifier CA in %s/" VERIFIER_CA_NAME ": %m",
                                   cfg->agent.state_dir);
        if (verbose)
            (void) printf("Verifier CA: %s/" VERIFIER_CA_NAME
                          " (set [server] ca to it for postured and 'posturectl submit')\n",
                          cfg->agent.state_dir);
    }
    if (verbose && (!cfg->agent.server_url || strcmp(cfg->agent.server_url, url) != 0))
        (void) printf("Set [server] url = %s in the agent configuration for postured and "
                      "'posturectl submit'.\n",
                      url);
    return 0;
}

int posture_cli_enroll(int argc, char **argv)
{
    POSTURE_CLEANUP(enroll_args_done) struct enroll_args args = { 0 };
    POSTURE_CLEANUP(posture_cli_config_done) struct posture_cli_config cfg = { 0 };
    posture_autofree char *token_buf = NULL, *ca_stored = NULL;
    const char *url, *ca, *token;
    int r;

    r = parse_args(argc, argv, &args);
    if (r != POSTURE_CLI_RUN)
        return r;
    /* The TSS logs TPM errors to stderr by itself; ours say what failed and how to see the
     * TSS's detail (TSS2_LOG=esys+debug), which a TSS2_LOG already set still gives. */
    (void) setenv("TSS2_LOG", "all+none", 0); /* NOLINT(concurrency-mt-unsafe): no threads yet */
    r = posture_cli_config_load(args.common.config, &cfg);
    if (r < 0)
        return POSTURE_EXIT_USAGE;

    if (args.token_file) {
        r = read_token_file(args.token_file, &token_buf);
        if (r < 0)
            return POSTURE_EXIT_USAGE;
    }
    token = token_buf ? token_buf : args.token;
    url = args.server ? args.server : cfg.agent.server_url;
    if (!url) {
        log_error("enroll: no verifier: give --server URL (or set [server] url)");
        return POSTURE_EXIT_USAGE;
    }
    ca = args.ca ? args.ca : cfg.agent.server_ca;
    if (!ca) {
        log_error("enroll: the verifier's CA is not pinned: give --ca FILE (or set [server] ca); "
                  "'posture-verifier ca' prints it");
        return POSTURE_EXIT_USAGE;
    }
    if (!args.ca && access(ca, R_OK) < 0 && errno == ENOENT) {
        /* [server] ca's default may not exist: the CA an earlier `enroll --ca` stored. */
        if (asprintf(&ca_stored, "%s/" VERIFIER_CA_NAME, cfg.agent.state_dir) < 0) {
            (void) log_error_errno(-ENOMEM, "Out of memory");
            return POSTURE_EXIT_USAGE;
        }
        if (access(ca_stored, R_OK) == 0)
            ca = ca_stored;
    }
    r = posture_cli_enroll_device(&cfg, url, ca, args.ca != NULL, token, true);
    return r < 0 ? POSTURE_EXIT_USAGE : POSTURE_EXIT_OK;
}

int posture_cli_enroll_token_read(const char *path, char **ret)
{
    return read_token_file(path, ret);
}

int posture_cli_enroll_device(const struct posture_cli_config *cfg,
                              const char *url,
                              const char *ca,
                              bool store_ca,
                              const char *token,
                              bool verbose)
{
    POSTURE_CLEANUP(posture_http_response_done) struct posture_http_response resp = { 0 };
    posture_auto_http_client struct posture_http_client *client = NULL;
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    posture_auto_cjson cJSON *req = NULL, *answer = NULL;
    posture_autofree char *kid = NULL;
#ifdef POSTURE_HAVE_TPM
    posture_auto_tpm_enroll_material struct posture_tpm_enroll_material *m = NULL;
#endif
    const char *status;
    int r;

    if (!token || !posture_b64url_check(token, strlen(token), TOKEN_BYTES, TOKEN_BYTES))
        return log_error_errno(-EINVAL,
                               "enroll: the token is not an enrolment token (base64url of %d "
                               "bytes, as 'posture-verifier token create' prints it)",
                               TOKEN_BYTES);
    if (access(ca, R_OK) < 0)
        return log_error_errno(-errno,
                               "CA certificate %s: %m (give --ca FILE or set [server] ca: "
                               "'posture-verifier ca' prints it)",
                               ca);
    r = posture_cli_key_open(cfg, &pkey);
    if (r < 0)
        return r;
    r = posture_key_thumbprint(pkey, &kid);
    if (r < 0)
        return log_error_errno(r, "Failed to compute the device id: %m");
#ifdef POSTURE_HAVE_TPM
    r = tpm_material(cfg, &m);
    if (r < 0)
        return r;
    r = build_request(token, pkey, url, m, &req);
#else
    if (cfg->agent.tpm_mode == POSTURE_TPM_YES)
        return log_error_errno(-EOPNOTSUPP,
                               "[tpm] enabled = yes, but this " POSTURE_CLI_PROGRAM
                               " was built without TPM support: set [tpm] enabled = auto or no");
    r = build_request(token, pkey, url, &req);
#endif
    if (r < 0)
        return log_error_errno(r, "Failed to build the enrolment request: %m");

    struct posture_http_client_opts opts = {
        .base_url = url,
        .ca_file = ca,
        .total_timeout_usec = cfg->agent.server_timeout_usec,
    };
    r = posture_http_client_new(&opts, &client);
    if (r < 0)
        return log_error_errno(r, "--server %s: %s", url,
                               r == -EINVAL ? "not an https:// URL" : "cannot start HTTPS");
    r = post_json(client, url, ca, "/v1/enroll", req, &resp);
    if (r < 0)
        return transient(r);
    if (resp.status != 201)
        return enroll_refused(url, &resp);
    r = answer_json(url, &resp, &answer);
    if (r < 0)
        return r;
    status = posture_json_get_str(answer, "status");

    if (status && strcmp(status, "activation-required") == 0) {
#ifdef POSTURE_HAVE_TPM
        posture_auto_cjson cJSON *act = NULL;
        const char *id = posture_json_get_str(answer, "device_id");

        if (!m || !id || strcmp(id, kid) != 0)
            return log_error_errno(-EPROTO, "the verifier at %s sent a credential challenge %s",
                                   url,
                                   m ? "for another device" : "although no TPM material was sent");
        r = activation_proof(cfg, m, pkey, url, kid, answer, &act);
        if (r < 0)
            return r;
        posture_http_response_done(&resp);
        r = post_json(client, url, ca, "/v1/enroll/activate", act, &resp);
        if (r < 0)
            return transient(r);
        if (resp.status != 201)
            return enroll_refused(url, &resp);
        cJSON_Delete(answer);
        answer = NULL;
        r = answer_json(url, &resp, &answer);
        if (r < 0)
            return r;
#else
        return log_error_errno(
            -EPROTO,
            "the verifier at %s sent a credential challenge to a " POSTURE_CLI_PROGRAM
            " without TPM support",
            url);
#endif
    }
    return finish(cfg, store_ca ? ca : NULL, verbose, url, pkey, kid, answer);
}
