/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture-verifier serve [--config FILE] [--test-config] [--dump-config]
 *
 * The verifier service (DESIGN.md §4, §8): reads verifier.conf (+ verifier.conf.d/), opens the
 * verifier's keys (creating them on first start) and the store, and serves HTTP on the agent
 * listener (TLS with client certificates) and the gateway listener (plain, loopback or a unix
 * socket). Signals: SIGTERM/SIGINT stop gracefully (no new connections, requests under way
 * finish within [listen] shutdown_timeout, then the store is closed); SIGHUP reloads the
 * configuration, the policies and the EK roots (reload() below; docs/verifier-operations.md).
 * Signals are taken synchronously by the main thread (sigtimedwait; no signal handler), which
 * also polls the store for revocations made by other processes every REVOKE_POLL_MSEC and
 * applies them to the decision view, so that /v1/authz never reads the disk. With NOTIFY_SOCKET
 * set (systemd Type=notify) it sends READY=1 once listening, RELOADING=1/READY=1 around a reload
 * and STOPPING=1 when it begins to stop.
 *
 * Routes served here: GET /healthz, GET /metrics, GET /.well-known/jwks.json and the diagnostic
 * GET /v1/identity (which client identity the verifier sees: the TLS client certificate, or the
 * certificate a trusted gateway forwarded). The API routes of the other modules are added in
 * serve_api_routes() below, the extension point.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/config.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/statefile.h"
#include "posture/strv.h"

#include "api.h"
#include "decision.h"
#include "ekcert.h"
#include "http.h"
#include "metrics.h"
#include "policy.h"
#include "store.h"
#include "verifier.h"
#include "verifier_config.h"
#include "vkeys.h"

static const char command[] = "serve";

#define PEM_MAX         ((size_t) 256 * 1024)
#define PURGE_EVERY_SEC 60
/* Revocations: how often the store is asked, and how far back each question goes (a revoke
 * that committed late, or an appraisal under way that put the device back, is caught again). */
#define REVOKE_POLL_MSEC    250
#define REVOKE_OVERLAP_USEC ((uint64_t) 30 * POSTURE_STORE_USEC_PER_SEC)
#define NOTIFY_PATH_MAX     108

enum {
    OPT_CONFIG = 0x100,
    OPT_TEST_CONFIG,
    OPT_DUMP_CONFIG,
};

/* Everything the routes need; lives for the whole run of serve. */
struct serve {
    struct posture_verifier_config cfg;
    struct posture_store *store;
    struct posture_vkeys *vkeys;
    struct posture_metrics *metrics;
    struct posture_http_server *http;
    char *jwks;                            /* the JWKS document, built once */
    struct posture_policy_set *policies;   /* [policy] dir; NULL when the directory is missing */
    struct posture_ekcert_roots *ek_roots; /* [enroll] ek_roots; NULL when missing */
    struct posture_decisions *decisions;   /* what /v1/authz answers from */
    struct posture_api *api;
    const char *config_path; /* --config, NULL: the default; read again at SIGHUP */
    uint64_t revoked_cursor; /* the latest revoked_at seen (store clock, µs) */
    int log_level_started;   /* the level without [verifier] log_level (POSTURE_LOG_LEVEL) */
    struct posture_metrics_counter *m_reloads;     /* {result}: SIGHUP reloads */
    struct posture_metrics_counter *m_revocations; /* devices revoked in the view while running */
};

static void help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_VERIFIER_PROGRAM
           " serve [--config FILE] [--test-config] [--dump-config]\n"
           "\n"
           "Run the verifier service: the agent listener (TLS with client certificates)\n"
           "and the gateway listener (plain HTTP on loopback or a unix socket).\n"
           "\n"
           "Options:\n"
           "  --config FILE   the configuration (default " POSTURE_VERIFIER_CONFIG_PATH "\n"
           "                  and its .d/ drop-ins)\n"
           "  --test-config   check the configuration and exit (0 when valid)\n"
           "  --dump-config   print the effective configuration and exit\n"
           "  -h, --help      show this help\n"
           "\n"
           "Signals:\n"
           "  SIGTERM, SIGINT  stop gracefully ([listen] shutdown_timeout)\n"
           "  SIGHUP           reload verifier.conf (+ .d/), the policy files and the EK\n"
           "                   roots: everything is checked first, and an error keeps the\n"
           "                   running configuration (one log line naming the file).\n"
           "                   Applied at once: the policies and [policy] dir and default,\n"
           "                   [listen] trusted_gateways and shutdown_timeout, [enroll]\n"
           "                   ek_roots and the rate limits, [verifier] log_level, [authz]\n"
           "                   bearer. A policy whose content changed (or that is gone)\n"
           "                   no longer decides from its old appraisals: /v1/authz\n"
           "                   answers 403 not-appraised under it until the device reports\n"
           "                   again. Other keys need a restart: a reload that changes\n"
           "                   them names them in one log line.\n"
           "\n"
           "Revocation: 'devices revoke' (another process) reaches a running serve within\n"
           "a quarter of a second (it polls the store; /v1/authz never reads the disk):\n"
           "/v1/authz then answers 403 device-revoked under every policy, and the device's\n"
           "/v1/challenge and /v1/posture are refused (403 device-revoked).\n"
           "See docs/verifier-operations.md.\n");
}

/* ---- configuration ---------------------------------------------------------------------- */

