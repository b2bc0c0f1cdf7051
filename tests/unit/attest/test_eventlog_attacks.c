/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ATTESTATION.md §6 rows 17-28 and 33 against attest/eventlog.c: every case is a mutation of a
 * real log of tests/fixtures/eventlogs/, made here at run time (the fixtures are never edited),
 * and every refusal is asserted with its reason code and its record index. test_eventlog.c
 * holds the first cases of some rows; docs/attestation-tests.md maps each row to its tests.
 * Rows 24 and 28 end in a policy verdict (the verifier, issue 5): here the facts and warnings
 * the library hands to that policy are asserted.
 */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "posture/err.h"
#include "posture/eventlog.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/quote.h"

#include "testlib.h"

/* ---- fixtures ----------------------------------------------------------------------------- */

static const char *const fixtures[] = {
    "arch-linux-workstation",
    "dell-server-gdc-host",
    "gce-debian10-sha1-legacy-secureboot",
    "gce-rhel8-secureboot",
    "lenovo-laptop-glinux",
    "ovmf-rhel9-secureboot-sha256only",
    "supermicro-server-ubuntu-secureboot",
};

static void read_fixture(const char *name, const char *suffix, uint8_t **ret, size_t *ret_len)
{
    posture_autoclose int root = -1;
    char rel[256];
    char *buf = NULL;
    int r;

    (void) snprintf(rel, sizeof(rel), "fixtures/eventlogs/%s%s", name, suffix);
    assert_int_equal(posture_root_open("/", &root), 0);
    r = posture_read_file_at(root, posture_test_path(rel), 4u * 1024u * 1024u, &buf, ret_len);
    if (r < 0)
        fail_msg("reading %s: %d", rel, r);
    *ret = (uint8_t *) buf;
}

static cJSON *read_expected(const char *name)
{
    posture_autofree uint8_t *buf = NULL;
    size_t len;
    cJSON *j = NULL;

    read_fixture(name, ".expected.json", &buf, &len);
    assert_int_equal(posture_json_parse((const char *) buf, len, len, 0, &j), 0);
    return j;
}

/* A fixture read and parsed once; buf is the caller's to mutate (a copy of the file). */
struct loaded {
    uint8_t *buf;
    size_t len;
    struct posture_eventlog *log;
};

static void load(const char *name, struct loaded *l)
{
    struct posture_eventlog_problem problem = { 0 };

    read_fixture(name, ".bin", &l->buf, &l->len);
    if (posture_eventlog_parse(l->buf, l->len, &l->log, &problem) < 0)
        fail_msg("%s: %s at %lld", name, posture_eventlog_reason_to_string(problem.reason),
                 (long long) problem.event);
}

static void unload(struct loaded *l)
{
    l->log = posture_eventlog_free(l->log);
    free(l->buf);
    l->buf = NULL;
}

/* ---- record layout and editing ------------------------------------------------------------ */

struct rec {
    size_t off, digests_off, size_off, data_off, end;
};

/* Byte layout of record i (the header and legacy records are in the SHA-1 format). */
static struct rec record_at(const struct posture_eventlog *log, size_t i)
{
    const struct posture_eventlog_event *e = &log->events[i];
    struct rec r = { .off = e->offset };

    if (i == 0 || log->format == POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY) {
        r.digests_off = r.off + 8;
        r.size_off = r.off + 28;
    } else {
        size_t d = r.off + 12;
        r.digests_off = d;
        for (size_t b = 0; b < log->n_banks; b++)
            d += 2 + log->banks[b].digest_size;
        r.size_off = d;
    }
    r.data_off = r.size_off + 4;
    r.end = r.data_off + e->data_len;
    return r;
}

/* Offset of bank b's digest bytes in a crypto-agile record (after its 2-byte algorithm id). */
static size_t digest_off(const struct posture_eventlog *log, struct rec rc, size_t bank)
{
    size_t d = rc.digests_off;

    if (log->format == POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY)
        return d;
    for (size_t b = 0; b < bank; b++)
        d += 2 + log->banks[b].digest_size;
    return d + 2;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t) v);
    put_u32(p + 4, (uint32_t) (v >> 32));
}

/* A new buffer: buf with the cut bytes at off replaced by ins[n]. */
static uint8_t *edit(const uint8_t *buf,
                     size_t len,
                     size_t off,
                     size_t cut,
                     const uint8_t *ins,
                     size_t n,
                     size_t *ret_len)
{
    uint8_t *out;

    assert_true(off + cut <= len);
    out = malloc(len - cut + n + 1);
    assert_non_null(out);
    memcpy(out, buf, off);
    if (n > 0)
        memcpy(out + off, ins, n);
    memcpy(out + off + n, buf + off + cut, len - off - cut);
    *ret_len = len - cut + n;
    return out;
}

/* A record in the log's format with the digests H(data) in every bank (zero when zero_digests,
 * as an EV_NO_ACTION needs, or for a bank we cannot hash). Returns its length. */
static size_t build_record(const struct posture_eventlog *log,
                           uint32_t pcr,
                           uint32_t type,
                           const uint8_t *data,
                           uint32_t data_len,
                           bool zero_digests,
                           uint8_t *out,
                           size_t cap)
{
    size_t o = 0;
    bool legacy = log->format == POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY;

    assert_true(cap >= 16 + 5 * (2 + POSTURE_EVENTLOG_MAX_DIGEST) + data_len);
    put_u32(out + o, pcr);
    put_u32(out + o + 4, type);
    o += 8;
    if (!legacy) {
        put_u32(out + o, (uint32_t) log->n_banks);
        o += 4;
    }
    for (size_t b = 0; b < log->n_banks; b++) {
        const struct posture_eventlog_bank *bank = &log->banks[b];
        const char *name = posture_eventlog_alg_name(bank->alg);
        unsigned n = 0;

        if (!legacy) {
            out[o] = (uint8_t) bank->alg;
            out[o + 1] = (uint8_t) (bank->alg >> 8);
            o += 2;
        }
        memset(out + o, 0, bank->digest_size);
        if (!zero_digests && name) {
            assert_int_equal(
                EVP_Digest(data, data_len, out + o, &n, EVP_get_digestbyname(name), NULL), 1);
            assert_int_equal(n, bank->digest_size);
        }
        o += bank->digest_size;
    }
    put_u32(out + o, data_len);
    o += 4;
    if (data_len > 0)
        memcpy(out + o, data, data_len);
    return o + data_len;
}

/* Record i rebuilt with other data (digests H(data)), as a new buffer. */
static uint8_t *rebuild(const struct loaded *l,
                        size_t i,
                        uint32_t type,
                        const uint8_t *data,
                        uint32_t data_len,
                        bool zero_digests,
                        size_t *ret_len)
{
    uint8_t rec[96 * 1024];
    struct rec rc = record_at(l->log, i);
    size_t n = build_record(l->log, l->log->events[i].pcr, type, data, data_len, zero_digests, rec,
                            sizeof(rec));

    return edit(l->buf, l->len, rc.off, rc.end - rc.off, rec, n, ret_len);
}

/* ---- expectations ------------------------------------------------------------------------- */

static void
expect_parse(const uint8_t *buf, size_t len, enum posture_eventlog_reason reason, int64_t event)
{
    struct posture_eventlog *log = NULL;
    struct posture_eventlog_problem problem = { .reason = POSTURE_EVENTLOG_OK, .event = -7 };
    int r = posture_eventlog_parse(buf, len, &log, &problem);

    if (r != -EBADMSG || problem.reason != reason || problem.event != event)
        fail_msg("parse: %d %s at %lld, expected %s at %lld", r,
                 posture_eventlog_reason_to_string(problem.reason), (long long) problem.event,
                 posture_eventlog_reason_to_string(reason), (long long) event);
    assert_null(log);
}

static struct posture_eventlog *parse_ok(const uint8_t *buf, size_t len)
{
    struct posture_eventlog *log = NULL;
    struct posture_eventlog_problem problem = { 0 };

    if (posture_eventlog_parse(buf, len, &log, &problem) != 0)
        fail_msg("parse: %s at %lld", posture_eventlog_reason_to_string(problem.reason),
                 (long long) problem.event);
    return log;
}

