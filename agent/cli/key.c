/* SPDX-License-Identifier: Apache-2.0 */
/* posturectl key: print the device public key (DESIGN.md §4, §7), creating it on first use. */

#include "posture/key.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posture/agent_config.h"
#include "posture/json.h"
#include "posture/log.h"
#ifdef POSTURE_HAVE_TPM
#include "posture/key_tpm.h"
#endif

#include "cli.h"
#include "output.h"

static const char command[] = "key";

static void help(FILE *f)
{
    (void) fprintf(f, "Usage: " POSTURE_CLI_PROGRAM " key [--jwk|--pem] [--config FILE]\n"
                      "\n"
                      "Print this device's public key. The key is created on first use in the\n"
                      "state directory ([agent] state_dir) when that directory is writable: in\n"
                      "the TPM with [tpm] enabled = yes (or auto and a TPM is found), else as a\n"
                      "key file. An existing key is always kept.\n"
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
    case -EMEDIUMTYPE: /* replaced by a key of the other source while it was being opened */
        return log_error_errno(r,
                               "device key %s changed between a TPM key and a key file while it "
                               "was being opened; run again",
                               path);
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

#ifdef POSTURE_HAVE_TPM
/* The TPM key's errors, each naming the TCTI and the fix; the rest as for a file key. */
static int tpm_key_error(const struct posture_cli_config *cfg, const char *path, int r)
{
    const char *tcti = cfg->agent.tpm_tcti;

    switch (r) {
    case -ENODEV:
        return log_error_errno(r,
                               "cannot reach the TPM through TCTI \"%s\" for the device key %s: "
                               "start the TPM (or simulator) and check that this user may use it "
                               "(group tss), or set [tpm] tcti to the right TCTI",
                               tcti, path);
    case -ENOPKG:
        return log_error_errno(r,
                               "the TPM device key needs the OpenSSL provider \"tpm2\", which is "
                               "not installed: install tpm2-openssl, or set [tpm] enabled = no to "
                               "use a key file");
    case -ENOKEY:
        return log_error_errno(r,
                               "the TPM at TCTI \"%s\" cannot load the device key %s (it was "
                               "made by another TPM, or this TPM was cleared): the key is lost; "
                               "remove %s to create a new one, and enroll the device again",
                               tcti, path, path);
    case -EIO:
        return log_error_errno(r,
                               "the TPM at TCTI \"%s\" failed to create the device key %s "
                               "(POSTURE_LOG_LEVEL=debug shows why)",
                               tcti, path);
    default:
        return posture_cli_key_error(cfg->agent.state_dir, r);
    }
}
#endif

/*
 * The key source for cfg ([tpm] enabled, DESIGN.md §5) and the existing key file's kind: an
 * existing key always decides (posture_key_tpm_select()). Errors are logged.
 */
static int select_source(const struct posture_cli_config *cfg, const char *path, int existing)
{
    int mode = cfg->agent.tpm_mode;
    int r;

#ifdef POSTURE_HAVE_TPM
    r = posture_key_tpm_select(mode, existing, posture_key_tpm_tcti_usable(cfg->agent.tpm_tcti));
    if (r == -EMEDIUMTYPE)
        return log_error_errno(r,
                               "device key %s is held by the TPM, but [tpm] enabled = no: set "
                               "[tpm] enabled = auto or yes to use it (to replace it by a key "
                               "file instead, remove it and enroll the device again)",
                               path);
    if (r < 0)
        return log_error_errno(r, "Failed to choose the device key source: %m");
#else
    if (existing == POSTURE_KEY_SOURCE_TPM)
        return log_error_errno(-EOPNOTSUPP,
                               "device key %s is held by a TPM, but this " POSTURE_CLI_PROGRAM
                               " was built without TPM support",
                               path);
    if (existing != POSTURE_KEY_SOURCE_FILE && mode == POSTURE_TPM_YES)
        return log_error_errno(-EOPNOTSUPP,
                               "[tpm] enabled = yes, but this " POSTURE_CLI_PROGRAM " was built "
                               "without TPM support: set [tpm] enabled = auto or no");
    r = POSTURE_KEY_SOURCE_FILE;
#endif
    if (r == POSTURE_KEY_SOURCE_FILE && existing == POSTURE_KEY_SOURCE_FILE &&
        mode == POSTURE_TPM_YES)
        log_notice("device key %s is a key file; keeping it although [tpm] enabled = yes (a key "
                   "never changes by itself: to move it into the TPM, remove it and enroll the "
                   "device again)",
                   path);
    return r;
}

int posture_cli_key_open(const struct posture_cli_config *cfg, EVP_PKEY **ret)
{
    struct posture_key_opts opts = {
        .state_dir = cfg->agent.state_dir,
        .create = true,
        .tcti = cfg->agent.tpm_tcti,
#ifdef POSTURE_HAVE_TPM
        .tpm_open = posture_key_tpm_open,
#endif
    };
    posture_autofree char *path = NULL;
    int existing, source, r;

    if (asprintf(&path, "%s/%s", cfg->agent.state_dir, POSTURE_DEVICE_KEY_NAME) < 0)
        return log_error_errno(-ENOMEM, "Failed to open the device key: %m");

    /* The existing key's kind; a file that is not a recognisable key is left to the file
     * loader, whose error says what is wrong with it. */
    existing = posture_key_file_source(path);
    if (existing == -EBADMSG)
        existing = POSTURE_KEY_SOURCE_FILE;
    else if (existing < 0 && existing != -ENOENT && existing != -ENOTDIR)
        return posture_cli_key_error(cfg->agent.state_dir, existing);
    else if (existing < 0)
        existing = -ENOENT;

    source = select_source(cfg, path, existing);
    if (source < 0)
        return source;
    opts.source = source;

    r = posture_key_open(&opts, ret);
    if (r < 0) {
#ifdef POSTURE_HAVE_TPM
        if (source == POSTURE_KEY_SOURCE_TPM)
            return tpm_key_error(cfg, path, r);
#endif
        return posture_cli_key_error(cfg->agent.state_dir, r);
    }
    if (source == POSTURE_KEY_SOURCE_TPM)
        log_info("Using the TPM-resident device key %s (TCTI \"%s\").", path, cfg->agent.tpm_tcti);
    else
        log_info("Using the device key file %s.", path);
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
