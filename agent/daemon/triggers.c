/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Early-cycle triggers (triggers.h): rtnetlink, a libudev block monitor, a clock-set timerfd
 * and the resume check, behind one epoll fd.
 */

#include "triggers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <libudev.h>

#include "posture/err.h"
#include "posture/log.h"

#define NETLINK_BUF_SIZE     ((size_t) 32 * 1024)
#define NETLINK_READS_MAX    64  /* datagrams per posture_triggers_process() */
#define UDEV_READS_MAX       256 /* devices per posture_triggers_process() */
#define TIMER_HORIZON_SEC    ((time_t) 365 * 24 * 3600)
#define NETLINK_ADDR_MAX_LEN 16

enum tracked_kind {
    TRACKED_FREE = 0,
    TRACKED_LINK,
    TRACKED_ADDR,
    TRACKED_ROUTE,
};

/* A link (ifindex, usable), an address (ifindex, family, prefix length, address) or a default
 * route (output ifindex, family, gateway) seen in an event. */
struct tracked {
    uint8_t kind;
    uint8_t family;
    uint8_t prefixlen;
    bool usable;
    int32_t ifindex;
    uint8_t addr[NETLINK_ADDR_MAX_LEN];
};

/* The dumps that learn the current state at start: links, then addresses, then routes. */
enum {
    DUMP_LINKS = 0,
    DUMP_ADDRS,
    DUMP_ROUTES,
    DUMP_DONE,
};

struct posture_triggers {
    int epoll_fd;
    int netlink_fd;
    uint32_t portid;   /* our netlink port id */
    unsigned dump;     /* DUMP_*: the dump in flight */
    uint32_t dump_seq; /* its sequence number */
    struct udev *udev;
    struct udev_monitor *monitor;
    int udev_fd;
    int timer_fd;
    struct posture_clocks last;
    bool have_last;
    struct tracked tracked[2 * POSTURE_TRIGGERS_TRACKED];
    size_t evict; /* the next slot to reuse when the table is full */
    uint8_t *buf; /* NETLINK_BUF_SIZE */
};

/* ---- The table of links, addresses and default routes ---- */

static bool same_key(const struct tracked *a, const struct tracked *b)
{
    if (a->kind != b->kind || a->ifindex != b->ifindex)
        return false;
    if (a->kind == TRACKED_LINK)
        return true;
    return a->family == b->family && a->prefixlen == b->prefixlen &&
           memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static struct tracked *tracked_find(struct posture_triggers *t, const struct tracked *key)
{
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(t->tracked); i++)
        if (t->tracked[i].kind != TRACKED_FREE && same_key(&t->tracked[i], key))
            return &t->tracked[i];
    return NULL;
}

static void tracked_add(struct posture_triggers *t, const struct tracked *key)
{
    for (size_t i = 0; i < POSTURE_ELEMENTSOF(t->tracked); i++)
        if (t->tracked[i].kind == TRACKED_FREE) {
            t->tracked[i] = *key;
            return;
        }
    /* Full: forget one (round robin); at worst a later refresh of it counts once. */
    t->tracked[t->evict] = *key;
    t->evict = (t->evict + 1) % POSTURE_ELEMENTSOF(t->tracked);
}

/* Add (present) or remove (!present) key; true when that is a change. */
static bool tracked_update(struct posture_triggers *t, const struct tracked *key, bool present)
{
    struct tracked *e = tracked_find(t, key);

    if (present) {
        if (e)
            return false;
        tracked_add(t, key);
        return true;
    }
    if (e)
        e->kind = TRACKED_FREE;
    return true; /* gone, whether or not we had seen it */
}

/* ---- rtnetlink ---- */

/* The netlink macros that step through messages and attributes cast char pointers to aligned
 * structs (clang -Wcast-align); these step the same way through void pointers. Netlink keeps
 * every message and attribute 4-byte aligned in a buffer that malloc aligned. */
