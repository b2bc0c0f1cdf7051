/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One submission cycle: see cycle.h and docs/agent-daemon.md.
 */

#include "cycle.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "posture/b64url.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/log.h"
#include "posture/statefile.h"

#include "schedule.h"

#define JWS_PAYLOAD_MAX  ((size_t) 1024 * 1024)
#define ANSWER_DEPTH_MAX 16

void posture_cycle_result_done(struct posture_cycle_result *r)
{
    if (!r)
        return;
    free(r->answer);
    free(r->ear);
    free(r->status);
    r->answer = r->ear = r->status = NULL;
}

static void set_error(struct posture_cycle_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct posture_cycle_result *res, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
}

/* A JSON object answer, or NULL. */
static cJSON *parse_object(const char *body, size_t len)
{
    cJSON *o = NULL;

    if (!body || len == 0 || posture_json_parse(body, len, len, ANSWER_DEPTH_MAX, &o) < 0)
        return NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool is_fresh_nonce_problem(const cJSON *o)
{
    const char *err = posture_json_get_str(o, "error");
    const char *type = posture_json_get_str(o, "type");

    return (err && strcmp(err, "use_fresh_nonce") == 0) ||
           (type && strstr(type, "use_fresh_nonce") != NULL);
}

enum posture_answer posture_answer_classify(long status, const char *body, size_t len)
{
    posture_auto_cjson cJSON *o = NULL;

    if (status == 200 || status == 201) {
        o = parse_object(body, len);
        /* Anything but our verifier's verdict (a captive portal's page, a proxy's answer) is
         * never taken for success. */
        if (!o || !posture_json_get_str(o, "ear") || !posture_json_get_str(o, "status"))
            return POSTURE_ANSWER_TRANSIENT;
        return POSTURE_ANSWER_ACCEPTED;
    }
    if (status == 400) {
        o = parse_object(body, len);
        if (o && is_fresh_nonce_problem(o))
            return POSTURE_ANSWER_FRESH_NONCE;
        return POSTURE_ANSWER_REFUSED;
    }
    if (status == 408 || status == 425 || status == 429 || status >= 500 || status < 200)
        return POSTURE_ANSWER_TRANSIENT;
    if (status >= 400)
        return POSTURE_ANSWER_REFUSED;
    /* 1xx/3xx (redirects are not followed) and other 2xx: not our verifier; try later. */
    return POSTURE_ANSWER_TRANSIENT;
}

/* "reason: detail" of a problem answer, or "HTTP n". */
static void problem_text(const struct posture_http_response *resp, char *buf, size_t size)
{
    posture_auto_cjson cJSON *o = parse_object(resp->body, resp->body_len);
    const char *type = o ? posture_json_get_str(o, "type") : NULL;
    const char *detail = o ? posture_json_get_str(o, "detail") : NULL;

    if (type && strncmp(type, "urn:posture:problem:", 20) == 0)
        type += 20;
    if (type)
        (void) snprintf(buf, size, "HTTP %ld %.80s%s%.160s", resp->status, type, detail ? ": " : "",
                        detail ? detail : "");
    else
        (void) snprintf(buf, size, "HTTP %ld%s", resp->status,
                        resp->content_type ? "" : " without a body we understand");
}

static const char *transport_text(int r)
{
    switch (r) {
    case -EPERM:
        return "TLS failed: the server's certificate is not the pinned verifier CA's or not for "
               "this host, or ours was refused";
    case -ECONNREFUSED:
        return "connection refused";
    case -EHOSTUNREACH:
        return "host unreachable (name resolution or route)";
    case -ETIMEDOUT:
        return "no answer in time";
    case -EMSGSIZE:
        return "the answer was larger than allowed";
    default:
        return "HTTP/TLS error";
    }
}

/* POST body to path. 0 with *resp on any HTTP answer; a transport failure is recorded in res
 * and logged (warning: it is transient) and returned as -errno. */
static int post(struct posture_cycle *c,
                const char *path,
                const char *body,
                struct posture_http_response *resp,
                struct posture_cycle_result *res)
{
    const char *detail = NULL;
    int r;

    if (c->ops.progress && c->ops.progress(c->ops.userdata)) {
        set_error(res, "stopped before %s %s", c->url, path);
        res->http_status = 0;
        return -ECANCELED;
    }
    r = posture_http_request(c->client, path, "application/json", body, strlen(body), resp,
                             &detail);
    if (r == -ECANCELED) {
        /* the progress hook (a stop) aborted the request; what it carried stays spooled */
        set_error(res, "stopped during %s %s", c->url, path);
        res->http_status = 0;
        return r;
    }
    if (r < 0) {
        set_error(res, "%s %s: %s%s%.120s", c->url, path, transport_text(r), detail ? " - " : "",
                  detail ? detail : "");
        log_warning("cannot reach the verifier: %s", res->error);
        res->http_status = 0;
        return r;
    }
    res->http_status = resp->status;
    res->retry_after_sec = resp->retry_after_sec;
    return 0;
}

/* A 4xx/5xx answer, logged and recorded. */
static void answer_failed(struct posture_cycle *c,
                          const char *what,
                          const struct posture_http_response *resp,
                          enum posture_answer kind,
                          struct posture_cycle_result *res)
{
    char text[POSTURE_CYCLE_ERROR_MAX];

    problem_text(resp, text, sizeof(text));
    if (kind == POSTURE_ANSWER_REFUSED) {
        set_error(res, "the verifier refused the %s: %s", what, text);
        log_error("The verifier at %s refused the %s: %s%s", c->url, what, text,
                  resp->status == 401 ? " (it does not accept this device's certificate: revoked, "
                                        "or enrolled with another verifier; enrol again)"
                                      : "");
    } else {
        if ((resp->status == 200 || resp->status == 201))
            (void) snprintf(text, sizeof(text),
                            "HTTP %ld with a body that is not a JSON object with a verdict (a "
                            "captive portal or a proxy?)",
                            resp->status);
        set_error(res, "the verifier did not take the %s: %s", what, text);
        log_warning("The verifier at %s did not take the %s: %s", c->url, what, text);
    }
}

/* POST /v1/challenge: *ret the nonce (base64url). 0, or the kind of failure (>0, enum
 * posture_answer), or -errno for a transport failure. */
static int challenge(struct posture_cycle *c, struct posture_cycle_result *res, char **ret)
{
    POSTURE_CLEANUP(posture_http_response_done) struct posture_http_response resp = { 0 };
    posture_auto_cjson cJSON *o = NULL;
    const char *nonce;
    char *d;
    int r;

    r = post(c, "/v1/challenge", "{}", &resp, res);
    if (r < 0)
        return r;
    if (resp.status == 200 || resp.status == 201)
        o = parse_object(resp.body, resp.body_len);
    nonce = o ? posture_json_get_str(o, "nonce") : NULL;
    if (!nonce || !posture_b64url_check(nonce, strlen(nonce), 8, POSTURE_CYCLE_NONCE_MAX)) {
        enum posture_answer kind = posture_answer_classify(resp.status, NULL, 0);
        if (kind != POSTURE_ANSWER_REFUSED)
            kind = POSTURE_ANSWER_TRANSIENT;
        answer_failed(c, "challenge", &resp, kind, res);
        return (int) kind;
    }
    d = strdup(nonce);
    if (!d)
        return -ENOMEM;
    *ret = d;
    return 0;
}

static int random_b64url(size_t n, char **ret)
{
    uint8_t buf[32];

    if (n > sizeof(buf))
        return -EINVAL;
    if (getrandom(buf, n, 0) != (ssize_t) n)
        return -EIO;
    return posture_b64url_encode(buf, n, ret);
}

int posture_report_claims(const char *token, cJSON **ret)
{
    posture_autofree uint8_t *payload = NULL;
    const char *dot1, *dot2;
    size_t len = 0;
    cJSON *o = NULL;

    if (!token)
        return -EBADMSG;
    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.'))
        return -EBADMSG;
    if (posture_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), JWS_PAYLOAD_MAX, &payload,
                              &len) < 0)
        return -EBADMSG;
    if (posture_json_parse((const char *) payload, len, len, 32, &o) < 0)
        return -EBADMSG;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return -EBADMSG;
    }
    *ret = o;
    return 0;
}

