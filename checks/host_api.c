/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host API table (check.h): the only way a check touches its result, its options and the
 * host's files. Every entry point checks its arguments, because plugins call it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/log.h"
#include "posture/parse.h"
#include "posture/registry.h"
#include "posture/result.h"
#include "posture/strbuf.h"
#include "posture/strv.h"
#include "posture/time_util.h"
#include "posture/utf8.h"

#include "host.h"

/* A NUL-terminated copy of s[0..n) with every invalid UTF-8 byte replaced by U+FFFD: check text
 * leaves the agent as JSON, which must be valid UTF-8. */
static char *utf8_sanitized(const char *s, size_t n)
{
    posture_auto_strbuf struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);
    if (posture_utf8_append_sanitized(&sb, s, n) < 0)
        return NULL;
    return posture_strbuf_steal(&sb);
}

/* ---- Result text ---- */

__attribute__((format(printf, 2, 0))) static int
set_text(char **slot, const char *format, va_list ap)
{
    char buf[POSTURE_RESULT_TEXT_MAX];

    int n = vsnprintf(buf, sizeof(buf), format, ap);
    if (n < 0)
        return -EINVAL;
    size_t len = strlen(buf);
    if ((size_t) n >= sizeof(buf)) {
        /* Truncated: do not leave half a UTF-8 sequence at the end. */
        size_t start = len;
        while (start > 0 && ((unsigned char) buf[start - 1] & 0xc0) == 0x80 && len - start < 3)
            start--;
        if (start > 0 && (unsigned char) buf[start - 1] >= 0xc0 &&
            posture_utf8_sequence_length(buf + start - 1, len - start + 1) == 0)
            len = start - 1;
    }

    char *s = utf8_sanitized(buf, len);
    if (!s)
        return -ENOMEM;
    free(*slot);
    *slot = s;
    return 0;
}

static int host_set_status(struct posture_result *result, enum posture_status status)
{
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);
    POSTURE_RETURN_IF_FAIL((int) status >= 0 && status < POSTURE_STATUS__MAX, -EINVAL);

    result->status = status;
    return 0;
}

__attribute__((format(printf, 2, 3))) static int
host_set_reason(struct posture_result *result, const char *format, ...)
{
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);
    POSTURE_RETURN_IF_FAIL(format, -EINVAL);

    va_list ap;
    va_start(ap, format);
    int r = set_text(&result->reason, format, ap);
    va_end(ap);
    return r;
}

__attribute__((format(printf, 2, 3))) static int
host_set_remediation(struct posture_result *result, const char *format, ...)
{
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);
    POSTURE_RETURN_IF_FAIL(format, -EINVAL);

    va_list ap;
    va_start(ap, format);
    int r = set_text(&result->remediation, format, ap);
    va_end(ap);
    return r;
}

/* ---- Evidence ---- */

/*
 * Where the next value goes: the innermost open container, with key rules (objects need a new
 * key, arrays none) and the item budget checked before anything is built.
 */
static int
evidence_slot(struct posture_result *r, const char *key, size_t items, cJSON **ret_container)
{
    POSTURE_RETURN_IF_FAIL(
        r->evidence_depth >= 1 && r->evidence_depth <= POSTURE_EVIDENCE_DEPTH_MAX, -EINVAL);

    cJSON *container = r->evidence_stack[r->evidence_depth - 1];
    if (cJSON_IsObject(container)) {
        if (!key)
            return -EINVAL;
        size_t n = strnlen(key, POSTURE_EVIDENCE_KEY_MAX + 1);
        if (n == 0 || n > POSTURE_EVIDENCE_KEY_MAX || !posture_utf8_is_valid(key, n))
            return -EINVAL;
        if (cJSON_GetObjectItemCaseSensitive(container, key))
            return -EEXIST;
    } else if (key)
        return -EINVAL;

    if (items > POSTURE_EVIDENCE_ITEMS_MAX - r->evidence_items)
        return -E2BIG;
    *ret_container = container;
    return 0;
}

/* Attach item (owned; freed on failure) to container under key. */
static int evidence_attach(
    struct posture_result *r, cJSON *container, const char *key, cJSON *item, size_t items)
{
    if (!item)
        return -ENOMEM;
    int k = cJSON_IsObject(container) ? posture_json_add_item(container, key, item)
                                      : posture_json_append(container, item);
    if (k < 0)
        return k;
    r->evidence_items += (unsigned) items;
    return 0;
}

