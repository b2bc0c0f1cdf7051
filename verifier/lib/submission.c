/* SPDX-License-Identifier: Apache-2.0 */
/* The /v1/posture submission body; see submission.h. */

#include "submission.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/b64url.h"
#include "posture/json.h"
#include "posture/jws.h"

#define NONCE_MIN 8
#define NONCE_MAX 64

struct posture_submission *posture_submission_free(struct posture_submission *s)
{
    if (!s)
        return NULL;
    free(s->report);
    posture_evidence_free(s->tpm);
    free(s);
    return NULL;
}

static int bad(const char **ret_why, const char *why)
{
    if (ret_why)
        *ret_why = why;
    return -EBADMSG;
}

int posture_submission_parse(const char *body,
                             size_t len,
                             struct posture_submission **ret,
                             const char **ret_why)
{
    posture_auto_submission struct posture_submission *s = NULL;
    posture_auto_cjson cJSON *obj = NULL;
    const cJSON *item, *report = NULL, *tpm = NULL;
    int r;

    /* Depth: the body object, tpm, pcrs (pcr_select is an array inside tpm). */
    r = posture_json_parse(body, len, POSTURE_SUBMISSION_MAX_SIZE, 4, &obj);
    if (r == -E2BIG || r == -ENOMEM)
        return r;
    if (r < 0)
        return bad(ret_why, "not valid JSON (syntax, nesting, or a duplicate member)");
    if (!cJSON_IsObject(obj))
        return bad(ret_why, "not a JSON object");
    cJSON_ArrayForEach(item, obj)
    {
        if (item->string && strcmp(item->string, "report") == 0)
            report = item;
        else if (item->string && strcmp(item->string, "tpm") == 0)
            tpm = item;
        else
            return bad(ret_why, "unknown member (only report and tpm)");
    }
    if (!report)
        return bad(ret_why, "report: missing");
    if (!cJSON_IsString(report))
        return bad(ret_why, "report: not a string");

    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->report_len = strlen(report->valuestring);
    if (s->report_len == 0 || s->report_len > POSTURE_JWS_MAX_SIZE)
        return bad(ret_why, "report: empty or larger than 64 KiB");
    s->report = strdup(report->valuestring);
    if (!s->report)
        return -ENOMEM;
    if (tpm) {
        const char *why = NULL;
        r = posture_evidence_from_json(tpm, &s->tpm, &why);
        if (r == -ENOMEM)
            return r;
        if (r < 0) {
            /* Say which part: "tpm: pcrs: PCR 3 is missing". */
            static _Thread_local char buf[200];
            (void) snprintf(buf, sizeof(buf), "tpm: %s", why ? why : "invalid");
            return bad(ret_why, buf);
        }
    }
    *ret = POSTURE_TAKE_PTR(s);
    return 0;
}

int posture_submission_peek(const char *report, size_t len, cJSON **ret)
{
    posture_autofree uint8_t *payload = NULL;
    posture_auto_cjson cJSON *claims = NULL;
    const char *dot1, *dot2;
    size_t payload_len;
    int r;

    if (!report || !ret)
        return -EINVAL;
    if (len > POSTURE_JWS_MAX_SIZE)
        return -EBADMSG;
    dot1 = memchr(report, '.', len);
    if (!dot1)
        return -EBADMSG;
    dot2 = memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - report));
    if (!dot2)
        return -EBADMSG;
    r = posture_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), POSTURE_JWS_MAX_SIZE, &payload,
                              &payload_len);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return -EBADMSG;
    r = posture_json_parse((const char *) payload, payload_len, POSTURE_JWS_MAX_SIZE,
                           POSTURE_JWS_JSON_MAX_DEPTH, &claims);
    if (r == -ENOMEM)
        return r;
    if (r < 0 || !cJSON_IsObject(claims))
        return -EBADMSG;
    *ret = POSTURE_TAKE_PTR(claims);
    return 0;
}

int posture_submission_claims_nonce(const cJSON *claims, uint8_t *buf, size_t buf_size)
{
    const char *nonce = posture_json_get_str(claims, "eat_nonce");
    int r;

    if (!nonce || !posture_b64url_check(nonce, strlen(nonce), NONCE_MIN, NONCE_MAX))
        return -EBADMSG;
    r = posture_b64url_decode_buf(nonce, strlen(nonce), buf, buf_size);
    return r < 0 ? (r == -ENOMEM ? r : -EBADMSG) : r;
}

int posture_submission_peek_nonce(const char *report, size_t len, uint8_t *buf, size_t buf_size)
{
    posture_auto_cjson cJSON *claims = NULL;
    int r;

    r = posture_submission_peek(report, len, &claims);
    if (r < 0)
        return r;
    return posture_submission_claims_nonce(claims, buf, buf_size);
}
