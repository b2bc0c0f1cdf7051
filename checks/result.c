/* SPDX-License-Identifier: Apache-2.0 */
/* Check results: allocation and the DESIGN.md §6 JSON form. */
#include "posture/result.h"

#include <stdlib.h>
#include <string.h>

#include "posture/err.h"
#include "posture/json.h"
#include "posture/registry.h"

int posture_result_new(const char *id, const char *version, struct posture_result **ret)
{
    POSTURE_RETURN_IF_FAIL(id, -EINVAL);
    POSTURE_RETURN_IF_FAIL(version, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    posture_auto_result struct posture_result *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->status = POSTURE_STATUS__INVALID;
    r->id = strdup(id);
    r->version = strdup(version);
    r->evidence = cJSON_CreateObject();
    if (!r->id || !r->version || !r->evidence)
        return -ENOMEM;
    r->evidence_stack[0] = r->evidence;
    r->evidence_depth = 1;

    *ret = POSTURE_TAKE_PTR(r);
    return 0;
}

struct posture_result *posture_result_free(struct posture_result *r)
{
    if (!r)
        return NULL;
    free(r->id);
    free(r->version);
    free(r->reason);
    free(r->remediation);
    cJSON_Delete(r->evidence);
    free(r);
    return NULL;
}

int posture_result_to_json(const struct posture_result *r, cJSON **ret)
{
    POSTURE_RETURN_IF_FAIL(r, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    const char *status = posture_status_to_string(r->status);
    if (!status)
        return -EINVAL; /* the runner sets a status before anyone serialises a result */

    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    if (!o)
        return -ENOMEM;

    /* Remediation says what to do when something is wrong; a pass needs none. */
    bool needs_remediation =
        r->status != POSTURE_STATUS_PASS && r->status != POSTURE_STATUS_NOT_APPLICABLE;

    int k = posture_json_add_str(o, "id", r->id);
    if (k >= 0)
        k = posture_json_add_str(o, "version", r->version);
    if (k >= 0)
        k = posture_json_add_str(o, "status", status);
    if (k >= 0)
        k = posture_json_add_str(o, "reason", r->reason);
    if (k >= 0)
        k = posture_json_add_str(o, "remediation", needs_remediation ? r->remediation : NULL);
    if (k >= 0) {
        cJSON *evidence = r->evidence ? cJSON_Duplicate(r->evidence, true) : cJSON_CreateObject();
        k = evidence ? posture_json_add_item(o, "evidence", evidence) : -ENOMEM;
    }
    if (k >= 0)
        k = posture_json_add_int(o, "observed_at", (int64_t) r->observed_at);
    if (k >= 0)
        k = cJSON_AddNumberToObject(o, "duration_ms", (double) r->duration_usec / 1000.0) ? 0
                                                                                          : -ENOMEM;
    if (k < 0)
        return k;

    *ret = POSTURE_TAKE_PTR(o);
    return 0;
}
