/* SPDX-License-Identifier: Apache-2.0 */
/* The TPM side of enrolment (ATTESTATION.md §4.2 steps 2 and 4); see tpm_enroll.h. */

#include "posture/tpm_enroll.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/key.h"
#include "posture/log.h"
#include "posture/tpm_quote.h"

#include "tpm_private.h"

#define DEVICE_ID_MAX 128u /* a kid is 43 characters */
#define NONCE0_MAX    64u

static void esys_freep(void *p)
{
    Esys_Free(*(void **) p);
}
#define auto_esys POSTURE_CLEANUP(esys_freep)

static void x509_freep(X509 **p)
{
    X509_free(*p);
}

static void param_bld_freep(OSSL_PARAM_BLD **p)
{
    OSSL_PARAM_BLD_free(*p);
}

static void params_freep(OSSL_PARAM **p)
{
    OSSL_PARAM_free(*p);
}

static void bn_freep(BIGNUM **p)
{
    BN_free(*p);
}

static void pkey_ctx_freep(EVP_PKEY_CTX **p)
{
    EVP_PKEY_CTX_free(*p);
}

struct posture_tpm_enroll_material *
posture_tpm_enroll_material_free(struct posture_tpm_enroll_material *m)
{
    if (!m)
        return NULL;
    free(m->ek_cert);
    free(m->ek_public);
    free(m->ak_public);
    free(m);
    return NULL;
}

/* ---- pure parts ------------------------------------------------------------------------ */

/* The EK Credential Profile's PolicyA (SHA-256): TPM2_PolicySecret(TPM_RH_ENDORSEMENT). */
static const uint8_t policy_a_sha256[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

/* Templates L-1 (RSA 2048) and L-2 (ECC P-256): attributes 0x000300b2, PolicyA, AES-128-CFB,
 * and the zero-filled unique field of the profile. */
static void ek_template(bool rsa, TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    t->publicArea.nameAlg = TPM2_ALG_SHA256;
    t->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                                     TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    t->publicArea.authPolicy.size = sizeof(policy_a_sha256);
    memcpy(t->publicArea.authPolicy.buffer, policy_a_sha256, sizeof(policy_a_sha256));
    if (rsa) {
        t->publicArea.type = TPM2_ALG_RSA;
        t->publicArea.parameters.rsaDetail = (TPMS_RSA_PARMS){
            .symmetric = { .algorithm = TPM2_ALG_AES,
                           .keyBits.aes = 128,
                           .mode.aes = TPM2_ALG_CFB },
            .scheme.scheme = TPM2_ALG_NULL,
            .keyBits = 2048,
            .exponent = 0,
        };
        t->publicArea.unique.rsa.size = 256;
    } else {
        t->publicArea.type = TPM2_ALG_ECC;
        t->publicArea.parameters.eccDetail = (TPMS_ECC_PARMS){
            .symmetric = { .algorithm = TPM2_ALG_AES,
                           .keyBits.aes = 128,
                           .mode.aes = TPM2_ALG_CFB },
            .scheme.scheme = TPM2_ALG_NULL,
            .curveID = TPM2_ECC_NIST_P256,
            .kdf.scheme = TPM2_ALG_NULL,
        };
        t->publicArea.unique.ecc.x.size = 32;
        t->publicArea.unique.ecc.y.size = 32;
    }
}

int posture_tpm_ek_template(bool rsa, uint8_t *buf, size_t buf_size, size_t *ret_len)
{
    TPM2B_PUBLIC t;
    size_t off = 0;

    POSTURE_RETURN_IF_FAIL(buf && ret_len, -EINVAL);
    ek_template(rsa, &t);
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(&t, buf, buf_size, &off) != TSS2_RC_SUCCESS)
        return -ENOBUFS;
    *ret_len = off;
    return 0;
}

