/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming, decompressing line reader (see stream.h). */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <lz4frame.h>
#include <lzma.h>
/* next_in points to const input. */
#define ZLIB_CONST
#include <zlib.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/time_util.h"

/* Compressed input is read in chunks of this size. */
#define IN_CHUNK ((size_t) 256 * 1024)
/* Initial size of the line buffer; it doubles while a line does not fit, up to the limit. */
#define BUF_INITIAL ((size_t) 1024 * 1024)
/* The text is kept in place while this much room is left behind it: decompressors write where
 * they stopped, so LZ4's linked blocks find their history without copying it. */
#define BUF_ROOM_MIN ((size_t) 256 * 1024)
/* Memory liblzma may use (xz -9 needs 65 MiB). */
#define XZ_MEMLIMIT (UINT64_C(256) * 1024 * 1024)

struct posture_stream {
    enum posture_stream_compression compression;
    int fd; /* -1 for memory streams */
    uint64_t mtime;

    /* Compressed input: the memory buffer, or chunks read from fd into in. */
    const uint8_t *mem;
    size_t mem_len;
    uint8_t *in;
    const uint8_t *in_next;
    size_t in_avail;
    bool in_eof;
    bool in_seen; /* any input byte at all (an empty file is an empty stream) */

    /* Decompressors. */
    LZ4F_dctx *lz4;
    size_t lz4_hint; /* 0 between frames */
    z_stream z;
    bool z_init;
    bool z_between; /* between gzip members (or before the first) */
    lzma_stream x;
    bool x_init;
    bool x_end;

    /* Decompressed text. */
    char *buf;
    size_t cap, start, scan, end;
    bool eof;
    int error; /* sticky */

    uint64_t total, max_total;
    size_t max_line;
    size_t max_fill;
    uint64_t deadline_usec;
};

enum posture_stream_compression posture_stream_compression_from_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n >= 4 && strcmp(name + n - 4, ".lz4") == 0)
        return POSTURE_STREAM_LZ4;
    if (n >= 3 && strcmp(name + n - 3, ".gz") == 0)
        return POSTURE_STREAM_GZIP;
    if (n >= 3 && strcmp(name + n - 3, ".xz") == 0)
        return POSTURE_STREAM_XZ;
    return POSTURE_STREAM_PLAIN;
}

struct posture_stream *posture_stream_free(struct posture_stream *s)
{
    if (!s)
        return NULL;
    if (s->lz4)
        (void) LZ4F_freeDecompressionContext(s->lz4);
    if (s->z_init)
        (void) inflateEnd(&s->z);
    if (s->x_init)
        lzma_end(&s->x);
    (void) posture_close_safe(s->fd);
    free(s->in);
    free(s->buf);
    free(s);
    return NULL;
}

static int stream_new(enum posture_stream_compression compression, struct posture_stream **ret)
{
    posture_auto_stream struct posture_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fd = -1;
    s->compression = compression;
    s->max_total = POSTURE_STREAM_MAX_TOTAL_DEFAULT;
    s->max_line = POSTURE_STREAM_MAX_LINE_DEFAULT;
    s->z_between = true;
    s->cap = BUF_INITIAL;
    s->buf = malloc(s->cap);
    if (!s->buf)
        return -ENOMEM;

    switch (compression) {
    case POSTURE_STREAM_PLAIN:
        break;
    case POSTURE_STREAM_LZ4:
        if (LZ4F_isError(LZ4F_createDecompressionContext(&s->lz4, LZ4F_VERSION)))
            return -ENOMEM;
        break;
    case POSTURE_STREAM_GZIP:
        /* 15 + 32: a 32 KiB window, with a gzip (or zlib) header detected automatically. */
        if (inflateInit2(&s->z, 15 + 32) != Z_OK)
            return -ENOMEM;
        s->z_init = true;
        break;
    case POSTURE_STREAM_XZ: {
        lzma_stream init = LZMA_STREAM_INIT;
        s->x = init;
        lzma_ret lr = lzma_stream_decoder(&s->x, XZ_MEMLIMIT, LZMA_CONCATENATED);
        if (lr != LZMA_OK)
            return lr == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
        s->x_init = true;
        break;
    }
    default:
        return -EINVAL;
    }
    *ret = POSTURE_TAKE_PTR(s);
    return 0;
}

