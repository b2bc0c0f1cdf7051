/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "posture/registry.h"

#include "testlib.h"

static int run_pass(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) state;
    return ctx->api->set_status(r, POSTURE_STATUS_PASS);
}

static const struct posture_check_desc template = {
    POSTURE_CHECK_DESC_HEADER,       .name = "test.valid", .version = "1.0.0",
    .summary = "a valid descriptor", .run = run_pass,
};

/* Add d to a fresh registry; returns the error and leaves the registry empty on refusal. */
static int try_add(const struct posture_check_desc *d, const char **ret_why)
{
    posture_auto_registry struct posture_registry *reg = NULL;
    assert_int_equal(posture_registry_new(&reg), 0);
    int r = posture_registry_add(reg, d, POSTURE_CHECK_SOURCE_BUILTIN, NULL, ret_why);
    assert_int_equal(posture_registry_count(reg), r < 0 ? 0 : 1);
    return r;
}

static void expect_refused(const struct posture_check_desc *d, int error)
{
    const char *why = NULL;
    assert_int_equal(try_add(d, &why), error);
    assert_non_null(why);
    assert_true(strlen(why) > 10);
    /* ret_why is optional. */
    assert_int_equal(try_add(d, NULL), error);
}

static void test_valid_template(void **state)
{
    (void) state;
    const char *why = "untouched";
    assert_int_equal(try_add(&template, &why), 0);
    assert_string_equal(why, "untouched");
}

static void test_refuses_abi_major(void **state)
{
    (void) state;
    struct posture_check_desc d = template;
    d.abi_major = POSTURE_CHECK_ABI_MAJOR + 1;
    expect_refused(&d, -EPROTO);
    d.abi_major = 0;
    expect_refused(&d, -EPROTO);
}

static void test_struct_size(void **state)
{
    (void) state;
    struct posture_check_desc d = template;
    d.struct_size = sizeof(struct posture_check_desc) - 1;
    expect_refused(&d, -EPROTO);
    d.struct_size = 0;
    expect_refused(&d, -EPROTO);
    /* A check built against a newer minor (larger descriptor) still registers. */
    d.struct_size = sizeof(struct posture_check_desc) + 16;
    d.abi_minor = POSTURE_CHECK_ABI_MINOR + 1;
    assert_int_equal(try_add(&d, NULL), 0);
}

static void test_refuses_bad_names(void **state)
{
    (void) state;
    static const char *const bad[] = { "Foo", "a..b", ".a", "a.", "", "a b", "a-b", "a/b", "é" };
    struct posture_check_desc d = template;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        d.name = bad[i];
        expect_refused(&d, -EINVAL);
    }
    d.name = NULL;
    expect_refused(&d, -EINVAL);

    char name[66];
    memset(name, 'a', 65);
    name[65] = '\0';
    d.name = name;
    expect_refused(&d, -EINVAL);
    name[64] = '\0'; /* 64 bytes is the limit */
    assert_int_equal(try_add(&d, NULL), 0);

    d.name = "a.b_c.d9";
    assert_int_equal(try_add(&d, NULL), 0);
}

static void test_refuses_bad_version(void **state)
{
    (void) state;
    struct posture_check_desc d = template;
    d.version = NULL;
    expect_refused(&d, -EINVAL);
    d.version = "";
    expect_refused(&d, -EINVAL);
    char long_version[80];
    memset(long_version, '1', sizeof(long_version) - 1);
    long_version[sizeof(long_version) - 1] = '\0';
    d.version = long_version;
    expect_refused(&d, -EINVAL);
}

static void test_refuses_no_run(void **state)
{
    (void) state;
    struct posture_check_desc d = template;
    d.run = NULL;
    expect_refused(&d, -EPROTO);
}

