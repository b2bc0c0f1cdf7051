/* SPDX-License-Identifier: Apache-2.0 */
/* INI store and parser, drop-ins, apply and dump (config.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "posture/config.h"
#include "posture/err.h"
#include "posture/log.h"
#include "posture/strbuf.h"
#include "posture/strv.h"

#include "testlib.h"

#define DIAG_MAX 16

/* Diagnostics captured through the callback. */
struct diags {
    unsigned n;
    int level[DIAG_MAX];
    unsigned line[DIAG_MAX];
    bool has_file[DIAG_MAX];
    char file[DIAG_MAX][512];
    char msg[DIAG_MAX][1024];
};

static void capture(int level, const char *file, unsigned line, const char *message, void *userdata)
{
    struct diags *d = userdata;
    if (d->n < DIAG_MAX) {
        d->level[d->n] = level;
        d->line[d->n] = line;
        d->has_file[d->n] = file != NULL;
        (void) snprintf(d->file[d->n], sizeof(d->file[0]), "%s", file ? file : "");
        (void) snprintf(d->msg[d->n], sizeof(d->msg[0]), "%s", message);
    }
    d->n++;
}

static struct posture_config *new_config(struct diags *d)
{
    struct posture_config *c = NULL;
    memset(d, 0, sizeof(*d));
    assert_int_equal(posture_config_new(capture, d, &c), 0);
    assert_non_null(c);
    return c;
}

static int parse_named(struct posture_config *c, const char *text, const char *name)
{
    return posture_config_parse_string(c, text, strlen(text), name);
}

static int parse(struct posture_config *c, const char *text)
{
    return parse_named(c, text, "test.conf");
}

/* Parse text that must fail with r and one LOG_ERR diagnostic equal to expected. */
static void expect_error(const char *text, size_t len, int r, const char *expected)
{
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);

    assert_int_equal(parse(c, "[keep]\nx = 1\n"), 0);
    assert_int_equal(posture_config_parse_string(c, text, len, "test.conf"), r);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.level[0], LOG_ERR);
    assert_string_equal(d.msg[0], expected);
    /* Nothing of the failed text is kept; the earlier text is. */
    assert_int_equal(posture_config_count(c), 1);
    assert_string_equal(posture_config_get(c, "keep", "x"), "1");
    assert_int_equal(posture_config_file_count(c), 1);
}

static void expect_bad(const char *text, const char *expected)
{
    expect_error(text, strlen(text), -EBADMSG, expected);
}

static void test_basic(void **state)
{
    (void) state;
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);

    assert_int_equal(parse(c, "[agent]\n"
                              "state_dir = /var/lib/posture\n"
                              "\n"
                              "[server]\n"
                              "url=https://a.example\n"
                              "  ca   =   /etc/ca.pem   \n"
                              "[agent]\n"
                              "state_dir\t=\t/tmp/x\n"
                              "[check.os.release]\n"
                              "min-version = 12\n" /* '-' is not a key character */),
                     -EBADMSG);
    assert_int_equal(posture_config_count(c), 0);
    assert_string_equal(d.msg[0],
                        "test.conf:10: invalid key name 'min-version' (allowed: A-Z a-z 0-9 _)");

    memset(&d, 0, sizeof(d));
    assert_int_equal(parse(c, "[agent]\n"
                              "state_dir = /var/lib/posture\n"
                              "\n"
                              "[server]\n"
                              "url=https://a.example\n"
                              "  ca   =   /etc/ca.pem   \n"
                              "[agent]\n"
                              "state_dir\t=\t/tmp/x\n"
                              "[check.os.release]\n"
                              "min_version = 12\n"
                              "[a-b_c.D9]\n"
                              "K_9 = v = w\n"),
                     0);
    assert_int_equal(d.n, 0);
    assert_int_equal(posture_config_count(c), 6);
    assert_string_equal(posture_config_get(c, "agent", "state_dir"), "/tmp/x");
    assert_string_equal(posture_config_get(c, "server", "url"), "https://a.example");
    assert_string_equal(posture_config_get(c, "server", "ca"), "/etc/ca.pem");
    assert_string_equal(posture_config_get(c, "check.os.release", "min_version"), "12");
    assert_string_equal(posture_config_get(c, "a-b_c.D9", "K_9"), "v = w");
    assert_null(posture_config_get(c, "agent", "url"));
    assert_null(posture_config_get(c, "nope", "state_dir"));
    assert_null(posture_config_get(c, "Agent", "state_dir")); /* case-sensitive */

    const struct posture_config_entry *e = posture_config_lookup(c, "agent", "state_dir");
    assert_non_null(e);
    assert_int_equal(e->line, 8);
    assert_string_equal(e->file, "test.conf");
    assert_string_equal(e->section, "agent");
    assert_string_equal(e->key, "state_dir");

    /* Every assignment is kept in order, including the overridden one. */
    e = posture_config_entry_at(c, 0);
    assert_non_null(e);
    assert_string_equal(e->value, "/var/lib/posture");
    assert_int_equal(e->line, 2);
    e = posture_config_entry_at(c, 2);
    assert_string_equal(e->key, "ca");
    assert_int_equal(e->line, 6);
    assert_null(posture_config_entry_at(c, 6));

    assert_int_equal(posture_config_file_count(c), 1);
    assert_string_equal(posture_config_file_at(c, 0), "test.conf");
    assert_null(posture_config_file_at(c, 1));
}