int posture_stream_open_at(int root_fd, const char *path, struct posture_stream **ret)
{
    posture_auto_stream struct posture_stream *s = NULL;
    posture_autoclose int fd = -1;
    struct stat st;

    if (!path || !ret)
        return -EINVAL;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
    int r = posture_open_at_root(root_fd, path, O_RDONLY | O_NONBLOCK, &fd);
    if (r < 0)
        return r;
    if (fstat(fd, &st) < 0)
        return posture_negative_errno();
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (!S_ISREG(st.st_mode))
        return -EBADFD;

    r = stream_new(posture_stream_compression_from_name(path), &s);
    if (r < 0)
        return r;
    if (s->compression != POSTURE_STREAM_PLAIN) {
        s->in = malloc(IN_CHUNK);
        if (!s->in)
            return -ENOMEM;
    }
    s->mtime = st.st_mtim.tv_sec > 0 ? (uint64_t) st.st_mtim.tv_sec : 0;
    s->fd = POSTURE_TAKE_FD(fd);
    *ret = POSTURE_TAKE_PTR(s);
    return 0;
}

int posture_stream_open_mem(const void *data,
                            size_t size,
                            enum posture_stream_compression compression,
                            struct posture_stream **ret)
{
    struct posture_stream *s = NULL;

    if ((!data && size > 0) || !ret)
        return -EINVAL;
    int r = stream_new(compression, &s);
    if (r < 0)
        return r;
    s->mem = data;
    s->mem_len = size;
    s->in_next = data;
    s->in_avail = size;
    s->in_eof = true;
    s->in_seen = size > 0;
    *ret = s;
    return 0;
}

void posture_stream_set_limits(struct posture_stream *s, uint64_t max_total, size_t max_line)
{
    if (!s)
        return;
    if (max_total > 0)
        s->max_total = max_total;
    if (max_line > 0)
        s->max_line = max_line;
}

void posture_stream_set_deadline(struct posture_stream *s, uint64_t deadline_usec)
{
    if (s)
        s->deadline_usec = deadline_usec;
}

void posture_stream_set_max_fill(struct posture_stream *s, size_t max_fill)
{
    if (s)
        s->max_fill = max_fill;
}

uint64_t posture_stream_mtime(const struct posture_stream *s)
{
    return s ? s->mtime : 0;
}

static ssize_t read_fd(int fd, void *buf, size_t size)
{
    for (;;) {
        ssize_t n = read(fd, buf, size);
        if (n >= 0 || errno != EINTR)
            return n < 0 ? (ssize_t) posture_negative_errno() : n;
    }
}

/* Make compressed input available: 0 with in_avail > 0, or 0 with in_eof at the end. */
static int need_input(struct posture_stream *s)
{
    if (s->in_avail > 0 || s->in_eof)
        return 0;
    ssize_t n = read_fd(s->fd, s->in, IN_CHUNK);
    if (n < 0)
        return (int) n;
    if (n == 0) {
        s->in_eof = true;
        return 0;
    }
    s->in_next = s->in;
    s->in_avail = (size_t) n;
    s->in_seen = true;
    return 0;
}

static void consume_input(struct posture_stream *s, size_t n)
{
    s->in_next += n;
    s->in_avail -= n;
}

static ssize_t fill_plain(struct posture_stream *s, uint8_t *dst, size_t size)
{
    if (s->fd < 0) {
        size_t n = s->in_avail < size ? s->in_avail : size;
        memcpy(dst, s->in_next, n);
        consume_input(s, n);
        return (ssize_t) n;
    }
    return read_fd(s->fd, dst, size);
}

static ssize_t fill_lz4(struct posture_stream *s, uint8_t *dst, size_t size)
{
    for (;;) {
        int r = need_input(s);
        if (r < 0)
            return r;
        if (s->in_avail == 0) /* the end: fine between frames, truncated inside one */
            return s->lz4_hint == 0 ? 0 : -EBADMSG;

        size_t dst_size = size, src_size = s->in_avail;
        size_t hint = LZ4F_decompress(s->lz4, dst, &dst_size, s->in_next, &src_size, NULL);
        if (LZ4F_isError(hint))
            return -EBADMSG;
        consume_input(s, src_size);
        s->lz4_hint = hint;
        if (dst_size > 0)
            return (ssize_t) dst_size;
        if (src_size == 0) /* no progress with input and room: cannot happen on valid data */
            return -EBADMSG;
    }
}

static ssize_t fill_gzip(struct posture_stream *s, uint8_t *dst, size_t size)
{
    for (;;) {
        int r = need_input(s);
        if (r < 0)
            return r;
        if (s->in_avail == 0) /* the end: fine between members, truncated inside one */
            return s->z_between ? 0 : -EBADMSG;

        if (s->z_between) {
            if (inflateReset(&s->z) != Z_OK)
                return -EBADMSG;
            s->z_between = false;
        }
        s->z.next_in = s->in_next;
        s->z.avail_in = s->in_avail > UINT_MAX ? UINT_MAX : (uInt) s->in_avail;
        s->z.next_out = dst;
        s->z.avail_out = size > UINT_MAX ? UINT_MAX : (uInt) size;
        uInt in_before = s->z.avail_in, out_before = s->z.avail_out;
        int zr = inflate(&s->z, Z_NO_FLUSH);
        consume_input(s, in_before - s->z.avail_in);
        size_t produced = out_before - s->z.avail_out;
        switch (zr) {
        case Z_STREAM_END:
            s->z_between = true; /* another member may follow */
            break;
        case Z_OK:
            break;
        case Z_BUF_ERROR: /* no progress: more input needed, the loop fetches it */
            if (in_before != s->z.avail_in || produced > 0 || s->in_avail == 0)
                break;
            return -EBADMSG;
        case Z_MEM_ERROR:
            return -ENOMEM;
        default: /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
            return -EBADMSG;
        }
        if (produced > 0)
            return (ssize_t) produced;
    }
}

