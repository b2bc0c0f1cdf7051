/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Appraisal policies: strict parsing of the JSON documents and evaluation of their evidence
 * conditions (policy.h, docs/policy.md).
 */

#include "policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "posture/cleanup.h"
#include "posture/fileio.h"
#include "posture/hex.h"
#include "posture/json.h"
#include "posture/log.h"
#include "posture/parse.h"

#include "store.h"

static const char *const op_names[POSTURE_POLICY_OP__MAX] = {
    [POSTURE_POLICY_OP_EQ] = "eq",
    [POSTURE_POLICY_OP_NE] = "ne",
    [POSTURE_POLICY_OP_LT] = "lt",
    [POSTURE_POLICY_OP_LE] = "le",
    [POSTURE_POLICY_OP_GT] = "gt",
    [POSTURE_POLICY_OP_GE] = "ge",
    [POSTURE_POLICY_OP_IN] = "in",
    [POSTURE_POLICY_OP_NOT_IN] = "not_in",
    [POSTURE_POLICY_OP_EXISTS] = "exists",
    [POSTURE_POLICY_OP_ABSENT] = "absent",
    [POSTURE_POLICY_OP_TRUE] = "true",
    [POSTURE_POLICY_OP_FALSE] = "false",
    [POSTURE_POLICY_OP_NEWER_THAN] = "newer_than",
};

static const char *const missing_names[POSTURE_POLICY_MISSING__MAX] = {
    [POSTURE_POLICY_MISSING_ERROR] = "error",
    [POSTURE_POLICY_MISSING_FAIL] = "fail",
    [POSTURE_POLICY_MISSING_HOLD] = "hold",
};

const char *posture_policy_op_to_string(enum posture_policy_op op)
{
    if ((int) op < 0 || op >= POSTURE_POLICY_OP__MAX)
        return NULL;
    return op_names[op];
}

enum posture_policy_op posture_policy_op_from_string(const char *s)
{
    if (!s)
        return POSTURE_POLICY_OP__INVALID;
    for (int i = 0; i < POSTURE_POLICY_OP__MAX; i++)
        if (strcmp(op_names[i], s) == 0)
            return (enum posture_policy_op) i;
    return POSTURE_POLICY_OP__INVALID;
}

/* ---- freeing ----------------------------------------------------------------------------- */

static void cond_done(struct posture_policy_cond *c)
{
    free(c->path);
    for (size_t i = 0; i < c->n_tokens; i++)
        free(c->tokens[i]);
    free(c->tokens);
    free(c->wild);
    cJSON_Delete(c->value);
}

static void conds_free(struct posture_policy_cond *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cond_done(&c[i]);
    free(c);
}

static void rule_done(struct posture_policy_rule *r)
{
    free(r->check_id);
    free(r->remediation);
    conds_free(r->decidable, r->n_decidable);
    conds_free(r->evidence, r->n_evidence);
    conds_free(r->not_applicable, r->n_not_applicable);
    conds_free(r->warn, r->n_warn);
}

struct posture_policy *posture_policy_free(struct posture_policy *p)
{
    if (!p)
        return NULL;
    free(p->id);
    free(p->version);
    free(p->description);
    free(p->pk_sha256);
    free(p->db_sha256);
    for (size_t i = 0; i < p->n_rules; i++)
        rule_done(&p->rules[i]);
    free(p->rules);
    free(p);
    return NULL;
}

/* ---- parse context and messages ------------------------------------------------------------ */

struct ctx {
    const char *name;
    char *err;
    size_t err_size;
};

/* Records "NAME: MEMBER: problem" and returns -EBADMSG. */
static int fail(const struct ctx *c, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const struct ctx *c, const char *member, const char *fmt, ...)
{
    va_list ap;
    char msg[POSTURE_POLICY_ERROR_MAX];

    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->err && c->err_size > 0)
        (void) snprintf(c->err, c->err_size, "%s: %s: %s", c->name, member[0] ? member : "/", msg);
    log_debug("policy %s: %s: %s", c->name, member, msg);
    return -EBADMSG;
}

/* A JSON pointer to a member: parent + "/" + escaped key (bounded; truncated text is fine in a
 * message). */
static void member_path(char *buf, size_t size, const char *parent, const char *key)
{
    size_t n = (size_t) snprintf(buf, size, "%s/", parent);

    for (const char *k = key; *k && n + 3 < size; k++) {
        if (*k == '~') {
            buf[n++] = '~';
            buf[n++] = '0';
        } else if (*k == '/') {
            buf[n++] = '~';
            buf[n++] = '1';
        } else
            buf[n++] = *k;
    }
    if (n < size)
        buf[n] = '\0';
}

static void index_path(char *buf, size_t size, const char *parent, size_t i)
{
    (void) snprintf(buf, size, "%s/%zu", parent, i);
}

#define MEMBER_MAX 512

static const char *json_type_name(const cJSON *j)
{
    if (cJSON_IsNull(j))
        return "null";
    if (cJSON_IsBool(j))
        return "a boolean";
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsArray(j))
        return "an array";
    if (cJSON_IsObject(j))
        return "an object";
    return "invalid";
}

