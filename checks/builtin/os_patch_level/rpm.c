/* SPDX-License-Identifier: Apache-2.0 */
/* RPM family: dnf / yum run cache-only with a timeout, their metadata age, installed kernels. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/spawn.h"
#include "posture/strutil.h"
#include "posture/strv.h"

#include "dnf.h"
#include "patch.h"

/* updateinfo of an old RHEL can list thousands of advisories (about 80 bytes each). */
#define DNF_STDOUT_MAX ((size_t) 8 * 1024 * 1024)
/* Directory entries looked at per directory level. */
#define DIR_ENTRIES_MAX 1024

void posture_dnf_facts_done(struct posture_dnf_facts *f)
{
    if (!f)
        return;
    f->security_names = posture_strv_free(f->security_names);
    f->pending = 0;
    f->pending_security = 0;
}

/* The first non-empty line of s, at most 200 bytes, for messages. */
static char *first_line(const char *s)
{
    s += strspn(s, " \t\r\n");
    size_t n = strcspn(s, "\r\n");
    if (n > 200)
        n = 200;
    return strndup(s, n);
}

static int run_tool(const char *const *argv,
                    uint64_t timeout_usec,
                    struct posture_spawn_result *ret,
                    char **ret_why)
{
    struct posture_spawn_opts o = {
        .argv = argv,
        .envp = NULL, /* PATH and LANG=C only */
        .search_path = true,
        .timeout_usec = timeout_usec,
        .stdout_max = DNF_STDOUT_MAX,
        .stderr_max = (size_t) 16 * 1024,
    };
    struct posture_spawn_result res = { 0 };

    int r = posture_spawn_run(&o, &res);
    if (r < 0) {
        if (r != -ENOMEM)
            (void) posture_set_printf(ret_why, "cannot run %s (%s)", argv[0],
                                      posture_errno_name(r));
        return r;
    }
    if (res.timed_out) {
        (void) posture_set_printf(ret_why, "%s %s did not finish within %llu s", argv[0], argv[3],
                                  (unsigned long long) ((timeout_usec + 999999) / 1000000));
        posture_spawn_result_done(&res);
        return -ETIMEDOUT;
    }
    if (res.stdout_truncated) {
        (void) posture_set_printf(ret_why, "%s %s printed more than %zu MiB", argv[0], argv[3],
                                  DNF_STDOUT_MAX >> 20);
        posture_spawn_result_done(&res);
        return -E2BIG;
    }
    *ret = res;
    return 0;
}

static int exit_error(const char *const *argv, const struct posture_spawn_result *res, char **why)
{
    posture_autofree char *line = first_line(res->err[0] ? res->err : res->out);
    if (res->term_signal)
        (void) posture_set_printf(why, "%s %s was killed by signal %d", argv[0], argv[3],
                                  res->term_signal);
    else
        (void) posture_set_printf(why, "%s %s exited with status %d%s%s", argv[0], argv[3],
                                  res->exit_code, line && *line ? ": " : "", line ? line : "");
    return -EIO;
}

int posture_dnf_collect(const char *tool,
                        uint64_t timeout_usec,
                        const char *native_arch,
                        struct posture_dnf_facts *ret,
                        char **ret_why)
{
    /* yum 3 (RHEL 7) takes the advisory type as a word; dnf 4 and 5 as an option. */
    bool yum3 = strcmp(tool, "yum") == 0;
    const char *const info_argv[] = { tool,         "-C",   "-q",
                                      "updateinfo", "list", yum3 ? "security" : "--security",
                                      NULL };
    const char *const check_argv[] = { tool, "-C", "-q", "check-update", NULL };
    struct posture_spawn_result res = { 0 };
    struct posture_dnf_updateinfo info = { 0 };
    size_t ignored = 0;

    *ret_why = NULL;
    int r = run_tool(info_argv, timeout_usec, &res, ret_why);
    if (r < 0)
        return r;
    if (res.exit_code != 0) {
        r = exit_error(info_argv, &res, ret_why);
        posture_spawn_result_done(&res);
        return r;
    }
    r = posture_dnf_parse_updateinfo(res.out, res.out_len, native_arch, &info);
    if (r == -EBADMSG) {
        posture_autofree char *line = first_line(res.out);
        (void) posture_set_printf(ret_why,
                                  "the output of %s updateinfo was not understood (\"%s\")", tool,
                                  line ? line : "");
    }
    posture_spawn_result_done(&res);
    if (r < 0)
        return r;

    r = run_tool(check_argv, timeout_usec, &res, ret_why);
    if (r < 0) {
        posture_dnf_updateinfo_done(&info);
        return r;
    }
    /* check-update: 100 updates available, 0 none, anything else an error. */
    int pending = 0;
    if (res.exit_code == 100) {
        pending = posture_dnf_parse_check_update(res.out, res.out_len, &ignored);
        if (pending == 0)
            pending = -EBADMSG;
        if (pending == -EBADMSG) {
            posture_autofree char *line = first_line(res.out);
            (void) posture_set_printf(ret_why,
                                      "the output of %s check-update was not understood (\"%s\")",
                                      tool, line ? line : "");
        }
    } else if (res.exit_code != 0) {
        pending = exit_error(check_argv, &res, ret_why);
    }
    posture_spawn_result_done(&res);
    if (pending < 0) {
        posture_dnf_updateinfo_done(&info);
        return pending;
    }

    *ret = (struct posture_dnf_facts){
        .pending = (size_t) pending,
        .pending_security = info.n_names,
        .security_names = info.names,
    };
    /* updateinfo names every binary package of an advisory; check-update may group them
     * differently. Security updates are updates. */
    if (ret->pending < ret->pending_security)
        ret->pending = ret->pending_security;
    return 0;
}

