/* SPDX-License-Identifier: Apache-2.0 */
/*
 * disk.encryption (DESIGN.md §6, CHECKS.md §c1): is every filesystem that holds user data, and
 * every active swap area, stored on dm-crypt (or ZFS native encryption)?
 *
 * Relevant: the mounts at /, /home, /var and /tmp; mounts below /home/ and /var/ that have a
 * block device or ZFS dataset of their own; the filesystems of the paths in the option
 * extra_mounts; every swap area in /proc/swaps (a swap file counts as the filesystem holding
 * it). Not relevant, and listed under "excluded" with the reason: /boot, /boot/efi and /efi,
 * pseudo filesystems, memory (tmpfs, ramfs, zram and brd devices), read-only filesystems (the
 * superblock is read-only: squashfs snaps, images; a read-only bind mount of a writable
 * filesystem, as ProtectSystem= makes, still counts) and network filesystems (nfs, cifs, 9p,
 * virtiofs: stored on another machine).
 *
 * How: the mount table (proc/self/mountinfo) and swap list (proc/swaps) are read inside the
 * root. Each relevant filesystem's block device (mountinfo major:minor; the source device for
 * btrfs, whose device numbers are anonymous, with every member device of a multi-device btrfs)
 * is followed down through partitions, LVM, MD RAID, multipath and loop devices to the disks,
 * through libudev (blockdev.h): it is encrypted only if every path passes through dm-crypt
 * (LUKS1, LUKS2, plain and the other cryptsetup types). ZFS datasets: `zfs get encryption`; a
 * dataset without native encryption is followed through its pool's vdevs (ZFS on LUKS).
 *
 * --root: the mount table and swap list come from the root, but the device graph is always
 * the running system's sysfs (libudev; a umockdev testbed in the tests), and ZFS is only asked
 * about when the root is the host; otherwise ZFS mounts are ERROR.
 *
 * Verdict: FAIL when a relevant filesystem or swap area is not encrypted (even if another one
 * could not be decided); ERROR when one could not be decided (no sysfs, a device missing from
 * sysfs, an overlay root inside a container, zfs missing); NOT_APPLICABLE when nothing
 * relevant is stored on a local disk (a diskless host with an NFS root, a live system running
 * from memory); PASS otherwise.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/check.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/strutil.h"
#include "posture/strv.h"

#include "disk_encryption/blockdev.h"
#include "disk_encryption/mountinfo.h"
#include "disk_encryption/seam.h"
#include "disk_encryption/zfs.h"

#define MOUNTINFO_PATH "/proc/self/mountinfo"
#define SWAPS_PATH     "/proc/swaps"
/* Filesystems evaluated at most (the fixed mount points, extra_mounts and submounts). */
#define TARGETS_MAX 64u
/* Items named in a reason before "and N more". */
#define REASON_ITEMS_MAX 4u
/* Time kept back from the check's deadline when a tool runs. */
#define TOOL_MARGIN_USEC ((uint64_t) 500 * 1000)

#define REMEDIATION_DISK                                                                          \
    "Reinstall with full-disk encryption (LUKS2), or encrypt in place from a rescue system with " \
    "'cryptsetup reencrypt --encrypt --reduce-device-size 32M <partition>' after a backup"
#define REMEDIATION_SWAP                                                                           \
    "encrypt swap with a random key in /etc/crypttab (e.g. 'cryptswap PARTUUID=<id> /dev/urandom " \
    "swap,cipher=aes-xts-plain64,size=512' and /dev/mapper/cryptswap in /etc/fstab), or turn it "  \
    "off with 'swapoff -a' and remove it from /etc/fstab"
#define REMEDIATION_SYSFS                                                                        \
    "Mount sysfs at /sys ('mount -t sysfs sysfs /sys'), or run the agent where the host's /sys " \
    "is visible."
#define REMEDIATION_STACKED                                                                   \
    "Run the agent on the host, not inside a container or live image: the storage behind an " \
    "overlay or FUSE filesystem is not visible from here."
#define REMEDIATION_ZFS_TOOL                                                                     \
    "Install the ZFS utilities (zfsutils-linux, which provides zfs and zpool) so the agent can " \
    "query dataset encryption."
#define REMEDIATION_ZFS_ROOT "Run the check without --root so that ZFS can be queried."
#define REMEDIATION_DEVICE                                                                       \
    "Check that the device is present in /sys/dev/block (with --root, the devices named in the " \
    "root's mountinfo must exist on this system)."

static atomic_bool assume_host;

void posture_disk_encryption_assume_host(bool on)
{
    atomic_store(&assume_host, on);
}

