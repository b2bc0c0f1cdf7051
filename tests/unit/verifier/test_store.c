/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier's store (verifier/lib/store.h) on its SQLite backend: every operation and its
 * error paths, single use under concurrency, expiry on an injected clock, identity rules, the
 * audit hash chain checked against rows altered by the independent sqlite3 CLI, and the file
 * as other tools see it (journal_mode from the CLI, modes from stat).
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/spawn.h"

#include "store.h"
#include "testlib.h"

#define SEC       POSTURE_STORE_USEC_PER_SEC
#define T0        (UINT64_C(1764000000) * SEC)
#define N_THREADS 8

static _Atomic uint64_t fake_now = T0;

static uint64_t fake_clock(void *userdata)
{
    (void) userdata;
    return atomic_load(&fake_now);
}

struct fixture {
    char *dir;
    char path[4096];
    struct posture_store *store;
};

static struct posture_store *open_store(const char *path, unsigned pool)
{
    struct posture_store_options opts = { .clock = fake_clock, .pool_size = pool };
    struct posture_store *s = NULL;

    assert_int_equal(posture_store_open(path, &opts, &s), 0);
    assert_non_null(s);
    return s;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    atomic_store(&fake_now, T0);
    f->dir = posture_test_mkdtemp();
    assert_non_null(f->dir);
    assert_true(snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir) < (int) sizeof(f->path));
    f->store = open_store(f->path, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    f->store = posture_store_free(f->store);
    assert_int_equal(posture_test_rmdir_r(f->dir), 0);
    free(f->dir);
    free(f);
    return 0;
}

/* Run the sqlite3 CLI on path with one SQL text; returns its exit code, output in *ret_out. */
static int sqlite_cli(const char *path, const char *sql, char **ret_out)
{
    const char *argv[] = { "sqlite3", "-batch", path, sql, NULL };
    struct posture_spawn_opts o = { .argv = argv, .search_path = true };
    struct posture_spawn_result res = { 0 };
    int code;

    assert_int_equal(posture_spawn_run(&o, &res), 0);
    code = res.exit_code;
    if (ret_out) {
        *ret_out = res.out;
        res.out = NULL;
    }
    posture_spawn_result_done(&res);
    return code;
}

static void fill_software(struct posture_store_device *d, const char *id)
{
    *d = (struct posture_store_device){ .tier = POSTURE_STORE_TIER_SOFTWARE };
    assert_true(snprintf(d->id, sizeof(d->id), "%s", id) < (int) sizeof(d->id));
    d->jwk = (char *) "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"BB\"}";
}

static uint8_t ak_public_bytes[80];

static void fill_hardware(struct posture_store_device *d, const char *id, uint8_t ak, uint8_t ek)
{
    fill_software(d, id);
    d->tier = POSTURE_STORE_TIER_HARDWARE;
    memset(ak_public_bytes, 0x5a, sizeof(ak_public_bytes));
    d->ak_public = ak_public_bytes;
    d->ak_public_len = sizeof(ak_public_bytes);
    d->ak_name[0] = 0x00;
    d->ak_name[1] = 0x0b;
    memset(d->ak_name + 2, ak, 32);
    d->ak_name_len = 34;
    d->has_ek_public_sha256 = true;
    memset(d->ek_public_sha256, ek, 32);
    d->has_ek_cert_sha256 = true;
    memset(d->ek_cert_sha256, (uint8_t) (ek ^ 0xff), 32);
}

static void add_device(struct posture_store *s, const char *id)
{
    struct posture_store_device d;

    fill_software(&d, id);
    assert_int_equal(posture_store_device_insert(s, &d), 0);
}

/* ---- opening ----------------------------------------------------------------------------- */

static void test_open_file_modes_and_wal(void **state)
{
    struct fixture *f = *state;
    posture_autofree char *out = NULL;
    char p[4200];
    struct stat st;

    /* a write creates the -wal and -shm files too */
    add_device(f->store, "dev-a");
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    for (size_t i = 0; i < 2; i++) {
        (void) snprintf(p, sizeof(p), "%s%s", f->path, i == 0 ? "-wal" : "-shm");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
    }
    assert_int_equal(sqlite_cli(f->path, "PRAGMA journal_mode;", &out), 0);
    assert_string_equal(out, "wal\n");
    free(out);
    out = NULL;
    assert_int_equal(sqlite_cli(f->path, "PRAGMA application_id;", &out), 0);
    assert_string_equal(out, "1347638354\n");
    free(out);
    out = NULL;
    assert_int_equal(sqlite_cli(f->path, "SELECT version FROM schema_version;", &out), 0);
    assert_string_equal(out, "3\n");
    assert_int_equal(posture_store_schema_version(f->store), 3);

    /* an existing file with loose permissions is tightened */
    (void) snprintf(p, sizeof(p), "%s/loose.db", f->dir);
    assert_int_equal(posture_test_write_file(f->dir, "loose.db", ""), 0);
    assert_int_equal(chmod(p, 0644), 0);
    posture_store_free(open_store(p, 1));
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* synchronous=FULL on request */
    {
        struct posture_store_options full = { .clock = fake_clock, .synchronous_full = true };
        struct posture_store *s = NULL;

        assert_int_equal(posture_store_open(f->path, &full, &s), 0);
        add_device(s, "dev-full");
        posture_store_free(s);
    }

    /* "sqlite:" prefix and a plain path name the same thing */
    (void) snprintf(p, sizeof(p), "sqlite:%s", f->path);
    posture_store_free(open_store(p, 1));
}

static void test_open_bad_urls(void **state)
{
    struct fixture *f = *state;
    struct posture_store_options big = { .pool_size = 65 };
    struct posture_store *s = NULL;
    char p[4200];

    assert_int_equal(posture_store_open("", NULL, &s), -EINVAL);
    assert_int_equal(posture_store_open("sqlite:", NULL, &s), -EINVAL);
    assert_int_equal(posture_store_open("postgresql://db/posture", NULL, &s), -EOPNOTSUPP);
    assert_int_equal(posture_store_open("mysql://db/posture", NULL, &s), -EOPNOTSUPP);
    assert_int_equal(posture_store_open(f->path, &big, &s), -EINVAL);
    (void) snprintf(p, sizeof(p), "%s/missing/store.db", f->dir);
    assert_int_equal(posture_store_open(p, NULL, &s), -ENOENT);
    /* a directory, a symlink (not followed) */
    assert_int_equal(posture_store_open(f->dir, NULL, &s), -EISDIR);
    assert_int_equal(posture_test_symlink(f->dir, "link.db", f->path), 0);
    (void) snprintf(p, sizeof(p), "%s/link.db", f->dir);
    assert_int_equal(posture_store_open(p, NULL, &s), -ELOOP);
    assert_null(s);
    assert_int_equal(posture_store_open(NULL, NULL, &s), -EINVAL);
}

