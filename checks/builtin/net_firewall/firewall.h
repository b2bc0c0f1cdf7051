/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * The firewall model behind net.firewall: rulesets read from nftables (libnftables JSON) and
 * from iptables (iptables-save text, legacy or nft) become chains of rules, and a pure evaluator
 * decides per address family whether new inbound traffic is denied by default. Unit tests and
 * fuzz targets call the parsers and the evaluator directly.
 *
 * What is evaluated: four "generic packets", a new TCP connection and a new UDP flow for each of
 * IPv4 and IPv6 (the probes), arriving from a non-loopback interface at any address and port.
 * Each rule is classified per probe as NEVER matching it (ct state established, iifname "lo",
 * an ip6 match in IPv4, a udp match for TCP, icmp, ...), ALWAYS matching it (no matches, only
 * counter/log, ct state new, iifname != "lo", a /0 prefix, meta nfproto of the family, meta
 * l4proto / -p of the protocol), or MAYBE (anything narrower or opaque: ports, addresses, sets,
 * iptables-nft "xt" matches, limits). A MAYBE rule that accepts is an exception (an open port,
 * a trusted interface) and does not make the chain open; a MAYBE rule that returns or jumps is
 * followed both ways. A base chain denies a probe by default when no path of it reaches an
 * ALWAYS accept, and every path that returns to the base chain meets policy drop or ends in an
 * ALWAYS drop/reject. A family is denied when both its TCP and its UDP probe are.
 *
 * Which chains count: base chains of type "filter" on hook "input" in the families inet (both
 * address families), ip (IPv4) and ip6 (IPv6), from nftables and from iptables-legacy (the
 * *filter INPUT chain). At one hook every base chain sees the packet in priority order; an
 * accept only ends the chain it is in while a drop is final, so a family is denied when at
 * least one of its input chains denies, whatever the others do. Ingress chains (netdev, inet)
 * are bound to named devices and do not cover interfaces that appear later (Wi-Fi, VPN,
 * tethering), and prerouting chains are not looked at: neither can make a family pass, which
 * errs on the side of a false FAIL.
 *
 * Known limit: a MAYBE accept is trusted to be narrow. Accepts that are each conditional but
 * together cover everything (ip saddr 0.0.0.0/1 plus 128.0.0.0/1, tcp dport 1-65535, a verdict
 * map listing every port), and iptables-nft "xt" matches when iptables-nft-save cannot be run,
 * pass as exceptions.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bounds (every input is bounded). A 10,000-rule ruleset is about 3 MiB of JSON. */
#define POSTURE_FW_JSON_MAX       ((size_t) 64 * 1024 * 1024) /* bytes of nft JSON */
#define POSTURE_FW_JSON_DEPTH_MAX 64u                         /* nesting of nft JSON */
#define POSTURE_FW_SAVE_MAX       ((size_t) 16 * 1024 * 1024) /* bytes of iptables-save output */
#define POSTURE_FW_CHAINS_MAX     ((size_t) 65536)            /* chains of one ruleset */
#define POSTURE_FW_RULES_MAX      ((size_t) 1048576)          /* model rules of one ruleset */
#define POSTURE_FW_VMAP_MAX       ((size_t) 65536)            /* elements of one verdict map */
/* Jumps followed from a base chain; the kernel allows 16 nested jumps. Deeper is "unknown". */
#define POSTURE_FW_JUMP_DEPTH_MAX 16u
#define POSTURE_FW_SHA256_LEN     32u

enum posture_fw_af {
    POSTURE_FW_IPV4,
    POSTURE_FW_IPV6,
    POSTURE_FW_AF__MAX,
};

enum posture_fw_l4 {
    POSTURE_FW_TCP,
    POSTURE_FW_UDP,
    POSTURE_FW_L4__MAX,
};

