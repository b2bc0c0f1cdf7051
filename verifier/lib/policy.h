/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Appraisal policies (DESIGN.md §5, docs/policy.md): JSON documents with an id, a version,
 * device-level requirements and one rule per check. The verifier recomputes every check's
 * verdict from the check's evidence with these rules; the agent's status never decides.
 *
 *   { "id": "baseline", "version": "2026.11.1", "description": "...",
 *     "max_age": "15m",                          default per-check observed_at freshness
 *     "allow_warning": true,                     may a "warning" verdict pass (default true)
 *     "device": { "trust_tier": "software" | "hardware",
 *                 "secure_boot": true,           SecureBoot=1 in the TPM event log
 *                 "pcr_quote": true,             accepted TPM evidence required
 *                 "pk_sha256": ["<hex>", ...],   every PK certificate on this list
 *                 "db_sha256": ["<hex>", ...] }, every db X.509 certificate on this list
 *     "checks": {
 *       "<check id>": { "required": true, "max_age": "15m", "grace": "24h",
 *                       "report_only": false, "report_only_until": "2026-12-31",
 *                       "remediation": "...",
 *                       "decidable": [COND...],       all hold, else error (first)
 *                       "evidence": [COND...],        all hold, else fail
 *                       "not_applicable": [COND...],  all hold: not_applicable
 *                       "warn": [COND...] } } }       all hold, else warn
 *
 *   COND = { "path": "/json/pointer", "op": OP, "value": V, "missing": "error"|"fail"|"hold" }
 *
 * Parsing is strict: unknown members, wrong types, duplicate keys, bad durations and digests are
 * refused, each with a message naming the file, the member (as a JSON pointer into the policy)
 * and the problem. Sizes are bounded (POSTURE_POLICY_*_MAX).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "posture/cleanup.h"

#define POSTURE_POLICY_FILE_MAX        ((size_t) 256 * 1024)
#define POSTURE_POLICY_JSON_DEPTH      12
#define POSTURE_POLICY_ID_MAX          64 /* [a-z0-9._-], the file name without .json */
#define POSTURE_POLICY_VERSION_MAX     64
#define POSTURE_POLICY_TEXT_MAX        1024 /* description, remediation */
#define POSTURE_POLICY_RULES_MAX       128
#define POSTURE_POLICY_CONDS_MAX       64 /* per list */
#define POSTURE_POLICY_POINTER_MAX     256
#define POSTURE_POLICY_POINTER_DEPTH   16
#define POSTURE_POLICY_IN_MAX          256 /* elements of an in / not_in value */
#define POSTURE_POLICY_DIGESTS_MAX     256 /* pk_sha256, db_sha256 entries */
#define POSTURE_POLICY_DIR_MAX         64  /* policies in one directory */
#define POSTURE_POLICY_ERROR_MAX       512 /* message buffer */
#define POSTURE_POLICY_DURATION_MAX_S  (366ULL * 24 * 3600)
#define POSTURE_POLICY_DEFAULT_MAX_AGE ((uint64_t) 15 * 60) /* seconds (GATEWAYS.md §5) */

enum posture_policy_op {
    POSTURE_POLICY_OP_EQ, /* deep equality with value (any JSON) */
    POSTURE_POLICY_OP_NE, /* not eq */
    POSTURE_POLICY_OP_LT, /* numbers */
    POSTURE_POLICY_OP_LE,
    POSTURE_POLICY_OP_GT,
    POSTURE_POLICY_OP_GE,
    POSTURE_POLICY_OP_IN,         /* value is an array of scalars; the field equals one */
    POSTURE_POLICY_OP_NOT_IN,     /* the field equals none */
    POSTURE_POLICY_OP_EXISTS,     /* present and not null */
    POSTURE_POLICY_OP_ABSENT,     /* missing or null */
    POSTURE_POLICY_OP_TRUE,       /* the boolean true */
    POSTURE_POLICY_OP_FALSE,      /* the boolean false */
    POSTURE_POLICY_OP_NEWER_THAN, /* epoch seconds >= observed_at - value (a duration) */
    POSTURE_POLICY_OP__MAX,
    POSTURE_POLICY_OP__INVALID = -22,
};

const char *posture_policy_op_to_string(enum posture_policy_op op);
enum posture_policy_op posture_policy_op_from_string(const char *s);

/* What a condition means when its path does not resolve (or, for ordering and boolean
 * operators, resolves to null or another type): */
enum posture_policy_missing {
    POSTURE_POLICY_MISSING_ERROR, /* the check could not be decided: error (the default) */
    POSTURE_POLICY_MISSING_FAIL,  /* the condition does not hold */
    POSTURE_POLICY_MISSING_HOLD,  /* the condition holds */
    POSTURE_POLICY_MISSING__MAX,
    POSTURE_POLICY_MISSING__INVALID = -22,
};

struct posture_policy_cond {
    char *path;    /* as written: "/mounts/(star)/encrypted" (RFC 6901; a token "*" means every
                      element) */
    char **tokens; /* unescaped reference tokens; "*" tokens are wildcards (wild[i]) */
    bool *wild;
    size_t n_tokens;
    enum posture_policy_op op;
    cJSON *value;        /* owned; NULL for exists/absent/true/false */
    uint64_t duration_s; /* newer_than */
    enum posture_policy_missing missing;
};

