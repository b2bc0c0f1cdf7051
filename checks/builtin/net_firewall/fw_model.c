/* SPDX-License-Identifier: Apache-2.0 */
/* The firewall model: chains, rules, the chain index and names (see firewall.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/strutil.h"

#include "firewall.h"

void posture_fw_ruleset_done(struct posture_fw_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n_chains; i++) {
        struct posture_fw_chain *c = &rs->chains[i];
        for (size_t j = 0; j < c->n_rules; j++)
            free(c->rules[j].label);
        free(c->rules);
        free(c->family);
        free(c->table);
        free(c->name);
        free(c->hook);
        free(c->type);
    }
    free(rs->chains);
    free(rs->index);
    *rs = (struct posture_fw_ruleset){ 0 };
}

int posture_fw_ruleset_add_chain(struct posture_fw_ruleset *rs,
                                 const char *family,
                                 const char *table,
                                 const char *name,
                                 size_t *ret)
{
    if (!rs || !family || !table || !name)
        return -EINVAL;
    if (rs->n_chains >= POSTURE_FW_CHAINS_MAX)
        return -E2BIG;
    if (rs->n_chains == rs->cap_chains) {
        size_t cap = rs->cap_chains ? rs->cap_chains * 2 : 16;
        struct posture_fw_chain *n = reallocarray(rs->chains, cap, sizeof(*n));
        if (!n)
            return -ENOMEM;
        rs->chains = n;
        rs->cap_chains = cap;
    }
    struct posture_fw_chain c = {
        .family = strdup(family),
        .table = strdup(table),
        .name = strdup(name),
        .policy = POSTURE_FW_V_ACCEPT,
    };
    if (!c.family || !c.table || !c.name) {
        free(c.family);
        free(c.table);
        free(c.name);
        return -ENOMEM;
    }
    if (strncmp(name, "ufw-", 4) == 0 || strncmp(name, "ufw6-", 5) == 0)
        rs->has_ufw_chains = true;
    rs->chains[rs->n_chains] = c;
    if (ret)
        *ret = rs->n_chains;
    rs->n_chains++;
    return 0;
}

int posture_fw_ruleset_add_rule(struct posture_fw_ruleset *rs,
                                size_t chain,
                                struct posture_fw_rule *rule)
{
    if (!rs || !rule || chain >= rs->n_chains)
        return -EINVAL;
    struct posture_fw_chain *c = &rs->chains[chain];
    if (rs->n_model_rules >= POSTURE_FW_RULES_MAX)
        return -E2BIG;
    if (c->n_rules == c->cap_rules) {
        size_t cap = c->cap_rules ? c->cap_rules * 2 : 8;
        struct posture_fw_rule *n = reallocarray(c->rules, cap, sizeof(*n));
        if (!n)
            return -ENOMEM;
        c->rules = n;
        c->cap_rules = cap;
    }
    c->rules[c->n_rules++] = *rule;
    rs->n_model_rules++;
    rule->label = NULL;
    return 0;
}

static int chain_cmp3(const struct posture_fw_chain *c,
                      const char *family,
                      const char *table,
                      const char *name)
{
    int d = strcmp(c->family, family);
    if (d == 0)
        d = strcmp(c->table, table);
    if (d == 0)
        d = strcmp(c->name, name);
    return d;
}

/* qsort_r comparator over chain indices. */
static int index_cmp(const void *a, const void *b, void *userdata)
{
    const struct posture_fw_ruleset *rs = userdata;
    const struct posture_fw_chain *ca = &rs->chains[*(const size_t *) a];
    const struct posture_fw_chain *cb = &rs->chains[*(const size_t *) b];
    int d = chain_cmp3(ca, cb->family, cb->table, cb->name);
    if (d != 0)
        return d;
    /* Equal keys (only in made-up input): the first added wins the lookup. */
    size_t ia = *(const size_t *) a, ib = *(const size_t *) b;
    return ia < ib ? -1 : ia > ib;
}

int posture_fw_ruleset_index(struct posture_fw_ruleset *rs)
{
    if (!rs)
        return -EINVAL;
    free(rs->index);
    rs->index = NULL;
    if (rs->n_chains == 0)
        return 0;
    rs->index = reallocarray(NULL, rs->n_chains, sizeof(size_t));
    if (!rs->index)
        return -ENOMEM;
    for (size_t i = 0; i < rs->n_chains; i++)
        rs->index[i] = i;
    qsort_r(rs->index, rs->n_chains, sizeof(size_t), index_cmp, rs);
    return 0;
}

