/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "posture/err.h"
#include "posture/log.h"

#include "testlib.h"

static void test_errno_name(void **state)
{
    (void) state;
    assert_string_equal(posture_errno_name(ENOENT), "ENOENT");
    assert_string_equal(posture_errno_name(-ENOENT), "ENOENT");
    assert_string_equal(posture_errno_name(EBADMSG), "EBADMSG");
    assert_string_equal(posture_errno_name(-E2BIG), "E2BIG");
    assert_string_equal(posture_errno_name(0), "E0");
    assert_string_equal(posture_errno_name(9999), "E9999");
    assert_string_equal(posture_errno_name(-9999), "E9999");
    assert_string_equal(posture_errno_name(INT_MIN), "E-2147483648");
    assert_string_equal(posture_errno_name(INT_MAX), "E2147483647");
}

static void *other_thread(void *arg)
{
    (void) arg;
    /* Fills this thread's buffer; must not disturb the main thread's. */
    return (void *) (strcmp(posture_errno_name(4242), "E4242") == 0 ? arg : NULL);
}

static void test_errno_name_per_thread(void **state)
{
    pthread_t t;
    static int token;
    void *res = NULL;
    (void) state;

    const char *mine = posture_errno_name(1234);
    assert_int_equal(pthread_create(&t, NULL, other_thread, &token), 0);
    assert_int_equal(pthread_join(t, &res), 0);
    assert_ptr_equal(res, &token);
    assert_string_equal(mine, "E1234");
}

static void test_negative_errno(void **state)
{
    (void) state;
    errno = EACCES;
    assert_int_equal(posture_negative_errno(), -EACCES);
    errno = 0;
    assert_int_equal(posture_negative_errno(), -EIO);
    errno = ENOENT;
    assert_int_equal(posture_ret_nerrno(-1), -ENOENT);
    assert_int_equal(posture_ret_nerrno(5), 5);
    assert_int_equal(POSTURE_ELEMENTSOF((int[7]){ 0 }), 7);
}

struct capture {
    int count;
    int level;
    char message[512];
};

static void sink(int level, const char *message, void *userdata)
{
    struct capture *c = userdata;
    c->count++;
    c->level = level;
    (void) snprintf(c->message, sizeof(c->message), "%s", message);
}

static int guarded(int x)
{
    POSTURE_RETURN_IF_FAIL(x > 0, -EINVAL);
    return x;
}

static void test_return_if_fail(void **state)
{
    struct capture c = { 0 };
    (void) state;

    posture_log_set_sink(sink, &c);
    posture_log_set_max_level(LOG_INFO);
    assert_int_equal(guarded(3), 3);
    assert_int_equal(guarded(0), -EINVAL);
    /* Debug only: nothing at the default level. */
    assert_int_equal(c.count, 0);

    posture_log_set_max_level(LOG_DEBUG);
    assert_int_equal(guarded(-1), -EINVAL);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.level, LOG_DEBUG);
    assert_non_null(strstr(c.message, "guarded(): argument check 'x > 0' failed ("));
    assert_non_null(strstr(c.message, "test_err.c:"));
    assert_int_equal(guarded(1), 1);
    assert_int_equal(c.count, 1);

    posture_log_set_sink(NULL, NULL);
    posture_log_set_max_level(LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errno_name),
        cmocka_unit_test(test_errno_name_per_thread),
        cmocka_unit_test(test_negative_errno),
        cmocka_unit_test(test_return_if_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