enum posture_policy_tier {
    POSTURE_POLICY_TIER_ANY, /* no requirement */
    POSTURE_POLICY_TIER_SOFTWARE,
    POSTURE_POLICY_TIER_HARDWARE,
};

struct posture_policy_rule {
    char *check_id;
    bool required;             /* the report must carry the check */
    uint64_t max_age_s;        /* observed_at freshness (the policy's max_age when not given) */
    uint64_t grace_s;          /* a newly failing check stays a warning this long; 0: none */
    bool report_only;          /* appraised and shown, never affects the verdict */
    int64_t report_only_until; /* epoch s: report_only until then (staged roll-out); 0: none */
    char *remediation;         /* NULL: the check's own text */
    struct posture_policy_cond *decidable; /* all hold, else error (checked first) */
    size_t n_decidable;
    struct posture_policy_cond *evidence;
    size_t n_evidence;
    struct posture_policy_cond *not_applicable;
    size_t n_not_applicable;
    struct posture_policy_cond *warn;
    size_t n_warn;
};

struct posture_policy {
    char *id;
    char *version;
    char *description;  /* may be NULL */
    uint8_t digest[32]; /* SHA-256 of the file bytes */
    uint64_t max_age_s;
    bool allow_warning; /* a warning verdict passes the gateway (default true) */
    enum posture_policy_tier trust_tier;
    bool secure_boot;
    bool pcr_quote;
    uint8_t (*pk_sha256)[32];
    size_t n_pk_sha256;
    bool has_pk_sha256; /* an empty list allows nothing */
    uint8_t (*db_sha256)[32];
    size_t n_db_sha256;
    bool has_db_sha256;
    struct posture_policy_rule *rules; /* in file order */
    size_t n_rules;
};

struct posture_policy *posture_policy_free(struct posture_policy *p);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_policy *, posture_policy_free)
#define posture_auto_policy POSTURE_CLEANUP(posture_policy_freep)

/*
 * Parse a policy from len bytes (the digest is SHA-256 of exactly these). name is used in
 * messages only (a file name; NULL: "policy"). On -EBADMSG (or -E2BIG for an input over
 * POSTURE_POLICY_FILE_MAX) err, when not NULL, gets "NAME: /member: problem". Other errors:
 * -ENOMEM, -EIO. *ret is new (posture_policy_free()).
 */
int posture_policy_parse(const char *name,
                         const void *buf,
                         size_t len,
                         struct posture_policy **ret,
                         char *err,
                         size_t err_size);

/* Read path (bounded) and parse it. Besides the parse errors: -ENOENT, -EACCES, -EFBIG, ... with
 * err naming the file. */
int posture_policy_load_file(const char *path,
                             struct posture_policy **ret,
                             char *err,
                             size_t err_size);

/* The rule of check_id, NULL when the policy has none. */
const struct posture_policy_rule *posture_policy_rule_find(const struct posture_policy *p,
                                                           const char *check_id);

/* Whether a verdict (enum posture_store_verdict as int) lets a device through under p: affirming
 * always, warning when allow_warning, contraindicated and none never. */
bool posture_policy_allows(const struct posture_policy *p, int verdict);

/* "sha-256:<hex>" of the digest; buf holds at least POSTURE_POLICY_DIGEST_TEXT bytes. */
#define POSTURE_POLICY_DIGEST_TEXT (8 + 64 + 1)
const char *posture_policy_digest_text(const struct posture_policy *p,
                                       char buf[static POSTURE_POLICY_DIGEST_TEXT]);

/* Several named policies: every "*.json" file of a directory ([policy] dir), at most
 * POSTURE_POLICY_DIR_MAX; each file's id must equal its name without ".json". */
struct posture_policy_set {
    struct posture_policy **policies;
    size_t n_policies;
};

struct posture_policy_set *posture_policy_set_free(struct posture_policy_set *s);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_policy_set *, posture_policy_set_free)
#define posture_auto_policy_set POSTURE_CLEANUP(posture_policy_set_freep)

/* Load every policy of dir; any bad file fails the whole load (-EBADMSG, err names it), as a
 * partly loaded set would decide with policies nobody meant. -ENOENT/-ENOTDIR for dir, -E2BIG
 * beyond POSTURE_POLICY_DIR_MAX files, -ENODATA when there is none. */
int posture_policy_set_load_dir(const char *dir,
                                struct posture_policy_set **ret,
                                char *err,
                                size_t err_size);
/* The policy named id, NULL when none. Borrowed. */
const struct posture_policy *posture_policy_set_find(const struct posture_policy_set *s,
                                                     const char *id);

/* ---- evaluation ---------------------------------------------------------------------------- */

enum posture_policy_result {
    POSTURE_POLICY_HOLDS,
    POSTURE_POLICY_FAILS,
    POSTURE_POLICY_UNDECIDED, /* missing value with missing = error */
};

/*
 * Evaluate one condition on an evidence object; observed_at is the check's (for newer_than).
 * With a wildcard, the condition must hold for every element (vacuously for an empty array):
 * any element that fails makes it fail, else any undecided element makes it undecided.
 * why (optional, why_size bytes) gets a short explanation when it does not hold.
 */
enum posture_policy_result posture_policy_cond_eval(const struct posture_policy_cond *c,
                                                    const cJSON *evidence,
                                                    int64_t observed_at,
                                                    char *why,
                                                    size_t why_size);
