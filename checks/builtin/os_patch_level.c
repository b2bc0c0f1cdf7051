/* SPDX-License-Identifier: Apache-2.0 */
/*
 * os.patch_level (DESIGN.md §6): pending (security) updates, reboot required, package list age
 * and automatic updates.
 *
 * Debian family (var/lib/dpkg/status in the root): computed in process by the apt engine
 * (os_patch_level/apt.h) from the dpkg status file and apt's lists, the way `apt-get -s upgrade`
 * decides, so it also works on a --root tree. RPM family (an RPM database plus dnf or yum):
 * dnf/yum run cache-only with a timeout, on the running system only (they cannot be pointed at
 * a --root tree safely). Anything else is an ERROR.
 *
 * Verdict: FAIL when more security updates are pending than max_pending_security (default 0);
 * else WARN when a reboot is required (warn_reboot), when the package lists are older than
 * max_list_age (default 7d; 0 turns this off), or when require_auto_updates is set and updates
 * are not installed automatically; else PASS. Without any package list the pending count cannot
 * be known: ERROR, never a silent pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "posture/check.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/strbuf.h"
#include "posture/strutil.h"
#include "posture/strv.h"
#include "posture/time_util.h"

#include "os_patch_level/apt.h"
#include "os_patch_level/deb822.h"
#include "os_patch_level/kernel.h"
#include "os_patch_level/patch.h"
#include "os_patch_level/stream.h"

#define DPKG_STATUS        "var/lib/dpkg/status"
#define APT_LISTS          "var/lib/apt/lists"
#define REBOOT_REQUIRED    "run/reboot-required"
#define REBOOT_PKGS        "run/reboot-required.pkgs"
#define REBOOT_PKGS_MAX    50
#define SMALL_FILE_MAX     ((size_t) 64 * 1024)
#define REASON_NAMES_MAX   5 /* package names spelled out in a reason */
#define DNF_TIMEOUT_MARGIN (500 * POSTURE_USEC_PER_MSEC)
#define SEC_PER_DAY        UINT64_C(86400)

#define REMEDIATION_APT_UPGRADE "Run: sudo apt-get update && sudo apt-get upgrade"
#define REMEDIATION_APT_UPDATE  "Run: sudo apt-get update"
#define REMEDIATION_DNF_UPGRADE "Run: sudo dnf upgrade --security"
#define REMEDIATION_DNF_UPDATE  "Run: sudo dnf makecache"

static const struct posture_option options[] = {
    { POSTURE_OPTION_INT, "max_pending_security", "0",
      "Security updates that may be pending before the check fails" },
    { POSTURE_OPTION_BOOL, "warn_reboot", "yes",
      "Warn when a reboot is required (newer kernel installed, /run/reboot-required)" },
    { POSTURE_OPTION_DURATION, "max_list_age", "7d",
      "Warn when the package lists are older than this (0: never)" },
    { POSTURE_OPTION_BOOL, "require_auto_updates", "no",
      "Warn when updates are not installed automatically (unattended-upgrades, dnf-automatic)" },
    { POSTURE_OPTION_DURATION, "exec_timeout", "60s",
      "Time limit for each dnf / yum run (always within the check's deadline)" },
    { 0 },
};

struct config {
    int64_t max_pending_security;
    bool warn_reboot;
    uint64_t max_list_age_usec;
    bool require_auto_updates;
    uint64_t exec_timeout_usec;
};

/* What one run found. */
struct facts {
    const char *package_manager; /* "dpkg", "dnf", "yum"; static */
    size_t pending;
    size_t pending_security;
    char **security_names; /* at most POSTURE_PATCH_SECURITY_NAMES_MAX */
    size_t installed;
    size_t lists;
    uint64_t lists_updated_at; /* epoch s; 0 unknown */
    char *running_kernel;
    char *newest_kernel;
    char **kernel_releases;
    char *reboot_reason;  /* clause */
    char *reboot_kernel;  /* the kernel a reboot would start, when known */
    char **reboot_pkgs;   /* run/reboot-required.pkgs */
    char *kernel_pkg_ver; /* installed version of linux-image-<running> (dpkg) */
    struct posture_auto_updates auto_updates;
    bool have_counts; /* pending, pending_security, security_names, lists_updated_at */
    bool have_installed;
    bool have_lists;
    bool reboot_required;
    bool uu_installed; /* unattended-upgrades (dpkg) */
    bool have_auto;    /* reboot and kernels, auto_updates */
};

