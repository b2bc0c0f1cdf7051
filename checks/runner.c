/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runner (runner.h): each selected built-in check runs init/run/fini on its own worker
 * thread with a deadline. A check still running at its deadline is abandoned together with
 * everything it can reach (its own root fd, result, host data), so the runner never frees memory
 * a stuck thread may still use. External checks run in processes: exec checks are executed,
 * .so checks run in a forked child that writes its result back as the exec output contract.
 */
#include "posture/runner.h"

#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "posture/check_output.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/loader.h"
#include "posture/log.h"
#include "posture/parse.h"
#include "posture/spawn.h"
#include "posture/strv.h"
#include "posture/time_util.h"
#include "posture/version.h"

#include "host.h"

/* One check on its worker thread. Owned by the runner, or by the thread once abandoned. */
struct job {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;      /* the thread finished; set under lock */
    bool abandoned; /* the runner gave up; the thread frees the job; set under lock */
    int rc;         /* init() or run() */

    const struct posture_check_desc *desc;
    struct posture_check_ctx ctx;
    struct posture_host_data host;
    struct posture_result *result;
    int root_fd;     /* our duplicate */
    char *root_path; /* our copy */
};

/* pthread functions return a positive error number (0 on success); ours are negative. */
#define PTHREAD_ERR(k) ((k) > 0 ? -(k) : -EIO)

static void job_free(struct job *j)
{
    if (!j)
        return;
    posture_host_data_done(&j->host);
    (void) posture_result_free(j->result);
    (void) posture_close_safe(j->root_fd);
    free(j->root_path);
    (void) pthread_cond_destroy(&j->cond);
    (void) pthread_mutex_destroy(&j->lock);
    free(j);
}

static int job_new(const struct posture_check *c,
                   const struct posture_run_opts *opts,
                   uint64_t deadline,
                   struct job **ret)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->root_fd = -1;

    pthread_condattr_t attr;
    int k = pthread_condattr_init(&attr);
    if (k != 0) {
        free(j);
        return PTHREAD_ERR(k);
    }
    k = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (k == 0)
        k = pthread_cond_init(&j->cond, &attr);
    (void) pthread_condattr_destroy(&attr);
    if (k != 0) {
        free(j);
        return PTHREAD_ERR(k);
    }
    k = pthread_mutex_init(&j->lock, NULL);
    if (k != 0) {
        (void) pthread_cond_destroy(&j->cond);
        free(j);
        return PTHREAD_ERR(k);
    }

    int r = 0;
    j->desc = c->desc;
    j->root_fd = fcntl(opts->root_fd, F_DUPFD_CLOEXEC, 3);
    if (j->root_fd < 0)
        r = posture_negative_errno();
    if (r >= 0 && opts->root_path) {
        j->root_path = strdup(opts->root_path);
        if (!j->root_path)
            r = -ENOMEM;
    }
    if (r >= 0)
        r = posture_host_data_init(&j->host, c->desc, opts->config);
    if (r >= 0)
        r = posture_result_new(c->desc->name, c->desc->version, &j->result);
    if (r < 0) {
        job_free(j);
        return r;
    }

    j->ctx = (struct posture_check_ctx){
        .struct_size = sizeof(struct posture_check_ctx),
        .root_fd = j->root_fd,
        .root_path = j->root_path ? j->root_path : "/",
        .deadline_usec = deadline,
        .api = posture_host_api_get(),
        .host_data = &j->host,
    };
    *ret = j;
    return 0;
}

static void *job_thread(void *userdata)
{
    struct job *j = userdata;
    void *state = NULL;

    int r = j->desc->init ? j->desc->init(&j->ctx, &state) : 0;
    if (r >= 0) {
        r = j->desc->run(&j->ctx, state, j->result);
        if (j->desc->fini)
            j->desc->fini(state);
    }

    (void) pthread_mutex_lock(&j->lock);
    j->rc = r;
    bool abandoned = j->abandoned;
    if (!abandoned) {
        j->done = true;
        (void) pthread_cond_signal(&j->cond);
    }
    (void) pthread_mutex_unlock(&j->lock);

    /* The runner gave up on us and never touches the job again: clean up after ourselves. */
    if (abandoned)
        job_free(j);
    return NULL;
}

