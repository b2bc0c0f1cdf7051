/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture_api_reload (verifier/lib/api.h), what SIGHUP does to a running api: the decision
 * view keeps the entries of unchanged policies and drops those of changed or removed ones
 * (403 not-appraised until the device reports again; 503 for a policy that is gone), a bad set
 * changes nothing, and reloads race safely with readers of the view.
 */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "testlib.h"

#define NOW 1795620700

static const char p_a1[] = "{\"id\":\"a\",\"version\":\"1\",\"checks\":{\"os.release\":{"
                           "\"evidence\":[{\"path\":\"/id\",\"op\":\"ne\",\"value\":\"\"}]}}}";
/* the same id, another rule */
static const char p_a2[] = "{\"id\":\"a\",\"version\":\"2\",\"checks\":{\"os.release\":{"
                           "\"evidence\":[{\"path\":\"/id\",\"op\":\"eq\",\"value\":\"x\"}]}}}";
static const char p_b1[] = "{\"id\":\"b\",\"version\":\"1\",\"checks\":{\"os.release\":{"
                           "\"evidence\":[{\"path\":\"/id\",\"op\":\"ne\",\"value\":\"\"}]}}}";
static const char p_c1[] = "{\"id\":\"c\",\"version\":\"1\",\"checks\":{\"os.release\":{"
                           "\"evidence\":[{\"path\":\"/id\",\"op\":\"ne\",\"value\":\"\"}]}}}";

struct fixture {
    char *dir;
    struct posture_store *store;
    struct posture_vkeys *vkeys;
    struct posture_decisions *view;
    struct posture_policy_set *set;
    struct posture_api *api;
};

static struct posture_policy_set *set_of(const char *const *jsons, size_t n)
{
    struct posture_policy_set *s = calloc(1, sizeof(*s));
    char err[POSTURE_POLICY_ERROR_MAX];

    assert_non_null(s);
    s->policies = calloc(n ? n : 1, sizeof(*s->policies));
    assert_non_null(s->policies);
    for (size_t i = 0; i < n; i++) {
        if (posture_policy_parse("p.json", jsons[i], strlen(jsons[i]), &s->policies[i], err,
                                 sizeof(err)) < 0)
            fail_msg("%s", err);
        s->n_policies = i + 1;
    }
    return s;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *const jsons[] = { p_a1, p_b1 };
    char path[512];

