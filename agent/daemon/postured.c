/* SPDX-License-Identifier: Apache-2.0 */
/*
 * postured: the posture agent daemon (DESIGN.md §4, §11; RELIABILITY.md §5, §7;
 * docs/agent-daemon.md).
 *
 *   postured [--config FILE] [--once] [--only ID,...] [--root DIR]
 *
 * One thread and one epoll: a signalfd (SIGTERM/SIGINT stop after the current cycle, whose
 * report is spooled before it is sent; SIGHUP reloads the configuration and keeps the old one
 * when the new one is bad), a CLOCK_BOOTTIME timerfd for the schedule (an immediate cycle at
 * start, then the device's phase within [schedule] interval with ±10 % jitter, or the backoff
 * after a failure, Retry-After honoured), a CLOCK_MONOTONIC timerfd for the systemd watchdog,
 * and the triggers' fd (network, block devices, clock set, resume: one early cycle, coalesced,
 * at most one per [schedule] early_gap, 30 s by default). systemd is told READY=1, STATUS=,
 * WATCHDOG=1, RELOADING=1 and STOPPING=1 over $NOTIFY_SOCKET, written here without libsystemd.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "posture/fileio.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/parse.h"
#include "posture/statefile.h"
#include "posture/strv.h"

#include "cli.h"
#include "cycle.h"
#include "http_client.h"
#include "schedule.h"
#include "spool.h"
#include "triggers.h"

#define PROGRAM             "postured"
#define DRAIN_PAUSE_USEC    ((uint64_t) 5 * 1000000) /* between drain passes of a long spool */
#define TRIGGER_SETTLE_USEC ((uint64_t) 2 * 1000000)
#define USEC_PER_SEC        ((uint64_t) 1000000)
#define NOTIFY_MAX          256

/* What a configuration brings: the things rebuilt on SIGHUP. */
struct setup {
    struct posture_cli_config cfg; /* must not move: its diag callback points into it */
    EVP_PKEY *pkey;
    struct posture_http_client *client;
    struct posture_spool *spool;
    int state_fd;
    char *device_id;
};

struct daemon {
    const char *config_path;
    struct posture_cli_common_args args; /* --only, --root for the checks */
    bool once;

    struct setup *s;
    struct posture_cycle cycle;
    struct posture_daemon_status status;

    int epoll_fd, signal_fd, timer_fd, watchdog_fd;
    struct posture_triggers *triggers;
    struct posture_coalesce coalesce;

    uint64_t phase_usec;
    uint64_t next_slot;  /* CLOCK_BOOTTIME µs of the next regular cycle */
    uint64_t next_retry; /* of a retry (drain) after a failure, 0: none */
    unsigned failures;   /* consecutive failed attempts, for the backoff */
    uint64_t watchdog_usec;
    uint64_t last_ping; /* CLOCK_MONOTONIC µs of the last WATCHDOG=1 */
    bool stop;
    bool reload_pending; /* a SIGHUP seen during a cycle */
};

/* ---- sd_notify, by hand ---- */

static int notify(const char *text)
{
    const char *path = getenv("NOTIFY_SOCKET"); /* NOLINT(concurrency-mt-unsafe): one thread */
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    posture_autoclose int fd = -1;
    size_t len;
    socklen_t salen;

    if (!path || !path[0])
        return 0;
    len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* an abstract socket */
    salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *) &sa, salen) < 0)
        return -errno;
    return 0;
}

static void notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notifyf(const char *fmt, ...)
{
    char buf[NOTIFY_MAX];
    va_list ap;
    int n, r;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    r = notify(buf);
    if (r < 0)
        log_debug("sd_notify: %s", strerror(-r));
}

/* ---- clocks and timers ---- */

static uint64_t boottime_now(void)
{
    struct posture_clocks c;

    posture_clocks_now(&c);
    return c.boottime_usec;
}

/* CLOCK_BOOTTIME µs → wall-clock seconds, for status.json. */
static int64_t wall_of(uint64_t boottime_usec)
{
    struct posture_clocks c;

    posture_clocks_now(&c);
    if (boottime_usec <= c.boottime_usec)
        return (int64_t) (c.realtime_usec / USEC_PER_SEC);
    return (int64_t) ((c.realtime_usec + (boottime_usec - c.boottime_usec)) / USEC_PER_SEC);
}

static uint64_t random_u64(void)
{
    uint64_t v = 0;

    if (getrandom(&v, sizeof(v), 0) != (ssize_t) sizeof(v))
        v = (uint64_t) time(NULL) * 6364136223846793005u; /* never fails in practice */
    return v;
}

static uint64_t next_wakeup(const struct daemon *d)
{
    uint64_t t = d->next_slot;
    uint64_t due = posture_coalesce_due(&d->coalesce);

    if (d->next_retry && d->next_retry < t)
        t = d->next_retry;
    if (due && due < t)
        t = due;
    return t;
}

