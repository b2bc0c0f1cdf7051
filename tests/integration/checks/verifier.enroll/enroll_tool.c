/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test driver for verifier.enroll/enroll.sh: the verifier's side of enrolment in process (the
 * library posture_verifier, no HTTP), with the store and keys in STATE (sqlite:STATE/store.db).
 *
 *   enroll_tool init STATE TD                 create the keys; print the signing kid
 *   enroll_tool jwks STATE TD                 print the JWKS
 *   enroll_tool sign STATE TD PAYLOAD         print an ES256 JWS (typ eat+jwt) of PAYLOAD's bytes
 *   enroll_tool issue STATE TD PUBKEY.pem     print a device certificate for the key
 *   enroll_tool ekcert ROOTS CERT.der EK.pub  print the EK certificate verdict
 *   enroll_tool enroll STATE TD ROOTS BODY    POST /v1/enroll with BODY (ROOTS "-": none)
 *   enroll_tool activate STATE TD BODY        POST /v1/enroll/activate with BODY
 *   enroll_tool revoke STATE TD DEVICE_ID     revoke a device (what an admin does first)
 *   enroll_tool pop KEY.pem BODY              print the enrolment request BODY with its "pop"
 *                                             signed by KEY (token_sha256, ak_sha256), as
 *                                             posturectl makes it (enroll.h)
 *
 * enroll/activate/ekcert print the response JSON (or "ok") and exit 0 when accepted, print the
 * reason and exit 1 when refused, and exit 2 on faults.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/sha.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/jws.h"
#include "posture/key.h"

#include "ekcert.h"
#include "enroll.h"
#include "store.h"
#include "vkeys.h"

static int read_all(const char *path, size_t max, char **ret, size_t *ret_len)
{
    posture_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    int r;

    if (fd < 0) {
        (void) fprintf(stderr, "enroll_tool: %s: %m\n", path);
        return -1;
    }
    r = posture_read_fd(fd, max, ret, ret_len);
    if (r < 0) {
        (void) fprintf(stderr, "enroll_tool: %s: %s\n", path, posture_errno_name(r));
        return -1;
    }
    return 0;
}

static int open_keys(const char *state, const char *td, struct posture_vkeys **ret)
{
    int r = posture_vkeys_open(state, td, true, ret);
    if (r < 0)
        (void) fprintf(stderr, "enroll_tool: keys in %s: %s\n", state, posture_errno_name(r));
    return r;
}

static int open_store(const char *state, struct posture_store **ret)
{
    char *url = NULL;
    int r;

    if (asprintf(&url, "sqlite:%s/store.db", state) < 0)
        return -1;
    r = posture_store_open(url, NULL, ret);
    if (r < 0)
        (void) fprintf(stderr, "enroll_tool: store %s: %s\n", url, posture_errno_name(r));
    free(url);
    return r;
}

static int print_json(cJSON *o)
{
    char *s = NULL;
    if (posture_json_print(o, true, &s) < 0)
        return 2;
    (void) fputs(s, stdout);
    free(s);
    return 0;
}