/* Start the worker with every signal blocked, so signals keep going to the main thread. */
static int job_start(struct job *j, pthread_t *ret_thread)
{
    sigset_t all, saved;

    (void) sigfillset(&all);
    int k = pthread_sigmask(SIG_SETMASK, &all, &saved);
    if (k != 0)
        return PTHREAD_ERR(k);
    k = pthread_create(ret_thread, NULL, job_thread, j);
    (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return k == 0 ? 0 : PTHREAD_ERR(k);
}

/* Wait until the worker is done or the deadline passes. true: done (and joined). */
static bool job_wait(struct job *j, pthread_t thread, uint64_t deadline)
{
    struct timespec ts = {
        .tv_sec = (time_t) (deadline / POSTURE_USEC_PER_SEC),
        .tv_nsec = (long) ((deadline % POSTURE_USEC_PER_SEC) * POSTURE_NSEC_PER_USEC),
    };

    (void) pthread_mutex_lock(&j->lock);
    while (!j->done)
        if (pthread_cond_timedwait(&j->cond, &j->lock, &ts) == ETIMEDOUT)
            break;
    bool done = j->done;
    if (!done)
        j->abandoned = true;
    (void) pthread_mutex_unlock(&j->lock);

    if (done)
        (void) pthread_join(thread, NULL);
    else
        (void) pthread_detach(thread); /* j now belongs to the thread */
    return done;
}

/* Set the root evidence key "errno", replacing one the check may have set. */
static int evidence_set_errno(struct posture_result *result, int error)
{
    cJSON_DeleteItemFromObjectCaseSensitive(result->evidence, "errno");
    return posture_json_add_str(result->evidence, "errno", posture_errno_name(error));
}

/* Turn what the check did into a final result (the rules of runner.h). */
static int result_finish(struct posture_result *result, const char *name, int rc)
{
    const struct posture_host_api *api = posture_host_api_get();

    /* Containers the check left open are simply closed. */
    result->evidence_depth = 1;

    if (rc < 0) {
        result->status = POSTURE_STATUS_ERROR;
        result->error = rc;
        if (!result->reason) {
            int r =
                api->set_reason(result, "%s could not decide (%s)", name, posture_errno_name(rc));
            if (r < 0)
                return r;
        }
        return evidence_set_errno(result, rc);
    }
    result->error = 0;
    if (result->status < 0 || result->status >= POSTURE_STATUS__MAX) {
        result->status = POSTURE_STATUS_ERROR;
        return api->set_reason(result, "%s did not report a status", name);
    }
    return 0;
}

/* ---- External checks: processes ---- */

/* SIGTERM to SIGKILL for external checks: they get a moment to clean up, not more. */
#define EXTERNAL_KILL_GRACE_USEC (500 * POSTURE_USEC_PER_MSEC)

/* The child process of a .so check: run it against the job's fresh result and write the result
 * back as the exec output contract. Its exit status only matters when it is not 0. */
static int so_child_main(int out_fd, void *userdata)
{
    struct job *j = userdata;
    void *state = NULL;
    posture_autofree char *text = NULL;
    size_t len = 0;

    int r = j->desc->init ? j->desc->init(&j->ctx, &state) : 0;
    if (r >= 0) {
        r = j->desc->run(&j->ctx, state, j->result);
        if (j->desc->fini)
            j->desc->fini(state);
    }
    if (result_finish(j->result, j->desc->name, r) < 0 ||
        posture_check_output_format(j->result, &text, &len) < 0)
        return 70; /* EX_SOFTWARE: the parent reports the exit status */
    for (size_t done = 0; done < len;) {
        ssize_t n = write(out_fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 74; /* EX_IOERR */
        done += (size_t) n;
    }
    return 0;
}

/* The stderr of an external check goes to the debug log, line by line. */
static void log_stderr(const char *name, const char *err, size_t len, bool truncated)
{
    if (!posture_log_level_enabled(LOG_DEBUG))
        return;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(err + i, '\n', len - i);
        size_t n = nl ? (size_t) (nl - (err + i)) : len - i;
        if (n > 0)
            log_debug("check/%s: stderr: %.*s", name, (int) n, err + i);
        i += n + 1;
    }
    if (truncated)
        log_debug("check/%s: stderr: (more output dropped)", name);
}

/* "SIGSEGV" for SIGSEGV. */
static const char *signal_name(int sig, char *buf, size_t size)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev)
        (void) snprintf(buf, size, "SIG%s", abbrev);
    else
        (void) snprintf(buf, size, "signal %d", sig);
    return buf;
}