    assert_non_null(f);
    f->dir = posture_test_mkdtemp();
    assert_non_null(f->dir);
    (void) snprintf(path, sizeof(path), "%s/store.db", f->dir);
    assert_int_equal(posture_store_open(path, NULL, &f->store), 0);
    (void) snprintf(path, sizeof(path), "%s/state", f->dir);
    assert_int_equal(posture_vkeys_open(path, "test.example", true, &f->vkeys), 0);
    assert_int_equal(posture_decisions_new(64, &f->view), 0);
    f->set = set_of(jsons, 2);
    struct posture_api_options ao = {
        .store = f->store,
        .vkeys = f->vkeys,
        .policies = f->set,
        .default_policy = "a",
        .decisions = f->view,
    };
    assert_int_equal(posture_api_new(&ao, &f->api), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    posture_api_free(f->api);
    posture_policy_set_free(f->set);
    posture_decisions_free(f->view);
    posture_vkeys_free(f->vkeys);
    posture_store_free(f->store);
    assert_int_equal(posture_test_rmdir_r(f->dir), 0);
    free(f->dir);
    free(f);
    return 0;
}

/* Device n appraised under a and b, both allowing it. */
static void put(struct fixture *f, int n)
{
    const struct posture_decision_entry e[] = {
        { .policy_id = "a",
          .policy_version = "1",
          .status = "affirming",
          .allow = true,
          .expires = NOW + 300,
          .token = "ear.a" },
        { .policy_id = "b",
          .policy_version = "1",
          .status = "affirming",
          .allow = true,
          .expires = NOW + 300,
          .token = "ear.b" },
    };
    char id[32];
    struct posture_decision_device dev = {
        .device_id = id, .subject = "s", .n_entries = 2, .entries = e
    };

    (void) snprintf(id, sizeof(id), "kid-%d", n);
    memset(dev.x5t_s256, 0, sizeof(dev.x5t_s256));
    dev.x5t_s256[0] = (uint8_t) n;
    assert_int_equal(posture_decisions_put(f->view, &dev), 0);
}

static unsigned status_of(struct fixture *f, int n, const char *policy, char *type, size_t size)
{
    const char *known[] = { "a", "b", "c" };
    struct posture_authz *a = calloc(1, sizeof(*a));
    uint8_t x5t[32] = { (uint8_t) n };
    unsigned st;

    assert_non_null(a);
    posture_decisions_authz(f->view, x5t, policy, known, 3, NOW, a);
    st = a->status;
    if (type) {
        const char *t = strstr(a->problem, "urn:posture:problem:");
        (void) snprintf(type, size, "%s", t ? t + strlen("urn:posture:problem:") : "");
        type[strcspn(type, "\"")] = '\0';
    }
    free(a);
    return st;
}

static void test_reload_changed_and_removed(void **state)
{
    struct fixture *f = *state;
    const char *const next[] = { p_a2, p_c1 }; /* a changed, b gone, c new */
    struct posture_policy_set *set = set_of(next, 2);
    char type[64];

    for (int n = 1; n <= 5; n++)
        put(f, n);
    assert_int_equal(status_of(f, 1, "a", NULL, 0), 200);
    assert_int_equal(status_of(f, 1, "b", NULL, 0), 200);

    /* 5 devices lose their a entry and their b entry */
    assert_int_equal(posture_api_reload(f->api, set, "c", NULL), 10);
    f->set = posture_policy_set_free(f->set);
    f->set = set;
    for (int n = 1; n <= 5; n++) {
        assert_int_equal(status_of(f, n, "a", type, sizeof(type)), 403);
        assert_string_equal(type, "not-appraised");
        assert_int_equal(status_of(f, n, "b", type, sizeof(type)), 403);
        assert_string_equal(type, "not-appraised");
    }

    /* reloading the same content again drops nothing */
    {
        const char *const same[] = { p_a2, p_c1 };
        struct posture_policy_set *again = set_of(same, 2);
        put(f, 1);
        assert_int_equal(posture_api_reload(f->api, again, "a", NULL), 0);
        f->set = posture_policy_set_free(f->set);
        f->set = again;
        /* kid-1's "a" entry (put after the change) stands; "b" is not loaded any more */
        assert_int_equal(status_of(f, 1, "a", NULL, 0), 200);
    }
}

static void test_reload_unchanged_policy_keeps_decisions(void **state)
{
    struct fixture *f = *state;
    const char *const next[] = { p_a1, p_b1, p_c1 };
    struct posture_policy_set *set = set_of(next, 3);

    put(f, 1);
    assert_int_equal(posture_api_reload(f->api, set, "b", NULL), 0);
    f->set = posture_policy_set_free(f->set);
    f->set = set;
    assert_int_equal(status_of(f, 1, "a", NULL, 0), 200);
    assert_int_equal(status_of(f, 1, "b", NULL, 0), 200);
    assert_int_equal(status_of(f, 1, "c", NULL, 0), 403);
}

static void test_reload_refused_changes_nothing(void **state)
{
    struct fixture *f = *state;
    const char *const next[] = { p_a2 };
    struct posture_policy_set *set = set_of(next, 1);

    put(f, 1);
    /* the default is not in the set */
    assert_int_equal(posture_api_reload(f->api, set, "b", NULL), -EINVAL);
    assert_int_equal(posture_api_reload(f->api, set, NULL, NULL), -EINVAL);
    assert_int_equal(posture_api_reload(NULL, set, "a", NULL), -EINVAL);
    /* too many policies */
    {
        size_t n = set->n_policies;
        set->n_policies = POSTURE_DECISION_POLICIES_MAX + 1;
        assert_int_equal(posture_api_reload(f->api, set, "a", NULL), -EINVAL);
        set->n_policies = n;
    }
    posture_policy_set_free(set);
    /* nothing was dropped */
    assert_int_equal(status_of(f, 1, "a", NULL, 0), 200);
    assert_int_equal(status_of(f, 1, "b", NULL, 0), 200);
}

static void test_reload_to_no_policy(void **state)
{
    struct fixture *f = *state;

    put(f, 1);
    assert_int_equal(posture_api_reload(f->api, NULL, NULL, NULL), 2);
    f->set = posture_policy_set_free(f->set);
    assert_int_equal(status_of(f, 1, "a", NULL, 0), 403);
    posture_api_set_authz_bearer(f->api, true);
    posture_api_set_authz_bearer(NULL, true);
}

/* [enroll] rate limits replaced (the old buckets freed: ASan's leak check), turned off, bad
 * arguments. Their effect on /v1/enroll is in verifier.ops/reload. */
static void test_set_enroll_limits(void **state)
{
    struct fixture *f = *state;
    struct posture_api_enroll_limits l = {
        .per_ip_per_min = 1,
        .per_ip_burst = 1,
        .global_per_min = 10,
        .global_burst = 5,
        .failures_per_ip_per_hour = 3,
        .failures_per_ip_burst = 2,
        .clients_max = 16,
    };

    assert_int_equal(posture_api_set_enroll_limits(f->api, &l), 0);
    l.per_ip_per_min = 2;
    assert_int_equal(posture_api_set_enroll_limits(f->api, &l), 0);
    l = (struct posture_api_enroll_limits){ .clients_max = 1 }; /* every bucket off */
    assert_int_equal(posture_api_set_enroll_limits(f->api, &l), 0);
    assert_int_equal(posture_api_set_enroll_limits(f->api, NULL), -EINVAL);
    assert_int_equal(posture_api_set_enroll_limits(NULL, &l), -EINVAL);
}

static uint64_t clock_usec_now(void)
{
    struct timespec ts;
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

/* Readers of the view while reloads swap the policies back and forth (ASan/TSan food). The
 * writer goes on until both readers have read a while (a loaded machine may not schedule them
 * before 200 reloads are over); cmocka's asserts stay in the main thread. */
struct reader {
    struct fixture *f;
    atomic_int *stop;
    atomic_ulong n, bad;
};

static void *read_loop(void *arg)
{
    struct reader *r = arg;

    while (!atomic_load(r->stop)) {
        unsigned st = status_of(r->f, 1, "a", NULL, 0);
        if (st != 200 && st != 403)
            atomic_fetch_add(&r->bad, 1);
        atomic_fetch_add(&r->n, 1);
    }
    return NULL;
}

static void test_reload_concurrent(void **state)
{
    struct fixture *f = *state;
    const char *const v1[] = { p_a1, p_b1 }, *const v2[] = { p_a2, p_b1 };
    atomic_int stop = 0;
    struct reader rd[2] = { { .f = f, .stop = &stop }, { .f = f, .stop = &stop } };
    pthread_t t[2];
    uint64_t deadline = clock_usec_now() + 20 * 1000000ULL;

    put(f, 1); /* before the readers: an unknown device (401) is no answer they expect */
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, read_loop, &rd[i]), 0);
    for (int i = 0; i < 200 || ((atomic_load(&rd[0].n) < 100 || atomic_load(&rd[1].n) < 100) &&
                                clock_usec_now() < deadline);
         i++) {
        struct posture_policy_set *set = i % 2 ? set_of(v1, 2) : set_of(v2, 2);
        put(f, 1);
        assert_true(posture_api_reload(f->api, set, "a", NULL) >= 0);
        posture_policy_set_free(f->set);
        f->set = set;
    }
    atomic_store(&stop, 1);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_true(atomic_load(&rd[0].n) > 0 && atomic_load(&rd[1].n) > 0);
    assert_int_equal(atomic_load(&rd[0].bad) + atomic_load(&rd[1].bad), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reload_changed_and_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_unchanged_policy_keeps_decisions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reload_refused_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_to_no_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_enroll_limits, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
