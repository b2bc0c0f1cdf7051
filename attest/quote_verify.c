/* SPDX-License-Identifier: Apache-2.0 */
/* TPM quote verification (ATTESTATION.md §5.4 steps 4-10, hook for step 12); see quote.h. */

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/log.h"
#include "posture/ossl.h"
#include "posture/quote.h"

#define QN_PARENT_MAX (POSTURE_QUOTE_NAME_SIZE + 32u)

/* Order n of NIST P-256, big-endian. */
static const uint8_t p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

static const char *const reason_table[POSTURE_QUOTE_REASON__MAX] = {
    [POSTURE_QUOTE_OK] = "ok",
    [POSTURE_QUOTE_ATTEST_MALFORMED] = "quote-attest-malformed",
    [POSTURE_QUOTE_ATTEST_BAD_MAGIC] = "quote-attest-magic-invalid",
    [POSTURE_QUOTE_ATTEST_NOT_QUOTE] = "quote-attest-not-quote",
    [POSTURE_QUOTE_SIG_MALFORMED] = "quote-signature-malformed",
    [POSTURE_QUOTE_SIG_SCHEME] = "quote-signature-scheme-not-pinned",
    [POSTURE_QUOTE_SIG_RANGE] = "quote-signature-out-of-range",
    [POSTURE_QUOTE_SIG_INVALID] = "quote-signature-invalid",
    [POSTURE_QUOTE_SIGNER_MISMATCH] = "quote-signer-mismatch",
    [POSTURE_QUOTE_EXTRA_DATA_MISMATCH] = "quote-binding-mismatch",
    [POSTURE_QUOTE_CLOCK_UNSAFE] = "quote-clock-unsafe",
    [POSTURE_QUOTE_RESET_COUNT_BACKWARDS] = "quote-reset-count-backwards",
    [POSTURE_QUOTE_RESTART_COUNT_BACKWARDS] = "quote-restart-count-backwards",
    [POSTURE_QUOTE_CLOCK_BACKWARDS] = "quote-clock-not-increasing",
    [POSTURE_QUOTE_PCR_SELECTION] = "quote-pcr-selection-mismatch",
    [POSTURE_QUOTE_PCR_VALUES_INVALID] = "quote-pcr-values-invalid",
    [POSTURE_QUOTE_PCR_DIGEST_MISMATCH] = "quote-pcr-digest-mismatch",
    [POSTURE_QUOTE_REPLAY_MISMATCH] = "quote-pcr-replay-mismatch",
};

const char *posture_quote_reason_to_string(enum posture_quote_reason reason)
{
    if ((int) reason < 0 || reason >= POSTURE_QUOTE_REASON__MAX)
        return NULL;
    return reason_table[reason];
}

enum posture_quote_reason posture_quote_reason_from_string(const char *s)
{
    if (!s)
        return POSTURE_QUOTE_REASON__INVALID;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(reason_table); i++)
        if (reason_table[i] && strcmp(reason_table[i], s) == 0)
            return (enum posture_quote_reason) i;
    return POSTURE_QUOTE_REASON__INVALID;
}

struct posture_quote_ak {
    EVP_PKEY *pkey;
    uint8_t name[POSTURE_QUOTE_NAME_SIZE];
    uint8_t qname[POSTURE_QUOTE_NAME_SIZE];
};

POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_quote_ak *, posture_quote_ak_free)

/* Drain OpenSSL's error queue into the debug log (STYLE.md G3) and return r. */
static int openssl_error(int r, const char *what)
{
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        log_debug("quote: %s: %s", what, buf);
    }
    return r;
}

