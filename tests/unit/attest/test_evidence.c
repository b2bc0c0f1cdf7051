/* SPDX-License-Identifier: Apache-2.0 */
/* posture_evidence_*: the evidence object (ATTESTATION.md §5.1) in and out of JSON, and its
 * verification (quote + event log) on the swtpm quote of tests/fixtures/quote and the real
 * logs of tests/fixtures/eventlogs. */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "posture/b64url.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/evidence.h"
#include "posture/fileio.h"
#include "posture/hex.h"

#include "testlib.h"

struct blob {
    uint8_t *data;
    size_t len;
};

static struct blob load(const char *rel)
{
    char *buf = NULL;
    size_t len = 0;
    posture_autoclose int fd = open(posture_test_path(rel), O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(posture_read_fd(fd, 4 << 20, &buf, &len), 0);
    return (struct blob){ .data = (uint8_t *) buf, .len = len };
}

static uint8_t *dup_blob(const struct blob *b)
{
    uint8_t *p = malloc(b->len + 1);
    assert_non_null(p);
    memcpy(p, b->data, b->len);
    return p;
}

/* The evidence of the fixture quote: sha256 PCR 0-7, bound to nonce.bin and payload.bin. */
struct fx {
    struct posture_evidence *e;
    struct posture_quote_ak *ak;
    struct blob nonce, payload;
    struct posture_evidence_expect expect;
};

static void fx_init(struct fx *f)
{
    struct blob attest = load("fixtures/quote/quote.attest"),
                sig = load("fixtures/quote/quote.sig"), pcrs = load("fixtures/quote/pcrs.bin"),
                akpub = load("fixtures/quote/ak.pub");

    memset(f, 0, sizeof(*f));
    assert_int_equal(posture_quote_ak_new(akpub.data, akpub.len, NULL, 0, &f->ak), 0);
    f->e = calloc(1, sizeof(*f->e));
    assert_non_null(f->e);
    f->e->pcr_mask = 0xff;
    f->e->attest = attest.data;
    f->e->attest_len = attest.len;
    f->e->signature = sig.data;
    f->e->signature_len = sig.len;
    assert_int_equal(pcrs.len, 8 * POSTURE_QUOTE_DIGEST_SIZE);
    for (unsigned i = 0; i < 8; i++) {
        f->e->pcrs[i].index = i;
        memcpy(f->e->pcrs[i].digest, pcrs.data + i * POSTURE_QUOTE_DIGEST_SIZE,
               POSTURE_QUOTE_DIGEST_SIZE);
    }
    f->e->n_pcrs = 8;
    memcpy(f->e->ak_name, posture_quote_ak_name(f->ak), POSTURE_QUOTE_NAME_SIZE);
    f->e->ak_public = akpub.data;
    f->e->ak_public_len = akpub.len;
    free(pcrs.data);

    f->nonce = load("fixtures/quote/nonce.bin");
    f->payload = load("fixtures/quote/payload.bin");
    f->expect = (struct posture_evidence_expect){
        .nonce = f->nonce.data,
        .nonce_len = f->nonce.len,
        .payload = f->payload.data,
        .payload_len = f->payload.len,
        .pcr_mask = 0xff,
    };
}

static void fx_done(struct fx *f)
{
    posture_evidence_free(f->e);
    posture_quote_ak_free(f->ak);
    free(f->nonce.data);
    free(f->payload.data);
}

/* Verify and return the reason string (static storage per call). */
static const char *verify(struct fx *f)
{
    static char buf[POSTURE_EVIDENCE_REASON_MAX];
    static char out[POSTURE_EVIDENCE_REASON_MAX];
    struct posture_evidence_verdict v;

    assert_int_equal(posture_evidence_verify(f->ak, f->e, &f->expect, &v), 0);
    (void) snprintf(out, sizeof(out), "%s", posture_evidence_verdict_reason(&v, buf));
    posture_evidence_verdict_done(&v);
    return out;
}

static char *to_text(const struct posture_evidence *e)
{
    posture_auto_cjson cJSON *obj = NULL;
    char *s = NULL;

    assert_int_equal(posture_evidence_to_json(e, &obj), 0);
    assert_int_equal(posture_json_print(obj, false, &s), 0);
    return s;
}

static void test_round_trip(void **state)
{
    struct fx f;
    struct blob log = load("fixtures/eventlogs/gce-rhel8-secureboot.bin");
    posture_auto_evidence struct posture_evidence *back = NULL;
    posture_autofree char *text = NULL;
    const char *why = NULL;

    fx_init(&f);
    f.e->event_log = dup_blob(&log);
    f.e->event_log_len = log.len;
    f.e->ek_cert = (uint8_t *) strdup("not really DER");
    f.e->ek_cert_len = strlen("not really DER");
    text = to_text(f.e);
    assert_int_equal(posture_evidence_parse(text, strlen(text), &back, &why), 0);
    assert_int_equal(back->pcr_mask, 0xff);
    assert_int_equal(back->n_pcrs, 8);
    assert_memory_equal(back->pcrs, f.e->pcrs, sizeof(back->pcrs[0]) * 8);
    assert_int_equal(back->attest_len, f.e->attest_len);
    assert_memory_equal(back->attest, f.e->attest, back->attest_len);
    assert_int_equal(back->signature_len, f.e->signature_len);
    assert_memory_equal(back->ak_name, f.e->ak_name, POSTURE_QUOTE_NAME_SIZE);
    assert_int_equal(back->ak_public_len, f.e->ak_public_len);
    assert_int_equal(back->event_log_len, log.len);
    assert_memory_equal(back->event_log, log.data, log.len);
    assert_int_equal(back->ek_cert_len, f.e->ek_cert_len);
    /* PCR values are written as lower-case hex under decimal keys. */
    assert_non_null(strstr(text, "\"pcr_select\":[0,1,2,3,4,5,6,7]"));
    assert_non_null(strstr(text, "\"bank\":\"sha256\""));
    free(log.data);
    fx_done(&f);
}

/* Parse text after replacing the first occurrence of from by to; return the why string. */
static const char *parse_edit(const char *text, const char *from, const char *to)
{
    static char why_copy[200];
    posture_auto_evidence struct posture_evidence *e = NULL;
    posture_autofree char *edited = NULL;
    const char *at = strstr(text, from), *why = NULL;
    size_t n;
    int r;

    assert_non_null(at);
    n = strlen(text) - strlen(from) + strlen(to);
    edited = malloc(n + 1);
    assert_non_null(edited);
    (void) snprintf(edited, n + 1, "%.*s%s%s", (int) (at - text), text, to, at + strlen(from));
    r = posture_evidence_parse(edited, strlen(edited), &e, &why);
    assert_int_equal(r, -EBADMSG);
    assert_null(e);
    assert_non_null(why);
    (void) snprintf(why_copy, sizeof(why_copy), "%s", why);
    return why_copy;
}

static void test_parse_refusals(void **state)
{
    struct fx f;
    struct blob log = load("fixtures/eventlogs/gce-rhel8-secureboot.bin");
    posture_autofree char *text = NULL, *attest = NULL, *name = NULL;
    char *p;

    fx_init(&f);
    f.e->event_log = dup_blob(&log);
    f.e->event_log_len = log.len;
    text = to_text(f.e);
    assert_int_equal(posture_b64url_encode(f.e->attest, f.e->attest_len, &attest), 0);
    assert_int_equal(posture_hex_encode(f.e->ak_name, POSTURE_QUOTE_NAME_SIZE, &name), 0);

    assert_string_equal(parse_edit(text, "\"v\":1", "\"v\":2"), "v: unsupported version");
    assert_string_equal(parse_edit(text, "\"v\":1", "\"v\":\"1\""), "v: missing or not an integer");
    assert_string_equal(parse_edit(text, "\"sha256\"", "\"sha1\""),
                        "bank: only sha256 is accepted");
    assert_string_equal(parse_edit(text, "\"v\":1", "\"v\":1,\"extra\":true"),
                        "unknown member 'extra'");
    assert_string_equal(parse_edit(text, "[0,1,2,3,4,5,6,7]", "[0,1,2,3,4,5,7,6]"),
                        "pcr_select: not in ascending order without duplicates");
    assert_string_equal(parse_edit(text, "[0,1,2,3,4,5,6,7]", "[0,0,1,2,3,4,5,6,7]"),
                        "pcr_select: not in ascending order without duplicates");
    assert_string_equal(parse_edit(text, "[0,1,2,3,4,5,6,7]", "[0,1,2,3,4,5,6,7,24]"),
                        "pcr_select: entries are PCR numbers 0 to 23");
    assert_string_equal(parse_edit(text, "[0,1,2,3,4,5,6,7]", "[0,1,2,3,4,5,6,7.5]"),
                        "pcr_select: entries are PCR numbers 0 to 23");
    assert_string_equal(parse_edit(text, "[0,1,2,3,4,5,6,7]", "[]"), "pcr_select: empty");
    /* pcr_select and pcrs must agree exactly: a missing value, an extra one, odd spellings. */
    assert_string_equal(parse_edit(text, "[0,1,2,3,4,5,6,7]", "[0,1,2,3,4,5,6,7,8]"),
                        "pcrs: PCR 8 is missing");
    assert_string_equal(parse_edit(text, "[0,1,2,3,4,5,6,7]", "[0,1,2,3,4,5,6]"),
                        "pcrs: PCR 7 is not in pcr_select");
    assert_string_equal(parse_edit(text, "\"7\":", "\"07\":"), "pcrs: '07' is not a PCR number");
    assert_string_equal(parse_edit(text, "\"7\":", "\"+7\":"), "pcrs: '+7' is not a PCR number");
    assert_string_equal(parse_edit(text, "\"7\":\"", "\"7\":\"A"),
                        "pcrs: not 64 lower-case hex characters");
    /* Duplicate members are refused by the JSON layer (cJSON would keep the first). */
    assert_string_equal(parse_edit(text, "\"7\":", "\"7\":\"00\",\"7\":"),
                        "not valid JSON (syntax, nesting, or a duplicate member)");
    /* Binary members: strict base64url, the right hex length, the log's digest. */
    p = malloc(strlen(attest) + 2);
    assert_non_null(p);
    (void) snprintf(p, strlen(attest) + 2, "%s=", attest);
    assert_string_equal(parse_edit(text, attest, p), "attest: not strict base64url");
    free(p);
    assert_string_equal(parse_edit(text, attest, ""), "attest: empty");
    assert_string_equal(parse_edit(text, name, "000b"),
                        "ak_name: not 68 lower-case hex characters");
    assert_string_equal(parse_edit(text, "\"event_log_sha256\":\"", "\"event_log_sha256\":\"0"),
                        "event_log_sha256: not 64 lower-case hex characters");
    assert_string_equal(parse_edit(text, "\"event_log\":\"", "\"event_log\":\"AAAA"),
                        "event_log_sha256: does not match event_log");
    assert_string_equal(parse_edit(text, "\"sig\":", "\"sig2\":"), "unknown member 'sig2'");

    free(log.data);
    fx_done(&f);
}

static void test_parse_limits(void **state)
{
    posture_auto_evidence struct posture_evidence *e = NULL;
    const char *why = NULL;
    posture_autofree char *big = malloc(POSTURE_EVIDENCE_MAX_SIZE + 2);

    assert_non_null(big);
    memset(big, ' ', POSTURE_EVIDENCE_MAX_SIZE + 1);
    big[0] = '{';
    big[POSTURE_EVIDENCE_MAX_SIZE] = '}';
    big[POSTURE_EVIDENCE_MAX_SIZE + 1] = '\0';
    assert_int_equal(posture_evidence_parse(big, POSTURE_EVIDENCE_MAX_SIZE + 1, &e, &why), -E2BIG);
    assert_int_equal(posture_evidence_parse("[1]", 3, &e, &why), -EBADMSG);
    assert_string_equal(why, "not a JSON object");
    assert_int_equal(posture_evidence_parse("{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}", 26, &e, &why),
                     -EBADMSG);
    assert_int_equal(posture_evidence_parse("{}", 2, &e, NULL), -EBADMSG);
    assert_null(e);
}

static void test_to_json_refuses_incomplete(void **state)
{
    struct fx f;
    cJSON *obj = NULL;

    fx_init(&f);
    f.e->n_pcrs = 7;
    assert_int_equal(posture_evidence_to_json(f.e, &obj), -EINVAL);
    f.e->n_pcrs = 8;
    f.e->pcrs[7].index = 8; /* a value outside the selection */
    assert_int_equal(posture_evidence_to_json(f.e, &obj), -EINVAL);
    f.e->pcrs[7].index = 6; /* the same PCR twice */
    assert_int_equal(posture_evidence_to_json(f.e, &obj), -EINVAL);
    assert_null(obj);
    fx_done(&f);
}

static void test_verify_quote(void **state)
{
    struct fx f;
    struct posture_evidence_verdict v;
    char buf[POSTURE_EVIDENCE_REASON_MAX];

    fx_init(&f);
    /* Without an event log: accepted, and no Secure Boot facts (§5.4 step 14 is policy's). */
    assert_int_equal(posture_evidence_verify(f.ak, f.e, &f.expect, &v), 0);
    assert_int_equal(v.step, POSTURE_EVIDENCE_STEP_OK);
    assert_string_equal(posture_evidence_verdict_reason(&v, buf), "ok");
    assert_null(v.log);
    assert_null(v.secure_boot);
    assert_true(v.info.clock.clock > 0);
    posture_evidence_verdict_done(&v);

    /* One byte of the report changed: the binding no longer matches. */
    f.payload.data[0] ^= 1;
    assert_string_equal(verify(&f), "quote-binding-mismatch");
    f.payload.data[0] ^= 1;
    f.nonce.data[f.nonce.len - 1] ^= 0x80;
    assert_string_equal(verify(&f), "quote-binding-mismatch");
    f.nonce.data[f.nonce.len - 1] ^= 0x80;

    /* A supplied PCR value that is not what was quoted. */
    f.e->pcrs[3].digest[0] ^= 1;
    assert_string_equal(verify(&f), "quote-pcr-digest-mismatch");
    f.e->pcrs[3].digest[0] ^= 1;

    /* The policy selects another set of PCRs. */
    f.expect.pcr_mask = 0x7f;
    assert_string_equal(verify(&f), "quote-pcr-selection-mismatch");
    f.expect.pcr_mask = 0xff;

    /* The signature. */
    f.e->signature[f.e->signature_len - 1] ^= 1;
    assert_string_equal(verify(&f), "quote-signature-invalid");
    f.e->signature[f.e->signature_len - 1] ^= 1;
    assert_string_equal(verify(&f), "ok");
    fx_done(&f);
}

static void test_verify_ak(void **state)
{
    struct fx f;
    struct blob ak2 = load("fixtures/quote/ak2.pub");

    fx_init(&f);
    /* The evidence names another AK: refused before the quote is looked at. */
    f.e->ak_name[5] ^= 1;
    assert_string_equal(verify(&f), "evidence-ak-mismatch");
    f.e->ak_name[5] ^= 1;
    /* The right name, but the public area sent along is another key's. */
    free(f.e->ak_public);
    f.e->ak_public = ak2.data;
    f.e->ak_public_len = ak2.len;
    assert_string_equal(verify(&f), "evidence-ak-mismatch");
    /* No public area: the name alone is compared. */
    free(f.e->ak_public);
    f.e->ak_public = NULL;
    f.e->ak_public_len = 0;
    assert_string_equal(verify(&f), "ok");
    fx_done(&f);
}

static void test_verify_event_log(void **state)
{
    struct fx f;
    struct blob log = load("fixtures/eventlogs/gce-rhel8-secureboot.bin");
    struct blob legacy = load("fixtures/eventlogs/gce-debian10-sha1-legacy-secureboot.bin");

    fx_init(&f);
    /* A real log that is not this TPM's: it parses, but its replay is not what was quoted
     * (ATTESTATION.md §6 row 27, a stale or foreign log with a fresh quote). */
    f.e->event_log = dup_blob(&log);
    f.e->event_log_len = log.len;
    assert_string_equal(verify(&f), "quote-pcr-replay-mismatch");
    /* A truncated log is refused as a log, with its own reason: the last record's EventSize
     * now runs past the end. */
    f.e->event_log_len = log.len - 3;
    assert_string_equal(verify(&f), "eventlog-event-size");
    free(f.e->event_log);
    /* A SHA-1-only log has no SHA-256 bank to compare (row 18). */
    f.e->event_log = dup_blob(&legacy);
    f.e->event_log_len = legacy.len;
    assert_string_equal(verify(&f), "eventlog-bank-missing");
    free(log.data);
    free(legacy.data);
    fx_done(&f);
}

static void test_verify_arguments(void **state)
{
    struct fx f;
    struct posture_evidence_verdict v = { .step = POSTURE_EVIDENCE_STEP_AK };

    fx_init(&f);
    f.expect.pcr_mask = 0;
    assert_int_equal(posture_evidence_verify(f.ak, f.e, &f.expect, &v), -EINVAL);
    assert_int_equal(v.step, POSTURE_EVIDENCE_STEP_AK); /* untouched */
    f.expect.pcr_mask = 0xff;
    f.expect.nonce = NULL;
    assert_int_equal(posture_evidence_verify(f.ak, f.e, &f.expect, &v), -EINVAL);
    assert_int_equal(posture_evidence_verify(NULL, f.e, &f.expect, &v), -EINVAL);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_parse_limits),     cmocka_unit_test(test_to_json_refuses_incomplete),
        cmocka_unit_test(test_verify_quote),     cmocka_unit_test(test_verify_ak),
        cmocka_unit_test(test_verify_event_log), cmocka_unit_test(test_verify_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
