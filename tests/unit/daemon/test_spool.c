/* SPDX-License-Identifier: Apache-2.0 */
/* The offline spool: durability layout, limits, drop counting, damaged files moved aside. */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/cleanup.h"
#include "posture/err.h"

#include "spool.h"
#include "testlib.h"

#define SEC 1000000ULL
#define T0  (1795620700ULL * SEC)

struct fx {
    char *dir;
    int fd;
    struct posture_spool *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dir = posture_test_mkdtemp();
    f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->fd >= 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    posture_spool_free(f->s);
    (void) close(f->fd);
    assert_int_equal(posture_test_rmdir_r(f->dir), 0);
    free(f->dir);
    free(f);
    return 0;
}

static void open_spool(struct fx *f, uint64_t max_bytes, uint64_t max_age)
{
    const struct posture_spool_limits l = { .max_bytes = max_bytes, .max_age_usec = max_age };
    f->s = posture_spool_free(f->s);
    assert_int_equal(posture_spool_open(f->fd, &l, &f->s), 0);
}

static char *path(const struct fx *f, const char *rel)
{
    static char buf[4096];
    (void) snprintf(buf, sizeof(buf), "%s/spool/%s", f->dir, rel);
    return buf;
}

static size_t count_dir(const char *p)
{
    DIR *d = opendir(p);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    (void) closedir(d);
    return n;
}

