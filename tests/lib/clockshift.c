/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libclockshift.so, for LD_PRELOAD in the daemon's clock tests: clock_gettime() of
 * CLOCK_REALTIME (and _COARSE) and CLOCK_BOOTTIME (and _ALARM) answers the kernel's value plus
 * offsets in seconds read from the file $CLOCKSHIFT_FILE ("REALTIME_SEC BOOTTIME_SEC"), read
 * again on every call. A wall-clock jump is a realtime offset; a suspend of N seconds is the
 * same N added to both (boottime and the wall clock ran, CLOCK_MONOTONIC did not). The machine's
 * clock is never touched; kernel timers still run on the real clocks. A missing or malformed
 * file means no offset.
 */

#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static void offsets(long long *ret_real, long long *ret_boot)
{
    const char *path = getenv("CLOCKSHIFT_FILE"); /* NOLINT(concurrency-mt-unsafe) */
    char buf[64], *end;
    ssize_t n;
    int fd;

    *ret_real = *ret_boot = 0;
    if (!path)
        return;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, buf, sizeof(buf) - 1);
    (void) close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    *ret_real = strtoll(buf, &end, 10);
    *ret_boot = strtoll(end, NULL, 10);
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static clock_gettime_fn real;
    long long off_real, off_boot;
    int r;

    if (!real) {
        real = (clock_gettime_fn) dlsym(RTLD_NEXT, "clock_gettime");
        if (!real)
            return -1;
    }
    r = real(id, ts);
    if (r != 0)
        return r;
    switch (id) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
        offsets(&off_real, &off_boot);
        ts->tv_sec += (time_t) off_real;
        break;
    case CLOCK_BOOTTIME:
    case CLOCK_BOOTTIME_ALARM:
        offsets(&off_real, &off_boot);
        ts->tv_sec += (time_t) off_boot;
        break;
    default:
        break;
    }
    return r;
}
