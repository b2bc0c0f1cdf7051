/* SPDX-License-Identifier: Apache-2.0 */
/* The verifier's typed configuration: defaults (DESIGN.md §5) and the table of config rows. */
#include "verifier_config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/config.h"
#include "posture/log.h"
#include "posture/strv.h"

#include "dpop.h"
#include "http.h"

#define USEC_PER_SEC UINT64_C(1000000)

#define DEFAULT_STATE_DIR    "/var/lib/posture-verifier"
#define DEFAULT_TRUST_DOMAIN "posture.local"
#define DEFAULT_AGENTS       "0.0.0.0:8443"
#define DEFAULT_GATEWAYS     "127.0.0.1:8081"
#define DEFAULT_TRUSTED      "127.0.0.1/32 ::1/128"
/* [tls] cert and key follow state_dir: serve makes a self-signed pair there on first start, in
 * the one directory posture-verifier.service may write (/etc is read-only to it). */
#define DEFAULT_TLS_CERT_NAME    "tls.crt"
#define DEFAULT_TLS_KEY_NAME     "tls.key"
#define DEFAULT_EK_ROOTS         "/etc/posture/ek-roots"
#define DEFAULT_POLICY_DIR       "/etc/posture/policies"
#define DEFAULT_POLICY           "baseline"
#define DEFAULT_MAX_CONNECTIONS  1024u
#define DEFAULT_REQUEST_TIMEOUT  (10 * USEC_PER_SEC)
#define DEFAULT_IDLE_TIMEOUT     (30 * USEC_PER_SEC)
#define DEFAULT_SHUTDOWN_TIMEOUT (5 * USEC_PER_SEC)
#define DEFAULT_BODY_MAX         ((uint64_t) 64 * 1024)
#define DEFAULT_POSTURE_BODY_MAX ((uint64_t) 2 * 1024 * 1024)

/* [enroll] rate limits (ratelimit.h) */
#define DEFAULT_ENROLL_RATE_PER_IP     30u /* per minute */
#define DEFAULT_ENROLL_BURST_PER_IP    20u
#define DEFAULT_ENROLL_RATE            600u /* per minute */
#define DEFAULT_ENROLL_BURST           100u
#define DEFAULT_ENROLL_FAILURES_PER_IP 20u /* per hour */
#define DEFAULT_ENROLL_FAILURE_BURST   10u
#define DEFAULT_ENROLL_CLIENTS_MAX     16384u
#define ENROLL_RATE_MAX                1000000u
#define ENROLL_CLIENTS_MAX             (1u << 20)

#define THREADS_MAX         256u
#define CONNECTIONS_MAX     100000u
#define BODY_MAX_LIMIT      (64ULL * 1024 * 1024)
#define TIMEOUT_MAX         (3600 * USEC_PER_SEC)
#define TRUST_DOMAIN_MAX    255
#define POLICY_NAME_MAX     128
#define STORE_URL_MAX       4096
#define TRUSTED_GATEWAY_MAX 256

static int parse_absolute_path(const char *value, void *data, const char **ret_why)
{
    if (value[0] != '/') {
        *ret_why = "expected an absolute path";
        return -EINVAL;
    }
    return posture_config_parse_string_item(value, data, ret_why);
}

/* A SPIFFE trust domain (lower-case letters, digits, '.', '-', '_'), as used in
 * spiffe://<trust-domain>/device/<kid>. */
static int parse_trust_domain(const char *value, void *data, const char **ret_why)
{
    size_t n = strlen(value);

    if (n == 0 || n > TRUST_DOMAIN_MAX || value[0] == '.' || value[n - 1] == '.' ||
        strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != n) {
        *ret_why = "expected a lower-case DNS-like name such as corp.example";
        return -EINVAL;
    }
    return posture_config_parse_string_item(value, data, ret_why);
}

static int parse_store_url(const char *value, void *data, const char **ret_why)
{
    size_t n = strlen(value);

    if (n == 0) /* the default: sqlite:<state_dir>/store.db */
        return posture_config_parse_string_item(value, data, ret_why);
    if (n > STORE_URL_MAX || strpbrk(value, " \t\r\n\f\v")) {
        *ret_why = "expected a store URL such as sqlite:/var/lib/posture-verifier/store.db";
        return -EINVAL;
    }
    if (value[0] != '/' && strchr(value, ':') == NULL) {
        *ret_why = "expected an absolute path or a URL such as sqlite:/path/store.db";
        return -EINVAL;
    }
    return posture_config_parse_string_item(value, data, ret_why);
}

