/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posture/utf8.h"

#include "testlib.h"

/* sizeof a string literal without its NUL, so embedded NULs count. */
#define LIT(s) (s), (sizeof(s) - 1)

static void test_valid_sequences(void **state)
{
    uint32_t cp = 0;
    (void) state;

    assert_int_equal(posture_utf8_decode(LIT("A"), &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(posture_utf8_decode("\0x", 2, &cp), 1); /* NUL is a character */
    assert_int_equal(cp, 0);
    assert_int_equal(posture_utf8_decode(LIT("\x7f"), &cp), 1);
    assert_int_equal(cp, 0x7f);

    /* The smallest and largest code point of each length. */
    assert_int_equal(posture_utf8_decode(LIT("\xc2\x80"), &cp), 2);
    assert_int_equal(cp, 0x80);
    assert_int_equal(posture_utf8_decode(LIT("\xdf\xbf"), &cp), 2);
    assert_int_equal(cp, 0x7ff);
    assert_int_equal(posture_utf8_decode(LIT("\xe0\xa0\x80"), &cp), 3);
    assert_int_equal(cp, 0x800);
    assert_int_equal(posture_utf8_decode(LIT("\xef\xbf\xbf"), &cp), 3);
    assert_int_equal(cp, 0xffff);
    assert_int_equal(posture_utf8_decode(LIT("\xf0\x90\x80\x80"), &cp), 4);
    assert_int_equal(cp, 0x10000);
    assert_int_equal(posture_utf8_decode(LIT("\xf4\x8f\xbf\xbf"), &cp), 4);
    assert_int_equal(cp, 0x10ffff);

    /* Around the surrogates, and only the first sequence is measured. */
    assert_int_equal(posture_utf8_decode(LIT("\xed\x9f\xbf"), &cp), 3);
    assert_int_equal(cp, 0xd7ff);
    assert_int_equal(posture_utf8_decode(LIT("\xee\x80\x80"), &cp), 3);
    assert_int_equal(cp, 0xe000);
    assert_int_equal(posture_utf8_sequence_length(LIT("\xc3\xa9t\xc3\xa9")), 2);
    assert_int_equal(posture_utf8_sequence_length(LIT("€uro")), 3);

    /* The code point is optional. */
    assert_int_equal(posture_utf8_decode(LIT("\xf0\x9f\x98\x80"), NULL), 4);
}

static void test_invalid_sequences(void **state)
{
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        { LIT("\x80") },             /* stray continuation byte */
        { LIT("\xbf") },             /* stray continuation byte */
        { LIT("\xc0\x80") },         /* overlong NUL */
        { LIT("\xc1\xbf") },         /* overlong DEL */
        { LIT("\xe0\x9f\xbf") },     /* overlong U+07FF */
        { LIT("\xf0\x8f\xbf\xbf") }, /* overlong U+FFFF */
        { LIT("\xed\xa0\x80") },     /* U+D800, a surrogate */
        { LIT("\xed\xbf\xbf") },     /* U+DFFF, a surrogate */
        { LIT("\xf4\x90\x80\x80") }, /* U+110000 */
        { LIT("\xf5\x80\x80\x80") }, /* lead byte beyond U+10FFFF */
        { LIT("\xf8\x88\x80\x80\x80") },
        { LIT("\xfe") },
        { LIT("\xff") },
        { LIT("\xc3") },             /* cut short */
        { LIT("\xe2\x82") },         /* cut short */
        { LIT("\xf0\x9f\x98") },     /* cut short */
        { LIT("\xc3(") },            /* continuation missing */
        { LIT("\xe2\x28\xa1") },     /* continuation missing */
        { LIT("\xf0\x9f\x98\x28") }, /* continuation missing */
        { LIT("\xc3\x00") },         /* NUL is not a continuation */
    };
    (void) state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t cp = 0xabcdef;
        if (posture_utf8_decode(bad[i].s, bad[i].n, &cp) != 0)
            fail_msg("case %zu was accepted", i);
        assert_int_equal(cp, 0xabcdef); /* untouched on failure */
        assert_false(posture_utf8_is_valid(bad[i].s, bad[i].n));
    }

    /* The length bound is honoured even when more bytes follow in memory. */
    assert_int_equal(posture_utf8_sequence_length("\xe2\x82\xac", 2), 0);
    assert_int_equal(posture_utf8_sequence_length("\xe2\x82\xac", 3), 3);
    assert_int_equal(posture_utf8_sequence_length("a", 0), 0);
    assert_int_equal(posture_utf8_sequence_length(NULL, 0), 0);
    assert_int_equal(posture_utf8_sequence_length(NULL, 4), 0);
}

