/* SPDX-License-Identifier: Apache-2.0 */
/* Enrolment logic (ATTESTATION.md §5.2; §6 rows 12-16) on a real SQLite store with a clock the
 * test controls, the verifier's keys in a temporary state directory and an EK PKI made here.
 * The secret and nonce0 come from a test random source, so the proof can be computed without a
 * TPM; the TPM side (ActivateCredential with swtpm) is in
 * tests/integration/checks/verifier.enroll. */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "posture/b64url.h"
#include "posture/err.h"
#include "posture/json.h"
#include "posture/jws.h"
#include "posture/key.h"

#include "ek_testpki.h"
#include "enroll.h"
#include "testlib.h"

static int64_t now;

/* The proof of possession the test helpers add: the device keys seen (kid -> key, and the
 * nonce0 of its last challenge), and what the next "pop" should look like. */
#define MAX_DEVS 16
static struct {
    char kid[POSTURE_KEY_THUMBPRINT_LEN + 1];
    EVP_PKEY *key;
    uint8_t nonce0[32];
} devs[MAX_DEVS];
static struct fixture *cur;
enum pop_mode {
    POP_GOOD,
    POP_NONE,       /* no "pop" */
    POP_OTHER_KEY,  /* signed by pop_other (the JWK is the device's) */
    POP_BAD_TOKEN,  /* token_sha256 of another token */
    POP_OLD,        /* iat 10 minutes ago */
    POP_REPORT_TYP, /* typ posture+jwt */
    POP_BAD_NONCE0, /* activation: nonce0 of another challenge */
    POP_NO_JWK,     /* activation: "pop" but no "jwk" */
    POP_OTHER_JWK,  /* activation: the JWK and signature of pop_other, the device's id */
};
static enum pop_mode pop_mode;
static EVP_PKEY *pop_other;

static void devs_clear(void)
{
    for (size_t i = 0; i < MAX_DEVS; i++)
        EVP_PKEY_free(devs[i].key);
    memset(devs, 0, sizeof(devs));
}

struct fixture {
    char *dir;
    uint64_t clock_usec;
    struct posture_store *store;
    struct posture_vkeys *keys;
    struct posture_ekcert_roots *roots;
    struct posture_enroll_ctx ctx;
    uint8_t next; /* the test random source: bytes next, next+1, ... */
    EVP_PKEY *root_key, *int_key, *ek, *ek2;
    X509 *root, *intermediate, *ek_cert, *ek2_cert;
};

static uint64_t test_clock(void *userdata)
{
    return ((struct fixture *) userdata)->clock_usec;
}