/* A syslog level name or number (posture_log_level_from_string), or empty for "as started". */
static int parse_log_level(const char *value, void *data, const char **ret_why)
{
    if (value[0] != '\0' && posture_log_level_from_string(value) < 0) {
        *ret_why = "expected a level such as err, warning, notice, info or debug";
        return -EINVAL;
    }
    return posture_config_parse_string_item(value, data, ret_why);
}

/* A listen address, or an empty value for "off". */
static int parse_listen(const char *value, void *data, const char **ret_why)
{
    struct posture_http_address a;

    if (value[0] != '\0' && posture_http_address_parse(value, &a) < 0) {
        *ret_why = "expected IPv4:port, [IPv6]:port, unix:/path, or empty to disable";
        return -EINVAL;
    }
    return posture_config_parse_string_item(value, data, ret_why);
}

static int parse_trusted(const char *value, void *data, const char **ret_why)
{
    posture_auto_strv char **l = NULL;
    struct posture_http_cidr c;
    int r;

    r = posture_strv_split(value, " \t,", &l);
    if (r < 0)
        return r;
    if (r > (int) TRUSTED_GATEWAY_MAX) {
        *ret_why = "too many entries (at most 256)";
        return -EINVAL;
    }
    POSTURE_FOREACH_STRV (s, l) {
        if (posture_http_cidr_parse(s, &c) < 0) {
            *ret_why = "expected CIDRs such as 127.0.0.1/32 or ::1/128 (host bits clear), "
                       "or 'unix'";
            return -EINVAL;
        }
    }
    char ***p = data;
    (void) posture_strv_free(*p);
    *p = POSTURE_TAKE_PTR(l);
    return 0;
}

static int parse_threads(const char *value, void *data, const char **ret_why)
{
    uint32_t u = 0;
    int r = posture_config_parse_u32_item(value, &u, ret_why);
    if (r < 0)
        return r;
    if (u > THREADS_MAX) {
        *ret_why = "at most 256 threads (0: one per CPU)";
        return -EINVAL;
    }
    *(uint32_t *) data = u;
    return 0;
}

static int parse_connections(const char *value, void *data, const char **ret_why)
{
    uint32_t u = 0;
    int r = posture_config_parse_u32_item(value, &u, ret_why);
    if (r < 0)
        return r;
    if (u == 0 || u > CONNECTIONS_MAX) {
        *ret_why = "expected 1 to 100000";
        return -EINVAL;
    }
    *(uint32_t *) data = u;
    return 0;
}

static int parse_per_ip(const char *value, void *data, const char **ret_why)
{
    uint32_t u = 0;
    int r = posture_config_parse_u32_item(value, &u, ret_why);
    if (r < 0)
        return r;
    if (u > CONNECTIONS_MAX) {
        *ret_why = "expected 0 (no limit) to 100000";
        return -EINVAL;
    }
    *(uint32_t *) data = u;
    return 0;
}

static int parse_timeout(const char *value, void *data, const char **ret_why)
{
    uint64_t u = 0;
    int r = posture_config_parse_duration_item(value, &u, ret_why);
    if (r < 0)
        return r;
    if (u < USEC_PER_SEC || u > TIMEOUT_MAX) {
        *ret_why = "expected a duration from 1s to 1h";
        return -EINVAL;
    }
    *(uint64_t *) data = u;
    return 0;
}

static int parse_grace(const char *value, void *data, const char **ret_why)
{
    uint64_t u = 0;
    int r = posture_config_parse_duration_item(value, &u, ret_why);
    if (r < 0)
        return r;
    if (u > TIMEOUT_MAX) {
        *ret_why = "expected a duration up to 1h";
        return -EINVAL;
    }
    *(uint64_t *) data = u;
    return 0;
}

/* A rate, burst or count from min to max. */
static int
parse_u32_upto(const char *value, void *data, uint32_t min, uint32_t max, const char **ret_why)
{
    uint32_t u = 0;
    int r = posture_config_parse_u32_item(value, &u, ret_why);
    if (r < 0)
        return r;
    if (u < min || u > max) {
        *ret_why = min == 0 ? "expected 0 (off) to 1000000" : "expected a number from 1 to 1000000";
        return -EINVAL;
    }
    *(uint32_t *) data = u;
    return 0;
}

static int parse_enroll_rate(const char *value, void *data, const char **ret_why)
{
    return parse_u32_upto(value, data, 0, ENROLL_RATE_MAX, ret_why);
}

