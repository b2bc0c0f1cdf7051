/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pending updates from the dpkg status file and apt's lists (see apt.h).
 *
 * 1. The status file gives the installed packages, kept in a hash table keyed by name (each
 *    entry chains the architectures installed under that name), strings in an arena.
 * 2. The lists directory gives the Packages lists and the Release/InRelease files; each list
 *    belongs to the Release file with the longest file-name prefix of it.
 * 3. Each list is streamed once. A stanza whose Package is not installed is skipped as soon as
 *    its first line is read; for installed ones, versions above the installed one are kept with
 *    their best priority (few: only the pending ones).
 * 4. The candidate is the best (priority, version) pair, as apt's policy picks it.
 */
#include "apt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/strutil.h"
#include "posture/time_util.h"

#include "deb822.h"
#include "stream.h"

#define DEFAULT_STATUS    "var/lib/dpkg/status"
#define DEFAULT_LISTS_DIR "var/lib/apt/lists"
#define PERIODIC_DIR      "var/lib/apt/periodic"

/* Bounds on what a root may make us hold. */
#define INSTALLED_MAX   1000000u
#define DIR_ENTRIES_MAX 100000u
#define ARCHES_MAX      64u
#define NAME_MAX_LEN    4096u /* package names and versions */
#define ARCH_MAX_LEN    64u

#define PRIO_DEFAULT       500
#define PRIO_NOT_AUTOMATIC 1
#define PRIO_BUT_AUTOMATIC 100
#define PRIO_INSTALLED     100
#define NONE               UINT32_MAX

/* ---- Arena ---- */

struct arena_block {
    struct arena_block *next;
    size_t used, size;
    char data[];
};

struct arena {
    struct arena_block *head;
};

#define ARENA_BLOCK ((size_t) 64 * 1024)

