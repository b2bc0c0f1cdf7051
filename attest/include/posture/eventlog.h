/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * TCG PC Client firmware event log (binary_bios_measurements): strict parser, replay per bank
 * and Secure Boot facts (ATTESTATION.md §2.4, §5.4 steps 11-13). A pure library: no TPM, no
 * I/O, no logging above debug. Used by the agent (self-check) and the verifier.
 *
 * Two formats:
 *  - crypto-agile: a first SHA-1-format record (PCR 0, EV_NO_ACTION, zero digest) carrying
 *    "Spec ID Event03" with the algorithm table, then TCG_PCR_EVENT2 records with one digest
 *    per algorithm of the table;
 *  - SHA-1 legacy: TCG_PCClientPCREvent records only (one SHA-1 digest each).
 * Every number in the log is little-endian.
 *
 * Use: posture_eventlog_parse() (structure + replay, step 11-12), compare the PCRs the TPM
 * quoted with posture_eventlog_pcr() / posture_eventlog_compare_pcr(), then
 * posture_eventlog_secure_boot() (step 13 rules and the facts). A problem is reported as a
 * -EBADMSG return plus a struct posture_eventlog_problem: a reason code and the record index.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posture/cleanup.h"

#define POSTURE_EVENTLOG_MAX_SIZE       ((size_t) 1024u * 1024u) /* whole log */
#define POSTURE_EVENTLOG_MAX_EVENTS     10000u                   /* records, header included */
#define POSTURE_EVENTLOG_MAX_EVENT_SIZE (64u * 1024u)            /* EventSize of one record */
#define POSTURE_EVENTLOG_MAX_BANKS      5u                       /* numberOfAlgorithms */
#define POSTURE_EVENTLOG_MAX_DIGEST     64u                      /* bytes of the largest digest */
#define POSTURE_EVENTLOG_PCRS           24u
#define POSTURE_EVENTLOG_MAX_WARNINGS   16u

/* TPM2_ALG_ID values of the banks we replay (others may be declared, they are not replayed). */
#define POSTURE_TPM_ALG_SHA1   0x0004u
#define POSTURE_TPM_ALG_SHA256 0x000bu
#define POSTURE_TPM_ALG_SHA384 0x000cu
#define POSTURE_TPM_ALG_SHA512 0x000du

/* Event types (PFP §10.4.1) the parser and the rules name. */
#define POSTURE_EV_PREBOOT_CERT                  0x00000000u
#define POSTURE_EV_POST_CODE                     0x00000001u
#define POSTURE_EV_UNUSED                        0x00000002u
#define POSTURE_EV_NO_ACTION                     0x00000003u
#define POSTURE_EV_SEPARATOR                     0x00000004u
#define POSTURE_EV_ACTION                        0x00000005u
#define POSTURE_EV_S_CRTM_CONTENTS               0x00000007u
#define POSTURE_EV_S_CRTM_VERSION                0x00000008u
#define POSTURE_EV_IPL                           0x0000000du
#define POSTURE_EV_EFI_VARIABLE_DRIVER_CONFIG    0x80000001u
#define POSTURE_EV_EFI_VARIABLE_BOOT             0x80000002u
#define POSTURE_EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define POSTURE_EV_EFI_BOOT_SERVICES_DRIVER      0x80000004u
#define POSTURE_EV_EFI_RUNTIME_SERVICES_DRIVER   0x80000005u
#define POSTURE_EV_EFI_GPT_EVENT                 0x80000006u
#define POSTURE_EV_EFI_ACTION                    0x80000007u
#define POSTURE_EV_EFI_PLATFORM_FIRMWARE_BLOB    0x80000008u
#define POSTURE_EV_EFI_HANDOFF_TABLES            0x80000009u
#define POSTURE_EV_EFI_HCRTM_EVENT               0x80000010u
#define POSTURE_EV_EFI_VARIABLE_AUTHORITY        0x800000e0u