static void test_comments(void **state)
{
    (void) state;
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);

    assert_int_equal(parse(c, "# comment\n"
                              "; comment\n"
                              "   # indented comment = x\n"
                              "\t; [not a section]\n"
                              "[s] # comment after a header\n"
                              "a = 1 # trailing comment\n"
                              "b = x#y\n"
                              "c = x\t# tab before the hash\n"
                              "d = # nothing but a comment\n"
                              "e = ; not a comment\n"
                              "f = x ; y\n"
                              "g =\n"
                              "[t];comment\n"
                              "h = #\n"
                              "   \t  \n"
                              "i=#not a comment\n"
                              "j= #a comment\n"
                              "k=\t# a comment\n"),
                     0);
    assert_int_equal(d.n, 0);
    assert_string_equal(posture_config_get(c, "s", "a"), "1");
    assert_string_equal(posture_config_get(c, "s", "b"), "x#y");
    assert_string_equal(posture_config_get(c, "s", "c"), "x");
    assert_string_equal(posture_config_get(c, "s", "d"), "");
    assert_string_equal(posture_config_get(c, "s", "e"), "; not a comment");
    assert_string_equal(posture_config_get(c, "s", "f"), "x ; y");
    assert_string_equal(posture_config_get(c, "s", "g"), "");
    assert_string_equal(posture_config_get(c, "t", "h"), "");
    assert_string_equal(posture_config_get(c, "t", "i"), "#not a comment");
    assert_string_equal(posture_config_get(c, "t", "j"), "");
    assert_string_equal(posture_config_get(c, "t", "k"), "");
    assert_int_equal(posture_config_count(c), 11);
}

static void test_quotes(void **state)
{
    (void) state;
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);

    assert_int_equal(parse(c, "[q]\n"
                              "a = \"  keeps # inner  \"\n"
                              "b = \"say \\\"hi\\\" \\\\ done\"\n"
                              "c = \"C:\\path\\n\"   # trailing\n"
                              "d = \"\"\n"
                              "e = \"x\"  \n"
                              "f = plain \"quotes\" inside\n"
                              "g = \"ends with backslash\\\\\"\n"),
                     0);
    assert_int_equal(d.n, 0);
    assert_string_equal(posture_config_get(c, "q", "a"), "  keeps # inner  ");
    assert_string_equal(posture_config_get(c, "q", "b"), "say \"hi\" \\ done");
    assert_string_equal(posture_config_get(c, "q", "c"), "C:\\path\\n");
    assert_string_equal(posture_config_get(c, "q", "d"), "");
    assert_string_equal(posture_config_get(c, "q", "e"), "x");
    assert_string_equal(posture_config_get(c, "q", "f"), "plain \"quotes\" inside");
    assert_string_equal(posture_config_get(c, "q", "g"), "ends with backslash\\");

    expect_bad("[q]\na = \"open\n", "test.conf:2: missing closing '\"' in value '\"open'");
    expect_bad("[q]\na = \"escaped end\\\"\n",
               "test.conf:2: missing closing '\"' in value '\"escaped end\\\"'");
    expect_bad("[q]\na = \"x\" y\n", "test.conf:2: unexpected text 'y' after closing '\"'");
    expect_bad("[q]\na = \"x\"#c\n", "test.conf:2: unexpected text '#c' after closing '\"'");
}

static void test_line_endings(void **state)
{
    (void) state;
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);

    /* CRLF, a missing final newline, and a BOM. */
    assert_int_equal(parse(c, "\xef\xbb\xbf[a]\r\n"
                              "x = 1\r\n"
                              "\r\n"
                              "y = \"2 \"\r\n"
                              "# c\r\n"
                              "z = 3"),
                     0);
    assert_int_equal(d.n, 0);
    assert_string_equal(posture_config_get(c, "a", "x"), "1");
    assert_string_equal(posture_config_get(c, "a", "y"), "2 ");
    assert_string_equal(posture_config_get(c, "a", "z"), "3");
    assert_int_equal(posture_config_lookup(c, "a", "z")->line, 6);

    /* A BOM is only skipped at the very start. */
    expect_bad("[a]\n\xef\xbb\xbfx = 1\n",
               "test.conf:2: invalid key name '\xef\xbb\xbfx' (allowed: A-Z a-z 0-9 _)");
    /* A key line without newline, and an empty text. */
    posture_auto_config struct posture_config *c2 = new_config(&d);
    assert_int_equal(posture_config_parse_string(c2, "", 0, "empty.conf"), 0);
    assert_int_equal(posture_config_parse_string(c2, NULL, 0, "null.conf"), 0);
    assert_int_equal(posture_config_parse_string(c2, "\xef\xbb\xbf", 3, "bom.conf"), 0);
    assert_int_equal(posture_config_count(c2), 0);
    assert_int_equal(posture_config_file_count(c2), 3);
    assert_string_equal(posture_config_file_at(c2, 2), "bom.conf");
}