static void facts_done(struct facts *f)
{
    f->security_names = posture_strv_free(f->security_names);
    free(f->running_kernel);
    free(f->newest_kernel);
    f->kernel_releases = posture_strv_free(f->kernel_releases);
    free(f->reboot_reason);
    free(f->reboot_kernel);
    f->reboot_pkgs = posture_strv_free(f->reboot_pkgs);
    free(f->kernel_pkg_ver);
    posture_auto_updates_done(&f->auto_updates);
}

static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

static void read_config(const struct posture_check_ctx *ctx, struct config *c)
{
    const struct posture_host_api *api = ctx->api;

    *c = (struct config){
        .max_pending_security = 0,
        .warn_reboot = true,
        .max_list_age_usec = 7 * SEC_PER_DAY * POSTURE_USEC_PER_SEC,
        .require_auto_updates = false,
        .exec_timeout_usec = 60 * POSTURE_USEC_PER_SEC,
    };
    (void) api->option_get_int(ctx, "max_pending_security", &c->max_pending_security);
    (void) api->option_get_bool(ctx, "warn_reboot", &c->warn_reboot);
    (void) api->option_get_u64(ctx, "max_list_age", &c->max_list_age_usec);
    (void) api->option_get_bool(ctx, "require_auto_updates", &c->require_auto_updates);
    (void) api->option_get_u64(ctx, "exec_timeout", &c->exec_timeout_usec);
    if (c->max_pending_security < 0)
        c->max_pending_security = 0;
}

/* ---- Kernel and reboot ---- */

/* First line of a small file; NULL when missing or unreadable (best effort), or -ETIMEDOUT. */
static int read_line_opt(const struct posture_check_ctx *ctx, const char *path, char **ret)
{
    *ret = NULL;
    int r = posture_read_line_at(ctx->root_fd, path, (size_t) POSTURE_KERNEL_RELEASE_MAX * 4, ret);
    if (r == -ENOMEM || r == -ETIMEDOUT)
        return r;
    if (r < 0) {
        ctx->api->log_debug(ctx, "%s not readable (%s), ignoring", path, posture_errno_name(r));
        *ret = NULL;
    }
    return 0;
}

static int read_running_kernel(const struct posture_check_ctx *ctx, char **ret)
{
    struct utsname u;

    int r = read_line_opt(ctx, "proc/sys/kernel/osrelease", ret);
    if (r < 0)
        return r;
    if (*ret && (!**ret || strlen(*ret) > POSTURE_KERNEL_RELEASE_MAX)) {
        free(*ret);
        *ret = NULL;
    }
    if (!*ret && posture_root_is_host(ctx->root_fd) && uname(&u) == 0)
        if (!(*ret = strdup(u.release)))
            return -ENOMEM;
    return 0;
}

/*
 * The package version the running kernel was built from: Debian writes it into /proc/version
 * ("... #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"), Ubuntu into
 * /proc/version_signature ("Ubuntu 6.8.0-31.31-generic 6.8.1"). NULL when unknown.
 */
static int
running_build_version(const struct posture_check_ctx *ctx, const char *running, char **ret)
{
    posture_autofree char *line = NULL;
    *ret = NULL;

    int r = read_line_opt(ctx, "proc/version_signature", &line);
    if (r < 0)
        return r;
    if (line && strncmp(line, "Ubuntu ", 7) == 0) {
        const char *tok = line + 7;
        size_t n = strcspn(tok, " ");
        const char *flavour = posture_kernel_flavour(running);
        size_t fl = flavour ? strlen(flavour) : 0;
        if (fl > 0 && n > fl + 1 && memcmp(tok + n - fl, flavour, fl) == 0 &&
            tok[n - fl - 1] == '-')
            n -= fl + 1;
        *ret = strndup(tok, n);
        return *ret ? 0 : -ENOMEM;
    }
    free(line);
    line = NULL;

    r = read_line_opt(ctx, "proc/version", &line);
    if (r < 0 || !line)
        return r;
    const char *hash = strchr(line, '#');
    const char *deb = hash ? strstr(hash, " Debian ") : NULL;
    if (!deb)
        return 0;
    deb += strlen(" Debian ");
    size_t n = strcspn(deb, " ");
    if (n == 0 || deb[0] < '0' || deb[0] > '9')
        return 0;
    *ret = strndup(deb, n);
    return *ret ? 0 : -ENOMEM;
}