ssize_t posture_fw_ruleset_find(const struct posture_fw_ruleset *rs,
                                const char *family,
                                const char *table,
                                const char *name)
{
    if (!rs || !rs->index || !family || !table || !name)
        return -ENOENT;
    size_t lo = 0, hi = rs->n_chains;
    /* Lower bound, so that of equal keys the first added is found. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (chain_cmp3(&rs->chains[rs->index[mid]], family, table, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < rs->n_chains && chain_cmp3(&rs->chains[rs->index[lo]], family, table, name) == 0)
        return (ssize_t) rs->index[lo];
    return -ENOENT;
}

size_t posture_fw_ruleset_supersede(struct posture_fw_ruleset *nft,
                                    const struct posture_fw_ruleset *save)
{
    size_t n = 0;

    if (!nft || !save)
        return 0;
    for (size_t i = 0; i < nft->n_chains; i++) {
        struct posture_fw_chain *c = &nft->chains[i];
        for (size_t j = 0; j < save->n_chains && !c->superseded; j++) {
            const struct posture_fw_chain *t = &save->chains[j];
            if (strcmp(c->family, t->family) == 0 && strcmp(c->table, t->table) == 0) {
                c->superseded = true;
                n++;
            }
        }
    }
    return n;
}

void posture_fw_ruleset_resolve(struct posture_fw_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n_chains; i++) {
        struct posture_fw_chain *c = &rs->chains[i];
        for (size_t j = 0; j < c->n_rules; j++) {
            struct posture_fw_rule *r = &c->rules[j];
            if (r->verdict != POSTURE_FW_V_JUMP && r->verdict != POSTURE_FW_V_GOTO)
                continue;
            ssize_t t =
                r->label ? posture_fw_ruleset_find(rs, c->family, c->table, r->label) : -ENOENT;
            if (t < 0) {
                r->verdict = POSTURE_FW_V_UNKNOWN;
                /* On failure the bare name stays. */
                (void) posture_set_printf(&r->label, "the unknown target %s",
                                          r->label ? r->label : "?");
                continue;
            }
            free(r->label); /* the name is no longer needed */
            r->label = NULL;
            r->target = (uint32_t) t;
        }
    }
}

int posture_fw_xt_target_verdict(const char *name)
{
    static const struct {
        const char *name;
        enum posture_fw_verdict verdict;
    } targets[] = {
        { "ACCEPT", POSTURE_FW_V_ACCEPT },
        { "DROP", POSTURE_FW_V_DROP },
        { "REJECT", POSTURE_FW_V_DROP },
        { "RETURN", POSTURE_FW_V_RETURN },
        { "QUEUE", POSTURE_FW_V_QUEUE },
        { "NFQUEUE", POSTURE_FW_V_QUEUE },
        /* Targets that only annotate, mark or log and then go on to the next rule. */
        { "AUDIT", POSTURE_FW_V_NONE },
        { "CHECKSUM", POSTURE_FW_V_NONE },
        { "CLASSIFY", POSTURE_FW_V_NONE },
        { "CONNMARK", POSTURE_FW_V_NONE },
        { "CONNSECMARK", POSTURE_FW_V_NONE },
        { "CT", POSTURE_FW_V_NONE },
        { "DSCP", POSTURE_FW_V_NONE },
        { "ECN", POSTURE_FW_V_NONE },
        { "HL", POSTURE_FW_V_NONE },
        { "HMARK", POSTURE_FW_V_NONE },
        { "IDLETIMER", POSTURE_FW_V_NONE },
        { "LED", POSTURE_FW_V_NONE },
        { "LOG", POSTURE_FW_V_NONE },
        { "MARK", POSTURE_FW_V_NONE },
        { "NFLOG", POSTURE_FW_V_NONE },
        { "NOTRACK", POSTURE_FW_V_NONE },
        { "RATEEST", POSTURE_FW_V_NONE },
        { "SECMARK", POSTURE_FW_V_NONE },
        { "SET", POSTURE_FW_V_NONE },
        { "TCPMSS", POSTURE_FW_V_NONE },
        { "TCPOPTSTRIP", POSTURE_FW_V_NONE },
        { "TEE", POSTURE_FW_V_NONE },
        { "TOS", POSTURE_FW_V_NONE },
        { "TRACE", POSTURE_FW_V_NONE },
        { "TTL", POSTURE_FW_V_NONE },
        { "ULOG", POSTURE_FW_V_NONE },
    };
    if (!name)
        return -ENOENT;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(targets); i++)
        if (strcmp(name, targets[i].name) == 0)
            return (int) targets[i].verdict;
    return -ENOENT;
}

enum posture_fw_match posture_fw_match_and(enum posture_fw_match a, enum posture_fw_match b)
{
    if (a == POSTURE_FW_NEVER || b == POSTURE_FW_NEVER)
        return POSTURE_FW_NEVER;
    if (a == POSTURE_FW_MAYBE || b == POSTURE_FW_MAYBE)
        return POSTURE_FW_MAYBE;
    return POSTURE_FW_ALWAYS;
}

const char *posture_fw_af_name(enum posture_fw_af af)
{
    return af == POSTURE_FW_IPV6 ? "IPv6" : "IPv4";
}

const char *
posture_fw_chain_name(const struct posture_fw_ruleset *rs, size_t chain, char *buf, size_t len)
{
    if (!buf || len == 0)
        return "";
    if (!rs || chain >= rs->n_chains) {
        (void) snprintf(buf, len, "?");
        return buf;
    }
    const struct posture_fw_chain *c = &rs->chains[chain];
    const char *family = c->family;
    if (rs->source == POSTURE_FW_SOURCE_IPTABLES_LEGACY)
        family = "iptables-legacy";
    else if (rs->source == POSTURE_FW_SOURCE_IP6TABLES_LEGACY)
        family = "ip6tables-legacy";
    /* Truncation is fine: the name is for people. */
    (void) snprintf(buf, len, "%s %s %s", family, c->table, c->name);
    return buf;
}