/* Replace (or add) member key of o with item (consumed). */
static int replace_item(cJSON *o, const char *key, cJSON *item)
{
    if (!item)
        return -ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    return posture_json_add_item(o, key, item) < 0 ? (cJSON_Delete(item), -ENOMEM) : 0;
}

int posture_report_reseal(EVP_PKEY *key,
                          const char *token,
                          const char *nonce,
                          int64_t now,
                          char **ret_token,
                          char **ret_payload)
{
    posture_auto_cjson cJSON *claims = NULL;
    posture_autofree char *jti = NULL, *payload = NULL, *signed_token = NULL;
    int r;

    if (!key || !token || !ret_token)
        return -EINVAL;
    r = posture_report_claims(token, &claims);
    if (r < 0)
        return r;
    r = random_b64url(16, &jti);
    if (r < 0)
        return r;
    r = replace_item(claims, "iat", cJSON_CreateNumber((double) now));
    if (r >= 0)
        r = replace_item(claims, "exp",
                         cJSON_CreateNumber((double) (now + POSTURE_REPORT_LIFETIME_SEC)));
    if (r >= 0)
        r = replace_item(claims, "jti", cJSON_CreateString(jti));
    if (r >= 0) {
        if (nonce)
            r = replace_item(claims, "eat_nonce", cJSON_CreateString(nonce));
        else
            cJSON_DeleteItemFromObjectCaseSensitive(claims, "eat_nonce");
    }
    if (r >= 0)
        r = posture_json_print(claims, false, &payload);
    if (r >= 0 && !payload)
        r = -ENOMEM;
    if (r >= 0)
        r = posture_jws_sign(key, POSTURE_JWS_TYP_REPORT, payload, strlen(payload), &signed_token);
    if (r < 0)
        return r;
    *ret_token = POSTURE_TAKE_PTR(signed_token);
    if (ret_payload)
        *ret_payload = POSTURE_TAKE_PTR(payload);
    return 0;
}

