/* SPDX-License-Identifier: Apache-2.0 */
/*
 * posturectl report --evidence: the TPM evidence object beside the signed report (DESIGN.md §7,
 * ATTESTATION.md §5.1, §5.3). The quote is made after the report is signed, over the binding of
 * the nonce and the payload bytes exactly as signed, so the verifier can recompute it from what
 * it receives; nothing is cached across nonces.
 */

#include "posture/evidence.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/log.h"
#include "posture/quote.h"
#include "posture/statefile.h"
#ifdef POSTURE_HAVE_TPM
#include "posture/key_tpm.h"
#include "posture/tpm_quote.h"
#endif

#include "cli.h"

#ifdef POSTURE_HAVE_TPM
/* Open one event log candidate: an fd, or -errno. */
static int open_event_log(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    return fd < 0 ? -errno : fd;
}

/* The firmware event log, or nothing: a missing, empty or unreadable log is not an error here.
 * The verifier then has no Secure Boot facts and its policy decides (ATTESTATION.md §5.4 step
 * 14); the warning tells the operator why. paths is [tpm] event_log: one or more paths, the
 * first that opens wins. The kernel's log is root-only; postured.service copies it (as root,
 * before start) to /run/posture, the default's second path. A copy is as good as the
 * original: the firmware log does not change after boot, and the verifier replays it against
 * the quoted PCRs, so an altered copy is refused there. */
static void read_event_log(const char *paths, struct posture_evidence *e)
{
    posture_autoclose int fd = -1;
    char first[PATH_MAX] = "", path[PATH_MAX] = "";
    int first_err = -ENOENT;
    char *buf = NULL;
    size_t len = 0;
    int r;

    for (const char *p = paths ? paths : ""; *p && fd < 0;) {
        size_t n;
        p += strspn(p, " \t");
        n = strcspn(p, " \t");
        if (n == 0)
            break;
        if (n < sizeof(path)) {
            memcpy(path, p, n);
            path[n] = '\0';
            fd = open_event_log(path);
            if (fd < 0 && !first[0]) {
                memcpy(first, path, n + 1);
                first_err = fd;
            } else if (fd >= 0 && first[0])
                log_debug("event log %s: %s; reading %s instead", first, strerror(-first_err),
                          path);
        }
        p += n;
    }
    if (!first[0] && fd < 0)
        return; /* no path configured */
    if (fd < 0) {
        if (first_err == -ENOENT)
            log_notice("event log %s does not exist (no TPM event log on this machine?); the "
                       "evidence has none",
                       first);
        else
            (void) log_warning_errno(first_err,
                                     "cannot read the event log %s: %m (it is readable by root "
                                     "only; postured.service copies it to /run/posture); the "
                                     "evidence has none",
                                     first);
        return;
    }
    r = posture_read_fd(fd, POSTURE_EVENTLOG_MAX_SIZE, &buf, &len);
    if (r < 0) {
        if (r == -EFBIG)
            log_warning("event log %s is larger than 1 MiB; the evidence has none", path);
        else
            (void) log_warning_errno(r, "event log %s: %m; the evidence has none", path);
        return;
    }
    if (len == 0) {
        log_notice("event log %s is empty; the evidence has none", path);
        free(buf);
        return;
    }
    e->event_log = (uint8_t *) buf;
    e->event_log_len = len;
}

static int quote(const struct posture_cli_config *cfg,
                 const uint8_t binding[POSTURE_QUOTE_BINDING_SIZE],
                 struct posture_evidence *e)
{
    struct posture_tpm_evidence *t = NULL;
    struct posture_quote_ak *ak = NULL;
    const char *tcti = cfg->agent.tpm_tcti;
    int r;

    r = posture_tpm_quote(tcti, binding, POSTURE_QUOTE_BINDING_SIZE, POSTURE_QUOTE_PCR_MASK_DEFAULT,
                          &t);
    switch (r) {
    case 0:
        break;
    case -ENODEV:
        return log_error_errno(r,
                               "no TPM at %s (set [tpm] tcti to the TPM's TCTI, or run as a "
                               "member of the 'tss' group for /dev/tpmrm0)",
                               tcti);
    case -EAGAIN:
        return log_error_errno(r, "TPM %s: the PCRs kept changing while quoting; try again", tcti);
    default:
        return log_error_errno(r, "TPM %s: the quote failed (TSS2_LOG=esys+debug shows why)", tcti);
    }

    e->pcr_mask = POSTURE_QUOTE_PCR_MASK_DEFAULT;
    memcpy(e->pcrs, t->pcrs, sizeof(t->pcrs));
    e->n_pcrs = t->n_pcrs;
    e->attest = POSTURE_TAKE_PTR(t->attest);
    e->attest_len = t->attest_len;
    e->signature = POSTURE_TAKE_PTR(t->signature);
    e->signature_len = t->signature_len;
    /* The AK's name as the verifier computes it, from the public area the TPM returned. */
    r = posture_quote_ak_new(t->ak_public, t->ak_public_len, NULL, 0, &ak);
    if (r >= 0) {
        memcpy(e->ak_name, posture_quote_ak_name(ak), POSTURE_QUOTE_NAME_SIZE);
        e->ak_public = POSTURE_TAKE_PTR(t->ak_public);
        e->ak_public_len = t->ak_public_len;
    }
    posture_quote_ak_free(ak);
    posture_tpm_evidence_free(t);
    if (r < 0)
        return log_error_errno(r, "TPM %s: the AK it made is not the pinned kind of key: %m", tcti);

