/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the decoders of boot.secure_boot. Every input goes to all of them: efivarfs
 * content, legacy sysfs data, the legacy attributes text, /sys/kernel/security/lockdown and
 * (as a NUL-terminated name) the "<Name>-<GUID>" matcher.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot_secure_boot/efivar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t attributes = 0;
    bool value = false;
    char mode[POSTURE_LOCKDOWN_MODE_MAX + 1];

    (void) posture_efivar_parse_bool(data, size, &attributes, &value);
    (void) posture_efivar_parse_bool_data(data, size, &value);
    (void) posture_efivar_parse_attributes_text((const char *) data, size, &attributes);
    if (posture_lockdown_parse((const char *) data, size, mode, sizeof(mode)) == 0 &&
        strlen(mode) > POSTURE_LOCKDOWN_MODE_MAX)
        abort(); /* our bug, not the input's */

    char *name = malloc(size + 1);
    if (!name)
        return 0;
    memcpy(name, data, size);
    name[size] = '\0';
    (void) posture_efivar_name_is_variable(name);
    free(name);
    return 0;
}
