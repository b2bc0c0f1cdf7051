/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * One submission cycle (DESIGN.md §8, §11; RELIABILITY.md §7; docs/agent-daemon.md), shared by
 * postured and `posturectl submit`:
 *
 *   challenge → the report (checks, signed, with the nonce) → the TPM evidence bound to it →
 *   the submission persisted in the spool BEFORE it is sent → POST /v1/posture → on 200/201
 *   the spool entry removed and the EAR returned → older spooled submissions drained, newest
 *   first, at most drain_max per cycle.
 *
 * A spooled submission keeps its report claims (seq, collected_at, the check results) for ever;
 * what binds it to a verifier nonce (eat_nonce, iat, exp, jti, the JWS signature and the TPM
 * quote) is made again at delivery: a nonce lives two minutes, an outage much longer. So a report
 * made while the verifier was unreachable (no nonce at all) or whose nonce went stale is
 * "resealed" with a fresh challenge and re-signed by the same device key. The verifier
 * de-duplicates by (device, seq): a resealed re-send of a report it already recorded answers
 * 200 {"duplicate": true}, which counts as delivered.
 *
 * Answers: 200/201 with a JSON object holding "ear" and "status" is success; 400
 * use_fresh_nonce gets one reseal and retry; 5xx, 408, 429, any other 200 (a captive portal's
 * HTML), timeouts, refused connections and a server certificate that is not the pinned CA's are
 * transient (the submission stays spooled, the caller backs off, honouring Retry-After); any
 * other 4xx would never succeed: the submission is dropped and counted.
 *
 * The cycle itself does not know about configuration files, the check registry or the TPM:
 * the caller passes callbacks that make a signed report and the evidence (posturectl's
 * report.c and evidence.c), so the logic here is tested without them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/types.h>

#include "http_client.h"
#include "spool.h"

#define POSTURE_EAR_NAME         "ear.jwt"
#define POSTURE_STATUS_NAME      "status.json"
#define POSTURE_CYCLE_DRAIN_MAX  8u  /* spooled submissions delivered per cycle */
#define POSTURE_CYCLE_ERROR_MAX  256 /* last_error text, bytes with the NUL */
#define POSTURE_CYCLE_NONCE_MAX  64  /* bytes of a verifier nonce */
#define POSTURE_CYCLE_SUBMIT_MAX POSTURE_SPOOL_ENTRY_MAX

/* How an answer of the verifier is treated. */
enum posture_answer {
    POSTURE_ANSWER_ACCEPTED,    /* 200/201 with a JSON verdict (incl. a duplicate) */
    POSTURE_ANSWER_FRESH_NONCE, /* 400 use_fresh_nonce: reseal once and retry */
    POSTURE_ANSWER_TRANSIENT,   /* try again later, with backoff */
    POSTURE_ANSWER_REFUSED,     /* it would never succeed: drop */
};

/* Classify an HTTP answer (status and body; body may be NULL). */
enum posture_answer posture_answer_classify(long status, const char *body, size_t len);

/* The callbacks that make the report and the evidence (see the top of this file). */
struct posture_cycle_ops {
    /* Run the checks and sign a new report with eat_nonce = nonce (NULL: none) that says it
     * follows dropped lost reports: *ret_token the compact JWS, *ret_payload the payload exactly
     * as signed. Errors are logged. */
    int (*report)(
        void *userdata, const char *nonce, uint64_t dropped, char **ret_token, char **ret_payload);
    /* The TPM evidence object bound to nonce (raw bytes) and payload; NULL: no TPM. Errors are
     * logged. */
    int (*evidence)(void *userdata,
                    const uint8_t *nonce,
                    size_t nonce_len,
                    const char *payload,
                    size_t payload_len,
                    cJSON **ret);
    /* Called before each request (optional): a long drain keeps the watchdog fed and notices
     * a stop request. Returns true to stop: the request is not sent (the submission stays
     * spooled) and the cycle ends as if the verifier could not be reached. */
    bool (*progress)(void *userdata);
    void *userdata;
};

