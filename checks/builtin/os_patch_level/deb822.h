/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A stanza parser for the RFC822-like control format of dpkg and apt (deb822(5)): the dpkg
 * status file, Packages lists, Release and InRelease files.
 *
 *   Field-Name: value
 *    continuation line (leading space or tab)
 *   <blank line: the next stanza>
 *
 * Field names are case-insensitive. A line that only holds blanks separates stanzas (Debian
 * policy §5.1). The caller names the fields it wants; the parser hands over only those, once
 * per stanza, and does not copy anything else; a stanza the key callback does not want is
 * skipped by scanning for its end (posture_stream_skip_paragraph), so a 50 MB Packages list
 * costs little more than its decompression. '#' comment lines are accepted only with the comments
 * option (dpkg accepts them in source control files, not in status, Packages or Release files).
 *
 * InRelease (the armored option): the OpenPGP cleartext signature framework (RFC 4880 §7) is
 * removed: the body between the armor headers ("Hash: ...", up to the first blank line) and
 * "-----BEGIN PGP SIGNATURE-----", with dash-escaped lines ("- " prefix) unescaped. The
 * signature is NOT verified: apt verified it when it fetched the file, before moving it into
 * its lists directory, and files there are only as trusted as that directory.
 *
 * Malformed input is -EBADMSG: a line without a colon, an empty or invalid field name, a
 * continuation line with no field before it, a field wanted twice in one stanza, a NUL byte
 * in a wanted value, or (armored) missing armor lines. The lines of a stanza skipped by the key
 * callback are not looked at beyond finding its end.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

/* Fields a parser can be asked for at once. */
#define POSTURE_DEB822_FIELDS_MAX 16
/* Bytes of one wanted value (continuation lines included). */
#define POSTURE_DEB822_VALUE_MAX ((size_t) 1024 * 1024)
/* The deadline is looked at once per this many stanzas. */
#define POSTURE_DEB822_DEADLINE_EVERY 4096
/* A key callback returns this to skip the rest of the stanza. */
#define POSTURE_DEB822_SKIP 1

/* A wanted field of a stanza: str is NULL when the stanza lacks it; otherwise NUL-terminated,
 * with the blanks around it removed, and valid only during the callback. Continuation lines
 * are kept, each after a "\n", with their leading blank. */
struct posture_deb822_value {
    const char *str;
    size_t len;
};

/* Called with values[i] for fields[i]; return 0 to go on or a negative errno to stop. */
typedef int (*posture_deb822_stanza_fn)(const struct posture_deb822_value *values, void *userdata);
/* Called as soon as the key field (fields[0]) has been read, before the rest of the stanza:
 * return 0 to go on, POSTURE_DEB822_SKIP to skip the stanza (no stanza callback) or a negative
 * errno to stop. The value is that of the first line only. */
typedef int (*posture_deb822_key_fn)(const char *value, size_t len, void *userdata);

struct posture_deb822_opts {
    const char *const *fields; /* wanted field names, fields[0] is the key field */
    size_t n_fields;           /* <= POSTURE_DEB822_FIELDS_MAX */
    posture_deb822_stanza_fn on_stanza;
    posture_deb822_key_fn on_key; /* optional */
    void *userdata;
    bool comments;          /* '#' at the start of a line is a comment */
    bool armored;           /* an InRelease file: strip the clearsign armor */
    uint64_t deadline_usec; /* CLOCK_MONOTONIC; -ETIMEDOUT past it; 0: none */
};

/*
 * Parse every stanza of s. Returns the number of stanzas seen (skipped ones included; capped
 * at INT_MAX), or a negative errno: a callback's, -EBADMSG (see above), -ETIMEDOUT, or the
 * stream's errors (-EBADMSG, -E2BIG, -EIO, -ENOMEM).
 */
int posture_deb822_parse(struct posture_stream *s, const struct posture_deb822_opts *opts);

/* The same on a memory buffer (plain text). */
int posture_deb822_parse_mem(const char *data, size_t size, const struct posture_deb822_opts *opts);