/* The probes: index af * POSTURE_FW_L4__MAX + l4. */
#define POSTURE_FW_PROBES          (POSTURE_FW_AF__MAX * POSTURE_FW_L4__MAX)
#define POSTURE_FW_PROBE(af, l4)   ((af) *POSTURE_FW_L4__MAX + (l4))
#define POSTURE_FW_PROBE_AF(probe) ((enum posture_fw_af)((probe) / POSTURE_FW_L4__MAX))
#define POSTURE_FW_PROBE_L4(probe) ((enum posture_fw_l4)((probe) % POSTURE_FW_L4__MAX))

/* Whether a rule matches the generic packet (see above). */
enum posture_fw_match {
    POSTURE_FW_NEVER,
    POSTURE_FW_ALWAYS,
    POSTURE_FW_MAYBE,
};

enum posture_fw_verdict {
    POSTURE_FW_V_NONE,    /* no verdict: on to the next rule (counter, log, continue) */
    POSTURE_FW_V_ACCEPT,  /* accept (ends this base chain only) */
    POSTURE_FW_V_DROP,    /* drop or reject (final) */
    POSTURE_FW_V_RETURN,  /* back to the calling chain; in a base chain the policy applies */
    POSTURE_FW_V_JUMP,    /* to target, then back */
    POSTURE_FW_V_GOTO,    /* to target, not back */
    POSTURE_FW_V_QUEUE,   /* to a userspace program, which decides: counted as accept */
    POSTURE_FW_V_UNKNOWN, /* a target or statement whose effect is unknown (label names it) */
};

struct posture_fw_rule {
    uint8_t match[POSTURE_FW_PROBES]; /* enum posture_fw_match, per probe */
    uint8_t verdict;                  /* enum posture_fw_verdict */
    uint32_t target;                  /* chain index, for JUMP and GOTO */
    uint64_t handle;                  /* nft rule handle, or the line number of iptables-save */
    char *label; /* jump/goto target name (until resolved) or the unknown target; may be NULL */
};

struct posture_fw_chain {
    char *family; /* "inet", "ip", "ip6", "netdev", ... */
    char *table;
    char *name;
    char *hook; /* base chains only, else NULL */
    char *type; /* base chains: "filter", "nat", ...; iptables-legacy: the table */
    int64_t prio;
    uint8_t policy;  /* base chains: POSTURE_FW_V_ACCEPT or POSTURE_FW_V_DROP */
    bool superseded; /* read better from iptables-nft-save: not evaluated here */
    struct posture_fw_rule *rules;
    size_t n_rules;
    size_t cap_rules;
};

enum posture_fw_source {
    POSTURE_FW_SOURCE_NFTABLES,
    POSTURE_FW_SOURCE_IPTABLES_LEGACY,  /* iptables-legacy-save */
    POSTURE_FW_SOURCE_IP6TABLES_LEGACY, /* ip6tables-legacy-save */
    POSTURE_FW_SOURCE_IPTABLES_NFT,     /* iptables-nft-save: nftables tables, readable */
    POSTURE_FW_SOURCE_IP6TABLES_NFT,    /* ip6tables-nft-save */
};

struct posture_fw_ruleset {
    enum posture_fw_source source;
    struct posture_fw_chain *chains;
    size_t n_chains;
    size_t cap_chains;
    size_t n_tables;
    size_t n_rules;           /* rules as listed (a verdict map counts once) */
    size_t n_model_rules;     /* rules kept in chains (verdict maps expanded), internal */
    bool has_ufw_chains;      /* chains named ufw-* or ufw6-* */
    bool has_firewalld_table; /* a table named "firewalld" */
    /* iptables-nft "xt" expressions (opaque in JSON) in tables of family ip / ip6 */
    bool has_xt[POSTURE_FW_AF__MAX];
    uint8_t sha256[POSTURE_FW_SHA256_LEN]; /* of the canonical text, see the parsers */
    size_t *index;                         /* chains sorted by (family, table, name), internal */
};