/* Every member of obj must be in allowed (NULL-terminated). */
static int
check_members(const struct ctx *c, const char *where, const cJSON *obj, const char *const *allowed)
{
    const cJSON *m;

    cJSON_ArrayForEach(m, obj)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(m->string, allowed[i]) == 0)
                ok = true;
        if (!ok) {
            char member[MEMBER_MAX], list[256] = "";
            size_t n = 0;
            for (size_t i = 0; allowed[i] && n < sizeof(list); i++)
                n += (size_t) snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
                                       allowed[i]);
            member_path(member, sizeof(member), where, m->string);
            return fail(c, member, "unknown member (expected %s)", list);
        }
    }
    return 0;
}

static int get_string(const struct ctx *c,
                      const char *member,
                      const cJSON *j,
                      size_t max,
                      bool allow_empty,
                      char **ret)
{
    if (!cJSON_IsString(j))
        return fail(c, member, "expected a string, got %s", json_type_name(j));
    size_t n = strlen(j->valuestring);
    if (n == 0 && !allow_empty)
        return fail(c, member, "must not be empty");
    if (n > max)
        return fail(c, member, "longer than %zu bytes", max);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) j->valuestring[i] < 0x20 || j->valuestring[i] == 0x7f)
            return fail(c, member, "contains a control character");
    char *s = strdup(j->valuestring);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

static int get_bool(const struct ctx *c, const char *member, const cJSON *j, bool *ret)
{
    if (!cJSON_IsBool(j))
        return fail(c, member, "expected true or false, got %s", json_type_name(j));
    *ret = cJSON_IsTrue(j);
    return 0;
}

/* A UTC time, "2026-12-31T23:00:00Z" or a date "2026-12-31" (its midnight UTC), as epoch
 * seconds, between 2000 and 2200. */
static int get_utc_time(const struct ctx *c, const char *member, const cJSON *j, int64_t *ret)
{
    struct tm tm = { 0 };
    const char *end;
    time_t t;

    if (!cJSON_IsString(j))
        return fail(c, member, "expected a UTC time such as \"2026-12-31T00:00:00Z\", got %s",
                    json_type_name(j));
    end = strptime(j->valuestring, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end) {
        tm = (struct tm){ 0 };
        end = strptime(j->valuestring, "%Y-%m-%d", &tm);
    }
    if (!end || *end || tm.tm_year < 100 || tm.tm_year > 300)
        return fail(c, member,
                    "'%.64s' is not a UTC time (\"2026-12-31T00:00:00Z\") or a date "
                    "(\"2026-12-31\")",
                    j->valuestring);
    t = timegm(&tm);
    if (t == (time_t) -1)
        return fail(c, member, "'%.64s' is not a UTC time", j->valuestring);
    *ret = (int64_t) t;
    return 0;
}

/* A duration string ("15m", "24h", "90s", "7d") in whole seconds, 0..1 year (min_s at least). */
static int
get_duration(const struct ctx *c, const char *member, const cJSON *j, uint64_t min_s, uint64_t *ret)
{
    uint64_t usec;

    if (!cJSON_IsString(j))
        return fail(c, member, "expected a duration string such as \"15m\", got %s",
                    json_type_name(j));
    if (posture_parse_duration_usec(j->valuestring, &usec) < 0)
        return fail(c, member, "'%.64s' is not a duration (use s, m, h, d: \"90s\", \"15m\")",
                    j->valuestring);
    if (usec % 1000000 != 0)
        return fail(c, member, "'%.64s' is not a whole number of seconds", j->valuestring);
    uint64_t s = usec / 1000000;
    if (s < min_s)
        return fail(c, member, "'%.64s' is shorter than %llu s", j->valuestring,
                    (unsigned long long) min_s);
    if (s > POSTURE_POLICY_DURATION_MAX_S)
        return fail(c, member, "'%.64s' is longer than 366 days", j->valuestring);
    *ret = s;
    return 0;
}

static bool id_is_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > POSTURE_POLICY_ID_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == '-'))
            return false;
    }
    return true;
}

static bool version_is_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > POSTURE_POLICY_VERSION_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

/* ---- conditions ---------------------------------------------------------------------------- */

/* Split an RFC 6901 pointer ("/a/b~1c/0", "*" tokens are wildcards). */
static int parse_pointer(const struct ctx *c,
                         const char *member,
                         const char *s,
                         struct posture_policy_cond *cond)
{
    size_t n = strlen(s);

    if (n == 0 || s[0] != '/')
        return fail(c, member, "'%.64s' is not a JSON pointer: it must start with '/'", s);
    if (n > POSTURE_POLICY_POINTER_MAX)
        return fail(c, member, "longer than %d bytes", POSTURE_POLICY_POINTER_MAX);

    size_t n_tokens = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/')
            n_tokens++;
    if (n_tokens > POSTURE_POLICY_POINTER_DEPTH)
        return fail(c, member, "more than %d reference tokens", POSTURE_POLICY_POINTER_DEPTH);

    cond->tokens = calloc(n_tokens, sizeof(char *));
    cond->wild = calloc(n_tokens, sizeof(bool));
    if (!cond->tokens || !cond->wild)
        return -ENOMEM;

