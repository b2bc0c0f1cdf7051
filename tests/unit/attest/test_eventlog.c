/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attest/eventlog.c against the real logs of tests/fixtures/eventlogs/: every log replays to the
 * PCRs its .expected.json states and yields its Secure Boot facts; mutated copies made here are
 * refused with their specific reason.
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

#include "testlib.h"

static const char *const fixtures[] = {
    "arch-linux-workstation",
    "dell-server-gdc-host",
    "gce-debian10-sha1-legacy-secureboot",
    "gce-rhel8-secureboot",
    "lenovo-laptop-glinux",
    "ovmf-rhel9-secureboot-sha256only",
    "supermicro-server-ubuntu-secureboot",
};

static void read_fixture(const char *name, const char *suffix, char **ret, size_t *ret_len)
{
    posture_autoclose int root = -1;
    char rel[256];
    int r;

    (void) snprintf(rel, sizeof(rel), "fixtures/eventlogs/%s%s", name, suffix);
    assert_int_equal(posture_root_open("/", &root), 0);
    r = posture_read_file_at(root, posture_test_path(rel), 4u * 1024u * 1024u, ret, ret_len);
    if (r < 0)
        fail_msg("reading %s: %d", rel, r);
}

static cJSON *read_expected(const char *name)
{
    posture_autofree char *buf = NULL;
    size_t len;
    cJSON *j = NULL;

    read_fixture(name, ".expected.json", &buf, &len);
    assert_int_equal(posture_json_parse(buf, len, len, 0, &j), 0);
    return j;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        (void) snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static uint16_t alg_of(const char *name)
{
    if (strcmp(name, "sha1") == 0)
        return POSTURE_TPM_ALG_SHA1;
    if (strcmp(name, "sha256") == 0)
        return POSTURE_TPM_ALG_SHA256;
    if (strcmp(name, "sha384") == 0)
        return POSTURE_TPM_ALG_SHA384;
    if (strcmp(name, "sha512") == 0)
        return POSTURE_TPM_ALG_SHA512;
    fail_msg("unknown bank %s", name);
    return 0;
}

/* Every {"bank": {"pcr": "hex"}} of pcrs equals the replay; returns the number compared. */
static unsigned compare_banks(const char *name, const struct posture_eventlog *log, cJSON *pcrs)
{
    const cJSON *bank, *pcr;
    unsigned n = 0;

    assert_non_null(pcrs);
    cJSON_ArrayForEach(bank, pcrs)
    {
        cJSON_ArrayForEach(pcr, bank)
        {
            const uint8_t *v;
            size_t len;
            char got[2 * POSTURE_EVENTLOG_MAX_DIGEST + 1];
            unsigned idx = (unsigned) strtoul(pcr->string, NULL, 10);

            assert_true(cJSON_IsString(pcr));
            assert_int_equal(posture_eventlog_pcr(log, alg_of(bank->string), idx, &v, &len), 0);
            hex(v, len, got);
            if (strcmp(got, pcr->valuestring) != 0)
                fail_msg("%s: %s PCR %u: replayed %s, expected %s", name, bank->string, idx, got,
                         pcr->valuestring);
            n++;
        }
    }
    return n;
}

static void
check_secure_boot(const char *name, const struct posture_eventlog_secure_boot *sb, const cJSON *exp)
{
    const cJSON *esb = cJSON_GetObjectItemCaseSensitive(exp, "secure_boot");
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(esb, "pcr7_driver_config_variables");
    const cJSON *auths = cJSON_GetObjectItemCaseSensitive(esb, "pcr7_authority_events");
    const char *sbhex = posture_json_get_str(esb, "SecureBoot_variable_data_hex_in_log");
    bool ebs;
    size_t i = 0;
    const cJSON *it;

    assert_non_null(sbhex);
    if (strcmp(sbhex, "(empty)") == 0)
        assert_int_equal(sb->secure_boot, -1);
    else
        assert_int_equal(sb->secure_boot, (int) strtol(sbhex, NULL, 16));

    /* The dell .expected.json lists DeployedMode and AuditMode with the PCR 7 variables, but the
     * log measures them in PCR 1 (records 14 and 15): they are not PCR 7 facts. */
    cJSON_ArrayForEach(it, vars)
    {
        char want[128];

        if (strncmp(it->valuestring, "DeployedMode(", 13) == 0 ||
            strncmp(it->valuestring, "AuditMode(", 10) == 0)
            continue;
        if (i >= sb->n_config)
            fail_msg("%s: PCR 7 variable %s missing", name, it->valuestring);
        (void) snprintf(want, sizeof(want), "%s(%lluB)", sb->config[i].name,
                        (unsigned long long) sb->config[i].data_len);
        if (strcmp(want, it->valuestring) != 0)
            fail_msg("%s: PCR 7 variable %zu: %s, expected %s", name, i, want, it->valuestring);
        i++;
    }
    assert_int_equal(i, sb->n_config);
    assert_true(sb->secure_boot_var >= 0 && sb->pk >= 0 && sb->kek >= 0 && sb->db >= 0 &&
                sb->dbx >= 0);
    assert_string_equal(sb->config[sb->pk].name, "PK");
    assert_string_equal(sb->config[sb->dbx].name, "dbx");

    i = 0;
    assert_int_equal((size_t) cJSON_GetArraySize(auths), sb->n_authorities);
    cJSON_ArrayForEach(it, auths)
    {
        assert_string_equal(sb->authorities[i].name, it->valuestring);
        i++;
    }

    assert_int_equal(posture_json_get_bool(exp, "exit_boot_services_logged", &ebs), 0);
    assert_int_equal(sb->exit_boot_services, ebs);
    assert_int_equal(sb->separators, 0xff);
    assert_true(sb->n_boot_apps > 0);
}

static void test_fixtures_replay(void **state)
{
    (void) state;
    for (size_t f = 0; f < POSTURE_ELEMENTSOF(fixtures); f++) {
        const char *name = fixtures[f];
        posture_autofree char *buf = NULL;
        size_t len;
        posture_auto_cjson cJSON *exp = read_expected(name);
        posture_auto_eventlog struct posture_eventlog *log = NULL;
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = NULL;
        struct posture_eventlog_problem problem = { 0 };
        int64_t loc, records;
        unsigned n;
        int r;

        read_fixture(name, ".bin", &buf, &len);
        r = posture_eventlog_parse(buf, len, &log, &problem);
        if (r < 0)
            fail_msg("%s: parse: %d %s at record %lld", name, r,
                     posture_eventlog_reason_to_string(problem.reason), (long long) problem.event);

        assert_int_equal(posture_json_get_int(exp, "startup_locality", &loc), 0);
        assert_int_equal(log->startup_locality < 0 ? 0 : log->startup_locality, (int) loc);
        if (posture_json_get_int(exp, "records_including_header", &records) == 0)
            assert_int_equal(log->n_events, (size_t) records);
        assert_int_equal(log->format, strstr(name, "legacy")
                                          ? POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY
                                          : POSTURE_EVENTLOG_FORMAT_CRYPTO_AGILE);

        n = compare_banks(name, log, cJSON_GetObjectItemCaseSensitive(exp, "computed_replay_pcrs"));
        assert_true(n >= 8);
        /* The values the source states (captured from the machine), where it states any. */
        if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(exp, "expected_pcrs_stated_by_source")))
            (void) compare_banks(
                name, log, cJSON_GetObjectItemCaseSensitive(exp, "expected_pcrs_stated_by_source"));

        r = posture_eventlog_secure_boot(log, &sb, &problem);
        if (r < 0)
            fail_msg("%s: secure boot: %d %s at record %lld", name, r,
                     posture_eventlog_reason_to_string(problem.reason), (long long) problem.event);
        check_secure_boot(name, sb, exp);
    }
}

