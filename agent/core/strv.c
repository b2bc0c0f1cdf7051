/* SPDX-License-Identifier: Apache-2.0 */
#include "posture/strv.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

char **posture_strv_free(char **l)
{
    if (!l)
        return NULL;
    for (char **p = l; *p; p++)
        free(*p);
    free(l);
    return NULL;
}

size_t posture_strv_length(char *const *l)
{
    size_t n = 0;
    if (!l)
        return 0;
    while (l[n])
        n++;
    return n;
}

bool posture_strv_contains(char *const *l, const char *s)
{
    if (!s)
        return false;
    POSTURE_FOREACH_STRV (e, l)
        if (strcmp(e, s) == 0)
            return true;
    return false;
}

int posture_strv_consume(char ***l, char *s)
{
    if (!l || !s)
        return -EINVAL;
    size_t n = posture_strv_length(*l);
    if (n >= SIZE_MAX / sizeof(char *) - 2)
        return -ENOMEM;
    char **m = realloc(*l, (n + 2) * sizeof(char *));
    if (!m)
        return -ENOMEM;
    m[n] = s;
    m[n + 1] = NULL;
    *l = m;
    return 0;
}

int posture_strv_extend(char ***l, const char *s)
{
    if (!l || !s)
        return -EINVAL;
    char *copy = strdup(s);
    if (!copy)
        return -ENOMEM;
    int r = posture_strv_consume(l, copy);
    if (r < 0)
        free(copy);
    return r;
}

int posture_strv_split(const char *s, const char *separators, char ***ret)
{
    if (!s || !separators || !ret)
        return -EINVAL;

    size_t count = 0;
    for (const char *p = s;;) {
        p += strspn(p, separators);
        if (!*p)
            break;
        count++;
        p += strcspn(p, separators);
    }
    if (count > INT_MAX)
        return -ERANGE;

    char **l = calloc(count + 1, sizeof(char *));
    if (!l)
        return -ENOMEM;
    size_t i = 0;
    for (const char *p = s; i < count;) {
        p += strspn(p, separators);
        size_t n = strcspn(p, separators);
        char *w = strndup(p, n);
        if (!w) {
            (void) posture_strv_free(l);
            return -ENOMEM;
        }
        l[i++] = w;
        p += n;
    }
    *ret = l;
    return (int) count;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

void posture_strv_sort(char **l)
{
    size_t n = posture_strv_length(l);
    if (n > 1)
        qsort(l, n, sizeof(char *), compare_strings);
}