    const char *p = s + 1;
    for (size_t t = 0; t < n_tokens; t++) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        char *tok = malloc(len + 1);
        size_t o = 0;
        if (!tok)
            return -ENOMEM;
        cond->tokens[t] = tok;
        cond->n_tokens = t + 1;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '~') {
                if (i + 1 < len && p[i + 1] == '0')
                    tok[o++] = '~';
                else if (i + 1 < len && p[i + 1] == '1')
                    tok[o++] = '/';
                else
                    return fail(c, member, "'~' must be followed by 0 or 1 (RFC 6901)");
                i++;
            } else
                tok[o++] = p[i];
        }
        tok[o] = '\0';
        cond->wild[t] = len == 1 && p[0] == '*';
        p += len + 1;
    }
    return 0;
}

static bool is_scalar(const cJSON *j)
{
    return cJSON_IsString(j) || cJSON_IsNumber(j) || cJSON_IsBool(j) || cJSON_IsNull(j);
}

static int parse_cond(const struct ctx *c,
                      const char *where,
                      const cJSON *obj,
                      struct posture_policy_cond *cond)
{
    static const char *const members[] = { "path", "op", "value", "missing", NULL };
    char member[MEMBER_MAX];
    const cJSON *path, *op, *value, *missing;
    int r;

    if (!cJSON_IsObject(obj))
        return fail(c, where, "expected a condition object {path, op, value}, got %s",
                    json_type_name(obj));
    r = check_members(c, where, obj, members);
    if (r < 0)
        return r;

    path = cJSON_GetObjectItemCaseSensitive(obj, "path");
    member_path(member, sizeof(member), where, "path");
    if (!path)
        return fail(c, member, "missing (a JSON pointer into the check's evidence)");
    r = get_string(c, member, path, POSTURE_POLICY_POINTER_MAX, false, &cond->path);
    if (r < 0)
        return r;
    r = parse_pointer(c, member, cond->path, cond);
    if (r < 0)
        return r;

    op = cJSON_GetObjectItemCaseSensitive(obj, "op");
    member_path(member, sizeof(member), where, "op");
    if (!op)
        return fail(c, member, "missing");
    if (!cJSON_IsString(op))
        return fail(c, member, "expected a string, got %s", json_type_name(op));
    int o = posture_policy_op_from_string(op->valuestring);
    if (o < 0)
        return fail(c, member,
                    "unknown operator '%.32s' (expected eq, ne, lt, le, gt, ge, in, not_in, "
                    "exists, absent, true, false or newer_than)",
                    op->valuestring);
    cond->op = (enum posture_policy_op) o;

    value = cJSON_GetObjectItemCaseSensitive(obj, "value");
    member_path(member, sizeof(member), where, "value");
    switch (cond->op) {
    case POSTURE_POLICY_OP_EQ:
    case POSTURE_POLICY_OP_NE:
        if (!value)
            return fail(c, member, "missing (operator %s compares with a value)", op_names[o]);
        break;
    case POSTURE_POLICY_OP_LT:
    case POSTURE_POLICY_OP_LE:
    case POSTURE_POLICY_OP_GT:
    case POSTURE_POLICY_OP_GE:
        if (!value)
            return fail(c, member, "missing (operator %s compares with a number)", op_names[o]);
        if (!cJSON_IsNumber(value) || !isfinite(value->valuedouble))
            return fail(c, member, "operator %s needs a number, got %s", op_names[o],
                        json_type_name(value));
        break;
    case POSTURE_POLICY_OP_IN:
    case POSTURE_POLICY_OP_NOT_IN: {
        if (!value)
            return fail(c, member, "missing (operator %s needs an array of values)", op_names[o]);
        if (!cJSON_IsArray(value))
            return fail(c, member, "operator %s needs an array, got %s", op_names[o],
                        json_type_name(value));
        int n = cJSON_GetArraySize(value);
        if (n < 1 || n > POSTURE_POLICY_IN_MAX)
            return fail(c, member, "needs 1 to %d values, has %d", POSTURE_POLICY_IN_MAX, n);
        const cJSON *e;
        cJSON_ArrayForEach(e, value)
        {
            if (!is_scalar(e))
                return fail(c, member, "values must be strings, numbers, booleans or null");
        }
        break;
    }
    case POSTURE_POLICY_OP_EXISTS:
    case POSTURE_POLICY_OP_ABSENT:
    case POSTURE_POLICY_OP_TRUE:
    case POSTURE_POLICY_OP_FALSE:
        if (value)
            return fail(c, member, "operator %s takes no value", op_names[o]);
        break;
    case POSTURE_POLICY_OP_NEWER_THAN:
        if (!value)
            return fail(c, member, "missing (operator newer_than needs a duration)");
        r = get_duration(c, member, value, 1, &cond->duration_s);
        if (r < 0)
            return r;
        value = NULL;
        break;
    default:
        return -EINVAL;
    }
    if (value) {
        cond->value = cJSON_Duplicate(value, true);
        if (!cond->value)
            return -ENOMEM;
    }

