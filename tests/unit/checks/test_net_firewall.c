/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net.firewall: the nft JSON and iptables-save parsers, the evaluator on rulesets captured from
 * real kernels (tests/fixtures/roots/net.firewall/, made by
 * tests/integration/checks/net.firewall/capture-fixtures.sh), and the check itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/json.h"
#include "posture/result.h"
#include "posture/runner.h"

#include "checktest.h"
#include "net_firewall/firewall.h"

/* ---- Helpers ---- */

struct scenario {
    /* nft, iptables-legacy, ip6tables-legacy, iptables-nft-save, ip6tables-nft-save */
    struct posture_fw_ruleset sets[5];
    bool ipv6_disabled;
    struct posture_fw_report rep;
    char explain[2][1024];
};

static char *slurp(const char *path, size_t *ret_len)
{
    char *buf = NULL;
    int fd;
    if (posture_root_open("/", &fd) < 0)
        return NULL;
    int r = posture_read_file_at(fd, path, 64u << 20, &buf, ret_len);
    (void) close(fd);
    return r < 0 ? NULL : buf;
}

static void load_scenario(const char *name, struct scenario *s)
{
    char rel[256];
    size_t len;

    memset(s, 0, sizeof(*s));
    (void) snprintf(rel, sizeof(rel), "fixtures/roots/net.firewall/%s.json", name);
    char *json = slurp(posture_test_path(rel), &len);
    assert_non_null(json);
    assert_int_equal(posture_fw_parse_nft_json(json, len, &s->sets[0]), 0);
    free(json);

    /* The check runs the save tools; the captures hold what they printed. */
    static const struct {
        const char *ext;
        enum posture_fw_source source;
    } saves[] = {
        { "iptables-save", POSTURE_FW_SOURCE_IPTABLES_LEGACY },
        { "ip6tables-save", POSTURE_FW_SOURCE_IP6TABLES_LEGACY },
        { "iptables-nft-save", POSTURE_FW_SOURCE_IPTABLES_NFT },
        { "ip6tables-nft-save", POSTURE_FW_SOURCE_IP6TABLES_NFT },
    };
    for (int i = 0; i < 4; i++) {
        (void) snprintf(rel, sizeof(rel), "fixtures/roots/net.firewall/%s.%s", name, saves[i].ext);
        char *text = slurp(posture_test_path(rel), &len);
        if (!text)
            continue;
        assert_int_equal(
            posture_fw_parse_iptables_save(text, len, saves[i].source, &s->sets[1 + i]), 0);
        free(text);
        if (i >= 2) /* as the check does */
            assert_true(posture_fw_ruleset_supersede(&s->sets[0], &s->sets[1 + i]) > 0);
    }
    (void) snprintf(rel, sizeof(rel), "fixtures/roots/net.firewall/%s.ipv6-disabled", name);
    s->ipv6_disabled = access(posture_test_path(rel), F_OK) == 0;

    const struct posture_fw_ruleset *sets[] = { &s->sets[0], &s->sets[1], &s->sets[2], &s->sets[3],
                                                &s->sets[4] };
    assert_int_equal(posture_fw_evaluate(sets, 5, s->ipv6_disabled, &s->rep), 0);
    for (int af = 0; af < POSTURE_FW_AF__MAX; af++)
        (void) posture_fw_explain(&s->rep, af, s->explain[af], sizeof(s->explain[af]));
}

static void scenario_done(struct scenario *s)
{
    posture_fw_report_done(&s->rep);
    for (int i = 0; i < 5; i++)
        posture_fw_ruleset_done(&s->sets[i]);
}

/* Evaluate an inline nft JSON document (made up, for what no kernel would hold). */
static void eval_json(const char *json, struct scenario *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(posture_fw_parse_nft_json(json, strlen(json), &s->sets[0]), 0);
    const struct posture_fw_ruleset *sets[] = { &s->sets[0] };
    assert_int_equal(posture_fw_evaluate(sets, 1, false, &s->rep), 0);
    for (int af = 0; af < POSTURE_FW_AF__MAX; af++)
        (void) posture_fw_explain(&s->rep, af, s->explain[af], sizeof(s->explain[af]));
}

static void eval_save(const char *text, enum posture_fw_source src, struct scenario *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(posture_fw_parse_iptables_save(text, strlen(text), src, &s->sets[1]), 0);
    const struct posture_fw_ruleset *sets[] = { &s->sets[1] };
    assert_int_equal(posture_fw_evaluate(sets, 1, false, &s->rep), 0);
    for (int af = 0; af < POSTURE_FW_AF__MAX; af++)
        (void) posture_fw_explain(&s->rep, af, s->explain[af], sizeof(s->explain[af]));
}

#define assert_contains(hay, needle)                                \
    do {                                                            \
        if (!strstr((hay), (needle)))                               \
            fail_msg("expected \"%s\" in \"%s\"", (needle), (hay)); \
    } while (0)

/* The outcome of the decisive chain for af. */
static uint8_t decisive_outcome(const struct scenario *s, enum posture_fw_af af)
{
    ssize_t k = s->rep.af[af].decisive;
    if (k < 0)
        return POSTURE_FW_NOT_APPLICABLE;
    return s->rep.chains[k].af[af].outcome;
}

/* ---- Rulesets captured from real kernels ---- */

