/* SPDX-License-Identifier: Apache-2.0 */
/* The block device graph of the disk.encryption check (blockdev.h), over libudev. */
#include "blockdev.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <libudev.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/strutil.h"
#include "posture/strv.h"

#define SYS_DEV_BLOCK "/sys/dev/block"
#define SYS_FS_BTRFS  "/sys/fs/btrfs"
/* Filesystems scanned in /sys/fs/btrfs, and dm devices scanned for a /dev/mapper name. */
#define BTRFS_FS_MAX 256u
#define DM_SCAN_MAX  4096u

POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_device *, udev_device_unref)
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_enumerate *, udev_enumerate_unref)
#define auto_udev_device    POSTURE_CLEANUP(udev_device_unrefp)
#define auto_udev_enumerate POSTURE_CLEANUP(udev_enumerate_unrefp)

struct posture_blk_graph {
    struct udev *udev;
    const struct posture_mountinfo *mi;
    unsigned visited; /* devices visited by the current walk */
};

/* Thread-safe text for an errno (strerror() is not). */
static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

const char *posture_blk_state_to_string(enum posture_blk_state s)
{
    switch (s) {
    case POSTURE_BLK_ENCRYPTED:
        return "encrypted";
    case POSTURE_BLK_PLAIN:
        return "not encrypted";
    case POSTURE_BLK_MEMORY:
        return "memory";
    case POSTURE_BLK_UNKNOWN:
    default:
        return "unknown";
    }
}

void posture_blk_result_done(struct posture_blk_result *r)
{
    if (!r)
        return;
    (void) posture_strv_free(r->layers);
    (void) posture_strv_free(r->plain);
    free(r->device);
    free(r->why);
    *r = (struct posture_blk_result){ 0 };
}