static void test_open_garbage_and_foreign(void **state)
{
    struct fixture *f = *state;
    struct posture_store *s = NULL;
    char junk[8192], p[4200];

    for (size_t i = 0; i < sizeof(junk) - 1; i++)
        junk[i] = (char) ('A' + (i * 7) % 26);
    junk[sizeof(junk) - 1] = '\0';
    assert_int_equal(posture_test_write_file(f->dir, "junk.db", junk), 0);
    (void) snprintf(p, sizeof(p), "%s/junk.db", f->dir);
    assert_int_equal(posture_store_open(p, NULL, &s), -EBADMSG);
    assert_null(s);

    /* a valid SQLite header followed by garbage pages */
    memcpy(junk, "SQLite format 3", 16);
    assert_int_equal(posture_test_write_file(f->dir, "half.db", junk), 0);
    (void) snprintf(p, sizeof(p), "%s/half.db", f->dir);
    assert_int_equal(posture_store_open(p, NULL, &s), -EBADMSG);

    /* another program's database */
    (void) snprintf(p, sizeof(p), "%s/other.db", f->dir);
    assert_int_equal(sqlite_cli(p, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", NULL), 0);
    assert_int_equal(posture_store_open(p, NULL, &s), -EBADMSG);
    assert_int_equal(sqlite_cli(p, "PRAGMA application_id = 7;", NULL), 0);
    assert_int_equal(posture_store_open(p, NULL, &s), -EBADMSG);

    /* ours, but from a newer program */
    f->store = posture_store_free(f->store);
    assert_int_equal(sqlite_cli(f->path, "UPDATE schema_version SET version = 99;", NULL), 0);
    assert_int_equal(posture_store_open(f->path, NULL, &s), -EPROTONOSUPPORT);
    assert_null(s);
}

static void test_reopen_keeps_data(void **state)
{
    struct fixture *f = *state;
    struct posture_store_device d;
    struct posture_store_audit_result res;
    uint8_t token[POSTURE_STORE_TOKEN_SIZE];
    uint64_t seq = 0;

    add_device(f->store, "dev-keep");
    assert_int_equal(posture_store_token_create(f->store, 60 * SEC, "kept", token, NULL), 0);
    assert_int_equal(posture_store_audit_append(f->store, "enroll", "dev-keep", "{}", &seq), 0);
    f->store = posture_store_free(f->store);

    for (int round = 0; round < 2; round++) {
        f->store = open_store(f->path, 2);
        assert_int_equal(posture_store_schema_version(f->store), 3);
        assert_int_equal(posture_store_device_get(f->store, "dev-keep", &d), 0);
        assert_string_equal(d.id, "dev-keep");
        posture_store_device_done(&d);
        assert_int_equal(posture_store_audit_verify(f->store, &res), 0);
        assert_int_equal(res.rows, 1);
        assert_int_equal(res.first_bad_seq, 0);
        f->store = posture_store_free(f->store);
    }
    f->store = open_store(f->path, 1);
    assert_int_equal(posture_store_token_consume(f->store, token, sizeof(token), NULL), 0);
}

/* ---- tokens ------------------------------------------------------------------------------ */

struct token_list {
    int n;
    struct posture_store_token last;
};

static int collect_token(const struct posture_store_token *t, void *userdata)
{
    struct token_list *l = userdata;

    l->n++;
    l->last = *t;
    return 0;
}

static int stop_token(const struct posture_store_token *t, void *userdata)
{
    (void) t;
    (void) userdata;
    return -ECANCELED;
}

static void test_tokens(void **state)
{
    struct fixture *f = *state;
    uint8_t tok[POSTURE_STORE_TOKEN_SIZE], tok2[POSTURE_STORE_TOKEN_SIZE], hash[32];
    posture_autofree char *file = NULL;
    struct token_list l = { 0 };
    int64_t id = 0, id2 = 0, used = 0;
    unsigned hlen = 0;
    size_t len = 0;

    assert_int_equal(posture_store_token_create(f->store, 300 * SEC, "laptop 17", tok, &id), 0);
    assert_true(id > 0);
    assert_int_equal(posture_store_token_create(f->store, 300 * SEC, NULL, tok2, &id2), 0);
    assert_true(id2 > id);
    assert_memory_not_equal(tok, tok2, sizeof(tok));

    /* only the hash reaches the file */
    f->store = posture_store_free(f->store);
    {
        posture_autoclose int fd = open(f->path, O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(posture_read_fd(fd, 16 << 20, &file, &len), 0);
    }
    f->store = open_store(f->path, 0);
    assert_null(memmem(file, len, tok, sizeof(tok)));
    assert_int_equal(EVP_Digest(tok, sizeof(tok), hash, &hlen, EVP_sha256(), NULL), 1);
    assert_non_null(memmem(file, len, hash, sizeof(hash)));

    assert_int_equal(posture_store_token_foreach(f->store, collect_token, &l), 2);
    assert_int_equal(l.last.id, id2);
    assert_string_equal(l.last.label, "");
    assert_int_equal(l.last.expires_at, T0 + 300 * SEC);
    assert_int_equal(l.last.used_at, 0);
    assert_int_equal(posture_store_token_foreach(f->store, stop_token, NULL), -ECANCELED);

    assert_int_equal(posture_store_token_consume(f->store, tok, sizeof(tok), &used), 0);
    assert_int_equal(used, id);
    assert_int_equal(posture_store_token_consume(f->store, tok, sizeof(tok), NULL), -EALREADY);
    l = (struct token_list){ 0 };
    assert_int_equal(posture_store_token_foreach(f->store, collect_token, &l), 2);

    /* wrong lengths and unknown values */
    assert_int_equal(posture_store_token_consume(f->store, tok, sizeof(tok) - 1, NULL), -ENOENT);
    assert_int_equal(posture_store_token_consume(f->store, NULL, 0, NULL), -ENOENT);
    tok[0] ^= 1;
    assert_int_equal(posture_store_token_consume(f->store, tok, sizeof(tok), NULL), -ENOENT);

    /* expiry: valid until the instant it expires */
    atomic_store(&fake_now, T0 + 300 * SEC);
    assert_int_equal(posture_store_token_consume(f->store, tok2, sizeof(tok2), NULL), -ESTALE);
    atomic_store(&fake_now, T0);
    assert_int_equal(posture_store_token_revoke(f->store, id2), 0);
    assert_int_equal(posture_store_token_consume(f->store, tok2, sizeof(tok2), NULL), -ENOENT);
    assert_int_equal(posture_store_token_revoke(f->store, id2), -ENOENT);
    assert_int_equal(posture_store_token_revoke(f->store, 0), -ENOENT);

    /* bad arguments */
    assert_int_equal(posture_store_token_create(f->store, 0, NULL, tok, NULL), -EINVAL);
    assert_int_equal(
        posture_store_token_create(f->store, POSTURE_STORE_TOKEN_TTL_MAX + 1, NULL, tok, NULL),
        -EINVAL);
    assert_int_equal(posture_store_token_create(f->store, SEC, "bad\nlabel", tok, NULL), -EINVAL);
    {
        char label[POSTURE_STORE_LABEL_MAX + 2];

        memset(label, 'x', sizeof(label) - 1);
        label[sizeof(label) - 1] = '\0';
        assert_int_equal(posture_store_token_create(f->store, SEC, label, tok, NULL), -EINVAL);
        label[POSTURE_STORE_LABEL_MAX] = '\0';
        assert_int_equal(posture_store_token_create(f->store, SEC, label, tok, NULL), 0);
    }
}

/* ---- concurrency helpers ----------------------------------------------------------------- */

enum race_kind {
    RACE_TOKEN,
    RACE_NONCE,
    RACE_ACTIVATION,
    RACE_DEVICE,
};

struct race {
    enum race_kind kind;
    struct posture_store *stores[2];
    const uint8_t *value;
    pthread_barrier_t barrier;
    _Atomic int ok;
    _Atomic int already;
    _Atomic int other;
};

struct racer {
    struct race *race;
    int index;
};

static void *race_thread(void *p)
{
    struct racer *me = p;
    struct race *r = me->race;
    struct posture_store *s = r->stores[me->index % 2];
    struct posture_store_activation a;
    struct posture_store_device d;
    char id[32];
    int ret = -EIO;

    (void) pthread_barrier_wait(&r->barrier);
    switch (r->kind) {
    case RACE_TOKEN:
        ret = posture_store_token_consume(s, r->value, POSTURE_STORE_TOKEN_SIZE, NULL);
        break;
    case RACE_NONCE:
        ret = posture_store_nonce_consume(s, "dev-race", r->value, POSTURE_STORE_NONCE_SIZE);
        break;
    case RACE_ACTIVATION:
        ret = posture_store_activation_take(s, "dev-race", &a);
        if (ret == 0)
            posture_store_activation_done(&a);
        if (ret == -ENOENT)
            ret = -EALREADY;
        break;
    case RACE_DEVICE:
        /* distinct ids, one AK and one EK: one enrolment wins */
        (void) snprintf(id, sizeof(id), "dev-%d", me->index);
        fill_hardware(&d, id, 0x11, 0x22);
        ret = posture_store_device_insert(s, &d);
        if (ret == -EADDRINUSE)
            ret = -EALREADY;
        break;
    }
    if (ret == 0)
        atomic_fetch_add(&r->ok, 1);
    else if (ret == -EALREADY)
        atomic_fetch_add(&r->already, 1);
    else
        atomic_fetch_add(&r->other, 1);
    return NULL;
}

/* N_THREADS threads, alternating between two store objects on the same file (two "nodes"). */
static void run_race(struct race *r)
{
    pthread_t t[N_THREADS];
    struct racer rs[N_THREADS];

    assert_int_equal(pthread_barrier_init(&r->barrier, NULL, N_THREADS), 0);
    for (int i = 0; i < N_THREADS; i++) {
        rs[i] = (struct racer){ .race = r, .index = i };
        assert_int_equal(pthread_create(&t[i], NULL, race_thread, &rs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    (void) pthread_barrier_destroy(&r->barrier);
    assert_int_equal(atomic_load(&r->ok), 1);
    assert_int_equal(atomic_load(&r->already), N_THREADS - 1);
    assert_int_equal(atomic_load(&r->other), 0);
}

static void test_single_use_under_concurrency(void **state)
{
    struct fixture *f = *state;
    uint8_t token[POSTURE_STORE_TOKEN_SIZE], nonce[POSTURE_STORE_NONCE_SIZE], h[32] = { 0 };
    /* a second object on the same file with a small pool: threads wait for connections */
    struct posture_store *other = open_store(f->path, 2);

    for (int round = 0; round < 3; round++) {
        struct race r = { .kind = RACE_TOKEN, .stores = { f->store, other }, .value = token };

        assert_int_equal(posture_store_token_create(f->store, 60 * SEC, "race", token, NULL), 0);
        run_race(&r);
    }
    add_device(f->store, "dev-race");
    for (int round = 0; round < 3; round++) {
        struct race r = { .kind = RACE_NONCE, .stores = { f->store, other }, .value = nonce };

        assert_int_equal(posture_store_nonce_issue(f->store, "dev-race", 120 * SEC, nonce), 0);
        run_race(&r);
    }
    for (int round = 0; round < 3; round++) {
        struct race r = { .kind = RACE_ACTIVATION, .stores = { f->store, other } };

        assert_int_equal(
            posture_store_activation_create(f->store, "dev-race", h, NULL, 0, NULL, 0, 60 * SEC),
            0);
        run_race(&r);
    }
    {
        struct race r = { .kind = RACE_DEVICE, .stores = { f->store, other } };

        run_race(&r);
    }
    posture_store_free(other);
}

/* ---- devices ----------------------------------------------------------------------------- */

static int count_device(const struct posture_store_device *d, void *userdata)
{
    int *n = userdata;

    assert_non_null(d->jwk);
    (*n)++;
    return 0;
}

static void test_devices(void **state)
{
    struct fixture *f = *state;
    struct posture_store_device d, got;
    int n = 0;

    fill_software(&d, "soft-1");
    assert_int_equal(posture_store_device_insert(f->store, &d), 0);
    assert_int_equal(posture_store_device_insert(f->store, &d), -EEXIST);
    assert_int_equal(posture_store_device_get(f->store, "soft-1", &got), 0);
    assert_string_equal(got.id, "soft-1");
    assert_int_equal(got.tier, POSTURE_STORE_TIER_SOFTWARE);
    assert_int_equal(got.status, POSTURE_STORE_DEVICE_ACTIVE);
    assert_string_equal(got.jwk, d.jwk);
    assert_null(got.ak_public);
    assert_int_equal(got.ak_name_len, 0);
    assert_false(got.has_ek_cert_sha256);
    assert_false(got.has_ek_public_sha256);
    assert_int_equal(got.created_at, T0);
    assert_int_equal(got.revoked_at, 0);
    posture_store_device_done(&got);
    assert_null(got.jwk);
    posture_store_device_done(NULL);

    fill_hardware(&d, "hw-1", 0xa1, 0xe1);
    assert_int_equal(posture_store_device_insert(f->store, &d), 0);
    assert_int_equal(posture_store_device_get_by_ak_name(f->store, d.ak_name, d.ak_name_len, &got),
                     0);
    assert_string_equal(got.id, "hw-1");
    assert_int_equal(got.tier, POSTURE_STORE_TIER_HARDWARE);
    assert_int_equal(got.ak_public_len, sizeof(ak_public_bytes));
    assert_memory_equal(got.ak_public, ak_public_bytes, sizeof(ak_public_bytes));
    assert_int_equal(got.ak_name_len, 34);
    assert_memory_equal(got.ak_name, d.ak_name, 34);
    assert_true(got.has_ek_cert_sha256);
    assert_memory_equal(got.ek_cert_sha256, d.ek_cert_sha256, 32);
    assert_true(got.has_ek_public_sha256);
    assert_memory_equal(got.ek_public_sha256, d.ek_public_sha256, 32);
    posture_store_device_done(&got);

    /* §5.2 step 7: the AK, the EK public, the EK certificate of another non-revoked device */
    fill_hardware(&d, "hw-2", 0xa1, 0xe2);
    assert_int_equal(posture_store_device_insert(f->store, &d), -EADDRINUSE);
    fill_hardware(&d, "hw-2", 0xa2, 0xe1);
    d.has_ek_cert_sha256 = false;
    assert_int_equal(posture_store_device_insert(f->store, &d), -EADDRINUSE);
    fill_hardware(&d, "hw-2", 0xa2, 0xe2);
    memset(d.ek_cert_sha256, 0xe1 ^ 0xff, 32);
    assert_int_equal(posture_store_device_insert(f->store, &d), -EADDRINUSE);
    /* the same device again with another AK: revoke first */
    fill_hardware(&d, "hw-1", 0xa3, 0xe3);
    assert_int_equal(posture_store_device_insert(f->store, &d), -EEXIST);

    assert_int_equal(posture_store_device_revoke(f->store, "hw-1"), 0);
    assert_int_equal(posture_store_device_revoke(f->store, "hw-1"), -EALREADY);
    assert_int_equal(posture_store_device_revoke(f->store, "nope"), -ENOENT);
    assert_int_equal(posture_store_device_get(f->store, "hw-1", &got), 0);
    assert_int_equal(got.status, POSTURE_STORE_DEVICE_REVOKED);
    assert_int_equal(got.revoked_at, T0);
    posture_store_device_done(&got);
    fill_hardware(&d, "hw-1", 0xa1, 0xe1);
    assert_int_equal(posture_store_device_get_by_ak_name(f->store, d.ak_name, d.ak_name_len, &got),
                     -ENOENT);

    /* after the revoke, the AK and EK may go to another device */
    fill_hardware(&d, "hw-2", 0xa1, 0xe1);
    assert_int_equal(posture_store_device_insert(f->store, &d), 0);
    assert_int_equal(posture_store_device_get_by_ak_name(f->store, d.ak_name, d.ak_name_len, &got),
                     0);
    assert_string_equal(got.id, "hw-2");
    posture_store_device_done(&got);

    assert_int_equal(posture_store_device_foreach(f->store, count_device, &n), 3);
    assert_int_equal(n, 3);

    /* bad input */
    assert_int_equal(posture_store_device_get(f->store, "unknown", &got), -ENOENT);
    assert_int_equal(posture_store_device_get(f->store, "has space", &got), -EINVAL);
    assert_int_equal(posture_store_device_get(f->store, "", &got), -EINVAL);
    fill_software(&d, "soft-2");
    d.jwk = NULL;
    assert_int_equal(posture_store_device_insert(f->store, &d), -EINVAL);
    fill_software(&d, "soft-2");
    d.has_ek_public_sha256 = true;
    assert_int_equal(posture_store_device_insert(f->store, &d), -EINVAL);
    fill_hardware(&d, "hw-3", 0xa4, 0xe4);
    d.ak_name_len = 0;
    assert_int_equal(posture_store_device_insert(f->store, &d), -EINVAL);
    fill_hardware(&d, "hw-3", 0xa4, 0xe4);
    d.tier = (enum posture_store_tier) 7;
    assert_int_equal(posture_store_device_insert(f->store, &d), -EINVAL);
    fill_hardware(&d, "hw-3", 0xa4, 0xe4);
    d.ak_name_len = POSTURE_STORE_AK_NAME_MAX + 1;
    assert_int_equal(posture_store_device_insert(f->store, &d), -EINVAL);
    assert_int_equal(posture_store_device_get_by_ak_name(f->store, d.ak_name, 0, &got), -EINVAL);

    assert_string_equal(posture_store_tier_to_string(POSTURE_STORE_TIER_HARDWARE), "hardware");
    assert_int_equal(posture_store_tier_from_string("software"), POSTURE_STORE_TIER_SOFTWARE);
    assert_int_equal(posture_store_tier_from_string("tpm"), POSTURE_STORE_TIER__INVALID);
    assert_null(posture_store_tier_to_string(POSTURE_STORE_TIER__MAX));
    assert_string_equal(posture_store_device_status_to_string(POSTURE_STORE_DEVICE_REVOKED),
                        "revoked");
}

static void test_device_reenrol_after_revoke(void **state)
{
    struct fixture *f = *state;
    struct posture_store_appraisal a = { .device_id = "hw-r",
                                         .seq = 1,
                                         .received_at = T0,
                                         .verdict = POSTURE_STORE_VERDICT_AFFIRMING,
                                         .ear = "e.a.r",
                                         .policy_id = "baseline",
                                         .policy_version = "1" };
    struct posture_store_clockinfo ci = { .clock = 10, .reset_count = 1, .restart_count = 2 };
    struct posture_store_appraisal got;
    struct posture_store_device d;

    fill_hardware(&d, "hw-r", 0xb1, 0xb2);
    assert_int_equal(posture_store_device_insert(f->store, &d), 0);
    assert_int_equal(posture_store_appraisal_record(f->store, &a), 0);
    assert_int_equal(posture_store_clockinfo_update(f->store, "hw-r", NULL, &ci), 0);
    assert_int_equal(posture_store_device_revoke(f->store, "hw-r"), 0);

    /* the same id with a new AK: the revoked enrolment and its state are replaced */
    atomic_store(&fake_now, T0 + 5 * SEC);
    fill_hardware(&d, "hw-r", 0xb3, 0xb2);
    assert_int_equal(posture_store_device_insert(f->store, &d), 0);
    assert_int_equal(posture_store_appraisal_latest(f->store, "hw-r", &got), -ENOENT);
    assert_int_equal(posture_store_clockinfo_get(f->store, "hw-r", &ci), -ENOENT);
    assert_int_equal(posture_store_appraisal_record(f->store, &a), 0); /* seq 1 is new again */
}

/* ---- pending activations ----------------------------------------------------------------- */

static void test_activations(void **state)
{
    struct fixture *f = *state;
    uint8_t secret[32], nonce0[20];
    struct posture_store_activation a;
    const char payload[] = "{\"ak\":\"...\"}";

    memset(secret, 0x33, sizeof(secret));
    memset(nonce0, 0x44, sizeof(nonce0));
    assert_int_equal(posture_store_activation_create(f->store, "dev-act", secret, nonce0,
                                                     sizeof(nonce0), payload, sizeof(payload),
                                                     300 * SEC),
                     0);
    assert_int_equal(
        posture_store_activation_create(f->store, "dev-act", secret, NULL, 0, NULL, 0, 300 * SEC),
        -EEXIST);
    assert_int_equal(posture_store_activation_take(f->store, "dev-act", &a), 0);
    assert_string_equal(a.device_id, "dev-act");
    assert_memory_equal(a.secret_sha256, secret, 32);
    assert_int_equal(a.nonce0_len, sizeof(nonce0));
    assert_memory_equal(a.nonce0, nonce0, sizeof(nonce0));
    assert_int_equal(a.payload_len, sizeof(payload));
    assert_memory_equal(a.payload, payload, sizeof(payload));
    assert_int_equal(a.expires_at, T0 + 300 * SEC);
    posture_store_activation_done(&a);
    assert_null(a.payload);
    /* one attempt */
    assert_int_equal(posture_store_activation_take(f->store, "dev-act", &a), -ENOENT);

    /* expired: reported once, and gone */
    assert_int_equal(
        posture_store_activation_create(f->store, "dev-act", secret, NULL, 0, NULL, 0, 10 * SEC),
        0);
    atomic_store(&fake_now, T0 + 10 * SEC);
    assert_int_equal(posture_store_activation_take(f->store, "dev-act", &a), -ESTALE);
    assert_int_equal(posture_store_activation_take(f->store, "dev-act", &a), -ENOENT);

    /* an expired one is replaced by a new one */
    assert_int_equal(
        posture_store_activation_create(f->store, "dev-act", secret, NULL, 0, NULL, 0, 10 * SEC),
        0);
    atomic_store(&fake_now, T0 + 30 * SEC);
    secret[0] = 0x99;
    assert_int_equal(
        posture_store_activation_create(f->store, "dev-act", secret, NULL, 0, NULL, 0, 10 * SEC),
        0);
    assert_int_equal(posture_store_activation_take(f->store, "dev-act", &a), 0);
    assert_int_equal(a.secret_sha256[0], 0x99);
    assert_int_equal(a.nonce0_len, 0);
    assert_null(a.payload);
    posture_store_activation_done(&a);

    /* bounds */
    assert_int_equal(posture_store_activation_create(f->store, "dev-act", secret, NULL, 0, NULL, 0,
                                                     POSTURE_STORE_ACTIVATION_TTL_MAX + 1),
                     -EINVAL);
    assert_int_equal(posture_store_activation_create(f->store, "dev-act", secret, nonce0,
                                                     POSTURE_STORE_NONCE0_MAX + 1, NULL, 0, SEC),
                     -EINVAL);
    assert_int_equal(posture_store_activation_create(f->store, "dev-act", secret, NULL, 0, payload,
                                                     POSTURE_STORE_PAYLOAD_MAX + 1, SEC),
                     -EINVAL);
    assert_int_equal(posture_store_activation_take(f->store, "bad id", &a), -EINVAL);
}

/* ---- nonces ------------------------------------------------------------------------------ */

static void test_nonces(void **state)
{
    struct fixture *f = *state;
    uint8_t n1[POSTURE_STORE_NONCE_SIZE], n2[POSTURE_STORE_NONCE_SIZE];
    uint8_t n3[POSTURE_STORE_NONCE_SIZE], zero[POSTURE_STORE_NONCE_SIZE] = { 0 };

    assert_int_equal(posture_store_nonce_issue(f->store, "ghost", 60 * SEC, n1), -ENOENT);
    add_device(f->store, "dev-n");
    add_device(f->store, "dev-m");
    assert_int_equal(posture_store_nonce_issue(f->store, "dev-n", 120 * SEC, n1), 0);
    assert_int_equal(posture_store_nonce_issue(f->store, "dev-n", 120 * SEC, n2), 0);
    assert_memory_not_equal(n1, n2, sizeof(n1));
    assert_memory_not_equal(n1, zero, sizeof(n1));

    /* bound to its device: another device is refused and does not burn it */
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-m", n1, sizeof(n1)), -EPERM);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-n", n1, sizeof(n1)), 0);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-n", n1, sizeof(n1)), -EALREADY);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-n", zero, sizeof(zero)), -ENOENT);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-n", n2, 16), -ENOENT);
    assert_int_equal(posture_store_nonce_consume(f->store, "bad id", n2, sizeof(n2)), -EINVAL);

    /* at most 120 s; expired at the instant of expiry */
    assert_int_equal(posture_store_nonce_issue(f->store, "dev-n", 121 * SEC, n3), -EINVAL);
    assert_int_equal(posture_store_nonce_issue(f->store, "dev-n", 0, n3), -EINVAL);
    atomic_store(&fake_now, T0 + 120 * SEC - 1);
    assert_int_equal(posture_store_nonce_issue(f->store, "dev-n", 30 * SEC, n3), 0);
    atomic_store(&fake_now, T0 + 120 * SEC);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-n", n2, sizeof(n2)), -ESTALE);

    /* purge: n1 and n2 have expired, n3 has not */
    assert_int_equal(posture_store_purge_expired(f->store), 2);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-n", n2, sizeof(n2)), -ENOENT);
    assert_int_equal(posture_store_purge_expired(f->store), 0);

    /* revoking a device drops its nonces */
    assert_int_equal(posture_store_device_revoke(f->store, "dev-n"), 0);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-n", n3, sizeof(n3)), -ENOENT);
}

static void test_nonce_issue_purges(void **state)
{
    struct fixture *f = *state;
    uint8_t n[POSTURE_STORE_NONCE_SIZE], keep[POSTURE_STORE_NONCE_SIZE];
    posture_autofree char *out = NULL;
    char id[32];

    /* 100 nonces over 10 devices (below the per-device cap) */
    for (int d = 0; d < 10; d++) {
        (void) snprintf(id, sizeof(id), "dev-p%d", d);
        add_device(f->store, id);
        for (int i = 0; i < 10; i++)
            assert_int_equal(posture_store_nonce_issue(f->store, id, 10 * SEC, n), 0);
    }
    atomic_store(&fake_now, T0 + 10 * SEC);
    /* each issue deletes a bounded batch (64) of expired rows */
    assert_int_equal(posture_store_nonce_issue(f->store, "dev-p0", 10 * SEC, keep), 0);
    assert_int_equal(sqlite_cli(f->path, "SELECT count(*) FROM nonces;", &out), 0);
    assert_string_equal(out, "37\n");
    free(out);
    out = NULL;
    assert_int_equal(posture_store_nonce_issue(f->store, "dev-p1", 10 * SEC, n), 0);
    assert_int_equal(sqlite_cli(f->path, "SELECT count(*) FROM nonces;", &out), 0);
    assert_string_equal(out, "2\n");
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-p0", keep, sizeof(keep)), 0);
}

static void test_nonces_per_device(void **state)
{
    struct fixture *f = *state;
    uint8_t n[20][POSTURE_STORE_NONCE_SIZE], other[POSTURE_STORE_NONCE_SIZE];

    add_device(f->store, "dev-loop");
    add_device(f->store, "dev-calm");
    assert_int_equal(posture_store_nonce_issue(f->store, "dev-calm", 60 * SEC, other), 0);
    for (int i = 0; i < 20; i++) {
        atomic_store(&fake_now, T0 + (uint64_t) i);
        assert_int_equal(posture_store_nonce_issue(f->store, "dev-loop", 60 * SEC, n[i]), 0);
    }
    /* the 4 oldest are gone, the newest 16 work, another device's nonce is untouched */
    for (int i = 0; i < 20; i++)
        assert_int_equal(posture_store_nonce_consume(f->store, "dev-loop", n[i], sizeof(n[i])),
                         i < 20 - POSTURE_STORE_NONCES_PER_DEVICE ? -ENOENT : 0);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev-calm", other, sizeof(other)), 0);

    /* same instant for all (ties on issued_at): the one just issued always survives */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(posture_store_nonce_issue(f->store, "dev-loop", 60 * SEC, n[i]), 0);
        assert_int_equal(posture_store_nonce_consume(f->store, "dev-loop", n[i], sizeof(n[i])), 0);
    }
}

/* ---- appraisals and clock state ---------------------------------------------------------- */

static void test_appraisals(void **state)
{
    struct fixture *f = *state;
    struct posture_store_appraisal a = { .device_id = "dev-a",
                                         .seq = 7,
                                         .received_at = T0,
                                         .verdict = POSTURE_STORE_VERDICT_WARNING,
                                         .ear = "eyJ.eyJ.sig",
                                         .policy_id = "payments-admin",
                                         .policy_version = "2026-11-01",
                                         .reason = "disk.encryption failing" };
    struct posture_store_appraisal got;

    memset(a.policy_digest, 0x7d, 32);
    assert_int_equal(posture_store_appraisal_record(f->store, &a), -ENOENT);
    add_device(f->store, "dev-a");
    assert_int_equal(posture_store_appraisal_latest(f->store, "dev-a", &got), -ENOENT);
    assert_int_equal(posture_store_appraisal_record(f->store, &a), 0);
    assert_int_equal(posture_store_appraisal_record(f->store, &a), -EEXIST);
    a.received_at = T0 + SEC;
    a.verdict = POSTURE_STORE_VERDICT_CONTRAINDICATED;
    assert_int_equal(posture_store_appraisal_record(f->store, &a), -EEXIST);

    a.seq = 8;
    a.ear = "second";
    assert_int_equal(posture_store_appraisal_record(f->store, &a), 0);
    /* a late, older report (seq 6, received after seq 8: spooled during an outage) is
     * recorded but is not the latest: the highest seq is */
    a.seq = 6;
    a.received_at = T0 + 2 * SEC;
    a.ear = "older";
    assert_int_equal(posture_store_appraisal_record(f->store, &a), 0);

    assert_int_equal(posture_store_appraisal_latest(f->store, "dev-a", &got), 0);
    assert_string_equal(got.device_id, "dev-a");
    assert_int_equal(got.seq, 8);
    assert_int_equal(got.received_at, T0 + SEC);
    assert_int_equal(got.verdict, POSTURE_STORE_VERDICT_CONTRAINDICATED);
    assert_string_equal(got.ear, "second");
    assert_string_equal(got.policy_id, "payments-admin");
    assert_string_equal(got.policy_version, "2026-11-01");
    assert_memory_equal(got.policy_digest, a.policy_digest, 32);
    assert_string_equal(got.reason, "disk.encryption failing");
    posture_store_appraisal_done(&got);
    assert_null(got.ear);

    a.seq = (uint64_t) INT64_MAX + 1;
    assert_int_equal(posture_store_appraisal_record(f->store, &a), -EINVAL);
    a.seq = 9;
    a.verdict = POSTURE_STORE_VERDICT__MAX;
    assert_int_equal(posture_store_appraisal_record(f->store, &a), -EINVAL);
    a.verdict = POSTURE_STORE_VERDICT_NONE;
    a.ear = NULL;
    assert_int_equal(posture_store_appraisal_record(f->store, &a), -EINVAL);

    assert_string_equal(posture_store_verdict_to_string(POSTURE_STORE_VERDICT_AFFIRMING),
                        "affirming");
    assert_int_equal(posture_store_verdict_from_string("contraindicated"),
                     POSTURE_STORE_VERDICT_CONTRAINDICATED);
    assert_int_equal(posture_store_verdict_from_string("pass"), POSTURE_STORE_VERDICT__INVALID);
}

struct latest_list {
    int n;
    char ids[4][POSTURE_STORE_DEVICE_ID_MAX + 1];
    uint64_t seqs[4];
};

static int collect_latest(const struct posture_store_appraisal *a, void *userdata)
{
    struct latest_list *l = userdata;

    assert_true(l->n < 4);
    assert_non_null(a->ear);
    (void) snprintf(l->ids[l->n], sizeof(l->ids[l->n]), "%s", a->device_id);
    l->seqs[l->n] = a->seq;
    l->n++;
    return 0;
}

static void record(struct posture_store *s, const char *id, uint64_t seq, uint64_t at)
{
    struct posture_store_appraisal a = { .seq = seq,
                                         .received_at = at,
                                         .verdict = POSTURE_STORE_VERDICT_AFFIRMING,
                                         .ear = "h.p.s",
                                         .policy_id = "baseline",
                                         .policy_version = "1" };

    (void) snprintf(a.device_id, sizeof(a.device_id), "%s", id);
    assert_int_equal(posture_store_appraisal_record(s, &a), 0);
}

static void test_appraisal_latest_and_prune(void **state)
{
    struct fixture *f = *state;
    struct latest_list l = { 0 };
    struct posture_store_appraisal a = { .device_id = "dev-1",
                                         .received_at = T0,
                                         .ear = "x",
                                         .policy_id = "baseline",
                                         .policy_version = "1" };
    struct posture_store_appraisal got;
    posture_autofree char *out = NULL;

    add_device(f->store, "dev-1");
    add_device(f->store, "dev-2");
    add_device(f->store, "dev-3"); /* no appraisal */
    add_device(f->store, "dev-4"); /* revoked: not in the view */
    for (uint64_t i = 1; i <= 5; i++)
        record(f->store, "dev-1", i, T0 + i * SEC);
    record(f->store, "dev-2", 40, T0 + 1 * SEC);
    record(f->store, "dev-4", 1, T0 + 1 * SEC);
    assert_int_equal(posture_store_device_revoke(f->store, "dev-4"), 0);

    assert_int_equal(posture_store_appraisal_foreach_latest(f->store, collect_latest, &l), 2);
    assert_string_equal(l.ids[0], "dev-1");
    assert_int_equal(l.seqs[0], 5);
    assert_string_equal(l.ids[1], "dev-2");
    assert_int_equal(l.seqs[1], 40);
    assert_int_equal(posture_store_appraisal_foreach_latest(f->store, NULL, NULL), -EINVAL);

    /* retention: before T0+4s goes, except each device's latest (dev-2's only row) */
    assert_int_equal(posture_store_appraisal_prune(f->store, T0 + 4 * SEC), 3);
    assert_int_equal(sqlite_cli(f->path, "SELECT group_concat(seq) FROM appraisals;", &out), 0);
    assert_string_equal(out, "4,5,40,1\n");
    assert_int_equal(posture_store_appraisal_latest(f->store, "dev-2", &got), 0);
    assert_int_equal(got.seq, 40);
    posture_store_appraisal_done(&got);
    assert_int_equal(posture_store_appraisal_prune(f->store, T0 + 4 * SEC), 0);

    /* de-duplication remembers what was pruned: seq 1..3 of dev-1 stay refused */
    for (uint64_t seq = 1; seq <= 5; seq++) {
        a.seq = seq;
        assert_int_equal(posture_store_appraisal_record(f->store, &a), -EEXIST);
    }
    a.seq = 6;
    assert_int_equal(posture_store_appraisal_record(f->store, &a), 0);
    /* dev-2 lost nothing, so its floor did not move */
    (void) snprintf(a.device_id, sizeof(a.device_id), "dev-2");
    a.seq = 39;
    assert_int_equal(posture_store_appraisal_record(f->store, &a), 0);
    assert_int_equal(posture_store_appraisal_prune(f->store, (uint64_t) INT64_MAX + 1), -EINVAL);
}

static void test_clockinfo(void **state)
{
    struct fixture *f = *state;
    struct posture_store_clockinfo a = { .clock = UINT64_MAX - 5, .reset_count = 3 };
    struct posture_store_clockinfo b = { .clock = 100, .reset_count = 4, .restart_count = 1 };
    struct posture_store_clockinfo got;

    assert_int_equal(posture_store_clockinfo_update(f->store, "dev-c", NULL, &a), -ENOENT);
    add_device(f->store, "dev-c");
    assert_int_equal(posture_store_clockinfo_get(f->store, "dev-c", &got), -ENOENT);
    assert_int_equal(posture_store_clockinfo_update(f->store, "dev-c", &a, &a), -ESTALE);
    assert_int_equal(posture_store_clockinfo_update(f->store, "dev-c", NULL, &a), 0);
    assert_int_equal(posture_store_clockinfo_get(f->store, "dev-c", &got), 0);
    assert_true(got.clock == a.clock);
    assert_int_equal(got.reset_count, 3);
    assert_int_equal(got.restart_count, 0);
    /* compare-and-set: a stale expectation loses */
    assert_int_equal(posture_store_clockinfo_update(f->store, "dev-c", NULL, &b), -ESTALE);
    assert_int_equal(posture_store_clockinfo_update(f->store, "dev-c", &b, &b), -ESTALE);
    assert_int_equal(posture_store_clockinfo_update(f->store, "dev-c", &a, &b), 0);
    assert_int_equal(posture_store_clockinfo_get(f->store, "dev-c", &got), 0);
    assert_int_equal(got.clock, 100);
    assert_int_equal(got.reset_count, 4);
    assert_int_equal(got.restart_count, 1);
}

static void test_record_with_clock(void **state)
{
    struct fixture *f = *state;
    struct posture_store_appraisal a = { .device_id = "dev-rc",
                                         .seq = 1,
                                         .received_at = T0,
                                         .verdict = POSTURE_STORE_VERDICT_AFFIRMING,
                                         .ear = "h.p.s",
                                         .policy_id = "baseline",
                                         .policy_version = "1" };
    struct posture_store_clockinfo c1 = { .clock = 1000, .reset_count = 2, .restart_count = 0 };
    struct posture_store_clockinfo c2 = { .clock = 2000, .reset_count = 2, .restart_count = 0 };
    struct posture_store_clockinfo got;
    struct posture_store_appraisal latest;

    assert_int_equal(posture_store_appraisal_record_with_clock(f->store, &a, NULL, &c1), -ENOENT);
    add_device(f->store, "dev-rc");
    assert_int_equal(posture_store_appraisal_record_with_clock(f->store, &a, NULL, &c1), 0);
    assert_int_equal(posture_store_clockinfo_get(f->store, "dev-rc", &got), 0);
    assert_int_equal(got.clock, 1000);

    /* a stale expectation: neither the appraisal nor the clock changes */
    a.seq = 2;
    assert_int_equal(posture_store_appraisal_record_with_clock(f->store, &a, NULL, &c2), -ESTALE);
    assert_int_equal(posture_store_appraisal_record_with_clock(f->store, &a, &c2, &c2), -ESTALE);
    assert_int_equal(posture_store_appraisal_latest(f->store, "dev-rc", &latest), 0);
    assert_int_equal(latest.seq, 1);
    posture_store_appraisal_done(&latest);
    assert_int_equal(posture_store_clockinfo_get(f->store, "dev-rc", &got), 0);
    assert_int_equal(got.clock, 1000);

    /* a duplicate seq: the clock does not move either */
    a.seq = 1;
    assert_int_equal(posture_store_appraisal_record_with_clock(f->store, &a, &c1, &c2), -EEXIST);
    assert_int_equal(posture_store_clockinfo_get(f->store, "dev-rc", &got), 0);
    assert_int_equal(got.clock, 1000);

    a.seq = 2;
    assert_int_equal(posture_store_appraisal_record_with_clock(f->store, &a, &c1, &c2), 0);
    assert_int_equal(posture_store_clockinfo_get(f->store, "dev-rc", &got), 0);
    assert_int_equal(got.clock, 2000);
    assert_int_equal(posture_store_appraisal_record_with_clock(f->store, &a, &c1, NULL), -EINVAL);
}

/* ---- audit ------------------------------------------------------------------------------- */

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t) (v & 0xff);
}

