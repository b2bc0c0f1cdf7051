/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The agent's typed configuration (DESIGN.md §5), shared by postured and posturectl. */

#include <errno.h>
#include <stdint.h>

#include "posture/config.h"

#define POSTURE_AGENT_CONFIG_PATH "/etc/posture/agent.conf"

enum posture_tpm_mode {
    POSTURE_TPM_AUTO,
    POSTURE_TPM_YES,
    POSTURE_TPM_NO,
    POSTURE_TPM__MAX,
    POSTURE_TPM__INVALID = -EINVAL,
};

struct posture_agent_config {
    char *state_dir;
    char *server_url;
    char *server_ca;
    uint64_t server_timeout_usec; /* a whole request to the verifier */
    char *server_enroll_token;    /* a fleet's one-time token: postured enrols with it */
    int tpm_mode;                 /* enum posture_tpm_mode */
    char *tpm_tcti;
    char *tpm_event_log;
    uint64_t schedule_interval_usec;
    uint64_t schedule_early_gap_usec; /* least time between two event-driven cycles */
    uint64_t spool_max_bytes;
    uint64_t spool_max_age_usec;
    char **plugin_dirs;
    char **exec_dirs;
    uint64_t exec_timeout_usec;
    uint64_t check_timeout_usec; /* deadline of one in-process check */
};

/* Fill cfg with the defaults of DESIGN.md §5. -ENOMEM. */
int posture_agent_config_init(struct posture_agent_config *cfg);
/* Free the contents (NULL-safe fields). */
void posture_agent_config_done(struct posture_agent_config *cfg);
/* Apply the [agent], [server], [tpm], [schedule], [spool] and [checks] sections of c; other
 * sections warn, "check.*" sections are left to the runner. -EINVAL on a bad value. */
int posture_agent_config_apply(struct posture_agent_config *cfg, const struct posture_config *c);

const char *posture_tpm_mode_to_string(int mode);
int posture_tpm_mode_from_string(const char *s);