static void test_sections(void **state)
{
    (void) state;
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);

    assert_int_equal(parse(c, "[  spaced  ]\nx = 1\n\t[tab]\t\ny = 2\n"), 0);
    assert_string_equal(posture_config_get(c, "spaced", "x"), "1");
    assert_string_equal(posture_config_get(c, "tab", "y"), "2");

    expect_bad("[a b]\n", "test.conf:1: invalid section name 'a b'");
    expect_bad("\n[]\n", "test.conf:2: invalid section name ''");
    expect_bad("[a/b]\n", "test.conf:1: invalid section name 'a/b'");
    expect_bad("[agent\n", "test.conf:1: missing ']' at the end of section header '[agent'");
    expect_bad("[agent] x\n", "test.conf:1: unexpected text 'x' after section header [agent]");
    expect_bad("[a]]\n", "test.conf:1: unexpected text ']' after section header [a]");
}

static void test_syntax_errors(void **state)
{
    (void) state;
    expect_bad("url = https://x\n", "test.conf:1: key 'url' outside of any section");
    expect_bad("# header comment\n\n  url = x\n[s]\n",
               "test.conf:3: key 'url' outside of any section");
    expect_bad("[s]\nfoo\n", "test.conf:2: expected 'key = value' or '[section]', got 'foo'");
    expect_bad("[s]\n  foo bar  \n",
               "test.conf:2: expected 'key = value' or '[section]', got 'foo bar'");
    expect_bad("[s]\n = v\n", "test.conf:2: empty key in '= v'");
    expect_bad("[s]\na b = v\n", "test.conf:2: invalid key name 'a b' (allowed: A-Z a-z 0-9 _)");
    expect_bad("[s]\na.b = v\n", "test.conf:2: invalid key name 'a.b' (allowed: A-Z a-z 0-9 _)");
    /* Control bytes are escaped in diagnostics, long text is cut. */
    expect_bad("[s]\n\x1b[31m\n",
               "test.conf:2: expected 'key = value' or '[section]', got '\\x1b[31m'");
    char line[300];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    char text[400];
    (void) snprintf(text, sizeof(text), "[s]\n%s\n", line);
    char expected[400];
    (void) snprintf(expected, sizeof(expected),
                    "test.conf:2: expected 'key = value' or '[section]', got '%.120s...'", line);
    expect_bad(text, expected);
}

static void test_nul(void **state)
{
    (void) state;
    static const char text[] = "[a]\nx = 1\ny = a\0b\n";
    expect_error(text, sizeof(text) - 1, -EBADMSG, "test.conf:3: NUL byte in line");
    static const char text2[] = "[a]\n\0";
    expect_error(text2, sizeof(text2) - 1, -EBADMSG, "test.conf:2: NUL byte in line");

    /* The length is explicit: bytes past it are not read, and no NUL is needed. */
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);
    const char *src = "[a]\nx = 12345";
    size_t len = strlen(src) - 3;
    char *exact = malloc(len);
    assert_non_null(exact);
    memcpy(exact, src, len); /* NOLINT(bugprone-not-null-terminated-result): on purpose */
    assert_int_equal(posture_config_parse_string(c, exact, len, "t"), 0);
    free(exact);
    assert_string_equal(posture_config_get(c, "a", "x"), "12");
}

static void test_long_lines(void **state)
{
    (void) state;
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);
    size_t max = POSTURE_CONFIG_LINE_MAX;
    char *text = malloc(max + 64);
    assert_non_null(text);

    /* Exactly 4096 bytes before the newline (also with CRLF) is fine. */
    int n = snprintf(text, max + 64, "[s]\nk = ");
    memset(text + n, 'v', max - 4);
    memcpy(text + n + max - 4, "\r\n", 3);
    assert_int_equal(parse(c, text), 0);
    assert_int_equal(strlen(posture_config_get(c, "s", "k")), max - 4);

    /* One more is not. */
    memset(text + n, 'v', max - 3);
    memcpy(text + n + max - 3, "\n", 2);
    expect_bad(text, "test.conf:2: line longer than 4096 bytes");
    /* Also on the last line without newline. */
    text[n + max - 3] = '\0';
    expect_bad(text, "test.conf:2: line longer than 4096 bytes");
    free(text);
}

static void test_limits(void **state)
{
    (void) state;
    struct diags d;
    struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);

    /* 4096 lines with content are fine; comments and blank lines do not count. */
    assert_int_equal(posture_strbuf_puts(&sb, "[s]\n"), 0);
    for (unsigned i = 1; i < POSTURE_CONFIG_LINES_MAX; i++)
        assert_int_equal(posture_strbuf_printf(&sb, "# %u\n\nk%u = %u\n", i, i, i), 0);
    posture_auto_config struct posture_config *c = new_config(&d);
    assert_int_equal(posture_config_parse_string(c, sb.buf, sb.len, "many.conf"), 0);
    assert_int_equal(posture_config_count(c), POSTURE_CONFIG_LINES_MAX - 1);
    assert_string_equal(posture_config_get(c, "s", "k4095"), "4095");

    assert_int_equal(posture_strbuf_puts(&sb, "[t]\n"), 0);
    expect_error(sb.buf, sb.len, -E2BIG, "test.conf:12287: more than 4096 lines with content");
    posture_strbuf_done(&sb);

    /* At most 1 MiB. */
    size_t big = POSTURE_CONFIG_FILE_MAX + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, '\n', big);
    expect_error(text, big, -E2BIG, "test.conf: larger than 1048576 bytes");
    struct posture_config *c2 = new_config(&d);
    assert_int_equal(posture_config_parse_string(c2, text, big - 1, "t"), 0);
    c2 = posture_config_free(c2);
    assert_null(c2);
    free(text);
}

