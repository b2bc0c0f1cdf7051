/* SPDX-License-Identifier: Apache-2.0 */
/* posture_quote_*: quote verification on quotes captured from swtpm (tests/fixtures/quote,
 * README there), mutated in memory for the rejections of ATTESTATION.md §6 (rows 1-4, 6-10). */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/quote.h"

#include "testlib.h"

struct blob {
    uint8_t *data;
    size_t len;
};

static struct blob load(const char *name)
{
    char rel[128];
    char *buf = NULL;
    size_t len = 0;

    assert_true((size_t) snprintf(rel, sizeof(rel), "fixtures/quote/%s", name) < sizeof(rel));
    posture_autoclose int fd = open(posture_test_path(rel), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(posture_read_fd(fd, 1 << 16, &buf, &len), 0);
    return (struct blob){ .data = (uint8_t *) buf, .len = len };
}

static void blob_free(struct blob *b)
{
    free(b->data);
    b->data = NULL;
}

/* A copy with room for a few more bytes. */
static struct blob blob_dup(const struct blob *b, size_t extra)
{
    struct blob c = { .data = calloc(1, b->len + extra + 1), .len = b->len };
    assert_non_null(c.data);
    memcpy(c.data, b->data, b->len);
    return c;
}

/* Everything of one verification: the AK and the evidence of fixture <prefix>.attest/.sig. */
struct fx {
    struct posture_quote_ak *ak;
    struct blob attest, sig, pcrbuf;
    struct posture_quote_pcr pcrs[POSTURE_QUOTE_PCR_MAX];
    size_t n_pcrs;
    uint8_t binding[POSTURE_QUOTE_BINDING_SIZE];
    struct posture_quote_expect expect;
};

static void fx_load_pcrs(struct fx *f, const char *pcrs)
{
    blob_free(&f->pcrbuf);
    f->pcrbuf = load(pcrs);
    assert_int_equal(f->pcrbuf.len, 8 * POSTURE_QUOTE_DIGEST_SIZE);
    for (unsigned i = 0; i < 8; i++) {
        f->pcrs[i].index = i;
        memcpy(f->pcrs[i].digest, f->pcrbuf.data + (size_t) i * POSTURE_QUOTE_DIGEST_SIZE,
               POSTURE_QUOTE_DIGEST_SIZE);
    }
    f->n_pcrs = 8;
    f->expect.pcrs = f->pcrs;
    f->expect.n_pcrs = f->n_pcrs;
}

static void fx_init(struct fx *f, const char *prefix, const char *pcrs)
{
    char name[64];
    struct blob akpub = load("ak.pub"), nonce = load("nonce.bin"), payload = load("payload.bin");

    memset(f, 0, sizeof(*f));
    assert_int_equal(posture_quote_ak_new(akpub.data, akpub.len, NULL, 0, &f->ak), 0);
    (void) snprintf(name, sizeof(name), "%s.attest", prefix);
    f->attest = load(name);
    (void) snprintf(name, sizeof(name), "%s.sig", prefix);
    f->sig = load(name);
    assert_int_equal(
        posture_quote_binding(nonce.data, nonce.len, payload.data, payload.len, f->binding), 0);
    f->expect = (struct posture_quote_expect){
        .extra_data = f->binding,
        .extra_data_len = sizeof(f->binding),
        .pcr_mask = POSTURE_QUOTE_PCR_MASK_DEFAULT,
    };
    fx_load_pcrs(f, pcrs);
    blob_free(&akpub);
    blob_free(&nonce);
    blob_free(&payload);
}

static void fx_done(struct fx *f)
{
    f->ak = posture_quote_ak_free(f->ak);
    blob_free(&f->attest);
    blob_free(&f->sig);
    blob_free(&f->pcrbuf);
}

static enum posture_quote_reason fx_verify(const struct fx *f, struct posture_quote_info *info)
{
    enum posture_quote_reason reason = POSTURE_QUOTE_REASON__INVALID;
    assert_int_equal(posture_quote_verify(f->ak, f->attest.data, f->attest.len, f->sig.data,
                                          f->sig.len, &f->expect, info, &reason),
                     0);
    return reason;
}

static void assert_reason(enum posture_quote_reason got, enum posture_quote_reason want)
{
    if (got != want)
        fail_msg("reason %s, expected %s", posture_quote_reason_to_string(got),
                 posture_quote_reason_to_string(want));
}

static void test_reason_strings(void **state)
{
    (void) state;
    for (int i = 0; i < POSTURE_QUOTE_REASON__MAX; i++) {
        const char *s = posture_quote_reason_to_string((enum posture_quote_reason) i);
        assert_non_null(s);
        assert_int_equal(posture_quote_reason_from_string(s), i);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(s,
                                    posture_quote_reason_to_string((enum posture_quote_reason) j));
    }
    assert_string_equal(posture_quote_reason_to_string(POSTURE_QUOTE_SIG_INVALID),
                        "quote-signature-invalid");
    assert_null(posture_quote_reason_to_string(POSTURE_QUOTE_REASON__MAX));
    assert_null(posture_quote_reason_to_string(POSTURE_QUOTE_REASON__INVALID));
    assert_int_equal(posture_quote_reason_from_string("nope"), POSTURE_QUOTE_REASON__INVALID);
    assert_int_equal(posture_quote_reason_from_string(NULL), POSTURE_QUOTE_REASON__INVALID);
}

static void assert_hex(const uint8_t *b, size_t n, const char *hex)
{
    char s[2 * 64 + 1];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        (void) snprintf(s + 2 * i, 3, "%02x", b[i]);
    s[2 * n] = '\0';
    assert_string_equal(s, hex);
}

static void test_binding(void **state)
{
    uint8_t nonce[32], out[32], keep[32];
    (void) state;

    for (unsigned i = 0; i < sizeof(nonce); i++)
        nonce[i] = (uint8_t) i;
    /* Known answers computed with python3 hashlib. */
    assert_int_equal(posture_quote_binding(nonce, sizeof(nonce), (const uint8_t *) "abc", 3, out),
                     0);
    assert_hex(out, sizeof(out),
               "0788ce25f4c1f93f794cf1d09f1d7c51c19701f04638f5384ea2a207c6dba339");
    assert_int_equal(posture_quote_binding((const uint8_t *) "\x07", 1, NULL, 0, out), 0);
    assert_hex(out, sizeof(out),
               "bd6a61bc547da798740f7a140c7057594a605bb3c66b40623fc5a95168668170");

    memcpy(keep, out, sizeof(out));
    assert_int_equal(posture_quote_binding(NULL, 1, NULL, 0, out), -EINVAL);
    assert_int_equal(posture_quote_binding(nonce, 0, NULL, 0, out), -EINVAL);
    assert_int_equal(posture_quote_binding(nonce, POSTURE_QUOTE_NONCE_MAX + 1, NULL, 0, out),
                     -EINVAL);
    assert_int_equal(posture_quote_binding(nonce, 1, NULL, 5, out), -EINVAL);
    assert_int_equal(posture_quote_binding(nonce, 1, NULL, 0, NULL), -EINVAL);
    assert_memory_equal(out, keep, sizeof(out)); /* untouched on failure */
}

static void test_ak(void **state)
{
    struct blob pub = load("ak.pub"), name = load("ak.name"), qname = load("ak.qname");
    struct blob ak2 = load("ak2.pub"), ekq = load("ek.qname");
    struct posture_quote_ak *ak = NULL;
    (void) state;

    assert_int_equal(posture_quote_ak_new(pub.data, pub.len, NULL, 0, &ak), 0);
    /* Name and qualified name agree with tpm2_readpublic's. */
    assert_int_equal(name.len, POSTURE_QUOTE_NAME_SIZE);
    assert_memory_equal(posture_quote_ak_name(ak), name.data, name.len);
    assert_memory_equal(posture_quote_ak_qualified_name(ak), qname.data, qname.len);
    ak = posture_quote_ak_free(ak);
    assert_null(ak);
    assert_null(posture_quote_ak_free(NULL));
    assert_null(posture_quote_ak_name(NULL));

    /* An EK child (tpm2_createak): its QN depends on the parent given. */
    assert_int_equal(posture_quote_ak_new(ak2.data, ak2.len, ekq.data, ekq.len, &ak), 0);
    uint8_t qn_ek[POSTURE_QUOTE_NAME_SIZE];
    memcpy(qn_ek, posture_quote_ak_qualified_name(ak), sizeof(qn_ek));
    ak = posture_quote_ak_free(ak);
    assert_int_equal(posture_quote_ak_new(ak2.data, ak2.len, NULL, 0, &ak), 0);
    assert_memory_not_equal(posture_quote_ak_qualified_name(ak), qn_ek, sizeof(qn_ek));
    ak = posture_quote_ak_free(ak);

    /* Malformed: trailing byte, truncated, wrong TPM2B size, empty. */
    struct blob t = blob_dup(&pub, 1);
    t.len++;
    assert_int_equal(posture_quote_ak_new(t.data, t.len, NULL, 0, &ak), -EBADMSG);
    for (size_t n = 0; n < pub.len; n++)
        assert_int_equal(posture_quote_ak_new(pub.data, n, NULL, 0, &ak), -EBADMSG);
    t.len = pub.len;
    t.data[1] ^= 1;
    assert_int_equal(posture_quote_ak_new(t.data, t.len, NULL, 0, &ak), -EBADMSG);
    blob_free(&t);

    /* Not the pinned kind of key: decrypt set (attributes at offset 6..9), restricted clear,
     * nameAlg SHA-1, scheme hash SHA-384, point not on the curve. */
    static const struct {
        size_t off;
        uint8_t xor ;
    } bad[] = { { 7, 0x02 }, { 7, 0x01 }, { 5, 0x0b ^ 0x04 }, { 17, 0x0b ^ 0x0c }, { 89, 0x01 } };
    assert_int_equal(pub.data[5], 0x0b);  /* nameAlg SHA-256 */
    assert_int_equal(pub.data[7], 0x05);  /* 0x00050472: restricted | decrypt clear... */
    assert_int_equal(pub.data[17], 0x0b); /* ECDSA's hash */
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(bad); i++) {
        t = blob_dup(&pub, 0);
        t.data[bad[i].off] ^= bad[i].xor ;
        assert_int_equal(posture_quote_ak_new(t.data, t.len, NULL, 0, &ak), -EKEYREJECTED);
        blob_free(&t);
    }
    assert_null(ak);

