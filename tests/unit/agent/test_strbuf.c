/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "posture/strbuf.h"

#include "testlib.h"

static void test_append(void **state)
{
    posture_auto_strbuf struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);
    (void) state;

    assert_null(sb.buf);
    assert_int_equal(posture_strbuf_append(&sb, "abcdef", 3), 0);
    assert_string_equal(sb.buf, "abc");
    assert_int_equal(sb.len, 3);
    assert_int_equal(posture_strbuf_puts(&sb, "de"), 0);
    assert_int_equal(posture_strbuf_putc(&sb, 'f'), 0);
    assert_int_equal(posture_strbuf_append(&sb, NULL, 0), 0);
    assert_string_equal(sb.buf, "abcdef");
    assert_int_equal(sb.len, 6);
    assert_true(sb.cap > sb.len);
    assert_int_equal(posture_strbuf_append(&sb, NULL, 1), -EINVAL);
    assert_int_equal(posture_strbuf_puts(&sb, NULL), -EINVAL);

    /* Growth across many reallocations. */
    for (int i = 0; i < 10000; i++)
        assert_int_equal(posture_strbuf_putc(&sb, (char) ('a' + i % 26)), 0);
    assert_int_equal(sb.len, 10006);
    assert_int_equal(strlen(sb.buf), 10006);
    assert_int_equal(sb.buf[6], 'a');
    assert_int_equal(sb.buf[10005], 'a' + 9999 % 26);

    /* Appending part of itself survives the buffer moving. */
    size_t len = sb.len;
    assert_int_equal(posture_strbuf_append(&sb, sb.buf, len), 0);
    assert_int_equal(sb.len, 2 * len);
    assert_memory_equal(sb.buf, sb.buf + len, len);
}

static void test_empty_append_allocates(void **state)
{
    struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);
    (void) state;

    assert_int_equal(posture_strbuf_append(&sb, "", 0), 0);
    assert_non_null(sb.buf);
    assert_string_equal(sb.buf, "");
    posture_strbuf_done(&sb);
    assert_null(sb.buf);
    assert_int_equal(sb.len, 0);
    posture_strbuf_done(&sb);
}

static void test_limit(void **state)
{
    posture_auto_strbuf struct posture_strbuf sb = POSTURE_STRBUF_INIT(5);
    (void) state;

    assert_int_equal(posture_strbuf_puts(&sb, "abc"), 0);
    assert_int_equal(posture_strbuf_puts(&sb, "def"), -E2BIG);
    assert_string_equal(sb.buf, "abc");
    assert_int_equal(sb.len, 3);
    assert_int_equal(posture_strbuf_printf(&sb, "%d", 123), -E2BIG);
    assert_string_equal(sb.buf, "abc");
    assert_int_equal(sb.len, 3);
    assert_int_equal(posture_strbuf_printf(&sb, "%d", 12), 0);
    assert_string_equal(sb.buf, "abc12");
    assert_int_equal(posture_strbuf_putc(&sb, 'x'), -E2BIG);
    assert_int_equal(posture_strbuf_append(&sb, "", 0), 0);
    assert_string_equal(sb.buf, "abc12");
    assert_true(sb.cap <= 6);

    /* Lowering the limit below the length refuses further appends. */
    sb.max_len = 2;
    assert_int_equal(posture_strbuf_putc(&sb, 'y'), -E2BIG);
    assert_string_equal(sb.buf, "abc12");
}

static void test_default_limit(void **state)
{
    posture_auto_strbuf struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);
    size_t chunk = 1024 * 1024;
    char *block = malloc(chunk);
    (void) state;

    assert_non_null(block);
    memset(block, 'z', chunk);
    for (int i = 0; i < 16; i++)
        assert_int_equal(posture_strbuf_append(&sb, block, chunk), 0);
    assert_int_equal(sb.len, 16 * chunk);
    assert_int_equal(posture_strbuf_putc(&sb, 'z'), -E2BIG);
    assert_int_equal(posture_strbuf_printf(&sb, "%s", ""), 0);
    assert_int_equal(sb.len, 16 * chunk);
    free(block);
}

static void test_printf_steal(void **state)
{
    struct posture_strbuf sb = POSTURE_STRBUF_INIT(1000);
    (void) state;

    char *empty = posture_strbuf_steal(&sb);
    assert_non_null(empty);
    assert_string_equal(empty, "");
    free(empty);

    assert_int_equal(posture_strbuf_printf(&sb, "%s=%d;", "a", 1), 0);
    assert_int_equal(posture_strbuf_printf(&sb, "%05.1f|%-3s|", 2.25, "x"), 0);
    assert_int_equal(posture_strbuf_printf(&sb, "%s", ""), 0);
    assert_string_equal(sb.buf, "a=1;002.2|x  |");
    char *s = posture_strbuf_steal(&sb);
    assert_string_equal(s, "a=1;002.2|x  |");
    assert_null(sb.buf);
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.cap, 0);
    assert_int_equal(sb.max_len, 1000);
    free(s);

    /* Reusable after steal. */
    assert_int_equal(posture_strbuf_puts(&sb, "again"), 0);
    assert_string_equal(sb.buf, "again");
    posture_strbuf_done(&sb);
    assert_null(posture_strbuf_steal(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append),       cmocka_unit_test(test_empty_append_allocates),
        cmocka_unit_test(test_limit),        cmocka_unit_test(test_default_limit),
        cmocka_unit_test(test_printf_steal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