static void test_error_keeps_nothing(void **state)
{
    (void) state;
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);

    assert_int_equal(parse_named(c, "[a]\nx = 1\n", "one.conf"), 0);
    assert_int_equal(parse_named(c, "[a]\nx = 2\ny = 3\nbad\n", "two.conf"), -EBADMSG);
    assert_int_equal(posture_config_count(c), 1);
    assert_string_equal(posture_config_get(c, "a", "x"), "1");
    assert_null(posture_config_get(c, "a", "y"));
    assert_int_equal(posture_config_file_count(c), 1);

    /* A file name read again is listed once. */
    assert_int_equal(parse_named(c, "[a]\nx = 4\n", "one.conf"), 0);
    assert_int_equal(parse_named(c, "[a]\nbad\n", "one.conf"), -EBADMSG);
    assert_int_equal(posture_config_file_count(c), 1);
    assert_string_equal(posture_config_get(c, "a", "x"), "4");
    assert_ptr_equal(posture_config_entry_at(c, 0)->file, posture_config_entry_at(c, 1)->file);
}

static void test_diag(void **state)
{
    (void) state;
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);

    posture_config_diag(c, LOG_WARNING, "f.conf", 7, "hello %s %d", "world", 42);
    posture_config_diag(c, LOG_ERR, "f.conf", 0, "no line");
    posture_config_diag(c, LOG_NOTICE, NULL, 0, "no location");
    assert_int_equal(d.n, 3);
    assert_string_equal(d.msg[0], "f.conf:7: hello world 42");
    assert_int_equal(d.level[0], LOG_WARNING);
    assert_string_equal(d.file[0], "f.conf");
    assert_int_equal(d.line[0], 7);
    assert_string_equal(d.msg[1], "f.conf: no line");
    assert_string_equal(d.msg[2], "no location");
    assert_false(d.has_file[2]);

    /* A NULL filename is named "<string>". */
    assert_int_equal(posture_config_parse_string(c, "x = 1\n", 6, NULL), -EBADMSG);
    assert_string_equal(d.msg[3], "<string>:1: key 'x' outside of any section");
    assert_string_equal(d.file[3], "<string>");
    assert_int_equal(d.line[3], 1);
}

struct sink_capture {
    unsigned n;
    char last[1024];
};

static void sink(int level, const char *message, void *userdata)
{
    struct sink_capture *s = userdata;
    if (level == LOG_DEBUG && strstr(message, "outside of any section")) {
        s->n++;
        (void) snprintf(s->last, sizeof(s->last), "%s", message);
    }
}

static void test_diag_without_callback(void **state)
{
    (void) state;
    struct sink_capture s = { 0 };
    struct posture_config *c = NULL;
    int saved = posture_log_get_max_level();

    assert_int_equal(posture_config_new(NULL, NULL, &c), 0);
    posture_log_set_max_level(LOG_DEBUG);
    posture_log_set_sink(sink, &s);
    assert_int_equal(posture_config_parse_string(c, "k = v", 5, "x.conf"), -EBADMSG);
    posture_log_set_sink(NULL, NULL);
    posture_log_set_max_level(saved);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.last, "x.conf:1: key 'k' outside of any section"));
    assert_null(posture_config_free(c));
    assert_null(posture_config_free(NULL));
}

/* Drop-in directories. */

struct tmp {
    char *dir;
    char main[4096];
};

static void tmp_setup(struct tmp *t)
{
    t->dir = posture_test_mkdtemp();
    (void) snprintf(t->main, sizeof(t->main), "%s/agent.conf", t->dir);
}

static void tmp_teardown(struct tmp *t)
{
    /* Restore permissions a test may have removed, then delete. */
    char path[4096];
    (void) snprintf(path, sizeof(path), "%s/agent.conf.d/20-b.conf", t->dir);
    (void) chmod(path, 0644);
    assert_int_equal(posture_test_rmdir_r(t->dir), 0);
    free(t->dir);
}

static void put(struct tmp *t, const char *rel, const char *content)
{
    assert_int_equal(posture_test_write_file(t->dir, rel, content), 0);
}

