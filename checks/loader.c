/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The external check loaders (loader.h): the trust rule, shared objects and exec checks. Both
 * end in posture_registry_add_owned(), which validates the descriptor as for built-ins; the
 * registry calls our release hooks (loader_internal.h) when it is freed.
 */
#include "posture/loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/parse.h"
#include "posture/strv.h"

#include "loader_internal.h"

/* Check ids are at most 64 bytes (posture_check_name_is_valid). */
#define CHECK_NAME_MAX 64

/* ---- The trust rule ---- */

__attribute__((format(printf, 3, 4))) static void
say(char *why, size_t why_size, const char *format, ...)
{
    if (!why || why_size == 0)
        return;
    va_list ap;
    va_start(ap, format);
    (void) vsnprintf(why, why_size, format, ap);
    va_end(ap);
}

/* Judge one object (what: "file", "directory") against the rule. */
static int judge(const struct stat *st,
                 uid_t owner,
                 const char *prefix,
                 const char *what,
                 const char *path,
                 char *why,
                 size_t why_size)
{
    if (st->st_uid != owner) {
        if (owner == 0)
            say(why, why_size, "%s%s %s is owned by uid %u, not root", prefix, what, path,
                (unsigned) st->st_uid);
        else
            say(why, why_size, "%s%s %s is owned by uid %u, not uid %u", prefix, what, path,
                (unsigned) st->st_uid, (unsigned) owner);
        return -EPERM;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        say(why, why_size, "%s%s %s is group- or world-writable (mode %04o)", prefix, what, path,
            (unsigned) (st->st_mode & 07777));
        return -EPERM;
    }
    return 0;
}

/* Split an absolute path into its directory ("/" for top-level names) and last component. */
static int split_path(const char *path, char *dir, size_t dir_size, const char **ret_base)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash[1] == '\0')
        return -EINVAL;
    size_t n = slash == path ? 1 : (size_t) (slash - path);
    if (n >= dir_size)
        return -ENAMETOOLONG;
    memcpy(dir, path, n);
    dir[n] = '\0';
    *ret_base = slash + 1;
    return 0;
}

/* Open and judge the directory of path; *ret_dfd is an O_PATH fd of the directory judged. */
static int open_dir_checked(const char *path,
                            uid_t owner,
                            const char *prefix,
                            int *ret_dfd,
                            const char **ret_base,
                            char *why,
                            size_t why_size)
{
    char dir[PATH_MAX];
    struct stat st;

    int r = split_path(path, dir, sizeof(dir), ret_base);
    if (r < 0) {
        say(why, why_size, "%s%s is not an absolute file path", prefix, path);
        return r;
    }
    posture_autoclose int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        r = posture_negative_errno();
        say(why, why_size, "%scannot open directory %s: %s", prefix, dir, posture_errno_name(r));
        return r;
    }
    if (fstat(dfd, &st) < 0)
        return posture_negative_errno();
    r = judge(&st, owner, prefix, "directory", dir, why, why_size);
    if (r < 0)
        return r;
    *ret_dfd = POSTURE_TAKE_FD(dfd);
    return 0;
}

/* Open path (its last component not a symlink) and judge it and its directory. */
static int
open_checked(const char *path, uid_t owner, const char *prefix, int *ret_fd, char *why, size_t n)
{
    posture_autoclose int dfd = -1;
    const char *base;
    struct stat st;

    int r = open_dir_checked(path, owner, prefix, &dfd, &base, why, n);
    if (r < 0)
        return r;
    /* Look before opening, so a FIFO or device is never opened at all. */
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        r = posture_negative_errno();
        say(why, n, "%scannot stat %s: %s", prefix, path, posture_errno_name(r));
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        say(why, n, "%s%s is not a regular file", prefix, path);
        return -EPERM;
    }
    posture_autoclose int fd =
        openat(dfd, base, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        r = posture_negative_errno();
        say(why, n, "%scannot open %s: %s", prefix, path, posture_errno_name(r));
        return r;
    }
    /* Judge what we opened, not what we looked at. */
    if (fstat(fd, &st) < 0)
        return posture_negative_errno();
    if (!S_ISREG(st.st_mode)) {
        say(why, n, "%s%s is not a regular file", prefix, path);
        return -EPERM;
    }
    r = judge(&st, owner, prefix, "file", path, why, n);
    if (r < 0)
        return r;
    *ret_fd = POSTURE_TAKE_FD(fd);
    return 0;
}

