/* SPDX-License-Identifier: Apache-2.0 */
/* The runner, the host API and results (runner.h, result.h, check.h) with fake checks. */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "posture/config.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/registry.h"
#include "posture/result.h"
#include "posture/runner.h"
#include "posture/time_util.h"
#include "posture/version.h"

#include "testlib.h"

/* ---- Fake checks ---- */

static int run_pass(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) state;
    (void) ctx->api->set_reason(r, "all good");
    (void) ctx->api->evidence_add_int(r, "answer", 42);
    return ctx->api->set_status(r, POSTURE_STATUS_PASS);
}

static int run_fail(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) state;
    (void) ctx->api->set_reason(r, "the %s is off", "firewall");
    (void) ctx->api->set_remediation(r, "Turn it on.");
    return ctx->api->set_status(r, POSTURE_STATUS_FAIL);
}

static int run_warn(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) state;
    (void) ctx->api->set_reason(r, "stale");
    return ctx->api->set_status(r, POSTURE_STATUS_WARN);
}

static int run_error(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) state;
    (void) ctx->api->set_reason(r, "could not tell");
    return ctx->api->set_status(r, POSTURE_STATUS_ERROR);
}

static int run_na(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) state;
    (void) ctx->api->set_reason(r, "no TPM here");
    (void) ctx->api->set_remediation(r, "ignored for not_applicable");
    return ctx->api->set_status(r, POSTURE_STATUS_NOT_APPLICABLE);
}

static int run_eacces(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) state;
    (void) ctx->api->set_status(r, POSTURE_STATUS_PASS); /* overridden: run() failed */
    (void) ctx->api->set_reason(r, "cannot read /etc/shadow");
    (void) ctx->api->evidence_add_str(r, "errno", "set by the check");
    (void) ctx->api->evidence_begin_object(r, "left_open");
    return -EACCES;
}

static int run_eio(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) ctx;
    (void) state;
    (void) r;
    return -EIO;
}

static int run_nostatus(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) state;
    (void) ctx->api->set_reason(r, "forgot the status");
    return 0;
}

static atomic_int slow_finished;
static atomic_int slow_fini_called;

static int run_slow(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) state;
    /* Keep going 500 ms past the deadline, then report as if nothing happened. */
    while (ctx->api->now_usec() < ctx->deadline_usec + 500 * POSTURE_USEC_PER_MSEC) {
        struct timespec ts = { .tv_sec = 0, .tv_nsec = 10 * 1000 * 1000 };
        (void) nanosleep(&ts, NULL);
    }
    (void) ctx->api->set_reason(r, "late");
    (void) ctx->api->set_status(r, POSTURE_STATUS_PASS);
    atomic_store(&slow_finished, 1);
    return 0;
}

static void fini_slow(void *state)
{
    free(state);
    atomic_store(&slow_fini_called, 1);
}

static int init_slow(const struct posture_check_ctx *ctx, void **ret_state)
{
    (void) ctx;
    *ret_state = malloc(64); /* freed by fini, on the abandoned thread */
    return *ret_state ? 0 : -ENOMEM;
}

static int init_calls, fini_calls;

static int init_counting(const struct posture_check_ctx *ctx, void **ret_state)
{
    (void) ctx;
    init_calls++;
    *ret_state = &init_calls;
    return 0;
}

static int init_failing(const struct posture_check_ctx *ctx, void **ret_state)
{
    (void) ctx;
    (void) ret_state;
    init_calls++;
    return -ENODEV;
}

static void fini_counting(void *state)
{
    assert_ptr_equal(state, &init_calls);
    fini_calls++;
}

static int
run_with_state(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    assert_ptr_equal(state, &init_calls);
    /* A little work so duration_usec is measurable. */
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 5 * 1000 * 1000 };
    (void) nanosleep(&ts, NULL);
    return ctx->api->set_status(r, POSTURE_STATUS_PASS);
}

/* Reads every option and records values and return codes as evidence. */
static int run_options(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    const struct posture_host_api *api = ctx->api;
    const char *s = NULL;
    bool b = false;
    int64_t i = 0;
    uint64_t u = 0;
    const char *const *v = NULL, *const *v2 = NULL;
    size_t n = 0, n2 = 0;

    (void) state;
    assert_int_equal(api->option_get_str(ctx, "greeting", &s), 0);
    (void) api->evidence_add_str(r, "greeting", s);
    assert_int_equal(api->option_get_bool(ctx, "strict", &b), 0);
    (void) api->evidence_add_bool(r, "strict", b);
    (void) api->evidence_add_int(r, "limit_rc", api->option_get_int(ctx, "limit", &i));
    (void) api->evidence_add_int(r, "limit", i);
    assert_int_equal(api->option_get_u64(ctx, "timeout", &u), 0);
    (void) api->evidence_add_int(r, "timeout", (int64_t) u);
    assert_int_equal(api->option_get_u64(ctx, "max", &u), 0);
    (void) api->evidence_add_int(r, "max", (int64_t) u);
    assert_int_equal(api->option_get_strv(ctx, "names", &v, &n), 0);
    (void) api->evidence_add_strv(r, "names", v, n);
    /* The split vector is cached: the same pointer until run() returns. */
    assert_int_equal(api->option_get_strv(ctx, "names", &v2, &n2), 0);
    assert_ptr_equal(v, v2);
    assert_int_equal(n, n2);
    assert_null(v[n]);

    /* Type mismatches, unknown keys, no value. */
    (void) api->evidence_add_int(r, "str_as_int", api->option_get_int(ctx, "greeting", &i));
    (void) api->evidence_add_int(r, "int_as_str", api->option_get_str(ctx, "limit", &s));
    (void) api->evidence_add_int(r, "bool_as_u64", api->option_get_u64(ctx, "strict", &u));
    (void) api->evidence_add_int(r, "strv_as_str", api->option_get_str(ctx, "names", &s));
    (void) api->evidence_add_int(r, "unknown", api->option_get_str(ctx, "nope", &s));
    (void) api->evidence_add_int(r, "unset", api->option_get_str(ctx, "unset", &s));
    (void) api->evidence_add_int(r, "null_ret", api->option_get_str(ctx, "greeting", NULL));
    return api->set_status(r, POSTURE_STATUS_PASS);
}