/*
 * Parse `nft -j list ruleset` output (libnftables JSON, schema 1) of len bytes. Objects other
 * than tables, chains, rules and verdict maps are skipped; unknown statements in rules become
 * POSTURE_FW_V_UNKNOWN. sha256 covers a canonical form: the JSON re-printed compactly without
 * the metainfo object, rule/chain/table handles, counter values, quota usage, element expiry
 * times and the elements of dynamic sets, so reloading the same ruleset gives the same digest.
 * Errors: -E2BIG (beyond POSTURE_FW_JSON_MAX or a POSTURE_FW_*_MAX bound), -EBADMSG (not JSON,
 * or not an {"nftables": [...]} document), -ENOMEM, -EIO (digest). On success the caller
 * releases *ret with posture_fw_ruleset_done().
 */
int posture_fw_parse_nft_json(const char *buf, size_t len, struct posture_fw_ruleset *ret);

/*
 * Parse iptables-save / ip6tables-save output (source says which: legacy or nft). Every table is
 * read and its
 * rules counted; builtin chains get hook = the lowercased chain name and type = the table.
 * Lines that are none of "*table", ":chain policy [p:b]", "-A chain ...", "COMMIT", comments or
 * blank are skipped. sha256 covers the text without comment lines and without the [p:b]
 * counters of chain lines. Errors: -E2BIG, -EBADMSG (a NUL byte), -ENOMEM, -EIO.
 */
int posture_fw_parse_iptables_save(const char *buf,
                                   size_t len,
                                   enum posture_fw_source source,
                                   struct posture_fw_ruleset *ret);

/*
 * iptables-nft keeps its rules in nftables tables of family ip/ip6, where matches it could not
 * express natively show as opaque "xt" statements. When the same tables were read from
 * iptables-nft-save (save: source IPTABLES_NFT or IP6TABLES_NFT), mark the chains of those
 * (family, table) pairs in nft as superseded so that only the readable copy is evaluated.
 * Returns the number of chains marked.
 */
size_t posture_fw_ruleset_supersede(struct posture_fw_ruleset *nft,
                                    const struct posture_fw_ruleset *save);

/* Free the contents of rs and zero it. NULL-safe, idempotent. */
void posture_fw_ruleset_done(struct posture_fw_ruleset *rs);

/* Why a base chain denies the generic packet of one address family, or does not. */
enum posture_fw_outcome {
    POSTURE_FW_NOT_APPLICABLE, /* the chain does not see this address family */
    POSTURE_FW_DENY_POLICY,    /* what no rule settles meets policy drop */
    POSTURE_FW_DENY_RULE,      /* every path ends in an unconditional drop or reject */
    POSTURE_FW_OPEN_ACCEPT,    /* an unconditional accept is reached (at_chain, at_handle) */
    POSTURE_FW_OPEN_POLICY,    /* the generic packet reaches policy accept */
    POSTURE_FW_OPEN_UNKNOWN,   /* an unknown target, a queue, a loop or too deep a jump */
};

struct posture_fw_finding {
    uint8_t outcome;      /* enum posture_fw_outcome */
    uint8_t open_l4;      /* OPEN_*: bit (1 << l4) for each protocol that is open */
    size_t at_chain;      /* OPEN_ACCEPT/OPEN_UNKNOWN: the chain of the rule; else the base chain */
    uint64_t at_handle;   /* OPEN_ACCEPT/OPEN_UNKNOWN: the rule's handle; else 0 */
    const char *at_label; /* OPEN_UNKNOWN: the target, borrowed from the ruleset; may be NULL */
};

/* One input base chain that counts (see above), in priority order. af[] combines the TCP and
 * UDP probes of a family: open if either is. */
struct posture_fw_chain_report {
    const struct posture_fw_ruleset *rs; /* borrowed */
    size_t chain;
    struct posture_fw_finding af[POSTURE_FW_AF__MAX];
    size_t order; /* internal: position before sorting by priority */
};

