/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture-verifier token create [--ttl DURATION] [--label TEXT] [--json] [--config FILE]
 *                               [--state-dir DIR] [--store URL]
 * A one-time enrolment token (DESIGN.md §4): 32 random bytes, printed once as base64url; the
 * store keeps SHA-256 of it only. The store is verifier.conf's ([verifier] store, default
 * sqlite:<state_dir>/store.db); --state-dir and --store override it.
 *
 * Also here: posture_verifier_load_config(), shared by the commands that read verifier.conf.
 */

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/config.h"
#include "posture/json.h"
#include "posture/log.h"
#include "posture/parse.h"

#include "store.h"
#include "verifier.h"
#include "verifier_config.h"

static const char command[] = "token";

#define TOKEN_TTL_DEFAULT (UINT64_C(24) * 3600 * POSTURE_STORE_USEC_PER_SEC)

enum {
    OPT_TTL = 0x100,
    OPT_LABEL,
    OPT_JSON,
    OPT_STATE_DIR,
    OPT_STORE,
    OPT_CONFIG,
};

static void help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_VERIFIER_PROGRAM " token create [--ttl DURATION] [--label TEXT]\n"
           "                                [--json] [--config FILE] [--state-dir DIR]\n"
           "                                [--store URL]\n"
           "\n"
           "Create a one-time enrolment token for 'posturectl enroll --token'. The token is\n"
           "printed once; the store keeps only its SHA-256.\n"
           "\n"
           "Options:\n"
           "  --ttl DURATION   how long the token stays usable (s, m, h, d; default 24h,\n"
           "                   at most 366d)\n"
           "  --label TEXT     a note shown in listings (who or what the token is for)\n"
           "  --json           print {\"token\",\"id\",\"expires_at\",\"label\"}\n"
           "  --config FILE    the configuration (default " POSTURE_VERIFIER_CONFIG_PATH ")\n"
           "  --state-dir DIR  instead of [verifier] state_dir\n"
           "  --store URL      instead of [verifier] store (default sqlite:<state-dir>/store.db)\n"
           "  -h, --help       show this help\n");
}

/* The message starts with "file:line: " when it has a location (posture/config.h). */
static void
config_diag(int level, const char *file, unsigned line, const char *message, void *userdata)
{
    unsigned *n_errors = userdata;

    (void) file;
    (void) line;
    if (level <= LOG_ERR)
        (*n_errors)++;
    log_full(level, "%s", message);
}

int posture_verifier_load_config(const char *path, struct posture_verifier_config *cfg)
{
    const char *main_path = path ? path : POSTURE_VERIFIER_CONFIG_PATH;
    posture_auto_config struct posture_config *c = NULL;
    unsigned n_errors = 0;
    int r;

    r = posture_config_new(config_diag, &n_errors, &c);
    if (r < 0)
        return log_error_errno(r, "Failed to set up the configuration: %m");
    r = posture_config_load(c, main_path, path != NULL);
    if (r < 0) {
        if (n_errors == 0) /* else reported with file:line already */
            (void) log_error_errno(r, "%s%s: %m", path ? "--config " : "", main_path);
        return r;
    }
    r = posture_verifier_config_init(cfg);
    if (r < 0)
        return log_error_errno(r, "Failed to set up the configuration: %m");
    n_errors = 0;
    r = posture_verifier_config_apply(cfg, c);
    if (r < 0) {
        posture_verifier_config_done(cfg);
        if (n_errors == 0)
            (void) log_error_errno(r, "%s: invalid configuration: %m", main_path);
        return r;
    }
    return 0;
}