static int test_random(uint8_t *buf, size_t n, void *userdata)
{
    struct fixture *f = userdata;
    for (size_t i = 0; i < n; i++)
        buf[i] = f->next++;
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct posture_store_options opts = { 0 };
    char *url = NULL, *keydir = NULL;

    assert_non_null(f);
    now = (int64_t) time(NULL);
    f->clock_usec = (uint64_t) now * POSTURE_STORE_USEC_PER_SEC;
    f->dir = posture_test_mkdtemp();
    opts.clock = test_clock;
    opts.clock_userdata = f;
    assert_true(asprintf(&url, "sqlite:%s/store.db", f->dir) > 0);
    assert_int_equal(posture_store_open(url, &opts, &f->store), 0);
    free(url);
    assert_true(asprintf(&keydir, "%s/state", f->dir) > 0);
    assert_int_equal(posture_vkeys_open(keydir, "corp.example", true, &f->keys), 0);
    free(keydir);

    f->root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    f->int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    f->ek = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    f->ek2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    f->root =
        make_cert("root", f->root_key, NULL, f->root_key, 1, now - DAY, now + 365 * DAY, NULL);
    f->intermediate = make_cert("intermediate", f->int_key, f->root, f->root_key, 1, now - DAY,
                                now + 365 * DAY, NULL);
    f->ek_cert =
        make_cert("", f->ek, f->intermediate, f->int_key, 0, now - DAY, now + 365 * DAY, NULL);
    f->ek2_cert =
        make_cert("", f->ek2, f->intermediate, f->int_key, 0, now - DAY, now + 365 * DAY, NULL);
    {
        char *ekdir = NULL;
        X509 *both[] = { f->root, f->intermediate };
        assert_true(asprintf(&ekdir, "%s/ek-roots", f->dir) > 0);
        assert_int_equal(mkdir(ekdir, 0700), 0);
        write_pem(ekdir, "chain.pem", both, 2);
        assert_int_equal(posture_ekcert_roots_load(ekdir, NULL, &f->roots), 0);
        free(ekdir);
    }
    f->ctx = (struct posture_enroll_ctx){
        .store = f->store,
        .keys = f->keys,
        .ek_roots = f->roots,
        .random = test_random,
        .random_userdata = f,
    };
    cur = f;
    pop_mode = POP_GOOD;
    pop_other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(pop_other);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    devs_clear();
    EVP_PKEY_free(pop_other);
    pop_other = NULL;
    cur = NULL;
    posture_store_free(f->store);
    posture_vkeys_free(f->keys);
    posture_ekcert_roots_free(f->roots);
    EVP_PKEY_free(f->root_key);
    EVP_PKEY_free(f->int_key);
    EVP_PKEY_free(f->ek);
    EVP_PKEY_free(f->ek2);
    X509_free(f->root);
    X509_free(f->intermediate);
    X509_free(f->ek_cert);
    X509_free(f->ek2_cert);
    posture_test_rmdir_r(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static char *b64(const void *data, size_t n)
{
    char *s = NULL;
    assert_int_equal(posture_b64url_encode(data, n, &s), 0);
    return s;
}

static char *kid_of(EVP_PKEY *k)
{
    char *kid = NULL;
    assert_int_equal(posture_key_thumbprint(k, &kid), 0);
    return kid;
}

static size_t dev_slot(const char *kid, EVP_PKEY *key)
{
    for (size_t i = 0; i < MAX_DEVS; i++) {
        if (devs[i].key && strcmp(devs[i].kid, kid) == 0)
            return i;
        if (!devs[i].key && key) {
            assert_int_equal(EVP_PKEY_up_ref(key), 1);
            devs[i].key = key;
            memcpy(devs[i].kid, kid, strlen(kid) + 1);
            return i;
        }
    }
    fail_msg("no device key for %s", kid);
    return 0;
}

static void add_digest(cJSON *o, const char *key, const void *data, size_t n)
{
    uint8_t h[32];
    char *s;

    SHA256(data, n, h);
    s = b64(h, 32);
    assert_int_equal(posture_json_add_str(o, key, s), 0);
    free(s);
}

/* Sign claims (consumed) as a "pop" of typ with key, adding aud, iat and exp per pop_mode. */
static void add_pop(cJSON *o, EVP_PKEY *key, const char *typ, cJSON *claims)
{
    int64_t t = (int64_t) (cur->clock_usec / POSTURE_STORE_USEC_PER_SEC);
    char *text = NULL, *jws = NULL;

    if (pop_mode == POP_OLD)
        t -= 600;
    assert_int_equal(posture_json_add_str(claims, "aud", "https://verifier.test:8443"), 0);
    assert_int_equal(posture_json_add_int(claims, "iat", t), 0);
    assert_int_equal(posture_json_add_int(claims, "exp", t + 60), 0);
    assert_int_equal(posture_json_print(claims, false, &text), 0);
    cJSON_Delete(claims);
    assert_int_equal(posture_jws_sign(pop_mode == POP_OTHER_KEY ? pop_other : key,
                                      pop_mode == POP_REPORT_TYP ? POSTURE_JWS_TYP_REPORT : typ,
                                      text, strlen(text), &jws),
                     0);
    assert_int_equal(posture_json_add_str(o, "pop", jws), 0);
    free(text);
    free(jws);
}

static char *new_token(struct fixture *f, uint64_t ttl_sec)
{
    uint8_t t[POSTURE_STORE_TOKEN_SIZE];
    assert_int_equal(
        posture_store_token_create(f->store, ttl_sec * POSTURE_STORE_USEC_PER_SEC, "test", t, NULL),
        0);
    return b64(t, sizeof(t));
}

/* The request body for a device key, with TPM members when ek is not NULL. */
static char *request_json(const char *token,
                          EVP_PKEY *device,
                          X509 *ek_cert,
                          EVP_PKEY *ek,
                          EVP_PKEY *ak,
                          TPMA_OBJECT ak_attrs,
                          const char *extra_tpm_member)
{
    cJSON *o = cJSON_CreateObject(), *jwk = NULL;
    char *text = NULL;

    assert_int_equal(posture_json_add_str(o, "token", token), 0);
    assert_int_equal(posture_key_jwk(device, &jwk), 0);
    assert_int_equal(posture_json_add_item(o, "jwk", jwk), 0);
    if (ek) {
        cJSON *tpm = cJSON_CreateObject();
        uint8_t der[8192], pub[1024], akpub[1024];
        size_t der_len = der_of(ek_cert, der, sizeof(der));
        size_t pub_len = tpm_public(ek, EK_ATTRS, pub, sizeof(pub));
        size_t ak_len = ak_public(ak, ak_attrs, TPM2_ECC_NIST_P256, akpub, sizeof(akpub));
        char *s;

        s = b64(der, der_len);
        assert_int_equal(posture_json_add_str(tpm, "ek_cert", s), 0);
        free(s);
        s = b64(pub, pub_len);
        assert_int_equal(posture_json_add_str(tpm, "ek_pub", s), 0);
        free(s);
        s = b64(akpub, ak_len);
        assert_int_equal(posture_json_add_str(tpm, "ak_pub", s), 0);
        free(s);
        if (extra_tpm_member)
            assert_int_equal(posture_json_add_str(tpm, extra_tpm_member, "AAsAAAAA"), 0);
        assert_int_equal(posture_json_add_item(o, "tpm", tpm), 0);
    }
    {
        char *kid = kid_of(device);
        cJSON *claims = cJSON_CreateObject();
        uint8_t tok[64];
        int n = posture_b64url_decode_buf(token, strlen(token), tok, sizeof(tok));

        assert_true(n > 0);
        (void) dev_slot(kid, device);
        free(kid);
        if (pop_mode == POP_BAD_TOKEN)
            tok[0] ^= 1;
        add_digest(claims, "token_sha256", tok, (size_t) n);
        if (ek) {
            uint8_t akpub[1024];
            size_t ak_len = ak_public(ak, ak_attrs, TPM2_ECC_NIST_P256, akpub, sizeof(akpub));
            add_digest(claims, "ak_sha256", akpub, ak_len);
        }
        if (pop_mode != POP_NONE)
            add_pop(o, device, POSTURE_JWS_TYP_ENROLL, claims);
        else
            cJSON_Delete(claims);
    }
    assert_int_equal(posture_json_print(o, false, &text), 0);
    cJSON_Delete(o);
    return text;
}

/* The "pop" of a request body o again, after a test changed its tpm.ak_pub. */
static void resign(cJSON *o, EVP_PKEY *device)
{
    cJSON *claims = cJSON_CreateObject();
    const char *tok = posture_json_get_str(o, "token");
    const char *akb = posture_json_get_str(cJSON_GetObjectItemCaseSensitive(o, "tpm"), "ak_pub");
    uint8_t t[32], *ak = NULL;
    size_t ak_len = 0;

    assert_int_equal(posture_b64url_decode_buf(tok, strlen(tok), t, sizeof(t)), 32);
    add_digest(claims, "token_sha256", t, 32);
    assert_int_equal(posture_b64url_decode(akb, strlen(akb), 4096, &ak, &ak_len), 0);
    add_digest(claims, "ak_sha256", ak, ak_len);
    free(ak);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "pop");
    add_pop(o, device, POSTURE_JWS_TYP_ENROLL, claims);
}

/* Parse + begin; returns the reason, *ret_resp the response (or NULL). */
static enum posture_enroll_reason begin(struct fixture *f, const char *body, cJSON **ret_resp)
{
    struct posture_enroll_request *req = NULL;
    enum posture_enroll_reason reason = POSTURE_ENROLL_REASON__MAX;
    cJSON *resp = (cJSON *) 1;

    assert_int_equal(posture_enroll_request_parse(body, strlen(body), &req), 0);
    assert_int_equal(posture_enroll_begin(&f->ctx, req, &reason, &resp), 0);
    if (reason != POSTURE_ENROLL_OK)
        assert_null(resp);
    else
        assert_non_null(resp);
    if (resp && posture_json_get_str(resp, "nonce0")) {
        const char *n0 = posture_json_get_str(resp, "nonce0");
        size_t i = dev_slot(req->kid, NULL);
        assert_int_equal(posture_b64url_decode_buf(n0, strlen(n0), devs[i].nonce0, 32), 32);
    }
    posture_enroll_request_free(req);
    if (ret_resp)
        *ret_resp = resp;
    else
        cJSON_Delete(resp);
    return reason;
}

/* The activation body the device would send (per pop_mode). */
static char *activation_body(const char *device_id, const uint8_t *proof, size_t proof_len)
{
    char *p = b64(proof, proof_len), *body = NULL;
    cJSON *o = cJSON_CreateObject(), *claims = cJSON_CreateObject(), *jwk = NULL;
    size_t i = dev_slot(device_id, NULL);
    uint8_t n0[32];
    char *s;

    assert_int_equal(posture_json_add_str(o, "device_id", device_id), 0);
    assert_int_equal(posture_json_add_str(o, "proof", p), 0);
    assert_int_equal(posture_key_jwk(pop_mode == POP_OTHER_JWK ? pop_other : devs[i].key, &jwk), 0);
    if (pop_mode != POP_NO_JWK)
        assert_int_equal(posture_json_add_item(o, "jwk", jwk), 0);
    else
        cJSON_Delete(jwk);
    assert_int_equal(posture_json_add_str(claims, "device_id", device_id), 0);
    add_digest(claims, "proof_sha256", proof, proof_len);
    memcpy(n0, devs[i].nonce0, 32);
    if (pop_mode == POP_BAD_NONCE0)
        n0[5] ^= 0x80;
    s = b64(n0, 32);
    assert_int_equal(posture_json_add_str(claims, "nonce0", s), 0);
    free(s);
    if (pop_mode != POP_NONE)
        add_pop(o, pop_mode == POP_OTHER_JWK ? pop_other : devs[i].key, POSTURE_JWS_TYP_ACTIVATE,
                claims);
    else
        cJSON_Delete(claims);
    assert_int_equal(posture_json_print(o, false, &body), 0);
    cJSON_Delete(o);
    free(p);
    return body;
}

static enum posture_enroll_reason activate(struct fixture *f,
                                           const char *device_id,
                                           const uint8_t *proof,
                                           size_t proof_len,
                                           cJSON **ret_resp)
{
    struct posture_enroll_activation act = { 0 };
    enum posture_enroll_reason reason = POSTURE_ENROLL_REASON__MAX;
    cJSON *resp = (cJSON *) 1;
    char *body = activation_body(device_id, proof, proof_len);

    assert_int_equal(posture_enroll_activation_parse(body, strlen(body), &act), 0);
    assert_int_equal(posture_enroll_activate(&f->ctx, &act, &reason, &resp), 0);
    posture_enroll_activation_done(&act);
    if (reason != POSTURE_ENROLL_OK)
        assert_null(resp);
    if (ret_resp)
        *ret_resp = resp;
    else
        cJSON_Delete(resp);
    free(body);
    return reason;
}

/* The proof a device that recovered the secret would send: the test random source gave the
 * secret as bytes first..first+31 and nonce0 as the next 32. Computed with OpenSSL's HMAC()
 * directly, not with posture_enroll_proof(). */
static void proof_for(uint8_t first, const char *kid, uint8_t out[32])
{
    uint8_t secret[32], nonce0[32], msg[256];
    unsigned len = 0;
    size_t n = 0;

    for (int i = 0; i < 32; i++) {
        secret[i] = (uint8_t) (first + i);
        nonce0[i] = (uint8_t) (first + 32 + i);
    }
    n = (size_t) snprintf((char *) msg, sizeof(msg), "POSTURE-ENROLL-V1%s", kid);
    assert_true(n + 32 <= sizeof(msg));
    memcpy(msg + n, nonce0, 32);
    n += 32;
    assert_non_null(HMAC(EVP_sha256(), secret, 32, msg, n, out, &len));
    assert_int_equal(len, 32);
}

static X509 *resp_cert(const cJSON *resp)
{
    const char *pem = posture_json_get_str(resp, "certificate");
    BIO *bio;
    X509 *x;
    assert_non_null(pem);
    bio = BIO_new_mem_buf(pem, -1);
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(x);
    return x;
}

static uint64_t audit_rows(struct fixture *f)
{
    struct posture_store_audit_result res;
    assert_int_equal(posture_store_audit_verify(f->store, &res), 0);
    assert_int_equal(res.first_bad_seq, 0);
    return res.rows;
}

static void test_software_tier(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *kid = kid_of(dev), *tok = new_token(f, 3600), *body = NULL;
    struct posture_store_device d = { 0 };
    cJSON *resp = NULL;
    X509 *x;
    uint64_t rows = audit_rows(f);

    body = request_json(tok, dev, NULL, NULL, NULL, 0, NULL);
    assert_int_equal(begin(f, body, &resp), POSTURE_ENROLL_OK);
    assert_string_equal(posture_json_get_str(resp, "status"), "enrolled");
    assert_string_equal(posture_json_get_str(resp, "tier"), "software");
    assert_string_equal(posture_json_get_str(resp, "device_id"), kid);
    assert_string_equal(posture_json_get_str(resp, "ca_certificate"), f->keys->ca_pem);
    assert_int_equal(strlen(posture_json_get_str(resp, "x5t#S256")), 43);
    x = resp_cert(resp);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(f->keys->ca_cert)), 1);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), dev), 1);
    X509_free(x);
    cJSON_Delete(resp);
    assert_int_equal(posture_store_device_get(f->store, kid, &d), 0);
    assert_int_equal(d.tier, POSTURE_STORE_TIER_SOFTWARE);
    assert_null(d.ak_public);
    posture_store_device_done(&d);
    assert_int_equal(audit_rows(f), rows + 1);

    /* The same token again: used. The same device with a new token: exists (revoke first). */
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_TOKEN_USED);
    free(body);
    free(tok);
    tok = new_token(f, 3600);
    body = request_json(tok, dev, NULL, NULL, NULL, 0, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_DEVICE_EXISTS);
    free(body);
    free(tok);
    assert_int_equal(posture_store_device_revoke(f->store, kid), 0);
    tok = new_token(f, 3600);
    body = request_json(tok, dev, NULL, NULL, NULL, 0, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
    free(body);
    free(tok);
    free(kid);
    EVP_PKEY_free(dev);
}

