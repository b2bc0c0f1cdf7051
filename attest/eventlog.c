/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCG PC Client event log: strict parser, replay per bank, Secure Boot facts
 * (ATTESTATION.md §2.4, §5.4 steps 11-13). The log is read with a bounded little-endian cursor;
 * no struct is ever copied from the buffer.
 */

#include "posture/eventlog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "posture/err.h"
#include "posture/log.h"

static const char *const reason_table[POSTURE_EVENTLOG_REASON__MAX] = {
    [POSTURE_EVENTLOG_OK] = "ok",
    [POSTURE_EVENTLOG_TOO_LARGE] = "too-large",
    [POSTURE_EVENTLOG_EMPTY] = "empty",
    [POSTURE_EVENTLOG_TRUNCATED] = "truncated",
    [POSTURE_EVENTLOG_EVENT_SIZE] = "event-size",
    [POSTURE_EVENTLOG_TOO_MANY_EVENTS] = "too-many-events",
    [POSTURE_EVENTLOG_SPEC_ID] = "spec-id-invalid",
    [POSTURE_EVENTLOG_ALGORITHMS] = "algorithms-invalid",
    [POSTURE_EVENTLOG_DIGEST_SIZE] = "digest-size-invalid",
    [POSTURE_EVENTLOG_DIGEST_COUNT] = "digest-count-mismatch",
    [POSTURE_EVENTLOG_DIGEST_ALGORITHM] = "digest-algorithm-invalid",
    [POSTURE_EVENTLOG_PCR_INDEX] = "pcr-index-invalid",
    [POSTURE_EVENTLOG_NO_ACTION_DIGEST] = "no-action-digest-nonzero",
    [POSTURE_EVENTLOG_STARTUP_LOCALITY] = "startup-locality-invalid",
    [POSTURE_EVENTLOG_HCRTM] = "hcrtm-misplaced",
    [POSTURE_EVENTLOG_DIGEST_MISMATCH] = "digest-mismatch",
    [POSTURE_EVENTLOG_SEPARATOR_DATA] = "separator-data-invalid",
    [POSTURE_EVENTLOG_SEPARATOR_ERROR] = "separator-error",
    [POSTURE_EVENTLOG_SEPARATOR_DUPLICATE] = "separator-duplicate",
    [POSTURE_EVENTLOG_SEPARATOR_MISSING] = "separator-missing",
    [POSTURE_EVENTLOG_SEPARATOR_DISGUISED] = "separator-disguised",
    [POSTURE_EVENTLOG_PCR7_EVENT_TYPE] = "pcr7-event-type",
    [POSTURE_EVENTLOG_PCR7_CONFIG_ORDER] = "pcr7-config-after-separator",
    [POSTURE_EVENTLOG_PCR7_CONFIG_DUPLICATE] = "pcr7-config-duplicate",
    [POSTURE_EVENTLOG_PCR7_AUTHORITY_ORDER] = "pcr7-authority-before-separator",
    [POSTURE_EVENTLOG_VARIABLE_DATA] = "variable-data-invalid",
    [POSTURE_EVENTLOG_SECURE_BOOT_VALUE] = "secure-boot-value-invalid",
    [POSTURE_EVENTLOG_PCR4_EVENT_TYPE] = "pcr4-event-type",
    [POSTURE_EVENTLOG_PCR_MISMATCH] = "pcr-mismatch",
    [POSTURE_EVENTLOG_BANK_MISSING] = "bank-missing",
    [POSTURE_EVENTLOG_ACTION_DATA] = "action-data-invalid",
};

const char *posture_eventlog_reason_to_string(enum posture_eventlog_reason r)
{
    if ((int) r < 0 || r >= POSTURE_EVENTLOG_REASON__MAX)
        return NULL;
    return reason_table[r];
}

static const char *const warning_table[POSTURE_EVENTLOG_WARNING__MAX] = {
    [POSTURE_EVENTLOG_WARN_SHA1_LEGACY] = "sha1-legacy-format",
    [POSTURE_EVENTLOG_WARN_BANK_NOT_REPLAYED] = "bank-not-replayed",
    [POSTURE_EVENTLOG_WARN_NO_EXIT_BOOT_SERVICES] = "no-exit-boot-services",
    [POSTURE_EVENTLOG_WARN_SECURE_BOOT_EMPTY] = "secure-boot-variable-empty",
    [POSTURE_EVENTLOG_WARN_SECURE_BOOT_MISSING] = "secure-boot-variable-missing",
    [POSTURE_EVENTLOG_WARN_DEBUG_MODE] = "uefi-debug-mode",
    [POSTURE_EVENTLOG_WARN_DMA_PROTECTION_OFF] = "dma-protection-disabled",
    [POSTURE_EVENTLOG_WARN_DBX_MISSING] = "dbx-missing",
    [POSTURE_EVENTLOG_WARN_FOREIGN_GUID] = "variable-foreign-guid",
    [POSTURE_EVENTLOG_WARN_SECURE_BOOT_DISABLED] = "secure-boot-disabled",
};

const char *posture_eventlog_warning_to_string(enum posture_eventlog_warning w)
{
    if ((int) w < 0 || w >= POSTURE_EVENTLOG_WARNING__MAX)
        return NULL;
    return warning_table[w];
}

/* The hash algorithms of the TCG Algorithm Registry a Spec ID header may declare: id, digest
 * size, and the OpenSSL name of those we replay (NULL: declared only, not replayed). Any other
 * id is refused (ATTESTATION.md §5.4 step 11: "known ids, sizes match"). */
