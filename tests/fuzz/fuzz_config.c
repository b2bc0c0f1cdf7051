/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the INI parser (config.h): any bytes are parsed; accepted input is applied to the
 * agent's table, dumped, and the dump re-parsed. The effective values must survive the round
 * trip and a second dump must be identical: a difference is a real bug and traps. Nothing
 * else aborts, whatever the input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posture/agent_config.h"
#include "posture/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void discard(int level, const char *file, unsigned line, const char *message, void *userdata)
{
    (void) level;
    (void) file;
    (void) line;
    (void) message;
    (void) userdata;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Every key of a has the same effective value in b, and b has no key a lacks. */
static bool same_effective(const struct posture_config *a, const struct posture_config *b)
{
    for (size_t i = 0; i < posture_config_count(a); i++) {
        const struct posture_config_entry *e = posture_config_entry_at(a, i);
        if (!str_eq(posture_config_get(a, e->section, e->key),
                    posture_config_get(b, e->section, e->key)))
            return false;
    }
    for (size_t i = 0; i < posture_config_count(b); i++) {
        const struct posture_config_entry *e = posture_config_entry_at(b, i);
        if (!posture_config_get(a, e->section, e->key))
            return false;
    }
    return true;
}

static void exercise_apply(const struct posture_config *c)
{
    struct posture_agent_config cfg;

    if (posture_agent_config_init(&cfg) < 0)
        return;
    (void) posture_agent_config_apply(&cfg, c);
    posture_agent_config_done(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    posture_auto_config struct posture_config *c = NULL;
    posture_auto_config struct posture_config *again = NULL;
    posture_autofree char *dump = NULL;
    posture_autofree char *dump2 = NULL;

    if (posture_config_new(discard, NULL, &c) < 0)
        return 0;
    if (posture_config_parse_string(c, (const char *) data, size, "fuzz.conf") < 0)
        return 0;
    exercise_apply(c);

    /* The dump of an input of up to half the file limit fits the limit (a dump line is at
     * most about 1.5 times as long as the shortest line that produced it). */
    if (size > POSTURE_CONFIG_FILE_MAX / 2)
        return 0;
    if (posture_config_dump(c, &dump) < 0 || posture_config_new(discard, NULL, &again) < 0)
        return 0; /* out of memory */

    int r = posture_config_parse_string(again, dump, strlen(dump), "dump.conf");
    if (r == -ENOMEM)
        return 0;
    if (r < 0 || !same_effective(c, again))
        __builtin_trap(); /* the dump does not read back as the same configuration */
    if (posture_config_dump(again, &dump2) < 0)
        return 0;
    if (strcmp(dump, dump2) != 0)
        __builtin_trap(); /* dumping is not idempotent */
    return 0;
}
