/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnftables JSON (`nft -j list ruleset`, JSON schema 1, nftables 0.9.x-1.1.x) to the firewall
 * model (firewall.h), and the canonical form its digest covers.
 *
 * Shapes relied on, as nftables prints them:
 *   {"nftables": [{"metainfo": {...}}, {"table": {...}}, {"chain": {"family", "table", "name",
 *     "type", "hook", "prio", "policy"}}, {"map": {"family", "table", "name", "map": "verdict",
 *     "elem": [[key, verdict], ...]}}, {"rule": {"family", "table", "chain", "handle",
 *     "expr": [statement, ...]}}, ...]}
 *   statement: {"match": {"op", "left", "right"}}, {"counter": ...}, {"accept": null},
 *     {"jump": {"target": "x"}}, {"vmap": {"key", "data"}}, {"xt": {"type", "name"}}, ...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/json.h"

#include "firewall.h"

/* Elements of one verdict map compared for duplicates (same match and verdict) when expanding. */
#define VMAP_DEDUP_WINDOW 64

struct map_ref {
    const char *family;
    const char *table;
    const char *name;
    const cJSON *elem; /* array or NULL */
};

struct parser {
    struct posture_fw_ruleset *rs;
    struct map_ref *maps;
    size_t n_maps;
    size_t cap_maps;
};

/* The only member of a one-member object ({"accept": null}), or NULL. */
static const cJSON *sole_member(const cJSON *obj)
{
    if (!cJSON_IsObject(obj) || !obj->child || obj->child->next || !obj->child->string)
        return NULL;
    return obj->child;
}

static const char *member_str(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? posture_json_get_str(obj, key) : NULL;
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---- Matches ---- */

/* A set element may be {"elem": {"val": x, "timeout": ...}}: x. */
static const cJSON *unwrap_elem(const cJSON *v)
{
    const cJSON *e = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "elem") : NULL;
    if (cJSON_IsObject(e)) {
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(e, "val");
        if (val)
            return val;
    }
    return v;
}

/*
 * Does right (a string, an array of strings, or {"set": [strings]}) contain name? *ret_simple is
 * false when it holds anything else (ranges, prefixes, numbers, references), which makes the
 * answer unknowable.
 */
static bool value_has(const cJSON *right, const char *name, bool *ret_simple, bool *ret_list)
{
    const cJSON *arr = NULL;

    *ret_simple = true;
    *ret_list = false;
    if (cJSON_IsString(right))
        return streq(right->valuestring, name);
    if (cJSON_IsArray(right)) {
        arr = right;
        *ret_list = true;
    } else if (cJSON_IsObject(right)) {
        arr = cJSON_GetObjectItemCaseSensitive(right, "set");
        if (!cJSON_IsArray(arr) || sole_member(right) == NULL) {
            *ret_simple = false;
            return false;
        }
    } else {
        *ret_simple = false;
        return false;
    }
    bool has = false;
    for (const cJSON *e = arr->child; e; e = e->next) {
        const cJSON *v = unwrap_elem(e);
        if (!cJSON_IsString(v)) {
            *ret_simple = false;
            return false;
        }
        if (streq(v->valuestring, name))
            has = true;
    }
    return has;
}

/* "==" / "in" (or no op): positive; "!=": negative; anything else (<, >, ...): NULL. */
static int op_sign(const char *op)
{
    if (!op || streq(op, "==") || streq(op, "in"))
        return 1;
    if (streq(op, "!="))
        return 0;
    return -1;
}

static void set_all(uint8_t out[POSTURE_FW_PROBES], enum posture_fw_match m)
{
    for (unsigned p = 0; p < POSTURE_FW_PROBES; p++)
        out[p] = (uint8_t) m;
}

/* Set the probes of one address family (or of one protocol) to m. */
static void set_af(uint8_t out[POSTURE_FW_PROBES], enum posture_fw_af af, enum posture_fw_match m)
{
    for (unsigned l4 = 0; l4 < POSTURE_FW_L4__MAX; l4++)
        out[POSTURE_FW_PROBE(af, l4)] = (uint8_t) m;
}