    assert_int_equal(posture_quote_ak_new(NULL, 0, NULL, 0, &ak), -EINVAL);
    assert_int_equal(posture_quote_ak_new(pub.data, pub.len, NULL, 0, NULL), -EINVAL);
    assert_int_equal(posture_quote_ak_new(pub.data, pub.len, ekq.data, 0, &ak), -EINVAL);

    blob_free(&pub);
    blob_free(&name);
    blob_free(&qname);
    blob_free(&ak2);
    blob_free(&ekq);
}

static void test_accept(void **state)
{
    struct fx f;
    struct posture_quote_info info = { 0 };
    (void) state;

    fx_init(&f, "quote", "pcrs.bin");
    assert_reason(fx_verify(&f, &info), POSTURE_QUOTE_OK);
    assert_true(info.clock.clock > 0);
    assert_true(info.firmware_version != 0);

    /* PCR values in any order. */
    struct posture_quote_pcr rev[8];
    for (size_t i = 0; i < 8; i++)
        rev[i] = f.pcrs[7 - i];
    f.expect.pcrs = rev;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_OK);
    fx_done(&f);

    /* The later quote of the same boot, after the first one. */
    struct fx g;
    fx_init(&g, "late", "pcrs.late.bin");
    g.expect.previous = &info.clock;
    struct posture_quote_info later = { 0 };
    assert_reason(fx_verify(&g, &later), POSTURE_QUOTE_OK);
    assert_true(later.clock.clock > info.clock.clock);
    assert_int_equal(later.clock.reset_count, info.clock.reset_count);
    fx_done(&g);
}