    r = posture_tpm_read_ek_cert(tcti, &e->ek_cert, &e->ek_cert_len);
    if (r == -ENOENT)
        log_notice("TPM %s holds no EK certificate; the evidence has none", tcti);
    else if (r < 0)
        (void) log_warning_errno(r,
                                 "TPM %s: reading the EK certificate failed: %m; the evidence "
                                 "has none",
                                 tcti);
    return 0;
}

/* Write data to path atomically (a temporary file in the same directory, then rename). */
static int write_file_atomic(const char *path, const char *data, size_t len)
{
    posture_autofree char *d = strdup(path), *b = strdup(path);
    posture_autoclose int dir_fd = -1;

    if (!d || !b)
        return -ENOMEM;
    dir_fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return -errno;
    return posture_state_write_atomic(dir_fd, basename(b), data, len, 0644, true);
}
#endif

int posture_cli_evidence_build(const struct posture_cli_config *cfg,
                               const uint8_t *nonce,
                               size_t nonce_len,
                               const char *payload,
                               size_t payload_len,
                               cJSON **ret)
{
#ifdef POSTURE_HAVE_TPM
    posture_auto_evidence struct posture_evidence *e = NULL;
    uint8_t binding[POSTURE_QUOTE_BINDING_SIZE];
    int r;

    if (cfg->agent.tpm_mode == POSTURE_TPM_NO)
        return log_error_errno(-EOPNOTSUPP, "evidence: the TPM is disabled ([tpm] enabled = "
                                            "no in the configuration)");

    r = posture_quote_binding(nonce, nonce_len, (const uint8_t *) payload, payload_len, binding);
    if (r < 0)
        return log_error_errno(r, "Failed to compute the quote binding: %m");
    e = calloc(1, sizeof(*e));
    if (!e)
        return log_error_errno(-ENOMEM, "Out of memory");
    r = quote(cfg, binding, e);
    if (r < 0)
        return r;
    read_event_log(cfg->agent.tpm_event_log, e);

    r = posture_evidence_to_json(e, ret);
    if (r < 0)
        return log_error_errno(r, "Failed to build the evidence object: %m");
    return 0;
#else
    (void) cfg;
    (void) nonce;
    (void) nonce_len;
    (void) payload;
    (void) payload_len;
    (void) ret;
    return log_error_errno(-EOPNOTSUPP, "evidence: this posturectl was built without TPM "
                                        "support (POSTURE_WITH_TPM=OFF)");
#endif
}

/* The tier of this device's enrolment (state_dir/enrollment.json), or NULL when unknown. */
static char *enrolled_tier(const struct posture_cli_config *cfg)
{
    posture_autofree char *path = NULL, *buf = NULL;
    posture_autoclose int fd = -1;
    posture_auto_cjson cJSON *o = NULL;
    const char *tier;
    size_t len = 0;

    if (asprintf(&path, "%s/" POSTURE_CLI_ENROLLMENT_NAME, cfg->agent.state_dir) < 0)
        return NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || posture_read_fd(fd, 4096, &buf, &len) < 0 ||
        posture_json_parse(buf, len, len, 2, &o) < 0)
        return NULL;
    tier = posture_json_get_str(o, "tier");
    return tier ? strdup(tier) : NULL;
}

bool posture_cli_evidence_wanted(const struct posture_cli_config *cfg)
{
#ifdef POSTURE_HAVE_TPM
    posture_autofree char *tier = NULL;

    if (cfg->agent.tpm_mode == POSTURE_TPM_YES)
        return true;
    if (cfg->agent.tpm_mode != POSTURE_TPM_AUTO)
        return false;
    tier = enrolled_tier(cfg);
    if (tier)
        return strcmp(tier, "hardware") == 0;
    return posture_key_tpm_tcti_usable(cfg->agent.tpm_tcti);
#else
    (void) cfg;
    (void) enrolled_tier;
    return false;
#endif
}

int posture_cli_evidence_write(const struct posture_cli_config *cfg,
                               const uint8_t *nonce,
                               size_t nonce_len,
                               const char *payload,
                               size_t payload_len,
                               const char *path)
{
#ifdef POSTURE_HAVE_TPM
    posture_auto_cjson cJSON *obj = NULL;
    posture_autofree char *text = NULL;
    int r;

    r = posture_cli_evidence_build(cfg, nonce, nonce_len, payload, payload_len, &obj);
    if (r < 0)
        return r;
    r = posture_json_print(obj, false, &text);
    if (r < 0)
        return log_error_errno(r, "Failed to build the evidence object: %m");
    r = write_file_atomic(path, text, strlen(text));
    if (r < 0)
        return log_error_errno(r, "--evidence %s: cannot write it: %m", path);
    return 0;
#else
    (void) cfg;
    (void) nonce;
    (void) nonce_len;
    (void) payload;
    (void) payload_len;
    (void) path;
    return log_error_errno(-EOPNOTSUPP, "--evidence: this posturectl was built without TPM "
                                        "support (POSTURE_WITH_TPM=OFF)");
#endif
}