static void
expect_sb(const uint8_t *buf, size_t len, enum posture_eventlog_reason reason, int64_t event)
{
    posture_auto_eventlog struct posture_eventlog *log = parse_ok(buf, len);
    struct posture_eventlog_secure_boot *sb = NULL;
    struct posture_eventlog_problem problem = { .reason = POSTURE_EVENTLOG_OK, .event = -7 };
    int r = posture_eventlog_secure_boot(log, &sb, &problem);

    if (r != -EBADMSG || problem.reason != reason || problem.event != event)
        fail_msg("secure boot: %d %s at %lld, expected %s at %lld", r,
                 posture_eventlog_reason_to_string(problem.reason), (long long) problem.event,
                 posture_eventlog_reason_to_string(reason), (long long) event);
    assert_null(sb);
}

static struct posture_eventlog_secure_boot *sb_ok(const struct posture_eventlog *log)
{
    struct posture_eventlog_secure_boot *sb = NULL;
    struct posture_eventlog_problem problem = { 0 };

    if (posture_eventlog_secure_boot(log, &sb, &problem) != 0)
        fail_msg("secure boot: %s at %lld", posture_eventlog_reason_to_string(problem.reason),
                 (long long) problem.event);
    return sb;
}

/* The event of warning code, -2 when the warning is absent. */
static int64_t warning_event(const struct posture_eventlog_secure_boot *sb,
                             enum posture_eventlog_warning code)
{
    for (size_t i = 0; i < sb->n_warnings; i++)
        if (sb->warnings[i].code == code)
            return sb->warnings[i].event;
    return -2;
}

static size_t find_event(const struct posture_eventlog *log, uint32_t pcr, uint32_t type)
{
    for (size_t i = 1; i < log->n_events; i++)
        if (log->events[i].pcr == pcr && log->events[i].type == type)
            return i;
    fail_msg("no event PCR %u type %#x", pcr, type);
    return 0;
}

static size_t find_last(const struct posture_eventlog *log, uint32_t pcr, uint32_t type)
{
    for (size_t i = log->n_events; i-- > 1;)
        if (log->events[i].pcr == pcr && log->events[i].type == type)
            return i;
    fail_msg("no event PCR %u type %#x", pcr, type);
    return 0;
}

/* The PCR 7 DRIVER_CONFIG named name. */
static size_t find_variable(const struct posture_eventlog *log, const char *name)
{
    for (size_t i = 1; i < log->n_events; i++) {
        const struct posture_eventlog_event *e = &log->events[i];
        size_t n = strlen(name);

        if (e->pcr != 7 || e->type != POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG || e->data_len < 32)
            continue;
        if (e->data[16] != n || e->data_len < 32 + 2 * n)
            continue;
        bool same = true;
        for (size_t k = 0; k < n; k++)
            same = same && e->data[32 + 2 * k] == (uint8_t) name[k] && e->data[33 + 2 * k] == 0;
        if (same)
            return i;
    }
    fail_msg("no PCR 7 variable %s", name);
    return 0;
}

/* sha256 PCRs 0-7 of a parsed log. */
static void sha256_pcrs(const struct posture_eventlog *log, uint8_t out[8][32])
{
    for (unsigned pcr = 0; pcr < 8; pcr++) {
        const uint8_t *v;
        size_t n;

        assert_int_equal(posture_eventlog_pcr(log, POSTURE_TPM_ALG_SHA256, pcr, &v, &n), 0);
        assert_int_equal(n, 32);
        memcpy(out[pcr], v, 32);
    }
}

/* Bit i set when the sha256 PCR i of log differs from want[i]; each through
 * posture_eventlog_compare_pcr(), which must say PCR_MISMATCH for exactly those. */
static unsigned mismatching(const struct posture_eventlog *log, uint8_t want[8][32])
{
    unsigned bits = 0;

    for (unsigned pcr = 0; pcr < 8; pcr++) {
        struct posture_eventlog_problem problem = { 0 };
        int r =
            posture_eventlog_compare_pcr(log, POSTURE_TPM_ALG_SHA256, pcr, want[pcr], 32, &problem);

        if (r == 0)
            continue;
        assert_int_equal(r, -EBADMSG);
        assert_int_equal(problem.reason, POSTURE_EVENTLOG_PCR_MISMATCH);
        assert_int_equal(problem.event, -1);
        bits |= 1u << pcr;
    }
    return bits;
}

/* posture_quote_check_replay() with quoted = want (PCR 0-7) and the replay of log. */
static enum posture_quote_reason quote_replay(const struct posture_eventlog *log,
                                              uint8_t want[8][32])
{
    struct posture_quote_pcr quoted[8];
    uint8_t replayed[8][POSTURE_QUOTE_DIGEST_SIZE];
    enum posture_quote_reason reason = POSTURE_QUOTE_REASON__INVALID;

    for (unsigned i = 0; i < 8; i++) {
        quoted[i].index = i;
        memcpy(quoted[i].digest, want[i], 32);
    }
    sha256_pcrs(log, replayed);
    assert_int_equal(posture_quote_check_replay(0xff, quoted, 8, replayed, 8, &reason), 0);
    return reason;
}

static void hex_decode(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t) v;
    }
}

/* The sha256 PCRs 0-7 the source of fixture name states (captured on the machine). */
static void stated_sha256(const char *name, uint8_t out[8][32])
{
    posture_auto_cjson cJSON *exp = read_expected(name);
    const cJSON *bank = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(exp, "expected_pcrs_stated_by_source"), "sha256");

    assert_non_null(bank);
    for (unsigned pcr = 0; pcr < 8; pcr++) {
        char key[4];
        (void) snprintf(key, sizeof(key), "%u", pcr);
        const char *hex = posture_json_get_str(bank, key);
        assert_non_null(hex);
        hex_decode(hex, out[pcr], 32);
    }
}

/* ---- row 17: structure ------------------------------------------------------------------ */

/* Truncation at every byte of a record: before its EventSize is complete the record is
 * "truncated", inside its data the EventSize exceeds what is left. A cut at a record boundary
 * is structurally a shorter log; row 19's replay check catches it (asserted here too). */
static void test_row17_truncated_everywhere(void **state)
{
    static const struct {
        const char *name;
        size_t record;
    } cases[] = { { "dell-server-gdc-host", 20 }, { "gce-debian10-sha1-legacy-secureboot", 5 } };
    (void) state;

    for (size_t c = 0; c < POSTURE_ELEMENTSOF(cases); c++) {
        struct loaded l = { 0 };
        struct rec rc;

        load(cases[c].name, &l);
        rc = record_at(l.log, cases[c].record);
        for (size_t cut = rc.off + 1; cut < rc.end; cut++)
            expect_parse(l.buf, cut,
                         cut < rc.data_off ? POSTURE_EVENTLOG_TRUNCATED
                                           : POSTURE_EVENTLOG_EVENT_SIZE,
                         (int64_t) cases[c].record);
        {
            posture_auto_eventlog struct posture_eventlog *m = parse_ok(l.buf, rc.off);
            const uint8_t *full, *cut;
            size_t n;
            unsigned pcr = l.log->events[cases[c].record].pcr;
            uint16_t alg = l.log->banks[0].alg;

            assert_int_equal(m->n_events, cases[c].record);
            assert_int_equal(posture_eventlog_pcr(l.log, alg, pcr, &full, &n), 0);
            assert_int_equal(posture_eventlog_pcr(m, alg, pcr, &cut, &n), 0);
            assert_memory_not_equal(full, cut, n);
        }
        /* Trailing garbage after the last record: 7 bytes cannot hold a record header. */
        {
            size_t n;
            static const uint8_t junk[7] = { 1, 2, 3, 4, 5, 6, 7 };
            posture_autofree uint8_t *t = edit(l.buf, l.len, l.len, 0, junk, sizeof(junk), &n);
            expect_parse(t, n, POSTURE_EVENTLOG_TRUNCATED, (int64_t) l.log->n_events);
        }
        unload(&l);
    }
}

