/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Events that ask postured for an early cycle (issue 6, DESIGN.md §11): one pollable fd over
 * all sources, which the daemon adds to its own epoll; when it is readable the daemon calls
 * posture_triggers_process(), which drains every source without blocking and says why.
 *
 * Sources (each opened when possible; one that cannot be opened — no netlink permission, no
 * udev in a container — is left out with one debug line and the others keep working):
 *
 *  - POSTURE_TRIGGER_NETWORK, rtnetlink (RTMGRP_LINK, IPV4/IPV6_IFADDR, IPV4/IPV6_ROUTE).
 *    Only changes that matter for reachability count:
 *      - an address of scope global or site appears or goes (a refresh of an address already
 *        seen — IPv6 lifetimes renewed by router advertisements — does not count; link-local
 *        and host-scope addresses and tentative/DAD-failed addresses do not count);
 *      - a default route (destination length 0, main table, unicast, not cloned) appears or
 *        goes;
 *      - a link (not loopback) becomes usable or stops being usable (IFF_UP and IFF_RUNNING
 *        both set) or a usable link is deleted; statistics, MTU, wireless and promiscuity
 *        updates do not count.
 *    The state needed to tell a change from a refresh (links, addresses, default routes) is
 *    learnt at start from dumps of the kernel's tables (their answers count as nothing) and
 *    then from the events. It is bounded (2 × POSTURE_TRIGGERS_TRACKED entries; beyond that the
 *    oldest is forgotten, and a refresh of it may count once).
 *    A receive-buffer overrun (ENOBUFS: events were lost) counts as a change.
 *  - POSTURE_TRIGGER_BLOCK, a libudev monitor on subsystem "block": add, remove, change and
 *    move of disks, partitions and device-mapper (crypt, LVM) devices, as udevd announces them
 *    (after its rules ran, so the device is complete). Without udevd (a container) libudev
 *    opens the monitor but receives nothing: no block triggers there.
 *  - POSTURE_TRIGGER_CLOCK_JUMP, a CLOCK_REALTIME timerfd armed with TFD_TIMER_ABSTIME |
 *    TFD_TIMER_CANCEL_ON_SET far in the future: the kernel cancels it (ECANCELED) when the
 *    wall clock is set, and it is re-armed.
 *  - POSTURE_TRIGGER_RESUME: the machine slept (CLOCK_BOOTTIME advanced more than
 *    CLOCK_MONOTONIC, by more than POSTURE_CLOCK_JUMP_USEC, since the previous look). The
 *    kernel treats a resume like a clock set, so the timerfd wakes the daemon; a cancellation
 *    that comes with a resume is reported as RESUME only.
 */

#include "posture/cleanup.h"

#include "schedule.h"

enum {
    POSTURE_TRIGGER_NETWORK = 1u << 0,
    POSTURE_TRIGGER_BLOCK = 1u << 1,
    POSTURE_TRIGGER_CLOCK_JUMP = 1u << 2,
    POSTURE_TRIGGER_RESUME = 1u << 3,
};

/* Links and addresses remembered to tell changes from refreshes (each). */
#define POSTURE_TRIGGERS_TRACKED 128

struct posture_triggers;

/* Open every source that can be opened. -ENOMEM, or the error of epoll_create1()/timerfd; a
 * source that is unavailable (netlink, udev) is skipped, not an error. */
int posture_triggers_new(struct posture_triggers **ret);
struct posture_triggers *posture_triggers_free(struct posture_triggers *t);
POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(struct posture_triggers *, posture_triggers_free)
#define posture_auto_triggers POSTURE_CLEANUP(posture_triggers_freep)

/* The fd to poll for input (EPOLLIN); owned by t. */
int posture_triggers_fd(struct posture_triggers *t);

/*
 * Drain every source without blocking (each read bounded) and set *ret_reasons to the
 * POSTURE_TRIGGER_* bits seen (0: nothing that matters). Also looks at the clocks for a resume
 * (posture_triggers_check_resume). Returns 0; errors of a source are logged at debug and that
 * source is read again next time.
 */
int posture_triggers_process(struct posture_triggers *t, unsigned *ret_reasons);

/* Compare now with the clocks of the previous look (the first look only records) and remember
 * now: POSTURE_TRIGGER_RESUME when CLOCK_BOOTTIME advanced more than CLOCK_MONOTONIC by more
 * than POSTURE_CLOCK_JUMP_USEC in between; POSTURE_TRIGGER_CLOCK_JUMP when the wall clock moved
 * more than that much differently from CLOCK_BOOTTIME (set while the timer's cancellation was
 * not seen, e.g. between two looks of a daemon that polls its clocks at every wake-up); else 0. */
unsigned posture_triggers_check_resume(struct posture_triggers *t,
                                       const struct posture_clocks *now);

/* Which sources are open (POSTURE_TRIGGER_* bits; RESUME is always there), for logs/tests. */
unsigned posture_triggers_sources(const struct posture_triggers *t);
