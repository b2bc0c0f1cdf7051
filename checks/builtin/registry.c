/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The compiled-in check table, expanded from builtin.list (one POSTURE_BUILTIN(name) row per
 * check that CMake enabled). No constructors and no linker sections: the table is data.
 */
#include "posture/registry.h"

#include <stddef.h>

#include "posture/check.h"
#include "posture/err.h"

#define POSTURE_BUILTIN(name) extern const struct posture_check_desc posture_check_##name;
#include "builtin.list"
#undef POSTURE_BUILTIN

#define POSTURE_BUILTIN(name) &posture_check_##name,
static const struct posture_check_desc *const builtin_table[] = {
#include "builtin.list"
    NULL, /* keeps the array non-empty when every built-in check is switched off */
};
#undef POSTURE_BUILTIN

size_t posture_builtin_count(void)
{
    return POSTURE_ELEMENTSOF(builtin_table) - 1;
}

const struct posture_check_desc *posture_builtin_at(size_t i)
{
    if (i >= posture_builtin_count())
        return NULL;
    return builtin_table[i];
}