/* The Windows quote vector holds a SHA-1 legacy log as base64 in Log.Raw. */
static void test_windows_vector(void **state)
{
    posture_autofree char *buf = NULL;
    posture_autofree uint8_t *raw = NULL;
    size_t len;
    posture_auto_cjson cJSON *doc = NULL;
    posture_auto_cjson cJSON *exp = read_expected("gce-windows-shielded-vm-quote");
    posture_auto_eventlog struct posture_eventlog *log = NULL;
    posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = NULL;
    struct posture_eventlog_problem problem = { 0 };
    const char *b64;
    int n;
    (void) state;

    read_fixture("gce-windows-shielded-vm-quote", ".json", &buf, &len);
    assert_int_equal(posture_json_parse(buf, len, len, 0, &doc), 0);
    b64 = posture_json_get_str(cJSON_GetObjectItemCaseSensitive(doc, "Log"), "Raw");
    assert_non_null(b64);
    raw = malloc(strlen(b64));
    assert_non_null(raw);
    n = EVP_DecodeBlock(raw, (const unsigned char *) b64, (int) strlen(b64));
    assert_true(n > 0);
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (strlen(b64) >= 2 && b64[strlen(b64) - 1] == '=')
        n -= b64[strlen(b64) - 2] == '=' ? 2 : 1;
    assert_int_equal(n, 43324);

    assert_int_equal(posture_eventlog_parse(raw, (size_t) n, &log, &problem), 0);
    assert_int_equal(log->format, POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY);
    assert_int_equal(log->n_events, 21);
    {
        cJSON *wrap = cJSON_CreateObject();
        assert_non_null(wrap);
        cJSON_AddItemReferenceToObject(
            wrap, "sha1",
            cJSON_GetObjectItemCaseSensitive(exp, "computed_replay_pcrs_sha1_of_raw_log"));
        assert_int_equal(compare_banks("windows", log, wrap), 8);
        cJSON_Delete(wrap);
    }
    /* Separators only in PCR 7 (and 12-14): the step 13 rules refuse it. */
    assert_int_equal(posture_eventlog_secure_boot(log, &sb, &problem), -EBADMSG);
    assert_int_equal(problem.reason, POSTURE_EVENTLOG_SEPARATOR_MISSING);
}

