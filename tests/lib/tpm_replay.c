/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test harness: replay a real TCG firmware event log into a fresh TPM (swtpm), ATTESTATION.md
 * §4.3, so that the TPM's PCRs become those of the machine that wrote the log:
 *
 *   tpm_replay TCTI LOG
 *
 * The log is parsed with posture_eventlog_parse() (a refused log is not replayed). The TPM must
 * not be started yet (swtpm --flags not-need-init and no TPM2_Startup: SWTPM_NO_STARTUP=1 with
 * tests/lib/swtpm.sh): TPM2_Startup(CLEAR) is sent at locality 3 when the log has a
 * StartupLocality event of 3 (PCR 0 then starts at 00..03), else at locality 0. Then every
 * record except the Spec ID header and EV_NO_ACTION is extended with all its digests in one
 * TPM2_PCR_Extend (the TPM ignores the digests of banks it has not allocated). PCR 16 and up
 * are refused before anything is sent: the DRTM PCRs 17-22 need a locality a replay cannot
 * have, and no firmware log measures into 16 or 23.
 *
 * Prints "N events extended" on success. Exit 0 on success, 1 when the log is refused or the
 * TPM fails, 2 on usage errors.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tctildr.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/eventlog.h"
#include "posture/fileio.h"

#define REPLAY_PCR_LIMIT 16u /* PCR 0-15: the static root of trust, extendable at locality 0 */

struct tpm {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
};

static void tpm_done(struct tpm *t)
{
    if (t->esys)
        Esys_Finalize(&t->esys);
    if (t->tcti)
        Tss2_TctiLdr_Finalize(&t->tcti);
}

static int tss2_fail(TSS2_RC rc, const char *what)
{
    (void) fprintf(stderr, "tpm_replay: %s: %s (0x%x)\n", what, Tss2_RC_Decode(rc), (unsigned) rc);
    return -EIO;
}

static int read_log(const char *path, char **ret, size_t *ret_len)
{
    posture_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    int r;

    if (fd < 0) {
        (void) fprintf(stderr, "tpm_replay: %s: %m\n", path);
        return -1;
    }
    r = posture_read_fd(fd, POSTURE_EVENTLOG_MAX_SIZE, ret, ret_len);
    if (r < 0) {
        (void) fprintf(stderr, "tpm_replay: %s: %s\n", path, posture_errno_name(r));
        return -1;
    }
    return 0;
}

/* True for the records a TPM never saw: the Spec ID header and every EV_NO_ACTION. */
static bool skipped(const struct posture_eventlog *log, const struct posture_eventlog_event *ev)
{
    if (log->format == POSTURE_EVENTLOG_FORMAT_CRYPTO_AGILE && ev->index == 0)
        return true;
    return ev->type == POSTURE_EV_NO_ACTION;
}

/* Refuse what cannot be replayed before the TPM is touched. */
static int check_replayable(const struct posture_eventlog *log)
{
    for (size_t i = 0; i < log->n_events; i++) {
        const struct posture_eventlog_event *ev = &log->events[i];
        if (skipped(log, ev) || ev->pcr < REPLAY_PCR_LIMIT)
            continue;
        (void) fprintf(stderr,
                       "tpm_replay: record %u extends PCR %u: PCR 16 and up (DRTM, PCR 17-22 need "
                       "locality 1-4) cannot be replayed; only PCR 0-15 can\n",
                       ev->index, ev->pcr);
        return -EOPNOTSUPP;
    }
    return 0;
}

/* TPM2_Startup(CLEAR) at the locality the log's firmware started the TPM at. The TPM must not
 * be started yet: its PCRs would hold something already. Esys_Startup() reports success for a
 * TPM that is already started (it hides TPM_RC_INITIALIZE), so ask first: before TPM2_Startup
 * every other command fails with TPM_RC_INITIALIZE. */
