/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The runner: runs selected checks of a registry once, each with a deadline, and collects their
 * results. Internal to the agent; not installed.
 *
 * Built-in checks run in process, each on a worker thread. If it is still running at its
 * deadline the runner records ERROR ("did not finish within …", -ETIMEDOUT) and moves on; the
 * stuck thread is abandoned with its own duplicate of the root fd and its own result object, so
 * it cannot touch anything the runner frees. Built-ins are our code, bounded by review (STYLE.md
 * G2); a thread cannot be killed, so anything that may block must be a process.
 *
 * External checks run in processes, so a crash or an endless loop costs a process, never the
 * agent:
 *  - exec checks are executed (posture_spawn_run: the checked file by its fd, argv {path,
 *    "--posture-json"}, only PATH and LANG=C in the environment, stdin /dev/null, stdout capped
 *    at 64 KiB, stderr to the debug log, SIGTERM then SIGKILL of the process group at the
 *    deadline: [check.<id>] timeout, else exec_timeout), optionally as [check.<id>] user;
 *  - .so checks are untrusted code too: each runs init/run/fini in a forked child (fork, not
 *    exec: the plugin is already loaded) against a fresh result, which the child writes back as
 *    the exec output contract (check_output.h) on a pipe and exits; the parent reads it with the
 *    same parser, under the same cap, with the in-process deadline (timeout_usec). Cost: one
 *    fork per .so check and run (copy-on-write; measured at about 0.7 ms more than a worker
 *    thread for a trivial check, release build, posturectl-sized process).
 * A process that does not finish in time, dies of a signal ("crashed with SIGSEGV"), exits
 * non-zero, writes more than 64 KiB or breaks the contract is ERROR with a reason saying which;
 * its errno evidence is ETIMEDOUT, EPROTO or E2BIG. --root does not apply to exec checks (they
 * see the host); .so checks get the root like built-ins.
 *
 * A negative return from run() becomes ERROR with evidence "errno" (the errno name) and the
 * reason the check set, or "<check> could not decide (ENAME)" when it set none. A check that
 * returns 0 without setting a status is an ERROR too ("did not report a status").
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "posture/config.h"
#include "posture/registry.h"
#include "posture/result.h"

#define POSTURE_CHECK_TIMEOUT_DEFAULT_USEC ((uint64_t) 10 * 1000 * 1000)

struct posture_run_opts {
    int root_fd;           /* borrowed; host root or --root DIR */
    const char *root_path; /* the same as a path */
    char *const *only;     /* NULL: every registered check; else these ids, in registry order */
    uint64_t timeout_usec; /* per-check deadline; 0: POSTURE_CHECK_TIMEOUT_DEFAULT_USEC */
    const struct posture_config *config; /* [check.<id>] options; may be NULL */
    uint64_t exec_timeout_usec;          /* deadline of an exec check; 0: 10 s */
};

struct posture_run {
    struct posture_result **results;
    size_t n_results;
    int overall;           /* fail > error > warn > pass (not_applicable counts as pass) */
    uint64_t collected_at; /* epoch seconds at the start of the run */
    uint64_t duration_usec;
    size_t n_abandoned; /* checks left running at their deadline; each thread keeps its fd,
                           result and state, and frees them itself if it ever returns */
};

/*
 * Validate "check.<id>" sections of config: an unknown id or option key warns (", ignoring"),
 * a value that does not parse as the option's type is an error naming file:line; both through
 * the config's diag function. Exec checks have no option table: their sections take only
 * `user` (a user name, not root) and `timeout` (a duration). Returns 0 or -EINVAL.
 */
int posture_runner_validate_config(const struct posture_registry *reg,
                                   const struct posture_config *config);

/*
 * Run. -ENOENT when an id in opts->only is not registered (*ret_unknown then names it, borrowed
 * from opts->only; ret_unknown may be NULL); -ENOMEM. Check failures are results, not errors.
 */
int posture_runner_run(const struct posture_registry *reg,
                       const struct posture_run_opts *opts,
                       struct posture_run **ret,
                       const char **ret_unknown);

struct posture_run *posture_run_free(struct posture_run *run);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_run *, posture_run_free)
#define posture_auto_run POSTURE_CLEANUP(posture_run_freep)

/* Exit status of `posturectl check` for this run: 0 nothing failed, 1 a check failed,
 * 3 nothing failed but a check could not decide (DESIGN.md §4). */
int posture_run_exit_status(const struct posture_run *run);

/*
 * The document of DESIGN.md §6: {"agent":{"name","version"}, "host":{"hostname","machine_id"},
 * "collected_at", "overall", "checks":[…]}. hostname and machine_id come from the root
 * (etc/hostname, etc/machine-id) when it is not the host, else from the running system; null
 * when unknown. Caller frees *ret.
 */
int posture_run_to_json(const struct posture_run *run, int root_fd, cJSON **ret);
