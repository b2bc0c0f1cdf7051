/* SPDX-License-Identifier: Apache-2.0 */
/* posturectl key: print the device public key (DESIGN.md §4, §7), creating it on first use. */

#include "posture/key.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/json.h"
#include "posture/log.h"

#include "cli.h"
#include "output.h"

static const char command[] = "key";

static void help(FILE *f)
{
    (void) fprintf(f, "Usage: " POSTURE_CLI_PROGRAM " key [--jwk|--pem] [--config FILE]\n"
                      "\n"
                      "Print this device's public key. The key is created on first use in the\n"
                      "state directory ([agent] state_dir) when that directory is writable.\n"
                      "\n"
                      "Options:\n"
                      "  --jwk            print the public JWK with its kid (default)\n"
                      "  --pem            print the public key as PEM (SubjectPublicKeyInfo)\n"
                      "  --config FILE    agent configuration (default " POSTURE_AGENT_CONFIG_PATH
                      ")\n"
                      "  -h, --help       show this help\n");
}

int posture_cli_key_error(const char *state_dir, int r)
{
    posture_autofree char *path = NULL;
    struct stat st;

    if (asprintf(&path, "%s/%s", state_dir, POSTURE_DEVICE_KEY_NAME) < 0)
        return log_error_errno(r, "Failed to open the device key: %m");

    /* The key file's own defects first: they explain -EACCES/-EPERM better than errno does. */
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            return log_error_errno(r, "device key %s is a symbolic link; refusing to follow it",
                                   path);
        if (S_ISREG(st.st_mode) && (st.st_mode & 0077) != 0)
            return log_error_errno(r,
                                   "device key %s is accessible by group or others (mode %04o); "
                                   "fix it with 'chmod 600 %s' and consider the key exposed",
                                   path, (unsigned) (st.st_mode & 07777), path);
        if (r == -EPERM)
            return log_error_errno(r, "device key %s is owned by uid %u, not by this user (%u)",
                                   path, (unsigned) st.st_uid, (unsigned) geteuid());
    }
    switch (r) {
    case -EKEYREJECTED:
        return log_error_errno(r, "device key %s is not an EC P-256 key", path);
    case -EBADMSG:
        return log_error_errno(r, "device key %s is not an unencrypted PEM private key", path);
    case -EFBIG:
        return log_error_errno(r, "device key %s is too large to be a key", path);
    case -ENOENT:
    case -ENOTDIR:
        return log_error_errno(r,
                               "cannot create the device key: the state directory %s cannot be "
                               "made (its parent is missing or not a directory); set [agent] "
                               "state_dir to an existing directory's child",
                               state_dir);
    case -EACCES:
    case -EPERM:
    case -EROFS:
        return log_error_errno(r,
                               "cannot read or create the device key in %s: %m (run as the "
                               "agent's user, or set [agent] state_dir to a writable directory)",
                               state_dir);
    default:
        return log_error_errno(r, "device key %s: %m", path);
    }
}

int posture_cli_key_open(const struct posture_cli_config *cfg, EVP_PKEY **ret)
{
    const struct posture_key_opts opts = {
        .source = POSTURE_KEY_SOURCE_FILE,
        .state_dir = cfg->agent.state_dir,
        .create = true,
    };
    int r;

    r = posture_key_open(&opts, ret);
    if (r < 0)
        return posture_cli_key_error(cfg->agent.state_dir, r);
    return 0;
}

static int print_jwk(EVP_PKEY *pkey)
{
    posture_auto_cjson cJSON *jwk = NULL;
    posture_autofree char *kid = NULL;
    int r;

    r = posture_key_jwk(pkey, &jwk);
    if (r >= 0)
        r = posture_key_thumbprint(pkey, &kid);
    if (r >= 0)
        r = posture_json_add_str(jwk, "kid", kid);
    if (r >= 0)
        r = posture_json_add_str(jwk, "alg", "ES256");
    if (r >= 0)
        r = posture_json_add_str(jwk, "use", "sig");
    if (r >= 0)
        r = posture_cli_print_json(stdout, jwk);
    if (r < 0)
        return log_error_errno(r, "Failed to print the public key: %m");
    return 0;
}

static int print_pem(EVP_PKEY *pkey)
{
    posture_autofree char *pem = NULL;
    int r;

    r = posture_key_public_pem(pkey, &pem);
    if (r < 0)
        return log_error_errno(r, "Failed to print the public key: %m");
    (void) fputs(pem, stdout);
    return 0;
}

int posture_cli_key(int argc, char **argv)
{
    enum { ARG_JWK = POSTURE_CLI_OPT__MAX, ARG_PEM };
    static const struct option options[] = {
        { "jwk", no_argument, NULL, ARG_JWK },
        { "pem", no_argument, NULL, ARG_PEM },
        { "json", no_argument, NULL, POSTURE_CLI_OPT_JSON },
        { "config", required_argument, NULL, POSTURE_CLI_OPT_CONFIG },
        { "help", no_argument, NULL, 'h' },
        {},
    };
    POSTURE_CLEANUP(posture_cli_config_done) struct posture_cli_config cfg = { 0 };
    struct posture_cli_common_args common = { 0 };
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    int c, r, format = ARG_JWK;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        switch (c) {
        case ARG_JWK:
        case ARG_PEM:
            format = c;
            break;
        default:
            r = posture_cli_common_option(command, c, argv, help, &common);
            if (r != POSTURE_CLI_RUN)
                return r;
        }
    }
    if (optind < argc)
        return posture_cli_extra_argument(command, argv[optind]);

    r = posture_cli_config_load(common.config, &cfg);
    if (r < 0)
        return POSTURE_EXIT_USAGE;
    r = posture_cli_key_open(&cfg, &pkey);
    if (r < 0)
        return POSTURE_EXIT_USAGE;

    r = format == ARG_PEM ? print_pem(pkey) : print_jwk(pkey);
    return r < 0 ? POSTURE_EXIT_USAGE : POSTURE_EXIT_OK;
}
