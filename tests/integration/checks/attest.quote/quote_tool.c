/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test driver for posture_quote_verify() on files produced by tpm2-tools:
 *
 *   quote_tool binding NONCE-FILE PAYLOAD-FILE
 *       print posture_quote_binding() in hex (what tpm2_quote -q takes)
 *   quote_tool verify AK-PUB ATTEST SIG PCRS NONCE-FILE PAYLOAD-FILE [options]
 *       AK-PUB is a TPM2B_PUBLIC (tpm2_readpublic -o), ATTEST/SIG come from tpm2_quote -m/-s,
 *       PCRS is the raw concatenation of the selected SHA-256 PCR values (tpm2_pcrread -o).
 *       Prints the reason string ("ok", "quote-signature-invalid", ...); exits 0 when the quote
 *       is accepted, 1 when it is rejected, 2 on usage or system errors.
 *       --mask=255             the policy's selection, decimal bit mask (default PCR 0-7)
 *       --parent-qname=FILE    the AK's parent's qualified name (default: endorsement primary)
 *       --previous=CLOCK:RESET:RESTART   the last accepted clockInfo
 *       --print-clock          also print "clock reset restart" of an accepted quote
 *       --repeat=N             verify N times and print verifications per second (benchmark)
 *       --eventlog[=| ]FILE    once the quote is accepted, parse FILE (binary_bios_measurements)
 *                              and compare its SHA-256 replay with the PCR values of the mask
 *                              (posture_quote_check_replay()); a refused log prints
 *                              "eventlog-<reason>" ("eventlog-truncated", ...)
 *   quote_tool makecredential EK-PUB AK-NAME-FILE SECRET-FILE OUT
 *       posture_makecredential() written as tpm2-tools' credential file (magic 0xBADCC0DE,
 *       version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET) for tpm2_activatecredential -i.
 */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/eventlog.h"
#include "posture/fileio.h"
#include "posture/makecredential.h"
#include "posture/parse.h"
#include "posture/quote.h"

static int read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
    posture_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    char *buf = NULL;
    int r;

    if (fd < 0) {
        (void) fprintf(stderr, "quote_tool: %s: %m\n", path);
        return -1;
    }
    r = posture_read_fd(fd, max, &buf, ret_len);
    if (r < 0) {
        (void) fprintf(stderr, "quote_tool: %s: %s\n", path, posture_errno_name(r));
        return -1;
    }
    *ret = (uint8_t *) buf;
    return 0;
}

static void print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        (void) printf("%02x", p[i]);
    (void) printf("\n");
}