static void test_row17_event_size(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    /* 0x47efbfbd ("\xbd\xbf\xef\x47": U+FFFD and 'G', go-attestation's fuzz find) in the Spec ID
     * header, in a crypto-agile record, in a legacy record; 64 KiB + 1 in a log large enough. */
    load("gce-rhel8-secureboot", &l);
    {
        struct rec h = record_at(l.log, 0), rc = record_at(l.log, 40);
        put_u32(l.buf + h.size_off, 0x47efbfbdu);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_EVENT_SIZE, 0);
        put_u32(l.buf + h.size_off, l.log->events[0].data_len);
        put_u32(l.buf + rc.size_off, 0x47efbfbdu);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_EVENT_SIZE, 40);
        put_u32(l.buf + rc.size_off, 0xffffffffu);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_EVENT_SIZE, 40);
        put_u32(l.buf + rc.size_off, l.log->events[40].data_len);
    }
    unload(&l);

    load("gce-debian10-sha1-legacy-secureboot", &l);
    {
        struct rec rc = record_at(l.log, 3);
        put_u32(l.buf + rc.size_off, 0x47efbfbdu);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_EVENT_SIZE, 3);
        /* Within the input but above the 64 KiB cap: the log is only ~30 KB, so make room. */
        put_u32(l.buf + rc.size_off, l.log->events[3].data_len);
    }
    {
        /* Record 3 grown to 64 KiB + 1 bytes of data (digest recomputed): refused on size even
         * though every byte is there. */
        size_t n;
        posture_autofree uint8_t *data = calloc(1, POSTURE_EVENTLOG_MAX_EVENT_SIZE + 1);
        assert_non_null(data);
        posture_autofree uint8_t *big = rebuild(&l, 3, l.log->events[3].type, data,
                                                POSTURE_EVENTLOG_MAX_EVENT_SIZE + 1, false, &n);
        expect_parse(big, n, POSTURE_EVENTLOG_EVENT_SIZE, 3);
        /* Exactly 64 KiB is allowed. */
        posture_autofree uint8_t *max =
            rebuild(&l, 3, l.log->events[3].type, data, POSTURE_EVENTLOG_MAX_EVENT_SIZE, false, &n);
        posture_auto_eventlog struct posture_eventlog *m = parse_ok(max, n);
        assert_int_equal(m->events[3].data_len, POSTURE_EVENTLOG_MAX_EVENT_SIZE);
    }
    unload(&l);
}

static void test_row17_digests(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("gce-rhel8-secureboot", &l); /* banks sha1, sha256, sha384 */
    assert_int_equal(l.log->n_banks, 3);
    {
        /* count != numberOfAlgorithms: 0, 2, 4, 0xffffffff. */
        static const uint32_t counts[] = { 0, 2, 4, 0xffffffffu };
        struct rec rc = record_at(l.log, 30);

        for (size_t i = 0; i < POSTURE_ELEMENTSOF(counts); i++) {
            put_u32(l.buf + rc.off + 8, counts[i]);
            expect_parse(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_COUNT, 30);
        }
        put_u32(l.buf + rc.off + 8, 3);
    }
    {
        /* An algorithm id not in the header (SHA-512, SM3, 0xffff) in the last slot. */
        static const uint16_t algs[] = { POSTURE_TPM_ALG_SHA512, 0x0012, 0xffff };
        struct rec rc = record_at(l.log, 30);
        size_t at = digest_off(l.log, rc, 2) - 2;

        for (size_t i = 0; i < POSTURE_ELEMENTSOF(algs); i++) {
            l.buf[at] = (uint8_t) algs[i];
            l.buf[at + 1] = (uint8_t) (algs[i] >> 8);
            expect_parse(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_ALGORITHM, 30);
        }
        l.buf[at] = 0x0c;
        l.buf[at + 1] = 0;
    }
    {
        /* A digest one byte short of the header's table (19-byte SHA-1): the next algorithm id
         * is read from the wrong place and is not a declared bank. */
        struct rec rc = record_at(l.log, 30);
        size_t n;
        posture_autofree uint8_t *s =
            edit(l.buf, l.len, digest_off(l.log, rc, 0) + 19, 1, NULL, 0, &n);
        expect_parse(s, n, POSTURE_EVENTLOG_DIGEST_ALGORITHM, 30);
    }
    {
        /* The same record with its digests in another order is fine (matched by id). */
        struct rec rc = record_at(l.log, 30);
        uint8_t swapped[2 + 20 + 2 + 32 + 2 + 48];
        size_t a = rc.digests_off;

        memcpy(swapped, l.buf + a + 22, 34);
        memcpy(swapped + 34, l.buf + a, 22);
        memcpy(swapped + 56, l.buf + a + 56, 50);
        memcpy(l.buf + a, swapped, sizeof(swapped));
        posture_auto_eventlog struct posture_eventlog *m = parse_ok(l.buf, l.len);
        uint8_t want[8][32], got[8][32];
        sha256_pcrs(l.log, want);
        sha256_pcrs(m, got);
        assert_memory_equal(want, got, sizeof(want));
    }
    unload(&l);
}

static void test_row17_spec_id(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("arch-linux-workstation", &l); /* Spec ID: sha1/20, sha256/32, vendorInfoSize 0 */
    {
        struct rec h = record_at(l.log, 0);
        size_t n_algs = h.data_off + 24, table = n_algs + 4, vendor = table + 2 * 4;

        assert_int_equal(l.buf[n_algs], 2);
        assert_int_equal(l.buf[vendor], 0);
        assert_int_equal(vendor + 1, h.end);

        /* numberOfAlgorithms 0, 3 (table runs into vendorInfoSize), 6, 0xffffffff. */
        put_u32(l.buf + n_algs, 0);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_ALGORITHMS, 0);
        put_u32(l.buf + n_algs, 3);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_SPEC_ID, 0);
        put_u32(l.buf + n_algs, 6);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_ALGORITHMS, 0);
        put_u32(l.buf + n_algs, 0xffffffffu);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_ALGORITHMS, 0);
        put_u32(l.buf + n_algs, 2);

        /* Digest sizes that contradict the algorithm, 0, 65. */
        static const uint16_t sizes[] = { 32, 19, 21, 0, 65 };
        for (size_t i = 0; i < POSTURE_ELEMENTSOF(sizes); i++) {
            l.buf[table + 2] = (uint8_t) sizes[i];
            l.buf[table + 3] = (uint8_t) (sizes[i] >> 8);
            expect_parse(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_SIZE, 0);
        }
        l.buf[table + 2] = 20;
        l.buf[table + 3] = 0;

        /* Unknown algorithm ids (not TCG-registered hashes) and a duplicate. */
        static const uint16_t bad[] = { 0x0000, 0x0001 /* RSA */, 0x0010 /* NULL */, 0x00ff,
                                        0xffff };
        for (size_t i = 0; i < POSTURE_ELEMENTSOF(bad); i++) {
            l.buf[table + 4] = (uint8_t) bad[i];
            l.buf[table + 5] = (uint8_t) (bad[i] >> 8);
            expect_parse(l.buf, l.len, POSTURE_EVENTLOG_ALGORITHMS, 0);
        }
        l.buf[table + 5] = 0;
        l.buf[table + 4] = 0x04; /* sha1 twice */
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_ALGORITHMS, 0);
        l.buf[table + 4] = 0x0b;

        /* vendorInfoSize past the event (1..255), and one byte left over after it. */
        for (unsigned v = 1; v <= 255; v++) {
            l.buf[vendor] = (uint8_t) v;
            expect_parse(l.buf, l.len, POSTURE_EVENTLOG_SPEC_ID, 0);
        }
        l.buf[vendor] = 0;
        {
            size_t n;
            posture_autofree uint8_t *t =
                edit(l.buf, l.len, h.end, 0, (const uint8_t *) "x", 1, &n);
            put_u32(t + h.size_off, l.log->events[0].data_len + 1);
            expect_parse(t, n, POSTURE_EVENTLOG_SPEC_ID, 0);
            /* ... which vendorInfoSize 1 makes right. */
            t[vendor] = 1;
            posture_auto_eventlog struct posture_eventlog *m = parse_ok(t, n);
            assert_int_equal(m->n_events, l.log->n_events);
        }

        /* specVersionMajor 1, uintnSize 3, a non-zero header digest, the header in PCR 1. */
        l.buf[h.data_off + 21] = 1;
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_SPEC_ID, 0);
        l.buf[h.data_off + 21] = 2;
        l.buf[h.data_off + 23] = 3;
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_SPEC_ID, 0);
        l.buf[h.data_off + 23] = 2;
        l.buf[h.digests_off + 19] = 1;
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_SPEC_ID, 0);
        l.buf[h.digests_off + 19] = 0;
        put_u32(l.buf + h.off, 1);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_SPEC_ID, 0);
        put_u32(l.buf + h.off, 0);
    }
    {
        /* A registered hash we do not compute (SM3_256, 32 bytes) in place of sha256, every
         * record's id rewritten to match: parsed, declared only, the SHA-1 replay unchanged,
         * and the appraisal says the bank was not replayed. */
        posture_autofree uint8_t *m = malloc(l.len);
        assert_non_null(m);
        memcpy(m, l.buf, l.len);
        struct rec h = record_at(l.log, 0);
        m[h.data_off + 28 + 4] = 0x12;
        for (size_t i = 1; i < l.log->n_events; i++) {
            struct rec rc = record_at(l.log, i);
            size_t at = digest_off(l.log, rc, 1) - 2;
            assert_int_equal(m[at], 0x0b);
            m[at] = 0x12;
        }
        posture_auto_eventlog struct posture_eventlog *sm3 = parse_ok(m, l.len);
        const uint8_t *a, *b;
        size_t n;
        assert_false(posture_eventlog_bank(sm3, 0x0012)->replayed);
        assert_int_equal(posture_eventlog_pcr(sm3, 0x0012, 0, &a, &n), -ENOENT);
        for (unsigned pcr = 0; pcr < POSTURE_EVENTLOG_PCRS; pcr++) {
            assert_int_equal(posture_eventlog_pcr(sm3, POSTURE_TPM_ALG_SHA1, pcr, &a, &n), 0);
            assert_int_equal(posture_eventlog_pcr(l.log, POSTURE_TPM_ALG_SHA1, pcr, &b, &n), 0);
            assert_memory_equal(a, b, 20);
        }
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(sm3);
        assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_BANK_NOT_REPLAYED), -1);
    }
    unload(&l);
}