int posture_submission_body(const char *token, cJSON *tpm, char **ret)
{
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    posture_autofree char *body = NULL;
    int r;

    if (!o || !token) {
        cJSON_Delete(tpm);
        return o ? -EINVAL : -ENOMEM;
    }
    r = posture_json_add_str(o, "report", token);
    if (r >= 0 && tpm) {
        r = posture_json_add_item(o, "tpm", tpm);
        tpm = NULL;
    }
    cJSON_Delete(tpm);
    if (r >= 0)
        r = posture_json_print(o, false, &body);
    if (r >= 0 && !body)
        r = -ENOMEM;
    if (r < 0)
        return r;
    if (strlen(body) > POSTURE_CYCLE_SUBMIT_MAX)
        return -E2BIG;
    *ret = POSTURE_TAKE_PTR(body);
    return 0;
}

int posture_submission_report(const char *body, size_t len, char **ret_token)
{
    posture_auto_cjson cJSON *o = parse_object(body, len);
    const char *report = o ? posture_json_get_str(o, "report") : NULL;
    char *d;

    if (!report || !report[0])
        return -EBADMSG;
    d = strdup(report);
    if (!d)
        return -ENOMEM;
    *ret_token = d;
    return 0;
}

/* The seq claim of a payload, 0 when absent. */
static uint64_t payload_seq(const char *payload)
{
    posture_auto_cjson cJSON *o = NULL;
    int64_t seq = 0;

    if (payload && posture_json_parse(payload, strlen(payload), strlen(payload), 32, &o) >= 0)
        (void) posture_json_get_int(o, "seq", &seq);
    return seq > 0 ? (uint64_t) seq : 0;
}