/* ---- mutations ---------------------------------------------------------------------------- */

/* A record's layout in a crypto-agile log with the banks of log. */
struct rec {
    size_t off, digests_off, size_off, data_off, end;
};

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

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}

struct loaded {
    uint8_t *buf;
    size_t len;
    struct posture_eventlog *log;
};

static void load(const char *name, struct loaded *l)
{
    struct posture_eventlog_problem problem;

    read_fixture(name, ".bin", (char **) &l->buf, &l->len);
    assert_int_equal(posture_eventlog_parse(l->buf, l->len, &l->log, &problem), 0);
}

static void unload(struct loaded *l)
{
    l->log = posture_eventlog_free(l->log);
    free(l->buf);
    l->buf = NULL;
}

/* Index of the first record with pcr/type (and, when given, action text). */
static size_t find_event(const struct posture_eventlog *log, uint32_t pcr, uint32_t type)
{
    for (size_t i = 1; i < log->n_events; i++)
        if (log->events[i].pcr == pcr && log->events[i].type == type)
            return i;
    fail_msg("no event PCR %u type %#x", pcr, type);
    return 0;
}

static void expect_parse_error(const uint8_t *buf,
                               size_t len,
                               enum posture_eventlog_reason reason,
                               int64_t event)
{
    struct posture_eventlog *log = NULL;
    struct posture_eventlog_problem problem = { .reason = POSTURE_EVENTLOG_OK, .event = -7 };
    int r = posture_eventlog_parse(buf, len, &log, &problem);

    if (r != -EBADMSG || problem.reason != reason)
        fail_msg("parse: %d %s, expected %s", r, posture_eventlog_reason_to_string(problem.reason),
                 posture_eventlog_reason_to_string(reason));
    assert_null(log);
    if (event != -2)
        assert_int_equal(problem.event, event);
}

static void
expect_sb_error(const uint8_t *buf, size_t len, enum posture_eventlog_reason reason, int64_t event)
{
    posture_auto_eventlog struct posture_eventlog *log = NULL;
    struct posture_eventlog_secure_boot *sb = NULL;
    struct posture_eventlog_problem problem = { 0 };
    int r;

    assert_int_equal(posture_eventlog_parse(buf, len, &log, &problem), 0);
    r = posture_eventlog_secure_boot(log, &sb, &problem);
    if (r != -EBADMSG || problem.reason != reason)
        fail_msg("secure boot: %d %s, expected %s", r,
                 posture_eventlog_reason_to_string(problem.reason),
                 posture_eventlog_reason_to_string(reason));
    assert_null(sb);
    if (event != -2)
        assert_int_equal(problem.event, event);
}