static void test_attest_structure(void **state)
{
    struct fx f;
    (void) state;

    fx_init(&f, "quote", "pcrs.bin");
    struct blob orig = blob_dup(&f.attest, 1);

    /* Row 1: magic. */
    f.attest.data[3] ^= 1;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_ATTEST_BAD_MAGIC);
    memcpy(f.attest.data, orig.data, orig.len);

    /* Row 10: trailing byte; every truncation. */
    f.attest.len++;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_ATTEST_MALFORMED);
    for (size_t n = 0; n < orig.len; n++) {
        f.attest.len = n;
        enum posture_quote_reason r = fx_verify(&f, NULL);
        assert_true(r == POSTURE_QUOTE_ATTEST_MALFORMED);
    }
    f.attest.len = orig.len;
    /* A TPM2B size larger than the buffer (qualifiedSigner at offset 6). */
    f.attest.data[6] = 0xff;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_ATTEST_MALFORMED);
    memcpy(f.attest.data, orig.data, orig.len);

    /* Row 2: a CERTIFY structure signed by the AK. */
    blob_free(&f.attest);
    blob_free(&f.sig);
    f.attest = load("certify.attest");
    f.sig = load("certify.sig");
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_ATTEST_NOT_QUOTE);

    blob_free(&orig);
    fx_done(&f);
}

static void test_signature(void **state)
{
    struct fx f;
    (void) state;

    fx_init(&f, "quote", "pcrs.bin");
    struct blob sig = blob_dup(&f.sig, 1);
    assert_int_equal(sig.len, 72); /* alg(2) hash(2) r(2+32) s(2+32) */

    /* Row 3: every single-bit change of the signed bytes or of r/s is caught. */
    for (size_t i = 0; i < f.attest.len; i++) {
        f.attest.data[i] ^= 0x80;
        assert_true(fx_verify(&f, NULL) != POSTURE_QUOTE_OK);
        f.attest.data[i] ^= 0x80;
    }
    for (size_t i = 6; i < f.sig.len; i++) {
        if (i == 38 || i == 39)
            continue; /* the size of s: malformed, below */
        f.sig.data[i] ^= 0x01;
        enum posture_quote_reason r = fx_verify(&f, NULL);
        assert_true(r == POSTURE_QUOTE_SIG_INVALID || r == POSTURE_QUOTE_SIG_RANGE);
        f.sig.data[i] ^= 0x01;
    }
    f.attest.data[40] ^= 1;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_INVALID);
    f.attest.data[40] ^= 1;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_OK);

    /* Malformed: trailing byte, truncated. */
    f.sig.len++;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_MALFORMED);
    for (size_t n = 0; n < sig.len; n++) {
        f.sig.len = n;
        assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_MALFORMED);
    }
    f.sig.len = sig.len;

    /* Scheme pinned: SHA-1 or SHA-384 as the hash, ECSCHNORR/SM2 as the algorithm. */
    f.sig.data[3] = 0x04;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_SCHEME);
    f.sig.data[3] = 0x0c;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_SCHEME);
    memcpy(f.sig.data, sig.data, sig.len);
    f.sig.data[1] = 0x1c; /* TPM_ALG_ECSCHNORR: same layout */
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_SCHEME);
    memcpy(f.sig.data, sig.data, sig.len);

    /* r = 0; s = n; s = n + 1 ... as 32 bytes; r = 0x00..01 (valid range, wrong value). */
    memset(f.sig.data + 6, 0, 32);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_RANGE);
    memcpy(f.sig.data, sig.data, sig.len);
    static const uint8_t order[32] = {
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
        0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
    };
    memcpy(f.sig.data + 40, order, 32);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_RANGE);
    f.sig.data[40 + 31]--;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_INVALID);
    memset(f.sig.data + 40, 0xff, 32);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_RANGE);
    memcpy(f.sig.data, sig.data, sig.len);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_OK);

    /* RSA signature for the ECC AK. */
    blob_free(&f.attest);
    blob_free(&f.sig);
    f.attest = load("rsa.attest");
    f.sig = load("rsa.sig");
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_SCHEME);

    /* Signed by another AK. */
    blob_free(&f.attest);
    blob_free(&f.sig);
    f.attest = load("other.attest");
    f.sig = load("other.sig");
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_INVALID);

    blob_free(&sig);
    fx_done(&f);
}