static void test_load_dropins(void **state)
{
    (void) state;
    struct tmp t;
    struct diags d;
    tmp_setup(&t);
    posture_auto_config struct posture_config *c = new_config(&d);

    put(&t, "agent.conf", "[a]\nx = main\ny = main\nz = main\n");
    put(&t, "agent.conf.d/20-b.conf", "[a]\ny = b\n[b]\nonly = b\n");
    put(&t, "agent.conf.d/10-a.conf", "[a]\nx = a\ny = a\n");
    put(&t, "agent.conf.d/README", "not ini at all\n");
    put(&t, "agent.conf.d/30-c.conf.disabled", "[a]\nz = disabled\n");
    put(&t, "agent.conf.d/.hidden.conf", "[a]\nz = hidden\n");
    put(&t, "agent.conf.d/15-dir.conf/inner.conf", "[a]\nz = inner\n");
    put(&t, "other/target.txt", "[a]\nlinked = yes\n");
    assert_int_equal(
        posture_test_symlink(t.dir, "agent.conf.d/40-link.conf", "../other/target.txt"), 0);
    /* Lexical order is strcmp order: upper case sorts before lower case. */
    put(&t, "agent.conf.d/Z.conf", "[a]\norder = Z\n");
    put(&t, "agent.conf.d/a.conf", "[a]\norder = a\n");

    assert_int_equal(posture_config_load(c, t.main, true), 0);
    assert_string_equal(posture_config_get(c, "a", "x"), "a");
    assert_string_equal(posture_config_get(c, "a", "y"), "b");
    assert_string_equal(posture_config_get(c, "a", "z"), "main");
    assert_string_equal(posture_config_get(c, "b", "only"), "b");
    assert_string_equal(posture_config_get(c, "a", "linked"), "yes");
    assert_string_equal(posture_config_get(c, "a", "order"), "a");

    /* The directory named like a drop-in is skipped with a warning. */
    assert_int_equal(d.n, 1);
    assert_int_equal(d.level[0], LOG_WARNING);
    assert_non_null(strstr(d.msg[0], "agent.conf.d: 15-dir.conf is not a regular file, ignoring"));

    static const char *const order[] = { "agent.conf",
                                         "agent.conf.d/10-a.conf",
                                         "agent.conf.d/20-b.conf",
                                         "agent.conf.d/40-link.conf",
                                         "agent.conf.d/Z.conf",
                                         "agent.conf.d/a.conf" };
    assert_int_equal(posture_config_file_count(c), POSTURE_ELEMENTSOF(order));
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(order); i++) {
        char path[4096];
        (void) snprintf(path, sizeof(path), "%s/%s", t.dir, order[i]);
        assert_string_equal(posture_config_file_at(c, i), path);
    }
    const struct posture_config_entry *e = posture_config_lookup(c, "a", "y");
    assert_string_equal(e->file, posture_config_file_at(c, 2));
    assert_int_equal(e->line, 2);
    tmp_teardown(&t);
}

static void test_load_missing(void **state)
{
    (void) state;
    struct tmp t;
    struct diags d;
    tmp_setup(&t);

    /* Missing main, required: -ENOENT naming it. */
    struct posture_config *c = new_config(&d);
    assert_int_equal(posture_config_load(c, t.main, true), -ENOENT);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.level[0], LOG_ERR);
    char expected[4200];
    (void) snprintf(expected, sizeof(expected), "%s: No such file or directory", t.main);
    assert_string_equal(d.msg[0], expected);
    (void) posture_config_free(c);

    /* Optional, and no drop-in directory either: nothing, quietly. */
    c = new_config(&d);
    assert_int_equal(posture_config_load(c, t.main, false), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(posture_config_count(c), 0);
    assert_int_equal(posture_config_file_count(c), 0);
    (void) posture_config_free(c);

    /* Optional main missing, but a drop-in present: it is read. */
    put(&t, "agent.conf.d/50-fleet.conf", "[server]\nurl = https://fleet\n");
    c = new_config(&d);
    assert_int_equal(posture_config_load(c, t.main, false), 0);
    assert_string_equal(posture_config_get(c, "server", "url"), "https://fleet");
    assert_int_equal(posture_config_file_count(c), 1);
    (void) posture_config_free(c);

    /* Main present, drop-in directory missing: fine. */
    assert_int_equal(posture_test_rmdir_r(t.dir), 0);
    assert_int_equal(mkdir(t.dir, 0700), 0);
    put(&t, "agent.conf", "[s]\nk = v\n");
    c = new_config(&d);
    assert_int_equal(posture_config_load(c, t.main, true), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(posture_config_get(c, "s", "k"), "v");
    (void) posture_config_free(c);

    /* load_file: -ENOENT without a diagnostic. */
    c = new_config(&d);
    char missing[4200];
    (void) snprintf(missing, sizeof(missing), "%s/nope.conf", t.dir);
    assert_int_equal(posture_config_load_file(c, missing), -ENOENT);
    assert_int_equal(d.n, 0);
    (void) posture_config_free(c);
    tmp_teardown(&t);
}

static void test_load_bad_dropin(void **state)
{
    (void) state;
    struct tmp t;
    struct diags d;
    char path[4200], expected[4400];
    tmp_setup(&t);

    put(&t, "agent.conf", "[a]\nx = main\n");
    put(&t, "agent.conf.d/10-a.conf", "[a]\nx = a\n");
    put(&t, "agent.conf.d/20-b.conf", "[a]\nx = b\nnonsense\n");
    put(&t, "agent.conf.d/30-c.conf", "[a]\nx = c\n");

    /* A syntax error names the drop-in and line, and stops loading. */
    struct posture_config *c = new_config(&d);
    assert_int_equal(posture_config_load(c, t.main, true), -EBADMSG);
    assert_int_equal(d.n, 1);
    (void) snprintf(expected, sizeof(expected),
                    "%s/agent.conf.d/20-b.conf:3: expected 'key = value' or '[section]', got "
                    "'nonsense'",
                    t.dir);
    assert_string_equal(d.msg[0], expected);
    assert_string_equal(posture_config_get(c, "a", "x"), "a");
    (void) posture_config_free(c);

    /* Unreadable (as non-root; root reads anything). */
    put(&t, "agent.conf.d/20-b.conf", "[a]\nx = b\n");
    (void) snprintf(path, sizeof(path), "%s/agent.conf.d/20-b.conf", t.dir);
    if (geteuid() != 0) {
        assert_int_equal(chmod(path, 0), 0);
        c = new_config(&d);
        assert_int_equal(posture_config_load(c, t.main, true), -EACCES);
        assert_int_equal(d.n, 1);
        (void) snprintf(expected, sizeof(expected), "%s: cannot open: Permission denied", path);
        assert_string_equal(d.msg[0], expected);
        (void) posture_config_free(c);
        assert_int_equal(chmod(path, 0644), 0);
    }

    /* A dangling symlink is an error naming it. */
    assert_int_equal(posture_test_symlink(t.dir, "agent.conf.d/25-dangling.conf", "nowhere"), 0);
    c = new_config(&d);
    assert_int_equal(posture_config_load(c, t.main, true), -ENOENT);
    assert_int_equal(d.n, 1);
    (void) snprintf(expected, sizeof(expected),
                    "%s/agent.conf.d/25-dangling.conf: cannot open: No such file or directory",
                    t.dir);
    assert_string_equal(d.msg[0], expected);
    (void) posture_config_free(c);

    /* A drop-in "directory" that is a file. */
    assert_int_equal(posture_test_rmdir_r(t.dir), 0);
    assert_int_equal(mkdir(t.dir, 0700), 0);
    put(&t, "agent.conf", "[a]\nx = main\n");
    put(&t, "agent.conf.d", "[a]\nx = file\n");
    c = new_config(&d);
    assert_int_equal(posture_config_load(c, t.main, true), -ENOTDIR);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.msg[0], "agent.conf.d: cannot open drop-in directory"));
    (void) posture_config_free(c);
    tmp_teardown(&t);
}