static const struct {
    const char *name;
    bool deny4, deny6;
    const char *explain4; /* substring of the IPv4 explanation */
    const char *explain6;
} captured[] = {
    { "policy-drop", true, true, "chain inet filter input has policy drop",
      "chain inet filter input has policy drop" },
    { "final-drop", true, true, "chain inet filter input ends in an unconditional drop",
      "ends in an unconditional drop" },
    { "final-reject", true, true, "ends in an unconditional drop or reject",
      "ends in an unconditional drop or reject" },
    { "catch-all-accept", false, false,
      "chain inet filter input accepts all new traffic (rule handle ", "accepts all new traffic" },
    { "new-accept", false, false, "accepts all new traffic", "accepts all new traffic" },
    { "ipv4-only", true, false, "chain ip filter input has policy drop",
      "IPv6 inbound traffic is accepted: no input chain for ip6/inet" },
    { "ipv6-disabled", true, true, "chain ip filter input has policy drop", "IPv6 is disabled" },
    { "ipv6-reenabled", true, false, "chain ip filter input has policy drop",
      "IPv6 inbound traffic is accepted: no input chain for ip6/inet" },
    { "inet-ipv4-accept", false, true, "IPv4 inbound traffic is accepted: chain inet filter input",
      "policy drop" },
    { "empty", false, false, "IPv4 inbound traffic is accepted: no input chain for ip/inet",
      "no input chain for ip6/inet" },
    { "vmap", true, true, "policy drop", "policy drop" },
    { "vmap-new-accept", false, false, "accepts all new traffic", "accepts all new traffic" },
    { "two-chains", true, true, "chain inet late input has policy drop", "inet late input" },
    { "jump-accept", false, false, "accepts all new traffic in chain inet filter allow_all",
      "in chain inet filter allow_all" },
    { "goto-return", true, true, "policy drop", "policy drop" },
    { "ingress-only", false, false, "no input chain for ip/inet", "no input chain for ip6/inet" },
    { "firewalld-like", true, true, "chain inet firewalld filter_INPUT ends in an unconditional",
      "filter_INPUT ends in" },
    { "firewalld-trusted", false, false, "in chain inet firewalld filter_IN_trusted",
      "filter_IN_trusted" },
    { "docker-like", true, true, "chain inet filter input has policy drop", "inet filter input" },
    { "tailscale-like", true, true, "chain inet filter input has policy drop",
      "inet filter input" },
    { "tailscale-only", false, false, "chain ip filter INPUT has policy accept and no final drop",
      "chain ip6 filter INPUT has policy accept" },
    { "ufw-deny", true, true, "chain ip filter INPUT has policy drop",
      "chain ip6 filter INPUT has policy drop" },
    { "ufw-allow", false, true,
      "chain ip filter INPUT accepts all new TCP traffic in chain ip filter ufw-track-input "
      "(iptables-nft-save line ",
      "policy drop" },
    { "legacy-drop", true, true, "chain iptables-legacy filter INPUT has policy drop",
      "chain ip6tables-legacy filter INPUT has policy drop" },
    { "legacy-ufw-allow", false, true,
      "chain iptables-legacy filter INPUT accepts all new TCP traffic in chain iptables-legacy "
      "filter ufw-track-input (line ",
      "ip6tables-legacy filter INPUT has policy drop" },
    { "legacy-ufw-deny", true, true, "iptables-legacy filter INPUT has policy drop",
      "chain ip6tables-legacy filter INPUT ends in an unconditional drop or reject" },
    { "legacy-and-nft", true, true, "chain inet filter input has policy drop",
      "chain inet filter input has policy drop" },
    { "tcp-new-accept", false, false, "accepts all new TCP traffic (rule handle ",
      "accepts all new TCP traffic (rule handle " },
    { "udp-accept", false, false, "accepts all new UDP traffic (rule handle ",
      "accepts all new UDP traffic (rule handle " },
    { "iptables-nft-tcp-accept", false, true,
      "chain ip filter INPUT accepts all new TCP traffic (iptables-nft-save line 7)",
      "chain ip6 filter INPUT has policy drop" },
};

static void test_captured(void **state)
{
    (void) state;
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(captured); i++) {
        struct scenario s;
        print_message("scenario %s\n", captured[i].name);
        load_scenario(captured[i].name, &s);
        if (s.rep.af[POSTURE_FW_IPV4].denied != captured[i].deny4 ||
            s.rep.af[POSTURE_FW_IPV6].denied != captured[i].deny6)
            fail_msg("%s: IPv4 %d IPv6 %d, expected %d %d (%s | %s)", captured[i].name,
                     s.rep.af[POSTURE_FW_IPV4].denied, s.rep.af[POSTURE_FW_IPV6].denied,
                     captured[i].deny4, captured[i].deny6, s.explain[0], s.explain[1]);
        assert_contains(s.explain[0], captured[i].explain4);
        assert_contains(s.explain[1], captured[i].explain6);
        scenario_done(&s);
    }
}

static void test_captured_details(void **state)
{
    struct scenario s;
    (void) state;

    /* docker-like: the ip filter INPUT chain (policy accept) is listed but the inet one denies. */
    load_scenario("docker-like", &s);
    assert_int_equal(s.rep.n_chains, 2);
    assert_int_equal(s.rep.af[POSTURE_FW_IPV4].n_chains, 2);
    assert_int_equal(s.rep.af[POSTURE_FW_IPV6].n_chains, 1);
    assert_int_equal(decisive_outcome(&s, POSTURE_FW_IPV4), POSTURE_FW_DENY_POLICY);
    assert_int_equal(s.sets[0].n_tables, 3);
    assert_false(s.sets[0].has_ufw_chains);
    scenario_done(&s);

    /* two-chains: sorted by priority, the accept-all chain first. */
    load_scenario("two-chains", &s);
    assert_int_equal(s.rep.n_chains, 2);
    assert_int_equal(s.rep.chains[0].af[POSTURE_FW_IPV4].outcome, POSTURE_FW_OPEN_ACCEPT);
    assert_int_equal(s.rep.chains[1].af[POSTURE_FW_IPV4].outcome, POSTURE_FW_DENY_POLICY);
    assert_int_equal(s.rep.af[POSTURE_FW_IPV4].decisive, 1);
    scenario_done(&s);

    /* ufw: its chains are recognised (evidence "rules loaded"). */
    load_scenario("ufw-deny", &s);
    assert_true(s.sets[0].has_ufw_chains);
    assert_int_equal(s.sets[0].n_rules, 29); /* jq '[.nftables[] | select(.rule)] | length' */
    scenario_done(&s);
    load_scenario("legacy-ufw-allow", &s);
    assert_false(s.sets[0].has_ufw_chains);
    assert_true(s.sets[1].has_ufw_chains);
    assert_int_equal(s.sets[1].n_rules, 29);
    assert_int_equal(s.sets[1].n_tables, 1);
    scenario_done(&s);

    load_scenario("firewalld-like", &s);
    assert_true(s.sets[0].has_firewalld_table);
    assert_int_equal(decisive_outcome(&s, POSTURE_FW_IPV4), POSTURE_FW_DENY_RULE);
    scenario_done(&s);

    /* iptables-nft: the opaque view of ip filter is replaced by iptables-nft-save's. */
    load_scenario("iptables-nft-tcp-accept", &s);
    assert_true(s.sets[0].has_xt[POSTURE_FW_IPV4]);
    assert_true(s.sets[0].has_xt[POSTURE_FW_IPV6]);
    for (size_t i = 0; i < s.sets[0].n_chains; i++)
        assert_true(s.sets[0].chains[i].superseded);
    assert_int_equal(s.rep.n_chains, 2);
    assert_int_equal(s.rep.chains[0].rs->source, POSTURE_FW_SOURCE_IPTABLES_NFT);
    scenario_done(&s);
    /* Without the save output the opaque conntrack match is an exception (what the check does
     * when iptables-nft-save cannot run; it says so in the evidence). */
    {
        size_t len;
        char *json = slurp(
            posture_test_path("fixtures/roots/net.firewall/iptables-nft-tcp-accept.json"), &len);
        assert_non_null(json);
        eval_json(json, &s);
        free(json);
        assert_true(s.rep.af[POSTURE_FW_IPV4].denied);
        scenario_done(&s);
    }

    /* empty: metainfo only; the digest is that of {"nftables":[]}. */
    load_scenario("empty", &s);
    assert_int_equal(s.sets[0].n_tables, 0);
    assert_int_equal(s.sets[0].n_rules, 0);
    uint8_t want[POSTURE_FW_SHA256_LEN];
    assert_int_equal(posture_fw_sha256("{\"nftables\":[]}", 15, want), 0);
    assert_memory_equal(s.sets[0].sha256, want, sizeof(want));
    assert_int_equal(s.rep.n_chains, 0);
    assert_int_equal(s.rep.af[POSTURE_FW_IPV4].decisive, -1);
    scenario_done(&s);
}