static void test_signer(void **state)
{
    struct fx f;
    struct blob ak2 = load("ak2.pub"), ekq = load("ek.qname");
    (void) state;

    fx_init(&f, "other", "pcrs.bin");
    f.ak = posture_quote_ak_free(f.ak);
    /* Row 8: the right key taken for an endorsement primary: its QN differs. */
    assert_int_equal(posture_quote_ak_new(ak2.data, ak2.len, NULL, 0, &f.ak), 0);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIGNER_MISMATCH);
    f.ak = posture_quote_ak_free(f.ak);
    /* With its real parent it passes. */
    assert_int_equal(posture_quote_ak_new(ak2.data, ak2.len, ekq.data, ekq.len, &f.ak), 0);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_OK);

    blob_free(&ak2);
    blob_free(&ekq);
    fx_done(&f);
}

static void test_binding_mismatch(void **state)
{
    struct fx f;
    uint8_t other[POSTURE_QUOTE_BINDING_SIZE];
    (void) state;

    fx_init(&f, "quote", "pcrs.bin");
    /* Row 4: another nonce; the payload with a byte changed; a shorter binding. */
    memcpy(other, f.binding, sizeof(other));
    other[0] ^= 1;
    f.expect.extra_data = other;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_EXTRA_DATA_MISMATCH);
    struct blob nonce = load("nonce.bin"), payload = load("payload.bin");
    payload.data[payload.len - 1] ^= 1;
    assert_int_equal(posture_quote_binding(nonce.data, nonce.len, payload.data, payload.len, other),
                     0);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_EXTRA_DATA_MISMATCH);
    f.expect.extra_data = f.binding;
    f.expect.extra_data_len = 31;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_EXTRA_DATA_MISMATCH);
    f.expect.extra_data_len = 32;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_OK);
    blob_free(&nonce);
    blob_free(&payload);
    fx_done(&f);
}

static void test_clock(void **state)
{
    struct fx f, late;
    struct posture_quote_info info = { 0 }, info_late = { 0 };
    struct posture_quote_clock prev;
    (void) state;

    fx_init(&f, "quote", "pcrs.bin");
    fx_init(&late, "late", "pcrs.late.bin");
    assert_reason(fx_verify(&f, &info), POSTURE_QUOTE_OK);
    assert_reason(fx_verify(&late, &info_late), POSTURE_QUOTE_OK);

    /* Row 9: the earlier quote after the later one; the same quote twice. */
    f.expect.previous = &info_late.clock;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_CLOCK_BACKWARDS);
    f.expect.previous = &info.clock;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_CLOCK_BACKWARDS);
    /* Counters that went backwards. */
    prev = info.clock;
    prev.reset_count++;
    prev.clock = 0;
    f.expect.previous = &prev;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_RESET_COUNT_BACKWARDS);
    prev = info.clock;
    prev.restart_count++;
    prev.clock = 0;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_RESTART_COUNT_BACKWARDS);
    /* An older boot with a higher restartCount: fine (restartCount restarts at a reset). */
    if (info.clock.reset_count > 0) {
        prev = info.clock;
        prev.reset_count--;
        prev.restart_count = 1000;
        prev.clock = 1;
        assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_OK);
    }
    /* Clock behind the stored one across a reset is still backwards. */
    prev = (struct posture_quote_clock){ .clock = info.clock.clock + 1 };
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_CLOCK_BACKWARDS);
    fx_done(&f);
    fx_done(&late);

    /* safe = NO after swtpm was killed. */
    fx_init(&f, "unsafe", "pcrs.unsafe.bin");
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_CLOCK_UNSAFE);
    fx_done(&f);
}