static void test_load_file_checks(void **state)
{
    (void) state;
    struct tmp t;
    struct diags d;
    char path[4200];
    tmp_setup(&t);
    posture_auto_config struct posture_config *c = new_config(&d);

    /* Not a regular file. */
    assert_int_equal(posture_config_load_file(c, t.dir), -EINVAL);
    assert_int_equal(d.n, 1);
    (void) snprintf(path, sizeof(path), "%s: not a regular file", t.dir);
    assert_string_equal(d.msg[0], path);
    assert_int_equal(posture_config_load_file(c, "/dev/null"), -EINVAL);
    assert_string_equal(d.msg[1], "/dev/null: not a regular file");

    /* Too big. */
    size_t big = POSTURE_CONFIG_FILE_MAX + 1;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, '\n', big);
    text[big] = '\0';
    put(&t, "big.conf", text);
    text[big - 1] = '\0';
    put(&t, "max.conf", text);
    free(text);
    (void) snprintf(path, sizeof(path), "%s/big.conf", t.dir);
    assert_int_equal(posture_config_load_file(c, path), -E2BIG);
    assert_int_equal(d.n, 3);
    assert_non_null(strstr(d.msg[2], "big.conf: file larger than 1048576 bytes"));
    (void) snprintf(path, sizeof(path), "%s/max.conf", t.dir);
    assert_int_equal(posture_config_load_file(c, path), 0);

    /* Too many drop-ins. */
    put(&t, "agent.conf", "");
    for (unsigned i = 0; i <= POSTURE_CONFIG_DROPINS_MAX; i++) {
        char rel[64];
        (void) snprintf(rel, sizeof(rel), "agent.conf.d/%03u.conf", i);
        put(&t, rel, "[s]\nk = v\n");
    }
    posture_auto_config struct posture_config *c2 = new_config(&d);
    assert_int_equal(posture_config_load(c2, t.main, true), -E2BIG);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.msg[0], "agent.conf.d: more than 256 drop-in files"));
    tmp_teardown(&t);
}

/* Apply. */

struct sample {
    char *name;
    bool flag;
    uint32_t count;
    uint64_t big;
    uint64_t timeout;
    uint64_t size;
    char **list;
};

static const struct posture_config_item sample_items[] = {
    { "main", "name", posture_config_parse_string_item, offsetof(struct sample, name) },
    { "main", "flag", posture_config_parse_bool_item, offsetof(struct sample, flag) },
    { "main", "count", posture_config_parse_u32_item, offsetof(struct sample, count) },
    { "main", "big", posture_config_parse_u64_item, offsetof(struct sample, big) },
    { "limits", "timeout", posture_config_parse_duration_item, offsetof(struct sample, timeout) },
    { "limits", "size", posture_config_parse_size_item, offsetof(struct sample, size) },
    { "limits", "list", posture_config_parse_strv_item, offsetof(struct sample, list) },
    { NULL, NULL, NULL, 0 },
};

static void sample_done(struct sample *s)
{
    free(s->name);
    (void) posture_strv_free(s->list);
    memset(s, 0, sizeof(*s));
}

static void sample_init(struct sample *s)
{
    memset(s, 0, sizeof(*s));
    s->name = strdup("default");
    assert_non_null(s->name);
    assert_int_equal(posture_strv_split("d1 d2", " ", &s->list), 2);
}