static const struct rtattr *attr_first(const void *msg, size_t msg_len)
{
    return (const void *) ((const uint8_t *) msg + NLMSG_ALIGN(msg_len));
}

static const struct rtattr *attr_next(const struct rtattr *a, int *len)
{
    *len -= (int) RTA_ALIGN(a->rta_len);
    return (const void *) ((const uint8_t *) a + RTA_ALIGN(a->rta_len));
}

static const struct nlmsghdr *msg_next(const struct nlmsghdr *nh, size_t *len)
{
    *len -= NLMSG_ALIGN(nh->nlmsg_len) < *len ? NLMSG_ALIGN(nh->nlmsg_len) : *len;
    return (const void *) ((const uint8_t *) nh + NLMSG_ALIGN(nh->nlmsg_len));
}

static unsigned netlink_link(struct posture_triggers *t, const struct nlmsghdr *nh)
{
    const struct ifinfomsg *ifi = NLMSG_DATA(nh);
    struct tracked key = { .kind = TRACKED_LINK };
    struct tracked *e;
    bool usable;

    if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)) || (ifi->ifi_flags & IFF_LOOPBACK))
        return 0;
    key.ifindex = ifi->ifi_index;
    usable = (ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_RUNNING);
    e = tracked_find(t, &key);
    if (nh->nlmsg_type == RTM_DELLINK) {
        bool was = e ? e->usable : usable;
        if (e)
            e->kind = TRACKED_FREE;
        return was ? POSTURE_TRIGGER_NETWORK : 0;
    }
    if (e) {
        bool changed = e->usable != usable;
        e->usable = usable;
        return changed ? POSTURE_TRIGGER_NETWORK : 0;
    }
    key.usable = usable;
    tracked_add(t, &key);
    return usable ? POSTURE_TRIGGER_NETWORK : 0;
}

static unsigned netlink_addr(struct posture_triggers *t, const struct nlmsghdr *nh)
{
    const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
    struct tracked key = { .kind = TRACKED_ADDR };
    const struct rtattr *local = NULL, *address = NULL, *a;
    uint32_t flags;
    int len;

    if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
        return 0;
    if (ifa->ifa_scope >= RT_SCOPE_LINK) /* link-local, host (loopback), nowhere */
        return 0;
    flags = ifa->ifa_flags;
    len = (int) IFA_PAYLOAD(nh);
    for (a = attr_first(ifa, sizeof(*ifa)); RTA_OK(a, len); a = attr_next(a, &len)) {
        if (a->rta_type == IFA_LOCAL)
            local = a;
        else if (a->rta_type == IFA_ADDRESS)
            address = a;
        else if (a->rta_type == IFA_FLAGS && RTA_PAYLOAD(a) >= sizeof(uint32_t))
            memcpy(&flags, RTA_DATA(a), sizeof(flags));
    }
    if (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) /* not usable (yet) */
        return 0;
    /* IPv4: IFA_LOCAL is the address (IFA_ADDRESS the peer on point-to-point links). */
    a = local ? local : address;
    key.family = ifa->ifa_family;
    key.prefixlen = ifa->ifa_prefixlen;
    key.ifindex = (int32_t) ifa->ifa_index;
    if (a)
        memcpy(key.addr, RTA_DATA(a),
               RTA_PAYLOAD(a) < sizeof(key.addr) ? RTA_PAYLOAD(a) : sizeof(key.addr));
    return tracked_update(t, &key, nh->nlmsg_type == RTM_NEWADDR) ? POSTURE_TRIGGER_NETWORK : 0;
}

