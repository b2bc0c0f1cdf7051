/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net.firewall (DESIGN.md §6): is new inbound traffic denied by default, for IPv4 and IPv6?
 *
 * The verdict comes from the kernel's rulesets, never from a firewall manager's config: the
 * nftables ruleset, read in process with libnftables as JSON (this includes iptables-nft rules),
 * and, when the kernel has iptables-legacy tables (/proc/net/ip{,6}_tables_names), the output of
 * iptables-legacy-save and ip6tables-legacy-save. iptables-nft rules are in the nftables ruleset,
 * but the matches nft cannot express natively show there as opaque "xt" statements: when there
 * are any, the tables iptables-nft manages are read from iptables-nft-save / ip6tables-nft-save
 * instead (same rules, readable). The evaluation is in net_firewall/ (see
 * firewall.h for the rule). IPv6 disabled (net.ipv6.conf.{all,default,<every interface but
 * lo>}.disable_ipv6 = 1, or no IPv6 in the kernel) counts as denied.
 *
 * The kernel state belongs to the running system and the caller's network namespace: with
 * --root DIR (not the host) there is nothing to read and the check is an error. Reading the
 * ruleset needs CAP_NET_ADMIN; without it the check is an error, never a pass or a fail.
 *
 * Managers are evidence only: ufw (etc/ufw/ufw.conf ENABLED=yes; its ufw-* chains loaded) and
 * firewalld (a process named firewalld; its table loaded).
 *
 * ruleset_sha256: SHA-256 of the canonical nftables JSON (firewall.h); when iptables-legacy
 * tables exist, SHA-256 of the concatenated digests of nftables, iptables and ip6tables (the
 * ones present, in that order).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "posture/check.h"
#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/fileio.h"
#include "posture/parse.h"
#include "posture/spawn.h"

#include "net_firewall/firewall.h"
#include "net_firewall/nft_dl.h"

#define UFW_CONF            "/etc/ufw/ufw.conf"
#define UFW_CONF_MAX        ((size_t) 64 * 1024)
#define TABLES_NAMES_MAX    ((size_t) 4096)
#define SYSCTL_MAX          ((size_t) 64)
#define IPV6_CONF_DIR       "/proc/sys/net/ipv6/conf"
#define INTERFACES_MAX      4096u
#define PROC_ENTRIES_MAX    200000u
#define TOOL_TIMEOUT_USEC   ((uint64_t) 5 * 1000 * 1000)
#define EVIDENCE_CHAINS_MAX 32u
#define ERROR_TEXT_MAX      200u
#define REASON_MAX          1024u

#define REMEDIATION_PRIVILEGE "Run posturectl or postured as root, or grant it CAP_NET_ADMIN."
#define REMEDIATION_ENABLE                                                                        \
    "Enable a firewall with a default-deny inbound policy: sudo ufw default deny incoming && "    \
    "sudo ufw enable, or firewalld (sudo systemctl enable --now firewalld), or an nftables inet " \
    "input chain with policy drop in /etc/nftables.conf (sudo systemctl enable --now nftables)."
#define REMEDIATION_IPV6                                                                       \
    "Deny IPv6 inbound traffic too: make the nftables input chain family inet (or add an ip6 " \
    "one) with policy drop, set IPV6=yes in /etc/default/ufw and run sudo ufw reload, or "     \
    "disable IPv6 (sysctl net.ipv6.conf.all.disable_ipv6=1)."
#define REMEDIATION_IPV4                                                                      \
    "Deny IPv4 inbound traffic too: make the nftables input chain family inet (or add an ip " \
    "one) with policy drop."

/* Everything run() learns; released by state_done(). */
struct fw_state {
    struct posture_fw_ruleset nft;
    struct posture_fw_ruleset legacy[2]; /* iptables, ip6tables */
    bool legacy_present[2];
    bool legacy_read[2];
    char legacy_error[2][ERROR_TEXT_MAX + 64];
    struct posture_fw_ruleset xtsave[2]; /* iptables-nft-save, ip6tables-nft-save */
    bool xtsave_read[2];
    char xtsave_error[2][ERROR_TEXT_MAX + 64];
    bool ipv6_disabled;
    const char *ipv6_why;
    bool ufw_installed;
    bool ufw_enabled;
    bool firewalld_running;
    struct posture_fw_report report;
};