static void test_pcr_selection(void **state)
{
    static const char *const prefixes[] = { "sel06", "sha1", "twobanks" };
    struct fx f;
    (void) state;

    /* Row 6: PCR 7 missing, SHA-1 bank, an extra bank. */
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(prefixes); i++) {
        fx_init(&f, prefixes[i], "pcrs.bin");
        assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_PCR_SELECTION);
        fx_done(&f);
    }
    /* The policy asks for more (PCR 0-8) or less (0-6) than quoted. */
    fx_init(&f, "quote", "pcrs.bin");
    f.expect.pcr_mask = 0x1ff;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_PCR_SELECTION);
    f.expect.pcr_mask = 0x7f;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_PCR_SELECTION);
    fx_done(&f);
}

static void test_pcr_values(void **state)
{
    struct fx f;
    struct posture_quote_pcr more[9];
    (void) state;

    fx_init(&f, "quote", "pcrs.bin");
    /* Row 7: a value changed. */
    f.pcrs[7].digest[0] ^= 1;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_PCR_DIGEST_MISMATCH);
    f.pcrs[7].digest[0] ^= 1;
    /* Two values swapped (same set, different order by index). */
    struct posture_quote_pcr tmp = f.pcrs[1];
    memcpy(f.pcrs[1].digest, f.pcrs[2].digest, POSTURE_QUOTE_DIGEST_SIZE);
    memcpy(f.pcrs[2].digest, tmp.digest, POSTURE_QUOTE_DIGEST_SIZE);
    assert_memory_not_equal(f.pcrs[1].digest, f.pcrs[2].digest, POSTURE_QUOTE_DIGEST_SIZE);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_PCR_DIGEST_MISMATCH);
    fx_done(&f);

    fx_init(&f, "quote", "pcrs.bin");
    /* Missing PCR 7. */
    f.expect.n_pcrs = 7;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_PCR_VALUES_INVALID);
    /* An extra, unquoted PCR 8. */
    memcpy(more, f.pcrs, sizeof(f.pcrs[0]) * 8);
    more[8] = (struct posture_quote_pcr){ .index = 8 };
    f.expect.pcrs = more;
    f.expect.n_pcrs = 9;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_PCR_VALUES_INVALID);
    /* PCR 3 twice instead of PCR 7. */
    f.expect.n_pcrs = 8;
    more[7] = more[3];
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_PCR_VALUES_INVALID);
    /* An index out of range. */
    more[7].index = 99;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_PCR_VALUES_INVALID);
    /* Values from after a later extension. */
    f.expect.pcrs = f.pcrs;
    fx_load_pcrs(&f, "pcrs.late.bin");
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_PCR_DIGEST_MISMATCH);
    fx_done(&f);
}

static void test_order(void **state)
{
    struct fx f;
    (void) state;

    /* Several faults at once: the first check of §5.4 wins (signature before binding before
     * clock before PCRs). */
    fx_init(&f, "unsafe", "pcrs.bin");
    uint8_t other[POSTURE_QUOTE_BINDING_SIZE] = { 0 };
    f.expect.extra_data = other;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_EXTRA_DATA_MISMATCH);
    f.expect.extra_data = f.binding;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_CLOCK_UNSAFE);
    f.attest.data[f.attest.len - 1] ^= 1; /* pcrDigest byte: the signature breaks first */
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_INVALID);
    fx_done(&f);
}

static void test_args(void **state)
{
    struct fx f;
    enum posture_quote_reason reason = POSTURE_QUOTE_REASON__INVALID;
    struct posture_quote_info info = { .firmware_version = 42 };
    (void) state;

    fx_init(&f, "quote", "pcrs.bin");
    assert_int_equal(posture_quote_verify(NULL, f.attest.data, f.attest.len, f.sig.data, f.sig.len,
                                          &f.expect, &info, &reason),
                     -EINVAL);
    assert_int_equal(posture_quote_verify(f.ak, f.attest.data, f.attest.len, f.sig.data, f.sig.len,
                                          NULL, &info, &reason),
                     -EINVAL);
    assert_int_equal(posture_quote_verify(f.ak, f.attest.data, f.attest.len, f.sig.data, f.sig.len,
                                          &f.expect, &info, NULL),
                     -EINVAL);
    f.expect.pcr_mask = 0;
    assert_int_equal(posture_quote_verify(f.ak, f.attest.data, f.attest.len, f.sig.data, f.sig.len,
                                          &f.expect, &info, &reason),
                     -EINVAL);
    f.expect.pcr_mask = 1u << 24;
    assert_int_equal(posture_quote_verify(f.ak, f.attest.data, f.attest.len, f.sig.data, f.sig.len,
                                          &f.expect, &info, &reason),
                     -EINVAL);
    f.expect.pcr_mask = POSTURE_QUOTE_PCR_MASK_DEFAULT;
    f.expect.extra_data_len = 0;
    assert_int_equal(posture_quote_verify(f.ak, f.attest.data, f.attest.len, f.sig.data, f.sig.len,
                                          &f.expect, &info, &reason),
                     -EINVAL);
    assert_int_equal(reason, POSTURE_QUOTE_REASON__INVALID);
    /* A rejection leaves ret_info alone. */
    f.expect.extra_data_len = 32;
    f.pcrs[0].digest[0] ^= 1;
    assert_int_equal(posture_quote_verify(f.ak, f.attest.data, f.attest.len, f.sig.data, f.sig.len,
                                          &f.expect, &info, &reason),
                     0);
    assert_reason(reason, POSTURE_QUOTE_PCR_DIGEST_MISMATCH);
    assert_int_equal(info.firmware_version, 42);
    fx_done(&f);
}