static void test_flipped_digest(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("gce-rhel8-secureboot", &l);
    {
        /* A boot application's digest (not recomputable): replay changes PCR 4, which no
         * longer matches the quoted value. */
        size_t i = find_event(l.log, 4, POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION);
        struct rec rc = record_at(l.log, i);
        posture_auto_eventlog struct posture_eventlog *m = NULL;
        struct posture_eventlog_problem problem;
        const uint8_t *good;
        size_t good_len;
        uint8_t want[64];

        assert_int_equal(posture_eventlog_pcr(l.log, POSTURE_TPM_ALG_SHA256, 4, &good, &good_len),
                         0);
        memcpy(want, good, good_len);
        l.buf[rc.digests_off + 2 + 20 + 2 + 5] ^= 0x01; /* sha256 digest (banks sha1, sha256) */
        assert_int_equal(posture_eventlog_parse(l.buf, l.len, &m, &problem), 0);
        assert_int_equal(
            posture_eventlog_compare_pcr(m, POSTURE_TPM_ALG_SHA256, 4, want, good_len, &problem),
            -EBADMSG);
        assert_int_equal(problem.reason, POSTURE_EVENTLOG_PCR_MISMATCH);
        assert_int_equal(posture_eventlog_compare_pcr(l.log, POSTURE_TPM_ALG_SHA256, 4, want,
                                                      good_len, &problem),
                         0);
        l.buf[rc.digests_off + 2 + 20 + 2 + 5] ^= 0x01;
    }
    {
        /* A DRIVER_CONFIG digest is recomputable: refused by the step 13 rules. */
        size_t i = find_event(l.log, 7, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG);
        struct rec rc = record_at(l.log, i);

        l.buf[rc.digests_off + 2] ^= 0x80;
        expect_sb_error(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_MISMATCH, (int64_t) i);
        l.buf[rc.digests_off + 2] ^= 0x80;
    }
    {
        size_t i = find_event(l.log, 2, POSTURE_EV_SEPARATOR);
        struct rec rc = record_at(l.log, i);

        l.buf[rc.digests_off + 2 + 20 + 2 + 31] ^= 0x01;
        expect_sb_error(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_MISMATCH, (int64_t) i);
        l.buf[rc.digests_off + 2 + 20 + 2 + 31] ^= 0x01;
    }
    unload(&l);
}

static void test_truncated(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("dell-server-gdc-host", &l);
    {
        struct rec rc = record_at(l.log, 10);

        /* Cut inside the digests, inside the data, and one byte short of the end. */
        expect_parse_error(l.buf, rc.digests_off + 3, POSTURE_EVENTLOG_TRUNCATED, 10);
        expect_parse_error(l.buf, rc.data_off + 1, POSTURE_EVENTLOG_EVENT_SIZE, 10);
        expect_parse_error(l.buf, l.len - 1, POSTURE_EVENTLOG_EVENT_SIZE,
                           (int64_t) l.log->n_events - 1);
        expect_parse_error(l.buf, 10, POSTURE_EVENTLOG_TRUNCATED, 0);
        expect_parse_error(l.buf, 0, POSTURE_EVENTLOG_EMPTY, -1);
    }
    unload(&l);
}