/* run/reboot-required.pkgs: one package per line, possibly repeated. */
static int read_reboot_pkgs(const struct posture_check_ctx *ctx, char ***ret)
{
    char *buf = NULL;
    posture_auto_strv char **lines = NULL;
    posture_auto_strv char **uniq = NULL;

    *ret = NULL;
    int r = ctx->api->read_file_at(ctx, REBOOT_PKGS, SMALL_FILE_MAX, &buf, NULL);
    if (r == -ETIMEDOUT || r == -ENOMEM)
        return r;
    if (r < 0)
        return 0;
    r = posture_strv_split(buf, "\r\n", &lines);
    ctx->api->free_buf(buf);
    if (r < 0)
        return r;
    if (!(uniq = calloc(1, sizeof(char *))))
        return -ENOMEM;
    size_t n = 0;
    POSTURE_FOREACH_STRV (l, lines) {
        const char *s = l + strspn(l, " \t");
        if (!*s || posture_strv_contains(uniq, s))
            continue;
        if (n++ >= REBOOT_PKGS_MAX)
            break;
        r = posture_strv_extend(&uniq, s);
        if (r < 0)
            return r;
    }
    *ret = POSTURE_TAKE_PTR(uniq);
    return 0;
}

/* "a, b, c, …" from the first REASON_NAMES_MAX names. */
static int names_clause(char *const *names, size_t total, struct posture_strbuf *sb)
{
    size_t i = 0;
    int r = 0;
    POSTURE_FOREACH_STRV (n, names) {
        if (i == REASON_NAMES_MAX)
            break;
        r = posture_strbuf_printf(sb, "%s%s", i ? ", " : "", n);
        if (r < 0)
            return r;
        i++;
    }
    if (i < total)
        r = posture_strbuf_puts(sb, i ? ", …" : "…");
    return r;
}

/* f->running_kernel and f->kernel_releases are set (either may be empty). */
static int decide_reboot(const struct posture_check_ctx *ctx, struct facts *f)
{
    int r;
    size_t n = posture_strv_length(f->kernel_releases);
    bool comparable = false;
    int newest = posture_kernel_newest(f->kernel_releases, n, f->running_kernel, &comparable);
    if (newest >= 0 && !(f->newest_kernel = strdup(f->kernel_releases[newest])))
        return -ENOMEM;

    r = posture_exists_at_root(ctx->root_fd, REBOOT_REQUIRED);
    if (r > 0) {
        f->reboot_required = true;
        r = read_reboot_pkgs(ctx, &f->reboot_pkgs);
        if (r < 0)
            return r;
        if (posture_strv_length(f->reboot_pkgs) > 0) {
            posture_auto_strbuf struct posture_strbuf sb = POSTURE_STRBUF_INIT(1024);
            size_t total = posture_strv_length(f->reboot_pkgs);
            r = names_clause(f->reboot_pkgs, total, &sb);
            if (r >= 0)
                r = posture_set_printf(&f->reboot_reason, "/" REBOOT_REQUIRED " names %s", sb.buf);
        } else {
            r = posture_set_printf(&f->reboot_reason, "/" REBOOT_REQUIRED " exists");
        }
        if (r < 0)
            return r;
    }

    if (newest >= 0 && comparable &&
        posture_kernel_release_compare(f->newest_kernel, f->running_kernel) > 0) {
        f->reboot_required = true;
        r = posture_set_printf(&f->reboot_kernel, "%s", f->newest_kernel);
        if (r >= 0)
            r = posture_set_printf(&f->reboot_reason, "kernel %s is installed but %s is running",
                                   f->newest_kernel, f->running_kernel);
        return r;
    }

    /* Same release, newer package (an upgrade that kept the ABI name). */
    if (f->kernel_pkg_ver && f->running_kernel) {
        posture_autofree char *built = NULL;
        r = running_build_version(ctx, f->running_kernel, &built);
        if (r < 0)
            return r;
        if (built && posture_debversion_validate(built) >= 0 &&
            posture_debversion_compare(f->kernel_pkg_ver, built) > 0) {
            f->reboot_required = true;
            r = posture_set_printf(&f->reboot_kernel, "%s", f->running_kernel);
            if (r >= 0)
                r = posture_set_printf(
                    &f->reboot_reason,
                    "the running kernel %s was built from package version %s but %s is "
                    "installed",
                    f->running_kernel, built, f->kernel_pkg_ver);
            return r;
        }
    }
    return 0;
}