static void set_l4(uint8_t out[POSTURE_FW_PROBES], enum posture_fw_l4 l4, enum posture_fw_match m)
{
    for (unsigned af = 0; af < POSTURE_FW_AF__MAX; af++)
        out[POSTURE_FW_PROBE(af, l4)] = (uint8_t) m;
}

static enum posture_fw_match from_bool(bool matches)
{
    return matches ? POSTURE_FW_ALWAYS : POSTURE_FW_NEVER;
}

/* A /0 prefix matches every address. */
static bool is_zero_prefix(const cJSON *right)
{
    const cJSON *p =
        cJSON_IsObject(right) ? cJSON_GetObjectItemCaseSensitive(right, "prefix") : NULL;
    int64_t plen;
    return cJSON_IsObject(p) && posture_json_get_int(p, "len", &plen) == 0 && plen == 0;
}

/*
 * ct state vs. the generic packet, which is "new". A plain list (op "in") is a bit mask: it
 * matches when any of its states is the packet's; a set ({"set": [...]}) or a single name is
 * compared for membership; "!=" negates either. "==" with a plain list compares the whole mask,
 * which no single state equals unless the list has one element: MAYBE, to be safe.
 */
static void
classify_ct_state(const char *op, int sign, const cJSON *right, uint8_t out[POSTURE_FW_PROBES])
{
    bool simple, list;
    bool has_new = value_has(right, "new", &simple, &list);

    if (!simple || (list && streq(op, "==") && cJSON_GetArraySize(right) > 1)) {
        set_all(out, POSTURE_FW_MAYBE);
        return;
    }
    set_all(out, from_bool(sign == 1 ? has_new : !has_new));
}

/* meta nfproto ipv4|ipv6 (and meta protocol ip|ip6) vs. each address family. */
static void classify_family(
    int sign, const cJSON *right, const char *v4, const char *v6, uint8_t out[POSTURE_FW_PROBES])
{
    bool simple4, simple6, list;
    bool has4 = value_has(right, v4, &simple4, &list);
    bool has6 = value_has(right, v6, &simple6, &list);
    if (!simple4 || !simple6) {
        set_all(out, POSTURE_FW_MAYBE);
        return;
    }
    set_af(out, POSTURE_FW_IPV4, from_bool(sign == 1 ? has4 : !has4));
    set_af(out, POSTURE_FW_IPV6, from_bool(sign == 1 ? has6 : !has6));
}

/* One protocol value: "tcp"/6, "udp"/17, or another protocol (name or number). False when v is
 * neither a string nor an integer. */
static bool l4_value(const cJSON *v, bool *tcp, bool *udp)
{
    if (cJSON_IsString(v)) {
        *tcp = *tcp || streq(v->valuestring, "tcp");
        *udp = *udp || streq(v->valuestring, "udp");
        return true;
    }
    if (cJSON_IsNumber(v) && v->valuedouble == (double) (int) v->valuedouble) {
        *tcp = *tcp || (int) v->valuedouble == 6;
        *udp = *udp || (int) v->valuedouble == 17;
        return true;
    }
    return false;
}

/* meta l4proto, ip protocol, ip6 nexthdr vs. the TCP and UDP probes (sets and lists too). */
static void classify_l4(int sign, const cJSON *right, uint8_t out[POSTURE_FW_PROBES])
{
    bool tcp = false, udp = false, ok = true;
    const cJSON *arr = cJSON_IsArray(right) ? right
                       : cJSON_IsObject(right) && sole_member(right)
                           ? cJSON_GetObjectItemCaseSensitive(right, "set")
                           : NULL;
    if (arr && cJSON_IsArray(arr)) {
        for (const cJSON *e = arr->child; e && ok; e = e->next)
            ok = l4_value(unwrap_elem(e), &tcp, &udp);
    } else {
        ok = l4_value(right, &tcp, &udp);
    }
    if (!ok) {
        set_all(out, POSTURE_FW_MAYBE);
        return;
    }
    set_l4(out, POSTURE_FW_TCP, from_bool(sign == 1 ? tcp : !tcp));
    set_l4(out, POSTURE_FW_UDP, from_bool(sign == 1 ? udp : !udp));
}

