/* SPDX-License-Identifier: Apache-2.0 */
/* The TPM-resident device key through the tpm2-openssl provider (posture/key_tpm.h). */

#include "posture/key_tpm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "posture/agent_config.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/log.h"
#include "posture/ossl.h"
#include "posture/statefile.h"

#define TPM_PROPQ_ONLY "provider=" POSTURE_KEY_TPM_PROVIDER

static bool name_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

bool posture_key_tpm_tcti_usable(const char *tcti)
{
    static const char *const default_devices[] = { "/dev/tpmrm0", "/dev/tpm0" };
    const char *colon, *conf;
    size_t name_len;
    struct stat st;

    if (!tcti || !*tcti)
        return false;
    colon = strchr(tcti, ':');
    name_len = colon ? (size_t) (colon - tcti) : strlen(tcti);
    conf = colon ? colon + 1 : "";
    /* "device", or the library the loader would open for it. */
    if (!name_is(tcti, name_len, "device") && !name_is(tcti, name_len, "libtss2-tcti-device.so") &&
        !name_is(tcti, name_len, "libtss2-tcti-device.so.0"))
        return true;
    if (*conf)
        return stat(conf, &st) == 0 && S_ISCHR(st.st_mode);
    for (size_t i = 0; i < sizeof(default_devices) / sizeof(default_devices[0]); i++)
        if (stat(default_devices[i], &st) == 0 && S_ISCHR(st.st_mode))
            return true;
    return false;
}

int posture_key_tpm_select(int tpm_mode, int existing, bool tcti_usable)
{
    if (tpm_mode < 0 || tpm_mode >= POSTURE_TPM__MAX)
        return -EINVAL;

    switch (existing) {
    case POSTURE_KEY_SOURCE_FILE: /* stays a file key, even with enabled = yes */
        return POSTURE_KEY_SOURCE_FILE;
    case POSTURE_KEY_SOURCE_TPM: /* stays a TPM key; with enabled = no it cannot be used */
        return tpm_mode == POSTURE_TPM_NO ? -EMEDIUMTYPE : POSTURE_KEY_SOURCE_TPM;
    case -ENOENT:
        break;
    default:
        return -EINVAL;
    }

    switch (tpm_mode) {
    case POSTURE_TPM_YES:
        return POSTURE_KEY_SOURCE_TPM;
    case POSTURE_TPM_NO:
        return POSTURE_KEY_SOURCE_FILE;
    default:
        return tcti_usable ? POSTURE_KEY_SOURCE_TPM : POSTURE_KEY_SOURCE_FILE;
    }
}

/*
 * The library context of one key and the providers loaded into it. Until it is attached to its
 * key, the function that opened it owns it; it is declared before every OpenSSL object made in
 * it, and the key before the other objects, so that the cleanup attributes (which run in
 * reverse order) free them all before the context.
 */
struct tpm_ctx {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *providers[2];
    size_t n_providers;
};

static void tpm_ctx_done(struct tpm_ctx *c)
{
    while (c->n_providers > 0)
        (void) OSSL_PROVIDER_unload(c->providers[--c->n_providers]);
    OSSL_LIB_CTX_free(c->libctx);
    c->libctx = NULL;
}

/* The error queue of a failed OSSL_PROVIDER_load(): a DSO error means the module is missing,
 * anything else that its initialisation (the TCTI, the TPM) failed. */
static int provider_load_error(void)
{
    unsigned long e;
    char buf[256];
    int r = -ENODEV;

    while ((e = ERR_get_error()) != 0) {
        if (ERR_GET_LIB(e) == ERR_LIB_DSO)
            r = -ENOPKG;
        ERR_error_string_n(e, buf, sizeof(buf));
        log_debug("loading the " POSTURE_KEY_TPM_PROVIDER " provider: %s", buf);
    }
    return r;
}

/* Load the tpm2 provider into libctx with TPM2OPENSSL_TCTI = tcti for its initialisation only
 * (the provider reads nothing else on OpenSSL 3.0; see the header), then restore it. */