static const struct posture_option options_table[] = {
    { POSTURE_OPTION_STRING, "greeting", "hello world", NULL },
    { POSTURE_OPTION_BOOL, "strict", "no", NULL },
    { POSTURE_OPTION_INT, "limit", NULL, NULL },
    { POSTURE_OPTION_DURATION, "timeout", "30s", NULL },
    { POSTURE_OPTION_SIZE, "max", "64K", NULL },
    { POSTURE_OPTION_STRV, "names", "a b  c", NULL },
    { POSTURE_OPTION_STRING, "unset", NULL, NULL },
    { 0 },
};

#define DESC(id, fn)                                                             \
    {                                                                            \
        POSTURE_CHECK_DESC_HEADER, .name = (id), .version = "0.1.0", .run = (fn) \
    }

static const struct posture_check_desc d_pass = DESC("t.pass", run_pass);
static const struct posture_check_desc d_fail = DESC("t.fail", run_fail);
static const struct posture_check_desc d_warn = DESC("t.warn", run_warn);
static const struct posture_check_desc d_error = DESC("t.error", run_error);
static const struct posture_check_desc d_na = DESC("t.na", run_na);
static const struct posture_check_desc d_eacces = DESC("t.eacces", run_eacces);
static const struct posture_check_desc d_eio = DESC("t.eio", run_eio);
static const struct posture_check_desc d_nostatus = DESC("t.nostatus", run_nostatus);
static const struct posture_check_desc d_slow = { POSTURE_CHECK_DESC_HEADER, .name = "t.slow",
                                                  .version = "0.1.0",        .init = init_slow,
                                                  .run = run_slow,           .fini = fini_slow };
static const struct posture_check_desc d_state = {
    POSTURE_CHECK_DESC_HEADER, .name = "t.state",     .version = "0.1.0",
    .init = init_counting,     .run = run_with_state, .fini = fini_counting
};
static const struct posture_check_desc d_initfail = {
    POSTURE_CHECK_DESC_HEADER, .name = "t.initfail",  .version = "0.1.0",
    .init = init_failing,      .run = run_with_state, .fini = fini_counting
};
static const struct posture_check_desc d_options = { POSTURE_CHECK_DESC_HEADER, .name = "t.options",
                                                     .version = "0.1.0", .options = options_table,
                                                     .run = run_options };
static const struct posture_check_desc d_exec = DESC("t.exec", run_pass);

/* ---- Helpers ---- */

struct env {
    struct posture_registry *reg;
    int root_fd;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(posture_registry_new(&e->reg), 0);
    const struct posture_check_desc *all[] = { &d_pass, &d_fail,   &d_warn,     &d_error,
                                               &d_na,   &d_eacces, &d_eio,      &d_nostatus,
                                               &d_slow, &d_state,  &d_initfail, &d_options };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        assert_int_equal(
            posture_registry_add(e->reg, all[i], POSTURE_CHECK_SOURCE_BUILTIN, NULL, NULL), 0);
    assert_int_equal(posture_registry_add(e->reg, &d_exec, POSTURE_CHECK_SOURCE_EXEC,
                                          "/usr/libexec/posture/checks.d/t.exec", NULL),
                     0);
    assert_int_equal(
        posture_root_open(posture_test_path("fixtures/roots/os-release/debian-12"), &e->root_fd),
        0);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    (void) posture_registry_free(e->reg);
    (void) close(e->root_fd);
    free(e);
    return 0;
}

/* Run the checks named in the NULL-terminated only list. */
static struct posture_run *
run_only(struct env *e, char *const *only, const struct posture_config *config, uint64_t timeout)
{
    struct posture_run_opts opts = {
        .root_fd = e->root_fd,
        .root_path = "/fixture",
        .only = only,
        .timeout_usec = timeout,
        .config = config,
    };
    struct posture_run *run = NULL;
    const char *unknown = NULL;
    assert_int_equal(posture_runner_run(e->reg, &opts, &run, &unknown), 0);
    assert_null(unknown);
    assert_non_null(run);
    return run;
}

static struct posture_result *run_one(struct env *e, const char *id, struct posture_run **ret_run)
{
    char *only[] = { (char *) id, NULL };
    struct posture_run *run = run_only(e, only, NULL, 0);
    assert_int_equal(run->n_results, 1);
    assert_string_equal(run->results[0]->id, id);
    *ret_run = run;
    return run->results[0];
}

static const char *evidence_str(const struct posture_result *r, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->evidence, key);
    assert_non_null(item);
    assert_true(cJSON_IsString(item));
    return item->valuestring;
}

static int64_t evidence_int(const struct posture_result *r, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->evidence, key);
    assert_non_null(item);
    assert_true(cJSON_IsNumber(item));
    return (int64_t) item->valuedouble;
}

