/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Appraisal crypto per submission, in process, on one core (DESIGN.md §10; driven by
 * tests/bench/attest_verify.sh, which makes the quote with swtpm):
 *
 *   attest_verify prepare DIR
 *       write DIR/payload.json (a posture report's claims: iat now, exp iat + 120, a random
 *       32-byte eat_nonce, ten checks) and DIR/nonce.bin (eat_nonce's bytes); print
 *       posture_quote_binding(nonce, payload) in hex, for the quote
 *   attest_verify run DIR LOG [MILLISECONDS]
 *       DIR also holds the agent's quote of the replayed log (tpm_quote_tool: ak.pub,
 *       quote.attest, quote.sig, pcrs.bin of PCR 0-7). Signs payload.json as a compact JWS
 *       with a P-256 key made here, then times what the verifier does with a submission:
 *         1. posture_jws_verify() with the device's public key, eat_nonce decoded
 *         2. posture_quote_binding() over the verified payload bytes + posture_quote_verify()
 *         3. posture_eventlog_parse() of LOG
 *         4. the replay comparison: the SHA-256 replay of PCR 0-7 against the quoted values
 *            (posture_quote_check_replay())
 *       each part alone, then all four in a row per submission. Each timing loop runs for
 *       MILLISECONDS (default 500; the full pipeline twice as long) in three rounds, and the
 *       fastest round's mean is reported; pinned to the CPU it starts on, after a warm-up.
 *       Also timed, outside the total: the AK parse (once per enrolment) and the Secure Boot
 *       rules of step 13 (posture_eventlog_secure_boot()). Policy and store are not measured.
 *
 * Prints figures and asserts only that every verification accepts (exit 1 otherwise, 2 on
 * usage or system errors). Never a timed test.
 */

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/eventlog.h"
#include "posture/fileio.h"
#include "posture/jws.h"
#include "posture/key.h"
#include "posture/parse.h"
#include "posture/quote.h"

#define PCR_MASK   POSTURE_QUOTE_PCR_MASK_DEFAULT
#define NONCE_SIZE 32u

struct bench {
    /* inputs */
    char *token; /* the signed report */
    size_t token_len;
    EVP_PKEY *device_pub; /* the verifier's copy: public key only */
    uint8_t *akpub, *attest, *sig, *pcrbuf, *logbuf;
    size_t akpub_len, attest_len, sig_len, pcr_len, log_len;
    struct posture_quote_ak *ak;
    struct posture_quote_pcr pcrs[POSTURE_QUOTE_PCR_MAX];
    size_t n_pcrs;
    int64_t now;
    /* what the parts hand on, for the parts timed alone */
    struct posture_jws *jws; /* the verified report: part 2's payload bytes */
    uint8_t nonce[NONCE_SIZE];
    struct posture_eventlog *log; /* part 4's input */
    uint8_t binding[POSTURE_QUOTE_BINDING_SIZE];
};

static double now_sec(void)
{
    struct timespec ts;
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int read_path(const char *dir, const char *name, size_t max, uint8_t **ret, size_t *ret_len)
{
    char path[4096];
    char *buf = NULL;
    int r;

    if ((size_t) snprintf(path, sizeof(path), "%s%s%s", dir ? dir : "", dir ? "/" : "", name) >=
        sizeof(path))
        return -ENAMETOOLONG;
    posture_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        r = posture_negative_errno();
        (void) fprintf(stderr, "attest_verify: %s: %s\n", path, posture_errno_name(r));
        return r;
    }
    r = posture_read_fd(fd, max, &buf, ret_len);
    if (r < 0) {
        (void) fprintf(stderr, "attest_verify: %s: %s\n", path, posture_errno_name(r));
        return r;
    }
    *ret = (uint8_t *) buf;
    return 0;
}

static int write_path(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];
    if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return -ENAMETOOLONG;
    posture_autofclose FILE *f = fopen(path, "we");
    if (!f || fwrite(p, 1, n, f) != n || fflush(f) != 0) {
        (void) fprintf(stderr, "attest_verify: %s: %m\n", path);
        return -EIO;
    }
    return 0;
}

