/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "posture/b64url.h"

#include "testlib.h"

/* RFC 4648 §10 vectors, in the URL-safe alphabet without padding. */
static const struct {
    const char *raw, *enc;
} vectors[] = {
    { "", "" },           { "f", "Zg" },          { "fo", "Zm8" },          { "foo", "Zm9v" },
    { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
};

static void test_vectors(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char *enc = NULL;
        uint8_t *dec = NULL;
        size_t n = 99;

        assert_int_equal(posture_b64url_encode(vectors[i].raw, strlen(vectors[i].raw), &enc), 0);
        assert_string_equal(enc, vectors[i].enc);
        assert_int_equal(posture_b64url_encoded_len(strlen(vectors[i].raw)), strlen(enc));
        assert_int_equal(posture_b64url_decode(enc, strlen(enc), 100, &dec, &n), 0);
        assert_int_equal(n, strlen(vectors[i].raw));
        assert_memory_equal(dec, vectors[i].raw, n);
        assert_int_equal(dec[n], 0);
        assert_true(posture_b64url_check(enc, strlen(enc), 0, 100));
        free(enc);
        free(dec);
    }
}

/* The two characters that differ from standard base64, and every byte value round trip. */
static void test_alphabet(void **state)
{
    uint8_t all[256], back[256];
    char *enc = NULL;
    (void) state;

    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t) i;
    assert_int_equal(posture_b64url_encode(all, sizeof(all), &enc), 0);
    assert_null(strchr(enc, '+'));
    assert_null(strchr(enc, '/'));
    assert_null(strchr(enc, '='));
    assert_int_equal(posture_b64url_decode_buf(enc, strlen(enc), back, sizeof(back)), 256);
    assert_memory_equal(all, back, 256);
    free(enc);

    const uint8_t fb[] = { 0xfb, 0xff };
    assert_int_equal(posture_b64url_encode(fb, 2, &enc), 0);
    assert_string_equal(enc, "-_8");
    free(enc);
}

static void test_rejects(void **state)
{
    static const char *const bad[] = {
        "Zg==",     /* padding */
        "Zm8=",     /* padding */
        "Zg=",      /* padding */
        "+_8",      /* standard alphabet '+' */
        "-/8",      /* standard alphabet '/' */
        "Zm9v Yg",  /* space */
        "Zm9v\nYg", /* newline */
        "Zm9vY",    /* impossible length (4n+1) */
        "Zh",       /* non-canonical: low 4 bits of 'h' set */
        "Zm9",      /* non-canonical: low 2 bits of '9' set */
        "Zm8\x80",  /* non-ASCII */
        "Z*",       /* other punctuation */
    };
    uint8_t buf[16];
    (void) state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *dec = (uint8_t *) "unchanged";
        size_t n = 7;

        assert_int_equal(posture_b64url_decode(bad[i], strlen(bad[i]), 100, &dec, &n), -EBADMSG);
        assert_string_equal((const char *) dec, "unchanged");
        assert_int_equal(n, 7);
        assert_int_equal(posture_b64url_decode_buf(bad[i], strlen(bad[i]), buf, sizeof(buf)),
                         -EBADMSG);
        assert_false(posture_b64url_check(bad[i], strlen(bad[i]), 0, 100));
    }
    /* An embedded NUL counts as a character, not as the end. */
    assert_int_equal(posture_b64url_decode_buf("Zm\0v", 4, buf, sizeof(buf)), -EBADMSG);
}

static void test_bounds(void **state)
{
    uint8_t *dec = NULL;
    uint8_t buf[3];
    char out[4];
    (void) state;

    assert_int_equal(posture_b64url_decode("Zm9vYg", 6, 3, &dec, NULL), -E2BIG);
    assert_null(dec);
    assert_int_equal(posture_b64url_decode_buf("Zm9vYg", 6, buf, sizeof(buf)), -E2BIG);
    assert_int_equal(posture_b64url_decode_buf("Zm9v", 4, buf, sizeof(buf)), 3);
    assert_false(posture_b64url_check("Zm9vYg", 6, 0, 3));
    assert_false(posture_b64url_check("Zm9v", 4, 4, 10));
    /* "foo" needs 4 characters and a NUL. */
    assert_int_equal(posture_b64url_encode_buf("foo", 3, out, sizeof(out)), -ENOBUFS);
    char out5[5];
    assert_int_equal(posture_b64url_encode_buf("foo", 3, out5, sizeof(out5)), 4);
    assert_string_equal(out5, "Zm9v");
    assert_int_equal(posture_b64url_decode(NULL, 1, 10, &dec, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_alphabet),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