    missing = cJSON_GetObjectItemCaseSensitive(obj, "missing");
    cond->missing = POSTURE_POLICY_MISSING_ERROR;
    if (missing) {
        member_path(member, sizeof(member), where, "missing");
        if (cond->op == POSTURE_POLICY_OP_EXISTS || cond->op == POSTURE_POLICY_OP_ABSENT)
            return fail(c, member, "not allowed with operator %s, which tests presence itself",
                        op_names[o]);
        if (!cJSON_IsString(missing))
            return fail(c, member, "expected \"error\", \"fail\" or \"hold\", got %s",
                        json_type_name(missing));
        int m = -1;
        for (int i = 0; i < POSTURE_POLICY_MISSING__MAX; i++)
            if (strcmp(missing->valuestring, missing_names[i]) == 0)
                m = i;
        if (m < 0)
            return fail(c, member, "'%.32s' is not one of \"error\", \"fail\", \"hold\"",
                        missing->valuestring);
        cond->missing = (enum posture_policy_missing) m;
    }
    return 0;
}

static int parse_conds(const struct ctx *c,
                       const char *where,
                       const cJSON *arr,
                       struct posture_policy_cond **ret,
                       size_t *ret_n)
{
    struct posture_policy_cond *conds;
    size_t n = 0;
    int r;

    if (!cJSON_IsArray(arr))
        return fail(c, where, "expected an array of conditions, got %s", json_type_name(arr));
    int size = cJSON_GetArraySize(arr);
    if (size > POSTURE_POLICY_CONDS_MAX)
        return fail(c, where, "more than %d conditions", POSTURE_POLICY_CONDS_MAX);
    conds = calloc(size > 0 ? (size_t) size : 1, sizeof(*conds));
    if (!conds)
        return -ENOMEM;

    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        char member[MEMBER_MAX];
        index_path(member, sizeof(member), where, n);
        r = parse_cond(c, member, e, &conds[n]);
        n++;
        if (r < 0) {
            conds_free(conds, n);
            return r;
        }
    }
    *ret = conds;
    *ret_n = n;
    return 0;
}

/* ---- rules and device requirements --------------------------------------------------------- */

static int parse_rule(const struct ctx *c,
                      const char *where,
                      const cJSON *obj,
                      uint64_t default_max_age,
                      struct posture_policy_rule *rule)
{
    static const char *const members[] = {
        "required",  "max_age",  "grace",          "report_only", "report_only_until",
        "decidable", "evidence", "not_applicable", "warn",        "remediation",
        NULL
    };
    char member[MEMBER_MAX];
    const cJSON *j;
    int r;

    if (!cJSON_IsObject(obj))
        return fail(c, where, "expected a rule object, got %s", json_type_name(obj));
    r = check_members(c, where, obj, members);
    if (r < 0)
        return r;

    rule->required = true;
    rule->max_age_s = default_max_age;

    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "required"))) {
        member_path(member, sizeof(member), where, "required");
        if ((r = get_bool(c, member, j, &rule->required)) < 0)
            return r;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "report_only"))) {
        member_path(member, sizeof(member), where, "report_only");
        if ((r = get_bool(c, member, j, &rule->report_only)) < 0)
            return r;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "report_only_until"))) {
        member_path(member, sizeof(member), where, "report_only_until");
        if ((r = get_utc_time(c, member, j, &rule->report_only_until)) < 0)
            return r;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "max_age"))) {
        member_path(member, sizeof(member), where, "max_age");
        if ((r = get_duration(c, member, j, 1, &rule->max_age_s)) < 0)
            return r;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "grace"))) {
        member_path(member, sizeof(member), where, "grace");
        if ((r = get_duration(c, member, j, 0, &rule->grace_s)) < 0)
            return r;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "remediation"))) {
        member_path(member, sizeof(member), where, "remediation");
        if ((r = get_string(c, member, j, POSTURE_POLICY_TEXT_MAX, false, &rule->remediation)) < 0)
            return r;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "decidable"))) {
        member_path(member, sizeof(member), where, "decidable");
        if ((r = parse_conds(c, member, j, &rule->decidable, &rule->n_decidable)) < 0)
            return r;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "evidence"))) {
        member_path(member, sizeof(member), where, "evidence");
        if ((r = parse_conds(c, member, j, &rule->evidence, &rule->n_evidence)) < 0)
            return r;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "not_applicable"))) {
        member_path(member, sizeof(member), where, "not_applicable");
        if ((r = parse_conds(c, member, j, &rule->not_applicable, &rule->n_not_applicable)) < 0)
            return r;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "warn"))) {
        member_path(member, sizeof(member), where, "warn");
        if ((r = parse_conds(c, member, j, &rule->warn, &rule->n_warn)) < 0)
            return r;
    }
    if (rule->n_evidence == 0 && rule->n_warn == 0)
        return fail(c, where,
                    "the rule has no evidence or warn conditions: a verdict would rest on "
                    "nothing (write {\"path\": \"/…\", \"op\": \"exists\"} to require a fact)");
    return 0;
}