/* ---- Runner rules ---- */

static void test_statuses(void **state)
{
    struct env *e = *state;
    static const struct {
        const char *id;
        int status;
        const char *reason;
    } cases[] = {
        { "t.pass", POSTURE_STATUS_PASS, "all good" },
        { "t.fail", POSTURE_STATUS_FAIL, "the firewall is off" },
        { "t.warn", POSTURE_STATUS_WARN, "stale" },
        { "t.error", POSTURE_STATUS_ERROR, "could not tell" },
        { "t.na", POSTURE_STATUS_NOT_APPLICABLE, "no TPM here" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        posture_auto_run struct posture_run *run = NULL;
        struct posture_result *r = run_one(e, cases[i].id, &run);
        assert_int_equal(r->status, cases[i].status);
        assert_string_equal(r->reason, cases[i].reason);
        assert_string_equal(r->version, "0.1.0");
        assert_int_equal(r->error, 0);
        assert_null(cJSON_GetObjectItemCaseSensitive(r->evidence, "errno"));
        assert_int_equal(run->n_abandoned, 0);
    }
}

static void test_negative_return_is_error(void **state)
{
    struct env *e = *state;
    posture_auto_run struct posture_run *run = NULL;

    struct posture_result *r = run_one(e, "t.eacces", &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -EACCES);
    assert_string_equal(r->reason, "cannot read /etc/shadow");
    /* The runner's errno replaces the check's own key. */
    assert_string_equal(evidence_str(r, "errno"), "EACCES");
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r->evidence, "left_open")));
    assert_int_equal(r->evidence_depth, 1);
    assert_int_equal(posture_run_exit_status(run), 3);

    posture_auto_run struct posture_run *run2 = NULL;
    r = run_one(e, "t.eio", &run2);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -EIO);
    assert_string_equal(r->reason, "t.eio could not decide (EIO)");
    assert_string_equal(evidence_str(r, "errno"), "EIO");
}

static void test_no_status_is_error(void **state)
{
    struct env *e = *state;
    posture_auto_run struct posture_run *run = NULL;

    struct posture_result *r = run_one(e, "t.nostatus", &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_string_equal(r->reason, "t.nostatus did not report a status");
    assert_int_equal(run->overall, POSTURE_STATUS_ERROR);
}

static void test_init_fini(void **state)
{
    struct env *e = *state;
    init_calls = fini_calls = 0;

    posture_auto_run struct posture_run *run = NULL;
    struct posture_result *r = run_one(e, "t.state", &run);
    assert_int_equal(r->status, POSTURE_STATUS_PASS);
    assert_int_equal(init_calls, 1);
    assert_int_equal(fini_calls, 1);
    assert_true(r->duration_usec >= 5000);
    uint64_t now = posture_now_usec(CLOCK_REALTIME) / POSTURE_USEC_PER_SEC;
    assert_true(r->observed_at <= now && r->observed_at + 60 >= now);
    assert_true(run->collected_at <= r->observed_at);
    assert_true(run->duration_usec >= r->duration_usec);

    /* init() failing: no run(), no fini(), ERROR with its errno. */
    posture_auto_run struct posture_run *run2 = NULL;
    r = run_one(e, "t.initfail", &run2);
    assert_int_equal(init_calls, 2);
    assert_int_equal(fini_calls, 1);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -ENODEV);
    assert_string_equal(evidence_str(r, "errno"), "ENODEV");
}

/* An exec entry the exec loader did not make has no checked executable to run (the loader
 * and real exec checks are tested in test_exec_checks.c). */
static void test_exec_without_loader(void **state)
{
    struct env *e = *state;
    posture_auto_run struct posture_run *run = NULL;

    struct posture_result *r = run_one(e, "t.exec", &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -EBADF);
    assert_string_equal(r->reason, "t.exec has no checked executable");
    assert_string_equal(evidence_str(r, "errno"), "EBADF");
}

static void test_timeout(void **state)
{
    struct env *e = *state;
    char *only[] = { "t.slow", "t.pass", NULL };

    atomic_store(&slow_finished, 0);
    atomic_store(&slow_fini_called, 0);
    uint64_t start = posture_now_usec(CLOCK_MONOTONIC);
    posture_auto_run struct posture_run *run = run_only(e, only, NULL, 200 * POSTURE_USEC_PER_MSEC);
    uint64_t elapsed = posture_now_usec(CLOCK_MONOTONIC) - start;

    /* Returned at the deadline, well before the check finished. */
    assert_true(elapsed >= 200 * POSTURE_USEC_PER_MSEC);
    assert_true(elapsed < 5 * POSTURE_USEC_PER_SEC);
    assert_int_equal(atomic_load(&slow_finished), 0);

    assert_int_equal(run->n_results, 2);
    assert_int_equal(run->n_abandoned, 1);
    /* Registry order: t.pass sorts before t.slow. */
    assert_string_equal(run->results[0]->id, "t.pass");
    struct posture_result *r = run->results[1];
    assert_string_equal(r->id, "t.slow");
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_int_equal(r->error, -ETIMEDOUT);
    assert_string_equal(r->reason, "t.slow did not finish within 200ms");
    assert_string_equal(evidence_str(r, "errno"), "ETIMEDOUT");
    assert_true(r->duration_usec >= 200 * POSTURE_USEC_PER_MSEC);
    assert_int_equal(posture_run_exit_status(run), 3);

    /* The abandoned thread finishes on its own, runs fini and cleans up after itself; our
     * result is not touched by its late PASS. */
    for (int i = 0; i < 500 && !atomic_load(&slow_fini_called); i++) {
        struct timespec ts = { .tv_sec = 0, .tv_nsec = 10 * 1000 * 1000 };
        (void) nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&slow_finished), 1);
    assert_int_equal(atomic_load(&slow_fini_called), 1);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_string_equal(r->reason, "t.slow did not finish within 200ms");
    /* Let it free its job before the leak checker looks. */
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
    (void) nanosleep(&ts, NULL);
}

