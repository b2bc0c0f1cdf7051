/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The sshd settings ssh.server judges, from sshd_config (our own parser, OpenSSH 9.2 rules) or
 * from the output of `sshd -T`.
 *
 * Parser rules, as sshd applies them: one keyword per line (case-insensitive), then its
 * arguments, separated by whitespace or one '='; double or single quotes group an argument and
 * a backslash escapes the next character; '#' starting a word ends the line. For a global
 * setting the first value wins. `Include` takes glob patterns, relative to /etc/ssh unless
 * absolute, expanded in lexical order and read in place, at most 16 levels deep. Settings after
 * `Match <criteria>` apply only to the connections that match, up to the next Match or the end
 * of the file that holds it (a Match inside an included file ends with that file): they are not
 * global and are recorded separately, except under `Match all`, which every connection matches
 * (sshd -T applies it too): there, the first value overrides the global one.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum posture_sshd_key {
    POSTURE_SSHD_PERMIT_ROOT_LOGIN,
    POSTURE_SSHD_PASSWORD_AUTHENTICATION,
    POSTURE_SSHD_PERMIT_EMPTY_PASSWORDS,
    POSTURE_SSHD_CIPHERS,
    POSTURE_SSHD_KEY__MAX
};

#define POSTURE_SSHD_DEPTH_MAX     16                   /* Include levels (sshd: 16) */
#define POSTURE_SSHD_FILES_MAX     128u                 /* files read in one parse */
#define POSTURE_SSHD_FILE_MAX      ((size_t) 256 << 10) /* bytes of one file */
#define POSTURE_SSHD_TOTAL_MAX     ((size_t) 4 << 20)   /* bytes of all files */
#define POSTURE_SSHD_VALUE_MAX     1024u                /* bytes of one recorded value */
#define POSTURE_SSHD_MATCH_SET_MAX 64u                  /* Match settings recorded */
#define POSTURE_SSHD_DUMP_MAX      ((size_t) 256 << 10) /* bytes of `sshd -T` output */

/* A judged keyword set inside a conditional Match block. */
struct posture_sshd_match_setting {
    enum posture_sshd_key key;
    char *value;    /* the first argument as written, lower-case for yes/no keywords */
    char *criteria; /* "User bob", at most POSTURE_SSHD_VALUE_MAX bytes */
};

struct posture_sshd_config {
    /* Effective global value of each judged keyword (Match all applied), as written (yes/no
     * keywords lower-cased); NULL: not set, so sshd's default applies. */
    char *value[POSTURE_SSHD_KEY__MAX];
    unsigned n_match; /* Match lines, "Match all" included */
    struct posture_sshd_match_setting *match_settings;
    size_t n_match_settings;
    bool match_settings_truncated;
    char **files; /* files read, in order, each once (NULL-terminated; never NULL after parse) */
    size_t n_files;
    /* On a parse error: where (file and line), for the reason text. */
    char error_file[256];
    unsigned error_line;
};

/*
 * How the parser reads files. read_file: the whole file at path (absolute, inside the host's or
 * a fixture's root), at most max bytes (-EFBIG beyond), NUL-terminated, freed with free().
 * glob: the paths matching pattern, sorted, in a NULL-terminated malloc'ed vector (empty when
 * none match; freed with posture_strv_free()).
 */
struct posture_sshd_io {
    int (*read_file)(const char *path, size_t max, char **ret_buf, size_t *ret_len, void *userdata);
    int (*glob)(const char *pattern, char ***ret_paths, void *userdata);
    void *userdata;
};

/*
 * Parse the config at path (normally /etc/ssh/sshd_config) with its includes into *ret, which
 * the caller releases with posture_sshd_config_done() (also after a failure: error_file and
 * error_line say where). Errors: those of io->read_file for the main file or an included one,
 * -EBADMSG (unbalanced quotes, Include without argument), -ELOOP (includes nested deeper than
 * POSTURE_SSHD_DEPTH_MAX), -E2BIG (more than POSTURE_SSHD_FILES_MAX files or
 * POSTURE_SSHD_TOTAL_MAX bytes), -ENOMEM, -EINVAL.
 */
int posture_sshd_config_parse(const char *path,
                              const struct posture_sshd_io *io,
                              struct posture_sshd_config *ret);
void posture_sshd_config_done(struct posture_sshd_config *c);

/*
 * The judged settings from `sshd -T` output ("keyword value" lines, lower-case) into values
 * (each malloc'ed or NULL when absent; the caller frees them, also after a failure).
 * "without-password" is reported as its current name, "prohibit-password". Errors: -EBADMSG
 * when a judged keyword is missing (not sshd -T output), -E2BIG, -ENOMEM, -EINVAL.
 */
int posture_sshd_parse_dump(const char *buf, size_t len, char *values[POSTURE_SSHD_KEY__MAX]);

/*
 * The effective global values of a parsed config: its values, with sshd's defaults where unset
 * (PermitRootLogin prohibit-password, PasswordAuthentication yes, PermitEmptyPasswords no,
 * Ciphers NULL: see posture_sshd_ciphers_effective()) and "without-password" renamed
 * "prohibit-password". values[k] must be NULL; each becomes malloc'ed (or stays NULL for an unset
 * Ciphers); the caller frees them, also after -ENOMEM.
 */
int posture_sshd_config_effective(const struct posture_sshd_config *c,
                                  char *values[POSTURE_SSHD_KEY__MAX]);

/*
 * Run `<sshd> -T -f <config>` (posture_spawn_run, stdout capped at POSTURE_SSHD_DUMP_MAX) and
 * read the judged values as posture_sshd_parse_dump() does. On failure msg says why in one line
 * (the first line sshd printed on stderr): -ETIMEDOUT, -E2BIG, -EIO (sshd failed), the errors of
 * posture_spawn_run() and posture_sshd_parse_dump().
 */
int posture_sshd_t_run(const char *sshd,
                       const char *config,
                       uint64_t timeout_usec,
                       char *values[POSTURE_SSHD_KEY__MAX],
                       char *msg,
                       size_t msg_len);

/*
 * The ciphers sshd offers for a Ciphers value (NULL: not set), as OpenSSH 9.2 assembles them:
 * the compiled-in default list, "+list" appended to it, "-patterns" removed from it (wildcards
 * * and ?), "^list" in front of it, or a list of its own. Returns a NULL-terminated malloc'ed
 * vector (posture_strv_free()). -EINVAL for an empty list, -ENOMEM.
 */
int posture_sshd_ciphers_effective(const char *value, char ***ret);

/* OpenSSH 9.2's default Ciphers (Debian 12), NULL-terminated. */
extern const char *const posture_sshd_default_ciphers[];

/* "PermitRootLogin" for POSTURE_SSHD_PERMIT_ROOT_LOGIN, ...; NULL out of range. */
const char *posture_sshd_key_name(enum posture_sshd_key key);
