/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Our library's side of the GCE Windows Shielded VM quote vector (ATTESTATION.md §6 row 33),
 * on the files vectors.sh decoded from tests/fixtures/eventlogs/gce-windows-shielded-vm-
 * quote.json with python3's standard library (the signature and pcrDigest themselves are
 * checked there with the openssl CLI, independently of this code):
 *
 *   vector_tool replay DIR
 *       DIR/log.bin (Log.Raw) parsed and replayed by posture_eventlog_parse(); every one of the
 *       24 SHA-1 PCRs of DIR/pcrs.bin (Log.PCRs, by index) must equal the replay, except PCR
 *       17-22, which the TPM starts at ff..ff (no DRTM launch) and the log never extends.
 *   vector_tool policy DIR [SWTPM_AK_PUB]
 *       the reasons our library rejects the vector for, each asserted:
 *       - posture_quote_ak_new() refuses its AK (RSA-2048, RSASSA/SHA-1) with -EKEYREJECTED;
 *       - its genuine RSASSA signature against our pinned P-256 AK: quote-signature-scheme-...;
 *       - its TPMS_ATTEST re-signed by a software P-256 key enrolled as a pinned AK, to get
 *         past the signature: quote-signer-mismatch (its qualifiedSigner), then with our
 *         qualifiedSigner quote-binding-mismatch (extraData is empty), then with our binding
 *         quote-pcr-selection-mismatch (SHA-1 bank, PCR 0-23);
 *       - its log has no SHA-256 bank (bank-missing) and fails the step 13 rules
 *         (separator-missing: separators in PCR 7 and 12-14 only).
 * Prints one "ok: ..." line per assertion; exits 0 when all hold, 1 when one does not, 2 on
 * usage or system errors.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "posture/cleanup.h"
#include "posture/eventlog.h"
#include "posture/fileio.h"
#include "posture/quote.h"

static int failures;

#define CHECK(cond, ...)             \
    do {                             \
        if (cond) {                  \
            (void) printf("ok: ");   \
        } else {                     \
            (void) printf("FAIL: "); \
            failures++;              \
        }                            \
        (void) printf(__VA_ARGS__);  \
        (void) printf("\n");         \
    } while (0)

static uint8_t *slurp(const char *dir, const char *name, size_t *ret_len)
{
    char path[4096];
    posture_autoclose int fd = -1;
    char *buf = NULL;

    if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        (void) fprintf(stderr, "vector_tool: path too long\n");
        exit(2);
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || posture_read_fd(fd, (size_t) 1024u * 1024u, &buf, ret_len) < 0) {
        (void) fprintf(stderr, "vector_tool: cannot read %s\n", path);
        exit(2);
    }
    return (uint8_t *) buf;
}

static int cmd_replay(const char *dir)
{
    size_t log_len, pcrs_len;
    posture_autofree uint8_t *raw = slurp(dir, "log.bin", &log_len);
    posture_autofree uint8_t *pcrs = slurp(dir, "pcrs.bin", &pcrs_len);
    posture_auto_eventlog struct posture_eventlog *log = NULL;
    struct posture_eventlog_problem problem = { 0 };
    static const uint8_t ff[20] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    unsigned matched = 0;
    uint32_t extended;
    int r;

    if (pcrs_len != 24 * 20)
        return 2;
    r = posture_eventlog_parse(raw, log_len, &log, &problem);
    CHECK(r == 0, "Log.Raw (%zu bytes) parses: %s", log_len,
          r == 0 ? "ok" : posture_eventlog_reason_to_string(problem.reason));
    if (r < 0)
        return 1;
    CHECK(log->format == POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY && log->n_events == 21,
          "SHA-1 legacy format, 21 records");
    extended = log->extended;
    for (unsigned pcr = 0; pcr < 24; pcr++) {
        const uint8_t *want = pcrs + (size_t) pcr * 20;

        if (pcr >= 17 && pcr <= 22) {
            CHECK(memcmp(want, ff, 20) == 0 && !(extended & (1u << pcr)),
                  "PCR %u: stated ff..ff (DRTM not launched), no event in the log", pcr);
            continue;
        }
        problem = (struct posture_eventlog_problem){ 0 };
        r = posture_eventlog_compare_pcr(log, POSTURE_TPM_ALG_SHA1, pcr, want, 20, &problem);
        CHECK(r == 0, "PCR %u replays to the stated value%s", pcr,
              extended & (1u << pcr) ? "" : " (no event: zero)");
        if (r == 0)
            matched++;
    }
    CHECK(matched == 18, "%u of the 18 PCRs the log can reach replay exactly", matched);
    return failures ? 1 : 0;
}

