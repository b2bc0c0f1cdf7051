/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "posture/log.h"

#include "testlib.h"

/* ---- capture through the sink ---- */

struct capture {
    int count;
    int level;
    char message[8192];
};

static void capture_sink(int level, const char *message, void *userdata)
{
    struct capture *c = userdata;
    c->count++;
    c->level = level;
    (void) snprintf(c->message, sizeof(c->message), "%s", message);
}

/* ---- capture of the real stderr output ---- */

struct stderr_capture {
    int saved;
    int fd;
};

static void stderr_begin(struct stderr_capture *c)
{
    c->fd = memfd_create("log", MFD_CLOEXEC);
    assert_true(c->fd >= 0);
    /* A memfd has no atomic file position; append mode keeps concurrent lines apart the way a
     * pipe, terminal or the journal's stream socket would. */
    assert_int_equal(fcntl(c->fd, F_SETFL, O_APPEND), 0);
    c->saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    assert_true(c->saved >= 0);
    assert_int_equal(dup2(c->fd, STDERR_FILENO), STDERR_FILENO);
}

/* Restores stderr and returns what was written (malloc'ed). */
static char *stderr_end(struct stderr_capture *c)
{
    assert_int_equal(dup2(c->saved, STDERR_FILENO), STDERR_FILENO);
    (void) close(c->saved);
    off_t size = lseek(c->fd, 0, SEEK_END);
    assert_true(size >= 0);
    char *buf = calloc((size_t) size + 1, 1);
    assert_non_null(buf);
    assert_int_equal(pread(c->fd, buf, (size_t) size, 0), size);
    (void) close(c->fd);
    return buf;
}

static int setup(void **state)
{
    (void) state;
    posture_log_set_sink(NULL, NULL);
    posture_log_set_max_level(LOG_INFO);
    posture_log_set_journal(false);
    posture_log_set_program("ptest");
    return 0;
}

static int teardown(void **state)
{
    return setup(state);
}

static void test_sink_and_levels(void **state)
{
    struct capture c = { 0 };
    (void) state;

    assert_int_equal(posture_log_get_max_level(), LOG_INFO);
    posture_log_set_sink(capture_sink, &c);

    log_info("hello %s %d", "world", 42);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.level, LOG_INFO);
    assert_string_equal(c.message, "hello world 42");

    log_error("bad");
    assert_int_equal(c.level, LOG_ERR);
    log_warning("careful");
    assert_int_equal(c.level, LOG_WARNING);
    log_notice("note");
    assert_int_equal(c.level, LOG_NOTICE);
    assert_int_equal(c.count, 4);

    log_debug("hidden");
    assert_int_equal(c.count, 4);
    assert_false(posture_log_level_enabled(LOG_DEBUG));
    assert_true(posture_log_level_enabled(LOG_INFO));

    posture_log_set_max_level(LOG_DEBUG);
    log_debug("shown");
    assert_int_equal(c.count, 5);
    assert_string_equal(c.message, "shown");

    posture_log_set_max_level(LOG_ERR);
    log_warning("filtered");
    log_error("kept");
    assert_int_equal(c.count, 6);
    assert_string_equal(c.message, "kept");

    /* Out-of-range levels are clamped. */
    posture_log_set_max_level(99);
    assert_int_equal(posture_log_get_max_level(), LOG_DEBUG);
    posture_log_set_max_level(-5);
    assert_int_equal(posture_log_get_max_level(), LOG_EMERG);
}

static int side_effects;

static int side_effect(void)
{
    return ++side_effects;
}

static void test_filtered_args_not_evaluated(void **state)
{
    struct capture c = { 0 };
    (void) state;

    posture_log_set_sink(capture_sink, &c);
    side_effects = 0;
    log_debug("%d", side_effect());
    assert_int_equal(side_effects, 0);
    log_info("%d", side_effect());
    assert_int_equal(side_effects, 1);
    assert_string_equal(c.message, "1");
}