static int unmarshal_public(const uint8_t *p, size_t n, TPM2B_PUBLIC *ret)
{
    size_t off = 0;

    memset(ret, 0, sizeof(*ret));
    if (n == 0 || n > sizeof(TPM2B_PUBLIC) + 2 ||
        Tss2_MU_TPM2B_PUBLIC_Unmarshal(p, n, &off, ret) != TSS2_RC_SUCCESS || off != n)
        return -EBADMSG;
    return 0;
}

static const char *curve_name(TPMI_ECC_CURVE curve, size_t *ret_size)
{
    switch (curve) {
    case TPM2_ECC_NIST_P256:
        *ret_size = 32;
        return "P-256";
    case TPM2_ECC_NIST_P384:
        *ret_size = 48;
        return "P-384";
    case TPM2_ECC_NIST_P521:
        *ret_size = 66;
        return "P-521";
    default:
        return NULL;
    }
}

/* The public key of a TPM public area, as an OpenSSL key. */
static int public_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **ret)
{
    POSTURE_CLEANUP(param_bld_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    POSTURE_CLEANUP(params_freep) OSSL_PARAM *params = NULL;
    POSTURE_CLEANUP(pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
    POSTURE_CLEANUP(bn_freep) BIGNUM *n = NULL, *e = NULL;
    uint8_t point[1 + 2 * 66];
    EVP_PKEY *pkey = NULL;
    const char *type;
    bool ok;

    if (!bld)
        return -ENOMEM;
    if (pub->type == TPM2_ALG_RSA) {
        const TPMS_RSA_PARMS *p = &pub->parameters.rsaDetail;
        uint32_t exp = p->exponent ? p->exponent : 65537u;

        if (pub->unique.rsa.size == 0 || pub->unique.rsa.size * 8u != p->keyBits)
            return -EBADMSG;
        n = BN_bin2bn(pub->unique.rsa.buffer, pub->unique.rsa.size, NULL);
        e = BN_new();
        if (!n || !e || BN_set_word(e, exp) != 1)
            return -ENOMEM;
        ok = OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1;
        type = "RSA";
    } else if (pub->type == TPM2_ALG_ECC) {
        const TPMS_ECC_POINT *q = &pub->unique.ecc;
        size_t size = 0;
        const char *curve = curve_name(pub->parameters.eccDetail.curveID, &size);

        if (!curve)
            return -EOPNOTSUPP;
        if (q->x.size == 0 || q->y.size == 0 || q->x.size > size || q->y.size > size)
            return -EBADMSG;
        /* Uncompressed point, coordinates left-padded to the field size. */
        memset(point, 0, sizeof(point));
        point[0] = 0x04;
        memcpy(point + 1 + size - q->x.size, q->x.buffer, q->x.size);
        memcpy(point + 1 + 2 * size - q->y.size, q->y.buffer, q->y.size);
        ok = OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve, 0) == 1 &&
             OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size) ==
                 1;
        type = "EC";
    } else
        return -EOPNOTSUPP;
    if (!ok)
        return -ENOMEM;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx)
        return -ENOMEM;
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 || !pkey)
        return -EBADMSG; /* not a point on the curve, and the like */
    *ret = pkey;
    return 0;
}

static int parse_cert(const uint8_t *cert, size_t cert_len, X509 **ret)
{
    const unsigned char *p = cert;
    X509 *x;

    if (cert_len == 0 || cert_len > POSTURE_TPM_EK_CERT_MAX)
        return -EBADMSG;
    x = d2i_X509(NULL, &p, (long) cert_len);
    if (!x || p != cert + cert_len) {
        X509_free(x);
        return -EBADMSG;
    }
    *ret = x;
    return 0;
}

/* 0 when pub holds the public key of cert. */
static int public_matches(const TPMT_PUBLIC *pub, X509 *cert)
{
    posture_auto_evp_pkey EVP_PKEY *k = NULL;
    EVP_PKEY *ck = X509_get0_pubkey(cert);
    int r;

    if (!ck)
        return -EBADMSG;
    r = public_to_pkey(pub, &k);
    if (r < 0)
        return r;
    return EVP_PKEY_eq(k, ck) == 1 ? 0 : -EKEYREJECTED;
}

