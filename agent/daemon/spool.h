/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The offline spool (DESIGN.md §11, RELIABILITY.md §7 G10): every submission is persisted
 * before it is sent, survives kill -9 and power loss at any point, is bounded in bytes and age
 * (drop oldest, count the drops so the next report can say so), and is drained newest first.
 * Delivery is at-least-once; the verifier de-duplicates by (device, seq).
 *
 * Layout: <state_dir>/spool/<seq as 20 digits>.sub, each file
 *     "posture-spool 1 <seq> <created_usec> <length> <sha256 hex>\n" <length bytes of body>
 * written to a temporary name, fsync'ed, renamed, and the directory fsync'ed. A file whose
 * header, length or digest is wrong (a torn write on a file system without ordering, a bit
 * flip, a zero-length file after a power cut) is moved to spool/corrupt/ with a log line and
 * never blocks newer entries; corrupt/ keeps the last POSTURE_SPOOL_CORRUPT_KEEP files.
 * <state_dir>/spool/dropped holds the number of entries dropped since it was last taken.
 *
 * One process owns a spool at a time (the daemon); posturectl status only reads.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posture/cleanup.h"

#define POSTURE_SPOOL_DIR           "spool"
#define POSTURE_SPOOL_CORRUPT_KEEP  8
#define POSTURE_SPOOL_ENTRY_MAX     ((size_t) 2 * 1024 * 1024) /* a submission body, at most */
#define POSTURE_SPOOL_ENTRIES_MAX   10000u
#define POSTURE_SPOOL_DEFAULT_BYTES ((uint64_t) 8 * 1024 * 1024)
#define POSTURE_SPOOL_DEFAULT_AGE   ((uint64_t) 7 * 24 * 3600 * 1000000ULL)

struct posture_spool_limits {
    uint64_t max_bytes;    /* sum of file sizes; 0: POSTURE_SPOOL_DEFAULT_BYTES */
    uint64_t max_age_usec; /* entries older than this are dropped; 0: the default */
};

struct posture_spool;

/* Open (creating spool/ and spool/corrupt/, mode 0700) below the state directory dir_fd.
 * Leftover temporary files of an interrupted write are removed. -ENOTDIR, -EACCES, -EROFS,
 * -ENOMEM. */
int posture_spool_open(int dir_fd,
                       const struct posture_spool_limits *limits,
                       struct posture_spool **ret);
struct posture_spool *posture_spool_free(struct posture_spool *s);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_spool *, posture_spool_free)
#define posture_auto_spool POSTURE_CLEANUP(posture_spool_freep)

/*
 * Persist body (len bytes) as entry seq, durably, then enforce the limits: expired entries and
 * then the oldest ones go until the spool fits (the new entry is kept unless it alone exceeds
 * max_bytes: then it is dropped too and -EFBIG returned). Every dropped entry is counted.
 * -EEXIST when seq is already spooled; -ENOSPC, -EROFS, -EIO, -EDQUOT from the file system
 * (nothing is left behind: the temporary file is removed); -EINVAL for len 0 or over
 * POSTURE_SPOOL_ENTRY_MAX.
 */
int posture_spool_put(
    struct posture_spool *s, uint64_t seq, const void *body, size_t len, uint64_t now_usec);

/* The spooled sequence numbers, newest (highest seq) first; *ret freed by the caller.
 * Entries past max_age are dropped (and counted) first. */
int posture_spool_list(struct posture_spool *s, uint64_t now_usec, uint64_t **ret, size_t *ret_n);

/* Read entry seq; *ret (NUL-terminated, not counted) freed by the caller. -ENOENT; -EBADMSG
 * when the file was corrupt (it has been moved to corrupt/). */
int posture_spool_get(struct posture_spool *s, uint64_t seq, char **ret, size_t *ret_len);

/* Remove entry seq after the verifier acknowledged it (durably). -ENOENT when absent. */
int posture_spool_remove(struct posture_spool *s, uint64_t seq);

/* Entries dropped and not yet taken; _take returns the count and resets it durably (call it
 * when the count has been put into a report that is itself spooled). */
int posture_spool_dropped(struct posture_spool *s, uint64_t *ret);
int posture_spool_take_dropped(struct posture_spool *s, uint64_t *ret);

struct posture_spool_stats {
    size_t entries;
    uint64_t bytes;
    uint64_t oldest_usec; /* creation time of the oldest entry, 0 when empty */
    uint64_t corrupt;     /* files moved aside since open */
};
int posture_spool_stats(struct posture_spool *s, struct posture_spool_stats *ret);

/* Parse one spool file image (header + body) of len bytes; exposed for the fuzzer and tests.
 * On success *ret_body points into buf. -EBADMSG when anything is off. */
int posture_spool_parse(const char *buf,
                        size_t len,
                        uint64_t *ret_seq,
                        uint64_t *ret_created_usec,
                        const char **ret_body,
                        size_t *ret_body_len);
