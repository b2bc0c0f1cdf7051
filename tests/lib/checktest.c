/* SPDX-License-Identifier: Apache-2.0 */
#include "checktest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posture/config.h"
#include "posture/fileio.h"
#include "posture/registry.h"

struct posture_result *posture_test_run_check(const char *id,
                                              const char *root,
                                              const char *options,
                                              struct posture_run **ret_run)
{
    posture_auto_registry struct posture_registry *reg = NULL;
    posture_auto_config struct posture_config *config = NULL;
    char *only[] = { (char *) id, NULL };
    int fd;

    if (options) {
        posture_autofree char *text = NULL;
        assert_true(asprintf(&text, "[check.%s]\n%s", id, options) > 0);
        assert_int_equal(posture_config_new(NULL, NULL, &config), 0);
        assert_int_equal(posture_config_parse_string(config, text, strlen(text), "test.conf"), 0);
    }
    assert_int_equal(posture_registry_new(&reg), 0);
    assert_int_equal(posture_registry_add_builtins(reg), 0);
    assert_int_equal(posture_root_open(root, &fd), 0);
    struct posture_run_opts opts = {
        .root_fd = fd, .root_path = root, .only = only, .config = config
    };
    assert_int_equal(posture_runner_run(reg, &opts, ret_run, NULL), 0);
    (void) close(fd);
    assert_int_equal((*ret_run)->n_results, 1);
    struct posture_result *r = (*ret_run)->results[0];
    assert_string_equal(r->id, id);
    return r;
}

const cJSON *posture_test_json_get(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item)
        print_error("no \"%s\" in the evidence\n", key);
    assert_non_null(item);
    return item;
}

void posture_test_expect_str(const cJSON *evidence, const char *key, const char *value)
{
    const cJSON *item = posture_test_json_get(evidence, key);
    if (value) {
        assert_true(cJSON_IsString(item));
        assert_string_equal(item->valuestring, value);
    } else
        assert_true(cJSON_IsNull(item));
}

int posture_test_use_openat2(void **state)
{
    (void) state;
    posture_fileio_force_fallback(false);
    return 0;
}

int posture_test_use_fallback(void **state)
{
    (void) state;
    posture_fileio_force_fallback(true);
    return 0;
}