static int parse_digests(
    const struct ctx *c, const char *where, const cJSON *arr, uint8_t (**ret)[32], size_t *ret_n)
{
    if (!cJSON_IsArray(arr))
        return fail(c, where,
                    "expected an array of SHA-256 digests (64 lower-case hex digits), got %s",
                    json_type_name(arr));
    int size = cJSON_GetArraySize(arr);
    if (size > POSTURE_POLICY_DIGESTS_MAX)
        return fail(c, where, "more than %d digests", POSTURE_POLICY_DIGESTS_MAX);
    uint8_t(*d)[32] = calloc(size > 0 ? (size_t) size : 1, sizeof(*d));
    if (!d)
        return -ENOMEM;

    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        char member[MEMBER_MAX];
        index_path(member, sizeof(member), where, n);
        if (!cJSON_IsString(e) || strlen(e->valuestring) != 64 ||
            posture_hex_decode_buf(e->valuestring, 64, d[n], 32) != 32) {
            free(d);
            return fail(c, member, "expected a SHA-256 digest: 64 lower-case hex digits");
        }
        for (size_t k = 0; k < n; k++)
            if (memcmp(d[k], d[n], 32) == 0) {
                free(d);
                return fail(c, member, "duplicate digest");
            }
        n++;
    }
    *ret = d;
    *ret_n = n;
    return 0;
}

static int parse_device(const struct ctx *c, const cJSON *obj, struct posture_policy *p)
{
    static const char *const members[] = { "trust_tier", "secure_boot", "pcr_quote",
                                           "pk_sha256",  "db_sha256",   NULL };
    const cJSON *j;
    int r;

    if (!cJSON_IsObject(obj))
        return fail(c, "/device", "expected an object, got %s", json_type_name(obj));
    r = check_members(c, "/device", obj, members);
    if (r < 0)
        return r;

    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "trust_tier"))) {
        if (!cJSON_IsString(j))
            return fail(c, "/device/trust_tier", "expected \"software\" or \"hardware\", got %s",
                        json_type_name(j));
        if (strcmp(j->valuestring, "software") == 0)
            p->trust_tier = POSTURE_POLICY_TIER_SOFTWARE;
        else if (strcmp(j->valuestring, "hardware") == 0)
            p->trust_tier = POSTURE_POLICY_TIER_HARDWARE;
        else
            return fail(c, "/device/trust_tier", "'%.32s' is not \"software\" or \"hardware\"",
                        j->valuestring);
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "secure_boot")) &&
        (r = get_bool(c, "/device/secure_boot", j, &p->secure_boot)) < 0)
        return r;
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "pcr_quote")) &&
        (r = get_bool(c, "/device/pcr_quote", j, &p->pcr_quote)) < 0)
        return r;
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "pk_sha256"))) {
        r = parse_digests(c, "/device/pk_sha256", j, &p->pk_sha256, &p->n_pk_sha256);
        if (r < 0)
            return r;
        p->has_pk_sha256 = true;
    }
    if ((j = cJSON_GetObjectItemCaseSensitive(obj, "db_sha256"))) {
        r = parse_digests(c, "/device/db_sha256", j, &p->db_sha256, &p->n_db_sha256);
        if (r < 0)
            return r;
        p->has_db_sha256 = true;
    }
    /* Event-log facts need accepted TPM evidence: asking for them implies the hardware tier. */
    if ((p->secure_boot || p->has_pk_sha256 || p->has_db_sha256 || p->pcr_quote) &&
        p->trust_tier == POSTURE_POLICY_TIER_SOFTWARE)
        return fail(c, "/device/trust_tier",
                    "\"software\" contradicts secure_boot, pcr_quote and the allow-lists, which "
                    "need TPM evidence (use \"hardware\" or leave trust_tier out)");
    return 0;
}

static int sha256(const void *buf, size_t len, uint8_t out[32])
{
    unsigned int n = 0;

    if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return -EIO;
    return 0;
}