static void arena_done(struct arena *a)
{
    while (a->head) {
        struct arena_block *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

static void *arena_alloc(struct arena *a, size_t size)
{
    size = (size + 7) & ~(size_t) 7;
    if (!a->head || a->head->size - a->head->used < size) {
        size_t bsize = size > ARENA_BLOCK / 4 ? size : ARENA_BLOCK;
        struct arena_block *b = malloc(sizeof(*b) + bsize);
        if (!b)
            return NULL;
        b->used = 0;
        b->size = bsize;
        if (bsize == size && a->head) {
            /* A large allocation gets a block of its own behind the current one. */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
        b->used = size;
        return b->data;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += size;
    return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* ---- Packages ---- */

/* A version above the installed one, with the best priority of the lists offering it. */
struct offer {
    struct offer *next; /* of the same package */
    const char *version;
    uint32_t version_len;
    uint32_t pkg;
    uint32_t hash;
    int prio;
    bool security;
};

struct pkg {
    const char *name;
    uint32_t name_len;
    uint32_t next_arch; /* index of another installed architecture of this name, or NONE */
    uint32_t hash;
    uint16_t arch;
    int installed_prio;
    const char *version;
    struct offer *offers;
};

struct release {
    char *name; /* file name in the lists directory */
    size_t prefix_len;
    bool inrelease;
    bool parsed;
    int prio;
    bool security;
};

struct ctx {
    int root_fd;
    const struct posture_apt_opts *opts;
    const char *status_path;
    const char *lists_dir;
    struct arena arena;

    struct pkg *pkgs;
    size_t n_pkgs, cap_pkgs;
    struct offer **offers; /* hash table of all offers by (package, version string) */
    size_t offers_size, n_offers;
    uint32_t *table; /* indices into pkgs, NONE for empty slots; power of two */
    size_t table_size;

    const char *arches[ARCHES_MAX]; /* arches[0] is the native one once known */
    size_t n_arches;
    uint64_t used_arches; /* bit per arch index that installed packages use */

    struct release *releases; /* sorted by name */
    size_t n_releases, cap_releases;
    char **lists; /* file names, sorted */
    size_t n_lists, cap_lists;
    uint64_t newest_mtime;

    /* The list being read. */
    const struct release *list_release;
    uint32_t cur_pkg;
    char *where;
};

static uint32_t hash_name(const char *s, size_t len)
{
    /* FNV-1a */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t table_find(const struct ctx *c, const char *name, size_t len, uint32_t h)
{
    if (c->table_size == 0)
        return NONE;
    size_t mask = c->table_size - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t idx = c->table[i];
        if (idx == NONE)
            return NONE;
        const struct pkg *p = &c->pkgs[idx];
        if (p->hash == h && p->name_len == len && memcmp(p->name, name, len) == 0)
            return idx;
    }
}

static int table_build(struct ctx *c)
{
    size_t size = 64;
    while (size < c->n_pkgs * 2)
        size *= 2;
    c->table = malloc(size * sizeof(*c->table));
    if (!c->table)
        return -ENOMEM;
    c->table_size = size;
    memset(c->table, 0xff, size * sizeof(*c->table));

    for (size_t idx = 0; idx < c->n_pkgs; idx++) {
        struct pkg *p = &c->pkgs[idx];
        uint32_t first = table_find(c, p->name, p->name_len, p->hash);
        if (first != NONE) {
            /* Another architecture of the same name: chain it. */
            p->next_arch = c->pkgs[first].next_arch;
            c->pkgs[first].next_arch = (uint32_t) idx;
            continue;
        }
        size_t mask = size - 1, i = p->hash & mask;
        while (c->table[i] != NONE)
            i = (i + 1) & mask;
        c->table[i] = (uint32_t) idx;
    }
    return 0;
}

static int arch_index(struct ctx *c, const char *arch, size_t len, bool add)
{
    for (size_t i = 0; i < c->n_arches; i++)
        if (strlen(c->arches[i]) == len && memcmp(c->arches[i], arch, len) == 0)
            return (int) i;
    if (!add)
        return -ENOENT;
    if (c->n_arches >= ARCHES_MAX)
        return -E2BIG;
    char *s = arena_strndup(&c->arena, arch, len);
    if (!s)
        return -ENOMEM;
    c->arches[c->n_arches] = s;
    return (int) c->n_arches++;
}

/* The architecture dpkg was built for, as dpkg names it. */
static const char *build_arch(void)
{
#if defined(__x86_64__) && defined(__ILP32__)
    return "x32";
#elif defined(__x86_64__)
    return "amd64";
#elif defined(__i386__)
    return "i386";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
    return "armhf";
#elif defined(__arm__)
    return "armel";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
    return "ppc64el";
#elif defined(__powerpc64__)
    return "ppc64";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#elif defined(__loongarch64)
    return "loong64";
#elif defined(__mips__) && defined(__MIPSEL__) && defined(__LP64__)
    return "mips64el";
#elif defined(__mips__) && defined(__MIPSEL__)
    return "mipsel";
#else
    return NULL;
#endif
}

/* Make room for element n of an array of capacity *cap (doubling): the array, moved or not,
 * or NULL (the old one untouched) when out of memory. */
static void *grow(void *array, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return array;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *a = reallocarray(array, ncap, elem);
    if (a)
        *cap = ncap;
    return a;
}

/* ---- The dpkg status file ---- */

enum { ST_PACKAGE, ST_STATUS, ST_VERSION, ST_ARCH, ST__MAX };
static const char *const status_fields[ST__MAX] = { "Package", "Status", "Version",
                                                    "Architecture" };

/*
 * "want flag status": is the package on the system as apt sees it (a "current version")?
 * apt-get upgrade acts on the status words below whatever the selection (deinstall and purge
 * included; hold only keeps it from acting) and the flag; half-installed, config-files and
 * not-installed packages have no current version worth upgrading.
 */
static bool status_is_installed(const char *s, size_t len)
{
    static const char *const states[] = { "installed", "triggers-pending", "triggers-awaited",
                                          "half-configured", "unpacked" };
    size_t i = len;
    while (i > 0 && s[i - 1] != ' ')
        i--;
    if (i == 0)
        return false; /* not three words */
    for (size_t k = 0; k < POSTURE_ELEMENTSOF(states); k++)
        if (len - i == strlen(states[k]) && memcmp(s + i, states[k], len - i) == 0)
            return true;
    return false;
}

static int on_status(const struct posture_deb822_value *v, void *userdata)
{
    struct ctx *c = userdata;

    if (!v[ST_PACKAGE].str || !v[ST_STATUS].str)
        return -EBADMSG; /* dpkg refuses such a status file too */
    if (!status_is_installed(v[ST_STATUS].str, v[ST_STATUS].len))
        return 0;
    if (v[ST_PACKAGE].len == 0 || v[ST_PACKAGE].len > NAME_MAX_LEN || !v[ST_VERSION].str ||
        v[ST_VERSION].len == 0 || v[ST_VERSION].len > NAME_MAX_LEN ||
        (v[ST_ARCH].str && v[ST_ARCH].len > ARCH_MAX_LEN))
        return -EBADMSG;
    if (c->n_pkgs >= INSTALLED_MAX)
        return -E2BIG;

    int arch = 0;
    if (v[ST_ARCH].str && v[ST_ARCH].len > 0) {
        arch = arch_index(c, v[ST_ARCH].str, v[ST_ARCH].len, true);
        if (arch < 0)
            return arch;
    }
    /* Without Architecture (dpkg before multiarch): the native one, index 0 (see parse). */

    struct pkg *a = grow(c->pkgs, &c->cap_pkgs, c->n_pkgs, sizeof(*a));
    if (!a)
        return -ENOMEM;
    c->pkgs = a;
    struct pkg *p = &c->pkgs[c->n_pkgs];
    *p = (struct pkg){
        .name = arena_strndup(&c->arena, v[ST_PACKAGE].str, v[ST_PACKAGE].len),
        .name_len = (uint32_t) v[ST_PACKAGE].len,
        .next_arch = NONE,
        .hash = hash_name(v[ST_PACKAGE].str, v[ST_PACKAGE].len),
        .arch = (uint16_t) arch,
        .installed_prio = PRIO_INSTALLED,
        .version = arena_strndup(&c->arena, v[ST_VERSION].str, v[ST_VERSION].len),
    };
    if (!p->name || !p->version)
        return -ENOMEM;
    c->n_pkgs++;
    return 0;
}

static int set_where(struct ctx *c, const char *dir, const char *name)
{
    free(c->where);
    c->where = NULL; /* on failure too: no stale location */
    return dir ? posture_set_printf(&c->where, "%s/%s", dir, name)
               : posture_set_printf(&c->where, "%s", name);
}

static int read_status(struct ctx *c)
{
    posture_auto_stream struct posture_stream *s = NULL;

    /* Index 0 is reserved for the native architecture, learnt below. */
    c->arches[0] = "";
    c->n_arches = 1;

    int r = posture_stream_open_at(c->root_fd, c->status_path, &s);
    if (r < 0)
        return r;
    const struct posture_deb822_opts o = {
        .fields = status_fields,
        .n_fields = ST__MAX,
        .on_stanza = on_status,
        .userdata = c,
        .deadline_usec = c->opts->deadline_usec,
    };
    r = posture_deb822_parse(s, &o);
    if (r < 0)
        return r;

    /* The native architecture: asked for, else that of the dpkg package, else the build's. */
    const char *native = c->opts->native_arch;
    if (!native) {
        for (size_t i = 0; i < c->n_pkgs; i++)
            if (c->pkgs[i].name_len == 4 && memcmp(c->pkgs[i].name, "dpkg", 4) == 0 &&
                c->pkgs[i].arch != 0 && strcmp(c->arches[c->pkgs[i].arch], "all") != 0) {
                native = c->arches[c->pkgs[i].arch];
                break;
            }
    }
    if (!native)
        native = build_arch();
    if (!native)
        return -EOPNOTSUPP;

    /* Fold the native architecture and "all" into index 0. */
    int fold[ARCHES_MAX];
    const char *old[ARCHES_MAX];
    size_t n_old = c->n_arches;
    memcpy(old, c->arches, sizeof(old));
    c->arches[0] = arena_strndup(&c->arena, native, strlen(native));
    if (!c->arches[0])
        return -ENOMEM;
    c->n_arches = 1;
    fold[0] = 0;
    for (size_t i = 1; i < n_old; i++) {
        if (strcmp(old[i], "all") == 0 || strcmp(old[i], native) == 0)
            fold[i] = 0;
        else {
            c->arches[c->n_arches] = old[i];
            fold[i] = (int) c->n_arches++;
        }
    }
    c->used_arches = 1;
    for (size_t i = 0; i < c->n_pkgs; i++) {
        c->pkgs[i].arch = (uint16_t) fold[c->pkgs[i].arch];
        c->used_arches |= UINT64_C(1) << c->pkgs[i].arch;
    }
    return table_build(c);
}

/* ---- The lists directory ---- */

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static int release_cmp(const void *a, const void *b)
{
    return strcmp(((const struct release *) a)->name, ((const struct release *) b)->name);
}

static int add_release(struct ctx *c, const char *name, size_t len, bool inrelease)
{
    struct release *a = grow(c->releases, &c->cap_releases, c->n_releases, sizeof(*a));
    if (!a)
        return -ENOMEM;
    c->releases = a;
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    c->releases[c->n_releases++] = (struct release){
        .name = copy,
        .prefix_len = len - strlen(inrelease ? "InRelease" : "Release"),
        .inrelease = inrelease,
    };
    return 0;
}

static int add_list(struct ctx *c, const char *name)
{
    char **a = grow(c->lists, &c->cap_lists, c->n_lists, sizeof(*a));
    if (!a)
        return -ENOMEM;
    c->lists = a;
    c->lists[c->n_lists] = strdup(name);
    if (!c->lists[c->n_lists])
        return -ENOMEM;
    c->n_lists++;
    return 0;
}

static void note_mtime(struct ctx *c, const struct stat *st)
{
    if (st->st_mtim.tv_sec > 0 && (uint64_t) st->st_mtim.tv_sec > c->newest_mtime)
        c->newest_mtime = (uint64_t) st->st_mtim.tv_sec;
}

static int scan_lists_dir(struct ctx *c)
{
    DIR *d = NULL;

    int r = posture_opendir_at_root(c->root_fd, c->lists_dir, &d);
    if (r == -ENOENT)
        return 0; /* apt never ran "update": nothing is known to be pending */
    if (r < 0) {
        (void) set_where(c, NULL, c->lists_dir);
        return r;
    }

    size_t entries = 0;
    r = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0)
                r = posture_negative_errno();
            break;
        }
        if (++entries > DIR_ENTRIES_MAX) {
            r = -E2BIG;
            break;
        }
        const char *name = de->d_name;
        size_t len = strlen(name);
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
            continue; /* partial/, auxfiles/, symlinks (apt makes none), ... */

        bool list = ends_with(name, len, "_Packages") || ends_with(name, len, "_Packages.lz4") ||
                    ends_with(name, len, "_Packages.gz") || ends_with(name, len, "_Packages.xz");
        bool unsupported =
            ends_with(name, len, "_Packages.bz2") || ends_with(name, len, "_Packages.lzma") ||
            ends_with(name, len, "_Packages.zst") || ends_with(name, len, "_Packages.zstd");
        bool inrelease = ends_with(name, len, "_InRelease");
        bool release = !inrelease && ends_with(name, len, "_Release");
        if (!list && !unsupported && !inrelease && !release)
            continue;
        if (unsupported) {
            (void) set_where(c, c->lists_dir, name);
            r = -EOPNOTSUPP;
            break;
        }

        struct stat st;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue; /* vanished or not a plain file */
        note_mtime(c, &st);
        r = list ? add_list(c, name) : add_release(c, name, len, inrelease);
        if (r < 0)
            break;
    }
    (void) closedir(d);
    if (r < 0)
        return r;

    if (c->n_lists > 1)
        qsort(c->lists, c->n_lists, sizeof(*c->lists), name_cmp);
    if (c->n_releases > 1)
        qsort(c->releases, c->n_releases, sizeof(*c->releases), release_cmp);
    return 0;
}

static int release_name_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct release *) elem)->name);
}