static void test_only_selection(void **state)
{
    struct env *e = *state;
    struct posture_run_opts opts = { .root_fd = e->root_fd };
    posture_auto_run struct posture_run *run = NULL;
    const char *unknown = NULL;

    char *two[] = { "t.warn", "t.pass", NULL };
    run = run_only(e, two, NULL, 0);
    assert_int_equal(run->n_results, 2);
    assert_string_equal(run->results[0]->id, "t.pass"); /* registry order, not --only order */
    assert_string_equal(run->results[1]->id, "t.warn");
    run = posture_run_free(run);

    char *bad[] = { "t.pass", "t.missing", NULL };
    opts.only = bad;
    assert_int_equal(posture_runner_run(e->reg, &opts, &run, &unknown), -ENOENT);
    assert_null(run);
    assert_ptr_equal(unknown, bad[1]);
    assert_int_equal(posture_runner_run(e->reg, &opts, &run, NULL), -ENOENT);

    opts.only = NULL;
    assert_int_equal(posture_runner_run(NULL, &opts, &run, NULL), -EINVAL);
    assert_int_equal(posture_runner_run(e->reg, NULL, &run, NULL), -EINVAL);
    opts.root_fd = -1;
    assert_int_equal(posture_runner_run(e->reg, &opts, &run, NULL), -EINVAL);
}

static void test_overall_and_exit_status(void **state)
{
    struct env *e = *state;
    static const struct {
        const char *ids[3];
        int overall;
        int exit_status;
    } cases[] = {
        { { NULL }, POSTURE_STATUS_PASS, 0 },
        { { "t.pass", NULL }, POSTURE_STATUS_PASS, 0 },
        { { "t.na", NULL }, POSTURE_STATUS_PASS, 0 }, /* not_applicable counts as pass */
        { { "t.pass", "t.na", NULL }, POSTURE_STATUS_PASS, 0 },
        { { "t.pass", "t.warn", NULL }, POSTURE_STATUS_WARN, 0 },
        { { "t.warn", "t.error", NULL }, POSTURE_STATUS_ERROR, 3 },
        { { "t.error", "t.fail", NULL }, POSTURE_STATUS_FAIL, 1 },
        { { "t.fail", "t.warn", NULL }, POSTURE_STATUS_FAIL, 1 },
        { { "t.nostatus", "t.pass", NULL }, POSTURE_STATUS_ERROR, 3 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        posture_auto_run struct posture_run *run =
            run_only(e, (char *const *) cases[i].ids, NULL, 0);
        assert_int_equal(run->overall, cases[i].overall);
        assert_int_equal(posture_run_exit_status(run), cases[i].exit_status);
    }
    assert_int_equal(posture_run_exit_status(NULL), 3);
}

/* ---- Options and config ---- */

#define DIAG_MAX 16
struct diags {
    unsigned n;
    int level[DIAG_MAX];
    unsigned line[DIAG_MAX];
    char msg[DIAG_MAX][512];
};

static void capture(int level, const char *file, unsigned line, const char *message, void *userdata)
{
    struct diags *d = userdata;
    (void) file;
    if (d->n < DIAG_MAX) {
        d->level[d->n] = level;
        d->line[d->n] = line;
        (void) snprintf(d->msg[d->n], sizeof(d->msg[0]), "%s", message);
    }
    d->n++;
}

static struct posture_config *config_from(const char *text, struct diags *d)
{
    struct posture_config *c = NULL;
    memset(d, 0, sizeof(*d));
    assert_int_equal(posture_config_new(capture, d, &c), 0);
    assert_int_equal(posture_config_parse_string(c, text, strlen(text), "test.conf"), 0);
    assert_int_equal(d->n, 0);
    return c;
}

static void check_names(const struct posture_result *r, const char *const *expected, size_t n)
{
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(r->evidence, "names");
    assert_true(cJSON_IsArray(names));
    assert_int_equal(cJSON_GetArraySize(names), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(cJSON_GetArrayItem(names, (int) i)->valuestring, expected[i]);
}

static void test_options_defaults(void **state)
{
    struct env *e = *state;
    posture_auto_run struct posture_run *run = NULL;

    struct posture_result *r = run_one(e, "t.options", &run);
    assert_int_equal(r->status, POSTURE_STATUS_PASS);
    assert_string_equal(evidence_str(r, "greeting"), "hello world");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r->evidence, "strict")));
    assert_int_equal(evidence_int(r, "limit_rc"), -ENODATA);
    assert_int_equal(evidence_int(r, "timeout"), 30 * 1000 * 1000);
    assert_int_equal(evidence_int(r, "max"), 64 * 1024);
    check_names(r, (const char *const[]){ "a", "b", "c" }, 3);
    assert_int_equal(evidence_int(r, "str_as_int"), -EINVAL);
    assert_int_equal(evidence_int(r, "int_as_str"), -EINVAL);
    assert_int_equal(evidence_int(r, "bool_as_u64"), -EINVAL);
    assert_int_equal(evidence_int(r, "strv_as_str"), -EINVAL);
    assert_int_equal(evidence_int(r, "unknown"), -ENOENT);
    assert_int_equal(evidence_int(r, "unset"), -ENODATA);
    assert_int_equal(evidence_int(r, "null_ret"), -EINVAL);
}

