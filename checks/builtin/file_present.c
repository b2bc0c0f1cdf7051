/* SPDX-License-Identifier: Apache-2.0 */
/*
 * file.present (issue 7): configured files exist (the company CA bundle, an MDM marker), with
 * optional pins of their SHA-256, owner and mode.
 *
 * Options: files (absolute paths), sha256 ("path=hex"), owner ("path=user" or "path=uid"),
 * mode ("path=0644"). Every pinned path must be listed in files. Nothing listed:
 * not_applicable.
 *
 * Each path is resolved inside the root (posture_open_at_root: symlinks are followed but cannot
 * leave the root, /proc magic links are refused), so the checked properties are those of the
 * final target. A missing file (or a missing directory on its way) fails.
 *  - sha256: SHA-256 of the file's bytes, at most POSTURE_DIGEST_SIZE_MAX, within the deadline;
 *    the file must be a regular file (a directory, device or FIFO differs: "type"). The file is
 *    opened O_NONBLOCK and must still be the inode that was examined.
 *  - owner: a user name is looked up in the root's /etc/passwd only (no NSS: an LDAP lookup
 *    could block), so users of a directory service are pinned by uid. A name that is not there
 *    makes the check ERROR.
 *  - mode: a maximum, not an exact value: the file passes when it has no permission bit the pin
 *    lacks (0644 accepts 0644, 0640 and 0600; refuses 0664, 0666 and 04755). Setuid, setgid
 *    and sticky bits count as bits.
 *
 * Verdict: FAIL when a file is missing or a pin differs (that is definite even when another
 * file could not be examined); otherwise ERROR when a file could not be examined (permission,
 * too large to hash, a symlink loop), else PASS.
 *
 * Evidence: files [{path, present, type, owner_uid, mode, size, sha256 (pinned only), differs,
 * match}]; present, type, owner_uid, mode, size and match are null when unknown.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
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
#include "posture/parse.h"

#include "file_digest.h"

#define FILES_MAX  64u
#define PASSWD_MAX (16u * 1024u * 1024u)
#define TEXT_MAX   900u
#define USER_MAX   64u

enum {
    D_MISSING = 1u << 0,
    D_TYPE = 1u << 1,
    D_SHA256 = 1u << 2,
    D_OWNER = 1u << 3,
    D_MODE = 1u << 4,
};

struct file {
    const char *path; /* borrowed from the options */
    const char *sha256_pin, *owner_pin, *mode_pin;
    uid_t want_uid;
    mode_t max_mode;
    bool examined; /* st is valid */
    struct stat st;
    bool hashed;
    char sha256[POSTURE_SHA256_HEX_LEN + 1];
    unsigned differs; /* D_* */
    int error;        /* why a property could not be examined, 0 if none */
};

struct files {
    struct file f[FILES_MAX];
    size_t n;
};

static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

static int bad_option(const struct posture_check_ctx *ctx,
                      struct posture_result *result,
                      const char *key,
                      const char *value,
                      const char *why)
{
    (void) ctx->api->set_reason(result, "Invalid option %s: '%s' %s", key, value, why);
    (void) ctx->api->set_remediation(
        result, "Fix [check.file.present]: files lists absolute paths; sha256, owner and mode "
                "list path=<64 hex digits>, path=<user or uid> and path=<octal mode> pins of "
                "listed files.");
    return -EINVAL;
}

static struct file *find_file(struct files *fs, const char *pin, size_t plen)
{
    for (size_t j = 0; j < fs->n; j++)
        if (strlen(fs->f[j].path) == plen && memcmp(fs->f[j].path, pin, plen) == 0)
            return &fs->f[j];
    return NULL;
}

static bool valid_user_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= USER_MAX && strchr(s, ':') == NULL && strchr(s, '\n') == NULL;
}

/* Octal "644", "0644", "04755": at most 07777. */
static int parse_mode(const char *s, mode_t *ret)
{
    size_t n = strlen(s);
    if (n < 3 || n > 5 || strspn(s, "01234567") != n)
        return -EINVAL;
    unsigned long v = strtoul(s, NULL, 8);
    if (v > 07777)
        return -ERANGE;
    *ret = (mode_t) v;
    return 0;
}