/* ---- Debian family ---- */

/*
 * Whether unattended-upgrades is installed: a targeted pass over the dpkg status file (the
 * engine does not report single packages); stanzas of other packages are skipped after their
 * Package line.
 */
#define UU_PACKAGE "unattended-upgrades"

static int scan_key(const char *value, size_t len, void *userdata)
{
    (void) userdata;
    return len == strlen(UU_PACKAGE) && memcmp(value, UU_PACKAGE, len) == 0 ? 0
                                                                            : POSTURE_DEB822_SKIP;
}

/* "install ok installed", "hold ok installed": the third word is the state. */
static bool status_installed(const char *status)
{
    const char *last = status ? strrchr(status, ' ') : NULL;
    return last && strcmp(last + 1, "installed") == 0;
}

static int scan_stanza(const struct posture_deb822_value *v, void *userdata)
{
    bool *installed = userdata;
    if (status_installed(v[1].str))
        *installed = true;
    return 0;
}

static int scan_uu_installed(const struct posture_check_ctx *ctx, bool *ret)
{
    static const char *const fields[] = { "Package", "Status" };
    posture_auto_stream struct posture_stream *st = NULL;
    bool installed = false;
    struct posture_deb822_opts o = {
        .fields = fields,
        .n_fields = POSTURE_ELEMENTSOF(fields),
        .on_stanza = scan_stanza,
        .on_key = scan_key,
        .userdata = &installed,
        .deadline_usec = ctx->deadline_usec,
    };
    int r = posture_stream_open_at(ctx->root_fd, DPKG_STATUS, &st);
    if (r >= 0)
        r = posture_deb822_parse(st, &o);
    if (r < 0)
        return r;
    *ret = installed;
    return 0;
}

/* Kernel releases from the engine's kernel packages, and the running release's version. */
static int take_kernels(const struct posture_apt_result *res, struct facts *f)
{
    if (!(f->kernel_releases = calloc(1, sizeof(char *))))
        return -ENOMEM;
    for (size_t i = 0; i < res->n_kernels; i++) {
        posture_autofree char *pkg = NULL, *rel = NULL;
        if (posture_set_printf(&pkg, "linux-image-%s", res->kernels[i].release) < 0)
            return -ENOMEM;
        int r = posture_kernel_release_from_package(pkg, &rel);
        if (r < 0)
            return r;
        if (!rel)
            continue;
        if (f->running_kernel && !f->kernel_pkg_ver && strcmp(rel, f->running_kernel) == 0 &&
            !(f->kernel_pkg_ver = strdup(res->kernels[i].version)))
            return -ENOMEM;
        if (posture_strv_contains(f->kernel_releases, rel))
            continue;
        r = posture_strv_consume(&f->kernel_releases, rel);
        if (r < 0)
            return r;
        rel = NULL;
    }
    return 0;
}