static void test_errno_forms(void **state)
{
    struct capture c = { 0 };
    (void) state;

    posture_log_set_sink(capture_sink, &c);

    errno = ENOENT;
    assert_int_equal(log_error_errno(EACCES, "open: %m"), -EACCES);
    assert_string_equal(c.message, "open: Permission denied");
    /* errno is preserved across the call. */
    assert_int_equal(errno, ENOENT);

    assert_int_equal(log_warning_errno(-EPERM, "x: %m"), -EPERM);
    assert_string_equal(c.message, "x: Operation not permitted");
    assert_int_equal(errno, ENOENT);

    /* Filtered out: still returns -|e|, prints nothing. */
    int before = c.count;
    assert_int_equal(log_debug_errno(EIO, "quiet %m"), -EIO);
    assert_int_equal(log_debug_errno(-EIO, "quiet %m"), -EIO);
    assert_int_equal(c.count, before);

    /* Zero error: returns 0, %m shows the caller's errno. */
    errno = EBADMSG;
    assert_int_equal(log_info_errno(0, "zero: %m"), 0);
    assert_string_equal(c.message, "zero: Bad message");
    assert_int_equal(errno, EBADMSG);
    assert_int_equal(log_debug_errno(0, "zero"), 0);

    assert_int_equal(posture_log_internal(LOG_ERR, ENOMEM, "f.c", 1, "fn", "%s", "direct"),
                     -ENOMEM);
    assert_string_equal(c.message, "direct");
}

static void test_one_line(void **state)
{
    struct capture c = { 0 };
    (void) state;

    posture_log_set_sink(capture_sink, &c);
    log_info("first\nsecond\r\nthird\x1b[31m\ttab\n\n");
    assert_string_equal(c.message, "first second  third [31m\ttab");
}

static void test_truncation(void **state)
{
    struct capture c = { 0 };
    char *big = malloc(10001);
    (void) state;

    assert_non_null(big);
    memset(big, 'x', 10000);
    big[10000] = '\0';
    posture_log_set_sink(capture_sink, &c);
    log_info("%s", big);
    size_t n = strlen(c.message);
    assert_true(n < 4096);
    assert_true(n > 4000);
    assert_string_equal(c.message + n - 3, "\xe2\x80\xa6");
    assert_int_equal(c.message[n - 4], 'x');

    /* Two-byte characters are never cut in half. */
    for (size_t i = 0; i + 1 < 10000; i += 2) {
        big[i] = '\xc3';
        big[i + 1] = '\xa9';
    }
    log_info("x%s", big);
    n = strlen(c.message);
    assert_string_equal(c.message + n - 3, "\xe2\x80\xa6");
    /* Before the ellipsis: "x" then whole "é" pairs. */
    assert_int_equal((n - 3 - 1) % 2, 0);
    assert_int_equal((unsigned char) c.message[n - 4], 0xa9);
    free(big);
}

static void test_interactive_format(void **state)
{
    struct stderr_capture sc;
    (void) state;

    posture_log_set_max_level(LOG_DEBUG);
    stderr_begin(&sc);
    log_error("e1");
    log_warning("w1");
    log_notice("n1");
    log_info("i1");
    log_debug("d1");
    (void) log_error_errno(ENOENT, "missing: %m");
    posture_log_set_program("other");
    log_info("renamed");
    char *out = stderr_end(&sc);
    assert_string_equal(out, "ptest: error: e1\n"
                             "ptest: warning: w1\n"
                             "ptest: n1\n"
                             "ptest: i1\n"
                             "ptest: debug: d1\n"
                             "ptest: error: missing: No such file or directory\n"
                             "other: renamed\n");
    free(out);
}

static void test_journal_format(void **state)
{
    struct stderr_capture sc;
    (void) state;

    posture_log_set_max_level(LOG_DEBUG);
    posture_log_set_journal(true);
    stderr_begin(&sc);
    log_error("e1");
    log_warning("w1");
    log_notice("n1");
    log_info("i1");
    log_debug("d1");
    posture_log_internal(LOG_CRIT, 0, "f.c", 1, "fn", "crit");
    char *out = stderr_end(&sc);
    assert_string_equal(out, "<3>e1\n<4>w1\n<5>n1\n<6>i1\n<7>d1\n<2>crit\n");
    free(out);
}

static void test_level_from_string(void **state)
{
    (void) state;
    assert_int_equal(posture_log_level_from_string("debug"), LOG_DEBUG);
    assert_int_equal(posture_log_level_from_string("INFO"), LOG_INFO);
    assert_int_equal(posture_log_level_from_string("notice"), LOG_NOTICE);
    assert_int_equal(posture_log_level_from_string("warning"), LOG_WARNING);
    assert_int_equal(posture_log_level_from_string("err"), LOG_ERR);
    assert_int_equal(posture_log_level_from_string("error"), LOG_ERR);
    assert_int_equal(posture_log_level_from_string("0"), 0);
    assert_int_equal(posture_log_level_from_string("7"), 7);
    assert_int_equal(posture_log_level_from_string("8"), -EINVAL);
    assert_int_equal(posture_log_level_from_string("07"), -EINVAL);
    assert_int_equal(posture_log_level_from_string(""), -EINVAL);
    assert_int_equal(posture_log_level_from_string(" debug"), -EINVAL);
    assert_int_equal(posture_log_level_from_string("verbose"), -EINVAL);
    assert_int_equal(posture_log_level_from_string(NULL), -EINVAL);
}