/* Why a log was refused. The string table gives the stable kebab-case names. */
enum posture_eventlog_reason {
    POSTURE_EVENTLOG_OK = 0,
    /* structure (step 11) */
    POSTURE_EVENTLOG_TOO_LARGE,        /* input > POSTURE_EVENTLOG_MAX_SIZE */
    POSTURE_EVENTLOG_EMPTY,            /* no record at all */
    POSTURE_EVENTLOG_TRUNCATED,        /* a record ends past the end of the input */
    POSTURE_EVENTLOG_EVENT_SIZE,       /* EventSize > remaining bytes or > 64 KiB */
    POSTURE_EVENTLOG_TOO_MANY_EVENTS,  /* > POSTURE_EVENTLOG_MAX_EVENTS */
    POSTURE_EVENTLOG_SPEC_ID,          /* malformed Spec ID Event03 header */
    POSTURE_EVENTLOG_ALGORITHMS,       /* numberOfAlgorithms 0 or > 5, duplicate id, or an id
                                          that is not a TCG-registered hash */
    POSTURE_EVENTLOG_DIGEST_SIZE,      /* declared size wrong for a known algorithm, or 0/>64 */
    POSTURE_EVENTLOG_DIGEST_COUNT,     /* TPML_DIGEST_VALUES.count != numberOfAlgorithms */
    POSTURE_EVENTLOG_DIGEST_ALGORITHM, /* a digest of an algorithm not in the header, or twice */
    POSTURE_EVENTLOG_PCR_INDEX,        /* PCRIndex >= 24 */
    POSTURE_EVENTLOG_NO_ACTION_DIGEST, /* EV_NO_ACTION with a non-zero digest */
    POSTURE_EVENTLOG_STARTUP_LOCALITY, /* a second one, not in PCR 0, after PCR 0 was
                                          extended, malformed, or a value not 0 or 3 */
    POSTURE_EVENTLOG_HCRTM,            /* EV_EFI_HCRTM_EVENT not the first PCR 0 measurement */
    /* semantics (step 13) */
    POSTURE_EVENTLOG_DIGEST_MISMATCH,       /* a recomputable digest differs from H(data) */
    POSTURE_EVENTLOG_SEPARATOR_DATA,        /* separator data not 00000000 (and not FFFFFFFF) */
    POSTURE_EVENTLOG_SEPARATOR_ERROR,       /* separator data FFFFFFFF: firmware error */
    POSTURE_EVENTLOG_SEPARATOR_DUPLICATE,   /* a second separator in one of PCR 0-7 */
    POSTURE_EVENTLOG_SEPARATOR_MISSING,     /* PCR 0-7 without a separator */
    POSTURE_EVENTLOG_SEPARATOR_DISGUISED,   /* digest H(00000000) in PCR 0-7, type not separator */
    POSTURE_EVENTLOG_PCR7_EVENT_TYPE,       /* PCR 7 event type outside the allow-list */
    POSTURE_EVENTLOG_PCR7_CONFIG_ORDER,     /* DRIVER_CONFIG after the PCR 7 separator */
    POSTURE_EVENTLOG_PCR7_CONFIG_DUPLICATE, /* the same variable measured twice */
    POSTURE_EVENTLOG_PCR7_AUTHORITY_ORDER,  /* AUTHORITY before the PCR 7 separator */
    POSTURE_EVENTLOG_VARIABLE_DATA,         /* malformed UEFI_VARIABLE_DATA */
    POSTURE_EVENTLOG_SECURE_BOOT_VALUE,     /* SecureBoot length not 0/1 or value not 0/1 */
    POSTURE_EVENTLOG_PCR4_EVENT_TYPE,       /* PCR 4 event type outside the allow-list */
    /* comparison with quoted values */
    POSTURE_EVENTLOG_PCR_MISMATCH, /* replayed PCR differs from the supplied value */
    POSTURE_EVENTLOG_BANK_MISSING, /* the bank asked for is not in the log */
    /* semantics (step 13), added later */
    POSTURE_EVENTLOG_ACTION_DATA, /* EV_EFI_ACTION in PCR 0-7 whose data is not an ASCII string
                                     (e.g. a DRIVER_CONFIG re-typed as an action) */
    POSTURE_EVENTLOG_REASON__MAX,
    POSTURE_EVENTLOG_REASON__INVALID = -22, /* -EINVAL */
};

/* "ok", "too-large", "truncated", ... ; NULL for values out of range. */
const char *posture_eventlog_reason_to_string(enum posture_eventlog_reason r);

/* A refusal: reason and where. event is the record index (0 = first record, the Spec ID header
 * in a crypto-agile log), -1 when the problem is not tied to one record; offset is the byte
 * offset of that record in the input. */
struct posture_eventlog_problem {
    enum posture_eventlog_reason reason;
    int64_t event;
    size_t offset;
};

enum posture_eventlog_format {
    POSTURE_EVENTLOG_FORMAT_CRYPTO_AGILE,
    POSTURE_EVENTLOG_FORMAT_SHA1_LEGACY,
};