/*
 * Classify "left op right" per probe. Only a few forms are known to always or never match a
 * generic packet; everything else is MAYBE.
 */
static void classify_match(const char *op,
                           const cJSON *left,
                           const cJSON *right,
                           uint8_t out[POSTURE_FW_PROBES])
{
    set_all(out, POSTURE_FW_MAYBE);
    int sign = op_sign(op);
    const cJSON *l = sole_member(left);
    if (sign < 0 || !l || !right)
        return;

    if (streq(l->string, "ct")) {
        const char *key = member_str(l, "key");
        if (streq(key, "state") && !cJSON_GetObjectItemCaseSensitive(l, "dir"))
            classify_ct_state(op, sign, right, out);
        return;
    }
    if (streq(l->string, "meta")) {
        const char *key = member_str(l, "key");
        if (streq(key, "nfproto"))
            classify_family(sign, right, "ipv4", "ipv6", out);
        else if (streq(key, "protocol"))
            classify_family(sign, right, "ip", "ip6", out);
        else if (streq(key, "l4proto"))
            classify_l4(sign, right, out);
        else if (cJSON_IsString(right) &&
                 (((streq(key, "iifname") || streq(key, "iif")) &&
                   streq(right->valuestring, "lo")) ||
                  (streq(key, "iiftype") && streq(right->valuestring, "loopback"))))
            set_all(out, from_bool(sign == 0)); /* the generic packet is not from lo */
        return;
    }
    if (!streq(l->string, "payload"))
        return;

    const char *proto = member_str(l, "protocol");
    const char *field = member_str(l, "field");
    /* Header matches imply a family and/or a protocol (nft adds the dependency), whatever op:
     * the probes of another family or protocol never match. */
    static const char *const not_tcp_udp[] = {
        "icmp", "icmpv6", "igmp", "sctp", "dccp", "udplite", "esp", "ah", "comp", "gre",
    };
    if (streq(proto, "ip") || streq(proto, "icmp") || streq(proto, "igmp"))
        set_af(out, POSTURE_FW_IPV6, POSTURE_FW_NEVER);
    else if (streq(proto, "ip6") || streq(proto, "icmpv6"))
        set_af(out, POSTURE_FW_IPV4, POSTURE_FW_NEVER);
    if (streq(proto, "tcp"))
        set_l4(out, POSTURE_FW_UDP, POSTURE_FW_NEVER);
    else if (streq(proto, "udp"))
        set_l4(out, POSTURE_FW_TCP, POSTURE_FW_NEVER);
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(not_tcp_udp); i++)
        if (streq(proto, not_tcp_udp[i]))
            set_all(out, POSTURE_FW_NEVER);

    /* What the field itself says, for the probes still possible. */
    uint8_t m[POSTURE_FW_PROBES];
    set_all(m, POSTURE_FW_MAYBE);
    if ((streq(proto, "ip") || streq(proto, "ip6")) &&
        (streq(field, "saddr") || streq(field, "daddr")) && is_zero_prefix(right))
        set_all(m, from_bool(sign == 1));
    else if ((streq(proto, "ip") && streq(field, "protocol")) ||
             (streq(proto, "ip6") && streq(field, "nexthdr")))
        classify_l4(sign, right, m);
    for (unsigned p = 0; p < POSTURE_FW_PROBES; p++)
        if (out[p] != POSTURE_FW_NEVER)
            out[p] = m[p];
}

static void and_into(uint8_t acc[POSTURE_FW_PROBES], const uint8_t m[POSTURE_FW_PROBES])
{
    for (unsigned p = 0; p < POSTURE_FW_PROBES; p++)
        acc[p] = (uint8_t) posture_fw_match_and(acc[p], m[p]);
}

/* ---- Verdicts and statements ---- */

/* Statements that neither end the rule nor make it conditional. */
static bool is_noop_statement(const char *key)
{
    static const char *const noop[] = {
        "counter", "log",     "mangle",    "notrack",    "set",
        "map",     "dup",     "ct helper", "ct timeout", "ct expectation",
        "last",    "secmark", "flow",      "xt", /* xt watchers; matches and targets are handled
                                                    before */
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(noop); i++)
        if (streq(key, noop[i]))
            return true;
    return false;
}

