/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's quote over ESAPI (ATTESTATION.md §4.2); see tpm_quote.h. */

#include "posture/tpm_quote.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/log.h"

#include "tpm_private.h"

#define QUOTE_ATTEMPTS 5 /* Keylime retries 5 times too */

/* The AK template of ATTESTATION.md §4.2: attributes 0x00050472 (tpm_private.h). */
const TPM2B_PUBLIC posture_tpm_ak_template = {
    .publicArea = {
        .type = TPM2_ALG_ECC,
        .nameAlg = TPM2_ALG_SHA256,
        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                            TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                            TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_NODA,
        .parameters.eccDetail = {
            .symmetric.algorithm = TPM2_ALG_NULL,
            .scheme = { .scheme = TPM2_ALG_ECDSA, .details.ecdsa.hashAlg = TPM2_ALG_SHA256 },
            .curveID = TPM2_ECC_NIST_P256,
            .kdf.scheme = TPM2_ALG_NULL,
        },
    },
};

struct session {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR ak;
};

static void session_done(struct session *s)
{
    if (s->ak != ESYS_TR_NONE) {
        TSS2_RC rc = Esys_FlushContext(s->esys, s->ak);
        if (rc != TSS2_RC_SUCCESS)
            log_debug("tpm: flushing the AK: %s", Tss2_RC_Decode(rc));
        s->ak = ESYS_TR_NONE;
    }
    if (s->esys)
        Esys_Finalize(&s->esys);
    if (s->tcti)
        Tss2_TctiLdr_Finalize(&s->tcti);
}

static void esys_freep(void *p)
{
    Esys_Free(*(void **) p);
}
#define posture_auto_esys POSTURE_CLEANUP(esys_freep)

int posture_tpm_rc_error(TSS2_RC rc, const char *what)
{
    log_debug("tpm: %s: %s (0x%x)", what, Tss2_RC_Decode(rc), (unsigned) rc);
    return -EIO;
}
#define tss2_error posture_tpm_rc_error

static int session_open(const char *tcti, struct session *s);

struct posture_tpm_evidence *posture_tpm_evidence_free(struct posture_tpm_evidence *e)
{
    if (!e)
        return NULL;
    free(e->attest);
    free(e->signature);
    free(e->ak_public);
    free(e);
    return NULL;
}
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_tpm_evidence *, posture_tpm_evidence_free)

static int sha256_pcrs(const struct posture_tpm_evidence *e, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned n = 0;
    bool ok;

    if (!ctx)
        return -ENOMEM;
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < e->n_pcrs; i++)
        ok = EVP_DigestUpdate(ctx, e->pcrs[i].digest, POSTURE_QUOTE_DIGEST_SIZE) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -EIO;
}

