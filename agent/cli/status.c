/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posturectl status and posturectl token (DESIGN.md §4; docs/cli.md): what the verifier last
 * said about this device, read from the state directory only (no network, no root beyond
 * reading that directory):
 *  - device.crt / enrollment.json: whether and where the device is enrolled;
 *  - ear.jwt: the latest EAR (its claims are shown, not verified: the verifier signed them and
 *    gateways verify them), the verdict of each submodule, its expiry, the failing checks with
 *    their reason and remediation, the verifier's findings;
 *  - status.json (written by postured after every cycle, agent/daemon/cycle.h): the last
 *    attempt and success, the last error, the next cycle, the spool's depth and drops.
 * `token` prints the EAR for API clients.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "posture/b64url.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/log.h"
#include "posture/statefile.h"

#include "cli.h"
#include "cycle.h"

#define DEVICE_CERT_NAME   "device.crt"
#define EAR_FILE_MAX       ((size_t) 64 * 1024)
#define ENROLLMENT_MAX     ((size_t) 16 * 1024)
#define EAR_CHECKS_EXT     "tag:posture.dev,2026:checks"
#define EAR_POLICY_EXT     "tag:posture.dev,2026:policy"
#define EAR_FINDINGS_EXT   "tag:posture.dev,2026:findings"
#define EAR_DETAIL_EXT     "tag:posture.dev,2026:detail"
#define STATUS_JSON_SCHEMA 1

/* ---- Reading the state directory ---- */

struct state {
    const char *dir;
    int dir_fd;
    bool dir_missing;
    bool enrolled;
    cJSON *enrollment; /* enrollment.json, or NULL */
    char *ear;         /* ear.jwt without trailing whitespace, or NULL */
    cJSON *claims;     /* the EAR's claims, or NULL */
    bool have_daemon;
    struct posture_daemon_status daemon;
    int64_t now;
};

static void state_done(struct state *s)
{
    if (s->dir_fd >= 0)
        (void) close(s->dir_fd);
    s->dir_fd = -1;
    cJSON_Delete(s->enrollment);
    cJSON_Delete(s->claims);
    free(s->ear);
    posture_daemon_status_done(&s->daemon);
}

/* The error for a state directory (or a file in it) we may not read. Returns r. */
static int unreadable(const char *dir, const char *name, int r)
{
    if (r == -EACCES || r == -EPERM)
        return log_error_errno(r,
                               "cannot read %s%s%s: %m; the state directory is readable by root "
                               "only: run this command as root (sudo)",
                               dir, name ? "/" : "", name ? name : "");
    return log_error_errno(r, "cannot read %s%s%s: %m", dir, name ? "/" : "", name ? name : "");
}

/* Read dir_fd/name (at most max bytes) into *ret; -ENOENT when missing. */
static int
read_state_file(struct state *s, const char *name, size_t max, char **ret, size_t *ret_len)
{
    posture_autoclose int fd = -1;

    fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    return posture_read_fd(fd, max, ret, ret_len);
}