/* The documented row hash, written independently of the store's code. */
static void expected_hash(const uint8_t prev[32],
                          uint64_t seq,
                          uint64_t at,
                          const char *kind,
                          const char *subject,
                          const char *detail,
                          uint8_t out[32])
{
    const char *fields[3] = { kind, subject, detail };
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t b[16];
    unsigned len = 0;

    assert_non_null(ctx);
    assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    assert_int_equal(EVP_DigestUpdate(ctx, prev, 32), 1);
    put_be(b, seq, 8);
    put_be(b + 8, at, 8);
    assert_int_equal(EVP_DigestUpdate(ctx, b, 16), 1);
    for (int i = 0; i < 3; i++) {
        put_be(b, strlen(fields[i]), 4);
        assert_int_equal(EVP_DigestUpdate(ctx, b, 4), 1);
        assert_int_equal(EVP_DigestUpdate(ctx, fields[i], strlen(fields[i])), 1);
    }
    assert_int_equal(EVP_DigestFinal_ex(ctx, out, &len), 1);
    assert_int_equal(len, 32);
    EVP_MD_CTX_free(ctx);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0xf];
    }
    out[2 * n] = '\0';
}

static void append_rows(struct posture_store *s, int n)
{
    char detail[64];

    for (int i = 1; i <= n; i++) {
        uint64_t seq = 0;

        (void) snprintf(detail, sizeof(detail), "{\"row\":%d}", i);
        atomic_store(&fake_now, T0 + (uint64_t) i * SEC);
        assert_int_equal(
            posture_store_audit_append(s, "decision", i % 2 ? "dev-x" : "", detail, &seq), 0);
        assert_int_equal(seq, (uint64_t) i);
    }
}

