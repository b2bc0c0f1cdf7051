/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The decompressing line reader (stream.c) and the deb822 stanza parser (deb822.c) of the
 * os.patch_level apt engine: syntax, errors, InRelease armor, every buffer boundary (through
 * the max_fill seam) and the fast skip path against the slow one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/spawn.h"
#include "posture/strbuf.h"
#include "posture/time_util.h"

#include "os_patch_level/deb822.h"
#include "os_patch_level/stream.h"
#include "testlib.h"

static const size_t fills[] = { 1, 2, 3, 5, 8, 16, 17, 31, 100, 4096, 0 };

/* ---- Stream ---- */

/* Read every line of s into one string, each line followed by "|". */
static int slurp_lines(struct posture_stream *s, struct posture_strbuf *out)
{
    for (;;) {
        const char *line;
        size_t len;
        int r = posture_stream_read_line(s, &line, &len);
        if (r <= 0)
            return r;
        assert_int_equal(strlen(line), len); /* NUL-terminated */
        assert_int_equal(posture_strbuf_append(out, line, len), 0);
        assert_int_equal(posture_strbuf_putc(out, '|'), 0);
    }
}

static void test_stream_lines(void **state)
{
    (void) state;
    const char *text = "a\nbb\n\nccc\r\n \nlast";
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(fills); i++) {
        posture_auto_stream struct posture_stream *s = NULL;
        assert_int_equal(posture_stream_open_mem(text, strlen(text), POSTURE_STREAM_PLAIN, &s), 0);
        posture_stream_set_max_fill(s, fills[i]);
        posture_auto_strbuf struct posture_strbuf out = { 0 };
        assert_int_equal(slurp_lines(s, &out), 0);
        assert_string_equal(out.buf, "a|bb||ccc\r| |last|");
        const char *line;
        assert_int_equal(posture_stream_read_line(s, &line, NULL), 0); /* stays at the end */
    }
    /* Empty input. */
    posture_auto_stream struct posture_stream *s = NULL;
    assert_int_equal(posture_stream_open_mem("", 0, POSTURE_STREAM_PLAIN, &s), 0);
    const char *line;
    assert_int_equal(posture_stream_read_line(s, &line, NULL), 0);
    assert_int_equal(posture_stream_open_mem(NULL, 1, POSTURE_STREAM_PLAIN, &s), -EINVAL);
}

static void test_stream_bounds(void **state)
{
    (void) state;
    char text[3000];
    memset(text, 'x', sizeof(text));
    text[100] = '\n';
    text[sizeof(text) - 1] = '\n';

    /* A line above the limit: -E2BIG, and it sticks. */
    posture_auto_stream struct posture_stream *s = NULL;
    assert_int_equal(posture_stream_open_mem(text, sizeof(text), POSTURE_STREAM_PLAIN, &s), 0);
    posture_stream_set_limits(s, 0, 1000);
    const char *line;
    size_t len;
    assert_int_equal(posture_stream_read_line(s, &line, &len), 1);
    assert_int_equal(len, 100);
    assert_int_equal(posture_stream_read_line(s, &line, &len), -E2BIG);
    assert_int_equal(posture_stream_read_line(s, &line, &len), -E2BIG);
    s = posture_stream_free(s);

    /* The same with small fills (the line grows across refills). */
    assert_int_equal(posture_stream_open_mem(text, sizeof(text), POSTURE_STREAM_PLAIN, &s), 0);
    posture_stream_set_limits(s, 0, 1000);
    posture_stream_set_max_fill(s, 7);
    assert_int_equal(posture_stream_read_line(s, &line, &len), 1);
    assert_int_equal(posture_stream_read_line(s, &line, &len), -E2BIG);
    s = posture_stream_free(s);

    /* Exactly at the limit is fine. */
    assert_int_equal(posture_stream_open_mem(text, sizeof(text), POSTURE_STREAM_PLAIN, &s), 0);
    posture_stream_set_limits(s, 0, sizeof(text) - 102);
    assert_int_equal(posture_stream_read_line(s, &line, &len), 1);
    assert_int_equal(posture_stream_read_line(s, &line, &len), 1);
    assert_int_equal(len, sizeof(text) - 102);
    s = posture_stream_free(s);

    /* The deadline, checked when the buffer is refilled. */
    assert_int_equal(posture_stream_open_mem(text, sizeof(text), POSTURE_STREAM_PLAIN, &s), 0);
    posture_stream_set_deadline(s, 1);
    assert_int_equal(posture_stream_read_line(s, &line, &len), -ETIMEDOUT);
    s = posture_stream_free(s);

    /* The total. */
    assert_int_equal(posture_stream_open_mem(text, sizeof(text), POSTURE_STREAM_PLAIN, &s), 0);
    posture_stream_set_limits(s, 2000, 0);
    posture_stream_set_max_fill(s, 500);
    assert_int_equal(posture_stream_read_line(s, &line, &len), 1);
    assert_int_equal(posture_stream_read_line(s, &line, &len), -E2BIG);
    s = posture_stream_free(s);
    /* Read at once, the total is exceeded before the first line. */
    assert_int_equal(posture_stream_open_mem(text, sizeof(text), POSTURE_STREAM_PLAIN, &s), 0);
    posture_stream_set_limits(s, 2000, 0);
    assert_int_equal(posture_stream_read_line(s, &line, &len), -E2BIG);
}