static int parse_enroll_burst(const char *value, void *data, const char **ret_why)
{
    return parse_u32_upto(value, data, 1, ENROLL_RATE_MAX, ret_why);
}

static int parse_enroll_clients(const char *value, void *data, const char **ret_why)
{
    int r = parse_u32_upto(value, data, 1, ENROLL_CLIENTS_MAX, ret_why);
    if (r < 0)
        *ret_why = "expected a number from 1 to 1048576";
    return r;
}

static int parse_body_max(const char *value, void *data, const char **ret_why)
{
    uint64_t u = 0;
    int r = posture_config_parse_size_item(value, &u, ret_why);
    if (r < 0)
        return r;
    if (u < 1024 || u > BODY_MAX_LIMIT) {
        *ret_why = "expected a size from 1K to 64M";
        return -EINVAL;
    }
    *(uint64_t *) data = u;
    return 0;
}

static int parse_replay_cache(const char *value, void *data, const char **ret_why)
{
    uint32_t u = 0;
    int r = posture_config_parse_u32_item(value, &u, ret_why);
    if (r < 0)
        return r;
    if (u < POSTURE_DPOP_REPLAY_MIN || u > POSTURE_DPOP_REPLAY_MAX) {
        *ret_why = "expected a number of entries from 1024 to 16777216";
        return -EINVAL;
    }
    *(uint32_t *) data = u;
    return 0;
}

static int parse_policy_name(const char *value, void *data, const char **ret_why)
{
    size_t n = strlen(value);

    if (n == 0 || n > POLICY_NAME_MAX || value[0] == '.' ||
        strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n) {
        *ret_why = "expected a policy name of letters, digits, '.', '_' and '-'";
        return -EINVAL;
    }
    return posture_config_parse_string_item(value, data, ret_why);
}

static int parse_optional_path(const char *value, void *data, const char **ret_why)
{
    if (value[0] == '\0')
        return posture_config_parse_string_item(value, data, ret_why);
    return parse_absolute_path(value, data, ret_why);
}

#define ROW(section, key, parser, field)                                      \
    {                                                                         \
        section, key, parser, offsetof(struct posture_verifier_config, field) \
    }

static const struct posture_config_item verifier_items[] = {
    ROW("verifier", "state_dir", parse_absolute_path, state_dir),
    ROW("verifier", "trust_domain", parse_trust_domain, trust_domain),
    ROW("verifier", "store", parse_store_url, store),
    ROW("verifier", "log_level", parse_log_level, log_level),
    ROW("listen", "agents", parse_listen, listen_agents),
    ROW("listen", "gateways", parse_listen, listen_gateways),
    ROW("listen", "trusted_gateways", parse_trusted, trusted_gateways),
    ROW("listen", "threads", parse_threads, threads),
    ROW("listen", "max_connections", parse_connections, max_connections),
    ROW("listen", "max_connections_per_ip", parse_per_ip, max_connections_per_ip),
    ROW("listen", "request_timeout", parse_timeout, request_timeout_usec),
    ROW("listen", "idle_timeout", parse_timeout, idle_timeout_usec),
    ROW("listen", "shutdown_timeout", parse_grace, shutdown_timeout_usec),
    ROW("listen", "body_max", parse_body_max, body_max),
    ROW("listen", "posture_body_max", parse_body_max, posture_body_max),
    ROW("tls", "cert", parse_optional_path, tls_cert),
    ROW("tls", "key", parse_optional_path, tls_key),
    ROW("tls", "client_ca", parse_optional_path, tls_client_ca),
    ROW("enroll", "ek_roots", parse_absolute_path, ek_roots),
    ROW("enroll", "rate_per_ip", parse_enroll_rate, enroll_rate_per_ip),
    ROW("enroll", "burst_per_ip", parse_enroll_burst, enroll_burst_per_ip),
    ROW("enroll", "rate", parse_enroll_rate, enroll_rate),
    ROW("enroll", "burst", parse_enroll_burst, enroll_burst),
    ROW("enroll", "failures_per_ip", parse_enroll_rate, enroll_failures_per_ip),
    ROW("enroll", "failure_burst_per_ip", parse_enroll_burst, enroll_failure_burst_per_ip),
    ROW("enroll", "clients_max", parse_enroll_clients, enroll_clients_max),
    ROW("policy", "dir", parse_absolute_path, policy_dir),
    ROW("policy", "default", parse_policy_name, policy_default),
    ROW("authz", "bearer", posture_config_parse_bool_item, authz_bearer),
    ROW("authz", "dpop_replay_cache", parse_replay_cache, authz_dpop_replay_cache),
    { NULL, NULL, NULL, 0 },
};