static void test_audit_chain(void **state)
{
    struct fixture *f = *state;
    struct posture_store_audit_result res;
    uint8_t zero[32] = { 0 }, h1[32], h2[32];
    char want[80];
    posture_autofree char *out = NULL;

    assert_int_equal(posture_store_audit_verify(f->store, &res), 0);
    assert_int_equal(res.rows, 0);
    assert_int_equal(res.first_bad_seq, 0);
    assert_memory_equal(res.head, zero, 32);

    append_rows(f->store, 5);
    assert_int_equal(posture_store_audit_verify(f->store, &res), 0);
    assert_int_equal(res.rows, 5);
    assert_int_equal(res.first_bad_seq, 0);

    /* rows 1 and 2 as the documentation defines them, read with the CLI */
    expected_hash(zero, 1, T0 + SEC, "decision", "dev-x", "{\"row\":1}", h1);
    expected_hash(h1, 2, T0 + 2 * SEC, "decision", "", "{\"row\":2}", h2);
    hex(h2, 32, want);
    (void) strncat(want, "\n", sizeof(want) - strlen(want) - 1);
    assert_int_equal(sqlite_cli(f->path, "SELECT hex(hash) FROM audit WHERE seq = 2;", &out), 0);
    assert_string_equal(out, want);

    /* append-only inside SQLite too: an UPDATE or a DELETE fails while the triggers are there */
    assert_int_not_equal(sqlite_cli(f->path, "UPDATE audit SET detail = 'x' WHERE seq = 3;", NULL),
                         0);
    assert_int_not_equal(sqlite_cli(f->path, "DELETE FROM audit WHERE seq = 5;", NULL), 0);
    assert_int_equal(posture_store_audit_verify(f->store, &res), 0);
    assert_int_equal(res.first_bad_seq, 0);
    assert_int_equal(posture_store_audit_append(f->store, "Bad Kind", "", "", NULL), -EINVAL);
    assert_int_equal(posture_store_audit_append(f->store, "x", "sp ace", "", NULL), -EINVAL);
}