static struct release *
release_find(struct ctx *c, const char *list, size_t prefix_len, const char *suffix)
{
    char name[NAME_MAX + 1];
    size_t n = strlen(suffix);
    if (c->n_releases == 0 || prefix_len + n >= sizeof(name))
        return NULL;
    memcpy(name, list, prefix_len);
    memcpy(name + prefix_len, suffix, n + 1);
    return bsearch(name, c->releases, c->n_releases, sizeof(*c->releases), release_name_cmp);
}

/* The Release file of a list: the longest name prefix (Release file names end in "_InRelease"
 * or "_Release", so prefixes end at a '_'), InRelease over Release. */
static struct release *release_of(struct ctx *c, const char *list)
{
    for (size_t len = strlen(list); len > 0; len--) {
        if (list[len - 1] != '_')
            continue;
        struct release *rel = release_find(c, list, len, "InRelease");
        if (!rel)
            rel = release_find(c, list, len, "Release");
        if (rel)
            return rel;
    }
    return NULL;
}

enum { RE_ORIGIN, RE_LABEL, RE_SUITE, RE_CODENAME, RE_NOTAUTO, RE_BUTAUTO, RE__MAX };
static const char *const release_fields[RE__MAX] = { "Origin",       "Label",
                                                     "Suite",        "Codename",
                                                     "NotAutomatic", "ButAutomaticUpgrades" };

