/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A streaming line reader over a file inside a root fd (or a memory buffer) that decompresses
 * transparently: .lz4 (LZ4 frames), .gz (gzip, also multi-member), .xz (xz, also concatenated
 * streams), plain otherwise. Fixed-size buffers (the line buffer grows up to the line limit),
 * no temporary files, never the whole file in memory.
 *
 * Bounds: at most max_total decompressed bytes per stream and lines of at most max_line bytes,
 * else -E2BIG. Corrupt or truncated compressed data is -EBADMSG. Lines are returned with their
 * length: a NUL byte inside a line is the caller's to judge.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "posture/cleanup.h"

#define POSTURE_STREAM_MAX_TOTAL_DEFAULT (UINT64_C(512) * 1024 * 1024)
/* Real Packages lists have lines of 75 KiB (long Provides: fields). */
#define POSTURE_STREAM_MAX_LINE_DEFAULT ((size_t) 1024 * 1024)

enum posture_stream_compression {
    POSTURE_STREAM_PLAIN,
    POSTURE_STREAM_LZ4,
    POSTURE_STREAM_GZIP,
    POSTURE_STREAM_XZ,
    POSTURE_STREAM__MAX,
    POSTURE_STREAM__INVALID = -EINVAL,
};

struct posture_stream;

/* The compression a file name implies: ".lz4", ".gz", ".xz" or plain. */
enum posture_stream_compression posture_stream_compression_from_name(const char *name);

/*
 * Open path inside root_fd (posture_open_at_root) and decompress by its extension.
 * Errors: those of posture_open_at_root(), -EISDIR, -ENOMEM.
 */
int posture_stream_open_at(int root_fd, const char *path, struct posture_stream **ret);
/* Read from memory (borrowed: data must outlive the stream). */
int posture_stream_open_mem(const void *data,
                            size_t size,
                            enum posture_stream_compression compression,
                            struct posture_stream **ret);
struct posture_stream *posture_stream_free(struct posture_stream *s);

/* Change the bounds (before the first read). 0 keeps the current value. */
void posture_stream_set_limits(struct posture_stream *s, uint64_t max_total, size_t max_line);

/* Give up with -ETIMEDOUT once CLOCK_MONOTONIC passes deadline_usec (0: never), checked each
 * time the buffer is refilled: a single huge stanza cannot outlast the deadline either. */
void posture_stream_set_deadline(struct posture_stream *s, uint64_t deadline_usec);

/* Testing seam: read at most max_fill bytes per refill (0: as much as fits), so that tests and
 * fuzzers reach every buffer boundary with small inputs. */
void posture_stream_set_max_fill(struct posture_stream *s, size_t max_fill);

/*
 * The next line, without its "\n" (a "\r" before it is kept). *ret_line points into the
 * stream's buffer, is NUL-terminated and stays valid until the next call. The last line needs
 * no newline. Returns 1 with a line, 0 at the end, or -EBADMSG, -E2BIG, -EIO, -ENOMEM,
 * -ETIMEDOUT.
 */
int posture_stream_read_line(struct posture_stream *s, const char **ret_line, size_t *ret_len);

/* Read up to size decompressed bytes; returns the count (0 at the end) or an error as above. */
int posture_stream_read(struct posture_stream *s, void *buf, size_t size);

/*
 * Skip the lines up to and including the next blank line (empty or only blanks: space, tab,
 * CR), without handing them over: the fast path for deb822 stanzas nobody wants. Returns 1
 * when a blank line was consumed, 0 at the end, or an error as above.
 */
int posture_stream_skip_paragraph(struct posture_stream *s);
/* The mtime (seconds since the epoch) of the file, 0 for memory streams. */
uint64_t posture_stream_mtime(const struct posture_stream *s);

POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_stream *, posture_stream_free)
#define posture_auto_stream POSTURE_CLEANUP(posture_stream_freep)