static void test_audit_tamper_detected(void **state)
{
    static const struct {
        const char *sql;
        uint64_t first_bad;
        uint64_t good_rows;
    } cases[] = {
        /* an edited detail breaks its own row */
        { "UPDATE audit SET detail = '{\"row\":33}' WHERE seq = 3;", 3, 2 },
        /* a replaced hash fails its own row */
        { "UPDATE audit SET hash = zeroblob(32) WHERE seq = 4;", 4, 3 },
        { "UPDATE audit SET at = at + 1 WHERE seq = 2;", 2, 1 },
        { "UPDATE audit SET kind = 'enroll' WHERE seq = 5;", 5, 4 },
        { "UPDATE audit SET subject = 'dev-y' WHERE seq = 1;", 1, 0 },
        /* a stored link that disagrees with the chain */
        { "UPDATE audit SET prev_hash = zeroblob(32) WHERE seq = 3;", 3, 2 },
        /* a deleted row leaves a gap */
        { "DELETE FROM audit WHERE seq = 2;", 3, 1 },
        /* a type change that prints the same */
        { "UPDATE audit SET detail = CAST(detail AS BLOB) WHERE seq = 4;", 4, 3 },
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        char sql[512], p[4200];
        struct posture_store_audit_result res;
        struct posture_store *s;

        (void) snprintf(p, sizeof(p), "%s/audit-%zu.db", f->dir, i);
        s = open_store(p, 1);
        append_rows(s, 5);
        (void) snprintf(sql, sizeof(sql),
                        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; %s",
                        cases[i].sql);
        /* another process changes the file while the store has it open */
        assert_int_equal(sqlite_cli(p, sql, NULL), 0);
        assert_int_equal(posture_store_audit_verify(s, &res), 0);
        assert_int_equal(res.first_bad_seq, cases[i].first_bad);
        assert_int_equal(res.rows, cases[i].good_rows);
        posture_store_free(s);
    }
}