static ssize_t fill_xz(struct posture_stream *s, uint8_t *dst, size_t size)
{
    for (;;) {
        if (s->x_end)
            return 0;
        int r = need_input(s);
        if (r < 0)
            return r;
        if (s->in_avail == 0 && !s->in_seen)
            return 0; /* an empty file */

        s->x.next_in = s->in_next;
        s->x.avail_in = s->in_avail;
        s->x.next_out = dst;
        s->x.avail_out = size;
        size_t in_before = s->x.avail_in;
        lzma_ret lr = lzma_code(&s->x, s->in_eof ? LZMA_FINISH : LZMA_RUN);
        consume_input(s, in_before - s->x.avail_in);
        size_t produced = size - s->x.avail_out;
        switch (lr) {
        case LZMA_OK:
            break;
        case LZMA_STREAM_END:
            s->x_end = true;
            break;
        case LZMA_MEM_ERROR:
            return -ENOMEM;
        case LZMA_MEMLIMIT_ERROR:
            return -E2BIG;
        default: /* LZMA_FORMAT_ERROR, LZMA_DATA_ERROR, LZMA_BUF_ERROR (truncated), ... */
            return -EBADMSG;
        }
        if (produced > 0)
            return (ssize_t) produced;
    }
}

/* Produce up to size decompressed bytes: the count, 0 at the end, or an error. */
static ssize_t fill(struct posture_stream *s, uint8_t *dst, size_t size)
{
    ssize_t n;

    if (s->error < 0)
        return s->error;
    if (s->deadline_usec > 0 && posture_now_usec(CLOCK_MONOTONIC) > s->deadline_usec)
        return s->error = -ETIMEDOUT;
    switch (s->compression) {
    case POSTURE_STREAM_LZ4:
        n = fill_lz4(s, dst, size);
        break;
    case POSTURE_STREAM_GZIP:
        n = fill_gzip(s, dst, size);
        break;
    case POSTURE_STREAM_XZ:
        n = fill_xz(s, dst, size);
        break;
    default:
        n = fill_plain(s, dst, size);
        break;
    }
    if (n > 0) {
        s->total += (uint64_t) n;
        if (s->total > s->max_total)
            n = -E2BIG;
    }
    if (n < 0)
        s->error = (int) n;
    return n;
}

/* Move the partial line at start to the front, grow the buffer when the line fills it, and
 * read more: 0 (eof set at the end) or an error. */
static int refill(struct posture_stream *s)
{
    if (s->end - s->start > s->max_line)
        return s->error = -E2BIG;
    if (s->start > 0 && (s->cap - s->end < BUF_ROOM_MIN || s->start == s->end)) {
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->end -= s->start;
        s->scan -= s->start;
        s->start = 0;
    }
    if (s->cap - s->end < 2) {
        size_t limit = s->max_line + 2, ncap = s->cap * 2;
        if (ncap > limit && s->cap < limit)
            ncap = limit;
        if (ncap <= s->cap)
            return s->error = -E2BIG;
        char *nbuf = realloc(s->buf, ncap);
        if (!nbuf)
            return s->error = -ENOMEM;
        s->buf = nbuf;
        s->cap = ncap;
    }
    size_t room = s->cap - s->end - 1;
    if (s->max_fill > 0 && room > s->max_fill)
        room = s->max_fill;
    ssize_t n = fill(s, (uint8_t *) s->buf + s->end, room);
    if (n < 0)
        return (int) n;
    if (n == 0)
        s->eof = true;
    s->end += (size_t) n;
    return 0;
}

int posture_stream_read_line(struct posture_stream *s, const char **ret_line, size_t *ret_len)
{
    if (!s || !ret_line)
        return -EINVAL;

    for (;;) {
        char *nl = s->scan < s->end ? memchr(s->buf + s->scan, '\n', s->end - s->scan) : NULL;
        if (nl) {
            size_t len = (size_t) (nl - (s->buf + s->start));
            if (len > s->max_line)
                return s->error = -E2BIG;
            *nl = '\0';
            *ret_line = s->buf + s->start;
            if (ret_len)
                *ret_len = len;
            s->start = s->scan = (size_t) (nl - s->buf) + 1;
            return 1;
        }
        s->scan = s->end;
        if (s->end - s->start > s->max_line)
            return s->error = -E2BIG;
        if (s->error < 0)
            return s->error;
        if (s->eof) {
            if (s->start == s->end)
                return 0;
            /* The last line without a newline; there is always room for the NUL. */
            s->buf[s->end] = '\0';
            *ret_line = s->buf + s->start;
            if (ret_len)
                *ret_len = s->end - s->start;
            s->start = s->scan = s->end;
            return 1;
        }

        int r = refill(s);
        if (r < 0)
            return r;
    }
}