static void test_option_tables(void **state)
{
    (void) state;
    struct posture_check_desc d = template;

    static const struct posture_option good[] = {
        { POSTURE_OPTION_STRING, "mode", "strict", "help" },
        { POSTURE_OPTION_DURATION, "max_age", "7d", NULL },
        { POSTURE_OPTION_STRV, "names", NULL, NULL },
        { 0 },
    };
    d.options = good;
    assert_int_equal(try_add(&d, NULL), 0);

    static const struct posture_option bad_key[] = {
        { POSTURE_OPTION_STRING, "Mode", NULL, NULL },
        { 0 },
    };
    d.options = bad_key;
    expect_refused(&d, -EINVAL);

    static const struct posture_option empty_key[] = {
        { POSTURE_OPTION_STRING, "", NULL, NULL },
        { 0 },
    };
    d.options = empty_key;
    expect_refused(&d, -EINVAL);

    static const struct posture_option bad_type[] = {
        { (enum posture_option_type) POSTURE_OPTION__MAX, "mode", NULL, NULL },
        { 0 },
    };
    d.options = bad_type;
    expect_refused(&d, -EINVAL);

    static const struct posture_option twice[] = {
        { POSTURE_OPTION_STRING, "mode", NULL, NULL },
        { POSTURE_OPTION_BOOL, "mode", NULL, NULL },
        { 0 },
    };
    d.options = twice;
    expect_refused(&d, -EINVAL);

    static const struct posture_option bad_default[] = {
        { POSTURE_OPTION_BOOL, "strict", "maybe", NULL },
        { 0 },
    };
    d.options = bad_default;
    expect_refused(&d, -EINVAL);
}

static void test_refuses_duplicates(void **state)
{
    (void) state;
    posture_auto_registry struct posture_registry *reg = NULL;
    struct posture_check_desc other = template;
    const char *why = NULL;

    other.version = "2.0.0";
    assert_int_equal(posture_registry_new(&reg), 0);
    assert_int_equal(posture_registry_add(reg, &template, POSTURE_CHECK_SOURCE_BUILTIN, NULL, NULL),
                     0);
    assert_int_equal(posture_registry_add(reg, &other, POSTURE_CHECK_SOURCE_SO, "/x.so", &why),
                     -EEXIST);
    assert_non_null(why);
    assert_int_equal(posture_registry_count(reg), 1);
    assert_ptr_equal(posture_registry_find(reg, "test.valid")->desc, &template);
}