static int load_pins(const struct posture_check_ctx *ctx,
                     struct posture_result *result,
                     struct files *fs,
                     const char *key)
{
    const char *const *pins = NULL;
    size_t n = 0;

    int r = ctx->api->option_get_strv(ctx, key, &pins, &n);
    if (r == -ENODATA)
        return 0;
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        size_t plen = 0;
        const char *value = NULL;
        if (posture_pin_split(pins[i], &plen, &value) < 0)
            return bad_option(ctx, result, key, pins[i], "is not path=value");
        struct file *f = find_file(fs, pins[i], plen);
        if (!f)
            return bad_option(ctx, result, key, pins[i], "pins a path that is not in files");
        const char **slot = NULL;
        if (strcmp(key, "sha256") == 0) {
            if (!posture_sha256_hex_is_valid(value))
                return bad_option(ctx, result, key, pins[i], "does not end in 64 hex digits");
            slot = &f->sha256_pin;
        } else if (strcmp(key, "owner") == 0) {
            if (!valid_user_name(value))
                return bad_option(ctx, result, key, pins[i], "does not name a user or uid");
            slot = &f->owner_pin;
        } else {
            mode_t m;
            if (parse_mode(value, &m) < 0)
                return bad_option(ctx, result, key, pins[i],
                                  "is not an octal mode of at most 07777");
            f->max_mode = m;
            slot = &f->mode_pin;
        }
        if (*slot && strcasecmp(*slot, value) != 0)
            return bad_option(ctx, result, key, pins[i], "contradicts an earlier pin");
        *slot = value;
    }
    return 0;
}

static int
load_options(const struct posture_check_ctx *ctx, struct posture_result *result, struct files *fs)
{
    const char *const *files = NULL;
    size_t n = 0;

    int r = ctx->api->option_get_strv(ctx, "files", &files, &n);
    if (r == -ENODATA)
        n = 0;
    else if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (files[i][0] != '/' || strlen(files[i]) >= PATH_MAX)
            return bad_option(ctx, result, "files", files[i], "is not an absolute path");
        if (find_file(fs, files[i], strlen(files[i])))
            continue;
        if (fs->n == FILES_MAX) {
            (void) ctx->api->set_reason(result, "Invalid option files: more than %u paths",
                                        FILES_MAX);
            (void) ctx->api->set_remediation(result,
                                             "List at most 64 files in [check.file.present].");
            return -E2BIG;
        }
        fs->f[fs->n++].path = files[i];
    }
    r = load_pins(ctx, result, fs, "sha256");
    if (r >= 0)
        r = load_pins(ctx, result, fs, "owner");
    if (r >= 0)
        r = load_pins(ctx, result, fs, "mode");
    return r;
}

/* The uid of user name in the root's /etc/passwd: 0, -ENOENT (no such user or no file), or
 * another error reading it. */
static int passwd_lookup(const struct posture_check_ctx *ctx, const char *name, uid_t *ret)
{
    posture_autofree char *buf = NULL;
    size_t len = strlen(name);

    int r = ctx->api->read_file_at(ctx, "/etc/passwd", PASSWD_MAX, &buf, NULL);
    if (r < 0)
        return r;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, name, len) != 0 || line[len] != ':')
            continue;
        const char *p = strchr(line + len + 1, ':'); /* past the password field */
        if (!p)
            continue;
        char uid[16];
        size_t ulen = strcspn(p + 1, ":");
        if (ulen == 0 || ulen >= sizeof(uid))
            continue;
        memcpy(uid, p + 1, ulen);
        uid[ulen] = '\0';
        uint32_t v;
        if (posture_parse_u32(uid, &v) < 0)
            continue;
        *ret = (uid_t) v;
        return 0;
    }
    return -ENOENT;
}

/* Resolve owner pins to uids. A name that is not a user of the root is an ERROR. */
static int
resolve_owners(const struct posture_check_ctx *ctx, struct posture_result *result, struct files *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        struct file *f = &fs->f[i];
        uint32_t v;
        if (!f->owner_pin)
            continue;
        if (posture_parse_u32(f->owner_pin, &v) >= 0) {
            f->want_uid = (uid_t) v;
            continue;
        }
        int r = passwd_lookup(ctx, f->owner_pin, &f->want_uid);
        if (r == -ETIMEDOUT)
            return r;
        if (r < 0) {
            (void) ctx->api->set_reason(result,
                                        "The owner '%s' pinned for %s is not a user in "
                                        "/etc/passwd (%s)",
                                        f->owner_pin, f->path, error_text(r));
            (void) ctx->api->set_remediation(result,
                                             "Pin the owner by uid in [check.file.present] "
                                             "owner (users of a directory service are not in "
                                             "/etc/passwd).");
            return r;
        }
    }
    return 0;
}

