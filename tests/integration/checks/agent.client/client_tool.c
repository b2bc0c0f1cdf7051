/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test driver for posture_http_request():
 *   client_tool BASE-URL PATH [--ca FILE] [--cert FILE --key FILE] [--post FILE --type T]
 *               [--timeout-ms N] [--plain] [--tpm-key FILE --tcti TCTI]
 * Prints "status=N type=T retry=R len=L" and then the body on success (exit 0), or
 * "error=<ERRNO-NAME>" (exit 1). Usage errors exit 2.
 */

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/key.h"
#ifdef POSTURE_HAVE_TPM
#include "posture/key_tpm.h"
#endif

#include "http_client.h"

int main(int argc, char **argv)
{
    static const struct option options[] = {
        { "ca", required_argument, NULL, 'a' },   { "cert", required_argument, NULL, 'c' },
        { "key", required_argument, NULL, 'k' },  { "post", required_argument, NULL, 'p' },
        { "type", required_argument, NULL, 't' }, { "timeout-ms", required_argument, NULL, 'T' },
        { "plain", no_argument, NULL, 'P' },      { "tpm-key", required_argument, NULL, 'K' },
        { "tcti", required_argument, NULL, 'C' }, {},
    };
    struct posture_http_client_opts opts = { 0 };
    posture_auto_http_client struct posture_http_client *client = NULL;
    posture_auto_evp_pkey EVP_PKEY *key = NULL;
    posture_autofree char *body = NULL;
    struct posture_http_response resp;
    const char *post = NULL, *type = NULL, *detail = NULL, *tpm_key = NULL, *tcti = NULL;
    size_t body_len = 0;
    int c, r;

    while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
        switch (c) {
        case 'a':
            opts.ca_file = optarg;
            break;
        case 'c':
            opts.cert_file = optarg;
            break;
        case 'k':
            r = posture_key_load_file(optarg, &key);
            if (r < 0) {
                (void) fprintf(stderr, "client_tool: key %s: %s\n", optarg, posture_errno_name(r));
                return 2;
            }
            opts.key = key;
            break;
        case 'p':
            post = optarg;
            break;
        case 't':
            type = optarg;
            break;
        case 'T':
            opts.total_timeout_usec = strtoull(optarg, NULL, 10) * 1000;
            break;
        case 'P':
            opts.allow_plain = 1;
            break;
        case 'K':
            tpm_key = optarg;
            break;
        case 'C':
            tcti = optarg;
            break;
        default:
            return 2;
        }
    }
    if (argc - optind != 2)
        return 2;
#ifdef POSTURE_HAVE_TPM
    if (tpm_key) {
        r = posture_key_tpm_load_file(tpm_key, tcti, &key);
        if (r < 0) {
            (void) fprintf(stderr, "client_tool: TPM key %s: %s\n", tpm_key, posture_errno_name(r));
            return 2;
        }
        opts.key = key;
    }
#else
    if (tpm_key || tcti)
        return 2;
#endif
    opts.base_url = argv[optind];
    if (post) {
        posture_autoclose int fd = open(post, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || posture_read_fd(fd, 4 << 20, &body, &body_len) < 0)
            return 2;
    }
    r = posture_http_client_new(&opts, &client);
    if (r < 0) {
        (void) printf("error=%s\n", posture_errno_name(r));
        return 1;
    }
    r = posture_http_request(client, argv[optind + 1], type ? type : "application/json", body,
                             body_len, &resp, &detail);
    if (r < 0) {
        (void) printf("error=%s\n", posture_errno_name(r));
        (void) fprintf(stderr, "client_tool: %s\n", detail ? detail : "");
        return 1;
    }
    (void) printf("status=%ld type=%s retry=%lld len=%zu\n%s\n", resp.status,
                  resp.content_type ? resp.content_type : "-", (long long) resp.retry_after_sec,
                  resp.body_len, resp.body_len < 200 ? resp.body : "(long)");
    posture_http_response_done(&resp);
    return 0;
}