static void test_apply(void **state)
{
    (void) state;
    struct diags d;
    struct sample s;
    posture_auto_config struct posture_config *c = new_config(&d);
    static const char *const skip[] = { "check.", "plugin.", NULL };

    sample_init(&s);
    assert_int_equal(parse_named(c,
                                 "[main]\n"
                                 "name = first\n"
                                 "name = second\n"
                                 "flag = yes\n"
                                 "count = 4294967295\n"
                                 "big = 18446744073709551615\n"
                                 "colour = blue\n"
                                 "[limits]\n"
                                 "timeout = 1h30m\n"
                                 "size = 8M\n"
                                 "list = /a \t /b  /c\n"
                                 "[bogus]\n"
                                 "a = 1\n"
                                 "b = 2\n"
                                 "[check.os.release]\n"
                                 "anything = goes\n"
                                 "[plugin.x]\n"
                                 "y = z\n"
                                 "[bogus]\n"
                                 "c = 3\n",
                                 "one.conf"),
                     0);
    assert_int_equal(parse_named(c, "[bogus]\nd = 4\n[main]\nflag = off\n", "two.conf"), 0);
    assert_int_equal(posture_config_apply(c, sample_items, skip, &s), 0);
    assert_string_equal(s.name, "second");
    assert_false(s.flag);
    assert_int_equal(s.count, UINT32_MAX);
    assert_true(s.big == UINT64_MAX);
    assert_true(s.timeout == 5400ULL * 1000000ULL);
    assert_true(s.size == 8ULL * 1024 * 1024);
    assert_int_equal(posture_strv_length(s.list), 3);
    assert_string_equal(s.list[0], "/a");
    assert_string_equal(s.list[2], "/c");

    /* One warning per unknown section and file, one per unknown key; skipped sections are
     * silent. */
    assert_int_equal(d.n, 3);
    assert_int_equal(d.level[0], LOG_WARNING);
    assert_string_equal(d.msg[0], "one.conf:7: unknown key 'colour' in [main], ignoring");
    assert_string_equal(d.msg[1], "one.conf:13: unknown section [bogus], ignoring");
    assert_string_equal(d.msg[2], "two.conf:2: unknown section [bogus], ignoring");

    /* No skip list: check.* warns too. */
    memset(&d, 0, sizeof(d));
    assert_int_equal(posture_config_apply(c, sample_items, NULL, &s), 0);
    assert_int_equal(d.n, 5);
    assert_string_equal(d.msg[2], "one.conf:16: unknown section [check.os.release], ignoring");
    sample_done(&s);

    /* An empty string value unsets, an empty list is empty. */
    posture_auto_config struct posture_config *c2 = new_config(&d);
    sample_init(&s);
    assert_int_equal(parse(c2, "[main]\nname =\n[limits]\nlist = \"\"\n"), 0);
    assert_int_equal(posture_config_apply(c2, sample_items, NULL, &s), 0);
    assert_null(s.name);
    assert_non_null(s.list);
    assert_null(s.list[0]);
    sample_done(&s);
}

static void expect_apply_error(const char *text, const char *expected)
{
    struct diags d;
    struct sample s;
    posture_auto_config struct posture_config *c = new_config(&d);

    sample_init(&s);
    assert_int_equal(parse(c, text), 0);
    assert_int_equal(posture_config_apply(c, sample_items, NULL, &s), -EINVAL);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.level[0], LOG_ERR);
    assert_string_equal(d.msg[0], expected);
    /* apply stopped at the bad value: later rows were not applied. */
    assert_int_equal(s.count, 0);
    sample_done(&s);
}

static void test_apply_errors(void **state)
{
    (void) state;
    expect_apply_error("[main]\nflag = maybe\ncount = 3\n",
                       "test.conf:2: invalid value 'maybe' for key 'flag' in [main]: expected a "
                       "boolean (yes/no)");
    expect_apply_error("[main]\ncount = -1\n", "test.conf:2: invalid value '-1' for key 'count' "
                                               "in [main]: expected an unsigned integer");
    expect_apply_error("[main]\ncount = 4294967296\n",
                       "test.conf:2: invalid value '4294967296' for key 'count' in [main]: number "
                       "out of range");
    expect_apply_error("[main]\nbig = 12x\n", "test.conf:2: invalid value '12x' for key 'big' in "
                                              "[main]: expected an unsigned integer");
    expect_apply_error("[limits]\ntimeout = soon\n[main]\ncount = 1\n",
                       "test.conf:2: invalid value 'soon' for key 'timeout' in [limits]: expected "
                       "a duration like 30s, 5m, 1h");
    expect_apply_error("[limits]\nsize = lots\n",
                       "test.conf:2: invalid value 'lots' for key 'size' in [limits]: expected a "
                       "size like 512K, 8M, 1G");
    expect_apply_error("[limits]\nsize = \"\"\n", "test.conf:2: invalid value '' for key 'size' "
                                                  "in [limits]: expected a size like 512K, 8M, 1G");
    expect_apply_error("[main]\nflag = \"\x01\"\n",
                       "test.conf:2: invalid value '\\x01' for key "
                       "'flag' in [main]: expected a boolean (yes/no)");
}

/* Dump. */

/* Every (section, key) has the same effective value in a and b, and no other key exists. */
static void assert_same_effective(const struct posture_config *a, const struct posture_config *b)
{
    for (size_t i = 0; i < posture_config_count(a); i++) {
        const struct posture_config_entry *e = posture_config_entry_at(a, i);
        const char *vb = posture_config_get(b, e->section, e->key);
        assert_non_null(vb);
        assert_string_equal(vb, posture_config_get(a, e->section, e->key));
    }
    for (size_t i = 0; i < posture_config_count(b); i++) {
        const struct posture_config_entry *e = posture_config_entry_at(b, i);
        assert_non_null(posture_config_get(a, e->section, e->key));
    }
}

