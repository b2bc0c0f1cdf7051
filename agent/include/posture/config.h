/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * INI configuration with drop-in directories (DESIGN.md §5, STYLE.md G7).
 *
 * Syntax: "[section]" headers (section names: [A-Za-z0-9_.-]+), "key = value" lines (keys:
 * [A-Za-z0-9_]+), comments starting with '#' or ';' at the beginning of a line (after
 * whitespace), and trailing " # comment" after a value (a '#' preceded by whitespace). Values are
 * trimmed; a value wrapped in double quotes keeps its inner whitespace and '#' (no escapes other
 * than \" and \\). Blank lines are ignored. A key before any section header, a line without '=',
 * an empty key, a NUL byte, or a line longer than 4096 bytes is an error naming file:line.
 * A file may hold at most 4096 lines with content and be at most 1 MiB.
 *
 * Loading "<main>" also reads the "*.conf" files of "<main>.d/" in lexical (strcmp) order;
 * later assignments of the same section/key override earlier ones.
 *
 * The store keeps every assignment with its origin; posture_config_apply() then maps entries to
 * a typed struct through a table of rows {section, key, parser, offset}. Sections named
 * "check.<id>" are left to the check runner, which validates them against each check's options.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posture/cleanup.h"

#define POSTURE_CONFIG_LINE_MAX    4096
#define POSTURE_CONFIG_LINES_MAX   4096
#define POSTURE_CONFIG_FILE_MAX    (1u << 20) /* 1 MiB */
#define POSTURE_CONFIG_DROPINS_MAX 256

struct posture_config_entry {
    const char *section;
    const char *key;
    const char *value;
    const char *file; /* the path it came from, or the name given to parse_string */
    unsigned line;
};

/* Diagnostics: level is a syslog level (LOG_WARNING for "unknown key, ignoring", LOG_ERR for
 * errors); file may be NULL when the problem has no location (line is 0 when it has none).
 * message is the complete text, starting with "file:line: " (or "file: ") when file is set, so
 * a callback can print it as it is. */
typedef void (*posture_config_diag_fn)(
    int level, const char *file, unsigned line, const char *message, void *userdata);

struct posture_config;

/* diag may be NULL: messages then go to log_debug only. */
int posture_config_new(posture_config_diag_fn diag, void *userdata, struct posture_config **ret);
struct posture_config *posture_config_free(struct posture_config *c);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_config *, posture_config_free)
#define posture_auto_config POSTURE_CLEANUP(posture_config_freep)

/* Parse text (len bytes, no NUL needed). -EBADMSG on a syntax error (reported through diag with
 * file:line), -E2BIG past the limits, -ENOMEM. On error nothing of this text is kept. */
int posture_config_parse_string(struct posture_config *c,
                                const char *text,
                                size_t len,
                                const char *filename);

/* Read one file (through the normal filesystem, not a root fd). -ENOENT when missing. */
int posture_config_load_file(struct posture_config *c, const char *path);

/*
 * Read main_path, then main_path + ".d/" *.conf in lexical order. A missing main file is
 * -ENOENT if required, else skipped; a missing drop-in directory is fine. Files in the drop-in
 * directory not ending in ".conf" are ignored.
 */
int posture_config_load(struct posture_config *c, const char *main_path, bool required);

/* Effective (last) assignment of section/key; NULL if none. Borrowed. */
const struct posture_config_entry *
posture_config_lookup(const struct posture_config *c, const char *section, const char *key);
const char *
posture_config_get(const struct posture_config *c, const char *section, const char *key);
/* All assignments in the order they were read (including overridden ones). */
size_t posture_config_count(const struct posture_config *c);
const struct posture_config_entry *posture_config_entry_at(const struct posture_config *c,
                                                           size_t i);
/* The files read, in order. */
size_t posture_config_file_count(const struct posture_config *c);
const char *posture_config_file_at(const struct posture_config *c, size_t i);

/* Report through the config's diag function (used by apply() and by the check runner). */
void posture_config_diag(const struct posture_config *c,
                         int level,
                         const char *file,
                         unsigned line,
                         const char *format,
                         ...) __attribute__((format(printf, 5, 6)));

/*
 * Value parser of one table row: parse value into *(type *) data. Returns 0 or a negative errno;
 * on error it may set a short explanation in *ret_why (a static string).
 */
typedef int (*posture_config_parser_fn)(const char *value, void *data, const char **ret_why);

struct posture_config_item {
    const char *section;
    const char *key;
    posture_config_parser_fn parse;
    size_t offset; /* into the struct passed to posture_config_apply() */
};

/* Generic parsers: char * (strdup; frees the old value), bool, uint32_t, uint64_t, durations
 * (uint64_t usec), sizes (uint64_t bytes), char ** (whitespace-separated list; replaces). */
int posture_config_parse_string_item(const char *value, void *data, const char **ret_why);
int posture_config_parse_bool_item(const char *value, void *data, const char **ret_why);
int posture_config_parse_u32_item(const char *value, void *data, const char **ret_why);
int posture_config_parse_u64_item(const char *value, void *data, const char **ret_why);
int posture_config_parse_duration_item(const char *value, void *data, const char **ret_why);
int posture_config_parse_size_item(const char *value, void *data, const char **ret_why);
int posture_config_parse_strv_item(const char *value, void *data, const char **ret_why);

/*
 * Apply every entry, in order, to base through items (terminated by a row with section NULL).
 * Unknown sections and keys are reported as warnings ("…, ignoring"), except sections whose
 * name starts with one of the skip_prefixes (NULL-terminated, may be NULL), e.g. "check.".
 * A value that does not parse is an error
 * "file:line: invalid value 'v' for key 'k' in [s]: why";
 * apply stops there and returns -EINVAL.
 */
int posture_config_apply(const struct posture_config *c,
                         const struct posture_config_item *items,
                         const char *const *skip_prefixes,
                         void *base);

/* Print the effective configuration as INI (sections and keys in first-seen order). */
int posture_config_dump(const struct posture_config *c, char **ret);
