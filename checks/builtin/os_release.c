/* SPDX-License-Identifier: Apache-2.0 */
/*
 * os.release (DESIGN.md §6): which operating system, kernel and architecture this is.
 * Informational: PASS whenever os-release is readable, ERROR when it is not.
 */
#include "os_release.h"

#include <string.h>
#include <sys/utsname.h>

#include "posture/check.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/strv.h"

#define OS_RELEASE_ETC "/etc/os-release"
#define OS_RELEASE_USR "/usr/lib/os-release"
/* A kernel release or architecture name is one short line. */
#define KERNEL_LINE_MAX 256

#define REMEDIATION_RESTORE \
    "Restore " OS_RELEASE_USR " from the distribution's base-files (or system-release) package."

/* Thread-safe text for an errno (strerror() is not). */
static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

/*
 * First line of a small file inside the root, trimmed; *ret = NULL when the file is missing,
 * empty or unreadable (the kernel facts are best effort; a deadline overrun is not).
 */
static int read_short_line(const struct posture_check_ctx *ctx, const char *path, char **ret)
{
    char *buf = NULL;

    *ret = NULL;
    int r = ctx->api->read_file_at(ctx, path, KERNEL_LINE_MAX, &buf, NULL);
    if (r == -ETIMEDOUT)
        return r;
    if (r < 0) {
        ctx->api->log_debug(ctx, "%s not readable (%s), ignoring", path, posture_errno_name(r));
        return 0;
    }
    size_t n = strcspn(buf, "\r\n");
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    size_t start = strspn(buf, " \t");
    char *line = start < n ? strndup(buf + start, n - start) : NULL;
    bool oom = start < n && !line;
    ctx->api->free_buf(buf);
    if (oom)
        return -ENOMEM;
    *ret = line;
    return 0;
}

/* Kernel release and architecture: the root's procfs, or uname() when the root is the host. */
static int read_kernel(const struct posture_check_ctx *ctx, char **ret_kernel, char **ret_arch)
{
    posture_autofree char *kernel = NULL, *arch = NULL;
    struct utsname u;

    int r = read_short_line(ctx, "/proc/sys/kernel/osrelease", &kernel);
    if (r < 0)
        return r;
    r = read_short_line(ctx, "/proc/sys/kernel/arch", &arch);
    if (r < 0)
        return r;

    if ((!kernel || !arch) && posture_root_is_host(ctx->root_fd) && uname(&u) == 0) {
        if (!kernel && !(kernel = strdup(u.release)))
            return -ENOMEM;
        if (!arch && !(arch = strdup(u.machine)))
            return -ENOMEM;
    }
    *ret_kernel = POSTURE_TAKE_PTR(kernel);
    *ret_arch = POSTURE_TAKE_PTR(arch);
    return 0;
}

/* Read /etc/os-release, else /usr/lib/os-release; *ret_source names the one read. */
static int read_os_release(const struct posture_check_ctx *ctx,
                           struct posture_result *result,
                           char **ret_buf,
                           size_t *ret_len,
                           const char **ret_source)
{
    static const char *const paths[] = { OS_RELEASE_ETC, OS_RELEASE_USR };
    const struct posture_host_api *api = ctx->api;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        int r = api->read_file_at(ctx, paths[i], POSTURE_OS_RELEASE_FILE_MAX, ret_buf, ret_len);
        if (r >= 0) {
            *ret_source = paths[i];
            return 0;
        }
        if (r == -ENOENT)
            continue;
        if (r == -EFBIG)
            (void) api->set_reason(result, "%s is larger than %u KiB; it is not an os-release file",
                                   paths[i], (unsigned) (POSTURE_OS_RELEASE_FILE_MAX / 1024));
        else
            (void) api->set_reason(result, "Could not read %s: %s", paths[i], error_text(r));
        (void) api->evidence_add_str(result, "source", paths[i]);
        return r;
    }

    (void) api->set_reason(result, "Neither " OS_RELEASE_ETC " nor " OS_RELEASE_USR " exists");
    (void) api->set_remediation(result, "Install the distribution's base-files (or system-release) "
                                        "package, which provides " OS_RELEASE_USR ".");
    return -ENOENT;
}

static int add_evidence(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        const struct posture_os_release *os,
                        const char *kernel,
                        const char *arch,
                        const char *source)
{
    const struct posture_host_api *api = ctx->api;
    posture_auto_strv char **id_like = NULL;

    int n = posture_strv_split(os->id_like ? os->id_like : "", " \t", &id_like);
    if (n < 0)
        return n;

    int r = api->evidence_add_str(result, "id", os->id);
    if (r >= 0)
        r = api->evidence_add_str(result, "version_id", os->version_id);
    if (r >= 0)
        r = api->evidence_add_str(result, "pretty_name", os->pretty_name);
    if (r >= 0)
        r = api->evidence_add_str(result, "name", os->name);
    if (r >= 0)
        r = api->evidence_add_str(result, "version_codename", os->version_codename);
    if (r >= 0)
        r = api->evidence_add_strv(result, "id_like", (const char *const *) id_like, (size_t) n);
    if (r >= 0)
        r = api->evidence_add_str(result, "kernel", kernel);
    if (r >= 0)
        r = api->evidence_add_str(result, "arch", arch);
    if (r >= 0)
        r = api->evidence_add_str(result, "source", source);
    if (r >= 0)
        r = api->evidence_add_int(result, "ignored_lines", os->n_ignored);
    return r;
}

static int
os_release_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    struct posture_os_release os = { 0 };
    posture_autofree char *kernel = NULL, *arch = NULL;
    const char *source = NULL;
    char *buf = NULL;
    size_t len = 0;

    (void) state;
    int r = read_os_release(ctx, result, &buf, &len, &source);
    if (r < 0)
        return r;
    r = posture_os_release_parse(buf, len, &os);
    api->free_buf(buf);
    if (r == -EBADMSG) {
        (void) api->set_reason(result, "%s contains a NUL byte; it is not an os-release file",
                               source);
        (void) api->set_remediation(result, REMEDIATION_RESTORE);
        (void) api->evidence_add_str(result, "source", source);
        return r;
    }
    if (r < 0)
        return r;
    if (r == 0) {
        (void) api->set_reason(result, "%s contains no KEY=value assignments", source);
        (void) api->set_remediation(result, REMEDIATION_RESTORE);
        (void) api->evidence_add_str(result, "source", source);
        (void) api->evidence_add_int(result, "ignored_lines", os.n_ignored);
        posture_os_release_done(&os);
        return -EBADMSG;
    }

    r = read_kernel(ctx, &kernel, &arch);
    if (r >= 0)
        r = add_evidence(ctx, result, &os, kernel, arch, source);
    if (r >= 0) {
        if (kernel && arch)
            r = api->set_reason(result, "%s, kernel %s (%s)", os.pretty_name, kernel, arch);
        else if (kernel)
            r = api->set_reason(result, "%s, kernel %s", os.pretty_name, kernel);
        else if (arch)
            r = api->set_reason(result, "%s (%s)", os.pretty_name, arch);
        else
            r = api->set_reason(result, "%s", os.pretty_name);
    }
    if (r >= 0)
        r = api->set_status(result, POSTURE_STATUS_PASS);
    posture_os_release_done(&os);
    return r;
}

const struct posture_check_desc posture_check_os_release = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "os.release",
    .version = "1.0.0",
    .summary = "Operating system identity, kernel release and architecture",
    .flags = 0,
    .options = NULL,
    .init = NULL,
    .run = os_release_run,
    .fini = NULL,
};