/* Make r UNKNOWN with error and a formatted why. Returns 0, or -ENOMEM. */
static int set_unknown(struct posture_blk_result *r, int error, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static int set_unknown(struct posture_blk_result *r, int error, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    int k = posture_set_vprintf(&r->why, format, ap);
    va_end(ap);
    if (k < 0)
        return k;
    r->error = error < 0 ? error : -EIO;
    r->state = POSTURE_BLK_UNKNOWN;
    return 0;
}

int posture_blk_graph_new(const struct posture_mountinfo *mi,
                          struct posture_blk_graph **ret,
                          const char **ret_why)
{
    /* sysfs first: libudev "works" without it and then finds nothing, which must not read as
     * "no encrypted device". */
    DIR *d = opendir(SYS_DEV_BLOCK);
    if (!d) {
        int r = posture_negative_errno();
        if (ret_why)
            *ret_why = r == -ENOENT ? "sysfs is not mounted (" SYS_DEV_BLOCK " does not exist)"
                                    : "cannot read " SYS_DEV_BLOCK;
        return r == -ENOENT ? -ENODEV : r;
    }
    (void) closedir(d);

    posture_autofree struct posture_blk_graph *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->udev = udev_new();
    if (!g->udev) {
        if (ret_why)
            *ret_why = "libudev could not be initialised";
        return posture_negative_errno();
    }
    g->mi = mi;
    *ret = POSTURE_TAKE_PTR(g);
    return 0;
}

struct posture_blk_graph *posture_blk_graph_free(struct posture_blk_graph *g)
{
    if (!g)
        return NULL;
    (void) udev_unref(g->udev);
    free(g);
    return NULL;
}

/* ---- Classification of one device ---- */

enum node_kind {
    NODE_DISK,      /* a leaf unless it has slaves */
    NODE_PARTITION, /* -> its disk */
    NODE_LOOP,      /* -> the filesystem holding its backing file */
    NODE_DM,        /* -> slaves */
    NODE_CRYPT,     /* a dm-crypt device: everything below is encrypted */
    NODE_MD,        /* -> slaves */
    NODE_MEMORY,    /* zram, brd */
};

/* "name" followed by at least one digit and nothing else. */
static bool name_is(const char *sysname, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(sysname, prefix, n) != 0 || sysname[n] == '\0')
        return false;
    for (const char *p = sysname + n; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* kpartx partitions: "part<N>-<uuid of the parent>". */
static bool is_kpartx_uuid(const char *uuid)
{
    if (!starts_with(uuid, "part") || uuid[4] < '0' || uuid[4] > '9')
        return false;
    const char *p = uuid + 4;
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == '-';
}

/* The layer of a dm device from its DM UUID; *ret_crypt when it encrypts. */
static const char *dm_layer(const char *uuid, bool *ret_crypt)
{
    static const struct {
        const char *prefix;
        const char *layer;
        bool crypt;
    } table[] = {
        { "CRYPT-LUKS2-", "crypt:luks2", true },
        { "CRYPT-LUKS1-", "crypt:luks1", true },
        { "CRYPT-PLAIN-", "crypt:plain", true },
        { "CRYPT-LOOPAES-", "crypt:loopaes", true },
        { "CRYPT-TCRYPT-", "crypt:tcrypt", true },
        { "CRYPT-BITLK-", "crypt:bitlk", true },
        { "CRYPT-FVAULT2-", "crypt:fvault2", true },
        { "CRYPT-VERITY-", "verity", false },
        { "CRYPT-INTEGRITY-", "integrity", false },
        { "CRYPT-SUBDEV-", "integrity", false },
        { "CRYPT-", "crypt:unknown-type", false },
        { "LVM-", "lvm", false },
        { "mpath-", "multipath", false },
        { "DMRAID-", "dmraid", false },
        { "stratis-", "stratis", false },
    };

    *ret_crypt = false;
    if (!uuid || !*uuid)
        return "dm";
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(table); i++)
        if (starts_with(uuid, table[i].prefix)) {
            *ret_crypt = table[i].crypt;
            return table[i].layer;
        }
    if (is_kpartx_uuid(uuid))
        return "part";
    return "dm";
}

/* md/level when it is a short lowercase word ("raid1", "linear"), else "md". */
static const char *md_layer(const char *level)
{
    if (!level || !*level || strlen(level) > 16)
        return "md";
    for (const char *p = level; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return "md";
    return level;
}

static bool is_partition(struct udev_device *dev)
{
    const char *t = udev_device_get_devtype(dev);
    if (t)
        return strcmp(t, "partition") == 0;
    return udev_device_get_sysattr_value(dev, "partition") != NULL;
}

/* Kind and layer name (NULL: none; borrowed from static text or dev) of dev. */
static enum node_kind classify(struct udev_device *dev, const char **ret_layer)
{
    const char *sysname = udev_device_get_sysname(dev);

    *ret_layer = NULL;
    if (!sysname)
        sysname = "";
    if (is_partition(dev)) {
        *ret_layer = "part";
        return NODE_PARTITION;
    }
    if (name_is(sysname, "loop")) {
        *ret_layer = "loop";
        return NODE_LOOP;
    }
    if (name_is(sysname, "zram")) {
        *ret_layer = "zram";
        return NODE_MEMORY;
    }
    if (name_is(sysname, "ram")) {
        *ret_layer = "ram";
        return NODE_MEMORY;
    }
    const char *dm_name = udev_device_get_sysattr_value(dev, "dm/name");
    const char *uuid = udev_device_get_sysattr_value(dev, "dm/uuid");
    if (dm_name || uuid || name_is(sysname, "dm-")) {
        bool crypt;
        if (!uuid || !*uuid)
            uuid = udev_device_get_property_value(dev, "DM_UUID");
        *ret_layer = dm_layer(uuid, &crypt);
        return crypt ? NODE_CRYPT : NODE_DM;
    }
    const char *level = udev_device_get_sysattr_value(dev, "md/level");
    if (level || name_is(sysname, "md")) {
        *ret_layer = md_layer(level);
        return NODE_MD;
    }
    return NODE_DISK;
}

/* "/dev/<node>" of dev, from DEVNAME, else from the kernel name. */
static char *device_node(struct udev_device *dev)
{
    const char *node = udev_device_get_devnode(dev);
    if (node)
        return strdup(node);
    const char *sysname = udev_device_get_sysname(dev);
    char *s = NULL;
    if (asprintf(&s, "/dev/%s", sysname ? sysname : "?") < 0)
        return NULL;
    return s;
}

/* ---- Combining the walks below a device ---- */

static int strv_append_all(char ***dst, char *const *src, size_t max)
{
    POSTURE_FOREACH_STRV (s, src) {
        if (max && posture_strv_length(*dst) >= max)
            break;
        if (posture_strv_contains(*dst, s))
            continue;
        int r = posture_strv_extend(dst, s);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Rank of a state when paths are combined: the worst wins. */
static int state_rank(enum posture_blk_state s)
{
    switch (s) {
    case POSTURE_BLK_PLAIN:
        return 3;
    case POSTURE_BLK_UNKNOWN:
        return 2;
    case POSTURE_BLK_ENCRYPTED:
        return 1;
    case POSTURE_BLK_MEMORY:
    default:
        return 0;
    }
}

/*
 * Fold the walk of one path below a device (child) into acc. acc starts with n_children == 0.
 * The representative path (acc->layers, why, error) is the first one with the worst state.
 */
struct acc {
    struct posture_blk_result res;
    unsigned n_children;
};

static int acc_add(struct acc *a, struct posture_blk_result *child)
{
    int r = strv_append_all(&a->res.plain, child->plain, POSTURE_BLK_PLAIN_MAX);
    if (r < 0)
        return r;
    if (a->n_children++ == 0 || state_rank(child->state) > state_rank(a->res.state)) {
        (void) posture_strv_free(a->res.layers);
        a->res.layers = POSTURE_TAKE_PTR(child->layers);
        free(a->res.why);
        a->res.why = POSTURE_TAKE_PTR(child->why);
        a->res.error = child->error;
        a->res.state = child->state;
    }
    return 0;
}

/* ---- Walking ---- */

static int walk_node(struct posture_blk_graph *g,
                     struct udev_device *dev,
                     unsigned depth,
                     struct posture_blk_result *ret);
static int walk_mount(struct posture_blk_graph *g,
                      const struct posture_mount *m,
                      unsigned depth,
                      struct posture_blk_result *ret);

/* The entries of <syspath>/slaves (kernel names), at most POSTURE_BLK_FANOUT_MAX + 1. */
static int list_slaves(struct udev_device *dev, char ***ret)
{
    posture_auto_strv char **names = NULL;
    char path[4096];
    const char *syspath = udev_device_get_syspath(dev);

    if (!syspath)
        return -ENODEV;
    int n = snprintf(path, sizeof(path), "%s/slaves", syspath);
    if (n < 0 || (size_t) n >= sizeof(path))
        return -ENAMETOOLONG;
    posture_autoclosedir DIR *d = opendir(path);
    if (!d) {
        int r = posture_negative_errno();
        if (r != -ENOENT && r != -ENOTDIR)
            return r;
    } else {
        struct dirent *e;
        unsigned count = 0;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (++count > POSTURE_BLK_FANOUT_MAX + 1)
                break;
            int r = posture_strv_extend(&names, e->d_name);
            if (r < 0)
                return r;
        }
    }
    if (!names) {
        names = calloc(1, sizeof(char *));
        if (!names)
            return -ENOMEM;
    }
    posture_strv_sort(names);
    *ret = POSTURE_TAKE_PTR(names);
    return 0;
}

/* Walk each named block device (kernel names) and fold the results into a. */
static int walk_names(struct posture_blk_graph *g,
                      char *const *names,
                      const char *what,
                      unsigned depth,
                      struct acc *a)
{
    POSTURE_FOREACH_STRV (name, names) {
        struct posture_blk_result child = { 0 };
        auto_udev_device struct udev_device *c =
            udev_device_new_from_subsystem_sysname(g->udev, "block", name);
        int r;
        if (!c)
            r = set_unknown(&child, posture_negative_errno(), "%s %s is not in sysfs", what, name);
        else
            r = walk_node(g, c, depth + 1, &child);
        if (r >= 0)
            r = acc_add(a, &child);
        posture_blk_result_done(&child);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The leaf or inner part of walk_node(): fills a from what lies below dev. */
static int walk_below(struct posture_blk_graph *g,
                      struct udev_device *dev,
                      enum node_kind kind,
                      const char *node,
                      unsigned depth,
                      struct acc *a)
{
    struct posture_blk_result child = { 0 };
    int r;

    if (kind == NODE_PARTITION) {
        struct udev_device *parent =
            udev_device_get_parent_with_subsystem_devtype(dev, "block", "disk");
        if (!parent)
            parent = udev_device_get_parent(dev);
        if (!parent)
            r = set_unknown(&child, -ENODEV, "the disk of partition %s is not in sysfs", node);
        else
            r = walk_node(g, parent, depth + 1, &child); /* parent is borrowed from dev */
        /* A plain disk under a partition: name the partition, the more useful device. */
        if (r >= 0 && child.state == POSTURE_BLK_PLAIN && posture_strv_length(child.plain) == 1 &&
            child.device && strcmp(child.plain[0], child.device) == 0) {
            char *copy = strdup(node);
            if (!copy)
                r = -ENOMEM;
            else {
                free(child.plain[0]);
                child.plain[0] = copy;
            }
        }
        if (r >= 0)
            r = acc_add(a, &child);
        posture_blk_result_done(&child);
        return r;
    }

    if (kind == NODE_LOOP) {
        const char *backing = udev_device_get_sysattr_value(dev, "loop/backing_file");
        const struct posture_mount *m =
            backing && *backing ? posture_mountinfo_containing(g->mi, backing) : NULL;
        if (!backing || !*backing)
            r = set_unknown(&child, -ENXIO, "loop device %s has no backing file", node);
        else if (!m)
            r = set_unknown(&child, -ENOENT,
                            "no mounted filesystem holds %s, the backing file of %s", backing,
                            node);
        else
            r = walk_mount(g, m, depth + 1, &child);
        if (r >= 0)
            r = acc_add(a, &child);
        posture_blk_result_done(&child);
        return r;
    }

    posture_auto_strv char **slaves = NULL;
    r = list_slaves(dev, &slaves);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        r = set_unknown(&child, r, "cannot list the slaves of %s: %s", node, error_text(r));
        if (r >= 0)
            r = acc_add(a, &child);
        posture_blk_result_done(&child);
        return r;
    }
    if (posture_strv_length(slaves) > POSTURE_BLK_FANOUT_MAX) {
        r = set_unknown(&child, -E2BIG, "%s sits on more than %u devices", node,
                        POSTURE_BLK_FANOUT_MAX);
        if (r >= 0)
            r = acc_add(a, &child);
        posture_blk_result_done(&child);
        return r;
    }
    if (slaves && slaves[0])
        return walk_names(g, slaves, "device", depth, a);

    /* A leaf. */
    switch (kind) {
    case NODE_MEMORY:
        child.state = POSTURE_BLK_MEMORY;
        break;
    case NODE_CRYPT:
        child.state = POSTURE_BLK_ENCRYPTED;
        break;
    default:
        child.state = POSTURE_BLK_PLAIN;
        r = posture_strv_extend(&child.plain, node);
        if (r < 0)
            return r;
        break;
    }
    r = acc_add(a, &child);
    posture_blk_result_done(&child);
    return r;
}

static int walk_node(struct posture_blk_graph *g,
                     struct udev_device *dev,
                     unsigned depth,
                     struct posture_blk_result *ret)
{
    struct acc a = { 0 };
    const char *layer;

    posture_autofree char *node = device_node(dev);
    if (!node)
        return -ENOMEM;

    *ret = (struct posture_blk_result){ 0 };
    int r;
    if (depth >= POSTURE_BLK_DEPTH_MAX)
        r = set_unknown(ret, -ELOOP, "the device stack at %s is deeper than %u layers", node,
                        POSTURE_BLK_DEPTH_MAX);
    else if (++g->visited > POSTURE_BLK_NODES_MAX)
        r = set_unknown(ret, -E2BIG, "the device graph has more than %u devices (at %s)",
                        POSTURE_BLK_NODES_MAX, node);
    else
        r = 1;
    if (r <= 0) {
        if (r == 0)
            ret->device = POSTURE_TAKE_PTR(node);
        return r;
    }

    enum node_kind kind = classify(dev, &layer);
    r = walk_below(g, dev, kind, node, depth, &a);
    if (r >= 0 && layer)
        r = posture_strv_extend(&a.res.layers, layer);
    if (r < 0) {
        posture_blk_result_done(&a.res);
        return r;
    }
    if (kind == NODE_CRYPT) {
        /* Whatever lies below, the data on it is ciphertext. */
        a.res.state = POSTURE_BLK_ENCRYPTED;
        a.res.plain = posture_strv_free(a.res.plain);
        free(a.res.why);
        a.res.why = NULL;
        a.res.error = 0;
    }
    if (!a.res.layers) {
        a.res.layers = calloc(1, sizeof(char *));
        if (!a.res.layers) {
            posture_blk_result_done(&a.res);
            return -ENOMEM;
        }
    }
    a.res.device = POSTURE_TAKE_PTR(node);
    *ret = a.res;
    return 0;
}

/* ---- Entry points ---- */

int posture_blk_walk_devnum(struct posture_blk_graph *g,
                            uint32_t major,
                            uint32_t minor,
                            struct posture_blk_result *ret)
{
    g->visited = 0;
    *ret = (struct posture_blk_result){ 0 };
    auto_udev_device struct udev_device *dev =
        udev_device_new_from_devnum(g->udev, 'b', makedev(major, minor));
    if (!dev) {
        int r = posture_negative_errno();
        if (r == -ENOMEM)
            return r;
        return set_unknown(ret, r == -ENOENT ? -ENODEV : r, "block device %u:%u is not in sysfs",
                           major, minor);
    }
    return walk_node(g, dev, 0, ret);
}

/* The dm device whose dm/name is name, or NULL. */
static struct udev_device *find_dm_by_name(struct posture_blk_graph *g, const char *name)
{
    auto_udev_enumerate struct udev_enumerate *e = udev_enumerate_new(g->udev);
    struct udev_list_entry *item;
    unsigned count = 0;

    if (!e || udev_enumerate_add_match_subsystem(e, "block") < 0 ||
        udev_enumerate_add_match_sysname(e, "dm-*") < 0 || udev_enumerate_scan_devices(e) < 0)
        return NULL;
    udev_list_entry_foreach(item, udev_enumerate_get_list_entry(e))
    {
        if (++count > DM_SCAN_MAX)
            break;
        struct udev_device *d =
            udev_device_new_from_syspath(g->udev, udev_list_entry_get_name(item));
        if (!d)
            continue;
        const char *n = udev_device_get_sysattr_value(d, "dm/name");
        if (n && strcmp(n, name) == 0)
            return d;
        (void) udev_device_unref(d);
    }
    return NULL;
}

/* The block device of a /dev path: by name first (works in a mocked sysfs), then stat(). */
static struct udev_device *find_devpath(struct posture_blk_graph *g, const char *path)
{
    struct udev_device *d = NULL;
    char sysname[256];

    if (starts_with(path, "/dev/mapper/") && path[12])
        d = find_dm_by_name(g, path + 12);
    else if (starts_with(path, "/dev/") && path[5] && strlen(path + 5) < sizeof(sysname)) {
        /* /dev/cciss/c0d0 is the kernel name cciss!c0d0. */
        (void) snprintf(sysname, sizeof(sysname), "%s", path + 5);
        for (char *p = sysname; *p; p++)
            if (*p == '/')
                *p = '!';
        d = udev_device_new_from_subsystem_sysname(g->udev, "block", sysname);
    }
    if (!d) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISBLK(st.st_mode))
            d = udev_device_new_from_devnum(g->udev, 'b', st.st_rdev);
    }
    return d;
}

int posture_blk_walk_devpath(struct posture_blk_graph *g,
                             const char *path,
                             struct posture_blk_result *ret)
{
    g->visited = 0;
    *ret = (struct posture_blk_result){ 0 };
    auto_udev_device struct udev_device *dev = find_devpath(g, path);
    if (!dev)
        return set_unknown(ret, -ENODEV, "the block device %s is not in sysfs", path);
    return walk_node(g, dev, 0, ret);
}

int posture_blk_walk_devpaths(struct posture_blk_graph *g,
                              char *const *paths,
                              struct posture_blk_result *ret)
{
    struct acc a = { 0 };

    g->visited = 0;
    *ret = (struct posture_blk_result){ 0 };
    if (!paths || !paths[0])
        return set_unknown(ret, -ENODEV, "no devices to follow");
    POSTURE_FOREACH_STRV (path, paths) {
        struct posture_blk_result child = { 0 };
        auto_udev_device struct udev_device *dev = find_devpath(g, path);
        int r;
        if (!dev)
            r = set_unknown(&child, -ENODEV, "the block device %s is not in sysfs", path);
        else
            r = walk_node(g, dev, 0, &child);
        if (r >= 0)
            r = acc_add(&a, &child);
        posture_blk_result_done(&child);
        if (r < 0) {
            posture_blk_result_done(&a.res);
            return r;
        }
    }
    *ret = a.res;
    return 0;
}

/* The member devices (kernel names) of the btrfs filesystem that has member sysname. */
static int btrfs_members(const char *sysname, char ***ret)
{
    posture_autoclosedir DIR *d = opendir(SYS_FS_BTRFS);
    struct dirent *e;
    unsigned count = 0;

    *ret = NULL;
    if (!d)
        return 0; /* no btrfs module, or an old kernel: the source device alone */
    while ((e = readdir(d)) && count++ < BTRFS_FS_MAX) {
        char path[512];
        if (e->d_name[0] == '.' || strcmp(e->d_name, "features") == 0)
            continue;
        int n = snprintf(path, sizeof(path), SYS_FS_BTRFS "/%s/devices", e->d_name);
        if (n < 0 || (size_t) n >= sizeof(path))
            continue;
        posture_autoclosedir DIR *devs = opendir(path);
        if (!devs)
            continue;
        posture_auto_strv char **names = NULL;
        bool found = false;
        struct dirent *m;
        while ((m = readdir(devs))) {
            if (m->d_name[0] == '.')
                continue;
            if (posture_strv_length(names) > POSTURE_BLK_FANOUT_MAX)
                break;
            if (strcmp(m->d_name, sysname) == 0)
                found = true;
            int r = posture_strv_extend(&names, m->d_name);
            if (r < 0)
                return r;
        }
        if (found) {
            posture_strv_sort(names);
            *ret = POSTURE_TAKE_PTR(names);
            return 0;
        }
    }
    return 0;
}

/* A btrfs filesystem whose source device is dev: walk every member device. */
static int walk_btrfs(struct posture_blk_graph *g,
                      struct udev_device *dev,
                      unsigned depth,
                      struct posture_blk_result *ret)
{
    posture_auto_strv char **members = NULL;
    const char *sysname = udev_device_get_sysname(dev);
    struct acc a = { 0 };

    int r = sysname ? btrfs_members(sysname, &members) : 0;
    if (r < 0)
        return r;
    if (posture_strv_length(members) <= 1)
        return walk_node(g, dev, depth, ret);
    if (posture_strv_length(members) > POSTURE_BLK_FANOUT_MAX) {
        *ret = (struct posture_blk_result){ 0 };
        return set_unknown(ret, -E2BIG, "the btrfs filesystem has more than %u devices",
                           POSTURE_BLK_FANOUT_MAX);
    }
    r = walk_names(g, members, "btrfs device", depth, &a);
    if (r >= 0)
        r = (a.res.device = device_node(dev)) ? 0 : -ENOMEM;
    if (r < 0) {
        posture_blk_result_done(&a.res);
        return r;
    }
    *ret = a.res;
    return 0;
}

static int walk_mount(struct posture_blk_graph *g,
                      const struct posture_mount *m,
                      unsigned depth,
                      struct posture_blk_result *ret)
{
    *ret = (struct posture_blk_result){ 0 };
    if (depth >= POSTURE_BLK_DEPTH_MAX)
        return set_unknown(ret, -ELOOP, "the device stack below %s is deeper than %u layers",
                           m->mountpoint, POSTURE_BLK_DEPTH_MAX);

    if (m->major != 0) {
        auto_udev_device struct udev_device *dev =
            udev_device_new_from_devnum(g->udev, 'b', makedev(m->major, m->minor));
        if (!dev) {
            int r = posture_negative_errno();
            if (r == -ENOMEM)
                return r;
            return set_unknown(ret, -ENODEV, "block device %u:%u (%s) is not in sysfs", m->major,
                               m->minor, m->source);
        }
        return walk_node(g, dev, depth, ret);
    }

    if (starts_with(m->source, "/dev/")) {
        auto_udev_device struct udev_device *dev = find_devpath(g, m->source);
        if (!dev)
            return set_unknown(ret, -ENODEV, "the block device %s is not in sysfs", m->source);
        if (strcmp(m->fstype, "btrfs") == 0)
            return walk_btrfs(g, dev, depth, ret);
        return walk_node(g, dev, depth, ret);
    }

    int r;
    switch (posture_fs_kind_of(m->fstype)) {
    case POSTURE_FS_MEMORY:
        ret->state = POSTURE_BLK_MEMORY;
        r = posture_strv_extend(&ret->layers, m->fstype);
        break;
    case POSTURE_FS_ENCRYPTED_STACKED:
        ret->state = POSTURE_BLK_ENCRYPTED;
        r = posture_strv_extend(&ret->layers, m->fstype);
        break;
    case POSTURE_FS_ZFS:
        r = set_unknown(ret, -EOPNOTSUPP, "%s is on the ZFS dataset %s", m->mountpoint, m->source);
        break;
    case POSTURE_FS_NETWORK:
        r = set_unknown(ret, -EOPNOTSUPP, "%s is on %s, a network filesystem", m->mountpoint,
                        m->fstype);
        break;
    default:
        r = set_unknown(ret, -EOPNOTSUPP,
                        "%s is on %s, a filesystem without a block device; its backing storage "
                        "is not visible here",
                        m->mountpoint, m->fstype);
        break;
    }
    if (r < 0)
        posture_blk_result_done(ret);
    return r;
}

int posture_blk_walk_mount(struct posture_blk_graph *g,
                           const struct posture_mount *m,
                           struct posture_blk_result *ret)
{
    g->visited = 0;
    return walk_mount(g, m, 0, ret);
}
