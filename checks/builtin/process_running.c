/* SPDX-License-Identifier: Apache-2.0 */
/*
 * process.running (issue 7): the processes an organisation requires (EDR and AV agents such as
 * /opt/CrowdStrike/falcon-sensor, /opt/sentinelone/bin/sentinel-agent,
 * /var/ossec/bin/wazuh-agentd) run, matched by the executable the kernel reports in
 * /proc/<pid>/exe, never by name (comm can be set by any process, prctl(PR_SET_NAME)).
 *
 * Options: required (absolute executable paths) and sha256 ("path=hex" pins of some of them).
 * Nothing required: not_applicable.
 *
 * For every /proc/<pid> of the root: readlink exe. The path must equal a required one exactly,
 * as the kernel spells it (symlinks resolved: /usr/sbin/x on a merged-/usr system, not
 * /sbin/x). The kernel appends " (deleted)" when the binary was removed or replaced after the
 * process started: such a process still counts as running, is reported as deleted (warn: the
 * service needs a restart) and never matches a pin (the code that runs is not the file on
 * disk). A pinned binary is hashed through /proc/<pid>/exe on the host (the running inode, even
 * when replaced), and through the link's target inside the root otherwise (fixture trees),
 * at most POSTURE_DIGEST_SIZE_MAX bytes, within the deadline; the same inode is hashed once.
 *
 * Visibility: root (CAP_SYS_PTRACE) reads every exe link; an unprivileged agent cannot read
 * other users' links (EACCES), and hidepid= or ProtectProc=invisible hide their /proc entries.
 * When a required path was not found and some links were unreadable or /proc hides
 * processes, the verdict is ERROR ("cannot see other users' processes"), never a false FAIL.
 *
 * Verdict: ERROR (invalid options, no /proc, a required path possibly hidden, a pinned binary
 * that could not be hashed and nothing else failed), FAIL (a required path not running, a
 * digest that differs from its pin, a deleted binary with a pin), WARN (a deleted binary without
 * pin), PASS.
 *
 * Evidence: processes [{path, running, pids, deleted, sha256 (pinned paths only; null when not
 * hashed), match (null: undecidable)}], processes_seen, exe_unreadable, proc_hidden.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/check.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"

#include "file_digest.h"

#define REQUIRED_MAX     64u
#define PROC_ENTRIES_MAX 262144u /* more than the default pid_max */
#define DEADLINE_EVERY   256u    /* /proc entries between deadline checks */
#define MOUNTINFO_MAX    (4u * 1024u * 1024u)
#define DELETED          " (deleted)"
#define TEXT_MAX         900u /* reason lists; the host API truncates at 1024 */

struct target {
    const char *path; /* borrowed from the options */
    const char *pin;  /* borrowed; NULL when not pinned */
    unsigned pids;
    bool deleted;   /* an instance runs a deleted binary */
    bool mismatch;  /* an instance's digest differs from the pin */
    bool hashed;    /* sha256 holds a digest */
    int hash_error; /* the first error hashing an instance, 0 if none */
    char sha256[POSTURE_SHA256_HEX_LEN + 1];
    bool have_inode; /* the last inode hashed, so the same binary is read once */
    dev_t dev;
    ino_t ino;
    char inode_sha256[POSTURE_SHA256_HEX_LEN + 1];
};

struct scan {
    struct target targets[REQUIRED_MAX];
    size_t n;
    unsigned seen;       /* process directories */
    unsigned unreadable; /* exe links we may not read */
    bool hidden;         /* /proc hides other users' processes from us (hidepid=) */
};

static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

static bool is_pid(const char *s)
{
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 10 && s[n] == '\0';
}

static int bad_option(const struct posture_check_ctx *ctx,
                      struct posture_result *result,
                      const char *key,
                      const char *value,
                      const char *why)
{
    (void) ctx->api->set_reason(result, "Invalid option %s: '%s' %s", key, value, why);
    (void) ctx->api->set_remediation(
        result, "Fix [check.process.running]: required lists absolute executable paths, sha256 "
                "lists path=<64 hex digits> pins of required paths.");
    return -EINVAL;
}

