/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the TCG event-log parser, replay and Secure Boot rules (attest/eventlog.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "posture/eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    posture_auto_eventlog struct posture_eventlog *log = NULL;
    posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = NULL;
    struct posture_eventlog_problem problem;
    uint8_t zero[POSTURE_EVENTLOG_MAX_DIGEST] = { 0 };
    size_t total = 0;

    if (posture_eventlog_parse(data, size, &log, &problem) < 0) {
        (void) posture_eventlog_reason_to_string(problem.reason);
        return 0;
    }
    /* Touch every digest and event so a bad pointer shows up under ASan. */
    for (size_t i = 0; i < log->n_events; i++) {
        const struct posture_eventlog_event *e = &log->events[i];
        for (size_t b = 0; b < log->n_banks; b++)
            if (e->digests[b])
                total += e->digests[b][log->banks[b].digest_size - 1];
        if (e->data_len > 0)
            total += e->data[e->data_len - 1];
    }
    for (size_t b = 0; b < log->n_banks; b++)
        (void) posture_eventlog_compare_pcr(log, log->banks[b].alg, 0, zero,
                                            log->banks[b].digest_size, &problem);

    if (posture_eventlog_secure_boot(log, &sb, &problem) < 0)
        return 0;
    for (size_t i = 0; i < sb->n_config; i++)
        total += strlen(sb->config[i].name) + (sb->config[i].data_len ? sb->config[i].data[0] : 0);
    for (size_t i = 0; i < sb->n_authorities; i++)
        total += strlen(sb->authorities[i].name);
    for (size_t i = 0; i < sb->n_warnings; i++)
        total += strlen(posture_eventlog_warning_to_string(sb->warnings[i].code));
    (void) total;
    return 0;
}