/* Read the selected SHA-256 PCRs (at most 8 per TPM2_PCR_Read) into e->pcrs, in index order. */
static int read_pcrs(ESYS_CONTEXT *esys, uint32_t mask, struct posture_tpm_evidence *e)
{
    uint32_t left = mask, counter0 = 0;
    bool first = true;

    e->n_pcrs = 0;
    while (left != 0) {
        posture_auto_esys TPML_PCR_SELECTION *out_sel = NULL;
        posture_auto_esys TPML_DIGEST *values = NULL;
        TPML_PCR_SELECTION in = { .count = 1 };
        uint32_t counter = 0, got = 0;
        TSS2_RC rc;

        in.pcrSelections[0] = (TPMS_PCR_SELECTION){
            .hash = TPM2_ALG_SHA256,
            .sizeofSelect = 3,
            .pcrSelect = { left & 0xff, (left >> 8) & 0xff, (left >> 16) & 0xff },
        };
        rc = Esys_PCR_Read(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in, &counter, &out_sel,
                           &values);
        if (rc != TSS2_RC_SUCCESS)
            return tss2_error(rc, "PCR_Read");
        if (!first && counter != counter0)
            return -EAGAIN; /* a PCR changed between the reads */
        first = false;
        counter0 = counter;
        if (out_sel->count != 1 || out_sel->pcrSelections[0].hash != TPM2_ALG_SHA256)
            return -EIO;
        for (unsigned i = 0; i < out_sel->pcrSelections[0].sizeofSelect && i < 3; i++)
            got |= (uint32_t) out_sel->pcrSelections[0].pcrSelect[i] << (8 * i);
        got &= left;
        if (got == 0 || (size_t) __builtin_popcount(got) != values->count)
            return -EIO; /* the SHA-256 bank is not allocated, or an odd answer */
        /* The digests come in ascending PCR order. */
        size_t k = 0;
        for (unsigned idx = 0; idx < POSTURE_QUOTE_PCR_MAX; idx++) {
            if (!(got & (1u << idx)))
                continue;
            if (values->digests[k].size != POSTURE_QUOTE_DIGEST_SIZE)
                return -EIO;
            e->pcrs[e->n_pcrs].index = idx;
            memcpy(e->pcrs[e->n_pcrs].digest, values->digests[k].buffer, POSTURE_QUOTE_DIGEST_SIZE);
            e->n_pcrs++;
            k++;
        }
        left &= ~got;
    }
    /* Reads may come back in any grouping; keep index order. */
    for (size_t i = 1; i < e->n_pcrs; i++)
        for (size_t j = i; j > 0 && e->pcrs[j - 1].index > e->pcrs[j].index; j--) {
            struct posture_quote_pcr t = e->pcrs[j];
            e->pcrs[j] = e->pcrs[j - 1];
            e->pcrs[j - 1] = t;
        }
    return 0;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

int posture_tpm_quote(const char *tcti,
                      const uint8_t *qualifying,
                      size_t qualifying_len,
                      uint32_t pcr_mask,
                      struct posture_tpm_evidence **ret)
{
    POSTURE_CLEANUP(posture_tpm_evidence_freep) struct posture_tpm_evidence *e = NULL;
    POSTURE_CLEANUP(session_done) struct session s = { .ak = ESYS_TR_NONE };
    posture_auto_esys TPM2B_PUBLIC *ak_public = NULL;
    TPM2B_SENSITIVE_CREATE sensitive = { 0 };
    TPM2B_DATA outside = { 0 }, qdata = { 0 };
    TPML_PCR_SELECTION creation_pcr = { 0 }, sel = { .count = 1 };
    TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
    TSS2_RC rc;
    int r;

    POSTURE_RETURN_IF_FAIL(tcti && ret, -EINVAL);
    POSTURE_RETURN_IF_FAIL(qualifying && qualifying_len > 0 &&
                               qualifying_len <= POSTURE_QUOTE_NONCE_MAX &&
                               qualifying_len <= sizeof(qdata.buffer),
                           -EINVAL);
    POSTURE_RETURN_IF_FAIL(pcr_mask != 0 && (pcr_mask >> POSTURE_QUOTE_PCR_MAX) == 0, -EINVAL);

    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;

    r = session_open(tcti, &s);
    if (r < 0)
        return r;

    rc = Esys_CreatePrimary(s.esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE, &sensitive, &posture_tpm_ak_template, &outside,
                            &creation_pcr, &s.ak, &ak_public, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS)
        return tss2_error(rc, "CreatePrimary (AK)");
    {
        uint8_t buf[sizeof(TPM2B_PUBLIC)];
        size_t off = 0;
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(ak_public, buf, sizeof(buf), &off);
        if (rc != TSS2_RC_SUCCESS)
            return tss2_error(rc, "marshal AK public");
        e->ak_public = dup_bytes(buf, off);
        if (!e->ak_public)
            return -ENOMEM;
        e->ak_public_len = off;
    }

    memcpy(qdata.buffer, qualifying, qualifying_len);
    qdata.size = (UINT16) qualifying_len;
    sel.pcrSelections[0] = (TPMS_PCR_SELECTION){
        .hash = TPM2_ALG_SHA256,
        .sizeofSelect = 3,
        .pcrSelect = { pcr_mask & 0xff, (pcr_mask >> 8) & 0xff, (pcr_mask >> 16) & 0xff },
    };

    for (int attempt = 0; attempt < QUOTE_ATTEMPTS; attempt++) {
        posture_auto_esys TPM2B_ATTEST *quoted = NULL;
        posture_auto_esys TPMT_SIGNATURE *sig = NULL;
        TPMS_ATTEST a;
        uint8_t digest[32], sigbuf[sizeof(TPMT_SIGNATURE)];
        size_t off = 0;

        rc = Esys_Quote(s.esys, s.ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qdata, &scheme,
                        &sel, &quoted, &sig);
        if (rc != TSS2_RC_SUCCESS)
            return tss2_error(rc, "Quote");
        r = read_pcrs(s.esys, pcr_mask, e);
        if (r == -EAGAIN)
            continue;
        if (r < 0)
            return r;
        memset(&a, 0, sizeof(a));
        rc = Tss2_MU_TPMS_ATTEST_Unmarshal(quoted->attestationData, quoted->size, &off, &a);
        if (rc != TSS2_RC_SUCCESS || off != quoted->size)
            return tss2_error(rc, "unmarshal the quote");
        r = sha256_pcrs(e, digest);
        if (r < 0)
            return r;
        if (a.attested.quote.pcrDigest.size != sizeof(digest) ||
            memcmp(a.attested.quote.pcrDigest.buffer, digest, sizeof(digest)) != 0) {
            log_debug("tpm: PCRs changed between quote and read, quoting again");
            continue;
        }
        off = 0;
        rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sigbuf, sizeof(sigbuf), &off);
        if (rc != TSS2_RC_SUCCESS)
            return tss2_error(rc, "marshal the signature");
        e->attest = dup_bytes(quoted->attestationData, quoted->size);
        e->signature = dup_bytes(sigbuf, off);
        if (!e->attest || !e->signature)
            return -ENOMEM;
        e->attest_len = quoted->size;
        e->signature_len = off;
        *ret = POSTURE_TAKE_PTR(e);
        return 0;
    }
    return -EAGAIN;
}

