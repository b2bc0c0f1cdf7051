/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Private to posture_checks: the per-run host data behind ctx->host_data, and option value
 * helpers shared by the host API, the registry and the runner's config validation.
 */

#include <stddef.h>
#include <stdint.h>

#include "posture/check.h"
#include "posture/config.h"

/* Bound of "check.<name>": names are at most 64 bytes. */
#define POSTURE_CHECK_SECTION_MAX (sizeof("check.") + 64)

/* One option of the running check: its effective value, copied before the check starts. */
struct posture_host_option {
    const struct posture_option *row; /* in desc->options */
    char *value;                      /* config value, else the default; NULL: neither */
    char **strv;                      /* split value, cached by option_get_strv() */
    size_t n_strv;
};

/*
 * Everything the host API needs while one check runs. It is filled before the worker thread
 * starts and copies the check's config values, so a thread the runner abandons at its deadline
 * never touches the caller's config.
 */
struct posture_host_data {
    const struct posture_check_desc *desc;
    char *name; /* copy of desc->name for log lines */
    struct posture_host_option *options;
    size_t n_options;
};

/* Fill h for desc, taking [check.<name>] values from config (may be NULL) or the defaults. */
int posture_host_data_init(struct posture_host_data *h,
                           const struct posture_check_desc *desc,
                           const struct posture_config *config);
/* Free the contents of h (NULL-safe on an all-zero h). */
void posture_host_data_done(struct posture_host_data *h);

/*
 * Does value parse as an option of type? 0, or -EINVAL with a short explanation in *ret_why
 * (static; ret_why may be NULL); -ERANGE on overflow.
 */
int posture_option_value_check(enum posture_option_type type,
                               const char *value,
                               const char **ret_why);

/* "check.<name>" into buf (POSTURE_CHECK_SECTION_MAX bytes); -ENAMETOOLONG if it does not fit. */
int posture_check_section(const char *name, char *buf, size_t size);