static void test_sorted_and_find(void **state)
{
    (void) state;
    static const char *const names[] = { "zeta", "alpha.b", "m.x", "alpha", "alpha_b", "b" };
    static const char *const sorted[] = { "alpha", "alpha.b", "alpha_b", "b", "m.x", "zeta" };
    struct posture_check_desc d[6];
    posture_auto_registry struct posture_registry *reg = NULL;
    char path[32] = "/usr/lib/posture/checks/x.so";

    assert_int_equal(posture_registry_new(&reg), 0);
    for (size_t i = 0; i < 6; i++) {
        d[i] = template;
        d[i].name = names[i];
        assert_int_equal(
            posture_registry_add(reg, &d[i],
                                 i == 2 ? POSTURE_CHECK_SOURCE_SO : POSTURE_CHECK_SOURCE_BUILTIN,
                                 i == 2 ? path : NULL, NULL),
            0);
    }
    path[0] = 'X'; /* the registry keeps its own copy */

    assert_int_equal(posture_registry_count(reg), 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(posture_registry_at(reg, i)->desc->name, sorted[i]);
    assert_null(posture_registry_at(reg, 6));

    const struct posture_check *c = posture_registry_find(reg, "m.x");
    assert_non_null(c);
    assert_ptr_equal(c->desc, &d[2]);
    assert_int_equal(c->source, POSTURE_CHECK_SOURCE_SO);
    assert_string_equal(c->path, "/usr/lib/posture/checks/x.so");
    assert_null(c->loader_data);
    assert_null(posture_registry_find(reg, "zeta")->path);
    assert_null(posture_registry_find(reg, "nope"));
    assert_null(posture_registry_find(reg, "alpha."));
    assert_null(posture_registry_find(reg, NULL));
    assert_null(posture_registry_find(NULL, "alpha"));
    assert_int_equal(posture_registry_count(NULL), 0);
}

static void test_argument_checks(void **state)
{
    (void) state;
    posture_auto_registry struct posture_registry *reg = NULL;
    assert_int_equal(posture_registry_new(NULL), -EINVAL);
    assert_int_equal(posture_registry_new(&reg), 0);
    assert_int_equal(
        posture_registry_add(NULL, &template, POSTURE_CHECK_SOURCE_BUILTIN, NULL, NULL), -EINVAL);
    assert_int_equal(posture_registry_add(reg, NULL, POSTURE_CHECK_SOURCE_BUILTIN, NULL, NULL),
                     -EINVAL);
    assert_int_equal(posture_registry_add(reg, &template, POSTURE_CHECK_SOURCE__MAX, NULL, NULL),
                     -EINVAL);
    assert_null(posture_registry_free(NULL));
}

static void test_builtins(void **state)
{
    (void) state;
    posture_auto_registry struct posture_registry *reg = NULL;

    assert_true(posture_builtin_count() >= 1);
    assert_null(posture_builtin_at(posture_builtin_count()));
    assert_int_equal(posture_registry_new(&reg), 0);
    assert_int_equal(posture_registry_add_builtins(reg), 0);
    assert_int_equal(posture_registry_count(reg), posture_builtin_count());

    const struct posture_check *c = posture_registry_find(reg, "os.release");
    assert_non_null(c);
    assert_int_equal(c->source, POSTURE_CHECK_SOURCE_BUILTIN);
    assert_string_equal(c->desc->version, "1.0.0");
    assert_string_equal(c->desc->summary,
                        "Operating system identity, kernel release and architecture");

    /* Every built-in is already there: a second pass is refused. */
    assert_int_equal(posture_registry_add_builtins(reg), -EEXIST);
}

static void test_string_tables(void **state)
{
    (void) state;
    static const char *const statuses[] = { "pass", "warn", "fail", "not_applicable", "error" };

    for (int i = 0; i < POSTURE_STATUS__MAX; i++) {
        assert_string_equal(posture_status_to_string(i), statuses[i]);
        assert_int_equal(posture_status_from_string(statuses[i]), i);
    }
    assert_null(posture_status_to_string(POSTURE_STATUS__MAX));
    assert_null(posture_status_to_string(-1));
    assert_int_equal(posture_status_from_string("PASS"), POSTURE_STATUS__INVALID);
    assert_int_equal(posture_status_from_string(""), POSTURE_STATUS__INVALID);
    assert_int_equal(posture_status_from_string(NULL), POSTURE_STATUS__INVALID);

    assert_string_equal(posture_check_source_to_string(POSTURE_CHECK_SOURCE_BUILTIN), "built-in");
    assert_string_equal(posture_check_source_to_string(POSTURE_CHECK_SOURCE_SO), ".so");
    assert_string_equal(posture_check_source_to_string(POSTURE_CHECK_SOURCE_EXEC), "exec");
    assert_null(posture_check_source_to_string(POSTURE_CHECK_SOURCE__MAX));
    assert_null(posture_check_source_to_string(-1));

    assert_string_equal(posture_option_type_to_string(POSTURE_OPTION_STRING), "string");
    assert_string_equal(posture_option_type_to_string(POSTURE_OPTION_BOOL), "bool");
    assert_string_equal(posture_option_type_to_string(POSTURE_OPTION_INT), "int");
    assert_string_equal(posture_option_type_to_string(POSTURE_OPTION_DURATION), "duration");
    assert_string_equal(posture_option_type_to_string(POSTURE_OPTION_SIZE), "size");
    assert_string_equal(posture_option_type_to_string(POSTURE_OPTION_STRV), "list");
    assert_null(posture_option_type_to_string(POSTURE_OPTION__MAX));
    assert_null(posture_option_type_to_string(-1));
}

static void test_find_option(void **state)
{
    (void) state;
    static const struct posture_option options[] = {
        { POSTURE_OPTION_STRING, "mode", "strict", NULL },
        { POSTURE_OPTION_INT, "limit", NULL, NULL },
        { 0 },
    };
    struct posture_check_desc d = template;

    assert_null(posture_check_find_option(&d, "mode"));
    d.options = options;
    assert_ptr_equal(posture_check_find_option(&d, "mode"), &options[0]);
    assert_ptr_equal(posture_check_find_option(&d, "limit"), &options[1]);
    assert_null(posture_check_find_option(&d, "lim"));
    assert_null(posture_check_find_option(&d, NULL));
    assert_null(posture_check_find_option(NULL, "mode"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_template),
        cmocka_unit_test(test_refuses_abi_major),
        cmocka_unit_test(test_struct_size),
        cmocka_unit_test(test_refuses_bad_names),
        cmocka_unit_test(test_refuses_bad_version),
        cmocka_unit_test(test_refuses_no_run),
        cmocka_unit_test(test_option_tables),
        cmocka_unit_test(test_refuses_duplicates),
        cmocka_unit_test(test_sorted_and_find),
        cmocka_unit_test(test_argument_checks),
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_string_tables),
        cmocka_unit_test(test_find_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
