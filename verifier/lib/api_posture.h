/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The /v1/posture pipeline without HTTP (api_posture.c): what POST /v1/posture does with the
 * body of a submission from an identified device, so that the benchmark
 * (tests/bench/appraise_inproc.c) times the very code the route runs. The route
 * (api_route_posture) identifies the device from the TLS client certificate, calls
 * posture_api_submit() and turns the answer into the HTTP response.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "http.h"
#include "store.h"

/* Where the time of one submission goes (ns), in pipeline order. */
enum posture_api_stage {
    POSTURE_API_STAGE_PARSE,    /* the body: JSON, the report string, the evidence object */
    POSTURE_API_STAGE_NONCE,    /* the nonce read from the report and consumed in the store */
    POSTURE_API_STAGE_JWS,      /* the device key (cached) and the report's ES256 signature */
    POSTURE_API_STAGE_EVIDENCE, /* AK, TPM clock read, quote, event log parse + replay */
    POSTURE_API_STAGE_POLICY,   /* every loaded policy's appraisal (and the previous one) */
    POSTURE_API_STAGE_EAR,      /* one EAR signed per policy */
    POSTURE_API_STAGE_STORE,    /* appraisal rows + clock + audit row: one transaction */
    POSTURE_API_STAGE_VIEW,     /* the in-memory decision view */
    POSTURE_API_STAGE_ANSWER,   /* the 201 body */
    POSTURE_API_STAGE__MAX,
};

const char *posture_api_stage_to_string(enum posture_api_stage s);

struct posture_api_stats {
    bool thread_cpu;                     /* the calling thread's CPU time, not CLOCK_MONOTONIC */
    uint64_t ns[POSTURE_API_STAGE__MAX]; /* added to: the caller zeroes it */
};

/* The answer: a problem (problem_type set: status, type, title, detail, json = extra members)
 * or a JSON body (json). replay_nonce is the Replay-Nonce header, "" when none. */
struct posture_api_answer {
    unsigned status;
    const char *problem_type; /* static text; NULL: json is the body */
    const char *title;        /* static text */
    const char *detail;       /* static or thread-local text; may be NULL */
    cJSON *json;
    char replay_nonce[64];
};

void posture_api_answer_done(struct posture_api_answer *a);

/*
 * Appraise the submission body (len bytes) of device dev, identified by the certificate
 * identity id (its x5t#S256 goes into the EARs' cnf), exactly as POST /v1/posture does: the
 * report's aud checked against host (the request's Host; GATEWAYS.md §4.6) and its nonce
 * consumed first, both read from the unverified claims decoded once, report and evidence verified,
 * every policy appraised and an EAR signed for each, everything recorded in the store, the decision
 * view updated, an audit row written. Returns 0 with *ret filled (also for refusals: 400/413
 * problems, 200 duplicate, 201), or a negative errno (a fault: the route answers 503). stats
 * (optional) gets the time per stage. A 503 no-policy problem when the api has no policy. The
 * caller holds what the routes hold (no posture_api_reload() meanwhile).
 */
int posture_api_submit(struct posture_api *api,
                       const struct posture_http_identity *id,
                       const struct posture_store_device *dev,
                       const char *host,
                       const uint8_t *body,
                       size_t len,
                       struct posture_api_answer *ret,
                       struct posture_api_stats *stats);