static void test_stream_read_bytes(void **state)
{
    (void) state;
    const char *text = "first\nsecond line\nthird";
    posture_auto_stream struct posture_stream *s = NULL;
    assert_int_equal(posture_stream_open_mem(text, strlen(text), POSTURE_STREAM_PLAIN, &s), 0);
    const char *line;
    assert_int_equal(posture_stream_read_line(s, &line, NULL), 1);
    assert_string_equal(line, "first");
    char buf[64] = { 0 };
    size_t n = 0;
    for (;;) {
        int r = posture_stream_read(s, buf + n, 4);
        assert_true(r >= 0);
        if (r == 0)
            break;
        n += (size_t) r;
    }
    assert_string_equal(buf, "second line\nthird");
}

static void run_tool(const char *const *argv)
{
    struct posture_spawn_opts o = { .argv = argv, .search_path = true };
    struct posture_spawn_result res;
    int r = posture_spawn_run(&o, &res);
    if (r < 0)
        fail_msg("%s: %s", argv[0], strerror(-r));
    if (res.exit_code != 0)
        fail_msg("%s failed: %s", argv[0], res.err);
    posture_spawn_result_done(&res);
}

/* Compress dir/name into dir/name.<ext>, keeping the original. */
static void compress_keep(const char *dir, const char *name, const char *ext)
{
    posture_autofree char *in = NULL, *out = NULL, *cmd = NULL;
    assert_true(asprintf(&in, "%s/%s", dir, name) > 0);
    assert_true(asprintf(&out, "%s/%s.%s", dir, name, ext) > 0);
    const char *tool =
        strcmp(ext, "lz4") == 0 ? "lz4 -q -c" : (strcmp(ext, "gz") == 0 ? "gzip -n -c" : "xz -c");
    assert_true(asprintf(&cmd, "%s '%s' > '%s'", tool, in, out) > 0);
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    run_tool(argv);
}

static void append_files(const char *dir, const char *a, const char *b, const char *out)
{
    posture_autofree char *cmd = NULL;
    assert_true(asprintf(&cmd, "cd '%s' && cat '%s' '%s' > '%s'", dir, a, b, out) > 0);
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    run_tool(argv);
}

static char *big_text(size_t lines)
{
    struct posture_strbuf sb = { .max_len = 64u * 1024 * 1024 };
    for (size_t i = 0; i < lines; i++)
        assert_int_equal(posture_strbuf_printf(&sb, "line %zu %.*s\n", i, (int) (i % 97),
                                               "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx"
                                               "yzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstu"),
                         0);
    return posture_strbuf_steal(&sb);
}

