/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The check registry: validated descriptors from every loader, kept sorted by name, plus the
 * string tables of check.h/registry.h enums.
 */
#include "posture/registry.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "posture/err.h"
#include "posture/parse.h"

#include "host.h"
#include "loader_internal.h"

/*
 * Size of struct posture_check_desc in ABI 1.0: every member up to and including fini. Later
 * minors only append members, so this stays the minimum a loader accepts. The assertion holds
 * until the first member is appended (then delete it, the offsetof form stays right).
 */
#define POSTURE_CHECK_DESC_SIZE_1_0 \
    (offsetof(struct posture_check_desc, fini) + sizeof(posture_check_fini_fn))
_Static_assert(POSTURE_CHECK_DESC_SIZE_1_0 == sizeof(struct posture_check_desc),
               "ABI 1.0 descriptor size changed: appended members need an abi_minor bump");

/* Check versions are short semver strings; anything longer is a broken descriptor. */
#define CHECK_VERSION_MAX 64
/* Option keys: [a-z0-9_]+, bounded so "check.<name>" sections stay short. */
#define OPTION_KEY_MAX 64
/* Rows of one option table; a table without its NULL terminator stops here. */
#define OPTION_ROWS_MAX 128

struct posture_registry {
    struct posture_check *entries; /* sorted by desc->name */
    size_t n;
    size_t cap;
};

/*
 * Loader release hooks, one row per source: free what the loader keeps in loader_data (the .so
 * loader: dlclose the handle; the exec loader: its descriptor and the executable's fd). Built-in
 * checks own nothing.
 */
typedef void (*loader_release_fn)(struct posture_check *c);

static void release_nothing(struct posture_check *c)
{
    (void) c; /* only read by the assertion */
    assert(!c->loader_data);
}

static void release_so(struct posture_check *c)
{
    posture_loader_so_release(c->loader_data);
    c->loader_data = NULL;
}

static void release_exec(struct posture_check *c)
{
    posture_loader_exec_release(c->loader_data);
    c->loader_data = NULL;
}

static const loader_release_fn loader_release[POSTURE_CHECK_SOURCE__MAX] = {
    [POSTURE_CHECK_SOURCE_BUILTIN] = release_nothing,
    [POSTURE_CHECK_SOURCE_SO] = release_so,
    [POSTURE_CHECK_SOURCE_EXEC] = release_exec,
};

static const char *const check_source_table[POSTURE_CHECK_SOURCE__MAX] = {
    [POSTURE_CHECK_SOURCE_BUILTIN] = "built-in",
    [POSTURE_CHECK_SOURCE_SO] = ".so",
    [POSTURE_CHECK_SOURCE_EXEC] = "exec",
};

static const char *const status_table[POSTURE_STATUS__MAX] = {
    [POSTURE_STATUS_PASS] = "pass",   [POSTURE_STATUS_WARN] = "warn",
    [POSTURE_STATUS_FAIL] = "fail",   [POSTURE_STATUS_NOT_APPLICABLE] = "not_applicable",
    [POSTURE_STATUS_ERROR] = "error",
};

static const char *const option_type_table[POSTURE_OPTION__MAX] = {
    [POSTURE_OPTION_STRING] = "string", [POSTURE_OPTION_BOOL] = "bool",
    [POSTURE_OPTION_INT] = "int",       [POSTURE_OPTION_DURATION] = "duration",
    [POSTURE_OPTION_SIZE] = "size",     [POSTURE_OPTION_STRV] = "list",
};

const char *posture_check_source_to_string(int source)
{
    if (source < 0 || source >= POSTURE_CHECK_SOURCE__MAX)
        return NULL;
    return check_source_table[source];
}

const char *posture_status_to_string(int status)
{
    if (status < 0 || status >= POSTURE_STATUS__MAX)
        return NULL;
    return status_table[status];
}

int posture_status_from_string(const char *s)
{
    if (!s)
        return POSTURE_STATUS__INVALID;
    for (int i = 0; i < POSTURE_STATUS__MAX; i++)
        if (strcmp(status_table[i], s) == 0)
            return i;
    return POSTURE_STATUS__INVALID;
}

const char *posture_option_type_to_string(int type)
{
    if (type < 0 || type >= POSTURE_OPTION__MAX)
        return NULL;
    return option_type_table[type];
}

const struct posture_option *posture_check_find_option(const struct posture_check_desc *desc,
                                                       const char *key)
{
    if (!desc || !desc->options || !key)
        return NULL;
    for (size_t i = 0; i < OPTION_ROWS_MAX && desc->options[i].key; i++)
        if (strcmp(desc->options[i].key, key) == 0)
            return &desc->options[i];
    return NULL;
}

int posture_registry_new(struct posture_registry **ret)
{
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    struct posture_registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return -ENOMEM;
    *ret = reg;
    return 0;
}

static void check_release(struct posture_check *c)
{
    if (c->source >= 0 && c->source < POSTURE_CHECK_SOURCE__MAX)
        loader_release[c->source](c);
    free(c->path);
    c->path = NULL;
}

struct posture_registry *posture_registry_free(struct posture_registry *reg)
{
    if (!reg)
        return NULL;
    for (size_t i = 0; i < reg->n; i++)
        check_release(&reg->entries[i]);
    free(reg->entries);
    free(reg);
    return NULL;
}

