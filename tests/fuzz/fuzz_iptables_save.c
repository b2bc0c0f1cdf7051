/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the iptables-save parser and the evaluator of net.firewall. */
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

    /* The first byte picks the family, so both parsers' labels are reached. */
    enum posture_fw_source src = size > 0 && (data[0] & 1) ? POSTURE_FW_SOURCE_IP6TABLES_LEGACY
                                                           : POSTURE_FW_SOURCE_IPTABLES_LEGACY;
    if (posture_fw_parse_iptables_save((const char *) data, size, src, &rs) < 0)
        return 0;
    const struct posture_fw_ruleset *sets[] = { &rs };
    if (posture_fw_evaluate(sets, 1, false, &rep) == 0) {
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
