/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The verifier's typed configuration (DESIGN.md §5): /etc/posture/verifier.conf plus
 * verifier.conf.d/\*.conf, applied through posture_core's table-driven config (config.h) the
 * way agent_config.c does it for the agent. Unknown keys warn; a bad value is an error naming
 * file:line (reported through the posture_config's diag callback).
 *
 *   [verifier] state_dir, trust_domain, store, log_level
 *   [listen]   agents, gateways, trusted_gateways, threads, max_connections,
 *              max_connections_per_ip, request_timeout,
 *              idle_timeout, shutdown_timeout, body_max, posture_body_max
 *   [tls]      cert, key, client_ca
 *   [enroll]   ek_roots, rate_per_ip, burst_per_ip, rate, burst, failures_per_ip,
 *              failure_burst_per_ip, clients_max
 *   [policy]   dir, default
 *   [authz]    bearer, dpop_replay_cache
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "posture/config.h"

#define POSTURE_VERIFIER_CONFIG_PATH "/etc/posture/verifier.conf"

struct posture_verifier_config {
    char *state_dir;    /* absolute path */
    char *trust_domain; /* SPIFFE trust domain: lower-case DNS-like name */
    char *store;        /* store URL; NULL until set or resolved: "sqlite:<state_dir>/store.db" */

    char *listen_agents;             /* "host:port", "[v6]:port", "unix:/path"; "" = off (TLS) */
    char *listen_gateways;           /* same syntax; "" = off (plain HTTP) */
    char **trusted_gateways;         /* CIDRs (IPv4/IPv6) and "unix"; may be empty */
    uint32_t threads;                /* worker threads per listener; 0 = one per online CPU */
    uint32_t max_connections;        /* per listener */
    uint32_t max_connections_per_ip; /* agent listener, per client address; 0 = no limit */
    uint64_t request_timeout_usec;   /* request line received → request complete */
    uint64_t idle_timeout_usec;      /* connection idle (no request started) */
    uint64_t shutdown_timeout_usec;  /* SIGTERM: wait this long for in-flight requests */
    uint64_t body_max;               /* request body limit of most routes */
    uint64_t posture_body_max;       /* request body limit of POST /v1/posture */

    char *tls_cert; /* PEM certificate chain of the agent listener; NULL/"" = <state_dir>/tls.crt */
    char *tls_key;  /* PEM private key; NULL/"" = <state_dir>/tls.key */
    char *tls_client_ca; /* PEM CA(s) of device certificates; NULL/"" = <state_dir>/device-ca.pem */

    char *ek_roots; /* directory of trusted EK CA certificates */
    /* Enrolment rate limits (token buckets; 0 turns a rate off): requests per minute per
     * client address and in all, refused attempts per hour per address, and how many
     * addresses are remembered at once. */
    uint32_t enroll_rate_per_ip;
    uint32_t enroll_burst_per_ip;
    uint32_t enroll_rate;
    uint32_t enroll_burst;
    uint32_t enroll_failures_per_ip;
    uint32_t enroll_failure_burst_per_ip;
    uint32_t enroll_clients_max;

    char *policy_dir;
    char *policy_default;

    bool authz_bearer;                /* /v1/authz accepts Authorization: Bearer <EAR> */
    uint32_t authz_dpop_replay_cache; /* DPoP jti replay cache entries */

    char *log_level; /* [verifier] log_level: a syslog level name or number; NULL: as started */
};

/* Fill cfg with the defaults of DESIGN.md §5. -ENOMEM. */
int posture_verifier_config_init(struct posture_verifier_config *cfg);
/* Free the contents (NULL-safe fields). */
void posture_verifier_config_done(struct posture_verifier_config *cfg);
/* Apply c to cfg, then resolve the defaults that depend on other keys (store, client_ca).
 * -EINVAL on a bad value (reported with file:line through c's diag), -ENOMEM. */
int posture_verifier_config_apply(struct posture_verifier_config *cfg,
                                  const struct posture_config *c);
/* Print the effective configuration (every key, defaults included) as INI. -EIO on a write
 * error. */
int posture_verifier_config_dump(const struct posture_verifier_config *cfg, FILE *f);
