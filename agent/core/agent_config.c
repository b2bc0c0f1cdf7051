/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's typed configuration: defaults (DESIGN.md §5) and the table of config rows. */
#include "posture/agent_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "posture/config.h"
#include "posture/parse.h"
#include "posture/strv.h"
#include "posture/version.h"

#define USEC_PER_SEC 1000000ULL

#define DEFAULT_STATE_DIR    "/var/lib/posture"
#define DEFAULT_SERVER_CA    "/etc/posture/verifier-ca.pem"
#define DEFAULT_ENROLL_TOKEN "/etc/posture/enroll.token"
#define DEFAULT_TPM_TCTI     "device:/dev/tpmrm0"
/* the kernel's (root-only) and the copy postured.service makes for the posture user */
#define DEFAULT_TPM_LOG                                   \
    "/sys/kernel/security/tpm0/binary_bios_measurements " \
    "/run/posture/binary_bios_measurements"
#define DEFAULT_PLUGIN_DIRS    POSTURE_PLUGIN_DIR
#define DEFAULT_EXEC_DIRS      POSTURE_EXEC_CHECK_DIR " /etc/posture/checks.d"
#define DEFAULT_INTERVAL       (USEC_PER_SEC * 5 * 60)
#define DEFAULT_SPOOL_BYTES    (8ULL * 1024 * 1024)
#define DEFAULT_SPOOL_AGE      (USEC_PER_SEC * 7 * 24 * 3600)
#define DEFAULT_EXEC_TIMEOUT   (USEC_PER_SEC * 10)
#define DEFAULT_TIMEOUT        (USEC_PER_SEC * 10)
#define MIN_INTERVAL           (USEC_PER_SEC * 10)
#define DEFAULT_EARLY_GAP      (USEC_PER_SEC * 30)
#define DEFAULT_SERVER_TIMEOUT (USEC_PER_SEC * 30)
#define MAX_SERVER_TIMEOUT     (USEC_PER_SEC * 600)
#define MAX_EARLY_GAP          (USEC_PER_SEC * 3600)

static const char *const tpm_mode_table[POSTURE_TPM__MAX] = {
    [POSTURE_TPM_AUTO] = "auto",
    [POSTURE_TPM_YES] = "yes",
    [POSTURE_TPM_NO] = "no",
};

const char *posture_tpm_mode_to_string(int mode)
{
    if (mode < 0 || mode >= POSTURE_TPM__MAX)
        return NULL;
    return tpm_mode_table[mode];
}

int posture_tpm_mode_from_string(const char *s)
{
    bool b;

    if (!s)
        return POSTURE_TPM__INVALID;
    if (strcasecmp(s, "auto") == 0)
        return POSTURE_TPM_AUTO;
    if (posture_parse_bool(s, &b) == 0)
        return b ? POSTURE_TPM_YES : POSTURE_TPM_NO;
    return POSTURE_TPM__INVALID;
}

static int parse_tpm_mode(const char *value, void *data, const char **ret_why)
{
    int m = posture_tpm_mode_from_string(value);
    if (m < 0) {
        *ret_why = "expected auto, yes or no";
        return -EINVAL;
    }
    *(int *) data = m;
    return 0;
}

static int parse_absolute_path(const char *value, void *data, const char **ret_why)
{
    if (value[0] != '/') {
        *ret_why = "expected an absolute path";
        return -EINVAL;
    }
    return posture_config_parse_string_item(value, data, ret_why);
}

static int parse_server_url(const char *value, void *data, const char **ret_why)
{
    static const char prefix[] = "https://";

    if (value[0] == '\0') /* unset: not enrolled with a verifier */
        return posture_config_parse_string_item(value, data, ret_why);
    if (strncmp(value, prefix, strlen(prefix)) != 0) {
        *ret_why = "the verifier is reached over TLS only";
        return -EINVAL;
    }
    const char *host = value + strlen(prefix);
    if (host[0] == '\0' || host[0] == '/' || strpbrk(value, " \t\r\f\v")) {
        *ret_why = "expected a URL like https://verifier.example:8443";
        return -EINVAL;
    }
    return posture_config_parse_string_item(value, data, ret_why);
}

/* A duration within [min, max] (max 0: no upper bound); why names the range when it is not. */
static int parse_duration_in(const char *value,
                             void *data,
                             const char **ret_why,
                             uint64_t min,
                             uint64_t max,
                             const char *why)
{
    uint64_t u = 0;
    int r = posture_config_parse_duration_item(value, &u, ret_why);
    if (r < 0)
        return r;
    if (u < min || (max && u > max)) {
        *ret_why = why;
        return -EINVAL;
    }
    *(uint64_t *) data = u;
    return 0;
}

static int parse_interval(const char *value, void *data, const char **ret_why)
{
    return parse_duration_in(value, data, ret_why, MIN_INTERVAL, 0,
                             "the interval must be at least 10s");
}