int posture_verifier_store_url(const char *state_dir, const char *store, char **ret)
{
    char *s;

    if (store)
        s = strdup(store);
    else if (asprintf(&s, "sqlite:%s/store.db", state_dir) < 0)
        s = NULL;
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

static bool label_valid(const char *s)
{
    size_t n = strlen(s);

    if (n > POSTURE_STORE_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static int token_create(int argc, char **argv)
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "ttl", required_argument, NULL, OPT_TTL },
        { "label", required_argument, NULL, OPT_LABEL },
        { "json", no_argument, NULL, OPT_JSON },
        { "state-dir", required_argument, NULL, OPT_STATE_DIR },
        { "store", required_argument, NULL, OPT_STORE },
        { "config", required_argument, NULL, OPT_CONFIG },
        {},
    };
    const char *state_dir = NULL, *store_arg = NULL, *label = NULL, *config = NULL;
    posture_autofree char *text = NULL;
    struct posture_store *store = NULL;
    uint64_t ttl = TOKEN_TTL_DEFAULT;
    uint8_t token[POSTURE_STORE_TOKEN_SIZE];
    bool json = false;
    int64_t id = 0;
    int c, r;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        switch (c) {
        case 'h':
            help(stdout);
            return POSTURE_VERIFIER_EXIT_OK;
        case OPT_TTL:
            r = posture_parse_duration_usec(optarg, &ttl);
            if (r < 0 || ttl == 0 || ttl > POSTURE_STORE_TOKEN_TTL_MAX) {
                log_error("token create: --ttl '%s' is not a duration between 1s and 366d "
                          "(e.g. 30m, 12h, 7d)",
                          optarg);
                return POSTURE_VERIFIER_EXIT_USAGE;
            }
            break;
        case OPT_LABEL:
            if (!label_valid(optarg)) {
                log_error("token create: --label must be at most %d bytes of text without "
                          "control characters",
                          POSTURE_STORE_LABEL_MAX);
                return POSTURE_VERIFIER_EXIT_USAGE;
            }
            label = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_STATE_DIR:
            if (optarg[0] != '/') {
                log_error("token create: --state-dir '%s' must be an absolute path", optarg);
                return POSTURE_VERIFIER_EXIT_USAGE;
            }
            state_dir = optarg;
            break;
        case OPT_STORE:
            store_arg = optarg;
            break;
        case OPT_CONFIG:
            config = optarg;
            break;
        default:
            return posture_verifier_option_error("token create", c, argv);
        }
    }
    if (optind < argc) {
        log_error("token create: unexpected argument '%s'", argv[optind]);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }

    if (posture_verifier_open_store("token create", config, state_dir, store_arg, &store) < 0)
        return POSTURE_VERIFIER_EXIT_USAGE;
    r = posture_store_token_create(store, ttl, label, token, &id);
    if (r >= 0)
        r = posture_b64url_encode(token, sizeof(token), &text);
    OPENSSL_cleanse(token, sizeof(token));
    uint64_t expires = posture_store_now(store) + ttl;
    store = posture_store_free(store);
    if (r < 0) {
        (void) log_error_errno(r, "token create: cannot create a token in the store: %m");
        return POSTURE_VERIFIER_EXIT_USAGE;
    }

    if (json) {
        posture_auto_cjson cJSON *o = cJSON_CreateObject();
        posture_autofree char *out = NULL;

        r = o ? 0 : -ENOMEM;
        if (r >= 0)
            r = posture_json_add_str(o, "token", text);
        if (r >= 0)
            r = posture_json_add_int(o, "id", id);
        if (r >= 0)
            r = posture_json_add_int(o, "expires_at",
                                     (int64_t) (expires / POSTURE_STORE_USEC_PER_SEC));
        if (r >= 0)
            r = posture_json_add_str(o, "label", label ? label : "");
        if (r >= 0)
            r = posture_json_print(o, true, &out);
        if (r < 0) {
            OPENSSL_cleanse(text, strlen(text));
            (void) log_error_errno(r, "token create: %m");
            return POSTURE_VERIFIER_EXIT_USAGE;
        }
        (void) fputs(out, stdout);
        OPENSSL_cleanse(out, strlen(out));
    } else
        (void) printf("%s\n", text);
    OPENSSL_cleanse(text, strlen(text));
    return POSTURE_VERIFIER_EXIT_OK;
}

int posture_verifier_token(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        help(stdout);
        return POSTURE_VERIFIER_EXIT_OK;
    }
    if (argc < 2) {
        log_error("%s: missing subcommand (see '" POSTURE_VERIFIER_PROGRAM " token --help')",
                  command);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    if (strcmp(argv[1], "create") == 0)
        return token_create(argc - 1, argv + 1);
    log_error("%s: unknown subcommand '%s' (see '" POSTURE_VERIFIER_PROGRAM " token --help')",
              command, argv[1]);
    return POSTURE_VERIFIER_EXIT_USAGE;
}
