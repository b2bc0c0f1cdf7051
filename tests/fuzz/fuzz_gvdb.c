/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the GVDB reader of screen.lock (dconf databases, which users write and the agent
 * reads as root). The input is one database; the keys screen.lock reads are looked up in it and
 * in its ".locks" table, with both value decoders.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "screen_lock/gvdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {
        "/org/gnome/desktop/screensaver/lock-enabled",
        "/org/gnome/desktop/session/idle-delay",
        "/org/gnome/desktop/screensaver/lock-delay",
        "/org/gnome/desktop/lockdown/disable-lock-screen",
        "/",
        "",
    };
    struct posture_gvdb_table root, locks;
    char type[8];

    if (posture_gvdb_open(data, size, &root) < 0)
        return 0;
    bool have_locks = posture_gvdb_get_table(&root, ".locks", &locks) == 0;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        bool b;
        uint32_t u;
        (void) posture_gvdb_get_bool(&root, keys[i], &b, type, sizeof(type));
        (void) posture_gvdb_get_u32(&root, keys[i], &u, type, sizeof(type));
        (void) posture_gvdb_has_key(&root, keys[i]);
        if (have_locks) {
            (void) posture_gvdb_has_key(&locks, keys[i]);
            (void) posture_gvdb_get_u32(&locks, keys[i], &u, NULL, 0);
        }
    }
    return 0;
}