void posture_verifier_config_done(struct posture_verifier_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->state_dir);
    free(cfg->trust_domain);
    free(cfg->store);
    free(cfg->listen_agents);
    free(cfg->listen_gateways);
    (void) posture_strv_free(cfg->trusted_gateways);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->tls_client_ca);
    free(cfg->ek_roots);
    free(cfg->policy_dir);
    free(cfg->policy_default);
    free(cfg->log_level);
    *cfg = (struct posture_verifier_config){ 0 };
}

int posture_verifier_config_init(struct posture_verifier_config *cfg)
{
    struct posture_verifier_config c = {
        .threads = 0,
        .max_connections = DEFAULT_MAX_CONNECTIONS,
        .request_timeout_usec = DEFAULT_REQUEST_TIMEOUT,
        .idle_timeout_usec = DEFAULT_IDLE_TIMEOUT,
        .shutdown_timeout_usec = DEFAULT_SHUTDOWN_TIMEOUT,
        .body_max = DEFAULT_BODY_MAX,
        .posture_body_max = DEFAULT_POSTURE_BODY_MAX,
        .authz_bearer = false,
        .authz_dpop_replay_cache = POSTURE_DPOP_REPLAY_DEFAULT,
        .enroll_rate_per_ip = DEFAULT_ENROLL_RATE_PER_IP,
        .enroll_burst_per_ip = DEFAULT_ENROLL_BURST_PER_IP,
        .enroll_rate = DEFAULT_ENROLL_RATE,
        .enroll_burst = DEFAULT_ENROLL_BURST,
        .enroll_failures_per_ip = DEFAULT_ENROLL_FAILURES_PER_IP,
        .enroll_failure_burst_per_ip = DEFAULT_ENROLL_FAILURE_BURST,
        .enroll_clients_max = DEFAULT_ENROLL_CLIENTS_MAX,
    };
    int r;

    if (!cfg)
        return -EINVAL;
    c.state_dir = strdup(DEFAULT_STATE_DIR);
    c.trust_domain = strdup(DEFAULT_TRUST_DOMAIN);
    c.listen_agents = strdup(DEFAULT_AGENTS);
    c.listen_gateways = strdup(DEFAULT_GATEWAYS);
    c.ek_roots = strdup(DEFAULT_EK_ROOTS);
    c.policy_dir = strdup(DEFAULT_POLICY_DIR);
    c.policy_default = strdup(DEFAULT_POLICY);
    r = posture_strv_split(DEFAULT_TRUSTED, " ", &c.trusted_gateways);
    if (r < 0)
        c.trusted_gateways = NULL;
    if (r < 0 || !c.state_dir || !c.trust_domain || !c.listen_agents || !c.listen_gateways ||
        !c.ek_roots || !c.policy_dir || !c.policy_default) {
        posture_verifier_config_done(&c);
        return -ENOMEM;
    }
    *cfg = c;
    return 0;
}

static int path_join(const char *dir, const char *name, char **ret)
{
    size_t n = strlen(dir);
    char *s = NULL;

    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (asprintf(&s, "%.*s/%s", (int) n, dir, name) < 0)
        return -ENOMEM;
    *ret = s;
    return 0;
}

int posture_verifier_config_apply(struct posture_verifier_config *cfg,
                                  const struct posture_config *c)
{
    int r;

    if (!cfg || !c)
        return -EINVAL;
    r = posture_config_apply(c, verifier_items, NULL, cfg);
    if (r < 0)
        return r;

    /* An empty value switches a listener off (the string parser stores it as NULL). */
    char **listeners[] = { &cfg->listen_agents, &cfg->listen_gateways };
    for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++)
        if (!*listeners[i]) {
            *listeners[i] = strdup("");
            if (!*listeners[i])
                return -ENOMEM;
        }

    /* Defaults that follow state_dir unless set. */
    if (!cfg->store || cfg->store[0] == '\0') {
        char *p = NULL, *url = NULL;

        r = path_join(cfg->state_dir, "store.db", &p);
        if (r < 0)
            return r;
        if (asprintf(&url, "sqlite:%s", p) < 0) {
            free(p);
            return -ENOMEM;
        }
        free(p);
        free(cfg->store);
        cfg->store = url;
    }
    struct {
        char **value;
        const char *name;
    } in_state_dir[] = {
        { &cfg->tls_client_ca, "device-ca.pem" },
        { &cfg->tls_cert, DEFAULT_TLS_CERT_NAME },
        { &cfg->tls_key, DEFAULT_TLS_KEY_NAME },
    };
    for (size_t i = 0; i < sizeof(in_state_dir) / sizeof(in_state_dir[0]); i++) {
        char *p = NULL;

        if (*in_state_dir[i].value && (*in_state_dir[i].value)[0] != '\0')
            continue;
        r = path_join(cfg->state_dir, in_state_dir[i].name, &p);
        if (r < 0)
            return r;
        free(*in_state_dir[i].value);
        *in_state_dir[i].value = p;
    }
    return 0;
}