/*
 * Turn what the process did into the result: the parsed verdict in *io_result (replacing the
 * empty one there) and 0, or a negative errno with the reason set on *io_result.
 */
static int external_outcome(const struct posture_check *c,
                            const struct posture_spawn_result *sr,
                            uint64_t timeout,
                            struct posture_result **io_result)
{
    const struct posture_host_api *api = posture_host_api_get();
    const char *name = c->desc->name;
    struct posture_result *result = *io_result;
    char buf[64];
    int r;

    log_stderr(name, sr->err, sr->err_len, sr->stderr_truncated);
    if (sr->timed_out) {
        r = api->set_reason(result, "%s did not finish within %s", name,
                            posture_format_duration(buf, sizeof(buf), timeout));
        return r < 0 ? r : -ETIMEDOUT;
    }
    if (sr->term_signal > 0) {
        r = api->set_reason(result, "%s %s %s", name,
                            c->source == POSTURE_CHECK_SOURCE_SO ? "crashed with" : "was killed by",
                            signal_name(sr->term_signal, buf, sizeof(buf)));
        return r < 0 ? r : -EPROTO;
    }
    if (sr->stdout_truncated) {
        r = api->set_reason(result, "%s: output over %zu KiB", name,
                            POSTURE_CHECK_OUTPUT_MAX / 1024);
        return r < 0 ? r : -E2BIG;
    }
    if (sr->exit_code != 0) {
        r = api->set_reason(result, "%s exited with status %d", name, sr->exit_code);
        return r < 0 ? r : -EPROTO;
    }

    posture_auto_result struct posture_result *parsed = NULL;
    char why[POSTURE_CHECK_OUTPUT_WHY_MAX];
    r = posture_result_new(name, c->desc->version, &parsed);
    if (r < 0)
        return r;
    r = posture_check_output_parse(sr->out, sr->out_len, name, parsed, why, sizeof(why));
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        r = api->set_reason(result, "%s: invalid output: %s", name, why);
        return r < 0 ? r : -EPROTO;
    }
    (void) posture_result_free(result);
    *io_result = POSTURE_TAKE_PTR(parsed);
    return 0;
}

/* Why the process could not be started, as the result's reason. */
static int spawn_failed(const struct posture_check *c, int error, struct posture_result *result)
{
    const struct posture_host_api *api = posture_host_api_get();
    int r;

    if (error == -EPERM)
        r = api->set_reason(result,
                            "%s: the agent lacks the privilege to run it as the configured user",
                            c->desc->name);
    else
        r = api->set_reason(result, "%s could not be started (%s)", c->desc->name,
                            posture_errno_name(error));
    return r < 0 ? r : error;
}

/* [check.<id>] user of an exec check into so (nothing when unset). */
static int exec_user(const struct posture_check *c,
                     const struct posture_config *config,
                     struct posture_spawn_opts *so,
                     struct posture_result *result)
{
    const struct posture_host_api *api = posture_host_api_get();
    char section[POSTURE_CHECK_SECTION_MAX];
    struct passwd pw, *found = NULL;
    char buf[4096];

    if (!config || posture_check_section(c->desc->name, section, sizeof(section)) < 0)
        return 0;
    const char *user = posture_config_get(config, section, "user");
    if (!user)
        return 0;
    int k = getpwnam_r(user, &pw, buf, sizeof(buf), &found);
    if (k != 0) {
        int r = api->set_reason(result, "%s: cannot look up user '%s' of [%s] (%s)", c->desc->name,
                                user, section, posture_errno_name(k));
        return r < 0 ? r : -k;
    }
    if (!found) {
        int r = api->set_reason(result, "%s: user '%s' of [%s] does not exist", c->desc->name, user,
                                section);
        return r < 0 ? r : -ESRCH;
    }
    if (pw.pw_uid == 0) {
        int r = api->set_reason(result, "%s: refusing to run it as user '%s', which is root",
                                c->desc->name, user);
        return r < 0 ? r : -EPERM;
    }
    if (pw.pw_uid == geteuid() && pw.pw_gid == getegid())
        return 0; /* already that user */
    so->switch_user = true;
    so->uid = pw.pw_uid;
    so->gid = pw.pw_gid;
    return 0;
}