/* ---- a software "AK": a P-256 key in the pinned template, to re-sign attest bytes -------- */

struct soft_ak {
    EVP_PKEY *key;
    struct posture_quote_ak *ak;
};

static int soft_ak_new(struct soft_ak *s)
{
    TPM2B_PUBLIC pub = { 0 };
    uint8_t buf[sizeof(TPM2B_PUBLIC)];
    size_t off = 0;
    BIGNUM *x = NULL, *y = NULL;
    int ok;

    s->key = EVP_EC_gen("P-256");
    if (!s->key)
        return -EIO;
    ok = EVP_PKEY_get_bn_param(s->key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
         EVP_PKEY_get_bn_param(s->key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1;
    pub.publicArea.type = TPM2_ALG_ECC;
    pub.publicArea.nameAlg = TPM2_ALG_SHA256;
    pub.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    pub.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    pub.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    pub.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    pub.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    pub.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    pub.publicArea.unique.ecc.x.size = 32;
    pub.publicArea.unique.ecc.y.size = 32;
    ok = ok && BN_bn2binpad(x, pub.publicArea.unique.ecc.x.buffer, 32) == 32 &&
         BN_bn2binpad(y, pub.publicArea.unique.ecc.y.buffer, 32) == 32;
    BN_free(x);
    BN_free(y);
    if (!ok || Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
        return -EIO;
    return posture_quote_ak_new(buf, off, NULL, 0, &s->ak);
}

static void soft_ak_done(struct soft_ak *s)
{
    EVP_PKEY_free(s->key);
    s->ak = posture_quote_ak_free(s->ak);
}

/* TPMT_SIGNATURE (ECDSA/SHA-256) of msg by the software key. */
static int soft_sign(const struct soft_ak *s,
                     const uint8_t *msg,
                     size_t len,
                     uint8_t *out,
                     size_t cap,
                     size_t *ret_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t der[80];
    const uint8_t *p = der;
    size_t der_len = sizeof(der), off = 0;
    ECDSA_SIG *sig = NULL;
    TPMT_SIGNATURE t = { .sigAlg = TPM2_ALG_ECDSA };
    int r = -EIO;

    if (ctx && EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, s->key, NULL) == 1 &&
        EVP_DigestSign(ctx, der, &der_len, msg, len) == 1 &&
        (sig = d2i_ECDSA_SIG(NULL, &p, (long) der_len)) != NULL) {
        t.signature.ecdsa.hash = TPM2_ALG_SHA256;
        t.signature.ecdsa.signatureR.size = 32;
        t.signature.ecdsa.signatureS.size = 32;
        if (BN_bn2binpad(ECDSA_SIG_get0_r(sig), t.signature.ecdsa.signatureR.buffer, 32) == 32 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), t.signature.ecdsa.signatureS.buffer, 32) == 32 &&
            Tss2_MU_TPMT_SIGNATURE_Marshal(&t, out, cap, &off) == TSS2_RC_SUCCESS) {
            *ret_len = off;
            r = 0;
        }
    }
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(ctx);
    return r;
}