/* The shared loader (posture_verifier_load_config), plus serve's own requirement. */
static int config_load(const char *path, struct posture_verifier_config *cfg)
{
    const char *main_path = path ? path : POSTURE_VERIFIER_CONFIG_PATH;
    int r;

    r = posture_verifier_load_config(path, cfg);
    if (r < 0)
        return r;
    if (!cfg->listen_agents[0] && !cfg->listen_gateways[0]) {
        posture_verifier_config_done(cfg);
        log_error("%s: [listen] agents and gateways are both off; nothing to serve", main_path);
        return -EINVAL;
    }
    return 0;
}

/* ---- systemd notification (no libsystemd) ----------------------------------------------- */

static char notify_path[NOTIFY_PATH_MAX + 1];

static void notify_setup(void)
{
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts */
    const char *p = getenv("NOTIFY_SOCKET");

    if (!p || (p[0] != '/' && p[0] != '@') || strlen(p) >= sizeof(notify_path) - 1)
        return;
    (void) snprintf(notify_path, sizeof(notify_path), "%s", p);
}

static void notify(const char *message)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t n = strlen(notify_path);
    posture_autoclose int fd = -1;

    if (n == 0)
        return;
    memcpy(sa.sun_path, notify_path, n);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, message, strlen(message), MSG_NOSIGNAL, (struct sockaddr *) &sa,
                         (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n)) < 0)
        log_warning("NOTIFY_SOCKET %s: cannot send %s: %m, ignoring", notify_path, message);
}

/* ---- routes ----------------------------------------------------------------------------- */

static int
route_healthz(struct posture_http_request *req, struct posture_http_response *resp, void *userdata)
{
    (void) req;
    (void) userdata;
    return posture_http_response_set_body(resp, "text/plain; charset=utf-8", "ok\n", 3);
}

static int
route_metrics(struct posture_http_request *req, struct posture_http_response *resp, void *userdata)
{
    struct serve *s = userdata;
    posture_autofree char *text = NULL;
    size_t len = 0;
    int r;

    (void) req;
    r = posture_metrics_render(s->metrics, &text, &len);
    if (r < 0)
        return r;
    return posture_http_response_set_body(resp, "text/plain; version=0.0.4; charset=utf-8", text,
                                          len);
}

static int
route_jwks(struct posture_http_request *req, struct posture_http_response *resp, void *userdata)
{
    struct serve *s = userdata;
    int r;

    (void) req;
    if (!s->jwks)
        return -ENOENT; /* 503: fail closed */
    r = posture_http_response_set_body(resp, "application/jwk-set+json", s->jwks, strlen(s->jwks));
    if (r >= 0)
        r = posture_http_response_add_header(resp, "Cache-Control", "public, max-age=300");
    return r;
}

/* Diagnostic: the identity this request carries (for setting up a gateway). */
static int
route_identity(struct posture_http_request *req, struct posture_http_response *resp, void *userdata)
{
    const struct posture_http_identity *id = posture_http_request_identity(req);
    const char *err = posture_http_request_identity_error(req);
    posture_auto_cjson cJSON *o = NULL;
    char x5t[64];
    int r;

    (void) userdata;
    if (!id) {
        r = posture_http_response_problem(
            resp, 401, "no-client-certificate", "No client certificate",
            err ? err : "the request carries no client certificate", NULL);
        if (r >= 0)
            r = posture_http_response_add_header(resp, "WWW-Authenticate",
                                                 "Bearer realm=\"posture\"");
        return r;
    }
    r = posture_b64url_encode_buf(id->x5t_s256, sizeof(id->x5t_s256), x5t, sizeof(x5t));
    if (r < 0)
        return r;
    o = cJSON_CreateObject();
    if (!o ||
        !cJSON_AddStringToObject(o, "source", posture_http_identity_source_to_string(id->source)) ||
        !cJSON_AddStringToObject(o, "x5t#S256", x5t) ||
        !cJSON_AddBoolToObject(o, "certificate", id->der != NULL) ||
        !cJSON_AddBoolToObject(o, "chain_verified", id->chain_verified) ||
        !cJSON_AddBoolToObject(o, "trusted_gateway", posture_http_request_peer_trusted(req)))
        return -ENOMEM;
    return posture_http_response_set_json(resp, 200, NULL, o);
}

static int serve_builtin_routes(struct serve *s)
{
    const struct posture_http_route routes[] = {
        { .methods = POSTURE_HTTP_GET, .path = "/healthz", .handler = route_healthz },
        { .methods = POSTURE_HTTP_GET,
          .path = "/metrics",
          .handler = route_metrics,
          .userdata = s },
        { .methods = POSTURE_HTTP_GET,
          .path = "/.well-known/jwks.json",
          .handler = route_jwks,
          .userdata = s },
        { .methods = POSTURE_HTTP_GET, .path = "/v1/identity", .handler = route_identity },
    };
    int r;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(routes); i++) {
        r = posture_http_server_add_route(s->http, &routes[i]);
        if (r < 0)
            return log_error_errno(r, "Failed to add the route %s: %m", routes[i].path);
    }
    return 0;
}