/* A JSON string for value (NULL: JSON null), bounded and made valid UTF-8. */
static int evidence_string(const char *value, cJSON **ret)
{
    if (!value) {
        *ret = cJSON_CreateNull();
        return *ret ? 0 : -ENOMEM;
    }
    size_t n = strnlen(value, POSTURE_EVIDENCE_STR_MAX + 1);
    if (n > POSTURE_EVIDENCE_STR_MAX)
        return -E2BIG;
    posture_autofree char *clean = utf8_sanitized(value, n);
    if (!clean)
        return -ENOMEM;
    *ret = cJSON_CreateString(clean);
    return *ret ? 0 : -ENOMEM;
}

static int host_evidence_add_str(struct posture_result *result, const char *key, const char *value)
{
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);

    cJSON *container, *item;
    int k = evidence_slot(result, key, 1, &container);
    if (k < 0)
        return k;
    k = evidence_string(value, &item);
    if (k < 0)
        return k;
    return evidence_attach(result, container, key, item, 1);
}

static int host_evidence_add_int(struct posture_result *result, const char *key, int64_t value)
{
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);

    cJSON *container;
    int k = evidence_slot(result, key, 1, &container);
    if (k < 0)
        return k;
    return evidence_attach(result, container, key, cJSON_CreateNumber((double) value), 1);
}

static int host_evidence_add_bool(struct posture_result *result, const char *key, bool value)
{
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);

    cJSON *container;
    int k = evidence_slot(result, key, 1, &container);
    if (k < 0)
        return k;
    return evidence_attach(result, container, key, cJSON_CreateBool(value), 1);
}

static int host_evidence_add_strv(struct posture_result *result,
                                  const char *key,
                                  const char *const *values,
                                  size_t n)
{
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);
    POSTURE_RETURN_IF_FAIL(values || n == 0, -EINVAL);

    if (n > POSTURE_EVIDENCE_STRV_MAX)
        return -E2BIG;
    for (size_t i = 0; i < n; i++)
        if (!values[i])
            return -EINVAL;

    cJSON *container;
    int k = evidence_slot(result, key, n + 1, &container);
    if (k < 0)
        return k;

    posture_auto_cjson cJSON *array = cJSON_CreateArray();
    if (!array)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        cJSON *item;
        k = evidence_string(values[i], &item);
        if (k < 0)
            return k;
        k = posture_json_append(array, item);
        if (k < 0)
            return k;
    }
    return evidence_attach(result, container, key, POSTURE_TAKE_PTR(array), n + 1);
}

static int evidence_begin(struct posture_result *result, const char *key, bool object)
{
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);

    if (result->evidence_depth >= POSTURE_EVIDENCE_DEPTH_MAX)
        return -E2BIG;
    cJSON *container;
    int k = evidence_slot(result, key, 1, &container);
    if (k < 0)
        return k;
    cJSON *item = object ? cJSON_CreateObject() : cJSON_CreateArray();
    k = evidence_attach(result, container, key, item, 1);
    if (k < 0)
        return k;
    result->evidence_stack[result->evidence_depth++] = item;
    return 0;
}

static int host_evidence_begin_object(struct posture_result *result, const char *key)
{
    return evidence_begin(result, key, true);
}

static int host_evidence_begin_array(struct posture_result *result, const char *key)
{
    return evidence_begin(result, key, false);
}

static int host_evidence_end(struct posture_result *result)
{
    POSTURE_RETURN_IF_FAIL(result, -EINVAL);
    POSTURE_RETURN_IF_FAIL(result->evidence_depth <= POSTURE_EVIDENCE_DEPTH_MAX, -EINVAL);

    if (result->evidence_depth <= 1)
        return -EINVAL; /* nothing open: the evidence object itself is never closed */
    result->evidence_stack[--result->evidence_depth] = NULL;
    return 0;
}

/* ---- Options ---- */

int posture_check_section(const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "check.%s", name);
    if (n < 0 || (size_t) n >= size)
        return -ENAMETOOLONG;
    return 0;
}