#define REMEDIATION_TOO_MANY                                                                   \
    "Check the remaining filesystems by hand ('lsblk -o NAME,TYPE,MOUNTPOINTS' shows a crypt " \
    "layer under each encrypted one), or mount fewer separate filesystems below /home and /var."

static const char *const relevant_mountpoints[] = { "/", "/home", "/var", "/tmp" };
static const char *const boot_mountpoints[] = { "/boot", "/boot/efi", "/efi" };

static const struct posture_option options[] = {
    { POSTURE_OPTION_STRV, "extra_mounts", "",
      "More paths whose filesystems must be encrypted (the mount at the path, or the one "
      "holding it)" },
    { POSTURE_OPTION_STRING, "zfs_command", "zfs", "The zfs tool (a name looked up in PATH)" },
    { POSTURE_OPTION_STRING, "zpool_command", "zpool",
      "The zpool tool (a name looked up in PATH)" },
    { POSTURE_OPTION_DURATION, "tool_timeout", "5s", "Time limit for each zfs or zpool run" },
    { 0 },
};

struct excluded {
    const char *key; /* "mountpoint" or "swap" */
    char *name;
    const char *fstype; /* borrowed from the mount table; NULL for swap */
    char *why;
};

struct state {
    const struct posture_check_ctx *ctx;
    const struct posture_host_api *api;
    struct posture_result *result;
    bool root_is_host;

    struct posture_mountinfo mi;
    struct posture_swaps swaps;
    int swaps_error; /* reading or parsing proc/swaps failed */
    bool swap_supported;

    struct posture_blk_graph *graph;
    bool graph_tried;
    int graph_error;
    const char *graph_why;

    const char *zfs_cmd;
    const char *zpool_cmd;
    uint64_t tool_timeout;

    const struct posture_mount *targets[TARGETS_MAX];
    size_t n_targets;
    unsigned n_not_checked;

    struct excluded *excluded;
    size_t n_excluded;

    char **unencrypted;      /* labels for the reason: "/", "swap /dev/sda3" */
    char **unencrypted_keys; /* the same for evidence: "/", "swap:/dev/sda3" */
    char **encrypted;        /* labels of what passed */
    char **crypt_layers;     /* distinct encrypting layers seen */
    bool unencrypted_swap;
    bool unencrypted_mount;
    char *unknown_label; /* the first undecided */
    char *unknown_why;
    const char *unknown_remedy;
    int unknown_error;
    unsigned n_unknown;
};

static void state_done(struct state *st)
{
    posture_mountinfo_done(&st->mi);
    posture_swaps_done(&st->swaps);
    st->graph = posture_blk_graph_free(st->graph);
    for (size_t i = 0; i < st->n_excluded; i++) {
        free(st->excluded[i].name);
        free(st->excluded[i].why);
    }
    free(st->excluded);
    (void) posture_strv_free(st->unencrypted);
    (void) posture_strv_free(st->unencrypted_keys);
    (void) posture_strv_free(st->encrypted);
    (void) posture_strv_free(st->crypt_layers);
    free(st->unknown_label);
    free(st->unknown_why);
}

/* Thread-safe text for an errno (strerror() is not). */
static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int add_excluded(struct state *st,
                        const char *key,
                        const char *name,
                        const char *fstype,
                        const char *format,
                        ...) __attribute__((format(printf, 5, 6)));