/*
 * Extension point: the API routes of the other modules (DESIGN.md §8). Each module adds its
 * routes to s->http with posture_http_server_add_route(), given what it needs from s, with one
 * call here. verifier/lib/api.h serves POST /v1/enroll, /v1/enroll/activate, /v1/challenge and
 * /v1/posture (agents) and ANY /v1/authz[/...] (gateways); it needs the policy set ([policy]
 * dir; missing: submissions 503, gateways denied), the EK roots ([enroll] ek_roots; missing:
 * TPM enrolment refused) and the decision view, filled from the store here at start.
 */
/*
 * The policy set of cfg, checked: every file parses, the default is one of them, not too many.
 * A missing or empty directory is allowed at start (NULL set: fail closed) but not at a reload
 * (reload): a policy directory that vanished keeps the running policies. Errors are logged with
 * `what` ("" or "SIGHUP: ") in front, naming the file.
 */
static int policies_load(const struct posture_verifier_config *cfg,
                         bool missing_ok,
                         const char *what,
                         struct posture_policy_set **ret)
{
    char err[POSTURE_POLICY_ERROR_MAX] = "";
    struct posture_policy_set *set = NULL;
    int r;

    r = posture_policy_set_load_dir(cfg->policy_dir, &set, err, sizeof(err));
    if ((r == -ENOENT || r == -ENODATA) && missing_ok) {
        log_warning("[policy] dir %s: %s: submissions are refused (503) and gateways denied "
                    "until policies are installed there and the verifier reloaded (SIGHUP)",
                    cfg->policy_dir, r == -ENOENT ? "missing" : "no *.json policy in it");
        *ret = NULL;
        return 0;
    }
    if (r == -ENOENT || r == -ENODATA) {
        log_error("%s[policy] dir %s: %s", what, cfg->policy_dir,
                  r == -ENOENT ? "missing" : "no *.json policy in it");
        return r;
    }
    if (r < 0)
        return log_error_errno(r, "%s[policy] dir %s: %s", what, cfg->policy_dir,
                               err[0] ? err : posture_errno_name(r));
    if (!posture_policy_set_find(set, cfg->policy_default)) {
        log_error("%s[policy] default = %s: there is no %s/%s.json", what, cfg->policy_default,
                  cfg->policy_dir, cfg->policy_default);
        posture_policy_set_free(set);
        return -EINVAL;
    }
    if (set->n_policies > POSTURE_DECISION_POLICIES_MAX) {
        log_error("%s[policy] dir %s: %zu policies; at most %d can be served", what,
                  cfg->policy_dir, set->n_policies, POSTURE_DECISION_POLICIES_MAX);
        posture_policy_set_free(set);
        return -E2BIG;
    }
    *ret = set;
    return 0;
}

static int serve_api_routes(struct serve *s)
{
    int r;

    r = policies_load(&s->cfg, true, "", &s->policies);
    if (r < 0)
        return r;

    r = posture_ekcert_roots_load(s->cfg.ek_roots, NULL, &s->ek_roots);
    if (r == -ENOENT)
        log_warning("[enroll] ek_roots %s is missing: TPM enrolment is refused "
                    "(enroll-ek-roots-missing), software enrolment works",
                    s->cfg.ek_roots);
    else if (r < 0)
        return log_error_errno(r, "[enroll] ek_roots %s: %m", s->cfg.ek_roots);

    r = posture_decisions_new(POSTURE_API_DEVICES_MAX, &s->decisions);
    if (r < 0)
        return log_error_errno(r, "Failed to set up the decision view: %m");

    struct posture_api_enroll_limits limits = {
        .per_ip_per_min = s->cfg.enroll_rate_per_ip,
        .per_ip_burst = s->cfg.enroll_burst_per_ip,
        .global_per_min = s->cfg.enroll_rate,
        .global_burst = s->cfg.enroll_burst,
        .failures_per_ip_per_hour = s->cfg.enroll_failures_per_ip,
        .failures_per_ip_burst = s->cfg.enroll_failure_burst_per_ip,
        .clients_max = s->cfg.enroll_clients_max,
    };
    struct posture_api_options ao = {
        .store = s->store,
        .vkeys = s->vkeys,
        .ek_roots = s->ek_roots,
        .policies = s->policies,
        .default_policy = s->cfg.policy_default,
        .decisions = s->decisions,
        .metrics = s->metrics,
        .posture_body_max = (size_t) s->cfg.posture_body_max,
        .audit_decisions = true,
        .enroll_limits = &limits,
        .authz_bearer = s->cfg.authz_bearer,
        .dpop_replay_max = s->cfg.authz_dpop_replay_cache,
    };
    r = posture_api_new(&ao, &s->api);
    if (r < 0)
        return log_error_errno(r, "Failed to set up the API: %m");
    /* revocations from here on (and REVOKE_OVERLAP_USEC before) reach the view by polling */
    s->revoked_cursor = posture_store_now(s->store);
    r = posture_api_decisions_load(s->api);
    if (r < 0)
        return log_error_errno(r, "store %s: cannot read the latest appraisals: %m", s->cfg.store);
    log_info("decision view: %d device(s) from the store; %zu polic%s (default %s)", r,
             s->policies ? s->policies->n_policies : 0,
             s->policies && s->policies->n_policies == 1 ? "y" : "ies", s->cfg.policy_default);
    r = posture_api_add_routes(s->api, s->http);
    if (r < 0)
        return log_error_errno(r, "Failed to add the API routes: %m");
    return 0;
}

/* ---- the TLS certificate, created on first start (DESIGN.md §5) ------------------------- */

#define TLS_CERT_VALIDITY_SEC ((long) 5 * 365 * 24 * 3600)

POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)

static int cert_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;
    int ok;

    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!e)
        return -EIO;
    ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok == 1 ? 0 : -EIO;
}

static int pem_of(int (*write)(BIO *, const void *), const void *obj, char **ret)
{
    POSTURE_CLEANUP(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;

    if (!b || write(b, obj) != 1)
        return -EIO;
    n = BIO_get_mem_data(b, &data);
    if (n <= 0)
        return -EIO;
    /* Not strndup(): the BIO's data is not NUL-terminated and strndup may read past n. */
    *ret = malloc((size_t) n + 1);
    if (!*ret)
        return -ENOMEM;
    memcpy(*ret, data, (size_t) n);
    (*ret)[n] = '\0';
    return 0;
}

static int write_cert_pem(BIO *b, const void *x)
{
    return PEM_write_bio_X509(b, (X509 *) x);
}

static int write_key_pem(BIO *b, const void *k)
{
    return PEM_write_bio_PrivateKey(b, (EVP_PKEY *) k, NULL, NULL, 0, NULL, NULL);
}

/* A self-signed P-256 certificate for the agent listener: names localhost, this host and the
 * loopback addresses (agents pin the certificate itself: `posture-verifier ca`). */
static int tls_self_signed(char **ret_cert, char **ret_key)
{
    posture_auto_evp_pkey EVP_PKEY *key = NULL;
    POSTURE_CLEANUP(X509_freep) X509 *x = NULL;
    char host[256] = "", cn[300], san[600];
    unsigned char serial[16];
    BIGNUM *bn;
    int r;

    key = EVP_EC_gen("P-256");
    x = X509_new();
    if (!key || !x || X509_set_version(x, 2) != 1 || RAND_bytes(serial, sizeof(serial)) != 1)
        return -EIO;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
        BN_free(bn);
        return -EIO;
    }
    BN_free(bn);
    if (gethostname(host, sizeof(host) - 1) < 0 || !posture_vkeys_trust_domain_valid(host))
        host[0] = '\0'; /* only a plain DNS-like name goes into the SAN */
    (void) snprintf(cn, sizeof(cn), "posture-verifier%s%s", host[0] ? " " : "", host);
    (void) snprintf(san, sizeof(san), "DNS:localhost,%s%s%sIP:127.0.0.1,IP:::1",
                    host[0] ? "DNS:" : "", host, host[0] ? "," : "");
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), TLS_CERT_VALIDITY_SEC) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1)
        return -EIO;
    /* CA:TRUE so that pinning it as the trust anchor works with every TLS library */
    r = cert_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    if (r >= 0)
        r = cert_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign");
    if (r >= 0)
        r = cert_ext(x, NID_ext_key_usage, "serverAuth");
    if (r >= 0)
        r = cert_ext(x, NID_subject_key_identifier, "hash");
    if (r >= 0)
        r = cert_ext(x, NID_subject_alt_name, san);
    if (r < 0)
        return r;
    if (X509_sign(x, key, EVP_sha256()) <= 0)
        return -EIO;
    r = pem_of(write_cert_pem, x, ret_cert);
    if (r < 0)
        return r;
    r = pem_of(write_key_pem, key, ret_key);
    if (r < 0) {
        free(*ret_cert);
        *ret_cert = NULL;
    }
    return r;
}

static int write_new(const char *path, const char *data, mode_t mode)
{
    posture_autofree char *dir = strdup(path);
    posture_autoclose int dfd = -1;
    char *slash;
    int r;

    if (!dir)
        return -ENOMEM;
    slash = strrchr(dir, '/');
    if (!slash)
        return -EINVAL;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    r = posture_state_dir_open(dir, false, &dfd);
    if (r < 0)
        return r;
    return posture_state_write_atomic(dfd, strrchr(path, '/') + 1, data, strlen(data), mode, false);
}

/* [tls] cert and key: both present, or both created now. */
static int tls_material_ensure(const struct posture_verifier_config *cfg)
{
    posture_autofree char *cert = NULL;
    char *key = NULL;
    bool have_cert = access(cfg->tls_cert, F_OK) == 0;
    bool have_key = access(cfg->tls_key, F_OK) == 0;
    int r;

    if (have_cert && have_key)
        return 0;
    if (have_cert != have_key) {
        log_error("[tls] %s %s exists but %s %s does not: restore it, or remove both to have "
                  "a new self-signed certificate made",
                  have_cert ? "cert" : "key", have_cert ? cfg->tls_cert : cfg->tls_key,
                  have_cert ? "key" : "cert", have_cert ? cfg->tls_key : cfg->tls_cert);
        return -ENOENT;
    }
    r = tls_self_signed(&cert, &key);
    if (r < 0)
        return log_error_errno(r, "Failed to make a TLS certificate: %m");
    r = write_new(cfg->tls_key, key, 0600);
    OPENSSL_cleanse(key, strlen(key));
    free(key);
    if (r < 0 && r != -EEXIST)
        return log_error_errno(r, "[tls] key %s: cannot create it: %m", cfg->tls_key);
    r = write_new(cfg->tls_cert, cert, 0644);
    if (r < 0 && r != -EEXIST)
        return log_error_errno(r, "[tls] cert %s: cannot create it: %m", cfg->tls_cert);
    log_info("created the self-signed TLS certificate %s (agents pin it: "
             "'" POSTURE_VERIFIER_PROGRAM " ca')",
             cfg->tls_cert);
    return 0;
}