/* More than 10 000 records, more than 1 MiB (and 2 MiB). */
static void test_row17_limits(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("ovmf-rhel9-secureboot-sha256only", &l);
    {
        size_t sep = find_event(l.log, 0, POSTURE_EV_SEPARATOR);
        struct rec h = record_at(l.log, 0), rs = record_at(l.log, sep);
        size_t rec_len = rs.end - rs.off, len;
        posture_autofree uint8_t *big = NULL;

        /* Header + 9 999 records = the maximum of 10 000: accepted; one more is not. */
        assert_true(h.end + POSTURE_EVENTLOG_MAX_EVENTS * rec_len <= POSTURE_EVENTLOG_MAX_SIZE);
        big = malloc(h.end + POSTURE_EVENTLOG_MAX_EVENTS * rec_len);
        assert_non_null(big);
        memcpy(big, l.buf, h.end);
        for (size_t i = 1; i <= POSTURE_EVENTLOG_MAX_EVENTS; i++)
            memcpy(big + h.end + (i - 1) * rec_len, l.buf + rs.off, rec_len);
        len = h.end + (POSTURE_EVENTLOG_MAX_EVENTS - 1) * rec_len;
        {
            posture_auto_eventlog struct posture_eventlog *m = parse_ok(big, len);
            assert_int_equal(m->n_events, POSTURE_EVENTLOG_MAX_EVENTS);
        }
        expect_parse(big, len + rec_len, POSTURE_EVENTLOG_TOO_MANY_EVENTS,
                     POSTURE_EVENTLOG_MAX_EVENTS);
    }
    {
        /* The fixture padded with zeros to 1 MiB + 1 and 2 MiB + 1: refused before parsing. */
        static const size_t sizes[] = { POSTURE_EVENTLOG_MAX_SIZE + 1, 2u * 1024u * 1024u + 1u };
        for (size_t i = 0; i < POSTURE_ELEMENTSOF(sizes); i++) {
            posture_autofree uint8_t *big = calloc(1, sizes[i]);
            assert_non_null(big);
            memcpy(big, l.buf, l.len);
            expect_parse(big, sizes[i], POSTURE_EVENTLOG_TOO_LARGE, -1);
        }
        /* Zero padding inside the limit is not a record either: count 0. */
        posture_autofree uint8_t *pad = calloc(1, l.len + 64);
        assert_non_null(pad);
        memcpy(pad, l.buf, l.len);
        expect_parse(pad, l.len + 64, POSTURE_EVENTLOG_DIGEST_COUNT, (int64_t) l.log->n_events);
    }
    unload(&l);
}

/* ---- row 18: SHA-1-only legacy log ------------------------------------------------------ */

static void test_row18_sha1_legacy(void **state)
{
    struct loaded l = { 0 };
    uint8_t zero[32] = { 0 };
    (void) state;

    load("gce-debian10-sha1-legacy-secureboot", &l);
    assert_int_equal(l.log->format, POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY);
    assert_int_equal(l.log->n_banks, 1);
    assert_null(posture_eventlog_bank(l.log, POSTURE_TPM_ALG_SHA256));
    for (unsigned pcr = 0; pcr < 8; pcr++) {
        struct posture_eventlog_problem problem = { 0 };
        const uint8_t *v;
        assert_int_equal(posture_eventlog_pcr(l.log, POSTURE_TPM_ALG_SHA256, pcr, &v, NULL),
                         -ENOENT);
        assert_int_equal(
            posture_eventlog_compare_pcr(l.log, POSTURE_TPM_ALG_SHA256, pcr, zero, 32, &problem),
            -EBADMSG);
        assert_int_equal(problem.reason, POSTURE_EVENTLOG_BANK_MISSING);
        assert_int_equal(problem.event, -1);
    }
    {
        /* The facts are there, with the warning the policy maps to configuration 1. */
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(l.log);
        assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_SHA1_LEGACY), -1);
        assert_int_equal(sb->secure_boot, 1);
    }
    unload(&l);

    /* A crypto-agile log has no such warning. */
    load("gce-rhel8-secureboot", &l);
    {
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(l.log);
        assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_SHA1_LEGACY), -2);
    }
    unload(&l);
}

/* ---- row 19: replay mismatch ------------------------------------------------------------ */

static void test_row19_replay_mismatch(void **state)
{
    struct loaded l = { 0 };
    uint8_t quoted[8][32];
    (void) state;

    load("gce-rhel8-secureboot", &l);
    stated_sha256("gce-rhel8-secureboot", quoted);
    assert_int_equal(mismatching(l.log, quoted), 0);
    assert_int_equal(quote_replay(l.log, quoted), POSTURE_QUOTE_OK);

    /* One digest byte flipped in the last measurement of each quoted PCR, in each bank: only
     * that PCR (of that bank) changes. */
    for (unsigned pcr = 0; pcr < 8; pcr++) {
        size_t last = 0;

        for (size_t i = 1; i < l.log->n_events; i++)
            if (l.log->events[i].pcr == pcr && l.log->events[i].type != POSTURE_EV_NO_ACTION)
                last = i;
        assert_true(last > 0);
        for (size_t b = 0; b < l.log->n_banks; b++) {
            size_t at = digest_off(l.log, record_at(l.log, last), b) + 7;
            l.buf[at] ^= 0x20;
            posture_auto_eventlog struct posture_eventlog *m = parse_ok(l.buf, l.len);
            unsigned want = l.log->banks[b].alg == POSTURE_TPM_ALG_SHA256 ? 1u << pcr : 0;
            assert_int_equal(mismatching(m, quoted), want);
            assert_int_equal(quote_replay(m, quoted),
                             want ? POSTURE_QUOTE_REPLAY_MISMATCH : POSTURE_QUOTE_OK);
            l.buf[at] ^= 0x20;
        }
    }
    {
        /* The last PCR 4 event dropped. */
        size_t i = find_last(l.log, 4, POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION), n;
        struct rec rc = record_at(l.log, i);
        posture_autofree uint8_t *d = edit(l.buf, l.len, rc.off, rc.end - rc.off, NULL, 0, &n);
        posture_auto_eventlog struct posture_eventlog *m = parse_ok(d, n);
        assert_int_equal(mismatching(m, quoted), 1u << 4);
        assert_int_equal(quote_replay(m, quoted), POSTURE_QUOTE_REPLAY_MISMATCH);
    }
    {
        /* PK and KEK swapped: the rules accept the order, the replay does not. */
        size_t pk = find_variable(l.log, "PK"), kek = find_variable(l.log, "KEK"), n1, n2;
        struct rec rp = record_at(l.log, pk), rk = record_at(l.log, kek);
        assert_int_equal(kek, pk + 1);
        posture_autofree uint8_t *a =
            edit(l.buf, l.len, rp.off, 0, l.buf + rk.off, rk.end - rk.off, &n1);
        posture_autofree uint8_t *b =
            edit(a, n1, rk.off + (rk.end - rk.off), rk.end - rk.off, NULL, 0, &n2);
        posture_auto_eventlog struct posture_eventlog *m = parse_ok(b, n2);
        assert_int_equal(n2, l.len);
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(m);
        assert_string_equal(sb->config[1].name, "KEK");
        assert_int_equal(mismatching(m, quoted), 1u << 7);
        assert_int_equal(quote_replay(m, quoted), POSTURE_QUOTE_REPLAY_MISMATCH);
    }
    {
        /* An extra event appended: a copy of the last PCR 4 application, then of the last
         * record of the log (PCR 5). */
        size_t i = find_last(l.log, 4, POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION), n;
        struct rec rc = record_at(l.log, i), rl = record_at(l.log, l.log->n_events - 1);
        posture_autofree uint8_t *d =
            edit(l.buf, l.len, l.len, 0, l.buf + rc.off, rc.end - rc.off, &n);
        posture_auto_eventlog struct posture_eventlog *m = parse_ok(d, n);
        assert_int_equal(mismatching(m, quoted), 1u << 4);
        posture_autofree uint8_t *e =
            edit(l.buf, l.len, l.len, 0, l.buf + rl.off, rl.end - rl.off, &n);
        posture_auto_eventlog struct posture_eventlog *m2 = parse_ok(e, n);
        assert_int_equal(mismatching(m2, quoted), 1u << l.log->events[l.log->n_events - 1].pcr);
        assert_int_equal(quote_replay(m2, quoted), POSTURE_QUOTE_REPLAY_MISMATCH);
    }
    unload(&l);
}

