/* SPDX-License-Identifier: Apache-2.0 */
/*
 * screen.lock: the GVDB reader on databases `dconf compile` made (and on every truncation and
 * byte flip of one), the committed databases against their keyfiles, and the check on the
 * fixture roots (tests/fixtures/roots/screen.lock/).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/result.h"
#include "posture/runner.h"
#include "posture/spawn.h"

#include "checktest.h"
#include "screen_lock/gvdb.h"

#define FIX "fixtures/roots/screen.lock/"

static char *slurp(const char *rel, size_t *ret_len)
{
    char *buf = NULL;
    int root = -1;
    assert_int_equal(posture_root_open("/", &root), 0);
    int r = posture_read_file_at(root, posture_test_path(rel), 1 << 20, &buf, ret_len);
    close(root);
    if (r < 0)
        fail_msg("%s: %s", rel, posture_errno_name(r));
    return buf;
}

/* ---- GVDB ---- */

static void test_gvdb_values(void **state)
{
    (void) state;
    size_t len;
    char *db = slurp(FIX "gnome-pass/home/alice/.config/dconf/user", &len);
    struct posture_gvdb_table t;
    bool b = false;
    uint32_t u = 7;
    char type[16] = "";

    assert_int_equal(posture_gvdb_open(db, len, &t), 0);
    assert_int_equal(posture_gvdb_get_u32(&t, "/org/gnome/desktop/session/idle-delay", &u, NULL, 0),
                     0);
    assert_int_equal(u, 600);
    assert_int_equal(
        posture_gvdb_get_u32(&t, "/org/gnome/desktop/screensaver/lock-delay", &u, NULL, 0), 0);
    assert_int_equal(u, 120);
    assert_int_equal(
        posture_gvdb_get_bool(&t, "/org/gnome/desktop/screensaver/lock-enabled", &b, NULL, 0), 0);
    assert_true(b);
    /* A string is not a boolean; directories and unknown keys are not values. */
    assert_int_equal(posture_gvdb_get_bool(&t, "/org/gnome/desktop/screensaver/picture-uri", &b,
                                           type, sizeof(type)),
                     -EMEDIUMTYPE);
    assert_string_equal(type, "s");
    assert_int_equal(posture_gvdb_get_u32(&t, "/org/gnome/desktop/screensaver/", &u, NULL, 0),
                     -EMEDIUMTYPE);
    assert_int_equal(posture_gvdb_get_u32(&t, "/org/gnome/desktop/session/idle", &u, NULL, 0),
                     -ENOENT);
    assert_int_equal(posture_gvdb_get_u32(&t, "org/gnome/desktop/session/idle-delay", &u, NULL, 0),
                     -ENOENT);
    assert_int_equal(posture_gvdb_get_u32(&t, "", &u, NULL, 0), -ENOENT);
    assert_int_equal(posture_gvdb_has_key(&t, "/org/gnome/desktop/interface/color-scheme"), 1);
    assert_int_equal(posture_gvdb_has_key(&t, "/org/gnome/desktop/interface/color"), 0);
    assert_int_equal(u, 120); /* failures leave the output alone */
    struct posture_gvdb_table locks;
    assert_int_equal(posture_gvdb_get_table(&t, ".locks", &locks), -ENOENT);
    assert_int_equal(posture_gvdb_get_table(&t, "/org/gnome/desktop/session/idle-delay", &locks),
                     -EMEDIUMTYPE);
    free(db);

    /* A system database with locks. */
    db = slurp(FIX "gnome-system-locked/etc/dconf/db/local", &len);
    assert_int_equal(posture_gvdb_open(db, len, &t), 0);
    assert_int_equal(posture_gvdb_get_table(&t, ".locks", &locks), 0);
    assert_int_equal(posture_gvdb_has_key(&locks, "/org/gnome/desktop/screensaver/lock-enabled"),
                     1);
    assert_int_equal(posture_gvdb_has_key(&locks, "/org/gnome/desktop/session/idle-delay"), 1);
    assert_int_equal(posture_gvdb_has_key(&locks, "/org/gnome/desktop/screensaver/lock-delay"), 0);
    free(db);

    assert_int_equal(posture_gvdb_open(NULL, 0, &t), -EINVAL);
    assert_int_equal(posture_gvdb_open("GVariant", 8, &t), -EBADMSG);
    assert_int_equal(posture_gvdb_open("not a gvdb file, no no no", 25, &t), -EBADMSG);
    static const char v1[24] = "GVariant\x01";
    assert_int_equal(posture_gvdb_open(v1, sizeof(v1), &t), -EBADMSG); /* version 1 */
    size_t clen;
    char *corrupt = slurp(FIX "gnome-corrupt/home/alice/.config/dconf/user", &clen);
    assert_int_equal(posture_gvdb_open(corrupt, clen, &t), -EBADMSG);
    free(corrupt);
}

