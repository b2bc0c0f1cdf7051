/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_policy_parse on arbitrary input, and every policy that parses is used: its conditions
 * are evaluated on a fixed evidence object, and a fixed report is appraised under it. Refusals
 * must be -EBADMSG/-E2BIG with a message that names the input ("fuzz: /..."), and an accepted
 * policy must appraise to one of the four ear.status values. A broken invariant aborts. Seeds:
 * tests/fuzz/corpus/policy (the shipped policies and small documents for every member and op).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posture/json.h"

#include "appraise.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char evidence_text[] =
    "{\"pending_security_updates\":0,\"reboot_required\":false,\"lists_updated_at\":1795620000,"
    "\"unencrypted\":[],\"mounts\":[{\"mountpoint\":\"/\",\"encrypted\":true,\"layers\":[\"part\","
    "\"crypt:luks2\"]},{\"mountpoint\":\"/home\",\"encrypted\":null}],\"swap\":[],"
    "\"id\":\"debian\",\"version_id\":\"12\",\"uefi\":true,\"secure_boot\":true,\"setup_mode\":"
    "false,\"audit_mode\":null,\"synchronized\":true,\"max_error_us\":12000,\"a/b\":{\"~\":[1,"
    "2.5,\"x\"]}}";

static cJSON *report_claims(const cJSON *evidence)
{
    static const char *const ids[] = { "os.release",       "os.patch_level", "disk.encryption",
                                       "boot.secure_boot", "time.sync",      "a.b" };
    cJSON *c = cJSON_CreateObject(), *posture = cJSON_CreateObject(), *arr = cJSON_CreateArray();

    if (!c || !posture || !arr) {
        cJSON_Delete(c);
        cJSON_Delete(posture);
        cJSON_Delete(arr);
        return NULL;
    }
    (void) posture_json_add_str(c, "sub", "dev");
    (void) posture_json_add_int(c, "iat", 1795620000);
    (void) posture_json_add_str(c, "eat_nonce", "AAAAAAAAAAA");
    (void) posture_json_add_item(c, "posture", posture);
    (void) posture_json_add_item(posture, "checks", arr);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        cJSON *r = cJSON_CreateObject();
        (void) posture_json_append(arr, r);
        (void) posture_json_add_str(r, "id", ids[i]);
        (void) posture_json_add_str(r, "status", "pass");
        (void) posture_json_add_int(r, "observed_at", 1795620000 - (int64_t) i * 300);
        (void) posture_json_add_item(r, "evidence", cJSON_Duplicate(evidence, true));
    }
    return c;
}

static void use(const struct posture_policy *p)
{
    cJSON *evidence = NULL, *claims;
    struct posture_appraisal *a = NULL, *b = NULL;
    struct posture_store_device dev = { .id = "dev", .tier = POSTURE_STORE_TIER_SOFTWARE };
    char why[POSTURE_POLICY_ERROR_MAX];

    if (posture_json_parse(evidence_text, sizeof(evidence_text) - 1, 4096, 8, &evidence) < 0)
        abort();
    for (size_t i = 0; i < p->n_rules; i++) {
        const struct posture_policy_rule *r = &p->rules[i];
        const struct posture_policy_cond *lists[] = { r->decidable, r->evidence, r->not_applicable,
                                                      r->warn };
        const size_t ns[] = { r->n_decidable, r->n_evidence, r->n_not_applicable, r->n_warn };
        for (size_t l = 0; l < 4; l++)
            for (size_t k = 0; k < ns[l]; k++) {
                enum posture_policy_result res =
                    posture_policy_cond_eval(&lists[l][k], evidence, 1795620000, why, sizeof(why));
                if (res != POSTURE_POLICY_HOLDS && res != POSTURE_POLICY_FAILS &&
                    res != POSTURE_POLICY_UNDECIDED)
                    abort();
                if (res != POSTURE_POLICY_HOLDS && why[0] == '\0')
                    abort(); /* a refusal always says why */
            }
    }

    claims = report_claims(evidence);
    if (claims) {
        struct posture_appraise_input in = {
            .claims = claims, .device = &dev, .now = 1795620100, .nonce = "AAAAAAAAAAA"
        };
        if (posture_appraise(p, &in, &a) == 0) {
            if (a->status < 0 || a->status >= POSTURE_STORE_VERDICT__MAX ||
                a->n_checks > p->n_rules)
                abort();
            /* Grace state fed back in must not change the verdict for the worse. */
            in.previous = a;
            if (posture_appraise(p, &in, &b) == 0 && b->status > a->status &&
                a->status != POSTURE_STORE_VERDICT_NONE)
                abort();
        }
        posture_appraisal_free(a);
        posture_appraisal_free(b);
        cJSON_Delete(claims);
    }
    cJSON_Delete(evidence);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_policy *p = NULL;
    char err[POSTURE_POLICY_ERROR_MAX] = "";
    int r;

    r = posture_policy_parse("fuzz", data, size, &p, err, sizeof(err));
    if (r < 0) {
        if (p)
            abort();
        if ((r == -EBADMSG || r == -E2BIG) && strncmp(err, "fuzz: ", 6) != 0)
            abort();
        if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM)
            abort();
        return 0;
    }
    if (!p || !p->id || !p->version)
        abort();
    use(p);
    posture_policy_free(p);
    return 0;
}