/* ---- Made-up rulesets: semantics the captures do not reach ---- */

/*
 * JSON builders. Every element and statement ends with a comma; DOC() and RULE() close the list
 * with an element that changes nothing (an empty object, a counter).
 */
#define DOC(elements) "{\"nftables\": [" elements "{}]}"
#define TABLE         "{\"table\": {\"family\": \"inet\", \"name\": \"t\", \"handle\": 1}},"
#define BASE(pol)                                                                            \
    "{\"chain\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"in\", \"handle\": 1, " \
    "\"type\": \"filter\", \"hook\": \"input\", \"prio\": 0, \"policy\": \"" pol "\"}},"
#define CHAIN(n) "{\"chain\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"" n "\"}},"
#define RULE(chain, h, stmts)                                                 \
    "{\"rule\": {\"family\": \"inet\", \"table\": \"t\", \"chain\": \"" chain \
    "\", \"handle\": " #h ", \"expr\": [" stmts "{\"counter\": null}]}},"
#define ACCEPT         "{\"accept\": null},"
#define DROP           "{\"drop\": null},"
#define RETURN         "{\"return\": null},"
#define COUNTER        "{\"counter\": null},"
#define JUMP(t)        "{\"jump\": {\"target\": \"" t "\"}},"
#define GOTO(t)        "{\"goto\": {\"target\": \"" t "\"}},"
#define XT(type, name) "{\"xt\": {\"type\": \"" type "\", \"name\": \"" name "\"}},"
#define MATCH(l, o, r) "{\"match\": {\"op\": \"" o "\", \"left\": " l ", \"right\": " r "}},"
#define META(k)        "{\"meta\": {\"key\": \"" k "\"}}"
#define CTSTATE        "{\"ct\": {\"key\": \"state\"}}"
#define TCP_DPORT_22 \
    MATCH("{\"payload\": {\"protocol\": \"tcp\", \"field\": \"dport\"}}", "==", "22")

static void expect(const char *json, bool deny4, bool deny6, uint8_t outcome4, const char *text4)
{
    struct scenario s;
    eval_json(json, &s);
    if (s.rep.af[POSTURE_FW_IPV4].denied != deny4 || s.rep.af[POSTURE_FW_IPV6].denied != deny6)
        fail_msg("IPv4 %d IPv6 %d, expected %d %d (%s | %s) for %s",
                 s.rep.af[POSTURE_FW_IPV4].denied, s.rep.af[POSTURE_FW_IPV6].denied, deny4, deny6,
                 s.explain[0], s.explain[1], json);
    assert_int_equal(decisive_outcome(&s, POSTURE_FW_IPV4), outcome4);
    if (text4)
        assert_contains(s.explain[0], text4);
    scenario_done(&s);
}