static void test_setup_from_env(void **state)
{
    struct stat st;
    char value[64];
    struct stderr_capture sc;
    (void) state;

    assert_int_equal(setenv("POSTURE_LOG_LEVEL", "debug", 1), 0);
    assert_int_equal(unsetenv("JOURNAL_STREAM"), 0);
    posture_log_setup_from_env();
    assert_int_equal(posture_log_get_max_level(), LOG_DEBUG);

    assert_int_equal(setenv("POSTURE_LOG_LEVEL", "3", 1), 0);
    posture_log_setup_from_env();
    assert_int_equal(posture_log_get_max_level(), LOG_ERR);

    assert_int_equal(setenv("POSTURE_LOG_LEVEL", "loud", 1), 0);
    posture_log_setup_from_env();
    assert_int_equal(posture_log_get_max_level(), LOG_ERR);
    assert_int_equal(unsetenv("POSTURE_LOG_LEVEL"), 0);

    /* JOURNAL_STREAM naming our stderr turns the prefix on; the check happens at setup, so
     * redirect first. */
    stderr_begin(&sc);
    assert_int_equal(fstat(STDERR_FILENO, &st), 0);
    (void) snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long) st.st_dev,
                    (unsigned long long) st.st_ino);
    assert_int_equal(setenv("JOURNAL_STREAM", value, 1), 0);
    posture_log_setup_from_env();
    log_error("to journal");

    (void) snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long) st.st_dev,
                    (unsigned long long) st.st_ino + 1);
    assert_int_equal(setenv("JOURNAL_STREAM", value, 1), 0);
    posture_log_setup_from_env();
    log_error("to terminal");

    static const char *const garbage[] = { "", ":", "1:", ":1", "a:b", "1:2:3", "-1:-1", " 1:1" };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        posture_log_set_journal(true);
        assert_int_equal(setenv("JOURNAL_STREAM", garbage[i], 1), 0);
        posture_log_setup_from_env();
        log_error("g%zu", i);
    }
    char *out = stderr_end(&sc);
    assert_int_equal(unsetenv("JOURNAL_STREAM"), 0);
    assert_string_equal(out, "<3>to journal\n"
                             "ptest: error: to terminal\n"
                             "ptest: error: g0\nptest: error: g1\nptest: error: g2\n"
                             "ptest: error: g3\nptest: error: g4\nptest: error: g5\n"
                             "ptest: error: g6\nptest: error: g7\n");
    free(out);
}

static void logging_sink(int level, const char *message, void *userdata)
{
    int *calls = userdata;
    (*calls)++;
    /* Logging from the sink must not deadlock; it goes to stderr. */
    log_error("nested %s", message);
    (void) level;
}

static void test_sink_may_log(void **state)
{
    struct stderr_capture sc;
    int calls = 0;
    (void) state;

    posture_log_set_sink(logging_sink, &calls);
    stderr_begin(&sc);
    log_info("outer");
    char *out = stderr_end(&sc);
    assert_int_equal(calls, 1);
    assert_string_equal(out, "ptest: error: nested outer\n");
    free(out);
}

#define THREADS       4
#define LINES_PER_THR 500

static void *log_thread(void *arg)
{
    long id = (long) (intptr_t) arg;
    for (int i = 0; i < LINES_PER_THR; i++)
        log_info("thread %ld line %d %s", id, i,
                 "padding padding padding padding padding padding padding padding");
    return NULL;
}

static void test_concurrent_lines(void **state)
{
    struct stderr_capture sc;
    pthread_t t[THREADS];
    (void) state;

    stderr_begin(&sc);
    for (long i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, log_thread, (void *) (intptr_t) i), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    char *out = stderr_end(&sc);

    int lines = 0;
    int next[THREADS] = { 0 };
    for (char *p = out; *p;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        long id;
        int n, consumed = 0;
        assert_int_equal(sscanf(p, "ptest: thread %ld line %d %n", &id, &n, &consumed), 2);
        assert_true(id >= 0 && id < THREADS);
        /* Each thread's lines arrive whole and in order. */
        assert_int_equal(n, next[id]);
        next[id]++;
        assert_string_equal(p + consumed,
                            "padding padding padding padding padding padding padding padding");
        lines++;
        p = nl + 1;
    }
    assert_int_equal(lines, THREADS * LINES_PER_THR);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sink_and_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filtered_args_not_evaluated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errno_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interactive_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_from_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_from_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_may_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_lines, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