static void test_replay(void **state)
{
    struct fx f;
    uint8_t replayed[POSTURE_QUOTE_PCR_MAX][POSTURE_QUOTE_DIGEST_SIZE] = { { 0 } };
    enum posture_quote_reason reason = POSTURE_QUOTE_REASON__INVALID;
    (void) state;

    fx_init(&f, "quote", "pcrs.bin");
    for (size_t i = 0; i < 8; i++)
        memcpy(replayed[i], f.pcrs[i].digest, POSTURE_QUOTE_DIGEST_SIZE);
    assert_int_equal(posture_quote_check_replay(0xff, f.pcrs, 8, replayed, 8, &reason), 0);
    assert_reason(reason, POSTURE_QUOTE_OK);
    /* PCR 9 is not quoted: its replay does not matter. */
    replayed[9][0] = 1;
    assert_int_equal(posture_quote_check_replay(0xff, f.pcrs, 8, replayed, 24, &reason), 0);
    assert_reason(reason, POSTURE_QUOTE_OK);
    /* Row 19: one digest byte differs. */
    replayed[4][31] ^= 1;
    assert_int_equal(posture_quote_check_replay(0xff, f.pcrs, 8, replayed, 8, &reason), 0);
    assert_reason(reason, POSTURE_QUOTE_REPLAY_MISMATCH);
    replayed[4][31] ^= 1;
    /* A selected PCR without a value. */
    assert_int_equal(posture_quote_check_replay(0xff, f.pcrs, 7, replayed, 8, &reason), 0);
    assert_reason(reason, POSTURE_QUOTE_REPLAY_MISMATCH);
    /* The replay does not cover the selection. */
    assert_int_equal(posture_quote_check_replay(0xff, f.pcrs, 8, replayed, 7, &reason), -EINVAL);
    assert_int_equal(posture_quote_check_replay(0, f.pcrs, 8, replayed, 8, &reason), -EINVAL);
    assert_int_equal(posture_quote_check_replay(0xff, f.pcrs, 8, NULL, 8, &reason), -EINVAL);
    fx_done(&f);
}

/* ---- sub-cases that need a validly signed, edited TPMS_ATTEST ------------------------------
 * A TPM never signs these, so a software P-256 key enrolled through posture_quote_ak_new() in
 * the pinned template stands in for the AK: quote.attest is unmarshalled, edited, re-marshalled
 * and re-signed, so that the check under test - not the signature - decides. */

struct soft_ak {
    EVP_PKEY *key;
    struct posture_quote_ak *ak;
};

static void soft_ak_new(struct soft_ak *s)
{
    TPM2B_PUBLIC pub = { 0 };
    uint8_t buf[sizeof(TPM2B_PUBLIC)];
    size_t off = 0;
    BIGNUM *x = NULL, *y = NULL;
    TPMS_ECC_PARMS *e = &pub.publicArea.parameters.eccDetail;

    s->key = EVP_EC_gen("P-256");
    assert_non_null(s->key);
    assert_int_equal(EVP_PKEY_get_bn_param(s->key, OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(s->key, OSSL_PKEY_PARAM_EC_PUB_Y, &y), 1);
    pub.publicArea.type = TPM2_ALG_ECC;
    pub.publicArea.nameAlg = TPM2_ALG_SHA256;
    pub.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    e->symmetric.algorithm = TPM2_ALG_NULL;
    e->scheme.scheme = TPM2_ALG_ECDSA;
    e->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    e->curveID = TPM2_ECC_NIST_P256;
    e->kdf.scheme = TPM2_ALG_NULL;
    pub.publicArea.unique.ecc.x.size = 32;
    pub.publicArea.unique.ecc.y.size = 32;
    assert_int_equal(BN_bn2binpad(x, pub.publicArea.unique.ecc.x.buffer, 32), 32);
    assert_int_equal(BN_bn2binpad(y, pub.publicArea.unique.ecc.y.buffer, 32), 32);
    BN_free(x);
    BN_free(y);
    assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, sizeof(buf), &off), TSS2_RC_SUCCESS);
    assert_int_equal(posture_quote_ak_new(buf, off, NULL, 0, &s->ak), 0);
}

static void soft_ak_done(struct soft_ak *s)
{
    EVP_PKEY_free(s->key);
    s->ak = posture_quote_ak_free(s->ak);
}