/* The submission body for token (signed with nonce), with the evidence when there is a TPM. */
static int seal(struct posture_cycle *c,
                const char *token,
                const char *payload,
                const char *nonce,
                struct posture_cycle_result *res,
                char **ret)
{
    posture_autofree uint8_t *raw = NULL;
    cJSON *tpm = NULL;
    size_t raw_len = 0;
    int r;

    if (nonce && c->ops.evidence) {
        r = posture_b64url_decode(nonce, strlen(nonce), POSTURE_CYCLE_NONCE_MAX, &raw, &raw_len);
        if (r < 0)
            return r;
        r = c->ops.evidence(c->ops.userdata, raw, raw_len, payload, strlen(payload), &tpm);
        if (r < 0) {
            set_error(res, "the TPM evidence could not be made: %s", strerror(-r));
            return r;
        }
    }
    r = posture_submission_body(token, tpm, ret);
    if (r < 0) {
        set_error(res, "the submission could not be built: %s", strerror(-r));
        return log_error_errno(r, "Failed to build the submission: %m");
    }
    return 0;
}

/* The fresh nonce a use_fresh_nonce answer carries (its "nonce" member), or NULL. */
static char *fresh_nonce(const struct posture_http_response *resp)
{
    posture_auto_cjson cJSON *o = parse_object(resp->body, resp->body_len);
    const char *nonce = o ? posture_json_get_str(o, "nonce") : NULL;

    if (!nonce || !posture_b64url_check(nonce, strlen(nonce), 8, POSTURE_CYCLE_NONCE_MAX))
        return NULL;
    return strdup(nonce);
}

enum deliver {
    DELIVER_OK,        /* accepted: res->answer... filled when want_answer */
    DELIVER_TRANSIENT, /* try later */
    DELIVER_REFUSED,   /* never */
    DELIVER_LOCAL,     /* our side failed (TPM, signing) */
};

/* Take an accepted answer into res. */
static int take_answer(const struct posture_http_response *resp, struct posture_cycle_result *res)
{
    posture_auto_cjson cJSON *o = parse_object(resp->body, resp->body_len);
    const char *ear = o ? posture_json_get_str(o, "ear") : NULL;
    const char *status = o ? posture_json_get_str(o, "status") : NULL;

    if (!ear || !status)
        return -EBADMSG;
    free(res->answer);
    free(res->ear);
    free(res->status);
    res->answer = strndup(resp->body, resp->body_len);
    res->ear = strdup(ear);
    res->status = strdup(status);
    if (!res->answer || !res->ear || !res->status)
        return -ENOMEM;
    return 0;
}

/*
 * Deliver the report token (payload as signed) under nonce (may be NULL: reseal first with a
 * fresh challenge). One use_fresh_nonce answer gets a reseal and one retry.
 */
static enum deliver deliver(struct posture_cycle *c,
                            const char *token_in,
                            const char *payload_in,
                            const char *nonce_in,
                            bool want_answer,
                            struct posture_cycle_result *res)
{
    posture_autofree char *token = NULL, *payload = NULL, *nonce = NULL;
    const char *tok = token_in, *pay = payload_in;
    int r;