/* Statements that stop the rule for some packets, like a match. */
static bool is_conditional_statement(const char *key)
{
    return streq(key, "limit") || streq(key, "quota") || streq(key, "connlimit") ||
           streq(key, "meter");
}

static char *label_dup(const char *prefix, const char *name)
{
    char *s = NULL;
    if (asprintf(&s, "%s%s", prefix, name ? name : "?") < 0)
        return NULL;
    return s;
}

/*
 * Fill *rule's verdict from a statement member (key + value) if it is a verdict. Returns 1 when
 * it is one (the rule ends), 0 when it is not, -ENOMEM.
 */
static int verdict_of(const cJSON *member, struct posture_fw_rule *rule)
{
    const char *key = member->string;

    if (streq(key, "accept")) {
        rule->verdict = POSTURE_FW_V_ACCEPT;
    } else if (streq(key, "drop") || streq(key, "reject")) {
        rule->verdict = POSTURE_FW_V_DROP;
    } else if (streq(key, "continue")) {
        rule->verdict = POSTURE_FW_V_NONE;
    } else if (streq(key, "return")) {
        rule->verdict = POSTURE_FW_V_RETURN;
    } else if (streq(key, "queue")) {
        rule->verdict = POSTURE_FW_V_QUEUE;
        if (!(rule->label = strdup("a queue to userspace")))
            return -ENOMEM;
    } else if (streq(key, "jump") || streq(key, "goto")) {
        const char *target = member_str(member, "target");
        rule->verdict = streq(key, "jump") ? POSTURE_FW_V_JUMP : POSTURE_FW_V_GOTO;
        if (!target) {
            rule->verdict = POSTURE_FW_V_UNKNOWN;
            target = "(no target)";
        }
        if (!(rule->label = strdup(target)))
            return -ENOMEM;
    } else if (streq(key, "xt") && streq(member_str(member, "type"), "target")) {
        const char *name = member_str(member, "name");
        int v = posture_fw_xt_target_verdict(name);
        if (v == POSTURE_FW_V_NONE)
            return 0; /* LOG, MARK, ...: on to the next statement */
        if (v < 0) {
            rule->verdict = POSTURE_FW_V_UNKNOWN;
            if (!(rule->label = label_dup("the iptables target ", name)))
                return -ENOMEM;
        } else {
            rule->verdict = (uint8_t) v;
            if (v == POSTURE_FW_V_QUEUE && !(rule->label = label_dup("the iptables target ", name)))
                return -ENOMEM;
        }
    } else {
        return 0;
    }
    return 1;
}

static int emit(struct parser *p, size_t chain, struct posture_fw_rule *rule)
{
    int r = 0;
    /* Rules without a verdict do not matter to the evaluation: keep them out of the model. */
    if (rule->verdict != POSTURE_FW_V_NONE)
        r = posture_fw_ruleset_add_rule(p->rs, chain, rule);
    free(rule->label);
    rule->label = NULL;
    return r;
}

static bool same_rule(const struct posture_fw_rule *a, const struct posture_fw_rule *b)
{
    return memcmp(a->match, b->match, sizeof(a->match)) == 0 && a->verdict == b->verdict &&
           (a->label == b->label || (a->label && b->label && strcmp(a->label, b->label) == 0));
}

/*
 * A verdict map: one model rule per element (elements are exclusive, so their order does not
 * matter), with duplicates of the same match and verdict merged.
 */