static void state_done(struct fw_state *s)
{
    posture_fw_ruleset_done(&s->nft);
    posture_fw_ruleset_done(&s->legacy[0]);
    posture_fw_ruleset_done(&s->legacy[1]);
    posture_fw_ruleset_done(&s->xtsave[0]);
    posture_fw_ruleset_done(&s->xtsave[1]);
    posture_fw_report_done(&s->report);
}

/* Thread-safe text for an errno (strerror() is not). */
static const char *error_text(int r)
{
    const char *d = strerrordesc_np(r < 0 ? -r : r);
    return d ? d : posture_errno_name(r);
}

/* Copy the first line of text (at most ERROR_TEXT_MAX bytes) into buf. */
static void first_line(const char *text, char *buf, size_t len)
{
    size_t n = text ? strcspn(text, "\n") : 0;
    if (n > ERROR_TEXT_MAX)
        n = ERROR_TEXT_MAX;
    (void) snprintf(buf, len, "%.*s", (int) n, text ? text : "");
}

/* ---- Privilege ---- */

static bool have_cap_net_admin(void)
{
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

    if (syscall(SYS_capget, &hdr, data) < 0)
        return true; /* cannot tell: let libnftables try, it reports EPERM itself */
    return (data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN)) != 0;
}

/*
 * libnftables opens its netlink socket without SOCK_CLOEXEC; mark it close-on-exec so that tools
 * other checks spawn meanwhile do not inherit it. Best effort (only our netfilter sockets are
 * touched, and setting the flag on any of them is harmless).
 */
