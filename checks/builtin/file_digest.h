/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Helpers shared by process.running and file.present: bounded SHA-256 of an open file and the
 * "path=value" pin lists of their options. Always built (unit tests call them directly).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POSTURE_SHA256_LEN     32u
#define POSTURE_SHA256_HEX_LEN 64u
/* Largest file hashed (a running binary, a pinned file): 256 MiB. */
#define POSTURE_DIGEST_SIZE_MAX ((uint64_t) 256 * 1024 * 1024)

/*
 * SHA-256 of everything readable from fd (from its current offset), at most max bytes.
 * now_usec (may be NULL) is called between 1 MiB chunks and the hash stops with -ETIMEDOUT once
 * it reaches deadline_usec. Writes 64 lower-case hex characters and a NUL to hex (65 bytes) and
 * the byte count to *ret_size (may be NULL) on success. Errors: -EFBIG beyond max, -ETIMEDOUT,
 * -EAGAIN (a non-blocking fd with nothing to read: not a regular file), -EIO, -ENOMEM,
 * -EINVAL.
 */
int posture_sha256_fd(int fd,
                      uint64_t max,
                      uint64_t (*now_usec)(void),
                      uint64_t deadline_usec,
                      char hex[POSTURE_SHA256_HEX_LEN + 1],
                      uint64_t *ret_size);

/*
 * A pin "path=value": split at the last '=' (paths may hold '=', values never do). The path
 * must be absolute and the value non-empty. On success *ret_path_len is the length of the path
 * and *ret_value points into pin. -EINVAL otherwise.
 */
int posture_pin_split(const char *pin, size_t *ret_path_len, const char **ret_value);

/* The value of the first pin for path in pins[0..n), or NULL. Pins that do not split are
 * skipped (they are refused when the options are validated). */
const char *posture_pin_find(const char *const *pins, size_t n, const char *path);

/* True when s is exactly 64 hex digits (either case). */
bool posture_sha256_hex_is_valid(const char *s);