/* The claims of a compact JWS (not verified: display only). -EBADMSG. */
static int jwt_claims(const char *token, cJSON **ret)
{
    posture_autofree uint8_t *payload = NULL;
    const char *dot1 = strchr(token, '.'), *dot2;
    size_t len = 0;
    cJSON *o = NULL;

    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.') || dot1 == token)
        return -EBADMSG;
    for (const char *p = token; *p; p++)
        if (!(*p == '.' || *p == '-' || *p == '_' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return -EBADMSG;
    if (posture_b64url_decode(dot1 + 1, (size_t) (dot2 - dot1 - 1), EAR_FILE_MAX, &payload, &len) <
        0)
        return -EBADMSG;
    if (posture_json_parse((const char *) payload, len, len, 16, &o) < 0)
        return -EBADMSG;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return -EBADMSG;
    }
    *ret = o;
    return 0;
}

/* Read ear.jwt into s (missing: s->ear stays NULL). Errors are logged. */
static int load_ear(struct state *s)
{
    posture_autofree char *buf = NULL;
    size_t len = 0;
    int r;

    r = read_state_file(s, POSTURE_EAR_NAME, EAR_FILE_MAX, &buf, &len);
    if (r == -ENOENT)
        return 0;
    if (r == -E2BIG || r == -EFBIG)
        return log_error_errno(-EBADMSG,
                               "%s/" POSTURE_EAR_NAME " is larger than 64 KiB: not an "
                               "EAR; run '" POSTURE_CLI_PROGRAM " submit' to replace it",
                               s->dir);
    if (r < 0)
        return unreadable(s->dir, POSTURE_EAR_NAME, r);
    if (!buf)
        return log_error_errno(-EIO, "cannot read %s/" POSTURE_EAR_NAME ": %m", s->dir);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    if (memchr(buf, '\0', len) || jwt_claims(buf, &s->claims) < 0)
        return log_error_errno(-EBADMSG,
                               "%s/" POSTURE_EAR_NAME " is not an EAR (a JWT with JSON claims); "
                               "run '" POSTURE_CLI_PROGRAM " submit' to replace it",
                               s->dir);
    s->ear = POSTURE_TAKE_PTR(buf);
    return 0;
}

/* Open the state directory and read what is there. Errors are logged. */
static int state_load(struct state *s, const char *dir, bool want_daemon)
{
    posture_autofree char *buf = NULL;
    size_t len = 0;
    int r;

    s->dir = dir;
    s->now = (int64_t) time(NULL);
    r = posture_state_dir_open(dir, false, &s->dir_fd);
    if (r == -ENOENT) {
        s->dir_missing = true;
        return 0;
    }
    if (r < 0)
        return unreadable(dir, NULL, r);

    s->enrolled = faccessat(s->dir_fd, DEVICE_CERT_NAME, F_OK, 0) == 0;
    r = read_state_file(s, POSTURE_CLI_ENROLLMENT_NAME, ENROLLMENT_MAX, &buf, &len);
    if (r >= 0 && (posture_json_parse(buf, len, len, 4, &s->enrollment) < 0 ||
                   !cJSON_IsObject(s->enrollment))) {
        cJSON_Delete(s->enrollment);
        s->enrollment = NULL; /* informative only: shown when it can be read */
    }

    r = load_ear(s);
    if (r < 0)
        return r;

    if (!want_daemon)
        return 0;
    r = posture_daemon_status_read(s->dir_fd, &s->daemon);
    if (r == -ENOENT)
        return 0;
    if (r == -EBADMSG || r == -E2BIG || r == -EFBIG)
        return log_error_errno(-EBADMSG,
                               "%s/" POSTURE_STATUS_NAME " is malformed (not the status document "
                               "postured writes: a JSON object with \"version\": 1); postured "
                               "replaces it after its next cycle",
                               dir);
    if (r < 0)
        return unreadable(dir, POSTURE_STATUS_NAME, r);
    s->have_daemon = true;
    return 0;
}

/* ---- What the EAR says ---- */

static const cJSON *ear_device(const struct state *s)
{
    const cJSON *submods = cJSON_GetObjectItemCaseSensitive(s->claims, "submods");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(submods, "device");

    if (cJSON_IsObject(dev))
        return dev;
    /* Another verifier's naming: the first submodule. */
    return cJSON_IsObject(submods) && cJSON_IsObject(submods->child) ? submods->child : NULL;
}

static const char *ear_status(const struct state *s)
{
    return posture_json_get_str(ear_device(s), "ear.status");
}

static int64_t claim_int(const cJSON *o, const char *key)
{
    int64_t v = 0;
    return posture_json_get_int(o, key, &v) < 0 ? 0 : v;
}

static bool check_passing(const char *status)
{
    return status && (strcmp(status, "pass") == 0 || strcmp(status, "not_applicable") == 0);
}

/* The daemon's summary of the same verdict, when it is about the same result. */
static const cJSON *summary(const struct state *s)
{
    const cJSON *v = s->have_daemon ? s->daemon.verdict : NULL;
    const char *st = posture_json_get_str(v, "status"), *es = ear_status(s);

    if (!v || (es && st && strcmp(es, st) != 0))
        return NULL;
    return v;
}

/* ---- Text ---- */

/* Text from files, without control characters (a terminal must not interpret them). */
static void put_text(const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; p && *p; p++)
        (void) putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
}