static int expand_vmap(struct parser *p,
                       size_t chain,
                       const char *family,
                       const char *table,
                       const cJSON *vmap,
                       const uint8_t prefix[POSTURE_FW_PROBES],
                       uint64_t handle)
{
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(vmap, "key");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(vmap, "data");
    const cJSON *elems = NULL;
    bool found = true;

    if (cJSON_IsString(data) && data->valuestring[0] == '@') {
        bool known = false;
        for (size_t i = 0; i < p->n_maps; i++)
            if (streq(p->maps[i].family, family) && streq(p->maps[i].table, table) &&
                streq(p->maps[i].name, data->valuestring + 1)) {
                elems = p->maps[i].elem;
                known = true;
                break;
            }
        found = known;
    } else if (cJSON_IsObject(data)) {
        elems = cJSON_GetObjectItemCaseSensitive(data, "set");
        found = cJSON_IsArray(elems);
    } else {
        found = false;
    }

    if (!found || (elems && !cJSON_IsArray(elems)) ||
        (elems && (size_t) cJSON_GetArraySize(elems) > POSTURE_FW_VMAP_MAX)) {
        struct posture_fw_rule rule = { .verdict = POSTURE_FW_V_UNKNOWN, .handle = handle };
        memcpy(rule.match, prefix, sizeof(rule.match));
        uint8_t maybe[POSTURE_FW_PROBES];
        set_all(maybe, POSTURE_FW_MAYBE);
        and_into(rule.match, maybe);
        if (!(rule.label = strdup("a verdict map that cannot be read")))
            return -ENOMEM;
        return emit(p, chain, &rule);
    }
    if (!elems)
        return 0; /* a named map without elements: nothing matches */

    struct posture_fw_rule recent[VMAP_DEDUP_WINDOW];
    size_t n_recent = 0;
    int ret = 0;
    for (const cJSON *e = elems->child; e && ret >= 0; e = e->next) {
        /* [key, verdict] */
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2)
            continue;
        const cJSON *k = unwrap_elem(e->child);
        const cJSON *v = sole_member(e->child->next);
        struct posture_fw_rule rule = { .handle = handle };
        memcpy(rule.match, prefix, sizeof(rule.match));
        uint8_t m[POSTURE_FW_PROBES];
        classify_match("==", key, k, m);
        and_into(rule.match, m);
        bool never = true;
        for (unsigned q = 0; q < POSTURE_FW_PROBES; q++)
            never = never && rule.match[q] == POSTURE_FW_NEVER;
        if (never)
            continue;
        int r = v ? verdict_of(v, &rule) : 0;
        if (r < 0) {
            ret = r;
            break;
        }
        if (r == 0) {
            rule.verdict = POSTURE_FW_V_UNKNOWN;
            if (!(rule.label = strdup("a verdict map element that is not a verdict"))) {
                ret = -ENOMEM;
                break;
            }
        }
        if (rule.verdict == POSTURE_FW_V_NONE)
            continue;
        bool dup = false;
        for (size_t i = 0; i < n_recent && !dup; i++)
            dup = same_rule(&recent[i], &rule);
        if (dup) {
            free(rule.label);
            continue;
        }
        /* Remember a copy of the match and verdict; the label pointer stays owned by the model,
         * which does not free it before the end of the parse. */
        ret = posture_fw_ruleset_add_rule(p->rs, chain, &rule);
        if (ret < 0) {
            free(rule.label);
            break;
        }
        const struct posture_fw_chain *c = &p->rs->chains[chain];
        recent[n_recent % VMAP_DEDUP_WINDOW] = c->rules[c->n_rules - 1];
        if (n_recent < VMAP_DEDUP_WINDOW)
            n_recent++;
    }
    return ret;
}

