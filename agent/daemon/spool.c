/* SPDX-License-Identifier: Apache-2.0 */
/* The offline spool; see spool.h. */

#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/hex.h"
#include "posture/log.h"
#include "posture/statefile.h"

#define MAGIC        "posture-spool 1 "
#define SUFFIX       ".sub"
#define NAME_LEN     (20 + sizeof(SUFFIX) - 1)
#define HEADER_MAX   160
#define DROPPED_NAME "dropped"
#define CORRUPT_DIR  "corrupt"

struct posture_spool {
    int fd;         /* spool/ */
    int corrupt_fd; /* spool/corrupt/ */
    struct posture_spool_limits limits;
    uint64_t corrupt;
};

struct entry {
    uint64_t seq;
    uint64_t created_usec;
    uint64_t size; /* file size */
};

static void close_fd(int fd)
{
    if (fd >= 0)
        (void) close(fd);
}

struct posture_spool *posture_spool_free(struct posture_spool *s)
{
    if (!s)
        return NULL;
    close_fd(s->fd);
    close_fd(s->corrupt_fd);
    free(s);
    return NULL;
}

static int open_subdir(int dir_fd, const char *name, int *ret)
{
    int fd;

    if (mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
        return -errno;
    fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = posture_state_adopt_owner(dir_fd, fd);
    if (r < 0) {
        (void) close(fd);
        return r;
    }
    *ret = fd;
    return 0;
}

static bool name_is_tmp(const char *n)
{
    size_t l = strlen(n);
    return n[0] == '.' && l > 4 && strcmp(n + l - 4, ".tmp") == 0;
}

/* "00000000000000000042.sub" → 42; false for any other name. */
static bool name_to_seq(const char *n, uint64_t *ret)
{
    uint64_t v = 0;

    if (strlen(n) != NAME_LEN || strcmp(n + 20, SUFFIX) != 0)
        return false;
    for (int i = 0; i < 20; i++) {
        if (n[i] < '0' || n[i] > '9')
            return false;
        if (v > (UINT64_MAX - (uint64_t) (n[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t) (n[i] - '0');
    }
    *ret = v;
    return true;
}

static void seq_to_name(uint64_t seq, char buf[static NAME_LEN + 1])
{
    (void) snprintf(buf, NAME_LEN + 1, "%020" PRIu64 SUFFIX, seq);
}

int posture_spool_open(int dir_fd,
                       const struct posture_spool_limits *limits,
                       struct posture_spool **ret)
{
    struct posture_spool *s;
    DIR *d;
    struct dirent *de;
    int fd, r;

    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fd = s->corrupt_fd = -1;
    if (limits)
        s->limits = *limits;
    if (s->limits.max_bytes == 0)
        s->limits.max_bytes = POSTURE_SPOOL_DEFAULT_BYTES;
    if (s->limits.max_age_usec == 0)
        s->limits.max_age_usec = POSTURE_SPOOL_DEFAULT_AGE;
    r = open_subdir(dir_fd, POSTURE_SPOOL_DIR, &s->fd);
    if (r >= 0)
        r = open_subdir(s->fd, CORRUPT_DIR, &s->corrupt_fd);
    if (r < 0) {
        posture_spool_free(s);
        return r;
    }

    /* Temporary files of a write that never finished are garbage: nobody was told about them. */
    fd = openat(s->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        r = -errno;
        close_fd(fd);
        posture_spool_free(s);
        return r;
    }
    while ((de = readdir(d)))
        if (name_is_tmp(de->d_name) && unlinkat(s->fd, de->d_name, 0) == 0)
            log_debug("spool: removed the unfinished write %s", de->d_name);
    (void) closedir(d);
    *ret = s;
    return 0;
}

int posture_spool_parse(const char *buf,
                        size_t len,
                        uint64_t *ret_seq,
                        uint64_t *ret_created_usec,
                        const char **ret_body,
                        size_t *ret_body_len)
{
    const char *nl = memchr(buf, '\n', len < HEADER_MAX ? len : HEADER_MAX);
    char header[HEADER_MAX + 1], hex[65];
    uint8_t want[32], got[32];
    uint64_t seq, created, length;
    size_t hlen;
    int n = 0;

    if (!nl)
        return -EBADMSG;
    hlen = (size_t) (nl - buf);
    memcpy(header, buf, hlen);
    header[hlen] = '\0';
    if (strncmp(header, MAGIC, strlen(MAGIC)) != 0 || memchr(header, '\0', hlen))
        return -EBADMSG;
    if (sscanf(header + strlen(MAGIC), "%20" SCNu64 " %20" SCNu64 " %20" SCNu64 " %64[0-9a-f]%n",
               &seq, &created, &length, hex, &n) != 4 ||
        (size_t) n != hlen - strlen(MAGIC) || strlen(hex) != 64)
        return -EBADMSG;
    /* The canonical header only: what we write is what we accept. */
    {
        char again[HEADER_MAX + 1];
        int k = snprintf(again, sizeof(again), MAGIC "%" PRIu64 " %" PRIu64 " %" PRIu64 " %s", seq,
                         created, length, hex);
        if (k < 0 || (size_t) k != hlen || memcmp(again, header, hlen) != 0)
            return -EBADMSG;
    }
    if (length == 0 || length > POSTURE_SPOOL_ENTRY_MAX || length != len - hlen - 1)
        return -EBADMSG;
    if (posture_hex_decode_buf(hex, 64, want, sizeof(want)) != 32 ||
        EVP_Digest(nl + 1, length, got, NULL, EVP_sha256(), NULL) != 1 ||
        CRYPTO_memcmp(want, got, 32) != 0)
        return -EBADMSG;
    *ret_seq = seq;
    *ret_created_usec = created;
    *ret_body = nl + 1;
    *ret_body_len = (size_t) length;
    return 0;
}

/* Keep the newest POSTURE_SPOOL_CORRUPT_KEEP files in corrupt/. */
static void trim_corrupt(struct posture_spool *s)
{
    uint64_t seqs[POSTURE_SPOOL_CORRUPT_KEEP + 1];
    size_t n = 0;
    int fd = openat(s->corrupt_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (!d) {
        close_fd(fd);
        return;
    }
    /* Names sort by seq; remove every one but the highest KEEP (insertion into a small array). */
    while ((de = readdir(d))) {
        uint64_t seq;
        char name[NAME_LEN + 1];
        if (!name_to_seq(de->d_name, &seq))
            continue;
        size_t i = n;
        while (i > 0 && seqs[i - 1] > seq)
            i--;
        memmove(seqs + i + 1, seqs + i, (n - i) * sizeof(seqs[0]));
        seqs[i] = seq;
        n++;
        if (n > POSTURE_SPOOL_CORRUPT_KEEP) {
            seq_to_name(seqs[0], name);
            (void) unlinkat(s->corrupt_fd, name, 0);
            memmove(seqs, seqs + 1, (n - 1) * sizeof(seqs[0]));
            n--;
        }
    }
    (void) closedir(d);
}

static void move_aside(struct posture_spool *s, const char *name, const char *why)
{
    if (renameat(s->fd, name, s->corrupt_fd, name) < 0) {
        log_warning("spool: %s is %s and cannot be moved aside (%m); removing it", name, why);
        (void) unlinkat(s->fd, name, 0);
    } else
        log_warning("spool: %s is %s; moved to " POSTURE_SPOOL_DIR "/" CORRUPT_DIR "/", name, why);
    (void) fsync(s->fd);
    s->corrupt++;
    trim_corrupt(s);
}

/* Read and check one file; -EBADMSG after moving it aside. */
static int read_entry(
    struct posture_spool *s, const char *name, char **ret_buf, size_t *ret_len, struct entry *ret_e)
{
    posture_autoclose int fd = openat(s->fd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    posture_autofree char *buf = NULL;
    const char *body;
    uint64_t seq, created, want_seq = 0;
    size_t len = 0, body_len;
    int r;

    if (fd < 0)
        return -errno;
    r = posture_read_fd(fd, POSTURE_SPOOL_ENTRY_MAX + HEADER_MAX, &buf, &len);
    if (r == -EFBIG || (r >= 0 && len == 0)) {
        move_aside(s, name, r == -EFBIG ? "too large" : "empty");
        return -EBADMSG;
    }
    if (r < 0)
        return r;
    if (posture_spool_parse(buf, len, &seq, &created, &body, &body_len) < 0 ||
        !name_to_seq(name, &want_seq) || seq != want_seq) {
        move_aside(s, name, "damaged (bad header, length or digest)");
        return -EBADMSG;
    }
    if (ret_e)
        *ret_e = (struct entry){ .seq = seq, .created_usec = created, .size = len };
    if (ret_buf) {
        memmove(buf, body, body_len);
        buf[body_len] = '\0';
        *ret_buf = POSTURE_TAKE_PTR(buf);
        *ret_len = body_len;
    }
    return 0;
}

static int cmp_entry_desc(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* Every valid entry, newest first (damaged ones are moved aside on the way). */
static int scan(struct posture_spool *s, struct entry **ret, size_t *ret_n)
{
    posture_autofree struct entry *v = NULL;
    size_t n = 0, cap = 0;
    int fd = openat(s->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    int r = 0;

    if (!d) {
        r = -errno;
        close_fd(fd);
        return r;
    }
    while ((de = readdir(d))) {
        uint64_t seq;
        struct entry e;
        if (!name_to_seq(de->d_name, &seq))
            continue;
        if (n >= POSTURE_SPOOL_ENTRIES_MAX)
            break;
        r = read_entry(s, de->d_name, NULL, NULL, &e);
        if (r == -EBADMSG || r == -ENOENT) {
            r = 0;
            continue;
        }
        if (r < 0)
            break;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct entry *p = reallocarray(v, nc, sizeof(*v));
            if (!p) {
                r = -ENOMEM;
                break;
            }
            v = p;
            cap = nc;
        }
        v[n++] = e;
    }
    (void) closedir(d);
    if (r < 0)
        return r;
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_entry_desc);
    *ret = POSTURE_TAKE_PTR(v);
    *ret_n = n;
    return 0;
}

static int read_counter(struct posture_spool *s, uint64_t *ret)
{
    posture_autofree char *line = NULL;
    int r = posture_read_line_at(s->fd, DROPPED_NAME, 32, &line);
    uint64_t v = 0;

    if (r == -ENOENT) {
        *ret = 0;
        return 0;
    }
    if (r < 0)
        return r;
    for (const char *p = line; *p; p++) {
        if (*p < '0' || *p > '9' || v > UINT64_MAX / 10 - 9)
            return -EBADMSG;
        v = v * 10 + (uint64_t) (*p - '0');
    }
    *ret = v;
    return 0;
}

static int write_counter(struct posture_spool *s, uint64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
    return posture_state_write_atomic(s->fd, DROPPED_NAME, buf, (size_t) n, 0600, true);
}

static int count_dropped(struct posture_spool *s, uint64_t n)
{
    uint64_t v = 0;
    int r;

    if (n == 0)
        return 0;
    r = read_counter(s, &v);
    if (r == -EBADMSG)
        v = 0; /* a damaged counter restarts; the loss is this number, not reports */
    else if (r < 0)
        return r;
    return write_counter(s, v + n);
}

/* Drop expired entries, then the oldest until bytes fit; keep[0..] never dropped. */
static int enforce(struct posture_spool *s, uint64_t now_usec, uint64_t keep_seq, bool keep)
{
    posture_autofree struct entry *v = NULL;
    uint64_t bytes = 0, dropped = 0;
    size_t n = 0;
    int r;

    r = scan(s, &v, &n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        bytes += v[i].size;
    /* Oldest first: from the end of the newest-first array. */
    for (size_t i = n; i > 0; i--) {
        struct entry *e = &v[i - 1];
        bool expired =
            now_usec > e->created_usec && now_usec - e->created_usec > s->limits.max_age_usec;
        char name[NAME_LEN + 1];

        if (!expired && bytes <= s->limits.max_bytes)
            break;
        if (keep && e->seq == keep_seq && !expired)
            continue;
        seq_to_name(e->seq, name);
        if (unlinkat(s->fd, name, 0) < 0 && errno != ENOENT)
            return -errno;
        bytes -= e->size;
        dropped++;
        log_notice("spool: dropped report %" PRIu64 " (%s)", e->seq,
                   expired ? "older than the spool's max_age" : "the spool is full");
    }
    if (dropped > 0) {
        if (fsync(s->fd) < 0)
            return -errno;
        r = count_dropped(s, dropped);
        if (r < 0)
            return r;
    }
    return 0;
}

int posture_spool_put(
    struct posture_spool *s, uint64_t seq, const void *body, size_t len, uint64_t now_usec)
{
    posture_autofree char *buf = NULL;
    char name[NAME_LEN + 1], hex[65];
    uint8_t digest[32];
    int hlen, r;

    if (!s || !body || len == 0 || len > POSTURE_SPOOL_ENTRY_MAX)
        return -EINVAL;
    if (EVP_Digest(body, len, digest, NULL, EVP_sha256(), NULL) != 1)
        return -EIO;
    (void) posture_hex_encode_buf(digest, sizeof(digest), hex);
    buf = malloc(HEADER_MAX + len);
    if (!buf)
        return -ENOMEM;
    hlen = snprintf(buf, HEADER_MAX, MAGIC "%" PRIu64 " %" PRIu64 " %zu %s\n", seq, now_usec, len,
                    hex);
    if (hlen < 0 || hlen >= HEADER_MAX)
        return -EINVAL;
    memcpy(buf + hlen, body, len);
    seq_to_name(seq, name);
    r = posture_state_write_atomic(s->fd, name, buf, (size_t) hlen + len, 0600, false);
    if (r < 0)
        return r;
    if ((uint64_t) hlen + len > s->limits.max_bytes) {
        /* Larger than the whole spool may be: it cannot be kept. */
        (void) unlinkat(s->fd, name, 0);
        (void) fsync(s->fd);
        (void) count_dropped(s, 1);
        return -EFBIG;
    }
    return enforce(s, now_usec, seq, true);
}

int posture_spool_list(struct posture_spool *s, uint64_t now_usec, uint64_t **ret, size_t *ret_n)
{
    posture_autofree struct entry *v = NULL;
    uint64_t *seqs;
    size_t n = 0;
    int r;

    r = enforce(s, now_usec, 0, false);
    if (r >= 0)
        r = scan(s, &v, &n);
    if (r < 0)
        return r;
    seqs = calloc(n ? n : 1, sizeof(*seqs));
    if (!seqs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        seqs[i] = v[i].seq;
    *ret = seqs;
    *ret_n = n;
    return 0;
}

int posture_spool_get(struct posture_spool *s, uint64_t seq, char **ret, size_t *ret_len)
{
    char name[NAME_LEN + 1];

    seq_to_name(seq, name);
    return read_entry(s, name, ret, ret_len, NULL);
}

int posture_spool_remove(struct posture_spool *s, uint64_t seq)
{
    char name[NAME_LEN + 1];

    seq_to_name(seq, name);
    if (unlinkat(s->fd, name, 0) < 0)
        return -errno;
    return fsync(s->fd) < 0 ? -errno : 0;
}

int posture_spool_dropped(struct posture_spool *s, uint64_t *ret)
{
    int r = read_counter(s, ret);
    if (r == -EBADMSG) {
        *ret = 0;
        return 0;
    }
    return r;
}

int posture_spool_take_dropped(struct posture_spool *s, uint64_t *ret)
{
    uint64_t v;
    int r = posture_spool_dropped(s, &v);

    if (r < 0)
        return r;
    if (v > 0) {
        r = write_counter(s, 0);
        if (r < 0)
            return r;
    }
    *ret = v;
    return 0;
}

int posture_spool_stats(struct posture_spool *s, struct posture_spool_stats *ret)
{
    posture_autofree struct entry *v = NULL;
    size_t n = 0;
    int r = scan(s, &v, &n);

    if (r < 0)
        return r;
    *ret = (struct posture_spool_stats){ .entries = n, .corrupt = s->corrupt };
    for (size_t i = 0; i < n; i++) {
        ret->bytes += v[i].size;
        if (ret->oldest_usec == 0 || v[i].created_usec < ret->oldest_usec)
            ret->oldest_usec = v[i].created_usec;
    }
    return 0;
}