/* A report shaped like GATEWAYS.md §4.4 with ten checks (about 2 KiB). */
static int make_payload(const char *nonce_b64, int64_t iat, char *buf, size_t size)
{
    static const char *const checks[] = {
        "{\"id\":\"os.patch_level\",\"status\":\"pass\",\"observed_at\":%lld,\"evidence\":"
        "{\"os\":\"debian\",\"version\":\"12.12\",\"pending_security_updates\":0}}",
        "{\"id\":\"disk.encryption\",\"status\":\"pass\",\"observed_at\":%lld,\"evidence\":"
        "{\"root_fs\":\"luks2\",\"cipher\":\"aes-xts-plain64\",\"tpm_sealed\":true}}",
        "{\"id\":\"net.firewall\",\"status\":\"fail\",\"observed_at\":%lld,\"evidence\":"
        "{\"backend\":\"nftables\",\"default_input_policy\":\"accept\"},\"reason\":\"default "
        "input policy is accept\"}",
        "{\"id\":\"boot.secure_boot\",\"status\":\"pass\",\"observed_at\":%lld,\"evidence\":"
        "{\"secure_boot\":true,\"setup_mode\":false}}",
        "{\"id\":\"time.sync\",\"status\":\"pass\",\"observed_at\":%lld,\"evidence\":"
        "{\"synchronized\":true,\"source\":\"systemd-timesyncd\"}}",
        "{\"id\":\"os.screen_lock\",\"status\":\"pass\",\"observed_at\":%lld,\"evidence\":"
        "{\"idle_delay_sec\":300,\"lock_enabled\":true}}",
        "{\"id\":\"os.kernel\",\"status\":\"pass\",\"observed_at\":%lld,\"evidence\":"
        "{\"release\":\"6.1.0-27-amd64\",\"lockdown\":\"integrity\"}}",
        "{\"id\":\"auth.ssh\",\"status\":\"warn\",\"observed_at\":%lld,\"evidence\":"
        "{\"password_authentication\":false,\"root_login\":\"prohibit-password\"}}",
        "{\"id\":\"av.clamav\",\"status\":\"not_applicable\",\"observed_at\":%lld,\"evidence\":"
        "{}}",
        "{\"id\":\"boot.tpm_attested\",\"status\":\"pass\",\"observed_at\":%lld,\"evidence\":"
        "{\"pcrs\":[0,1,2,3,4,5,6,7],\"secure_boot\":true}}",
    };
    int n = snprintf(buf, size,
                     "{\"iss\":\"spiffe://corp.example/device/bench\",\"sub\":\"spiffe://"
                     "corp.example/device/bench\",\"aud\":\"https://verifier.corp.example/v1/"
                     "posture\",\"iat\":%lld,\"exp\":%lld,\"jti\":\"0b9d5c8e-5a55-4c0e-8d2e-"
                     "5d1e3c9f4a77\",\"eat_nonce\":\"%s\",\"eat_profile\":\"tag:corp.example,"
                     "2026:posture-report/v1\",\"ueid\":\"AX86DFKKHkwbnR8rb3qeDBE\",\"swname\":"
                     "\"posture-agent\",\"swversion\":[\"0.1.0\"],\"seq\":42,\"posture\":{"
                     "\"collected_at\":%lld,\"checks\":[",
                     (long long) iat, (long long) iat + POSTURE_REPORT_LIFETIME_SEC, nonce_b64,
                     (long long) iat);
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(checks); i++) {
        if (n < 0 || (size_t) n >= size)
            return -ENOBUFS;
        if (i > 0)
            buf[n++] = ',';
            /* the formats are the constants above */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        int m = snprintf(buf + n, size - (size_t) n, checks[i], (long long) iat - 5);
#pragma GCC diagnostic pop
        if (m < 0)
            return -ENOBUFS;
        n += m;
    }
    if (n < 0 || (size_t) n + 4 > size)
        return -ENOBUFS;
    memcpy(buf + n, "]}}", 4);
    return n + 3;
}

