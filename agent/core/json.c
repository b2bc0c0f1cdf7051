/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posture/utf8.h"

/*
 * cJSON stores every number as a double: integers beyond +-2^53 cannot be represented
 * exactly, so posture_json_get_int refuses them (-ERANGE) along with non-integral values
 * (-EINVAL). Printing is tighter still: cJSON writes a double with 15 significant digits when
 * its own (relative) comparison calls that close enough, which silently rounds some integers
 * between 2^52 and 2^53 (6164246370218979 prints as 6.16424637021898e+15). So
 * posture_json_add_int refuses values beyond +-2^52 rather than emit a wrong number; larger
 * quantities belong in strings.
 */
#define JSON_INT_MAX     ((int64_t) 1 << 53)
#define JSON_INT_ADD_MAX ((int64_t) 1 << 52)

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Length of the JSON number at p (RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?),
 * or 0 if the text there is not one. cJSON would take "01", "1." and "-01" too.
 */
static size_t json_number_length(const unsigned char *p, size_t n)
{
    size_t i = 0;

    if (i < n && p[i] == '-')
        i++;
    if (i >= n || !is_digit(p[i]))
        return 0;
    if (p[i] == '0') {
        i++;
    } else {
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i < n && p[i] == '.') {
        i++;
        if (i >= n || !is_digit(p[i]))
            return 0;
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= n || !is_digit(p[i]))
            return 0;
        while (i < n && is_digit(p[i]))
            i++;
    }
    /* A number runs up to a delimiter; "1.5.5" or "01" leave number characters behind. */
    if (i < n &&
        (is_digit(p[i]) || p[i] == '.' || p[i] == '-' || p[i] == '+' || p[i] == 'e' || p[i] == 'E'))
        return 0;
    return i;
}

/*
 * The length of the run of string bytes at p that need no attention (printable ASCII other than
 * '"' and '\\'): most of every string, base64 blobs of tens of KiB among them, eight bytes per
 * step. The bytes after the run are looked at one by one.
 */
static size_t plain_run(const unsigned char *p, size_t n)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    size_t i = 0;

    while (n - i >= 8) {
        uint64_t v, q, b;

        memcpy(&v, p + i, sizeof(v));
        q = v ^ (ones * '"');
        b = v ^ (ones * '\\');
        /* a zero byte in q or b, a byte below 0x20, a byte from 0x80 (exact for "any byte") */
        if ((((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v) | v) & highs)
            break;
        i += 8;
    }
    while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
        i++;
    return i;
}

/*
 * A lexical pass before cJSON sees the input, for what cJSON itself lets through: control
 * characters inside strings and outside as "whitespace" (cJSON skips every byte <= 0x20),
 * NUL bytes, invalid UTF-8, and the escape \u0000 (cJSON strings are NUL-terminated, so it
 * would silently cut a key or value short), and numbers outside the JSON grammar. It also
 * refuses nesting beyond max_depth before cJSON recurses into it.
 */
static int json_prescan(const char *buf, size_t len, unsigned max_depth)
{
    const unsigned char *p = (const unsigned char *) buf;
    bool in_string = false;
    unsigned depth = 0;

    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (in_string) {
            if (c == '"') {
                in_string = false;
                i++;
            } else if (c == '\\') {
                if (i + 1 >= len)
                    return -EBADMSG;
                if (p[i + 1] == 'u' && len - i >= 6 && memcmp(p + i + 2, "0000", 4) == 0)
                    return -EBADMSG;
                /* The escaped character itself is checked by cJSON; skip the pair. */
                if (p[i + 1] < 0x20 || p[i + 1] >= 0x80)
                    return -EBADMSG;
                i += 2;
            } else if (c < 0x20) {
                return -EBADMSG;
            } else if (c < 0x80) {
                i++;
                i += plain_run(p + i, len - i);
            } else {
                size_t k = posture_utf8_sequence_length(buf + i, len - i);
                if (k == 0)
                    return -EBADMSG;
                i += k;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            break;
        case '[':
        case '{':
            if (++depth > max_depth)
                return -EBADMSG;
            break;
        case ']':
        case '}':
            if (depth > 0)
                depth--;
            break;
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            break;
        default:
            if (c == '-' || is_digit(c)) {
                size_t k = json_number_length(p + i, len - i);
                if (k == 0)
                    return -EBADMSG;
                i += k;
                continue;
            }
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
                /* A literal (true, false, null); cJSON checks the spelling. */
                while (i < len && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')))
                    i++;
                continue;
            }
            if (c < 0x20 || c >= 0x7f)
                return -EBADMSG;
            break;
        }
        i++;
    }
    return 0;
}