static int
load_options(const struct posture_check_ctx *ctx, struct posture_result *result, struct scan *s)
{
    const struct posture_host_api *api = ctx->api;
    const char *const *req = NULL, *const *pins = NULL;
    size_t n_req = 0, n_pins = 0;

    int r = api->option_get_strv(ctx, "required", &req, &n_req);
    if (r == -ENODATA)
        n_req = 0;
    else if (r < 0)
        return r;
    r = api->option_get_strv(ctx, "sha256", &pins, &n_pins);
    if (r == -ENODATA)
        n_pins = 0;
    else if (r < 0)
        return r;

    for (size_t i = 0; i < n_req; i++) {
        size_t len = strlen(req[i]);
        if (req[i][0] != '/' || len >= PATH_MAX)
            return bad_option(ctx, result, "required", req[i], "is not an absolute path");
        bool dup = false;
        for (size_t j = 0; j < s->n; j++)
            dup = dup || strcmp(s->targets[j].path, req[i]) == 0;
        if (dup)
            continue;
        if (s->n == REQUIRED_MAX) {
            (void) api->set_reason(result, "Invalid option required: more than %u paths",
                                   REQUIRED_MAX);
            (void) api->set_remediation(result, "List at most 64 executables in "
                                                "[check.process.running] required.");
            return -E2BIG;
        }
        s->targets[s->n++].path = req[i];
    }
    for (size_t i = 0; i < n_pins; i++) {
        size_t plen = 0;
        const char *value = NULL;
        if (posture_pin_split(pins[i], &plen, &value) < 0)
            return bad_option(ctx, result, "sha256", pins[i], "is not path=<sha256>");
        if (!posture_sha256_hex_is_valid(value))
            return bad_option(ctx, result, "sha256", pins[i], "does not end in 64 hex digits");
        struct target *t = NULL;
        for (size_t j = 0; j < s->n && !t; j++)
            if (strlen(s->targets[j].path) == plen &&
                memcmp(s->targets[j].path, pins[i], plen) == 0)
                t = &s->targets[j];
        if (!t)
            return bad_option(ctx, result, "sha256", pins[i], "pins a path that is not required");
        if (t->pin && strcasecmp(t->pin, value) != 0)
            return bad_option(ctx, result, "sha256", pins[i], "contradicts an earlier pin");
        t->pin = value;
    }
    return 0;
}

/*
 * Whether the root's /proc is mounted with hidepid= (or ProtectProc=), which hides other users'
 * processes from an agent without CAP_SYS_PTRACE. Read from /proc/self/mountinfo of the root;
 * unknown counts as not hidden (unreadable exe links still show the problem).
 */
static bool proc_hides_processes(const struct posture_check_ctx *ctx)
{
    posture_autofree char *buf = NULL;

    if (geteuid() == 0)
        return false;
    if (posture_read_file_at(ctx->root_fd, "/proc/self/mountinfo", MOUNTINFO_MAX, &buf, NULL) < 0)
        return false;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        /* id parent major:minor root mountpoint options [tags] - fstype source superoptions */
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        char mnt[64];
        if (sscanf(line, "%*s %*s %*s %*s %63s", mnt) != 1 || strcmp(mnt, "/proc") != 0)
            continue;
        if (strncmp(sep + 3, "proc ", 5) != 0)
            continue;
        const char *h = strstr(sep, "hidepid=");
        if (h && strncmp(h + 8, "0", 1) != 0 && strncmp(h + 8, "off", 3) != 0)
            return true;
    }
    return false;
}

/* Hash one instance of a pinned target. -ETIMEDOUT stops the scan; other errors are kept in
 * the target. */