static unsigned netlink_route(struct posture_triggers *t, const struct nlmsghdr *nh)
{
    const struct rtmsg *rtm = NLMSG_DATA(nh);
    struct tracked key = { .kind = TRACKED_ROUTE };
    const struct rtattr *a;
    uint32_t table;
    int len;

    if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
        return 0;
    /* Only default routes of the main table that carry traffic. */
    if (rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST || (rtm->rtm_flags & RTM_F_CLONED))
        return 0;
    table = rtm->rtm_table;
    key.family = rtm->rtm_family;
    len = (int) RTM_PAYLOAD(nh);
    for (a = attr_first(rtm, sizeof(*rtm)); RTA_OK(a, len); a = attr_next(a, &len)) {
        if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) >= sizeof(uint32_t))
            memcpy(&table, RTA_DATA(a), sizeof(table));
        else if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int32_t))
            memcpy(&key.ifindex, RTA_DATA(a), sizeof(key.ifindex));
        else if (a->rta_type == RTA_GATEWAY)
            memcpy(key.addr, RTA_DATA(a),
                   RTA_PAYLOAD(a) < sizeof(key.addr) ? RTA_PAYLOAD(a) : sizeof(key.addr));
    }
    if (table != RT_TABLE_MAIN)
        return 0;
    return tracked_update(t, &key, nh->nlmsg_type == RTM_NEWROUTE) ? POSTURE_TRIGGER_NETWORK : 0;
}

static unsigned netlink_message(struct posture_triggers *t, const struct nlmsghdr *nh)
{
    switch (nh->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
        return netlink_link(t, nh);
    case RTM_NEWADDR:
    case RTM_DELADDR:
        return netlink_addr(t, nh);
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
        return netlink_route(t, nh);
    default:
        return 0;
    }
}

/* Ask for the next dump (t->dump); on failure priming stops (later refreshes may count once). */
static void dump_request(struct posture_triggers *t)
{
    static const uint16_t types[] = { RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE };
    struct {
        struct nlmsghdr nh;
        struct rtgenmsg g;
    } req = { 0 };
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

    if (t->dump >= DUMP_DONE)
        return;
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.g));
    req.nh.nlmsg_type = types[t->dump];
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = ++t->dump_seq;
    req.g.rtgen_family = AF_UNSPEC;
    if (sendto(t->netlink_fd, &req, req.nh.nlmsg_len, MSG_DONTWAIT,
               (const struct sockaddr *) &kernel, sizeof(kernel)) < 0) {
        (void) log_debug_errno(-errno, "triggers: cannot dump the network state: %m");
        t->dump = DUMP_DONE;
    }
}

/* One message of a datagram from the kernel: the reasons it gives (none for the answers to our
 * dumps, which only teach the current state). */
static unsigned netlink_handle(struct posture_triggers *t, const struct nlmsghdr *nh)
{
    bool ours = t->dump < DUMP_DONE && nh->nlmsg_pid == t->portid && nh->nlmsg_seq == t->dump_seq;
    unsigned reasons = netlink_message(t, nh);

    if (!ours)
        return reasons;
    if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
        t->dump++;
        dump_request(t);
    }
    return 0;
}

static unsigned netlink_drain(struct posture_triggers *t)
{
    unsigned reasons = 0;

    for (int i = 0; i < NETLINK_READS_MAX; i++) {
        struct sockaddr_nl from = { 0 };
        struct iovec iov = { .iov_base = t->buf, .iov_len = NETLINK_BUF_SIZE };
        struct msghdr msg = {
            .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1
        };
        ssize_t n = recvmsg(t->netlink_fd, &msg, MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOBUFS) { /* overrun: events were lost, assume a change */
                log_debug("triggers: netlink receive buffer overrun, counting a network change");
                reasons |= POSTURE_TRIGGER_NETWORK;
                continue;
            }
            if (errno != EAGAIN)
                (void) log_debug_errno(-errno, "triggers: netlink receive failed: %m");
            break;
        }
        if (msg.msg_flags & MSG_TRUNC) {
            reasons |= POSTURE_TRIGGER_NETWORK; /* a message we could not read whole */
            continue;
        }
        if (from.nl_pid != 0) /* only the kernel speaks on this socket */
            continue;
        size_t len = (size_t) n;
        for (const struct nlmsghdr *nh = (const void *) t->buf; NLMSG_OK(nh, len);
             nh = msg_next(nh, &len))
            reasons |= netlink_handle(t, nh);
    }
    return reasons;
}