int posture_tpm_ek_public_matches_cert(const uint8_t *ek_public,
                                       size_t ek_public_len,
                                       const uint8_t *cert,
                                       size_t cert_len)
{
    POSTURE_CLEANUP(x509_freep) X509 *x = NULL;
    TPM2B_PUBLIC pub;
    int r;

    POSTURE_RETURN_IF_FAIL(ek_public && cert, -EINVAL);
    r = unmarshal_public(ek_public, ek_public_len, &pub);
    if (r < 0)
        return r;
    r = parse_cert(cert, cert_len, &x);
    if (r < 0)
        return r;
    return public_matches(&pub.publicArea, x);
}

int posture_tpm_enroll_proof(const uint8_t *secret,
                             size_t secret_len,
                             const char *device_id,
                             const uint8_t *nonce0,
                             size_t nonce0_len,
                             uint8_t ret[POSTURE_TPM_ENROLL_PROOF_SZ])
{
    uint8_t msg[sizeof(POSTURE_TPM_ENROLL_LABEL) - 1 + DEVICE_ID_MAX + NONCE0_MAX];
    size_t id_len, n = 0;
    unsigned md_len = 0;
    uint8_t md[EVP_MAX_MD_SIZE];

    POSTURE_RETURN_IF_FAIL(secret && secret_len > 0 && secret_len <= POSTURE_TPM_SECRET_MAX,
                           -EINVAL);
    POSTURE_RETURN_IF_FAIL(device_id && nonce0 && nonce0_len > 0 && nonce0_len <= NONCE0_MAX,
                           -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);
    id_len = strnlen(device_id, DEVICE_ID_MAX + 1);
    if (id_len == 0 || id_len > DEVICE_ID_MAX)
        return -EINVAL;

    memcpy(msg, POSTURE_TPM_ENROLL_LABEL, sizeof(POSTURE_TPM_ENROLL_LABEL) - 1);
    n = sizeof(POSTURE_TPM_ENROLL_LABEL) - 1;
    memcpy(msg + n, device_id, id_len);
    n += id_len;
    memcpy(msg + n, nonce0, nonce0_len);
    n += nonce0_len;
    if (!HMAC(EVP_sha256(), secret, (int) secret_len, msg, n, md, &md_len) ||
        md_len != POSTURE_TPM_ENROLL_PROOF_SZ) {
        OPENSSL_cleanse(md, sizeof(md));
        return -EIO;
    }
    memcpy(ret, md, POSTURE_TPM_ENROLL_PROOF_SZ);
    OPENSSL_cleanse(md, sizeof(md));
    return 0;
}

/* ---- ESAPI ------------------------------------------------------------------------------ */

struct tpm {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR ek;         /* ESYS_TR_NONE or the EK */
    bool ek_flush;      /* a transient primary (flushed), else a persistent handle (closed) */
    uint32_t ek_handle; /* the persistent handle, 0 for a primary */
    ESYS_TR ak;         /* ESYS_TR_NONE or the AK (transient) */
    ESYS_TR session;    /* ESYS_TR_NONE or the policy session */
};

static void tpm_done(struct tpm *t)
{
    TSS2_RC rc;

    if (t->session != ESYS_TR_NONE) {
        rc = Esys_FlushContext(t->esys, t->session);
        if (rc != TSS2_RC_SUCCESS)
            log_debug("tpm: flushing the policy session: %s", Tss2_RC_Decode(rc));
    }
    if (t->ak != ESYS_TR_NONE) {
        rc = Esys_FlushContext(t->esys, t->ak);
        if (rc != TSS2_RC_SUCCESS)
            log_debug("tpm: flushing the AK: %s", Tss2_RC_Decode(rc));
    }
    if (t->ek != ESYS_TR_NONE) {
        rc = t->ek_flush ? Esys_FlushContext(t->esys, t->ek) : Esys_TR_Close(t->esys, &t->ek);
        if (rc != TSS2_RC_SUCCESS)
            log_debug("tpm: releasing the EK: %s", Tss2_RC_Decode(rc));
    }
    t->session = t->ak = t->ek = ESYS_TR_NONE;
    if (t->esys)
        Esys_Finalize(&t->esys);
    if (t->tcti)
        Tss2_TctiLdr_Finalize(&t->tcti);
}