/* Marshal a, sign it with the software AK, verify it against f's expectations. */
static enum posture_quote_reason
soft_verify(const struct soft_ak *s, const TPMS_ATTEST *a, const struct fx *f)
{
    uint8_t attest[sizeof(TPMS_ATTEST)], der[80], sig[sizeof(TPMT_SIGNATURE)];
    size_t attest_len = 0, der_len = sizeof(der), sig_len = 0;
    const uint8_t *p = der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ECDSA_SIG *es;
    TPMT_SIGNATURE t = { .sigAlg = TPM2_ALG_ECDSA };
    enum posture_quote_reason reason = POSTURE_QUOTE_REASON__INVALID;

    assert_int_equal(Tss2_MU_TPMS_ATTEST_Marshal(a, attest, sizeof(attest), &attest_len),
                     TSS2_RC_SUCCESS);
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, s->key, NULL), 1);
    assert_int_equal(EVP_DigestSign(ctx, der, &der_len, attest, attest_len), 1);
    EVP_MD_CTX_free(ctx);
    es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
    assert_non_null(es);
    t.signature.ecdsa.hash = TPM2_ALG_SHA256;
    t.signature.ecdsa.signatureR.size = 32;
    t.signature.ecdsa.signatureS.size = 32;
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), t.signature.ecdsa.signatureR.buffer, 32),
                     32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), t.signature.ecdsa.signatureS.buffer, 32),
                     32);
    ECDSA_SIG_free(es);
    assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(&t, sig, sizeof(sig), &sig_len),
                     TSS2_RC_SUCCESS);
    assert_int_equal(
        posture_quote_verify(s->ak, attest, attest_len, sig, sig_len, &f->expect, NULL, &reason),
        0);
    return reason;
}

static void test_resigned(void **state)
{
    struct fx f;
    struct soft_ak s = { 0 };
    TPMS_ATTEST base, a;
    size_t off = 0;
    (void) state;

    fx_init(&f, "quote", "pcrs.bin");
    soft_ak_new(&s);
    assert_int_equal(Tss2_MU_TPMS_ATTEST_Unmarshal(f.attest.data, f.attest.len, &off, &base),
                     TSS2_RC_SUCCESS);
    base.qualifiedSigner.size = POSTURE_QUOTE_NAME_SIZE;
    memcpy(base.qualifiedSigner.name, posture_quote_ak_qualified_name(s.ak),
           POSTURE_QUOTE_NAME_SIZE);
    /* Control: the swtpm quote re-signed by the software AK is accepted. */
    assert_reason(soft_verify(&s, &base, &f), POSTURE_QUOTE_OK);

    /* Row 1: a validly signed structure without TPM_GENERATED (what a non-restricted key may
     * sign). */
    a = base;
    a.magic = 0x12345678;
    assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_ATTEST_BAD_MAGIC);

    /* Row 2: well-formed, validly signed structures of every other attestation type. */
    static const TPMI_ST_ATTEST types[] = {
        TPM2_ST_ATTEST_CERTIFY,       TPM2_ST_ATTEST_NV,
        TPM2_ST_ATTEST_CREATION,      TPM2_ST_ATTEST_TIME,
        TPM2_ST_ATTEST_COMMAND_AUDIT, TPM2_ST_ATTEST_SESSION_AUDIT,
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(types); i++) {
        a = base;
        a.type = types[i];
        memset(&a.attested, 0, sizeof(a.attested));
        assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_ATTEST_NOT_QUOTE);
    }

    /* Row 4: extraData empty (the Windows vector's; see integration/attest.vectors), or the
     * binding of another nonce. */
    a = base;
    a.extraData.size = 0;
    assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_EXTRA_DATA_MISMATCH);
    a.extraData.size = 32;
    a.extraData.buffer[31] ^= 1;
    assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_EXTRA_DATA_MISMATCH);

    /* Row 6: no bank at all; SHA-256 selected twice; PCR 23 added. */
    a = base;
    a.attested.quote.pcrSelect.count = 0;
    assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_PCR_SELECTION);
    a = base;
    a.attested.quote.pcrSelect.count = 2;
    a.attested.quote.pcrSelect.pcrSelections[1] = a.attested.quote.pcrSelect.pcrSelections[0];
    assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_PCR_SELECTION);
    a = base;
    a.attested.quote.pcrSelect.pcrSelections[0].sizeofSelect = 3;
    a.attested.quote.pcrSelect.pcrSelections[0].pcrSelect[2] = 0x80;
    assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_PCR_SELECTION);
    /* ... while the same PCR 0-7 in a 4-byte bitmap is the same selection. */
    a = base;
    a.attested.quote.pcrSelect.pcrSelections[0].sizeofSelect = 4;
    a.attested.quote.pcrSelect.pcrSelections[0].pcrSelect[3] = 0;
    assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_OK);

    /* Row 7: a pcrDigest of the wrong length (SHA-1 sized, empty). */
    a = base;
    a.attested.quote.pcrDigest.size = 20;
    assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_PCR_DIGEST_MISMATCH);
    a.attested.quote.pcrDigest.size = 0;
    assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_PCR_DIGEST_MISMATCH);

    /* Row 9: safe = NO. */
    a = base;
    a.clockInfo.safe = TPM2_NO;
    assert_reason(soft_verify(&s, &a, &f), POSTURE_QUOTE_CLOCK_UNSAFE);

    soft_ak_done(&s);
    fx_done(&f);
}