static bool option_key_is_valid(const char *key)
{
    size_t n = strnlen(key, OPTION_KEY_MAX + 1);
    if (n == 0 || n > OPTION_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static int validate_options(const struct posture_option *options, const char **ret_why)
{
    if (!options)
        return 0;
    for (size_t i = 0;; i++) {
        if (i >= OPTION_ROWS_MAX) {
            *ret_why = "option table has too many rows or lacks its NULL-key terminator";
            return -EINVAL;
        }
        const struct posture_option *o = &options[i];
        if (!o->key)
            return 0;
        if (!option_key_is_valid(o->key)) {
            *ret_why = "option key is not of the form [a-z0-9_]+ (at most 64 bytes)";
            return -EINVAL;
        }
        if ((int) o->type < 0 || o->type >= POSTURE_OPTION__MAX) {
            *ret_why = "option has an unknown type";
            return -EINVAL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(options[j].key, o->key) == 0) {
                *ret_why = "option key appears twice in the option table";
                return -EINVAL;
            }
        if (o->default_value && posture_option_value_check(o->type, o->default_value, NULL) < 0) {
            *ret_why = "option default does not parse as the option's type";
            return -EINVAL;
        }
    }
}

static int validate_desc(const struct posture_check_desc *desc, const char **ret_why)
{
    if (desc->abi_major != POSTURE_CHECK_ABI_MAJOR) {
        *ret_why = "built for another check ABI major version";
        return -EPROTO;
    }
    if (desc->struct_size < POSTURE_CHECK_DESC_SIZE_1_0) {
        *ret_why = "descriptor struct_size is smaller than the ABI 1.0 descriptor";
        return -EPROTO;
    }
    if (!desc->name || !posture_check_name_is_valid(desc->name)) {
        *ret_why = "name is not of the form [a-z0-9_]+(.[a-z0-9_]+)* (at most 64 bytes)";
        return -EINVAL;
    }
    if (!desc->version || desc->version[0] == '\0' ||
        strnlen(desc->version, CHECK_VERSION_MAX + 1) > CHECK_VERSION_MAX) {
        *ret_why = "version is missing, empty or longer than 64 bytes";
        return -EINVAL;
    }
    if (!desc->run) {
        *ret_why = "descriptor has no run function";
        return -EPROTO;
    }
    return validate_options(desc->options, ret_why);
}

/* Index of the first entry whose name is >= name; *ret_found when it is equal. */
static size_t lower_bound(const struct posture_registry *reg, const char *name, bool *ret_found)
{
    size_t lo = 0, hi = reg->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(reg->entries[mid].desc->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *ret_found = lo < reg->n && strcmp(reg->entries[lo].desc->name, name) == 0;
    return lo;
}

int posture_registry_add(struct posture_registry *reg,
                         const struct posture_check_desc *desc,
                         enum posture_check_source source,
                         const char *path,
                         const char **ret_why)
{
    return posture_registry_add_owned(reg, desc, source, path, NULL, ret_why);
}

int posture_registry_add_owned(struct posture_registry *reg,
                               const struct posture_check_desc *desc,
                               enum posture_check_source source,
                               const char *path,
                               void *loader_data,
                               const char **ret_why)
{
    const char *why = NULL;

    POSTURE_RETURN_IF_FAIL(reg, -EINVAL);
    POSTURE_RETURN_IF_FAIL(desc, -EINVAL);
    POSTURE_RETURN_IF_FAIL(source >= 0 && source < POSTURE_CHECK_SOURCE__MAX, -EINVAL);
    POSTURE_RETURN_IF_FAIL(!loader_data || source != POSTURE_CHECK_SOURCE_BUILTIN, -EINVAL);

    int r = validate_desc(desc, &why);
    if (r < 0) {
        if (ret_why)
            *ret_why = why;
        return r;
    }

    bool found;
    size_t at = lower_bound(reg, desc->name, &found);
    if (found) {
        if (ret_why)
            *ret_why = "a check of that name is already registered";
        return -EEXIST;
    }

    posture_autofree char *path_copy = NULL;
    if (path) {
        path_copy = strdup(path);
        if (!path_copy)
            return -ENOMEM;
    }

    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 16;
        struct posture_check *e = reallocarray(reg->entries, cap, sizeof(*e));
        if (!e)
            return -ENOMEM;
        reg->entries = e;
        reg->cap = cap;
    }
    memmove(&reg->entries[at + 1], &reg->entries[at], (reg->n - at) * sizeof(reg->entries[0]));
    reg->entries[at] = (struct posture_check){
        .desc = desc,
        .source = source,
        .loader_data = loader_data,
    };
    reg->entries[at].path = POSTURE_TAKE_PTR(path_copy);
    reg->n++;
    return 0;
}

int posture_registry_add_builtins(struct posture_registry *reg)
{
    POSTURE_RETURN_IF_FAIL(reg, -EINVAL);

    for (size_t i = 0; i < posture_builtin_count(); i++) {
        int r = posture_registry_add(reg, posture_builtin_at(i), POSTURE_CHECK_SOURCE_BUILTIN, NULL,
                                     NULL);
        if (r < 0)
            return r;
    }
    return 0;
}

size_t posture_registry_count(const struct posture_registry *reg)
{
    return reg ? reg->n : 0;
}

const struct posture_check *posture_registry_at(const struct posture_registry *reg, size_t i)
{
    if (!reg || i >= reg->n)
        return NULL;
    return &reg->entries[i];
}

const struct posture_check *posture_registry_find(const struct posture_registry *reg,
                                                  const char *name)
{
    if (!reg || !name)
        return NULL;
    bool found;
    size_t at = lower_bound(reg, name, &found);
    return found ? &reg->entries[at] : NULL;
}