/* apt's StringToBool for the flags of a Release file. */
static bool value_is_true(const struct posture_deb822_value *v)
{
    if (!v->str)
        return false;
    static const char *const yes[] = { "yes", "true", "with", "on", "enable", "1" };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(yes); i++)
        if (strcasecmp(v->str, yes[i]) == 0)
            return true;
    return false;
}

static bool value_ends_with(const struct posture_deb822_value *v, const char *suffix)
{
    size_t n = strlen(suffix);
    return v->str && v->len >= n && strcasecmp(v->str + v->len - n, suffix) == 0;
}

static int on_release(const struct posture_deb822_value *v, void *userdata)
{
    struct release *rel = userdata;

    if (rel->parsed)
        return 0; /* only the first stanza describes the archive */
    rel->parsed = true;
    rel->prio = PRIO_DEFAULT;
    if (value_is_true(&v[RE_NOTAUTO]))
        rel->prio = value_is_true(&v[RE_BUTAUTO]) ? PRIO_BUT_AUTOMATIC : PRIO_NOT_AUTOMATIC;
    rel->security = value_ends_with(&v[RE_SUITE], "-security") ||
                    value_ends_with(&v[RE_CODENAME], "-security") ||
                    (v[RE_LABEL].str && strstr(v[RE_LABEL].str, "Security")) ||
                    (v[RE_ORIGIN].str && strstr(v[RE_ORIGIN].str, "Security"));
    return 0;
}