/* ---- Metadata age ---- */

/* opendir() of path below dfd (which may be O_PATH); NULL on any error. */
static DIR *opendir_at(int dfd, const char *path)
{
    int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d)
        (void) close(fd);
    return d;
}

static uint64_t mtime_at(int dfd, const char *path)
{
    struct stat st;
    if (fstatat(dfd, path, &st, 0) < 0 || !S_ISREG(st.st_mode) || st.st_mtim.tv_sec < 0)
        return 0;
    return (uint64_t) st.st_mtim.tv_sec;
}

/* Newest <dir>/<entry>/<leaf> (depth 1) or <dir>/<a>/<b>/<entry>/<leaf> (depth 3, yum 3's
 * var/cache/yum/<basearch>/<releasever>/<repo>/repomd.xml). */
static uint64_t newest_below(int dfd, const char *leaf, unsigned depth)
{
    uint64_t best = 0;
    DIR *d = opendir_at(dfd, ".");
    if (!d)
        return 0;
    struct dirent *de;
    unsigned seen = 0;
    while ((de = readdir(d)) && seen++ < DIR_ENTRIES_MAX) {
        if (de->d_name[0] == '.')
            continue;
        posture_autoclose int sub =
            openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        uint64_t t = depth <= 1 ? mtime_at(sub, leaf) : newest_below(sub, leaf, depth - 1);
        if (t > best)
            best = t;
    }
    (void) closedir(d);
    return best;
}

uint64_t posture_dnf_metadata_mtime(int root_fd)
{
    static const struct {
        const char *dir;
        unsigned depth;
    } caches[] = {
        { "var/cache/dnf", 1 },     /* dnf 4: <repo>-<hash>/repodata/repomd.xml */
        { "var/cache/libdnf5", 1 }, /* dnf 5 */
        { "var/cache/yum", 3 },     /* yum 3: <basearch>/<releasever>/<repo>/repomd.xml */
    };
    uint64_t best = 0;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(caches); i++) {
        posture_autoclose int fd = -1;
        if (posture_open_at_root(root_fd, caches[i].dir, O_PATH | O_DIRECTORY, &fd) < 0)
            continue;
        uint64_t t = newest_below(fd, caches[i].depth == 1 ? "repodata/repomd.xml" : "repomd.xml",
                                  caches[i].depth);
        if (t > best)
            best = t;
    }
    return best;
}

/* ---- Installed kernels ---- */

/* Append the releases found in one directory: entries "<prefix><release>" (boot/) or
 * "<release>/vmlinuz" (usr/lib/modules/). */
static int scan_kernels(int root_fd, const char *dir, const char *prefix, char ***l)
{
    DIR *d = NULL;
    int n = 0;

    int r = posture_opendir_at_root(root_fd, dir, &d);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return 0; /* no such directory (or not readable): no kernels there */
    struct dirent *de;
    unsigned seen = 0;
    r = 0;
    while ((de = readdir(d)) && seen++ < DIR_ENTRIES_MAX) {
        const char *rel = de->d_name;
        struct stat st;
        char path[300];
        if (prefix) {
            if (strncmp(rel, prefix, strlen(prefix)) != 0)
                continue;
            rel += strlen(prefix);
            if (strstr(rel, "rescue") || fstatat(dirfd(d), de->d_name, &st, 0) < 0 ||
                !S_ISREG(st.st_mode))
                continue;
        } else if (snprintf(path, sizeof(path), "%s/vmlinuz", rel) >= (int) sizeof(path) ||
                   fstatat(dirfd(d), path, &st, 0) < 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (rel[0] < '0' || rel[0] > '9' || posture_strv_contains(*l, rel))
            continue;
        r = posture_strv_extend(l, rel);
        if (r < 0)
            break;
        n++;
    }
    (void) closedir(d);
    return r < 0 ? r : n;
}

int posture_rpm_kernels(int root_fd, char ***ret)
{
    posture_auto_strv char **l = calloc(1, sizeof(char *));

    if (!l)
        return -ENOMEM;
    /* Fedora and RHEL 8+ keep the image beside the modules; RHEL 7 only in /boot. */
    int n = scan_kernels(root_fd, "usr/lib/modules", NULL, &l);
    if (n == 0)
        n = scan_kernels(root_fd, "boot", "vmlinuz-", &l);
    if (n < 0)
        return n;
    posture_strv_sort(l);
    *ret = POSTURE_TAKE_PTR(l);
    return n;
}