/* ---- start-up and the main loop --------------------------------------------------------- */

static int read_pem(int root_fd, const char *what, const char *path, char **ret)
{
    int r = posture_read_file_at(root_fd, path, PEM_MAX, ret, NULL);

    if (r < 0)
        return log_error_errno(r, "%s %s: %m (set [tls] in verifier.conf)", what, path);
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;

    /* every connection is a descriptor: allow up to the hard limit */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_debug("setrlimit(RLIMIT_NOFILE): %m, ignoring");
    }
}

static void forged_header(const char *peer, const char *header, void *userdata)
{
    (void) userdata;
    log_warning("%s sent a %s header but is not in [listen] trusted_gateways; header ignored "
                "(add the gateway's address there if it is one)",
                peer, header);
}

static void serve_done(struct serve *s)
{
    s->http = posture_http_server_free(s->http);
    s->api = posture_api_free(s->api);
    s->decisions = posture_decisions_free(s->decisions);
    s->ek_roots = posture_ekcert_roots_free(s->ek_roots);
    s->policies = posture_policy_set_free(s->policies);
    s->store = posture_store_free(s->store);
    s->vkeys = posture_vkeys_free(s->vkeys);
    s->metrics = posture_metrics_free(s->metrics);
    free(s->jwks);
    s->jwks = NULL;
    posture_verifier_config_done(&s->cfg);
}

static void log_listener(struct serve *s, enum posture_http_listener l, const char *name)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char buf[160];

    if (posture_http_server_address(s->http, l, &ss, &len) < 0)
        return;
    log_info("listening for %s on %s", name,
             posture_http_address_format((struct sockaddr *) &ss, len, buf, sizeof(buf)));
}

/* ---- revocations made by other processes ------------------------------------------------ */

struct revoke_poll {
    struct serve *s;
    uint64_t now;
    uint64_t latest;
};

static int revoked_one(const char *device_id, uint64_t revoked_at, void *userdata)
{
    struct revoke_poll *p = userdata;
    int r;

    if (revoked_at > p->latest)
        p->latest = revoked_at;
    r = posture_decisions_revoke(p->s->decisions, device_id);
    if (r == 1) {
        uint64_t lag = p->now > revoked_at ? p->now - revoked_at : 0;
        posture_metrics_counter_inc(p->s->m_revocations, NULL);
        log_notice("device %s was revoked %" PRIu64 " ms ago: /v1/authz answers 403 "
                   "device-revoked for it under every policy from now on",
                   device_id, lag / 1000);
    }
    return 0;
}

/* Apply the revocations of the store to the decision view: a query on a partial index (see
 * posture_store_device_foreach_revoked_since), cheap enough to run 4 times a second. */
static void revocations_poll(struct serve *s)
{
    struct revoke_poll p = { .s = s, .now = posture_store_now(s->store) };
    uint64_t since =
        s->revoked_cursor > REVOKE_OVERLAP_USEC ? s->revoked_cursor - REVOKE_OVERLAP_USEC : 0;
    int r;

    p.latest = s->revoked_cursor;
    r = posture_store_device_foreach_revoked_since(s->store, since, revoked_one, &p);
    if (r < 0) {
        /* the store is busy or failing: the agents' own requests are refused by the store
         * lookup anyway; try again at the next tick */
        log_debug("revocation poll: %s, retrying", posture_errno_name(r));
        return;
    }
    s->revoked_cursor = p.latest;
}

/* ---- SIGHUP: reload --------------------------------------------------------------------- */

static bool str_differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* The keys a reload cannot apply, as "[listen] agents, [tls] cert" ("" when none changed). */
static void restart_keys(const struct posture_verifier_config *before,
                         const struct posture_verifier_config *after,
                         char *buf,
                         size_t size)
{
    const struct {
        const char *name;
        bool changed;
    } keys[] = {
        { "[verifier] state_dir", str_differs(before->state_dir, after->state_dir) },
        { "[verifier] trust_domain", str_differs(before->trust_domain, after->trust_domain) },
        { "[verifier] store", str_differs(before->store, after->store) },
        { "[listen] agents", str_differs(before->listen_agents, after->listen_agents) },
        { "[listen] gateways", str_differs(before->listen_gateways, after->listen_gateways) },
        { "[listen] threads", before->threads != after->threads },
        { "[listen] max_connections", before->max_connections != after->max_connections },
        { "[listen] max_connections_per_ip",
          before->max_connections_per_ip != after->max_connections_per_ip },
        { "[listen] request_timeout", before->request_timeout_usec != after->request_timeout_usec },
        { "[listen] idle_timeout", before->idle_timeout_usec != after->idle_timeout_usec },
        { "[listen] body_max", before->body_max != after->body_max },
        { "[listen] posture_body_max", before->posture_body_max != after->posture_body_max },
        { "[tls] cert", str_differs(before->tls_cert, after->tls_cert) },
        { "[tls] key", str_differs(before->tls_key, after->tls_key) },
        { "[tls] client_ca", str_differs(before->tls_client_ca, after->tls_client_ca) },
        { "[authz] dpop_replay_cache",
          before->authz_dpop_replay_cache != after->authz_dpop_replay_cache },
    };
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(keys); i++) {
        int k;
        if (!keys[i].changed)
            continue;
        k = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", keys[i].name);
        if (k < 0 || (size_t) k >= size - n)
            break;
        n += (size_t) k;
    }
}