/* The deadline of an exec check: [check.<id>] timeout, else [checks] exec_timeout. */
static uint64_t exec_timeout(const struct posture_check *c, const struct posture_run_opts *opts)
{
    char section[POSTURE_CHECK_SECTION_MAX];
    uint64_t t =
        opts->exec_timeout_usec ? opts->exec_timeout_usec : POSTURE_CHECK_TIMEOUT_DEFAULT_USEC;

    if (opts->config && posture_check_section(c->desc->name, section, sizeof(section)) >= 0) {
        const char *v = posture_config_get(opts->config, section, "timeout");
        uint64_t u;
        if (v && posture_parse_duration_usec(v, &u) >= 0 && u > 0)
            t = u;
    }
    return t;
}

/*
 * Run an exec check: the checked file (by its fd), argv {path, "--posture-json"}, environment
 * PATH and LANG=C only, stdin /dev/null, stdout capped, stderr to the debug log, the deadline
 * for its whole process group. Returns what run() would, *io_result replaced by the verdict.
 */
static int run_exec_check(const struct posture_check *c,
                          const struct posture_run_opts *opts,
                          uint64_t *ret_timeout,
                          struct posture_result **io_result)
{
    const char *argv[] = { c->path, "--posture-json", NULL };
    struct posture_spawn_result sr = { 0 };
    uint64_t timeout = exec_timeout(c, opts);

    *ret_timeout = timeout;
    int fd = posture_loader_exec_fd(c);
    if (fd < 0 || !c->path) {
        int r = posture_host_api_get()->set_reason(*io_result, "%s has no checked executable",
                                                   c->desc->name);
        return r < 0 ? r : -EBADF;
    }
    struct posture_spawn_opts so = {
        .argv = argv,
        .timeout_usec = timeout,
        .kill_grace_usec = EXTERNAL_KILL_GRACE_USEC,
        .stdout_max = POSTURE_CHECK_OUTPUT_MAX,
        .exec_by_fd = true,
        .exec_fd = fd,
    };
    int r = exec_user(c, opts->config, &so, *io_result);
    if (r < 0)
        return r;
    r = posture_spawn_run(&so, &sr);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return spawn_failed(c, r, *io_result);
    r = external_outcome(c, &sr, timeout, io_result);
    posture_spawn_result_done(&sr);
    return r;
}

/*
 * Run a .so check in a forked child (runner.h): a crash or a hang costs the child, not the
 * agent. The child gets a job like a worker thread would.
 */
static int run_so_check(const struct posture_check *c,
                        const struct posture_run_opts *opts,
                        uint64_t timeout,
                        uint64_t deadline,
                        struct posture_result **io_result)
{
    const char *argv[] = { c->path ? c->path : c->desc->name, NULL };
    struct posture_spawn_result sr = { 0 };
    struct job *j = NULL;

    int r = job_new(c, opts, deadline, &j);
    if (r < 0)
        return r;
    struct posture_spawn_opts so = {
        .argv = argv,
        .timeout_usec = timeout,
        .kill_grace_usec = EXTERNAL_KILL_GRACE_USEC,
        .stdout_max = POSTURE_CHECK_OUTPUT_MAX,
        .child_fn = so_child_main,
        .child_userdata = j,
    };
    r = posture_spawn_run(&so, &sr);
    job_free(j);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return spawn_failed(c, r, *io_result);
    r = external_outcome(c, &sr, timeout, io_result);
    posture_spawn_result_done(&sr);
    return r;
}