int posture_option_value_check(enum posture_option_type type,
                               const char *value,
                               const char **ret_why)
{
    const char *why = NULL;
    int r = 0;
    bool b;
    int64_t i;
    uint64_t u;

    if (!value)
        return -EINVAL;
    switch (type) {
    case POSTURE_OPTION_STRING:
    case POSTURE_OPTION_STRV:
        break;
    case POSTURE_OPTION_BOOL:
        r = posture_parse_bool(value, &b);
        why = "expected a boolean (yes/no, true/false, on/off, 1/0)";
        break;
    case POSTURE_OPTION_INT:
        r = posture_parse_i64(value, &i);
        why = r == -ERANGE ? "integer out of range" : "expected an integer";
        break;
    case POSTURE_OPTION_DURATION:
        r = posture_parse_duration_usec(value, &u);
        why = r == -ERANGE ? "duration out of range"
                           : "expected a duration such as 30s, 5m, 1h or 7d";
        break;
    case POSTURE_OPTION_SIZE:
        r = posture_parse_size(value, &u);
        why = r == -ERANGE ? "size out of range" : "expected a size such as 4096, 64K, 8M or 1G";
        break;
    default:
        r = -EINVAL;
        why = "unknown option type";
        break;
    }
    if (r < 0 && ret_why)
        *ret_why = why;
    return r < 0 ? r : 0;
}