/* Log, per policy, what a reload does to its decisions. */
static void log_policy_changes(const struct posture_policy_set *before,
                               const struct posture_policy_set *after)
{
    for (size_t i = 0; before && i < before->n_policies; i++) {
        const struct posture_policy *o = before->policies[i];
        const struct posture_policy *n = after ? posture_policy_set_find(after, o->id) : NULL;

        if (!n)
            log_notice("SIGHUP: policy %s is gone: gateways asking for it get 503", o->id);
        else if (memcmp(n->digest, o->digest, sizeof(o->digest)) != 0)
            log_notice("SIGHUP: policy %s changed (version %s -> %s): its decisions wait for "
                       "each device's next report (403 not-appraised until then)",
                       o->id, o->version, n->version);
    }
    for (size_t i = 0; after && i < after->n_policies; i++)
        if (!before || !posture_policy_set_find(before, after->policies[i]->id))
            log_notice("SIGHUP: policy %s@%s is new", after->policies[i]->id,
                       after->policies[i]->version);
}

/* The [enroll] rate limits of a configuration, as the api takes them. */
static void enroll_limits_of(const struct posture_verifier_config *cfg,
                             struct posture_api_enroll_limits *ret)
{
    *ret = (struct posture_api_enroll_limits){
        .per_ip_per_min = cfg->enroll_rate_per_ip,
        .per_ip_burst = cfg->enroll_burst_per_ip,
        .global_per_min = cfg->enroll_rate,
        .global_burst = cfg->enroll_burst,
        .failures_per_ip_per_hour = cfg->enroll_failures_per_ip,
        .failures_per_ip_burst = cfg->enroll_failure_burst_per_ip,
        .clients_max = cfg->enroll_clients_max,
    };
}

static bool enroll_limits_differ(const struct posture_verifier_config *before,
                                 const struct posture_verifier_config *after)
{
    struct posture_api_enroll_limits a, b;

    enroll_limits_of(before, &a);
    enroll_limits_of(after, &b);
    return memcmp(&a, &b, sizeof(a)) != 0; /* seven uint32_t: no padding */
}

/* Take the values a reload applies from after into s->cfg (after gets the running ones, to be
 * freed). */
static void cfg_take_reloadable(struct posture_verifier_config *cfg,
                                struct posture_verifier_config *after)
{
#define SWAP_FIELD(f)                   \
    do {                                \
        __typeof__(cfg->f) t_ = cfg->f; \
        cfg->f = after->f;              \
        after->f = t_;                  \
    } while (0)
    SWAP_FIELD(policy_dir);
    SWAP_FIELD(policy_default);
    SWAP_FIELD(trusted_gateways);
    SWAP_FIELD(ek_roots);
    SWAP_FIELD(log_level);
    SWAP_FIELD(shutdown_timeout_usec);
    SWAP_FIELD(authz_bearer);
    SWAP_FIELD(enroll_rate_per_ip);
    SWAP_FIELD(enroll_burst_per_ip);
    SWAP_FIELD(enroll_rate);
    SWAP_FIELD(enroll_burst);
    SWAP_FIELD(enroll_failures_per_ip);
    SWAP_FIELD(enroll_failure_burst_per_ip);
    SWAP_FIELD(enroll_clients_max);
#undef SWAP_FIELD
}

/*
 * SIGHUP. Everything is read and checked before anything changes: the configuration (+ drop-
 * ins), the policy files, the EK roots. Any error: one log line naming the file and the problem,
 * and the running configuration stays. Then, at once for every request: the policies and the
 * default (decisions under a changed or removed policy are dropped: 403 not-appraised until the
 * device reports again), the EK roots, the trusted gateways, the log level, shutdown_timeout.
 * The keys that need a restart are named in one log line and keep their running values.
 */