struct posture_eventlog_bank {
    uint16_t alg;         /* TPM2_ALG_ID */
    uint16_t digest_size; /* bytes, as declared in the Spec ID header (20 in a legacy log) */
    bool replayed;        /* a known hash: pcrs[] holds the replay; false: declared only */
    uint8_t pcrs[POSTURE_EVENTLOG_PCRS][POSTURE_EVENTLOG_MAX_DIGEST];
};

struct posture_eventlog_event {
    uint32_t index; /* record number in the file (0 = first) */
    size_t offset;  /* byte offset of the record */
    uint32_t pcr;
    uint32_t type;
    /* digests[b] is the digest for bank b (log->banks[b]), digest_size bytes; points into the
     * log's copy of the input. */
    const uint8_t *digests[POSTURE_EVENTLOG_MAX_BANKS];
    const uint8_t *data; /* EventSize bytes (NULL when 0) */
    uint32_t data_len;
};

struct posture_eventlog {
    enum posture_eventlog_format format;
    size_t n_banks;
    struct posture_eventlog_bank banks[POSTURE_EVENTLOG_MAX_BANKS];
    size_t n_events; /* every record, header and EV_NO_ACTION included */
    struct posture_eventlog_event *events;
    int startup_locality; /* -1: no StartupLocality event */
    bool hcrtm;           /* PCR 0 started from H-CRTM (00..04) */
    uint32_t extended;    /* bit i: PCR i was extended at least once */
    uint8_t *raw;         /* private copy of the input */
    size_t raw_len;
};

/*
 * Parse and replay a log of len bytes (copied; buf may be freed afterwards). On success
 * *ret is a new log (posture_eventlog_free()). Errors: -EBADMSG when the log is refused (*reterr,
 * when not NULL, says why and where), -ENOMEM, -EIO (OpenSSL). reterr is written on failure
 * only.
 */
int posture_eventlog_parse(const void *buf,
                           size_t len,
                           struct posture_eventlog **ret,
                           struct posture_eventlog_problem *reterr);
struct posture_eventlog *posture_eventlog_free(struct posture_eventlog *log);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_eventlog *, posture_eventlog_free)
#define posture_auto_eventlog POSTURE_CLEANUP(posture_eventlog_freep)

/* The bank of alg, NULL when the log has none. */
const struct posture_eventlog_bank *posture_eventlog_bank(const struct posture_eventlog *log,
                                                          uint16_t alg);
/* "sha1", "sha256", "sha384", "sha512"; NULL for other ids. */
const char *posture_eventlog_alg_name(uint16_t alg);
/* Replayed value of pcr in bank alg (digest size bytes). -ENOENT when the bank is absent or was
 * not replayed, -EINVAL for pcr >= 24. */
int posture_eventlog_pcr(const struct posture_eventlog *log,
                         uint16_t alg,
                         unsigned pcr,
                         const uint8_t **ret,
                         size_t *ret_len);
/* Compare the replayed pcr of bank alg with value (constant time). 0 when equal; -EBADMSG with
 * POSTURE_EVENTLOG_PCR_MISMATCH (wrong value or length) or _BANK_MISSING in *reterr. */
int posture_eventlog_compare_pcr(const struct posture_eventlog *log,
                                 uint16_t alg,
                                 unsigned pcr,
                                 const uint8_t *value,
                                 size_t len,
                                 struct posture_eventlog_problem *reterr);

/* Warnings: facts that policy weighs, not refusals. */
enum posture_eventlog_warning {
    POSTURE_EVENTLOG_WARN_SHA1_LEGACY,           /* SHA-1-only log: no SHA-256 bank */
    POSTURE_EVENTLOG_WARN_BANK_NOT_REPLAYED,     /* a declared algorithm we cannot hash */
    POSTURE_EVENTLOG_WARN_NO_EXIT_BOOT_SERVICES, /* PCR 4 applications cannot be trusted */
    POSTURE_EVENTLOG_WARN_SECURE_BOOT_EMPTY,     /* SecureBoot measured with 0 bytes */
    POSTURE_EVENTLOG_WARN_SECURE_BOOT_MISSING,   /* no SecureBoot variable in PCR 7 */
    POSTURE_EVENTLOG_WARN_DEBUG_MODE,            /* "UEFI Debug Mode": contraindicated */
    POSTURE_EVENTLOG_WARN_DMA_PROTECTION_OFF,    /* "DMA Protection Disabled" */
    POSTURE_EVENTLOG_WARN_DBX_MISSING,           /* no dbx, or an empty one */
    POSTURE_EVENTLOG_WARN_FOREIGN_GUID,          /* SB variable name under another GUID */
    POSTURE_EVENTLOG_WARN_SECURE_BOOT_DISABLED,  /* SecureBoot measured as 0 */
    POSTURE_EVENTLOG_WARNING__MAX,
    POSTURE_EVENTLOG_WARNING__INVALID = -22,
};
const char *posture_eventlog_warning_to_string(enum posture_eventlog_warning w);