/* before, text (sanitised), after. */
static void say(const char *before, const char *text, const char *after)
{
    (void) fputs(before, stdout);
    put_text(text);
    (void) fputs(after, stdout);
}

static void put_when(int64_t t, int64_t now)
{
    time_t tt = (time_t) t;
    struct tm tm;
    char when[64];
    int64_t d = t - now, a = d < 0 ? -d : d;

    if (!gmtime_r(&tt, &tm) || strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        (void) snprintf(when, sizeof(when), "%lld", (long long) t);
    (void) printf("%s (", when);
    if (a == 0)
        (void) printf("now");
    else if (a < 60)
        (void) printf("%s%lld s%s", d < 0 ? "" : "in ", (long long) a, d < 0 ? " ago" : "");
    else if (a < (int64_t) 120 * 60)
        (void) printf("%s%lld min%s", d < 0 ? "" : "in ", (long long) (a / 60),
                      d < 0 ? " ago" : "");
    else if (a < (int64_t) 48 * 3600)
        (void) printf("%s%lld h%s", d < 0 ? "" : "in ", (long long) (a / 3600),
                      d < 0 ? " ago" : "");
    else
        (void) printf("%s%lld days%s", d < 0 ? "" : "in ", (long long) (a / 86400),
                      d < 0 ? " ago" : "");
    (void) printf(")");
}

static void print_not_enrolled(const struct posture_cli_config *cfg)
{
    (void) printf("Enrolment: not enrolled (no %s/" DEVICE_CERT_NAME ")\n", cfg->agent.state_dir);
    (void) printf("  Enrol with: " POSTURE_CLI_PROGRAM " enroll --server %s --token TOKEN\n",
                  cfg->agent.server_url ? cfg->agent.server_url : "URL");
    (void) printf("  For a fleet rollout: put the token in %s (%s) and set [server] url (%s);\n"
                  "  postured then enrols by itself (at start, every minute, and at SIGHUP)\n",
                  cfg->agent.server_enroll_token,
                  access(cfg->agent.server_enroll_token, F_OK) == 0 ? "present" : "missing",
                  cfg->agent.server_url ? "set" : "not set yet");
}

static void print_text(const struct state *s, const struct posture_cli_config *cfg)
{
    const cJSON *dev = ear_device(s), *sum = summary(s), *it;
    const char *status = ear_status(s);
    int64_t exp = claim_int(s->claims, "exp");
    bool header = false;

    if (!s->enrolled)
        print_not_enrolled(cfg);
    else {
        const char *server = posture_json_get_str(s->enrollment, "server");
        const char *tier = posture_json_get_str(s->enrollment, "tier");
        const char *id = posture_json_get_str(s->enrollment, "device_id");
        (void) printf("Enrolment: enrolled");
        if (server)
            say(" with ", server, "");
        if (tier)
            say(" (", tier, " tier)");
        (void) printf("\n");
        if (id)
            say("  Device: ", id, "\n");
    }

    if (!s->claims && !(s->have_daemon && s->daemon.verdict)) {
        (void) printf(
            "Verdict: none yet (no result from the verifier in %s/" POSTURE_EAR_NAME ")%s\n",
            cfg->agent.state_dir, s->enrolled ? "; run '" POSTURE_CLI_PROGRAM " submit'" : "");
    } else {
        const cJSON *submods = cJSON_GetObjectItemCaseSensitive(s->claims, "submods");
        const cJSON *pol = cJSON_GetObjectItemCaseSensitive(dev, EAR_POLICY_EXT);
        const char *pid = posture_json_get_str(pol, "id"),
                   *pver = posture_json_get_str(pol, "version");
        const char *spol = posture_json_get_str(sum ? sum : s->daemon.verdict, "policy");
        bool allow;

        if (!status)
            status = posture_json_get_str(s->daemon.verdict, "status");
        (void) printf("Verdict: ");
        put_text(status ? status : "unknown");
        if (pid) {
            say(" (policy ", pid, "");
            if (pver)
                say("@", pver, "");
            (void) printf(")");
        } else if (spol)
            say(" (policy ", spol, ")");
        if (sum && posture_json_get_bool(sum, "allow", &allow) >= 0)
            (void) printf(", access %s", allow ? "allowed" : "denied");
        (void) printf("\n");
        /* More than one submodule: each one's status. */
        if (cJSON_IsObject(submods) && cJSON_GetArraySize(submods) > 1)
            cJSON_ArrayForEach(it, submods)
            {
                const char *st = posture_json_get_str(it, "ear.status");
                say("  ", it->string, ": ");
                say("", st ? st : "unknown", "\n");
            }
        if (exp > 0) {
            if (exp <= s->now) {
                (void) printf("Expired: ");
                put_when(exp, s->now);
                (void) printf(": gateways no longer accept it; run '" POSTURE_CLI_PROGRAM
                              " submit', or check that postured runs\n");
            } else {
                (void) printf("Valid until: ");
                put_when(exp, s->now);
                (void) printf("\n");
            }
        }
    }

    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(dev, EAR_CHECKS_EXT))
    {
        const char *st = posture_json_get_str(it, "status");
        const char *why = posture_json_get_str(it, "reason");
        const char *fix = posture_json_get_str(it, "remediation");

        if (!it->string || check_passing(st))
            continue;
        if (!header)
            (void) printf("Checks to fix:\n");
        header = true;
        say("  ", it->string, ": ");
        put_text(st ? st : "?");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "in_grace")))
            (void) printf(" (in grace period)");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "report_only")))
            (void) printf(" (report only)");
        (void) printf("\n");
        if (why && why[0])
            say("    why: ", why, "\n");
        if (fix && fix[0])
            say("    fix: ", fix, "\n");
    }
    if (!header && sum) {
        const char *rem = posture_json_get_str(sum, "remediation");
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(sum, "failed_checks"))
        {
            if (!cJSON_IsString(it))
                continue;
            if (!header)
                (void) printf("Checks to fix:\n");
            header = true;
            say("  ", it->valuestring, "\n");
        }
        if (header && rem && rem[0])
            say("  fix: ", rem, "\n");
    }
    header = false;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(dev, EAR_FINDINGS_EXT))
    {
        if (!it->string || !cJSON_IsString(it))
            continue;
        if (!header)
            (void) printf("Findings:\n");
        header = true;
        say("  ", it->string, "");
        if (it->valuestring[0])
            say(": ", it->valuestring, "");
        (void) printf("\n");
    }

    if (!s->have_daemon) {
        (void) printf("Daemon: no %s/" POSTURE_STATUS_NAME " (postured has not run a cycle)\n",
                      cfg->agent.state_dir);
        return;
    }
    (void) printf("Last successful submission: ");
    if (s->daemon.last_success > 0)
        put_when(s->daemon.last_success, s->now);
    else
        (void) printf("never");
    (void) printf("\n");
    if (s->daemon.last_attempt > 0 && s->daemon.last_attempt != s->daemon.last_success) {
        (void) printf("Last attempt: ");
        put_when(s->daemon.last_attempt, s->now);
        (void) printf("\n");
    }
    if (s->daemon.last_error[0])
        say("Last error: ", s->daemon.last_error, "\n");
    if (s->daemon.next_cycle > 0) {
        (void) printf("Next cycle: ");
        put_when(s->daemon.next_cycle, s->now);
        (void) printf("\n");
    }
    (void) printf(
        "Spool: %llu report%s waiting (%llu bytes), %llu dropped\n",
        (unsigned long long) s->daemon.spool_entries, s->daemon.spool_entries == 1 ? "" : "s",
        (unsigned long long) s->daemon.spool_bytes, (unsigned long long) s->daemon.dropped);
}