struct key_scratch {
    const char **keys;
    size_t cap;
};

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Sorts the object's keys and compares neighbours: O(n log n) per object. */
static int object_check_duplicates(const cJSON *obj, struct key_scratch *s)
{
    size_t n = 0;

    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    if (n < 2)
        return 0;
    if (n > s->cap) {
        if (n > SIZE_MAX / sizeof(char *))
            return -ENOMEM;
        const char **k = realloc(s->keys, n * sizeof(char *));
        if (!k)
            return -ENOMEM;
        s->keys = k;
        s->cap = n;
    }
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!c->string)
            return -EBADMSG;
        s->keys[i++] = c->string;
    }
    qsort(s->keys, n, sizeof(char *), compare_keys);
    for (i = 1; i < n; i++)
        if (strcmp(s->keys[i - 1], s->keys[i]) == 0)
            return -EBADMSG;
    return 0;
}

/* Depth counts containers: a top-level array or object is depth 1. */
static int
json_check_tree(const cJSON *item, unsigned depth, unsigned max_depth, struct key_scratch *s)
{
    /* A number too large for a double parses as infinity and would print as null. */
    if (cJSON_IsNumber(item) && !isfinite(item->valuedouble))
        return -EBADMSG;
    if (!cJSON_IsArray(item) && !cJSON_IsObject(item))
        return 0;
    if (++depth > max_depth)
        return -EBADMSG;
    if (cJSON_IsObject(item)) {
        int r = object_check_duplicates(item, s);
        if (r < 0)
            return r;
    }
    for (const cJSON *c = item->child; c; c = c->next) {
        int r = json_check_tree(c, depth, max_depth, s);
        if (r < 0)
            return r;
    }
    return 0;
}

int posture_json_parse(const char *buf, size_t len, size_t max_len, unsigned max_depth, cJSON **ret)
{
    if (!buf || !ret)
        return -EINVAL;
    if (len > max_len)
        return -E2BIG;
    if (max_depth == 0)
        max_depth = POSTURE_JSON_MAX_DEPTH_DEFAULT;
    if (max_depth > CJSON_NESTING_LIMIT)
        max_depth = CJSON_NESTING_LIMIT;

    int r = json_prescan(buf, len, max_depth);
    if (r < 0)
        return r;

    /* Give cJSON a NUL-terminated copy so that nothing in it can read past our input. */
    posture_autofree char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, buf, len);
    copy[len] = '\0';

    const char *end = NULL;
    /* cJSON reports allocation failures like syntax errors; both become -EBADMSG. */
    posture_auto_cjson cJSON *root = cJSON_ParseWithLengthOpts(copy, len, &end, false);
    if (!root || !end || end < copy || end > copy + len)
        return -EBADMSG;
    for (const char *p = end; p < copy + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return -EBADMSG;

    struct key_scratch s = { 0 };
    r = json_check_tree(root, 0, max_depth, &s);
    free(s.keys);
    if (r < 0)
        return r;

    *ret = POSTURE_TAKE_PTR(root);
    return 0;
}

/* Adds item under key, freeing item on any failure. */
int posture_json_add_item(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return -ENOMEM;
    if (!cJSON_IsObject(obj) || !key || item == obj) {
        cJSON_Delete(item);
        return -EINVAL;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
        cJSON_Delete(item);
        return -EEXIST;
    }
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return -ENOMEM;
    }
    return 0;
}

int posture_json_add_str(cJSON *obj, const char *key, const char *value)
{
    return posture_json_add_item(obj, key, value ? cJSON_CreateString(value) : cJSON_CreateNull());
}