/* A UEFI variable measured in PCR 7 (DRIVER_CONFIG or AUTHORITY); data points into the log. */
struct posture_eventlog_variable {
    uint32_t event;   /* record index */
    uint8_t guid[16]; /* EFI_GUID as on the wire (first three fields little-endian) */
    char name[65];    /* UnicodeName as UTF-8 ("?" for characters outside ASCII) */
    const uint8_t *data;
    uint64_t data_len;
};

/* Secure Boot facts (ATTESTATION.md §2.4, §5.4 step 13). Arrays are owned by the struct. */
struct posture_eventlog_secure_boot {
    int secure_boot; /* 1 enabled, 0 disabled, -1 unknown (missing or 0-byte variable) */
    /* Index into config[] of SecureBoot, PK, KEK, db and dbx; -1 when not measured. */
    int secure_boot_var, pk, kek, db, dbx;
    size_t n_config; /* every PCR 7 DRIVER_CONFIG, in log order */
    struct posture_eventlog_variable *config;
    size_t n_authorities; /* PCR 7 EV_EFI_VARIABLE_AUTHORITY, in log order */
    struct posture_eventlog_variable *authorities;
    uint8_t separators;           /* bit i: PCR i (0-7) has its separator */
    bool exit_boot_services;      /* PCR 5 "Exit Boot Services Invocation", digest verified */
    bool calling_efi_application; /* PCR 4 "Calling EFI Application from Boot Option" */
    bool debug_mode;
    bool dma_protection_disabled;
    /* Record indexes of the PCR 4 images: EV_EFI_BOOT_SERVICES_APPLICATION, and
     * EV_EFI_BOOT_SERVICES_DRIVER too, so that an application re-typed as a driver is still
     * listed for the policy's allow-list. */
    size_t n_boot_apps;
    uint32_t *boot_apps;
    size_t n_warnings;
    struct {
        enum posture_eventlog_warning code;
        int64_t event; /* -1 when not tied to a record */
    } warnings[POSTURE_EVENTLOG_MAX_WARNINGS];
};

/*
 * Apply the step 13 rules to a parsed log and extract the facts: exactly one separator in each
 * of PCR 0-7 (data 00000000, digest H(data)), no disguised separator (an event of another type
 * with the digest H(00000000); Boot Guard's EV_S_CRTM_CONTENTS before PCR 0's separator is
 * exempt), PCR 7 types limited to
 * DRIVER_CONFIG/AUTHORITY/SEPARATOR/EFI_ACTION with DRIVER_CONFIG before and AUTHORITY after
 * the separator and each variable once, recomputable digests (separator, EFI_ACTION,
 * DRIVER_CONFIG) equal to H(data) in every replayed bank, EV_EFI_ACTION data in PCR 0-7 an ASCII
 * string, PCR 4 types limited to EFI_ACTION,
 * boot-services application/driver, separator and EV_NO_ACTION. On success *ret is new
 * (posture_eventlog_secure_boot_free()); its variable data points into log, which must outlive
 * it. Errors: -EBADMSG with *reterr (written on failure only), -ENOMEM, -EIO.
 */
int posture_eventlog_secure_boot(const struct posture_eventlog *log,
                                 struct posture_eventlog_secure_boot **ret,
                                 struct posture_eventlog_problem *reterr);
struct posture_eventlog_secure_boot *
posture_eventlog_secure_boot_free(struct posture_eventlog_secure_boot *sb);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_eventlog_secure_boot *,
                                    posture_eventlog_secure_boot_free)
#define posture_auto_eventlog_secure_boot POSTURE_CLEANUP(posture_eventlog_secure_boot_freep)

/* GUID as text "8be4df61-93ca-11d2-aa0d-00e098032b8c"; buf must hold 37 bytes. */
const char *posture_eventlog_guid_to_string(const uint8_t guid[16], char buf[static 37]);
