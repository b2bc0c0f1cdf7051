/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the nft JSON ruleset parser and the evaluator of net.firewall. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net_firewall/firewall.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_fw_ruleset rs;
    struct posture_fw_report rep;
    char buf[1024];

    if (posture_fw_parse_nft_json((const char *) data, size, &rs) < 0)
        return 0;
    const struct posture_fw_ruleset *sets[] = { &rs };
    /* The IPv6 flag from the input, so both ways are reached. */
    if (posture_fw_evaluate(sets, 1, size > 0 && (data[size - 1] & 1), &rep) == 0) {
        size_t total = 0;
        for (int af = 0; af < POSTURE_FW_AF__MAX; af++)
            total += strlen(posture_fw_explain(&rep, af, buf, sizeof(buf)));
        for (size_t i = 0; i < rep.n_chains; i++)
            total += strlen(
                posture_fw_chain_name(rep.chains[i].rs, rep.chains[i].chain, buf, sizeof(buf)));
        (void) total;
        posture_fw_report_done(&rep);
    }
    posture_fw_ruleset_done(&rs);
    return 0;
}