int posture_policy_parse(const char *name,
                         const void *buf,
                         size_t len,
                         struct posture_policy **ret,
                         char *err,
                         size_t err_size)
{
    static const char *const members[] = {
        "id", "version", "description", "max_age", "allow_warning", "device", "checks", NULL
    };
    struct ctx c = { .name = name ? name : "policy", .err = err, .err_size = err_size };
    posture_auto_cjson cJSON *root = NULL;
    posture_auto_policy struct posture_policy *p = NULL;
    const cJSON *j;
    int r;

    if (!buf || !ret)
        return -EINVAL;
    if (err && err_size > 0)
        err[0] = '\0';
    if (len > POSTURE_POLICY_FILE_MAX) {
        (void) fail(&c, "/", "larger than %zu bytes", POSTURE_POLICY_FILE_MAX);
        return -E2BIG;
    }
    r = posture_json_parse(buf, len, POSTURE_POLICY_FILE_MAX, POSTURE_POLICY_JSON_DEPTH, &root);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return fail(&c, "/",
                    "not valid JSON (syntax error, trailing data, duplicate keys or nesting "
                    "deeper than %d)",
                    POSTURE_POLICY_JSON_DEPTH);
    if (!cJSON_IsObject(root))
        return fail(&c, "/", "expected a JSON object, got %s", json_type_name(root));
    r = check_members(&c, "", root, members);
    if (r < 0)
        return r;

    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    if (sha256(buf, len, p->digest) < 0)
        return -EIO;

    j = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (!j)
        return fail(&c, "/id", "missing (the policy's name, e.g. \"baseline\")");
    if ((r = get_string(&c, "/id", j, POSTURE_POLICY_ID_MAX, false, &p->id)) < 0)
        return r;
    if (!id_is_valid(p->id))
        return fail(&c, "/id", "'%s' may only hold a-z, 0-9, '.', '_' and '-'", p->id);

    j = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!j)
        return fail(&c, "/version", "missing (e.g. \"2026.11.1\")");
    if ((r = get_string(&c, "/version", j, POSTURE_POLICY_VERSION_MAX, false, &p->version)) < 0)
        return r;
    if (!version_is_valid(p->version))
        return fail(&c, "/version", "must be printable ASCII without spaces");

    if ((j = cJSON_GetObjectItemCaseSensitive(root, "description")) &&
        (r = get_string(&c, "/description", j, POSTURE_POLICY_TEXT_MAX, true, &p->description)) < 0)
        return r;

    p->allow_warning = true;
    if ((j = cJSON_GetObjectItemCaseSensitive(root, "allow_warning")) &&
        (r = get_bool(&c, "/allow_warning", j, &p->allow_warning)) < 0)
        return r;

    p->max_age_s = POSTURE_POLICY_DEFAULT_MAX_AGE;
    if ((j = cJSON_GetObjectItemCaseSensitive(root, "max_age")) &&
        (r = get_duration(&c, "/max_age", j, 1, &p->max_age_s)) < 0)
        return r;

    if ((j = cJSON_GetObjectItemCaseSensitive(root, "device")) && (r = parse_device(&c, j, p)) < 0)
        return r;

    j = cJSON_GetObjectItemCaseSensitive(root, "checks");
    if (!j)
        return fail(&c, "/checks", "missing (an object with one rule per check id)");
    if (!cJSON_IsObject(j))
        return fail(&c, "/checks", "expected an object, got %s", json_type_name(j));
    int n = cJSON_GetArraySize(j);
    if (n > POSTURE_POLICY_RULES_MAX)
        return fail(&c, "/checks", "more than %d rules", POSTURE_POLICY_RULES_MAX);
    p->rules = calloc(n > 0 ? (size_t) n : 1, sizeof(*p->rules));
    if (!p->rules)
        return -ENOMEM;
    const cJSON *rj;
    cJSON_ArrayForEach(rj, j)
    {
        char member[MEMBER_MAX];
        member_path(member, sizeof(member), "/checks", rj->string);
        if (!posture_check_name_is_valid(rj->string))
            return fail(&c, member,
                        "not a check id ([a-z0-9_] words joined by '.', at most 64 bytes)");
        struct posture_policy_rule *rule = &p->rules[p->n_rules++];
        rule->check_id = strdup(rj->string);
        if (!rule->check_id)
            return -ENOMEM;
        r = parse_rule(&c, member, rj, p->max_age_s, rule);
        if (r < 0)
            return r;
    }

    *ret = POSTURE_TAKE_PTR(p);
    return 0;
}

int posture_policy_load_file(const char *path,
                             struct posture_policy **ret,
                             char *err,
                             size_t err_size)
{
    posture_autoclose int fd = -1;
    posture_autofree char *buf = NULL;
    size_t len = 0;
    int r;

    if (!path || !ret)
        return -EINVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        r = -errno;
        if (err && err_size > 0)
            (void) snprintf(err, err_size, "%s: cannot open: %s", path, strerrordesc_np(-r));
        return r;
    }
    r = posture_read_fd(fd, POSTURE_POLICY_FILE_MAX, &buf, &len);
    if (r < 0) {
        if (err && err_size > 0)
            (void) snprintf(err, err_size, "%s: cannot read: %s", path,
                            r == -EFBIG ? "larger than 256 KiB" : strerrordesc_np(-r));
        return r;
    }
    return posture_policy_parse(path, buf, len, ret, err, err_size);
}

const struct posture_policy_rule *posture_policy_rule_find(const struct posture_policy *p,
                                                           const char *check_id)
{
    if (!p || !check_id)
        return NULL;
    for (size_t i = 0; i < p->n_rules; i++)
        if (strcmp(p->rules[i].check_id, check_id) == 0)
            return &p->rules[i];
    return NULL;
}

bool posture_policy_allows(const struct posture_policy *p, int verdict)
{
    if (!p)
        return false;
    return verdict == POSTURE_STORE_VERDICT_AFFIRMING ||
           (verdict == POSTURE_STORE_VERDICT_WARNING && p->allow_warning);
}

const char *posture_policy_digest_text(const struct posture_policy *p,
                                       char buf[static POSTURE_POLICY_DIGEST_TEXT])
{
    (void) snprintf(buf, POSTURE_POLICY_DIGEST_TEXT, "sha-256:");
    posture_hex_encode_buf(p->digest, 32, buf + 8);
    return buf;
}

/* ---- sets ------------------------------------------------------------------------------------ */