static int sha256_parts(const uint8_t *const *parts,
                        const size_t *lens,
                        size_t n,
                        uint8_t ret[POSTURE_QUOTE_DIGEST_SIZE])
{
    POSTURE_CLEANUP(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned out_len = 0;

    if (!ctx)
        return -ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        return openssl_error(-EIO, "sha256 init");
    for (size_t i = 0; i < n; i++)
        if (lens[i] > 0 && EVP_DigestUpdate(ctx, parts[i], lens[i]) != 1)
            return openssl_error(-EIO, "sha256 update");
    if (EVP_DigestFinal_ex(ctx, ret, &out_len) != 1 || out_len != POSTURE_QUOTE_DIGEST_SIZE)
        return openssl_error(-EIO, "sha256 final");
    return 0;
}

int posture_quote_binding(const uint8_t *nonce,
                          size_t nonce_len,
                          const uint8_t *payload,
                          size_t payload_len,
                          uint8_t ret[POSTURE_QUOTE_BINDING_SIZE])
{
    static const uint8_t label[] = "POSTURE-QUOTE-V1"; /* with its NUL: the 0x00 separator */
    uint8_t payload_hash[POSTURE_QUOTE_DIGEST_SIZE];
    int r;

    POSTURE_RETURN_IF_FAIL(nonce && nonce_len > 0 && nonce_len <= POSTURE_QUOTE_NONCE_MAX, -EINVAL);
    POSTURE_RETURN_IF_FAIL(payload || payload_len == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    {
        const uint8_t *parts[] = { payload };
        const size_t lens[] = { payload_len };
        r = sha256_parts(parts, lens, 1, payload_hash);
        if (r < 0)
            return r;
    }
    const uint8_t *parts[] = { label, nonce, payload_hash };
    const size_t lens[] = { sizeof(label), nonce_len, sizeof(payload_hash) };
    uint8_t out[POSTURE_QUOTE_BINDING_SIZE];
    r = sha256_parts(parts, lens, 3, out);
    if (r < 0)
        return r;
    memcpy(ret, out, sizeof(out));
    return 0;
}

struct posture_quote_ak *posture_quote_ak_free(struct posture_quote_ak *ak)
{
    if (!ak)
        return NULL;
    EVP_PKEY_free(ak->pkey);
    free(ak);
    return NULL;
}

const uint8_t *posture_quote_ak_name(const struct posture_quote_ak *ak)
{
    return ak ? ak->name : NULL;
}

const uint8_t *posture_quote_ak_qualified_name(const struct posture_quote_ak *ak)
{
    return ak ? ak->qname : NULL;
}

/* A P-256 coordinate from a TPM2B_ECC_PARAMETER, left-padded to 32 bytes. */
static bool ecc_coordinate(const TPM2B_ECC_PARAMETER *p, uint8_t out[32])
{
    if (p->size == 0 || p->size > 32)
        return false;
    memset(out, 0, 32);
    memcpy(out + (32 - p->size), p->buffer, p->size);
    return true;
}

static int p256_pkey_from_xy(const uint8_t x[32], const uint8_t y[32], EVP_PKEY **ret)
{
    POSTURE_CLEANUP(OSSL_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    POSTURE_CLEANUP(OSSL_PARAM_freep) OSSL_PARAM *params = NULL;
    POSTURE_CLEANUP(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *ctx = NULL;
    POSTURE_CLEANUP(EVP_PKEY_freep) EVP_PKEY *pkey = NULL;
    uint8_t point[65];

    if (!bld)
        return -ENOMEM;
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, 32);
    memcpy(point + 33, y, 32);
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) != 1)
        return openssl_error(-ENOMEM, "AK parameters");
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!params)
        return openssl_error(-ENOMEM, "AK parameters");
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!ctx)
        return openssl_error(-ENOMEM, "EC context");
    if (EVP_PKEY_fromdata_init(ctx) != 1)
        return openssl_error(-EIO, "EC fromdata init");
    /* The import decodes the point and refuses one that is not on the curve. */
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        return openssl_error(-EBADMSG, "AK point");
    *ret = POSTURE_TAKE_PTR(pkey);
    return 0;
}

/* nameAlg(000b) || SHA-256(parts...) */
static int sha256_name(const uint8_t *const *parts,
                       const size_t *lens,
                       size_t n,
                       uint8_t ret[POSTURE_QUOTE_NAME_SIZE])
{
    uint8_t d[POSTURE_QUOTE_DIGEST_SIZE];
    int r = sha256_parts(parts, lens, n, d);
    if (r < 0)
        return r;
    ret[0] = (uint8_t) (TPM2_ALG_SHA256 >> 8);
    ret[1] = (uint8_t) (TPM2_ALG_SHA256 & 0xff);
    memcpy(ret + 2, d, sizeof(d));
    return 0;
}