static double now_sec(void)
{
    struct timespec ts;
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmd_binding(int argc, char **argv)
{
    posture_autofree uint8_t *nonce = NULL, *payload = NULL;
    size_t nonce_len, payload_len;
    uint8_t b[POSTURE_QUOTE_BINDING_SIZE];

    if (argc != 4)
        return 2;
    if (read_file(argv[2], POSTURE_QUOTE_NONCE_MAX, &nonce, &nonce_len) < 0 ||
        read_file(argv[3], 1 << 20, &payload, &payload_len) < 0)
        return 2;
    if (posture_quote_binding(nonce, nonce_len, payload, payload_len, b) < 0)
        return 2;
    print_hex(b, sizeof(b));
    return 0;
}

static int parse_previous(const char *s, struct posture_quote_clock *ret)
{
    char clock[32], reset[16], restart[16];
    const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    uint32_t rs, rt;
    uint64_t ck;

    if (!c2 || (size_t) (c1 - s) >= sizeof(clock) || (size_t) (c2 - c1 - 1) >= sizeof(reset) ||
        strlen(c2 + 1) >= sizeof(restart))
        return -1;
    memcpy(clock, s, (size_t) (c1 - s));
    clock[c1 - s] = '\0';
    memcpy(reset, c1 + 1, (size_t) (c2 - c1 - 1));
    reset[c2 - c1 - 1] = '\0';
    memcpy(restart, c2 + 1, strlen(c2 + 1) + 1);
    if (posture_parse_u64(clock, &ck) < 0 || posture_parse_u32(reset, &rs) < 0 ||
        posture_parse_u32(restart, &rt) < 0)
        return -1;
    *ret = (struct posture_quote_clock){ .clock = ck, .reset_count = rs, .restart_count = rt };
    return 0;
}

/* Step 11-12 on the verified PCR values: parse the log, then compare its SHA-256 replay. Prints
 * the verdict; returns the exit code (0 accepted, 1 rejected, 2 could not decide). */
static int
check_eventlog(const char *path, uint32_t mask, const struct posture_quote_pcr *pcrs, size_t n_pcrs)
{
    posture_autofree uint8_t *buf = NULL;
    posture_auto_eventlog struct posture_eventlog *log = NULL;
    struct posture_eventlog_problem problem = { 0 };
    uint8_t replayed[POSTURE_QUOTE_PCR_MAX][POSTURE_QUOTE_DIGEST_SIZE];
    enum posture_quote_reason reason = POSTURE_QUOTE_REASON__INVALID;
    size_t len = 0;
    int r;

    if (read_file(path, POSTURE_EVENTLOG_MAX_SIZE, &buf, &len) < 0)
        return 2;
    r = posture_eventlog_parse(buf, len, &log, &problem);
    if (r == -EBADMSG) {
        (void) fprintf(stderr, "quote_tool: event log refused at record %lld\n",
                       (long long) problem.event);
        (void) printf("eventlog-%s\n", posture_eventlog_reason_to_string(problem.reason));
        return 1;
    }
    if (r < 0) {
        (void) fprintf(stderr, "quote_tool: event log: %s\n", posture_errno_name(r));
        return 2;
    }
    for (unsigned i = 0; i < POSTURE_QUOTE_PCR_MAX; i++) {
        const uint8_t *value = NULL;
        size_t value_len = 0;
        r = posture_eventlog_pcr(log, POSTURE_TPM_ALG_SHA256, i, &value, &value_len);
        if (r == -ENOENT) { /* a SHA-1-only log has nothing to compare with a SHA-256 quote */
            (void) printf("eventlog-%s\n",
                          posture_eventlog_reason_to_string(POSTURE_EVENTLOG_BANK_MISSING));
            return 1;
        }
        if (r < 0 || value_len != POSTURE_QUOTE_DIGEST_SIZE) {
            (void) fprintf(stderr, "quote_tool: replayed PCR %u: %s\n", i, posture_errno_name(r));
            return 2;
        }
        memcpy(replayed[i], value, POSTURE_QUOTE_DIGEST_SIZE);
    }
    r = posture_quote_check_replay(mask, pcrs, n_pcrs,
                                   (const uint8_t(*)[POSTURE_QUOTE_DIGEST_SIZE]) replayed,
                                   POSTURE_QUOTE_PCR_MAX, &reason);
    if (r < 0) {
        (void) fprintf(stderr, "quote_tool: replay check: %s\n", posture_errno_name(r));
        return 2;
    }
    (void) printf("%s\n", posture_quote_reason_to_string(reason));
    return reason == POSTURE_QUOTE_OK ? 0 : 1;
}

static int cmd_verify(int argc, char **argv)
{
    posture_autofree uint8_t *akpub = NULL, *attest = NULL, *sig = NULL, *pcrbuf = NULL,
                             *nonce = NULL, *payload = NULL, *parent = NULL;
    const char *eventlog = NULL;
    size_t akpub_len, attest_len, sig_len, pcr_len, nonce_len, payload_len, parent_len = 0;
    struct posture_quote_ak *ak = NULL;
    struct posture_quote_pcr pcrs[POSTURE_QUOTE_PCR_MAX];
    struct posture_quote_clock previous;
    bool have_previous = false, print_clock = false;
    uint32_t mask = POSTURE_QUOTE_PCR_MASK_DEFAULT, repeat = 1;
    uint8_t binding[POSTURE_QUOTE_BINDING_SIZE];
    size_t n = 0;
    int r;

    if (argc < 8)
        return 2;
    for (int i = 8; i < argc; i++) {
        if (strncmp(argv[i], "--mask=", 7) == 0) {
            if (posture_parse_u32(argv[i] + 7, &mask) < 0 || mask == 0 || (mask >> 24) != 0) {
                (void) fprintf(stderr, "quote_tool: bad --mask (a decimal PCR bit mask)\n");
                return 2;
            }
        } else if (strncmp(argv[i], "--parent-qname=", 15) == 0) {
            if (read_file(argv[i] + 15, 128, &parent, &parent_len) < 0)
                return 2;
        } else if (strncmp(argv[i], "--previous=", 11) == 0) {
            if (parse_previous(argv[i] + 11, &previous) < 0)
                return 2;
            have_previous = true;
        } else if (strncmp(argv[i], "--eventlog=", 11) == 0 && argv[i][11] != '\0') {
            eventlog = argv[i] + 11;
        } else if (strcmp(argv[i], "--eventlog") == 0 && i + 1 < argc) {
            eventlog = argv[++i];
        } else if (strcmp(argv[i], "--print-clock") == 0) {
            print_clock = true;
        } else if (strncmp(argv[i], "--repeat=", 9) == 0) {
            if (posture_parse_u32(argv[i] + 9, &repeat) < 0 || repeat == 0)
                return 2;
        } else {
            (void) fprintf(stderr, "quote_tool: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (read_file(argv[2], POSTURE_QUOTE_INPUT_MAX, &akpub, &akpub_len) < 0 ||
        read_file(argv[3], POSTURE_QUOTE_INPUT_MAX, &attest, &attest_len) < 0 ||
        read_file(argv[4], POSTURE_QUOTE_INPUT_MAX, &sig, &sig_len) < 0 ||
        read_file(argv[5], POSTURE_QUOTE_INPUT_MAX, &pcrbuf, &pcr_len) < 0 ||
        read_file(argv[6], POSTURE_QUOTE_NONCE_MAX, &nonce, &nonce_len) < 0 ||
        read_file(argv[7], 1 << 20, &payload, &payload_len) < 0)
        return 2;
    /* The values file holds the selected PCRs in index order. */
    for (unsigned idx = 0; idx < POSTURE_QUOTE_PCR_MAX; idx++) {
        if (!(mask & (1u << idx)))
            continue;
        if ((n + 1) * POSTURE_QUOTE_DIGEST_SIZE > pcr_len)
            break;
        pcrs[n].index = idx;
        memcpy(pcrs[n].digest, pcrbuf + n * POSTURE_QUOTE_DIGEST_SIZE, POSTURE_QUOTE_DIGEST_SIZE);
        n++;
    }
    if (posture_quote_binding(nonce, nonce_len, payload, payload_len, binding) < 0)
        return 2;
    r = posture_quote_ak_new(akpub, akpub_len, parent, parent_len, &ak);
    if (r < 0) {
        (void) fprintf(stderr, "quote_tool: AK: %s\n", posture_errno_name(r));
        (void) printf("ak-rejected\n");
        return 1;
    }

    struct posture_quote_expect expect = {
        .extra_data = binding,
        .extra_data_len = sizeof(binding),
        .pcr_mask = mask,
        .pcrs = pcrs,
        .n_pcrs = n,
        .previous = have_previous ? &previous : NULL,
    };
    struct posture_quote_info info = { 0 };
    enum posture_quote_reason reason = POSTURE_QUOTE_REASON__INVALID;
    double t0 = now_sec();
    for (uint32_t i = 0; i < repeat; i++) {
        r = posture_quote_verify(ak, attest, attest_len, sig, sig_len, &expect, &info, &reason);
        if (r < 0)
            break;
    }
    double t1 = now_sec();
    ak = posture_quote_ak_free(ak);
    if (r < 0) {
        (void) fprintf(stderr, "quote_tool: verify: %s\n", posture_errno_name(r));
        return 2;
    }
    if (reason == POSTURE_QUOTE_OK && eventlog) {
        r = check_eventlog(eventlog, mask, pcrs, n);
        if (r != 0)
            return r;
    } else {
        (void) printf("%s\n", posture_quote_reason_to_string(reason));
    }
    if (print_clock && reason == POSTURE_QUOTE_OK)
        (void) printf("%llu %u %u\n", (unsigned long long) info.clock.clock, info.clock.reset_count,
                      info.clock.restart_count);
    if (repeat > 1)
        (void) printf("%.0f verifications/s (%u in %.3f s)\n", (double) repeat / (t1 - t0), repeat,
                      t1 - t0);
    return reason == POSTURE_QUOTE_OK ? 0 : 1;
}

static int cmd_makecredential(int argc, char **argv)
{
    posture_autofree uint8_t *ek = NULL, *name = NULL, *secret = NULL;
    size_t ek_len, name_len, secret_len;
    struct posture_credential *c = NULL;
    static const uint8_t header[8] = { 0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1 };
    int r;

    if (argc != 6)
        return 2;
    if (read_file(argv[2], POSTURE_QUOTE_INPUT_MAX, &ek, &ek_len) < 0 ||
        read_file(argv[3], 128, &name, &name_len) < 0 ||
        read_file(argv[4], 128, &secret, &secret_len) < 0)
        return 2;
    r = posture_makecredential(ek, ek_len, name, name_len, secret, secret_len, &c);
    if (r < 0) {
        (void) fprintf(stderr, "quote_tool: makecredential: %s\n", posture_errno_name(r));
        return 1;
    }
    posture_autofclose FILE *f = fopen(argv[5], "we");
    bool ok =
        f && fwrite(header, 1, sizeof(header), f) == sizeof(header) &&
        fwrite(c->id_object, 1, c->id_object_len, f) == c->id_object_len &&
        fwrite(c->encrypted_secret, 1, c->encrypted_secret_len, f) == c->encrypted_secret_len &&
        fflush(f) == 0;
    c = posture_credential_free(c);
    if (!ok) {
        (void) fprintf(stderr, "quote_tool: %s: %m\n", argv[5]);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "makecredential") == 0)
        return cmd_makecredential(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "binding") == 0)
        return cmd_binding(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc, argv);
    (void) fprintf(stderr,
                   "usage: quote_tool binding NONCE PAYLOAD | verify AK ATTEST SIG PCRS NONCE "
                   "PAYLOAD [--mask=M] [--parent-qname=F] [--previous=C:R:S] [--print-clock] "
                   "[--repeat=N] [--eventlog=FILE]\n");
    return 2;
}