    if (nonce_in) {
        nonce = strdup(nonce_in);
        if (!nonce)
            return DELIVER_LOCAL;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        POSTURE_CLEANUP(posture_http_response_done) struct posture_http_response resp = { 0 };
        posture_autofree char *body = NULL;
        enum posture_answer kind;

        if (!nonce) {
            r = challenge(c, res, &nonce);
            if (r < 0)
                return DELIVER_TRANSIENT; /* transport, logged */
            if (r > 0) /* a refused challenge says nothing of this report: keep it */
                return DELIVER_TRANSIENT;
            free(token);
            free(payload);
            token = payload = NULL;
            r = posture_report_reseal(c->key, token_in, nonce, (int64_t) time(NULL), &token,
                                      &payload);
            if (r < 0) {
                set_error(res, "the report could not be signed again: %s", strerror(-r));
                (void) log_error_errno(r, "Failed to sign the report again: %m");
                return r == -EBADMSG ? DELIVER_REFUSED : DELIVER_LOCAL;
            }
            tok = token;
            pay = payload;
        }
        r = seal(c, tok, pay, nonce, res, &body);
        if (r < 0)
            return r == -E2BIG ? DELIVER_REFUSED : DELIVER_LOCAL;
        r = post(c, "/v1/posture", body, &resp, res);
        if (r < 0)
            return DELIVER_TRANSIENT;
        kind = posture_answer_classify(resp.status, resp.body, resp.body_len);
        switch (kind) {
        case POSTURE_ANSWER_ACCEPTED:
            if (want_answer && take_answer(&resp, res) < 0) {
                set_error(res, "out of memory");
                return DELIVER_LOCAL;
            }
            return DELIVER_OK;
        case POSTURE_ANSWER_FRESH_NONCE:
            if (attempt > 0) {
                answer_failed(c, "submission", &resp, POSTURE_ANSWER_TRANSIENT, res);
                return DELIVER_TRANSIENT;
            }
            log_info("The verifier wants a fresh nonce; signing the report again.");
            free(nonce);
            nonce = fresh_nonce(&resp); /* the one it offers, else a new challenge */
            if (nonce) {
                free(token);
                free(payload);
                token = payload = NULL;
                r = posture_report_reseal(c->key, token_in, nonce, (int64_t) time(NULL), &token,
                                          &payload);
                if (r < 0) {
                    set_error(res, "the report could not be signed again: %s", strerror(-r));
                    (void) log_error_errno(r, "Failed to sign the report again: %m");
                    return DELIVER_LOCAL;
                }
                tok = token;
                pay = payload;
            }
            continue;
        case POSTURE_ANSWER_TRANSIENT:
            answer_failed(c, "submission", &resp, kind, res);
            return DELIVER_TRANSIENT;
        case POSTURE_ANSWER_REFUSED:
        default:
            answer_failed(c, "submission", &resp, POSTURE_ANSWER_REFUSED, res);
            return DELIVER_REFUSED;
        }
    }
    return DELIVER_TRANSIENT;
}

static void count_drop(struct posture_cycle *c)
{
    c->dropped++;
    c->unreported++;
}

/* The drops a new report tells of: ours and the spool's. */
static uint64_t drops_pending(struct posture_cycle *c, uint64_t *ret_spool)
{
    uint64_t n = 0;

    if (c->spool && posture_spool_dropped(c->spool, &n) < 0)
        n = 0;
    *ret_spool = n;
    return c->unreported + n;
}

/* A report that told of the drops is spooled: they are reported (the spool's counter is reset;
 * what it counted meanwhile, e.g. while making room for this report, stays for the next). */
static void drops_reported(struct posture_cycle *c, uint64_t told_spool)
{
    uint64_t taken = 0;

    c->unreported = 0;
    if (!c->spool || posture_spool_take_dropped(c->spool, &taken) < 0)
        return;
    c->spool_dropped += taken;
    if (taken > 0)
        log_warning("%" PRIu64 " spooled report(s) dropped to keep the spool within [spool] "
                    "max_bytes and max_age; the next report says so.",
                    taken);
    if (taken > told_spool)
        c->unreported += taken - told_spool;
}

/* Persist body as seq before it is sent. A failure is logged; the cycle goes on (the report
 * is then lost if this send fails, and counted). */
static bool spool_put(struct posture_cycle *c, uint64_t seq, const char *body)
{
    struct posture_clocks now;
    int r;

    if (!c->spool)
        return false;
    posture_clocks_now(&now);
    r = posture_spool_put(c->spool, seq, body, strlen(body), now.realtime_usec);
    if (r == -EEXIST)
        return true;
    if (r < 0) {
        (void) log_warning_errno(r,
                                 "Cannot spool report %" PRIu64 ": %m%s; it is lost if this "
                                 "submission fails",
                                 seq,
                                 r == -ENOSPC || r == -EDQUOT ? " (the state directory is full)"
                                 : r == -EROFS ? " (the state directory is read-only)"
                                 : r == -EFBIG ? " (larger than [spool] max_bytes)"
                                               : "");
        return false;
    }
    return true;
}