static int
collect_dpkg(const struct posture_check_ctx *ctx, struct posture_result *result, struct facts *f)
{
    const struct posture_host_api *api = ctx->api;
    struct posture_apt_opts o = {
        .dpkg_status = DPKG_STATUS,
        .lists_dir = APT_LISTS,
        .native_arch = NULL,
        .deadline_usec = ctx->deadline_usec,
    };
    struct posture_apt_result res = { 0 };
    posture_autofree char *where = NULL;

    f->package_manager = "dpkg";
    int r = posture_apt_compute(ctx->root_fd, &o, &res, &where);
    if (r < 0) {
        const char *file = where ? where : DPKG_STATUS;
        if (r == -ETIMEDOUT)
            (void) api->set_reason(result, "Computing pending updates did not finish in time");
        else if (r == -EBADMSG)
            (void) api->set_reason(result, "/%s is malformed; pending updates cannot be computed",
                                   file[0] == '/' ? file + 1 : file);
        else if (r == -EOPNOTSUPP)
            (void) api->set_reason(result,
                                   "/%s is compressed in a format the apt reader does not support",
                                   file[0] == '/' ? file + 1 : file);
        else if (r == -E2BIG)
            (void) api->set_reason(result, "/%s exceeds the size limits of the apt reader",
                                   file[0] == '/' ? file + 1 : file);
        else
            (void) api->set_reason(result, "Cannot read /%s: %s", file[0] == '/' ? file + 1 : file,
                                   error_text(r));
        if (r == -EBADMSG || r == -E2BIG || r == -EOPNOTSUPP)
            (void) api->set_remediation(result, where && strstr(where, "lists")
                                                    ? REMEDIATION_APT_UPDATE
                                                    : "Run: sudo dpkg --audit");
        if (where)
            (void) api->evidence_add_str(result, "file", where);
        return r;
    }

    f->have_counts = true;
    f->pending = res.pending;
    f->pending_security = res.pending_security;
    f->have_installed = true;
    f->installed = res.installed;
    f->have_lists = true;
    f->lists = res.lists;
    f->lists_updated_at = res.lists_updated_at;

    r = read_running_kernel(ctx, &f->running_kernel);
    if (r >= 0 && !(f->security_names = calloc(1, sizeof(char *))))
        r = -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; r >= 0 && i < res.n_updates && n < POSTURE_PATCH_SECURITY_NAMES_MAX; i++) {
        if (!res.updates[i].security)
            continue;
        r = posture_strv_extend(&f->security_names, res.updates[i].name);
        n++;
    }
    if (r >= 0)
        r = take_kernels(&res, f);
    posture_apt_result_done(&res);
    if (r < 0)
        return r;

    r = scan_uu_installed(ctx, &f->uu_installed);
    if (r < 0) {
        (void) api->set_reason(result, "Cannot read /" DPKG_STATUS ": %s", error_text(r));
        return r;
    }
    r = decide_reboot(ctx, f);
    if (r < 0)
        return r;
    r = posture_auto_updates_apt(ctx->root_fd, f->uu_installed, ctx->deadline_usec,
                                 &f->auto_updates);
    if (r < 0)
        return r;
    f->have_auto = true;
    return 0;
}

/* ---- RPM family ---- */

static int collect_rpm(const struct posture_check_ctx *ctx,
                       struct posture_result *result,
                       const struct config *cfg,
                       const char *tool,
                       struct facts *f)
{
    const struct posture_host_api *api = ctx->api;
    struct posture_dnf_facts d = { 0 };
    posture_autofree char *why = NULL;
    struct utsname u;

    f->package_manager = tool;
    if (!posture_root_is_host(ctx->root_fd)) {
        (void) api->set_reason(result,
                               "%s can only be asked about the running system, not about the "
                               "tree given with --root (%s)",
                               tool, ctx->root_path ? ctx->root_path : "?");
        (void) api->set_remediation(result,
                                    "Run posturectl check on that system itself, without --root.");
        return -EOPNOTSUPP;
    }

    uint64_t now = api->now_usec();
    uint64_t timeout = cfg->exec_timeout_usec;
    if (ctx->deadline_usec > 0) {
        uint64_t left = ctx->deadline_usec > now + DNF_TIMEOUT_MARGIN
                            ? ctx->deadline_usec - now - DNF_TIMEOUT_MARGIN
                            : 0;
        if (left < POSTURE_USEC_PER_SEC) {
            (void) api->set_reason(result, "No time left to run %s", tool);
            return -ETIMEDOUT;
        }
        /* Two runs share what is left. */
        if (timeout == 0 || timeout > left / 2)
            timeout = left / 2;
    }
    if (timeout == 0)
        timeout = 60 * POSTURE_USEC_PER_SEC;