/* ---- JSON (docs/cli.md "posturectl status --json") ---- */

static int add_str_or_null(cJSON *o, const char *key, const char *v)
{
    return v ? posture_json_add_str(o, key, v) : posture_json_add_null(o, key);
}

/* Integers in the document are below 2^52 (times, counts); larger ones are clamped. */
static int add_count(cJSON *o, const char *key, uint64_t v)
{
    return posture_json_add_int(o, key, v > ((uint64_t) 1 << 52) ? (int64_t) 1 << 52 : (int64_t) v);
}

static int json_problem(cJSON *problems, const char *code, const char *message)
{
    cJSON *p = cJSON_CreateObject();
    int r;

    if (!p)
        return -ENOMEM;
    r = posture_json_append(problems, p);
    if (r >= 0)
        r = posture_json_add_str(p, "code", code);
    if (r >= 0)
        r = posture_json_add_str(p, "message", message);
    return r;
}

static int json_verdict(const struct state *s, cJSON *root)
{
    const cJSON *dev = ear_device(s), *sum = summary(s), *it;
    const cJSON *submods = cJSON_GetObjectItemCaseSensitive(s->claims, "submods");
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(dev, EAR_POLICY_EXT);
    const cJSON *detail = cJSON_GetObjectItemCaseSensitive(dev, EAR_DETAIL_EXT);
    const char *status = ear_status(s), *pid = posture_json_get_str(pol, "id");
    const char *pver = posture_json_get_str(pol, "version");
    int64_t exp = claim_int(s->claims, "exp"), iat = claim_int(s->claims, "iat");
    cJSON *v, *o, *arr;
    char policy[512];
    bool allow;
    int r;

    if (!s->claims && !(s->have_daemon && s->daemon.verdict))
        return posture_json_add_null(root, "verdict");
    v = cJSON_CreateObject();
    r = posture_json_add_item(root, "verdict", v);
    if (r < 0)
        return r;
    if (!status)
        status = posture_json_get_str(s->daemon.verdict, "status");
    if (!sum && !s->claims)
        sum = s->daemon.verdict;
    r = add_str_or_null(v, "status", status);
    if (r >= 0)
        r = posture_json_add_bool(v, "from_ear", s->claims != NULL);
    if (r >= 0 && pid) {
        (void) snprintf(policy, sizeof(policy), "%s%s%s", pid, pver ? "@" : "", pver ? pver : "");
        r = posture_json_add_str(v, "policy", policy);
    } else if (r >= 0)
        r = add_str_or_null(v, "policy", posture_json_get_str(sum, "policy"));
    if (r >= 0)
        r = sum && posture_json_get_bool(sum, "allow", &allow) >= 0
                ? posture_json_add_bool(v, "allow", allow)
                : posture_json_add_null(v, "allow");
    if (r < 0)
        return r;

    r = posture_json_add_item(v, "submods", o = cJSON_CreateObject());
    cJSON_ArrayForEach(it, submods)
    {
        if (r < 0)
            return r;
        if (it->string)
            r = add_str_or_null(o, it->string, posture_json_get_str(it, "ear.status"));
    }
    if (r >= 0)
        r = iat > 0 ? posture_json_add_int(v, "issued_at", iat)
                    : posture_json_add_null(v, "issued_at");
    if (r >= 0)
        r = exp > 0 ? posture_json_add_int(v, "expires_at", exp)
                    : posture_json_add_null(v, "expires_at");
    if (r >= 0)
        r = exp > 0 ? posture_json_add_int(v, "expires_in", exp - s->now)
                    : posture_json_add_null(v, "expires_in");
    if (r >= 0)
        r = posture_json_add_bool(v, "expired", exp > 0 && exp <= s->now);
    if (r >= 0)
        r = posture_json_add_bool(
            v, "truncated", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(detail, "truncated")));
    if (r < 0)
        return r;

    r = posture_json_add_item(v, "failing_checks", arr = cJSON_CreateArray());
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(dev, EAR_CHECKS_EXT))
    {
        const char *st = posture_json_get_str(it, "status");
        if (r < 0)
            return r;
        if (!it->string || check_passing(st))
            continue;
        r = posture_json_append(arr, o = cJSON_CreateObject());
        if (r >= 0)
            r = posture_json_add_str(o, "id", it->string);
        if (r >= 0)
            r = add_str_or_null(o, "status", st);
        if (r >= 0)
            r = add_str_or_null(o, "reason", posture_json_get_str(it, "reason"));
        if (r >= 0)
            r = add_str_or_null(o, "remediation", posture_json_get_str(it, "remediation"));
    }
    /* No check detail in the EAR: the summary's ids. */
    if (r >= 0 && cJSON_GetArraySize(arr) == 0 && sum)
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(sum, "failed_checks"))
        {
            if (r < 0)
                return r;
            if (!cJSON_IsString(it))
                continue;
            r = posture_json_append(arr, o = cJSON_CreateObject());
            if (r >= 0)
                r = posture_json_add_str(o, "id", it->valuestring);
            if (r >= 0)
                r = posture_json_add_null(o, "status");
            if (r >= 0)
                r = posture_json_add_null(o, "reason");
            if (r >= 0)
                r = add_str_or_null(o, "remediation", posture_json_get_str(sum, "remediation"));
        }
    if (r < 0)
        return r;

    r = posture_json_add_item(v, "findings", o = cJSON_CreateObject());
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(dev, EAR_FINDINGS_EXT))
    {
        if (r < 0)
            return r;
        if (it->string && cJSON_IsString(it))
            r = posture_json_add_str(o, it->string, it->valuestring);
    }
    return r;
}

