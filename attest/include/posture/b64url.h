/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Strict base64url (RFC 4648 §5) as JOSE uses it (RFC 7515 §2): the URL-safe alphabet, no
 * padding, no whitespace, no other characters, and canonical final bits (the unused low bits of
 * the last character must be zero), so that every byte string has exactly one encoding.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Characters of the encoding of n bytes (without a NUL). */
size_t posture_b64url_encoded_len(size_t n);

/* Encode n bytes into a new NUL-terminated string; the caller frees *ret. -ENOMEM, -E2BIG when
 * n is absurdly large. data may be NULL when n is 0. */
int posture_b64url_encode(const void *data, size_t n, char **ret);

/* Encode into buf of size buf_size (which must hold posture_b64url_encoded_len(n) + 1 bytes,
 * else -ENOBUFS). Returns the number of characters written (without the NUL). */
int posture_b64url_encode_buf(const void *data, size_t n, char *buf, size_t buf_size);

/*
 * Decode exactly len characters of s (no NUL needed). -EBADMSG for any character outside the
 * alphabet (padding '=', '+', '/', whitespace, NUL), an impossible length (len % 4 == 1) or
 * non-zero unused final bits; -E2BIG when the decoded size would exceed max_out; -ENOMEM.
 * On success *ret holds the bytes plus one NUL byte not counted in *ret_len (so decoded JSON
 * can be handled as a string); the caller frees *ret. ret_len may be NULL.
 */
int posture_b64url_decode(
    const char *s, size_t len, size_t max_out, uint8_t **ret, size_t *ret_len);

/* Decode into a caller buffer: like posture_b64url_decode(), with -E2BIG when the output does
 * not fit in buf_size. Returns the number of bytes written. */
int posture_b64url_decode_buf(const char *s, size_t len, uint8_t *buf, size_t buf_size);

/* True when s (len characters) is strict base64url decoding to between min and max bytes. */
bool posture_b64url_check(const char *s, size_t len, size_t min, size_t max);
