/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_store_device_foreach_revoked_since (verifier/lib/store.h): what a running serve polls
 * to learn of revocations made by another process. The order, the bound, re-enrolment, the
 * callback's error, bad arguments, the migration of a version-1 database (made with the
 * sqlite3 CLI) and the query plan (the partial index, as the sqlite3 CLI reports it).
 */

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/spawn.h"

#include "store.h"
#include "testlib.h"

#define SEC POSTURE_STORE_USEC_PER_SEC
#define T0  (UINT64_C(1764000000) * SEC)

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

static struct posture_store *open_store(const char *path)
{
    struct posture_store_options opts = { .clock = fake_clock, .pool_size = 2 };
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
    f->store = open_store(f->path);
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

static void add_device(struct posture_store *s, const char *id)
{
    struct posture_store_device d = { .tier = POSTURE_STORE_TIER_SOFTWARE };

    assert_true(snprintf(d.id, sizeof(d.id), "%s", id) < (int) sizeof(d.id));
    d.jwk = (char *) "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"BB\"}";
    assert_int_equal(posture_store_device_insert(s, &d), 0);
}

struct seen {
    char ids[8][POSTURE_STORE_DEVICE_ID_MAX + 1];
    uint64_t at[8];
    size_t n;
    int fail_at; /* return -EPIPE on this call (1-based); 0: never */
};

static int collect(const char *device_id, uint64_t revoked_at, void *userdata)
{
    struct seen *s = userdata;

    assert_non_null(device_id);
    if (s->fail_at > 0 && (size_t) s->fail_at == s->n + 1)
        return -EPIPE;
    assert_true(s->n < 8);
    (void) snprintf(s->ids[s->n], sizeof(s->ids[s->n]), "%s", device_id);
    s->at[s->n] = revoked_at;
    s->n++;
    return 0;
}

static void test_revoked_since(void **state)
{
    struct fixture *f = *state;
    struct seen s = { 0 };

    add_device(f->store, "dev-a");
    add_device(f->store, "dev-b");
    add_device(f->store, "dev-c");
    add_device(f->store, "dev-active");

    /* nothing revoked yet */
    assert_int_equal(posture_store_device_foreach_revoked_since(f->store, 0, collect, &s), 0);
    assert_int_equal(s.n, 0);

    /* revoked out of id order: visited by revocation time */
    atomic_store(&fake_now, T0 + 10 * SEC);
    assert_int_equal(posture_store_device_revoke(f->store, "dev-c"), 0);
    atomic_store(&fake_now, T0 + 20 * SEC);
    assert_int_equal(posture_store_device_revoke(f->store, "dev-a"), 0);
    atomic_store(&fake_now, T0 + 30 * SEC);
    assert_int_equal(posture_store_device_revoke(f->store, "dev-b"), 0);

    assert_int_equal(posture_store_device_foreach_revoked_since(f->store, 0, collect, &s), 3);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ids[0], "dev-c");
    assert_int_equal(s.at[0], T0 + 10 * SEC);
    assert_string_equal(s.ids[1], "dev-a");
    assert_string_equal(s.ids[2], "dev-b");
    assert_int_equal(s.at[2], T0 + 30 * SEC);

    /* the bound is inclusive: a revocation at exactly `since` is visited */
    s = (struct seen){ 0 };
    assert_int_equal(
        posture_store_device_foreach_revoked_since(f->store, T0 + 20 * SEC, collect, &s), 2);
    assert_string_equal(s.ids[0], "dev-a");
    assert_string_equal(s.ids[1], "dev-b");
    s = (struct seen){ 0 };
    assert_int_equal(
        posture_store_device_foreach_revoked_since(f->store, T0 + 30 * SEC + 1, collect, &s), 0);
    assert_int_equal(s.n, 0);

    /* a device enrolled again is active: no longer visited */
    atomic_store(&fake_now, T0 + 40 * SEC);
    add_device(f->store, "dev-a");
    s = (struct seen){ 0 };
    assert_int_equal(posture_store_device_foreach_revoked_since(f->store, 0, collect, &s), 2);
    assert_string_equal(s.ids[0], "dev-c");
    assert_string_equal(s.ids[1], "dev-b");

    /* the callback's error stops the walk and is returned */
    s = (struct seen){ .fail_at = 2 };
    assert_int_equal(posture_store_device_foreach_revoked_since(f->store, 0, collect, &s), -EPIPE);
    assert_int_equal(s.n, 1);