static void test_dump(void **state)
{
    (void) state;
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);
    posture_autofree char *out = NULL;

    assert_int_equal(posture_config_dump(c, &out), 0);
    assert_string_equal(out, "");
    free(out);
    out = NULL;

    assert_int_equal(parse(c, "[b]\n"
                              "y = 1\n"
                              "x = 2\n"
                              "[a]\n"
                              "k = plain value # comment\n"
                              "[b]\n"
                              "y = 3\n"
                              "z = \"  padded  \"\n"
                              "[a]\n"
                              "hash = \"a # b\"\n"
                              "quote = \"\\\"starts with a quote\"\n"
                              "inner = say \"hi\"\n"
                              "empty =\n"
                              "back = \"trailing\\\\\"\n"
                              "mixed = \"x \\\\\\\" y \"\n"
                              "nohash = a#b\n"
                              "tail = \"  x\\\\\"\n"),
                     0);
    assert_int_equal(posture_config_dump(c, &out), 0);
    assert_string_equal(out, "[b]\n"
                             "y = 3\n"
                             "x = 2\n"
                             "z = \"  padded  \"\n"
                             "\n"
                             "[a]\n"
                             "k = plain value\n"
                             "hash = \"a # b\"\n"
                             "quote = \"\\\"starts with a quote\"\n"
                             "inner = say \"hi\"\n"
                             "empty =\n"
                             "back = trailing\\\n"
                             "mixed = \"x \\\\\\\" y \"\n"
                             "nohash = a#b\n"
                             "tail = \"  x\\\\\"\n");

    /* Round trip: the dump parses to the same effective values, and dumps identically. */
    posture_auto_config struct posture_config *c2 = new_config(&d);
    assert_int_equal(posture_config_parse_string(c2, out, strlen(out), "dump"), 0);
    assert_int_equal(d.n, 0);
    assert_same_effective(c, c2);
    assert_int_equal(posture_config_count(c2), 12);
    posture_autofree char *out2 = NULL;
    assert_int_equal(posture_config_dump(c2, &out2), 0);
    assert_string_equal(out, out2);
}

static void test_dump_round_trip_nasty(void **state)
{
    (void) state;
    struct diags d;
    posture_auto_config struct posture_config *c = new_config(&d);
    posture_auto_config struct posture_config *c2 = NULL;
    posture_autofree char *out = NULL;
    struct posture_strbuf sb = POSTURE_STRBUF_INIT(0);

    /* Values with carriage returns, tabs, form feeds and backslashes in odd places, and a line
     * exactly at the limit (the dump must not make it longer). */
    assert_int_equal(posture_strbuf_puts(&sb, "\xef\xbb\xbf[s]\r\n"
                                              "cr = \"x\r\"\r\n"
                                              "tab = \"\tx\t\"\n"
                                              "ff = a\fb\n"
                                              "bs = \\\\\\\n"
                                              "qbs = \"\\a\\\\\\\"\\\"\"\n"
                                              "lead = \"#x\"\n"
                                              "[t]\n"
                                              "k="),
                     0);
    char *v = malloc(POSTURE_CONFIG_LINE_MAX);
    assert_non_null(v);
    memset(v, 'v', POSTURE_CONFIG_LINE_MAX - 2);
    v[POSTURE_CONFIG_LINE_MAX - 2] = '\0';
    assert_int_equal(posture_strbuf_puts(&sb, v), 0);
    assert_int_equal(posture_strbuf_puts(&sb, "\nq=\" "), 0);
    v[POSTURE_CONFIG_LINE_MAX - 6] = '\0';
    assert_int_equal(posture_strbuf_puts(&sb, v), 0);
    assert_int_equal(posture_strbuf_puts(&sb, "\"\n"), 0);
    free(v);

    assert_int_equal(posture_config_parse_string(c, sb.buf, sb.len, "nasty"), 0);
    posture_strbuf_done(&sb);
    assert_string_equal(posture_config_get(c, "s", "cr"), "x\r");
    assert_string_equal(posture_config_get(c, "s", "tab"), "\tx\t");
    assert_string_equal(posture_config_get(c, "s", "ff"), "a\fb");
    assert_string_equal(posture_config_get(c, "s", "bs"), "\\\\\\");
    assert_string_equal(posture_config_get(c, "s", "qbs"), "\\a\\\"\"");
    assert_int_equal(strlen(posture_config_get(c, "t", "k")), POSTURE_CONFIG_LINE_MAX - 2);

    assert_int_equal(posture_config_dump(c, &out), 0);
    c2 = new_config(&d);
    assert_int_equal(posture_config_parse_string(c2, out, strlen(out), "dump"), 0);
    assert_int_equal(d.n, 0);
    assert_same_effective(c, c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_sections),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_error_keeps_nothing),
        cmocka_unit_test(test_diag),
        cmocka_unit_test(test_diag_without_callback),
        cmocka_unit_test(test_load_dropins),
        cmocka_unit_test(test_load_missing),
        cmocka_unit_test(test_load_bad_dropin),
        cmocka_unit_test(test_load_file_checks),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_apply_errors),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_dump_round_trip_nasty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