static int netlink_open(struct posture_triggers *t)
{
    struct sockaddr_nl sa = {
        .nl_family = AF_NETLINK,
        .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
                     RTMGRP_IPV6_ROUTE,
    };
    int fd;

    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    socklen_t sa_len = sizeof(sa);
    if (bind(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *) &sa, &sa_len) < 0) {
        int r = -errno;
        (void) close(fd);
        return r;
    }
    t->netlink_fd = fd;
    t->portid = sa.nl_pid;
    t->dump = DUMP_LINKS;
    dump_request(t);
    return 0;
}

/* ---- udev ---- */

static unsigned udev_drain(struct posture_triggers *t)
{
    unsigned reasons = 0;

    for (int i = 0; i < UDEV_READS_MAX; i++) {
        struct udev_device *d;
        const char *action;

        errno = 0;
        d = udev_monitor_receive_device(t->monitor);
        if (!d) {
            if (errno == EAGAIN || errno == 0)
                break;
            continue; /* a message libudev dropped (not from udevd, filtered): read on */
        }
        action = udev_device_get_action(d);
        if (action && (strcmp(action, "add") == 0 || strcmp(action, "remove") == 0 ||
                       strcmp(action, "change") == 0 || strcmp(action, "move") == 0)) {
            log_debug("triggers: block device %s: %s", udev_device_get_sysname(d), action);
            reasons |= POSTURE_TRIGGER_BLOCK;
        }
        (void) udev_device_unref(d);
    }
    return reasons;
}

static int udev_open(struct posture_triggers *t)
{
    int r;

    t->udev = udev_new();
    if (!t->udev)
        return errno > 0 ? -errno : -ENOMEM;
    t->monitor = udev_monitor_new_from_netlink(t->udev, "udev");
    if (!t->monitor)
        return errno > 0 ? -errno : -ENOMEM;
    r = udev_monitor_filter_add_match_subsystem_devtype(t->monitor, "block", NULL);
    if (r >= 0)
        r = udev_monitor_enable_receiving(t->monitor);
    if (r < 0)
        return r;
    t->udev_fd = udev_monitor_get_fd(t->monitor);
    if (t->udev_fd < 0)
        return t->udev_fd;
    return 0;
}

static void udev_close(struct posture_triggers *t)
{
    t->monitor = udev_monitor_unref(t->monitor);
    t->udev = udev_unref(t->udev);
    t->udev_fd = -1;
}

/* ---- The clock-set timer ---- */

static int timer_arm(int fd)
{
    struct itimerspec its = { 0 };
    struct timespec now;

    if (clock_gettime(CLOCK_REALTIME, &now) < 0)
        return -errno;
    its.it_value.tv_sec = now.tv_sec + TIMER_HORIZON_SEC;
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) < 0)
        return -errno;
    return 0;
}

static int timer_open(struct posture_triggers *t)
{
    int fd, r;

    fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    r = timer_arm(fd);
    if (r < 0) {
        (void) close(fd);
        return r;
    }
    t->timer_fd = fd;
    return 0;
}

/* True when the wall clock was set since the last read. */
static bool timer_drain(struct posture_triggers *t)
{
    uint64_t expirations;
    ssize_t n = read(t->timer_fd, &expirations, sizeof(expirations));
    bool canceled = n < 0 && errno == ECANCELED;

    if (canceled || n == (ssize_t) sizeof(expirations)) {
        int r = timer_arm(t->timer_fd);
        if (r < 0)
            (void) log_debug_errno(r, "triggers: cannot re-arm the clock-set timer: %m");
    }
    return canceled;
}

/* ---- The object ---- */