static const struct {
    uint16_t alg;
    uint16_t size;
    const char *name;
} known_algs[] = {
    { POSTURE_TPM_ALG_SHA1, 20, "sha1" },
    { POSTURE_TPM_ALG_SHA256, 32, "sha256" },
    { POSTURE_TPM_ALG_SHA384, 48, "sha384" },
    { POSTURE_TPM_ALG_SHA512, 64, "sha512" },
    { 0x0012u, 32, NULL }, /* TPM_ALG_SM3_256 */
    { 0x0027u, 32, NULL }, /* TPM_ALG_SHA3_256 */
    { 0x0028u, 48, NULL }, /* TPM_ALG_SHA3_384 */
    { 0x0029u, 64, NULL }, /* TPM_ALG_SHA3_512 */
};

const char *posture_eventlog_alg_name(uint16_t alg)
{
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(known_algs); i++)
        if (known_algs[i].alg == alg)
            return known_algs[i].name;
    return NULL;
}

/* Digest size of a registered hash, -ENOENT for an id outside the registry; *ret_replayed
 * says whether we hash it. */
static int known_alg_size(uint16_t alg, bool *ret_replayed)
{
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(known_algs); i++)
        if (known_algs[i].alg == alg) {
            *ret_replayed = known_algs[i].name != NULL;
            return known_algs[i].size;
        }
    return -ENOENT;
}

/* OpenSSL errors stay in the debug log (STYLE.md G3). */
static int openssl_error(const char *what)
{
    unsigned long e;

    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        log_debug("eventlog: %s: %s", what, buf);
    }
    return -EIO;
}

/* Fetch the hash of every replayed bank once (an explicit fetch: OpenSSL 3 would otherwise
 * look the algorithm up again on every digest). Free with mds_free(). */
static int mds_fetch(const struct posture_eventlog *log, EVP_MD *mds[POSTURE_EVENTLOG_MAX_BANKS])
{
    for (size_t b = 0; b < log->n_banks; b++) {
        if (!log->banks[b].replayed)
            continue;
        mds[b] = EVP_MD_fetch(NULL, posture_eventlog_alg_name(log->banks[b].alg), NULL);
        if (!mds[b])
            return openssl_error("EVP_MD_fetch");
    }
    return 0;
}

static void mds_free(EVP_MD *mds[POSTURE_EVENTLOG_MAX_BANKS])
{
    for (size_t b = 0; b < POSTURE_EVENTLOG_MAX_BANKS; b++) {
        EVP_MD_free(mds[b]);
        mds[b] = NULL;
    }
}

/* One-shot digest of data. */
static int digest_of(const EVP_MD *md, const void *data, size_t len, uint8_t *out)
{
    unsigned n = 0;

    if (EVP_Digest(data, len, out, &n, md, NULL) != 1)
        return openssl_error("EVP_Digest");
    return (int) n;
}

/* ---------------------------------------------------------------------------------------- */
/* Bounded little-endian cursor. */