/* ---- row 20: re-typing ------------------------------------------------------------------ */

static void test_row20_retyped_secure_boot(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    /* dell: SecureBoot measured as 0. An attacker hides it by re-typing it (the replay does not
     * change: the type is not measured) and claims SecureBoot = 1 with a forged event appended
     * (extended into the real PCR 7 from the OS, so the replay would match). */
    load("dell-server-gdc-host", &l);
    size_t i = find_variable(l.log, "SecureBoot");
    struct rec rc = record_at(l.log, i);
    {
        static const struct {
            uint32_t type;
            enum posture_eventlog_reason reason;
        } retypes[] = {
            { POSTURE_EV_UNUSED, POSTURE_EVENTLOG_PCR7_EVENT_TYPE },
            { POSTURE_EV_POST_CODE, POSTURE_EVENTLOG_PCR7_EVENT_TYPE },
            { POSTURE_EV_EFI_VARIABLE_BOOT, POSTURE_EVENTLOG_PCR7_EVENT_TYPE },
            { POSTURE_EV_EFI_ACTION, POSTURE_EVENTLOG_ACTION_DATA },
            { POSTURE_EV_EFI_VARIABLE_AUTHORITY, POSTURE_EVENTLOG_PCR7_AUTHORITY_ORDER },
            { POSTURE_EV_SEPARATOR, POSTURE_EVENTLOG_SEPARATOR_DATA },
        };
        for (size_t k = 0; k < POSTURE_ELEMENTSOF(retypes); k++) {
            put_u32(l.buf + rc.off + 4, retypes[k].type);
            expect_sb(l.buf, l.len, retypes[k].reason, (int64_t) i);
        }
        /* EV_NO_ACTION would hide it from the replay too, but its digest is not zero. */
        put_u32(l.buf + rc.off + 4, POSTURE_EV_NO_ACTION);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_NO_ACTION_DIGEST, (int64_t) i);
        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG);
    }
    {
        /* The forged SecureBoot = 1 appended at the end of the log, alone and with the real
         * one re-typed; and a forged PK. */
        uint8_t rec[2048];
        uint8_t data[64];
        size_t n, n2;
        const struct posture_eventlog_event *e = &l.log->events[i];

        assert_int_equal(e->data_len, 53);
        assert_int_equal(e->data[52], 0);
        memcpy(data, e->data, e->data_len);
        data[52] = 1;
        size_t rn = build_record(l.log, 7, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG, data, e->data_len,
                                 false, rec, sizeof(rec));
        posture_autofree uint8_t *forged = edit(l.buf, l.len, l.len, 0, rec, rn, &n);
        expect_sb(forged, n, POSTURE_EVENTLOG_PCR7_CONFIG_ORDER, (int64_t) l.log->n_events);
        put_u32(forged + rc.off + 4, POSTURE_EV_EFI_ACTION);
        expect_sb(forged, n, POSTURE_EVENTLOG_ACTION_DATA, (int64_t) i);

        size_t pk = find_variable(l.log, "PK");
        struct rec rp = record_at(l.log, pk);
        posture_autofree uint8_t *pk2 =
            edit(l.buf, l.len, l.len, 0, l.buf + rp.off, rp.end - rp.off, &n2);
        expect_sb(pk2, n2, POSTURE_EVENTLOG_PCR7_CONFIG_ORDER, (int64_t) l.log->n_events);
    }
    {
        /* Unmodified: SecureBoot is 0. */
        posture_auto_eventlog struct posture_eventlog *m = parse_ok(l.buf, l.len);
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(m);
        assert_int_equal(sb->secure_boot, 0);
    }
    unload(&l);
}

static void test_row20_retyped_boot_app(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("gce-rhel8-secureboot", &l);
    size_t i = find_last(l.log, 4, POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION);
    struct rec rc = record_at(l.log, i);
    {
        static const struct {
            uint32_t type;
            enum posture_eventlog_reason reason;
        } retypes[] = {
            { POSTURE_EV_EFI_PLATFORM_FIRMWARE_BLOB, POSTURE_EVENTLOG_PCR4_EVENT_TYPE },
            { POSTURE_EV_UNUSED, POSTURE_EVENTLOG_PCR4_EVENT_TYPE },
            { POSTURE_EV_IPL, POSTURE_EVENTLOG_PCR4_EVENT_TYPE },
            { POSTURE_EV_EFI_RUNTIME_SERVICES_DRIVER, POSTURE_EVENTLOG_PCR4_EVENT_TYPE },
            /* An action's digest is H(data); an application's is its Authenticode hash. */
            { POSTURE_EV_EFI_ACTION, POSTURE_EVENTLOG_DIGEST_MISMATCH },
            { POSTURE_EV_SEPARATOR, POSTURE_EVENTLOG_SEPARATOR_DUPLICATE },
        };
        for (size_t k = 0; k < POSTURE_ELEMENTSOF(retypes); k++) {
            put_u32(l.buf + rc.off + 4, retypes[k].type);
            expect_sb(l.buf, l.len, retypes[k].reason, (int64_t) i);
        }
    }
    {
        /* Re-typed as a boot-services driver (allowed in PCR 4): still listed with the
         * images the policy checks, it cannot hide. */
        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_BOOT_SERVICES_DRIVER);
        posture_auto_eventlog struct posture_eventlog *m = parse_ok(l.buf, l.len);
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(m);
        bool listed = false;
        for (size_t k = 0; k < sb->n_boot_apps; k++)
            listed = listed || sb->boot_apps[k] == i;
        assert_true(listed);
        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION);
    }
    unload(&l);
}

/* ---- row 21: separators and PCR 7 variables --------------------------------------------- */

static void test_row21_separators(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("gce-rhel8-secureboot", &l);
    for (unsigned pcr = 0; pcr < 8; pcr++) {
        size_t i = find_event(l.log, pcr, POSTURE_EV_SEPARATOR), n;
        struct rec rc = record_at(l.log, i);
        static const uint8_t ffff[4] = { 0xff, 0xff, 0xff, 0xff };
        static const uint8_t one[4] = { 1, 0, 0, 0 };
        static const uint8_t five[5] = { 0 };

        /* FFFFFFFF with its digest: a firmware error. Other data: refused. */
        {
            posture_autofree uint8_t *m =
                rebuild(&l, i, POSTURE_EV_SEPARATOR, ffff, sizeof(ffff), false, &n);
            expect_sb(m, n, POSTURE_EVENTLOG_SEPARATOR_ERROR, (int64_t) i);
        }
        {
            posture_autofree uint8_t *m =
                rebuild(&l, i, POSTURE_EV_SEPARATOR, one, sizeof(one), false, &n);
            expect_sb(m, n, POSTURE_EVENTLOG_SEPARATOR_DATA, (int64_t) i);
        }
        {
            posture_autofree uint8_t *m =
                rebuild(&l, i, POSTURE_EV_SEPARATOR, five, sizeof(five), false, &n);
            expect_sb(m, n, POSTURE_EVENTLOG_SEPARATOR_DATA, (int64_t) i);
        }
        /* Data 00000000 with another digest. */
        l.buf[digest_off(l.log, rc, 1)] ^= 1;
        expect_sb(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_MISMATCH, (int64_t) i);
        l.buf[digest_off(l.log, rc, 1)] ^= 1;
        /* The separator digest under another type: disguised. */
        put_u32(l.buf + rc.off + 4, POSTURE_EV_ACTION);
        expect_sb(l.buf, l.len, POSTURE_EVENTLOG_SEPARATOR_DISGUISED, (int64_t) i);
        put_u32(l.buf + rc.off + 4, POSTURE_EV_SEPARATOR);
        /* Twice; missing. */
        {
            posture_autofree uint8_t *m =
                edit(l.buf, l.len, rc.end, 0, l.buf + rc.off, rc.end - rc.off, &n);
            expect_sb(m, n, POSTURE_EVENTLOG_SEPARATOR_DUPLICATE, (int64_t) i + 1);
        }
        {
            posture_autofree uint8_t *m = edit(l.buf, l.len, rc.off, rc.end - rc.off, NULL, 0, &n);
            /* Without PCR 7's separator, its authorities come "before" it. */
            if (pcr == 7)
                expect_sb(m, n, POSTURE_EVENTLOG_PCR7_AUTHORITY_ORDER,
                          (int64_t) find_event(l.log, 7, POSTURE_EV_EFI_VARIABLE_AUTHORITY) - 1);
            else
                expect_sb(m, n, POSTURE_EVENTLOG_SEPARATOR_MISSING, -1);
        }
    }
    unload(&l);
}