int posture_trust_open(const char *path, uid_t owner, int *ret_fd, char *why, size_t why_size)
{
    struct stat st;
    int r;

    POSTURE_RETURN_IF_FAIL(path, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_fd, -EINVAL);

    if (why && why_size > 0)
        why[0] = '\0';
    if (path[0] != '/') {
        say(why, why_size, "%s is not an absolute path", path);
        return -EINVAL;
    }
    if (lstat(path, &st) < 0) {
        r = posture_negative_errno();
        say(why, why_size, "cannot stat %s: %s", path, posture_errno_name(r));
        return r;
    }
    if (!S_ISLNK(st.st_mode))
        return open_checked(path, owner, "", ret_fd, why, why_size);

    /* A symlink: whoever can rewrite the link decides what we load, so its directory must be
     * trusted too; then the target is judged as if it had been named directly. */
    posture_autoclose int link_dfd = -1;
    const char *base;
    r = open_dir_checked(path, owner, "symlink: ", &link_dfd, &base, why, why_size);
    if (r < 0)
        return r;
    posture_autofree char *target = realpath(path, NULL);
    if (!target) {
        r = posture_negative_errno();
        say(why, why_size, "symlink %s does not resolve: %s", path, posture_errno_name(r));
        return r;
    }
    char prefix[PATH_MAX + 32];
    (void) snprintf(prefix, sizeof(prefix), "symlink %s -> %s: ", path, target);
    return open_checked(target, owner, prefix, ret_fd, why, why_size);
}

/* ---- Shared helpers ---- */

static void diag(const struct posture_loader_opts *opts, int level, const char *path, const char *m)
{
    if (opts->diag)
        opts->diag(level, path, m, opts->userdata);
}

__attribute__((format(printf, 4, 5))) static void
diagf(const struct posture_loader_opts *opts, int level, const char *path, const char *format, ...)
{
    char buf[POSTURE_LOADER_WHY_MAX];
    va_list ap;

    if (!opts->diag)
        return;
    va_start(ap, format);
    (void) vsnprintf(buf, sizeof(buf), format, ap);
    va_end(ap);
    opts->diag(level, path, buf, opts->userdata);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

typedef int (*load_one_fn)(struct posture_registry *reg,
                           const char *path,
                           const struct posture_loader_opts *opts);

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * The entries of dir accepted by want(), sorted. The directory itself must pass the trust rule
 * (judged on the fd we read it through). NULL list and 0 when it does not exist.
 */
static int list_dir(const char *dir,
                    const struct posture_loader_opts *opts,
                    bool (*want)(const char *name),
                    char ***ret)
{
    char why[POSTURE_LOADER_WHY_MAX];
    posture_auto_strv char **names = NULL;
    size_t n = 0;
    struct stat st;

    *ret = NULL;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int r = posture_negative_errno();
        if (r == -ENOENT)
            diag(opts, LOG_DEBUG, dir, "no such directory, nothing to load");
        else
            diagf(opts, LOG_WARNING, dir, "cannot open the directory (%s), ignoring",
                  posture_errno_name(r));
        return 0;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        (void) close(fd);
        return -ENOMEM;
    }
    POSTURE_CLEANUP(posture_closedirp) DIR *dp = d;
    if (fstat(dirfd(dp), &st) < 0 ||
        judge(&st, opts->owner, "", "directory", dir, why, sizeof(why)) < 0) {
        diagf(opts, LOG_WARNING, dir, "refusing every check in it: %s", why);
        return 0;
    }

    for (struct dirent *de; (de = readdir(dp));) {
        if (de->d_name[0] == '.' || !want(de->d_name))
            continue;
        if (n >= POSTURE_LOADER_DIR_ENTRIES_MAX) {
            diagf(opts, LOG_WARNING, dir, "more than %d entries, ignoring the rest",
                  POSTURE_LOADER_DIR_ENTRIES_MAX);
            break;
        }
        if (posture_strv_extend(&names, de->d_name) < 0)
            return -ENOMEM;
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof(names[0]), compare_names);
    *ret = POSTURE_TAKE_PTR(names);
    return (int) n;
}