static int add_excluded(struct state *st,
                        const char *key,
                        const char *name,
                        const char *fstype,
                        const char *format,
                        ...)
{
    va_list ap;
    char *why = NULL;

    for (size_t i = 0; i < st->n_excluded; i++)
        if (strcmp(st->excluded[i].key, key) == 0 && strcmp(st->excluded[i].name, name) == 0)
            return 0;
    va_start(ap, format);
    int n = vasprintf(&why, format, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    char *copy = strdup(name);
    struct excluded *t = copy ? realloc(st->excluded, (st->n_excluded + 1) * sizeof(*t)) : NULL;
    if (!t) {
        free(copy);
        free(why);
        return -ENOMEM;
    }
    st->excluded = t;
    st->excluded[st->n_excluded++] =
        (struct excluded){ .key = key, .name = copy, .fstype = fstype, .why = why };
    return 0;
}

/* ---- Which mounts ---- */

/* Why m is not relevant, or NULL. Static text or the fstype. */
static const char *exclusion_of(const struct posture_mount *m)
{
    if (m->ro)
        return "read-only filesystem";
    if (m->major != 0 || starts_with(m->source, "/dev/"))
        return NULL;
    switch (posture_fs_kind_of(m->fstype)) {
    case POSTURE_FS_PSEUDO:
        return "pseudo filesystem without stored data";
    case POSTURE_FS_MEMORY:
        return "memory filesystem, not stored on a disk";
    case POSTURE_FS_NETWORK:
        return "network filesystem, stored on another machine";
    default:
        return NULL;
    }
}

static bool is_target(const struct state *st, const struct posture_mount *m)
{
    for (size_t i = 0; i < st->n_targets; i++)
        if (st->targets[i] == m)
            return true;
    return false;
}

/* The same storage as a target already chosen (bind mounts, btrfs subvolumes of a submount). */
static bool same_storage_as_target(const struct state *st, const struct posture_mount *m)
{
    for (size_t i = 0; i < st->n_targets; i++) {
        const struct posture_mount *t = st->targets[i];
        if (m->major != 0 && t->major == m->major && t->minor == m->minor)
            return true;
        if (m->major == 0 && t->major == 0 && strcmp(t->source, m->source) == 0 &&
            strcmp(t->fstype, m->fstype) == 0)
            return true;
    }
    return false;
}

/* Add m as a target, or to the excluded list when it is not relevant (when list_excluded). */
static int consider(struct state *st, const struct posture_mount *m, bool list_excluded)
{
    const char *why = exclusion_of(m);

    if (why)
        return list_excluded ? add_excluded(st, "mountpoint", m->mountpoint, m->fstype, "%s", why)
                             : 0;
    if (is_target(st, m))
        return 0;
    if (st->n_targets >= TARGETS_MAX) {
        st->n_not_checked++;
        return 0;
    }
    st->targets[st->n_targets++] = m;
    return 0;
}

/* A submount below /home/ or /var/ with storage of its own. */
static bool is_own_storage(const struct posture_mount *m)
{
    if (m->major != 0)
        return true;
    if (starts_with(m->source, "/dev/"))
        return true;
    return posture_fs_kind_of(m->fstype) == POSTURE_FS_ZFS;
}

static int choose_targets(struct state *st)
{
    const struct posture_host_api *api = st->api;
    const char *const *extra = NULL;
    size_t n_extra = 0;
    int r;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(boot_mountpoints); i++) {
        const struct posture_mount *m = posture_mountinfo_at(&st->mi, boot_mountpoints[i]);
        if (m) {
            r = add_excluded(st, "mountpoint", m->mountpoint, m->fstype,
                             "boot partition, read by the firmware and boot loader");
            if (r < 0)
                return r;
        }
    }

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(relevant_mountpoints); i++) {
        const struct posture_mount *m = posture_mountinfo_at(&st->mi, relevant_mountpoints[i]);
        if (m && (r = consider(st, m, true)) < 0)
            return r;
    }

    r = api->option_get_strv(st->ctx, "extra_mounts", &extra, &n_extra);
    if (r < 0 && r != -ENODATA)
        return r;
    for (size_t i = 0; i < n_extra; i++) {
        const struct posture_mount *m = posture_mountinfo_at(&st->mi, extra[i]);
        if (!m)
            m = posture_mountinfo_containing(&st->mi, extra[i]);
        if (m && (r = consider(st, m, true)) < 0)
            return r;
    }

    for (size_t i = 0; i < st->mi.n; i++) {
        const struct posture_mount *m = &st->mi.mounts[i];
        if (!starts_with(m->mountpoint, "/home/") && !starts_with(m->mountpoint, "/var/"))
            continue;
        if (!is_own_storage(m) || exclusion_of(m) || same_storage_as_target(st, m))
            continue;
        if (posture_mountinfo_at(&st->mi, m->mountpoint) != m)
            continue; /* hidden under another mount */
        if ((r = consider(st, m, false)) < 0)
            return r;
    }
    return 0;
}

/* ---- Outcomes ---- */

static int note_unknown(struct state *st,
                        const char *label,
                        const struct posture_blk_result *res,
                        const char *remedy)
{
    if (st->n_unknown++ > 0)
        return 0;
    st->unknown_label = strdup(label);
    st->unknown_why = strdup(res->why ? res->why : "the device graph could not be read");
    if (!st->unknown_label || !st->unknown_why)
        return -ENOMEM;
    st->unknown_error = res->error < 0 ? res->error : -EIO;
    st->unknown_remedy = remedy;
    return 0;
}

