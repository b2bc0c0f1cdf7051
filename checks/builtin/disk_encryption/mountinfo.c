/* SPDX-License-Identifier: Apache-2.0 */
/* Parsers of /proc/self/mountinfo and /proc/swaps; the syntax is described in mountinfo.h. */
#include "mountinfo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/parse.h"

/* Fields of one line, before "-" and after it. More optional fields than this: invalid. */
#define FIELDS_MAX 64
/* Mounts stacked on one path that top_of_stack() climbs; real systems have one or two. */
#define STACK_MAX 64

struct field {
    const char *p;
    size_t n;
};

static bool is_sep(char c)
{
    return c == ' ' || c == '\t';
}

int posture_unescape_octal(const char *s, size_t n, char **ret)
{
    posture_autofree char *out = malloc(n + 1);
    size_t o = 0;

    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && n - i >= 4 && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
            s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            unsigned v = (unsigned) (s[i + 1] - '0') * 64u + (unsigned) (s[i + 2] - '0') * 8u +
                         (unsigned) (s[i + 3] - '0');
            if (v == 0)
                return -EBADMSG;
            out[o++] = (char) v;
            i += 3;
        } else
            out[o++] = s[i];
    }
    out[o] = '\0';
    *ret = POSTURE_TAKE_PTR(out);
    return 0;
}

/* Split [p, end) at blanks into at most FIELDS_MAX fields; -E2BIG beyond. */
static int split_fields(const char *p, const char *end, struct field *f)
{
    int n = 0;

    while (p < end) {
        while (p < end && is_sep(*p))
            p++;
        if (p >= end)
            break;
        const char *start = p;
        while (p < end && !is_sep(*p))
            p++;
        if (n >= FIELDS_MAX)
            return -E2BIG;
        f[n++] = (struct field){ .p = start, .n = (size_t) (p - start) };
    }
    return n;
}

static bool field_is(const struct field *f, const char *s)
{
    size_t n = strlen(s);
    return f->n == n && memcmp(f->p, s, n) == 0;
}

/* A decimal u32 field. */
static int field_u32(const struct field *f, uint32_t *ret)
{
    char buf[16];

    if (f->n == 0 || f->n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, f->p, f->n);
    buf[f->n] = '\0';
    return posture_parse_u32(buf, ret);
}

/* "MAJ:MIN" */
static int field_devnum(const struct field *f, uint32_t *ret_major, uint32_t *ret_minor)
{
    const char *colon = memchr(f->p, ':', f->n);
    if (!colon)
        return -EINVAL;
    struct field maj = { .p = f->p, .n = (size_t) (colon - f->p) };
    struct field min = { .p = colon + 1, .n = f->n - maj.n - 1 };
    uint32_t a, b;
    int r = field_u32(&maj, &a);
    if (r >= 0)
        r = field_u32(&min, &b);
    if (r < 0)
        return r;
    *ret_major = a;
    *ret_minor = b;
    return 0;
}

/* Whether the comma-separated option list has the option "ro". */
static bool options_have_ro(const struct field *f)
{
    const char *p = f->p, *end = f->p + f->n;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t) (end - p));
        const char *stop = comma ? comma : end;
        if (stop - p == 2 && p[0] == 'r' && p[1] == 'o')
            return true;
        p = comma ? comma + 1 : end;
    }
    return false;
}

static void mount_done(struct posture_mount *m)
{
    free(m->root);
    free(m->mountpoint);
    free(m->fstype);
    free(m->source);
    *m = (struct posture_mount){ 0 };
}

void posture_mountinfo_done(struct posture_mountinfo *mi)
{
    if (!mi)
        return;
    for (size_t i = 0; i < mi->n; i++)
        mount_done(&mi->mounts[i]);
    free(mi->mounts);
    *mi = (struct posture_mountinfo){ 0 };
}

/* Parse one line into *m. -EINVAL/-EBADMSG: not a mount line; -ENOMEM. */
static int parse_mount_line(const char *p, const char *end, struct posture_mount *ret)
{
    struct field f[FIELDS_MAX];
    struct posture_mount m = { 0 };

    int n = split_fields(p, end, f);
    if (n == -E2BIG)
        return -EINVAL;
    if (n < 0)
        return n;
    if (n < 9)
        return -EINVAL;

    int dash = -1;
    for (int i = 6; i < n; i++)
        if (field_is(&f[i], "-")) {
            dash = i;
            break;
        }
    /* The type and the source follow the separator; the superblock options may be missing. */
    if (dash < 0 || n - dash < 3 || n - dash > 4)
        return -EINVAL;

    int r = field_u32(&f[0], &m.id);
    if (r >= 0)
        r = field_u32(&f[1], &m.parent_id);
    if (r >= 0)
        r = field_devnum(&f[2], &m.major, &m.minor);
    if (r < 0)
        return -EINVAL;
    m.mount_ro = options_have_ro(&f[5]);
    m.ro = n - dash == 4 && options_have_ro(&f[dash + 3]);

    r = posture_unescape_octal(f[3].p, f[3].n, &m.root);
    if (r >= 0)
        r = posture_unescape_octal(f[4].p, f[4].n, &m.mountpoint);
    if (r >= 0)
        r = posture_unescape_octal(f[dash + 1].p, f[dash + 1].n, &m.fstype);
    if (r >= 0)
        r = posture_unescape_octal(f[dash + 2].p, f[dash + 2].n, &m.source);
    if (r < 0) {
        mount_done(&m);
        return r;
    }
    *ret = m;
    return 0;
}