static void expect_file_lines(int root_fd, const char *path, const char *expected, size_t max_fill)
{
    posture_auto_stream struct posture_stream *s = NULL;
    assert_int_equal(posture_stream_open_at(root_fd, path, &s), 0);
    posture_stream_set_max_fill(s, max_fill);
    struct posture_strbuf out = { .max_len = 64u * 1024 * 1024 };
    int r = slurp_lines(s, &out);
    if (r < 0)
        fail_msg("%s: %d", path, r);
    /* Compare with the expected text, "\n" → "|". */
    size_t n = strlen(expected);
    assert_int_equal(out.len, n);
    for (size_t i = 0; i < n; i++)
        if (out.buf[i] != (expected[i] == '\n' ? '|' : expected[i]))
            fail_msg("%s: differs at byte %zu", path, i);
    posture_strbuf_done(&out);
}

static void expect_file_error(int root_fd, const char *path, int expected)
{
    posture_auto_stream struct posture_stream *s = NULL;
    int r = posture_stream_open_at(root_fd, path, &s);
    if (r >= 0) {
        posture_auto_strbuf struct posture_strbuf out = { .max_len = 64u * 1024 * 1024 };
        r = slurp_lines(s, &out);
    }
    if (r != expected)
        fail_msg("%s: %d, expected %d", path, r, expected);
}

static void test_stream_compressed(void **state)
{
    (void) state;
    posture_autofree char *dir = posture_test_mkdtemp();
    posture_autofree char *text = big_text(20000); /* ~1.3 MB: several rounds everywhere */
    posture_autoclose int root_fd = -1;
    assert_int_equal(posture_root_open(dir, &root_fd), 0);
    assert_int_equal(posture_test_write_file(dir, "t", text), 0);
    assert_int_equal(posture_test_write_file(dir, "small", "one\ntwo\n"), 0);
    assert_int_equal(posture_test_write_file(dir, "empty", ""), 0);
    const char *exts[] = { "lz4", "gz", "xz" };
    for (size_t i = 0; i < 3; i++) {
        compress_keep(dir, "t", exts[i]);
        compress_keep(dir, "small", exts[i]);
        compress_keep(dir, "empty", exts[i]);
    }

    expect_file_lines(root_fd, "t", text, 0);
    expect_file_lines(root_fd, "t.lz4", text, 0);
    expect_file_lines(root_fd, "t.gz", text, 0);
    expect_file_lines(root_fd, "t.xz", text, 0);
    expect_file_lines(root_fd, "t.lz4", text, 1000);
    expect_file_lines(root_fd, "t.xz", text, 333);
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(fills); i++) {
        expect_file_lines(root_fd, "small.lz4", "one\ntwo\n", fills[i]);
        expect_file_lines(root_fd, "small.gz", "one\ntwo\n", fills[i]);
        expect_file_lines(root_fd, "small.xz", "one\ntwo\n", fills[i]);
    }
    /* Compressed empty text, and empty files. */
    expect_file_lines(root_fd, "empty.lz4", "", 0);
    expect_file_lines(root_fd, "empty.gz", "", 0);
    expect_file_lines(root_fd, "empty.xz", "", 0);
    assert_int_equal(posture_test_write_file(dir, "zero.lz4", ""), 0);
    assert_int_equal(posture_test_write_file(dir, "zero.gz", ""), 0);
    assert_int_equal(posture_test_write_file(dir, "zero.xz", ""), 0);
    expect_file_lines(root_fd, "zero.lz4", "", 0);
    expect_file_lines(root_fd, "zero.gz", "", 0);
    expect_file_lines(root_fd, "zero.xz", "", 0);

    /* Concatenated members, streams and frames. */
    for (size_t i = 0; i < 3; i++) {
        char a[32], out[32];
        (void) snprintf(a, sizeof(a), "small.%s", exts[i]);
        (void) snprintf(out, sizeof(out), "double.%s", exts[i]);
        append_files(dir, a, a, out);
        expect_file_lines(root_fd, out, "one\ntwo\none\ntwo\n", 0);
        expect_file_lines(root_fd, out, "one\ntwo\none\ntwo\n", 3);
    }

    /* Corrupt, truncated and trailing garbage: -EBADMSG. */
    assert_int_equal(posture_test_write_file(dir, "garbage.gz", "this is not gzip data\n"), 0);
    assert_int_equal(posture_test_write_file(dir, "garbage.xz", "this is not xz data\n"), 0);
    assert_int_equal(posture_test_write_file(dir, "garbage.lz4", "this is not lz4 data\n"), 0);
    expect_file_error(root_fd, "garbage.gz", -EBADMSG);
    expect_file_error(root_fd, "garbage.xz", -EBADMSG);
    expect_file_error(root_fd, "garbage.lz4", -EBADMSG);
    for (size_t i = 0; i < 3; i++) {
        char name[32], path[4096];
        (void) snprintf(name, sizeof(name), "t.%s", exts[i]);
        (void) snprintf(path, sizeof(path), "%s/%s", dir, name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(truncate(path, st.st_size - 3), 0);
        expect_file_error(root_fd, name, -EBADMSG);
        (void) snprintf(name, sizeof(name), "double.%s", exts[i]);
        (void) snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "junk", 4), 4);
        (void) close(fd);
        expect_file_error(root_fd, name, -EBADMSG);
    }

    /* Not a regular file: refused, and a FIFO without waiting for a writer. */
    posture_autofree char *fifo = NULL;
    assert_true(asprintf(&fifo, "%s/fifo", dir) > 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    posture_auto_stream struct posture_stream *s = NULL;
    assert_int_equal(posture_stream_open_at(root_fd, "fifo", &s), -EBADFD);
    assert_int_equal(posture_test_write_file(dir, "d/x", ""), 0);
    assert_int_equal(posture_stream_open_at(root_fd, "d", &s), -EISDIR);
    assert_int_equal(posture_stream_open_at(root_fd, "missing.gz", &s), -ENOENT);

    assert_int_equal(posture_test_rmdir_r(dir), 0);
}