static int load_tpm_provider(OSSL_LIB_CTX *libctx, const char *tcti, OSSL_PROVIDER **ret)
{
    posture_autofree char *saved = NULL;
    OSSL_PROVIDER *prov;
    const char *old;
    int r;

    old = getenv(POSTURE_KEY_TPM_TCTI_ENV); /* NOLINT(concurrency-mt-unsafe): see the header */
    if (old) {
        saved = strdup(old);
        if (!saved)
            return -ENOMEM;
    }
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): before any thread starts (see the header) */
    if (setenv(POSTURE_KEY_TPM_TCTI_ENV, tcti, 1) < 0)
        return posture_negative_errno();
    prov = OSSL_PROVIDER_load(libctx, POSTURE_KEY_TPM_PROVIDER);
    /* NOLINTNEXTLINE(concurrency-mt-unsafe): before any thread starts (see the header) */
    r = saved ? setenv(POSTURE_KEY_TPM_TCTI_ENV, saved, 1) : unsetenv(POSTURE_KEY_TPM_TCTI_ENV);
    if (!prov)
        return provider_load_error();
    if (r < 0) {
        r = posture_negative_errno();
        (void) OSSL_PROVIDER_unload(prov);
        return r;
    }
    *ret = prov;
    return 0;
}

static int tpm_ctx_open(const char *tcti, struct tpm_ctx *ret)
{
    struct tpm_ctx c = { 0 };
    int r;

    c.libctx = OSSL_LIB_CTX_new();
    if (!c.libctx)
        return -ENOMEM;
    r = load_tpm_provider(c.libctx, tcti, &c.providers[0]);
    if (r < 0) {
        tpm_ctx_done(&c);
        return r;
    }
    c.n_providers = 1;
    /* The default provider does the rest (PEM public keys, digests) in this context. */
    c.providers[1] = OSSL_PROVIDER_load(c.libctx, "default");
    if (!c.providers[1]) {
        posture_ossl_drain("loading the default provider");
        tpm_ctx_done(&c);
        return -ENOMEM;
    }
    c.n_providers = 2;
    *ret = c;
    return 0;
}

/* Hand c to pkey, which owns it from now on (freed after the key, posture_key_attach_libctx). */
static int tpm_ctx_attach(struct tpm_ctx *c, EVP_PKEY *pkey)
{
    int r = posture_key_attach_libctx(pkey, c->libctx, c->providers, c->n_providers,
                                      POSTURE_KEY_TPM_PROPQ);
    if (r < 0)
        return r;
    *c = (struct tpm_ctx){ 0 };
    return 0;
}

int posture_key_tpm_load_file(const char *path, const char *tcti, EVP_PKEY **ret)
{
    /* Freed in reverse order: the decoder, the key (owning the context once attached), c. */
    POSTURE_CLEANUP(tpm_ctx_done) struct tpm_ctx c = { 0 };
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    POSTURE_CLEANUP(OSSL_DECODER_CTX_freep) OSSL_DECODER_CTX *dctx = NULL;
    const unsigned char *data;
    char *buf = NULL;
    size_t len = 0, left;
    int r, ok;

    POSTURE_RETURN_IF_FAIL(path && tcti && ret, -EINVAL);

    r = posture_key_read_file(path, &buf, &len);
    if (r < 0)
        return r;
    r = posture_key_pem_source(buf, len);
    if (r != POSTURE_KEY_SOURCE_TPM) {
        posture_key_buf_free(buf, len);
        return r == POSTURE_KEY_SOURCE_FILE ? -EMEDIUMTYPE : -EBADMSG;
    }
    r = tpm_ctx_open(tcti, &c);
    if (r < 0) {
        posture_key_buf_free(buf, len);
        return r;
    }

    /* The provider's own decoders (PEM → DER → TSS2 key), which load the key into the TPM. */
    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL, OSSL_KEYMGMT_SELECT_KEYPAIR,
                                         c.libctx, TPM_PROPQ_ONLY);
    data = (const unsigned char *) buf;
    left = len;
    ok = dctx && OSSL_DECODER_from_data(dctx, &data, &left);
    posture_key_buf_free(buf, len);
    if (!dctx)
        return -ENOMEM;
    if (!ok || !pkey) {
        posture_ossl_drain(path);
        return -ENOKEY;
    }
    r = posture_key_check_p256(pkey);
    if (r < 0)
        return r;
    r = tpm_ctx_attach(&c, pkey);
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(pkey);
    return 0;
}

