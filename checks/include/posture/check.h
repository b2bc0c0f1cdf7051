/* SPDX-License-Identifier: Apache-2.0 */
#ifndef POSTURE_CHECK_H
#define POSTURE_CHECK_H

/*
 * posture check SDK, ABI 1.0.
 *
 * A check is a constant descriptor (struct posture_check_desc) with a run() function. Built-in
 * checks are listed in checks/builtin/builtin.list; shared-object checks export one function,
 * posture_check_entry(), that returns their descriptor. A check never allocates its result: the
 * agent passes a struct posture_result and the check fills it only through the host API table
 * in its context (ctx->api), so a plugin links nothing of the agent and no memory crosses the
 * .so boundary.
 *
 * run() returns 0 when it reached a verdict (FAIL is a verdict, not an error) and a negative
 * errno when it could not decide; the agent then records ERROR with the errno name and the
 * reason the check set (set it before returning).
 *
 * This header is C99, self-contained and exposes no third-party types.
 *
 * Compatibility: abi_major changes break compatibility (the loader refuses a mismatch). New
 * members are only ever appended, with an abi_minor bump; a check built against an older minor
 * still loads, and readers check struct_size before touching newer members.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define POSTURE_CHECK_ABI_MAJOR 1
#define POSTURE_CHECK_ABI_MINOR 0

#if defined(__GNUC__) || defined(__clang__)
#define POSTURE_CHECK_EXPORT         __attribute__((visibility("default")))
#define POSTURE_CHECK_PRINTF(fmt, a) __attribute__((format(printf, fmt, a)))
#else
#define POSTURE_CHECK_EXPORT
#define POSTURE_CHECK_PRINTF(fmt, a)
#endif

/* Outcome of a check (DESIGN.md §6). */
enum posture_status {
    POSTURE_STATUS_PASS,
    POSTURE_STATUS_WARN,
    POSTURE_STATUS_FAIL,
    POSTURE_STATUS_NOT_APPLICABLE, /* the check does not apply to this host */
    POSTURE_STATUS_ERROR,          /* could not decide: privilege, tool, timeout, bad input */
    POSTURE_STATUS__MAX,
    POSTURE_STATUS__INVALID = -EINVAL
};

/* What a check needs; the runner decides how to honour it. */
enum posture_check_flags {
    POSTURE_CHECK_NEEDS_ROOT = 1u << 0,
    POSTURE_CHECK_NEEDS_TPM = 1u << 1,
    POSTURE_CHECK_NEEDS_NET = 1u << 2,
    POSTURE_CHECK_SLOW = 1u << 3
};

/* Types of check options, set in [check.<name>] config sections. */
enum posture_option_type {
    POSTURE_OPTION_STRING,
    POSTURE_OPTION_BOOL,
    POSTURE_OPTION_INT,      /* int64_t */
    POSTURE_OPTION_DURATION, /* "30s", "5m", ... read as microseconds */
    POSTURE_OPTION_SIZE,     /* "64K", "8M", ... read as bytes */
    POSTURE_OPTION_STRV,     /* whitespace-separated list */
    POSTURE_OPTION__MAX,
    POSTURE_OPTION__INVALID = -EINVAL
};

/* One row of a check's option table; the table ends with a row whose key is NULL. */
struct posture_option {
    enum posture_option_type type;
    const char *key;           /* [a-z0-9_]+ */
    const char *default_value; /* in config syntax; NULL: unset unless configured */
    const char *help;
};

struct posture_result;    /* owned by the agent; filled through the host API */
struct posture_check_ctx; /* below */

/*
 * Services of the agent, versioned like the descriptor. Every function returns 0 or a negative
 * errno (-EINVAL for bad arguments, -ENOMEM, -ENOENT for an unknown option).
 */
struct posture_host_api {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;

    /* Result. Reason and remediation are one human sentence each; the last call wins. */
    int (*set_status)(struct posture_result *result, enum posture_status status);
    int (*set_reason)(struct posture_result *result, const char *format, ...)
        POSTURE_CHECK_PRINTF(2, 3);
    int (*set_remediation)(struct posture_result *result, const char *format, ...)
        POSTURE_CHECK_PRINTF(2, 3);