static int tpm_open(const char *tcti, struct tpm *t)
{
    return posture_tpm_context_open(tcti, &t->tcti, &t->esys);
}

static int marshal_public(const TPM2B_PUBLIC *pub, uint8_t **ret, size_t *ret_len)
{
    uint8_t buf[sizeof(TPM2B_PUBLIC) + 2];
    size_t off = 0;
    uint8_t *d;

    if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
        return -EIO;
    if (off > POSTURE_TPM_PUBLIC_MAX)
        return -EFBIG;
    d = malloc(off);
    if (!d)
        return -ENOMEM;
    memcpy(d, buf, off);
    *ret = d;
    *ret_len = off;
    return 0;
}

/* Which EK to accept: the certificate's key, or exactly these public bytes. */
struct ek_want {
    X509 *cert;           /* or NULL */
    const uint8_t *bytes; /* when cert is NULL */
    size_t len;
    bool rsa; /* the key type, for the default template */
};

static int ek_acceptable(const struct ek_want *w, const TPM2B_PUBLIC *pub)
{
    posture_autofree uint8_t *m = NULL;
    size_t n = 0;
    int r;

    if (w->cert)
        return public_matches(&pub->publicArea, w->cert);
    r = marshal_public(pub, &m, &n);
    if (r < 0)
        return r;
    return n == w->len && memcmp(m, w->bytes, n) == 0 ? 0 : -EKEYREJECTED;
}

/* Whether the persistent handle h is defined (asked first, so that ESAPI does not log an error
 * for each handle a TPM does not have). On a failed query: assume it may be, and let
 * Esys_TR_FromTPMPublic() tell. */
static bool persistent_exists(ESYS_CONTEXT *esys, TPM2_HANDLE h)
{
    auto_esys TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = TPM2_NO;
    TSS2_RC rc;

    rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, h, 1,
                            &more, &cap);
    if (rc != TSS2_RC_SUCCESS || !cap || cap->capability != TPM2_CAP_HANDLES)
        return true;
    return cap->data.handles.count >= 1 && cap->data.handles.handle[0] == h;
}

/* Find the EK that w wants: a persistent one, else the default-template primary. On success
 * t->ek is set and *ret_pub is its public area (Esys_Free). */
static int ek_find(struct tpm *t, const struct ek_want *w, TPM2B_PUBLIC **ret_pub)
{
    static const TPM2_HANDLE handles[] = { POSTURE_TPM_EK_HANDLES };
    TPM2B_SENSITIVE_CREATE sensitive = { 0 };
    TPM2B_DATA outside = { 0 };
    TPML_PCR_SELECTION creation_pcr = { 0 };
    TPM2B_PUBLIC tmpl;
    TPM2B_PUBLIC *pub = NULL;
    ESYS_TR tr = ESYS_TR_NONE;
    TSS2_RC rc;
    int r;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(handles); i++) {
        if (!persistent_exists(t->esys, handles[i]))
            continue;
        rc = Esys_TR_FromTPMPublic(t->esys, handles[i], ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   &tr);
        if (rc != TSS2_RC_SUCCESS)
            continue; /* not defined */
        rc = Esys_ReadPublic(t->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL,
                             NULL);
        if (rc == TSS2_RC_SUCCESS && pub && ek_acceptable(w, pub) == 0) {
            log_debug("tpm: EK at persistent handle 0x%08x", (unsigned) handles[i]);
            t->ek = tr;
            t->ek_flush = false;
            t->ek_handle = handles[i];
            *ret_pub = pub;
            return 0;
        }
        Esys_Free(pub);
        pub = NULL;
        (void) Esys_TR_Close(t->esys, &tr);
    }

    ek_template(w->rsa, &tmpl);
    rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE, &sensitive, &tmpl, &outside, &creation_pcr, &tr, &pub,
                            NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        (void) posture_tpm_rc_error(rc, "CreatePrimary (EK, default template)");
        return -EIO;
    }
    t->ek = tr;
    t->ek_flush = true;
    if (!pub)
        return -EIO;
    r = ek_acceptable(w, pub);
    if (r < 0) {
        Esys_Free(pub);
        return r == -EBADMSG || r == -EOPNOTSUPP ? r : -EKEYREJECTED;
    }
    log_debug("tpm: EK made from the default %s template", w->rsa ? "RSA" : "ECC");
    *ret_pub = pub;
    return 0;
}