static void test_compression_from_name(void **state)
{
    (void) state;
    assert_int_equal(posture_stream_compression_from_name("a_Packages.lz4"), POSTURE_STREAM_LZ4);
    assert_int_equal(posture_stream_compression_from_name("a_Packages.gz"), POSTURE_STREAM_GZIP);
    assert_int_equal(posture_stream_compression_from_name("a_Packages.xz"), POSTURE_STREAM_XZ);
    assert_int_equal(posture_stream_compression_from_name("a_Packages"), POSTURE_STREAM_PLAIN);
    assert_int_equal(posture_stream_compression_from_name("gz"), POSTURE_STREAM_PLAIN);
    assert_int_equal(posture_stream_compression_from_name(NULL), POSTURE_STREAM_PLAIN);
}

/* ---- deb822 ---- */

struct collected {
    struct posture_strbuf out;
    size_t n_fields;
    int fail_at; /* return -EIO at this stanza (1-based), 0: never */
    int stanzas;
    uint32_t skip_mod;         /* skip keys whose hash % skip_mod == 0, 0: skip none */
    unsigned sleep_first_usec; /* sleep in the first stanza's callback */
};

static uint32_t key_hash(const char *s, size_t len)
{
    uint32_t h = 5381;
    for (size_t i = 0; i < len; i++)
        h = h * 33 + (unsigned char) s[i];
    return h;
}

static int collect_key(const char *value, size_t len, void *userdata)
{
    struct collected *c = userdata;
    if (c->skip_mod && key_hash(value, len) % c->skip_mod == 0)
        return POSTURE_DEB822_SKIP;
    return 0;
}