/* Record one evaluated thing under its labels. */
static int note_outcome(struct state *st,
                        const char *label,
                        const char *key,
                        bool swap,
                        const struct posture_blk_result *res,
                        const char *remedy)
{
    int r = 0;

    switch (res->state) {
    case POSTURE_BLK_PLAIN:
        r = posture_strv_extend(&st->unencrypted, label);
        if (r >= 0)
            r = posture_strv_extend(&st->unencrypted_keys, key);
        if (swap)
            st->unencrypted_swap = true;
        else
            st->unencrypted_mount = true;
        break;
    case POSTURE_BLK_ENCRYPTED:
        r = posture_strv_extend(&st->encrypted, label);
        POSTURE_FOREACH_STRV (l, res->layers) {
            if (r < 0)
                break;
            if ((starts_with(l, "crypt:") || starts_with(l, "zfs:") ||
                 strcmp(l, "ecryptfs") == 0) &&
                !posture_strv_contains(st->crypt_layers, l))
                r = posture_strv_extend(&st->crypt_layers, l);
        }
        break;
    case POSTURE_BLK_UNKNOWN:
        r = note_unknown(st, label, res, remedy);
        break;
    case POSTURE_BLK_MEMORY:
    default:
        break;
    }
    return r;
}

/* The remediation hint for an UNKNOWN walk result. */
static const char *remedy_of(const struct state *st, const struct posture_blk_result *res)
{
    if (!st->graph)
        return REMEDIATION_SYSFS;
    if (res->error == -EOPNOTSUPP)
        return REMEDIATION_STACKED;
    return REMEDIATION_DEVICE;
}

/* ---- Evaluation ---- */

static struct posture_blk_graph *graph(struct state *st)
{
    if (!st->graph_tried) {
        st->graph_tried = true;
        st->graph_error = posture_blk_graph_new(&st->mi, &st->graph, &st->graph_why);
        if (st->graph_error < 0 && !st->graph_why)
            st->graph_why = "the block device graph could not be read";
    }
    return st->graph;
}

static int graph_unknown(struct state *st, struct posture_blk_result *res)
{
    *res = (struct posture_blk_result){
        .state = POSTURE_BLK_UNKNOWN,
        .error = st->graph_error < 0 ? st->graph_error : -EIO,
    };
    if (st->graph_error == -ENOMEM)
        return -ENOMEM;
    /* -ENODEV: graph_why says it all ("sysfs is not mounted ..."). */
    if (st->graph_error == -ENODEV)
        res->why = strdup(st->graph_why);
    else
        (void) posture_set_printf(&res->why, "%s: %s", st->graph_why, error_text(st->graph_error));
    return res->why ? 0 : -ENOMEM;
}

/* Time for one tool run, within the deadline; 0 when there is none left. */
static uint64_t tool_budget(const struct state *st)
{
    uint64_t now = st->api->now_usec();
    if (st->ctx->deadline_usec == 0)
        return st->tool_timeout;
    if (now + TOOL_MARGIN_USEC >= st->ctx->deadline_usec)
        return 0;
    uint64_t left = st->ctx->deadline_usec - now - TOOL_MARGIN_USEC;
    return left < st->tool_timeout ? left : st->tool_timeout;
}

static int set_why(struct posture_blk_result *res, int error, char *why_owned)
{
    res->state = POSTURE_BLK_UNKNOWN;
    res->error = error;
    free(res->why);
    res->why = why_owned;
    return 0;
}

/* A ZFS dataset: native encryption, else the pool's vdevs. *ret_remedy for UNKNOWN. */
static int eval_zfs(struct state *st,
                    const char *dataset,
                    struct posture_blk_result *res,
                    struct posture_zfs_crypt *ret_crypt,
                    const char **ret_remedy)
{
    char *why = NULL;
    uint64_t budget;

    *res = (struct posture_blk_result){ 0 };
    *ret_remedy = REMEDIATION_DEVICE;
    if (!st->root_is_host) {
        *ret_remedy = REMEDIATION_ZFS_ROOT;
        if (asprintf(&why, "ZFS dataset %s is not queried for a --root other than /", dataset) < 0)
            return -ENOMEM;
        return set_why(res, -EOPNOTSUPP, why);
    }
    if ((budget = tool_budget(st)) == 0)
        return set_why(res, -ETIMEDOUT, strdup("no time left to run zfs"));

    int r = posture_zfs_get(st->zfs_cmd, dataset, budget, ret_crypt, &why);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        if (r == -ENOENT || r == -EACCES)
            *ret_remedy = REMEDIATION_ZFS_TOOL;
        if (!why && asprintf(&why, "zfs get failed for %s: %s", dataset, error_text(r)) < 0)
            return -ENOMEM;
        return set_why(res, r, why);
    }
    if (posture_zfs_encryption_is_on(ret_crypt->encryption)) {
        char *layer = NULL;
        if (asprintf(&layer, "zfs:%s", ret_crypt->encryption) < 0)
            return -ENOMEM;
        res->state = POSTURE_BLK_ENCRYPTED;
        r = posture_strv_consume(&res->layers, layer);
        if (r < 0)
            free(layer);
        return r;
    }

    /* No native encryption: ZFS on LUKS is still encrypted. Follow the pool's vdevs. */
    posture_auto_strv char **vdevs = NULL;
    posture_autofree char *pool = strndup(dataset, strcspn(dataset, "/@"));
    if (!pool)
        return -ENOMEM;
    if ((budget = tool_budget(st)) == 0)
        return set_why(res, -ETIMEDOUT, strdup("no time left to run zpool"));
    r = posture_zfs_pool_vdevs(st->zpool_cmd, pool, budget, &vdevs, &why);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        if (r == -ENOENT || r == -EACCES)
            *ret_remedy = REMEDIATION_ZFS_TOOL;
        if (!why &&
            asprintf(&why, "cannot list the devices of pool %s: %s", pool, error_text(r)) < 0)
            return -ENOMEM;
        return set_why(res, r, why);
    }
    if (!graph(st))
        return graph_unknown(st, res);
    r = posture_blk_walk_devpaths(st->graph, vdevs, res);
    if (r >= 0)
        r = posture_strv_extend(&res->layers, "zfs");
    return r;
}

