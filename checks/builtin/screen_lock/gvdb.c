/* SPDX-License-Identifier: Apache-2.0 */
/* GVDB reader of screen.lock (see gvdb.h). */
#include "screen_lock/gvdb.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define HEADER_SIZE 24u
#define ITEM_SIZE   24u
#define NO_PARENT   0xffffffffu

static uint32_t rd32(const struct posture_gvdb_table *t, size_t off)
{
    const uint8_t *p = t->file + off;
    uint32_t v =
        (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
    return t->swap ? __builtin_bswap32(v) : v;
}

static uint16_t rd16(const struct posture_gvdb_table *t, size_t off)
{
    const uint8_t *p = t->file + off;
    uint16_t v = (uint16_t) (p[0] | p[1] << 8);
    return t->swap ? __builtin_bswap16(v) : v;
}

/* A table from a pointer [start, end) of the file. */
static int table_at(const struct posture_gvdb_table *file,
                    uint32_t start,
                    uint32_t end,
                    struct posture_gvdb_table *ret)
{
    if (start > end || end > file->file_size || end - start < 8 || start % 4 != 0)
        return -EBADMSG;
    uint32_t n_bloom = rd32(file, start) & ((1u << 27) - 1);
    uint32_t n_buckets = rd32(file, start + 4);
    uint64_t items = (uint64_t) start + 8 + 4 * (uint64_t) n_bloom + 4 * (uint64_t) n_buckets;
    if (items > end)
        return -EBADMSG;
    *ret = *file;
    ret->items = (size_t) items;
    ret->n_items = (uint32_t) ((end - items) / ITEM_SIZE);
    return 0;
}

int posture_gvdb_open(const void *data, size_t size, struct posture_gvdb_table *ret_root)
{
    if (!data || !ret_root)
        return -EINVAL;
    if (size < HEADER_SIZE || size > UINT32_MAX)
        return -EBADMSG;
    struct posture_gvdb_table f = { .file = data, .file_size = size };
    if (memcmp(data, "GVariant", 8) == 0)
        f.swap = false;
    else if (memcmp(data, "raVGtnai", 8) == 0)
        f.swap = true;
    else
        return -EBADMSG;
    if (rd32(&f, 8) != 0)
        return -EBADMSG; /* version */
    return table_at(&f, rd32(&f, 16), rd32(&f, 20), ret_root);
}

/* Does item i's full key equal key[0..len)? Walks the parent chain (bounded). */
static int key_matches(const struct posture_gvdb_table *t, uint32_t i, const char *key, size_t len)
{
    for (unsigned depth = 0; depth < POSTURE_GVDB_KEY_DEPTH_MAX; depth++) {
        size_t item = t->items + (size_t) i * ITEM_SIZE;
        uint32_t parent = rd32(t, item + 4);
        uint32_t kstart = rd32(t, item + 8);
        uint16_t klen = rd16(t, item + 12);
        if ((uint64_t) kstart + klen > t->file_size)
            return -EBADMSG;
        if (klen > len || memcmp(key + len - klen, t->file + kstart, klen) != 0)
            return 0;
        len -= klen;
        if (parent == NO_PARENT)
            return len == 0;
        if (parent >= t->n_items)
            return -EBADMSG;
        i = parent;
    }
    return -EBADMSG; /* too deep, or a parent cycle */
}

/* The item holding key: its offset in *ret_item. -ENOENT, -EBADMSG. */
static int find(const struct posture_gvdb_table *t, const char *key, size_t *ret_item)
{
    if (!t || !key)
        return -EINVAL;
    size_t len = strlen(key);
    for (uint32_t i = 0; i < t->n_items; i++) {
        int r = key_matches(t, i, key, len);
        if (r < 0)
            return r;
        if (r > 0) {
            *ret_item = t->items + (size_t) i * ITEM_SIZE;
            return 0;
        }
    }
    return -ENOENT;
}

int posture_gvdb_has_key(const struct posture_gvdb_table *t, const char *key)
{
    size_t item;
    int r = find(t, key, &item);
    return r == -ENOENT ? 0 : r < 0 ? r : 1;
}

int posture_gvdb_get_table(const struct posture_gvdb_table *t,
                           const char *key,
                           struct posture_gvdb_table *ret)
{
    size_t item;
    int r = find(t, key, &item);
    if (r < 0)
        return r;
    if (t->file[item + 14] != 'H')
        return -EMEDIUMTYPE;
    return table_at(t, rd32(t, item + 16), rd32(t, item + 20), ret);
}

/* The child value of the variant stored under key, with its type string. */
static int get_variant(const struct posture_gvdb_table *t,
                       const char *key,
                       const uint8_t **ret_data,
                       size_t *ret_size,
                       const char **ret_type,
                       size_t *ret_type_len)
{
    size_t item;
    int r = find(t, key, &item);
    if (r < 0)
        return r;
    if (t->file[item + 14] != 'v')
        return -EMEDIUMTYPE;
    uint32_t start = rd32(t, item + 16), end = rd32(t, item + 20);
    if (start > end || end > t->file_size || end == start)
        return -EBADMSG;
    const uint8_t *v = t->file + start;
    size_t n = end - start;
    /* child bytes, NUL, type string: the last NUL separates them */
    size_t sep = n;
    while (sep > 0 && v[sep - 1] != '\0')
        sep--;
    if (sep == 0 || sep == n)
        return -EBADMSG;
    *ret_data = v;
    *ret_size = sep - 1;
    *ret_type = (const char *) v + sep;
    *ret_type_len = n - sep;
    return 0;
}

static void copy_type(const char *type, size_t len, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    (void) snprintf(buf, size, "%.*s", (int) (len > 64 ? 64 : len), type);
}

int posture_gvdb_get_bool(
    const struct posture_gvdb_table *t, const char *key, bool *ret, char *type_buf, size_t type_len)
{
    const uint8_t *d;
    const char *type;
    size_t n, tl;
    if (!ret)
        return -EINVAL;
    int r = get_variant(t, key, &d, &n, &type, &tl);
    if (r < 0)
        return r;
    if (tl != 1 || type[0] != 'b') {
        copy_type(type, tl, type_buf, type_len);
        return -EMEDIUMTYPE;
    }
    if (n != 1 || d[0] > 1)
        return -EBADMSG;
    *ret = d[0] == 1;
    return 0;
}

int posture_gvdb_get_u32(const struct posture_gvdb_table *t,
                         const char *key,
                         uint32_t *ret,
                         char *type_buf,
                         size_t type_len)
{
    const uint8_t *d;
    const char *type;
    size_t n, tl;
    if (!ret)
        return -EINVAL;
    int r = get_variant(t, key, &d, &n, &type, &tl);
    if (r < 0)
        return r;
    if (tl != 1 || type[0] != 'u') {
        copy_type(type, tl, type_buf, type_len);
        return -EMEDIUMTYPE;
    }
    if (n != 4)
        return -EBADMSG;
    uint32_t v =
        (uint32_t) d[0] | (uint32_t) d[1] << 8 | (uint32_t) d[2] << 16 | (uint32_t) d[3] << 24;
    *ret = t->swap ? __builtin_bswap32(v) : v;
    return 0;
}