    /*
     * Evidence: small structured facts. Inside an object key is required and must be new;
     * inside an array key must be NULL. evidence_begin_object()/begin_array() open a nested
     * container that evidence_end() closes (at most 8 levels). A NULL string adds JSON null.
     */
    int (*evidence_add_str)(struct posture_result *result, const char *key, const char *value);
    int (*evidence_add_int)(struct posture_result *result, const char *key, int64_t value);
    int (*evidence_add_bool)(struct posture_result *result, const char *key, bool value);
    int (*evidence_add_strv)(struct posture_result *result,
                             const char *key,
                             const char *const *values,
                             size_t n);
    int (*evidence_begin_object)(struct posture_result *result, const char *key);
    int (*evidence_begin_array)(struct posture_result *result, const char *key);
    int (*evidence_end)(struct posture_result *result);

    /* Options of this check, from config or the table default. -ENOENT: not in the table;
     * -ENODATA: no value and no default. Strings are borrowed for the duration of run(). */
    int (*option_get_str)(const struct posture_check_ctx *ctx, const char *key, const char **ret);
    int (*option_get_bool)(const struct posture_check_ctx *ctx, const char *key, bool *ret);
    int (*option_get_int)(const struct posture_check_ctx *ctx, const char *key, int64_t *ret);
    int (*option_get_u64)(const struct posture_check_ctx *ctx, const char *key, uint64_t *ret);
    int (*option_get_strv)(const struct posture_check_ctx *ctx,
                           const char *key,
                           const char *const **ret,
                           size_t *ret_n);

    /*
     * Read a host file inside the context's root (see --root), at most max bytes (-EFBIG beyond).
     * *ret_buf is NUL-terminated; release it with free_buf(). -ETIMEDOUT once the deadline has
     * passed.
     */
    int (*read_file_at)(const struct posture_check_ctx *ctx,
                        const char *path,
                        size_t max,
                        char **ret_buf,
                        size_t *ret_len);
    void (*free_buf)(void *buf);

    /* Debug log line, prefixed "check/<name>: ". */
    void (*log_debug)(const struct posture_check_ctx *ctx, const char *format, ...)
        POSTURE_CHECK_PRINTF(2, 3);

    /* CLOCK_MONOTONIC now in microseconds, to compare with ctx->deadline_usec. */
    uint64_t (*now_usec)(void);
};

/* Per-run context; valid only during init()/run(). */
struct posture_check_ctx {
    uint32_t struct_size;
    int root_fd;            /* host root (O_PATH dir); prefer api->read_file_at */
    const char *root_path;  /* the same root as a path ("/" normally), for tools that need one */
    uint64_t deadline_usec; /* CLOCK_MONOTONIC; finish (or return -ETIMEDOUT) before it */
    const struct posture_host_api *api;
    void *host_data; /* the agent's; do not touch */
};

typedef int (*posture_check_init_fn)(const struct posture_check_ctx *ctx, void **ret_state);
typedef int (*posture_check_run_fn)(const struct posture_check_ctx *ctx,
                                    void *state,
                                    struct posture_result *result);
typedef void (*posture_check_fini_fn)(void *state);

struct posture_check_desc {
    uint16_t abi_major;   /* POSTURE_CHECK_ABI_MAJOR */
    uint16_t abi_minor;   /* POSTURE_CHECK_ABI_MINOR */
    uint32_t struct_size; /* sizeof(struct posture_check_desc) */
    const char *name;     /* "disk.encryption": [a-z0-9_]+(\.[a-z0-9_]+)*, at most 64 bytes */
    const char *version;  /* the check's semver, e.g. "1.0.0" */
    const char *summary;  /* one line for list-checks */
    uint32_t flags;       /* enum posture_check_flags */
    const struct posture_option *options; /* NULL or terminated by a NULL key */
    posture_check_init_fn init;           /* optional */
    posture_check_run_fn run;             /* required */
    posture_check_fini_fn fini;           /* optional; gets the state init() returned */
};

/* Designated-initialiser prefix for descriptors. */
#define POSTURE_CHECK_DESC_HEADER                                               \
    .abi_major = POSTURE_CHECK_ABI_MAJOR, .abi_minor = POSTURE_CHECK_ABI_MINOR, \
    .struct_size = sizeof(struct posture_check_desc)

/* Entry point of a shared-object check: returns its static descriptor. */
typedef const struct posture_check_desc *(*posture_check_entry_fn)(void);
#define POSTURE_CHECK_ENTRY_SYMBOL "posture_check_entry"
POSTURE_CHECK_EXPORT const struct posture_check_desc *posture_check_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* POSTURE_CHECK_H */