static void test_row21_variables(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("gce-rhel8-secureboot", &l);
    size_t sep = find_event(l.log, 7, POSTURE_EV_SEPARATOR);
    {
        /* db measured twice; dbx measured after the separator (moved there). */
        size_t db = find_variable(l.log, "db"), dbx = find_variable(l.log, "dbx"), n1, n2;
        struct rec rd = record_at(l.log, db), rx = record_at(l.log, dbx),
                   rs = record_at(l.log, sep);
        posture_autofree uint8_t *two =
            edit(l.buf, l.len, rd.end, 0, l.buf + rd.off, rd.end - rd.off, &n1);
        expect_sb(two, n1, POSTURE_EVENTLOG_PCR7_CONFIG_DUPLICATE, (int64_t) db + 1);

        assert_int_equal(sep, dbx + 1);
        posture_autofree uint8_t *moved =
            edit(l.buf, l.len, rs.end, 0, l.buf + rx.off, rx.end - rx.off, &n1);
        posture_autofree uint8_t *late = edit(moved, n1, rx.off, rx.end - rx.off, NULL, 0, &n2);
        assert_int_equal(n2, l.len);
        expect_sb(late, n2, POSTURE_EVENTLOG_PCR7_CONFIG_ORDER, (int64_t) sep);
    }
    {
        /* SecureBoot with 2 bytes (01 00), digests recomputed: refused. With 0 bytes: unknown,
         * with a warning at its record. */
        size_t i = find_variable(l.log, "SecureBoot"), n;
        const struct posture_eventlog_event *e = &l.log->events[i];
        uint8_t data[64];

        assert_int_equal(e->data_len, 53);
        memcpy(data, e->data, 53);
        data[53] = 0;
        put_u64(data + 24, 2);
        {
            posture_autofree uint8_t *m =
                rebuild(&l, i, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG, data, 54, false, &n);
            expect_sb(m, n, POSTURE_EVENTLOG_SECURE_BOOT_VALUE, (int64_t) i);
        }
        put_u64(data + 24, 0);
        {
            posture_autofree uint8_t *m =
                rebuild(&l, i, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG, data, 52, false, &n);
            posture_auto_eventlog struct posture_eventlog *log = parse_ok(m, n);
            posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(log);
            assert_int_equal(sb->secure_boot, -1);
            assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_SECURE_BOOT_EMPTY),
                             (int64_t) i);
        }
        /* VariableDataLength that disagrees with EventSize: malformed. */
        memcpy(data, e->data, 53);
        put_u64(data + 24, 2);
        {
            posture_autofree uint8_t *m =
                rebuild(&l, i, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG, data, 53, false, &n);
            expect_sb(m, n, POSTURE_EVENTLOG_VARIABLE_DATA, (int64_t) i);
        }
        /* A name length of 0x8000000000000000 characters. */
        memcpy(data, e->data, 53);
        put_u64(data + 16, UINT64_C(1) << 63);
        {
            posture_autofree uint8_t *m =
                rebuild(&l, i, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG, data, 53, false, &n);
            expect_sb(m, n, POSTURE_EVENTLOG_VARIABLE_DATA, (int64_t) i);
        }
    }
    unload(&l);
}

/* ---- row 22: UEFI debug mode ------------------------------------------------------------ */

static void test_row22_debug_mode(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("gce-rhel8-secureboot", &l);
    size_t sep = find_event(l.log, 7, POSTURE_EV_SEPARATOR);
    struct rec rs = record_at(l.log, sep);
    {
        /* "UEFI Debug Mode" measured in PCR 7 before the separator: accepted as a fact, the
         * warning the policy turns into "contraindicated". */
        static const char text[] = "UEFI Debug Mode";
        uint8_t rec[512];
        size_t rn = build_record(l.log, 7, POSTURE_EV_EFI_ACTION, (const uint8_t *) text,
                                 sizeof(text) - 1, false, rec, sizeof(rec)),
               n;
        posture_autofree uint8_t *m = edit(l.buf, l.len, rs.off, 0, rec, rn, &n);
        posture_auto_eventlog struct posture_eventlog *log = parse_ok(m, n);
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(log);
        assert_true(sb->debug_mode);
        assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_DEBUG_MODE), (int64_t) sep);
        assert_int_equal(sb->secure_boot, 1);

        /* The same text with a digest that is not H(text) is not hidden: refused. */
        m[rs.off + 12 + 2] ^= 1;
        expect_sb(m, n, POSTURE_EVENTLOG_DIGEST_MISMATCH, (int64_t) sep);
    }
    {
        /* Terminated with a NUL (some firmware does): the same fact. A NUL inside, a control
         * character, an empty action: not an action string. */
        static const struct {
            const char *text;
            uint32_t len;
            bool ok;
        } texts[] = {
            { "UEFI Debug Mode", 16, true },
            { "UEFI\0Debug Mode", 16, false },
            { "UEFI Debug Mode\n", 16, false },
            { "", 0, false },
            { "\0", 1, false },
        };
        for (size_t k = 0; k < POSTURE_ELEMENTSOF(texts); k++) {
            uint8_t rec[512];
            size_t rn = build_record(l.log, 7, POSTURE_EV_EFI_ACTION,
                                     (const uint8_t *) texts[k].text, texts[k].len, false, rec,
                                     sizeof(rec)),
                   n;
            posture_autofree uint8_t *m = edit(l.buf, l.len, rs.off, 0, rec, rn, &n);
            if (!texts[k].ok) {
                expect_sb(m, n, POSTURE_EVENTLOG_ACTION_DATA, (int64_t) sep);
                continue;
            }
            posture_auto_eventlog struct posture_eventlog *log = parse_ok(m, n);
            posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(log);
            assert_true(sb->debug_mode);
        }
    }
    {
        /* Without it: no such warning. */
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(l.log);
        assert_false(sb->debug_mode);
        assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_DEBUG_MODE), -2);
    }
    unload(&l);

    /* dell measures "DMA Protection Disabled" in PCR 7 (record 18): a warning. */
    load("dell-server-gdc-host", &l);
    {
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(l.log);
        assert_true(sb->dma_protection_disabled);
        assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_DMA_PROTECTION_OFF), 18);
        assert_false(sb->debug_mode);
    }
    unload(&l);
}

/* ---- row 23: authority before the separator --------------------------------------------- */

static void test_row23_authority_order(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("ovmf-rhel9-secureboot-sha256only", &l);
    {
        /* db re-typed AUTHORITY (it stays before the separator). */
        size_t db = find_variable(l.log, "db");
        put_u32(l.buf + record_at(l.log, db).off + 4, POSTURE_EV_EFI_VARIABLE_AUTHORITY);
        expect_sb(l.buf, l.len, POSTURE_EVENTLOG_PCR7_AUTHORITY_ORDER, (int64_t) db);
        put_u32(l.buf + record_at(l.log, db).off + 4, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG);
    }
    {
        /* Each real authority moved right before the separator. */
        size_t sep = find_event(l.log, 7, POSTURE_EV_SEPARATOR);
        size_t count = 0;
        for (size_t a = sep + 1; a < l.log->n_events; a++) {
            if (l.log->events[a].type != POSTURE_EV_EFI_VARIABLE_AUTHORITY)
                continue;
            struct rec ra = record_at(l.log, a), rs = record_at(l.log, sep);
            size_t n1, n2;
            posture_autofree uint8_t *c = edit(l.buf, l.len, ra.off, ra.end - ra.off, NULL, 0, &n1);
            posture_autofree uint8_t *m =
                edit(c, n1, rs.off, 0, l.buf + ra.off, ra.end - ra.off, &n2);
            expect_sb(m, n2, POSTURE_EVENTLOG_PCR7_AUTHORITY_ORDER, (int64_t) sep);
            count++;
        }
        assert_int_equal(count, 3);
    }
    unload(&l);
}