static int read_release(struct ctx *c, struct release *rel)
{
    posture_auto_stream struct posture_stream *s = NULL;
    posture_autofree char *path = NULL;

    if (asprintf(&path, "%s/%s", c->lists_dir, rel->name) < 0)
        return -ENOMEM;
    int r = posture_stream_open_at(c->root_fd, path, &s);
    if (r >= 0) {
        const struct posture_deb822_opts o = {
            .fields = release_fields,
            .n_fields = RE__MAX,
            .on_stanza = on_release,
            .userdata = rel,
            .armored = rel->inrelease,
            .deadline_usec = c->opts->deadline_usec,
        };
        r = posture_deb822_parse(s, &o);
    }
    if (r < 0) {
        (void) set_where(c, c->lists_dir, rel->name);
        return r;
    }
    if (!rel->parsed) {
        /* An empty Release file: apt's defaults. */
        rel->parsed = true;
        rel->prio = PRIO_DEFAULT;
    }
    return 0;
}

/* ---- Packages lists ---- */

enum { PK_PACKAGE, PK_VERSION, PK_ARCH, PK__MAX };
static const char *const packages_fields[PK__MAX] = { "Package", "Version", "Architecture" };

static int on_list_key(const char *value, size_t len, void *userdata)
{
    struct ctx *c = userdata;
    c->cur_pkg = table_find(c, value, len, hash_name(value, len));
    return c->cur_pkg == NONE ? POSTURE_DEB822_SKIP : 0;
}

static int offers_grow(struct ctx *c)
{
    size_t size = c->offers_size ? c->offers_size * 2 : 1024;
    struct offer **t = calloc(size, sizeof(struct offer *));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < c->offers_size; i++) {
        struct offer *o = c->offers[i];
        if (!o)
            continue;
        size_t k = o->hash & (size - 1);
        while (t[k])
            k = (k + 1) & (size - 1);
        t[k] = o;
    }
    free(c->offers);
    c->offers = t;
    c->offers_size = size;
    return 0;
}