static void cloexec_netfilter_sockets(void)
{
    int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return;
    posture_autoclosedir DIR *d = fdopendir(dfd);
    if (!d) {
        (void) close(dfd);
        return;
    }
    struct dirent *e;
    unsigned n = 0;
    while ((e = readdir(d)) && n++ < 65536) {
        uint32_t fd;
        if (posture_parse_u32(e->d_name, &fd) < 0 || fd < 3 || fd > INT32_MAX ||
            (int) fd == dirfd(d))
            continue;
        int flags = fcntl((int) fd, F_GETFD);
        struct stat st;
        if (flags < 0 || (flags & FD_CLOEXEC) || fstat((int) fd, &st) < 0 || !S_ISSOCK(st.st_mode))
            continue;
        int domain = 0, proto = 0;
        socklen_t l1 = sizeof(domain), l2 = sizeof(proto);
        if (getsockopt((int) fd, SOL_SOCKET, SO_DOMAIN, &domain, &l1) == 0 &&
            getsockopt((int) fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l2) == 0 &&
            domain == AF_NETLINK && proto == NETLINK_NETFILTER)
            (void) fcntl((int) fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

/* ---- nftables ---- */

/* The listing with a loaded libnftables (nft_list_ruleset). */
static int nft_list_with(const struct posture_fw_nft_api *nft_api,
                         struct nft_ctx *nft,
                         char **ret_json,
                         char *err,
                         size_t err_len)
{
    cloexec_netfilter_sockets();
    /* Stateless: no counter values, which change with every packet. */
    nft_api->ctx_output_set_flags(nft, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_STATELESS);
    if (nft_api->ctx_buffer_output(nft) != 0 || nft_api->ctx_buffer_error(nft) != 0)
        return -ENOMEM;

    errno = 0;
    int rc = nft_api->run_cmd_from_buffer(nft, "list ruleset");
    int saved = errno;
    if (rc != 0) {
        const char *e = nft_api->ctx_get_error_buffer(nft);
        first_line(e, err, err_len);
        if (saved == EPERM || (e && strstr(e, "Operation not permitted")))
            return -EPERM;
        if (saved == EACCES || (e && strstr(e, "Permission denied")))
            return -EACCES;
        if (saved == EPROTONOSUPPORT || (e && strstr(e, "Protocol not supported")))
            return -EPROTONOSUPPORT; /* a kernel without nf_tables */
        return -EIO;
    }
    const char *out = nft_api->ctx_get_output_buffer(nft);
    if (!out)
        out = "";
    size_t n = strnlen(out, POSTURE_FW_JSON_MAX + 1);
    if (n > POSTURE_FW_JSON_MAX)
        return -E2BIG;
    char *copy = strndup(out, n);
    if (!copy)
        return -ENOMEM;
    *ret_json = copy;
    return 0;
}

/*
 * `nft -j list ruleset` in process; *ret_json is malloc'ed. libnftables is loaded for the call
 * and unloaded after it (nft_dl.h). -EPERM/-EACCES when the kernel refuses; -EIO with
 * libnftables' first error line in err; -E2BIG beyond POSTURE_FW_JSON_MAX; -ENOENT with
 * dlerror's text in err when libnftables.so.1 cannot be loaded.
 */
static int nft_list_ruleset(char **ret_json, char *err, size_t err_len)
{
    struct posture_fw_nft_api nft_api;
    struct nft_ctx *nft;
    int r;

    r = posture_fw_nft_load(&nft_api, err, err_len);
    if (r < 0)
        return r;
    nft = nft_api.ctx_new(NFT_CTX_DEFAULT);
    if (!nft)
        r = -ENOMEM;
    else {
        r = nft_list_with(&nft_api, nft, ret_json, err, err_len);
        nft_api.ctx_free(nft);
    }
    posture_fw_nft_unload(&nft_api);
    return r;
}

/* ---- iptables-legacy ---- */

static const char *const legacy_names_file[2] = {
    "/proc/net/ip_tables_names",
    "/proc/net/ip6_tables_names",
};
static const char *const legacy_tool[2] = { "iptables-legacy-save", "ip6tables-legacy-save" };

/* 1 when the kernel has legacy tables of this family, 0 when not, <0 when it cannot tell. */
static int legacy_tables_exist(const struct posture_check_ctx *ctx, int i)
{
    char *buf = NULL;
    size_t len = 0;

    int r = ctx->api->read_file_at(ctx, legacy_names_file[i], TABLES_NAMES_MAX, &buf, &len);
    if (r == -ENOENT)
        return 0; /* ip_tables / ip6_tables not loaded */
    if (r < 0)
        return r;
    bool any = strspn(buf, " \t\r\n") < len;
    ctx->api->free_buf(buf);
    return any ? 1 : 0;
}

static const char *const xtsave_tool[2] = { "iptables-nft-save", "ip6tables-nft-save" };

/* Run an iptables-save tool with a timeout and parse its output into *ret; on failure say why
 * in msg. */
static int run_save(const struct posture_check_ctx *ctx,
                    const char *tool,
                    enum posture_fw_source source,
                    struct posture_fw_ruleset *ret,
                    char *msg,
                    size_t msg_len)
{
    const char *const argv[] = { tool, NULL };
    struct posture_spawn_result res = { 0 };

    uint64_t now = ctx->api->now_usec();
    uint64_t timeout = now < ctx->deadline_usec ? (ctx->deadline_usec - now) / 2 : 0;
    if (timeout > TOOL_TIMEOUT_USEC)
        timeout = TOOL_TIMEOUT_USEC;
    if (timeout < 1000) {
        (void) snprintf(msg, msg_len, "no time left to run %s", tool);
        return -ETIMEDOUT;
    }

    struct posture_spawn_opts opts = {
        .argv = argv,
        .search_path = true,
        .timeout_usec = timeout,
        .stdout_max = POSTURE_FW_SAVE_MAX,
    };
    int r = posture_spawn_run(&opts, &res);
    if (r < 0) {
        (void) snprintf(msg, msg_len, "%s could not be run: %s", tool, error_text(r));
        return r;
    }
    if (res.timed_out)
        r = -ETIMEDOUT;
    else if (res.stdout_truncated)
        r = -E2BIG;
    else if (res.exit_code != 0)
        r = -EIO;
    if (r < 0) {
        char line[ERROR_TEXT_MAX + 1];
        first_line(res.err, line, sizeof(line));
        if (res.timed_out)
            (void) snprintf(msg, msg_len, "%s did not finish in time", tool);
        else if (res.stdout_truncated)
            (void) snprintf(msg, msg_len, "%s printed more than %zu MiB", tool,
                            POSTURE_FW_SAVE_MAX >> 20);
        else
            (void) snprintf(msg, msg_len, "%s failed (exit status %d): %s", tool, res.exit_code,
                            line);
        posture_spawn_result_done(&res);
        return r;
    }
    r = posture_fw_parse_iptables_save(res.out, res.out_len, source, ret);
    posture_spawn_result_done(&res);
    if (r < 0)
        (void) snprintf(msg, msg_len, "the output of %s cannot be parsed: %s", tool, error_text(r));
    return r;
}

static int read_legacy(const struct posture_check_ctx *ctx, struct fw_state *s, int i)
{
    int r =
        run_save(ctx, legacy_tool[i],
                 i == 0 ? POSTURE_FW_SOURCE_IPTABLES_LEGACY : POSTURE_FW_SOURCE_IP6TABLES_LEGACY,
                 &s->legacy[i], s->legacy_error[i], sizeof(s->legacy_error[i]));
    if (r >= 0)
        s->legacy_read[i] = true;
    return r;
}

/* The iptables-nft tables of family i, readable, in place of their opaque nft view. */
static int read_xtsave(const struct posture_check_ctx *ctx, struct fw_state *s, int i)
{
    int r = run_save(ctx, xtsave_tool[i],
                     i == 0 ? POSTURE_FW_SOURCE_IPTABLES_NFT : POSTURE_FW_SOURCE_IP6TABLES_NFT,
                     &s->xtsave[i], s->xtsave_error[i], sizeof(s->xtsave_error[i]));
    if (r < 0)
        return r;
    s->xtsave_read[i] = true;
    size_t n = posture_fw_ruleset_supersede(&s->nft, &s->xtsave[i]);
    ctx->api->log_debug(ctx, "%s: %zu nftables chains read from its output instead", xtsave_tool[i],
                        n);
    return 0;
}

/* ---- IPv6 ---- */

/* 1 / 0 from a sysctl file, -errno when unreadable or not 0/1. */
static int read_flag(const struct posture_check_ctx *ctx, const char *path)
{
    char *buf = NULL;
    int r = ctx->api->read_file_at(ctx, path, SYSCTL_MAX, &buf, NULL);
    if (r < 0)
        return r;
    size_t n = strspn(buf, " \t");
    int v = buf[n] == '1' ? 1 : buf[n] == '0' ? 0 : -EBADMSG;
    if (v >= 0 && strspn(buf + n + 1, " \t\r\n") != strlen(buf + n + 1))
        v = -EBADMSG;
    ctx->api->free_buf(buf);
    return v;
}

/*
 * Is IPv6 off? Off when the kernel has none, or disable_ipv6 is 1 for "all", "default" (new
 * interfaces) and every interface but lo (one may have been re-enabled after "all" was set).
 */
static int read_ipv6_disabled(const struct posture_check_ctx *ctx, struct fw_state *s)
{
    s->ipv6_disabled = false;
    int all = read_flag(ctx, IPV6_CONF_DIR "/all/disable_ipv6");
    if (all == -ENOENT) {
        s->ipv6_disabled = true;
        s->ipv6_why = "the kernel has no IPv6";
        return 0;
    }
    if (all < 0)
        return all;
    if (all == 0)
        return 0;
    int def = read_flag(ctx, IPV6_CONF_DIR "/default/disable_ipv6");
    if (def < 0)
        return def;
    if (def == 0)
        return 0;

    posture_autoclosedir DIR *d = NULL;
    int r = posture_opendir_at_root(ctx->root_fd, IPV6_CONF_DIR, &d);
    if (r < 0)
        return r;
    struct dirent *e;
    unsigned n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "all") == 0 ||
            strcmp(e->d_name, "default") == 0 || strcmp(e->d_name, "lo") == 0)
            continue;
        if (++n > INTERFACES_MAX)
            return -E2BIG;
        char path[512];
        if ((size_t) snprintf(path, sizeof(path), IPV6_CONF_DIR "/%s/disable_ipv6", e->d_name) >=
            sizeof(path))
            continue;
        int v = read_flag(ctx, path);
        if (v == -ENOENT)
            continue; /* the interface went away */
        if (v < 0)
            return v;
        if (v == 0)
            return 0; /* IPv6 is on for this interface */
    }
    s->ipv6_disabled = true;
    s->ipv6_why = "net.ipv6.conf.all.disable_ipv6 = 1";
    return 0;
}

