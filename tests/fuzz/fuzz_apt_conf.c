/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the apt.conf(5) reader of os.patch_level (files from etc/apt/apt.conf.d). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "os_patch_level/aptconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_item(const char *key, const char *value, void *userdata)
{
    size_t *total = userdata;
    /* Touch both strings so a missing terminator or a bad pointer shows up under ASan. */
    *total += strlen(key) + (value ? strlen(value) : 0);
    (void) posture_aptconf_key_below(key, "APT::Periodic");
    (void) posture_aptconf_interval_enabled(value);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t total = 0;
    (void) posture_aptconf_parse((const char *) data, size, on_item, &total);
    return 0;
}
