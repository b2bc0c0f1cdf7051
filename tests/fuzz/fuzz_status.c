/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reader of state_dir/status.json (posture_daemon_status_read, agent/daemon/cycle.h), which
 * `posturectl status` runs on a file postured writes, on arbitrary input: it is accepted, or
 * refused as -EBADMSG (malformed) or -EFBIG/-E2BIG (over 64 KiB), never anything else; an
 * accepted document gives a NUL-terminated last_error and a verdict that is NULL or an object.
 * The input is written to status.json in a private temporary directory (the reader takes a
 * directory fd). Seeds: tests/fuzz/corpus/status.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cycle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/fuzz_status.XXXXXX";
static int dir_fd = -1;

static void remove_dir(void)
{
    (void) unlinkat(dir_fd, POSTURE_STATUS_NAME, 0);
    (void) close(dir_fd);
    (void) rmdir(dir);
}

static int write_input(const uint8_t *data, size_t size)
{
    int fd = openat(dir_fd, POSTURE_STATUS_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t done = 0;

    if (fd < 0)
        return -1;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            (void) close(fd);
            return -1;
        }
        done += (size_t) n;
    }
    return close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct posture_daemon_status st = { 0 };
    int r;

    if (dir_fd < 0) {
        if (!mkdtemp(dir))
            abort(); /* the environment, not the input */
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
            abort();
        (void) atexit(remove_dir);
    }
    if (write_input(data, size) < 0)
        abort();

    r = posture_daemon_status_read(dir_fd, &st);
    if (r < 0) {
        if (r != -EBADMSG && r != -EFBIG && r != -E2BIG)
            abort();
        posture_daemon_status_done(&st);
        return 0;
    }
    if (memchr(st.last_error, '\0', sizeof(st.last_error)) == NULL)
        abort();
    if (st.verdict && !cJSON_IsObject(st.verdict))
        abort();
    posture_daemon_status_done(&st);
    return 0;
}