static void test_event_size(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("lenovo-laptop-glinux", &l);
    {
        struct rec rc = record_at(l.log, 5);

        put_u32(l.buf + rc.size_off, 0x47efbfbdu);
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_EVENT_SIZE, 5);
        put_u32(l.buf + rc.size_off, POSTURE_EVENTLOG_MAX_EVENT_SIZE + 1);
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_EVENT_SIZE, 5);
        put_u32(l.buf + rc.size_off, l.log->events[5].data_len);
    }
    {
        /* Header: digest count, unknown algorithm id, digest size, PCR index. */
        struct rec rc = record_at(l.log, 3);

        put_u32(l.buf + rc.off + 8, 3);
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_COUNT, 3);
        put_u32(l.buf + rc.off + 8, 2);
        l.buf[rc.digests_off] = 0x12; /* SM3 is not in this log's header */
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_ALGORITHM, 3);
        l.buf[rc.digests_off] = 0x0b; /* sha256 twice */
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_ALGORITHM, 3);
        l.buf[rc.digests_off] = 0x04;
        put_u32(l.buf + rc.off, 24);
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_PCR_INDEX, 3);
        put_u32(l.buf + rc.off, l.log->events[3].pcr);
    }
    {
        /* Spec ID: the sha256 entry declares 20 bytes; numberOfAlgorithms 0 and 6. */
        struct rec rc = record_at(l.log, 0);
        size_t algs = rc.data_off + 28;

        l.buf[algs + 4 + 2] = 20;
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_DIGEST_SIZE, 0);
        l.buf[algs + 4 + 2] = 32;
        put_u32(l.buf + algs - 4, 0);
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_ALGORITHMS, 0);
        put_u32(l.buf + algs - 4, 6);
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_ALGORITHMS, 0);
        put_u32(l.buf + algs - 4, 2);
        l.buf[rc.data_off + 14] = '4'; /* "Spec ID Event04": a legacy log, record 0 is fine,
                                          record 1 is garbage in the SHA-1 format */
        {
            struct posture_eventlog *m = NULL;
            struct posture_eventlog_problem problem;
            assert_int_equal(posture_eventlog_parse(l.buf, l.len, &m, &problem), -EBADMSG);
            assert_null(m);
        }
        l.buf[rc.data_off + 14] = '3';
    }
    /* Over the size limit. */
    {
        uint8_t *big = calloc(1, POSTURE_EVENTLOG_MAX_SIZE + 1);
        assert_non_null(big);
        expect_parse_error(big, POSTURE_EVENTLOG_MAX_SIZE + 1, POSTURE_EVENTLOG_TOO_LARGE, -1);
        free(big);
    }
    unload(&l);
}

static void test_retyped_pcr7(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("ovmf-rhel9-secureboot-sha256only", &l);
    {
        /* DRIVER_CONFIG re-typed EV_UNUSED: replay still matches, the PCR 7 allow-list
         * refuses it. */
        size_t i = find_event(l.log, 7, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG);
        struct rec rc = record_at(l.log, i);

        put_u32(l.buf + rc.off + 4, POSTURE_EV_UNUSED);
        expect_sb_error(l.buf, l.len, POSTURE_EVENTLOG_PCR7_EVENT_TYPE, (int64_t) i);
        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG);
    }
    {
        /* The authority re-typed DRIVER_CONFIG: a config variable after the separator. */
        size_t i = find_event(l.log, 7, POSTURE_EV_EFI_VARIABLE_AUTHORITY);
        struct rec rc = record_at(l.log, i);

        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG);
        expect_sb_error(l.buf, l.len, POSTURE_EVENTLOG_PCR7_CONFIG_ORDER, (int64_t) i);
        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_VARIABLE_AUTHORITY);
    }
    {
        /* The PCR 7 separator re-typed EV_EFI_ACTION: disguised separator. */
        size_t i = find_event(l.log, 7, POSTURE_EV_SEPARATOR);
        struct rec rc = record_at(l.log, i);

        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_ACTION);
        expect_sb_error(l.buf, l.len, POSTURE_EVENTLOG_SEPARATOR_DISGUISED, (int64_t) i);
        /* Separator data FFFFFFFF. */
        put_u32(l.buf + rc.off + 4, POSTURE_EV_SEPARATOR);
        put_u32(l.buf + rc.data_off, 0xffffffffu);
        expect_sb_error(l.buf, l.len, POSTURE_EVENTLOG_SEPARATOR_ERROR, (int64_t) i);
        put_u32(l.buf + rc.data_off, 0);
    }
    {
        /* A PCR 4 application re-typed as a firmware blob. */
        size_t i = find_event(l.log, 4, POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION);
        struct rec rc = record_at(l.log, i);

        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_PLATFORM_FIRMWARE_BLOB);
        expect_sb_error(l.buf, l.len, POSTURE_EVENTLOG_PCR4_EVENT_TYPE, (int64_t) i);
        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION);
    }
    {
        /* Unmodified again: accepted. */
        posture_auto_eventlog struct posture_eventlog *m = NULL;
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = NULL;
        struct posture_eventlog_problem problem;
        assert_int_equal(posture_eventlog_parse(l.buf, l.len, &m, &problem), 0);
        assert_int_equal(posture_eventlog_secure_boot(m, &sb, &problem), 0);
        assert_int_equal(sb->secure_boot, 1);
    }
    unload(&l);
}

/* Insert len bytes at off into a copy. */
static uint8_t *splice_in(const uint8_t *buf, size_t len, size_t off, const uint8_t *ins, size_t n)
{
    uint8_t *out = malloc(len + n);

    assert_non_null(out);
    memcpy(out, buf, off);
    memcpy(out + off, ins, n);
    memcpy(out + off + n, buf + off, len - off);
    return out;
}

