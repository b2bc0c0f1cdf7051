/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Administration of the verifier's store (DESIGN.md §4):
 *
 *   posture-verifier devices list [--json]
 *   posture-verifier devices show ID [--json]
 *   posture-verifier devices revoke ID
 *   posture-verifier audit verify [--json]
 *
 * each with [--config FILE] [--state-dir DIR] [--store URL] like `token create`. A revoked
 * device can enrol again (with a new token); its reports are refused from then on. A running
 * `serve` keeps answering gateways from its memory until the device's appraisal expires (at
 * most 300 s) — see docs/verifier-api.md.
 *
 * Also here: posture_verifier_open_store(), the one way commands open the store.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/cleanup.h"
#include "posture/hex.h"
#include "posture/json.h"
#include "posture/log.h"

#include "store.h"
#include "verifier.h"
#include "verifier_config.h"

enum {
    OPT_JSON = 0x100,
    OPT_STATE_DIR,
    OPT_STORE,
    OPT_CONFIG,
};

int posture_verifier_open_store(const char *command,
                                const char *config,
                                const char *state_dir,
                                const char *store_arg,
                                struct posture_store **ret)
{
    struct posture_verifier_config cfg = {};
    posture_autofree char *url = NULL;
    int r;

    if (posture_verifier_load_config(config, &cfg) < 0)
        return -EINVAL;
    /* --state-dir moves the default store with it; --store names it outright. */
    if (!store_arg && !state_dir)
        store_arg = cfg.store;
    r = posture_verifier_store_url(state_dir ? state_dir : cfg.state_dir, store_arg, &url);
    posture_verifier_config_done(&cfg);
    if (r < 0)
        return log_error_errno(r, "%s: %m", command);
    r = posture_store_open(url, NULL, ret);
    if (r < 0)
        return log_error_errno(r,
                               "%s: cannot open the store '%s': %m (check --store and "
                               "--state-dir, and that this user may read and write there)",
                               command, url);
    return 0;
}

struct admin_args {
    const char *config, *state_dir, *store;
    bool json;
    const char *arg; /* the one positional argument, when the command takes one */
};

static void admin_help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_VERIFIER_PROGRAM " devices list [--json] [OPTIONS]\n"
           "       " POSTURE_VERIFIER_PROGRAM " devices show ID [--json] [OPTIONS]\n"
           "       " POSTURE_VERIFIER_PROGRAM " devices revoke ID [OPTIONS]\n"
           "       " POSTURE_VERIFIER_PROGRAM " audit verify [--json] [OPTIONS]\n"
           "\n"
           "Inspect and revoke enrolled devices; check the hash chain of the audit log.\n"
           "A device id may begin with '-' (it is base64url); after '--' is fine too.\n"
           "A revoked device must enrol again (with a new token) before its reports count.\n"
           "A running serve applies a revocation within about a quarter of a second: its\n"
           "/v1/authz answers 403 device-revoked for the device under every policy, and its\n"
           "challenges and reports are refused (docs/verifier-operations.md).\n"
           "\n"
           "Options:\n"
           "  --json           print JSON\n"
           "  --config FILE    the configuration (default " POSTURE_VERIFIER_CONFIG_PATH ")\n"
           "  --state-dir DIR  instead of [verifier] state_dir\n"
           "  --store URL      instead of [verifier] store (default sqlite:<state-dir>/store.db)\n"
           "  -h, --help       show this help\n");
}

/* Options of "<what> <verb> [ID]"; argv[0] is the verb. 0 to go on, else the exit status. */
static int
parse_admin(const char *what, int argc, char **argv, bool needs_arg, struct admin_args *a)
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "json", no_argument, NULL, OPT_JSON },
        { "state-dir", required_argument, NULL, OPT_STATE_DIR },
        { "store", required_argument, NULL, OPT_STORE },
        { "config", required_argument, NULL, OPT_CONFIG },
        {},
    };
    int c;

    /* A device id is base64url (an RFC 7638 thumbprint): one in 64 begins with '-', which
     * getopt would read as short options. We have no short option but -h, so such an argument
     * is the id: take it out before getopt. ("--" works too.) */
    for (int i = 1; needs_arg && i < argc; i++) {
        const char *s = argv[i];

        if (strcmp(s, "--") == 0)
            break;
        if (strcmp(s, "--config") == 0 || strcmp(s, "--state-dir") == 0 ||
            strcmp(s, "--store") == 0) {
            i++; /* its value */
            continue;
        }
        if (s[0] == '-' && s[1] != '-' && s[1] != '\0' && strcmp(s, "-h") != 0) {
            a->arg = argv[i];
            memmove(&argv[i], &argv[i + 1], (size_t) (argc - i - 1) * sizeof(*argv));
            argv[--argc] = NULL;
            break;
        }
    }

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        switch (c) {
        case 'h':
            admin_help(stdout);
            return POSTURE_VERIFIER_EXIT_OK + 256; /* "done", mapped below */
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_STATE_DIR:
            if (optarg[0] != '/') {
                log_error("%s %s: --state-dir '%s' must be an absolute path", what, argv[0],
                          optarg);
                return POSTURE_VERIFIER_EXIT_USAGE;
            }
            a->state_dir = optarg;
            break;
        case OPT_STORE:
            a->store = optarg;
            break;
        case OPT_CONFIG:
            a->config = optarg;
            break;
        default:
            return posture_verifier_option_error(what, c, argv);
        }
    }
    if (needs_arg && !a->arg) {
        if (optind >= argc) {
            log_error("%s %s: which device? (the id 'devices list' shows)", what, argv[0]);
            return POSTURE_VERIFIER_EXIT_USAGE;
        }
        a->arg = argv[optind++];
    }
    if (optind < argc) {
        log_error("%s %s: unexpected argument '%s'", what, argv[0], argv[optind]);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    return 0;
}