static void test_matches(void **state)
{
    (void) state;
    /* Exceptions are fine: ports, established, loopback. */
    expect(DOC(TABLE BASE("accept")
                   RULE("in", 2, MATCH(CTSTATE, "in", "[\"established\", \"related\"]") ACCEPT)
                       RULE("in", 3, MATCH(META("iifname"), "==", "\"lo\"") ACCEPT)
                           RULE("in", 4, TCP_DPORT_22 ACCEPT) RULE("in", 5, COUNTER DROP)),
           true, true, POSTURE_FW_DENY_RULE, "ends in an unconditional drop");
    /* ct state != established: matches new packets. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, MATCH(CTSTATE, "!=", "\"established\"") ACCEPT)),
           false, false, POSTURE_FW_OPEN_ACCEPT, "(rule handle 2)");
    /* ct state != new: never for new packets. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, MATCH(CTSTATE, "!=", "\"new\"") ACCEPT)), true,
           true, POSTURE_FW_DENY_POLICY, NULL);
    /* ct state { new, established } (a set): matches new. */
    expect(DOC(TABLE BASE("drop") RULE(
               "in", 2, MATCH(CTSTATE, "==", "{\"set\": [\"new\", \"established\"]}") ACCEPT)),
           false, false, POSTURE_FW_OPEN_ACCEPT, NULL);
    /* "==" with a plain list compares a whole bit mask: MAYBE. */
    expect(DOC(TABLE BASE("drop")
                   RULE("in", 2, MATCH(CTSTATE, "==", "[\"new\", \"established\"]") ACCEPT)),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    /* iifname != "lo": everything from outside. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, MATCH(META("iifname"), "!=", "\"lo\"") ACCEPT)),
           false, false, POSTURE_FW_OPEN_ACCEPT, NULL);
    /* iifname "eth0" accept: an interface exception (MAYBE). */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, MATCH(META("iifname"), "==", "\"eth0\"") ACCEPT)),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    /* ip saddr 0.0.0.0/0 accept in inet: all IPv4, no IPv6. */
    expect(DOC(TABLE BASE("drop")
                   RULE("in", 2,
                        MATCH("{\"payload\": {\"protocol\": \"ip\", \"field\": \"saddr\"}}",
                              "==", "{\"prefix\": {\"addr\": \"0.0.0.0\", \"len\": 0}}") ACCEPT)),
           false, true, POSTURE_FW_OPEN_ACCEPT, NULL);
    /* ip6 saddr != ::/0 matches nothing. */
    expect(DOC(TABLE BASE("drop")
                   RULE("in", 2,
                        MATCH("{\"payload\": {\"protocol\": \"ip6\", \"field\": \"saddr\"}}",
                              "!=", "{\"prefix\": {\"addr\": \"::\", \"len\": 0}}") ACCEPT)),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    /* meta nfproto ipv6 accept: IPv6 open only. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, MATCH(META("nfproto"), "==", "\"ipv6\"") ACCEPT)),
           true, false, POSTURE_FW_DENY_POLICY, NULL);
    /* A limit makes even a bare accept conditional (rate-limited). */
    expect(DOC(TABLE BASE("drop")
                   RULE("in", 2, "{\"limit\": {\"rate\": 10, \"per\": \"second\"}}," ACCEPT)),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    /* A comparison op (<) is MAYBE. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, MATCH(CTSTATE, "<", "\"new\"") ACCEPT)), true, true,
           POSTURE_FW_DENY_POLICY, NULL);
    /* xt comment match is no condition; other xt matches are. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, XT("match", "comment") ACCEPT)), false, false,
           POSTURE_FW_OPEN_ACCEPT, NULL);
    expect(DOC(TABLE BASE("drop") RULE("in", 2, XT("match", "conntrack") ACCEPT)), true, true,
           POSTURE_FW_DENY_POLICY, NULL);
    /* Protocols: the probes are a new TCP connection and a new UDP flow. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, MATCH(META("l4proto"), "==", "\"tcp\"") ACCEPT)),
           false, false, POSTURE_FW_OPEN_ACCEPT, "accepts all new TCP traffic (rule handle 2)");
    expect(DOC(TABLE BASE("drop") RULE("in", 2, MATCH(META("l4proto"), "==", "17") ACCEPT)), false,
           false, POSTURE_FW_OPEN_ACCEPT, "accepts all new UDP traffic (rule handle 2)");
    expect(DOC(TABLE BASE("drop") RULE(
               "in", 2, MATCH(META("l4proto"), "==", "{\"set\": [\"tcp\", \"udp\"]}") ACCEPT)),
           false, false, POSTURE_FW_OPEN_ACCEPT, "accepts all new traffic (rule handle 2)");
    expect(DOC(TABLE BASE("drop") RULE(
               "in", 2, MATCH(META("l4proto"), "!=", "{\"set\": [\"tcp\", \"udp\"]}") ACCEPT)),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    expect(DOC(TABLE BASE("drop") RULE("in", 2,
                                       MATCH(META("l4proto"), "==",
                                             "{\"set\": [\"icmp\", "
                                             "\"ipv6-icmp\"]}") ACCEPT)),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    /* ip protocol tcp: IPv4 TCP only; icmp headers never match TCP or UDP. */
    expect(DOC(TABLE BASE("drop")
                   RULE("in", 2,
                        MATCH("{\"payload\": {\"protocol\": \"ip\", \"field\": \"protocol\"}}",
                              "==", "\"tcp\"") ACCEPT)),
           false, true, POSTURE_FW_OPEN_ACCEPT, "all new TCP traffic");
    expect(DOC(TABLE BASE("drop")
                   RULE("in", 2,
                        MATCH("{\"payload\": {\"protocol\": \"icmp\", \"field\": \"type\"}}",
                              "==", "\"echo-request\"") ACCEPT)),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    /* A UDP port match never matches the TCP probe: "udp dport 53 drop" is no final drop. */
    expect(DOC(TABLE BASE("accept") RULE(
               "in", 2,
               MATCH("{\"payload\": {\"protocol\": \"udp\", \"field\": \"dport\"}}", "==", "53")
                   DROP) RULE("in", 3, MATCH(META("l4proto"), "==", "\"tcp\"") DROP)),
           false, false, POSTURE_FW_OPEN_POLICY,
           "has policy accept and no final drop or reject rule for UDP");
    /* Policy accept with nothing else. */
    expect(DOC(TABLE BASE("accept")), false, false, POSTURE_FW_OPEN_POLICY,
           "has policy accept and no final drop or reject rule");
}

static void test_flow(void **state)
{
    (void) state;
    /* A conditional jump into an accept-all chain is an exception (tcp dport 22 -> accept). */
    expect(DOC(TABLE BASE("drop") CHAIN("ssh") RULE("ssh", 3, ACCEPT)
                   RULE("in", 2, TCP_DPORT_22 JUMP("ssh"))),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    /* The ufw-allow shape: an unconditional jump to a chain with a conditional return and a
     * final drop; the return path reaches policy accept. */
    expect(DOC(TABLE BASE("accept") CHAIN("notlocal")
                   RULE("notlocal", 3, XT("match", "addrtype") RETURN) RULE("notlocal", 4, DROP)
                       RULE("in", 2, JUMP("notlocal"))),
           false, false, POSTURE_FW_OPEN_POLICY, NULL);
    /* The same with policy drop denies. */
    expect(DOC(TABLE BASE("drop") CHAIN("notlocal")
                   RULE("notlocal", 3, XT("match", "addrtype") RETURN) RULE("notlocal", 4, DROP)
                       RULE("in", 2, JUMP("notlocal"))),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    /* An unconditional drop in a jumped-to chain is final. */
    expect(DOC(TABLE BASE("accept") CHAIN("deny") RULE("deny", 3, DROP) RULE("in", 2, JUMP("deny"))
                   RULE("in", 4, ACCEPT)),
           true, true, POSTURE_FW_DENY_RULE, NULL);
    /* goto to a chain that returns: the base policy decides (accept here). */
    expect(DOC(TABLE BASE("accept") CHAIN("svc") RULE("svc", 3, TCP_DPORT_22 ACCEPT)
                   RULE("in", 2, GOTO("svc")) RULE("in", 4, DROP)),
           false, false, POSTURE_FW_OPEN_POLICY, NULL);
    /* return in the base chain: policy. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, RETURN) RULE("in", 3, ACCEPT)), true, true,
           POSTURE_FW_DENY_POLICY, NULL);
    /* A jump to a chain that is not there, a queue and an unknown xt target: unknown. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, JUMP("nowhere"))), false, false,
           POSTURE_FW_OPEN_UNKNOWN, "the unknown target nowhere");
    expect(DOC(TABLE BASE("drop") RULE("in", 2, "{\"queue\": {\"num\": 1}},")), false, false,
           POSTURE_FW_OPEN_UNKNOWN, "a queue to userspace");
    expect(DOC(TABLE BASE("drop") RULE("in", 2, XT("target", "FOO"))), false, false,
           POSTURE_FW_OPEN_UNKNOWN, "the iptables target FOO");
    /* Known non-terminal xt targets go on; REJECT denies. */
    expect(DOC(TABLE BASE("accept") RULE("in", 2, XT("target", "LOG"))
                   RULE("in", 3, XT("target", "REJECT"))),
           true, true, POSTURE_FW_DENY_RULE, NULL);
    /* An unknown statement ends the rule as unknown. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, "{\"synproxy\": {\"mss\": 1460}},")), false, false,
           POSTURE_FW_OPEN_UNKNOWN, "the statement synproxy");
    /* A conditional unknown target is an exception like a conditional accept. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2, TCP_DPORT_22 XT("target", "FOO"))), true, true,
           POSTURE_FW_DENY_POLICY, NULL);
    /* A loop (the kernel refuses them): unknown, and no hang. */
    expect(DOC(TABLE BASE("drop") CHAIN("a") CHAIN("b") RULE("a", 3, JUMP("b"))
                   RULE("b", 4, JUMP("a")) RULE("in", 2, JUMP("a"))),
           false, false, POSTURE_FW_OPEN_UNKNOWN, "a jump loop");
    /* A conditional loop only constrains: the base policy still decides. */
    expect(DOC(TABLE BASE("drop") CHAIN("a") RULE("a", 3, TCP_DPORT_22 JUMP("a"))
                   RULE("in", 2, TCP_DPORT_22 JUMP("a"))),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
}

static void test_deep_jumps(void **state)
{
    char json[16384];
    size_t n;
    (void) state;

    /* c0 -> c1 -> ... -> c20, each jump unconditional: deeper than the kernel allows. */
    n = (size_t) snprintf(json, sizeof(json), "{\"nftables\": [" TABLE BASE("drop"));
    for (int i = 0; i < 20; i++)
        n += (size_t) snprintf(json + n, sizeof(json) - n,
                               "{\"chain\": {\"family\": \"inet\", \"table\": \"t\", \"name\": "
                               "\"c%d\"}}," RULE("c%d", % d, "{\"jump\": {\"target\": \"c%d\"}},"),
                               i, i, 100 + i, i + 1);
    n += (size_t) snprintf(json + n, sizeof(json) - n,
                           CHAIN("c20") RULE("in", 2, JUMP("c0")) "{}]}");
    assert_true(n < sizeof(json));
    expect(json, false, false, POSTURE_FW_OPEN_UNKNOWN, "jumps nested too deeply");

    /* 15 levels are fine: the last chain drops. */
    n = (size_t) snprintf(json, sizeof(json), "{\"nftables\": [" TABLE BASE("accept"));
    for (int i = 0; i < 15; i++)
        n += (size_t) snprintf(json + n, sizeof(json) - n,
                               "{\"chain\": {\"family\": \"inet\", \"table\": \"t\", \"name\": "
                               "\"c%d\"}}," RULE("c%d", % d, "{\"jump\": {\"target\": \"c%d\"}},"),
                               i, i, 100 + i, i + 1);
    n += (size_t) snprintf(json + n, sizeof(json) - n,
                           CHAIN("c15") RULE("c15", 99, DROP) RULE("in", 2, JUMP("c0")) "{}]}");
    assert_true(n < sizeof(json));
    expect(json, true, true, POSTURE_FW_DENY_RULE, NULL);
}

static void test_vmap(void **state)
{
    (void) state;
    /* A named verdict map resolved by name; docker0 jumps to a chain that accepts all: still an
     * interface exception. */
    expect(DOC(TABLE
               "{\"map\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"m\", "
               "\"type\": \"ifname\", \"map\": \"verdict\", \"elem\": [[\"eth0\", {\"accept\": "
               "null}], [\"docker0\", {\"jump\": {\"target\": \"x\"}}]]}}," BASE("drop") CHAIN("x")
                   RULE("x", 3, ACCEPT) RULE(
                       "in", 2, "{\"vmap\": {\"key\": " META("iifname") ", \"data\": \"@m\"}},")),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    /* A map that is not listed: unknown, but conditional (interface), so an exception. */
    expect(DOC(TABLE BASE("drop") RULE(
               "in", 2, "{\"vmap\": {\"key\": " META("iifname") ", \"data\": \"@gone\"}},")),
           true, true, POSTURE_FW_DENY_POLICY, NULL);
    /* ct state vmap with new: drop is a final drop under policy accept. */
    expect(DOC(TABLE BASE("accept")
                   RULE("in", 2,
                        "{\"vmap\": {\"key\": " CTSTATE ", \"data\": {\"set\": [[\"established\", "
                        "{\"accept\": null}], [\"new\", {\"drop\": null}]]}}},")),
           true, true, POSTURE_FW_DENY_RULE, NULL);
    /* Element keys wrapped in {"elem": {"val": ...}} (timeouts) are understood. */
    expect(DOC(TABLE BASE("drop") RULE("in", 2,
                                       "{\"vmap\": {\"key\": " CTSTATE
                                       ", \"data\": {\"set\": [[{\"elem\": {\"val\": "
                                       "\"new\", \"timeout\": 5}}, {\"accept\": null}]]}}},")),
           false, false, POSTURE_FW_OPEN_ACCEPT, NULL);
    /* Elements with the same verdict are merged (the model stays small). */
    struct scenario s;
    eval_json(
        DOC(TABLE BASE("drop") RULE(
            "in", 2,
            "{\"vmap\": {\"key\": {\"payload\": {\"protocol\": \"tcp\", \"field\": \"dport\"}}, "
            "\"data\": {\"set\": [[22, {\"accept\": null}], [80, {\"accept\": null}], [443, "
            "{\"accept\": null}], [25, {\"drop\": null}]]}}},")),
        &s);
    assert_int_equal(s.sets[0].chains[0].n_rules, 2);
    assert_true(s.rep.af[POSTURE_FW_IPV4].denied);
    scenario_done(&s);
}

/* ---- Parser edges ---- */

static void test_nft_json_errors(void **state)
{
    struct posture_fw_ruleset rs;
    (void) state;

    static const char *const bad[] = {
        "",
        "not json",
        "{\"nftables\": 1}",
        "{\"other\": []}",
        "[]",
        "{\"nftables\": []} trailing",
        "{\"nftables\": [], \"nftables\": []}",
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(bad); i++) {
        memset(&rs, 0x5a, sizeof(rs));
        assert_int_equal(posture_fw_parse_nft_json(bad[i], strlen(bad[i]), &rs), -EBADMSG);
    }
    /* Nesting deeper than POSTURE_FW_JSON_DEPTH_MAX. */
    char deep[512];
    size_t n = 0;
    n += (size_t) snprintf(deep, sizeof(deep), "{\"nftables\": ");
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    assert_int_equal(posture_fw_parse_nft_json(deep, n, &rs), -EBADMSG);
    assert_int_equal(posture_fw_parse_nft_json(NULL, 0, &rs), -EINVAL);
    assert_int_equal(posture_fw_parse_nft_json("{}", 2, NULL), -EINVAL);
    assert_int_equal(posture_fw_parse_nft_json("{}", POSTURE_FW_JSON_MAX + 1, &rs), -E2BIG);

    /* Odd but valid documents parse and evaluate to "not denied" (or to what they hold). */
    static const struct {
        const char *json;
        bool deny;
    } odd[] = {
        { "{\"nftables\": []}", false },
        { "{\"nftables\": [1, \"x\", null, {}, {\"a\": 1, \"b\": 2}, {\"chain\": 5}]}", false },
        /* A bad prio and policy: prio 0, policy accept. */
        { DOC("{\"chain\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"c\", \"hook\": "
              "\"input\", \"type\": \"filter\", \"prio\": \"x\", \"policy\": 7}},"),
          false },
        /* A base chain without a type does not count. */
        { DOC("{\"chain\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"c\", \"hook\": "
              "\"input\", \"policy\": \"drop\"}},"),
          false },
        /* A rule of a chain that is not listed is counted but attached to nothing. */
        { DOC("{\"rule\": {\"family\": \"inet\", \"table\": \"t\", \"chain\": \"missing\", "
              "\"expr\": [{\"drop\": null}]}},"),
          false },
        /* A rule whose expr is not a list has no verdict. */
        { DOC(BASE("drop") "{\"rule\": {\"family\": \"inet\", \"table\": \"t\", \"chain\": "
                           "\"in\", \"expr\": 5}},"),
          true },
        /* A statement that is not a one-member object: unknown. */
        { DOC(BASE("drop") RULE("in", 2, "{\"a\": 1, \"b\": 2},")), false },
        /* A jump without a target: unknown. */
        { DOC(BASE("drop") RULE("in", 2, "{\"jump\": {}},")), false },
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(odd); i++) {
        struct scenario s;
        eval_json(odd[i].json, &s);
        if (s.rep.af[POSTURE_FW_IPV4].denied != odd[i].deny)
            fail_msg("%s: denied %d", odd[i].json, s.rep.af[POSTURE_FW_IPV4].denied);
        scenario_done(&s);
    }
    posture_fw_ruleset_done(NULL);
    memset(&rs, 0, sizeof(rs));
    posture_fw_ruleset_done(&rs);
    posture_fw_ruleset_done(&rs);
}

static void test_digest(void **state)
{
    struct posture_fw_ruleset a, b, c;
    (void) state;

    /* Handles, counter values, quota usage, element expiry and metainfo do not count. */
    const char *one = DOC("{\"metainfo\": {\"version\": \"1.0.6\"}}," TABLE BASE("drop")
                              RULE("in", 2,
                                   "{\"counter\": {\"packets\": 5, \"bytes\": "
                                   "300}}," ACCEPT) "{\"quota\": {\"family\": \"inet\", "
                                                    "\"table\": \"t\", \"name\": \"q\", "
                                                    "\"handle\": 3, \"bytes\": 100, "
                                                    "\"used\": 7}},"
                                                    "{\"set\": {\"family\": \"inet\", "
                                                    "\"table\": \"t\", \"name\": \"s\", "
                                                    "\"handle\": 4, \"flags\": "
                                                    "[\"dynamic\"], \"elem\": "
                                                    "[\"1.2.3.4\"]}},"
                                                    "{\"set\": {\"family\": \"inet\", "
                                                    "\"table\": \"t\", \"name\": \"f\", "
                                                    "\"handle\": 5, \"elem\": [{\"elem\": "
                                                    "{\"val\": \"1.2.3.4\", \"expires\": "
                                                    "10}}]}},");
    const char *two = DOC("{\"metainfo\": {\"version\": \"1.1.0\"}},"
                          "{\"table\": {\"family\": \"inet\", \"name\": \"t\", \"handle\": 9}},"
                          "{\"chain\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"in\", "
                          "\"handle\": 7, "
                          "\"type\": \"filter\", \"hook\": \"input\", \"prio\": 0, \"policy\": "
                          "\"drop\"}}," RULE("in", 77,
                                             "{\"counter\": {\"packets\": 9, \"bytes\": "
                                             "999}}," ACCEPT) "{\"quota\": {\"family\": \"inet\", "
                                                              "\"table\": \"t\", \"name\": \"q\", "
                                                              "\"handle\": 30, \"bytes\": 100, "
                                                              "\"used\": 70}},"
                                                              "{\"set\": {\"family\": \"inet\", "
                                                              "\"table\": \"t\", \"name\": \"s\", "
                                                              "\"handle\": 40, \"flags\": "
                                                              "[\"dynamic\"], \"elem\": "
                                                              "[\"5.6.7.8\"]}},"
                                                              "{\"set\": {\"family\": \"inet\", "
                                                              "\"table\": \"t\", \"name\": \"f\", "
                                                              "\"handle\": 50, \"elem\": "
                                                              "[{\"elem\": {\"val\": \"1.2.3.4\", "
                                                              "\"expires\": 3}}]}},");
    /* A different quota limit is a different ruleset. */
    const char *three = DOC(TABLE BASE("drop") RULE(
        "in", 2,
        COUNTER ACCEPT) "{\"quota\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"q\", "
                        "\"bytes\": 200}},"
                        "{\"set\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"s\", "
                        "\"flags\": [\"dynamic\"]}},"
                        "{\"set\": {\"family\": \"inet\", \"table\": \"t\", \"name\": \"f\", "
                        "\"elem\": [{\"elem\": {\"val\": \"1.2.3.4\"}}]}},");
    assert_int_equal(posture_fw_parse_nft_json(one, strlen(one), &a), 0);
    assert_int_equal(posture_fw_parse_nft_json(two, strlen(two), &b), 0);
    assert_int_equal(posture_fw_parse_nft_json(three, strlen(three), &c), 0);
    assert_memory_equal(a.sha256, b.sha256, POSTURE_FW_SHA256_LEN);
    assert_memory_not_equal(a.sha256, c.sha256, POSTURE_FW_SHA256_LEN);
    assert_int_equal(a.n_rules, 1);
    assert_int_equal(a.n_tables, 1);
    posture_fw_ruleset_done(&a);
    posture_fw_ruleset_done(&b);
    posture_fw_ruleset_done(&c);

    /* The SHA-256 itself (FIPS 180-2 test vector "abc"). */
    uint8_t d[POSTURE_FW_SHA256_LEN];
    static const uint8_t abc[POSTURE_FW_SHA256_LEN] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
    };
    assert_int_equal(posture_fw_sha256("abc", 3, d), 0);
    assert_memory_equal(d, abc, sizeof(abc));
    assert_int_equal(posture_fw_sha256(NULL, 1, d), -EINVAL);
    assert_int_equal(posture_fw_sha256("", 0, NULL), -EINVAL);
}

static void test_iptables_save(void **state)
{
    struct scenario s;
    (void) state;

    /* Quoting, negation, conntrack NEW, comments, goto, counters in brackets. */
    eval_save(
        "# Generated by iptables-save\r\n"
        "*filter\n"
        ":INPUT ACCEPT [12:3400]\n"
        ":svc - [0:0]\n"
        "-A INPUT -m comment --comment \"-i lo -j DROP\" -j LOG --log-prefix \"a \\\"b\\\" \"\n"
        "-A INPUT -i lo -j ACCEPT\n"
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
        "-A INPUT -g svc\n"
        "-A svc -s 10.0.0.0/8 -j RETURN\n"
        "-A svc -j REJECT --reject-with icmp-port-unreachable\n"
        "COMMIT\n",
        POSTURE_FW_SOURCE_IPTABLES_LEGACY, &s);
    /* The conditional RETURN of svc ends the goto'd chain: the base policy (accept) applies. */
    assert_false(s.rep.af[POSTURE_FW_IPV4].denied);
    assert_int_equal(decisive_outcome(&s, POSTURE_FW_IPV4), POSTURE_FW_OPEN_POLICY);
    assert_false(s.rep.af[POSTURE_FW_IPV6].denied); /* an iptables ruleset sees IPv4 only */
    assert_int_equal(s.rep.af[POSTURE_FW_IPV6].n_chains, 0);
    assert_int_equal(s.sets[1].n_rules, 7);
    scenario_done(&s);

    /* The same under policy DROP, and without the RETURN under policy ACCEPT. */
    eval_save("*filter\n:INPUT DROP [0:0]\n:svc - [0:0]\n-A INPUT -g svc\n"
              "-A svc -s 10.0.0.0/8 -j RETURN\n-A svc -j REJECT\nCOMMIT\n",
              POSTURE_FW_SOURCE_IPTABLES_LEGACY, &s);
    assert_int_equal(decisive_outcome(&s, POSTURE_FW_IPV4), POSTURE_FW_DENY_POLICY);
    scenario_done(&s);
    eval_save("*filter\n:INPUT ACCEPT [0:0]\n:svc - [0:0]\n-A INPUT -g svc\n"
              "-A svc -p tcp --dport 22 -j ACCEPT\n-A svc -j REJECT\nCOMMIT\n",
              POSTURE_FW_SOURCE_IPTABLES_LEGACY, &s);
    assert_int_equal(decisive_outcome(&s, POSTURE_FW_IPV4), POSTURE_FW_DENY_RULE);
    assert_contains(s.explain[0], "chain iptables-legacy filter INPUT ends in an unconditional");
    scenario_done(&s);

    eval_save("*filter\n:INPUT DROP [0:0]\n-A INPUT ! -i lo -j ACCEPT\nCOMMIT\n",
              POSTURE_FW_SOURCE_IP6TABLES_LEGACY, &s);
    assert_false(s.rep.af[POSTURE_FW_IPV6].denied);
    assert_contains(s.explain[1], "chain ip6tables-legacy filter INPUT accepts all new traffic "
                                  "(line 3)");
    scenario_done(&s);

    eval_save("*filter\n:INPUT DROP [0:0]\n-A INPUT -m state ! --state ESTABLISHED -j ACCEPT\n",
              POSTURE_FW_SOURCE_IPTABLES_LEGACY, &s);
    assert_false(s.rep.af[POSTURE_FW_IPV4].denied);
    scenario_done(&s);

    eval_save("*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate NEW,ESTABLISHED -j "
              "NFQUEUE --queue-num 1\n",
              POSTURE_FW_SOURCE_IPTABLES_LEGACY, &s);
    assert_int_equal(decisive_outcome(&s, POSTURE_FW_IPV4), POSTURE_FW_OPEN_UNKNOWN);
    assert_contains(s.explain[0], "the iptables target NFQUEUE");
    scenario_done(&s);

    /* -p: the probe of that protocol only; "! -p tcp" is UDP too; icmp is neither. */
    eval_save("*filter\n:INPUT DROP [0:0]\n-A INPUT -p udp -j ACCEPT\n",
              POSTURE_FW_SOURCE_IPTABLES_LEGACY, &s);
    assert_contains(s.explain[0], "accepts all new UDP traffic (line 3)");
    scenario_done(&s);
    eval_save("*filter\n:INPUT DROP [0:0]\n-A INPUT ! -p tcp -j ACCEPT\n",
              POSTURE_FW_SOURCE_IPTABLES_NFT, &s);
    assert_contains(s.explain[0], "chain ip filter INPUT accepts all new UDP traffic "
                                  "(iptables-nft-save line 3)");
    scenario_done(&s);
    eval_save("*filter\n:INPUT DROP [0:0]\n-A INPUT -p icmp -j ACCEPT\n-A INPUT -p 6 -m tcp "
              "--dport 22 -j ACCEPT\n",
              POSTURE_FW_SOURCE_IP6TABLES_NFT, &s);
    assert_true(s.rep.af[POSTURE_FW_IPV6].denied);
    scenario_done(&s);

    eval_save("*filter\n:INPUT DROP [0:0]\n-A INPUT -j WHATEVER\n",
              POSTURE_FW_SOURCE_IPTABLES_LEGACY, &s);
    assert_contains(s.explain[0], "the unknown target WHATEVER");
    scenario_done(&s);

    /* The mangle table's INPUT does not count; rules outside a table are ignored. */
    eval_save("-A INPUT -j DROP\n*mangle\n:INPUT DROP [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT\n"
              "COMMIT\n-A INPUT -j DROP\n",
              POSTURE_FW_SOURCE_IPTABLES_LEGACY, &s);
    assert_false(s.rep.af[POSTURE_FW_IPV4].denied);
    assert_int_equal(s.rep.n_chains, 1);
    assert_int_equal(s.sets[1].n_tables, 2);
    assert_int_equal(s.sets[1].n_rules, 0);
    scenario_done(&s);

    /* The digest ignores comments and counters. */
    struct posture_fw_ruleset a, b, c;
    const char *t1 = "# x\n*filter\n:INPUT DROP [1:2]\n-A INPUT -j ACCEPT\nCOMMIT\n# y\n";
    const char *t2 = "*filter\n:INPUT DROP [99:9999]\n-A INPUT -j ACCEPT\nCOMMIT\n";
    const char *t3 = "*filter\n:INPUT ACCEPT [1:2]\n-A INPUT -j ACCEPT\nCOMMIT\n";
    assert_int_equal(
        posture_fw_parse_iptables_save(t1, strlen(t1), POSTURE_FW_SOURCE_IPTABLES_LEGACY, &a), 0);
    assert_int_equal(
        posture_fw_parse_iptables_save(t2, strlen(t2), POSTURE_FW_SOURCE_IPTABLES_LEGACY, &b), 0);
    assert_int_equal(
        posture_fw_parse_iptables_save(t3, strlen(t3), POSTURE_FW_SOURCE_IPTABLES_LEGACY, &c), 0);
    assert_memory_equal(a.sha256, b.sha256, POSTURE_FW_SHA256_LEN);
    assert_memory_not_equal(a.sha256, c.sha256, POSTURE_FW_SHA256_LEN);
    posture_fw_ruleset_done(&a);
    posture_fw_ruleset_done(&b);
    posture_fw_ruleset_done(&c);

    /* Errors. */
    assert_int_equal(
        posture_fw_parse_iptables_save("*filter\0", 8, POSTURE_FW_SOURCE_IPTABLES_LEGACY, &a),
        -EBADMSG);
    assert_int_equal(posture_fw_parse_iptables_save("", POSTURE_FW_SAVE_MAX + 1,
                                                    POSTURE_FW_SOURCE_IPTABLES_LEGACY, &a),
                     -E2BIG);
    assert_int_equal(posture_fw_parse_iptables_save("", 0, POSTURE_FW_SOURCE_NFTABLES, &a),
                     -EINVAL);
}

static void test_evaluate_args(void **state)
{
    struct posture_fw_report rep;
    (void) state;

    assert_int_equal(posture_fw_evaluate(NULL, 0, false, NULL), -EINVAL);
    assert_int_equal(posture_fw_evaluate(NULL, 1, false, &rep), -EINVAL);
    assert_int_equal(posture_fw_evaluate(NULL, 0, true, &rep), 0);
    assert_false(rep.af[POSTURE_FW_IPV4].denied);
    assert_true(rep.af[POSTURE_FW_IPV6].denied);
    assert_true(rep.af[POSTURE_FW_IPV6].disabled);
    char buf[256];
    assert_string_equal(posture_fw_explain(&rep, POSTURE_FW_IPV6, buf, sizeof(buf)),
                        "IPv6 is disabled");
    /* Truncation to a small buffer. */
    assert_string_equal(posture_fw_explain(&rep, POSTURE_FW_IPV4, buf, 5), "IPv4");
    posture_fw_report_done(&rep);
    posture_fw_report_done(&rep);
    posture_fw_report_done(NULL);
    assert_string_equal(posture_fw_af_name(POSTURE_FW_IPV4), "IPv4");
    assert_string_equal(posture_fw_chain_name(NULL, 0, buf, sizeof(buf)), "?");
}

/* ---- The check ---- */

/* With --root DIR there is no kernel to ask: error, but the managers' config is evidence. */
static void test_check_root_fixture(void **state)
{
    posture_auto_run struct posture_run *run = NULL;
    (void) state;

    char *dir = posture_test_mkdtemp();
    assert_non_null(dir);
    assert_int_equal(posture_test_write_file(dir, "etc/ufw/ufw.conf",
                                             "# comment\nENABLED=no\n  ENABLED=\"yes\"\r\n"
                                             "LOGLEVEL=low\n"),
                     0);
    struct posture_result *r = posture_test_run_check("net.firewall", dir, NULL, &run);
    assert_int_equal(r->status, POSTURE_STATUS_ERROR);
    assert_contains(r->reason, "the kernel ruleset cannot be read for --root ");
    assert_non_null(r->remediation);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->evidence, "managers");
    const cJSON *ufw = cJSON_GetObjectItemCaseSensitive(m, "ufw");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ufw, "installed")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ufw, "enabled")));
    run = posture_run_free(run);

    assert_int_equal(posture_test_write_file(dir, "etc/ufw/ufw.conf", "ENABLED=no\n"), 0);
    r = posture_test_run_check("net.firewall", dir, NULL, &run);
    m = cJSON_GetObjectItemCaseSensitive(r->evidence, "managers");
    ufw = cJSON_GetObjectItemCaseSensitive(m, "ufw");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ufw, "enabled")));
    assert_int_equal(posture_test_rmdir_r(dir), 0);
    free(dir);
}

