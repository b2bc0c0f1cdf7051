/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * libnftables through dlopen(), for one run of net.firewall (nft_dl.c says why). Only the
 * types come from <nftables/libnftables.h>; nothing links against the library.
 */

#include <stddef.h>
#include <stdint.h>

#include <nftables/libnftables.h>

struct posture_fw_nft_api {
    void *handle;
    struct nft_ctx *(*ctx_new)(uint32_t flags);
    void (*ctx_free)(struct nft_ctx *ctx);
    void (*ctx_output_set_flags)(struct nft_ctx *ctx, unsigned int flags);
    int (*ctx_buffer_output)(struct nft_ctx *ctx);
    int (*ctx_buffer_error)(struct nft_ctx *ctx);
    int (*run_cmd_from_buffer)(struct nft_ctx *ctx, const char *buf);
    const char *(*ctx_get_output_buffer)(struct nft_ctx *ctx);
    const char *(*ctx_get_error_buffer)(struct nft_ctx *ctx);
};

/* Load libnftables.so.1 and fill *api: 0, or -ENOENT with dlerror's text (or the missing
 * symbol) in why. */
int posture_fw_nft_load(struct posture_fw_nft_api *api, char *why, size_t why_len);
/* dlclose() it (NULL-safe, idempotent); *api is zeroed. */
void posture_fw_nft_unload(struct posture_fw_nft_api *api);