static int watch(struct posture_triggers *t, int fd)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

    if (epoll_ctl(t->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    return 0;
}

int posture_triggers_new(struct posture_triggers **ret)
{
    posture_auto_triggers struct posture_triggers *t = NULL;
    int r;

    if (!ret)
        return -EINVAL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->netlink_fd = t->udev_fd = t->timer_fd = -1;
    t->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (t->epoll_fd < 0 || fcntl(t->epoll_fd, F_SETFL, O_NONBLOCK) < 0)
        return -errno;
    t->buf = malloc(NETLINK_BUF_SIZE);
    if (!t->buf)
        return -ENOMEM;

    r = netlink_open(t);
    if (r >= 0)
        r = watch(t, t->netlink_fd);
    if (r < 0) {
        (void) log_debug_errno(r, "triggers: no network events (rtnetlink): %m");
        if (t->netlink_fd >= 0)
            (void) close(t->netlink_fd);
        t->netlink_fd = -1;
    }

    r = udev_open(t);
    if (r >= 0)
        r = watch(t, t->udev_fd);
    if (r < 0) {
        (void) log_debug_errno(r, "triggers: no block device events (udev): %m");
        udev_close(t);
    }

    r = timer_open(t);
    if (r >= 0)
        r = watch(t, t->timer_fd);
    if (r < 0) {
        (void) log_debug_errno(r, "triggers: no clock-set events (timerfd): %m");
        if (t->timer_fd >= 0)
            (void) close(t->timer_fd);
        t->timer_fd = -1;
    }

    posture_clocks_now(&t->last);
    t->have_last = true;
    *ret = POSTURE_TAKE_PTR(t);
    return 0;
}

struct posture_triggers *posture_triggers_free(struct posture_triggers *t)
{
    if (!t)
        return NULL;
    udev_close(t);
    if (t->netlink_fd >= 0)
        (void) close(t->netlink_fd);
    if (t->timer_fd >= 0)
        (void) close(t->timer_fd);
    if (t->epoll_fd >= 0)
        (void) close(t->epoll_fd);
    free(t->buf);
    free(t);
    return NULL;
}

int posture_triggers_fd(struct posture_triggers *t)
{
    return t ? t->epoll_fd : -EINVAL;
}

unsigned posture_triggers_sources(const struct posture_triggers *t)
{
    unsigned s = POSTURE_TRIGGER_RESUME;

    if (!t)
        return 0;
    if (t->netlink_fd >= 0)
        s |= POSTURE_TRIGGER_NETWORK;
    if (t->monitor)
        s |= POSTURE_TRIGGER_BLOCK;
    if (t->timer_fd >= 0)
        s |= POSTURE_TRIGGER_CLOCK_JUMP;
    return s;
}

unsigned posture_triggers_check_resume(struct posture_triggers *t, const struct posture_clocks *now)
{
    enum posture_clock_event e = POSTURE_CLOCK_STEADY;

    if (!t || !now)
        return 0;
    if (t->have_last)
        e = posture_clocks_compare(&t->last, now);
    t->last = *now;
    t->have_last = true;
    return e == POSTURE_CLOCK_RESUMED       ? POSTURE_TRIGGER_RESUME
           : e == POSTURE_CLOCK_WALL_JUMPED ? POSTURE_TRIGGER_CLOCK_JUMP
                                            : 0;
}

int posture_triggers_process(struct posture_triggers *t, unsigned *ret_reasons)
{
    struct epoll_event evs[4];
    struct posture_clocks now;
    unsigned reasons = 0;
    bool clock_set = false;

    if (!t || !ret_reasons)
        return -EINVAL;
    /* Empty the epoll fd's ready list; every source is read below whatever it says. */
    (void) epoll_wait(t->epoll_fd, evs, (int) POSTURE_ELEMENTSOF(evs), 0);

    if (t->netlink_fd >= 0)
        reasons |= netlink_drain(t);
    if (t->monitor)
        reasons |= udev_drain(t);
    if (t->timer_fd >= 0)
        clock_set = timer_drain(t);

    posture_clocks_now(&now);
    reasons |= posture_triggers_check_resume(t, &now);
    if (clock_set && !(reasons & POSTURE_TRIGGER_RESUME))
        reasons |= POSTURE_TRIGGER_CLOCK_JUMP;
    *ret_reasons = reasons;
    return 0;
}
