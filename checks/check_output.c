/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The external check output contract (check_output.h): a strict parser that fills a result
 * through the host API, so exec and .so output obey the same bounds as in-process checks, and
 * the matching serialiser for the .so child process.
 */
#include "posture/check_output.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/err.h"
#include "posture/json.h"
#include "posture/registry.h"
#include "posture/utf8.h"

/* The document is depth 1, its evidence object depth 2: the host API allows
 * POSTURE_EVIDENCE_DEPTH_MAX open containers counting the evidence object. */
#define OUTPUT_DEPTH_MAX (1 + POSTURE_EVIDENCE_DEPTH_MAX)
/* Only to tell "too deep" from "not JSON" in the explanation. */
#define DIAG_DEPTH_MAX 512
/* Version strings, as the registry bounds descriptor versions. */
#define VERSION_MAX 64
/* Integers survive the trip through cJSON's doubles up to 2^53. */
#define EVIDENCE_INT_MAX 9007199254740992.0
/* Bytes of an evidence path in explanations ("evidence.a.b[3]"). */
#define PATH_MAX_LEN 96

__attribute__((format(printf, 3, 4))) static int
explain(char *why, size_t why_size, const char *format, ...)
{
    if (why && why_size > 0) {
        va_list ap;
        va_start(ap, format);
        (void) vsnprintf(why, why_size, format, ap);
        va_end(ap);
    }
    return -EPROTO;
}

/*
 * The end of the first top-level JSON container in buf (one past its closing bracket), or 0 when
 * it never closes. Strings and escapes are skipped, so brackets inside them do not count.
 */
static size_t first_value_end(const char *buf, size_t len)
{
    unsigned long depth = 0;
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"')
            in_string = true;
        else if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && depth > 0 && --depth == 0)
            return i + 1;
    }
    return 0;
}