static void test_startup_locality(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("lenovo-laptop-glinux", &l);
    {
        /* Find the StartupLocality record and copy it right after itself. */
        size_t i;
        struct rec rc;
        posture_autofree uint8_t *dup = NULL;

        for (i = 1; i < l.log->n_events; i++)
            if (l.log->events[i].type == POSTURE_EV_NO_ACTION)
                break;
        assert_true(i < l.log->n_events);
        assert_int_equal(l.log->startup_locality, 3);
        rc = record_at(l.log, i);
        dup = splice_in(l.buf, l.len, rc.end, l.buf + rc.off, rc.end - rc.off);
        expect_parse_error(dup, l.len + (rc.end - rc.off), POSTURE_EVENTLOG_STARTUP_LOCALITY,
                           (int64_t) i + 1);

        /* Value 2, then PCR 1. */
        l.buf[rc.end - 1] = 2;
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_STARTUP_LOCALITY, (int64_t) i);
        l.buf[rc.end - 1] = 3;
        put_u32(l.buf + rc.off, 1);
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_STARTUP_LOCALITY, (int64_t) i);
        put_u32(l.buf + rc.off, 0);

        /* Non-zero digest on an EV_NO_ACTION. */
        l.buf[rc.digests_off + 2 + 3] = 0x42;
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_NO_ACTION_DIGEST, (int64_t) i);
        l.buf[rc.digests_off + 2 + 3] = 0;

        /* Moved after a PCR 0 measurement: locality value 0 so the replay stays sane. */
        {
            size_t j = find_event(l.log, 0, POSTURE_EV_S_CRTM_VERSION);
            struct rec rj = record_at(l.log, j);
            posture_autofree uint8_t *late = NULL;
            assert_true(j > i);
            late = splice_in(l.buf, l.len, rj.end, l.buf + rc.off, rc.end - rc.off);
            expect_parse_error(late, l.len + (rc.end - rc.off), POSTURE_EVENTLOG_STARTUP_LOCALITY,
                               (int64_t) j + 1);
        }
    }
    {
        /* A locality-3 log read as locality 0 does not reproduce PCR 0. */
        posture_auto_eventlog struct posture_eventlog *m = NULL;
        struct posture_eventlog_problem problem;
        const uint8_t *good;
        size_t good_len;
        uint8_t want[32];
        size_t i;

        assert_int_equal(posture_eventlog_pcr(l.log, POSTURE_TPM_ALG_SHA256, 0, &good, &good_len),
                         0);
        memcpy(want, good, sizeof(want));
        for (i = 1; i < l.log->n_events; i++)
            if (l.log->events[i].type == POSTURE_EV_NO_ACTION)
                break;
        l.buf[record_at(l.log, i).end - 1] = 0;
        assert_int_equal(posture_eventlog_parse(l.buf, l.len, &m, &problem), 0);
        assert_int_equal(m->startup_locality, 0);
        assert_int_equal(posture_eventlog_compare_pcr(m, POSTURE_TPM_ALG_SHA256, 0, want,
                                                      sizeof(want), &problem),
                         -EBADMSG);
        assert_int_equal(problem.reason, POSTURE_EVENTLOG_PCR_MISMATCH);
        assert_int_equal(posture_eventlog_compare_pcr(m, POSTURE_TPM_ALG_SHA384, 0, want,
                                                      sizeof(want), &problem),
                         -EBADMSG);
        assert_int_equal(problem.reason, POSTURE_EVENTLOG_BANK_MISSING);
    }
    unload(&l);
}

/* Recompute the sha1, sha256 and sha384 digests of a gce-rhel8 record from its data. */
static void redigest_rhel8(struct loaded *l, struct rec rc, size_t data_len)
{
    unsigned n = 0;

    assert_int_equal(EVP_Digest(l->buf + rc.data_off, data_len, l->buf + rc.digests_off + 2, &n,
                                EVP_sha1(), NULL),
                     1);
    assert_int_equal(EVP_Digest(l->buf + rc.data_off, data_len,
                                l->buf + rc.digests_off + 2 + 20 + 2, &n, EVP_sha256(), NULL),
                     1);
    assert_int_equal(EVP_Digest(l->buf + rc.data_off, data_len,
                                l->buf + rc.digests_off + 2 + 20 + 2 + 32 + 2, &n, EVP_sha384(),
                                NULL),
                     1);
}