static void spool_remove(struct posture_cycle *c, uint64_t seq)
{
    int r;

    if (!c->spool)
        return;
    r = posture_spool_remove(c->spool, seq);
    if (r < 0 && r != -ENOENT)
        (void) log_warning_errno(r,
                                 "Cannot remove report %" PRIu64 " from the spool: %m; it will "
                                 "be sent again (the verifier ignores the duplicate)",
                                 seq);
}

/* Deliver spooled submissions, newest first, skipping skip_seq. */
static int drain(struct posture_cycle *c, uint64_t skip_seq, struct posture_cycle_result *res)
{
    posture_autofree uint64_t *seqs = NULL;
    unsigned max = c->drain_max ? c->drain_max : POSTURE_CYCLE_DRAIN_MAX, done = 0;
    struct posture_clocks now;
    size_t n = 0;
    int r;

    if (!c->spool)
        return 0;
    posture_clocks_now(&now);
    r = posture_spool_list(c->spool, now.realtime_usec, &seqs, &n);
    if (r < 0)
        return log_warning_errno(r, "Cannot list the spool: %m");
    for (size_t i = 0; i < n && done < max; i++) {
        posture_autofree char *body = NULL, *token = NULL;
        size_t len = 0;
        enum deliver d;

        if (seqs[i] == skip_seq)
            continue;
        r = posture_spool_get(c->spool, seqs[i], &body, &len);
        if (r == -EBADMSG || r == -ENOENT)
            continue; /* moved aside (logged by the spool's owner) or gone */
        if (r < 0)
            return log_warning_errno(r, "Cannot read report %" PRIu64 " from the spool: %m",
                                     seqs[i]);
        done++;
        if (posture_submission_report(body, len, &token) < 0) {
            log_warning("Spooled report %" PRIu64 " is not a submission; dropped", seqs[i]);
            spool_remove(c, seqs[i]);
            res->drain_dropped++;
            count_drop(c);
            continue;
        }
        /* Its nonce (if any) went stale: always sealed again with a fresh one. */
        d = deliver(c, token, NULL, NULL, false, res);
        switch (d) {
        case DELIVER_OK:
            log_info("Delivered spooled report %" PRIu64 ".", seqs[i]);
            spool_remove(c, seqs[i]);
            res->drained++;
            break;
        case DELIVER_REFUSED:
            log_error("Spooled report %" PRIu64 " was refused and is dropped.", seqs[i]);
            spool_remove(c, seqs[i]);
            res->drain_dropped++;
            count_drop(c);
            break;
        case DELIVER_TRANSIENT:
        case DELIVER_LOCAL:
        default:
            res->drain_stopped = true;
            return 0;
        }
    }
    return 0;
}