static void test_options_from_config(void **state)
{
    struct env *e = *state;
    struct diags d;
    char *only[] = { "t.options", NULL };
    posture_auto_config struct posture_config *c = config_from("[check.t.options]\n"
                                                               "limit = -42\n"
                                                               "strict = yes\n"
                                                               "names = x  y\n"
                                                               "timeout = 5m\n"
                                                               "max = 8M\n"
                                                               "greeting = \"  spaced  \"\n"
                                                               "[check.t.pass]\n"
                                                               "limit = 1\n",
                                                               &d);

    posture_auto_run struct posture_run *run = run_only(e, only, c, 0);
    struct posture_result *r = run->results[0];
    assert_int_equal(r->status, POSTURE_STATUS_PASS);
    assert_string_equal(evidence_str(r, "greeting"), "  spaced  ");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->evidence, "strict")));
    assert_int_equal(evidence_int(r, "limit_rc"), 0);
    assert_int_equal(evidence_int(r, "limit"), -42);
    assert_int_equal(evidence_int(r, "timeout"), 5 * 60 * 1000 * 1000);
    assert_int_equal(evidence_int(r, "max"), 8 * 1024 * 1024);
    check_names(r, (const char *const[]){ "x", "y" }, 2);
}

static void test_option_bad_config_value(void **state)
{
    struct env *e = *state;
    struct diags d;
    char *only[] = { "t.options", NULL };
    posture_auto_config struct posture_config *c =
        config_from("[check.t.options]\nlimit = lots\n", &d);

    /* run() sees -EINVAL for a value that does not parse (validate_config reports it). */
    posture_auto_run struct posture_run *run = run_only(e, only, c, 0);
    assert_int_equal(evidence_int(run->results[0], "limit_rc"), -EINVAL);
}

static void test_validate_config(void **state)
{
    struct env *e = *state;
    struct diags d;
    posture_auto_config struct posture_config *c = config_from("[check.t.options]\n"
                                                               "limit = abc\n"
                                                               "surprise = 1\n"
                                                               "strict = maybe\n"
                                                               "timeout = 10s\n"
                                                               "[check.t.nope]\n"
                                                               "x = 1\n"
                                                               "y = 2\n"
                                                               "[agent]\n"
                                                               "state_dir = /x\n",
                                                               &d);

    assert_int_equal(posture_runner_validate_config(e->reg, c), -EINVAL);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.level[0], LOG_ERR);
    assert_int_equal(d.line[0], 2);
    assert_non_null(strstr(d.msg[0], "test.conf:2"));
    assert_non_null(strstr(d.msg[0], "'abc'"));
    assert_non_null(strstr(d.msg[0], "limit"));
    assert_int_equal(d.level[1], LOG_WARNING);
    assert_int_equal(d.line[1], 3);
    assert_non_null(strstr(d.msg[1], "surprise"));
    assert_non_null(strstr(d.msg[1], ", ignoring"));
    assert_int_equal(d.level[2], LOG_ERR);
    assert_int_equal(d.line[2], 4);
    assert_non_null(strstr(d.msg[2], "maybe"));
    /* One warning for the unknown check, not one per key. */
    assert_int_equal(d.level[3], LOG_WARNING);
    assert_int_equal(d.line[3], 7);
    assert_non_null(strstr(d.msg[3], "t.nope"));
    assert_non_null(strstr(d.msg[3], ", ignoring"));

    /* Warnings alone are fine. */
    posture_auto_config struct posture_config *c2 =
        config_from("[check.t.options]\nsurprise = 1\nlimit = 3\n", &d);
    assert_int_equal(posture_runner_validate_config(e->reg, c2), 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.level[0], LOG_WARNING);

    assert_int_equal(posture_runner_validate_config(e->reg, NULL), 0);
    assert_int_equal(posture_runner_validate_config(NULL, c2), -EINVAL);
}

/* ---- Host API on a bare result ---- */