static int arm_timer(struct daemon *d)
{
    uint64_t t = next_wakeup(d);
    struct itimerspec its = {
        .it_value = { .tv_sec = (time_t) (t / USEC_PER_SEC),
                      .tv_nsec = (long) (t % USEC_PER_SEC) * 1000 },
    };

    if (t == 0)
        its.it_value.tv_nsec = 1; /* 0 would disarm */
    if (timerfd_settime(d->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        return log_error_errno(-errno, "Failed to arm the timer: %m");
    return 0;
}

/* ---- the configuration ---- */

static struct setup *setup_free(struct setup *s)
{
    if (!s)
        return NULL;
    posture_spool_free(s->spool);
    posture_http_client_free(s->client);
    EVP_PKEY_free(s->pkey);
    if (s->state_fd >= 0)
        (void) close(s->state_fd);
    free(s->device_id);
    posture_cli_config_done(&s->cfg);
    free(s);
    return NULL;
}
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct setup *, setup_free)

/* Load path and everything it configures. Errors are logged. */
static int setup_load(const char *path, struct setup **ret)
{
    POSTURE_CLEANUP(setup_freep) struct setup *s = calloc(1, sizeof(*s));
    int r;

    if (!s)
        return log_error_errno(-ENOMEM, "Out of memory");
    s->state_fd = -1;
    r = posture_cli_config_load(path, &s->cfg);
    if (r < 0)
        return r;
    if (!s->cfg.agent.server_url)
        return log_error_errno(-EINVAL, "no verifier: set [server] url in the agent "
                                        "configuration");
    r = posture_state_dir_open(s->cfg.agent.state_dir, true, &s->state_fd);
    if (r < 0)
        return log_error_errno(r, "state directory %s: %m", s->cfg.agent.state_dir);
    r = posture_cli_key_open(&s->cfg, &s->pkey);
    if (r < 0)
        return r;
    r = posture_key_thumbprint(s->pkey, &s->device_id);
    if (r < 0)
        return log_error_errno(r, "Failed to compute the device id: %m");
    r = posture_cli_verifier_connect(&s->cfg, s->pkey, &s->client);
    if (r < 0)
        return r;
    struct posture_spool_limits limits = {
        .max_bytes = s->cfg.agent.spool_max_bytes,
        .max_age_usec = s->cfg.agent.spool_max_age_usec,
    };
    r = posture_spool_open(s->state_fd, &limits, &s->spool);
    if (r < 0)
        return log_error_errno(r, "Failed to open the spool in %s/" POSTURE_SPOOL_DIR ": %m",
                               s->cfg.agent.state_dir);
    *ret = POSTURE_TAKE_PTR(s);
    return 0;
}

static bool str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* What a reload changed, one line each. */
static void log_changes(const struct posture_agent_config *a, const struct posture_agent_config *b)
{
    unsigned n = 0;

#define CHANGED_STR(key, field)                                                                  \
    do {                                                                                         \
        if (str_differs(a->field, b->field)) {                                                   \
            log_info("Reload: %s changed from \"%s\" to \"%s\".", key, a->field ? a->field : "", \
                     b->field ? b->field : "");                                                  \
            n++;                                                                                 \
        }                                                                                        \
    } while (0)
#define CHANGED_NUM(key, field, unit, div)                                                      \
    do {                                                                                        \
        if (a->field != b->field) {                                                             \
            log_info("Reload: %s changed from %" PRIu64 "%s to %" PRIu64 "%s.", key,            \
                     (uint64_t) (a->field / (div)), unit, (uint64_t) (b->field / (div)), unit); \
            n++;                                                                                \
        }                                                                                       \
    } while (0)

    CHANGED_STR("[agent] state_dir", state_dir);
    CHANGED_STR("[server] url", server_url);
    CHANGED_STR("[server] ca", server_ca);
    CHANGED_NUM("[server] timeout", server_timeout_usec, " s", USEC_PER_SEC);
    CHANGED_STR("[tpm] tcti", tpm_tcti);
    CHANGED_STR("[tpm] event_log", tpm_event_log);
    if (a->tpm_mode != b->tpm_mode) {
        log_info("Reload: [tpm] enabled changed from %s to %s.",
                 posture_tpm_mode_to_string(a->tpm_mode), posture_tpm_mode_to_string(b->tpm_mode));
        n++;
    }
    CHANGED_NUM("[schedule] interval", schedule_interval_usec, " s", USEC_PER_SEC);
    CHANGED_NUM("[schedule] early_gap", schedule_early_gap_usec, " s", USEC_PER_SEC);
    CHANGED_NUM("[spool] max_bytes", spool_max_bytes, " bytes", 1);
    CHANGED_NUM("[spool] max_age", spool_max_age_usec, " s", USEC_PER_SEC);
    CHANGED_NUM("[checks] timeout", check_timeout_usec, " ms", 1000);
#undef CHANGED_STR
#undef CHANGED_NUM
    if (n == 0)
        log_info("Reload: no setting that postured uses changed.");
}

/* ---- the cycle's callbacks ---- */

static int make_report(
    void *userdata, const char *nonce, uint64_t dropped, char **ret_token, char **ret_payload)
{
    struct daemon *d = userdata;

    return posture_cli_report_build(&d->args, &d->s->cfg, d->s->pkey, nonce, dropped, ret_token,
                                    ret_payload);
}

static int make_evidence(void *userdata,
                         const uint8_t *nonce,
                         size_t nonce_len,
                         const char *payload,
                         size_t payload_len,
                         cJSON **ret)
{
    struct daemon *d = userdata;

    return posture_cli_evidence_build(&d->s->cfg, nonce, nonce_len, payload, payload_len, ret);
}

static uint64_t monotonic_now(void)
{
    struct posture_clocks c;

    posture_clocks_now(&c);
    return c.monotonic_usec;
}

static void watchdog_ping(struct daemon *d)
{
    d->last_ping = monotonic_now();
    notifyf("WATCHDOG=1");
}

/* Signals that arrive during a cycle: SIGTERM/SIGINT stop it before its next request, SIGHUP
 * is handled after it. */
static void read_signals(struct daemon *d, bool in_cycle)
{
    struct signalfd_siginfo si;

    while (read(d->signal_fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            d->reload_pending = true;
            continue;
        }
        if (!d->stop)
            log_info("%s: stopping%s.", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT",
                     in_cycle ? " (the current report stays spooled)" : "");
        d->stop = true;
    }
}

/* Before each request of a cycle: keep the watchdog fed through a long drain, notice a stop. */
static bool cycle_progress(void *userdata)
{
    struct daemon *d = userdata;

    if (d->watchdog_usec && monotonic_now() - d->last_ping >= d->watchdog_usec / 2)
        watchdog_ping(d);
    if (d->signal_fd >= 0)
        read_signals(d, true);
    return d->stop;
}

/* Point the cycle and the schedule at the current setup. */
static void apply_setup(struct daemon *d)
{
    uint64_t interval = d->s->cfg.agent.schedule_interval_usec;

    d->cycle = (struct posture_cycle){
        .client = d->s->client,
        .key = d->s->pkey,
        .url = d->s->cfg.agent.server_url,
        .spool = d->s->spool,
        .dropped = d->cycle.dropped,
        .unreported = d->cycle.unreported,
        .spool_dropped = d->cycle.spool_dropped,
        .ops = {
            .report = make_report,
            .evidence = posture_cli_evidence_wanted(&d->s->cfg) ? make_evidence : NULL,
            .progress = cycle_progress,
            .userdata = d,
        },
    };
    d->phase_usec = posture_schedule_phase(d->s->device_id, interval);
    d->coalesce.min_gap_usec = d->s->cfg.agent.schedule_early_gap_usec;
    /* a request in flight notices SIGTERM within a second, and feeds the watchdog */
    posture_http_client_set_cancel(d->s->client, cycle_progress, d);
}

/* The next regular slot after a cycle that ran now. A cycle that the jitter moved early ran
 * before its nominal slot: looking from now + jitter skips that slot, so two cycles are never
 * closer than interval − 2·jitter. */
static void schedule_slot(struct daemon *d)
{
    uint64_t interval = d->s->cfg.agent.schedule_interval_usec;
    uint64_t j = interval / 100 * POSTURE_SCHEDULE_JITTER_PCT;

    d->next_slot = posture_schedule_next(boottime_now() + j, interval, d->phase_usec, random_u64());
}

static int reload(struct daemon *d)
{
    struct setup *n = NULL;
    int r;

    notifyf("RELOADING=1\nSTATUS=Reloading the configuration");
    log_info("SIGHUP: reloading the configuration%s%s.", d->config_path ? " " : "",
             d->config_path ? d->config_path : "");
    r = setup_load(d->config_path, &n);
    if (r < 0) {
        log_error("The new configuration is not usable; keeping the previous one.");
        notifyf("READY=1\nSTATUS=Reload failed; running with the previous configuration");
        return 0;
    }
    log_changes(&d->s->cfg.agent, &n->cfg.agent);
    bool interval_changed =
        n->cfg.agent.schedule_interval_usec != d->s->cfg.agent.schedule_interval_usec;
    setup_free(d->s);
    d->s = n;
    apply_setup(d);
    if (interval_changed)
        schedule_slot(d);
    notifyf("READY=1\nSTATUS=Configuration reloaded");
    return 0;
}

/* ---- running cycles ---- */

static void write_status(struct daemon *d, const struct posture_cycle_result *res)
{
    struct posture_spool_stats stats = { 0 };
    uint64_t pending = 0;
    int r;

    (void) posture_daemon_status_update(&d->status, res, (int64_t) time(NULL));
    if (posture_spool_stats(d->s->spool, &stats) >= 0) {
        d->status.spool_entries = stats.entries;
        d->status.spool_bytes = stats.bytes;
    }
    (void) posture_spool_dropped(d->s->spool, &pending);
    d->status.dropped = d->cycle.dropped + d->cycle.spool_dropped + pending;
    d->status.next_cycle = wall_of(next_wakeup(d));
    r = posture_daemon_status_write(d->s->state_fd, &d->status);
    if (r < 0)
        (void) log_warning_errno(r, "Cannot write %s/" POSTURE_STATUS_NAME ": %m",
                                 d->s->cfg.agent.state_dir);
    if (stats.entries > 0)
        notifyf("STATUS=%s; %zu report(s) spooled",
                res->outcome == POSTURE_CYCLE_DELIVERED ? "Delivered" : "Verifier not reached",
                stats.entries);
    else if (res->outcome == POSTURE_CYCLE_DELIVERED && res->status)
        notifyf("STATUS=Verdict %s (report %" PRIu64 ")", res->status, res->seq);
}

static void store_ear(struct daemon *d, const char *ear)
{
    int r =
        posture_state_write_atomic(d->s->state_fd, POSTURE_EAR_NAME, ear, strlen(ear), 0600, true);
    if (r < 0)
        (void) log_warning_errno(r, "Cannot store %s/" POSTURE_EAR_NAME ": %m",
                                 d->s->cfg.agent.state_dir);
}

/* After a cycle or a drain: the next retry, or none. */
static void after(struct daemon *d, const struct posture_cycle_result *res)
{
    struct posture_spool_stats stats = { 0 };
    uint64_t now = boottime_now();

    if (res->outcome == POSTURE_CYCLE_DELIVERED && !res->drain_stopped) {
        d->failures = 0;
        d->next_retry = 0;
        /* More than one pass's worth spooled: the next pass soon, at a bounded rate. */
        if (posture_spool_stats(d->s->spool, &stats) >= 0 && stats.entries > 0)
            d->next_retry = now + DRAIN_PAUSE_USEC;
        else if (res->drained > 0) {
            /* The backlog went out newest first, so the verifier received an older report
             * last; a fresh cycle now makes the newest report its latest again. */
            log_info("Spooled reports delivered; a fresh report follows.");
            d->next_slot = now;
        }
    } else if (res->outcome == POSTURE_CYCLE_REFUSED) {
        d->failures = 0;
        d->next_retry = 0;
    } else {
        uint64_t ra =
            res->retry_after_sec >= 0 ? (uint64_t) res->retry_after_sec * USEC_PER_SEC : UINT64_MAX;
        uint64_t delay = posture_backoff_delay(d->failures, random_u64(), ra);
        if (d->failures < 64)
            d->failures++;
        d->next_retry = now + delay;
        log_notice("Next attempt in %" PRIu64 ".%03" PRIu64 " s%s.", delay / USEC_PER_SEC,
                   (delay % USEC_PER_SEC) / 1000,
                   res->retry_after_sec >= 0 ? " (the verifier's Retry-After)" : "");
    }
}

static void run_cycle(struct daemon *d, bool full, const char *why)
{
    POSTURE_CLEANUP(posture_cycle_result_done) struct posture_cycle_result res = { 0 };
    uint64_t now = boottime_now();
    bool offline = full && d->next_retry > now;
    int r;

    log_debug("%s (%s%s).", full ? "Cycle" : "Drain", why, offline ? ", backing off" : "");
    if (full && offline) {
        /* A slot during a backoff: the report is made and spooled; the verifier is not
         * contacted before the retry time (Retry-After is a promise). */
        d->cycle.offline = true;
        r = posture_cycle_run(&d->cycle, &res);
        d->cycle.offline = false;
        posture_coalesce_ran(&d->coalesce, now);
        schedule_slot(d);
        if (r >= 0 && res.outcome == POSTURE_CYCLE_RETRY && res.seq > 0) {
            log_info("Report %" PRIu64 " spooled; the verifier is contacted again in %" PRIu64
                     " s.",
                     res.seq, (d->next_retry - now + USEC_PER_SEC - 1) / USEC_PER_SEC);
            /* status.json keeps saying why the verifier was not reached. */
            (void) snprintf(res.error, sizeof(res.error), "%s", d->status.last_error);
        }
        write_status(d, &res);
        posture_http_client_idle(d->s->client);
        return;
    }
    if (full)
        r = posture_cycle_run(&d->cycle, &res);
    else
        r = posture_cycle_drain(&d->cycle, &res);
    if (r < 0) {
        (void) log_error_errno(r, "The cycle could not run: %m");
        res.outcome = POSTURE_CYCLE_FAILED;
    }
    posture_coalesce_ran(&d->coalesce, boottime_now());
    if (full && res.outcome == POSTURE_CYCLE_DELIVERED) {
        store_ear(d, res.ear);
        log_info("Report %" PRIu64 " delivered: %s.", res.seq, res.status);
    }
    if (res.drained)
        log_info("%u spooled report(s) delivered.", res.drained);
    if (full)
        schedule_slot(d);
    after(d, &res);
    write_status(d, &res);
    /* idle until the next cycle: libcurl and its libraries are unloaded meanwhile */
    posture_http_client_idle(d->s->client);
}

static void on_timer(struct daemon *d)
{
    uint64_t now = boottime_now(), due;

    due = posture_coalesce_due(&d->coalesce);
    if (now >= d->next_slot)
        run_cycle(d, true, "schedule");
    else if (due && now >= due)
        run_cycle(d, true, "event");
    else if (d->next_retry && now >= d->next_retry) {
        d->next_retry = 0;
        run_cycle(d, false, "retry");
    }
}

static void early_cycle(struct daemon *d, unsigned reasons)
{
    log_info("Early cycle requested:%s%s%s%s.", reasons & POSTURE_TRIGGER_NETWORK ? " network" : "",
             reasons & POSTURE_TRIGGER_BLOCK ? " block device" : "",
             reasons & POSTURE_TRIGGER_CLOCK_JUMP ? " clock set" : "",
             reasons & POSTURE_TRIGGER_RESUME ? " resume" : "");
    posture_coalesce_event(&d->coalesce, boottime_now());
}

static void on_triggers(struct daemon *d)
{
    unsigned reasons = 0;

    (void) posture_triggers_process(d->triggers, &reasons);
    if (reasons)
        early_cycle(d, reasons);
}

static void on_signal(struct daemon *d)
{
    read_signals(d, false);
    if (d->reload_pending && !d->stop) {
        d->reload_pending = false;
        (void) reload(d);
    }
}

/* ---- start-up ---- */

static int watchdog_setup(struct daemon *d)
{
    const char *usec = getenv("WATCHDOG_USEC"); /* NOLINT(concurrency-mt-unsafe) */
    const char *pid = getenv("WATCHDOG_PID");   /* NOLINT(concurrency-mt-unsafe) */
    uint64_t v = 0, p = 0;

    if (!usec || posture_parse_u64(usec, &v) < 0 || v == 0)
        return 0;
    if (pid && (posture_parse_u64(pid, &p) < 0 || p != (uint64_t) getpid()))
        return 0; /* meant for another process */
    d->watchdog_usec = v;
    d->watchdog_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (d->watchdog_fd < 0)
        return log_error_errno(-errno, "Failed to create the watchdog timer: %m");
    uint64_t half = v / 2;
    struct itimerspec its = {
        .it_value = { .tv_sec = (time_t) (half / USEC_PER_SEC),
                      .tv_nsec = (long) (half % USEC_PER_SEC) * 1000 },
        .it_interval = { .tv_sec = (time_t) (half / USEC_PER_SEC),
                         .tv_nsec = (long) (half % USEC_PER_SEC) * 1000 },
    };
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = its.it_interval.tv_nsec = 1000;
    if (timerfd_settime(d->watchdog_fd, 0, &its, NULL) < 0)
        return log_error_errno(-errno, "Failed to arm the watchdog timer: %m");
    return 0;
}

/* Take a timerfd's expiration count (its value does not matter). */
static void timerfd_ack(int fd)
{
    uint64_t x;
    ssize_t n = read(fd, &x, sizeof(x));

    (void) n; /* EAGAIN when another wake-up took it */
}

static int epoll_add(int epfd, int fd)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    return 0;
}