int posture_stream_read(struct posture_stream *s, void *buf, size_t size)
{
    if (!s || (!buf && size > 0))
        return -EINVAL;
    if (size > INT_MAX)
        size = INT_MAX;
    if (size == 0)
        return 0;
    /* Bytes already in the line buffer first. */
    if (s->start < s->end) {
        size_t n = s->end - s->start < size ? s->end - s->start : size;
        memcpy(buf, s->buf + s->start, n);
        s->start += n;
        if (s->scan < s->start)
            s->scan = s->start;
        return (int) n;
    }
    if (s->eof)
        return 0;
    ssize_t n = fill(s, buf, size);
    if (n == 0)
        s->eof = true;
    return (int) n;
}

static bool is_blank_byte(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

enum line_kind { LINE_BLANK, LINE_TEXT, LINE_INCOMPLETE };

/* Classify the line starting at buf[q]; for a blank one, *ret_next is the offset after it. */
static enum line_kind classify(const struct posture_stream *s, size_t q, size_t *ret_next)
{
    while (q < s->end && is_blank_byte(s->buf[q]))
        q++;
    if (q == s->end)
        return LINE_INCOMPLETE;
    if (s->buf[q] != '\n')
        return LINE_TEXT;
    *ret_next = q + 1;
    return LINE_BLANK;
}

/*
 * Find a blank line that starts after a newline in [from, end): a newline followed by a blank
 * byte or another newline is a candidate, checked whole. Returns the offset after the blank
 * line, or 0 with *ret_resume set to where the search must resume after a refill (a line start
 * whose end was not seen yet).
 */
static size_t find_blank_line(const struct posture_stream *s, size_t from, size_t *ret_resume)
{
    const char *b = s->buf;
    size_t i = from, next;

#ifdef __SSE2__
    const __m128i nl = _mm_set1_epi8('\n'), sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'),
                  cr = _mm_set1_epi8('\r');
    for (; i + 17 <= s->end; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) (const void *) (b + i));
        __m128i w = _mm_loadu_si128((const __m128i *) (const void *) (b + i + 1));
        __m128i blankish = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(w, sp), _mm_cmpeq_epi8(w, tab)),
                                        _mm_or_si128(_mm_cmpeq_epi8(w, cr), _mm_cmpeq_epi8(w, nl)));
        unsigned m = (unsigned) _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(v, nl), blankish));
        while (m) {
            size_t q = i + (size_t) __builtin_ctz(m) + 1;
            enum line_kind k = classify(s, q, &next);
            if (k == LINE_BLANK)
                return next;
            if (k == LINE_INCOMPLETE) {
                *ret_resume = q;
                return 0;
            }
            m &= m - 1;
        }
    }
#endif
    for (;;) {
        const char *p = i < s->end ? memchr(b + i, '\n', s->end - i) : NULL;
        if (!p) {
            /* Resume at the start of the last, unfinished line. */
            const char *last = s->end > from ? memrchr(b + from, '\n', s->end - from) : NULL;
            *ret_resume = last ? (size_t) (last - b) + 1 : from;
            return 0;
        }
        size_t q = (size_t) (p - b) + 1;
        enum line_kind k = classify(s, q, &next);
        if (k == LINE_BLANK)
            return next;
        if (k == LINE_INCOMPLETE) {
            *ret_resume = q;
            return 0;
        }
        i = q;
    }
}

int posture_stream_skip_paragraph(struct posture_stream *s)
{
    if (!s)
        return -EINVAL;

    for (;;) {
        size_t next = 0, resume = s->start;
        /* s->start is a line start: that line first, then those after newlines. */
        enum line_kind k = classify(s, s->start, &next);
        if (k == LINE_TEXT) {
            next = find_blank_line(s, s->start, &resume);
            k = next > 0 ? LINE_BLANK : LINE_INCOMPLETE;
        }
        if (k == LINE_BLANK) {
            s->start = s->scan = next;
            return 1;
        }
        /* Keep the unfinished line, drop what was seen, and read more. */
        s->start = s->scan = resume;
        if (s->error < 0)
            return s->error;
        if (s->eof) {
            s->start = s->scan = s->end;
            return 0;
        }
        int r = refill(s);
        if (r < 0)
            return r;
    }
}
