/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnftables, loaded for each run of net.firewall and unloaded after it (see firewall.h):
 * libnftables and what only it needs (libnftnl, libmnl, libxtables, libjansson, libgmp) are
 * 1.2 MB of resident pages that an idle postured would otherwise keep between cycles, and
 * that every `posturectl check --only` of another check would map for nothing.
 */

#include "net_firewall/nft_dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LIBNFTABLES_SONAME "libnftables.so.1"

/* dlsym's void * to a function pointer, through memcpy (ISO C has no direct conversion). */
static int sym(void *h, const char *name, void *fnptr, size_t size, char *why, size_t why_len)
{
    void *p = dlsym(h, name);

    if (!p) {
        (void) snprintf(why, why_len, "%s: no symbol %s", LIBNFTABLES_SONAME, name);
        return -1;
    }
    memcpy(fnptr, &p, size);
    return 0;
}

#define SYM(name, field) sym(h, (name), &api->field, sizeof(api->field), why, why_len)

int posture_fw_nft_load(struct posture_fw_nft_api *api, char *why, size_t why_len)
{
    void *h;

    *api = (struct posture_fw_nft_api){ 0 };
    h = dlopen(LIBNFTABLES_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        (void) snprintf(why, why_len, "%s", e ? e : LIBNFTABLES_SONAME ": cannot be loaded");
        return -ENOENT;
    }
    if (SYM("nft_ctx_new", ctx_new) < 0 || SYM("nft_ctx_free", ctx_free) < 0 ||
        SYM("nft_ctx_output_set_flags", ctx_output_set_flags) < 0 ||
        SYM("nft_ctx_buffer_output", ctx_buffer_output) < 0 ||
        SYM("nft_ctx_buffer_error", ctx_buffer_error) < 0 ||
        SYM("nft_run_cmd_from_buffer", run_cmd_from_buffer) < 0 ||
        SYM("nft_ctx_get_output_buffer", ctx_get_output_buffer) < 0 ||
        SYM("nft_ctx_get_error_buffer", ctx_get_error_buffer) < 0) {
        (void) dlclose(h);
        *api = (struct posture_fw_nft_api){ 0 };
        return -ENOENT;
    }
    api->handle = h;
    return 0;
}

void posture_fw_nft_unload(struct posture_fw_nft_api *api)
{
    if (api && api->handle)
        (void) dlclose(api->handle);
    if (api)
        *api = (struct posture_fw_nft_api){ 0 };
}
