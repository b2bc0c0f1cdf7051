/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The evaluator: does a base chain deny the generic new inbound packet (firewall.h)?
 *
 * A chain is walked rule by rule for one address family, carrying "constrained": whether the
 * path has passed a MAYBE match on a rule that jumped or went here. Per chain and constraint the
 * walk yields a summary that is memoised (jump targets are shared by many rules):
 *   open     some path reaches an accept that is not an exception (ALWAYS match, unconstrained)
 *   unknown  some unconstrained path reaches a queue, an unknown target, a loop or too deep
 *   returns  some path returns to the caller (falls off the end or meets "return")
 * A MAYBE accept or drop does not end the walk (the generic packet may not match); a MAYBE
 * return or goto both returns and goes on; a jump goes on after the call when the callee
 * returns. ALWAYS drop/accept/queue ends the walk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture/cleanup.h"

#include "firewall.h"

enum memo_state { MEMO_NEW, MEMO_BUSY, MEMO_DONE };

struct summary {
    bool open;
    bool unknown;
    bool returns;
    size_t at_chain; /* where open (else unknown) was first seen */
    uint64_t at_handle;
    const char *at_label;
};

struct memo {
    uint8_t state;
    struct summary s;
};

struct evaluator {
    const struct posture_fw_ruleset *rs;
    unsigned probe;    /* POSTURE_FW_PROBE(af, l4) */
    struct memo *memo; /* [chain * 2 + constrained] */
};

static void note(struct summary *s, bool open, size_t chain, uint64_t handle, const char *label)
{
    if (open) {
        if (!s->open) {
            s->open = true;
            s->at_chain = chain;
            s->at_handle = handle;
            s->at_label = label;
        }
        return;
    }
    if (!s->open && !s->unknown) {
        s->at_chain = chain;
        s->at_handle = handle;
        s->at_label = label;
    }
    s->unknown = true;
}

/* Take open/unknown of a callee into s. */
static void merge(struct summary *s, const struct summary *sub)
{
    if (sub->open)
        note(s, true, sub->at_chain, sub->at_handle, sub->at_label);
    else if (sub->unknown)
        note(s, false, sub->at_chain, sub->at_handle, sub->at_label);
}

static struct summary walk(struct evaluator *ev, size_t chain, bool constrained, unsigned depth);

static struct summary call(struct evaluator *ev, size_t chain, bool constrained, unsigned depth)
{
    struct summary s = { 0 };

    if (depth > POSTURE_FW_JUMP_DEPTH_MAX || chain >= ev->rs->n_chains) {
        /* Give up on this branch: it may accept (unless constrained) and may return. */
        if (!constrained)
            note(&s, false, chain, 0, "jumps nested too deeply");
        s.returns = true;
        return s;
    }
    struct memo *m = &ev->memo[chain * 2 + (constrained ? 1 : 0)];
    if (m->state == MEMO_DONE)
        return m->s;
    if (m->state == MEMO_BUSY) {
        /* A loop (the kernel refuses them; made-up input may have them). */
        if (!constrained)
            note(&s, false, chain, 0, "a jump loop");
        s.returns = true;
        return s;
    }
    m->state = MEMO_BUSY;
    s = walk(ev, chain, constrained, depth);
    m->s = s;
    m->state = MEMO_DONE;
    return s;
}

static struct summary walk(struct evaluator *ev, size_t chain, bool constrained, unsigned depth)
{
    const struct posture_fw_chain *c = &ev->rs->chains[chain];
    struct summary s = { 0 };