static void test_pcr7_rules(void **state)
{
    struct loaded l = { 0 };
    (void) state;

    load("gce-rhel8-secureboot", &l);
    {
        /* The first DRIVER_CONFIG (SecureBoot) duplicated right after itself; a duplicate db
         * is in test_eventlog_attacks.c. */
        size_t i = find_event(l.log, 7, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG);
        struct rec rc = record_at(l.log, i);
        posture_autofree uint8_t *dup =
            splice_in(l.buf, l.len, rc.end, l.buf + rc.off, rc.end - rc.off);

        expect_sb_error(dup, l.len + (rc.end - rc.off), POSTURE_EVENTLOG_PCR7_CONFIG_DUPLICATE,
                        (int64_t) i + 1);
    }
    {
        /* The first authority moved before the separator (swap type of separator and
         * authority is not enough: copy the authority in front of the first config). */
        size_t a = find_event(l.log, 7, POSTURE_EV_EFI_VARIABLE_AUTHORITY);
        size_t c = find_event(l.log, 7, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG);
        struct rec ra = record_at(l.log, a), rcf = record_at(l.log, c);
        posture_autofree uint8_t *early =
            splice_in(l.buf, l.len, rcf.off, l.buf + ra.off, ra.end - ra.off);

        expect_sb_error(early, l.len + (ra.end - ra.off), POSTURE_EVENTLOG_PCR7_AUTHORITY_ORDER,
                        (int64_t) c);
    }
    {
        /* Two separators in PCR 7. */
        size_t s = find_event(l.log, 7, POSTURE_EV_SEPARATOR);
        struct rec rs = record_at(l.log, s);
        posture_autofree uint8_t *two =
            splice_in(l.buf, l.len, rs.end, l.buf + rs.off, rs.end - rs.off);

        expect_sb_error(two, l.len + (rs.end - rs.off), POSTURE_EVENTLOG_SEPARATOR_DUPLICATE,
                        (int64_t) s + 1);
    }
    {
        /* SecureBoot value 2 (digest recomputed so only the value rule can fire). */
        size_t i = find_event(l.log, 7, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG);
        struct rec rc = record_at(l.log, i);

        assert_int_equal(l.log->events[i].data_len, 32 + 20 + 1);
        l.buf[rc.end - 1] = 2;
        redigest_rhel8(&l, rc, l.log->events[i].data_len);
        expect_sb_error(l.buf, l.len, POSTURE_EVENTLOG_SECURE_BOOT_VALUE, (int64_t) i);
        l.buf[rc.end - 1] = 1;
        redigest_rhel8(&l, rc, l.log->events[i].data_len);
    }
    {
        /* GUID confusion (ATTESTATION.md §6 row 32): "SecureBoot" under another GUID is not the
         * Secure Boot variable. Digests recomputed: replay and the digest rule still pass. */
        size_t i = find_event(l.log, 7, POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG);
        struct rec rc = record_at(l.log, i);
        posture_auto_eventlog struct posture_eventlog *m = NULL;
        posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = NULL;
        struct posture_eventlog_problem problem;
        bool foreign = false;

        l.buf[rc.data_off] ^= 0x01;
        redigest_rhel8(&l, rc, l.log->events[i].data_len);
        assert_int_equal(posture_eventlog_parse(l.buf, l.len, &m, &problem), 0);
        assert_int_equal(posture_eventlog_secure_boot(m, &sb, &problem), 0);
        assert_int_equal(sb->secure_boot, -1);
        assert_int_equal(sb->secure_boot_var, -1);
        assert_string_equal(sb->config[0].name, "SecureBoot");
        for (size_t w = 0; w < sb->n_warnings; w++)
            if (sb->warnings[w].code == POSTURE_EVENTLOG_WARN_FOREIGN_GUID)
                foreign = sb->warnings[w].event == (int64_t) i;
        assert_true(foreign);
    }
    unload(&l);
}