/* Evaluate a filesystem through the device graph (or ZFS). */
static int eval_mount(struct state *st,
                      const struct posture_mount *m,
                      struct posture_blk_result *res,
                      struct posture_zfs_crypt *zc,
                      const char **ret_remedy)
{
    if (m->major == 0 && posture_fs_kind_of(m->fstype) == POSTURE_FS_ZFS)
        return eval_zfs(st, m->source, res, zc, ret_remedy);
    if (!graph(st)) {
        *ret_remedy = REMEDIATION_SYSFS;
        return graph_unknown(st, res);
    }
    int r = posture_blk_walk_mount(st->graph, m, res);
    *ret_remedy = remedy_of(st, res);
    return r;
}

/* ---- Evidence ---- */

static int emit_layers_and_state(struct state *st, const struct posture_blk_result *res)
{
    const struct posture_host_api *api = st->api;
    struct posture_result *result = st->result;
    static const char *const none[] = { NULL };
    char *const *layers = res->layers ? res->layers : (char *const *) none;

    int r;
    if (res->state == POSTURE_BLK_UNKNOWN)
        r = api->evidence_add_str(result, "encrypted", NULL);
    else
        r = api->evidence_add_bool(result, "encrypted", res->state == POSTURE_BLK_ENCRYPTED);
    if (r >= 0)
        r = api->evidence_add_strv(result, "layers", (const char *const *) layers,
                                   posture_strv_length(layers));
    if (r >= 0 && res->state == POSTURE_BLK_PLAIN && res->plain)
        r = api->evidence_add_strv(result, "unencrypted_devices", (const char *const *) res->plain,
                                   posture_strv_length(res->plain));
    if (r >= 0 && res->state == POSTURE_BLK_UNKNOWN)
        r = api->evidence_add_str(result, "note", res->why);
    return r;
}

static int emit_zfs(struct state *st, const struct posture_zfs_crypt *zc)
{
    const struct posture_host_api *api = st->api;
    int r = 0;

    if (zc->encryption)
        r = api->evidence_add_str(st->result, "zfs_encryption", zc->encryption);
    if (r >= 0 && zc->keystatus)
        r = api->evidence_add_str(st->result, "zfs_keystatus", zc->keystatus);
    if (r >= 0 && zc->encryption_root)
        r = api->evidence_add_str(st->result, "zfs_encryption_root", zc->encryption_root);
    return r;
}