static int device_json(const struct posture_store_device *d, cJSON **ret)
{
    posture_auto_cjson cJSON *o = cJSON_CreateObject();
    char hex[2 * POSTURE_STORE_AK_NAME_MAX + 1];
    int r;

    if (!o)
        return -ENOMEM;
    r = posture_json_add_str(o, "id", d->id);
    if (r >= 0)
        r = posture_json_add_str(o, "tier", posture_store_tier_to_string(d->tier));
    if (r >= 0)
        r = posture_json_add_str(o, "status", posture_store_device_status_to_string(d->status));
    if (r >= 0)
        r = posture_json_add_int(o, "created_at",
                                 (int64_t) (d->created_at / POSTURE_STORE_USEC_PER_SEC));
    if (r >= 0 && d->revoked_at)
        r = posture_json_add_int(o, "revoked_at",
                                 (int64_t) (d->revoked_at / POSTURE_STORE_USEC_PER_SEC));
    if (r >= 0 && d->ak_name_len)
        r = posture_json_add_str(o, "ak_name",
                                 posture_hex_encode_buf(d->ak_name, d->ak_name_len, hex));
    if (r >= 0 && d->has_ek_cert_sha256)
        r = posture_json_add_str(o, "ek_cert_sha256",
                                 posture_hex_encode_buf(d->ek_cert_sha256, 32, hex));
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(o);
    return 0;
}

struct list_ctx {
    bool json;
    cJSON *array;
};

static int list_one(const struct posture_store_device *d, void *userdata)
{
    struct list_ctx *l = userdata;
    cJSON *o = NULL;
    int r;

    if (!l->json) {
        (void) printf("%-44s %-9s %-8s\n", d->id, posture_store_tier_to_string(d->tier),
                      posture_store_device_status_to_string(d->status));
        return 0;
    }
    r = device_json(d, &o);
    return r < 0 ? r : posture_json_append(l->array, o);
}

static int print_json(cJSON *o)
{
    posture_autofree char *s = NULL;
    int r = posture_json_print(o, true, &s);
    if (r < 0)
        return r;
    (void) fputs(s, stdout);
    return 0;
}

static int devices_run(const char *verb, const struct admin_args *a, struct posture_store *store)
{
    int r;

    if (strcmp(verb, "list") == 0) {
        posture_auto_cjson cJSON *array = a->json ? cJSON_CreateArray() : NULL;
        struct list_ctx l = { .json = a->json, .array = array };

        if (a->json && !array)
            return log_error_errno(-ENOMEM, "devices list: %m");
        if (!a->json)
            (void) printf("%-44s %-9s %-8s\n", "ID", "TIER", "STATUS");
        r = posture_store_device_foreach(store, list_one, &l);
        if (r >= 0 && a->json)
            r = print_json(array);
        return r < 0 ? log_error_errno(r, "devices list: %m") : 0;
    }
    if (strcmp(verb, "show") == 0) {
        POSTURE_CLEANUP(posture_store_device_done) struct posture_store_device d = { 0 };
        posture_auto_cjson cJSON *o = NULL;
        struct posture_store_appraisal last = { 0 };

        r = posture_store_device_get(store, a->arg, &d);
        if (r == -ENOENT) {
            log_error("devices show: no device '%s' (see 'devices list')", a->arg);
            return -ENOENT;
        }
        if (r >= 0)
            r = device_json(&d, &o);
        if (r >= 0 && posture_store_appraisal_latest(store, a->arg, &last) >= 0) {
            cJSON *ap = cJSON_CreateObject();
            r = ap ? 0 : -ENOMEM;
            if (r >= 0)
                r = posture_json_add_str(ap, "status",
                                         posture_store_verdict_to_string(last.verdict));
            if (r >= 0)
                r = posture_json_add_int(ap, "seq", (int64_t) last.seq);
            if (r >= 0)
                r = posture_json_add_int(ap, "received_at",
                                         (int64_t) (last.received_at / POSTURE_STORE_USEC_PER_SEC));
            if (r >= 0)
                r = posture_json_add_str(ap, "policy", last.policy_id);
            if (r >= 0)
                r = posture_json_add_str(ap, "failed", last.reason);
            if (r >= 0)
                r = posture_json_add_item(o, "last_appraisal", ap);
            else
                cJSON_Delete(ap);
            posture_store_appraisal_done(&last);
        }
        if (r >= 0)
            r = print_json(o); /* the same JSON with or without --json: it is a record */
        return r < 0 ? log_error_errno(r, "devices show: %m") : 0;
    }
    /* revoke */
    r = posture_store_device_revoke(store, a->arg);
    if (r == -ENOENT) {
        log_error("devices revoke: no device '%s' (see 'devices list')", a->arg);
        return r;
    }
    if (r == -EALREADY) {
        log_notice("devices revoke: '%s' is revoked already", a->arg);
        return 0;
    }
    if (r >= 0)
        r = posture_store_audit_append(store, "revoke", a->arg,
                                       "{\"by\":\"posture-verifier devices revoke\"}", NULL);
    if (r < 0)
        return log_error_errno(r, "devices revoke: %m");
    (void) printf("revoked %s; it must enrol again to report (a running serve denies it at "
                  "/v1/authz within a second)\n",
                  a->arg);
    return 0;
}