static int run_enroll(int argc, char **argv, bool activate)
{
    struct posture_vkeys *keys = NULL;
    struct posture_store *store = NULL;
    struct posture_ekcert_roots *roots = NULL;
    const char *body_path = activate ? argv[4] : argv[5];
    enum posture_enroll_reason reason = POSTURE_ENROLL_REASON__MAX;
    cJSON *resp = NULL;
    char *body = NULL;
    size_t len = 0;
    int r, status = 2;

    if (argc != (activate ? 5 : 6))
        return 2;
    if (read_all(body_path, POSTURE_ENROLL_REQUEST_MAX + 1, &body, &len) < 0)
        return 2;
    if (open_keys(argv[2], argv[3], &keys) < 0 || open_store(argv[2], &store) < 0)
        goto out;
    if (!activate && strcmp(argv[4], "-") != 0) {
        r = posture_ekcert_roots_load(argv[4], NULL, &roots);
        if (r < 0) {
            (void) fprintf(stderr, "enroll_tool: %s: %s\n", argv[4], posture_errno_name(r));
            goto out;
        }
    }
    struct posture_enroll_ctx ctx = { .store = store, .keys = keys, .ek_roots = roots };
    if (activate) {
        struct posture_enroll_activation act = { 0 };
        r = posture_enroll_activation_parse(body, len, &act);
        if (r >= 0)
            r = posture_enroll_activate(&ctx, &act, &reason, &resp);
        posture_enroll_activation_done(&act);
    } else {
        struct posture_enroll_request *req = NULL;
        r = posture_enroll_request_parse(body, len, &req);
        if (r >= 0)
            r = posture_enroll_begin(&ctx, req, &reason, &resp);
        posture_enroll_request_free(req);
    }
    if (r == -EBADMSG || r == -EKEYREJECTED || r == -E2BIG) {
        (void) printf("%s\n", posture_enroll_reason_to_string(POSTURE_ENROLL_REQUEST_MALFORMED));
        status = 1;
    } else if (r < 0)
        (void) fprintf(stderr, "enroll_tool: %s\n", posture_errno_name(r));
    else if (reason != POSTURE_ENROLL_OK) {
        (void) printf("%s\n", posture_enroll_reason_to_string(reason));
        status = 1;
    } else
        status = print_json(resp);
out:
    cJSON_Delete(resp);
    free(body);
    posture_ekcert_roots_free(roots);
    posture_store_free(store);
    posture_vkeys_free(keys);
    return status;
}

static int run_ekcert(int argc, char **argv)
{
    struct posture_ekcert_roots *roots = NULL;
    char *cert = NULL, *pub = NULL;
    size_t cert_len = 0, pub_len = 0;
    enum posture_ekcert_reason reason = POSTURE_EKCERT_REASON__MAX;
    int r, status = 2;

    if (argc != 5)
        return 2;
    if (read_all(argv[3], POSTURE_EKCERT_DER_MAX + 1, &cert, &cert_len) < 0 ||
        read_all(argv[4], POSTURE_EKCERT_PUBLIC_MAX + 1, &pub, &pub_len) < 0)
        goto out;
    r = posture_ekcert_roots_load(argv[2], NULL, &roots);
    if (r >= 0)
        r = posture_ekcert_verify(roots, (const uint8_t *) cert, cert_len, (const uint8_t *) pub,
                                  pub_len, (int64_t) time(NULL), &reason, NULL);
    if (r < 0) {
        (void) fprintf(stderr, "enroll_tool: ekcert: %s\n", posture_errno_name(r));
        goto out;
    }
    (void) printf("%s\n", posture_ekcert_reason_to_string(reason));
    status = reason == POSTURE_EKCERT_OK ? 0 : 1;
out:
    posture_ekcert_roots_free(roots);
    free(cert);
    free(pub);
    return status;
}

static int add_sha256(cJSON *o, const char *key, const void *data, size_t n)
{
    uint8_t h[SHA256_DIGEST_LENGTH];
    char text[64];

    SHA256(data, n, h);
    if (posture_b64url_encode_buf(h, sizeof(h), text, sizeof(text)) < 0)
        return -EINVAL;
    return posture_json_add_str(o, key, text);
}