static void test_tokens(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    uint8_t zero[32] = { 0 };
    char *unknown = b64(zero, 32), *tok = new_token(f, 60), *body;
    uint64_t rows = audit_rows(f);

    body = request_json(unknown, dev, NULL, NULL, NULL, 0, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_TOKEN_UNKNOWN);
    free(body);
    f->clock_usec += 61 * POSTURE_STORE_USEC_PER_SEC;
    body = request_json(tok, dev, NULL, NULL, NULL, 0, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_TOKEN_EXPIRED);
    /* Nothing authorised: nothing audited. */
    assert_int_equal(audit_rows(f), rows);
    free(body);
    free(tok);
    free(unknown);
    EVP_PKEY_free(dev);
}

static void test_tpm_activation(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *kid = kid_of(dev), *tok = new_token(f, 3600), *body;
    uint8_t first, proof[32], *blob = NULL, want_name[34], akpub[1024];
    size_t blob_len = 0, ak_len;
    struct posture_store_device d = { 0 };
    cJSON *resp = NULL;
    X509 *x;

    f->next = 0x40;
    first = f->next;
    body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, &resp), POSTURE_ENROLL_OK);
    assert_string_equal(posture_json_get_str(resp, "status"), "activation-required");
    assert_string_equal(posture_json_get_str(resp, "device_id"), kid);
    {
        int64_t expires = 0;
        const char *n0 = posture_json_get_str(resp, "nonce0");
        assert_int_equal(posture_json_get_int(resp, "expires_in", &expires), 0);
        assert_int_equal(expires, 300);
        assert_int_equal(posture_b64url_decode(n0, strlen(n0), 64, &blob, &blob_len), 0);
        assert_int_equal(blob_len, 32);
        assert_int_equal(blob[0], first + 32);
        free(blob);
        n0 = posture_json_get_str(resp, "credential_blob");
        assert_non_null(n0);
        assert_int_equal(posture_b64url_decode(n0, strlen(n0), 4096, &blob, &blob_len), 0);
        /* TPM2B_ID_OBJECT: size, TPM2B(HMAC-SHA256), AES-CFB(TPM2B(secret)) */
        assert_int_equal(blob_len, 2 + 2 + 32 + 2 + 32);
        free(blob);
        n0 = posture_json_get_str(resp, "encrypted_secret");
        assert_int_equal(posture_b64url_decode(n0, strlen(n0), 4096, &blob, &blob_len), 0);
        assert_int_equal(blob_len, 2 + 256); /* RSA-2048 OAEP */
        free(blob);
    }
    cJSON_Delete(resp);
    /* Not enrolled before the proof. */
    assert_int_equal(posture_store_device_get(f->store, kid, &d), -ENOENT);

    proof_for(first, kid, proof);
    {
        uint8_t ours[32];
        uint8_t nonce0[32], secret[32];
        for (int i = 0; i < 32; i++) {
            secret[i] = (uint8_t) (first + i);
            nonce0[i] = (uint8_t) (first + 32 + i);
        }
        assert_int_equal(posture_enroll_proof(secret, 32, kid, nonce0, 32, ours), 0);
        assert_memory_equal(ours, proof, 32);
    }
    assert_int_equal(activate(f, kid, proof, 32, &resp), POSTURE_ENROLL_OK);
    assert_string_equal(posture_json_get_str(resp, "tier"), "hardware");
    x = resp_cert(resp);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(f->keys->ca_cert)), 1);
    X509_free(x);
    cJSON_Delete(resp);

    /* Stored with the AK name we computed: 000b || SHA-256(TPMT_PUBLIC). */
    ak_len = ak_public(ak, AK_ATTRS, TPM2_ECC_NIST_P256, akpub, sizeof(akpub));
    want_name[0] = 0x00;
    want_name[1] = 0x0b;
    SHA256(akpub + 2, ak_len - 2, want_name + 2);
    assert_int_equal(posture_store_device_get(f->store, kid, &d), 0);
    assert_int_equal(d.tier, POSTURE_STORE_TIER_HARDWARE);
    assert_int_equal(d.ak_name_len, 34);
    assert_memory_equal(d.ak_name, want_name, 34);
    assert_int_equal(d.ak_public_len, ak_len);
    assert_memory_equal(d.ak_public, akpub, ak_len);
    assert_true(d.has_ek_cert_sha256);
    assert_true(d.has_ek_public_sha256);
    posture_store_device_done(&d);

    /* Row 15: the proof replayed after success finds nothing. */
    assert_int_equal(activate(f, kid, proof, 32, NULL), POSTURE_ENROLL_ACTIVATION_UNKNOWN);
    free(body);
    free(tok);
    free(kid);
    EVP_PKEY_free(dev);
    EVP_PKEY_free(ak);
}

