/* SPDX-License-Identifier: Apache-2.0 */
/*
 * example.kernel_taint: a shared-object posture check, built out of tree against the installed
 * SDK (see README.md and Makefile). It reads /proc/sys/kernel/tainted through the agent, so
 * `posturectl check --root DIR` works on it like on a built-in, and passes when the kernel is
 * not tainted beyond the bits the `allow` option permits.
 *
 * Everything the check does to its result goes through ctx->api; it allocates nothing of the
 * agent's and links nothing of ours. Only posture_check_entry is exported (-fvisibility=hidden).
 */
#include <posture/check.h>
#include <stdint.h>
#include <stdlib.h>

/* Taint bits worth naming in the evidence (Documentation/admin-guide/tainted-kernels.rst). */
static const struct {
    unsigned bit;
    const char *name;
} taints[] = {
    { 0, "proprietary_module" }, { 1, "forced_module" },  { 5, "bad_page" },
    { 7, "kernel_died" },        { 9, "kernel_warning" }, { 12, "out_of_tree_module" },
    { 13, "unsigned_module" },   { 14, "soft_lockup" },   { 15, "live_patched" },
};

static const struct posture_option options[] = {
    { POSTURE_OPTION_INT, "allow", "0",
      "taint bits that still pass, as a number (e.g. 4096 allows out-of-tree modules)" },
    { 0, NULL, NULL, NULL },
};

static int run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    char *buf = NULL, *end = NULL;
    size_t len = 0;
    int64_t allow = 0;
    int r;

    (void) state;
    r = api->option_get_int(ctx, "allow", &allow);
    if (r < 0)
        return r;
    r = api->read_file_at(ctx, "/proc/sys/kernel/tainted", 64, &buf, &len);
    if (r == -ENOENT) {
        (void) api->set_reason(result, "this system has no /proc/sys/kernel/tainted");
        return api->set_status(result, POSTURE_STATUS_NOT_APPLICABLE);
    }
    if (r < 0) {
        (void) api->set_reason(result, "cannot read /proc/sys/kernel/tainted");
        return r;
    }
    unsigned long long tainted = strtoull(buf, &end, 10);
    int bad_number = end == buf;
    api->free_buf(buf);
    if (bad_number) {
        (void) api->set_reason(result, "/proc/sys/kernel/tainted is not a number");
        return -EBADMSG;
    }

    (void) api->evidence_add_int(result, "tainted", (int64_t) (tainted & 0xffffffffull));
    r = api->evidence_begin_array(result, "reasons");
    for (size_t i = 0; r >= 0 && i < sizeof(taints) / sizeof(taints[0]); i++)
        if (tainted & (1ull << taints[i].bit))
            r = api->evidence_add_str(result, NULL, taints[i].name);
    if (r >= 0)
        r = api->evidence_end(result);
    if (r < 0)
        return r;

    unsigned long long denied = tainted & ~(unsigned long long) allow;
    if (denied == 0) {
        (void) api->set_reason(result, tainted ? "the kernel is tainted only as allowed"
                                               : "the kernel is not tainted");
        return api->set_status(result, POSTURE_STATUS_PASS);
    }
    (void) api->set_reason(result, "the kernel is tainted (flags %llu)", denied);
    (void) api->set_remediation(result, "Reboot without out-of-tree or unsigned modules, or "
                                        "allow the flags in [check.example.kernel_taint] allow.");
    return api->set_status(result, POSTURE_STATUS_FAIL);
}

static const struct posture_check_desc desc = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "example.kernel_taint", /* the file must be example.kernel_taint.so */
    .version = "1.0.0",
    .summary = "The running kernel is not tainted (example .so check)",
    .flags = 0,
    .options = options,
    .run = run,
};

POSTURE_CHECK_EXPORT const struct posture_check_desc *posture_check_entry(void)
{
    return &desc;
}