static int parse_rule(struct parser *p, const cJSON *rule_obj)
{
    const char *family = member_str(rule_obj, "family");
    const char *table = member_str(rule_obj, "table");
    const char *chain_name = member_str(rule_obj, "chain");
    int64_t handle = 0;

    p->rs->n_rules++;
    ssize_t chain = posture_fw_ruleset_find(p->rs, family, table, chain_name);
    if (chain < 0)
        return 0; /* a rule of a chain that is not listed: nothing to attach it to */
    if (posture_json_get_int(rule_obj, "handle", &handle) < 0 || handle < 0)
        handle = 0;

    struct posture_fw_rule rule = { .handle = (uint64_t) handle };
    set_all(rule.match, POSTURE_FW_ALWAYS);
    const cJSON *expr = cJSON_GetObjectItemCaseSensitive(rule_obj, "expr");
    if (!cJSON_IsArray(expr))
        return 0;

    for (const cJSON *stmt = expr->child; stmt; stmt = stmt->next) {
        const cJSON *s = sole_member(stmt);
        const char *key = s ? s->string : NULL;
        uint8_t m[POSTURE_FW_PROBES];

        if (!s) {
            rule.verdict = POSTURE_FW_V_UNKNOWN;
            if (!(rule.label = strdup("a statement that cannot be read")))
                return -ENOMEM;
            return emit(p, (size_t) chain, &rule);
        }
        if (streq(key, "xt")) {
            /* iptables-nft: the check reads these tables from iptables-nft-save instead. */
            if (streq(family, "ip"))
                p->rs->has_xt[POSTURE_FW_IPV4] = true;
            else if (streq(family, "ip6"))
                p->rs->has_xt[POSTURE_FW_IPV6] = true;
        }
        if (streq(key, "match")) {
            classify_match(member_str(s, "op"), cJSON_GetObjectItemCaseSensitive(s, "left"),
                           cJSON_GetObjectItemCaseSensitive(s, "right"), m);
            and_into(rule.match, m);
            continue;
        }
        if (streq(key, "vmap"))
            return expand_vmap(p, (size_t) chain, family, table, s, rule.match, rule.handle);
        if (streq(key, "xt") && streq(member_str(s, "type"), "match")) {
            /* iptables-nft matches nft cannot show: opaque, except that a comment matches all */
            if (!streq(member_str(s, "name"), "comment")) {
                set_all(m, POSTURE_FW_MAYBE);
                and_into(rule.match, m);
            }
            continue;
        }
        int r = verdict_of(s, &rule);
        if (r < 0)
            return r;
        if (r > 0)
            return emit(p, (size_t) chain, &rule);
        if (streq(key, "xt") || is_noop_statement(key))
            continue;
        if (is_conditional_statement(key)) {
            set_all(m, POSTURE_FW_MAYBE);
            and_into(rule.match, m);
            continue;
        }
        /* Something this parser does not know (synproxy, nat, tproxy, fwd, newer kinds). */
        rule.verdict = POSTURE_FW_V_UNKNOWN;
        if (!(rule.label = label_dup("the statement ", key)))
            return -ENOMEM;
        return emit(p, (size_t) chain, &rule);
    }
    return 0; /* no verdict: the rule does not matter to the evaluation */
}

static int parse_chain(struct parser *p, const cJSON *obj)
{
    const char *family = member_str(obj, "family");
    const char *table = member_str(obj, "table");
    const char *name = member_str(obj, "name");
    size_t idx;

    if (!family || !table || !name)
        return 0;
    int r = posture_fw_ruleset_add_chain(p->rs, family, table, name, &idx);
    if (r < 0)
        return r;
    struct posture_fw_chain *c = &p->rs->chains[idx];
    const char *hook = member_str(obj, "hook");
    if (!hook)
        return 0;
    const char *type = member_str(obj, "type");
    const char *policy = member_str(obj, "policy");
    int64_t prio = 0;
    if (posture_json_get_int(obj, "prio", &prio) < 0)
        prio = 0;
    posture_autofree char *h = strdup(hook);
    posture_autofree char *t = type ? strdup(type) : NULL;
    if (!h || (type && !t))
        return -ENOMEM;
    c->hook = POSTURE_TAKE_PTR(h);
    c->type = POSTURE_TAKE_PTR(t);
    c->prio = prio;
    c->policy = streq(policy, "drop") ? POSTURE_FW_V_DROP : POSTURE_FW_V_ACCEPT;
    return 0;
}

static int add_map(struct parser *p, const cJSON *obj)
{
    if (!streq(member_str(obj, "map"), "verdict"))
        return 0;
    if (p->n_maps == p->cap_maps) {
        size_t cap = p->cap_maps ? p->cap_maps * 2 : 8;
        if (cap > POSTURE_FW_CHAINS_MAX)
            return -E2BIG;
        struct map_ref *n = reallocarray(p->maps, cap, sizeof(*n));
        if (!n)
            return -ENOMEM;
        p->maps = n;
        p->cap_maps = cap;
    }
    const cJSON *elem = cJSON_GetObjectItemCaseSensitive(obj, "elem");
    p->maps[p->n_maps++] = (struct map_ref){
        .family = member_str(obj, "family"),
        .table = member_str(obj, "table"),
        .name = member_str(obj, "name"),
        .elem = cJSON_IsArray(elem) ? elem : NULL,
    };
    return 0;
}

