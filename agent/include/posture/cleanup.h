/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * Scope-bound cleanup (STYLE.md G5), on the GNU cleanup attribute:
 *     posture_autofree char *buf = NULL;
 *     posture_autoclose int fd = -1;
 *     return POSTURE_TAKE_PTR(buf);   (ownership leaves the scope)
 * Destructor helpers accept NULL / -1 and preserve errno.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define POSTURE_CLEANUP(fn) __attribute__((cleanup(fn)))

/* Define "static inline void <func>p(type *p)" calling func(*p) when *p is non-NULL.
 * `type` is a type name, which cannot be parenthesised (hence the NOLINT). */
#define POSTURE_DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                  \
    static inline void func##p(type *p) /* NOLINT(bugprone-macro-parentheses): a type */ \
    {                                                                                    \
        if (*p)                                                                          \
            (void) func(*p);                                                             \
    }

static inline void posture_freep(void *p)
{
    free(*(void **) p);
}

static inline void posture_closep(const int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        (void) close(*fd);
        errno = saved;
    }
}

static inline void posture_fclosep(FILE **f)
{
    if (*f) {
        int saved = errno;
        (void) fclose(*f);
        errno = saved;
    }
}

static inline void posture_closedirp(DIR **d)
{
    if (*d) {
        int saved = errno;
        (void) closedir(*d);
        errno = saved;
    }
}

#define posture_autofree     POSTURE_CLEANUP(posture_freep)
#define posture_autoclose    POSTURE_CLEANUP(posture_closep)
#define posture_autofclose   POSTURE_CLEANUP(posture_fclosep)
#define posture_autoclosedir POSTURE_CLEANUP(posture_closedirp)

static inline int posture_take_fd(int *fd)
{
    int t = *fd;
    *fd = -1;
    return t;
}

/* Move ownership out of a cleanup variable: the variable becomes NULL / -1.
 * TAKE_PTR is typed (a GNU statement expression) rather than a void ** helper: gcc 12's
 * -fanalyzer loses a NULL stored through a void ** into a typed pointer variable, and
 * then reports the cleanup's free as a double free. */
#define POSTURE_TAKE_PTR(p)                                     \
    ({                                                          \
        __typeof__(p) *posture_take_ptr_p = &(p);               \
        __typeof__(p) posture_take_ptr_v = *posture_take_ptr_p; \
        *posture_take_ptr_p = NULL;                             \
        posture_take_ptr_v;                                     \
    })
#define POSTURE_TAKE_FD(fd) posture_take_fd(&(fd))

/* Close and reset; NULL-safe. Returns -1 so "fd = posture_close_safe(fd);" reads well. */
static inline int posture_close_safe(int fd)
{
    if (fd >= 0) {
        int saved = errno;
        (void) close(fd);
        errno = saved;
    }
    return -1;
}