/* Every prefix of a database and every single-byte change of it: an answer or an error, never a
 * crash or a read outside the buffer (ASan watches). */
static void test_gvdb_mutations(void **state)
{
    (void) state;
    size_t len;
    char *db = slurp(FIX "gnome-system-locked/etc/dconf/db/local", &len);
    static const char *const keys[] = {
        "/org/gnome/desktop/screensaver/lock-enabled",
        "/org/gnome/desktop/session/idle-delay",
        "/org/gnome/desktop/screensaver/lock-delay",
    };
    unsigned opened = 0, answered = 0;

    for (size_t cut = 0; cut <= len; cut++) {
        char *copy = malloc(cut ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, db, cut);
        struct posture_gvdb_table t, l;
        if (posture_gvdb_open(copy, cut, &t) == 0) {
            opened++;
            bool b;
            uint32_t u;
            answered += posture_gvdb_get_bool(&t, keys[0], &b, NULL, 0) == 0;
            answered += posture_gvdb_get_u32(&t, keys[1], &u, NULL, 0) == 0;
            if (posture_gvdb_get_table(&t, ".locks", &l) == 0)
                (void) posture_gvdb_has_key(&l, keys[0]);
        }
        free(copy);
    }
    assert_true(opened > 0);
    assert_true(answered > 0);
    assert_true(answered < 2 * (len + 1)); /* short prefixes cannot answer */

    for (size_t i = 0; i < len; i++)
        for (unsigned bit = 0; bit < 8; bit += 3) {
            char *copy = malloc(len);
            assert_non_null(copy);
            memcpy(copy, db, len);
            copy[i] = (char) (copy[i] ^ (1 << bit));
            struct posture_gvdb_table t, l;
            if (posture_gvdb_open(copy, len, &t) == 0) {
                bool b;
                uint32_t u;
                for (size_t k = 0; k < POSTURE_ELEMENTSOF(keys); k++) {
                    (void) posture_gvdb_get_bool(&t, keys[k], &b, NULL, 0);
                    (void) posture_gvdb_get_u32(&t, keys[k], &u, NULL, 0);
                }
                if (posture_gvdb_get_table(&t, ".locks", &l) == 0)
                    (void) posture_gvdb_has_key(&l, keys[1]);
            }
            free(copy);
        }
    free(db);
}

/* The committed databases are what `dconf compile` makes of the keyfiles beside them. */
static void test_fixtures_match_keyfiles(void **state)
{
    (void) state;
    static const char *const dbs[] = {
        "gnome-pass/home/alice/.config/dconf/user",
        "gnome-lock-disabled/home/alice/.config/dconf/user",
        "gnome-idle-long/home/alice/.config/dconf/user",
        "gnome-idle-zero/home/alice/.config/dconf/user",
        "gnome-lockdown/home/alice/.config/dconf/user",
        "gnome-wrong-type/home/alice/.config/dconf/user",
        "gnome-system-locked/home/alice/.config/dconf/user",
        "gnome-system-locked/etc/dconf/db/local",
        "gnome-system-default/home/alice/.config/dconf/user",
        "gnome-system-default/etc/dconf/db/site",
        "two-sessions-fail/home/alice/.config/dconf/user",
    };
    if (access("/usr/bin/dconf", X_OK) != 0) {
        if (getenv("CI"))
            fail_msg("dconf is missing (packaging/install-deps.sh installs dconf-cli)");
        skip();
    }
    char *dir = posture_test_mkdtemp();
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(dbs); i++) {
        char rel[512], src[1024], out[1024];
        (void) snprintf(rel, sizeof(rel), FIX "%s", dbs[i]);
        (void) snprintf(src, sizeof(src), "%s.d", posture_test_path(rel));
        (void) snprintf(out, sizeof(out), "%s/db", dir);
        const char *const argv[] = { "/usr/bin/dconf", "compile", out, src, NULL };
        struct posture_spawn_opts o = { .argv = argv };
        struct posture_spawn_result res = { 0 };
        assert_int_equal(posture_spawn_run(&o, &res), 0);
        if (res.exit_code != 0)
            fail_msg("dconf compile %s: %s", src, res.err);
        posture_spawn_result_done(&res);

        size_t a_len, b_len;
        char *a = slurp(rel, &a_len);
        char *b = NULL;
        int root = -1;
        assert_int_equal(posture_root_open("/", &root), 0);
        assert_int_equal(posture_read_file_at(root, out, 1 << 20, &b, &b_len), 0);
        close(root);
        if (a_len != b_len || memcmp(a, b, a_len) != 0)
            fail_msg("%s differs from dconf compile of its keyfiles: run %s", dbs[i],
                     "tests/fixtures/roots/screen.lock/compile.sh");
        free(a);
        free(b);
    }
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