static void help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " PROGRAM " [--config FILE] [--once] [--only ID[,ID...]] [--root DIR]\n"
           "\n"
           "The posture agent daemon: runs the checks on a schedule and on change, signs the\n"
           "report, submits it to the verifier and keeps it in an offline spool until the\n"
           "verifier has it. Meant to run under systemd (postured.service).\n"
           "\n"
           "Options:\n"
           "  --config FILE    agent configuration (default " POSTURE_AGENT_CONFIG_PATH ")\n"
           "  --once           run one cycle (and deliver the spool) and exit: 0 delivered,\n"
           "                   1 not delivered (spooled), 2 configuration error\n"
           "  --only ID,...    run only these checks (tests, debugging)\n"
           "  --root DIR       read host state under DIR instead of / (tests)\n"
           "  -h, --help       show this help\n");
}

static int parse_args(int argc, char **argv, struct daemon *d)
{
    enum { ARG_ONCE = POSTURE_CLI_OPT__MAX };
    static const struct option options[] = {
        { "config", required_argument, NULL, POSTURE_CLI_OPT_CONFIG },
        { "once", no_argument, NULL, ARG_ONCE },
        { "only", required_argument, NULL, POSTURE_CLI_OPT_ONLY },
        { "root", required_argument, NULL, POSTURE_CLI_OPT_ROOT },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    int c, r;

    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before anything else */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        if (c == ARG_ONCE) {
            d->once = true;
            continue;
        }
        if (c == '?' || c == ':') {
            log_error("%s option '%s' (see '" PROGRAM " --help')",
                      c == ':' ? "an argument is missing after" : "unknown",
                      optind > 0 ? argv[optind - 1] : "?");
            return POSTURE_EXIT_USAGE;
        }
        r = posture_cli_common_option(PROGRAM, c, argv, help, &d->args);
        if (r != POSTURE_CLI_RUN)
            return r;
    }
    if (optind < argc) {
        log_error("unexpected argument '%s' (see '" PROGRAM " --help')", argv[optind]);
        return POSTURE_EXIT_USAGE;
    }
    d->config_path = d->args.config;
    return POSTURE_CLI_RUN;
}