static int evaluate_mounts(struct state *st)
{
    const struct posture_host_api *api = st->api;
    struct posture_result *result = st->result;

    int r = api->evidence_begin_array(result, "mounts");
    for (size_t i = 0; r >= 0 && i < st->n_targets; i++) {
        const struct posture_mount *m = st->targets[i];
        struct posture_blk_result res = { 0 };
        struct posture_zfs_crypt zc = { 0 };
        const char *remedy = NULL;

        r = eval_mount(st, m, &res, &zc, &remedy);
        if (r >= 0 && res.state == POSTURE_BLK_MEMORY)
            r = add_excluded(st, "mountpoint", m->mountpoint, m->fstype,
                             "stored in memory (%s), not on a disk",
                             res.layers && res.layers[0] ? res.layers[0] : m->fstype);
        if (r >= 0)
            r = note_outcome(st, m->mountpoint, m->mountpoint, false, &res, remedy);
        /* Memory-backed filesystems are listed under "excluded" only. */
        bool emit = res.state != POSTURE_BLK_MEMORY;
        if (r >= 0 && emit)
            r = api->evidence_begin_object(result, NULL);
        if (r >= 0 && emit)
            r = api->evidence_add_str(result, "mountpoint", m->mountpoint);
        if (r >= 0 && emit)
            r = api->evidence_add_str(result, "device",
                                      starts_with(m->source, "/dev/") || !res.device ? m->source
                                                                                     : res.device);
        if (r >= 0 && emit)
            r = api->evidence_add_str(result, "fstype", m->fstype);
        if (r >= 0 && emit)
            r = emit_layers_and_state(st, &res);
        if (r >= 0 && emit)
            r = emit_zfs(st, &zc);
        if (r >= 0 && emit)
            r = api->evidence_end(result);
        posture_blk_result_done(&res);
        posture_zfs_crypt_done(&zc);
    }
    if (r >= 0)
        r = api->evidence_end(result);
    if (r >= 0 && st->n_not_checked > 0) {
        /* Never a silent pass over what was not looked at. */
        struct posture_blk_result res = { .state = POSTURE_BLK_UNKNOWN, .error = -E2BIG };
        r = api->evidence_add_int(result, "mounts_not_checked", st->n_not_checked);
        if (r >= 0)
            r = posture_set_printf(&res.why,
                                   "%u of them were not checked (at most %u filesystems are)",
                                   st->n_not_checked, TARGETS_MAX);
        if (r >= 0)
            r = note_unknown(st, "every filesystem below /home and /var", &res,
                             REMEDIATION_TOO_MANY);
        posture_blk_result_done(&res);
    }
    return r;
}

/* One swap area: a device, or a file on some filesystem. */
static int eval_swap(struct state *st,
                     const struct posture_swap *sw,
                     struct posture_blk_result *res,
                     struct posture_zfs_crypt *zc,
                     const struct posture_mount **ret_fs,
                     const char **ret_remedy)
{
    *ret_fs = NULL;
    *res = (struct posture_blk_result){ 0 };
    if (sw->is_file) {
        const struct posture_mount *m = posture_mountinfo_containing(&st->mi, sw->path);
        char *why = NULL;
        if (!m) {
            *ret_remedy = REMEDIATION_DEVICE;
            if (asprintf(&why, "no mounted filesystem holds the swap file %s", sw->path) < 0)
                return -ENOMEM;
            return set_why(res, -ENOENT, why);
        }
        *ret_fs = m;
        int r = eval_mount(st, m, res, zc, ret_remedy);
        if (r >= 0 && res->state != POSTURE_BLK_UNKNOWN)
            r = posture_strv_extend(&res->layers, "file");
        return r;
    }
    if (!graph(st)) {
        *ret_remedy = REMEDIATION_SYSFS;
        return graph_unknown(st, res);
    }
    int r = posture_blk_walk_devpath(st->graph, sw->path, res);
    *ret_remedy = remedy_of(st, res);
    return r;
}

static int evaluate_swaps(struct state *st)
{
    const struct posture_host_api *api = st->api;
    struct posture_result *result = st->result;

    int r = api->evidence_begin_array(result, "swap");
    for (size_t i = 0; r >= 0 && i < st->swaps.n; i++) {
        const struct posture_swap *sw = &st->swaps.swaps[i];
        struct posture_blk_result res = { 0 };
        struct posture_zfs_crypt zc = { 0 };
        const struct posture_mount *fs = NULL;
        const char *remedy = NULL;
        char *label = NULL, *key = NULL;

        r = eval_swap(st, sw, &res, &zc, &fs, &remedy);
        if (r >= 0 &&
            (asprintf(&label, "swap %s", sw->path) < 0 || asprintf(&key, "swap:%s", sw->path) < 0))
            r = -ENOMEM;
        if (r >= 0 && res.state == POSTURE_BLK_MEMORY)
            r = add_excluded(st, "swap", sw->path, NULL, "stored in memory (%s), not on a disk",
                             res.layers && res.layers[0] ? res.layers[0] : "memory");
        if (r >= 0)
            r = note_outcome(st, label, key, true, &res, remedy);
        bool emit = res.state != POSTURE_BLK_MEMORY;
        if (r >= 0 && emit)
            r = api->evidence_begin_object(result, NULL);
        if (r >= 0 && emit)
            r = api->evidence_add_str(result, "device", sw->path);
        if (r >= 0 && emit)
            r = api->evidence_add_str(result, "type", sw->is_file ? "file" : "partition");
        if (r >= 0 && emit && fs)
            r = api->evidence_add_str(result, "filesystem", fs->mountpoint);
        if (r >= 0 && emit)
            r = emit_layers_and_state(st, &res);
        if (r >= 0 && emit)
            r = emit_zfs(st, &zc);
        if (r >= 0 && emit)
            r = api->evidence_end(result);
        free(label);
        free(key);
        posture_blk_result_done(&res);
        posture_zfs_crypt_done(&zc);
    }
    if (r >= 0)
        r = api->evidence_end(result);
    if (r >= 0 && st->swaps_error < 0) {
        /* The swap list itself could not be read: undecided. */
        struct posture_blk_result res = { .state = POSTURE_BLK_UNKNOWN, .error = st->swaps_error };
        if (st->swaps_error == -EBADMSG && st->swaps.first_invalid_line > 0)
            r = posture_set_printf(&res.why, SWAPS_PATH " line %u is not a swap entry",
                                   st->swaps.first_invalid_line);
        else
            r = posture_set_printf(&res.why, "cannot read " SWAPS_PATH ": %s",
                                   error_text(st->swaps_error));
        if (r >= 0)
            r = note_unknown(st, "swap", &res, REMEDIATION_DEVICE);
        posture_blk_result_done(&res);
    }
    return r;
}