/* Raw edits the unmarshal must catch before anything else (rows 2, 3, 6, 10). */
static void test_raw_edits(void **state)
{
    struct fx f;
    (void) state;

    fx_init(&f, "quote", "pcrs.bin");
    struct blob orig = blob_dup(&f.attest, 1), sig = blob_dup(&f.sig, 1);
    /* magic(4) type(2) qualifiedSigner(2+34) extraData(2+32) clockInfo(17) firmware(8) */
    const size_t count_off = 4 + 2 + 36 + 34 + 17 + 8, size_off = count_off + 4 + 2;
    assert_int_equal(f.attest.data[count_off + 3], 1);
    assert_int_equal(f.attest.data[size_off], 3);

    /* Row 2: the type field alone changed to each other attestation type. */
    static const uint16_t types[] = { 0x8014, 0x8015, 0x8016, 0x8017, 0x8019, 0x801a, 0x0000 };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(types); i++) {
        f.attest.data[4] = (uint8_t) (types[i] >> 8);
        f.attest.data[5] = (uint8_t) types[i];
        assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_ATTEST_NOT_QUOTE);
    }
    memcpy(f.attest.data, orig.data, orig.len);

    /* Row 10: TPML_PCR_SELECTION.count 17 (> TPM2_NUM_PCR_BANKS) and 0xffffffff; row 6:
     * sizeofSelect 5 and 255 (> 4). */
    f.attest.data[count_off + 3] = 17;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_ATTEST_MALFORMED);
    memset(f.attest.data + count_off, 0xff, 4);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_ATTEST_MALFORMED);
    memcpy(f.attest.data, orig.data, orig.len);
    f.attest.data[size_off] = 5;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_ATTEST_MALFORMED);
    f.attest.data[size_off] = 255;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_ATTEST_MALFORMED);
    memcpy(f.attest.data, orig.data, orig.len);
    /* extraData's TPM2B size past the buffer (65: above TPMU_HA). */
    f.attest.data[4 + 2 + 36 + 1] = 65;
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_ATTEST_MALFORMED);
    memcpy(f.attest.data, orig.data, orig.len);

    /* Row 3: s = 0; r = n; r = 2^256 - 1; r as an empty TPM2B. Row 10: r's size past the
     * buffer. */
    static const uint8_t order[32] = {
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
        0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
    };
    memset(f.sig.data + 40, 0, 32);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_RANGE);
    memcpy(f.sig.data, sig.data, sig.len);
    memcpy(f.sig.data + 6, order, 32);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_RANGE);
    memset(f.sig.data + 6, 0xff, 32);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_RANGE);
    memcpy(f.sig.data, sig.data, sig.len);
    {
        uint8_t empty_r[4 + 2 + 2 + 32];
        memcpy(empty_r, sig.data, 4);
        empty_r[4] = 0;
        empty_r[5] = 0;
        memcpy(empty_r + 6, sig.data + 38, 34);
        uint8_t *keep = f.sig.data;
        size_t keep_len = f.sig.len;
        f.sig.data = empty_r;
        f.sig.len = sizeof(empty_r);
        assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_RANGE);
        f.sig.data = keep;
        f.sig.len = keep_len;
    }
    f.sig.data[4] = 0x01; /* r: 256 + 32 bytes */
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_SIG_MALFORMED);
    memcpy(f.sig.data, sig.data, sig.len);
    assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_OK);

    /* Row 4: the report of another device (another payload, same nonce). */
    {
        struct blob nonce = load("nonce.bin");
        static const char other[] = "{\"kid\":\"another-device\",\"eat_nonce\":\"x\"}";
        uint8_t b[POSTURE_QUOTE_BINDING_SIZE];
        assert_int_equal(posture_quote_binding(nonce.data, nonce.len, (const uint8_t *) other,
                                               sizeof(other) - 1, b),
                         0);
        f.expect.extra_data = b;
        assert_reason(fx_verify(&f, NULL), POSTURE_QUOTE_EXTRA_DATA_MISMATCH);
        f.expect.extra_data = f.binding;
        blob_free(&nonce);
    }

    blob_free(&orig);
    blob_free(&sig);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_strings),
        cmocka_unit_test(test_binding),
        cmocka_unit_test(test_ak),
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_attest_structure),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_signer),
        cmocka_unit_test(test_binding_mismatch),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_pcr_selection),
        cmocka_unit_test(test_pcr_values),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_resigned),
        cmocka_unit_test(test_raw_edits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