int posture_host_data_init(struct posture_host_data *h,
                           const struct posture_check_desc *desc,
                           const struct posture_config *config)
{
    char section[POSTURE_CHECK_SECTION_MAX];

    POSTURE_RETURN_IF_FAIL(h, -EINVAL);
    POSTURE_RETURN_IF_FAIL(desc && desc->name, -EINVAL);

    *h = (struct posture_host_data){ .desc = desc };
    h->name = strdup(desc->name);
    if (!h->name)
        return -ENOMEM;
    int r = posture_check_section(desc->name, section, sizeof(section));
    if (r < 0)
        goto fail;

    size_t n = 0;
    while (desc->options && desc->options[n].key)
        n++;
    if (n > 0) {
        h->options = calloc(n, sizeof(h->options[0]));
        if (!h->options) {
            r = -ENOMEM;
            goto fail;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct posture_option *row = &desc->options[i];
        const char *value = config ? posture_config_get(config, section, row->key) : NULL;
        if (!value)
            value = row->default_value;
        char *copy = NULL;
        if (value && !(copy = strdup(value))) {
            r = -ENOMEM;
            goto fail;
        }
        h->options[i].row = row;
        h->options[i].value = copy;
        h->n_options = i + 1;
    }
    return 0;

fail:
    posture_host_data_done(h);
    return r;
}

void posture_host_data_done(struct posture_host_data *h)
{
    if (!h)
        return;
    for (size_t i = 0; h->options && i < h->n_options; i++) {
        free(h->options[i].value);
        (void) posture_strv_free(h->options[i].strv);
    }
    free(h->options);
    free(h->name);
    *h = (struct posture_host_data){ 0 };
}

/* The option key of the running check, if its type is one of types (a bit mask). */
static int option_value(const struct posture_check_ctx *ctx,
                        const char *key,
                        unsigned types,
                        struct posture_host_option **ret)
{
    POSTURE_RETURN_IF_FAIL(ctx, -EINVAL);
    POSTURE_RETURN_IF_FAIL(key, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ctx->host_data, -EINVAL);

    struct posture_host_data *h = ctx->host_data;
    for (size_t i = 0; i < h->n_options; i++) {
        struct posture_host_option *o = &h->options[i];
        if (strcmp(o->row->key, key) != 0)
            continue;
        if (!(types & (1u << o->row->type)))
            return -EINVAL;
        if (!o->value)
            return -ENODATA;
        *ret = o;
        return 0;
    }
    return -ENOENT;
}

static int
host_option_get_str(const struct posture_check_ctx *ctx, const char *key, const char **ret)
{
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    struct posture_host_option *o;
    int r = option_value(ctx, key, 1u << POSTURE_OPTION_STRING, &o);
    if (r < 0)
        return r;
    *ret = o->value;
    return 0;
}

static int host_option_get_bool(const struct posture_check_ctx *ctx, const char *key, bool *ret)
{
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    struct posture_host_option *o;
    int r = option_value(ctx, key, 1u << POSTURE_OPTION_BOOL, &o);
    if (r < 0)
        return r;
    return posture_parse_bool(o->value, ret);
}

static int host_option_get_int(const struct posture_check_ctx *ctx, const char *key, int64_t *ret)
{
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    struct posture_host_option *o;
    int r = option_value(ctx, key, 1u << POSTURE_OPTION_INT, &o);
    if (r < 0)
        return r;
    return posture_parse_i64(o->value, ret);
}

static int host_option_get_u64(const struct posture_check_ctx *ctx, const char *key, uint64_t *ret)
{
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    struct posture_host_option *o;
    int r =
        option_value(ctx, key, (1u << POSTURE_OPTION_DURATION) | (1u << POSTURE_OPTION_SIZE), &o);
    if (r < 0)
        return r;
    if (o->row->type == POSTURE_OPTION_DURATION)
        return posture_parse_duration_usec(o->value, ret);
    return posture_parse_size(o->value, ret);
}

static int host_option_get_strv(const struct posture_check_ctx *ctx,
                                const char *key,
                                const char *const **ret,
                                size_t *ret_n)
{
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    struct posture_host_option *o;
    int r = option_value(ctx, key, 1u << POSTURE_OPTION_STRV, &o);
    if (r < 0)
        return r;
    if (!o->strv) {
        r = posture_strv_split(o->value, " \t\r\n", &o->strv);
        if (r < 0)
            return r;
        o->n_strv = (size_t) r;
    }
    *ret = (const char *const *) o->strv;
    if (ret_n)
        *ret_n = o->n_strv;
    return 0;
}

/* ---- Files, logging, time ---- */

static int host_read_file_at(const struct posture_check_ctx *ctx,
                             const char *path,
                             size_t max,
                             char **ret_buf,
                             size_t *ret_len)
{
    POSTURE_RETURN_IF_FAIL(ctx, -EINVAL);
    POSTURE_RETURN_IF_FAIL(path, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_buf, -EINVAL);

    if (posture_now_usec(CLOCK_MONOTONIC) >= ctx->deadline_usec)
        return -ETIMEDOUT;
    return posture_read_file_at(ctx->root_fd, path, max, ret_buf, ret_len);
}

static void host_free_buf(void *buf)
{
    free(buf);
}

__attribute__((format(printf, 2, 3))) static void
host_log_debug(const struct posture_check_ctx *ctx, const char *format, ...)
{
    char buf[POSTURE_RESULT_TEXT_MAX];

    if (!format || !posture_log_level_enabled(LOG_DEBUG))
        return;
    const struct posture_host_data *h = ctx ? ctx->host_data : NULL;

    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(buf, sizeof(buf), format, ap);
    va_end(ap);
    if (n < 0)
        return;
    log_debug("check/%s: %s", h && h->name ? h->name : "?", buf);
}

static uint64_t host_now_usec(void)
{
    return posture_now_usec(CLOCK_MONOTONIC);
}

static const struct posture_host_api host_api = {
    .abi_major = POSTURE_CHECK_ABI_MAJOR,
    .abi_minor = POSTURE_CHECK_ABI_MINOR,
    .struct_size = sizeof(struct posture_host_api),
    .set_status = host_set_status,
    .set_reason = host_set_reason,
    .set_remediation = host_set_remediation,
    .evidence_add_str = host_evidence_add_str,
    .evidence_add_int = host_evidence_add_int,
    .evidence_add_bool = host_evidence_add_bool,
    .evidence_add_strv = host_evidence_add_strv,
    .evidence_begin_object = host_evidence_begin_object,
    .evidence_begin_array = host_evidence_begin_array,
    .evidence_end = host_evidence_end,
    .option_get_str = host_option_get_str,
    .option_get_bool = host_option_get_bool,
    .option_get_int = host_option_get_int,
    .option_get_u64 = host_option_get_u64,
    .option_get_strv = host_option_get_strv,
    .read_file_at = host_read_file_at,
    .free_buf = host_free_buf,
    .log_debug = host_log_debug,
    .now_usec = host_now_usec,
};

const struct posture_host_api *posture_host_api_get(void)
{
    return &host_api;
}