/* ---- Managers (evidence only) ---- */

/* ENABLED=yes in ufw.conf (shell syntax; quotes allowed). */
static void read_ufw(const struct posture_check_ctx *ctx, struct fw_state *s)
{
    char *buf = NULL;
    size_t len = 0;

    int r = ctx->api->read_file_at(ctx, UFW_CONF, UFW_CONF_MAX, &buf, &len);
    if (r < 0) {
        if (r != -ENOENT)
            ctx->api->log_debug(ctx, "%s not readable (%s), ignoring", UFW_CONF,
                                posture_errno_name(r));
        s->ufw_installed = r != -ENOENT;
        return;
    }
    s->ufw_installed = true;
    for (const char *p = buf, *end = buf + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        const char *le = nl ? nl : end;
        p += strspn(p, " \t");
        if (p < le && (size_t) (le - p) >= 8 && strncmp(p, "ENABLED=", 8) == 0) {
            const char *v = p + 8;
            size_t vn = (size_t) (le - v);
            while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t' || v[vn - 1] == '\r'))
                vn--;
            if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
                v++;
                vn -= 2;
            }
            s->ufw_enabled = vn == 3 && strncasecmp(v, "yes", 3) == 0; /* the last one wins */
        }
        p = nl ? nl + 1 : end;
    }
    ctx->api->free_buf(buf);
}