int posture_cycle_run(struct posture_cycle *c, struct posture_cycle_result *ret)
{
    posture_autofree char *nonce = NULL, *token = NULL, *payload = NULL, *body = NULL;
    uint64_t drops, drops_spool = 0;
    bool spooled;
    enum deliver d;
    int r;

    if (!c || !ret || !c->client || !c->key || !c->ops.report)
        return -EINVAL;
    *ret = (struct posture_cycle_result){ .retry_after_sec = -1 };

    if (c->offline && c->spool) {
        set_error(ret, "backing off: the verifier is contacted again after the retry delay");
        r = -EAGAIN;
    } else
        r = challenge(c, ret, &nonce);
    if (r == POSTURE_ANSWER_REFUSED) {
        ret->outcome = POSTURE_CYCLE_REFUSED; /* 401 etc.: no report would be accepted */
        return 0;
    }
    /* r < 0 or transient: the verifier is not reachable now. With a spool the report is still
     * made and spooled, without a nonce; it is sealed for a fresh one when it is delivered.
     * Without one (posturectl submit) there is nothing more to do. */
    if (!nonce && !c->spool) {
        ret->outcome = POSTURE_CYCLE_RETRY;
        return 0;
    }
    drops = drops_pending(c, &drops_spool);
    r = c->ops.report(c->ops.userdata, nonce, drops, &token, &payload);
    if (r < 0 || !token || !payload) {
        ret->outcome = POSTURE_CYCLE_FAILED;
        set_error(ret, "the report could not be made: %s", strerror(r < 0 ? -r : EIO));
        return 0;
    }
    ret->seq = payload_seq(payload);
    if (!nonce) {
        /* Spool the report alone (nothing to bind evidence to). */
        r = posture_submission_body(token, NULL, &body);
        if (r < 0 || !spool_put(c, ret->seq, body))
            count_drop(c);
        else
            drops_reported(c, drops_spool);
        ret->outcome = POSTURE_CYCLE_RETRY;
        return 0;
    }
    r = seal(c, token, payload, nonce, ret, &body);
    if (r < 0) {
        /* The TPM failed: spool the report without evidence, try again later. */
        posture_autofree char *plain = NULL;
        if (posture_submission_body(token, NULL, &plain) < 0 || !spool_put(c, ret->seq, plain))
            count_drop(c);
        else
            drops_reported(c, drops_spool);
        ret->outcome = c->spool ? POSTURE_CYCLE_RETRY : POSTURE_CYCLE_FAILED;
        return 0;
    }
    spooled = spool_put(c, ret->seq, body);
    if (spooled)
        drops_reported(c, drops_spool);

    d = deliver(c, token, payload, nonce, true, ret);
    switch (d) {
    case DELIVER_OK:
        ret->outcome = POSTURE_CYCLE_DELIVERED;
        ret->error[0] = '\0';
        spool_remove(c, ret->seq);
        if (!spooled && drops > 0)
            drops_reported(c, drops_spool);
        break;
    case DELIVER_REFUSED:
        ret->outcome = POSTURE_CYCLE_REFUSED;
        spool_remove(c, ret->seq);
        count_drop(c);
        break;
    case DELIVER_LOCAL:
        ret->outcome = POSTURE_CYCLE_FAILED;
        if (!spooled)
            count_drop(c);
        return 0;
    case DELIVER_TRANSIENT:
    default:
        ret->outcome = POSTURE_CYCLE_RETRY;
        if (!spooled && c->spool)
            count_drop(c);
        return 0;
    }
    /* The verifier answers: deliver what waited. */
    (void) drain(c, ret->seq, ret);
    return 0;
}

int posture_cycle_drain(struct posture_cycle *c, struct posture_cycle_result *ret)
{
    if (!c || !ret || !c->client || !c->key)
        return -EINVAL;
    *ret = (struct posture_cycle_result){ .retry_after_sec = -1 };
    (void) drain(c, 0, ret);
    ret->outcome = ret->drain_stopped ? POSTURE_CYCLE_RETRY : POSTURE_CYCLE_DELIVERED;
    return 0;
}

/* status.json */

void posture_daemon_status_done(struct posture_daemon_status *st)
{
    if (!st)
        return;
    cJSON_Delete(st->verdict);
    st->verdict = NULL;
}

static int get_u64(const cJSON *o, const char *key, uint64_t *ret)
{
    int64_t v = 0;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!it)
        return 0; /* missing: 0 */
    if (posture_json_get_int(o, key, &v) < 0 || v < 0)
        return -EBADMSG;
    *ret = (uint64_t) v;
    return 0;
}

