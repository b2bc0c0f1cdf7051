/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posture-verifier ca [--device] [--config FILE] [--state-dir DIR]
 * Print the CA certificate that agents pin for the verifier's TLS endpoint ([tls] cert of
 * verifier.conf: the last certificate of that file), or with --device the device CA that
 * gateways trust for client certificates (<state_dir>/device-ca.pem, created by the verifier
 * on first start).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "posture/cleanup.h"
#include "posture/fileio.h"
#include "posture/log.h"
#include "posture/ossl.h"

#include "verifier.h"
#include "verifier_config.h"
#include "vkeys.h"

#define CA_FILE_MAX ((size_t) 1024 * 1024)

enum {
    OPT_DEVICE = 0x100,
    OPT_STATE_DIR,
    OPT_CONFIG,
};

static void help(FILE *f)
{
    (void) fprintf(
        f, "Usage: " POSTURE_VERIFIER_PROGRAM " ca [--device] [--config FILE] [--state-dir DIR]\n"
           "\n"
           "Print the CA certificate (PEM) that agents pin for the verifier's TLS\n"
           "endpoint (the last certificate of [tls] cert), or with --device the device\n"
           "CA that gateways trust for client certificates.\n"
           "\n"
           "Options:\n"
           "  --device         the device CA (<state-dir>/device-ca.pem)\n"
           "  --config FILE    the configuration (default " POSTURE_VERIFIER_CONFIG_PATH ")\n"
           "  --state-dir DIR  instead of [verifier] state_dir\n"
           "  -h, --help       show this help\n");
}

/* The last certificate of the PEM file path, printed as PEM. */
static int print_last_cert(const char *path)
{
    posture_autofree char *buf = NULL;
    posture_autoclose int fd = -1;
    POSTURE_CLEANUP(BIO_freep) BIO *bio = NULL;
    POSTURE_CLEANUP(X509_freep) X509 *last = NULL;
    size_t len = 0;
    int r;

    fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = posture_read_fd(fd, CA_FILE_MAX, &buf, &len);
    if (r < 0)
        return r;
    bio = BIO_new_mem_buf(buf, (int) len);
    if (!bio)
        return -ENOMEM;
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x)
            break;
        X509_free(last);
        last = x;
    }
    ERR_clear_error();
    if (!last)
        return -EBADMSG;
    if (!PEM_write_X509(stdout, last))
        return -EIO;
    return 0;
}

int posture_verifier_ca(int argc, char **argv)
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "device", no_argument, NULL, OPT_DEVICE },
        { "state-dir", required_argument, NULL, OPT_STATE_DIR },
        { "config", required_argument, NULL, OPT_CONFIG },
        {},
    };
    const char *state_dir = NULL, *config = NULL;
    struct posture_verifier_config cfg = {};
    posture_autofree char *path = NULL;
    bool device = false;
    int c, r;

    optind = 0;
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): options are parsed before any thread starts */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
        switch (c) {
        case 'h':
            help(stdout);
            return POSTURE_VERIFIER_EXIT_OK;
        case OPT_DEVICE:
            device = true;
            break;
        case OPT_STATE_DIR:
            if (optarg[0] != '/') {
                log_error("ca: --state-dir '%s' must be an absolute path", optarg);
                return POSTURE_VERIFIER_EXIT_USAGE;
            }
            state_dir = optarg;
            break;
        case OPT_CONFIG:
            config = optarg;
            break;
        default:
            return posture_verifier_option_error("ca", c, argv);
        }
    }
    if (optind < argc) {
        log_error("ca: unexpected argument '%s'", argv[optind]);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }

    if (posture_verifier_load_config(config, &cfg) < 0)
        return POSTURE_VERIFIER_EXIT_USAGE;
    if (device) {
        if (asprintf(&path, "%s/%s", state_dir ? state_dir : cfg.state_dir,
                     POSTURE_VKEYS_CA_CERT_NAME) < 0)
            path = NULL;
    } else
        path = cfg.tls_cert ? strdup(cfg.tls_cert) : NULL;
    posture_verifier_config_done(&cfg);
    if (!path) {
        r = -ENOMEM;
        (void) log_error_errno(r, "ca: %m");
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    r = print_last_cert(path);
    if (r == -ENOENT) {
        log_error("ca: %s does not exist yet: 'posture-verifier serve' creates it on its first "
                  "start (or check --config and --state-dir)",
                  path);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    if (r < 0) {
        (void) log_error_errno(r, "ca: cannot print a certificate from %s: %m", path);
        return POSTURE_VERIFIER_EXIT_USAGE;
    }
    return POSTURE_VERIFIER_EXIT_OK;
}