/* Record that a list offers version (above the installed one) of package pkg: one entry per
 * distinct version string, found through a hash table (repositories such as Docker's or
 * VS Code's list hundreds of versions of one package). */
static int
add_offer(struct ctx *c, uint32_t pkg, const char *version, size_t len, int prio, bool security)
{
    if (len > NAME_MAX_LEN)
        return -EBADMSG;
    uint32_t h = hash_name(version, len) ^ (pkg * 0x9e3779b1u);
    if ((c->n_offers + 1) * 2 > c->offers_size) {
        int r = offers_grow(c);
        if (r < 0)
            return r;
    }
    size_t mask = c->offers_size - 1, k = h & mask;
    for (; c->offers[k]; k = (k + 1) & mask) {
        struct offer *o = c->offers[k];
        if (o->hash == h && o->pkg == pkg && o->version_len == len &&
            memcmp(o->version, version, len) == 0) {
            if (prio > o->prio)
                o->prio = prio;
            o->security = o->security || security;
            return 0;
        }
    }
    struct pkg *p = &c->pkgs[pkg];
    struct offer *o = arena_alloc(&c->arena, sizeof(*o));
    if (!o)
        return -ENOMEM;
    *o = (struct offer){
        .next = p->offers,
        .version = arena_strndup(&c->arena, version, len),
        .version_len = (uint32_t) len,
        .pkg = pkg,
        .hash = h,
        .prio = prio,
        .security = security,
    };
    if (!o->version)
        return -ENOMEM;
    p->offers = o;
    c->offers[k] = o;
    c->n_offers++;
    return 0;
}

static int on_list_stanza(const struct posture_deb822_value *v, void *userdata)
{
    struct ctx *c = userdata;
    uint32_t first = c->cur_pkg;

    c->cur_pkg = NONE;
    if (first == NONE || !v[PK_PACKAGE].str)
        return 0; /* no Package field at all: not a package */
    if (!v[PK_VERSION].str || v[PK_VERSION].len == 0)
        return -EBADMSG;

    int arch = 0;
    if (v[PK_ARCH].str && strcmp(v[PK_ARCH].str, "all") != 0) {
        arch = arch_index(c, v[PK_ARCH].str, v[PK_ARCH].len, false);
        if (arch < 0)
            return 0; /* an architecture nothing installed uses */
    }
    struct pkg *p = NULL;
    for (uint32_t i = first; i != NONE; i = c->pkgs[i].next_arch)
        if (c->pkgs[i].arch == arch) {
            p = &c->pkgs[i];
            break;
        }
    if (!p)
        return 0;

    const struct release *rel = c->list_release;
    int prio = rel ? rel->prio : PRIO_DEFAULT;
    bool security = rel && rel->security;
    const char *version = v[PK_VERSION].str;
    int cmp = posture_debversion_compare(version, p->version);
    if (cmp < 0)
        return 0; /* never a candidate without a pin >= 1000 */
    if (cmp == 0) {
        if (prio > p->installed_prio)
            p->installed_prio = prio;
        return 0;
    }
    return add_offer(c, (uint32_t) (p - c->pkgs), version, v[PK_VERSION].len, prio, security);
}

/* The architecture of a list from its name (…_binary-<arch>_Packages…): true when the list
 * can hold packages of an installed architecture. */
static bool list_arch_wanted(const struct ctx *c, const char *name)
{
    const char *b = NULL;
    for (const char *p = strstr(name, "_binary-"); p; p = strstr(p + 1, "_binary-"))
        b = p;
    if (!b)
        return true; /* a flat repository: each stanza says */
    b += strlen("_binary-");
    const char *e = strchr(b, '_');
    size_t len = e ? (size_t) (e - b) : strlen(b);
    if (len == 3 && memcmp(b, "all", 3) == 0)
        return true;
    for (size_t i = 0; i < c->n_arches; i++)
        if ((c->used_arches & (UINT64_C(1) << i)) && strlen(c->arches[i]) == len &&
            memcmp(c->arches[i], b, len) == 0)
            return true;
    return false;
}