/* Row 15: a wrong proof deletes the pending state; the right proof afterwards fails too. */
static void test_wrong_proof(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *kid = kid_of(dev), *tok = new_token(f, 3600), *body;
    uint8_t first, proof[32], bad[32];
    uint64_t rows;

    f->next = 0x10;
    first = f->next;
    body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
    proof_for(first, kid, proof);
    memcpy(bad, proof, 32);
    bad[31] ^= 1;
    rows = audit_rows(f);
    assert_int_equal(activate(f, kid, bad, 32, NULL), POSTURE_ENROLL_PROOF_INVALID);
    assert_int_equal(audit_rows(f), rows + 1);
    assert_int_equal(activate(f, kid, proof, 32, NULL), POSTURE_ENROLL_ACTIVATION_UNKNOWN);
    {
        struct posture_store_activation a;
        assert_int_equal(posture_store_activation_take(f->store, kid, &a), -ENOENT);
    }
    free(body);
    free(tok);

    /* A proof of the wrong length is a wrong proof (and uses up the attempt). */
    f->next = 0x20;
    first = f->next;
    tok = new_token(f, 3600);
    body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
    proof_for(first, kid, proof);
    assert_int_equal(activate(f, kid, proof, 31, NULL), POSTURE_ENROLL_PROOF_INVALID);
    assert_int_equal(activate(f, kid, proof, 32, NULL), POSTURE_ENROLL_ACTIVATION_UNKNOWN);
    free(body);
    free(tok);

    /* Expired after 5 minutes, and gone. */
    f->next = 0x30;
    first = f->next;
    tok = new_token(f, 3600);
    body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
    /* A second enrolment while one is pending: refused. */
    free(tok);
    tok = new_token(f, 3600);
    free(body);
    body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_ACTIVATION_PENDING);
    f->clock_usec += 301 * POSTURE_STORE_USEC_PER_SEC;
    proof_for(first, kid, proof);
    assert_int_equal(activate(f, kid, proof, 32, NULL), POSTURE_ENROLL_ACTIVATION_EXPIRED);
    assert_int_equal(activate(f, kid, proof, 32, NULL), POSTURE_ENROLL_ACTIVATION_UNKNOWN);
    free(body);
    free(tok);
    free(kid);
    EVP_PKEY_free(dev);
    EVP_PKEY_free(ak);
}