static bool ak_pinned(const TPMT_PUBLIC *p)
{
    const TPMA_OBJECT required = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED |
                                 TPMA_OBJECT_SIGN_ENCRYPT;
    const TPMS_ECC_PARMS *e = &p->parameters.eccDetail;

    if (p->type != TPM2_ALG_ECC || p->nameAlg != TPM2_ALG_SHA256)
        return false;
    if ((p->objectAttributes & required) != required ||
        (p->objectAttributes & TPMA_OBJECT_DECRYPT) != 0)
        return false;
    if (p->authPolicy.size != 0)
        return false;
    return e->curveID == TPM2_ECC_NIST_P256 && e->scheme.scheme == TPM2_ALG_ECDSA &&
           e->scheme.details.ecdsa.hashAlg == TPM2_ALG_SHA256 &&
           e->symmetric.algorithm == TPM2_ALG_NULL && e->kdf.scheme == TPM2_ALG_NULL;
}

int posture_quote_ak_new(const uint8_t *tpm2b_public,
                         size_t len,
                         const uint8_t *parent_qname,
                         size_t parent_qname_len,
                         struct posture_quote_ak **ret_ak)
{
    POSTURE_CLEANUP(posture_quote_ak_freep) struct posture_quote_ak *ak = NULL;
    TPM2B_PUBLIC pub;
    uint8_t canon[sizeof(TPMT_PUBLIC)];
    size_t offset = 0, canon_len = 0;
    uint8_t x[32], y[32];
    static const uint8_t endorsement[4] = { 0x40, 0x00, 0x00, 0x0b };
    int r;

    POSTURE_RETURN_IF_FAIL(tpm2b_public && ret_ak, -EINVAL);
    POSTURE_RETURN_IF_FAIL(
        !parent_qname || (parent_qname_len > 0 && parent_qname_len <= QN_PARENT_MAX), -EINVAL);
    if (len < 2 || len > POSTURE_QUOTE_INPUT_MAX)
        return -EBADMSG;

    memset(&pub, 0, sizeof(pub));
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(tpm2b_public, len, &offset, &pub) != TSS2_RC_SUCCESS ||
        offset != len)
        return -EBADMSG;
    /* Canonical: re-marshalling gives back the very bytes that are hashed into the name. */
    if (Tss2_MU_TPMT_PUBLIC_Marshal(&pub.publicArea, canon, sizeof(canon), &canon_len) !=
            TSS2_RC_SUCCESS ||
        canon_len != len - 2 || memcmp(canon, tpm2b_public + 2, canon_len) != 0)
        return -EBADMSG;
    if (!ak_pinned(&pub.publicArea))
        return -EKEYREJECTED;
    if (!ecc_coordinate(&pub.publicArea.unique.ecc.x, x) ||
        !ecc_coordinate(&pub.publicArea.unique.ecc.y, y))
        return -EKEYREJECTED;

    ak = calloc(1, sizeof(*ak));
    if (!ak)
        return -ENOMEM;
    r = p256_pkey_from_xy(x, y, &ak->pkey);
    if (r == -EBADMSG)
        return -EKEYREJECTED;
    if (r < 0)
        return r;

    {
        const uint8_t *parts[] = { tpm2b_public + 2 };
        const size_t lens[] = { canon_len };
        r = sha256_name(parts, lens, 1, ak->name);
        if (r < 0)
            return r;
    }
    /* QN = nameAlg || H(QN(parent) || Name); a hierarchy's QN is its handle. */
    const uint8_t *parts[] = { parent_qname ? parent_qname : endorsement, ak->name };
    const size_t lens[] = { parent_qname ? parent_qname_len : sizeof(endorsement),
                            sizeof(ak->name) };
    r = sha256_name(parts, lens, 2, ak->qname);
    if (r < 0)
        return r;

    *ret_ak = POSTURE_TAKE_PTR(ak);
    return 0;
}

/* A signature scalar from its TPM2B: 32 bytes after stripping leading zeros, in [1, n). */
static bool scalar_in_range(const TPM2B_ECC_PARAMETER *p, uint8_t out[32])
{
    size_t skip = 0;
    while (skip < p->size && p->buffer[skip] == 0)
        skip++;
    size_t n = p->size - skip;
    if (n == 0 || n > 32)
        return false;
    memset(out, 0, 32);
    memcpy(out + (32 - n), p->buffer + skip, n);
    return memcmp(out, p256_order, 32) < 0;
}

