/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_json_parse with small limits. Any input may be refused, but only with the documented
 * errors; whatever is accepted must print and parse back to the same document, in both the
 * compact and the pretty form. A broken invariant aborts, which is how the fuzzer reports it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posture/json.h"

#define FUZZ_MAX_LEN   (64 * 1024)
#define FUZZ_MAX_DEPTH 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Print item, parse the text back and check it is the same document; returns the compact text
 * of the re-parsed copy (or NULL when memory ran out). */
static char *round_trip(const cJSON *item, bool pretty)
{
    char *text = NULL;
    cJSON *again = NULL;
    char *compact = NULL;

    int r = posture_json_print(item, pretty, &text);
    if (r == -ENOMEM)
        return NULL;
    if (r < 0)
        abort();
    r = posture_json_parse(text, strlen(text), SIZE_MAX, FUZZ_MAX_DEPTH, &again);
    if (r == -ENOMEM) {
        free(text);
        return NULL;
    }
    if (r < 0 || !cJSON_Compare(item, again, true))
        abort();
    if (posture_json_print(again, false, &compact) < 0)
        compact = NULL;
    cJSON_Delete(again);
    free(text);
    return compact;
}

static void exercise_getters(const cJSON *obj)
{
    if (!cJSON_IsObject(obj))
        return;
    for (const cJSON *c = obj->child; c; c = c->next) {
        int64_t i;
        bool b;
        (void) posture_json_get_str(obj, c->string);
        int r = posture_json_get_int(obj, c->string, &i);
        if (r == -ENOENT)
            abort(); /* every key we iterate exists */
        r = posture_json_get_bool(obj, c->string, &b);
        if (r == 0 && !cJSON_IsBool(c))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *root = NULL;

    int r = posture_json_parse((const char *) data, size, FUZZ_MAX_LEN, FUZZ_MAX_DEPTH, &root);
    if (r < 0) {
        if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM)
            abort();
        if (root)
            abort(); /* ret is written only on success */
        return 0;
    }
    if (!root || size > FUZZ_MAX_LEN)
        abort();

    exercise_getters(root);

    char *first = NULL;
    if (posture_json_print(root, false, &first) == 0) {
        /* Printing is stable: the compact text of the re-parsed document is the same text. */
        char *compact = round_trip(root, false);
        char *pretty = round_trip(root, true);
        if ((compact && strcmp(compact, first) != 0) || (pretty && strcmp(pretty, first) != 0))
            abort();
        free(compact);
        free(pretty);
        free(first);
    }
    cJSON_Delete(root);
    return 0;
}
