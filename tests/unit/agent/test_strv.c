/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "posture/strv.h"

#include "testlib.h"

static void test_extend_contains(void **state)
{
    posture_auto_strv char **l = NULL;
    (void) state;

    assert_int_equal(posture_strv_length(NULL), 0);
    assert_false(posture_strv_contains(NULL, "a"));
    assert_int_equal(posture_strv_extend(&l, "a"), 0);
    assert_int_equal(posture_strv_extend(&l, ""), 0);
    assert_int_equal(posture_strv_extend(&l, "ccc"), 0);
    assert_int_equal(posture_strv_length(l), 3);
    assert_string_equal(l[0], "a");
    assert_string_equal(l[1], "");
    assert_string_equal(l[2], "ccc");
    assert_null(l[3]);
    assert_true(posture_strv_contains(l, "ccc"));
    assert_true(posture_strv_contains(l, ""));
    assert_false(posture_strv_contains(l, "cc"));
    assert_false(posture_strv_contains(l, NULL));
    assert_int_equal(posture_strv_extend(&l, NULL), -EINVAL);
    assert_int_equal(posture_strv_extend(NULL, "x"), -EINVAL);
    assert_int_equal(posture_strv_length(l), 3);

    size_t n = 0;
    POSTURE_FOREACH_STRV (s, l)
        n += strlen(s);
    assert_int_equal(n, 4);
    POSTURE_FOREACH_STRV (s, (char **) NULL)
        fail();
}

static void test_consume(void **state)
{
    posture_auto_strv char **l = NULL;
    (void) state;

    char *s = strdup("owned");
    assert_non_null(s);
    assert_int_equal(posture_strv_consume(&l, s), 0);
    assert_ptr_equal(l[0], s);
    assert_int_equal(posture_strv_consume(&l, NULL), -EINVAL);
    assert_int_equal(posture_strv_length(l), 1);
}

static void test_split(void **state)
{
    char **l = NULL;
    (void) state;

    assert_int_equal(posture_strv_split("  a b\t\tc  ", " \t", &l), 3);
    assert_string_equal(l[0], "a");
    assert_string_equal(l[1], "b");
    assert_string_equal(l[2], "c");
    assert_null(l[3]);
    l = posture_strv_free(l);
    assert_null(l);

    assert_int_equal(posture_strv_split("", ",", &l), 0);
    assert_non_null(l);
    assert_null(l[0]);
    l = posture_strv_free(l);

    assert_int_equal(posture_strv_split(",,,", ",", &l), 0);
    assert_non_null(l);
    assert_null(l[0]);
    l = posture_strv_free(l);

    assert_int_equal(posture_strv_split("one", ",", &l), 1);
    assert_string_equal(l[0], "one");
    l = posture_strv_free(l);

    /* Empty separator set: the whole string is one field. */
    assert_int_equal(posture_strv_split("a,b", "", &l), 1);
    assert_string_equal(l[0], "a,b");
    l = posture_strv_free(l);

    assert_int_equal(posture_strv_split(" x , y ", ",", &l), 2);
    assert_string_equal(l[0], " x ");
    assert_string_equal(l[1], " y ");
    l = posture_strv_free(l);

    assert_int_equal(posture_strv_split(NULL, ",", &l), -EINVAL);
    assert_int_equal(posture_strv_split("a", NULL, &l), -EINVAL);
    assert_null(l);
}

static void test_sort(void **state)
{
    posture_auto_strv char **l = NULL;
    (void) state;

    posture_strv_sort(NULL);
    assert_int_equal(posture_strv_split("pear apple fig Apple apple", " ", &l), 5);
    posture_strv_sort(l);
    assert_string_equal(l[0], "Apple");
    assert_string_equal(l[1], "apple");
    assert_string_equal(l[2], "apple");
    assert_string_equal(l[3], "fig");
    assert_string_equal(l[4], "pear");
    assert_null(posture_strv_free(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extend_contains),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