struct posture_fw_af_verdict {
    bool denied;      /* inbound traffic of this family is denied by default */
    bool disabled;    /* IPv6 is disabled: denied without a chain */
    size_t n_chains;  /* input base chains that see this family */
    ssize_t decisive; /* index into chains[]: the first denying chain, else the first chain; -1 */
};

struct posture_fw_report {
    struct posture_fw_af_verdict af[POSTURE_FW_AF__MAX];
    struct posture_fw_chain_report *chains;
    size_t n_chains;
};

/*
 * Evaluate rulesets (nftables and iptables-legacy ones; all see the same packets). Pure: no I/O.
 * ipv6_disabled makes IPv6 denied. Returns 0 or -ENOMEM; the caller releases *ret with
 * posture_fw_report_done(). The report borrows the rulesets: keep them alive while using it.
 */
int posture_fw_evaluate(const struct posture_fw_ruleset *const *rulesets,
                        size_t n,
                        bool ipv6_disabled,
                        struct posture_fw_report *ret);
void posture_fw_report_done(struct posture_fw_report *r);

/* "inet filter input", or "iptables-legacy filter INPUT", into buf (truncated to fit). */
const char *
posture_fw_chain_name(const struct posture_fw_ruleset *rs, size_t chain, char *buf, size_t len);

/* "IPv4" / "IPv6". */
const char *posture_fw_af_name(enum posture_fw_af af);

/*
 * One sentence saying why af is not denied (or, when it is, what denies it), for the check's
 * reason: "IPv6 inbound traffic is accepted: no input chain for ip6/inet", ... Writes into buf
 * (truncated to fit) and returns it.
 */
const char *
posture_fw_explain(const struct posture_fw_report *r, enum posture_fw_af af, char *buf, size_t len);

/* SHA-256 of len bytes (OpenSSL EVP). -EIO when the digest fails. */
int posture_fw_sha256(const void *data, size_t len, uint8_t ret[POSTURE_FW_SHA256_LEN]);

/* ---- Building rulesets (shared by the parsers) ---- */

/* Append a chain (copies the strings); *ret is its index. -E2BIG beyond POSTURE_FW_CHAINS_MAX. */
int posture_fw_ruleset_add_chain(struct posture_fw_ruleset *rs,
                                 const char *family,
                                 const char *table,
                                 const char *name,
                                 size_t *ret);
/* Append a copy of *rule to a chain, taking ownership of rule->label on success (the field is
 * set to NULL). -E2BIG beyond POSTURE_FW_RULES_MAX. */
int posture_fw_ruleset_add_rule(struct posture_fw_ruleset *rs,
                                size_t chain,
                                struct posture_fw_rule *rule);
/* Sort the chain index; call after the last chain was added and before _find(). */
int posture_fw_ruleset_index(struct posture_fw_ruleset *rs);
/* Index of the chain, or -ENOENT. */
ssize_t posture_fw_ruleset_find(const struct posture_fw_ruleset *rs,
                                const char *family,
                                const char *table,
                                const char *name);
/* Resolve JUMP/GOTO labels to chains of the same family and table; an unknown target becomes
 * POSTURE_FW_V_UNKNOWN (keeping its label). Needs the index. */
void posture_fw_ruleset_resolve(struct posture_fw_ruleset *rs);
/* Verdict of an iptables target name (ACCEPT, DROP, REJECT, RETURN, QUEUE, NFQUEUE, LOG, MARK,
 * ...): POSTURE_FW_V_NONE for targets that do not end the rule set traversal, -ENOENT when the
 * name is not a builtin target (a chain, or something unknown). */
int posture_fw_xt_target_verdict(const char *name);
/* AND of two match classifications. */
enum posture_fw_match posture_fw_match_and(enum posture_fw_match a, enum posture_fw_match b);