/* ---- Canonical form ---- */

static bool has_flag(const cJSON *obj, const char *flag)
{
    const cJSON *flags = cJSON_GetObjectItemCaseSensitive(obj, "flags");
    bool simple, list;
    return flags && value_has(flags, flag, &simple, &list);
}

/* Drop what changes without the ruleset changing (see posture_fw_parse_nft_json). */
static void canonicalize(cJSON *item, const char *parent_key)
{
    if (cJSON_IsObject(item)) {
        cJSON_DeleteItemFromObjectCaseSensitive(item, "handle");
        cJSON_DeleteItemFromObjectCaseSensitive(item, "expires");
        if (cJSON_GetObjectItemCaseSensitive(item, "packets")) {
            cJSON_DeleteItemFromObjectCaseSensitive(item, "packets");
            cJSON_DeleteItemFromObjectCaseSensitive(item, "bytes");
        }
        if (streq(parent_key, "quota"))
            cJSON_DeleteItemFromObjectCaseSensitive(item, "used");
        if (streq(parent_key, "set") && has_flag(item, "dynamic"))
            cJSON_DeleteItemFromObjectCaseSensitive(item, "elem");
    }
    for (cJSON *c = item->child; c; c = c->next)
        canonicalize(c, c->string);
}

static int digest_canonical(cJSON *root, cJSON *list, uint8_t ret[POSTURE_FW_SHA256_LEN])
{
    cJSON *c = list->child;
    while (c) {
        cJSON *next = c->next;
        if (cJSON_IsObject(c) && cJSON_GetObjectItemCaseSensitive(c, "metainfo"))
            cJSON_Delete(cJSON_DetachItemViaPointer(list, c));
        c = next;
    }
    canonicalize(root, NULL);
    posture_autofree char *text = cJSON_PrintUnformatted(root);
    if (!text)
        return -ENOMEM;
    return posture_fw_sha256(text, strlen(text), ret);
}

int posture_fw_parse_nft_json(const char *buf, size_t len, struct posture_fw_ruleset *ret)
{
    posture_auto_cjson cJSON *root = NULL;
    struct posture_fw_ruleset rs = { .source = POSTURE_FW_SOURCE_NFTABLES };
    struct parser p = { .rs = &rs };
    int r;

    if (!buf || !ret)
        return -EINVAL;
    r = posture_json_parse(buf, len, POSTURE_FW_JSON_MAX, POSTURE_FW_JSON_DEPTH_MAX, &root);
    if (r < 0)
        return r;
    cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "nftables");
    if (!cJSON_IsArray(list))
        return -EBADMSG;

    /* Pass 1: tables, chains and verdict maps. */
    for (const cJSON *o = list->child; o; o = o->next) {
        const cJSON *m = sole_member(o);
        if (!m || !cJSON_IsObject(m))
            continue;
        r = 0;
        if (streq(m->string, "table")) {
            rs.n_tables++;
            if (streq(member_str(m, "name"), "firewalld"))
                rs.has_firewalld_table = true;
        } else if (streq(m->string, "chain"))
            r = parse_chain(&p, m);
        else if (streq(m->string, "map"))
            r = add_map(&p, m);
        if (r < 0)
            goto fail;
    }
    r = posture_fw_ruleset_index(&rs);
    if (r < 0)
        goto fail;

    /* Pass 2: rules. */
    for (const cJSON *o = list->child; o; o = o->next) {
        const cJSON *m = sole_member(o);
        if (!m || !cJSON_IsObject(m) || !streq(m->string, "rule"))
            continue;
        r = parse_rule(&p, m);
        if (r < 0)
            goto fail;
    }
    posture_fw_ruleset_resolve(&rs);
    free(p.maps);
    p.maps = NULL;

    r = digest_canonical(root, list, rs.sha256);
    if (r < 0)
        goto fail;
    *ret = rs;
    return 0;

fail:
    free(p.maps);
    posture_fw_ruleset_done(&rs);
    return r;
}