/* ---- row 24: no ExitBootServices -------------------------------------------------------- */

static void test_row24_exit_boot_services(void **state)
{
    (void) state;

    /* The facts of every fixture: ExitBootServices missing in gce-debian10, arch, lenovo,
     * supermicro; PCR 4 applications are listed either way, the warning tells the policy
     * (issue 5) not to trust them without a per-platform exception. */
    for (size_t f = 0; f < POSTURE_ELEMENTSOF(fixtures); f++) {
        struct loaded l = { 0 };
        posture_auto_cjson cJSON *exp = read_expected(fixtures[f]);
        bool logged = false;

        assert_int_equal(posture_json_get_bool(exp, "exit_boot_services_logged", &logged), 0);
        assert_int_equal(logged, strstr(fixtures[f], "dell") || strstr(fixtures[f], "rhel"));
        load(fixtures[f], &l);
        {
            posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb =
                sb_ok(l.log);
            assert_int_equal(sb->exit_boot_services, logged);
            assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_NO_EXIT_BOOT_SERVICES),
                             logged ? -2 : -1);
            assert_true(sb->n_boot_apps > 0);
        }
        unload(&l);
    }

    /* The event must be digest-verified: "Exit Boot Services Invocation" with another digest
     * is refused, and a different text in its place does not count. */
    struct loaded l = { 0 };
    load("gce-rhel8-secureboot", &l);
    size_t i = find_event(l.log, 5, POSTURE_EV_EFI_ACTION);
    struct rec rc = record_at(l.log, i);
    assert_int_equal(l.log->events[i].data_len, 29);
    l.buf[digest_off(l.log, rc, 2) + 3] ^= 1;
    expect_sb(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_MISMATCH, (int64_t) i);
    l.buf[digest_off(l.log, rc, 2) + 3] ^= 1;
    {
        static const char text[] = "Exit Boot Services Invocatiom";
        size_t n;
        posture_autofree uint8_t *m = rebuild(&l, i, POSTURE_EV_EFI_ACTION, (const uint8_t *) text,
                                              sizeof(text) - 1, false, &n);
        posture_auto_eventlog struct posture_eventlog *log = parse_ok(m, n);
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(log);
        assert_false(sb->exit_boot_services);
        assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_NO_EXIT_BOOT_SERVICES), -1);
    }
    unload(&l);
}

/* ---- row 25: StartupLocality and H-CRTM ------------------------------------------------- */

static void test_row25_locality(void **state)
{
    struct loaded l = { 0 };
    uint8_t stated[8][32];
    (void) state;

    /* Positive: both locality-3 logs replay PCR 0 to the value their source states. */
    static const char *const loc3[] = { "lenovo-laptop-glinux", "dell-server-gdc-host" };
    for (size_t f = 0; f < POSTURE_ELEMENTSOF(loc3); f++) {
        load(loc3[f], &l);
        stated_sha256(loc3[f], stated);
        assert_int_equal(l.log->startup_locality, 3);
        assert_int_equal(mismatching(l.log, stated), 0);
        unload(&l);
    }

    load("dell-server-gdc-host", &l);
    stated_sha256("dell-server-gdc-host", stated);
    size_t i = 1, n;
    struct rec rc = record_at(l.log, i);
    assert_int_equal(l.log->events[i].type, POSTURE_EV_NO_ACTION);
    assert_int_equal(l.log->events[i].data_len, 17);
    {
        /* Values other than 0 and 3. */
        static const uint8_t bad[] = { 1, 2, 4, 0x80, 0xff };
        for (size_t k = 0; k < sizeof(bad); k++) {
            l.buf[rc.end - 1] = bad[k];
            expect_parse(l.buf, l.len, POSTURE_EVENTLOG_STARTUP_LOCALITY, (int64_t) i);
        }
        l.buf[rc.end - 1] = 3;
    }
    {
        /* Malformed: 18 bytes, 16 bytes (no value). */
        uint8_t data[18];
        memcpy(data, l.log->events[i].data, 17);
        data[17] = 0;
        posture_autofree uint8_t *m18 = rebuild(&l, i, POSTURE_EV_NO_ACTION, data, 18, true, &n);
        expect_parse(m18, n, POSTURE_EVENTLOG_STARTUP_LOCALITY, (int64_t) i);
        posture_autofree uint8_t *m16 = rebuild(&l, i, POSTURE_EV_NO_ACTION, data, 16, true, &n);
        expect_parse(m16, n, POSTURE_EVENTLOG_STARTUP_LOCALITY, (int64_t) i);
    }
    {
        /* In PCR 7; duplicated (value 3 then 0); after the first PCR 0 extension. */
        put_u32(l.buf + rc.off, 7);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_STARTUP_LOCALITY, (int64_t) i);
        put_u32(l.buf + rc.off, 0);
        posture_autofree uint8_t *dup =
            edit(l.buf, l.len, rc.end, 0, l.buf + rc.off, rc.end - rc.off, &n);
        dup[rc.end + (rc.end - rc.off) - 1] = 0;
        expect_parse(dup, n, POSTURE_EVENTLOG_STARTUP_LOCALITY, (int64_t) i + 1);

        size_t first = 2;
        assert_int_equal(l.log->events[first].pcr, 0);
        struct rec rf = record_at(l.log, first);
        size_t n1, n2;
        posture_autofree uint8_t *c =
            edit(l.buf, l.len, rf.end, 0, l.buf + rc.off, rc.end - rc.off, &n1);
        posture_autofree uint8_t *late = edit(c, n1, rc.off, rc.end - rc.off, NULL, 0, &n2);
        expect_parse(late, n2, POSTURE_EVENTLOG_STARTUP_LOCALITY, (int64_t) first);
    }
    {
        /* Locality 3 replayed as 0 (the tpm2-tools 5.4 bug): only PCR 0 differs. */
        l.buf[rc.end - 1] = 0;
        posture_auto_eventlog struct posture_eventlog *m = parse_ok(l.buf, l.len);
        assert_int_equal(m->startup_locality, 0);
        assert_int_equal(mismatching(m, stated), 1u << 0);
        assert_int_equal(quote_replay(m, stated), POSTURE_QUOTE_REPLAY_MISMATCH);
        l.buf[rc.end - 1] = 3;
    }
    {
        /* H-CRTM with StartupLocality 3, in PCR 1, twice. */
        size_t first = 2;
        struct rec rf = record_at(l.log, first);
        put_u32(l.buf + rf.off + 4, POSTURE_EV_EFI_HCRTM_EVENT);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_HCRTM, (int64_t) first);
        put_u32(l.buf + rf.off + 4, l.log->events[first].type);
    }
    unload(&l);

    load("gce-rhel8-secureboot", &l); /* no StartupLocality */
    {
        size_t p1 = find_event(l.log, 1, POSTURE_EV_EFI_VARIABLE_BOOT);
        put_u32(l.buf + record_at(l.log, p1).off + 4, POSTURE_EV_EFI_HCRTM_EVENT);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_HCRTM, (int64_t) p1);
        put_u32(l.buf + record_at(l.log, p1).off + 4, POSTURE_EV_EFI_VARIABLE_BOOT);

        put_u32(l.buf + record_at(l.log, 1).off + 4, POSTURE_EV_EFI_HCRTM_EVENT);
        put_u32(l.buf + record_at(l.log, 2).off + 4, POSTURE_EV_EFI_HCRTM_EVENT);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_HCRTM, 2);
        put_u32(l.buf + record_at(l.log, 2).off + 4, l.log->events[2].type);
        posture_auto_eventlog struct posture_eventlog *m = parse_ok(l.buf, l.len);
        assert_true(m->hcrtm);
        /* A StartupLocality after the H-CRTM event. */
        uint8_t rec[512];
        static const uint8_t loc[17] = "StartupLocality";
        uint8_t data[17];
        memcpy(data, loc, 16);
        data[16] = 3;
        size_t rn = build_record(l.log, 0, POSTURE_EV_NO_ACTION, data, 17, true, rec, sizeof(rec));
        posture_autofree uint8_t *after =
            edit(l.buf, l.len, record_at(l.log, 2).off, 0, rec, rn, &n);
        expect_parse(after, n, POSTURE_EVENTLOG_STARTUP_LOCALITY, 2);
        put_u32(l.buf + record_at(l.log, 1).off + 4, l.log->events[1].type);
    }
    unload(&l);
}

