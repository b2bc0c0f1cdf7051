/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The output contract of external checks (STYLE.md G2, docs/writing-checks.md): exactly one JSON
 * object
 *   {"posture_check": 1, "name": "<id>", "version": "<semver>",
 *    "status": "pass|warn|fail|not_applicable|error", "reason": "<sentence>",
 *    "remediation": "<sentence>" (optional, may be null), "evidence": {…}}
 * on stdout of an exec check, and on the result pipe of a .so check's child process. Members
 * not listed are ignored (later schema minors may add some). Internal to the agent.
 */

#include <stddef.h>

#include "posture/result.h"

#define POSTURE_CHECK_OUTPUT_SCHEMA 1
/* The most output an external check may produce; beyond it the check is an error. */
#define POSTURE_CHECK_OUTPUT_MAX ((size_t) 64 * 1024)
/* Bytes of the explanation posture_check_output_parse() writes on failure. */
#define POSTURE_CHECK_OUTPUT_WHY_MAX 256

/*
 * Validate buf[0..len) (no NUL terminator needed) and fill result through the host API:
 * version, status, reason, remediation and evidence. expected_name is the check id the output
 * must name. Evidence values are strings, integers (at most +-2^53), booleans, null, arrays and
 * objects, nested as deep and as large as the host API allows (result.h bounds).
 *
 * Returns 0 when the output is a verdict. -EPROTO when it breaks the contract (empty, too large,
 * NUL bytes, invalid UTF-8, not JSON, trailing data, not an object, a missing or mistyped
 * member, wrong schema, wrong name, unknown status, evidence out of bounds): then result is left
 * in an unspecified state (use a scratch result) and why (why_size bytes, may be NULL) says what
 * was wrong in one phrase, e.g. "name 'x' differs from the check id 'y'". -ENOMEM.
 */
int posture_check_output_parse(const char *buf,
                               size_t len,
                               const char *expected_name,
                               struct posture_result *result,
                               char *why,
                               size_t why_size);

/*
 * The contract document for a finished result (status set): what a .so check's child process
 * writes back to the agent. *ret is NUL-terminated compact JSON, *ret_len its length; the caller
 * frees it. -EINVAL when result has no valid status, -ENOMEM.
 */
int posture_check_output_format(const struct posture_result *result, char **ret, size_t *ret_len);