static void test_evidence_builder(void **state)
{
    (void) state;
    const struct posture_host_api *api = posture_host_api_get();
    posture_auto_result struct posture_result *r = NULL;

    assert_int_equal(api->abi_major, POSTURE_CHECK_ABI_MAJOR);
    assert_int_equal(api->struct_size, sizeof(struct posture_host_api));
    assert_int_equal(posture_result_new("t.x", "1.2.3", &r), 0);
    assert_int_equal(r->status, POSTURE_STATUS__INVALID);

    assert_int_equal(api->evidence_add_str(r, "s", "v"), 0);
    assert_int_equal(api->evidence_add_str(r, "s", "again"), -EEXIST);
    assert_int_equal(api->evidence_add_int(r, NULL, 1), -EINVAL);
    assert_int_equal(api->evidence_add_int(r, "", 1), -EINVAL);
    assert_int_equal(api->evidence_add_str(r, "null", NULL), 0);
    assert_int_equal(api->evidence_add_bool(r, "b", true), 0);
    assert_int_equal(api->evidence_add_int(r, "neg", -7), 0);
    assert_int_equal(api->evidence_add_strv(r, "empty", NULL, 0), 0);
    assert_int_equal(api->evidence_add_strv(r, "bad", NULL, 2), -EINVAL);
    const char *with_null[] = { "a", NULL };
    assert_int_equal(api->evidence_add_strv(r, "with_null", with_null, 2), -EINVAL);
    assert_null(cJSON_GetObjectItemCaseSensitive(r->evidence, "with_null"));

    assert_int_equal(api->evidence_begin_array(r, "mounts"), 0);
    assert_int_equal(api->evidence_add_str(r, "key", "in array"), -EINVAL);
    assert_int_equal(api->evidence_begin_object(r, NULL), 0);
    assert_int_equal(api->evidence_add_str(r, "mountpoint", "/"), 0);
    assert_int_equal(api->evidence_add_bool(r, NULL, true), -EINVAL);
    const char *layers[] = { "part", "crypt:luks2" };
    assert_int_equal(api->evidence_add_strv(r, "layers", layers, 2), 0);
    assert_int_equal(api->evidence_end(r), 0);
    assert_int_equal(api->evidence_add_int(r, NULL, 3), 0);
    assert_int_equal(api->evidence_end(r), 0);
    assert_int_equal(api->evidence_end(r), -EINVAL); /* nothing open */

    posture_autofree char *text = NULL;
    assert_int_equal(posture_json_print(r->evidence, false, &text), 0);
    assert_string_equal(text, "{\"s\":\"v\",\"null\":null,\"b\":true,\"neg\":-7,\"empty\":[],"
                              "\"mounts\":[{\"mountpoint\":\"/\",\"layers\":[\"part\","
                              "\"crypt:luks2\"]},3]}");

    /* Depth: the evidence object plus 7 nested containers. */
    for (unsigned i = 1; i < POSTURE_EVIDENCE_DEPTH_MAX; i++)
        assert_int_equal(api->evidence_begin_object(r, "deep"), 0);
    assert_int_equal(api->evidence_begin_object(r, "deep"), -E2BIG);
    assert_int_equal(api->evidence_begin_array(r, "deep2"), -E2BIG);
    for (unsigned i = 1; i < POSTURE_EVIDENCE_DEPTH_MAX; i++)
        assert_int_equal(api->evidence_end(r), 0);
    assert_int_equal(api->evidence_end(r), -EINVAL);

    /* Argument checks. */
    assert_int_equal(api->evidence_add_str(NULL, "k", "v"), -EINVAL);
    assert_int_equal(api->evidence_end(NULL), -EINVAL);
    assert_int_equal(api->set_status(r, POSTURE_STATUS__MAX), -EINVAL);
    assert_int_equal(api->set_status(r, (enum posture_status) - 1), -EINVAL);
    assert_int_equal(api->set_status(NULL, POSTURE_STATUS_PASS), -EINVAL);
    assert_int_equal(r->status, POSTURE_STATUS__INVALID);
}

static void test_evidence_bounds(void **state)
{
    (void) state;
    const struct posture_host_api *api = posture_host_api_get();
    posture_auto_result struct posture_result *r = NULL;
    assert_int_equal(posture_result_new("t.x", "1", &r), 0);

    char *big = malloc(POSTURE_EVIDENCE_STR_MAX + 2);
    assert_non_null(big);
    memset(big, 'x', POSTURE_EVIDENCE_STR_MAX + 1);
    big[POSTURE_EVIDENCE_STR_MAX + 1] = '\0';
    assert_int_equal(api->evidence_add_str(r, "big", big), -E2BIG);
    big[POSTURE_EVIDENCE_STR_MAX] = '\0';
    assert_int_equal(api->evidence_add_str(r, "big", big), 0);
    const char *one[] = { big };
    big[POSTURE_EVIDENCE_STR_MAX] = 'x';
    assert_int_equal(api->evidence_add_strv(r, "bigv", one, 1), -E2BIG);
    free(big);

    const char **many = calloc(POSTURE_EVIDENCE_STRV_MAX + 1, sizeof(char *));
    assert_non_null(many);
    for (size_t i = 0; i <= POSTURE_EVIDENCE_STRV_MAX; i++)
        many[i] = "n";
    assert_int_equal(api->evidence_add_strv(r, "many", many, POSTURE_EVIDENCE_STRV_MAX + 1),
                     -E2BIG);
    assert_int_equal(api->evidence_add_strv(r, "many", many, POSTURE_EVIDENCE_STRV_MAX), 0);
    free(many);

    /* Long keys. */
    char key[POSTURE_EVIDENCE_KEY_MAX + 2];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    assert_int_equal(api->evidence_add_int(r, key, 1), -EINVAL);

    /* The total item budget: 1 + 1025 used so far. */
    unsigned used = r->evidence_items;
    assert_int_equal(used, 1 + POSTURE_EVIDENCE_STRV_MAX + 1);
    assert_int_equal(api->evidence_begin_array(r, "fill"), 0);
    for (unsigned i = used + 1; i < POSTURE_EVIDENCE_ITEMS_MAX; i++)
        assert_int_equal(api->evidence_add_int(r, NULL, i), 0);
    assert_int_equal(api->evidence_add_int(r, NULL, 0), -E2BIG);
    assert_int_equal(api->evidence_end(r), 0);
    assert_int_equal(api->evidence_add_bool(r, "more", true), -E2BIG);
}