static int collect(const struct posture_deb822_value *v, void *userdata)
{
    struct collected *c = userdata;
    c->stanzas++;
    if (c->stanzas == 1 && c->sleep_first_usec)
        (void) usleep(c->sleep_first_usec);
    if (c->fail_at && c->stanzas == c->fail_at)
        return -EIO;
    for (size_t i = 0; i < c->n_fields; i++) {
        if (v[i].str) {
            assert_int_equal(strlen(v[i].str), v[i].len);
            assert_int_equal(posture_strbuf_append(&c->out, v[i].str, v[i].len), 0);
        } else
            assert_int_equal(posture_strbuf_puts(&c->out, "(null)"), 0);
        assert_int_equal(posture_strbuf_putc(&c->out, i + 1 < c->n_fields ? ';' : '\n'), 0);
    }
    return 0;
}

static const char *const fields3[] = { "Package", "Version", "Description" };

/* Parse text with fields3; returns the parser's result, the stanzas in c->out. */
static int
parse3(const char *text, struct collected *c, bool armored, bool comments, size_t max_fill)
{
    posture_auto_stream struct posture_stream *s = NULL;
    assert_int_equal(posture_stream_open_mem(text, strlen(text), POSTURE_STREAM_PLAIN, &s), 0);
    posture_stream_set_max_fill(s, max_fill);
    c->n_fields = 3;
    const struct posture_deb822_opts o = {
        .fields = fields3,
        .n_fields = 3,
        .on_stanza = collect,
        .on_key = collect_key,
        .userdata = c,
        .armored = armored,
        .comments = comments,
    };
    return posture_deb822_parse(s, &o);
}

static void expect_parse(const char *text, const char *expected, int expected_stanzas)
{
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(fills); i++) {
        struct collected c = { 0 };
        int r = parse3(text, &c, false, false, fills[i]);
        if (r != expected_stanzas)
            fail_msg("fill %zu: %d stanzas, expected %d", fills[i], r, expected_stanzas);
        assert_string_equal(c.out.buf ? c.out.buf : "", expected);
        posture_strbuf_done(&c.out);
    }
}

static void expect_parse_error(const char *text, int expected)
{
    struct collected c = { 0 };
    int r = parse3(text, &c, false, false, 0);
    if (r != expected)
        fail_msg("parse of \"%s\": %d, expected %d", text, r, expected);
    posture_strbuf_done(&c.out);
}

static void test_deb822_syntax(void **state)
{
    (void) state;
    expect_parse("", "", 0);
    expect_parse("\n\n  \n", "", 0);
    expect_parse("Package: a\nVersion: 1.0\n", "a;1.0;(null)\n", 1);
    /* Names are case-insensitive; values are trimmed; unknown fields are ignored. */
    expect_parse("package:a  \nVERSION:\t 1.0 \t\nOther: x\n", "a;1.0;(null)\n", 1);
    /* Continuation lines belong to the field before them (only to wanted ones). */
    expect_parse("Package: a\nDescription: short\n long line\n .\n\tlast  \nVersion: 2\n",
                 "a;2;short\n long line\n .\n\tlast\n", 1);
    expect_parse("Package: a\nOther: x\n continued\nVersion: 3\n", "a;3;(null)\n", 1);
    /* Empty value, and a value that only continues. */
    expect_parse("Package: a\nDescription:\n body\n", "a;(null);\n body\n", 1);
    /* Stanzas: separated by empty lines, blank-only lines and CRLF blank lines. */
    expect_parse("Package: a\n\nPackage: b\n \t \nPackage: c\r\n\r\nPackage: d\n\n\n\n",
                 "a;(null);(null)\nb;(null);(null)\nc;(null);(null)\nd;(null);(null)\n", 4);
    /* CRLF line ends are trimmed from values. */
    expect_parse("Package: a\r\nVersion: 1\r\n", "a;1;(null)\n", 1);
    /* Colons in values; a field name with odd characters. */
    expect_parse("Package: a\nVersion: 1:2.0-1\nX-Odd_Name.1!: y\n", "a;1:2.0-1;(null)\n", 1);
    /* The last line needs no newline. */
    expect_parse("Package: a\nVersion: 1", "a;1;(null)\n", 1);
}