struct posture_policy_set *posture_policy_set_free(struct posture_policy_set *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->n_policies; i++)
        posture_policy_free(s->policies[i]);
    free(s->policies);
    free(s);
    return NULL;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int posture_policy_set_load_dir(const char *dir,
                                struct posture_policy_set **ret,
                                char *err,
                                size_t err_size)
{
    posture_autoclosedir DIR *d = NULL;
    posture_auto_policy_set struct posture_policy_set *set = NULL;
    char *names[POSTURE_POLICY_DIR_MAX];
    size_t n = 0;
    struct dirent *de;
    int r = 0;

    if (!dir || !ret)
        return -EINVAL;
    d = opendir(dir);
    if (!d) {
        r = -errno;
        if (err && err_size > 0)
            (void) snprintf(err, err_size, "%s: cannot open the policy directory: %s", dir,
                            strerrordesc_np(-r));
        return r;
    }
    while ((errno = 0, de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (n == POSTURE_POLICY_DIR_MAX) {
            r = -E2BIG;
            if (err && err_size > 0)
                (void) snprintf(err, err_size, "%s: more than %d policies", dir,
                                POSTURE_POLICY_DIR_MAX);
            goto out;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            r = -ENOMEM;
            goto out;
        }
        n++;
    }
    if (n == 0) {
        r = -ENODATA;
        if (err && err_size > 0)
            (void) snprintf(err, err_size, "%s: no policy (*.json) in the directory", dir);
        goto out;
    }
    qsort(names, n, sizeof(names[0]), cmp_names);

    set = calloc(1, sizeof(*set));
    if (!set || !(set->policies = calloc(n, sizeof(struct posture_policy *)))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct posture_policy *p = NULL;
        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path)) {
            r = -ENAMETOOLONG;
            goto out;
        }
        r = posture_policy_load_file(path, &p, err, err_size);
        if (r < 0 || !p)
            goto out;
        set->policies[set->n_policies++] = p;
        size_t stem = strlen(names[i]) - 5;
        if (strlen(p->id) != stem || strncmp(p->id, names[i], stem) != 0) {
            r = -EBADMSG;
            if (err && err_size > 0)
                (void) snprintf(err, err_size,
                                "%s: /id: '%s' differs from the file name: a policy named X is "
                                "stored as X.json",
                                path, p->id);
            goto out;
        }
    }
    *ret = POSTURE_TAKE_PTR(set);
    r = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return r;
}

const struct posture_policy *posture_policy_set_find(const struct posture_policy_set *s,
                                                     const char *id)
{
    if (!s || !id)
        return NULL;
    for (size_t i = 0; i < s->n_policies; i++)
        if (strcmp(s->policies[i]->id, id) == 0)
            return s->policies[i];
    return NULL;
}

/* ---- evaluation ------------------------------------------------------------------------------ */

static enum posture_policy_result missing_result(const struct posture_policy_cond *c)
{
    switch (c->missing) {
    case POSTURE_POLICY_MISSING_FAIL:
        return POSTURE_POLICY_FAILS;
    case POSTURE_POLICY_MISSING_HOLD:
        return POSTURE_POLICY_HOLDS;
    default:
        return POSTURE_POLICY_UNDECIDED;
    }
}

static void describe(const cJSON *j, char *buf, size_t size)
{
    char *s = NULL;

    if (!j) {
        (void) snprintf(buf, size, "missing");
        return;
    }
    if (posture_json_print(j, false, &s) < 0) {
        (void) snprintf(buf, size, "%s", json_type_name(j));
        return;
    }
    if (strlen(s) > 48)
        (void) snprintf(buf, size, "%.45s...", s);
    else
        (void) snprintf(buf, size, "%s", s);
    free(s);
}

static void explain(const struct posture_policy_cond *c,
                    const cJSON *item,
                    const char *where,
                    char *why,
                    size_t why_size)
{
    char have[64], want[64] = "";

    if (!why || why_size == 0)
        return;
    describe(item, have, sizeof(have));
    if (c->op == POSTURE_POLICY_OP_NEWER_THAN) {
        char d[32];
        (void) snprintf(want, sizeof(want), " %s",
                        posture_format_duration(d, sizeof(d), c->duration_s * 1000000));
    } else if (c->value) {
        want[0] = ' ';
        describe(c->value, want + 1, sizeof(want) - 1);
    }
    (void) snprintf(why, why_size, "%s is %s; the policy requires %s%s", where, have,
                    op_names[c->op], want);
}