static void test_text_and_utf8(void **state)
{
    (void) state;
    const struct posture_host_api *api = posture_host_api_get();
    posture_auto_result struct posture_result *r = NULL;
    assert_int_equal(posture_result_new("t.x", "1", &r), 0);

    assert_int_equal(api->set_reason(r, "first %d", 1), 0);
    assert_string_equal(r->reason, "first 1");
    assert_int_equal(api->set_reason(r, "second"), 0); /* the last call wins */
    assert_string_equal(r->reason, "second");
    assert_int_equal(api->set_remediation(r, "Do %s.", "this"), 0);
    assert_string_equal(r->remediation, "Do this.");
    assert_int_equal(api->set_reason(NULL, "x"), -EINVAL);

    /* Truncated to the bound, never in the middle of a UTF-8 sequence. */
    char *long_text = malloc(2 * POSTURE_RESULT_TEXT_MAX);
    assert_non_null(long_text);
    memset(long_text, 'a', POSTURE_RESULT_TEXT_MAX - 2);
    (void) snprintf(long_text + POSTURE_RESULT_TEXT_MAX - 2, POSTURE_RESULT_TEXT_MAX + 2,
                    "\xc3\xa9\xc3\xa9 tail");
    assert_int_equal(api->set_reason(r, "%s", long_text), 0);
    assert_int_equal(strlen(r->reason), POSTURE_RESULT_TEXT_MAX - 2);
    assert_null(strchr(r->reason, '\xc3'));
    memset(long_text, 'b', 2 * POSTURE_RESULT_TEXT_MAX - 1);
    long_text[2 * POSTURE_RESULT_TEXT_MAX - 1] = '\0';
    assert_int_equal(api->set_remediation(r, "%s", long_text), 0);
    assert_int_equal(strlen(r->remediation), POSTURE_RESULT_TEXT_MAX - 1);
    free(long_text);

    /* Invalid UTF-8 becomes U+FFFD, valid multi-byte text is kept. */
    assert_int_equal(api->set_reason(r, "bad \xff byte, overlong \xc0\xaf, ok \xe2\x9c\x93"), 0);
    assert_string_equal(
        r->reason, "bad \xef\xbf\xbd byte, overlong \xef\xbf\xbd\xef\xbf\xbd, ok \xe2\x9c\x93");
    assert_int_equal(api->evidence_add_str(r, "v", "a\xed\xa0\x80z"), 0); /* a surrogate */
    assert_string_equal(evidence_str(r, "v"), "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
    assert_int_equal(api->evidence_add_str(r, "bad\xff", "x"), -EINVAL);
}

static void test_read_file_and_log(void **state)
{
    struct env *e = *state;
    const struct posture_host_api *api = posture_host_api_get();
    struct posture_check_ctx ctx = {
        .struct_size = sizeof(ctx),
        .root_fd = e->root_fd,
        .root_path = "/",
        .deadline_usec = UINT64_MAX,
        .api = api,
        .host_data = NULL,
    };
    char *buf = NULL;
    size_t len = 0;

    assert_int_equal(api->read_file_at(&ctx, "/etc/hostname", 4096, &buf, &len), 0);
    assert_string_equal(buf, "bookworm-host\n");
    assert_int_equal(len, strlen("bookworm-host\n"));
    api->free_buf(buf);
    assert_int_equal(api->read_file_at(&ctx, "/etc/hostname", 4, &buf, &len), -EFBIG);
    assert_int_equal(api->read_file_at(&ctx, "/nope", 4096, &buf, &len), -ENOENT);
    assert_int_equal(api->read_file_at(&ctx, NULL, 4096, &buf, &len), -EINVAL);
    assert_int_equal(api->read_file_at(NULL, "/etc/hostname", 4096, &buf, &len), -EINVAL);

    ctx.deadline_usec = api->now_usec();
    assert_int_equal(api->read_file_at(&ctx, "/etc/hostname", 4096, &buf, &len), -ETIMEDOUT);

    /* Options need the runner's host data. */
    const char *s;
    assert_int_equal(api->option_get_str(&ctx, "x", &s), -EINVAL);

    /* now_usec is CLOCK_MONOTONIC. */
    uint64_t a = posture_now_usec(CLOCK_MONOTONIC);
    uint64_t b = api->now_usec();
    uint64_t c = posture_now_usec(CLOCK_MONOTONIC);
    assert_true(a <= b && b <= c);

    /* log_debug never crashes on odd input. */
    api->log_debug(&ctx, "plain %d", 1);
    api->log_debug(NULL, "no ctx");
}

/* ---- JSON ---- */

static void test_result_json(void **state)
{
    (void) state;
    const struct posture_host_api *api = posture_host_api_get();
    posture_auto_result struct posture_result *r = NULL;
    posture_auto_cjson cJSON *j = NULL;
    posture_autofree char *text = NULL;

    assert_int_equal(posture_result_new("t.x", "1.0.0", &r), 0);
    assert_int_equal(posture_result_to_json(r, &j), -EINVAL); /* no status yet */
    assert_null(j);

    assert_int_equal(api->set_status(r, POSTURE_STATUS_FAIL), 0);
    assert_int_equal(api->set_reason(r, "bad"), 0);
    assert_int_equal(api->set_remediation(r, "Fix it."), 0);
    assert_int_equal(api->evidence_add_int(r, "n", 1), 0);
    r->observed_at = 1700000000;
    r->duration_usec = 1234;
    assert_int_equal(posture_result_to_json(r, &j), 0);
    assert_int_equal(posture_json_print(j, false, &text), 0);
    assert_string_equal(text,
                        "{\"id\":\"t.x\",\"version\":\"1.0.0\",\"status\":\"fail\","
                        "\"reason\":\"bad\",\"remediation\":\"Fix it.\",\"evidence\":{\"n\":1},"
                        "\"observed_at\":1700000000,\"duration_ms\":1.234}");

    /* Pass: remediation is null even if one was set; a missing reason is null. */
    cJSON_Delete(j);
    j = NULL;
    free(text);
    text = NULL;
    free(r->reason);
    r->reason = NULL;
    assert_int_equal(api->set_status(r, POSTURE_STATUS_PASS), 0);
    assert_int_equal(posture_result_to_json(r, &j), 0);
    assert_int_equal(posture_json_print(j, false, &text), 0);
    assert_non_null(strstr(text, "\"reason\":null,\"remediation\":null,"));

    /* Error without remediation: null, no crash. */
    cJSON_Delete(j);
    j = NULL;
    free(r->remediation);
    r->remediation = NULL;
    assert_int_equal(api->set_status(r, POSTURE_STATUS_ERROR), 0);
    assert_int_equal(posture_result_to_json(r, &j), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "remediation")));

    assert_int_equal(posture_result_new(NULL, "1", &r), -EINVAL);
    assert_null(posture_result_free(NULL));
}