/* Re-sign a (possibly edited) TPMS_ATTEST with the software AK and verify it. */
static enum posture_quote_reason resign_verify(const struct soft_ak *s,
                                               const TPMS_ATTEST *a,
                                               const struct posture_quote_expect *expect)
{
    uint8_t attest[sizeof(TPMS_ATTEST)], sig[sizeof(TPMT_SIGNATURE)];
    size_t attest_len = 0, sig_len = 0;
    enum posture_quote_reason reason = POSTURE_QUOTE_REASON__INVALID;

    if (Tss2_MU_TPMS_ATTEST_Marshal(a, attest, sizeof(attest), &attest_len) != TSS2_RC_SUCCESS ||
        soft_sign(s, attest, attest_len, sig, sizeof(sig), &sig_len) < 0 ||
        posture_quote_verify(s->ak, attest, attest_len, sig, sig_len, expect, NULL, &reason) < 0)
        return POSTURE_QUOTE_REASON__INVALID;
    return reason;
}

static const char *reason_name(enum posture_quote_reason r)
{
    const char *s = posture_quote_reason_to_string(r);
    return s ? s : "(error)";
}

static int cmd_policy(const char *dir, const char *swtpm_ak)
{
    size_t ak_len, attest_len, sig_len, log_len;
    posture_autofree uint8_t *tpmt = slurp(dir, "ak.tpmt", &ak_len);
    posture_autofree uint8_t *attest = slurp(dir, "quote.attest", &attest_len);
    posture_autofree uint8_t *sig = slurp(dir, "quote.sig", &sig_len);
    posture_autofree uint8_t *raw = slurp(dir, "log.bin", &log_len);
    posture_autofree uint8_t *ak2b = malloc(ak_len + 2);
    struct posture_quote_ak *ak = NULL;
    struct posture_quote_pcr values[8];
    uint8_t binding[POSTURE_QUOTE_BINDING_SIZE];
    struct posture_quote_expect expect = { .extra_data = binding,
                                           .extra_data_len = sizeof(binding),
                                           .pcr_mask = POSTURE_QUOTE_PCR_MASK_DEFAULT,
                                           .pcrs = values,
                                           .n_pcrs = 8 };
    static const uint8_t nonce[32] = { 1 };
    enum posture_quote_reason reason;
    TPMS_ATTEST a;
    size_t off = 0;
    int r;

    memset(&a, 0, sizeof(a));
    if (!ak2b)
        return 2;
    memset(values, 0, sizeof(values));
    for (unsigned i = 0; i < 8; i++)
        values[i].index = i;
    if (posture_quote_binding(nonce, sizeof(nonce), (const uint8_t *) "{}", 2, binding) < 0)
        return 2;

    /* The AK: the TPMT_PUBLIC of the vector with its TPM2B size in front. */
    ak2b[0] = (uint8_t) (ak_len >> 8);
    ak2b[1] = (uint8_t) ak_len;
    memcpy(ak2b + 2, tpmt, ak_len);
    r = posture_quote_ak_new(ak2b, ak_len + 2, NULL, 0, &ak);
    CHECK(r == -EKEYREJECTED, "posture_quote_ak_new(RSA-2048 RSASSA/SHA-1 AK) = %d (-EKEYREJECTED)",
          r);
    ak = posture_quote_ak_free(ak);
    /* The same bytes are a well-formed TPM2B_PUBLIC: it is the kind of key, not the parse. */
    ak2b[1] ^= 1;
    r = posture_quote_ak_new(ak2b, ak_len + 2, NULL, 0, &ak);
    CHECK(r == -EBADMSG, "with a wrong TPM2B size it is malformed instead (%d)", r);
    ak = posture_quote_ak_free(ak);

    /* Its genuine signature against our pinned ECDSA AK. */
    if (swtpm_ak) {
        size_t n;
        posture_autofree uint8_t *pub = slurp(swtpm_ak, "ak.pub", &n);
        if (posture_quote_ak_new(pub, n, NULL, 0, &ak) < 0)
            return 2;
        reason = POSTURE_QUOTE_REASON__INVALID;
        r = posture_quote_verify(ak, attest, attest_len, sig, sig_len, &expect, NULL, &reason);
        CHECK(r == 0 && reason == POSTURE_QUOTE_SIG_SCHEME, "genuine RSASSA/SHA-1 signature: %s",
              reason_name(reason));
        ak = posture_quote_ak_free(ak);
    }

    /* Past the signature: its own fields, one at a time. */
    if (Tss2_MU_TPMS_ATTEST_Unmarshal(attest, attest_len, &off, &a) != TSS2_RC_SUCCESS ||
        off != attest_len)
        return 2;
    CHECK(a.type == TPM2_ST_ATTEST_QUOTE && a.extraData.size == 0 &&
              a.attested.quote.pcrSelect.count == 1 &&
              a.attested.quote.pcrSelect.pcrSelections[0].hash == TPM2_ALG_SHA1,
          "a quote with empty extraData over the SHA-1 bank");
    {
        struct soft_ak s = { 0 };
        if (soft_ak_new(&s) < 0)
            return 2;
        reason = resign_verify(&s, &a, &expect);
        CHECK(reason == POSTURE_QUOTE_SIGNER_MISMATCH, "re-signed as is: %s", reason_name(reason));
        a.qualifiedSigner.size = POSTURE_QUOTE_NAME_SIZE;
        memcpy(a.qualifiedSigner.name, posture_quote_ak_qualified_name(s.ak),
               POSTURE_QUOTE_NAME_SIZE);
        reason = resign_verify(&s, &a, &expect);
        CHECK(reason == POSTURE_QUOTE_EXTRA_DATA_MISMATCH, "with our qualifiedSigner: %s",
              reason_name(reason));
        a.extraData.size = sizeof(binding);
        memcpy(a.extraData.buffer, binding, sizeof(binding));
        reason = resign_verify(&s, &a, &expect);
        CHECK(reason == POSTURE_QUOTE_PCR_SELECTION, "with our binding in extraData: %s",
              reason_name(reason));
        /* Control: the same quote with a SHA-256 selection of PCR 0-7 and its digest is
         * accepted, so the three refusals above are the vector's, not the harness's. */
        {
            TPMS_PCR_SELECTION *sel = &a.attested.quote.pcrSelect.pcrSelections[0];
            uint8_t cat[8 * 32] = { 0 };
            unsigned n = 0;
            sel->hash = TPM2_ALG_SHA256;
            sel->sizeofSelect = 3;
            sel->pcrSelect[0] = 0xff;
            sel->pcrSelect[1] = 0;
            sel->pcrSelect[2] = 0;
            a.attested.quote.pcrDigest.size = 32;
            if (EVP_Digest(cat, sizeof(cat), a.attested.quote.pcrDigest.buffer, &n, EVP_sha256(),
                           NULL) != 1)
                return 2;
            reason = resign_verify(&s, &a, &expect);
            CHECK(reason == POSTURE_QUOTE_OK, "control, SHA-256 PCR 0-7 (zero values): %s",
                  reason_name(reason));
        }
        soft_ak_done(&s);
    }

    /* Its log. */
    {
        posture_auto_eventlog struct posture_eventlog *log = NULL;
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = NULL;
        struct posture_eventlog_problem problem = { 0 };
        uint8_t zero[32] = { 0 };

        if (posture_eventlog_parse(raw, log_len, &log, &problem) < 0)
            return 2;
        r = posture_eventlog_compare_pcr(log, POSTURE_TPM_ALG_SHA256, 0, zero, 32, &problem);
        CHECK(r == -EBADMSG && problem.reason == POSTURE_EVENTLOG_BANK_MISSING,
              "log: SHA-256 PCR 0 asked for: %s",
              posture_eventlog_reason_to_string(problem.reason));
        problem = (struct posture_eventlog_problem){ 0 };
        r = posture_eventlog_secure_boot(log, &sb, &problem);
        CHECK(r == -EBADMSG && problem.reason == POSTURE_EVENTLOG_SEPARATOR_MISSING,
              "log: step 13 rules: %s", posture_eventlog_reason_to_string(problem.reason));
    }
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "replay") == 0)
        return cmd_replay(argv[2]);
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "policy") == 0)
        return cmd_policy(argv[2], argc == 4 ? argv[3] : NULL);
    (void) fprintf(stderr, "usage: vector_tool replay DIR | policy DIR [SWTPM_AK_DIR]\n");
    return 2;
}