static int reload(struct serve *s)
{
    const char *path = s->config_path ? s->config_path : POSTURE_VERIFIER_CONFIG_PATH;
    struct posture_verifier_config nc = { .state_dir = NULL };
    struct posture_policy_set *set = NULL;
    struct posture_ekcert_roots *roots = NULL;
    char restart[512];
    int level = -1, dropped, r;

    log_info("SIGHUP: reloading %s, its drop-ins and the policies", path);
    r = config_load(s->config_path, &nc); /* the loader logs file:line and the problem */
    if (r < 0) {
        log_error("SIGHUP: %s has errors (see above): nothing reloaded, the running "
                  "configuration stays",
                  path);
        goto out;
    }
    level = nc.log_level ? posture_log_level_from_string(nc.log_level) : s->log_level_started;
    r = policies_load(&nc, false, "SIGHUP: ", &set);
    if (r < 0) {
        log_error("SIGHUP: nothing reloaded, the running configuration and policies stay");
        goto out;
    }
    r = posture_ekcert_roots_load(nc.ek_roots, NULL, &roots);
    if (r == -ENOENT) {
        log_warning("SIGHUP: [enroll] ek_roots %s is missing: TPM enrolment is refused "
                    "(enroll-ek-roots-missing), software enrolment works",
                    nc.ek_roots);
        roots = NULL;
    } else if (r < 0) {
        log_error_errno(r,
                        "SIGHUP: [enroll] ek_roots %s: %m; nothing reloaded, the running "
                        "configuration stays",
                        nc.ek_roots);
        goto out;
    }

    /* checked: now swap; only these two steps can fail (memory), and they come first */
    if (enroll_limits_differ(&s->cfg, &nc)) {
        struct posture_api_enroll_limits limits;
        enroll_limits_of(&nc, &limits);
        r = posture_api_set_enroll_limits(s->api, &limits);
        if (r < 0) {
            log_error_errno(r, "SIGHUP: [enroll] rate limits: %m; nothing reloaded");
            goto out;
        }
        log_info("SIGHUP: [enroll] rate limits replaced (the buckets start full)");
    }
    r = posture_http_server_set_trusted_gateways(s->http, nc.trusted_gateways);
    if (r < 0) {
        log_error_errno(r, "SIGHUP: [listen] trusted_gateways: %m; only the [enroll] rate limits "
                           "were reloaded");
        goto out;
    }
    log_policy_changes(s->policies, set);
    dropped = posture_api_reload(s->api, set, nc.policy_default, roots);
    posture_api_set_authz_bearer(s->api, nc.authz_bearer);
    if (dropped < 0) { /* checked above: cannot happen */
        r = dropped;
        log_error_errno(r, "SIGHUP: the API refused the policies: %m; policies not reloaded");
        goto out;
    }
    /* no request uses the old ones any more */
    posture_policy_set_free(s->policies);
    s->policies = POSTURE_TAKE_PTR(set);
    posture_ekcert_roots_free(s->ek_roots);
    s->ek_roots = POSTURE_TAKE_PTR(roots);
    if (level >= 0)
        posture_log_set_max_level(level);

    restart_keys(&s->cfg, &nc, restart, sizeof(restart));
    if (restart[0])
        log_warning("SIGHUP: %s changed: applied at the next restart only; running with the "
                    "old values",
                    restart);
    cfg_take_reloadable(&s->cfg, &nc);
    log_info("SIGHUP: reloaded: %zu polic%s (default %s), %zu trusted gateway rule(s), log "
             "level %s; %d decision(s) under changed or removed policies dropped",
             s->policies ? s->policies->n_policies : 0,
             s->policies && s->policies->n_policies == 1 ? "y" : "ies", s->cfg.policy_default,
             posture_strv_length(s->cfg.trusted_gateways),
             s->cfg.log_level ? s->cfg.log_level : "as started", dropped);
    r = 0;
out:
    posture_policy_set_free(set);
    posture_ekcert_roots_free(roots);
    posture_verifier_config_done(&nc);
    posture_metrics_counter_inc(s->m_reloads, r < 0 ? "failed" : "ok");
    return r;
}

static int serve_metrics_setup(struct serve *s)
{
    int r = posture_metrics_counter_new(s->metrics, "posture_config_reloads_total",
                                        "SIGHUP reloads by result (ok, failed: the running "
                                        "configuration stayed).",
                                        "result", &s->m_reloads);
    if (r >= 0)
        r = posture_metrics_counter_new(s->metrics, "posture_revocations_applied_total",
                                        "Devices revoked in the decision view while serving "
                                        "(revocations made by another process, seen by polling).",
                                        NULL, &s->m_revocations);
    return r;
}