static int parse_early_gap(const char *value, void *data, const char **ret_why)
{
    return parse_duration_in(value, data, ret_why, USEC_PER_SEC, MAX_EARLY_GAP,
                             "the gap must be between 1s and 1h");
}

static int parse_server_timeout(const char *value, void *data, const char **ret_why)
{
    return parse_duration_in(value, data, ret_why, USEC_PER_SEC, MAX_SERVER_TIMEOUT,
                             "the timeout must be between 1s and 10m");
}

static int parse_timeout(const char *value, void *data, const char **ret_why)
{
    return parse_duration_in(value, data, ret_why, 1, 0, "the timeout must be greater than 0");
}

#define ROW(section, key, parser, field)                                   \
    {                                                                      \
        section, key, parser, offsetof(struct posture_agent_config, field) \
    }

static const struct posture_config_item agent_items[] = {
    ROW("agent", "state_dir", parse_absolute_path, state_dir),
    ROW("server", "url", parse_server_url, server_url),
    ROW("server", "ca", parse_absolute_path, server_ca),
    ROW("server", "timeout", parse_server_timeout, server_timeout_usec),
    ROW("server", "enroll_token", parse_absolute_path, server_enroll_token),
    ROW("tpm", "enabled", parse_tpm_mode, tpm_mode),
    ROW("tpm", "tcti", posture_config_parse_string_item, tpm_tcti),
    ROW("tpm", "event_log", posture_config_parse_string_item, tpm_event_log),
    ROW("schedule", "interval", parse_interval, schedule_interval_usec),
    ROW("schedule", "early_gap", parse_early_gap, schedule_early_gap_usec),
    ROW("spool", "max_bytes", posture_config_parse_size_item, spool_max_bytes),
    ROW("spool", "max_age", posture_config_parse_duration_item, spool_max_age_usec),
    ROW("checks", "plugin_dirs", posture_config_parse_strv_item, plugin_dirs),
    ROW("checks", "exec_dirs", posture_config_parse_strv_item, exec_dirs),
    ROW("checks", "exec_timeout", parse_timeout, exec_timeout_usec),
    ROW("checks", "timeout", parse_timeout, check_timeout_usec),
    { NULL, NULL, NULL, 0 },
};

static const char *const skip_prefixes[] = { "check.", NULL };

void posture_agent_config_done(struct posture_agent_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->state_dir);
    free(cfg->server_url);
    free(cfg->server_ca);
    free(cfg->server_enroll_token);
    free(cfg->tpm_tcti);
    free(cfg->tpm_event_log);
    (void) posture_strv_free(cfg->plugin_dirs);
    (void) posture_strv_free(cfg->exec_dirs);
    *cfg = (struct posture_agent_config){ .tpm_mode = POSTURE_TPM_AUTO };
}

int posture_agent_config_init(struct posture_agent_config *cfg)
{
    struct posture_agent_config c = {
        .server_url = NULL,
        .tpm_mode = POSTURE_TPM_AUTO,
        .schedule_interval_usec = DEFAULT_INTERVAL,
        .schedule_early_gap_usec = DEFAULT_EARLY_GAP,
        .server_timeout_usec = DEFAULT_SERVER_TIMEOUT,
        .spool_max_bytes = DEFAULT_SPOOL_BYTES,
        .spool_max_age_usec = DEFAULT_SPOOL_AGE,
        .exec_timeout_usec = DEFAULT_EXEC_TIMEOUT,
        .check_timeout_usec = DEFAULT_TIMEOUT,
    };

    c.state_dir = strdup(DEFAULT_STATE_DIR);
    c.server_ca = strdup(DEFAULT_SERVER_CA);
    c.server_enroll_token = strdup(DEFAULT_ENROLL_TOKEN);
    c.tpm_tcti = strdup(DEFAULT_TPM_TCTI);
    c.tpm_event_log = strdup(DEFAULT_TPM_LOG);
    int r1 = posture_strv_split(DEFAULT_PLUGIN_DIRS, " ", &c.plugin_dirs);
    int r2 = posture_strv_split(DEFAULT_EXEC_DIRS, " ", &c.exec_dirs);
    if (!c.state_dir || !c.server_ca || !c.server_enroll_token || !c.tpm_tcti || !c.tpm_event_log ||
        r1 < 0 || r2 < 0) {
        if (r1 < 0)
            c.plugin_dirs = NULL;
        if (r2 < 0)
            c.exec_dirs = NULL;
        posture_agent_config_done(&c);
        return -ENOMEM;
    }
    *cfg = c;
    return 0;
}

int posture_agent_config_apply(struct posture_agent_config *cfg, const struct posture_config *c)
{
    if (!cfg || !c)
        return -EINVAL;
    return posture_config_apply(c, agent_items, skip_prefixes, cfg);
}