static int startup(struct tpm *t, int locality)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TSS2_RC rc, rc2;

    rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1, NULL, &cap);
    Esys_Free(cap);
    if (rc == TSS2_RC_SUCCESS) {
        (void) fprintf(stderr, "tpm_replay: the TPM is already started, so its PCRs are not "
                               "fresh (start swtpm with SWTPM_NO_STARTUP=1)\n");
        return -EBUSY;
    }
    if (rc != TPM2_RC_INITIALIZE)
        return tss2_fail(rc, "probing the TPM");

    if (locality != 0) {
        rc = Tss2_Tcti_SetLocality(t->tcti, (uint8_t) locality);
        if (rc != TSS2_RC_SUCCESS)
            return tss2_fail(rc, "setting the TCTI locality");
    }
    rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
    if (locality != 0) {
        rc2 = Tss2_Tcti_SetLocality(t->tcti, 0);
        if (rc == TSS2_RC_SUCCESS && rc2 != TSS2_RC_SUCCESS)
            return tss2_fail(rc2, "setting the TCTI locality back to 0");
    }
    if (rc != TSS2_RC_SUCCESS)
        return tss2_fail(rc, "TPM2_Startup");
    return 0;
}

/* One TPM2_PCR_Extend with every digest of the record we can name for the TPM. */
static int
extend(struct tpm *t, const struct posture_eventlog *log, const struct posture_eventlog_event *ev)
{
    TPML_DIGEST_VALUES values = { .count = 0 };
    TSS2_RC rc;

    for (size_t b = 0; b < log->n_banks; b++) {
        const struct posture_eventlog_bank *bank = &log->banks[b];
        /* Only the hashes TPM2_PCR_Extend can carry; the parser checked their sizes. */
        if (!posture_eventlog_alg_name(bank->alg) || bank->digest_size > sizeof(TPMU_HA))
            continue;
        values.digests[values.count].hashAlg = bank->alg;
        memcpy(&values.digests[values.count].digest, ev->digests[b], bank->digest_size);
        values.count++;
    }
    if (values.count == 0)
        return 0;
    rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + ev->pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, &values);
    if (rc != TSS2_RC_SUCCESS) {
        (void) fprintf(stderr, "tpm_replay: record %u (PCR %u, type 0x%x): ", ev->index, ev->pcr,
                       ev->type);
        return tss2_fail(rc, "TPM2_PCR_Extend");
    }
    return 1;
}

static int replay(const char *tcti_conf, const struct posture_eventlog *log, size_t *ret_count)
{
    struct tpm t = { 0 };
    size_t count = 0;
    TSS2_RC rc;
    int r;

    rc = Tss2_TctiLdr_Initialize(tcti_conf, &t.tcti);
    if (rc != TSS2_RC_SUCCESS)
        return tss2_fail(rc, "opening the TCTI");
    rc = Esys_Initialize(&t.esys, t.tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        r = tss2_fail(rc, "Esys_Initialize");
        goto out;
    }
    r = startup(&t, log->startup_locality == 3 ? 3 : 0);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < log->n_events; i++) {
        if (skipped(log, &log->events[i]))
            continue;
        r = extend(&t, log, &log->events[i]);
        if (r < 0)
            goto out;
        count += (size_t) r;
    }
    *ret_count = count;
    r = 0;
out:
    tpm_done(&t);
    return r;
}

int main(int argc, char **argv)
{
    posture_autofree char *buf = NULL;
    posture_auto_eventlog struct posture_eventlog *log = NULL;
    struct posture_eventlog_problem problem = { 0 };
    size_t len = 0, count = 0;
    int r;

    if (argc != 3) {
        (void) fprintf(stderr, "usage: tpm_replay TCTI LOG\n");
        return 2;
    }
    /* The probe in startup() fails on purpose; keep tpm2-tss from logging that (our own messages
     * name every real failure). TSS2_LOG set by the caller still wins. */
    (void) setenv("TSS2_LOG", "all+none", 0);
    if (read_log(argv[2], &buf, &len) < 0)
        return 1;
    r = posture_eventlog_parse(buf, len, &log, &problem);
    if (r < 0) {
        const char *why = r == -EBADMSG ? posture_eventlog_reason_to_string(problem.reason)
                                        : posture_errno_name(r);
        (void) fprintf(stderr, "tpm_replay: %s: log refused: %s (record %lld)\n", argv[2],
                       why ? why : "?", (long long) problem.event);
        return 1;
    }
    if (check_replayable(log) < 0)
        return 1;
    if (replay(argv[1], log, &count) < 0)
        return 1;
    (void) printf("%zu events extended (startup locality %d)\n", count,
                  log->startup_locality == 3 ? 3 : 0);
    return 0;
}