/* ---- row 26: EV_NO_ACTION with a digest ------------------------------------------------- */

static void test_row26_no_action_digest(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    /* lenovo: StartupLocality (record 1), banks sha1 + sha256: each byte of each bank. */
    load("lenovo-laptop-glinux", &l);
    {
        struct rec rc = record_at(l.log, 1);
        for (size_t b = 0; b < l.log->n_banks; b++)
            for (size_t k = 0; k < l.log->banks[b].digest_size; k++) {
                size_t at = digest_off(l.log, rc, b) + k;
                l.buf[at] = 0x01;
                expect_parse(l.buf, l.len, POSTURE_EVENTLOG_NO_ACTION_DIGEST, 1);
                l.buf[at] = 0;
            }
    }
    {
        /* Any record re-typed EV_NO_ACTION (it would then escape the replay). */
        for (size_t i = 2; i < l.log->n_events; i++) {
            struct rec rc = record_at(l.log, i);
            put_u32(l.buf + rc.off + 4, POSTURE_EV_NO_ACTION);
            expect_parse(l.buf, l.len, POSTURE_EVENTLOG_NO_ACTION_DIGEST, (int64_t) i);
            put_u32(l.buf + rc.off + 4, l.log->events[i].type);
        }
    }
    unload(&l);

    /* The legacy format too. */
    load("gce-debian10-sha1-legacy-secureboot", &l);
    {
        struct rec rc = record_at(l.log, 9);
        put_u32(l.buf + rc.off + 4, POSTURE_EV_NO_ACTION);
        expect_parse(l.buf, l.len, POSTURE_EVENTLOG_NO_ACTION_DIGEST, 9);
        /* With a zero digest it is skipped by the replay: PCR changes. */
        memset(l.buf + rc.digests_off, 0, 20);
        posture_auto_eventlog struct posture_eventlog *m = parse_ok(l.buf, l.len);
        struct posture_eventlog_problem problem = { 0 };
        const uint8_t *want;
        size_t n;
        unsigned pcr = l.log->events[9].pcr;
        assert_int_equal(posture_eventlog_pcr(l.log, POSTURE_TPM_ALG_SHA1, pcr, &want, &n), 0);
        assert_int_equal(
            posture_eventlog_compare_pcr(m, POSTURE_TPM_ALG_SHA1, pcr, want, n, &problem),
            -EBADMSG);
        assert_int_equal(problem.reason, POSTURE_EVENTLOG_PCR_MISMATCH);
    }
    unload(&l);
}

/* ---- row 27: stale log with a fresh quote ----------------------------------------------- */

static void test_row27_stale_log(void **state)
{
    struct loaded a = { 0 };
    uint8_t fresh[8][32];
    (void) state;

    /* Another machine's log (supermicro) against rhel8's quoted PCRs. */
    load("supermicro-server-ubuntu-secureboot", &a);
    stated_sha256("gce-rhel8-secureboot", fresh);
    {
        unsigned bad = mismatching(a.log, fresh);
        /* PCR 0, 1, 2, 4, 5 and 7 differ; 3 and 6 hold nothing but a separator on both. */
        assert_int_equal(bad & 0xb7u, 0xb7u);
        assert_int_equal(quote_replay(a.log, fresh), POSTURE_QUOTE_REPLAY_MISMATCH);
    }
    unload(&a);

    /* The same machine's log of the previous boot, before a kernel update: PCR 4 differs. */
    load("gce-rhel8-secureboot", &a);
    {
        size_t k = find_last(a.log, 4, POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION);
        struct rec rc = record_at(a.log, k);
        for (size_t b = 0; b < a.log->n_banks; b++)
            a.buf[digest_off(a.log, rc, b)] ^= 0x5a;
        posture_auto_eventlog struct posture_eventlog *old = parse_ok(a.buf, a.len);
        assert_int_equal(mismatching(old, fresh), 1u << 4);
        assert_int_equal(quote_replay(old, fresh), POSTURE_QUOTE_REPLAY_MISMATCH);
        /* And the rules alone cannot tell: it is a well-formed log. */
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(old);
        assert_int_equal(sb->secure_boot, 1);
    }
    /* This boot's log: accepted. */
    assert_int_equal(quote_replay(a.log, fresh), POSTURE_QUOTE_OK);
    unload(&a);
}

/* ---- row 28: Secure Boot off ------------------------------------------------------------ */

static void test_row28_secure_boot_off(void **state)
{
    static const struct {
        const char *name;
        int secure_boot;
    } cases[] = {
        { "arch-linux-workstation", -1 }, /* 0-byte variable */
        { "lenovo-laptop-glinux", 0 },    { "dell-server-gdc-host", 0 },
        { "gce-rhel8-secureboot", 1 },    { "supermicro-server-ubuntu-secureboot", 1 },
    };
    (void) state;

    for (size_t c = 0; c < POSTURE_ELEMENTSOF(cases); c++) {
        struct loaded l = { 0 };

        load(cases[c].name, &l);
        {
            posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb =
                sb_ok(l.log);
            int64_t var = (int64_t) find_variable(l.log, "SecureBoot");

            assert_int_equal(sb->secure_boot, cases[c].secure_boot);
            assert_int_equal(sb->config[sb->secure_boot_var].event, var);
            assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_SECURE_BOOT_DISABLED),
                             cases[c].secure_boot == 0 ? var : -2);
            assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_SECURE_BOOT_EMPTY),
                             cases[c].secure_boot == -1 ? var : -2);
            assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_SECURE_BOOT_MISSING), -2);
        }
        unload(&l);
    }
    {
        /* No SecureBoot variable at all (its record dropped): unknown, with its warning. */
        struct loaded l = { 0 };
        size_t n;
        load("gce-rhel8-secureboot", &l);
        struct rec rc = record_at(l.log, find_variable(l.log, "SecureBoot"));
        posture_autofree uint8_t *m = edit(l.buf, l.len, rc.off, rc.end - rc.off, NULL, 0, &n);
        posture_auto_eventlog struct posture_eventlog *log = parse_ok(m, n);
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = sb_ok(log);
        assert_int_equal(sb->secure_boot, -1);
        assert_int_equal(warning_event(sb, POSTURE_EVENTLOG_WARN_SECURE_BOOT_MISSING), -1);
        unload(&l);
    }
}

/* ---- row 33: positive controls ---------------------------------------------------------- */

/* Every fixture parses, passes the rules, and its stated sha256 PCR 0-7 (where the source
 * states them) pass posture_quote_check_replay(); test_eventlog.c compares every stated and
 * computed PCR of every bank, and the Windows vector is in integration/attest.vectors. */
static void test_row33_positive(void **state)
{
    unsigned with_sha256 = 0;
    (void) state;

    for (size_t f = 0; f < POSTURE_ELEMENTSOF(fixtures); f++) {
        struct loaded l = { 0 };
        posture_auto_cjson cJSON *exp = read_expected(fixtures[f]);
        const cJSON *stated = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(exp, "expected_pcrs_stated_by_source"), "sha256");

        load(fixtures[f], &l);
        {
            posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb =
                sb_ok(l.log);
            assert_int_equal(sb->separators, 0xff);
        }
        if (stated) {
            uint8_t want[8][32];
            stated_sha256(fixtures[f], want);
            assert_int_equal(mismatching(l.log, want), 0);
            assert_int_equal(quote_replay(l.log, want), POSTURE_QUOTE_OK);
            with_sha256++;
        }
        unload(&l);
    }
    assert_int_equal(with_sha256, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row17_truncated_everywhere),
        cmocka_unit_test(test_row17_event_size),
        cmocka_unit_test(test_row17_digests),
        cmocka_unit_test(test_row17_spec_id),
        cmocka_unit_test(test_row17_limits),
        cmocka_unit_test(test_row18_sha1_legacy),
        cmocka_unit_test(test_row19_replay_mismatch),
        cmocka_unit_test(test_row20_retyped_secure_boot),
        cmocka_unit_test(test_row20_retyped_boot_app),
        cmocka_unit_test(test_row21_separators),
        cmocka_unit_test(test_row21_variables),
        cmocka_unit_test(test_row22_debug_mode),
        cmocka_unit_test(test_row23_authority_order),
        cmocka_unit_test(test_row24_exit_boot_services),
        cmocka_unit_test(test_row25_locality),
        cmocka_unit_test(test_row26_no_action_digest),
        cmocka_unit_test(test_row27_stale_log),
        cmocka_unit_test(test_row28_secure_boot_off),
        cmocka_unit_test(test_row33_positive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