/* A fresh ERROR result for a check abandoned at its deadline. */
static int
timeout_result(const struct posture_check *c, uint64_t timeout, struct posture_result **ret)
{
    posture_auto_result struct posture_result *result = NULL;
    char buf[64];

    int r = posture_result_new(c->desc->name, c->desc->version, &result);
    if (r < 0)
        return r;
    r = posture_host_api_get()->set_reason(result, "%s did not finish within %s", c->desc->name,
                                           posture_format_duration(buf, sizeof(buf), timeout));
    if (r < 0)
        return r;
    result->status = POSTURE_STATUS_ERROR;
    result->error = -ETIMEDOUT;
    r = evidence_set_errno(result, -ETIMEDOUT);
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(result);
    return 0;
}

/* Run one check. *ret_abandoned is set when its thread was left running. */
static int run_one(const struct posture_check *c,
                   const struct posture_run_opts *opts,
                   struct posture_result **ret,
                   bool *ret_abandoned)
{
    uint64_t timeout = opts->timeout_usec ? opts->timeout_usec : POSTURE_CHECK_TIMEOUT_DEFAULT_USEC;
    uint64_t observed_at = posture_now_usec(CLOCK_REALTIME) / POSTURE_USEC_PER_SEC;
    uint64_t start = posture_now_usec(CLOCK_MONOTONIC);
    uint64_t deadline = timeout > UINT64_MAX - start ? UINT64_MAX : start + timeout;
    posture_auto_result struct posture_result *result = NULL;
    bool abandoned = false;
    int rc, r;

    if (c->source == POSTURE_CHECK_SOURCE_EXEC || c->source == POSTURE_CHECK_SOURCE_SO) {
        r = posture_result_new(c->desc->name, c->desc->version, &result);
        if (r < 0)
            return r;
        if (c->source == POSTURE_CHECK_SOURCE_EXEC)
            rc = run_exec_check(c, opts, &timeout, &result);
        else
            rc = run_so_check(c, opts, timeout, deadline, &result);
        if (rc == -ENOMEM)
            return rc;
    } else {
        /* Built-in checks call desc->run in process, on a worker thread. */
        struct job *j = NULL;
        r = job_new(c, opts, deadline, &j);
        if (r < 0)
            return r;
        assert(j);
        pthread_t thread;
        memset(&thread, 0, sizeof(thread));
        rc = job_start(j, &thread);
        if (rc < 0 || job_wait(j, thread, deadline)) {
            rc = rc < 0 ? rc : j->rc;
            result = POSTURE_TAKE_PTR(j->result);
            job_free(j);
        } else {
            abandoned = true;
            r = timeout_result(c, timeout, &result);
            if (r < 0)
                return r;
        }
    }

    if (!abandoned) {
        r = result_finish(result, c->desc->name, rc);
        if (r < 0)
            return r;
    }
    result->observed_at = observed_at;
    result->duration_usec = posture_now_usec(CLOCK_MONOTONIC) - start;

    *ret = POSTURE_TAKE_PTR(result);
    *ret_abandoned = abandoned;
    return 0;
}

static int status_rank(int status)
{
    switch (status) {
    case POSTURE_STATUS_FAIL:
        return 3;
    case POSTURE_STATUS_ERROR:
        return 2;
    case POSTURE_STATUS_WARN:
        return 1;
    default:
        return 0; /* pass, not_applicable */
    }
}

