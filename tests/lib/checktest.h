/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Helpers for the tests of checks (library posture_testlib_checks): run one check through the
 * registry and the runner on a root directory, read its evidence back, and run a root test
 * under both path resolvers of fileio.h.
 */

#include <cjson/cJSON.h>

#include "posture/result.h"
#include "posture/runner.h"

#include "testlib.h"

/*
 * Run the check `id` (from the built-in table) once on root, a directory path, through
 * posture_runner_run(). options is the body of its "[check.<id>]" config section ("key = value"
 * lines), or NULL for no config. Asserts that the run holds exactly one result, of that check,
 * and returns it: it is owned by *ret_run, which the caller frees (posture_auto_run).
 */
struct posture_result *posture_test_run_check(const char *id,
                                              const char *root,
                                              const char *options,
                                              struct posture_run **ret_run);

/* obj[key] (the evidence object or one nested in it); fails the test, naming the key, when there
 * is none. */
const cJSON *posture_test_json_get(const cJSON *obj, const char *key);

/* Assert that evidence[key] is the string value, or JSON null when value is NULL. */
void posture_test_expect_str(const cJSON *evidence, const char *key, const char *value);

/* cmocka setup functions: resolve paths inside roots through openat2(), or through the
 * userspace walk (posture_fileio_force_fallback). The first is also the teardown. */
int posture_test_use_openat2(void **state);
int posture_test_use_fallback(void **state);

/* A test of roots listed twice in a CMUnitTest table: "<f>/openat2" and "<f>/fallback". */
#define POSTURE_TEST_ON_RESOLVER(f, how, setup_fn)                       \
    {                                                                    \
        .name = #f "/" how, .test_func = (f), .setup_func = (setup_fn),  \
        .teardown_func = posture_test_use_openat2, .initial_state = NULL \
    }
#define POSTURE_TEST_ON_OPENAT2(f) POSTURE_TEST_ON_RESOLVER(f, "openat2", posture_test_use_openat2)
#define POSTURE_TEST_ON_FALLBACK(f) \
    POSTURE_TEST_ON_RESOLVER(f, "fallback", posture_test_use_fallback)