static int cmd_prepare(const char *dir)
{
    uint8_t nonce[NONCE_SIZE], binding[POSTURE_QUOTE_BINDING_SIZE];
    char nonce_b64[64], payload[8192];
    int n, r;

    if (RAND_bytes(nonce, sizeof(nonce)) != 1)
        return 2;
    r = posture_b64url_encode_buf(nonce, sizeof(nonce), nonce_b64, sizeof(nonce_b64));
    if (r < 0)
        return 2;
    n = make_payload(nonce_b64, (int64_t) time(NULL), payload, sizeof(payload));
    if (n < 0)
        return 2;
    if (write_path(dir, "nonce.bin", nonce, sizeof(nonce)) < 0 ||
        write_path(dir, "payload.json", payload, (size_t) n) < 0)
        return 2;
    if (posture_quote_binding(nonce, sizeof(nonce), (const uint8_t *) payload, (size_t) n,
                              binding) < 0)
        return 2;
    for (size_t i = 0; i < sizeof(binding); i++)
        (void) printf("%02x", binding[i]);
    (void) printf("\n");
    return 0;
}

/* Part 1: the JWS, and the nonce out of its claims. */
static int part_jws(struct bench *b, struct posture_jws **ret, uint8_t nonce[NONCE_SIZE])
{
    const struct posture_jws_verify_opts opts = {
        .typ = POSTURE_JWS_TYP_REPORT,
        .now = b->now,
        .max_lifetime_sec = POSTURE_REPORT_LIFETIME_SEC,
    };
    posture_auto_jws struct posture_jws *jws = NULL;
    int reason = POSTURE_JWS_OK, r;

    r = posture_jws_verify(b->token, b->token_len, b->device_pub, &opts, &reason, &jws);
    if (r < 0) {
        (void) fprintf(stderr, "attest_verify: JWS: %s %s\n", posture_errno_name(r),
                       posture_jws_reason_to_string(reason));
        return r;
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(jws->payload, "eat_nonce");
    if (!cJSON_IsString(n) || posture_b64url_decode_buf(n->valuestring, strlen(n->valuestring),
                                                        nonce, NONCE_SIZE) != (int) NONCE_SIZE)
        return -EBADMSG;
    *ret = POSTURE_TAKE_PTR(jws);
    return 0;
}

/* Part 2: the binding over the verified payload, and the quote. */
static int part_quote(struct bench *b, const uint8_t *nonce, const char *payload, size_t len)
{
    enum posture_quote_reason reason = POSTURE_QUOTE_REASON__INVALID;
    int r;

    r = posture_quote_binding(nonce, NONCE_SIZE, (const uint8_t *) payload, len, b->binding);
    if (r < 0)
        return r;
    const struct posture_quote_expect expect = {
        .extra_data = b->binding,
        .extra_data_len = sizeof(b->binding),
        .pcr_mask = PCR_MASK,
        .pcrs = b->pcrs,
        .n_pcrs = b->n_pcrs,
    };
    r = posture_quote_verify(b->ak, b->attest, b->attest_len, b->sig, b->sig_len, &expect, NULL,
                             &reason);
    if (r < 0)
        return r;
    if (reason != POSTURE_QUOTE_OK) {
        (void) fprintf(stderr, "attest_verify: quote: %s\n",
                       posture_quote_reason_to_string(reason));
        return -EBADMSG;
    }
    return 0;
}

/* Part 3: the event log. */
static int part_parse(struct bench *b, struct posture_eventlog **ret)
{
    struct posture_eventlog_problem problem = { 0 };
    int r = posture_eventlog_parse(b->logbuf, b->log_len, ret, &problem);
    if (r < 0)
        (void) fprintf(stderr, "attest_verify: event log: %s %s\n", posture_errno_name(r),
                       r == -EBADMSG ? posture_eventlog_reason_to_string(problem.reason) : "");
    return r;
}

/* Part 4: the SHA-256 replay against the quoted (already verified) values. */
static int part_replay(struct bench *b, const struct posture_eventlog *log)
{
    uint8_t replayed[POSTURE_QUOTE_PCR_MAX][POSTURE_QUOTE_DIGEST_SIZE];
    enum posture_quote_reason reason = POSTURE_QUOTE_REASON__INVALID;
    unsigned top = 32u - (unsigned) __builtin_clz(PCR_MASK);
    int r;

    for (unsigned i = 0; i < top; i++) {
        const uint8_t *v = NULL;
        size_t len = 0;
        r = posture_eventlog_pcr(log, POSTURE_TPM_ALG_SHA256, i, &v, &len);
        if (r < 0 || len != POSTURE_QUOTE_DIGEST_SIZE)
            return r < 0 ? r : -EBADMSG;
        memcpy(replayed[i], v, POSTURE_QUOTE_DIGEST_SIZE);
    }
    r = posture_quote_check_replay(PCR_MASK, b->pcrs, b->n_pcrs,
                                   (const uint8_t(*)[POSTURE_QUOTE_DIGEST_SIZE]) replayed, top,
                                   &reason);
    if (r < 0)
        return r;
    if (reason != POSTURE_QUOTE_OK) {
        (void) fprintf(stderr, "attest_verify: replay: %s\n",
                       posture_quote_reason_to_string(reason));
        return -EBADMSG;
    }
    return 0;
}

/* One submission, parts 1-4 in a row. */
static int submission(struct bench *b)
{
    posture_auto_jws struct posture_jws *jws = NULL;
    posture_auto_eventlog struct posture_eventlog *log = NULL;
    uint8_t nonce[NONCE_SIZE];
    int r;

    r = part_jws(b, &jws, nonce);
    if (r >= 0)
        r = part_quote(b, nonce, jws->payload_raw, jws->payload_len);
    if (r >= 0)
        r = part_parse(b, &log);
    if (r >= 0)
        r = part_replay(b, log);
    return r;
}

enum part { PART_JWS, PART_QUOTE, PART_PARSE, PART_REPLAY, PART_FULL, PART_AK, PART_SB };

static const char *const part_names[] = {
    [PART_JWS] = "1. JWS ES256 verify + claims, eat_nonce decoded",
    [PART_QUOTE] = "2. binding + posture_quote_verify (ECDSA P-256)",
    [PART_PARSE] = "3. posture_eventlog_parse",
    [PART_REPLAY] = "4. replay comparison, PCR 0-7",
    [PART_FULL] = "full submission (1-4 in a row)",
    [PART_AK] = "AK parse (posture_quote_ak_new)",
    [PART_SB] = "step 13 Secure Boot rules",
};

static int run_once(struct bench *b, enum part p)
{
    uint8_t nonce[NONCE_SIZE];
    int r;

    switch (p) {
    case PART_JWS: {
        struct posture_jws *jws = NULL;
        r = part_jws(b, &jws, nonce);
        jws = posture_jws_free(jws);
        return r;
    }
    case PART_QUOTE:
        return part_quote(b, b->nonce, b->jws->payload_raw, b->jws->payload_len);
    case PART_PARSE: {
        struct posture_eventlog *log = NULL;
        r = part_parse(b, &log);
        log = posture_eventlog_free(log);
        return r;
    }
    case PART_REPLAY:
        return part_replay(b, b->log);
    case PART_FULL:
        return submission(b);
    case PART_AK: {
        struct posture_quote_ak *ak = NULL;
        r = posture_quote_ak_new(b->akpub, b->akpub_len, NULL, 0, &ak);
        ak = posture_quote_ak_free(ak);
        return r;
    }
    case PART_SB: {
        struct posture_eventlog_problem problem = { 0 };
        struct posture_eventlog_secure_boot *sb = NULL;
        r = posture_eventlog_secure_boot(b->log, &sb, &problem);
        sb = posture_eventlog_secure_boot_free(sb);
        /* a refusal is a verdict too: still the cost of the rules */
        return r == -EBADMSG ? 0 : r;
    }
    }
    return -EINVAL;
}

/* Run p for about seconds, in three rounds; the mean time of one run in the fastest round, in
 * µs (the machine may be shared: the fastest round is the least disturbed), or a negative
 * errno. */
static int time_part(struct bench *b, enum part p, double seconds, double *ret_us, long *ret_n)
{
    double best = 0;
    long total = 0;
    int r;

    for (int round = 0; round < 3; round++) {
        long n = 0;
        double t0 = now_sec(), t1 = t0;
        while (t1 - t0 < seconds / 3) {
            for (int i = 0; i < 16; i++) {
                r = run_once(b, p);
                if (r < 0)
                    return r;
            }
            n += 16;
            t1 = now_sec();
        }
        double us = (t1 - t0) * 1e6 / (double) n;
        if (round == 0 || us < best)
            best = us;
        total += n;
    }
    *ret_us = best;
    *ret_n = total;
    return 0;
}

static void bench_done(struct bench *b)
{
    free(b->token);
    EVP_PKEY_free(b->device_pub);
    free(b->akpub);
    free(b->attest);
    free(b->sig);
    free(b->pcrbuf);
    free(b->logbuf);
    b->ak = posture_quote_ak_free(b->ak);
    b->jws = posture_jws_free(b->jws);
    b->log = posture_eventlog_free(b->log);
}

/* The device key (made here) signs payload.json; the verifier keeps only the public half. */
static int sign_report(struct bench *b, const uint8_t *payload, size_t len)
{
    posture_auto_evp_pkey EVP_PKEY *key = EVP_EC_gen("P-256");
    unsigned char *der = NULL;
    const unsigned char *p;
    int n, r;

    if (!key)
        return -EIO;
    r = posture_jws_sign(key, POSTURE_JWS_TYP_REPORT, payload, len, &b->token);
    if (r < 0)
        return r;
    b->token_len = strlen(b->token);
    n = i2d_PUBKEY(key, &der);
    if (n <= 0)
        return -EIO;
    p = der;
    b->device_pub = d2i_PUBKEY(NULL, &p, n);
    OPENSSL_free(der);
    return b->device_pub ? 0 : -EIO;
}

static int cmd_run(const char *dir, const char *logpath, double seconds)
{
    struct bench b = { 0 };
    posture_autofree uint8_t *payload = NULL;
    size_t payload_len = 0;
    struct posture_eventlog_problem problem = { 0 };
    int rc = 2, r;

    if (read_path(dir, "payload.json", 8192, &payload, &payload_len) < 0 ||
        read_path(dir, "ak.pub", POSTURE_QUOTE_INPUT_MAX, &b.akpub, &b.akpub_len) < 0 ||
        read_path(dir, "quote.attest", POSTURE_QUOTE_INPUT_MAX, &b.attest, &b.attest_len) < 0 ||
        read_path(dir, "quote.sig", POSTURE_QUOTE_INPUT_MAX, &b.sig, &b.sig_len) < 0 ||
        read_path(dir, "pcrs.bin", POSTURE_QUOTE_INPUT_MAX, &b.pcrbuf, &b.pcr_len) < 0 ||
        read_path(NULL, logpath, POSTURE_EVENTLOG_MAX_SIZE, &b.logbuf, &b.log_len) < 0)
        goto out;
    for (unsigned i = 0; i < POSTURE_QUOTE_PCR_MAX && (PCR_MASK >> i); i++) {
        if ((b.n_pcrs + 1) * POSTURE_QUOTE_DIGEST_SIZE > b.pcr_len)
            break;
        b.pcrs[b.n_pcrs].index = i;
        memcpy(b.pcrs[b.n_pcrs].digest, b.pcrbuf + b.n_pcrs * POSTURE_QUOTE_DIGEST_SIZE,
               POSTURE_QUOTE_DIGEST_SIZE);
        b.n_pcrs++;
    }
    b.now = (int64_t) time(NULL);
    r = sign_report(&b, payload, payload_len);
    if (r >= 0)
        r = posture_quote_ak_new(b.akpub, b.akpub_len, NULL, 0, &b.ak);
    if (r >= 0)
        r = posture_eventlog_parse(b.logbuf, b.log_len, &b.log, &problem);
    if (r < 0) {
        (void) fprintf(stderr, "attest_verify: setting up: %s\n", posture_errno_name(r));
        goto out;
    }
    rc = 1;
    if (submission(&b) < 0 || part_jws(&b, &b.jws, b.nonce) < 0) {
        (void) fprintf(stderr, "attest_verify: the submission is not accepted\n");
        goto out;
    }

    double us[PART_SB + 1] = { 0 };
    long n[PART_SB + 1] = { 0 };
    cpu_set_t set;
    int cpu = sched_getcpu();
    CPU_ZERO(&set);
    if (cpu >= 0) {
        CPU_SET(cpu, &set);
        (void) sched_setaffinity(0, sizeof(set), &set);
    }
    /* Warm up (caches, CPU clock) before the first figure. */
    r = time_part(&b, PART_FULL, seconds / 2, &us[PART_FULL], &n[PART_FULL]);
    if (r < 0)
        goto out;
    for (int p = PART_JWS; p <= PART_SB; p++) {
        r = time_part(&b, (enum part) p, p == PART_FULL ? 2 * seconds : seconds, &us[p], &n[p]);
        if (r < 0) {
            (void) fprintf(stderr, "attest_verify: %s: %s\n", part_names[p], posture_errno_name(r));
            goto out;
        }
    }

    size_t measured = 0;
    for (size_t i = 0; i < b.log->n_events; i++)
        if (b.log->events[i].type != POSTURE_EV_NO_ACTION)
            measured++;
    (void) printf("appraisal crypto per submission, one core (cpu %d): %zu-byte report JWS, "
                  "%zu-byte log with %zu records (%zu measured), %zu bank(s), PCR 0-7\n",
                  cpu, b.token_len, b.log_len, b.log->n_events, measured, b.log->n_banks);
    for (int p = PART_JWS; p <= PART_REPLAY; p++)
        (void) printf("  %-50s %8.1f µs  (%ld runs)\n", part_names[p], us[p], n[p]);
    (void) printf("  %-50s %8.1f µs\n", "sum of the parts",
                  us[PART_JWS] + us[PART_QUOTE] + us[PART_PARSE] + us[PART_REPLAY]);
    (void) printf("  %-50s %8.1f µs  (%ld runs) = %.0f verifications/s per core\n",
                  part_names[PART_FULL], us[PART_FULL], n[PART_FULL], 1e6 / us[PART_FULL]);
    (void) printf("  not in that figure: %s %.1f µs (once per enrolment), %s %.1f µs; policy and "
                  "store not measured\n",
                  part_names[PART_AK], us[PART_AK], part_names[PART_SB], us[PART_SB]);
    rc = 0;
out:
    bench_done(&b);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "prepare") == 0)
        return cmd_prepare(argv[2]);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "run") == 0) {
        double seconds = 0.5;
        if (argc == 5) {
            uint32_t ms;
            if (posture_parse_u32(argv[4], &ms) < 0 || ms == 0 || ms > 60000) {
                (void) fprintf(stderr, "attest_verify: MILLISECONDS: 1..60000\n");
                return 2;
            }
            seconds = ms / 1000.0;
        }
        return cmd_run(argv[2], argv[3], seconds);
    }
    (void) fprintf(stderr, "usage: attest_verify prepare DIR | run DIR LOG [MILLISECONDS]\n");
    return 2;
}
