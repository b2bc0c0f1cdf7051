/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Strict UTF-8 (RFC 3629): what may leave the agent as JSON text or reach a terminal. Invalid
 * are stray continuation bytes, the lead bytes C0, C1 and F5..FF, overlong forms, UTF-16
 * surrogates (U+D800..U+DFFF), code points above U+10FFFF and sequences cut short.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posture/strbuf.h"

/* The UTF-8 encoding of U+FFFD REPLACEMENT CHARACTER (3 bytes). */
#define POSTURE_UTF8_REPLACEMENT "\xef\xbf\xbd"

/* Length (1..4) of the valid sequence that starts at s, reading at most n bytes; 0 when it is
 * not one, or when n is 0. s may be NULL only when n is 0. A NUL byte is a valid sequence. */
size_t posture_utf8_sequence_length(const char *s, size_t n);

/* Like posture_utf8_sequence_length, and *ret_cp is the code point (written only when the
 * result is not 0). */
size_t posture_utf8_decode(const char *s, size_t n, uint32_t *ret_cp);

/* Whether s[0..n) is entirely valid UTF-8 (true for n == 0). */
bool posture_utf8_is_valid(const char *s, size_t n);

/* Append s[0..n) to sb, each byte that does not start a valid sequence replaced by U+FFFD.
 * Returns 0, -EINVAL, -ENOMEM or -E2BIG (sb's limit); on failure sb is left as it was. */
int posture_utf8_append_sanitized(struct posture_strbuf *sb, const char *s, size_t n);