static void test_put_get_list(void **state)
{
    struct fx *f = *state;
    posture_autofree char *body = NULL;
    posture_autofree uint64_t *seqs = NULL;
    size_t len = 0, n = 0;
    struct stat st;

    open_spool(f, 0, 0);
    assert_int_equal(posture_spool_put(f->s, 1, "{\"a\":1}", 7, T0), 0);
    assert_int_equal(posture_spool_put(f->s, 3, "{\"a\":3}", 7, T0 + SEC), 0);
    assert_int_equal(posture_spool_put(f->s, 2, "{\"a\":2}", 7, T0 + 2 * SEC), 0);
    assert_int_equal(posture_spool_put(f->s, 2, "{\"x\":2}", 7, T0), -EEXIST);
    assert_int_equal(posture_spool_put(f->s, 4, "", 0, T0), -EINVAL);

    /* The file is where the header says, 0600, and its header is the documented one. */
    assert_int_equal(stat(path(f, "00000000000000000003.sub"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    {
        char buf[256] = { 0 };
        FILE *fp = fopen(path(f, "00000000000000000003.sub"), "re");
        assert_non_null(fp);
        assert_non_null(fgets(buf, sizeof(buf), fp));
        (void) fclose(fp);
        assert_string_equal(buf,
                            "posture-spool 1 3 1795620701000000 7 "
                            "70778ce01ad8d1a82c80a3500bee476f34651238edeb936c4a7b0161b1395169\n");
    }

    /* Newest first, by seq. */
    assert_int_equal(posture_spool_list(f->s, T0 + 3 * SEC, &seqs, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(seqs[0], 3);
    assert_int_equal(seqs[1], 2);
    assert_int_equal(seqs[2], 1);

    assert_int_equal(posture_spool_get(f->s, 2, &body, &len), 0);
    assert_int_equal(len, 7);
    assert_string_equal(body, "{\"a\":2}");
    assert_int_equal(posture_spool_remove(f->s, 2), 0);
    assert_int_equal(posture_spool_remove(f->s, 2), -ENOENT);
    free(body);
    body = NULL;
    assert_int_equal(posture_spool_get(f->s, 2, &body, &len), -ENOENT);

    /* Reopened (a restart): the entries are still there. */
    open_spool(f, 0, 0);
    free(seqs);
    seqs = NULL;
    assert_int_equal(posture_spool_list(f->s, T0 + 3 * SEC, &seqs, &n), 0);
    assert_int_equal(n, 2);
}

static void test_limits_and_drops(void **state)
{
    struct fx *f = *state;
    posture_autofree uint64_t *seqs = NULL;
    char body[1000];
    uint64_t dropped = 99;
    size_t n = 0;
    struct posture_spool_stats st;

    memset(body, 'x', sizeof(body));
    /* About three entries fit in 3.5 KB (1000 bytes of body + ~100 of header each). */
    open_spool(f, 3500, 3600 * SEC);
    for (uint64_t seq = 1; seq <= 5; seq++)
        assert_int_equal(posture_spool_put(f->s, seq, body, sizeof(body), T0 + seq * SEC), 0);
    assert_int_equal(posture_spool_list(f->s, T0 + 10 * SEC, &seqs, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(seqs[0], 5);
    assert_int_equal(seqs[2], 3); /* 1 and 2, the oldest, went */
    assert_int_equal(posture_spool_dropped(f->s, &dropped), 0);
    assert_int_equal(dropped, 2);
    assert_int_equal(posture_spool_stats(f->s, &st), 0);
    assert_int_equal(st.entries, 3);
    assert_true(st.bytes <= 3500);
    assert_int_equal(st.oldest_usec, T0 + 3 * SEC);

    /* The count survives a restart, and taking it resets it durably. */
    open_spool(f, 3500, 3600 * SEC);
    assert_int_equal(posture_spool_take_dropped(f->s, &dropped), 0);
    assert_int_equal(dropped, 2);
    open_spool(f, 3500, 3600 * SEC);
    assert_int_equal(posture_spool_dropped(f->s, &dropped), 0);
    assert_int_equal(dropped, 0);

    /* Age: an hour later everything but the newest put is expired. */
    assert_int_equal(posture_spool_put(f->s, 6, body, sizeof(body), T0 + 7200 * SEC), 0);
    free(seqs);
    seqs = NULL;
    assert_int_equal(posture_spool_list(f->s, T0 + 7200 * SEC, &seqs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(seqs[0], 6);
    assert_int_equal(posture_spool_dropped(f->s, &dropped), 0);
    assert_int_equal(dropped, 3);

    /* An entry larger than the whole spool is refused and counted. */
    open_spool(f, 500, 3600 * SEC);
    assert_int_equal(posture_spool_put(f->s, 7, body, sizeof(body), T0 + 7200 * SEC), -EFBIG);
    assert_int_equal(posture_spool_get(f->s, 7, &(char *){ NULL }, &n), -ENOENT);
    assert_int_equal(posture_spool_dropped(f->s, &dropped), 0);
    assert_int_equal(dropped, 4);
}

static void write_raw(const struct fx *f, const char *name, const void *data, size_t len)
{
    FILE *fp = fopen(path(f, name), "we");
    assert_non_null(fp);
    if (len)
        assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void test_damaged_files(void **state)
{
    struct fx *f = *state;
    posture_autofree uint64_t *seqs = NULL;
    posture_autofree char *good = NULL;
    char *body = NULL;
    size_t n = 0, len = 0;
    struct posture_spool_stats st;

    open_spool(f, 0, 0);
    assert_int_equal(posture_spool_put(f->s, 10, "{\"ok\":10}", 9, T0), 0);
    assert_int_equal(posture_spool_put(f->s, 11, "{\"ok\":11}", 9, T0), 0);
    /* Read 11 back whole, to make damaged variants of it. */
    {
        FILE *fp = fopen(path(f, "00000000000000000011.sub"), "re");
        good = calloc(1, 512);
        assert_non_null(fp);
        assert_non_null(good);
        len = fread(good, 1, 511, fp);
        (void) fclose(fp);
    }
    /* zero-length (power cut before the data reached the disk) */
    write_raw(f, "00000000000000000012.sub", "", 0);
    /* truncated */
    write_raw(f, "00000000000000000013.sub", good, len - 3);
    /* a bit flipped in the body (the digest catches it) */
    good[len - 2] ^= 0x01;
    write_raw(f, "00000000000000000014.sub", good, len);
    good[len - 2] ^= 0x01;
    /* the file name says another seq than the header */
    write_raw(f, "00000000000000000015.sub", good, len);
    /* garbage */
    write_raw(f, "00000000000000000016.sub", "hello\n", 6);
    /* a leftover temporary file of an interrupted write, and an unrelated name */
    write_raw(f, ".00000000000000000017.sub.0123456789abcdef.tmp", good, 10);
    write_raw(f, "README", "x", 1);

    open_spool(f, 0, 0); /* removes the temporary file */
    assert_int_equal(access(path(f, ".00000000000000000017.sub.0123456789abcdef.tmp"), F_OK), -1);

    assert_int_equal(posture_spool_get(f->s, 14, &body, &len), -EBADMSG);
    assert_int_equal(posture_spool_list(f->s, T0, &seqs, &n), 0);
    assert_int_equal(n, 2); /* 10 and 11; the damaged ones never block them */
    assert_int_equal(seqs[0], 11);
    assert_int_equal(seqs[1], 10);
    assert_int_equal(count_dir(path(f, "corrupt")), 5);
    assert_int_equal(posture_spool_stats(f->s, &st), 0);
    assert_int_equal(st.corrupt, 5);
    assert_int_equal(access(path(f, "README"), F_OK), 0); /* not ours: left alone */
    assert_int_equal(posture_spool_get(f->s, 10, &body, &len), 0);
    assert_string_equal(body, "{\"ok\":10}");
    free(body);
}

static void test_corrupt_dir_is_bounded(void **state)
{
    struct fx *f = *state;
    posture_autofree uint64_t *seqs = NULL;
    size_t n = 0;

    open_spool(f, 0, 0);
    for (int i = 0; i < 20; i++) {
        char name[64];
        (void) snprintf(name, sizeof(name), "%020d.sub", 100 + i);
        write_raw(f, name, "junk\n", 5);
    }
    assert_int_equal(posture_spool_list(f->s, T0, &seqs, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(count_dir(path(f, "corrupt")), POSTURE_SPOOL_CORRUPT_KEEP);
}

static void test_parse(void **state)
{
    static const char ok[] = "posture-spool 1 3 5 2 "
                             "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\nab";
    const char *body;
    size_t len;
    uint64_t seq, created;

    assert_int_equal(posture_spool_parse(ok, strlen(ok), &seq, &created, &body, &len), -EBADMSG);
    /* sha256("ab") */
    static const char ok2[] =
        "posture-spool 1 3 5 2 "
        "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603\nab";
    assert_int_equal(posture_spool_parse(ok2, strlen(ok2), &seq, &created, &body, &len), 0);
    assert_int_equal(seq, 3);
    assert_int_equal(created, 5);
    assert_int_equal(len, 2);
    assert_memory_equal(body, "ab", 2);
    /* non-canonical numbers and extra spaces are refused */
    static const char lead0[] =
        "posture-spool 1 03 5 2 "
        "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603\nab";
    assert_int_equal(posture_spool_parse(lead0, strlen(lead0), &seq, &created, &body, &len),
                     -EBADMSG);
    static const char space[] =
        "posture-spool 1 3  5 2 "
        "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603\nab";
    assert_int_equal(posture_spool_parse(space, strlen(space), &seq, &created, &body, &len),
                     -EBADMSG);
    assert_int_equal(posture_spool_parse("x", 1, &seq, &created, &body, &len), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_and_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_dir_is_bounded, setup, teardown),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