static enum posture_policy_result
eval_leaf(const struct posture_policy_cond *c, const cJSON *item, int64_t observed_at)
{
    bool present = item && !cJSON_IsNull(item);

    switch (c->op) {
    case POSTURE_POLICY_OP_EXISTS:
        return present ? POSTURE_POLICY_HOLDS : POSTURE_POLICY_FAILS;
    case POSTURE_POLICY_OP_ABSENT:
        return present ? POSTURE_POLICY_FAILS : POSTURE_POLICY_HOLDS;
    default:
        break;
    }
    if (!item)
        return missing_result(c);

    switch (c->op) {
    case POSTURE_POLICY_OP_EQ:
        return cJSON_Compare(item, c->value, true) ? POSTURE_POLICY_HOLDS : POSTURE_POLICY_FAILS;
    case POSTURE_POLICY_OP_NE:
        return cJSON_Compare(item, c->value, true) ? POSTURE_POLICY_FAILS : POSTURE_POLICY_HOLDS;
    case POSTURE_POLICY_OP_IN:
    case POSTURE_POLICY_OP_NOT_IN: {
        bool found = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, c->value)
        {
            if (cJSON_Compare(item, e, true))
                found = true;
        }
        return found == (c->op == POSTURE_POLICY_OP_IN) ? POSTURE_POLICY_HOLDS
                                                        : POSTURE_POLICY_FAILS;
    }
    case POSTURE_POLICY_OP_TRUE:
    case POSTURE_POLICY_OP_FALSE:
        if (!cJSON_IsBool(item))
            return missing_result(c);
        return cJSON_IsTrue(item) == (c->op == POSTURE_POLICY_OP_TRUE) ? POSTURE_POLICY_HOLDS
                                                                       : POSTURE_POLICY_FAILS;
    case POSTURE_POLICY_OP_NEWER_THAN: {
        if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
            return missing_result(c);
        double limit = (double) observed_at - (double) c->duration_s;
        return item->valuedouble >= limit ? POSTURE_POLICY_HOLDS : POSTURE_POLICY_FAILS;
    }
    default: {
        if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
            return missing_result(c);
        double a = item->valuedouble, b = c->value->valuedouble;
        bool ok = c->op == POSTURE_POLICY_OP_LT   ? a < b
                  : c->op == POSTURE_POLICY_OP_LE ? a <= b
                  : c->op == POSTURE_POLICY_OP_GT ? a > b
                                                  : a >= b;
        return ok ? POSTURE_POLICY_HOLDS : POSTURE_POLICY_FAILS;
    }
    }
}

/* An array index token: decimal without leading zeros. */
static bool parse_index(const char *t, size_t *ret)
{
    uint64_t v;

    if (!t[0] || (t[0] == '0' && t[1]) || t[0] < '0' || t[0] > '9')
        return false;
    if (posture_parse_u64(t, &v) < 0 || v > INT32_MAX)
        return false;
    *ret = (size_t) v;
    return true;
}

static enum posture_policy_result eval_at(const struct posture_policy_cond *c,
                                          const cJSON *node,
                                          size_t t,
                                          int64_t observed_at,
                                          char *where,
                                          size_t where_len,
                                          char *why,
                                          size_t why_size)
{
    size_t base = strlen(where);

    if (t == c->n_tokens || !node) {
        const cJSON *item = t == c->n_tokens ? node : NULL;
        enum posture_policy_result r = eval_leaf(c, item, observed_at);
        if (r != POSTURE_POLICY_HOLDS)
            explain(c, item, base > 0 ? where : c->path, why, why_size);
        return r;
    }
    if (c->wild[t]) {
        enum posture_policy_result worst = POSTURE_POLICY_HOLDS;
        size_t i = 0;
        const cJSON *e;
        if (!cJSON_IsArray(node))
            return eval_at(c, NULL, t, observed_at, where, where_len, why, why_size);
        cJSON_ArrayForEach(e, node)
        {
            char tmp[POSTURE_POLICY_ERROR_MAX];
            (void) snprintf(where + base, where_len - base, "/%zu", i++);
            enum posture_policy_result r =
                eval_at(c, e, t + 1, observed_at, where, where_len, tmp, sizeof(tmp));
            where[base] = '\0';
            if (r == POSTURE_POLICY_FAILS ||
                (r == POSTURE_POLICY_UNDECIDED && worst == POSTURE_POLICY_HOLDS)) {
                if (why && why_size > 0 && worst != POSTURE_POLICY_FAILS)
                    (void) snprintf(why, why_size, "%s", tmp);
                worst = r;
            }
        }
        return worst;
    }

    const cJSON *next = NULL;
    size_t idx;
    (void) snprintf(where + base, where_len - base, "/%s", c->tokens[t]);
    if (cJSON_IsObject(node))
        next = cJSON_GetObjectItemCaseSensitive(node, c->tokens[t]);
    else if (cJSON_IsArray(node) && parse_index(c->tokens[t], &idx) &&
             idx < (size_t) cJSON_GetArraySize(node))
        next = cJSON_GetArrayItem(node, (int) idx);
    enum posture_policy_result r =
        eval_at(c, next, next ? t + 1 : t, observed_at, where, where_len, why, why_size);
    where[base] = '\0';
    return r;
}

enum posture_policy_result posture_policy_cond_eval(const struct posture_policy_cond *c,
                                                    const cJSON *evidence,
                                                    int64_t observed_at,
                                                    char *why,
                                                    size_t why_size)
{
    char where[POSTURE_POLICY_POINTER_MAX + 64] = "";

    if (why && why_size > 0)
        why[0] = '\0';
    if (!c)
        return POSTURE_POLICY_UNDECIDED;
    return eval_at(c, evidence, 0, observed_at, where, sizeof(where), why, why_size);
}