/* Open the TCTI and ESAPI context, and start the TPM when nobody has. */
int posture_tpm_context_open(const char *tcti,
                             TSS2_TCTI_CONTEXT **ret_tcti,
                             ESYS_CONTEXT **ret_esys)
{
    TSS2_TCTI_CONTEXT *t = NULL;
    ESYS_CONTEXT *esys = NULL;
    TSS2_RC rc;

    rc = Tss2_TctiLdr_Initialize(tcti, &t);
    if (rc != TSS2_RC_SUCCESS) {
        (void) tss2_error(rc, "TCTI");
        return -ENODEV;
    }
    rc = Esys_Initialize(&esys, t, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        Tss2_TctiLdr_Finalize(&t);
        return tss2_error(rc, "Esys_Initialize");
    }
    rc = Esys_Startup(esys, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS && (rc & 0xfff) != TPM2_RC_INITIALIZE) {
        Esys_Finalize(&esys);
        Tss2_TctiLdr_Finalize(&t);
        return tss2_error(rc, "Startup");
    }
    *ret_tcti = t;
    *ret_esys = esys;
    return 0;
}

static int session_open(const char *tcti, struct session *s)
{
    return posture_tpm_context_open(tcti, &s->tcti, &s->esys);
}

#define NV_CHUNK 512u /* every PC Client TPM reads at least this much per TPM2_NV_Read */

/* Read the whole NV index idx; -ENOENT when it is not defined. */
static int nv_read_all(ESYS_CONTEXT *esys, TPM2_HANDLE idx, uint8_t **ret, size_t *ret_len)
{
    posture_auto_esys TPM2B_NV_PUBLIC *pub = NULL;
    posture_autofree uint8_t *buf = NULL;
    ESYS_TR tr = ESYS_TR_NONE;
    uint16_t size, off = 0;
    TSS2_RC rc;
    int r = 0;

    rc = Esys_TR_FromTPMPublic(esys, idx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
    if (rc != TSS2_RC_SUCCESS)
        return -ENOENT; /* TPM_RC_HANDLE: not defined */
    rc = Esys_NV_ReadPublic(esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        r = tss2_error(rc, "NV_ReadPublic (EK certificate)");
        goto out;
    }
    size = pub->nvPublic.dataSize;
    if (size == 0 || size > POSTURE_TPM_EK_CERT_MAX) {
        r = size == 0 ? -ENOENT : -EFBIG;
        goto out;
    }
    buf = malloc(size);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    while (off < size) {
        posture_auto_esys TPM2B_MAX_NV_BUFFER *data = NULL;
        uint16_t left = (uint16_t) (size - off), n = left < NV_CHUNK ? left : (uint16_t) NV_CHUNK;

        /* EK certificate indexes are AUTHREAD with an empty auth value (and OWNERREAD). */
        rc =
            Esys_NV_Read(esys, tr, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n, off, &data);
        if (rc != TSS2_RC_SUCCESS) {
            r = tss2_error(rc, "NV_Read (EK certificate)");
            goto out;
        }
        if (data->size != n) {
            r = -EIO;
            goto out;
        }
        memcpy(buf + off, data->buffer, n);
        off = (uint16_t) (off + n);
    }
    *ret = POSTURE_TAKE_PTR(buf);
    *ret_len = size;
out:
    (void) Esys_TR_Close(esys, &tr);
    return r;
}

int posture_tpm_read_ek_cert(const char *tcti, uint8_t **ret, size_t *ret_len)
{
    static const TPM2_HANDLE indexes[] = { POSTURE_TPM_EK_CERT_INDEXES };
    POSTURE_CLEANUP(session_done) struct session s = { .ak = ESYS_TR_NONE };
    int r;

    POSTURE_RETURN_IF_FAIL(tcti && ret && ret_len, -EINVAL);
    r = session_open(tcti, &s);
    if (r < 0)
        return r;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(indexes); i++) {
        r = nv_read_all(s.esys, indexes[i], ret, ret_len);
        if (r != -ENOENT)
            return r;
    }
    return -ENOENT;
}