    int r = posture_dnf_collect(tool, timeout, uname(&u) == 0 ? u.machine : NULL, &d, &why);
    if (r < 0) {
        if (r == -ENOMEM)
            return r;
        (void) api->set_reason(result, "Cannot list pending updates: %s",
                               why ? why : error_text(r));
        if (r == -EIO)
            (void) api->set_remediation(result, REMEDIATION_DNF_UPDATE
                                        " (the check reads dnf's cache only, never the network)");
        else if (r == -ENOENT)
            (void) api->set_remediation(result, "Install dnf (or yum) from the distribution.");
        return r;
    }
    f->have_counts = true;
    f->pending = d.pending;
    f->pending_security = d.pending_security;
    if (!(f->security_names = calloc(1, sizeof(char *)))) {
        posture_dnf_facts_done(&d);
        return -ENOMEM;
    }
    size_t n = 0;
    POSTURE_FOREACH_STRV (name, d.security_names) {
        if (n++ >= POSTURE_PATCH_SECURITY_NAMES_MAX)
            break;
        r = posture_strv_extend(&f->security_names, name);
        if (r < 0)
            break;
    }
    posture_dnf_facts_done(&d);
    if (r < 0)
        return r;

    f->lists_updated_at = posture_dnf_metadata_mtime(ctx->root_fd);
    r = posture_rpm_kernels(ctx->root_fd, &f->kernel_releases);
    if (r >= 0)
        r = read_running_kernel(ctx, &f->running_kernel);
    if (r < 0)
        return r;
    r = decide_reboot(ctx, f);
    if (r < 0)
        return r;
    r = posture_auto_updates_rpm(ctx->root_fd, &f->auto_updates);
    if (r < 0)
        return r;
    f->have_auto = true;
    return 0;
}

/* ---- Evidence and verdict ---- */

static int add_evidence(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        const struct facts *f)
{
    const struct posture_host_api *api = ctx->api;
    int r = api->evidence_add_str(result, "package_manager", f->package_manager);
    if (r >= 0 && f->have_counts) {
        r = api->evidence_add_int(result, "pending_updates", (int64_t) f->pending);
        if (r >= 0)
            r = api->evidence_add_int(result, "pending_security_updates",
                                      (int64_t) f->pending_security);
        if (r >= 0)
            r = api->evidence_add_strv(result, "security_packages",
                                       (const char *const *) f->security_names,
                                       posture_strv_length(f->security_names));
    }
    if (r >= 0 && f->have_auto) {
        r = api->evidence_add_bool(result, "reboot_required", f->reboot_required);
        if (r >= 0)
            r = api->evidence_add_str(result, "running_kernel", f->running_kernel);
        if (r >= 0)
            r = api->evidence_add_str(result, "newest_kernel", f->newest_kernel);
    }
    if (r >= 0 && f->have_counts) {
        if (f->lists_updated_at > 0)
            r = api->evidence_add_int(result, "lists_updated_at", (int64_t) f->lists_updated_at);
        else
            r = api->evidence_add_str(result, "lists_updated_at", NULL);
    }
    if (r >= 0 && f->have_auto) {
        r = api->evidence_add_bool(result, "auto_updates", f->auto_updates.on);
        if (r >= 0)
            r = api->evidence_add_str(result, "auto_updates_detail", f->auto_updates.detail);
    }
    if (r >= 0 && f->have_installed)
        r = api->evidence_add_int(result, "installed_packages", (int64_t) f->installed);
    if (r >= 0 && f->have_lists)
        r = api->evidence_add_int(result, "lists", (int64_t) f->lists);
    if (r >= 0 && f->reboot_reason)
        r = api->evidence_add_str(result, "reboot_reason", f->reboot_reason);
    if (r >= 0 && f->reboot_pkgs)
        r = api->evidence_add_strv(result, "reboot_required_packages",
                                   (const char *const *) f->reboot_pkgs,
                                   posture_strv_length(f->reboot_pkgs));
    return r;
}