static int read_list(struct ctx *c, const char *name)
{
    posture_auto_stream struct posture_stream *s = NULL;
    posture_autofree char *path = NULL;

    struct release *rel = release_of(c, name);
    if (rel && !rel->parsed) {
        int r = read_release(c, rel);
        if (r < 0)
            return r;
    }
    c->list_release = rel;
    c->cur_pkg = NONE;

    if (asprintf(&path, "%s/%s", c->lists_dir, name) < 0)
        return -ENOMEM;
    int r = posture_stream_open_at(c->root_fd, path, &s);
    if (r >= 0) {
        const struct posture_deb822_opts o = {
            .fields = packages_fields,
            .n_fields = PK__MAX,
            .on_key = on_list_key,
            .on_stanza = on_list_stanza,
            .userdata = c,
            .deadline_usec = c->opts->deadline_usec,
        };
        r = posture_deb822_parse(s, &o);
    }
    if (r < 0) {
        (void) set_where(c, c->lists_dir, name);
        return r;
    }
    return 0;
}

/* ---- Results ---- */

void posture_apt_result_done(struct posture_apt_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_updates; i++) {
        free(r->updates[i].name);
        free(r->updates[i].installed_version);
        free(r->updates[i].candidate_version);
    }
    free(r->updates);
    for (size_t i = 0; i < r->n_kernels; i++) {
        free(r->kernels[i].release);
        free(r->kernels[i].version);
    }
    free(r->kernels);
    if (r->kernel_packages)
        for (char **k = r->kernel_packages; *k; k++)
            free(*k);
    free(r->kernel_packages);
    free(r->newest_kernel);
    free(r->newest_kernel_release);
    *r = (struct posture_apt_result){ 0 };
}

static int update_cmp(const void *a, const void *b)
{
    return strcmp(((const struct posture_apt_update *) a)->name,
                  ((const struct posture_apt_update *) b)->name);
}

static int kernel_cmp(const void *a, const void *b)
{
    const struct posture_apt_kernel *x = a, *y = b;
    int r = posture_debversion_compare(y->version, x->version); /* newest first */
    return r != 0 ? r : strcmp(x->release, y->release);
}

static bool is_kernel(const struct pkg *p)
{
    return p->name_len > strlen("linux-image-") && memcmp(p->name, "linux-image-", 12) == 0 &&
           p->name[12] >= '0' && p->name[12] <= '9';
}

/* apt's candidate: the offer with the best (priority, version), if it beats the installed
 * version (its own priority, at least 100); NULL when the installed version stays. */
static const struct offer *candidate(const struct pkg *p)
{
    int best_prio = p->installed_prio;
    const struct offer *best = NULL;
    for (const struct offer *o = p->offers; o; o = o->next)
        if (o->prio > best_prio ||
            (o->prio == best_prio &&
             posture_debversion_compare(o->version, best ? best->version : p->version) > 0)) {
            best = o;
            best_prio = o->prio;
        }
    return best;
}