    for (size_t i = 0; i < c->n_rules; i++) {
        const struct posture_fw_rule *r = &c->rules[i];
        enum posture_fw_match m = r->match[ev->probe];
        if (m == POSTURE_FW_NEVER)
            continue;
        bool always = m == POSTURE_FW_ALWAYS;
        bool rc = constrained || !always;
        struct summary sub;

        switch ((enum posture_fw_verdict) r->verdict) {
        case POSTURE_FW_V_NONE:
            break;
        case POSTURE_FW_V_ACCEPT:
            if (!rc)
                note(&s, true, chain, r->handle, NULL);
            if (always)
                return s;
            break;
        case POSTURE_FW_V_DROP:
            if (always)
                return s;
            break;
        case POSTURE_FW_V_QUEUE:
            if (!rc)
                note(&s, false, chain, r->handle, r->label ? r->label : "queue");
            if (always)
                return s;
            break;
        case POSTURE_FW_V_UNKNOWN:
            /* It may end the walk either way or go on: going on covers the rest. */
            if (!rc)
                note(&s, false, chain, r->handle, r->label);
            break;
        case POSTURE_FW_V_RETURN:
            s.returns = true;
            if (always)
                return s;
            break;
        case POSTURE_FW_V_JUMP:
            sub = call(ev, r->target, rc, depth + 1);
            merge(&s, &sub);
            if (always && !sub.returns)
                return s;
            break;
        case POSTURE_FW_V_GOTO:
            sub = call(ev, r->target, rc, depth + 1);
            merge(&s, &sub);
            if (sub.returns)
                s.returns = true;
            if (always)
                return s;
            break;
        default:
            if (!rc)
                note(&s, false, chain, r->handle, r->label);
            break;
        }
    }
    s.returns = true;
    return s;
}

static bool chain_counts(const struct posture_fw_chain *c)
{
    return !c->superseded && c->hook && strcmp(c->hook, "input") == 0 && c->type &&
           strcmp(c->type, "filter") == 0;
}

static bool chain_sees(const struct posture_fw_chain *c, enum posture_fw_af af)
{
    if (strcmp(c->family, "inet") == 0)
        return true;
    if (af == POSTURE_FW_IPV4)
        return strcmp(c->family, "ip") == 0;
    return strcmp(c->family, "ip6") == 0;
}

static struct posture_fw_finding evaluate_chain(struct evaluator *ev, size_t chain)
{
    const struct posture_fw_chain *c = &ev->rs->chains[chain];
    struct posture_fw_finding f = { .outcome = POSTURE_FW_NOT_APPLICABLE, .at_chain = chain };

    if (!chain_sees(c, POSTURE_FW_PROBE_AF(ev->probe)))
        return f;
    struct summary s = call(ev, chain, false, 0);
    if (s.open || s.unknown) {
        f.outcome = s.open ? POSTURE_FW_OPEN_ACCEPT : POSTURE_FW_OPEN_UNKNOWN;
        f.at_chain = s.at_chain;
        f.at_handle = s.at_handle;
        f.at_label = s.at_label;
    } else if (s.returns)
        f.outcome =
            c->policy == POSTURE_FW_V_DROP ? POSTURE_FW_DENY_POLICY : POSTURE_FW_OPEN_POLICY;
    else
        f.outcome = POSTURE_FW_DENY_RULE;
    if (f.outcome >= POSTURE_FW_OPEN_ACCEPT)
        f.open_l4 = (uint8_t) (1u << POSTURE_FW_PROBE_L4(ev->probe));
    return f;
}

static bool outcome_denies(uint8_t o)
{
    return o == POSTURE_FW_DENY_POLICY || o == POSTURE_FW_DENY_RULE;
}

/* One finding for a family from its TCP and UDP findings: open if either is (TCP's first), and
 * both protocols named when they are open at the same place. */
static struct posture_fw_finding combine(const struct posture_fw_finding *tcp,
                                         const struct posture_fw_finding *udp)
{
    bool open_tcp = tcp->outcome >= POSTURE_FW_OPEN_ACCEPT;
    bool open_udp = udp->outcome >= POSTURE_FW_OPEN_ACCEPT;
    struct posture_fw_finding f;

    if (open_tcp) {
        f = *tcp;
        if (open_udp && udp->outcome == tcp->outcome && udp->at_chain == tcp->at_chain &&
            udp->at_handle == tcp->at_handle)
            f.open_l4 |= udp->open_l4;
        return f;
    }
    if (open_udp)
        return *udp;
    f = *tcp;
    if (udp->outcome == POSTURE_FW_DENY_POLICY)
        f.outcome = POSTURE_FW_DENY_POLICY;
    return f;
}