static void age_text(uint64_t age_s, char *buf, size_t size)
{
    if (age_s >= 2 * SEC_PER_DAY)
        (void) snprintf(buf, size, "%llu days", (unsigned long long) (age_s / SEC_PER_DAY));
    else if (age_s >= UINT64_C(2) * 3600)
        (void) snprintf(buf, size, "%llu hours", (unsigned long long) (age_s / 3600));
    else
        (void) snprintf(buf, size, "%llu minutes", (unsigned long long) (age_s / 60));
}

static int verdict(const struct posture_check_ctx *ctx,
                   struct posture_result *result,
                   const struct config *cfg,
                   const struct facts *f)
{
    const struct posture_host_api *api = ctx->api;
    bool dpkg = strcmp(f->package_manager, "dpkg") == 0;
    posture_auto_strbuf struct posture_strbuf reason = POSTURE_STRBUF_INIT(4096);
    posture_auto_strbuf struct posture_strbuf fix = POSTURE_STRBUF_INIT(4096);
    int r;

    if (f->pending_security > (uint64_t) cfg->max_pending_security) {
        r = posture_strbuf_printf(&reason, "%zu security update%s pending (", f->pending_security,
                                  f->pending_security == 1 ? "" : "s");
        if (r >= 0)
            r = names_clause(f->security_names, f->pending_security, &reason);
        if (r >= 0)
            r = posture_strbuf_putc(&reason, ')');
        if (r >= 0 && f->reboot_required && cfg->warn_reboot)
            r = posture_strbuf_puts(&reason, "; a reboot is also required");
        if (r < 0)
            return r;
        (void) api->set_reason(result, "%s", reason.buf);
        (void) api->set_remediation(result, "%s%s",
                                    dpkg ? REMEDIATION_APT_UPGRADE : REMEDIATION_DNF_UPGRADE,
                                    f->reboot_required && cfg->warn_reboot ? ", then reboot" : "");
        return api->set_status(result, POSTURE_STATUS_FAIL);
    }

    /* Warnings, each a clause of one sentence. */
    uint64_t now = (uint64_t) time(NULL);
    if (cfg->warn_reboot && f->reboot_required) {
        r = posture_strbuf_printf(&reason, "a reboot is required (%s)", f->reboot_reason);
        if (r >= 0)
            r = f->reboot_kernel
                    ? posture_strbuf_printf(&fix, "Reboot to run kernel %s", f->reboot_kernel)
                    : posture_strbuf_puts(&fix, "Reboot the system");
        if (r < 0)
            return r;
    }
    if (cfg->max_list_age_usec > 0 && f->lists_updated_at > 0 && now > f->lists_updated_at &&
        (now - f->lists_updated_at) * POSTURE_USEC_PER_SEC > cfg->max_list_age_usec) {
        char age[64];
        age_text(now - f->lists_updated_at, age, sizeof(age));
        r = posture_strbuf_printf(&reason,
                                  "%spackage lists were last updated %s ago; pending updates may "
                                  "be missing",
                                  reason.len ? "; " : "", age);
        if (r >= 0)
            r = posture_strbuf_printf(&fix, "%s%s", fix.len ? "; " : "",
                                      dpkg ? REMEDIATION_APT_UPDATE : REMEDIATION_DNF_UPDATE);
        if (r < 0)
            return r;
    }
    if (cfg->require_auto_updates && f->have_auto && !f->auto_updates.on) {
        r = posture_strbuf_printf(&reason, "%sautomatic updates are off (%s)",
                                  reason.len ? "; " : "", f->auto_updates.detail);
        if (r >= 0)
            r = posture_strbuf_printf(
                &fix, "%s%s", fix.len ? "; " : "",
                dpkg ? "Run: sudo apt-get install unattended-upgrades && sudo dpkg-reconfigure "
                       "-plow unattended-upgrades"
                     : "Run: sudo dnf install dnf-automatic, set apply_updates = yes in "
                       "/etc/dnf/automatic.conf, then: sudo systemctl enable --now "
                       "dnf-automatic.timer");
        if (r < 0)
            return r;
    }
    if (reason.len > 0) {
        /* Sentence case. */
        if (reason.buf[0] >= 'a' && reason.buf[0] <= 'z')
            reason.buf[0] = (char) (reason.buf[0] - 'a' + 'A');
        (void) api->set_reason(result, "%s", reason.buf);
        (void) api->set_remediation(result, "%s", fix.buf);
        return api->set_status(result, POSTURE_STATUS_WARN);
    }

    size_t other = f->pending - (f->pending >= f->pending_security ? f->pending_security : 0);
    if (f->pending_security > 0)
        (void) api->set_reason(result,
                               "%zu security update%s pending, within the allowed %lld (%zu other "
                               "update%s)",
                               f->pending_security, f->pending_security == 1 ? "" : "s",
                               (long long) cfg->max_pending_security, other, other == 1 ? "" : "s");
    else
        (void) api->set_reason(result, "No security updates pending (%zu other update%s)", other,
                               other == 1 ? "" : "s");
    return api->set_status(result, POSTURE_STATUS_PASS);
}