static void daemon_done(struct daemon *d)
{
    posture_triggers_free(d->triggers);
    setup_free(d->s);
    posture_daemon_status_done(&d->status);
    posture_cli_common_args_done(&d->args);
    if (d->epoll_fd >= 0)
        (void) close(d->epoll_fd);
    if (d->signal_fd >= 0)
        (void) close(d->signal_fd);
    if (d->timer_fd >= 0)
        (void) close(d->timer_fd);
    if (d->watchdog_fd >= 0)
        (void) close(d->watchdog_fd);
}

/* ---- enrolment at first start (fleet roll-out) ---- */

#define ENROLL_POLL_USEC   (60 * USEC_PER_SEC) /* looking again for a token or a URL */
#define ENROLL_TOKEN_STATE "enroll.token"      /* where postured.service moves the token */

/* The token file and what it was when a verifier refused it, so that it is not sent again. */
struct enroll_wait {
    unsigned attempt; /* transient failures in a row */
    bool refused;
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    bool waiting_logged;
    bool ready_sent;
};

static bool same_file(const struct enroll_wait *w, const struct stat *st)
{
    return w->refused && w->dev == st->st_dev && w->ino == st->st_ino &&
           w->mtime.tv_sec == st->st_mtim.tv_sec && w->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* status.json while waiting: last_error says what is missing (posturectl status shows it). */
static void enroll_status(const struct posture_cli_config *cfg, const char *why)
{
    POSTURE_CLEANUP(posture_daemon_status_done) struct posture_daemon_status st = { 0 };
    posture_autoclose int fd = -1;

    if (posture_state_dir_open(cfg->agent.state_dir, true, &fd) < 0)
        return;
    (void) posture_daemon_status_read(fd, &st);
    st.last_attempt = (int64_t) time(NULL);
    (void) snprintf(st.last_error, sizeof(st.last_error), "not enrolled: %s", why);
    (void) posture_daemon_status_write(fd, &st);
}

/*
 * One look: 1 when the device is enrolled (now or before), 0 when something is missing (why
 * says what), -EAGAIN when the verifier could not be reached (try again after a backoff).
 */
static int
enroll_step(struct enroll_wait *w, const struct posture_cli_config *cfg, char *why, size_t why_len)
{
    posture_autofree char *cert = NULL, *state_token = NULL, *token = NULL;
    const char *url = cfg->agent.server_url, *path;
    struct stat st;
    int r;

    if (asprintf(&cert, "%s/device.crt", cfg->agent.state_dir) < 0 ||
        asprintf(&state_token, "%s/" ENROLL_TOKEN_STATE, cfg->agent.state_dir) < 0)
        return log_error_errno(-ENOMEM, "Out of memory");
    if (access(cert, F_OK) == 0)
        return 1;
    path = stat(state_token, &st) == 0 ? state_token : cfg->agent.server_enroll_token;
    if (path == cfg->agent.server_enroll_token && stat(path, &st) < 0) {
        (void) snprintf(why, why_len,
                        "no enrolment token (put the one 'posture-verifier token create' made "
                        "in %s)%s",
                        cfg->agent.server_enroll_token,
                        url ? "" : " and no verifier ([server] url)");
        return 0;
    }
    if (!url) {
        (void) snprintf(why, why_len,
                        "no verifier: set [server] url (a drop-in in "
                        "/etc/posture/agent.conf.d/)");
        return 0;
    }
    if (same_file(w, &st)) {
        (void) snprintf(why, why_len,
                        "the verifier refused the token in %s (see the log); put a new one there",
                        path);
        return 0;
    }
    r = posture_cli_enroll_token_read(path, &token);
    if (r < 0) {
        (void) snprintf(why, why_len, "cannot read the token in %s: %s", path, strerror(-r));
        return 0;
    }
    log_info("Enrolling with %s, using the token in %s.", url, path);
    r = posture_cli_enroll_device(cfg, url, cfg->agent.server_ca, false, token, false);
    OPENSSL_cleanse(token, strlen(token));
    if (r == -EAGAIN) {
        (void) snprintf(why, why_len, "the verifier %s could not be reached; trying again", url);
        return r;
    }
    if (r < 0) {
        w->refused = true;
        w->dev = st.st_dev;
        w->ino = st.st_ino;
        w->mtime = st.st_mtim;
        (void) snprintf(why, why_len, "enrolment with %s failed: %s (see the log)", url,
                        strerror(-r));
        return 0;
    }
    /* One-time: gone from where it came from, and from the state directory. */
    if (unlink(path) < 0 && errno != ENOENT)
        (void) log_notice_errno(-errno, "The token in %s is used; remove it (%m).", path);
    if (path != state_token)
        (void) unlink(state_token);
    return 1;
}

/* Wait up to usec for a signal, feeding the watchdog: 1 SIGHUP, 0 timeout, -1 stop. */
static int enroll_sleep(struct daemon *d, uint64_t usec, const sigset_t *mask)
{
    uint64_t until = monotonic_now() + usec;

    for (;;) {
        uint64_t now = monotonic_now(), slice;
        struct timespec ts;
        int sig;

        if (d->watchdog_usec && now - d->last_ping >= d->watchdog_usec / 2)
            watchdog_ping(d);
        if (now >= until)
            return 0;
        slice = until - now;
        if (d->watchdog_usec && slice > d->watchdog_usec / 2)
            slice = d->watchdog_usec / 2;
        ts.tv_sec = (time_t) (slice / USEC_PER_SEC);
        ts.tv_nsec = (long) (slice % USEC_PER_SEC) * 1000;
        sig = sigtimedwait(mask, NULL, &ts);
        if (sig == SIGHUP)
            return 1;
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("%s: stopping.", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return -1;
        }
    }
}

/*
 * Before the first cycle: the device is enrolled, or postured enrols it with the token a fleet
 * tool left ([server] enroll_token, or the copy postured.service moved into the state
 * directory) and deletes the token, or it waits quietly for what is missing, looking again every
 * minute and at SIGHUP. 1: enrolled; 0: stopped while waiting; -errno: a configuration that
 * does not load.
 */
static int await_enrolment(struct daemon *d, const sigset_t *mask)
{
    struct enroll_wait w = { 0 };

    for (;;) {
        POSTURE_CLEANUP(posture_cli_config_done) struct posture_cli_config cfg = { 0 };
        char why[POSTURE_CYCLE_ERROR_MAX - 32] = "";
        uint64_t wait;
        int r;

        r = posture_cli_config_load(d->config_path, &cfg);
        if (r < 0)
            return r;
        r = enroll_step(&w, &cfg, why, sizeof(why));
        if (r > 0) {
            if (w.waiting_logged || w.attempt > 0)
                log_info("Enrolled; starting.");
            return 1;
        }
        if (r == -EAGAIN) {
            wait = posture_backoff_delay(w.attempt++, random_u64(), 0);
        } else {
            wait = ENROLL_POLL_USEC;
            w.attempt = 0;
            if (!w.waiting_logged)
                log_notice("Not enrolled: %s. Waiting; looking again every minute and at "
                           "SIGHUP.",
                           why);
            w.waiting_logged = true;
        }
        enroll_status(&cfg, why);
        notifyf("%sSTATUS=Not enrolled: %s", w.ready_sent ? "" : "READY=1\n", why);
        w.ready_sent = true;
        if (enroll_sleep(d, wait, mask) < 0)
            return 0;
    }
}

static int run(struct daemon *d)
{
    sigset_t mask;
    int r;

    sigemptyset(&mask);
    if (!d->once) {
        /* signals are blocked from here on: sigtimedwait() while waiting for an enrolment,
         * the signalfd afterwards */
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
            return log_error_errno(-errno, "Failed to block signals: %m"), 2;
        if (watchdog_setup(d) < 0)
            return 2;
        r = await_enrolment(d, &mask);
        if (r <= 0)
            return r == 0 ? 0 : 2;
    }
    r = setup_load(d->config_path, &d->s);
    if (r < 0)
        return 2;
    apply_setup(d);
    (void) posture_daemon_status_read(d->s->state_fd, &d->status); /* keep last_success */

    if (d->once) {
        POSTURE_CLEANUP(posture_cycle_result_done) struct posture_cycle_result res = { 0 };
        r = posture_cycle_run(&d->cycle, &res);
        if (r < 0)
            return 2;
        if (res.outcome == POSTURE_CYCLE_DELIVERED) {
            store_ear(d, res.ear);
            log_info("Report %" PRIu64 " delivered: %s.", res.seq, res.status);
        }
        if (res.drained)
            log_info("%u spooled report(s) delivered.", res.drained);
        d->next_slot = boottime_now();
        write_status(d, &res);
        return res.outcome == POSTURE_CYCLE_DELIVERED ? 0 : 1;
    }

    d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    d->timer_fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (d->signal_fd < 0 || d->timer_fd < 0 || d->epoll_fd < 0)
        return log_error_errno(-errno, "Failed to set up the event loop: %m"), 2;
    r = posture_triggers_new(&d->triggers);
    if (r < 0)
        (void) log_warning_errno(r, "Event triggers are not available (%m); the schedule "
                                    "alone runs cycles");
    if (epoll_add(d->epoll_fd, d->signal_fd) < 0 || epoll_add(d->epoll_fd, d->timer_fd) < 0 ||
        (d->watchdog_fd >= 0 && epoll_add(d->epoll_fd, d->watchdog_fd) < 0) ||
        (d->triggers && epoll_add(d->epoll_fd, posture_triggers_fd(d->triggers)) < 0))
        return log_error_errno(-errno, "Failed to set up the event loop: %m"), 2;

    d->coalesce = (struct posture_coalesce){
        .settle_usec = TRIGGER_SETTLE_USEC,
        .min_gap_usec = d->s->cfg.agent.schedule_early_gap_usec,
    };
    d->next_slot = boottime_now(); /* an immediate cycle at start */
    log_info("Started: verifier %s, every %" PRIu64 " s (phase %" PRIu64 " s), device %s.",
             d->s->cfg.agent.server_url, d->s->cfg.agent.schedule_interval_usec / USEC_PER_SEC,
             d->phase_usec / USEC_PER_SEC, d->s->device_id);
    notifyf("READY=1\nSTATUS=Running the first cycle");

    while (!d->stop) {
        struct epoll_event ev[4];
        int n;

        if (arm_timer(d) < 0)
            return 2;
        n = epoll_wait(d->epoll_fd, ev, 4, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return log_error_errno(-errno, "epoll_wait: %m"), 2;
        }
        /* The clocks at every wake-up (the watchdog's at least): a resume or a wall-clock jump
         * the timer's cancellation did not show (or not yet) still gives one early cycle. */
        if (d->triggers) {
            struct posture_clocks c;
            unsigned reasons;

            posture_clocks_now(&c);
            reasons = posture_triggers_check_resume(d->triggers, &c);
            if (reasons)
                early_cycle(d, reasons);
        }
        for (int i = 0; i < n && !d->stop; i++) {
            int fd = ev[i].data.fd;
            if (fd == d->signal_fd)
                on_signal(d);
            else if (fd == d->timer_fd)
                timerfd_ack(d->timer_fd);
            else if (fd == d->watchdog_fd) {
                timerfd_ack(d->watchdog_fd);
                watchdog_ping(d);
            } else if (d->triggers && fd == posture_triggers_fd(d->triggers))
                on_triggers(d);
        }
        /* The timer last: a signal that arrived together with it wins. */
        if (!d->stop && boottime_now() >= next_wakeup(d))
            on_timer(d);
        if (d->reload_pending && !d->stop) {
            d->reload_pending = false;
            (void) reload(d);
        }
    }
    notifyf("STOPPING=1\nSTATUS=Stopping");
    log_info("Stopped.");
    return 0;
}

int main(int argc, char **argv)
{
    struct daemon d = { .epoll_fd = -1, .signal_fd = -1, .timer_fd = -1, .watchdog_fd = -1 };
    int r;

    (void) setlocale(LC_CTYPE, ""); /* NOLINT(concurrency-mt-unsafe): no thread exists */
    posture_log_set_program(PROGRAM);
    posture_log_setup_from_env();
    /* The TSS logs TPM errors to stderr by itself; ours say what failed. */
    (void) setenv("TSS2_LOG", "all+none", 0); /* NOLINT(concurrency-mt-unsafe) */

    r = parse_args(argc, argv, &d);
    if (r != POSTURE_CLI_RUN) {
        daemon_done(&d);
        return r;
    }
    r = run(&d);
    daemon_done(&d);
    return r;
}