/* Durations in a form the parser reads back ("10s", "1500ms"). */
static const char *duration(char *buf, size_t size, uint64_t usec)
{
    if (usec % USEC_PER_SEC == 0)
        (void) snprintf(buf, size, "%" PRIu64 "s", usec / USEC_PER_SEC);
    else
        (void) snprintf(buf, size, "%" PRIu64 "ms", usec / 1000);
    return buf;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

int posture_verifier_config_dump(const struct posture_verifier_config *cfg, FILE *f)
{
    char b1[64], b2[64], b3[64];

    if (!cfg || !f)
        return -EINVAL;
    (void) fprintf(f,
                   "[verifier]\n"
                   "state_dir = %s\n"
                   "trust_domain = %s\n"
                   "store = %s\n"
                   "log_level = %s\n"
                   "\n[listen]\n"
                   "agents = %s\n"
                   "gateways = %s\n"
                   "trusted_gateways =",
                   or_empty(cfg->state_dir), or_empty(cfg->trust_domain), or_empty(cfg->store),
                   or_empty(cfg->log_level), or_empty(cfg->listen_agents),
                   or_empty(cfg->listen_gateways));
    POSTURE_FOREACH_STRV (s, cfg->trusted_gateways)
        (void) fprintf(f, " %s", s);
    (void) fprintf(f,
                   "\n"
                   "threads = %" PRIu32 "\n"
                   "max_connections = %" PRIu32 "\n"
                   "max_connections_per_ip = %" PRIu32 "\n"
                   "request_timeout = %s\n"
                   "idle_timeout = %s\n"
                   "shutdown_timeout = %s\n"
                   "body_max = %" PRIu64 "\n"
                   "posture_body_max = %" PRIu64 "\n"
                   "\n[tls]\n"
                   "cert = %s\n"
                   "key = %s\n"
                   "client_ca = %s\n"
                   "\n[enroll]\n"
                   "ek_roots = %s\n"
                   "rate_per_ip = %" PRIu32 "\n"
                   "burst_per_ip = %" PRIu32 "\n"
                   "rate = %" PRIu32 "\n"
                   "burst = %" PRIu32 "\n"
                   "failures_per_ip = %" PRIu32 "\n"
                   "failure_burst_per_ip = %" PRIu32 "\n"
                   "clients_max = %" PRIu32 "\n"
                   "\n[policy]\n"
                   "dir = %s\n"
                   "default = %s\n",
                   cfg->threads, cfg->max_connections, cfg->max_connections_per_ip,
                   duration(b1, sizeof(b1), cfg->request_timeout_usec),
                   duration(b2, sizeof(b2), cfg->idle_timeout_usec),
                   duration(b3, sizeof(b3), cfg->shutdown_timeout_usec), cfg->body_max,
                   cfg->posture_body_max, or_empty(cfg->tls_cert), or_empty(cfg->tls_key),
                   or_empty(cfg->tls_client_ca), or_empty(cfg->ek_roots), cfg->enroll_rate_per_ip,
                   cfg->enroll_burst_per_ip, cfg->enroll_rate, cfg->enroll_burst,
                   cfg->enroll_failures_per_ip, cfg->enroll_failure_burst_per_ip,
                   cfg->enroll_clients_max, or_empty(cfg->policy_dir),
                   or_empty(cfg->policy_default));
    (void) fprintf(f, "\n[authz]\nbearer = %s\ndpop_replay_cache = %" PRIu32 "\n",
                   cfg->authz_bearer ? "yes" : "no", cfg->authz_dpop_replay_cache);
    if (fflush(f) != 0 || ferror(f))
        return -EIO;
    return 0;
}
