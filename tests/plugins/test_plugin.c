/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared-object checks for the loader and runner tests (tests/plugins/CMakeLists.txt): one
 * source, built once per behaviour with PLUGIN_<KIND> defined and PLUGIN_NAME the check id (the
 * module is <PLUGIN_NAME>.so). Most of them are hostile on purpose.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "posture/check.h"

__attribute__((unused)) static const struct posture_option options[] = {
    { POSTURE_OPTION_STRING, "greeting", "hello", "what to put in the evidence" },
    { POSTURE_OPTION_INT, "count", "1", "how many" },
    { 0, NULL, NULL, NULL },
};

#if defined(PLUGIN_BAD_OPTIONS)
static const struct posture_option bad_options[] = {
    { POSTURE_OPTION_STRING, "Not-A-Key", NULL, "refused" },
    { 0, NULL, NULL, NULL },
};
#endif

__attribute__((unused)) static int
run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    (void) state;

#if defined(PLUGIN_CRASH)
    (void) result;
    (void) api;
    (void) raise(SIGSEGV);
    return 0;
#elif defined(PLUGIN_LOOP)
    (void) result;
    (void) api;
    for (volatile unsigned long i = 0; i < ~0ul; i++)
        if (i == ~0ul - 1)
            i = 0;
    return 0;
#elif defined(PLUGIN_FLOOD)
    /* 100 MB on stdout (the child's stdout is the agent's debug log pipe, capped), then more
     * evidence than the result pipe may carry. */
    static char line[4000];
    memset(line, 'x', sizeof(line) - 1);
    for (int i = 0; i < 25000; i++)
        if (fwrite(line, 1, sizeof(line), stdout) != sizeof(line))
            break;
    (void) fflush(stdout);
    for (int i = 0; i < 40; i++) {
        char key[16];
        (void) snprintf(key, sizeof(key), "k%d", i);
        (void) api->evidence_add_str(result, key, line);
    }
    (void) api->set_reason(result, "flooded");
    return api->set_status(result, POSTURE_STATUS_PASS);
#elif defined(PLUGIN_EXIT)
    (void) result;
    (void) api;
    _exit(0); /* leaves without a result */
#elif defined(PLUGIN_EACCES)
    (void) api->set_reason(result, "cannot read the secret");
    return -EACCES;
#else
    const char *greeting = NULL;
    int64_t count = 0;
    int r = api->option_get_str(ctx, "greeting", &greeting);
    if (r >= 0)
        r = api->option_get_int(ctx, "count", &count);
    if (r < 0)
        return r;
    (void) api->evidence_add_str(result, "greeting", greeting);
    (void) api->evidence_add_int(result, "count", count);
    (void) api->evidence_add_int(result, "pid", (int64_t) getpid());
    (void) api->evidence_add_str(result, "root", ctx->root_path);
    (void) api->set_reason(result, "%s from a plugin", greeting);
    (void) api->set_remediation(result, "nothing to do");
    return api->set_status(result, POSTURE_STATUS_WARN);
#endif
}

#if defined(PLUGIN_TRUNCATED)
/* A descriptor from a much older world: only the header exists. */
static const struct {
    uint16_t abi_major, abi_minor;
    uint32_t struct_size;
} desc = { POSTURE_CHECK_ABI_MAJOR, 0, 8 };
#else
static const struct posture_check_desc desc = {
#if defined(PLUGIN_ABI)
    .abi_major = POSTURE_CHECK_ABI_MAJOR + 1,
    .abi_minor = 0,
    .struct_size = sizeof(struct posture_check_desc),
#else
    POSTURE_CHECK_DESC_HEADER,
#endif
    .name = PLUGIN_DESC_NAME,
    .version = "3.1.4",
    .summary = "a test plugin",
    .flags = POSTURE_CHECK_NEEDS_ROOT | POSTURE_CHECK_SLOW,
#if defined(PLUGIN_BAD_OPTIONS)
    .options = bad_options,
#else
    .options = options,
#endif
    .run = run,
};
#endif

#if !defined(PLUGIN_NO_ENTRY)
POSTURE_CHECK_EXPORT const struct posture_check_desc *posture_check_entry(void)
{
    return (const struct posture_check_desc *) (const void *) &desc;
}
#else
/* Exports something, just not the entry point. */
POSTURE_CHECK_EXPORT int posture_check_entry_misspelt(void);
POSTURE_CHECK_EXPORT int posture_check_entry_misspelt(void)
{
    return desc.run == run;
}
#endif