/* 1 valid, 0 invalid, <0 error. */
static int ecdsa_verify(EVP_PKEY *pkey,
                        const uint8_t r32[32],
                        const uint8_t s32[32],
                        const uint8_t *msg,
                        size_t msg_len)
{
    POSTURE_CLEANUP(ECDSA_SIG_freep) ECDSA_SIG *sig = ECDSA_SIG_new();
    POSTURE_CLEANUP(BN_freep) BIGNUM *r = BN_bin2bn(r32, 32, NULL);
    POSTURE_CLEANUP(BN_freep) BIGNUM *s = BN_bin2bn(s32, 32, NULL);
    POSTURE_CLEANUP(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    posture_autofree uint8_t *der = NULL;
    int der_len, v;

    if (!sig || !r || !s || !ctx)
        return openssl_error(-ENOMEM, "ECDSA signature");
    if (ECDSA_SIG_set0(sig, r, s) != 1)
        return openssl_error(-ENOMEM, "ECDSA signature");
    r = s = NULL; /* owned by sig now */
    der_len = i2d_ECDSA_SIG(sig, NULL);
    if (der_len <= 0)
        return openssl_error(-EIO, "ECDSA signature DER");
    der = malloc((size_t) der_len);
    if (!der)
        return -ENOMEM;
    {
        uint8_t *p = der;
        if (i2d_ECDSA_SIG(sig, &p) != der_len)
            return openssl_error(-EIO, "ECDSA signature DER");
    }
    if (EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, pkey, NULL) != 1)
        return openssl_error(-EIO, "verify init");
    v = EVP_DigestVerify(ctx, der, (size_t) der_len, msg, msg_len);
    if (v == 1)
        return 1;
    /* 0 is a bad signature; a negative value a failure we report as "invalid" too, because a
     * well-formed in-range signature that OpenSSL cannot process is not accepted. */
    return openssl_error(0, "ECDSA verify");
}

/* Steps 9-10; *reason set on rejection. Returns 0 or a negative errno. */
static int check_pcrs(const TPMS_QUOTE_INFO *q,
                      const struct posture_quote_expect *expect,
                      enum posture_quote_reason *reason)
{
    const TPMS_PCR_SELECTION *sel = &q->pcrSelect.pcrSelections[0];
    const struct posture_quote_pcr *order[POSTURE_QUOTE_PCR_MAX];
    uint32_t selected = 0, seen = 0;
    uint8_t digest[POSTURE_QUOTE_DIGEST_SIZE];
    int r;

    /* Step 9: exactly one bank, SHA-256, exactly the policy's PCRs. */
    if (q->pcrSelect.count != 1 || sel->hash != TPM2_ALG_SHA256 || sel->sizeofSelect == 0 ||
        sel->sizeofSelect > 4) {
        *reason = POSTURE_QUOTE_PCR_SELECTION;
        return 0;
    }
    for (unsigned i = 0; i < sel->sizeofSelect; i++)
        selected |= (uint32_t) sel->pcrSelect[i] << (8 * i);
    if (selected != expect->pcr_mask) {
        *reason = POSTURE_QUOTE_PCR_SELECTION;
        return 0;
    }

    /* Step 10: the supplied values are exactly the selection, one each. */
    if (expect->n_pcrs != (size_t) __builtin_popcount(selected)) {
        *reason = POSTURE_QUOTE_PCR_VALUES_INVALID;
        return 0;
    }
    for (size_t i = 0; i < expect->n_pcrs; i++) {
        unsigned idx = expect->pcrs[i].index;
        if (idx >= POSTURE_QUOTE_PCR_MAX || !(selected & (1u << idx)) || (seen & (1u << idx))) {
            *reason = POSTURE_QUOTE_PCR_VALUES_INVALID;
            return 0;
        }
        seen |= 1u << idx;
    }
    /* Selection order: ascending PCR index. */
    for (unsigned idx = 0, k = 0; idx < POSTURE_QUOTE_PCR_MAX; idx++)
        for (size_t i = 0; i < expect->n_pcrs; i++)
            if (expect->pcrs[i].index == idx)
                order[k++] = &expect->pcrs[i];