/* ---- The check ---- */

static struct posture_result *
run_on(const char *scenario, const char *options, struct posture_run **run)
{
    char rel[256];
    (void) snprintf(rel, sizeof(rel), FIX "%s", scenario);
    struct posture_result *r =
        posture_test_run_check("screen.lock", posture_test_path(rel), options, run);
    assert_string_equal(r->version, "1.0.0");
    return r;
}

static const char *status_name(int s)
{
    static const char *const n[] = { "pass", "warn", "fail", "not_applicable", "error" };
    return s >= 0 && s < 5 ? n[s] : "?";
}

static void expect_int_or_null(const cJSON *obj, const char *key, long long want)
{
    const cJSON *item = posture_test_json_get(obj, key);
    if (want < 0) {
        assert_true(cJSON_IsNull(item));
        return;
    }
    assert_true(cJSON_IsNumber(item));
    assert_int_equal((long long) item->valuedouble, want);
}

static void test_scenarios(void **state)
{
    (void) state;
    static const struct {
        const char *scenario;
        const char *options;
        const char *status;
        const char *reason;
        int lock_enabled; /* first session; -1 null, -2 no session */
        long long idle, delay, after;
        const char *source;
        const char *desktop;
    } cases[] = {
        { "no-session", NULL, "not_applicable", "no graphical session is active", -2, 0, 0, 0, NULL,
          NULL },
        { "no-sessions-dir", NULL, "not_applicable", "no graphical session is active", -2, 0, 0, 0,
          NULL, NULL },
        { "gnome-default", NULL, "pass", "GNOME locks the screen of alice after 300 s idle", 1, 300,
          0, 300, "dconf", "GNOME" },
        { "gnome-pass", NULL, "pass", "GNOME locks the screen of alice after 720 s idle", 1, 600,
          120, 720, "dconf", "ubuntu:GNOME" },
        { "gnome-pass", "max_idle = 10m", "fail",
          "GNOME locks the screen of alice after 720 s idle, more than 600 s", 1, 600, 120, 720,
          "dconf", "ubuntu:GNOME" },
        { "gnome-lock-disabled", NULL, "fail", "GNOME does not lock the screen of alice", 0, 300, 0,
          0, "dconf", "GNOME" },
        { "gnome-idle-long", NULL, "fail",
          "GNOME locks the screen of alice after 1800 s idle, more than 900 s", 1, 1800, 0, 1800,
          "dconf", "GNOME" },
        { "gnome-idle-zero", NULL, "fail", "the idle delay is 0 (never)", 1, 0, 0, 0, "dconf",
          "GNOME" },
        { "gnome-lockdown", NULL, "fail", "GNOME does not lock the screen of alice", 0, 300, 0, 0,
          "dconf", "GNOME" },
        { "gnome-system-locked", NULL, "pass", "after 240 s idle", 1, 240, 0, 240, "dconf",
          "GNOME" },
        { "gnome-system-default", NULL, "pass", "after 360 s idle", 1, 300, 60, 360, "dconf",
          "GNOME" },
        { "gnome-corrupt", NULL, "error",
          "/home/alice/.config/dconf/user: not a valid dconf database", -1, -1, -1, -1, "dconf",
          "GNOME" },
        { "gnome-wrong-type", NULL, "error",
          "dconf key /org/gnome/desktop/session/idle-delay: a value of the wrong type", -1, -1, -1,
          -1, "dconf", "GNOME" },
        { "kde-default", NULL, "pass", "KDE locks the screen of bob after 300 s idle", 1, 300, 0,
          300, "kscreenlockerrc", "KDE" },
        { "kde-pass", NULL, "pass", "KDE locks the screen of bob after 600 s idle", 1, 600, 0, 600,
          "kscreenlockerrc", "KDE" },
        { "kde-autolock-off", NULL, "fail", "KDE does not lock the screen of bob", 0, 300, 0, 0,
          "kscreenlockerrc", "KDE" },
        { "kde-system-timeout", NULL, "fail", "after 1800 s idle, more than 900 s", 1, 1800, 0,
          1800, "kscreenlockerrc", "plasma" },
        { "sway", NULL, "error", "cannot tell whether sway locks the screen", -1, -1, -1, -1, NULL,
          "sway" },
        { "no-desktop", NULL, "error", "the session names no desktop", -1, -1, -1, -1, NULL, NULL },
        { "two-sessions-error", NULL, "error", "cannot tell whether sway locks the screen", 1, 300,
          0, 300, "dconf", "GNOME" },
        { "two-sessions-fail", NULL, "fail", "the idle delay is 0 (never)", 1, 0, 0, 0, "dconf",
          "GNOME" },
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        struct posture_run *run = NULL;
        struct posture_result *r = run_on(cases[i].scenario, cases[i].options, &run);
        if (strcmp(status_name(r->status), cases[i].status) != 0 ||
            !strstr(r->reason, cases[i].reason))
            fail_msg("%s: %s '%s', expected %s '%s'", cases[i].scenario, status_name(r->status),
                     r->reason, cases[i].status, cases[i].reason);
        const cJSON *ev = r->evidence;
        if (strcmp(cases[i].status, "error") == 0) {
            assert_non_null(cJSON_GetObjectItem(ev, "errno"));
        } else {
            const cJSON *sessions = posture_test_json_get(ev, "sessions");
            assert_true(cJSON_IsArray(sessions));
            if (cases[i].lock_enabled == -2) {
                assert_int_equal(cJSON_GetArraySize(sessions), 0);
            } else {
                const cJSON *s = cJSON_GetArrayItem(sessions, 0);
                assert_non_null(s);
                const cJSON *le = posture_test_json_get(s, "lock_enabled");
                if (cases[i].lock_enabled < 0)
                    assert_true(cJSON_IsNull(le));
                else
                    assert_int_equal(cJSON_IsTrue(le), cases[i].lock_enabled);
                expect_int_or_null(s, "idle_delay_s", cases[i].idle);
                expect_int_or_null(s, "lock_delay_s", cases[i].delay);
                expect_int_or_null(s, "locks_after_s", cases[i].after);
                posture_test_expect_str(s, "source", cases[i].source);
                posture_test_expect_str(s, "desktop", cases[i].desktop);
                posture_test_expect_str(s, "status", cases[i].status);
            }
        }
        if (strcmp(cases[i].status, "fail") == 0)
            assert_non_null(r->remediation);
        run = posture_run_free(run);
    }
}