static int print_json(const struct state *s, const struct posture_cli_config *cfg)
{
    posture_auto_cjson cJSON *root = cJSON_CreateObject();
    posture_autofree char *text = NULL;
    cJSON *o, *problems;
    int64_t exp = claim_int(s->claims, "exp");
    int r;

    if (!root)
        return -ENOMEM;
    r = posture_json_add_int(root, "version", STATUS_JSON_SCHEMA);
    if (r >= 0)
        r = posture_json_add_str(root, "state_dir", cfg->agent.state_dir);
    if (r >= 0)
        r = posture_json_add_bool(root, "enrolled", s->enrolled);
    if (r >= 0 && s->enrollment) {
        r = posture_json_add_item(root, "enrollment", o = cJSON_CreateObject());
        if (r >= 0)
            r = add_str_or_null(o, "server", posture_json_get_str(s->enrollment, "server"));
        if (r >= 0)
            r = add_str_or_null(o, "device_id", posture_json_get_str(s->enrollment, "device_id"));
        if (r >= 0)
            r = add_str_or_null(o, "tier", posture_json_get_str(s->enrollment, "tier"));
    } else if (r >= 0)
        r = posture_json_add_null(root, "enrollment");
    if (r >= 0)
        r = json_verdict(s, root);
    if (r >= 0 && s->have_daemon) {
        r = posture_json_add_item(root, "daemon", o = cJSON_CreateObject());
        if (r >= 0)
            r = posture_json_add_int(o, "last_attempt", s->daemon.last_attempt);
        if (r >= 0)
            r = posture_json_add_int(o, "last_success", s->daemon.last_success);
        if (r >= 0)
            r = posture_json_add_str(o, "last_error", s->daemon.last_error);
        if (r >= 0)
            r = posture_json_add_int(o, "next_cycle", s->daemon.next_cycle);
        if (r >= 0)
            r = add_count(o, "seq", s->daemon.seq);
        if (r >= 0)
            r = posture_json_add_item(root, "spool", o = cJSON_CreateObject());
        if (r >= 0)
            r = add_count(o, "entries", s->daemon.spool_entries);
        if (r >= 0)
            r = add_count(o, "bytes", s->daemon.spool_bytes);
        if (r >= 0)
            r = add_count(o, "dropped", s->daemon.dropped);
    } else if (r >= 0) {
        r = posture_json_add_null(root, "daemon");
        if (r >= 0)
            r = posture_json_add_null(root, "spool");
    }

    if (r >= 0)
        r = posture_json_add_item(root, "problems", problems = cJSON_CreateArray());
    if (r >= 0 && !s->enrolled) {
        posture_autofree char *hint = NULL;
        r = asprintf(&hint,
                     "not enrolled: run '" POSTURE_CLI_PROGRAM
                     " enroll --server URL --token TOKEN', or for a fleet rollout put the token "
                     "in %s and set [server] url",
                     cfg->agent.server_enroll_token) < 0
                ? -ENOMEM
                : json_problem(problems, "not-enrolled", hint);
    }
    if (r >= 0 && s->enrolled && !s->claims)
        r = json_problem(problems, "no-result",
                         "no result from the verifier yet: run '" POSTURE_CLI_PROGRAM " submit'");
    if (r >= 0 && exp > 0 && exp <= s->now)
        r = json_problem(problems, "expired",
                         "the result expired: run '" POSTURE_CLI_PROGRAM
                         " submit', or check that postured runs");
    if (r >= 0 && s->have_daemon && s->daemon.last_error[0])
        r = json_problem(problems, "last-error", s->daemon.last_error);
    if (r >= 0)
        r = posture_json_print(root, true, &text);
    if (r < 0 || !text)
        return log_error_errno(r < 0 ? r : -ENOMEM, "Failed to build the status: %m");
    (void) fputs(text, stdout);
    if (!text[0] || text[strlen(text) - 1] != '\n')
        (void) putchar('\n');
    return 0;
}