/* Is a process named firewalld running? (Under systemd it runs with --nopid: no pid file.) */
static int find_firewalld(const struct posture_check_ctx *ctx, struct fw_state *s)
{
    posture_autoclosedir DIR *d = NULL;
    int r = posture_opendir_at_root(ctx->root_fd, "/proc", &d);
    if (r < 0)
        return r;
    struct dirent *e;
    unsigned n = 0;
    while ((e = readdir(d))) {
        size_t dn = strlen(e->d_name);
        if (e->d_name[0] < '1' || e->d_name[0] > '9' || dn > 20 ||
            strspn(e->d_name, "0123456789") != dn)
            continue;
        if (++n > PROC_ENTRIES_MAX)
            return -E2BIG;
        if ((n & 255) == 0 && ctx->api->now_usec() >= ctx->deadline_usec)
            return -ETIMEDOUT;
        char path[32];
        memcpy(path, e->d_name, dn);
        memcpy(path + dn, "/comm", sizeof("/comm"));
        int fd = openat(dirfd(d), path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue; /* the process exited */
        char comm[32];
        ssize_t k = read(fd, comm, sizeof(comm) - 1);
        (void) close(fd);
        if (k <= 0)
            continue;
        comm[k] = '\0';
        comm[strcspn(comm, "\n")] = '\0';
        if (strcmp(comm, "firewalld") == 0) {
            s->firewalld_running = true;
            return 0;
        }
    }
    return 0;
}

/* ---- Evidence ---- */

static const char *finding_word(uint8_t outcome)
{
    switch ((enum posture_fw_outcome) outcome) {
    case POSTURE_FW_DENY_POLICY:
    case POSTURE_FW_DENY_RULE:
        return "deny";
    case POSTURE_FW_OPEN_ACCEPT:
    case POSTURE_FW_OPEN_POLICY:
        return "accept";
    case POSTURE_FW_OPEN_UNKNOWN:
        return "unknown";
    case POSTURE_FW_NOT_APPLICABLE:
    default:
        return NULL;
    }
}

static int add_managers(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        const struct fw_state *s,
                        bool have_rulesets)
{
    const struct posture_host_api *api = ctx->api;
    bool ufw_loaded =
        s->nft.has_ufw_chains || s->legacy[0].has_ufw_chains || s->legacy[1].has_ufw_chains;

    int r = api->evidence_begin_object(result, "managers");
    if (r >= 0)
        r = api->evidence_begin_object(result, "ufw");
    if (r >= 0)
        r = api->evidence_add_bool(result, "installed", s->ufw_installed);
    if (r >= 0)
        r = api->evidence_add_bool(result, "enabled", s->ufw_enabled);
    if (r >= 0 && have_rulesets)
        r = api->evidence_add_bool(result, "rules_loaded", ufw_loaded);
    if (r >= 0)
        r = api->evidence_end(result);
    if (r >= 0 && have_rulesets) {
        r = api->evidence_begin_object(result, "firewalld");
        if (r >= 0)
            r = api->evidence_add_bool(result, "running", s->firewalld_running);
        if (r >= 0)
            r = api->evidence_add_bool(result, "rules_loaded", s->nft.has_firewalld_table);
        if (r >= 0)
            r = api->evidence_end(result);
    }
    if (r >= 0)
        r = api->evidence_end(result);
    return r;
}

static int add_chains(const struct posture_check_ctx *ctx,
                      struct posture_result *result,
                      const struct posture_fw_report *rep)
{
    const struct posture_host_api *api = ctx->api;
    char name[600];

    int r = api->evidence_begin_array(result, "input_chains");
    for (size_t i = 0; r >= 0 && i < rep->n_chains && i < EVIDENCE_CHAINS_MAX; i++) {
        const struct posture_fw_chain_report *cr = &rep->chains[i];
        const struct posture_fw_chain *c = &cr->rs->chains[cr->chain];
        r = api->evidence_begin_object(result, NULL);
        if (r >= 0)
            r = api->evidence_add_str(result, "chain",
                                      posture_fw_chain_name(cr->rs, cr->chain, name, sizeof(name)));
        if (r >= 0)
            r = api->evidence_add_int(result, "priority", c->prio);
        if (r >= 0)
            r = api->evidence_add_str(result, "policy",
                                      c->policy == POSTURE_FW_V_DROP ? "drop" : "accept");
        if (r >= 0)
            r = api->evidence_add_str(result, "ipv4",
                                      finding_word(cr->af[POSTURE_FW_IPV4].outcome));
        if (r >= 0)
            r = api->evidence_add_str(result, "ipv6",
                                      finding_word(cr->af[POSTURE_FW_IPV6].outcome));
        if (r >= 0)
            r = api->evidence_end(result);
    }
    if (r >= 0)
        r = api->evidence_end(result);
    return r;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static int ruleset_digest(const struct fw_state *s, char out[2 * POSTURE_FW_SHA256_LEN + 1])
{
    uint8_t all[3 * POSTURE_FW_SHA256_LEN], d[POSTURE_FW_SHA256_LEN];
    size_t n = 0;

    if (!s->legacy_read[0] && !s->legacy_read[1]) {
        hex(s->nft.sha256, POSTURE_FW_SHA256_LEN, out);
        return 0;
    }
    memcpy(all, s->nft.sha256, POSTURE_FW_SHA256_LEN);
    n += POSTURE_FW_SHA256_LEN;
    for (int i = 0; i < 2; i++)
        if (s->legacy_read[i]) {
            memcpy(all + n, s->legacy[i].sha256, POSTURE_FW_SHA256_LEN);
            n += POSTURE_FW_SHA256_LEN;
        }
    int r = posture_fw_sha256(all, n, d);
    if (r < 0)
        return r;
    hex(d, POSTURE_FW_SHA256_LEN, out);
    return 0;
}

static const char *backend_of(const struct fw_state *s)
{
    bool nft = s->nft.n_tables > 0;
    bool legacy = s->legacy_present[0] || s->legacy_present[1];
    if (nft && legacy)
        return "nftables+iptables-legacy";
    if (legacy)
        return "iptables-legacy";
    return nft ? "nftables" : "none";
}

static int add_evidence(const struct posture_check_ctx *ctx,
                        struct posture_result *result,
                        const struct fw_state *s)
{
    const struct posture_host_api *api = ctx->api;
    char digest[2 * POSTURE_FW_SHA256_LEN + 1];
    size_t rules = s->nft.n_rules + s->legacy[0].n_rules + s->legacy[1].n_rules;

    int r = ruleset_digest(s, digest);
    if (r >= 0)
        r = api->evidence_add_str(result, "backend", backend_of(s));
    if (r >= 0)
        r = api->evidence_add_bool(result, "ipv4_inbound_default_deny",
                                   s->report.af[POSTURE_FW_IPV4].denied);
    if (r >= 0)
        r = api->evidence_add_bool(result, "ipv6_inbound_default_deny",
                                   s->report.af[POSTURE_FW_IPV6].denied);
    if (r >= 0)
        r = api->evidence_add_bool(result, "ipv6_disabled", s->ipv6_disabled);
    if (r >= 0)
        r = add_managers(ctx, result, s, true);
    if (r >= 0)
        r = api->evidence_add_int(result, "rule_count", (int64_t) rules);
    if (r >= 0)
        r = api->evidence_add_str(result, "ruleset_sha256", digest);
    if (r >= 0)
        r = add_chains(ctx, result, &s->report);
    for (int i = 0; r >= 0 && i < 2; i++)
        if (s->nft.has_xt[i] && !s->xtsave_read[i])
            r = api->evidence_add_str(result, i == 0 ? "iptables_nft_error" : "ip6tables_nft_error",
                                      s->xtsave_error[i]);
    for (int i = 0; r >= 0 && i < 2; i++)
        if (s->legacy_present[i] && !s->legacy_read[i])
            r = api->evidence_add_str(result,
                                      i == 0 ? "iptables_legacy_error" : "ip6tables_legacy_error",
                                      s->legacy_error[i]);
    return r;
}

/* ---- Verdict ---- */

static int set_verdict(const struct posture_check_ctx *ctx,
                       struct posture_result *result,
                       const struct fw_state *s)
{
    const struct posture_host_api *api = ctx->api;
    const struct posture_fw_report *rep = &s->report;
    bool d4 = rep->af[POSTURE_FW_IPV4].denied, d6 = rep->af[POSTURE_FW_IPV6].denied;
    char e4[REASON_MAX], e6[REASON_MAX];

    (void) posture_fw_explain(rep, POSTURE_FW_IPV4, e4, sizeof(e4));
    (void) posture_fw_explain(rep, POSTURE_FW_IPV6, e6, sizeof(e6));

    if (d4 && d6) {
        const struct posture_fw_af_verdict *v4 = &rep->af[POSTURE_FW_IPV4];
        const struct posture_fw_af_verdict *v6 = &rep->af[POSTURE_FW_IPV6];
        int r;
        if (!v6->disabled && v4->decisive == v6->decisive && v4->decisive >= 0) {
            /* One chain denies both: say it once. */
            const char *tail = strstr(e4, "by default: ");
            r = api->set_reason(result, "IPv4 and IPv6 inbound traffic is denied by default: %s",
                                tail ? tail + strlen("by default: ") : e4);
        } else if (v6->disabled)
            r = api->set_reason(result, "%s; IPv6 is disabled (%s)", e4, s->ipv6_why);
        else
            r = api->set_reason(result, "%s; %s", e4, e6);
        if (r >= 0)
            r = api->set_status(result, POSTURE_STATUS_PASS);
        return r;
    }

    /* Legacy tables that could not be read may hold the missing drop: cannot decide. */
    for (int i = 0; i < 2; i++)
        if (s->legacy_present[i] && !s->legacy_read[i] && (i == 0 ? !d4 : !d6)) {
            (void) api->set_reason(result,
                                   "%s inbound traffic is not denied by nftables, and "
                                   "the iptables-legacy tables cannot be read: %s",
                                   posture_fw_af_name(i == 0 ? POSTURE_FW_IPV4 : POSTURE_FW_IPV6),
                                   s->legacy_error[i]);
            (void) api->set_remediation(result,
                                        "Install the iptables package (which provides "
                                        "%s) or move the rules to nftables.",
                                        legacy_tool[i]);
            return -EIO;
        }

    int r;
    if (!d4 && !d6) {
        const struct posture_fw_af_verdict *v4 = &rep->af[POSTURE_FW_IPV4];
        const struct posture_fw_af_verdict *v6 = &rep->af[POSTURE_FW_IPV6];
        if (v4->n_chains == 0 && v6->n_chains == 0)
            r = api->set_reason(result, "IPv4 and IPv6 inbound traffic is accepted: there is no "
                                        "input chain (nftables or iptables)");
        else if (strncmp(e4, "IPv4 ", 5) == 0 && strncmp(e6, "IPv6 ", 5) == 0 &&
                 strcmp(e4 + 5, e6 + 5) == 0)
            r = api->set_reason(result, "IPv4 and IPv6 %s", e4 + 5); /* the same cause */
        else
            r = api->set_reason(result, "%s; %s", e4, e6);
        if (r >= 0) {
            if (s->ufw_installed && !s->ufw_enabled)
                r = api->set_remediation(result, "ufw is installed but not enabled: run sudo ufw "
                                                 "default deny incoming && sudo ufw enable.");
            else
                r = api->set_remediation(result, REMEDIATION_ENABLE);
        }
    } else {
        r = api->set_reason(result, "%s", d4 ? e6 : e4);
        if (r >= 0)
            r = api->set_remediation(result, d4 ? REMEDIATION_IPV6 : REMEDIATION_IPV4);
    }
    if (r >= 0)
        r = api->set_status(result, POSTURE_STATUS_FAIL);
    return r;
}

static int
net_firewall_run(const struct posture_check_ctx *ctx, void *state, struct posture_result *result)
{
    const struct posture_host_api *api = ctx->api;
    struct fw_state s = { 0 };
    char err[ERROR_TEXT_MAX + 1] = "";
    posture_autofree char *json = NULL;
    int r;

    (void) state;
    read_ufw(ctx, &s);

    if (!posture_root_is_host(ctx->root_fd)) {
        (void) api->set_reason(result, "the kernel ruleset cannot be read for --root %s",
                               ctx->root_path ? ctx->root_path : "DIR");
        (void) api->set_remediation(result, "Run the check on the host itself, without --root.");
        (void) add_managers(ctx, result, &s, false);
        return -EOPNOTSUPP;
    }
    if (!have_cap_net_admin())
        r = -EPERM;
    else
        r = nft_list_ruleset(&json, err, sizeof(err));
    if (r == -EPERM || r == -EACCES) {
        (void) api->set_reason(result, "reading the nftables ruleset needs CAP_NET_ADMIN%s%s",
                               err[0] ? ": " : "", err);
        (void) api->set_remediation(result, REMEDIATION_PRIVILEGE);
        return r;
    }
    if (r == -EPROTONOSUPPORT) {
        /* No nf_tables in this kernel: an empty ruleset; iptables-legacy may still hold rules. */
        api->log_debug(ctx, "no nf_tables in the kernel (%s): only iptables-legacy counts", err);
        json = strdup("{\"nftables\": []}");
        r = json ? 0 : -ENOMEM;
    }
    if (r == -E2BIG) {
        (void) api->set_reason(result, "the nftables ruleset is larger than %zu MiB",
                               POSTURE_FW_JSON_MAX >> 20);
        return r;
    }
    if (r < 0) {
        (void) api->set_reason(result, "libnftables could not list the ruleset: %s",
                               err[0] ? err : error_text(r));
        return r;
    }

    r = posture_fw_parse_nft_json(json, strlen(json), &s.nft);
    free(json); /* the largest buffer: release it before the tools run */
    json = NULL;

    for (int i = 0; i < 2; i++)
        if (s.nft.has_xt[i])
            (void) read_xtsave(ctx, &s, i); /* on failure the opaque view stays; see evidence */
    if (r < 0) {
        (void) api->set_reason(result, "the ruleset libnftables printed cannot be parsed: %s",
                               error_text(r));
        return r;
    }

    for (int i = 0; i < 2; i++) {
        int e = legacy_tables_exist(ctx, i);
        if (e < 0) {
            s.legacy_present[i] = true;
            (void) snprintf(s.legacy_error[i], sizeof(s.legacy_error[i]), "%s: %s",
                            legacy_names_file[i], error_text(e));
            continue;
        }
        s.legacy_present[i] = e > 0;
        if (e > 0)
            (void) read_legacy(ctx, &s, i); /* a failure is in legacy_error[i] */
    }

    r = read_ipv6_disabled(ctx, &s);
    if (r < 0) {
        (void) api->set_reason(result, "cannot tell whether IPv6 is enabled: %s/*/disable_ipv6: %s",
                               IPV6_CONF_DIR, error_text(r));
        goto out;
    }
    r = find_firewalld(ctx, &s);
    if (r < 0)
        api->log_debug(ctx, "cannot look for firewalld in /proc (%s), ignoring",
                       posture_errno_name(r));

    const struct posture_fw_ruleset *sets[] = { &s.nft, &s.xtsave[0], &s.xtsave[1], &s.legacy[0],
                                                &s.legacy[1] };
    r = posture_fw_evaluate(sets, POSTURE_ELEMENTSOF(sets), s.ipv6_disabled, &s.report);
    if (r < 0)
        goto out;
    r = add_evidence(ctx, result, &s);
    if (r >= 0)
        r = set_verdict(ctx, result, &s);
out:
    state_done(&s);
    return r;
}

const struct posture_check_desc posture_check_net_firewall = {
    POSTURE_CHECK_DESC_HEADER,
    .name = "net.firewall",
    .version = "1.0.0",
    .summary = "Inbound traffic is denied by default for IPv4 and IPv6 (nftables, iptables)",
    .flags = POSTURE_CHECK_NEEDS_ROOT,
    .options = NULL,
    .init = NULL,
    .run = net_firewall_run,
    .fini = NULL,
};