int posture_runner_run(const struct posture_registry *reg,
                       const struct posture_run_opts *opts,
                       struct posture_run **ret,
                       const char **ret_unknown)
{
    POSTURE_RETURN_IF_FAIL(reg, -EINVAL);
    POSTURE_RETURN_IF_FAIL(opts, -EINVAL);
    POSTURE_RETURN_IF_FAIL(opts->root_fd >= 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    for (char *const *id = opts->only; id && *id; id++)
        if (!posture_registry_find(reg, *id)) {
            if (ret_unknown)
                *ret_unknown = *id;
            return -ENOENT;
        }

    posture_auto_run struct posture_run *run = calloc(1, sizeof(*run));
    if (!run)
        return -ENOMEM;
    size_t n = posture_registry_count(reg);
    if (n > 0) {
        run->results = calloc(n, sizeof(struct posture_result *));
        if (!run->results)
            return -ENOMEM;
    }
    run->collected_at = posture_now_usec(CLOCK_REALTIME) / POSTURE_USEC_PER_SEC;
    uint64_t start = posture_now_usec(CLOCK_MONOTONIC);

    run->overall = POSTURE_STATUS_PASS;
    for (size_t i = 0; i < n; i++) {
        const struct posture_check *c = posture_registry_at(reg, i);
        if (opts->only && !posture_strv_contains(opts->only, c->desc->name))
            continue;

        bool abandoned = false;
        int r = run_one(c, opts, &run->results[run->n_results], &abandoned);
        if (r < 0)
            return r;
        int status = run->results[run->n_results++]->status;
        if (status_rank(status) > status_rank(run->overall))
            run->overall = status;
        if (abandoned)
            run->n_abandoned++;
    }
    run->duration_usec = posture_now_usec(CLOCK_MONOTONIC) - start;

    *ret = POSTURE_TAKE_PTR(run);
    return 0;
}

struct posture_run *posture_run_free(struct posture_run *run)
{
    if (!run)
        return NULL;
    for (size_t i = 0; i < run->n_results; i++)
        (void) posture_result_free(run->results[i]);
    free(run->results);
    free(run);
    return NULL;
}

int posture_run_exit_status(const struct posture_run *run)
{
    if (!run)
        return 3;
    switch (run->overall) {
    case POSTURE_STATUS_FAIL:
        return 1;
    case POSTURE_STATUS_ERROR:
        return 3;
    default:
        return 0;
    }
}

/* ---- Config validation ---- */

/* [check.<id>] of an exec check: user and timeout only. -EINVAL on a bad value. */
static int validate_exec_option(const struct posture_config *config,
                                const struct posture_config_entry *e)
{
    if (strcmp(e->key, "timeout") == 0) {
        uint64_t u;
        if (posture_parse_duration_usec(e->value, &u) < 0 || u == 0) {
            posture_config_diag(config, LOG_ERR, e->file, e->line,
                                "invalid value '%s' for [%s] timeout: expected a duration such "
                                "as 30s or 2m",
                                e->value, e->section);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(e->key, "user") == 0) {
        bool ok = e->value[0] != '\0' && strlen(e->value) <= 32 && e->value[0] != '-';
        for (const char *p = e->value; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '_' || *p == '-' || *p == '.';
        if (!ok) {
            posture_config_diag(config, LOG_ERR, e->file, e->line,
                                "invalid value '%s' for [%s] user: expected a user name", e->value,
                                e->section);
            return -EINVAL;
        }
        if (strcmp(e->value, "root") == 0) {
            posture_config_diag(config, LOG_ERR, e->file, e->line,
                                "[%s] user = root: exec checks never run as root through this "
                                "setting; remove it to run as the agent's user",
                                e->section);
            return -EINVAL;
        }
        return 0;
    }
    posture_config_diag(config, LOG_WARNING, e->file, e->line,
                        "unknown option '%s' for exec check %s in [%s] (exec checks take only "
                        "'user' and 'timeout'), ignoring",
                        e->key, e->section + 6, e->section);
    return 0;
}

int posture_runner_validate_config(const struct posture_registry *reg,
                                   const struct posture_config *config)
{
    posture_auto_strv char **warned = NULL;
    int ret = 0;

    POSTURE_RETURN_IF_FAIL(reg, -EINVAL);
    if (!config)
        return 0;

    for (size_t i = 0; i < posture_config_count(config); i++) {
        const struct posture_config_entry *e = posture_config_entry_at(config, i);
        if (!e || !e->section || strncmp(e->section, "check.", 6) != 0)
            continue;
        const char *id = e->section + 6;

        const struct posture_check *c = posture_registry_find(reg, id);
        if (!c) {
            /* One warning per unknown section, not one per key. */
            if (!posture_strv_contains(warned, e->section)) {
                posture_config_diag(config, LOG_WARNING, e->file, e->line,
                                    "unknown check '%s' in section [%s], ignoring", id, e->section);
                if (posture_strv_extend(&warned, e->section) < 0)
                    return -ENOMEM;
            }
            continue;
        }

        if (c->source == POSTURE_CHECK_SOURCE_EXEC) {
            if (validate_exec_option(config, e) < 0)
                ret = -EINVAL;
            continue;
        }

        const struct posture_option *o = posture_check_find_option(c->desc, e->key);
        if (!o) {
            posture_config_diag(config, LOG_WARNING, e->file, e->line,
                                "unknown option '%s' for check %s in [%s], ignoring", e->key, id,
                                e->section);
            continue;
        }

        const char *why = "invalid value";
        if (posture_option_value_check(o->type, e->value, &why) < 0) {
            posture_config_diag(config, LOG_ERR, e->file, e->line,
                                "invalid value '%s' for [%s] %s (%s): %s", e->value, e->section,
                                e->key, posture_option_type_to_string(o->type), why);
            ret = -EINVAL;
        }
    }
    return ret;
}

/* ---- The run as JSON ---- */

/* The first line that is neither empty nor a comment, trimmed; NULL when there is none. */
static char *first_meaningful_line(char *buf)
{
    for (char *line = buf; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line += strspn(line, " \t\r");
        size_t n = strlen(line);
        while (n > 0 && strchr(" \t\r", line[n - 1]))
            line[--n] = '\0';
        if (n > 0 && line[0] != '#')
            return line;
        line = next;
    }
    return NULL;
}

static bool hostname_is_plausible(const char *s)
{
    size_t n = strnlen(s, HOST_NAME_MAX + 1);
    if (n == 0 || n > HOST_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 0x7f)
            return false;
    return true;
}

static bool machine_id_is_valid(const char *s)
{
    if (strlen(s) != 32)
        return false;
    for (size_t i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* hostname: the running system's when root is the host, else etc/hostname in root. */
static char *host_hostname(int root_fd, bool is_host)
{
    if (is_host) {
        char buf[HOST_NAME_MAX + 1] = { 0 };
        if (gethostname(buf, sizeof(buf) - 1) == 0 && hostname_is_plausible(buf))
            return strdup(buf);
        return NULL;
    }

    posture_autofree char *buf = NULL;
    if (posture_read_file_at(root_fd, "/etc/hostname", 4096, &buf, NULL) < 0)
        return NULL;
    const char *line = first_meaningful_line(buf);
    return line && hostname_is_plausible(line) ? strdup(line) : NULL;
}

static char *host_machine_id(int root_fd)
{
    posture_autofree char *buf = NULL;
    if (posture_read_file_at(root_fd, "/etc/machine-id", 4096, &buf, NULL) < 0)
        return NULL;
    const char *line = first_meaningful_line(buf);
    return line && machine_id_is_valid(line) ? strdup(line) : NULL;
}

int posture_run_to_json(const struct posture_run *run, int root_fd, cJSON **ret)
{
    POSTURE_RETURN_IF_FAIL(run, -EINVAL);
    POSTURE_RETURN_IF_FAIL(root_fd >= 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    const char *overall = posture_status_to_string(run->overall);
    if (!overall)
        return -EINVAL;

    bool is_host = posture_root_is_host(root_fd);
    posture_autofree char *hostname = host_hostname(root_fd, is_host);
    posture_autofree char *machine_id = host_machine_id(root_fd);

    posture_auto_cjson cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return -ENOMEM;
    /* The containers are attached as they are created, so doc owns them from the start. */
    cJSON *agent = cJSON_AddObjectToObject(doc, "agent");
    cJSON *host = cJSON_AddObjectToObject(doc, "host");
    if (!agent || !host)
        return -ENOMEM;

    int k = posture_json_add_str(agent, "name", POSTURE_NAME);
    if (k >= 0)
        k = posture_json_add_str(agent, "version", POSTURE_VERSION);
    if (k >= 0)
        k = posture_json_add_str(host, "hostname", hostname);
    if (k >= 0)
        k = posture_json_add_str(host, "machine_id", machine_id);
    if (k >= 0)
        k = posture_json_add_int(doc, "collected_at", (int64_t) run->collected_at);
    if (k >= 0)
        k = posture_json_add_str(doc, "overall", overall);
    if (k < 0)
        return k;

    cJSON *checks = cJSON_AddArrayToObject(doc, "checks");
    if (!checks)
        return -ENOMEM;
    for (size_t i = 0; i < run->n_results; i++) {
        cJSON *item;
        k = posture_result_to_json(run->results[i], &item);
        if (k < 0)
            return k;
        k = posture_json_append(checks, item);
        if (k < 0)
            return k;
    }

    *ret = POSTURE_TAKE_PTR(doc);
    return 0;
}