static int report_cmp(const void *a, const void *b)
{
    const struct posture_fw_chain_report *ra = a, *rb = b;
    const struct posture_fw_chain *ca = &ra->rs->chains[ra->chain];
    const struct posture_fw_chain *cb = &rb->rs->chains[rb->chain];
    if (ca->prio != cb->prio)
        return ca->prio < cb->prio ? -1 : 1;
    /* Stable otherwise: rulesets in the order given, chains in listing order. */
    return ra->order < rb->order ? -1 : ra->order > rb->order;
}

void posture_fw_report_done(struct posture_fw_report *r)
{
    if (!r)
        return;
    free(r->chains);
    *r = (struct posture_fw_report){ 0 };
}

int posture_fw_evaluate(const struct posture_fw_ruleset *const *rulesets,
                        size_t n,
                        bool ipv6_disabled,
                        struct posture_fw_report *ret)
{
    struct posture_fw_report rep = { 0 };

    if (!ret || (n > 0 && !rulesets))
        return -EINVAL;

    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; rulesets[i] && j < rulesets[i]->n_chains; j++)
            if (chain_counts(&rulesets[i]->chains[j]))
                total++;
    if (total > 0) {
        rep.chains = calloc(total, sizeof(*rep.chains));
        if (!rep.chains)
            return -ENOMEM;
    }

    for (size_t i = 0; i < n; i++) {
        const struct posture_fw_ruleset *rs = rulesets[i];
        if (!rs || rs->n_chains == 0)
            continue;
        /* One memo per probe: [probe][chain * 2 + constrained]. */
        size_t per = rs->n_chains * 2;
        posture_autofree struct memo *memo =
            calloc(per * (size_t) POSTURE_FW_PROBES, sizeof(struct memo));
        if (!memo) {
            posture_fw_report_done(&rep);
            return -ENOMEM;
        }
        struct evaluator ev[POSTURE_FW_PROBES];
        for (unsigned p = 0; p < POSTURE_FW_PROBES; p++)
            ev[p] = (struct evaluator){ .rs = rs, .probe = p, .memo = memo + per * p };
        for (size_t j = 0; j < rs->n_chains; j++) {
            if (!chain_counts(&rs->chains[j]))
                continue;
            struct posture_fw_chain_report *cr = &rep.chains[rep.n_chains++];
            cr->rs = rs;
            cr->chain = j;
            cr->order = rep.n_chains - 1;
            for (int af = 0; af < POSTURE_FW_AF__MAX; af++) {
                struct posture_fw_finding tcp =
                    evaluate_chain(&ev[POSTURE_FW_PROBE(af, POSTURE_FW_TCP)], j);
                struct posture_fw_finding udp =
                    evaluate_chain(&ev[POSTURE_FW_PROBE(af, POSTURE_FW_UDP)], j);
                cr->af[af] = combine(&tcp, &udp);
            }
        }
    }
    if (rep.n_chains > 1)
        qsort(rep.chains, rep.n_chains, sizeof(*rep.chains), report_cmp);

    for (int af = 0; af < POSTURE_FW_AF__MAX; af++) {
        struct posture_fw_af_verdict *v = &rep.af[af];
        v->decisive = -1;
        for (size_t k = 0; k < rep.n_chains; k++) {
            uint8_t o = rep.chains[k].af[af].outcome;
            if (o == POSTURE_FW_NOT_APPLICABLE)
                continue;
            v->n_chains++;
            if (outcome_denies(o) && !v->denied) {
                v->denied = true;
                v->decisive = (ssize_t) k;
            }
            if (v->decisive < 0)
                v->decisive = (ssize_t) k;
        }
        if (af == POSTURE_FW_IPV6 && ipv6_disabled) {
            v->disabled = true;
            v->denied = true;
        }
    }
    *ret = rep;
    return 0;
}

static const char *family_list(enum posture_fw_af af)
{
    return af == POSTURE_FW_IPV6 ? "ip6/inet" : "ip/inet";
}