/* On this machine: root reads the ruleset (pass or fail, never error); anyone else gets an
 * error naming CAP_NET_ADMIN. */
static void test_check_host(void **state)
{
    posture_auto_run struct posture_run *run = NULL;
    (void) state;

    struct posture_result *r = posture_test_run_check("net.firewall", "/", NULL, &run);
    if (geteuid() != 0) {
        assert_int_equal(r->status, POSTURE_STATUS_ERROR);
        assert_contains(r->reason, "needs CAP_NET_ADMIN");
        assert_contains(r->remediation, "CAP_NET_ADMIN");
        return;
    }
    if (r->status != POSTURE_STATUS_PASS && r->status != POSTURE_STATUS_FAIL)
        fail_msg("status %d: %s", r->status, r->reason ? r->reason : "(no reason)");
    static const char *const keys[] = {
        "backend",
        "ipv4_inbound_default_deny",
        "ipv6_inbound_default_deny",
        "managers",
        "rule_count",
        "ruleset_sha256",
        "input_chains",
    };
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(keys); i++)
        if (!cJSON_GetObjectItemCaseSensitive(r->evidence, keys[i]))
            fail_msg("evidence key %s missing", keys[i]);
    const char *sha = posture_json_get_str(r->evidence, "ruleset_sha256");
    assert_non_null(sha);
    assert_int_equal(strlen(sha), 64);
    assert_int_equal(strspn(sha, "0123456789abcdef"), 64);
    if (r->status == POSTURE_STATUS_FAIL)
        assert_non_null(r->remediation);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captured),
        cmocka_unit_test(test_captured_details),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_flow),
        cmocka_unit_test(test_deep_jumps),
        cmocka_unit_test(test_vmap),
        cmocka_unit_test(test_nft_json_errors),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_iptables_save),
        cmocka_unit_test(test_evaluate_args),
        cmocka_unit_test(test_check_root_fixture),
        cmocka_unit_test(test_check_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
