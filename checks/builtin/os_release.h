/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The os-release(5) parser behind the os.release check, separate so unit tests and the fuzz
 * target call it directly.
 *
 * Syntax accepted (os-release(5), decided where the man page leaves room):
 *  - Lines end at "\n"; one "\r" before it is dropped (CRLF files). Blank lines and lines whose
 *    first non-blank character is '#' are ignored.
 *  - An assignment is KEY=VALUE at the start of the line: KEY is [A-Z0-9_]+, no spaces around
 *    '='. Any other line is not an assignment: it is skipped and counted in n_ignored.
 *  - VALUE in double quotes: a backslash escapes '"', '\', '$' and '`' (shell rules); before any
 *    other character the backslash is kept literally. In single quotes everything is literal.
 *    After the closing quote only blanks may follow (concatenation is not supported).
 *    Unquoted: the rest of the line with trailing blanks dropped (it must not start with a
 *    blank); a backslash takes the next character literally. An unterminated quote or a trailing
 * backslash (line continuation is not supported) makes the line invalid (ignored and counted).
 *  - Values longer than POSTURE_OS_RELEASE_VALUE_MAX bytes make the line invalid (ignored and
 *    counted). Later assignments of a key win; an empty value unsets the key.
 *  - Unset ID, NAME and PRETTY_NAME take the defaults of os-release(5): "linux", "Linux" and
 *    "Linux".
 */

#include <stddef.h>

#define POSTURE_OS_RELEASE_FILE_MAX  ((size_t) 64 * 1024)
#define POSTURE_OS_RELEASE_VALUE_MAX ((size_t) 1024)

struct posture_os_release {
    char *id;
    char *id_like; /* space-separated list, as in the file */
    char *name;
    char *version;
    char *version_id;
    char *version_codename;
    char *pretty_name;
    char *build_id;
    char *variant_id;
    unsigned n_assignments; /* valid KEY=VALUE lines, keys we keep or not */
    unsigned n_ignored;     /* lines that are neither assignments, comments nor blank */
};

/*
 * Parse len bytes of an os-release file (no NUL terminator needed). Returns the number of valid
 * assignments (0 is possible: then only the defaults are set) and fills *ret, whose strings the
 * caller releases with posture_os_release_done(). -EBADMSG: the data contains a NUL byte;
 * -EFBIG: more than POSTURE_OS_RELEASE_FILE_MAX bytes; -ENOMEM.
 */
int posture_os_release_parse(const char *buf, size_t len, struct posture_os_release *ret);

/* Free the strings of o and zero it. NULL-safe. */
void posture_os_release_done(struct posture_os_release *o);