struct cursor {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

static size_t cursor_left(const struct cursor *c)
{
    return c->len - c->pos;
}

static bool cursor_u8(struct cursor *c, uint8_t *ret)
{
    if (cursor_left(c) < 1)
        return false;
    *ret = c->p[c->pos++];
    return true;
}

static bool cursor_u16(struct cursor *c, uint16_t *ret)
{
    if (cursor_left(c) < 2)
        return false;
    *ret = (uint16_t) (c->p[c->pos] | (c->p[c->pos + 1] << 8));
    c->pos += 2;
    return true;
}

static bool cursor_u32(struct cursor *c, uint32_t *ret)
{
    if (cursor_left(c) < 4)
        return false;
    *ret = (uint32_t) c->p[c->pos] | (uint32_t) c->p[c->pos + 1] << 8 |
           (uint32_t) c->p[c->pos + 2] << 16 | (uint32_t) c->p[c->pos + 3] << 24;
    c->pos += 4;
    return true;
}

static bool cursor_u64(struct cursor *c, uint64_t *ret)
{
    uint32_t lo, hi;

    if (cursor_left(c) < 8)
        return false;
    (void) cursor_u32(c, &lo);
    (void) cursor_u32(c, &hi);
    *ret = (uint64_t) hi << 32 | lo;
    return true;
}

static bool cursor_bytes(struct cursor *c, size_t n, const uint8_t **ret)
{
    if (cursor_left(c) < n)
        return false;
    *ret = c->p + c->pos;
    c->pos += n;
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Parser. */

struct parser {
    struct posture_eventlog *log;
    struct posture_eventlog_problem problem;
    size_t events_cap;
    EVP_MD_CTX *md_ctx;
    EVP_MD *mds[POSTURE_EVENTLOG_MAX_BANKS];
};

static int refuse(struct parser *p, enum posture_eventlog_reason reason, int64_t event, size_t off)
{
    p->problem =
        (struct posture_eventlog_problem){ .reason = reason, .event = event, .offset = off };
    log_debug("eventlog: record %lld at offset %zu: %s", (long long) event, off,
              reason_table[reason]);
    return -EBADMSG;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static const uint8_t spec_id_signature[16] = "Spec ID Event03";          /* with its NUL */
static const uint8_t startup_locality_signature[16] = "StartupLocality"; /* with its NUL */

/* Parse the Spec ID Event03 data into the bank table. */
static int parse_spec_id(struct parser *p, const uint8_t *data, uint32_t len, size_t off)
{
    struct cursor c = { .p = data, .len = len };
    const uint8_t *sig;
    uint32_t platform_class, n_algs;
    uint8_t minor, major, errata, uintn_size, vendor_size;
    const uint8_t *vendor;

    if (!cursor_bytes(&c, 16, &sig) || memcmp(sig, spec_id_signature, 16) != 0 ||
        !cursor_u32(&c, &platform_class) || !cursor_u8(&c, &minor) || !cursor_u8(&c, &major) ||
        !cursor_u8(&c, &errata) || !cursor_u8(&c, &uintn_size) || !cursor_u32(&c, &n_algs))
        return refuse(p, POSTURE_EVENTLOG_SPEC_ID, 0, off);
    (void) platform_class;
    (void) minor;
    (void) errata;
    if (major != 2 || (uintn_size != 1 && uintn_size != 2))
        return refuse(p, POSTURE_EVENTLOG_SPEC_ID, 0, off);
    if (n_algs == 0 || n_algs > POSTURE_EVENTLOG_MAX_BANKS)
        return refuse(p, POSTURE_EVENTLOG_ALGORITHMS, 0, off);

    for (uint32_t i = 0; i < n_algs; i++) {
        struct posture_eventlog_bank *b = &p->log->banks[i];
        uint16_t alg, size;
        bool replayed = false;
        int known;

        if (!cursor_u16(&c, &alg) || !cursor_u16(&c, &size))
            return refuse(p, POSTURE_EVENTLOG_SPEC_ID, 0, off);
        for (uint32_t j = 0; j < i; j++)
            if (p->log->banks[j].alg == alg)
                return refuse(p, POSTURE_EVENTLOG_ALGORITHMS, 0, off);
        if (size == 0 || size > POSTURE_EVENTLOG_MAX_DIGEST)
            return refuse(p, POSTURE_EVENTLOG_DIGEST_SIZE, 0, off);
        known = known_alg_size(alg, &replayed);
        if (known < 0)
            return refuse(p, POSTURE_EVENTLOG_ALGORITHMS, 0, off);
        if (known != size)
            return refuse(p, POSTURE_EVENTLOG_DIGEST_SIZE, 0, off);
        b->alg = alg;
        b->digest_size = size;
        b->replayed = replayed;
    }
    if (!cursor_u8(&c, &vendor_size) || !cursor_bytes(&c, vendor_size, &vendor) ||
        cursor_left(&c) != 0)
        return refuse(p, POSTURE_EVENTLOG_SPEC_ID, 0, off);
    p->log->n_banks = n_algs;
    return 0;
}

static int events_push(struct parser *p, struct posture_eventlog_event **ret)
{
    struct posture_eventlog *log = p->log;

    if (log->n_events >= POSTURE_EVENTLOG_MAX_EVENTS)
        return -E2BIG;
    if (log->n_events == p->events_cap) {
        size_t cap = p->events_cap ? p->events_cap * 2 : 64;
        struct posture_eventlog_event *n;

        if (cap > POSTURE_EVENTLOG_MAX_EVENTS)
            cap = POSTURE_EVENTLOG_MAX_EVENTS;
        n = reallocarray(log->events, cap, sizeof(*n));
        if (!n)
            return -ENOMEM;
        log->events = n;
        p->events_cap = cap;
    }
    *ret = &log->events[log->n_events++];
    **ret = (struct posture_eventlog_event){ 0 };
    return 0;
}

/* PCR[i] = H(PCR[i] || digest) in every replayed bank. */
static int extend(struct parser *p, const struct posture_eventlog_event *e)
{
    struct posture_eventlog *log = p->log;

    for (size_t b = 0; b < log->n_banks; b++) {
        struct posture_eventlog_bank *bank = &log->banks[b];
        unsigned n = 0;

        if (!bank->replayed)
            continue;
        if (EVP_DigestInit_ex(p->md_ctx, p->mds[b], NULL) != 1 ||
            EVP_DigestUpdate(p->md_ctx, bank->pcrs[e->pcr], bank->digest_size) != 1 ||
            EVP_DigestUpdate(p->md_ctx, e->digests[b], bank->digest_size) != 1 ||
            EVP_DigestFinal_ex(p->md_ctx, bank->pcrs[e->pcr], &n) != 1)
            return openssl_error("extend");
        if (n != bank->digest_size)
            return -EIO;
    }
    log->extended |= UINT32_C(1) << e->pcr;
    return 0;
}

/* Set PCR 0's starting value to 00..0<value> in every bank (before any extension). */
static void pcr0_start(struct posture_eventlog *log, uint8_t value)
{
    for (size_t b = 0; b < log->n_banks; b++) {
        memset(log->banks[b].pcrs[0], 0, sizeof(log->banks[b].pcrs[0]));
        log->banks[b].pcrs[0][log->banks[b].digest_size - 1] = value;
    }
}

static int handle_no_action(struct parser *p, const struct posture_eventlog_event *e)
{
    struct posture_eventlog *log = p->log;

    for (size_t b = 0; b < log->n_banks; b++)
        if (!all_zero(e->digests[b], log->banks[b].digest_size))
            return refuse(p, POSTURE_EVENTLOG_NO_ACTION_DIGEST, e->index, e->offset);

    if (e->data_len >= 16 && memcmp(e->data, startup_locality_signature, 16) == 0) {
        uint8_t loc;

        if (e->data_len != 17 || e->pcr != 0 || log->startup_locality >= 0 || log->hcrtm ||
            (log->extended & 1u))
            return refuse(p, POSTURE_EVENTLOG_STARTUP_LOCALITY, e->index, e->offset);
        loc = e->data[16];
        if (loc != 0 && loc != 3)
            return refuse(p, POSTURE_EVENTLOG_STARTUP_LOCALITY, e->index, e->offset);
        log->startup_locality = loc;
        pcr0_start(log, loc);
    }
    return 0;
}

/* Read one record at c (format from log), append it, replay it. */
static int parse_record(struct parser *p, struct cursor *c, uint32_t index)
{
    struct posture_eventlog *log = p->log;
    struct posture_eventlog_event *e;
    size_t off = c->pos;
    uint32_t pcr, type, size;
    int r;

    if (log->n_events >= POSTURE_EVENTLOG_MAX_EVENTS)
        return refuse(p, POSTURE_EVENTLOG_TOO_MANY_EVENTS, index, off);
    if (!cursor_u32(c, &pcr) || !cursor_u32(c, &type))
        return refuse(p, POSTURE_EVENTLOG_TRUNCATED, index, off);
    if (pcr >= POSTURE_EVENTLOG_PCRS)
        return refuse(p, POSTURE_EVENTLOG_PCR_INDEX, index, off);

    r = events_push(p, &e);
    if (r < 0)
        return r;
    e->index = index;
    e->offset = off;
    e->pcr = pcr;
    e->type = type;

    if (log->format == POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY) {
        if (!cursor_bytes(c, 20, &e->digests[0]))
            return refuse(p, POSTURE_EVENTLOG_TRUNCATED, index, off);
    } else {
        uint32_t count;

        if (!cursor_u32(c, &count))
            return refuse(p, POSTURE_EVENTLOG_TRUNCATED, index, off);
        if (count != log->n_banks)
            return refuse(p, POSTURE_EVENTLOG_DIGEST_COUNT, index, off);
        for (uint32_t i = 0; i < count; i++) {
            uint16_t alg;
            size_t b;

            if (!cursor_u16(c, &alg))
                return refuse(p, POSTURE_EVENTLOG_TRUNCATED, index, off);
            for (b = 0; b < log->n_banks; b++)
                if (log->banks[b].alg == alg)
                    break;
            if (b == log->n_banks || e->digests[b])
                return refuse(p, POSTURE_EVENTLOG_DIGEST_ALGORITHM, index, off);
            if (!cursor_bytes(c, log->banks[b].digest_size, &e->digests[b]))
                return refuse(p, POSTURE_EVENTLOG_TRUNCATED, index, off);
        }
    }

    if (!cursor_u32(c, &size))
        return refuse(p, POSTURE_EVENTLOG_TRUNCATED, index, off);
    if (size > POSTURE_EVENTLOG_MAX_EVENT_SIZE || size > cursor_left(c))
        return refuse(p, POSTURE_EVENTLOG_EVENT_SIZE, index, off);
    e->data_len = size;
    if (size > 0)
        (void) cursor_bytes(c, size, &e->data);

    if (type == POSTURE_EV_NO_ACTION)
        return handle_no_action(p, e);

    if (type == POSTURE_EV_EFI_HCRTM_EVENT) {
        /* PCR 0 starts at 00..04, then this digest is extended. */
        if (pcr != 0 || (log->extended & 1u) || log->startup_locality > 0 || log->hcrtm)
            return refuse(p, POSTURE_EVENTLOG_HCRTM, index, off);
        log->hcrtm = true;
        pcr0_start(log, 4);
    }
    return extend(p, e);
}

int posture_eventlog_parse(const void *buf,
                           size_t len,
                           struct posture_eventlog **ret,
                           struct posture_eventlog_problem *reterr)
{
    posture_auto_eventlog struct posture_eventlog *log = NULL;
    struct parser p = { 0 };
    struct cursor c;
    uint32_t index = 0;
    int r = 0;

    POSTURE_RETURN_IF_FAIL(buf || len == 0, -EINVAL);
    POSTURE_RETURN_IF_FAIL(ret, -EINVAL);

    if (len > POSTURE_EVENTLOG_MAX_SIZE) {
        if (reterr)
            *reterr = (struct posture_eventlog_problem){ POSTURE_EVENTLOG_TOO_LARGE, -1, 0 };
        return -EBADMSG;
    }
    if (len == 0) {
        if (reterr)
            *reterr = (struct posture_eventlog_problem){ POSTURE_EVENTLOG_EMPTY, -1, 0 };
        return -EBADMSG;
    }

    log = calloc(1, sizeof(*log));
    if (!log)
        return -ENOMEM;
    log->startup_locality = -1;
    log->raw = malloc(len);
    if (!log->raw)
        return -ENOMEM;
    memcpy(log->raw, buf, len);
    log->raw_len = len;
    p.log = log;
    c = (struct cursor){ .p = log->raw, .len = len };

    /* The first record is always in the SHA-1 format. It is a crypto-agile header when it is a
     * PCR 0 EV_NO_ACTION carrying "Spec ID Event03". */
    {
        struct cursor h = c;
        uint32_t pcr, type, size;
        const uint8_t *digest, *data;

        if (!cursor_u32(&h, &pcr) || !cursor_u32(&h, &type) || !cursor_bytes(&h, 20, &digest) ||
            !cursor_u32(&h, &size)) {
            p.problem = (struct posture_eventlog_problem){ POSTURE_EVENTLOG_TRUNCATED, 0, 0 };
            r = -EBADMSG;
            goto out;
        }
        if (size > POSTURE_EVENTLOG_MAX_EVENT_SIZE || size > cursor_left(&h)) {
            p.problem = (struct posture_eventlog_problem){ POSTURE_EVENTLOG_EVENT_SIZE, 0, 0 };
            r = -EBADMSG;
            goto out;
        }
        (void) cursor_bytes(&h, size, &data);
        if (type == POSTURE_EV_NO_ACTION && size >= 16 &&
            memcmp(data, spec_id_signature, 16) == 0) {
            struct posture_eventlog_event *e;

            log->format = POSTURE_EVENTLOG_FORMAT_CRYPTO_AGILE;
            if (pcr != 0 || !all_zero(digest, 20)) {
                p.problem = (struct posture_eventlog_problem){ POSTURE_EVENTLOG_SPEC_ID, 0, 0 };
                r = -EBADMSG;
                goto out;
            }
            r = parse_spec_id(&p, data, size, 0);
            if (r < 0)
                goto out;
            r = events_push(&p, &e);
            if (r < 0)
                goto out;
            /* The header's own SHA-1 digest is not a bank digest; digests[] stay NULL. */
            e->pcr = 0;
            e->type = type;
            e->data = data;
            e->data_len = size;
            c = h;
            index = 1;
        } else {
            log->format = POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY;
            log->n_banks = 1;
            log->banks[0] = (struct posture_eventlog_bank){ .alg = POSTURE_TPM_ALG_SHA1,
                                                            .digest_size = 20,
                                                            .replayed = true };
        }
    }

    r = mds_fetch(log, p.mds);
    if (r < 0)
        goto out;
    p.md_ctx = EVP_MD_CTX_new();
    if (!p.md_ctx) {
        r = -ENOMEM;
        goto out;
    }

    while (cursor_left(&c) > 0) {
        r = parse_record(&p, &c, index++);
        if (r < 0)
            goto out;
    }
    *ret = POSTURE_TAKE_PTR(log);
    r = 0;
out:
    EVP_MD_CTX_free(p.md_ctx);
    mds_free(p.mds);
    if (r == -EBADMSG && reterr)
        *reterr = p.problem;
    return r;
}

struct posture_eventlog *posture_eventlog_free(struct posture_eventlog *log)
{
    if (!log)
        return NULL;
    free(log->events);
    free(log->raw);
    free(log);
    return NULL;
}

const struct posture_eventlog_bank *posture_eventlog_bank(const struct posture_eventlog *log,
                                                          uint16_t alg)
{
    if (!log)
        return NULL;
    for (size_t b = 0; b < log->n_banks; b++)
        if (log->banks[b].alg == alg)
            return &log->banks[b];
    return NULL;
}

int posture_eventlog_pcr(const struct posture_eventlog *log,
                         uint16_t alg,
                         unsigned pcr,
                         const uint8_t **ret,
                         size_t *ret_len)
{
    const struct posture_eventlog_bank *b;

    POSTURE_RETURN_IF_FAIL(log, -EINVAL);
    if (pcr >= POSTURE_EVENTLOG_PCRS)
        return -EINVAL;
    b = posture_eventlog_bank(log, alg);
    if (!b || !b->replayed)
        return -ENOENT;
    if (ret)
        *ret = b->pcrs[pcr];
    if (ret_len)
        *ret_len = b->digest_size;
    return 0;
}

int posture_eventlog_compare_pcr(const struct posture_eventlog *log,
                                 uint16_t alg,
                                 unsigned pcr,
                                 const uint8_t *value,
                                 size_t len,
                                 struct posture_eventlog_problem *reterr)
{
    const uint8_t *mine;
    size_t mine_len;
    int r;

    POSTURE_RETURN_IF_FAIL(log && (value || len == 0), -EINVAL);
    r = posture_eventlog_pcr(log, alg, pcr, &mine, &mine_len);
    if (r == -EINVAL)
        return r;
    if (r < 0) {
        if (reterr)
            *reterr = (struct posture_eventlog_problem){ POSTURE_EVENTLOG_BANK_MISSING, -1, 0 };
        return -EBADMSG;
    }
    if (len != mine_len || CRYPTO_memcmp(mine, value, len) != 0) {
        if (reterr)
            *reterr = (struct posture_eventlog_problem){ POSTURE_EVENTLOG_PCR_MISMATCH, -1, 0 };
        return -EBADMSG;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Secure Boot facts. */

/* EFI_GLOBAL_VARIABLE 8be4df61-93ca-11d2-aa0d-00e098032b8c and EFI_IMAGE_SECURITY_DATABASE
 * d719b2cb-3d3a-4596-a3bc-dad00e67656f, as on the wire (first three fields little-endian). */
static const uint8_t guid_global[16] = { 0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
                                         0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c };
static const uint8_t guid_image_db[16] = { 0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
                                           0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f };

const char *posture_eventlog_guid_to_string(const uint8_t guid[16], char buf[static 37])
{
    (void) snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                    guid[3], guid[2], guid[1], guid[0], guid[5], guid[4], guid[7], guid[6], guid[8],
                    guid[9], guid[10], guid[11], guid[12], guid[13], guid[14], guid[15]);
    return buf;
}

/* Decode UEFI_VARIABLE_DATA: GUID, u64 name length (characters), u64 data length, CHAR16
 * name, data. Nothing may follow, except when trailing is allowed: older shims log their
 * AUTHORITY events with an EventSize a few bytes larger than the structure (gce-debian10,
 * record 23: 6 bytes). */
static bool decode_variable(const struct posture_eventlog_event *e,
                            bool trailing,
                            struct posture_eventlog_variable *v)
{
    struct cursor c = { .p = e->data, .len = e->data_len };
    const uint8_t *guid, *name, *data;
    uint64_t name_len, data_len;

    if (!e->data || !cursor_bytes(&c, 16, &guid) || !cursor_u64(&c, &name_len) ||
        !cursor_u64(&c, &data_len))
        return false;
    if (name_len == 0 || name_len > sizeof(v->name) - 1 || !cursor_bytes(&c, name_len * 2, &name))
        return false;
    if ((trailing ? data_len > cursor_left(&c) : data_len != cursor_left(&c)) ||
        !cursor_bytes(&c, data_len, &data))
        return false;

    *v = (struct posture_eventlog_variable){ .event = e->index, .data_len = data_len };
    memcpy(v->guid, guid, 16);
    v->data = data_len > 0 ? data : NULL;
    for (uint64_t i = 0; i < name_len; i++) {
        uint16_t ch = (uint16_t) (name[2 * i] | name[2 * i + 1] << 8);
        if (ch == 0)
            return false;
        v->name[i] = (char) (ch >= 0x20 && ch < 0x7f ? ch : '?');
    }
    v->name[name_len] = '\0';
    return true;
}

/* Length of an action's text: its data without one trailing NUL (PFP says the string is not
 * NUL-terminated, some firmware terminates it anyway). */
static uint32_t action_len(const struct posture_eventlog_event *e)
{
    return e->data_len > 0 && e->data[e->data_len - 1] == 0 ? e->data_len - 1 : e->data_len;
}

/* PFP: the data of an EV_EFI_ACTION is an ASCII string. */
static bool action_is_text(const struct posture_eventlog_event *e)
{
    uint32_t n = action_len(e);

    if (n == 0)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (e->data[i] < 0x20 || e->data[i] > 0x7e)
            return false;
    return true;
}

static bool action_is(const struct posture_eventlog_event *e, const char *s)
{
    size_t n = strlen(s);

    return action_len(e) == n && memcmp(e->data, s, n) == 0;
}

/* The digest of e in every replayed bank equals H(data). */
static int digests_match_data(const struct posture_eventlog *log,
                              EVP_MD *const *mds,
                              const struct posture_eventlog_event *e)
{
    for (size_t b = 0; b < log->n_banks; b++) {
        uint8_t h[POSTURE_EVENTLOG_MAX_DIGEST];
        int r;

        if (!log->banks[b].replayed)
            continue;
        r = digest_of(mds[b], e->data ? e->data : (const uint8_t *) "", e->data_len, h);
        if (r < 0)
            return r;
        if (CRYPTO_memcmp(h, e->digests[b], log->banks[b].digest_size) != 0)
            return 0;
    }
    return 1;
}

/* The digest of e equals H(00000000) (sep[b], computed once) in some replayed bank. */
static bool digest_is_separator(const struct posture_eventlog *log,
                                const uint8_t sep[][POSTURE_EVENTLOG_MAX_DIGEST],
                                const struct posture_eventlog_event *e)
{
    for (size_t b = 0; b < log->n_banks; b++)
        if (log->banks[b].replayed && memcmp(sep[b], e->digests[b], log->banks[b].digest_size) == 0)
            return true;
    return false;
}

static void
warn(struct posture_eventlog_secure_boot *sb, enum posture_eventlog_warning code, int64_t event)
{
    for (size_t i = 0; i < sb->n_warnings; i++)
        if (sb->warnings[i].code == code)
            return;
    if (sb->n_warnings < POSTURE_EVENTLOG_MAX_WARNINGS) {
        sb->warnings[sb->n_warnings].code = code;
        sb->warnings[sb->n_warnings].event = event;
        sb->n_warnings++;
    }
}

static int sb_refuse(struct posture_eventlog_problem *out,
                     enum posture_eventlog_reason reason,
                     const struct posture_eventlog_event *e)
{
    *out = (struct posture_eventlog_problem){ .reason = reason,
                                              .event = e ? (int64_t) e->index : -1,
                                              .offset = e ? e->offset : 0 };
    log_debug("eventlog: record %lld: %s", (long long) out->event, reason_table[reason]);
    return -EBADMSG;
}

static bool pcr7_type_allowed(uint32_t type)
{
    return type == POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG ||
           type == POSTURE_EV_EFI_VARIABLE_AUTHORITY || type == POSTURE_EV_SEPARATOR ||
           type == POSTURE_EV_EFI_ACTION || type == POSTURE_EV_NO_ACTION;
}

static bool pcr4_type_allowed(uint32_t type)
{
    return type == POSTURE_EV_EFI_ACTION || type == POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION ||
           type == POSTURE_EV_EFI_BOOT_SERVICES_DRIVER || type == POSTURE_EV_SEPARATOR ||
           type == POSTURE_EV_NO_ACTION;
}

/* The well-known index slot for a DRIVER_CONFIG variable, or NULL. */
static int *sb_slot(struct posture_eventlog_secure_boot *sb,
                    const struct posture_eventlog_variable *v,
                    bool *ret_foreign)
{
    static const struct {
        const char *name;
        bool global;
    } names[] = {
        { "SecureBoot", true }, { "PK", true }, { "KEK", true }, { "db", false }, { "dbx", false }
    };
    int *slots[] = { &sb->secure_boot_var, &sb->pk, &sb->kek, &sb->db, &sb->dbx };

    *ret_foreign = false;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(names); i++) {
        if (strcmp(v->name, names[i].name) != 0)
            continue;
        if (memcmp(v->guid, names[i].global ? guid_global : guid_image_db, 16) == 0)
            return slots[i];
        *ret_foreign = true;
        return NULL;
    }
    return NULL;
}

static int rule_pcr7(const struct posture_eventlog *log,
                     EVP_MD *const *mds,
                     struct posture_eventlog_secure_boot *sb,
                     const struct posture_eventlog_event *e,
                     struct posture_eventlog_problem *problem)
{
    bool after_separator = sb->separators & (1u << 7);
    struct posture_eventlog_variable v;
    int r;

    if (!pcr7_type_allowed(e->type))
        return sb_refuse(problem, POSTURE_EVENTLOG_PCR7_EVENT_TYPE, e);

    if (e->type == POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG) {
        bool foreign;
        int *slot;

        if (after_separator)
            return sb_refuse(problem, POSTURE_EVENTLOG_PCR7_CONFIG_ORDER, e);
        if (!decode_variable(e, false, &v))
            return sb_refuse(problem, POSTURE_EVENTLOG_VARIABLE_DATA, e);
        r = digests_match_data(log, mds, e);
        if (r < 0)
            return r;
        if (r == 0)
            return sb_refuse(problem, POSTURE_EVENTLOG_DIGEST_MISMATCH, e);
        for (size_t i = 0; i < sb->n_config; i++)
            if (memcmp(sb->config[i].guid, v.guid, 16) == 0 &&
                strcmp(sb->config[i].name, v.name) == 0)
                return sb_refuse(problem, POSTURE_EVENTLOG_PCR7_CONFIG_DUPLICATE, e);
        slot = sb_slot(sb, &v, &foreign);
        if (foreign)
            warn(sb, POSTURE_EVENTLOG_WARN_FOREIGN_GUID, e->index);
        if (slot)
            *slot = (int) sb->n_config;
        sb->config[sb->n_config++] = v;
    } else if (e->type == POSTURE_EV_EFI_VARIABLE_AUTHORITY) {
        if (!after_separator)
            return sb_refuse(problem, POSTURE_EVENTLOG_PCR7_AUTHORITY_ORDER, e);
        if (!decode_variable(e, true, &v))
            return sb_refuse(problem, POSTURE_EVENTLOG_VARIABLE_DATA, e);
        sb->authorities[sb->n_authorities++] = v;
    } else if (e->type == POSTURE_EV_EFI_ACTION) {
        if (action_is(e, "UEFI Debug Mode")) {
            sb->debug_mode = true;
            warn(sb, POSTURE_EVENTLOG_WARN_DEBUG_MODE, e->index);
        } else if (action_is(e, "DMA Protection Disabled")) {
            sb->dma_protection_disabled = true;
            warn(sb, POSTURE_EVENTLOG_WARN_DMA_PROTECTION_OFF, e->index);
        }
    }
    return 0;
}

/* The step 13 walk over every record; fills sb. */
static int appraise(const struct posture_eventlog *log,
                    EVP_MD *const *mds,
                    struct posture_eventlog_secure_boot *sb,
                    struct posture_eventlog_problem *problem)
{
    static const uint8_t zero4[4] = { 0 };
    uint8_t sep[POSTURE_EVENTLOG_MAX_BANKS][POSTURE_EVENTLOG_MAX_DIGEST] = { { 0 } };
    int r;

    for (size_t b = 0; b < log->n_banks; b++) {
        if (!log->banks[b].replayed)
            continue;
        r = digest_of(mds[b], zero4, sizeof(zero4), sep[b]);
        if (r < 0)
            return r;
    }

    if (log->format == POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY)
        warn(sb, POSTURE_EVENTLOG_WARN_SHA1_LEGACY, -1);
    for (size_t b = 0; b < log->n_banks; b++)
        if (!log->banks[b].replayed)
            warn(sb, POSTURE_EVENTLOG_WARN_BANK_NOT_REPLAYED, -1);

    for (size_t i = 0; i < log->n_events; i++) {
        const struct posture_eventlog_event *e = &log->events[i];

        /* The crypto-agile header has no bank digests; EV_NO_ACTION is never extended. */
        if (e->type == POSTURE_EV_NO_ACTION)
            continue;

        if (e->pcr <= 7) {
            if (e->type == POSTURE_EV_SEPARATOR) {
                static const uint8_t error_data[4] = { 0xff, 0xff, 0xff, 0xff };

                if (sb->separators & (1u << e->pcr))
                    return sb_refuse(problem, POSTURE_EVENTLOG_SEPARATOR_DUPLICATE, e);
                if (e->data_len == 4 && memcmp(e->data, error_data, 4) == 0)
                    return sb_refuse(problem, POSTURE_EVENTLOG_SEPARATOR_ERROR, e);
                if (e->data_len != 4 || !all_zero(e->data, 4))
                    return sb_refuse(problem, POSTURE_EVENTLOG_SEPARATOR_DATA, e);
                r = digests_match_data(log, mds, e);
                if (r < 0)
                    return r;
                if (r == 0)
                    return sb_refuse(problem, POSTURE_EVENTLOG_DIGEST_MISMATCH, e);
                sb->separators |= (uint8_t) (1u << e->pcr);
                continue;
            }
            /* Intel Boot Guard logs its FIT S-CRTM measurements in PCR 0 with the digest
             * H(00000000) (lenovo-laptop-glinux record 4, "FIT Type 0x2D Measured S-CRTM"):
             * an EV_S_CRTM_CONTENTS before PCR 0's separator is not a disguised one. */
            if (e->pcr != 0 || e->type != POSTURE_EV_S_CRTM_CONTENTS || (sb->separators & 1u)) {
                if (digest_is_separator(log, sep, e))
                    return sb_refuse(problem, POSTURE_EVENTLOG_SEPARATOR_DISGUISED, e);
            }
        }

        if (e->type == POSTURE_EV_EFI_ACTION) {
            r = digests_match_data(log, mds, e);
            if (r < 0)
                return r;
            if (r == 0)
                return sb_refuse(problem, POSTURE_EVENTLOG_DIGEST_MISMATCH, e);
            /* A re-typed DRIVER_CONFIG passes the digest rule (its digest is H(data) too): an
             * action must also read as one. */
            if (e->pcr <= 7 && !action_is_text(e))
                return sb_refuse(problem, POSTURE_EVENTLOG_ACTION_DATA, e);
        }

        if (e->pcr == 7) {
            r = rule_pcr7(log, mds, sb, e, problem);
            if (r < 0)
                return r;
        } else if (e->pcr == 4) {
            if (!pcr4_type_allowed(e->type))
                return sb_refuse(problem, POSTURE_EVENTLOG_PCR4_EVENT_TYPE, e);
            if (e->type == POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION ||
                e->type == POSTURE_EV_EFI_BOOT_SERVICES_DRIVER)
                sb->boot_apps[sb->n_boot_apps++] = e->index;
            else if (e->type == POSTURE_EV_EFI_ACTION &&
                     action_is(e, "Calling EFI Application from Boot Option"))
                sb->calling_efi_application = true;
        } else if (e->pcr == 5 && e->type == POSTURE_EV_EFI_ACTION &&
                   action_is(e, "Exit Boot Services Invocation"))
            sb->exit_boot_services = true;
    }

    for (unsigned pcr = 0; pcr <= 7; pcr++)
        if (!(sb->separators & (1u << pcr)))
            return sb_refuse(problem, POSTURE_EVENTLOG_SEPARATOR_MISSING, NULL);

    if (sb->secure_boot_var >= 0) {
        const struct posture_eventlog_variable *v = &sb->config[sb->secure_boot_var];

        if (v->data_len == 0) {
            warn(sb, POSTURE_EVENTLOG_WARN_SECURE_BOOT_EMPTY, v->event);
        } else if (v->data_len != 1 || v->data[0] > 1) {
            const struct posture_eventlog_event *e = NULL;
            for (size_t i = 0; i < log->n_events; i++)
                if (log->events[i].index == v->event)
                    e = &log->events[i];
            return sb_refuse(problem, POSTURE_EVENTLOG_SECURE_BOOT_VALUE, e);
        } else {
            sb->secure_boot = v->data[0];
            if (sb->secure_boot == 0)
                warn(sb, POSTURE_EVENTLOG_WARN_SECURE_BOOT_DISABLED, v->event);
        }
    } else
        warn(sb, POSTURE_EVENTLOG_WARN_SECURE_BOOT_MISSING, -1);

    if (sb->dbx < 0 || sb->config[sb->dbx].data_len == 0)
        warn(sb, POSTURE_EVENTLOG_WARN_DBX_MISSING,
             sb->dbx >= 0 ? (int64_t) sb->config[sb->dbx].event : -1);
    if (!sb->exit_boot_services)
        warn(sb, POSTURE_EVENTLOG_WARN_NO_EXIT_BOOT_SERVICES, -1);

    return 0;
}

int posture_eventlog_secure_boot(const struct posture_eventlog *log,
                                 struct posture_eventlog_secure_boot **ret,
                                 struct posture_eventlog_problem *reterr)
{
    posture_auto_eventlog_secure_boot struct posture_eventlog_secure_boot *sb = NULL;
    struct posture_eventlog_problem problem = { 0 };
    EVP_MD *mds[POSTURE_EVENTLOG_MAX_BANKS] = { NULL };
    size_t n = log && log->n_events > 0 ? log->n_events : 1;
    int r;

    POSTURE_RETURN_IF_FAIL(log && ret, -EINVAL);

    sb = calloc(1, sizeof(*sb));
    if (!sb)
        return -ENOMEM;
    sb->secure_boot = -1;
    sb->secure_boot_var = sb->pk = sb->kek = sb->db = sb->dbx = -1;
    /* Upper bounds: every record could be one of these. */
    sb->config = calloc(n, sizeof(*sb->config));
    sb->authorities = calloc(n, sizeof(*sb->authorities));
    sb->boot_apps = calloc(n, sizeof(*sb->boot_apps));
    if (!sb->config || !sb->authorities || !sb->boot_apps)
        return -ENOMEM;

    r = mds_fetch(log, mds);
    if (r >= 0)
        r = appraise(log, mds, sb, &problem);
    mds_free(mds);
    if (r < 0) {
        if (r == -EBADMSG && reterr)
            *reterr = problem;
        return r;
    }
    *ret = POSTURE_TAKE_PTR(sb);
    return 0;
}

struct posture_eventlog_secure_boot *
posture_eventlog_secure_boot_free(struct posture_eventlog_secure_boot *sb)
{
    if (!sb)
        return NULL;
    free(sb->config);
    free(sb->authorities);
    free(sb->boot_apps);
    free(sb);
    return NULL;
}