int posture_key_tpm_create_file(int dir_fd, const char *name, const char *tcti, EVP_PKEY **ret)
{
    /* Freed in reverse order: BIO, encoder, generator, the key (owning the context once
     * attached), c. */
    POSTURE_CLEANUP(tpm_ctx_done) struct tpm_ctx c = { 0 };
    posture_auto_evp_pkey EVP_PKEY *pkey = NULL;
    POSTURE_CLEANUP(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *gen = NULL;
    POSTURE_CLEANUP(OSSL_ENCODER_CTX_freep) OSSL_ENCODER_CTX *enc = NULL;
    POSTURE_CLEANUP(BIO_freep) BIO *bio = NULL;
    char group[] = "P-256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_construct_end(),
    };
    char *data = NULL;
    long n;
    int r;

    POSTURE_RETURN_IF_FAIL(dir_fd >= 0 && name && tcti && ret, -EINVAL);

    r = tpm_ctx_open(tcti, &c);
    if (r < 0)
        return r;
    gen = EVP_PKEY_CTX_new_from_name(c.libctx, "EC", TPM_PROPQ_ONLY);
    if (!gen || EVP_PKEY_keygen_init(gen) <= 0 || EVP_PKEY_CTX_set_params(gen, params) <= 0 ||
        EVP_PKEY_generate(gen, &pkey) <= 0 || !pkey) {
        posture_ossl_drain("TPM P-256 key generation");
        return -EIO;
    }
    r = posture_key_check_p256(pkey);
    if (r < 0)
        return r;

    /* The provider's private key encoder writes the TSS2 PRIVATE KEY PEM. */
    enc = OSSL_ENCODER_CTX_new_for_pkey(pkey, OSSL_KEYMGMT_SELECT_KEYPAIR, "PEM", NULL,
                                        TPM_PROPQ_ONLY);
    bio = BIO_new(BIO_s_secmem());
    if (!enc || !bio)
        return -ENOMEM;
    if (OSSL_ENCODER_CTX_get_num_encoders(enc) == 0 || !OSSL_ENCODER_to_bio(enc, bio)) {
        posture_ossl_drain("TSS2 private key PEM");
        return -EIO;
    }
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || !data || posture_key_pem_source(data, (size_t) n) != POSTURE_KEY_SOURCE_TPM)
        return -EIO; /* never store anything but the TPM's key blob */

    r = tpm_ctx_attach(&c, pkey);
    if (r < 0)
        return r;
    r = posture_state_write_atomic(dir_fd, name, data, (size_t) n, 0600, false);
    if (r < 0)
        return r;
    *ret = POSTURE_TAKE_PTR(pkey);
    return 0;
}

int posture_key_tpm_open(const struct posture_key_opts *opts, EVP_PKEY **ret)
{
    posture_autofree char *path = NULL;
    posture_autoclose int dir_fd = -1;
    int r;

    POSTURE_RETURN_IF_FAIL(opts && ret, -EINVAL);
    if (!opts->state_dir || opts->state_dir[0] != '/' || !opts->tcti || !*opts->tcti)
        return -EINVAL;
    if (asprintf(&path, "%s/%s", opts->state_dir, POSTURE_DEVICE_KEY_NAME) < 0)
        return -ENOMEM;
    r = posture_key_tpm_load_file(path, opts->tcti, ret);
    if (r != -ENOENT || !opts->create)
        return r;

    r = posture_state_dir_open(opts->state_dir, true, &dir_fd);
    if (r < 0)
        return r;
    r = posture_key_tpm_create_file(dir_fd, POSTURE_DEVICE_KEY_NAME, opts->tcti, ret);
    if (r == -EEXIST) /* another process won the race: use its key */
        return posture_key_tpm_load_file(path, opts->tcti, ret);
    return r;
}
