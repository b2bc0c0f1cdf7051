/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier connection of an enrolled device, shared by `posturectl submit` and postured:
 * [server] url, mutual TLS with state_dir/device.crt and the device key, the verifier's CA
 * pinned ([server] ca, else the one `enroll --ca` stored in the state directory).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "posture/log.h"

#include "cli.h"
#include "http_client.h"

#define DEVICE_CERT_NAME "device.crt"
#define VERIFIER_CA_NAME "verifier-ca.pem"

int posture_cli_verifier_connect(const struct posture_cli_config *cfg,
                                 EVP_PKEY *pkey,
                                 struct posture_http_client **ret)
{
    posture_autofree char *cert = NULL, *ca_default = NULL;
    const char *url = cfg->agent.server_url, *ca;
    struct posture_http_client *client = NULL;
    int r;

    if (!url)
        return log_error_errno(-EINVAL, "no verifier: set [server] url in the agent "
                                        "configuration");
    if (asprintf(&cert, "%s/" DEVICE_CERT_NAME, cfg->agent.state_dir) < 0 ||
        asprintf(&ca_default, "%s/" VERIFIER_CA_NAME, cfg->agent.state_dir) < 0)
        return log_error_errno(-ENOMEM, "Out of memory");
    if (access(cert, R_OK) < 0)
        return log_error_errno(-errno,
                               "device certificate %s: %m; this device is not enrolled: run "
                               "'" POSTURE_CLI_PROGRAM " enroll' first",
                               cert);
    /* [server] ca (its default, /etc/posture/verifier-ca.pem, may not exist), else the CA that
     * `enroll --ca` stored. */
    ca = cfg->agent.server_ca ? cfg->agent.server_ca : ca_default;
    if (access(ca, R_OK) < 0 && errno == ENOENT && access(ca_default, R_OK) == 0)
        ca = ca_default;
    if (access(ca, R_OK) < 0)
        return log_error_errno(-errno,
                               "the verifier's CA %s: %m (set [server] ca, or enrol with "
                               "--ca)",
                               ca);

    struct posture_http_client_opts opts = {
        .base_url = url,
        .ca_file = ca,
        .cert_file = cert,
        .key = pkey,
        .total_timeout_usec = cfg->agent.server_timeout_usec,
    };
    r = posture_http_client_new(&opts, &client);
    if (r < 0)
        return log_error_errno(r, "[server] url %s: %s", url,
                               r == -EINVAL ? "not an https:// URL" : "cannot start HTTPS");
    *ret = client;
    return 0;
}