/* enroll_tool pop KEY.pem BODY */
static int run_pop(int argc, char **argv)
{
    EVP_PKEY *key = NULL;
    char *body = NULL, *claims_text = NULL, *jws = NULL, *out = NULL;
    cJSON *req = NULL, *claims = cJSON_CreateObject();
    uint8_t tok[POSTURE_STORE_TOKEN_SIZE], *ak = NULL;
    size_t len = 0, ak_len = 0;
    const char *t, *akb;
    int64_t now = (int64_t) time(NULL);
    int r = -EINVAL;

    if (argc == 4 && claims && posture_key_load_file(argv[2], &key) >= 0 &&
        read_all(argv[3], POSTURE_ENROLL_REQUEST_MAX, &body, &len) >= 0 &&
        posture_json_parse(body, len, POSTURE_ENROLL_REQUEST_MAX, 8, &req) >= 0 &&
        (t = posture_json_get_str(req, "token")) &&
        posture_b64url_decode_buf(t, strlen(t), tok, sizeof(tok)) == (int) sizeof(tok)) {
        r = add_sha256(claims, "token_sha256", tok, sizeof(tok));
        akb = posture_json_get_str(cJSON_GetObjectItemCaseSensitive(req, "tpm"), "ak_pub");
        if (r >= 0 && akb) {
            r = posture_b64url_decode(akb, strlen(akb), 4096, &ak, &ak_len);
            if (r >= 0)
                r = add_sha256(claims, "ak_sha256", ak, ak_len);
        }
        if (r >= 0)
            r = posture_json_add_str(claims, "aud", "enroll_tool");
        if (r >= 0)
            r = posture_json_add_int(claims, "iat", now);
        if (r >= 0)
            r = posture_json_add_int(claims, "exp", now + 60);
        if (r >= 0)
            r = posture_json_print(claims, false, &claims_text);
        if (r >= 0)
            r = posture_jws_sign(key, POSTURE_JWS_TYP_ENROLL, claims_text, strlen(claims_text),
                                 &jws);
        if (r >= 0)
            r = posture_json_add_str(req, "pop", jws);
        if (r >= 0)
            r = posture_json_print(req, false, &out);
        if (r >= 0)
            (void) printf("%s\n", out);
    }
    if (r < 0)
        (void) fprintf(stderr, "enroll_tool pop: %s\n", posture_errno_name(r));
    EVP_PKEY_free(key);
    cJSON_Delete(req);
    cJSON_Delete(claims);
    free(body);
    free(claims_text);
    free(jws);
    free(out);
    free(ak);
    return r < 0 ? 2 : 0;
}

int main(int argc, char **argv)
{
    struct posture_vkeys *keys = NULL;
    int status = 2;

    if (argc >= 2 && strcmp(argv[1], "enroll") == 0)
        return run_enroll(argc, argv, false);
    if (argc >= 2 && strcmp(argv[1], "activate") == 0)
        return run_enroll(argc, argv, true);
    if (argc >= 2 && strcmp(argv[1], "ekcert") == 0)
        return run_ekcert(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "pop") == 0)
        return run_pop(argc, argv);
    if (argc < 4 || open_keys(argv[2], argv[3], &keys) < 0) {
        (void) fprintf(stderr, "usage: see the comment at the top of enroll_tool.c\n");
        return 2;
    }
    if (strcmp(argv[1], "revoke") == 0 && argc == 5) {
        struct posture_store *store = NULL;
        if (open_store(argv[2], &store) >= 0 && posture_store_device_revoke(store, argv[4]) >= 0)
            status = 0;
        posture_store_free(store);
    } else if (strcmp(argv[1], "init") == 0 && argc == 4) {
        (void) printf("%s\n", keys->signing_kid);
        status = 0;
    } else if (strcmp(argv[1], "jwks") == 0 && argc == 4) {
        char *s = NULL;
        if (posture_vkeys_jwks(keys, &s) >= 0) {
            (void) printf("%s\n", s);
            status = 0;
        }
        free(s);
    } else if (strcmp(argv[1], "sign") == 0 && argc == 5) {
        char *payload = NULL, *tok = NULL;
        size_t len = 0;
        if (read_all(argv[4], 65536, &payload, &len) >= 0 &&
            posture_jws_sign(keys->signing_key, "eat+jwt", payload, len, &tok) >= 0) {
            (void) printf("%s\n", tok);
            status = 0;
        }
        free(payload);
        free(tok);
    } else if (strcmp(argv[1], "issue") == 0 && argc == 5) {
        FILE *f = fopen(argv[4], "re");
        EVP_PKEY *pub = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
        char *kid = NULL, *pem = NULL;
        if (f)
            (void) fclose(f);
        if (pub && posture_key_thumbprint(pub, &kid) >= 0 &&
            posture_vkeys_issue(keys, pub, kid, NULL, &pem, NULL) >= 0) {
            (void) fputs(pem, stdout);
            status = 0;
        }
        EVP_PKEY_free(pub);
        free(kid);
        free(pem);
    }
    posture_vkeys_free(keys);
    return status;
}