/* Both parsers reject oversized input and NUL bytes before looking at lines. */
static int check_buffer(const char *buf, size_t len, size_t max)
{
    if (len > max)
        return -EFBIG;
    if (len > 0 && memchr(buf, '\0', len))
        return -EBADMSG;
    return 0;
}

static bool blank_line(const char *p, const char *end)
{
    for (; p < end; p++)
        if (!is_sep(*p))
            return false;
    return true;
}

/* The next line of [*p, end) that is not blank, without its "\n" or "\r\n": it starts at
 * *ret_line and ends at the return value; NULL at the end. *lineno counts every line. */
static const char *
next_line(const char **p, const char *end, unsigned *lineno, const char **ret_line)
{
    while (*p && *p < end) {
        const char *line = *p;
        const char *nl = memchr(line, '\n', (size_t) (end - line));
        const char *stop = nl ? nl : end;
        *p = nl ? nl + 1 : end;
        if (stop > line && stop[-1] == '\r')
            stop--;
        (*lineno)++;
        if (!blank_line(line, stop)) {
            *ret_line = line;
            return stop;
        }
    }
    return NULL;
}

int posture_mountinfo_parse(const char *buf, size_t len, struct posture_mountinfo *ret)
{
    struct posture_mountinfo mi = { 0 };
    size_t cap = 0;
    unsigned lineno = 0;

    int r = check_buffer(buf, len, POSTURE_MOUNTINFO_FILE_MAX);
    if (r < 0)
        return r;

    const char *p = buf, *end = buf ? buf + len : buf, *line, *stop;
    while ((stop = next_line(&p, end, &lineno, &line))) {
        struct posture_mount m;
        r = parse_mount_line(line, stop, &m);
        if (r == -ENOMEM)
            goto fail;
        if (r < 0) {
            if (mi.n_invalid++ == 0)
                mi.first_invalid_line = lineno;
            continue;
        }
        if (mi.n >= POSTURE_MOUNTINFO_MOUNTS_MAX) {
            mount_done(&m);
            r = -E2BIG;
            goto fail;
        }
        if (mi.n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct posture_mount *t = realloc(mi.mounts, ncap * sizeof(*t));
            if (!t) {
                mount_done(&m);
                r = -ENOMEM;
                goto fail;
            }
            mi.mounts = t;
            cap = ncap;
        }
        mi.mounts[mi.n++] = m;
    }
    *ret = mi;
    return (int) mi.n;

fail:
    posture_mountinfo_done(&mi);
    return r;
}

/* Follow the stack of mounts at m's mount point up to the one on top. */
static const struct posture_mount *top_of_stack(const struct posture_mountinfo *mi,
                                                const struct posture_mount *m)
{
    /* Each step moves to a child at the same path; the bound also ends a (corrupt) cycle. */
    for (size_t step = 0; step < STACK_MAX; step++) {
        const struct posture_mount *above = NULL;
        for (size_t i = 0; i < mi->n; i++) {
            const struct posture_mount *c = &mi->mounts[i];
            if (c != m && c->parent_id == m->id && strcmp(c->mountpoint, m->mountpoint) == 0)
                above = c; /* the last one listed wins */
        }
        if (!above)
            break;
        m = above;
    }
    return m;
}

const struct posture_mount *posture_mountinfo_at(const struct posture_mountinfo *mi,
                                                 const char *mountpoint)
{
    if (!mi || !mountpoint)
        return NULL;
    for (size_t i = 0; i < mi->n; i++)
        if (strcmp(mi->mounts[i].mountpoint, mountpoint) == 0)
            return top_of_stack(mi, &mi->mounts[i]);
    return NULL;
}