static int load_dir(struct posture_registry *reg,
                    const char *dir,
                    const struct posture_loader_opts *opts,
                    bool (*want)(const char *name),
                    load_one_fn load_one)
{
    posture_auto_strv char **names = NULL;
    int added = 0;

    POSTURE_RETURN_IF_FAIL(reg, -EINVAL);
    POSTURE_RETURN_IF_FAIL(dir, -EINVAL);
    POSTURE_RETURN_IF_FAIL(opts, -EINVAL);

    int r = list_dir(dir, opts, want, &names);
    if (r < 0)
        return r;
    POSTURE_FOREACH_STRV (name, names) {
        char path[PATH_MAX];
        int n = snprintf(path, sizeof(path), "%s%s%s", dir, has_suffix(dir, "/") ? "" : "/", name);
        if (n < 0 || (size_t) n >= sizeof(path)) {
            diagf(opts, LOG_WARNING, dir, "path of %s is too long, ignoring", name);
            continue;
        }
        r = load_one(reg, path, opts);
        if (r < 0)
            return r;
        added += r;
    }
    return added;
}

/* Register desc (owned by data on success). 1 added, 0 refused and reported, -ENOMEM. */
static int add_checked(struct posture_registry *reg,
                       const struct posture_check_desc *desc,
                       enum posture_check_source source,
                       const char *path,
                       void *data,
                       const struct posture_loader_opts *opts)
{
    const char *why = NULL;
    int r = posture_registry_add_owned(reg, desc, source, path, data, &why);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        diagf(opts, LOG_WARNING, path, "refused: %s", why ? why : posture_errno_name(r));
        return 0;
    }
    return 1;
}

/* ---- Exec checks ---- */

/* The descriptor of an exec check lives here; the registry frees it with the release hook. */
struct exec_check {
    struct posture_check_desc desc;
    char name[CHECK_NAME_MAX + 1];
    char *summary;
    int fd; /* the checked executable */
};

/* Never called: the runner executes exec checks instead (the registry wants a run function). */
static int
exec_run_unused(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    (void) ctx;
    (void) state;
    (void) result;
    return -EOPNOTSUPP;
}

void posture_loader_exec_release(void *data)
{
    struct exec_check *e = data;
    if (!e)
        return;
    (void) posture_close_safe(e->fd);
    free(e->summary);
    free(e);
}

int posture_loader_exec_fd(const struct posture_check *c)
{
    POSTURE_RETURN_IF_FAIL(c, -EINVAL);
    if (c->source != POSTURE_CHECK_SOURCE_EXEC || !c->loader_data)
        return -EINVAL;
    const struct exec_check *e = c->loader_data;
    return e->fd;
}

/* Package-manager leftovers and editor backups (never checks, never worth a line). */
static bool exec_name_ignored(const char *name)
{
    static const char *const suffixes[] = { "~", ".rpmnew", ".rpmsave", ".rpmorig" };

    if (strstr(name, ".dpkg-") || strstr(name, ".ucf-"))
        return true;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(suffixes); i++)
        if (has_suffix(name, suffixes[i]))
            return true;
    return false;
}

static bool exec_want(const char *name)
{
    return !exec_name_ignored(name);
}