const char *
posture_fw_explain(const struct posture_fw_report *r, enum posture_fw_af af, char *buf, size_t len)
{
    char name[600], at[600];

    if (!buf || len == 0)
        return "";
    if (!r || af < 0 || af >= POSTURE_FW_AF__MAX) {
        (void) snprintf(buf, len, "?");
        return buf;
    }
    const struct posture_fw_af_verdict *v = &r->af[af];
    const char *afn = posture_fw_af_name(af);

    if (v->disabled) {
        (void) snprintf(buf, len, "%s is disabled", afn);
        return buf;
    }
    if (v->decisive < 0 || (size_t) v->decisive >= r->n_chains) {
        (void) snprintf(buf, len, "%s inbound traffic is accepted: no input chain for %s", afn,
                        family_list(af));
        return buf;
    }
    const struct posture_fw_chain_report *cr = &r->chains[v->decisive];
    const struct posture_fw_finding *f = &cr->af[af];
    (void) posture_fw_chain_name(cr->rs, cr->chain, name, sizeof(name));
    const char *unit = "line"; /* of iptables-legacy-save, whose chain name says so */
    if (cr->rs->source == POSTURE_FW_SOURCE_NFTABLES)
        unit = "rule handle";
    else if (cr->rs->source == POSTURE_FW_SOURCE_IPTABLES_NFT)
        unit = "iptables-nft-save line";
    else if (cr->rs->source == POSTURE_FW_SOURCE_IP6TABLES_NFT)
        unit = "ip6tables-nft-save line";
    char others[96] = "";
    if (v->n_chains > 1)
        (void) snprintf(others, sizeof(others), "; none of the %zu input chains drops by default",
                        v->n_chains);

    /* " TCP" or " UDP" when only one protocol is open, "" when both are. */
    const char *proto = "";
    if (f->open_l4 == 1u << POSTURE_FW_TCP)
        proto = " TCP";
    else if (f->open_l4 == 1u << POSTURE_FW_UDP)
        proto = " UDP";

    switch ((enum posture_fw_outcome) f->outcome) {
    case POSTURE_FW_DENY_POLICY:
        (void) snprintf(buf, len,
                        "%s inbound traffic is denied by default: chain %s has policy drop", afn,
                        name);
        break;
    case POSTURE_FW_DENY_RULE:
        (void) snprintf(buf, len,
                        "%s inbound traffic is denied by default: chain %s ends in an "
                        "unconditional drop or reject",
                        afn, name);
        break;
    case POSTURE_FW_OPEN_ACCEPT:
        if (f->at_chain != cr->chain) {
            (void) posture_fw_chain_name(cr->rs, f->at_chain, at, sizeof(at));
            (void) snprintf(buf, len,
                            "%s inbound traffic is accepted: chain %s accepts all new%s traffic "
                            "in chain %s (%s %llu) before any default drop%s",
                            afn, name, proto, at, unit, (unsigned long long) f->at_handle, others);
        } else
            (void) snprintf(buf, len,
                            "%s inbound traffic is accepted: chain %s accepts all new%s traffic "
                            "(%s %llu) before any default drop%s",
                            afn, name, proto, unit, (unsigned long long) f->at_handle, others);
        break;
    case POSTURE_FW_OPEN_POLICY:
        (void) snprintf(buf, len,
                        "%s inbound traffic is accepted: chain %s has policy accept and no final "
                        "drop or reject rule%s%s%s",
                        afn, name, *proto ? " for" : "", proto, others);
        break;
    case POSTURE_FW_OPEN_UNKNOWN:
        (void) posture_fw_chain_name(cr->rs, f->at_chain, at, sizeof(at));
        if (f->at_handle)
            (void) snprintf(buf, len,
                            "%s inbound traffic may be accepted: chain %s reaches %s in chain %s "
                            "(%s %llu), whose verdict is not known%s",
                            afn, name, f->at_label ? f->at_label : "a statement", at, unit,
                            (unsigned long long) f->at_handle, others);
        else
            (void) snprintf(
                buf, len, "%s inbound traffic may be accepted: chain %s reaches %s at chain %s%s",
                afn, name, f->at_label ? f->at_label : "an unknown verdict", at, others);
        break;
    case POSTURE_FW_NOT_APPLICABLE:
    default:
        (void) snprintf(buf, len, "%s inbound traffic is accepted: no input chain for %s", afn,
                        family_list(af));
        break;
    }
    return buf;
}
