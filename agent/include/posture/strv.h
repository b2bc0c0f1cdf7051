/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* NULL-terminated string vectors ("strv"), allocated with malloc. */

#include <stdbool.h>
#include <stddef.h>

#include "posture/cleanup.h"

/* Frees every element and the vector. NULL-safe; returns NULL. */
char **posture_strv_free(char **l);
size_t posture_strv_length(char *const *l);
bool posture_strv_contains(char *const *l, const char *s);
/* Appends a copy of s. -ENOMEM on failure (the vector is unchanged). */
int posture_strv_extend(char ***l, const char *s);
/* Appends s itself, taking ownership only on success. */
int posture_strv_consume(char ***l, char *s);
/*
 * Split s at any of the characters in separators; empty fields are dropped, fields are not
 * trimmed beyond the separators. Returns the number of fields (0 gives an empty vector,
 * never NULL on success).
 */
int posture_strv_split(const char *s, const char *separators, char ***ret);
/* Sort in place with strcmp. */
void posture_strv_sort(char **l);

static inline void posture_strv_freep(char ***l)
{
    (void) posture_strv_free(*l);
}
#define posture_auto_strv POSTURE_CLEANUP(posture_strv_freep)

/* s names the loop variable the macro declares: a declarator cannot be parenthesised. */
#define POSTURE_FOREACH_STRV(s, l)                                  \
    /* NOLINTNEXTLINE(bugprone-macro-parentheses): s is declared */ \
    for (char *const *s##_i = (l), *s; s##_i && (s = *s##_i); s##_i++)