/* 0 when the current result is affirming, 1 for anything else (not enrolled, no result,
 * expired, not affirming). */
static int status_exit(const struct state *s)
{
    const char *status = ear_status(s);
    int64_t exp = claim_int(s->claims, "exp");

    if (!s->enrolled || !s->claims || !status || strcmp(status, "affirming") != 0)
        return POSTURE_EXIT_FAILED;
    if (exp > 0 && exp <= s->now)
        return POSTURE_EXIT_FAILED;
    return POSTURE_EXIT_OK;
}

/* ---- The commands ---- */

static void status_help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_CLI_PROGRAM " status [--json] [--config FILE]\n"
           "\n"
           "Show what the verifier last said about this device, from the state directory\n"
           "([agent] state_dir; no network): the verdict and when it expires, every check\n"
           "to fix with its reason and remediation, the verifier's findings, the last\n"
           "successful submission, the last error, the next cycle and the offline spool\n"
           "(postured's " POSTURE_STATUS_NAME "). When the device is not enrolled, says how to\n"
           "enrol it.\n"
           "\n"
           "Options:\n"
           "  --json           print a JSON document (schema in docs/cli.md)\n"
           "  --config FILE    agent configuration (default " POSTURE_AGENT_CONFIG_PATH ")\n"
           "  -h, --help       show this help\n"
           "\n"
           "Exit status: 0 the current verdict is affirming, 1 it is not, or expired, or\n"
           "there is none (not enrolled, nothing submitted), 2 the state cannot be read\n"
           "(permissions, a malformed file) or usage error.\n");
}