static void test_deb822_errors(void **state)
{
    (void) state;
    expect_parse_error("Package: a\nno colon here\n", -EBADMSG);
    expect_parse_error(" continuation first\n", -EBADMSG);
    expect_parse_error("Package: a\n\n continuation after a blank line\n", -EBADMSG);
    expect_parse_error("Package: a\nPackage: b\n", -EBADMSG); /* duplicate wanted field */
    expect_parse_error("Package: a\n: no name\n", -EBADMSG);
    expect_parse_error("Package: a\n-Dash: x\n", -EBADMSG);
    expect_parse_error("Package: a\n#Comment: x\n", -EBADMSG); /* no comments here */
    expect_parse_error("Package: a\nBad Name: x\n", -EBADMSG);
    expect_parse_error("Package: a\nBad\x01Name: x\n", -EBADMSG);
    /* A NUL byte in a wanted value; in an unwanted one it does not matter. */
    const char nul[] = "Package: a\0b\nVersion: 1\n";
    posture_auto_stream struct posture_stream *s = NULL;
    assert_int_equal(posture_stream_open_mem(nul, sizeof(nul) - 1, POSTURE_STREAM_PLAIN, &s), 0);
    struct collected c = { .n_fields = 3 };
    const struct posture_deb822_opts o = {
        .fields = fields3, .n_fields = 3, .on_stanza = collect, .userdata = &c
    };
    assert_int_equal(posture_deb822_parse(s, &o), -EBADMSG);
    posture_strbuf_done(&c.out);
    const char nul2[] = "Package: a\nOther: x\0y\n";
    assert_int_equal(posture_deb822_parse_mem(nul2, sizeof(nul2) - 1, &o), 1);
    posture_strbuf_done(&c.out);

    /* Bad options. */
    struct posture_deb822_opts bad = o;
    bad.n_fields = 0;
    assert_int_equal(posture_deb822_parse_mem("", 0, &bad), -EINVAL);
    bad.n_fields = POSTURE_DEB822_FIELDS_MAX + 1;
    assert_int_equal(posture_deb822_parse_mem("", 0, &bad), -EINVAL);
    bad = o;
    bad.on_stanza = NULL;
    assert_int_equal(posture_deb822_parse_mem("", 0, &bad), -EINVAL);
    assert_int_equal(posture_deb822_parse(NULL, &o), -EINVAL);
}

static void test_deb822_comments_and_callbacks(void **state)
{
    (void) state;
    struct collected c = { 0 };
    assert_int_equal(parse3("# a comment\nPackage: a\n# another\nVersion: 1\n", &c, false, true, 0),
                     1);
    assert_string_equal(c.out.buf, "a;1;(null)\n");
    posture_strbuf_done(&c.out);

    /* A callback's error stops the parse and is returned. */
    c = (struct collected){ .fail_at = 2 };
    assert_int_equal(parse3("Package: a\n\nPackage: b\n\nPackage: c\n", &c, false, false, 0), -EIO);
    assert_string_equal(c.out.buf, "a;(null);(null)\n");
    posture_strbuf_done(&c.out);

    /* Skipped stanzas are counted but not handed over. */
    c = (struct collected){ .skip_mod = 1 };
    assert_int_equal(parse3("Package: a\nVersion: 1\n\nPackage: b\n", &c, false, false, 0), 2);
    assert_null(c.out.buf);
    assert_int_equal(c.stanzas, 0);

    /* The deadline. */
    struct posture_strbuf sb = { .max_len = 64u * 1024 * 1024 };
    for (int i = 0; i < 3 * POSTURE_DEB822_DEADLINE_EVERY; i++)
        assert_int_equal(posture_strbuf_printf(&sb, "Package: p%d\n\n", i), 0);
    c = (struct collected){ .n_fields = 3 };
    struct posture_deb822_opts o = {
        .fields = fields3,
        .n_fields = 3,
        .on_stanza = collect,
        .userdata = &c,
        .deadline_usec = 1,
    };
    assert_int_equal(posture_deb822_parse_mem(sb.buf, sb.len, &o), -ETIMEDOUT);
    assert_true(c.stanzas <= POSTURE_DEB822_DEADLINE_EVERY); /* refill or stanza count */
    posture_strbuf_done(&c.out);
    /* Passing while stanzas are parsed (the text is in the buffer already): noticed at the
     * next multiple of POSTURE_DEB822_DEADLINE_EVERY stanzas. */
    c = (struct collected){ .n_fields = 3, .sleep_first_usec = 300000 };
    o.deadline_usec = posture_now_usec(CLOCK_MONOTONIC) + 150000;
    assert_int_equal(posture_deb822_parse_mem(sb.buf, sb.len, &o), -ETIMEDOUT);
    assert_int_equal(c.stanzas, POSTURE_DEB822_DEADLINE_EVERY);
    posture_strbuf_done(&c.out);
    posture_strbuf_done(&sb);
}