static int collect(struct ctx *c, struct posture_apt_result *res)
{
    size_t n_kernels = 0, n_updates = 0;
    for (size_t i = 0; i < c->n_pkgs; i++) {
        n_kernels += is_kernel(&c->pkgs[i]);
        n_updates += candidate(&c->pkgs[i]) != NULL;
    }
    res->installed = c->n_pkgs;
    res->kernels = calloc(n_kernels ? n_kernels : 1, sizeof(*res->kernels));
    res->updates = calloc(n_updates ? n_updates : 1, sizeof(*res->updates));
    if (!res->kernels || !res->updates)
        return -ENOMEM;

    for (size_t i = 0; i < c->n_pkgs; i++) {
        const struct pkg *p = &c->pkgs[i];

        if (is_kernel(p)) {
            struct posture_apt_kernel *k = &res->kernels[res->n_kernels++];
            k->release = strdup(p->name + 12);
            k->version = strdup(p->version);
            if (!k->release || !k->version)
                return -ENOMEM;
        }

        const struct offer *best = candidate(p);
        if (!best)
            continue;
        struct posture_apt_update *u = &res->updates[res->n_updates++];
        int n = p->arch == 0 ? posture_set_printf(&u->name, "%s", p->name)
                             : posture_set_printf(&u->name, "%s:%s", p->name, c->arches[p->arch]);
        if (n < 0)
            return n;
        u->installed_version = strdup(p->version);
        u->candidate_version = strdup(best->version);
        u->security = best->security;
        if (!u->installed_version || !u->candidate_version)
            return -ENOMEM;
        res->pending++;
        if (u->security)
            res->pending_security++;
    }
    if (res->n_updates > 1)
        qsort(res->updates, res->n_updates, sizeof(*res->updates), update_cmp);

    if (res->n_kernels > 0) {
        qsort(res->kernels, res->n_kernels, sizeof(*res->kernels), kernel_cmp);
        res->newest_kernel = strdup(res->kernels[0].version);
        res->newest_kernel_release = strdup(res->kernels[0].release);
        if (!res->newest_kernel || !res->newest_kernel_release)
            return -ENOMEM;
    }
    res->kernel_packages = calloc(res->n_kernels + 1, sizeof(char *));
    if (!res->kernel_packages)
        return -ENOMEM;
    for (size_t i = 0; i < res->n_kernels; i++)
        if (asprintf(&res->kernel_packages[i], "linux-image-%s", res->kernels[i].release) < 0) {
            res->kernel_packages[i] = NULL;
            return -ENOMEM;
        }
    return 0;
}

static void stamp_mtime(struct ctx *c, const char *name)
{
    posture_autoclose int fd = -1;
    posture_autofree char *path = NULL;
    struct stat st;

    if (asprintf(&path, "%s/%s", PERIODIC_DIR, name) < 0)
        return;
    if (posture_open_at_root(c->root_fd, path, O_PATH, &fd) < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        note_mtime(c, &st);
}

static void ctx_done(struct ctx *c)
{
    arena_done(&c->arena);
    free(c->pkgs);
    free(c->table);
    free(c->offers);
    for (size_t i = 0; i < c->n_releases; i++)
        free(c->releases[i].name);
    free(c->releases);
    for (size_t i = 0; i < c->n_lists; i++)
        free(c->lists[i]);
    free(c->lists);
    free(c->where);
}

static bool past(const struct ctx *c)
{
    return c->opts->deadline_usec > 0 && posture_now_usec(CLOCK_MONOTONIC) > c->opts->deadline_usec;
}

static int compute(struct ctx *c, struct posture_apt_result *res)
{
    int r = read_status(c);
    if (r < 0) {
        if (!c->where)
            (void) set_where(c, NULL, c->status_path);
        return r;
    }
    r = scan_lists_dir(c);
    if (r < 0)
        return r;
    for (size_t i = 0; i < c->n_lists; i++) {
        if (past(c))
            return -ETIMEDOUT;
        if (!list_arch_wanted(c, c->lists[i]))
            continue;
        r = read_list(c, c->lists[i]);
        if (r < 0)
            return r;
        res->lists++;
    }
    stamp_mtime(c, "update-success-stamp");
    stamp_mtime(c, "update-stamp");
    res->lists_updated_at = c->newest_mtime;
    return collect(c, res);
}

int posture_apt_compute(int root_fd,
                        const struct posture_apt_opts *opts,
                        struct posture_apt_result *ret,
                        char **ret_where)
{
    static const struct posture_apt_opts defaults = { 0 };
    struct posture_apt_result res = { 0 };

    if (!ret)
        return -EINVAL;
    if (!opts)
        opts = &defaults;
    struct ctx c = {
        .root_fd = root_fd,
        .opts = opts,
        .status_path = opts->dpkg_status ? opts->dpkg_status : DEFAULT_STATUS,
        .lists_dir = opts->lists_dir ? opts->lists_dir : DEFAULT_LISTS_DIR,
    };

    int r = compute(&c, &res);
    if (r < 0) {
        posture_apt_result_done(&res);
        if (ret_where)
            *ret_where = POSTURE_TAKE_PTR(c.where);
        ctx_done(&c);
        return r;
    }
    ctx_done(&c);
    if (ret_where)
        *ret_where = NULL;
    *ret = res;
    return 0;
}
