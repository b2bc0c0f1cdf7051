/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Lower-case hexadecimal, the form digests take in our JSON (evidence PCR values, AK names,
 * event-log digests). Decoding is strict: exactly two characters per byte, lower case only, so
 * every byte string has one encoding and a digest can be compared as text or as bytes.
 */

#include <stddef.h>
#include <stdint.h>

/* Write the 2n hex characters of data[0..n) and a NUL to out (2n + 1 bytes). Returns out. */
char *posture_hex_encode_buf(const void *data, size_t n, char *out);

/* A new NUL-terminated string; the caller frees *ret. -ENOMEM, -E2BIG for absurd n. */
int posture_hex_encode(const void *data, size_t n, char **ret);

/* Decode exactly len characters of s (no NUL needed) into buf of buf_size bytes. Returns the
 * number of bytes written, -EBADMSG for an odd length or a character outside [0-9a-f], -E2BIG
 * when the result does not fit. */
int posture_hex_decode_buf(const char *s, size_t len, uint8_t *buf, size_t buf_size);