/* Whether s[0..n) is JSON whitespace only. */
static bool only_whitespace(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* Whether any object in item (bounded by cJSON's own nesting limit) has a key twice. */
static bool has_repeated_key(const cJSON *item)
{
    for (const cJSON *c = item->child; c; c = c->next) {
        if (cJSON_IsObject(item) && c->string)
            for (const cJSON *d = c->next; d; d = d->next)
                if (d->string && strcmp(c->string, d->string) == 0)
                    return true;
        if (has_repeated_key(c))
            return true;
    }
    return false;
}

/* Parse; on failure say as precisely as we cheaply can what is wrong. */
static int parse_document(const char *buf, size_t len, cJSON **ret, char *why, size_t why_size)
{
    if (len == 0)
        return explain(why, why_size, "no output");
    if (len > POSTURE_CHECK_OUTPUT_MAX)
        return explain(why, why_size, "output over %zu KiB", POSTURE_CHECK_OUTPUT_MAX / 1024);
    const char *nul = memchr(buf, '\0', len);
    if (nul)
        return explain(why, why_size, "output contains a NUL byte (at byte %zu)",
                       (size_t) (nul - buf));
    if (!posture_utf8_is_valid(buf, len))
        return explain(why, why_size, "output is not valid UTF-8");

    int r = posture_json_parse(buf, len, len, OUTPUT_DEPTH_MAX, ret);
    if (r == -ENOMEM)
        return r;
    if (r >= 0)
        return 0;

    posture_auto_cjson cJSON *probe = NULL;
    size_t end = first_value_end(buf, len);
    if (end > 0 && end < len && posture_json_parse(buf, end, end, DIAG_DEPTH_MAX, &probe) >= 0)
        return explain(why, why_size, "trailing data after the JSON document (at byte %zu)", end);
    if (posture_json_parse(buf, len, len, DIAG_DEPTH_MAX, &probe) >= 0)
        return explain(why, why_size, "evidence nested deeper than %u levels",
                       POSTURE_EVIDENCE_DEPTH_MAX - 1);
    /* Our parser refuses repeated keys, cJSON keeps both: say so when that is the problem. */
    const char *end_ptr = NULL;
    probe = cJSON_ParseWithLengthOpts(buf, len, &end_ptr, false);
    bool whole = probe && end_ptr && end_ptr >= buf && end_ptr <= buf + len &&
                 only_whitespace(end_ptr, (size_t) (buf + len - end_ptr));
    if (whole && has_repeated_key(probe))
        return explain(why, why_size, "output repeats a key in one JSON object");
    return explain(why, why_size, "output is not valid JSON");
}

/* "evidence.a" + "b" → "evidence.a.b"; array items as "[i]". Truncated quietly. */
static void path_child(char *dst, const char *parent, const cJSON *item, size_t index)
{
    if (item->string)
        (void) snprintf(dst, PATH_MAX_LEN, "%s.%s", parent, item->string);
    else
        (void) snprintf(dst, PATH_MAX_LEN, "%s[%zu]", parent, index);
}

static int evidence_error(int k, const char *path, char *why, size_t why_size)
{
    switch (k) {
    case -ENOMEM:
        return k;
    case -E2BIG:
        return explain(why, why_size,
                       "%s: evidence too large (strings up to %u bytes, %u values, %u levels)",
                       path, POSTURE_EVIDENCE_STR_MAX, POSTURE_EVIDENCE_ITEMS_MAX,
                       POSTURE_EVIDENCE_DEPTH_MAX - 1);
    default:
        return explain(why, why_size, "%s: invalid evidence key or value", path);
    }
}

static int add_evidence_items(struct posture_result *result,
                              const cJSON *container,
                              const char *path,
                              char *why,
                              size_t why_size);

static int add_evidence_item(struct posture_result *result,
                             const cJSON *item,
                             const char *key,
                             const char *path,
                             char *why,
                             size_t why_size)
{
    const struct posture_host_api *api = posture_host_api_get();
    int k;

    if (cJSON_IsString(item))
        k = api->evidence_add_str(result, key, item->valuestring);
    else if (cJSON_IsNull(item))
        k = api->evidence_add_str(result, key, NULL);
    else if (cJSON_IsBool(item))
        k = api->evidence_add_bool(result, key, cJSON_IsTrue(item));
    else if (cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        /* The range test comes first (and is false for NaN), so the cast is defined. */
        if (!(v >= -EVIDENCE_INT_MAX && v <= EVIDENCE_INT_MAX) || v != (double) (int64_t) v)
            return explain(why, why_size, "%s: numbers must be integers of at most 2^53", path);
        k = api->evidence_add_int(result, key, (int64_t) v);
    } else if (cJSON_IsArray(item) || cJSON_IsObject(item)) {
        k = cJSON_IsArray(item) ? api->evidence_begin_array(result, key)
                                : api->evidence_begin_object(result, key);
        if (k < 0)
            return evidence_error(k, path, why, why_size);
        k = add_evidence_items(result, item, path, why, why_size);
        if (k < 0)
            return k;
        k = api->evidence_end(result);
    } else
        return explain(why, why_size, "%s: unsupported JSON value", path);
    return k < 0 ? evidence_error(k, path, why, why_size) : 0;
}

static int add_evidence_items(struct posture_result *result,
                              const cJSON *container,
                              const char *path,
                              char *why,
                              size_t why_size)
{
    size_t index = 0;

    for (const cJSON *item = container->child; item; item = item->next, index++) {
        char child[PATH_MAX_LEN];
        path_child(child, path, item, index);
        int k = add_evidence_item(result, item, cJSON_IsObject(container) ? item->string : NULL,
                                  child, why, why_size);
        if (k < 0)
            return k;
    }
    return 0;
}

/* A string member that must be present (or, optional, may be absent or null): NULL if absent. */
static int get_string(
    const cJSON *doc, const char *key, bool optional, const char **ret, char *why, size_t why_size)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(doc, key);

    *ret = NULL;
    if (!item || (optional && cJSON_IsNull(item))) {
        if (optional)
            return 0;
        return explain(why, why_size, "member \"%s\" is missing", key);
    }
    if (!cJSON_IsString(item))
        return explain(why, why_size, "member \"%s\" is not a string", key);
    *ret = item->valuestring;
    return 0;
}

int posture_check_output_parse(const char *buf,
                               size_t len,
                               const char *expected_name,
                               struct posture_result *result,
                               char *why,
                               size_t why_size)
{
    const struct posture_host_api *api = posture_host_api_get();
    posture_auto_cjson cJSON *doc = NULL;
    const char *name, *version, *status_s, *reason, *remediation;
    int r;

    POSTURE_RETURN_IF_FAIL(buf || len == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(expected_name, -EINVAL);
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);

    if (why && why_size > 0)
        why[0] = '\0';
    r = parse_document(buf, len, &doc, why, why_size);
    if (r < 0)
        return r;
    if (!cJSON_IsObject(doc))
        return explain(why, why_size, "output is not a JSON object");

    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(doc, "posture_check");
    if (!schema)
        return explain(why, why_size, "member \"posture_check\" is missing");
    if (!cJSON_IsNumber(schema) || schema->valuedouble != POSTURE_CHECK_OUTPUT_SCHEMA)
        return explain(why, why_size, "unsupported posture_check schema (expected %d)",
                       POSTURE_CHECK_OUTPUT_SCHEMA);

    r = get_string(doc, "name", false, &name, why, why_size);
    if (r < 0)
        return r;
    if (strcmp(name, expected_name) != 0)
        return explain(why, why_size, "name '%.64s' differs from the check id '%s'", name,
                       expected_name);

    r = get_string(doc, "version", false, &version, why, why_size);
    if (r < 0)
        return r;
    if (version[0] == '\0' || strlen(version) > VERSION_MAX)
        return explain(why, why_size, "version is empty or longer than %d bytes", VERSION_MAX);

    r = get_string(doc, "status", false, &status_s, why, why_size);
    if (r < 0)
        return r;
    int status = posture_status_from_string(status_s);
    if (status < 0)
        return explain(why, why_size,
                       "status '%.32s' is not one of pass, warn, fail, not_applicable, error",
                       status_s);

    r = get_string(doc, "reason", false, &reason, why, why_size);
    if (r >= 0)
        r = get_string(doc, "remediation", true, &remediation, why, why_size);
    if (r < 0)
        return r;

    const cJSON *evidence = cJSON_GetObjectItemCaseSensitive(doc, "evidence");
    if (!evidence)
        return explain(why, why_size, "member \"evidence\" is missing");
    if (!cJSON_IsObject(evidence))
        return explain(why, why_size, "member \"evidence\" is not an object");

    char *v = strdup(version);
    if (!v)
        return -ENOMEM;
    free(result->version);
    result->version = v;

    r = api->set_reason(result, "%s", reason);
    if (r >= 0 && remediation)
        r = api->set_remediation(result, "%s", remediation);
    if (r < 0)
        return r == -ENOMEM ? r : explain(why, why_size, "reason or remediation is invalid");

    r = add_evidence_items(result, evidence, "evidence", why, why_size);
    if (r < 0)
        return r;
    return api->set_status(result, (enum posture_status) status);
}

int posture_check_output_format(const struct posture_result *result, char **ret, size_t *ret_len)
{
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_len, -EINVAL);

    const char *status = posture_status_to_string(result->status);
    if (!status)
        return -EINVAL;

    posture_auto_cjson cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return -ENOMEM;
    int k = posture_json_add_int(doc, "posture_check", POSTURE_CHECK_OUTPUT_SCHEMA);
    if (k >= 0)
        k = posture_json_add_str(doc, "name", result->id);
    if (k >= 0)
        k = posture_json_add_str(doc, "version", result->version);
    if (k >= 0)
        k = posture_json_add_str(doc, "status", status);
    if (k >= 0)
        k = posture_json_add_str(doc, "reason", result->reason ? result->reason : "");
    if (k >= 0)
        k = posture_json_add_str(doc, "remediation", result->remediation);
    if (k >= 0) {
        cJSON *evidence =
            result->evidence ? cJSON_Duplicate(result->evidence, true) : cJSON_CreateObject();
        k = evidence ? posture_json_add_item(doc, "evidence", evidence) : -ENOMEM;
    }
    if (k < 0)
        return k;

    char *text = NULL;
    k = posture_json_print(doc, false, &text);
    if (k < 0)
        return k;
    *ret_len = strlen(text);
    *ret = text;
    return 0;
}