static void test_evidence(void **state)
{
    (void) state;
    struct posture_run *run = NULL;
    struct posture_result *r = run_on("two-sessions-fail", NULL, &run);
    const cJSON *ev = r->evidence;
    expect_int_or_null(ev, "max_idle_s", 900);
    const cJSON *sessions = posture_test_json_get(ev, "sessions");
    assert_int_equal(cJSON_GetArraySize(sessions), 2);
    const cJSON *a = cJSON_GetArrayItem(sessions, 0), *b = cJSON_GetArrayItem(sessions, 1);
    posture_test_expect_str(a, "id", "2");
    posture_test_expect_str(a, "user", "alice");
    expect_int_or_null(a, "uid", 1000);
    posture_test_expect_str(a, "type", "wayland");
    const cJSON *files = posture_test_json_get(a, "files");
    assert_int_equal(cJSON_GetArraySize(files), 1);
    assert_string_equal(cJSON_GetArrayItem(files, 0)->valuestring,
                        "/home/alice/.config/dconf/user");
    posture_test_expect_str(b, "id", "8");
    posture_test_expect_str(b, "desktop", "Hyprland");
    posture_test_expect_str(b, "status", "error");
    posture_test_expect_str(b, "reason", "cannot tell whether Hyprland locks the screen");
    assert_true(cJSON_IsNull(posture_test_json_get(b, "lock_enabled")));
    run = posture_run_free(run);

    /* The system database and its locks are listed as read. */
    r = run_on("gnome-system-locked", NULL, &run);
    files = posture_test_json_get(
        cJSON_GetArrayItem(posture_test_json_get(r->evidence, "sessions"), 0), "files");
    assert_int_equal(cJSON_GetArraySize(files), 2);
    assert_string_equal(cJSON_GetArrayItem(files, 1)->valuestring, "/etc/dconf/db/local");
    run = posture_run_free(run);

    /* A bad option. */
    r = run_on("gnome-pass", "max_idle = 0", &run);
    assert_string_equal(status_name(r->status), "error");
    assert_non_null(strstr(r->reason, "max_idle"));
    run = posture_run_free(run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gvdb_values),
        cmocka_unit_test(test_gvdb_mutations),
        cmocka_unit_test(test_fixtures_match_keyfiles),
        POSTURE_TEST_ON_OPENAT2(test_scenarios),
        POSTURE_TEST_ON_FALLBACK(test_scenarios),
        cmocka_unit_test(test_evidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