static void test_is_valid(void **state)
{
    (void) state;

    assert_true(posture_utf8_is_valid(NULL, 0));
    assert_true(posture_utf8_is_valid(LIT("")));
    assert_true(posture_utf8_is_valid(LIT("plain ASCII")));
    assert_true(posture_utf8_is_valid(LIT("Debian GNU/Linux 12 (bookworm) — ✓ 😀")));
    assert_true(posture_utf8_is_valid(LIT("nul\0inside")));
    assert_false(posture_utf8_is_valid(LIT("ok then \xff")));
    assert_false(posture_utf8_is_valid(LIT("\xe2\x82\xac\xe2\x82")));      /* last one cut */
    assert_true(posture_utf8_is_valid("\xe2\x82\xac\xe2\x82", 3));         /* ... not seen */
    assert_false(posture_utf8_is_valid(LIT("a\xed\xa0\x80\xed\xb0\x80"))); /* CESU-8 pair */
}

/* Sanitise s[0..n) into a fresh buffer and compare with want. */
static void check_sanitized(const char *s, size_t n, const char *want)
{
    posture_auto_strbuf struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);

    assert_int_equal(posture_utf8_append_sanitized(&sb, s, n), 0);
    assert_non_null(sb.buf);
    assert_string_equal(sb.buf, want);
    assert_int_equal(sb.len, strlen(want));
    assert_true(posture_utf8_is_valid(sb.buf, sb.len));
}

static void test_sanitize(void **state)
{
    (void) state;

    check_sanitized(LIT(""), "");
    check_sanitized(NULL, 0, "");
    check_sanitized(LIT("caf\xc3\xa9 ok"), "caf\xc3\xa9 ok");
    /* Each byte that does not start a valid sequence becomes one U+FFFD. */
    check_sanitized(LIT("a\xff"
                        "b"),
                    "a" POSTURE_UTF8_REPLACEMENT "b");
    check_sanitized(LIT("\xc0\x80"), POSTURE_UTF8_REPLACEMENT POSTURE_UTF8_REPLACEMENT);
    check_sanitized(LIT("x\xe2\x82"), "x" POSTURE_UTF8_REPLACEMENT POSTURE_UTF8_REPLACEMENT);
    check_sanitized(LIT("\xed\xa0\x80!"),
                    POSTURE_UTF8_REPLACEMENT POSTURE_UTF8_REPLACEMENT POSTURE_UTF8_REPLACEMENT "!");
    /* A valid sequence right after an invalid byte survives. */
    check_sanitized(LIT("\x80\xc3\xa9"), POSTURE_UTF8_REPLACEMENT "\xc3\xa9");
    /* Only n bytes are read. */
    check_sanitized("ab\xff", 2, "ab");
    check_sanitized("\xc3\xa9", 1, POSTURE_UTF8_REPLACEMENT);
}

static void test_sanitize_appends_and_fails_cleanly(void **state)
{
    posture_auto_strbuf struct posture_strbuf sb = POSTURE_STRBUF_INIT(8);
    (void) state;

    assert_int_equal(posture_strbuf_puts(&sb, "ab"), 0);
    assert_int_equal(posture_utf8_append_sanitized(&sb, LIT("c\xff")), 0);
    assert_string_equal(sb.buf, "abc" POSTURE_UTF8_REPLACEMENT);
    assert_int_equal(sb.len, 6);

    /* Past the limit: -E2BIG, and nothing of the text stays. */
    assert_int_equal(posture_utf8_append_sanitized(&sb, LIT("d\xfe")), -E2BIG);
    assert_string_equal(sb.buf, "abc" POSTURE_UTF8_REPLACEMENT);
    assert_int_equal(sb.len, 6);
    assert_int_equal(posture_utf8_append_sanitized(&sb, LIT("xyz")), -E2BIG);
    assert_int_equal(sb.len, 6);
    assert_int_equal(posture_utf8_append_sanitized(&sb, LIT("xy")), 0);
    assert_string_equal(sb.buf, "abc" POSTURE_UTF8_REPLACEMENT "xy");

    assert_int_equal(posture_utf8_append_sanitized(NULL, LIT("x")), -EINVAL);
    assert_int_equal(posture_utf8_append_sanitized(&sb, NULL, 1), -EINVAL);
    assert_int_equal(sb.len, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_sequences),
        cmocka_unit_test(test_invalid_sequences),
        cmocka_unit_test(test_is_valid),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_sanitize_appends_and_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
