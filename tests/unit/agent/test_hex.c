/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/cleanup.h"
#include "posture/hex.h"

#include "testlib.h"

static void test_encode(void **state)
{
    static const uint8_t data[] = { 0x00, 0x0b, 0xff, 0xa5 };
    posture_autofree char *s = NULL;
    char buf[9];

    assert_string_equal(posture_hex_encode_buf(data, sizeof(data), buf), "000bffa5");
    assert_string_equal(posture_hex_encode_buf(data, 0, buf), "");
    assert_int_equal(posture_hex_encode(data, sizeof(data), &s), 0);
    assert_string_equal(s, "000bffa5");
}

static void test_decode(void **state)
{
    uint8_t buf[4] = { 0 };

    assert_int_equal(posture_hex_decode_buf("000bffa5", 8, buf, sizeof(buf)), 4);
    assert_int_equal(buf[0], 0x00);
    assert_int_equal(buf[1], 0x0b);
    assert_int_equal(buf[2], 0xff);
    assert_int_equal(buf[3], 0xa5);
    assert_int_equal(posture_hex_decode_buf("", 0, buf, sizeof(buf)), 0);
    /* strict: odd length, upper case, other characters, too long for the buffer */
    assert_int_equal(posture_hex_decode_buf("abc", 3, buf, sizeof(buf)), -EBADMSG);
    assert_int_equal(posture_hex_decode_buf("AB", 2, buf, sizeof(buf)), -EBADMSG);
    assert_int_equal(posture_hex_decode_buf("0x", 2, buf, sizeof(buf)), -EBADMSG);
    assert_int_equal(posture_hex_decode_buf("g0", 2, buf, sizeof(buf)), -EBADMSG);
    assert_int_equal(posture_hex_decode_buf(" 0", 2, buf, sizeof(buf)), -EBADMSG);
    assert_int_equal(posture_hex_decode_buf("0011223344", 10, buf, sizeof(buf)), -E2BIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