static void test_run_json(void **state)
{
    struct env *e = *state;
    char *only[] = { "t.pass", "t.fail", NULL };
    posture_auto_run struct posture_run *run = run_only(e, only, NULL, 0);
    posture_auto_cjson cJSON *doc = NULL;

    assert_int_equal(posture_run_to_json(run, e->root_fd, &doc), 0);
    static const char *const keys[] = { "agent", "host", "collected_at", "overall", "checks" };
    const cJSON *item = doc->child;
    for (size_t i = 0; i < 5; i++, item = item->next) {
        assert_non_null(item);
        assert_string_equal(item->string, keys[i]);
    }
    assert_null(item);

    const cJSON *agent = cJSON_GetObjectItemCaseSensitive(doc, "agent");
    assert_string_equal(posture_json_get_str(agent, "name"), "posture");
    assert_string_equal(posture_json_get_str(agent, "version"), POSTURE_VERSION);
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(doc, "host");
    assert_string_equal(posture_json_get_str(host, "hostname"), "bookworm-host");
    assert_string_equal(posture_json_get_str(host, "machine_id"),
                        "3f1c9a4e7b2d4c8e9a0b1c2d3e4f5a6b");
    int64_t collected_at;
    assert_int_equal(posture_json_get_int(doc, "collected_at", &collected_at), 0);
    assert_int_equal(collected_at, (int64_t) run->collected_at);
    assert_string_equal(posture_json_get_str(doc, "overall"), "fail");
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(doc, "checks");
    assert_int_equal(cJSON_GetArraySize(checks), 2);
    assert_string_equal(posture_json_get_str(cJSON_GetArrayItem(checks, 0), "id"), "t.fail");
    assert_string_equal(posture_json_get_str(cJSON_GetArrayItem(checks, 1), "status"), "pass");
    cJSON_Delete(doc);
    doc = NULL;

    /* A root without hostname and machine-id: nulls. */
    posture_autofree char *tmp = posture_test_mkdtemp();
    assert_int_equal(posture_test_write_file(tmp, "etc/hostname", "# only a comment\n\n"), 0);
    assert_int_equal(posture_test_write_file(tmp, "etc/machine-id", "uninitialized\n"), 0);
    int fd;
    assert_int_equal(posture_root_open(tmp, &fd), 0);
    assert_int_equal(posture_run_to_json(run, fd, &doc), 0);
    host = cJSON_GetObjectItemCaseSensitive(doc, "host");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(host, "hostname")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(host, "machine_id")));
    cJSON_Delete(doc);
    doc = NULL;
    (void) close(fd);

    /* hostname(5) comments before the name are skipped. */
    assert_int_equal(posture_test_write_file(tmp, "etc/hostname", "# set by installer\n  box7  \n"),
                     0);
    assert_int_equal(posture_root_open(tmp, &fd), 0);
    assert_int_equal(posture_run_to_json(run, fd, &doc), 0);
    host = cJSON_GetObjectItemCaseSensitive(doc, "host");
    assert_string_equal(posture_json_get_str(host, "hostname"), "box7");
    (void) close(fd);
    assert_int_equal(posture_test_rmdir_r(tmp), 0);

    assert_int_equal(posture_run_to_json(NULL, e->root_fd, &doc), -EINVAL);
}

static void test_run_json_host_root(void **state)
{
    struct env *e = *state;
    char *only[] = { "t.pass", NULL };
    posture_auto_run struct posture_run *run = run_only(e, only, NULL, 0);
    posture_auto_cjson cJSON *doc = NULL;
    int fd;

    assert_int_equal(posture_root_open("/", &fd), 0);
    assert_int_equal(posture_run_to_json(run, fd, &doc), 0);
    (void) close(fd);

    char expected[256] = { 0 };
    assert_int_equal(gethostname(expected, sizeof(expected) - 1), 0);
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(doc, "host");
    const char *hostname = posture_json_get_str(host, "hostname");
    if (hostname)
        assert_string_equal(hostname, expected);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative_return_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_status_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_fini, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_without_loader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_selection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overall_and_exit_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_from_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_option_bad_config_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_config, setup, teardown),
        cmocka_unit_test(test_evidence_builder),
        cmocka_unit_test(test_evidence_bounds),
        cmocka_unit_test(test_text_and_utf8),
        cmocka_unit_test_setup_teardown(test_read_file_and_log, setup, teardown),
        cmocka_unit_test(test_result_json),
        cmocka_unit_test_setup_teardown(test_run_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_json_host_root, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