static int emit_summary_evidence(struct state *st)
{
    const struct posture_host_api *api = st->api;
    struct posture_result *result = st->result;
    static const char *const none[] = { NULL };
    char *const *keys = st->unencrypted_keys ? st->unencrypted_keys : (char *const *) none;

    int r = api->evidence_begin_array(result, "excluded");
    for (size_t i = 0; r >= 0 && i < st->n_excluded; i++) {
        const struct excluded *e = &st->excluded[i];
        r = api->evidence_begin_object(result, NULL);
        if (r >= 0)
            r = api->evidence_add_str(result, e->key, e->name);
        if (r >= 0 && e->fstype)
            r = api->evidence_add_str(result, "fstype", e->fstype);
        if (r >= 0)
            r = api->evidence_add_str(result, "why", e->why);
        if (r >= 0)
            r = api->evidence_end(result);
    }
    if (r >= 0)
        r = api->evidence_end(result);
    if (r >= 0)
        r = api->evidence_add_strv(result, "unencrypted", (const char *const *) keys,
                                   posture_strv_length(keys));
    if (r >= 0)
        r = api->evidence_add_bool(result, "swap_supported", st->swap_supported);
    if (r >= 0)
        r = api->evidence_add_bool(result, "root_is_host", st->root_is_host);
    return r;
}

/* "a", "a and b", "a, b and c", "a, b, c, d and 3 more" into a new string. */
static char *join_labels(char *const *labels)
{
    size_t n = posture_strv_length(labels), shown = n > REASON_ITEMS_MAX ? REASON_ITEMS_MAX : n;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    if (!f)
        return NULL;
    for (size_t i = 0; i < shown; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == shown && shown == n ? " and " : ", ");
        (void) fprintf(f, "%s%s", sep, labels[i]);
    }
    if (shown < n)
        (void) fprintf(f, " and %zu more", n - shown);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- The verdict ---- */

static int decide(struct state *st)
{
    const struct posture_host_api *api = st->api;
    struct posture_result *result = st->result;
    size_t n_plain = posture_strv_length(st->unencrypted);
    int r;

    if (n_plain > 0) {
        posture_autofree char *list = join_labels(st->unencrypted);
        if (!list)
            return -ENOMEM;
        r = api->set_status(result, POSTURE_STATUS_FAIL);
        if (r >= 0)
            r = api->set_reason(result, "%s %s not encrypted", list, n_plain == 1 ? "is" : "are");
        if (r < 0)
            return r;
        if (st->unencrypted_mount && st->unencrypted_swap)
            return api->set_remediation(result, REMEDIATION_DISK "; " REMEDIATION_SWAP ".");
        if (st->unencrypted_mount)
            return api->set_remediation(result, REMEDIATION_DISK ".");
        return api->set_remediation(result, "Encrypt swap: " REMEDIATION_SWAP ".");
    }

    if (st->n_unknown > 0) {
        r = api->set_reason(result, "Could not tell whether %s is encrypted: %s", st->unknown_label,
                            st->unknown_why);
        if (r >= 0 && st->unknown_remedy)
            r = api->set_remediation(result, "%s", st->unknown_remedy);
        return r < 0 ? r : st->unknown_error;
    }

    if (!st->encrypted) {
        const struct posture_mount *root = posture_mountinfo_at(&st->mi, "/");
        r = api->set_status(result, POSTURE_STATUS_NOT_APPLICABLE);
        if (r >= 0 && root)
            r = api->set_reason(result,
                                "Nothing relevant is stored on a local disk: / is %s (%s) and "
                                "no swap area is on a disk",
                                root->fstype, exclusion_of(root) ? exclusion_of(root) : "memory");
        else if (r >= 0)
            r = api->set_reason(result, "Nothing relevant is stored on a local disk");
        return r;
    }

    posture_autofree char *list = join_labels(st->encrypted);
    posture_autofree char *layers = join_labels(st->crypt_layers);
    if (!list || !layers)
        return -ENOMEM;
    r = api->set_status(result, POSTURE_STATUS_PASS);
    if (r >= 0)
        r = api->set_reason(result, "%s %s encrypted (%s)", list,
                            posture_strv_length(st->encrypted) == 1 ? "is" : "are", layers);
    return r;
}

