/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test driver for the evidence verification of a posturectl report (until `posture-verifier
 * verify` does it with a policy):
 *
 *   evidence_tool JWS-FILE EVIDENCE-FILE JWK-FILE NONCE-B64URL [AK-PUB-FILE]
 *
 * Verifies the report with the device key (JWK-FILE, as `posturectl key --jwk` prints it),
 * checks that its eat_nonce is NONCE, then posture_evidence_verify() with the enrolled AK
 * (AK-PUB-FILE, a TPM2B_PUBLIC as tpm2_readpublic -o writes it; without it the AK the evidence
 * carries). Prints one reason ("ok", "jws-signature-invalid", "report-nonce-mismatch",
 * "quote-binding-mismatch", "eventlog-truncated", ...) and, when the evidence was accepted with
 * a log, "secure-boot=<1|0|-1> events=<n>". Exit 0 accepted, 1 refused, 2 usage/system errors.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/evidence.h"
#include "posture/fileio.h"
#include "posture/jws.h"
#include "posture/key.h"

static int slurp(const char *path, size_t max, char **ret, size_t *ret_len)
{
    posture_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    int r;

    if (fd < 0) {
        (void) fprintf(stderr, "evidence_tool: %s: %m\n", path);
        return -1;
    }
    r = posture_read_fd(fd, max, ret, ret_len);
    if (r < 0) {
        (void) fprintf(stderr, "evidence_tool: %s: %s\n", path, posture_errno_name(r));
        return -1;
    }
    return 0;
}

static int refuse(const char *reason)
{
    (void) printf("%s\n", reason);
    return 1;
}

int main(int argc, char **argv)
{
    posture_autofree char *jws_text = NULL, *ev_text = NULL, *jwk_text = NULL, *akpub = NULL;
    posture_auto_cjson cJSON *jwk = NULL;
    posture_auto_evp_pkey EVP_PKEY *key = NULL;
    posture_auto_jws struct posture_jws *jws = NULL;
    posture_auto_evidence struct posture_evidence *e = NULL;
    posture_autofree uint8_t *nonce = NULL;
    struct posture_quote_ak *ak = NULL;
    struct posture_evidence_verdict v;
    char buf[POSTURE_EVIDENCE_REASON_MAX];
    size_t jws_len, ev_len, jwk_len, akpub_len = 0, nonce_len;
    const char *why = NULL, *eat_nonce;
    int reason = 0, r;

    if (argc != 5 && argc != 6) {
        (void) fprintf(stderr, "usage: evidence_tool JWS EVIDENCE JWK NONCE [AK-PUB]\n");
        return 2;
    }
    if (slurp(argv[1], POSTURE_JWS_MAX_SIZE + 2, &jws_text, &jws_len) < 0 ||
        slurp(argv[2], POSTURE_EVIDENCE_MAX_SIZE, &ev_text, &ev_len) < 0 ||
        slurp(argv[3], 4096, &jwk_text, &jwk_len) < 0 ||
        (argc == 6 && slurp(argv[5], POSTURE_QUOTE_INPUT_MAX, &akpub, &akpub_len) < 0))
        return 2;
    while (jws_len > 0 && (jws_text[jws_len - 1] == '\n'))
        jws_len--;
    if (posture_json_parse(jwk_text, jwk_len, 4096, 4, &jwk) < 0 ||
        posture_key_from_jwk(jwk, &key) < 0) {
        (void) fprintf(stderr, "evidence_tool: %s: not a P-256 JWK\n", argv[3]);
        return 2;
    }
    r = posture_b64url_decode(argv[4], strlen(argv[4]), POSTURE_QUOTE_NONCE_MAX, &nonce,
                              &nonce_len);
    if (r < 0) {
        (void) fprintf(stderr, "evidence_tool: the nonce is not base64url\n");
        return 2;
    }

    const struct posture_jws_verify_opts opts = {
        .typ = POSTURE_JWS_TYP_REPORT,
        .now = (int64_t) time(NULL),
        .max_lifetime_sec = POSTURE_REPORT_LIFETIME_SEC,
    };
    r = posture_jws_verify(jws_text, jws_len, key, &opts, &reason, &jws);
    if (r == -EBADMSG)
        return refuse(posture_jws_reason_to_string(reason));
    if (r < 0)
        return 2;
    eat_nonce = posture_json_get_str(jws->payload, "eat_nonce");
    if (!eat_nonce || strcmp(eat_nonce, argv[4]) != 0)
        return refuse("report-nonce-mismatch");

    r = posture_evidence_parse(ev_text, ev_len, &e, &why);
    if (r < 0) {
        (void) fprintf(stderr, "evidence_tool: %s: %s\n", argv[2],
                       why ? why : posture_errno_name(r));
        return refuse("evidence-malformed");
    }
    if (akpub)
        r = posture_quote_ak_new((const uint8_t *) akpub, akpub_len, NULL, 0, &ak);
    else if (e->ak_public)
        r = posture_quote_ak_new(e->ak_public, e->ak_public_len, NULL, 0, &ak);
    else
        r = -ENOENT;
    if (r < 0) {
        (void) fprintf(stderr, "evidence_tool: no usable AK: %s\n", posture_errno_name(r));
        return refuse("ak-unusable");
    }

    const struct posture_evidence_expect expect = {
        .nonce = nonce,
        .nonce_len = nonce_len,
        .payload = (const uint8_t *) jws->payload_raw,
        .payload_len = jws->payload_len,
        .pcr_mask = POSTURE_QUOTE_PCR_MASK_DEFAULT,
    };
    r = posture_evidence_verify(ak, e, &expect, &v);
    posture_quote_ak_free(ak);
    if (r < 0)
        return 2;
    (void) printf("%s\n", posture_evidence_verdict_reason(&v, buf));
    if (v.step == POSTURE_EVIDENCE_STEP_OK && v.secure_boot)
        (void) printf("secure-boot=%d events=%zu\n", v.secure_boot->secure_boot, v.log->n_events);
    r = v.step == POSTURE_EVIDENCE_STEP_OK ? 0 : 1;
    posture_evidence_verdict_done(&v);
    return r;
}