static int ak_create(struct tpm *t, TPM2B_PUBLIC **ret_pub)
{
    TPM2B_SENSITIVE_CREATE sensitive = { 0 };
    TPM2B_DATA outside = { 0 };
    TPML_PCR_SELECTION creation_pcr = { 0 };
    TSS2_RC rc;

    rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE, &sensitive, &posture_tpm_ak_template, &outside,
                            &creation_pcr, &t->ak, ret_pub, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        (void) posture_tpm_rc_error(rc, "CreatePrimary (AK)");
        return -EIO;
    }
    return *ret_pub ? 0 : -EIO;
}

int posture_tpm_enroll_material(const char *tcti, struct posture_tpm_enroll_material **ret)
{
    POSTURE_CLEANUP(posture_tpm_enroll_material_freep) struct posture_tpm_enroll_material *m = NULL;
    POSTURE_CLEANUP(tpm_done)
    struct tpm t = { .ek = ESYS_TR_NONE, .ak = ESYS_TR_NONE, .session = ESYS_TR_NONE };
    POSTURE_CLEANUP(x509_freep) X509 *cert = NULL;
    auto_esys TPM2B_PUBLIC *ek_pub = NULL, *ak_pub = NULL;
    struct ek_want want = { 0 };
    int r;

    POSTURE_RETURN_IF_FAIL(tcti && ret, -EINVAL);
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;

    r = posture_tpm_read_ek_cert(tcti, &m->ek_cert, &m->ek_cert_len);
    if (r < 0)
        return r;
    r = parse_cert(m->ek_cert, m->ek_cert_len, &cert);
    if (r < 0)
        return r;
    switch (EVP_PKEY_get_base_id(X509_get0_pubkey(cert))) {
    case EVP_PKEY_RSA:
        want.rsa = true;
        break;
    case EVP_PKEY_EC:
        want.rsa = false;
        break;
    default:
        return -EOPNOTSUPP;
    }
    want.cert = cert;

    r = tpm_open(tcti, &t);
    if (r < 0)
        return r;
    r = ek_find(&t, &want, &ek_pub);
    if (r < 0)
        return r;
    m->ek_handle = t.ek_handle;
    r = marshal_public(ek_pub, &m->ek_public, &m->ek_public_len);
    if (r < 0)
        return r;
    r = ak_create(&t, &ak_pub);
    if (r < 0)
        return r;
    r = marshal_public(ak_pub, &m->ak_public, &m->ak_public_len);
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(m);
    return 0;
}

/* Authorise the EK's use: a policy session with PolicySecret(endorsement), or a password when
 * the EK allows one (userWithAuth: the high-range templates). */
static int ek_authorise(struct tpm *t, const TPMT_PUBLIC *ek, ESYS_TR *ret_shandle)
{
    TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
    TPM2B_NONCE nonce_tpm = { 0 }, policy_ref = { 0 };
    TPM2B_DIGEST cp_hash = { 0 };
    TSS2_RC rc;

    if (ek->objectAttributes & TPMA_OBJECT_USERWITHAUTH) {
        *ret_shandle = ESYS_TR_PASSWORD;
        return 0;
    }
    rc = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                               ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, ek->nameAlg, &t->session);
    if (rc != TSS2_RC_SUCCESS)
        return posture_tpm_rc_error(rc, "StartAuthSession (policy)");
    rc = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, t->session, ESYS_TR_PASSWORD,
                           ESYS_TR_NONE, ESYS_TR_NONE, &nonce_tpm, &cp_hash, &policy_ref, 0, NULL,
                           NULL);
    if (rc != TSS2_RC_SUCCESS)
        return posture_tpm_rc_error(rc, "PolicySecret (endorsement)");
    *ret_shandle = t->session;
    return 0;
}