static int run(struct serve *s, const sigset_t *mask)
{
    struct posture_http_options opts = { 0 };
    posture_autofree char *cert = NULL, *key = NULL, *client_ca = NULL;
    posture_autoclose int root_fd = -1;
    int r;

    raise_fd_limit();
    r = posture_root_open(NULL, &root_fd);
    if (r < 0)
        return log_error_errno(r, "Failed to open /: %m");

    r = posture_vkeys_open(s->cfg.state_dir, s->cfg.trust_domain, true, &s->vkeys);
    if (r < 0)
        return log_error_errno(r, "%s: cannot open or create the verifier keys: %m",
                               s->cfg.state_dir);
    r = posture_vkeys_jwks(s->vkeys, &s->jwks);
    if (r < 0)
        return log_error_errno(r, "Failed to build the JWKS: %m");

    struct posture_store_options so = { .pool_size = 0 };
    r = posture_store_open(s->cfg.store, &so, &s->store);
    if (r < 0)
        return log_error_errno(r, "store %s: %m (see [verifier] store)", s->cfg.store);

    r = posture_metrics_new(&s->metrics);
    if (r >= 0)
        r = serve_metrics_setup(s);
    if (r < 0)
        return log_error_errno(r, "Failed to set up metrics: %m");

    if (s->cfg.listen_agents[0]) {
        r = tls_material_ensure(&s->cfg);
        if (r < 0)
            return r;
        r = read_pem(root_fd, "[tls] cert", s->cfg.tls_cert, &cert);
        if (r < 0)
            return r;
        r = read_pem(root_fd, "[tls] key", s->cfg.tls_key, &key);
        if (r < 0)
            return r;
    }
    r = read_pem(root_fd, "[tls] client_ca", s->cfg.tls_client_ca, &client_ca);
    if (r < 0)
        return r;

    opts = (struct posture_http_options){
        .agents = s->cfg.listen_agents,
        .gateways = s->cfg.listen_gateways,
        .tls_cert_pem = cert,
        .tls_key_pem = key,
        .client_ca_pem = client_ca,
        .trusted_gateways = s->cfg.trusted_gateways,
        .threads = s->cfg.threads,
        .max_connections = s->cfg.max_connections,
        .max_connections_per_ip = s->cfg.max_connections_per_ip,
        .request_timeout_usec = s->cfg.request_timeout_usec,
        .idle_timeout_usec = s->cfg.idle_timeout_usec,
        .body_max = (size_t) s->cfg.body_max,
        .metrics = s->metrics,
        .on_forged = forged_header,
        .userdata = s,
    };
    r = posture_http_server_new(&opts, &s->http);
    if (key)
        OPENSSL_cleanse(key, strlen(key));
    if (r < 0)
        return log_error_errno(r,
                               "Failed to set up the HTTP server: %m (check [listen] and [tls])");
    r = serve_builtin_routes(s);
    if (r < 0)
        return r;
    r = serve_api_routes(s);
    if (r < 0)
        return r;
    r = posture_http_server_start(s->http);
    if (r == -EBADMSG)
        return log_error_errno(r, "[tls] cert %s / key %s: the TLS library refused them: %m",
                               s->cfg.tls_cert, s->cfg.tls_key);
    if (r < 0)
        return log_error_errno(r, "Failed to listen on %s / %s: %m", s->cfg.listen_agents,
                               s->cfg.listen_gateways);
    log_listener(s, POSTURE_HTTP_LISTENER_AGENTS, "agents (TLS)");
    log_listener(s, POSTURE_HTTP_LISTENER_GATEWAYS, "gateways");
    notify("READY=1");

    uint64_t next_purge =
        posture_store_now(s->store) + (uint64_t) PURGE_EVERY_SEC * POSTURE_STORE_USEC_PER_SEC;
    for (;;) {
        struct timespec ts = { .tv_sec = 0, .tv_nsec = (long) REVOKE_POLL_MSEC * 1000000L };
        siginfo_t si;
        int sig = sigtimedwait(mask, &si, &ts);

        if (sig < 0) {
            if (errno != EAGAIN && errno != EINTR)
                log_debug("sigtimedwait: %m, ignoring");
            revocations_poll(s);
            if (posture_store_now(s->store) >= next_purge) {
                next_purge = posture_store_now(s->store) +
                             (uint64_t) PURGE_EVERY_SEC * POSTURE_STORE_USEC_PER_SEC;
                r = posture_store_purge_expired(s->store);
                if (r < 0)
                    log_debug("store purge: %s, ignoring", posture_errno_name(r));
            }
            continue;
        }
        if (sig == SIGHUP) {
            notify("RELOADING=1");
            (void) reload(s);
            notify("READY=1");
            continue;
        }
        log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    notify("STOPPING=1");
    r = posture_http_server_stop(s->http, s->cfg.shutdown_timeout_usec);
    if (r > 0)
        log_warning("%d request(s) still under way after [listen] shutdown_timeout, cut", r);
    return 0;
}

int posture_verifier_serve(int argc, char **argv)
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "config", required_argument, NULL, OPT_CONFIG },
        { "test-config", no_argument, NULL, OPT_TEST_CONFIG },
        { "dump-config", no_argument, NULL, OPT_DUMP_CONFIG },
        {},
    };
    struct serve s = { .store = NULL };
    const char *config = NULL;
    bool test = false, dump = false;
    sigset_t mask;
    int c, r;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        switch (c) {
        case 'h':
            help(stdout);
            return POSTURE_VERIFIER_EXIT_OK;
        case OPT_CONFIG:
            if (optarg[0] == '\0') {
                log_error("--config needs a file");
                return POSTURE_VERIFIER_EXIT_USAGE;
            }
            config = optarg;
            break;
        case OPT_TEST_CONFIG:
            test = true;
            break;
        case OPT_DUMP_CONFIG:
            dump = true;
            break;
        default:
            return posture_verifier_option_error(command, c, argv);
        }
    }
    if (optind < argc) {
        log_error("%s: unexpected argument '%s' (see '" POSTURE_VERIFIER_PROGRAM " %s --help')",
                  command, argv[optind], command);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }

    r = config_load(config, &s.cfg);
    if (r < 0)
        return POSTURE_VERIFIER_EXIT_USAGE;
    s.config_path = config;
    s.log_level_started = posture_log_get_max_level();
    if (s.cfg.log_level && !dump && !test)
        posture_log_set_max_level(posture_log_level_from_string(s.cfg.log_level));
    if (dump) {
        r = posture_verifier_config_dump(&s.cfg, stdout);
        posture_verifier_config_done(&s.cfg);
        return r < 0 ? POSTURE_VERIFIER_EXIT_USAGE : POSTURE_VERIFIER_EXIT_OK;
    }
    if (test) {
        posture_verifier_config_done(&s.cfg);
        return POSTURE_VERIFIER_EXIT_OK;
    }

    /* Signals are taken synchronously by this thread: block them before any thread starts, so
     * that every thread inherits the mask. */
    (void) sigemptyset(&mask);
    (void) sigaddset(&mask, SIGTERM);
    (void) sigaddset(&mask, SIGINT);
    (void) sigaddset(&mask, SIGHUP);
    (void) pthread_sigmask(SIG_BLOCK, &mask, NULL);
    (void) signal(SIGPIPE, SIG_IGN);
    notify_setup();

    r = run(&s, &mask);
    serve_done(&s);
    return r < 0 ? POSTURE_VERIFIER_EXIT_REJECTED : POSTURE_VERIFIER_EXIT_OK;
}
