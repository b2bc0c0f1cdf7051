/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The block-device trigger of postured (agent/daemon/triggers.h) on real libudev over a
 * umockdev testbed: umockdev's preload library (umockdev-wrapper) turns the udev monitor's
 * netlink socket into one the testbed sends uevents to. Block add, remove and change count
 * (a disk, a partition, a dm-dmcrypt device); a USB device's events and a block "bind" do not.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <umockdev.h>

#include "testlib.h"
#include "triggers.h"

static UMockdevTestbed *tb;
static char *disk, *part, *dmcrypt, *usb;

/* The BLOCK bit seen within timeout_ms. */
static unsigned block_after(struct posture_triggers *t, int timeout_ms)
{
    struct pollfd p = { .fd = posture_triggers_fd(t), .events = POLLIN };
    unsigned reasons = 0;

    for (int waited = 0;; waited += 50) {
        unsigned r = 0;
        (void) poll(&p, 1, timeout_ms > 0 ? 50 : 0);
        assert_int_equal(posture_triggers_process(t, &r), 0);
        reasons |= r & POSTURE_TRIGGER_BLOCK;
        if (reasons || waited >= timeout_ms)
            return reasons;
    }
}

static int setup(void **state)
{
    (void) state;
    tb = umockdev_testbed_new();
    disk = umockdev_testbed_add_device(tb, "block", "sda", NULL, "dev", "8:0", "size", "1000", NULL,
                                       "DEVTYPE", "disk", "DEVNAME", "/dev/sda", NULL);
    part = umockdev_testbed_add_device(tb, "block", "sda1", disk, "dev", "8:1", "partition", "1",
                                       NULL, "DEVTYPE", "partition", "DEVNAME", "/dev/sda1", NULL);
    dmcrypt = umockdev_testbed_add_device(tb, "block", "dm-0", NULL, "dev", "253:0", "dm/uuid",
                                          "CRYPT-LUKS2-0000-root", NULL, "DEVTYPE", "disk",
                                          "DEVNAME", "/dev/dm-0", NULL);
    usb = umockdev_testbed_add_device(tb, "usb", "usb1", NULL, "idVendor", "1d6b", NULL, "DEVTYPE",
                                      "usb_device", NULL);
    return disk && part && dmcrypt && usb ? 0 : -1;
}

static int teardown(void **state)
{
    (void) state;
    g_free(disk);
    g_free(part);
    g_free(dmcrypt);
    g_free(usb);
    if (tb)
        g_object_unref(tb);
    return 0;
}

static void test_block_events(void **state)
{
    posture_auto_triggers struct posture_triggers *t = NULL;

    (void) state;
    assert_int_equal(posture_triggers_new(&t), 0);
    assert_true(posture_triggers_sources(t) & POSTURE_TRIGGER_BLOCK);
    assert_int_equal(block_after(t, 0), 0);

    print_message("  add of a disk\n");
    umockdev_testbed_uevent(tb, disk, "add");
    assert_int_equal(block_after(t, 3000), POSTURE_TRIGGER_BLOCK);
    assert_int_equal(block_after(t, 0), 0); /* drained */

    print_message("  change of a partition\n");
    umockdev_testbed_uevent(tb, part, "change");
    assert_int_equal(block_after(t, 3000), POSTURE_TRIGGER_BLOCK);

    print_message("  add and remove of a dm-dmcrypt device\n");
    umockdev_testbed_uevent(tb, dmcrypt, "add");
    assert_int_equal(block_after(t, 3000), POSTURE_TRIGGER_BLOCK);
    umockdev_testbed_uevent(tb, dmcrypt, "remove");
    assert_int_equal(block_after(t, 3000), POSTURE_TRIGGER_BLOCK);

    print_message("  a USB device and a block bind: nothing\n");
    umockdev_testbed_uevent(tb, usb, "add");
    umockdev_testbed_uevent(tb, usb, "remove");
    umockdev_testbed_uevent(tb, disk, "bind");
    assert_int_equal(block_after(t, 500), 0);

    /* A unix datagram queue holds 10 (net.unix.max_dgram_qlen): umockdev's sender would block
     * on more, in this one thread. */
    print_message("  a burst of 8 events: all drained\n");
    for (int i = 0; i < 8; i++)
        umockdev_testbed_uevent(tb, part, "change");
    unsigned seen = 0;
    for (int i = 0; i < 20 && !(seen & POSTURE_TRIGGER_BLOCK); i++)
        seen |= block_after(t, 100);
    assert_int_equal(seen, POSTURE_TRIGGER_BLOCK);
    for (int i = 0; i < 20; i++)
        (void) block_after(t, 0);
    assert_int_equal(block_after(t, 0), 0);
}

/* A second triggers object sees the same events (each has its own monitor). */
static void test_two_monitors(void **state)
{
    posture_auto_triggers struct posture_triggers *a = NULL, *b = NULL;

    (void) state;
    assert_int_equal(posture_triggers_new(&a), 0);
    assert_int_equal(posture_triggers_new(&b), 0);
    umockdev_testbed_uevent(tb, disk, "remove");
    assert_int_equal(block_after(a, 3000), POSTURE_TRIGGER_BLOCK);
    assert_int_equal(block_after(b, 3000), POSTURE_TRIGGER_BLOCK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_events),
        cmocka_unit_test(test_two_monitors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