int posture_tpm_activate_credential(const char *tcti,
                                    const uint8_t *ek_public,
                                    size_t ek_public_len,
                                    const uint8_t *credential_blob,
                                    size_t credential_blob_len,
                                    const uint8_t *encrypted_secret,
                                    size_t encrypted_secret_len,
                                    uint8_t ret_secret[POSTURE_TPM_SECRET_MAX],
                                    size_t *ret_secret_len)
{
    POSTURE_CLEANUP(tpm_done)
    struct tpm t = { .ek = ESYS_TR_NONE, .ak = ESYS_TR_NONE, .session = ESYS_TR_NONE };
    auto_esys TPM2B_PUBLIC *ek_pub = NULL, *ak_pub = NULL;
    TPM2B_DIGEST *cert_info = NULL;
    TPM2B_ID_OBJECT blob;
    TPM2B_ENCRYPTED_SECRET secret;
    TPM2B_PUBLIC given;
    struct ek_want want = { .bytes = ek_public, .len = ek_public_len };
    ESYS_TR ek_session = ESYS_TR_NONE;
    size_t off;
    TSS2_RC rc;
    int r;

    POSTURE_RETURN_IF_FAIL(tcti && ek_public && credential_blob && encrypted_secret, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret_secret && ret_secret_len, -EINVAL);

    r = unmarshal_public(ek_public, ek_public_len, &given);
    if (r < 0)
        return r;
    want.rsa = given.publicArea.type == TPM2_ALG_RSA;
    off = 0;
    memset(&blob, 0, sizeof(blob));
    if (credential_blob_len > POSTURE_TPM_CREDENTIAL_MAX ||
        Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(credential_blob, credential_blob_len, &off, &blob) !=
            TSS2_RC_SUCCESS ||
        off != credential_blob_len || blob.size == 0)
        return -EBADMSG;
    off = 0;
    memset(&secret, 0, sizeof(secret));
    if (encrypted_secret_len > POSTURE_TPM_CREDENTIAL_MAX ||
        Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(encrypted_secret, encrypted_secret_len, &off,
                                                 &secret) != TSS2_RC_SUCCESS ||
        off != encrypted_secret_len || secret.size == 0)
        return -EBADMSG;

    r = tpm_open(tcti, &t);
    if (r < 0)
        return r;
    r = ek_find(&t, &want, &ek_pub);
    if (r < 0)
        return r;
    r = ak_create(&t, &ak_pub);
    if (r < 0)
        return r;
    r = ek_authorise(&t, &ek_pub->publicArea, &ek_session);
    if (r < 0)
        return r;
    rc = Esys_ActivateCredential(t.esys, t.ak, t.ek, ESYS_TR_PASSWORD, ek_session, ESYS_TR_NONE,
                                 &blob, &secret, &cert_info);
    /* The policy session (continueSession, ESAPI's default) is flushed by tpm_done(). */
    if (rc != TSS2_RC_SUCCESS) {
        (void) posture_tpm_rc_error(rc, "ActivateCredential");
        /* The TPM's own refusal (TPM_RC_INTEGRITY, _VALUE, _SIZE ...): the credential was not
         * made for this EK and AK. */
        return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER ? -EACCES : -EIO;
    }
    if (cert_info->size == 0 || cert_info->size > POSTURE_TPM_SECRET_MAX) {
        OPENSSL_cleanse(cert_info, sizeof(*cert_info));
        Esys_Free(cert_info);
        return -EIO;
    }
    memcpy(ret_secret, cert_info->buffer, cert_info->size);
    *ret_secret_len = cert_info->size;
    OPENSSL_cleanse(cert_info, sizeof(*cert_info));
    Esys_Free(cert_info);
    return 0;
}
