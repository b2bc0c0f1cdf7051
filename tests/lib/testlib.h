/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Helpers for the unit tests. cmocka's headers need these includes first. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Path of a fixture below tests/: "fixtures/roots/debian-12" → "<src>/tests/fixtures/…".
 * Returns a static buffer (per call site use; not thread-safe). */
const char *posture_test_path(const char *rel);

/* Create a fresh directory under $TMPDIR (or /tmp); the caller removes it with
 * posture_test_rmdir_r(). The returned string is malloc'ed. */
char *posture_test_mkdtemp(void);
/* Remove a directory tree (does not follow symlinks). Returns 0 or -errno. */
int posture_test_rmdir_r(const char *path);
/* Write a file (creating parent directories) below dir. Returns 0 or -errno. */
int posture_test_write_file(const char *dir, const char *rel, const char *content);
/* Create a symlink rel → target below dir (creating parent directories). */
int posture_test_symlink(const char *dir, const char *rel, const char *target);
/* Copy the tree src to dst (created if missing): directories, regular files, and symlinks as
 * they are (not followed). Fails the test on any error. */
void posture_test_copy_tree(const char *src, const char *dst);