int posture_cli_status(int argc, char **argv)
{
    POSTURE_CLEANUP(posture_cli_common_args_done) struct posture_cli_common_args args = { 0 };
    POSTURE_CLEANUP(posture_cli_config_done) struct posture_cli_config cfg = { 0 };
    POSTURE_CLEANUP(state_done) struct state s = { .dir_fd = -1 };
    int r;

    r = posture_cli_parse_common("status", argc, argv, POSTURE_CLI_TAKES_JSON, status_help, &args);
    if (r != POSTURE_CLI_RUN)
        return r;
    r = posture_cli_config_load(args.config, &cfg);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    r = state_load(&s, cfg.agent.state_dir, true);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    if (args.json)
        r = print_json(&s, &cfg);
    else
        print_text(&s, &cfg);
    return r < 0 ? POSTURE_EXIT_USAGE : status_exit(&s);
}

static void token_help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_CLI_PROGRAM " token [--allow-expired] [--config FILE]\n"
           "\n"
           "Print the current EAR (the verifier's signed result, a JWT) for API clients,\n"
           "from " POSTURE_EAR_NAME " in the state directory ([agent] state_dir; no network).\n"
           "\n"
           "Options:\n"
           "  --allow-expired  print it even when it has expired\n"
           "  --config FILE    agent configuration (default " POSTURE_AGENT_CONFIG_PATH ")\n"
           "  -h, --help       show this help\n"
           "\n"
           "Exit status: 0 printed, 1 there is no EAR or it expired (nothing printed), 2 the\n"
           "state cannot be read or usage error.\n");
}