int posture_json_add_int(cJSON *obj, const char *key, int64_t value)
{
    if (value > JSON_INT_ADD_MAX || value < -JSON_INT_ADD_MAX)
        return -ERANGE;
    return posture_json_add_item(obj, key, cJSON_CreateNumber((double) value));
}

int posture_json_add_bool(cJSON *obj, const char *key, bool value)
{
    return posture_json_add_item(obj, key, cJSON_CreateBool(value));
}

int posture_json_add_null(cJSON *obj, const char *key)
{
    return posture_json_add_item(obj, key, cJSON_CreateNull());
}

int posture_json_append(cJSON *array, cJSON *item)
{
    if (!item)
        return -ENOMEM;
    if (!cJSON_IsArray(array) || item == array) {
        cJSON_Delete(item);
        return -EINVAL;
    }
    if (!cJSON_AddItemToArray(array, item)) {
        cJSON_Delete(item);
        return -ENOMEM;
    }
    return 0;
}

int posture_json_append_str(cJSON *array, const char *value)
{
    return posture_json_append(array, value ? cJSON_CreateString(value) : cJSON_CreateNull());
}

static const cJSON *get_member(const cJSON *obj, const char *key)
{
    if (!cJSON_IsObject(obj) || !key)
        return NULL;
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

const char *posture_json_get_str(const cJSON *obj, const char *key)
{
    const cJSON *item = get_member(obj, key);
    return item && cJSON_IsString(item) ? item->valuestring : NULL;
}

int posture_json_get_int(const cJSON *obj, const char *key, int64_t *ret)
{
    if (!cJSON_IsObject(obj) || !key || !ret)
        return -EINVAL;
    const cJSON *item = get_member(obj, key);
    if (!item)
        return -ENOENT;
    if (!cJSON_IsNumber(item))
        return -EINVAL;
    double d = item->valuedouble;
    if (isnan(d))
        return -EINVAL;
    if (d > (double) JSON_INT_MAX || d < -(double) JSON_INT_MAX)
        return -ERANGE;
    /* In range, so the conversion is defined; it is exact only for integral values. */
    int64_t v = (int64_t) d;
    if ((double) v != d)
        return -EINVAL;
    *ret = v;
    return 0;
}

int posture_json_get_bool(const cJSON *obj, const char *key, bool *ret)
{
    if (!cJSON_IsObject(obj) || !key || !ret)
        return -EINVAL;
    const cJSON *item = get_member(obj, key);
    if (!item)
        return -ENOENT;
    if (!cJSON_IsBool(item))
        return -EINVAL;
    *ret = cJSON_IsTrue(item);
    return 0;
}

/*
 * cJSON_Print indents with tabs and writes ":\t" after keys. Raw tabs never occur inside
 * JSON strings (cJSON escapes them as \t), so every tab in its output is layout: a tab right
 * after ':' becomes one space, every other (leading) tab two spaces.
 */
static char *reindent(const char *in)
{
    size_t tabs = 0, n = 0;

    for (const char *p = in; *p; p++, n++)
        if (*p == '\t')
            tabs++;
    /* Each tab becomes at most two bytes; plus the newline and the NUL. */
    if (tabs > SIZE_MAX - n - 2)
        return NULL;
    char *out = malloc(n + tabs + 2);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = in; *p; p++) {
        if (*p != '\t') {
            *o++ = *p;
        } else if (p > in && p[-1] == ':') {
            *o++ = ' ';
        } else {
            *o++ = ' ';
            *o++ = ' ';
        }
    }
    *o++ = '\n';
    *o = '\0';
    return out;
}

int posture_json_print(const cJSON *item, bool pretty, char **ret)
{
    if (!item || !ret)
        return -EINVAL;
    if (!pretty) {
        char *s = cJSON_PrintUnformatted(item);
        if (!s)
            return -ENOMEM;
        *ret = s;
        return 0;
    }
    char *raw = cJSON_Print(item);
    if (!raw)
        return -ENOMEM;
    char *s = reindent(raw);
    cJSON_free(raw);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}
