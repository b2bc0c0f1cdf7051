/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Strict parsers for numbers, booleans, durations and sizes (instead of atoi and friends).
 * All return 0 and write *ret only on success; -EINVAL on syntax errors (empty string,
 * trailing garbage, sign where none is allowed), -ERANGE on overflow.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int posture_parse_u32(const char *s, uint32_t *ret);
int posture_parse_u64(const char *s, uint64_t *ret);
int posture_parse_i64(const char *s, int64_t *ret);
/* 1/yes/true/on and 0/no/false/off, case-insensitive. */
int posture_parse_bool(const char *s, bool *ret);
/* "90", "90s", "5m", "1h", "7d", "250ms", "1h30m" to microseconds. A bare number is seconds. */
int posture_parse_duration_usec(const char *s, uint64_t *ret);
/* "4096", "64K", "8M", "1G" (binary multiples, optional trailing "B"/"iB") to bytes. */
int posture_parse_size(const char *s, uint64_t *ret);
/* Format a duration for people: "5min", "1h 30min", "250ms". Writes into buf (>= 32 bytes). */
const char *posture_format_duration(char *buf, size_t len, uint64_t usec);

/* Syntax of check ids: [a-z0-9_]+(\.[a-z0-9_]+)*, at most 64 bytes. */
bool posture_check_name_is_valid(const char *name);