int posture_daemon_status_read(int dir_fd, struct posture_daemon_status *st)
{
    posture_autoclose int fd = -1;
    posture_autofree char *buf = NULL;
    posture_auto_cjson cJSON *o = NULL;
    struct posture_daemon_status s = { 0 };
    uint64_t v = 0;
    int64_t version = 0;
    const cJSON *verdict;
    const char *err;
    size_t len = 0;
    int r;

    fd = openat(dir_fd, POSTURE_STATUS_NAME, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    r = posture_read_fd(fd, 64 * 1024, &buf, &len);
    if (r < 0)
        return r;
    o = parse_object(buf, len);
    if (!o || posture_json_get_int(o, "version", &version) < 0 || version != 1)
        return -EBADMSG;
    r = get_u64(o, "last_attempt", &v);
    s.last_attempt = (int64_t) v;
    v = 0;
    if (r >= 0)
        r = get_u64(o, "last_success", &v);
    s.last_success = (int64_t) v;
    v = 0;
    if (r >= 0)
        r = get_u64(o, "next_cycle", &v);
    s.next_cycle = (int64_t) v;
    if (r >= 0)
        r = get_u64(o, "spool_entries", &s.spool_entries);
    if (r >= 0)
        r = get_u64(o, "spool_bytes", &s.spool_bytes);
    if (r >= 0)
        r = get_u64(o, "dropped", &s.dropped);
    if (r >= 0)
        r = get_u64(o, "seq", &s.seq);
    if (r < 0)
        return r;
    err = posture_json_get_str(o, "last_error");
    if (err)
        (void) snprintf(s.last_error, sizeof(s.last_error), "%s", err);
    verdict = cJSON_GetObjectItemCaseSensitive(o, "verdict");
    if (cJSON_IsObject(verdict)) {
        s.verdict = cJSON_Duplicate(verdict, true);
        if (!s.verdict)
            return -ENOMEM;
    }
    posture_daemon_status_done(st);
    *st = s;
    return 0;
}

int posture_daemon_status_write(int dir_fd, const struct posture_daemon_status *st)
{
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    posture_autofree char *text = NULL;
    int r;

    if (!o)
        return -ENOMEM;
    r = posture_json_add_int(o, "version", 1);
    if (r >= 0)
        r = posture_json_add_int(o, "last_attempt", st->last_attempt);
    if (r >= 0)
        r = posture_json_add_int(o, "last_success", st->last_success);
    if (r >= 0)
        r = posture_json_add_str(o, "last_error", st->last_error);
    if (r >= 0)
        r = posture_json_add_int(o, "next_cycle", st->next_cycle);
    if (r >= 0)
        r = posture_json_add_int(o, "spool_entries", (int64_t) st->spool_entries);
    if (r >= 0)
        r = posture_json_add_int(o, "spool_bytes", (int64_t) st->spool_bytes);
    if (r >= 0)
        r = posture_json_add_int(o, "dropped", (int64_t) st->dropped);
    if (r >= 0)
        r = posture_json_add_int(o, "seq", (int64_t) st->seq);
    if (r >= 0) {
        if (st->verdict) {
            cJSON *copy = cJSON_Duplicate(st->verdict, true);
            r = copy ? posture_json_add_item(o, "verdict", copy) : -ENOMEM;
            if (r < 0)
                cJSON_Delete(copy);
        } else
            r = posture_json_add_null(o, "verdict");
    }
    if (r >= 0)
        r = posture_json_print(o, true, &text);
    if (r >= 0 && !text)
        r = -ENOMEM;
    if (r < 0)
        return r;
    return posture_state_write_atomic(dir_fd, POSTURE_STATUS_NAME, text, strlen(text), 0644, true);
}

/* The summary of an answer: every member but the EAR (gateways verify that one). */
static cJSON *verdict_summary(const char *answer)
{
    cJSON *o = answer ? parse_object(answer, strlen(answer)) : NULL;

    if (o)
        cJSON_DeleteItemFromObjectCaseSensitive(o, "ear");
    return o;
}

int posture_daemon_status_update(struct posture_daemon_status *st,
                                 const struct posture_cycle_result *res,
                                 int64_t now)
{
    st->last_attempt = now;
    if (res->seq)
        st->seq = res->seq;
    (void) snprintf(st->last_error, sizeof(st->last_error), "%s", res->error);
    if (res->outcome == POSTURE_CYCLE_DELIVERED && res->answer) {
        cJSON *v = verdict_summary(res->answer);
        if (!v)
            return -ENOMEM;
        cJSON_Delete(st->verdict);
        st->verdict = v;
        st->last_success = now;
        st->last_error[0] = '\0';
    }
    return 0;
}