/* EV_EFI_HCRTM_EVENT: PCR 0 starts at 00..04, and only as the first PCR 0 measurement. */
static void test_hcrtm(void **state)
{
    struct loaded l = { 0 };
    size_t first, second = 0;
    (void) state;

    load("ovmf-rhel9-secureboot-sha256only", &l);
    assert_int_equal(l.log->startup_locality, -1);
    for (first = 1; first < l.log->n_events; first++)
        if (l.log->events[first].pcr == 0 && l.log->events[first].type != POSTURE_EV_NO_ACTION)
            break;
    for (size_t i = first + 1; i < l.log->n_events && !second; i++)
        if (l.log->events[i].pcr == 0 && l.log->events[i].type != POSTURE_EV_NO_ACTION)
            second = i;
    assert_true(first < l.log->n_events && second > first);
    {
        struct rec rc = record_at(l.log, first);
        posture_auto_eventlog struct posture_eventlog *m = NULL;
        struct posture_eventlog_problem problem;
        const uint8_t *v, *old;
        size_t len;
        uint8_t want[32], pcr0[32] = { 0 };
        unsigned n = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_HCRTM_EVENT);
        assert_int_equal(posture_eventlog_parse(l.buf, l.len, &m, &problem), 0);
        assert_true(m->hcrtm);
        /* Independent replay of PCR 0 from 00..04. */
        pcr0[31] = 4;
        for (size_t i = 1; i < m->n_events; i++) {
            if (m->events[i].pcr != 0 || m->events[i].type == POSTURE_EV_NO_ACTION)
                continue;
            assert_non_null(ctx);
            assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
            assert_int_equal(EVP_DigestUpdate(ctx, pcr0, 32), 1);
            assert_int_equal(EVP_DigestUpdate(ctx, m->events[i].digests[0], 32), 1);
            assert_int_equal(EVP_DigestFinal_ex(ctx, pcr0, &n), 1);
        }
        EVP_MD_CTX_free(ctx);
        memcpy(want, pcr0, 32);
        assert_int_equal(posture_eventlog_pcr(m, POSTURE_TPM_ALG_SHA256, 0, &v, &len), 0);
        assert_memory_equal(v, want, 32);
        assert_int_equal(posture_eventlog_pcr(l.log, POSTURE_TPM_ALG_SHA256, 0, &old, &len), 0);
        assert_memory_not_equal(v, old, 32);
        put_u32(l.buf + rc.off + 4, l.log->events[first].type);
    }
    {
        struct rec rc = record_at(l.log, second);

        put_u32(l.buf + rc.off + 4, POSTURE_EV_EFI_HCRTM_EVENT);
        expect_parse_error(l.buf, l.len, POSTURE_EVENTLOG_HCRTM, (int64_t) second);
        put_u32(l.buf + rc.off + 4, l.log->events[second].type);
    }
    unload(&l);
}

static void test_strings(void **state)
{
    char buf[37];
    static const uint8_t g[16] = { 0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
                                   0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c };
    (void) state;

    for (int r = 0; r < POSTURE_EVENTLOG_REASON__MAX; r++)
        assert_non_null(posture_eventlog_reason_to_string((enum posture_eventlog_reason) r));
    assert_null(posture_eventlog_reason_to_string(POSTURE_EVENTLOG_REASON__MAX));
    assert_null(posture_eventlog_reason_to_string(POSTURE_EVENTLOG_REASON__INVALID));
    for (int w = 0; w < POSTURE_EVENTLOG_WARNING__MAX; w++)
        assert_non_null(posture_eventlog_warning_to_string((enum posture_eventlog_warning) w));
    assert_string_equal(posture_eventlog_reason_to_string(POSTURE_EVENTLOG_STARTUP_LOCALITY),
                        "startup-locality-invalid");
    assert_string_equal(posture_eventlog_guid_to_string(g, buf),
                        "8be4df61-93ca-11d2-aa0d-00e098032b8c");
    assert_string_equal(posture_eventlog_alg_name(POSTURE_TPM_ALG_SHA384), "sha384");
    assert_null(posture_eventlog_alg_name(0x12));
    assert_null(posture_eventlog_free(NULL));
    assert_null(posture_eventlog_secure_boot_free(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_replay),
        cmocka_unit_test(test_windows_vector),
        cmocka_unit_test(test_flipped_digest),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_event_size),
        cmocka_unit_test(test_retyped_pcr7),
        cmocka_unit_test(test_startup_locality),
        cmocka_unit_test(test_pcr7_rules),
        cmocka_unit_test(test_hcrtm),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