/* Row 4 edited and its hash recomputed the documented way: row 4 itself checks out, and the
 * chain breaks at row 5, whose hash covers the old one. */
static void test_audit_rehashed_row(void **state)
{
    struct fixture *f = *state;
    struct posture_store_audit_result res;
    uint8_t h[5][32], zero[32] = { 0 };
    char sql[512], hx[65], detail[32];

    append_rows(f->store, 5);
    for (int i = 0; i < 4; i++) {
        (void) snprintf(detail, sizeof(detail), "{\"row\":%d}", i + 1);
        expected_hash(i == 0 ? zero : h[i - 1], (uint64_t) i + 1, T0 + (uint64_t) (i + 1) * SEC,
                      "decision", i % 2 == 0 ? "dev-x" : "", i == 3 ? "{\"row\":44}" : detail,
                      h[i]);
    }
    hex(h[3], 32, hx);
    (void) snprintf(sql, sizeof(sql),
                    "DROP TRIGGER audit_no_update; UPDATE audit SET detail = '{\"row\":44}', "
                    "hash = X'%s' WHERE seq = 4;",
                    hx);
    assert_int_equal(sqlite_cli(f->path, sql, NULL), 0);
    assert_int_equal(posture_store_audit_verify(f->store, &res), 0);
    assert_int_equal(res.first_bad_seq, 5);
    assert_int_equal(res.rows, 4);
    assert_memory_equal(res.head, h[3], 32);
}