static int hash_file(const struct posture_check_ctx *ctx, struct file *f)
{
    posture_autoclose int fd = -1;
    struct stat st;

    int r = posture_open_at_root(ctx->root_fd, f->path, O_RDONLY | O_NONBLOCK, &fd);
    if (r >= 0 && fstat(fd, &st) < 0)
        r = posture_negative_errno();
    if (r >= 0 && (st.st_dev != f->st.st_dev || st.st_ino != f->st.st_ino))
        r = -EAGAIN; /* replaced between the two opens */
    if (r >= 0)
        r = posture_sha256_fd(fd, POSTURE_DIGEST_SIZE_MAX, ctx->api->now_usec, ctx->deadline_usec,
                              f->sha256, NULL);
    if (r == -ETIMEDOUT)
        return r;
    if (r < 0) {
        f->error = r;
        return 0;
    }
    f->hashed = true;
    if (strcasecmp(f->sha256, f->sha256_pin) != 0)
        f->differs |= D_SHA256;
    return 0;
}

static int examine(const struct posture_check_ctx *ctx, struct file *f)
{
    posture_autoclose int fd = -1;

    if (ctx->api->now_usec() >= ctx->deadline_usec)
        return -ETIMEDOUT;
    int r = posture_open_at_root(ctx->root_fd, f->path, O_PATH, &fd);
    if (r == -ENOENT || r == -ENOTDIR) {
        f->differs = D_MISSING;
        return 0;
    }
    if (r >= 0 && fstat(fd, &f->st) < 0)
        r = posture_negative_errno();
    if (r < 0) {
        f->error = r;
        return 0;
    }
    f->examined = true;
    if (f->owner_pin && f->st.st_uid != f->want_uid)
        f->differs |= D_OWNER;
    if (f->mode_pin && (f->st.st_mode & 07777 & ~f->max_mode) != 0)
        f->differs |= D_MODE;
    if (f->sha256_pin) {
        if (!S_ISREG(f->st.st_mode))
            f->differs |= D_TYPE;
        else
            return hash_file(ctx, f);
    }
    return 0;
}

static const char *type_name(mode_t m)
{
    if (S_ISREG(m))
        return "file";
    if (S_ISDIR(m))
        return "directory";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "device";
    if (S_ISFIFO(m))
        return "fifo";
    if (S_ISSOCK(m))
        return "socket";
    return "other";
}

/* match: 1, 0, or -1 when it cannot be decided. */
static int file_match(const struct file *f)
{
    if (f->differs)
        return 0;
    return f->error ? -1 : 1;
}

static int add_evidence(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        const struct files *fs)
{
    const struct posture_host_api *api = ctx->api;
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        { D_MISSING, "missing" }, { D_TYPE, "type" }, { D_SHA256, "sha256" },
        { D_OWNER, "owner" },     { D_MODE, "mode" },
    };

    int r = api->evidence_begin_array(result, "files");
    for (size_t i = 0; r >= 0 && i < fs->n; i++) {
        const struct file *f = &fs->f[i];
        const char *differs[POSTURE_ELEMENTSOF(names)];
        size_t n_differs = 0;
        char mode[8];
        int m = file_match(f);

        for (size_t k = 0; k < POSTURE_ELEMENTSOF(names); k++)
            if (f->differs & names[k].bit)
                differs[n_differs++] = names[k].name;
        (void) snprintf(mode, sizeof(mode), "%04o", (unsigned) (f->st.st_mode & 07777));
        r = api->evidence_begin_object(result, NULL);
        if (r >= 0)
            r = api->evidence_add_str(result, "path", f->path);
        if (r >= 0)
            r = f->examined || (f->differs & D_MISSING)
                    ? api->evidence_add_bool(result, "present", f->examined)
                    : api->evidence_add_str(result, "present", NULL);
        if (r >= 0)
            r = api->evidence_add_str(result, "type",
                                      f->examined ? type_name(f->st.st_mode) : NULL);
        if (r >= 0)
            r = f->examined ? api->evidence_add_int(result, "owner_uid", f->st.st_uid)
                            : api->evidence_add_str(result, "owner_uid", NULL);
        if (r >= 0)
            r = api->evidence_add_str(result, "mode", f->examined ? mode : NULL);
        if (r >= 0)
            r = f->examined ? api->evidence_add_int(result, "size", f->st.st_size)
                            : api->evidence_add_str(result, "size", NULL);
        if (r >= 0 && f->sha256_pin)
            r = api->evidence_add_str(result, "sha256", f->hashed ? f->sha256 : NULL);
        if (r >= 0)
            r = api->evidence_add_strv(result, "differs", differs, n_differs);
        if (r >= 0)
            r = m < 0 ? api->evidence_add_str(result, "match", NULL)
                      : api->evidence_add_bool(result, "match", m == 1);
        if (r >= 0)
            r = api->evidence_end(result);
    }
    if (r >= 0)
        r = api->evidence_end(result);
    return r;
}