/* Row 13: AK attributes; row 12: EK trust and key. Each attempt uses up its token. */
static void test_ak_and_ek_refusals(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *other_ek = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    static const TPMA_OBJECT bad_attrs[] = {
        AK_ATTRS & ~TPMA_OBJECT_RESTRICTED,     AK_ATTRS | TPMA_OBJECT_DECRYPT,
        AK_ATTRS & ~TPMA_OBJECT_FIXEDTPM,       AK_ATTRS & ~TPMA_OBJECT_SENSITIVEDATAORIGIN,
        AK_ATTRS | TPMA_OBJECT_ADMINWITHPOLICY,
    };
    char *tok, *body;
    const struct posture_ekcert_roots *roots = f->ctx.ek_roots;

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(bad_attrs); i++) {
        tok = new_token(f, 3600);
        body = request_json(tok, dev, f->ek_cert, f->ek, ak, bad_attrs[i], NULL);
        assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_AK_REJECTED);
        assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_TOKEN_USED);
        free(body);
        free(tok);
    }
    /* Wrong curve, and a malformed AK (a trailing byte is impossible to express in JSON
     * here without the helper: use a truncated structure through the parser instead). */
    {
        uint8_t akpub[1024];
        size_t n = ak_public(ak, AK_ATTRS, TPM2_ECC_NIST_P384, akpub, sizeof(akpub));
        char *s = b64(akpub, n), *good = NULL, *t = NULL;
        cJSON *o = NULL;

        for (int bad = 0; bad < 2; bad++) {
            tok = new_token(f, 3600);
            body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
            assert_int_equal(posture_json_parse(body, strlen(body), 1 << 16, 0, &o), 0);
            cJSON *tpm = cJSON_GetObjectItemCaseSensitive(o, "tpm");
            if (bad == 0) {
                assert_true(
                    cJSON_ReplaceItemInObjectCaseSensitive(tpm, "ak_pub", cJSON_CreateString(s)));
            } else {
                good = strdup(posture_json_get_str(tpm, "ak_pub"));
                good[strlen(good) - 4] = '\0'; /* three bytes short */
                assert_true(cJSON_ReplaceItemInObjectCaseSensitive(tpm, "ak_pub",
                                                                   cJSON_CreateString(good)));
                free(good);
            }
            resign(o, dev);
            assert_int_equal(posture_json_print(o, false, &t), 0);
            assert_int_equal(begin(f, t, NULL),
                             bad == 0 ? POSTURE_ENROLL_AK_REJECTED : POSTURE_ENROLL_AK_MALFORMED);
            cJSON_Delete(o);
            free(t);
            free(body);
            free(tok);
        }
        free(s);
    }
    /* An EK public key that is not the certificate's (CVE-2021-3406). */
    tok = new_token(f, 3600);
    body = request_json(tok, dev, f->ek_cert, other_ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_EK_MISMATCH);
    free(body);
    free(tok);
    /* No EK trust store configured; a trust store without our root. */
    f->ctx.ek_roots = NULL;
    tok = new_token(f, 3600);
    body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_EK_NOT_CONFIGURED);
    free(body);
    free(tok);
    {
        struct posture_ekcert_roots *empty = NULL;
        char *d = posture_test_mkdtemp();
        assert_int_equal(posture_ekcert_roots_load(d, NULL, &empty), 0);
        f->ctx.ek_roots = empty;
        tok = new_token(f, 3600);
        body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
        assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_EK_UNTRUSTED);
        free(body);
        free(tok);
        posture_ekcert_roots_free(empty);
        posture_test_rmdir_r(d);
        free(d);
    }
    f->ctx.ek_roots = roots;
    EVP_PKEY_free(dev);
    EVP_PKEY_free(ak);
    EVP_PKEY_free(other_ek);
}

/* Row 14: a client-supplied AK name is accepted in the syntax and never used. */
static void test_client_ak_name_ignored(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *kid = kid_of(dev), *tok = new_token(f, 3600), *body;
    struct posture_enroll_request *req = NULL;
    struct posture_store_device d = { 0 };
    uint8_t first, proof[32];

    f->next = 0x50;
    first = f->next;
    body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, "ak_name");
    assert_int_equal(posture_enroll_request_parse(body, strlen(body), &req), 0);
    assert_true(req->has_client_ak_name);
    posture_enroll_request_free(req);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
    proof_for(first, kid, proof);
    assert_int_equal(activate(f, kid, proof, 32, NULL), POSTURE_ENROLL_OK);
    assert_int_equal(posture_store_device_get(f->store, kid, &d), 0);
    assert_int_equal(d.ak_name_len, 34);
    assert_int_equal(d.ak_name[0], 0x00);
    assert_int_equal(d.ak_name[1], 0x0b);
    assert_memory_not_equal(d.ak_name + 2, "\x00\x00\x00\x00", 4);
    posture_store_device_done(&d);
    free(body);
    free(tok);
    free(kid);
    EVP_PKEY_free(dev);
    EVP_PKEY_free(ak);
}

struct race {
    struct fixture *f;
    const char *kid;
    uint8_t proof[32];
    char *body; /* made before the threads start */
    enum posture_enroll_reason reason;
};

static void *race_activate(void *p)
{
    struct race *r = p;
    struct posture_enroll_activation act = { 0 };
    cJSON *resp = NULL;

    if (posture_enroll_activation_parse(r->body, strlen(r->body), &act) < 0 ||
        posture_enroll_activate(&r->f->ctx, &act, &r->reason, &resp) < 0)
        r->reason = POSTURE_ENROLL_REASON__MAX;
    posture_enroll_activation_done(&act);
    cJSON_Delete(resp);
    return NULL;
}

/* Row 16: the same AK on two devices; the same EK under two device keys; two enrolments with
 * the same AK pending at once, activated concurrently: exactly one wins. */