int posture_loader_load_exec(struct posture_registry *reg,
                             const char *path,
                             const struct posture_loader_opts *opts)
{
    char why[POSTURE_LOADER_WHY_MAX];
    struct stat st;

    POSTURE_RETURN_IF_FAIL(reg, -EINVAL);
    POSTURE_RETURN_IF_FAIL(path, -EINVAL);
    POSTURE_RETURN_IF_FAIL(opts, -EINVAL);

    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    if (name[0] == '.' || exec_name_ignored(name))
        return 0;
    if (!posture_check_name_is_valid(name)) {
        /* Directories of other kinds (a README, a subdirectory) are not worth a warning. */
        diag(opts, LOG_INFO, path,
             "file name is not a check id ([a-z0-9_]+(.[a-z0-9_]+)*), skipping");
        return 0;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        diag(opts, LOG_DEBUG, path, "a directory, skipping");
        return 0;
    }

    posture_autoclose int fd = -1;
    int r = posture_trust_open(path, opts->owner, &fd, why, sizeof(why));
    if (r < 0) {
        diagf(opts, LOG_WARNING, path, "refused: %s", why);
        return 0;
    }
    if (fstat(fd, &st) < 0 || !(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) {
        diag(opts, LOG_WARNING, path, "refused: not executable");
        return 0;
    }

    struct exec_check *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->fd = POSTURE_TAKE_FD(fd);
    (void) snprintf(e->name, sizeof(e->name), "%s", name);
    if (asprintf(&e->summary, "exec check %s", path) < 0) {
        e->summary = NULL;
        posture_loader_exec_release(e);
        return -ENOMEM;
    }
    e->desc = (struct posture_check_desc){
        POSTURE_CHECK_DESC_HEADER,
        .name = e->name,
        /* Known only from its output; list-checks shows "-". */
        .version = "-",
        .summary = e->summary,
        .run = exec_run_unused,
    };
    r = add_checked(reg, &e->desc, POSTURE_CHECK_SOURCE_EXEC, path, e, opts);
    if (r <= 0)
        posture_loader_exec_release(e);
    return r;
}

int posture_loader_load_exec_dir(struct posture_registry *reg,
                                 const char *dir,
                                 const struct posture_loader_opts *opts)
{
    return load_dir(reg, dir, opts, exec_want, posture_loader_load_exec);
}

/* ---- Shared objects ---- */

struct so_check {
    void *dl;
    int fd;           /* the checked file; its /proc/self/fd name is what dlopen saw */
    char dl_name[64]; /* "/proc/self/fd/N" */
};

/*
 * glibc finds already loaded objects by name before it opens anything (and remembers a second
 * name when dlopen meets an object it has by inode), so two plugins must never be loaded under
 * the same "/proc/self/fd/N" name: each keeps its fd open while loaded, the loader refuses a
 * file that is already loaded before calling dlopen, and an object that stays mapped after
 * dlclose() (RTLD_NODELETE, unique symbols, the same file in another live registry) keeps its
 * fd open for good, so the number is never reused for another plugin. What glibc could still do
 * with a reused name is hand back the wrong object, whose descriptor name then differs from the
 * file name: refused, never run.
 */
void posture_loader_so_release(void *data)
{
    struct so_check *s = data;
    if (!s)
        return;
    if (s->dl)
        (void) dlclose(s->dl);
    void *still = dlopen(s->dl_name, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (still)
        (void) dlclose(still); /* keep s->fd open: see above */
    else
        (void) posture_close_safe(s->fd);
    free(s);
}

/* The id of a .so check in reg loaded from the same file as fd, or NULL. */
static const char *so_loaded_as(const struct posture_registry *reg, int fd)
{
    struct stat st, other;

    if (fstat(fd, &st) < 0)
        return NULL;
    for (size_t i = 0; i < posture_registry_count(reg); i++) {
        const struct posture_check *c = posture_registry_at(reg, i);
        const struct so_check *s = c->loader_data;
        if (c->source != POSTURE_CHECK_SOURCE_SO || !s || s->fd < 0)
            continue;
        if (fstat(s->fd, &other) == 0 && other.st_dev == st.st_dev && other.st_ino == st.st_ino)
            return c->desc->name;
    }
    return NULL;
}

static bool so_want(const char *name)
{
    return has_suffix(name, ".so");
}

int posture_loader_load_so(struct posture_registry *reg,
                           const char *path,
                           const struct posture_loader_opts *opts)
{
    char why[POSTURE_LOADER_WHY_MAX];
    char id[CHECK_NAME_MAX + 1];

    POSTURE_RETURN_IF_FAIL(reg, -EINVAL);
    POSTURE_RETURN_IF_FAIL(path, -EINVAL);
    POSTURE_RETURN_IF_FAIL(opts, -EINVAL);

    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    size_t n = strlen(name);
    if (name[0] == '.' || !has_suffix(name, ".so"))
        return 0;
    n -= 3;
    if (n == 0 || n > CHECK_NAME_MAX) {
        diag(opts, LOG_WARNING, path, "refused: file name is not <check id>.so");
        return 0;
    }
    memcpy(id, name, n);
    id[n] = '\0';
    if (!posture_check_name_is_valid(id)) {
        diag(opts, LOG_WARNING, path,
             "refused: file name is not <check id>.so (ids are [a-z0-9_]+(.[a-z0-9_]+)*)");
        return 0;
    }

    /* The name must equal the file name, so a duplicate is known before anything is loaded
     * (and its constructors never run). */
    if (posture_registry_find(reg, id)) {
        diag(opts, LOG_WARNING, path, "refused: a check of that name is already registered");
        return 0;
    }

    posture_autoclose int fd = -1;
    int r = posture_trust_open(path, opts->owner, &fd, why, sizeof(why));
    if (r < 0) {
        diagf(opts, LOG_WARNING, path, "refused: %s", why);
        return 0;
    }
    const char *twin = so_loaded_as(reg, fd);
    if (twin) {
        /* dlopen would hand back the loaded object under a second name (see release). */
        diagf(opts, LOG_WARNING, path, "refused: the same file is already loaded as %s", twin);
        return 0;
    }

    struct so_check *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fd = -1;
    (void) snprintf(s->dl_name, sizeof(s->dl_name), "/proc/self/fd/%d", fd);
    void *other = dlopen(s->dl_name, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (other) {
        /* Cannot happen while release keeps fds of mapped plugins open; never load the wrong
         * object if it does. */
        (void) dlclose(other);
        free(s);
        diag(opts, LOG_WARNING, path, "refused: another object is loaded under its fd name");
        return 0;
    }

    /* dlopen runs the plugin's constructors in this process: only trusted files get here. */
    s->dl = dlopen(s->dl_name, RTLD_NOW | RTLD_LOCAL);
    if (!s->dl) {
        const char *e = dlerror();
        free(s);
        diagf(opts, LOG_WARNING, path, "refused: cannot load it: %s", e ? e : "dlopen failed");
        return 0;
    }
    s->fd = POSTURE_TAKE_FD(fd);

    (void) dlerror();
    posture_check_entry_fn entry;
    void *sym = dlsym(s->dl, POSTURE_CHECK_ENTRY_SYMBOL);
    /* POSIX: a function pointer may be converted from dlsym's void * this way. */
    memcpy(&entry, &sym, sizeof(entry));
    if (!sym) {
        posture_loader_so_release(s);
        diag(opts, LOG_WARNING, path, "refused: it does not export " POSTURE_CHECK_ENTRY_SYMBOL);
        return 0;
    }
    const struct posture_check_desc *desc = entry();
    if (!desc) {
        posture_loader_so_release(s);
        diag(opts, LOG_WARNING, path, "refused: " POSTURE_CHECK_ENTRY_SYMBOL "() returned NULL");
        return 0;
    }
    /*
     * The name is read only once the header says the descriptor is large enough to have one
     * (the registry checks abi_major and struct_size first, and refuses with its own reason).
     */
    if (desc->abi_major == POSTURE_CHECK_ABI_MAJOR &&
        desc->struct_size >= sizeof(struct posture_check_desc) && desc->name &&
        posture_check_name_is_valid(desc->name) && strcmp(desc->name, id) != 0) {
        diagf(opts, LOG_WARNING, path, "refused: its check is named '%s', not '%s' as the file",
              desc->name, id);
        posture_loader_so_release(s);
        return 0;
    }
    r = add_checked(reg, desc, POSTURE_CHECK_SOURCE_SO, path, s, opts);
    if (r <= 0)
        posture_loader_so_release(s);
    return r;
}

int posture_loader_load_so_dir(struct posture_registry *reg,
                               const char *dir,
                               const struct posture_loader_opts *opts)
{
    return load_dir(reg, dir, opts, so_want, posture_loader_load_so);
}