    /* another process's revocation (a second store object on the same file) is seen */
    {
        struct posture_store *other = open_store(f->path);

        atomic_store(&fake_now, T0 + 50 * SEC);
        assert_int_equal(posture_store_device_revoke(other, "dev-active"), 0);
        posture_store_free(other);
    }
    s = (struct seen){ 0 };
    assert_int_equal(
        posture_store_device_foreach_revoked_since(f->store, T0 + 45 * SEC, collect, &s), 1);
    assert_string_equal(s.ids[0], "dev-active");
    assert_int_equal(s.at[0], T0 + 50 * SEC);
}

static void test_revoked_since_uses_the_index(void **state)
{
    struct fixture *f = *state;
    char *out = NULL;

    assert_int_equal(sqlite_cli(f->path,
                                "EXPLAIN QUERY PLAN SELECT id, revoked_at FROM devices WHERE "
                                "status = 1 AND revoked_at >= 5 ORDER BY revoked_at, id;",
                                &out),
                     0);
    assert_non_null(out);
    assert_non_null(strstr(out, "devices_revoked"));
    free(out);
    out = NULL;
    assert_int_equal(sqlite_cli(f->path, "SELECT version >= 2 FROM schema_version;", &out), 0);
    assert_string_equal(out, "1\n");
    free(out);
}

/* The objects of schema version 1 (migration 0): everything else came with a later one. */
static const char v1_objects[] =
    "'schema_version','tokens','devices','activations','nonces','appraisals','clockinfo',"
    "'audit','devices_ak_name','devices_ek_public','devices_ek_cert','activations_expiry',"
    "'nonces_expiry','nonces_device','appraisals_latest','audit_no_update','audit_no_delete'";

/* Turn the store at path into a version-1 store: drop what the later migrations made (whatever
 * they are; indexes and triggers before tables). */
static void make_version_1(const char *path)
{
    char sql[1024], *out = NULL, *line, *nl;

    (void) snprintf(sql, sizeof(sql),
                    "SELECT 'DROP ' || upper(type) || ' ' || name || ';' FROM sqlite_schema "
                    "WHERE name NOT IN (%s) AND name NOT LIKE 'sqlite_%%' "
                    "ORDER BY type = 'table';",
                    v1_objects);
    assert_int_equal(sqlite_cli(path, sql, &out), 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "DROP INDEX devices_revoked;"));
    for (line = out; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        assert_int_equal(sqlite_cli(path, line, NULL), 0);
    }
    free(out);
    assert_int_equal(sqlite_cli(path, "UPDATE schema_version SET version = 1;", NULL), 0);
}

/* A store made by the previous schema (version 1: no index) is migrated on open. */
static void test_migration_from_version_1(void **state)
{
    struct fixture *f = *state;
    struct seen s = { 0 };
    char *out = NULL;
    int latest = posture_store_schema_version(f->store);

    assert_true(latest >= 2);
    add_device(f->store, "old-dev");
    assert_int_equal(posture_store_device_revoke(f->store, "old-dev"), 0);
    f->store = posture_store_free(f->store);
    make_version_1(f->path);
    f->store = open_store(f->path);
    assert_int_equal(posture_store_schema_version(f->store), latest);
    assert_int_equal(sqlite_cli(f->path,
                                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND "
                                "name = 'devices_revoked';",
                                &out),
                     0);
    assert_string_equal(out, "1\n");
    free(out);
    assert_int_equal(posture_store_device_foreach_revoked_since(f->store, 0, collect, &s), 1);
    assert_string_equal(s.ids[0], "old-dev");
}

static void test_revoked_since_bad_arguments(void **state)
{
    struct fixture *f = *state;
    struct seen s = { 0 };

    assert_int_equal(posture_store_device_foreach_revoked_since(NULL, 0, collect, &s), -EINVAL);
    assert_int_equal(posture_store_device_foreach_revoked_since(f->store, 0, NULL, &s), -EINVAL);
    assert_int_equal(
        posture_store_device_foreach_revoked_since(f->store, (uint64_t) INT64_MAX + 1, collect, &s),
        -EINVAL);
    assert_int_equal(posture_store_device_foreach_revoked_since(f->store, UINT64_MAX, collect, &s),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_revoked_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked_since_uses_the_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_version_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked_since_bad_arguments, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