int posture_cli_token(int argc, char **argv)
{
    enum { ARG_ALLOW_EXPIRED = POSTURE_CLI_OPT__MAX };
    static const struct option options[] = {
        { "allow-expired", no_argument, NULL, ARG_ALLOW_EXPIRED },
        { "config", required_argument, NULL, POSTURE_CLI_OPT_CONFIG },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    POSTURE_CLEANUP(posture_cli_common_args_done) struct posture_cli_common_args common = { 0 };
    POSTURE_CLEANUP(posture_cli_config_done) struct posture_cli_config cfg = { 0 };
    POSTURE_CLEANUP(state_done) struct state s = { .dir_fd = -1 };
    bool allow_expired = false;
    int64_t exp;
    int c, r;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        if (c == ARG_ALLOW_EXPIRED) {
            allow_expired = true;
            continue;
        }
        r = posture_cli_common_option("token", c, argv, token_help, &common);
        if (r != POSTURE_CLI_RUN)
            return r;
    }
    if (optind < argc)
        return posture_cli_extra_argument("token", argv[optind]);

    r = posture_cli_config_load(common.config, &cfg);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    r = state_load(&s, cfg.agent.state_dir, false);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    if (!s.ear) {
        log_error("no EAR in %s/" POSTURE_EAR_NAME ": %s", cfg.agent.state_dir,
                  s.enrolled ? "this device has no result from the verifier yet; run "
                               "'" POSTURE_CLI_PROGRAM " submit'"
                             : "this device is not enrolled; run '" POSTURE_CLI_PROGRAM
                               " enroll --server URL --token TOKEN' first");
        return POSTURE_EXIT_FAILED;
    }
    exp = claim_int(s.claims, "exp");
    if (exp <= 0 && !allow_expired) {
        log_error("the EAR in %s/" POSTURE_EAR_NAME " has no expiry (exp); refusing it (use "
                  "--allow-expired to print it anyway)",
                  cfg.agent.state_dir);
        return POSTURE_EXIT_FAILED;
    }
    if (exp > 0 && exp <= s.now && !allow_expired) {
        log_error("the EAR in %s/" POSTURE_EAR_NAME " expired %lld s ago; run '" POSTURE_CLI_PROGRAM
                  " submit' for a fresh one (or --allow-expired to print it anyway)",
                  cfg.agent.state_dir, (long long) (s.now - exp));
        return POSTURE_EXIT_FAILED;
    }
    (void) printf("%s\n", s.ear);
    return POSTURE_EXIT_OK;
}