static void test_audit_batch(void **state)
{
    struct fixture *f = *state;
    struct posture_store_audit_entry e[300];
    struct posture_store_audit_result res;
    char details[300][32];
    uint64_t last = 0;

    for (size_t i = 0; i < 300; i++) {
        (void) snprintf(details[i], sizeof(details[i]), "{\"decision\":%zu}", i);
        e[i] = (struct posture_store_audit_entry){ .kind = "decision",
                                                   .subject = i % 3 ? "dev-b" : NULL,
                                                   .detail = details[i] };
    }
    assert_int_equal(posture_store_audit_append(f->store, "start", NULL, NULL, &last), 0);
    assert_int_equal(last, 1);
    assert_int_equal(posture_store_audit_append_many(f->store, e, 300, &last), 0);
    assert_int_equal(last, 301);

    /* all or none: one bad entry refuses the batch */
    e[150].kind = "Not Valid";
    assert_int_equal(posture_store_audit_append_many(f->store, e, 300, &last), -EINVAL);
    e[150].kind = "decision";
    e[7].subject = "bad subject";
    assert_int_equal(posture_store_audit_append_many(f->store, e, 10, &last), -EINVAL);
    assert_int_equal(posture_store_audit_append_many(f->store, e, 0, &last), -EINVAL);
    assert_int_equal(
        posture_store_audit_append_many(f->store, e, POSTURE_STORE_AUDIT_BATCH_MAX + 1, &last),
        -EINVAL);
    assert_int_equal(last, 301);

    assert_int_equal(posture_store_audit_verify(f->store, &res), 0);
    assert_int_equal(res.rows, 301);
    assert_int_equal(res.first_bad_seq, 0);
}

static int count_any_device(const struct posture_store_device *d, void *userdata)
{
    (void) d;
    (void) userdata;
    return 0;
}

/* A store whose pages are overwritten: errors, never a crash. from_page 1 keeps the header and
 * the schema, so open fails; a later from_page leaves the schema and wrecks the data. */