static const char inrelease[] = "-----BEGIN PGP SIGNED MESSAGE-----\n"
                                "Hash: SHA256\n"
                                "\n"
                                "Package: signed\n"
                                "- Version: 1.0\n"
                                "Description: body\n"
                                "-  dash-escaped continuation\n"
                                "-----BEGIN PGP SIGNATURE-----\n"
                                "\n"
                                "iQIzBAEBCAAdFiEE\n"
                                "Package: not-this\n"
                                "-----END PGP SIGNATURE-----\n";

static void test_deb822_armor(void **state)
{
    (void) state;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(fills); i++) {
        struct collected c = { 0 };
        assert_int_equal(parse3(inrelease, &c, true, false, fills[i]), 1);
        assert_string_equal(c.out.buf, "signed;1.0;body\n dash-escaped continuation\n");
        posture_strbuf_done(&c.out);
    }
    /* CRLF armor. */
    struct collected c = { 0 };
    assert_int_equal(parse3("-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA512\r\n\r\n"
                            "Package: crlf\r\n-----BEGIN PGP SIGNATURE-----\r\nxx\r\n",
                            &c, true, false, 0),
                     1);
    assert_string_equal(c.out.buf, "crlf;(null);(null)\n");
    posture_strbuf_done(&c.out);
    /* Not armored after all: parsed as it is. */
    c = (struct collected){ 0 };
    assert_int_equal(parse3("Package: plain\n", &c, true, false, 0), 1);
    assert_string_equal(c.out.buf, "plain;(null);(null)\n");
    posture_strbuf_done(&c.out);
    /* Without armor parsing, the armor lines are malformed. */
    c = (struct collected){ 0 };
    assert_int_equal(parse3(inrelease, &c, false, false, 0), -EBADMSG);
    posture_strbuf_done(&c.out);
    /* Truncated: no signature, or no end of the armor headers. */
    c = (struct collected){ 0 };
    assert_int_equal(parse3("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nPackage: a\n", &c,
                            true, false, 0),
                     -EBADMSG);
    posture_strbuf_done(&c.out);
    c = (struct collected){ 0 };
    assert_int_equal(
        parse3("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n", &c, true, false, 0), -EBADMSG);
    assert_int_equal(
        parse3("-----BEGIN PGP SIGNED MESSAGE-----\nnot a header\n\n", &c, true, false, 0),
        -EBADMSG);
    posture_strbuf_done(&c.out);
}

/* ---- The skip fast path against the slow path, on generated text ---- */

static uint64_t rng;

static unsigned pick(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned) (rng % n);
}