struct posture_cycle {
    struct posture_http_client *client; /* borrowed; mTLS to the verifier */
    EVP_PKEY *key;                      /* borrowed; the device key, to reseal */
    const char *url;                    /* for log lines */
    struct posture_spool *spool;        /* borrowed; NULL: nothing is spooled (posturectl) */
    unsigned drain_max;                 /* 0: POSTURE_CYCLE_DRAIN_MAX */
    bool offline; /* backing off: make and spool the report without contacting the verifier */
    struct posture_cycle_ops ops;
    uint64_t dropped;       /* submissions dropped (refused, or not spooled and lost) since start */
    uint64_t unreported;    /* of those, not yet counted in a spooled report */
    uint64_t spool_dropped; /* the spool's drops (full, too old) taken into reports */
};

enum posture_cycle_outcome {
    POSTURE_CYCLE_DELIVERED, /* the verifier accepted the new report */
    POSTURE_CYCLE_RETRY,     /* transient failure: spooled (when there is a spool), back off */
    POSTURE_CYCLE_REFUSED,   /* the verifier refused it for good (dropped, counted) */
    POSTURE_CYCLE_FAILED,    /* a local failure (checks, key, TPM, state directory) */
};

struct posture_cycle_result {
    int outcome;                         /* enum posture_cycle_outcome */
    long http_status;                    /* of the last answer, 0 when none */
    int64_t retry_after_sec;             /* the server's Retry-After, -1 when none */
    uint64_t seq;                        /* of the new report, 0 when none was made */
    char *answer;                        /* the verifier's JSON answer when delivered */
    char *ear;                           /* its EAR when delivered */
    char *status;                        /* its verdict ("affirming", ...) when delivered */
    unsigned drained;                    /* spooled submissions delivered */
    unsigned drain_dropped;              /* spooled submissions refused and dropped */
    bool drain_stopped;                  /* the drain met a transient failure */
    char error[POSTURE_CYCLE_ERROR_MAX]; /* what went wrong last, "" when nothing */
};

void posture_cycle_result_done(struct posture_cycle_result *r);

/*
 * Run one cycle (a new report, delivered, then the drain). Returns 0 with *ret filled in every
 * case the outcome describes (its members are the caller's: posture_cycle_result_done()), or a
 * negative errno for an invalid call. Log lines explain each failure.
 */
int posture_cycle_run(struct posture_cycle *c, struct posture_cycle_result *ret);

/* Only the drain (after a backoff, or to continue a long one): ret->outcome is DELIVERED when
 * the verifier was reached, RETRY otherwise. */
int posture_cycle_drain(struct posture_cycle *c, struct posture_cycle_result *ret);

/*
 * Reseal a signed report for a fresh nonce (NULL: drop eat_nonce): its claims are kept except
 * eat_nonce, iat = now, exp = now + POSTURE_REPORT_LIFETIME_SEC and a new jti, and it is signed
 * again with key. -EBADMSG when token is not a compact JWS with a JSON object payload.
 */
int posture_report_reseal(EVP_PKEY *key,
                          const char *token,
                          const char *nonce,
                          int64_t now,
                          char **ret_token,
                          char **ret_payload);

/* The claims of a compact JWS, not verified (our own reports). -EBADMSG. */
int posture_report_claims(const char *token, cJSON **ret);

/* The submission body {"report": token[, "tpm": tpm]} (tpm is consumed, may be NULL). */
int posture_submission_body(const char *token, cJSON *tpm, char **ret);
/* The report of a submission body. -EBADMSG. */
int posture_submission_report(const char *body, size_t len, char **ret_token);

/* state_dir/status.json (docs/agent-daemon.md): what `posturectl status` shows. */
struct posture_daemon_status {
    int64_t last_attempt;
    int64_t last_success; /* 0: never */
    char last_error[POSTURE_CYCLE_ERROR_MAX];
    int64_t next_cycle;
    uint64_t spool_entries;
    uint64_t spool_bytes;
    uint64_t dropped;
    uint64_t seq;
    cJSON *verdict; /* the last accepted answer's summary, or NULL */
};

void posture_daemon_status_done(struct posture_daemon_status *st);
/* Read dir_fd's status.json: -ENOENT when missing, -EBADMSG when malformed (st untouched). */
int posture_daemon_status_read(int dir_fd, struct posture_daemon_status *st);
/* Write it atomically (0644). */
int posture_daemon_status_write(int dir_fd, const struct posture_daemon_status *st);
/* Record a result in st (attempt at now; success, error, seq, verdict). */
int posture_daemon_status_update(struct posture_daemon_status *st,
                                 const struct posture_cycle_result *res,
                                 int64_t now);