/* ---- Reading the root ---- */

static int read_mountinfo(struct state *st)
{
    const struct posture_host_api *api = st->api;
    char *buf = NULL;
    size_t len = 0;

    int r = api->read_file_at(st->ctx, MOUNTINFO_PATH, POSTURE_MOUNTINFO_FILE_MAX, &buf, &len);
    if (r == -ENOENT) {
        (void) api->set_reason(st->result, MOUNTINFO_PATH " does not exist (procfs is not "
                                                          "mounted)");
        (void) api->set_remediation(st->result,
                                    "Mount procfs at /proc ('mount -t proc proc /proc').");
        return r;
    }
    if (r < 0) {
        (void) api->set_reason(st->result, "Could not read " MOUNTINFO_PATH ": %s", error_text(r));
        return r;
    }
    r = posture_mountinfo_parse(buf, len, &st->mi);
    api->free_buf(buf);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        (void) api->set_reason(st->result, MOUNTINFO_PATH " is not a mount table (%s)",
                               r == -EBADMSG ? "it contains a NUL byte" : error_text(r));
        return r;
    }
    if (st->mi.n_invalid > 0) {
        (void) api->set_reason(st->result, MOUNTINFO_PATH " line %u is not a mount entry",
                               st->mi.first_invalid_line);
        return -EBADMSG;
    }
    if (!posture_mountinfo_at(&st->mi, "/")) {
        (void) api->set_reason(st->result, MOUNTINFO_PATH " lists no filesystem mounted at /");
        return -EBADMSG;
    }
    return 0;
}

static int read_swaps(struct state *st)
{
    const struct posture_host_api *api = st->api;
    char *buf = NULL;
    size_t len = 0;

    int r = api->read_file_at(st->ctx, SWAPS_PATH, POSTURE_SWAPS_FILE_MAX, &buf, &len);
    if (r == -ENOENT) {
        /* A kernel without CONFIG_SWAP has no /proc/swaps: no swap is possible. */
        st->swap_supported = false;
        return 0;
    }
    st->swap_supported = true;
    if (r == -ENOMEM || r == -ETIMEDOUT)
        return r;
    if (r < 0) {
        st->swaps_error = r;
        return 0;
    }
    r = posture_swaps_parse(buf, len, &st->swaps);
    api->free_buf(buf);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        st->swaps_error = r;
    else if (st->swaps.n_invalid > 0)
        st->swaps_error = -EBADMSG;
    return 0;
}

static int read_options(struct state *st)
{
    const struct posture_host_api *api = st->api;

    int r = api->option_get_str(st->ctx, "zfs_command", &st->zfs_cmd);
    if (r >= 0)
        r = api->option_get_str(st->ctx, "zpool_command", &st->zpool_cmd);
    if (r >= 0)
        r = api->option_get_u64(st->ctx, "tool_timeout", &st->tool_timeout);
    if (r < 0) {
        (void) api->set_reason(st->result, "Could not read the options of disk.encryption: %s",
                               error_text(r));
        return r;
    }
    return 0;
}

static int
disk_encryption_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    struct state st = {
        .ctx = ctx,
        .api = ctx->api,
        .result = result,
        .root_is_host = atomic_load(&assume_host) || posture_root_is_host(ctx->root_fd),
    };

    (void) state;
    int r = read_options(&st);
    if (r >= 0)
        r = read_mountinfo(&st);
    if (r >= 0)
        r = read_swaps(&st);
    if (r >= 0)
        r = choose_targets(&st);
    if (r >= 0)
        r = evaluate_mounts(&st);
    if (r >= 0)
        r = evaluate_swaps(&st);
    if (r >= 0)
        r = emit_summary_evidence(&st);
    if (r >= 0)
        r = decide(&st);
    state_done(&st);
    return r;
}

const struct posture_check_desc posture_check_disk_encryption = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "disk.encryption",
    .version = "1.0.0",
    .summary = "Filesystems with user data (/, /home, /var, on-disk /tmp) and swap are on "
               "dm-crypt or ZFS encryption",
    .flags = 0,
    .options = options,
    .init = NULL,
    .run = disk_encryption_run,
    .fini = NULL,
};
