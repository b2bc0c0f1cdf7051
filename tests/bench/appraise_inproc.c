/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier's appraisal of one submission, in process, on one core (DESIGN.md §10:
 * "verifier appraisal (JWS + quote + 80-event log replay + policy + store) ≥ 4,000/s per
 * core"). Driven by tests/bench/appraise.sh, which enrols a swtpm device (the measured boot of
 * gce-rhel8-secureboot replayed into it) with a real `posture-verifier serve`, stops the
 * server and then:
 *
 *   appraise_inproc run STATE_DIR TRUST_DOMAIN POLICY_DIR DEFAULT WORK_DIR N POSTURECTL
 *                       AGENT_CONF HOST [LABEL]
 *       in batches of POSTURE_STORE_NONCES_PER_DEVICE (what a device may hold at once): issue
 *       that many nonces in the verifier's store (STATE_DIR/store.db) for its one enrolled TPM
 *       device, have `POSTURECTL report --config AGENT_CONF --nonce N --evidence F` make the
 *       signed report and its TPM quote for each (not timed), then time them, N submissions in
 *       all, through posture_api_submit(), the very pipeline of POST /v1/posture (HOST: the
 *       Host header the reports' aud must name, as [server] url gives it): nonce consumed in the
 *       store, report JWS verified, quote verified, event log parsed and
 *       replayed, every policy of POLICY_DIR appraised, one EAR signed each, appraisal rows +
 *       TPM clock + audit row written to the SQLite store (WAL, on disk), the decision view
 *       updated, the 201 body printed. Each submission also looks its device up in the store
 *       (the HTTP route does that for the TLS client certificate). Not timed: TLS, HTTP
 *       parsing, the challenge (the nonce's issue).
 *
 * Timed on the CPU it starts on (pinned), in the thread's CPU time, so that other processes
 * on a shared machine do not count; the reports are made on the other CPUs meanwhile. Prints
 * the CPU time per stage (µs per submission, mean), submissions per second per core (mean, and
 * the fastest batch as attest_verify reports its fastest round), and the wall time. Exit 1 when
 * a submission is not appraised (201), 2 on usage or setup errors. Never a timed test.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/parse.h"
#include "posture/spawn.h"

#include "api.h"
#include "api_posture.h"
#include "decision.h"
#include "policy.h"
#include "store.h"
#include "vkeys.h"

#define PROG    "appraise_inproc"
#define N_MAX   100000u
#define SUB_MAX ((size_t) 2 * 1024 * 1024)
#define BATCH   POSTURE_STORE_NONCES_PER_DEVICE /* nonces a device may hold at once */

static int store_open(const char *state_dir, struct posture_store **ret)
{
    char url[PATH_MAX + 16];
    int r;

    if ((size_t) snprintf(url, sizeof(url), "sqlite:%s/store.db", state_dir) >= sizeof(url))
        return -ENAMETOOLONG;
    r = posture_store_open(url, NULL, ret);
    if (r < 0)
        (void) fprintf(stderr, PROG ": %s: %s\n", url, posture_errno_name(r));
    return r;
}

/* The first active TPM device. */
static int pick(const struct posture_store_device *d, void *userdata)
{
    char *id = userdata;

    if (id[0] == '\0' && d->tier == POSTURE_STORE_TIER_HARDWARE &&
        d->status == POSTURE_STORE_DEVICE_ACTIVE)
        (void) snprintf(id, POSTURE_STORE_DEVICE_ID_MAX + 1, "%s", d->id);
    return 0;
}

static int device_id(struct posture_store *store, char id[static POSTURE_STORE_DEVICE_ID_MAX + 1])
{
    int r;

    id[0] = '\0';
    r = posture_store_device_foreach(store, pick, id);
    if (r < 0)
        return r;
    if (id[0] == '\0') {
        (void) fprintf(stderr, PROG ": the store has no active TPM device\n");
        return -ENOENT;
    }
    return 0;
}

/* The agent's submission for a nonce: {"report": "<jws>", "tpm": <evidence>}, as posturectl
 * submit sends it. */
static int make_body(const char *posturectl,
                     const char *agent_conf,
                     const char *work_dir,
                     const char *nonce,
                     char **ret,
                     size_t *ret_len)
{
    static const char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C",
                                        "TSS2_LOG=all+none", NULL };
    struct posture_spawn_result res = { 0 };
    posture_autofree char *ev = NULL;
    char path[PATH_MAX], *body;
    size_t ev_len = 0, jws_len, size;
    int n, r;

    if ((size_t) snprintf(path, sizeof(path), "%s/ev.json", work_dir) >= sizeof(path))
        return -ENAMETOOLONG;
    const char *const argv[] = { posturectl, "report",     "--config", agent_conf, "--nonce",
                                 nonce,      "--evidence", path,       NULL };
    struct posture_spawn_opts so = {
        .argv = argv,
        .envp = envp,
        .timeout_usec = 60 * POSTURE_STORE_USEC_PER_SEC,
        .stdout_max = 256 * 1024,
    };
    r = posture_spawn_run(&so, &res);
    if (r < 0) {
        (void) fprintf(stderr, PROG ": %s: %s\n", posturectl, posture_errno_name(r));
        return r;
    }
    if (res.exit_code != 0 || res.stdout_truncated) {
        (void) fprintf(stderr, PROG ": posturectl report failed (%d): %.400s\n", res.exit_code,
                       res.err);
        posture_spawn_result_done(&res);
        return -EIO;
    }
    posture_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    r = fd < 0 ? posture_negative_errno() : posture_read_fd(fd, SUB_MAX, &ev, &ev_len);
    if (r < 0) {
        (void) fprintf(stderr, PROG ": %s: %s\n", path, posture_errno_name(r));
        posture_spawn_result_done(&res);
        return r;
    }
    jws_len = res.out_len;
    while (jws_len > 0 && (res.out[jws_len - 1] == '\n' || res.out[jws_len - 1] == ' '))
        res.out[--jws_len] = '\0';
    size = jws_len + ev_len + 32;
    body = malloc(size);
    n = body ? snprintf(body, size, "{\"report\":\"%s\",\"tpm\":%s}", res.out, ev) : -1;
    posture_spawn_result_done(&res);
    if (!body)
        return -ENOMEM;
    if (n < 0 || (size_t) n >= size) {
        free(body);
        return -E2BIG;
    }
    *ret = body;
    *ret_len = (size_t) n;
    return 0;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    (void) clock_gettime(id, &ts);
    return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

struct run {
    const char *state_dir, *trust_domain, *policy_dir, *policy_default, *work_dir, *label;
    const char *posturectl, *agent_conf, *host;
    unsigned n;
};

static int cmd_run(const struct run *a)
{
    struct posture_store *store = NULL;
    posture_auto_policy_set struct posture_policy_set *policies = NULL;
    posture_auto_decisions struct posture_decisions *view = NULL;
    posture_auto_api struct posture_api *api = NULL;
    struct posture_vkeys *vkeys = NULL;
    char id[POSTURE_STORE_DEVICE_ID_MAX + 1], err[POSTURE_POLICY_ERROR_MAX] = "";
    struct posture_http_identity ident = { .source = POSTURE_HTTP_IDENTITY_TLS };
    struct posture_api_stats stats = { .thread_cpu = true };
    char **bodies = NULL;
    size_t *lens = NULL;
    uint64_t device_ns = 0, print_ns = 0, wall0, wall1, cpu0, cpu1, cpu_ns = 0, wall_ns = 0,
             best_ns = 0;
    unsigned done = 0, appraised = 0;
    int status = 2, r;
    cpu_set_t mine, others;

    r = store_open(a->state_dir, &store);
    if (r >= 0)
        r = device_id(store, id);
    if (r >= 0) {
        r = posture_policy_set_load_dir(a->policy_dir, &policies, err, sizeof(err));
        if (r < 0)
            (void) fprintf(stderr, PROG ": %s: %s\n", a->policy_dir,
                           err[0] ? err : posture_errno_name(r));
    }
    if (r >= 0) {
        r = posture_vkeys_open(a->state_dir, a->trust_domain, false, &vkeys);
        if (r < 0)
            (void) fprintf(stderr, PROG ": %s: verifier keys: %s\n", a->state_dir,
                           posture_errno_name(r));
    }
    if (r >= 0)
        r = posture_decisions_new(POSTURE_API_DEVICES_MAX, &view);
    if (r >= 0) {
        struct posture_api_options ao = {
            .store = store,
            .vkeys = vkeys,
            .policies = policies,
            .default_policy = a->policy_default,
            .decisions = view,
        };
        r = posture_api_new(&ao, &api);
        if (r < 0)
            (void) fprintf(stderr, PROG ": api: %s\n", posture_errno_name(r));
    }
    if (r < 0)
        goto out;
    /* The certificate's x5t#S256 goes into every EAR's cnf; any 32 bytes do here. */
    if (EVP_Digest(id, strlen(id), ident.x5t_s256, NULL, EVP_sha256(), NULL) != 1)
        goto out;

    bodies = calloc(BATCH, sizeof(*bodies));
    lens = calloc(BATCH, sizeof(*lens));
    if (!bodies || !lens)
        goto out;

    /* Timed on the CPU we run on; the agent's reports are made on the others (when there are
     * any), so that they disturb the timed core's caches less. */
    int cpu = sched_getcpu();
    CPU_ZERO(&mine);
    CPU_ZERO(&others);
    if (cpu >= 0 && sched_getaffinity(0, sizeof(others), &others) == 0) {
        CPU_SET(cpu, &mine);
        CPU_CLR(cpu, &others);
    }

    status = 1;
    for (unsigned base = 0; base < a->n; base += BATCH) {
        unsigned k = a->n - base < BATCH ? a->n - base : BATCH;

        /* not timed: the challenges and the agent's reports */
        if (CPU_COUNT(&others) > 0)
            (void) sched_setaffinity(0, sizeof(others), &others);
        for (unsigned i = 0; i < k; i++) {
            uint8_t nonce[POSTURE_STORE_NONCE_SIZE];
            char text[64];

            free(bodies[i]);
            bodies[i] = NULL;
            r = posture_store_nonce_issue(store, id, POSTURE_STORE_NONCE_TTL_MAX, nonce);
            if (r >= 0)
                r = posture_b64url_encode_buf(nonce, sizeof(nonce), text, sizeof(text));
            if (r >= 0)
                r = make_body(a->posturectl, a->agent_conf, a->work_dir, text, &bodies[i],
                              &lens[i]);
            if (r < 0) {
                (void) fprintf(stderr, PROG ": submission %u: %s\n", base + i,
                               posture_errno_name(r));
                goto out;
            }
        }
        if (CPU_COUNT(&mine) > 0)
            (void) sched_setaffinity(0, sizeof(mine), &mine);
        wall0 = clock_ns(CLOCK_MONOTONIC);
        cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        for (unsigned i = 0; i < k; i++) {
            struct posture_store_device dev = { 0 };
            struct posture_api_answer ans = { 0 };
            uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t1;

            r = posture_store_device_get(store, id, &dev);
            t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
            device_ns += t1 - t0;
            if (r < 0) {
                (void) fprintf(stderr, PROG ": device %s: %s\n", id, posture_errno_name(r));
                goto out;
            }
            r = posture_api_submit(api, &ident, &dev, a->host, (const uint8_t *) bodies[i], lens[i],
                                   &ans, &stats);
            posture_store_device_done(&dev);
            if (r < 0) {
                (void) fprintf(stderr, PROG ": submission %u: fault %s\n", base + i,
                               posture_errno_name(r));
                goto out;
            }
            /* what the HTTP layer does with the answer: print it */
            t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
            char *text = ans.json ? cJSON_PrintUnformatted(ans.json) : NULL;
            print_ns += clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
            done++;
            if (ans.status == 201)
                appraised++;
            else if (appraised + 1 == done) /* the first refusal */
                (void) fprintf(stderr, PROG ": submission %u: %u %s: %s %.300s\n", base + i,
                               ans.status, ans.problem_type ? ans.problem_type : "",
                               ans.detail ? ans.detail : "", text ? text : "");
            free(text);
            posture_api_answer_done(&ans);
        }
        cpu1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        wall1 = clock_ns(CLOCK_MONOTONIC);
        cpu_ns += cpu1 - cpu0;
        wall_ns += wall1 - wall0;
        if (k == BATCH && (best_ns == 0 || (cpu1 - cpu0) / k < best_ns))
            best_ns = (cpu1 - cpu0) / k;
    }
    if (done == 0)
        goto out;

    double per_cpu = (double) cpu_ns / 1e3 / done;
    double per_wall = (double) wall_ns / 1e3 / done;
    stats.ns[POSTURE_API_STAGE_ANSWER] += print_ns;
    (void) printf("%s: %u submissions in process (%u appraised, 201), %zu polic%s (default %s), "
                  "TPM tier, SQLite store (WAL) on disk:\n",
                  a->label ? a->label : PROG, done, appraised, policies->n_policies,
                  policies->n_policies == 1 ? "y" : "ies", a->policy_default);
    (void) printf("  %-9s %8.1f us  (device record read from the store)\n", "device",
                  (double) device_ns / 1e3 / done);
    for (int st = 0; st < POSTURE_API_STAGE__MAX; st++)
        (void) printf("  %-9s %8.1f us\n", posture_api_stage_to_string((enum posture_api_stage) st),
                      (double) stats.ns[st] / 1e3 / done);
    (void) printf("  total     %8.1f us CPU per submission = %.0f submissions/s per core (target "
                  ">= 4000/s, DESIGN.md §10); wall %.1f us (%.0f/s)\n",
                  per_cpu, 1e6 / per_cpu, per_wall, 1e6 / per_wall);
    if (best_ns > 0)
        (void) printf("  fastest batch of %u: %.1f us CPU per submission = %.0f/s per core\n",
                      BATCH, (double) best_ns / 1e3, 1e9 / (double) best_ns);
    status = appraised == a->n ? 0 : 1;
out:
    if (status == 2 && r >= 0)
        (void) fprintf(stderr, PROG ": setup failed\n");
    for (unsigned i = 0; bodies && i < BATCH; i++)
        free(bodies[i]);
    free(bodies);
    free(lens);
    api = posture_api_free(api);
    vkeys = posture_vkeys_free(vkeys);
    store = posture_store_free(store);
    return status;
}

static int parse_n(const char *s, unsigned *ret)
{
    uint64_t v = 0;

    if (posture_parse_u64(s, &v) < 0 || v == 0 || v > N_MAX) {
        (void) fprintf(stderr, PROG ": N must be 1..%u\n", N_MAX);
        return -EINVAL;
    }
    *ret = (unsigned) v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned n = 0;

    if ((argc == 11 || argc == 12) && strcmp(argv[1], "run") == 0) {
        struct run a = {
            .state_dir = argv[2],
            .trust_domain = argv[3],
            .policy_dir = argv[4],
            .policy_default = argv[5],
            .work_dir = argv[6],
            .posturectl = argv[8],
            .agent_conf = argv[9],
            .host = argv[10],
            .label = argc == 12 ? argv[11] : NULL,
        };
        if (parse_n(argv[7], &n) < 0)
            return 2;
        a.n = n;
        return cmd_run(&a);
    }
    (void) fprintf(stderr, "usage: " PROG " run STATE_DIR TRUST_DOMAIN POLICY_DIR DEFAULT "
                           "WORK_DIR N POSTURECTL AGENT_CONF HOST [LABEL]\n");
    return 2;
}
