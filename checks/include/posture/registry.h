/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The check registry: every check the agent knows, from any loader. Internal to the agent
 * (posturectl, postured); not installed.
 *
 * Loaders (the built-in table; the .so and exec loaders of loader.h) all end in
 * posture_registry_add(), which validates the descriptor the same way whatever its origin.
 */

#include <stdbool.h>
#include <stddef.h>

#include "posture/check.h"
#include "posture/cleanup.h"

enum posture_check_source {
    POSTURE_CHECK_SOURCE_BUILTIN,
    POSTURE_CHECK_SOURCE_SO,
    POSTURE_CHECK_SOURCE_EXEC,
    POSTURE_CHECK_SOURCE__MAX,
    POSTURE_CHECK_SOURCE__INVALID = -EINVAL,
};

/* "built-in", ".so", "exec"; NULL when out of range. */
const char *posture_check_source_to_string(int source);
/* "pass", "warn", "fail", "not_applicable", "error"; NULL when out of range. */
const char *posture_status_to_string(int status);
/* The inverse; POSTURE_STATUS__INVALID when unknown. */
int posture_status_from_string(const char *s);

struct posture_check {
    const struct posture_check_desc *desc; /* borrowed: static, or owned by loader_data */
    enum posture_check_source source;
    char *path;        /* the .so or executable; NULL for built-ins */
    void *loader_data; /* the loader's (dl handle, exec descriptor); NULL for built-ins */
};

struct posture_registry;

int posture_registry_new(struct posture_registry **ret);
/* Frees the registry and every entry (calling the loader's release hook: dlclose for .so
 * checks). NULL-safe; returns NULL. */
struct posture_registry *posture_registry_free(struct posture_registry *reg);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_registry *, posture_registry_free)
#define posture_auto_registry POSTURE_CLEANUP(posture_registry_freep)

/*
 * Validate desc and add it. path is copied (may be NULL). Refusals, each with a one-line
 * explanation in *ret_why (static string; ret_why may be NULL):
 *   -EPROTO  abi_major differs, struct_size below the ABI 1.0 size, no run function
 *   -EINVAL  name not of the form [a-z0-9_]+(.[a-z0-9_]+)*, no version (or one longer than 64
 *            bytes), option table with a bad or repeated key, a bad type or a default that does
 *            not parse as its type
 *   -EEXIST  a check of that name is already registered
 * Entries are kept sorted by name.
 */
int posture_registry_add(struct posture_registry *reg,
                         const struct posture_check_desc *desc,
                         enum posture_check_source source,
                         const char *path,
                         const char **ret_why);

/*
 * posture_registry_add() for a loader that keeps data with the entry (the .so loader's dl
 * handle, the exec loader's descriptor): on success the registry owns loader_data and releases
 * it with the loader's hook when it is freed; on failure the caller keeps it. desc may point
 * into loader_data. Built-ins own nothing (-EINVAL with loader_data).
 */
int posture_registry_add_owned(struct posture_registry *reg,
                               const struct posture_check_desc *desc,
                               enum posture_check_source source,
                               const char *path,
                               void *loader_data,
                               const char **ret_why);

/* Add every check compiled in (checks/builtin/builtin.list). */
int posture_registry_add_builtins(struct posture_registry *reg);

size_t posture_registry_count(const struct posture_registry *reg);
/* Borrowed; NULL when i is out of range. */
const struct posture_check *posture_registry_at(const struct posture_registry *reg, size_t i);
/* Borrowed; NULL when no check has that name. */
const struct posture_check *posture_registry_find(const struct posture_registry *reg,
                                                  const char *name);

/* The compiled-in table. */
size_t posture_builtin_count(void);
const struct posture_check_desc *posture_builtin_at(size_t i);

/* Look an option row up in desc's table; NULL if none. */
const struct posture_option *posture_check_find_option(const struct posture_check_desc *desc,
                                                       const char *key);
/* "string", "bool", "int", "duration", "size", "list". */
const char *posture_option_type_to_string(int type);