/* Whether mountpoint mp covers path: equal, "/", or a prefix ending at a "/" of path. */
static bool covers(const char *mp, const char *path)
{
    size_t n = strlen(mp);
    if (strcmp(mp, "/") == 0)
        return true;
    return strncmp(mp, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

const struct posture_mount *posture_mountinfo_containing(const struct posture_mountinfo *mi,
                                                         const char *path)
{
    const struct posture_mount *best = NULL;
    size_t best_len = 0;

    if (!mi || !path || path[0] != '/')
        return NULL;
    for (size_t i = 0; i < mi->n; i++) {
        const struct posture_mount *m = &mi->mounts[i];
        size_t n = strlen(m->mountpoint);
        if (m->mountpoint[0] != '/' || !covers(m->mountpoint, path))
            continue;
        if (!best || n > best_len) {
            best = m;
            best_len = n;
        }
    }
    return best ? top_of_stack(mi, best) : NULL;
}

enum posture_fs_kind posture_fs_kind_of(const char *fstype)
{
    static const char *const pseudo[] = {
        "proc",    "sysfs",      "devtmpfs", "devpts",       "cgroup",     "cgroup2",  "securityfs",
        "debugfs", "tracefs",    "pstore",   "efivarfs",     "bpf",        "configfs", "fusectl",
        "mqueue",  "hugetlbfs",  "autofs",   "binfmt_misc",  "rpc_pipefs", "nsfs",     "selinuxfs",
        "nfsd",    "sockfs",     "pipefs",   "anon_inodefs", "cpuset",     "devfs",    "usbfs",
        "xenfs",   "apparmorfs", "smackfs",  "functionfs",   "resctrl",
    };
    /* rootfs: the initramfs itself, a tmpfs or ramfs. */
    static const char *const memory[] = { "tmpfs", "ramfs", "rootfs" };
    static const char *const network[] = {
        "nfs",        "nfs4",      "cifs",        "smb3",
        "smbfs",      "ncpfs",     "ceph",        "9p",
        "virtiofs",   "afs",       "glusterfs",   "lustre",
        "gfs2",       "ocfs2",     "coda",        "davfs",
        "vboxsf",     "vmhgfs",    "fuse.sshfs",  "fuse.glusterfs",
        "fuse.ceph",  "fuse.s3fs", "fuse.rclone", "fuse.vmhgfs-fuse",
        "fuse.davfs",
    };
    static const char *const stacked[] = { "overlay", "aufs", "unionfs", "fuse" };

    if (!fstype)
        return POSTURE_FS_DISK;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(pseudo); i++)
        if (strcmp(fstype, pseudo[i]) == 0)
            return POSTURE_FS_PSEUDO;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(memory); i++)
        if (strcmp(fstype, memory[i]) == 0)
            return POSTURE_FS_MEMORY;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(network); i++)
        if (strcmp(fstype, network[i]) == 0)
            return POSTURE_FS_NETWORK;
    if (strcmp(fstype, "zfs") == 0)
        return POSTURE_FS_ZFS;
    if (strcmp(fstype, "ecryptfs") == 0)
        return POSTURE_FS_ENCRYPTED_STACKED;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(stacked); i++)
        if (strcmp(fstype, stacked[i]) == 0)
            return POSTURE_FS_STACKED;
    /* Other FUSE filesystems (fuse.<subtype>) have no block device we could follow. */
    if (strncmp(fstype, "fuse.", 5) == 0)
        return POSTURE_FS_STACKED;
    return POSTURE_FS_DISK;
}

/* ---- /proc/swaps ---- */

void posture_swaps_done(struct posture_swaps *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->swaps[i].path);
    free(s->swaps);
    *s = (struct posture_swaps){ 0 };
}

/* One swap line. -EINVAL: not a swap line; -EBADMSG: bad escape; -ENOMEM. */
static int parse_swap_line(const char *p, const char *end, struct posture_swap *ret)
{
    struct field f[FIELDS_MAX];
    bool is_file;

    int n = split_fields(p, end, f);
    if (n < 2)
        return -EINVAL;
    if (field_is(&f[1], "partition"))
        is_file = false;
    else if (field_is(&f[1], "file"))
        is_file = true;
    else
        return -EINVAL;

    char *path;
    int r = posture_unescape_octal(f[0].p, f[0].n, &path);
    if (r < 0)
        return r;
    *ret = (struct posture_swap){ .path = path, .is_file = is_file };
    return 0;
}

int posture_swaps_parse(const char *buf, size_t len, struct posture_swaps *ret)
{
    struct posture_swaps s = { 0 };
    unsigned lineno = 0;

    int r = check_buffer(buf, len, POSTURE_SWAPS_FILE_MAX);
    if (r < 0)
        return r;

    const char *p = buf, *end = buf ? buf + len : buf, *line, *stop;
    while ((stop = next_line(&p, end, &lineno, &line))) {
        if (lineno == 1 && (size_t) (stop - line) >= 8 && memcmp(line, "Filename", 8) == 0)
            continue; /* the header */
        struct posture_swap sw;
        r = parse_swap_line(line, stop, &sw);
        if (r == -ENOMEM)
            goto fail;
        if (r < 0) {
            if (s.n_invalid++ == 0)
                s.first_invalid_line = lineno;
            continue;
        }
        if (s.n >= POSTURE_SWAPS_MAX) {
            free(sw.path);
            r = -E2BIG;
            goto fail;
        }
        struct posture_swap *t = realloc(s.swaps, (s.n + 1) * sizeof(*t));
        if (!t) {
            free(sw.path);
            r = -ENOMEM;
            goto fail;
        }
        s.swaps = t;
        s.swaps[s.n++] = sw;
    }
    *ret = s;
    return (int) s.n;

fail:
    posture_swaps_done(&s);
    return r;
}