static void test_uniqueness(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *dev2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *dev3 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ak2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *kid1 = kid_of(dev1), *kid2 = kid_of(dev2), *kid3 = kid_of(dev3), *tok, *body;
    struct race r1 = { .f = f, .kid = kid1 }, r2 = { .f = f, .kid = kid2 };
    pthread_t t1, t2;
    uint8_t first1, first2, first3, proof[32];

    /* dev1 and dev2 both present the same AK (and EK); both get a challenge. */
    f->next = 0x00;
    first1 = f->next;
    tok = new_token(f, 3600);
    body = request_json(tok, dev1, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
    free(body);
    free(tok);
    f->next = 0x80;
    first2 = f->next;
    tok = new_token(f, 3600);
    body = request_json(tok, dev2, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
    free(body);
    free(tok);
    proof_for(first1, kid1, r1.proof);
    proof_for(first2, kid2, r2.proof);
    r1.body = activation_body(kid1, r1.proof, 32);
    r2.body = activation_body(kid2, r2.proof, 32);
    assert_int_equal(pthread_create(&t1, NULL, race_activate, &r1), 0);
    assert_int_equal(pthread_create(&t2, NULL, race_activate, &r2), 0);
    assert_int_equal(pthread_join(t1, NULL), 0);
    assert_int_equal(pthread_join(t2, NULL), 0);
    free(r1.body);
    free(r2.body);
    assert_true((r1.reason == POSTURE_ENROLL_OK && r2.reason == POSTURE_ENROLL_IDENTITY_IN_USE) ||
                (r2.reason == POSTURE_ENROLL_OK && r1.reason == POSTURE_ENROLL_IDENTITY_IN_USE));

    /* Now the AK is enrolled: a third device with it is refused at once. */
    tok = new_token(f, 3600);
    body = request_json(tok, dev3, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_IDENTITY_IN_USE);
    free(body);
    free(tok);
    /* The same EK with a new AK under a new device key: refused when it is stored. */
    f->next = 0xa0;
    first3 = f->next;
    tok = new_token(f, 3600);
    body = request_json(tok, dev3, f->ek_cert, f->ek, ak2, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
    proof_for(first3, kid3, proof);
    assert_int_equal(activate(f, kid3, proof, 32, NULL), POSTURE_ENROLL_IDENTITY_IN_USE);
    free(body);
    free(tok);
    /* The winner re-enrolling (same device id): exists, admin revoke first. */
    tok = new_token(f, 3600);
    body = request_json(tok, r1.reason == POSTURE_ENROLL_OK ? dev1 : dev2, f->ek2_cert, f->ek2, ak2,
                        AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_DEVICE_EXISTS);
    free(body);
    free(tok);

    free(kid1);
    free(kid2);
    free(kid3);
    EVP_PKEY_free(dev1);
    EVP_PKEY_free(dev2);
    EVP_PKEY_free(dev3);
    EVP_PKEY_free(ak);
    EVP_PKEY_free(ak2);
}

/* The P-384 EK (swtpm's ECC EK kind) goes through MakeCredential too. */
static void test_ecc_ek(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *kid = kid_of(dev), *tok = new_token(f, 3600), *body;
    uint8_t first, proof[32];

    f->next = 0x60;
    first = f->next;
    body = request_json(tok, dev, f->ek2_cert, f->ek2, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
    proof_for(first, kid, proof);
    assert_int_equal(activate(f, kid, proof, 32, NULL), POSTURE_ENROLL_OK);
    free(body);
    free(tok);
    free(kid);
    EVP_PKEY_free(dev);
    EVP_PKEY_free(ak);
}

static void expect_bad(const char *body, int want)
{
    struct posture_enroll_request *req = NULL;
    assert_int_equal(posture_enroll_request_parse(body, strlen(body), &req), want);
    assert_null(req);
}

static void test_parser(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    cJSON *jwk = NULL;
    char *jwk_text = NULL, *tok = new_token(f, 60), *body = NULL;
    struct posture_enroll_activation act;

    assert_int_equal(posture_key_jwk(dev, &jwk), 0);
    assert_int_equal(posture_json_print(jwk, false, &jwk_text), 0);
    cJSON_Delete(jwk);

#define BODY(fmt, ...)                                      \
    do {                                                    \
        free(body);                                         \
        assert_true(asprintf(&body, fmt, __VA_ARGS__) > 0); \
    } while (0)

    BODY("{\"token\":\"%s\",\"jwk\":%s}", tok, jwk_text);
    {
        struct posture_enroll_request *req = NULL;
        assert_int_equal(posture_enroll_request_parse(body, strlen(body), &req), 0);
        assert_false(req->tpm);
        posture_enroll_request_free(req);
    }
    BODY("{\"token\":\"%s\",\"jwk\":%s,\"extra\":1}", tok, jwk_text);
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%s\",\"jwk\":%s,\"token\":\"%s\"}", tok, jwk_text, tok);
    expect_bad(body, -EBADMSG);
    BODY("{\"jwk\":%s}", jwk_text);
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%s\"}", tok);
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%.42s\",\"jwk\":%s}", tok, jwk_text); /* 31 bytes */
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%s=\",\"jwk\":%s}", tok, jwk_text);
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%sAA\",\"jwk\":%s}", tok, jwk_text);
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":7,\"jwk\":%s}", jwk_text);
    expect_bad(body, -EBADMSG);
    /* JWK: extra member, private key, other curve, not an object. */
    BODY("{\"token\":\"%s\",\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\","
         "\"kid\":\"k\"}}",
         tok, "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%s\",\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\","
         "\"d\":\"AAAA\"}}",
         tok, "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%s\",\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\",\"y\":\"%s\"}}",
         tok, "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
    expect_bad(body, -EKEYREJECTED);
    BODY("{\"token\":\"%s\",\"jwk\":[%s]}", tok, jwk_text);
    expect_bad(body, -EBADMSG);
    /* TPM: incomplete, unknown member, bad base64, too deep. */
    BODY("{\"token\":\"%s\",\"jwk\":%s,\"tpm\":{\"ek_cert\":\"AAAA\",\"ek_pub\":\"AAAA\"}}", tok,
         jwk_text);
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%s\",\"jwk\":%s,\"tpm\":{\"ek_cert\":\"AAAA\",\"ek_pub\":\"AAAA\","
         "\"ak_pub\":\"AAAA\",\"ek_serial\":\"AAAA\"}}",
         tok, jwk_text);
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%s\",\"jwk\":%s,\"tpm\":{\"ek_cert\":\"AA+A\",\"ek_pub\":\"AAAA\","
         "\"ak_pub\":\"AAAA\"}}",
         tok, jwk_text);
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%s\",\"jwk\":%s,\"tpm\":{\"ek_cert\":\"AAAA\",\"ek_pub\":\"AAAA\","
         "\"ak_pub\":\"AAAA\",\"ak_name\":\"AA\"}}",
         tok, jwk_text);
    expect_bad(body, -EBADMSG);
    BODY("{\"token\":\"%s\",\"jwk\":%s,\"tpm\":{\"ek_cert\":{\"a\":{\"b\":1}}}}", tok, jwk_text);
    expect_bad(body, -EBADMSG);
    expect_bad("[]", -EBADMSG);
    expect_bad("", -EBADMSG);
    {
        char *big = malloc(POSTURE_ENROLL_REQUEST_MAX + 2);
        memset(big, ' ', POSTURE_ENROLL_REQUEST_MAX + 1);
        big[POSTURE_ENROLL_REQUEST_MAX + 1] = '\0';
        expect_bad(big, -E2BIG);
        free(big);
    }
    /* Activation. */
    BODY("{\"device_id\":\"%s\",\"proof\":\"AAAA\"}",
         "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_int_equal(posture_enroll_activation_parse(body, strlen(body), &act), 0);
    assert_int_equal(act.proof_len, 3);
    BODY("{\"device_id\":\"%s\",\"proof\":\"AAAA\",\"x\":1}",
         "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_int_equal(posture_enroll_activation_parse(body, strlen(body), &act), -EBADMSG);
    BODY("{\"device_id\":\"%s\",\"proof\":\"AAAA\"}", "../../etc/passwd");
    assert_int_equal(posture_enroll_activation_parse(body, strlen(body), &act), -EBADMSG);
    BODY("{\"device_id\":\"%s\"}", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_int_equal(posture_enroll_activation_parse(body, strlen(body), &act), -EBADMSG);
    BODY("{\"device_id\":\"%s\",\"proof\":\"\"}", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_int_equal(posture_enroll_activation_parse(body, strlen(body), &act), -EBADMSG);
#undef BODY

    assert_string_equal(posture_enroll_reason_to_string(POSTURE_ENROLL_PROOF_INVALID),
                        "enroll-proof-invalid");
    assert_null(posture_enroll_reason_to_string(POSTURE_ENROLL_REASON__MAX));
    assert_int_equal(posture_enroll_reason_http_status(POSTURE_ENROLL_TOKEN_USED), 401);
    assert_int_equal(posture_enroll_reason_http_status(POSTURE_ENROLL_DEVICE_EXISTS), 409);
    assert_int_equal(posture_enroll_reason_http_status(POSTURE_ENROLL_PROOF_INVALID), 403);
    assert_string_equal(posture_enroll_reason_to_string(POSTURE_ENROLL_POP_MISSING),
                        "enroll-pop-missing");
    assert_string_equal(posture_enroll_reason_to_string(POSTURE_ENROLL_POP_BINDING),
                        "enroll-pop-binding");
    assert_int_equal(posture_enroll_reason_http_status(POSTURE_ENROLL_POP_MISSING), 400);
    assert_int_equal(posture_enroll_reason_http_status(POSTURE_ENROLL_POP_INVALID), 401);
    assert_non_null(strstr(posture_enroll_reason_detail(POSTURE_ENROLL_POP_MISSING), "\"pop\""));
    assert_null(posture_enroll_reason_detail(POSTURE_ENROLL_TOKEN_USED));
    free(body);
    free(jwk_text);
    free(tok);
    EVP_PKEY_free(dev);
}

/* A request body with its "pop" replaced by the one of another body. */
static char *swap_pop(const char *body, const char *pop_from)
{
    cJSON *a = NULL, *b = NULL;
    char *text = NULL;

    assert_int_equal(posture_json_parse(body, strlen(body), 65536, 8, &a), 0);
    assert_int_equal(posture_json_parse(pop_from, strlen(pop_from), 65536, 8, &b), 0);
    assert_true(cJSON_ReplaceItemInObjectCaseSensitive(
        a, "pop", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(b, "pop"), 1)));
    assert_int_equal(posture_json_print(a, false, &text), 0);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return text;
}

/* Enrolment needs the device key: refusals for "pop" leave the token usable by the device. */
static void test_pop_enroll(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ak2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *tok = new_token(f, 3600), *body, *body2, *mixed;
    uint64_t rows = audit_rows(f);
    static const struct {
        enum pop_mode mode;
        enum posture_enroll_reason want;
    } cases[] = {
        { POP_NONE, POSTURE_ENROLL_POP_MISSING },
        { POP_OTHER_KEY, POSTURE_ENROLL_POP_INVALID },
        { POP_REPORT_TYP, POSTURE_ENROLL_POP_INVALID },
        { POP_BAD_TOKEN, POSTURE_ENROLL_POP_BINDING },
        { POP_OLD, POSTURE_ENROLL_POP_EXPIRED },
    };

    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        pop_mode = cases[i].mode;
        body = request_json(tok, dev, NULL, NULL, NULL, 0, NULL);
        assert_int_equal(begin(f, body, NULL), cases[i].want);
        free(body);
    }
    /* Nothing was authorised: no audit row, and the token is still there. */
    assert_int_equal(audit_rows(f), rows);

    /* TPM: the "pop" of a request for another AK does not fit this one; a software request
     * with an AK claim does not fit either. */
    pop_mode = POP_GOOD;
    body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    body2 = request_json(tok, dev, f->ek_cert, f->ek, ak2, AK_ATTRS, NULL);
    mixed = swap_pop(body2, body);
    assert_int_equal(begin(f, mixed, NULL), POSTURE_ENROLL_POP_BINDING);
    free(mixed);
    free(body2);
    body2 = request_json(tok, dev, NULL, NULL, NULL, 0, NULL);
    mixed = swap_pop(body2, body);
    assert_int_equal(begin(f, mixed, NULL), POSTURE_ENROLL_POP_BINDING);
    free(mixed);
    free(body);

    /* The rightful device enrols with the same token. */
    assert_int_equal(begin(f, body2, NULL), POSTURE_ENROLL_OK);
    assert_int_equal(begin(f, body2, NULL), POSTURE_ENROLL_TOKEN_USED);
    free(body2);

    /* The checks themselves, with the JWS reason. */
    {
        struct posture_enroll_request *req = NULL;
        enum posture_enroll_reason reason = POSTURE_ENROLL_REASON__MAX;
        int jr = -1;

        free(tok);
        tok = new_token(f, 3600);
        pop_mode = POP_OTHER_KEY;
        body = request_json(tok, dev, NULL, NULL, NULL, 0, NULL);
        assert_int_equal(posture_enroll_request_parse(body, strlen(body), &req), 0);
        assert_non_null(req->pop);
        assert_int_equal(posture_enroll_request_verify_pop(req, now, &reason, &jr), 0);
        assert_int_equal(reason, POSTURE_ENROLL_POP_INVALID);
        assert_int_equal(jr, POSTURE_JWS_KID_MISMATCH);
        /* 61 s of skew past exp is too late; within the window it is fine. */
        posture_enroll_request_free(req);
        free(body);
        pop_mode = POP_GOOD;
        body = request_json(tok, dev, NULL, NULL, NULL, 0, NULL);
        assert_int_equal(posture_enroll_request_parse(body, strlen(body), &req), 0);
        assert_int_equal(posture_enroll_request_verify_pop(req, now + 119, &reason, &jr), 0);
        assert_int_equal(reason, POSTURE_ENROLL_OK);
        assert_int_equal(posture_enroll_request_verify_pop(req, now + 121, &reason, &jr), 0);
        assert_int_equal(reason, POSTURE_ENROLL_POP_EXPIRED);
        assert_int_equal(jr, POSTURE_JWS_EXPIRED);
        assert_int_equal(posture_enroll_request_verify_pop(req, now - 61, &reason, &jr), 0);
        assert_int_equal(reason, POSTURE_ENROLL_POP_EXPIRED);
        posture_enroll_request_free(req);
        free(body);
    }
    free(tok);
    EVP_PKEY_free(dev);
    EVP_PKEY_free(ak);
    EVP_PKEY_free(ak2);
}

/* Activation needs the pending enrolment's key: an unsigned or wrongly signed attempt leaves
 * the attempt; a signed wrong proof (or an answer to another challenge) spends it. */
static void test_pop_activate(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *dev = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *kid = kid_of(dev), *tok = new_token(f, 3600), *body;
    uint8_t first, proof[32], bad[32];
    static const struct {
        enum pop_mode mode;
        enum posture_enroll_reason want;
    } cases[] = {
        { POP_NONE, POSTURE_ENROLL_POP_MISSING },
        { POP_NO_JWK, POSTURE_ENROLL_POP_MISSING },
        { POP_OTHER_KEY, POSTURE_ENROLL_POP_INVALID },
        { POP_OTHER_JWK, POSTURE_ENROLL_POP_INVALID },
        { POP_REPORT_TYP, POSTURE_ENROLL_POP_INVALID },
        { POP_OLD, POSTURE_ENROLL_POP_EXPIRED },
    };
    uint64_t rows;

    f->next = 0x50;
    first = f->next;
    body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
    assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
    free(body);
    proof_for(first, kid, proof);
    rows = audit_rows(f);
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(cases); i++) {
        pop_mode = cases[i].mode;
        assert_int_equal(activate(f, kid, proof, 32, NULL), cases[i].want);
    }
    /* The "pop" of another proof: not this request's. */
    {
        struct posture_enroll_activation act = { 0 };
        enum posture_enroll_reason reason = POSTURE_ENROLL_REASON__MAX;
        uint8_t n0[32];

        pop_mode = POP_GOOD;
        /* Build a good body, then change the proof after signing. */
        char *p = b64(proof, 32), *b = NULL, *jwk_text = NULL, *pop = NULL, *claims = NULL;
        cJSON *jwk = NULL;
        char *n0s = b64(devs[dev_slot(kid, NULL)].nonce0, 32);
        assert_int_equal(posture_key_jwk(dev, &jwk), 0);
        assert_int_equal(posture_json_print(jwk, false, &jwk_text), 0);
        cJSON_Delete(jwk);
        bad[0] = 0;
        assert_true(asprintf(&claims,
                             "{\"aud\":\"x\",\"iat\":%lld,\"exp\":%lld,\"device_id\":\"%s\","
                             "\"proof_sha256\":\"%s\",\"nonce0\":\"%s\"}",
                             (long long) now, (long long) now + 60, kid,
                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", n0s) > 0);
        assert_int_equal(
            posture_jws_sign(dev, POSTURE_JWS_TYP_ACTIVATE, claims, strlen(claims), &pop), 0);
        assert_true(asprintf(&b,
                             "{\"device_id\":\"%s\",\"proof\":\"%s\",\"jwk\":%s,\"pop\":\"%s\"}",
                             kid, p, jwk_text, pop) > 0);
        assert_int_equal(posture_enroll_activation_parse(b, strlen(b), &act), 0);
        assert_int_equal(posture_enroll_activation_verify_pop(&act, now, &reason, NULL, n0), 0);
        assert_int_equal(reason, POSTURE_ENROLL_POP_BINDING);
        assert_int_equal(posture_enroll_activate(&f->ctx, &act, &reason, &(cJSON *){ NULL }), 0);
        assert_int_equal(reason, POSTURE_ENROLL_POP_BINDING);
        posture_enroll_activation_done(&act);
        free(p);
        free(b);
        free(jwk_text);
        free(pop);
        free(claims);
        free(n0s);
    }
    /* No attempt was spent, nothing audited; the device activates now. */
    assert_int_equal(audit_rows(f), rows);
    pop_mode = POP_GOOD;
    assert_int_equal(activate(f, kid, proof, 32, NULL), POSTURE_ENROLL_OK);
    free(tok);

    /* Signed, wrong proof: spent. Signed, right proof for another challenge's nonce0: spent. */
    assert_int_equal(posture_store_device_revoke(f->store, kid), 0);
    for (int round = 0; round < 2; round++) {
        f->next = (uint8_t) (0x60 + round * 0x10);
        first = f->next;
        tok = new_token(f, 3600);
        body = request_json(tok, dev, f->ek_cert, f->ek, ak, AK_ATTRS, NULL);
        assert_int_equal(begin(f, body, NULL), POSTURE_ENROLL_OK);
        proof_for(first, kid, proof);
        memcpy(bad, proof, 32);
        bad[3] ^= 4;
        pop_mode = round == 0 ? POP_GOOD : POP_BAD_NONCE0;
        assert_int_equal(activate(f, kid, round == 0 ? bad : proof, 32, NULL),
                         POSTURE_ENROLL_PROOF_INVALID);
        pop_mode = POP_GOOD;
        assert_int_equal(activate(f, kid, proof, 32, NULL), POSTURE_ENROLL_ACTIVATION_UNKNOWN);
        free(body);
        free(tok);
    }
    free(kid);
    EVP_PKEY_free(dev);
    EVP_PKEY_free(ak);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_software_tier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tpm_activation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_proof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ak_and_ek_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_ak_name_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uniqueness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ecc_ek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parser, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pop_enroll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pop_activate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