static char *gen_deb822(void)
{
    static const char *const blanks[] = { "\n", " \n", "\t\n", "\r\n", "  \t \r\n", "\n\n" };
    static const char *const conts[] = { " x\n", "\ty\n", " .\n", "  two words\n", " z\r\n" };
    struct posture_strbuf sb = { 0 };
    unsigned stanzas = 1 + pick(40);
    for (unsigned s = 0; s < stanzas; s++) {
        if (pick(3) == 0)
            assert_int_equal(posture_strbuf_printf(&sb, "Other: %u\n", pick(1000)), 0);
        assert_int_equal(posture_strbuf_printf(&sb, "Package: p%u\n", pick(30)), 0);
        unsigned fields = pick(6);
        bool version = false, desc = false;
        for (unsigned f = 0; f < fields; f++) {
            unsigned k = pick(4);
            if (k == 0 && !version) {
                version = true;
                assert_int_equal(posture_strbuf_printf(&sb, "Version: %u.%u\n", pick(9), pick(9)),
                                 0);
            } else if (k == 1 && !desc) {
                desc = true;
                assert_int_equal(posture_strbuf_puts(&sb, "Description: d\n"), 0);
            } else
                assert_int_equal(
                    posture_strbuf_printf(&sb, "F%u: %*s\n", pick(50), (int) pick(80), "v"), 0);
            unsigned n = pick(3) == 0 ? pick(4) : 0;
            for (unsigned i = 0; i < n; i++)
                assert_int_equal(posture_strbuf_puts(&sb, conts[pick(5)]), 0);
        }
        if (s + 1 < stanzas || pick(2))
            assert_int_equal(posture_strbuf_puts(&sb, blanks[pick(6)]), 0);
    }
    return posture_strbuf_steal(&sb);
}

static void test_skip_matches_slow_path(void **state)
{
    (void) state;
    rng = UINT64_C(0x2545f4914f6cdd1d);
    for (int round = 0; round < 300; round++) {
        posture_autofree char *text = gen_deb822();

        /* Slow path: every stanza is handed over; keep those the skipper would keep. */
        struct collected all = { 0 };
        int n_all = parse3(text, &all, false, false, 0);
        assert_true(n_all >= 1);
        struct posture_strbuf expected = { 0 };
        for (char *line = all.out.buf; line && *line;) {
            char *nl = strchr(line, '\n');
            /* Values may hold newlines (continuations): stanza records end at "\n" followed
             * by "p" (the next key) or the end. */
            while (nl && nl[1] != '\0' && nl[1] != 'p')
                nl = strchr(nl + 1, '\n');
            size_t len = nl ? (size_t) (nl - line) + 1 : strlen(line);
            const char *semi = memchr(line, ';', len);
            assert_non_null(semi);
            if (key_hash(line, (size_t) (semi - line)) % 3 != 0)
                assert_int_equal(posture_strbuf_append(&expected, line, len), 0);
            line += len;
        }

        for (size_t i = 0; i < POSTURE_ELEMENTSOF(fills); i++) {
            struct collected some = { .skip_mod = 3 };
            int n = parse3(text, &some, false, false, fills[i]);
            if (n != n_all)
                fail_msg("round %d fill %zu: %d stanzas, slow path %d\n%s", round, fills[i], n,
                         n_all, text);
            const char *got = some.out.buf ? some.out.buf : "";
            const char *want = expected.buf ? expected.buf : "";
            if (strcmp(got, want) != 0)
                fail_msg("round %d fill %zu: got\n%s\nexpected\n%s\ntext\n%s", round, fills[i], got,
                         want, text);
            posture_strbuf_done(&some.out);
        }
        posture_strbuf_done(&expected);
        posture_strbuf_done(&all.out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_lines),
        cmocka_unit_test(test_stream_bounds),
        cmocka_unit_test(test_stream_read_bytes),
        cmocka_unit_test(test_stream_compressed),
        cmocka_unit_test(test_compression_from_name),
        cmocka_unit_test(test_deb822_syntax),
        cmocka_unit_test(test_deb822_errors),
        cmocka_unit_test(test_deb822_comments_and_callbacks),
        cmocka_unit_test(test_deb822_armor),
        cmocka_unit_test(test_skip_matches_slow_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