/* ---- Family ---- */

static int detect(const struct posture_check_ctx *ctx, const char **ret_tool)
{
    static const char *const rpmdbs[] = { "var/lib/rpm", "usr/lib/sysimage/rpm" };
    static const char *const dnfs[] = { "usr/bin/dnf", "usr/bin/dnf5", "usr/bin/dnf-3" };
    int r = posture_exists_at_root(ctx->root_fd, DPKG_STATUS);
    if (r > 0) {
        *ret_tool = "dpkg";
        return 0;
    }
    bool rpm = false;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(rpmdbs) && !rpm; i++)
        rpm = posture_exists_at_root(ctx->root_fd, rpmdbs[i]) > 0;
    if (!rpm) {
        *ret_tool = NULL;
        return 0;
    }
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(dnfs); i++)
        if (posture_exists_at_root(ctx->root_fd, dnfs[i]) > 0) {
            *ret_tool = "dnf";
            return 0;
        }
    *ret_tool = posture_exists_at_root(ctx->root_fd, "usr/bin/yum") > 0 ? "yum" : "rpm";
    return 0;
}

static int
os_patch_level_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    struct config cfg;
    struct facts f = { 0 };
    const char *tool = NULL;
    int r;

    (void) state;
    read_config(ctx, &cfg);
    r = detect(ctx, &tool);
    if (r < 0)
        return r;

    if (!tool) {
        (void) api->set_reason(result,
                               "No supported package manager (dpkg/apt, dnf, yum) found: neither "
                               "/" DPKG_STATUS " nor an RPM database exists");
        (void) api->set_remediation(result,
                                    "Check this system's updates with its own package manager; "
                                    "posture reads dpkg/apt, dnf and yum.");
        return -ENOPKG;
    }
    if (strcmp(tool, "rpm") == 0) {
        (void) api->set_reason(result,
                               "An RPM database exists but neither dnf nor yum is installed, so "
                               "pending updates cannot be listed");
        (void) api->set_remediation(result, "Install dnf (Fedora, RHEL 8+) or yum (RHEL 7).");
        (void) api->evidence_add_str(result, "package_manager", "rpm");
        return -ENOPKG;
    }

    if (strcmp(tool, "dpkg") == 0)
        r = collect_dpkg(ctx, result, &f);
    else
        r = collect_rpm(ctx, result, &cfg, tool, &f);
    if (r < 0) {
        if (f.package_manager)
            (void) add_evidence(ctx, result, &f);
        facts_done(&f);
        return r;
    }

    r = add_evidence(ctx, result, &f);
    if (r >= 0 && f.have_lists && f.lists == 0) {
        (void) api->set_reason(result, "No apt package lists in /" APT_LISTS
                                       "; pending updates cannot be known");
        (void) api->set_remediation(result, REMEDIATION_APT_UPDATE);
        facts_done(&f);
        return -ENODATA;
    }
    if (r >= 0)
        r = verdict(ctx, result, &cfg, &f);
    facts_done(&f);
    return r;
}

const struct posture_check_desc posture_check_os_patch_level = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "os.patch_level",
    .version = "1.0.0",
    .summary = "Pending security updates, reboot required, package list age, automatic updates",
    .flags = 0,
    .options = options,
    .init = NULL,
    .run = os_patch_level_run,
    .fini = NULL,
};