/* "; " between phrases of a bounded reason. */
static void phrase(char *buf, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void phrase(char *buf, size_t size, const char *format, ...)
{
    size_t used = strlen(buf);
    if (used + 3 >= size)
        return;
    if (used) {
        memcpy(buf + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, format);
    (void) vsnprintf(buf + used, size - used, format, ap);
    va_end(ap);
}

static int
decide(const struct posture_check_ctx *ctx, struct posture_result *result, const struct files *fs)
{
    const struct posture_host_api *api = ctx->api;
    char why[TEXT_MAX] = "";
    const struct file *first_error = NULL;
    bool missing = false, sha = false;

    for (size_t i = 0; i < fs->n; i++) {
        const struct file *f = &fs->f[i];
        if (f->differs & D_MISSING) {
            phrase(why, sizeof(why), "%s is missing", f->path);
            missing = true;
            continue;
        }
        if (f->differs & D_TYPE)
            phrase(why, sizeof(why), "%s is a %s, not a regular file", f->path,
                   type_name(f->st.st_mode));
        if (f->differs & D_SHA256) {
            phrase(why, sizeof(why), "%s has SHA-256 %s, not the pinned one", f->path, f->sha256);
            sha = true;
        }
        if (f->differs & D_OWNER)
            phrase(why, sizeof(why), "%s is owned by uid %u, not %s", f->path,
                   (unsigned) f->st.st_uid, f->owner_pin);
        if (f->differs & D_MODE)
            phrase(why, sizeof(why), "%s has mode %04o, more permissive than %04o", f->path,
                   (unsigned) (f->st.st_mode & 07777), (unsigned) f->max_mode);
        if (f->error && !first_error)
            first_error = f;
    }
    if (why[0]) {
        (void) api->set_reason(result, "%s", why);
        (void) api->set_remediation(
            result, "%s",
            missing ? "Install the missing files (the company CA bundle, the MDM enrolment), or "
                      "correct [check.file.present] files."
            : sha   ? "Restore the file from its package or your configuration management, or "
                      "update the pin in [check.file.present] sha256 after a legitimate change."
                    : "Restore the file's owner and mode (chown, chmod) from your "
                      "configuration management.");
        return api->set_status(result, POSTURE_STATUS_FAIL);
    }
    if (first_error) {
        (void) api->set_reason(result, "Could not examine %s: %s", first_error->path,
                               error_text(first_error->error));
        (void) api->set_remediation(result, first_error->error == -EACCES
                                                ? "Run the agent as root, or let it read the file."
                                                : "A pinned file must be a regular file of at most "
                                                  "256 MiB without symlink loops.");
        return first_error->error;
    }
    int r = fs->n == 1
                ? api->set_reason(result, "%s is present%s", fs->f[0].path,
                                  fs->f[0].sha256_pin || fs->f[0].owner_pin || fs->f[0].mode_pin
                                      ? " and matches its pins"
                                      : "")
                : api->set_reason(result, "All %zu files are present and match their pins", fs->n);
    return r < 0 ? r : api->set_status(result, POSTURE_STATUS_PASS);
}

static int
file_present_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    posture_autofree struct files *fs = calloc(1, sizeof(*fs));

    (void) state;
    if (!fs)
        return -ENOMEM;
    int r = load_options(ctx, result, fs);
    if (r < 0)
        return r;
    if (fs->n == 0) {
        r = add_evidence(ctx, result, fs);
        if (r >= 0)
            r = api->set_reason(result,
                                "No files are configured ([check.file.present] files is empty)");
        return r < 0 ? r : api->set_status(result, POSTURE_STATUS_NOT_APPLICABLE);
    }
    r = resolve_owners(ctx, result, fs);
    if (r < 0)
        return r;
    for (size_t i = 0; i < fs->n; i++) {
        r = examine(ctx, &fs->f[i]);
        if (r < 0)
            return r;
    }
    r = add_evidence(ctx, result, fs);
    if (r < 0)
        return r;
    return decide(ctx, result, fs);
}

static const struct posture_option options[] = {
    { POSTURE_OPTION_STRV, "files", NULL, "Absolute paths of files that must exist" },
    { POSTURE_OPTION_STRV, "sha256", NULL, "path=<sha256> pins of listed files" },
    { POSTURE_OPTION_STRV, "owner", NULL,
      "path=<user or uid> pins of listed files (names from /etc/passwd)" },
    { POSTURE_OPTION_STRV, "mode", NULL,
      "path=<octal mode> pins of listed files: the most permissive mode allowed" },
    { 0, NULL, NULL, NULL },
};

const struct posture_check_desc posture_check_file_present = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "file.present",
    .version = "1.0.0",
    .summary = "Configured files exist, with optional SHA-256, owner and maximum-mode pins",
    .flags = 0,
    .options = options,
    .init = NULL,
    .run = file_present_run,
    .fini = NULL,
};
