/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Small helpers on cJSON. Every parse of outside input is bounded in size and nesting depth;
 * duplicate object keys are refused (cJSON would silently keep both).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "posture/cleanup.h"

POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete)
#define posture_auto_cjson POSTURE_CLEANUP(cJSON_Deletep)

#define POSTURE_JSON_MAX_DEPTH_DEFAULT 32

/*
 * Parse exactly len bytes (no NUL needed) as one JSON value with nothing but whitespace after it.
 * Errors: -E2BIG when len > max_len, -EBADMSG for syntax errors, trailing data, depth beyond
 * max_depth or duplicate keys, -ENOMEM. Depth counts arrays and objects (a top-level container
 * is depth 1); max_depth 0 means POSTURE_JSON_MAX_DEPTH_DEFAULT. Also refused as -EBADMSG:
 * invalid UTF-8, raw control characters and the escape \u0000 (cJSON strings end at NUL).
 */
int posture_json_parse(
    const char *buf, size_t len, size_t max_len, unsigned max_depth, cJSON **ret);

/* Adders return 0, -ENOMEM, -EEXIST when key already exists, or -EINVAL when obj is not an
 * object. value NULL adds a JSON null. cJSON numbers are doubles and its printer rounds some
 * integers above 2^52: posture_json_add_int refuses values beyond +-2^52 with -ERANGE instead
 * (put those in strings). */
int posture_json_add_str(cJSON *obj, const char *key, const char *value);
int posture_json_add_int(cJSON *obj, const char *key, int64_t value);
int posture_json_add_bool(cJSON *obj, const char *key, bool value);
int posture_json_add_null(cJSON *obj, const char *key);
/* Adds (takes ownership of) item under key, also on failure (then item is freed). */
int posture_json_add_item(cJSON *obj, const char *key, cJSON *item);
/* Appends item to array, also freeing it on failure. */
int posture_json_append(cJSON *array, cJSON *item);
int posture_json_append_str(cJSON *array, const char *value);

/* Getters: NULL / -ENOENT when missing, NULL / -EINVAL when of another type. Borrowed.
 * posture_json_get_int gives -EINVAL for a non-integral number and -ERANGE beyond +-2^53. */
const char *posture_json_get_str(const cJSON *obj, const char *key);
int posture_json_get_int(const cJSON *obj, const char *key, int64_t *ret);
int posture_json_get_bool(const cJSON *obj, const char *key, bool *ret);

/* Serialise; the caller frees *ret (-ENOMEM). pretty: two-space indentation and a trailing
 * newline; compact: one line, no newline. */
int posture_json_print(const cJSON *item, bool pretty, char **ret);