static int hash_instance(
    const struct posture_check_ctx *ctx, bool host, int pid_fd, const char *exe, struct target *t)
{
    posture_autoclose int fd = -1;
    char hex[POSTURE_SHA256_HEX_LEN + 1];
    struct stat st;
    int r;

    if (host) {
        /* The magic link: the inode the process runs, whatever the path shows now. */
        fd = openat(pid_fd, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        r = fd < 0 ? posture_negative_errno() : 0;
    } else {
        r = posture_open_at_root(ctx->root_fd, exe, O_RDONLY | O_NONBLOCK, &fd);
    }
    if (r >= 0 && fstat(fd, &st) < 0)
        r = posture_negative_errno();
    if (r >= 0 && !S_ISREG(st.st_mode))
        r = -EBADFD;
    if (r < 0) {
        if (host && (r == -ENOENT || r == -ESRCH))
            return 0; /* exited meanwhile */
        if (!t->hash_error)
            t->hash_error = r;
        return 0;
    }
    if (t->have_inode && t->dev == st.st_dev && t->ino == st.st_ino) {
        memcpy(hex, t->inode_sha256, sizeof(hex));
    } else {
        r = posture_sha256_fd(fd, POSTURE_DIGEST_SIZE_MAX, ctx->api->now_usec, ctx->deadline_usec,
                              hex, NULL);
        if (r == -ETIMEDOUT)
            return r;
        if (r < 0) {
            if (!t->hash_error)
                t->hash_error = r;
            return 0;
        }
        t->have_inode = true;
        t->dev = st.st_dev;
        t->ino = st.st_ino;
        memcpy(t->inode_sha256, hex, sizeof(hex));
    }
    bool differs = strcasecmp(hex, t->pin) != 0;
    /* Report the first digest, or the first one that differs from the pin. */
    if (!t->hashed || (differs && !t->mismatch)) {
        memcpy(t->sha256, hex, sizeof(hex));
        t->hashed = true;
    }
    t->mismatch = t->mismatch || differs;
    return 0;
}

/* One /proc/<pid> entry. */
static int scan_pid(
    const struct posture_check_ctx *ctx, bool host, int proc_fd, const char *pid, struct scan *s)
{
    posture_autoclose int pid_fd = openat(
        proc_fd, pid, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); /* no symlink out of it */
    char exe[PATH_MAX + sizeof(DELETED)];

    if (pid_fd < 0)
        return 0; /* exited meanwhile */
    s->seen++;
    ssize_t len = readlinkat(pid_fd, "exe", exe, sizeof(exe) - 1);
    if (len < 0) {
        if (errno == EACCES || errno == EPERM)
            s->unreadable++;
        return 0; /* ENOENT: a kernel thread or a zombie */
    }
    if ((size_t) len >= sizeof(exe) - 1)
        return 0; /* longer than any path we match */
    exe[len] = '\0';
    bool deleted = false;
    size_t dl = strlen(DELETED);
    if ((size_t) len > dl && strcmp(exe + len - dl, DELETED) == 0) {
        exe[len - dl] = '\0';
        deleted = true;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct target *t = &s->targets[i];
        if (strcmp(exe, t->path) != 0)
            continue;
        t->pids++;
        t->deleted = t->deleted || deleted;
        if (t->pin && !deleted) {
            int r = hash_instance(ctx, host, pid_fd, exe, t);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int scan_proc(const struct posture_check_ctx *ctx, struct scan *s)
{
    posture_autoclosedir DIR *d = NULL;
    bool host = posture_root_is_host(ctx->root_fd);

    int r = posture_opendir_at_root(ctx->root_fd, "/proc", &d);
    if (r < 0)
        return r;
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (++n % DEADLINE_EVERY == 0 && ctx->api->now_usec() >= ctx->deadline_usec)
            return -ETIMEDOUT;
        if (n > PROC_ENTRIES_MAX)
            break;
        if (!is_pid(de->d_name))
            continue;
        r = scan_pid(ctx, host, dirfd(d), de->d_name, s);
        if (r < 0)
            return r;
    }
    s->hidden = proc_hides_processes(ctx);
    return 0;
}

/* match: true, false, or -1 when it cannot be decided (a pinned binary that was not hashed). */
static int target_match(const struct target *t)
{
    if (t->pids == 0)
        return 0;
    if (!t->pin)
        return 1;
    if (t->deleted || t->mismatch)
        return 0;
    return t->hashed && !t->hash_error ? 1 : -1;
}

static int add_evidence(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        const struct scan *s)
{
    const struct posture_host_api *api = ctx->api;

    int r = api->evidence_begin_array(result, "processes");
    for (size_t i = 0; r >= 0 && i < s->n; i++) {
        const struct target *t = &s->targets[i];
        int m = target_match(t);
        r = api->evidence_begin_object(result, NULL);
        if (r >= 0)
            r = api->evidence_add_str(result, "path", t->path);
        if (r >= 0)
            r = api->evidence_add_bool(result, "running", t->pids > 0);
        if (r >= 0)
            r = api->evidence_add_int(result, "pids", t->pids);
        if (r >= 0)
            r = api->evidence_add_bool(result, "deleted", t->deleted);
        if (r >= 0 && t->pin)
            r = api->evidence_add_str(result, "sha256", t->hashed ? t->sha256 : NULL);
        if (r >= 0)
            r = m < 0 ? api->evidence_add_str(result, "match", NULL)
                      : api->evidence_add_bool(result, "match", m == 1);
        if (r >= 0)
            r = api->evidence_end(result);
    }
    if (r >= 0)
        r = api->evidence_end(result);
    if (r >= 0)
        r = api->evidence_add_int(result, "processes_seen", s->seen);
    if (r >= 0)
        r = api->evidence_add_int(result, "exe_unreadable", s->unreadable);
    if (r >= 0)
        r = api->evidence_add_bool(result, "proc_hidden", s->hidden);
    return r;
}

/* Append "sep item" to a bounded list. */
static void list_add(char *buf, size_t size, const char *item)
{
    size_t used = strlen(buf);
    if (used >= size - 1)
        return;
    (void) snprintf(buf + used, size - used, "%s%s", used ? ", " : "", item);
}

static int
decide(const struct posture_check_ctx *ctx, struct posture_result *result, const struct scan *s)
{
    const struct posture_host_api *api = ctx->api;
    char missing[TEXT_MAX] = "", differs[TEXT_MAX] = "", deleted[TEXT_MAX] = "";
    char undecided[TEXT_MAX] = "";
    size_t n_missing = 0, n_fail = 0, n_deleted = 0, n_pinned = 0;
    int first_error = 0;

    for (size_t i = 0; i < s->n; i++) {
        const struct target *t = &s->targets[i];
        int m = target_match(t);
        n_pinned += t->pin != NULL;
        if (t->pids == 0) {
            list_add(missing, sizeof(missing), t->path);
            n_missing++;
        } else if (m == 0) {
            list_add(t->deleted ? deleted : differs, TEXT_MAX, t->path);
            n_fail++;
        } else if (m < 0) {
            list_add(undecided, sizeof(undecided), t->path);
            if (!first_error)
                first_error = t->hash_error ? t->hash_error : -ENODATA;
        } else if (t->deleted) {
            n_deleted++;
        }
    }

    if (n_missing > 0 && (s->unreadable > 0 || s->hidden)) {
        if (s->hidden)
            (void) api->set_reason(result,
                                   "Not among the visible processes: %s; but /proc is mounted "
                                   "with hidepid=, so the agent cannot see other users' "
                                   "processes (needs CAP_SYS_PTRACE or root)",
                                   missing);
        else
            (void) api->set_reason(result,
                                   "Not among the visible processes: %s; but the executables of "
                                   "%u processes could not be read, so the agent cannot see "
                                   "other users' processes (needs CAP_SYS_PTRACE or root)",
                                   missing, s->unreadable);
        (void) api->set_remediation(result, "Run the agent as root, or grant it CAP_SYS_PTRACE "
                                            "(AmbientCapabilities=CAP_SYS_PTRACE in its unit).");
        return -EACCES;
    }
    if (n_missing > 0 || n_fail > 0) {
        char why[3 * TEXT_MAX + 128] = "";
        if (n_missing > 0)
            (void) snprintf(why, sizeof(why), "Required process%s not running: %s",
                            n_missing == 1 ? "" : "es", missing);
        if (differs[0]) {
            size_t u = strlen(why);
            (void) snprintf(why + u, sizeof(why) - u, "%sSHA-256 differs from the pin: %s",
                            u ? "; " : "", differs);
        }
        if (deleted[0]) {
            size_t u = strlen(why);
            (void) snprintf(why + u, sizeof(why) - u,
                            "%sruns a deleted binary, which cannot match its SHA-256 pin: %s",
                            u ? "; " : "", deleted);
        }
        (void) api->set_reason(result, "%s", why);
        if (n_missing > 0)
            (void) api->set_remediation(
                result, "Install and start the required agent (for example sudo systemctl "
                        "enable --now <its service>), or correct [check.process.running] "
                        "required.");
        else
            (void) api->set_remediation(
                result, "Restart the service so it runs the installed binary; after a "
                        "legitimate upgrade update the pin in [check.process.running] sha256 "
                        "(sha256sum <path>), otherwise reinstall the agent.");
        return api->set_status(result, POSTURE_STATUS_FAIL);
    }
    if (first_error) {
        (void) api->set_reason(result, "Could not hash the running binary of %s: %s", undecided,
                               error_text(first_error));
        (void) api->set_remediation(result,
                                    "Run the agent as root; a pinned binary must be a regular "
                                    "file of at most 256 MiB.");
        return first_error;
    }
    if (n_deleted > 0) {
        char list[TEXT_MAX] = "";
        for (size_t i = 0; i < s->n; i++)
            if (s->targets[i].deleted)
                list_add(list, sizeof(list), s->targets[i].path);
        (void) api->set_reason(result,
                               "Running, but from a deleted binary (upgraded or removed without "
                               "a restart): %s",
                               list);
        (void) api->set_remediation(result, "Restart the service so it runs the installed binary.");
        return api->set_status(result, POSTURE_STATUS_WARN);
    }
    int r;
    if (s->n == 1)
        r = api->set_reason(result, "%s runs%s", s->targets[0].path,
                            n_pinned ? ", with the pinned SHA-256" : "");
    else
        r = api->set_reason(result, "All %zu required processes run%s", s->n,
                            n_pinned == 0      ? ""
                            : n_pinned == s->n ? ", with their pinned SHA-256"
                                               : ", pinned ones with their SHA-256");
    return r < 0 ? r : api->set_status(result, POSTURE_STATUS_PASS);
}

static int
process_running_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    posture_autofree struct scan *s = calloc(1, sizeof(*s));

    (void) state;
    if (!s)
        return -ENOMEM;
    int r = load_options(ctx, result, s);
    if (r < 0)
        return r;
    if (s->n == 0) {
        r = add_evidence(ctx, result, s);
        if (r >= 0)
            r = api->set_reason(result, "No required processes are configured "
                                        "([check.process.running] required is empty)");
        return r < 0 ? r : api->set_status(result, POSTURE_STATUS_NOT_APPLICABLE);
    }
    r = scan_proc(ctx, s);
    if (r == -ETIMEDOUT)
        return r;
    if (r < 0) {
        (void) api->set_reason(result, "Cannot list /proc: %s", error_text(r));
        (void) api->set_remediation(result, "Mount procfs at /proc.");
        return r;
    }
    r = add_evidence(ctx, result, s);
    if (r < 0)
        return r;
    return decide(ctx, result, s);
}

static const struct posture_option options[] = {
    { POSTURE_OPTION_STRV, "required", NULL,
      "Absolute paths of executables that must be running (as /proc/<pid>/exe shows them)" },
    { POSTURE_OPTION_STRV, "sha256", NULL,
      "path=<sha256> pins: the running binary of that required path must have this SHA-256" },
    { 0, NULL, NULL, NULL },
};

const struct posture_check_desc posture_check_process_running = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "process.running",
    .version = "1.0.0",
    .summary = "Required processes (EDR, AV agents) run, matched by executable path and SHA-256",
    .flags = POSTURE_CHECK_NEEDS_ROOT,
    .options = options,
    .init = NULL,
    .run = process_running_run,
    .fini = NULL,
};