static void corrupt_pages(struct fixture *f, bool keep_schema)
{
    struct posture_store_options opts = { .clock = fake_clock, .pool_size = 1 };
    struct posture_store_audit_result res = { 0 };
    struct posture_store *s = NULL;
    uint8_t junk[4096];
    struct stat st;
    off_t from;
    char id[32];
    int r, r2, fd;

    for (int i = 0; i < 300; i++) {
        (void) snprintf(id, sizeof(id), "dev-%03d", i);
        add_device(f->store, id);
    }
    append_rows(f->store, 100);
    f->store = posture_store_free(f->store); /* checkpoints the WAL into the file */
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(st.st_size > (off_t) 16 * 4096);

    memset(junk, 0xa5, sizeof(junk));
    fd = open(f->path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    from = keep_schema ? st.st_size - (off_t) 6 * 4096 : 4096;
    for (off_t off = from; off + 4096 <= st.st_size; off += 4096)
        assert_int_equal(pwrite(fd, junk, sizeof(junk), off), (ssize_t) sizeof(junk));
    assert_int_equal(close(fd), 0);

    r = posture_store_open(f->path, &opts, &s);
    if (!keep_schema) {
        assert_int_equal(r, -EBADMSG);
        assert_null(s);
        return;
    }
    assert_int_equal(r, 0);
    /* walking all devices and the whole audit log reaches a wrecked page */
    r = posture_store_device_foreach(s, count_any_device, NULL);
    r2 = posture_store_audit_verify(s, &res);
    assert_true(r == -EBADMSG || r2 == -EBADMSG || (r2 == 0 && res.first_bad_seq != 0));
    assert_true(r == -EBADMSG || r == 300);
    posture_store_free(s);
}

static void test_corrupt_schema_pages(void **state)
{
    corrupt_pages(*state, false);
}

static void test_corrupt_data_pages(void **state)
{
    corrupt_pages(*state, true);
}

struct mixed {
    struct posture_store *stores[2];
    pthread_barrier_t barrier;
    _Atomic int failures;
};

struct mixed_arg {
    struct mixed *m;
    int index;
};

/* Each thread: its own device, nonces, appraisals, clock updates and audit rows, all at once. */
static void *mixed_thread(void *p)
{
    struct mixed_arg *arg = p;
    struct posture_store *s = arg->m->stores[arg->index % 2];
    struct posture_store_appraisal a = { .verdict = POSTURE_STORE_VERDICT_AFFIRMING,
                                         .ear = "h.p.s",
                                         .policy_id = "baseline",
                                         .policy_version = "1" };
    struct posture_store_clockinfo prev = { 0 }, next;
    uint8_t nonce[POSTURE_STORE_NONCE_SIZE];
    int bad = 0;

    (void) snprintf(a.device_id, sizeof(a.device_id), "dev-mixed-%d", arg->index);
    (void) pthread_barrier_wait(&arg->m->barrier);
    for (int i = 1; i <= 40; i++) {
        bad += posture_store_nonce_issue(s, a.device_id, 60 * SEC, nonce) != 0;
        bad += posture_store_nonce_consume(s, a.device_id, nonce, sizeof(nonce)) != 0;
        a.seq = (uint64_t) i;
        a.received_at = T0 + (uint64_t) i;
        bad += posture_store_appraisal_record(s, &a) != 0;
        next = (struct posture_store_clockinfo){ .clock = (uint64_t) i * 1000, .reset_count = 1 };
        bad += posture_store_clockinfo_update(s, a.device_id, i == 1 ? NULL : &prev, &next) != 0;
        prev = next;
        bad += posture_store_audit_append(s, "decision", a.device_id, "{}", NULL) != 0;
    }
    atomic_fetch_add(&arg->m->failures, bad);
    return NULL;
}

static void test_mixed_concurrency(void **state)
{
    struct fixture *f = *state;
    struct mixed m = { .stores = { f->store, open_store(f->path, 3) } };
    struct posture_store_audit_result res;
    struct posture_store_appraisal got;
    struct mixed_arg args[N_THREADS];
    pthread_t t[N_THREADS];
    char id[32];

    for (int i = 0; i < N_THREADS; i++) {
        (void) snprintf(id, sizeof(id), "dev-mixed-%d", i);
        add_device(f->store, id);
    }
    assert_int_equal(pthread_barrier_init(&m.barrier, NULL, N_THREADS), 0);
    for (int i = 0; i < N_THREADS; i++) {
        args[i] = (struct mixed_arg){ .m = &m, .index = i };
        assert_int_equal(pthread_create(&t[i], NULL, mixed_thread, &args[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    (void) pthread_barrier_destroy(&m.barrier);
    assert_int_equal(atomic_load(&m.failures), 0);

    /* one chain without forks or gaps, whichever object appended */
    assert_int_equal(posture_store_audit_verify(m.stores[1], &res), 0);
    assert_int_equal(res.rows, N_THREADS * 40);
    assert_int_equal(res.first_bad_seq, 0);
    assert_int_equal(posture_store_appraisal_latest(f->store, "dev-mixed-3", &got), 0);
    assert_int_equal(got.seq, 40);
    posture_store_appraisal_done(&got);
    posture_store_free(m.stores[1]);
}

struct opener {
    const char *path;
    pthread_barrier_t *barrier;
    int result;
};

static void *open_thread(void *p)
{
    struct opener *o = p;
    struct posture_store_options opts = { .clock = fake_clock, .pool_size = 2 };
    struct posture_store *s = NULL;

    (void) pthread_barrier_wait(o->barrier);
    o->result = posture_store_open(o->path, &opts, &s);
    if (o->result == 0) {
        o->result = posture_store_schema_version(s) == 3 ? 0 : -EPROTO;
        posture_store_free(s);
    }
    return NULL;
}

/* Many openers of a new file at once: one creates the schema, none fails or migrates twice. */
static void test_concurrent_first_open(void **state)
{
    struct fixture *f = *state;
    struct opener o[N_THREADS];
    pthread_barrier_t barrier;
    pthread_t t[N_THREADS];
    posture_autofree char *out = NULL;
    char p[4200];

    (void) snprintf(p, sizeof(p), "%s/fresh.db", f->dir);
    assert_int_equal(pthread_barrier_init(&barrier, NULL, N_THREADS), 0);
    for (int i = 0; i < N_THREADS; i++) {
        o[i] = (struct opener){ .path = p, .barrier = &barrier, .result = -EIO };
        assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(o[i].result, 0);
    }
    (void) pthread_barrier_destroy(&barrier);
    assert_int_equal(sqlite_cli(p, "SELECT count(*) FROM schema_version;", &out), 0);
    assert_string_equal(out, "1\n");
}

/* Another process holds the write lock: writers give up with -EBUSY after the busy timeout,
 * readers go on (WAL). */
static void test_busy(void **state)
{
    struct fixture *f = *state;
    struct posture_store_options opts = { .clock = fake_clock, .busy_timeout_ms = 50 };
    struct posture_store_device d;
    struct posture_store *s = NULL;
    sqlite3 *db = NULL;

    add_device(f->store, "dev-busy");
    assert_int_equal(posture_store_open(f->path, &opts, &s), 0);
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    assert_int_equal(posture_store_audit_append(s, "x", NULL, NULL, NULL), -EBUSY);
    assert_int_equal(posture_store_device_revoke(s, "dev-busy"), -EBUSY);
    assert_int_equal(posture_store_device_get(s, "dev-busy", &d), 0);
    assert_int_equal(d.status, POSTURE_STORE_DEVICE_ACTIVE);
    posture_store_device_done(&d);

    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(posture_store_audit_append(s, "x", NULL, NULL, NULL), 0);
    posture_store_free(s);
}

static void test_bad_arguments(void **state)
{
    struct fixture *f = *state;
    uint8_t b[32] = { 0 };

    posture_store_free(NULL);
    assert_int_equal(posture_store_token_foreach(f->store, NULL, NULL), -EINVAL);
    assert_int_equal(posture_store_device_foreach(f->store, NULL, NULL), -EINVAL);
    assert_int_equal(posture_store_audit_verify(f->store, NULL), -EINVAL);
    assert_int_equal(posture_store_audit_append(NULL, "x", NULL, NULL, NULL), -EINVAL);
    assert_int_equal(posture_store_nonce_consume(f->store, "dev", NULL, 32), -EINVAL);
    assert_int_equal(posture_store_clockinfo_update(f->store, "dev", NULL, NULL), -EINVAL);
    assert_int_equal(posture_store_activation_create(f->store, "d", b, NULL, 1, NULL, 0, SEC),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_file_modes_and_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_bad_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_garbage_and_foreign, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_use_under_concurrency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_reenrol_after_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_activations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonce_issue_purges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonces_per_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appraisals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appraisal_latest_and_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clockinfo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_with_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_tamper_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_rehashed_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_schema_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_data_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mixed_concurrency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