    {
        const uint8_t *parts[POSTURE_QUOTE_PCR_MAX];
        size_t lens[POSTURE_QUOTE_PCR_MAX];
        for (size_t i = 0; i < expect->n_pcrs; i++) {
            parts[i] = order[i]->digest;
            lens[i] = POSTURE_QUOTE_DIGEST_SIZE;
        }
        r = sha256_parts(parts, lens, expect->n_pcrs, digest);
        if (r < 0)
            return r;
    }
    if (q->pcrDigest.size != sizeof(digest) ||
        CRYPTO_memcmp(q->pcrDigest.buffer, digest, sizeof(digest)) != 0) {
        *reason = POSTURE_QUOTE_PCR_DIGEST_MISMATCH;
        return 0;
    }
    *reason = POSTURE_QUOTE_OK;
    return 0;
}

static enum posture_quote_reason check_clock(const TPMS_CLOCK_INFO *c,
                                             const struct posture_quote_clock *prev)
{
    if (c->safe != TPM2_YES)
        return POSTURE_QUOTE_CLOCK_UNSAFE;
    if (!prev)
        return POSTURE_QUOTE_OK;
    if (c->resetCount < prev->reset_count)
        return POSTURE_QUOTE_RESET_COUNT_BACKWARDS;
    if (c->resetCount == prev->reset_count) {
        /* restartCount restarts at 0 on a TPM Reset, so it is compared within a boot only. */
        if (c->restartCount < prev->restart_count)
            return POSTURE_QUOTE_RESTART_COUNT_BACKWARDS;
        if (c->restartCount == prev->restart_count && c->clock <= prev->clock)
            return POSTURE_QUOTE_CLOCK_BACKWARDS;
    }
    /* Clock only moves forward while safe stays YES, across resets too. */
    if (c->clock < prev->clock)
        return POSTURE_QUOTE_CLOCK_BACKWARDS;
    return POSTURE_QUOTE_OK;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

int posture_quote_verify(const struct posture_quote_ak *ak,
                         const uint8_t *attest,
                         size_t attest_len,
                         const uint8_t *signature,
                         size_t signature_len,
                         const struct posture_quote_expect *expect,
                         struct posture_quote_info *ret_info,
                         enum posture_quote_reason *ret_reason)
{
    TPMS_ATTEST a;
    TPMT_SIGNATURE sig;
    uint8_t r32[32], s32[32];
    size_t offset = 0;
    enum posture_quote_reason reason;
    int r;

    POSTURE_RETURN_IF_FAIL(ak && ak->pkey && expect && ret_reason, -EINVAL);
    POSTURE_RETURN_IF_FAIL(attest || attest_len == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(signature || signature_len == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(expect->extra_data && expect->extra_data_len > 0 &&
                               expect->extra_data_len <= POSTURE_QUOTE_NONCE_MAX,
                           -EINVAL);
    POSTURE_RETURN_IF_FAIL(
        expect->pcr_mask != 0 && (expect->pcr_mask >> POSTURE_QUOTE_PCR_MAX) == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(expect->pcrs || expect->n_pcrs == 0, -EINVAL);

    /* Step 4: TPMS_ATTEST. Magic and type are read before the full unmarshal, so that a
     * structure of another type is reported as such rather than as malformed. */
    if (attest_len < 6 || attest_len > POSTURE_QUOTE_INPUT_MAX) {
        *ret_reason = POSTURE_QUOTE_ATTEST_MALFORMED;
        return 0;
    }
    if (be32(attest) != TPM2_GENERATED_VALUE) {
        *ret_reason = POSTURE_QUOTE_ATTEST_BAD_MAGIC;
        return 0;
    }
    if (((uint16_t) attest[4] << 8 | attest[5]) != TPM2_ST_ATTEST_QUOTE) {
        *ret_reason = POSTURE_QUOTE_ATTEST_NOT_QUOTE;
        return 0;
    }
    memset(&a, 0, sizeof(a));
    if (Tss2_MU_TPMS_ATTEST_Unmarshal(attest, attest_len, &offset, &a) != TSS2_RC_SUCCESS ||
        offset != attest_len || a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_QUOTE) {
        *ret_reason = POSTURE_QUOTE_ATTEST_MALFORMED;
        return 0;
    }

    /* Step 5: TPMT_SIGNATURE, pinned to ECDSA/SHA-256 (the AK's only scheme). */
    offset = 0;
    memset(&sig, 0, sizeof(sig));
    if (signature_len == 0 || signature_len > POSTURE_QUOTE_INPUT_MAX ||
        Tss2_MU_TPMT_SIGNATURE_Unmarshal(signature, signature_len, &offset, &sig) !=
            TSS2_RC_SUCCESS ||
        offset != signature_len) {
        *ret_reason = POSTURE_QUOTE_SIG_MALFORMED;
        return 0;
    }
    if (sig.sigAlg != TPM2_ALG_ECDSA || sig.signature.ecdsa.hash != TPM2_ALG_SHA256) {
        *ret_reason = POSTURE_QUOTE_SIG_SCHEME;
        return 0;
    }
    if (!scalar_in_range(&sig.signature.ecdsa.signatureR, r32) ||
        !scalar_in_range(&sig.signature.ecdsa.signatureS, s32)) {
        *ret_reason = POSTURE_QUOTE_SIG_RANGE;
        return 0;
    }
    r = ecdsa_verify(ak->pkey, r32, s32, attest, attest_len);
    if (r < 0)
        return r;
    if (r == 0) {
        *ret_reason = POSTURE_QUOTE_SIG_INVALID;
        return 0;
    }

    /* Step 6: the signer is this AK, in its hierarchy. */
    if (a.qualifiedSigner.size != sizeof(ak->qname) ||
        CRYPTO_memcmp(a.qualifiedSigner.name, ak->qname, sizeof(ak->qname)) != 0) {
        *ret_reason = POSTURE_QUOTE_SIGNER_MISMATCH;
        return 0;
    }

    /* Step 7: bound to this nonce and this report. */
    if (a.extraData.size != expect->extra_data_len ||
        CRYPTO_memcmp(a.extraData.buffer, expect->extra_data, expect->extra_data_len) != 0) {
        *ret_reason = POSTURE_QUOTE_EXTRA_DATA_MISMATCH;
        return 0;
    }

    /* Step 8: clock. */
    reason = check_clock(&a.clockInfo, expect->previous);
    if (reason != POSTURE_QUOTE_OK) {
        *ret_reason = reason;
        return 0;
    }

    /* Steps 9-10: selection and values. */
    r = check_pcrs(&a.attested.quote, expect, &reason);
    if (r < 0)
        return r;
    if (reason != POSTURE_QUOTE_OK) {
        *ret_reason = reason;
        return 0;
    }

    if (ret_info)
        *ret_info = (struct posture_quote_info){
            .clock = { .clock = a.clockInfo.clock,
                       .reset_count = a.clockInfo.resetCount,
                       .restart_count = a.clockInfo.restartCount },
            .firmware_version = a.firmwareVersion,
        };
    *ret_reason = POSTURE_QUOTE_OK;
    return 0;
}

int posture_quote_check_replay(uint32_t pcr_mask,
                               const struct posture_quote_pcr *pcrs,
                               size_t n_pcrs,
                               const uint8_t (*replayed)[POSTURE_QUOTE_DIGEST_SIZE],
                               size_t n_replayed,
                               enum posture_quote_reason *ret_reason)
{
    POSTURE_RETURN_IF_FAIL(pcr_mask != 0 && (pcr_mask >> POSTURE_QUOTE_PCR_MAX) == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(pcrs || n_pcrs == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(replayed && ret_reason, -EINVAL);
    POSTURE_RETURN_IF_FAIL(n_replayed >= (size_t) (32 - __builtin_clz(pcr_mask)), -EINVAL);

    for (unsigned idx = 0; idx < POSTURE_QUOTE_PCR_MAX; idx++) {
        const struct posture_quote_pcr *found = NULL;
        if (!(pcr_mask & (1u << idx)))
            continue;
        for (size_t i = 0; i < n_pcrs; i++)
            if (pcrs[i].index == idx) {
                found = &pcrs[i];
                break;
            }
        if (!found || memcmp(found->digest, replayed[idx], POSTURE_QUOTE_DIGEST_SIZE) != 0) {
            log_debug("quote: PCR %u does not match the event log's replay", idx);
            *ret_reason = POSTURE_QUOTE_REPLAY_MISMATCH;
            return 0;
        }
    }
    *ret_reason = POSTURE_QUOTE_OK;
    return 0;
}
