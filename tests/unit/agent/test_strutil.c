/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "posture/cleanup.h"
#include "posture/strutil.h"

#include "testlib.h"

static void test_set_printf(void **state)
{
    posture_autofree char *s = NULL;
    (void) state;

    /* From NULL, then replacing (the old string is freed: the leak checker would see it). */
    assert_int_equal(posture_set_printf(&s, "%s has %u %s", "disk", 3u, "layers"), 0);
    assert_string_equal(s, "disk has 3 layers");
    assert_int_equal(posture_set_printf(&s, "%d%%", -5), 0);
    assert_string_equal(s, "-5%");
    /* The slot may be an argument: it is read before the old string is freed. */
    assert_int_equal(posture_set_printf(&s, "<%s>", s), 0);
    assert_string_equal(s, "<-5%>");
    assert_int_equal(posture_set_printf(&s, "%s", ""), 0);
    assert_non_null(s);
    assert_string_equal(s, "");
}

static void test_bad_arguments(void **state)
{
    posture_autofree char *s = strdup("kept");
    (void) state;

    assert_non_null(s);
    assert_int_equal(posture_set_printf(NULL, "%s", "x"), -EINVAL);
    /* In the C locale a non-ASCII wide character cannot be encoded: the slot is untouched. */
    static const wchar_t wide[] = { 0xe9, 0 };
    assert_int_equal(posture_set_printf(&s, "%ls", wide), -EILSEQ);
    assert_string_equal(s, "kept");
}

static int set_v(char **slot, const char *format, ...) __attribute__((format(printf, 2, 3)));
static int set_v(char **slot, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    int r = posture_set_vprintf(slot, format, ap);
    va_end(ap);
    return r;
}

static void test_set_vprintf(void **state)
{
    posture_autofree char *s = NULL;
    (void) state;

    assert_int_equal(set_v(&s, "%s:%05.1f:%c", "v", 2.5, 'z'), 0);
    assert_string_equal(s, "v:002.5:z");
    assert_int_equal(set_v(&s, "%zu", (size_t) 42), 0);
    assert_string_equal(s, "42");
    assert_int_equal(set_v(NULL, "x"), -EINVAL);
    assert_string_equal(s, "42");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_printf),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_set_vprintf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
