/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The agent-side definition of a check result (opaque to checks, see check.h). Not installed. */

#include <stdint.h>

#include <cjson/cJSON.h>

#include "posture/check.h"
#include "posture/cleanup.h"

#define POSTURE_EVIDENCE_DEPTH_MAX 8 /* open containers, the evidence object included */
/* Bounds the host API enforces (-E2BIG beyond): */
#define POSTURE_EVIDENCE_STR_MAX   4096u /* bytes of one evidence string */
#define POSTURE_EVIDENCE_STRV_MAX  1024u /* items of one evidence_add_strv() list */
#define POSTURE_EVIDENCE_ITEMS_MAX 4096u /* values and containers in one result's evidence */
#define POSTURE_EVIDENCE_KEY_MAX   128u  /* bytes of one evidence key */
/* Reason and remediation are formatted into this many bytes (longer text is truncated). */
#define POSTURE_RESULT_TEXT_MAX 1024u

struct posture_result {
    char *id;
    char *version;
    int status; /* enum posture_status; POSTURE_STATUS__INVALID until set */
    char *reason;
    char *remediation;
    cJSON *evidence;                                   /* always an object */
    cJSON *evidence_stack[POSTURE_EVIDENCE_DEPTH_MAX]; /* open containers; [0] is evidence */
    unsigned evidence_depth;
    unsigned evidence_items; /* values and containers added, against POSTURE_EVIDENCE_ITEMS_MAX */
    uint64_t observed_at;    /* epoch seconds */
    uint64_t duration_usec;  /* CLOCK_MONOTONIC */
    int error;               /* the negative errno run() returned, or 0 */
};

int posture_result_new(const char *id, const char *version, struct posture_result **ret);
struct posture_result *posture_result_free(struct posture_result *r);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_result *, posture_result_free)
#define posture_auto_result POSTURE_CLEANUP(posture_result_freep)

/*
 * The result as DESIGN.md §6 JSON: id, version, status, reason, remediation (null on pass),
 * evidence, observed_at, duration_ms. Caller frees *ret.
 */
int posture_result_to_json(const struct posture_result *r, cJSON **ret);

/* The host API table handed to checks (ctx->api). */
const struct posture_host_api *posture_host_api_get(void);