int posture_verifier_devices(int argc, char **argv)
{
    struct admin_args a = { 0 };
    struct posture_store *store = NULL;
    const char *verb;
    int r;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        admin_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? POSTURE_VERIFIER_EXIT_USAGE : POSTURE_VERIFIER_EXIT_OK;
    }
    verb = argv[1];
    if (strcmp(verb, "list") != 0 && strcmp(verb, "show") != 0 && strcmp(verb, "revoke") != 0) {
        log_error("devices: unknown action '%s' (list, show or revoke)", verb);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    r = parse_admin("devices", argc - 1, argv + 1, strcmp(verb, "list") != 0, &a);
    if (r != 0)
        return r > 255 ? POSTURE_VERIFIER_EXIT_OK : r;
    if (posture_verifier_open_store("devices", a.config, a.state_dir, a.store, &store) < 0)
        return POSTURE_VERIFIER_EXIT_USAGE;
    r = devices_run(verb, &a, store);
    posture_store_free(store);
    if (r == -ENOENT)
        return POSTURE_VERIFIER_EXIT_REJECTED;
    return r < 0 ? POSTURE_VERIFIER_EXIT_USAGE : POSTURE_VERIFIER_EXIT_OK;
}

int posture_verifier_audit(int argc, char **argv)
{
    struct admin_args a = { 0 };
    struct posture_store *store = NULL;
    struct posture_store_audit_result res = { 0 };
    char head[65];
    int r;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        admin_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? POSTURE_VERIFIER_EXIT_USAGE : POSTURE_VERIFIER_EXIT_OK;
    }
    if (strcmp(argv[1], "verify") != 0) {
        log_error("audit: unknown action '%s' (verify)", argv[1]);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    r = parse_admin("audit", argc - 1, argv + 1, false, &a);
    if (r != 0)
        return r > 255 ? POSTURE_VERIFIER_EXIT_OK : r;
    if (posture_verifier_open_store("audit", a.config, a.state_dir, a.store, &store) < 0)
        return POSTURE_VERIFIER_EXIT_USAGE;
    r = posture_store_audit_verify(store, &res);
    posture_store_free(store);
    if (r < 0) {
        (void) log_error_errno(r, "audit verify: cannot read the audit log: %m");
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    (void) posture_hex_encode_buf(res.head, sizeof(res.head), head);
    if (a.json) {
        posture_auto_cjson cJSON *o = cJSON_CreateObject();
        r = o ? posture_json_add_bool(o, "intact", res.first_bad_seq == 0) : -ENOMEM;
        if (r >= 0)
            r = posture_json_add_int(o, "rows", (int64_t) res.rows);
        if (r >= 0 && res.first_bad_seq)
            r = posture_json_add_int(o, "first_bad_seq", (int64_t) res.first_bad_seq);
        if (r >= 0)
            r = posture_json_add_str(o, "head", head);
        if (r >= 0)
            r = print_json(o);
        if (r < 0) {
            (void) log_error_errno(r, "audit verify: %m");
            return POSTURE_VERIFIER_EXIT_USAGE;
        }
    } else if (res.first_bad_seq == 0)
        (void) printf("audit log intact: %" PRIu64 " rows, head %s\n", res.rows, head);
    else
        (void) printf("audit log BROKEN at row %" PRIu64 " (%" PRIu64
                      " rows checked; the last good head is %s)\n",
                      res.first_bad_seq, res.rows, head);
    return res.first_bad_seq == 0 ? POSTURE_VERIFIER_EXIT_OK : POSTURE_VERIFIER_EXIT_REJECTED;
}
